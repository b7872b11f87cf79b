//! What Gemma 3's text model and Gemma 2 add to the shape: their local layers (a sliding window;
//! Gemma 3's with their own RoPE base) and soft caps (Gemma 3: on the final logits; Gemma 2: also
//! on the attention logits); and what llama.cpp's `gemma3` and `gemma2` graphs cannot do, refused
//! by name.

use serde_json::Value as Json;

use super::Config;
use crate::llama_arch::{Family, Sliding};

/// The Gemma families' additions to the shape.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Extras {
    /// The local layers.
    pub sliding: Option<Sliding>,
    /// The final logits' soft cap.
    pub final_cap: Option<f64>,
    /// The attention logits' soft cap (Gemma 2).
    pub attn_cap: Option<f64>,
}

/// The Gemma 3 text config's fields a published config.json may leave out, with transformers'
/// defaults (`Gemma3TextConfig`): the multimodal models' `text_config` names only what differs.
const TEXT_DEFAULTS: [(&str, f64); 11] = [
    ("vocab_size", 262_208.0),
    ("hidden_size", 2304.0),
    ("intermediate_size", 9216.0),
    ("num_hidden_layers", 26.0),
    ("num_attention_heads", 8.0),
    ("num_key_value_heads", 4.0),
    ("head_dim", 256.0),
    ("max_position_embeddings", 131_072.0),
    ("rms_norm_eps", 1e-6),
    ("query_pre_attn_scalar", 256.0),
    ("sliding_window", 4096.0),
];

/// A config as the text model's: a Gemma 3 multimodal config's `text_config` under its
/// architecture, and any Gemma 3 config with transformers' defaults where it names nothing.
/// Another config is returned as it is.
pub(super) fn text_config(cfg: Json) -> Json {
    let arch = cfg["architectures"][0].as_str().unwrap_or("").to_string();
    if !arch.starts_with("Gemma3For") {
        return cfg;
    }
    let mut text = match cfg.get("text_config") {
        Some(t) if arch == "Gemma3ForConditionalGeneration" && t.is_object() => t.clone(),
        _ => cfg,
    };
    text["architectures"] = Json::from(vec![arch]);
    for (key, value) in TEXT_DEFAULTS {
        if text.get(key).is_none_or(Json::is_null) {
            text[key] = if value.fract() == 0.0 { Json::from(value as u64) } else { Json::from(value) };
        }
    }
    if text.get("rope_theta").is_none() && text.get("rope_parameters").is_none() {
        text["rope_theta"] = Json::from(1_000_000.0);
    }
    text["tie_word_embeddings"] = Json::Bool(true);
    text
}

/// Gemma 3's local RoPE base where the config names none (HF's default).
const LOCAL_THETA: f64 = 10_000.0;
/// Every sixth layer of Gemma 3 is global where the config gives no pattern (HF's default);
/// every second of Gemma 2 (its fixed pattern).
fn pattern(family: Family) -> u64 {
    if family == Family::Gemma2 {
        2
    } else {
        6
    }
}

/// The local layers and the soft caps of a Gemma 2 or 3 config whose heads are `head_dim`
/// wide and whose (global) RoPE base is `theta`.
pub(super) fn extras(family: Family, cfg: &Config, head_dim: u64, theta: f64) -> Result<Extras, String> {
    refuse_what_llama_cpp_lacks(family, cfg, head_dim)?;
    let layers = local_layers(family, cfg)?;
    let sliding = match cfg.sliding_window.as_ref().and_then(Json::as_u64) {
        Some(w) if w > 0 && layers.iter().any(|&l| l) => {
            let rope_theta = match family {
                // One rotary embedding for every layer.
                Family::Gemma2 => theta,
                _ => local_theta(cfg)?,
            };
            Some(Sliding { window: w, layers, rope_theta })
        }
        _ => None,
    };
    Ok(match family {
        Family::Gemma2 => Extras {
            sliding,
            final_cap: gemma2_cap(&cfg.final_logit_softcapping, 30.0),
            attn_cap: gemma2_cap(&cfg.attn_logit_softcapping, 50.0),
        },
        _ => Extras {
            sliding,
            final_cap: cfg.final_logit_softcapping.as_ref().and_then(Json::as_f64),
            attn_cap: None,
        },
    })
}

/// A cap too wide to bite: |x| ≤ 10³ comes out within 4e-7 of itself (tanh(y) = y − y³/3…).
const NO_CAP: f64 = 1e6;

/// A Gemma 2 soft cap as HF reads it: absent, HF's default (`default`); `null`, no cap, written
/// as [`NO_CAP`] because llama.cpp's `gemma2` graph always caps (50 and 30 where unsaid).
fn gemma2_cap(v: &Option<Json>, default: f64) -> Option<f64> {
    match v {
        None => Some(default),
        Some(Json::Null) => Some(NO_CAP),
        Some(v) => v.as_f64(),
    }
}

