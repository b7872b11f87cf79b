#![allow(clippy::unwrap_used)]
//! The real-time kernel: jobs that span ticks, settled when their outcome arrives; preemption
//! by a crisis or by a more salient observation; expert slots; determinism.

use std::collections::BTreeMap;

use sage_irp::{HaltConfig, HaltReason, Telemetry};
use sage_kernel::{
    Attention, Builtin, Executor, ExpertSpec, ExternalRun, JobEvent, Kernel, KernelConfig, NoExecutor,
    Observation,
};

fn llm(name: &str, slots: u32) -> ExpertSpec {
    let classes: BTreeMap<String, f64> = [("text.alert", 0.8), ("text.question", 0.7), ("text.chat", 0.6)]
        .iter()
        .map(|(c, p)| (c.to_string(), *p))
        .collect();
    ExpertSpec {
        name: name.into(),
        role: "primary".into(),
        classes,
        bytes: 10 << 20,
        load_s: 0.1,
        plugin: Builtin::External,
        halt: HaltConfig::default(),
        slots,
    }
}

/// A kernel whose texts are decided on at once (no semantic band: these tests are about slots,
/// jobs and preemption; scoring jobs have their own test).
fn kernel(slots: u32) -> Kernel {
    let mut experts = sage_kernel::builtin_experts();
    experts.retain(|e| e.classes.contains_key("sensor"));
    experts.push(llm("model", slots));
    Kernel::new(KernelConfig { experts, semantic_band: (2.0, 2.0), ..KernelConfig::default() }).unwrap()
}

/// The same with the default semantic band.
fn scoring_kernel() -> Kernel {
    let mut experts = sage_kernel::builtin_experts();
    experts.retain(|e| e.classes.contains_key("sensor"));
    experts.push(llm("model", 1));
    Kernel::new(KernelConfig { experts, ..KernelConfig::default() }).unwrap()
}

fn answer(expert: &str, spent: f64, text: &str) -> ExternalRun {
    ExternalRun {
        used: Some(expert.into()),
        failed: vec![],
        telemetry: Telemetry::from_energies(expert, &[2.0, 1.5, 1.2], HaltReason::Converged, spent, 0.0, 0.0),
        quality: Some(0.8),
        output: text.into(),
    }
}

const QUESTION: &str = "What is the battery level of the robot?";
const ALERT: &str = "URGENT: smoke near the charging dock, stop the robot now!";

fn imu(t: usize) -> Observation {
    Observation::sensor("imu", vec![0.1 * (t as f64).sin(), 0.2, 9.8])
}

#[test]
fn a_job_spans_ticks_with_its_atp_held_and_sensors_are_scored_meanwhile() {
    let mut k = kernel(1);
    let r = k.tick_live(0.0, &[Observation::text("operator", QUESTION)], false, vec![], &mut NoExecutor);
    assert_eq!(r.dispatched.len(), 1, "{r:#?}");
    let job = r.dispatched[0].clone();
    assert_eq!(job.expert, "model");
    assert!(job.job > 0);
    assert!(r.runs.is_empty(), "nothing ran inside the tick");
    assert!((k.ledger().reserved() - job.grant).abs() < 1e-9);
    assert_eq!(r.running, 1);
    assert!(k.ledger().imbalance().abs() < 1e-9);
    // While the model thinks, every tick still scores what the sensors say.
    for t in 1..5 {
        let r = k.tick_live(t as f64 * 0.05, &[imu(t)], false, vec![], &mut NoExecutor);
        assert!(r.observations[0].salience.is_some());
        assert_eq!(r.running, 1);
        assert!(k.ledger().imbalance().abs() < 1e-9);
    }
    let spent = job.grant * 0.4;
    let before = k.ledger().balance();
    let done = JobEvent::Done { job: job.job, run: answer("model", spent, "It is at 80 percent.") };
    let r = k.tick_live(0.25, &[], false, vec![done], &mut NoExecutor);
    assert_eq!(r.runs.len(), 1);
    assert_eq!(r.runs[0].job, Some(job.job));
    assert_eq!(r.runs[0].dispatched_at, Some(job.tick));
    assert_eq!(r.runs[0].output, "It is at 80 percent.");
    assert_eq!(r.running, 0);
    assert_eq!(k.ledger().reserved(), 0.0);
    assert!((r.atp.spent - spent).abs() < 1e-9);
    // What it did not spend came back (less this tick's base cost, plus its recovery).
    let expected = before + (job.grant - spent) - r.atp.base_cost + r.atp.recovered;
    assert!((k.ledger().balance() - expected).abs() < 1e-9);
    assert!(k.ledger().imbalance().abs() < 1e-9);
    // The same event again is not the kernel's any more.
    let again = JobEvent::Done { job: job.job, run: answer("model", 1.0, "again") };
    let r = k.tick_live(0.3, &[], false, vec![again], &mut NoExecutor);
    assert_eq!(r.unknown_events, 1);
    assert!(r.runs.is_empty());
}

