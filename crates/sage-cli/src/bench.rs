//! `sage bench`: benchmarks with their baselines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};

use clap::{Args, Subcommand};
use sage_bench::kernel::{self, GOAL_RATIO};
use sage_bench::{judgment, llm};

/// The labelled scenario of `sage bench attention`.
const ATTENTION: &str = include_str!("../../../scenarios/attention.jsonl");

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// HF transformers side of `sage bench llm`.
const HF_SCRIPT: &str = include_str!("../../../tools/reference/hf_generate_bench.py");

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
    /// Generation through SAGE against raw llama.cpp (same GGUF, threads and settings; each run
    /// in its own process), optionally against HF transformers, and decode speed against the
    /// machine's measured memory bandwidth.
    Llm {
        /// Model file. Default: `SAGE_MODEL`, else the embedded default.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Threads for both engines.
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// Runs per engine (alternating; medians reported).
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// Tokens to generate per run.
        #[arg(long, default_value_t = 64)]
        gen: usize,
        /// A Python with torch and transformers: also measure HF transformers on the same GGUF.
        #[arg(long)]
        hf_python: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Attention on the labelled scenario: recall of salient events and compute skipped.
    Attention {
        /// A labelled scenario (default: the bundled scenarios/attention.jsonl).
        scenario: Option<PathBuf>,
        /// Run the whole loop with the language model answering (and scoring ambiguous text)
        /// instead of the kernel's built-in plugins.
        #[arg(long)]
        with_model: bool,
        #[command(flatten)]
        zoo: crate::runtime::ZooArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Routing on a simulated zoo of scripted engines, against always-best, always-cheapest and
    /// random.
    Routing {
        /// Requests.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Seed of the request stream and the router (the first of `--seeds`).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also run this many further seeds and print the worst and mean ratios over all.
        #[arg(long, default_value_t = 4)]
        more_seeds: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// `sage serve` under 1, 4 and 8 concurrent streams: time to first token, inter-token and
    /// end-to-end latency, throughput, and 429s beyond capacity.
    Serve {
        /// Concurrent streams to measure.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 4, 8])]
        streams: Vec<usize>,
        /// Requests per stream.
        #[arg(long, default_value_t = 6)]
        per_stream: usize,
        /// Tokens per answer.
        #[arg(long, default_value_t = 32)]
        max_tokens: u32,
        /// Sampling temperature (0: greedy).
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        zoo: crate::runtime::ZooArgs,
    },
    /// One measured run in this process (used by `sage bench llm`).
    #[command(hide = true)]
    LlmChild {
        #[arg(long)]
        engine: String,
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        threads: u32,
        #[arg(long)]
        gen: usize,
        /// Raw llama.cpp reads the file instead of mapping it.
        #[arg(long)]
        read: bool,
    },
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
        What::Serve { streams, per_stream, max_tokens, temperature, json, zoo } => {
            let work = crate::bench_serve::Workload { per_stream, max_tokens, temperature };
            crate::bench_serve::run(&zoo, &streams, work, json)
        }
        What::Attention { scenario, json, with_model, zoo } => {
            let text = match &scenario {
                Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
                None => ATTENTION.to_string(),
            };
            let mut model_line = None;
            let r = if with_model {
                let c = crate::runtime::compose(&zoo)?;
                let config =
                    sage_runtime::driver::kernel_config(&c.specs, c.profile.model_bytes, &c.residency);
                let first = c.specs.first().map(|s| s.id.clone()).unwrap_or_default();
                // A private store: the benchmark leaves the user's memories alone.
                let store = sage_store::Store::in_memory()?;
                let mut d = sage_runtime::driver::LlmDriver::new(
                    c.specs.clone(),
                    c.residency.clone(),
                    Some(store),
                    Some(sage_runtime::semantic::SemanticScorer::new(&first, 0.01)),
                    c.clock.clone(),
                )
                .with_reasoner(sage_runtime::reasoner::Reasoner::new(&first, 0.01));
                let r = judgment::attention(&text, config, Some(&mut d))?;
                let inv = &d.invocations;
                let tokens: u64 = inv.iter().map(|i| (i.tokens.0 + i.tokens.1 + i.tokens.2) as u64).sum();
                let per = if inv.is_empty() { 0.0 } else { tokens as f64 / inv.len() as f64 };
                let every = per * r.observations as f64;
                model_line = Some(format!(
                    "  language model: {} answers, {} tokens (prompt and generated); on every observation it would \
                     be about {:.0} tokens ({} observations × {:.0} per answer): {:.1}% of the model compute skipped",
                    inv.len(),
                    tokens,
                    every,
                    r.observations,
                    per,
                    if every > 0.0 { 100.0 * (1.0 - tokens as f64 / every) } else { 0.0 }
                ));
                r
            } else {
                judgment::attention(&text, sage_kernel::KernelConfig::default(), None)?
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            println!(
                "attention on {} ({} observations, {} labelled salient)",
                scenario
                    .as_ref()
                    .map_or("scenarios/attention.jsonl".to_string(), |p| p.display().to_string()),
                r.observations,
                r.salient
            );
            println!(
                "  recall of salient events   {:.3}  ({} of {})   goal >= {:.2}  {}",
                r.recall,
                r.salient_attended,
                r.salient,
                judgment::RECALL_GOAL,
                verdict(r.recall >= judgment::RECALL_GOAL)
            );
            println!("  compute skipped            {:.3}  ({} runs for {} observations; running on every one = 1.0 of the compute)   goal >= {:.2}  {}", r.skipped, r.runs, r.observations, judgment::SKIP_GOAL, verdict(r.skipped >= judgment::SKIP_GOAL));
            println!("  trivial observations attended anyway: {}", r.trivial_attended);
            if let Some(l) = model_line {
                println!("{l}");
            }
            for (tick, src, why, what) in &r.missed {
                println!("  missed: tick {tick} {src} ({why}): {what}");
            }
            Ok(())
        }
        What::Routing { requests, seed, more_seeds, json } => {
            let r = judgment::routing(requests, seed);
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            let best = r
                .baselines
                .iter()
                .find(|b| b.policy == "always best")
                .cloned()
                .unwrap_or_else(|| r.sage.clone());
            println!("routing on a simulated zoo ({} requests; tiny/small/medium/large of known quality and cost per class)", r.requests);
            println!(
                "  {:<16} {:>8} {:>9} {:>10} {:>8}  answers per model",
                "policy", "quality", "vs best", "cost/req", "swaps"
            );
            for p in std::iter::once(&r.sage).chain(&r.baselines) {
                let used: Vec<String> = p.used.iter().map(|(k, v)| format!("{k} {v}")).collect();
                println!(
                    "  {:<16} {:>8.3} {:>8.1}% {:>10.2} {:>8.3}  {}",
                    p.policy,
                    p.quality,
                    100.0 * p.quality / best.quality,
                    p.cost,
                    p.swaps_per_selection,
                    used.join(" · ")
                );
            }
            for (class, used) in &r.sage.by_class {
                let used: Vec<String> = used.iter().map(|(k, v)| format!("{k} {v}")).collect();
                println!("  sage router, {class:<14} {}", used.join(" · "));
            }
            let q = r.sage.quality / best.quality;
            let c = r.sage.cost / best.cost;
            println!("  seed {seed}: quality {:.1}% of always-best (goal >= 95%) {} · cost {:.1}% of it (goal < 50%) {} · swaps/selection {:.3} (goal <= 0.2) {} · every model explored: {}", 100.0 * q, verdict(q >= 0.95), 100.0 * c, verdict(c < 0.5), r.sage.swaps_per_selection, verdict(r.sage.swaps_per_selection <= 0.2), r.all_explored);
            let mut all = vec![(q, c, r.sage.swaps_per_selection, r.all_explored)];
            for s in seed + 1..=seed + more_seeds {
                let r = judgment::routing(requests, s);
                let best = r.baselines.iter().find(|b| b.policy == "always best").map_or(1.0, |b| b.quality);
                let best_cost =
                    r.baselines.iter().find(|b| b.policy == "always best").map_or(1.0, |b| b.cost);
                let (q, c) = (r.sage.quality / best, r.sage.cost / best_cost);
                println!("  seed {s}: quality {:.1}% · cost {:.1}% · swaps/selection {:.3} · every model explored: {}", 100.0 * q, 100.0 * c, r.sage.swaps_per_selection, r.all_explored);
                all.push((q, c, r.sage.swaps_per_selection, r.all_explored));
            }
            if all.len() > 1 {
                let n = all.len() as f64;
                let worst_q = all.iter().map(|a| a.0).fold(f64::INFINITY, f64::min);
                let worst_c = all.iter().map(|a| a.1).fold(0.0, f64::max);
                let worst_s = all.iter().map(|a| a.2).fold(0.0, f64::max);
                println!(
                    "  over {} seeds: quality mean {:.1}%, worst {:.1}% {} · cost mean {:.1}%, worst {:.1}% {} · swaps worst {:.3} {} · all explored in every seed: {}",
                    all.len(),
                    100.0 * all.iter().map(|a| a.0).sum::<f64>() / n,
                    100.0 * worst_q,
                    verdict(worst_q >= 0.95),
                    100.0 * all.iter().map(|a| a.1).sum::<f64>() / n,
                    100.0 * worst_c,
                    verdict(worst_c < 0.5),
                    worst_s,
                    verdict(worst_s <= 0.2),
                    all.iter().all(|a| a.3)
                );
            }
            Ok(())
        }
        What::LlmChild { engine, model, threads, gen, read } => {
            let r = match engine.as_str() {
                "sage" => llm::run_sage(&model, threads, gen),
                "raw" => llm::run_raw(&model, threads, gen, !read),
                other => bail!("unknown engine {other}"),
            }?;
            println!("{}", serde_json::to_string(&r)?);
            Ok(())
        }
        What::Llm { model, threads, runs, gen, hf_python, json } => {
            let model = crate::model_path::resolve(model.as_deref())?;
            let g = sage_llm::gguf::GgufFile::open(&model)?;
            let weight_bytes = g.tensor_bytes();
            // SAGE's load decision for this file on this CPU; when it reads the file, raw
            // llama.cpp runs both ways: its default (mapping) and SAGE's setting, which the
            // ratios compare against (same settings, so the ratios measure the engine).
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
            let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            let hf = match &hf_python {
                Some(py) => {
                    eprintln!("running HF transformers...");
                    let dir = std::env::temp_dir().join(format!("sage-bench-hf-{}", std::process::id()));
                    std::fs::create_dir_all(&dir)?;
                    let script = dir.join("hf_generate_bench.py");
                    std::fs::write(&script, HF_SCRIPT)?;
                    let prompt = dir.join("prompt.txt");
                    std::fs::write(&prompt, llm::PROMPT)?;
                    let out = Command::new(py)
                        .arg(&script)
                        .arg(&model)
                        .arg(threads.to_string())
                        .arg(gen.to_string())
                        .arg(&prompt)
                        .output()
                        .context("running HF transformers")?;
                    let _ = std::fs::remove_dir_all(&dir);
                    if !out.status.success() {
                        bail!("HF transformers failed: {}", String::from_utf8_lossy(&out.stderr));
                    }
                    Some(serde_json::from_slice::<serde_json::Value>(&out.stdout)?)
                }
                None => None,
            };
            let decode = f(&ms, "decode_tok_s");
            let utilisation = decode * weight_bytes as f64 / bandwidth;
            let report = serde_json::json!({
                "model": model, "weight_bytes": weight_bytes, "threads": threads, "generated": gen,
                "memory_bandwidth_gb_s": bandwidth / 1e9,
                "sage_weights": plan.reason(),
                "sage": ms, "raw_llama_cpp": mr_map, "raw_llama_cpp_same_load": mr, "hf_transformers": hf,
                "ratios": {
                    "decode_sage_over_raw": decode / f(&mr, "decode_tok_s"),
                    "prefill_sage_over_raw": f(&ms, "prefill_tok_s") / f(&mr, "prefill_tok_s"),
                    "load_sage_over_raw": f(&ms, "load_s") / f(&mr, "load_s"),
                    "peak_rss_sage_minus_raw_mib": f(&ms, "peak_rss_mib") - f(&mr, "peak_rss_mib"),
                    "bandwidth_utilisation": utilisation,
                    "peak_rss_sage_over_raw_default": f(&ms, "peak_rss_mib") / f(&mr_map, "peak_rss_mib"),
                    "load_sage_over_raw_default": f(&ms, "load_s") / f(&mr_map, "load_s"),
                },
            });
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(());
            }
            println!(
                "generation: {} · {threads} threads · {gen} tokens · median of {runs} runs each",
                model.display()
            );
            println!(
                "{:<22} {:>9} {:>13} {:>12} {:>10}",
                "engine", "load s", "prefill tok/s", "decode tok/s", "peak MiB"
            );
            let line = |name: &str, v: &serde_json::Value| {
                println!(
                    "{:<22} {:>9.3} {:>13.1} {:>12.1} {:>10.0}",
                    name,
                    f(v, "load_s"),
                    f(v, "prefill_tok_s"),
                    f(v, "decode_tok_s"),
                    f(v, "peak_rss_mib").max(f(v, "peak_rss") / 1048576.0)
                )
            };
            line("raw llama.cpp", &mr_map);
            if !plan.mmap {
                line("raw llama.cpp, read", &mr);
            }
            line("sage", &ms);
            println!("sage {}", plan.reason());
            if let Some(h) = &hf {
                line("HF transformers fp32", h);
            }
            let r = &report["ratios"];
            println!(
                "sage / raw{}: decode {:.3}x (goal >= 0.97) · prefill {:.3}x (>= 0.95) · load {:.3}x (<= 1.1) · peak memory {:+.0} MiB (<= +64)",
                if plan.mmap { "" } else { " (both reading the file)" },
                f(r, "decode_sage_over_raw"),
                f(r, "prefill_sage_over_raw"),
                f(r, "load_sage_over_raw"),
                f(r, "peak_rss_sage_minus_raw_mib")
            );
            if !plan.mmap {
                println!(
                    "sage (reading) vs raw llama.cpp's default (mapping): peak memory {:.0} vs {:.0} MiB ({:.2}x) · load {:.3} vs {:.3} s ({:.2}x)",
                    f(&ms, "peak_rss_mib"),
                    f(&mr_map, "peak_rss_mib"),
                    f(r, "peak_rss_sage_over_raw_default"),
                    f(&ms, "load_s"),
                    f(&mr_map, "load_s"),
                    f(r, "load_sage_over_raw_default")
                );
            }
            if let Some(h) = &hf {
                println!(
                    "sage vs HF transformers: decode {:.1}x faster (goal >= 6) · peak memory {:.1}x smaller (>= 8) · load {:.0}x faster (>= 50)",
                    decode / f(h, "decode_tok_s"),
                    f(h, "peak_rss") / 1048576.0 / f(&ms, "peak_rss_mib"),
                    f(h, "load_s") / f(&ms, "load_s")
                );
            }
            println!(
                "decode vs machine limit: {:.1} tok/s x {:.0} MB per token / {:.1} GB/s measured = {:.0}% (goal >= 65%)",
                decode,
                weight_bytes as f64 / 1e6,
                bandwidth / 1e9,
                utilisation * 100.0
            );
            Ok(())
        }
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
                    "documented rates of the Python reference (from the survey of the Python SAGE, not measured here); --python-ref DIR measures it now"
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
