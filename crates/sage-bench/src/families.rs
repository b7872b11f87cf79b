//! Families of labelled attention scenarios, generated from a seed, for judging salience on data
//! it was not tuned on.
//!
//! Every family draws its parameters per scenario (channels, dimensions, units, noise, drift,
//! jump sizes and rates, text mix); the labels follow written rules, not the kernel:
//!
//! - **Sensors**: a jump of at least 6σ (σ: the dimension's noise at the time) in one dimension that
//!   persists for three readings or more is salient at its first reading. Jumps of 3σ to 6σ are
//!   drawn too and are not salient; neither are the readings after a jump, nor the return to the
//!   old level. No jump starts in a channel's first 15 readings, except in the `startup`
//!   family (from its 5th).
//! - **Text**: a message that warns of a hazard, asks, instructs, or names someone or something
//!   new is salient; routine status lines and look-alikes ("fire drill scheduled for Friday", "no
//!   smoke detected") are not.
//!
//! Seeds below 1000 are for tuning; seeds from [`HELD_OUT_FROM`] on are held out, and the
//! held-out figures are what `sage bench attention --families` reports. (Seeds 1000 to 1004 were
//! held out first and looked at once during development, before the level predictor learned
//! trends; they are retired. Seeds 2000 to 2009 were reported once before the deviation
//! threshold's floor fell from 4.5σ to 4σ, 2010 to 2019 once before a source's memory of
//! levels shrank from 20 readings to 10, 2020 to 2029 once before status reports stopped
//! counting as instructions, and 2030 to 2039 once before the text rule read plainer words and
//! remembered a source's last 64 messages (decision 0013); they are retired too, as are 2040
//! to 2049, run once before the text rule's lexicon, stems and news cue, 2050 to 2059, run
//! once before it read operators' typing ("pls", "whats", "restock shelf 14"), and 2060 to 2069,
//! run once before a dreaming kernel woke for whatever it would attend to, and 2070 to 2079, run
//! once before the warm-up fit became robust to jumps and judged readings from the 16th on,
//! and 2080 to 2089, run once before a channel's dimensions pooled their noise and readings
//! counted from the 5th, and 2090 to 2099, run once before a level that wanders was followed
//! fast, and 2100 to 2109, run once before a level the source had only swung away from stopped
//! counting as known and the two levels were compared from the warm-up's end, and 2110 to 2119,
//! run once before the noise estimate took a noise that changed for good, and 2120 to 2129, run
//! once before a channel's noise that fell back was taken together, and 2130 to 2139, run once
//! before a change begun under the threshold and confirmed at the next reading counted, and 2140
//! to 2149, run once before the level learned to follow a level in motion, and 2150 to 2159,
//! run once before the threshold learned heavy-tailed noise, and 2160 to 2169, run once before
//! a source's spikes counted as soon as they were more than normal noise gives, and 2170 to
//! 2179, run once before each pace's noise came from its own predictions over the warm-up and
//! a spike that may begin a change left the level alone, and 2180 to 2189, run once before a
//! dimension's noise had a floor at half its grid's step, and 2190 to 2199, run once before a
//! salient event woke a dream inside its dwell, and 2200 to 2209, run once before a sensor
//! reading held in place of an earlier one kept the earlier one's tick as its onset, and 2210
//! to 2219, run once before a source's fast cycle was found and taken away, and 2220 to 2229,
//! run once before the text rule read a place named like trouble ("cell block") as none and an
//! absence ("hasn't checked in") as trouble, and 2230 to 2239, run once before the cycle
//! watch searched from a source's 24th reading with 1.25 cycles in its buffer, and 2240 to
//! 2259, run once before a cycle that began inside a full buffer was searched for on its
//! newest readings and one that broke off was dropped at once, and 2260 to 2269, run once
//! before a cycle that began or changed its pace was looked for on the readings since, and
//! 2270 to 2279, run once before the text rule read something "found open" as trouble, and
//! 2280 to 2289, run once before a dimension back at a known level without passing the
//! threshold took that level again, and 2290 to 2299, run once before the cycle watch measured
//! a cycle that begins against the noise before a raise, and 2300 to 2309, run once before the
//! text rule read a name before its verb at a message's start, and 2310 to 2319, run once before
//! it read what will not work as trouble, and 2320 to 2329, run once before it read a light
//! that went out (and no newsletter) as trouble, and 2330 to 2339, run once before it read a
//! test that failed as trouble, and 2340 to 2349, run once before it read a share near its limit
//! and a missing utility as trouble, and 2350 to 2359, run once before it read a lapse, a
//! change of look and a creature run over as trouble, and 2360 to 2369, run once before it
//! read a needle and a door forced, and 2370 to 2379 and 2380 to 2389, run once each after a
//! change of the text rule and of the level, and 2390 to 2399, run once before a warm-up's
//! bent line was fitted, and 2400 to 2409, run once in session 53, and 2410 to 2419, run once
//! in session 54, and 2420 to 2429, run once in session 55, and 2430 to 2439, run once in
//! session 56; the held-out seeds start at 2440.)
//!
//! The **irregular** family (added with that change) reads each channel every 1 to 5 ticks,
//! spreads the noise across a channel's dimensions by up to tenfold either way, lets jumps last
//! three to six readings, start from the 16th reading and follow each other after eight.
//!
//! The **startup** family (added when the dimensions of a channel began to pool their noise)
//! lets jumps start from a channel's 5th reading, inside the warm-up, four times as often, in
//! channels of 4 to 32 dimensions that share their noise, over 300 ticks: the first seconds of
//! a robot, where a source's own few readings say little of its noise.
//!
//! The **wandering** family (added when the level learned to follow a random walk) lets every
//! dimension's level take a random step of up to 0.2σ a tick (a temperature, a voltage under
//! load), in 1 to 4 channels of 1 to 32 dimensions: a drift that is no line.
//!
//! The **shaky** family (added when the noise estimate learned to take a noise that changed for
//! good, `sage_kernel::snarc::regime`) multiplies every channel's noise by 2 to 5 for 60 to 200
//! ticks (a motor that runs and shakes its sensors), in 1 to 4 channels of 1 to 32 dimensions;
//! a jump's size is counted in the noise of its time, and the change of noise is no event.
//!
//! The **moving** family (added when the level learned to follow a level in motion, decision
//! 0013's amendment of 2026-12-04) swings every dimension as a sine of 80 to 400 ticks whose
//! steepest slope is up to 1σ a tick (a joint that swings, a wheel that speeds up and slows
//! down), in 1 to 4 channels of 1 to 32 dimensions. Its tuning seeds were 0-19; it was added
//! after the held-out seeds 2140-2149 had been reported.
//!
//! The **spiky** family (added when the threshold learned heavy-tailed noise,
//! `sage_kernel::snarc::tails`) draws every channel's noise from Student's t of 3 to 8 degrees
//! of freedom, scaled to its σ (a lidar's stray returns, an IMU's knocks): single readings far
//! past 6σ are common and are no event; a jump is still salient by the same rule. Its tuning
//! seeds were 0-19; it was added with the moving family.
//!
//! The **coloured** family (added when a source's spikes began to count as soon as they were
//! more than normal noise gives) gives every dimension noise with memory, an AR(1) process of
//! coefficient 0.33 to 0.99 scaled to its σ (a filtered IMU, a low-passed range reading). The
//! **rough** family puts most of the above in one robot: 2 to 6 channels read every 1 to 3
//! ticks, noise spread fourfold across dimensions, a level that wanders and swings, noise that
//! grows for a while, with heavy tails (Student's t of 5 to 8) and memory (up to 0.7). Both were
//! written as probes of kinds of data no family drew, tuned on no seed (seeds 0-199 looked at
//! once), and kept.
//!
//! The **coarse** family (added when a dimension's noise got a floor at half the step of the
//! grid its readings lie on, `Levels::resolution`) rounds every channel's readings to a grid
//! of 1/2σ to 8σ (a temperature to 0.1°, a battery percentage, an encoder's counts): where the
//! step is coarser than the noise the readings hold still and then step by one as the level
//! drifts. A dimension's σ, for its jumps and their labels, is the larger of its noise and half
//! the step (a grid shows no less). Written as a probe, it failed (seeds 0-199: precision
//! 0.341) before the floor.
//!
//! The **cyclic** family (added when a source's fast cycle began to be found and taken away,
//! `sage_kernel::snarc::cycle`) swings every dimension of a channel as a sine of the channel's
//! period, 6 to 40 readings, and an amplitude of 5σ to 20σ, each dimension in its own phase (a
//! legged robot's gait in its IMU, a fan's vibration): the jumps to be caught are smaller than
//! the swing. Written as a probe, it failed (seeds 0-199: recall 0.786) before the watch.

