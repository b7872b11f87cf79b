//! The Ollama API, for the robotics and desktop tools that speak it: `/api/chat` and
//! `/api/generate` (streamed as NDJSON by default, or whole), `/api/tags`, `/api/ps`,
//! `/api/show`, `/api/version`, `/api/embed` (and the older `/api/embeddings`), and
//! `/api/pull` (for the zoo's models, which are there already). The same router, queue and engines as the OpenAI API; `options`
//! map onto sampling, `format` onto a JSON constraint, `keep_alive` onto residency (0 unloads
//! the model after the answer, a negative value pins it, a duration sets its keep-alive).
//! Model names are the zoo's ids (a `:latest` tag is ignored) or `sage` (the router chooses).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_stream::wrappers::ReceiverStream;

use sage_llm::reasoning::Piece;
use sage_llm::{ChatMessage, Constraint, GenerateParams, Role, Sampling};
use sage_runtime::route::{Request, Served};

use crate::openai::{check_model, fresh_seed, plain_request};
use crate::run::{first_or_error, spawn, whole, Chunk};
use crate::{admit, ApiError, App};

#[derive(Deserialize, Default)]
struct Options {
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<u32>,
    min_p: Option<f32>,
    seed: Option<u32>,
    num_predict: Option<i64>,
    stop: Option<Vec<String>>,
    repeat_penalty: Option<f32>,
    repeat_last_n: Option<u32>,
    presence_penalty: Option<f32>,
    frequency_penalty: Option<f32>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    #[serde(default, deserialize_with = "crate::nullable")]
    content: String,
    /// An assistant's calls: `[{"function": {"name", "arguments": {...}}}]`.
    #[serde(default)]
    tool_calls: Option<Vec<Value>>,
    /// Images (base64): refused, SAGE's models read text only.
    #[serde(default, deserialize_with = "crate::nullable")]
    images: Vec<Value>,
}

/// What `/api/chat` and `/api/generate` share.
#[derive(Deserialize)]
struct Common {
    model: String,
    stream: Option<bool>,
    #[serde(default, deserialize_with = "crate::nullable")]
    options: Options,
    format: Option<Value>,
    keep_alive: Option<Value>,
    /// `false`: a reasoning model's thinking is not returned (SAGE cannot stop a model from
    /// thinking; it leaves the thinking out). Otherwise it comes as `thinking`.
    think: Option<Value>,
}

impl Common {
    fn shows_thinking(&self) -> bool {
        !matches!(self.think, Some(Value::Bool(false)))
    }

    /// `think` as the templates that switch thinking read it (`enable_thinking`: Qwen 3's,
    /// Nemotron's; Llama-Nemotron's system prompt), as Ollama passes it to them: `true|false`,
    /// or a level (`low`, `medium`, `high`, as Ollama takes for gpt-oss), which is on.
    fn template_vars(&self) -> Result<serde_json::Map<String, Value>, ApiError> {
        let mut vars = serde_json::Map::new();
        let on = match &self.think {
            None | Some(Value::Null) => return Ok(vars),
            Some(Value::Bool(b)) => *b,
            Some(Value::String(level)) if ["low", "medium", "high"].contains(&level.as_str()) => true,
            Some(other) => {
                return Err(ApiError::invalid(
                    format!("think {other} is not true, false, low, medium or high"),
                    Some("think"),
                ))
            }
        };
        vars.insert("enable_thinking".into(), Value::Bool(on));
        Ok(vars)
    }
}

#[derive(Deserialize)]
struct ChatBody {
    #[serde(flatten)]
    common: Common,
    #[serde(default, deserialize_with = "crate::nullable")]
    messages: Vec<Message>,
    /// Tools the model may call (the OpenAI form).
    tools: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct GenerateBody {
    #[serde(flatten)]
    common: Common,
    #[serde(default, deserialize_with = "crate::nullable")]
    prompt: String,
    system: Option<String>,
    #[serde(default, deserialize_with = "crate::nullable")]
    raw: bool,
    /// Images (base64): refused, SAGE's models read text only.
    #[serde(default, deserialize_with = "crate::nullable")]
    images: Vec<Value>,
}

#[derive(Deserialize)]
struct EmbedBody {
    model: String,
    input: crate::openai::Text,
    keep_alive: Option<Value>,
}

/// The body of the older `/api/embeddings`: one text in `prompt` (Ollama's clients still call it:
/// `ollama.Client.embeddings`, LangChain's and LlamaIndex's older Ollama embedders).
#[derive(Deserialize)]
struct LegacyEmbedBody {
    model: String,
    prompt: Option<String>,
    keep_alive: Option<Value>,
}

#[derive(Deserialize)]
struct ShowBody {
    #[serde(alias = "name")]
    model: String,
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("the body is not a valid request: {e}"), None))
}

