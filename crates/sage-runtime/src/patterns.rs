//! The seed's integration patterns, on real models.
//!
//! - [`SemanticScorer`]: semantic importance of a text message from the model's
//!   log-probabilities of " yes" and " no" after a few-shot prompt. The kernel asks only when
//!   cheap salience is ambiguous; scores are cached (memory and store); ATP is charged for the
//!   prompt tokens evaluated.
//! - [`ask`]: a question about SAGE's own state and memories, answered with the relevant
//!   memories retrieved into the prompt.

use std::collections::BTreeMap;
use std::sync::Arc;

use sage_kernel::State;
use sage_llm::{ChatMessage, LanguageModel, Role, SessionId};
use sage_store::Store;

use crate::residency::Residency;
use crate::route::{Request, Router, Served};

const FEW_SHOT: &str = "Decide whether a message needs a warehouse robot's attention.\n\
Message: \"Nice weather today.\"\nImportant: no\n\
Message: \"Fire in aisle 4, evacuate now!\"\nImportant: yes\n\
Message: \"Shift report filed as usual.\"\nImportant: no\n\
Message: \"The forklift is leaking oil near bay 2.\"\nImportant: yes\n";

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
            self.cache.insert(key, s);
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
        self.cache.insert(key.clone(), p);
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
                let (s, _) = model.open_session(Some(512))?;
                self.session = Some((generation, s));
                s
            }
        };
        let logits = model.logits(session, &tokens)?;
        let last = logits
            .last()
            .ok_or_else(|| sage_llm::GenerateError::EmptyPrompt { model: model.info().id.clone() })?;
        let (ly, ln) = (
            last.get(yes as usize).copied().unwrap_or(0.0) as f64,
            last.get(no as usize).copied().unwrap_or(0.0) as f64,
        );
        let m = ly.max(ln);
        let p = (ly - m).exp() / ((ly - m).exp() + (ln - m).exp());
        Ok((p, tokens.len()))
    }
}

/// Answer a question about SAGE's own state and memories: the memories sharing words with the
/// question are put in the prompt with a summary of the state.
pub fn ask(
    router: &mut Router,
    store: &Store,
    question: &str,
    state_summary: &str,
    state: State,
    atp: f64,
) -> (Served, Vec<String>) {
    let words: Vec<String> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 3)
        .map(str::to_lowercase)
        .collect();
    let memories: Vec<String> = store
        .search_memories(&words, 5)
        .unwrap_or_default()
        .into_iter()
        .map(|m| format!("[t={:.0}s, {} from {}] {}", m.t, m.kind, m.source, m.text))
        .collect();
    let mut system = format!(
        "You are SAGE, the cognition kernel of a robot. Answer questions about yourself from the facts below.\nState: {state_summary}\n"
    );
    if memories.is_empty() {
        system.push_str("No stored memory matches the question.\n");
    } else {
        system.push_str("Memories:\n");
        for m in &memories {
            system.push_str("- ");
            system.push_str(m);
            system.push('\n');
        }
    }
    let request = Request {
        class: "text.question".into(),
        messages: vec![ChatMessage::new(Role::System, system), ChatMessage::new(Role::User, question)],
        conversation: None,
        max_tokens: 48,
        atp,
    };
    let served = router.serve(&request, state, None);
    if let Err(e) = store.log_decision(0.0, "ask", &served) {
        tracing::warn!(error = %e, "logging an answer failed");
    }
    (served, memories)
}
