//! Semantic importance of a text message (the seed's pattern 2), from a model's
//! log-probabilities of " yes" and " no" after a few-shot prompt. The kernel asks only when
//! cheap salience is ambiguous; scores are cached (memory and store); ATP is charged for the
//! prompt tokens evaluated.

use std::collections::BTreeMap;
use std::sync::Arc;

use sage_llm::{LanguageModel, SessionId};
use sage_store::Store;

use crate::residency::Residency;

const FEW_SHOT: &str = "Decide whether a message needs a warehouse robot's attention.\n\
Message: \"Nice weather today.\"\nImportant: no\n\
Message: \"Fire in aisle 4, evacuate now!\"\nImportant: yes\n\
Message: \"Shift report filed as usual.\"\nImportant: no\n\
Message: \"The forklift is leaking oil near bay 2.\"\nImportant: yes\n";

/// Routine lines the model's answer is calibrated against: a model leans to " yes" or " no"
/// whatever the message (the default 270M model gives routine status lines 0.44-0.68), so a
/// score is how much more important the model finds a message than it finds these.
const ROUTINE_REFERENCES: [&str; 3] =
    ["Status report: all systems normal.", "Battery at 80 percent.", "Heartbeat received."];

/// Importance in `[0, 1]` of a message the model gives probability `p` of " yes", when it gives
/// routine lines `reference`: 0 at or under the reference, 1 at certainty.
pub fn calibrated(p: f64, reference: f64) -> f64 {
    if reference >= 1.0 {
        return 0.0;
    }
    ((p - reference) / (1.0 - reference)).clamp(0.0, 1.0)
}

/// Scores a scorer keeps in memory (the store keeps more, with its own retention).
pub const MAX_CACHED_SCORES: usize = 4096;

/// Semantic importance from a language model.
pub struct SemanticScorer {
    model: String,
    atp_per_token: f64,
    cache: BTreeMap<String, f64>,
    session: Option<(u64, SessionId)>,
    /// The probability of " yes" the model gives routine lines, per loaded generation.
    reference: Option<(u64, f64)>,
    /// Scores computed by the model (not served from a cache).
    pub computed: u64,
}

impl SemanticScorer {
    /// A scorer using `model`; each evaluated prompt token costs `atp_per_token`.
    pub fn new(model: &str, atp_per_token: f64) -> Self {
        Self {
            model: model.into(),
            atp_per_token,
            cache: BTreeMap::new(),
            session: None,
            reference: None,
            computed: 0,
        }
    }

    /// Keep a score in memory; beyond [`MAX_CACHED_SCORES`] some other entry goes.
    fn remember(&mut self, key: String, score: f64) {
        while self.cache.len() >= MAX_CACHED_SCORES {
            self.cache.pop_first();
        }
        self.cache.insert(key, score);
    }

    /// `Some((importance in [0, 1], ATP spent))`, or `None` if the model cannot be used.
    pub fn score(
        &mut self,
        residency: &Arc<Residency>,
        store: Option<&Store>,
        source: &str,
        text: &str,
    ) -> Option<(f64, f64)> {
        let key = format!("semantic:v2:{}:{source}:{text}", self.model);
        if let Some(s) = self.cache.get(&key) {
            return Some((*s, 0.0));
        }
        if let Some(s) = store.and_then(|st| st.cached_score(&key).ok().flatten()) {
            self.remember(key, s);
            return Some((s, 0.0));
        }
        let lease = residency.acquire(&self.model, "semantic importance scoring").ok()?;
        let model = lease.model();
        let (p, tokens) = match self.importance(model, lease.generation(), text) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(model = %self.model, error = %e, "semantic scoring failed");
                return None;
            }
        };
        self.computed += 1;
        self.remember(key.clone(), p);
        if let Some(st) = store {
            if let Err(e) = st.cache_score(&key, p) {
                tracing::warn!(error = %e, "caching a semantic score failed");
            }
        }
        Some((p, tokens as f64 * self.atp_per_token))
    }

    /// The calibrated importance of `text` and the prompt tokens evaluated for it (and, once per
    /// loaded model, for the routine references).
    fn importance(
        &mut self,
        model: &dyn LanguageModel,
        generation: u64,
        text: &str,
    ) -> Result<(f64, usize), sage_llm::GenerateError> {
        let mut tokens = 0;
        let reference = match self.reference {
            Some((g, r)) if g == generation => r,
            _ => {
                let mut sum = 0.0;
                for line in ROUTINE_REFERENCES {
                    let (p, n) = self.yes_probability(model, generation, line)?;
                    sum += p;
                    tokens += n;
                }
                let r = sum / ROUTINE_REFERENCES.len() as f64;
                tracing::debug!(model = %self.model, reference = r, "semantic scorer calibrated");
                self.reference = Some((generation, r));
                r
            }
        };
        let (p, n) = self.yes_probability(model, generation, text)?;
        Ok((calibrated(p, reference), tokens + n))
    }

    /// The model's probability of " yes" after the few-shot prompt and `text`.
    fn yes_probability(
        &mut self,
        model: &dyn LanguageModel,
        generation: u64,
        text: &str,
    ) -> Result<(f64, usize), sage_llm::GenerateError> {
        let clean: String = text.chars().filter(|c| *c != '"' && *c != '\n').take(300).collect();
        let prompt = format!("{FEW_SHOT}Message: \"{clean}\"\nImportant:");
        let tokens = model.tokenize(&prompt, true)?;
        let yes = *model.tokenize(" yes", false)?.first().unwrap_or(&0);
        let no = *model.tokenize(" no", false)?.first().unwrap_or(&0);
        let session = match self.session {
            Some((g, s)) if g == generation => s,
            _ => {
                let (s, _) = model.open_session(None)?;
                self.session = Some((generation, s));
                s
            }
        };
        // The few-shot preamble stays in the session's cache: each message evaluates itself.
        let last = model.next_logits(session, &tokens)?;
        let (ly, ln) = (
            last.get(yes as usize).copied().unwrap_or(0.0) as f64,
            last.get(no as usize).copied().unwrap_or(0.0) as f64,
        );
        let m = ly.max(ln);
        let p = (ly - m).exp() / ((ly - m).exp() + (ln - m).exp());
        Ok((p, tokens.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::calibrated;

    #[test]
    fn a_score_is_how_far_above_routine_the_model_puts_a_message() {
        assert_eq!(calibrated(0.55, 0.55), 0.0);
        assert_eq!(calibrated(0.40, 0.55), 0.0);
        assert!((calibrated(0.775, 0.55) - 0.5).abs() < 1e-9);
        assert_eq!(calibrated(1.0, 0.55), 1.0);
        assert_eq!(calibrated(0.9, 1.0), 0.0);
    }
}
