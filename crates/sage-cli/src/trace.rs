//! Rendering tick reports as a readable trace or as JSON lines.

use std::io::{self, Write};

use sage_kernel::kernel::{Attention, ObservationReport, ResidencyEvent, Routing, RunReport, TickReport};
use sage_kernel::metabolic::State;
use sage_kernel::router::Reason;
use sage_kernel::scenario::{Scenario, Summary};
use sage_kernel::trust::TrustEvent;
use sage_kernel::Kernel;
use serde_json::json;

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceMode {
    /// Only ticks where something happened, quiet stretches folded.
    Events,
    /// Every tick.
    Verbose,
    /// Only the summary.
    Quiet,
    /// JSON lines.
    Json,
}

/// A trace writer. It remembers the expert names and the ATP/state history for the timeline.
pub struct Trace {
    mode: TraceMode,
    names: Vec<String>,
    states: Vec<State>,
    atp: Vec<f64>,
    quiet: Option<(u64, u64, State, f64, f64)>,
}

const INDENT: &str = "                    ";

fn state_letter(s: State) -> char {
    match s {
        State::Wake => 'W',
        State::Focus => 'F',
        State::Rest => 'R',
        State::Dream => 'D',
        State::Crisis => 'C',
    }
}

fn clip(s: &str, n: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = flat.as_str();
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

/// Whether a tick has anything to show in the events mode.
fn eventful(r: &TickReport, notes: &[&str]) -> bool {
    !notes.is_empty()
        || r.transition.is_some()
        || !r.residency.is_empty()
        || !r.trust_events.is_empty()
        || r.consolidated > 0
        || r.feedback_applied > 0
        || r.observations.iter().any(|o| !matches!(o.attention, Attention::Ignored))
}

/// An observation's first line: class, source, salience and its parts, and where it was held or
/// confirms an earlier change.
fn observation_head(o: &ObservationReport) -> String {
    let head = match &o.salience {
        Some(s) => {
            let d = s.dims;
            let sem = s.semantic.map(|x| format!(" semantic {x:.2}")).unwrap_or_default();
            format!(
                "{} {}: salience {:.2} (evidence {:.2}; S {:.2} N {:.2} A {:.2} R {:.2} C {:.2}{sem})",
                o.class,
                o.source,
                s.total,
                s.evidence,
                d.surprise,
                d.novelty,
                d.arousal,
                d.reward,
                d.conflict
            )
        }
        None => format!("{} {}", o.class, o.source),
    };
    let head = match o.deferred_from {
        Some(t) => format!("{head} [held since tick {t}]"),
        None => head,
    };
    match o.onset {
        Some(t) => format!("{head} [confirms a change begun at tick {t}]"),
        None => head,
    }
}

/// A plugin's run: steps, energy, why it halted, quality and the start of its output.
fn run_line(run: &RunReport) -> String {
    let t = &run.telemetry;
    let extra =
        if run.reallocated > 0.0 { format!(" +{:.2} reallocated", run.reallocated) } else { String::new() };
    format!(
        "    ran {} steps, {:.2} ATP of {:.2}{extra}, {}, quality {:.2}: {}",
        t.steps,
        t.atp_spent,
        run.allocated,
        t.halt_reason,
        run.quality,
        clip(&run.output, 60)
    )
}

/// The model's ATP plan for the tick, taken or rejected.
fn plan_line(r: &TickReport) -> Option<String> {
    match &r.plan {
        Some(sage_kernel::PlanOutcome::Plan { asked, clamped, cost }) => {
            let asked: Vec<String> = asked.iter().map(|x| format!("{x:.2}")).collect();
            let how = if *clamped { ", adjusted to the budget and the floors" } else { "" };
            Some(format!("plan from the model: ATP [{}]{how} (planning cost {cost:.2})", asked.join(", ")))
        }
        Some(sage_kernel::PlanOutcome::Rejected { why, cost }) => {
            Some(format!("plan rejected ({why}); the heuristic allocation stands (planning cost {cost:.2})"))
        }
        None => None,
    }
}

/// The tick's lines, the first beside its number, state and ATP, the rest indented.
fn write_tick_lines(out: &mut impl Write, r: &TickReport, lines: &[String]) -> io::Result<()> {
    let Some((first, rest)) = lines.split_first() else {
        return writeln!(out, "{:>4}  {:<6} {:>5.1}", r.tick, r.state.as_str(), r.atp.balance);
    };
    writeln!(out, "{:>4}  {:<6} {:>5.1}  {first}", r.tick, r.state.as_str(), r.atp.balance)?;
    for l in rest {
        writeln!(out, "{INDENT}{l}")?;
    }
    Ok(())
}

impl Trace {
    /// A writer for `kernel`'s experts.
    pub fn new(mode: TraceMode, kernel: &Kernel) -> Self {
        let names = kernel.config().experts.iter().map(|e| e.name.clone()).collect();
        Self { mode, names, states: vec![], atp: vec![], quiet: None }
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map(String::as_str).unwrap_or("?")
    }

    /// The header.
    pub fn header(&mut self, out: &mut impl Write, scenario: &Scenario, origin: &str) -> io::Result<()> {
        let h = &scenario.header;
        if self.mode == TraceMode::Json {
            let v = json!({"type": "header", "scenario": h.scenario, "origin": origin, "ticks": scenario.ticks(),
                "tick_s": h.tick_s, "experts": self.names});
            return writeln!(out, "{v}");
        }
        writeln!(out, "SAGE run · {} ({origin})", h.scenario)?;
        if let Some(d) = &h.description {
            writeln!(out, "{d}")?;
        }
        writeln!(out, "{} ticks of {} s · experts: {}", scenario.ticks(), h.tick_s, self.names.join(", "))?;
        if self.mode == TraceMode::Quiet {
            return Ok(());
        }
        writeln!(out)?;
        writeln!(out, "tick  state    ATP  what happened")
    }

    fn flush_quiet(&mut self, out: &mut impl Write) -> io::Result<()> {
        if let Some((first, last, state, a0, a1)) = self.quiet.take() {
            if first == last {
                writeln!(out, "{first:>4}  {:<6} {a1:>5.1}  quiet", state.as_str())?;
            } else {
                writeln!(
                    out,
                    "{:>4}  {:<6} {a1:>5.1}  … ticks {first}–{last} quiet (ATP {a0:.1} → {a1:.1})",
                    last,
                    state.as_str()
                )?;
            }
        }
        Ok(())
    }

    /// One tick.
    pub fn tick(&mut self, out: &mut impl Write, r: &TickReport, notes: &[&str]) -> io::Result<()> {
        self.states.push(r.state);
        self.atp.push(r.atp.balance);
        match self.mode {
            TraceMode::Quiet => return Ok(()),
            TraceMode::Json => {
                let v = json!({"type": "tick", "notes": notes, "report": r});
                return writeln!(out, "{v}");
            }
            _ => {}
        }
        if !eventful(r, notes) && self.mode == TraceMode::Events {
            return self.fold_quiet(out, r);
        }
        self.flush_quiet(out)?;
        let mut lines: Vec<String> = notes.iter().map(|n| format!("# {n}")).collect();
        for i in 0..r.observations.len() {
            lines.extend(self.observation_lines(r, i));
        }
        lines.extend(plan_line(r));
        lines.extend(self.event_lines(r));
        write_tick_lines(out, r, &lines)
    }

    /// A quiet tick folded into the stretch of quiet ticks before it (same state), or starting one.
    fn fold_quiet(&mut self, out: &mut impl Write, r: &TickReport) -> io::Result<()> {
        self.quiet = Some(match self.quiet {
            Some((first, _, s, a0, _)) if s == r.state => (first, r.tick, s, a0, r.atp.balance),
            _ => {
                self.flush_quiet(out)?;
                (r.tick, r.tick, r.state, r.atp.balance, r.atp.balance)
            }
        });
        Ok(())
    }

    /// The lines of observation `i`: its salience and what attention did with it, then the routing
    /// decision and the run where it was attended.
    fn observation_lines(&self, r: &TickReport, i: usize) -> Vec<String> {
        let o = &r.observations[i];
        let head = observation_head(o);
        let mut lines = vec![];
        match &o.attention {
            Attention::Ignored => {
                if self.mode == TraceMode::Verbose {
                    lines.push(format!("{head} · ignored"));
                }
                return lines;
            }
            Attention::Capped => {
                lines.push(format!(
                    "{head} · not run: {} allows no more plugins (held for the next ticks)",
                    r.state
                ));
                return lines;
            }
            Attention::Scoring { job } => {
                lines.push(format!("{head} · ambiguous: waits for its semantic score (job {job})"));
                return lines;
            }
            Attention::Unrouted { .. } => lines.push(format!("{head} · no expert could take it")),
            Attention::Rejected { error } => {
                lines.push(format!("{head} · rejected: {error}"));
                return lines;
            }
            Attention::Attended => lines.push(head),
        }
        if let Some(routing) = r.decisions.iter().find(|x| x.observation == i) {
            lines.extend(self.decision_lines(routing));
        }
        if let Some(run) = r.runs.iter().find(|x| x.observation == i) {
            lines.push(run_line(run));
        }
        lines
    }

    /// A routing decision: the choice, its reason and every candidate's factors.
    fn decision_lines(&self, routing: &Routing) -> Vec<String> {
        let d = &routing.decision;
        let chosen = d.chosen.map(|c| self.name(c).to_string()).unwrap_or_else(|| "nobody".into());
        let reason = match d.reason {
            Some(Reason::Hysteresis { challenger }) => {
                format!("hysteresis: kept over {}", self.name(challenger))
            }
            Some(Reason::WakePrefersLighter { over }) => {
                format!("WAKE prefers lighter over {}", self.name(over))
            }
            Some(Reason::LighterToSaveEnergy { over }) => {
                format!("energy is short: lighter over {}", self.name(over))
            }
            Some(Reason::TrustFloor { over }) => {
                format!("trust floor: {} not trusted", self.name(over))
            }
            Some(other) => other.to_string(),
            None => "-".into(),
        };
        let swap = if d.swap { ", cold load" } else { "" };
        let factors: Vec<String> = d
            .candidates
            .iter()
            .map(|f| {
                let ex = if f.excluded.is_some() { " (cooled down)" } else { "" };
                format!(
                    "{} {:.3} = {:.2}×{:.2}×{:.1}×{:.3}{ex}",
                    self.name(f.id),
                    f.permission,
                    f.expertise,
                    f.cheapness,
                    f.persistence,
                    1.0 + f.bias
                )
            })
            .collect();
        let mut lines = vec![
            format!("  → {chosen} ({reason}{swap}); permission = expertise×cheapness×persistence×bias:"),
            format!("    {}", factors.join(" · ")),
        ];
        if let Some(f) = &routing.fallback {
            lines.push(format!("    {f}"));
        }
        lines
    }

    /// Residency, trust, feedback, consolidation and the state transition of the tick.
    fn event_lines(&self, r: &TickReport) -> Vec<String> {
        let mut lines = vec![];
        for e in &r.residency {
            lines.push(match e {
                ResidencyEvent::Load { expert, why } => format!("load {expert}: {why}"),
                ResidencyEvent::Unload { expert, why } => format!("unload {expert}: {why}"),
            });
        }
        for e in &r.trust_events {
            lines.push(match e {
                TrustEvent::Suppressed { expert, class } => {
                    format!("trust: {} cooled down for {class}", self.name(*expert))
                }
                TrustEvent::Reinstated { expert, class } => {
                    format!("trust: {} back in service for {class}", self.name(*expert))
                }
                TrustEvent::EjectionCapHeld { expert, class } => {
                    format!(
                        "trust: {} would be cooled down for {class}, but the ejection cap holds",
                        self.name(*expert)
                    )
                }
            });
        }
        if r.feedback_applied > 0 {
            lines.push(format!("learned from {} feedback item(s)", r.feedback_applied));
        }
        if r.consolidated > 0 {
            lines.push(format!("dream: {} stale trust entries decayed toward their prior", r.consolidated));
        }
        if let Some(t) = r.transition {
            lines.push(format!("state {} → {} ({})", t.from, t.to, t.rule));
        }
        lines
    }

    /// The timeline and summary.
    pub fn summary(&mut self, out: &mut impl Write, s: &Summary, kernel: &Kernel) -> io::Result<()> {
        if self.mode == TraceMode::Json {
            let v = json!({"type": "summary", "summary": s});
            return writeln!(out, "{v}");
        }
        self.flush_quiet(out)?;
        writeln!(out)?;
        // Timeline: at most 96 columns.
        let n = self.states.len().max(1);
        let per = n.div_ceil(96);
        let bars = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let max = kernel.ledger().max().max(1e-9);
        let mut st = String::new();
        let mut at = String::new();
        for chunk in 0..n.div_ceil(per) {
            let range = chunk * per..((chunk + 1) * per).min(self.states.len());
            if range.is_empty() {
                break;
            }
            // The most severe state of the chunk, so short visits stay visible.
            let s = self.states[range.clone()]
                .iter()
                .copied()
                .max_by_key(|s| match s {
                    State::Crisis => 4,
                    State::Focus => 3,
                    State::Dream => 2,
                    State::Rest => 1,
                    State::Wake => 0,
                })
                .unwrap_or(State::Wake);
            st.push(state_letter(s));
            let mean = self.atp[range.clone()].iter().sum::<f64>() / range.len() as f64;
            at.push(bars[((mean / max) * 7.0).round().clamp(0.0, 7.0) as usize]);
        }
        writeln!(
            out,
            "timeline ({per} tick{} per column; W wake, F focus, R rest, D dream, C crisis)",
            if per == 1 { "" } else { "s" }
        )?;
        writeln!(out, "  state {st}")?;
        writeln!(out, "  ATP   {at}")?;
        writeln!(out)?;
        writeln!(out, "summary")?;
        let states: Vec<String> = s.ticks_in_state.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(out, "  ticks {}: {}", s.ticks, states.join(" · "))?;
        writeln!(out, "  transitions {}:", s.transitions.len())?;
        for (tick, from, to, rule) in &s.transitions {
            writeln!(out, "    tick {tick:>4}  {from} → {to}: {rule}")?;
        }
        let valid = s.observations - s.rejected;
        let skipped = if valid > 0 { 100.0 * (valid - s.attended) as f64 / valid as f64 } else { 0.0 };
        writeln!(
            out,
            "  observations {}: attended {} ({} after being held) · ignored {} · capped {} · unrouted {} · rejected {}",
            s.observations, s.attended, s.attended_late, s.ignored, s.capped, s.unrouted, s.rejected
        )?;
        writeln!(out, "  {skipped:.0}% of valid observations needed no plugin run")?;
        let runs: Vec<String> = s.runs_per_expert.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(out, "  runs: {}", if runs.is_empty() { "none".to_string() } else { runs.join(" · ") })?;
        writeln!(
            out,
            "  ATP: plugins spent {:.1} · state base cost {:.1} · recovered {:.1} · lowest {:.1} · final {:.1}",
            s.atp_spent_plugins, s.atp_base_cost, s.atp_recovered, s.atp_min, s.atp_final
        )?;
        writeln!(out, "  cold loads (swaps): {} · resident now: {}", s.swaps, kernel.resident().join(", "))?;
        writeln!(out, "  trust:")?;
        for (class, experts) in &s.trust {
            let e: Vec<String> = experts.iter().map(|(k, v)| format!("{k} {v:.2}")).collect();
            writeln!(out, "    {class:<14} {}", e.join(" · "))?;
        }
        let w = kernel.snarc().weights().0;
        writeln!(
            out,
            "  salience weights: S {:.3} N {:.3} A {:.3} R {:.3} C {:.3}",
            w[0], w[1], w[2], w[3], w[4]
        )
    }
}
