//! `sage serve`: the OpenAI-compatible API, the SAGE API and operations endpoints, over the
//! runtime.
//!
//! - `POST /v1/chat/completions`, `POST /v1/completions` (both also streaming, as server-sent
//!   events), `GET /v1/models`: `model` names a zoo model or `sage` (the router chooses; the
//!   response's `sage` field says which model answered and why).
//! - `POST /sage/observations` (one or a batch; one kernel tick), `GET /sage/state`,
//!   `GET /sage/events` (ticks as server-sent events), `POST /sage/models/{id}/pin|unpin|unload`,
//!   `GET /sage/federation` (this node's peers, their capabilities and trust, refusals).
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

mod anthropic;
mod deltas;
mod embed;
mod error;
pub mod federation;
mod lazy;
mod listen;
mod llama_server;
mod metrics;
mod model_facts;
mod named_sse;
mod ollama;
mod openai;
mod run;
mod sage_api;
mod tools;

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
    /// Observations one `POST /sage/observations` may carry (each text may cost a model call).
    pub max_observations: usize,
    /// How long a connection may take to send a request's headers, or stay idle between
    /// requests, before it is closed.
    pub header_timeout: std::time::Duration,
    /// Connections open at once; more are closed as they come.
    pub max_connections: usize,
    /// How often idle models past their keep-alive are unloaded.
    pub expire_every: std::time::Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            api_keys: vec![],
            max_running: 4,
            max_waiting: 16,
            default_max_tokens: 256,
            recent_ticks: 32,
            max_observations: 64,
            header_timeout: std::time::Duration::from_secs(10),
            max_connections: 1024,
            expire_every: std::time::Duration::from_secs(5),
        }
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

/// How the server reaches the kernel.
pub enum KernelSide {
    /// Ticked by pushed observations (`sage serve`).
    Host(Box<Mutex<KernelHost>>),
    /// The real-time kernel, ticking on its own (`sage node`): pushed observations go to its
    /// inbox and are seen at its next tick.
    Live(Arc<sage_runtime::live::LiveKernel>),
}

