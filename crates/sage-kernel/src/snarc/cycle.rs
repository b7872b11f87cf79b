//! A source's fast cycle: a sine of a few readings' period on top of its level (a legged
//! robot's gait in its IMU, a fan's or a wheel's vibration, a rotating sensor).
//!
//! The levels ([`super::levels`]) predict a reading from the ones before it with a level and a
//! trend: a swing over 80 readings or more is followed, but a cycle of 6 to 40 readings is not,
//! and its swing becomes the channel's noise. A jump of 8σ under a cycle of 15σ then reads as
//! no news (probe family `cyclic`: recall 0.794 on tuning seeds 0-39 without this watch).
//!
//! The watch keeps a source's last [`BUFFER`] readings and looks for a cycle in them every
//! [`SEARCH_SOON`] readings from the [`SEARCH_FROM`]th until the [`SEARCH_SOON_UNTIL`]th, every
//! [`SEARCH_EARLY`] from there until the buffer is full, then every [`SEARCH_EVERY`] (a long
//! cycle is found as soon as the buffer holds [`MIN_CYCLES`] of it: a jump in a cycle's first
//! readings is judged against the cycle's swing as noise until then). Where a full buffer holds
//! no cycle throughout, its newest [`RECENT`] readings are searched: a cycle that began inside
//! it (rotors at take-off, a gait that changed its pace) is found there, and where it began is
//! found on the whole buffer ([`began_at`]):
//!
//! 1. **Where**: each dimension less its straight line, the frequency whose sine and cosine
//!    explain the largest share of the dimensions' variance, summed over dimensions (a
//!    periodogram on a grid of half its resolution, periods [`MIN_PERIOD`] to
//!    [`MAX_PERIOD`] readings and at least [`MIN_CYCLES`] cycles in the buffer, refined by a
//!    parabola through the best three).
//! 2. **Whether**: each dimension less its centred moving mean over about one period (what is
//!    slower than the cycle: a drift, a swing, a jump that stayed), the share of its variance
//!    the sine of that frequency explains. A dimension where it is at least [`EXPLAINED`] has a
//!    cycle: its swing is larger than its noise. Noise alone explains about 0.04 at the best
//!    of the frequencies; a swing of a period of 80 readings or more, left over by the moving
//!    mean, hardly projects on a faster sine.
//! 3. **Then**: the cycle's amplitude and phase per dimension; the levels are rebuilt over the
//!    whole buffer less the cycle from where it began, and less the cycle followed before (as
//!    it was before it stopped or changed) over the readings that held it (replayed: their
//!    warm-up, noise and known levels as if no cycle had ever been there, with no fresh
//!    warm-up where a cycle began late), and judge every later reading less the cycle. The cycle's amplitude
//!    and phase follow the levels' prediction errors, a little at each reading ([`RATE`],
//!    clipped at [`CLIP`] noise units, and not at all where a dimension reads a jump).
//!
//! Wider sources than [`MAX_DIMS`] dimensions are not searched (their buffer would be large);
//! the search looks at [`SEARCH_DIMS`] of a source's dimensions at a time, a different share
//! each time. A cycle followed has its frequency tuned every [`SEARCH_EARLY`] readings
//! ([`TUNE_GAIN`]) and is dropped when the newest [`GONE_WINDOW`] readings no longer hold it
//! ([`GONE`]) or a search finds none: then the levels are rebuilt over the buffer less the cycle
//! until where it stopped, with the cycle as it was before it stopped, fitted anew. It is
//! dropped at once where it breaks off in most of its dimensions ([`BREAK_DIMS`]: their errors
//! read it gone, or swing), and then looked for on the readings since the break alone. Until a
//! search could find it there (it needs [`MIN_RECENT`] readings), the cycle that broke off is
//! looked for at a pace near its own on the readings from where it stopped, and one that begins
//! while none is followed (errors that swing in two dimensions or more, [`Onset`]) at any pace
//! on the readings since, at every reading ([`Watch::quick`], [`relock`]): rotors that start or
//! change their speed are followed again within a few of their periods. One cycle per source
//! (decision 0013 gives the limits).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::f64::consts::TAU;
use std::ops::Range;

use self::quick::{relock, Onset};
use super::levels::Levels;

