//! `sage run`'s driver: the kernel's external experts answered by real language models.
//!
//! The kernel decides (salience, state, ATP, which expert); this driver does the I/O: it runs
//! a dispatched observation through the model chain (the chosen model, then the alternatives,
//! then the degraded responder), scores ambiguous text for semantic importance with a model,
//! tells the kernel before each tick what the real residency manager holds and what loads
//! measured, and stores observations, memories, convergence and decisions. Everything it tells
//! the kernel is written to a [`Tape`], so that a replay reproduces the run's decisions.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use sage_irp::{HaltReason, Telemetry};
use sage_kernel::{Dispatch, Driver, Executor, ExternalRun, Kernel, Payload};
use sage_llm::{ChatMessage, Flow, Role};
use sage_store::{ObservationRow, Store};

use crate::llm::LlmSettings;
use crate::record::{Tape, TapeEntry};
use crate::residency::Residency;
use crate::route::{attempt_chain, degraded_reply, Answer, Request, Sessions};
use crate::semantic::SemanticScorer;
use crate::zoo::ModelSpec;

/// Invocations a driver without a tape keeps (the most recent).
const RECENT_INVOCATIONS: usize = 256;

/// The system prompt of answers in `sage run`.
pub const SYSTEM: &str =
    "You are the onboard assistant of a warehouse robot. Answer the operator in one short sentence.";

/// One model invocation in a run, for the trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// Tick (1-based, as in the kernel's reports).
    pub tick: u64,
    /// What was asked.
    pub input: String,
    /// Situation class.
    pub class: String,
    /// Salience.
    pub salience: f64,
    /// Models tried, in order, with why they failed.
    pub failed: Vec<(String, String)>,
    /// The model that answered.
    pub model: Option<String>,
    /// Answer (or the degraded responder's words).
    pub reply: String,
    /// Tokens generated, prompt tokens evaluated and reused.
    pub tokens: (u32, u32, u32),
    /// Seconds.
    pub seconds: f64,
}

/// The driver.
pub struct LlmDriver {
    residency: Arc<Residency>,
    specs: Vec<ModelSpec>,
    sessions: std::sync::Mutex<Sessions>,
    /// Generation settings.
    pub settings: LlmSettings,
    store: Option<Store>,
    scorer: Option<SemanticScorer>,
    reasoner: Option<crate::reasoner::Reasoner>,
    clock: Arc<dyn crate::Clock>,
    tick: u64,
    now: f64,
    tape: Tape,
    /// Invocations so far.
    pub invocations: Vec<Invocation>,
    /// Memory of the salient: observations at least this salient become memories.
    pub memory_threshold: f64,
    told: BTreeMap<String, (bool, u64)>,
    restore: Vec<sage_store::TrustRow>,
    policies: Option<(sage_kernel::metabolic::Policies, u64)>,
    /// What the driver did besides answering (restored trust, state changes applied to
    /// residency, consolidation), for the trace.
    pub notes: Vec<String>,
    background_loads: bool,
}

impl LlmDriver {
    /// A driver over `specs` served by `residency`; `store` keeps memories and decisions.
    pub fn new(
        specs: Vec<ModelSpec>,
        residency: Arc<Residency>,
        store: Option<Store>,
        scorer: Option<SemanticScorer>,
        clock: Arc<dyn crate::Clock>,
    ) -> Self {
        Self {
            residency,
            specs,
            sessions: std::sync::Mutex::default(),
            // One-line answers: a new line ends the turn.
            settings: LlmSettings {
                chunk: 16,
                max_tokens: 40,
                params: sage_llm::GenerateParams {
                    logprobs: Some(0),
                    stop: vec!["\n".into()],
                    ..Default::default()
                },
                ..Default::default()
            },
            store,
            scorer,
            reasoner: None,
            clock,
            tick: 0,
            now: 0.0,
            tape: Tape::default(),
            invocations: vec![],
            memory_threshold: 0.5,
            told: BTreeMap::new(),
            restore: vec![],
            policies: None,
            notes: vec![],
            background_loads: false,
        }
    }

    /// Load a new state's keep-hot models on a thread of their own instead of inside the tick
    /// (for the real-time kernel).
    pub fn loading_in_background(mut self) -> Self {
        self.background_loads = true;
        self
    }

    /// Keep no tape (a long-running server that nobody replays): what the driver tells the
    /// kernel is not recorded tick by tick, and only the last invocations are kept, so memory
    /// stays flat however long it runs.
    pub fn without_tape(mut self) -> Self {
        self.tape.off = true;
        self
    }

