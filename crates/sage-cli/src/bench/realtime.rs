//! `sage bench realtime`: the real-time kernel against the lock-step kernel on the same mixed
//! input (IMU 200 Hz, lidar 10 Hz, camera 5 Hz, a question every few seconds) with a language
//! model answering; crisis-to-cancellation latency; input capacity over Zenoh on loopback
//! against a bare Zenoh subscriber; a question over Zenoh to `sage node` against the same
//! question over `sage serve`'s HTTP API, each in its own process.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sage_kernel::{Kernel, Observation, TickReport};
use sage_runtime::live::{
    percentile, Inbox, InboxConfig, LiveConfig, LiveKernel, LiveParts, ModelJobs, Outputs,
};
use serde_json::json;
use zenoh_free::*;

use crate::runtime::{compose, ZooArgs};

/// What to measure.
pub struct Settings {
    /// Seconds of the real-time phase.
    pub seconds: f64,
    /// Seconds of the lock-step phase.
    pub lockstep_seconds: f64,
    /// Ticks per second.
    pub hz: f64,
    /// Seconds between crises (each while a job runs).
    pub crisis_every: f64,
    /// Seconds of each capacity phase.
    pub capacity_seconds: f64,
    /// Questions asked over each of Zenoh and HTTP.
    pub questions: usize,
    /// Skip the end-to-end phase (it starts `sage node` and `sage serve`).
    pub no_e2e: bool,
    /// Seconds between questions in the mixed input.
    pub text_every: f64,
}

/// Helpers that name no transport (the Zenoh parts go through `sage-io`).
mod zenoh_free {
    /// Resident memory of this process, bytes.
    pub fn rss() -> u64 {
        sage_llm::llama::rss_bytes()
    }

    /// CPU seconds (user + system) this process has used.
    pub fn cpu_s() -> f64 {
        let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        (ticks(11) + ticks(12)) / 100.0
    }
}

/// The `n`-th question of the mixed input: drawn from word lists (seeded), so that the operator
/// keeps asking new things (a repeated question is not novel, and the kernel rightly lets it
/// pass) and the model keeps answering.
fn question(n: usize) -> String {
    const ASK: [&str; 5] = ["What is", "Where is", "When was", "Who checked", "Why is"];
    const WHAT: [&str; 16] = [
        "the battery level",
        "the temperature",
        "the load",
        "the speed",
        "the pressure",
        "the position",
        "the weight",
        "the status",
        "the charge",
        "the humidity",
        "the noise level",
        "the tilt",
        "the count",
        "the schedule",
        "the owner",
        "the label",
    ];
    const OF: [&str; 16] = [
        "forklift",
        "pallet",
        "conveyor",
        "freezer",
        "scanner",
        "dock",
        "shelf",
        "door",
        "robot arm",
        "charger",
        "crate",
        "trolley",
        "printer",
        "camera",
        "gate",
        "lift",
    ];
    const WHERE: [&str; 12] = [
        "aisle 4",
        "row 7",
        "bay 2",
        "zone 3",
        "the office",
        "the loading bay",
        "the yard",
        "level 2",
        "the cold room",
        "the workshop",
        "the lobby",
        "the mezzanine",
    ];
    let mut x = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x5A6E);
    let mut pick = |k: usize| {
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        (x >> 17) as usize % k
    };
    let (a, w, o, p) = (pick(ASK.len()), pick(WHAT.len()), pick(OF.len()), pick(WHERE.len()));
    format!("{} {} of the {} in {}?", ASK[a], WHAT[w], OF[o], WHERE[p])
}

