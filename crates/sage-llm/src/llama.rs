//! The llama.cpp engine, in-process through `llama-cpp-2`.
//!
//! Each loaded model lives on its own worker thread, which owns the one context all its sessions
//! share (the context borrows the model, so both stay on one stack; no unsafe code) and decodes
//! every concurrent generation in one batch per step (`batching`). Callers talk to it over
//! channels; generation streams events back as they happen, and a caller that stops listening
//! stops its generation at the next step. Tokenizing reads the shared vocabulary directly.
//!
//! One process-wide llama.cpp backend is initialised on first use, and llama.cpp's logs are sent to
//! `tracing` (target `llama-cpp-2`), so a subscriber decides what is shown.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};

use crate::error::{GenerateError, LoadError, TokenizeError};
use crate::gguf::{GgufFile, Value};
use crate::model::{LanguageModel, SessionId};
use crate::types::{
    Constraint, EngineStats, Event, FinishReason, Flow, GenerateParams, Generation, ModelInfo, Sampling,
    Timings, TokenId, TokenOut,
};

mod abort;
mod batching;
pub use batching::held_back;
mod embed;
pub(crate) mod hparams;
pub use hparams::{MAX_EXPERTS, MAX_LAYERS};
mod logits;
mod samplers;
pub(crate) use samplers::{Gate, Samplers};
pub mod weights;

use batching::{Pending, Scheduler};
pub use weights::{LoadMode, LoadPlan};

/// KV cache precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvType {
    /// 32-bit floats (exact, twice the memory).
    F32,
    /// 16-bit floats (llama.cpp's default).
    F16,
    /// 8-bit quantised (half of F16).
    Q8_0,
}

/// Flash attention policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlashAttention {
    /// Let llama.cpp decide.
    Auto,
    /// On.
    On,
    /// Off.
    Off,
}

/// How to run a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// Threads for decoding (default: the machine's cores).
    pub threads: Option<u32>,
    /// Threads for prompt evaluation (default: same as `threads`).
    pub threads_batch: Option<u32>,
    /// Context window per session (default: min(model's training context, 4096)).
    pub context: Option<u32>,
    /// Sequences decoded together (continuous batching); the KV cache holds `context` cells for
    /// each of them, shared (default 1: raise it for concurrent use).
    pub parallel: u32,
    /// Logical batch size for prompt evaluation.
    pub batch: u32,
    /// Physical batch size.
    pub ubatch: u32,
    /// KV cache precision.
    pub kv_type: KvType,
    /// Flash attention.
    pub flash_attention: FlashAttention,
    /// How the weights come into memory (mapped or read; `Auto` decides per model, see
    /// `weights`).
    pub load: LoadMode,
    /// Lock the weights in RAM.
    pub mlock: bool,
    /// Layers to offload to the GPU (needs the `cuda` feature).
    pub gpu_layers: u32,
    /// A chat template (Jinja) in place of the file's `tokenizer.chat_template` (llama-server's
    /// `--chat-template-file`, Ollama's `TEMPLATE`); checked when the model loads.
    pub chat_template: Option<String>,
    /// Longest the grammar's judging of one token's candidates may take before the generation
    /// ends with a typed error (default [`MAX_GRAMMAR_STEP`]; raise it on a slow CPU).
    pub grammar_step_limit: std::time::Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            threads: None,
            threads_batch: None,
            context: None,
            parallel: 1,
            batch: 512,
            ubatch: 512,
            kv_type: KvType::F16,
            flash_attention: FlashAttention::Auto,
            load: LoadMode::Auto,
            mlock: false,
            gpu_layers: 0,
            chat_template: None,
            grammar_step_limit: MAX_GRAMMAR_STEP,
        }
    }
}

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

/// The process-wide llama.cpp backend (initialised once; llama.cpp logs go to `tracing`).
fn backend() -> Result<&'static LlamaBackend, String> {
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Initialise the backend for tools that call llama.cpp directly (quantization).
pub(crate) fn backend_for_tools() -> Result<(), String> {
    backend().map(|_| ())
}

/// Whether a constraint can be compiled before any model sees it: a JSON schema must convert to
/// a grammar (checked without a model, so that a server refuses a bad schema as the client's
/// error instead of counting it against the model). A grammar must be within the limits and
/// parse; only its `<text>` token references wait for a model's vocabulary.
pub fn check_constraint(c: &Constraint) -> Result<(), ConstraintError> {
    match c {
        Constraint::JsonSchema(schema) => {
            schema_to_grammar(schema).map(|_| ()).map_err(ConstraintError::Schema)
        }
        Constraint::Grammar(g) => {
            grammar_within_limits(g).map_err(ConstraintError::Grammar)?;
            crate::grammar::check(g).map_err(|e| ConstraintError::Syntax(e.to_string()))
        }
    }
}

