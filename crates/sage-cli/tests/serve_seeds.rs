#![allow(clippy::unwrap_used)]

//! Seeds through `sage serve` with the default model: a request that names a seed gets the same
//! sampled answer when it is asked again, another seed another answer, and requests that name
//! no seed get a fresh one each (OpenAI's and llama-server's behaviour), so they vary. And
//! SIGTERM stops the server cleanly.

mod common;

use common::{post, Server};

fn completion(addr: &str, seed: Option<u32>) -> String {
    let seed = seed.map_or(String::new(), |s| format!(",\"seed\":{s}"));
    let body = format!(
        r#"{{"model":"sage","prompt":"Once upon a time, a small drone","max_tokens":16,"temperature":1.0{seed}}}"#
    );
    let r = post(addr, "/v1/completions", &body);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    let (_, json) = r.split_once("\r\n\r\n").unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["choices"][0]["text"].as_str().unwrap().to_string()
}

#[test]
fn a_seed_repeats_its_answer_and_no_seed_varies() {
    let server = Server::start("seeds", None, &[]);
    let addr = server.addr();
    let first = completion(&addr, Some(11));
    assert_eq!(first, completion(&addr, Some(11)), "the same seed answered differently");
    let others: Vec<String> = (12..15).map(|s| completion(&addr, Some(s))).collect();
    assert!(others.iter().any(|o| o != &first), "three other seeds all answered {first:?}");
    let unseeded: Vec<String> = (0..4).map(|_| completion(&addr, None)).collect();
    assert!(
        unseeded.iter().any(|u| u != &unseeded[0]),
        "four unseeded requests all answered {:?}",
        unseeded[0]
    );
    // Still the same answer for the seed, after the other prompts.
    assert_eq!(first, completion(&addr, Some(11)));
}

/// SIGTERM (systemd, Docker) stops the server the way Ctrl-C does: in-flight work finishes and
/// what the router learned is saved.
#[test]
fn sigterm_stops_cleanly_and_saves_what_was_learned() {
    let mut server = Server::start("sigterm", None, &[]);
    let addr = server.addr();
    let _ = completion(&addr, Some(1));
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    let store = sage_store::Store::open(&server.store()).unwrap();
    assert!(!store.load_trust().unwrap().is_empty(), "no trust saved at shutdown");
}

/// The default window is the model's trained context capped at 4,096 tokens (it was 1,024): a
/// 3,000-token prompt is served, one beyond the window is a 400 that says so.
#[test]
fn a_long_prompt_fits_the_default_window() {
    let server = Server::start("window", None, &[]);
    let addr = server.addr();
    let long = "word ".repeat(3000);
    let body = format!(r#"{{"model":"sage","prompt":"{long}","max_tokens":4,"temperature":0}}"#);
    let r = post(&addr, "/v1/completions", &body);
    assert!(r.starts_with("HTTP/1.1 200"), "{}", &r[..r.len().min(400)]);
    let too_long = "word ".repeat(5000);
    let body = format!(r#"{{"model":"sage","prompt":"{too_long}","max_tokens":4}}"#);
    let r = post(&addr, "/v1/completions", &body);
    assert!(
        r.starts_with("HTTP/1.1 400") && r.contains("context_length_exceeded"),
        "{}",
        &r[..r.len().min(400)]
    );
}

/// A client following `/sage/events` (the dashboard does) does not keep a stopped server alive.
#[test]
fn sigterm_does_not_wait_for_an_open_event_stream_for_good() {
    use std::io::Write;
    let mut server = Server::start("sigterm-events", None, &[]);
    let mut events = std::net::TcpStream::connect(server.addr()).unwrap();
    write!(events, "GET /sage/events HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let started = std::time::Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed().as_secs() < 40, "{:?}", started.elapsed());
}
