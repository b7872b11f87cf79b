//! Scale-free deviation of a sensor reading from what its source usually reads.
//!
//! Per source and per dimension: a level (an exponentially weighted mean that follows slow
//! drift), the noise around it (an exponentially weighted variance of the one-step prediction
//! errors, winsorized so that one outlier does not inflate it), and a slow "home" level. A
//! reading's deviation is the largest, over its dimensions, of `|x − level| / noise`: a number of
//! standard deviations, the same whatever the channel's units, offset or dimension count.
//!
//! - **Warm-up**: the first [`WARMUP`] readings estimate level and noise exactly (running mean and
//!   variance) and are never surprising.
//! - **Habituation**: a dimension that jumps by at least the surprise threshold takes its new
//!   value as its level at once (its noise estimate is left alone), so a jump that persists is
//!   news once, and the readings after it are normal.
//! - **Known levels**: the levels a source held recently (one remembered every
//!   [`SNAPSHOT_EVERY`] readings, and the level before every jump; [`KNOWN_LEVELS`] kept). A
//!   reading back at one of them is a return, not news.
//! - **Many dimensions**: the largest of D noise deviations grows with D; the threshold where
//!   deviation starts to count is the deviation that noise alone exceeds once in a thousand
//!   readings for D dimensions, and never below 4.5 (see [`threshold`]).

use std::collections::VecDeque;

/// Readings used to estimate level and noise before deviations count.
pub const WARMUP: u64 = 30;
/// Rate at which the level follows the readings (a drift slower than this is followed).
const LEVEL_RATE: f64 = 0.1;
/// Rate at which the noise estimate follows (about 200 readings of memory).
const NOISE_RATE: f64 = 0.01;
/// Rate of the slow home level.
const HOME_RATE: f64 = 0.01;
/// Levels remembered.
pub const KNOWN_LEVELS: usize = 8;
/// A level is remembered every this many readings.
pub const SNAPSHOT_EVERY: u64 = 25;
/// Deviations above this many noise units are clipped when they update the noise estimate.
const WINSOR: f64 = 4.0;
/// Largest deviation reported (a channel that never varied and then moved).
const Z_MAX: f64 = 1e6;
/// A deviation of this many standard deviations is fully surprising.
pub const Z_SALIENT: f64 = 6.0;
/// The deviation threshold is never lower than this.
const Z_FLOOR: f64 = 4.5;
/// Readings of pure noise whose largest deviation reaches the threshold: one in a thousand.
const FALSE_ALARM: f64 = 1e-3;

/// Where deviations start to count for a reading of `dims` dimensions: the two-sided normal
/// quantile of `FALSE_ALARM / dims` (noise alone reaches it once in a thousand readings),
/// at least 4.5. 4.5 for up to about 60 dimensions, 4.62 for 256.
pub fn threshold(dims: usize) -> f64 {
    let p = FALSE_ALARM / dims.max(1) as f64;
    normal_upper_quantile(p / 2.0).max(Z_FLOOR)
}

/// `z` with `P(Z > z) = p` for a standard normal (Abramowitz and Stegun 26.2.23, error below
/// 4.5e-4), for `p` in `(0, 0.5]`.
fn normal_upper_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-300, 0.5);
    let t = (-2.0 * p.ln()).sqrt();
    t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
}

/// How far a reading is from its source's levels, in noise units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deviation {
    /// From the current level (largest over dimensions).
    pub z: f64,
    /// From the nearest of the current and remembered levels.
    pub z_known: f64,
    /// From the slow home level.
    pub z_home: f64,
    /// Where deviations start to count for this many dimensions ([`threshold`]).
    pub threshold: f64,
    /// Level and noise are estimated (past the warm-up).
    pub warm: bool,
}

/// Level and noise of one source's dimensions.
#[derive(Debug, Clone)]
pub struct Levels {
    readings: u64,
    level: Vec<f64>,
    /// Variance of the prediction errors (during warm-up: the running sum of squares).
    var: Vec<f64>,
    home: Vec<f64>,
    known: VecDeque<Vec<f64>>,
}

impl Levels {
    /// Levels that start at `first`.
    pub fn new(first: &[f64]) -> Self {
        Self {
            readings: 1,
            level: first.to_vec(),
            var: vec![0.0; first.len()],
            home: first.to_vec(),
            known: VecDeque::with_capacity(KNOWN_LEVELS),
        }
    }

    /// Dimensions.
    pub fn dims(&self) -> usize {
        self.level.len()
    }

    fn noise(&self, d: usize) -> f64 {
        let var = if self.readings <= WARMUP && self.readings > 1 {
            self.var[d] / (self.readings - 1) as f64
        } else {
            self.var[d]
        };
        // A channel that never varied: any change is many deviations away, never a division
        // by zero.
        var.sqrt().max(1e-12 * self.level[d].abs()).max(f64::MIN_POSITIVE)
    }

    fn distance(&self, x: &[f64], to: &[f64]) -> f64 {
        x.iter()
            .zip(to)
            .enumerate()
            .map(|(d, (a, b))| ((a - b).abs() / self.noise(d)).min(Z_MAX))
            .fold(0.0, f64::max)
    }

