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
//!   fit of the readings before it, with a threshold widened for so few (Student's t).
//! - **Pooled noise**: the dimensions of a channel that share their noise (16 joints of one
//!   encoder type) estimate it together ([`super::pool`]), so that a few readings each are
//!   enough: a 6σ jump in a 16-dimension channel's 8th reading is news against 4.2σ, where its
//!   own seven readings would put the threshold at 9σ. A dimension whose noise differs keeps
//!   its own; the pool's worth carries into the running estimates after the warm-up.
//! - **Three paces**: beside the level in use, two more follow the readings at the other paces
//!   ([`PACES`]: steady, wandering, moving); the channel uses whichever has lately predicted
//!   best, over its dimensions ([`Levels::choose_pace`]). A steady level or a drift is followed
//!   slowly, a level that wanders (a random walk) fast, so that its lag does not widen the
//!   noise (with steps of 0.4σ a reading, a 7σ jump reads as 5.7σ instead of 4.4σ, medians),
//!   and a level in motion (a joint that swings, a wheel that speeds up and slows down) with a
//!   trend that follows too (a swing of 10σ over 100 readings widened the slow level's errors
//!   7.7 times, the fast one's 2.1 times, the moving one's 1.2 times).
//! - **Habituation**: a dimension that jumps by at least the surprise threshold takes its new
//!   value as its level at once, then the mean of the readings since (its noise estimate is left
//!   alone), so a jump that persists is news once, and the readings after it are normal.
//! - **Known levels**: the levels a source left recently by a jump (at most [`KNOWN_LEVELS`]).
//!   A reading back at one of them is a return, not news, and every dimension the jump had
//!   moved takes that level again, also one that came back without passing the threshold from
//!   the jump's value (a spike just past it would otherwise stay averaged into its level). A
//!   level the source only drifted or swung away from is not one: a snapshot of it taken now
//!   and then made a jump toward where the level had swung from read as a return (decision
//!   0013, session 20). A level held for
//!   [`KNOWN_FOR`] readings or more (a baseline) is known for [`KNOWN_FOR`] readings after it
//!   is left, so the return from a jump is no news; a level held shorter (a jump's) for
//!   [`TRANSIENT_FOR`], so a signal that flips from reading to reading between two levels is
//!   news once, while the same jump a few readings later is news again.
//! - **A noise that changes for good** (a motor that runs and shakes a channel's sensors): the
//!   running noise estimate, slow so that jumps hardly move it, takes a louder noise, the
//!   channel's or one dimension's, as soon as sequential tests say so, and, after that, a quieter
//!   one again ([`regime`]).
//! - **Many dimensions**: the largest of D noise deviations grows with D; the threshold where
//!   deviation starts to count is the deviation that noise alone exceeds once in a thousand
//!   readings for D dimensions, and never below 4 (see [`threshold`]).

use std::collections::VecDeque;

use super::pool;
use super::regime;
use super::tails;

/// Readings used to estimate level and noise before the estimates settle into their running
/// form.
pub const WARMUP: u64 = 30;
/// Readings after which deviations count during the warm-up too, against the robust fit of the
/// readings so far, with the noise pooled across dimensions that share it ([`pool`]) and a
/// threshold widened for so few readings (Student's t).
pub const EARLY: u64 = 4;
/// Readings from which the warm-up's judgement uses the fit robust to jumps and spikes; before,
/// their mean and variance ([`super::warmup::fit_flat`]: the robust fit's splitting and
/// trimming, on a handful of readings, now and then leaves a variance a hundred times too small,
/// which no pool of dimensions survives).
const ROBUST_FROM: usize = 15;
/// Readings whose mean is the level a reading is judged against during the warm-up, where no
/// trend was found ([`Levels::early_prediction`]).
const RECENT: usize = 8;
/// Dimensions of a reading judged during the warm-up (the farthest from their running mean).
pub const EARLY_DIMS: usize = 64;
/// Rate at which the level follows the readings (a drift slower than this is followed).
const LEVEL_RATE: f64 = 0.05;
/// Rate of the second, faster level kept beside it for a level that wanders (a random walk: a
/// temperature, a battery's voltage under load), which [`LEVEL_RATE`] follows too slowly: its
/// lag then widens the prediction errors (at steps of 0.4σ a 7σ jump reads as 4.4σ). About the best rate for a
/// walk of 0.2σ a reading (the Kalman gain of a local level is 0.18 there, 0.33 at 0.4σ).
const FAST_RATE: f64 = 0.25;
/// Rate of the third level, for a level in motion (a joint that swings, a wheel that speeds up
/// and slows down), whose trend follows at [`MOVING_TREND_RATE`]: Holt's smoothing with these
/// two rates widens the prediction errors of white noise by 1.20, of a sine of 10σ over 100
/// readings by 1.23, 50σ over 400 by 1.20 and 30σ over 60 by 2.6 (the slow level: 1.02, 7.7,
/// 4.6, 23; the fast one 1.07, 2.1, 2.3, 8.6; simulated, 4,000 readings).
const MOVING_RATE: f64 = 0.4;
/// Rate at which the moving level's trend follows its prediction errors.
const MOVING_TREND_RATE: f64 = 0.1;
/// How fast a level follows the readings: its own rate and its trend's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Share of a prediction error the level takes.
    pub level: f64,
    /// Share of a prediction error the trend takes.
    pub trend: f64,
}
/// The paces a channel's levels follow at, the one in use first at the start: steady (a level,
/// a slow drift), wandering (a random walk), moving (a swing, a trajectory).
pub const PACES: [Pace; 3] = [
    Pace { level: LEVEL_RATE, trend: TREND_RATE },
    Pace { level: FAST_RATE, trend: TREND_RATE },
    Pace { level: MOVING_RATE, trend: MOVING_TREND_RATE },
];
/// The levels kept beside the one in use.
const OTHERS: usize = PACES.len() - 1;
/// Another level is taken when its squared prediction errors have lately been this much
/// smaller than those of the one in use, as a share of the noise ([`Levels::choose_pace`]).
const SWITCH_GAIN: f64 = 0.05;
/// Rate of the running comparison of the levels' errors (about 40 readings of memory).
const COMPARE_RATE: f64 = 0.05;
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

