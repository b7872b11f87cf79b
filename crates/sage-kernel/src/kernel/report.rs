//! What a tick decided, as values: per observation, per routing, per run, ATP, residency,
//! jobs.

use serde::{Deserialize, Serialize};

use super::jobs::{JobEnd, JobId, Preemption};
use super::{Dispatch, PlanOutcome};
use crate::metabolic::{State, Transition};
use crate::router::RouteDecision;
use crate::snarc::Salience;
use crate::trust::TrustEvent;
use sage_irp::Telemetry;

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
    /// For a sensor reading that confirms a change its source's previous reading began under
    /// the deviation threshold ([`crate::snarc::Salience::confirms`]): the tick of that reading,
    /// where the change began. For a sensor reading held after being capped in place of an
    /// earlier capped reading of its source (one is held per sensor, the more salient): the
    /// earlier one's tick, where the source's unattended news began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<u64>,
}

/// Whether and how an observation was attended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Attention {
    /// Below the attention threshold.
    Ignored,
    /// Above it, but the state's `max_plugins` was reached.
    Capped,
    /// Ambiguous text waiting for its semantic score (a job): decided on when it arrives.
    Scoring {
        /// The scoring job.
        job: JobId,
    },
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
    /// For a job that spanned ticks: its number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<JobId>,
    /// For a job that spanned ticks: the tick it was dispatched at (`observation` indexes that
    /// tick's observations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatched_at: Option<u64>,
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
    /// Held for running jobs at the end of the tick.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reserved: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_zero_usize(x: &usize) -> bool {
    *x == 0
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
    /// External jobs dispatched this tick (with [`Kernel::tick_live`]: the driver runs them and
    /// delivers a [`JobEvent`] for each at a later tick).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dispatched: Vec<Dispatch>,
    /// Running jobs the kernel asks the driver to cancel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preempted: Vec<Preemption>,
    /// Jobs settled this tick that failed or were cancelled (completed ones are in `runs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ended: Vec<JobEnd>,
    /// Jobs still running at the end of the tick.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub running: usize,
    /// Job events for jobs the kernel does not hold (settled already, or never dispatched).
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub unknown_events: usize,
    /// Held observations given up on this tick: held longer than [`super::MAX_DEFER_TICKS`]
    /// ticks and [`super::MAX_DEFER_S`] seconds, or no room to hold them.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub expired: usize,
    /// Seconds a live loop should wait before the next tick (the new state's policy).
    pub next_tick_in_s: f64,
}

impl TickReport {
    /// Highest salience this tick.
    pub fn max_salience(&self) -> f64 {
        self.observations.iter().filter_map(|o| o.salience.map(|s| s.total)).fold(0.0, f64::max)
    }
}
