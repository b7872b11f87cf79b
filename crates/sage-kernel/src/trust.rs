//! Trust per (expert, situation class), learned from outcomes.
//!
//! The score is an average of outcome quality (a running mean that becomes an EMA after enough
//! samples), shown through its confidence: with few samples the expert's prior dominates.
//! Failures add a penalty that halves every `half_life_s`; above `suppress` the expert is cooled
//! down, and it comes back once the penalty decays below `reuse` (route-flap damping). An
//! ejection cap keeps at least one expert of every class available. DREAM consolidation decays
//! stale scores toward the prior.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Settings of the trust ledger.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrustConfig {
    /// Score of an expert nobody has observed.
    pub prior: f64,
    /// The learning rate never falls below this (recent outcomes keep mattering).
    pub min_rate: f64,
    /// Samples at which confidence reaches `1 - 1/e`.
    pub confidence_scale: f64,
    /// Penalty added per failure.
    pub failure_penalty: f64,
    /// Half-life of the penalty, seconds.
    pub half_life_s: f64,
    /// Cool the expert down when the penalty exceeds this.
    pub suppress: f64,
    /// Bring it back when the penalty falls below this.
    pub reuse: f64,
    /// Largest share of a class's experts that may be cooled down at once.
    pub ejection_cap: f64,
    /// Scores not updated for this long decay toward the prior in DREAM, seconds.
    pub stale_after_s: f64,
    /// Share of the distance to the prior removed per consolidation.
    pub dream_decay: f64,
    /// Recovery: where the learned score (of at least `confidence_scale` samples, so not the
    /// noise of the first few) has fallen more than this under the prior, an outcome
    /// better than the score by more than this is taken as a sign that the expert changed (it
    /// recovered): its confidence restarts from this one outcome, so trust returns toward the
    /// prior and is relearned from what the expert does now instead of averaged with what it did
    /// before. `None` (the default): off.
    #[serde(default)]
    pub relearn_above: Option<f64>,
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            prior: 0.5,
            min_rate: 0.1,
            confidence_scale: 5.0,
            failure_penalty: 1.0,
            half_life_s: 30.0,
            suppress: 2.5,
            reuse: 0.75,
            ejection_cap: 0.5,
            stale_after_s: 300.0,
            dream_decay: 0.2,
            relearn_above: None,
        }
    }
}

/// What is known about one expert in one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrustEntry {
    /// Prior for this expert and class.
    pub prior: f64,
    /// Learned score in `[0, 1]`.
    pub score: f64,
    /// Outcomes seen.
    pub samples: u32,
    /// Failure penalty at `penalty_at`.
    pub penalty: f64,
    /// When the penalty was last set, seconds.
    pub penalty_at: f64,
    /// Cooled down?
    pub suppressed: bool,
    /// Last outcome time, seconds.
    pub updated_at: f64,
}

/// An outcome of using an expert.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Did it work at all?
    pub success: bool,
    /// How good it was, `[0, 1]` (ignored on failure).
    pub quality: f64,
}

/// A change in suppression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TrustEvent {
    /// The expert was cooled down in this class.
    Suppressed {
        /// Expert id.
        expert: u32,
        /// Situation class.
        class: String,
    },
    /// The penalty decayed; the expert is usable again.
    Reinstated {
        /// Expert id.
        expert: u32,
        /// Situation class.
        class: String,
    },
    /// Suppression was withheld because the class would lose too many experts.
    EjectionCapHeld {
        /// Expert id.
        expert: u32,
        /// Situation class.
        class: String,
    },
}

/// Trust of every known expert in every class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustLedger {
    config: TrustConfig,
    entries: BTreeMap<(String, u32), TrustEntry>,
}

impl TrustLedger {
    /// An empty ledger.
    pub fn new(config: TrustConfig) -> Self {
        Self { config, entries: BTreeMap::new() }
    }

    /// Settings.
    pub fn config(&self) -> &TrustConfig {
        &self.config
    }

    /// Make `expert` known in `class` with its own prior (no effect if already known).
    pub fn register(&mut self, expert: u32, class: &str, prior: f64) {
        let prior = if prior.is_finite() { prior.clamp(0.0, 1.0) } else { self.config.prior };
        self.entries.entry((class.to_string(), expert)).or_insert(TrustEntry {
            prior,
            score: prior,
            samples: 0,
            penalty: 0.0,
            penalty_at: 0.0,
            suppressed: false,
            updated_at: 0.0,
        });
    }

    /// The entry for `expert` in `class`, if known.
    pub fn entry(&self, expert: u32, class: &str) -> Option<&TrustEntry> {
        self.entries.get(&(class.to_string(), expert))
    }

    /// Every entry, by class then expert.
    pub fn entries(&self) -> impl Iterator<Item = (&str, u32, &TrustEntry)> {
        self.entries.iter().map(|((c, e), v)| (c.as_str(), *e, v))
    }

