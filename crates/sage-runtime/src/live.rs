//! The real-time kernel: ticks on the wall clock at a fixed rate, whatever its experts are
//! doing.
//!
//! One thread owns the tick loop. Each tick it takes what the [`Inbox`] holds (sensors
//! coalesced to their latest reading, texts in order), the outcomes of jobs that ended since
//! the last tick, and ticks the kernel with [`Kernel::tick_live`]. Jobs the kernel dispatches
//! run on their own threads through a [`JobRunner`]; jobs it preempts are cancelled through
//! the engine's cancel path (the next token's sink says stop). Nothing a model does holds a
//! tick: a sensor reading that arrives during a generation is scored at the next tick.
//!
//! An ambiguous text is scored by a job too (the text waits for its score, the ticks do not).
//! Resource planning, which would ask a model inside the tick, is not asked here: the
//! heuristic allocation stands (decision 0012).

mod inbox;
mod jobs;
mod tape;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use sage_kernel::{Driver, JobEvent, JobId, Kernel, NoExecutor, Observation, TickReport};

pub use inbox::{Admission, Inbox, InboxConfig, SourceCounts};
pub use jobs::{Delegate, JobRunner, ModelJobs, TokenSink};
pub use tape::{LiveReplay, LiveTape, LiveTick};

use crate::record::digest;
use crate::Clock;

/// Settings of the real-time kernel.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LiveConfig {
    /// Ticks per second.
    pub hz: f64,
    /// The inbox's bounds.
    pub inbox: InboxConfig,
    /// Keep a [`LiveTape`] of every tick (for `sage replay`); off for a long-running node.
    pub record: bool,
    /// Reports kept for readers (the newest).
    pub keep_reports: usize,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self { hz: 20.0, inbox: InboxConfig::default(), record: false, keep_reports: 32 }
    }
}

/// Receives every tick's report (a Zenoh publisher, the server's event stream).
pub trait Outputs: Send {
    /// Called on the tick thread after each tick: keep it short.
    fn tick(&mut self, report: &TickReport, observations: &[Observation]);
}

/// Outputs that go nowhere.
pub struct NoOutputs;

impl Outputs for NoOutputs {
    fn tick(&mut self, _report: &TickReport, _observations: &[Observation]) {}
}

/// Figures of the loop so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveStats {
    /// Ticks done.
    pub ticks: u64,
    /// Ticks that started more than a whole period late (the loop skipped ahead).
    pub overruns: u64,
    /// Lateness of recent ticks' starts against their schedule, seconds (newest last, at most
    /// [`LATENESS_WINDOW`]).
    pub lateness_s: VecDeque<f64>,
    /// Seconds the recent ticks' work took (same window).
    pub work_s: VecDeque<f64>,
    /// Jobs dispatched, completed (ran to their end, answered or failed) and cancelled.
    pub jobs: (u64, u64, u64),
    /// From the tick a job was preempted at to the tick its cancellation was settled, seconds,
    /// for recent cancellations (at most [`LATENESS_WINDOW`]).
    pub cancel_s: VecDeque<f64>,
    /// Jobs that could not be started (no thread).
    pub unstarted: u64,
    /// Scoring jobs dispatched (ambiguous texts scored by a model).
    pub scored: u64,
}

/// Recent values kept for the lateness, work and cancellation figures.
pub const LATENESS_WINDOW: usize = 16384;

fn push_bounded(q: &mut VecDeque<f64>, x: f64) {
    if q.len() == LATENESS_WINDOW {
        q.pop_front();
    }
    q.push_back(x);
}

