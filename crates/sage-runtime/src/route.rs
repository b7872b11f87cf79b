//! Routing requests to models: the kernel's selector over live residency, measured load costs
//! and learned trust; typed fallbacks to the next candidate; a degraded responder at the end.
//! Nothing is lost: the request, every attempt and the outcome are one [`Served`] value.
//!
//! This module is the router's policy (plan, learn); `records` holds what a request leaves
//! behind, `chain` runs a plan (sessions, trimming, the attempt chain).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sage_kernel::metabolic::Policies;
use sage_kernel::router::budget::{QualityBudget, Reference, BASE_LIGHT_RATIO};
use sage_kernel::router::{Candidate, Context, RouteDecision, Selector, SelectorConfig};
use sage_kernel::trust::{Outcome, TrustConfig, TrustLedger};
use sage_kernel::State;
use sage_llm::Flow;

use crate::llm::LlmSettings;
use crate::residency::Residency;
use crate::zoo::ModelSpec;
use crate::Clock;

mod chain;
mod records;

pub use chain::{attempt_chain, Runner, Sessions, MAX_CONVERSATIONS_PER_MODEL};
pub use records::{degraded_reply, Answer, Attempt, Failure, Request, Served};

/// Judges an answer: `(model, class, answer) -> quality in [0, 1]`.
pub type Judge = Box<dyn FnMut(&str, &str, &Answer) -> f64 + Send>;

/// Default [`Router::answer_cost_weight`]: 0. On the routing families' tuning seeds (0–19),
/// weights 0.02–0.2 lowered the worst run's quality by 0.5–9 points and did not lower the worst
/// run's cost (there the oracle itself needs ~100% of always-best's); the lighter-model
/// preference of WAKE already saves where saving is possible. The federation prices answers
/// (network round trip, a node's queue) through the same selector field.
pub const ANSWER_COST_WEIGHT: f64 = 0.0;

/// Each candidate's cost of an answer: `weight × ln(bytes / lightest bytes)` among the
/// candidates that hold local weights (a remote model, 0 bytes here, costs no local compute).
fn price_answers(candidates: &mut [Candidate], weight: f64) {
    let lightest = candidates.iter().map(|c| c.bytes).filter(|&b| b > 0).min();
    for c in candidates.iter_mut() {
        c.run_cost = match lightest {
            Some(l) if c.bytes > 0 => weight * (c.bytes as f64 / l as f64).ln(),
            _ => 0.0,
        };
    }
}

/// The router's [`TrustConfig::relearn_above`]: a model whose learned score fell more than 0.2
/// under its prior and then answers more than 0.2 better than that score is relearned from this
/// answer on. Without it a model that answered garbage for a while (the routing families'
/// garbage burst) kept the traffic it lost for the rest of the run after it recovered (worst
/// tuning run, seeds 0-59: 88.8% of always-best's quality; 98.7% with it, and the same with
/// 0.1, 0.15 or 0.25; unconditioned on the prior, 0.3 and 0.4 left 94.0% and 88.8%).
pub const RELEARN_ABOVE: f64 = 0.2;

/// Loads (cold starts) the router allows in any [`SWAP_WINDOW_S`] outside FOCUS: the budget that
/// stops WAKE and REST from thrashing.
pub const SWAP_BUDGET: u32 = 4;
/// The window of [`SWAP_BUDGET`], seconds.
pub const SWAP_WINDOW_S: f64 = 60.0;

