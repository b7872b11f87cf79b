//! `sage models import DIR`: an HF safetensors folder (`config.json`, `tokenizer.json`,
//! `tokenizer_config.json`, `*.safetensors`; F32, F16 or BF16) of the Llama family (Llama 2/3.x,
//! Nemotron Nano, Mistral), of Qwen 2/2.5, Qwen 3 and its mixture of experts, Gemma 2, Gemma 3's text model (alone, or the
//! language model of a multimodal Gemma 3, without its vision tower), or Nemotron-H's hybrid of
//! Mamba-2 and attention ([`nemotron_h`]) turned into a GGUF that
//! llama.cpp runs, in Rust: GQA, `head_dim` different from hidden/heads, Llama 3.1 `rope_scaling`
//! (written as llama.cpp's `rope_freqs`), linear and YaRN RoPE scaling, tied or untied embeddings,
//! biases where the family has them, per-head Q/K norms, Gemma's post-norms and local layers
//! ([`gemma`]), the BPE tokenizer (byte-level with its split rule, or SentencePiece's;
//! [`tokenizer`]) and the chat template.
//!
//! A sliding attention window (Mistral's `sliding_window`) that llama.cpp's Llama graph does not
//! apply is honoured by writing it as the trained context: within it, full attention is the same.
//!
//! Weights keep their precision (F32 stays F32, BF16 stays BF16); quantize afterwards with
//! [`crate::quantize`].

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as Json;

use crate::gguf::writer::{GgufWriter, TensorDecl};
use crate::llama_arch::{Biases, Experts, Family, GraniteScales, LlamaShape, Pooling, GGML_F32};

mod fused_experts;
mod gemma;
mod multimodal;
pub mod nemotron_h;
mod rope;
mod tokenizer;

/// The version of what an import writes, raised whenever a conversion changes (2: Qwen's split
/// rule told from Llama 3's, SentencePiece tokenizers, biases, Gemma 3, Nemotron-H, Qwen 3 MoE,
/// Mistral NeMo's split rule; 3: Nemotron-H's shipped head kept whatever `tie_word_embeddings`
/// says, Gemma 2's caps, YaRN, embedding models). Caches of imports key on it, so that a folder
/// converted by an older SAGE is converted again.
pub const IMPORT_VERSION: u32 = 3;