/// Most `$ref`s a JSON schema may hold: llama.cpp's converter follows a chain of them
/// recursively (2,000 in a chain overflowed a 2 MiB stack, a request that killed the server), so
/// it runs on a thread of its own with 64 MiB, and at most this many.
pub const MAX_SCHEMA_REFS: usize = 10_000;

/// A JSON schema as a GBNF grammar, by llama.cpp's converter (see [`MAX_SCHEMA_REFS`]); the
/// reason when it cannot be.
pub fn schema_to_grammar(schema: &serde_json::Value) -> Result<String, String> {
    let refs = count_refs(schema);
    if refs > MAX_SCHEMA_REFS {
        return Err(format!("{refs} $refs, more than {MAX_SCHEMA_REFS}"));
    }
    let text = schema.to_string();
    std::thread::scope(|scope| {
        let converter = std::thread::Builder::new()
            .name("json-schema".into())
            .stack_size(64 << 20)
            .spawn_scoped(scope, || llama_cpp_2::json_schema_to_grammar(&text).map_err(|e| e.to_string()))
            .map_err(|e| format!("cannot start a thread for the conversion: {e}"))?;
        converter.join().map_err(|_| "the conversion panicked".to_string())?
    })
}

/// How many `$ref` keys a JSON value holds, at any depth (walked without recursion).
fn count_refs(v: &serde_json::Value) -> usize {
    let (mut n, mut todo) = (0, vec![v]);
    while let Some(v) = todo.pop() {
        match v {
            serde_json::Value::Object(m) => {
                n += m.contains_key("$ref") as usize;
                todo.extend(m.values());
            }
            serde_json::Value::Array(a) => todo.extend(a),
            _ => {}
        }
    }
    n
}

/// Longest the grammar's judging of one token's candidates may take, by default
/// ([`EngineConfig::grammar_step_limit`]). The matcher
/// ([`crate::grammar`]) looks at the clock while it judges and stops past this: the generation
/// ends with a typed error. llama.cpp's matcher, used before, merged no equal stacks, so an
/// ambiguous grammar multiplied its work with every token and could not be interrupted (19 s
/// for one token of a run of 200 `"a"?`, minutes for a loop over equal alternatives); ours
/// merges them, and no grammar tried since comes near this limit. Set far above what the
/// default model's JSON schemas and tool calls take, for slower edge CPUs.
pub const MAX_GRAMMAR_STEP: std::time::Duration = std::time::Duration::from_millis(1000);

pub use crate::grammar::{grammar_within_limits, MAX_GRAMMAR_NESTING, MAX_GRAMMAR_RULES};

/// A constraint that cannot be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConstraintError {
    /// The JSON schema does not convert to a grammar.
    #[error("llama.cpp cannot turn the schema into a grammar ({0})")]
    Schema(String),
    /// The grammar is beyond what the engine takes.
    #[error("the grammar is too large for the engine: {0}")]
    Grammar(String),
    /// The grammar does not parse.
    #[error("{0}")]
    Syntax(String),
}

/// Resident set size of this process, bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|x| x.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

type Reply<T> = SyncSender<T>;

enum Job {
    Open {
        context: Option<u32>,
        reply: Reply<Result<(SessionId, u32), GenerateError>>,
    },
    Close {
        session: SessionId,
    },
    Generate {
        session: SessionId,
        prompt: Vec<TokenId>,
        params: Box<GenerateParams>,
        events: Sender<WorkerEvent>,
    },
    Logits {
        session: SessionId,
        tokens: Vec<TokenId>,
        last_only: bool,
        reply: Reply<Result<Vec<Vec<f32>>, GenerateError>>,
    },
    Embed {
        texts: Vec<Vec<TokenId>>,
        reply: Reply<Result<Vec<Vec<f32>>, GenerateError>>,
    },
}

enum WorkerEvent {
    Prompt { evaluated: u32, cached: u32 },
    Token { token: TokenOut, delta: String },
    Done(Result<Generation, GenerateError>),
}

