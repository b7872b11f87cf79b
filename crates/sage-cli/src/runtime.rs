//! Composition of the runtime: the zoo (a file, or the default model), the platform profile,
//! the llama.cpp loader, the store; and the `chat`, `ask` and `replay` commands.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use clap::Args;
use sage_kernel::State;
use sage_llm::{EngineConfig, Flow, LanguageModel, LlamaEngine, OpenAiModel};
use sage_runtime::route::{Request, Router};
use sage_runtime::{Clock, EngineKind, Loader, LoaderError, ModelSpec, Profile, Residency, SystemClock, Zoo};
use sage_store::{NewMessage, Store};

use crate::engine_args::EngineArgs;
use crate::model_path;

/// Where the models come from and how much memory they may use.
#[derive(Debug, Clone, Args)]
pub struct ZooArgs {
    /// Model zoo (TOML). Default: the one model given by `--model`, `SAGE_MODEL` or the
    /// embedded default.
    #[arg(long, value_name = "FILE")]
    pub zoo: Option<PathBuf>,
    /// Model file or HF folder, when no zoo is given.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Platform profile for the memory budget: thor, legion, sprout or local (default: the
    /// zoo's, else local).
    #[arg(long)]
    pub profile: Option<String>,
    /// SQLite store (default: sage.db in the cache folder).
    #[arg(long, value_name = "FILE")]
    pub store: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Loads zoo models with llama.cpp.
struct EngineLoader {
    config: EngineConfig,
}

impl Loader for EngineLoader {
    fn load(&self, spec: &ModelSpec) -> Result<Arc<dyn LanguageModel>, LoaderError> {
        let unavailable = |message: String| LoaderError::Unavailable { model: spec.id.clone(), message };
        let path = match spec.engine {
            EngineKind::Gguf | EngineKind::Hf => {
                spec.path.clone().ok_or_else(|| unavailable("no path".into()))?
            }
            EngineKind::Openai => return remote(spec),
        };
        let path = model_path::resolve(Some(&path)).map_err(|e| unavailable(format!("{e:#}")))?;
        let mut config = self.config.clone();
        config.context = Some(config.context.unwrap_or(spec.context));
        config.parallel = spec.parallel.unwrap_or(config.parallel);
        config.load = spec.load.unwrap_or(config.load);
        if let Some(file) = &spec.chat_template {
            let text =
                crate::engine_args::read_chat_template(file).map_err(|e| unavailable(format!("{e:#}")))?;
            config.chat_template = Some(text);
        }
        Ok(Arc::new(LlamaEngine::load(&path, Some(&spec.id), config)?) as Arc<dyn LanguageModel>)
    }
}

/// A zoo member served by a remote OpenAI-compatible server (llama-server, vLLM, Ollama, another
/// SAGE): connected and checked at load; its key comes from the variable `api_key_env` names.
fn remote(spec: &ModelSpec) -> Result<Arc<dyn LanguageModel>, LoaderError> {
    let unavailable = |message: String| LoaderError::Unavailable { model: spec.id.clone(), message };
    let url = spec.url.as_deref().ok_or_else(|| unavailable("engine openai needs `url`".into()))?;
    let api_key = match &spec.api_key_env {
        Some(var) => Some(
            std::env::var(var)
                .map_err(|_| unavailable(format!("the API key variable {var} (api_key_env) is not set")))?,
        ),
        None => None,
    };
    let remote_model = spec.remote_model.as_deref().unwrap_or(&spec.id);
    let m = OpenAiModel::connect(&spec.id, url, remote_model, api_key, spec.context, REMOTE_TIMEOUT)?;
    Ok(Arc::new(m))
}

/// How long a remote server may take to answer one request.
const REMOTE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The zoo, profile, residency and store of a command.
pub struct Composed {
    /// Models.
    pub specs: Vec<ModelSpec>,
    /// Profile.
    pub profile: Profile,
    /// Residency.
    pub residency: Arc<Residency>,
    /// Store.
    pub store: Store,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// What was decided for each model (its context window), in words.
    pub notes: Vec<String>,
}

fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(4 << 30, |kb| kb << 10)
}