    /// How far `x` is from the levels, then learn from it. `x` must have [`Levels::dims`]
    /// values.
    pub fn observe(&mut self, x: &[f64]) -> Deviation {
        let threshold = threshold(x.len());
        let warm = self.readings >= WARMUP;
        let z = self.distance(x, &self.level);
        let z_known = self.known.iter().map(|l| self.distance(x, l)).fold(z, f64::min);
        let z_home = self.distance(x, &self.home);
        self.learn(x, threshold);
        Deviation { z, z_known, z_home, threshold, warm }
    }

    fn learn(&mut self, x: &[f64], threshold: f64) {
        self.readings += 1;
        let n = self.readings;
        if n <= WARMUP {
            // Welford: exact running mean and sum of squared deviations.
            for (d, &v) in x.iter().enumerate() {
                let delta = v - self.level[d];
                self.level[d] += delta / n as f64;
                self.var[d] += delta * (v - self.level[d]);
                self.home[d] = self.level[d];
            }
            if n == WARMUP {
                // From now on `var` is the variance itself.
                for v in &mut self.var {
                    *v /= (n - 1) as f64;
                }
            }
            return;
        }
        let jumped: Vec<bool> =
            x.iter().enumerate().map(|(d, &v)| (v - self.level[d]).abs() / self.noise(d) >= threshold).collect();
        if jumped.iter().any(|&j| j) {
            self.remember(self.level.clone());
        }
        for (d, &v) in x.iter().enumerate() {
            let sd = self.noise(d);
            let e = v - self.level[d];
            if jumped[d] {
                // A new normal: the level moves at once; the noise is not the jump.
                self.level[d] = v;
            } else {
                let clipped = e.clamp(-WINSOR * sd, WINSOR * sd);
                self.var[d] += NOISE_RATE * (clipped * clipped - self.var[d]);
                self.level[d] += LEVEL_RATE * e;
            }
            self.home[d] += HOME_RATE * (v - self.home[d]);
        }
        if n % SNAPSHOT_EVERY == 0 {
            self.remember(self.level.clone());
        }
    }

    fn remember(&mut self, level: Vec<f64>) {
        if self.known.len() == KNOWN_LEVELS {
            self.known.pop_front();
        }
        self.known.push_back(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// Readings of `dims` dimensions around `offset` with noise `sigma`.
    fn noisy(rng: &mut Rng, dims: usize, offset: f64, sigma: f64) -> Vec<f64> {
        (0..dims).map(|_| offset + sigma * rng.normal()).collect()
    }

    #[test]
    fn thresholds_grow_with_dimensions_from_the_floor() {
        assert_eq!(threshold(1), 4.5);
        assert_eq!(threshold(16), 4.5);
        let t256 = threshold(256);
        assert!((4.55..4.7).contains(&t256), "{t256}");
        assert!(threshold(4096) > t256 && threshold(4096) < Z_SALIENT);
    }

    #[test]
    fn deviations_do_not_depend_on_units_or_offset() {
        for (scale, offset) in [(1e-3, 0.0), (1.0, 5.0), (1e3, -2e4)] {
            let mut rng = Rng::new(3);
            let mut l = Levels::new(&noisy(&mut rng, 4, offset, scale));
            let mut last = None;
            for _ in 0..200 {
                last = Some(l.observe(&noisy(&mut rng, 4, offset, scale)));
            }
            let mut jump = noisy(&mut rng, 4, offset, scale);
            jump[2] += 8.0 * scale;
            let d = l.observe(&jump);
            assert!(last.unwrap().z < 4.5);
            assert!((6.5..10.0).contains(&d.z), "scale {scale}: {d:?}");
        }
    }

    #[test]
    fn a_persisting_jump_is_news_once_and_a_return_is_known() {
        let mut rng = Rng::new(5);
        let mut l = Levels::new(&noisy(&mut rng, 3, 1.0, 0.1));
        for _ in 0..100 {
            l.observe(&noisy(&mut rng, 3, 1.0, 0.1));
        }
        let up = |rng: &mut Rng| {
            let mut v = noisy(rng, 3, 1.0, 0.1);
            v[0] += 1.0;
            v
        };
        let first = l.observe(&up(&mut rng));
        assert!(first.z >= 6.0 && first.z_known >= 6.0, "{first:?}");
        for _ in 0..2 {
            let next = l.observe(&up(&mut rng));
            assert!(next.z < first.threshold, "the new level is normal now: {next:?}");
        }
        let back = l.observe(&noisy(&mut rng, 3, 1.0, 0.1));
        assert!(back.z >= back.threshold, "{back:?}");
        assert!(back.z_known < back.threshold, "the old level is remembered: {back:?}");
    }

    #[test]
    fn nothing_counts_during_warm_up() {
        let mut l = Levels::new(&[0.0]);
        let d = l.observe(&[100.0]);
        assert!(!d.warm);
    }

    #[test]
    fn a_constant_channel_that_moves_is_far_not_infinite() {
        let mut l = Levels::new(&[2.0, 0.0]);
        for _ in 0..50 {
            l.observe(&[2.0, 0.0]);
        }
        let d = l.observe(&[2.0, 1.0]);
        assert!(d.z.is_finite() && d.z >= Z_SALIENT);
    }
}
