//! Noise with heavy tails: a source whose readings often lie past the deviation threshold for
//! one reading and are back at the next (a lidar's stray returns, an IMU's knocks, a sensor whose
//! noise is not normal). Normal noise passes the threshold once in a thousand readings; such a
//! source passes it far more often, and each time it would be news.
//!
//! A **spike** is a reading whose largest deviation passed the threshold and whose next reading
//! is back within the confirmation threshold of the level before it (a change that persists is
//! none). Over the last [`WINDOW`] readings, once there are at least [`MIN_SPIKES`] of them, the
//! spikes' rate `r` (per reading) and their tail (Hill's estimate of a power-law index `α` from
//! how far past the threshold they went) say where noise alone passes once in a thousand
//! readings: at `(r / 10⁻³)^(1/α)` times the threshold, never more than [`MAX_FACTOR`] times. A
//! reading is news on its own only past that; a change under it is confirmed at its next
//! reading against the threshold (`Levels::confirm`), as one begun under the threshold is. For
//! normal noise the rate stays near 10⁻³ and the tail is thin (a large index): the factor stays
//! 1. Pure: readings are counted by the caller.

use std::collections::VecDeque;

/// Readings the spikes are counted over.
pub const WINDOW: u64 = 1000;
/// Spikes within the window before their tail is estimated, at the least; and only where
/// noise that is normal gives as many in as many readings less often than [`CHANCE`] (it
/// passes the threshold about once in [`WINDOW`] readings: in a full window, 6 spikes or more
/// are that rare; in a source's first 150 readings, 3; in its first 35, 2). A source with heavy
/// tails and many dimensions spikes every few readings: waiting for 6 made its first 6 news.
pub const MIN_SPIKES: usize = 2;
/// How rarely noise that is normal gives the spikes counted, at most, for their tail to be
/// taken: the chance of 6 or more in a window where 1 is expected.
pub const CHANCE: f64 = 6e-4;
/// Spikes remembered.
const CAPACITY: usize = 64;
/// The threshold is raised at most this many times (a knock far past even heavy-tailed noise is
/// news at once).
pub const MAX_FACTOR: f64 = 3.0;

/// A reading that passed the threshold, waiting for the next to say whether it was a spike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Its farthest dimension.
    pub dim: usize,
    /// That dimension's level before the reading.
    pub level: f64,
    /// That dimension's noise (standard deviation) before the reading, over its weight.
    pub sd: f64,
    /// How far past the threshold the reading went: its deviation over the threshold (≥ 1).
    pub ratio: f64,
}

/// The spikes of one source.
#[derive(Debug, Clone, Default)]
pub struct Tails {
    /// `(reading, ratio)` of the latest spikes, oldest first.
    spikes: VecDeque<(u64, f64)>,
    /// The last reading, if it passed the threshold.
    candidate: Option<Candidate>,
    /// The reading the count began at (the end of the source's warm-up).
    since: Option<u64>,
}

impl Tails {
    /// How many times the threshold noise alone passes once in `1 / false_alarm` readings, at
    /// reading `now` (1 until there are [`MIN_SPIKES`] spikes in the window).
    pub fn factor(&self, now: u64, false_alarm: f64) -> f64 {
        // Called at every reading: the recent spikes counted in one pass, nothing allocated.
        let (count, logs) = self
            .spikes
            .iter()
            .filter(|(at, _)| now.saturating_sub(*at) < WINDOW)
            .fold((0usize, 0.0), |(n, logs), &(_, ratio)| (n + 1, logs + ratio.max(1.0).ln()));
        let span = now.saturating_sub(self.since.unwrap_or(now)).clamp(1, WINDOW) as f64;
        if count < MIN_SPIKES || at_least(count, false_alarm * span) >= CHANCE {
            return 1.0;
        }
        let rate = count as f64 / span;
        if rate <= false_alarm || logs <= 0.0 {
            return 1.0;
        }
        // Hill's estimate of the index: the spikes' count over their summed log-excess.
        let index = count as f64 / logs;
        let factor = (rate / false_alarm).powf(1.0 / index);
        if factor.is_finite() {
            factor.clamp(1.0, MAX_FACTOR)
        } else {
            MAX_FACTOR
        }
    }

    /// Reading `now` of the source was `x`: the last reading's candidate, if any, is a spike
    /// where `x` is back within `back_within` noise units of the level before it; `next`, this
    /// reading's own candidate (it passed the threshold), waits for the next.
    pub fn observe(&mut self, now: u64, x: &[f64], back_within: f64, next: Option<Candidate>) {
        self.since.get_or_insert(now);
        if let Some(c) = self.candidate.take() {
            let back = x.get(c.dim).is_some_and(|v| ((v - c.level) / c.sd).abs() < back_within);
            if back {
                if self.spikes.len() == CAPACITY {
                    self.spikes.pop_front();
                }
                self.spikes.push_back((now - 1, c.ratio));
            }
        }
        self.candidate = next.filter(|c| c.sd > 0.0 && c.ratio.is_finite());
    }

    /// Spikes remembered (at most 64).
    pub fn spikes(&self) -> usize {
        self.spikes.len()
    }
}

