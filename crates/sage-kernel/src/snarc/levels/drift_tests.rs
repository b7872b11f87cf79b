use super::*;
use crate::rng::Rng;

#[test]
fn a_steady_drift_is_predicted_not_chased() {
    let mut rng = Rng::new(2);
    let at = |i: usize, rng: &mut Rng| [0.3 * i as f64 + rng.normal(), -0.1 * i as f64 + rng.normal()];
    let mut l = Levels::new(&at(0, &mut rng));
    let mut worst: f64 = 0.0;
    for i in 1..300 {
        let d = l.observe(&at(i, &mut rng));
        if i > 60 {
            worst = worst.max(d.z);
        }
    }
    assert!(worst < d_threshold(), "{worst}");
    let mut jump = at(300, &mut rng);
    jump[0] += 7.0;
    let d = l.observe(&jump);
    assert!((5.5..8.5).contains(&d.z), "{d:?}");
}

/// A level that moves (here a drift of 0.45σ a reading, predicted) is not "known" where it
/// was a few readings ago: a 7σ jump back toward it is news, not a return (a snapshot of
/// the level taken now and then made it one).
#[test]
fn a_jump_toward_where_a_moving_level_was_is_news() {
    let mut caught = 0;
    for seed in 0..20 {
        let mut rng = Rng::new(seed);
        let at = |i: usize, rng: &mut Rng| -> Vec<f64> {
            (0..4).map(|_| 0.45 * i as f64 + rng.normal()).collect()
        };
        let mut l = Levels::new(&at(0, &mut rng));
        for i in 1..58 {
            l.observe(&at(i, &mut rng));
        }
        let mut jump = at(58, &mut rng);
        jump[0] -= 7.0;
        caught += usize::from({
            let d = l.observe(&jump);
            d.warm && d.z >= d.threshold && !d.returned()
        });
    }
    assert!(caught >= 19, "{caught} of 20");
}

fn d_threshold() -> f64 {
    threshold(2, 1e9)
}