/// The mixed input, pushed into `inbox` until `stop`: IMU 200 Hz, lidar 10 Hz, camera 5 Hz
/// and a question every `text_every` seconds. Returns messages pushed.
fn feed(inbox: &Inbox, stop: &AtomicBool, text_every: f64) -> u64 {
    let start = Instant::now();
    let mut n = 0u64;
    let mut step = 0u64;
    let mut q = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let t = step as f64 * 0.005;
        let wave = (t * 3.0).sin();
        inbox.push(Observation::sensor(
            "imu",
            vec![0.1 * wave, -0.2, 9.81 + 0.05 * wave, 0.01, 0.5 * wave, -0.25],
        ));
        n += 1;
        if step.is_multiple_of(20) {
            let ranges: Vec<f64> = (0..8).map(|k| 2.0 + k as f64 * 0.5 + 0.1 * wave).collect();
            inbox.push(Observation::sensor("lidar", ranges));
            n += 1;
        }
        if step.is_multiple_of(40) {
            inbox.push(Observation::sensor("camera", vec![0.4 + 0.01 * wave, 0.2]));
            n += 1;
        }
        if step.is_multiple_of(((text_every / 0.005) as u64).max(1)) {
            inbox.push(Observation::text("operator", &question(q)));
            q += 1;
            n += 1;
        }
        step += 1;
        let due = Duration::from_secs_f64(step as f64 * 0.005);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
    }
    n
}

/// Tick start times and job outcomes, as the outputs see them.
#[derive(Default)]
struct Seen {
    ticks: Vec<f64>,
    running: Vec<usize>,
    /// `(when, job)` of every cancellation the kernel settled.
    cancelled_at: Vec<(f64, u64)>,
    /// `(when, job)` of every job a crisis preempted.
    crisis_preempted: Vec<(f64, u64)>,
    answers: usize,
}

#[derive(Clone)]
struct Watch(Arc<Mutex<Seen>>, Arc<dyn sage_runtime::Clock>);

impl Outputs for Watch {
    fn tick(&mut self, r: &TickReport, _o: &[Observation]) {
        let now = self.1.now();
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.ticks.push(r.now);
        s.running.push(r.running);
        s.cancelled_at.extend(r.ended.iter().filter(|e| e.outcome == "cancelled").map(|e| (now, e.job)));
        s.crisis_preempted
            .extend(r.preempted.iter().filter(|p| p.reason.contains("crisis")).map(|p| (now, p.job)));
        s.answers += r.runs.iter().filter(|x| x.job.is_some()).count();
    }
}

fn gaps(ticks: &[f64]) -> Vec<f64> {
    ticks.windows(2).map(|w| w[1] - w[0]).collect()
}

fn pct(v: &[f64], p: f64) -> f64 {
    percentile(&v.iter().copied().collect(), p)
}

/// A fresh store in a temporary folder (the user's own store is left alone).
fn bench_store(name: &str) -> anyhow::Result<sage_store::Store> {
    let dir = std::env::temp_dir().join(format!("sage-bench-realtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.db"));
    let _ = std::fs::remove_file(&path);
    Ok(sage_store::Store::open(&path)?)
}

/// Phase 1: the real-time kernel.
/// How long each crisis took to stop and settle the job it preempted, seconds.
struct CrisisTimes {
    cancel: Vec<f64>,
    settled: Vec<f64>,
    preempted_nothing: usize,
}

/// Each crisis (a time in `crises`): the job it preempted (the first preemption for a crisis
/// after it and before the next crisis), when that job's generation stopped (its runner
/// returned, `ended`: `(job, cancelled, when)`) and when the kernel settled its cancellation. A
/// crisis that came while the running job had been dispatched in CRISIS preempts nothing and is
/// counted apart.
fn crisis_times(crises: &[f64], seen: &Seen, ended: &[(u64, bool, f64)]) -> CrisisTimes {
    let mut out = CrisisTimes { cancel: vec![], settled: vec![], preempted_nothing: 0 };
    for (k, &t) in crises.iter().enumerate() {
        let until = crises.get(k + 1).copied().unwrap_or(f64::INFINITY);
        let Some(&(_, job)) = seen.crisis_preempted.iter().find(|(at, _)| *at >= t && *at < until) else {
            out.preempted_nothing += 1;
            continue;
        };
        if let Some(&(_, _, at)) = ended.iter().find(|(j, cancelled, _)| *j == job && *cancelled) {
            out.cancel.push(at - t);
        }
        if let Some(&(at, _)) = seen.cancelled_at.iter().find(|(_, j)| *j == job) {
            out.settled.push(at - t);
        }
    }
    out
}

