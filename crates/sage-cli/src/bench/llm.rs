//! `sage bench llm`: generation through SAGE against raw llama.cpp (each run in its own process,
//! alternating), optionally against HF transformers, and decode against the measured memory
//! bandwidth.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use sage_bench::{llm, report};

/// HF transformers side of `sage bench llm`.
const HF_SCRIPT: &str = include_str!("../../../../tools/reference/hf_generate_bench.py");

/// How much to measure.
pub struct Settings {
    /// Threads for both engines.
    pub threads: u32,
    /// Runs per engine.
    pub runs: u32,
    /// Tokens per run.
    pub gen: usize,
}

/// One measured run in this process (the child side of [`child`]).
pub fn child_run(engine: &str, model: &Path, threads: u32, gen: usize, read: bool) -> anyhow::Result<()> {
    let r = match engine {
        "sage" => llm::run_sage(model, threads, gen),
        "raw" => llm::run_raw(model, threads, gen, !read),
        other => bail!("unknown engine {other}"),
    }?;
    println!("{}", serde_json::to_string(&r)?);
    Ok(())
}

pub fn run(
    model: Option<PathBuf>,
    s: Settings,
    hf_python: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    let Settings { threads, runs, gen } = s;
    let model = crate::model_path::resolve(model.as_deref())?;
    let g = sage_llm::gguf::GgufFile::open(&model)?;
    let weight_bytes = g.tensor_bytes();
    // SAGE's load decision for this file on this CPU; when it reads the file, raw llama.cpp runs
    // both ways: its default (mapping) and SAGE's setting, which the ratios compare against
    // (same settings, so the ratios measure the engine).
    let plan = sage_llm::LoadPlan::for_file(&g, sage_llm::LoadMode::Auto, 0);
    drop(g);
    eprintln!("sage: {}", plan.reason());
    eprintln!("measuring memory bandwidth ({threads} threads)...");
    let bandwidth = llm::memory_bandwidth(threads as usize);
    let (mut sage_runs, mut raw_runs, mut raw_read_runs) = (vec![], vec![], vec![]);
    for i in 0..runs {
        eprintln!("run {}/{runs}...", i + 1);
        raw_runs.push(child("raw", &model, threads, gen)?);
        if !plan.mmap {
            raw_read_runs.push(child("raw-read", &model, threads, gen)?);
        }
        sage_runs.push(child("sage", &model, threads, gen)?);
    }
    let ms = medians(&sage_runs);
    let mr_map = medians(&raw_runs);
    let mr = if plan.mmap { mr_map.clone() } else { medians(&raw_read_runs) };
    let hf = match &hf_python {
        Some(py) => Some(hf_transformers(py, &model, threads, gen)?),
        None => None,
    };
    let reason = plan.reason();
    let figures = report::LlmFigures {
        model: &model,
        threads,
        gen,
        runs,
        mapped: plan.mmap,
        load_reason: &reason,
        weight_bytes,
        bandwidth,
        sage: &ms,
        raw_default: &mr_map,
        raw: &mr,
        hf: hf.as_ref(),
    };
    if json {
        let out = serde_json::json!({
            "model": model, "weight_bytes": weight_bytes, "threads": threads, "generated": gen,
            "memory_bandwidth_gb_s": bandwidth / 1e9,
            "sage_weights": reason,
            "sage": ms, "raw_llama_cpp": mr_map, "raw_llama_cpp_same_load": mr, "hf_transformers": hf,
            "ratios": report::llm_ratios(&figures),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    print!("{}", report::llm(&figures));
    Ok(())
}

/// HF transformers on the same GGUF, through its Python script.
fn hf_transformers(py: &Path, model: &Path, threads: u32, gen: usize) -> anyhow::Result<serde_json::Value> {
    eprintln!("running HF transformers...");
    let dir = std::env::temp_dir().join(format!("sage-bench-hf-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("hf_generate_bench.py");
    std::fs::write(&script, HF_SCRIPT)?;
    let prompt = dir.join("prompt.txt");
    std::fs::write(&prompt, llm::PROMPT)?;
    let out = Command::new(py)
        .arg(&script)
        .arg(model)
        .arg(threads.to_string())
        .arg(gen.to_string())
        .arg(&prompt)
        .output()
        .context("running HF transformers")?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        bail!("HF transformers failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice::<serde_json::Value>(&out.stdout)?)
}

/// One run in a child process: `raw` (llama.cpp mapping the file), `raw-read` (reading it) or
/// `sage` (its own load policy).
fn child(engine: &str, model: &std::path::Path, threads: u32, gen: usize) -> anyhow::Result<llm::RunFigures> {
    let exe = std::env::current_exe().context("locating the sage binary")?;
    let (name, read) = match engine.strip_suffix("-read") {
        Some(e) => (e, true),
        None => (engine, false),
    };
    let out = Command::new(exe)
        .args([
            "bench",
            "llm-child",
            "--engine",
            name,
            "--threads",
            &threads.to_string(),
            "--gen",
            &gen.to_string(),
        ])
        .args(read.then_some("--read"))
        .arg("--model")
        .arg(model)
        .output()
        .context("starting a benchmark run")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last: Vec<&str> = err.lines().rev().take(5).collect();
        bail!("{engine} run failed: {}", last.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("reading the {engine} run's figures"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn medians(runs: &[llm::RunFigures]) -> serde_json::Value {
    serde_json::json!({
        "load_s": median(runs.iter().map(|r| r.load_s).collect()),
        "prefill_tok_s": median(runs.iter().map(|r| r.prefill_tok_s).collect()),
        "decode_tok_s": median(runs.iter().map(|r| r.decode_tok_s).collect()),
        "peak_rss_mib": median(runs.iter().map(|r| r.peak_rss as f64 / 1048576.0).collect()),
        "prompt_tokens": runs.first().map(|r| r.prompt_tokens),
        "generated": runs.first().map(|r| r.generated),
        "runs": runs.len(),
    })
}
