//! llama.cpp's own server endpoints, for the scripts and web UIs written against `llama-server`:
//! `POST /completion` (streamed as server-sent events of `{"content", "stop"}` objects, or whole,
//! with llama-server's `stop_type`, token counts and `timings`), `POST /tokenize`,
//! `POST /detokenize`, `POST /apply-template` and `GET /props`. The same router, queue and engines as the OpenAI API.
//! `model` is optional (llama-server serves one model): absent, it is the zoo's first; `sage`
//! lets the router choose. `n_probs` gives `completion_probabilities` with the whole answer
//! (not per streamed event). Fields llama-server knows and SAGE does not use (`cache_prompt`,
//! `n_keep`...) are ignored, as llama-server ignores what it does not know. Lazy grammars
//! (`grammar_lazy`, `grammar_triggers`, `preserved_tokens`) as llama-server reads them
//! (`lazy.rs`).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio_stream::wrappers::ReceiverStream;

use sage_llm::{ChatMessage, Constraint, FinishReason, GenerateParams, Role, Sampling, TokenId};
use sage_runtime::route::Served;
use sage_runtime::ResidencyError;

use crate::openai::{check_model, fresh_seed, plain_request};
use crate::run::{first_or_error, spawn, whole, Chunk};
use crate::{admit, ApiError, App};

/// Tokens one `/detokenize` may carry, and texts' bytes one `/tokenize` may carry.
const MAX_TOKENS_IN: usize = 1 << 20;

#[derive(Deserialize)]
struct CompletionBody {
    prompt: Value,
    model: Option<String>,
    n_predict: Option<i64>,
    temperature: Option<f32>,
    top_k: Option<i64>,
    top_p: Option<f32>,
    min_p: Option<f32>,
    seed: Option<i64>,
    #[serde(default, deserialize_with = "crate::nullable")]
    stop: Vec<String>,
    repeat_penalty: Option<f32>,
    repeat_last_n: Option<i64>,
    presence_penalty: Option<f32>,
    frequency_penalty: Option<f32>,
    /// `[[id, bias], ...]` (`false` bans the token) or `{"id": bias}`.
    logit_bias: Option<Value>,
    #[serde(default, deserialize_with = "crate::nullable")]
    stream: bool,
    json_schema: Option<Value>,
    grammar: Option<String>,
    /// Report each generated token's log-probability and this many alternatives (at most 20).
    n_probs: Option<u32>,
    #[serde(flatten)]
    lazy: crate::lazy::LazyFields,
}

#[derive(Deserialize)]
struct TokenizeBody {
    content: String,
    model: Option<String>,
    #[serde(default, deserialize_with = "crate::nullable")]
    add_special: bool,
    #[serde(default, deserialize_with = "crate::nullable")]
    with_pieces: bool,
}

#[derive(Deserialize)]
struct DetokenizeBody {
    tokens: Vec<i64>,
    model: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("the body is not a valid request: {e}"), None))
}

/// The zoo id a request means: absent or `sage`, the zoo's first model (llama-server serves one).
pub(crate) fn model_of(app: &App, model: Option<&str>) -> Result<String, ApiError> {
    match model.filter(|m| *m != "sage") {
        Some(m) => {
            check_model(app, m)?;
            Ok(m.to_string())
        }
        None => app.specs.first().map(|s| s.id.clone()).ok_or_else(|| ApiError::unknown_model("(none)")),
    }
}

/// The prompt: a string, or an array holding one string (token arrays are refused).
fn prompt_of(v: &Value) -> Result<String, ApiError> {
    let text = match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) if a.len() == 1 => a[0].as_str().map(str::to_string),
        _ => None,
    };
    match text {
        Some(t) if !t.is_empty() => Ok(t),
        Some(_) => Err(ApiError::invalid("the prompt is empty", Some("prompt"))),
        None => Err(ApiError::invalid(
            "give the prompt as one string (token prompts are not served)",
            Some("prompt"),
        )),
    }
}

