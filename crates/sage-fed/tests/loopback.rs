//! Three federation nodes (profiles thor, legion, sprout) on loopback, each a Zenoh session of
//! its own in this process, serving through a scripted local side (a test double that streams a
//! fixed answer word by word): discovery, forwarding with streaming, a late joiner, a node that
//! leaves mid-answer, cancellation, and forged, replayed, unknown and malformed messages.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sage_fed::{
    seal, Ask, Capabilities, FedConfig, FedRouter, Federation, ForwardError, Identity, Local, ModelCaps,
    Offer, Rejection,
};
use sage_kernel::trust::Outcome;
use sage_kernel::State;
use zenoh::Wait;

/// Test double: a node whose "model" streams `words`, one every `every`.
struct Scripted {
    profile: &'static str,
    models: Vec<&'static str>,
    words: usize,
    every: Duration,
    served: AtomicUsize,
    cancelled: AtomicUsize,
    /// Requests it says are waiting (its advertised queue).
    queue: AtomicU32,
    /// Requests being served now (its advertised running count).
    running: AtomicU32,
    /// The quality it reports for its answers, in thousandths.
    quality_milli: AtomicU32,
}

impl Scripted {
    fn new(profile: &'static str, models: Vec<&'static str>, words: usize, every_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            profile,
            models,
            words,
            every: Duration::from_millis(every_ms),
            served: AtomicUsize::new(0),
            cancelled: AtomicUsize::new(0),
            queue: AtomicU32::new(0),
            running: AtomicU32::new(0),
            quality_milli: AtomicU32::new(800),
        })
    }
}

impl Local for Scripted {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            node: String::new(),
            public_key: String::new(),
            profile: self.profile.into(),
            models: self
                .models
                .iter()
                .map(|m| ModelCaps {
                    id: m.to_string(),
                    resident: true,
                    context: 4096,
                    mib: 500,
                    load_s: 1.0,
                    tok_s: 50.0,
                    classes: [("text.chat".to_string(), 0.8)].into(),
                })
                .collect(),
            queue: self.queue.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Relaxed),
            parallel: 4,
            state: "WAKE".into(),
            atp: 0.9,
        }
    }

    fn serve(
        &self,
        ask: &Ask,
        emit: &mut dyn FnMut(&str) -> bool,
        cancelled: &Arc<AtomicBool>,
    ) -> Result<(String, f64), String> {
        let model = ask.model.clone().unwrap_or_else(|| self.models[0].to_string());
        if !self.models.contains(&model.as_str()) {
            return Err(format!("no model {model} here"));
        }
        self.served.fetch_add(1, Ordering::Relaxed);
        self.running.fetch_add(1, Ordering::Relaxed);
        let streamed = self.stream(ask, emit, cancelled);
        self.running.fetch_sub(1, Ordering::Relaxed);
        streamed?;
        Ok((model, f64::from(self.quality_milli.load(Ordering::Relaxed)) / 1000.0))
    }
}

impl Scripted {
    fn stream(
        &self,
        ask: &Ask,
        emit: &mut dyn FnMut(&str) -> bool,
        cancelled: &Arc<AtomicBool>,
    ) -> Result<(), String> {
        // A continuation starts where the prefix ended.
        let start = ask.prefix.split_whitespace().count();
        for i in start..self.words {
            if cancelled.load(Ordering::Relaxed) {
                self.cancelled.fetch_add(1, Ordering::Relaxed);
                return Err("cancelled".into());
            }
            std::thread::sleep(self.every);
            if !emit(&format!("w{i} ")) {
                self.cancelled.fetch_add(1, Ordering::Relaxed);
                return Err("cancelled".into());
            }
        }
        Ok(())
    }
}

fn free_port() -> u16 {
    sage_io::loopback::unused_port().expect("port")
}

