#![allow(clippy::unwrap_used)]

//! `sage serve`'s Ollama API with the default model, driven by the official `ollama` Python
//! package, installed by `scripts/setup.sh --for-tests` into the cache folder. Ignored by a
//! plain `cargo test`; `scripts/test.sh` installs the package and runs it.

mod common;

use std::process::Command;

use common::{cache, Server};

#[test]
#[ignore = "needs the ollama Python package: scripts/setup.sh --for-tests (scripts/test.sh runs it)"]
fn the_official_ollama_client_talks_to_sage_serve() {
    let package = cache().join("pip/ollama");
    assert!(
        package.join("ollama").exists(),
        "the ollama package is missing from {}; run scripts/setup.sh --for-tests",
        package.display()
    );
    let server = Server::start("ollama-client", None, &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/clients/ollama_check.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&server.url)
        .arg("gemma-3-270m-q4_k_m")
        .env("PYTHONPATH", &package)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tags"][0], "gemma-3-270m-q4_k_m", "{v}");
    assert_eq!(v["pull"], "success", "{v}");
    assert!(!v["chat"]["content"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["chat"]["done"], true);
    assert!(v["chat"]["eval_count"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["chat"]["prompt_eval_count"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["chat_stream"]["chunks"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["chat_stream"]["last_done"], true);
    assert!(!v["generate"]["response"].as_str().unwrap().is_empty(), "{v}");
    assert!(v["generate_stream"]["chunks"].as_u64().unwrap() >= 2, "{v}");
    assert!(v["json"]["battery"].is_i64(), "format as a JSON schema: {v}");
    assert_eq!((v["embed"]["count"].as_u64(), v["embed"]["dim"].as_u64()), (Some(3), Some(640)), "{v}");
    assert!((v["embed"]["norm"].as_f64().unwrap() - 1.0).abs() < 1e-3, "{v}");
    assert!(v["embed"]["similar"].as_f64() > v["embed"]["unrelated"].as_f64(), "{v}");
    assert_eq!(v["embeddings_legacy"]["dim"].as_u64(), Some(640), "{v}");
    assert!((v["embeddings_legacy"]["same"].as_f64().unwrap() - 1.0).abs() < 1e-4, "as /api/embed: {v}");
    assert_eq!(v["embeddings_legacy"]["empty"].as_u64(), Some(0), "an empty prompt loads: {v}");
    assert_eq!(v["ps"][0], "gemma-3-270m-q4_k_m", "{v}");
    assert_eq!(v["show"]["capabilities"][0], "completion");
    // What the file says, where Ollama's clients look for it.
    assert_eq!(v["show"]["family"], "gemma3", "{v}");
    assert_eq!(v["show"]["parameter_size"], "268.10M", "{v}");
    assert_eq!(v["show"]["quantization_level"], "Q4_K_M", "{v}");
    assert_eq!(v["show"]["context_length"], 32768, "the trained context: {v}");
    assert_eq!(v["tags_details"]["family"], "gemma3", "{v}");
    assert_eq!(v["tags_details"]["quantization_level"], "Q4_K_M", "{v}");
    assert_eq!(v["tags_details"]["digest"].as_str().map(str::len), Some(64), "{v}");
    assert_eq!(v["ps_after_unload"], serde_json::json!([]), "keep_alive 0 unloads: {v}");
    assert_eq!(v["unknown"]["status"], 404, "{v}");
}
