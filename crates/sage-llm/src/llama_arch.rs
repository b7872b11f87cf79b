//! The Llama family as llama.cpp expects it in GGUF: metadata keys, tensor names and shapes, and
//! the Llama 3.1 RoPE scaling factors; and the two families that share its block, Qwen 2 (biases
//! on Q, K and V) and Qwen 3 (an RMS norm on each head's Q and K). Shared by `synth` (random
//! weights of a real shape) and `import` (HF safetensors folders).

use serde::{Deserialize, Serialize};

use crate::gguf::writer::{GgufWriter, MetaValue, TensorDecl};

/// ggml type ids used here.
pub const GGML_F32: u32 = 0;
/// F16.
pub const GGML_F16: u32 = 1;

/// Llama 3.x RoPE scaling (`rope_scaling` with `rope_type: llama3` in config.json).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Llama3Rope {
    /// Scale factor.
    pub factor: f64,
    /// Low-frequency factor.
    pub low_freq_factor: f64,
    /// High-frequency factor.
    pub high_freq_factor: f64,
    /// Context length before scaling.
    pub original_max_position_embeddings: f64,
}

/// YaRN RoPE scaling (`rope_type: yarn`, Qwen's long-context setting): each frequency blended
/// between interpolated (divided by `factor`) and kept, over the correction range llama.cpp and
/// HF both derive from `original_context` with β 32 and 1; cos and sin scaled by
/// `0.1 ln(factor) + 1`, times `attn_factor`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Yarn {
    /// Scale factor.
    pub factor: f64,
    /// Context length before scaling.
    pub original_context: u64,
    /// What the attention scaling is beyond YaRN's own `0.1 ln(factor) + 1` (1 unless the config
    /// sets `attention_factor` or DeepSeek's `mscale`s).
    pub attn_factor: f64,
}

/// How an embedding model pools its last hidden states into one vector (llama.cpp's
/// `pooling_type`): its attention then sees the whole text both ways, and it has no LM head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The mean over the tokens (NVIDIA's Llama-Nemotron embedding models: `pooling: avg`).
    Mean,
    /// The first token's.
    Cls,
    /// The last token's.
    Last,
}

impl Pooling {
    /// llama.cpp's `llama_pooling_type`.
    pub fn gguf_id(self) -> u32 {
        match self {
            Pooling::Mean => 1,
            Pooling::Cls => 2,
            Pooling::Last => 3,
        }
    }
}

/// Which of the block's variants a model is: llama.cpp's architecture name and what it adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Llama 2/3.x, Nemotron Nano, Mistral (`llama` in GGUF).
    #[default]
    Llama,
    /// Qwen 2 and 2.5 (`qwen2`): biases on the Q, K and V projections.
    Qwen2,
    /// Qwen 3 (`qwen3`): an RMS norm over each head's queries and keys before RoPE.
    Qwen3,
    /// Qwen 3's mixture of experts (`qwen3moe`, Qwen3-30B-A3B): Qwen 3's attention, and in every
    /// layer experts chosen by a softmax router instead of one MLP.
    Qwen3Moe,
    /// Gemma 3's text model (`gemma3`): Q/K norms, a norm after attention and after the MLP,
    /// GELU, embeddings scaled by √hidden, local layers with a sliding window and their own RoPE
    /// base; HF stores each norm's weight less one.
    Gemma3,
    /// Gemma 2 (`gemma2`): Gemma 3's block without Q/K norms, every other layer local (the same
    /// RoPE base), attention logits and final logits soft-capped.
    Gemma2,
    /// Phi-3 (`phi3`): the Llama block with Q, K and V in one projection (`attn_qkv`) and the
    /// gate and up projections in one (`ffn_up`, gate first), RoPE on halves, possibly on part
    /// of each head.
    Phi3,
    /// IBM Granite 3 (`granite`): the Llama block with its embeddings, residual branches,
    /// attention scores and logits scaled by the config's multipliers.
    Granite,
}

