#![allow(clippy::unwrap_used)]

//! `import` + llama.cpp against HF transformers on tiny random Llama-family models
//! (`tools/reference/make_tiny_llamas.py`): Llama 3.1 rope scaling, GQA and MQA, head_dim ≠
//! hidden/heads, tied and untied embeddings. Logits at every position must match the recorded
//! HF logits within 1e-3 (F32 weights, F32 KV cache).

use std::path::{Path, PathBuf};

use sage_llm::import::{import, ImportError};
use sage_llm::{EngineConfig, FlashAttention, KvType, LanguageModel, LlamaEngine};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    ids: Vec<u32>,
    logits: Vec<Vec<f32>>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

/// A fresh folder per test, removed when the test ends.
fn folder() -> (tempfile::TempDir, impl Fn(&str) -> PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().to_path_buf();
    (d, move |name: &str| root.join(name))
}

fn parity(name: &str) -> f32 {
    let (_dir, tmp) = folder();
    let dir = fixtures().join(name);
    let out = tmp(&format!("{name}.gguf"));
    let imported = import(&dir, &out).unwrap();
    assert_eq!(imported.path, out);
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let cfg = EngineConfig {
        threads: Some(1),
        context: Some(256),
        kv_type: KvType::F32,
        flash_attention: FlashAttention::Off,
        ..EngineConfig::default()
    };
    let e = LlamaEngine::load(&out, Some(name), cfg).unwrap();
    let (s, _) = e.open_session(None).unwrap();
    let logits = e.logits(s, &reference.ids).unwrap();
    assert_eq!(logits.len(), reference.logits.len());
    let mut max = 0.0f32;
    for (a, b) in logits.iter().zip(&reference.logits) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            max = max.max((x - y).abs());
        }
    }
    eprintln!("{name}: max |Δlogit| = {max:e}");
    max
}

#[test]
fn llama31_rope_scaling_gqa_and_head_dim_match_hf() {
    assert!(parity("llama31_gqa_headdim") <= 1e-3);
}

#[test]
fn tied_embeddings_and_mqa_match_hf() {
    assert!(parity("llama_tied_mqa") <= 1e-3);
}

#[test]
fn the_imported_tokenizer_and_template_work() {
    let (_dir, tmp) = folder();
    let dir = fixtures().join("llama31_gqa_headdim");
    let out = tmp("tok.gguf");
    import(&dir, &out).unwrap();
    let e = LlamaEngine::load(
        &out,
        None,
        EngineConfig { threads: Some(1), context: Some(256), ..EngineConfig::default() },
    )
    .unwrap();
    let info = e.info();
    assert!(info.chat_template.as_deref().unwrap_or("").contains("start_header_id"));
    assert_eq!(info.bos.as_deref(), Some("<|begin_of_text|>"));
    let text = "The robot entered the warehouse";
    let ids = e.tokenize(text, false).unwrap();
    assert!(ids.len() < text.len(), "BPE merges are used: {ids:?}");
    assert_eq!(e.detokenize(&ids).unwrap(), text);
    let chat = e.render_chat(&[sage_llm::ChatMessage::new(sage_llm::Role::User, "Hi")]).unwrap();
    assert!(chat.text.starts_with("<|begin_of_text|><|start_header_id|>user"));
}

#[test]
fn bad_folders_are_typed_errors() {
    let (_dir, tmp) = folder();
    let src = fixtures().join("llama_tied_mqa");
    let dir = tmp("bad");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = tmp("bad.gguf");
    assert!(matches!(import(&dir, &out), Err(ImportError::Missing { .. })));
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    import(&dir, &out).unwrap();
    // Truncated weights.
    let w = std::fs::read(src.join("model.safetensors")).unwrap();
    std::fs::write(dir.join("model.safetensors"), &w[..w.len() - 100]).unwrap();
    let e = import(&dir, &out).unwrap_err();
    assert!(matches!(e, ImportError::Safetensors { .. }) && e.to_string().contains("truncated"), "{e}");
    // Garbage weights.
    std::fs::write(dir.join("model.safetensors"), b"\xff\xff\xff\xff\xff\xff\xff\x7fjunk").unwrap();
    assert!(matches!(import(&dir, &out), Err(ImportError::Safetensors { .. })));
    std::fs::write(dir.join("model.safetensors"), &w).unwrap();
    // A config that disagrees with the weights.
    let cfg = std::fs::read_to_string(src.join("config.json")).unwrap();
    std::fs::write(dir.join("config.json"), cfg.replace("\"hidden_size\": 48", "\"hidden_size\": 64"))
        .unwrap();
    assert!(matches!(import(&dir, &out), Err(ImportError::Tensor { .. })));
    // Another architecture.
    std::fs::write(dir.join("config.json"), cfg.replace("LlamaForCausalLM", "GPT2LMHeadModel")).unwrap();
    assert!(matches!(import(&dir, &out), Err(ImportError::Architecture { .. })));
    std::fs::write(dir.join("config.json"), "{not json").unwrap();
    assert!(matches!(import(&dir, &out), Err(ImportError::Config { .. })));
    // Found by the fuzzer (crates/sage-fuzz): 2^32 layers hung the import in its loop over
    // layers; counts beyond llama.cpp's limits are refused at once.
    for (key, huge) in [
        ("\"num_hidden_layers\": 3", "\"num_hidden_layers\": 4294967296"),
        ("\"vocab_size\": 300", "\"vocab_size\": 1099511627776"),
    ] {
        assert!(cfg.contains(key), "{key}");
        std::fs::write(dir.join("config.json"), cfg.replace(key, huge)).unwrap();
        let e = import(&dir, &out).unwrap_err();
        assert!(matches!(e, ImportError::Config { .. }) && e.to_string().contains("exceeds"), "{e}");
    }
}
