//! A remote model behind an OpenAI-compatible server (llama.cpp's server, vLLM, Ollama, another
//! SAGE), through `/v1/completions`.
//!
//! The remote tokenizer is not known here, so this engine's tokens are the prompt's **bytes**
//! (plus one; 0 is the beginning of the prompt): counts are exact for trimming and windows, and
//! a remote window of `context` tokens is declared as `4 × context` bytes (about four bytes per
//! token for English). A request for `n` tokens asks the server for `⌈n / 4⌉`; the log-probability
//! of each remote token is spread evenly over its bytes, so the sum (and the mean NLL per
//! remote token, up to that spreading) is kept.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{GenerateError, LoadError, TokenizeError};
use crate::model::{LanguageModel, SessionId};
use crate::types::{
    Event, FinishReason, Flow, GenerateParams, Generation, ModelInfo, Timings, TokenId, TokenOut,
};

/// Retries of a failed remote completion.
const RETRIES: u32 = 2;

/// Bytes per remote token assumed for windows and token budgets.
pub const BYTES_PER_TOKEN: u32 = 4;

/// A model served by a remote OpenAI-compatible server.
pub struct OpenAiModel {
    info: ModelInfo,
    base: String,
    remote_model: String,
    api_key: Option<String>,
    agent: ureq::Agent,
    sessions: Mutex<BTreeMap<SessionId, u32>>,
    next: AtomicU64,
}

#[derive(Deserialize)]
struct ModelList {
    #[serde(default)]
    data: Vec<ModelEntry>,
}

#[derive(Deserialize)]
struct ModelEntry {
    id: String,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    #[allow(dead_code)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    text: String,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<Logprobs>,
}

#[derive(Deserialize)]
struct Logprobs {
    #[serde(default)]
    tokens: Vec<String>,
    #[serde(default)]
    token_logprobs: Vec<Option<f32>>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    #[allow(dead_code)]
    prompt_tokens: u32,
}

impl OpenAiModel {
    /// Connect to `base_url` (for example `http://10.0.0.2:8080`) and check that it serves
    /// `remote_model` (when the server lists its models). `id` names the model in SAGE;
    /// `context` is the remote window in tokens.
    pub fn connect(
        id: &str,
        base_url: &str,
        remote_model: &str,
        api_key: Option<String>,
        context: u32,
        timeout: Duration,
    ) -> Result<Self, LoadError> {
        let base = base_url.trim_end_matches('/').trim_end_matches("/v1").to_string();
        let err = |message: String| LoadError::Remote { model: id.into(), url: base.clone(), message };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let started = Instant::now();
        let mut req = agent.get(format!("{base}/v1/models"));
        if let Some(k) = &api_key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        let mut resp = req.call().map_err(|e| err(e.to_string()))?;
        if !resp.status().is_success() {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(err(format!("GET /v1/models answered {}: {}", resp.status(), clip(&body))));
        }
        let list: ModelList = resp.body_mut().read_json().map_err(|e| err(format!("GET /v1/models: {e}")))?;
        if !list.data.is_empty() && !list.data.iter().any(|m| m.id == remote_model) {
            let served: Vec<String> = list.data.into_iter().map(|m| m.id).collect();
            return Err(err(format!("does not serve {remote_model} (it serves {})", served.join(", "))));
        }
        let window = context.saturating_mul(BYTES_PER_TOKEN);
        let info = ModelInfo {
            id: id.into(),
            path: PathBuf::from(format!("{base}/v1#{remote_model}")),
            architecture: "remote".into(),
            name: Some(remote_model.into()),
            parameters: 0,
            weight_bytes: 0,
            train_context: window,
            vocab: 257,
            layers: 0,
            chat_template: None,
            bos: None,
            eos: None,
            load_s: started.elapsed().as_secs_f64(),
            resident_bytes: 0,
            weights: None,
            embedding_only: false,
        };
        Ok(Self {
            info,
            base,
            remote_model: remote_model.into(),
            api_key,
            agent,
            sessions: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(1),
        })
    }

