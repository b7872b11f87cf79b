//! The kernel: one tick of attention.
//!
//! [`Kernel::tick`] takes the time and this tick's observations and returns a [`TickReport`]:
//! 1. salience of every observation (SNARC; numeric sensors of a tick form one frame);
//! 2. the most salient observations above the attention threshold, at most the state's
//!    `max_plugins`, are routed to an expert by the selector (trust, residency, hysteresis);
//! 3. a share of the ATP balance is allocated to them by `salience × trust` with a probe floor;
//! 4. the built-in plugins run interleaved, one step each in turn, and what a plugin that stops
//!    early leaves unused is granted to those still running; only what was spent is debited;
//! 5. trust and SNARC weights learn (only in states whose policy allows learning; outcomes that
//!    arrive otherwise wait for a learning state);
//! 6. the state's base cost is debited and its recovery credited;
//! 7. the metabolic machine moves; a state change applies the new state's keep-hot set; DREAM
//!    consolidates trust.
//!
//! Nothing here reads a clock or does I/O: `now` is an argument and randomness is seeded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use sage_irp::{Budget, HaltConfig, HaltReason, Plugin, Run, Telemetry};

use crate::atp::{allocate, Allocation, EntryKind, Ledger, Target};
use crate::metabolic::{Biases, Circadian, Inputs, Machine, Policies, Policy, State, Thresholds, Transition};
use crate::plugins::{Intent, Keywords, Smoother};
use crate::router::{Candidate, Context, RouteDecision, Selector, SelectorConfig};
use crate::snarc::{Salience, Snarc, SnarcConfig, SnarcError};
use crate::trust::{Outcome, TrustConfig, TrustEvent, TrustLedger};

/// What an observation carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payload {
    /// A numeric sensor vector.
    Sensor(Vec<f64>),
    /// A text message.
    Text(String),
}

/// One observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Sensor name or text source.
    pub source: String,
    /// Reading or message.
    pub payload: Payload,
    /// External semantic-importance score for text, `[0, 1]`, if one was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic: Option<f64>,
}

impl Observation {
    /// A sensor reading.
    pub fn sensor(source: &str, values: Vec<f64>) -> Self {
        Self { source: source.to_string(), payload: Payload::Sensor(values), semantic: None }
    }

    /// A text message.
    pub fn text(source: &str, text: &str) -> Self {
        Self { source: source.to_string(), payload: Payload::Text(text.to_string()), semantic: None }
    }

    /// The situation class used for trust and routing: `sensor`, `text.alert`,
    /// `text.question` or `text.chat`.
    pub fn class(&self, snarc_arousal: f64) -> &'static str {
        match &self.payload {
            Payload::Sensor(_) => "sensor",
            Payload::Text(t) => {
                if snarc_arousal >= 0.6 {
                    "text.alert"
                } else if t.trim_end().ends_with('?') {
                    "text.question"
                } else {
                    "text.chat"
                }
            }
        }
    }
}

/// External feedback about an expert or a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// Expert name, for trust.
    #[serde(default)]
    pub expert: Option<String>,
    /// Situation class of the expert outcome.
    #[serde(default)]
    pub class: Option<String>,
    /// Did the expert's work succeed?
    #[serde(default)]
    pub success: Option<bool>,
    /// Its quality, `[0, 1]`.
    #[serde(default)]
    pub quality: Option<f64>,
    /// Stream (sensor or text source) whose last observation this reward is about.
    #[serde(default)]
    pub stream: Option<String>,
    /// Reward in `[-1, 1]` for attending to that observation.
    #[serde(default)]
    pub reward: Option<f64>,
}

/// Which built-in plugin an expert runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Builtin {
    /// [`Smoother`].
    Smoother {
        /// Fit weight.
        lambda: f64,
        /// Step.
        rate: f64,
        /// Momentum.
        momentum: f64,
    },
    /// [`Keywords`].
    Keywords,
    /// [`Intent`].
    Intent {
        /// Update strength.
        rate: f64,
    },
    /// Runs outside the kernel (a language model, a remote peer): the kernel routes to it and
    /// allocates its ATP, an [`Executor`] runs it and reports the outcome.
    External,
}

/// A run the kernel hands to an [`Executor`]: an attended observation routed to an external
/// expert, with the ATP granted to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch {
    /// Tick number.
    pub tick: u64,
    /// State the kernel is in.
    pub state: State,
    /// Observation index in this tick.
    pub observation: usize,
    /// The observation.
    pub input: Observation,
    /// Its salience.
    pub salience: f64,
    /// Situation class.
    pub class: String,
    /// The expert routed to.
    pub expert: String,
    /// Other external experts for this class, most permitted first (for fallbacks).
    pub alternatives: Vec<String>,
    /// ATP granted.
    pub grant: f64,
}

/// What an [`Executor`] reports back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalRun {
    /// The expert that finally produced the output (the dispatched one or a fallback), if any.
    pub used: Option<String>,
    /// Experts that failed before it, with why (each is recorded as a failure in trust).
    pub failed: Vec<(String, String)>,
    /// Telemetry of the run (ATP spent is debited).
    pub telemetry: Telemetry,
    /// Quality in `[0, 1]`, when the executor judged it; otherwise derived from the telemetry.
    pub quality: Option<f64>,
    /// What it produced, in words.
    pub output: String,
}

/// Runs external experts for the kernel. The kernel stays pure: the executor does the I/O, and
/// everything it reports is a value that a replay can feed back.
pub trait Executor {
    /// Run one dispatched job to completion within its grant.
    fn execute(&mut self, job: &Dispatch) -> ExternalRun;

    /// Semantic importance of a text message whose cheap salience `cheap` is ambiguous (inside
    /// [`KernelConfig::semantic_band`]): `Some((score in [0, 1], ATP it cost))`, or `None` to
    /// keep the cheap score. Asked at most once per message.
    fn score(&mut self, _source: &str, _text: &str, _cheap: f64) -> Option<(f64, f64)> {
        None
    }

    /// A resource plan for a tick in which several observations compete and at least one goes
    /// to an external expert: `Some((ATP per task in the order given, ATP the planning cost))`,
    /// or `None` to keep the heuristic allocation. The kernel validates and clamps the plan
    /// and falls back to the heuristic on anything invalid.
    fn plan(&mut self, _budget: f64, _tasks: &[PlanTask]) -> Option<(Vec<f64>, f64)> {
        None
    }
}