/// Readings kept for the search.
pub const BUFFER: usize = 192;
/// Readings before the first search.
pub const SEARCH_FROM: u64 = 24;
/// Readings between searches until the [`SEARCH_SOON_UNTIL`]th reading.
pub const SEARCH_SOON: u64 = 8;
/// Reading from which the searches are [`SEARCH_EARLY`] readings apart.
pub const SEARCH_SOON_UNTIL: u64 = 96;
/// Readings between searches from [`SEARCH_SOON_UNTIL`] until the buffer is full, and between
/// the tunings of a cycle followed.
pub const SEARCH_EARLY: u64 = 16;
/// Readings between searches once the buffer is full.
pub const SEARCH_EVERY: u64 = 64;
/// The newest readings searched where the full buffer holds no cycle throughout: a cycle that
/// began inside it (a drone's rotors at take-off, a gait that changed its pace) is found on
/// them, and where it began is found on the whole buffer ([`began_at`]).
pub const RECENT: usize = 96;
/// Cycled dimensions whose prediction errors swing ([`Swing`]), at least, and more than half
/// of those whose cycle is larger than a jump, for the cycle to have broken off (stopped, or
/// changed its pace).
pub const BREAK_DIMS: usize = 2;
/// Turns of sign of a dimension's jump-sized prediction errors, each within a period of the
/// one before, for it to swing: a cycle that stopped, or one followed at the wrong pace,
/// leaves errors of its own swing (+, −, + ...); a jump and its return turn once.
pub const SWING_TURNS: u32 = 2;
/// A dimension whose prediction error is its cycle's value taken away, to within this many
/// units of noise, reads the cycle gone ([`BREAK_DIMS`]).
pub const ABSENT: f64 = 2.5;
/// Readings in a row that read a cycle gone ([`ABSENT`]) for it to have stopped.
pub const GONE_READINGS: u32 = 2;
/// The fewest newest readings searched on their own ([`RECENT`], or those since a break).
pub const MIN_RECENT: usize = 32;
/// Shortest period searched, in readings.
pub const MIN_PERIOD: f64 = 3.0;
/// Longest period searched, in readings (a swing of 80 readings or more is the moving level's).
pub const MAX_PERIOD: f64 = 48.0;
/// Cycles the buffer must hold at the longest period searched (fewer than two: a cycle of 30
/// readings is found by the 56th reading, one of 40 by the 80th, where two cycles and searches
/// from the 48th, 16 apart, could find them no sooner than the 64th and the 96th; the second
/// test, a fit on either half predicting the other, keeps noise out).
pub const MIN_CYCLES: f64 = 1.25;
/// Share of a dimension's fast variance a cycle must explain to be taken.
pub const EXPLAINED: f64 = 0.75;
/// Share of a prediction error the cycle's amplitude and phase take.
pub const RATE: f64 = 0.02;
/// Prediction errors are clipped at this many noise units when the cycle learns from them, and
/// past [`JUMP`] it does not learn.
pub const CLIP: f64 = 2.5;
/// Prediction errors past this many noise units are a jump's: the cycle does not learn from
/// them.
pub const JUMP: f64 = 4.0;
/// Readings, the newest, in which a cycle followed is checked every [`SEARCH_EARLY`] readings
/// ([`gone`]).
pub const GONE_WINDOW: usize = 64;
/// Share of a dimension's fast variance under which its cycle has gone from the newest
/// readings (noise alone leaves about 0.05 to a sine of a given frequency in 64 readings).
pub const GONE: f64 = 0.25;
/// Share of the frequency difference measured that a cycle's frequency takes every
/// [`SEARCH_EARLY`] readings ([`Cycle::tune`]).
pub const TUNE_GAIN: f64 = 0.5;
/// How far, in the periodogram's bins, a cycle's frequency is looked for around the one
/// followed when it is fitted anew after it stopped ([`refit`]).
pub const REFIT_BINS: usize = 2;
/// The fewest readings a cycle is looked for on before a search could find it ([`relock`]):
/// those from where a cycle that broke off stopped, or since swings began ([`Onset`]).
pub const RELOCK_FROM: usize = 10;
/// Readings after a break, or after swings began, until which a cycle is looked for on the
/// readings since ([`Watch::quick`]; at every reading until [`MIN_RECENT`], then every fourth):
/// found on more readings, its frequency is the nearer.
pub const RELOCK_UNTIL: u64 = 64;
/// The longest period, in readings, of a cycle that begins while none is followed for its
/// dimensions' swings to be watched ([`Onset`]); a longer one waits for a search.
pub const ONSET_PERIOD: u64 = 16;
/// How far from the pace of the cycle that broke off its new one is looked for, as a ratio
/// either way: rotors that changed their speed are followed again within a few of their
/// periods.
pub const RELOCK_PACE: f64 = 1.6;
/// Cycles of its period the readings a cycle is looked for on ([`relock`]) must hold.
pub const RELOCK_CYCLES: f64 = 1.5;
/// Readings farther than this many times the robust spread of the residuals from a sine fitted
/// to a dimension are a jump's, set aside when the sine is judged ([`cycle_in`]).
pub const OUTLIER: f64 = 6.0;
/// Cycles followed before that a replay takes away from the readings they held.
pub const PAST: usize = 4;
/// Widest source searched.
pub const MAX_DIMS: usize = 256;
/// Dimensions looked at by one search.
pub const SEARCH_DIMS: usize = 8;

/// A cycle found: its frequency (radians a reading) and each dimension's cosine and sine
/// amplitude (both 0 where the dimension has none), at reading count `n` as the phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Cycle {
    /// Radians a reading.
    pub omega: f64,
    /// Per dimension: amplitude of `cos(omega · n)`.
    pub cos: Vec<f64>,
    /// Per dimension: amplitude of `sin(omega · n)`.
    pub sin: Vec<f64>,
    /// Per dimension: whether it has the cycle.
    pub has: Vec<bool>,
    /// Per dimension: the phase of its amplitudes when the frequency was last tuned
    /// ([`Cycle::tune`]; empty before).
    phases: Vec<f64>,
}

impl Cycle {
    /// The cycle's value in dimension `d` at reading `n`.
    pub fn at(&self, d: usize, n: u64) -> f64 {
        if !self.has[d] {
            return 0.0;
        }
        let phase = self.omega * n as f64;
        self.cos[d] * phase.cos() + self.sin[d] * phase.sin()
    }

    /// The frequency follows the cycle's, at reading `n`, [`SEARCH_EARLY`] readings after it
    /// last did: where the true frequency differs from it, the amplitudes' phase turns by the
    /// difference a reading as they follow ([`RATE`]); the frequency takes [`TUNE_GAIN`] of the
    /// turn measured (the dimensions' turns weighted by their amplitude), and the amplitudes are
    /// turned back so the cycle's value at `n` is unchanged.
    fn tune(&mut self, n: u64) {
        let phase = |a: f64, b: f64| (-b).atan2(a);
        let phases: Vec<f64> = self.cos.iter().zip(&self.sin).map(|(&a, &b)| phase(a, b)).collect();
        if self.phases.len() == phases.len() {
            let (mut turn, mut weight) = (0.0, 0.0);
            for d in (0..phases.len()).filter(|&d| self.has[d]) {
                let w = self.cos[d].hypot(self.sin[d]);
                let t = (phases[d] - self.phases[d] + std::f64::consts::PI).rem_euclid(TAU)
                    - std::f64::consts::PI;
                (turn, weight) = (turn + w * t, weight + w);
            }
            if weight > 0.0 {
                let delta = TUNE_GAIN * turn / weight / SEARCH_EARLY as f64;
                self.omega += delta;
                // a − ib turns by −δ·n: the same value at n in the new frequency.
                let (c, s) = ((delta * n as f64).cos(), (delta * n as f64).sin());
                for (a, b) in self.cos.iter_mut().zip(self.sin.iter_mut()) {
                    (*a, *b) = (*a * c - *b * s, *a * s + *b * c);
                }
            }
        }
        self.phases = self.cos.iter().zip(&self.sin).map(|(&a, &b)| phase(a, b)).collect();
    }