fn session(listen: u16, connect: &[u16]) -> zenoh::Session {
    let mut c = zenoh::Config::default();
    let set = |c: &mut zenoh::Config, k: &str, v: String| c.insert_json5(k, &v).expect("config");
    set(&mut c, "mode", "\"peer\"".into());
    set(&mut c, "scouting/multicast/enabled", "false".into());
    set(&mut c, "listen/endpoints", format!("[\"tcp/127.0.0.1:{listen}\"]"));
    let connect: Vec<String> = connect.iter().map(|p| format!("\"tcp/127.0.0.1:{p}\"")).collect();
    set(&mut c, "connect/endpoints", format!("[{}]", connect.join(",")));
    zenoh::open(c).wait().expect("zenoh session")
}

struct Net {
    ids: Vec<Identity>,
    ports: Vec<u16>,
}

impl Net {
    fn new(n: usize) -> Self {
        Self {
            ids: (0..n).map(|_| Identity::generate().expect("key")).collect(),
            ports: (0..n).map(|_| free_port()).collect(),
        }
    }

    fn allow(&self) -> Vec<String> {
        self.ids.iter().map(|i| i.public_hex()).collect()
    }

    fn join(&mut self, i: usize, local: Arc<dyn Local>, config: &FedConfig) -> Federation {
        let connect: Vec<u16> = self.ports[..i].to_vec();
        let s = session(self.ports[i], &connect);
        let id = std::mem::replace(&mut self.ids[i], Identity::generate().expect("key"));
        Federation::join(s, id, config.clone(), local).expect("join")
    }
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ready(node: &Federation, peer: &str) -> bool {
    node.peers().get(peer).is_some_and(|p| p.alive && p.caps.is_some())
}

fn ask(id: &str, model: Option<&str>) -> Ask {
    Ask {
        id: id.into(),
        model: model.map(String::from),
        request: serde_json::json!({"class": "text.chat"}),
        prefix: String::new(),
    }
}

fn config(allow: Vec<String>) -> FedConfig {
    FedConfig { allow, refresh_ms: 100, stall_ms: 1_000, first_ms: 5_000, ..FedConfig::default() }
}

#[test]
fn three_nodes_discover_each_other_forward_stream_and_survive_a_departure() {
    let mut net = Net::new(4);
    let allow = net.allow();
    let cfg = config(allow.clone());
    let thor_local = Scripted::new("thor", vec!["nemotron"], 8, 5);
    let legion_local = Scripted::new("legion", vec!["qwen"], 40, 25);
    let sprout_local = Scripted::new("sprout", vec!["gemma"], 5, 5);
    let late_local = Scripted::new("local", vec!["qwen"], 40, 5);
    let thor = net.join(0, thor_local.clone(), &cfg);
    let legion = net.join(1, legion_local.clone(), &cfg);
    let sprout = net.join(2, sprout_local.clone(), &cfg);
    let (t, l, s) = (thor.node_id(), legion.node_id(), sprout.node_id());

    // Discovery: everyone sees everyone, with verified capabilities and profiles.
    for (node, others) in [(&thor, [&l, &s]), (&legion, [&t, &s]), (&sprout, [&t, &l])] {
        for p in others {
            wait_for("discovery", Duration::from_secs(10), || ready(node, p));
        }
    }
    let peers = sprout.peers();
    assert_eq!(peers[&t].caps.as_ref().map(|c| c.profile.as_str()), Some("thor"));
    assert_eq!(peers[&t].caps.as_ref().map(|c| c.models[0].id.as_str()), Some("nemotron"));

    // The only node with nemotron answers, streamed piece by piece.
    let mut pieces = vec![];
    let done = sprout
        .forward(&t, &ask("r1", Some("nemotron")), &mut |p| {
            pieces.push(p.to_string());
            true
        })
        .expect("forwarded");
    assert_eq!(done.model, "nemotron");
    assert_eq!(pieces.len(), 8);
    assert_eq!(pieces.concat(), "w0 w1 w2 w3 w4 w5 w6 w7 ");
    // Asking a node for a model it does not have is its refusal, not a hang.
    let e = sprout.forward(&t, &ask("r2", Some("gpt-9")), &mut |_| true).expect_err("no such model");
    assert!(matches!(e, ForwardError::Failed { .. }), "{e}");

    // Cancellation travels: the asker stops after two pieces, the peer stops serving.
    let mut n = 0;
    let e = thor
        .forward(&l, &ask("r3", None), &mut |_| {
            n += 1;
            n < 2
        })
        .expect_err("cancelled");
    assert_eq!(e, ForwardError::Cancelled);
    wait_for("the peer to stop", Duration::from_secs(5), || {
        legion_local.cancelled.load(Ordering::Relaxed) == 1
    });

    // A late joiner is discovered.
    let late = net.join(3, late_local.clone(), &cfg);
    let lt = late.node_id();
    wait_for("the late joiner", Duration::from_secs(10), || ready(&thor, &lt) && ready(&late, &t));

    // Legion leaves mid-answer: its token goes, the forward ends at once with what it had,
    // and the rest continues on the late joiner from the partial text.
    let leaving = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(legion);
    });
    let mut text = String::new();
    let e = thor.forward(&l, &ask("r4", None), &mut |p| {
        text.push_str(p);
        true
    });
    leaving.join().expect("thread");
    assert!(matches!(e, Err(ForwardError::Died(_)) | Err(ForwardError::Broken { .. })), "{e:?}");
    assert!(!text.is_empty() && text.split_whitespace().count() < 40, "{text}");
    let mut rest = ask("r4b", None);
    rest.prefix = text.clone();
    thor.forward(&lt, &rest, &mut |p| {
        text.push_str(p);
        true
    })
    .expect("continued");
    let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
    assert_eq!(text.split_whitespace().collect::<Vec<_>>(), words, "one coherent answer");
    drop((late, sprout));
}

