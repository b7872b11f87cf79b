//! Engine settings shared by every command that loads a model.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use sage_llm::{EngineConfig, FlashAttention, KvType, LoadMode};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KvArg {
    F32,
    F16,
    #[value(name = "q8_0")]
    Q8_0,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LoadArg {
    /// Read where this CPU repacks most of the weights (one copy in memory), else map.
    Auto,
    /// Memory-map the file (fastest load).
    Mmap,
    /// Read the file into the engine's buffers.
    Read,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FlashArg {
    Auto,
    On,
    Off,
}

/// llama.cpp settings.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Threads (default: all cores).
    #[arg(long)]
    pub threads: Option<u32>,
    /// Context window in tokens (default: min(training context, 4096)).
    #[arg(long)]
    pub ctx: Option<u32>,
    /// Sequences decoded together in one batch (concurrent requests to one model); the KV
    /// cache holds a context window for each (default: 4 for `sage serve`, else 1).
    #[arg(long)]
    pub parallel: Option<u32>,
    /// Prompt batch size.
    #[arg(long, default_value_t = 512)]
    pub batch: u32,
    /// KV cache precision.
    #[arg(long, value_enum, default_value_t = KvArg::F16)]
    pub kv: KvArg,
    /// Flash attention.
    #[arg(long, value_enum, default_value_t = FlashArg::Auto)]
    pub flash_attn: FlashArg,
    /// How the weights come into memory: `auto` reads the file where llama.cpp repacks most
    /// weights for this CPU (a mapped copy would stay resident beside the repacked one), else
    /// maps it.
    #[arg(long, value_enum, default_value_t = LoadArg::Auto)]
    pub load: LoadArg,
    /// Same as `--load read`.
    #[arg(long, conflicts_with = "load")]
    pub no_mmap: bool,
    /// Lock the weights in RAM.
    #[arg(long)]
    pub mlock: bool,
    /// Layers to offload to the GPU (builds with the `cuda` feature).
    #[arg(long, default_value_t = 0)]
    pub gpu_layers: u32,
    /// A chat template (Jinja) in place of the model file's, as llama-server's option of that
    /// name (a zoo names one per model: `chat_template = "FILE"`).
    #[arg(long, value_name = "FILE")]
    pub chat_template_file: Option<PathBuf>,
    /// Longest a grammar (JSON schema, tool calls) may take to judge one token's candidates,
    /// in milliseconds; past it the generation ends with an error. Raise it on a slow CPU.
    #[arg(long, value_name = "MS", default_value_t = sage_llm::llama::MAX_GRAMMAR_STEP.as_millis() as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub grammar_step_limit_ms: u64,
}

impl EngineArgs {
    /// The engine configuration (the chat template file read).
    pub fn config(&self) -> anyhow::Result<EngineConfig> {
        let chat_template = self.chat_template_file.as_deref().map(read_chat_template).transpose()?;
        Ok(EngineConfig {
            threads: self.threads,
            threads_batch: self.threads,
            context: self.ctx,
            parallel: self.parallel.unwrap_or(1),
            batch: self.batch,
            ubatch: self.batch,
            kv_type: match self.kv {
                KvArg::F32 => KvType::F32,
                KvArg::F16 => KvType::F16,
                KvArg::Q8_0 => KvType::Q8_0,
            },
            flash_attention: match self.flash_attn {
                FlashArg::Auto => FlashAttention::Auto,
                FlashArg::On => FlashAttention::On,
                FlashArg::Off => FlashAttention::Off,
            },
            load: match (self.no_mmap, self.load) {
                (true, _) | (_, LoadArg::Read) => LoadMode::Read,
                (false, LoadArg::Mmap) => LoadMode::Mmap,
                (false, LoadArg::Auto) => LoadMode::Auto,
            },
            mlock: self.mlock,
            gpu_layers: self.gpu_layers,
            chat_template,
            grammar_step_limit: std::time::Duration::from_millis(self.grammar_step_limit_ms),
        })
    }
}

/// A chat template file's text, checked to parse (a model loads when first asked: a broken
/// template is said at once, not as a failed load later).
pub fn read_chat_template(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the chat template {}", path.display()))?;
    sage_llm::template::check_syntax(&path.display().to_string(), &text)
        .with_context(|| format!("the chat template {}", path.display()))?;
    Ok(text)
}
