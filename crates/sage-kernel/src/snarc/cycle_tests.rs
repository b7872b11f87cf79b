//! The cycle watch: a fast cycle is found, with its frequency and the dimensions it is in; noise,
//! a slow swing and a jump are no cycle; a jump under a cycle larger than it is news once the
//! cycle is found.

use super::*;
use crate::rng::Rng;
use crate::snarc::{Snarc, SnarcConfig};

/// `readings` readings of `dims` dimensions of noise `sigma` around `offset`, with a sine of
/// `period` readings and `amplitude` (in σ) in the dimensions `with`, each of its own phase;
/// and, from reading `jump.0`, `jump.1` σ added to the first `jumps_in` dimensions for three
/// readings.
struct Series {
    dims: usize,
    with: Vec<usize>,
    period: f64,
    amplitude: f64,
    sigma: f64,
    offset: f64,
    jump: Option<(usize, f64)>,
    /// The reading at which the cycle begins.
    begins: usize,
    /// From reading `.0`, the cycle's pace times `.1` (its phase continuous).
    speeds_up: Option<(usize, f64)>,
    /// The reading at which the cycle stops.
    stops: usize,
    /// Dimensions the jump is in.
    jumps_in: usize,
    /// Readings over which the cycle's amplitude grows from nothing (rotors that spool up).
    spool: usize,
}

impl Series {
    fn read(&self, seed: u64, readings: usize) -> Vec<Vec<f64>> {
        let mut rng = Rng::new(seed);
        let phases: Vec<f64> = (0..self.dims).map(|_| TAU * rng.next_f64()).collect();
        (0..readings)
            .map(|i| {
                (0..self.dims)
                    .map(|d| {
                        let cycle = if self.with.contains(&d) && (self.begins..self.stops).contains(&i) {
                            let turns = match self.speeds_up {
                                Some((at, by)) if i > at => (at as f64 + (i - at) as f64 * by) / self.period,
                                _ => i as f64 / self.period,
                            };
                            let grown = ((i - self.begins + 1) as f64 / self.spool.max(1) as f64).min(1.0);
                            grown * self.amplitude * (TAU * turns + phases[d]).sin()
                        } else {
                            0.0
                        };
                        let lift = match self.jump {
                            Some((at, size)) if d < self.jumps_in && (at..at + 3).contains(&i) => size,
                            _ => 0.0,
                        };
                        self.offset + self.sigma * (cycle + lift + rng.normal())
                    })
                    .collect()
            })
            .collect()
    }
}

fn gait() -> Series {
    Series {
        dims: 3,
        with: vec![0, 2],
        period: 13.7,
        amplitude: 8.0,
        sigma: 0.05,
        offset: 9.81,
        jump: None,
        begins: 0,
        speeds_up: None,
        stops: usize::MAX,
        jumps_in: 1,
        spool: 0,
    }
}

fn search(readings: &[Vec<f64>]) -> Option<Cycle> {
    let slices: Vec<&[f64]> = readings.iter().map(Vec::as_slice).collect();
    find(&slices, 0, 1)
}

#[test]
fn a_fast_cycle_is_found_with_its_frequency_and_its_dimensions() {
    for seed in 0..10 {
        let cycle = search(&gait().read(seed, BUFFER)).unwrap();
        let period = TAU / cycle.omega;
        assert!((period - 13.7).abs() < 0.1, "seed {seed}: period {period}");
        assert_eq!(cycle.has, [true, false, true], "seed {seed}");
        let amplitude = cycle.cos[0].hypot(cycle.sin[0]) / 0.05;
        assert!((amplitude - 8.0).abs() < 0.5, "seed {seed}: amplitude {amplitude}σ");
    }
}

#[test]
fn units_and_offset_do_not_change_what_is_found() {
    for (sigma, offset) in [(1e-3, 0.0), (1e3, -5e4)] {
        let a = search(&gait().read(3, BUFFER)).unwrap();
        let b = search(&Series { sigma, offset, ..gait() }.read(3, BUFFER)).unwrap();
        assert!((a.omega - b.omega).abs() < 1e-9 * a.omega, "{a:?} {b:?}");
        assert_eq!(a.has, b.has);
    }
}

