//! The server's side of the federation: what this node offers its peers (its capabilities, and
//! serving their forwarded requests through its own router), and answering a request of its own
//! clients on a peer when the federation's selector prefers one (`model: "sage"`), or when the
//! client names a peer's model (`model@node`). A peer that dies or stalls mid-answer hands the
//! request to the next choice, which continues the partial text (decision 0014).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use sage_fed::{Ask, Capabilities, FedRouter, Federation, ForwardError, Local, ModelCaps, Offer, LOCAL};
use sage_kernel::trust::Outcome;
use sage_llm::Flow;
use sage_runtime::route::{Answer, Attempt, Failure, Request, Served};

use crate::{lock, App};

/// A node's federation as the server uses it.
pub struct Fed {
    /// The Zenoh side: peers, forwarding.
    pub net: Federation,
    /// Trust and the selector across nodes.
    pub router: Mutex<FedRouter>,
}

/// What this node offers its peers: its server.
pub struct FedLocal {
    /// The server (weak: the federation lives inside it).
    pub app: Weak<App>,
    /// Hardware profile.
    pub profile: String,
}

impl Local for FedLocal {
    fn capabilities(&self) -> Capabilities {
        let Some(app) = self.app.upgrade() else {
            return empty(&self.profile);
        };
        let (state, _, level) = crate::state_view(&app);
        let running = app.config.max_running.saturating_sub(app.slots.available_permits()) as u32;
        Capabilities {
            profile: self.profile.clone(),
            models: local_models(&app),
            queue: 0,
            running,
            parallel: app.config.max_running as u32,
            state: state.to_string(),
            atp: level.clamp(0.0, 1.0),
            ..empty(&self.profile)
        }
    }

    fn serve(
        &self,
        ask: &Ask,
        emit: &mut dyn FnMut(&str) -> bool,
        cancelled: &Arc<AtomicBool>,
    ) -> Result<(String, f64), String> {
        let app = self.app.upgrade().ok_or("the node is shutting down")?;
        let mut request: Request =
            serde_json::from_value(ask.request.clone()).map_err(|e| format!("not a request: {e}"))?;
        request.prefix = ask.prefix.clone();
        if let Some(m) = &ask.model {
            if !app.specs.iter().any(|s| &s.id == m) {
                return Err(format!("no model {m} on this node"));
            }
        }
        let Ok(_slot) = app.slots.clone().try_acquire_owned() else {
            return Err("busy: every generation slot is taken".into());
        };
        let (state, _, _) = crate::state_view(&app);
        let (plan, runner) = {
            let mut r = lock(&app.router);
            let plan = match &ask.model {
                Some(m) => r.plan_model(&request, m),
                None => r.plan(&request, state),
            };
            (plan, r.runner())
        };
        let mut last: Option<std::time::Instant> = None;
        let mut sink = |d: &str| {
            // The node's measured decode speed (advertised in its capabilities) counts these too.
            let now = std::time::Instant::now();
            if let Some(l) = last {
                app.metrics.itl.observe((now - l).as_secs_f64());
            }
            last = Some(now);
            if emit(d) && !cancelled.load(Ordering::Relaxed) {
                Flow::Continue
            } else {
                Flow::Stop
            }
        };
        let (attempts, answer) = runner.run(&plan, Some(&mut sink));
        let served = lock(&app.router).finish(plan, attempts, answer);
        match served.answer {
            Some(a) => Ok((a.model, a.quality)),
            None => Err(served.reply),
        }
    }
}

fn empty(profile: &str) -> Capabilities {
    Capabilities {
        node: String::new(),
        public_key: String::new(),
        profile: profile.into(),
        models: vec![],
        queue: 0,
        running: 0,
        parallel: 1,
        state: "WAKE".into(),
        atp: 0.0,
    }
}

fn local_models(app: &App) -> Vec<ModelCaps> {
    // Decode speed as this node's streams measured it (inter-token gaps of every model).
    let tok_s = app.metrics.itl.mean().filter(|m| *m > 0.0).map_or(0.0, |m| 1.0 / m);
    let r = lock(&app.router);
    app.specs
        .iter()
        .map(|s| {
            // Memory and load time as measured once loaded, declared before.
            let (bytes, load_s, _) =
                app.residency.cost(&s.id).unwrap_or((s.expected_bytes(), s.expected_load_s, false));
            (s, bytes, load_s)
        })
        .map(|(s, bytes, load_s)| ModelCaps {
            id: s.id.clone(),
            resident: app.residency.is_resident(&s.id),
            context: s.context,
            mib: bytes >> 20,
            load_s: load_s.max(0.0),
            tok_s,
            classes: s
                .quality
                .keys()
                .map(|c| (c.clone(), r.trust_of(&s.id, c).unwrap_or(0.5).clamp(0.0, 1.0)))
                .collect(),
        })
        .collect()
}

