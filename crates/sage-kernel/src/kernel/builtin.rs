//! The built-in plugins as jobs of one tick: started with a grant, stepped in turn, and
//! finished into telemetry and words.

use sage_irp::{Budget, HaltReason, Plugin, Run, Telemetry};

use super::{Builtin, ExpertSpec, Observation, Payload};
use crate::plugins::{Intent, Keywords, Smoother};

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

pub(super) struct Job {
    pub obs: usize,
    pub expert: u32,
    pub allocated: f64,
    pub reallocated: f64,
    pub trust: f64,
    pub run: Box<dyn JobRun>,
    pub done: bool,
}

/// An IRP run with its plugin type erased.
pub(super) trait JobRun {
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

pub(super) fn start_job(
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

/// Step `jobs` one step each in turn until all have stopped; what a job that stops early leaves
/// unused is granted to those still running, in proportion to their trust (at least `floor`).
pub(super) fn run_interleaved(jobs: &mut [Job], floor: f64) {
    let mut alive = jobs.iter().filter(|j| !j.done).count();
    while alive > 0 {
        for j in 0..jobs.len() {
            if jobs[j].done {
                continue;
            }
            if jobs[j].run.step() {
                continue;
            }
            jobs[j].done = true;
            alive -= 1;
            let left = jobs[j].run.remaining();
            let others: f64 = jobs.iter().filter(|o| !o.done).map(|o| o.trust.max(floor)).sum();
            if left > 0.0 && others > 0.0 {
                for o in jobs.iter_mut().filter(|o| !o.done) {
                    let g = left * o.trust.max(floor) / others;
                    o.run.grant(g);
                    o.reallocated += g;
                }
                jobs[j].run.give_back(left);
            }
        }
    }
}
