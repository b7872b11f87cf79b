//! `sage run --inputs FILE RECORDING.mcap`: a robot's recording through the real-time kernel,
//! with the same inputs file as `sage node`.
//!
//! At recorded speed (the default), the messages go into the live kernel's inbox at the pace
//! they were recorded while it ticks on the wall clock, exactly as on the robot. With
//! `--fast`, time is the recording's: every `1/hz` of recorded time is one tick, each job runs
//! as soon as it is dispatched and its outcome is delivered at the next tick; the run takes as
//! long as the models do, and it is deterministic for a deterministic model.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sage_io::recording::{self, RecordingSummary};
use sage_io::InputsFile;
use sage_kernel::{Driver, JobEvent, Kernel, NoExecutor, Observation, TickReport};
use sage_runtime::live::{
    Inbox, InboxConfig, JobRunner, LiveConfig, LiveKernel, LiveParts, ModelJobs, Outputs,
};

use crate::trace::{Trace, TraceMode};

/// How to play a recording.
pub struct Play<'a> {
    /// The MCAP file.
    pub path: &'a Path,
    /// The inputs file.
    pub inputs: &'a InputsFile,
    /// Ticks per second.
    pub hz: f64,
    /// Recorded time, not wall time.
    pub fast: bool,
    /// How to print.
    pub mode: TraceMode,
    /// Where to write a live recording of the run (at recorded speed).
    pub record: Option<&'a Path>,
}

/// What the job outcomes of a tick were, in words, for the trace.
fn notes(r: &TickReport) -> Vec<String> {
    let mut n = vec![];
    for d in &r.dispatched {
        match d.kind {
            sage_kernel::JobKind::Answer => n.push(format!(
                "job {} dispatched to {} ({}, salience {:.2})",
                d.job, d.expert, d.class, d.salience
            )),
            sage_kernel::JobKind::Score => {
                n.push(format!("job {} scores the semantic importance of {:?}", d.job, d.input.source))
            }
        }
    }
    for run in r.runs.iter().filter(|x| x.job.is_some()) {
        n.push(format!("job {} answered by {}: {}", run.job.unwrap_or(0), run.expert, run.output));
    }
    for e in &r.ended {
        n.push(format!("job {} {}: {} (had said {:?})", e.job, e.outcome, e.why, e.output));
    }
    for p in &r.preempted {
        n.push(format!("job {} preempted: {}", p.job, p.reason));
    }
    n
}

struct Printer {
    trace: Trace,
    out: std::io::BufWriter<std::io::Stdout>,
    error: Option<std::io::Error>,
}

impl Printer {
    fn tick(&mut self, r: &TickReport) {
        let notes = notes(r);
        let refs: Vec<&str> = notes.iter().map(String::as_str).collect();
        if self.error.is_none() {
            if let Err(e) = self.trace.tick(&mut self.out, r, &refs) {
                self.error = Some(e);
            }
        }
    }
}

struct Printed(Arc<Mutex<Printer>>);

impl Outputs for Printed {
    fn tick(&mut self, report: &TickReport, _observations: &[Observation]) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).tick(report);
    }
}

