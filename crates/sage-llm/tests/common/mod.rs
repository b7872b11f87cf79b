//! Shared by the tests that run the embedded default model.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use sage_llm::{EngineConfig, LlamaEngine};

/// The embedded default model: `SAGE_MODEL`, else the cache folder (`SAGE_CACHE`, else
/// `~/.cache/sage`); `scripts/test.sh` fetches it.
pub fn model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SAGE_MODEL").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("SAGE_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache").join("sage")
    });
    let p = cache.join("models").join("gemma-3-270m-q4_k_m.gguf");
    assert!(
        p.exists(),
        "the default model is missing at {}: run `bash scripts/setup.sh` or set SAGE_MODEL",
        p.display()
    );
    p
}

/// The default model loaded once into `cell` as `id` with `config` (two threads unless it says).
pub fn load_once(
    cell: &'static OnceLock<LlamaEngine>,
    id: &str,
    config: EngineConfig,
) -> &'static LlamaEngine {
    cell.get_or_init(|| {
        let config = EngineConfig { threads: config.threads.or(Some(2)), ..config };
        LlamaEngine::load(model_path(), Some(id), config).unwrap()
    })
}