/// A model loaded into llama.cpp.
pub struct LlamaEngine {
    info: ModelInfo,
    /// The weights and vocabulary, shared with the worker: tokenizing needs no trip through
    /// the worker's queue (it would wait for a decode step).
    model: Arc<LlamaModel>,
    /// What the worker is doing, published after every step.
    stats: Arc<Mutex<EngineStats>>,
    jobs: Mutex<Option<Sender<Job>>>,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// [`EngineConfig::grammar_step_limit`].
    grammar_step_limit: std::time::Duration,
}

impl std::fmt::Debug for LlamaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaEngine").field("info", &self.info).finish()
    }
}

fn meta_u32(g: &GgufFile, key: &str) -> u32 {
    g.arch_value(key).and_then(Value::as_u64).unwrap_or(0) as u32
}

/// Why `config` cannot run model `id`, if it cannot: sizes out of range, or a chat template
/// given in its place that does not parse.
fn check_settings(id: &str, config: &EngineConfig) -> Result<(), String> {
    if config.batch == 0 || config.ubatch == 0 || config.context == Some(0) || config.parallel == 0 {
        return Err("batch, ubatch, context and parallel must be positive".into());
    }
    if config.parallel > 64 || config.parallel > config.batch {
        return Err(format!(
            "parallel {} must be at most 64 and at most the batch size {}",
            config.parallel, config.batch
        ));
    }
    if config.grammar_step_limit.is_zero() {
        return Err("the grammar's limit per token must be positive".into());
    }
    if let Some(t) = &config.chat_template {
        crate::template::check_syntax(id, t).map_err(|e| format!("the chat template given for it: {e}"))?;
    }
    Ok(())
}

impl LlamaEngine {
    /// Validate `path` as GGUF, load it into llama.cpp on a worker thread and wait until it is
    /// ready. `id` names the model in logs and errors (default: the file stem).
    pub fn load(path: impl AsRef<Path>, id: Option<&str>, config: EngineConfig) -> Result<Self, LoadError> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(LoadError::NotFound(path));
        }
        let id = id.map(str::to_string).unwrap_or_else(|| {
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
        });
        if let Err(message) = check_settings(&id, &config) {
            return Err(LoadError::Settings { path, message });
        }
        let start = Instant::now();
        let gguf = GgufFile::open(&path)?;
        let arch = gguf.architecture().unwrap_or("").to_string();
        if arch.is_empty() {
            return Err(LoadError::Engine {
                path,
                message: "no general.architecture in the metadata".into(),
            });
        }
        if let Some(why) = hparams::check(&gguf) {
            return Err(LoadError::Engine {
                path,
                message: format!("refused before llama.cpp saw it: {why}"),
            });
        }
        let mut info = ModelInfo {
            id: id.clone(),
            path: path.clone(),
            architecture: arch.clone(),
            name: gguf.get("general.name").and_then(Value::as_str).map(str::to_string),
            parameters: gguf.parameters(),
            weight_bytes: gguf.tensor_bytes(),
            train_context: meta_u32(&gguf, "context_length"),
            vocab: 0,
            layers: meta_u32(&gguf, "block_count"),
            chat_template: config.chat_template.clone().or_else(|| gguf.chat_template().map(str::to_string)),
            // Token texts come from llama.cpp once the vocabulary is loaded.
            bos: None,
            eos: None,
            load_s: 0.0,
            resident_bytes: 0,
            weights: None,
            embedding_only: gguf.get(&format!("{arch}.attention.causal")).and_then(Value::as_bool)
                == Some(false),
        };
        let n_swa = meta_u32(&gguf, "attention.sliding_window");
        let plan = LoadPlan::for_file(&gguf, config.load, config.gpu_layers);
        tracing::debug!(model = %id, "{}", plan.reason());
        info.weights = Some(plan.reason());
        // The worker gets the decision, not the policy.
        let mut config =
            EngineConfig { load: if plan.mmap { LoadMode::Mmap } else { LoadMode::Read }, ..config };
        if info.embedding_only {
            // It never generates: the generation context is kept to its least (its embeddings
            // have a context of their own), not a window per sequence it would never fill.
            config.context = Some(64.min(info.train_context.max(16)));
            config.parallel = 1;
        }
        drop(gguf);
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let thread_path = path.clone();
        let stats = Arc::new(Mutex::new(EngineStats::default()));
        let worker_stats = Arc::clone(&stats);
        let grammar_step_limit = config.grammar_step_limit;
        let worker = std::thread::Builder::new()
            .name(format!("llama:{id}"))
            // Grammars are parsed recursively (see `MAX_GRAMMAR_NESTING`, `grammar::PARSE_STACK`):
            // room for four times what the deepest allowed took in a debug build (pages are
            // touched only as used).
            .stack_size(16 << 20)
            .spawn(move || worker(thread_path, id, config, n_swa, worker_stats, ready_tx, jobs_rx))
            .map_err(|e| LoadError::Engine {
                path: path.clone(),
                message: format!("cannot start a thread: {e}"),
            })?;
        let ready = ready_rx.recv().map_err(|_| LoadError::Engine {
            path: path.clone(),
            message: "the engine thread stopped while loading".into(),
        })?;
        let loaded = ready?;
        info.vocab = loaded.vocab;
        info.bos = loaded.bos;
        info.eos = loaded.eos;
        info.resident_bytes = loaded.resident_bytes;
        if info.train_context == 0 {
            info.train_context = loaded.train_context;
        }
        info.load_s = start.elapsed().as_secs_f64();
        tracing::info!(
            model = %info.id,
            load_s = info.load_s,
            resident_mb = info.resident_bytes >> 20,
            weights = info.weights.as_deref().unwrap_or(""),
            "model loaded"
        );
        Ok(Self {
            info,
            model: loaded.model,
            stats,
            jobs: Mutex::new(Some(jobs_tx)),
            worker: Mutex::new(Some(worker)),
            grammar_step_limit,
        })
    }

    fn send(&self, job: Job) -> Result<(), GenerateError> {
        let gone = || GenerateError::EngineGone { model: self.info.id.clone() };
        let guard = self.jobs.lock().map_err(|_| gone())?;
        guard.as_ref().ok_or_else(gone)?.send(job).map_err(|_| gone())
    }

    /// The vocabulary, used from the caller's thread (llama.cpp's tokenizer is read-only).
    fn vocab(&self) -> Worker<'_> {
        Worker::new(&self.model, &self.info.id, self.info.vocab, self.grammar_step_limit)
    }
}

