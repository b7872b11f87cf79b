//! Routing requests to models: the kernel's selector over live residency, measured load costs
//! and learned trust; typed fallbacks to the next candidate; a degraded responder at the end.
//! Nothing is lost: the request, every attempt and the outcome are one [`Served`] value.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use sage_kernel::metabolic::Policies;
use sage_kernel::router::{Candidate, Context, RouteDecision, Selector, SelectorConfig};
use sage_kernel::trust::{Outcome, TrustConfig, TrustLedger};
use sage_kernel::State;
use sage_llm::{ChatMessage, Flow, GenerateError, SessionId, Timings};

use crate::conversation::{trim, TrimError};
use crate::llm::{self, LlmSettings};
use crate::residency::{Residency, ResidencyError};
use crate::zoo::ModelSpec;
use crate::Clock;

/// A request for a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Situation class (`text.question`, `text.alert`, `text.chat`...).
    pub class: String,
    /// The conversation (system prompt first); trimmed to the chosen model's window.
    pub messages: Vec<ChatMessage>,
    /// A conversation id whose KV cache should be reused across turns.
    pub conversation: Option<String>,
    /// Most tokens of the reply.
    pub max_tokens: u32,
    /// ATP granted.
    pub atp: f64,
    /// How demanding the request is, `[0, 1]` (estimated from the last user message if not
    /// given; see [`crate::classify::complexity`]).
    #[serde(default)]
    pub complexity: Option<f64>,
    /// Sampling, stop sequences, logprobs and constraint for this request (the router's
    /// defaults when `None`; `max_tokens` above wins over the one inside).
    #[serde(default)]
    pub params: Option<sage_llm::GenerateParams>,
    /// The last user message is the whole prompt, verbatim (a plain completion: no template,
    /// no trimming).
    #[serde(default)]
    pub raw: bool,
}

/// Why an attempt did not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The model cannot be made resident within the budget.
    DoesNotFit {
        /// Why.
        message: String,
    },
    /// The engine could not load it.
    LoadFailed {
        /// Why.
        message: String,
    },
    /// The prompt does not fit its window even trimmed.
    ContextTooLong {
        /// Why.
        message: String,
    },
    /// Generation failed.
    EngineError {
        /// Why.
        message: String,
    },
    /// The request itself is invalid (a schema that compiles to no grammar, a parameter out of
    /// range): every model would refuse it, so the chain stops, and no model is blamed.
    BadRequest {
        /// Why.
        message: String,
    },
}

impl Failure {
    fn from_residency(e: ResidencyError) -> Self {
        match e {
            ResidencyError::LoadFailed { .. } => Self::LoadFailed { message: e.to_string() },
            other => Self::DoesNotFit { message: other.to_string() },
        }
    }

    /// Whether the model itself misbehaved (counts against its trust); not fitting or a prompt
    /// too long for it is nobody's fault.
    pub fn blames_model(&self) -> bool {
        matches!(self, Self::LoadFailed { .. } | Self::EngineError { .. })
    }

    /// Message.
    pub fn message(&self) -> &str {
        match self {
            Self::DoesNotFit { message }
            | Self::LoadFailed { message }
            | Self::ContextTooLong { message }
            | Self::EngineError { message }
            | Self::BadRequest { message } => message,
        }
    }
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Model.
    pub model: String,
    /// `None` when it answered.
    pub failure: Option<Failure>,
}

