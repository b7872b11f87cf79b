//! The OpenAI-compatible endpoints.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_stream::wrappers::ReceiverStream;

use sage_llm::{ChatMessage, Constraint, FinishReason, GenerateParams, Role, Sampling};
use sage_runtime::route::{Request, Served};

use crate::run::{first_or_error, spawn, whole, Chunk};
use crate::{admit, ApiError, App};

pub(crate) mod responses;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Text {
    One(String),
    Many(Vec<String>),
}

impl Text {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            Text::One(s) => vec![s],
            Text::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Value>),
}

#[derive(Deserialize)]
struct WireMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    tool_calls: Option<Value>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

#[derive(Deserialize)]
struct Common {
    model: String,
    #[serde(default, deserialize_with = "crate::nullable")]
    stream: bool,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    presence_penalty: Option<f32>,
    frequency_penalty: Option<f32>,
    /// llama-server's and vLLM's extensions, for clients written against them: `top_k` (0: the
    /// whole vocabulary), `min_p`, `repeat_penalty` (vLLM: `repetition_penalty`),
    /// `repeat_last_n`, and a GBNF `grammar`.
    top_k: Option<i64>,
    min_p: Option<f32>,
    #[serde(alias = "repetition_penalty")]
    repeat_penalty: Option<f32>,
    repeat_last_n: Option<u32>,
    grammar: Option<String>,
    /// llama-server's lazy grammars (`grammar_lazy`, `grammar_triggers`, `preserved_tokens`).
    #[serde(flatten)]
    lazy: crate::lazy::LazyFields,
    /// Token id (as a string) to a bias in [-100, 100].
    logit_bias: Option<std::collections::BTreeMap<String, f32>>,
    seed: Option<u32>,
    /// Choices per request: only 1 is served (refused otherwise, never silently ignored).
    n: Option<u32>,
    stop: Option<Text>,
    /// `{"include_usage": true}`: after the last choice, a chunk with no choices and the usage.
    stream_options: Option<Value>,
    /// SAGE extension: a conversation id whose KV cache is reused across requests.
    session_id: Option<String>,
    user: Option<String>,
}

impl Common {
    fn includes_usage(&self) -> bool {
        self.stream_options.as_ref().is_some_and(|o| o["include_usage"] == true)
    }
}

#[derive(Deserialize)]
struct ChatBody {
    #[serde(flatten)]
    common: Common,
    messages: Vec<WireMessage>,
    #[serde(default, deserialize_with = "crate::nullable")]
    logprobs: bool,
    top_logprobs: Option<u32>,
    response_format: Option<Value>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    /// llama-server's: `none` leaves a reasoning model's thinking in `content`; `auto` or
    /// `deepseek` (the default) give it apart as `reasoning_content`.
    reasoning_format: Option<String>,
    /// Variables for the chat template (vLLM's and llama-server's: `{"enable_thinking": false}`).
    chat_template_kwargs: Option<serde_json::Map<String, Value>>,
    /// OpenAI's: thinking off (`none`, `minimal`) or on (`low` to `xhigh`), as `enable_thinking`
    /// unless `chat_template_kwargs` sets it.
    reasoning_effort: Option<Value>,
    /// vLLM's: the most tokens a reasoning model may think before its block is closed for it.
    thinking_token_budget: Option<u32>,
    /// SAGE's: past the budget, the block closes at the thought's next line end within this
    /// many more tokens (NVIDIA's budget control for Nemotron); default 0.
    thinking_token_grace: Option<u32>,
    /// NVIDIA NIM's extensions: `max_thinking_tokens`, a budget with NIM's grace (10% of it).
    nvext: Option<NvExt>,
}

/// NVIDIA NIM's request extensions SAGE reads.
#[derive(Deserialize)]
struct NvExt {
    max_thinking_tokens: Option<u32>,
}

/// The thinking budget and its grace: vLLM's budget (no grace unless asked), else NIM's (a
/// grace of 10% of it, as NIM grants by default).
fn thinking_budget(b: &ChatBody) -> (Option<u32>, u32) {
    let nim = b.nvext.as_ref().and_then(|n| n.max_thinking_tokens);
    match (b.thinking_token_budget, nim) {
        (Some(budget), _) => (Some(budget), b.thinking_token_grace.unwrap_or(0)),
        (None, Some(budget)) => (Some(budget), b.thinking_token_grace.unwrap_or(budget / 10)),
        (None, None) => (None, 0),
    }
}