impl Drop for LlamaEngine {
    fn drop(&mut self) {
        if let Ok(mut g) = self.jobs.lock() {
            g.take();
        }
        if let Ok(mut w) = self.worker.lock() {
            if let Some(h) = w.take() {
                let _ = h.join();
            }
        }
    }
}

impl LanguageModel for LlamaEngine {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<TokenId>, TokenizeError> {
        Ok(self.vocab().tokenize(text, add_bos))
    }

    fn detokenize(&self, tokens: &[TokenId]) -> Result<String, TokenizeError> {
        self.vocab().detokenize(tokens)
    }

    fn open_session(&self, context: Option<u32>) -> Result<(SessionId, u32), GenerateError> {
        if self.info.embedding_only {
            return Err(GenerateError::EmbeddingOnly { model: self.info.id.clone() });
        }
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Job::Open { context, reply: tx })?;
        rx.recv().map_err(|_| GenerateError::EngineGone { model: self.info.id.clone() })?
    }

    fn close_session(&self, session: SessionId) {
        let _ = self.send(Job::Close { session });
    }

    fn generate_tokens(
        &self,
        session: SessionId,
        prompt: &[TokenId],
        params: &GenerateParams,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Generation, GenerateError> {
        let (tx, rx) = mpsc::channel();
        self.send(Job::Generate {
            session,
            prompt: prompt.to_vec(),
            params: Box::new(params.clone()),
            events: tx,
        })?;
        // Dropping `rx` (returning early) tells the worker to stop. What was received until
        // then is returned, so a caller that stops loses nothing it saw.
        let mut seen: Vec<TokenOut> = vec![];
        let mut text = String::new();
        let mut timings = Timings::default();
        for ev in rx.iter() {
            match ev {
                WorkerEvent::Prompt { evaluated, cached } => {
                    timings.prompt_tokens = evaluated;
                    timings.cached_tokens = cached;
                    if on_event(Event::PromptDone { evaluated, cached }) == Flow::Stop {
                        return Ok(Generation {
                            text,
                            tokens: seen,
                            finish: FinishReason::Cancelled,
                            timings,
                        });
                    }
                }
                WorkerEvent::Token { token, delta } => {
                    let stop = on_event(Event::Token { token: &token, delta: &delta }) == Flow::Stop;
                    text.push_str(&delta);
                    seen.push(token);
                    if stop {
                        timings.generated_tokens = seen.len() as u32;
                        return Ok(Generation {
                            text,
                            tokens: seen,
                            finish: FinishReason::Cancelled,
                            timings,
                        });
                    }
                }
                WorkerEvent::Done(result) => return result,
            }
        }
        Err(GenerateError::EngineGone { model: self.info.id.clone() })
    }

    fn stats(&self) -> Option<EngineStats> {
        Some(*self.stats.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn logits(&self, session: SessionId, tokens: &[TokenId]) -> Result<Vec<Vec<f32>>, GenerateError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Job::Logits { session, tokens: tokens.to_vec(), last_only: false, reply: tx })?;
        rx.recv().map_err(|_| GenerateError::EngineGone { model: self.info.id.clone() })?
    }

    fn next_logits(&self, session: SessionId, tokens: &[TokenId]) -> Result<Vec<f32>, GenerateError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Job::Logits { session, tokens: tokens.to_vec(), last_only: true, reply: tx })?;
        let rows = rx.recv().map_err(|_| GenerateError::EngineGone { model: self.info.id.clone() })??;
        rows.into_iter().next().ok_or_else(|| GenerateError::EmptyPrompt { model: self.info.id.clone() })
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, GenerateError> {
        let texts = texts.iter().map(|t| self.tokenize(t, true)).collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Job::Embed { texts, reply: tx })?;
        rx.recv().map_err(|_| GenerateError::EngineGone { model: self.info.id.clone() })?
    }
}

