//! Nemotron-H (`NemotronHForCausalLM`: Nemotron-H 4B/8B, Nemotron Nano 2), NVIDIA's hybrid of
//! Mamba-2, attention and MLP layers, as llama.cpp's `nemotron_h`: the seed's "Nemotron-H
//! family", which the Python SAGE could not run on a Jetson because `mamba-ssm` does not build
//! there. llama.cpp runs the Mamba-2 scan itself, on every backend.
//!
//! Each layer is one kind, from `layers_block_type` (transformers 5) or `hybrid_override_pattern`
//! (`M` Mamba-2, `*` attention, `-` MLP): a norm, the mixer, the residual. Attention has no
//! positional encoding (the Mamba layers carry position); the MLP is squared ReLU without a gate.
//! Mixture-of-experts layers (Nemotron 3) and what llama.cpp's graph lacks are refused by name.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value as Json;

use super::{
    file_type, resolve, tokenizer, Conversion, ImportError, Source, StTensor, Transform, MAX_DIMENSION,
};
use crate::gguf::writer::{GgufWriter, MetaValue, TensorDecl};
use crate::llama_arch::GGML_F32;

/// llama.cpp's name of the architecture.
const ARCH: &str = "nemotron_h";

/// The config.json fields read, with transformers' defaults (`NemotronHConfig`) where a
/// published config may leave one out.
#[derive(Debug, Deserialize)]
struct HConfig {
    hidden_size: u64,
    vocab_size: u64,
    num_attention_heads: u64,
    num_key_value_heads: Option<u64>,
    head_dim: Option<u64>,
    intermediate_size: u64,
    #[serde(default = "default_context")]
    max_position_embeddings: u64,
    #[serde(default = "default_eps")]
    layer_norm_epsilon: f64,
    #[serde(default)]
    tie_word_embeddings: bool,
    layers_block_type: Option<Vec<String>>,
    hybrid_override_pattern: Option<String>,
    #[serde(default = "default_state")]
    ssm_state_size: u64,
    #[serde(default = "default_mamba_heads")]
    mamba_num_heads: u64,
    #[serde(default = "default_mamba_head_dim")]
    mamba_head_dim: u64,
    #[serde(default = "default_groups", alias = "mamba_n_groups")]
    n_groups: u64,
    #[serde(default = "default_conv", alias = "mamba_d_conv")]
    conv_kernel: u64,
    #[serde(default = "yes", alias = "mamba_conv_bias")]
    use_conv_bias: bool,
    #[serde(default)]
    mamba_proj_bias: bool,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    mlp_hidden_act: Option<String>,
    name_or_path: Option<String>,
    bos_token_id: Option<Json>,
    eos_token_id: Option<Json>,
}

fn default_context() -> u64 {
    4096
}
fn default_eps() -> f64 {
    1e-5
}
fn default_state() -> u64 {
    128
}
fn default_mamba_heads() -> u64 {
    128
}
fn default_mamba_head_dim() -> u64 {
    64
}
fn default_groups() -> u64 {
    8
}
fn default_conv() -> u64 {
    4
}
fn yes() -> bool {
    true
}

/// A layer's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mamba,
    Attention,
    Mlp,
}

/// The sizes of a Nemotron-H model, checked.
#[derive(Debug, Clone, PartialEq)]
struct HybridShape {
    name: String,
    vocab: u64,
    hidden: u64,
    layers: Vec<Kind>,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    intermediate: u64,
    context: u64,
    eps: f64,
    tied: bool,
    /// Mamba-2: state size, heads, head width, groups of B and C, convolution width.
    d_state: u64,
    ssm_heads: u64,
    ssm_head_dim: u64,
    groups: u64,
    d_conv: u64,
}

impl HybridShape {
    fn d_inner(&self) -> u64 {
        self.ssm_heads * self.ssm_head_dim
    }

    /// The convolution's channels: x, B and C.
    fn conv_dim(&self) -> u64 {
        self.d_inner() + 2 * self.groups * self.d_state
    }

