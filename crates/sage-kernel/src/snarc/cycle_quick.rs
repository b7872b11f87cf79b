//! The cycle watch's search on few readings ([`super::Watch::quick`]): after a break, the cycle
//! that broke off at a pace near its own; while none is followed and the prediction errors
//! swing ([`Onset`]), one at any pace; each on the readings since, at every reading, until a
//! search could find it ([`super::MIN_RECENT`] readings).

use std::f64::consts::TAU;

use super::*;

/// Readings on which a cycle is looked for before a search could find it ([`relock`]): the
/// first of them (an index into the buffer), the frequencies (radians a reading) and the
/// dimensions.
pub(super) struct Quick {
    pub(super) from: usize,
    pub(super) band: (f64, f64),
    pub(super) dims: Vec<usize>,
}

impl Watch {
    /// Where a cycle is looked for at this reading on few readings, if anywhere (the buffer's
    /// first is reading `first`): after a break (`since_break` readings ago), the cycle that
    /// broke off at a pace near its own, on the readings from where it stopped; while none is
    /// followed and swings began ([`Onset`]), one at any pace, on the readings since they did.
    /// At every reading until [`MIN_RECENT`] readings after, then every fourth until
    /// [`RELOCK_UNTIL`]: found again on more readings, the frequency is the nearer.
    pub(super) fn quick(&self, since_break: Option<u64>, first: u64) -> Option<Quick> {
        let due = |s: u64| (1..RELOCK_UNTIL).contains(&s) && (s < MIN_RECENT as u64 || s.is_multiple_of(4));
        let len = self.buffer.len();
        let quick = match (since_break.filter(|&s| due(s)), self.past.last(), &self.onset.began) {
            (Some(s), Some((broken, held)), _) => Quick {
                // The readings between where it stopped and the break (the old pace failing
                // until it broke off) are the new pace's.
                from: (held.end.saturating_sub(first) as usize).min(len.checked_sub(s as usize)?),
                band: (broken.omega / RELOCK_PACE, broken.omega * RELOCK_PACE),
                dims: (0..broken.has.len()).filter(|&d| broken.has[d]).collect(),
            },
            (_, _, Some((from, dims))) if *from >= first && due(self.n - from) => {
                Quick { from: (from - first) as usize, band: (0.0, TAU / MIN_PERIOD), dims: dims.clone() }
            }
            _ => return None,
        };
        (len - quick.from >= RELOCK_FROM).then_some(quick)
    }
}

/// The prediction errors of a source while no cycle is followed, watched for a cycle that
/// begins (rotors at take-off): [`BREAK_DIMS`] dimensions or more whose jump-sized errors swing
/// ([`Swing`], within [`ONSET_PERIOD`] readings). From the reading their swings began, the
/// readings are searched for it at every reading ([`relock`], periods up to those the readings
/// hold [`RELOCK_CYCLES`] of): it is found within a few of its periods, where a search needs
/// [`MIN_RECENT`] readings of it.
#[derive(Debug, Clone, Default)]
pub(super) struct Onset {
    swings: Vec<Swing>,
    /// The noise per dimension when the errors were last quiet (none jump-sized for
    /// [`ONSET_PERIOD`] readings), as it was before the regime watch last raised it
    /// ([`Levels::quiet_sd`]): the errors are measured against it (the running estimate takes a
    /// cycle that began for a louder noise within a few of its periods, and rotors that spool
    /// up are taken so before their first jump-sized error).
    sd: Vec<f64>,
    /// The last reading with a jump-sized error.
    loud: Option<u64>,
    /// The reading at which the swings began, and the dimensions that swing.
    pub(super) began: Option<(u64, Vec<usize>)>,
}

