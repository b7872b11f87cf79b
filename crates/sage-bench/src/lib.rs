//! Benchmark harnesses and their report writers ([`report`]). Each one measures its workloads
//! several times, reports the median rate, and sets it against a baseline and a goal; `sage bench`
//! prints the report.
//!
//! Timing lives here (and in the binary), never in tests.

#![deny(missing_docs)]

pub mod bound;
pub mod constrained;
pub mod families;
pub mod fed_routing;
pub mod judgment;
pub mod kernel;
pub mod llm;
mod measure;
pub mod report;
pub mod routing_families;
pub mod tool_calls;

pub use measure::{measure, Rate};

/// A benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The scenario does not parse.
    #[error(transparent)]
    Scenario(#[from] sage_kernel::scenario::ScenarioError),
    /// The kernel's configuration is invalid.
    #[error(transparent)]
    Config(#[from] sage_kernel::ConfigError),
    /// The engine failed at a step of the run.
    #[error("{engine} engine, {step}: {message}")]
    Engine {
        /// `sage` or `raw` (llama.cpp's own loop).
        engine: &'static str,
        /// What it was doing.
        step: &'static str,
        /// What it said.
        message: String,
    },
}
