//! The unified SAGE loop, on the kernel and the language engine.
//!
//! - [`zoo`]: the models SAGE may use (TOML) and the platform profiles.
//! - [`residency`]: which models are loaded, within a memory budget.
//! - [`route`]: requests routed by the kernel's selector over live residency, measured costs and
//!   trust, with typed fallbacks ending in a degraded responder; every attempt recorded.
//! - [`llm`]: the language model as an IRP plugin (energy = mean negative log-probability).
//! - [`conversation`]: multi-turn sessions with token-accurate trimming, persisted.
//! - [`semantic`]: semantic importance of a text message from a model (the seed's pattern 2).
//! - [`reasoner`]: the strategic reasoner's schema-constrained resource plans (pattern 3).
//! - [`classify`]: how demanding a request is (small versus large).
//! - [`ask`]: questions about SAGE itself, answered with its memories.
//! - [`driver`]: `sage run`'s driver: the kernel's external experts answered by real models.
//! - [`record`]: recording a run and replaying its decisions.
//! - [`scripted`]: a scripted language model, a test double for policy tests and benchmarks.

pub mod ask;
pub mod classify;
pub mod conversation;
pub mod driver;
pub mod live;
pub mod llm;
pub mod reasoner;
pub mod record;
pub mod residency;
pub mod route;
pub mod scripted;
pub mod semantic;
pub mod zoo;

pub use residency::{Lease, Loader, LoaderError, Residency, ResidencyError, ResidencyLog};
pub use zoo::{default_window, EngineKind, ModelSpec, Profile, Zoo, ZooError};

/// Seconds on some monotonic clock. The runtime measures time through this so that tests can
/// drive time by hand.
pub trait Clock: Send + Sync {
    /// Now, seconds.
    fn now(&self) -> f64;
}

/// The system's monotonic clock, seconds since it was made.
#[derive(Debug)]
pub struct SystemClock(std::time::Instant);

impl Default for SystemClock {
    fn default() -> Self {
        Self(std::time::Instant::now())
    }
}

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// A clock moved by hand (tests, simulations, replays).
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::Mutex<f64>);

impl ManualClock {
    /// Set the time.
    pub fn set(&self, t: f64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = t;
    }
    /// Move the time forward.
    pub fn advance(&self, dt: f64) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) += dt;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> f64 {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