/// The zoo id a client's model name means (`name:latest` is `name`).
fn model_id(app: &App, name: &str) -> Result<String, ApiError> {
    let id = name.strip_suffix(":latest").unwrap_or(name).to_string();
    check_model(app, &id)?;
    Ok(id)
}

/// Load `model` (`sage`: the zoo's first) and apply `keep_alive`, answering nothing (what
/// Ollama does for an empty chat or prompt).
async fn load(app: &Arc<App>, model: &str, keep: Option<&Value>) -> Result<(), ApiError> {
    if let Some(v) = keep {
        keep_alive_s(v)?;
    }
    let id = if model == "sage" {
        app.specs.first().map(|s| s.id.clone()).ok_or_else(|| ApiError::unknown_model(model))?
    } else {
        model.to_string()
    };
    let (app2, id2) = (app.clone(), id.clone());
    tokio::task::spawn_blocking(move || {
        app2.residency.acquire(&id2, "loaded through the Ollama API").map(|_| ())
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::unavailable(e.to_string()))?;
    keep_alive(app, &id, keep)
}

/// Sampling and limits from `options` and `format`.
fn params(app: &App, o: &Options, format: Option<&Value>) -> Result<(GenerateParams, u32), ApiError> {
    let d = Sampling::default();
    let sampling = Sampling {
        temperature: o.temperature.unwrap_or(d.temperature),
        top_p: o.top_p.unwrap_or(d.top_p),
        top_k: o.top_k.unwrap_or(d.top_k),
        min_p: o.min_p.unwrap_or(d.min_p),
        repeat_penalty: o.repeat_penalty.unwrap_or(d.repeat_penalty),
        repeat_last_n: o.repeat_last_n.unwrap_or(d.repeat_last_n),
        presence_penalty: o.presence_penalty.unwrap_or(d.presence_penalty),
        frequency_penalty: o.frequency_penalty.unwrap_or(d.frequency_penalty),
        // No seed: a fresh one, as Ollama does.
        seed: o.seed.unwrap_or_else(fresh_seed),
    };
    if !(sampling.temperature.is_finite() && (0.0..=2.0).contains(&sampling.temperature)) {
        return Err(ApiError::invalid(
            format!("temperature {} is outside [0, 2]", sampling.temperature),
            Some("options"),
        ));
    }
    if !(sampling.top_p > 0.0 && sampling.top_p <= 1.0) {
        return Err(ApiError::invalid(
            format!("top_p {} is outside (0, 1]", sampling.top_p),
            Some("options"),
        ));
    }
    // -1 (until the answer ends) and -2 (until the window is full) are capped like an absent
    // num_predict, at the server's default.
    let max_tokens = match o.num_predict {
        Some(n) if n > 0 => n.min(u32::MAX as i64) as u32,
        Some(0) => return Err(ApiError::invalid("num_predict must not be 0", Some("options"))),
        _ => app.config.default_max_tokens,
    };
    let constraint = match format {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "json" => Some(Constraint::JsonSchema(json!({"type": "object"}))),
        Some(Value::String(s)) if s.is_empty() => None,
        Some(schema @ Value::Object(_)) => Some(Constraint::JsonSchema(schema.clone())),
        Some(other) => {
            return Err(ApiError::invalid(
                format!("format must be \"json\" or a JSON schema, got {other}"),
                Some("format"),
            ))
        }
    };
    if let Some(c) = &constraint {
        sage_llm::check_constraint(c)
            .map_err(|e| ApiError::invalid(format!("format is not usable: {e}"), Some("format")))?;
    }
    let stop = o.stop.clone().unwrap_or_default();
    crate::openai::check_stops(&stop, "options")?;
    let p = GenerateParams { max_tokens, sampling, stop, constraint, ..GenerateParams::default() };
    Ok((p, max_tokens))
}

/// `keep_alive` as seconds: a number is seconds, a string a Go duration ("5m", "1h30m", "10s").
fn keep_alive_s(v: &Value) -> Result<f64, ApiError> {
    let bad = || ApiError::invalid(format!("keep_alive {v} is not a duration"), Some("keep_alive"));
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(bad),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(x) = s.parse::<f64>() {
                return Ok(x);
            }
            let (negative, s) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            let mut total = 0.0;
            let mut number = String::new();
            let mut chars = s.chars().peekable();
            while let Some(c) = chars.next() {
                if c.is_ascii_digit() || c == '.' {
                    number.push(c);
                    continue;
                }
                let unit = if c == 'm' && chars.peek() == Some(&'s') {
                    chars.next();
                    0.001
                } else {
                    match c {
                        'h' => 3600.0,
                        'm' => 60.0,
                        's' => 1.0,
                        _ => return Err(bad()),
                    }
                };
                total += number.parse::<f64>().map_err(|_| bad())? * unit;
                number.clear();
            }
            if !number.is_empty() {
                return Err(bad());
            }
            Ok(if negative { -total } else { total })
        }
        _ => Err(bad()),
    }
}

