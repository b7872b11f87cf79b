//! The expert selector: one rule for choosing a model, a plugin or a peer.
//!
//! `permission = expertise × cheapness × persistence × (1 + bias)`, where
//! - `expertise` blends the expert's prior capability with learned trust for the class;
//! - `cheapness = 1 / (1 + cost)`, where cost is the expert's normalised cost of an answer (0 for
//!   the cheapest) plus, for a cold expert, its normalised load cost, or a large blocking cost
//!   when it cannot fit or the swap budget is spent;
//! - `persistence` is 1.2 for the hot expert (the resident incumbent, or every resident one when
//!   no incumbent is resident), 1.0 otherwise: the hysteresis that stops thrashing;
//! - `bias` is a small per-expert load bias nudged by the sign of its load error (loss-free load
//!   balancing), clamped to ±`bias_limit`, so that the router cannot collapse onto one expert.
//!
//! Then: ε exploration (never in CRISIS or when the state forbids it), the WAKE preference for a
//! lighter expert when the heavier one is less than 1.5× better, a resident expert another class
//! relies on kept (answering, or a model loading beside it answering) over a cold winner that would
//! evict it and is less than that ratio better, and the trust-floor fallback.
//! Every decision is a [`RouteDecision`] value with every candidate's factors and the reason.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::metabolic::State;
use crate::rng::Rng;

/// Settings of the selector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SelectorConfig {
    /// Persistence factor of the hot expert.
    pub persistence: f64,
    /// Cost of an expert that cannot run now (does not fit, or no swap left).
    pub blocking_cost: f64,
    /// Exploration probability where the state allows it.
    pub epsilon: f64,
    /// Bias step per selection.
    pub bias_rate: f64,
    /// Largest absolute bias.
    pub bias_limit: f64,
    /// EMA rate of each expert's observed load.
    pub load_rate: f64,
    /// In WAKE, a heavier winner must be at least this many times more expert than a lighter one.
    pub wake_light_ratio: f64,
    /// Below this trust, prefer a more trusted alternative.
    pub trust_floor: f64,
}

impl Default for SelectorConfig {
    fn default() -> Self {
        Self {
            persistence: 1.2,
            blocking_cost: 10.0,
            epsilon: 0.05,
            bias_rate: 0.001,
            bias_limit: 0.04,
            load_rate: 0.02,
            wake_light_ratio: 1.5,
            trust_floor: 0.3,
        }
    }
}

/// One expert offered to the selector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Expert id.
    pub id: u32,
    /// Blend of prior capability and learned trust, `[0, 1]`.
    pub expertise: f64,
    /// Learned trust, `[0, 1]` (used by the trust floor).
    pub trust: f64,
    /// Loaded and ready.
    pub resident: bool,
    /// Load cost if cold, normalised (load seconds / reference seconds).
    pub cold_cost: f64,
    /// Cost of one answer relative to the cheapest candidate's, normalised (0 for the
    /// cheapest); paid resident or cold.
    pub run_cost: f64,
    /// Memory it needs, bytes (lighter experts are preferred in WAKE).
    pub bytes: u64,
    /// Whether it fits the memory budget now (with evictions).
    pub fits: bool,
    /// Whether loading it now would evict a resident expert (false when resident or when it
    /// fits beside them).
    pub evicts: bool,
    /// Whether another class that the swap budget binds (served outside FOCUS) has it as its
    /// incumbent: evicting it would cost that class a load from the budget, or its answers.
    pub anchored: bool,
    /// Cooled down by the trust ledger.
    pub suppressed: bool,
}

/// Where a decision is made.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Metabolic state.
    pub state: State,
    /// Swaps (cold loads) still allowed in the current window.
    pub swaps_left: u32,
    /// The expert chosen last time for this class, if any.
    pub incumbent: Option<u32>,
    /// Whether the state allows exploration.
    pub exploration: bool,
    /// Prefer a lighter expert unless the heavier one is clearly better: `None` follows the
    /// state (WAKE prefers light), `Some` overrides it (light when energy is short, not when a
    /// request is complex).
    pub prefer_light: Option<bool>,
}