/// Granite's multipliers: on the embeddings, on each residual branch, the attention's scale
/// (in place of 1/√head_dim), and the divisor of the logits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GraniteScales {
    /// `embedding_multiplier`.
    pub embedding: f64,
    /// `residual_multiplier`.
    pub residual: f64,
    /// `attention_multiplier`.
    pub attention: f64,
    /// `logits_scaling`.
    pub logits: f64,
}

impl Family {
    /// llama.cpp's name, `general.architecture` and the prefix of the model's keys.
    pub fn gguf_arch(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
            Family::Qwen3Moe => "qwen3moe",
            Family::Gemma3 => "gemma3",
            Family::Gemma2 => "gemma2",
            Family::Phi3 => "phi3",
            Family::Granite => "granite",
        }
    }

    /// Whether llama.cpp rotates interleaved pairs for this architecture (Llama), so that HF's
    /// rotate-half rows of Q and K must be permuted; Qwen's architectures rotate halves (NeoX), as
    /// HF does.
    pub fn interleaved_rope(self) -> bool {
        matches!(self, Family::Llama | Family::Granite)
    }

    /// Whether each head's queries and keys are RMS-normed before RoPE (`attn_q_norm`,
    /// `attn_k_norm`).
    pub fn qk_norm(self) -> bool {
        matches!(self, Family::Qwen3 | Family::Qwen3Moe | Family::Gemma3)
    }

    /// Whether Q, K and V are one tensor and the gate and up projections another (Phi-3).
    pub fn fused(self) -> bool {
        self == Family::Phi3
    }

    /// Whether the attention's and the MLP's outputs are normed before they join the residual
    /// (`attn_post_norm`, `ffn_post_norm`), and HF's norm weights are stored less one.
    pub fn gemma_norms(self) -> bool {
        matches!(self, Family::Gemma2 | Family::Gemma3)
    }
}

/// Layers that attend within a sliding window (Gemma 3's local layers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sliding {
    /// Tokens a local layer attends to, itself included.
    pub window: u64,
    /// Per layer, whether it is local.
    pub layers: Vec<bool>,
    /// The local layers' RoPE base.
    pub rope_theta: f64,
}

/// Which projections carry a bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Biases {
    /// Q, K and V.
    pub qkv: bool,
    /// The attention output.
    pub out: bool,
    /// Gate, up and down.
    pub mlp: bool,
}

/// The shape of a Llama-family model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaShape {
    /// The block's variant.
    #[serde(default)]
    pub family: Family,
    /// Projections with biases.
    #[serde(default)]
    pub biases: Biases,
    /// Name written to `general.name`.
    pub name: String,
    /// Vocabulary.
    pub vocab: u64,
    /// Hidden size.
    pub hidden: u64,
    /// MLP intermediate size.
    pub intermediate: u64,
    /// Layers.
    pub layers: u64,
    /// Attention heads.
    pub heads: u64,
    /// Key/value heads (GQA).
    pub kv_heads: u64,
    /// Per-head dimension (may differ from hidden / heads, as in Nemotron Nano 4B).
    pub head_dim: u64,
    /// Trained context.
    pub context: u64,
    /// RoPE base.
    pub rope_theta: f64,
    /// Llama 3.1 RoPE scaling.
    pub rope_scaling: Option<Llama3Rope>,
    /// Linear RoPE scaling (of the global layers, in Gemma 3 4B and up): positions divided by it.
    #[serde(default)]
    pub rope_linear: Option<f64>,
    /// YaRN RoPE scaling.
    #[serde(default)]
    pub rope_yarn: Option<Yarn>,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// Output head shares the embedding.
    pub tied_embeddings: bool,
    /// Local layers, where some attend within a window.
    #[serde(default)]
    pub sliding: Option<Sliding>,
    /// `tanh` soft cap of the final logits.
    #[serde(default)]
    pub final_logit_softcapping: Option<f64>,
    /// `tanh` soft cap of the attention logits (Gemma 2).
    #[serde(default)]
    pub attn_logit_softcapping: Option<f64>,
    /// An embedding model: attention both ways, the hidden states pooled so.
    #[serde(default)]
    pub pooling: Option<Pooling>,
    /// Dimensions of each head RoPE turns, where fewer than all (Phi's `partial_rotary_factor`).
    #[serde(default)]
    pub rotary_dims: Option<u64>,
    /// Granite's multipliers.
    #[serde(default)]
    pub granite: Option<GraniteScales>,
    /// A mixture of experts in every layer instead of one MLP.
    #[serde(default)]
    pub experts: Option<Experts>,
}