/// Everything the handlers share.
pub struct App {
    router: Mutex<Router>,
    specs: Vec<ModelSpec>,
    /// What each local model's file says about itself (Ollama's `details` and `model_info`).
    facts: std::collections::BTreeMap<String, model_facts::ModelFacts>,
    residency: Arc<Residency>,
    store: Option<Mutex<Store>>,
    kernel: KernelSide,
    clock: Arc<dyn Clock>,
    config: ServerConfig,
    slots: Arc<Semaphore>,
    ready: AtomicBool,
    /// Why the server is not ready after warm-up: every model it had to load failed.
    unready: Mutex<Option<String>>,
    events: broadcast::Sender<String>,
    /// Set when the server starts shutting down: streams that never end (events) close.
    closing: tokio::sync::watch::Sender<bool>,
    views: Mutex<Views>,
    /// Recent responses of the Responses API (`previous_response_id`).
    responses: Mutex<openai::responses::ResponseStore>,
    /// The federation this node has joined, if any (`sage node --federation`).
    pub federation: std::sync::OnceLock<federation::Fed>,
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
        Self::with_side(
            router,
            residency,
            store,
            KernelSide::Host(Box::new(Mutex::new(kernel))),
            clock,
            config,
        )
    }

    /// The shared state of a server over a real-time kernel (`sage node`).
    pub fn new_live(
        router: Router,
        residency: Arc<Residency>,
        store: Option<Store>,
        live: Arc<sage_runtime::live::LiveKernel>,
        clock: Arc<dyn Clock>,
        config: ServerConfig,
    ) -> Arc<Self> {
        Self::with_side(router, residency, store, KernelSide::Live(live), clock, config)
    }

    fn with_side(
        router: Router,
        residency: Arc<Residency>,
        store: Option<Store>,
        kernel: KernelSide,
        clock: Arc<dyn Clock>,
        config: ServerConfig,
    ) -> Arc<Self> {
        let specs = router.models().to_vec();
        let facts = model_facts::read_all(specs.iter());
        let (events, _) = broadcast::channel(256);
        Arc::new(Self {
            router: Mutex::new(router),
            specs,
            facts,
            residency,
            store: store.map(Mutex::new),
            kernel,
            clock,
            slots: Arc::new(Semaphore::new(config.max_running.max(1))),
            config,
            ready: AtomicBool::new(false),
            unready: Mutex::new(None),
            events,
            closing: tokio::sync::watch::channel(false).0,
            views: Mutex::new(Views::default()),
            responses: Mutex::new(openai::responses::ResponseStore::default()),
            federation: std::sync::OnceLock::new(),
            metrics: Metrics::default(),
        })
    }

    /// Load the models the kernel's current state keeps hot, then report ready, unless every
    /// one of them failed to load (then `/ready` says why, until a model becomes resident).
    pub fn warm_up(&self) {
        let wanted: Vec<String> = match &self.kernel {
            KernelSide::Host(h) => lock(h).kernel.resident().into_iter().map(str::to_string).collect(),
            KernelSide::Live(l) => l.with_kernel(|k| k.resident().into_iter().map(str::to_string).collect()),
        };
        let mut failed = vec![];
        let mut loaded = 0;
        for id in wanted.iter().filter(|id| self.specs.iter().any(|s| &s.id == *id)) {
            match self.residency.acquire(id, "kept hot at start") {
                Ok(_) => loaded += 1,
                Err(e) => {
                    tracing::warn!(model = %id, error = %e, "could not preload");
                    failed.push(e.to_string());
                }
            }
        }
        self.metrics.residency(&self.residency.take_log());
        if loaded == 0 && !failed.is_empty() {
            *lock(&self.unready) = Some(format!("no model could be loaded: {}", failed.join("; ")));
        }
        self.ready.store(true, Ordering::SeqCst);
    }

    /// Unload the models idle past their keep-alive (a zoo's `keep_alive_s`, or an Ollama
    /// request's `keep_alive`) that the kernel's state does not keep hot. Returns how many went.
    /// `serve` calls it every [`ServerConfig::expire_every`].
    pub fn expire_idle(&self) -> usize {
        let n = self.residency.expire();
        self.metrics.residency(&self.residency.take_log());
        n
    }

    /// The channel every tick is broadcast on (`/sage/events`): a real-time kernel's outputs
    /// send its ticks here.
    pub fn events(&self) -> broadcast::Sender<String> {
        self.events.clone()
    }

    /// Whether `/ready` says yes: warmed up, with a model loaded or none needed.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.unready_reason().is_none()
    }

    /// Why the server is warmed up but not ready (None once any model is resident).
    fn unready_reason(&self) -> Option<String> {
        let mut why = lock(&self.unready);
        if why.is_some() && !self.residency.resident().is_empty() {
            *why = None;
        }
        why.clone()
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
    let fresh = match &app.kernel {
        KernelSide::Host(h) => h.try_lock().ok().map(|k| {
            let recent = serde_json::to_value(k.recent.iter().collect::<Vec<_>>()).unwrap_or_default();
            (kernel_json(&k.kernel), recent)
        }),
        KernelSide::Live(l) => {
            let mut kernel = l.with_kernel(kernel_json);
            kernel["live"] = serde_json::to_value(live_figures(&l.stats())).unwrap_or_default();
            Some((kernel, serde_json::to_value(l.recent()).unwrap_or_default()))
        }
    };
    if let Some((kernel, recent)) = fresh {
        let mut v = lock(&app.views);
        v.state = serde_json::from_value(kernel["state"].clone()).ok();
        v.atp = kernel["atp"].as_f64().unwrap_or(0.0);
        v.atp_level = v.atp / kernel["atp_max"].as_f64().unwrap_or(1.0).max(1e-9);
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

fn kernel_json(k: &Kernel) -> serde_json::Value {
    let mut trust = serde_json::Map::new();
    for (class, id, _) in k.trust().entries() {
        let e = trust.entry(class.to_string()).or_insert_with(|| serde_json::json!({}));
        e[k.expert_name(id)] = serde_json::json!(k.trust().trust(id, class));
    }
    serde_json::json!({
        "state": k.state(),
        "atp": k.ledger().balance(),
        "atp_max": k.ledger().max(),
        "reserved": k.ledger().reserved(),
        "running": k.running().len(),
        "ticks": k.ticks(),
        "trust": trust,
        "policy": k.policy(),
        "experts": k.config().experts.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
    })
}

/// The real-time loop's figures, for the state view and the metrics.
#[derive(serde::Serialize)]
pub(crate) struct LiveFigures {
    ticks: u64,
    overruns: u64,
    lateness_p50_s: f64,
    lateness_p99_s: f64,
    lateness_max_s: f64,
    work_p99_s: f64,
    jobs_dispatched: u64,
    jobs_completed: u64,
    jobs_cancelled: u64,
    cancel_p50_s: f64,
    cancel_p99_s: f64,
}

pub(crate) fn live_figures(s: &sage_runtime::live::LiveStats) -> LiveFigures {
    use sage_runtime::live::percentile;
    LiveFigures {
        ticks: s.ticks,
        overruns: s.overruns,
        lateness_p50_s: percentile(&s.lateness_s, 50.0),
        lateness_p99_s: percentile(&s.lateness_s, 99.0),
        lateness_max_s: percentile(&s.lateness_s, 100.0),
        work_p99_s: percentile(&s.work_s, 99.0),
        jobs_dispatched: s.jobs.0,
        jobs_completed: s.jobs.1,
        jobs_cancelled: s.jobs.2,
        cancel_p50_s: percentile(&s.cancel_s, 50.0),
        cancel_p99_s: percentile(&s.cancel_s, 99.0),
    }
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

/// A request field that may be given as `null` (clients that send every field, unset ones as
/// null): null reads as the field's default, as if it were absent.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    Ok(<Option<T> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// The live dashboard (one self-contained page; its data comes from the guarded SAGE API).
const DASHBOARD: &str = include_str!("dashboard.html");

/// `GET /health` (and llama-server's `/v1/health`): the process answers.
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// The HTTP routes.
pub fn routes(app: Arc<App>) -> axum::Router {
    let open = axum::Router::new()
        .route("/", get(|| async { axum::response::Html(DASHBOARD) }))
        .route("/health", get(health))
        .route("/v1/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics));
    let guarded = axum::Router::new()
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{id}", get(openai::model))
        .route("/v1/chat/completions", post(openai::chat))
        // llama-server's paths without `/v1`, for clients given its address without it.
        .route("/models", get(openai::models))
        .route("/chat/completions", post(openai::chat))
        .route("/completions", post(llama_server::completion))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/responses", post(openai::responses::create))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/responses/{id}", get(openai::responses::retrieve).delete(openai::responses::delete))
        .route("/api/embed", post(ollama::embed))
        .route("/api/embeddings", post(ollama::embeddings))
        .route("/api/chat", post(ollama::chat))
        .route("/api/generate", post(ollama::generate))
        .route("/api/tags", get(ollama::tags))
        .route("/api/ps", get(ollama::ps))
        .route("/api/show", post(ollama::show))
        .route("/api/version", get(ollama::version))
        .route("/api/pull", post(ollama::pull))
        .route("/completion", post(llama_server::completion))
        .route("/tokenize", post(llama_server::tokenize))
        .route("/detokenize", post(llama_server::detokenize))
        .route("/apply-template", post(llama_server::apply_template))
        .route("/props", get(llama_server::props))
        .route("/sage/observations", post(sage_api::observations))
        .route("/sage/state", get(sage_api::state))
        .route("/sage/federation", get(federation::view))
        .route("/sage/events", get(sage_api::events))
        .route("/sage/models/{id}/{action}", post(sage_api::model_action))
        .layer(axum::middleware::from_fn_with_state(app.clone(), auth));
    open.merge(guarded)
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::map_response(json_errors))
        .with_state(app)
}

async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        ..ApiError::invalid(format!("no route {method} {}", uri.path()), None)
    }
}