#[derive(Deserialize)]
struct CompletionBody {
    #[serde(flatten)]
    common: Common,
    prompt: Text,
    logprobs: Option<u32>,
    /// Give the prompt back before the completion.
    #[serde(default, deserialize_with = "crate::nullable")]
    echo: bool,
    /// Text after the insertion point: not served (refused, never silently ignored).
    suffix: Option<String>,
    /// Completions to choose the best of: only 1 (refused otherwise).
    best_of: Option<u32>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::invalid(format!("the body is not UTF-8: {e}"), None))?;
    serde_json::from_str(text)
        .map_err(|e| ApiError::invalid(format!("the body is not a valid request: {e}"), None))
}

/// Longest `session_id` or `user` accepted (they key conversations kept in memory).
const MAX_ID_BYTES: usize = 256;

fn params(
    app: &App,
    c: &Common,
    logprobs: Option<u32>,
    constraint: Option<Constraint>,
) -> Result<(GenerateParams, u32), ApiError> {
    let max_tokens = c.max_completion_tokens.or(c.max_tokens).unwrap_or(app.config.default_max_tokens);
    for (name, id) in [("session_id", &c.session_id), ("user", &c.user)] {
        if id.as_ref().is_some_and(|id| id.len() > MAX_ID_BYTES) {
            return Err(ApiError::invalid(format!("{name} is longer than {MAX_ID_BYTES} bytes"), Some(name)));
        }
    }
    if let Some(n) = c.n.filter(|&n| n != 1) {
        return Err(ApiError::invalid(
            format!("n = {n}: SAGE returns one choice per request (n = 1)"),
            Some("n"),
        ));
    }
    if max_tokens == 0 {
        return Err(ApiError::invalid("max_tokens must be at least 1", Some("max_tokens")));
    }
    let mut sampling = Sampling::default();
    if let Some(t) = c.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(ApiError::invalid(format!("temperature {t} is outside [0, 2]"), Some("temperature")));
        }
        sampling.temperature = t;
    }
    if let Some(p) = c.top_p {
        if !(0.0..=1.0).contains(&p) || p == 0.0 {
            return Err(ApiError::invalid(format!("top_p {p} is outside (0, 1]"), Some("top_p")));
        }
        sampling.top_p = p;
    }
    for (name, given, into) in [
        ("presence_penalty", c.presence_penalty, &mut sampling.presence_penalty),
        ("frequency_penalty", c.frequency_penalty, &mut sampling.frequency_penalty),
    ] {
        if let Some(x) = given {
            if !(-2.0..=2.0).contains(&x) {
                return Err(ApiError::invalid(format!("{name} {x} is outside [-2, 2]"), Some(name)));
            }
            *into = x;
        }
    }
    if let Some(k) = c.top_k {
        // 0 or less (llama-server's -1, vLLM's -1): the whole vocabulary.
        sampling.top_k = k.clamp(0, i64::from(u32::MAX)) as u32;
    }
    if let Some(m) = c.min_p {
        if !(0.0..=1.0).contains(&m) {
            return Err(ApiError::invalid(format!("min_p {m} is outside [0, 1]"), Some("min_p")));
        }
        sampling.min_p = m;
    }
    if let Some(r) = c.repeat_penalty {
        if !(r.is_finite() && r > 0.0) {
            return Err(ApiError::invalid(
                format!("repeat_penalty {r} must be above 0"),
                Some("repeat_penalty"),
            ));
        }
        sampling.repeat_penalty = r;
    }
    if let Some(n) = c.repeat_last_n {
        sampling.repeat_last_n = n;
    }
    let constraint = match c.grammar.as_deref().filter(|g| !g.is_empty()) {
        None => constraint,
        Some(_) if constraint.is_some() => {
            return Err(ApiError::invalid(
                "give a grammar or a response_format (or a forced tool call), not both",
                Some("grammar"),
            ))
        }
        Some(g) => Some(Constraint::Grammar(g.to_string())),
    };
    let (constraint_triggers, preserved_tokens) = c.lazy.read(constraint.as_ref())?;
    let logit_bias = logit_bias(c.logit_bias.as_ref())?;
    // No seed: a fresh one, so that asking again gives another answer (OpenAI's and
    // llama-server's behaviour); a given seed repeats its answer (see decision 0009).
    sampling.seed = c.seed.unwrap_or_else(fresh_seed);
    let stop = c.stop.as_ref().map(|s| match s {
        Text::One(x) => vec![x.clone()],
        Text::Many(v) => v.clone(),
    });
    let stop = stop.unwrap_or_default();
    check_stops(&stop, "stop")?;
    let p = GenerateParams {
        max_tokens,
        sampling,
        stop,
        logprobs,
        constraint,
        constraint_triggers,
        preserved_tokens,
        logit_bias,
        ..GenerateParams::default()
    };
    Ok((p, max_tokens))
}