/// Why a candidate could not be chosen at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// Cooled down by the trust ledger.
    Suppressed,
}

/// Every factor of one candidate (id, expertise, cheapness, persistence, bias, permission), with
/// residency and exclusion. Trust is an input ([`Candidate::trust`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Factors {
    /// Expert id.
    pub id: u32,
    /// Expertise.
    pub expertise: f64,
    /// Resident?
    pub resident: bool,
    /// `1 / (1 + cost)`: 1 for a resident expert, `1 / (1 + load cost)` for a cold one, and
    /// `1 / (1 + blocking cost)` when it cannot fit or no swap is left.
    pub cheapness: f64,
    /// 1.2 when hot, else 1.
    pub persistence: f64,
    /// Load bias.
    pub bias: f64,
    /// The product.
    pub permission: f64,
    /// Why it could not be chosen, if so.
    pub excluded: Option<Exclusion>,
}

/// Why the chosen expert was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// Highest permission.
    Best,
    /// The hot expert kept its place against a challenger that would have won without
    /// persistence and cheapness.
    Hysteresis {
        /// The challenger that lost.
        challenger: u32,
    },
    /// WAKE: a lighter expert within 1.5× of the heavier winner's expertise.
    WakePrefersLighter {
        /// The heavier expert passed over.
        over: u32,
    },
    /// Outside WAKE, the caller asked for light experts (energy is short): a lighter expert
    /// within 1.5× of the heavier winner's expertise.
    LighterToSaveEnergy {
        /// The heavier expert passed over.
        over: u32,
    },
    /// The winner would have had to evict a resident expert that another class relies on
    /// ([`Candidate::anchored`]) without being clearly better (by the lightness ratio) than it, or
    /// than a model that loads beside it: that one answers and the resident one stays.
    KeptAnchored {
        /// The cold winner passed over.
        over: u32,
    },
    /// The winner's trust was below the floor; a more trusted expert was chosen.
    TrustFloor {
        /// The untrusted winner passed over.
        over: u32,
    },
    /// ε exploration.
    Explore,
    /// No candidate could be chosen.
    NoCandidate,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Best => f.write_str("best permission"),
            Reason::Hysteresis { challenger } => {
                write!(f, "hysteresis kept the hot expert over #{challenger}")
            }
            Reason::WakePrefersLighter { over } => {
                write!(f, "WAKE prefers the lighter expert over #{over}")
            }
            Reason::LighterToSaveEnergy { over } => {
                write!(f, "energy is short: the lighter expert over #{over}")
            }
            Reason::KeptAnchored { over } => {
                write!(f, "kept a resident expert another class relies on over #{over}")
            }
            Reason::TrustFloor { over } => write!(f, "trust floor: #{over} is not trusted enough"),
            Reason::Explore => f.write_str("exploration"),
            Reason::NoCandidate => f.write_str("no candidate"),
        }
    }
}

/// A routing decision as a value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RouteDecision {
    /// The chosen expert.
    pub chosen: Option<u32>,
    /// Whether using it requires a load (a swap).
    pub swap: bool,
    /// Every candidate with its factors, in the order given.
    pub candidates: Vec<Factors>,
    /// Why.
    pub reason: Option<Reason>,
}

impl RouteDecision {
    /// Factors of the chosen expert.
    pub fn chosen_factors(&self) -> Option<&Factors> {
        let id = self.chosen?;
        self.candidates.iter().find(|f| f.id == id)
    }
}

/// The selector: configuration, load biases and a seeded random source for exploration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selector {
    config: SelectorConfig,
    bias: Vec<f64>,
    load: Vec<f64>,
    counts: Vec<u32>,
    since: u32,
    rng: Rng,
}

/// Selections between two load-bias updates.
pub const BIAS_PERIOD: u32 = 16;

impl Selector {
    /// A selector whose exploration draws from `seed`.
    pub fn new(config: SelectorConfig, seed: u64) -> Self {
        Self { config, bias: vec![], load: vec![], counts: vec![], since: 0, rng: Rng::new(seed) }
    }

    /// Settings.
    pub fn config(&self) -> &SelectorConfig {
        &self.config
    }

