//! A node in the federation: its liveliness token, its capabilities and request queryables,
//! the peers it sees, and forwarding a request to one of them with the answer streamed back.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use zenoh::query::{ConsolidationMode, Query, QueryTarget};
use zenoh::sample::SampleKind;
use zenoh::Wait;

use crate::caps::Capabilities;
use crate::envelope::{now_ms, seal, Rejection, Verifier};
use crate::identity::Identity;
use crate::wire::{alive_key, ask_key, cancel_key, caps_key, node_of, Ask, Cancel, Chunk, PREFIX};
use crate::FedError;

/// What this node offers the federation: its capabilities now, and serving a forwarded request.
pub trait Local: Send + Sync + 'static {
    /// Capabilities now (`node` and `public_key` are filled in by the federation).
    fn capabilities(&self) -> Capabilities;
    /// Serve `ask`: `emit` each piece of text (it answers false once the asker is gone); stop
    /// when `cancelled` is raised. Returns the model that answered and its quality.
    fn serve(
        &self,
        ask: &Ask,
        emit: &mut dyn FnMut(&str) -> bool,
        cancelled: &Arc<AtomicBool>,
    ) -> Result<(String, f64), String>;
}

/// Settings of a node's federation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FedConfig {
    /// Public keys (hexadecimal) of the nodes allowed to talk to this one (its own is added).
    pub allow: Vec<String>,
    /// Replay window: messages whose timestamp is further from this node's clock are refused.
    pub window_ms: u64,
    /// How often peers' capabilities are asked for.
    pub refresh_ms: u64,
    /// A forwarded request whose peer sends nothing for this long is given up (the peer may
    /// be frozen: its liveliness lease has not run out yet).
    pub stall_ms: u64,
    /// The first piece of an answer may take this long (the prompt is evaluated first).
    pub first_ms: u64,
    /// Forwarded requests this node serves at once; more are refused with a reason.
    pub max_serving: usize,
}

impl Default for FedConfig {
    fn default() -> Self {
        Self {
            allow: vec![],
            window_ms: 30_000,
            refresh_ms: 500,
            stall_ms: 3_000,
            first_ms: 60_000,
            max_serving: 16,
        }
    }
}

/// A peer as this node sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peer {
    /// Node id.
    pub node: String,
    /// Its liveliness token is declared.
    pub alive: bool,
    /// Its last verified capability document.
    pub caps: Option<Capabilities>,
    /// Round trip of its last capability answer, milliseconds (exponentially averaged).
    pub rtt_ms: f64,
    /// When its capabilities were last verified (ms since the epoch).
    pub seen_ms: u64,
}

/// Counters of a node's federation.
#[derive(Debug, Default)]
pub struct FedCounts {
    /// Requests served for peers.
    pub served: AtomicU64,
    /// Requests forwarded to peers.
    pub forwarded: AtomicU64,
    /// Forwarded requests whose peer died or stalled.
    pub lost: AtomicU64,
    /// Requests refused because this node was serving its maximum.
    pub busy: AtomicU64,
    /// Messages on federation keys that were not well formed (wrong key expression, no payload).
    pub misaddressed: AtomicU64,
}

/// Why a forwarded request did not complete.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForwardError {
    /// No such peer, or it has no verified capabilities.
    #[error("peer {0} is unknown")]
    Unknown(String),
    /// The peer's liveliness token went away mid-answer.
    #[error("peer {0} died")]
    Died(String),
    /// The peer sent nothing within the stall limit.
    #[error("peer {peer} sent nothing for {ms} ms")]
    Stalled {
        /// Peer.
        peer: String,
        /// Milliseconds waited.
        ms: u64,
    },
    /// The peer answered that it could not serve the request.
    #[error("peer {peer} failed: {why}")]
    Failed {
        /// Peer.
        peer: String,
        /// Its reason.
        why: String,
    },
    /// The peer's reply stream ended without a final chunk, or out of order.
    #[error("peer {peer}: {why}")]
    Broken {
        /// Peer.
        peer: String,
        /// What was wrong.
        why: String,
    },
    /// The asker stopped listening.
    #[error("cancelled")]
    Cancelled,
    /// Zenoh refused the query.
    #[error("zenoh: {0}")]
    Zenoh(String),
}