struct Loaded {
    model: Arc<LlamaModel>,
    vocab: u32,
    bos: Option<String>,
    eos: Option<String>,
    train_context: u32,
    resident_bytes: u64,
}

fn default_threads() -> u32 {
    std::thread::available_parallelism().map_or(4, |n| n.get() as u32)
}

fn context_params(config: &EngineConfig, n_ctx: u32) -> LlamaContextParams {
    let threads = config.threads.unwrap_or_else(default_threads).max(1) as i32;
    let threads_batch = config.threads_batch.map_or(threads, |t| t.max(1) as i32);
    let kv = match config.kv_type {
        KvType::F32 => KvCacheType::F32,
        KvType::F16 => KvCacheType::F16,
        KvType::Q8_0 => KvCacheType::Q8_0,
    };
    let fa = match config.flash_attention {
        FlashAttention::Auto => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_AUTO,
        FlashAttention::On => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED,
        FlashAttention::Off => llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED,
    };
    LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_seq_max(config.parallel)
        // A stream of cells per sequence, so that a sequence's attention spans its own cells
        // only (one pool for all made every token attend over every sequence's cells, masked:
        // decision 0018). A prefix is shared by copying the stream (`Scheduler::borrow`).
        .with_kv_unified(false)
        // Sliding-window layers keep only their window per sequence (Gemma 3: 15 of 18 layers),
        // not the whole context: a fifth of the KV memory with four sequences. A prefix is then
        // reusable only where the window's cells are still there (checked before reuse).
        .with_swa_full(false)
        .with_n_batch(config.batch.min(n_ctx))
        .with_n_ubatch(config.ubatch.min(config.batch).min(n_ctx))
        .with_n_threads(threads)
        .with_n_threads_batch(threads_batch)
        .with_type_k(kv)
        .with_type_v(kv)
        .with_flash_attention_policy(fa)
}

/// The engine's thread: load the model and its context, say so on `ready`, then serve `jobs`
/// until every handle is gone.
fn worker(
    path: PathBuf,
    id: String,
    config: EngineConfig,
    n_swa: u32,
    stats: Arc<Mutex<EngineStats>>,
    ready: SyncSender<Result<Loaded, LoadError>>,
    jobs: Receiver<Job>,
) {
    let backend = match backend() {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(LoadError::Engine { path, message: e }));
            return;
        }
    };
    let rss0 = rss_bytes();
    let model = match load_model(backend, &path, &config) {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let (ctx, window) = match new_context(backend, &model, &path, &config) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let loaded = describe(&model, rss_bytes().saturating_sub(rss0));
    if ready.send(Ok(loaded)).is_err() {
        return;
    }
    let threads = config.threads.unwrap_or_else(default_threads).max(1) as i32;
    let decode_threads = config.threads_batch.map_or(threads, |t| t.max(1) as i32).max(threads) as usize;
    let w = Worker::new(&model, &id, model.vocab().n_tokens().max(0) as u32, config.grammar_step_limit);
    let sched = Scheduler::new(w, ctx, config.parallel, n_swa, decode_threads, stats);
    serve(Served { model: &model, backend, id: &id, threads, window }, sched, &jobs);
}

