//! `sage bench serve`: time to first token, inter-token latency, end-to-end latency and
//! throughput of `sage serve` for 1, 4 and 8 concurrent streams, and what happens beyond
//! capacity. The server runs in this process on loopback; clients are plain HTTP/1.1 threads.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sage_kernel::Kernel;
use sage_runtime::driver::{kernel_config, LlmDriver};
use sage_runtime::route::Router;
use sage_server::{App, KernelHost, ServerConfig};

use crate::runtime::{compose, ZooArgs};

/// One streamed request as a client saw it.
#[derive(Debug, Clone, Default)]
struct Seen {
    status: u16,
    ttft: Option<f64>,
    gaps: Vec<f64>,
    e2e: f64,
    deltas: usize,
}

/// What each request asks for.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Requests per stream.
    pub per_stream: usize,
    /// Tokens per answer.
    pub max_tokens: u32,
    /// Sampling temperature (0: greedy); seeded, so that runs repeat.
    pub temperature: f32,
}

fn stream_once(addr: SocketAddr, prompt: &str, max_tokens: u32, temperature: f32) -> anyhow::Result<Seen> {
    let body =
        serde_json::json!({"model": "sage", "stream": true, "max_tokens": max_tokens, "temperature": temperature, "seed": 7,
        "messages": [{"role": "user", "content": prompt}]})
        .to_string();
    let started = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(300)))?;
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut seen = Seen::default();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    let mut scanned = 0;
    let mut last: Option<Instant> = None;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let now = Instant::now();
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if seen.status == 0 {
            if let Some(code) = text.get(9..12) {
                seen.status = code.parse().unwrap_or(0);
            }
        }
        // Content deltas: `"delta":{"content":"X` with X not a quote (the first chunk's
        // content is empty: it carries the role).
        const MARK: &str = "\"delta\":{\"content\":\"";
        while let Some(i) = text[scanned..].find(MARK) {
            let at = scanned + i + MARK.len();
            scanned = at;
            if text[at..].starts_with('"') {
                continue;
            }
            seen.deltas += 1;
            match last {
                None => seen.ttft = Some((now - started).as_secs_f64()),
                Some(l) => seen.gaps.push((now - l).as_secs_f64()),
            }
            last = Some(now);
        }
    }
    seen.e2e = started.elapsed().as_secs_f64();
    Ok(seen)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i.min(v.len() - 1)]
}

const PROMPTS: &[&str] = &[
    "What is the battery level?",
    "Is the charging dock free?",
    "Where is the forklift?",
    "Can you check door 4?",
    "What did you see in aisle 3?",
    "Is the corridor clear?",
    "How long until the patrol ends?",
    "Which bay needs cleaning?",
];

/// Every request's prompt is its own: a different robot asks, so that no request finds another's
/// prompt in the cache beyond the chat template's preamble (the hard case for prompt evaluation).
fn unique(streams: usize, k: usize, j: usize) -> String {
    format!("Robot {streams}-{k}-{j} asks: {}", PROMPTS[(k + j) % PROMPTS.len()])
}

/// One server configuration measured: a row per stream count, and the burst's statuses.
struct Measured {
    rows: Vec<serde_json::Value>,
    burst: Vec<u16>,
}