use std::collections::BTreeMap;

use sage_kernel::rng::Rng;
use serde_json::{json, Value};

/// Seeds from here on are never used for tuning.
pub const HELD_OUT_FROM: u64 = 2440;

/// A family of scenarios: ranges the generator draws from.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Name.
    pub name: &'static str,
    /// Sensor channels (inclusive range).
    pub channels: (usize, usize),
    /// Dimensions per channel, drawn log-uniformly (inclusive range).
    pub dims: (usize, usize),
    /// Channel scale (units of a reading), as a power of ten (range).
    pub scale_log10: (f64, f64),
    /// Noise σ relative to the scale (range).
    pub noise: (f64, f64),
    /// Drift per reading, in σ (largest; drawn in `[0, drift]` with a random sign per dimension).
    pub drift: f64,
    /// Jump sizes in σ (range).
    pub jump_sigma: (f64, f64),
    /// Jumps per channel per 100 readings.
    pub jump_rate: f64,
    /// Ticks between operator messages (range).
    pub text_every: (u64, u64),
    /// Share of messages that are salient, and of routine look-alikes.
    pub salient_share: f64,
    /// Share of routine messages that look urgent.
    pub lookalike_share: f64,
    /// Ticks.
    pub ticks: u64,
    /// Ticks between a channel's readings (inclusive range; each channel draws its own and a
    /// phase).
    pub every: (u64, u64),
    /// Spread of the noise across a channel's dimensions: each dimension's σ is the channel's
    /// times a factor drawn log-uniformly in `[1/spread, spread]` (1: all alike).
    pub dim_spread: f64,
    /// Readings a jump lasts (inclusive range).
    pub jump_len: (u32, u32),
    /// Readings of a channel before its first jump may start (its first 15 are its warm-up).
    pub first_jump: u64,
    /// Readings of quiet after a jump before the next may start.
    pub gap: u64,
    /// A level that wanders: each tick every dimension's level takes a random step of this
    /// many σ (at most; each channel draws its own in `[wander / 4, wander]`; 0: none).
    pub wander: f64,
    /// A noise that grows for a while: each channel's noise, in every dimension, is multiplied
    /// by a factor drawn in `[2, shaky]` for 60 to 200 ticks from a tick in 100 to 400 (a motor
    /// that runs; 0: never). A jump's size is in the noise of its time.
    pub shaky: f64,
    /// A level in motion: every dimension swings as a sine of a period drawn in 80 to 400 ticks
    /// and a random phase, whose steepest slope is this many σ a tick (at most; each channel
    /// draws its own in `[motion / 4, motion]`; 0: none). A joint that swings, a wheel that
    /// speeds up and slows down.
    pub motion: f64,
    /// Noise with heavy tails: Student's t of this many degrees of freedom at the least (each
    /// channel draws its own, a whole number from it to 8), scaled to the dimension's σ (0:
    /// normal noise). A lidar's stray returns, an IMU's knocks.
    pub tails: u32,
    /// Noise with memory: each dimension's noise is an AR(1) process whose coefficient each
    /// channel draws in `[memory / 3, memory]`, scaled so that its σ is the dimension's (0:
    /// white noise). A filtered IMU, a low-passed range reading.
    pub memory: f64,
    /// Readings on a grid: each channel's readings are rounded to a step of this many of its
    /// σ at the most (each channel draws its own, log-uniformly in `[grid / 16, grid]`; 0:
    /// none). A temperature to 0.1°, a battery percentage, an encoder's counts. A grid cannot
    /// show a noise under half its step: a dimension's σ, for its jumps and their labels, is
    /// the larger of its noise and half the step.
    pub grid: f64,
    /// A fast cycle: every dimension of a channel swings as a sine of the channel's period,
    /// drawn in 6 to 40 ticks, and amplitude, drawn in `[cycle / 4, cycle]` σ, each dimension in
    /// its own phase (0: none). A legged robot's gait in its IMU, a fan's vibration.
    pub cycle: f64,
}

