//! The IRP contract: every SAGE plugin is an *iterative refinement* process.
//!
//! A plugin turns an input into a state ([`Plugin::init_state`]), improves it step by step
//! ([`Plugin::step`]) and says how good the state is ([`Plugin::energy`], lower is better).
//! The refinement loop ([`Run`], or [`refine`] for one call) decides when to stop with the
//! default halt rules ([`HaltConfig`]) and returns a [`Telemetry`] value.
//!
//! This crate does no I/O, starts no threads and reads no clock: the caller passes the elapsed
//! time it measured into [`Run::finish`]. Budgets are in ATP, the kernel's energy unit.
//!
//! ```
//! use sage_irp::{refine, Budget, HaltConfig, HaltReason, Plugin, PluginError, StepOutcome};
//!
//! /// x <- 0.7 x, energy = x: a contracting plugin.
//! struct Contract;
//! impl Plugin for Contract {
//!     type Input = f64;
//!     type State = f64;
//!     fn name(&self) -> &str { "contract" }
//!     fn init_state(&mut self, x: f64) -> Result<f64, PluginError> { Ok(x) }
//!     fn step(&mut self, x: &mut f64, _b: &mut Budget) -> Result<StepOutcome, PluginError> {
//!         *x *= 0.7;
//!         Ok(StepOutcome::Continue)
//!     }
//!     fn energy(&self, x: &f64) -> f64 { *x }
//! }
//!
//! let out = refine(&mut Contract, 1.0, HaltConfig::default(), Budget::new(100.0), 0.0).unwrap();
//! assert_eq!(out.telemetry.halt_reason, HaltReason::Converged);
//! assert_eq!(out.telemetry.monotonicity, 1.0);
//! ```

#![deny(missing_docs)]

mod budget;
mod telemetry;

pub use budget::Budget;
pub use telemetry::{HaltReason, Telemetry};

/// An error a plugin reports from `init_state` or `step`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PluginError {
    /// The input cannot be refined by this plugin (wrong shape, empty, not a number...).
    #[error("plugin {plugin}: invalid input: {message}")]
    InvalidInput {
        /// Plugin name.
        plugin: String,
        /// What was wrong.
        message: String,
    },
    /// The plugin failed while stepping.
    #[error("plugin {plugin}: step {step} failed: {message}")]
    StepFailed {
        /// Plugin name.
        plugin: String,
        /// Index of the failing step (1-based).
        step: u32,
        /// What went wrong.
        message: String,
    },
}

/// What a step tells the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// Keep refining if the halt rules allow.
    Continue,
    /// The plugin has finished (end of turn, answer complete...).
    Done,
}

/// The iterative-refinement plugin contract.
pub trait Plugin {
    /// What the plugin refines from.
    type Input;
    /// The state being refined.
    type State;

    /// Stable name used in telemetry and errors.
    fn name(&self) -> &str;

    /// Build the initial state from the input.
    fn init_state(&mut self, input: Self::Input) -> Result<Self::State, PluginError>;

    /// Improve the state by one step. The step is charged [`HaltConfig::cost_per_step`] by the
    /// loop before it runs; a plugin whose step costs more (a chunk of tokens, say) charges the
    /// extra through [`Budget::charge`] and should stop when the charge is refused.
    fn step(&mut self, state: &mut Self::State, budget: &mut Budget) -> Result<StepOutcome, PluginError>;

    /// Energy of a state; lower is better.
    fn energy(&self, state: &Self::State) -> f64;

    /// Optional projection back onto the feasible set after each step (identity by default).
    fn project(&self, _state: &mut Self::State) {}

    /// Optional plugin-specific halt rule, consulted after the default ones. It sees the energy
    /// history including the initial state.
    fn halt(&self, _energies: &[f64]) -> bool {
        false
    }
}

/// The default halt rules' parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HaltConfig {
    /// Stop after this many steps.
    pub max_steps: u32,
    /// Slope threshold: stop when `|E[t] - E[t-K]| / K < eps`.
    pub eps: f64,
    /// Window K of the slope rule.
    pub k: u32,
    /// ATP charged for every step before it runs.
    pub cost_per_step: f64,
}

impl Default for HaltConfig {
    fn default() -> Self {
        Self { max_steps: 100, eps: 1e-4, k: 3, cost_per_step: 0.1 }
    }
}

/// A refinement in progress. It owns its plugin; pass `&mut plugin` to keep yours (a `&mut`
/// of a plugin is a plugin). Drive it with [`Run::step`] (one step at a time, so a scheduler can
/// interleave several plugins and move budget between them with [`Run::grant`]) or let
/// [`Run::run_to_end`] finish it.
pub struct Run<P: Plugin> {
    plugin: P,
    state: P::State,
    config: HaltConfig,
    budget: Budget,
    energies: Vec<f64>,
    halted: Option<HaltReason>,
    error: Option<PluginError>,
}

impl<P: Plugin> Run<P> {
    /// Start a refinement: builds the initial state and records its energy.
    pub fn start(
        mut plugin: P,
        input: P::Input,
        config: HaltConfig,
        budget: Budget,
    ) -> Result<Self, PluginError> {
        let state = plugin.init_state(input)?;
        let e0 = plugin.energy(&state);
        let mut energies = Vec::with_capacity(config.max_steps.min(256) as usize + 1);
        energies.push(e0);
        Ok(Self { plugin, state, config, budget, energies, halted: None, error: None })
    }

