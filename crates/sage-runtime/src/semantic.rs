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

/// Scores a scorer keeps in memory (the store keeps more, with its own retention).
pub const MAX_CACHED_SCORES: usize = 4096;

/// Semantic importance from a language model.
pub struct SemanticScorer {
    model: String,
    atp_per_token: f64,
    cache: BTreeMap<String, f64>,
    session: Option<(u64, SessionId)>,
    /// Scores computed by the model (not served from a cache).
    pub computed: u64,
}

impl SemanticScorer {
    /// A scorer using `model`; each evaluated prompt token costs `atp_per_token`.
    pub fn new(model: &str, atp_per_token: f64) -> Self {
        Self { model: model.into(), atp_per_token, cache: BTreeMap::new(), session: None, computed: 0 }
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
        let key = format!("semantic:v1:{}:{source}:{text}", self.model);
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

    fn importance(
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
