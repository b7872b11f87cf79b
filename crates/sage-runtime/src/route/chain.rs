//! Running a routing plan: the models in order, each acquired from residency, the conversation's
//! KV session found or opened (bounded per model), the prompt trimmed to its window, the LLM
//! plugin run; the first answer wins, every failure is typed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use sage_llm::{ChatMessage, Flow, GenerateError, LanguageModel, SessionId};

use super::records::{Answer, Attempt, Failure, Request};
use super::Plan;
use crate::conversation::{trim_with, TrimError};
use crate::llm::{self, LlmSettings};
use crate::residency::Residency;
use crate::zoo::ModelSpec;

/// Conversations whose engine sessions a model instance keeps; beyond it, the least recently
/// used is closed (its history is still in the request or the store; only the KV reuse is lost).
pub const MAX_CONVERSATIONS_PER_MODEL: usize = 1024;

/// Per-conversation KV sessions, keyed by conversation and model instance; bounded per model
/// (least recently used first out).
#[derive(Default)]
pub struct Sessions {
    map: BTreeMap<(String, String, u64), Open>,
    /// Lookups so far (the recency clock).
    uses: u64,
}

#[derive(Clone, Copy)]
struct Open {
    session: SessionId,
    window: u32,
    used: u64,
}

impl Sessions {
    /// The session for `conversation` on the leased model instance (opened if new; a request
    /// without a conversation gets a fresh one, not kept). Opening asks the engine, which may be
    /// in the middle of a step: the map is not locked meanwhile, so other requests' lookups do
    /// not wait for it.
    fn get(
        sessions: &Mutex<Sessions>,
        conversation: Option<&str>,
        lease: &crate::residency::Lease,
        context: u32,
    ) -> Result<(SessionId, u32, bool), GenerateError> {
        let lock = || sessions.lock().unwrap_or_else(|e| e.into_inner());
        let model = lease.model();
        let Some(c) = conversation else {
            let (s, n) = model.open_session(Some(context))?;
            return Ok((s, n, false));
        };
        let key = (c.to_string(), lease.id().to_string(), lease.generation());
        {
            let mut g = lock();
            // Sessions of an earlier load of the model are gone.
            g.map.retain(|(_, m, gen), _| m != &key.1 || *gen == key.2);
            if let Some(o) = g.touch(&key) {
                return Ok((o.session, o.window, true));
            }
        }
        let (s, n) = model.open_session(Some(context))?;
        let mut g = lock();
        // Another request opened it meanwhile: use that one.
        if let Some(other) = g.touch(&key) {
            drop(g);
            model.close_session(s);
            return Ok((other.session, other.window, true));
        }
        g.uses += 1;
        let used = g.uses;
        g.map.insert(key.clone(), Open { session: s, window: n, used });
        let evicted = g.evict(&key.1, MAX_CONVERSATIONS_PER_MODEL);
        drop(g);
        for old in evicted {
            model.close_session(old);
        }
        Ok((s, n, true))
    }

    /// The open session of `key`, marked as just used.
    fn touch(&mut self, key: &(String, String, u64)) -> Option<Open> {
        self.uses += 1;
        let uses = self.uses;
        let o = self.map.get_mut(key)?;
        o.used = uses;
        Some(*o)
    }

    /// Drop `model`'s least recently used conversations beyond `keep`; their sessions.
    fn evict(&mut self, model: &str, keep: usize) -> Vec<SessionId> {
        if self.map.len() <= keep {
            return vec![];
        }
        let mut mine: Vec<(u64, (String, String, u64))> =
            self.map.iter().filter(|(k, _)| k.1 == model).map(|(k, o)| (o.used, k.clone())).collect();
        if mine.len() <= keep {
            return vec![];
        }
        mine.sort();
        let excess = mine.len() - keep;
        mine.into_iter().take(excess).filter_map(|(_, k)| self.map.remove(&k)).map(|o| o.session).collect()
    }