/// Sampling and limits in llama-server's names and conventions (`n_predict` -1: until the answer
/// ends, capped at the server's default; `top_k` 0 or less: the whole vocabulary; `seed` -1 or
/// absent: a fresh one; `repeat_last_n` -1: the context, here the largest window the sampler has).
fn params(app: &App, b: &CompletionBody) -> Result<(GenerateParams, u32), ApiError> {
    let d = Sampling::default();
    let sampling = Sampling {
        temperature: b.temperature.unwrap_or(d.temperature),
        top_p: b.top_p.unwrap_or(d.top_p),
        top_k: b.top_k.map_or(d.top_k, |k| k.clamp(0, u32::MAX as i64) as u32),
        min_p: b.min_p.unwrap_or(d.min_p),
        repeat_penalty: b.repeat_penalty.unwrap_or(d.repeat_penalty),
        repeat_last_n: b.repeat_last_n.map_or(d.repeat_last_n, |n| {
            if n < 0 {
                u32::MAX
            } else {
                n.min(u32::MAX as i64) as u32
            }
        }),
        presence_penalty: b.presence_penalty.unwrap_or(d.presence_penalty),
        frequency_penalty: b.frequency_penalty.unwrap_or(d.frequency_penalty),
        seed: match b.seed {
            Some(s) if s >= 0 => (s & 0xFFFF_FFFF) as u32,
            _ => fresh_seed(),
        },
    };
    if !(sampling.temperature.is_finite() && (0.0..=2.0).contains(&sampling.temperature)) {
        return Err(ApiError::invalid(
            format!("temperature {} is outside [0, 2]", sampling.temperature),
            Some("temperature"),
        ));
    }
    if !(sampling.top_p > 0.0 && sampling.top_p <= 1.0) {
        return Err(ApiError::invalid(format!("top_p {} is outside (0, 1]", sampling.top_p), Some("top_p")));
    }
    let max_tokens = match b.n_predict {
        Some(n) if n > 0 => n.min(u32::MAX as i64) as u32,
        Some(0) => return Err(ApiError::invalid("n_predict must not be 0", Some("n_predict"))),
        _ => app.config.default_max_tokens,
    };
    let grammar = b.grammar.as_deref().filter(|g| !g.is_empty());
    let constraint = match (&b.json_schema, grammar) {
        (Some(Value::Null) | None, None) => None,
        (Some(Value::Null) | None, Some(g)) => Some(Constraint::Grammar(g.to_string())),
        (Some(s @ Value::Object(_)), None) => Some(Constraint::JsonSchema(s.clone())),
        (Some(Value::Object(_)), Some(_)) => {
            return Err(ApiError::invalid("give json_schema or grammar, not both", Some("grammar")))
        }
        (Some(other), _) => {
            return Err(ApiError::invalid(
                format!("json_schema must be an object, got {other}"),
                Some("json_schema"),
            ))
        }
    };
    if let Some(c) = &constraint {
        let param = if matches!(c, Constraint::Grammar(_)) { "grammar" } else { "json_schema" };
        sage_llm::check_constraint(c)
            .map_err(|e| ApiError::invalid(format!("{param} is not usable: {e}"), Some(param)))?;
    }
    let (constraint_triggers, preserved_tokens) = b.lazy.read(constraint.as_ref())?;
    crate::openai::check_stops(&b.stop, "stop")?;
    let logit_bias = logit_bias(b.logit_bias.as_ref())?;
    let p = GenerateParams {
        max_tokens,
        sampling,
        stop: b.stop.clone(),
        constraint,
        constraint_triggers,
        preserved_tokens,
        logit_bias,
        logprobs: b.n_probs.filter(|&n| n > 0).map(|n| n.min(20)),
        ..GenerateParams::default()
    };
    Ok((p, max_tokens))
}

