use super::*;

fn cand(id: u32, expertise: f64, resident: bool) -> Candidate {
    Candidate {
        id,
        expertise,
        trust: expertise,
        resident,
        cold_cost: 0.5,
        run_cost: 0.0,
        bytes: 1_000,
        fits: true,
        evicts: false,
        anchored: false,
        suppressed: false,
    }
}

fn ctx(state: State, swaps_left: u32) -> Context {
    Context { state, swaps_left, incumbent: None, exploration: false, prefer_light: None }
}

#[test]
fn resident_holds_until_the_1_8x_crossover() {
    for challenger in [0.6, 0.7, 0.85, 0.89, 0.9] {
        let mut s = Selector::new(SelectorConfig::default(), 1);
        let d = s.select(&ctx(State::Focus, 8), &[cand(0, 0.5, true), cand(1, challenger, false)]);
        assert_eq!(d.chosen, Some(0), "challenger {challenger}: {d:?}");
        assert!(!d.swap);
        let f = d.chosen_factors().unwrap();
        assert!((f.permission - 0.6).abs() < 1e-12);
        assert_eq!(d.reason, Some(Reason::Hysteresis { challenger: 1 }));
    }
    for challenger in [0.91, 0.95, 1.0] {
        let mut s = Selector::new(SelectorConfig::default(), 1);
        let d = s.select(&ctx(State::Focus, 8), &[cand(0, 0.5, true), cand(1, challenger, false)]);
        assert_eq!(d.chosen, Some(1), "challenger {challenger}");
        assert!(d.swap);
        assert_eq!(d.reason, Some(Reason::Best));
    }
}

#[test]
fn spent_swap_budget_blocks_the_cold_expert() {
    let mut s = Selector::new(SelectorConfig::default(), 1);
    let d = s.select(&ctx(State::Focus, 0), &[cand(0, 0.1, true), cand(1, 1.0, false)]);
    assert_eq!(d.chosen, Some(0));
    let cold = d.candidates[1];
    assert!((cold.permission - 1.0 / 11.0).abs() < 1e-12);
    assert!((d.candidates[0].permission - 0.12).abs() < 1e-12);
    // With swaps available again the cold expert wins: 1/1.5 = 0.667 > 0.12.
    let d = s.select(&ctx(State::Focus, 1), &[cand(0, 0.1, true), cand(1, 1.0, false)]);
    assert_eq!(d.chosen, Some(1));
}

#[test]
fn wake_prefers_the_lighter_expert_unless_the_heavy_one_is_1_5x_better() {
    let light = Candidate { bytes: 100, ..cand(0, 0.5, true) };
    let heavy = Candidate { bytes: 10_000, ..cand(1, 0.7, true) };
    let mut s = Selector::new(SelectorConfig::default(), 1);
    let c = Context { incumbent: Some(1), ..ctx(State::Wake, 8) };
    let d = s.select(&c, &[light, heavy]);
    assert_eq!(d.chosen, Some(0));
    assert_eq!(d.reason, Some(Reason::WakePrefersLighter { over: 1 }));
    // In FOCUS the heavy one keeps it.
    let d = Selector::new(SelectorConfig::default(), 1)
        .select(&Context { state: State::Focus, ..c }, &[light, heavy]);
    assert_eq!(d.chosen, Some(1));
    // 0.8 >= 1.5 x 0.5: heavy wins in WAKE too.
    let heavy = Candidate { expertise: 0.8, trust: 0.8, ..heavy };
    let d = Selector::new(SelectorConfig::default(), 1).select(&c, &[light, heavy]);
    assert_eq!(d.chosen, Some(1));
}

#[test]
fn wake_keeps_a_resident_expert_another_class_relies_on() {
    // The lighter one is cold and would evict the resident heavy one.
    let light = Candidate { bytes: 100, evicts: true, ..cand(0, 0.5, false) };
    let heavy = Candidate { bytes: 10_000, ..cand(1, 0.6, true) };
    let c = Context { incumbent: Some(1), ..ctx(State::Wake, 8) };
    // Nobody else relies on the heavy one: WAKE takes the lighter one.
    let d = Selector::new(SelectorConfig::default(), 1).select(&c, &[light, heavy]);
    assert_eq!(d.chosen, Some(0));
    assert_eq!(d.reason, Some(Reason::WakePrefersLighter { over: 1 }));
    // Another class's incumbent: it stays.
    let anchored = Candidate { anchored: true, ..heavy };
    let d = Selector::new(SelectorConfig::default(), 1).select(&c, &[light, anchored]);
    assert_eq!(d.chosen, Some(1));
    // Unless the lighter one fits beside it.
    let beside = Candidate { evicts: false, ..light };
    let d = Selector::new(SelectorConfig::default(), 1).select(&c, &[beside, anchored]);
    assert_eq!(d.chosen, Some(0));
}