/// The experts of a layer: SwiGLU MLPs of `width`, `used` of `count` chosen per token by a
/// softmax router, their weights normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Experts {
    /// Experts per layer.
    pub count: u64,
    /// Experts used per token.
    pub used: u64,
    /// Each expert's intermediate size.
    pub width: u64,
}

impl LlamaShape {
    /// Published shapes: `nemotron-nano-4b` (NVIDIA Llama-3.1-Nemotron-Nano-4B-v1.1),
    /// `llama-3.2-1b`, `llama-3.2-3b`, `llama-3.1-8b`, and `tiny` for tests.
    pub fn named(name: &str) -> Option<Self> {
        let base = Llama3Rope {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192.0,
        };
        let l31 = Some(base);
        let l32 = Some(Llama3Rope { factor: 32.0, ..base });
        Some(match name {
            // Llama-3.1-Minitron-4B-Width lineage: hidden 3072 with 32 heads of 128.
            "nemotron-nano-4b" => Self {
                family: Family::Llama,
                biases: Biases::default(),
                name: "Llama-3.1-Nemotron-Nano-4B-v1.1 shape (random weights)".into(),
                vocab: 128_256,
                hidden: 3072,
                intermediate: 9216,
                layers: 32,
                heads: 32,
                kv_heads: 8,
                head_dim: 128,
                context: 131_072,
                rope_theta: 500_000.0,
                rope_scaling: l31,
                rope_linear: None,
                rope_yarn: None,
                experts: None,
                rms_eps: 1e-5,
                tied_embeddings: false,
                sliding: None,
                final_logit_softcapping: None,
                attn_logit_softcapping: None,
                pooling: None,
                rotary_dims: None,
                granite: None,
            },
            "llama-3.2-1b" => Self {
                family: Family::Llama,
                biases: Biases::default(),
                name: "Llama-3.2-1B shape (random weights)".into(),
                vocab: 128_256,
                hidden: 2048,
                intermediate: 8192,
                layers: 16,
                heads: 32,
                kv_heads: 8,
                head_dim: 64,
                context: 131_072,
                rope_theta: 500_000.0,
                rope_scaling: l32,
                rope_linear: None,
                rope_yarn: None,
                experts: None,
                rms_eps: 1e-5,
                tied_embeddings: true,
                sliding: None,
                final_logit_softcapping: None,
                attn_logit_softcapping: None,
                pooling: None,
                rotary_dims: None,
                granite: None,
            },
            "llama-3.2-3b" => Self {
                family: Family::Llama,
                biases: Biases::default(),
                name: "Llama-3.2-3B shape (random weights)".into(),
                vocab: 128_256,
                hidden: 3072,
                intermediate: 8192,
                layers: 28,
                heads: 24,
                kv_heads: 8,
                head_dim: 128,
                context: 131_072,
                rope_theta: 500_000.0,
                rope_scaling: l32,
                rope_linear: None,
                rope_yarn: None,
                experts: None,
                rms_eps: 1e-5,
                tied_embeddings: true,
                sliding: None,
                final_logit_softcapping: None,
                attn_logit_softcapping: None,
                pooling: None,
                rotary_dims: None,
                granite: None,
            },
            "llama-3.1-8b" => Self {
                family: Family::Llama,
                biases: Biases::default(),
                name: "Llama-3.1-8B shape (random weights)".into(),
                vocab: 128_256,
                hidden: 4096,
                intermediate: 14336,
                layers: 32,
                heads: 32,
                kv_heads: 8,
                head_dim: 128,
                context: 131_072,
                rope_theta: 500_000.0,
                rope_scaling: l31,
                rope_linear: None,
                rope_yarn: None,
                experts: None,
                rms_eps: 1e-5,
                tied_embeddings: false,
                sliding: None,
                final_logit_softcapping: None,
                attn_logit_softcapping: None,
                pooling: None,
                rotary_dims: None,
                granite: None,
            },
            "tiny" => Self {
                family: Family::Llama,
                biases: Biases::default(),
                name: "tiny Llama (random weights)".into(),
                vocab: 512,
                hidden: 64,
                intermediate: 128,
                layers: 2,
                heads: 4,
                kv_heads: 2,
                head_dim: 32,
                context: 2048,
                rope_theta: 500_000.0,
                rope_scaling: l31,
                rope_linear: None,
                rope_yarn: None,
                experts: None,
                rms_eps: 1e-5,
                tied_embeddings: false,
                sliding: None,
                final_logit_softcapping: None,
                attn_logit_softcapping: None,
                pooling: None,
                rotary_dims: None,
                granite: None,
            },
            _ => return None,
        })
    }

