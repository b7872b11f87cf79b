//! OpenAI's Responses API (`POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`): the
//! same router, sampling, constraints and tools as `/v1/chat/completions`, in the Responses
//! shape: `input` items and `instructions` in, `output` items out, typed stream events, and
//! `previous_response_id` over a bounded store of recent responses (decision 0023).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use sage_llm::reasoning::Piece;
use sage_llm::{ChatMessage, Constraint, Role, ToolCall};
use sage_runtime::route::Served;

use super::{extension, finish_reason, now_unix, params, parse, role, with_forced_call, Common, NEXT_ID};
use crate::deltas::Deltas;
use crate::run::{failure, first_or_error, spawn, whole, Chunk};
use crate::tools::ToolSpec;
use crate::{admit, lock, ApiError, App};

/// Most responses kept for `previous_response_id` and retrieval, and the most bytes they hold
/// together; the oldest go first.
pub const MAX_STORED: usize = 256;
/// See [`MAX_STORED`].
pub const MAX_STORED_BYTES: usize = 32 << 20;

#[derive(Deserialize)]
struct ResponsesBody {
    #[serde(flatten)]
    common: Common,
    input: Option<Value>,
    instructions: Option<String>,
    max_output_tokens: Option<u32>,
    text: Option<Value>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    previous_response_id: Option<String>,
    store: Option<bool>,
    metadata: Option<Value>,
    reasoning: Option<Value>,
    background: Option<bool>,
    include: Option<Vec<Value>>,
    truncation: Option<String>,
    top_logprobs: Option<u32>,
    conversation: Option<Value>,
    prompt: Option<Value>,
}

/// A stored response: what it returned, the conversation up to and including its answer
/// (without its `instructions`, which a follow-up does not inherit), and the chain it belongs to
/// (its first response's id, which keys the KV cache of the whole chain).
struct Stored {
    response: Value,
    history: Vec<ChatMessage>,
    chain: String,
    bytes: usize,
}

/// Recent responses, bounded by [`MAX_STORED`] and [`MAX_STORED_BYTES`].
#[derive(Default)]
pub(crate) struct ResponseStore {
    by_id: HashMap<String, Stored>,
    order: VecDeque<String>,
    bytes: usize,
}

impl ResponseStore {
    fn insert(&mut self, id: String, response: Value, history: Vec<ChatMessage>, chain: String) {
        let bytes = response.to_string().len()
            + history
                .iter()
                .map(|m| m.content.len() + m.tool_calls.iter().map(|c| c.arguments.len()).sum::<usize>())
                .sum::<usize>();
        if bytes > MAX_STORED_BYTES {
            tracing::warn!(response = %id, bytes, "a response too large to keep for previous_response_id");
            return;
        }
        self.remove(&id);
        self.bytes += bytes;
        self.order.push_back(id.clone());
        self.by_id.insert(id, Stored { response, history, chain, bytes });
        while self.order.len() > MAX_STORED || self.bytes > MAX_STORED_BYTES {
            let Some(old) = self.order.pop_front() else { break };
            if let Some(s) = self.by_id.remove(&old) {
                self.bytes -= s.bytes;
            }
        }
    }

    fn remove(&mut self, id: &str) -> bool {
        match self.by_id.remove(id) {
            Some(s) => {
                self.bytes -= s.bytes;
                self.order.retain(|x| x != id);
                true
            }
            None => false,
        }
    }

    /// How many responses are kept, and their bytes.
    pub fn size(&self) -> (usize, usize) {
        (self.by_id.len(), self.bytes)
    }
}

fn not_found(id: &str, param: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: Some("response_not_found"),
        ..ApiError::invalid(
            format!(
                "no response {id:?} is kept (the last {MAX_STORED} stored responses are; they do not outlive the server)"
            ),
            Some(param),
        )
    }
}