    /// Reading `n`'s prediction errors `errors` (of the levels, on the reading less the cycle)
    /// in units of noise `sd(d)`: the amplitudes take a little of each.
    fn learn(&mut self, n: u64, errors: &[f64], sd: impl Fn(usize) -> f64) {
        let phase = self.omega * n as f64;
        let (c, s) = (phase.cos(), phase.sin());
        for (d, &e) in errors.iter().enumerate() {
            let sd = sd(d);
            if !self.has[d] || sd.is_nan() || sd <= 0.0 || (e / sd).abs() >= JUMP {
                continue;
            }
            let e = e.clamp(-CLIP * sd, CLIP * sd);
            self.cos[d] += 2.0 * RATE * e * c;
            self.sin[d] += 2.0 * RATE * e * s;
        }
    }
}

/// The watch on one source's readings for a cycle.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    /// Readings seen.
    n: u64,
    /// The last readings, until a cycle is found (empty for a source too wide).
    buffer: VecDeque<Vec<f64>>,
    cycle: Option<Cycle>,
    /// Searches made (which dimensions the next looks at).
    searches: usize,
    /// Readings the cycle followed was found on.
    found_on: usize,
    /// The cycle followed as it was after the last [`SEARCH_EARLY`] readings none of whose
    /// prediction errors was a jump's ([`JUMP`]): once a cycle stops, the one followed learns
    /// from errors that are the cycle's own absence, and its frequency turns with them.
    kept: Option<Cycle>,
    /// The noise per dimension when `kept` was kept: the errors are measured against it (the
    /// noise estimated since grows with the errors of a cycle that stopped).
    kept_sd: Vec<f64>,
    /// The largest prediction error, in units of `kept_sd`, since the last multiple of
    /// [`SEARCH_EARLY`] readings.
    worst: f64,
    /// The reading (counted from the source's first) at which the cycle followed began.
    since: u64,
    /// The cycles followed before, each as it was before it stopped or changed, and the
    /// readings it held (the newest last; at most [`PAST`], none held before the buffer): a
    /// replay takes each away from its readings.
    past: Vec<(Cycle, Range<u64>)>,
    /// The reading at which the cycle followed last broke off ([`BREAK_DIMS`]): until one is
    /// found again, the readings since are searched every [`SEARCH_EARLY`].
    broke: Option<u64>,
    /// The watch on the cycle followed for breaking off.
    breaks: Breaks,
    /// The watch for a cycle beginning while none is followed.
    onset: Onset,
}

/// A dimension's jump-sized prediction errors ([`JUMP`]): the sign and reading of the last,
/// how many times in a row their sign turned within a period, and the reading of the first of
/// that row.
#[derive(Debug, Clone, Copy, Default)]
struct Swing {
    sign: f64,
    at: u64,
    turns: u32,
    from: u64,
}

impl Swing {
    /// A jump-sized error of sign `sign` at reading `n`, for a cycle of `period` readings.
    fn error(&mut self, sign: f64, n: u64, period: u64) {
        let near = self.sign != 0.0 && n - self.at < period;
        self.turns = match (near, self.sign == sign) {
            (true, true) => self.turns,
            (true, false) => self.turns + 1,
            (false, _) => 0,
        };
        if !near {
            self.from = n;
        }
        (self.sign, self.at) = (sign, n);
    }

    /// Whether it swings at reading `n`.
    fn swings(&self, n: u64, period: u64) -> bool {
        self.turns >= SWING_TURNS && n - self.at < period
    }
}

impl Watch {
    /// The cycle found, if any.
    pub fn cycle(&self) -> Option<&Cycle> {
        self.cycle.as_ref()
    }

