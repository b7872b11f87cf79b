//! Values that cross the `LanguageModel` boundary.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A token id.
pub type TokenId = u32;

/// Who speaks in a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// The result of a tool the model called.
    Tool,
}

impl Role {
    /// Lower-case name, as chat templates expect.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// A call of a tool (a function the client offered), made by the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Id the tool's result will name.
    pub id: String,
    /// The function.
    pub name: String,
    /// Its arguments, JSON text.
    pub arguments: String,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Speaker.
    pub role: Role,
    /// Text.
    pub content: String,
    /// The tools an assistant message called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A message.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into(), tool_calls: vec![], tool_call_id: None }
    }

    /// Whether it is part of a tool exchange (a call or a result): never merged with its
    /// neighbours.
    pub fn is_tool_exchange(&self) -> bool {
        self.role == Role::Tool || !self.tool_calls.is_empty()
    }
}

/// What to generate from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// Raw text, tokenized with the model's BOS if it wants one.
    Text(String),
    /// Token ids as they are.
    Tokens(Vec<TokenId>),
    /// A conversation, rendered with the model's chat template (or the plain completion format
    /// for models without one) with a generation prompt for the assistant.
    Chat(Vec<ChatMessage>),
    /// A conversation with the tools the model may call (OpenAI's `tools`: JSON objects
    /// `{"type": "function", "function": {"name", "description", "parameters"}}`).
    ChatTools(Vec<ChatMessage>, Vec<serde_json::Value>),
}

/// How to pick tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sampling {
    /// Temperature; 0 means greedy.
    pub temperature: f32,
    /// Keep the k most likely tokens (0 = off).
    pub top_k: u32,
    /// Nucleus sampling (1 = off).
    pub top_p: f32,
    /// Minimum probability relative to the most likely token (0 = off).
    pub min_p: f32,
    /// Repetition penalty over the last `repeat_last_n` tokens (1 = off).
    pub repeat_penalty: f32,
    /// Window of the repetition penalty (also of the frequency and presence penalties), at most
    /// [`MAX_PENALTY_WINDOW`].
    pub repeat_last_n: u32,
    /// Subtracted from a token's logit once per time it appears in the window (OpenAI's
    /// `frequency_penalty`; 0 = off).
    pub frequency_penalty: f32,
    /// Subtracted from a token's logit once if it appears in the window at all (OpenAI's
    /// `presence_penalty`; 0 = off).
    pub presence_penalty: f32,
    /// Random seed.
    pub seed: u32,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0,
        }
    }
}

impl Sampling {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            repeat_last_n: 0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0,
        }
    }
}

/// Output constraints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constraint {
    /// A GBNF grammar (root rule `root`).
    Grammar(String),
    /// A JSON schema; the output is valid JSON that matches it.
    JsonSchema(serde_json::Value),
}

/// What starts a lazy constraint (llama.cpp's grammar triggers, llama-server's
/// `grammar_triggers`): until one appears the output is free; from it on the grammar judges the
/// output, the trigger's own text included (so the grammar begins with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The output holds this text. A text that is one token of the model's is also that token
    /// (a model that writes it in pieces still triggers it).
    Word(String),
    /// A regular expression found anywhere in the output: the grammar judges from its first
    /// capture group that matched something, else from where the match begins.
    Pattern(String),
    /// A regular expression the whole output so far matches.
    PatternFull(String),
    /// This token is generated.
    Token(TokenId),
}

/// The largest penalty window the engine keeps, tokens (a larger `repeat_last_n` is this one):
/// llama.cpp allocates the window when the sampler is made.
pub const MAX_PENALTY_WINDOW: u32 = 1 << 16;

/// Whether any of the repetition, frequency and presence penalties is on (and has a window).
pub fn penalised(s: &Sampling) -> bool {
    s.repeat_last_n > 0
        && (s.repeat_penalty != 1.0 || s.frequency_penalty != 0.0 || s.presence_penalty != 0.0)
}

