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
    /// Scenario file (JSON lines); `-` reads stdin. Default: the bundled demo.
    pub scenario: Option<PathBuf>,
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

/// Run the command.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let (origin, text) = load(args.scenario.as_ref())?;
    let scenario = Scenario::parse(&text).with_context(|| format!("parsing scenario {origin}"))?;
    let mut config = KernelConfig::default();
    if let Some(seed) = args.seed.or(scenario.header.seed) {
        config.seed = seed;
    }
    config.circadian_period = scenario.header.circadian_period;
    let mut kernel = Kernel::new(config).context("configuring the kernel")?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mode = if args.json {
        TraceMode::Json
    } else if args.quiet {
        TraceMode::Quiet
    } else if args.verbose {
        TraceMode::Verbose
    } else {
        TraceMode::Events
    };
    let mut trace = Trace::new(mode, &kernel);
    trace.header(&mut out, &scenario, &origin)?;
    let mut io_error: Option<std::io::Error> = None;
    let summary = scenario::run(&mut kernel, &scenario, |report, notes| {
        if io_error.is_none() {
            if let Err(e) = trace.tick(&mut out, report, notes) {
                io_error = Some(e);
            }
        }
    });
    if let Some(e) = io_error {
        return Err(e).context("writing the trace");
    }
    trace.summary(&mut out, &summary, &kernel)?;
    out.flush().context("writing the trace")?;
    Ok(())
}
