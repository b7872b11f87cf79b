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

#[test]
#[ignore = "needs the openai Python package: scripts/setup.sh --for-tests (scripts/test.sh runs it)"]
fn the_official_openai_client_uses_the_responses_api() {
    let package = cache().join("pip/openai");
    assert!(package.join("openai").exists(), "run scripts/setup.sh --for-tests");
    let server = Server::start("openai-responses", Some("sage-test-key"), &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/clients/openai_responses_check.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(format!("{}/v1", server.url))
        .env("PYTHONPATH", &package)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plain = &v["plain"];
    assert!(plain["id"].as_str().unwrap().starts_with("resp_"), "{v}");
    assert!(!plain["text"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(plain["status"], "completed", "{v}");
    assert_eq!(plain["model"], "gemma-3-270m-q4_k_m");
    assert_eq!(plain["items"], serde_json::json!(["message"]));
    // A chained response carries the conversation, and reuses its KV cache.
    let chained = &v["chained"];
    assert_eq!(chained["previous"], plain["id"]);
    assert!(chained["input_tokens"].as_u64() > plain["input_tokens"].as_u64(), "{v}");
    assert!(chained["cached_tokens"].as_u64().unwrap() > 0, "{v}");
    // Instructions are a system message: more input than the bare question.
    assert_eq!(v["instructions"]["echoed"], "You are a terse robot. Answer in one word.");
    assert!(v["instructions"]["input_tokens"].as_u64().unwrap() > 12, "{v}");
    // The SDK's accumulator rebuilds the streamed response from the events.
    let stream = &v["stream"];
    let types: Vec<&str> = stream["types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(
        types[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        types[types.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert!(!stream["deltas"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(stream["deltas"], stream["final_text"], "{v}");
    let parsed = &v["json_schema"]["parsed"];
    assert!(parsed["battery"].is_i64(), "schema-constrained output parses: {v}");
    assert!(["ok", "low"].contains(&parsed["status"].as_str().unwrap()), "{v}");
    // Tools: forced calls as function_call items, their outputs sent back, a named call streamed.
    let t = &v["tools"];
    let calls = t["calls"].as_array().unwrap();
    assert!(!calls.is_empty() && calls.len() <= 4, "{t}");
    for c in calls {
        assert!(["get_battery", "get_position"].contains(&c["name"].as_str().unwrap()), "{t}");
        assert!(c["arguments"].is_object() && c["call_id"].as_str().unwrap().starts_with("call_"), "{t}");
    }
    assert_eq!(t["answered"]["items"], serde_json::json!(["message"]), "tool_choice none: no call: {t}");
    assert_eq!(t["streamed"]["names"], serde_json::json!(["get_battery"]), "{t}");
    assert!(["percent", "volts"].contains(&t["streamed"]["arguments"][0]["unit"].as_str().unwrap()), "{t}");
    assert!(t["streamed"]["types"]
        .as_array()
        .unwrap()
        .contains(&"response.function_call_arguments.done".into()));
    assert_eq!(
        (v["incomplete"]["status"].as_str(), v["incomplete"]["reason"].as_str()),
        (Some("incomplete"), Some("max_output_tokens"))
    );
    let stored = &v["stored"];
    assert_eq!(stored["retrieved"], plain["id"]);
    assert_eq!(stored["text"], plain["text"]);
    assert_eq!(stored["deleted"], true);
    assert_eq!(
        (stored["after"]["status"].as_u64(), stored["after"]["code"].as_str()),
        (Some(404), Some("response_not_found"))
    );
    assert_eq!(stored["not_stored"]["status"], 404, "store: false keeps nothing: {v}");
    let refused = &v["refused"];
    assert_eq!(refused["previous"]["status"], 404, "{v}");
    for (field, word) in [("image", "input_image"), ("reasoning", "reasoning"), ("web_search", "web_search")]
    {
        assert_eq!(refused[field]["status"], 400, "{v}");
        assert!(refused[field]["message"].as_str().unwrap().contains(word), "{v}");
    }
    assert_eq!(refused["model"]["status"], 404, "{v}");
    drop(server);
}