/// The model file at `path`, loaded as `config` says.
fn load_model(
    backend: &LlamaBackend,
    path: &Path,
    config: &EngineConfig,
) -> Result<Arc<LlamaModel>, LoadError> {
    let params = LlamaModelParams::default()
        .with_use_mmap(config.load != LoadMode::Read)
        .with_use_mlock(config.mlock)
        .with_n_gpu_layers(config.gpu_layers);
    LlamaModel::load_from_file(backend, path, &params).map(Arc::new).map_err(|e| LoadError::Engine {
        path: path.to_path_buf(),
        message: format!("{e} (see the log with --log debug for llama.cpp's reason)"),
    })
}

/// One context for every session: `parallel` sequences of a window of cells each, allocated
/// now so that its memory is part of the measured load. With the window.
fn new_context<'m>(
    backend: &LlamaBackend,
    model: &'m LlamaModel,
    path: &Path,
    config: &EngineConfig,
) -> Result<(llama_cpp_2::context::LlamaContext<'m>, u32), LoadError> {
    let train = model.n_ctx_train();
    let window = config.context.unwrap_or_else(|| train.clamp(1, 4096)).max(16);
    if train > 0 && window > train {
        return Err(LoadError::Settings {
            path: path.to_path_buf(),
            message: format!("a context of {window} tokens exceeds the {train} the model was trained for"),
        });
    }
    let cells = window.saturating_mul(config.parallel);
    let ctx = model.new_context(backend, context_params(config, cells)).map_err(|e| LoadError::Engine {
        path: path.to_path_buf(),
        message: format!(
            "cannot create a KV cache of {cells} cells ({window} x {} sequences): {e}",
            config.parallel
        ),
    })?;
    Ok((ctx, window))
}

/// What the engine reports of the model it loaded (`resident_bytes`: what loading it added).
fn describe(model: &Arc<LlamaModel>, resident_bytes: u64) -> Loaded {
    let vocab = model.vocab();
    let piece = |t: LlamaToken| String::from_utf8_lossy(&vocab.token_to_piece(t, true, None)).into_owned();
    let n_vocab = vocab.n_tokens().max(0) as u32;
    let known = |t: LlamaToken| t.0 >= 0 && (t.0 as u32) < n_vocab;
    Loaded {
        model: Arc::clone(model),
        vocab: n_vocab,
        bos: known(vocab.bos()).then(|| piece(vocab.bos())),
        eos: known(vocab.eos()).then(|| piece(vocab.eos())),
        train_context: model.n_ctx_train(),
        resident_bytes,
    }
}

/// What the serving loop needs of the loaded engine besides its scheduler.
struct Served<'m> {
    model: &'m LlamaModel,
    backend: &'m LlamaBackend,
    id: &'m str,
    threads: i32,
    /// A session's context when it asks for none.
    window: u32,
}

/// Serve `jobs` until every handle is gone: block for work only when nothing is generating;
/// otherwise take what has arrived and go on stepping.
fn serve(e: Served<'_>, mut sched: Scheduler<'_>, jobs: &Receiver<Job>) {
    // Created on the first embedding request.
    let mut embed_ctx = None;
    loop {
        let job = if sched.idle() {
            match jobs.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        } else {
            match jobs.try_recv() {
                Ok(j) => j,
                Err(TryRecvError::Empty) => {
                    sched.step();
                    continue;
                }
                Err(TryRecvError::Disconnected) => return,
            }
        };
        match job {
            Job::Open { context, reply } => {
                let _ = reply.send(open_session(&e, &mut sched, context));
            }
            Job::Close { session } => sched.close(session),
            Job::Generate { session, prompt, params, events } => {
                sched.submit(Pending::Generate { session, prompt, params, events, start: Instant::now() })
            }
            Job::Logits { session, tokens, last_only, reply } => {
                sched.submit(Pending::Logits { session, tokens, last_only, reply })
            }
            Job::Embed { texts, reply } => {
                let _ = reply.send(embed::embed(e.model, e.backend, &mut embed_ctx, e.id, e.threads, &texts));
            }
        }
    }
}

/// A session of `context` tokens (the engine's window where none is asked), within what the
/// model was trained for: its id and its window.
fn open_session(
    e: &Served<'_>,
    sched: &mut Scheduler<'_>,
    context: Option<u32>,
) -> Result<(SessionId, u32), GenerateError> {
    let n = context.unwrap_or(e.window).max(16);
    let train = e.model.n_ctx_train();
    if train > 0 && n > train {
        return Err(GenerateError::InvalidParams {
            model: e.id.to_string(),
            message: format!("a context of {n} tokens exceeds the {train} the model was trained for"),
        });
    }
    sched.open(n)
}