    /// Reading `v`, the next, less the cycle (as it is while none was found).
    pub fn remove<'a>(&self, v: &'a [f64]) -> Cow<'a, [f64]> {
        match &self.cycle {
            Some(c) => Cow::Owned(v.iter().enumerate().map(|(d, x)| x - c.at(d, self.n)).collect()),
            None => Cow::Borrowed(v),
        }
    }

    /// Reading `v` was judged by `levels`, less the cycle, against their prediction `before`
    /// (None for a source wider than [`MAX_DIMS`]): the cycle followed learns from it, or the
    /// watch for one that begins ([`Onset`]) does; it joins the buffer, and a search may find a
    /// cycle (then `levels` are rebuilt over the buffer less it) or find that the one followed
    /// has stopped.
    pub fn learn(&mut self, v: &[f64], before: Option<&[f64]>, levels: &mut Levels) {
        let n = self.n;
        self.n += 1;
        let broke = before.is_some_and(|before| self.follow(n, v, before, levels));
        if let (None, Some(before)) = (&self.cycle, before) {
            let errors: Vec<f64> = v.iter().zip(before).map(|(x, p)| x - p).collect();
            self.onset.watch(&errors, |d| levels.quiet_sd(d), n);
        }
        if v.len() > MAX_DIMS {
            return;
        }
        let mut slot =
            if self.buffer.len() == BUFFER { self.buffer.pop_front() } else { None }.unwrap_or_default();
        slot.clear();
        slot.extend_from_slice(v);
        self.buffer.push_back(slot);
        let first = self.n - self.buffer.len() as u64;
        if broke {
            // The cycle broke off at this reading in most of its dimensions at once (the
            // rotors stopped or changed their pace): it stops here, and is looked for again in
            // the readings from here on.
            self.stop(self.buffer.len() - 1, first, levels);
            self.broke = Some(n);
            return;
        }
        match self.look(first) {
            Look::Nothing => {}
            Look::Stopped => self.stop(self.buffer.len(), first, levels),
            Look::Found(found, began) => self.take(found, began, first, levels),
        }
    }

    /// The cycle followed, if any, learns from reading `n`, `v`, predicted `before` by the
    /// levels (less it): its amplitudes and phase, every [`SEARCH_EARLY`] readings its
    /// frequency and the copy kept; returns whether it broke off ([`Breaks`]).
    fn follow(&mut self, n: u64, v: &[f64], before: &[f64], levels: &Levels) -> bool {
        let Some(cycle) = &mut self.cycle else {
            return false;
        };
        let values: Vec<f64> = (0..v.len()).map(|d| cycle.at(d, n)).collect();
        let errors: Vec<f64> = v.iter().zip(before).zip(&values).map(|((x, p), c)| x - c - p).collect();
        cycle.learn(n, &errors, |d| levels.noise_sd(d));
        if self.kept_sd.len() != errors.len() {
            self.kept_sd = (0..errors.len()).map(|d| levels.noise_sd(d)).collect();
        }
        let worst = (0..errors.len())
            .filter(|&d| cycle.has[d])
            .map(|d| (errors[d] / self.kept_sd[d]).abs())
            .fold(0.0, f64::max);
        self.worst = self.worst.max(worst);
        let broke = self.breaks.broke_off(cycle, &values, &errors, &self.kept_sd, n);
        if self.n.is_multiple_of(SEARCH_EARLY) {
            cycle.tune(n);
            if self.worst < JUMP {
                self.kept = Some(cycle.clone());
                self.kept_sd = (0..errors.len()).map(|d| levels.noise_sd(d)).collect();
            }
            self.worst = 0.0;
        }
        broke
    }

    /// What the buffer (the first is reading `first`) says at this reading: a cycle found
    /// (on few readings after a break or an onset, [`Watch::quick`]; or by a search), the one
    /// followed stopped (a search found none, or it is gone from the newest readings), or
    /// nothing to do.
    fn look(&mut self, first: u64) -> Look {
        let since_break = self.broke.map(|b| self.n - b);
        let unfound = since_break.filter(|&s| self.cycle.is_none() && s <= BUFFER as u64);
        // After a break, the readings since are searched once there are enough of them.
        let search = match unfound {
            Some(s) => s >= MIN_RECENT as u64 && (self.n.is_multiple_of(SEARCH_EARLY) || searches_at(self.n)),
            None => searches_at(self.n),
        };
        let quick = self.quick(since_break, first);
        if !search && quick.is_none() && (self.cycle.is_none() || !self.n.is_multiple_of(SEARCH_EARLY)) {
            return Look::Nothing;
        }
        let readings: Vec<&[f64]> = self.buffer.iter().map(Vec::as_slice).collect();
        let quickly = quick.as_ref().and_then(|q| {
            relock(&readings[q.from..], first + q.from as u64, q.band, &q.dims).map(|found| (found, q.from))
        });
        if let Some((found, began)) = quickly {
            Look::Found(found, began)
        } else if quick.is_some() && !search {
            Look::Nothing
        } else if search {
            self.searches += 1;
            match find_begun(&readings, first, self.searches, unfound.map(|s| s as usize)) {
                Some((found, began)) => {
                    self.onset.began = None;
                    Look::Found(found, began)
                }
                // One found on fewer readings than a search looks at is not stopped by it.
                None if self.cycle.is_some() && self.found_on < MIN_RECENT => Look::Nothing,
                None => Look::Stopped,
            }
        } else if self.cycle.as_ref().is_some_and(|c| gone(&readings, first, self.since, c)) {
            Look::Stopped
        } else {
            Look::Nothing
        }
    }

    /// `found`, which began at the buffer's reading `began` (the first is reading `first`),
    /// becomes the cycle followed where it is the better estimate, and the levels are rebuilt
    /// over the buffer less it (and less the cycles before it, where they were).
    fn take(&mut self, found: Cycle, began: usize, first: u64, levels: &mut Levels) {
        let readings: Vec<&[f64]> = self.buffer.iter().map(Vec::as_slice).collect();
        // A cycle found on more readings is the better estimate. Once the buffer is full, the
        // one followed is kept unless the new one's frequency would drift from it by more than
        // a quarter turn over the buffer (its amplitude and phase follow).
        let found_on = readings.len() - began;
        let drifts = |c: &Cycle| (c.omega - found.omega).abs() * readings.len() as f64 > TAU / 4.0;
        let moved =
            self.cycle.as_ref().is_none_or(|c| found_on > self.found_on || drifts(c) || c.has != found.has);
        if !moved {
            return;
        }
        // Of the frequency of the one followed, it is the one followed, found on more
        // readings: it goes on from where it began. A new one began where it was found to:
        // before it, the one followed until then (as it was before it changed), or the one
        // that stopped, where there was one.
        let start = match &self.cycle {
            Some(c) if !drifts(c) => self.since,
            _ => first + began as u64,
        };
        if start > self.since {
            if let Some(followed) = self.cycle.take() {
                let followed = self.kept.take().unwrap_or(followed);
                keep_past(&mut self.past, followed, self.since..start, first);
            }
        }
        let mut pieces: Vec<(&Cycle, Range<u64>)> = vec![(&found, start..u64::MAX)];
        for (past, held) in &self.past {
            pieces.push((past, held.start..held.end.min(start)));
        }
        *levels = replay(&readings, first, &pieces);
        self.found_on = found_on;
        self.since = start;
        self.kept = Some(found.clone());
        self.kept_sd.clear();
        self.cycle = Some(found);
        self.breaks = Breaks::default();
    }
}

