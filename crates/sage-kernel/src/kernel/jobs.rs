//! Jobs that span ticks: an external expert's run dispatched at one tick, with its ATP held,
//! and settled at the tick its outcome is delivered (completed, failed or cancelled).

use serde::{Deserialize, Serialize};

use super::ExternalRun;
use crate::metabolic::State;

/// A job's number, unique within a kernel (1, 2, 3... in dispatch order).
pub type JobId = u64;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// An external expert answers an attended observation (settled by `Done` or `Cancelled`).
    #[default]
    Answer,
    /// A model scores an ambiguous text's semantic importance before the kernel decides on it
    /// (settled by `Scored`); the text waits for it, the ticks do not.
    Score,
}

/// What the outside world tells the kernel about a job it dispatched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobEvent {
    /// The job ran to its end (successfully or not: see the run's `used` and `failed`).
    Done {
        /// Which job.
        job: JobId,
        /// What it did.
        run: ExternalRun,
    },
    /// A scoring job's result: the semantic importance in `[0, 1]` (none when no model could
    /// score it: the cheap salience stands) and the ATP it cost.
    Scored {
        /// Which job.
        job: JobId,
        /// The score.
        score: Option<f64>,
        /// ATP it cost.
        cost: f64,
    },
    /// The job was cancelled (the kernel preempted it, or the driver stopped it) before its
    /// end: `run` holds the partial output and what it spent.
    Cancelled {
        /// Which job.
        job: JobId,
        /// What it did until it stopped.
        run: ExternalRun,
        /// Why it stopped.
        reason: String,
    },
}

impl JobEvent {
    /// The job it is about.
    pub fn job(&self) -> JobId {
        match self {
            JobEvent::Done { job, .. } | JobEvent::Cancelled { job, .. } | JobEvent::Scored { job, .. } => {
                *job
            }
        }
    }
}

/// A job dispatched and not settled yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningJob {
    /// Its number.
    pub job: JobId,
    /// Tick it was dispatched at.
    pub tick: u64,
    /// State the kernel was in then.
    pub state: State,
    /// Expert it was dispatched to (index into the configuration).
    pub expert: u32,
    /// Situation class.
    pub class: String,
    /// Salience of its observation.
    pub salience: f64,
    /// ATP granted and held.
    pub grant: f64,
    /// ATP the ledger actually held for it.
    pub held: f64,
    /// Set when the kernel asked for its cancellation: why. A job being cancelled no longer
    /// takes a plugin slot; its ATP stays held until its outcome is delivered.
    pub cancelling: Option<String>,
}

/// A running job the kernel asks the driver to cancel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preemption {
    /// Which job.
    pub job: JobId,
    /// Its expert.
    pub expert: String,
    /// Its salience.
    pub salience: f64,
    /// Why: a crisis, or a more salient observation that needed its slot.
    pub reason: String,
}

/// A job that ended without a successful run: every expert failed, or it was cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEnd {
    /// Which job.
    pub job: JobId,
    /// Tick it was dispatched at.
    pub dispatched_at: u64,
    /// Expert it was dispatched to.
    pub expert: String,
    /// Situation class.
    pub class: String,
    /// `failed` or `cancelled`.
    pub outcome: String,
    /// Why.
    pub why: String,
    /// What it had produced.
    pub output: String,
    /// ATP it spent.
    pub spent: f64,
}

/// A text waiting for its semantic score.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Awaiting {
    pub job: JobId,
    pub tick: u64,
    pub held: f64,
    pub obs: super::Observation,
    pub salience: crate::snarc::Salience,
}

/// Texts waiting for a score at most: more are decided on their cheap salience. Scoring asks
/// the same models that answer; two in flight keep a CPU's model busy without queueing scores
/// behind scores while answers wait.
pub const MAX_AWAITING: usize = 2;
