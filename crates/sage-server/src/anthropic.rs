//! Anthropic's Messages API (`POST /v1/messages`, `POST /v1/messages/count_tokens`), as
//! llama-server and Ollama answer it, so that tools written against Anthropic's SDK reach local
//! models: the same router, queue, sampling and tool reading as the OpenAI API, in Anthropic's
//! shapes, events and errors (decision 0024).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use sage_llm::reasoning::Piece;
use sage_llm::{ChatMessage, Constraint, FinishReason, GenerateParams, Role, Sampling, ToolCall};
use sage_runtime::route::Served;

use crate::deltas::Deltas;
use crate::openai::{check_model, check_stops, finish_reason, fresh_seed};
use crate::run::{first_or_error, spawn, whole, Chunk};
use crate::tools::ToolSpec;
use crate::{admit, ApiError, App};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// An error in Anthropic's shape: `{"type": "error", "error": {"type", "message"}}`.
pub(crate) struct AnthropicError(pub ApiError);

impl From<ApiError> for AnthropicError {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

/// Anthropic's name for an error of this status.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The body of an error in Anthropic's shape.
pub(crate) fn error_body(e: &ApiError) -> Value {
    json!({"type": "error", "error": {"type": error_type(e.status), "message": e.message}})
}

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        (self.0.status, Json(error_body(&self.0))).into_response()
    }
}

type Answer = Result<Response, AnthropicError>;

#[derive(Deserialize)]
struct MessagesBody {
    model: String,
    max_tokens: Option<u32>,
    messages: Vec<Value>,
    system: Option<Value>,
    stop_sequences: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::nullable")]
    stream: bool,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<i64>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    thinking: Option<Value>,
    /// `format`: a JSON schema the answer follows; `effort` is refused.
    output_config: Option<Value>,
    mcp_servers: Option<Value>,
    container: Option<Value>,
}

fn bad(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::invalid(message, Some(param))
}

fn parse(body: &Bytes) -> Result<MessagesBody, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| bad(format!("the body is not UTF-8: {e}"), "body"))?;
    serde_json::from_str(text).map_err(|e| bad(format!("the body is not a valid request: {e}"), "body"))
}