/// Most stop sequences a request may give, and the longest one, bytes: every generated token is
/// checked against each (OpenAI takes 4; llama-server and Ollama set no limit).
pub(crate) const MAX_STOPS: usize = 64;
/// See [`MAX_STOPS`].
pub(crate) const MAX_STOP_BYTES: usize = 1024;

/// The stop sequences of a request, within [`MAX_STOPS`] and [`MAX_STOP_BYTES`].
pub(crate) fn check_stops(stops: &[String], param: &str) -> Result<(), ApiError> {
    if stops.len() > MAX_STOPS {
        return Err(ApiError::invalid(
            format!("{} stop sequences; at most {MAX_STOPS}", stops.len()),
            Some(param),
        ));
    }
    if let Some(s) = stops.iter().find(|s| s.len() > MAX_STOP_BYTES) {
        return Err(ApiError::invalid(
            format!("a stop sequence of {} bytes; at most {MAX_STOP_BYTES}", s.len()),
            Some(param),
        ));
    }
    Ok(())
}

/// Most entries of a `logit_bias`.
pub(crate) const MAX_LOGIT_BIAS: usize = 1024;

/// OpenAI's `logit_bias`: token ids (as strings) to biases in [-100, 100], at most
/// [`MAX_LOGIT_BIAS`]; ids the model does not have are refused by the engine.
fn logit_bias(
    given: Option<&std::collections::BTreeMap<String, f32>>,
) -> Result<Vec<(sage_llm::TokenId, f32)>, ApiError> {
    let Some(map) = given else { return Ok(vec![]) };
    if map.len() > MAX_LOGIT_BIAS {
        return Err(ApiError::invalid(
            format!("logit_bias has {} entries; at most {MAX_LOGIT_BIAS}", map.len()),
            Some("logit_bias"),
        ));
    }
    map.iter()
        .map(|(k, &b)| match k.parse::<sage_llm::TokenId>() {
            Ok(id) if (-100.0..=100.0).contains(&b) => Ok((id, b)),
            _ => Err(ApiError::invalid(
                format!("logit_bias {k:?}: {b}: give token ids with biases in [-100, 100]"),
                Some("logit_bias"),
            )),
        })
        .collect()
}

/// A seed for a request that names none: std's per-process random hash keys, advanced for
/// every new `RandomState`, hash nothing into a fresh value each call.
pub(crate) fn fresh_seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let h = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (h ^ (h >> 32)) as u32
}

pub(crate) fn check_model(app: &App, model: &str) -> Result<(), ApiError> {
    // `model@node`: a peer's model, when this node has joined a federation and sees that peer.
    let peer_model = model.split_once('@').is_some_and(|(m, node)| {
        app.federation.get().is_some_and(|f| {
            f.net
                .peers()
                .get(node)
                .and_then(|p| p.caps.as_ref())
                .is_some_and(|c| c.models.iter().any(|x| x.id == m))
        })
    });
    if model == "sage" || peer_model || app.specs.iter().any(|s| s.id == model) {
        Ok(())
    } else {
        Err(ApiError::unknown_model(model))
    }
}

/// A reasoning effort as the templates that switch thinking read it (`enable_thinking`: Qwen 3's,
/// Nemotron's; Llama-Nemotron's system prompt): `none` and `minimal` off, `low` to `xhigh` on
/// (SAGE does not tell the levels apart); `None` when no effort is given.
pub(crate) fn thinking_of_effort(effort: Option<&Value>, param: &str) -> Result<Option<bool>, ApiError> {
    match effort {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(e)) if ["none", "minimal"].contains(&e.as_str()) => Ok(Some(false)),
        Some(Value::String(e)) if ["low", "medium", "high", "xhigh"].contains(&e.as_str()) => Ok(Some(true)),
        Some(other) => Err(ApiError::invalid(
            format!("{param} {other} is not none, minimal, low, medium, high or xhigh"),
            Some(param),
        )),
    }
}

