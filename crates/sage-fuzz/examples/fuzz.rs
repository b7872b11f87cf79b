//! Long fuzzing campaigns:
//!
//! ```text
//! cargo run --release --example fuzz -- [TARGET|all] [EXECS per target] [SEED]
//! ```
//!
//! Prints one line per target (executions, panics, slowest input, executions per second, peak
//! memory) and exits 1 if anything panicked, 3 on a hang (the watchdog).

use sage_fuzz::{campaign, peak_rss, targets};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map_or("all", String::as_str);
    let number = |i: usize, default: u64, what: &str| -> u64 {
        match args.get(i).map(|s| s.parse::<u64>()) {
            None => default,
            Some(Ok(n)) => n,
            Some(Err(e)) => {
                eprintln!(
                    "fuzz: {what} {:?} is not a number ({e}); usage: fuzz [TARGET|all] [EXECS] [SEED]",
                    args[i]
                );
                std::process::exit(2);
            }
        }
    };
    let execs = number(1, 100_000, "EXECS");
    let seed = number(2, 1, "SEED");
    let names: Vec<&str> = if which == "all" { targets::NAMES.to_vec() } else { vec![which] };
    // Files the targets rewrite for every input: in memory where the system offers it.
    let shm = std::path::Path::new("/dev/shm");
    let work = match if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() } {
        Ok(w) => w,
        Err(e) => {
            eprintln!("fuzz: no temporary folder: {e}");
            std::process::exit(2);
        }
    };
    let mut failed = false;
    for name in names {
        let mut t = match targets::target(name, &targets::workspace_root(), work.path()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
        let r = campaign(&mut t, execs, seed);
        let outcomes: Vec<String> = r
            .outcomes
            .iter()
            .map(|(k, n)| match k {
                0 => format!("accepted {n}"),
                1 => format!("refused {n}"),
                2 => format!("unwritable {n}"),
                status => format!("{status}: {n}"),
            })
            .collect();
        println!(
            "{:<18} execs {:>10}  panics {}  slowest {:.3} s  {:>8.0} execs/s  peak RSS {} MiB  (seed {seed})  [{}]",
            r.target,
            r.execs,
            r.panics,
            r.slowest_s,
            r.execs as f64 / r.seconds.max(1e-9),
            peak_rss() >> 20,
            outcomes.join(", ")
        );
        for (message, input) in &r.panicking {
            println!("  panicked ({message}) on {:?}", String::from_utf8_lossy(input));
        }
        failed |= r.panics > 0;
    }
    std::process::exit(i32::from(failed));
}
