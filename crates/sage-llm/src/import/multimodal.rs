//! The language model of a multimodal folder, as a text model's config: Gemma 3's (its
//! `text_config`), Qwen2-VL's and Qwen2.5-VL's (a Qwen 2, its `text_config` or the top of its config),
//! Qwen3-VL's and Qwen3-VL-MoE's (`text_config`, tensors under `model.language_model.*`) and
//! Qwen3-Omni's thinker (`thinker_config.text_config`, tensors under `thinker.*`; the talker
//! that speaks is left out, as are every model's vision and audio towers). SAGE's models read
//! text (decision 0006), so only the language model is imported.
//!
//! Qwen's M-RoPE gives each rotary frequency the position on one of three axes (time, height,
//! width); text alone has the same position on all three, which is plain RoPE with the same
//! frequencies: the sections are dropped and the parity fixtures (`qwen3_vl`,
//! `qwen3_omni_thinker`) check the logits against HF's on text.

use serde_json::Value as Json;

/// The text model's config of `cfg` (unchanged when it is not a multimodal folder).
pub(super) fn language_model(cfg: Json) -> Json {
    let arch = cfg["architectures"][0].as_str().unwrap_or("").to_string();
    let (text, as_arch, tie) = match arch.as_str() {
        "Qwen3VLForConditionalGeneration" => {
            (&cfg["text_config"], "Qwen3ForCausalLM", &cfg["tie_word_embeddings"])
        }
        // Its experts are published fused (`super::fused_experts`).
        "Qwen3VLMoeForConditionalGeneration" => {
            (&cfg["text_config"], "Qwen3MoeForCausalLM", &cfg["tie_word_embeddings"])
        }
        // As transformers 5 writes it (`text_config`), or as published (the text model's fields
        // at the top, beside `vision_config`).
        "Qwen2_5_VLForConditionalGeneration" | "Qwen2VLForConditionalGeneration" => (
            if cfg["text_config"].is_object() { &cfg["text_config"] } else { &cfg },
            "Qwen2ForCausalLM",
            &cfg["tie_word_embeddings"],
        ),
        "Qwen3OmniMoeForConditionalGeneration" => (
            &cfg["thinker_config"]["text_config"],
            "Qwen3MoeForCausalLM",
            &cfg["thinker_config"]["tie_word_embeddings"],
        ),
        _ => return super::gemma::text_config(cfg),
    };
    if !text.is_object() {
        // Left for the config reader to refuse by name (a missing field).
        return cfg;
    }
    let mut text = text.clone();
    text["architectures"] = Json::from(vec![as_arch]);
    // The outer switch ties the head (HF reads it there); the text config's own, else false.
    if !tie.is_null() {
        text["tie_word_embeddings"] = tie.clone();
    }
    for key in ["rope_parameters", "rope_scaling"] {
        if let Some(rope) = text.get_mut(key).and_then(Json::as_object_mut) {
            for mrope in ["mrope_section", "interleaved", "mrope_interleaved"] {
                rope.remove(mrope);
            }
            // Qwen2.5-VL's published `{"type": "mrope"}`: on text, the default.
            for kind in ["type", "rope_type"] {
                if rope.get(kind).and_then(Json::as_str) == Some("mrope") {
                    rope.insert(kind.into(), "default".into());
                }
            }
        }
    }
    text
}

/// Where a multimodal folder keeps its language model's head (`lm_head.weight` otherwise), given
/// where it keeps the rest of it.
pub(super) fn head_name(prefix: &str) -> &'static str {
    if prefix == "thinker.model." {
        "thinker.lm_head.weight"
    } else {
        "lm_head.weight"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_model_is_read_as_a_text_model() {
        let vl = serde_json::json!({"architectures": ["Qwen3VLForConditionalGeneration"], "tie_word_embeddings": true,
            "text_config": {"hidden_size": 64, "tie_word_embeddings": false,
                            "rope_scaling": {"rope_type": "default", "mrope_section": [24, 20, 20], "mrope_interleaved": true}},
            "vision_config": {"depth": 27}});
        let t = language_model(vl);
        assert_eq!(t["architectures"][0], "Qwen3ForCausalLM");
        assert_eq!(t["tie_word_embeddings"], true, "the outer switch ties the head");
        assert_eq!(t["rope_scaling"], serde_json::json!({"rope_type": "default"}));
        let omni = serde_json::json!({"architectures": ["Qwen3OmniMoeForConditionalGeneration"],
            "thinker_config": {"text_config": {"num_experts": 128, "rope_parameters": {"rope_theta": 1e6, "interleaved": true}}},
            "talker_config": {}});
        let t = language_model(omni);
        assert_eq!(
            (t["architectures"][0].as_str(), t["num_experts"].as_u64()),
            (Some("Qwen3MoeForCausalLM"), Some(128))
        );
        assert_eq!(t["rope_parameters"], serde_json::json!({"rope_theta": 1e6}));
        let published = serde_json::json!({"architectures": ["Qwen2_5_VLForConditionalGeneration"], "hidden_size": 2048,
            "tie_word_embeddings": true, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
            "vision_config": {"depth": 32}});
        let t = language_model(published);
        assert_eq!(
            (t["architectures"][0].as_str(), t["hidden_size"].as_u64()),
            (Some("Qwen2ForCausalLM"), Some(2048))
        );
        assert_eq!(t["rope_scaling"], serde_json::json!({"type": "default"}));
        let broken = serde_json::json!({"architectures": ["Qwen3OmniMoeForConditionalGeneration"]});
        assert_eq!(language_model(broken.clone()), broken);
        assert_eq!(
            (head_name("thinker.model."), head_name("model.")),
            ("thinker.lm_head.weight", "lm_head.weight")
        );
    }
}
