//! Nemotron-H (`NemotronHForCausalLM`: Nemotron-H 4B/8B, Nemotron Nano 2), NVIDIA's hybrid of
//! Mamba-2, attention and MLP layers, as llama.cpp's `nemotron_h`: the seed's "Nemotron-H
//! family", which the Python SAGE could not run on a Jetson because `mamba-ssm` does not build
//! there. llama.cpp runs the Mamba-2 scan itself, on every backend.
//!
//! Each layer is one kind, from `layers_block_type` (transformers 5) or `hybrid_override_pattern`
//! (`M` Mamba-2, `*` attention, `-` MLP, `E` mixture of experts): a norm, the mixer, the
//! residual. Attention has no positional encoding (the Mamba layers carry position); the MLP is
//! squared ReLU without a gate. A model with mixture-of-experts layers (Nemotron 3) is
//! llama.cpp's `nemotron_h_moe`, its per-expert matrices stacked. What llama.cpp's graph lacks
//! is refused by name.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value as Json;

use super::{
    file_type, resolve, tokenizer, Conversion, ImportError, Source, StTensor, Transform, MAX_DIMENSION,
};
use crate::gguf::writer::{GgufWriter, MetaValue, TensorDecl};
use crate::llama_arch::{Header, GGML_F32};

/// llama.cpp's names of the architecture, without and with mixture-of-experts layers.
const ARCH: &str = "nemotron_h";
const ARCH_MOE: &str = "nemotron_h_moe";

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
    #[serde(default = "default_experts")]
    n_routed_experts: u64,
    #[serde(default = "default_experts_used")]
    num_experts_per_tok: u64,
    #[serde(default = "default_expert_width")]
    moe_intermediate_size: u64,
    #[serde(default = "default_expert_width")]
    moe_shared_expert_intermediate_size: u64,
    #[serde(default = "one")]
    routed_scaling_factor: f64,
    #[serde(default = "yes")]
    norm_topk_prob: bool,
    #[serde(default = "one_group")]
    n_group: u64,
    moe_latent_size: Option<u64>,
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
fn default_experts() -> u64 {
    8
}
fn default_experts_used() -> u64 {
    2
}
fn default_expert_width() -> u64 {
    7688
}
fn one() -> f64 {
    1.0
}
fn one_group() -> u64 {
    1
}

/// A layer's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mamba,
    Attention,
    Mlp,
    /// Mixture of experts (Nemotron 3).
    Moe,
}

/// The experts of the mixture-of-experts layers: squared-ReLU MLPs without a gate, chosen by a
/// sigmoid router with a selection bias, their weights normalised and scaled, and a shared
/// expert beside them.
#[derive(Debug, Clone, PartialEq)]
struct Experts {
    count: u64,
    used: u64,
    width: u64,
    shared_width: u64,
    normalised: bool,
    scale: f64,
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
    experts: Option<Experts>,
}