/// What the buffer says at a reading ([`Watch::look`]).
enum Look {
    Nothing,
    Stopped,
    Found(Cycle, usize),
}

impl Watch {
    /// The cycle followed, if any, stopped within the buffer's oldest `held` readings (the
    /// first is reading `first`): the levels are rebuilt over the buffer less the cycle until
    /// where it stopped, and as read from there.
    fn stop(&mut self, held: usize, first: u64, levels: &mut Levels) {
        let Some(followed) = self.cycle.take() else {
            return;
        };
        let stopped = self.kept.take().unwrap_or(followed);
        self.found_on = 0;
        self.onset = Onset::default();
        let readings: Vec<&[f64]> = self.buffer.iter().map(Vec::as_slice).collect();
        // Fitted anew first on the readings it may have held: one followed at a pace a little
        // off would read as stopped long before it did.
        let from = (self.since.saturating_sub(first) as usize).min(held);
        let (on, at) = (&readings[from..held], first + from as u64);
        let fitted = refit(on, at, stopped);
        let until = stopped_at(on, at, &fitted);
        let stopped = refit(&on[..until], at, fitted);
        keep_past(&mut self.past, stopped, self.since..at + until as u64, first);
        let pieces: Vec<(&Cycle, Range<u64>)> = self.past.iter().rev().map(|(c, r)| (c, r.clone())).collect();
        *levels = replay(&readings, first, &pieces);
    }
}

/// `cycle` held `readings` before it stopped or changed: kept among `past` for replays while
/// it held any of the buffer's (the first is reading `first`).
fn keep_past(past: &mut Vec<(Cycle, Range<u64>)>, cycle: Cycle, readings: Range<u64>, first: u64) {
    past.retain(|(_, held)| held.end > first);
    if past.len() == PAST {
        past.remove(0);
    }
    past.push((cycle, readings));
}

/// A cycle followed, watched for breaking off: [`BREAK_DIMS`] of its dimensions at least, and
/// more than half of those where it is larger than a jump, read it gone at once at
/// [`GONE_READINGS`] readings in a row (their errors are its own value taken away, to within
/// [`ABSENT`]: it stopped), or swing ([`Swing`]: it stopped, or changed its pace).
#[derive(Debug, Clone, Default)]
struct Breaks {
    /// Per dimension, its jump-sized errors.
    swings: Vec<Swing>,
    /// Readings in a row that read it gone.
    gone: u32,
}

impl Breaks {
    /// Whether `cycle` broke off at reading `n`, where it was worth `values` and the
    /// prediction errors (of the levels, on the reading less it) were `errors`, in units of
    /// noise `sd`.
    fn broke_off(&mut self, cycle: &Cycle, values: &[f64], errors: &[f64], sd: &[f64], n: u64) -> bool {
        let period = ((TAU / cycle.omega).round() as u64).max(1);
        let dims: Vec<usize> = (0..errors.len()).filter(|&d| cycle.has[d]).collect();
        self.swings.resize(errors.len(), Swing::default());
        for &d in &dims {
            if (errors[d] / sd[d]).abs() >= JUMP {
                self.swings[d].error(errors[d].signum(), n, period);
            }
        }
        let more_than_half = |count: usize, of: usize| count >= BREAK_DIMS && 2 * count > of;
        // Gone, where it is larger than a jump at this reading.
        let showing: Vec<usize> = dims.iter().copied().filter(|&d| values[d].abs() >= JUMP * sd[d]).collect();
        let gone = showing.iter().filter(|&&d| (errors[d] + values[d]).abs() < ABSENT * sd[d]).count();
        self.gone = if more_than_half(gone, showing.len()) { self.gone + 1 } else { 0 };
        // Swinging, where it is larger than a jump.
        let larger = dims.iter().filter(|&&d| cycle.cos[d].hypot(cycle.sin[d]) >= JUMP * sd[d]).count();
        let swinging = dims.iter().filter(|&&d| self.swings[d].swings(n, period)).count();
        self.gone >= GONE_READINGS || more_than_half(swinging, larger)
    }
}

/// Whether `cycle`, followed since reading `since`, has left the newest [`GONE_WINDOW`] of
/// `readings` (the first is reading `first`): in none of its dimensions does a sine of its
/// frequency explain [`GONE`] of their fast variance there. Not before it has been followed
/// over a whole window: one found at a new pace a few readings ago is not there in most of it.
fn gone(readings: &[&[f64]], first: u64, since: u64, cycle: &Cycle) -> bool {
    let Some(from) = readings.len().checked_sub(GONE_WINDOW) else {
        return false;
    };
    if first + (from as u64) < since {
        return false;
    }
    let width = ((TAU / cycle.omega).round() as usize) | 1;
    (0..cycle.has.len()).filter(|&d| cycle.has[d]).all(|d| {
        let column: Vec<f64> = readings[from..].iter().map(|r| r[d]).collect();
        let (at, fast) = fast_part(&column, width);
        fast.len() < 2 || fit(&fast, first + (from + at) as u64, cycle.omega).2 < GONE
    })
}

