//! Generation speed and memory: SAGE's engine against raw llama.cpp on the same GGUF, threads
//! and settings, each in its own process so that peak memory is its own.
//!
//! `raw` is the plain llama-cpp-2 loop a developer would write (load, one batch for the prompt,
//! greedy sampler, one decode per token); `sage` is `LlamaEngine` with its worker thread,
//! channels, sessions and streaming.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use sage_llm::{EngineConfig, Flow, GenerateParams, LanguageModel, LlamaEngine, Prompt, Sampling};

use crate::BenchError;
use serde::{Deserialize, Serialize};

/// The prompt: a fixed English paragraph (about 120 tokens with Llama-style tokenizers).
pub const PROMPT: &str = "The warehouse robot starts its morning patrol at six. It checks the loading dock, \
the narrow corridor between the shelves, and the charging station near the north door. Each \
sensor reading is compared with what the robot expected to see: a pallet that moved, a door left \
open, a person walking where no one should be. Most mornings nothing unusual happens, and the \
robot spends almost no energy on thinking. When something does change, it slows down, looks again, \
and decides whether to call the operator, who is usually drinking coffee in the office upstairs.";

/// Prompt tokens used at most (the synthetic vocabularies of `sage models synth` spell the
/// prompt byte by byte).
pub const MAX_PROMPT_TOKENS: usize = 128;

/// Goals against raw llama.cpp with the same settings: decode speed ratio at least this.
pub const DECODE_GOAL: f64 = 0.97;
/// Prefill speed ratio at least this.
pub const PREFILL_GOAL: f64 = 0.95;
/// Load time ratio at most this.
pub const LOAD_GOAL: f64 = 1.1;
/// Extra peak memory at most this, MiB.
pub const EXTRA_MIB_GOAL: f64 = 64.0;
/// Against HF transformers: decode this many times faster.
pub const HF_DECODE_GOAL: f64 = 6.0;
/// Peak memory this many times smaller.
pub const HF_MEMORY_GOAL: f64 = 8.0;
/// Load this many times faster.
pub const HF_LOAD_GOAL: f64 = 50.0;
/// Decode speed at least this share of what the measured memory bandwidth allows.
pub const BANDWIDTH_GOAL: f64 = 0.65;

/// One measured run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    /// Seconds from nothing to a model and context ready.
    pub load_s: f64,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Prompt tokens per second.
    pub prefill_tok_s: f64,
    /// Generated tokens.
    pub generated: usize,
    /// Tokens per second after the first.
    pub decode_tok_s: f64,
    /// Peak resident memory of the process, bytes.
    pub peak_rss: u64,
}

/// Peak resident set size (VmHWM) of this process, bytes (Linux).
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()).map(|kb| kb * 1024)
            })
        })
        .unwrap_or(0)
}

/// A failed step of an engine's run.
fn fail(engine: &'static str, step: &'static str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Engine { engine, step, message: e.to_string() }
}

/// Measure SAGE's engine.
pub fn run_sage(model: &Path, threads: u32, n_gen: usize) -> Result<RunFigures, BenchError> {
    let start = Instant::now();
    // One sequence, as the raw llama.cpp loop has: the same KV cache, so that the figures
    // compare the engines and not their cache sizes.
    let cfg =
        EngineConfig { threads: Some(threads), context: Some(2048), parallel: 1, ..EngineConfig::default() };
    let e = LlamaEngine::load(model, Some("bench"), cfg).map_err(|e| fail("sage", "loading", e))?;
    let (s, _) = e.open_session(None).map_err(|e| fail("sage", "opening a session", e))?;
    let load_s = start.elapsed().as_secs_f64();
    let mut ids = e.tokenize(PROMPT, true).map_err(|e| fail("sage", "tokenizing", e))?;
    ids.truncate(MAX_PROMPT_TOKENS);
    let params = GenerateParams {
        max_tokens: n_gen as u32,
        sampling: Sampling::greedy(),
        ..GenerateParams::default()
    };
    let g = e
        .generate(s, &Prompt::Tokens(ids.clone()), &params, &mut |_| Flow::Continue)
        .map_err(|e| fail("sage", "generating", e))?;
    Ok(RunFigures {
        load_s,
        prompt_tokens: ids.len(),
        prefill_tok_s: g.timings.prefill_tok_s,
        generated: g.tokens.len(),
        decode_tok_s: g.timings.decode_tok_s,
        peak_rss: peak_rss(),
    })
}

