//! `sage`: the SAGE command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod engine_args;
mod federate;
mod generate;
mod logging;
mod model_path;
mod models;
mod node;
mod play;
mod run;
mod runtime;
mod serve;
mod trace;

/// SAGE: a cognition kernel for edge AI. It decides when to think and with what.
#[derive(Debug, Parser)]
#[command(name = "sage", version, about, long_about = None)]
struct Cli {
    /// Log filter for diagnostics on stderr (also `SAGE_LOG`), e.g. `debug` or `sage_kernel=trace`.
    #[arg(long, global = true, value_name = "FILTER")]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Drive the kernel through a scenario (JSON lines) and print what it attended to, which
    /// expert it chose and why, ATP and state over time, and a summary.
    Run(run::RunArgs),
    /// Chat with the models through the router (streaming, multi-turn, persisted sessions).
    Chat(runtime::ChatArgs),
    /// Ask SAGE about its own state and memories.
    Ask(runtime::AskArgs),
    /// Serve the OpenAI-compatible API, the SAGE API and metrics over HTTP.
    Serve(serve::ServeArgs),
    /// The real-time kernel on a robot: ticks on the wall clock, fed by ROS 2 / Zenoh inputs,
    /// publishing its state, decisions, answers and alerts, with the HTTP API of `serve`.
    Node(node::NodeArgs),
    /// Print a node's public key for its peers' allow-lists, creating the key file if missing.
    Key(federate::KeyArgs),
    /// Reproduce a recorded run's decisions (`sage run --record FILE`, `sage node --record FILE`).
    Replay(runtime::ReplayArgs),
    /// Generate text with a language model (streaming; `--json` for ids, logprobs, timings).
    Generate(generate::GenerateArgs),
    /// Inspect model files.
    Models(models::ModelsArgs),
    /// Benchmarks, each against its baseline measured or documented beside it.
    Bench(bench::BenchArgs),
}

/// A tick rate from the command line: ticks per second, finite, in `[0.1, 1000]`.
pub(crate) fn tick_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(hz) if hz.is_finite() && (0.1..=1000.0).contains(&hz) => Ok(hz),
        Ok(hz) => Err(format!("{hz} ticks per second is outside 0.1..=1000")),
        Err(e) => Err(format!("{s:?} is not a number of ticks per second: {e}")),
    }
}

/// Write `bytes` to `path` through a temporary file renamed into place: a reader never sees a
/// half-written file, and a kill leaves the old one (or none).
pub(crate) fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.partial", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log.as_deref());
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Chat(args) => runtime::chat(args),
        Command::Ask(args) => runtime::ask(args),
        Command::Replay(args) => runtime::replay(args),
        Command::Serve(args) => serve::run(args),
        Command::Node(args) => node::run(args),
        Command::Key(args) => federate::key(args),
        Command::Models(args) => models::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`sage run | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
