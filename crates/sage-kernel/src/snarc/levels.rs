//! Scale-free deviation of a sensor reading from what its source usually reads.
//!
//! Per source and per dimension: a level with a trend (Holt's double exponential smoothing, so
//! that a steady drift is predicted, not chased), the noise around it (an exponentially weighted
//! variance of the one-step prediction errors, winsorized so that one outlier does not inflate
//! it), and a slow "home" level. A reading's deviation is the largest, over its dimensions, of
//! `|x − predicted| / noise`: a number of standard deviations, the same whatever the channel's
//! units, offset or dimension count.
//!
//! - **Warm-up**: the first [`WARMUP`] readings estimate level, trend and noise by a fit robust
//!   to jumps, spikes and shifts among them ([`super::warmup`]; a least-squares line took a
//!   jump of 10σ for four of them as noise three times too large). The first [`EARLY`] are
//!   never surprising; from there to the end of the warm-up a reading is judged against the
//!   fit of the readings before it, with a threshold widened for so few.
//! - **Habituation**: a dimension that jumps by at least the surprise threshold takes its new
//!   value as its level at once, then the mean of the readings since (its noise estimate is left
//!   alone), so a jump that persists is news once, and the readings after it are normal.
//! - **Known levels**: the levels a source left recently (the level left by every jump, and the
//!   settled level every [`SNAPSHOT_EVERY`] readings; at most [`KNOWN_LEVELS`]). A reading back
//!   at one of them is a return, not news. A level held for [`KNOWN_FOR`] readings or more (a
//!   baseline) is known for [`KNOWN_FOR`] readings after it is left, so the return from a jump
//!   is no news; a level held shorter (a jump's) for [`TRANSIENT_FOR`], so a signal that flips
//!   from reading to reading between two levels is news once, while the same jump a few
//!   readings later is news again.
//! - **Many dimensions**: the largest of D noise deviations grows with D; the threshold where
//!   deviation starts to count is the deviation that noise alone exceeds once in a thousand
//!   readings for D dimensions, and never below 4 (see [`threshold`]).

use std::collections::VecDeque;

/// Readings used to estimate level and noise before the estimates settle into their running
/// form.
pub const WARMUP: u64 = 30;
/// Readings after which deviations count during the warm-up too, against the robust fit of the
/// readings so far and a threshold widened for so few (5.5σ falling to 4.7σ for a few
/// dimensions).
pub const EARLY: u64 = 15;
/// Dimensions of a reading judged during the warm-up (the farthest from their running mean).
pub const EARLY_DIMS: usize = 64;
/// Rate at which the level follows the readings (a drift slower than this is followed).
const LEVEL_RATE: f64 = 0.05;
/// Rate at which the noise estimate follows (about 200 readings of memory).
const NOISE_RATE: f64 = 0.01;
/// Rate at which the trend follows the prediction errors.
const TREND_RATE: f64 = 0.002;
/// Rate of the slow home level.
const HOME_RATE: f64 = 0.01;
/// Levels remembered.
pub const KNOWN_LEVELS: usize = 8;
/// Readings a level is remembered for once left, when it had been held for at least as long (a
/// baseline: coming back to it is no news).
pub const KNOWN_FOR: u64 = 10;
/// Readings a level held for less than [`KNOWN_FOR`] is remembered for: long enough that a
/// flip-flop between two levels is news once, short enough that a jump repeated a few readings
/// later is news again.
pub const TRANSIENT_FOR: u64 = 2;

/// A level is remembered every this many readings.
pub const SNAPSHOT_EVERY: u64 = 25;
/// Deviations above this many noise units are clipped when they update the noise estimate.
const WINSOR: f64 = 4.0;
/// Largest deviation reported (a channel that never varied and then moved).
const Z_MAX: f64 = 1e6;
/// A deviation of this many standard deviations is fully surprising.
pub const Z_SALIENT: f64 = 6.0;
/// The deviation threshold is never lower than this (noise alone reaches 4σ in one of 16
/// dimensions once in a thousand readings; a floor of 4.5 missed one 6–8σ jump in 20 of an
/// independent scenario's, decision 0013).
const Z_FLOOR: f64 = 4.0;
/// Readings of pure noise whose largest deviation reaches the threshold: one in a thousand.
const FALSE_ALARM: f64 = 1e-3;

