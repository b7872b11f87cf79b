//! Choosing a node and a model with the kernel's selector: a peer's model is an expert like a
//! local one. `permission = expertise × cheapness × persistence`, where expertise is trust per
//! (node, model) and situation class, learned from outcomes (failures, stalls, deaths and
//! quality, with the ledger's cool-down and half-life), and cheapness prices an answer by the
//! model's weights, the network's round trip and the node's queue, plus the load when the
//! model is cold.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use sage_kernel::router::budget::{QualityBudget, Reference, BASE_LIGHT_RATIO};
use sage_kernel::router::{Candidate, Context, RouteDecision, Selector, SelectorConfig};
use sage_kernel::trust::{Outcome, TrustConfig, TrustLedger};
use sage_kernel::State;

use crate::node::Peer;

/// The node id a local model is offered under.
pub const LOCAL: &str = "local";

/// One model on one node, as offered for one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Offer {
    /// Node id, or [`LOCAL`].
    pub node: String,
    /// Model id on that node.
    pub model: String,
    /// The node's own quality estimate for the request's class, `[0, 1]` (the prior of trust).
    pub prior: f64,
    /// Loaded now.
    pub resident: bool,
    /// Can be made resident within the node's budget.
    pub fits: bool,
    /// Seconds to load when cold.
    pub load_s: f64,
    /// Memory it needs, MiB (an answer's cost grows with the weights read per token).
    pub mib: u64,
    /// Network round trip to the node, milliseconds (0 locally).
    pub rtt_ms: f64,
    /// Requests waiting or running on the node per request it runs at once.
    pub busy: f64,
}

impl Offer {
    /// Every offer a live peer with verified capabilities makes for `class`: its models that
    /// know the class, priced by the peer's measured round trip and its busyness (requests
    /// waiting or running per request it runs at once).
    pub fn from_peer(peer: &Peer, class: &str) -> Vec<Offer> {
        let Some(caps) = peer.caps.as_ref().filter(|_| peer.alive) else {
            return vec![];
        };
        let busy = (f64::from(caps.queue) + f64::from(caps.running)) / f64::from(caps.parallel.max(1));
        caps.models
            .iter()
            .filter_map(|m| {
                m.classes.get(class).map(|&prior| Offer {
                    node: peer.node.clone(),
                    model: m.id.clone(),
                    prior,
                    resident: m.resident,
                    fits: true,
                    load_s: m.load_s,
                    mib: m.mib,
                    rtt_ms: peer.rtt_ms,
                    busy,
                })
            })
            .collect()
    }
}

/// Weights of cheapness.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prices {
    /// Load seconds that cost as much as being cold.
    pub reference_load_s: f64,
    /// Cost of an answer per natural log of weight ratio to the lightest offer.
    pub answer: f64,
    /// Round-trip milliseconds that cost 1.
    pub reference_rtt_ms: f64,
    /// Cost per unit of a node's busyness (queue and running over parallel).
    pub busy: f64,
}

impl Default for Prices {
    fn default() -> Self {
        // busy 0.15: on the simulated federations' tuning seeds (0–19), 0.25 sent work to
        // idle but worse nodes (worst run 94.8% of always-best-node's quality; 96.3% at 0.15).
        Self { reference_load_s: 30.0, answer: 0.05, reference_rtt_ms: 500.0, busy: 0.15 }
    }
}

/// A decision across nodes: the selector's value with every offer it saw.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FedDecision {
    /// The offers, in the order of the decision's candidate ids.
    pub offers: Vec<Offer>,
    /// The selector's decision (candidate id = index into `offers`).
    pub decision: RouteDecision,
    /// Offers to try, best first: the choice, then the others by permission.
    pub order: Vec<usize>,
}

impl FedDecision {
    /// One line per candidate, the node named: what a trace prints.
    pub fn explain(&self) -> Vec<String> {
        self.decision
            .candidates
            .iter()
            .map(|f| {
                let o = &self.offers[f.id as usize];
                format!(
                    "{}{}@{}: permission {:.3} = expertise {:.3} × cheapness {:.3} × persistence {:.2}{}",
                    if self.decision.chosen == Some(f.id) { "→ " } else { "  " },
                    o.model,
                    o.node,
                    f.permission,
                    f.expertise,
                    f.cheapness,
                    f.persistence,
                    f.excluded.map(|e| format!(" (excluded: {e:?})")).unwrap_or_default()
                )
            })
            .collect()
    }
}

