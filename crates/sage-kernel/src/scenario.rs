//! Scenarios: a JSON-lines description of what a SAGE node observes over time, and a runner
//! that drives a [`Kernel`] through one.
//!
//! The first line may be a header (`{"scenario": "demo", "tick_s": 1.0, "seed": 7,
//! "circadian_period": 200, "end": 300}`); every other non-blank line that does not start with
//! `#` is an event:
//!
//! ```json
//! {"t": 12.0,
//!  "sensors": {"lidar": [0.1, 0.2], "imu": [0.0, 9.8, 0.1]},
//!  "text": [{"source": "operator", "text": "Battery at 40%?"}],
//!  "feedback": [{"expert": "intent", "class": "text.question", "success": true, "quality": 0.9},
//!               {"stream": "lidar", "reward": 0.8}],
//!  "crisis": true,
//!  "note": "obstacle appears"}
//! ```
//!
//! The runner ticks every `tick_s` seconds from 0 to `end` (default: the last event's time plus
//! 10 ticks). Events are delivered at the tick nearest their time, in file order. `crisis` is a
//! level: once set it holds until an event sets it false.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::kernel::{Attention, Executor, Feedback, Kernel, NoExecutor, Observation, TickReport};
use crate::metabolic::State;

/// Header line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Name.
    pub scenario: String,
    /// Seconds per tick.
    #[serde(default = "one")]
    pub tick_s: f64,
    /// Seed for the kernel's random choices.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Circadian period in ticks.
    #[serde(default)]
    pub circadian_period: Option<u64>,
    /// Time of the last tick, seconds.
    #[serde(default)]
    pub end: Option<f64>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

fn one() -> f64 {
    1.0
}

/// A text message in an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextEvent {
    /// Who sent it.
    pub source: String,
    /// What it says.
    pub text: String,
    /// Optional precomputed semantic importance `[0, 1]`.
    #[serde(default)]
    pub semantic: Option<f64>,
}

/// One event line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Time, seconds.
    pub t: f64,
    /// Sensor readings by name.
    #[serde(default)]
    pub sensors: BTreeMap<String, Vec<f64>>,
    /// Text messages.
    #[serde(default)]
    pub text: Vec<TextEvent>,
    /// Feedback about experts or streams.
    #[serde(default)]
    pub feedback: Vec<Feedback>,
    /// Crisis signal level.
    #[serde(default)]
    pub crisis: Option<bool>,
    /// Free text shown in the trace.
    #[serde(default)]
    pub note: Option<String>,
    /// Ground-truth labels for judgment benchmarks: the sources of this event's observations
    /// that deserve attention, each with the reason; every other observation is trivial. The
    /// kernel never reads them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub salient: BTreeMap<String, String>,
}

/// A parsed scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Header (defaults when the file has none).
    pub header: Header,
    /// Events in file order.
    pub events: Vec<Event>,
}

/// Ticks a scenario may take (20 Hz for almost six days): the runner keeps per-tick figures.
pub const MAX_TICKS: u64 = 10_000_000;

/// A scenario that cannot be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// A line is not valid JSON or not a valid header or event.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// A header value is unusable.
    #[error("header: {0}")]
    Header(String),
    /// No events.
    #[error("the scenario has no events")]
    Empty,
}