    /// Settings, to change between selections (a router that spends a quality budget widens
    /// WAKE's lightness ratio while it has some left).
    pub fn config_mut(&mut self) -> &mut SelectorConfig {
        &mut self.config
    }

    /// Current load bias of `id`.
    pub fn bias(&self, id: u32) -> f64 {
        self.bias.get(id as usize).copied().unwrap_or(0.0)
    }

    /// Choose among `candidates`.
    pub fn select(&mut self, ctx: &Context, candidates: &[Candidate]) -> RouteDecision {
        let mut d = RouteDecision::default();
        self.select_into(ctx, candidates, &mut d);
        d
    }

    /// Choose among `candidates`, writing into `out` (reuses its allocation). Stages: score every
    /// candidate, then either explore or refine the winner (hysteresis, lighter, kept anchored,
    /// trust floor), then learn the load bias.
    pub fn select_into(&mut self, ctx: &Context, candidates: &[Candidate], out: &mut RouteDecision) {
        out.candidates.clear();
        out.chosen = None;
        out.swap = false;
        out.reason = Some(Reason::NoCandidate);
        let Some(scored) = self.score(ctx, candidates, &mut out.candidates) else { return };
        let (pick, reason) = match self.explore(ctx, candidates, &out.candidates) {
            Some(i) => (i, Reason::Explore),
            None => self.refine(ctx, candidates, &out.candidates, scored),
        };
        let chosen = out.candidates[pick];
        out.chosen = Some(chosen.id);
        out.swap = !chosen.resident;
        out.reason = Some(reason);
        self.update_bias(candidates, chosen.id);
    }

    /// Every candidate's factors into `factors`, and the winner by permission (ties to the hot
    /// expert, then to the earlier candidate) with the highest raw expertise for the hysteresis
    /// reason; `None` when every candidate is excluded.
    fn score(&self, ctx: &Context, candidates: &[Candidate], factors: &mut Vec<Factors>) -> Option<Scored> {
        let cfg = self.config;
        let incumbent_resident = ctx
            .incumbent
            .is_some_and(|inc| candidates.iter().any(|c| c.id == inc && c.resident && !c.suppressed));
        let mut best: Option<usize> = None;
        let (mut best_perm, mut best_hot) = (0.0f64, false);
        // The highest expertise × (1 + bias), for the hysteresis reason.
        let (mut raw_best, mut raw_id) = (f64::NEG_INFINITY, u32::MAX);
        for c in candidates {
            let expertise = clamp01(c.expertise);
            let run = if c.run_cost.is_finite() { c.run_cost.max(0.0) } else { cfg.blocking_cost };
            let cost = run
                + if c.resident {
                    0.0
                } else if !c.fits || ctx.swaps_left == 0 {
                    cfg.blocking_cost
                } else if c.cold_cost.is_finite() {
                    c.cold_cost.max(0.0)
                } else {
                    cfg.blocking_cost
                };
            let cheapness = 1.0 / (1.0 + cost);
            let hot = c.resident && (!incumbent_resident || ctx.incumbent == Some(c.id));
            let persistence = if hot { cfg.persistence } else { 1.0 };
            let bias = self.bias(c.id);
            let permission = expertise * cheapness * persistence * (1.0 + bias);
            let excluded = c.suppressed.then_some(Exclusion::Suppressed);
            factors.push(Factors {
                id: c.id,
                expertise,
                resident: c.resident,
                cheapness,
                persistence,
                bias,
                permission,
                excluded,
            });
            if excluded.is_none() {
                let raw = expertise * (1.0 + bias);
                if raw > raw_best {
                    raw_best = raw;
                    raw_id = c.id;
                }
                let i = factors.len() - 1;
                if best.is_none()
                    || permission > best_perm * (1.0 + 1e-12)
                    || (permission >= best_perm * (1.0 - 1e-12) && hot && !best_hot)
                {
                    best = Some(i);
                    best_perm = permission;
                    best_hot = hot;
                }
            }
        }
        best.map(|pick| Scored { pick, raw_best, raw_id })
    }