/// The first family, `mixed`: the ranges every other family starts from.
fn mixed() -> Family {
    Family {
        name: "mixed",
        channels: (1, 8),
        dims: (1, 256),
        scale_log10: (-3.0, 3.0),
        noise: (0.01, 0.2),
        drift: 0.02,
        jump_sigma: (3.0, 12.0),
        jump_rate: 1.0,
        text_every: (4, 12),
        salient_share: 0.3,
        lookalike_share: 0.3,
        ticks: 600,
        every: (1, 1),
        dim_spread: 1.0,
        jump_len: (3, 3),
        first_jump: 40,
        gap: 30,
        wander: 0.0,
        shaky: 0.0,
        motion: 0.0,
        tails: 0,
        memory: 0.0,
        grid: 0.0,
        cycle: 0.0,
    }
}

/// The families.
pub fn families() -> Vec<Family> {
    let base = mixed();
    vec![
        base.clone(),
        Family { name: "one-wide", channels: (1, 1), dims: (64, 256), ..base.clone() },
        Family { name: "many-narrow", channels: (6, 8), dims: (1, 4), ..base.clone() },
        Family { name: "tiny-units", scale_log10: (-3.0, -3.0), noise: (0.001, 0.01), ..base.clone() },
        Family { name: "huge-units", scale_log10: (3.0, 3.0), noise: (0.1, 0.5), ..base.clone() },
        Family { name: "drifting", drift: 0.1, ..base.clone() },
        Family { name: "busy", jump_rate: 3.0, text_every: (1, 3), ..base.clone() },
        Family { name: "quiet", jump_rate: 0.3, text_every: (20, 40), ..base.clone() },
        Family { name: "lookalikes", lookalike_share: 0.8, salient_share: 0.15, ..base.clone() },
        Family {
            name: "irregular",
            channels: (2, 6),
            dims: (1, 32),
            every: (1, 5),
            dim_spread: 10.0,
            jump_len: (3, 6),
            first_jump: 16,
            gap: 8,
            ..base.clone()
        },
        Family {
            name: "startup",
            channels: (1, 4),
            dims: (4, 32),
            jump_rate: 4.0,
            ticks: 300,
            first_jump: 4,
            gap: 10,
            ..base.clone()
        },
        Family { name: "wandering", channels: (1, 4), dims: (1, 32), wander: 0.4, ..base.clone() },
        Family { name: "shaky", channels: (1, 4), dims: (1, 32), shaky: 5.0, ..base.clone() },
        Family { name: "moving", channels: (1, 4), dims: (1, 32), motion: 1.0, ..base.clone() },
        Family { name: "spiky", channels: (1, 4), dims: (1, 32), tails: 3, ..base.clone() },
        Family { name: "coloured", channels: (1, 4), dims: (1, 32), memory: 0.99, ..base.clone() },
        Family { name: "coarse", channels: (1, 4), dims: (1, 32), grid: 8.0, ..base.clone() },
        Family { name: "cyclic", channels: (1, 4), dims: (1, 32), cycle: 20.0, ..base.clone() },
        Family {
            name: "rough",
            channels: (2, 6),
            dims: (1, 32),
            every: (1, 3),
            dim_spread: 4.0,
            wander: 0.2,
            shaky: 3.0,
            motion: 0.5,
            tails: 5,
            memory: 0.7,
            ..base.clone()
        },
    ]
}