/// Every offer for `class`: this node's models, then each live peer's.
fn offers(app: &App, fed: &Fed, class: &str) -> Vec<Offer> {
    let mut out = vec![];
    for m in local_models(app) {
        if let Some(&prior) = m.classes.get(class) {
            out.push(Offer {
                node: LOCAL.into(),
                fits: app.residency.fits(&m.id),
                model: m.id,
                prior,
                resident: m.resident,
                load_s: m.load_s,
                mib: m.mib,
                rtt_ms: 0.0,
                busy: 0.0,
            });
        }
    }
    for p in fed.net.peers().values() {
        out.extend(Offer::from_peer(p, class));
    }
    out
}

/// Answer `request` through the federation when it should be: `model` names a peer's model
/// (`model@node`), or is `sage` and the selector across nodes prefers a peer. `None`: serve it
/// locally as before.
pub(crate) fn serve(
    app: &App,
    model: &str,
    request: &Request,
    sink: &mut dyn FnMut(&str) -> Flow,
) -> Option<Served> {
    let fed = app.federation.get()?;
    let now = app.clock.now();
    let mut explained = format!("federation: {model} asked by name");
    let order: Vec<Offer> = if let Some((m, node)) = model.split_once('@') {
        // The named peer first; if it fails, the same model elsewhere (here first).
        let named = Offer {
            node: node.into(),
            model: m.into(),
            prior: 0.5,
            resident: true,
            fits: true,
            load_s: 0.0,
            mib: 0,
            rtt_ms: 0.0,
            busy: 0.0,
        };
        let others = offers(app, fed, &request.class).into_iter().filter(|o| o.model == m && o.node != node);
        std::iter::once(named).chain(others).collect()
    } else if model == "sage" {
        let (state, _, _) = crate::state_view(app);
        let d = lock(&fed.router).decide(&request.class, state, offers(app, fed, &request.class), now);
        let first = d.order.first().map(|&i| &d.offers[i])?;
        if first.node == LOCAL {
            return None;
        }
        tracing::debug!(decision = ?d.explain(), "federation chose a peer");
        explained = format!("federation: {}", d.explain().join("; "));
        d.order.iter().map(|&i| d.offers[i].clone()).collect()
    } else {
        return None;
    };
    let mut text = String::new();
    let mut attempts = vec![];
    for offer in order {
        let label = format!("{}@{}", offer.model, offer.node);
        if offer.node == LOCAL {
            // A local model continues what the peer began.
            let mut local = request.clone();
            local.prefix = text.clone();
            let (plan, runner) = {
                let mut r = lock(&app.router);
                (r.plan_model(&local, &offer.model), r.runner())
            };
            let mut piece = |d: &str| {
                text.push_str(d);
                sink(d)
            };
            let (more, answer) = runner.run(&plan, Some(&mut piece));
            let mut served = lock(&app.router).finish(plan, more, answer);
            attempts.append(&mut served.attempts);
            served.attempts = attempts;
            // The answer is the peer's beginning and its continuation here. (If nothing here
            // could continue, the degraded responder's reply stays: the client has the partial
            // text, then that account, once.)
            if let Some(a) = served.answer.as_mut() {
                a.text = text.trim().to_string();
                served.reply = text.clone();
            }
            return Some(served);
        }
        let ask = Ask {
            id: fed.net.new_request_id(),
            model: Some(offer.model.clone()),
            request: serde_json::to_value(request).unwrap_or_default(),
            prefix: text.clone(),
        };
        let mut pieces = 0u32;
        let result = fed.net.forward(&offer.node, &ask, &mut |d| {
            text.push_str(d);
            pieces += 1;
            sink(d) == Flow::Continue
        });
        let outcome = match &result {
            Ok(f) => Outcome { success: true, quality: f.quality },
            Err(e) if e.blames_peer() => Outcome { success: false, quality: 0.0 },
            Err(_) => Outcome { success: true, quality: 0.5 },
        };
        lock(&fed.router).learn(&offer.node, &offer.model, &request.class, outcome, now);
        match result {
            Ok(f) => {
                attempts.push(Attempt { model: label.clone(), failure: None });
                return Some(remote_served(request, attempts, &label, &text, pieces, f.quality, &explained));
            }
            Err(ForwardError::Cancelled) => {
                attempts.push(Attempt { model: label.clone(), failure: None });
                return Some(remote_served(request, attempts, &label, &text, pieces, 0.5, &explained));
            }
            Err(e) => {
                tracing::warn!(peer = %offer.node, model = %offer.model, error = %e, "forwarded request failed; next choice");
                attempts.push(Attempt {
                    model: label,
                    failure: Some(Failure::EngineError { message: e.to_string() }),
                });
            }
        }
    }
    let reply = sage_runtime::route::degraded_reply(request, &attempts);
    Some(Served {
        request: request.clone(),
        decision: None,
        attempts,
        answer: None,
        reply,
        reasoning: None,
        degraded: true,
        size_policy: explained,
    })
}