/// The router for requests outside the kernel's tick (chat, ask, the HTTP API).
pub struct Router {
    residency: Arc<Residency>,
    specs: Vec<ModelSpec>,
    selector: Selector,
    trust: TrustLedger,
    policies: Policies,
    incumbents: BTreeMap<String, u32>,
    /// The state each class was last decided in (a class served in FOCUS may load beyond the
    /// swap budget; the others may not).
    decided_in: BTreeMap<String, State>,
    swaps: Vec<f64>,
    swap_budget: u32,
    swap_window_s: f64,
    reference_load_s: f64,
    /// Weight of an answer's cost: a model that needs `k` times the weights of the lightest
    /// candidate costs `answer_cost_weight × ln k` per answer (decoding is bound by reading the
    /// weights, so an answer's time and energy grow with them).
    pub answer_cost_weight: f64,
    /// When trust last moved stale scores toward their priors.
    consolidated_at: f64,
    /// What WAKE's lighter-model preference may still give up.
    budget: QualityBudget,
    /// The classes asked, for the model the budget is counted against (always-best's estimate).
    reference: Reference,
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
        let mut trust =
            TrustLedger::new(TrustConfig { relearn_above: Some(RELEARN_ABOVE), ..TrustConfig::default() });
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
                // Persistence 1.05: models differ by a few points of quality, and a 20% edge for
                // the incumbent would keep a clearly worse resident model.
                SelectorConfig {
                    wake_light_ratio: BASE_LIGHT_RATIO,
                    persistence: 1.05,
                    epsilon: 0.02,
                    ..SelectorConfig::default()
                },
                seed,
            ),
            trust,
            policies: Policies::default(),
            incumbents: BTreeMap::new(),
            decided_in: BTreeMap::new(),
            swaps: vec![],
            swap_budget: SWAP_BUDGET,
            swap_window_s: SWAP_WINDOW_S,
            // A load is amortised over the requests it serves: thirty seconds of loading cost as
            // much as being cold. (With ten, a better model that had been evicted by an
            // exploration was not loaded back for hundreds of requests in the routing families:
            // a 3.7 s load weighed 27% against a quality gap of 20%.)
            reference_load_s: 30.0,
            answer_cost_weight: ANSWER_COST_WEIGHT,
            budget: QualityBudget::for_models(),
            reference: Reference::default(),
            consolidated_at: clock.now(),
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

    /// Whether model `i` is the incumbent of a class other than `class` that the swap budget
    /// binds (last decided outside FOCUS) and that relies on it: no lighter model would do for
    /// that class as well (within WAKE's lightness ratio of its trust there).
    fn anchored(&self, i: u32, class: &str) -> bool {
        // The ratio WAKE uses now (the quality budget widens it between decisions). Holding the
        // reading of "relies on" to the base ratio instead let a tuning run fall to 93.1% of
        // always-best's quality (seeds 0-199 of the routing families; 95.3% with this).
        let ratio = self.selector.config().wake_light_ratio;
        let bytes = |k: usize| {
            let s = &self.specs[k];
            self.residency.cost(&s.id).map_or(s.expected_bytes(), |(b, _, _)| b)
        };
        let relies = |c: &str| {
            let t = self.trust.trust(i, c);
            !self.specs.iter().enumerate().any(|(j, s)| {
                j as u32 != i
                    && s.quality.contains_key(c)
                    && bytes(j) < bytes(i as usize)
                    && !self.trust.is_suppressed(j as u32, c)
                    && t < ratio * self.trust.trust(j as u32, c)
            })
        };
        self.incumbents.iter().any(|(c, &m)| {
            m == i && c != class && self.decided_in.get(c).is_some_and(|&s| s != State::Focus) && relies(c)
        })
    }

    /// The selector's decision for `class` in `state`, over live residency, measured costs and
    /// trust.
    pub fn decide(&mut self, class: &str, state: State) -> RouteDecision {
        self.decide_sized(class, state, None)
    }

    fn decide_sized(&mut self, class: &str, state: State, prefer_light: Option<bool>) -> RouteDecision {
        let now = self.clock.now();
        self.trust.refresh(now);
        // What was learned about a model nobody has asked for a while regresses toward its
        // prior (the kernel does this in DREAM; a router serving requests may never dream): a
        // model distrusted during a burst of failures gets asked again once it might have
        // recovered, instead of never.
        if now - self.consolidated_at >= self.trust.config().stale_after_s {
            self.trust.consolidate(now);
            self.consolidated_at = now;
        }
        self.swaps.retain(|t| now - t < self.swap_window_s);
        if self.specs.iter().any(|s| s.quality.contains_key(class)) {
            self.decided_in.insert(class.to_string(), state);
            self.reference.ask(class);
        }
        let mut candidates: Vec<Candidate> = self
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
                    run_cost: 0.0,
                    bytes,
                    fits: self.residency.fits(&s.id),
                    evicts: self.residency.would_evict(&s.id),
                    anchored: self.anchored(i as u32, class),
                    suppressed: self.trust.is_suppressed(i as u32, class),
                }
            })
            .collect();
        price_answers(&mut candidates, self.answer_cost_weight);
        // WAKE's lightness ratio widens while the quality budget lasts: a lighter model may be
        // taken as long as what was given up, counted in trust, stays under QUALITY_SLACK of
        // what the best single model would have given (the reference: `reference_trust`). Every
        // decision counts; FOCUS, which takes the most trusted model (or one nearly as trusted
        // that loads without evicting), mostly earns where that model beats the reference.
        let top = candidates.iter().filter(|c| !c.suppressed).map(|c| c.trust).fold(0.0, f64::max);
        let reference = self.reference_trust(class).unwrap_or(top);
        self.selector.config_mut().wake_light_ratio = self.budget.ratio(reference, top);
        let ctx = Context {
            state,
            // The swap budget stops WAKE and REST from thrashing; in FOCUS an alert is worth a
            // load (without this, alerts went to a resident model that was wrong for them
            // whenever the budget was spent serving chat).
            swaps_left: if state == State::Focus {
                self.swap_budget.max(1)
            } else {
                self.swap_budget.saturating_sub(self.swaps.len() as u32)
            },
            incumbent: self.incumbents.get(class).copied(),
            exploration: self.policies.get(state).exploration,
            prefer_light,
        };
        let d = self.selector.select(&ctx, &candidates);
        if let Some(c) = d.chosen.and_then(|id| candidates.iter().find(|c| c.id == id)) {
            self.budget.spend(reference, c.trust);
        }
        d
    }

    /// The trust on `class` of the model the quality budget is counted against: the one whose
    /// trust, weighted by how often each class was asked, is highest (always-best, as far as
    /// the router knows). None where it does not serve `class`.
    fn reference_trust(&self, class: &str) -> Option<f64> {
        let serves = |m: u32, c: &str| self.specs.get(m as usize).is_some_and(|s| s.quality.contains_key(c));
        let best = self
            .reference
            .best(0..self.specs.len() as u32, |m, c| serves(m, c).then(|| self.trust.trust(m, c)))?;
        serves(best, class).then(|| self.trust.trust(best, class))
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
        let (reasoning, reply, degraded) = match &answer {
            Some(a) => {
                let (reasoning, reply) = sage_llm::reasoning::split(&a.text);
                (reasoning, reply, false)
            }
            None => (None, degraded_reply(&plan.request, &attempts), true),
        };
        Served {
            request: plan.request,
            decision: plan.decision,
            attempts,
            answer,
            reply,
            reasoning,
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

#[cfg(test)]
mod tests;