pub(crate) fn finish_reason(s: &Served) -> &'static str {
    match s.answer.as_ref().and_then(|a| a.finish) {
        Some(FinishReason::Length) => "length",
        Some(FinishReason::Cancelled) => "stop",
        _ => match s.answer.as_ref().map(|a| a.telemetry.halt_reason) {
            Some(sage_irp::HaltReason::MaxSteps | sage_irp::HaltReason::BudgetSpent) => "length",
            _ => "stop",
        },
    }
}

fn usage(s: &Served) -> Value {
    let (p, c) =
        s.answer.as_ref().map_or((0, 0), |a| (a.timings.prompt_tokens + a.timings.cached_tokens, a.tokens));
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c,
           "prompt_tokens_details": {"cached_tokens": s.answer.as_ref().map_or(0, |a| a.timings.cached_tokens)}})
}

/// The `sage` extension: which model answered, why, and every attempt.
fn extension(s: &Served) -> Value {
    json!({
        "model": s.answer.as_ref().map(|a| a.model.clone()),
        "degraded": s.degraded,
        "size_policy": s.size_policy,
        "decision": s.decision,
        "attempts": s.attempts,
        "quality": s.answer.as_ref().map(|a| a.quality),
        "mean_nll": s.answer.as_ref().and_then(|a| a.mean_nll),
    })
}

fn answered_model(s: &Served, asked: &str) -> String {
    s.answer.as_ref().map_or_else(|| asked.to_string(), |a| a.model.clone())
}

fn chat_logprobs(s: &Served) -> Value {
    let Some(a) = &s.answer else { return Value::Null };
    let content: Vec<Value> = a
        .tokens_out
        .iter()
        .map(|t| {
            json!({
                "token": t.text, "logprob": t.logprob.unwrap_or(0.0), "bytes": t.text.as_bytes(),
                "top_logprobs": t.top.iter().map(|(_, text, lp)| json!({"token": text, "logprob": lp, "bytes": text.as_bytes()})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"content": content})
}

/// The router's request for `messages` with no tools and no conversation, classed by `text`
/// (the user's last words); `raw` sends the text as it is (a completion), not through the chat
/// template.
pub(crate) fn plain_request(
    text: &str,
    messages: Vec<ChatMessage>,
    max_tokens: u32,
    p: GenerateParams,
    raw: bool,
) -> Request {
    Request {
        class: class_of(text),
        messages,
        conversation: None,
        max_tokens,
        atp: 100.0,
        complexity: None,
        params: Some(p),
        raw,
        prefix: String::new(),
        tools: vec![],
    }
}

/// A raw completion's text: the model's exact words (the router trims chat replies), cut before
/// the first stop sequence (the tokens include the one that completed it); the degraded
/// responder's reply when no model answered.
pub(crate) fn completion_text(s: &Served, stops: &[String]) -> String {
    let mut text: String = match &s.answer {
        Some(a) if !s.degraded => a.tokens_out.iter().map(|t| t.text.as_str()).collect(),
        _ => return s.reply.clone(),
    };
    if text.is_empty() {
        return s.reply.clone();
    }
    if let Some(at) = stops.iter().filter(|st| !st.is_empty()).filter_map(|st| text.find(st.as_str())).min() {
        text.truncate(at);
    }
    text
}

pub(crate) fn class_of(text: &str) -> String {
    if text.trim_end().ends_with('?') {
        "text.question".into()
    } else {
        "text.chat".into()
    }
}

/// The role of message `i` (OpenAI's `developer` is a system message).
pub(crate) fn role(i: usize, name: &str) -> Result<Role, ApiError> {
    match name {
        "system" | "developer" => Ok(Role::System),
        "user" => Ok(Role::User),
        "assistant" => Ok(Role::Assistant),
        "tool" => Ok(Role::Tool),
        other => Err(ApiError::invalid(format!("messages[{i}]: unknown role {other}"), Some("messages"))),
    }
}

#[derive(Deserialize)]
struct EmbeddingsBody {
    model: String,
    input: Text,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// `POST /v1/embeddings`.
pub(crate) async fn embeddings(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: EmbeddingsBody = parse(&body)?;
    // The official client asks for base64 (little-endian f32s) unless told otherwise.
    let base64 = match b.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                format!("encoding_format {other}: float or base64"),
                Some("encoding_format"),
            ))
        }
    };
    let e = crate::embed::embed(&app, &b.model, b.input.into_vec()).await?;
    let data: Vec<Value> = e
        .vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 { json!(crate::embed::base64_f32(v)) } else { json!(v) };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    Ok(Json(json!({"object": "list", "data": data, "model": e.model,
        "usage": {"prompt_tokens": e.tokens, "total_tokens": e.tokens}}))
    .into_response())
}