    /// Conversations kept.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod session_tests {
    use super::*;

    #[test]
    fn the_least_recently_used_conversations_go_first() {
        let mut s = Sessions::default();
        let key = |c: &str, m: &str| (c.to_string(), m.to_string(), 1);
        for (i, c) in ["a", "b", "c"].iter().enumerate() {
            s.uses += 1;
            let used = s.uses;
            s.map.insert(key(c, "m"), Open { session: i as u64 + 1, window: 8, used });
        }
        s.map.insert(key("z", "other"), Open { session: 9, window: 8, used: 0 });
        assert!(s.touch(&key("a", "m")).is_some());
        assert_eq!(s.evict("m", 2), vec![2], "b was the least recently used");
        assert_eq!(s.evict("m", 2), Vec::<SessionId>::new());
        assert_eq!(s.len(), 3, "the other model's conversation stays");
    }
}

/// The prompt's tokens followed by the reply already begun, if any.
fn continue_from(
    model: &dyn LanguageModel,
    prefix: &str,
    kept: Vec<ChatMessage>,
    mut tokens: Vec<sage_llm::TokenId>,
) -> Result<(Vec<ChatMessage>, Vec<sage_llm::TokenId>), TrimError> {
    if !prefix.is_empty() {
        tokens.extend(model.tokenize(prefix, false).map_err(|e| TrimError::Engine(e.into()))?);
    }
    Ok((kept, tokens))
}

/// Try `order` in turn until one model answers. The same chain serves the router and the
/// kernel's external experts.
pub fn attempt_chain(
    residency: &Arc<Residency>,
    specs: &[ModelSpec],
    sessions: &Mutex<Sessions>,
    order: &[String],
    request: &Request,
    settings: &LlmSettings,
    mut sink: Option<&mut dyn FnMut(&str) -> Flow>,
) -> (Vec<Attempt>, Option<Answer>) {
    let mut attempts = vec![];
    for id in order {
        let Some(spec) = specs.iter().find(|s| &s.id == id) else { continue };
        let reborrowed: Option<&mut dyn FnMut(&str) -> Flow> = match &mut sink {
            Some(f) => Some(&mut **f),
            None => None,
        };
        match attempt(residency, spec, sessions, request, settings, reborrowed) {
            Ok(answer) => {
                attempts.push(Attempt { model: id.clone(), failure: None });
                return (attempts, Some(answer));
            }
            Err(failure) => {
                // A request the engine refuses is refused by every model: no use trying on.
                let stop = matches!(failure, Failure::BadRequest { .. });
                attempts.push(Attempt { model: id.clone(), failure: Some(failure) });
                if stop {
                    break;
                }
            }
        }
    }
    (attempts, None)
}