/// Deviations above this many noise units are clipped when they update the noise estimate.
const WINSOR: f64 = 4.0;
/// A dimension that never varied and then stepped takes the step for this many standard
/// deviations of its noise from then on.
const QUANTUM_Z: f64 = 2.0;
/// Largest deviation reported (a channel that never varied and then moved).
const Z_MAX: f64 = 1e6;
/// A deviation of this many standard deviations is fully surprising.
pub const Z_SALIENT: f64 = 6.0;
/// Readings of pure noise whose largest deviation reaches the threshold: one in a thousand.
const FALSE_ALARM: f64 = 1e-3;
/// The threshold is never lower than 4σ of a well-known noise: this is the share of one
/// dimension's normal noise beyond ±4σ (noise alone reaches 4σ in one of 16 dimensions once in
/// a thousand readings; a floor of 4.5 missed one 6–8σ jump in 20 of an independent
/// scenario's, decision 0013).
const FLOOR_SHARE: f64 = 6.334e-5;

/// Where deviations start to count for a reading of `dims` dimensions whose noise estimates have
/// `dof` degrees of freedom: the deviation noise alone reaches once in a thousand readings of
/// `dims` dimensions (the two-sided quantile of `FALSE_ALARM / dims`, and never below that of 4σ:
/// 4 for up to 16 dimensions, 4.26 for 48, 4.62 for 256 once the noise is well known), as
/// Student's t has it for a noise estimated with `dof` degrees of freedom (Hill's algorithm,
/// [`pool::t_two_sided_quantile`]): for 16 dimensions 9.8 at 6, 5.6 at 14, 4.6 at 30, 4.2 at
/// 100.
pub fn threshold(dims: usize, dof: f64) -> f64 {
    let p = (FALSE_ALARM / dims.max(1) as f64).min(FLOOR_SHARE);
    pool::t_two_sided_quantile(p, dof)
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
    /// A change confirmed: some dimension lay past [`confirm_threshold`], under [`threshold`],
    /// at the source's last reading and lies past it again, on the same side, at this one. The
    /// two readings' mean deviation, at least the threshold (0 where nothing was confirmed).
    /// The dimension takes the new level as a jump's does.
    pub confirmed: f64,
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

/// A level followed at another pace than the one in use, with its trend and the variance of
/// its prediction errors, per dimension.
#[derive(Debug, Clone)]
struct Track {
    pace: Pace,
    level: Vec<f64>,
    trend: Vec<f64>,
    var: Vec<f64>,
    /// How much larger its squared prediction errors have lately been than those of the level
    /// in use, as a share of the noise (a running mean).
    excess: f64,
}

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
    /// The pace at which `level` and `trend` follow the readings (one of [`PACES`]).
    pace: Pace,
    /// The levels following at the other paces (after the warm-up): the one in use is the one
    /// whose prediction errors have lately been smallest ([`Levels::choose_pace`]).
    others: Vec<Track>,
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
    /// What the pool of the dimensions' noise estimates added to those it moderated at the end
    /// of the warm-up, in degrees of freedom ([`pool`]; 0 where there was no pool).
    pooled_dof: f64,
    /// Per dimension: whether the pool moderated its noise (empty before the warm-up's end).
    pooled: Vec<bool>,
    /// Per dimension: the fast watch on its noise, which takes a noise that changed for good
    /// ([`regime`]; empty before the warm-up's end).
    watch: Vec<regime::Watch>,
    /// The watch on the noise of the dimensions together ([`regime::ChannelWatch`]).
    channel_watch: regime::ChannelWatch,
    /// What a deviation of a dimension the pool left alone counts for, against the threshold of
    /// those it moderated (theirs over its own: below 1 while its own noise estimate is the
    /// less certain).
    unpooled_weight: f64,
    /// The dimensions whose last reading may have begun a change ([`confirm_threshold`]).
    pending: Vec<Pending>,
    /// The spikes that say whether the noise has heavy tails ([`tails`]).
    tails: tails::Tails,
    /// Per dimension: the sign of its last prediction error (NaN after a jump and before the
    /// warm-up's end), for [`Levels::memory`].
    last_sign: Vec<f64>,
    /// How much the prediction errors remember: the running mean, over dimensions, of the
    /// product of each error's sign with the one before's (`2/π · asin ρ` for a lag-1
    /// correlation ρ, bounded whatever a jump's size), begun at the end of the warm-up from
    /// its readings' steps (1 before: not known to be white). See [`confirm::WHITE`].
    memory: f64,
    /// The last reading.
    last: Vec<f64>,
    /// Per dimension: the last step, from the reading before the last to the last (NaN before
    /// the second reading).
    last_step: Vec<f64>,
    /// Per dimension: the smallest change of step from one reading to the next (infinite
    /// before the first), its resolution where it reads on a grid ([`Levels::resolution`]).
    step: Vec<f64>,
    /// Per dimension: whether it has read the same value twice in a row (a grid's sign: noise
    /// of real numbers never does).
    held: Vec<bool>,
}

