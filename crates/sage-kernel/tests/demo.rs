#![allow(clippy::unwrap_used)]

//! The bundled demo scenario through the kernel: the decisions it makes are pinned as a
//! snapshot (update with `UPDATE_EXPECT=1 cargo test -p sage-kernel --test demo`).

use std::fmt::Write;

use expect_test::expect_file;
use sage_kernel::kernel::Attention;
use sage_kernel::scenario::{self, Scenario};
use sage_kernel::{Kernel, KernelConfig, State};

const DEMO: &str = include_str!("../../../scenarios/demo.jsonl");

fn demo_kernel(s: &Scenario) -> Kernel {
    let mut cfg = KernelConfig::default();
    if let Some(seed) = s.header.seed {
        cfg.seed = seed;
    }
    cfg.circadian_period = s.header.circadian_period;
    Kernel::new(cfg).unwrap()
}

/// One line per decision, transition and trust event.
fn decision_trace() -> (String, scenario::Summary) {
    let s = Scenario::parse(DEMO).unwrap();
    let mut k = demo_kernel(&s);
    let names: Vec<String> = k.config().experts.iter().map(|e| e.name.clone()).collect();
    let mut out = String::new();
    let summary = scenario::run(&mut k, &s, |r, _| {
        for d in &r.decisions {
            let o = &r.observations[d.observation];
            let sal = o.salience.map_or(0.0, |s| s.total);
            let perms: Vec<String> = d
                .decision
                .candidates
                .iter()
                .map(|f| {
                    format!(
                        "{}={:.3}{}",
                        names[f.id as usize],
                        f.permission,
                        if f.excluded.is_some() { "(cooled)" } else { "" }
                    )
                })
                .collect();
            let chosen = d.decision.chosen.map_or("-", |c| names[c as usize].as_str());
            let used = d.used.map_or("-", |c| names[c as usize].as_str());
            let reason = d.decision.reason.map(|r| format!("{r:?}")).unwrap_or_default();
            let run = r
                .runs
                .iter()
                .find(|x| x.observation == d.observation)
                .map(|x| {
                    format!(
                        " ran {} steps {:.2} ATP {}",
                        x.telemetry.steps, x.telemetry.atp_spent, x.telemetry.halt_reason
                    )
                })
                .unwrap_or_default();
            writeln!(
                out,
                "{:>3} {:<6} {:<13} {:<8} sal {:.2} chose {chosen} used {used} ({reason}) [{}]{run}",
                r.tick,
                r.state.as_str(),
                o.class,
                o.source,
                sal,
                perms.join(" ")
            )
            .unwrap();
        }
        for o in &r.observations {
            if let Attention::Capped = o.attention {
                writeln!(out, "{:>3} {:<6} {:<13} {:<8} capped", r.tick, r.state.as_str(), o.class, o.source)
                    .unwrap();
            }
        }
        for e in &r.trust_events {
            writeln!(out, "{:>3} trust {e:?}", r.tick).unwrap();
        }
        if let Some(t) = r.transition {
            writeln!(out, "{:>3} {} -> {} ({}) ATP {:.2}", r.tick, t.from, t.to, t.rule, r.atp.balance)
                .unwrap();
        }
    });
    (out, summary)
}

#[test]
fn demo_visits_every_state() {
    let (_, summary) = decision_trace();
    assert_eq!(summary.visited(), State::ALL.to_vec(), "{:?}", summary.ticks_in_state);
    assert!(summary.attended > 0 && summary.ignored > summary.attended);
}

#[test]
fn demo_decisions_snapshot() {
    let (trace, _) = decision_trace();
    expect_file!["snapshots/demo_decisions.txt"].assert_eq(&trace);
}

#[test]
fn demo_is_deterministic() {
    assert_eq!(decision_trace().0, decision_trace().0);
}
