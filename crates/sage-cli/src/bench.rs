//! `sage bench`: benchmarks with their baselines.

use std::time::Duration;

use clap::{Args, Subcommand};
use sage_bench::kernel::{self, GOAL_RATIO};

/// Arguments of `sage bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Kernel throughput (ticks, expert selection, SNARC) against the Python reference.
    Kernel {
        /// Repetitions per workload (the median is reported).
        #[arg(long, default_value_t = 5)]
        reps: u32,
        /// Milliseconds per repetition.
        #[arg(long, default_value_t = 600)]
        ms: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// Run the command.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        What::Kernel { reps, ms, json } => {
            if cfg!(debug_assertions) {
                eprintln!("warning: this is a debug build; build with --release for meaningful figures");
            }
            let rows = kernel::run(kernel::Options { reps, per_rep: Duration::from_millis(ms) });
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            println!("kernel benchmarks: median of {reps} runs of {ms} ms, one thread");
            println!(
                "{:<84} {:>10} {:>10} {:>9}  goal {GOAL_RATIO:.0}x",
                "workload", "ops/s", "reference", "ratio"
            );
            for r in &rows {
                let reference = r.reference_per_s.map(human).unwrap_or_else(|| "-".into());
                let (ratio, verdict) = match r.ratio {
                    Some(x) => (format!("{x:.0}x"), if x >= GOAL_RATIO { "met" } else { "NOT met" }),
                    None => ("-".into(), ""),
                };
                println!(
                    "{:<84} {:>10} {:>10} {:>9}  {verdict}",
                    r.workload,
                    human(r.ours.median_per_s),
                    reference,
                    ratio
                );
            }
            Ok(())
        }
    }
}