/// llama-server's `logit_bias`: pairs `[id, bias]` (`false` bans the token) or an object of ids
/// to biases; at most [`crate::openai::MAX_LOGIT_BIAS`] entries.
fn logit_bias(v: Option<&Value>) -> Result<Vec<(TokenId, f32)>, ApiError> {
    let bad = |why: String| ApiError::invalid(format!("logit_bias: {why}"), Some("logit_bias"));
    let entries: Vec<(Value, Value)> = match v {
        None | Some(Value::Null) => return Ok(vec![]),
        Some(Value::Array(pairs)) => pairs
            .iter()
            .map(|p| match p.as_array().map(Vec::as_slice) {
                Some([id, bias]) => Ok((id.clone(), bias.clone())),
                _ => Err(bad(format!("{p} is not a pair [id, bias]"))),
            })
            .collect::<Result<_, _>>()?,
        Some(Value::Object(m)) => m.iter().map(|(k, b)| (Value::String(k.clone()), b.clone())).collect(),
        Some(other) => return Err(bad(format!("{other} is neither pairs nor an object"))),
    };
    if entries.len() > crate::openai::MAX_LOGIT_BIAS {
        return Err(bad(format!("{} entries; at most {}", entries.len(), crate::openai::MAX_LOGIT_BIAS)));
    }
    entries
        .into_iter()
        .map(|(id, bias)| {
            let token = match &id {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            }
            .and_then(|x| TokenId::try_from(x).ok())
            .ok_or_else(|| bad(format!("{id} is not a token id")))?;
            let bias = match bias {
                Value::Bool(false) => f32::NEG_INFINITY,
                Value::Number(n) => n
                    .as_f64()
                    .map(|x| x as f32)
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| bad(format!("{n} is not a bias")))?,
                other => return Err(bad(format!("{other} is not a bias (a number, or false to ban)"))),
            };
            Ok((token, bias))
        })
        .collect()
}

/// llama-server's closing fields: why it stopped, the counts and the timings (milliseconds).
fn closing(s: &Served, asked: &str) -> Value {
    let model = s.answer.as_ref().map_or(asked, |a| a.model.as_str());
    let Some(a) = &s.answer else {
        return json!({"stop": true, "model": model, "stop_type": "eos", "tokens_predicted": 0, "tokens_evaluated": 0});
    };
    let stop_type = match a.finish {
        Some(FinishReason::Length) => "limit",
        Some(FinishReason::Stop) => "word",
        _ if crate::openai::finish_reason(s) == "length" => "limit",
        _ => "eos",
    };
    let t = &a.timings;
    let prompt_ms = t.prefill_s * 1e3;
    // Generating: from the end of the prompt to the first token, then the rest.
    let predicted_ms = (t.time_to_first_token_s - t.prefill_s).max(0.0) * 1e3 + t.decode_s * 1e3;
    let per = |n: u32, ms: f64| if n > 0 { ms / f64::from(n) } else { 0.0 };
    let rate = |n: u32, ms: f64| if ms > 0.0 { f64::from(n) * 1e3 / ms } else { 0.0 };
    json!({
        "stop": true,
        "model": model,
        "stop_type": stop_type,
        "stopping_word": "",
        "truncated": false,
        "tokens_predicted": a.tokens,
        "tokens_evaluated": t.prompt_tokens + t.cached_tokens,
        "tokens_cached": t.cached_tokens,
        "timings": {
            "prompt_n": t.prompt_tokens,
            "prompt_ms": prompt_ms,
            "prompt_per_token_ms": per(t.prompt_tokens, prompt_ms),
            "prompt_per_second": rate(t.prompt_tokens, prompt_ms),
            "predicted_n": a.tokens,
            "predicted_ms": predicted_ms,
            "predicted_per_token_ms": per(a.tokens, predicted_ms),
            "predicted_per_second": rate(a.tokens, predicted_ms),
        },
    })
}