/// The `p`-th percentile (0..=100) of `xs` (nearest rank), or 0 for none.
pub fn percentile(xs: &VecDeque<f64>, p: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v: Vec<f64> = xs.iter().copied().collect();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

struct Shared {
    kernel: Mutex<Kernel>,
    stats: Mutex<LiveStats>,
    recent: Mutex<VecDeque<TickReport>>,
    tape: Mutex<Option<LiveTape>>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running real-time kernel.
pub struct LiveKernel {
    inbox: Arc<Inbox>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Box<dyn Driver + Send>>>,
}

/// What a real-time kernel is made of.
pub struct LiveParts {
    /// The kernel.
    pub kernel: Kernel,
    /// Told before and after every tick (residency, storage); its `execute`, `score` and
    /// `plan` are not used.
    pub driver: Box<dyn Driver + Send>,
    /// Runs the dispatched jobs.
    pub runner: Arc<dyn JobRunner>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Where reports go.
    pub outputs: Box<dyn Outputs>,
    /// Where generated text goes as it is generated.
    pub on_token: Option<TokenSink>,
    /// The inbox to read (one made from the configuration's bounds when none is given: give
    /// one when inputs must be wired before the loop starts).
    pub inbox: Option<Arc<Inbox>>,
}

impl LiveKernel {
    /// Start the loop on its own thread.
    pub fn start(parts: LiveParts, config: LiveConfig) -> std::io::Result<Self> {
        let inbox = parts.inbox.clone().unwrap_or_else(|| Arc::new(Inbox::new(config.inbox)));
        let now = parts.clock.now();
        let mut parts = parts;
        // The driver's first call loads what the kernel keeps hot and restores trust: done
        // before the loop starts, so that no tick waits for a model to load.
        parts.driver.before_tick(&mut parts.kernel, 0, now);
        let tape = config.record.then(|| LiveTape::start(&parts.kernel, now));
        let last_told = Some(told(&parts.kernel));
        let shared = Arc::new(Shared {
            kernel: Mutex::new(parts.kernel),
            stats: Mutex::new(LiveStats::default()),
            recent: Mutex::new(VecDeque::new()),
            tape: Mutex::new(tape),
            stop: AtomicBool::new(false),
        });
        let lp = Loop {
            inbox: inbox.clone(),
            shared: shared.clone(),
            driver: parts.driver,
            runner: parts.runner,
            clock: parts.clock,
            outputs: parts.outputs,
            on_token: parts.on_token,
            config,
            flights: BTreeMap::new(),
            preempted_at: BTreeMap::new(),
            last_told,
        };
        let thread = std::thread::Builder::new().name("sage-tick".into()).spawn(move || lp.run())?;
        Ok(Self { inbox, shared, thread: Some(thread) })
    }

    /// Where inputs go.
    pub fn inbox(&self) -> &Arc<Inbox> {
        &self.inbox
    }

    /// Read the kernel (between ticks).
    pub fn with_kernel<R>(&self, f: impl FnOnce(&Kernel) -> R) -> R {
        f(&lock(&self.shared.kernel))
    }

    /// Change the kernel between ticks (feedback, residency).
    pub fn with_kernel_mut<R>(&self, f: impl FnOnce(&mut Kernel) -> R) -> R {
        f(&mut lock(&self.shared.kernel))
    }

    /// The loop's figures.
    pub fn stats(&self) -> LiveStats {
        lock(&self.shared.stats).clone()
    }

    /// The newest reports, oldest first.
    pub fn recent(&self) -> Vec<TickReport> {
        lock(&self.shared.recent).iter().cloned().collect()
    }

    /// Whether the loop is still ticking.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stop ticking (running jobs are cancelled; their outcomes are not waited for) and
    /// return the driver and the recording, if one was kept.
    pub fn stop(self) -> (Option<Box<dyn Driver + Send>>, Option<LiveTape>) {
        self.stop_keeping(|_| {})
    }

    /// [`LiveKernel::stop`], then `keep` is given the kernel as the loop left it (to save what
    /// it learned).
    pub fn stop_keeping(
        mut self,
        keep: impl FnOnce(&Kernel),
    ) -> (Option<Box<dyn Driver + Send>>, Option<LiveTape>) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let driver = self.thread.take().and_then(|t| t.join().ok());
        keep(&lock(&self.shared.kernel));
        (driver, lock(&self.shared.tape).take())
    }
}

impl Drop for LiveKernel {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Loop {
    inbox: Arc<Inbox>,
    shared: Arc<Shared>,
    driver: Box<dyn Driver + Send>,
    runner: Arc<dyn JobRunner>,
    clock: Arc<dyn Clock>,
    outputs: Box<dyn Outputs>,
    on_token: Option<TokenSink>,
    config: LiveConfig,
    flights: BTreeMap<JobId, jobs::InFlight>,
    preempted_at: BTreeMap<JobId, f64>,
    last_told: Option<Vec<(String, bool, u64, f64)>>,
}

impl Loop {
    fn run(mut self) -> Box<dyn Driver + Send> {
        let (done_tx, done_rx): (Sender<JobEvent>, Receiver<JobEvent>) = channel();
        // A rate that is not a number ticks at the default rather than spinning.
        let hz = if self.config.hz.is_finite() { self.config.hz.clamp(0.1, 1000.0) } else { 20.0 };
        let period = 1.0 / hz;
        let mut next = self.clock.now();
        // Index 0 was the driver's call before the loop started.
        let mut index = 1u64;
        while !self.shared.stop.load(Ordering::SeqCst) {
            let now = self.clock.now();
            if now < next {
                std::thread::sleep(std::time::Duration::from_secs_f64((next - now).min(period)));
                continue;
            }
            let lateness = now - next;
            // A tick that starts more than a period late does not make the next ones burst.
            let overrun = lateness > period;
            next = if overrun { now + period } else { next + period };
            let events: Vec<JobEvent> = done_rx.try_iter().collect();
            let (observations, crisis) = self.inbox.take();
            let report = self.tick(index, now, observations, crisis, events, &done_tx);
            index += 1;
            let work = self.clock.now() - now;
            let mut st = lock(&self.shared.stats);
            st.ticks += 1;
            st.overruns += overrun as u64;
            push_bounded(&mut st.lateness_s, lateness);
            push_bounded(&mut st.work_s, work);
            let scoring =
                report.dispatched.iter().filter(|d| d.kind == sage_kernel::JobKind::Score).count() as u64;
            st.jobs.0 += report.dispatched.len() as u64 - scoring;
            st.scored += scoring;
            st.jobs.1 += report.runs.iter().filter(|r| r.job.is_some()).count() as u64
                + report.ended.iter().filter(|e| e.outcome != "cancelled").count() as u64;
            for e in report.ended.iter().filter(|e| e.outcome == "cancelled") {
                st.jobs.2 += 1;
                if let Some(at) = self.preempted_at.remove(&e.job) {
                    push_bounded(&mut st.cancel_s, now - at);
                }
            }
        }
        // Jobs still running are cancelled (within one decode step) and waited for: an engine
        // must not be generating when the process that owns it exits.
        for f in self.flights.values() {
            f.cancel("the kernel stopped");
        }
        for (_, f) in std::mem::take(&mut self.flights) {
            let _ = f.thread.join();
        }
        self.driver
    }

    /// One tick: the driver's residency news, the kernel, the jobs it starts and stops, the
    /// outputs, the recording.
    fn tick(
        &mut self,
        index: u64,
        now: f64,
        observations: Vec<Observation>,
        crisis: bool,
        events: Vec<JobEvent>,
        done: &Sender<JobEvent>,
    ) -> TickReport {
        let mut kernel = lock(&self.shared.kernel);
        let recording = lock(&self.shared.tape).is_some();
        self.driver.before_tick(&mut kernel, index, now);
        // What changed since the last tick (the driver's news, or a change made through
        // `with_kernel_mut`) is recorded.
        let (resident, costs) = match (&self.last_told, recording) {
            (Some(b), true) => diff(b, &told(&kernel)),
            _ => (vec![], vec![]),
        };
        let report = kernel.tick_live(now, &observations, crisis, events.clone(), &mut NoExecutor);
        if recording {
            self.last_told = Some(told(&kernel));
        }
        drop(kernel);
        for p in &report.preempted {
            if let Some(f) = self.flights.get(&p.job) {
                f.cancel(&p.reason);
                self.preempted_at.insert(p.job, now);
            }
        }
        for e in &events {
            self.flights.remove(&e.job());
        }
        for d in &report.dispatched {
            match jobs::spawn(self.runner.clone(), d.clone(), done.clone(), self.on_token.clone()) {
                Ok(f) => {
                    self.flights.insert(d.job, f);
                }
                Err(e) => {
                    // No thread: the job ends at once, having done nothing.
                    tracing::warn!(job = d.job, error = %e, "could not start a job");
                    lock(&self.shared.stats).unstarted += 1;
                    let mut run = sage_kernel::Executor::execute(&mut NoExecutor, d);
                    run.failed = vec![(d.expert.clone(), format!("no thread for the job: {e}"))];
                    let event = match d.kind {
                        sage_kernel::JobKind::Score => {
                            JobEvent::Scored { job: d.job, score: None, cost: 0.0 }
                        }
                        sage_kernel::JobKind::Answer => JobEvent::Done { job: d.job, run },
                    };
                    let _ = done.send(event);
                }
            }
        }
        self.driver.after_tick(&report, &observations);
        self.outputs.tick(&report, &observations);
        if let Some(tape) = lock(&self.shared.tape).as_mut() {
            tape.ticks.push(LiveTick {
                now,
                observations,
                crisis,
                events,
                resident,
                costs,
                digest: digest(&report),
            });
        }
        let mut recent = lock(&self.shared.recent);
        if recent.len() >= self.config.keep_reports.max(1) {
            recent.pop_front();
        }
        recent.push_back(report.clone());
        report
    }
}

/// What the driver has told the kernel: residency and costs per expert.
fn told(k: &Kernel) -> Vec<(String, bool, u64, f64)> {
    let resident = k.resident();
    k.config()
        .experts
        .iter()
        .map(|e| (e.name.clone(), resident.contains(&e.name.as_str()), e.bytes, e.load_s))
        .collect()
}

type Told = (Vec<(String, bool)>, Vec<(String, u64, f64)>);

fn diff(before: &[(String, bool, u64, f64)], after: &[(String, bool, u64, f64)]) -> Told {
    let mut resident = vec![];
    let mut costs = vec![];
    for (b, a) in before.iter().zip(after) {
        if b.1 != a.1 {
            resident.push((a.0.clone(), a.1));
        }
        if b.2 != a.2 || b.3 != a.3 {
            costs.push((a.0.clone(), a.2, a.3));
        }
    }
    (resident, costs)
}
