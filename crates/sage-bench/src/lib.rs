//! Benchmark harnesses. Each one measures its workloads several times, reports the median rate,
//! and sets it against a baseline; `sage bench` prints the report.
//!
//! Timing lives here (and in the binary), never in tests.

#![deny(missing_docs)]

pub mod judgment;
pub mod kernel;
pub mod llm;
mod measure;

pub use measure::{measure, Rate};
