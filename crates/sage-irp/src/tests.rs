use super::*;

/// x <- 0.7 x, E = x.
struct Contract;
impl Plugin for Contract {
    type Input = f64;
    type State = f64;
    fn name(&self) -> &str {
        "contract"
    }
    fn init_state(&mut self, x: f64) -> Result<f64, PluginError> {
        Ok(x)
    }
    fn step(&mut self, x: &mut f64, _b: &mut Budget) -> Result<StepOutcome, PluginError> {
        *x *= 0.7;
        Ok(StepOutcome::Continue)
    }
    fn energy(&self, x: &f64) -> f64 {
        *x
    }
}

/// Energy alternates between 1 and 2 forever.
struct Oscillate;
impl Plugin for Oscillate {
    type Input = ();
    type State = u32;
    fn name(&self) -> &str {
        "oscillate"
    }
    fn init_state(&mut self, _: ()) -> Result<u32, PluginError> {
        Ok(0)
    }
    fn step(&mut self, s: &mut u32, _b: &mut Budget) -> Result<StepOutcome, PluginError> {
        *s += 1;
        Ok(StepOutcome::Continue)
    }
    fn energy(&self, s: &u32) -> f64 {
        if s.is_multiple_of(2) {
            1.0
        } else {
            2.0
        }
    }
}

/// Stops itself after `n` steps; fails at step `fail_at` if set.
struct Countdown {
    n: u32,
    fail_at: Option<u32>,
}
impl Plugin for Countdown {
    type Input = ();
    type State = u32;
    fn name(&self) -> &str {
        "countdown"
    }
    fn init_state(&mut self, _: ()) -> Result<u32, PluginError> {
        Ok(0)
    }
    fn step(&mut self, s: &mut u32, _b: &mut Budget) -> Result<StepOutcome, PluginError> {
        *s += 1;
        if Some(*s) == self.fail_at {
            return Err(PluginError::StepFailed {
                plugin: "countdown".into(),
                step: *s,
                message: "boom".into(),
            });
        }
        Ok(if *s >= self.n { StepOutcome::Done } else { StepOutcome::Continue })
    }
    fn energy(&self, s: &u32) -> f64 {
        10.0 - *s as f64
    }
}

#[test]
fn contracting_plugin_halts_on_slope_with_monotonicity_one() {
    let out = refine(&mut Contract, 1.0, HaltConfig::default(), Budget::new(100.0), 0.0).unwrap();
    let t = out.telemetry;
    assert_eq!(t.halt_reason, HaltReason::Converged);
    assert_eq!(t.monotonicity, 1.0);
    assert!(t.steps > 3 && t.steps < 100, "steps {}", t.steps);
    // The slope rule |E[t]-E[t-3]|/3 < 1e-4 first holds when 0.7^(t-3) * 0.657 / 3 < 1e-4,
    // that is at t = 25 (0.7^22 = 3.9e-4 < 4.57e-4 < 0.7^21).
    assert_eq!(t.steps, 25);
    assert!((t.atp_spent - 2.5).abs() < 1e-9);
    assert!(t.convergence_rate > 0.0);
}

#[test]
fn oscillating_plugin_runs_to_max_steps_with_low_monotonicity() {
    let cfg = HaltConfig { max_steps: 20, ..HaltConfig::default() };
    let out = refine(&mut Oscillate, (), cfg, Budget::new(100.0), 0.0).unwrap();
    let t = out.telemetry;
    assert_eq!(t.halt_reason, HaltReason::MaxSteps);
    assert_eq!(t.steps, 20);
    assert!(t.monotonicity < 1.0);
    assert!((t.monotonicity - 0.5).abs() < 1e-9);
    assert!((t.de_variance - 1.0).abs() < 1e-9);
}

#[test]
fn plugin_whose_budget_runs_out_halts_as_budget_spent() {
    let out = refine(&mut Oscillate, (), HaltConfig::default(), Budget::new(0.55), 0.0).unwrap();
    let t = out.telemetry;
    assert_eq!(t.halt_reason, HaltReason::BudgetSpent);
    assert_eq!(t.steps, 5);
    assert!((t.atp_spent - 0.5).abs() < 1e-9);
    assert!((t.atp_unused - 0.05).abs() < 1e-9);
}

#[test]
fn plugin_done_and_errors_are_reported() {
    let out =
        refine(&mut Countdown { n: 4, fail_at: None }, (), HaltConfig::default(), Budget::new(10.0), 0.25)
            .unwrap();
    assert_eq!(out.telemetry.halt_reason, HaltReason::PluginDone);
    assert_eq!(out.telemetry.steps, 4);
    assert_eq!(out.telemetry.elapsed_s, 0.25);
    let out =
        refine(&mut Countdown { n: 9, fail_at: Some(3) }, (), HaltConfig::default(), Budget::new(10.0), 0.0)
            .unwrap();
    assert_eq!(out.telemetry.halt_reason, HaltReason::Error);
    assert_eq!(out.telemetry.steps, 2);
    assert!(matches!(out.error, Some(PluginError::StepFailed { step: 3, .. })));
}

#[test]
fn a_grant_during_the_run_is_visible_to_the_plugin() {
    let cfg = HaltConfig { max_steps: 50, ..HaltConfig::default() };
    let mut p = Oscillate;
    let mut run = Run::start(&mut p, (), cfg, Budget::new(0.3)).unwrap();
    run.run_to_end().unwrap();
    assert_eq!(run.halted(), Some(HaltReason::BudgetSpent));
    assert_eq!(run.energies().len(), 4);
    // A halted run stays halted; a grant before halting extends it.
    let mut p = Oscillate;
    let mut run = Run::start(&mut p, (), cfg, Budget::new(0.3)).unwrap();
    for _ in 0..3 {
        assert!(run.step().unwrap());
    }
    run.grant(0.2);
    run.run_to_end().unwrap();
    let t = run.finish(0.0).telemetry;
    assert_eq!(t.steps, 5);
    assert_eq!(t.halt_reason, HaltReason::BudgetSpent);
}

#[test]
fn no_step_means_zero_metrics_and_bad_budgets_are_sanitized() {
    let t = Telemetry::from_energies("x", &[3.0], HaltReason::Stopped, 0.0, 0.0, 0.0);
    assert_eq!((t.steps, t.monotonicity, t.de_variance, t.convergence_rate), (0, 0.0, 0.0, 0.0));
    let mut b = Budget::new(f64::NAN);
    assert_eq!(b.remaining(), 0.0);
    b.grant(-5.0);
    assert_eq!(b.remaining(), 0.0);
    b.grant(1.0);
    assert!(b.charge(0.5));
    assert!(!b.charge(0.6));
    assert!((b.remaining() - 0.5).abs() < 1e-12);
}