    /// ε exploration where the state allows it: a runnable candidate drawn uniformly.
    fn explore(&mut self, ctx: &Context, candidates: &[Candidate], factors: &[Factors]) -> Option<usize> {
        let explore = ctx.exploration
            && ctx.state != State::Crisis
            && self.config.epsilon > 0.0
            && self.rng.next_f64() < self.config.epsilon;
        if !explore {
            return None;
        }
        let n = factors.iter().zip(candidates).filter(|(f, c)| runnable(ctx, f, c)).count();
        if n == 0 {
            return None;
        }
        let k = self.rng.below(n);
        factors
            .iter()
            .zip(candidates)
            .enumerate()
            .filter(|(_, (f, c))| runnable(ctx, f, c))
            .map(|(i, _)| i)
            .nth(k)
    }

    /// The winner after the rules that may pass it over, each in turn: hysteresis (only a
    /// reason), the lighter-expert preference, keeping an anchored resident expert, the trust
    /// floor.
    fn refine(
        &self,
        ctx: &Context,
        candidates: &[Candidate],
        factors: &[Factors],
        s: Scored,
    ) -> (usize, Reason) {
        let cfg = &self.config;
        let mut pick = s.pick;
        let mut reason = Reason::Best;
        // Hysteresis: did a challenger lose only because of cost and persistence?
        let p = factors[pick];
        if p.resident
            && s.raw_id != p.id
            && s.raw_best > clamp01(candidates[pick].expertise) * (1.0 + self.bias(p.id))
        {
            reason = Reason::Hysteresis { challenger: s.raw_id };
        }
        let stages: [Stage; 3] = [prefer_lighter, keep_anchored, trust_floor];
        for stage in stages {
            if let Some((i, r)) = stage(cfg, ctx, candidates, factors, pick) {
                pick = i;
                reason = r;
            }
        }
        (pick, reason)
    }

    /// Loss-free balancing: an expert chosen more than its share gets a lower bias, one chosen
    /// less a higher one, by a fixed step in the direction of the error. Loads are counted per
    /// selection and folded in every [`BIAS_PERIOD`] selections, so a selection costs O(1) here.
    fn update_bias(&mut self, candidates: &[Candidate], chosen: u32) {
        let cfg = self.config;
        if cfg.bias_rate == 0.0 {
            return;
        }
        let c = chosen as usize;
        if c >= self.counts.len() {
            self.counts.resize(c + 1, 0);
        }
        self.counts[c] += 1;
        self.since += 1;
        if self.since < BIAS_PERIOD {
            return;
        }
        let n = candidates.iter().filter(|c| !c.suppressed).count();
        if n >= 2 {
            let target = 1.0 / n as f64;
            let beta = (cfg.load_rate * BIAS_PERIOD as f64).min(1.0);
            let step = cfg.bias_rate * BIAS_PERIOD as f64;
            for cand in candidates.iter().filter(|c| !c.suppressed) {
                let i = cand.id as usize;
                if i >= self.bias.len() {
                    self.bias.resize(i + 1, 0.0);
                    self.load.resize(i + 1, 0.0);
                }
                let share = self.counts.get(i).copied().unwrap_or(0) as f64 / self.since as f64;
                self.load[i] += beta * (share - self.load[i]);
                let err = target - self.load[i];
                self.bias[i] = (self.bias[i] + step * err.signum()).clamp(-cfg.bias_limit, cfg.bias_limit);
            }
        }
        self.counts.iter_mut().for_each(|x| *x = 0);
        self.since = 0;
    }
}

/// A rule that may pass the winner over: `(config, context, candidates, factors, winner)` to
/// the expert chosen instead and why.
type Stage = fn(&SelectorConfig, &Context, &[Candidate], &[Factors], usize) -> Option<(usize, Reason)>;

/// The winner of [`Selector::score`].
#[derive(Debug, Clone, Copy)]
struct Scored {
    pick: usize,
    raw_best: f64,
    raw_id: u32,
}

/// Whether a candidate can be chosen now: not excluded, fits, and resident or a swap is left.
fn runnable(ctx: &Context, f: &Factors, c: &Candidate) -> bool {
    f.excluded.is_none() && c.fits && (f.resident || ctx.swaps_left > 0)
}