/// The default zoo: one model, the primary, for every text class. Its window is the trained
/// context capped as [`sage_runtime::default_window`] says (`--ctx` overrides it), and its
/// expected memory counts the KV cache of `sequences` windows. Returns the zoo and what was
/// decided about the window, in words.
fn default_zoo(
    model: Option<&Path>,
    ctx: Option<u32>,
    sequences: u32,
    budget: u64,
) -> anyhow::Result<(Vec<ModelSpec>, String)> {
    let path = model_path::resolve(model)?;
    let id = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "model".into());
    let g = sage_llm::gguf::GgufFile::open(&path).ok();
    let train = g.as_ref().and_then(|g| g.train_context()).unwrap_or(0).min(u32::MAX as u64) as u32;
    let kv_per_token = g.as_ref().and_then(|g| g.kv_bytes_per_token()).unwrap_or(0);
    let (context, mut why) = match ctx {
        Some(n) => (n, format!("context {n} tokens (--ctx; trained {train})")),
        None => sage_runtime::default_window(train, kv_per_token, sequences, budget),
    };
    // A hybrid model's Mamba layers hold a state per sequence, whatever its length.
    let recurrent = g.as_ref().map_or(0, |g| g.recurrent_bytes_per_sequence());
    if recurrent > 0 {
        let total = (recurrent * sequences.max(1) as u64) >> 20;
        why.push_str(&format!("; recurrent state for {} sequences {total} MiB", sequences.max(1)));
    }
    let kv_mib = ((kv_per_token * context as u64 + recurrent) * sequences.max(1) as u64) >> 20;
    let mib = std::fs::metadata(&path).map(|m| (m.len() >> 20) + 64).unwrap_or(512) + kv_mib;
    let specs = vec![ModelSpec {
        id: id.clone(),
        engine: EngineKind::Gguf,
        path: Some(path),
        url: None,
        remote_model: None,
        api_key_env: None,
        role: "primary".into(),
        modalities: vec!["text".into()],
        context,
        parallel: None,
        load: None,
        quality: BTreeMap::from([
            ("text.alert".to_string(), 0.8),
            ("text.question".to_string(), 0.8),
            ("text.chat".to_string(), 0.55),
        ]),
        expected_mib: mib,
        expected_load_s: 0.5,
        keep_alive_s: 600.0,
        pinned: false,
        chat_template: None,
    }];
    Ok((specs, format!("{id}: {why}")))
}

/// Compose the runtime for a command.
pub fn compose(args: &ZooArgs) -> anyhow::Result<Composed> {
    let zoo = match &args.zoo {
        Some(_) if args.engine.chat_template_file.is_some() => {
            anyhow::bail!(
                "--chat-template-file is for the one model of --model; a zoo names a chat_template per model"
            )
        }
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading the zoo {}", p.display()))?;
            let base = p.parent().unwrap_or(Path::new("."));
            Some(Zoo::parse(&text, &p.display().to_string(), base)?)
        }
        None => None,
    };
    let name =
        args.profile.clone().or(zoo.as_ref().map(|z| z.profile.clone())).unwrap_or_else(|| "local".into());
    let profile = match name.as_str() {
        "local" => Profile::local(available_memory()),
        other => Profile::named(other)
            .with_context(|| format!("unknown profile {other} (thor, legion, sprout, local)"))?,
    };
    for file in zoo.iter().flat_map(|z| &z.models).filter_map(|m| m.chat_template.as_deref()) {
        crate::engine_args::read_chat_template(file)?;
    }
    let sequences = args.engine.parallel.unwrap_or(1);
    let (specs, notes) = match zoo {
        Some(z) => {
            let notes = z
                .models
                .iter()
                .map(|m| match args.engine.ctx {
                    Some(n) => format!("{}: context {n} tokens (--ctx)", m.id),
                    None => format!("{}: context {} tokens (the zoo's)", m.id, m.context),
                })
                .collect();
            (z.models, notes)
        }
        None => {
            let (mut specs, note) =
                default_zoo(args.model.as_deref(), args.engine.ctx, sequences, profile.model_bytes)?;
            // The one model's template, as a zoo entry names it (the server shows it).
            if let Some(s) = specs.first_mut() {
                s.chat_template = args.engine.chat_template_file.clone();
            }
            (specs, vec![note])
        }
    };
    let store_path = args.store.clone().unwrap_or_else(|| model_path::cache_dir().join("sage.db"));
    if let Some(dir) = store_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let store = Store::open(&store_path)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
    let loader = Arc::new(EngineLoader { config: args.engine.config()? });
    let residency = Residency::new(&specs, profile.model_bytes, loader, clock.clone());
    // What earlier loads measured is used from the start.
    for s in &specs {
        if let Some(m) = store.measurement(&s.id)? {
            residency.set_measured(&s.id, m.bytes, m.load_s);
        }
    }
    Ok(Composed { specs, profile, residency, store, clock, notes })
}