    /// Ask `reasoner` for resource plans where several tasks compete for a model.
    pub fn with_reasoner(mut self, reasoner: crate::reasoner::Reasoner) -> Self {
        self.reasoner = Some(reasoner);
        self
    }

    /// The reasoner, if any.
    pub fn reasoner(&self) -> Option<&crate::reasoner::Reasoner> {
        self.reasoner.as_ref()
    }

    /// Restore this trust before the first tick (from the store of earlier runs).
    pub fn restore_trust(&mut self, rows: Vec<sage_store::TrustRow>) {
        self.restore = rows;
    }

    /// Apply the kernel's state policies to the real residency: on every state change the
    /// budget becomes `model_bytes × memory_share` and the state's keep-hot roles are loaded,
    /// the rest unloaded.
    pub fn follow_states(&mut self, policies: sage_kernel::metabolic::Policies, model_bytes: u64) {
        self.policies = Some((policies, model_bytes));
    }

    /// Persist the kernel's trust at the end of a run.
    pub fn save_trust(&self, kernel: &Kernel, now: f64) -> Result<usize, sage_store::StoreError> {
        match &self.store {
            Some(store) => save_kernel_trust(store, kernel, now),
            None => Ok(0),
        }
    }

    /// The tape of everything the kernel was told.
    pub fn tape(&self) -> &Tape {
        &self.tape
    }

    /// The store, if any.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    fn store_warn(r: Result<impl Sized, sage_store::StoreError>) {
        if let Err(e) = r {
            tracing::warn!(error = %e, "store write failed; the run goes on");
        }
    }
}

impl Executor for LlmDriver {
    fn execute(&mut self, job: &Dispatch) -> ExternalRun {
        let started = self.clock.now();
        let text = dispatch_text(job);
        let mut ignore = |_: &str| Flow::Continue;
        let (request, attempts, answer) =
            answer_dispatch(&self.residency, &self.specs, &self.sessions, &self.settings, job, &mut ignore);
        let seconds = self.clock.now() - started;
        if let (Some(s), Some(a)) = (&self.store, &answer) {
            Self::store_warn(s.record_convergence(
                &a.model,
                &job.class,
                a.telemetry.steps,
                a.telemetry.halt_reason == HaltReason::PluginDone,
            ));
            Self::store_warn(s.remember(
                self.now,
                "answer",
                &a.model,
                &format!("Q: {text} A: {}", said(a)),
                job.salience,
            ));
        }
        let run = external_run(job, &request, &attempts, answer.as_ref(), seconds);
        let failed = run.failed.clone();
        if let Some(s) = &self.store {
            Self::store_warn(s.log_decision(
                self.now,
                "dispatch",
                &serde_json::json!({"job": job, "attempts": attempts, "answer": answer}),
            ));
        }
        if self.tape.off && self.invocations.len() >= RECENT_INVOCATIONS {
            self.invocations.remove(0);
        }
        self.invocations.push(Invocation {
            tick: job.tick,
            input: text,
            class: job.class.clone(),
            salience: job.salience,
            failed,
            model: answer.as_ref().map(|a| a.model.clone()),
            reply: answer.as_ref().map_or_else(|| run.output.clone(), said),
            tokens: answer
                .as_ref()
                .map_or((0, 0, 0), |a| (a.tokens, a.timings.prompt_tokens, a.timings.cached_tokens)),
            seconds,
        });
        self.tape.push(self.tick, TapeEntry::Run(run.clone()));
        run
    }

    fn plan(&mut self, budget: f64, tasks: &[sage_kernel::PlanTask]) -> Option<(Vec<f64>, f64)> {
        let out = match self.reasoner.as_mut() {
            Some(r) => r.plan(&self.residency, budget, tasks),
            None => None,
        };
        if let (Some(store), Some(p)) = (&self.store, &out) {
            Self::store_warn(store.log_decision(
                self.now,
                "plan",
                &serde_json::json!({"budget": budget, "tasks": tasks, "asked": p}),
            ));
        }
        self.tape.push(self.tick, TapeEntry::Plan { plan: out.clone() });
        out
    }

    fn score(&mut self, source: &str, text: &str, cheap: f64) -> Option<(f64, f64)> {
        let out = match self.scorer.as_mut() {
            Some(scorer) => scorer.score(&self.residency, self.store.as_ref(), source, text),
            None => None,
        };
        tracing::debug!(source, text, cheap, ?out, "semantic importance");
        self.tape.push(self.tick, TapeEntry::Score { score: out });
        out
    }
}

impl Driver for LlmDriver {
    fn after_tick(&mut self, report: &sage_kernel::TickReport, observations: &[sage_kernel::Observation]) {
        self.after(report, observations);
    }

