//! `sage bench kernel`: kernel throughput against the Python reference (documented rates, or
//! measured in the same run).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};
use sage_bench::{kernel, report};

pub fn run(
    reps: u32,
    ms: u64,
    json: bool,
    python_ref: Option<PathBuf>,
    python: PathBuf,
) -> anyhow::Result<()> {
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
    print!("{}", report::kernel(&rows, reps, ms, python_ref.is_some()));
    Ok(())
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