/// Start a server over `zoo` with `parallel` sequences (and as many running requests), run
/// every stream count against it, then (if `burst`) send four times `parallel` requests at once.
fn measure(
    zoo: &ZooArgs,
    parallel: usize,
    streams: &[usize],
    work: Workload,
    burst: bool,
) -> anyhow::Result<Measured> {
    let Workload { per_stream, max_tokens, temperature } = work;
    let mut zoo = zoo.clone();
    zoo.engine.parallel = Some(parallel as u32);
    let c = compose(&zoo)?;
    let router = Router::new(c.specs.clone(), c.residency.clone(), c.clock.clone(), 7);
    let kernel = Kernel::new(kernel_config(&c.specs, c.profile.model_bytes, &c.residency))?;
    let driver = LlmDriver::new(c.specs.clone(), c.residency.clone(), None, None, c.clock.clone());
    let max = streams.iter().copied().max().unwrap_or(1);
    let config = ServerConfig { max_running: parallel, max_waiting: max, ..ServerConfig::default() };
    let app = App::new(router, c.residency, None, KernelHost::new(kernel, driver), c.clock, config);
    app.warm_up();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(sage_server::serve(Arc::clone(&app), listener, async {
        let _ = stopped.await;
    }));
    // Warm the model and its caches.
    stream_once(addr, "Hello?", 8, 0.0).context("the warm-up request")?;
    let mut rows = vec![];
    for &n in streams {
        let started = Instant::now();
        let handles: Vec<_> = (0..n)
            .map(|k| {
                std::thread::spawn(move || {
                    (0..per_stream)
                        .map(|j| stream_once(addr, &unique(n, k, j), max_tokens, temperature))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = vec![];
        // Time to first token of the requests after each stream's first: those do not all
        // arrive at the same instant.
        let mut later_ttft = vec![];
        for h in handles {
            for (j, r) in
                h.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?.into_iter().enumerate()
            {
                let r = r?;
                if j > 0 && r.status == 200 {
                    later_ttft.extend(r.ttft);
                }
                seen.push(r);
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let ok: Vec<&Seen> = seen.iter().filter(|s| s.status == 200).collect();
        let mut ttft: Vec<f64> = ok.iter().filter_map(|s| s.ttft).collect();
        let mut itl: Vec<f64> = ok.iter().flat_map(|s| s.gaps.iter().copied()).collect();
        let mut e2e: Vec<f64> = ok.iter().map(|s| s.e2e).collect();
        let deltas: usize = ok.iter().map(|s| s.deltas).sum();
        rows.push(serde_json::json!({
            "streams": n, "requests": seen.len(), "ok": ok.len(),
            "ttft_p50": pct(&mut ttft, 50.0), "ttft_p99": pct(&mut ttft, 99.0),
            "later_ttft_p99": pct(&mut later_ttft, 99.0),
            "itl_p50": pct(&mut itl, 50.0), "itl_p99": pct(&mut itl, 99.0),
            "e2e_p50": pct(&mut e2e, 50.0), "e2e_p99": pct(&mut e2e, 99.0),
            "deltas_per_s": deltas as f64 / wall, "wall_s": wall,
            "ttft_all": ttft,
        }));
    }
    let mut statuses = vec![];
    if burst {
        // Beyond capacity: `parallel` running, `max` waiting; four times `parallel` at once.
        let handles: Vec<_> = (0..4 * parallel)
            .map(|k| std::thread::spawn(move || stream_once(addr, &unique(0, k, 0), 4, 0.0)))
            .collect();
        for h in handles {
            statuses.push(h.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))??.status);
        }
    }
    let _ = stop.send(());
    rt.block_on(server)??;
    Ok(Measured { rows, burst: statuses })
}

fn f(r: &serde_json::Value, k: &str) -> f64 {
    r[k].as_f64().unwrap_or(f64::NAN)
}

fn print_rows(title: &str, rows: &[serde_json::Value]) {
    println!("{title}");
    println!(
        "  {:>7} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "streams", "requests", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99", "E2E p50", "E2E p99", "deltas/s"
    );
    for r in rows {
        println!(
            "  {:>7} {:>8} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>10.1}",
            r["streams"],
            r["requests"],
            f(r, "ttft_p50"),
            f(r, "ttft_p99"),
            f(r, "itl_p50"),
            f(r, "itl_p99"),
            f(r, "e2e_p50"),
            f(r, "e2e_p99"),
            f(r, "deltas_per_s")
        );
    }
}

/// Run the benchmark: the same clients against the engine with one sequence (one generation at
/// a time: the baseline) and with as many sequences as the largest stream count (batched).
pub fn run(zoo: &ZooArgs, streams: &[usize], work: Workload, json: bool) -> anyhow::Result<()> {
    if !(0.0..=2.0).contains(&work.temperature) {
        anyhow::bail!("--temperature must be in [0, 2], got {}", work.temperature);
    }
    if streams.is_empty() || streams.contains(&0) || work.per_stream == 0 {
        anyhow::bail!("--streams and --per-stream must be positive");
    }
    let max = streams.iter().copied().max().unwrap_or(1);
    let base = measure(zoo, 1, streams, work, false)?;
    let batched = measure(zoo, max, streams, work, true)?;
    let Workload { per_stream, max_tokens, temperature } = work;
    let ok = batched.burst.iter().filter(|s| **s == 200).count();
    let busy = batched.burst.iter().filter(|s| **s == 429).count();
    let sent = batched.burst.len();
    if json {
        println!(
            "{}",
            serde_json::json!({"sequential": base.rows, "batched": batched.rows,
                "burst": {"sent": sent, "ok": ok, "429": busy}})
        );
        return Ok(());
    }
    println!(
        "sage serve on loopback, {max_tokens} tokens per answer, {per_stream} requests per stream, {} (seconds)",
        if temperature > 0.0 { format!("temperature {temperature}, seed 7") } else { "greedy".to_string() }
    );
    print_rows("baseline: one sequence (one generation at a time)", &base.rows);
    print_rows(&format!("batched: {max} sequences in one batch"), &batched.rows);
    // The goal's yardstick: the single-stream median (NaN, and no ratio, without `--streams 1`).
    let single = batched.rows.iter().find(|r| r["streams"] == 1).map_or(f64::NAN, |r| f(r, "ttft_p50"));
    for (b, s) in batched.rows.iter().zip(&base.rows) {
        println!(
            "  {} streams: TTFT p99 {:.2}x lower, E2E p99 {:.2}x lower, throughput {:.2}x the baseline; \
             TTFT p99 / single-stream median {:.1}x",
            b["streams"],
            f(s, "ttft_p99") / f(b, "ttft_p99"),
            f(s, "e2e_p99") / f(b, "e2e_p99"),
            f(b, "deltas_per_s") / f(s, "deltas_per_s"),
            f(b, "ttft_p99") / single
        );
    }
    if let Some(e) = batched.rows.iter().find(|r| r["streams"] == 8) {
        let ratio = f(e, "ttft_p99") / single;
        println!(
            "  goal: 8 streams p99 TTFT <= 2x the single-stream median: {ratio:.1}x {}",
            if ratio <= 2.0 { "met" } else { "NOT met" }
        );
        println!(
            "  without each stream's first request (those 8 arrive at the same instant): p99 TTFT {:.3} s = {:.1}x",
            f(e, "later_ttft_p99"),
            f(e, "later_ttft_p99") / single
        );
        if let Some(all) = e["ttft_all"].as_array() {
            let v: Vec<String> = all.iter().filter_map(|x| x.as_f64()).map(|x| format!("{x:.3}")).collect();
            println!("  8 streams, every TTFT: {}", v.join(" "));
        }
    }
    println!(
        "  burst of {sent} at once ({max} running, {max} waiting allowed): {ok} answered, {busy} refused with 429, {} other",
        sent - ok - busy
    );
    Ok(())
}