fn live_phase(zoo: &ZooArgs, s: &Settings) -> anyhow::Result<serde_json::Value> {
    let c = compose(zoo)?;
    let model = c.specs.first().map(|m| m.id.clone()).unwrap_or_default();
    let config = sage_runtime::driver::kernel_config(&c.specs, c.profile.model_bytes, &c.residency);
    let kernel = Kernel::new(config).context("configuring the kernel")?;
    // As in `sage node`: the driver stores observations and memories, in a store of its own.
    let store = bench_store("live")?;
    let mut driver = sage_runtime::driver::LlmDriver::new(
        c.specs.clone(),
        c.residency.clone(),
        Some(store),
        None,
        c.clock.clone(),
    )
    .without_tape()
    .loading_in_background();
    driver.follow_states(kernel.config().policies.clone(), c.profile.model_bytes);
    let first = c.specs.first().map(|m| m.id.clone()).unwrap_or_default();
    let runner = Arc::new(Timed {
        inner: ModelJobs::new(c.residency.clone(), c.specs.clone(), driver.settings.clone(), c.clock.clone())
            .with_scorer(sage_runtime::semantic::SemanticScorer::new(&first, 0.01)),
        ended: Mutex::default(),
        clock: c.clock.clone(),
    });
    let timed = runner.clone();
    let seen = Watch(Arc::default(), c.clock.clone());
    let token_times: Arc<Mutex<Vec<(u64, f64)>>> = Arc::default();
    let tt = token_times.clone();
    let clock = c.clock.clone();
    let on_token: sage_runtime::live::TokenSink = Arc::new(move |job, _t: &str| {
        let mut v = tt.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < 1_000_000 {
            v.push((job, clock.now()));
        }
    });
    let live = LiveKernel::start(
        LiveParts {
            kernel,
            driver: Box::new(driver),
            runner,
            clock: c.clock.clone(),
            outputs: Box::new(seen.clone()),
            on_token: Some(on_token),
            inbox: None,
        },
        LiveConfig { hz: s.hz, ..LiveConfig::default() },
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let inbox = live.inbox().clone();
    let st = stop.clone();
    let every = s.text_every;
    let feeder = std::thread::spawn(move || feed(&inbox, &st, every));
    let (cpu0, rss0) = (cpu_s(), rss());
    let start = Instant::now();
    let mut crises: Vec<f64> = vec![];
    let mut next_crisis = s.crisis_every;
    let mut rss_samples = vec![];
    while start.elapsed().as_secs_f64() < s.seconds {
        std::thread::sleep(Duration::from_millis(20));
        let t = start.elapsed().as_secs_f64();
        if rss_samples.len() < (t / 10.0) as usize + 1 {
            rss_samples.push(rss());
        }
        if t >= next_crisis && live.with_kernel(|k| !k.running().is_empty()) {
            // Wait for the job to be generating (its first token), then signal.
            let n = token_times.lock().unwrap_or_else(|e| e.into_inner()).len();
            let deadline = Instant::now() + Duration::from_secs(30);
            while token_times.lock().unwrap_or_else(|e| e.into_inner()).len() == n
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            crises.push(c.clock.now());
            live.inbox().crisis();
            next_crisis = t + s.crisis_every;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let fed = feeder.join().unwrap_or(0);
    let (cpu1, rss1) = (cpu_s(), rss());
    let stats = live.stats();
    let counts = live.inbox().counts();
    drop(live.stop());
    let seen = seen.0.lock().unwrap_or_else(|e| e.into_inner());
    let ended = timed.ended.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let CrisisTimes { cancel, settled, preempted_nothing } = crisis_times(&crises, &seen, &ended);
    // A decode step: the time between consecutive tokens of a job.
    let tokens = token_times.lock().unwrap_or_else(|e| e.into_inner());
    let mut steps = vec![];
    for w in tokens.windows(2) {
        if w[0].0 == w[1].0 {
            steps.push(w[1].1 - w[0].1);
        }
    }
    let busy = seen.running.iter().filter(|r| **r > 0).count() as f64 / seen.running.len().max(1) as f64;
    let g = gaps(&seen.ticks);
    Ok(json!({
        "model": model,
        "seconds": s.seconds,
        "ticks": stats.ticks,
        "inputs_pushed": fed,
        "delivered": counts.values().map(|c| c.delivered).sum::<u64>(),
        "coalesced": counts.values().map(|c| c.coalesced).sum::<u64>(),
        "busy_fraction": busy,
        "lateness_p50_ms": 1e3 * percentile(&stats.lateness_s, 50.0),
        "lateness_p99_ms": 1e3 * percentile(&stats.lateness_s, 99.0),
        "lateness_max_ms": 1e3 * percentile(&stats.lateness_s, 100.0),
        "gap_max_ms": 1e3 * pct(&g, 100.0),
        "work_p99_ms": 1e3 * percentile(&stats.work_s, 99.0),
        "overruns": stats.overruns,
        "jobs": {"dispatched": stats.jobs.0, "completed": stats.jobs.1, "cancelled": stats.jobs.2},
        "answers": seen.answers,
        "crises": crises.len(),
        "crises_preempting_nothing": preempted_nothing,
        "cancel_p50_ms": 1e3 * pct(&cancel, 50.0),
        "cancel_p99_ms": 1e3 * pct(&cancel, 99.0),
        "cancel_max_ms": 1e3 * pct(&cancel, 100.0),
        "settled_p50_ms": 1e3 * pct(&settled, 50.0),
        "settled_p99_ms": 1e3 * pct(&settled, 99.0),
        "decode_step_p50_ms": 1e3 * pct(&steps, 50.0),
        "tick_ms": 1e3 / s.hz,
        "cpu_s": cpu1 - cpu0,
        "rss_mib": [rss0 as f64 / 1048576.0, rss1 as f64 / 1048576.0],
        "rss_samples_mib": rss_samples.iter().map(|b| (*b as f64 / 1048576.0).round()).collect::<Vec<_>>(),
    }))
}

/// Phase 2: the lock-step kernel on the same input: each tick runs its jobs inside it.
fn lockstep_phase(zoo: &ZooArgs, s: &Settings) -> anyhow::Result<serde_json::Value> {
    let c = compose(zoo)?;
    let config = sage_runtime::driver::kernel_config(&c.specs, c.profile.model_bytes, &c.residency);
    let mut kernel = Kernel::new(config).context("configuring the kernel")?;
    // As in `sage run` and `sage serve`: the semantic scorer is asked inside the tick.
    let store = bench_store("lockstep")?;
    let first = c.specs.first().map(|m| m.id.clone()).unwrap_or_default();
    let mut driver = sage_runtime::driver::LlmDriver::new(
        c.specs.clone(),
        c.residency.clone(),
        Some(store),
        Some(sage_runtime::semantic::SemanticScorer::new(&first, 0.01)),
        c.clock.clone(),
    )
    .without_tape();
    let inbox = Arc::new(Inbox::new(InboxConfig::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let (i2, st) = (inbox.clone(), stop.clone());
    use sage_kernel::Driver as _;
    driver.before_tick(&mut kernel, 0, c.clock.now());
    let every = s.text_every;
    let feeder = std::thread::spawn(move || feed(&i2, &st, every));
    let period = 1.0 / s.hz;
    let start = c.clock.now();
    let mut next = start;
    let mut lateness = vec![];
    let mut ticks = vec![];
    let mut answers = 0;
    let mut index = 1;
    while c.clock.now() - start < s.lockstep_seconds {
        let now = c.clock.now();
        if now < next {
            std::thread::sleep(Duration::from_secs_f64(next - now));
            continue;
        }
        lateness.push(now - next);
        next = if now - next > period { now + period } else { next + period };
        let (obs, crisis) = inbox.take();
        driver.before_tick(&mut kernel, index, now);
        let r = kernel.tick_with(now, &obs, crisis, &mut driver);
        driver.after_tick(&r, &obs);
        answers += r.runs.iter().filter(|x| c.specs.iter().any(|m| m.id == x.expert)).count();
        ticks.push(now);
        index += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.join();
    let g = gaps(&ticks);
    Ok(json!({
        "seconds": s.lockstep_seconds,
        "ticks": ticks.len(),
        "answers": answers,
        "lateness_p50_ms": 1e3 * pct(&lateness, 50.0),
        "lateness_p99_ms": 1e3 * pct(&lateness, 99.0),
        "lateness_max_ms": 1e3 * pct(&lateness, 100.0),
        "gap_max_ms": 1e3 * pct(&g, 100.0),
    }))
}

/// Phase 3: IMU messages over Zenoh on loopback as fast as one publisher sends them: a bare
/// subscriber that counts them (the baseline), then SAGE's transport decoding them into the
/// real-time kernel's inbox while it ticks.
fn capacity_phase(s: &Settings) -> anyhow::Result<serde_json::Value> {
    let imu = imu_payload()?;
    let bare = sage_io::loopback::capacity_baseline(free_port()?, &imu, s.capacity_seconds)?;
    let inbox = Arc::new(Inbox::new(InboxConfig::default()));
    // The kernel ticks on what arrives (no model: the figure is the input path).
    let live = LiveKernel::start(
        LiveParts {
            kernel: Kernel::new(sage_kernel::KernelConfig::default())?,
            driver: Box::new(sage_kernel::NoExecutor),
            runner: Arc::new(NoJobs),
            clock: Arc::new(sage_runtime::SystemClock::default()),
            outputs: Box::new(sage_runtime::live::NoOutputs),
            on_token: None,
            inbox: Some(inbox.clone()),
        },
        LiveConfig { hz: s.hz, ..LiveConfig::default() },
    )?;
    let sink = Arc::new(crate::node::InboxSink(inbox.clone()));
    let (cpu0, rss0) = (cpu_s(), rss());
    let sage = sage_io::loopback::capacity_through(free_port()?, &imu, s.capacity_seconds, sink, rss)?;
    let (cpu1, rss1) = (cpu_s(), rss());
    let stats = live.stats();
    let counts = inbox.counts();
    drop(live.stop());
    let imu_counts = counts.get("imu").copied().unwrap_or_default();
    Ok(json!({
        "bare_per_s": bare.per_s,
        "sage_per_s": sage.per_s,
        "sage_received": sage.received,
        "delivered": imu_counts.delivered,
        "coalesced": imu_counts.coalesced,
        "undecodable": imu_counts.undecodable,
        "ticks": stats.ticks,
        "lateness_p99_ms": 1e3 * percentile(&stats.lateness_s, 99.0),
        "cpu_cores": (cpu1 - cpu0) / s.capacity_seconds,
        "rss_mib": [rss0 as f64 / 1048576.0, rss1 as f64 / 1048576.0],
        "rss_samples_mib": sage.rss_samples.iter().map(|b| (*b as f64 / 1048576.0).round()).collect::<Vec<_>>(),
    }))
}

/// A port nothing listens on, for a Zenoh endpoint named before it is opened.
pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(sage_io::loopback::unused_port()?)
}

/// The models' jobs, with the time each answering job's runner returned and whether it had been
/// cancelled.
struct Timed {
    inner: ModelJobs,
    /// `(job, cancelled, when its runner returned)`.
    ended: Mutex<Vec<(u64, bool, f64)>>,
    clock: Arc<dyn sage_runtime::Clock>,
}

impl sage_runtime::live::JobRunner for Timed {
    fn run(
        &self,
        job: &sage_kernel::Dispatch,
        cancel: &sage_llm::Cancel,
        on_token: &dyn Fn(&str),
    ) -> sage_kernel::ExternalRun {
        let run = self.inner.run(job, cancel, on_token);
        let at = self.clock.now();
        self.ended.lock().unwrap_or_else(|e| e.into_inner()).push((job.job, cancel.is_cancelled(), at));
        run
    }

    fn score(&self, job: &sage_kernel::Dispatch) -> Option<(f64, f64)> {
        self.inner.score(job)
    }
}

struct NoJobs;

impl sage_runtime::live::JobRunner for NoJobs {
    fn run(
        &self,
        job: &sage_kernel::Dispatch,
        _c: &sage_llm::Cancel,
        _t: &dyn Fn(&str),
    ) -> sage_kernel::ExternalRun {
        sage_kernel::Executor::execute(&mut sage_kernel::NoExecutor, job)
    }
}

fn imu_payload() -> anyhow::Result<Vec<u8>> {
    let v = sage_io::msgs::Vector3 { x: 0.1, y: -0.2, z: 9.81 };
    let h = sage_io::msgs::Header {
        stamp: sage_io::msgs::Time { sec: 1, nanosec: 2 },
        frame_id: "imu_link".into(),
    };
    let m = sage_io::msgs::Imu {
        header: h,
        orientation: sage_io::msgs::Quaternion { x: 0.0, y: 0.0, z: 0.0, w: 1.0 },
        orientation_covariance: [0.0; 9],
        angular_velocity: v,
        angular_velocity_covariance: [0.0; 9],
        linear_acceleration: v,
        linear_acceleration_covariance: [0.0; 9],
    };
    Ok(sage_io::cdr::encode(&m, "sensor_msgs/msg/Imu")?)
}

/// A child `sage` process, killed when dropped.
pub(super) struct Child(pub(super) std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `sage ARGS` and return it with the address its banner names (`http://...`).
pub(super) fn spawn(args: &[String], prefix: &str) -> anyhow::Result<(Child, String)> {
    let exe = std::env::current_exe().context("finding the sage binary")?;
    let mut child = std::process::Command::new(exe)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting sage")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let child = Child(child);
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().context("sage ended before listening")??;
        if line.starts_with(prefix) {
            let url = line.split_whitespace().find(|w| w.starts_with("http://")).context("no address")?;
            break url.trim_start_matches("http://").trim_end_matches([',', ';']).to_string();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Ok((child, addr))
}

/// Time to the first streamed token of a chat completion over HTTP, seconds.
fn http_first_token(addr: &str, question: &str) -> anyhow::Result<f64> {
    let body = json!({"model": "sage", "stream": true, "max_tokens": 32, "temperature": 0,
        "messages": [{"role": "user", "content": question}]})
    .to_string();
    let start = Instant::now();
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut buf = [0u8; 4096];
    let mut seen = String::new();
    loop {
        let n = s.read(&mut buf)?;
        anyhow::ensure!(n > 0, "the stream ended without a token: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if seen.contains("\"content\":\"") && seen.matches("data: ").count() >= 1 {
            let with_text =
                seen.split("data: ").any(|e| e.contains("\"content\":\"") && !e.contains("\"content\":\"\""));
            if with_text {
                return Ok(start.elapsed().as_secs_f64());
            }
        }
    }
}

/// Phase 4: a question over Zenoh to `sage node` against the same over HTTP to `sage serve`.
fn e2e_phase(zoo: &ZooArgs, s: &Settings) -> anyhow::Result<serde_json::Value> {
    let model = crate::model_path::resolve(zoo.model.as_deref())?;
    let dir = std::env::temp_dir().join(format!("sage-bench-realtime-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let port = free_port()?;
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let inputs = dir.join("inputs.toml");
    std::fs::write(
        &inputs,
        format!(
            "[zenoh]\nlisten = [\"{endpoint}\"]\n[[input]]\nkey = \"0/operator/**\"\nsource = \"operator\"\n"
        ),
    )?;
    let common = |store: &str| -> Vec<String> {
        vec![
            "--model".into(),
            model.display().to_string(),
            "--store".into(),
            dir.join(store).display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ]
    };
    let mut node_args = vec!["node".to_string(), "--inputs".into(), inputs.display().to_string()];
    node_args.extend(common("node.db"));
    let (node, _) = spawn(&node_args, "sage node:")?;
    let zenoh = sage_io::loopback::Asker::connect(&endpoint)?;
    let mut over_zenoh = vec![];
    let mut misses = 0;
    let questions: Vec<String> = (0..s.questions).map(|i| question(100_000 + i)).collect();
    // A first question, not counted: until the node's subscription has reached this session,
    // what it publishes goes nowhere (the same warm-up as the HTTP side's).
    let key = format!("0/operator/std_msgs::msg::dds_::String_/{}", sage_io::zenoh_io::STRING_RIHS01);
    let _ = zenoh.ask(&key, &question(99_999), 20.0)?;
    for (i, q) in questions.iter().enumerate() {
        let key = format!("0/operator/std_msgs::msg::dds_::String_/{}", sage_io::zenoh_io::STRING_RIHS01);
        let got = zenoh.ask(&key, q, 20.0)?;
        eprintln!("  question {} over Zenoh ({q:?}): {got:?} s to the first token", i + 1);
        match got {
            Some(t) => over_zenoh.push(t),
            None => misses += 1,
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(zenoh);
    drop(node);
    let mut serve_args = vec!["serve".to_string()];
    serve_args.extend(common("serve.db"));
    let (serve, addr) = spawn(&serve_args, "sage serve:")?;
    let ready = Instant::now() + Duration::from_secs(120);
    while Instant::now() < ready && http_first_token(&addr, "hello").is_err() {
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut over_http = vec![];
    for q in &questions {
        over_http.push(http_first_token(&addr, q)?);
    }
    drop(serve);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({
        "questions": s.questions,
        "zenoh_unanswered": misses,
        "zenoh_first_token_p50_ms": 1e3 * pct(&over_zenoh, 50.0),
        "zenoh_first_token_p99_ms": 1e3 * pct(&over_zenoh, 99.0),
        "http_first_token_p50_ms": 1e3 * pct(&over_http, 50.0),
        "http_first_token_p99_ms": 1e3 * pct(&over_http, 99.0),
    }))
}

/// Run every phase and print the figures with their ratios.
pub fn run(zoo: &ZooArgs, s: Settings, json_out: bool) -> anyhow::Result<()> {
    eprintln!("real-time kernel: {} s of mixed input with the model answering...", s.seconds);
    let live = live_phase(zoo, &s)?;
    eprintln!("{live}");
    eprintln!("lock-step kernel: {} s of the same input...", s.lockstep_seconds);
    let lock = lockstep_phase(zoo, &s)?;
    eprintln!("{lock}");
    eprintln!("input capacity over Zenoh on loopback: 2 × {} s...", s.capacity_seconds);
    let cap = capacity_phase(&s)?;
    eprintln!("{cap}");
    let e2e = if s.no_e2e {
        serde_json::Value::Null
    } else {
        eprintln!(
            "end to end: {} questions to sage node over Zenoh and to sage serve over HTTP...",
            s.questions
        );
        e2e_phase(zoo, &s)?
    };
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("sage-bench-realtime-{}", std::process::id())),
    );
    let out = json!({"realtime": live, "lockstep": lock, "capacity": cap, "e2e": e2e});
    if json_out {
        println!("{out}");
        return Ok(());
    }
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "model {}; {} Hz ({} ms a tick)",
        live["model"].as_str().unwrap_or(""),
        s.hz,
        f(&live, "tick_ms")
    );
    println!(
        "real-time: {} s, {} ticks, model busy {:.0}% of ticks, {} answers, {} jobs cancelled; tick lateness p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms; longest gap between ticks {:.1} ms",
        s.seconds,
        live["ticks"],
        100.0 * f(&live, "busy_fraction"),
        live["answers"],
        live["jobs"]["cancelled"],
        f(&live, "lateness_p50_ms"),
        f(&live, "lateness_p99_ms"),
        f(&live, "lateness_max_ms"),
        f(&live, "gap_max_ms"),
    );
    println!(
        "lock-step: {} s, {} ticks, {} answers; tick lateness p50 {:.2} ms, p99 {:.1} ms, max {:.0} ms; longest gap between ticks {:.0} ms",
        s.lockstep_seconds,
        lock["ticks"],
        lock["answers"],
        f(&lock, "lateness_p50_ms"),
        f(&lock, "lateness_p99_ms"),
        f(&lock, "lateness_max_ms"),
        f(&lock, "gap_max_ms"),
    );
    println!(
        "  the lock-step kernel's longest blind gap is {:.0}x the real-time kernel's; p99 lateness {:.0}x",
        f(&lock, "gap_max_ms") / f(&live, "gap_max_ms"),
        f(&lock, "lateness_p99_ms") / f(&live, "lateness_p99_ms"),
    );
    println!(
        "crisis to the generation's stop: {} crises ({} preempted nothing: the running job had been dispatched in CRISIS), p50 {:.1} ms, p99 {:.1} ms (goal: one decode step {:.1} ms + one tick {:.0} ms = {:.1} ms); settled by the kernel p50 {:.1} ms, p99 {:.1} ms",
        live["crises"],
        live["crises_preempting_nothing"],
        f(&live, "cancel_p50_ms"),
        f(&live, "cancel_p99_ms"),
        f(&live, "decode_step_p50_ms"),
        f(&live, "tick_ms"),
        f(&live, "decode_step_p50_ms") + f(&live, "tick_ms"),
        f(&live, "settled_p50_ms"),
        f(&live, "settled_p99_ms"),
    );
    println!(
        "input capacity: SAGE decoded and coalesced {:.0} IMU messages/s over Zenoh ({:.2}x a bare subscriber's {:.0}/s); {:.2} cores; RSS {:.0} -> {:.0} MiB (samples {})",
        f(&cap, "sage_per_s"),
        f(&cap, "sage_per_s") / f(&cap, "bare_per_s"),
        f(&cap, "bare_per_s"),
        f(&cap, "cpu_cores"),
        cap["rss_mib"][0].as_f64().unwrap_or(0.0),
        cap["rss_mib"][1].as_f64().unwrap_or(0.0),
        cap["rss_samples_mib"],
    );
    if !e2e.is_null() {
        println!(
            "question to first answer token: over Zenoh to sage node p50 {:.0} ms, p99 {:.0} ms ({} unanswered); over HTTP to sage serve p50 {:.0} ms, p99 {:.0} ms; ratio of medians {:.2}x",
            f(&e2e, "zenoh_first_token_p50_ms"),
            f(&e2e, "zenoh_first_token_p99_ms"),
            e2e["zenoh_unanswered"],
            f(&e2e, "http_first_token_p50_ms"),
            f(&e2e, "http_first_token_p99_ms"),
            f(&e2e, "zenoh_first_token_p50_ms") / f(&e2e, "http_first_token_p50_ms"),
        );
    }
    println!(
        "real-time memory: RSS {:.0} -> {:.0} MiB over the run (samples every 10 s: {})",
        live["rss_mib"][0].as_f64().unwrap_or(0.0),
        live["rss_mib"][1].as_f64().unwrap_or(0.0),
        live["rss_samples_mib"]
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_crisis_is_paired_with_the_job_it_preempted_only() {
        // Crisis at 1 s preempts job 7; crisis at 5 s preempts nothing; job 9 is cancelled for
        // another reason later and must not be counted for it.
        let seen = Seen {
            crisis_preempted: vec![(1.05, 7)],
            cancelled_at: vec![(1.1, 7), (8.0, 9)],
            ..Seen::default()
        };
        let ended = [(7, true, 1.03), (9, true, 7.9)];
        let t = crisis_times(&[1.0, 5.0], &seen, &ended);
        assert_eq!(t.preempted_nothing, 1);
        assert_eq!(t.cancel.len(), 1);
        assert!((t.cancel[0] - 0.03).abs() < 1e-9);
        assert!((t.settled[0] - 0.1).abs() < 1e-9);
    }
}
