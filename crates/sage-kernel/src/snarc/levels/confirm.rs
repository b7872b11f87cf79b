//! A change confirmed at its second reading: a dimension whose deviation lies under the
//! threshold, but past the confirmation threshold on the same side two readings running, with
//! the pair's mean or the second reading past the threshold for normal noise, changed (a jump
//! whose first reading, with its own noise, fell short of the threshold). And whether a
//! source's noise is white enough that a reading which may begin a change holds its level.

use super::{pool, Levels, Z_MAX};

/// Readings of pure noise in which some dimension lies past the confirmation threshold
/// ([`confirm_threshold`]) on the same side two readings running: one in ten thousand.
const PAIR_FALSE_ALARM: f64 = 1e-4;

/// The most a source's prediction errors may remember ([`Levels::memory`], the mean product of
/// consecutive errors' signs) for a reading that may begin a change to hold the level: noise
/// with memory (a filtered IMU, a low-passed range, a cycle's remains) lies on one side for
/// readings running, and a level held for it would make pairs of its readings news. 0.15 is
/// a lag-1 correlation of 0.23.
pub(super) const WHITE: f64 = 0.15;

/// Where a deviation under [`super::threshold`] may be the first reading of a change: noise
/// alone puts some one of `dims` dimensions past it, on the same side, two readings running
/// once in [`PAIR_FALSE_ALARM`]⁻¹ readings (each reading beyond it on one side with probability
/// `√(PAIR_FALSE_ALARM / 2 dims)`), as Student's t has it for `dof` degrees of freedom: for 16
/// dimensions 2.9 once the noise is well known (one dimension 2.5, 256 dimensions 3.3). A jump
/// whose first reading, with its own noise, falls under [`super::threshold`] is news at its
/// second ([`super::Deviation::confirmed`]).
pub fn confirm_threshold(dims: usize, dof: f64) -> f64 {
    let one_side = (PAIR_FALSE_ALARM / (2.0 * dims.max(1) as f64)).sqrt();
    pool::t_two_sided_quantile(2.0 * one_side, dof)
}

/// The lag-1 correlation of a dimension's warm-up readings `xs` about their fit, from the
/// noise seen from reading to reading ([`super::super::warmup::local_sd`]) against the fit's
/// residual variance `var`: `1 - local² / var` (what is left between readings of noise with
/// memory is less than its spread). None for a held or quantised dimension.
pub(super) fn lag_correlation(xs: &[f64], var: f64) -> Option<f64> {
    let local = super::super::warmup::local_sd(xs)?;
    (var > 0.0).then(|| 1.0 - local * local / var)
}

/// A dimension whose last reading lay between [`confirm_threshold`] and [`super::threshold`]:
/// the possible first reading of a change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Pending {
    pub(super) dim: usize,
    /// Its deviation, signed.
    z: f64,
    /// The dimension's noise variance before that reading taught it (a change's first reading
    /// is not noise).
    var: f64,
}

/// A change a reading confirmed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Confirmed {
    pub(super) dim: usize,
    /// The dimension's noise variance before the change's first reading.
    pub(super) var: f64,
    /// The two readings' mean deviation.
    pub(super) z: f64,
}

impl Levels {
    /// Whether the source's prediction errors are about white ([`WHITE`]).
    pub(super) fn white(&self) -> bool {
        self.memory < WHITE
    }

