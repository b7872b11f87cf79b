//! Built-in IRP plugins that need no model, so that the kernel can be driven end to end
//! (`sage run`) and benchmarked without one.
//!
//! - [`Smoother`] denoises a sensor vector by gradient descent on
//!   `E(x) = Σ (x[i] − x[i−1])² + λ·‖x − x₀‖²` (Tikhonov smoothing). Two experts share it with
//!   different step rules: a plain gradient step (light) and a step with momentum (heavier,
//!   converges in fewer steps).
//! - [`Keywords`] picks the words of a message that cover most of its information (greedy
//!   weighted set cover); energy is the uncovered share.
//! - [`Intent`] refines a distribution over intents (question, alert, command, report) by
//!   multiplicative updates from cues in the text; energy is its entropy.
//!
//! Each is a real iterative refinement with a real energy; their quality differences are what
//! the trust ledger learns.

use sage_irp::{Budget, Plugin, PluginError, StepOutcome};

use crate::text::{is_stopword, normalize_word};

/// Tikhonov smoothing of a sensor vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Smoother {
    /// Weight of staying close to the reading.
    pub lambda: f64,
    /// Gradient step.
    pub rate: f64,
    /// Momentum (0 for plain gradient descent).
    pub momentum: f64,
}

/// State of [`Smoother`].
#[derive(Debug, Clone, PartialEq)]
pub struct SmootherState {
    /// Original reading.
    pub x0: Vec<f64>,
    /// Current estimate.
    pub x: Vec<f64>,
    velocity: Vec<f64>,
    grad: Vec<f64>,
}

impl Smoother {
    fn energy_of(&self, s: &SmootherState) -> f64 {
        let rough: f64 = s.x.windows(2).map(|w| (w[1] - w[0]) * (w[1] - w[0])).sum();
        let fit: f64 = s.x.iter().zip(&s.x0).map(|(a, b)| (a - b) * (a - b)).sum();
        rough + self.lambda * fit
    }
}

impl Plugin for Smoother {
    type Input = Vec<f64>;
    type State = SmootherState;

    fn name(&self) -> &str {
        "smoother"
    }

    fn init_state(&mut self, x: Vec<f64>) -> Result<SmootherState, PluginError> {
        // A single value is already as smooth as it gets (its energy is 0 from the start).
        if x.is_empty() || x.iter().any(|v| !v.is_finite()) {
            return Err(PluginError::InvalidInput {
                plugin: "smoother".into(),
                message: format!(
                    "needs finite values, got {} of {}",
                    x.iter().filter(|v| v.is_finite()).count(),
                    x.len()
                ),
            });
        }
        let n = x.len();
        Ok(SmootherState { x0: x.clone(), x, velocity: vec![0.0; n], grad: vec![0.0; n] })
    }

    fn step(&mut self, s: &mut SmootherState, _b: &mut Budget) -> Result<StepOutcome, PluginError> {
        let n = s.x.len();
        for i in 0..n {
            let mut g = 2.0 * self.lambda * (s.x[i] - s.x0[i]);
            if i > 0 {
                g += 2.0 * (s.x[i] - s.x[i - 1]);
            }
            if i + 1 < n {
                g -= 2.0 * (s.x[i + 1] - s.x[i]);
            }
            s.grad[i] = g;
        }
        for i in 0..n {
            s.velocity[i] = self.momentum * s.velocity[i] - self.rate * s.grad[i];
            s.x[i] += s.velocity[i];
        }
        Ok(StepOutcome::Continue)
    }

    fn energy(&self, s: &SmootherState) -> f64 {
        self.energy_of(s)
    }
}

/// Content words of a text, lower case, without stop words and very short words.
fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(normalize_word).filter(|w| w.len() > 2 && !is_stopword(w)).collect()
}

/// Greedy keyword cover.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Keywords;

/// State of [`Keywords`].
#[derive(Debug, Clone, PartialEq)]
pub struct KeywordsState {
    /// Candidate words with their weights (longer, rarer-looking words weigh more).
    pub candidates: Vec<(String, f64)>,
    /// Chosen so far, in order.
    pub chosen: Vec<String>,
    total: f64,
    covered: f64,
}

impl Plugin for Keywords {
    type Input = String;
    type State = KeywordsState;

    fn name(&self) -> &str {
        "keywords"
    }

    fn init_state(&mut self, text: String) -> Result<KeywordsState, PluginError> {
        let mut candidates: Vec<(String, f64)> = vec![];
        for w in words(&text) {
            let weight = (w.chars().count() as f64).ln();
            match candidates.iter_mut().find(|(c, _)| *c == w) {
                Some(c) => c.1 += weight,
                None => candidates.push((w, weight)),
            }
        }
        let total = candidates.iter().map(|c| c.1).sum();
        Ok(KeywordsState { candidates, chosen: vec![], total, covered: 0.0 })
    }

    fn step(&mut self, s: &mut KeywordsState, _b: &mut Budget) -> Result<StepOutcome, PluginError> {
        let best = s.candidates.iter().enumerate().max_by(|a, b| a.1 .1.total_cmp(&b.1 .1)).map(|(i, _)| i);
        let Some(i) = best else {
            return Ok(StepOutcome::Done);
        };
        let (w, weight) = s.candidates.swap_remove(i);
        s.covered += weight;
        s.chosen.push(w);
        // Done once 80% of the information is covered or nothing is left.
        if s.candidates.is_empty() || s.covered >= 0.8 * s.total {
            return Ok(StepOutcome::Done);
        }
        Ok(StepOutcome::Continue)
    }

    fn energy(&self, s: &KeywordsState) -> f64 {
        if s.total <= 0.0 {
            0.0
        } else {
            1.0 - s.covered / s.total
        }
    }
}