/// A generation request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenerateParams {
    /// Most tokens to generate.
    pub max_tokens: u32,
    /// Token selection.
    pub sampling: Sampling,
    /// Stop when the output contains any of these (the stop text is not returned).
    pub stop: Vec<String>,
    /// Report the log-probability of every generated token and this many alternatives.
    pub logprobs: Option<u32>,
    /// Grammar or JSON schema.
    pub constraint: Option<Constraint>,
    /// The constraint applies only once the output holds this text (a reasoning model's
    /// `</think>`: it thinks freely, then answers in the constraint's form); none: from the
    /// first token.
    pub constraint_after: Option<String>,
    /// The constraint is lazy: it applies from the first of these triggers on (after
    /// `constraint_after`'s text, when both are given); empty: from the first token.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraint_triggers: Vec<Trigger>,
    /// Where the output at a trigger does not follow the grammar (the trigger's token ran on
    /// past what the grammar allows), the grammar gives way and the output stays free (SAGE's
    /// own hold on tool calls); otherwise the generation ends with a typed error (a client's
    /// lazy grammar, as llama-server ends it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub constraint_gives_way: bool,
    /// Special tokens written into the output as their text (llama-server's
    /// `preserved_tokens`; other special tokens are written as nothing); a text that is not
    /// one token of the model's is passed over, as llama-server does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preserved_tokens: Vec<String>,
    /// Most tokens a reasoning model may spend inside its thinking block: at the budget the
    /// block is closed for it (`\n</think>`) and the answer follows (vLLM's
    /// `thinking_token_budget`, Anthropic's `budget_tokens`). Kept by the LLM plugin that runs
    /// the generation in steps (`sage-runtime`), not by an engine alone; none: no limit.
    pub thinking_budget: Option<u32>,
    /// Past [`GenerateParams::thinking_budget`], the block is closed at the end of the line the
    /// thought is on, within this many more tokens (NVIDIA's budget control for its Nemotron
    /// reasoning models lets the thought end its line, within 500 tokens); 0: exactly at the
    /// budget.
    pub thinking_grace: u32,
    /// Added to these tokens' logits before sampling (OpenAI's `logit_bias`); `-inf` bans one.
    pub logit_bias: Vec<(TokenId, f32)>,
    /// The last `continuation` tokens of the prompt were generated by this same request in
    /// earlier calls (a generation taken in chunks): the constraint and the repetition penalty
    /// have consumed them and the random stream has moved past them, so that the calls together
    /// give exactly what one call would. 0 for a new generation.
    pub continuation: u32,
    /// Apply the constraint to every candidate before each draw, as llama.cpp's bare chain does
    /// (about 3 times slower with a 262k vocabulary, `sage bench constrained`). Off by default:
    /// the token the rest of the chain chooses is checked against the constraint first, then the
    /// row's best candidates, and the whole vocabulary only when too few of those pass; a greedy
    /// choice is the same either way, a sampled one differs only in where top-k, top-p and
    /// min-p cut when fewer than top-k of the best candidates pass.
    pub exact_constraint: bool,
    /// Variables the chat template reads besides the messages (OpenAI-style
    /// `chat_template_kwargs`: Qwen 3's and Nemotron's `enable_thinking`...); empty: none.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub template_vars: serde_json::Map<String, serde_json::Value>,
    /// Stops the generation from another thread (see [`crate::Cancel`]); never cancelled by
    /// default. Not part of what is asked: requests compare equal whoever may cancel them.
    #[serde(skip)]
    pub cancel: crate::Cancel,
}

impl Default for GenerateParams {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            sampling: Sampling::default(),
            stop: vec![],
            logprobs: None,
            constraint: None,
            constraint_after: None,
            constraint_triggers: vec![],
            constraint_gives_way: false,
            preserved_tokens: vec![],
            thinking_budget: None,
            thinking_grace: 0,
            logit_bias: vec![],
            continuation: 0,
            exact_constraint: false,
            template_vars: serde_json::Map::new(),
            cancel: crate::Cancel::default(),
        }
    }
}

/// A generated token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenOut {
    /// Id.
    pub id: TokenId,
    /// Its text (may be part of a UTF-8 character).
    pub text: String,
    /// Natural-log probability under the model's distribution (before sampling filters), when
    /// logprobs were requested.
    pub logprob: Option<f32>,
    /// The most likely alternatives `(id, text, logprob)`, when requested.
    pub top: Vec<(TokenId, String, f32)>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn (end-of-generation token).
    EndOfTurn,
    /// A stop sequence appeared.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The caller stopped it.
    Cancelled,
}