/// The selector across nodes, fed by what the peers advertise over Zenoh: `n` requests for
/// `text.chat`, each to the first choice, learning from each outcome. Returns the node each went to.
fn route_through(asker: &Federation, router: &mut FedRouter, n: usize, t0: f64, tag: &str) -> Vec<String> {
    let mut went = vec![];
    for i in 0..n {
        let offers: Vec<Offer> =
            asker.peers().values().flat_map(|p| Offer::from_peer(p, "text.chat")).collect();
        let now = t0 + i as f64;
        let d = router.decide("text.chat", State::Focus, offers, now);
        let o = d.offers[d.order[0]].clone();
        let result = asker.forward(&o.node, &ask(&format!("{tag}{i}"), Some(&o.model)), &mut |_| true);
        let outcome = match &result {
            Ok(f) => Outcome { success: true, quality: f.quality },
            Err(_) => Outcome { success: false, quality: 0.0 },
        };
        router.learn(&o.node, &o.model, "text.chat", outcome, now);
        went.push(o.node);
    }
    went
}

#[test]
fn routing_across_nodes_follows_load_and_learned_trust() {
    let mut net = Net::new(3);
    let allow = net.allow();
    let cfg = config(allow);
    // Two nodes with the same model and the same advertised quality; the asker has none.
    let thor_local = Scripted::new("thor", vec!["qwen"], 3, 1);
    let legion_local = Scripted::new("legion", vec!["qwen"], 3, 1);
    let thor = net.join(0, thor_local.clone(), &cfg);
    let legion = net.join(1, legion_local.clone(), &cfg);
    let sprout = net.join(2, Scripted::new("sprout", vec![], 3, 1), &cfg);
    let (t, l) = (thor.node_id(), legion.node_id());
    for p in [&t, &l] {
        wait_for("discovery", Duration::from_secs(10), || ready(&sprout, p));
    }
    let advertised = |node: &str, queue: u32| {
        sprout.peers().get(node).and_then(|p| p.caps.as_ref().map(|c| c.queue)) == Some(queue)
    };

    // Load: thor says eight requests wait (two per slot); the idle legion gets the work.
    thor_local.queue.store(8, Ordering::Relaxed);
    wait_for("thor's queue", Duration::from_secs(10), || advertised(&t, 8));
    let mut router = FedRouter::new(7);
    let went = route_through(&sprout, &mut router, 4, 0.0, "load");
    assert!(went.iter().all(|n| *n == l), "a busy node gives way: {went:?}");
    // The load moves: legion fills up, thor drains; the work follows.
    legion_local.queue.store(8, Ordering::Relaxed);
    thor_local.queue.store(0, Ordering::Relaxed);
    wait_for("the queues", Duration::from_secs(10), || advertised(&l, 8) && advertised(&t, 0));
    let went = route_through(&sprout, &mut router, 4, 10.0, "moved");
    assert!(went.iter().all(|n| *n == t), "the work follows the load: {went:?}");

    // Trust: with equal loads, thor's answers turn bad (quality 0.2) while it is the choice; the
    // selector learns it from the outcomes and moves the class to legion, which answers well.
    legion_local.queue.store(0, Ordering::Relaxed);
    wait_for("the queues", Duration::from_secs(10), || advertised(&l, 0));
    thor_local.quality_milli.store(200, Ordering::Relaxed);
    legion_local.quality_milli.store(900, Ordering::Relaxed);
    let went = route_through(&sprout, &mut router, 12, 20.0, "trust");
    assert_eq!(went[0], t, "thor is the incumbent when its answers turn bad: {went:?}");
    let moved = went.iter().position(|n| *n == l).expect("traffic left thor");
    assert!(moved <= 4, "moved after {moved} bad answers: {went:?}");
    assert!(went[moved..].iter().all(|n| *n == l), "and stayed on legion: {went:?}");
    assert!(router.trust(&t, "qwen", "text.chat") < router.trust(&l, "qwen", "text.chat"));

    // Legion leaves: its liveliness goes, it is offered no more and the work goes back to thor,
    // whose answers are good again.
    legion_local.quality_milli.store(900, Ordering::Relaxed);
    thor_local.quality_milli.store(900, Ordering::Relaxed);
    drop(legion);
    wait_for("legion's departure", Duration::from_secs(10), || {
        !sprout.peers().get(&l).is_some_and(|p| p.alive)
    });
    let went = route_through(&sprout, &mut router, 3, 40.0, "gone");
    assert!(went.iter().all(|n| *n == t), "a departed node is offered no more: {went:?}");
    drop((thor, sprout));
}

