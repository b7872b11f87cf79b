//! SAGE's cognition kernel: pure policy with no I/O, no threads and no clock.
//!
//! - [`snarc`]: salience of sensor vectors and text (Surprise, Novelty, Arousal, Reward,
//!   Conflict), weight learning, semantic blend.
//! - [`atp`]: the energy ledger (conservation invariant) and the allocator.
//! - [`metabolic`]: WAKE, FOCUS, REST, DREAM, CRISIS with enforced policies and the circadian
//!   clock.
//! - [`trust`]: trust per (expert, situation class) with failure penalties and cool-down.
//! - [`router`]: the expert selector (`permission = expertise × cheapness × persistence`).
//! - [`kernel`]: [`Kernel::tick`], which puts them together over built-in [`plugins`].
//! - [`scenario`]: the JSON-lines scenario format and a runner that drives a kernel through it.
//!
//! Every decision is a value (see [`TickReport`] and [`router::RouteDecision`]) that can be
//! printed, compared and replayed.

#![deny(missing_docs)]

pub mod atp;
pub mod kernel;
pub mod metabolic;
pub mod plugins;
pub mod rng;
pub mod router;
pub mod scenario;
pub mod snarc;
mod text;
pub mod trust;

pub use kernel::{
    builtin_experts, Attention, Builtin, ConfigError, Dispatch, Executor, ExpertSpec, ExternalRun, Feedback,
    JobEnd, JobEvent, JobId, JobKind, Kernel, KernelConfig, NoExecutor, Observation, Payload, PlanOutcome,
    PlanTask, Preemption, RunReport, RunningJob, TickReport, MAX_AWAITING,
};
pub use metabolic::State;
pub use scenario::{Driver, Scenario, ScenarioError, Summary};
