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
    // One worked example: a base model answers from the facts in kind.
    let example_a = match memories.first() {
        Some(m) => format!("My memory says: {}", m.split("] ").nth(1).unwrap_or(m)),
        None => "I have no memory of that.".to_string(),
    };
    let request = Request {
        class: "text.question".into(),
        messages: vec![
            ChatMessage::new(Role::System, system),
            ChatMessage::new(Role::User, "What do you remember about that?"),
            ChatMessage::new(Role::Assistant, example_a),
            ChatMessage::new(Role::User, question),
        ],
        conversation: None,
        max_tokens: 48,
        atp,
        complexity: None,
        params: None,
        raw: false,
    };
    let served = router.serve(&request, state, None);
    if let Err(e) = store.log_decision(0.0, "ask", &served) {
        tracing::warn!(error = %e, "logging an answer failed");
    }
    (served, memories)
}

/// How demanding a request is, `[0, 1]`: its length, reasoning cues (why, how, explain,
/// compare...), and how many parts it has. Cheap and deterministic: it decides small versus
/// large before any model runs.
pub fn complexity(text: &str) -> f64 {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let length = (words.len() as f64 / 80.0).min(1.0);
    const CUES: &[&str] = &[
        "why",
        "how",
        "explain",
        "compare",
        "plan",
        "analyze",
        "analyse",
        "summarize",
        "summarise",
        "derive",
        "prove",
        "design",
        "because",
        "tradeoff",
        "trade",
        "step",
        "steps",
        "reason",
        "evaluate",
    ];
    let cues = words.iter().filter(|w| CUES.contains(w)).count() as f64;
    let parts = lower.matches('?').count().saturating_sub(1)
        + lower.matches(';').count()
        + words.iter().filter(|w| **w == "and").count();
    (0.4 * length + 0.4 * (cues / 2.0).min(1.0) + 0.2 * (parts as f64 / 3.0).min(1.0)).clamp(0.0, 1.0)
}

/// The strategic decision reasoner: asks a model for a resource plan (ATP per competing task)
/// as JSON constrained by a schema. The kernel validates and clamps the plan and keeps its
/// heuristic allocation on anything invalid; this side returns `None` when the model cannot be
/// used or its output does not parse.
pub struct Reasoner {
    model: String,
    atp_per_token: f64,
    /// Plans asked for.
    pub asked: u64,
    /// Plans that did not parse.
    pub unparsed: u64,
}

impl Reasoner {
    /// A reasoner asking `model`; each token it reads or writes costs `atp_per_token`.
    pub fn new(model: &str, atp_per_token: f64) -> Self {
        Self { model: model.into(), atp_per_token, asked: 0, unparsed: 0 }
    }