/// Importing failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// A required file is missing.
    #[error("{dir}: no {file} (an HF model folder has config.json, tokenizer.json and *.safetensors)")]
    Missing {
        /// Folder.
        dir: PathBuf,
        /// What is missing.
        file: String,
    },
    /// config.json is not usable.
    #[error("{path}: {message}")]
    Config {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The architecture is not one we import.
    #[error(
        "{path}: architecture {arch:?} is not supported (these are: {})",
        SUPPORTED_ARCHITECTURES.join(", ")
    )]
    Architecture {
        /// File.
        path: PathBuf,
        /// What config.json says.
        arch: String,
    },
    /// A safetensors file is malformed or truncated.
    #[error("{path}: malformed safetensors: {message}")]
    Safetensors {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A tensor the architecture needs is absent or has the wrong shape.
    #[error("{dir}: tensor {name}: {message}")]
    Tensor {
        /// Folder.
        dir: PathBuf,
        /// Tensor.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer cannot be converted.
    #[error("{path}: tokenizer: {message}")]
    Tokenizer {
        /// File.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
struct Config {
    #[serde(default)]
    architectures: Vec<String>,
    hidden_size: u64,
    intermediate_size: u64,
    num_hidden_layers: u64,
    num_attention_heads: u64,
    num_key_value_heads: Option<u64>,
    head_dim: Option<u64>,
    vocab_size: u64,
    #[serde(default = "default_ctx")]
    max_position_embeddings: u64,
    rope_theta: Option<f64>,
    rope_scaling: Option<Json>,
    rope_parameters: Option<Json>,
    #[serde(default = "default_eps")]
    rms_norm_eps: f64,
    #[serde(default, deserialize_with = "null_is_false")]
    tie_word_embeddings: bool,
    #[serde(default, deserialize_with = "null_is_false")]
    attention_bias: bool,
    #[serde(default, deserialize_with = "null_is_false")]
    mlp_bias: bool,
    /// Mistral's attention window (null: none).
    sliding_window: Option<Json>,
    /// Qwen's switch for its windowed layers.
    #[serde(default, deserialize_with = "null_is_false")]
    use_sliding_window: bool,
    name_or_path: Option<String>,
    /// Fallbacks where tokenizer_config.json names no BOS or EOS token (an id, or a list).
    pub(crate) bos_token_id: Option<Json>,
    pub(crate) eos_token_id: Option<Json>,
    /// Gemma 3: each layer's kind (transformers 5), or the period of its global layers (4.x).
    layer_types: Option<Vec<String>>,
    sliding_window_pattern: Option<u64>,
    #[serde(rename = "_sliding_window_pattern")]
    sliding_window_pattern_v5: Option<u64>,
    /// Gemma 3: the local layers' RoPE base (4.x).
    rope_local_base_freq: Option<f64>,
    /// Gemma 3: the attention's scale is this to the −½.
    query_pre_attn_scalar: Option<f64>,
    hidden_activation: Option<String>,
    /// Soft caps: absent (`None`) and `null` (`Some(Null)`) differ for Gemma 2.
    #[serde(default, deserialize_with = "keep_null")]
    attn_logit_softcapping: Option<Json>,
    #[serde(default, deserialize_with = "keep_null")]
    final_logit_softcapping: Option<Json>,
    #[serde(default, deserialize_with = "null_is_false")]
    use_bidirectional_attention: bool,
    /// Qwen 3's mixture of experts (`num_experts` as published, `num_local_experts` as
    /// transformers 5 writes it).
    #[serde(alias = "num_local_experts")]
    num_experts: Option<u64>,
    num_experts_per_tok: Option<u64>,
    moe_intermediate_size: Option<u64>,
    norm_topk_prob: Option<bool>,
    /// An embedding model's pooling (`LlamaBidirectionalModel`).
    pooling: Option<String>,
    /// Phi: the share of each head RoPE turns.
    partial_rotary_factor: Option<f64>,
    /// Granite's multipliers.
    embedding_multiplier: Option<f64>,
    residual_multiplier: Option<f64>,
    attention_multiplier: Option<f64>,
    logits_scaling: Option<f64>,
    decoder_sparse_step: Option<u64>,
    #[serde(default)]
    mlp_only_layers: Vec<u64>,
}

fn default_ctx() -> u64 {
    4096
}
/// A value that is present, `null` included (serde reads a `null` option as absent).
fn keep_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

/// A switch written `null` (transformers 5 writes some so) is off.
fn null_is_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

fn default_eps() -> f64 {
    1e-5
}

/// One tensor in a safetensors file.
#[derive(Debug, Clone)]
struct StTensor {
    file: PathBuf,
    dtype: String,
    shape: Vec<u64>,
    start: u64,
    end: u64,
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> ImportError + '_ {
    move |source| ImportError::Io { path: path.to_path_buf(), source }
}

/// Read the header of one safetensors file.
fn read_safetensors(path: &Path, out: &mut HashMap<String, StTensor>) -> Result<(), ImportError> {
    let bad = |message: String| ImportError::Safetensors { path: path.to_path_buf(), message };
    let mut f = File::open(path).map_err(io_err(path))?;
    let size = f.metadata().map_err(io_err(path))?.len();
    let mut len = [0u8; 8];
    f.read_exact(&mut len).map_err(|_| bad("shorter than its 8-byte header length".into()))?;
    let n = u64::from_le_bytes(len);
    if n > 100 << 20 || 8 + n > size {
        return Err(bad(format!("header of {n} bytes in a file of {size}")));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(|_| bad("truncated header".into()))?;
    let v: BTreeMap<String, Json> =
        serde_json::from_slice(&header).map_err(|e| bad(format!("header is not JSON: {e}")))?;
    let data_start = 8 + n;
    for (name, t) in v {
        if name == "__metadata__" {
            continue;
        }
        let dtype = t["dtype"].as_str().ok_or_else(|| bad(format!("{name}: no dtype")))?.to_string();
        let shape: Vec<u64> = t["shape"]
            .as_array()
            .ok_or_else(|| bad(format!("{name}: no shape")))?
            .iter()
            .map(|x| x.as_u64().ok_or_else(|| bad(format!("{name}: bad shape"))))
            .collect::<Result<_, _>>()?;
        let offs = t["data_offsets"].as_array().ok_or_else(|| bad(format!("{name}: no data_offsets")))?;
        let (a, b) = match (offs.first().and_then(Json::as_u64), offs.get(1).and_then(Json::as_u64)) {
            (Some(a), Some(b)) if a <= b => (a, b),
            _ => return Err(bad(format!("{name}: bad data_offsets"))),
        };
        let width = match dtype.as_str() {
            "F32" => 4,
            "F16" | "BF16" => 2,
            other => return Err(bad(format!("{name}: dtype {other} is not supported (F32, F16, BF16 are)"))),
        };
        let elems: u64 = shape.iter().product();
        if b - a != elems * width {
            return Err(bad(format!("{name}: {} bytes for shape {shape:?} of {dtype}", b - a)));
        }
        if data_start + b > size {
            return Err(bad(format!(
                "{name}: data ends at byte {} but the file has {size} (truncated)",
                data_start + b
            )));
        }
        out.insert(
            name,
            StTensor { file: path.to_path_buf(), dtype, shape, start: data_start + a, end: data_start + b },
        );
    }
    Ok(())
}

fn ggml_type_of(dtype: &str) -> u32 {
    match dtype {
        "F32" => 0,
        "F16" => 1,
        _ => 30, // BF16
    }
}

/// How an HF tensor's values become the GGUF tensor's.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transform {
    /// As they are.
    Keep,
    /// Q or K rows from HF's rotate-half layout to llama.cpp's interleaved one.
    Permute { heads: u64, head_dim: u64 },
    /// Gemma's norms: HF stores the weight less one.
    PlusOne,
    /// Mamba's `A_log`: llama.cpp wants `A = −exp(A_log)`.
    NegExp,
    /// One part of a fused tensor of all experts (Qwen3-VL-MoE's), transposed as published.
    Experts(fused_experts::Cut),
}

/// The HF tensors a GGUF tensor is made of: one, or several of one shape stacked (a mixture of
/// experts' per-expert matrices).
#[derive(Debug, Clone)]
struct Source {
    /// Their names in the safetensors files, in the order stacked.
    names: Vec<String>,
    /// The shape of each there (outermost first), checked before anything is written.
    shape: Vec<u64>,
    transform: Transform,
    /// Written as F32 whatever its type (norms, biases, Mamba's small tensors).
    f32: bool,
}

impl Source {
    /// A tensor whose HF shape is the GGUF shape reversed; 1-D ones are written as F32.
    fn same(name: String, d: &TensorDecl, transform: Transform) -> Self {
        Self {
            names: vec![name],
            shape: d.dims.iter().rev().copied().collect(),
            transform,
            f32: d.dims.len() == 1,
        }
    }
}

/// A tensor to write: its declaration, its sources (none for computed RoPE factors), and how
/// its values are transformed.
type Planned = (TensorDecl, Vec<StTensor>, Transform);

/// What an import produced.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The GGUF written.
    pub path: PathBuf,
    /// llama.cpp's architecture written (`llama`, `qwen2`, `gemma3`, `nemotron_h`...).
    pub architecture: String,
    /// Parameters written.
    pub parameters: u64,
    /// Tensors written.
    pub tensors: usize,
}

/// The largest size, head count or vocabulary a config may declare (far beyond any published
/// Llama-family model: their largest vocabulary is 256k, their widest hidden size 16k).
const MAX_DIMENSION: u64 = 1 << 22;

/// Every architecture name `family_of` (or the Nemotron-H converter) accepts, as the error lists them.
pub const SUPPORTED_ARCHITECTURES: &[&str] = &[
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "LlamaBidirectionalModel (embedding)",
    "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",
    "Qwen3MoeForCausalLM",
    "Gemma2ForCausalLM",
    "Gemma3ForCausalLM",
    "Gemma3ForConditionalGeneration (its language model)",
    "Phi3ForCausalLM",
    "GraniteForCausalLM",
    "NemotronHForCausalLM",
    "Qwen2VLForConditionalGeneration (its language model)",
    "Qwen2_5_VLForConditionalGeneration (its language model)",
    "Qwen3VLForConditionalGeneration (its language model)",
    "Qwen3VLMoeForConditionalGeneration (its language model)",
    "Qwen3OmniMoeForConditionalGeneration (its thinker's language model)",
];

/// The family of an HF architecture name and the biases its config asks for; `Err(None)` for an
/// architecture not imported, `Err(Some(why))` for a combination llama.cpp's graph lacks.
fn family_of(arch: &str, cfg: &Config) -> Result<(Family, Biases), Option<String>> {
    match arch {
        // HF's Llama and Mistral put `attention_bias` on Q, K, V and O, `mlp_bias` on the MLP.
        // NVIDIA's Llama-Nemotron embedding models (`llama_bidirec`): the Llama block attending
        // both ways, no LM head; the pooling is read apart (`pooling_of`).
        "LlamaForCausalLM" | "MistralForCausalLM" | "LlamaBidirectionalModel" => Ok((
            Family::Llama,
            Biases { qkv: cfg.attention_bias, out: cfg.attention_bias, mlp: cfg.mlp_bias },
        )),
        // Qwen 2 always has Q, K and V biases and no others.
        "Qwen2ForCausalLM" => Ok((Family::Qwen2, Biases { qkv: true, out: false, mlp: false })),
        "Qwen3ForCausalLM" if cfg.attention_bias => Err(Some(
            "Qwen3 with attention_bias is not supported (llama.cpp's Qwen3 has no output bias)".into(),
        )),
        "Qwen3ForCausalLM" => Ok((Family::Qwen3, Biases::default())),
        "Qwen3MoeForCausalLM" if cfg.attention_bias => Err(Some(
            "Qwen3Moe with attention_bias is not supported (llama.cpp's Qwen3 has no output bias)".into(),
        )),
        "Qwen3MoeForCausalLM" => Ok((Family::Qwen3Moe, Biases::default())),
        "Gemma3ForCausalLM" | "Gemma3ForConditionalGeneration" if cfg.attention_bias => Err(Some(
            "Gemma3 with attention_bias is not supported (llama.cpp's Gemma 3 has no biases)".into(),
        )),
        // The multimodal models (4B and up): their language model; the vision tower is left out.
        "Gemma3ForCausalLM" | "Gemma3ForConditionalGeneration" => Ok((Family::Gemma3, Biases::default())),
        "Gemma2ForCausalLM" if cfg.attention_bias => Err(Some(
            "Gemma2 with attention_bias is not supported (llama.cpp's Gemma 2 has no biases)".into(),
        )),
        "Gemma2ForCausalLM" => Ok((Family::Gemma2, Biases::default())),
        "Phi3ForCausalLM" if cfg.attention_bias || cfg.mlp_bias => Err(Some(
            "Phi3 with attention_bias or mlp_bias is not supported (llama.cpp's Phi-3 has no biases)".into(),
        )),
        "Phi3ForCausalLM" => Ok((Family::Phi3, Biases::default())),
        // Granite's biases are Llama's: attention_bias on Q, K, V and O, mlp_bias on the MLP.
        "GraniteForCausalLM" => Ok((
            Family::Granite,
            Biases { qkv: cfg.attention_bias, out: cfg.attention_bias, mlp: cfg.mlp_bias },
        )),
        _ => Err(None),
    }
}

/// The context to write as trained: `max_position_embeddings`, or a smaller sliding window
/// (Mistral's), which llama.cpp's Llama graph does not apply; within it, full attention is the
/// same. Qwen's `sliding_window` counts only with `use_sliding_window`, and its windowed layers
/// are refused.
fn trained_context(family: Family, cfg: &Config) -> Result<u64, String> {
    // Phi-3's window is Mistral's kind (llama.cpp's `phi3` disables its own).
    if !matches!(family, Family::Llama | Family::Phi3 | Family::Granite) {
        return match cfg.use_sliding_window {
            true => Err("use_sliding_window (Qwen's windowed layers) is not supported".into()),
            false => Ok(cfg.max_position_embeddings),
        };
    }
    match &cfg.sliding_window {
        None | Some(Json::Null) => Ok(cfg.max_position_embeddings),
        Some(w) => match w.as_u64() {
            Some(0) | None => Err(format!("sliding_window {w} is not a positive window")),
            Some(w) => Ok(cfg.max_position_embeddings.min(w)),
        },
    }
}

fn shape_from_config(dir: &Path, cfg_path: &Path, raw: Json) -> Result<(LlamaShape, Config), ImportError> {
    let not_config = |e: serde_json::Error| ImportError::Config {
        path: cfg_path.to_path_buf(),
        message: format!("not a Llama config: {e}"),
    };
    // Gemma 3's text model may sit inside a multimodal config, with HF's defaults left out.
    let cfg: Config = serde_json::from_value(multimodal::language_model(raw)).map_err(not_config)?;
    let config_err = |m: String| ImportError::Config { path: cfg_path.to_path_buf(), message: m };
    let arch = cfg.architectures.first().cloned().unwrap_or_default();
    let (family, biases) = family_of(&arch, &cfg).map_err(|e| match e {
        None => ImportError::Architecture { path: cfg_path.to_path_buf(), arch: arch.clone() },
        Some(m) => config_err(m),
    })?;
    let (kv, head_dim) = sizes(family, &cfg).map_err(config_err)?;
    let context = trained_context(family, &cfg).map_err(config_err)?;
    let (theta, scaling) = rope::rope(family, &cfg).map_err(config_err)?;
    let (rope_scaling, rope_linear, rope_yarn) = match scaling {
        rope::RopeScaling::None => (None, None, None),
        rope::RopeScaling::Llama3(r) => (Some(r), None, None),
        rope::RopeScaling::Linear(f) => (None, Some(f), None),
        rope::RopeScaling::Yarn(y) => (None, None, Some(y)),
    };
    // YaRN extends the context to `factor` times the original; HF's configs do not always
    // raise `max_position_embeddings` with it (Qwen's instructions add only `rope_scaling`).
    let context = match rope_yarn {
        Some(y) => context.max(((y.factor * y.original_context as f64).round() as u64).min(MAX_DIMENSION)),
        None => context,
    };
    let gemma = match family {
        Family::Gemma2 | Family::Gemma3 => {
            gemma::extras(family, &cfg, head_dim, theta).map_err(config_err)?
        }
        _ => gemma::Extras::default(),
    };
    let experts = experts_of(family, &cfg).map_err(config_err)?;
    let pooling = pooling_of(&arch, &cfg).map_err(config_err)?;
    let rotary_dims = rope::rotary_dims(family, &cfg, head_dim).map_err(config_err)?;
    let granite = granite_scales(family, &cfg).map_err(config_err)?;
    let name = cfg
        .name_or_path
        .clone()
        .unwrap_or_else(|| dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    Ok((
        LlamaShape {
            family,
            biases,
            name,
            vocab: cfg.vocab_size,
            hidden: cfg.hidden_size,
            intermediate: cfg.intermediate_size,
            layers: cfg.num_hidden_layers,
            heads: cfg.num_attention_heads,
            kv_heads: kv,
            head_dim,
            context,
            rope_theta: theta,
            rope_scaling,
            rope_linear,
            rope_yarn,
            rms_eps: cfg.rms_norm_eps,
            // An embedding model has no LM head to write.
            tied_embeddings: cfg.tie_word_embeddings || family.gemma_norms() || pooling.is_some(),
            sliding: gemma.sliding,
            final_logit_softcapping: gemma.final_cap,
            attn_logit_softcapping: gemma.attn_cap,
            pooling,
            rotary_dims,
            granite,
            experts,
        },
        cfg,
    ))
}

/// Granite's multipliers, HF's defaults where the config names none; each must be a positive
/// number (llama.cpp divides by the logits' and multiplies by the others).
fn granite_scales(family: Family, cfg: &Config) -> Result<Option<GraniteScales>, String> {
    if family != Family::Granite {
        return Ok(None);
    }
    let get = |key: &str, v: Option<f64>, default: f64| {
        let v = v.unwrap_or(default);
        if v > 0.0 && v.is_finite() {
            Ok(v)
        } else {
            Err(format!("Granite: {key} must be a positive number, not {v}"))
        }
    };
    Ok(Some(GraniteScales {
        embedding: get("embedding_multiplier", cfg.embedding_multiplier, 1.0)?,
        residual: get("residual_multiplier", cfg.residual_multiplier, 1.0)?,
        attention: get("attention_multiplier", cfg.attention_multiplier, 1.0)?,
        logits: get("logits_scaling", cfg.logits_scaling, 1.0)?,
    }))
}

/// An embedding model's pooling (`LlamaBidirectionalModel`'s `pooling`: `avg` by default, as
/// NVIDIA's code reads it); none for a language model.
fn pooling_of(arch: &str, cfg: &Config) -> Result<Option<Pooling>, String> {
    if arch != "LlamaBidirectionalModel" {
        return Ok(None);
    }
    match cfg.pooling.as_deref().unwrap_or("avg") {
        "avg" | "mean" => Ok(Some(Pooling::Mean)),
        "cls" => Ok(Some(Pooling::Cls)),
        "last" => Ok(Some(Pooling::Last)),
        other => Err(format!("pooling {other:?} is not supported (avg, mean, cls and last are)")),
    }
}

/// The key/value heads and the head size, after checking every size: positive, within
/// llama.cpp's limits and [`MAX_DIMENSION`], and consistent.
fn sizes(family: Family, cfg: &Config) -> Result<(u64, u64), String> {
    if cfg.num_attention_heads == 0
        || cfg.hidden_size == 0
        || cfg.num_hidden_layers == 0
        || cfg.vocab_size == 0
    {
        return Err("sizes must be positive".into());
    }
    // llama.cpp's own limit on layers (it aborts beyond it), and counts no real model reaches:
    // a config is outside bytes, and every layer and dimension becomes work and memory here.
    if cfg.num_hidden_layers > crate::llama::MAX_LAYERS {
        return Err(format!(
            "num_hidden_layers {} exceeds {}",
            cfg.num_hidden_layers,
            crate::llama::MAX_LAYERS
        ));
    }
    for (name, value) in [
        ("hidden_size", cfg.hidden_size),
        ("intermediate_size", cfg.intermediate_size),
        ("num_attention_heads", cfg.num_attention_heads),
        ("vocab_size", cfg.vocab_size),
        ("head_dim", cfg.head_dim.unwrap_or(0)),
        ("num_key_value_heads", cfg.num_key_value_heads.unwrap_or(0)),
    ] {
        if value > MAX_DIMENSION {
            return Err(format!("{name} {value} exceeds {MAX_DIMENSION}"));
        }
    }
    let kv = cfg.num_key_value_heads.unwrap_or(cfg.num_attention_heads);
    if kv == 0 || !cfg.num_attention_heads.is_multiple_of(kv) {
        return Err("num_attention_heads must be a multiple of num_key_value_heads".into());
    }
    let head_dim = cfg.head_dim.unwrap_or(cfg.hidden_size / cfg.num_attention_heads);
    if head_dim == 0 || !head_dim.is_multiple_of(2) {
        return Err("head_dim must be even and positive".into());
    }
    // llama.cpp's Qwen 2 and Phi-3 graphs size the query projection by the hidden size.
    if matches!(family, Family::Qwen2 | Family::Phi3) && head_dim * cfg.num_attention_heads != cfg.hidden_size
    {
        return Err(format!("{}: head_dim × num_attention_heads must equal hidden_size", family.gguf_arch()));
    }
    Ok((kv, head_dim))
}

/// Qwen 3's experts, checked against what llama.cpp's `qwen3moe` computes: every layer a
/// mixture, the chosen experts' weights normalised.
fn experts_of(family: Family, cfg: &Config) -> Result<Option<Experts>, String> {
    if family != Family::Qwen3Moe {
        return Ok(None);
    }
    let e = Experts {
        count: cfg.num_experts.ok_or("num_experts is missing")?,
        used: cfg.num_experts_per_tok.ok_or("num_experts_per_tok is missing")?,
        width: cfg.moe_intermediate_size.ok_or("moe_intermediate_size is missing")?,
    };
    if e.count == 0 || e.count > crate::llama::hparams::MAX_EXPERTS || e.used == 0 || e.used > e.count {
        return Err(format!("{} experts with {} used per token are not a mixture", e.count, e.used));
    }
    if e.width == 0 || e.width > MAX_DIMENSION {
        return Err(format!("moe_intermediate_size = {} is out of range", e.width));
    }
    if cfg.norm_topk_prob == Some(false) {
        return Err("Qwen3Moe with norm_topk_prob false is not supported (llama.cpp normalises)".into());
    }
    if cfg.decoder_sparse_step.unwrap_or(1) != 1 || !cfg.mlp_only_layers.is_empty() {
        return Err(
            "Qwen3Moe with dense layers (decoder_sparse_step, mlp_only_layers) is not supported".into()
        );
    }
    Ok(Some(e))
}

/// Reorder the rows of a Q or K projection from HF's rotate-half layout to the interleaved
/// layout of llama.cpp's RoPE: rows `(head, half, i)` become `(head, i, half)`.
fn permute_rows(data: &[u8], heads: u64, head_dim: u64, row_bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    let half = head_dim / 2;
    for h in 0..heads {
        for part in 0..2 {
            for i in 0..half {
                let src = (h * head_dim + part * half + i) as usize;
                let dst = (h * head_dim + i * 2 + part) as usize;
                out[dst * row_bytes..(dst + 1) * row_bytes]
                    .copy_from_slice(&data[src * row_bytes..(src + 1) * row_bytes]);
            }
        }
    }
    out
}

/// What is written: the metadata (architecture and tokenizer) and the planned tensors.
struct Conversion {
    architecture: String,
    writer: GgufWriter,
    plan: Vec<Planned>,
    /// Llama 3.1's RoPE factors, for the tensor planned without a source.
    rope: Option<Vec<f32>>,
}

/// Import the HF folder `dir` into the GGUF `out`.
pub fn import(dir: &Path, out: &Path) -> Result<Imported, ImportError> {
    let cfg_path = dir.join("config.json");
    if !cfg_path.exists() {
        return Err(ImportError::Missing { dir: dir.to_path_buf(), file: "config.json".into() });
    }
    let text = std::fs::read_to_string(&cfg_path).map_err(io_err(&cfg_path))?;
    let raw: Json = serde_json::from_str(&text)
        .map_err(|e| ImportError::Config { path: cfg_path.clone(), message: format!("not JSON: {e}") })?;
    let st = safetensors_of(dir)?;
    let conversion = if raw["architectures"][0] == "NemotronHForCausalLM" {
        nemotron_h::convert(dir, &cfg_path, raw, &st)?
    } else {
        convert_llama(dir, &cfg_path, raw, &st)?
    };
    write(conversion, out)
}

/// The tensors of every safetensors file in `dir`, by name.
fn safetensors_of(dir: &Path) -> Result<HashMap<String, StTensor>, ImportError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ImportError::Missing { dir: dir.to_path_buf(), file: "*.safetensors".into() });
    }
    let mut st = HashMap::new();
    for f in &files {
        read_safetensors(f, &mut st)?;
    }
    Ok(st)
}