impl HybridShape {
    fn arch(&self) -> &'static str {
        if self.experts.is_some() {
            ARCH_MOE
        } else {
            ARCH
        }
    }

    fn d_inner(&self) -> u64 {
        self.ssm_heads * self.ssm_head_dim
    }

    /// The convolution's channels: x, B and C.
    fn conv_dim(&self) -> u64 {
        self.d_inner() + 2 * self.groups * self.d_state
    }

    fn write_metadata(&self, w: &mut GgufWriter, file_type: u32) {
        let arch = self.arch();
        let key = |k: &str| format!("{arch}.{k}");
        let expert_width = self.experts.as_ref().map_or(0, |e| e.width);
        let per_layer =
            |f: &dyn Fn(Kind) -> u64| MetaValue::I32s(self.layers.iter().map(|&k| f(k) as i32).collect());
        Header {
            arch,
            name: &self.name,
            file_type,
            vocab: self.vocab,
            context: self.context,
            hidden: self.hidden,
            layers: self.layers.len() as u64,
        }
        .write(w)
        // llama.cpp tells a layer's kind by these: no KV heads and no MLP is Mamba.
        .meta(
            &key("feed_forward_length"),
            per_layer(&|k| match k {
                Kind::Mlp => self.intermediate,
                Kind::Moe => expert_width,
                Kind::Mamba | Kind::Attention => 0,
            }),
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
        if let Some(e) = &self.experts {
            w.meta(&key("expert_count"), MetaValue::U32(e.count as u32))
                .meta(&key("expert_used_count"), MetaValue::U32(e.used as u32))
                .meta(&key("expert_feed_forward_length"), MetaValue::U32(e.width as u32))
                .meta(&key("expert_shared_feed_forward_length"), MetaValue::U32(e.shared_width as u32))
                .meta(&key("expert_shared_count"), MetaValue::U32(1))
                .meta(&key("expert_weights_norm"), MetaValue::Bool(e.normalised))
                .meta(&key("expert_weights_scale"), MetaValue::F32(e.scale as f32));
        }
    }

    /// Every tensor, in llama.cpp's names (dimensions innermost first), with the HF tensors it
    /// comes from (`backbone.*`, `lm_head.weight`). `has` tells whether the folder has a tensor
    /// (experts stored fused, as one 3-D tensor, rather than one per expert).
    fn tensors(&self, has: &dyn Fn(&str) -> bool) -> Vec<(TensorDecl, Source)> {
        let mut p = Tensors(vec![]);
        let h = self.hidden;
        p.same("token_embd.weight".into(), "backbone.embeddings.weight".into(), &[self.vocab, h], false);
        for (l, kind) in self.layers.iter().enumerate() {
            p.same(
                format!("blk.{l}.attn_norm.weight"),
                format!("backbone.layers.{l}.norm.weight"),
                &[h],
                true,
            );
            let (g, m) = (format!("blk.{l}."), format!("backbone.layers.{l}.mixer."));
            match kind {
                Kind::Mamba => self.mamba(&mut p, &g, &m),
                Kind::Attention => {
                    let (q, kv) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
                    p.same(format!("{g}attn_q.weight"), format!("{m}q_proj.weight"), &[q, h], false);
                    p.same(format!("{g}attn_k.weight"), format!("{m}k_proj.weight"), &[kv, h], false);
                    p.same(format!("{g}attn_v.weight"), format!("{m}v_proj.weight"), &[kv, h], false);
                    p.same(format!("{g}attn_output.weight"), format!("{m}o_proj.weight"), &[h, q], false);
                }
                Kind::Mlp => {
                    let ff = self.intermediate;
                    p.same(format!("{g}ffn_up.weight"), format!("{m}up_proj.weight"), &[ff, h], false);
                    p.same(format!("{g}ffn_down.weight"), format!("{m}down_proj.weight"), &[h, ff], false);
                }
                Kind::Moe => self.moe(&mut p, &g, &m, has),
            }
        }
        p.same("output_norm.weight".into(), "backbone.norm_f.weight".into(), &[h], true);
        if !self.tied {
            p.same("output.weight".into(), "lm_head.weight".into(), &[self.vocab, h], false);
        }
        p.0
    }

    /// A Mamba-2 layer's tensors. The small ones stay F32: llama.cpp's convolution and scan
    /// read them so.
    fn mamba(&self, p: &mut Tensors, g: &str, m: &str) {
        let (h, inner, conv, heads) = (self.hidden, self.d_inner(), self.conv_dim(), self.ssm_heads);
        let in_proj = 2 * inner + 2 * self.groups * self.d_state + heads;
        let keep = Transform::Keep;
        p.same(format!("{g}ssm_in.weight"), format!("{m}in_proj.weight"), &[in_proj, h], false);
        p.reshaped(
            format!("{g}ssm_conv1d.weight"),
            &[self.d_conv, conv],
            format!("{m}conv1d.weight"),
            &[conv, 1, self.d_conv],
            keep,
        );
        p.same(format!("{g}ssm_conv1d.bias"), format!("{m}conv1d.bias"), &[conv], true);
        p.same(format!("{g}ssm_dt.bias"), format!("{m}dt_bias"), &[heads], true);
        p.reshaped(format!("{g}ssm_a"), &[1, heads], format!("{m}A_log"), &[heads], Transform::NegExp);
        p.reshaped(format!("{g}ssm_d"), &[1, heads], format!("{m}D"), &[heads], keep);
        // The gated norm is per group of channels.
        p.reshaped(
            format!("{g}ssm_norm.weight"),
            &[inner / self.groups, self.groups],
            format!("{m}norm.weight"),
            &[inner],
            keep,
        );
        p.same(format!("{g}ssm_out.weight"), format!("{m}out_proj.weight"), &[h, inner], false);
    }

    /// A mixture-of-experts layer's tensors: the router (F32, as HF keeps it) and its selection
    /// bias, the experts' matrices stacked, the shared expert.
    fn moe(&self, p: &mut Tensors, g: &str, m: &str, has: &dyn Fn(&str) -> bool) {
        let Some(e) = &self.experts else { return };
        let h = self.hidden;
        p.same(format!("{g}ffn_gate_inp.weight"), format!("{m}gate.weight"), &[e.count, h], true);
        p.same(format!("{g}exp_probs_b.bias"), format!("{m}gate.e_score_correction_bias"), &[e.count], true);
        for (gguf, hf, shape) in
            [("ffn_up_exps", "up_proj", [e.width, h]), ("ffn_down_exps", "down_proj", [h, e.width])]
        {
            let fused = format!("{m}experts.{hf}");
            if has(&fused) {
                p.same(format!("{g}{gguf}.weight"), fused, &[e.count, shape[0], shape[1]], false);
            } else {
                let names = (0..e.count).map(|j| format!("{m}experts.{j}.{hf}.weight")).collect();
                p.stacked(format!("{g}{gguf}.weight"), names, &shape);
            }
        }
        let sw = e.shared_width;
        p.same(
            format!("{g}ffn_up_shexp.weight"),
            format!("{m}shared_experts.up_proj.weight"),
            &[sw, h],
            false,
        );
        p.same(
            format!("{g}ffn_down_shexp.weight"),
            format!("{m}shared_experts.down_proj.weight"),
            &[h, sw],
            false,
        );
    }
}