    fn write_metadata(&self, w: &mut GgufWriter, file_type: u32) {
        let key = |k: &str| format!("{ARCH}.{k}");
        let per_layer =
            |f: &dyn Fn(Kind) -> u64| MetaValue::I32s(self.layers.iter().map(|&k| f(k) as i32).collect());
        w.meta("general.architecture", MetaValue::Str(ARCH.into()))
            .meta("general.name", MetaValue::Str(self.name.clone()))
            .meta("general.file_type", MetaValue::U32(file_type))
            .meta(&key("vocab_size"), MetaValue::U32(self.vocab as u32))
            .meta(&key("context_length"), MetaValue::U32(self.context as u32))
            .meta(&key("embedding_length"), MetaValue::U32(self.hidden as u32))
            .meta(&key("block_count"), MetaValue::U32(self.layers.len() as u32))
            // llama.cpp tells a layer's kind by these: no KV heads and no MLP is Mamba.
            .meta(
                &key("feed_forward_length"),
                per_layer(&|k| if k == Kind::Mlp { self.intermediate } else { 0 }),
            )
            // One head count for all: llama.cpp derives the head width from layer 0's.
            .meta(&key("attention.head_count"), MetaValue::U32(self.heads as u32))
            .meta(
                &key("attention.head_count_kv"),
                per_layer(&|k| if k == Kind::Attention { self.kv_heads } else { 0 }),
            )
            .meta(&key("attention.key_length"), MetaValue::U32(self.head_dim as u32))
            .meta(&key("attention.value_length"), MetaValue::U32(self.head_dim as u32))
            .meta(&key("attention.layer_norm_epsilon"), MetaValue::F32(self.eps as f32))
            .meta(&key("attention.layer_norm_rms_epsilon"), MetaValue::F32(self.eps as f32))
            .meta(&key("ssm.conv_kernel"), MetaValue::U32(self.d_conv as u32))
            .meta(&key("ssm.inner_size"), MetaValue::U32(self.d_inner() as u32))
            .meta(&key("ssm.state_size"), MetaValue::U32(self.d_state as u32))
            .meta(&key("ssm.time_step_rank"), MetaValue::U32(self.ssm_heads as u32))
            .meta(&key("ssm.group_count"), MetaValue::U32(self.groups as u32));
    }

    /// Every tensor, in llama.cpp's names (dimensions innermost first), with the HF tensor it
    /// comes from (`backbone.*`, `lm_head.weight`).
    fn tensors(&self) -> Vec<(TensorDecl, Source)> {
        let mut v = vec![];
        let mut add = |name: String, dims: Vec<u64>, hf: String, hf_shape: Vec<u64>, transform, f32: bool| {
            let d = TensorDecl { name, dims, ggml_type: GGML_F32, bytes: 0 };
            v.push((d, Source { name: hf, shape: hf_shape, transform, f32 }));
        };
        let keep = Transform::Keep;
        let h = self.hidden;
        add(
            "token_embd.weight".into(),
            vec![h, self.vocab],
            "backbone.embeddings.weight".into(),
            vec![self.vocab, h],
            keep,
            false,
        );
        let (q, kv, ff, inner, conv) = (
            self.heads * self.head_dim,
            self.kv_heads * self.head_dim,
            self.intermediate,
            self.d_inner(),
            self.conv_dim(),
        );
        let in_proj = 2 * inner + 2 * self.groups * self.d_state + self.ssm_heads;
        for (l, kind) in self.layers.iter().enumerate() {
            let g = |n: &str| format!("blk.{l}.{n}");
            let m = |n: &str| format!("backbone.layers.{l}.mixer.{n}");
            add(
                g("attn_norm.weight"),
                vec![h],
                format!("backbone.layers.{l}.norm.weight"),
                vec![h],
                keep,
                true,
            );
            match kind {
                Kind::Mamba => {
                    add(
                        g("ssm_in.weight"),
                        vec![h, in_proj],
                        m("in_proj.weight"),
                        vec![in_proj, h],
                        keep,
                        false,
                    );
                    // The small tensors stay F32: llama.cpp's convolution and scan read them so.
                    add(
                        g("ssm_conv1d.weight"),
                        vec![self.d_conv, conv],
                        m("conv1d.weight"),
                        vec![conv, 1, self.d_conv],
                        keep,
                        true,
                    );
                    add(g("ssm_conv1d.bias"), vec![conv], m("conv1d.bias"), vec![conv], keep, true);
                    add(
                        g("ssm_dt.bias"),
                        vec![self.ssm_heads],
                        m("dt_bias"),
                        vec![self.ssm_heads],
                        keep,
                        true,
                    );
                    add(
                        g("ssm_a"),
                        vec![1, self.ssm_heads],
                        m("A_log"),
                        vec![self.ssm_heads],
                        Transform::NegExp,
                        true,
                    );
                    add(g("ssm_d"), vec![1, self.ssm_heads], m("D"), vec![self.ssm_heads], keep, true);
                    // The gated norm is per group of channels.
                    add(
                        g("ssm_norm.weight"),
                        vec![inner / self.groups, self.groups],
                        m("norm.weight"),
                        vec![inner],
                        keep,
                        true,
                    );
                    add(
                        g("ssm_out.weight"),
                        vec![inner, h],
                        m("out_proj.weight"),
                        vec![h, inner],
                        keep,
                        false,
                    );
                }
                Kind::Attention => {
                    add(g("attn_q.weight"), vec![h, q], m("q_proj.weight"), vec![q, h], keep, false);
                    add(g("attn_k.weight"), vec![h, kv], m("k_proj.weight"), vec![kv, h], keep, false);
                    add(g("attn_v.weight"), vec![h, kv], m("v_proj.weight"), vec![kv, h], keep, false);
                    add(g("attn_output.weight"), vec![q, h], m("o_proj.weight"), vec![h, q], keep, false);
                }
                Kind::Mlp => {
                    add(g("ffn_up.weight"), vec![h, ff], m("up_proj.weight"), vec![ff, h], keep, false);
                    add(g("ffn_down.weight"), vec![ff, h], m("down_proj.weight"), vec![h, ff], keep, false);
                }
            }
        }
        add("output_norm.weight".into(), vec![h], "backbone.norm_f.weight".into(), vec![h], keep, true);
        if !self.tied {
            add(
                "output.weight".into(),
                vec![h, self.vocab],
                "lm_head.weight".into(),
                vec![self.vocab, h],
                keep,
                false,
            );
        }
        v
    }
}

