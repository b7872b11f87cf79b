//! `sage run`: a scenario through the kernel.

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use sage_kernel::scenario::{self, Scenario};
use sage_kernel::{Kernel, KernelConfig};

use crate::trace::{Trace, TraceMode};

/// The demo scenario shipped with SAGE (used when no file is given).
pub const DEMO: &str = include_str!("../../../scenarios/demo.jsonl");

/// Arguments of `sage run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (JSON lines); `-` reads stdin. Default: the bundled demo. With
    /// `--inputs`: an MCAP recording (a ROS 2 bag) played through the real-time kernel.
    pub scenario: Option<PathBuf>,
    /// Inputs file (as for `sage node`): the scenario is an MCAP recording whose topics it maps
    /// to observations.
    #[arg(long, value_name = "FILE", conflicts_with = "no_model")]
    pub inputs: Option<PathBuf>,
    /// With --inputs: play the recording in recorded time as fast as the models allow, instead
    /// of at its recorded speed on the wall clock.
    #[arg(long, requires = "inputs")]
    pub fast: bool,
    /// With --inputs: ticks per second.
    #[arg(long, default_value_t = 20.0, requires = "inputs", value_parser = crate::tick_rate)]
    pub hz: f64,
    /// Print one JSON object per tick and a final summary object instead of the readable trace.
    #[arg(long)]
    pub json: bool,
    /// Print every tick, not only the ticks where something happened.
    #[arg(long, short)]
    pub verbose: bool,
    /// Print only the summary.
    #[arg(long, short, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Seed for the kernel's random choices (overrides the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// The kernel alone with its built-in experts: no language model.
    #[arg(long)]
    pub no_model: bool,
    /// Write a recording of the run that `sage replay` reproduces (it tapes what the model
    /// loop told the kernel, so not with --no-model).
    #[arg(long, value_name = "FILE", conflicts_with = "no_model")]
    pub record: Option<PathBuf>,
    #[command(flatten)]
    pub zoo: crate::runtime::ZooArgs,
}

fn load(path: Option<&PathBuf>) -> anyhow::Result<(String, String)> {
    match path {
        None => Ok(("bundled demo".to_string(), DEMO.to_string())),
        Some(p) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("reading the scenario from stdin")?;
            Ok(("stdin".to_string(), s))
        }
        Some(p) => {
            let s =
                std::fs::read_to_string(p).with_context(|| format!("reading scenario {}", p.display()))?;
            Ok((p.display().to_string(), s))
        }
    }
}

/// How the trace is printed.
fn trace_mode(args: &RunArgs) -> TraceMode {
    if args.json {
        TraceMode::Json
    } else if args.quiet {
        TraceMode::Quiet
    } else if args.verbose {
        TraceMode::Verbose
    } else {
        TraceMode::Events
    }
}