/// The answer of the model that answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Model.
    pub model: String,
    /// Text.
    pub text: String,
    /// Tokens generated.
    pub tokens: u32,
    /// Mean negative log-probability of them (the plugin's final energy).
    pub mean_nll: Option<f64>,
    /// Quality in `[0, 1]`.
    pub quality: f64,
    /// Prompt tokens evaluated, reused, generated; seconds.
    pub timings: Timings,
    /// Messages kept after trimming.
    pub kept_messages: usize,
    /// IRP telemetry.
    pub telemetry: sage_irp::Telemetry,
    /// Why generation ended.
    pub finish: Option<sage_llm::FinishReason>,
    /// Every generated token with its log-probability (not stored with the record).
    #[serde(default, skip_serializing)]
    pub tokens_out: Vec<sage_llm::TokenOut>,
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Served {
    /// The request.
    pub request: Request,
    /// The selector's decision (ids index [`Router::models`]), when the router chose.
    pub decision: Option<RouteDecision>,
    /// Every attempt in order.
    pub attempts: Vec<Attempt>,
    /// The answer, or `None` when every model failed.
    pub answer: Option<Answer>,
    /// The reply shown: the answer's text or the degraded responder's.
    pub reply: String,
    /// Whether the degraded responder answered.
    pub degraded: bool,
    /// Small versus large: what the router asked of the selector, and why.
    pub size_policy: String,
}

/// The degraded responder: no model could answer; say so plainly, and why.
pub fn degraded_reply(request: &Request, attempts: &[Attempt]) -> String {
    let why = if attempts.is_empty() {
        format!("no model serves {}", request.class)
    } else {
        attempts
            .iter()
            .filter_map(|a| a.failure.as_ref().map(|f| format!("{}: {}", a.model, f.message())))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let last = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == sage_llm::Role::User)
        .map(|m| m.content.as_str())
        .unwrap_or("");
    let gist: String = last.chars().take(80).collect();
    format!("[degraded: no language model could answer ({why})] I received: \"{gist}\". I cannot reason about it now; it is logged for later.")
}

/// Conversations whose engine sessions a model instance keeps; beyond it, the least recently
/// used is closed (its history is still in the request or the store; only the KV reuse is lost).
pub const MAX_CONVERSATIONS_PER_MODEL: usize = 1024;

/// Per-conversation KV sessions, keyed by conversation and model instance; bounded per model
/// (least recently used first out).
#[derive(Default)]
pub struct Sessions {
    map: BTreeMap<(String, String, u64), Open>,
    /// Lookups so far (the recency clock).
    uses: u64,
}

#[derive(Clone, Copy)]
struct Open {
    session: SessionId,
    window: u32,
    used: u64,
}

impl Sessions {
    /// The session for `conversation` on the leased model instance (opened if new; a request
    /// without a conversation gets a fresh one, not kept). Opening asks the engine, which may be
    /// in the middle of a step: the map is not locked meanwhile, so other requests' lookups do
    /// not wait for it.
    fn get(
        sessions: &Mutex<Sessions>,
        conversation: Option<&str>,
        lease: &crate::residency::Lease,
        context: u32,
    ) -> Result<(SessionId, u32, bool), GenerateError> {
        let lock = || sessions.lock().unwrap_or_else(|e| e.into_inner());
        let model = lease.model();
        let Some(c) = conversation else {
            let (s, n) = model.open_session(Some(context))?;
            return Ok((s, n, false));
        };
        let key = (c.to_string(), lease.id().to_string(), lease.generation());
        {
            let mut g = lock();
            // Sessions of an earlier load of the model are gone.
            g.map.retain(|(_, m, gen), _| m != &key.1 || *gen == key.2);
            if let Some(o) = g.touch(&key) {
                return Ok((o.session, o.window, true));
            }
        }
        let (s, n) = model.open_session(Some(context))?;
        let mut g = lock();
        // Another request opened it meanwhile: use that one.
        if let Some(other) = g.touch(&key) {
            drop(g);
            model.close_session(s);
            return Ok((other.session, other.window, true));
        }
        g.uses += 1;
        let used = g.uses;
        g.map.insert(key.clone(), Open { session: s, window: n, used });
        let evicted = g.evict(&key.1, MAX_CONVERSATIONS_PER_MODEL);
        drop(g);
        for old in evicted {
            model.close_session(old);
        }
        Ok((s, n, true))
    }