/// The chance of `k` or more events where `mean` are expected (Poisson), for a small mean: the
/// tail's terms summed from `k` on until they no longer count.
fn at_least(k: usize, mean: f64) -> f64 {
    if mean <= 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    // The k-th term, e^-mean mean^k / k!, in logarithms (no overflow for any k).
    let log_term = -mean + k as f64 * mean.ln() - (1..=k).map(|i| (i as f64).ln()).sum::<f64>();
    let mut term = log_term.exp();
    let mut sum = 0.0;
    for i in k + 1..k + 200 {
        sum += term;
        term *= mean / i as f64;
        if term < 1e-12 * sum {
            break;
        }
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(ratio: f64) -> Option<Candidate> {
        Some(Candidate { dim: 0, level: 0.0, sd: 1.0, ratio })
    }

    #[test]
    fn a_spike_is_one_reading_past_the_threshold_and_back_at_the_next() {
        let mut t = Tails::default();
        t.observe(100, &[0.0], 3.0, candidate(1.5));
        t.observe(101, &[0.5], 3.0, None);
        assert_eq!(t.spikes(), 1);
        // A change that persists is none.
        t.observe(102, &[0.0], 3.0, candidate(1.5));
        t.observe(103, &[6.0], 3.0, None);
        assert_eq!(t.spikes(), 1);
    }

    #[test]
    fn few_or_rare_spikes_leave_the_threshold_alone() {
        let mut t = Tails::default();
        t.observe(0, &[0.0], 3.0, None);
        // Five spikes in 800 readings: no more than noise that is normal gives once in 700.
        for i in 0..5 {
            t.observe(10 + 100 * i, &[0.0], 3.0, candidate(1.2));
            t.observe(11 + 100 * i, &[0.0], 3.0, None);
        }
        assert_eq!(t.factor(800, 1e-3), 1.0);
        // One in a thousand readings, as normal noise gives: none either.
        let mut t = Tails::default();
        t.observe(0, &[0.0], 3.0, None);
        for i in 0..10 {
            t.observe(1000 * i + 5, &[0.0], 3.0, candidate(1.2));
            t.observe(1000 * i + 6, &[0.0], 3.0, None);
        }
        assert_eq!(t.factor(10_000, 1e-3), 1.0);
    }

    #[test]
    fn the_chance_of_so_many_spikes_is_poissons() {
        assert!((at_least(6, 1.0) - 5.94e-4).abs() < 1e-6, "{}", at_least(6, 1.0));
        assert!((at_least(1, 0.5) - (1.0 - (-0.5f64).exp())).abs() < 1e-12);
        assert!((at_least(2, 0.035) - 5.93e-4).abs() < 1e-5, "{}", at_least(2, 0.035));
        assert_eq!(at_least(0, 0.0), 1.0);
        assert_eq!(at_least(3, 0.0), 0.0);
        assert!(at_least(500, 1.0) < 1e-300);
    }

    #[test]
    fn spikes_soon_after_the_warm_up_count_as_soon_as_noise_that_is_normal_would_not_give_them() {
        // Two spikes in the first 20 readings: noise that is normal gives that once in 5,000
        // sources.
        let mut t = Tails::default();
        t.observe(0, &[0.0], 3.0, None);
        for at in [5, 15] {
            t.observe(at, &[0.0], 3.0, candidate(2.0));
            t.observe(at + 1, &[0.0], 3.0, None);
        }
        assert!(t.factor(20, 1e-3) > 1.5, "{}", t.factor(20, 1e-3));
        // The same two spread over 200 readings: no more than normal noise gives (1 in 60).
        let mut t = Tails::default();
        t.observe(0, &[0.0], 3.0, None);
        for at in [50, 150] {
            t.observe(at, &[0.0], 3.0, candidate(2.0));
            t.observe(at + 1, &[0.0], 3.0, None);
        }
        assert_eq!(t.factor(200, 1e-3), 1.0);
    }

    #[test]
    fn frequent_spikes_with_a_heavy_tail_raise_the_threshold_within_bounds() {
        let mut t = Tails::default();
        t.observe(0, &[0.0], 3.0, None);
        // 20 spikes in 400 readings (5%), spread past the threshold as a tail of index 5.
        for i in 0..20u64 {
            let u = (i as f64 + 0.5) / 20.0;
            t.observe(20 * i + 1, &[0.0], 3.0, candidate(u.powf(-1.0 / 5.0)));
            t.observe(20 * i + 2, &[0.0], 3.0, None);
        }
        let f = t.factor(400, 1e-3);
        // (0.05 / 0.001)^(1/5) = 2.19 for the index of 5.
        assert!((1.8..2.6).contains(&f), "{f}");
        // A thinner tail raises it less; the bound holds for any.
        let mut thin = Tails::default();
        thin.observe(0, &[0.0], 3.0, None);
        for i in 0..20u64 {
            thin.observe(20 * i + 1, &[0.0], 3.0, candidate(1.02));
            thin.observe(20 * i + 2, &[0.0], 3.0, None);
        }
        assert!(thin.factor(400, 1e-3) < 1.2, "{}", thin.factor(400, 1e-3));
        let mut wild = Tails::default();
        wild.observe(0, &[0.0], 3.0, None);
        for i in 0..20u64 {
            wild.observe(20 * i + 1, &[0.0], 3.0, candidate(50.0));
            wild.observe(20 * i + 2, &[0.0], 3.0, None);
        }
        assert_eq!(wild.factor(400, 1e-3), MAX_FACTOR);
        // Spikes older than the window are forgotten.
        assert_eq!(t.factor(400 + WINDOW, 1e-3), 1.0);
    }
}