/// Run the command.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if let Some(inputs) = &args.inputs {
        return recording(&args, inputs);
    }
    let (origin, text) = load(args.scenario.as_ref())?;
    let scenario = Scenario::parse(&text).with_context(|| format!("parsing scenario {origin}"))?;
    let composed = if args.no_model { None } else { Some(crate::runtime::compose(&args.zoo)?) };
    let mut tuned = vec![];
    let mut config = match &composed {
        Some(c) => {
            let mut config =
                sage_runtime::driver::kernel_config(&c.specs, c.profile.model_bytes, &c.residency);
            tuned = sage_runtime::driver::tune_halt(&mut config, &c.store);
            config
        }
        None => KernelConfig::default(),
    };
    if let Some(seed) = args.seed.or(scenario.header.seed) {
        config.seed = seed;
    }
    config.circadian_period = scenario.header.circadian_period;
    let mut kernel = Kernel::new(config.clone()).context("configuring the kernel")?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mode = trace_mode(&args);
    let mut trace = Trace::new(mode, &kernel);
    trace.header(&mut out, &scenario, &origin)?;
    let mut io_error: Option<std::io::Error> = None;
    let mut on_tick = |report: &sage_kernel::TickReport, notes: &[&str]| {
        if io_error.is_none() {
            if let Err(e) = trace.tick(&mut out, report, notes) {
                io_error = Some(e);
            }
        }
    };
    let mut driver = None;
    let summary = match composed {
        None => scenario::run(&mut kernel, &scenario, &mut on_tick),
        Some(c) => {
            let first = c.specs.first().map(|s| s.id.clone()).unwrap_or_default();
            let scorer = sage_runtime::semantic::SemanticScorer::new(&first, 0.01);
            let trust = c.store.load_trust()?;
            let policies = kernel.config().policies.clone();
            let reasoner = sage_runtime::reasoner::Reasoner::new(&first, 0.01);
            let mut d = sage_runtime::driver::LlmDriver::new(
                c.specs.clone(),
                c.residency.clone(),
                Some(c.store),
                Some(scorer),
                c.clock.clone(),
            )
            .with_reasoner(reasoner);
            d.restore_trust(trust);
            d.follow_states(policies, c.profile.model_bytes);
            let s = scenario::run_with(&mut kernel, &scenario, &mut d, &mut on_tick);
            driver = Some(d);
            s
        }
    };
    if let Some(e) = io_error {
        return Err(e).context("writing the trace");
    }
    trace.summary(&mut out, &summary, &kernel)?;
    if let Some(d) = &driver {
        let end = summary.ticks as f64 * scenario.header.tick_s;
        d.save_trust(&kernel, end).context("saving trust")?;
        if let Some(store) = d.store() {
            store.log_decision(
                end,
                "run",
                &serde_json::json!({
                    "scenario": scenario.header.scenario,
                    "ticks": summary.ticks,
                    "visited": summary.visited(),
                    "transitions": summary.transitions,
                    "atp_final": summary.atp_final,
                    "atp_min": summary.atp_min,
                    "observations": summary.observations,
                    "attended": summary.attended,
                    "answers": d.invocations.len(),
                }),
            )?;
            for l in &d.tape().residency {
                if let sage_runtime::ResidencyLog::Load { model, bytes, seconds, t, .. } = l {
                    store.record_load(model, *bytes, *seconds, *t)?;
                }
            }
        }
        if !args.json {
            let inv = &d.invocations;
            let tokens: u32 = inv.iter().map(|i| i.tokens.0).sum();
            let secs: f64 = inv.iter().map(|i| i.seconds).sum();
            writeln!(
                out,
                "  language model: {} invocations ({} tokens, {:.1} s) on {} observations; {} degraded",
                inv.len(),
                tokens,
                secs,
                summary.observations,
                inv.iter().filter(|i| i.model.is_none()).count()
            )?;
            for l in &d.tape().residency {
                writeln!(out, "  residency: {}", serde_json::to_string(l).unwrap_or_default())?;
            }
            for n in tuned.iter().chain(&d.notes) {
                writeln!(out, "  memory: {n}")?;
            }
        }
        if let Some(path) = &args.record {
            std::fs::write(path, sage_runtime::record::write(&config, &text, d.tape()))
                .with_context(|| format!("writing the recording {}", path.display()))?;
            writeln!(
                out,
                "  recorded to {} (sage replay {} reproduces the decisions)",
                path.display(),
                path.display()
            )?;
        }
    }
    out.flush().context("writing the trace")?;
    Ok(())
}

/// `sage run --inputs FILE RECORDING.mcap`.
fn recording(args: &RunArgs, inputs: &std::path::Path) -> anyhow::Result<()> {
    let Some(path) = &args.scenario else {
        anyhow::bail!("with --inputs, give the MCAP recording to play");
    };
    let file = sage_io::InputsFile::load(inputs)?;
    if file.inputs.iter().all(|i| i.topic.is_none()) {
        anyhow::bail!("{} names no topic: a recording's inputs are matched by topic", inputs.display());
    }
    let c = crate::runtime::compose(&args.zoo)?;
    let clock = c.clock.clone();
    let (kernel, driver, runner) = crate::play::parts(c)?;
    let mode = trace_mode(args);
    if args.fast && args.record.is_some() {
        anyhow::bail!("--record keeps the real-time kernel's ticks: play at recorded speed to record");
    }
    crate::play::play(
        crate::play::Play {
            path,
            inputs: &file,
            hz: args.hz,
            fast: args.fast,
            mode,
            record: args.record.as_deref(),
        },
        kernel,
        driver,
        runner,
        clock,
    )
}