    /// The open session of `key`, marked as just used.
    fn touch(&mut self, key: &(String, String, u64)) -> Option<Open> {
        self.uses += 1;
        let uses = self.uses;
        let o = self.map.get_mut(key)?;
        o.used = uses;
        Some(*o)
    }

    /// Drop `model`'s least recently used conversations beyond `keep`; their sessions.
    fn evict(&mut self, model: &str, keep: usize) -> Vec<SessionId> {
        let mut mine: Vec<(u64, (String, String, u64))> =
            self.map.iter().filter(|(k, _)| k.1 == model).map(|(k, o)| (o.used, k.clone())).collect();
        if mine.len() <= keep {
            return vec![];
        }
        mine.sort();
        let excess = mine.len() - keep;
        mine.into_iter().take(excess).filter_map(|(_, k)| self.map.remove(&k)).map(|o| o.session).collect()
    }

    /// Conversations kept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod session_tests {
    use super::*;

    #[test]
    fn the_least_recently_used_conversations_go_first() {
        let mut s = Sessions::default();
        let key = |c: &str, m: &str| (c.to_string(), m.to_string(), 1);
        for (i, c) in ["a", "b", "c"].iter().enumerate() {
            s.uses += 1;
            let used = s.uses;
            s.map.insert(key(c, "m"), Open { session: i as u64 + 1, window: 8, used });
        }
        s.map.insert(key("z", "other"), Open { session: 9, window: 8, used: 0 });
        assert!(s.touch(&key("a", "m")).is_some());
        assert_eq!(s.evict("m", 2), vec![2], "b was the least recently used");
        assert_eq!(s.evict("m", 2), Vec::<SessionId>::new());
        assert_eq!(s.len(), 3, "the other model's conversation stays");
    }
}