/// Gemma 3's local layers' RoPE base; llama.cpp scales their positions by one, whatever the
/// global ones do, so another rope type on them is refused.
fn local_theta(cfg: &Config) -> Result<f64, String> {
    let params = cfg.rope_parameters.as_ref();
    let local = params.and_then(|p| p["sliding_attention"]["rope_type"].as_str()).unwrap_or("default");
    if local != "default" {
        return Err(format!("Gemma3: local layers' rope type {local:?} is not supported (default is)"));
    }
    Ok(params
        .and_then(|p| p["sliding_attention"]["rope_theta"].as_f64())
        .or(cfg.rope_local_base_freq)
        .unwrap_or(LOCAL_THETA))
}

/// Per layer, whether it is local: `layer_types` (transformers 5), else every layer but each
/// `sliding_window_pattern`-th (4.x; Gemma 3: 6 by default; Gemma 2: 2).
fn local_layers(family: Family, cfg: &Config) -> Result<Vec<bool>, String> {
    let n = cfg.num_hidden_layers as usize;
    match &cfg.layer_types {
        Some(kinds) => {
            if kinds.len() != n {
                return Err(format!("layer_types has {} entries for {n} layers", kinds.len()));
            }
            kinds
                .iter()
                .map(|k| match k.as_str() {
                    "sliding_attention" => Ok(true),
                    "full_attention" => Ok(false),
                    other => Err(format!("layer type {other:?} is not supported")),
                })
                .collect()
        }
        None => {
            let p = cfg
                .sliding_window_pattern
                .or(cfg.sliding_window_pattern_v5)
                .unwrap_or(pattern(family))
                .max(1);
            Ok((0..n as u64).map(|i| (i + 1) % p != 0).collect())
        }
    }
}