/// llama-server's `completion_probabilities`: each generated token with its log-probability and
/// its most likely alternatives.
fn probabilities(s: &Served) -> Value {
    let Some(a) = &s.answer else { return json!([]) };
    let entry = |id: TokenId, text: &str, lp: f32| json!({"id": id, "token": text, "bytes": text.as_bytes(), "logprob": lp});
    a.tokens_out
        .iter()
        .map(|t| {
            let mut v = entry(t.id, &t.text, t.logprob.unwrap_or(0.0));
            v["top_logprobs"] = t.top.iter().map(|(id, text, lp)| entry(*id, text, *lp)).collect();
            v
        })
        .collect()
}

/// An f32 setting as the decimal it was written as (0.8, not 0.800000011920929).
pub(crate) fn short(x: f32) -> Value {
    json!(x.to_string().parse::<f64>().unwrap_or(f64::from(x)))
}

/// `POST /completion`.
pub(crate) async fn completion(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: CompletionBody = parse(&body)?;
    let model = match b.model.as_deref() {
        Some("sage") => "sage".to_string(),
        other => model_of(&app, other)?,
    };
    let prompt = prompt_of(&b.prompt)?;
    let (p, max_tokens) = params(&app, &b)?;
    let stops = p.stop.clone();
    let messages = vec![ChatMessage::new(Role::User, prompt.clone())];
    let request = plain_request(&prompt, messages, max_tokens, p, true);
    let slot = admit(&app).await?;
    let mut rx = spawn(app.clone(), model.clone(), request, slot);
    if !b.stream {
        let s = whole(&app, &model, rx).await?;
        let mut v = closing(&s, &model);
        crate::ollama::merge(
            &mut v,
            json!({"index": 0, "content": crate::openai::completion_text(&s, &stops)}),
        );
        if b.n_probs.is_some_and(|n| n > 0) {
            v["completion_probabilities"] = probabilities(&s);
        }
        return Ok(Json(v).into_response());
    }
    let first = first_or_error(&app, &model, &mut rx).await?;
    // Events as llama-server sends them: one object per piece, the last with `stop: true` and
    // the figures; no `[DONE]` line (that is the OpenAI endpoints').
    let events = stream::iter([first]).chain(ReceiverStream::new(rx)).map(move |c| {
        let v = match c {
            Chunk::Delta(d) => json!({"index": 0, "content": d, "stop": false}),
            Chunk::Done(s) => {
                app.metrics.finish(if s.degraded { "degraded" } else { "ok" });
                let mut v = closing(&s, &model);
                // The degraded responder's text was never streamed: it comes with the last event.
                let content = if s.degraded { s.reply.clone() } else { String::new() };
                crate::ollama::merge(&mut v, json!({"index": 0, "content": content}));
                v
            }
        };
        Ok::<_, Infallible>(Event::default().data(v.to_string()))
    });
    Ok(Sse::new(events).into_response())
}

/// Run `f` on `model`'s engine (loading it if it is not resident), on a blocking thread.
pub(crate) async fn with_model<T: Send + 'static>(
    app: &Arc<App>,
    model: String,
    f: impl FnOnce(&dyn sage_llm::LanguageModel) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let app2 = app.clone();
    let r = tokio::task::spawn_blocking(move || {
        let lease = app2.residency.acquire(&model, "llama-server API").map_err(|e| match e {
            ResidencyError::Unknown { .. } => ApiError::unknown_model(&model),
            other => ApiError::unavailable(other.to_string()),
        })?;
        f(lease.model())
    })
    .await
    .map_err(|e| ApiError::internal(format!("the engine call failed: {e}")))?;
    app.metrics.residency(&app.residency.take_log());
    r
}

#[derive(Deserialize)]
struct ApplyTemplateBody {
    model: Option<String>,
    messages: Vec<Value>,
    tools: Option<Vec<Value>>,
    chat_template_kwargs: Option<serde_json::Map<String, Value>>,
}

