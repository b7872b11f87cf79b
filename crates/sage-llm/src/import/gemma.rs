//! What Gemma 3's text model adds to the shape: its local layers (a sliding window, their own
//! RoPE base) and a soft cap on the final logits; and what llama.cpp's `gemma3` graph cannot do,
//! refused by name.

use serde_json::Value as Json;

use super::Config;
use crate::llama_arch::Sliding;

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
/// Every sixth layer is global where the config gives no pattern (HF's default).
const PATTERN: u64 = 6;

/// The local layers and the final soft cap of a Gemma 3 config whose heads are `head_dim` wide.
pub(super) fn extras(cfg: &Config, head_dim: u64) -> Result<(Option<Sliding>, Option<f64>), String> {
    refuse_what_llama_cpp_lacks(cfg, head_dim)?;
    let layers = local_layers(cfg)?;
    let sliding = match cfg.sliding_window.as_ref().and_then(Json::as_u64) {
        Some(w) if w > 0 && layers.iter().any(|&l| l) => {
            let params = cfg.rope_parameters.as_ref();
            // llama.cpp scales the local layers' positions by one, whatever the global ones do.
            let local =
                params.and_then(|p| p["sliding_attention"]["rope_type"].as_str()).unwrap_or("default");
            if local != "default" {
                return Err(format!(
                    "Gemma3: local layers' rope type {local:?} is not supported (default is)"
                ));
            }
            let rope_theta = params
                .and_then(|p| p["sliding_attention"]["rope_theta"].as_f64())
                .or(cfg.rope_local_base_freq)
                .unwrap_or(LOCAL_THETA);
            Some(Sliding { window: w, layers, rope_theta })
        }
        _ => None,
    };
    let cap = cfg.final_logit_softcapping.as_ref().and_then(Json::as_f64);
    Ok((sliding, cap))
}

/// Per layer, whether it is local: `layer_types` (transformers 5), else every layer but each
/// `sliding_window_pattern`-th (4.x; 6 by default).
fn local_layers(cfg: &Config) -> Result<Vec<bool>, String> {
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
            let p = cfg.sliding_window_pattern.or(cfg.sliding_window_pattern_v5).unwrap_or(PATTERN).max(1);
            Ok((0..n as u64).map(|i| (i + 1) % p != 0).collect())
        }
    }
}

/// What HF's Gemma 3 may compute and llama.cpp's graph does not: another activation, another
/// attention scale, soft-capped attention logits, bidirectional attention.
fn refuse_what_llama_cpp_lacks(cfg: &Config, head_dim: u64) -> Result<(), String> {
    if let Some(a) = cfg.hidden_activation.as_deref().filter(|a| *a != "gelu_pytorch_tanh") {
        return Err(format!("Gemma3: hidden_activation {a:?} is not supported (gelu_pytorch_tanh is)"));
    }
    // llama.cpp scales queries by 1/√head_dim, except for the 62-layer (27B) model, where it
    // uses 1/√(hidden/heads), as Google's reference does.
    let scale_dim =
        if cfg.num_hidden_layers == 62 { cfg.hidden_size / cfg.num_attention_heads } else { head_dim };
    if let Some(q) = cfg.query_pre_attn_scalar.filter(|&q| q != scale_dim as f64) {
        return Err(format!(
            "Gemma3: query_pre_attn_scalar {q} is not supported (llama.cpp uses {scale_dim})"
        ));
    }
    if cfg.attn_logit_softcapping.as_ref().is_some_and(|v| !v.is_null()) {
        return Err("Gemma3: attn_logit_softcapping is not supported".into());
    }
    if cfg.use_bidirectional_attention {
        return Err("Gemma3: use_bidirectional_attention is not supported".into());
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
        let (sl, cap) = extras(&c, 256).unwrap();
        let sl = sl.unwrap();
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
        let (sl, cap) = extras(&c, 256).unwrap();
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
        let (sl, _) = extras(&c, 256).unwrap();
        assert_eq!(sl.unwrap().layers.iter().filter(|&&l| !l).count(), 5, "34 layers, every sixth global");
        // Another family's config is left alone.
        let llama = serde_json::json!({"architectures": ["LlamaForCausalLM"], "hidden_size": 64});
        assert_eq!(text_config(llama.clone()), llama);
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
            let e = extras(&config(extra), 256).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