#[test]
fn forged_replayed_unknown_misaddressed_and_malformed_messages_are_refused_and_counted() {
    let mut net = Net::new(3);
    let allow = net.allow();
    let cfg = config(allow);
    let a_local = Scripted::new("thor", vec!["nemotron"], 3, 1);
    let a = net.join(0, a_local.clone(), &cfg);
    let b = net.join(1, Scripted::new("sprout", vec!["gemma"], 3, 1), &cfg);
    let an = a.node_id();
    wait_for("discovery", Duration::from_secs(10), || ready(&b, &an));
    // A tool holding an allowed key (not a node).
    let tool = std::mem::replace(&mut net.ids[2], Identity::generate().expect("key"));
    // An intruder on the same Zenoh network, with a key of its own that nobody allowed.
    let spy = session(free_port(), &[net.ports[0]]);
    let stranger = Identity::generate().expect("key");
    let key = sage_fed::wire::ask_key(&an);
    let body = serde_json::to_value(ask("x1", None)).expect("json");
    let query = |bytes: Vec<u8>| {
        let replies = spy
            .get(&key)
            .payload(bytes)
            .consolidation(zenoh::query::ConsolidationMode::None)
            .timeout(Duration::from_millis(500))
            .wait()
            .expect("get");
        let mut n = 0;
        while let Ok(r) = replies.recv() {
            if r.result().is_ok() {
                n += 1;
            }
        }
        n
    };
    let before = a_local.served.load(Ordering::Relaxed);
    // Unknown key.
    assert_eq!(query(seal(&stranger, "ask", &key, &body, sage_fed::now_ms())), 0);
    // Malformed and oversized.
    assert_eq!(query(b"{not json".to_vec()), 0);
    assert_eq!(query(vec![b'x'; sage_fed::envelope::MAX_ENVELOPE + 10]), 0);
    // Forged: an allowed key claimed, the stranger's signature.
    let mut env: sage_fed::envelope::Envelope =
        serde_json::from_slice(&seal(&stranger, "ask", &key, &body, sage_fed::now_ms())).expect("json");
    env.from = tool.public_hex();
    assert_eq!(query(serde_json::to_vec(&env).expect("json")), 0);
    // Replayed: a genuine request, served, then the same bytes again.
    let genuine = seal(
        &tool,
        "ask",
        &key,
        &serde_json::to_value(ask("genuine", None)).expect("json"),
        sage_fed::now_ms(),
    );
    assert_eq!(query(genuine.clone()), 4, "three pieces and the end");
    let served = a_local.served.load(Ordering::Relaxed);
    assert_eq!(query(genuine), 0);
    assert_eq!(a_local.served.load(Ordering::Relaxed), served, "the replay was not served");
    assert_eq!(served, before + 1, "only the genuine request was served");
    // Misaddressed: a request sealed for b's key sent to a; and one from a minute ago.
    let other = sage_fed::wire::ask_key(&b.node_id());
    assert_eq!(query(seal(&tool, "ask", &other, &body, sage_fed::now_ms())), 0);
    assert_eq!(query(seal(&tool, "ask", &key, &body, sage_fed::now_ms() - 60_000)), 0);
    assert_eq!(a_local.served.load(Ordering::Relaxed), served);
    let r = a.rejected();
    let count = |k: Rejection| r.get(&k).copied().unwrap_or(0);
    assert!(count(Rejection::UnknownKey) >= 1, "{r:?}");
    assert!(count(Rejection::Malformed) >= 1, "{r:?}");
    assert!(count(Rejection::Oversized) >= 1, "{r:?}");
    assert!(count(Rejection::Forged) >= 1, "{r:?}");
    assert!(count(Rejection::Replayed) >= 1, "{r:?}");
    assert!(count(Rejection::WrongKey) >= 1, "{r:?}");
    assert!(count(Rejection::Stale) >= 1, "{r:?}");
    // A genuine request from the tool is served: the refusals were about the messages.
    assert_eq!(
        query(seal(
            &tool,
            "ask",
            &key,
            &serde_json::to_value(ask("ok", None)).expect("json"),
            sage_fed::now_ms()
        )),
        4
    );
}