/// One task of a resource plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanTask {
    /// Situation class.
    pub class: String,
    /// Expert it is routed to.
    pub expert: String,
    /// Salience.
    pub salience: f64,
    /// Trust in the expert.
    pub trust: f64,
    /// What the observation is, in a few words.
    pub gist: String,
    /// The heuristic allocator's grant.
    pub heuristic: f64,
}

/// Where a tick's allocation came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanOutcome {
    /// The executor's plan, validated.
    Plan {
        /// ATP per task as asked.
        asked: Vec<f64>,
        /// Whether it had to be adjusted (to the budget, or to keep every task's floor).
        clamped: bool,
        /// ATP the planning cost.
        cost: f64,
    },
    /// The plan was unusable; the heuristic allocation stands.
    Rejected {
        /// Why.
        why: String,
        /// ATP the planning cost.
        cost: f64,
    },
}

/// The executor of a kernel without external experts: every dispatch fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoExecutor;

impl Executor for NoExecutor {
    fn execute(&mut self, job: &Dispatch) -> ExternalRun {
        let telemetry = Telemetry::from_energies(&job.expert, &[], HaltReason::Error, 0.0, job.grant, 0.0);
        ExternalRun {
            used: None,
            failed: vec![(job.expert.clone(), "no executor for external experts".into())],
            telemetry,
            quality: None,
            output: "error: no executor for external experts".into(),
        }
    }
}

/// An expert the kernel can route to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpertSpec {
    /// Unique name.
    pub name: String,
    /// Role for keep-hot sets (`primary`, `small`, `large`...).
    pub role: String,
    /// Situation classes it serves, with its prior capability in each.
    pub classes: BTreeMap<String, f64>,
    /// Memory it takes when resident, bytes.
    pub bytes: u64,
    /// Seconds to load it.
    pub load_s: f64,
    /// The plugin it runs.
    pub plugin: Builtin,
    /// Halt rules for its runs.
    pub halt: HaltConfig,
}

/// Everything the kernel can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Initial ATP.
    pub atp_initial: f64,
    /// Maximum ATP.
    pub atp_max: f64,
    /// Observations below this salience are not attended.
    pub attention_threshold: f64,
    /// Trust floor of the allocator: an untrusted expert still gets this weight.
    pub probe_floor: f64,
    /// Memory for resident experts at full share, bytes.
    pub memory_bytes: u64,
    /// Load seconds that count as cost 1.
    pub reference_load_s: f64,
    /// Swaps allowed per window.
    pub swap_budget: u32,
    /// Window of the swap budget, ticks.
    pub swap_window: u64,
    /// Circadian period in ticks; `None` for no circadian rhythm.
    pub circadian_period: Option<u64>,
    /// State policies.
    pub policies: Policies,
    /// State machine thresholds.
    pub thresholds: Thresholds,
    /// Salience settings.
    pub snarc: SnarcConfig,
    /// Trust settings.
    pub trust: TrustConfig,
    /// Selector settings.
    pub selector: SelectorConfig,
    /// The experts.
    pub experts: Vec<ExpertSpec>,
    /// Cheap text salience in `[lo, hi]` is ambiguous: the executor is asked for a semantic
    /// score (see [`Executor::score`]).
    #[serde(default = "default_band")]
    pub semantic_band: (f64, f64),
}

fn default_band() -> (f64, f64) {
    (0.2, 0.45)
}

fn classes(list: &[(&str, f64)]) -> BTreeMap<String, f64> {
    list.iter().map(|(c, p)| (c.to_string(), *p)).collect()
}

/// The four built-in experts used by `sage run` and the benchmarks.
pub fn builtin_experts() -> Vec<ExpertSpec> {
    let halt = HaltConfig { max_steps: 60, eps: 1e-3, k: 3, cost_per_step: 0.1 };
    vec![
        ExpertSpec {
            name: "smooth-lite".into(),
            role: "small".into(),
            classes: classes(&[("sensor", 0.55)]),
            bytes: 40 << 20,
            load_s: 0.2,
            plugin: Builtin::Smoother { lambda: 0.5, rate: 0.1, momentum: 0.0 },
            halt,
        },
        ExpertSpec {
            name: "smooth-momentum".into(),
            role: "large".into(),
            classes: classes(&[("sensor", 0.6)]),
            bytes: 160 << 20,
            load_s: 0.8,
            plugin: Builtin::Smoother { lambda: 0.5, rate: 0.1, momentum: 0.5 },
            halt,
        },
        ExpertSpec {
            name: "intent".into(),
            role: "primary".into(),
            classes: classes(&[("text.alert", 0.7), ("text.question", 0.6), ("text.chat", 0.5)]),
            bytes: 120 << 20,
            load_s: 0.5,
            plugin: Builtin::Intent { rate: 0.6 },
            halt,
        },
        ExpertSpec {
            name: "keywords".into(),
            role: "small".into(),
            classes: classes(&[("text.alert", 0.5), ("text.question", 0.5), ("text.chat", 0.6)]),
            bytes: 30 << 20,
            load_s: 0.1,
            plugin: Builtin::Keywords,
            halt,
        },
    ]
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            seed: 0x5A6E,
            atp_initial: 100.0,
            atp_max: 100.0,
            attention_threshold: 0.35,
            probe_floor: 0.02,
            memory_bytes: 320 << 20,
            reference_load_s: 1.0,
            swap_budget: 4,
            swap_window: 50,
            circadian_period: None,
            policies: Policies::default(),
            thresholds: Thresholds::default(),
            snarc: SnarcConfig::default(),
            trust: TrustConfig::default(),
            selector: SelectorConfig::default(),
            experts: builtin_experts(),
            semantic_band: default_band(),
        }
    }
}

/// A configuration the kernel cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Two experts share a name.
    #[error("expert {0:?} is declared twice")]
    DuplicateExpert(String),
    /// An expert serves no class.
    #[error("expert {0:?} serves no situation class")]
    NoClass(String),
    /// A number is out of range.
    #[error("{field} must be {expected}, got {value}")]
    OutOfRange {
        /// Setting.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What it was.
        value: f64,
    },
}