/// Where deviations start to count for a reading of `dims` dimensions after `readings`
/// readings: the two-sided normal quantile of `FALSE_ALARM / dims` (noise alone reaches it once
/// in a thousand readings), at least 4 (4 for up to 16 dimensions, 4.26 for 48, 4.62 for 256),
/// widened for a noise estimated from few readings as Student's t is (Cornish-Fisher to the
/// second term: `q × (1 + (q² + 1) / 4ν + (5q⁴ + 16q² + 3) / 96ν²)`, ν the readings behind the
/// estimate, at most the noise estimate's memory; within 1.5% of t's quantile from ν = 14):
/// 39% wider at the 15th reading, 17% at the end of the warm-up, 2% once the estimate is
/// settled (few dimensions).
pub fn threshold(dims: usize, readings: u64) -> f64 {
    let p = FALSE_ALARM / dims.max(1) as f64;
    let q = normal_upper_quantile(p / 2.0).max(Z_FLOOR);
    let memory = (2.0 / NOISE_RATE - 1.0) as u64;
    let nu = readings.saturating_sub(1).clamp(1, memory) as f64;
    q * (1.0 + (q * q + 1.0) / (4.0 * nu) + (5.0 * q.powi(4) + 16.0 * q * q + 3.0) / (96.0 * nu * nu))
}

/// `z` with `P(Z > z) = p` for a standard normal (Abramowitz and Stegun 26.2.23, error below
/// 4.5e-4), for `p` in `(0, 0.5]`.
fn normal_upper_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-300, 0.5);
    let t = (-2.0 * p.ln()).sqrt();
    t - (2.515517 + 0.802853 * t + 0.010328 * t * t)
        / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
}

/// Readings a level held for `held` readings is remembered for once left.
fn remembered_for(held: u64) -> u64 {
    if held >= KNOWN_FOR {
        KNOWN_FOR
    } else {
        TRANSIENT_FOR
    }
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
    /// Level and noise are estimated well enough for deviations to count (from the reading after
    /// the [`EARLY`]th).
    pub warm: bool,
}

impl Deviation {
    /// The reading is back at a level the source held recently: within the threshold of it,
    /// and clearly nearer to it than to the current level (by at least [`RETURN_MARGIN`]
    /// deviations; a new jump is about as far from every recent level).
    pub fn returned(&self) -> bool {
        self.z_known < self.threshold && self.z_known + RETURN_MARGIN < self.z
    }
}

/// How much nearer to a known level than to the current one a return must be, in deviations.
const RETURN_MARGIN: f64 = 1.0;

/// Level and noise of one source's dimensions.
#[derive(Debug, Clone)]
pub struct Levels {
    readings: u64,
    /// The prediction for the next reading (during warm-up: the running mean).
    level: Vec<f64>,
    /// Change per reading.
    trend: Vec<f64>,
    /// Variance of the prediction errors (during warm-up: the running sum of squares).
    var: Vec<f64>,
    /// During warm-up: the readings so far, for the robust fit at its end ([`super::warmup`]).
    warmup: Vec<Vec<f64>>,
    home: Vec<f64>,
    /// `(level, reading when it was left, readings it had been held for)`.
    known: VecDeque<(Vec<f64>, u64, u64)>,
    /// Readings since a jump last moved the level.
    since_jump: u64,
    /// Per dimension: readings the level has averaged since a jump set it from one reading (0:
    /// settled, following at [`LEVEL_RATE`]).
    settling: Vec<u64>,
}

impl Levels {
    /// Levels that start at `first`.
    pub fn new(first: &[f64]) -> Self {
        Self {
            readings: 1,
            level: first.to_vec(),
            trend: vec![0.0; first.len()],
            var: vec![0.0; first.len()],
            warmup: vec![first.to_vec()],
            home: first.to_vec(),
            known: VecDeque::with_capacity(KNOWN_LEVELS),
            since_jump: 0,
            settling: vec![0; first.len()],
        }
    }

    /// Dimensions.
    pub fn dims(&self) -> usize {
        self.level.len()
    }