/// Whether the watch searches after its `n`th reading: every [`SEARCH_SOON`] readings from
/// [`SEARCH_FROM`] until [`SEARCH_SOON_UNTIL`], every [`SEARCH_EARLY`] until the buffer is full,
/// then every [`SEARCH_EVERY`].
fn searches_at(n: u64) -> bool {
    if n < SEARCH_FROM {
        false
    } else if n < SEARCH_SOON_UNTIL {
        n.is_multiple_of(SEARCH_SOON)
    } else if n <= BUFFER as u64 {
        n.is_multiple_of(SEARCH_EARLY)
    } else {
        n.is_multiple_of(SEARCH_EVERY)
    }
}

/// Levels over `readings` (the first is reading `first`), each less the first of `pieces`
/// whose readings (counted from the source's first) hold it.
fn replay(readings: &[&[f64]], first: u64, pieces: &[(&Cycle, Range<u64>)]) -> Levels {
    let less = |i: usize| -> Vec<f64> {
        let n = first + i as u64;
        match pieces.iter().find(|(_, held)| held.contains(&n)) {
            Some((cycle, _)) => readings[i].iter().enumerate().map(|(d, x)| x - cycle.at(d, n)).collect(),
            None => readings[i].to_vec(),
        }
    };
    let mut levels = Levels::new(&less(0));
    for i in 1..readings.len() {
        levels.observe(&less(i));
    }
    levels
}

/// `cycle`'s frequency, amplitudes and phases fitted anew to `readings` (the first is reading
/// `first`): those it followed may have learned from readings after it stopped, and its
/// frequency turned with them. The frequency is the best within [`REFIT_BINS`] of the
/// periodogram's resolution of the one followed (a grid of a quarter of it, refined by a
/// parabola). Unchanged where there are fewer readings than a cycle.
fn refit(readings: &[&[f64]], first: u64, mut cycle: Cycle) -> Cycle {
    let len = readings.len();
    if (len as f64) < TAU / cycle.omega {
        return cycle;
    }
    let dims: Vec<usize> = (0..cycle.has.len()).filter(|&d| cycle.has[d]).collect();
    let columns: Vec<Vec<f64>> =
        dims.iter().map(|&d| detrend(&readings.iter().map(|r| r[d]).collect::<Vec<_>>())).collect();
    let explained = |omega: f64| -> f64 { columns.iter().map(|y| fit(y, first, omega).2).sum() };
    let step = TAU / (4.0 * len as f64);
    let reach = 4 * REFIT_BINS as i64;
    let grid: Vec<f64> = (-reach..=reach)
        .map(|k| cycle.omega + step * k as f64)
        .filter(|&w| w > 0.0 && w < std::f64::consts::PI)
        .collect();
    let shares: Vec<f64> = grid.iter().map(|&w| explained(w)).collect();
    if let Some(omega) = peak(&grid, &shares, step) {
        cycle.omega = omega;
    }
    for (&d, y) in dims.iter().zip(&columns) {
        let (a, b, _) = fit(y, first, cycle.omega);
        (cycle.cos[d], cycle.sin[d]) = (a, b);
    }
    cycle.phases.clear();
    cycle
}

/// Where in `readings` (the first is reading `first`) `cycle` stopped: the start of the
/// newest stretch over which taking it away leaves the readings, less their line, the farther
/// from it (0: it had stopped before the buffer's first reading).
fn stopped_at(readings: &[&[f64]], first: u64, cycle: &Cycle) -> usize {
    let worse = worse_without(readings, first, cycle);
    // The suffix whose sum is largest.
    let (mut best, mut at, mut sum) = (f64::NEG_INFINITY, readings.len(), 0.0);
    for i in (0..readings.len()).rev() {
        sum += worse[i];
        if sum > best {
            (best, at) = (sum, i);
        }
    }
    at
}

/// Where in `readings` (the first is reading `first`) `cycle` began: the end of the oldest
/// stretch over which taking it away leaves the readings, less their line, the farther from
/// it (0: it was there from the buffer's first reading).
fn began_at(readings: &[&[f64]], first: u64, cycle: &Cycle) -> usize {
    let worse = worse_without(readings, first, cycle);
    // The prefix whose sum is largest (the empty one's is 0).
    let (mut best, mut at, mut sum) = (0.0, 0, 0.0);
    for (i, w) in worse.iter().enumerate() {
        sum += w;
        if sum > best {
            (best, at) = (sum, i + 1);
        }
    }
    at
}

/// Per reading of `readings` (the first is reading `first`), how much farther from their line
/// the dimensions that have `cycle` are with it taken away than without.
fn worse_without(readings: &[&[f64]], first: u64, cycle: &Cycle) -> Vec<f64> {
    let dims: Vec<usize> = (0..cycle.has.len()).filter(|&d| cycle.has[d]).collect();
    let columns: Vec<Vec<f64>> =
        dims.iter().map(|&d| detrend(&readings.iter().map(|r| r[d]).collect::<Vec<_>>())).collect();
    (0..readings.len())
        .map(|i| {
            let n = first + i as u64;
            dims.iter().zip(&columns).map(|(&d, y)| (y[i] - cycle.at(d, n)).powi(2) - y[i].powi(2)).sum()
        })
        .collect()
}

/// A cycle in `readings` (the first is reading `first`; [`find`]) and where in them it began:
/// the one in the most dimensions of those found on them all and on the newest [`RECENT`],
/// half of it and [`MIN_RECENT`] (on more readings where as many: a cycle that began inside
/// them is found in fewer of its dimensions on them all, or in none); after a break, only on
/// the newest `since_break` (at least [`MIN_RECENT`]): the cycle that broke off is not found
/// again on the readings before.
fn find_begun(
    readings: &[&[f64]],
    first: u64,
    search: usize,
    since_break: Option<usize>,
) -> Option<(Cycle, usize)> {
    let len = readings.len();
    let newest = |w: usize| find(&readings[len - w..], first + (len - w) as u64, search);
    let found = match since_break {
        Some(w) => Some(w).filter(|&w| (MIN_RECENT..=len).contains(&w)).and_then(newest),
        // (The last of the most: the longest.)
        None => [MIN_RECENT, RECENT / 2, RECENT, len]
            .into_iter()
            .filter(|&w| w == len || (MIN_RECENT..len).contains(&w))
            .filter_map(newest)
            .max_by_key(|c| c.has.iter().filter(|&&h| h).count()),
    }?;
    let began = began_at(readings, first, &found);
    Some((found, began))
}

