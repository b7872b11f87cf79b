use super::*;
use crate::atp::EntryKind;

fn kernel() -> Kernel {
    Kernel::new(KernelConfig::default()).unwrap()
}

#[test]
fn an_empty_tick_costs_the_base_cost_and_recovers() {
    let mut k = kernel();
    let r = k.tick(0.0, &[], false);
    assert_eq!(r.state, State::Wake);
    assert!((r.atp.base_cost - 0.5).abs() < 1e-12);
    assert!((r.atp.recovered - 0.1).abs() < 1e-12);
    assert!((k.ledger().balance() - 99.6).abs() < 1e-12);
    assert!(r.runs.is_empty() && r.decisions.is_empty());
    assert!(k.ledger().imbalance().abs() < 1e-9);
}

#[test]
fn salient_observations_are_routed_run_and_debited() {
    let mut k = kernel();
    let obs = [
        Observation::text("operator", "URGENT: smoke near the charging dock, stop the robot!"),
        Observation::text("log", "ok"),
    ];
    let r = k.tick(0.0, &obs, false);
    assert_eq!(r.observations[0].attention, Attention::Attended);
    assert_eq!(r.observations[0].class, "text.alert");
    assert_eq!(r.observations[1].attention, Attention::Ignored);
    assert_eq!(r.runs.len(), 1);
    let run = &r.runs[0];
    assert_eq!(run.observation, 0);
    assert!(run.telemetry.steps > 0);
    assert!((r.atp.spent - run.telemetry.atp_spent).abs() < 1e-12);
    assert!(run.telemetry.atp_spent <= run.allocated + run.reallocated + 1e-9);
    assert_eq!(r.decisions.len(), 1);
    let d = &r.decisions[0].decision;
    assert_eq!(r.decisions[0].used, d.chosen);
    assert_eq!(d.chosen.map(|id| k.expert_name(id).to_string()), Some(run.expert.clone()));
    assert_eq!(d.candidates.len(), 2, "both text experts serve text.alert");
    assert!(k.ledger().imbalance().abs() < 1e-9);
}