impl Levels {
    /// Levels that start at `first`.
    pub fn new(first: &[f64]) -> Self {
        Self {
            readings: 1,
            level: first.to_vec(),
            trend: vec![0.0; first.len()],
            var: vec![0.0; first.len()],
            pace: PACES[0],
            others: Vec::new(),
            warmup: vec![first.to_vec()],
            home: first.to_vec(),
            known: VecDeque::with_capacity(KNOWN_LEVELS),
            since_jump: 0,
            settling: vec![0; first.len()],
            pooled_dof: 0.0,
            pooled: Vec::new(),
            watch: Vec::new(),
            channel_watch: regime::ChannelWatch::default(),
            unpooled_weight: 1.0,
            pending: Vec::new(),
            tails: tails::Tails::default(),
            last_sign: vec![f64::NAN; first.len()],
            memory: 1.0,
            last: first.to_vec(),
            last_step: vec![f64::NAN; first.len()],
            step: vec![f64::INFINITY; first.len()],
            held: vec![false; first.len()],
        }
    }

    /// What dimension `d`'s deviations count for against the threshold ([`Levels::unpooled_weight`]).
    fn weight(&self, d: usize) -> f64 {
        match self.pooled.get(d) {
            Some(false) => self.unpooled_weight,
            _ => 1.0,
        }
    }

    /// Dimensions.
    pub fn dims(&self) -> usize {
        self.level.len()
    }

    /// The prediction for the next reading, per dimension (during the warm-up: the running
    /// mean).
    pub fn prediction(&self) -> &[f64] {
        &self.level
    }

    /// Dimension `d`'s noise before the regime watch last raised it (its noise where it was
    /// not raised): what the cycle watch measures a cycle that begins against
    /// ([`super::cycle`]), since the regime watch takes a swing for a louder noise within a few
    /// readings, before its errors are jump-sized against the raised noise.
    pub fn quiet_sd(&self, d: usize) -> f64 {
        match self.watch.get(d).map(regime::Watch::raised_above) {
            Some(before) if before > 0.0 => before.sqrt().min(self.noise(d)),
            _ => self.noise(d),
        }
    }

    /// Dimension `d`'s noise, its standard deviation.
    pub fn noise_sd(&self, d: usize) -> f64 {
        self.noise(d)
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
        var.sqrt().max(self.resolution(d)).max(1e-12 * self.level[d].abs()).max(f64::MIN_POSITIVE)
    }

    /// The least noise dimension `d`'s readings can show, once it has read the same value twice
    /// in a row: the smallest change of its step from one reading to the next over
    /// [`QUANTUM_Z`] (0 before; the smallest of a few changes of real noise would be a
    /// floor above the noise itself, a grid's is its step). A reading on a grid (a
    /// temperature to 0.1°, a battery percentage, an encoder's counts) whose noise is under the
    /// grid's step holds still for a while and then steps by one: its running noise estimate,
    /// learning from equal readings, would fall towards zero and make the step, the grid's
    /// least change, news without end. Changes of step, not steps: a level that climbs by large
    /// steps (an odometer) has no coarse grid for it, and its steps' changes are its noise;
    /// on a grid they are whole steps of it, and on no grid they soon get small.
    fn resolution(&self, d: usize) -> f64 {
        let step = self.step[d];
        if step.is_finite() && self.held[d] {
            step / QUANTUM_Z
        } else {
            0.0
        }
    }

    /// Reading `x` came: each dimension's smallest change of step so far takes this one's.
    fn note_steps(&mut self, x: &[f64]) {
        let dims = self.step.iter_mut().zip(&mut self.last).zip(&mut self.last_step).zip(&mut self.held);
        for ((((step, last), last_step), held), &v) in dims.zip(x) {
            let taken = v - *last;
            let change = (taken - *last_step).abs();
            if change > 0.0 && change < *step {
                *step = change;
            }
            *held |= taken == 0.0;
            (*last, *last_step) = (v, taken);
        }
    }

    fn distance(&self, x: &[f64], to: &[f64]) -> f64 {
        self.farthest(x, to).1
    }

    /// How far `x` is from the known level `to`, left `age` readings ago and carried on by the
    /// trend, each dimension from the nearer of it and the current level (a return brings back
    /// what jumped; the rest went on from the current level, wandering or drifting, while the
    /// jump lasted): the farthest, in noise units (weighted).
    fn distance_known(&self, x: &[f64], to: &[f64], age: u64) -> f64 {
        let dims = x.iter().zip(to).zip(self.level.iter().zip(&self.trend)).enumerate();
        dims.map(|(d, ((a, k), (l, t)))| {
            let from = (a - k - t * age as f64).abs().min((a - l).abs());
            (from / self.noise(d)).min(Z_MAX) * self.weight(d)
        })
        .fold(0.0, f64::max)
    }