/// Try `order` in turn until one model answers. The same chain serves the router and the
/// kernel's external experts.
pub fn attempt_chain(
    residency: &Arc<Residency>,
    specs: &[ModelSpec],
    sessions: &Mutex<Sessions>,
    order: &[String],
    request: &Request,
    settings: &LlmSettings,
    mut sink: Option<&mut dyn FnMut(&str) -> Flow>,
) -> (Vec<Attempt>, Option<Answer>) {
    let mut attempts = vec![];
    for id in order {
        let Some(spec) = specs.iter().find(|s| &s.id == id) else { continue };
        let lease = match residency.acquire(id, &format!("routed {} to it", request.class)) {
            Ok(l) => l,
            Err(e) => {
                attempts.push(Attempt { model: id.clone(), failure: Some(Failure::from_residency(e)) });
                continue;
            }
        };
        let model = lease.model();
        let (session, window, keep) =
            match Sessions::get(sessions, request.conversation.as_deref(), &lease, spec.context) {
                Ok(s) => s,
                Err(e) => {
                    attempts.push(Attempt {
                        model: id.clone(),
                        failure: Some(Failure::EngineError { message: e.to_string() }),
                    });
                    continue;
                }
            };
        let max_tokens = request.max_tokens.min(window / 2).max(1);
        let trimmed = if request.raw {
            let text = request
                .messages
                .iter()
                .rev()
                .find(|m| m.role == sage_llm::Role::User)
                .map_or("", |m| m.content.as_str());
            match model.tokenize(text, true) {
                Ok(t) if t.len() + max_tokens as usize <= window as usize => {
                    Ok((request.messages.clone(), t))
                }
                Ok(t) => Err(TrimError::TooLong {
                    model: model.info().id.clone(),
                    need: t.len(),
                    reserve: max_tokens,
                    window,
                }),
                Err(e) => Err(TrimError::Engine(e.into())),
            }
        } else {
            trim(model, &request.messages, window, max_tokens)
        };
        let (kept, tokens) = match trimmed {
            Ok(k) => k,
            Err(e) => {
                let failure = match e {
                    TrimError::TooLong { .. } | TrimError::NoUserTurn => {
                        Failure::ContextTooLong { message: e.to_string() }
                    }
                    TrimError::Engine(g) => Failure::EngineError { message: g.to_string() },
                };
                if !keep {
                    model.close_session(session);
                }
                attempts.push(Attempt { model: id.clone(), failure: Some(failure) });
                continue;
            }
        };
        let mut s = settings.clone();
        if let Some(p) = &request.params {
            s.params = p.clone();
            s.params.logprobs = Some(p.logprobs.unwrap_or(0));
        }
        s.max_tokens = max_tokens;
        if !request.raw {
            if let Ok(r) = model.render_chat(&kept) {
                s.params.stop.extend(r.stop);
            }
        }
        let reborrowed: Option<&mut dyn FnMut(&str) -> Flow> = match &mut sink {
            Some(f) => Some(&mut **f),
            None => None,
        };
        let result = llm::run(model, session, window, tokens, &s, request.atp, reborrowed);
        if !keep {
            model.close_session(session);
        }
        match result {
            Ok(r) if r.failure.is_none() => {
                attempts.push(Attempt { model: id.clone(), failure: None });
                let answer = Answer {
                    model: id.clone(),
                    text: r.state.text.trim().to_string(),
                    tokens: r.state.tokens.len() as u32,
                    mean_nll: r.state.mean_nll(),
                    quality: r.quality,
                    timings: r.state.timings,
                    kept_messages: kept.len(),
                    telemetry: r.telemetry,
                    finish: r.state.finish,
                    tokens_out: r.state.generated,
                };
                return (attempts, Some(answer));
            }
            Ok(r) => {
                let message = r.state.error.unwrap_or_default();
                let failure = match r.failure {
                    Some(GenerateError::ContextOverflow { .. }) => Failure::ContextTooLong { message },
                    Some(
                        GenerateError::Constraint { .. }
                        | GenerateError::InvalidParams { .. }
                        | GenerateError::EmptyPrompt { .. },
                    ) => Failure::BadRequest { message },
                    _ => Failure::EngineError { message },
                };
                let stop = matches!(failure, Failure::BadRequest { .. });
                attempts.push(Attempt { model: id.clone(), failure: Some(failure) });
                if stop {
                    break;
                }
            }
            Err(e) => attempts.push(Attempt {
                model: id.clone(),
                failure: Some(Failure::EngineError { message: e.to_string() }),
            }),
        }
    }
    (attempts, None)
}

/// Judges an answer: `(model, class, answer) -> quality in [0, 1]`.
pub type Judge = Box<dyn FnMut(&str, &str, &Answer) -> f64 + Send>;

/// The router for requests outside the kernel's tick (chat, ask, the HTTP API).
pub struct Router {
    residency: Arc<Residency>,
    specs: Vec<ModelSpec>,
    selector: Selector,
    trust: TrustLedger,
    policies: Policies,
    incumbents: BTreeMap<String, u32>,
    swaps: Vec<f64>,
    swap_budget: u32,
    swap_window_s: f64,
    reference_load_s: f64,
    clock: Arc<dyn Clock>,
    sessions: Arc<Mutex<Sessions>>,
    /// Settings of every generation.
    pub settings: LlmSettings,
    /// Energy available, as a share of the maximum (1.0 when nobody says otherwise).
    pub atp_level: f64,
    /// Where answer quality comes from when not from the model's own log-probabilities: user
    /// feedback, a grader, or a simulation's known quality. `(model, class, answer) -> [0, 1]`.
    pub judge: Option<Judge>,
}