    fn before_tick(&mut self, kernel: &mut Kernel, index: u64, now: f64) {
        self.tick = index;
        self.now = now;
        let mut restored = 0;
        for row in std::mem::take(&mut self.restore) {
            let Ok(entry) = serde_json::from_value::<sage_kernel::trust::TrustEntry>(row.entry) else {
                continue;
            };
            if kernel.restore_trust(&row.expert, &row.class, entry, now) {
                restored += 1;
                self.tape.push(index, TapeEntry::Trust { expert: row.expert, class: row.class, entry });
            }
        }
        if restored > 0 {
            self.notes.push(format!("restored {restored} trust entries from earlier runs"));
        }
        self.residency.expire();
        // Before the first tick, load what the kernel's initial state keeps hot (later state
        // changes are applied in `after_tick`).
        let wanted: Vec<String> =
            if index == 0 { kernel.resident().into_iter().map(str::to_string).collect() } else { vec![] };
        for s in &self.specs {
            if wanted.contains(&s.id) && !self.residency.is_resident(&s.id) {
                if let Err(e) =
                    self.residency.acquire(&s.id, &format!("{} keeps {} hot", kernel.state(), s.role))
                {
                    tracing::warn!(model = %s.id, error = %e, "could not preload a keep-hot model");
                }
            }
        }
        // Tell the kernel what is really resident and what loads measured (and record it).
        for s in &self.specs {
            let resident = self.residency.is_resident(&s.id);
            let (bytes, load_s, measured) = self.residency.cost(&s.id).unwrap_or((0, 0.0, false));
            let before = self.told.get(&s.id).copied();
            if before.map(|b| b.0) != Some(resident) && kernel.set_resident(&s.id, resident) {
                self.tape.push(index, TapeEntry::Resident { expert: s.id.clone(), resident });
            }
            if measured && before.map(|b| b.1) != Some(bytes) && kernel.set_cost(&s.id, bytes, load_s) {
                self.tape.push(index, TapeEntry::Cost { expert: s.id.clone(), bytes, load_s });
            }
            self.told.insert(s.id.clone(), (resident, bytes));
        }
        for log in self.residency.take_log() {
            if !self.tape.off {
                self.tape.residency.push(log.clone());
            }
            if let Some(st) = &self.store {
                Self::store_warn(st.log_decision(now, "residency", &log));
            }
        }
    }
}

impl LlmDriver {
    fn after(&mut self, report: &sage_kernel::TickReport, observations: &[sage_kernel::Observation]) {
        self.tape.digest(self.tick, report);
        if let Some(store) = &self.store {
            remember_tick(store, report, observations, self.memory_threshold);
            // Convergence memory of the built-in plugins (the models record theirs when run).
            for run in &report.runs {
                if !self.specs.iter().any(|s| s.id == run.expert) {
                    let t = &run.telemetry;
                    Self::store_warn(store.record_convergence(
                        &run.expert,
                        &run.class,
                        t.steps,
                        t.halt_reason == HaltReason::Converged || t.halt_reason == HaltReason::PluginDone,
                    ));
                }
            }
        }
        let Some(t) = report.transition else { return };
        if t.to == sage_kernel::State::Dream {
            if let Some(store) = &self.store {
                match store.consolidate_memories(MEMORY_KEEP) {
                    Ok(n) if n > 0 => self
                        .notes
                        .push(format!("tick {}: DREAM consolidated memories, {n} dropped", report.tick)),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "memory consolidation failed"),
                }
            }
        }
        if let Some((policies, bytes)) = &self.policies {
            let p = policies.get(t.to);
            let budget = (*bytes as f64 * p.memory_share.clamp(0.0, 1.0)) as u64;
            let hot: Vec<String> =
                self.specs.iter().filter(|s| p.keep_hot.contains(&s.role)).map(|s| s.id.clone()).collect();
            let apply = {
                let (residency, state) = (self.residency.clone(), t.to.to_string());
                move || {
                    for e in residency.apply_state(&state, budget, &hot) {
                        tracing::warn!(error = %e, "a keep-hot model could not be loaded");
                    }
                }
            };
            // A real-time kernel's tick does not wait for models to load: they load beside it
            // (the residency manager's loads are single-flight, and a job that needs a model
            // waits for its load).
            if self.background_loads {
                if let Err(e) = std::thread::Builder::new().name("sage-keep-hot".into()).spawn(apply) {
                    tracing::warn!(error = %e, "could not start loading the keep-hot models");
                }
            } else {
                apply();
            }
        }
    }
}