/// A Llama-family, Mistral, Qwen or Gemma 3 folder.
fn convert_llama(
    dir: &Path,
    cfg_path: &Path,
    raw: Json,
    st: &HashMap<String, StTensor>,
) -> Result<Conversion, ImportError> {
    let (shape, cfg) = shape_from_config(dir, cfg_path, raw)?;
    let plan = plan_tensors(dir, &shape, st)?;
    let mut writer = GgufWriter::new();
    shape.write_metadata(&mut writer, file_type(&plan));
    tokenizer::write(dir, &mut writer, shape.vocab, (&cfg.bos_token_id, &cfg.eos_token_id))?;
    Ok(Conversion { architecture: shape.family.gguf_arch().into(), writer, plan, rope: shape.rope_factors() })
}

/// llama.cpp's `llama_ftype` of a plan: 0 where every tensor is F32, else 1 (mostly F16).
fn file_type(plan: &[Planned]) -> u32 {
    if plan.iter().all(|(d, _, _)| d.ggml_type == GGML_F32) {
        0
    } else {
        1
    }
}

/// Stream the planned tensors into the GGUF `out`.
fn write(c: Conversion, out: &Path) -> Result<Imported, ImportError> {
    let decls: Vec<TensorDecl> = c.plan.iter().map(|(d, _, _)| d.clone()).collect();
    let read = |t: &StTensor| -> io::Result<Vec<u8>> {
        let mut f = File::open(&t.file)?;
        f.seek(SeekFrom::Start(t.start))?;
        let mut buf = vec![0u8; (t.end - t.start) as usize];
        f.read_exact(&mut buf)?;
        Ok(buf)
    };
    c.writer
        .write_streaming(out, &decls, |i, sink| {
            let (d, parts, transform) = &c.plan[i];
            let Some(first) = parts.first() else {
                for f in c.rope.as_deref().unwrap_or_default() {
                    sink.write_all(&f.to_le_bytes())?;
                }
                return Ok(());
            };
            let mut raw = Vec::new();
            for t in parts {
                raw.extend(read(t)?);
            }
            sink.write_all(&tensor_data(d, raw, &first.dtype, *transform))
        })
        .map_err(io_err(out))?;
    let parameters = decls.iter().map(|d| d.dims.iter().product::<u64>()).sum();
    Ok(Imported { path: out.to_path_buf(), architecture: c.architecture, parameters, tensors: decls.len() })
}