fn client_session(router: u16) -> zenoh::Session {
    let mut c = zenoh::Config::default();
    let set = |c: &mut zenoh::Config, k: &str, v: String| c.insert_json5(k, &v).expect("config");
    set(&mut c, "mode", "\"client\"".into());
    set(&mut c, "scouting/multicast/enabled", "false".into());
    set(&mut c, "connect/endpoints", format!("[\"tcp/127.0.0.1:{router}\"]"));
    zenoh::open(c).wait().expect("zenoh client session")
}

fn router_session(port: u16) -> zenoh::Session {
    let mut c = zenoh::Config::default();
    let set = |c: &mut zenoh::Config, k: &str, v: String| c.insert_json5(k, &v).expect("config");
    set(&mut c, "mode", "\"router\"".into());
    set(&mut c, "scouting/multicast/enabled", "false".into());
    set(&mut c, "listen/endpoints", format!("[\"tcp/127.0.0.1:{port}\"]"));
    zenoh::open(c).wait().expect("zenoh router session")
}

#[test]
fn a_partition_is_seen_and_healed_through_a_router() {
    // Two nodes that reach each other only through a Zenoh router (as on two machines with a
    // zenohd between them): the router goes, each sees the other leave; a router comes back on
    // the same endpoint, they find each other again and forward as before.
    let port = free_port();
    let router = router_session(port);
    let (a_id, b_id) = (Identity::generate().expect("key"), Identity::generate().expect("key"));
    let cfg = config(vec![a_id.public_hex(), b_id.public_hex()]);
    let a = Federation::join(
        client_session(port),
        a_id,
        cfg.clone(),
        Scripted::new("thor", vec!["nemotron"], 3, 1),
    )
    .expect("join");
    let b = Federation::join(client_session(port), b_id, cfg, Scripted::new("sprout", vec!["gemma"], 3, 1))
        .expect("join");
    let (an, bn) = (a.node_id(), b.node_id());
    wait_for("discovery through the router", Duration::from_secs(10), || ready(&a, &bn) && ready(&b, &an));
    drop(router);
    wait_for("the partition to be seen", Duration::from_secs(30), || {
        !a.peers().get(&bn).is_some_and(|p| p.alive) && !b.peers().get(&an).is_some_and(|p| p.alive)
    });
    let e = b.forward(&an, &ask("p1", None), &mut |_| true).expect_err("partitioned");
    assert!(matches!(e, ForwardError::Unknown(_)), "{e}");
    let _router = router_session(port);
    wait_for("the partition to heal", Duration::from_secs(60), || ready(&a, &bn) && ready(&b, &an));
    let done = b.forward(&an, &ask("p2", None), &mut |_| true).expect("forwarded after healing");
    assert_eq!(done.model, "nemotron");
}