/// Play the recording through a kernel with `driver` and `runner`.
pub fn play(
    p: Play<'_>,
    kernel: Kernel,
    driver: Box<dyn Driver + Send>,
    runner: Arc<dyn JobRunner>,
    clock: Arc<dyn sage_runtime::Clock>,
) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(p.path).with_context(|| format!("reading the recording {}", p.path.display()))?;
    let name = p.path.display().to_string();
    let printer = Arc::new(Mutex::new(Printer {
        trace: Trace::new(p.mode, &kernel),
        out: std::io::BufWriter::new(std::io::stdout()),
        error: None,
    }));
    let (summary, ticks, stats) = if p.fast {
        let (s, t) = fast(&bytes, &name, p.inputs, p.hz, kernel, driver, runner.as_ref(), &printer)?;
        (s, t, None)
    } else {
        let config = LiveConfig { hz: p.hz, record: p.record.is_some(), ..LiveConfig::default() };
        let live = LiveKernel::start(
            LiveParts {
                kernel,
                driver,
                runner,
                clock,
                outputs: Box::new(Printed(printer.clone())),
                on_token: None,
                inbox: None,
            },
            config,
        )
        .context("starting the tick loop")?;
        let summary = at_recorded_speed(&bytes, &name, p.inputs, &live)?;
        // Let the jobs the recording started finish.
        let deadline = Instant::now() + Duration::from_secs(600);
        while live.with_kernel(|k| !k.running().is_empty()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_secs_f64(2.0 / p.hz));
        let stats = live.stats();
        let counts = live.inbox().counts();
        let (_, tape) = live.stop();
        if let (Some(path), Some(tape)) = (p.record, tape) {
            crate::write_atomically(path, tape.write().as_bytes())
                .with_context(|| format!("writing the recording {}", path.display()))?;
            eprintln!(
                "recorded {} ticks to {} (sage replay reproduces them)",
                tape.ticks.len(),
                path.display()
            );
        }
        let coalesced: u64 = counts.values().map(|c| c.coalesced).sum();
        let delivered: u64 = counts.values().map(|c| c.delivered).sum();
        (summary, stats.ticks, Some((stats, delivered, coalesced)))
    };
    let mut pr = printer.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = pr.error.take() {
        return Err(e).context("writing the trace");
    }
    let out = &mut pr.out;
    writeln!(
        out,
        "{name}: {} messages of the declared inputs ({} undecodable, {} of other topics) in {ticks} ticks",
        summary.messages, summary.undecodable, summary.other_topics
    )?;
    if let Some(c) = &summary.corrupt {
        writeln!(out, "  the recording is corrupt after that: {c}")?;
    }
    if let Some((s, delivered, coalesced)) = stats {
        writeln!(
            out,
            "  {delivered} observations delivered, {coalesced} sensor readings coalesced; jobs: {} dispatched, {} completed, {} cancelled; tick lateness p99 {:.1} ms",
            s.jobs.0,
            s.jobs.1,
            s.jobs.2,
            1000.0 * sage_runtime::live::percentile(&s.lateness_s, 99.0)
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Push the recording's messages into the live kernel's inbox at their recorded pace.
fn at_recorded_speed(
    bytes: &[u8],
    name: &str,
    inputs: &InputsFile,
    live: &LiveKernel,
) -> anyhow::Result<RecordingSummary> {
    let start = Instant::now();
    let mut first: Option<u64> = None;
    let summary = recording::read(bytes, name, inputs, |m| {
        let t0 = *first.get_or_insert(m.time_ns);
        let due = Duration::from_nanos(m.time_ns.saturating_sub(t0));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        deliver(live.inbox(), m.input, m.decoded);
        ControlFlow::Continue(())
    })?;
    Ok(summary)
}

fn deliver(inbox: &Inbox, input: &sage_io::Input, decoded: Result<sage_io::Decoded, sage_io::PayloadError>) {
    match decoded {
        Ok(d) => {
            if input.signals_crisis(&d.observation) {
                inbox.crisis();
            }
            let _ = inbox.push(d.observation);
        }
        Err(_) => inbox.undecodable(&input.source),
    }
}

/// Recorded time: a tick per `1/hz` of the recording; jobs run when dispatched and are settled
/// at the next tick.
#[allow(clippy::too_many_arguments)]
fn fast(
    bytes: &[u8],
    name: &str,
    inputs: &InputsFile,
    hz: f64,
    mut kernel: Kernel,
    mut driver: Box<dyn Driver + Send>,
    runner: &dyn JobRunner,
    printer: &Arc<Mutex<Printer>>,
) -> anyhow::Result<(RecordingSummary, u64)> {
    let inbox = Inbox::new(InboxConfig::default());
    let period = (1e9 / hz.clamp(0.1, 1000.0)) as u64;
    let mut pending: Vec<JobEvent> = vec![];
    let mut index = 0u64;
    let mut tick_end: Option<u64> = None;
    let never = sage_llm::Cancel::default();
    let mut tick = |kernel: &mut Kernel,
                    driver: &mut Box<dyn Driver + Send>,
                    now_ns: u64,
                    pending: &mut Vec<JobEvent>| {
        let now = now_ns as f64 / 1e9;
        let (obs, crisis) = inbox.take();
        driver.before_tick(kernel, index, now);
        let r = kernel.tick_live(now, &obs, crisis, std::mem::take(pending), &mut NoExecutor);
        for d in &r.dispatched {
            pending.push(match d.kind {
                sage_kernel::JobKind::Score => {
                    let (score, cost) = runner.score(d).map_or((None, 0.0), |(s, c)| (Some(s), c));
                    JobEvent::Scored { job: d.job, score, cost }
                }
                sage_kernel::JobKind::Answer => {
                    JobEvent::Done { job: d.job, run: runner.run(d, &never, &|_| {}) }
                }
            });
        }
        driver.after_tick(&r, &obs);
        printer.lock().unwrap_or_else(|e| e.into_inner()).tick(&r);
        index += 1;
    };
    let summary = recording::read(bytes, name, inputs, |m| {
        let end = *tick_end.get_or_insert(m.time_ns + period);
        let mut end = end;
        while m.time_ns >= end {
            tick(&mut kernel, &mut driver, end, &mut pending);
            end += period;
        }
        tick_end = Some(end);
        deliver(&inbox, m.input, m.decoded);
        ControlFlow::Continue(())
    })?;
    // The last messages, then until every job is settled.
    let mut end = tick_end.unwrap_or(period);
    let mut extra = 0;
    loop {
        tick(&mut kernel, &mut driver, end, &mut pending);
        end += period;
        extra += 1;
        if (pending.is_empty() && kernel.running().is_empty() && inbox.waiting() == (0, 0)) || extra > 10_000
        {
            break;
        }
    }
    Ok((summary, index))
}

/// A kernel, its driver and the job runner of a recording run.
pub type Parts = (Kernel, Box<dyn Driver + Send>, Arc<dyn JobRunner>);

/// The kernel, a driver and the models' job runner for a recording run.
pub fn parts(c: crate::runtime::Composed) -> anyhow::Result<Parts> {
    let config = sage_runtime::driver::kernel_config(&c.specs, c.profile.model_bytes, &c.residency);
    let kernel = Kernel::new(config).context("configuring the kernel")?;
    let trust = c.store.load_trust()?;
    let mut driver = sage_runtime::driver::LlmDriver::new(
        c.specs.clone(),
        c.residency.clone(),
        Some(c.store),
        None,
        c.clock.clone(),
    )
    .without_tape()
    .loading_in_background();
    driver.follow_states(kernel.config().policies.clone(), c.profile.model_bytes);
    driver.restore_trust(trust);
    let runner = Arc::new(ModelJobs::new(
        c.residency.clone(),
        c.specs.clone(),
        driver.settings.clone(),
        c.clock.clone(),
    ));
    Ok((kernel, Box::new(driver), runner))
}