    /// The dimensions whose last reading lay between [`confirm_threshold`] and `threshold` and
    /// whose reading `x` lies past the confirmation threshold again, on the same side, the two
    /// readings' mean or this one's deviation past `base` (the threshold for normal noise;
    /// [`super::tails`] may have raised `threshold` above it). The dimensions that may begin a
    /// change at `x` are kept for the next reading.
    pub(super) fn confirm(&mut self, x: &[f64], base: f64, threshold: f64) -> Vec<Confirmed> {
        let confirm_at = confirm_threshold(x.len(), self.dof(true));
        let before = std::mem::take(&mut self.pending);
        let mut confirmed = Vec::new();
        for (d, &v) in x.iter().enumerate() {
            let z = ((v - self.level[d]) / self.noise(d)).clamp(-Z_MAX, Z_MAX) * self.weight(d);
            if z.abs() < confirm_at {
                continue;
            }
            let first = before.iter().find(|p| p.dim == d && p.z.signum() == z.signum());
            match first.map(|p| (p, (p.z.abs() + z.abs()) / 2.0)) {
                Some((p, mean)) if mean >= base || z.abs() >= base => {
                    confirmed.push(Confirmed { dim: d, var: p.var, z: mean })
                }
                Some(_) => {}
                None if z.abs() < threshold => self.pending.push(Pending { dim: d, z, var: self.var[d] }),
                None => {}
            }
        }
        confirmed
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::lag_correlation;
    use crate::rng::Rng;

    /// Levels of 16 dimensions after 300 readings of `noise` (one value a reading per
    /// dimension, of unit variance).
    fn settled(noise: &mut dyn FnMut(usize) -> f64) -> Levels {
        let mut l = Levels::new(&(0..16).map(&mut *noise).collect::<Vec<_>>());
        for _ in 0..300 {
            l.observe(&(0..16).map(&mut *noise).collect::<Vec<_>>());
        }
        l
    }

    /// Dimension 7 `z` of its noise from its prediction, the others at theirs.
    fn off_by(l: &Levels, z: f64) -> Vec<f64> {
        let mut x = l.prediction().to_vec();
        x[7] += z * l.noise_sd(7);
        x
    }

    #[test]
    fn a_reading_that_may_begin_a_change_holds_the_level_of_white_noise_and_not_of_noise_with_memory() {
        let mut rng = Rng::new(3);
        let mut l = settled(&mut |_| rng.normal());
        assert!(l.white(), "memory {}", l.memory);
        // 3.5σ: past the confirmation threshold (2.9), under the threshold (4.1).
        let before = l.prediction()[7];
        let first = l.observe(&off_by(&l, 3.5));
        assert_eq!(first.confirmed, 0.0, "{first:?}");
        assert!((l.prediction()[7] - before).abs() < 0.01 * l.noise_sd(7), "the level moved");
        // The second reading is judged against the level the first left alone: 3.5σ and 4.8σ
        // make a pair whose mean is past the threshold.
        let mut x = l.prediction().to_vec();
        x[7] = before + 4.8 * l.noise_sd(7);
        let second = l.observe(&x);
        assert!(second.confirmed >= second.threshold, "{second:?}");

        // AR(1) of coefficient 0.8, scaled to unit variance: its runs of one sign are noise,
        // and the level follows a reading past the confirmation threshold.
        let mut state = [0.0f64; 16];
        let scale = (1.0f64 - 0.64).sqrt();
        let mut l = settled(&mut |d| {
            state[d] = 0.8 * state[d] + scale * rng.normal();
            state[d]
        });
        assert!(!l.white(), "memory {}", l.memory);
        let before = l.prediction()[7];
        l.observe(&off_by(&l, 3.5));
        assert!((l.prediction()[7] - before).abs() > 0.01 * l.noise_sd(7), "the level stayed");
    }

    #[test]
    fn the_warm_up_says_whether_the_noise_has_memory() {
        let mut rng = Rng::new(3);
        let white: Vec<f64> = (0..30).map(|_| rng.normal()).collect();
        let var = white.iter().map(|x| x * x).sum::<f64>() / 30.0;
        assert!(lag_correlation(&white, var).is_some_and(|r| r.abs() < 0.4));
        let slow: Vec<f64> = (0..30).map(|i| (i as f64 / 10.0).sin()).collect();
        let var = slow.iter().map(|x| x * x).sum::<f64>() / 30.0;
        assert!(lag_correlation(&slow, var).is_some_and(|r| r > 0.9));
        assert_eq!(lag_correlation(&[1.0; 30], 0.0), None);
    }
}
