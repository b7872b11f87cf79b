//! The kernel: one tick of attention.
//!
//! [`Kernel::tick`] takes the time and this tick's observations and returns a [`TickReport`].
//! A tick is a sequence of stages (in `kernel/stages.rs`), each a function of the kernel and
//! the tick's context:
//! 1. `settle`: jobs of external experts whose outcome arrived are settled (ATP held for them
//!    becomes what they spent; the rest returns);
//! 2. `score`: salience of every observation (SNARC; numeric sensors of a tick form one frame);
//! 3. `attend`: the most salient observations above the attention threshold, within the
//!    state's `max_plugins` less the running jobs; a crisis, or an observation more salient
//!    than a running job by `preempt_margin`, preempts it; the rest are deferred;
//! 4. `route`: each is routed to an expert by the selector (trust, residency, hysteresis);
//! 5. `allocate`: a share of the ATP balance by `salience × trust` with a probe floor;
//! 6. `dispatch`: external experts' jobs get a number and their ATP held; built-ins start;
//! 7. `run`: built-in plugins run interleaved, what an early finisher leaves going to those
//!    still running; in lock step ([`Kernel::tick_with`]) the external jobs run now through the
//!    executor and are settled; in the real-time kernel ([`Kernel::tick_live`]) they leave in
//!    the report and come back as [`JobEvent`]s at a later tick;
//! 8. `learn`: trust and SNARC weights (only in states whose policy allows learning);
//! 9. `metabolise`: base cost and recovery, the metabolic machine, the new state's keep-hot set,
//!    DREAM's consolidation.
//!
//! Nothing here reads a clock or does I/O: `now` is an argument and randomness is seeded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use sage_irp::{HaltConfig, HaltReason, Telemetry};

use crate::atp::Ledger;
use crate::metabolic::{Machine, Policies, Policy, State, Thresholds};
use crate::router::{Selector, SelectorConfig};
use crate::snarc::{Salience, Snarc, SnarcConfig};
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
    /// The job's number (settle it with a [`JobEvent`] naming it).
    #[serde(default)]
    pub job: JobId,
    /// What the job does.
    #[serde(default)]
    pub kind: JobKind,
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
    /// Jobs it can run at once (an engine's parallel sequences); a job that spans ticks takes
    /// one until it is settled or cancelled.
    #[serde(default = "one")]
    pub slots: u32,
}

fn one() -> u32 {
    1
}

/// Default of [`KernelConfig::preempt_margin`].
pub const PREEMPT_MARGIN: f64 = 0.1;

fn default_margin() -> f64 {
    PREEMPT_MARGIN
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
    /// An observation more salient than a running job by this much takes its plugin slot
    /// when none is free: the job is cancelled (see [`Kernel::tick_live`]).
    #[serde(default = "default_margin")]
    pub preempt_margin: f64,
    /// ATP held for a scoring job of the real-time kernel (what it costs is settled).
    #[serde(default = "default_score_grant")]
    pub score_grant: f64,
}

fn default_score_grant() -> f64 {
    1.0
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
            slots: 1,
        },
        ExpertSpec {
            name: "smooth-momentum".into(),
            role: "large".into(),
            classes: classes(&[("sensor", 0.6)]),
            bytes: 160 << 20,
            load_s: 0.8,
            plugin: Builtin::Smoother { lambda: 0.5, rate: 0.1, momentum: 0.5 },
            halt,
            slots: 1,
        },
        ExpertSpec {
            name: "intent".into(),
            role: "primary".into(),
            classes: classes(&[("text.alert", 0.7), ("text.question", 0.6), ("text.chat", 0.5)]),
            bytes: 120 << 20,
            load_s: 0.5,
            plugin: Builtin::Intent { rate: 0.6 },
            halt,
            slots: 1,
        },
        ExpertSpec {
            name: "keywords".into(),
            role: "small".into(),
            classes: classes(&[("text.alert", 0.5), ("text.question", 0.5), ("text.chat", 0.6)]),
            bytes: 30 << 20,
            load_s: 0.1,
            plugin: Builtin::Keywords,
            halt,
            slots: 1,
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
            preempt_margin: PREEMPT_MARGIN,
            score_grant: default_score_grant(),
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
    /// Per source: the dimensions of its last observation and the tick it came in.
    last_dims: BTreeMap<String, (crate::snarc::Dims, u64)>,
    deferred: Vec<Deferred>,
    running: Vec<RunningJob>,
    awaiting: Vec<jobs::Awaiting>,
    next_job: JobId,
}

