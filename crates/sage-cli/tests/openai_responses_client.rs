#![allow(clippy::unwrap_used)]

//! `sage serve`'s Responses API with the default model, driven by the official `openai` Python
//! package (installed by `scripts/setup.sh --for-tests`). A test binary of its own: cargo runs
//! test binaries one after another, and two model servers at once on two cores made grammar-
//! constrained answers time out.

mod common;

use std::process::Command;

use common::{cache, Server};

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
    assert_eq!(v["effort"]["echoed"], "low", "{v}");
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