#[test]
fn a_crisis_preempts_a_running_job_and_its_cancellation_teaches_no_trust() {
    let mut k = kernel(1);
    let r = k.tick_live(0.0, &[Observation::text("operator", QUESTION)], false, vec![], &mut NoExecutor);
    let job = r.dispatched[0].clone();
    let trust = k.trust().trust(k.expert_id("model").unwrap(), &job.class);
    let r = k.tick_live(0.05, &[imu(1)], true, vec![], &mut NoExecutor);
    assert_eq!(r.preempted.len(), 1, "{r:#?}");
    assert_eq!(r.preempted[0].job, job.job);
    assert!(r.preempted[0].reason.contains("crisis"));
    assert!(k.running()[0].cancelling.is_some());
    // The partial answer comes back at a later tick and is settled as cancelled.
    let partial = answer("model", job.grant * 0.1, "It is at");
    let ev = JobEvent::Cancelled { job: job.job, run: partial, reason: r.preempted[0].reason.clone() };
    let r = k.tick_live(0.1, &[], true, vec![ev], &mut NoExecutor);
    assert_eq!(r.ended.len(), 1);
    assert_eq!(r.ended[0].outcome, "cancelled");
    assert_eq!(r.ended[0].output, "It is at");
    assert!(r.runs.is_empty());
    assert_eq!(k.trust().trust(k.expert_id("model").unwrap(), &job.class), trust);
    assert_eq!(k.ledger().reserved(), 0.0);
    assert!(k.ledger().imbalance().abs() < 1e-9);
}

#[test]
fn a_more_salient_observation_takes_a_busy_experts_place() {
    // CRISIS-free FOCUS-like limit: one plugin at a time.
    let mut k = kernel(1);
    let mut cfg = k.config().clone();
    cfg.policies.wake.max_plugins = 1;
    // The cheap text scorer's alerts stand about 0.1 above chat; the margin is set under that.
    cfg.preempt_margin = 0.05;
    k = Kernel::new(cfg).unwrap();
    let r = k.tick_live(
        0.0,
        &[Observation::text("operator", "Tell me a story about the warehouse, please?")],
        false,
        vec![],
        &mut NoExecutor,
    );
    assert_eq!(r.dispatched.len(), 1, "{r:#?}");
    let low = r.dispatched[0].clone();
    let r = k.tick_live(0.05, &[Observation::text("safety", ALERT)], false, vec![], &mut NoExecutor);
    let high = r.observations[0].salience.unwrap().total;
    assert!(high >= low.salience + k.config().preempt_margin, "{high} vs {}", low.salience);
    assert_eq!(r.preempted.len(), 1);
    assert_eq!(r.preempted[0].job, low.job);
    // The expert has one slot: the alert waits for it rather than being lost.
    assert_eq!(r.observations[0].attention, Attention::Capped, "{r:#?}");
    let ev =
        JobEvent::Cancelled { job: low.job, run: answer("model", 0.5, "Once"), reason: "preempted".into() };
    let r = k.tick_live(0.1, &[], false, vec![ev], &mut NoExecutor);
    assert_eq!(r.ended.len(), 1);
    assert_eq!(r.dispatched.len(), 1, "the held alert goes as soon as the slot is free: {r:#?}");
    assert_eq!(r.dispatched[0].input, Observation::text("safety", ALERT));
    assert!(k.ledger().imbalance().abs() < 1e-9);
}