/// Apply `keep_alive` to the model that answered: 0 unloads it, negative pins it, a duration
/// becomes its keep-alive.
fn keep_alive(app: &App, model: &str, v: Option<&Value>) -> Result<(), ApiError> {
    let Some(v) = v else { return Ok(()) };
    let s = keep_alive_s(v)?;
    let r = if s == 0.0 {
        app.residency.unload(model, "keep_alive 0").map(|_| ())
    } else if s < 0.0 {
        app.residency.set_pinned(model, true)
    } else {
        app.residency.set_pinned(model, false).and_then(|_| app.residency.set_keep_alive(model, s))
    };
    if let Err(e) = r {
        tracing::warn!(model, error = %e, "keep_alive not applied");
    }
    app.metrics.residency(&app.residency.take_log());
    Ok(())
}

fn created_at() -> String {
    // RFC 3339 in UTC, from the system clock (no date library needed for this one format).
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// The closing figures of an answer, in Ollama's names (durations in nanoseconds).
fn figures(s: &Served) -> Value {
    let ns = |x: f64| (x * 1e9) as u64;
    let done_reason = if crate::openai::finish_reason(s) == "length" { "length" } else { "stop" };
    match &s.answer {
        Some(a) => json!({
            "done": true, "done_reason": done_reason,
            "total_duration": ns(a.timings.prefill_s + a.timings.decode_s),
            "load_duration": 0,
            "prompt_eval_count": a.timings.prompt_tokens + a.timings.cached_tokens,
            "prompt_eval_duration": ns(a.timings.prefill_s),
            "eval_count": a.tokens,
            "eval_duration": ns(a.timings.decode_s),
        }),
        None => json!({"done": true, "done_reason": "stop"}),
    }
}

/// Run `request` and answer as Ollama does: NDJSON lines (`line(delta, done)`), or one object.
async fn answer(
    app: Arc<App>,
    model: String,
    request: Request,
    (stream, thinking): (bool, bool),
    keep: Option<Value>,
    tools: Option<crate::tools::ToolSpec>,
    line: impl Fn(&str, Option<&Served>, &[sage_llm::ToolCall]) -> Value + Send + Sync + 'static,
) -> Result<Response, ApiError> {
    // A line with a piece of thinking: in the message (chat) or beside the response (generate).
    let with_thinking = move |mut v: Value, t: &str| {
        if thinking {
            match v.get_mut("message") {
                Some(m) => m["thinking"] = t.into(),
                None => v["thinking"] = t.into(),
            }
        }
        v
    };
    if let Some(v) = &keep {
        keep_alive_s(v)?;
    }
    let slot = admit(&app).await?;
    let mut rx = spawn(app.clone(), model.clone(), request, slot);
    let hold = tools.as_ref().is_some_and(crate::tools::ToolSpec::is_offered);
    let calls_in = move |s: &Served| -> Option<(String, Vec<sage_llm::ToolCall>)> {
        if s.degraded {
            return None;
        }
        tools.as_ref().and_then(|t| t.calls(&s.reply))
    };
    if !stream {
        let s = whole(&app, &model, rx).await?;
        let answered = s.answer.as_ref().map_or(model.clone(), |a| a.model.clone());
        keep_alive(&app, &answered, keep.as_ref())?;
        let v = match calls_in(&s) {
            Some((before, calls)) => line(&before, Some(&s), &calls),
            None => line(&s.reply, Some(&s), &[]),
        };
        return Ok(Json(match &s.reasoning {
            Some(r) => with_thinking(v, r),
            None => v,
        })
        .into_response());
    }
    let first = first_or_error(&app, &model, &mut rx).await?;
    let app2 = app.clone();
    // Thinking apart; with tools, text that may be a call held back until it is known not to be.
    let mut deltas = crate::deltas::Deltas::new(false, hold);
    let lines = stream::iter([first]).chain(ReceiverStream::new(rx)).map(move |c| {
        let shown = |pieces: Vec<Piece>| -> Vec<Value> {
            pieces
                .into_iter()
                .filter_map(|p| match p {
                    Piece::Content(c) => Some(line(&c, None, &[])),
                    Piece::Reasoning(r) if thinking => Some(with_thinking(line("", None, &[]), &r)),
                    Piece::Reasoning(_) => None,
                })
                .collect()
        };
        let v = match c {
            Chunk::Delta(d) => shown(deltas.push(&d)),
            Chunk::Done(s) => {
                app2.metrics.finish(if s.degraded { "degraded" } else { "ok" });
                let answered = s.answer.as_ref().map_or(model.clone(), |a| a.model.clone());
                let _ = keep_alive(&app2, &answered, keep.as_ref());
                let mut out = shown(deltas.flush());
                let held = deltas.held();
                // The degraded responder's text was never streamed: it goes in the last line.
                out.push(if s.degraded {
                    line(&s.reply, Some(&s), &[])
                } else {
                    match calls_in(&s).filter(|_| !held.is_empty()) {
                        Some((before, calls)) => line(&before, Some(&s), &calls),
                        None => line(&held, Some(&s), &[]),
                    }
                });
                out
            }
        };
        stream::iter(v.into_iter().map(|v| Ok::<_, Infallible>(Bytes::from(format!("{v}\n")))))
    });
    let lines = lines.flatten();
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(lines)).into_response())
}