/// Each layer's kind: `layers_block_type` (transformers 5, with its older names), else
/// `hybrid_override_pattern`.
fn kinds(cfg: &HConfig) -> Result<Vec<Kind>, String> {
    let moe = || "mixture-of-experts layers (Nemotron 3) are not imported".to_string();
    if let Some(types) = &cfg.layers_block_type {
        return types
            .iter()
            .map(|t| match t.as_str() {
                "mamba" | "linear_attention" => Ok(Kind::Mamba),
                "attention" | "full_attention" => Ok(Kind::Attention),
                "mlp" => Ok(Kind::Mlp),
                "moe" => Err(moe()),
                other => Err(format!("layer type {other:?} is not supported")),
            })
            .collect();
    }
    let pattern = cfg
        .hybrid_override_pattern
        .as_deref()
        .ok_or("neither layers_block_type nor hybrid_override_pattern")?;
    pattern
        .chars()
        .map(|c| match c {
            'M' => Ok(Kind::Mamba),
            '*' => Ok(Kind::Attention),
            '-' => Ok(Kind::Mlp),
            'E' => Err(moe()),
            other => Err(format!("hybrid_override_pattern has {other:?} (M, * and - are supported)")),
        })
        .collect()
}

/// What HF's Nemotron-H may compute and llama.cpp's graph does not.
fn refuse_what_llama_cpp_lacks(cfg: &HConfig) -> Result<(), String> {
    if let Some(a) = cfg.mlp_hidden_act.as_deref().filter(|a| *a != "relu2") {
        return Err(format!("NemotronH: mlp_hidden_act {a:?} is not supported (relu2 is)"));
    }
    for (on, what) in [
        (cfg.mamba_proj_bias, "mamba_proj_bias"),
        (cfg.attention_bias, "attention_bias"),
        (cfg.mlp_bias, "mlp_bias"),
        (!cfg.use_conv_bias, "a convolution without bias (use_conv_bias false)"),
    ] {
        if on {
            return Err(format!("NemotronH: {what} is not supported"));
        }
    }
    Ok(())
}

fn shape(cfg: &HConfig) -> Result<HybridShape, String> {
    refuse_what_llama_cpp_lacks(cfg)?;
    let layers = kinds(cfg)?;
    if layers.is_empty() {
        return Err("no layers".into());
    }
    let heads = cfg.num_attention_heads;
    let kv_heads = cfg.num_key_value_heads.unwrap_or(heads);
    let head_dim = cfg.head_dim.or(cfg.hidden_size.checked_div(heads)).unwrap_or(0);
    let s = HybridShape {
        name: cfg.name_or_path.clone().unwrap_or_else(|| "nemotron-h".into()),
        vocab: cfg.vocab_size,
        hidden: cfg.hidden_size,
        layers,
        heads,
        kv_heads,
        head_dim,
        intermediate: cfg.intermediate_size,
        context: cfg.max_position_embeddings,
        eps: cfg.layer_norm_epsilon,
        tied: cfg.tie_word_embeddings,
        d_state: cfg.ssm_state_size,
        ssm_heads: cfg.mamba_num_heads,
        ssm_head_dim: cfg.mamba_head_dim,
        groups: cfg.n_groups,
        d_conv: cfg.conv_kernel,
    };
    let sizes = [
        ("hidden_size", s.hidden),
        ("vocab_size", s.vocab),
        ("ssm_state_size", s.d_state),
        ("mamba_num_heads", s.ssm_heads),
        ("mamba_head_dim", s.ssm_head_dim),
        ("n_groups", s.groups),
        ("conv_kernel", s.d_conv),
    ];
    if let Some((name, v)) = sizes.iter().find(|(_, v)| *v == 0 || *v > MAX_DIMENSION) {
        return Err(format!("{name} = {v} is out of range"));
    }
    let bad_heads = heads == 0
        || kv_heads == 0
        || !heads.is_multiple_of(kv_heads)
        || head_dim == 0
        || head_dim > MAX_DIMENSION;
    if s.layers.contains(&Kind::Attention) && bad_heads {
        return Err(format!(
            "{heads} attention heads over {kv_heads} KV heads of {head_dim} are not a shape"
        ));
    }
    if s.layers.contains(&Kind::Mlp) && (s.intermediate == 0 || s.intermediate > MAX_DIMENSION) {
        return Err(format!("intermediate_size = {} is out of range", s.intermediate));
    }
    if !s.d_inner().is_multiple_of(s.groups) {
        return Err(format!("{} Mamba channels do not split into {} groups", s.d_inner(), s.groups));
    }
    Ok(s)
}