    /// The dimension of `x` farthest from `to`, in noise units (weighted), and how far (0 for
    /// no dimensions).
    fn farthest(&self, x: &[f64], to: &[f64]) -> (usize, f64) {
        x.iter()
            .zip(to)
            .enumerate()
            .map(|(d, (a, b))| (d, ((a - b).abs() / self.noise(d)).min(Z_MAX) * self.weight(d)))
            .fold((0, 0.0), |best, this| if this.1 > best.1 { this } else { best })
    }

    /// How far `x` is from the levels, then learn from it. `x` must have [`Levels::dims`]
    /// values.
    pub fn observe(&mut self, x: &[f64]) -> Deviation {
        let warm = self.readings >= WARMUP;
        if !warm && self.readings >= EARLY {
            let deviation = self.early(x);
            self.learn(x, (deviation.threshold, deviation.threshold), None, &[]);
            return deviation;
        }
        let base = threshold(x.len(), self.dof(true));
        self.unpooled_weight =
            if self.pooled_dof > 0.0 { base / self::threshold(x.len(), self.dof(false)) } else { 1.0 };
        // A source whose noise has heavy tails is news on its own only past where its spikes
        // reach once in a thousand readings ([`tails`]).
        let threshold = if warm { base * self.tails.factor(self.readings, FALSE_ALARM) } else { base };
        let (far, z) = self.farthest(x, &self.level);
        let nearest = self
            .known
            .iter()
            .enumerate()
            .filter(|(_, (_, at, held))| self.readings - at <= remembered_for(*held))
            .map(|(i, (l, at, _))| (self.distance_known(x, l, self.readings - at), i))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let z_known = nearest.map_or(z, |(k, _)| k.min(z));
        let z_home = self.distance(x, &self.home);
        let mut deviation = Deviation { z, z_known, z_home, threshold, warm, confirmed: 0.0 };
        // Back at a known level: that level, estimated over many readings, is restored.
        let back_to = nearest.filter(|_| warm && deviation.returned()).map(|(_, i)| i);
        if warm {
            self.watch_tails(x, (far, z), base);
        }
        // Where a dimension jumps: past the threshold, or, in a reading that is news on its
        // own, past the normal one (a knock that moves several dimensions is one change, not a
        // jump now and changes confirmed at the next reading).
        let jump_at = if z >= threshold { base } else { threshold };
        let confirmed = if warm && back_to.is_none() {
            self.confirm(x, base, jump_at)
        } else {
            self.pending.clear();
            Vec::new()
        };
        deviation.confirmed = confirmed.iter().map(|c| c.z.max(threshold)).fold(0.0, f64::max);
        self.learn(x, (jump_at, base), back_to, &confirmed);
        deviation
    }

    /// Reading `x`, whose dimension farthest from its level is `farthest` (dimension, deviation),
    /// passed `base` (the threshold for normal noise) or it did not, and says whether the one
    /// before was a spike ([`tails`]).
    fn watch_tails(&mut self, x: &[f64], farthest: (usize, f64), base: f64) {
        let next =
            Some(farthest).filter(|&(_, z)| z >= base && !x.is_empty()).map(|(dim, z)| tails::Candidate {
                dim,
                level: self.level[dim],
                sd: self.noise(dim) / self.weight(dim),
                ratio: z / base,
            });
        let back_within = confirm_threshold(x.len(), self.dof(true));
        self.tails.observe(self.readings, x, back_within, next);
    }

    /// Degrees of freedom of the running noise estimates: the readings behind them (at most the
    /// estimate's memory), and, for the dimensions the pool moderated (`pooled`), what it added
    /// at the end of the warm-up.
    fn dof(&self, pooled: bool) -> f64 {
        let memory = 2.0 / NOISE_RATE - 1.0;
        let added = if pooled { self.pooled_dof } else { 0.0 };
        (self.readings.saturating_sub(1) as f64 + added).clamp(1.0, memory)
    }

    /// The share of a squared prediction error dimension `d`'s noise variance takes: the running
    /// mean's (one over the readings behind the estimate, [`Levels::dof`]) until it reaches
    /// [`NOISE_RATE`], so that the warm-up's estimate counts for the readings it had, no more.
    fn noise_rate(&self, d: usize) -> f64 {
        let pooled = self.pooled.get(d).copied().unwrap_or(false);
        (1.0 / (self.dof(pooled) + 1.0)).max(NOISE_RATE)
    }