/// The frequency of `grid` (a step of `step` apart) whose share in `shares` is the largest,
/// refined by a parabola through it and its neighbours where they bend down; None for an empty
/// grid.
fn peak(grid: &[f64], shares: &[f64], step: f64) -> Option<f64> {
    let (best, &p) = shares.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let mut omega = grid[best];
    if let (Some(&l), Some(&r)) = (best.checked_sub(1).and_then(|i| shares.get(i)), shares.get(best + 1)) {
        let curve = l + r - 2.0 * p;
        if curve < 0.0 {
            omega += step * 0.5 * (l - r) / curve;
        }
    }
    Some(omega)
}

/// Each of `series` less its least-squares line.
fn detrend(series: &[f64]) -> Vec<f64> {
    let n = series.len() as f64;
    let mean_t = (n - 1.0) / 2.0;
    let mean = series.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (t, y) in series.iter().enumerate() {
        let dt = t as f64 - mean_t;
        sxy += dt * (y - mean);
        sxx += dt * dt;
    }
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    series.iter().enumerate().map(|(t, y)| y - mean - slope * (t as f64 - mean_t)).collect()
}

/// `series` less its centred moving mean over `width` readings (odd), where the window fits:
/// `(index of the first, values)`.
fn fast_part(series: &[f64], width: usize) -> (usize, Vec<f64>) {
    let h = width / 2;
    if series.len() <= 2 * h {
        return (0, Vec::new());
    }
    let mut sum: f64 = series[..width].iter().sum();
    let mut out = Vec::with_capacity(series.len() - 2 * h);
    for t in h..series.len() - h {
        if t > h {
            sum += series[t + h] - series[t - h - 1];
        }
        out.push(series[t] - sum / width as f64);
    }
    (h, out)
}

/// What a centred moving mean over `width` readings keeps of a sine of frequency `omega`.
fn mean_gain(omega: f64, width: usize) -> f64 {
    let w = width as f64;
    (omega * w / 2.0).sin() / (w * (omega / 2.0).sin())
}

/// The least-squares fit of `a cos(ωn) + b sin(ωn)` to `y` (the first at reading `first`):
/// `(a, b, the share of y's sum of squares it explains)`.
fn fit(y: &[f64], first: u64, omega: f64) -> (f64, f64, f64) {
    fit_on(y, &waves(first, omega, y.len()))
}

/// `cos(ωn)` and `sin(ωn)` for the `len` readings from reading `first`.
fn waves(first: u64, omega: f64, len: usize) -> Vec<(f64, f64)> {
    (0..len)
        .map(|i| {
            let phase = omega * (first + i as u64) as f64;
            (phase.cos(), phase.sin())
        })
        .collect()
}