/// Convert the Nemotron-H folder `dir` (config.json `raw`, read from `cfg_path`).
pub(super) fn convert(
    dir: &Path,
    cfg_path: &Path,
    raw: Json,
    st: &HashMap<String, StTensor>,
) -> Result<Conversion, ImportError> {
    let config_err = |m: String| ImportError::Config { path: cfg_path.to_path_buf(), message: m };
    let cfg: HConfig =
        serde_json::from_value(raw).map_err(|e| config_err(format!("not a Nemotron-H config: {e}")))?;
    let shape = shape(&cfg).map_err(config_err)?;
    let wanted = shape.tensors().into_iter().map(|(d, s)| (d, Some(s)));
    // A tied model may ship lm_head, an untied one only the embedding.
    let plan = resolve(dir, wanted, st, |_| None)?;
    let mut writer = GgufWriter::new();
    shape.write_metadata(&mut writer, file_type(&plan));
    tokenizer::write(dir, &mut writer, shape.vocab, (&cfg.bos_token_id, &cfg.eos_token_id))?;
    Ok(Conversion { architecture: ARCH.into(), writer, plan, rope: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nemotron-H 4B's config.json as published (transformers 4 names).
    fn published() -> Json {
        serde_json::json!({
            "architectures": ["NemotronHForCausalLM"], "hidden_size": 3072, "vocab_size": 131072,
            "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
            "intermediate_size": 12288, "max_position_embeddings": 131072, "layer_norm_epsilon": 1e-5,
            "hybrid_override_pattern": "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-",
            "ssm_state_size": 128, "mamba_num_heads": 112, "mamba_head_dim": 64, "n_groups": 8,
            "conv_kernel": 4, "use_conv_bias": true, "mlp_hidden_act": "relu2", "tie_word_embeddings": false
        })
    }

    #[test]
    fn a_published_config_gives_its_layers_and_sizes() {
        let cfg: HConfig = serde_json::from_value(published()).unwrap();
        let s = shape(&cfg).unwrap();
        assert_eq!(s.layers.len(), 52);
        assert_eq!(s.layers.iter().filter(|&&k| k == Kind::Attention).count(), 4);
        assert_eq!(s.layers.iter().filter(|&&k| k == Kind::Mamba).count(), 24);
        assert_eq!(s.d_inner(), 7168);
        assert_eq!(s.conv_dim(), 7168 + 2 * 8 * 128);
        // About 4 B parameters: every tensor planned, none twice.
        let params: u64 = s.tensors().iter().map(|(d, _)| d.dims.iter().product::<u64>()).sum();
        assert!((3_500_000_000..4_500_000_000).contains(&params), "{params}");
        let mut w = GgufWriter::new();
        s.write_metadata(&mut w, 1);
    }

    #[test]
    fn transformers_5_layer_names_are_read() {
        let mut c = published();
        c["layers_block_type"] =
            serde_json::json!(["linear_attention", "mlp", "full_attention", "mamba", "attention"]);
        let s = shape(&serde_json::from_value(c).unwrap()).unwrap();
        use Kind::*;
        assert_eq!(s.layers, vec![Mamba, Mlp, Attention, Mamba, Attention]);
    }

    #[test]
    fn what_llama_cpp_lacks_is_refused_by_name() {
        for (key, value, says) in [
            ("hybrid_override_pattern", serde_json::json!("M-E*"), "mixture-of-experts"),
            ("layers_block_type", serde_json::json!(["moe"]), "mixture-of-experts"),
            ("hybrid_override_pattern", serde_json::json!("M-X"), "'X'"),
            ("mlp_hidden_act", serde_json::json!("silu"), "mlp_hidden_act"),
            ("mamba_proj_bias", serde_json::json!(true), "mamba_proj_bias"),
            ("use_conv_bias", serde_json::json!(false), "without bias"),
            ("n_groups", serde_json::json!(5), "groups"),
            ("mamba_num_heads", serde_json::json!(0), "mamba_num_heads"),
        ] {
            let mut c = published();
            c[key] = value;
            let e = shape(&serde_json::from_value(c).unwrap()).unwrap_err();
            assert!(e.contains(says), "{key}: {e}");
        }
    }
}
