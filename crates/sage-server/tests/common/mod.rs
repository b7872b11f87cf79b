#![allow(clippy::unwrap_used, dead_code)]

//! A server over scripted models (test doubles) and a way to call it, for the API tests.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use sage_kernel::Kernel;
use sage_runtime::driver::{kernel_config, LlmDriver};
use sage_runtime::route::Router;
use sage_runtime::scripted::{Script, ScriptedLoader};
use sage_runtime::{ManualClock, Residency, Zoo};
use sage_server::{routes, App, KernelHost, ServerConfig};

pub const ZOO: &str = r#"
[[model]]
id = "a"
engine = "gguf"
path = "a.gguf"
role = "primary"
context = 2048
expected_mib = 100
quality = { "text.question" = 0.8, "text.chat" = 0.7, "text.alert" = 0.8 }
[[model]]
id = "narrow"
engine = "gguf"
path = "narrow.gguf"
context = 64
expected_mib = 100
quality = { "text.question" = 0.1 }
[[model]]
id = "chatty"
engine = "gguf"
path = "chatty.gguf"
context = 2048
expected_mib = 100
quality = { "text.chat" = 0.1 }
"#;

pub fn app(config: ServerConfig) -> Arc<App> {
    app_with(config, |_| {})
}

/// A server whose scripted loader `prepare` sets up (failures) before warm-up.
pub fn app_with(config: ServerConfig, prepare: impl FnOnce(&Arc<ScriptedLoader>)) -> Arc<App> {
    build(config, prepare).0
}

/// A server over scripted models, and its clock.
pub fn build(
    config: ServerConfig,
    prepare: impl FnOnce(&Arc<ScriptedLoader>),
) -> (Arc<App>, Arc<ManualClock>) {
    let specs = Zoo::parse(ZOO, "test zoo", std::path::Path::new(".")).unwrap().models;
    let scripts = vec![
        Script { context: 2048, ..Script::new("a", 0.8) },
        Script { context: 64, ..Script::new("narrow", 0.8) },
        Script { context: 2048, reply: "word ".repeat(400), ..Script::new("chatty", 0.8) },
    ];
    let loader = Arc::new(ScriptedLoader::new(scripts, Duration::ZERO));
    prepare(&loader);
    let clock = Arc::new(ManualClock::default());
    let residency = Residency::new(&specs, 1 << 30, loader, clock.clone());
    let router = Router::new(specs.clone(), residency.clone(), clock.clone(), 1);
    let kernel = Kernel::new(kernel_config(&specs, 1 << 30, &residency)).unwrap();
    let driver = LlmDriver::new(specs, residency.clone(), None, None, clock.clone());
    let app = App::new(router, residency, None, KernelHost::new(kernel, driver), clock.clone(), config);
    app.warm_up();
    (app, clock)
}

pub async fn call(
    app: &Arc<App>,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        b = b.header("authorization", format!("Bearer {k}"));
    }
    let req = b
        .header("content-type", "application/json")
        .body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
        .unwrap();
    let resp = routes(app.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, v)
}

/// A streamed answer of named events (`event:` then `data:`): each event's name and its JSON,
/// after checking that the stream is OK and that every event is named.
pub async fn named_events(app: &Arc<App>, path: &str, body: &serde_json::Value) -> (Vec<String>, Vec<Value>) {
    let req = Request::builder().method("POST").uri(path).body(Body::from(body.to_string())).unwrap();
    let resp = routes(app.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let names: Vec<String> =
        text.lines().filter_map(|l| l.strip_prefix("event: ")).map(str::to_string).collect();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(names.len(), events.len(), "every event is named");
    (names, events)
}