/// What HF's Gemma 2 or 3 may compute and llama.cpp's graph does not: another activation,
/// another attention scale, soft-capped attention logits (Gemma 3), bidirectional attention.
fn refuse_what_llama_cpp_lacks(family: Family, cfg: &Config, head_dim: u64) -> Result<(), String> {
    let name = if family == Family::Gemma2 { "Gemma2" } else { "Gemma3" };
    if let Some(a) = cfg.hidden_activation.as_deref().filter(|a| *a != "gelu_pytorch_tanh") {
        return Err(format!("{name}: hidden_activation {a:?} is not supported (gelu_pytorch_tanh is)"));
    }
    // llama.cpp scales queries by 1/√head_dim, except for the 27B models (Gemma 3's 62 layers,
    // Gemma 2's 46), where it uses 1/√(hidden/heads), as Google's reference does.
    let big = if family == Family::Gemma2 { 46 } else { 62 };
    let scale_dim =
        if cfg.num_hidden_layers == big { cfg.hidden_size / cfg.num_attention_heads } else { head_dim };
    if let Some(q) = cfg.query_pre_attn_scalar.filter(|&q| q != scale_dim as f64) {
        return Err(format!(
            "{name}: query_pre_attn_scalar {q} is not supported (llama.cpp uses {scale_dim})"
        ));
    }
    match (&cfg.attn_logit_softcapping, family) {
        (None | Some(Json::Null), _) => {}
        (Some(_), Family::Gemma3) => return Err("Gemma3: attn_logit_softcapping is not supported".into()),
        (Some(v), _) => {
            if !v.as_f64().is_some_and(|c| c > 0.0 && c.is_finite()) {
                return Err(format!("{name}: attn_logit_softcapping must be a positive number, not {v}"));
            }
        }
    }
    if let Some(v) = cfg.final_logit_softcapping.as_ref().filter(|v| !v.is_null()) {
        if !v.as_f64().is_some_and(|c| c > 0.0 && c.is_finite()) {
            return Err(format!("{name}: final_logit_softcapping must be a positive number, not {v}"));
        }
    }
    if cfg.use_bidirectional_attention {
        return Err(format!("{name}: use_bidirectional_attention is not supported"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: serde_json::Value) -> Config {
        let mut c = serde_json::json!({
            "architectures": ["Gemma3ForCausalLM"], "hidden_size": 1152, "intermediate_size": 6912,
            "num_hidden_layers": 8, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
            "vocab_size": 262144, "sliding_window": 512, "query_pre_attn_scalar": 256
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        serde_json::from_value(c).unwrap()
    }

    #[test]
    fn transformers_4_configs_give_the_pattern_and_the_local_base() {
        // Gemma 3 1B as transformers 4.5x wrote it: every sixth layer global.
        let c = config(serde_json::json!({"sliding_window_pattern": 6, "rope_local_base_freq": 10000.0}));
        let x = extras(Family::Gemma3, &c, 256, 1e6).unwrap();
        let (sl, cap) = (x.sliding.unwrap(), x.final_cap);
        assert_eq!(sl.window, 512);
        assert_eq!(sl.layers, vec![true, true, true, true, true, false, true, true]);
        assert_eq!(sl.rope_theta, 10_000.0);
        assert_eq!(cap, None);
        // transformers 5: layer kinds and a RoPE base per kind.
        let c = config(serde_json::json!({
            "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "full_attention",
                            "sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
            "rope_parameters": {"sliding_attention": {"rope_theta": 20000.0}},
            "final_logit_softcapping": 30.0
        }));
        let x = extras(Family::Gemma3, &c, 256, 1e6).unwrap();
        let (sl, cap) = (x.sliding, x.final_cap);
        assert_eq!(sl.as_ref().unwrap().layers[..4], [false, true, true, false]);
        assert_eq!(sl.unwrap().rope_theta, 20_000.0);
        assert_eq!(cap, Some(30.0));
    }

    #[test]
    fn a_multimodal_config_gives_its_text_model_with_hf_s_defaults() {
        // Gemma 3 4B's config.json as published: the text config names only what differs.
        let outer = serde_json::json!({
            "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
            "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                            "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                            "sliding_window": 1024},
            "vision_config": {"hidden_size": 1152}
        });
        let text = text_config(outer);
        assert_eq!(text["architectures"][0], "Gemma3ForConditionalGeneration");
        assert_eq!(text["hidden_size"], 2560);
        assert_eq!(text["num_attention_heads"], 8);
        assert_eq!(text["head_dim"], 256);
        assert_eq!(text["vocab_size"], 262_208);
        assert_eq!(text["sliding_window"], 1024);
        assert_eq!(text["rms_norm_eps"], 1e-6);
        let c: Config = serde_json::from_value(text).unwrap();
        let sl = extras(Family::Gemma3, &c, 256, 1e6).unwrap().sliding;
        assert_eq!(sl.unwrap().layers.iter().filter(|&&l| !l).count(), 5, "34 layers, every sixth global");
        // Another family's config is left alone.
        let llama = serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 64});
        assert_eq!(text_config(llama.clone()), llama);
    }

    #[test]
    fn gemma2_configs_give_every_other_layer_local_one_rope_base_and_both_caps() {
        // Gemma 2 2B as transformers 4 wrote it: no layer kinds, caps 50 and 30.
        let c = config(serde_json::json!({
            "architectures": ["Gemma2ForCausalLM"], "num_hidden_layers": 6, "sliding_window": 4096,
            "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
            "use_bidirectional_attention": null
        }));
        let x = extras(Family::Gemma2, &c, 256, 10_000.0).unwrap();
        let sl = x.sliding.unwrap();
        assert_eq!(sl.layers, vec![true, false, true, false, true, false]);
        assert_eq!((sl.window, sl.rope_theta), (4096, 10_000.0));
        assert_eq!((x.attn_cap, x.final_cap), (Some(50.0), Some(30.0)));
        // Absent caps are HF's defaults; caps written null are none (llama.cpp's graph always
        // caps, so a cap too wide to bite is written).
        let c = config(
            serde_json::json!({"architectures": ["Gemma2ForCausalLM"], "attn_logit_softcapping": null}),
        );
        let x = extras(Family::Gemma2, &c, 256, 1e4).unwrap();
        assert_eq!((x.attn_cap, x.final_cap), (Some(NO_CAP), Some(30.0)));
        // The 27B model (46 layers) scales queries by hidden/heads; a cap that is not a positive
        // number is refused.
        let big = serde_json::json!({"num_hidden_layers": 46, "hidden_size": 4608, "num_attention_heads": 32,
                                     "query_pre_attn_scalar": 144});
        assert!(extras(Family::Gemma2, &config(big), 128, 1e4).is_ok());
        for (extra, says) in [
            (serde_json::json!({"attn_logit_softcapping": -1.0}), "attn_logit_softcapping"),
            (serde_json::json!({"final_logit_softcapping": "30"}), "final_logit_softcapping"),
            (serde_json::json!({"query_pre_attn_scalar": 144}), "Gemma2: query_pre_attn_scalar"),
        ] {
            let e = extras(Family::Gemma2, &config(extra), 256, 1e4).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    #[test]
    fn what_llama_cpp_lacks_is_refused_by_name() {
        for (extra, says) in [
            (
                serde_json::json!({"rope_parameters": {"sliding_attention": {"rope_type": "linear", "factor": 2.0}}}),
                "local layers' rope type",
            ),
            (serde_json::json!({"hidden_activation": "relu"}), "hidden_activation"),
            (serde_json::json!({"query_pre_attn_scalar": 144}), "query_pre_attn_scalar"),
            (serde_json::json!({"attn_logit_softcapping": 50.0}), "attn_logit_softcapping"),
            (serde_json::json!({"use_bidirectional_attention": true}), "bidirectional"),
            (serde_json::json!({"layer_types": ["full_attention"]}), "layer_types"),
            (serde_json::json!({"layer_types": vec!["chunked_attention"; 8]}), "chunked_attention"),
        ] {
            let e = extras(Family::Gemma3, &config(extra), 256, 1e6).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
