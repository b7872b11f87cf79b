//! `sage node`: the real-time kernel with its Zenoh inputs and outputs and the HTTP server of
//! `sage serve`, in one process around one kernel.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use clap::Args;
use sage_io::{InputsFile, ZenohIo};
use sage_kernel::{Observation, TickReport};
use sage_runtime::live::{Inbox, LiveConfig, LiveKernel, LiveParts, ModelJobs, Outputs};
use sage_server::App;

use crate::serve::{http, prepare, ServeArgs};

/// Arguments of `sage node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Inputs file (TOML): the Zenoh session, the key expressions mapped to observations, the
    /// output prefix (see examples/inputs.toml).
    #[arg(long, value_name = "FILE")]
    pub inputs: PathBuf,
    /// Ticks per second.
    #[arg(long, default_value_t = 20.0, value_parser = crate::tick_rate)]
    pub hz: f64,
    /// When the node stops, write a recording of every tick (`sage replay FILE` reproduces its
    /// decisions). Memory grows with the run: for tests and bounded sessions.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Join a federation of SAGE nodes over the inputs file's Zenoh session (TOML: profile,
    /// key, allow; see `sage key`).
    #[arg(long, value_name = "FILE")]
    pub federation: Option<PathBuf>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The inbox as the Zenoh transport's sink.
pub struct InboxSink(pub Arc<Inbox>);

impl sage_io::Sink for InboxSink {
    fn observe(&self, observation: Observation) -> Result<(), String> {
        match self.0.push(observation) {
            sage_runtime::live::Admission::Refused(why) => Err(why),
            _ => Ok(()),
        }
    }
    fn crisis(&self) {
        self.0.crisis();
    }
    fn undecodable(&self, source: &str, _why: &str) {
        self.0.undecodable(source);
    }
}

/// Where the node's ticks go: Zenoh (state, decisions, answers, alerts) and the server's
/// event stream.
pub struct NodeOutputs {
    /// The Zenoh transport.
    pub zenoh: Option<Arc<ZenohIo>>,
    /// The server's event channel, once the server exists.
    pub events: Arc<OnceLock<tokio::sync::broadcast::Sender<String>>>,
}

impl Outputs for NodeOutputs {
    fn tick(&mut self, report: &TickReport, observations: &[Observation]) {
        if let Some(z) = &self.zenoh {
            for (key, value) in sage_io::outputs::for_tick(report, observations) {
                z.publish(key, &value);
            }
        }
        // Quiet ticks are not streamed: at 20 Hz they would drown what happened.
        let eventful = !report.dispatched.is_empty()
            || !report.runs.is_empty()
            || !report.ended.is_empty()
            || !report.preempted.is_empty()
            || report.transition.is_some()
            || report.observations.iter().any(|o| o.attention != sage_kernel::Attention::Ignored);
        if let (true, Some(tx)) = (eventful, self.events.get()) {
            let v = serde_json::to_value(report).unwrap_or_default();
            let _ = tx.send(serde_json::json!({"type": "tick", "report": v}).to_string());
        }
    }
}

/// Run the node until SIGINT or SIGTERM.
pub fn run(mut args: NodeArgs) -> anyhow::Result<()> {
    let inputs = InputsFile::load(&args.inputs)?;
    let federation = args.federation.as_deref().map(crate::federate::FederationFile::load).transpose()?;
    let p = prepare(&mut args.serve)?;
    let live_config = LiveConfig { hz: args.hz, record: args.record.is_some(), ..LiveConfig::default() };
    let inbox = Arc::new(Inbox::new(live_config.inbox));
    // Zenoh is opened before the HTTP runtime starts (its blocking calls are made outside it).
    let zenoh = Arc::new(
        ZenohIo::start(&inputs, Arc::new(InboxSink(inbox.clone())))
            .with_context(|| format!("starting the inputs of {}", args.inputs.display()))?,
    );
    let events = Arc::new(OnceLock::new());
    let tokens_to = zenoh.clone();
    let on_token: sage_runtime::live::TokenSink = Arc::new(move |job, text: &str| {
        tokens_to.publish("tokens", &serde_json::json!({"job": job, "text": text}));
    });
    let first = p.specs.first().map(|s| s.id.clone()).unwrap_or_default();
    let delegate = Arc::new(sage_server::federation::JobDelegate::default());
    let mut jobs =
        ModelJobs::new(p.residency.clone(), p.specs.clone(), p.driver.settings.clone(), p.clock.clone())
            .with_scorer(sage_runtime::semantic::SemanticScorer::new(&first, 0.01));
    if federation.is_some() {
        jobs = jobs.with_delegate(delegate.clone());
    }
    let runner = Arc::new(jobs);
    let live = Arc::new(
        LiveKernel::start(
            LiveParts {
                kernel: p.kernel,
                driver: Box::new(p.driver.loading_in_background()),
                runner,
                clock: p.clock.clone(),
                outputs: Box::new(NodeOutputs { zenoh: Some(zenoh.clone()), events: events.clone() }),
                on_token: Some(on_token),
                inbox: Some(inbox),
            },
            live_config,
        )
        .context("starting the tick loop")?,
    );
    let app =
        App::new_live(p.router, p.residency, Some(p.log_store), live.clone(), p.clock.clone(), p.config);
    let _ = events.set(app.events());
    let mut notes = p.notes.clone();
    if let Some(f) = &federation {
        let id = crate::federate::join(f, &zenoh, &app)?;
        let _ = delegate.0.set(Arc::downgrade(&app));
        notes.push(format!("federation: node {id} ({}), {} peers allowed", f.profile, f.allow.len()));
    }
    let banner = format!(
        "sage node: {} inputs over Zenoh ({} mode), outputs under {}/; ticking at {} Hz; \
         http://{{addr}} (OpenAI API at /v1, Ollama API at /api, llama-server's /completion, SAGE API \
         at /sage, /metrics)",
        inputs.inputs.iter().filter(|i| i.key.is_some()).count(),
        inputs.zenoh.mode,
        inputs.outputs.prefix,
        args.hz
    );
    let served = http(app.clone(), args.serve.listen, &banner, &notes, "sage node");
    // The loop stops; what the kernel learned is saved and the recording written.
    drop(app);
    let live =
        Arc::try_unwrap(live).map_err(|_| anyhow::anyhow!("the tick loop is still shared at shutdown"))?;
    let stats = live.stats();
    let (_, tape) = live.stop_keeping(|kernel| {
        let saved = sage_store::Store::open(&p.store_path)
            .map_err(anyhow::Error::from)
            .and_then(|store| Ok(sage_runtime::driver::save_kernel_trust(&store, kernel, p.clock.now())?));
        if let Err(e) = saved {
            eprintln!("sage node: saving what was learned failed: {e:#}");
        }
    });
    eprintln!(
        "sage node: {} ticks, {} late by more than a period; jobs: {} dispatched, {} completed, {} cancelled",
        stats.ticks, stats.overruns, stats.jobs.0, stats.jobs.1, stats.jobs.2
    );
    if let (Some(path), Some(tape)) = (&args.record, tape) {
        crate::write_atomically(path, tape.write().as_bytes())
            .with_context(|| format!("writing the recording {}", path.display()))?;
        eprintln!(
            "sage node: recorded {} ticks to {} (sage replay reproduces them)",
            tape.ticks.len(),
            path.display()
        );
    }
    served
}
