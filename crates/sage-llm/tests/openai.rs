#![allow(clippy::unwrap_used)]

//! The remote engine against a real HTTP server on localhost (a scripted server: it answers
//! fixed JSON, as an OpenAI-compatible server would).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use sage_llm::{
    Event, FinishReason, Flow, GenerateError, GenerateParams, LanguageModel, LoadError, OpenAiModel,
};

/// Serve `n` requests: each gets the answer `route(method, path, body)`.
fn serve(n: usize, route: fn(&str, &str, &str) -> (u16, String)) -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..n {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap().to_string(), parts.next().unwrap().to_string());
            let mut len = 0;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let (status, answer) = route(&method, &path, &String::from_utf8(body).unwrap());
            write!(
                s,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .unwrap();
        }
    });
    format!("http://{addr}")
}

fn routes(method: &str, path: &str, body: &str) -> (u16, String) {
    match (method, path) {
        ("GET", "/v1/models") => (200, r#"{"object":"list","data":[{"id":"nemotron-4b"}]}"#.into()),
        ("POST", "/v1/completions") => {
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["model"], "nemotron-4b");
            assert_eq!(v["prompt"], "Battery level?");
            assert_eq!(v["max_tokens"], 4, "16 byte-tokens ask for 4 remote tokens");
            (
                200,
                r#"{"choices":[{"text":" 80%.","finish_reason":"stop","logprobs":{"tokens":[" 80","%."],"token_logprobs":[-0.3,-0.1]}}],"usage":{"prompt_tokens":4}}"#.into(),
            )
        }
        _ => (404, "{}".into()),
    }
}

#[test]
fn a_remote_completion_streams_bytes_with_logprobs() {
    let url = serve(2, routes);
    let m = OpenAiModel::connect("thor-4b", &url, "nemotron-4b", None, 1024, Duration::from_secs(5)).unwrap();
    assert_eq!(m.info().train_context, 4096);
    let (s, n) = m.open_session(Some(512)).unwrap();
    assert_eq!(n, 2048);
    let prompt = m.tokenize("Battery level?", true).unwrap();
    let mut shown = String::new();
    let g = m
        .generate_tokens(s, &prompt, &GenerateParams { max_tokens: 16, ..Default::default() }, &mut |e| {
            if let Event::Token { delta, .. } = e {
                shown.push_str(delta);
            }
            Flow::Continue
        })
        .unwrap();
    assert_eq!(g.text, " 80%.");
    assert_eq!(shown, " 80%.");
    assert_eq!(g.finish, FinishReason::EndOfTurn);
    assert_eq!(g.tokens.len(), 5);
    let sum: f32 = g.tokens.iter().map(|t| t.logprob.unwrap()).sum();
    assert!((sum + 0.4).abs() < 1e-5, "the remote log-probabilities are kept: {sum}");
}

#[test]
fn remote_failures_are_typed_errors() {
    // Nobody listens.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let e = OpenAiModel::connect("x", &format!("http://{dead}"), "m", None, 1024, Duration::from_secs(2))
        .err()
        .unwrap();
    assert!(matches!(e, LoadError::Remote { .. }), "{e}");
    // A server that does not serve the model.
    let url = serve(1, routes);
    let e = OpenAiModel::connect("x", &url, "llama-70b", None, 1024, Duration::from_secs(5)).err().unwrap();
    assert!(e.to_string().contains("does not serve llama-70b (it serves nemotron-4b)"), "{e}");
    // A server that fails a completion, and one that overflows the context.
    fn failing(method: &str, _: &str, _: &str) -> (u16, String) {
        match method {
            "GET" => (200, r#"{"data":[]}"#.into()),
            _ => (500, r#"{"error":{"message":"out of memory"}}"#.into()),
        }
    }
    // Three attempts: the first and two retries, all answered 500.
    let url = serve(4, failing);
    let m = OpenAiModel::connect("x", &url, "m", None, 1024, Duration::from_secs(5)).unwrap();
    let (s, _) = m.open_session(None).unwrap();
    let p = m.tokenize("hi", true).unwrap();
    let e = m.generate_tokens(s, &p, &GenerateParams::default(), &mut |_| Flow::Continue).unwrap_err();
    assert!(
        matches!(&e, GenerateError::Remote { message, .. } if message.contains("500") && message.contains("out of memory")),
        "{e}"
    );
    let e = m
        .generate_tokens(s, &p, &GenerateParams { max_tokens: 10_000, ..Default::default() }, &mut |_| {
            Flow::Continue
        })
        .unwrap_err();
    assert!(matches!(e, GenerateError::ContextOverflow { .. }), "checked before any request: {e}");
}