async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        ..ApiError::invalid(format!("{} does not take {method}", uri.path()), None)
    }
}

/// Every error in OpenAI's JSON shape, also those axum answers itself in plain text (a body
/// over the size limit, a missing content type): same status and headers, the text as message.
async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text =
        axum::body::to_bytes(body, 64 * 1024).await.map(|b| String::from_utf8_lossy(&b).trim().to_string());
    let message = match text {
        Ok(t) if !t.is_empty() => t,
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let kind = if status.is_server_error() { "server_error" } else { "invalid_request_error" };
    let mut out = ApiError { status, message, kind, param: None, code: None }.into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

async fn auth(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if app.config.api_keys.is_empty() {
        return next.run(req).await;
    }
    // Bearer (OpenAI's, Ollama's and llama-server's clients) or `x-api-key` (Anthropic's).
    let headers = req.headers();
    let given =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer).or_else(|| {
            headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty())
        });
    let refused = match given {
        None => ApiError::unauthorized("missing API key: send Authorization: Bearer KEY (or x-api-key: KEY)"),
        Some(k) if app.config.api_keys.iter().fold(false, |ok, a| ok | same_key(a, k)) => {
            return next.run(req).await
        }
        Some(_) => ApiError::unauthorized("wrong API key"),
    };
    if req.uri().path().starts_with("/v1/messages") {
        return anthropic::AnthropicError(refused).into_response();
    }
    refused.into_response()
}

/// The key of an `Authorization: Bearer KEY` header (the scheme is case-insensitive, RFC 9110).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim()).filter(|k| !k.is_empty())
}