/// A salient observation that a state's plugin limit capped: it is offered again at the next
/// ticks (with the salience it had), so that nothing salient is lost to a busy or sleeping
/// state, until it is attended or too old.
#[derive(Debug, Clone)]
struct Deferred {
    origin: u64,
    /// Where the observation confirmed a change: the tick the change began
    /// ([`ObservationReport::onset`]).
    onset: Option<u64>,
    /// When its hold began (the tick and the time it was seen, or the last tick of a state
    /// that ran nothing: what a dream holds is held again once the kernel wakes).
    since_tick: u64,
    seen_at: f64,
    obs: Observation,
    salience: Salience,
    class: String,
}

/// Ticks a capped observation is offered again (and at least [`MAX_DEFER_S`]: a real-time
/// kernel ticking at 20 Hz holds it as long as a lock-step one ticking every second).
pub const MAX_DEFER_TICKS: u64 = 10;
/// Seconds a capped observation is offered again (and at least [`MAX_DEFER_TICKS`] ticks).
pub const MAX_DEFER_S: f64 = 10.0;
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
        check("preempt_margin", config.preempt_margin, config.preempt_margin >= 0.0, "non-negative")?;
        check("reference_load_s", config.reference_load_s, config.reference_load_s > 0.0, "positive")?;
        if let Some(d) = config.trust.relearn_above {
            check("trust.relearn_above", d, d > 0.0 && d <= 1.0, "in (0, 1]")?;
        }
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
            running: vec![],
            awaiting: vec![],
            next_job: 0,
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
                // A model generating a job's answer stays until the job is settled.
                .filter(|&i| !k.running.iter().any(|j| j.expert as usize == i))
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
                if let Some((dims, _)) = self.last_dims.get(stream) {
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

    /// [`Kernel::tick`] in lock step with an executor: the external experts routed to in this
    /// tick run inside it, through `executor`, and are settled before it ends.
    pub fn tick_with(
        &mut self,
        now: f64,
        observations: &[Observation],
        crisis: bool,
        executor: &mut dyn Executor,
    ) -> TickReport {
        self.tick_stages(now, observations, crisis, vec![], executor, stages::Mode::Inline)
    }

    /// One tick of the real-time kernel: external jobs leave in the report's `dispatched`, with
    /// their ATP held, and are settled at the tick their [`JobEvent`] is passed in `events`;
    /// running jobs the kernel wants cancelled are in the report's `preempted`. The executor is
    /// asked only for semantic scores and plans (a live executor answers those from what it
    /// already has).
    pub fn tick_live(
        &mut self,
        now: f64,
        observations: &[Observation],
        crisis: bool,
        events: Vec<JobEvent>,
        executor: &mut dyn Executor,
    ) -> TickReport {
        self.tick_stages(now, observations, crisis, events, executor, stages::Mode::Spanning)
    }

    fn tick_stages(
        &mut self,
        now: f64,
        observations: &[Observation],
        crisis: bool,
        events: Vec<JobEvent>,
        executor: &mut dyn Executor,
        mode: stages::Mode,
    ) -> TickReport {
        let mut ctx = self.begin(now, crisis, mode);
        self.settle(&mut ctx, events);
        self.score(&mut ctx, observations, executor);
        self.attend(&mut ctx);
        self.route(&mut ctx);
        self.allocate(&mut ctx, executor);
        self.dispatch(&mut ctx);
        self.run(&mut ctx, executor);
        self.learn(&mut ctx);
        self.metabolise(ctx)
    }

    /// Jobs dispatched and not settled yet (scoring jobs aside).
    pub fn running(&self) -> &[RunningJob] {
        &self.running
    }

    /// The scoring jobs texts are waiting for.
    pub fn awaiting_scores(&self) -> Vec<JobId> {
        self.awaiting.iter().map(|a| a.job).collect()
    }

    /// ATP held for every unsettled job (equals the ledger's reserve).
    pub fn held(&self) -> f64 {
        self.running.iter().map(|j| j.held).sum::<f64>() + self.awaiting.iter().map(|a| a.held).sum::<f64>()
    }
}

pub use builtin::quality_of;

mod builtin;
mod jobs;
mod report;
mod stages;

pub use jobs::{JobEnd, JobEvent, JobId, JobKind, Preemption, RunningJob, MAX_AWAITING};
pub use report::{AtpReport, Attention, ObservationReport, ResidencyEvent, Routing, RunReport, TickReport};

#[cfg(test)]
mod tests;
