#![allow(clippy::unwrap_used)]
//! The real-time kernel on real threads: it keeps ticking while a job generates, a crisis
//! cancels a generation within one token, jobs run through the zoo's models, and a recording
//! replays exactly.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sage_irp::{HaltReason, Telemetry};
use sage_kernel::{Dispatch, ExternalRun, Kernel, KernelConfig, NoExecutor, Observation, TickReport};
use sage_llm::Cancel;
use sage_runtime::driver::kernel_config;
use sage_runtime::live::{JobRunner, LiveConfig, LiveKernel, LiveParts, LiveTape, ModelJobs, Outputs};
use sage_runtime::scripted::{Script, ScriptedLoader};
use sage_runtime::zoo::Zoo;
use sage_runtime::{Residency, SystemClock};

/// A **test double** for policy tests: "generates" one token every `step`, checking its cancel
/// flag before each, as the engine's sink does; counts the tokens it produced after the flag
/// was set.
struct SlowJobs {
    tokens: usize,
    step: Duration,
    after_cancel: Arc<AtomicUsize>,
}

impl JobRunner for SlowJobs {
    fn run(&self, job: &Dispatch, cancel: &Cancel, on_token: &dyn Fn(&str)) -> ExternalRun {
        let mut out = String::new();
        for i in 0..self.tokens {
            if cancel.is_cancelled() {
                break;
            }
            std::thread::sleep(self.step);
            let t = format!("t{i} ");
            on_token(&t);
            out.push_str(&t);
            if cancel.is_cancelled() {
                // The token in progress when the cancellation came.
                self.after_cancel.fetch_add(1, Ordering::SeqCst);
            }
        }
        let n = out.split_whitespace().count();
        ExternalRun {
            used: Some(job.expert.clone()),
            failed: vec![],
            telemetry: Telemetry::from_energies(
                &job.expert,
                &[1.0, 0.8],
                HaltReason::PluginDone,
                0.01 * n as f64,
                0.0,
                0.0,
            ),
            quality: Some(0.7),
            output: out.trim().to_string(),
        }
    }
}

/// Reports, as the outputs see them.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<TickReport>>>);

impl Outputs for Collect {
    fn tick(&mut self, report: &TickReport, _observations: &[Observation]) {
        self.0.lock().unwrap().push(report.clone());
    }
}