/// Routine status lines (`{n}`: a number, `{z}`: a zone letter).
const ROUTINE: &[&str] = &[
    "battery at {n} percent, all systems normal",
    "patrol of zone {z} complete",
    "shift report filed as usual",
    "status nominal",
    "temperature in zone {z} is {n} degrees",
    "all quiet in zone {z}",
    "charging finished, battery {n} percent",
    "route {n} completed on schedule",
    "conveyor running at normal speed",
    "daily log uploaded",
];

/// Routine messages that look urgent.
const LOOKALIKE: &[&str] = &[
    "fire drill scheduled for friday",
    "smoke detector test completed in zone {z}",
    "no smoke detected in zone {z}",
    "reminder: safety training on monday",
    "the alarm panel was inspected yesterday",
    "fire extinguishers refilled last week",
    "the emergency exit signage was replaced as planned",
    "no intruders seen during the night patrol",
    "spill kit restocked, nothing to report",
    "collision sensors passed the weekly test",
];

/// Salient messages, each with its reason.
const SALIENT: &[(&str, &str)] = &[
    ("fire near the loading dock in zone {z}!", "hazard"),
    ("there is smoke coming from the charger", "hazard"),
    ("a worker fell in aisle {n} and is hurt", "hazard"),
    ("intruder spotted at the north gate", "hazard"),
    ("gas leak reported near bay {n}", "hazard"),
    ("URGENT: the forklift is blocking the exit", "urgency"),
    ("where is the spare battery?", "question"),
    ("how long until the delivery to bay {n} is done?", "question"),
    ("can you see anyone in zone {z}?", "question"),
    ("bring the toolbox to bay {n}", "instruction"),
    ("stop the conveyor in zone {z}", "instruction"),
    ("please check the door of room {n}", "instruction"),
    ("go back to the charger now", "instruction"),
    ("visitor {name} arrives at gate {n} at noon", "new name"),
    ("the new robot Unit-K{n} joins the fleet today", "new name"),
    ("a parcel for {name} is at the front desk", "new name"),
];

/// Names for the "new name" messages: a name already used by the source is not news, and a
/// message naming it again is labelled routine.
const NAMES: &[&str] = &[
    "Okafor",
    "Lindqvist",
    "Haddad",
    "Nakamura",
    "Moreau",
    "Kowalski",
    "Fernandes",
    "Abebe",
    "Novak",
    "Ivanova",
    "Castillo",
    "Tanaka",
    "Osei",
    "Brennan",
    "Duarte",
    "Petrov",
    "Sandoval",
    "Keller",
    "Mbeki",
    "Larsen",
];