impl Router {
    /// A router over `specs` (their quality priors seed trust).
    pub fn new(specs: Vec<ModelSpec>, residency: Arc<Residency>, clock: Arc<dyn Clock>, seed: u64) -> Self {
        let mut trust = TrustLedger::new(TrustConfig::default());
        for (i, s) in specs.iter().enumerate() {
            for (class, q) in &s.quality {
                trust.register(i as u32, class, *q);
            }
        }
        Self {
            residency,
            specs,
            selector: Selector::new(
                // A heavier model must be at least 5% more trusted to be preferred in WAKE (the
                // kernel's 1.5 is for built-in plugins, whose expertise differs more).
                // Persistence 1.1: models differ by a few points of quality, and a 20% edge for
                // the incumbent would keep a clearly worse resident model.
                SelectorConfig {
                    wake_light_ratio: 1.05,
                    persistence: 1.05,
                    epsilon: 0.02,
                    ..SelectorConfig::default()
                },
                seed,
            ),
            trust,
            policies: Policies::default(),
            incumbents: BTreeMap::new(),
            swaps: vec![],
            swap_budget: 4,
            swap_window_s: 60.0,
            // A load is amortised over the requests it serves: ten seconds of loading cost as
            // much as being cold.
            reference_load_s: 10.0,
            clock,
            sessions: Arc::default(),
            settings: LlmSettings { chunk: 16, max_tokens: 128, ..Default::default() },
            judge: None,
            atp_level: 1.0,
        }
    }

    /// The models, in id order of the decisions.
    pub fn models(&self) -> &[ModelSpec] {
        &self.specs
    }

    /// The trust ledger.
    pub fn trust(&self) -> &TrustLedger {
        &self.trust
    }

    /// Restore persisted trust (rows of models this router knows; others are skipped).
    /// Returns how many entries were restored.
    pub fn restore_trust(&mut self, rows: &[sage_store::TrustRow]) -> usize {
        let now = self.clock.now();
        let mut n = 0;
        for row in rows {
            let Some(i) = self.specs.iter().position(|s| s.id == row.expert) else { continue };
            let Ok(entry) = serde_json::from_value::<sage_kernel::trust::TrustEntry>(row.entry.clone())
            else {
                continue;
            };
            if self.trust.restore(i as u32, &row.class, entry, now) {
                n += 1;
            }
        }
        n
    }

    /// The router's trust as rows to persist (penalties decayed to now).
    pub fn trust_rows(&self, updated: f64) -> Vec<sage_store::TrustRow> {
        self.trust
            .snapshot(self.clock.now())
            .into_iter()
            .filter_map(|(class, id, e)| {
                Some(sage_store::TrustRow {
                    expert: self.specs.get(id as usize)?.id.clone(),
                    class,
                    entry: serde_json::to_value(e).ok()?,
                    updated,
                })
            })
            .collect()
    }

    /// Trust of `model` for `class`.
    pub fn trust_of(&self, model: &str, class: &str) -> Option<f64> {
        let i = self.specs.iter().position(|s| s.id == model)?;
        Some(self.trust.trust(i as u32, class))
    }

    /// Small versus large for a request of `complexity` in `state`, with the energy level
    /// [`Router::atp_level`]: light models when energy is short (under 30%) or the state is
    /// REST or CRISIS; no preference for light models when the request is complex (0.6 or
    /// more) and energy allows; otherwise the state decides (WAKE prefers light).
    pub fn size_policy(&self, complexity: f64, state: State) -> (Option<bool>, String) {
        if self.atp_level < 0.3 {
            (Some(true), format!("light: energy at {:.0}%", 100.0 * self.atp_level))
        } else if matches!(state, State::Rest | State::Crisis) {
            (Some(true), format!("light: {state}"))
        } else if complexity >= 0.6 {
            (Some(false), format!("no light preference: complexity {complexity:.2}"))
        } else {
            (None, format!("as {state} prefers (complexity {complexity:.2})"))
        }
    }

    /// The selector's decision for `class` in `state`, over live residency, measured costs and
    /// trust.
    pub fn decide(&mut self, class: &str, state: State) -> RouteDecision {
        self.decide_sized(class, state, None)
    }

