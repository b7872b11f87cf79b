//! The RoPE settings of a config: base, scaling (Llama 3.1's, linear, YaRN) and the share of
//! each head it turns, as HF reads them and in the form llama.cpp applies them; what llama.cpp
//! computes otherwise is refused by name.

use serde_json::Value as Json;

use super::{Config, MAX_DIMENSION};
use crate::llama_arch::{Family, Llama3Rope, Yarn};

/// How the (global) layers' RoPE positions are scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum RopeScaling {
    None,
    /// Llama 3.1's per-frequency factors.
    Llama3(Llama3Rope),
    /// Positions divided by the factor (in Gemma 3 4B and up, on the global layers only).
    Linear(f64),
    /// YaRN (Qwen's long-context setting).
    Yarn(Yarn),
}

/// The RoPE base and scaling of the (global) layers. transformers 5 writes
/// `rope_parameters` (with rope_theta inside; keyed by layer kind for Gemma 3); 4.x writes
/// `rope_theta` and `rope_scaling`. Both are read: silently falling back to theta 10000 would be
/// wrong. Only the Llama graph applies Llama 3.1 scaling; other scalings are refused.
pub(super) fn rope(family: Family, cfg: &Config) -> Result<(f64, RopeScaling), String> {
    let mut params = cfg.rope_parameters.clone().unwrap_or(Json::Null);
    if params.get("full_attention").is_some() {
        params = params["full_attention"].clone();
    }
    let theta = cfg.rope_theta.or_else(|| params["rope_theta"].as_f64()).unwrap_or(10_000.0);
    let scaling = match &cfg.rope_scaling {
        Some(s) if !s.is_null() => s.clone(),
        _ => params,
    };
    let rope_type = scaling["rope_type"].as_str().or_else(|| scaling["type"].as_str()).unwrap_or("default");
    match rope_type {
        "default" => Ok((theta, RopeScaling::None)),
        "llama3" if matches!(family, Family::Llama | Family::Granite) => {
            let get = |k: &str, d: f64| scaling[k].as_f64().unwrap_or(d);
            Ok((
                theta,
                RopeScaling::Llama3(Llama3Rope {
                    factor: get("factor", 8.0),
                    low_freq_factor: get("low_freq_factor", 1.0),
                    high_freq_factor: get("high_freq_factor", 4.0),
                    original_max_position_embeddings: get("original_max_position_embeddings", 8192.0),
                }),
            ))
        }
        "linear" if !matches!(family, Family::Gemma2 | Family::Phi3) => match scaling["factor"].as_f64() {
            Some(f) if f > 0.0 && f.is_finite() => Ok((theta, RopeScaling::Linear(f))),
            _ => Err(format!("linear rope scaling needs a positive factor, not {}", scaling["factor"])),
        },
        "yarn" if !family.gemma_norms() && family != Family::Phi3 => {
            Ok((theta, RopeScaling::Yarn(yarn(&scaling, cfg.max_position_embeddings)?)))
        }
        other => Err(format!(
            "rope type {other:?} is not supported for {} (supported: {})",
            family.gguf_arch(),
            match family {
                Family::Llama | Family::Granite => "default, linear, llama3, yarn",
                Family::Gemma3 => "default, linear",
                Family::Gemma2 | Family::Phi3 => "default",
                _ => "default, linear, yarn",
            }
        )),
    }
}

/// YaRN's parameters as HF transformers reads them (`_compute_yarn_parameters`), in the form
/// llama.cpp applies them. llama.cpp's Llama and Qwen graphs fix β at 32 and 1 and always round
/// the correction range outwards, so other values are refused rather than run differently.
fn yarn(scaling: &Json, max_position_embeddings: u64) -> Result<Yarn, String> {
    let num = |k: &str| scaling[k].as_f64();
    let original = match &scaling["original_max_position_embeddings"] {
        Json::Null => max_position_embeddings,
        v => v.as_u64().filter(|&n| (1..=MAX_DIMENSION).contains(&n)).ok_or_else(|| {
            format!("yarn's original_max_position_embeddings must be a positive count, not {v}")
        })?,
    };
    let factor = num("factor").unwrap_or(max_position_embeddings as f64 / original as f64);
    if !(1.0..=1024.0).contains(&factor) {
        return Err(format!("yarn's factor must lie in 1..=1024, not {}", scaling["factor"]));
    }
    // HF reads a missing or zero β as the default.
    for (key, default) in [("beta_fast", 32.0), ("beta_slow", 1.0)] {
        match num(key) {
            None => {}
            Some(b) if b == 0.0 || b == default => {}
            Some(b) => return Err(format!("yarn's {key} {b} is not supported (llama.cpp uses {default})")),
        }
    }
    if scaling["truncate"] == Json::Bool(false) {
        return Err(
            "yarn with truncate false is not supported (llama.cpp rounds the correction range)".into()
        );
    }
    let mscale = |scale: f64, m: f64| if scale <= 1.0 { 1.0 } else { 0.1 * m * scale.ln() + 1.0 };
    let attention = match (num("attention_factor"), num("mscale"), num("mscale_all_dim")) {
        (Some(a), _, _) if a > 0.0 && a.is_finite() => a,
        (Some(_), _, _) => {
            return Err(format!(
                "yarn's attention_factor must be positive, not {}",
                scaling["attention_factor"]
            ))
        }
        (None, Some(m), Some(all)) if m != 0.0 && all != 0.0 => mscale(factor, m) / mscale(factor, all),
        _ => mscale(factor, 1.0),
    };
    if !attention.is_finite() || attention <= 0.0 {
        return Err(format!("yarn's attention scaling comes to {attention}, not a positive number"));
    }
    // llama.cpp scales by 0.1 ln(factor) + 1 itself, times the file's attn_factor.
    Ok(Yarn { factor, original_context: original, attn_factor: attention / mscale(factor, 1.0) })
}

/// The dimensions of each head RoPE turns where fewer than all: Phi's `partial_rotary_factor`
/// (transformers 5 moves it into `rope_parameters`), as HF counts them (`int(head_dim ×
/// factor)`). Only Phi-3's graph is checked against HF with it; elsewhere it is refused.
pub(super) fn rotary_dims(family: Family, cfg: &Config, head_dim: u64) -> Result<Option<u64>, String> {
    let inside = cfg.rope_parameters.as_ref().and_then(|p| p["partial_rotary_factor"].as_f64());
    let Some(f) = cfg.partial_rotary_factor.or(inside).filter(|&f| f != 1.0) else { return Ok(None) };
    if family != Family::Phi3 {
        return Err(format!("partial_rotary_factor {f} is not supported for {}", family.gguf_arch()));
    }
    let dims = (head_dim as f64 * f) as u64;
    if !(f > 0.0 && f < 1.0) || dims < 2 || !dims.is_multiple_of(2) {
        return Err(format!(
            "partial_rotary_factor {f} of a head of {head_dim} is not an even count of dimensions"
        ));
    }
    Ok(Some(dims))
}
