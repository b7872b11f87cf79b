//! Running the real-time kernel's jobs: each dispatched job on its own thread (the kernel's
//! slots bound how many), cancellable through the engine's cancel path (a [`Cancel`] in the
//! request: llama.cpp aborts the step in progress, so the generation stops within one decode
//! step even while another prompt is evaluated), its outcome sent back as a [`JobEvent`] for
//! the next tick.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use sage_kernel::{Dispatch, ExternalRun, JobEvent, JobId, JobKind, Payload};
use sage_llm::{Cancel, Flow};

use crate::driver::{answer_dispatch, dispatch_request, external_run};
use crate::llm::LlmSettings;
use crate::residency::Residency;
use crate::route::Sessions;
use crate::semantic::SemanticScorer;
use crate::zoo::ModelSpec;
use crate::Clock;

/// A token streamed by a job: `(job, text)`.
pub type TokenSink = Arc<dyn Fn(JobId, &str) + Send + Sync>;

/// Runs one job to its end or until `cancel` is cancelled (then it returns what it had).
pub trait JobRunner: Send + Sync {
    /// Run an answering job; `on_token` gets every piece of text as it is generated. Pass
    /// `cancel` on to the engine (in [`sage_llm::GenerateParams::cancel`]) so that it stops at
    /// once.
    fn run(&self, job: &Dispatch, cancel: &Cancel, on_token: &dyn Fn(&str)) -> ExternalRun;

    /// Score a text's semantic importance: `Some((score in [0, 1], ATP it cost))`, or `None`
    /// when nothing can (the kernel keeps the cheap salience).
    fn score(&self, _job: &Dispatch) -> Option<(f64, f64)> {
        None
    }
}

/// Another way to answer a job's request (a federation of nodes): `None` leaves it to the local
/// models; `Some((attempts, answer))` is what it did. `sink` streams the text and answers
/// [`Flow::Stop`] once the job is cancelled.
pub trait Delegate: Send + Sync {
    /// Answer `request`, or decline.
    fn answer(
        &self,
        request: &crate::route::Request,
        sink: &mut dyn FnMut(&str) -> Flow,
    ) -> Option<(Vec<crate::route::Attempt>, Option<crate::route::Answer>)>;
}

/// Jobs answered by the zoo's language models (the chosen one, then the alternatives, then
/// the degraded responder), as `sage run` answers them; or by a [`Delegate`] first.
pub struct ModelJobs {
    delegate: Option<Arc<dyn Delegate>>,
    scorer: Option<Mutex<SemanticScorer>>,
    residency: Arc<Residency>,
    specs: Vec<ModelSpec>,
    sessions: Mutex<Sessions>,
    settings: LlmSettings,
    clock: Arc<dyn Clock>,
}

impl ModelJobs {
    /// Jobs for the models of `specs`, loaded through `residency`.
    pub fn new(
        residency: Arc<Residency>,
        specs: Vec<ModelSpec>,
        settings: LlmSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            delegate: None,
            scorer: None,
            residency,
            specs,
            sessions: Mutex::new(Sessions::default()),
            settings,
            clock,
        }
    }

    /// Offer every job to `delegate` first (`sage node --federation`: a peer may answer it).
    pub fn with_delegate(mut self, delegate: Arc<dyn Delegate>) -> Self {
        self.delegate = Some(delegate);
        self
    }

    /// Score ambiguous texts with `scorer` (as `sage run` and `sage serve` do inside the tick).
    pub fn with_scorer(mut self, scorer: SemanticScorer) -> Self {
        self.scorer = Some(Mutex::new(scorer));
        self
    }
}

impl JobRunner for ModelJobs {
    fn run(&self, job: &Dispatch, cancel: &Cancel, on_token: &dyn Fn(&str)) -> ExternalRun {
        let started = self.clock.now();
        let mut sink = |delta: &str| {
            if cancel.is_cancelled() {
                return Flow::Stop;
            }
            on_token(delta);
            Flow::Continue
        };
        let mut settings = self.settings.clone();
        settings.params.cancel = cancel.clone();
        if let Some(d) = &self.delegate {
            let request = dispatch_request(job, settings.max_tokens);
            if let Some((attempts, answer)) = d.answer(&request, &mut sink) {
                // The kernel chose its expert (a model slot); the delegate chose where it ran.
                // The kernel learns about its expert; the delegate's record names the node.
                let answer = answer.map(|mut a| {
                    tracing::info!(job = job.job, expert = %job.expert, answered_by = %a.model, "job answered by the federation");
                    a.model = job.expert.clone();
                    a
                });
                return external_run(job, &request, &attempts, answer.as_ref(), self.clock.now() - started);
            }
        }
        let (request, attempts, answer) =
            answer_dispatch(&self.residency, &self.specs, &self.sessions, &settings, job, &mut sink);
        external_run(job, &request, &attempts, answer.as_ref(), self.clock.now() - started)
    }

    fn score(&self, job: &Dispatch) -> Option<(f64, f64)> {
        let Payload::Text(text) = &job.input.payload else { return None };
        let scorer = self.scorer.as_ref()?;
        scorer.lock().unwrap_or_else(|e| e.into_inner()).score(&self.residency, None, &job.input.source, text)
    }
}

/// A job in flight: its cancel handle.
pub(crate) struct InFlight {
    pub cancel: Cancel,
    pub reason: Arc<Mutex<Option<String>>>,
    pub thread: std::thread::JoinHandle<()>,
}

/// Start `job` on its own thread; its event goes to `done`.
pub(crate) fn spawn(
    runner: Arc<dyn JobRunner>,
    job: Dispatch,
    done: Sender<JobEvent>,
    on_token: Option<TokenSink>,
) -> std::io::Result<InFlight> {
    let cancel = Cancel::new();
    let reason: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let (c, r) = (cancel.clone(), reason.clone());
    let thread = std::thread::Builder::new().name(format!("sage-job-{}", job.job)).spawn(move || {
        let (cancel, reason) = (c, r);
        let id = job.job;
        let token = |t: &str| {
            if let Some(f) = &on_token {
                f(id, t);
            }
        };
        if job.kind == JobKind::Score {
            let (score, cost) = match runner.score(&job) {
                Some((s, c)) => (Some(s), c),
                None => (None, 0.0),
            };
            let _ = done.send(JobEvent::Scored { job: id, score, cost });
            return;
        }
        let run = runner.run(&job, &cancel, &token);
        let event = match reason.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(reason) if cancel.is_cancelled() => JobEvent::Cancelled { job: id, run, reason },
            _ => JobEvent::Done { job: id, run },
        };
        // The loop may have stopped; then nobody wants the outcome.
        let _ = done.send(event);
    })?;
    Ok(InFlight { cancel, reason, thread })
}

impl InFlight {
    /// Ask the job to stop.
    pub fn cancel(&self, why: &str) {
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.to_string());
        self.cancel.cancel();
    }
}