    fn decide_sized(&mut self, class: &str, state: State, prefer_light: Option<bool>) -> RouteDecision {
        let now = self.clock.now();
        self.trust.refresh(now);
        self.swaps.retain(|t| now - t < self.swap_window_s);
        let candidates: Vec<Candidate> = self
            .specs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.quality.contains_key(class))
            .map(|(i, s)| {
                let (bytes, load_s, _) =
                    self.residency.cost(&s.id).unwrap_or((s.expected_bytes(), s.expected_load_s, false));
                let trust = self.trust.trust(i as u32, class);
                Candidate {
                    id: i as u32,
                    expertise: trust,
                    trust,
                    resident: self.residency.is_resident(&s.id),
                    cold_cost: load_s / self.reference_load_s,
                    bytes,
                    fits: self.residency.fits(&s.id),
                    suppressed: self.trust.is_suppressed(i as u32, class),
                }
            })
            .collect();
        let ctx = Context {
            state,
            swaps_left: self.swap_budget.saturating_sub(self.swaps.len() as u32),
            incumbent: self.incumbents.get(class).copied(),
            exploration: self.policies.get(state).exploration,
            prefer_light,
        };
        self.selector.select(&ctx, &candidates)
    }

    /// Serve a request with one named model (no routing, no fallback); trust still learns.
    pub fn serve_model(
        &mut self,
        request: &Request,
        model: &str,
        sink: Option<&mut dyn FnMut(&str) -> Flow>,
    ) -> Served {
        let plan = self.plan_model(request, model);
        let (attempts, answer) = self.runner().run(&plan, sink);
        self.finish(plan, attempts, answer)
    }

    /// Serve a request in `state`: decide, try the chosen model then the others by permission,
    /// and end in the degraded responder. Trust learns from every attempt.
    pub fn serve(
        &mut self,
        request: &Request,
        state: State,
        sink: Option<&mut dyn FnMut(&str) -> Flow>,
    ) -> Served {
        let plan = self.plan(request, state);
        let (attempts, answer) = self.runner().run(&plan, sink);
        self.finish(plan, attempts, answer)
    }

    fn learn(&mut self, attempts: &[Attempt], answer: Option<&Answer>, class: &str) {
        let now = self.clock.now();
        for a in attempts {
            let Some(i) = self.specs.iter().position(|s| s.id == a.model) else { continue };
            let outcome = match (&a.failure, answer) {
                (None, Some(ans)) => Outcome { success: true, quality: ans.quality },
                (Some(f), _) if f.blames_model() => Outcome { success: false, quality: 0.0 },
                _ => continue,
            };
            self.trust.record(i as u32, class, outcome, now);
            self.residency.set_trust(&a.model, self.trust.trust(i as u32, class));
        }
    }

    /// What runs plans: handles that need no lock on the router, so that a server decides under
    /// the router's lock but lets several generations run at once.
    pub fn runner(&self) -> Runner {
        Runner {
            residency: Arc::clone(&self.residency),
            specs: self.specs.clone(),
            sessions: Arc::clone(&self.sessions),
            settings: self.settings.clone(),
        }
    }

    /// The plan for a request to one named model.
    pub fn plan_model(&mut self, request: &Request, model: &str) -> Plan {
        Plan {
            request: request.clone(),
            class: request.class.clone(),
            order: vec![model.to_string()],
            was_resident: vec![self.residency.is_resident(model)],
            decision: None,
            size_policy: format!("the caller named {model}"),
        }
    }

    /// Decide a request in `state`: the class (`.complex` where the zoo has one), the selector's
    /// choice and the fallback order by permission.
    pub fn plan(&mut self, request: &Request, state: State) -> Plan {
        let complexity = request.complexity.unwrap_or_else(|| {
            let last = request.messages.iter().rev().find(|m| m.role == sage_llm::Role::User);
            crate::classify::complexity(last.map_or("", |m| m.content.as_str()))
        });
        let (prefer_light, mut size_policy) = self.size_policy(complexity, state);
        // A complex request is its own situation class where the zoo declares one
        // (`text.question.complex`): models are trusted separately for demanding work.
        let complex = format!("{}.complex", request.class);
        // (Not when energy is short or the state wants light models: then cost comes first.)
        let class = if complexity >= 0.6
            && prefer_light != Some(true)
            && self.specs.iter().any(|s| s.quality.contains_key(&complex))
        {
            size_policy.push_str(&format!("; routed as {complex}"));
            complex
        } else {
            request.class.clone()
        };
        let decision = self.decide_sized(&class, state, prefer_light);
        let mut ranked: Vec<&sage_kernel::router::Factors> =
            decision.candidates.iter().filter(|f| f.excluded.is_none()).collect();
        ranked.sort_by(|a, b| b.permission.total_cmp(&a.permission).then(a.id.cmp(&b.id)));
        let mut order: Vec<String> = vec![];
        if let Some(c) = decision.chosen {
            order.push(self.specs[c as usize].id.clone());
        }
        for f in ranked {
            let id = &self.specs[f.id as usize].id;
            if !order.contains(id) {
                order.push(id.clone());
            }
        }
        let was_resident: Vec<bool> = order.iter().map(|m| self.residency.is_resident(m)).collect();
        Plan { request: request.clone(), class, order, was_resident, decision: Some(decision), size_policy }
    }

    /// Learn from what a plan's run did (judge, trust, swaps, incumbents) and make the reply:
    /// the answer, or the degraded responder's account of every failure.
    pub fn finish(&mut self, plan: Plan, attempts: Vec<Attempt>, mut answer: Option<Answer>) -> Served {
        if let (Some(judge), Some(a)) = (self.judge.as_mut(), answer.as_mut()) {
            a.quality = judge(&a.model, &plan.class, a).clamp(0.0, 1.0);
        }
        self.learn(&attempts, answer.as_ref(), &plan.class);
        if plan.decision.is_some() {
            let now = self.clock.now();
            if let Some(ans) = &answer {
                if let Some(i) = self.specs.iter().position(|s| s.id == ans.model) {
                    if plan.order.iter().position(|m| m == &ans.model).is_some_and(|k| !plan.was_resident[k])
                    {
                        self.swaps.push(now);
                    }
                    self.incumbents.insert(plan.class.clone(), i as u32);
                }
            }
        }
        let (reply, degraded) = match &answer {
            Some(a) => (a.text.clone(), false),
            None => (degraded_reply(&plan.request, &attempts), true),
        };
        Served {
            request: plan.request,
            decision: plan.decision,
            attempts,
            answer,
            reply,
            degraded,
            size_policy: plan.size_policy,
        }
    }
}

