use super::*;

fn frame1(s: &mut Snarc, v: &[f64]) -> Salience {
    s.assess_frame(&[("a", v)]).unwrap()[0]
}

#[test]
fn first_repeat_and_jump_follow_the_reference_shape() {
    let mut s = Snarc::new(SnarcConfig::default());
    let first = frame1(&mut s, &[1.0, 2.0, 3.0]);
    assert_eq!(first.dims.surprise, 0.0);
    assert_eq!(first.dims.novelty, 1.0);
    assert!((first.dims.arousal - 0.374).abs() < 1e-3);
    assert_eq!(first.dims.reward, 0.5);
    assert!((first.total - 0.375).abs() < 1e-3);
    let repeat = frame1(&mut s, &[1.0, 2.0, 3.0]);
    assert_eq!(repeat.dims.surprise, 0.0);
    assert!(repeat.dims.novelty < 1e-9);
    assert!(repeat.total < first.total);
    let jump = frame1(&mut s, &[-3.0, 0.5, 9.0]);
    assert!(jump.dims.surprise > 0.7, "{jump:?}");
    assert!(jump.dims.novelty > 0.1);
    assert!(jump.total > repeat.total);
    for x in [first, repeat, jump] {
        for d in x.dims.as_array() {
            assert!((0.0..=1.0).contains(&d));
        }
        assert!((0.0..=1.0).contains(&x.confidence));
    }
}

#[test]
fn surprise_uses_a_running_percentile_after_warmup() {
    let mut s = Snarc::new(SnarcConfig::default());
    for i in 0..40 {
        frame1(&mut s, &[1.0 + 0.01 * (i % 3) as f64, 2.0]);
    }
    let calm = frame1(&mut s, &[1.01, 2.0]);
    let shock = frame1(&mut s, &[9.0, -4.0]);
    assert!(calm.dims.surprise < 0.6);
    assert!(shock.dims.surprise > 0.95);
    assert!(shock.dims.arousal > 0.95);
}

#[test]
fn rewards_of_similar_past_outcomes_are_expected() {
    let mut s = Snarc::new(SnarcConfig::default());
    frame1(&mut s, &[1.0, 0.0]);
    s.record_outcome("a", 1.0);
    let similar = frame1(&mut s, &[1.0, 0.05]);
    assert!(similar.dims.reward > 0.85, "{similar:?}");
    s.record_outcome("a", -1.0);
    let t1 = s.assess_text("op", "the door is open", None);
    assert_eq!(t1.dims.reward, 0.5);
    s.record_outcome("op", -1.0);
    let t2 = s.assess_text("op", "the door is open again", None);
    assert!(t2.dims.reward < 0.2, "{t2:?}");
}

#[test]
fn conflict_rises_when_correlated_sensors_disagree() {
    let mut s = Snarc::new(SnarcConfig::default());
    for i in 0..30 {
        let x = 1.0 + (i as f64 * 0.7).sin();
        s.assess_frame(&[("left", &[x, 0.0]), ("right", &[x * 2.0, 0.0])]).unwrap();
    }
    let agree = s.assess_frame(&[("left", &[1.5, 0.0]), ("right", &[3.0, 0.0])]).unwrap();
    let mut last = agree.clone();
    for _ in 0..4 {
        last = s.assess_frame(&[("left", &[5.0, 0.0]), ("right", &[0.1, 0.0])]).unwrap();
    }
    assert!(last[0].dims.conflict > agree[0].dims.conflict + 0.2, "{agree:?} {last:?}");
    assert_eq!(last[0].dims.conflict, last[1].dims.conflict);
}

#[test]
fn text_detectors() {
    let mut s = Snarc::new(SnarcConfig::default());
    let routine = "battery status nominal, all systems normal";
    let a = s.assess_text("op", routine, None);
    let b = s.assess_text("op", routine, None);
    assert!(b.dims.surprise < 0.01 && b.dims.novelty < 0.01);
    assert!(b.total < a.total);
    let alert = s.assess_text("op", "URGENT: collision! Stop the robot now!", None);
    assert!(alert.dims.arousal > 0.8, "{alert:?}");
    assert!(alert.total > b.total + 0.3);
    let q = s.assess_text("op", "What is the battery level?", None);
    assert!(q.dims.reward >= 0.75);
    let c = s.assess_text("op", "No, that is wrong: the arm is not where the plan says, but elsewhere", None);
    assert_eq!(c.dims.conflict, 1.0);
    let empty = s.assess_text("op", "   ", None);
    assert_eq!(empty.dims.surprise, 0.0);
}

#[test]
fn semantic_blend_is_half_surprise_half_semantic() {
    let mut s = Snarc::new(SnarcConfig::default());
    let x = s.assess_text("op", "a brand new message", Some(0.8));
    assert!((x.total - (0.5 * x.dims.surprise + 0.4)).abs() < 1e-12);
    assert_eq!(x.semantic, Some(0.8));
    let y = s.assess_text("op", "another one", Some(7.0));
    assert_eq!(y.semantic, Some(1.0));
}

#[test]
fn invalid_vectors_are_typed_errors() {
    let mut s = Snarc::new(SnarcConfig::default());
    assert_eq!(s.assess_frame(&[("a", &[])]), Err(SnarcError::EmptyVector { sensor: "a".into() }));
    assert_eq!(
        s.assess_frame(&[("a", &[1.0, f64::NAN])]),
        Err(SnarcError::NotFinite { sensor: "a".into(), index: 1 })
    );
    // A shape change is surprising, not an error.
    frame1(&mut s, &[1.0, 2.0]);
    let changed = frame1(&mut s, &[1.0, 2.0, 3.0]);
    assert_eq!(changed.dims.surprise, 1.0);
}

#[test]
fn weights_learn_and_stay_normalised() {
    let mut s = Snarc::new(SnarcConfig::default());
    let d = Dims { surprise: 0.9, novelty: 0.1, arousal: 0.2, reward: 0.5, conflict: 0.0 };
    s.learn(&d, 1.0);
    assert!(s.weights().0[0] > 0.2);
    for _ in 0..500 {
        s.learn(&d, -1.0);
    }
    let w = s.weights().0;
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(w.iter().all(|x| *x >= MIN_WEIGHT - 1e-9));
    assert!(w[0] < 0.1);
    for _ in 0..500 {
        s.learn(&d, 1.0);
    }
    let w = s.weights().0;
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(w.iter().all(|x| *x >= MIN_WEIGHT - 1e-9), "{w:?}");
    s.learn(&d, f64::NAN);
}

#[test]
fn streams_named_by_clients_are_bounded() {
    let mut s = Snarc::new(SnarcConfig::default());
    for i in 0..3 * MAX_STREAMS {
        let name = format!("sensor-{i}");
        s.assess_frame(&[(name.as_str(), &[i as f64, 1.0][..]), ("imu", &[0.5, 0.5][..])])
            .unwrap_or_default();
        s.assess_text(&format!("user-{i}"), "status report, all quiet", None);
    }
    assert!(s.sensors.len() <= MAX_STREAMS, "{}", s.sensors.len());
    assert!(s.texts.len() <= MAX_STREAMS, "{}", s.texts.len());
    assert!(s.expected_corr.len() <= MAX_PAIRS);
    // A stream in steady use is never the one forgotten.
    assert!(s.sensors.contains_key("imu"));
}