/// [`fit`] with the cosines and sines of its readings computed ([`waves`]): one table serves
/// every dimension of a search.
fn fit_on(y: &[f64], waves: &[(f64, f64)]) -> (f64, f64, f64) {
    let (mut cc, mut ss, mut cs, mut yc, mut ys, mut yy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (&v, &(c, s)) in y.iter().zip(waves) {
        cc += c * c;
        ss += s * s;
        cs += c * s;
        yc += v * c;
        ys += v * s;
        yy += v * v;
    }
    let det = cc * ss - cs * cs;
    if det.is_nan() || yy.is_nan() || det <= 0.0 || yy <= 0.0 {
        return (0.0, 0.0, 0.0);
    }
    let a = (yc * ss - ys * cs) / det;
    let b = (ys * cc - yc * cs) / det;
    (a, b, ((a * yc + b * ys) / yy).clamp(0.0, 1.0))
}

/// The share of `y`'s sum of squares that `a cos(ωn) + b sin(ωn)` explains, `waves` its cosines
/// and sines at `y`'s readings (negative where it adds more than it explains).
fn explained_by(y: &[f64], waves: &[(f64, f64)], (a, b): (f64, f64)) -> f64 {
    let (mut left, mut total) = (0.0, 0.0);
    for (&v, &(c, s)) in y.iter().zip(waves) {
        left += (v - a * c - b * s).powi(2);
        total += v * v;
    }
    if total > 0.0 {
        1.0 - left / total
    } else {
        0.0
    }
}

/// Whether a sine fitted to either half of `y` (`waves` its cosines and sines at `y`'s
/// readings) explains at least [`EXPLAINED`] of the other half: a cycle predicts readings it
/// was not fitted on; a sine fitted to noise (the best of many frequencies, in a short buffer,
/// now and then explains half of one dimension's fast variance) does not.
fn holds_out(y: &[f64], waves: &[(f64, f64)]) -> bool {
    let half = y.len() / 2;
    let ((one, two), (w1, w2)) = (y.split_at(half), waves.split_at(half));
    let fitted = |y: &[f64], w: &[(f64, f64)]| {
        let (a, b, _) = fit_on(y, w);
        (a, b)
    };
    explained_by(two, w2, fitted(one, w1)) >= EXPLAINED && explained_by(one, w1, fitted(two, w2)) >= EXPLAINED
}

/// The cosine and sine amplitudes of the cycle in `y` (`waves` the cosines and sines of its
/// frequency at `y`'s readings), where it has one: a sine that explains [`EXPLAINED`] of `y` and
/// holds out ([`holds_out`]), once the readings that a jump took more than [`OUTLIER`] times
/// the residuals' robust spread from the sine fitted to them all are set aside (a jump of 11σ
/// for four readings in a buffer of 192 kept a cycle of 4.5σ from being found, and the cycle
/// was taken for noise until the next search).
fn cycle_in(y: &[f64], waves: &[(f64, f64)]) -> Option<(f64, f64)> {
    fitted_sine(y, waves).filter(|f| f.holds).map(|f| f.amplitudes)
}

/// A sine fitted to `y` ([`cycle_in`]), where it explains [`EXPLAINED`] of `y` less its jumps:
/// its amplitudes, and whether it holds out.
struct Fitted {
    amplitudes: (f64, f64),
    holds: bool,
}

/// [`cycle_in`]'s fit, the test on the halves not required.
fn fitted_sine(y: &[f64], waves: &[(f64, f64)]) -> Option<Fitted> {
    let (a, b, _) = fit_on(y, waves);
    let residuals: Vec<f64> = y.iter().zip(waves).map(|(&v, &(c, s))| (v - a * c - b * s).abs()).collect();
    let mut sorted = residuals.clone();
    sorted.sort_by(f64::total_cmp);
    let spread = 1.4826 * sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    // (A residual or spread that is not a number keeps its reading.)
    let far = |r: f64| r.partial_cmp(&(OUTLIER * spread)) == Some(std::cmp::Ordering::Greater);
    let keep: Vec<usize> = (0..y.len()).filter(|&i| !far(residuals[i])).collect();
    let (y, waves): (Vec<f64>, Vec<(f64, f64)>) = keep.iter().map(|&i| (y[i], waves[i])).unzip();
    let (a, b, share) = fit_on(&y, &waves);
    (share >= EXPLAINED).then(|| Fitted { amplitudes: (a, b), holds: holds_out(&y, &waves) })
}

/// The frequency (radians a reading) whose sine explains the largest share of `series`'
/// variances, summed, on a grid of half the periodogram's resolution (refined by a
/// parabola), and that sum; None where no period fits the buffer.
fn strongest(series: &[Vec<f64>]) -> Option<(f64, f64)> {
    let len = series.first()?.len();
    let longest = MAX_PERIOD.min(len as f64 / MIN_CYCLES);
    if longest <= MIN_PERIOD {
        return None;
    }
    let step = TAU / (2.0 * len as f64);
    let (lo, hi) = (TAU / longest, TAU / MIN_PERIOD);
    let totals: Vec<f64> = series.iter().map(|y| y.iter().map(|v| v * v).sum()).collect();
    let power = |omega: f64| -> f64 {
        // cos and sin of ωt by rotation: one complex product a reading.
        let (rc, rs) = (omega.cos(), omega.sin());
        let mut table = Vec::with_capacity(len);
        let (mut c, mut s) = (1.0f64, 0.0f64);
        for _ in 0..len {
            table.push((c, s));
            (c, s) = (c * rc - s * rs, c * rs + s * rc);
        }
        series
            .iter()
            .zip(&totals)
            .map(|(y, &total)| {
                let (c, s) =
                    y.iter().zip(&table).fold((0.0, 0.0), |(c, s), (v, (tc, ts))| (c + v * tc, s + v * ts));
                if total > 0.0 {
                    2.0 * (c * c + s * s) / (len as f64 * total)
                } else {
                    0.0
                }
            })
            .sum()
    };
    let grid: Vec<f64> = (0..).map(|k| lo + step * k as f64).take_while(|&w| w <= hi).collect();
    let powers: Vec<f64> = grid.iter().map(|&w| power(w)).collect();
    let (best, &p) = powers.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    // A peak at the grid's end is a slope toward a cycle outside it (a longer period than the
    // buffer holds yet): none. Otherwise a parabola through the best and its neighbours.
    let (&l, &r) = (powers.get(best.checked_sub(1)?)?, powers.get(best + 1)?);
    let curve = l + r - 2.0 * p;
    let omega = if curve < 0.0 { grid[best] + step * 0.5 * (l - r) / curve } else { grid[best] };
    Some((omega, p))
}

/// A cycle in `readings` (the first is reading `first`), looking at every `stride`th dimension
/// from an offset that `search` moves; None where no dimension's fast variance is explained by
/// one at [`EXPLAINED`] or more.
pub fn find(readings: &[&[f64]], first: u64, search: usize) -> Option<Cycle> {
    let dims = readings.first()?.len();
    let stride = dims.div_ceil(SEARCH_DIMS).max(1);
    let column = |d: usize| -> Vec<f64> { readings.iter().map(|r| r[d]).collect() };
    let looked: Vec<Vec<f64>> =
        (0..dims).filter(|d| (d + search).is_multiple_of(stride)).map(|d| detrend(&column(d))).collect();
    let (omega, _) = strongest(&looked)?;
    let width = ((TAU / omega).round() as usize) | 1;
    let mut cycle =
        Cycle { omega, cos: vec![0.0; dims], sin: vec![0.0; dims], has: vec![false; dims], phases: vec![] };
    // The moving mean leaves a little of the cycle in itself: the fast part holds the rest.
    let kept = 1.0 - mean_gain(omega, width);
    let (from, _) = fast_part(&column(0), width);
    let at = first + from as u64;
    let table = waves(at, omega, readings.len());
    for d in 0..dims {
        let (_, fast) = fast_part(&column(d), width);
        if let Some((a, b)) = cycle_in(&fast, &table[..fast.len()]) {
            (cycle.cos[d], cycle.sin[d], cycle.has[d]) = (a / kept, b / kept, true);
        }
    }
    cycle.has.contains(&true).then_some(cycle)
}

#[path = "cycle_quick.rs"]
mod quick;

#[cfg(test)]
#[path = "cycle_tests.rs"]
mod tests;