    fn remote(&self, message: impl Into<String>) -> GenerateError {
        GenerateError::Remote { model: self.info.id.clone(), message: message.into() }
    }

    /// The `/v1/completions` body for `prompt` (as text) with `params`: what a remote server can
    /// be asked; a constraint or a logit bias is refused (the server would not apply it to this
    /// model's tokens).
    fn request_body(
        &self,
        prompt: &[TokenId],
        params: &GenerateParams,
    ) -> Result<serde_json::Value, GenerateError> {
        if params.constraint.is_some() {
            return Err(GenerateError::InvalidParams {
                model: self.info.id.clone(),
                message: "grammar and JSON-schema constraints are not sent to remote servers".into(),
            });
        }
        if !params.logit_bias.is_empty() {
            return Err(GenerateError::InvalidParams {
                model: self.info.id.clone(),
                message: "logit_bias is not sent to remote servers (their token ids are not this model's)"
                    .into(),
            });
        }
        let text = self.detokenize(prompt)?;
        let s = &params.sampling;
        let mut body = serde_json::json!({
            "model": self.remote_model,
            "prompt": text,
            "max_tokens": params.max_tokens.div_ceil(BYTES_PER_TOKEN).max(1),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "seed": s.seed,
            "logprobs": 1,
            "stream": false,
        });
        if !params.stop.is_empty() {
            body["stop"] = serde_json::json!(params.stop);
        }
        for (name, x) in
            [("frequency_penalty", s.frequency_penalty), ("presence_penalty", s.presence_penalty)]
        {
            if x != 0.0 {
                body[name] = serde_json::json!(x);
            }
        }
        Ok(body)
    }
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

fn bytes_to_tokens(text: &str) -> impl Iterator<Item = TokenId> + '_ {
    text.bytes().map(|b| b as TokenId + 1)
}

impl LanguageModel for OpenAiModel {
    fn constrains(&self) -> bool {
        false
    }

    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<TokenId>, TokenizeError> {
        let mut t: Vec<TokenId> = if add_bos { vec![0] } else { vec![] };
        t.extend(bytes_to_tokens(text));
        Ok(t)
    }

    fn detokenize(&self, tokens: &[TokenId]) -> Result<String, TokenizeError> {
        if let Some(&id) = tokens.iter().find(|&&t| t > 256) {
            return Err(TokenizeError::UnknownToken { model: self.info.id.clone(), id, vocab: 257 });
        }
        let bytes: Vec<u8> = tokens.iter().filter(|&&t| t > 0).map(|&t| (t - 1) as u8).collect();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn open_session(&self, context: Option<u32>) -> Result<(SessionId, u32), GenerateError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let n = context.map_or(self.info.train_context, |c| {
            c.saturating_mul(BYTES_PER_TOKEN).min(self.info.train_context)
        });
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(id, n);
        Ok((id, n))
    }