    /// Confidence-weighted trust: `conf·score + (1−conf)·prior`, with
    /// `conf = 1 − exp(−samples/confidence_scale)`. The prior for unknown experts.
    pub fn trust(&self, expert: u32, class: &str) -> f64 {
        match self.entries.get(&(class.to_string(), expert)) {
            Some(e) => self.effective(e),
            None => self.config.prior,
        }
    }

    fn effective(&self, e: &TrustEntry) -> f64 {
        let conf = 1.0 - (-(e.samples as f64) / self.config.confidence_scale).exp();
        conf * e.score + (1.0 - conf) * e.prior
    }

    /// Penalty of an entry at time `now`.
    pub fn penalty_at(&self, e: &TrustEntry, now: f64) -> f64 {
        let dt = (now - e.penalty_at).max(0.0);
        e.penalty * 0.5f64.powf(dt / self.config.half_life_s.max(1e-9))
    }

    /// Whether `expert` is cooled down in `class`.
    pub fn is_suppressed(&self, expert: u32, class: &str) -> bool {
        self.entries.get(&(class.to_string(), expert)).is_some_and(|e| e.suppressed)
    }

    /// Learn from an outcome at time `now`. Returns a suppression event if one happened.
    pub fn record(&mut self, expert: u32, class: &str, outcome: Outcome, now: f64) -> Option<TrustEvent> {
        self.register(expert, class, self.config.prior);
        let cfg = self.config;
        let key = (class.to_string(), expert);
        let e = self.entries.get_mut(&key)?;
        let q = if outcome.success && outcome.quality.is_finite() {
            outcome.quality.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let established = e.samples as f64 >= cfg.confidence_scale;
        if cfg.relearn_above.is_some_and(|d| established && q - e.score > d && e.score < e.prior - d) {
            e.samples = 0;
        }
        e.samples = e.samples.saturating_add(1);
        let rate = (1.0 / e.samples as f64).max(cfg.min_rate);
        e.score += rate * (q - e.score);
        e.updated_at = now;
        if outcome.success {
            return None;
        }
        let dt = (now - e.penalty_at).max(0.0);
        e.penalty = e.penalty * 0.5f64.powf(dt / cfg.half_life_s.max(1e-9)) + cfg.failure_penalty;
        e.penalty_at = now;
        if e.suppressed || e.penalty <= cfg.suppress {
            return None;
        }
        // Ejection cap: never cool down more than the cap, and never the last expert of a class.
        let (n, down) = self
            .entries
            .iter()
            .filter(|((c, _), _)| c == class)
            .fold((0usize, 0usize), |(n, d), (_, v)| (n + 1, d + v.suppressed as usize));
        let allowed = ((cfg.ejection_cap * n as f64).floor() as usize).min(n.saturating_sub(1));
        if down < allowed {
            if let Some(e) = self.entries.get_mut(&key) {
                e.suppressed = true;
            }
            Some(TrustEvent::Suppressed { expert, class: class.to_string() })
        } else {
            Some(TrustEvent::EjectionCapHeld { expert, class: class.to_string() })
        }
    }

    /// Reinstate experts whose penalty has decayed below `reuse` by `now`.
    pub fn refresh(&mut self, now: f64) -> Vec<TrustEvent> {
        let cfg = self.config;
        let mut events = vec![];
        for ((class, expert), e) in self.entries.iter_mut() {
            if e.suppressed {
                let dt = (now - e.penalty_at).max(0.0);
                if e.penalty * 0.5f64.powf(dt / cfg.half_life_s.max(1e-9)) < cfg.reuse {
                    e.suppressed = false;
                    events.push(TrustEvent::Reinstated { expert: *expert, class: class.clone() });
                }
            }
        }
        events
    }

    /// Every entry as it stands at `now` (penalties decayed to `now`), for persistence.
    pub fn snapshot(&self, now: f64) -> Vec<(String, u32, TrustEntry)> {
        self.entries
            .iter()
            .map(|((c, e), v)| {
                let mut v = *v;
                v.penalty = self.penalty_at(&v, now);
                v.penalty_at = now;
                (c.clone(), *e, v)
            })
            .collect()
    }

    /// Restore a persisted entry; its clocks restart at `now` (time between processes is not
    /// known, so a penalty is kept as it was, conservatively). Invalid values are ignored.
    pub fn restore(&mut self, expert: u32, class: &str, mut entry: TrustEntry, now: f64) -> bool {
        let ok = [entry.prior, entry.score].iter().all(|x| x.is_finite() && (0.0..=1.0).contains(x))
            && entry.penalty.is_finite()
            && entry.penalty >= 0.0;
        if !ok {
            return false;
        }
        entry.penalty_at = now;
        entry.updated_at = now;
        self.entries.insert((class.to_string(), expert), entry);
        true
    }

    /// DREAM consolidation: move scores not updated for `stale_after_s` toward their prior.
    /// Returns how many entries decayed.
    pub fn consolidate(&mut self, now: f64) -> usize {
        let cfg = self.config;
        let mut n = 0;
        for e in self.entries.values_mut() {
            if now - e.updated_at > cfg.stale_after_s && (e.score - e.prior).abs() > 1e-9 {
                e.score += cfg.dream_decay * (e.prior - e.score);
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: Outcome = Outcome { success: true, quality: 0.9 };
    const FAIL: Outcome = Outcome { success: false, quality: 0.0 };

    #[test]
    fn trust_moves_from_prior_toward_outcomes_with_confidence() {
        let mut t = TrustLedger::new(TrustConfig::default());
        t.register(1, "text", 0.5);
        assert_eq!(t.trust(1, "text"), 0.5);
        for i in 0..20 {
            t.record(1, "text", OK, i as f64);
        }
        assert!(t.trust(1, "text") > 0.85);
        assert_eq!(t.trust(7, "text"), 0.5);
    }

    #[test]
    fn failures_cool_down_and_the_penalty_half_life_brings_it_back() {
        let mut t = TrustLedger::new(TrustConfig::default());
        for e in 0..3 {
            t.register(e, "sensor", 0.5);
        }
        assert_eq!(t.record(0, "sensor", FAIL, 0.0), None);
        assert_eq!(t.record(0, "sensor", FAIL, 1.0), None);
        assert_eq!(
            t.record(0, "sensor", FAIL, 2.0),
            Some(TrustEvent::Suppressed { expert: 0, class: "sensor".into() })
        );
        assert!(t.is_suppressed(0, "sensor"));
        // Penalty ~2.95 at t=2; below 0.75 after two half-lives (60 s).
        assert!(t.refresh(40.0).is_empty());
        assert_eq!(t.refresh(70.0), vec![TrustEvent::Reinstated { expert: 0, class: "sensor".into() }]);
        assert!(!t.is_suppressed(0, "sensor"));
    }

    #[test]
    fn ejection_cap_keeps_a_class_alive() {
        let mut t = TrustLedger::new(TrustConfig::default());
        t.register(0, "c", 0.5);
        t.register(1, "c", 0.5);
        for i in 0..3 {
            t.record(0, "c", FAIL, i as f64);
        }
        assert!(t.is_suppressed(0, "c"));
        let mut last = None;
        for i in 0..3 {
            last = t.record(1, "c", FAIL, i as f64);
        }
        assert_eq!(last, Some(TrustEvent::EjectionCapHeld { expert: 1, class: "c".into() }));
        assert!(!t.is_suppressed(1, "c"));
    }

    fn q(quality: f64) -> Outcome {
        Outcome { success: true, quality }
    }

    #[test]
    fn a_recovered_expert_is_relearned_from_its_first_good_answer() {
        let cfg = TrustConfig { relearn_above: Some(0.2), ..TrustConfig::default() };
        let (mut on, mut off) = (TrustLedger::new(cfg), TrustLedger::new(TrustConfig::default()));
        for t in [&mut on, &mut off] {
            t.register(0, "c", 0.9);
            for i in 0..40 {
                t.record(0, "c", q(0.9), i as f64);
            }
            for i in 40..70 {
                t.record(0, "c", q(0.0), i as f64);
            }
            assert!(t.trust(0, "c") < 0.1, "garbage answers drag trust down");
            t.record(0, "c", q(0.9), 70.0);
        }
        assert!(on.trust(0, "c") > 0.85, "relearned: {}", on.trust(0, "c"));
        assert_eq!(on.entry(0, "c").unwrap().samples, 1);
        assert!(off.trust(0, "c") < 0.2, "averaged with the garbage: {}", off.trust(0, "c"));
    }

    #[test]
    fn relearning_needs_a_fall_under_the_prior_and_a_jump_over_the_score() {
        let cfg = TrustConfig { relearn_above: Some(0.2), ..TrustConfig::default() };
        // Noisy answers around the prior never restart confidence.
        let mut t = TrustLedger::new(cfg);
        t.register(0, "c", 0.7);
        for i in 0..100 {
            t.record(0, "c", q(if i % 2 == 0 { 0.45 } else { 0.95 }), i as f64);
        }
        assert_eq!(t.entry(0, "c").unwrap().samples, 100);
        // An expert that was never as good as declared stays distrusted by answers like its own.
        t.register(1, "c", 0.8);
        for i in 0..100 {
            t.record(1, "c", q(0.15 + 0.1 * ((i % 3) as f64 - 1.0)), i as f64);
        }
        assert_eq!(t.entry(1, "c").unwrap().samples, 100);
        assert!(t.trust(1, "c") < 0.25);
    }

    #[test]
    fn dream_decays_stale_scores_toward_prior() {
        let mut t = TrustLedger::new(TrustConfig::default());
        for i in 0..10 {
            t.record(0, "c", OK, i as f64);
        }
        let before = t.entry(0, "c").unwrap().score;
        assert_eq!(t.consolidate(100.0), 0);
        assert_eq!(t.consolidate(1000.0), 1);
        let after = t.entry(0, "c").unwrap().score;
        assert!(after < before && after > 0.5);
    }
}