/// Intents recognised by [`Intent`].
pub const INTENTS: [&str; 4] = ["question", "alert", "command", "report"];

/// Intent recognition by multiplicative updates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Intent {
    /// Strength of each update.
    pub rate: f64,
}

/// State of [`Intent`].
#[derive(Debug, Clone, PartialEq)]
pub struct IntentState {
    /// Probability of each of [`INTENTS`].
    pub p: [f64; 4],
    evidence: [f64; 4],
}

impl IntentState {
    /// The most likely intent and its probability.
    pub fn best(&self) -> (&'static str, f64) {
        let mut k = 0;
        for i in 1..4 {
            if self.p[i] > self.p[k] {
                k = i;
            }
        }
        (INTENTS[k], self.p[k])
    }
}

impl Plugin for Intent {
    type Input = String;
    type State = IntentState;

    fn name(&self) -> &str {
        "intent"
    }

    fn init_state(&mut self, text: String) -> Result<IntentState, PluginError> {
        // Function words are the cues here, so no stop-word filter.
        let ws: Vec<String> = text.split_whitespace().map(normalize_word).collect();
        let has = |list: &[&str]| ws.iter().filter(|w| list.contains(&w.as_str())).count() as f64;
        let question = has(&["what", "why", "how", "when", "where", "who", "which", "can", "could", "does"])
            + if text.trim_end().ends_with('?') { 2.0 } else { 0.0 };
        let alert = has(&[
            "urgent",
            "emergency",
            "help",
            "danger",
            "fire",
            "collision",
            "stop",
            "fault",
            "warning",
            "alert",
            "smoke",
        ]) + text.matches('!').count() as f64;
        let command =
            has(&["please", "go", "move", "bring", "fetch", "open", "close", "turn", "start", "pick"]);
        let report = has(&[
            "status",
            "battery",
            "temperature",
            "done",
            "finished",
            "arrived",
            "level",
            "ok",
            "normal",
        ]) + 0.5;
        Ok(IntentState { p: [0.25; 4], evidence: [question, alert, command, report] })
    }

    fn step(&mut self, s: &mut IntentState, _b: &mut Budget) -> Result<StepOutcome, PluginError> {
        let mut z = 0.0;
        for i in 0..4 {
            s.p[i] *= (self.rate * s.evidence[i]).exp();
            z += s.p[i];
        }
        for p in &mut s.p {
            *p /= z;
        }
        Ok(StepOutcome::Continue)
    }

    fn energy(&self, s: &IntentState) -> f64 {
        -s.p.iter().filter(|p| **p > 0.0).map(|p| p * p.ln()).sum::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sage_irp::{refine, HaltConfig, HaltReason};

    #[test]
    fn smoother_descends_monotonically_and_momentum_is_faster() {
        let x: Vec<f64> =
            (0..32).map(|i| (i as f64 * 0.3).sin() + if i % 2 == 0 { 0.5 } else { -0.5 }).collect();
        let plain = refine(
            &mut Smoother { lambda: 0.5, rate: 0.1, momentum: 0.0 },
            x.clone(),
            HaltConfig::default(),
            Budget::new(100.0),
            0.0,
        )
        .unwrap();
        let fast = refine(
            &mut Smoother { lambda: 0.5, rate: 0.1, momentum: 0.5 },
            x,
            HaltConfig::default(),
            Budget::new(100.0),
            0.0,
        )
        .unwrap();
        assert_eq!(plain.telemetry.monotonicity, 1.0);
        assert_eq!(plain.telemetry.halt_reason, HaltReason::Converged);
        assert!(fast.telemetry.steps < plain.telemetry.steps);
        assert!(plain.telemetry.final_energy() < plain.telemetry.energies[0] * 0.5);
        // One value is already smooth; none, or a non-finite one, is an error.
        let one = refine(
            &mut Smoother { lambda: 0.5, rate: 0.1, momentum: 0.0 },
            vec![1.0],
            HaltConfig::default(),
            Budget::new(1.0),
            0.0,
        )
        .unwrap();
        assert_eq!(one.telemetry.final_energy(), 0.0);
        for bad in [vec![], vec![1.0, f64::NAN]] {
            let r = refine(
                &mut Smoother { lambda: 0.5, rate: 0.1, momentum: 0.0 },
                bad,
                HaltConfig::default(),
                Budget::new(1.0),
                0.0,
            );
            assert!(r.is_err());
        }
    }

    #[test]
    fn keywords_and_intent_converge() {
        let k = refine(
            &mut Keywords,
            "URGENT: obstacle detected near the loading dock, stop the robot".into(),
            HaltConfig::default(),
            Budget::new(10.0),
            0.0,
        )
        .unwrap();
        assert_eq!(k.telemetry.halt_reason, HaltReason::PluginDone);
        assert!(k.state.chosen.contains(&"obstacle".to_string()));
        let i = refine(
            &mut Intent { rate: 0.5 },
            "Help! Fire in the lab, stop!".into(),
            HaltConfig::default(),
            Budget::new(10.0),
            0.0,
        )
        .unwrap();
        assert_eq!(i.state.best().0, "alert");
        assert_eq!(i.telemetry.monotonicity, 1.0);
        let q = refine(
            &mut Intent { rate: 0.5 },
            "What is the battery level?".into(),
            HaltConfig::default(),
            Budget::new(10.0),
            0.0,
        )
        .unwrap();
        assert_eq!(q.state.best().0, "question");
        let empty =
            refine(&mut Keywords, String::new(), HaltConfig::default(), Budget::new(10.0), 0.0).unwrap();
        assert_eq!(empty.telemetry.halt_reason, HaltReason::PluginDone);
    }
}