impl ForwardError {
    /// Whether the failure is the peer's (it lands in trust), rather than the asker's.
    pub fn blames_peer(&self) -> bool {
        !matches!(self, ForwardError::Cancelled | ForwardError::Unknown(_))
    }
}

/// A completed forwarded answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded {
    /// The peer's model that answered.
    pub model: String,
    /// Its quality estimate.
    pub quality: f64,
    /// Milliseconds to the first piece of text (None: the answer was empty).
    pub first_ms: Option<f64>,
}

struct Inner {
    session: zenoh::Session,
    identity: Identity,
    config: FedConfig,
    verifier: Mutex<Verifier>,
    peers: Mutex<BTreeMap<String, Peer>>,
    local: Arc<dyn Local>,
    serving: Mutex<HashMap<(String, String), Arc<AtomicBool>>>,
    counts: FedCounts,
    stop: AtomicBool,
    next_id: AtomicU64,
}

/// This node's part in the federation. Dropping it leaves the federation (its token is undeclared).
pub struct Federation {
    inner: Arc<Inner>,
    _token: zenoh::liveliness::LivelinessToken,
    _queryables: Vec<zenoh::query::Queryable<()>>,
    _subscribers: Vec<zenoh::pubsub::Subscriber<()>>,
    refresher: Option<std::thread::JoinHandle<()>>,
}

fn zerr(e: impl std::fmt::Display) -> FedError {
    FedError::Zenoh(e.to_string())
}

