//! Mutation fuzzing of every parser of SAGE that takes outside bytes: GGUF files, scenarios, zoo
//! files, recordings, chat templates, HF folders (config, tokenizer, safetensors header) and the
//! HTTP API's bodies. Not coverage-guided (cargo-fuzz needs a nightly toolchain, which this
//! project cannot install): AFL-style mutations of real seeds, many millions of them, with every
//! panic caught and kept, a watchdog for hangs, and peak memory reported (decision 0010).
//!
//! - [`mutate`]: the mutations and their seeded random stream.
//! - [`targets`]: the parsers, their seeds and how an input reaches them.
//! - [`campaign`]: run one target for a number of executions.

pub mod mutate;
pub mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mutate::{mutate, Rng};
use targets::Target;

/// What a campaign found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Target.
    pub target: &'static str,
    /// Inputs fed.
    pub execs: u64,
    /// Inputs that panicked (the first few kept).
    pub panics: u64,
    /// The first inputs that panicked, with the panic's message.
    pub panicking: Vec<(String, Vec<u8>)>,
    /// What became of the inputs: 0 accepted, 1 refused (parsers), or HTTP statuses; counts.
    pub outcomes: std::collections::BTreeMap<u16, u64>,
    /// The slowest input, seconds.
    pub slowest_s: f64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// An input that ran longer than this is a hang: the watchdog reports it and ends the process.
pub const HANG: Duration = Duration::from_secs(20);

/// Feed `execs` mutated inputs (and the seeds themselves first) to `target`, from `seed`.
pub fn campaign(target: &mut Target, execs: u64, seed: u64) -> Report {
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let current: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(vec![]));
    let since = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = watch(target.name, Arc::clone(&current), Arc::clone(&since), Arc::clone(&done), started);
    let mut r = Report {
        target: target.name,
        execs: 0,
        panics: 0,
        panicking: vec![],
        outcomes: Default::default(),
        slowest_s: 0.0,
        seconds: 0.0,
    };
    let seeds = target.seeds.clone();
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for i in 0..execs {
        let input = if (i as usize) < seeds.len() {
            seeds[i as usize].clone()
        } else {
            let a = &seeds[rng.below(seeds.len())];
            let b = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, a, b)
        };
        if let Ok(mut c) = current.lock() {
            c.clone_from(&input);
        }
        let t0 = Instant::now();
        since.store(started.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
        let outcome = catch_unwind(AssertUnwindSafe(|| target.exec(&input)));
        since.store(0, Ordering::SeqCst);
        r.slowest_s = r.slowest_s.max(t0.elapsed().as_secs_f64());
        r.execs += 1;
        if let Ok(o) = &outcome {
            *r.outcomes.entry(*o).or_default() += 1;
        }
        if let Err(payload) = outcome {
            r.panics += 1;
            if r.panicking.len() < 8 {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                r.panicking.push((message, input));
            }
        }
    }
    std::panic::set_hook(quiet);
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    r.seconds = started.elapsed().as_secs_f64();
    r
}

fn watch(
    name: &'static str,
    current: Arc<Mutex<Vec<u8>>>,
    since: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    started: Instant,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
            let s = since.load(Ordering::SeqCst);
            if s > 0 && started.elapsed().as_millis() as u64 > s + HANG.as_millis() as u64 {
                let input = current.lock().map(|c| c.clone()).unwrap_or_default();
                eprintln!(
                    "fuzz target {name}: an input ran over {} s (a hang); it was {} bytes: {:?}",
                    HANG.as_secs(),
                    input.len(),
                    String::from_utf8_lossy(&input)
                );
                std::process::exit(3);
            }
        }
    })
}

/// Peak resident memory of this process (Linux `VmHWM`), bytes; 0 elsewhere.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .map_or(0, |kb| kb * 1024)
}