/// A routing decision waiting to run: the models to try in order and what is needed to learn
/// from the outcome.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The request.
    pub request: Request,
    /// The situation class trust is kept for (the request's, or its `.complex` variant).
    pub class: String,
    /// Models to try, in order.
    pub order: Vec<String>,
    /// Whether each was resident when decided (a load counts as a swap).
    was_resident: Vec<bool>,
    /// The selector's decision (None when the caller named the model).
    pub decision: Option<RouteDecision>,
    /// Small versus large, and why.
    pub size_policy: String,
}

/// Runs plans without the router: residency, the zoo, per-conversation sessions and settings.
#[derive(Clone)]
pub struct Runner {
    residency: Arc<Residency>,
    specs: Vec<ModelSpec>,
    sessions: Arc<Mutex<Sessions>>,
    settings: LlmSettings,
}

impl Runner {
    /// Try the plan's models in turn until one answers.
    pub fn run(
        &self,
        plan: &Plan,
        sink: Option<&mut dyn FnMut(&str) -> Flow>,
    ) -> (Vec<Attempt>, Option<Answer>) {
        attempt_chain(
            &self.residency,
            &self.specs,
            &self.sessions,
            &plan.order,
            &plan.request,
            &self.settings,
            sink,
        )
    }
}

#[cfg(test)]
mod tests;