#[test]
fn invalid_observations_are_rejected_and_the_rest_still_counts() {
    let mut k = kernel();
    let obs = [
        Observation::sensor("lidar", vec![]),
        Observation::sensor("imu", vec![1.0, f64::INFINITY]),
        Observation::sensor("cam", vec![9.0, 9.0, 9.0]),
    ];
    let r = k.tick(0.0, &obs, false);
    assert!(matches!(r.observations[0].attention, Attention::Rejected { .. }));
    match &r.observations[1].attention {
        Attention::Rejected { error } => {
            assert!(error.contains("imu") && error.contains("not finite"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    assert!(r.observations[2].salience.is_some());
}

#[test]
fn no_debit_without_a_running_plugin() {
    let mut k = kernel();
    for t in 0..20 {
        let r = k.tick(t as f64, &[Observation::text("log", "ok")], false);
        assert_eq!(r.atp.spent, 0.0);
        assert!(r.runs.is_empty());
    }
    let plugin_entries = k.ledger().recent().filter(|e| e.kind == EntryKind::PluginSpend).count();
    assert_eq!(plugin_entries, 0);
}

#[test]
fn budget_left_by_an_early_finisher_goes_to_the_plugins_still_running() {
    let mut k = kernel();
    // The arm's usual readings (a first reading is not news: its noise must be known).
    let mut rng = crate::rng::Rng::new(4);
    for t in 0..40 {
        let calm: Vec<f64> = (0..48).map(|_| 0.01 * rng.normal()).collect();
        k.tick(t as f64, &[Observation::sensor("arm", calm)], false);
    }
    // A keyword job finishes in a couple of steps; a smoothing job runs long.
    let noisy: Vec<f64> = (0..48).map(|i| if i % 2 == 0 { 3.0 } else { -3.0 }).collect();
    let obs = [
        Observation::sensor("arm", noisy),
        Observation::text("operator", "Help! Emergency stop now, fire alarm!"),
    ];
    let r = k.tick(40.0, &obs, false);
    assert_eq!(r.runs.len(), 2, "{:?}", r.observations);
    let long = r.runs.iter().find(|x| x.class == "sensor").unwrap();
    let short = r.runs.iter().find(|x| x.class != "sensor").unwrap();
    assert!(short.telemetry.steps < long.telemetry.steps);
    assert!(long.reallocated > 0.0, "{long:?}");
    assert!(long.telemetry.atp_spent <= long.allocated + long.reallocated + 1e-9);
    let total_spent: f64 = r.runs.iter().map(|x| x.telemetry.atp_spent).sum();
    assert!(total_spent <= r.atp.allocated + 1e-9);
}

#[test]
fn dream_runs_no_plugins_and_feedback_waits_for_a_learning_state() {
    let mut k = Kernel::new(KernelConfig { atp_initial: 60.0, ..Default::default() }).unwrap();
    // Quiet until WAKE -> DREAM (quiet for 30 ticks with ATP in 40..80).
    let mut t = 0.0;
    while k.state() != State::Dream {
        k.tick(t, &[], false);
        t += 1.0;
        assert!(t < 200.0, "never dreamed");
    }
    k.feedback(Feedback {
        expert: Some("keywords".into()),
        class: Some("text.chat".into()),
        success: Some(false),
        quality: None,
        stream: None,
        reward: None,
    });
    let before = k.trust().entry(3, "text.chat").unwrap().samples;
    let r = k.tick(t, &[Observation::text("operator", "URGENT: collision! Stop now!")], false);
    assert_eq!(r.state, State::Dream);
    assert!(r.runs.is_empty());
    assert_eq!(r.observations[0].attention, Attention::Capped);
    assert_eq!(r.feedback_applied, 0);
    assert_eq!(k.trust().entry(3, "text.chat").unwrap().samples, before);
    // Back in a learning state the queued feedback is applied.
    let mut applied = 0;
    for _ in 0..100 {
        t += 1.0;
        applied += k.tick(t, &[], false).feedback_applied;
        if applied > 0 {
            break;
        }
    }
    assert_eq!(applied, 1);
    assert_eq!(k.trust().entry(3, "text.chat").unwrap().samples, before + 1);
}

#[test]
fn state_changes_apply_the_keep_hot_set() {
    let mut k = kernel();
    assert_eq!(k.resident(), vec!["intent"]);
    let r = k.tick(0.0, &[], true);
    assert_eq!(r.transition.map(|t| t.to), Some(State::Crisis));
    let mut names: Vec<&str> = k.resident();
    names.sort();
    assert_eq!(names, vec!["keywords", "smooth-lite"]);
    assert!(r
        .residency
        .iter()
        .any(|e| matches!(e, ResidencyEvent::Unload { expert, .. } if expert == "intent")));
}

#[test]
fn bad_configs_are_typed_errors() {
    let mut cfg = KernelConfig::default();
    cfg.experts.push(cfg.experts[0].clone());
    assert!(matches!(Kernel::new(cfg), Err(ConfigError::DuplicateExpert(_))));
    let cfg = KernelConfig { atp_initial: 500.0, ..KernelConfig::default() };
    assert!(matches!(Kernel::new(cfg), Err(ConfigError::OutOfRange { field: "atp_initial", .. })));
    for bad in [0.0, -0.2, 1.5, f64::NAN] {
        let mut cfg = KernelConfig::default();
        cfg.trust.relearn_above = Some(bad);
        assert!(matches!(
            Kernel::new(cfg),
            Err(ConfigError::OutOfRange { field: "trust.relearn_above", .. })
        ));
    }
    let mut cfg = KernelConfig::default();
    cfg.experts[0].classes.clear();
    assert!(matches!(Kernel::new(cfg), Err(ConfigError::NoClass(_))));
}

#[test]
fn same_seed_same_decisions() {
    let obs = |i: u32| {
        vec![
            Observation::sensor("imu", vec![(i as f64).sin(), (i as f64 * 0.3).cos(), 0.1 * i as f64]),
            Observation::text(
                "op",
                if i.is_multiple_of(7) { "Where is the robot going?" } else { "status ok" },
            ),
        ]
    };
    let run = || {
        let mut k = kernel();
        (0..60).map(|i| k.tick(i as f64, &obs(i), i == 40)).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

/// A scripted executor (a test double): the first external expert always fails, the others
/// spend half their grant and succeed.
struct Scripted {
    failing: &'static str,
    seen: Vec<Dispatch>,
}

impl Executor for Scripted {
    fn execute(&mut self, job: &Dispatch) -> ExternalRun {
        self.seen.push(job.clone());
        let mut failed = vec![];
        let mut used = job.expert.clone();
        if used == self.failing {
            failed.push((used.clone(), "load failed".to_string()));
            match job.alternatives.first() {
                Some(a) => used = a.clone(),
                None => {
                    return ExternalRun {
                        used: None,
                        failed,
                        telemetry: Telemetry::from_energies(
                            &used,
                            &[],
                            HaltReason::Error,
                            0.0,
                            job.grant,
                            0.0,
                        ),
                        quality: None,
                        output: String::new(),
                    }
                }
            }
        }
        let spent = job.grant / 2.0;
        ExternalRun {
            used: Some(used.clone()),
            failed,
            telemetry: Telemetry::from_energies(
                &used,
                &[3.0, 2.0],
                HaltReason::PluginDone,
                spent,
                spent,
                0.0,
            ),
            quality: Some(0.9),
            output: "an answer".into(),
        }
    }
}

fn external(name: &str, prior: f64) -> ExpertSpec {
    ExpertSpec {
        name: name.into(),
        role: "llm".into(),
        classes: classes(&[("text.alert", prior)]),
        bytes: 10 << 20,
        load_s: 0.1,
        plugin: Builtin::External,
        halt: HaltConfig::default(),
        slots: 1,
    }
}

#[test]
fn external_experts_are_dispatched_debited_and_fall_back_with_trust_recorded() {
    let config =
        KernelConfig { experts: vec![external("big", 0.9), external("small", 0.5)], ..Default::default() };
    let mut k = Kernel::new(config).unwrap();
    let mut ex = Scripted { failing: "big", seen: vec![] };
    let obs = [Observation::text("operator", "URGENT: smoke near the charging dock, stop the robot!")];
    let before = k.trust().trust(0, "text.alert");
    let r = k.tick_with(0.0, &obs, false, &mut ex);
    assert_eq!(ex.seen.len(), 1);
    assert_eq!(ex.seen[0].expert, "big");
    assert_eq!(ex.seen[0].alternatives, vec!["small".to_string()]);
    assert_eq!(r.runs.len(), 1);
    assert_eq!(r.runs[0].expert, "small", "the fallback is reported as the expert used");
    assert!((r.atp.spent - ex.seen[0].grant / 2.0).abs() < 1e-9);
    assert!(k.trust().trust(0, "text.alert") < before, "the failed expert loses trust");
    assert!(k.ledger().imbalance().abs() < 1e-9);

    // Without an executor, an external expert is never run and the observation is unrouted.
    let mut k =
        Kernel::new(KernelConfig { experts: vec![external("big", 0.9)], ..Default::default() }).unwrap();
    let r = k.tick(0.0, &obs, false);
    assert!(r.runs.is_empty());
    assert!(
        matches!(&r.observations[0].attention, Attention::Unrouted { why } if why.contains("no executor"))
    );
}

#[test]
fn a_capped_salient_observation_is_held_and_attended_later() {
    let mut k = kernel();
    // Four salient messages in WAKE (three plugins per tick): one is held for the next tick.
    let obs = vec![
        Observation::text("operator", "URGENT: smoke near the charging dock, stop the robot!"),
        Observation::text("supervisor", "DANGER: a pallet is falling in row 5, keep away!"),
        Observation::text("safety", "ALARM: fire in aisle 7, evacuate immediately!"),
        Observation::text("dock", "WARNING: forklift collision at gate 2, halt now!"),
    ];
    let r = k.tick(0.0, &obs, false);
    let capped: Vec<usize> = (0..4).filter(|&i| r.observations[i].attention == Attention::Capped).collect();
    assert_eq!(capped.len(), 1, "{:?}", r.observations);
    let r = k.tick(1.0, &[], false);
    assert_eq!(r.observations.len(), 1);
    assert_eq!(r.observations[0].deferred_from, Some(1));
    assert_eq!(r.observations[0].attention, Attention::Attended);
    assert_eq!(r.runs.len(), 1);
    let r = k.tick(2.0, &[], false);
    assert!(r.observations.is_empty(), "attended: no longer held");
}

/// Tick `k` with nothing until it dreams; the time of its next tick.
fn quiet_until_dream(k: &mut Kernel) -> f64 {
    let mut t = 0.0;
    while k.state() != State::Dream {
        k.tick(t, &[], false);
        t += 1.0;
        assert!(t < 500.0, "never dreamt");
    }
    t
}

#[test]
fn a_held_event_wakes_a_dreaming_kernel_and_is_then_attended() {
    let mut k = kernel();
    let t = quiet_until_dream(&mut k);
    let msg = [Observation::text("operator", "Stop at the loading dock and wait for the forklift.")];
    let r = k.tick(t, &msg, false);
    assert_eq!(r.observations[0].attention, Attention::Capped, "DREAM attends to nothing");
    let mut attended_at = None;
    for i in 1..=super::MAX_DEFER_TICKS {
        let r = k.tick(t + i as f64, &[], false);
        if r.observations.iter().any(|o| o.attention == Attention::Attended && o.deferred_from.is_some()) {
            attended_at = Some(i);
            break;
        }
    }
    assert!(attended_at.is_some(), "woken and attended within {} ticks", super::MAX_DEFER_TICKS);
    assert_ne!(k.state(), State::Dream);
}

#[test]
fn what_a_dream_holds_is_not_lost_when_it_does_not_wake_the_kernel() {
    // A kernel that wakes only for very salient events: an instruction (0.6) does not wake it,
    // and the dream lasts longer than a held observation's ten ticks; it is attended on waking.
    let mut config = KernelConfig::default();
    config.thresholds.wake_salience = 0.9;
    config.thresholds.dream_ticks = 30.0;
    config.thresholds.dream_wake_atp = 1000.0;
    let mut k = Kernel::new(config).unwrap();
    let t = quiet_until_dream(&mut k);
    let msg = [Observation::text("operator", "Stop at the loading dock and wait for the forklift.")];
    assert_eq!(k.tick(t, &msg, false).observations[0].attention, Attention::Capped);
    let mut attended_at = None;
    for i in 1..200u64 {
        let r = k.tick(t + i as f64, &[], false);
        if r.observations.iter().any(|o| o.attention == Attention::Attended && o.deferred_from.is_some()) {
            attended_at = Some(i);
            break;
        }
    }
    let i = attended_at.expect("attended once the kernel could run something");
    assert!(i > super::MAX_DEFER_TICKS, "held past ten ticks while dreaming ({i})");
    // The default wakes for whatever it would attend to.
    assert!(Thresholds::default().wake_salience <= KernelConfig::default().attention_threshold);
}

/// A scripted planner (a test double): answers every dispatch and proposes a fixed plan.
struct Planner {
    plan: Vec<f64>,
    grants: Vec<f64>,
}

impl Executor for Planner {
    fn execute(&mut self, job: &Dispatch) -> ExternalRun {
        self.grants.push(job.grant);
        ExternalRun {
            used: Some(job.expert.clone()),
            failed: vec![],
            telemetry: Telemetry::from_energies(
                &job.expert,
                &[2.0, 1.0],
                HaltReason::PluginDone,
                0.1,
                job.grant - 0.1,
                0.0,
            ),
            quality: Some(0.8),
            output: "ok".into(),
        }
    }
    fn plan(&mut self, _budget: f64, tasks: &[PlanTask]) -> Option<(Vec<f64>, f64)> {
        assert_eq!(tasks.len(), 2);
        Some((self.plan.clone(), 0.5))
    }
}

#[test]
fn a_plan_reallocates_within_the_budget_and_a_bad_one_is_rejected() {
    let obs = [
        Observation::text("operator", "URGENT: smoke near the charging dock, stop the robot!"),
        Observation::text("safety", "ALARM: fire in aisle 7, evacuate immediately!"),
    ];
    let config = || KernelConfig { experts: vec![external("llm", 0.9)], ..Default::default() };
    let mut k = Kernel::new(config()).unwrap();
    let mut p = Planner { plan: vec![1.0, 3.0], grants: vec![] };
    let r = k.tick_with(0.0, &obs, false, &mut p);
    assert!(matches!(r.plan, Some(PlanOutcome::Plan { cost, .. }) if cost == 0.5), "{:?}", r.plan);
    assert_eq!(p.grants.len(), 2);
    assert!(p.grants[1] > p.grants[0] * 1.5, "the plan moved ATP to the second task: {:?}", p.grants);
    assert!(p.grants.iter().sum::<f64>() <= r.atp.allocated + 1e-9);
    assert!(k.ledger().imbalance().abs() < 1e-9);

    let mut k = Kernel::new(config()).unwrap();
    let mut bad = Planner { plan: vec![f64::NAN, 1.0], grants: vec![] };
    let r = k.tick_with(0.0, &obs, false, &mut bad);
    assert!(
        matches!(&r.plan, Some(PlanOutcome::Rejected { why, .. }) if why.contains("not a number")),
        "{:?}",
        r.plan
    );
    assert!((bad.grants[0] - bad.grants[1]).abs() < bad.grants[0], "heuristic grants kept: {:?}", bad.grants);
}

#[test]
fn a_reading_that_confirms_a_change_names_the_tick_the_change_began() {
    let mut k = kernel();
    let mut rng = crate::rng::Rng::new(5);
    let reading = |rng: &mut crate::rng::Rng| (0..16).map(|_| rng.normal()).collect::<Vec<f64>>();
    let mut t = 0.0;
    for _ in 0..300 {
        k.tick(t, &[Observation::sensor("arm", reading(&mut rng))], false);
        t += 1.0;
    }
    // A jump whose first reading, with its noise, comes out under the threshold (3.6σ), and
    // whose second confirms it.
    let mut first = reading(&mut rng);
    first[7] = 3.6;
    let r = k.tick(t, &[Observation::sensor("arm", first)], false);
    let began = r.tick;
    assert_eq!(r.observations[0].attention, Attention::Ignored);
    assert_eq!(r.observations[0].onset, None);
    let mut second = reading(&mut rng);
    second[7] = 5.4;
    let r = k.tick(t + 1.0, &[Observation::sensor("arm", second)], false);
    let o = &r.observations[0];
    assert!(o.salience.is_some_and(|s| s.confirms), "{o:?}");
    assert_eq!(o.onset, Some(began));
    assert_eq!(o.attention, Attention::Attended);
}

#[test]
fn a_held_reading_replaced_by_a_more_salient_one_keeps_the_onset_of_the_first() {
    // A kernel that dreams long and wakes only for the most salient events: two jumps of one
    // sensor in a row, the second farther, are held through the dream, the second in the
    // first's place; attended on waking, it names the tick the first was read.
    let mut config = KernelConfig::default();
    config.thresholds.wake_salience = 0.99;
    config.thresholds.dream_ticks = 30.0;
    config.thresholds.dream_wake_atp = 1000.0;
    let mut k = Kernel::new(config).unwrap();
    let mut rng = crate::rng::Rng::new(9);
    let reading = |rng: &mut crate::rng::Rng| (0..4).map(|_| rng.normal()).collect::<Vec<f64>>();
    let mut t = 0.0;
    while k.state() != State::Dream {
        k.tick(t, &[Observation::sensor("arm", reading(&mut rng))], false);
        t += 1.0;
        assert!(t < 500.0, "never dreamt");
    }
    let mut first = reading(&mut rng);
    first[1] += 5.0;
    let r = k.tick(t, &[Observation::sensor("arm", first)], false);
    let began = r.tick;
    let held = &r.observations[0];
    assert_eq!(held.attention, Attention::Capped, "{held:?}");
    let mut second = reading(&mut rng);
    second[2] -= 8.0;
    let r = k.tick(t + 1.0, &[Observation::sensor("arm", second)], false);
    let replaced = r.observations.iter().find(|o| o.deferred_from.is_none()).unwrap();
    assert_eq!(replaced.attention, Attention::Capped, "{replaced:?}");
    assert!(replaced.salience.unwrap().total > held.salience.unwrap().total, "{replaced:?} {held:?}");
    let mut attended = None;
    for i in 2..200u64 {
        let r = k.tick(t + i as f64, &[Observation::sensor("arm", reading(&mut rng))], false);
        attended = r
            .observations
            .into_iter()
            .find(|o| o.deferred_from.is_some() && o.attention == Attention::Attended);
        if attended.is_some() {
            break;
        }
    }
    let o = attended.expect("attended once the kernel could run something");
    assert_eq!(o.deferred_from, Some(began + 1), "the reading held is the second one");
    assert_eq!(o.onset, Some(began), "the source's news began at the first");
}