/// A model's vocabulary as the grammar matcher reads it: every token's text as llama.cpp renders
/// it for its own grammar (special tokens as their text) and whether it ends a generation.
pub fn grammar_vocab(model: &LlamaModel) -> crate::grammar::Vocab {
    let v = model.vocab();
    let n = v.n_tokens().max(0);
    crate::grammar::Vocab::new((0..n).map(|t| {
        let t = LlamaToken(t);
        (v.token_to_piece(t, true, None), v.is_eog(t))
    }))
}

struct Worker<'a> {
    model: &'a LlamaModel,
    id: &'a str,
    n_vocab: u32,
    /// Every token's text for the grammar matcher, made on the first constrained request.
    grammar_vocab: std::sync::OnceLock<Arc<crate::grammar::Vocab>>,
    /// [`EngineConfig::grammar_step_limit`].
    grammar_step_limit: std::time::Duration,
}

impl Worker<'_> {
    fn new<'a>(
        model: &'a LlamaModel,
        id: &'a str,
        n_vocab: u32,
        grammar_step_limit: std::time::Duration,
    ) -> Worker<'a> {
        Worker { model, id, n_vocab, grammar_vocab: std::sync::OnceLock::new(), grammar_step_limit }
    }

    /// Every token's text as llama.cpp renders it for a grammar (special tokens as their text)
    /// and whether it ends a generation.
    fn grammar_vocab(&self) -> Arc<crate::grammar::Vocab> {
        Arc::clone(self.grammar_vocab.get_or_init(|| Arc::new(grammar_vocab(self.model))))
    }

    fn tokenize(&self, text: &str, add_bos: bool) -> Vec<TokenId> {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), add_bos, true)
            .into_iter()
            .map(|t| t.0 as TokenId)
            .collect()
    }

    fn check_tokens(&self, tokens: &[TokenId]) -> Result<(), TokenizeError> {
        if let Some(&bad) = tokens.iter().find(|&&t| t >= self.n_vocab) {
            return Err(TokenizeError::UnknownToken {
                model: self.id.to_string(),
                id: bad,
                vocab: self.n_vocab,
            });
        }
        Ok(())
    }

    fn detokenize(&self, tokens: &[TokenId]) -> Result<String, TokenizeError> {
        self.check_tokens(tokens)?;
        let vocab = self.model.vocab();
        let mut bytes = vec![];
        for &t in tokens {
            vocab.token_to_piece_into(LlamaToken(t as i32), &mut bytes, false, None);
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn piece(&self, t: TokenId) -> Vec<u8> {
        self.model.vocab().token_to_piece(LlamaToken(t as i32), false, None)
    }

    /// Token `t`'s text with special tokens written as their text.
    fn special_piece(&self, t: TokenId) -> Vec<u8> {
        self.model.vocab().token_to_piece(LlamaToken(t as i32), true, None)
    }

    fn err_decode(&self, what: impl std::fmt::Display) -> GenerateError {
        GenerateError::Decode { model: self.id.to_string(), message: what.to_string() }
    }

    /// A constraint's grammar, matched with this model's vocabulary (decision 0026).
    fn grammar(&self, c: &Constraint) -> Result<crate::grammar::Grammar, GenerateError> {
        let fail = |message: String| GenerateError::Constraint { model: self.id.to_string(), message };
        let text = match c {
            Constraint::Grammar(g) => {
                grammar_within_limits(g)
                    .map_err(|m| fail(format!("the grammar is too large for the engine: {m}")))?;
                g.clone()
            }
            Constraint::JsonSchema(schema) => schema_to_grammar(schema).map_err(fail)?,
        };
        crate::grammar::Grammar::new(&text, "root", self.grammar_vocab(), &|t| self.one_token(t))
            .map_err(|e| fail(e.to_string()))
    }

    /// The one token `text` is (special tokens included), if it is one: a grammar's `<text>`,
    /// a trigger word, a preserved token.
    fn one_token(&self, text: &str) -> Option<u32> {
        match self.model.vocab().tokenize(text.as_bytes(), false, true)[..] {
            [t] => Some(t.0 as u32),
            _ => None,
        }
    }

    /// When the constraint starts judging the output: from the first token, after
    /// `constraint_after`'s text, from a trigger on, or both in turn.
    fn gate(&self, p: &GenerateParams) -> Result<Gate, GenerateError> {
        let lazy = match p.constraint_triggers.is_empty() {
            true => Gate::Open,
            false => Gate::Lazy(
                crate::grammar::trigger::Triggers::new(&p.constraint_triggers, self.n_vocab as usize, &|w| {
                    self.one_token(w)
                })
                .map_err(|e| GenerateError::InvalidParams {
                    model: self.id.to_string(),
                    message: e.to_string(),
                })?,
            ),
        };
        Ok(match p.constraint_after.clone().filter(|t| !t.is_empty()) {
            Some(text) => Gate::After { text, seen: String::new(), then: Box::new(lazy) },
            None => lazy,
        })
    }

    /// The preserved tokens' ids: a text that is not one token of this model's is passed over,
    /// as llama-server does (a tool-call style written for another family's special tokens).
    fn preserved(&self, p: &GenerateParams) -> Vec<u32> {
        p.preserved_tokens.iter().filter_map(|text| self.one_token(text)).collect()
    }

    fn sampler(&self, p: &GenerateParams) -> Result<Samplers, GenerateError> {
        let s: &Sampling = &p.sampling;
        let invalid = |message: String| GenerateError::InvalidParams { model: self.id.to_string(), message };
        if !s.temperature.is_finite() || s.temperature < 0.0 {
            return Err(invalid(format!("temperature must be >= 0, got {}", s.temperature)));
        }
        if !(s.top_p > 0.0 && s.top_p <= 1.0) {
            return Err(invalid(format!("top_p must be in (0, 1], got {}", s.top_p)));
        }
        if !(0.0..=1.0).contains(&s.min_p) {
            return Err(invalid(format!("min_p must be in [0, 1], got {}", s.min_p)));
        }
        if !(s.repeat_penalty.is_finite() && s.repeat_penalty > 0.0) {
            return Err(invalid(format!("repeat_penalty must be > 0, got {}", s.repeat_penalty)));
        }
        for (name, x) in
            [("frequency_penalty", s.frequency_penalty), ("presence_penalty", s.presence_penalty)]
        {
            if !x.is_finite() {
                return Err(invalid(format!("{name} must be a finite number, got {x}")));
            }
        }
        let mut biases = Vec::with_capacity(p.logit_bias.len());
        for &(token, bias) in &p.logit_bias {
            if token >= self.n_vocab || bias.is_nan() || bias == f32::INFINITY {
                return Err(invalid(format!(
                    "logit_bias {bias} for token {token}: the token must be below the vocabulary of {} and the bias a number (or -inf)",
                    self.n_vocab
                )));
            }
            biases.push(llama_cpp_2::token::logit_bias::LlamaLogitBias::new(LlamaToken(token as i32), bias));
        }
        let mut chain = vec![];
        let grammar = p.constraint.as_ref().map(|c| self.grammar(c)).transpose()?;
        if !biases.is_empty() {
            chain.push(LlamaSampler::logit_bias(self.n_vocab as i32, &biases));
        }
        if crate::types::penalised(s) {
            chain.push(LlamaSampler::penalties(
                self.n_vocab as i32,
                // llama.cpp allocates the whole window up front: a client's 2^31 must not.
                s.repeat_last_n.min(crate::types::MAX_PENALTY_WINDOW) as i32,
                s.repeat_penalty,
                s.frequency_penalty,
                s.presence_penalty,
            ));
        }
        if s.temperature == 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            if s.top_k > 0 {
                chain.push(LlamaSampler::top_k(s.top_k.min(i32::MAX as u32) as i32));
            }
            if s.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(s.top_p, 1));
            }
            if s.min_p > 0.0 {
                chain.push(LlamaSampler::min_p(s.min_p, 1));
            }
            chain.push(LlamaSampler::temp(s.temperature));
            // No `dist`: the scheduler draws from what the chain leaves with the request's own
            // random stream (see `batching::Logits::sample`), which a chunked generation can
            // continue; llama.cpp's stream would restart with every call.
        }
        let gate = match grammar.is_some() {
            true => self.gate(p)?,
            false => Gate::Open,
        };
        Ok(Samplers {
            grammar,
            rest: LlamaSampler::chain_simple(chain),
            exact: p.exact_constraint,
            gate,
            preserved: self.preserved(p),
            gives_way: p.constraint_gives_way,
            step_limit: self.grammar_step_limit,
            dead_end: None,
        })
    }
}