/// The tensors planned so far, with their sources.
struct Tensors(Vec<(TensorDecl, Source)>);

impl Tensors {
    fn push(&mut self, name: String, dims: Vec<u64>, source: Source) {
        self.0.push((TensorDecl { name, dims, ggml_type: GGML_F32, bytes: 0 }, source));
    }

    /// A tensor whose GGUF shape is its HF shape reversed; F32, or as stored.
    fn same(&mut self, gguf: String, hf: String, hf_shape: &[u64], f32: bool) {
        let dims = hf_shape.iter().rev().copied().collect();
        let source = Source { names: vec![hf], shape: hf_shape.to_vec(), transform: Transform::Keep, f32 };
        self.push(gguf, dims, source);
    }

    /// A small tensor given another shape (its elements in the same order), written as F32.
    fn reshaped(&mut self, gguf: String, dims: &[u64], hf: String, hf_shape: &[u64], transform: Transform) {
        let source = Source { names: vec![hf], shape: hf_shape.to_vec(), transform, f32: true };
        self.push(gguf, dims.to_vec(), source);
    }

    /// Matrices of one shape stacked into one tensor, the last GGUF dimension counting them.
    fn stacked(&mut self, gguf: String, hf: Vec<String>, each: &[u64]) {
        let mut dims: Vec<u64> = each.iter().rev().copied().collect();
        dims.push(hf.len() as u64);
        let source = Source { names: hf, shape: each.to_vec(), transform: Transform::Keep, f32: false };
        self.push(gguf, dims, source);
    }
}