    /// Names accepted by [`LlamaShape::named`].
    pub const NAMES: [&'static str; 5] =
        ["nemotron-nano-4b", "llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "tiny"];

    /// Parameter count.
    pub fn parameters(&self) -> u64 {
        let attn =
            self.hidden * self.heads * self.head_dim * 2 + self.hidden * self.kv_heads * self.head_dim * 2;
        let mlp = match self.experts {
            Some(e) => e.count * (3 * self.hidden * e.width + self.hidden),
            None => 3 * self.hidden * self.intermediate,
        };
        let (q, kv) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        let b = self.biases;
        let biases = u64::from(b.qkv) * (q + 2 * kv)
            + u64::from(b.out) * self.hidden
            + u64::from(b.mlp) * (2 * self.intermediate + self.hidden);
        let qk_norm = if self.family.qk_norm() { 2 * self.head_dim } else { 0 };
        let post_norms = if self.family.gemma_norms() { 2 * self.hidden } else { 0 };
        let per_layer = attn + mlp + 2 * self.hidden + biases + qk_norm + post_norms;
        let embed = self.vocab * self.hidden;
        per_layer * self.layers + embed * if self.tied_embeddings { 1 } else { 2 } + self.hidden
    }

    /// Per-frequency RoPE factors for Llama 3.1 scaling, as llama.cpp's converter writes them to
    /// `rope_freqs.weight`.
    pub fn rope_factors(&self) -> Option<Vec<f32>> {
        let s = self.rope_scaling?;
        let dim = self.head_dim as f64;
        let low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
        let high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
        Some(
            (0..self.head_dim / 2)
                .map(|i| {
                    let freq = 1.0 / self.rope_theta.powf((2 * i) as f64 / dim);
                    let wavelen = 2.0 * std::f64::consts::PI / freq;
                    let f = if wavelen < high_wavelen {
                        1.0
                    } else if wavelen > low_wavelen {
                        s.factor
                    } else {
                        let smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor)
                            / (s.high_freq_factor - s.low_freq_factor);
                        1.0 / ((1.0 - smooth) / s.factor + smooth)
                    };
                    f as f32
                })
                .collect(),
        )
    }

    /// Write the `general.*` metadata and the architecture's (`llama.*`, `qwen2.*`, `qwen3.*`).
    /// `file_type` is llama.cpp's `llama_ftype` (0 = all F32, 1 = mostly F16).
    pub fn write_metadata(&self, w: &mut GgufWriter, file_type: u32) {
        let arch = self.family.gguf_arch();
        let key = |k: &str| format!("{arch}.{k}");
        Header {
            arch,
            name: &self.name,
            file_type,
            vocab: self.vocab,
            context: self.context,
            hidden: self.hidden,
            layers: self.layers,
        }
        .write(w)
        .meta(&key("feed_forward_length"), MetaValue::U32(self.intermediate as u32))
        .meta(&key("attention.head_count"), MetaValue::U32(self.heads as u32))
        .meta(&key("attention.head_count_kv"), MetaValue::U32(self.kv_heads as u32))
        .meta(&key("attention.key_length"), MetaValue::U32(self.head_dim as u32))
        .meta(&key("attention.value_length"), MetaValue::U32(self.head_dim as u32))
        .meta(&key("rope.dimension_count"), MetaValue::U32(self.rotary_dims.unwrap_or(self.head_dim) as u32))
        .meta(&key("rope.freq_base"), MetaValue::F32(self.rope_theta as f32))
        .meta(&key("attention.layer_norm_rms_epsilon"), MetaValue::F32(self.rms_eps as f32));
        if let Some(sl) = &self.sliding {
            w.meta(&key("attention.sliding_window"), MetaValue::U32(sl.window as u32))
                .meta(
                    &key("attention.sliding_window_pattern"),
                    MetaValue::I32s(sl.layers.iter().map(|&l| l as i32).collect()),
                )
                .meta(&key("rope.freq_base_swa"), MetaValue::F32(sl.rope_theta as f32));
        }
        if let Some(f) = self.rope_linear {
            w.meta(&key("rope.scaling.type"), MetaValue::Str("linear".into()))
                .meta(&key("rope.scaling.factor"), MetaValue::F32(f as f32));
        }
        if let Some(y) = self.rope_yarn {
            w.meta(&key("rope.scaling.type"), MetaValue::Str("yarn".into()))
                .meta(&key("rope.scaling.factor"), MetaValue::F32(y.factor as f32))
                .meta(
                    &key("rope.scaling.original_context_length"),
                    MetaValue::U32(y.original_context as u32),
                );
            if y.attn_factor != 1.0 {
                w.meta(&key("rope.scaling.attn_factor"), MetaValue::F32(y.attn_factor as f32));
            }
        }
        if let Some(cap) = self.final_logit_softcapping {
            w.meta(&key("final_logit_softcapping"), MetaValue::F32(cap as f32));
        }
        if let Some(cap) = self.attn_logit_softcapping {
            w.meta(&key("attn_logit_softcapping"), MetaValue::F32(cap as f32));
        }
        if let Some(g) = self.granite {
            w.meta(&key("embedding_scale"), MetaValue::F32(g.embedding as f32))
                .meta(&key("residual_scale"), MetaValue::F32(g.residual as f32))
                .meta(&key("attention.scale"), MetaValue::F32(g.attention as f32))
                .meta(&key("logit_scale"), MetaValue::F32(g.logits as f32));
        }
        if let Some(p) = self.pooling {
            w.meta(&key("attention.causal"), MetaValue::Bool(false))
                .meta(&key("pooling_type"), MetaValue::U32(p.gguf_id()));
        }
        if let Some(e) = self.experts {
            w.meta(&key("expert_count"), MetaValue::U32(e.count as u32))
                .meta(&key("expert_used_count"), MetaValue::U32(e.used as u32))
                .meta(&key("expert_feed_forward_length"), MetaValue::U32(e.width as u32));
        }
    }

    /// Every tensor of the model, in llama.cpp's names, with 2-D weights in `weight_type`
    /// (norms, biases and RoPE factors stay F32). Dimensions are innermost first.
    pub fn tensor_decls(&self, weight_type: u32) -> Vec<TensorDecl> {
        let wbytes = |n: u64| match weight_type {
            GGML_F32 => n * 4,
            _ => n * 2,
        };
        let w = |name: String, inner: u64, outer: u64| TensorDecl {
            name,
            dims: vec![inner, outer],
            ggml_type: weight_type,
            bytes: wbytes(inner * outer),
        };
        let norm =
            |name: String, n: u64| TensorDecl { name, dims: vec![n], ggml_type: GGML_F32, bytes: n * 4 };
        let (h, q, kv, ff) =
            (self.hidden, self.heads * self.head_dim, self.kv_heads * self.head_dim, self.intermediate);
        let mut v = vec![w("token_embd.weight".into(), h, self.vocab)];
        if let Some(f) = self.rope_factors() {
            v.push(TensorDecl {
                name: "rope_freqs.weight".into(),
                dims: vec![f.len() as u64],
                ggml_type: GGML_F32,
                bytes: f.len() as u64 * 4,
            });
        }
        let b = self.biases;
        for l in 0..self.layers {
            v.push(norm(format!("blk.{l}.attn_norm.weight"), h));
            if self.family.fused() {
                v.push(w(format!("blk.{l}.attn_qkv.weight"), h, q + 2 * kv));
            } else {
                v.push(w(format!("blk.{l}.attn_q.weight"), h, q));
                v.push(w(format!("blk.{l}.attn_k.weight"), h, kv));
                v.push(w(format!("blk.{l}.attn_v.weight"), h, kv));
            }
            if b.qkv {
                v.push(norm(format!("blk.{l}.attn_q.bias"), q));
                v.push(norm(format!("blk.{l}.attn_k.bias"), kv));
                v.push(norm(format!("blk.{l}.attn_v.bias"), kv));
            }
            if self.family.qk_norm() {
                v.push(norm(format!("blk.{l}.attn_q_norm.weight"), self.head_dim));
                v.push(norm(format!("blk.{l}.attn_k_norm.weight"), self.head_dim));
            }
            v.push(w(format!("blk.{l}.attn_output.weight"), q, h));
            if b.out {
                v.push(norm(format!("blk.{l}.attn_output.bias"), h));
            }
            if self.family.gemma_norms() {
                v.push(norm(format!("blk.{l}.post_attention_norm.weight"), h));
                v.push(norm(format!("blk.{l}.post_ffw_norm.weight"), h));
            }
            v.push(norm(format!("blk.{l}.ffn_norm.weight"), h));
            if let Some(e) = self.experts {
                // The router stays F32, as llama.cpp's converter keeps it.
                let (c, ew) = (e.count, e.width);
                v.push(TensorDecl {
                    name: format!("blk.{l}.ffn_gate_inp.weight"),
                    dims: vec![h, c],
                    ggml_type: GGML_F32,
                    bytes: h * c * 4,
                });
                let exps = |name: String, inner: u64, outer: u64| TensorDecl {
                    name,
                    dims: vec![inner, outer, c],
                    ggml_type: weight_type,
                    bytes: wbytes(inner * outer * c),
                };
                v.push(exps(format!("blk.{l}.ffn_gate_exps.weight"), h, ew));
                v.push(exps(format!("blk.{l}.ffn_up_exps.weight"), h, ew));
                v.push(exps(format!("blk.{l}.ffn_down_exps.weight"), ew, h));
                continue;
            }
            if self.family.fused() {
                v.push(w(format!("blk.{l}.ffn_up.weight"), h, 2 * ff));
            } else {
                v.push(w(format!("blk.{l}.ffn_gate.weight"), h, ff));
                v.push(w(format!("blk.{l}.ffn_up.weight"), h, ff));
            }
            v.push(w(format!("blk.{l}.ffn_down.weight"), ff, h));
            if b.mlp {
                v.push(norm(format!("blk.{l}.ffn_gate.bias"), ff));
                v.push(norm(format!("blk.{l}.ffn_up.bias"), ff));
                v.push(norm(format!("blk.{l}.ffn_down.bias"), h));
            }
        }
        v.push(norm("output_norm.weight".into(), h));
        if !self.tied_embeddings {
            v.push(w("output.weight".into(), h, self.vocab));
        }
        v
    }
}

/// The metadata every architecture's file starts with: `general.*` and the model's sizes.
pub struct Header<'a> {
    /// llama.cpp's architecture name, the prefix of its keys.
    pub arch: &'a str,
    /// `general.name`.
    pub name: &'a str,
    /// llama.cpp's `llama_ftype` (0 = all F32, 1 = mostly F16).
    pub file_type: u32,
    /// Vocabulary size.
    pub vocab: u64,
    /// Trained context.
    pub context: u64,
    /// Hidden size.
    pub hidden: u64,
    /// Layers.
    pub layers: u64,
}