/// `GET /v1/models`: in OpenAI's list shape, with the fields Anthropic's clients read beside
/// (`type`, `display_name`, `created_at`, `has_more`, `first_id`, `last_id`).
pub(crate) async fn models(State(app): State<Arc<App>>) -> Response {
    let data = model_objects(&app);
    let first = data.first().map(|m| m["id"].clone());
    let last = data.last().map(|m| m["id"].clone());
    Json(json!({"object": "list", "data": data, "has_more": false, "first_id": first, "last_id": last}))
        .into_response()
}

/// `GET /v1/models/{id}`: one model of the list (the OpenAI clients' `models.retrieve`).
pub(crate) async fn model(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, ApiError> {
    model_objects(&app)
        .into_iter()
        .find(|m| m["id"] == id.as_str())
        .map(|m| Json(m).into_response())
        .ok_or_else(|| ApiError::unknown_model(&id))
}

/// `sage` (the router), then every zoo model with what SAGE knows of it.
fn model_objects(app: &App) -> Vec<Value> {
    let resident: Vec<String> = app.residency.resident().into_iter().map(|r| r.model).collect();
    let mut data = vec![json!({"id": "sage", "object": "model", "created": 0, "owned_by": "sage",
        "type": "model", "display_name": "sage", "created_at": "1970-01-01T00:00:00Z",
        "sage": {"router": true, "description": "SAGE chooses a model for each request"}})];
    for s in &app.specs {
        let (bytes, load_s, measured) = app.residency.cost(&s.id).unwrap_or((0, 0.0, false));
        data.push(json!({"id": s.id, "object": "model", "created": 0, "owned_by": "sage",
            "type": "model", "display_name": s.id, "created_at": "1970-01-01T00:00:00Z",
            "sage": {"engine": s.engine, "role": s.role, "context": s.context, "resident": resident.contains(&s.id),
                     "bytes": bytes, "load_s": load_s, "measured": measured, "classes": s.quality}}));
    }
    data
}

/// [`chat_history`] of messages not yet read (llama-server's `/apply-template`).
pub(crate) fn chat_history_of(wire: &[Value]) -> Result<Vec<ChatMessage>, ApiError> {
    let wire: Vec<WireMessage> = wire
        .iter()
        .enumerate()
        .map(|(i, m)| {
            WireMessage::deserialize(m).map_err(|e| {
                ApiError::invalid(format!("messages[{i}] is not a message: {e}"), Some("messages"))
            })
        })
        .collect::<Result<_, _>>()?;
    chat_history(&wire)
}

/// A chat request's messages: text parts joined, tool calls and results read.
fn chat_history(wire: &[WireMessage]) -> Result<Vec<ChatMessage>, ApiError> {
    let mut messages = Vec::with_capacity(wire.len());
    for (i, m) in wire.iter().enumerate() {
        let role = role(i, &m.role)?;
        let content = match &m.content {
            None => String::new(),
            Some(Content::Text(t)) => t.clone(),
            Some(Content::Parts(parts)) => {
                // Text models only: an image or audio part is refused, not dropped unseen.
                if let Some(p) = parts.iter().find(|p| p["type"] != "text") {
                    return Err(ApiError::invalid(
                        format!(
                            "message {i} has a {} part; SAGE's models read text only",
                            p["type"].as_str().unwrap_or("non-text")
                        ),
                        Some("messages"),
                    ));
                }
                parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n")
            }
        };
        let tool_fields = json!({"tool_calls": m.tool_calls, "tool_call_id": m.tool_call_id});
        messages.push(crate::tools::history_message(i, role, content, &tool_fields)?);
    }
    Ok(messages)
}

/// The constraint of a chat request: its `response_format`, or the schema of a forced tool call
/// (not both), checked usable.
fn chat_constraint(
    format: Option<&Value>,
    tools: Option<&crate::tools::ToolSpec>,
) -> Result<Option<Constraint>, ApiError> {
    let constraint = match format {
        None => None,
        Some(f) => match f["type"].as_str() {
            Some("text") => None,
            Some("json_object") => Some(Constraint::JsonSchema(json!({"type": "object"}))),
            Some("json_schema") => match f["json_schema"].get("schema") {
                Some(s) => Some(Constraint::JsonSchema(s.clone())),
                None => {
                    return Err(ApiError::invalid(
                        "response_format.json_schema.schema is missing",
                        Some("response_format"),
                    ))
                }
            },
            _ => {
                return Err(ApiError::invalid(
                    "response_format.type must be text, json_object or json_schema",
                    Some("response_format"),
                ))
            }
        },
    };
    with_forced_call(constraint, "response_format", tools)
}

/// A request's output `constraint` (given as the field `param`), or the schema of a forced tool
/// call (not both), checked usable.
pub(crate) fn with_forced_call(
    constraint: Option<Constraint>,
    param: &str,
    tools: Option<&crate::tools::ToolSpec>,
) -> Result<Option<Constraint>, ApiError> {
    if let Some(c) = &constraint {
        sage_llm::check_constraint(c)
            .map_err(|e| ApiError::invalid(format!("{param}'s schema is not usable: {e}"), Some(param)))?;
    }
    // A forced call is generated under the schema of the offered calls.
    let forced = tools.and_then(|t| t.constraint());
    if forced.is_some() && constraint.is_some() {
        return Err(ApiError::invalid(
            format!("tool_choice required or a named function cannot be combined with {param}"),
            Some("tool_choice"),
        ));
    }
    if let Some(c) = &forced {
        sage_llm::check_constraint(c).map_err(|e| {
            ApiError::invalid(format!("the tools' parameters are not a usable schema: {e}"), Some("tools"))
        })?;
    }
    Ok(constraint.or(forced))
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: ChatBody = parse(&body)?;
    check_model(&app, &b.common.model)?;
    if b.messages.is_empty() {
        return Err(ApiError::invalid("messages must not be empty", Some("messages")));
    }
    let messages = chat_history(&b.messages)?;
    let tools =
        crate::tools::ToolSpec::parse(b.tools.as_ref(), b.tool_choice.as_ref(), b.parallel_tool_calls)?;
    let constraint = chat_constraint(b.response_format.as_ref(), tools.as_ref())?;
    let logprobs = b.logprobs.then_some(b.top_logprobs.unwrap_or(0));
    let (mut p, max_tokens) = params(&app, &b.common, logprobs, constraint)?;
    p.template_vars = b.chat_template_kwargs.clone().unwrap_or_default();
    if let Some(on) = thinking_of_effort(b.reasoning_effort.as_ref(), "reasoning_effort")? {
        p.template_vars.entry("enable_thinking").or_insert(on.into());
    }
    (p.thinking_budget, p.thinking_grace) = thinking_budget(&b);
    let raw = match b.reasoning_format.as_deref() {
        None | Some("auto" | "deepseek" | "deepseek-legacy") => false,
        Some("none") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                format!("reasoning_format {other:?} is not none, auto or deepseek"),
                Some("reasoning_format"),
            ))
        }
    };
    let conversation = b.common.session_id.clone().or(b.common.user.clone());
    let request = chat_request(messages, conversation, p, max_tokens, tools.as_ref());
    let slot = admit(&app).await?;
    let model = b.common.model.clone();
    let id = format!("chatcmpl-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let mut rx = spawn(app.clone(), model.clone(), request, slot);
    if b.common.stream {
        let first = first_or_error(&app, &model, &mut rx).await?;
        let created = now_unix();
        let head = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]});
        let (id2, model2) = (id.clone(), model.clone());
        // Thinking apart; with tools, text that may be a call held back until it is known not to be.
        let with_tools = tools.as_ref().is_some_and(crate::tools::ToolSpec::is_offered);
        let deltas = Arc::new(std::sync::Mutex::new(crate::deltas::Deltas::new(raw, with_tools)));
        let (d1, d2, tools2) = (deltas.clone(), deltas, tools.clone());
        let delta = move |d: String| {
            let shown = d1.lock().map(|mut x| x.push(&d)).unwrap_or_default();
            shown
                .into_iter()
                .map(|p| {
                    json!({"id": id2, "object": "chat.completion.chunk", "created": created, "model": model2,
                    "choices": [{"index": 0, "delta": chat_delta(p), "finish_reason": null}]})
                })
                .collect()
        };
        let done = move |s: &Served| {
            let mut out = vec![];
            let chunk = |delta: Value| {
                json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": null}]})
            };
            let (flushed, held) = d2.lock().map(|mut x| (x.flush(), x.held())).unwrap_or_default();
            out.extend(flushed.into_iter().map(|p| chunk(chat_delta(p))));
            let (deltas, called) = crate::tools::closing_deltas(tools2.as_ref(), held, s);
            out.extend(deltas.into_iter().map(chunk));
            let finish = if called { "tool_calls" } else { finish_reason(s) };
            out.push(json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": answered_model(s, &model),
                "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                "usage": usage(s), "sage": extension(s)}));
            out
        };
        return Ok(event_stream(app, first, rx, (Some(head), b.common.includes_usage()), delta, done));
    }
    let s = whole(&app, &model, rx).await?;
    let logprobs = if b.logprobs { chat_logprobs(&s) } else { Value::Null };
    let (mut message, called) = crate::tools::whole_message(tools.as_ref(), &s);
    match (&s.reasoning, &s.answer) {
        (Some(_), Some(a)) if raw && !called => message["content"] = a.text.clone().into(),
        (Some(r), _) if !raw => message["reasoning_content"] = r.clone().into(),
        _ => {}
    }
    let finish = if called { "tool_calls" } else { finish_reason(&s) };
    Ok(Json(json!({
        "id": id, "object": "chat.completion", "created": now_unix(), "model": answered_model(&s, &model),
        "choices": [{"index": 0, "message": message, "logprobs": logprobs,
                     "finish_reason": finish}],
        "usage": usage(&s),
        "sage": extension(&s),
    }))
    .into_response())
}