#[test]
fn noise_a_slow_swing_and_a_jump_are_no_cycle() {
    for seed in 0..40 {
        // Noise in 64 dimensions, a short buffer (where a sine fitted to noise explains most).
        let noise = Series { dims: 64, with: vec![], jump: None, ..gait() };
        assert_eq!(search(&noise.read(seed, 48)), None, "seed {seed}: noise, 48 readings");
        assert_eq!(search(&noise.read(seed, BUFFER)), None, "seed {seed}: noise");
        // A swing of 120 readings, 20σ: the moving level's to follow.
        let swing = Series { period: 120.0, amplitude: 20.0, with: vec![0, 1, 2], ..gait() };
        assert_eq!(search(&swing.read(seed, BUFFER)), None, "seed {seed}: a slow swing");
        // A jump of 12σ for three readings.
        let jump = Series { with: vec![], jump: Some((90, 12.0)), ..gait() };
        assert_eq!(search(&jump.read(seed, BUFFER)), None, "seed {seed}: a jump");
    }
}

#[test]
fn a_cycle_longer_than_the_buffer_holds_yet_is_not_taken_for_a_faster_one() {
    // Period 40 in 64 readings (1.6 cycles, less than one in each half that a fit on the
    // other must predict): not yet; in the full buffer, found.
    for seed in 0..10 {
        let long = Series { period: 40.0, ..gait() };
        assert_eq!(search(&long.read(seed, 64)), None, "seed {seed}");
        let found = search(&long.read(seed, BUFFER)).unwrap();
        assert!((TAU / found.omega - 40.0).abs() < 0.5, "seed {seed}: {found:?}");
    }
}

/// The readings of `series` through a scorer: the surprise of each.
fn surprises(series: &Series, seed: u64, readings: usize) -> Vec<f64> {
    let mut snarc = Snarc::new(SnarcConfig::default());
    series
        .read(seed, readings)
        .iter()
        .map(|r| snarc.assess_frame(&[("imu", r)]).unwrap()[0].dims.surprise)
        .collect()
}

#[test]
fn a_jump_under_a_larger_cycle_is_news_once_the_cycle_is_found() {
    // A jump of 8σ under a cycle of 12σ: without the watch the cycle is the channel's noise
    // (the jump read as 0.9 of it) and no reading is news.
    for seed in 0..10 {
        let series = Series { amplitude: 12.0, with: vec![0, 1, 2], jump: Some((300, 8.0)), ..gait() };
        let s = surprises(&series, seed, 400);
        assert!(s[300] > 0.0, "seed {seed}: the jump's first reading, surprise {}", s[300]);
        assert_eq!(s[301], 0.0, "seed {seed}: its second reading");
        let news: Vec<usize> = (200..400).filter(|&i| s[i] > 0.0 && i != 300 && i != 303).collect();
        assert!(news.len() <= 1, "seed {seed}: news at {news:?}");
    }
}

#[test]
fn a_cycle_that_stops_is_dropped_and_a_jump_after_it_is_news() {
    // The gait stops at reading 400: the check of the newest readings (every 16) drops it
    // once they hold no cycle, and the readings are judged as before the cycle, with the
    // cycle as it was before it stopped (the one followed has learned from its absence, and
    // its frequency has turned: taken away from the buffer, it would leave it noisier).
    for seed in 0..10 {
        let walking = Series { amplitude: 12.0, with: vec![0, 1, 2], ..gait() };
        let standing = Series { amplitude: 0.0, jump: Some((200, 8.0)), ..walking_like(&walking) };
        let mut snarc = Snarc::new(SnarcConfig::default());
        let mut news = Vec::new();
        for (i, r) in walking.read(seed, 400).iter().chain(&standing.read(seed + 100, 400)).enumerate() {
            if snarc.assess_frame(&[("imu", r)]).unwrap()[0].dims.surprise > 0.0 {
                news.push(i);
            }
        }
        assert!(news.contains(&600), "seed {seed}: news at {news:?}");
        let quiet = news.iter().filter(|&&i| (520..600).contains(&i) || i > 603).count();
        assert!(quiet <= 1, "seed {seed}: news at {news:?}");
    }
}

fn walking_like(s: &Series) -> Series {
    Series { with: s.with.clone(), ..gait() }
}