impl Onset {
    /// Reading `n`'s prediction errors `errors`, with the running noise estimate `sd(d)`.
    pub(super) fn watch(&mut self, errors: &[f64], sd: impl Fn(usize) -> f64, n: u64) {
        self.swings.resize(errors.len(), Swing::default());
        if self.sd.len() != errors.len() || self.loud.is_none_or(|at| n - at >= ONSET_PERIOD) {
            self.sd = (0..errors.len()).map(sd).collect();
        }
        for (d, &e) in errors.iter().enumerate() {
            let sd = self.sd[d];
            if sd > 0.0 && (e / sd).abs() >= JUMP {
                self.swings[d].error(e.signum(), n, ONSET_PERIOD);
                self.loud = Some(n);
            }
        }
        if self.began.as_ref().is_some_and(|(from, _)| n - from > RELOCK_UNTIL) {
            self.began = None;
        }
        if self.began.is_none() {
            let swinging: Vec<usize> =
                (0..errors.len()).filter(|&d| self.swings[d].swings(n, ONSET_PERIOD)).collect();
            if swinging.len() >= BREAK_DIMS {
                let from = swinging.iter().map(|&d| self.swings[d].from).min().unwrap_or(n);
                self.began = Some((from, swinging));
            }
        }
    }
}

/// A cycle in `readings` (the first is reading `first`; few of them: those since a cycle broke
/// off or began), of a frequency within `band` (and [`MAX_PERIOD`] to [`MIN_PERIOD`], holding
/// [`RELOCK_CYCLES`] in them): the frequency whose sine explains the largest share of the
/// variances of `dims` (those the cycle that broke off was in, or that swing) less their line,
/// summed (at most [`SEARCH_DIMS`] of them; a grid of an eighth of the periodogram's
/// resolution, refined by a parabola). Found
/// where it explains [`EXPLAINED`] of more than half of those, and predicts either half of the
/// readings from the other ([`cycle_in`]): noise does not. It is in every dimension where it
/// explains [`EXPLAINED`] (on so few readings, a cycle of 3σ fails the halves' test now and
/// then; a dimension that drops out of the cycle from one reading to the next takes its swing
/// for noise, and the channel's noise with it).
pub(super) fn relock(readings: &[&[f64]], first: u64, band: (f64, f64), dims: &[usize]) -> Option<Cycle> {
    let len = readings.len();
    let lo = band.0.max(TAU / MAX_PERIOD).max(TAU * RELOCK_CYCLES / len as f64);
    let hi = band.1.min(TAU / MIN_PERIOD);
    if lo >= hi || dims.is_empty() {
        return None;
    }
    // At most [`SEARCH_DIMS`] of them, spread over them.
    let stride = dims.len().div_ceil(SEARCH_DIMS);
    let dims: Vec<usize> = dims.iter().copied().step_by(stride).collect();
    let columns: Vec<Vec<f64>> =
        dims.iter().map(|&d| detrend(&readings.iter().map(|r| r[d]).collect::<Vec<_>>())).collect();
    let explained = |omega: f64| -> f64 {
        let table = waves(first, omega, len);
        columns.iter().map(|y| fit_on(y, &table).2).sum()
    };
    let step = TAU / (8.0 * len as f64);
    let grid: Vec<f64> = (0..).map(|k| lo + step * k as f64).take_while(|&w| w <= hi).collect();
    let shares: Vec<f64> = grid.iter().map(|&w| explained(w)).collect();
    let omega = peak(&grid, &shares, step)?;
    let width = readings.first()?.len();
    let mut cycle = Cycle {
        omega,
        cos: vec![0.0; width],
        sin: vec![0.0; width],
        has: vec![false; width],
        phases: vec![],
    };
    let table = waves(first, omega, len);
    let mut holding = 0;
    for d in 0..width {
        let y = detrend(&readings.iter().map(|r| r[d]).collect::<Vec<_>>());
        if let Some(fitted) = fitted_sine(&y, &table) {
            holding += usize::from(fitted.holds && dims.contains(&d));
            (cycle.cos[d], cycle.sin[d]) = fitted.amplitudes;
            cycle.has[d] = true;
        }
    }
    (2 * holding > dims.len()).then_some(cycle)
}
