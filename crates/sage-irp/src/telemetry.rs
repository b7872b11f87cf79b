use std::fmt;

/// Why a refinement stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HaltReason {
    /// `max_steps` steps ran.
    MaxSteps,
    /// The energy slope over the last K steps fell below eps.
    Converged,
    /// The ATP budget cannot pay for another step.
    BudgetSpent,
    /// The plugin said it is done.
    PluginDone,
    /// The plugin's own halt rule fired.
    PluginRule,
    /// A step failed.
    Error,
    /// The caller stopped the run before any rule fired.
    Stopped,
}

impl HaltReason {
    /// Short stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaxSteps => "max_steps",
            Self::Converged => "converged",
            Self::BudgetSpent => "budget_spent",
            Self::PluginDone => "plugin_done",
            Self::PluginRule => "plugin_rule",
            Self::Error => "error",
            Self::Stopped => "stopped",
        }
    }
}

impl fmt::Display for HaltReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a refinement did, as a value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Telemetry {
    /// Plugin name.
    pub plugin: String,
    /// Steps that ran.
    pub steps: u32,
    /// Energy of the initial state, then after every step.
    pub energies: Vec<f64>,
    /// Why it stopped.
    pub halt_reason: HaltReason,
    /// ATP spent.
    pub atp_spent: f64,
    /// ATP granted but not spent (returned to the ledger by the caller).
    pub atp_unused: f64,
    /// Wall time measured by the caller, seconds.
    pub elapsed_s: f64,
    /// Share of steps whose energy went down (1.0 = monotone descent).
    pub monotonicity: f64,
    /// Population variance of the energy differences.
    pub de_variance: f64,
    /// `(E0 - E_last) / steps` (0 when no step ran).
    pub convergence_rate: f64,
}

impl Telemetry {
    /// Compute the trust metrics from an energy history (initial state first).
    pub fn from_energies(
        plugin: &str,
        energies: &[f64],
        halt_reason: HaltReason,
        atp_spent: f64,
        atp_unused: f64,
        elapsed_s: f64,
    ) -> Self {
        let steps = energies.len().saturating_sub(1) as u32;
        let (monotonicity, de_variance, convergence_rate) = if steps == 0 {
            (0.0, 0.0, 0.0)
        } else {
            let n = steps as f64;
            let mut down = 0u32;
            let mut sum = 0.0;
            let mut sum_sq = 0.0;
            for w in energies.windows(2) {
                let d = w[1] - w[0];
                if d < 0.0 {
                    down += 1;
                }
                sum += d;
                sum_sq += d * d;
            }
            let mean = sum / n;
            let var = (sum_sq / n - mean * mean).max(0.0);
            let rate = (energies[0] - energies[energies.len() - 1]) / n;
            (down as f64 / n, var, rate)
        };
        Self {
            plugin: plugin.to_string(),
            steps,
            energies: energies.to_vec(),
            halt_reason,
            atp_spent,
            atp_unused,
            elapsed_s,
            monotonicity,
            de_variance,
            convergence_rate,
        }
    }

    /// Final energy (the initial one if no step ran; NaN if there is none).
    pub fn final_energy(&self) -> f64 {
        self.energies.last().copied().unwrap_or(f64::NAN)
    }
}