    fn noise(&self, d: usize) -> f64 {
        // Until the warm-up's last reading, `var` is Welford's sum of squares.
        let var = if self.readings < WARMUP && self.readings > 1 {
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
        let threshold = threshold(x.len(), self.readings);
        let warm = self.readings >= WARMUP;
        if !warm && self.readings >= EARLY {
            let deviation = self.early(x, threshold);
            self.learn(x, threshold, None);
            return deviation;
        }
        let z = self.distance(x, &self.level);
        let nearest = self
            .known
            .iter()
            .enumerate()
            .filter(|(_, (_, at, held))| self.readings - at <= remembered_for(*held))
            .map(|(i, (l, _, _))| (self.distance(x, l), i))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let z_known = nearest.map_or(z, |(k, _)| k.min(z));
        let z_home = self.distance(x, &self.home);
        let deviation = Deviation { z, z_known, z_home, threshold, warm };
        // Back at a known level: that level, estimated over many readings, is restored.
        let back_to = nearest.filter(|_| warm && deviation.returned()).map(|(_, i)| i);
        self.learn(x, threshold, back_to);
        deviation
    }

    fn learn(&mut self, x: &[f64], threshold: f64, back_to: Option<usize>) {
        self.readings += 1;
        let n = self.readings;
        if n <= WARMUP {
            // Welford: running means and sums of squares (what the warm-up reports), and the
            // readings for the fit at its end.
            for (d, &v) in x.iter().enumerate() {
                let delta = v - self.level[d];
                self.level[d] += delta / n as f64;
                self.var[d] += delta * (v - self.level[d]);
                self.home[d] = self.level[d];
            }
            self.warmup.push(x.to_vec());
            if n == WARMUP {
                self.settle_warmup();
            }
            return;
        }
        let jumped: Vec<bool> = x
            .iter()
            .enumerate()
            .map(|(d, &v)| (v - self.level[d]).abs() / self.noise(d) >= threshold)
            .collect();
        let restored = back_to
            .and_then(|i| self.known.get(i))
            .map(|(l, at, held)| (l.clone(), self.readings - at, *held));
        if jumped.iter().any(|&j| j) {
            self.remember(self.level.clone(), self.since_jump + 1);
            // Back at a known level, it has been held for as long as it was before.
            self.since_jump = restored.as_ref().map_or(0, |(_, _, held)| *held);
        } else {
            self.since_jump += 1;
        }
        for (d, &v) in x.iter().enumerate() {
            let sd = self.noise(d);
            let e = v - self.level[d];
            if jumped[d] {
                // A new normal: the level moves at once (to the known level it came back to, or
                // to the reading, and then averages the readings that follow); the noise is not
                // the jump.
                (self.level[d], self.settling[d]) = match &restored {
                    Some((known, age, _)) => (known[d] + self.trend[d] * *age as f64, 0),
                    None => (v + self.trend[d], 1),
                };
            } else {
                // While settling, the level is the mean of the readings since the jump: its
                // error adds 1/k of the noise's variance to the reading's, which the noise
                // estimate leaves out.
                let k = self.settling[d];
                let (rate, spread) = if k > 0 {
                    (1.0 / (k + 1) as f64, (1.0 + 1.0 / k as f64).sqrt())
                } else {
                    (LEVEL_RATE, 1.0)
                };
                self.settling[d] = if k > 0 && rate > LEVEL_RATE { k + 1 } else { 0 };
                let clipped = (e / spread).clamp(-WINSOR * sd, WINSOR * sd);
                self.var[d] += NOISE_RATE * (clipped * clipped - self.var[d]);
                self.trend[d] += TREND_RATE * e;
                self.level[d] += rate.max(LEVEL_RATE) * e + self.trend[d];
            }
            self.home[d] += HOME_RATE * (v - self.home[d]) + self.trend[d];
        }
        if self.since_jump > 0 && self.since_jump.is_multiple_of(SNAPSHOT_EVERY) {
            self.remember(self.level.clone(), self.since_jump);
        }
    }

    /// A reading from the [`EARLY`]th on, before the warm-up is over: its deviation from the
    /// robust fit of the readings so far ([`super::warmup::fit`]), per dimension the prediction
    /// and the noise it finds, against a threshold widened for so few readings. Its known
    /// levels are the reading before (the second reading of a jump is no news) and the level
    /// the last readings jumped from (nor is the return).
    ///
    /// A channel of more than [`EARLY_DIMS`] dimensions has only the [`EARLY_DIMS`] farthest
    /// from their running mean (in their running standard deviation) fitted, so that a wide scan
    /// costs no more than that per reading.
    fn early(&self, x: &[f64], threshold: f64) -> Deviation {
        let (mut z, mut to_last, mut to_before): (f64, f64, f64) = (0.0, 0.0, 0.0);
        let mut xs = Vec::with_capacity(self.warmup.len());
        let mut dims: Vec<usize> = (0..x.len()).collect();
        if dims.len() > EARLY_DIMS {
            let far = |d: usize| (x[d] - self.level[d]).abs() / self.noise(d);
            dims.select_nth_unstable_by(EARLY_DIMS, |&a, &b| far(b).total_cmp(&far(a)));
            dims.truncate(EARLY_DIMS);
        }
        for d in dims {
            let v = x[d];
            xs.clear();
            xs.extend(self.warmup.iter().map(|r| r[d]));
            let fit = super::warmup::fit(&xs);
            let sd = fit.var.sqrt().max(1e-12 * fit.level.abs()).max(f64::MIN_POSITIVE);
            let far = |from: f64| ((v - from).abs() / sd).min(Z_MAX);
            let here = far(fit.level + fit.slope);
            z = z.max(here);
            let last = xs.last().copied().unwrap_or(v);
            // In the noise's units, not the difference's: a jump's second reading is well within
            // the threshold of its first, and a new jump no nearer to the reading before than to
            // the level.
            to_last = to_last.max(far(last));
            to_before = to_before.max(fit.before.map_or(here, |b| far(b + fit.slope)));
        }
        let z_known = z.min(to_last).min(to_before);
        Deviation { z, z_known, z_home: z, threshold, warm: true }
    }

    /// The end of the warm-up: per dimension, the robust fit of its readings gives the trend,
    /// the prediction for the next reading and the noise ([`super::warmup::fit`]).
    fn settle_warmup(&mut self) {
        let rows = std::mem::take(&mut self.warmup);
        let mut xs = Vec::with_capacity(rows.len());
        for d in 0..self.level.len() {
            xs.clear();
            xs.extend(rows.iter().map(|r| r[d]));
            let fit = super::warmup::fit(&xs);
            self.trend[d] = fit.slope;
            self.var[d] = fit.var;
            self.level[d] = fit.level + fit.slope;
            self.home[d] = self.level[d];
        }
        // The level the warm-up ends on has been held (as far as it knows) all along.
        self.since_jump = WARMUP;
    }

    /// Remember `level`, held for `held` readings, as left now.
    fn remember(&mut self, level: Vec<f64>, held: u64) {
        if self.known.len() == KNOWN_LEVELS {
            self.known.pop_front();
        }
        self.known.push_back((level, self.readings, held));
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
    fn thresholds_grow_with_dimensions_from_the_floor_and_shrink_as_the_noise_is_known() {
        let settled = u64::MAX;
        assert_eq!(threshold(1, settled), threshold(8, settled));
        assert!((4.05..4.12).contains(&threshold(1, settled)), "{}", threshold(1, settled));
        assert!(threshold(48, settled) > threshold(16, settled));
        let t256 = threshold(256, settled);
        assert!((4.7..4.8).contains(&t256), "{t256}");
        assert!(threshold(4096, settled) > t256 && threshold(4096, settled) < Z_SALIENT);
        assert!(threshold(8, WARMUP) > 1.1 * threshold(8, settled));
        assert!(threshold(8, 100) > threshold(8, 200));
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
    fn a_brief_jump_repeated_minutes_later_is_news_and_a_flip_flop_is_news_once() {
        let mut rng = Rng::new(8);
        let mut l = Levels::new(&noisy(&mut rng, 2, 0.0, 1.0));
        for round in 0..4 {
            for _ in 0..KNOWN_FOR + 10 {
                l.observe(&noisy(&mut rng, 2, 0.0, 1.0));
            }
            let jolt = l.observe(&[9.0, 0.0]);
            assert!(jolt.z >= jolt.threshold && !jolt.returned(), "round {round}: {jolt:?}");
        }
        for _ in 0..KNOWN_FOR + 10 {
            l.observe(&noisy(&mut rng, 2, 0.0, 1.0));
        }
        let mut news = 0;
        for i in 0..10 {
            let x = if i % 2 == 0 { [9.0 + 0.5 * rng.normal(), 0.0] } else { [0.0, 0.0] };
            let d = l.observe(&x);
            news += usize::from(d.z >= d.threshold && !d.returned());
        }
        assert_eq!(news, 1, "a flip-flop is news once");
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
        assert!(first.z >= 6.0 && !first.returned(), "{first:?}");
        for _ in 0..2 {
            let next = l.observe(&up(&mut rng));
            assert!(next.z < first.threshold, "the new level is normal now: {next:?}");
        }
        let back = l.observe(&noisy(&mut rng, 3, 1.0, 0.1));
        assert!(back.z >= back.threshold, "{back:?}");
        assert!(back.returned(), "the old level is remembered: {back:?}");
    }

    #[test]
    fn nothing_counts_during_warm_up() {
        let mut l = Levels::new(&[0.0]);
        let d = l.observe(&[100.0]);
        assert!(!d.warm);
    }

    /// Is `d` news (what the kernel attends to)?
    fn news(d: &Deviation) -> bool {
        d.warm && d.z >= d.threshold && !d.returned()
    }

    #[test]
    fn a_big_jump_late_in_the_warm_up_is_news_once_and_its_return_is_known() {
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let mut l = Levels::new(&noisy(&mut rng, 4, 5.0, 0.1));
            for _ in 1..EARLY + 3 {
                assert!(!news(&l.observe(&noisy(&mut rng, 4, 5.0, 0.1))), "seed {seed}");
            }
            let up = |rng: &mut Rng| {
                let mut v = noisy(rng, 4, 5.0, 0.1);
                v[1] += 1.0;
                v
            };
            let first = l.observe(&up(&mut rng));
            assert!(news(&first), "seed {seed}: {first:?}");
            for _ in 0..2 {
                let next = l.observe(&up(&mut rng));
                assert!(!news(&next), "seed {seed}: {next:?}");
            }
            let back = l.observe(&noisy(&mut rng, 4, 5.0, 0.1));
            assert!(!news(&back), "seed {seed}: {back:?}");
        }
    }

    proptest::proptest! {
        /// Any finite readings, of any magnitude (the largest floats too), through the warm-up
        /// and past it: deviations without a panic.
        #[test]
        fn any_finite_readings_are_observed(rows in proptest::collection::vec(
            proptest::collection::vec(proptest::prop_oneof![
                proptest::num::f64::NORMAL, -1e3f64..1e3, proptest::strategy::Just(0.0), proptest::strategy::Just(-1e308)
            ], 2),
            WARMUP as usize + 10..WARMUP as usize + 20,
        )) {
            let mut l = Levels::new(&rows[0]);
            for r in &rows[1..] {
                let d = l.observe(r);
                proptest::prop_assert!(d.z.is_nan() || d.z >= 0.0);
            }
        }
    }

    #[test]
    fn in_a_wide_scan_a_big_jump_late_in_the_warm_up_is_news_too() {
        // Only the dimensions farthest from their running mean are fitted during the warm-up.
        for seed in 0..5 {
            let mut rng = Rng::new(seed);
            let mut l = Levels::new(&noisy(&mut rng, 1000, 2.0, 0.5));
            for _ in 1..EARLY + 4 {
                l.observe(&noisy(&mut rng, 1000, 2.0, 0.5));
            }
            let mut jump = noisy(&mut rng, 1000, 2.0, 0.5);
            jump[737] += 6.0;
            let d = l.observe(&jump);
            assert!(news(&d), "seed {seed}: {d:?}");
        }
    }

    #[test]
    fn a_jump_inside_the_warm_up_leaves_a_later_one_visible() {
        // A least-squares warm-up took the first jump as noise three times too large, and the
        // second (6.5σ) was 2σ away for hundreds of readings.
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let mut l = Levels::new(&noisy(&mut rng, 3, 0.0, 1.0));
            for i in 1..WARMUP + 40 {
                let mut v = noisy(&mut rng, 3, 0.0, 1.0);
                if (10..14).contains(&i) {
                    v[0] += 10.0;
                }
                l.observe(&v);
            }
            let mut jump = noisy(&mut rng, 3, 0.0, 1.0);
            jump[0] = 6.5;
            let d = l.observe(&jump);
            assert!(news(&d), "seed {seed}: {d:?}");
        }
    }

    #[test]
    fn the_same_jump_a_few_readings_after_the_last_is_news_again() {
        let mut rng = Rng::new(6);
        let mut l = Levels::new(&noisy(&mut rng, 2, 0.0, 1.0));
        for _ in 0..100 {
            l.observe(&noisy(&mut rng, 2, 0.0, 1.0));
        }
        for round in 0..3 {
            let jump = l.observe(&[9.0, rng.normal()]);
            assert!(news(&jump), "round {round}: {jump:?}");
            for _ in 0..2 {
                assert!(!news(&l.observe(&[9.0 + rng.normal(), rng.normal()])));
            }
            let back = l.observe(&noisy(&mut rng, 2, 0.0, 1.0));
            assert!(!news(&back), "round {round}: the baseline is known: {back:?}");
            for _ in 0..4 {
                l.observe(&noisy(&mut rng, 2, 0.0, 1.0));
            }
        }
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

#[cfg(test)]
mod drift_tests {
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

    fn d_threshold() -> f64 {
        threshold(2, u64::MAX)
    }
}