/// A named source of readings, reading `i` of it.
type Source = (&'static str, fn(usize) -> Vec<f64>);

#[test]
fn extreme_and_degenerate_readings_neither_panic_nor_give_a_surprise_past_one() {
    // Readings at the ends of f64's range, a constant source, a source alternating between
    // two values (a period of 2, under the shortest searched) and one of a single dimension:
    // long enough for every search and the checks of a cycle followed.
    let sources: [Source; 5] = [
        ("huge", |i| vec![1e300 * (i as f64 * 0.7).sin(), -1e300, 1e300]),
        ("tiny", |i| vec![1e-300 * (i as f64 * 0.7).sin(), 5e-324, 0.0]),
        ("constant", |_| vec![3.0; 4]),
        ("alternating", |i| vec![if i % 2 == 0 { 1.0 } else { -1.0 }; 2]),
        ("one", |i| vec![(i as f64 * 0.5).sin() + if i > 700 { 50.0 } else { 0.0 }]),
    ];
    let mut snarc = Snarc::new(SnarcConfig::default());
    for i in 0..1200 {
        for (name, reading) in &sources {
            let r = reading(i);
            let s = snarc.assess_frame(&[(*name, r.as_slice())]).unwrap()[0].dims.surprise;
            assert!((0.0..=1.0).contains(&s), "{name} at {i}: surprise {s}");
        }
    }
}

#[test]
fn a_long_cycle_is_found_within_two_of_its_periods() {
    // The searches the watch makes (from the 24th reading, 8 apart until the 96th), each on the
    // readings so far: a jump in a cycle's first readings is judged against the cycle's swing
    // taken for noise, so the sooner it is found the better.
    for (period, by) in [(13.7, 24), (20.0, 40), (30.0, 56), (40.0, 80)] {
        for seed in 0..10 {
            let readings = Series { period, amplitude: 4.0, ..gait() }.read(seed, BUFFER);
            let found = (1..=BUFFER).find(|&n| searches_at(n as u64) && search(&readings[..n]).is_some());
            assert!(found.is_some_and(|n| n <= by), "seed {seed}: period {period} found at {found:?}");
        }
    }
}

/// The readings at which `series` (seed `seed`, `readings` of it) is news to a scorer.
fn news(series: &Series, seed: u64, readings: usize) -> Vec<usize> {
    surprises(series, seed, readings).iter().enumerate().filter(|(_, &s)| s > 0.0).map(|(i, _)| i).collect()
}

#[test]
fn a_cycle_that_begins_in_a_full_buffer_is_found_and_a_jump_under_it_is_news() {
    // A drone's rotors start at reading 300, after a full buffer of quiet readings: the newest
    // readings hold the cycle throughout before the whole buffer does. A jump of 8σ under a
    // cycle of 10σ at reading 500 is news, and the cycle, once found, is no news.
    for seed in 0..10 {
        let series =
            Series { amplitude: 10.0, with: vec![0, 1, 2], begins: 300, jump: Some((500, 8.0)), ..gait() };
        only_the_jump_is_news(&series, seed, 420..640);
    }
}

/// On `series` (seed `seed`, read until the end of `quiet`): its jump's first reading is news,
/// and at most one other reading in `quiet` is, the jump's others and its return aside.
fn only_the_jump_is_news(series: &Series, seed: u64, quiet: Range<usize>) {
    let at = series.jump.expect("a series with a jump").0;
    let found = news(series, seed, quiet.end);
    assert!(found.contains(&at), "seed {seed}: news at {found:?}");
    let others = found.iter().filter(|&&i| quiet.contains(&i) && !(at..=at + 3).contains(&i)).count();
    assert!(others <= 1, "seed {seed}: news at {found:?}");
}

/// A drone's rotors in the six dimensions of its IMU, 4σ to 9σ each.
fn rotors() -> Series {
    Series { dims: 6, with: (0..6).collect(), period: 6.5, amplitude: 9.0, ..gait() }
}

#[test]
fn a_cycle_that_changes_its_pace_is_found_again() {
    // A gait in three dimensions of 10σ, and rotors in six of 9σ, quicken by a fifth at reading
    // 400: the cycle followed no longer holds (the rotors' errors swing in most of their
    // dimensions, and the cycle breaks off), and the new pace is found on the newest readings
    // (after a break, on the readings since it, not on a buffer that holds both paces). A jump
    // of 8σ under it is news.
    for seed in 0..10 {
        let gait = Series { amplitude: 10.0, with: vec![0, 1, 2], ..gait() };
        only_the_jump_is_news(
            &Series { speeds_up: Some((400, 1.2)), jump: Some((620, 8.0)), ..gait },
            seed,
            560..720,
        );
        only_the_jump_is_news(
            &Series { speeds_up: Some((400, 1.2)), jump: Some((520, 8.0)), ..rotors() },
            seed,
            460..600,
        );
    }
}

#[test]
fn a_jump_in_half_of_a_cycles_dimensions_does_not_break_it_off() {
    // A jump of 8σ in three of the six dimensions, for three readings: its errors keep their
    // sign (a cycle that broke off swings them); the cycle is followed on, and the jump's
    // other readings and its return are no news.
    for seed in 0..10 {
        let series = Series { jump: Some((400, 8.0)), jumps_in: 3, ..rotors() };
        let found = news(&series, seed, 520);
        assert!(found.contains(&400), "seed {seed}: news at {found:?}");
        let after = found.iter().filter(|&&i| i > 400 && i != 403).count();
        assert!(after <= 1, "seed {seed}: news at {found:?}");
    }
}

#[test]
fn a_jump_soon_after_a_change_of_pace_is_news() {
    // The rotors quicken by a fifth at reading 400 and the cycle breaks off a few readings
    // later: it is looked for at a pace near its own on the readings from where it stopped
    // (at every reading, no waiting for the 32 a search needs), and a jump of 8σ 24 readings
    // after the change is news (without: in 0 of 20 seeds).
    for seed in 0..10 {
        let series = Series { speeds_up: Some((400, 1.2)), jump: Some((424, 8.0)), ..rotors() };
        only_the_jump_is_news(&series, seed, 420..520);
    }
}

#[test]
fn a_jump_soon_after_a_cycle_begins_is_news() {
    // The rotors start at reading 300, after a full buffer of quiet readings: the errors swing
    // in most dimensions at once, the readings since are searched at every reading, and a
    // jump of 8σ 16 readings after the start is news (without: in 0 of 20 seeds).
    for seed in 0..10 {
        let series = Series { begins: 300, jump: Some((316, 8.0)), ..rotors() };
        only_the_jump_is_news(&series, seed, 316..420);
    }
}

#[test]
fn a_jump_soon_after_rotors_spool_up_is_news() {
    // The drone's rotors spool up over five readings: their first swings are under a jump's
    // size, and the noise watch takes the swing for a louder noise within a few readings, before
    // any error is jump-sized against it. Measured against the noise before that raise, the
    // swings begin a search within a few periods, and a jump of 9σ 28 readings after the start
    // is news (`make_drone.py` seed 201: found at the 31st reading, the jump missed; without, news
    // in 18 of 20 seeds of this test).
    for seed in 0..10 {
        let series = Series { begins: 300, spool: 5, jump: Some((328, 9.0)), ..rotors() };
        only_the_jump_is_news(&series, seed, 320..420);
    }
}

#[test]
fn a_jump_among_the_readings_searched_does_not_hide_a_cycle() {
    // A cycle of 4.5σ with a jump of 11σ for three readings in the middle of the buffer: the
    // readings the jump took far from the sine are set aside when the sine is judged, and the
    // dimension is found to have the cycle.
    for seed in 0..10 {
        let series = Series { amplitude: 4.5, with: vec![0, 1, 2], jump: Some((96, 11.0)), ..gait() };
        let found = search(&series.read(seed, BUFFER)).expect("a cycle");
        assert_eq!(found.has, vec![true, true, true], "seed {seed}");
    }
}

#[test]
fn noise_with_spikes_never_begins_a_cycle() {
    // Six dimensions of noise with a spike of 6σ to 10σ, either sign, in one reading of 20:
    // their errors swing now and then in two dimensions at once, and the readings since are
    // searched, but no sine holds on them.
    for seed in 0..4 {
        let mut rng = Rng::new(seed);
        let mut reading = || -> Vec<f64> {
            (0..6)
                .map(|_| {
                    let spike = if rng.next_f64() < 0.05 {
                        (6.0 + 4.0 * rng.next_f64()) * rng.normal().signum()
                    } else {
                        0.0
                    };
                    1.0 + 0.1 * (rng.normal() + spike)
                })
                .collect()
        };
        let first = reading();
        let mut levels = Levels::new(&first);
        let mut watch = Watch::default();
        watch.learn(&first, None, &mut levels);
        for i in 1..1500 {
            let r = reading();
            let before = levels.prediction().to_vec();
            levels.observe(&watch.remove(&r));
            watch.learn(&r, Some(&before), &mut levels);
            assert!(watch.cycle().is_none(), "seed {seed}: a cycle at reading {i}: {:?}", watch.cycle());
        }
    }
}
