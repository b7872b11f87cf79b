#![allow(clippy::unwrap_used)]

//! OpenAI's Responses API over scripted models (test doubles): its shapes, chains, stream
//! events and errors. The official client drives it on the real model in the CLI's tests.

use axum::http::StatusCode;
use serde_json::json;

use sage_server::ServerConfig;

mod common;
use common::{app, call, named_events};

#[tokio::test]
async fn a_response_has_its_output_usage_and_routing_record_and_is_kept() {
    let a = app(ServerConfig::default());
    let body = json!({"model": "sage", "input": "What is the battery level?", "instructions": "Be brief.",
                      "metadata": {"robot": "r2"}, "temperature": 0.8});
    let (s, v) = call(&a, "POST", "/v1/responses", Some(body), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["object"].as_str(), v["status"].as_str()), (Some("response"), Some("completed")));
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(
        v["output"][0]["content"][0],
        json!({"type": "output_text", "text": "answer from a", "annotations": [], "logprobs": []})
    );
    assert_eq!(v["usage"]["output_tokens"], 13);
    assert_eq!(v["model"], "a");
    assert_eq!(v["sage"]["model"], "a");
    assert_eq!((v["instructions"].as_str(), v["temperature"].as_f64()), (Some("Be brief."), Some(0.8)));
    assert_eq!(v["metadata"]["robot"], "r2");
    let id = v["id"].as_str().unwrap().to_string();
    // Kept: retrieved as it was, chained on, deleted.
    let (s, got) = call(&a, "GET", &format!("/v1/responses/{id}"), None, None).await;
    assert_eq!((s, &got), (StatusCode::OK, &v));
    let next = json!({"model": "a", "input": [{"role": "user", "content": [{"type": "input_text", "text": "And now?"}]}],
                      "previous_response_id": id});
    let (s, w) = call(&a, "POST", "/v1/responses", Some(next), None).await;
    assert_eq!(s, StatusCode::OK, "{w}");
    assert_eq!(w["previous_response_id"], v["id"]);
    assert!(
        w["usage"]["input_tokens"].as_u64() > v["usage"]["input_tokens"].as_u64(),
        "the history went along: {w}"
    );
    let (s, d) = call(&a, "DELETE", &format!("/v1/responses/{id}"), None, None).await;
    assert_eq!((s, d["deleted"].as_bool()), (StatusCode::OK, Some(true)));
    let (s, e) = call(&a, "GET", &format!("/v1/responses/{id}"), None, None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("response_not_found")));
    let (_, m) = call(&a, "GET", "/metrics", None, None).await;
    assert!(m.as_str().unwrap().contains("sage:responses_stored 1\n"), "{m}");
}

#[tokio::test]
async fn bad_requests_are_refused_by_name() {
    let a = app(ServerConfig::default());
    let long = "word ".repeat(400);
    for (body, status, param) in [
        (json!({"model": "sage"}), StatusCode::BAD_REQUEST, "input"),
        (json!({"model": "sage", "input": 3}), StatusCode::BAD_REQUEST, "input"),
        (json!({"model": "gpt-9", "input": "hi"}), StatusCode::NOT_FOUND, "model"),
        (
            json!({"model": "sage", "input": "hi", "previous_response_id": "resp_0"}),
            StatusCode::NOT_FOUND,
            "previous_response_id",
        ),
        (json!({"model": "sage", "input": "hi", "background": true}), StatusCode::BAD_REQUEST, "background"),
        (
            json!({"model": "sage", "input": "hi", "text": {"format": {"type": "json_schema"}}}),
            StatusCode::BAD_REQUEST,
            "text.format",
        ),
        (
            json!({"model": "sage", "input": "hi", "tools": [{"type": "file_search"}]}),
            StatusCode::BAD_REQUEST,
            "tools",
        ),
        (
            json!({"model": "sage", "input": "hi", "tool_choice": "required"}),
            StatusCode::BAD_REQUEST,
            "tool_choice",
        ),
        (json!({"model": "sage", "input": "hi", "temperature": 9}), StatusCode::BAD_REQUEST, "temperature"),
        (json!({"model": "narrow", "input": long}), StatusCode::BAD_REQUEST, "messages"),
    ] {
        let (s, v) = call(&a, "POST", "/v1/responses", Some(body.clone()), None).await;
        assert_eq!((s, v["error"]["param"].as_str()), (status, Some(param)), "{body} -> {v}");
    }
    let (_, v) =
        call(&a, "POST", "/v1/responses", Some(json!({"model": "narrow", "input": long})), None).await;
    assert_eq!(v["error"]["code"], "context_length_exceeded");
}

#[tokio::test]
async fn a_stream_is_numbered_named_events_ending_in_the_completed_response() {
    let a = app(ServerConfig::default());
    let body = json!({"model": "sage", "input": "What is the battery level?", "stream": true});
    let (names, events) = named_events(&a, "/v1/responses", &body).await;
    for (i, (name, e)) in names.iter().zip(&events).enumerate() {
        assert_eq!(
            (e["type"].as_str(), e["sequence_number"].as_u64()),
            (Some(name.as_str()), Some(i as u64))
        );
    }
    assert_eq!(
        names[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    let deltas: String = events.iter().filter_map(|e| e["delta"].as_str()).collect();
    assert_eq!(deltas, "answer from a");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed");
    assert_eq!(last["response"]["output"][0]["content"][0]["text"], "answer from a");
    assert_eq!(last["response"]["usage"]["output_tokens"], 13);
    // The streamed response is kept as a whole one is.
    let id = last["response"]["id"].as_str().unwrap();
    let (s, got) = call(&a, "GET", &format!("/v1/responses/{id}"), None, None).await;
    assert_eq!((s, &got), (StatusCode::OK, &last["response"]));
}