    /// Add ATP to the running plugin's budget (reallocation from plugins that finished early).
    /// The next step sees it.
    pub fn grant(&mut self, atp: f64) {
        self.budget.grant(atp);
    }

    /// The budget as it stands.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The current state.
    pub fn state(&self) -> &P::State {
        &self.state
    }

    /// Energies so far, the initial state's first.
    pub fn energies(&self) -> &[f64] {
        &self.energies
    }

    /// The plugin.
    pub fn plugin(&self) -> &P {
        &self.plugin
    }

    /// Why the run stopped, if it has.
    pub fn halted(&self) -> Option<HaltReason> {
        self.halted
    }

    /// Check the halt rules in their fixed order: max steps, slope, budget, plugin rule.
    fn check_halt(&self) -> Option<HaltReason> {
        let steps = self.energies.len() as u32 - 1;
        if steps >= self.config.max_steps {
            return Some(HaltReason::MaxSteps);
        }
        let k = self.config.k.max(1) as usize;
        if self.energies.len() > k {
            let last = self.energies[self.energies.len() - 1];
            let before = self.energies[self.energies.len() - 1 - k];
            if ((last - before) / k as f64).abs() < self.config.eps {
                return Some(HaltReason::Converged);
            }
        }
        if self.budget.remaining() + 1e-12 < self.config.cost_per_step {
            return Some(HaltReason::BudgetSpent);
        }
        if self.plugin.halt(&self.energies) {
            return Some(HaltReason::PluginRule);
        }
        None
    }

    /// Run one step unless a halt rule fires. Returns `Ok(true)` if a step ran, `Ok(false)` once
    /// the run has halted (see [`Run::halted`]).
    pub fn step(&mut self) -> Result<bool, PluginError> {
        if self.halted.is_some() {
            return Ok(false);
        }
        if let Some(reason) = self.check_halt() {
            self.halted = Some(reason);
            return Ok(false);
        }
        // check_halt guarantees the per-step cost is affordable.
        self.budget.force_charge(self.config.cost_per_step);
        let outcome = match self.plugin.step(&mut self.state, &mut self.budget) {
            Ok(o) => o,
            Err(e) => {
                self.halted = Some(HaltReason::Error);
                self.error = Some(e.clone());
                return Err(e);
            }
        };
        self.plugin.project(&mut self.state);
        let e = self.plugin.energy(&self.state);
        self.energies.push(e);
        if outcome == StepOutcome::Done {
            self.halted = Some(HaltReason::PluginDone);
        }
        Ok(true)
    }

    /// Step until a halt rule fires.
    pub fn run_to_end(&mut self) -> Result<(), PluginError> {
        while self.step()? {}
        Ok(())
    }

    /// End the run and produce its state and telemetry. `elapsed_s` is the wall time the caller
    /// measured (the loop reads no clock).
    pub fn finish(self, elapsed_s: f64) -> Refined<P::State> {
        let halt_reason = self.halted.unwrap_or(HaltReason::Stopped);
        let telemetry = Telemetry::from_energies(
            self.plugin.name(),
            &self.energies,
            halt_reason,
            self.budget.spent(),
            self.budget.remaining(),
            elapsed_s,
        );
        Refined { state: self.state, telemetry, error: self.error }
    }
}

impl<P: Plugin + ?Sized> Plugin for &mut P {
    type Input = P::Input;
    type State = P::State;
    fn name(&self) -> &str {
        (**self).name()
    }
    fn init_state(&mut self, input: Self::Input) -> Result<Self::State, PluginError> {
        (**self).init_state(input)
    }
    fn step(&mut self, state: &mut Self::State, budget: &mut Budget) -> Result<StepOutcome, PluginError> {
        (**self).step(state, budget)
    }
    fn energy(&self, state: &Self::State) -> f64 {
        (**self).energy(state)
    }
    fn project(&self, state: &mut Self::State) {
        (**self).project(state)
    }
    fn halt(&self, energies: &[f64]) -> bool {
        (**self).halt(energies)
    }
}

/// A finished refinement: the final state and what happened.
#[derive(Debug, Clone)]
pub struct Refined<S> {
    /// The final state.
    pub state: S,
    /// Steps, energies, halt reason, ATP spent and trust metrics.
    pub telemetry: Telemetry,
    /// The step error that ended the run, when [`HaltReason::Error`].
    pub error: Option<PluginError>,
}

/// Run a plugin to completion in one call. A step error ends the run with
/// [`HaltReason::Error`] in the telemetry; an `init_state` error is returned.
pub fn refine<P: Plugin>(
    plugin: &mut P,
    input: P::Input,
    config: HaltConfig,
    budget: Budget,
    elapsed_s: f64,
) -> Result<Refined<P::State>, PluginError> {
    let mut run = Run::start(plugin, input, config, budget)?;
    // A step error is kept in `Refined::error` and the halt reason; the partial result is
    // still returned so the caller loses nothing.
    let _ = run.run_to_end();
    Ok(run.finish(elapsed_s))
}

#[cfg(test)]
mod tests;