impl Scenario {
    /// Parse JSON lines.
    pub fn parse(text: &str) -> Result<Self, ScenarioError> {
        let mut header: Option<Header> = None;
        let mut events = vec![];
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| ScenarioError::Line { line: n + 1, message };
            let value: serde_json::Value = serde_json::from_str(line).map_err(|e| err(e.to_string()))?;
            if value.get("scenario").is_some() {
                if header.is_some() || !events.is_empty() {
                    return Err(err("the header must be the first line".into()));
                }
                header = Some(serde_json::from_value(value).map_err(|e| err(e.to_string()))?);
                continue;
            }
            let ev: Event = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
            if !ev.t.is_finite() || ev.t < 0.0 {
                return Err(err(format!("time {} must be a non-negative number", ev.t)));
            }
            for (name, v) in &ev.sensors {
                if v.is_empty() {
                    return Err(err(format!("sensor {name:?} has no values")));
                }
            }
            events.push(ev);
        }
        if events.is_empty() {
            return Err(ScenarioError::Empty);
        }
        let header = header.unwrap_or(Header {
            scenario: "unnamed".into(),
            tick_s: 1.0,
            seed: None,
            circadian_period: None,
            end: None,
            description: None,
        });
        if !(header.tick_s.is_finite() && header.tick_s > 0.0) {
            return Err(ScenarioError::Header(format!("tick_s must be positive, got {}", header.tick_s)));
        }
        if let Some(end) = header.end {
            if !end.is_finite() || end < 0.0 {
                return Err(ScenarioError::Header(format!("end must be a non-negative number, got {end}")));
            }
        }
        let s = Self { header, events };
        let last = s.events.iter().map(|e| e.t).fold(0.0, f64::max);
        let ticks = s.header.end.unwrap_or(last + 10.0 * s.header.tick_s) / s.header.tick_s;
        if !ticks.is_finite() || ticks > MAX_TICKS as f64 {
            return Err(ScenarioError::Header(format!(
                "the run would take {ticks:.3e} ticks (end / tick_s); at most {MAX_TICKS}"
            )));
        }
        Ok(s)
    }

    /// Number of ticks the runner will make.
    pub fn ticks(&self) -> u64 {
        let last = self.events.iter().map(|e| e.t).fold(0.0, f64::max);
        let end = self.header.end.unwrap_or(last + 10.0 * self.header.tick_s);
        (end / self.header.tick_s).round() as u64 + 1
    }
}

/// A summary of a scenario run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Ticks made.
    pub ticks: u64,
    /// Ticks spent in each state.
    pub ticks_in_state: BTreeMap<State, u64>,
    /// `(tick, from, to, rule)`.
    pub transitions: Vec<(u64, State, State, String)>,
    /// Observations seen.
    pub observations: u64,
    /// Observations attended (a plugin ran).
    pub attended: u64,
    /// Below the attention threshold.
    pub ignored: u64,
    /// Capped by the state's plugin limit (and never attended later).
    pub capped: u64,
    /// Capped first, attended at a later tick.
    pub attended_late: u64,
    /// Rejected as invalid.
    pub rejected: u64,
    /// Routed nowhere.
    pub unrouted: u64,
    /// Runs per expert.
    pub runs_per_expert: BTreeMap<String, u64>,
    /// ATP spent by plugins.
    pub atp_spent_plugins: f64,
    /// ATP spent as state base cost.
    pub atp_base_cost: f64,
    /// ATP recovered.
    pub atp_recovered: f64,
    /// Lowest balance.
    pub atp_min: f64,
    /// Final balance.
    pub atp_final: f64,
    /// Cold loads.
    pub swaps: u64,
    /// Final trust per class and expert.
    pub trust: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Summary {
    /// States visited.
    pub fn visited(&self) -> Vec<State> {
        self.ticks_in_state.keys().copied().collect()
    }
}

/// What drives a kernel through a scenario besides the scenario itself: it runs the external
/// experts and may tell the kernel about the world (real residency, measured costs) before each
/// tick. Everything it tells the kernel must be a value a recording can replay.
pub trait Driver: Executor {
    /// Called before tick `index` (0-based) at time `now`.
    fn before_tick(&mut self, _kernel: &mut Kernel, _index: u64, _now: f64) {}

    /// Called after each tick with its report and the observations it was given.
    fn after_tick(&mut self, _report: &TickReport, _observations: &[Observation]) {}
}

impl Driver for NoExecutor {}

/// A driver that adds nothing: built-in experts only.
pub fn run(kernel: &mut Kernel, scenario: &Scenario, on_tick: impl FnMut(&TickReport, &[&str])) -> Summary {
    run_with(kernel, scenario, &mut NoExecutor, on_tick)
}

