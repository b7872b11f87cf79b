//! The SAGE API: push observations, read the kernel's state, follow its ticks, manage residency.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;

use sage_kernel::{Observation, Payload};

use crate::{lock, ApiError, App};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireObservation {
    source: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    values: Option<Vec<f64>>,
    #[serde(default)]
    semantic: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Batch {
    One(WireObservation),
    Many(Vec<WireObservation>),
    Wrapped {
        observations: Vec<WireObservation>,
        #[serde(default, deserialize_with = "crate::nullable")]
        crisis: bool,
    },
}

/// Values one sensor reading may carry (the kernel keeps a window of recent readings per
/// sensor, so this bounds what one sensor can make it hold).
const MAX_VALUES: usize = 4096;

/// `POST /sage/observations`: one observation, an array, or `{"observations": [...], "crisis":
/// bool}`; the kernel ticks once with them and the report is returned (and broadcast).
pub(crate) async fn observations(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let parsed: Result<Batch, ApiError> = std::str::from_utf8(&body)
        .map_err(|e| ApiError::invalid(format!("the body is not UTF-8: {e}"), None))
        .and_then(|t| {
            serde_json::from_str(t)
                .map_err(|e| ApiError::invalid(format!("not an observation or a batch: {e}"), None))
        });
    let (wire, crisis) = match parsed {
        Ok(Batch::One(o)) => (vec![o], false),
        Ok(Batch::Many(v)) => (v, false),
        Ok(Batch::Wrapped { observations, crisis }) => (observations, crisis),
        Err(e) => return e.into_response(),
    };
    if wire.len() > app.config.max_observations {
        return ApiError::invalid(
            format!(
                "{} observations in one request; at most {} (send the rest in further requests)",
                wire.len(),
                app.config.max_observations
            ),
            Some("observations"),
        )
        .into_response();
    }
    let mut obs = Vec::with_capacity(wire.len());
    for (i, w) in wire.into_iter().enumerate() {
        let payload = match (w.text, w.values) {
            (Some(t), None) => Payload::Text(t),
            (None, Some(v)) if v.len() > MAX_VALUES => {
                return ApiError::invalid(
                    format!("observation {i}: {} values; at most {MAX_VALUES} per reading", v.len()),
                    Some("observations"),
                )
                .into_response()
            }
            (None, Some(v)) => Payload::Sensor(v),
            _ => {
                return ApiError::invalid(
                    format!("observation {i}: give either text or values"),
                    Some("observations"),
                )
                .into_response()
            }
        };
        obs.push(Observation { source: w.source, payload, semantic: w.semantic });
    }
    // A real-time kernel ticks on its own: the observations wait in its inbox for the next tick.
    if let crate::KernelSide::Live(live) = &app.kernel {
        return to_inbox(live, obs, crisis);
    }
    // A text may be scored and answered by a model: such a tick waits in the generation queue
    // like any request (429 when it is full); sensor readings alone tick at once.
    let slot = if obs.iter().any(|o| matches!(o.payload, Payload::Text(_))) {
        match crate::admit(&app).await {
            Ok(s) => Some(s),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    let app2 = app.clone();
    let report = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let now = app2.clock.now();
        let keep = app2.config.recent_ticks;
        let crate::KernelSide::Host(host) = &app2.kernel else {
            return None;
        };
        let r = lock(host).tick(now, &obs, crisis, keep);
        app2.metrics.residency(&app2.residency.take_log());
        Some(r)
    })
    .await;
    match report {
        Ok(None) => ApiError::internal("no kernel to tick".to_string()).into_response(),
        Ok(Some(r)) => {
            let v = serde_json::to_value(&r).unwrap_or_default();
            let _ = app.events.send(json!({"type": "tick", "report": v}).to_string());
            Json(v).into_response()
        }
        Err(e) => ApiError::internal(format!("the tick failed: {e}")).into_response(),
    }
}

/// Observations into a real-time kernel's inbox: 202 with what happened to each (a sensor
/// reading may replace one the kernel has not seen yet), or 429 when every one was refused.
fn to_inbox(live: &sage_runtime::live::LiveKernel, obs: Vec<Observation>, crisis: bool) -> Response {
    use sage_runtime::live::Admission;
    if crisis {
        live.inbox().crisis();
    }
    let n = obs.len();
    let mut outcomes = Vec::with_capacity(n);
    let mut refused = 0;
    for o in obs {
        outcomes.push(match live.inbox().push(o) {
            Admission::Queued => json!({"outcome": "queued"}),
            Admission::Coalesced => json!({"outcome": "coalesced"}),
            Admission::Refused(why) => {
                refused += 1;
                json!({"outcome": "refused", "why": why})
            }
        });
    }
    let status = if n > 0 && refused == n {
        axum::http::StatusCode::TOO_MANY_REQUESTS
    } else {
        axum::http::StatusCode::ACCEPTED
    };
    (status, Json(json!({"accepted": n - refused, "crisis": crisis, "observations": outcomes})))
        .into_response()
}

/// `GET /sage/state`.
pub(crate) async fn state(State(app): State<Arc<App>>) -> Response {
    let (kernel, recent) = crate::kernel_view(&app);
    let router_trust = crate::router_trust_view(&app);
    Json(json!({
        "kernel": kernel,
        "models": {
            "budget_bytes": app.residency.budget(),
            "resident": app.residency.resident(),
            "engines": app.residency.engine_stats().into_iter()
                .map(|(model, s)| json!({"model": model, "stats": s}))
                .collect::<Vec<_>>(),
            "trust": router_trust,
        },
        "recent": recent,
        "ready": app.is_ready(),
    }))
    .into_response()
}

/// `GET /sage/events`: every tick as a server-sent event.
pub(crate) async fn events(State(app): State<Arc<App>>) -> Response {
    let rx = app.events.subscribe();
    let mut closing = app.closing.subscribe();
    let s = BroadcastStream::new(rx)
        .filter_map(|m| async move { m.ok().map(|d| Ok::<_, Infallible>(SseEvent::default().data(d))) })
        // The stream ends when the server shuts down (it would otherwise hold the shutdown).
        .take_until(async move {
            let _ = closing.wait_for(|c| *c).await;
        });
    Sse::new(s).keep_alive(KeepAlive::default()).into_response()
}

/// `POST /sage/models/{id}/pin|unpin|unload`.
pub(crate) async fn model_action(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let r = match action.as_str() {
        "pin" => app.residency.set_pinned(&id, true).map(|_| json!({"model": id, "pinned": true})),
        "unpin" => app.residency.set_pinned(&id, false).map(|_| json!({"model": id, "pinned": false})),
        "unload" => app
            .residency
            .unload(&id, "unloaded through the API")
            .map(|was| json!({"model": id, "unloaded": was})),
        other => {
            return ApiError::invalid(format!("unknown action {other}: pin, unpin or unload"), None)
                .into_response()
        }
    };
    app.metrics.residency(&app.residency.take_log());
    match r {
        Ok(v) => Json(v).into_response(),
        Err(sage_runtime::ResidencyError::Unknown { .. }) => ApiError::unknown_model(&id).into_response(),
        Err(e) => {
            ApiError { status: axum::http::StatusCode::CONFLICT, ..ApiError::invalid(e.to_string(), None) }
                .into_response()
        }
    }
}