impl Composed {
    /// Persist what the loads measured.
    pub fn persist_loads(&self, logs: &[sage_runtime::ResidencyLog]) -> anyhow::Result<()> {
        for l in logs {
            if let sage_runtime::ResidencyLog::Load { model, bytes, seconds, t, .. } = l {
                self.store.record_load(model, *bytes, *seconds, *t)?;
            }
        }
        Ok(())
    }
}

/// Arguments of `sage chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Session id: a session continues where it stopped, also after a restart.
    #[arg(long, default_value = "default")]
    pub session: String,
    /// System prompt of a new session.
    #[arg(long)]
    pub system: Option<String>,
    /// Most tokens per reply.
    #[arg(long, default_value_t = 96)]
    pub max_tokens: u32,
    /// A reasoning model's thinking on or off (its chat template's `enable_thinking`, or
    /// Llama-Nemotron's system prompt); default: the model's own.
    #[arg(long, value_enum)]
    pub think: Option<Think>,
    /// Most tokens the model may think before its thinking block is closed for it.
    #[arg(long, value_name = "TOKENS")]
    pub thinking_budget: Option<u32>,
    /// Past the budget, close the block at the thought's next line end within this many more
    /// tokens (NVIDIA's budget control for Nemotron); default 0: exactly at the budget.
    #[arg(long, value_name = "TOKENS", default_value_t = 0, requires = "thinking_budget")]
    pub thinking_grace: u32,
    /// Do not show the thinking (shown on stderr by default; stdout holds the answers alone).
    #[arg(long)]
    pub hide_thinking: bool,
    #[command(flatten)]
    pub zoo: ZooArgs,
}

/// `sage chat --think`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Think {
    #[value(alias = "true")]
    On,
    #[value(alias = "false")]
    Off,
}

impl ChatArgs {
    /// The generation's parameters when thinking is switched or budgeted, else the router's.
    fn params(&self) -> Option<sage_llm::GenerateParams> {
        if self.think.is_none() && self.thinking_budget.is_none() {
            return None;
        }
        let mut p = sage_llm::GenerateParams { logprobs: Some(0), ..Default::default() };
        if let Some(t) = self.think {
            p.template_vars.insert("enable_thinking".into(), (t == Think::On).into());
        }
        p.thinking_budget = self.thinking_budget;
        p.thinking_grace = self.thinking_grace;
        Some(p)
    }
}

/// A reply as it streams: the thinking to stderr (unless hidden), the answer to stdout.
struct ReplyStream {
    splitter: sage_llm::reasoning::Splitter,
    hide_thinking: bool,
    /// Thinking is being shown and its line is not ended.
    thinking: bool,
}

impl ReplyStream {
    fn new(hide_thinking: bool) -> Self {
        Self { splitter: Default::default(), hide_thinking, thinking: false }
    }

    fn push(&mut self, delta: &str) {
        let pieces = self.splitter.push(delta);
        self.show(pieces);
    }

    fn finish(&mut self) {
        let pieces = self.splitter.finish();
        self.show(pieces);
        self.end_thinking();
    }

