#![allow(clippy::unwrap_used)]

//! The remote engine against a second SAGE server on loopback: a real HTTP round trip through
//! `sage-server` (over scripted models) and `sage-llm`'s OpenAI client, a peer that dies, and a
//! peer that accepts connections but never answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sage_kernel::Kernel;
use sage_llm::{Flow, GenerateError, GenerateParams, LanguageModel, LoadError, OpenAiModel};
use sage_runtime::driver::{kernel_config, LlmDriver};
use sage_runtime::route::Router;
use sage_runtime::scripted::{Script, ScriptedLoader};
use sage_runtime::{ManualClock, Residency, Zoo};
use sage_server::{App, KernelHost, ServerConfig};

fn peer() -> Arc<App> {
    peer_with("answer from peer-4b")
}

fn peer_with(reply: &str) -> Arc<App> {
    let specs = Zoo::parse(
        "[[model]]\nid = \"peer-4b\"\nengine = \"gguf\"\npath = \"p.gguf\"\nrole = \"primary\"\nexpected_mib = 10\nquality = { \"text.chat\" = 0.9 }",
        "peer zoo",
        std::path::Path::new("."),
    )
    .unwrap()
    .models;
    let loader = Arc::new(ScriptedLoader::new(
        vec![Script { context: 4096, reply: reply.into(), ..Script::new("peer-4b", 0.9) }],
        Duration::ZERO,
    ));
    let clock = Arc::new(ManualClock::default());
    let residency = Residency::new(&specs, 1 << 30, loader, clock.clone());
    let router = Router::new(specs.clone(), residency.clone(), clock.clone(), 1);
    let kernel = Kernel::new(kernel_config(&specs, 1 << 30, &residency)).unwrap();
    let driver = LlmDriver::new(specs, residency.clone(), None, None, clock.clone());
    App::new(router, residency, None, KernelHost::new(kernel, driver), clock, ServerConfig::default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sage_peer_serves_the_remote_engine_and_its_death_is_a_typed_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sage_server::serve(peer(), listener, async {
        let _ = stopped.await;
    }));
    let u = url.clone();
    let (model, text) = tokio::task::spawn_blocking(move || {
        let m = OpenAiModel::connect("legion", &u, "peer-4b", None, 1024, Duration::from_secs(10)).unwrap();
        let (s, _) = m.open_session(None).unwrap();
        let p = m.tokenize("The robot", true).unwrap();
        let g = m
            .generate_tokens(s, &p, &GenerateParams { max_tokens: 128, ..Default::default() }, &mut |_| {
                Flow::Continue
            })
            .unwrap();
        assert!(g.tokens.iter().all(|t| t.logprob.is_some()), "the peer's logprobs come through");
        (m, g.text)
    })
    .await
    .unwrap();
    assert_eq!(text, "answer from peer-4b");

    // The peer shuts down: the next generation fails with a typed error, after its retries.
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    let e = tokio::task::spawn_blocking(move || {
        let (s, _) = model.open_session(None).unwrap();
        let p = model.tokenize("The robot", true).unwrap();
        model.generate_tokens(s, &p, &GenerateParams::default(), &mut |_| Flow::Continue).unwrap_err()
    })
    .await
    .unwrap();
    assert!(
        matches!(&e, GenerateError::Remote { message, .. } if message.contains("after 3 attempts")),
        "{e}"
    );
}

#[test]
fn a_peer_that_never_answers_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept connections and say nothing.
    std::thread::spawn(move || {
        let mut held = vec![];
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let started = Instant::now();
    let e = OpenAiModel::connect(
        "silent",
        &format!("http://{addr}"),
        "m",
        None,
        1024,
        Duration::from_millis(500),
    )
    .err()
    .unwrap();
    assert!(matches!(e, LoadError::Remote { .. }), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5), "no hang: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_the_streams_in_flight() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // 1600 one-byte tokens: far more than the stream's channel holds, so the generation is
    // still running when the server is asked to stop.
    let server = tokio::spawn(sage_server::serve(peer_with(&"story ".repeat(300)), listener, async {
        let _ = stopped.await;
    }));
    let client = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let body = r#"{"model":"sage","stream":true,"max_tokens":1600,"messages":[{"role":"user","content":"Tell me a story"}]}"#;
        write!(s, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut first = [0u8; 64];
        let n = s.read(&mut first).unwrap();
        assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
        // The stream has started: now the server is asked to stop, and the rest still comes.
        std::thread::sleep(Duration::from_millis(50));
        let mut rest = String::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    rest.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if rest.contains("[DONE]") {
                        break;
                    }
                }
            }
        }
        rest
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.send(()).unwrap();
    let rest = client.await.unwrap();
    assert!(
        rest.contains("[DONE]"),
        "the stream in flight ended properly: ...{}",
        &rest[rest.len().saturating_sub(300)..]
    );
    let deltas = rest.matches("\"delta\":{\"content\":").count();
    assert!(deltas > 1000, "the whole answer came, not only what was buffered: {deltas} deltas");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops after its streams")
        .unwrap()
        .unwrap();
}