    /// The prompt and schema for `tasks` within `budget`.
    pub fn prompt(budget: f64, tasks: &[sage_kernel::PlanTask]) -> (String, serde_json::Value) {
        let mut p = format!(
            "A robot has {budget:.1} ATP of energy for this moment and {} tasks. Give each task an amount of ATP: \
             urgent tasks get more, routine ones less, and the total must not exceed {budget:.1}.\nTasks:\n",
            tasks.len()
        );
        for (i, t) in tasks.iter().enumerate() {
            p.push_str(&format!(
                "{}. [{}, salience {:.2}] \"{}\" (suggested {:.1})\n",
                i + 1,
                t.class,
                t.salience,
                t.gist.replace('"', "'"),
                t.heuristic
            ));
        }
        p.push_str("Plan as JSON: ");
        let n = tasks.len();
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"atp": {"type": "array", "items": {"type": "number"}, "minItems": n, "maxItems": n}},
            "required": ["atp"]
        });
        (p, schema)
    }

    /// Ask for a plan.
    pub fn plan(
        &mut self,
        residency: &Arc<Residency>,
        budget: f64,
        tasks: &[sage_kernel::PlanTask],
    ) -> Option<(Vec<f64>, f64)> {
        self.asked += 1;
        let lease = residency.acquire(&self.model, "strategic planning").ok()?;
        let model = lease.model();
        let (prompt, schema) = Self::prompt(budget, tasks);
        let tokens = model.tokenize(&prompt, true).ok()?;
        let (session, _) = model.open_session(Some(1024)).ok()?;
        let params = sage_llm::GenerateParams {
            max_tokens: 16 + 8 * tasks.len() as u32,
            sampling: sage_llm::Sampling::greedy(),
            constraint: Some(sage_llm::Constraint::JsonSchema(schema)),
            ..Default::default()
        };
        let g = model.generate_tokens(session, &tokens, &params, &mut |_| sage_llm::Flow::Continue);
        model.close_session(session);
        let g = match g {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(model = %self.model, error = %e, "planning failed");
                return None;
            }
        };
        let cost = (tokens.len() + g.tokens.len()) as f64 * self.atp_per_token;
        #[derive(serde::Deserialize)]
        struct Plan {
            atp: Vec<f64>,
        }
        match serde_json::from_str::<Plan>(g.text.trim()) {
            Ok(p) => Some((p.atp, cost)),
            Err(e) => {
                self.unparsed += 1;
                tracing::warn!(model = %self.model, text = %g.text, error = %e, "the plan does not parse");
                // An empty plan makes the kernel reject it and keep the heuristic; the cost stands.
                Some((vec![], cost))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::{Script, ScriptedLoader};
    use crate::zoo::{EngineKind, ModelSpec};
    use crate::ManualClock;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn residency(reply: &str) -> Arc<Residency> {
        let spec = ModelSpec {
            id: "m".into(),
            engine: EngineKind::Gguf,
            path: Some("m.gguf".into()),
            url: None,
            remote_model: None,
            api_key_env: None,
            role: "primary".into(),
            modalities: vec!["text".into()],
            context: 2048,
            parallel: None,
            load: None,
            quality: BTreeMap::from([("text.alert".to_string(), 0.5)]),
            expected_mib: 10,
            expected_load_s: 0.1,
            keep_alive_s: 60.0,
            pinned: false,
        };
        let script = Script { reply: reply.into(), context: 2048, ..Script::new("m", 0.9) };
        let loader = Arc::new(ScriptedLoader::new(vec![script], Duration::ZERO));
        Residency::new(&[spec], 1 << 30, loader, Arc::new(ManualClock::default()))
    }

    fn tasks() -> Vec<sage_kernel::PlanTask> {
        ["URGENT: person in the corridor!", "routine lidar"]
            .iter()
            .map(|g| sage_kernel::PlanTask {
                class: "text.alert".into(),
                expert: "m".into(),
                salience: 0.9,
                trust: 0.5,
                gist: g.to_string(),
                heuristic: 2.0,
            })
            .collect()
    }

    #[test]
    fn complexity_orders_requests() {
        let simple = complexity("What is the battery level?");
        let hard = complexity(
            "Explain why the robot stopped in aisle 3, compare it with yesterday's stop, and plan the steps to avoid it; \
             how would you change the route and why?",
        );
        assert!(simple < 0.2, "{simple}");
        assert!(hard >= 0.6, "{hard}");
        assert_eq!(complexity(""), 0.0);
    }

    #[test]
    fn the_reasoner_parses_a_plan_and_charges_for_it() {
        let r = residency("{\"atp\": [3.0, 1.0]}");
        let mut reasoner = Reasoner::new("m", 0.01);
        let (plan, cost) = reasoner.plan(&r, 4.0, &tasks()).unwrap();
        assert_eq!(plan, vec![3.0, 1.0]);
        assert!(cost > 0.0);
        let (prompt, schema) = Reasoner::prompt(4.0, &tasks());
        assert!(prompt
            .contains("1. [text.alert, salience 0.90] \"URGENT: person in the corridor!\" (suggested 2.0)"));
        assert_eq!(schema["properties"]["atp"]["minItems"], 2);
    }

    #[test]
    fn an_unparsable_plan_is_handed_on_empty_so_the_kernel_keeps_its_heuristic() {
        let r = residency("I think the robot should rest.");
        let mut reasoner = Reasoner::new("m", 0.01);
        let (plan, _) = reasoner.plan(&r, 4.0, &tasks()).unwrap();
        assert!(plan.is_empty());
        assert_eq!(reasoner.unparsed, 1);
        let h = sage_kernel::atp::Allocation {
            cycle_budget: 4.0,
            grants: vec![(0, 2.0), (1, 2.0)],
            capped: vec![],
        };
        assert!(sage_kernel::atp::apply_plan(&h, &plan).is_err());
        // A model that cannot be loaded gives no plan at all.
        let mut missing = Reasoner::new("absent", 0.01);
        assert!(missing.plan(&r, 4.0, &tasks()).is_none());
    }
}