    fn show(&mut self, pieces: Vec<sage_llm::reasoning::Piece>) {
        use sage_llm::reasoning::Piece;
        for p in pieces {
            match p {
                Piece::Reasoning(_) if self.hide_thinking => {}
                Piece::Reasoning(t) => {
                    let mut err = std::io::stderr();
                    // A block of blank lines (a model that writes "<think>\n</think>" after
                    // thinking was switched off) is no thought to show.
                    let t = if self.thinking { t.as_str() } else { t.trim_start() };
                    if t.is_empty() {
                        continue;
                    }
                    if !self.thinking {
                        let _ = write!(err, "thinking: ");
                        self.thinking = true;
                    }
                    let _ = write!(err, "{t}");
                    let _ = err.flush();
                }
                Piece::Content(c) => {
                    self.end_thinking();
                    let mut out = std::io::stdout();
                    let _ = write!(out, "{c}");
                    let _ = out.flush();
                }
            }
        }
    }

    fn end_thinking(&mut self) {
        if std::mem::take(&mut self.thinking) {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// `sage chat`: an interactive, streaming, multi-turn chat through the router. Reads lines from
/// stdin (`/quit` or end of input ends it).
pub fn chat(args: ChatArgs) -> anyhow::Result<()> {
    let c = compose(&args.zoo)?;
    let mut router = Router::new(c.specs.clone(), c.residency.clone(), c.clock.clone(), 7);
    router.restore_trust(&c.store.load_trust()?);
    let system = args.system.as_deref().unwrap_or("You are SAGE, a helpful robot assistant. Answer briefly.");
    let created = c.store.create_session(&args.session, Some(system), c.clock.now())?;
    let previous = c.store.messages(&args.session)?.len();
    let mut err = std::io::stderr();
    if created {
        writeln!(err, "new session {}; /quit to end", args.session)?;
    } else {
        writeln!(err, "session {} continues ({previous} messages stored); /quit to end", args.session)?;
    }
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.context("reading stdin")?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if text == "/quit" {
            break;
        }
        c.store.append_message(&args.session, &sage_runtime::conversation::user_turn(text), c.clock.now())?;
        let messages = sage_runtime::conversation::load(&c.store, &args.session)?;
        let request = Request {
            class: if text.ends_with('?') { "text.question".into() } else { "text.chat".into() },
            messages,
            conversation: Some(args.session.clone()),
            max_tokens: args.max_tokens,
            atp: 100.0,
            complexity: None,
            params: args.params(),
            raw: false,
            prefix: String::new(),
            tools: vec![],
        };
        write!(out, "sage> ")?;
        out.flush()?;
        let mut stream = ReplyStream::new(args.hide_thinking);
        let mut sink = |d: &str| {
            stream.push(d);
            Flow::Continue
        };
        let served = router.serve(&request, State::Wake, Some(&mut sink));
        stream.finish();
        if served.degraded {
            write!(out, "{}", served.reply)?;
        }
        writeln!(out)?;
        let reply = NewMessage {
            role: "assistant".into(),
            content: served.reply.clone(),
            tokens: served.answer.as_ref().map(|a| a.tokens),
            model: served.answer.as_ref().map(|a| a.model.clone()),
            prompt_tokens: served.answer.as_ref().map(|a| a.timings.prompt_tokens),
            cached_tokens: served.answer.as_ref().map(|a| a.timings.cached_tokens),
            prefill_s: served.answer.as_ref().map(|a| a.timings.prefill_s),
            decode_s: served.answer.as_ref().map(|a| a.timings.decode_s),
            degraded: served.degraded,
        };
        c.store.append_message(&args.session, &reply, c.clock.now())?;
        c.store.log_decision(c.clock.now(), "request", &served)?;
        // Conversation memory: the exchange can be recalled by `sage ask` later.
        c.store.remember(
            c.clock.now(),
            "conversation",
            &args.session,
            &format!("Q: {text} A: {}", served.reply),
            0.5,
        )?;
        if let Some(a) = &served.answer {
            writeln!(
                err,
                "  [{}: {} tokens; prompt {} evaluated, {} reused from the KV cache; {} of {} messages kept]",
                a.model,
                a.tokens,
                a.timings.prompt_tokens,
                a.timings.cached_tokens,
                a.kept_messages,
                request.messages.len()
            )?;
        }
        c.persist_loads(&c.residency.take_log())?;
        c.store.save_trust(&router.trust_rows(c.clock.now()))?;
    }
    Ok(())
}

/// Arguments of `sage ask`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question about SAGE's state and memories.
    pub question: String,
    /// Print JSON (the answer, the memories used, every attempt).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub zoo: ZooArgs,
}

/// `sage ask`: a question answered with retrieved memories in the prompt.
pub fn ask(args: AskArgs) -> anyhow::Result<()> {
    let c = compose(&args.zoo)?;
    let mut router = Router::new(c.specs.clone(), c.residency.clone(), c.clock.clone(), 7);
    router.restore_trust(&c.store.load_trust()?);
    let memories = c.store.memories(1_000_000)?.len();
    let decisions = c.store.decisions(Some("dispatch"), 1_000_000)?.len();
    let mut summary = format!("{memories} memories and {decisions} model answers stored.");
    if let Some(last) = c.store.decisions(Some("run"), 1)?.pop() {
        let b = &last.body;
        summary.push_str(&format!(
            " The last run ({}) took {} ticks, visited {}, ended with ATP {:.1} (lowest {:.1}), attended {} of {} observations, and the language model answered {} times.",
            b["scenario"].as_str().unwrap_or("?"),
            b["ticks"],
            b["visited"].as_array().map(|v| v.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
            b["atp_final"].as_f64().unwrap_or(0.0),
            b["atp_min"].as_f64().unwrap_or(0.0),
            b["attended"],
            b["observations"],
            b["answers"],
        ));
    }
    let (served, used) =
        sage_runtime::ask::ask(&mut router, &c.store, &args.question, &summary, State::Wake, 100.0);
    c.persist_loads(&c.residency.take_log())?;
    if args.json {
        println!("{}", serde_json::json!({"answer": served.reply, "memories": used, "served": served}));
    } else {
        for m in &used {
            println!("memory: {m}");
        }
        println!("{}", served.reply);
    }
    Ok(())
}

/// Arguments of `sage replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// A recording written by `sage run --record FILE`.
    pub recording: PathBuf,
}

/// `sage replay`: reproduce a recorded run's decisions through a fresh kernel (no model).
pub fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.recording)
        .with_context(|| format!("reading {}", args.recording.display()))?;
    if sage_runtime::live::LiveTape::is_live(&text) {
        let tape = sage_runtime::live::LiveTape::parse(&text)
            .with_context(|| format!("parsing {}", args.recording.display()))?;
        let r = tape.replay()?;
        let jobs: usize = tape.ticks.iter().map(|t| t.events.len()).sum();
        println!(
            "replayed {} ticks of the real-time kernel ({jobs} job outcomes delivered): {} identical to the recording; final state {}",
            r.ticks,
            r.ticks - r.mismatches.len(),
            r.final_state
        );
        if let Some(first) = r.mismatches.first() {
            println!("first difference: {first}");
            bail!("the replay differs from the recording");
        }
        return Ok(());
    }
    let rec = sage_runtime::record::parse(&text)
        .with_context(|| format!("parsing {}", args.recording.display()))?;
    let report = sage_runtime::record::replay(&rec)?;
    println!("replayed {} ticks: {} decisions identical to the recording", report.ticks, report.matched);
    for p in &report.problems {
        println!("problem: {p}");
    }
    if let Some((tick, recorded, replayed)) = &report.first_mismatch {
        println!("first difference at tick index {tick}:\n  recorded: {recorded}\n  replayed: {replayed}");
        bail!("the replay differs from the recording");
    }
    if !report.problems.is_empty() {
        bail!("the recording's tape does not match the run");
    }
    Ok(())
}