/// Whether two keys are equal, in time that depends on their lengths only (a wrong key's
/// matching prefix cannot be found by timing).
fn same_key(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    if app.is_ready() {
        return Json(serde_json::json!({"status": "ready"})).into_response();
    }
    let body = match app.unready_reason() {
        Some(why) => serde_json::json!({"status": "unavailable", "reason": why}),
        None => serde_json::json!({"status": "loading"}),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    app.metrics.residency(&app.residency.take_log());
    let (state, atp, _) = state_view(&app);
    let engines = app.residency.engine_stats();
    let mut text = app.metrics.render(&state.to_string(), atp, &engines);
    if let KernelSide::Live(l) = &app.kernel {
        text.push_str(&metrics::render_live(&live_figures(&l.stats()), &l.inbox().counts()));
    }
    if let Some(f) = app.federation.get() {
        text.push_str(&federation::render_metrics(f));
    }
    let (kept, bytes) = lock(&app.responses).size();
    text.push_str(&format!(
        "# HELP sage:responses_stored Responses kept for previous_response_id (at most {}).\n\
         # TYPE sage:responses_stored gauge\nsage:responses_stored {kept}\n\
         # HELP sage:responses_stored_bytes What the kept responses hold.\n\
         # TYPE sage:responses_stored_bytes gauge\nsage:responses_stored_bytes {bytes}\n",
        openai::responses::MAX_STORED
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
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

/// Wait for a generation slot, or 429 when the queue is full. A caller that gives up while
/// waiting (its client disconnected, the future was dropped) leaves the queue.
pub(crate) async fn admit(app: &Arc<App>) -> Result<Slot, ApiError> {
    let waiting = app.metrics.waiting.fetch_add(1, Ordering::SeqCst) as usize;
    let queued = Waiting(app);
    let running = app.metrics.running.load(Ordering::SeqCst) as usize;
    if waiting >= app.config.max_waiting && running >= app.config.max_running {
        drop(queued);
        app.metrics.rejected.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::busy(running, waiting));
    }
    let permit = app.slots.clone().acquire_owned().await;
    drop(queued);
    let permit = permit.map_err(|_| ApiError::unavailable("the server is shutting down"))?;
    app.metrics.running.fetch_add(1, Ordering::SeqCst);
    Ok(Slot { _permit: permit, app: app.clone() })
}

/// A place in the queue, given back however the wait ends.
struct Waiting<'a>(&'a Arc<App>);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.metrics.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serve `routes(app)` on `listener` until `shutdown` resolves; in-flight requests finish.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (timeout, max) = (app.config.header_timeout, app.config.max_connections);
    let refused = app.metrics.connections_refused.clone();
    let closing = app.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    // Keep-alives are kept whether or not observations tick the kernel (which also expires).
    let expiring = {
        let (app, every) = (app.clone(), app.config.expire_every.max(std::time::Duration::from_millis(10)));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let app = app.clone();
                let _ = tokio::task::spawn_blocking(move || app.expire_idle()).await;
            }
        })
    };
    listen::accept_loop(routes(app.clone()), listener, shutdown, timeout, max, refused).await;
    expiring.abort();
    // Whatever the kernel learned is kept (a real-time kernel's owner saves it when it has
    // stopped the loop).
    let now = app.clock.now();
    if let KernelSide::Host(h) = &app.kernel {
        let k = lock(h);
        if let Err(e) = k.driver.save_trust(&k.kernel, now) {
            tracing::warn!(error = %e, "saving trust at shutdown failed");
        }
    }
    // What the router learned from requests, last: it is the fresher view of the models.
    if let Some(store) = &app.store {
        let rows = lock(&app.router).trust_rows(now);
        if let Err(e) = lock(store).save_trust(&rows) {
            tracing::warn!(error = %e, "saving the router's trust at shutdown failed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_keys_are_read_whatever_the_scheme_case_and_compared_whole() {
        assert_eq!(bearer("Bearer k1"), Some("k1"));
        assert_eq!(bearer("bearer   k1 "), Some("k1"));
        assert_eq!(bearer("Basic k1"), None);
        assert_eq!(bearer("Bearer"), None);
        assert!(same_key("secret", "secret"));
        for wrong in ["secre", "secret2", "Secret", "", "tecret"] {
            assert!(!same_key("secret", wrong), "{wrong}");
        }
    }

    #[test]
    fn the_dashboard_never_takes_the_key_from_the_query_string() {
        // A key in `?key=` ends up in access logs, proxies and browser history.
        assert!(!DASHBOARD.contains("params.get(\"key\")"));
        assert!(!DASHBOARD.contains("localStorage"), "kept for the tab only");
        assert!(DASHBOARD.contains("location.hash") && DASHBOARD.contains("history.replaceState"));
    }
}