/// The router's request for a chat: classed by the user's last words, with the tools offered.
pub(crate) fn chat_request(
    messages: Vec<ChatMessage>,
    conversation: Option<String>,
    p: GenerateParams,
    max_tokens: u32,
    tools: Option<&crate::tools::ToolSpec>,
) -> Request {
    let last_user = messages.iter().rev().find(|m| m.role == Role::User).map_or("", |m| m.content.as_str());
    Request {
        class: class_of(last_user),
        conversation,
        max_tokens,
        atp: 100.0,
        complexity: None,
        params: Some(p),
        raw: false,
        prefix: String::new(),
        tools: tools.map(crate::tools::ToolSpec::offered).unwrap_or_default(),
        messages,
    }
}

/// A chat stream's delta for what it may show: thinking as `reasoning_content` (DeepSeek's,
/// vLLM's and llama-server's name), the answer as `content`.
fn chat_delta(p: sage_llm::reasoning::Piece) -> Value {
    match p {
        sage_llm::reasoning::Piece::Reasoning(r) => json!({"reasoning_content": r}),
        sage_llm::reasoning::Piece::Content(c) => json!({"content": c}),
    }
}

/// A streamed answer as server-sent events: `head` first (if any), each delta through `delta`,
/// the final record through `done` (and, when `usage_chunk`, OpenAI's `include_usage` chunk: no
/// choices, the usage), then `[DONE]`.
fn event_stream(
    app: Arc<App>,
    first: Chunk,
    rx: tokio::sync::mpsc::Receiver<Chunk>,
    (head, usage_chunk): (Option<Value>, bool),
    delta: impl Fn(String) -> Vec<Value> + Send + 'static,
    done: impl Fn(&Served) -> Vec<Value> + Send + 'static,
) -> Response {
    let chunks = stream::iter([first]).chain(ReceiverStream::new(rx)).map(move |c| match c {
        Chunk::Delta(d) => delta(d).iter().map(Value::to_string).collect(),
        Chunk::Done(s) => {
            app.metrics.finish(if s.degraded { "degraded" } else { "ok" });
            let mut out = done(&s);
            if let Some(last) = out.last().filter(|_| usage_chunk) {
                let mut u = json!({"choices": [], "usage": usage(&s)});
                for key in ["id", "object", "created", "model"] {
                    u[key] = last[key].clone();
                }
                out.push(u);
            }
            let mut out: Vec<String> = out.iter().map(Value::to_string).collect();
            out.push("[DONE]".to_string());
            out
        }
    });
    let events = stream::iter(head.map(|h| h.to_string()))
        .chain(chunks.flat_map(stream::iter))
        .map(|d| Ok::<_, Infallible>(SseEvent::default().data(d)));
    Sse::new(events).into_response()
}