/// Persist `kernel`'s trust as it stands at `now` in `store`; returns the rows written.
pub fn save_kernel_trust(store: &Store, kernel: &Kernel, now: f64) -> Result<usize, sage_store::StoreError> {
    let rows: Vec<sage_store::TrustRow> = kernel
        .trust_snapshot(now)
        .into_iter()
        .filter_map(|(expert, class, entry)| {
            Some(sage_store::TrustRow {
                expert,
                class,
                entry: serde_json::to_value(entry).ok()?,
                updated: now,
            })
        })
        .collect();
    store.save_trust(&rows)?;
    Ok(rows.len())
}

/// What a dispatched observation says, in words.
pub fn dispatch_text(job: &Dispatch) -> String {
    match &job.input.payload {
        Payload::Text(t) => t.clone(),
        Payload::Sensor(v) => format!("sensor {} reads {:?}", job.input.source, v),
    }
}

/// The request a dispatched observation makes of a model: the robot assistant's system prompt,
/// one example exchange (so that a base model answers in kind) and the observation.
pub fn dispatch_request(job: &Dispatch, max_tokens: u32) -> Request {
    Request {
        class: job.class.clone(),
        messages: vec![
            ChatMessage::new(Role::System, SYSTEM),
            ChatMessage::new(Role::User, "The operator says: Is the charging dock free?"),
            ChatMessage::new(Role::Assistant, "Yes, the charging dock in bay 1 is free."),
            ChatMessage::new(Role::User, format!("The {} says: {}", job.input.source, dispatch_text(job))),
        ],
        conversation: None,
        max_tokens,
        atp: job.grant,
        complexity: None,
        params: None,
        raw: false,
        prefix: String::new(),
        tools: vec![],
    }
}

/// Answer a dispatched observation through the model chain (the routed model, then its
/// alternatives), streaming to `sink`: the request made, every attempt and the answer.
pub fn answer_dispatch(
    residency: &Arc<Residency>,
    specs: &[ModelSpec],
    sessions: &std::sync::Mutex<Sessions>,
    settings: &LlmSettings,
    job: &Dispatch,
    sink: &mut dyn FnMut(&str) -> Flow,
) -> (Request, Vec<crate::route::Attempt>, Option<crate::route::Answer>) {
    let request = dispatch_request(job, settings.max_tokens);
    let (attempts, answer) =
        attempt_chain(residency, specs, sessions, &dispatch_order(job), &request, settings, Some(sink));
    (request, attempts, answer)
}

/// The models to try for a dispatch: the routed one, then its alternatives.
pub fn dispatch_order(job: &Dispatch) -> Vec<String> {
    let mut order = vec![job.expert.clone()];
    order.extend(job.alternatives.iter().cloned());
    order
}

/// What the kernel is told about a dispatch that took `seconds`: the answer, or the degraded
/// responder's words with every model's failure.
pub fn external_run(
    job: &Dispatch,
    request: &Request,
    attempts: &[crate::route::Attempt],
    answer: Option<&crate::route::Answer>,
    seconds: f64,
) -> ExternalRun {
    let failed: Vec<(String, String)> = attempts
        .iter()
        .filter_map(|a| a.failure.as_ref().map(|f| (a.model.clone(), f.message().to_string())))
        .collect();
    match answer {
        Some(a) => {
            let mut telemetry = a.telemetry.clone();
            telemetry.elapsed_s = seconds;
            ExternalRun {
                used: Some(a.model.clone()),
                failed,
                telemetry,
                quality: Some(a.quality),
                output: said(a),
            }
        }
        None => ExternalRun {
            used: None,
            failed,
            telemetry: Telemetry::from_energies(&job.expert, &[], HaltReason::Error, 0.0, job.grant, seconds),
            quality: None,
            output: degraded_reply(request, attempts),
        },
    }
}

/// Memories kept by DREAM consolidation.
pub const MEMORY_KEEP: u64 = 500;

