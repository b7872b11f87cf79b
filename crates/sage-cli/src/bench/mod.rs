//! `sage bench`: benchmarks with their baselines, one module per subcommand; the harnesses,
//! their goals and report writers are in `sage-bench`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

mod against;
mod attention;
mod constrained;
mod federation;
mod kernel;
mod llm;
mod realtime;
mod routing;
pub mod serve;
mod sse;
mod tools;

/// Arguments of `sage bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Kernel throughput (ticks, expert selection, SNARC) against the Python reference.
    Kernel {
        /// Repetitions per workload (the median is reported).
        #[arg(long, default_value_t = 5)]
        reps: u32,
        /// Milliseconds per repetition.
        #[arg(long, default_value_t = 600)]
        ms: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// A checkout of the Python reference (github.com/dp-web4/HRM): measure it in the same run
        /// and print ratios against that instead of the documented figures.
        #[arg(long, value_name = "DIR")]
        python_ref: Option<PathBuf>,
        /// Python interpreter for the reference (needs numpy).
        #[arg(long, default_value = "python3")]
        python: PathBuf,
    },
    /// Generation through SAGE against raw llama.cpp (same GGUF, threads and settings; each run
    /// in its own process), optionally against HF transformers, and decode speed against the
    /// machine's measured memory bandwidth.
    Llm {
        /// Model file. Default: `SAGE_MODEL`, else the embedded default.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Threads for both engines.
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// Runs per engine (alternating; medians reported).
        #[arg(long, default_value_t = 5)]
        runs: u32,
        /// Tokens to generate per run.
        #[arg(long, default_value_t = 64)]
        gen: usize,
        /// A Python with torch and transformers: also measure HF transformers on the same GGUF.
        #[arg(long)]
        hf_python: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Grammar-constrained generation (a JSON schema, a forced tool call) with the constraint
    /// checked on the chosen token first against the grammar run over every candidate before each
    /// draw (the baseline), alternating in one process on the same model.
    Constrained {
        /// Model file. Default: `SAGE_MODEL`, else the embedded default.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Threads.
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// Runs per way and workload (alternating; medians reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Most tokens per answer.
        #[arg(long, default_value_t = 128)]
        max_tokens: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Tool calling with `tool_choice: "auto"` on generated cases, each answered free (the
    /// baseline) and with the lazy grammar that holds a begun call to the tools' schemas.
    Tools {
        /// Model file. Default: `SAGE_MODEL`, else the embedded default.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Threads.
        #[arg(long, default_value_t = 2)]
        threads: u32,
        /// First case seed.
        #[arg(long, default_value_t = 0)]
        seeds_from: u64,
        /// Cases.
        #[arg(long, default_value_t = 40)]
        cases: u64,
        /// Sampled answers per case and way (t 0.8) besides the greedy one.
        #[arg(long, default_value_t = 1)]
        samples: usize,
        /// Most tokens per answer.
        #[arg(long, default_value_t = 96)]
        max_tokens: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Every answer, both ways, on stderr.
        #[arg(long)]
        show: bool,
    },
    /// The real-time kernel against the lock-step kernel on mixed robot input with the model
    /// answering; crisis-to-cancellation latency; input capacity over Zenoh; a question over
    /// Zenoh to `sage node` against the same over HTTP to `sage serve`.
    Realtime {
        /// Seconds of the real-time phase.
        #[arg(long, default_value_t = 300.0)]
        seconds: f64,
        /// Seconds of the lock-step phase.
        #[arg(long, default_value_t = 60.0)]
        lockstep_seconds: f64,
        /// Ticks per second.
        #[arg(long, default_value_t = 20.0, value_parser = crate::tick_rate)]
        hz: f64,
        /// Seconds between crises (each signalled while a job generates).
        #[arg(long, default_value_t = 10.0)]
        crisis_every: f64,
        /// Seconds of each capacity phase.
        #[arg(long, default_value_t = 10.0)]
        capacity_seconds: f64,
        /// Questions over each of Zenoh and HTTP.
        #[arg(long, default_value_t = 20)]
        questions: usize,
        /// Skip the end-to-end phase.
        #[arg(long)]
        no_e2e: bool,
        /// Seconds between questions in the mixed input (often enough to keep the model busy).
        #[arg(long, default_value_t = 0.25)]
        text_every: f64,
        #[command(flatten)]
        zoo: crate::runtime::ZooArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Attention on the labelled scenario: recall of salient events and compute skipped.
    Attention {
        /// A labelled scenario (default: the bundled scenarios/attention.jsonl).
        scenario: Option<PathBuf>,
        /// Run the whole loop with the language model answering (and scoring ambiguous text)
        /// instead of the kernel's built-in plugins.
        #[arg(long)]
        with_model: bool,
        #[command(flatten)]
        zoo: crate::runtime::ZooArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Instead of one scenario, every generated scenario family on held-out seeds: recall,
        /// precision and compute skipped per family, the worst first.
        #[arg(long, conflicts_with_all = ["scenario", "with_model"])]
        families: bool,
        /// Scenarios per family (1 to 1,000).
        #[arg(long, default_value_t = 10, requires = "families", value_parser = clap::value_parser!(u64).range(1..=1000))]
        seeds: u64,
        /// Use the tuning seeds instead of the held-out ones.
        #[arg(long, requires = "families")]
        tuning: bool,
    },
    /// Routing on a simulated zoo of scripted engines, against always-best, always-cheapest and
    /// random.
    Routing {
        /// Requests.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Seed of the request stream and the router (the first of `--seeds`).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also run this many further seeds and print the worst and mean ratios over all.
        #[arg(long, default_value_t = 4)]
        more_seeds: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Instead, every family of simulated zoos (random zoos, zoos whose classes differ in difficulty, a quality drop, a burst of
        /// garbage, a model fast but wrong on one class) on held-out seeds, against always-best,
        /// always-cheapest, random and an oracle.
        #[arg(long)]
        families: bool,
        /// Seeds per family (with `--families`; 1 to 1,000).
        #[arg(long, default_value_t = 5, requires = "families", value_parser = clap::value_parser!(u64).range(1..=1000))]
        family_seeds: u64,
        /// Use the tuning seeds instead of the held-out ones (with `--families`).
        #[arg(long, requires = "families")]
        tuning: bool,
    },
    /// `sage serve` under 1, 4 and 8 concurrent streams: time to first token, inter-token and
    /// end-to-end latency, throughput, and 429s beyond capacity.
    Serve {
        /// Concurrent streams to measure.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 4, 8])]
        streams: Vec<usize>,
        /// Requests per stream.
        #[arg(long, default_value_t = 6)]
        per_stream: usize,
        /// Tokens per answer.
        #[arg(long, default_value_t = 32)]
        max_tokens: u32,
        /// Sampling temperature (0: greedy).
        #[arg(long, default_value_t = 0.0)]
        temperature: f32,
        /// Instead, `sage serve` (a child process) against another OpenAI-compatible server at
        /// this URL (llama.cpp's `llama-server` built by `tools/llama-server/build.sh`, serving
        /// the same model with the same threads, context and parallel sequences), the same
        /// clients for both.
        #[arg(long, value_name = "URL")]
        against: Option<String>,
        /// The other server's process id, for its peak memory.
        #[arg(long, requires = "against")]
        against_pid: Option<u32>,
        /// Parallel sequences of both servers (with `--against`).
        #[arg(long, default_value_t = 8)]
        against_parallel: u32,
        /// Threads of both servers (with `--against`).
        #[arg(long, default_value_t = 2)]
        against_threads: u32,
        /// Context per sequence of both servers (with `--against`).
        #[arg(long, default_value_t = 1024)]
        against_ctx: u32,
        /// Rounds per stream count (with `--against`): the two servers take turns, the first
        /// alternating, so that a drift of the machine's speed falls on both alike; figures sum
        /// the rounds, and each round's ratio is shown.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        zoo: crate::runtime::ZooArgs,
    },
    /// Federation on loopback: time to first token and inter-token latency through a peer
    /// against the same model locally; from a serving node's SIGKILL (and SIGSTOP) to the
    /// client's next piece. With `--routing`: the selector across a simulated federation.
    Federation {
        /// Requests each way in the hop phase.
        #[arg(long, default_value_t = 20)]
        requests: usize,
        /// Serving nodes killed with SIGKILL mid-answer.
        #[arg(long, default_value_t = 10)]
        kills: usize,
        /// Serving nodes frozen with SIGSTOP mid-answer.
        #[arg(long, default_value_t = 3)]
        freezes: usize,
        /// Silence after which the asking node gives a peer up, ms.
        #[arg(long, default_value_t = 1000)]
        stall_ms: u64,
        /// Tokens per answer in the hop phase.
        #[arg(long, default_value_t = 32)]
        max_tokens: u32,
        /// Instead, routing on simulated heterogeneous federations (held-out seeds).
        #[arg(long)]
        routing: bool,
        /// Seeds of the routing simulation (1 to 1,000).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
        seeds: u64,
        /// Use the tuning seeds of the routing simulation.
        #[arg(long)]
        tuning: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        zoo: crate::runtime::ZooArgs,
    },
    /// One measured run in this process (used by `sage bench llm`).
    #[command(hide = true)]
    LlmChild {
        #[arg(long)]
        engine: String,
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        threads: u32,
        #[arg(long)]
        gen: usize,
        /// Raw llama.cpp reads the file instead of mapping it.
        #[arg(long)]
        read: bool,
    },
}

/// Run the command.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.what {
        What::Federation {
            requests,
            kills,
            freezes,
            stall_ms,
            max_tokens,
            routing,
            seeds,
            tuning,
            json,
            zoo,
        } => {
            if routing {
                federation::routing(seeds, tuning, json)
            } else {
                federation::run(
                    &zoo,
                    federation::Settings { requests, kills, freezes, stall_ms, max_tokens },
                    json,
                )
            }
        }
        What::Serve {
            streams,
            per_stream,
            max_tokens,
            temperature,
            against,
            against_pid,
            against_parallel,
            against_threads,
            against_ctx,
            rounds,
            json,
            zoo,
        } => match against {
            Some(url) => against::run(
                &zoo,
                &against::Against {
                    url,
                    pid: against_pid,
                    streams,
                    per_stream,
                    max_tokens,
                    parallel: against_parallel,
                    threads: against_threads,
                    ctx: against_ctx,
                    rounds,
                },
                json,
            ),
            None => serve::run(&zoo, &streams, serve::Workload { per_stream, max_tokens, temperature }, json),
        },
        What::Realtime {
            seconds,
            lockstep_seconds,
            hz,
            crisis_every,
            capacity_seconds,
            questions,
            no_e2e,
            text_every,
            zoo,
            json,
        } => realtime::run(
            &zoo,
            realtime::Settings {
                seconds,
                lockstep_seconds,
                hz,
                crisis_every,
                capacity_seconds,
                questions,
                no_e2e,
                text_every,
            },
            json,
        ),
        What::Attention { families: true, seeds, tuning, json, .. } => {
            attention::families(seeds, tuning, json)
        }
        What::Attention { scenario, json, with_model, zoo, .. } => {
            attention::run(scenario, json, with_model, &zoo)
        }
        What::Routing { families: true, family_seeds, tuning, json, .. } => {
            routing::families(family_seeds, tuning, json)
        }
        What::Routing { requests, seed, more_seeds, json, .. } => {
            routing::run(requests, seed, more_seeds, json)
        }
        What::LlmChild { engine, model, threads, gen, read } => {
            llm::child_run(&engine, &model, threads, gen, read)
        }
        What::Llm { model, threads, runs, gen, hf_python, json } => {
            llm::run(model, llm::Settings { threads, runs, gen }, hf_python, json)
        }
        What::Constrained { model, threads, runs, max_tokens, json } => {
            constrained::run(model, threads, runs, max_tokens, json)
        }
        What::Tools { model, threads, seeds_from, cases, samples, max_tokens, json, show } => {
            tools::run(model, threads, seeds_from..seeds_from + cases, samples, max_tokens, json, show)
        }
        What::Kernel { reps, ms, json, python_ref, python } => {
            kernel::run(reps, ms, json, python_ref, python)
        }
    }
}

/// The `p`th percentile of `v` (nearest rank; NaN when empty).
fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((p / 100.0) * (v.len() - 1) as f64).round() as usize]
}
