#![allow(clippy::unwrap_used)]

//! The HTTP API over scripted models (test doubles; the real model is exercised by the CLI's
//! end-to-end test): every route, every error path, the queue, disconnects.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use sage_server::{routes, App, ServerConfig};

mod common;
use common::{app, app_with, build, call};

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn health_ready_models_and_metrics() {
    let a = app(ServerConfig::default());
    assert_eq!(call(&a, "GET", "/health", None, None).await.0, StatusCode::OK);
    assert_eq!(call(&a, "GET", "/ready", None, None).await.0, StatusCode::OK);
    let (s, page) = call(&a, "GET", "/", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.as_str().unwrap().contains("<title>SAGE</title>"));
    let (s, v) = call(&a, "GET", "/v1/models", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["sage", "a", "narrow", "chatty"]);
    assert_eq!(v["data"][1]["sage"]["resident"], true, "the primary model is kept hot in WAKE");
    // One model, as the OpenAI clients' `models.retrieve` asks.
    let (s, one) = call(&a, "GET", "/v1/models/narrow", None, None).await;
    assert_eq!((s, &one), (StatusCode::OK, &v["data"][2]));
    let (s, e) = call(&a, "GET", "/v1/models/nope", None, None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("model_not_found")), "{e}");
    let (s, m) = call(&a, "GET", "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let m = m.as_str().unwrap();
    assert!(m.contains("sage:num_requests_running 0"), "{m}");
    assert!(m.contains("sage:model_loads_total{model=\"a\"} 1"), "{m}");
    assert!(m.contains("sage:metabolic_state{state=\"WAKE\"} 1"), "{m}");
}