    /// Learn from reading `x`: `back_to`, the known level it returned to; `confirmed`, the
    /// dimensions whose change it confirmed ([`Levels::confirm`]), which take it as a jump.
    /// `threshold`: where a deviation is news on its own; `base`: the threshold for normal
    /// noise, under it where [`tails`] raised it (a deviation between the two is held to `base`
    /// as the level and the noise learn from it: a spike of heavy-tailed noise neither drags
    /// the level nor reads as a louder noise).
    fn learn(
        &mut self,
        x: &[f64],
        (threshold, base): (f64, f64),
        back_to: Option<usize>,
        confirmed: &[Confirmed],
    ) {
        self.readings += 1;
        self.note_steps(x);
        if self.readings <= WARMUP {
            self.learn_warming_up(x);
            return;
        }
        // A change's first reading was no noise: its dimension's noise is what it was before.
        for c in confirmed {
            self.var[c.dim] = c.var;
        }
        let jumped: Vec<bool> = x
            .iter()
            .enumerate()
            .map(|(d, &v)| {
                (v - self.level[d]).abs() / self.noise(d) * self.weight(d) >= threshold
                    || confirmed.iter().any(|c| c.dim == d)
            })
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
        let mut excess = [(0.0, 0usize); OTHERS];
        let mut louder = (0.0, Vec::with_capacity(if self.watch.len() > 1 { x.len() } else { 0 }));
        let mut quieter = Vec::with_capacity(louder.1.capacity());
        let mut lagged = (0.0, 0usize);
        for (d, &v) in x.iter().enumerate() {
            if let (false, Some((known, age, _))) = (jumped[d], restored.as_ref()) {
                self.restore_settling(d, v, known[d] + self.trend[d] * *age as f64);
            }
            let sd = self.noise(d);
            let e = v - self.level[d];
            let held = base / self.weight(d);
            let spike = !jumped[d] && (e / sd).abs() >= held;
            if jumped[d] {
                self.take_jump(d, v, e, restored.as_ref().map(|(known, age, _)| (known.as_slice(), *age)));
            } else {
                let e = if spike { e.signum() * held * sd } else { e };
                let pending = self.pending.iter().any(|p| p.dim == d) && (spike || self.white());
                let shares = self.follow(d, self.level[d] + e, e, sd, pending);
                for ((sum, n), share) in excess.iter_mut().zip(shares) {
                    if let Some(share) = share {
                        *sum += share;
                        *n += 1;
                    }
                }
            }
            if restored.is_none() {
                let jump = if jumped[d] { Some(threshold / self.weight(d)) } else { spike.then_some(held) };
                if self.watch.len() > 1 && sd > 0.0 && self.var[d] > 0.0 {
                    let z2 = jump.map_or((e / sd).powi(2), |t| t * t);
                    louder.0 += regime::louder_evidence(z2);
                    if jump.is_none() {
                        louder.1.push((d, e / sd));
                        quieter.push(z2);
                    }
                }
                self.take_noise_change(d, e, jump);
            }
            self.home[d] += HOME_RATE * (v - self.home[d]) + self.trend[d];
            let sign = if jumped[d] || e == 0.0 { f64::NAN } else { e.signum() };
            if (sign * self.last_sign[d]).is_finite() {
                lagged.0 += sign * self.last_sign[d];
                lagged.1 += 1;
            }
            self.last_sign[d] = sign;
        }
        if lagged.1 > 0 {
            self.memory += COMPARE_RATE * (lagged.0 / lagged.1 as f64 - self.memory);
        }
        for (o, (sum, n)) in self.others.iter_mut().zip(excess) {
            if n > 0 {
                o.excess += COMPARE_RATE * (sum / n as f64 - o.excess);
            }
        }
        if restored.is_none() && self.watch.len() > 1 {
            if let Some(factor) = self.channel_watch.observe(louder.0, &louder.1) {
                self.take_louder_channel(factor);
            } else if let Some(factor) = self.channel_watch.observe_quiet(&quieter, jumped.contains(&true)) {
                self.take_quieter_channel(factor);
            }
        }
        self.choose_pace();
    }

    /// A reading of the warm-up: running means and sums of squares (Welford; what the warm-up
    /// reports), and the readings for the fit at its end.
    fn learn_warming_up(&mut self, x: &[f64]) {
        let n = self.readings;
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
    }

    /// Dimension `d` jumped to `v` (`e` from its level): a new normal, the level moves at once
    /// (to the known level it came back to, `restored`: that level and the readings since it
    /// was left; or to the reading, and then averages the readings that follow); the noise is
    /// not the jump.
    fn take_jump(&mut self, d: usize, v: f64, e: f64, restored: Option<(&[f64], u64)>) {
        (self.level[d], self.settling[d]) = match restored {
            Some((known, age)) => (known[d] + self.trend[d] * age as f64, 0),
            None => (v + self.trend[d], 1),
        };
        if self.var[d] == 0.0 {
            // It had never moved: its first step is its quantum (a battery percentage, a
            // counter, a switch), and the same step again is [`QUANTUM_Z`]σ, no news.
            self.var[d] = (e / QUANTUM_Z).powi(2);
        }
        // The other levels jump with it.
        for o in &mut self.others {
            o.level[d] = self.level[d];
            if o.var[d] == 0.0 {
                o.var[d] = self.var[d];
            }
        }
    }