#[test]
fn an_expert_with_two_slots_runs_two_jobs_and_a_third_waits() {
    let mut k = kernel(2);
    let obs = [
        Observation::text("a", "What is the battery level of the robot?"),
        Observation::text("b", "Where is the charging dock of the robot?"),
        Observation::text("c", "When does the next shift start today?"),
    ];
    let r = k.tick_live(0.0, &obs, false, vec![], &mut NoExecutor);
    assert_eq!(r.dispatched.len(), 2, "{r:#?}");
    assert_eq!(r.observations.iter().filter(|o| o.attention == Attention::Capped).count(), 1);
    let first = r.dispatched[0].job;
    let r = k.tick_live(
        0.05,
        &[],
        false,
        vec![JobEvent::Done { job: first, run: answer("model", 0.2, "ok") }],
        &mut NoExecutor,
    );
    assert_eq!(r.runs.len(), 1);
    assert_eq!(r.dispatched.len(), 1, "the third question takes the freed slot");
    assert_eq!(r.running, 2);
}

#[test]
fn lock_step_ticks_settle_their_jobs_before_they_end() {
    struct Answers;
    impl Executor for Answers {
        fn execute(&mut self, job: &sage_kernel::Dispatch) -> ExternalRun {
            answer(&job.expert, job.grant / 2.0, "ok")
        }
    }
    let mut k = kernel(1);
    for t in 0..20 {
        let r = k.tick_with(t as f64, &[Observation::text("operator", QUESTION)], false, &mut Answers);
        assert_eq!(r.running, 0);
        assert!(r.dispatched.is_empty(), "lock step dispatches nothing outside the tick");
        assert_eq!(k.ledger().reserved(), 0.0);
        assert!(k.ledger().imbalance().abs() < 1e-9);
    }
}

#[test]
fn the_same_inputs_and_events_give_the_same_reports() {
    let run = || {
        let mut k = kernel(1);
        let mut out = vec![];
        let mut pending: Vec<(usize, JobEvent)> = vec![];
        for t in 0..60usize {
            let questions = [
                QUESTION,
                "Where is the charging dock?",
                "Who moved pallet 7 to row 3?",
                "Is aisle 4 clear now?",
            ];
            let obs: Vec<Observation> = match t % 7 {
                0 => vec![Observation::text("operator", questions[(t / 7) % questions.len()]), imu(t)],
                3 => vec![Observation::text("safety", ALERT)],
                _ => vec![imu(t)],
            };
            let due: Vec<JobEvent> =
                pending.iter().filter(|(at, _)| *at == t).map(|(_, e)| e.clone()).collect();
            pending.retain(|(at, _)| *at != t);
            let r = k.tick_live(t as f64 * 0.05, &obs, t == 2 || t == 30, due, &mut NoExecutor);
            for d in &r.dispatched {
                pending.push((
                    t + 4,
                    JobEvent::Done { job: d.job, run: answer(&d.expert, d.grant / 3.0, "ok") },
                ));
            }
            for p in &r.preempted {
                pending.retain(|(_, e)| e.job() != p.job);
                pending.push((
                    t + 1,
                    JobEvent::Cancelled {
                        job: p.job,
                        run: answer("model", 0.1, "par"),
                        reason: p.reason.clone(),
                    },
                ));
            }
            assert!(k.ledger().imbalance().abs() < 1e-9);
            out.push(serde_json::to_string(&r).unwrap());
        }
        (out, k.state())
    };
    let (a, sa) = run();
    let (b, sb) = run();
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    assert!(a.iter().any(|r| r.contains("\"state\":\"CRISIS\"")), "the crises moved the kernel");
    assert!(a.iter().any(|r| r.contains("\"preempted\"")), "the crisis preempted something");
}

