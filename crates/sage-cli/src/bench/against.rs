//! `sage bench serve --against URL`: `sage serve` (a child process with the same model, threads,
//! context and parallel sequences) and another OpenAI-compatible server (llama.cpp's
//! `llama-server`, built by `tools/llama-server/build.sh`) measured by the same clients in one
//! run: raw text completions (no chat template: the same prompt tokens for both), 1, 4 and 8
//! streams, throughput in completion tokens per second (as each server counts
//! them in its final `usage`), time to first token, peak memory (VmHWM, when the other server's
//! process id is given), and the 8-stream compute floor (decision 0017). Each stream count runs
//! in rounds, the servers taking turns (the first alternating), because this machine's speed
//! drifts by several percent from minute to minute; the figures sum the rounds.

use std::time::Instant;

use anyhow::Context as _;
use serde_json::json;

use super::pct;
use super::realtime::{spawn, Child};
use crate::runtime::ZooArgs;

/// Settings of the comparison.
#[derive(Debug, Clone)]
pub struct Against {
    /// The other server, `http://host:port`.
    pub url: String,
    /// Its process id, for its peak memory.
    pub pid: Option<u32>,
    /// Concurrent streams.
    pub streams: Vec<usize>,
    /// Requests per stream.
    pub per_stream: usize,
    /// Tokens per answer.
    pub max_tokens: u32,
    /// Parallel sequences (both servers).
    pub parallel: u32,
    /// Threads (both servers).
    pub threads: u32,
    /// Context per sequence (both servers).
    pub ctx: u32,
    /// Rounds per stream count, the servers taking turns.
    pub rounds: usize,
}

#[derive(Debug, Default, Clone)]
struct Seen {
    ok: bool,
    ttft: Option<f64>,
    tokens: u64,
}

fn host(url: &str) -> String {
    url.trim_start_matches("http://").trim_end_matches('/').to_string()
}

/// One streamed text completion of a raw prompt (the same tokens for both servers: no chat
/// template is involved); its time to the first text and the completion tokens the server
/// reports.
fn stream(addr: &str, prompt: &str, max_tokens: u32) -> anyhow::Result<Seen> {
    let body = json!({"model": "sage", "stream": true, "max_tokens": max_tokens, "temperature": 0, "seed": 7,
        "stream_options": {"include_usage": true}, "prompt": format!("Question: {prompt}\nAnswer:")})
    .to_string();
    let mut first: Option<Instant> = None;
    let (start, text) = super::sse::post_streaming(addr, "/v1/completions", &body, |text, now| {
        if first.is_none() && has_content(text) {
            first = Some(now);
        }
    })?;
    let mut seen = Seen {
        ok: text.starts_with("HTTP/1.1 200"),
        ttft: first.map(|t| (t - start).as_secs_f64()),
        tokens: 0,
    };
    if let Some(i) = text.rfind("\"completion_tokens\":") {
        let digits: String =
            text[i + 20..].chars().skip_while(|c| *c == ' ').take_while(char::is_ascii_digit).collect();
        seen.tokens = digits.parse().unwrap_or(0);
    }
    Ok(seen)
}

/// Whether a stream so far holds a piece of text.
fn has_content(text: &str) -> bool {
    text.split("data: ").any(|e| e.contains("\"text\":\"") && !e.contains("\"text\":\"\""))
}

/// A tag of this run, at the head of every prompt: a server that kept an earlier run's prompts
/// (llama-server keeps evaluated prompts in RAM, `--cache-ram`) finds nothing to reuse.
fn run_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("{:x}", t.as_nanos() as u64 ^ std::process::id() as u64)
    })
}

fn prompt(round: usize, n: usize, k: usize, j: usize) -> String {
    let topics = [
        "the battery",
        "a blocked aisle",
        "the charging dock",
        "the left wheel",
        "a spilled liquid",
        "the camera",
    ];
    format!(
        "Run {}.{round}. Stream {k} of {n}, request {j}: in three sentences, what should a warehouse robot do about {}?",
        run_tag(),
        topics[(k + j) % topics.len()]
    )
}

/// What one server did under one load: every request's outcome and the wall time.
#[derive(Debug, Default)]
struct Load {
    seen: Vec<Seen>,
    wall: f64,
}