fn fill(rng: &mut Rng, t: &str) -> String {
    let n = 2 + rng.below(97);
    let z = ["A", "B", "C", "D"][rng.below(4)];
    let name = NAMES[rng.below(NAMES.len())];
    t.replace("{n}", &n.to_string()).replace("{z}", z).replace("{name}", name)
}

/// The names and codes in `text` (capitalised words after the first, words with digits and
/// letters), as the labeller sees them.
fn names_in(text: &str) -> Vec<String> {
    text.split_whitespace()
        .skip(1)
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
        .filter(|w| {
            let capitalised =
                w.chars().next().is_some_and(char::is_uppercase) && w.chars().skip(1).any(char::is_lowercase);
            capitalised || (w.chars().any(|c| c.is_ascii_digit()) && w.chars().any(char::is_alphabetic))
        })
        .collect()
}

fn uniform(rng: &mut Rng, (lo, hi): (f64, f64)) -> f64 {
    lo + (hi - lo) * rng.next_f64()
}

fn between(rng: &mut Rng, (lo, hi): (u64, u64)) -> u64 {
    lo + rng.below((hi - lo + 1) as usize) as u64
}

/// One channel of a generated scenario.
struct Channel {
    name: String,
    level: Vec<f64>,
    drift: Vec<f64>,
    /// Random step per tick of each dimension's level, in its σ.
    wander: f64,
    /// Noise per dimension.
    sigma: Vec<f64>,
    /// The jump in progress: `(dimension, size in the dimension's σ, readings left)`.
    jump: Option<(usize, f64, u32)>,
    /// Readings until another jump may start.
    quiet: u64,
    /// Ticks between readings, and the tick of the first.
    every: u64,
    phase: u64,
    /// The ticks `[from, to)` the noise is multiplied by a factor, and the factor.
    loud: Option<(u64, u64, f64)>,
    /// Per dimension, its swing: amplitude in its σ, radians a tick, phase (empty: none).
    swing: Vec<(f64, f64, f64)>,
    /// Degrees of freedom of the noise's Student's t (0: normal).
    tails: u32,
    /// The noise's AR(1) coefficient, and each dimension's noise at its last reading, in its σ.
    memory: f64,
    carried: Vec<f64>,
    /// The step of the grid its readings are rounded to (0: none).
    grid: f64,
}

/// A channel of `family`, the `c`th: its dimensions, units, levels, drift, noise per dimension
/// and reading rate. Draws only where the family varies them, so that the other families'
/// scenarios stay as they were.
fn draw_channel(family: &Family, rng: &mut Rng, c: usize) -> Channel {
    let (lo, hi) = (family.dims.0 as f64, family.dims.1 as f64);
    let dims = (lo.ln() + (hi.ln() - lo.ln()) * rng.next_f64()).exp().round().max(1.0) as usize;
    let scale = 10f64.powf(uniform(rng, family.scale_log10));
    let sigma = scale * uniform(rng, family.noise);
    let level = (0..dims).map(|_| scale * (rng.next_f64() * 2.0 - 1.0)).collect();
    let drift = (0..dims).map(|_| sigma * family.drift * (rng.next_f64() * 2.0 - 1.0)).collect();
    let sigma: Vec<f64> = (0..dims)
        .map(|_| {
            if family.dim_spread > 1.0 {
                sigma * family.dim_spread.powf(2.0 * rng.next_f64() - 1.0)
            } else {
                sigma
            }
        })
        .collect();
    let every = if family.every.0 < family.every.1 { between(rng, family.every) } else { family.every.0 };
    let phase = if every > 1 { rng.below(every as usize) as u64 } else { 0 };
    let wander = if family.wander > 0.0 { uniform(rng, (family.wander / 4.0, family.wander)) } else { 0.0 };
    let loud = (family.shaky > 0.0).then(|| {
        let from = between(rng, (100, 400));
        (from, from + between(rng, (60, 200)), uniform(rng, (2.0, family.shaky)))
    });
    let swing = if family.motion > 0.0 {
        let slope = uniform(rng, (family.motion / 4.0, family.motion));
        (0..dims)
            .map(|_| {
                let omega = std::f64::consts::TAU / uniform(rng, (80.0, 400.0));
                (slope / omega, omega, uniform(rng, (0.0, std::f64::consts::TAU)))
            })
            .collect()
    } else if family.cycle > 0.0 {
        let amplitude = uniform(rng, (family.cycle / 4.0, family.cycle));
        let omega = std::f64::consts::TAU / uniform(rng, (6.0, 40.0));
        (0..dims).map(|_| (amplitude, omega, uniform(rng, (0.0, std::f64::consts::TAU)))).collect()
    } else {
        Vec::new()
    };
    let tails = if family.tails > 0 { between(rng, (u64::from(family.tails), 8)) as u32 } else { 0 };
    let memory = if family.memory > 0.0 { uniform(rng, (family.memory / 3.0, family.memory)) } else { 0.0 };
    let grid = if family.grid > 0.0 {
        let base = sigma.iter().copied().fold(0.0, f64::max);
        base * (family.grid.ln() + 16f64.ln() * (rng.next_f64() - 1.0)).exp()
    } else {
        0.0
    };
    Channel {
        name: format!("sensor{c}"),
        level,
        drift,
        wander,
        sigma,
        jump: None,
        quiet: family.first_jump,
        every,
        phase,
        loud,
        swing,
        tails,
        memory,
        carried: vec![0.0; dims],
        grid,
    }
}

