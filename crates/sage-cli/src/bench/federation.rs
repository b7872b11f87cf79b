//! `sage bench federation`: what a hop through a peer costs, and how long a request waits when
//! its serving node dies (SIGKILL) or freezes (SIGSTOP) mid-answer. Two `sage node` processes on
//! loopback with the same model: `sprout` is asked over HTTP, `thor` serves through the
//! federation. The baseline of the hop is the same model answering on `sprout` itself, measured
//! alternately in the same run. (The routing figures are `sage bench federation --routing`,
//! a simulation.)

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use super::pct;
use super::realtime::{free_port, spawn, Child};
use crate::runtime::ZooArgs;

/// Settings of the run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Requests of each kind in the hop phase.
    pub requests: usize,
    /// Nodes killed, one per request.
    pub kills: usize,
    /// Nodes frozen, one per request.
    pub freezes: usize,
    /// A peer silent this long mid-answer is given up (the asking node's setting).
    pub stall_ms: u64,
    /// Tokens per answer.
    pub max_tokens: u32,
}

struct Fleet {
    dir: PathBuf,
    model: PathBuf,
    keys: Vec<String>,
    ports: Vec<u16>,
    stall_ms: u64,
}

const NAMES: [&str; 2] = ["thor", "sprout"];

impl Fleet {
    fn new(model: PathBuf, stall_ms: u64) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("sage-bench-federation-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let mut keys = vec![];
        for n in NAMES {
            keys.push(sage_fed::Identity::load_or_create(&dir.join(format!("{n}.key")))?.public_hex());
        }
        let ports = vec![free_port()?, free_port()?];
        Ok(Self { dir, model, keys, ports, stall_ms })
    }

    fn start(&self, i: usize) -> anyhow::Result<(Child, String)> {
        let name = NAMES[i];
        let connect: Vec<String> = self
            .ports
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| format!("\"tcp/127.0.0.1:{p}\""))
            .collect();
        let inputs = self.dir.join(format!("{name}.inputs.toml"));
        std::fs::write(
            &inputs,
            format!(
                "[zenoh]\nmulticast = false\nlisten = [\"tcp/127.0.0.1:{}\"]\nconnect = [{}]\n[outputs]\nprefix = \"{name}\"\n[[input]]\nkey = \"{name}/operator/**\"\nsource = \"operator\"\n",
                self.ports[i],
                connect.join(",")
            ),
        )?;
        let fed = self.dir.join(format!("{name}.federation.toml"));
        let allow: Vec<String> = self.keys.iter().map(|k| format!("\"{k}\"")).collect();
        std::fs::write(
            &fed,
            format!(
                "profile = \"{name}\"\nkey = \"{name}.key\"\nallow = [{}]\nstall_ms = {}\n",
                allow.join(","),
                self.stall_ms
            ),
        )?;
        let args: Vec<String> = vec![
            "node".into(),
            "--inputs".into(),
            inputs.display().to_string(),
            "--federation".into(),
            fed.display().to_string(),
            "--model".into(),
            self.model.display().to_string(),
            "--store".into(),
            self.dir.join(format!("{name}.db")).display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        spawn(&args, "sage node:")
    }
}

fn get_json(addr: &str, path: &str) -> anyhow::Result<serde_json::Value> {
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("{}");
    Ok(serde_json::from_str(body)?)
}