    fn close_session(&self, session: SessionId) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&session);
    }

    fn generate_tokens(
        &self,
        session: SessionId,
        prompt: &[TokenId],
        params: &GenerateParams,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Generation, GenerateError> {
        let window = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&session)
            .copied()
            .ok_or(GenerateError::NoSession { model: self.info.id.clone(), session })?;
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt { model: self.info.id.clone() });
        }
        if prompt.len() + params.max_tokens as usize > window as usize {
            return Err(GenerateError::ContextOverflow {
                model: self.info.id.clone(),
                prompt_tokens: prompt.len(),
                max_tokens: params.max_tokens,
                context: window,
            });
        }
        let body = self.request_body(prompt, params)?;
        let started = Instant::now();
        // Transport failures and 5xx answers are retried twice with backoff (100 ms, then
        // 400 ms); a 4xx is the request's fault and is not. Repeated failures then count
        // against the model's trust, which cools it down.
        let mut attempt = 0;
        let mut resp = loop {
            let mut req = self.agent.post(format!("{}/v1/completions", self.base));
            if let Some(k) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {k}"));
            }
            let retry = match req.send_json(&body) {
                Ok(r) if r.status().is_server_error() && attempt < RETRIES => format!("{}", r.status()),
                Ok(r) => break r,
                Err(e) if attempt < RETRIES => e.to_string(),
                Err(e) => return Err(self.remote(format!("{e} (after {} attempts)", attempt + 1))),
            };
            tracing::debug!(model = %self.info.id, attempt, %retry, "retrying a remote completion");
            std::thread::sleep(Duration::from_millis(100 * 4u64.pow(attempt)));
            attempt += 1;
        };
        if !resp.status().is_success() {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            let message = format!("POST /v1/completions answered {}: {}", resp.status(), clip(&body));
            if body.contains("context_length_exceeded") {
                return Err(GenerateError::ContextOverflow {
                    model: self.info.id.clone(),
                    prompt_tokens: prompt.len(),
                    max_tokens: params.max_tokens,
                    context: window,
                });
            }
            return Err(self.remote(message));
        }
        let c: Completion =
            resp.body_mut().read_json().map_err(|e| self.remote(format!("unreadable completion: {e}")))?;
        let elapsed = started.elapsed().as_secs_f64();
        let choice =
            c.choices.into_iter().next().ok_or_else(|| self.remote("the completion has no choices"))?;
        if on_event(Event::PromptDone { evaluated: prompt.len() as u32, cached: 0 }) == Flow::Stop {
            return Ok(Generation {
                text: String::new(),
                tokens: vec![],
                finish: FinishReason::Cancelled,
                timings: Timings::default(),
            });
        }
        // Each remote token's log-probability spread over its bytes.
        let mut pieces: Vec<(String, Option<f32>)> = match &choice.logprobs {
            Some(lp) if !lp.tokens.is_empty() && lp.tokens.concat() == choice.text => lp
                .tokens
                .iter()
                .cloned()
                .zip(lp.token_logprobs.iter().copied().chain(std::iter::repeat(None)))
                .collect(),
            _ => vec![(choice.text.clone(), None)],
        };
        pieces.retain(|(t, _)| !t.is_empty());
        let mut tokens = vec![];
        let mut finish = match choice.finish_reason.as_deref() {
            Some("length") => FinishReason::Length,
            _ => FinishReason::EndOfTurn,
        };
        let mut out = String::new();
        'outer: for (piece, lp) in pieces {
            let per = lp.map(|l| l / piece.len().max(1) as f32);
            out.push_str(&piece);
            for (k, b) in piece.bytes().enumerate() {
                let t = TokenOut { id: b as TokenId + 1, text: String::new(), logprob: per, top: vec![] };
                tokens.push(t);
                let delta = if k == 0 { piece.as_str() } else { "" };
                let last = tokens.last().cloned().unwrap_or(TokenOut {
                    id: 0,
                    text: String::new(),
                    logprob: None,
                    top: vec![],
                });
                if on_event(Event::Token { token: &last, delta }) == Flow::Stop {
                    finish = FinishReason::Cancelled;
                    break 'outer;
                }
            }
        }
        let generated = tokens.len() as u32;
        Ok(Generation {
            text: out,
            tokens,
            finish,
            timings: Timings {
                // In this engine's units (bytes); the server's own count is in `usage`.
                prompt_tokens: prompt.len() as u32,
                cached_tokens: 0,
                generated_tokens: generated,
                prefill_s: 0.0,
                time_to_first_token_s: elapsed,
                decode_s: 0.0,
                prefill_tok_s: 0.0,
                decode_tok_s: 0.0,
            },
        })
    }

    fn logits(&self, _session: SessionId, _tokens: &[TokenId]) -> Result<Vec<Vec<f32>>, GenerateError> {
        Err(GenerateError::InvalidParams {
            model: self.info.id.clone(),
            message: "remote models do not expose logits".into(),
        })
    }
}