/// `reasoning.effort` as `enable_thinking` (see [`super::thinking_of_effort`]); `summary` is
/// accepted: the thinking is given whole.
fn thinking_of(reasoning: Option<&Value>) -> Result<Option<bool>, ApiError> {
    super::thinking_of_effort(reasoning.map(|r| &r["effort"]), "reasoning.effort")
}

/// Fields of the Responses API that SAGE does not serve: refused by name, never ignored.
fn refuse_unserved(b: &ResponsesBody) -> Result<(), ApiError> {
    let set = |v: &Option<Value>| v.as_ref().is_some_and(|v| !v.is_null());
    thinking_of(b.reasoning.as_ref())?;
    if b.background == Some(true) {
        return Err(ApiError::invalid(
            "background: SAGE answers while the request is open",
            Some("background"),
        ));
    }
    if let Some(i) = b.include.as_ref().filter(|i| !i.is_empty()) {
        return Err(ApiError::invalid(
            format!("include {}: no extra output is given", Value::from(i.clone())),
            Some("include"),
        ));
    }
    if b.top_logprobs.is_some_and(|n| n > 0) {
        return Err(ApiError::invalid(
            "top_logprobs: use /v1/chat/completions with logprobs",
            Some("top_logprobs"),
        ));
    }
    if set(&b.conversation) {
        return Err(ApiError::invalid(
            "conversation: SAGE keeps no conversation objects; use previous_response_id",
            Some("conversation"),
        ));
    }
    if set(&b.prompt) {
        return Err(ApiError::invalid("prompt: SAGE keeps no prompt templates", Some("prompt")));
    }
    match b.truncation.as_deref() {
        None | Some("auto" | "disabled") => Ok(()),
        Some(t) => {
            Err(ApiError::invalid(format!("truncation {t:?} is not auto or disabled"), Some("truncation")))
        }
    }
}

/// The text of a content list: text parts joined; an image, file or audio part is refused.
fn parts_text(i: usize, content: &Value) -> Result<String, ApiError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut texts = vec![];
            for p in parts {
                match p["type"].as_str() {
                    Some("input_text" | "output_text" | "text") => {
                        texts.push(p["text"].as_str().unwrap_or(""))
                    }
                    Some("refusal") => texts.push(p["refusal"].as_str().unwrap_or("")),
                    other => {
                        return Err(ApiError::invalid(
                            format!(
                                "input[{i}] has a part of type {}; SAGE's models read text only",
                                other.unwrap_or("none")
                            ),
                            Some("input"),
                        ))
                    }
                }
            }
            Ok(texts.join("\n"))
        }
        _ => Err(ApiError::invalid(
            format!("input[{i}].content must be text or a list of parts"),
            Some("input"),
        )),
    }
}