/// WAKE (or the caller asking for light experts): a lighter expert unless the heavier one is
/// clearly better, or it is resident and anchored by another class while the lighter one would
/// evict it (the saving here would be that class's loss: without this, a zoo whose one good chat
/// model also answered questions a little worse than a lighter one swapped it out for every
/// question, and chat waited for the swap budget on a model half as good).
fn prefer_lighter(
    cfg: &SelectorConfig,
    ctx: &Context,
    candidates: &[Candidate],
    factors: &[Factors],
    pick: usize,
) -> Option<(usize, Reason)> {
    if !ctx.prefer_light.unwrap_or(ctx.state == State::Wake) {
        return None;
    }
    let heavy = candidates[pick];
    let heavy_expertise = factors[pick].expertise;
    let lighter = most_permitted(factors, candidates, |_, f, c| {
        runnable(ctx, f, c)
            && c.bytes < heavy.bytes
            && !(heavy.resident && heavy.anchored && c.evicts)
            && heavy_expertise < cfg.wake_light_ratio * f.expertise
    })?;
    let over = factors[pick].id;
    let reason = if ctx.state == State::Wake {
        Reason::WakePrefersLighter { over }
    } else {
        Reason::LighterToSaveEnergy { over }
    };
    Some((lighter, reason))
}

/// A load that evicts must be worth a class's loss: while a resident expert is one another class
/// relies on, a cold winner that would evict gives way to that expert, or to one that loads
/// without evicting, when it is not clearly better than it (without this, alerts in FOCUS, which
/// may load, evicted the one model chat and questions relied on for a 4% gain, and chat waited on
/// a model half as good until the swap budget let it load its own back; and where chat's model
/// is useless for alerts, alerts evicted it for the one model that fills memory alone although
/// one nearly as trusted fitted beside it).
fn keep_anchored(
    cfg: &SelectorConfig,
    ctx: &Context,
    candidates: &[Candidate],
    factors: &[Factors],
    pick: usize,
) -> Option<(usize, Reason)> {
    if factors[pick].resident || !candidates[pick].evicts {
        return None;
    }
    let winner = factors[pick];
    if !candidates.iter().zip(factors).any(|(c, f)| f.resident && c.anchored) {
        return None;
    }
    let kept = most_permitted(factors, candidates, |_, f, c| {
        runnable(ctx, f, c)
            && ((f.resident && c.anchored) || (!f.resident && !c.evicts))
            && winner.expertise < cfg.wake_light_ratio * f.expertise
    })?;
    Some((kept, Reason::KeptAnchored { over: winner.id }))
}

/// Trust floor: an untrusted winner gives way to the best clearly more trusted one (above the
/// floor and by the persistence margin, so that noise around the floor cannot make the choice
/// flap).
fn trust_floor(
    cfg: &SelectorConfig,
    ctx: &Context,
    candidates: &[Candidate],
    factors: &[Factors],
    pick: usize,
) -> Option<(usize, Reason)> {
    let tru = |i: usize| clamp01(candidates[i].trust);
    let chosen_trust = tru(pick);
    if chosen_trust >= cfg.trust_floor {
        return None;
    }
    let alt = most_permitted(factors, candidates, |i, f, c| {
        runnable(ctx, f, c) && tru(i) >= cfg.trust_floor && tru(i) > chosen_trust * cfg.persistence
    })?;
    Some((alt, Reason::TrustFloor { over: factors[pick].id }))
}

/// The index of the candidate with the highest permission among those `keep` accepts
/// (`(index, factors, candidate)`); the last of equals, as `Iterator::max_by` gives.
fn most_permitted(
    factors: &[Factors],
    candidates: &[Candidate],
    keep: impl Fn(usize, &Factors, &Candidate) -> bool,
) -> Option<usize> {
    factors
        .iter()
        .zip(candidates)
        .enumerate()
        .filter(|(i, (f, c))| keep(*i, f, c))
        .max_by(|a, b| a.1 .0.permission.total_cmp(&b.1 .0.permission))
        .map(|(i, _)| i)
}

fn clamp01(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

pub mod budget;

#[cfg(test)]
mod tests;