/// `POST /api/chat`.
pub(crate) async fn chat(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: ChatBody = parse(&body)?;
    let model = model_id(&app, &b.common.model)?;
    let messages = history(&b.messages)?;
    let tools = crate::tools::ToolSpec::parse(b.tools.as_ref(), None, None)?;
    if messages.is_empty() {
        // Ollama loads the model and answers nothing: a warm-up.
        load(&app, &model, b.common.keep_alive.as_ref()).await?;
        return Ok(Json(json!({"model": b.common.model, "created_at": created_at(), "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "load"})).into_response());
    }
    let (mut p, max_tokens) = params(&app, &b.common.options, b.common.format.as_ref())?;
    p.template_vars = b.common.template_vars()?;
    let last =
        messages.iter().rev().find(|m| m.role == Role::User).map(|m| m.content.clone()).unwrap_or_default();
    let mut request = plain_request(&last, messages, max_tokens, p, false);
    request.tools = tools.as_ref().map(|t| t.offered()).unwrap_or_default();
    let name = b.common.model.clone();
    let line = move |text: &str, done: Option<&Served>, calls: &[sage_llm::ToolCall]| {
        let mut message = json!({"role": "assistant", "content": text});
        if !calls.is_empty() {
            message["tool_calls"] = calls
                .iter()
                .map(|c| {
                    json!({"function": {"name": c.name,
                    "arguments": serde_json::from_str::<Value>(&c.arguments).unwrap_or(json!({}))}})
                })
                .collect();
        }
        let mut v = json!({"model": name, "created_at": created_at(), "message": message, "done": false});
        if let Some(s) = done {
            merge(&mut v, figures(s));
        }
        v
    };
    let how = (b.common.stream.unwrap_or(true), b.common.shows_thinking());
    answer(app, model, request, how, b.common.keep_alive, tools, line).await
}

/// An Ollama conversation: an assistant's calls get ids (`call_<message>_<n>`) and each tool
/// result answers the next call not yet answered, in order, as Ollama's history carries no ids.
fn history(wire: &[Message]) -> Result<Vec<ChatMessage>, ApiError> {
    let mut out = Vec::with_capacity(wire.len());
    let mut pending: std::collections::VecDeque<String> = Default::default();
    for (i, m) in wire.iter().enumerate() {
        let role = crate::openai::role(i, &m.role)?;
        if !m.images.is_empty() {
            return Err(ApiError::invalid(
                format!("messages[{i}] has images; SAGE's models read text only"),
                Some("messages"),
            ));
        }
        let mut msg = ChatMessage::new(role, m.content.clone());
        if let (Role::Assistant, Some(calls)) = (role, &m.tool_calls) {
            for (j, c) in calls.iter().enumerate() {
                let name = c["function"]["name"].as_str().unwrap_or("").to_string();
                if name.is_empty() {
                    return Err(ApiError::invalid(
                        format!("messages[{i}].tool_calls[{j}] names no function"),
                        Some("messages"),
                    ));
                }
                let id = format!("call_{i}_{j}");
                pending.push_back(id.clone());
                let args = match &c["function"]["arguments"] {
                    Value::String(s) => s.clone(),
                    v if v.is_null() => "{}".into(),
                    v => v.to_string(),
                };
                msg.tool_calls.push(sage_llm::ToolCall { id, name, arguments: args });
            }
        }
        if role == Role::Tool {
            msg.tool_call_id = Some(pending.pop_front().unwrap_or_default());
        }
        out.push(msg);
    }
    Ok(out)
}

/// `POST /api/generate`.
pub(crate) async fn generate(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: GenerateBody = parse(&body)?;
    let model = model_id(&app, &b.common.model)?;
    if !b.images.is_empty() {
        return Err(ApiError::invalid("images: SAGE's models read text only", Some("images")));
    }
    if b.prompt.is_empty() {
        load(&app, &model, b.common.keep_alive.as_ref()).await?;
        return Ok(Json(json!({"model": b.common.model, "created_at": created_at(), "response": "", "done": true, "done_reason": "load"})).into_response());
    }
    let (mut p, max_tokens) = params(&app, &b.common.options, b.common.format.as_ref())?;
    p.template_vars = b.common.template_vars()?;
    let mut messages = vec![];
    if let Some(system) = b.system.as_ref().filter(|_| !b.raw) {
        messages.push(ChatMessage::new(Role::System, system.clone()));
    }
    messages.push(ChatMessage::new(Role::User, b.prompt.clone()));
    // Ollama's generate applies the model's template unless `raw`; SAGE's plain completion is
    // the raw prompt.
    let request = plain_request(&b.prompt, messages, max_tokens, p, b.raw);
    let name = b.common.model.clone();
    let line = move |text: &str, done: Option<&Served>, _: &[sage_llm::ToolCall]| {
        let mut v = json!({"model": name, "created_at": created_at(), "response": text, "done": false});
        if let Some(s) = done {
            merge(&mut v, figures(s));
        }
        v
    };
    let how = (b.common.stream.unwrap_or(true), b.common.shows_thinking());
    answer(app, model, request, how, b.common.keep_alive, None, line).await
}

pub(crate) fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

/// Ollama's `details`: the format, and what the model's file says (family, parameter size,
/// quantization), empty where SAGE has no file to read (a remote model, an HF folder).
fn details(app: &App, id: &str) -> Value {
    let spec = app.specs.iter().find(|s| s.id == id);
    let format = match spec.map(|s| &s.engine) {
        Some(sage_runtime::EngineKind::Openai) => "remote",
        _ => "gguf",
    };
    app.facts.get(id).cloned().unwrap_or_default().details(format)
}

/// The model's digest (see [`crate::model_facts::identity_digest`]).
fn digest(app: &App, id: &str) -> String {
    app.facts.get(id).map(|f| f.digest.clone()).unwrap_or_default()
}

/// `POST /api/embed`: unit-length embeddings from the model's own pooled hidden states.
pub(crate) async fn embed(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: EmbedBody = parse(&body)?;
    let model = if b.model == "sage" { b.model.clone() } else { model_id(&app, &b.model)? };
    if let Some(v) = &b.keep_alive {
        keep_alive_s(v)?;
    }
    let e = crate::embed::embed(&app, &model, b.input.into_vec()).await?;
    keep_alive(&app, &e.model, b.keep_alive.as_ref())?;
    Ok(Json(json!({"model": b.model, "embeddings": e.vectors,
        "total_duration": (e.seconds * 1e9) as u64, "load_duration": 0, "prompt_eval_count": e.tokens}))
    .into_response())
}

/// `POST /api/embeddings` (Ollama's older embedding endpoint): the one text's embedding, as
/// `/api/embed` computes it (unit length; Ollama's own answer here is not normalised). No
/// prompt, or an empty one, loads the model and answers an empty embedding, as Ollama does.
pub(crate) async fn embeddings(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: LegacyEmbedBody = parse(&body)?;
    let model = if b.model == "sage" { b.model.clone() } else { model_id(&app, &b.model)? };
    let Some(prompt) = b.prompt.filter(|p| !p.is_empty()) else {
        load(&app, &model, b.keep_alive.as_ref()).await?;
        return Ok(Json(json!({"embedding": []})).into_response());
    };
    if let Some(v) = &b.keep_alive {
        keep_alive_s(v)?;
    }
    let mut e = crate::embed::embed(&app, &model, vec![prompt]).await?;
    keep_alive(&app, &e.model, b.keep_alive.as_ref())?;
    Ok(Json(json!({"embedding": e.vectors.pop().unwrap_or_default()})).into_response())
}

/// `GET /api/tags`: the zoo's models.
pub(crate) async fn tags(State(app): State<Arc<App>>) -> Response {
    let models: Vec<Value> = app
        .specs
        .iter()
        .map(|s| {
            let size = s.path.as_ref().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
            json!({"name": s.id, "model": s.id, "modified_at": created_at(), "size": size, "digest": digest(&app, &s.id), "details": details(&app, &s.id)})
        })
        .collect();
    Json(json!({"models": models})).into_response()
}

/// `GET /api/ps`: the models resident now.
pub(crate) async fn ps(State(app): State<Arc<App>>) -> Response {
    let models: Vec<Value> = app
        .residency
        .resident()
        .into_iter()
        .map(|r| {
            json!({"name": r.model, "model": r.model, "size": r.bytes, "size_vram": 0, "digest": digest(&app, &r.model),
                   "expires_at": if r.pinned { "2318-01-01T00:00:00Z".to_string() } else { created_at() },
                   "details": details(&app, &r.model)})
        })
        .collect();
    Json(json!({"models": models})).into_response()
}

/// `POST /api/show`: what SAGE knows of a model.
pub(crate) async fn show(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: ShowBody = parse(&body)?;
    let id = model_id(&app, &b.model)?;
    let spec = app.specs.iter().find(|s| s.id == id);
    let facts = app.facts.get(&id).cloned().unwrap_or_default();
    let mut info = facts.info.clone();
    info.insert("sage.context_length".into(), json!(spec.map(|s| s.context)));
    info.insert("sage.role".into(), json!(spec.map(|s| s.role.clone())));
    let mut capabilities = vec!["completion", "embedding"];
    if sage_llm::tools::template_knows_tools(&facts.template) {
        capabilities.push("tools");
    }
    // Ollama's clients look for it before asking `think` (decision 0025).
    let name = facts.info.get("general.name").and_then(Value::as_str);
    if sage_llm::reasoning::template_thinks(&facts.template)
        || sage_llm::reasoning::switched_by_system_prompt(None, name)
    {
        capabilities.push("thinking");
    }
    Ok(Json(json!({
        "modelfile": "",
        "parameters": "",
        "template": facts.template,
        "details": details(&app, &id),
        "model_info": info,
        "capabilities": capabilities,
        "modified_at": created_at(),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct PullBody {
    #[serde(alias = "name")]
    model: String,
    stream: Option<bool>,
}

/// `POST /api/pull`: SAGE downloads nothing (its models are the zoo's files), so a model the zoo
/// has is already "pulled": `{"status": "success"}`, as one NDJSON line when streamed (the
/// default), so that scripts that pull before they chat go on; any other name is a 404 that says
/// so.
pub(crate) async fn pull(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: PullBody = parse(&body)?;
    let id = b.model.strip_suffix(":latest").unwrap_or(&b.model);
    if !app.specs.iter().any(|s| s.id == id) {
        return Err(ApiError {
            message: format!(
                "model {} is not in the zoo; SAGE serves the zoo's files and downloads nothing",
                b.model
            ),
            ..ApiError::unknown_model(&b.model)
        });
    }
    let done = json!({"status": "success"});
    if b.stream.unwrap_or(true) {
        return Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], format!("{done}\n")).into_response());
    }
    Ok(Json(done).into_response())
}

/// `GET /api/version`.
pub(crate) async fn version() -> Response {
    Json(json!({"version": env!("CARGO_PKG_VERSION")})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_reads_numbers_and_go_durations() {
        for (v, s) in [
            (json!(300), 300.0),
            (json!("5m"), 300.0),
            (json!("1h30m"), 5400.0),
            (json!("0"), 0.0),
            (json!("-1"), -1.0),
            (json!("-1m"), -60.0),
            (json!("250ms"), 0.25),
        ] {
            assert_eq!(keep_alive_s(&v).unwrap_or(f64::NAN), s, "{v}");
        }
        for v in [json!("soon"), json!("5x"), json!(true), json!("5m3")] {
            assert!(keep_alive_s(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn created_at_is_rfc3339_utc() {
        let t = created_at();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[4] == b'-' && t.as_bytes()[10] == b'T', "{t}");
    }
}