/// Wait until the node at `addr` sees `peer` alive with capabilities; returns the peer's first
/// model id.
fn wait_ready(addr: &str, peer: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = get_json(addr, "/sage/federation")?;
        let found = v["peers"].as_array().and_then(|ps| {
            ps.iter()
                .find(|p| p["node"] == peer && p["alive"] == true)
                .and_then(|p| p["caps"]["models"][0]["id"].as_str().map(String::from))
        });
        if let Some(m) = found {
            return Ok(m);
        }
        anyhow::ensure!(Instant::now() < deadline, "node {peer} was not seen by {addr} within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stream a chat completion for `model`; `on_piece(n)` after each piece of content. Returns the
/// start and the time of each piece.
fn stream(
    addr: &str,
    model: &str,
    prompt: &str,
    max_tokens: u32,
    mut on_piece: impl FnMut(usize),
) -> anyhow::Result<(Instant, Vec<Instant>, String)> {
    let body = json!({"model": model, "stream": true, "max_tokens": max_tokens, "temperature": 0,
        "messages": [{"role": "user", "content": prompt}]})
    .to_string();
    let (mut times, mut scanned) = (vec![], 0);
    const MARK: &str = "\"delta\":{\"content\":\"";
    let (start, text) = super::sse::post_streaming(addr, "/v1/chat/completions", &body, |text, now| {
        while let Some(i) = text[scanned..].find(MARK) {
            scanned += i + MARK.len();
            if !text[scanned..].starts_with('"') {
                times.push(now);
                on_piece(times.len());
            }
        }
    })?;
    Ok((start, times, text))
}

fn question(i: usize) -> String {
    let topics =
        ["the battery", "the left wheel", "the camera", "aisle four", "the charging dock", "the arm"];
    format!("In two sentences, what should a robot check about {} before task {i}?", topics[i % topics.len()])
}

/// The hop: the same questions answered on sprout itself and through thor, alternately.
fn hop_phase(
    fleet: &Fleet,
    s: &Settings,
    sprout: &str,
    thor_id: &str,
    model: &str,
) -> anyhow::Result<serde_json::Value> {
    let through = format!("{model}@{thor_id}");
    // Warm-up of both paths (first prompts, first connections), not counted.
    stream(sprout, model, &question(0), 4, |_| {})?;
    stream(sprout, &through, &question(0), 4, |_| {})?;
    let (mut ttft, mut itl) = ([vec![], vec![]], [vec![], vec![]]);
    for i in 0..s.requests {
        for (k, m) in [model, through.as_str()].into_iter().enumerate() {
            let (start, times, text) = stream(sprout, m, &question(1 + i), s.max_tokens, |_| {})?;
            anyhow::ensure!(!times.is_empty(), "no content from {m}: {text}");
            ttft[k].push((times[0] - start).as_secs_f64() * 1e3);
            itl[k].extend(times.windows(2).map(|w| (w[1] - w[0]).as_secs_f64() * 1e3));
        }
    }
    let _ = fleet;
    Ok(json!({
        "requests": s.requests,
        "local_ttft_ms": [pct(&ttft[0], 50.0), pct(&ttft[0], 99.0)],
        "peer_ttft_ms": [pct(&ttft[1], 50.0), pct(&ttft[1], 99.0)],
        "local_itl_ms": [pct(&itl[0], 50.0), pct(&itl[0], 99.0)],
        "peer_itl_ms": [pct(&itl[1], 50.0), pct(&itl[1], 99.0)],
        "added_ttft_p50_ms": pct(&ttft[1], 50.0) - pct(&ttft[0], 50.0),
        "added_itl_p50_ms": pct(&itl[1], 50.0) - pct(&itl[0], 50.0),
    }))
}

/// Kill (SIGKILL) or freeze (SIGSTOP) thor after the fifth piece of an answer it streams to
/// sprout's client; the time from the signal to the next piece the client receives.
fn failover_phase(
    fleet: &Fleet,
    s: &Settings,
    sprout: &str,
    thor_id: &str,
    model: &str,
    signal: &str,
    runs: usize,
) -> anyhow::Result<serde_json::Value> {
    let mut gaps = vec![];
    let mut complete = 0;
    for i in 0..runs {
        let (mut thor, _) = fleet.start(0)?;
        wait_ready(sprout, thor_id)?;
        let pid = thor.0.id().to_string();
        let target = format!("{model}@{thor_id}");
        let (tx, rx) = std::sync::mpsc::channel::<Instant>();
        let addr = sprout.to_string();
        let q = question(1000 + i);
        let max_tokens = s.max_tokens.max(48);
        let client = std::thread::spawn(move || {
            stream(&addr, &target, &q, max_tokens, |n| {
                if n == 5 {
                    let _ = tx.send(Instant::now());
                }
            })
        });
        let fifth = rx.recv_timeout(Duration::from_secs(120)).context("no fifth piece from thor")?;
        let _ = fifth;
        let signalled = Instant::now();
        let ok = std::process::Command::new("kill").args([signal, &pid]).status()?.success();
        anyhow::ensure!(ok, "kill {signal} {pid} failed");
        let (_, times, text) = client.join().map_err(|_| anyhow::anyhow!("client thread panicked"))??;
        if let Some(next) = times.iter().find(|t| **t > signalled) {
            gaps.push((*next - signalled).as_secs_f64() * 1e3);
        }
        if text.matches("[DONE]").count() == 1 {
            complete += 1;
        }
        let _ = thor.0.kill();
        let _ = thor.0.wait();
        eprintln!("  {signal} {}: {:?} ms to the next piece", i + 1, gaps.last());
        // Sprout sees thor gone before the next run starts it again.
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(json!({
        "runs": runs,
        "continued": gaps.len(),
        "one_answer": complete,
        "to_next_piece_ms": [pct(&gaps, 50.0), pct(&gaps, 99.0)],
        "all_ms": gaps,
    }))
}

/// Run the benchmark.
pub fn run(zoo: &ZooArgs, s: Settings, json_out: bool) -> anyhow::Result<()> {
    let model = crate::model_path::resolve(zoo.model.as_deref())?;
    let fleet = Fleet::new(model, s.stall_ms)?;
    let thor_id = sage_fed::identity::node_id_of(&fleet.keys[0]);
    let (sprout_child, sprout) = fleet.start(1)?;
    let (thor_child, _) = fleet.start(0)?;
    let model_id = wait_ready(&sprout, &thor_id)?;
    eprintln!("federation bench: thor {thor_id} serves {model_id} to sprout's clients");
    let hop = hop_phase(&fleet, &s, &sprout, &thor_id, &model_id)?;
    drop(thor_child);
    std::thread::sleep(Duration::from_millis(300));
    let killed = failover_phase(&fleet, &s, &sprout, &thor_id, &model_id, "-KILL", s.kills)?;
    let frozen = failover_phase(&fleet, &s, &sprout, &thor_id, &model_id, "-STOP", s.freezes)?;
    drop(sprout_child);
    let _ = std::fs::remove_dir_all(&fleet.dir);
    let out = json!({"hop": hop, "sigkill": killed, "sigstop": frozen, "stall_ms": s.stall_ms, "max_tokens": s.max_tokens});
    if json_out {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    print(&out);
    Ok(())
}

fn print(v: &serde_json::Value) {
    let pair = |x: &serde_json::Value| {
        format!("{:.1} / {:.1}", x[0].as_f64().unwrap_or(f64::NAN), x[1].as_f64().unwrap_or(f64::NAN))
    };
    let h = &v["hop"];
    println!(
        "federation on loopback: two sage node processes, the same model, {} requests each way",
        h["requests"]
    );
    println!("  hop                          p50 / p99 ms");
    println!("  time to first token, local   {}", pair(&h["local_ttft_ms"]));
    println!("  time to first token, peer    {}", pair(&h["peer_ttft_ms"]));
    println!("  inter-token, local           {}", pair(&h["local_itl_ms"]));
    println!("  inter-token, peer            {}", pair(&h["peer_itl_ms"]));
    let added = h["added_ttft_p50_ms"].as_f64().unwrap_or(f64::NAN);
    let added_itl = h["added_itl_p50_ms"].as_f64().unwrap_or(f64::NAN);
    println!(
        "  added by the hop at p50: {added:.1} ms to the first token, {added_itl:.1} ms per token (goal <= 5 ms): {}",
        if added <= 5.0 && added_itl <= 5.0 { "met" } else { "NOT met" }
    );
    for (k, what) in [("sigkill", "SIGKILL"), ("sigstop", "SIGSTOP (frozen)")] {
        let f = &v[k];
        println!(
            "  {what}: the client's next piece {} ms after the signal (p50 / p99), {} of {} runs continued, {} ended with one [DONE]",
            pair(&f["to_next_piece_ms"]),
            f["continued"],
            f["runs"],
            f["one_answer"]
        );
    }
    println!(
        "  (the next piece includes the new node's evaluation of the prompt and the partial answer; \
         a frozen node is given up after {} ms of silence)",
        v["stall_ms"]
    );
}

/// `sage bench federation --routing`: the selector across simulated federations.
pub fn routing(seeds: u64, tuning: bool, json_out: bool) -> anyhow::Result<()> {
    use sage_bench::fed_routing::{run, HELD_OUT_FROM, REQUESTS};
    let first = if tuning { 0 } else { HELD_OUT_FROM };
    let runs: Vec<_> = (first..first + seeds).map(run).collect();
    if json_out {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(());
    }
    println!(
        "routing on simulated federations (3 nodes, one degrading halfway), {REQUESTS} requests per run, seeds {first}..{} ({})",
        first + seeds - 1,
        if tuning { "tuning" } else { "held out" }
    );
    println!("  seed     sage q / cost     round-robin q / cost   least-loaded q / cost   oracle q / cost   least cost at 95%   moved within   (shares of always-best-node's)");
    let mut worst = (f64::INFINITY, 0.0f64);
    let mut read = 0;
    for r in &runs {
        let b = &r.policies[1];
        let share = |i: usize| {
            format!(
                "{:5.1}% / {:5.1}%",
                100.0 * r.policies[i].quality / b.quality.max(1e-9),
                100.0 * r.policies[i].cost / b.cost.max(1e-9)
            )
        };
        println!(
            "  {:<6} {}   {}      {}       {}   {:>16.1}%   {}",
            r.seed,
            share(0),
            share(2),
            share(3),
            share(4),
            100.0 * r.lowest_cost_ratio,
            r.moved_after.map_or("-".to_string(), |m| m.to_string())
        );
        worst = (worst.0.min(r.quality_ratio), worst.1.max(r.cost_ratio));
        let oracle_cost = r.policies[4].cost / r.policies[1].cost.max(1e-9);
        read +=
            usize::from(sage_bench::judgment::routing_goal_met(r.quality_ratio, r.cost_ratio, oracle_cost));
    }
    let mean_q = runs.iter().map(|r| r.quality_ratio).sum::<f64>() / runs.len().max(1) as f64;
    let mean_c = runs.iter().map(|r| r.cost_ratio).sum::<f64>() / runs.len().max(1) as f64;
    println!(
        "  SAGE: worst quality {:.1}%, worst cost {:.1}%, mean {:.1}% / {:.1}% of always-best-node's (goal: quality >= 95% at <= 50% of its cost: {})",
        100.0 * worst.0,
        100.0 * worst.1,
        100.0 * mean_q,
        100.0 * mean_c,
        if worst.0 >= 0.95 && worst.1 <= 0.5 { "met" } else { "NOT met" }
    );
    println!(
        "  as decision 0016 reads it (cost under 50% where the oracle gets there, else within 5 points of the oracle's): {} ({read} of {} runs)",
        if read == runs.len() { "met" } else { "NOT met" },
        runs.len()
    );
    let reachable: Vec<_> = runs.iter().filter(|r| r.lowest_cost_ratio < 0.5).collect();
    println!(
        "  the literal goal is within any policy's reach in {} of {} runs (least cost at 95% of always-best-node's quality under 50%); SAGE meets it in {} of those",
        reachable.len(),
        runs.len(),
        reachable.iter().filter(|r| r.quality_ratio >= 0.95 && r.cost_ratio <= 0.5).count()
    );
    Ok(())
}