/// Every GGUF tensor of `shape` with the HF tensor it comes from (none for the RoPE factors).
fn plan_tensors(
    dir: &Path,
    shape: &LlamaShape,
    st: &HashMap<String, StTensor>,
) -> Result<Vec<Planned>, ImportError> {
    // The language model's tensors are `model.*`, or within a multimodal model
    // `language_model.model.*` (as published) or `model.language_model.*` (as transformers 5
    // saves it; Qwen3-VL's), or `thinker.model.*` (Qwen3-Omni's), or at the top (a bare model saved without a head, as embedding models are).
    let prefix = ["model.", "language_model.model.", "model.language_model.", "thinker.model.", ""]
        .into_iter()
        .find(|p| st.contains_key(&format!("{p}embed_tokens.weight")))
        .unwrap_or("model.");
    let wanted = shape.tensor_decls(GGML_F32).into_iter().map(|d| {
        if d.name == "rope_freqs.weight" {
            return (d, None);
        }
        let (hf, mut transform) = hf_name(&d.name, shape);
        let hf = match hf.strip_prefix("model.") {
            Some(rest) => format!("{prefix}{rest}"),
            None if hf == "lm_head.weight" => multimodal::head_name(prefix).to_string(),
            None => hf,
        };
        if shape.family.gemma_norms() && d.name.ends_with("norm.weight") {
            transform = Transform::PlusOne;
        }
        let mut source = Source::same(hf, &d, transform);
        if d.name.ends_with("_exps.weight") {
            // HF publishes one matrix per expert: `experts.{j}.gate_proj.weight`, stacked here;
            // Qwen3-VL-MoE one tensor for all (`fused_experts`).
            let stem = source.names[0].trim_end_matches(".weight").to_string();
            let per_expert = |j: u64| stem.replace("experts.", &format!("experts.{j}.")) + ".weight";
            match fused_experts::source(&d.name, &stem, &d.dims, st) {
                Some(fused) if !st.contains_key(&per_expert(0)) => source = fused,
                _ => {
                    source.names = (0..d.dims[2]).map(per_expert).collect();
                    source.shape = vec![d.dims[1], d.dims[0]];
                }
            }
        }
        source.f32 |= d.name.ends_with("ffn_gate_inp.weight");
        (d, Some(source))
    });
    // Tied models may still ship lm_head; untied ones may ship only the embedding.
    let embedding = format!("{prefix}embed_tokens.weight");
    resolve(dir, wanted, st, |name| (name == "output.weight").then(|| st.get(&embedding)).flatten())
}

