//! `sage ask`: a question about SAGE's own state and memories, answered through the router with
//! the relevant memories retrieved into the prompt.

use sage_kernel::State;
use sage_llm::{ChatMessage, Role};
use sage_store::Store;

use crate::route::{Request, Router, Served};

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
        prefix: String::new(),
        tools: vec![],
    };
    let served = router.serve(&request, state, None);
    if let Err(e) = store.log_decision(0.0, "ask", &served) {
        tracing::warn!(error = %e, "logging an answer failed");
    }
    (served, memories)
}