/// `POST /v1/completions`.
pub(crate) async fn completions(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: CompletionBody = parse(&body)?;
    check_model(&app, &b.common.model)?;
    let prompt = b.prompt.into_vec();
    if prompt.len() != 1 {
        return Err(ApiError::invalid("give exactly one prompt", Some("prompt")));
    }
    let prompt = prompt.into_iter().next().unwrap_or_default();
    if prompt.is_empty() {
        return Err(ApiError::invalid("the prompt is empty", Some("prompt")));
    }
    if b.suffix.as_deref().is_some_and(|x| !x.is_empty()) {
        return Err(ApiError::invalid(
            "suffix: SAGE completes text forward only (no insertion)",
            Some("suffix"),
        ));
    }
    if let Some(n) = b.best_of.filter(|&n| n != 1) {
        return Err(ApiError::invalid(format!("best_of = {n}: SAGE makes one completion"), Some("best_of")));
    }
    if b.echo && b.logprobs.is_some() {
        return Err(ApiError::invalid(
            "echo with logprobs: the prompt's log-probabilities are not given",
            Some("echo"),
        ));
    }
    let echoed = if b.echo { prompt.clone() } else { String::new() };
    let mut common = b.common;
    common.max_tokens = common.max_tokens.or(Some(16));
    let (p, max_tokens) = params(&app, &common, b.logprobs, None)?;
    let stops = p.stop.clone();
    let messages = vec![ChatMessage::new(Role::User, prompt.clone())];
    let request = Request {
        conversation: common.session_id.clone(),
        ..plain_request(&prompt, messages, max_tokens, p, true)
    };
    let slot = admit(&app).await?;
    let model = common.model.clone();
    let id = format!("cmpl-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let mut rx = spawn(app.clone(), model.clone(), request, slot);
    if common.stream {
        let first = first_or_error(&app, &model, &mut rx).await?;
        let created = now_unix();
        // With `echo`, the prompt comes first, as a piece of its own.
        let head = b.echo.then(|| {
            json!({"id": id, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": 0, "text": echoed, "logprobs": null, "finish_reason": null}]})
        });
        let (id2, model2) = (id.clone(), model.clone());
        let delta = move |d: String| {
            vec![json!({"id": id2, "object": "text_completion", "created": created, "model": model2,
                "choices": [{"index": 0, "text": d, "logprobs": null, "finish_reason": null}]})]
        };
        let done = move |s: &Served| {
            vec![
                json!({"id": id, "object": "text_completion", "created": created, "model": answered_model(s, &model),
                "choices": [{"index": 0, "text": "", "logprobs": null, "finish_reason": finish_reason(s)}],
                "usage": usage(s), "sage": extension(s)}),
            ]
        };
        return Ok(event_stream(app, first, rx, (head, common.includes_usage()), delta, done));
    }
    let s = whole(&app, &model, rx).await?;
    let logprobs = match (&s.answer, b.logprobs) {
        (Some(a), Some(_)) => {
            let mut offset = 0;
            let mut offsets = vec![];
            for t in &a.tokens_out {
                offsets.push(offset);
                offset += t.text.len();
            }
            json!({
                "tokens": a.tokens_out.iter().map(|t| t.text.clone()).collect::<Vec<_>>(),
                "token_logprobs": a.tokens_out.iter().map(|t| t.logprob).collect::<Vec<_>>(),
                "top_logprobs": a.tokens_out.iter().map(|t| t.top.iter().map(|(_, text, lp)| (text.clone(), json!(lp))).collect::<serde_json::Map<String, Value>>()).collect::<Vec<_>>(),
                "text_offset": offsets,
            })
        }
        _ => Value::Null,
    };
    let text = echoed + &completion_text(&s, &stops);
    Ok(Json(json!({
        "id": id, "object": "text_completion", "created": now_unix(), "model": answered_model(&s, &model),
        "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish_reason(&s)}],
        "usage": usage(&s),
        "sage": extension(&s),
    }))
    .into_response())
}
