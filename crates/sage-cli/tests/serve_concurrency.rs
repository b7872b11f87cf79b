#![allow(clippy::unwrap_used)]

//! Concurrent requests to one model generate together (continuous batching): a short request
//! sent while a long one is streaming finishes while the long one is still streaming. With one
//! generation at a time it would wait for the long answer's end.

mod common;

use std::io::Read;

use common::{get, open_post, post, Server};

#[test]
fn a_short_request_finishes_while_a_long_one_streams() {
    let server = Server::start("concurrency", None, &["--parallel", "2"]);
    let addr = server.addr();
    // A base model counting goes on for the whole budget.
    let long = r#"{"model":"sage","prompt":"1, 2, 3, 4, 5, 6, 7, 8, 9, 10,","max_tokens":160,"temperature":0,"stream":true}"#;
    let mut a = open_post(&addr, "/v1/completions", long);
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deltas = |s: &str| s.matches("\"text\":\"").count();
    while deltas(&seen) < 3 {
        let n = a.read(&mut buf).unwrap();
        assert!(n > 0, "the long request ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let short = r#"{"model":"sage","prompt":"The capital of France is","max_tokens":4,"temperature":0}"#;
    let r = post(&addr, "/v1/completions", short);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("\"text_completion\""), "{r}");
    // What the long answer had sent by now is in the socket's buffer: take it without waiting.
    a.set_nonblocking(true).unwrap();
    loop {
        match a.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    // The long answer is still streaming: its end comes after the short answer.
    assert!(!seen.contains("[DONE]"), "the long answer ended before the short one was answered");
    let at_short = deltas(&seen);
    a.set_nonblocking(false).unwrap();
    a.read_to_string(&mut seen).unwrap();
    assert!(seen.contains("[DONE]"), "{seen}");
    let total = deltas(&seen);
    assert!(
        total > at_short + 20,
        "the long answer had {at_short} pieces when the short one finished and {total} in all"
    );
    // The engine's figures: two sequences, steps taken, prompts evaluated, nothing generating now.
    let m = get(&addr, "/metrics");
    let figure = |name: &str| -> f64 {
        let key = format!("{name}{{model=\"gemma-3-270m-q4_k_m\"}} ");
        let line = m.lines().find(|l| l.starts_with(&key)).unwrap_or_else(|| panic!("{key} missing:\n{m}"));
        line[key.len()..].parse().unwrap()
    };
    assert!(figure("sage:engine_steps_total") > 50.0, "{m}");
    assert!(figure("sage:prompt_tokens_evaluated_total") > 10.0, "{m}");
    assert_eq!(figure("sage:engine_sequences_generating"), 0.0);
    let usage = figure("sage:kv_cache_usage_ratio");
    assert!(usage > 0.0 && usage <= 1.0, "{usage}");
}