impl Load {
    fn tokens(&self) -> u64 {
        self.seen.iter().filter(|s| s.ok).map(|s| s.tokens).sum()
    }

    fn tokens_per_s(&self) -> f64 {
        self.tokens() as f64 / self.wall
    }

    /// The figures of the loads together: tokens over the summed wall time, percentiles over
    /// every request.
    fn summary(loads: &[Load], n: usize) -> serde_json::Value {
        let seen: Vec<&Seen> = loads.iter().flat_map(|l| &l.seen).collect();
        let ok: Vec<&&Seen> = seen.iter().filter(|s| s.ok).collect();
        let ttft: Vec<f64> = ok.iter().filter_map(|s| s.ttft).collect();
        let tokens: u64 = loads.iter().map(Load::tokens).sum();
        let wall: f64 = loads.iter().map(|l| l.wall).sum();
        json!({"streams": n, "requests": seen.len(), "ok": ok.len(), "tokens": tokens,
            "tokens_per_s": tokens as f64 / wall, "ttft_p50": pct(&ttft, 50.0), "ttft_p99": pct(&ttft, 99.0),
            "wall_s": wall, "rounds_tokens_per_s": loads.iter().map(Load::tokens_per_s).collect::<Vec<_>>()})
    }
}

/// `n` streams of `per` requests each against `addr`, with the prompts of `round`.
fn load(addr: &str, round: usize, n: usize, per: usize, max_tokens: u32) -> anyhow::Result<Load> {
    let started = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|k| {
            let addr = addr.to_string();
            std::thread::spawn(move || {
                (0..per).map(|j| stream(&addr, &prompt(round, n, k, j), max_tokens)).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = vec![];
    for h in handles {
        for r in h.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))? {
            seen.push(r?);
        }
    }
    Ok(Load { seen, wall: started.elapsed().as_secs_f64() })
}

/// The 8-stream compute floor on `addr`: the eight prompts that arrive together, evaluated as
/// one prompt, plus one decode step (the best of three on an idle server; each run's prompts are
/// new, so that no cached prefix or answer shortens it).
fn floor(addr: &str, n: usize, tag: &str) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for run in 0..3 {
        let joined: Vec<String> =
            (0..n).map(|k| format!("[{tag} {run}] {}", prompt(0, n, k, 1000 + run))).collect();
        let t = Instant::now();
        let s = stream(addr, &joined.join("\n"), 1)?;
        anyhow::ensure!(s.ok, "the floor request failed");
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Peak resident memory of a process, MiB (`VmHWM`).
fn peak_mib(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Run the comparison.
pub fn run(zoo: &ZooArgs, a: &Against, json_out: bool) -> anyhow::Result<()> {
    let model = crate::model_path::resolve(zoo.model.as_deref())?;
    let args: Vec<String> = vec![
        "serve".into(),
        "--model".into(),
        model.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--threads".into(),
        a.threads.to_string(),
        "--ctx".into(),
        a.ctx.to_string(),
        "--parallel".into(),
        a.parallel.to_string(),
        "--max-running".into(),
        a.parallel.to_string(),
        "--max-waiting".into(),
        "64".into(),
        "--store".into(),
        std::env::temp_dir()
            .join(format!("sage-bench-against-{}.db", std::process::id()))
            .display()
            .to_string(),
    ];
    let (child, sage): (Child, String) = spawn(&args, "sage serve:")?;
    let sage_pid = child.0.id();
    let other = host(&a.url);
    // Warm both (first prompts, first connections).
    for addr in [&sage, &other] {
        let s = stream(addr, "Hello?", 4).with_context(|| format!("warming {addr}"))?;
        anyhow::ensure!(s.ok, "{addr} did not answer the warm-up request");
    }
    let mut rows = vec![];
    let mut round = 0;
    for &n in &a.streams {
        let (mut ours, mut theirs) = (vec![], vec![]);
        for _ in 0..a.rounds.max(1) {
            // The servers take turns, the first alternating from round to round.
            if round % 2 == 0 {
                ours.push(load(&sage, round, n, a.per_stream, a.max_tokens)?);
                theirs.push(load(&other, round, n, a.per_stream, a.max_tokens)?);
            } else {
                theirs.push(load(&other, round, n, a.per_stream, a.max_tokens)?);
                ours.push(load(&sage, round, n, a.per_stream, a.max_tokens)?);
            }
            round += 1;
        }
        rows.push(json!({"streams": n, "sage": Load::summary(&ours, n), "other": Load::summary(&theirs, n)}));
    }
    let n = a.streams.iter().copied().max().unwrap_or(8);
    let floors = json!({"sage": floor(&sage, n, "a")?, "other": floor(&other, n, "b")?});
    let memory = json!({"sage_mib": peak_mib(sage_pid), "other_mib": a.pid.and_then(peak_mib)});
    drop(child);
    let out = json!({"rows": rows, "floor_s": floors, "peak": memory, "settings": {
        "url": a.url, "parallel": a.parallel, "threads": a.threads, "ctx": a.ctx, "per_stream": a.per_stream, "max_tokens": a.max_tokens, "rounds": a.rounds.max(1)}});
    if json_out {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print(&out, n);
    }
    Ok(())
}

fn print(v: &serde_json::Value, n: usize) {
    let f = |x: &serde_json::Value| x.as_f64().unwrap_or(f64::NAN);
    let s = &v["settings"];
    println!(
        "sage serve against {} on loopback: {} parallel sequences, {} threads, {} tokens of context each, {} tokens per answer, {} requests per stream, greedy, {} rounds (the servers taking turns)",
        s["url"].as_str().unwrap_or("?"), s["parallel"], s["threads"], s["ctx"], s["max_tokens"], s["per_stream"], s["rounds"]
    );
    println!("  streams   throughput tok/s (sage / other = ratio)   TTFT p50 s (sage / other)   TTFT p99 s (sage / other)   tokens per answer   each round's ratio");
    let mut met = true;
    for r in v["rows"].as_array().into_iter().flatten() {
        let (a, b) = (&r["sage"], &r["other"]);
        let ratio = f(&a["tokens_per_s"]) / f(&b["tokens_per_s"]);
        met &= ratio >= 1.0 && f(&a["ttft_p99"]) <= f(&b["ttft_p99"]);
        let per_round: Vec<String> = a["rounds_tokens_per_s"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(b["rounds_tokens_per_s"].as_array().into_iter().flatten())
            .map(|(x, y)| format!("{:.2}", f(x) / f(y)))
            .collect();
        println!(
            "  {:>7}   {:>8.1} / {:>8.1} = {:.2}x              {:.3} / {:.3}              {:.3} / {:.3}              {:.1} / {:.1}         {}",
            r["streams"],
            f(&a["tokens_per_s"]),
            f(&b["tokens_per_s"]),
            ratio,
            f(&a["ttft_p50"]),
            f(&b["ttft_p50"]),
            f(&a["ttft_p99"]),
            f(&b["ttft_p99"]),
            f(&a["tokens"]) / f(&a["ok"]),
            f(&b["tokens"]) / f(&b["ok"]),
            per_round.join(" ")
        );
    }
    let (ms, mo) = (f(&v["peak"]["sage_mib"]), f(&v["peak"]["other_mib"]));
    println!(
        "  peak memory: sage {ms:.0} MiB, other {} (goal: sage <= other + 64 MiB: {})",
        if mo.is_nan() { "not measured (give --against-pid)".to_string() } else { format!("{mo:.0} MiB") },
        if mo.is_nan() {
            "not measured".to_string()
        } else if ms <= mo + 64.0 {
            "met".into()
        } else {
            "NOT met".into()
        }
    );
    println!(
        "  throughput >= 1.0x and p99 TTFT <= the other's at every stream count: {}",
        if met { "met" } else { "NOT met" }
    );
    if let Some(r) = v["rows"].as_array().and_then(|rows| rows.iter().find(|r| r["streams"] == n)) {
        let fl = f(&v["floor_s"]["sage"]);
        let p99 = f(&r["sage"]["ttft_p99"]);
        println!(
            "  {n} streams: p99 TTFT {p99:.3} s against a compute floor of {fl:.3} s ({n} prompts evaluated as one, plus one decode step; the other server's floor: {:.3} s): {:.2}x (goal <= 1.25x: {})",
            f(&v["floor_s"]["other"]), p99 / fl, if p99 <= 1.25 * fl { "met" } else { "NOT met" }
        );
    }
}