#[test]
fn an_ambiguous_text_waits_for_its_score_while_the_ticks_go_on() {
    let mut k = scoring_kernel();
    let (lo, hi) = k.config().semantic_band;
    // A text whose cheap salience is inside the semantic band.
    let text = "The charging dock of the robot looks shiny today";
    let r = k.tick_live(0.0, &[Observation::text("operator", text)], false, vec![], &mut NoExecutor);
    let cheap = r.observations[0].salience.unwrap().total;
    assert!((lo..=hi).contains(&cheap), "{cheap} is not ambiguous; pick another text");
    let sage_kernel::Attention::Scoring { job } = r.observations[0].attention else {
        panic!("{:?}", r.observations[0].attention)
    };
    assert_eq!(r.dispatched.len(), 1);
    assert_eq!(r.dispatched[0].kind, sage_kernel::JobKind::Score);
    assert!((k.ledger().reserved() - k.config().score_grant).abs() < 1e-9);
    assert!(r.runs.is_empty() && r.decisions.is_empty(), "not decided on before its score");
    // Sensors go on meanwhile.
    let r = k.tick_live(0.05, &[imu(1)], false, vec![], &mut NoExecutor);
    assert!(r.observations[0].salience.is_some());
    // The score says it matters: the text is offered with the blended salience and answered.
    let scored = JobEvent::Scored { job, score: Some(1.0), cost: 0.3 };
    let r = k.tick_live(0.1, &[], false, vec![scored], &mut NoExecutor);
    let o = r.observations.iter().find(|o| o.source == "operator").unwrap();
    assert_eq!(o.deferred_from, Some(1));
    assert!(o.salience.unwrap().total > cheap, "the score raised it");
    assert_eq!(o.attention, Attention::Attended);
    assert_eq!(r.dispatched.len(), 1);
    assert_eq!(r.dispatched[0].kind, sage_kernel::JobKind::Answer);
    assert!((r.atp.spent - 0.3).abs() < 1e-9, "the score's cost is what is spent");
    assert!((k.ledger().reserved() - r.dispatched[0].grant).abs() < 1e-9);
    assert!(k.ledger().imbalance().abs() < 1e-9);
    // A score that never comes (no model could score it) leaves the cheap salience.
    let r = k.tick_live(
        0.15,
        &[Observation::text("tablet", "The loading bay of the robot looks busy today")],
        false,
        vec![],
        &mut NoExecutor,
    );
    if let sage_kernel::Attention::Scoring { job } = r.observations[0].attention {
        let r = k.tick_live(
            0.2,
            &[],
            false,
            vec![JobEvent::Scored { job, score: None, cost: 0.0 }],
            &mut NoExecutor,
        );
        let o = r.observations.iter().find(|o| o.source == "tablet").unwrap();
        assert!(o.salience.unwrap().semantic.is_none(), "no score blended in");
    } else {
        panic!("the second text was not ambiguous: {:?}", r.observations[0]);
    }
    assert!(k.ledger().imbalance().abs() < 1e-9);
}

#[test]
fn a_question_waits_for_a_busy_model_for_seconds_not_ticks_and_its_expiry_is_counted() {
    let mut k = kernel(1);
    let r = k.tick_live(0.0, &[Observation::text("a", QUESTION)], false, vec![], &mut NoExecutor);
    let first = r.dispatched[0].job;
    let r = k.tick_live(
        0.05,
        &[Observation::text("b", "Where is the charging dock of the robot?")],
        false,
        vec![],
        &mut NoExecutor,
    );
    assert_eq!(r.observations[0].attention, Attention::Capped, "the model's one slot is busy");
    // Forty ticks at 20 Hz (two seconds) later the question is still held...
    let mut t = 0.05;
    for _ in 0..40 {
        t += 0.05;
        let r = k.tick_live(t, &[], false, vec![], &mut NoExecutor);
        assert_eq!(r.expired, 0);
    }
    // ...and goes to the model as soon as its slot frees.
    t += 0.05;
    let r = k.tick_live(
        t,
        &[],
        false,
        vec![JobEvent::Done { job: first, run: answer("model", 0.1, "80%") }],
        &mut NoExecutor,
    );
    assert_eq!(r.dispatched.len(), 1, "{r:#?}");
    assert_eq!(r.dispatched[0].input, Observation::text("b", "Where is the charging dock of the robot?"));
    // A question held past both horizons is given up on, and counted.
    let r = k.tick_live(
        t + 0.05,
        &[Observation::text("c", "Who moved the pallet in row 7 today?")],
        false,
        vec![],
        &mut NoExecutor,
    );
    assert_eq!(r.observations[0].attention, Attention::Capped);
    let r = k.tick_live(t + 20.0, &[], false, vec![], &mut NoExecutor);
    assert_eq!(r.observations.len(), 1, "still held after 10 s at the tenth tick? {r:#?}");
    let mut expired = 0;
    for i in 0..12 {
        expired += k.tick_live(t + 20.0 + i as f64, &[], false, vec![], &mut NoExecutor).expired;
    }
    assert_eq!(expired, 1);
}