/// A draw of `ch`'s noise in units of its σ: normal, or Student's t of its degrees of freedom
/// scaled to unit variance.
fn noise(rng: &mut Rng, ch: &Channel) -> f64 {
    if ch.tails == 0 {
        return rng.normal();
    }
    let dof = f64::from(ch.tails);
    let chi2: f64 = (0..ch.tails).map(|_| rng.normal().powi(2)).sum();
    rng.normal() / (chi2 / dof).sqrt() * ((dof - 2.0) / dof).sqrt()
}

/// Tick `t` of channel `ch`: its drift, and where it reads at `t`, the reading and, where a
/// salient jump starts there, its label.
fn read_channel(family: &Family, rng: &mut Rng, ch: &mut Channel, t: u64) -> Option<(Value, Option<String>)> {
    for ((l, d), sigma) in ch.level.iter_mut().zip(&ch.drift).zip(&ch.sigma) {
        *l += d;
        if ch.wander > 0.0 {
            *l += ch.wander * sigma * rng.normal();
        }
    }
    if t % ch.every != ch.phase {
        return None;
    }
    let loud = match ch.loud {
        Some((from, to, factor)) if (from..to).contains(&t) => factor,
        _ => 1.0,
    };
    let mut offset = vec![0.0; ch.level.len()];
    let mut label = None;
    // A jump's size is in the dimension's σ of the time, or half the grid's step.
    let unit: Vec<f64> = ch.sigma.iter().map(|s| (s * loud).max(ch.grid / 2.0)).collect();
    match &mut ch.jump {
        Some((dim, size, left)) => {
            offset[*dim] = *size * unit[*dim];
            *left -= 1;
            if *left == 0 {
                ch.jump = None;
                ch.quiet = family.gap;
            }
        }
        None if ch.quiet == 0 && rng.next_f64() < family.jump_rate / 100.0 => {
            let dim = rng.below(ch.level.len());
            let size = uniform(rng, family.jump_sigma) * if rng.below(2) == 0 { 1.0 } else { -1.0 };
            offset[dim] = size * unit[dim];
            if size.abs() >= 6.0 {
                label = Some(format!("a {:.1}σ jump in dimension {dim}", size.abs()));
            }
            let len = if family.jump_len.0 < family.jump_len.1 {
                between(rng, (u64::from(family.jump_len.0), u64::from(family.jump_len.1))) as u32
            } else {
                family.jump_len.0
            };
            ch.jump = Some((dim, size, len - 1));
        }
        None => ch.quiet = ch.quiet.saturating_sub(1),
    }
    let reading: Vec<Value> = (0..ch.level.len())
        .map(|d| {
            let sigma = ch.sigma[d];
            let swing = ch.swing.get(d).map_or(0.0, |&(a, w, p)| a * sigma * (w * t as f64 + p).sin());
            let mut e = noise(rng, ch);
            if ch.memory > 0.0 {
                e = ch.memory * ch.carried[d] + (1.0 - ch.memory * ch.memory).sqrt() * e;
                ch.carried[d] = e;
            }
            let x = ch.level[d] + offset[d] + swing + loud * sigma * e;
            json!(if ch.grid > 0.0 { (x / ch.grid).round() * ch.grid } else { x })
        })
        .collect();
    Some((Value::Array(reading), label))
}

