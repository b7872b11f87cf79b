//! `sage bench`: benchmarks with their baselines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};

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
        /// A checkout of the Python reference (github.com/dp-web4/HRM): measure it in the same run
        /// and print ratios against that instead of the documented figures.
        #[arg(long, value_name = "DIR")]
        python_ref: Option<PathBuf>,
        /// Python interpreter for the reference (needs numpy).
        #[arg(long, default_value = "python3")]
        python: PathBuf,
    },
}

/// Run the Python reference harness; returns its rates by workload key.
fn python_reference(python: &PathBuf, hrm: &PathBuf, seconds: f64) -> anyhow::Result<BTreeMap<String, f64>> {
    let dir = std::env::temp_dir().join(format!("sage-bench-ref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let script = dir.join("kernel_reference.py");
    std::fs::write(&script, kernel::PYTHON_REFERENCE_SCRIPT).context("writing the reference harness")?;
    // The reference writes logs into its working directory: give it the temporary one.
    let out = Command::new(python)
        .current_dir(&dir)
        .arg(&script)
        .arg(hrm)
        .arg(format!("{seconds}"))
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        bail!("the Python reference failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading the reference's JSON")?;
    if let Some(errors) = v["errors"].as_object() {
        for (k, e) in errors {
            eprintln!("warning: the Python reference could not run {k}: {e}");
        }
    }
    Ok(v["rates"]
        .as_object()
        .map(|m| m.iter().filter_map(|(k, x)| x.as_f64().map(|r| (k.clone(), r))).collect())
        .unwrap_or_default())
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
        What::Kernel { reps, ms, json, python_ref, python } => {
            if cfg!(debug_assertions) {
                eprintln!("warning: this is a debug build; build with --release for meaningful figures");
            }
            let mut rows = kernel::run(kernel::Options { reps, per_rep: Duration::from_millis(ms) });
            if let Some(hrm) = &python_ref {
                let measured = python_reference(&python, hrm, (reps as f64 * ms as f64 / 1000.0).max(1.0))?;
                rows = rows
                    .into_iter()
                    .map(|r| match measured.get(r.key) {
                        Some(&x) => r.with_measured_reference(x),
                        None => r,
                    })
                    .collect();
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            println!("kernel benchmarks: median of {reps} runs of {ms} ms, one thread");
            println!(
                "reference: {}",
                if python_ref.is_some() {
                    "the Python reference measured in this run (single thread, CPython)"
                } else {
                    "documented rates of the Python reference (shared/reference/sage_reference.md §12); --python-ref DIR measures it now"
                }
            );
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
