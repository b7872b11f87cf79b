//! `sage serve`: the OpenAI-compatible API, the SAGE API and operations endpoints, over the
//! runtime.
//!
//! - `POST /v1/chat/completions`, `POST /v1/completions` (both also streaming, as server-sent
//!   events), `GET /v1/models`: `model` names a zoo model or `sage` (the router chooses; the
//!   response's `sage` field says which model answered and why).
//! - `POST /sage/observations` (one or a batch; one kernel tick), `GET /sage/state`,
//!   `GET /sage/events` (ticks as server-sent events), `POST /sage/models/{id}/pin|unpin|unload`.
//! - `GET /`: the live dashboard (state and ATP over time, salience, resident models and the
//!   memory budget, trust, the last routing decisions with their factors, a chat box).
//! - `GET /health` (liveness), `GET /ready` (503 until the keep-hot models are loaded),
//!   `GET /metrics` (Prometheus).
//!
//! Generation runs on blocking threads; a bounded queue answers 429 when full; a client that
//! disconnects stops its generation at the next token. Only this crate knows HTTP.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use tokio::sync::{broadcast, Semaphore};

use sage_kernel::{Driver, Kernel, Observation, TickReport};
use sage_runtime::driver::LlmDriver;
use sage_runtime::route::Router;
use sage_runtime::{Clock, ModelSpec, Residency};
use sage_store::Store;

mod error;
mod metrics;
mod openai;
mod sage_api;

pub use error::ApiError;
pub use metrics::Metrics;

/// Settings of the server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Accepted API keys (`Authorization: Bearer KEY`); empty means no key is needed.
    pub api_keys: Vec<String>,
    /// Requests generating at once (match the engine's `parallel` sequences: more would only
    /// wait inside the engine, fewer would leave sequences of the batch unused).
    pub max_running: usize,
    /// Requests waiting for a slot before new ones get 429.
    pub max_waiting: usize,
    /// `max_tokens` when a request gives none.
    pub default_max_tokens: u32,
    /// Tick reports kept for `/sage/state`.
    pub recent_ticks: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { api_keys: vec![], max_running: 4, max_waiting: 16, default_max_tokens: 256, recent_ticks: 32 }
    }
}

/// The kernel and its driver, ticked by pushed observations.
pub struct KernelHost {
    kernel: Kernel,
    driver: LlmDriver,
    index: u64,
    recent: VecDeque<TickReport>,
}

impl KernelHost {
    /// A host for `kernel` driven by `driver`.
    pub fn new(kernel: Kernel, driver: LlmDriver) -> Self {
        Self { kernel, driver, index: 0, recent: VecDeque::new() }
    }

    fn tick(&mut self, now: f64, observations: &[Observation], crisis: bool, keep: usize) -> TickReport {
        self.driver.before_tick(&mut self.kernel, self.index, now);
        let r = self.kernel.tick_with(now, observations, crisis, &mut self.driver);
        self.driver.after_tick(&r, observations);
        self.index += 1;
        self.recent.push_back(r.clone());
        while self.recent.len() > keep {
            self.recent.pop_front();
        }
        r
    }
}

/// Everything the handlers share.
pub struct App {
    router: Mutex<Router>,
    specs: Vec<ModelSpec>,
    residency: Arc<Residency>,
    store: Option<Mutex<Store>>,
    kernel: Mutex<KernelHost>,
    clock: Arc<dyn Clock>,
    config: ServerConfig,
    slots: Arc<Semaphore>,
    ready: AtomicBool,
    events: broadcast::Sender<String>,
    views: Mutex<Views>,
    /// Metrics.
    pub metrics: Metrics,
}

impl App {
    /// The shared state of a server.
    pub fn new(
        router: Router,
        residency: Arc<Residency>,
        store: Option<Store>,
        kernel: KernelHost,
        clock: Arc<dyn Clock>,
        config: ServerConfig,
    ) -> Arc<Self> {
        let specs = router.models().to_vec();
        let (events, _) = broadcast::channel(256);
        Arc::new(Self {
            router: Mutex::new(router),
            specs,
            residency,
            store: store.map(Mutex::new),
            kernel: Mutex::new(kernel),
            clock,
            slots: Arc::new(Semaphore::new(config.max_running.max(1))),
            config,
            ready: AtomicBool::new(false),
            events,
            views: Mutex::new(Views::default()),
            metrics: Metrics::default(),
        })
    }