/// The text of `system`: a string, or text blocks.
fn system_text(system: Option<&Value>) -> Result<Option<String>, ApiError> {
    match system {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(Value::Array(blocks)) => {
            let texts = blocks
                .iter()
                .map(|b| match (b["type"].as_str(), b["text"].as_str()) {
                    (Some("text"), Some(t)) => Ok(t),
                    _ => Err(bad("system blocks must be text blocks", "system")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(texts.join("\n")).filter(|s| !s.is_empty()))
        }
        Some(_) => Err(bad("system must be text or a list of text blocks", "system")),
    }
}

/// A tool result's content: text, or text blocks (an image in a result is refused).
fn result_text(i: usize, content: &Value) -> Result<String, ApiError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match (b["type"].as_str(), b["text"].as_str()) {
                (Some("text"), Some(t)) => Ok(t.to_string()),
                (kind, _) => Err(bad(
                    format!(
                        "messages[{i}]: a tool_result holds a block of type {}; SAGE's models read text only",
                        kind.unwrap_or("none")
                    ),
                    "messages",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|t| t.join("\n")),
        _ => Err(bad(format!("messages[{i}]: a tool_result's content must be text or blocks"), "messages")),
    }
}

/// One message of the conversation: a user message's tool results become tool messages
/// (before its text), an assistant's `tool_use` blocks its calls.
fn read_message(i: usize, m: &Value, out: &mut Vec<ChatMessage>) -> Result<(), ApiError> {
    let role = match m["role"].as_str() {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        other => {
            return Err(bad(
                format!("messages[{i}].role must be user or assistant, got {other:?}"),
                "messages",
            ))
        }
    };
    let blocks = match &m["content"] {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(b) => b.clone(),
        _ => return Err(bad(format!("messages[{i}].content must be text or a list of blocks"), "messages")),
    };
    let mut texts = vec![];
    let mut calls = vec![];
    for b in &blocks {
        match (role, b["type"].as_str()) {
            (_, Some("text")) => texts.push(b["text"].as_str().unwrap_or("").to_string()),
            (Role::User, Some("tool_result")) => {
                let id = b["tool_use_id"]
                    .as_str()
                    .ok_or_else(|| bad(format!("messages[{i}]: a tool_result needs tool_use_id"), "messages"))?;
                let mut text = result_text(i, &b["content"])?;
                if b["is_error"] == true {
                    text = format!("error: {text}");
                }
                let mut t = ChatMessage::new(Role::Tool, text);
                t.tool_call_id = Some(id.to_string());
                out.push(t);
            }
            // An earlier turn's thinking, sent back as clients do: not shown to the model again
            // (Anthropic's models and the templates that strip `<think>` from history do the same).
            (Role::Assistant, Some("thinking" | "redacted_thinking")) => {}
            (Role::Assistant, Some("tool_use")) => calls.push(json!({"id": b["id"], "function": {
                "name": b["name"], "arguments": b.get("input").filter(|v| !v.is_null()).unwrap_or(&json!({})).to_string()}})),
            (_, kind) => {
                return Err(bad(
                    format!(
                        "messages[{i}] has a block of type {}; SAGE reads text, tool_use and tool_result blocks",
                        kind.unwrap_or("none")
                    ),
                    "messages",
                ))
            }
        }
    }
    let text = texts.join("\n");
    if role == Role::User && text.is_empty() && blocks.iter().any(|b| b["type"] == "tool_result") {
        return Ok(());
    }
    let fields = json!({"tool_calls": calls});
    let m = crate::tools::history_message(i, role, text, &fields)
        .map_err(|e| ApiError { param: Some("messages".into()), ..e })?;
    out.push(m);
    Ok(())
}

/// The conversation: `system` first, then every message.
fn conversation(system: Option<&Value>, messages: &[Value]) -> Result<Vec<ChatMessage>, ApiError> {
    if messages.is_empty() {
        return Err(bad("messages must not be empty", "messages"));
    }
    let mut out = Vec::with_capacity(messages.len() + 1);
    if let Some(s) = system_text(system)? {
        out.push(ChatMessage::new(Role::System, s));
    }
    for (i, m) in messages.iter().enumerate() {
        read_message(i, m, &mut out)?;
    }
    Ok(out)
}

/// Anthropic's tools and `tool_choice` in the chat form `ToolSpec` reads.
fn tool_spec(tools: Option<&Vec<Value>>, choice: Option<&Value>) -> Result<Option<ToolSpec>, ApiError> {
    let chat_tools = tools
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, t)| match t["type"].as_str() {
                    None | Some("custom") => {
                        let mut f = json!({"name": t["name"]});
                        if let Some(d) = t.get("description").filter(|d| !d.is_null()) {
                            f["description"] = d.clone();
                        }
                        if let Some(s) = t.get("input_schema").filter(|s| !s.is_null()) {
                            f["parameters"] = s.clone();
                        }
                        Ok(json!({"type": "function", "function": f}))
                    }
                    Some(kind) => Err(bad(
                        format!("tools[{i}] is Anthropic's {kind} tool; SAGE calls the client's own (custom) tools only"),
                        "tools",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let parallel = choice.map(|c| c["disable_parallel_tool_use"] != true);
    let chat_choice = match choice.map(|c| (c["type"].as_str(), c)) {
        None => None,
        Some((Some("auto"), _)) => Some(json!("auto")),
        Some((Some("any"), _)) => Some(json!("required")),
        Some((Some("none"), _)) => Some(json!("none")),
        Some((Some("tool"), c)) => Some(json!({"type": "function", "function": {"name": c["name"]}})),
        Some(_) => return Err(bad("tool_choice.type must be auto, any, tool or none", "tool_choice")),
    };
    ToolSpec::parse(chat_tools.as_ref(), chat_choice.as_ref(), parallel)
}

/// Sampling, limits and the forced call's constraint.
fn params(b: &MessagesBody, tools: Option<&ToolSpec>) -> Result<GenerateParams, ApiError> {
    let max_tokens = b.max_tokens.ok_or_else(|| bad("max_tokens is required", "max_tokens"))?;
    if max_tokens == 0 {
        return Err(bad("max_tokens must be at least 1", "max_tokens"));
    }
    let mut sampling = Sampling { seed: fresh_seed(), ..Sampling::default() };
    if let Some(t) = b.temperature {
        if !(0.0..=1.0).contains(&t) {
            return Err(bad(format!("temperature {t} is outside [0, 1]"), "temperature"));
        }
        sampling.temperature = t;
    }
    if let Some(p) = b.top_p {
        if !(p > 0.0 && p <= 1.0) {
            return Err(bad(format!("top_p {p} is outside (0, 1]"), "top_p"));
        }
        sampling.top_p = p;
    }
    if let Some(k) = b.top_k {
        sampling.top_k = k.clamp(0, i64::from(u32::MAX)) as u32;
    }
    let stop = b.stop_sequences.clone().unwrap_or_default();
    check_stops(&stop, "stop_sequences")?;
    let format = match b.output_config.as_ref().map(|c| &c["format"]).filter(|f| !f.is_null()) {
        None => None,
        Some(f) => match (f["type"].as_str(), f.get("schema")) {
            (Some("json_schema"), Some(schema)) if schema.is_object() => {
                Some(Constraint::JsonSchema(schema.clone()))
            }
            _ => {
                return Err(bad(
                    "output_config.format must be {\"type\": \"json_schema\", \"schema\": {...}}",
                    "output_config",
                ))
            }
        },
    };
    let constraint = crate::openai::with_forced_call(format, "output_config.format", tools)?;
    // Asked or refused thinking, as the templates that switch it read it (Qwen 3's, Nemotron's).
    let mut template_vars = serde_json::Map::new();
    let thinking = thinking_of(b)?;
    if let Some(on) = thinking.switch {
        template_vars.insert("enable_thinking".into(), on.into());
    }
    Ok(GenerateParams {
        max_tokens,
        sampling,
        stop,
        constraint,
        template_vars,
        thinking_budget: thinking.budget,
        ..GenerateParams::default()
    })
}

/// Fields SAGE does not serve: refused by name, never ignored.
fn refuse_unserved(b: &MessagesBody) -> Result<(), ApiError> {
    if let Some(effort) = b.output_config.as_ref().map(|c| &c["effort"]).filter(|e| !e.is_null()) {
        return Err(bad(
            format!("output_config.effort {effort}: SAGE's models take no effort setting"),
            "output_config",
        ));
    }
    if b.mcp_servers.as_ref().is_some_and(|m| m.as_array().is_some_and(|a| !a.is_empty())) {
        return Err(bad("mcp_servers: SAGE connects to no MCP servers", "mcp_servers"));
    }
    if b.container.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(bad("container: SAGE runs no code containers", "container"));
    }
    Ok(())
}

/// Why the answer ended, as Anthropic says it, and the stop sequence that ended it.
fn stop_reason(s: &Served, stops: &[String], called: bool) -> (&'static str, Option<String>) {
    if called {
        return ("tool_use", None);
    }
    if finish_reason(s) == "length" {
        return ("max_tokens", None);
    }
    let raw: String =
        s.answer.as_ref().map(|a| a.tokens_out.iter().map(|t| t.text.as_str()).collect()).unwrap_or_default();
    let matched = s.answer.as_ref().is_some_and(|a| a.finish == Some(FinishReason::Stop));
    let hit = stops
        .iter()
        .filter(|st| !st.is_empty())
        .filter_map(|st| raw.find(st.as_str()).map(|at| (at, st)))
        .min();
    match hit.filter(|_| matched) {
        Some((_, st)) => ("stop_sequence", Some(st.clone())),
        None => ("end_turn", None),
    }
}

fn usage(s: &Served) -> Value {
    let (p, cached, c) =
        s.answer.as_ref().map_or((0, 0, 0), |a| (a.timings.prompt_tokens, a.timings.cached_tokens, a.tokens));
    json!({"input_tokens": p, "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0, "output_tokens": c})
}

fn tool_use(c: &ToolCall) -> Value {
    let input: Value =
        serde_json::from_str(&c.arguments).ok().filter(Value::is_object).unwrap_or_else(|| json!({}));
    json!({"type": "tool_use", "id": tool_use_id(c), "name": c.name, "input": input})
}

fn tool_use_id(c: &ToolCall) -> String {
    format!("toolu_{}", c.id.trim_start_matches("call_"))
}

/// A finished answer's text and calls: the degraded responder's reply, or the calls (after any
/// text before them), or the text.
fn answer_parts(tools: Option<&ToolSpec>, s: &Served) -> (String, Vec<ToolCall>) {
    match (s.degraded, tools.and_then(|t| t.calls(&s.reply))) {
        (false, Some((before, calls))) => (before, calls),
        _ => (s.reply.clone(), vec![]),
    }
}

/// `POST /v1/messages`.
pub(crate) async fn messages(State(app): State<Arc<App>>, body: Bytes) -> Answer {
    let b = parse(&body)?;
    check_model(&app, &b.model)?;
    refuse_unserved(&b)?;
    let messages = conversation(b.system.as_ref(), &b.messages)?;
    let tools = tool_spec(b.tools.as_ref(), b.tool_choice.as_ref())?;
    let p = params(&b, tools.as_ref())?;
    let stops = p.stop.clone();
    let max_tokens = p.max_tokens;
    let request = crate::openai::chat_request(messages, None, p, max_tokens, tools.as_ref());
    let id = format!("msg_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let slot = admit(&app).await?;
    let mut rx = spawn(app.clone(), b.model.clone(), request, slot);
    if b.stream {
        let first = first_or_error(&app, &b.model, &mut rx).await?;
        let with_tools = tools.as_ref().is_some_and(ToolSpec::is_offered);
        let emitter = Emitter {
            app: app.clone(),
            id,
            model: b.model.clone(),
            tools,
            stops,
            deltas: Deltas::new(false, with_tools),
            thinking: wants_thinking(&b).then(String::new),
            open: None,
            index: 0,
        };
        return Ok(event_stream(emitter, first, rx));
    }
    let s = whole(&app, &b.model, rx).await?;
    let (text, calls) = answer_parts(tools.as_ref(), &s);
    let mut content = vec![];
    if let Some(r) = s.reasoning.as_ref().filter(|_| wants_thinking(&b)) {
        content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
    }
    if !text.is_empty() || calls.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    content.extend(calls.iter().map(tool_use));
    let (reason, sequence) = stop_reason(&s, &stops, !calls.is_empty());
    let model = s.answer.as_ref().map_or(b.model.clone(), |a| a.model.clone());
    Ok(Json(json!({
        "id": id, "type": "message", "role": "assistant", "model": model, "content": content,
        "stop_reason": reason, "stop_sequence": sequence, "usage": usage(&s), "sage": routing_record(&s),
    }))
    .into_response())
}

/// What a request's `thinking` asks: thinking switched on or off (or left to the model), and
/// whether the answer shows it.
struct Thinking {
    switch: Option<bool>,
    show: bool,
    /// `budget_tokens`: the most tokens the thinking may take before its block is closed.
    budget: Option<u32>,
}

/// `thinking`: `enabled` (and `between_tools`) switch it on, `disabled` off, `adaptive` leaves it
/// to the model; it is shown unless `display` is `omitted` (SAGE then leaves the block out) or
/// thinking is off or not asked for (SAGE cannot stop a model from thinking; it leaves it out).
fn thinking_of(b: &MessagesBody) -> Result<Thinking, ApiError> {
    let Some(t) = b.thinking.as_ref().filter(|t| !t.is_null()) else {
        return Ok(Thinking { switch: None, show: false, budget: None });
    };
    let budget = match t.get("budget_tokens").filter(|b| !b.is_null()) {
        None => None,
        Some(v) => match v.as_u64().and_then(|b| u32::try_from(b).ok()) {
            Some(b) => Some(b),
            None => {
                return Err(bad(format!("thinking.budget_tokens {v} is not a count of tokens"), "thinking"))
            }
        },
    };
    let shown = match t.get("display").filter(|d| !d.is_null()) {
        None => true,
        Some(d) if d == "summarized" => true,
        Some(d) if d == "omitted" => false,
        Some(d) => return Err(bad(format!("thinking.display {d} is not summarized or omitted"), "thinking")),
    };
    match t["type"].as_str() {
        Some("enabled" | "between_tools") => Ok(Thinking { switch: Some(true), show: shown, budget }),
        Some("adaptive") => Ok(Thinking { switch: None, show: shown, budget }),
        Some("disabled") => Ok(Thinking { switch: Some(false), show: false, budget: None }),
        _ => Err(bad(
            format!("thinking.type {} is not enabled, adaptive, disabled or between_tools", t["type"]),
            "thinking",
        )),
    }
}

/// Whether the answer shows a reasoning model's thinking (see [`thinking_of`]).
fn wants_thinking(b: &MessagesBody) -> bool {
    thinking_of(b).is_ok_and(|t| t.show)
}

/// The `sage` routing record, as on the OpenAI API.
fn routing_record(s: &Served) -> Value {
    json!({"model": s.answer.as_ref().map(|a| a.model.clone()), "degraded": s.degraded,
           "decision": s.decision, "attempts": s.attempts})
}

/// The events of a streamed message, as Anthropic names them.
struct Emitter {
    app: Arc<App>,
    id: String,
    model: String,
    tools: Option<ToolSpec>,
    stops: Vec<String>,
    deltas: Deltas,
    /// Thinking seen, not yet given as its block (before the text), when the request asks for it.
    thinking: Option<String>,
    /// The text block being streamed (its index), if one is open.
    open: Option<usize>,
    /// The next block's index.
    index: usize,
}

type Event = (&'static str, Value);

impl Emitter {
    fn start(&self) -> Vec<Event> {
        let message = json!({"id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0}});
        vec![
            ("message_start", json!({"type": "message_start", "message": message})),
            ("ping", json!({"type": "ping"})),
        ]
    }

    fn text(&mut self, d: &str) -> Vec<Event> {
        let mut out = vec![];
        if d.is_empty() {
            return out;
        }
        let index = match self.open {
            Some(i) => i,
            None => {
                let i = self.index;
                self.index += 1;
                self.open = Some(i);
                out.push((
                    "content_block_start",
                    json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}),
                ));
                i
            }
        };
        out.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": d}}),
        ));
        out
    }

    fn delta(&mut self, d: &str) -> Vec<Event> {
        let pieces = self.deltas.push(d);
        self.show(pieces)
    }

    /// Thinking is kept for its block; the answer's text first gives that block, then streams.
    fn show(&mut self, pieces: Vec<Piece>) -> Vec<Event> {
        let mut out = vec![];
        for p in pieces {
            match (p, self.thinking.as_mut()) {
                (Piece::Reasoning(r), Some(t)) => t.push_str(&r),
                (Piece::Reasoning(_), None) => {}
                (Piece::Content(c), _) => {
                    out.extend(self.thinking_block());
                    out.extend(self.text(&c));
                }
            }
        }
        out
    }

    /// The thinking block of the thinking seen so far, if any.
    fn thinking_block(&mut self) -> Vec<Event> {
        let Some(t) = self.thinking.as_mut().filter(|t| !t.is_empty()).map(std::mem::take) else {
            return vec![];
        };
        let i = self.index;
        self.index += 1;
        vec![
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": i,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i, "delta": {"type": "thinking_delta", "thinking": t}}),
            ),
            ("content_block_stop", json!({"type": "content_block_stop", "index": i})),
        ]
    }

    fn close_text(&mut self) -> Vec<Event> {
        match self.open.take() {
            Some(i) => vec![("content_block_stop", json!({"type": "content_block_stop", "index": i}))],
            None => vec![],
        }
    }

    fn call(&mut self, c: &ToolCall) -> Vec<Event> {
        let i = self.index;
        self.index += 1;
        let input = tool_use(c)["input"].to_string();
        vec![
            (
                "content_block_start",
                json!({"type": "content_block_start", "index": i,
                "content_block": {"type": "tool_use", "id": tool_use_id(c), "name": c.name, "input": {}}}),
            ),
            (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": i,
                "delta": {"type": "input_json_delta", "partial_json": input}}),
            ),
            ("content_block_stop", json!({"type": "content_block_stop", "index": i})),
        ]
    }

    fn finish(&mut self, s: &Served) -> Vec<Event> {
        if let Some(e) = crate::run::failure(&self.model, s) {
            self.app.metrics.finish("error");
            return vec![("error", error_body(&e))];
        }
        self.app.metrics.finish(if s.degraded { "degraded" } else { "ok" });
        let flushed = self.deltas.flush();
        let mut out = self.show(flushed);
        out.extend(self.thinking_block());
        let held = self.deltas.held();
        let calls = if s.degraded {
            // Nothing of a degraded answer was a model's: the reply is all of it.
            out.extend(self.text(&s.reply));
            vec![]
        } else {
            match self.tools.as_ref().filter(|_| !held.is_empty()).and_then(|t| t.calls(&s.reply)) {
                Some((before, calls)) => {
                    out.extend(self.text(&before));
                    calls
                }
                None => {
                    out.extend(self.text(&held));
                    vec![]
                }
            }
        };
        if self.index == 0 && calls.is_empty() {
            // Every message has a block, if nothing else an empty text.
            out.push((
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            ));
            self.open = Some(0);
            self.index = 1;
        }
        out.extend(self.close_text());
        for c in &calls {
            out.extend(self.call(c));
        }
        let (reason, sequence) = stop_reason(s, &self.stops, !calls.is_empty());
        out.push((
            "message_delta",
            json!({"type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": sequence}, "usage": usage(s)}),
        ));
        out.push(("message_stop", json!({"type": "message_stop"})));
        out
    }
}

fn event_stream(mut emitter: Emitter, first: Chunk, rx: tokio::sync::mpsc::Receiver<Chunk>) -> Response {
    let head = emitter.start();
    crate::named_sse::stream(head, first, rx, move |c| match c {
        Chunk::Delta(d) => emitter.delta(&d),
        Chunk::Done(s) => emitter.finish(&s),
    })
}

/// `POST /v1/messages/count_tokens`: the prompt's tokens as the model would see it (its chat
/// template with the tools); `sage` counts with the zoo's first model.
pub(crate) async fn count_tokens(State(app): State<Arc<App>>, body: Bytes) -> Answer {
    let text = std::str::from_utf8(&body).map_err(|e| bad(format!("the body is not UTF-8: {e}"), "body"))?;
    let mut v: Value = serde_json::from_str(text)
        .map_err(|e| bad(format!("the body is not a valid request: {e}"), "body"))?;
    // Counting needs no max_tokens.
    if v.is_object() && v.get("max_tokens").is_none_or(Value::is_null) {
        v["max_tokens"] = json!(1);
    }
    let b: MessagesBody = serde_json::from_value(v)
        .map_err(|e| bad(format!("the body is not a valid request: {e}"), "body"))?;
    check_model(&app, &b.model)?;
    let messages = conversation(b.system.as_ref(), &b.messages)?;
    let tools = tool_spec(b.tools.as_ref(), b.tool_choice.as_ref())?;
    let offered = tools.as_ref().map(ToolSpec::offered).unwrap_or_default();
    let model = crate::llama_server::model_of(&app, Some(&b.model))?;
    let n = crate::llama_server::with_model(&app, model, move |m| {
        let rendered = m.render_chat_tools(&messages, &offered).map_err(|e| {
            ApiError::invalid(format!("the conversation cannot be rendered: {e}"), Some("messages"))
        })?;
        let ids = m
            .tokenize(&rendered.text, !rendered.has_bos)
            .map_err(|e| ApiError::invalid(e.to_string(), Some("messages")))?;
        Ok(ids.len())
    })
    .await?;
    Ok(Json(json!({"input_tokens": n})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_become_the_conversation() {
        let messages = vec![
            json!({"role": "user", "content": "Weather in Oslo?"}),
            json!({"role": "assistant", "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]}),
            json!({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "4 C"}]},
                {"type": "text", "text": "And tomorrow?"}]}),
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "x", "is_error": true}]}),
        ];
        let system = json!([{"type": "text", "text": "Be brief."}]);
        let m = conversation(Some(&system), &messages).unwrap();
        let roles: Vec<Role> = m.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::System, Role::User, Role::Assistant, Role::Tool, Role::User, Role::Tool]);
        assert_eq!(m[2].content, "Let me look.");
        assert_eq!(
            (m[2].tool_calls[0].name.as_str(), m[2].tool_calls[0].arguments.as_str()),
            ("get_weather", "{\"city\":\"Oslo\"}")
        );
        assert_eq!((m[3].tool_call_id.as_deref(), m[3].content.as_str()), (Some("toolu_1"), "4 C"));
        assert_eq!(m[5].content, "error: x");
    }

    #[test]
    fn what_is_not_text_is_refused_by_name() {
        let image = vec![json!({"role": "user", "content": [{"type": "image", "source": {}}]})];
        assert!(conversation(None, &image).unwrap_err().message.contains("image"));
        // An earlier turn's thinking sent back is dropped, not refused: multi-turn clients do it.
        let thinking = vec![
            json!({"role": "user", "content": "Dock?"}),
            json!({"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": ""},
                                                    {"type": "text", "text": "Free."}]}),
        ];
        let m = conversation(None, &thinking).unwrap();
        assert_eq!((m.len(), m[1].content.as_str()), (2, "Free."));
        let in_user = vec![json!({"role": "user", "content": [{"type": "thinking", "thinking": "hm"}]})];
        assert!(conversation(None, &in_user).unwrap_err().message.contains("thinking"));
        assert!(conversation(None, &[]).is_err());
        assert!(conversation(None, &[json!({"role": "system", "content": "x"})]).is_err());
        let server = vec![json!({"type": "web_search_20250305", "name": "web_search"})];
        assert!(tool_spec(Some(&server), None).unwrap_err().message.contains("web_search_20250305"));
    }

    #[test]
    fn tool_choices_read_as_chat_choices() {
        let tools = vec![json!({"name": "get_weather", "input_schema": {"type": "object"}})];
        let any = tool_spec(Some(&tools), Some(&json!({"type": "any"}))).unwrap().unwrap();
        assert!(any.constraint().is_some() && any.parallel);
        let one = tool_spec(
            Some(&tools),
            Some(&json!({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true})),
        )
        .unwrap()
        .unwrap();
        assert!(one.constraint().is_some() && !one.parallel);
        assert!(!tool_spec(Some(&tools), Some(&json!({"type": "none"}))).unwrap().unwrap().is_offered());
        assert!(tool_spec(Some(&tools), Some(&json!({"type": "tool", "name": "nope"}))).is_err());
        assert!(tool_spec(Some(&tools), Some(&json!({"type": "sometimes"}))).is_err());
    }

    #[test]
    fn errors_take_anthropics_names() {
        let e = ApiError::unknown_model("claude-x");
        assert_eq!(error_body(&e)["error"]["type"], "not_found_error");
        assert_eq!(error_body(&ApiError::busy(1, 1))["error"]["type"], "rate_limit_error");
        assert_eq!(error_body(&ApiError::invalid("x", None))["type"], "error");
    }
}