/// `POST /apply-template`: the prompt a chat request's messages (and tools) make through the
/// model's chat template, as llama-server gives it, without generating.
pub(crate) async fn apply_template(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: ApplyTemplateBody = parse(&body)?;
    let messages = crate::openai::chat_history_of(&b.messages)?;
    if messages.is_empty() {
        return Err(ApiError::invalid("messages must not be empty", Some("messages")));
    }
    let tools =
        crate::tools::ToolSpec::parse(b.tools.as_ref(), None, None)?.map(|t| t.offered()).unwrap_or_default();
    let model = model_of(&app, b.model.as_deref())?;
    let vars = b.chat_template_kwargs.filter(|v| !v.is_empty());
    let prompt = with_model(&app, model, move |m| {
        m.render_chat_vars(&messages, &tools, vars.as_ref()).map(|r| r.text).map_err(|e| {
            ApiError::invalid(format!("the conversation cannot be rendered: {e}"), Some("messages"))
        })
    })
    .await?;
    Ok(Json(json!({"prompt": prompt})).into_response())
}

/// `POST /tokenize`: `{"tokens": [...]}`, or `[{"id", "piece"}]` with `with_pieces`.
pub(crate) async fn tokenize(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: TokenizeBody = parse(&body)?;
    if b.content.len() > MAX_TOKENS_IN {
        return Err(ApiError::invalid(
            format!("content of {} bytes; at most {MAX_TOKENS_IN}", b.content.len()),
            Some("content"),
        ));
    }
    let model = model_of(&app, b.model.as_deref())?;
    let tokens = with_model(&app, model, move |m| {
        let ids = m.tokenize(&b.content, b.add_special).map_err(|e| ApiError::invalid(e.to_string(), Some("content")))?;
        if !b.with_pieces {
            return Ok(json!(ids));
        }
        let pieces = ids
            .iter()
            .map(|&id| Ok(json!({"id": id, "piece": m.detokenize(&[id]).map_err(|e| ApiError::internal(e.to_string()))?})))
            .collect::<Result<Vec<Value>, ApiError>>()?;
        Ok(Value::Array(pieces))
    })
    .await?;
    Ok(Json(json!({"tokens": tokens})).into_response())
}

/// `POST /detokenize`: `{"content": "..."}`.
pub(crate) async fn detokenize(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: DetokenizeBody = parse(&body)?;
    if b.tokens.len() > MAX_TOKENS_IN {
        return Err(ApiError::invalid(
            format!("{} tokens; at most {MAX_TOKENS_IN}", b.tokens.len()),
            Some("tokens"),
        ));
    }
    let model = model_of(&app, b.model.as_deref())?;
    let content = with_model(&app, model, move |m| {
        let vocab = m.info().vocab;
        let ids = b
            .tokens
            .iter()
            .map(|&t| {
                TokenId::try_from(t).ok().filter(|&id| id < vocab).ok_or_else(|| {
                    ApiError::invalid(
                        format!("token {t} is outside the vocabulary of {vocab}"),
                        Some("tokens"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        m.detokenize(&ids).map_err(|e| ApiError::invalid(e.to_string(), Some("tokens")))
    })
    .await?;
    Ok(Json(json!({"content": content})).into_response())
}

/// `GET /props`: the default model's window, the server's slots, the default settings and the
/// chat template, as llama-server gives them.
pub(crate) async fn props(State(app): State<Arc<App>>) -> Response {
    let spec = app.specs.first();
    let facts = spec.and_then(|s| app.facts.get(&s.id)).cloned().unwrap_or_default();
    let d = Sampling::default();
    Json(json!({
        "default_generation_settings": {
            "n_ctx": spec.map(|s| s.context),
            "model": spec.map(|s| s.id.clone()),
            "params": {
                "n_predict": app.config.default_max_tokens,
                "temperature": short(d.temperature),
                "top_k": d.top_k,
                "top_p": short(d.top_p),
                "min_p": short(d.min_p),
                "repeat_penalty": short(d.repeat_penalty),
                "repeat_last_n": d.repeat_last_n,
            },
        },
        "total_slots": app.config.max_running,
        "model_path": spec.and_then(|s| s.path.as_ref()).map(|p| p.display().to_string()),
        "chat_template": facts.template,
        "build_info": format!("sage {}", env!("CARGO_PKG_VERSION")),
    }))
    .into_response()
}
