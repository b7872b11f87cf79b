use std::time::{Duration, Instant};

use serde::Serialize;

/// A measured rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    /// Median operations per second over the repetitions.
    pub median_per_s: f64,
    /// Lowest of the repetitions.
    pub min_per_s: f64,
    /// Highest of the repetitions.
    pub max_per_s: f64,
    /// Repetitions.
    pub repetitions: u32,
}

/// Run `op` in batches until `per_rep` has passed, `reps` times, after one warm-up repetition;
/// returns operations per second (median, min, max).
pub fn measure(reps: u32, per_rep: Duration, mut op: impl FnMut()) -> Rate {
    let reps = reps.max(1);
    let mut rates = Vec::with_capacity(reps as usize);
    for rep in 0..=reps {
        let start = Instant::now();
        let mut n: u64 = 0;
        let mut batch: u64 = 1;
        while start.elapsed() < per_rep {
            for _ in 0..batch {
                op();
            }
            n += batch;
            batch = (batch * 2).min(1 << 16);
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        if rep > 0 {
            rates.push(rate);
        }
    }
    rates.sort_by(f64::total_cmp);
    Rate {
        median_per_s: rates[rates.len() / 2],
        min_per_s: rates[0],
        max_per_s: rates[rates.len() - 1],
        repetitions: reps,
    }
}
