//! Conversations: token-accurate trimming that keeps the system prompt and strict role
//! alternation, and sessions persisted in the store.
//!
//! The Python reference trimmed by message count and could leave two assistant turns in a
//! row. Here a conversation is first normalised (consecutive turns of one role are merged, so
//! roles alternate and the last turn is the user's), then the oldest user/assistant pairs are
//! dropped until the prompt, rendered and tokenized by the model that will answer, plus the
//! room reserved for the reply, fits the window.

use sage_llm::{ChatMessage, LanguageModel, Prompt, Role};
use sage_store::{NewMessage, Store, StoreError};

/// Why a conversation cannot be made to fit.
#[derive(Debug, thiserror::Error)]
pub enum TrimError {
    /// Even the system prompt and the last user turn are too long.
    #[error("model {model}: the system prompt and the last message need {need} tokens plus {reserve} for the reply; the window is {window}")]
    TooLong {
        /// Model id.
        model: String,
        /// Tokens of the smallest prompt.
        need: usize,
        /// Reserved for the reply.
        reserve: u32,
        /// Window.
        window: u32,
    },
    /// There is no user turn to answer.
    #[error("the conversation has no user message to answer")]
    NoUserTurn,
    /// Rendering or tokenizing failed.
    #[error(transparent)]
    Engine(#[from] sage_llm::GenerateError),
}

/// Merge consecutive turns of one role and drop trailing assistant turns, so that roles
/// alternate after the (single, first) system prompt and the last turn is the user's.
pub fn normalise(messages: &[ChatMessage]) -> Result<Vec<ChatMessage>, TrimError> {
    let mut system: Option<String> = None;
    let mut turns: Vec<ChatMessage> = vec![];
    for m in messages {
        match m.role {
            Role::System => match &mut system {
                Some(s) => {
                    s.push('\n');
                    s.push_str(&m.content);
                }
                None => system = Some(m.content.clone()),
            },
            role => match turns.last_mut() {
                // A tool call or result stays a message of its own.
                Some(last) if last.role == role && !last.is_tool_exchange() && !m.is_tool_exchange() => {
                    last.content.push('\n');
                    last.content.push_str(&m.content);
                }
                _ => turns.push(m.clone()),
            },
        }
    }
    // The last turn is the user's, or a tool's result (the model answers it).
    while turns.last().is_some_and(|m| !matches!(m.role, Role::User | Role::Tool)) {
        turns.pop();
    }
    // The first turn after the system prompt must be the user's.
    while turns.first().is_some_and(|m| m.role != Role::User) {
        turns.remove(0);
    }
    if turns.is_empty() {
        return Err(TrimError::NoUserTurn);
    }
    let mut out = Vec::with_capacity(turns.len() + 1);
    if let Some(s) = system {
        out.push(ChatMessage::new(Role::System, s));
    }
    out.extend(turns);
    Ok(out)
}

/// Trim `messages` to fit `window` tokens of `model` with `reserve` tokens left for the reply.
/// Returns the messages kept and their prompt tokens.
pub fn trim(
    model: &dyn LanguageModel,
    messages: &[ChatMessage],
    window: u32,
    reserve: u32,
) -> Result<(Vec<ChatMessage>, Vec<sage_llm::TokenId>), TrimError> {
    trim_tools(model, messages, &[], window, reserve)
}

/// [`trim`] for a conversation with the tools the model may call (their descriptions count
/// against the window too).
pub fn trim_tools(
    model: &dyn LanguageModel,
    messages: &[ChatMessage],
    tools: &[serde_json::Value],
    window: u32,
    reserve: u32,
) -> Result<(Vec<ChatMessage>, Vec<sage_llm::TokenId>), TrimError> {
    trim_with(model, messages, tools, None, window, reserve)
}

/// [`trim_tools`] with variables for the chat template (`chat_template_kwargs`).
pub fn trim_with(
    model: &dyn LanguageModel,
    messages: &[ChatMessage],
    tools: &[serde_json::Value],
    vars: Option<&serde_json::Map<String, serde_json::Value>>,
    window: u32,
    reserve: u32,
) -> Result<(Vec<ChatMessage>, Vec<sage_llm::TokenId>), TrimError> {
    let kept = normalise(messages)?;
    let first_turn = usize::from(kept.first().is_some_and(|m| m.role == Role::System));
    // After normalising: [system], then turns that each begin with a user message (the user's
    // question, the answer, and any tool calls and results in between). All but the last turn
    // may go, oldest first. The prompt only shrinks as more go: the fewest that fit are found
    // by bisection (log n renderings, not n: a 2,000-turn conversation used to cost minutes).
    let starts: Vec<usize> = (first_turn..kept.len()).filter(|&i| kept[i].role == Role::User).collect();
    let droppable = starts.len().saturating_sub(1);
    let without = |turns: usize| -> Vec<ChatMessage> {
        let mut k = kept[..first_turn].to_vec();
        k.extend_from_slice(&kept[starts.get(turns).copied().unwrap_or(first_turn)..]);
        k
    };
    let fits = |turns: usize| -> Result<(Vec<sage_llm::TokenId>, bool), TrimError> {
        let tokens = match vars {
            None => {
                let prompt = if tools.is_empty() {
                    Prompt::Chat(without(turns))
                } else {
                    Prompt::ChatTools(without(turns), tools.to_vec())
                };
                model.prompt_tokens(&prompt)?.0
            }
            Some(vars) => {
                let r = model
                    .render_chat_vars(&without(turns), tools, Some(vars))
                    .map_err(sage_llm::GenerateError::from)?;
                model.tokenize(&r.text, !r.has_bos).map_err(sage_llm::GenerateError::from)?
            }
        };
        let ok = tokens.len() + reserve as usize <= window as usize;
        Ok((tokens, ok))
    };
    let (tokens, ok) = fits(0)?;
    if ok {
        return Ok((kept, tokens));
    }
    let (last, ok) = fits(droppable)?;
    if !ok {
        return Err(TrimError::TooLong { model: model.info().id.clone(), need: last.len(), reserve, window });
    }
    // Invariant: `lo` pairs dropped do not fit, `hi` do.
    let (mut lo, mut hi, mut best) = (0, droppable, last);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let (tokens, ok) = fits(mid)?;
        if ok {
            (hi, best) = (mid, tokens);
        } else {
            lo = mid;
        }
    }
    Ok((without(hi), best))
}

