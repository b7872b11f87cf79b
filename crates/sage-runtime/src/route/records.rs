//! What routing leaves behind: the request, every attempt with why it failed, the answer, and
//! the degraded responder's reply when nothing answered. One [`Served`] value per request.

use serde::{Deserialize, Serialize};

use sage_kernel::router::RouteDecision;
use sage_llm::{ChatMessage, Timings};

use crate::residency::ResidencyError;

/// A request for a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Situation class (`text.question`, `text.alert`, `text.chat`...).
    pub class: String,
    /// The conversation (system prompt first); trimmed to the chosen model's window.
    pub messages: Vec<ChatMessage>,
    /// A conversation id whose KV cache should be reused across turns.
    pub conversation: Option<String>,
    /// Most tokens of the reply.
    pub max_tokens: u32,
    /// ATP granted.
    pub atp: f64,
    /// How demanding the request is, `[0, 1]` (estimated from the last user message if not
    /// given; see [`crate::classify::complexity`]).
    #[serde(default)]
    pub complexity: Option<f64>,
    /// Sampling, stop sequences, logprobs and constraint for this request (the router's
    /// defaults when `None`; `max_tokens` above wins over the one inside).
    #[serde(default)]
    pub params: Option<sage_llm::GenerateParams>,
    /// The last user message is the whole prompt, verbatim (a plain completion: no template,
    /// no trimming).
    #[serde(default)]
    pub raw: bool,
    /// The reply already begun (by a node that failed mid-answer): the prompt ends with it and
    /// the model continues it; the answer holds only the continuation. Empty: none.
    #[serde(default)]
    pub prefix: String,
    /// Tools the model may call (OpenAI's `tools`), rendered through its chat template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<serde_json::Value>,
}

/// Why an attempt did not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The model cannot be made resident within the budget.
    DoesNotFit {
        /// Why.
        message: String,
    },
    /// The engine could not load it.
    LoadFailed {
        /// Why.
        message: String,
    },
    /// The prompt does not fit its window even trimmed.
    ContextTooLong {
        /// Why.
        message: String,
    },
    /// Generation failed.
    EngineError {
        /// Why.
        message: String,
    },
    /// The request itself is invalid (a schema that compiles to no grammar, a parameter out of
    /// range): every model would refuse it, so the chain stops, and no model is blamed.
    BadRequest {
        /// Why.
        message: String,
    },
}

impl Failure {
    pub(super) fn from_residency(e: ResidencyError) -> Self {
        match e {
            ResidencyError::LoadFailed { .. } => Self::LoadFailed { message: e.to_string() },
            other => Self::DoesNotFit { message: other.to_string() },
        }
    }

    /// Whether the model itself misbehaved (counts against its trust); not fitting or a prompt
    /// too long for it is nobody's fault.
    pub fn blames_model(&self) -> bool {
        matches!(self, Self::LoadFailed { .. } | Self::EngineError { .. })
    }

    /// Message.
    pub fn message(&self) -> &str {
        match self {
            Self::DoesNotFit { message }
            | Self::LoadFailed { message }
            | Self::ContextTooLong { message }
            | Self::EngineError { message }
            | Self::BadRequest { message } => message,
        }
    }
}

/// One attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// Model.
    pub model: String,
    /// `None` when it answered.
    pub failure: Option<Failure>,
}

/// The answer of the model that answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Model.
    pub model: String,
    /// Text.
    pub text: String,
    /// Tokens generated.
    pub tokens: u32,
    /// Mean negative log-probability of them (the plugin's final energy).
    pub mean_nll: Option<f64>,
    /// Quality in `[0, 1]`.
    pub quality: f64,
    /// Prompt tokens evaluated, reused, generated; seconds.
    pub timings: Timings,
    /// Messages kept after trimming.
    pub kept_messages: usize,
    /// IRP telemetry.
    pub telemetry: sage_irp::Telemetry,
    /// Why generation ended.
    pub finish: Option<sage_llm::FinishReason>,
    /// Every generated token with its log-probability (not stored with the record).
    #[serde(default, skip_serializing)]
    pub tokens_out: Vec<sage_llm::TokenOut>,
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Served {
    /// The request.
    pub request: Request,
    /// The selector's decision (ids index [`Router::models`]), when the router chose.
    pub decision: Option<RouteDecision>,
    /// Every attempt in order.
    pub attempts: Vec<Attempt>,
    /// The answer, or `None` when every model failed.
    pub answer: Option<Answer>,
    /// The reply shown: the answer's text (without a reasoning model's thinking) or the degraded
    /// responder's.
    pub reply: String,
    /// A reasoning model's thinking, apart from the reply (`sage_llm::reasoning`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// Whether the degraded responder answered.
    pub degraded: bool,
    /// Small versus large: what the router asked of the selector, and why.
    pub size_policy: String,
}

/// The degraded responder: no model could answer; say so plainly, and why.
pub fn degraded_reply(request: &Request, attempts: &[Attempt]) -> String {
    let why = if attempts.is_empty() {
        format!("no model serves {}", request.class)
    } else {
        attempts
            .iter()
            .filter_map(|a| a.failure.as_ref().map(|f| format!("{}: {}", a.model, f.message())))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let last = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == sage_llm::Role::User)
        .map(|m| m.content.as_str())
        .unwrap_or("");
    let gist: String = last.chars().take(80).collect();
    format!("[degraded: no language model could answer ({why})] I received: \"{gist}\". I cannot reason about it now; it is logged for later.")
}
