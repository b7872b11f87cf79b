#![allow(clippy::unwrap_used)]

//! `sage serve` with the default model, driven by a client nobody here wrote: the official
//! `openai` Python package, installed by `scripts/setup.sh --for-tests` into the cache folder.
//! Ignored by a plain `cargo test`; `scripts/test.sh` installs the package and runs it.

mod common;

use std::process::Command;

use common::{cache, Server};

#[test]
#[ignore = "needs the openai Python package: scripts/setup.sh --for-tests (scripts/test.sh runs it)"]
fn the_official_openai_client_talks_to_sage_serve() {
    let package = cache().join("pip/openai");
    assert!(
        package.join("openai").exists(),
        "the openai package is missing from {}; run scripts/setup.sh --for-tests",
        package.display()
    );
    let server = Server::start("openai-client", Some("sage-test-key"), &[]);
    let url = server.url.clone();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/clients/openai_check.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(format!("{url}/v1"))
        .env("PYTHONPATH", &package)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["models"][0], "sage");
    assert_eq!(v["retrieved"], "gemma-3-270m-q4_k_m", "{v}");
    assert!(v["penalties"]["penalised"].as_u64() < v["penalties"]["plain"].as_u64(), "{v}");
    assert!(!v["plain"]["content"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(v["plain"]["model"], "gemma-3-270m-q4_k_m");
    assert!(v["stream"]["chunks"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["stream"]["finish_reason"].is_string(), "{v}");
    assert!(v["stream"]["usage_chunk"].as_u64().unwrap() >= 1, "include_usage: {v}");
    assert!(v["logprobs"]["tokens"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["logprobs"]["first"].as_f64().unwrap() <= 0.0, "{v}");
    assert_eq!(v["logprobs"]["top"], 2);
    let parsed = &v["json_schema"]["parsed"];
    assert!(parsed["battery"].is_i64(), "schema-constrained output parses: {v}");
    assert!(["ok", "low"].contains(&parsed["status"].as_str().unwrap()), "{v}");
    assert_eq!(v["unknown_model"]["status"], 404);
    assert_eq!(v["overflow"]["code"], "context_length_exceeded");
    assert!(!v["completion"]["text"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(
        (v["embeddings"]["count"].as_u64(), v["embeddings"]["dim"].as_u64()),
        (Some(2), Some(640)),
        "{v}"
    );
    assert_eq!(v["embeddings"]["model"], "gemma-3-270m-q4_k_m");
    assert!(v["embeddings"]["prompt_tokens"].as_u64().unwrap() > 4, "{v}");
    // Tools: a forced call parses, its result goes back, the model answers in words.
    let t = &v["tools"];
    assert_eq!(t["finish_reason"], "tool_calls", "{t}");
    let calls = t["calls"].as_array().unwrap();
    assert!(!calls.is_empty() && calls.len() <= 4, "{t}");
    for c in calls {
        assert!(["get_battery", "get_position"].contains(&c["name"].as_str().unwrap()), "{t}");
        assert!(c["arguments"].is_object(), "{t}");
        assert!(c["id"].as_str().unwrap().starts_with("call_"), "{t}");
    }
    assert!(!t["final"]["content"].as_str().unwrap().is_empty(), "{t}");
    assert!(t["final"]["tool_calls"].is_null(), "tool_choice none: no call: {t}");
    assert_eq!(t["streamed"]["name"], "get_battery", "{t}");
    assert_eq!(t["streamed"]["finish_reason"], "tool_calls", "{t}");
    assert_eq!(t["streamed"]["ids"], 1, "{t}");
    assert!(["percent", "volts"].contains(&t["streamed"]["arguments"]["unit"].as_str().unwrap()), "{t}");
    assert_eq!(t["bad_choice"]["status"], 400, "{t}");
    drop(server);
}