/// One model of the chain: acquire it, find the conversation's session, build the prompt within
/// its window, run the LLM plugin; the answer, or why not.
fn attempt(
    residency: &Arc<Residency>,
    spec: &ModelSpec,
    sessions: &Mutex<Sessions>,
    request: &Request,
    settings: &LlmSettings,
    sink: Option<&mut dyn FnMut(&str) -> Flow>,
) -> Result<Answer, Failure> {
    let id = &spec.id;
    if spec.embeds_only() {
        // Asked by name for generation (the router never picks it): the request is wrong.
        let model = id.clone();
        return Err(Failure::BadRequest { message: GenerateError::EmbeddingOnly { model }.to_string() });
    }
    let lease =
        residency.acquire(id, &format!("routed {} to it", request.class)).map_err(Failure::from_residency)?;
    let model = lease.model();
    let (session, window, keep) =
        Sessions::get(sessions, request.conversation.as_deref(), &lease, spec.context).map_err(
            |e| match e {
                // Asked by name for generation: the request is wrong, not the engine.
                GenerateError::EmbeddingOnly { .. } => Failure::BadRequest { message: e.to_string() },
                _ => Failure::EngineError { message: e.to_string() },
            },
        )?;
    let max_tokens = request.max_tokens.min(window / 2).max(1);
    let prompt = prompt_tokens(model, request, window, max_tokens);
    let (kept, tokens) = match prompt {
        Ok(k) => k,
        Err(e) => {
            if !keep {
                model.close_session(session);
            }
            return Err(trim_failure(e));
        }
    };
    let mut s = generation_settings(settings, request, model, &kept, max_tokens);
    hold_tool_calls(model, request, &mut s);
    let mut tokens = tokens;
    let opened = think_first(model, request, &mut tokens, &mut s)?;
    s.opened = opened;
    let mut opener = opened.then_some(sage_llm::reasoning::OPENED);
    let mut restoring = sink.map(|f| {
        move |d: &str| match opener.take() {
            Some(tag) => f(&format!("{tag}{d}")),
            None => f(d),
        }
    });
    let sink = restoring.as_mut().map(|f| f as &mut dyn FnMut(&str) -> Flow);
    let result = llm::run(model, session, window, tokens, &s, request.atp, sink);
    if !keep {
        model.close_session(session);
    }
    let r = result.map_err(|e| Failure::EngineError { message: e.to_string() })?;
    if r.failure.is_some() {
        return Err(run_failure(r));
    }
    Ok(Answer {
        model: id.clone(),
        text: match opened {
            true => format!("{}{}", sage_llm::reasoning::OPENED, r.state.text.trim()),
            false => r.state.text.trim().to_string(),
        },
        tokens: r.state.tokens.len() as u32,
        mean_nll: r.state.mean_nll(),
        quality: r.quality,
        timings: r.state.timings,
        kept_messages: kept.len(),
        telemetry: r.telemetry,
        finish: r.state.finish,
        tokens_out: r.state.generated,
    })
}

/// The prompt's messages kept and tokens within `window`, `max_tokens` left for the answer: a
/// raw request's last user turn as it is, a chat trimmed with its tools; then the prefix the
/// answer continues from.
fn prompt_tokens(
    model: &dyn LanguageModel,
    request: &Request,
    window: u32,
    max_tokens: u32,
) -> Result<(Vec<ChatMessage>, Vec<sage_llm::TokenId>), TrimError> {
    let trimmed = if request.raw {
        let text = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == sage_llm::Role::User)
            .map_or("", |m| m.content.as_str());
        match model.tokenize(text, true) {
            Ok(t) if t.len() + max_tokens as usize <= window as usize => Ok((request.messages.clone(), t)),
            Ok(t) => Err(TrimError::TooLong {
                model: model.info().id.clone(),
                need: t.len(),
                reserve: max_tokens,
                window,
            }),
            Err(e) => Err(TrimError::Engine(e.into())),
        }
    } else {
        let messages = thinking_switched(model, request);
        trim_with(model, &messages, &request.tools, template_vars(request), window, max_tokens)
    };
    trimmed.and_then(|(kept, tokens)| continue_from(model, &request.prefix, kept, tokens))
}

/// Tools offered with no constraint (`tool_choice: "auto"`): a call the model begins, in any
/// family's form, is held to the offered tools' schemas by a lazy grammar (`sage_llm::tools::
/// auto_call_grammar`); its prose stays free. Not on engines that apply no constraints (remote
/// servers), nor where the tools' schemas cannot be converted (the call is then read back as
/// before, unheld), nor on an answer continued from a prefix (its call may have begun there).
fn hold_tool_calls(model: &dyn LanguageModel, request: &Request, s: &mut LlmSettings) {
    let continued = !request.prefix.is_empty();
    if request.tools.is_empty()
        || request.raw
        || continued
        || s.params.constraint.is_some()
        || !model.constrains()
    {
        return;
    }
    match sage_llm::tools::auto_call_grammar(&request.tools) {
        Ok((grammar, triggers)) => {
            s.params.constraint = Some(sage_llm::Constraint::Grammar(grammar));
            s.params.constraint_triggers = triggers;
            s.params.constraint_gives_way = true;
        }
        Err(why) => tracing::debug!(model = %model.info().id, "tool calls not held by a grammar: {why}"),
    }
}