/// Nemotron-H 4B's config.json as published (`nvidia/Nemotron-H-4B-Instruct-128K`, transformers
/// 4 names): 52 layers, 24 of them Mamba-2, 4 attention, 24 MLP; 4.49 B parameters, which at
/// BF16 is the 8.36 GiB the seed reports downloading.
fn nemotron_h_4b() -> Json {
    serde_json::json!({
        "architectures": ["NemotronHForCausalLM"], "hidden_size": 3072, "vocab_size": 131072,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
        "intermediate_size": 12288, "max_position_embeddings": 131072, "layer_norm_epsilon": 1e-5,
        "hybrid_override_pattern": "M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M*-M-M-M-M-M-",
        "ssm_state_size": 128, "mamba_num_heads": 112, "mamba_head_dim": 64, "n_groups": 8,
        "conv_kernel": 4, "use_conv_bias": true, "mlp_hidden_act": "relu2", "tie_word_embeddings": false,
        "name_or_path": "nemotron-h-4b"
    })
}

/// A published Nemotron-H shape, for `sage models synth` (random weights of the exact shape).
#[derive(Debug, Clone)]
pub struct HybridModel(HybridShape);

impl HybridModel {
    /// The shapes known by name.
    pub const NAMES: [&'static str; 1] = ["nemotron-h-4b"];

    /// A shape by name.
    pub fn named(name: &str) -> Option<Self> {
        let cfg: HConfig = match name {
            "nemotron-h-4b" => serde_json::from_value(nemotron_h_4b()).ok()?,
            _ => return None,
        };
        shape(&cfg).ok().map(Self)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Vocabulary size.
    pub fn vocab(&self) -> u64 {
        self.0.vocab
    }

    /// Parameters.
    pub fn parameters(&self) -> u64 {
        self.0.tensors(&|_| false).iter().map(|(d, _)| d.dims.iter().product::<u64>()).sum()
    }

    /// Write its metadata (`file_type` as llama.cpp's `llama_ftype`).
    pub fn write_metadata(&self, w: &mut GgufWriter, file_type: u32) {
        self.0.write_metadata(w, file_type);
    }

    /// Every tensor: the large matrices in `weight_type`, the rest F32 as an import writes them.
    pub fn tensor_decls(&self, weight_type: u32) -> Vec<TensorDecl> {
        self.0
            .tensors(&|_| false)
            .into_iter()
            .map(|(d, source)| {
                let ggml_type = if source.f32 { GGML_F32 } else { weight_type };
                let elems: u64 = d.dims.iter().product();
                let bytes = if ggml_type == GGML_F32 { elems * 4 } else { elems * 2 };
                TensorDecl { ggml_type, bytes, ..d }
            })
            .collect()
    }
}

/// Each layer's kind: `layers_block_type` (transformers 5, with its older names), else
/// `hybrid_override_pattern`.
fn kinds(cfg: &HConfig) -> Result<Vec<Kind>, String> {
    if let Some(types) = &cfg.layers_block_type {
        return types
            .iter()
            .map(|t| match t.as_str() {
                "mamba" | "linear_attention" => Ok(Kind::Mamba),
                "attention" | "full_attention" => Ok(Kind::Attention),
                "mlp" => Ok(Kind::Mlp),
                "moe" => Ok(Kind::Moe),
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
            'E' => Ok(Kind::Moe),
            other => Err(format!("hybrid_override_pattern has {other:?} (M, *, - and E are supported)")),
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
        (cfg.n_group > 1, "grouped expert routing (n_group > 1)"),
        (cfg.moe_latent_size.is_some(), "latent expert projections (moe_latent_size)"),
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
    let most = crate::llama::hparams::MAX_LAYERS;
    if layers.is_empty() || layers.len() as u64 > most {
        return Err(format!("{} layers (llama.cpp runs 1 to {most})", layers.len()));
    }
    // llama.cpp's hybrid cache holds both kinds and aborts the process on a model without
    // either (HF's cannot run one without attention either).
    for (kind, name) in [(Kind::Mamba, "Mamba-2"), (Kind::Attention, "attention")] {
        if !layers.contains(&kind) {
            return Err(format!(
                "NemotronH without a {name} layer is not supported (llama.cpp's hybrid cache needs one)"
            ));
        }
    }
    let heads = cfg.num_attention_heads;
    let kv_heads = cfg.num_key_value_heads.unwrap_or(heads);
    let head_dim = cfg.head_dim.or(cfg.hidden_size.checked_div(heads)).unwrap_or(0);
    let mut s = HybridShape {
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
        experts: None,
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
    if s.layers.contains(&Kind::Moe) {
        s.experts = Some(experts(cfg, &s.layers)?);
    }
    if !s.d_inner().is_multiple_of(s.groups) {
        return Err(format!("{} Mamba channels do not split into {} groups", s.d_inner(), s.groups));
    }
    Ok(s)
}

/// The experts of a config with mixture-of-experts layers, checked.
fn experts(cfg: &HConfig, layers: &[Kind]) -> Result<Experts, String> {
    // llama.cpp makes every MLP layer of a model with experts a mixture.
    if layers.contains(&Kind::Mlp) {
        return Err("plain MLP layers beside mixture-of-experts layers are not supported".into());
    }
    let e = Experts {
        count: cfg.n_routed_experts,
        used: cfg.num_experts_per_tok,
        width: cfg.moe_intermediate_size,
        shared_width: cfg.moe_shared_expert_intermediate_size,
        normalised: cfg.norm_topk_prob,
        scale: cfg.routed_scaling_factor,
    };
    if e.count == 0 || e.count > crate::llama::hparams::MAX_EXPERTS || e.used == 0 || e.used > e.count {
        return Err(format!("{} experts with {} used per token are not a mixture", e.count, e.used));
    }
    for (name, v) in
        [("moe_intermediate_size", e.width), ("moe_shared_expert_intermediate_size", e.shared_width)]
    {
        if v == 0 || v > MAX_DIMENSION {
            return Err(format!("{name} = {v} is out of range"));
        }
    }
    if !(e.scale.is_finite() && e.scale > 0.0) {
        return Err(format!("routed_scaling_factor {} is not a positive number", e.scale));
    }
    Ok(e)
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
    let mut shape = shape(&cfg).map_err(config_err)?;
    // HF's NemotronH never ties its head to the embedding (its `_tied_weights_keys` is empty),
    // whatever `tie_word_embeddings` says: where lm_head ships, it is the head.
    shape.tied &= !st.contains_key("lm_head.weight");
    let wanted = shape.tensors(&|name| st.contains_key(name)).into_iter().map(|(d, s)| (d, Some(s)));
    let plan = resolve(dir, wanted, st, |_| None)?;
    let mut writer = GgufWriter::new();
    shape.write_metadata(&mut writer, file_type(&plan));
    tokenizer::write(dir, &mut writer, shape.vocab, (&cfg.bos_token_id, &cfg.eos_token_id))?;
    Ok(Conversion { architecture: shape.arch().into(), writer, plan, rope: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published() -> Json {
        nemotron_h_4b()
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
        let params: u64 = s.tensors(&|_| false).iter().map(|(d, _)| d.dims.iter().product::<u64>()).sum();
        assert!((3_500_000_000..4_500_000_000).contains(&params), "{params}");
        let mut w = GgufWriter::new();
        s.write_metadata(&mut w, 1);
    }

    #[test]
    fn the_published_4b_shape_has_the_size_the_seed_downloaded() {
        let m = HybridModel::named("nemotron-h-4b").unwrap();
        // 4.49 B parameters: 8.36 GiB at BF16, the seed's "8.38GB" download.
        assert_eq!(m.parameters(), 4_489_223_040);
        let decls = m.tensor_decls(crate::llama_arch::GGML_F16);
        let f32_bytes: u64 = decls.iter().filter(|d| d.ggml_type == GGML_F32).map(|d| d.bytes).sum();
        assert!(f32_bytes < 8 << 20, "only the small tensors stay F32: {f32_bytes}");
        assert!(HybridModel::named("nemotron-h-9b").is_none());
    }

    #[test]
    fn transformers_5_layer_names_are_read() {
        let mut c = published();
        c["layers_block_type"] =
            serde_json::json!(["linear_attention", "mlp", "full_attention", "mamba", "attention"]);
        let s = shape(&serde_json::from_value(c).unwrap()).unwrap();
        use Kind::*;
        assert_eq!(s.layers, vec![Mamba, Mlp, Attention, Mamba, Attention]);
        assert_eq!(s.arch(), "nemotron_h");
    }

    #[test]
    fn nemotron_3_s_experts_are_stacked_per_layer() {
        // Nemotron 3 Nano 30B-A3B's shape: 128 experts of 1856, 6 used, a shared one of 3712.
        let mut c = published();
        c["hybrid_override_pattern"] = serde_json::json!("MEM*EMEM");
        for (k, v) in [
            ("n_routed_experts", serde_json::json!(128)),
            ("num_experts_per_tok", serde_json::json!(6)),
            ("moe_intermediate_size", serde_json::json!(1856)),
            ("moe_shared_expert_intermediate_size", serde_json::json!(3712)),
            ("routed_scaling_factor", serde_json::json!(2.5)),
        ] {
            c[k] = v;
        }
        let s = shape(&serde_json::from_value(c).unwrap()).unwrap();
        assert_eq!(s.arch(), "nemotron_h_moe");
        let t = s.tensors(&|_| false);
        let up = t.iter().find(|(d, _)| d.name == "blk.1.ffn_up_exps.weight").unwrap();
        assert_eq!(up.0.dims, vec![3072, 1856, 128]);
        assert_eq!(up.1.names.len(), 128);
        assert_eq!(up.1.names[5], "backbone.layers.1.mixer.experts.5.up_proj.weight");
        // Stored fused (one 3-D tensor), it is taken as it is.
        let fused = s.tensors(&|n| n.ends_with("experts.up_proj"));
        let up = fused.iter().find(|(d, _)| d.name == "blk.1.ffn_up_exps.weight").unwrap();
        assert_eq!((up.0.dims.clone(), up.1.names.len()), (vec![3072, 1856, 128], 1));
        assert_eq!(up.1.shape, vec![128, 1856, 3072]);
    }

    #[test]
    fn what_llama_cpp_lacks_is_refused_by_name() {
        for (key, value, says) in [
            ("hybrid_override_pattern", serde_json::json!("M-E*"), "plain MLP layers beside"),
            ("n_group", serde_json::json!(8), "grouped expert routing"),
            ("moe_latent_size", serde_json::json!(1024), "latent"),
            ("hybrid_override_pattern", serde_json::json!("M-X"), "'X'"),
            ("mlp_hidden_act", serde_json::json!("silu"), "mlp_hidden_act"),
            ("mamba_proj_bias", serde_json::json!(true), "mamba_proj_bias"),
            ("use_conv_bias", serde_json::json!(false), "without bias"),
            ("n_groups", serde_json::json!(5), "groups"),
            ("mamba_num_heads", serde_json::json!(0), "mamba_num_heads"),
            ("hybrid_override_pattern", serde_json::json!("M".repeat(513)), "513 layers"),
        ] {
            let mut c = published();
            c[key] = value;
            let e = shape(&serde_json::from_value(c).unwrap()).unwrap_err();
            assert!(e.contains(says), "{key}: {e}");
        }
    }
}
