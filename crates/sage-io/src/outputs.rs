//! What SAGE publishes after a tick, as `(key under the prefix, JSON)` pairs: a pure function
//! of the report, so that any transport publishes the same thing.
//!
//! - `state`: every tick (state, ATP, running jobs, tick number);
//! - `decisions`: ticks that routed something (each routing decision);
//! - `answers`: each job that completed (the expert, the observation's source, the answer);
//! - `alerts`: attended `text.alert` observations, preempted jobs, and entering CRISIS.

use serde_json::{json, Value};

use sage_kernel::{Attention, Observation, Payload, TickReport};

/// The messages for one tick.
pub fn for_tick(report: &TickReport, observations: &[Observation]) -> Vec<(&'static str, Value)> {
    let mut out = vec![(
        "state",
        json!({
            "tick": report.tick,
            "now": report.now,
            "state": report.state,
            "atp": report.atp.balance,
            "reserved": report.atp.reserved,
            "running": report.running,
        }),
    )];
    if !report.decisions.is_empty() {
        let d: Vec<Value> = report
            .decisions
            .iter()
            .map(|r| {
                json!({
                    "class": r.class,
                    "source": report.observations.get(r.observation).map(|o| o.source.as_str()),
                    "chosen": r.decision.chosen,
                    "used": r.used,
                    "fallback": r.fallback,
                })
            })
            .collect();
        out.push(("decisions", json!({"tick": report.tick, "decisions": d})));
    }
    for run in report.runs.iter().filter(|r| r.job.is_some()) {
        out.push((
            "answers",
            json!({
                "job": run.job,
                "tick": report.tick,
                "dispatched_at": run.dispatched_at,
                "expert": run.expert,
                "class": run.class,
                "answer": run.output,
            }),
        ));
    }
    for (i, o) in report.observations.iter().enumerate() {
        if o.class == "text.alert" && o.attention == Attention::Attended {
            let text = match observations.get(i).map(|x| &x.payload) {
                Some(Payload::Text(t)) => t.as_str(),
                _ => "",
            };
            out.push(("alerts", json!({"tick": report.tick, "source": o.source, "alert": text})));
        }
    }
    for p in &report.preempted {
        out.push((
            "alerts",
            json!({"tick": report.tick, "preempted": p.job, "expert": p.expert, "why": p.reason}),
        ));
    }
    if let Some(t) = report.transition.filter(|t| t.to == sage_kernel::State::Crisis) {
        out.push(("alerts", json!({"tick": report.tick, "state": t.to, "from": t.from})));
    }
    out
}

/// The text of a message, for outputs published as ROS 2 `std_msgs/String`.
pub fn as_text(key: &str, v: &Value) -> Option<String> {
    match key {
        "answers" => v.get("answer").and_then(Value::as_str).map(str::to_string),
        "alerts" => {
            Some(v.get("alert").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| v.to_string()))
        }
        _ => None,
    }
}