    /// Load the models the kernel's current state keeps hot, then report ready.
    pub fn warm_up(&self) {
        let k = lock(&self.kernel);
        let wanted: Vec<String> = k.kernel.resident().into_iter().map(str::to_string).collect();
        for id in wanted.iter().filter(|id| self.specs.iter().any(|s| &s.id == *id)) {
            if let Err(e) = self.residency.acquire(id, "kept hot at start") {
                tracing::warn!(model = %id, error = %e, "could not preload");
            }
        }
        drop(k);
        self.metrics.residency(&self.residency.take_log());
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Whether `/ready` says yes.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// The last views of the kernel and the router, for readers that must not wait while a tick
/// or a generation holds them (the dashboard polls every second).
#[derive(Default)]
struct Views {
    kernel: serde_json::Value,
    recent: serde_json::Value,
    state: Option<sage_kernel::State>,
    atp_level: f64,
    atp: f64,
    router_trust: serde_json::Value,
}

/// The kernel's state, trust and recent ticks: fresh if the kernel is free, else as last seen.
pub(crate) fn kernel_view(app: &App) -> (serde_json::Value, serde_json::Value) {
    if let Ok(k) = app.kernel.try_lock() {
        let mut trust = serde_json::Map::new();
        for (class, id, _) in k.kernel.trust().entries() {
            let e = trust.entry(class.to_string()).or_insert_with(|| serde_json::json!({}));
            e[k.kernel.expert_name(id)] = serde_json::json!(k.kernel.trust().trust(id, class));
        }
        let kernel = serde_json::json!({
            "state": k.kernel.state(),
            "atp": k.kernel.ledger().balance(),
            "atp_max": k.kernel.ledger().max(),
            "ticks": k.kernel.ticks(),
            "trust": trust,
            "policy": k.kernel.policy(),
            "experts": k.kernel.config().experts.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
        });
        let recent = serde_json::to_value(k.recent.iter().collect::<Vec<_>>()).unwrap_or_default();
        let mut v = lock(&app.views);
        v.state = Some(k.kernel.state());
        v.atp = k.kernel.ledger().balance();
        v.atp_level = v.atp / k.kernel.ledger().max().max(1e-9);
        v.kernel = kernel;
        v.recent = recent;
    }
    let v = lock(&app.views);
    let mut kernel = v.kernel.clone();
    if kernel.is_null() {
        kernel = serde_json::json!({"state": "WAKE", "atp": 0.0, "atp_max": 100.0, "ticks": 0, "trust": {}, "busy": true});
    }
    (kernel, if v.recent.is_null() { serde_json::json!([]) } else { v.recent.clone() })
}

/// `(state, ATP, ATP as a share of its maximum)`, as fresh as the kernel allows.
pub(crate) fn state_view(app: &App) -> (sage_kernel::State, f64, f64) {
    kernel_view(app);
    let v = lock(&app.views);
    match v.state {
        Some(s) => (s, v.atp, v.atp_level),
        None => (sage_kernel::State::Wake, 0.0, 1.0),
    }
}

/// The router's trust table: fresh if no generation holds the router, else as last seen.
pub(crate) fn router_trust_view(app: &App) -> serde_json::Value {
    if let Ok(r) = app.router.try_lock() {
        let mut t = serde_json::Map::new();
        for (class, id, _) in r.trust().entries() {
            let e = t.entry(class.to_string()).or_insert_with(|| serde_json::json!({}));
            e[&r.models()[id as usize].id] = serde_json::json!(r.trust().trust(id, class));
        }
        lock(&app.views).router_trust = serde_json::Value::Object(t);
    }
    let v = lock(&app.views).router_trust.clone();
    if v.is_null() {
        serde_json::json!({})
    } else {
        v
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The live dashboard (one self-contained page; its data comes from the guarded SAGE API).
const DASHBOARD: &str = include_str!("dashboard.html");

/// The HTTP routes.
pub fn routes(app: Arc<App>) -> axum::Router {
    let open = axum::Router::new()
        .route("/", get(|| async { axum::response::Html(DASHBOARD) }))
        .route("/health", get(|| async { Json(serde_json::json!({"status": "ok"})) }))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics));
    let guarded = axum::Router::new()
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat))
        .route("/v1/completions", post(openai::completions))
        .route("/sage/observations", post(sage_api::observations))
        .route("/sage/state", get(sage_api::state))
        .route("/sage/events", get(sage_api::events))
        .route("/sage/models/{id}/{action}", post(sage_api::model_action))
        .layer(axum::middleware::from_fn_with_state(app.clone(), auth));
    open.merge(guarded).with_state(app)
}

async fn auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if app.config.api_keys.is_empty() {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        None => ApiError::unauthorized("missing API key: send Authorization: Bearer KEY").into_response(),
        Some(k) if app.config.api_keys.iter().any(|a| a == k) => next.run(req).await,
        Some(_) => ApiError::unauthorized("wrong API key").into_response(),
    }
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.is_ready() {
        Json(serde_json::json!({"status": "ready"})).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "loading"}))).into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    app.metrics.residency(&app.residency.take_log());
    let (state, atp, _) = state_view(&app);
    let engines = app.residency.engine_stats();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(&state.to_string(), atp, &engines),
    )
        .into_response()
}

/// A slot in the bounded queue.
pub(crate) struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    app: Arc<App>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.app.metrics.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Wait for a generation slot, or 429 when the queue is full.
pub(crate) async fn admit(app: &Arc<App>) -> Result<Slot, ApiError> {
    let waiting = app.metrics.waiting.fetch_add(1, Ordering::SeqCst) as usize;
    let running = app.metrics.running.load(Ordering::SeqCst) as usize;
    if waiting >= app.config.max_waiting && running >= app.config.max_running {
        app.metrics.waiting.fetch_sub(1, Ordering::SeqCst);
        app.metrics.rejected.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::busy(running, waiting));
    }
    let permit = app.slots.clone().acquire_owned().await;
    app.metrics.waiting.fetch_sub(1, Ordering::SeqCst);
    let permit = permit.map_err(|_| ApiError::unavailable("the server is shutting down"))?;
    app.metrics.running.fetch_add(1, Ordering::SeqCst);
    Ok(Slot { _permit: permit, app: app.clone() })
}

/// Serve `routes(app)` on `listener` until `shutdown` resolves; in-flight requests finish.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let r = axum::serve(listener, routes(app.clone())).with_graceful_shutdown(shutdown).await;
    // Whatever the kernel learned is kept.
    let k = lock(&app.kernel);
    let now = app.clock.now();
    if let Err(e) = k.driver.save_trust(&k.kernel, now) {
        tracing::warn!(error = %e, "saving trust at shutdown failed");
    }
    // What the router learned from requests, last: it is the fresher view of the models.
    if let Some(store) = &app.store {
        let rows = lock(&app.router).trust_rows(now);
        if let Err(e) = lock(store).save_trust(&rows) {
            tracing::warn!(error = %e, "saving the router's trust at shutdown failed");
        }
    }
    r
}
