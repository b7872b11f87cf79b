use super::*;

fn inputs(atp: f64, salience: f64) -> Inputs {
    Inputs { atp, salience, crisis: false, biases: Biases::NEUTRAL }
}

/// Drive the machine with the default policies' recovery and base cost plus `burn` ATP per tick
/// until `until` says stop; returns the transitions with the tick and ATP at which they happened.
fn simulate(
    m: &mut Machine,
    mut atp: f64,
    burn: f64,
    salience: f64,
    ticks: u32,
) -> Vec<(u32, State, State, f64)> {
    let p = Policies::default();
    let mut out = vec![];
    for tick in 1..=ticks {
        let pol = p.get(m.state());
        atp = (atp - burn - pol.base_cost).max(0.0);
        atp = (atp + pol.recovery).min(100.0);
        if let Some(t) = m.update(inputs(atp, salience)) {
            out.push((tick, t.from, t.to, atp));
        }
    }
    out
}

#[test]
fn high_salience_moves_wake_to_focus_after_the_dwell() {
    let mut m = Machine::new(Thresholds::default());
    for tick in 1..5 {
        assert_eq!(m.update(inputs(100.0, 0.9)), None, "tick {tick} is inside the dwell");
    }
    let t = m.update(inputs(100.0, 0.9)).expect("transition at tick 5");
    assert_eq!((t.from, t.to), (State::Wake, State::Focus));
}

#[test]
fn burning_atp_reaches_crisis() {
    let mut m = Machine::new(Thresholds::default());
    let tr = simulate(&mut m, 100.0, 5.0, 0.9, 40);
    assert_eq!(tr.first().map(|t| (t.1, t.2)), Some((State::Wake, State::Focus)));
    assert_eq!(m.state(), State::Crisis, "transitions: {tr:?}");
    let crisis = tr.iter().find(|t| t.2 == State::Crisis).expect("crisis");
    assert!(crisis.3 < 10.0);
}

#[test]
fn focus_goes_to_rest_when_atp_falls_below_15() {
    let mut m = Machine::new(Thresholds::default());
    for _ in 0..5 {
        m.update(inputs(100.0, 0.9));
    }
    assert_eq!(m.state(), State::Focus);
    for _ in 0..4 {
        assert_eq!(m.update(inputs(60.0, 0.9)), None);
    }
    let t = m.update(inputs(14.0, 0.9)).expect("transition");
    assert_eq!((t.from, t.to), (State::Focus, State::Rest));
    // Between 15 and 20 it goes to WAKE instead.
    let mut m = Machine::new(Thresholds::default());
    for _ in 0..10 {
        m.update(inputs(100.0, 0.9));
    }
    assert_eq!(m.state(), State::Focus);
    let t = m.update(inputs(17.0, 0.9)).expect("transition");
    assert_eq!((t.from, t.to), (State::Focus, State::Wake));
}

#[test]
fn recovery_goes_crisis_rest_dream_wake() {
    let mut m = Machine::new(Thresholds::default());
    assert_eq!(m.update(Inputs { crisis: true, ..inputs(5.0, 0.0) }).map(|t| t.to), Some(State::Crisis));
    let tr = simulate(&mut m, 5.0, 0.0, 0.0, 200);
    let path: Vec<(State, State)> = tr.iter().map(|t| (t.1, t.2)).take(3).collect();
    assert_eq!(
        path,
        vec![(State::Crisis, State::Rest), (State::Rest, State::Dream), (State::Dream, State::Wake)],
        "{tr:?}"
    );
    assert!(tr[0].3 > 15.0);
    assert!(tr[1].3 > 40.0);
}

#[test]
fn crisis_signal_overrides_the_dwell_and_holds() {
    let mut m = Machine::new(Thresholds::default());
    let t = m.update(Inputs { crisis: true, ..inputs(90.0, 0.1) }).expect("crisis at once");
    assert_eq!(t.to, State::Crisis);
    for _ in 0..20 {
        assert_eq!(m.update(Inputs { crisis: true, ..inputs(90.0, 0.1) }), None);
    }
    assert_eq!(m.update(inputs(90.0, 0.1)).map(|t| t.to), Some(State::Rest));
}

#[test]
fn circadian_biases_make_rest_easier_at_night() {
    let c = Circadian { period: 100 };
    let (day, night) = (c.biases(25), c.biases(75));
    assert!(day.wake > night.wake && day.focus > night.focus && night.dream > day.dream);
    assert_eq!(c.phase(25), Phase::Day);
    assert_eq!(c.phase(95), Phase::DeepNight);
    // ATP 25: by day WAKE holds (threshold 30/1.5 = 20), by night it rests (30/1 = 30).
    for (biases, expect) in [(day, None), (night, Some(State::Rest))] {
        let mut m = Machine::new(Thresholds::default());
        let mut last = None;
        for _ in 0..5 {
            last = m.update(Inputs { biases, ..inputs(25.0, 0.4) }).map(|t| t.to);
        }
        assert_eq!(last, expect);
    }
}

#[test]
fn legal_transitions_table() {
    use State::*;
    assert!(Crisis.can_go_to(Rest));
    assert!(!Crisis.can_go_to(Wake));
    assert!(!Focus.can_go_to(Dream));
    assert!(!Wake.can_go_to(Wake));
}

#[test]
fn a_salient_event_wakes_a_dream_at_once_and_nothing_else_cuts_the_dwell() {
    // Into DREAM from REST: ATP 45 (above 40) after more than 6 ticks of rest.
    let dream = || {
        let mut m = Machine::new(Thresholds::default());
        while m.state() != State::Rest {
            m.update(inputs(20.0, 0.0));
        }
        while m.state() != State::Dream {
            m.update(inputs(45.0, 0.0));
        }
        m
    };
    let mut m = dream();
    let t = m.update(inputs(45.0, Thresholds::default().wake_salience)).expect("woken inside the dwell");
    assert_eq!((t.from, t.to, t.rule), (State::Dream, State::Wake, Rule::WokenBySalience));
    // Under the wake salience, and with ATP under DREAM's floor, the dwell holds.
    let mut m = dream();
    assert_eq!(m.update(inputs(45.0, 0.3)), None);
    assert_eq!(m.update(inputs(35.0, 0.0)), None);
    assert_eq!(m.state(), State::Dream);
}
