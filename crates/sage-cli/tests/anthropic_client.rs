#![allow(clippy::unwrap_used)]

//! `sage serve`'s Messages API with the default model, driven by a client nobody here wrote: the
//! official `anthropic` Python package, installed by `scripts/setup.sh --for-tests` into the
//! cache folder. Ignored by a plain `cargo test`; `scripts/test.sh` installs it and runs it.

mod common;

use std::process::Command;

use common::{cache, Server};

#[test]
#[ignore = "needs the anthropic Python package: scripts/setup.sh --for-tests (scripts/test.sh runs it)"]
fn the_official_anthropic_client_talks_to_sage_serve() {
    let package = cache().join("pip/anthropic");
    assert!(package.join("anthropic").exists(), "run scripts/setup.sh --for-tests");
    let server = Server::start("anthropic-client", Some("sage-test-key"), &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tools/clients/anthropic_check.py");
    let out =
        Command::new("python3").arg(script).arg(&server.url).env("PYTHONPATH", &package).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let plain = &v["plain"];
    assert!(plain["id"].as_str().unwrap().starts_with("msg_"), "{v}");
    assert!(!plain["text"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(plain["model"], "gemma-3-270m-q4_k_m");
    assert_eq!(plain["blocks"], serde_json::json!(["text"]));
    assert!(["end_turn", "max_tokens"].contains(&plain["stop_reason"].as_str().unwrap()), "{v}");
    assert!(
        plain["input_tokens"].as_u64().unwrap() > 0 && plain["output_tokens"].as_u64().unwrap() > 0,
        "{v}"
    );
    // The stop sequence (a word after the first of the model's greedy answer without one, whatever
    // this CPU makes it) is named, and the text ends before it: the same answer's beginning.
    let stop = &v["stop"];
    let chosen = stop["chosen"].as_str().unwrap();
    assert_eq!(
        (stop["stop_reason"].as_str(), stop["stop_sequence"].as_str()),
        (Some("stop_sequence"), Some(chosen)),
        "{v}"
    );
    let text = stop["text"].as_str().unwrap();
    assert!(!text.trim().is_empty() && !text.contains(chosen), "{v}");
    assert!(stop["free"].as_str().unwrap().starts_with(text), "{v}");
    assert_eq!(v["short"]["stop_reason"], "max_tokens");
    assert_eq!(v["short"]["output_tokens"], 2);
    // The SDK's accumulator rebuilds the streamed message from the events.
    let stream = &v["stream"];
    let types: Vec<&str> = stream["types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(types[..2], ["message_start", "content_block_start"], "{v}");
    assert_eq!(types[types.len() - 3..], ["content_block_stop", "message_delta", "message_stop"], "{v}");
    assert!(!stream["deltas"].as_str().unwrap().is_empty(), "{v}");
    assert_eq!(stream["deltas"], stream["final_text"], "{v}");
    assert!(stream["output_tokens"].as_u64().unwrap() > 0, "{v}");
    let parsed = &v["json_schema"]["parsed"];
    assert!(parsed["battery"].is_i64(), "schema-constrained output parses: {v}");
    // Tools: forced calls as tool_use blocks, their results sent back, a named call streamed.
    let t = &v["tools"];
    assert_eq!(t["stop_reason"], "tool_use", "{t}");
    let uses = t["uses"].as_array().unwrap();
    assert!(!uses.is_empty() && uses.len() <= 4, "{t}");
    for u in uses {
        assert!(["get_battery", "get_position"].contains(&u["name"].as_str().unwrap()), "{t}");
        assert!(u["input"].is_object() && u["id"].as_str().unwrap().starts_with("toolu_"), "{t}");
    }
    assert_eq!(t["answered"]["blocks"], serde_json::json!(["text"]), "tool_choice none: no call: {t}");
    assert_ne!(t["answered"]["stop_reason"], "tool_use", "{t}");
    assert_eq!(t["streamed"]["uses"].as_array().unwrap().len(), 1, "{t}");
    assert_eq!(t["streamed"]["uses"][0]["name"], "get_battery", "{t}");
    assert!(
        ["percent", "volts"].contains(&t["streamed"]["uses"][0]["input"]["unit"].as_str().unwrap()),
        "{t}"
    );
    assert_eq!(t["streamed"]["stop_reason"], "tool_use", "{t}");
    // Counting: what the model would read; the tools' descriptions count too.
    let count = &v["count"];
    assert!(count["plain"].as_u64().unwrap() > 5, "{v}");
    assert!(count["with_tools"].as_u64() > count["plain"].as_u64(), "{v}");
    assert_eq!(count["plain"], count["served"], "the count is what the model evaluates: {v}");
    assert_eq!(v["models"][0], "sage");
    assert_eq!(v["thinking"]["blocks"], serde_json::json!(["text"]), "a model that does not think: {v}");
    let refused = &v["refused"];
    assert_eq!(
        (refused["model"]["status"].as_u64(), refused["model"]["type"].as_str()),
        (Some(404), Some("not_found_error"))
    );
    for (field, word) in [
        ("image", "image"),
        ("server_tool", "web_search"),
        ("temperature", "temperature"),
        ("effort", "effort"),
    ] {
        assert_eq!(refused[field]["status"], 400, "{field}: {v}");
        assert_eq!(refused[field]["type"], "invalid_request_error", "{field}: {v}");
        assert!(refused[field]["message"].as_str().unwrap().contains(word), "{field}: {v}");
    }
    assert_eq!(
        (refused["key"]["status"].as_u64(), refused["key"]["type"].as_str()),
        (Some(401), Some("authentication_error"))
    );
    drop(server);
}
