//! Recording a run and replaying its decisions.
//!
//! The kernel is pure: given the same configuration, scenario and everything the driver told
//! it (residency, measured costs, the outcomes of external runs, semantic scores), it makes
//! the same decisions. A recording is a JSON-lines file: a header with the kernel
//! configuration and the scenario, then the driver's [`TapeEntry`]s and one digest of every
//! tick's decisions. A replay feeds the entries back through a [`ReplayDriver`] (no model is
//! loaded) and compares every tick's digest.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use sage_kernel::{Dispatch, Driver, Executor, ExternalRun, Kernel, KernelConfig, Scenario, TickReport};

use crate::residency::ResidencyLog;

/// Something the driver told the kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TapeEntry {
    /// A residency change.
    Resident {
        /// Expert.
        expert: String,
        /// Resident now?
        resident: bool,
    },
    /// Measured costs.
    Cost {
        /// Expert.
        expert: String,
        /// Bytes.
        bytes: u64,
        /// Load seconds.
        load_s: f64,
    },
    /// The outcome of an external run.
    Run(ExternalRun),
    /// Trust restored from the store before the first tick.
    Trust {
        /// Expert.
        expert: String,
        /// Class.
        class: String,
        /// The entry.
        entry: sage_kernel::trust::TrustEntry,
    },
    /// A resource plan and its ATP cost (or none).
    Plan {
        /// `(ATP per task, cost)`.
        plan: Option<(Vec<f64>, f64)>,
    },
    /// A semantic score and its ATP cost (or none).
    Score {
        /// `(score, ATP)`.
        score: Option<(f64, f64)>,
    },
}

/// Everything told to the kernel in a run, by tick index, and every tick's digest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tape {
    /// Not recording (a long-running server): entries and digests are not kept.
    #[serde(skip)]
    pub off: bool,
    /// `(tick index, entry)` in order.
    pub entries: Vec<(u64, TapeEntry)>,
    /// Digest of every tick's decisions.
    pub digests: Vec<serde_json::Value>,
    /// Loads and unloads (context for the reader; not replayed).
    pub residency: Vec<ResidencyLog>,
}

/// The decisions of a tick, as compared by a replay.
pub fn digest(report: &TickReport) -> serde_json::Value {
    let mut v = serde_json::json!({
        "tick": report.tick,
        "state": report.state,
        "transition": report.transition,
        "attention": report.observations.iter().map(|o| (&o.class, o.salience.map(|s| s.total), &o.attention)).collect::<Vec<_>>(),
        "decisions": report.decisions,
        "runs": report.runs.iter().map(|r| (&r.expert, r.observation, r.allocated, r.quality)).collect::<Vec<_>>(),
        "atp": report.atp,
        "plan": report.plan,
    });
    // Jobs that span ticks (the real-time kernel): which went, which were asked to stop, how
    // they ended. Absent from lock-step ticks.
    if !report.dispatched.is_empty() || !report.preempted.is_empty() || !report.ended.is_empty() {
        let jobs = serde_json::json!({
            "dispatched": report.dispatched.iter().map(|d| (d.job, &d.expert, d.observation, d.grant)).collect::<Vec<_>>(),
            "preempted": report.preempted.iter().map(|p| (p.job, &p.reason)).collect::<Vec<_>>(),
            "ended": report.ended.iter().map(|e| (e.job, &e.outcome, e.spent)).collect::<Vec<_>>(),
            "running": report.running,
        });
        if let Some(o) = v.as_object_mut() {
            o.insert("jobs".into(), jobs);
        }
    }
    // Through text, so that a recorded digest and a fresh one are compared the same way.
    serde_json::from_str(&v.to_string()).unwrap_or(v)
}

impl Tape {
    /// Add an entry for tick `index`.
    pub fn push(&mut self, index: u64, entry: TapeEntry) {
        if !self.off {
            self.entries.push((index, entry));
        }
    }