impl Header<'_> {
    /// Write it; returns the writer for the architecture's own keys.
    pub fn write<'w>(&self, w: &'w mut GgufWriter) -> &'w mut GgufWriter {
        let key = |k: &str| format!("{}.{k}", self.arch);
        w.meta("general.architecture", MetaValue::Str(self.arch.into()))
            .meta("general.name", MetaValue::Str(self.name.into()))
            .meta("general.file_type", MetaValue::U32(self.file_type))
            .meta(&key("vocab_size"), MetaValue::U32(self.vocab as u32))
            .meta(&key("context_length"), MetaValue::U32(self.context as u32))
            .meta(&key("embedding_length"), MetaValue::U32(self.hidden as u32))
            .meta(&key("block_count"), MetaValue::U32(self.layers as u32))
    }
}

/// A SentencePiece-style vocabulary of `n` synthetic tokens for models without a real tokenizer:
/// `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then filler pieces. Tokenization works (bytes),
/// text is meaningless.
pub fn write_synthetic_vocab(w: &mut GgufWriter, n: u64) {
    let n = n.max(259) as usize;
    let mut tokens = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    tokens.push("<unk>".to_string());
    types.push(2);
    tokens.push("<s>".to_string());
    types.push(3);
    tokens.push("</s>".to_string());
    types.push(3);
    for b in 0..256 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    for i in tokens.len()..n {
        tokens.push(format!("\u{2581}t{i}"));
        types.push(1);
    }
    let scores: Vec<f32> = (0..n).map(|i| -(i as f32)).collect();
    w.meta("tokenizer.ggml.model", MetaValue::Str("llama".into()))
        .meta("tokenizer.ggml.tokens", MetaValue::Strings(tokens))
        .meta("tokenizer.ggml.scores", MetaValue::F32s(scores))
        .meta("tokenizer.ggml.token_type", MetaValue::I32s(types))
        .meta("tokenizer.ggml.unknown_token_id", MetaValue::U32(0))
        .meta("tokenizer.ggml.bos_token_id", MetaValue::U32(1))
        .meta("tokenizer.ggml.eos_token_id", MetaValue::U32(2))
        .meta("tokenizer.ggml.add_bos_token", MetaValue::Bool(true));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nemotron_nano_4b_has_the_published_size() {
        let s = LlamaShape::named("nemotron-nano-4b").unwrap();
        // About 4.5 B parameters: 32 layers of about 116 M plus two 394 M embeddings.
        let p = s.parameters() as f64 / 1e9;
        assert!((4.4..4.6).contains(&p), "{p}");
        assert_ne!(s.head_dim, s.hidden / s.heads);
        let decls = s.tensor_decls(GGML_F16);
        assert_eq!(decls.len(), 1 + 1 + 32 * 9 + 1 + 1);
        let elems: u64 = decls.iter().map(|d| d.dims.iter().product::<u64>()).sum();
        assert_eq!(elems - 64, s.parameters(), "rope factors are not parameters");
    }

    #[test]
    fn llama3_rope_factors_span_1_to_factor() {
        let s = LlamaShape::named("nemotron-nano-4b").unwrap();
        let f = s.rope_factors().unwrap();
        assert_eq!(f.len(), 64);
        assert_eq!(f[0], 1.0);
        assert_eq!(*f.last().unwrap(), 8.0);
        assert!(f.windows(2).all(|w| w[1] >= w[0]));
    }
}
