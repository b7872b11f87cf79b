//! The Llama family as llama.cpp expects it in GGUF: metadata keys, tensor names and shapes, and
//! the Llama 3.1 RoPE scaling factors. Shared by `synth` (random weights of a real shape) and
//! `import` (HF safetensors folders).

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

/// The shape of a Llama-family model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaShape {
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
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// Output head shares the embedding.
    pub tied_embeddings: bool,
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
                rms_eps: 1e-5,
                tied_embeddings: false,
            },
            "llama-3.2-1b" => Self {
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
                rms_eps: 1e-5,
                tied_embeddings: true,
            },
            "llama-3.2-3b" => Self {
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
                rms_eps: 1e-5,
                tied_embeddings: true,
            },
            "llama-3.1-8b" => Self {
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
                rms_eps: 1e-5,
                tied_embeddings: false,
            },
            "tiny" => Self {
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
                rms_eps: 1e-5,
                tied_embeddings: false,
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
        let mlp = 3 * self.hidden * self.intermediate;
        let per_layer = attn + mlp + 2 * self.hidden;
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

    /// Write the `general.*` and `llama.*` metadata. `file_type` is llama.cpp's `llama_ftype`
    /// (0 = all F32, 1 = mostly F16).
    pub fn write_metadata(&self, w: &mut GgufWriter, file_type: u32) {
        w.meta("general.architecture", MetaValue::Str("llama".into()))
            .meta("general.name", MetaValue::Str(self.name.clone()))
            .meta("general.file_type", MetaValue::U32(file_type))
            .meta("llama.vocab_size", MetaValue::U32(self.vocab as u32))
            .meta("llama.context_length", MetaValue::U32(self.context as u32))
            .meta("llama.embedding_length", MetaValue::U32(self.hidden as u32))
            .meta("llama.block_count", MetaValue::U32(self.layers as u32))
            .meta("llama.feed_forward_length", MetaValue::U32(self.intermediate as u32))
            .meta("llama.attention.head_count", MetaValue::U32(self.heads as u32))
            .meta("llama.attention.head_count_kv", MetaValue::U32(self.kv_heads as u32))
            .meta("llama.attention.key_length", MetaValue::U32(self.head_dim as u32))
            .meta("llama.attention.value_length", MetaValue::U32(self.head_dim as u32))
            .meta("llama.rope.dimension_count", MetaValue::U32(self.head_dim as u32))
            .meta("llama.rope.freq_base", MetaValue::F32(self.rope_theta as f32))
            .meta("llama.attention.layer_norm_rms_epsilon", MetaValue::F32(self.rms_eps as f32));
    }

    /// Every tensor of the model, in llama.cpp's names, with 2-D weights in `weight_type`
    /// (norms and RoPE factors stay F32). Dimensions are innermost first.
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
        for l in 0..self.layers {
            v.push(norm(format!("blk.{l}.attn_norm.weight"), h));
            v.push(w(format!("blk.{l}.attn_q.weight"), h, q));
            v.push(w(format!("blk.{l}.attn_k.weight"), h, kv));
            v.push(w(format!("blk.{l}.attn_v.weight"), h, kv));
            v.push(w(format!("blk.{l}.attn_output.weight"), q, h));
            v.push(norm(format!("blk.{l}.ffn_norm.weight"), h));
            v.push(w(format!("blk.{l}.ffn_gate.weight"), h, ff));
            v.push(w(format!("blk.{l}.ffn_up.weight"), h, ff));
            v.push(w(format!("blk.{l}.ffn_down.weight"), ff, h));
        }
        v.push(norm("output_norm.weight".into(), h));
        if !self.tied_embeddings {
            v.push(w("output.weight".into(), h, self.vocab));
        }
        v
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