    /// Add a tick's digest.
    pub fn digest(&mut self, _index: u64, report: &TickReport) {
        if !self.off {
            self.digests.push(digest(report));
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    sage_record: u32,
    config: KernelConfig,
    scenario: String,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Entry { tick: u64, entry: TapeEntry },
    Digest { digest: serde_json::Value },
}

/// Write a recording.
pub fn write(config: &KernelConfig, scenario_text: &str, tape: &Tape) -> String {
    let mut out = serde_json::to_string(&Header {
        sage_record: 1,
        config: config.clone(),
        scenario: scenario_text.to_string(),
    })
    .unwrap_or_default();
    out.push('\n');
    for (tick, entry) in &tape.entries {
        out.push_str(
            &serde_json::to_string(&Line::Entry { tick: *tick, entry: entry.clone() }).unwrap_or_default(),
        );
        out.push('\n');
    }
    for d in &tape.digests {
        out.push_str(&serde_json::to_string(&Line::Digest { digest: d.clone() }).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// A recording that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A line is wrong.
    #[error("recording line {line}: {message}")]
    Line {
        /// 1-based line.
        line: usize,
        /// What.
        message: String,
    },
    /// The scenario inside it is wrong.
    #[error("recording: {0}")]
    Scenario(#[from] sage_kernel::ScenarioError),
    /// The kernel configuration inside it is wrong.
    #[error("recording: {0}")]
    Config(#[from] sage_kernel::ConfigError),
}

/// A parsed recording.
pub struct Recording {
    /// Kernel configuration.
    pub config: KernelConfig,
    /// Scenario text.
    pub scenario: String,
    /// The tape.
    pub tape: Tape,
}

/// Parse a recording.
pub fn parse(text: &str) -> Result<Recording, RecordError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, first) = lines.next().ok_or(RecordError::Line { line: 1, message: "empty recording".into() })?;
    let h: Header =
        serde_json::from_str(first).map_err(|e| RecordError::Line { line: 1, message: e.to_string() })?;
    if h.sage_record != 1 {
        return Err(RecordError::Line {
            line: 1,
            message: format!("unknown recording version {}", h.sage_record),
        });
    }
    let mut tape = Tape::default();
    for (i, l) in lines {
        match serde_json::from_str::<Line>(l)
            .map_err(|e| RecordError::Line { line: i + 1, message: e.to_string() })?
        {
            Line::Entry { tick, entry } => tape.entries.push((tick, entry)),
            Line::Digest { digest } => tape.digests.push(digest),
        }
    }
    Ok(Recording { config: h.config, scenario: h.scenario, tape })
}

/// Feeds a tape back to the kernel.
pub struct ReplayDriver {
    pending: VecDeque<(u64, TapeEntry)>,
    index: u64,
    /// Problems: an entry of the wrong kind where one was expected.
    pub problems: Vec<String>,
}

impl ReplayDriver {
    /// A driver replaying `tape`.
    pub fn new(tape: &Tape) -> Self {
        Self { pending: tape.entries.iter().cloned().collect(), index: 0, problems: vec![] }
    }
    fn next_for_tick(&mut self) -> Option<TapeEntry> {
        match self.pending.front() {
            Some((t, _)) if *t == self.index => self.pending.pop_front().map(|(_, e)| e),
            _ => None,
        }
    }
}

impl Executor for ReplayDriver {
    fn execute(&mut self, job: &Dispatch) -> ExternalRun {
        match self.next_for_tick() {
            Some(TapeEntry::Run(r)) => r,
            other => {
                self.problems
                    .push(format!("tick {}: expected a run for {}, found {other:?}", self.index, job.expert));
                sage_kernel::NoExecutor.execute(job)
            }
        }
    }
    fn plan(&mut self, _budget: f64, _tasks: &[sage_kernel::PlanTask]) -> Option<(Vec<f64>, f64)> {
        match self.next_for_tick() {
            Some(TapeEntry::Plan { plan }) => plan,
            other => {
                self.problems.push(format!("tick {}: expected a plan, found {other:?}", self.index));
                None
            }
        }
    }
    fn score(&mut self, _source: &str, _text: &str, _cheap: f64) -> Option<(f64, f64)> {
        match self.next_for_tick() {
            Some(TapeEntry::Score { score }) => score,
            other => {
                self.problems.push(format!("tick {}: expected a score, found {other:?}", self.index));
                None
            }
        }
    }
}

impl Driver for ReplayDriver {
    fn before_tick(&mut self, kernel: &mut Kernel, index: u64, _now: f64) {
        self.index = index;
        while let Some((t, e)) = self.pending.front() {
            if *t != index {
                break;
            }
            match e {
                TapeEntry::Resident { expert, resident } => {
                    kernel.set_resident(expert, *resident);
                }
                TapeEntry::Cost { expert, bytes, load_s } => {
                    kernel.set_cost(expert, *bytes, *load_s);
                }
                TapeEntry::Trust { expert, class, entry } => {
                    kernel.restore_trust(expert, class, *entry, _now);
                }
                _ => break,
            }
            self.pending.pop_front();
        }
    }
}

/// The result of a replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Ticks replayed.
    pub ticks: usize,
    /// Ticks whose decisions matched the recording.
    pub matched: usize,
    /// The first differing tick, with the recorded and replayed digests.
    pub first_mismatch: Option<(usize, serde_json::Value, serde_json::Value)>,
    /// Tape problems.
    pub problems: Vec<String>,
}

/// Replay a recording through a fresh kernel and compare every tick's decisions.
pub fn replay(rec: &Recording) -> Result<ReplayReport, RecordError> {
    let scenario = Scenario::parse(&rec.scenario)?;
    let mut kernel = Kernel::new(rec.config.clone())?;
    let mut driver = ReplayDriver::new(&rec.tape);
    let mut digests = vec![];
    sage_kernel::scenario::run_with(&mut kernel, &scenario, &mut driver, |r, _| digests.push(digest(r)));
    let mut matched = 0;
    let mut first_mismatch = None;
    for (i, d) in digests.iter().enumerate() {
        match rec.tape.digests.get(i) {
            Some(r) if r == d => matched += 1,
            other => {
                if first_mismatch.is_none() {
                    first_mismatch = Some((i, other.cloned().unwrap_or(serde_json::Value::Null), d.clone()));
                }
            }
        }
    }
    if digests.len() != rec.tape.digests.len() && first_mismatch.is_none() {
        first_mismatch = Some((
            digests.len().min(rec.tape.digests.len()),
            serde_json::Value::Null,
            serde_json::Value::Null,
        ));
    }
    if !driver.pending.is_empty() {
        driver.problems.push(format!("{} tape entries were not consumed", driver.pending.len()));
    }
    Ok(ReplayReport { ticks: digests.len(), matched, first_mismatch, problems: driver.problems })
}