/// Drive `kernel` through `scenario` with `driver`, calling `on_tick` with every report (and the
/// notes of the events delivered at that tick).
pub fn run_with(
    kernel: &mut Kernel,
    scenario: &Scenario,
    driver: &mut dyn Driver,
    mut on_tick: impl FnMut(&TickReport, &[&str]),
) -> Summary {
    let tick_s = scenario.header.tick_s;
    let n = scenario.ticks();
    let mut by_tick: BTreeMap<u64, Vec<&Event>> = BTreeMap::new();
    for e in &scenario.events {
        by_tick.entry((e.t / tick_s).round() as u64).or_default().push(e);
    }
    let mut s = Summary { atp_min: kernel.ledger().balance(), ..Summary::default() };
    let mut crisis = false;
    let swaps_before = kernel.swaps();
    let mut obs: Vec<Observation> = vec![];
    let mut notes: Vec<&str> = vec![];
    for k in 0..n {
        obs.clear();
        notes.clear();
        if let Some(events) = by_tick.get(&k) {
            for e in events {
                for (name, v) in &e.sensors {
                    obs.push(Observation::sensor(name, v.clone()));
                }
                for m in &e.text {
                    obs.push(Observation { semantic: m.semantic, ..Observation::text(&m.source, &m.text) });
                }
                for f in &e.feedback {
                    kernel.feedback(f.clone());
                }
                if let Some(c) = e.crisis {
                    crisis = c;
                }
                if let Some(note) = &e.note {
                    notes.push(note);
                }
            }
        }
        let now = k as f64 * tick_s;
        driver.before_tick(kernel, k, now);
        let r = kernel.tick_with(now, &obs, crisis, driver);
        driver.after_tick(&r, &obs);
        s.ticks += 1;
        *s.ticks_in_state.entry(r.state).or_default() += 1;
        if let Some(t) = r.transition {
            s.transitions.push((r.tick, t.from, t.to, t.rule.to_string()));
        }
        for o in &r.observations {
            if o.deferred_from.is_some() {
                // Counted when first seen (as capped); attended now.
                if o.attention == Attention::Attended {
                    s.attended += 1;
                    s.capped = s.capped.saturating_sub(1);
                    s.attended_late += 1;
                }
                continue;
            }
            s.observations += 1;
            match o.attention {
                Attention::Attended => s.attended += 1,
                Attention::Ignored => s.ignored += 1,
                // Waiting (for a plugin slot, or for its semantic score): counted as held.
                Attention::Capped | Attention::Scoring { .. } => s.capped += 1,
                Attention::Unrouted { .. } => s.unrouted += 1,
                Attention::Rejected { .. } => s.rejected += 1,
            }
        }
        for run in &r.runs {
            *s.runs_per_expert.entry(run.expert.clone()).or_default() += 1;
        }
        s.atp_spent_plugins += r.atp.spent;
        s.atp_base_cost += r.atp.base_cost;
        s.atp_recovered += r.atp.recovered;
        s.atp_min = s.atp_min.min(r.atp.balance);
        s.atp_final = r.atp.balance;
        on_tick(&r, &notes);
    }
    s.swaps = kernel.swaps() - swaps_before;
    for (class, id, _) in kernel.trust().entries() {
        s.trust
            .entry(class.to_string())
            .or_default()
            .insert(kernel.expert_name(id).to_string(), kernel.trust().trust(id, class));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_the_line() {
        let e = Scenario::parse("{\"scenario\":\"x\"}\n{\"t\": 1, \"sensorz\": {}}\n").unwrap_err();
        assert!(matches!(e, ScenarioError::Line { line: 2, .. }), "{e}");
        let e = Scenario::parse("{\"t\": 1}\nnot json\n").unwrap_err();
        assert!(matches!(e, ScenarioError::Line { line: 2, .. }));
        assert_eq!(Scenario::parse("# only a comment\n\n"), Err(ScenarioError::Empty));
        let e = Scenario::parse("{\"t\": -1}").unwrap_err();
        assert!(e.to_string().contains("non-negative"));
        let e = Scenario::parse("{\"scenario\":\"x\",\"tick_s\":0}\n{\"t\": 1}").unwrap_err();
        assert!(matches!(e, ScenarioError::Header(_)));
        let e = Scenario::parse("{\"t\": 1, \"sensors\": {\"a\": []}}").unwrap_err();
        assert!(e.to_string().contains("no values"));
        let e = Scenario::parse("{\"t\": 1}\n{\"scenario\":\"late\"}").unwrap_err();
        assert!(e.to_string().contains("first line"));
        // Runs too long to keep their per-tick figures: refused, not wrapped around to 0 ticks.
        for header in ["{\"scenario\":\"x\",\"tick_s\":1e-300}", "{\"scenario\":\"x\",\"end\":1e8}"] {
            let e = Scenario::parse(&format!("{header}\n{{\"t\": 1}}")).unwrap_err();
            assert!(e.to_string().contains("ticks"), "{header}: {e}");
        }
    }

    #[test]
    fn ticks_cover_the_events_and_a_tail() {
        let s = Scenario::parse("{\"t\": 5}\n{\"t\": 2}").unwrap();
        assert_eq!(s.ticks(), 16);
        let s = Scenario::parse("{\"scenario\":\"x\",\"tick_s\":0.5,\"end\":10}\n{\"t\": 2}").unwrap();
        assert_eq!(s.ticks(), 21);
    }
}