impl Collect {
    fn wait(&self, what: &str, f: impl Fn(&TickReport) -> bool) -> TickReport {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(r) = self.0.lock().unwrap().iter().find(|r| f(r)) {
                return r.clone();
            }
            assert!(Instant::now() < deadline, "never saw {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn zoo_specs() -> Vec<sage_runtime::ModelSpec> {
    Zoo::parse(
        r#"
[[model]]
id = "small-lm"
engine = "gguf"
path = "small.gguf"
role = "primary"
expected_mib = 100
quality = { "text.question" = 0.8, "text.alert" = 0.8, "text.chat" = 0.7 }
"#,
        "test zoo",
        std::path::Path::new("."),
    )
    .unwrap()
    .models
}

fn kernel_with_model() -> Kernel {
    let mut experts = sage_kernel::builtin_experts();
    experts.retain(|e| e.classes.contains_key("sensor"));
    let mut config = KernelConfig { experts, ..KernelConfig::default() };
    let model = sage_kernel::ExpertSpec {
        name: "small-lm".into(),
        role: "primary".into(),
        classes: [("text.question", 0.9), ("text.alert", 0.9), ("text.chat", 0.9)]
            .iter()
            .map(|(c, p)| (c.to_string(), *p))
            .collect(),
        bytes: 10 << 20,
        load_s: 0.1,
        plugin: sage_kernel::Builtin::External,
        halt: sage_irp::HaltConfig::default(),
        slots: 1,
    };
    config.experts.push(model);
    Kernel::new(config).unwrap()
}

fn start(runner: Arc<dyn JobRunner>, outputs: Collect, record: bool) -> LiveKernel {
    LiveKernel::start(
        LiveParts {
            kernel: kernel_with_model(),
            driver: Box::new(NoExecutor),
            runner,
            clock: Arc::new(SystemClock::default()),
            outputs: Box::new(outputs),
            on_token: None,
            inbox: None,
        },
        LiveConfig { hz: 50.0, record, ..LiveConfig::default() },
    )
    .unwrap()
}

const QUESTION: &str = "What is the battery level of the robot?";

#[test]
fn a_sensor_reading_is_scored_at_the_next_tick_while_a_job_generates() {
    let after_cancel = Arc::new(AtomicUsize::new(0));
    let runner = Arc::new(SlowJobs { tokens: 400, step: Duration::from_millis(10), after_cancel });
    let out = Collect::default();
    let live = start(runner, out.clone(), false);
    live.inbox().push(Observation::text("operator", QUESTION));
    let d = out.wait("the question dispatched", |r| !r.dispatched.is_empty());
    // The job takes 4 s; the kernel keeps ticking meanwhile.
    live.inbox().push(Observation::sensor("imu", vec![0.0, 0.1, 9.8]));
    let r = out.wait("the reading scored", |r| r.observations.iter().any(|o| o.source == "imu"));
    assert!(r.observations.iter().find(|o| o.source == "imu").unwrap().salience.is_some());
    assert_eq!(r.running, 1, "the generation was still running when the reading was scored");
    assert!(r.tick > d.tick);
    let stats = live.stats();
    assert!(stats.ticks >= r.tick);
    assert_eq!(stats.jobs.0, 1);
    drop(live);
}

#[test]
fn a_crisis_cancels_a_running_generation_within_one_token() {
    let after_cancel = Arc::new(AtomicUsize::new(0));
    let runner = Arc::new(SlowJobs {
        tokens: 2000,
        step: Duration::from_millis(5),
        after_cancel: after_cancel.clone(),
    });
    let out = Collect::default();
    let live = start(runner, out.clone(), false);
    live.inbox().push(Observation::text("operator", QUESTION));
    let d = out.wait("the question dispatched", |r| !r.dispatched.is_empty());
    let job = d.dispatched[0].job;
    std::thread::sleep(Duration::from_millis(100));
    live.inbox().crisis();
    let p = out.wait("the preemption", |r| r.preempted.iter().any(|p| p.job == job));
    assert!(p.preempted[0].reason.contains("crisis"));
    let e = out.wait("the cancellation settled", |r| r.ended.iter().any(|e| e.job == job));
    let end = e.ended.iter().find(|e| e.job == job).unwrap();
    assert_eq!(end.outcome, "cancelled");
    let produced = end.output.split_whitespace().count();
    assert!(produced > 0 && produced < 2000, "a partial answer: {produced} tokens");
    assert!(after_cancel.load(Ordering::SeqCst) <= 1, "at most the token in progress finishes");
    assert!(e.tick > p.tick, "settled at a later tick");
    assert_eq!(live.stats().jobs.2, 1);
    assert_eq!(live.stats().cancel_s.len(), 1);
}

#[test]
fn jobs_are_answered_by_the_zoos_models_and_a_recording_replays_exactly() {
    let specs = zoo_specs();
    let loader = Arc::new(ScriptedLoader::new(vec![Script::new("small-lm", 0.8)], Duration::ZERO));
    let clock = Arc::new(SystemClock::default());
    let residency = Residency::new(&specs, 320 << 20, loader, clock.clone());
    let config = kernel_config(&specs, 320 << 20, &residency);
    let settings = sage_runtime::llm::LlmSettings::default();
    let runner = Arc::new(ModelJobs::new(residency, specs, settings, clock.clone()));
    let out = Collect::default();
    let live = LiveKernel::start(
        LiveParts {
            kernel: Kernel::new(config).unwrap(),
            driver: Box::new(NoExecutor),
            runner,
            clock,
            outputs: Box::new(out.clone()),
            on_token: None,
            inbox: None,
        },
        LiveConfig { hz: 50.0, record: true, ..LiveConfig::default() },
    )
    .unwrap();
    for (i, text) in
        [QUESTION, "Where is the charging dock?", "URGENT: smoke in aisle 4, stop now!"].iter().enumerate()
    {
        live.inbox().push(Observation::text("operator", text));
        for j in 0..5 {
            live.inbox().push(Observation::sensor("imu", vec![i as f64, j as f64 * 0.1, 9.8]));
        }
        out.wait("an answer", |r| {
            r.runs.iter().any(|x| x.job.is_some() && x.dispatched_at.is_some()) && r.tick > i as u64
        });
    }
    let r =
        out.wait("the model's answer", |r| r.runs.iter().any(|x| x.output.contains("answer from small-lm")));
    assert!(r.runs.iter().any(|x| x.expert == "small-lm"));
    live.inbox().crisis();
    out.wait("the crisis", |r| r.state == sage_kernel::State::Crisis);
    let (_, tape) = live.stop();
    let tape = tape.unwrap();
    // One tick at least per question answered (each waited for a later tick); how many more
    // depends on how fast the machine is (a fast run took 5 at 50 Hz: `> 5` failed there).
    assert!(tape.ticks.len() >= 3, "{} ticks", tape.ticks.len());
    let text = tape.write();
    assert!(LiveTape::is_live(&text));
    let parsed = LiveTape::parse(&text).unwrap();
    let replay = parsed.replay().unwrap();
    assert_eq!(replay.ticks, tape.ticks.len());
    assert!(replay.mismatches.is_empty(), "{:?}", replay.mismatches);
    // A recording with one event changed no longer replays.
    let mut broken = parsed.clone();
    let i = broken.ticks.iter().position(|t| !t.events.is_empty()).unwrap();
    broken.ticks[i].events.clear();
    assert!(!broken.replay().unwrap().mismatches.is_empty());
}

/// Test double of a federation: answers every other job "from a peer", streaming it, and
/// declines the rest (the local models answer those).
struct AlternatePeer(AtomicUsize);

impl sage_runtime::live::Delegate for AlternatePeer {
    fn answer(
        &self,
        request: &sage_runtime::route::Request,
        sink: &mut dyn FnMut(&str) -> sage_llm::Flow,
    ) -> Option<(Vec<sage_runtime::route::Attempt>, Option<sage_runtime::route::Answer>)> {
        if self.0.fetch_add(1, Ordering::SeqCst) % 2 == 1 {
            return None;
        }
        let text = format!("answer from a peer to {}", request.class);
        for w in text.split_inclusive(' ') {
            sink(w);
        }
        let answer = sage_runtime::route::Answer {
            model: "small-lm@0123456789abcdef".into(),
            text,
            tokens: 6,
            mean_nll: None,
            quality: 0.9,
            timings: Default::default(),
            kept_messages: 1,
            telemetry: Telemetry::from_energies("peer", &[1.0, 0.5], HaltReason::PluginDone, 1.0, 0.0, 0.1),
            finish: Some(sage_llm::FinishReason::Stop),
            tokens_out: vec![],
        };
        Some((
            vec![sage_runtime::route::Attempt { model: answer.model.clone(), failure: None }],
            Some(answer),
        ))
    }
}

#[test]
fn a_delegate_answers_the_jobs_it_takes_and_the_local_models_the_others() {
    let specs = zoo_specs();
    let loader = Arc::new(ScriptedLoader::new(vec![Script::new("small-lm", 0.8)], Duration::ZERO));
    let clock = Arc::new(SystemClock::default());
    let residency = Residency::new(&specs, 320 << 20, loader, clock.clone());
    let config = kernel_config(&specs, 320 << 20, &residency);
    let settings = sage_runtime::llm::LlmSettings::default();
    let runner = Arc::new(
        ModelJobs::new(residency, specs, settings, clock.clone())
            .with_delegate(Arc::new(AlternatePeer(AtomicUsize::new(0)))),
    );
    let out = Collect::default();
    let live = LiveKernel::start(
        LiveParts {
            kernel: Kernel::new(config).unwrap(),
            driver: Box::new(NoExecutor),
            runner,
            clock,
            outputs: Box::new(out.clone()),
            on_token: None,
            inbox: None,
        },
        LiveConfig { hz: 50.0, ..LiveConfig::default() },
    )
    .unwrap();
    live.inbox().push(Observation::text("operator", QUESTION));
    let r = out.wait("the peer's answer", |r| r.runs.iter().any(|x| x.output.contains("answer from a peer")));
    // The kernel learns about the expert it chose; the answer came from elsewhere.
    assert!(r.runs.iter().any(|x| x.expert == "small-lm" && x.output.contains("answer from a peer")));
    live.inbox().push(Observation::text("operator", "Where is the charging dock?"));
    out.wait("the local model's answer", |r| {
        r.runs.iter().any(|x| x.output.contains("answer from small-lm"))
    });
    drop(live.stop());
}