/// Tune the built-in experts' halt rules from their convergence memory: an expert that
/// converged in at least 80% of at least 5 runs on a class gets `max_steps` of 1.5× its
/// longest converged run (at least 4); one that rarely converged (under 30%) gets a looser
/// `eps` (×2, at most 1e-2). Returns what changed, in words.
pub fn tune_halt(config: &mut sage_kernel::KernelConfig, store: &Store) -> Vec<String> {
    let mut changes = vec![];
    for e in &mut config.experts {
        if e.plugin == sage_kernel::Builtin::External {
            continue;
        }
        let rows: Vec<sage_store::ConvergenceRow> = e
            .classes
            .keys()
            .filter_map(|c| store.convergence(&e.name, c).ok().flatten())
            .filter(|r| r.runs >= 5)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let runs: u64 = rows.iter().map(|r| r.runs).sum();
        let share = rows.iter().map(|r| r.converged_share * r.runs as f64).sum::<f64>() / runs as f64;
        let longest = rows.iter().map(|r| r.max_steps_converged).max().unwrap_or(0);
        if share >= 0.8 && longest > 0 {
            let steps = ((longest as f64 * 1.5).ceil() as u32).max(4);
            if steps < e.halt.max_steps {
                changes.push(format!(
                    "{}: max_steps {} -> {steps} ({runs} runs, {:.0}% converged within {longest})",
                    e.name,
                    e.halt.max_steps,
                    100.0 * share
                ));
                e.halt.max_steps = steps;
            }
        } else if share < 0.3 && e.halt.eps < 1e-2 {
            let eps = (e.halt.eps * 2.0).min(1e-2);
            changes.push(format!(
                "{}: eps {:.0e} -> {eps:.0e} ({runs} runs, {:.0}% converged)",
                e.name,
                e.halt.eps,
                100.0 * share
            ));
            e.halt.eps = eps;
        }
    }
    changes
}

/// Store what a tick saw: every observation in the ring, the salient ones as memories.
pub fn remember_tick(
    store: &Store,
    report: &sage_kernel::TickReport,
    observations: &[sage_kernel::Observation],
    threshold: f64,
) {
    for (o, r) in observations.iter().zip(&report.observations) {
        let salience = r.salience.map_or(0.0, |s| s.total);
        let content = match &o.payload {
            Payload::Text(t) => t.clone(),
            Payload::Sensor(v) => {
                format!("{} values, first {:.3}", v.len(), v.first().copied().unwrap_or(0.0))
            }
        };
        let row = ObservationRow {
            t: report.now,
            source: o.source.clone(),
            content: content.clone(),
            salience,
            class: r.class.clone(),
        };
        LlmDriver::store_warn(store.push_observation(&row, 1000));
        if salience >= threshold && matches!(o.payload, Payload::Text(_)) {
            LlmDriver::store_warn(store.remember(report.now, "observation", &o.source, &content, salience));
        }
    }
}

/// The kernel configuration of a run with language models: the built-in sensor experts, the
/// light `keywords` expert for chit-chat, and every zoo model as an external expert for the classes
/// it declares (memory and load cost as expected or measured), within `memory_bytes`.
pub fn kernel_config(
    specs: &[ModelSpec],
    memory_bytes: u64,
    residency: &Residency,
) -> sage_kernel::KernelConfig {
    let mut config = sage_kernel::KernelConfig::default();
    // The language models answer; of the built-in text plugins only `keywords` stays, for
    // chit-chat that needs noting rather than an answer (it cannot answer a question or an
    // alert, and its quality is not on the models' scale).
    config.experts.retain(|e| e.name != "intent");
    for e in &mut config.experts {
        if e.name == "keywords" {
            e.classes.retain(|c, _| c == "text.chat");
        }
    }
    let halt = config.experts.first().map(|e| e.halt).unwrap_or_default();
    // An embedding model answers no job: it is not an expert (residency still counts its memory).
    for s in specs.iter().filter(|s| !s.embeds_only()) {
        let (bytes, load_s, _) =
            residency.cost(&s.id).unwrap_or((s.expected_bytes(), s.expected_load_s, false));
        config.experts.push(sage_kernel::ExpertSpec {
            name: s.id.clone(),
            role: s.role.clone(),
            classes: s.quality.clone(),
            bytes,
            load_s,
            plugin: sage_kernel::Builtin::External,
            halt,
            // A live kernel runs as many jobs on a model at once as its zoo entry decodes
            // together (one when unsaid: a CPU decodes one answer fastest alone).
            slots: s.parallel.unwrap_or(1),
        });
    }
    config.memory_bytes = memory_bytes;
    config
}

/// What an answer says: its text without a reasoning model's thinking (decision 0025), which the
/// kernel, its memory and its record act on.
fn said(a: &Answer) -> String {
    sage_llm::reasoning::split(&a.text).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_hears_the_answer_without_the_thinking() {
        let a = Answer {
            model: "thinker".into(),
            text: "<think>The operator asks about the dock.</think>\n\nThe dock is free.".into(),
            tokens: 12,
            mean_nll: None,
            quality: 0.8,
            timings: Default::default(),
            kept_messages: 1,
            telemetry: sage_irp::Telemetry::from_energies(
                "thinker",
                &[],
                HaltReason::PluginDone,
                0.0,
                0.0,
                0.0,
            ),
            finish: None,
            tokens_out: vec![],
        };
        assert_eq!(said(&a), "The dock is free.");
    }
}