/// The conversation an `input` adds: a string is one user message; a list holds messages,
/// function calls (joined to the assistant message before them) and their outputs.
fn input_messages(input: &Value) -> Result<Vec<ChatMessage>, ApiError> {
    let items = match input {
        Value::String(s) => return Ok(vec![ChatMessage::new(Role::User, s.clone())]),
        Value::Array(items) => items,
        _ => return Err(ApiError::invalid("input must be text or a list of items", Some("input"))),
    };
    let mut out: Vec<ChatMessage> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item["type"].as_str().unwrap_or("message") {
            "message" => {
                let name = item["role"]
                    .as_str()
                    .ok_or_else(|| ApiError::invalid(format!("input[{i}] has no role"), Some("input")))?;
                let role = role(i, name).map_err(|_| {
                    ApiError::invalid(
                        format!("input[{i}].role {name:?} is not user, assistant, system or developer"),
                        Some("input"),
                    )
                })?;
                if role == Role::Tool {
                    return Err(ApiError::invalid(
                        format!("input[{i}]: a tool's result is a function_call_output item"),
                        Some("input"),
                    ));
                }
                out.push(ChatMessage::new(role, parts_text(i, &item["content"])?));
            }
            "function_call" => {
                let name = item["name"].as_str().unwrap_or("");
                let call_id = item["call_id"].as_str().unwrap_or("");
                if name.is_empty() || call_id.is_empty() {
                    return Err(ApiError::invalid(
                        format!("input[{i}]: a function_call needs a name and a call_id"),
                        Some("input"),
                    ));
                }
                let call = json!({"tool_calls": [{"id": call_id, "function": {"name": name,
                    "arguments": item["arguments"].as_str().unwrap_or("{}")}}]});
                let called = crate::tools::history_message(i, Role::Assistant, String::new(), &call)
                    .map_err(|e| ApiError { param: Some("input".into()), ..e })?;
                match out.last_mut() {
                    Some(last) if last.role == Role::Assistant => last.tool_calls.extend(called.tool_calls),
                    _ => out.push(called),
                }
            }
            // A reasoning item of an earlier answer, sent back as stateless clients do: not shown to
            // the model again (the templates that strip `<think>` from history do the same).
            "reasoning" => {}
            "function_call_output" => {
                let call_id = item["call_id"].as_str().ok_or_else(|| {
                    ApiError::invalid(
                        format!("input[{i}]: a function_call_output needs a call_id"),
                        Some("input"),
                    )
                })?;
                let mut m = ChatMessage::new(Role::Tool, parts_text(i, &item["output"])?);
                m.tool_call_id = Some(call_id.to_string());
                out.push(m);
            }
            other => {
                return Err(ApiError::invalid(
                    format!(
                    "input[{i}] is a {other:?} item; SAGE reads messages, function calls and their outputs"
                ),
                    Some("input"),
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::invalid("input must not be empty", Some("input")));
    }
    Ok(out)
}

/// The Responses API's flat function tools in the chat form `ToolSpec` reads, and its
/// `tool_choice` likewise.
fn chat_tools(
    tools: Option<&Vec<Value>>,
    choice: Option<&Value>,
) -> Result<(Option<Vec<Value>>, Option<Value>), ApiError> {
    let tools = match tools {
        None => None,
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, t)| match t["type"].as_str() {
                    Some("function") => {
                        let mut f = json!({"name": t["name"]});
                        for key in ["description", "parameters", "strict"] {
                            if let Some(v) = t.get(key).filter(|v| !v.is_null()) {
                                f[key] = v.clone();
                            }
                        }
                        Ok(json!({"type": "function", "function": f}))
                    }
                    other => Err(ApiError::invalid(
                        format!(
                            "tools[{i}] is of type {}; SAGE calls function tools only",
                            other.unwrap_or("none")
                        ),
                        Some("tools"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let choice = choice.map(|c| match c {
        Value::Object(o)
            if o.get("type").and_then(Value::as_str) == Some("function") && o.contains_key("name") =>
        {
            json!({"type": "function", "function": {"name": o["name"]}})
        }
        other => other.clone(),
    });
    Ok((tools, choice))
}

/// `text.format`: plain text, any JSON object, or a JSON schema.
fn text_constraint(text: Option<&Value>) -> Result<Option<Constraint>, ApiError> {
    let Some(format) = text.and_then(|t| t.get("format")).filter(|f| !f.is_null()) else { return Ok(None) };
    match format["type"].as_str() {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(Constraint::JsonSchema(json!({"type": "object"})))),
        Some("json_schema") => match format.get("schema") {
            Some(s) if s.is_object() => Ok(Some(Constraint::JsonSchema(s.clone()))),
            _ => Err(ApiError::invalid("text.format.schema is missing", Some("text.format"))),
        },
        _ => Err(ApiError::invalid(
            "text.format.type must be text, json_object or json_schema",
            Some("text.format"),
        )),
    }
}

/// What a response says about the request that made it, beside its output.
struct Meta {
    id: String,
    created: u64,
    model: String,
    body: Value,
    tools: Option<ToolSpec>,
    store: bool,
    history: Vec<ChatMessage>,
    chain: String,
}

impl Meta {
    /// The response object with `status` and `output` (`s`: the finished record).
    fn response(&self, status: &str, output: Vec<Value>, s: Option<&Served>) -> Value {
        let mut r = self.body.clone();
        r["id"] = self.id.clone().into();
        r["object"] = "response".into();
        r["created_at"] = self.created.into();
        r["status"] = status.into();
        r["output"] = output.into();
        r["model"] = s.map_or_else(|| self.model.clone(), |s| super::answered_model(s, &self.model)).into();
        r["incomplete_details"] = match s.map(finish_reason) {
            Some("length") if status == "incomplete" => json!({"reason": "max_output_tokens"}),
            _ => Value::Null,
        };
        r["error"] = Value::Null;
        r["usage"] = s.map_or(Value::Null, usage);
        if let Some(s) = s {
            r["sage"] = extension(s);
        }
        r
    }

    /// Keep the finished response for `previous_response_id` (unless `store: false`).
    fn keep(&self, app: &App, response: &Value, answer: ChatMessage) {
        if !self.store {
            return;
        }
        let mut history = self.history.clone();
        history.push(answer);
        lock(&app.responses).insert(self.id.clone(), response.clone(), history, self.chain.clone());
    }
}

fn usage(s: &Served) -> Value {
    let (p, cached, c) = s.answer.as_ref().map_or((0, 0, 0), |a| {
        (a.timings.prompt_tokens + a.timings.cached_tokens, a.timings.cached_tokens, a.tokens)
    });
    json!({"input_tokens": p, "input_tokens_details": {"cached_tokens": cached},
           "output_tokens": c, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": p + c})
}

fn status_of(s: &Served) -> &'static str {
    if finish_reason(s) == "length" {
        "incomplete"
    } else {
        "completed"
    }
}

fn message_item(id: &str, status: &str, text: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
           "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

/// A reasoning model's thinking as a `reasoning` item.
fn reasoning_item(text: &str) -> Value {
    json!({"type": "reasoning", "id": format!("rs_{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)), "summary": [],
           "content": [{"type": "reasoning_text", "text": text}], "status": "completed"})
}

fn call_item(c: &ToolCall, status: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "id": format!("fc_{}", c.id.trim_start_matches("call_")), "call_id": c.id,
           "name": c.name, "arguments": arguments, "status": status})
}

/// A finished answer's text and calls: the degraded responder's reply, or the calls (after any
/// text before them), or the text.
fn answer_parts(tools: Option<&ToolSpec>, s: &Served) -> (String, Vec<ToolCall>) {
    match (s.degraded, tools.and_then(|t| t.calls(&s.reply))) {
        (false, Some((before, calls))) => (before, calls),
        _ => (s.reply.clone(), vec![]),
    }
}

fn answer_message(text: &str, calls: Vec<ToolCall>) -> ChatMessage {
    let mut m = ChatMessage::new(Role::Assistant, text);
    m.tool_calls = calls;
    m
}

/// The request's conversation and its chain: a previous response's (if named), then `input`.
fn conversation(app: &App, b: &ResponsesBody, id: &str) -> Result<(Vec<ChatMessage>, String), ApiError> {
    let (mut history, chain) = match &b.previous_response_id {
        None => (vec![], id.to_string()),
        Some(prev) => {
            let store = lock(&app.responses);
            let s = store.by_id.get(prev).ok_or_else(|| not_found(prev, "previous_response_id"))?;
            (s.history.clone(), s.chain.clone())
        }
    };
    let input = b
        .input
        .as_ref()
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::invalid("input is required (text or a list of items)", Some("input")))?;
    history.extend(input_messages(input)?);
    Ok((history, chain))
}

/// `POST /v1/responses`.
pub(crate) async fn create(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let mut b: ResponsesBody = parse(&body)?;
    super::check_model(&app, &b.common.model)?;
    refuse_unserved(&b)?;
    let id = format!("resp_{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let (history, chain) = conversation(&app, &b, &id)?;
    let (chat_tools, chat_choice) = chat_tools(b.tools.as_ref(), b.tool_choice.as_ref())?;
    let tools = ToolSpec::parse(chat_tools.as_ref(), chat_choice.as_ref(), b.parallel_tool_calls)?;
    let constraint = with_forced_call(text_constraint(b.text.as_ref())?, "text.format", tools.as_ref())?;
    b.common.max_tokens = b.max_output_tokens.or(b.common.max_completion_tokens).or(b.common.max_tokens);
    b.common.max_completion_tokens = None;
    let (mut p, max_tokens) = params(&app, &b.common, None, constraint)?;
    if let Some(on) = thinking_of(b.reasoning.as_ref())? {
        p.template_vars.insert("enable_thinking".into(), on.into());
    }
    let mut messages = history.clone();
    if let Some(system) = b.instructions.as_ref().filter(|s| !s.is_empty()) {
        messages.insert(0, ChatMessage::new(Role::System, system.clone()));
    }
    // A chain of responses reuses its KV cache, as a chat's `session_id` does.
    let conversation =
        b.common.session_id.clone().or(b.common.user.clone()).or(Some(format!("responses:{chain}")));
    let request = super::chat_request(messages, conversation, p, max_tokens, tools.as_ref());
    let meta = Meta {
        body: echo_fields(&b, max_tokens),
        id: id.clone(),
        created: now_unix(),
        model: b.common.model.clone(),
        tools,
        store: b.store.unwrap_or(true),
        history,
        chain,
    };
    let slot = admit(&app).await?;
    let mut rx = spawn(app.clone(), meta.model.clone(), request, slot);
    if b.common.stream {
        let first = first_or_error(&app, &meta.model, &mut rx).await?;
        return Ok(event_stream(app, first, rx, meta));
    }
    let s = whole(&app, &meta.model, rx).await?;
    let (text, calls) = answer_parts(meta.tools.as_ref(), &s);
    let status = status_of(&s);
    let mut output: Vec<Value> = s.reasoning.iter().map(|r| reasoning_item(r)).collect();
    if !text.is_empty() || calls.is_empty() {
        output.push(message_item(
            &format!("msg_{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
            "completed",
            &text,
        ));
    }
    output.extend(calls.iter().map(|c| call_item(c, "completed", &c.arguments)));
    let response = meta.response(status, output, Some(&s));
    meta.keep(&app, &response, answer_message(&text, calls));
    Ok(Json(response).into_response())
}

/// The request's settings as a response repeats them.
fn echo_fields(b: &ResponsesBody, max_tokens: u32) -> Value {
    let flat_tools = b.tools.clone().unwrap_or_default();
    json!({
        "instructions": b.instructions,
        "max_output_tokens": max_tokens,
        "metadata": b.metadata.clone().unwrap_or_else(|| json!({})),
        "parallel_tool_calls": b.parallel_tool_calls.unwrap_or(true),
        "previous_response_id": b.previous_response_id,
        "store": b.store.unwrap_or(true),
        "temperature": crate::llama_server::short(b.common.temperature.unwrap_or(sage_llm::Sampling::default().temperature)),
        "top_p": crate::llama_server::short(b.common.top_p.unwrap_or(sage_llm::Sampling::default().top_p)),
        "text": b.text.clone().filter(|t| !t.is_null()).unwrap_or_else(|| json!({"format": {"type": "text"}})),
        "tool_choice": b.tool_choice.clone().unwrap_or_else(|| "auto".into()),
        "tools": flat_tools,
        // Older whole turns always give way to fit the window (as on chat), whatever was asked.
        "truncation": "auto",
        "user": b.common.user,
        "reasoning": {"effort": b.reasoning.as_ref().map_or(Value::Null, |r| r["effort"].clone()), "summary": null},
    })
}

/// The events of a streamed response, as OpenAI names them, numbered.
struct Emitter {
    meta: Meta,
    app: Arc<App>,
    seq: u64,
    deltas: Deltas,
    /// Thinking seen, not yet given as its `reasoning` item (it goes before the message).
    thinking: String,
    /// The message item being streamed: its id and text.
    message: Option<(String, String)>,
    output: Vec<Value>,
}

impl Emitter {
    fn event(&mut self, kind: &str, mut data: Value) -> (String, Value) {
        data["type"] = kind.into();
        data["sequence_number"] = self.seq.into();
        self.seq += 1;
        (kind.to_string(), data)
    }

    fn head(&mut self) -> Vec<(String, Value)> {
        let r = self.meta.response("in_progress", vec![], None);
        vec![
            self.event("response.created", json!({"response": r})),
            self.event("response.in_progress", json!({"response": r})),
        ]
    }

    /// Open the message item, if it is not open yet.
    fn open_message(&mut self) -> Vec<(String, Value)> {
        if self.message.is_some() {
            return vec![];
        }
        let index = self.output.len();
        let id = format!("msg_{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let mut item = message_item(&id, "in_progress", "");
        item["content"] = json!([]);
        let part = json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
        let out = vec![
            self.event("response.output_item.added", json!({"output_index": index, "item": item})),
            self.event(
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
            ),
        ];
        self.message = Some((id, String::new()));
        out
    }

    /// Text for the message item, opening it first.
    fn text(&mut self, d: &str) -> Vec<(String, Value)> {
        if d.is_empty() {
            return vec![];
        }
        let mut out = self.open_message();
        let index = self.output.len();
        let Some((id, text)) = self.message.as_mut() else { return out };
        text.push_str(d);
        let id = id.clone();
        out.push(self.event(
            "response.output_text.delta",
            json!({"item_id": id, "output_index": index,
            "content_index": 0, "delta": d, "logprobs": []}),
        ));
        out
    }

    fn delta(&mut self, d: &str) -> Vec<(String, Value)> {
        let pieces = self.deltas.push(d);
        self.show(pieces)
    }

    /// Thinking is kept for its item; the answer's text first gives that item, then streams.
    fn show(&mut self, pieces: Vec<Piece>) -> Vec<(String, Value)> {
        let mut out = vec![];
        for p in pieces {
            match p {
                Piece::Reasoning(r) => self.thinking.push_str(&r),
                Piece::Content(c) => {
                    out.extend(self.reasoning_item());
                    out.extend(self.text(&c));
                }
            }
        }
        out
    }

    /// The `reasoning` item of the thinking seen so far, if any.
    fn reasoning_item(&mut self) -> Vec<(String, Value)> {
        if self.thinking.is_empty() {
            return vec![];
        }
        let index = self.output.len();
        let item = reasoning_item(&std::mem::take(&mut self.thinking));
        self.output.push(item.clone());
        vec![
            self.event("response.output_item.added", json!({"output_index": index, "item": item})),
            self.event("response.output_item.done", json!({"output_index": index, "item": item})),
        ]
    }

    /// Close the message item, if one is open.
    fn close_message(&mut self) -> Vec<(String, Value)> {
        let Some((id, text)) = self.message.take() else { return vec![] };
        let index = self.output.len();
        let part = json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
        let item = message_item(&id, "completed", &text);
        self.output.push(item.clone());
        vec![
            self.event(
                "response.output_text.done",
                json!({"item_id": id, "output_index": index,
                "content_index": 0, "text": text, "logprobs": []}),
            ),
            self.event(
                "response.content_part.done",
                json!({"item_id": id, "output_index": index,
                "content_index": 0, "part": part}),
            ),
            self.event("response.output_item.done", json!({"output_index": index, "item": item})),
        ]
    }

    fn call(&mut self, c: &ToolCall) -> Vec<(String, Value)> {
        let index = self.output.len();
        let added = call_item(c, "in_progress", "");
        let id = added["id"].clone();
        let done = call_item(c, "completed", &c.arguments);
        self.output.push(done.clone());
        vec![
            self.event("response.output_item.added", json!({"output_index": index, "item": added})),
            self.event(
                "response.function_call_arguments.delta",
                json!({"item_id": id, "output_index": index,
                "delta": c.arguments}),
            ),
            self.event(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": index,
                "arguments": c.arguments}),
            ),
            self.event("response.output_item.done", json!({"output_index": index, "item": done})),
        ]
    }

    fn finish(&mut self, s: &Served) -> Vec<(String, Value)> {
        let app = self.app.clone();
        if let Some(e) = failure(&self.meta.model, s) {
            app.metrics.finish("error");
            let mut r = self.meta.response("failed", std::mem::take(&mut self.output), Some(s));
            r["error"] = json!({"code": e.code.unwrap_or("server_error"), "message": e.message});
            return vec![self.event("response.failed", json!({"response": r}))];
        }
        app.metrics.finish(if s.degraded { "degraded" } else { "ok" });
        let flushed = self.deltas.flush();
        let mut out = self.show(flushed);
        out.extend(self.reasoning_item());
        let held = self.deltas.held();
        let (text, calls) = if s.degraded {
            // Nothing of a degraded answer was a model's: the reply is all of it.
            out.extend(self.text(&s.reply));
            (s.reply.clone(), vec![])
        } else {
            let streamed = self.message.as_ref().map(|(_, t)| t.clone()).unwrap_or_default();
            let calls =
                if held.is_empty() { None } else { self.meta.tools.as_ref().and_then(|t| t.calls(&s.reply)) };
            match calls {
                Some((before, calls)) => {
                    out.extend(self.text(before.strip_prefix(streamed.as_str()).unwrap_or("")));
                    (before, calls)
                }
                None => {
                    out.extend(self.text(&held));
                    (streamed + &held, vec![])
                }
            }
        };
        if calls.is_empty() {
            // Every response has a message, if nothing else.
            out.extend(self.open_message());
        }
        out.extend(self.close_message());
        for c in &calls {
            out.extend(self.call(c));
        }
        let status = status_of(s);
        let response = self.meta.response(status, self.output.clone(), Some(s));
        self.meta.keep(&app, &response, answer_message(&text, calls));
        let kind = if status == "incomplete" { "response.incomplete" } else { "response.completed" };
        out.push(self.event(kind, json!({"response": response})));
        out
    }
}

fn event_stream(app: Arc<App>, first: Chunk, rx: tokio::sync::mpsc::Receiver<Chunk>, meta: Meta) -> Response {
    let with_tools = meta.tools.as_ref().is_some_and(ToolSpec::is_offered);
    let mut emitter = Emitter {
        meta,
        app,
        seq: 0,
        deltas: Deltas::new(false, with_tools),
        thinking: String::new(),
        message: None,
        output: vec![],
    };
    let head = emitter.head();
    crate::named_sse::stream(head, first, rx, move |c| match c {
        Chunk::Delta(d) => emitter.delta(&d),
        Chunk::Done(s) => emitter.finish(&s),
    })
}

/// `GET /v1/responses/{id}`.
pub(crate) async fn retrieve(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let store = lock(&app.responses);
    let s = store.by_id.get(&id).ok_or_else(|| not_found(&id, "response_id"))?;
    Ok(Json(s.response.clone()).into_response())
}

/// `DELETE /v1/responses/{id}`.
pub(crate) async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !lock(&app.responses).remove(&id) {
        return Err(not_found(&id, "response_id"));
    }
    Ok(Json(json!({"id": id, "object": "response", "deleted": true})).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_items_become_the_conversation() {
        let input = json!([
            {"role": "developer", "content": "Be brief."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]},
            {"type": "function_call", "call_id": "call_7", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"},
            {"type": "function_call", "call_id": "call_8", "name": "get_time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_7", "output": "4 C"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "It is 4 C."}]},
        ]);
        let m = input_messages(&input).unwrap();
        assert_eq!(
            m.iter().map(|m| m.role).collect::<Vec<_>>(),
            [Role::System, Role::User, Role::Assistant, Role::Tool, Role::Assistant]
        );
        assert_eq!(m[1].content, "Weather in Oslo?");
        assert_eq!(
            m[2].tool_calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["get_weather", "get_time"]
        );
        assert_eq!(m[3].tool_call_id.as_deref(), Some("call_7"));
        assert_eq!(input_messages(&json!("hi")).unwrap()[0].role, Role::User);
    }

    #[test]
    fn what_is_not_text_is_refused_by_name() {
        let image = json!([{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]);
        assert!(input_messages(&image).unwrap_err().message.contains("input_image"));
        let item = json!([{"type": "item_reference", "id": "msg_1"}]);
        assert!(input_messages(&item).unwrap_err().message.contains("item_reference"));
        // An earlier answer's reasoning item sent back is dropped, not refused.
        let replay = json!([{"role": "user", "content": "hi"}, {"type": "reasoning", "summary": [], "content": []},
                            {"role": "assistant", "content": "hello"}]);
        assert_eq!(input_messages(&replay).unwrap().len(), 2);
        assert_eq!(thinking_of(Some(&json!({"effort": "minimal"}))).unwrap(), Some(false));
        assert_eq!(thinking_of(Some(&json!({"effort": "high", "summary": "auto"}))).unwrap(), Some(true));
        assert_eq!(thinking_of(Some(&json!({"summary": "auto"}))).unwrap(), None);
        assert!(thinking_of(Some(&json!({"effort": "extreme"}))).is_err());
        assert!(input_messages(&json!([])).is_err());
        assert!(input_messages(&json!(7)).is_err());
        assert!(input_messages(&json!([{"role": "tool", "content": "x"}])).is_err());
        assert!(input_messages(&json!([{"type": "function_call", "name": "f"}])).is_err());
        let web = vec![json!({"type": "web_search"})];
        assert!(chat_tools(Some(&web), None).unwrap_err().message.contains("web_search"));
    }

    #[test]
    fn flat_tools_read_as_chat_tools() {
        let tools =
            vec![json!({"type": "function", "name": "get_weather", "parameters": {"type": "object"}})];
        let choice = json!({"type": "function", "name": "get_weather"});
        let (t, c) = chat_tools(Some(&tools), Some(&choice)).unwrap();
        let spec = ToolSpec::parse(t.as_ref(), c.as_ref(), None).unwrap().unwrap();
        assert_eq!(spec.names, ["get_weather"]);
        assert!(spec.constraint().is_some(), "a named function is forced");
    }

    #[test]
    fn text_formats() {
        assert!(text_constraint(None).unwrap().is_none());
        assert!(text_constraint(Some(&json!({"format": {"type": "text"}}))).unwrap().is_none());
        let schema = json!({"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}});
        assert!(matches!(text_constraint(Some(&schema)).unwrap(), Some(Constraint::JsonSchema(_))));
        assert!(text_constraint(Some(&json!({"format": {"type": "json_schema"}}))).is_err());
        assert!(text_constraint(Some(&json!({"format": {"type": "yaml"}}))).is_err());
    }

    #[test]
    fn the_store_is_bounded_and_forgets_the_oldest() {
        let mut s = ResponseStore::default();
        for i in 0..MAX_STORED + 10 {
            s.insert(format!("resp_{i}"), json!({}), vec![ChatMessage::new(Role::User, "hi")], "c".into());
        }
        assert_eq!(s.size().0, MAX_STORED);
        assert!(!s.by_id.contains_key("resp_9") && s.by_id.contains_key("resp_10"));
        let big = "x".repeat(MAX_STORED_BYTES / 3);
        for i in 0..4 {
            s.insert(
                format!("big_{i}"),
                json!({}),
                vec![ChatMessage::new(Role::User, big.clone())],
                "c".into(),
            );
        }
        assert!(s.bytes <= MAX_STORED_BYTES);
        assert!(!s.by_id.contains_key("big_0") && s.by_id.contains_key("big_3"));
        assert!(s.remove("big_3") && !s.remove("big_3"));
        let total: usize = s.by_id.values().map(|x| x.bytes).sum();
        assert_eq!(total, s.bytes, "the byte count follows what is kept");
    }
}