#[test]
fn a_load_does_not_evict_what_another_class_relies_on_for_a_small_gain() {
    let cfg = SelectorConfig {
        persistence: 1.0,
        wake_light_ratio: 1.05,
        epsilon: 0.0,
        ..SelectorConfig::default()
    };
    // FOCUS: the cold winner is 3% better than the resident model another class relies on.
    let resident = Candidate { anchored: true, ..cand(0, 0.93, true) };
    let cold = Candidate { evicts: true, cold_cost: 0.0, ..cand(1, 0.96, false) };
    let pick = |a: Candidate, b: Candidate| Selector::new(cfg, 1).select(&ctx(State::Focus, 8), &[a, b]);
    let d = pick(resident, cold);
    assert_eq!((d.chosen, d.reason), (Some(0), Some(Reason::KeptAnchored { over: 1 })));
    assert!(!d.swap);
    // Clearly better (by more than the ratio): it loads.
    let d = pick(resident, Candidate { expertise: 0.99, trust: 0.99, ..cold });
    assert_eq!((d.chosen, d.reason), (Some(1), Some(Reason::Best)));
    // Nobody relies on the resident one, or the load evicts nothing: it loads.
    assert_eq!(pick(Candidate { anchored: false, ..resident }, cold).chosen, Some(1));
    assert_eq!(pick(resident, Candidate { evicts: false, ..cold }).chosen, Some(1));
    // A resident model useless for this class (chat's cheap model on alerts) is anchored; a
    // model that fits beside it and is within the ratio of the cold winner answers, loaded,
    // instead of the winner evicting it (the routing families' fast-but-wrong zoos).
    let useless = Candidate { anchored: true, ..cand(0, 0.15, true) };
    let beside = Candidate { evicts: false, cold_cost: 0.0, ..cand(2, 0.94, false) };
    let d = Selector::new(cfg, 1).select(&ctx(State::Focus, 8), &[useless, cold, beside]);
    assert_eq!((d.chosen, d.reason), (Some(2), Some(Reason::KeptAnchored { over: 1 })));
    assert!(d.swap);
    // Not within the ratio: the winner loads.
    let weak = Candidate { expertise: 0.85, trust: 0.85, ..beside };
    let d = Selector::new(cfg, 1).select(&ctx(State::Focus, 8), &[useless, cold, weak]);
    assert_eq!(d.chosen, Some(1));
}

#[test]
fn trust_floor_and_suppression() {
    // A cheap resident with trust 0.2 gives way to a trusted cold one.
    let cheap = Candidate { expertise: 0.6, trust: 0.2, ..cand(0, 0.6, true) };
    let trusted = Candidate { expertise: 0.5, trust: 0.5, ..cand(1, 0.5, false) };
    let mut s = Selector::new(SelectorConfig::default(), 1);
    let d = s.select(&ctx(State::Focus, 8), &[cheap, trusted]);
    assert_eq!(d.chosen, Some(1));
    assert_eq!(d.reason, Some(Reason::TrustFloor { over: 0 }));
    // A suppressed expert is listed but never chosen.
    let d = s.select(
        &ctx(State::Focus, 8),
        &[Candidate { suppressed: true, ..cand(0, 1.0, true) }, cand(1, 0.2, false)],
    );
    assert_eq!(d.chosen, Some(1));
    assert_eq!(d.candidates[0].excluded, Some(Exclusion::Suppressed));
    // Nothing to choose.
    let d = s.select(&ctx(State::Focus, 8), &[Candidate { suppressed: true, ..cand(0, 1.0, true) }]);
    assert_eq!((d.chosen, d.reason), (None, Some(Reason::NoCandidate)));
}

#[test]
fn crisis_never_explores() {
    let cfg = SelectorConfig { epsilon: 1.0, ..SelectorConfig::default() };
    let mut s = Selector::new(cfg, 3);
    let c = Context { exploration: true, ..ctx(State::Crisis, 8) };
    for _ in 0..100 {
        let d = s.select(&c, &[cand(0, 0.9, true), cand(1, 0.1, true), cand(2, 0.2, false)]);
        assert_eq!(d.chosen, Some(0));
    }
    let c = Context { state: State::Focus, ..c };
    let explored = (0..100)
        .filter(|_| s.select(&c, &[cand(0, 0.9, true), cand(1, 0.1, true)]).chosen == Some(1))
        .count();
    assert!(explored > 20, "{explored}");
}