/// An operator message of `family` and, where it is salient, why (a name the source already
/// used, in `named`, is no news).
fn draw_message(
    family: &Family,
    rng: &mut Rng,
    named: &mut std::collections::BTreeSet<String>,
) -> (String, Option<&'static str>) {
    let r = rng.next_f64();
    if r < family.salient_share {
        let (m, why) = SALIENT[rng.below(SALIENT.len())];
        let text = fill(rng, m);
        let names = names_in(&text);
        let new = names.iter().any(|n| !named.contains(n));
        named.extend(names);
        let salient = (why != "new name" || new).then_some(why);
        (text, salient)
    } else if r < family.salient_share + (1.0 - family.salient_share) * family.lookalike_share {
        let m = LOOKALIKE[rng.below(LOOKALIKE.len())];
        (fill(rng, m), None)
    } else {
        let m = ROUTINE[rng.below(ROUTINE.len())];
        (fill(rng, m), None)
    }
}

/// A labelled scenario of `family` from `seed`, as JSON lines (header first).
pub fn generate(family: &Family, seed: u64) -> String {
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(family.name.len() as u64));
    let n_channels = family.channels.0 + rng.below(family.channels.1 - family.channels.0 + 1);
    let mut channels: Vec<Channel> = (0..n_channels).map(|c| draw_channel(family, &mut rng, c)).collect();
    let mut lines = vec![json!({
        "scenario": format!("family-{}-{seed}", family.name),
        "description": "generated by sage-bench families: labels follow the rules in families.rs",
        "tick_s": 1.0,
        "seed": seed,
        "end": family.ticks,
    })
    .to_string()];
    let mut next_text = between(&mut rng, family.text_every);
    let mut named: std::collections::BTreeSet<String> = Default::default();
    for t in 0..family.ticks {
        let mut sensors = serde_json::Map::new();
        let mut salient: BTreeMap<String, String> = BTreeMap::new();
        for ch in &mut channels {
            if let Some((reading, label)) = read_channel(family, &mut rng, ch, t) {
                if let Some(label) = label {
                    salient.insert(ch.name.clone(), label);
                }
                sensors.insert(ch.name.clone(), reading);
            }
        }
        let mut event = json!({"t": t as f64, "sensors": sensors});
        if t >= next_text {
            next_text = t + between(&mut rng, family.text_every);
            let (text, why) = draw_message(family, &mut rng, &mut named);
            if let Some(why) = why {
                salient.insert("operator".into(), why.to_string());
            }
            event["text"] = json!([{"source": "operator", "text": text}]);
        }
        if !salient.is_empty() {
            event["salient"] = json!(salient);
        }
        lines.push(event.to_string());
    }
    lines.join("\n") + "\n"
}

/// A family's figures over its seeds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FamilyFigures {
    /// Family.
    pub family: String,
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// Observations.
    pub observations: u64,
    /// Labelled salient.
    pub salient: u64,
    /// Salient and attended.
    pub salient_attended: u64,
    /// Attended but not labelled salient.
    pub trivial_attended: u64,
    /// Plugin or model runs.
    pub runs: u64,
    /// `salient_attended / salient`.
    pub recall: f64,
    /// `salient_attended / (salient_attended + trivial_attended)`.
    pub precision: f64,
    /// Share of the compute of running on every observation that was skipped.
    pub skipped: f64,
    /// A few of the salient observations missed: `(seed, tick, source, reason, what happened)`.
    pub missed: Vec<(u64, u64, String, String, String)>,
    /// Salient readings attended at their source's next reading, which confirmed the change
    /// they began (counted in `salient_attended`).
    pub confirmed_late: u64,
}

/// Run every seed of `seeds` of `family` through a kernel of the default configuration.
pub fn evaluate(family: &Family, seeds: &[u64]) -> Result<FamilyFigures, crate::BenchError> {
    let mut f = FamilyFigures {
        family: family.name.to_string(),
        seeds: seeds.to_vec(),
        observations: 0,
        salient: 0,
        salient_attended: 0,
        trivial_attended: 0,
        runs: 0,
        recall: 0.0,
        precision: 0.0,
        skipped: 0.0,
        missed: vec![],
        confirmed_late: 0,
    };
    for &seed in seeds {
        let r =
            crate::judgment::attention(&generate(family, seed), sage_kernel::KernelConfig::default(), None)?;
        f.observations += r.observations;
        f.salient += r.salient;
        f.salient_attended += r.salient_attended;
        f.trivial_attended += r.trivial_attended;
        f.runs += r.runs;
        f.confirmed_late += r.confirmed_late;
        for (tick, source, why, what) in r.missed {
            if f.missed.len() < 8 {
                f.missed.push((seed, tick, source, why, what));
            }
        }
    }
    f.recall = if f.salient > 0 { f.salient_attended as f64 / f.salient as f64 } else { 1.0 };
    let attended = f.salient_attended + f.trivial_attended;
    f.precision = if attended > 0 { f.salient_attended as f64 / attended as f64 } else { 1.0 };
    f.skipped = if f.observations > 0 { 1.0 - f.runs as f64 / f.observations as f64 } else { 0.0 };
    Ok(f)
}