fn remote_served(
    request: &Request,
    attempts: Vec<Attempt>,
    label: &str,
    text: &str,
    pieces: u32,
    quality: f64,
    explained: &str,
) -> Served {
    let answer = Answer {
        model: label.to_string(),
        text: text.trim().to_string(),
        tokens: pieces,
        mean_nll: None,
        quality,
        timings: Default::default(),
        kept_messages: request.messages.len(),
        telemetry: sage_irp::Telemetry::from_energies(
            label,
            &[],
            sage_irp::HaltReason::PluginDone,
            0.0,
            0.0,
            0.0,
        ),
        finish: Some(sage_llm::FinishReason::Stop),
        tokens_out: vec![],
    };
    let (reasoning, reply) = sage_llm::reasoning::split(&answer.text);
    Served {
        request: request.clone(),
        decision: None,
        attempts,
        reply,
        reasoning,
        answer: Some(answer),
        degraded: false,
        size_policy: format!("{explained}; answered by {label}"),
    }
}

/// `GET /sage/federation`: this node, its peers (liveness, capabilities, round trip, trust of
/// the federation's router in each of their models per class) and the messages refused.
pub(crate) async fn view(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
) -> axum::Json<serde_json::Value> {
    let Some(f) = app.federation.get() else {
        return axum::Json(serde_json::json!({"joined": false}));
    };
    let router = lock(&f.router);
    let peers: Vec<serde_json::Value> = f
        .net
        .peers()
        .into_values()
        .map(|p| {
            let trust: serde_json::Map<String, serde_json::Value> = p
                .caps
                .iter()
                .flat_map(|c| c.models.iter())
                .flat_map(|m| m.classes.keys().map(move |c| (m.id.clone(), c.clone())))
                .map(|(m, c)| (format!("{m} {c}"), serde_json::json!(router.trust(&p.node, &m, &c))))
                .collect();
            serde_json::json!({"node": p.node, "alive": p.alive, "rtt_ms": p.rtt_ms, "caps": p.caps, "trust": trust})
        })
        .collect();
    let c = f.net.counts();
    axum::Json(serde_json::json!({
        "joined": true,
        "node": f.net.node_id(),
        "public_key": f.net.public_hex(),
        "peers": peers,
        "rejected": f.net.rejected().into_iter().map(|(k, v)| (k.label().to_string(), v)).collect::<std::collections::BTreeMap<_, _>>(),
        "served": c.served.load(Ordering::Relaxed),
        "forwarded": c.forwarded.load(Ordering::Relaxed),
        "lost": c.lost.load(Ordering::Relaxed),
        "busy": c.busy.load(Ordering::Relaxed),
    }))
}

/// Prometheus lines of the federation.
pub(crate) fn render_metrics(f: &Fed) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "# HELP sage_fed_peer_alive Whether a peer's liveliness token is declared.\n# TYPE sage_fed_peer_alive gauge");
    for p in f.net.peers().values() {
        let profile = p.caps.as_ref().map_or("", |c| c.profile.as_str());
        let _ = writeln!(
            out,
            "sage_fed_peer_alive{{node=\"{}\",profile=\"{}\"}} {}",
            p.node,
            profile,
            u8::from(p.alive)
        );
        let _ = writeln!(out, "sage_fed_peer_rtt_ms{{node=\"{}\"}} {:.3}", p.node, p.rtt_ms);
    }
    let _ = writeln!(out, "# HELP sage_fed_rejected_total Federation messages refused, by reason.\n# TYPE sage_fed_rejected_total counter");
    let rejected = f.net.rejected();
    for r in sage_fed::Rejection::ALL {
        let _ = writeln!(
            out,
            "sage_fed_rejected_total{{reason=\"{}\"}} {}",
            r.label(),
            rejected.get(&r).copied().unwrap_or(0)
        );
    }
    let c = f.net.counts();
    for (name, v) in
        [("served", &c.served), ("forwarded", &c.forwarded), ("lost", &c.lost), ("busy", &c.busy)]
    {
        let _ = writeln!(out, "sage_fed_{name}_total {}", v.load(Ordering::Relaxed));
    }
    out
}

/// The real-time kernel's jobs offered to the federation (`sage node --federation`): a job goes
/// to a peer when the selector across nodes prefers one, as `model: "sage"` does over HTTP.
/// Holds the server once it exists (the kernel starts first).
#[derive(Default)]
pub struct JobDelegate(pub std::sync::OnceLock<Weak<App>>);

impl sage_runtime::live::Delegate for JobDelegate {
    fn answer(
        &self,
        request: &Request,
        sink: &mut dyn FnMut(&str) -> Flow,
    ) -> Option<(Vec<Attempt>, Option<Answer>)> {
        let app = self.0.get()?.upgrade()?;
        let served = serve(&app, "sage", request, sink)?;
        Some((served.attempts, served.answer))
    }
}