    /// A reading back at a known level, whose dimension `d` read `v` without passing the
    /// threshold from where a jump set its level: where the level is still the average of the
    /// readings since that jump and the known level, `known` (its trend carried on), is nearer
    /// to `v` by [`RETURN_MARGIN`] deviations (as [`Deviation::returned`] asks of the whole
    /// reading), the level is the known one again. Without this, a dimension whose jump was a
    /// spike of 4.5σ, back within the threshold at the next reading, averaged the spike into
    /// its level for the readings after it (a jump of 6.2σ five readings later read 3.8σ;
    /// `make_check.py` seed 1188).
    fn restore_settling(&mut self, d: usize, v: f64, known: f64) {
        let sd = self.noise(d) / self.weight(d);
        let (from_known, from_level) = ((v - known).abs() / sd, (v - self.level[d]).abs() / sd);
        if self.settling[d] == 0 || from_known + RETURN_MARGIN >= from_level {
            return;
        }
        self.level[d] = known;
        self.settling[d] = 0;
        for o in &mut self.others {
            o.level[d] = known;
        }
    }

    /// Dimension `d` read `v`, `e` from its level of noise `sd`, and no jump: level, trend and
    /// noise learn from it, and the other levels too. Returns, per other level (by its index),
    /// how much larger its squared error was than this one's, in the noise's variance (none
    /// before the warm-up's end or without noise). `held`: the reading may begin a change, and
    /// the level and trend do not take it (the noise does).
    fn follow(&mut self, d: usize, v: f64, e: f64, sd: f64, held: bool) -> [Option<f64>; OTHERS] {
        // While settling, the level is the mean of the readings since the jump: its error adds
        // 1/k of the noise's variance to the reading's, which the noise estimate leaves out.
        let k = self.settling[d];
        let (rate, spread) =
            if k > 0 { (1.0 / (k + 1) as f64, (1.0 + 1.0 / k as f64).sqrt()) } else { (LEVEL_RATE, 1.0) };
        self.settling[d] = if k > 0 && rate > LEVEL_RATE { k + 1 } else { 0 };
        let clipped = (e / spread).clamp(-WINSOR * sd, WINSOR * sd);
        let noise_rate = self.noise_rate(d);
        self.var[d] += noise_rate * (clipped * clipped - self.var[d]);
        // A reading that may begin a change (past the confirmation threshold, under the one
        // for news: a spike under the one heavy tails raised, or, where the source's noise is
        // about white ([`Levels::white`]), a jump's first reading that its own noise took under
        // the normal one) does not move the level (`held`): the next reading is
        // judged against what the level predicted without it, or a jump's second reading would
        // read as less than it is (a 6.8σ jump read 3.4σ, then 3.8σ against a level that had
        // taken a quarter of the first; decision 0013, session 50).
        let taken = if held { 0.0 } else { e };
        self.trend[d] += self.pace.trend * taken;
        self.level[d] += rate.max(self.pace.level) * taken + self.trend[d];
        let e_others = self.follow_others(d, v, rate, spread, noise_rate);
        let var = self.var[d];
        if var <= 0.0 {
            return [None; OTHERS];
        }
        let clip = |e: f64| (e / spread).clamp(-WINSOR * sd, WINSOR * sd).powi(2);
        e_others.map(|e_other| e_other.map(|o| (clip(o) - clip(e)) / var).filter(|share| share.is_finite()))
    }

    /// A reading after the [`EARLY`]th, before the warm-up is over: its deviation from the fit
    /// of the readings so far ([`Levels::early_fits`]), per dimension from the prediction
    /// ([`Levels::early_prediction`]) in units of its noise, pooled across the dimensions that
    /// share it ([`pool`]); each dimension against the threshold for its own degrees of
    /// freedom (a deviation of one the pool left alone counts for less). Its known levels are
    /// the reading before (the second reading of a jump is no news) and the level the last
    /// readings jumped from, for as long as [`remembered_for`] says (nor is the return; but the
    /// same jump twice is news twice).
    fn early(&self, x: &[f64]) -> Deviation {
        let fits = self.early_fits(x);
        let estimates: Vec<(f64, f64)> = fits.iter().map(|(_, f)| (f.var, f.dof)).collect();
        let noise = if fits.len() == x.len() {
            pool::pool(&estimates)
        } else {
            // The dimensions fitted of a wide scan are no fair sample of its noise.
            estimates.iter().map(|&(var, dof)| pool::Pooled { var, dof, pooled: false }).collect()
        };
        // Each dimension against the threshold for its own degrees of freedom, in units of the
        // threshold of the best known.
        let best = noise.iter().map(|p| p.dof).fold(1.0, f64::max);
        let threshold = threshold(x.len(), best);
        let (mut z, mut to_last, mut to_before): (f64, f64, f64) = (0.0, 0.0, 0.0);
        for ((d, fit), p) in fits.iter().zip(&noise) {
            if p.var <= 0.0 {
                // Held so far (a battery percentage, a counter): a few equal readings say
                // nothing of its noise, and its first step is no news until the warm-up says
                // it never moves.
                continue;
            }
            let v = x[*d];
            let weight = if p.dof < best { threshold / self::threshold(x.len(), p.dof) } else { 1.0 };
            let sd =
                p.var.sqrt().max(self.resolution(*d)).max(1e-12 * fit.level.abs()).max(f64::MIN_POSITIVE);
            // In the noise's units, not the difference's: a jump's second reading is well within
            // the threshold of its first, and a new jump no nearer to the reading before than to
            // the level.
            let far = |from: f64, spread: f64| ((v - from).abs() / (sd * spread)).min(Z_MAX) * weight;
            let (level, level_var) = self.early_prediction(*d, fit);
            let here = far(level, (1.0 + level_var).sqrt());
            z = z.max(here);
            let last = self.warmup.last().map_or(v, |r| r[*d]);
            to_last = to_last.max(far(last, 1.0));
            // The level the last readings jumped from is known as long as a level left then
            // would be (a baseline for a while, a jump's level briefly).
            let known = fit.before.filter(|_| fit.since as u64 <= remembered_for(fit.before_held as u64));
            to_before = to_before.max(known.map_or(here, |b| far(b + fit.slope, 1.0)));
        }
        let z_known = z.min(to_last).min(to_before);
        Deviation { z, z_known, z_home: z, threshold, warm: true, confirmed: 0.0 }
    }