/// Find each wanted tensor's source (or `fallback`'s for its GGUF name), check its shape
/// against config.json's, and give it its type: F32 where asked, else as stored.
fn resolve<'a>(
    dir: &Path,
    wanted: impl IntoIterator<Item = (TensorDecl, Option<Source>)>,
    st: &'a HashMap<String, StTensor>,
    fallback: impl Fn(&str) -> Option<&'a StTensor>,
) -> Result<Vec<Planned>, ImportError> {
    let mut plan = vec![];
    for (d, source) in wanted {
        let Some(source) = source else {
            plan.push((d, vec![], Transform::Keep));
            continue;
        };
        let bad = |name: &str, message: String| ImportError::Tensor {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            message,
        };
        let mut parts: Vec<StTensor> = vec![];
        for name in &source.names {
            let single = source.names.len() == 1;
            let t = st
                .get(name)
                .or_else(|| single.then(|| fallback(&d.name)).flatten())
                .ok_or_else(|| bad(name, "missing".into()))?;
            if t.shape != source.shape {
                return Err(bad(
                    name,
                    format!("shape {:?}, config.json implies {:?}", t.shape, source.shape),
                ));
            }
            if parts.first().is_some_and(|p| p.dtype != t.dtype) {
                return Err(bad(
                    name,
                    format!("{} among {} tensors stacked with it", t.dtype, parts[0].dtype),
                ));
            }
            parts.push(t.clone());
        }
        let Some(first) = parts.first() else {
            return Err(bad(&d.name, "no HF tensor named for it".into()));
        };
        let ggml_type = if source.f32 { GGML_F32 } else { ggml_type_of(&first.dtype) };
        let elems: u64 = d.dims.iter().product();
        let bytes = if ggml_type == GGML_F32 { elems * 4 } else { elems * 2 };
        plan.push((TensorDecl { ggml_type, bytes, ..d }, parts, source.transform));
    }
    Ok(plan)
}