/// Measure the plain llama-cpp-2 loop; `mmap` false reads the file instead of mapping it.
pub fn run_raw(model: &Path, threads: u32, n_gen: usize, mmap: bool) -> Result<RunFigures, BenchError> {
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
    let start = Instant::now();
    let backend = LlamaBackend::init().map_err(|e| fail("raw", "starting the backend", e))?;
    let m = LlamaModel::load_from_file(&backend, model, &LlamaModelParams::default().with_use_mmap(mmap))
        .map_err(|e| fail("raw", "loading", e))?;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(2048))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(threads as i32)
        .with_n_threads_batch(threads as i32);
    let mut ctx = m.new_context(&backend, params).map_err(|e| fail("raw", "creating the context", e))?;
    let load_s = start.elapsed().as_secs_f64();
    let mut ids = m.vocab().tokenize(PROMPT.as_bytes(), true, true);
    ids.truncate(MAX_PROMPT_TOKENS);
    let t0 = Instant::now();
    let mut batch = LlamaBatch::new(512, 1);
    for (i, t) in ids.iter().enumerate() {
        batch.add(*t, i as i32, &[0], i + 1 == ids.len()).map_err(|e| fail("raw", "filling the batch", e))?;
    }
    ctx.decode(&mut batch).map_err(|e| fail("raw", "decoding", e))?;
    let prefill_s = t0.elapsed().as_secs_f64();
    let mut sampler = LlamaSampler::greedy();
    let mut idx = batch.n_tokens() - 1;
    let mut first = None;
    let mut generated = 0;
    for pos in (ids.len() as i32..).take(n_gen) {
        let tok = sampler.sample(&ctx, idx);
        if first.is_none() {
            first = Some(Instant::now());
        }
        generated += 1;
        batch.clear();
        batch.add(tok, pos, &[0], true).map_err(|e| fail("raw", "filling the batch", e))?;
        ctx.decode(&mut batch).map_err(|e| fail("raw", "decoding", e))?;
        idx = 0;
    }
    // The last decode evaluates a token that is not sampled; SAGE stops after sampling the
    // last one. Count like SAGE: tokens after the first, over the time after the first.
    let decode_s = first.map_or(0.0, |f| f.elapsed().as_secs_f64());
    Ok(RunFigures {
        load_s,
        prompt_tokens: ids.len(),
        prefill_tok_s: ids.len() as f64 / prefill_s,
        generated,
        decode_tok_s: if decode_s > 0.0 { (generated - 1) as f64 / decode_s } else { 0.0 },
        peak_rss: peak_rss(),
    })
}

/// Measured memory read bandwidth, bytes per second: `threads` threads summing a 1 GiB buffer.
pub fn memory_bandwidth(threads: usize) -> f64 {
    let n = (1usize << 30) / 8;
    let buf: Vec<u64> = (0..n as u64).collect();
    let chunk = n.div_ceil(threads.max(1));
    let mut best = 0.0f64;
    for _ in 0..3 {
        let start = Instant::now();
        let total: u64 = std::thread::scope(|s| {
            let handles: Vec<_> = buf
                .chunks(chunk)
                .map(|c| s.spawn(move || c.iter().fold(0u64, |a, &x| a.wrapping_add(x))))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).fold(0u64, |a, x| a.wrapping_add(x))
        });
        std::hint::black_box(total);
        best = best.max((n * 8) as f64 / start.elapsed().as_secs_f64());
    }
    best
}