    /// The warm-up's fit of each dimension of `x` judged: from [`ROBUST_FROM`] readings the fit
    /// robust to jumps and spikes ([`super::warmup::fit`]), before it their mean and variance. A
    /// channel of more than [`EARLY_DIMS`] dimensions has only the [`EARLY_DIMS`] farthest from
    /// their running mean (in their running standard deviation) fitted, so that a wide scan
    /// costs no more than that per reading.
    fn early_fits(&self, x: &[f64]) -> Vec<(usize, super::warmup::Fit)> {
        let mut dims: Vec<usize> = (0..x.len()).collect();
        if dims.len() > EARLY_DIMS {
            let far = |d: usize| (x[d] - self.level[d]).abs() / self.noise(d);
            dims.select_nth_unstable_by(EARLY_DIMS, |&a, &b| far(b).total_cmp(&far(a)));
            dims.truncate(EARLY_DIMS);
        }
        let mut xs = Vec::with_capacity(self.warmup.len());
        dims.into_iter()
            .map(|d| {
                xs.clear();
                xs.extend(self.warmup.iter().map(|r| r[d]));
                let fit = if xs.len() < ROBUST_FROM {
                    super::warmup::fit_flat(&xs)
                } else {
                    super::warmup::fit(&xs)
                };
                (d, fit)
            })
            .collect()
    }

    /// The prediction of dimension `d` for the next reading from its warm-up `fit`, and its
    /// variance in units of the noise's. With no trend found, the level is the mean of the last
    /// [`RECENT`] readings: a drift too slow to tell from the noise over a handful of readings
    /// would otherwise leave the mean of them all behind.
    fn early_prediction(&self, d: usize, fit: &super::warmup::Fit) -> (f64, f64) {
        if fit.slope == 0.0 && fit.since >= RECENT && self.warmup.len() >= RECENT {
            let tail = &self.warmup[self.warmup.len() - RECENT..];
            (tail.iter().map(|r| r[d]).sum::<f64>() / RECENT as f64, 1.0 / RECENT as f64)
        } else {
            (fit.level + fit.slope, fit.level_var)
        }
    }

    /// The end of the warm-up: per dimension, the robust fit of its readings gives the trend,
    /// the prediction for the next reading and the noise ([`super::warmup::fit`]), the noise
    /// pooled across the dimensions that share it ([`pool`]).
    fn settle_warmup(&mut self) {
        let rows = std::mem::take(&mut self.warmup);
        let mut xs = Vec::with_capacity(rows.len());
        let mut estimates = Vec::with_capacity(self.level.len());
        let mut replays = Vec::with_capacity(self.level.len());
        let mut remembers = (0.0, 0usize);
        for d in 0..self.level.len() {
            xs.clear();
            xs.extend(rows.iter().map(|r| r[d]));
            let fit = super::warmup::fit(&xs);
            if let Some(rho) = confirm::lag_correlation(&xs, fit.var) {
                remembers.0 += rho;
                remembers.1 += 1;
            }
            replays.push(
                PACES
                    .iter()
                    .filter(|&&p| p != self.pace)
                    .map(|p| super::warmup::replay(&xs, (p.level, p.trend), &fit))
                    .collect::<Vec<_>>(),
            );
            self.trend[d] = fit.slope;
            self.var[d] = fit.var;
            self.level[d] = fit.level + fit.slope;
            self.home[d] = self.level[d];
            estimates.push((fit.var, fit.dof));
        }
        if remembers.1 > 0 {
            let rho = remembers.0 / remembers.1 as f64;
            self.memory = std::f64::consts::FRAC_2_PI * rho.clamp(-1.0, 1.0).asin();
        }
        let pooled = pool::pool(&estimates);
        if let Some((p, own)) = pooled.iter().zip(&estimates).find(|(p, _)| p.pooled) {
            self.pooled_dof = p.dof - own.1;
            for (var, p) in self.var.iter_mut().zip(&pooled) {
                *var = p.var;
            }
            self.pooled = pooled.iter().map(|p| p.pooled).collect();
        }
        // The level the warm-up ends on has been held (as far as it knows) all along.
        self.since_jump = WARMUP;
        self.others = PACES
            .iter()
            .filter(|&&p| p != self.pace)
            .enumerate()
            .map(|(i, &pace)| {
                let mut track = Track {
                    pace,
                    level: self.level.clone(),
                    trend: self.trend.clone(),
                    var: self.var.clone(),
                    excess: 0.0,
                };
                // Each level's noise is its own prediction errors over the warm-up's last
                // segment, where it had enough readings.
                for (d, replay) in replays.iter().enumerate() {
                    if let Some(&Some((level, trend, var))) = replay.get(i) {
                        (track.level[d], track.trend[d], track.var[d]) = (level, trend, var);
                    }
                }
                track
            })
            .collect();
        self.watch = vec![regime::Watch::default(); self.var.len()];
    }