impl Federation {
    /// Join the federation on `session` as `identity`, offering `local`.
    pub fn join(
        session: zenoh::Session,
        identity: Identity,
        config: FedConfig,
        local: Arc<dyn Local>,
    ) -> Result<Self, FedError> {
        let mut allow = config.allow.clone();
        allow.push(identity.public_hex());
        let me = identity.node_id();
        let inner = Arc::new(Inner {
            verifier: Mutex::new(Verifier::new(allow, config.window_ms)),
            session,
            identity,
            config,
            peers: Mutex::default(),
            local,
            serving: Mutex::default(),
            counts: FedCounts::default(),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(1),
        });
        let s = &inner.session;
        let caps = {
            let inner = Arc::clone(&inner);
            s.declare_queryable(caps_key(&me)).callback(move |q| inner.answer_caps(q)).wait().map_err(zerr)?
        };
        let ask = {
            let inner = Arc::clone(&inner);
            s.declare_queryable(ask_key(&me))
                .callback(move |q| Inner::answer_ask(&inner, q))
                .wait()
                .map_err(zerr)?
        };
        let cancel = {
            let inner = Arc::clone(&inner);
            s.declare_subscriber(cancel_key(&me))
                .callback(move |sample| {
                    inner.cancel(sample.key_expr().as_str(), &sample.payload().to_bytes())
                })
                .wait()
                .map_err(zerr)?
        };
        let alive = {
            let inner = Arc::clone(&inner);
            s.liveliness()
                .declare_subscriber(format!("{PREFIX}/alive/*"))
                .history(true)
                .callback(move |sample| {
                    inner.liveliness(sample.key_expr().as_str(), sample.kind() == SampleKind::Put)
                })
                .wait()
                .map_err(zerr)?
        };
        let token = s.liveliness().declare_token(alive_key(&me)).wait().map_err(zerr)?;
        let refresher = {
            let inner = Arc::clone(&inner);
            std::thread::Builder::new()
                .name("sage-fed-caps".into())
                .spawn(move || {
                    while !inner.stop.load(Ordering::Relaxed) {
                        inner.refresh();
                        std::thread::sleep(Duration::from_millis(inner.config.refresh_ms));
                    }
                })
                .map_err(|e| FedError::Zenoh(format!("cannot start the capabilities thread: {e}")))?
        };
        Ok(Self {
            inner,
            _token: token,
            _queryables: vec![caps, ask],
            _subscribers: vec![cancel, alive],
            refresher: Some(refresher),
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> String {
        self.inner.identity.node_id()
    }

    /// This node's public key, hexadecimal.
    pub fn public_hex(&self) -> String {
        self.inner.identity.public_hex()
    }

    /// Peers seen, by node id.
    pub fn peers(&self) -> BTreeMap<String, Peer> {
        self.inner.peers.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// Ask every peer for its capabilities now (otherwise done every `refresh_ms`).
    pub fn refresh(&self) {
        self.inner.refresh();
    }

    /// Counters.
    pub fn counts(&self) -> &FedCounts {
        &self.inner.counts
    }

    /// Messages refused, by reason.
    pub fn rejected(&self) -> BTreeMap<Rejection, u64> {
        self.inner.verifier.lock().map(|v| v.rejected().clone()).unwrap_or_default()
    }

    /// A request id unique to this node.
    pub fn new_request_id(&self) -> String {
        format!("{}-{}", self.node_id(), self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Forward `ask` to `peer` and stream its answer into `emit` (which answers false to stop).
    /// Ends when the peer's final chunk arrives, when it dies (its liveliness token goes), when
    /// it stalls past the limits, or when `emit` stops it (the peer is told to cancel).
    pub fn forward(
        &self,
        peer: &str,
        ask: &Ask,
        emit: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Forwarded, ForwardError> {
        self.inner.forward(peer, ask, emit)
    }
}

impl Drop for Federation {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.refresher.take() {
            let _ = t.join();
        }
    }
}

impl Inner {
    fn open(&self, bytes: &[u8], kind: &str, key: &str) -> Result<crate::Opened, Rejection> {
        match self.verifier.lock() {
            Ok(mut v) => v.open(bytes, kind, key, now_ms()),
            Err(_) => Err(Rejection::Malformed),
        }
    }

    fn my_caps(&self) -> Capabilities {
        let mut c = self.local.capabilities();
        c.node = self.identity.node_id();
        c.public_key = self.identity.public_hex();
        c
    }

    fn answer_caps(&self, query: Query) {
        let key = query.key_expr().as_str().to_string();
        let bytes = query.payload().map(|p| p.to_bytes().to_vec()).unwrap_or_default();
        if self.open(&bytes, "hello", &key).is_err() {
            return;
        }
        let me = caps_key(&self.identity.node_id());
        let reply = seal(&self.identity, "caps", &me, &self.my_caps(), now_ms());
        if let Err(e) = query.reply(me, reply).wait() {
            tracing::debug!(error = %e, "capabilities reply failed");
        }
    }

    fn refresh(&self) {
        let key = format!("{PREFIX}/caps/*");
        let hello = seal(&self.identity, "hello", &key, &serde_json::Value::Null, now_ms());
        let sent = Instant::now();
        let replies = match self
            .session
            .get(&key)
            .payload(hello)
            .target(QueryTarget::All)
            .consolidation(ConsolidationMode::None)
            .timeout(Duration::from_millis(self.config.refresh_ms.max(200) * 2))
            .wait()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "capabilities query failed");
                return;
            }
        };
        let me = self.identity.node_id();
        while let Ok(reply) = replies.recv() {
            let Ok(sample) = reply.result() else { continue };
            let key = sample.key_expr().as_str();
            let Some(node) = node_of(key, "caps") else {
                self.counts.misaddressed.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if node == me {
                continue;
            }
            let Ok(opened) = self.open(&sample.payload().to_bytes(), "caps", key) else { continue };
            match Capabilities::parse(&opened.body, &opened.from) {
                Ok(caps) if caps.node == node => {
                    let rtt = sent.elapsed().as_secs_f64() * 1e3;
                    if let Ok(mut peers) = self.peers.lock() {
                        let p = peers.entry(node.clone()).or_insert_with(|| Peer {
                            node: node.clone(),
                            alive: true,
                            caps: None,
                            rtt_ms: rtt,
                            seen_ms: 0,
                        });
                        p.rtt_ms = 0.8 * p.rtt_ms + 0.2 * rtt;
                        p.caps = Some(caps);
                        p.seen_ms = now_ms();
                    }
                }
                Ok(_) => {
                    self.counts.misaddressed.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(node, error = %e, "capability document refused"),
            }
        }
    }

    fn liveliness(&self, key: &str, alive: bool) {
        let Some(node) = node_of(key, "alive") else {
            self.counts.misaddressed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if node == self.identity.node_id() {
            return;
        }
        if let Ok(mut peers) = self.peers.lock() {
            let p = peers.entry(node.clone()).or_insert_with(|| Peer {
                node: node.clone(),
                alive,
                caps: None,
                rtt_ms: 0.0,
                seen_ms: 0,
            });
            p.alive = alive;
        }
        tracing::info!(node, alive, "federation peer {}", if alive { "joined" } else { "left" });
    }

    fn cancel(&self, key: &str, bytes: &[u8]) {
        let Ok(opened) = self.open(bytes, "cancel", key) else { return };
        let Ok(c) = serde_json::from_str::<Cancel>(&opened.body) else {
            self.counts.misaddressed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        // Only the node that asked can cancel its request.
        if let Some(flag) = self.serving.lock().ok().and_then(|s| s.get(&(opened.node, c.id)).cloned()) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    fn answer_ask(inner: &Arc<Self>, query: Query) {
        let key = query.key_expr().as_str().to_string();
        let bytes = query.payload().map(|p| p.to_bytes().to_vec()).unwrap_or_default();
        let Ok(opened) = inner.open(&bytes, "ask", &key) else { return };
        let me = ask_key(&inner.identity.node_id());
        let reply = |chunk: &Chunk| {
            let m = seal(&inner.identity, "chunk", &me, chunk, now_ms());
            query.reply(me.clone(), m).wait().is_ok()
        };
        let ask: Ask = match serde_json::from_str(&opened.body) {
            Ok(a) => a,
            Err(e) => {
                inner.counts.misaddressed.fetch_add(1, Ordering::Relaxed);
                reply(&Chunk::Failed { id: String::new(), why: format!("not a request: {e}") });
                return;
            }
        };
        let flag = Arc::new(AtomicBool::new(false));
        let slot = (opened.node.clone(), ask.id.clone());
        let admitted = inner.serving.lock().is_ok_and(|mut s| {
            if s.len() >= inner.config.max_serving || s.contains_key(&slot) {
                false
            } else {
                s.insert(slot.clone(), flag.clone());
                true
            }
        });
        if !admitted {
            inner.counts.busy.fetch_add(1, Ordering::Relaxed);
            reply(&Chunk::Failed {
                id: ask.id.clone(),
                why: "busy: serving its maximum of forwarded requests".into(),
            });
            return;
        }
        // Served on a thread of its own: Zenoh's callback threads must not block.
        let inner = Arc::clone(inner);
        let spawned = std::thread::Builder::new().name("sage-fed-serve".into()).spawn(move || {
            let me = ask_key(&inner.identity.node_id());
            let send = |chunk: &Chunk| {
                let m = seal(&inner.identity, "chunk", &me, chunk, now_ms());
                query.reply(me.clone(), m).wait().is_ok()
            };
            let mut seq = 0u64;
            let mut emit = |text: &str| {
                let ok = send(&Chunk::Text { id: ask.id.clone(), seq, text: text.to_string() });
                seq += 1;
                ok && !flag.load(Ordering::Relaxed)
            };
            let result = inner.local.serve(&ask, &mut emit, &flag);
            let last = match result {
                Ok((model, quality)) => Chunk::Done { id: ask.id.clone(), seq, model, quality },
                Err(why) => Chunk::Failed { id: ask.id.clone(), why },
            };
            send(&last);
            inner.counts.served.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut s) = inner.serving.lock() {
                s.remove(&slot);
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start a thread for a forwarded request");
        }
    }

    fn forward(
        &self,
        peer: &str,
        ask: &Ask,
        emit: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Forwarded, ForwardError> {
        let known = self.peers.lock().is_ok_and(|p| p.get(peer).is_some_and(|p| p.alive && p.caps.is_some()));
        if !known {
            return Err(ForwardError::Unknown(peer.to_string()));
        }
        self.counts.forwarded.fetch_add(1, Ordering::Relaxed);
        let key = ask_key(peer);
        let sealed = seal(&self.identity, "ask", &key, ask, now_ms());
        let replies = self
            .session
            .get(&key)
            .payload(sealed)
            .consolidation(ConsolidationMode::None)
            .timeout(Duration::from_secs(24 * 3600))
            .wait()
            .map_err(|e| ForwardError::Zenoh(e.to_string()))?;
        let start = Instant::now();
        let mut last = start;
        let mut first_ms = None;
        let mut seq = 0u64;
        let lost = |e: ForwardError| {
            self.counts.lost.fetch_add(1, Ordering::Relaxed);
            self.send_cancel(peer, &ask.id);
            e
        };
        loop {
            let reply = match replies.recv_timeout(Duration::from_millis(10)) {
                Ok(Some(r)) => r,
                Ok(None) => {
                    let alive = self.peers.lock().is_ok_and(|p| p.get(peer).is_some_and(|p| p.alive));
                    if !alive {
                        return Err(lost(ForwardError::Died(peer.to_string())));
                    }
                    let limit = if first_ms.is_none() { self.config.first_ms } else { self.config.stall_ms };
                    if last.elapsed() > Duration::from_millis(limit) {
                        return Err(lost(ForwardError::Stalled { peer: peer.to_string(), ms: limit }));
                    }
                    continue;
                }
                Err(_) => {
                    let alive = self.peers.lock().is_ok_and(|p| p.get(peer).is_some_and(|p| p.alive));
                    let e = if alive {
                        ForwardError::Broken {
                            peer: peer.to_string(),
                            why: "the answer ended without its last chunk".into(),
                        }
                    } else {
                        ForwardError::Died(peer.to_string())
                    };
                    return Err(lost(e));
                }
            };
            let Ok(sample) = reply.result() else { continue };
            let Ok(opened) = self.open(&sample.payload().to_bytes(), "chunk", &key) else { continue };
            if opened.node != peer {
                continue;
            }
            let chunk: Chunk = match serde_json::from_str(&opened.body) {
                Ok(c) => c,
                Err(e) => {
                    return Err(lost(ForwardError::Broken {
                        peer: peer.to_string(),
                        why: format!("not a chunk: {e}"),
                    }))
                }
            };
            last = Instant::now();
            match chunk {
                Chunk::Text { id, .. } | Chunk::Done { id, .. } | Chunk::Failed { id, .. }
                    if id != ask.id && !id.is_empty() =>
                {
                    continue
                }
                Chunk::Text { seq: s, text, .. } => {
                    if s != seq {
                        return Err(lost(ForwardError::Broken {
                            peer: peer.to_string(),
                            why: format!("piece {s} where {seq} was due"),
                        }));
                    }
                    seq += 1;
                    first_ms.get_or_insert(start.elapsed().as_secs_f64() * 1e3);
                    if !emit(&text) {
                        self.send_cancel(peer, &ask.id);
                        return Err(ForwardError::Cancelled);
                    }
                }
                Chunk::Done { seq: s, model, quality, .. } => {
                    if s != seq {
                        return Err(lost(ForwardError::Broken {
                            peer: peer.to_string(),
                            why: format!("ended after {s} pieces, {seq} arrived"),
                        }));
                    }
                    return Ok(Forwarded { model, quality: quality.clamp(0.0, 1.0), first_ms });
                }
                Chunk::Failed { why, .. } => {
                    return Err(ForwardError::Failed { peer: peer.to_string(), why })
                }
            }
        }
    }

    fn send_cancel(&self, peer: &str, id: &str) {
        let key = cancel_key(peer);
        let m = seal(&self.identity, "cancel", &key, &Cancel { id: id.to_string() }, now_ms());
        let _ = self.session.put(&key, m).wait();
    }
}
