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
    let specs = Zoo::parse(
        "[[model]]\nid = \"peer-4b\"\nengine = \"gguf\"\npath = \"p.gguf\"\nrole = \"primary\"\nexpected_mib = 10\nquality = { \"text.chat\" = 0.9 }",
        "peer zoo",
        std::path::Path::new("."),
    )
    .unwrap()
    .models;
    let loader = Arc::new(ScriptedLoader::new(
        vec![Script { context: 4096, ..Script::new("peer-4b", 0.9) }],
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