/// The federation's selector and trust.
#[derive(Debug)]
pub struct FedRouter {
    selector: Selector,
    trust: TrustLedger,
    experts: HashMap<(String, String), u32>,
    incumbents: BTreeMap<String, (String, String)>,
    /// What WAKE's lighter-model preference may still give up, as the local router's.
    budget: QualityBudget,
    /// The classes asked, for the model the budget is counted against, as the local router's.
    reference: Reference,
    /// Weights of cheapness.
    pub prices: Prices,
}

impl FedRouter {
    /// A router whose exploration draws from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            // As the local router: persistence 1.05, a little exploration.
            selector: Selector::new(
                SelectorConfig {
                    persistence: 1.05,
                    epsilon: 0.02,
                    wake_light_ratio: BASE_LIGHT_RATIO,
                    ..SelectorConfig::default()
                },
                seed,
            ),
            trust: TrustLedger::new(TrustConfig::default()),
            experts: HashMap::new(),
            incumbents: BTreeMap::new(),
            budget: QualityBudget::for_models(),
            reference: Reference::default(),
            prices: Prices::default(),
        }
    }

    fn expert(&mut self, node: &str, model: &str) -> u32 {
        let n = self.experts.len() as u32;
        *self.experts.entry((node.to_string(), model.to_string())).or_insert(n)
    }

    /// Choose among `offers` for `class` in `state` at time `now` (seconds).
    pub fn decide(&mut self, class: &str, state: State, offers: Vec<Offer>, now: f64) -> FedDecision {
        self.trust.refresh(now);
        let lightest = offers.iter().map(|o| o.mib).filter(|&m| m > 0).min();
        let incumbent = self.incumbents.get(class).cloned();
        let mut inc = None;
        let candidates: Vec<Candidate> = offers
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let e = self.expert(&o.node, &o.model);
                self.trust.register(e, class, o.prior);
                if incumbent.as_ref().is_some_and(|(n, m)| *n == o.node && *m == o.model) {
                    inc = Some(i as u32);
                }
                let weights = match lightest {
                    Some(l) if o.mib > 0 => self.prices.answer * (o.mib as f64 / l as f64).ln(),
                    _ => 0.0,
                };
                let trust = self.trust.trust(e, class);
                Candidate {
                    id: i as u32,
                    expertise: trust,
                    trust,
                    resident: o.resident,
                    cold_cost: o.load_s / self.prices.reference_load_s,
                    run_cost: weights
                        + o.rtt_ms.max(0.0) / self.prices.reference_rtt_ms
                        + self.prices.busy * o.busy.max(0.0),
                    bytes: o.mib << 20,
                    fits: o.fits,
                    evicts: false,
                    anchored: false,
                    suppressed: self.trust.is_suppressed(e, class),
                }
            })
            .collect();
        let ctx = Context {
            state,
            swaps_left: 1,
            incumbent: inc,
            exploration: state == State::Wake,
            prefer_light: None,
        };
        // The same quality budget as the local router's (`sage_runtime::route`), counted against
        // the offer most trusted over the classes asked.
        self.reference.ask(class);
        let top = candidates.iter().filter(|c| !c.suppressed).map(|c| c.trust).fold(0.0, f64::max);
        let experts: Vec<u32> = offers.iter().map(|o| self.expert(&o.node, &o.model)).collect();
        let reference = self
            .reference
            .best(experts.iter().copied(), |e, c| Some(self.trust.trust(e, c)))
            .map_or(top, |e| self.trust.trust(e, class));
        self.selector.config_mut().wake_light_ratio = self.budget.ratio(reference, top);
        let decision = self.selector.select(&ctx, &candidates);
        if let Some(c) = decision.chosen.and_then(|id| candidates.iter().find(|c| c.id == id)) {
            self.budget.spend(reference, c.trust);
        }
        let mut ranked: Vec<&sage_kernel::router::Factors> =
            decision.candidates.iter().filter(|f| f.excluded.is_none()).collect();
        ranked.sort_by(|a, b| b.permission.total_cmp(&a.permission).then(a.id.cmp(&b.id)));
        let mut order: Vec<usize> = decision.chosen.map(|c| c as usize).into_iter().collect();
        for f in ranked {
            if !order.contains(&(f.id as usize)) {
                order.push(f.id as usize);
            }
        }
        FedDecision { offers, decision, order }
    }

    /// Learn from an attempt on `node`'s `model` for `class`: a failure, a stall or a death is
    /// `success: false`; an answer brings its quality. The model that answered becomes the
    /// class's incumbent.
    pub fn learn(&mut self, node: &str, model: &str, class: &str, outcome: Outcome, now: f64) {
        let e = self.expert(node, model);
        self.trust.record(e, class, outcome, now);
        if outcome.success {
            self.incumbents.insert(class.to_string(), (node.to_string(), model.to_string()));
        }
    }

    /// Trust in `node`'s `model` for `class`.
    pub fn trust(&self, node: &str, model: &str, class: &str) -> f64 {
        self.experts
            .get(&(node.to_string(), model.to_string()))
            .map_or(self.trust.config().prior, |&e| self.trust.trust(e, class))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(node: &str, model: &str, prior: f64, mib: u64, rtt_ms: f64) -> Offer {
        Offer {
            node: node.into(),
            model: model.into(),
            prior,
            resident: true,
            fits: true,
            load_s: 2.0,
            mib,
            rtt_ms,
            busy: 0.0,
        }
    }

    #[test]
    fn local_first_when_competitive_and_a_clearly_better_peer_otherwise() {
        let mut r = FedRouter::new(1);
        let d = r.decide(
            "text.chat",
            State::Focus,
            vec![offer(LOCAL, "small", 0.8, 500, 0.0), offer("aaaa", "small", 0.8, 500, 2.0)],
            0.0,
        );
        assert_eq!(d.order[0], 0, "{:#?}", d.explain());
        let d = r.decide(
            "text.chat",
            State::Focus,
            vec![offer(LOCAL, "small", 0.4, 500, 0.0), offer("aaaa", "big", 0.9, 2600, 2.0)],
            1.0,
        );
        assert_eq!(d.order[0], 1, "{:#?}", d.explain());
        assert!(d.explain()[1].contains("big@aaaa"), "{:?}", d.explain());
    }

    #[test]
    fn failures_move_traffic_to_another_node_and_a_busy_node_gives_way() {
        let mut r = FedRouter::new(2);
        let offers = || vec![offer("aaaa", "m", 0.8, 1000, 1.0), offer("bbbb", "m", 0.8, 1000, 1.0)];
        let first = r.decide("text.chat", State::Focus, offers(), 0.0).order[0];
        let node = offers()[first].node.clone();
        for t in 0..3 {
            r.learn(&node, "m", "text.chat", Outcome { success: false, quality: 0.0 }, t as f64);
        }
        let d = r.decide("text.chat", State::Focus, offers(), 4.0);
        assert_ne!(d.order[0], first, "{:#?}", d.explain());
        // Equal trust: the idle node wins over one with four requests per slot.
        let mut r = FedRouter::new(3);
        let mut o = offers();
        o[0].busy = 4.0;
        assert_eq!(r.decide("text.chat", State::Focus, o, 0.0).order[0], 1);
    }

    #[test]
    fn a_peer_offers_its_models_that_know_the_class_priced_by_round_trip_and_busyness() {
        use crate::caps::{Capabilities, ModelCaps};
        let model = |id: &str, class: &str| ModelCaps {
            id: id.into(),
            resident: id == "a",
            context: 4096,
            mib: 700,
            load_s: 1.5,
            tok_s: 40.0,
            classes: [(class.to_string(), 0.7)].into(),
        };
        let mut peer = Peer {
            node: "aaaa".into(),
            alive: true,
            caps: Some(Capabilities {
                node: "aaaa".into(),
                public_key: String::new(),
                profile: "legion".into(),
                models: vec![model("a", "text.chat"), model("b", "text.alert")],
                queue: 3,
                running: 3,
                parallel: 4,
                state: "WAKE".into(),
                atp: 0.5,
            }),
            rtt_ms: 4.0,
            seen_ms: 0,
        };
        let offers = Offer::from_peer(&peer, "text.chat");
        assert_eq!(offers.len(), 1, "{offers:?}");
        let o = &offers[0];
        assert_eq!((o.node.as_str(), o.model.as_str(), o.prior, o.resident), ("aaaa", "a", 0.7, true));
        assert_eq!((o.rtt_ms, o.busy, o.mib, o.load_s), (4.0, 1.5, 700, 1.5));
        // A peer whose liveliness went away, or that never sent verified capabilities, offers nothing.
        peer.alive = false;
        assert!(Offer::from_peer(&peer, "text.chat").is_empty());
        peer.alive = true;
        peer.caps = None;
        assert!(Offer::from_peer(&peer, "text.chat").is_empty());
    }
}