/// Every family on `seeds`, the worst first (lowest recall, then lowest precision).
pub fn evaluate_all(seeds: &[u64]) -> Result<Vec<FamilyFigures>, crate::BenchError> {
    let mut all = families().iter().map(|f| evaluate(f, seeds)).collect::<Result<Vec<_>, _>>()?;
    all.sort_by(|a, b| a.recall.total_cmp(&b.recall).then(a.precision.total_cmp(&b.precision)));
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Family `name` on its first `seeds` tuning seeds meets the recall and precision goals.
    fn meets_the_goals(name: &str, seeds: u64) {
        let family = families().into_iter().find(|f| f.name == name).unwrap();
        let figures = evaluate(&family, &(0..seeds).collect::<Vec<_>>()).unwrap();
        assert!(figures.recall >= 0.97, "{figures:?}");
        assert!(figures.precision >= 0.5, "{figures:?}");
    }

    #[test]
    fn generation_is_reproducible_and_parses_with_labels() {
        for f in families() {
            let a = generate(&f, 3);
            assert_eq!(a, generate(&f, 3));
            assert_ne!(a, generate(&f, 4));
            let s = sage_kernel::Scenario::parse(&a).unwrap();
            assert_eq!(s.events.len() as u64, f.ticks);
            assert!(s.events.iter().any(|e| !e.salient.is_empty()), "{}: no labels", f.name);
        }
    }

    #[test]
    fn jumps_in_the_first_readings_of_channels_whose_dimensions_share_their_noise_are_attended() {
        // Before the dimensions pooled their noise, readings counted from the 16th: on these
        // seeds 4 of 143 salient jumps and messages were missed, all at ticks 4 to 11.
        let startup = families().into_iter().find(|f| f.name == "startup").unwrap();
        let figures = evaluate(&startup, &[0, 1, 2, 3, 4]).unwrap();
        assert_eq!(figures.salient, 143);
        assert!(figures.recall == 1.0, "{figures:?}");
        assert!(figures.precision >= 0.5, "{figures:?}");
    }

    #[test]
    fn a_noise_that_grows_for_a_while_is_taken_and_its_shaken_readings_are_no_news() {
        // With the noise estimate alone (no `regime` watch), on these seeds: recall 0.963,
        // precision 0.233 (0.978 and 0.695 with it).
        meets_the_goals("shaky", 5);
    }

    #[test]
    fn jumps_on_levels_in_motion_are_attended() {
        // With the steady and the wandering paces alone, on seeds 0-19 of this family: recall
        // 0.926 (0.991 with the moving pace).
        meets_the_goals("moving", 8);
    }

    #[test]
    fn jumps_in_heavy_tailed_noise_are_attended_and_its_spikes_are_not() {
        // With the threshold of normal noise, on seeds 0-19 of this family: recall 0.996,
        // precision 0.371 (0.993 and 0.599 with the tails learned, `sage_kernel::snarc::tails`).
        // Spikes counted as soon as they are more than normal noise gives: precision 0.652 on
        // seeds 0-199 (0.589 when six were waited for).
        meets_the_goals("spiky", 8);
    }

    #[test]
    fn jumps_on_a_rough_robot_are_attended() {
        // Most kinds of trouble at once: on seeds 0-199 recall 0.975, precision 0.555 before
        // each pace's noise came from its own predictions over the warm-up, the warm-up's
        // estimate counted for its readings only and a spike that may begin a change left the
        // level alone (0.985 and 0.542 with them).
        meets_the_goals("rough", 8);
    }

    #[test]
    fn the_least_change_of_readings_on_a_grid_is_no_news_and_jumps_are() {
        // Readings rounded to a grid of up to 8σ: on seeds 0-199 recall 0.982, precision 0.341
        // while a dimension's noise could fall under half its grid's step (0.998 and 0.833
        // with the floor, `Levels::resolution`).
        meets_the_goals("coarse", 8);
    }

    #[test]
    fn jumps_in_noise_with_memory_are_attended() {
        // AR(1) noise up to 0.99 (its steps far smaller than its spread): on seeds 0-199
        // recall 0.999, precision 0.854.
        meets_the_goals("coloured", 8);
    }

    #[test]
    fn jumps_under_a_larger_fast_cycle_are_attended() {
        // A sine of 6-40 readings and 5-20σ in every dimension, larger than the jumps: with the
        // cycle left in the noise (`snarc::cycle` off), recall 0.786 on seeds 0-199; 0.978 with
        // it found and taken away.
        meets_the_goals("cyclic", 8);
    }
}