/// What happened to one observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationReport {
    /// Source.
    pub source: String,
    /// Situation class.
    pub class: String,
    /// Salience, or why it could not be scored.
    pub salience: Option<Salience>,
    /// Attention outcome.
    pub attention: Attention,
    /// For an observation capped at an earlier tick and offered again: that tick.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred_from: Option<u64>,
}

/// Whether and how an observation was attended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attention {
    /// Below the attention threshold.
    Ignored,
    /// Above it, but the state's `max_plugins` was reached.
    Capped,
    /// Routed and run (see the run with the same observation index).
    Attended,
    /// Above the threshold, but no expert could take it.
    Unrouted {
        /// Why.
        why: String,
    },
    /// Rejected: the observation was invalid.
    Rejected {
        /// Why.
        error: String,
    },
}

/// The routing of one attended observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Routing {
    /// Observation index in this tick.
    pub observation: usize,
    /// Situation class.
    pub class: String,
    /// The selector's decision with every candidate's factors.
    pub decision: RouteDecision,
    /// The expert actually used: the decision's choice, or a fallback when it cannot run here.
    pub used: Option<u32>,
    /// Why the choice was not used, if it was not.
    pub fallback: Option<String>,
}

/// One plugin run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Observation index in this tick.
    pub observation: usize,
    /// Expert name.
    pub expert: String,
    /// Situation class.
    pub class: String,
    /// ATP allocated at the start.
    pub allocated: f64,
    /// ATP received from plugins that finished early.
    pub reallocated: f64,
    /// Steps, energies, halt reason, ATP spent, trust metrics.
    pub telemetry: Telemetry,
    /// Quality derived from the telemetry, `[0, 1]`.
    pub quality: f64,
    /// What it produced, in words.
    pub output: String,
}

/// A residency change of a (built-in) expert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResidencyEvent {
    /// Loaded.
    Load {
        /// Expert.
        expert: String,
        /// Why.
        why: String,
    },
    /// Unloaded.
    Unload {
        /// Expert.
        expert: String,
        /// Why.
        why: String,
    },
}

/// ATP movements of one tick.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct AtpReport {
    /// Offered to plugins.
    pub allocated: f64,
    /// Spent by plugins.
    pub spent: f64,
    /// State base cost debited.
    pub base_cost: f64,
    /// Recovery credited.
    pub recovered: f64,
    /// Balance at the end of the tick.
    pub balance: f64,
}

/// Everything one tick decided, as a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickReport {
    /// Tick number (1-based).
    pub tick: u64,
    /// Time given by the caller, seconds.
    pub now: f64,
    /// State during the tick.
    pub state: State,
    /// Transition at the end of the tick.
    pub transition: Option<Transition>,
    /// Per observation.
    pub observations: Vec<ObservationReport>,
    /// Routing decisions, one per attended observation.
    pub decisions: Vec<Routing>,
    /// Plugin runs.
    pub runs: Vec<RunReport>,
    /// ATP.
    pub atp: AtpReport,
    /// Residency changes.
    pub residency: Vec<ResidencyEvent>,
    /// Trust events (suppressions, reinstatements).
    pub trust_events: Vec<TrustEvent>,
    /// Trust entries decayed by consolidation.
    pub consolidated: usize,
    /// External feedback applied this tick (queued feedback counts when it is applied).
    pub feedback_applied: usize,
    /// Where the allocation came from when a plan was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanOutcome>,
    /// Seconds a live loop should wait before the next tick (the new state's policy).
    pub next_tick_in_s: f64,
}

impl TickReport {
    /// Highest salience this tick.
    pub fn max_salience(&self) -> f64 {
        self.observations.iter().filter_map(|o| o.salience.map(|s| s.total)).fold(0.0, f64::max)
    }
}

/// The cognition kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    config: KernelConfig,
    tick: u64,
    snarc: Snarc,
    ledger: Ledger,
    machine: Machine,
    trust: TrustLedger,
    selector: Selector,
    resident: Vec<bool>,
    last_used: Vec<u64>,
    incumbents: BTreeMap<String, u32>,
    swaps_in_window: u32,
    window_start: u64,
    pending: Vec<Feedback>,
    total_swaps: u64,
    last_dims: BTreeMap<String, crate::snarc::Dims>,
    deferred: Vec<Deferred>,
}

/// A salient observation that a state's plugin limit capped: it is offered again at the next
/// ticks (with the salience it had), so that nothing salient is lost to a busy or sleeping
/// state, until it is attended or too old.
#[derive(Debug, Clone)]
struct Deferred {
    origin: u64,
    obs: Observation,
    salience: Salience,
    class: String,
}

/// Ticks a capped observation is offered again.
pub const MAX_DEFER_TICKS: u64 = 10;
/// Most capped observations kept.
pub const MAX_DEFERRED: usize = 32;