/// What an engine is doing, for metrics: its sequences, queue and cache.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct EngineStats {
    /// Sequences it can decode together.
    pub sequences: u32,
    /// Generations in progress.
    pub generating: u32,
    /// Requests waiting for their session or a free sequence.
    pub waiting: u32,
    /// KV cells shared by the sequences.
    pub kv_cells: u32,
    /// Tokens held in the sequences' caches (a prefix shared by two sequences counts twice).
    pub kv_tokens: u64,
    /// Decode steps taken.
    pub steps: u64,
    /// Prompt tokens evaluated.
    pub prompt_tokens_evaluated: u64,
    /// Prompt tokens found in the cache (the session's own or borrowed from another).
    pub prompt_tokens_reused: u64,
    /// Steps stopped part-way because a generation in them was cancelled (and then evaluated
    /// again for the others).
    pub aborted_steps: u64,
}

/// How long things took.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Prompt tokens evaluated (not served from the KV cache).
    pub prompt_tokens: u32,
    /// Prompt tokens found in the KV cache and reused.
    pub cached_tokens: u32,
    /// Tokens generated.
    pub generated_tokens: u32,
    /// Seconds to evaluate the prompt.
    pub prefill_s: f64,
    /// Seconds from the request to the first generated token.
    pub time_to_first_token_s: f64,
    /// Seconds spent generating after the first token.
    pub decode_s: f64,
    /// Prompt tokens per second.
    pub prefill_tok_s: f64,
    /// Generated tokens per second after the first.
    pub decode_tok_s: f64,
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The text (stop sequence removed).
    pub text: String,
    /// Every generated token.
    pub tokens: Vec<TokenOut>,
    /// Why it ended.
    pub finish: FinishReason,
    /// Timings.
    pub timings: Timings,
}

impl Generation {
    /// Mean negative log-probability of the generated tokens (the LLM plugin's energy), if
    /// logprobs were requested.
    pub fn mean_nll(&self) -> Option<f64> {
        let lp: Vec<f32> = self.tokens.iter().filter_map(|t| t.logprob).collect();
        if lp.is_empty() {
            None
        } else {
            Some(-lp.iter().map(|x| *x as f64).sum::<f64>() / lp.len() as f64)
        }
    }
}

/// What a streaming caller is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<'a> {
    /// The prompt is evaluated.
    PromptDone {
        /// Prompt tokens evaluated.
        evaluated: u32,
        /// Prompt tokens reused from the cache.
        cached: u32,
    },
    /// A token, and the text that can be shown now (text that might turn out to be the start of
    /// a stop sequence is held back until it is clear).
    Token {
        /// The token.
        token: &'a TokenOut,
        /// Text to show.
        delta: &'a str,
    },
}

/// What the caller answers to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop now (finish reason `cancelled`).
    Stop,
}

/// What is known about a loaded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Id used in logs and errors (file stem unless configured).
    pub id: String,
    /// File.
    pub path: PathBuf,
    /// `general.architecture`.
    pub architecture: String,
    /// `general.name`, if any.
    pub name: Option<String>,
    /// Parameters.
    pub parameters: u64,
    /// Bytes of weights.
    pub weight_bytes: u64,
    /// Context length the model was trained for.
    pub train_context: u32,
    /// Vocabulary size.
    pub vocab: u32,
    /// Layers.
    pub layers: u32,
    /// Chat template from the metadata.
    pub chat_template: Option<String>,
    /// Beginning-of-sequence token text, for templates.
    pub bos: Option<String>,
    /// End-of-sequence token text, for templates.
    pub eos: Option<String>,
    /// Seconds the load took.
    pub load_s: f64,
    /// Resident bytes added by the load (RSS difference; 0 where unknown).
    pub resident_bytes: u64,
    /// How the weights were brought into memory and why (local engines; e.g. "weights read:
    /// AMX+CPU_REPACK repacks about 87% of the weights (2254 MiB)").
    #[serde(default)]
    pub weights: Option<String>,
    /// An embedding model (its attention sees the text both ways): it embeds and does not
    /// generate.
    #[serde(default)]
    pub embedding_only: bool,
}