/// Whether the answer begins inside a thinking block (decision 0025): the template opened one
/// at the prompt's end, or the request asked for thinking (`enable_thinking: true`) and a
/// constrained answer, so the block is opened here (without it, the grammar would hold the
/// model to the answer's form from its first token: no thinking). A block's tag is restored at
/// the output's start, so every reader (streams, the final split, a peer) sees it whole; a
/// constrained answer's grammar waits for the block's end. Raw requests and continued
/// prefixes are left as they are.
fn think_first(
    model: &dyn LanguageModel,
    request: &Request,
    tokens: &mut Vec<sage_llm::TokenId>,
    s: &mut LlmSettings,
) -> Result<bool, Failure> {
    if request.raw || !request.prefix.is_empty() {
        return Ok(false);
    }
    let tail = model.detokenize(&tokens[tokens.len().saturating_sub(16)..]).unwrap_or_default();
    let mut opened = sage_llm::reasoning::prompt_opens(&tail);
    if s.params.constraint.is_none() {
        return Ok(opened);
    }
    let asked = template_vars(request).and_then(|v| v.get("enable_thinking")).and_then(|v| v.as_bool());
    let closed = tail.trim_end().ends_with(sage_llm::reasoning::CLOSE);
    if !opened && !closed && asked == Some(true) {
        let open = model
            .tokenize(sage_llm::reasoning::OPENED, false)
            .map_err(|e| Failure::EngineError { message: e.to_string() })?;
        // The window kept room for the answer; the tag takes its share of it.
        s.max_tokens = s.max_tokens.saturating_sub(open.len() as u32).max(1);
        tokens.extend(open);
        opened = true;
    }
    if opened {
        s.params.constraint_after = Some(sage_llm::reasoning::CLOSE.to_string());
    }
    Ok(opened)
}

/// The request's messages, with thinking switched by the system prompt where the request sets
/// `enable_thinking` and the model switches that way (Llama-Nemotron: "detailed thinking on").
fn thinking_switched<'a>(
    model: &dyn LanguageModel,
    request: &'a Request,
) -> std::borrow::Cow<'a, [ChatMessage]> {
    let on = template_vars(request).and_then(|v| v.get("enable_thinking")).and_then(|v| v.as_bool());
    let info = model.info();
    match on {
        Some(on)
            if sage_llm::reasoning::switched_by_system_prompt(
                info.chat_template.as_deref(),
                info.name.as_deref(),
            ) =>
        {
            sage_llm::reasoning::with_thinking_switch(&request.messages, on).into()
        }
        _ => request.messages.as_slice().into(),
    }
}

/// The request's variables for the chat template, if it gives any.
fn template_vars(request: &Request) -> Option<&serde_json::Map<String, serde_json::Value>> {
    request.params.as_ref().map(|p| &p.template_vars).filter(|v| !v.is_empty())
}

/// A prompt that could not be built, as a typed failure.
fn trim_failure(e: TrimError) -> Failure {
    match e {
        TrimError::TooLong { .. } | TrimError::NoUserTurn => {
            Failure::ContextTooLong { message: e.to_string() }
        }
        TrimError::Engine(g) => Failure::EngineError { message: g.to_string() },
    }
}