impl Kernel {
    /// A kernel in WAKE with the configured ATP and experts.
    pub fn new(config: KernelConfig) -> Result<Self, ConfigError> {
        let check = |field: &'static str, value: f64, ok: bool, expected: &'static str| {
            if ok && value.is_finite() {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange { field, expected, value })
            }
        };
        check("atp_max", config.atp_max, config.atp_max > 0.0, "positive")?;
        check(
            "atp_initial",
            config.atp_initial,
            (0.0..=config.atp_max).contains(&config.atp_initial),
            "in [0, atp_max]",
        )?;
        check(
            "attention_threshold",
            config.attention_threshold,
            (0.0..=1.0).contains(&config.attention_threshold),
            "in [0, 1]",
        )?;
        check("reference_load_s", config.reference_load_s, config.reference_load_s > 0.0, "positive")?;
        let mut trust = TrustLedger::new(config.trust);
        for (i, e) in config.experts.iter().enumerate() {
            if config.experts[..i].iter().any(|o| o.name == e.name) {
                return Err(ConfigError::DuplicateExpert(e.name.clone()));
            }
            if e.classes.is_empty() {
                return Err(ConfigError::NoClass(e.name.clone()));
            }
            for (class, prior) in &e.classes {
                trust.register(i as u32, class, *prior);
            }
        }
        let n = config.experts.len();
        let mut k = Self {
            tick: 0,
            snarc: Snarc::new(config.snarc.clone()),
            ledger: Ledger::new(config.atp_initial, config.atp_max),
            machine: Machine::new(config.thresholds),
            trust,
            selector: Selector::new(config.selector, config.seed),
            resident: vec![false; n],
            last_used: vec![0; n],
            incumbents: BTreeMap::new(),
            swaps_in_window: 0,
            window_start: 0,
            pending: vec![],
            total_swaps: 0,
            last_dims: BTreeMap::new(),
            deferred: vec![],
            config,
        };
        // Start with WAKE's keep-hot set resident.
        let mut events = vec![];
        k.apply_keep_hot(State::Wake, &mut events);
        Ok(k)
    }

    /// Configuration.
    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// Current metabolic state.
    pub fn state(&self) -> State {
        self.machine.state()
    }

    /// The ATP ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The trust ledger.
    pub fn trust(&self) -> &TrustLedger {
        &self.trust
    }

    /// The salience scorer.
    pub fn snarc(&self) -> &Snarc {
        &self.snarc
    }

    /// Ticks so far.
    pub fn ticks(&self) -> u64 {
        self.tick
    }

    /// Cold loads so far.
    pub fn swaps(&self) -> u64 {
        self.total_swaps
    }

    /// Name of expert `id`.
    pub fn expert_name(&self, id: u32) -> &str {
        self.config.experts.get(id as usize).map(|e| e.name.as_str()).unwrap_or("?")
    }

    /// Id of the expert called `name`.
    pub fn expert_id(&self, name: &str) -> Option<u32> {
        self.config.experts.iter().position(|e| e.name == name).map(|i| i as u32)
    }

    /// Names of the resident experts.
    pub fn resident(&self) -> Vec<&str> {
        self.config
            .experts
            .iter()
            .zip(&self.resident)
            .filter(|(_, r)| **r)
            .map(|(e, _)| e.name.as_str())
            .collect()
    }

    /// Policy of the current state.
    pub fn policy(&self) -> &Policy {
        self.config.policies.get(self.machine.state())
    }

    fn memory_budget(&self, state: State) -> u64 {
        (self.config.memory_bytes as f64 * self.config.policies.get(state).memory_share.clamp(0.0, 1.0))
            as u64
    }

    fn resident_bytes(&self) -> u64 {
        self.config.experts.iter().zip(&self.resident).filter(|(_, r)| **r).map(|(e, _)| e.bytes).sum()
    }

    /// Whether `id` could be made resident, evicting idle experts not in use this tick.
    fn fits(&self, id: usize, busy: &[bool]) -> bool {
        let budget = self.memory_budget(self.machine.state());
        let pinned: u64 = self
            .config
            .experts
            .iter()
            .enumerate()
            .filter(|(i, _)| self.resident[*i] && busy[*i] && *i != id)
            .map(|(_, e)| e.bytes)
            .sum();
        pinned + self.config.experts[id].bytes <= budget
    }

    /// Load `id`, evicting the least recently used idle experts until it fits.
    fn load(&mut self, id: usize, busy: &[bool], why: &str, events: &mut Vec<ResidencyEvent>) {
        let budget = self.memory_budget(self.machine.state());
        while self.resident_bytes() + self.config.experts[id].bytes > budget {
            let victim = (0..self.resident.len())
                .filter(|&i| self.resident[i] && !busy[i] && i != id)
                .min_by_key(|&i| (self.last_used[i], i));
            let Some(v) = victim else { break };
            self.resident[v] = false;
            events.push(ResidencyEvent::Unload {
                expert: self.config.experts[v].name.clone(),
                why: format!("evicted to make room for {}", self.config.experts[id].name),
            });
        }
        self.resident[id] = true;
        events.push(ResidencyEvent::Load {
            expert: self.config.experts[id].name.clone(),
            why: why.to_string(),
        });
    }

    /// Apply the residency policy of `state`: its keep-hot roles are made resident, evicting
    /// other experts (least recently used first) to make room, and whatever no longer fits the
    /// state's memory budget is unloaded, non-keep-hot experts first.
    fn apply_keep_hot(&mut self, state: State, events: &mut Vec<ResidencyEvent>) {
        let policy = self.config.policies.get(state).clone();
        let budget = self.memory_budget(state);
        let hot = |k: &Self, i: usize| policy.keep_hot.contains(&k.config.experts[i].role);
        // Least valuable first: not kept hot, then least recently used.
        let victim = |k: &Self, spare: Option<usize>| {
            (0..k.resident.len())
                .filter(|&i| k.resident[i] && Some(i) != spare)
                .min_by_key(|&i| (hot(k, i), k.last_used[i], i))
        };
        for i in 0..self.resident.len() {
            if self.resident[i] || !hot(self, i) || self.config.experts[i].bytes > budget {
                continue;
            }
            while self.resident_bytes() + self.config.experts[i].bytes > budget {
                match victim(self, Some(i)) {
                    Some(v) if !hot(self, v) => {
                        self.resident[v] = false;
                        events.push(ResidencyEvent::Unload {
                            expert: self.config.experts[v].name.clone(),
                            why: format!("making room for the {state} keep-hot set"),
                        });
                    }
                    _ => break,
                }
            }
            if self.resident_bytes() + self.config.experts[i].bytes <= budget {
                self.resident[i] = true;
                let e = &self.config.experts[i];
                events.push(ResidencyEvent::Load {
                    expert: e.name.clone(),
                    why: format!("{state} keeps {} hot", e.role),
                });
            }
        }
        while self.resident_bytes() > budget {
            let Some(v) = victim(self, None) else { break };
            self.resident[v] = false;
            events.push(ResidencyEvent::Unload {
                expert: self.config.experts[v].name.clone(),
                why: format!("over the {state} memory budget"),
            });
        }
    }

    /// Queue external feedback; it is applied at the next tick whose state allows learning.
    pub fn feedback(&mut self, f: Feedback) {
        self.pending.push(f);
    }

    fn apply_feedback(&mut self, now: f64, events: &mut Vec<TrustEvent>) -> usize {
        let pending = std::mem::take(&mut self.pending);
        let n = pending.len();
        for f in pending {
            if let (Some(name), Some(class)) = (&f.expert, &f.class) {
                if let Some(id) = self.expert_id(name) {
                    let outcome =
                        Outcome { success: f.success.unwrap_or(true), quality: f.quality.unwrap_or(1.0) };
                    events.extend(self.trust.record(id, class, outcome, now));
                }
            }
            // Whether attending to the stream's last observation was worth it: its expected
            // reward, and the salience weights, learn from that.
            if let (Some(stream), Some(reward)) = (&f.stream, f.reward) {
                self.snarc.record_outcome(stream, reward);
                if let Some(dims) = self.last_dims.get(stream) {
                    self.snarc.learn(dims, reward);
                }
            }
        }
        n
    }

    /// One tick at time `now` (seconds) with this tick's observations; `crisis` is an external
    /// crisis signal. External experts cannot run (see [`Kernel::tick_with`]).
    pub fn tick(&mut self, now: f64, observations: &[Observation], crisis: bool) -> TickReport {
        self.tick_with(now, observations, crisis, &mut NoExecutor)
    }

    /// Mark an expert resident or not, as the real residency manager reports it (a model that
    /// the runtime unloaded after its keep-alive, or loaded for a request outside the kernel).
    /// Returns whether anything changed.
    pub fn set_resident(&mut self, expert: &str, resident: bool) -> bool {
        match self.expert_id(expert) {
            Some(id) if self.resident[id as usize] != resident => {
                self.resident[id as usize] = resident;
                true
            }
            _ => false,
        }
    }

    /// Trust as it stands at `now`: `(expert name, class, entry)`, for persistence.
    pub fn trust_snapshot(&self, now: f64) -> Vec<(String, String, crate::trust::TrustEntry)> {
        self.trust
            .snapshot(now)
            .into_iter()
            .map(|(class, id, e)| (self.expert_name(id).to_string(), class, e))
            .collect()
    }

    /// Restore persisted trust for the expert called `expert` (unknown experts are skipped).
    /// Returns whether it was applied.
    pub fn restore_trust(
        &mut self,
        expert: &str,
        class: &str,
        entry: crate::trust::TrustEntry,
        now: f64,
    ) -> bool {
        match self.expert_id(expert) {
            Some(id) => self.trust.restore(id, class, entry, now),
            None => false,
        }
    }

    /// Replace an expert's memory and load cost with measured values. Returns whether it changed.
    pub fn set_cost(&mut self, expert: &str, bytes: u64, load_s: f64) -> bool {
        match self.expert_id(expert) {
            Some(id) if load_s.is_finite() && load_s >= 0.0 => {
                let e = &mut self.config.experts[id as usize];
                let changed = e.bytes != bytes || e.load_s != load_s;
                e.bytes = bytes;
                e.load_s = load_s;
                changed
            }
            _ => false,
        }
    }

    /// [`Kernel::tick`] with an executor for the external experts routed to in this tick.
    pub fn tick_with(
        &mut self,
        now: f64,
        observations: &[Observation],
        crisis: bool,
        executor: &mut dyn Executor,
    ) -> TickReport {
        self.tick += 1;
        let tick = self.tick;
        let state = self.machine.state();
        let policy = self.config.policies.get(state).clone();
        if tick - self.window_start >= self.config.swap_window {
            self.window_start = tick;
            self.swaps_in_window = 0;
        }
        let mut trust_events = self.trust.refresh(now);
        let mut residency = vec![];

        // 1. Salience.
        let mut semantic_spent = 0.0;
        let mut reports: Vec<ObservationReport> = Vec::with_capacity(observations.len());
        let sensors: Vec<(usize, &str, &[f64])> = observations
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match &o.payload {
                Payload::Sensor(v) => Some((i, o.source.as_str(), v.as_slice())),
                Payload::Text(_) => None,
            })
            .collect();
        let mut sensor_sal: Vec<Result<Salience, SnarcError>> = Vec::with_capacity(sensors.len());
        if !sensors.is_empty() {
            // Score the valid readings as one frame; reject the invalid ones alone.
            let valid: Vec<(&str, &[f64])> = sensors
                .iter()
                .filter(|(_, _, v)| !v.is_empty() && v.iter().all(|x| x.is_finite()))
                .map(|(_, s, v)| (*s, *v))
                .collect();
            let mut scored = match self.snarc.assess_frame(&valid) {
                Ok(s) => s.into_iter(),
                Err(_) => Vec::new().into_iter(),
            };
            for (_, s, v) in &sensors {
                if v.is_empty() || !v.iter().all(|x| x.is_finite()) {
                    let e = if v.is_empty() {
                        SnarcError::EmptyVector { sensor: s.to_string() }
                    } else {
                        SnarcError::NotFinite {
                            sensor: s.to_string(),
                            index: v.iter().position(|x| !x.is_finite()).unwrap_or(0),
                        }
                    };
                    sensor_sal.push(Err(e));
                } else {
                    sensor_sal
                        .push(scored.next().ok_or_else(|| SnarcError::EmptyVector { sensor: s.to_string() }));
                }
            }
        }
        let mut sensor_iter = sensor_sal.into_iter();
        for o in observations {
            let sal = match &o.payload {
                Payload::Sensor(_) => sensor_iter.next().unwrap_or(Ok(Salience {
                    dims: Default::default(),
                    total: 0.0,
                    confidence: 0.0,
                    semantic: None,
                })),
                Payload::Text(t) => {
                    let mut s = self.snarc.assess_text(&o.source, t, o.semantic);
                    let (lo, hi) = self.config.semantic_band;
                    if o.semantic.is_none() && s.total >= lo && s.total <= hi {
                        if let Some((score, cost)) = executor.score(&o.source, t, s.total) {
                            if score.is_finite() {
                                s = self.snarc.blend(s, score);
                            }
                            if cost.is_finite() && cost > 0.0 {
                                semantic_spent += self.ledger.debit(tick, EntryKind::PluginSpend, cost, None);
                            }
                        }
                    }
                    Ok(s)
                }
            };
            if let Ok(s) = &sal {
                match self.last_dims.get_mut(&o.source) {
                    Some(d) => *d = s.dims,
                    None => {
                        // Sources are named by the outside world: as many as SNARC remembers
                        // (the feedback a forgotten source gets no longer teaches the weights).
                        if self.last_dims.len() >= 2 * crate::snarc::MAX_STREAMS {
                            self.last_dims.pop_first();
                        }
                        self.last_dims.insert(o.source.clone(), s.dims);
                    }
                }
            }
            match sal {
                Ok(s) => reports.push(ObservationReport {
                    source: o.source.clone(),
                    class: o.class(s.dims.arousal).to_string(),
                    salience: Some(s),
                    attention: Attention::Ignored,
                    deferred_from: None,
                }),
                Err(e) => reports.push(ObservationReport {
                    source: o.source.clone(),
                    class: o.class(0.0).to_string(),
                    salience: None,
                    attention: Attention::Rejected { error: e.to_string() },
                    deferred_from: None,
                }),
            }
        }
        // Observations capped at earlier ticks are offered again.
        let extended: Vec<Observation>;
        let observations: &[Observation] = if self.deferred.is_empty() {
            observations
        } else {
            let deferred = std::mem::take(&mut self.deferred);
            let mut all = observations.to_vec();
            for d in deferred {
                if tick - d.origin > MAX_DEFER_TICKS {
                    continue;
                }
                reports.push(ObservationReport {
                    source: d.obs.source.clone(),
                    class: d.class,
                    salience: Some(d.salience),
                    attention: Attention::Ignored,
                    deferred_from: Some(d.origin),
                });
                all.push(d.obs);
            }
            extended = all;
            &extended
        };

        // 2. Attention and routing.
        let mut attended: Vec<usize> = reports
            .iter()
            .enumerate()
            .filter(|(_, r)| r.salience.is_some_and(|s| s.total >= self.config.attention_threshold))
            .map(|(i, _)| i)
            .collect();
        attended.sort_by(|&a, &b| {
            let sa = reports[a].salience.map_or(0.0, |s| s.total);
            let sb = reports[b].salience.map_or(0.0, |s| s.total);
            sb.total_cmp(&sa).then(a.cmp(&b))
        });
        for &i in attended.iter().skip(policy.max_plugins) {
            reports[i].attention = Attention::Capped;
            let Some(sal) = reports[i].salience else { continue };
            let held = Deferred {
                origin: reports[i].deferred_from.unwrap_or(tick),
                obs: observations[i].clone(),
                salience: sal,
                class: reports[i].class.clone(),
            };
            // A sensor keeps one held reading, its most salient; messages are each held.
            let same = matches!(held.obs.payload, Payload::Sensor(_))
                .then(|| {
                    self.deferred.iter().position(|d| {
                        d.obs.source == held.obs.source && matches!(d.obs.payload, Payload::Sensor(_))
                    })
                })
                .flatten();
            match same {
                Some(j) if self.deferred[j].salience.total >= sal.total => {}
                Some(j) => self.deferred[j] = held,
                None if self.deferred.len() < MAX_DEFERRED => self.deferred.push(held),
                None => {}
            }
        }
        attended.truncate(policy.max_plugins);

        let n_experts = self.config.experts.len();
        let mut busy = vec![false; n_experts];
        let mut decisions = Vec::with_capacity(attended.len());
        let mut routed: Vec<(usize, u32)> = Vec::with_capacity(attended.len());
        let mut candidates: Vec<Candidate> = Vec::with_capacity(n_experts);
        for &i in &attended {
            let class = reports[i].class.clone();
            candidates.clear();
            for (id, e) in self.config.experts.iter().enumerate() {
                if !e.classes.contains_key(&class) {
                    continue;
                }
                let trust = self.trust.trust(id as u32, &class);
                candidates.push(Candidate {
                    id: id as u32,
                    expertise: trust,
                    trust,
                    resident: self.resident[id],
                    cold_cost: e.load_s / self.config.reference_load_s,
                    bytes: e.bytes,
                    fits: self.fits(id, &busy),
                    suppressed: self.trust.is_suppressed(id as u32, &class),
                });
            }
            let ctx = Context {
                state,
                swaps_left: self.config.swap_budget.saturating_sub(self.swaps_in_window),
                incumbent: self.incumbents.get(&class).copied(),
                exploration: policy.exploration,
                // Short of energy (under 30% of the maximum), every state prefers light experts.
                prefer_light: (self.ledger.balance() < 0.3 * self.ledger.max()).then_some(true),
            };
            let d = self.selector.select(&ctx, &candidates);
            let runnable = |c: &Candidate| !c.suppressed && (c.resident || c.fits);
            // The selector's choice, or, if it cannot run here, the best runnable alternative.
            let mut fallback = None;
            let used = match d.chosen {
                Some(id) if candidates.iter().any(|c| c.id == id && runnable(c)) => Some(id),
                Some(id) => {
                    let budget = self.memory_budget(state) >> 20;
                    let need = self.config.experts[id as usize].bytes >> 20;
                    let why = format!(
                        "{} needs {need} MiB, more than the {state} budget of {budget} MiB allows",
                        self.config.experts[id as usize].name
                    );
                    let mut ranked: Vec<&crate::router::Factors> = d.candidates.iter().collect();
                    ranked.sort_by(|a, b| b.permission.total_cmp(&a.permission));
                    let alt = ranked
                        .into_iter()
                        .find(|f| f.id != id && candidates.iter().any(|c| c.id == f.id && runnable(c)))
                        .map(|f| f.id);
                    fallback = Some(match alt {
                        Some(a) => format!("{why}; fell back to {}", self.config.experts[a as usize].name),
                        None => format!("{why}, and no other expert for {class} is available"),
                    });
                    alt
                }
                None => {
                    fallback = Some(format!("every expert for {class} is cooled down or none serves it"));
                    None
                }
            };
            match used {
                Some(id) => {
                    let cold = !self.resident[id as usize];
                    if cold {
                        self.swaps_in_window += 1;
                        self.total_swaps += 1;
                        self.load(id as usize, &busy, &format!("routed {class} to it"), &mut residency);
                    }
                    busy[id as usize] = true;
                    self.last_used[id as usize] = tick;
                    self.incumbents.insert(class.clone(), id);
                    routed.push((i, id));
                    reports[i].attention = Attention::Attended;
                }
                None => {
                    reports[i].attention = Attention::Unrouted { why: fallback.clone().unwrap_or_default() };
                }
            }
            decisions.push(Routing { observation: i, class, decision: d, used, fallback });
        }

        // 3. Allocation.
        let cycle_budget = self.ledger.balance() * policy.budget_share;
        let targets: Vec<Target> = routed
            .iter()
            .map(|&(i, id)| Target {
                index: i,
                salience: reports[i].salience.map_or(0.0, |s| s.total),
                trust: self.trust.trust(id, &reports[i].class),
            })
            .collect();
        let mut allocation: Allocation =
            allocate(cycle_budget, policy.max_plugins, self.config.probe_floor, &targets);
        // A plan from the executor where several tasks compete for a model's time.
        let mut plan = None;
        let external = |id: u32| self.config.experts[id as usize].plugin == Builtin::External;
        if allocation.grants.len() >= 2
            && allocation.grants.iter().any(|(i, _)| routed.iter().any(|&(j, id)| j == *i && external(id)))
        {
            let tasks: Vec<PlanTask> = allocation
                .grants
                .iter()
                .filter_map(|&(i, g)| {
                    let &(_, id) = routed.iter().find(|(j, _)| *j == i)?;
                    let gist = match &observations[i].payload {
                        Payload::Text(t) => t.chars().take(80).collect(),
                        Payload::Sensor(v) => format!("{} readings from {}", v.len(), observations[i].source),
                    };
                    Some(PlanTask {
                        class: reports[i].class.clone(),
                        expert: self.config.experts[id as usize].name.clone(),
                        salience: reports[i].salience.map_or(0.0, |s| s.total),
                        trust: self.trust.trust(id, &reports[i].class),
                        gist,
                        heuristic: g,
                    })
                })
                .collect();
            if let Some((asked, cost)) = executor.plan(allocation.cycle_budget, &tasks) {
                let cost = if cost.is_finite() && cost > 0.0 {
                    semantic_spent += self.ledger.debit(tick, EntryKind::PluginSpend, cost, None);
                    cost
                } else {
                    0.0
                };
                // The planning cost comes out of this tick's budget.
                let mut h = allocation.clone();
                let left = (h.cycle_budget - cost).max(0.0);
                let scale = if h.cycle_budget > 0.0 { left / h.cycle_budget } else { 0.0 };
                h.cycle_budget = left;
                for g in &mut h.grants {
                    g.1 *= scale;
                }
                match crate::atp::apply_plan(&h, &asked) {
                    Ok((a, clamped)) => {
                        allocation = a;
                        plan = Some(PlanOutcome::Plan { asked, clamped, cost });
                    }
                    Err(why) => {
                        allocation = h;
                        plan = Some(PlanOutcome::Rejected { why: why.to_string(), cost });
                    }
                }
            }
        }

        // 4. Run, interleaved, reallocating what early finishers leave.
        let mut jobs: Vec<Job> = Vec::with_capacity(allocation.grants.len());
        let mut external: Vec<Dispatch> = vec![];
        for &(i, grant) in &allocation.grants {
            let Some(&(_, id)) = routed.iter().find(|(j, _)| *j == i) else {
                continue;
            };
            let spec = &self.config.experts[id as usize];
            if spec.plugin == Builtin::External {
                let alternatives = decisions
                    .iter()
                    .find(|d| d.observation == i)
                    .map(|d| {
                        let mut ranked: Vec<&crate::router::Factors> = d.decision.candidates.iter().collect();
                        ranked.sort_by(|a, b| b.permission.total_cmp(&a.permission));
                        ranked
                            .into_iter()
                            .filter(|f| {
                                f.id != id
                                    && f.excluded.is_none()
                                    && self.config.experts[f.id as usize].plugin == Builtin::External
                            })
                            .map(|f| self.config.experts[f.id as usize].name.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                external.push(Dispatch {
                    tick,
                    state,
                    observation: i,
                    input: observations[i].clone(),
                    salience: reports[i].salience.map_or(0.0, |s| s.total),
                    class: reports[i].class.clone(),
                    expert: spec.name.clone(),
                    alternatives,
                    grant,
                });
                continue;
            }
            let trust = self.trust.trust(id, &reports[i].class);
            match start_job(spec, &observations[i], grant) {
                Ok(run) => jobs.push(Job {
                    obs: i,
                    expert: id,
                    allocated: grant,
                    reallocated: 0.0,
                    trust,
                    run,
                    done: false,
                }),
                Err(e) => {
                    reports[i].attention = Attention::Rejected { error: e.to_string() };
                }
            }
        }
        let mut alive = jobs.len();
        while alive > 0 {
            for j in 0..jobs.len() {
                if jobs[j].done {
                    continue;
                }
                let stepped = jobs[j].run.step();
                if !stepped {
                    jobs[j].done = true;
                    alive -= 1;
                    let left = jobs[j].run.remaining();
                    let others: f64 =
                        jobs.iter().filter(|o| !o.done).map(|o| o.trust.max(self.config.probe_floor)).sum();
                    if left > 0.0 && others > 0.0 {
                        for o in jobs.iter_mut().filter(|o| !o.done) {
                            let g = left * o.trust.max(self.config.probe_floor) / others;
                            o.run.grant(g);
                            o.reallocated += g;
                        }
                        jobs[j].run.give_back(left);
                    }
                }
            }
        }
        let mut runs = Vec::with_capacity(jobs.len() + external.len());
        let mut spent_total = semantic_spent;
        let mut external_failures: Vec<(u32, String)> = vec![];
        for job in &external {
            let out = executor.execute(job);
            let used = out.used.as_deref().and_then(|n| self.expert_id(n));
            for (name, _) in &out.failed {
                if let Some(id) = self.expert_id(name) {
                    external_failures.push((id, job.class.clone()));
                }
            }
            let charged_to = used.or(self.expert_id(&job.expert));
            let spent = self.ledger.debit(tick, EntryKind::PluginSpend, out.telemetry.atp_spent, charged_to);
            spent_total += spent;
            let quality = out.quality.unwrap_or_else(|| quality_of(&out.telemetry)).clamp(0.0, 1.0);
            if used.is_none() {
                reports[job.observation].attention = Attention::Unrouted {
                    why: out.failed.iter().map(|(n, w)| format!("{n}: {w}")).collect::<Vec<_>>().join("; "),
                };
                continue;
            }
            runs.push(RunReport {
                observation: job.observation,
                expert: out.used.clone().unwrap_or_else(|| job.expert.clone()),
                class: job.class.clone(),
                allocated: job.grant,
                reallocated: 0.0,
                telemetry: out.telemetry,
                quality,
                output: out.output,
            });
        }
        for job in jobs {
            let (telemetry, output) = job.run.finish();
            let spent =
                self.ledger.debit(tick, EntryKind::PluginSpend, telemetry.atp_spent, Some(job.expert));
            spent_total += spent;
            let quality = quality_of(&telemetry);
            let class = reports[job.obs].class.clone();
            runs.push(RunReport {
                observation: job.obs,
                expert: self.config.experts[job.expert as usize].name.clone(),
                class,
                allocated: job.allocated,
                reallocated: job.reallocated,
                telemetry,
                quality,
                output,
            });
        }

        // 5. Learning.
        let mut feedback_applied = 0;
        if policy.learning {
            for (id, class) in &external_failures {
                trust_events.extend(self.trust.record(
                    *id,
                    class,
                    Outcome { success: false, quality: 0.0 },
                    now,
                ));
            }
            for r in &runs {
                let Some(id) = self.expert_id(&r.expert) else {
                    continue;
                };
                let success = r.telemetry.halt_reason != HaltReason::Error;
                trust_events.extend(self.trust.record(
                    id,
                    &r.class,
                    Outcome { success, quality: r.quality },
                    now,
                ));
            }
            feedback_applied = self.apply_feedback(now, &mut trust_events);
        }

        // 6. Metabolism.
        let base_cost = self.ledger.debit(tick, EntryKind::BaseCost, policy.base_cost, None);
        let recovered = self.ledger.credit(tick, EntryKind::Recovery, policy.recovery);
        let biases = match self.config.circadian_period {
            Some(period) => Circadian { period }.biases(tick),
            None => Biases::NEUTRAL,
        };
        // Held observations were seen already; they keep counting only where nothing can be
        // attended (so that a held event can still wake a dreaming kernel).
        let max_salience = reports
            .iter()
            .filter(|r| r.deferred_from.is_none() || policy.max_plugins == 0)
            .filter_map(|r| r.salience.map(|s| s.total))
            .fold(0.0, f64::max);
        let transition = self.machine.update(Inputs {
            atp: self.ledger.balance(),
            salience: max_salience,
            crisis,
            biases,
        });

        // 7. State change effects.
        let mut consolidated = 0;
        if let Some(t) = transition {
            self.apply_keep_hot(t.to, &mut residency);
            if self.config.policies.get(t.to).consolidation {
                consolidated = self.trust.consolidate(now);
            }
        }

        TickReport {
            tick,
            now,
            state,
            transition,
            observations: reports,
            decisions,
            runs,
            atp: AtpReport {
                allocated: allocation.cycle_budget,
                spent: spent_total,
                base_cost,
                recovered,
                balance: self.ledger.balance(),
            },
            residency,
            trust_events,
            consolidated,
            feedback_applied,
            plan,
            next_tick_in_s: self.config.policies.get(self.machine.state()).tick_interval_s,
        }
    }
}

/// Quality of a run from its telemetry: monotone descent, a proper halt and thrift.
pub fn quality_of(t: &Telemetry) -> f64 {
    if t.halt_reason == HaltReason::Error {
        return 0.0;
    }
    let halted_well = matches!(t.halt_reason, HaltReason::Converged | HaltReason::PluginDone) as u8 as f64;
    let budget = t.atp_spent + t.atp_unused;
    let thrift = if budget > 0.0 { 1.0 - t.atp_spent / budget } else { 0.0 };
    (0.5 * t.monotonicity + 0.3 * halted_well + 0.2 * thrift).clamp(0.0, 1.0)
}

struct Job {
    obs: usize,
    expert: u32,
    allocated: f64,
    reallocated: f64,
    trust: f64,
    run: Box<dyn JobRun>,
    done: bool,
}

/// An IRP run with its plugin type erased.
trait JobRun {
    fn step(&mut self) -> bool;
    fn grant(&mut self, atp: f64);
    fn remaining(&self) -> f64;
    fn give_back(&mut self, atp: f64);
    fn finish(self: Box<Self>) -> (Telemetry, String);
}

struct Typed<P: Plugin> {
    run: Run<P>,
    given_back: f64,
    describe: fn(&P::State, &Telemetry) -> String,
}

impl<P: Plugin> JobRun for Typed<P> {
    fn step(&mut self) -> bool {
        matches!(self.run.step(), Ok(true))
    }
    fn grant(&mut self, atp: f64) {
        self.run.grant(atp);
    }
    fn remaining(&self) -> f64 {
        (self.run.budget().remaining() - self.given_back).max(0.0)
    }
    fn give_back(&mut self, atp: f64) {
        self.given_back += atp;
    }
    fn finish(self: Box<Self>) -> (Telemetry, String) {
        let given_back = self.given_back;
        let describe = self.describe;
        // Elapsed time is not measured inside the pure kernel.
        let refined = self.run.finish(0.0);
        let mut t = refined.telemetry;
        t.atp_unused = (t.atp_unused - given_back).max(0.0);
        let mut out = describe(&refined.state, &t);
        if let Some(e) = refined.error {
            out = format!("error: {e}");
        }
        (t, out)
    }
}

fn start_job(
    spec: &ExpertSpec,
    obs: &Observation,
    grant: f64,
) -> Result<Box<dyn JobRun>, sage_irp::PluginError> {
    let budget = Budget::new(grant);
    let wrong = |what: &str| sage_irp::PluginError::InvalidInput {
        plugin: spec.name.clone(),
        message: format!("expects {what}"),
    };
    Ok(match (spec.plugin, &obs.payload) {
        (Builtin::Smoother { lambda, rate, momentum }, Payload::Sensor(v)) => Box::new(Typed {
            run: Run::start(Smoother { lambda, rate, momentum }, v.clone(), spec.halt, budget)?,
            given_back: 0.0,
            describe: |s, t| {
                format!(
                    "smoothed {} values, energy {:.3} -> {:.3}",
                    s.x.len(),
                    t.energies[0],
                    t.final_energy()
                )
            },
        }),
        (Builtin::Keywords, Payload::Text(text)) => Box::new(Typed {
            run: Run::start(Keywords, text.clone(), spec.halt, budget)?,
            given_back: 0.0,
            describe: |s, _| format!("keywords: {}", s.chosen.join(", ")),
        }),
        (Builtin::Intent { rate }, Payload::Text(text)) => Box::new(Typed {
            run: Run::start(Intent { rate }, text.clone(), spec.halt, budget)?,
            given_back: 0.0,
            describe: |s, _| {
                let (i, p) = s.best();
                format!("intent: {i} ({p:.2})")
            },
        }),
        (Builtin::Smoother { .. }, _) => return Err(wrong("a sensor vector")),
        (Builtin::External, _) => return Err(wrong("an executor (it runs outside the kernel)")),
        (_, _) => return Err(wrong("text")),
    })
}

#[cfg(test)]
mod tests;
