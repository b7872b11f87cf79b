#![allow(clippy::unwrap_used)]

//! Anthropic's Messages API over scripted models (test doubles): its shapes, stream events and
//! errors. The official client drives it on the real model in the CLI's tests.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use sage_server::{routes, ServerConfig};

mod common;
use common::{app, call, named_events};

fn ask(model: &str) -> Value {
    json!({"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": "What is the battery level?"}]})
}

#[tokio::test]
async fn a_message_has_its_blocks_stop_reason_usage_and_routing_record() {
    let a = app(ServerConfig::default());
    let mut body = ask("sage");
    body["system"] = json!([{"type": "text", "text": "Be brief."}]);
    let (s, v) = call(&a, "POST", "/v1/messages", Some(body), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["type"].as_str(), v["role"].as_str()), (Some("message"), Some("assistant")));
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["content"], json!([{"type": "text", "text": "answer from a"}]));
    assert_eq!((v["stop_reason"].as_str(), v["stop_sequence"].as_str()), (Some("end_turn"), None));
    assert_eq!(v["usage"]["output_tokens"], 13);
    assert_eq!((v["model"].as_str(), v["sage"]["model"].as_str()), (Some("a"), Some("a")));
    let mut stop = ask("a");
    stop["stop_sequences"] = json!(["from"]);
    let (_, v) = call(&a, "POST", "/v1/messages", Some(stop), None).await;
    assert_eq!(
        (v["stop_reason"].as_str(), v["stop_sequence"].as_str()),
        (Some("stop_sequence"), Some("from")),
        "{v}"
    );
    let mut short = ask("a");
    short["max_tokens"] = json!(2);
    let (_, v) = call(&a, "POST", "/v1/messages", Some(short), None).await;
    assert_eq!(v["stop_reason"], "max_tokens", "{v}");
}

#[tokio::test]
async fn errors_are_anthropic_shaped_and_name_the_field() {
    let a = app(ServerConfig { api_keys: vec!["k1".into()], ..ServerConfig::default() });
    let key = |b: axum::http::request::Builder| b.header("x-api-key", "k1");
    let send = |body: Value, with_key: bool| {
        let a = a.clone();
        async move {
            let mut b = Request::builder()
                .method("POST")
                .uri("/v1/messages")
                .header("content-type", "application/json");
            if with_key {
                b = key(b);
            }
            let resp = routes(a).oneshot(b.body(Body::from(body.to_string())).unwrap()).await.unwrap();
            let status = resp.status();
            let v: Value =
                serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
            (status, v)
        }
    };
    let (s, v) = send(ask("sage"), false).await;
    assert_eq!(
        (s, v["type"].as_str(), v["error"]["type"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("error"), Some("authentication_error"))
    );
    assert_eq!(send(ask("sage"), true).await.0, StatusCode::OK, "x-api-key is a key");
    let long = "word ".repeat(400);
    for (body, status, kind, word) in [
        (
            json!({"model": "sage", "messages": [{"role": "user", "content": "hi"}]}),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "max_tokens",
        ),
        (ask("claude-x"), StatusCode::NOT_FOUND, "not_found_error", "claude-x"),
        (
            json!({"model": "sage", "max_tokens": 8, "messages": []}),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "messages",
        ),
        (
            json!({"model": "sage", "max_tokens": 8, "messages": [{"role": "user", "content": [{"type": "document"}]}]}),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "document",
        ),
        (
            json!({"model": "sage", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], "tool_choice": {"type": "any"}}),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "tool_choice",
        ),
        (
            json!({"model": "narrow", "max_tokens": 8, "messages": [{"role": "user", "content": long}]}),
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "narrow",
        ),
        (json!("not an object"), StatusCode::BAD_REQUEST, "invalid_request_error", "body"),
    ] {
        let (s, v) = send(body.clone(), true).await;
        assert_eq!((s, v["error"]["type"].as_str()), (status, Some(kind)), "{body} -> {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(word), "{body} -> {v}");
    }
}

#[tokio::test]
async fn a_stream_is_named_events_from_message_start_to_message_stop() {
    let a = app(ServerConfig::default());
    let mut body = ask("sage");
    body["stream"] = json!(true);
    let (names, events) = named_events(&a, "/v1/messages", &body).await;
    for (name, e) in names.iter().zip(&events) {
        assert_eq!(e["type"].as_str(), Some(name.as_str()));
    }
    assert_eq!(names[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(names[names.len() - 3..], ["content_block_stop", "message_delta", "message_stop"]);
    let deltas: String = events.iter().filter_map(|e| e["delta"]["text"].as_str()).collect();
    assert_eq!(deltas, "answer from a");
    let delta = &events[events.len() - 2];
    assert_eq!(
        (delta["delta"]["stop_reason"].as_str(), delta["usage"]["output_tokens"].as_u64()),
        (Some("end_turn"), Some(13))
    );
}