    /// The other levels learn from reading `v` of dimension `d` as the one in use does, each at
    /// its own pace (`settling`: the rate while the levels average the readings since a jump;
    /// `spread`: what that average's error adds to a prediction error). Returns their
    /// prediction errors, by index (none before the warm-up's end).
    fn follow_others(
        &mut self,
        d: usize,
        v: f64,
        settling: f64,
        spread: f64,
        noise_rate: f64,
    ) -> [Option<f64>; OTHERS] {
        let mut errors = [None; OTHERS];
        for (o, error) in self.others.iter_mut().zip(&mut errors) {
            let (Some(level), Some(trend), Some(var)) =
                (o.level.get_mut(d), o.trend.get_mut(d), o.var.get_mut(d))
            else {
                continue;
            };
            let e = v - *level;
            // As [`Levels::noise`]: never NaN (a clamp's bounds must not be).
            let sd = var.sqrt().max(f64::MIN_POSITIVE);
            let clipped = (e / spread).clamp(-WINSOR * sd, WINSOR * sd);
            *var += noise_rate * (clipped * clipped - *var);
            *trend += o.pace.trend * e;
            *level += settling.max(o.pace.level) * e + *trend;
            *error = Some(e);
        }
        errors
    }

    /// Use another level where its squared prediction errors have lately been smaller than
    /// those of the one in use by [`SWITCH_GAIN`] of the noise, over the channel's dimensions
    /// (those that never varied aside), the one that predicted best where several did: a
    /// wandering level is followed fast, a steady one or a drift slowly, a level in motion with
    /// its trend, where each predicts best. The comparison starts at the warm-up's end (a
    /// channel read every tenth tick has few readings to wait with). After a switch the
    /// comparisons go on from where they stood, seen from the new level (the running means are
    /// linear: the others' excess over the old level less the new one's), so the levels do not
    /// flap.
    fn choose_pace(&mut self) {
        if self.readings < WARMUP {
            return;
        }
        let Some(best) = self
            .others
            .iter()
            .enumerate()
            .filter(|(_, o)| o.var.len() == self.var.len() && o.excess < -SWITCH_GAIN)
            .min_by(|a, b| a.1.excess.total_cmp(&b.1.excess))
            .map(|(i, _)| i)
        else {
            return;
        };
        let gain = self.others[best].excess;
        for o in &mut self.others {
            o.excess -= gain;
        }
        let o = &mut self.others[best];
        o.excess = -gain;
        std::mem::swap(&mut self.level, &mut o.level);
        std::mem::swap(&mut self.trend, &mut o.trend);
        std::mem::swap(&mut self.var, &mut o.var);
        std::mem::swap(&mut self.pace, &mut o.pace);
    }

    /// Dimension `d`'s noise changed for good where its watch says so ([`regime`]): its
    /// running variance, and the other levels', take the watch's (`e`: the reading's
    /// prediction error; `jump`: the threshold it passed, where the level took it as a jump). A
    /// return to a known level is not watched: a signal that flips between two levels is no
    /// louder noise.
    fn take_noise_change(&mut self, d: usize, e: f64, jump: Option<f64>) {
        let Some(w) = self.watch.get_mut(d) else {
            return;
        };
        let var = match jump {
            Some(threshold) => w.observe_jump(threshold, self.var[d]),
            None => w.observe(e, self.var[d]),
        };
        if var != self.var[d] {
            self.var[d] = var;
            for o in &mut self.others {
                o.var[d] = var;
            }
        }
    }

    /// The noise of the dimensions together grew by `factor` ([`regime::ChannelWatch`]): every
    /// dimension's running variance, and the other levels', take it.
    fn take_louder_channel(&mut self, factor: f64) {
        for (d, w) in self.watch.iter_mut().enumerate() {
            if self.var[d] > 0.0 {
                w.raised_from(self.var[d]);
                self.var[d] *= factor;
                for o in &mut self.others {
                    o.var[d] *= factor;
                }
            }
        }
    }

    /// The noise of the dimensions together fell back by `factor` ([`regime::ChannelWatch`]):
    /// the running variance of every dimension the watches raised takes it, no lower than before
    /// the raise, and the other levels' too.
    fn take_quieter_channel(&mut self, factor: f64) {
        for (d, w) in self.watch.iter_mut().enumerate() {
            let before = w.raised_above();
            if before > 0.0 && self.var[d] > before {
                let var = (self.var[d] * factor).max(before);
                self.var[d] = var;
                for o in &mut self.others {
                    o.var[d] = var;
                }
                w.lowered_to(var);
            }
        }
    }

    /// Remember `level`, held for `held` readings, as left now.
    fn remember(&mut self, level: Vec<f64>, held: u64) {
        if self.known.len() == KNOWN_LEVELS {
            self.known.pop_front();
        }
        self.known.push_back((level, self.readings, held));
    }
}

mod confirm;
pub use confirm::confirm_threshold;
use confirm::{Confirmed, Pending};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod drift_tests;

#[cfg(test)]
mod grid_tests;