/// The generation's settings: the request's sampling parameters (log-probabilities always on,
/// for the answer's quality), its token budget, and the chat template's stop strings.
fn generation_settings(
    settings: &LlmSettings,
    request: &Request,
    model: &dyn LanguageModel,
    kept: &[ChatMessage],
    max_tokens: u32,
) -> LlmSettings {
    let mut s = settings.clone();
    if let Some(p) = &request.params {
        s.params = p.clone();
        s.params.logprobs = Some(p.logprobs.unwrap_or(0));
    }
    s.max_tokens = max_tokens;
    if !request.raw {
        if let Ok(r) = model.render_chat_vars(kept, &request.tools, template_vars(request)) {
            s.params.stop.extend(r.stop);
        }
    }
    s
}

/// A run that ended in a generation error, as a typed failure (a request the engine refuses is
/// a bad request; an overflow, a context too long; the rest, the engine's).
fn run_failure(r: llm::LlmRun) -> Failure {
    let message = r.state.error.unwrap_or_default();
    match r.failure {
        Some(GenerateError::ContextOverflow { .. }) => Failure::ContextTooLong { message },
        Some(
            GenerateError::Constraint { .. }
            | GenerateError::InvalidParams { .. }
            | GenerateError::EmptyPrompt { .. },
        ) => Failure::BadRequest { message },
        _ => Failure::EngineError { message },
    }
}

/// Runs plans without the router: residency, the zoo, per-conversation sessions and settings.
#[derive(Clone)]
pub struct Runner {
    pub(super) residency: Arc<Residency>,
    pub(super) specs: Vec<ModelSpec>,
    pub(super) sessions: Arc<Mutex<Sessions>>,
    pub(super) settings: LlmSettings,
}

impl Runner {
    /// Try the plan's models in turn until one answers.
    pub fn run(
        &self,
        plan: &Plan,
        sink: Option<&mut dyn FnMut(&str) -> Flow>,
    ) -> (Vec<Attempt>, Option<Answer>) {
        attempt_chain(
            &self.residency,
            &self.specs,
            &self.sessions,
            &plan.order,
            &plan.request,
            &self.settings,
            sink,
        )
    }
}

#[cfg(test)]
mod tool_call_tests {
    use super::*;
    use crate::scripted::{Script, ScriptedModel};

    fn request(tools: Vec<serde_json::Value>) -> Request {
        Request {
            class: "text.chat".into(),
            messages: vec![ChatMessage::new(sage_llm::Role::User, "Move to 3, 4.")],
            conversation: None,
            max_tokens: 32,
            atp: 10.0,
            complexity: None,
            params: None,
            raw: false,
            prefix: String::new(),
            tools,
        }
    }

    #[test]
    fn offered_tools_are_held_by_a_lazy_grammar_unless_something_else_constrains() {
        let model = ScriptedModel::new(Script::new("m", 0.9));
        let tool = serde_json::json!({"type": "function", "function": {"name": "move_to",
            "parameters": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}}});
        let mut s = LlmSettings::default();
        hold_tool_calls(&model, &request(vec![tool.clone()]), &mut s);
        assert!(
            matches!(&s.params.constraint, Some(sage_llm::Constraint::Grammar(g)) if g.contains("move_to"))
        );
        assert!(s.params.constraint_gives_way && s.params.constraint_triggers.len() == 5, "{:?}", s.params);
        // No tools, a raw prompt, a continued answer, or the request's own constraint: nothing added.
        let own = Some(sage_llm::Constraint::JsonSchema(serde_json::json!({"type": "object"})));
        let mut cases = vec![request(vec![]), request(vec![tool.clone()]), request(vec![tool.clone()])];
        cases[1].raw = true;
        cases[2].prefix = "[{".into();
        for r in cases {
            let mut s = LlmSettings::default();
            hold_tool_calls(&model, &r, &mut s);
            assert!(s.params.constraint.is_none() && s.params.constraint_triggers.is_empty());
        }
        let mut s = LlmSettings::default();
        s.params.constraint = own.clone();
        hold_tool_calls(&model, &request(vec![tool]), &mut s);
        assert!(s.params.constraint == own && s.params.constraint_triggers.is_empty());
    }
}