/// Load a stored conversation as chat messages (system prompt first).
pub fn load(store: &Store, session: &str) -> Result<Vec<ChatMessage>, StoreError> {
    let mut out = vec![];
    if let Some(s) = store.session(session)? {
        if let Some(system) = s.system {
            out.push(ChatMessage::new(Role::System, system));
        }
    }
    for m in store.messages(session)? {
        let role = match m.message.role.as_str() {
            "assistant" => Role::Assistant,
            "system" => Role::System,
            _ => Role::User,
        };
        out.push(ChatMessage::new(role, m.message.content));
    }
    Ok(out)
}

/// Store a user turn.
pub fn user_turn(text: &str) -> NewMessage {
    NewMessage { role: "user".into(), content: text.into(), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::{Script, ScriptedModel};
    use proptest::prelude::*;

    fn role(i: u8) -> Role {
        match i % 3 {
            0 => Role::System,
            1 => Role::User,
            _ => Role::Assistant,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, rng_seed: proptest::test_runner::RngSeed::Fixed(11), ..ProptestConfig::default() })]
        #[test]
        fn trimming_alternates_keeps_the_system_prompt_and_fits(
            turns in proptest::collection::vec((0u8..3, 1usize..60), 1..30),
            window in 40u32..400,
            reserve in 0u32..40,
        ) {
            let m = ScriptedModel::new(Script::new("m", 0.5));
            let mut messages: Vec<ChatMessage> = turns.iter().map(|(r, n)| ChatMessage::new(role(*r), "x".repeat(*n))).collect();
            messages.push(ChatMessage::new(Role::User, "last question?"));
            let had_system = messages.iter().any(|m| m.role == Role::System);
            match trim(&m, &messages, window, reserve) {
                Ok((kept, tokens)) => {
                    prop_assert!(tokens.len() + reserve as usize <= window as usize);
                    prop_assert_eq!(kept.first().is_some_and(|m| m.role == Role::System), had_system);
                    let turns: Vec<Role> = kept.iter().filter(|m| m.role != Role::System).map(|m| m.role).collect();
                    prop_assert_eq!(turns.first(), Some(&Role::User));
                    prop_assert_eq!(turns.last(), Some(&Role::User));
                    for w in turns.windows(2) {
                        prop_assert_ne!(w[0], w[1], "two turns of one role in a row");
                    }
                    prop_assert!(kept.last().is_some_and(|m| m.content.ends_with("last question?")));
                }
                Err(TrimError::TooLong { need, .. }) => prop_assert!(need + reserve as usize > window as usize),
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
    }

    #[test]
    fn trimming_keeps_the_most_history_that_fits_in_few_renderings() {
        let m = ScriptedModel::new(Script::new("m", 0.5));
        let mut msgs = vec![ChatMessage::new(Role::System, "sys")];
        for i in 0..2000 {
            msgs.push(ChatMessage::new(Role::User, format!("question {i}")));
            msgs.push(ChatMessage::new(Role::Assistant, format!("answer {i}")));
        }
        msgs.push(ChatMessage::new(Role::User, "last?"));
        let (kept, tokens) = trim(&m, &msgs, 500, 20).unwrap();
        assert!(tokens.len() + 20 <= 500);
        // One more pair would not fit.
        let mut more = vec![kept[0].clone()];
        let dropped = (msgs.len() - kept.len()) / 2;
        more.extend_from_slice(&msgs[1 + 2 * (dropped - 1)..]);
        let (bigger, _) = m.prompt_tokens(&Prompt::Chat(more)).unwrap();
        assert!(bigger.len() + 20 > 500, "kept {} messages; one more pair fits too", kept.len());
    }

    #[test]
    fn the_reference_bug_two_assistant_turns_cannot_happen() {
        let m = ScriptedModel::new(Script::new("m", 0.5));
        let msgs = vec![
            ChatMessage::new(Role::System, "sys"),
            ChatMessage::new(Role::User, "a".repeat(100)),
            ChatMessage::new(Role::Assistant, "b".repeat(100)),
            ChatMessage::new(Role::Assistant, "c"),
            ChatMessage::new(Role::User, "d?"),
        ];
        let (kept, _) = trim(&m, &msgs, 60, 10).unwrap();
        let roles: Vec<Role> = kept.iter().map(|m| m.role).collect();
        assert_eq!(roles, vec![Role::System, Role::User]);
        assert!(matches!(normalise(&[ChatMessage::new(Role::Assistant, "hi")]), Err(TrimError::NoUserTurn)));
    }
}