#[tokio::test]
async fn llama_server_s_paths_without_v1_answer_as_with_it() {
    // Clients given llama-server's address without `/v1` call these.
    let a = app(ServerConfig::default());
    assert_eq!(call(&a, "GET", "/v1/health", None, None).await.0, StatusCode::OK);
    assert_eq!(call(&a, "GET", "/models", None, None).await, call(&a, "GET", "/v1/models", None, None).await);
    let (s, v) =
        call(&a, "POST", "/chat/completions", Some(chat("a", "What is the battery level?")), None).await;
    assert_eq!((s, v["object"].as_str()), (StatusCode::OK, Some("chat.completion")), "{v}");
    // `/completions` is llama-server's own `/completion`, as there.
    let body = json!({"prompt": "The battery", "n_predict": 4});
    let (s, v) = call(&a, "POST", "/completions", Some(body.clone()), None).await;
    let (s2, v2) = call(&a, "POST", "/completion", Some(body), None).await;
    assert_eq!((s, s2), (StatusCode::OK, StatusCode::OK), "{v} {v2}");
    assert_eq!((v["content"].is_string(), v["stop"].as_bool()), (true, Some(true)), "{v}");
    // A grammar deeper than the recursive parser takes is the client's error, not a crash.
    let deep = format!("root ::= {}\"a\"{}", "(".repeat(5000), ")".repeat(5000));
    let (s, v) = call(&a, "POST", "/completion", Some(json!({"prompt": "x", "grammar": deep})), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v.to_string().contains("nested 5000 deep"), "{v}");
    // A grammar that does not parse, or whose left recursion would never finish expanding
    // (llama.cpp's matcher hung on it), is refused before any model sees it.
    for (grammar, says) in [
        ("root ::= item+", "rule 'item' is used but not defined"),
        ("root ::= n root \"z\" | \"b\"\nn ::= m\nm ::= \"\" | \"c\"", "without end"),
    ] {
        let (s, v) =
            call(&a, "POST", "/completion", Some(json!({"prompt": "x", "grammar": grammar})), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
        assert!(v.to_string().contains(says), "{v}");
    }
}

#[tokio::test]
async fn chat_completions_answer_with_usage_logprobs_and_the_routing_record() {
    let a = app(ServerConfig::default());
    let (s, v) =
        call(&a, "POST", "/v1/chat/completions", Some(chat("sage", "What is the battery level?")), None)
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "a");
    assert_eq!(v["choices"][0]["message"]["content"], "answer from a");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["completion_tokens"], 13);
    assert_eq!(v["sage"]["degraded"], false);
    assert!(v["sage"]["decision"]["candidates"].as_array().unwrap().len() >= 2, "{v}");
    let mut body = chat("a", "Hello?");
    body["logprobs"] = json!(true);
    let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(body), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let lp = v["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(lp.len(), 13);
    assert!((lp[0]["logprob"].as_f64().unwrap() - 0.8f64.ln()).abs() < 1e-5);
    // A plain completion: the prompt verbatim.
    let (s, v) = call(
        &a,
        "POST",
        "/v1/completions",
        Some(json!({"model": "a", "prompt": "The robot", "max_tokens": 40, "logprobs": 1})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "answer from a");
    assert_eq!(v["choices"][0]["logprobs"]["tokens"].as_array().unwrap().len(), 13);
}

#[tokio::test]
async fn errors_have_openai_shape() {
    let a = app(ServerConfig::default());
    let send_raw = |bytes: Vec<u8>| {
        let a = a.clone();
        async move {
            let req = Request::builder()
                .method("POST")
                .uri("/v1/chat/completions")
                .body(Body::from(bytes))
                .unwrap();
            let resp = routes(a).oneshot(req).await.unwrap();
            let s = resp.status();
            let v: Value =
                serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
            (s, v)
        }
    };
    let (s, v) = send_raw(b"{not json".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let (s, v) = send_raw(vec![0xff, 0xfe, b'{']).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(v["error"]["message"].as_str().unwrap().contains("UTF-8"), "{v}");
    let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(chat("gpt-9", "hi")), None).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("model_not_found")));
    let long = format!("{}?", "very long question ".repeat(20));
    let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(chat("narrow", &long)), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    let mut bad = chat("a", "hi");
    bad["temperature"] = json!(7.0);
    let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(bad), None).await;
    assert_eq!((s, v["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("temperature")));
    let (s, _) =
        call(&a, "POST", "/v1/chat/completions", Some(json!({"model": "a", "messages": []})), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_keys_guard_everything_but_health() {
    let a = app(ServerConfig { api_keys: vec!["k1".into()], ..ServerConfig::default() });
    let (s, v) = call(&a, "GET", "/v1/models", None, None).await;
    assert_eq!((s, v["error"]["type"].as_str()), (StatusCode::UNAUTHORIZED, Some("authentication_error")));
    assert_eq!(call(&a, "GET", "/v1/models", None, Some("nope")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&a, "GET", "/v1/models", None, Some("k1")).await.0, StatusCode::OK);
    assert_eq!(call(&a, "GET", "/health", None, None).await.0, StatusCode::OK);
    assert_eq!(call(&a, "GET", "/ready", None, None).await.0, StatusCode::OK);
}

fn stream_request(model: &str) -> Request<Body> {
    let mut body = chat(model, "Tell me everything");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(1000);
    Request::builder().method("POST").uri("/v1/chat/completions").body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn a_full_queue_answers_429_and_a_disconnect_stops_generation() {
    let a = app(ServerConfig { max_running: 1, max_waiting: 0, ..ServerConfig::default() });
    // A stream nobody reads holds the only slot (its channel fills up and the generation waits).
    let held = routes(a.clone()).oneshot(stream_request("chatty")).await.unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(chat("a", "hi")), None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["error"]["code"], "queue_full");
    // Read a little, then hang up: the generation stops and the slot is free again.
    let mut body = held.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(first.data_ref().unwrap()).contains("chat.completion.chunk"));
    drop(body);
    let mut stopped = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if a.metrics.cancelled.load(std::sync::atomic::Ordering::Relaxed) == 1 {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "the generation noticed the disconnect");
    let (s, _) = call(&a, "POST", "/v1/chat/completions", Some(chat("a", "hi")), None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, m) = call(&a, "GET", "/metrics", None, None).await;
    assert!(m.as_str().unwrap().contains("sage:requests_rejected_total 1"));
    assert!(m.as_str().unwrap().contains("sage:requests_cancelled_total 1"));
}

#[tokio::test]
async fn a_stream_ends_with_usage_the_record_and_done() {
    let a = app(ServerConfig::default());
    let mut body = chat("sage", "What is the battery level?");
    body["stream"] = json!(true);
    let req = Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = routes(a).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(*data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> =
        data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    let content: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(content, "answer from a");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"]["completion_tokens"], 13);
    assert_eq!(last["sage"]["model"], "a");
    // OpenAI's `include_usage`: one more chunk, with no choices and the usage, before [DONE].
    body["stream_options"] = json!({"include_usage": true});
    let req = Request::builder()
        .method("POST")
        .uri("/v1/chat/completions")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = routes(app(ServerConfig::default())).oneshot(req).await.unwrap();
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    let usage: Value = serde_json::from_str(data[data.len() - 2]).unwrap();
    assert_eq!(
        (usage["choices"].as_array().map(Vec::len), usage["usage"]["completion_tokens"].as_u64()),
        (Some(0), Some(13))
    );
    assert_eq!(usage["object"], "chat.completion.chunk");
}

#[tokio::test]
async fn observations_tick_the_kernel_and_state_shows_it() {
    let a = app(ServerConfig::default());
    let (s, v) = call(
        &a,
        "POST",
        "/sage/observations",
        Some(json!([{"source": "operator", "text": "URGENT: smoke near the charging dock, stop the robot!"}, {"source": "imu", "values": [0.0, 9.8, 0.1]}])),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["observations"][0]["attention"]["kind"], "attended");
    assert_eq!(v["runs"][0]["expert"], "a", "{v}");
    let (s, v) = call(&a, "GET", "/sage/state", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["kernel"]["ticks"], 1);
    assert_eq!(v["recent"].as_array().unwrap().len(), 1);
    assert!(v["kernel"]["trust"]["text.alert"]["a"].as_f64().is_some(), "{v}");
    assert_eq!(v["models"]["resident"][0]["model"], "a");
    let (s, v) = call(&a, "POST", "/sage/observations", Some(json!({"source": "x"})), None).await;
    assert_eq!((s, v["error"]["type"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request_error")));
    // Residency through the API.
    let (s, v) = call(&a, "POST", "/sage/models/a/pin", None, None).await;
    assert_eq!((s, v["pinned"].as_bool()), (StatusCode::OK, Some(true)));
    let (s, v) = call(&a, "POST", "/sage/models/a/unload", None, None).await;
    assert_eq!((s, v["unloaded"].as_bool()), (StatusCode::OK, Some(true)));
    assert_eq!(call(&a, "POST", "/sage/models/zz/unload", None, None).await.0, StatusCode::NOT_FOUND);
}

/// One request with raw headers; status and body.
/// The operator's first message, as a new user tried it: a question, an order and a fire in one.
/// It is attended (it was ignored at salience 0.334 before the text rule); its routine look-alike
/// is not.
#[tokio::test]
async fn an_urgent_first_message_is_attended_and_a_drill_notice_is_not() {
    let a = app(ServerConfig::default());
    let urgent = "URGENT: What is your battery level? Please report now, there is a fire!";
    let (s, v) =
        call(&a, "POST", "/sage/observations", Some(json!({"source": "operator", "text": urgent})), None)
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let o = &v["observations"][0];
    assert_eq!(o["attention"]["kind"], "attended", "{v}");
    assert!(o["salience"]["evidence"].as_f64().unwrap() >= 0.99, "{v}");
    assert_eq!(o["class"], "text.alert");
    let (s, v) = call(
        &a,
        "POST",
        "/sage/observations",
        Some(json!({"source": "operator", "text": "fire drill scheduled for Friday"})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["observations"][0]["attention"]["kind"], "ignored", "{v}");
}

async fn raw(
    app: &Arc<App>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = routes(app.clone()).oneshot(b.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    assert_eq!(resp.headers()["content-type"], "application/json", "{status}");
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn a_client_that_gives_up_while_queued_leaves_the_queue() {
    let a = app(ServerConfig { max_running: 1, max_waiting: 1, ..ServerConfig::default() });
    let held = routes(a.clone()).oneshot(stream_request("chatty")).await.unwrap();
    assert_eq!(held.status(), StatusCode::OK);
    // Three impatient clients in turn: each waits in the queue's only place, then hangs up.
    for _ in 0..3 {
        let waited = tokio::time::timeout(
            Duration::from_millis(100),
            call(&a, "POST", "/v1/chat/completions", Some(chat("a", "hi")), None),
        )
        .await;
        assert!(waited.is_err(), "answered {waited:?} instead of waiting for the slot");
        assert_eq!(
            a.metrics.waiting.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "the queue kept its place"
        );
    }
    drop(held);
    let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(chat("a", "hi")), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn errors_axum_answers_itself_are_openai_shaped_json() {
    let a = app(ServerConfig { api_keys: vec!["k1".into()], ..ServerConfig::default() });
    let auth = [("authorization", "Bearer k1"), ("content-type", "application/json")];
    let (s, v) = raw(&a, "GET", "/v2/nothing", &auth, vec![]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v["error"]["message"].as_str().unwrap().contains("/v2/nothing"), "{v}");
    let (s, v) = raw(&a, "GET", "/v1/chat/completions", &auth, vec![]).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let big = format!(
        "{{\"model\":\"a\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "x".repeat(3 << 20)
    );
    let (s, v) = raw(&a, "POST", "/v1/chat/completions", &auth, big.into_bytes()).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_and_keys_must_match_whole() {
    let a = app(ServerConfig { api_keys: vec!["k1".into()], ..ServerConfig::default() });
    for header in ["bearer k1", "BEARER k1", "Bearer   k1 "] {
        let (s, v) = raw(&a, "GET", "/v1/models", &[("authorization", header)], vec![]).await;
        assert_eq!(s, StatusCode::OK, "{header}: {v}");
    }
    for header in ["Bearer k", "Bearer k1x", "Basic k1", "Bearer", "k1", "Bearer  "] {
        let (s, _) = raw(&a, "GET", "/v1/models", &[("authorization", header)], vec![]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{header}");
    }
}

#[tokio::test]
async fn a_bad_schema_or_n_is_the_clients_error_and_never_reaches_trust() {
    let a = app(ServerConfig::default());
    let trust = |a: &Arc<App>| {
        let a = a.clone();
        async move { call(&a, "GET", "/sage/state", None, None).await.1["models"]["trust"].clone() }
    };
    let before = trust(&a).await;
    for model in ["a", "sage"] {
        let mut body = chat(model, "Give me JSON");
        body["response_format"] =
            json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}});
        let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(body), None).await;
        assert_eq!(
            (s, v["error"]["param"].as_str()),
            (StatusCode::BAD_REQUEST, Some("response_format")),
            "{v}"
        );
        let mut body = chat(model, "Two answers");
        body["n"] = json!(2);
        let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(body), None).await;
        assert_eq!((s, v["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("n")), "{v}");
    }
    assert_eq!(trust(&a).await, before);
    let mut body = chat("a", "Who am I?");
    body["user"] = json!("u".repeat(1 << 20));
    let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(body), None).await;
    assert_eq!((s, v["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("user")), "{v}");
    let mut body = chat("a", "One answer");
    body["n"] = json!(1);
    assert_eq!(call(&a, "POST", "/v1/chat/completions", Some(body), None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn ready_says_unavailable_when_every_model_it_needs_failed_to_load() {
    let a = app_with(ServerConfig::default(), |l| {
        for id in ["a", "narrow", "chatty"] {
            l.fail(id, "the file is broken");
        }
    });
    let (s, v) = call(&a, "GET", "/ready", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["status"], "unavailable");
    assert!(v["reason"].as_str().unwrap().contains("the file is broken"), "{v}");
}

#[tokio::test]
async fn observation_batches_are_bounded_and_texts_wait_in_the_queue() {
    let a =
        app(ServerConfig { max_running: 1, max_waiting: 0, max_observations: 4, ..ServerConfig::default() });
    let many: Vec<Value> = (0..5).map(|i| json!({"source": "op", "text": format!("message {i}")})).collect();
    let (s, v) = call(&a, "POST", "/sage/observations", Some(json!(many)), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("at most 4"), "{v}");
    // The only slot is held: a text must wait (429 with no room to wait), a reading ticks at once.
    let held = routes(a.clone()).oneshot(stream_request("chatty")).await.unwrap();
    let text = json!({"source": "op", "text": "Where is the dock?"});
    let (s, v) = call(&a, "POST", "/sage/observations", Some(text.clone()), None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    let (s, v) =
        call(&a, "POST", "/sage/observations", Some(json!({"source": "imu", "values": [0.1, 9.8]})), None)
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    drop(held);
}

/// `serve` on a loopback port with `config`; the address and the shutdown trigger.
async fn listening(config: ServerConfig) -> (String, tokio::sync::oneshot::Sender<()>) {
    let a = app(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(sage_server::serve(a, listener, async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Whether the server closed `s` (reads end) within `wait`.
async fn closed(s: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(wait, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 before closing is fine too.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_and_open_ones_are_capped() {
    use tokio::io::AsyncWriteExt;
    let timeout = Duration::from_millis(300);
    let (addr, _stop) =
        listening(ServerConfig { header_timeout: timeout, max_connections: 3, ..ServerConfig::default() })
            .await;
    // Slowloris: half a request head, never finished.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nx-slow: ").await.unwrap();
    // Silent: connects and sends nothing.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // A third is allowed, a fourth is closed at once.
    let mut third = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut fourth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    assert!(closed(&mut fourth, Duration::from_millis(200)).await, "a connection beyond the cap stayed open");
    assert!(!closed(&mut third, Duration::from_millis(50)).await, "a connection within the cap was closed");
    for (name, s) in [("slow", &mut slow), ("silent", &mut silent), ("idle", &mut third)] {
        assert!(closed(s, timeout * 4).await, "the {name} connection stayed open");
    }
    // The server still answers.
    let mut ok = tokio::net::TcpStream::connect(&addr).await.unwrap();
    ok.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut ok, &mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

#[tokio::test]
async fn the_ollama_api_answers_streams_ndjson_and_refuses_bad_options() {
    let a = app(ServerConfig::default());
    let body =
        json!({"model": "a:latest", "messages": [{"role": "user", "content": "Battery?"}], "stream": false});
    let (s, v) = call(&a, "POST", "/api/chat", Some(body), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["message"]["content"], "answer from a");
    assert_eq!((v["done"].as_bool(), v["eval_count"].as_u64()), (Some(true), Some(13)), "{v}");
    // Streamed by default: one JSON object per line, the last one done.
    let req = Request::builder()
        .method("POST")
        .uri("/api/generate")
        .body(Body::from(json!({"model": "sage", "prompt": "Battery?"}).to_string()))
        .unwrap();
    let resp = routes(a.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 2, "{text}");
    assert_eq!(lines.last().unwrap()["done"], true);
    let streamed: String = lines.iter().filter_map(|l| l["response"].as_str()).collect();
    assert_eq!(streamed, "answer from a");
    for (body, param) in [
        (
            json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "format": {"type": "nonsense"}}),
            "format",
        ),
        (
            json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "keep_alive": "soon"}),
            "keep_alive",
        ),
        (
            json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "options": {"temperature": 9}}),
            "options",
        ),
    ] {
        let (s, v) = call(&a, "POST", "/api/chat", Some(body), None).await;
        assert_eq!((s, v["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some(param)), "{v}");
    }
    let (s, _) = call(&a, "POST", "/api/chat", Some(json!({"model": "nope", "messages": []})), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // No messages: the model is loaded and nothing is answered (`sage` is the zoo's first).
    let (s, v) = call(&a, "POST", "/api/chat", Some(json!({"model": "sage", "messages": []})), None).await;
    assert_eq!((s, v["done_reason"].as_str()), (StatusCode::OK, Some("load")), "{v}");
    let (s, v) = call(&a, "GET", "/api/tags", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["models"].as_array().unwrap().len(), 3, "{v}");
    // Every model has a digest (`ollama list` shows its first 12 digits) and details, also
    // without a file to read.
    for m in v["models"].as_array().unwrap() {
        assert_eq!(m["digest"].as_str().map(str::len), Some(64), "{m}");
        assert_eq!(
            (m["details"]["format"].as_str(), m["details"]["family"].as_str()),
            (Some("gguf"), Some("")),
            "{m}"
        );
    }
    // Pulling a model the zoo has succeeds at once (streamed by default); any other is a 404.
    let (s, p) =
        call(&a, "POST", "/api/pull", Some(json!({"model": "a:latest", "stream": false})), None).await;
    assert_eq!((s, p), (StatusCode::OK, json!({"status": "success"})));
    let (s, p) = call(&a, "POST", "/api/pull", Some(json!({"name": "chatty"})), None).await;
    assert_eq!((s, p), (StatusCode::OK, json!({"status": "success"})), "one NDJSON line");
    let (s, p) = call(&a, "POST", "/api/pull", Some(json!({"model": "llama3"})), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(p["error"]["message"].as_str().unwrap().contains("downloads nothing"), "{p}");
}

/// Thousands of clients with their own conversation ids: the conversations kept per model are
/// bounded (the least recently used are closed), and the server goes on answering.
#[tokio::test]
async fn thousands_of_conversation_ids_keep_a_bounded_number_of_sessions() {
    let mut loader = None;
    let a = app_with(ServerConfig::default(), |l| loader = Some(l.clone()));
    let loader = loader.unwrap();
    for i in 0..3000 {
        let mut body = chat("a", "Battery?");
        body["session_id"] = json!(format!("client-{i}"));
        body["max_tokens"] = json!(2);
        let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(body), None).await;
        assert_eq!(s, StatusCode::OK, "request {i}: {v}");
    }
    let model = loader.models.lock().unwrap()["a"].clone();
    let open = model.open_sessions();
    assert!(open <= sage_runtime::route::MAX_CONVERSATIONS_PER_MODEL, "{open} sessions open");
    assert!(open >= 1000, "the most recent conversations are kept: {open}");
}

/// An Ollama `keep_alive` duration unloads the model once it has been idle that long (models the
/// kernel's state keeps hot stay).
#[tokio::test]
async fn an_ollama_keep_alive_duration_unloads_the_idle_model() {
    let (a, clock) = build(ServerConfig::default(), |_| {});
    let body = json!({"model": "chatty", "messages": [{"role": "user", "content": "hi"}], "stream": false,
                      "options": {"num_predict": 2}, "keep_alive": "10s"});
    let (s, v) = call(&a, "POST", "/api/chat", Some(body), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let resident = |a: &Arc<App>| {
        let a = a.clone();
        async move {
            let (_, v) = call(&a, "GET", "/api/ps", None, None).await;
            v["models"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["name"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert!(resident(&a).await.contains(&"chatty".to_string()));
    clock.advance(5.0);
    assert_eq!(a.expire_idle(), 0, "idle 5 s of 10");
    clock.advance(6.0);
    assert_eq!(a.expire_idle(), 1);
    let now = resident(&a).await;
    assert!(!now.contains(&"chatty".to_string()) && now.contains(&"a".to_string()), "{now:?}");
}

/// llama-server's own endpoints: `/completion` whole and streamed (events of `content`, the last
/// with `stop` and the figures, no `[DONE]`), `/tokenize` with and without pieces,
/// `/detokenize`, `/props`, and their errors.
#[tokio::test]
async fn llama_server_endpoints_answer_in_its_shape() {
    let a = app(ServerConfig::default());
    let (s, v) =
        call(&a, "POST", "/completion", Some(json!({"prompt": "Battery?", "n_predict": 64})), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["content"].as_str(), v["stop"].as_bool()), (Some("answer from a"), Some(true)), "{v}");
    assert_eq!(v["model"], "a", "no model: the zoo's first");
    assert_eq!(v["stop_type"], "eos", "{v}");
    assert_eq!(v["tokens_predicted"], 13, "{v}");
    assert!(v.get("completion_probabilities").is_none(), "only when asked: {v}");
    let (_, p) =
        call(&a, "POST", "/completion", Some(json!({"prompt": "Battery?", "n_probs": 2})), None).await;
    assert_eq!(p["completion_probabilities"].as_array().map(Vec::len), Some(13), "{p}");
    assert!(v["timings"]["predicted_n"].is_u64() && v["timings"]["prompt_ms"].is_f64(), "{v}");
    // Streamed: every event parses as JSON; the pieces add up to the answer.
    let body = json!({"prompt": "Battery?", "stream": true, "model": "a"});
    let req =
        Request::builder().method("POST").uri("/completion").body(Body::from(body.to_string())).unwrap();
    let resp = routes(a.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = events.iter().filter_map(|e| e["content"].as_str()).collect();
    assert_eq!(content, "answer from a");
    assert!(events[..events.len() - 1].iter().all(|e| e["stop"] == false), "{text}");
    assert_eq!(events.last().unwrap()["stop"], true);
    assert_eq!(events.last().unwrap()["tokens_predicted"], 13);
    // Tokens: the scripted model's bytes plus one, BOS 0 when special tokens are asked for.
    let (s, v) = call(&a, "POST", "/tokenize", Some(json!({"content": "hi"})), None).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"tokens": [105, 106]})));
    let (_, v) =
        call(&a, "POST", "/tokenize", Some(json!({"content": "hi", "add_special": true})), None).await;
    assert_eq!(v, json!({"tokens": [0, 105, 106]}));
    let (_, v) =
        call(&a, "POST", "/tokenize", Some(json!({"content": "hi", "with_pieces": true})), None).await;
    assert_eq!(v, json!({"tokens": [{"id": 105, "piece": "h"}, {"id": 106, "piece": "i"}]}));
    let (s, v) = call(&a, "POST", "/detokenize", Some(json!({"tokens": [105, 106]})), None).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"content": "hi"})));
    // The prompt a conversation makes through the model's template (the plain format here).
    let msgs = json!({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Battery?"}]});
    let (s, v) = call(&a, "POST", "/apply-template", Some(msgs), None).await;
    let prompt = v["prompt"].as_str().unwrap_or_default();
    assert!(s == StatusCode::OK && prompt.contains("Be brief.") && prompt.contains("Battery?"), "{v}");
    let (s, v) = call(&a, "GET", "/props", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["default_generation_settings"]["n_ctx"], 2048, "{v}");
    assert_eq!(v["default_generation_settings"]["params"]["temperature"], 0.8, "{v}");
    assert_eq!(v["total_slots"], ServerConfig::default().max_running, "{v}");
    // Errors: typed, with the parameter named.
    for (path, body, param) in [
        ("/completion", json!({"prompt": [1, 2, 3]}), "prompt"),
        ("/completion", json!({"prompt": ""}), "prompt"),
        ("/completion", json!({"prompt": "x", "n_predict": 0}), "n_predict"),
        ("/completion", json!({"prompt": "x", "temperature": 7}), "temperature"),
        (
            "/completion",
            json!({"prompt": "x", "grammar": "root ::= ", "json_schema": {"type": "object"}}),
            "grammar",
        ),
        ("/completion", json!({"prompt": "x", "json_schema": 5}), "json_schema"),
        // Lazy grammars: a trigger is needed, and must be one SAGE reads.
        (
            "/completion",
            json!({"prompt": "x", "grammar": "root ::= \"a\"", "grammar_lazy": true}),
            "grammar_triggers",
        ),
        (
            "/completion",
            json!({"prompt": "x", "grammar_lazy": true, "grammar_triggers": [{"type": 1, "value": "a"}]}),
            "grammar_lazy",
        ),
        (
            "/completion",
            json!({"prompt": "x", "grammar": "root ::= \"a\"", "grammar_lazy": true,
                   "grammar_triggers": [{"type": 2, "value": "(a"}]}),
            "grammar_triggers",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "grammar": "root ::= \"a\"",
                   "grammar_lazy": true, "grammar_triggers": [{"type": "word", "value": ""}]}),
            "grammar_triggers",
        ),
        ("/completion", json!({"prompt": "x", "preserved_tokens": "<x>"}), "preserved_tokens"),
        ("/completion", json!({"prompt": "x", "logit_bias": [[1]]}), "logit_bias"),
        ("/completion", json!({"prompt": "x", "logit_bias": [["a", 1]]}), "logit_bias"),
        ("/completion", json!({"prompt": "x", "logit_bias": {"5": true}}), "logit_bias"),
        ("/v1/completions", json!({"model": "a", "prompt": "x", "logit_bias": {"x": 1}}), "logit_bias"),
        ("/v1/completions", json!({"model": "a", "prompt": "x", "logit_bias": {"5": 101}}), "logit_bias"),
        (
            "/v1/chat/completions",
            json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "presence_penalty": 2.5}),
            "presence_penalty",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "frequency_penalty": -3}),
            "frequency_penalty",
        ),
        ("/v1/completions", json!({"model": "a", "prompt": "x", "min_p": 2}), "min_p"),
        ("/v1/completions", json!({"model": "a", "prompt": "x", "repetition_penalty": 0}), "repeat_penalty"),
        (
            "/v1/chat/completions",
            json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "grammar": "root ::= \"a\"",
                   "response_format": {"type": "json_object"}}),
            "grammar",
        ),
        (
            "/v1/chat/completions",
            json!({"model": "a", "messages": [{"role": "user", "content": [{"type": "text", "text": "what is it?"},
                   {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}),
            "messages",
        ),
        (
            "/api/chat",
            json!({"model": "a", "messages": [{"role": "user", "content": "x", "images": ["AAAA"]}]}),
            "messages",
        ),
        ("/api/generate", json!({"model": "a", "prompt": "x", "images": ["AAAA"]}), "images"),
        ("/completion", json!({"prompt": "x", "stop": vec!["s"; 65]}), "stop"),
        ("/v1/completions", json!({"model": "a", "prompt": "x", "stop": "s".repeat(1025)}), "stop"),
        (
            "/api/generate",
            json!({"model": "a", "prompt": "x", "options": {"stop": vec!["s"; 65]}}),
            "options",
        ),
        ("/v1/completions", json!({"model": "a", "prompt": "x", "suffix": "y"}), "suffix"),
        ("/v1/completions", json!({"model": "a", "prompt": "x", "best_of": 3}), "best_of"),
        ("/v1/completions", json!({"model": "a", "prompt": "x", "echo": true, "logprobs": 1}), "echo"),
        ("/detokenize", json!({"tokens": [-1]}), "tokens"),
        ("/detokenize", json!({"tokens": [257]}), "tokens"),
        ("/apply-template", json!({"messages": []}), "messages"),
        ("/apply-template", json!({"messages": [{"content": "no role"}]}), "messages"),
        (
            "/apply-template",
            json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web"}]}),
            "tools",
        ),
    ] {
        let (s, v) = call(&a, "POST", path, Some(body.clone()), None).await;
        assert_eq!((s, v["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some(param)), "{body}: {v}");
    }
    let (s, _) = call(&a, "POST", "/completion", Some(json!({"prompt": "x", "model": "nope"})), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&a, "POST", "/tokenize", Some(json!({"text": "x"})), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// Clients that send every field, unset ones as `null`, are answered as if the fields were
/// absent, on every API.
#[tokio::test]
async fn null_fields_read_as_absent() {
    let a = app(ServerConfig::default());
    let openai_nulls = json!({"model": "a", "messages": [{"role": "user", "content": "hi"}], "max_tokens": null,
        "temperature": null, "top_p": null, "n": null, "stop": null, "presence_penalty": null,
        "frequency_penalty": null, "logit_bias": null, "user": null, "seed": null, "tools": null,
        "tool_choice": null, "response_format": null, "stream": null, "logprobs": null,
        "top_logprobs": null, "max_completion_tokens": null, "top_k": null, "grammar": null});
    let (s, v) = call(&a, "POST", "/v1/chat/completions", Some(openai_nulls), None).await;
    assert_eq!(
        (s, v["choices"][0]["message"]["content"].as_str()),
        (StatusCode::OK, Some("answer from a")),
        "{v}"
    );
    let (s, v) = call(
        &a,
        "POST",
        "/v1/completions",
        Some(json!({"model": "a", "prompt": "hi", "stream": null, "logprobs": null, "echo": null})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &a,
        "POST",
        "/api/chat",
        Some(json!({"model": "a", "messages": [{"role": "user", "content": "hi"}], "stream": false,
                    "options": null, "format": null, "keep_alive": null, "tools": null})),
        None,
    )
    .await;
    assert_eq!((s, v["message"]["content"].as_str()), (StatusCode::OK, Some("answer from a")), "{v}");
    let (s, v) = call(
        &a,
        "POST",
        "/api/generate",
        Some(json!({"model": "a", "prompt": "hi", "stream": false, "raw": null, "system": null, "options": null})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = call(
        &a,
        "POST",
        "/completion",
        Some(json!({"prompt": "hi", "stream": null, "stop": null, "n_predict": null, "grammar": null,
                    "json_schema": null, "logit_bias": null, "seed": null})),
        None,
    )
    .await;
    assert_eq!((s, v["content"].as_str()), (StatusCode::OK, Some("answer from a")), "{v}");
    let (s, v) = call(
        &a,
        "POST",
        "/tokenize",
        Some(json!({"content": "hi", "add_special": null, "with_pieces": null})),
        None,
    )
    .await;
    assert_eq!((s, v), (StatusCode::OK, json!({"tokens": [105, 106]})));
    let (s, v) = call(
        &a,
        "POST",
        "/sage/observations",
        Some(json!({"observations": [{"source": "op", "text": "hello"}], "crisis": null})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// `echo` gives the prompt back before the completion, whole and streamed.
#[tokio::test]
async fn a_completion_echoes_its_prompt_when_asked() {
    let a = app(ServerConfig::default());
    let body = json!({"model": "a", "prompt": "Battery? ", "max_tokens": 64, "echo": true, "best_of": 1, "suffix": ""});
    let (s, v) = call(&a, "POST", "/v1/completions", Some(body.clone()), None).await;
    assert_eq!(
        (s, v["choices"][0]["text"].as_str()),
        (StatusCode::OK, Some("Battery? answer from a")),
        "{v}"
    );
    let mut streamed = body;
    streamed["stream"] = json!(true);
    let req = Request::builder()
        .method("POST")
        .uri("/v1/completions")
        .body(Body::from(streamed.to_string()))
        .unwrap();
    let resp = routes(a).oneshot(req).await.unwrap();
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let joined: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"].as_str().map(str::to_string)
        })
        .collect();
    assert_eq!(joined, "Battery? answer from a");
}