/// The bytes to write for tensor `d` from the HF bytes `raw` of type `dtype`: as F32 where `d`
/// is, then transformed.
fn tensor_data(d: &TensorDecl, raw: Vec<u8>, dtype: &str, transform: Transform) -> Vec<u8> {
    let mut data = if d.ggml_type == GGML_F32 && dtype != "F32" { to_f32(&raw, dtype) } else { raw };
    let mut each = |f: fn(f32) -> f32| {
        for c in data.chunks_exact_mut(4) {
            let v = f(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            c.copy_from_slice(&v.to_le_bytes());
        }
    };
    match transform {
        Transform::Keep => {}
        Transform::PlusOne => each(|v| v + 1.0),
        Transform::NegExp => each(|v| -v.exp()),
        Transform::Permute { heads, head_dim } => {
            let row_bytes = (d.bytes / (heads * head_dim)) as usize;
            return permute_rows(&data, heads, head_dim, row_bytes);
        }
        Transform::Experts(cut) => return fused_experts::cut(&data, cut),
    }
    data
}

fn to_f32(raw: &[u8], dtype: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() * 2);
    for c in raw.chunks_exact(2) {
        let bits = u16::from_le_bytes([c[0], c[1]]);
        let v = if dtype == "BF16" { f32::from_bits((bits as u32) << 16) } else { f16_to_f32(bits) };
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// HF tensor name for a GGUF name, and the row permutation of Q and K (their biases included)
/// where llama.cpp rotates interleaved pairs.
fn hf_name(gguf: &str, s: &LlamaShape) -> (String, Transform) {
    match gguf {
        "token_embd.weight" => ("model.embed_tokens.weight".into(), Transform::Keep),
        "output_norm.weight" => ("model.norm.weight".into(), Transform::Keep),
        "output.weight" => ("lm_head.weight".into(), Transform::Keep),
        _ => {
            let rest = gguf.strip_prefix("blk.").unwrap_or(gguf);
            let (layer, name) = rest.split_once('.').unwrap_or(("0", rest));
            let (module, kind) = name.rsplit_once('.').unwrap_or((name, "weight"));
            let rope = |heads: u64| s.family.interleaved_rope().then_some((heads, s.head_dim));
            let (hf, permute) = match module {
                "attn_norm" => ("input_layernorm", None),
                "attn_q" => ("self_attn.q_proj", rope(s.heads)),
                "attn_k" => ("self_attn.k_proj", rope(s.kv_heads)),
                "attn_v" => ("self_attn.v_proj", None),
                "attn_qkv" => ("self_attn.qkv_proj", None),
                "attn_q_norm" => ("self_attn.q_norm", None),
                "attn_k_norm" => ("self_attn.k_norm", None),
                "attn_output" => ("self_attn.o_proj", None),
                // Gemma's norm after attention is HF's post_attention_layernorm, and its norm
                // before the MLP pre_feedforward_layernorm; Llama's only one is the second.
                "ffn_norm" if s.family.gemma_norms() => ("pre_feedforward_layernorm", None),
                "ffn_norm" => ("post_attention_layernorm", None),
                "post_attention_norm" => ("post_attention_layernorm", None),
                "post_ffw_norm" => ("post_feedforward_layernorm", None),
                "ffn_gate_inp" => ("mlp.gate", None),
                "ffn_gate_exps" => ("mlp.experts.gate_proj", None),
                "ffn_up_exps" => ("mlp.experts.up_proj", None),
                "ffn_down_exps" => ("mlp.experts.down_proj", None),
                "ffn_gate" => ("mlp.gate_proj", None),
                "ffn_up" if s.family.fused() => ("mlp.gate_up_proj", None),
                "ffn_up" => ("mlp.up_proj", None),
                "ffn_down" => ("mlp.down_proj", None),
                other => (other, None),
            };
            let transform =
                permute.map_or(Transform::Keep, |(heads, head_dim)| Transform::Permute { heads, head_dim });
            (format!("model.layers.{layer}.{hf}.{kind}"), transform)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_interleaves_halves() {
        // One head of dim 4, rows of 1 byte: rows [a0 a1 b0 b1] -> [a0 b0 a1 b1].
        assert_eq!(permute_rows(&[0, 1, 2, 3], 1, 4, 1), vec![0, 2, 1, 3]);
        assert_eq!(permute_rows(&[0, 1, 2, 3, 4, 5, 6, 7], 2, 4, 1), vec![0, 2, 1, 3, 4, 6, 5, 7]);
    }

    #[test]
    fn the_error_lists_exactly_the_architectures_imported() {
        let cfg: Config = serde_json::from_value(serde_json::json!({
            "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "vocab_size": 256
        }))
        .unwrap();
        for name in SUPPORTED_ARCHITECTURES {
            let arch = name.split(' ').next().unwrap();
            // A multimodal folder is read as its language model's architecture first.
            let outer = serde_json::json!({"architectures": [arch], "text_config": {}, "thinker_config": {"text_config": {}}});
            let inner =
                multimodal::language_model(outer)["architectures"][0].as_str().unwrap_or(arch).to_string();
            // Nemotron-H goes through its own converter before `family_of`.
            assert!(inner == "NemotronHForCausalLM" || family_of(&inner, &cfg).is_ok(), "{arch} as {inner}");
        }
        assert!(matches!(family_of("FalconForCausalLM", &cfg), Err(None)));
        let e = ImportError::Architecture { path: "x/config.json".into(), arch: "FalconForCausalLM".into() };
        assert!(e.to_string().contains("Gemma2ForCausalLM, Gemma3ForCausalLM"), "{e}");
    }

    #[test]
    fn f16_round_trip() {
        for x in [0.0f32, 1.0, -2.5, 0.1, 65504.0, 6.0e-5] {
            let back = f16_to_f32(crate::synth::f16_bits(x));
            assert!((back - x).abs() <= x.abs() * 1e-3 + 1e-7, "{x} -> {back}");
        }
    }
}