#[test]
fn malformed_or_impersonating_capability_documents_make_no_peer() {
    let mut net = Net::new(2);
    let cfg = config(net.allow());
    let node = net.join(0, Scripted::new("thor", vec!["nemotron"], 3, 1), &cfg);
    // A tool holding an allowed key, on the same network, answering capability queries with
    // signed documents that are wrong: not a document, one that names another node, and one
    // with a quality out of bounds; it also declares a liveliness token.
    let tool = std::mem::replace(&mut net.ids[1], Identity::generate().expect("key"));
    let spy = session(free_port(), &[net.ports[0]]);
    let me = tool.node_id();
    let key = sage_fed::wire::caps_key(&me);
    let turn = Arc::new(AtomicUsize::new(0));
    let t = turn.clone();
    let good = Capabilities {
        node: me.clone(),
        public_key: tool.public_hex(),
        profile: "legion".into(),
        models: vec![],
        queue: 0,
        running: 0,
        parallel: 1,
        state: "WAKE".into(),
        atp: 0.5,
    };
    let docs: Vec<serde_json::Value> = vec![
        serde_json::json!({"node": 7}),
        serde_json::to_value(Capabilities { node: "0123456789abcdef".into(), ..good.clone() }).expect("json"),
        serde_json::to_value(Capabilities { atp: 3.0, ..good.clone() }).expect("json"),
    ];
    let _q = spy
        .declare_queryable(&key)
        .callback(move |q| {
            let i = t.fetch_add(1, Ordering::SeqCst) % docs.len();
            let m =
                seal(&tool, "caps", &sage_fed::wire::caps_key(&tool.node_id()), &docs[i], sage_fed::now_ms());
            let _ = q.reply(q.key_expr().clone(), m).wait();
        })
        .wait()
        .expect("queryable");
    let _token = spy.liveliness().declare_token(sage_fed::wire::alive_key(&me)).wait().expect("token");
    wait_for("six wrong documents", Duration::from_secs(10), || turn.load(Ordering::SeqCst) >= 6);
    node.refresh();
    let peers = node.peers();
    let p = peers.get(&me).expect("the token is seen");
    assert!(p.alive && p.caps.is_none(), "alive but never believed: {p:?}");
    assert_eq!(node.forward(&me, &ask("x", None), &mut |_| true), Err(ForwardError::Unknown(me.clone())));
    // A key expression that is not a node id is counted, not believed.
    spy.liveliness().declare_token("sage/fed/alive/not-a-node").wait().map(drop).expect("token");
    wait_for("the misaddressed token", Duration::from_secs(5), || {
        node.counts().misaddressed.load(Ordering::Relaxed) >= 1
    });
}
