//! SAGE's language engine.
//!
//! - [`LanguageModel`]: the trait every engine implements (tokenize, sessions with KV reuse,
//!   streaming generation with log-probabilities and timings, logits for parity tests).
//! - [`llama::LlamaEngine`]: llama.cpp in-process through `llama-cpp-2`, one worker thread per
//!   model.
//! - [`gguf`]: a validating GGUF reader (and writer), so that bad files are typed errors.
//! - [`template`]: chat templates rendered with `minijinja`, and the plain completion format for
//!   base models.
//! - [`grammar`]: constrained generation's matcher for llama.cpp's grammar language, with equal
//!   stacks merged so that an ambiguous grammar cannot hold the engine (decision 0026).

#![deny(missing_docs)]

pub mod cancel;
pub mod error;
pub mod gguf;
pub mod grammar;
pub mod import;
pub mod llama;
pub mod llama_arch;
pub mod model;
pub mod openai;
pub mod quantize;
pub mod reasoning;
pub mod synth;
pub mod template;
pub mod tools;
pub mod types;

pub use cancel::Cancel;
pub use error::{GenerateError, LoadError, TemplateError, TokenizeError};
pub use llama::{
    check_constraint, ConstraintError, EngineConfig, FlashAttention, KvType, LlamaEngine, LoadMode, LoadPlan,
};
pub use model::{LanguageModel, SessionId};
pub use openai::OpenAiModel;
pub use types::{
    ChatMessage, Constraint, EngineStats, Event, FinishReason, Flow, GenerateParams, Generation, ModelInfo,
    Prompt, Role, Sampling, Timings, TokenId, TokenOut, ToolCall, Trigger,
};
