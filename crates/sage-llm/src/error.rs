//! Typed errors, one enum per operation. Messages name the model or the path.

use std::path::PathBuf;

use crate::gguf::GgufError;

/// Loading a model failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file does not exist.
    #[error("model file {0} does not exist")]
    NotFound(PathBuf),
    /// The file is not a usable GGUF.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// llama.cpp does not know the architecture.
    #[error("{path}: architecture {arch:?} is not supported by this build of llama.cpp")]
    Architecture {
        /// File.
        path: PathBuf,
        /// Architecture.
        arch: String,
    },
    /// llama.cpp refused the file or the context.
    #[error("{path}: llama.cpp could not load it: {message}")]
    Engine {
        /// File.
        path: PathBuf,
        /// What llama.cpp said.
        message: String,
    },
    /// Settings out of range.
    #[error("{path}: invalid settings: {message}")]
    Settings {
        /// File.
        path: PathBuf,
        /// What.
        message: String,
    },
    /// A remote OpenAI-compatible server could not be reached or does not serve the model.
    #[error("remote model {model} at {url}: {message}")]
    Remote {
        /// Model id.
        model: String,
        /// Base URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

/// Tokenizing or detokenizing failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenizeError {
    /// Tokenizing failed.
    #[error("model {model}: cannot tokenize: {message}")]
    Tokenize {
        /// Model id.
        model: String,
        /// Why.
        message: String,
    },
    /// A token id is not in the vocabulary.
    #[error("model {model}: token id {id} is outside the vocabulary of {vocab}")]
    UnknownToken {
        /// Model id.
        model: String,
        /// Id.
        id: u32,
        /// Vocabulary size.
        vocab: u32,
    },
}

/// Rendering a chat template failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// The template is not valid Jinja.
    #[error("model {model}: chat template does not parse: {message}")]
    Syntax {
        /// Model id.
        model: String,
        /// Why.
        message: String,
    },
    /// Rendering failed (the template raised an exception, say).
    #[error("model {model}: chat template failed: {message}")]
    Render {
        /// Model id.
        model: String,
        /// Why.
        message: String,
    },
    /// The messages cannot be rendered (empty, or a role out of place).
    #[error("model {model}: {message}")]
    Messages {
        /// Model id.
        model: String,
        /// Why.
        message: String,
    },
}

/// Generation failed before or during decoding.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GenerateError {
    /// The prompt plus `max_tokens` does not fit the context window. Nothing was generated.
    #[error(
        "model {model}: prompt of {prompt_tokens} tokens plus max_tokens {max_tokens} exceeds the context window of {context} tokens"
    )]
    ContextOverflow {
        /// Model id.
        model: String,
        /// Prompt tokens.
        prompt_tokens: usize,
        /// Requested maximum.
        max_tokens: u32,
        /// Window.
        context: u32,
    },
    /// A parameter is out of range.
    #[error("model {model}: invalid request: {message}")]
    InvalidParams {
        /// Model id.
        model: String,
        /// What.
        message: String,
    },
    /// The model is an embedding model: it embeds and does not generate.
    #[error("model {model} is an embedding model: it serves embeddings, not generation")]
    EmbeddingOnly {
        /// Model id.
        model: String,
    },
    /// The prompt is empty.
    #[error("model {model}: the prompt is empty")]
    EmptyPrompt {
        /// Model id.
        model: String,
    },
    /// Tokenizing.
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    /// Template.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// llama.cpp failed while decoding.
    #[error("model {model}: decoding failed: {message}")]
    Decode {
        /// Model id.
        model: String,
        /// What.
        message: String,
    },
    /// The grammar or schema is invalid.
    #[error("model {model}: invalid constraint: {message}")]
    Constraint {
        /// Model id.
        model: String,
        /// What.
        message: String,
    },
    /// The session does not exist (closed, or never opened).
    #[error("model {model}: no session {session}")]
    NoSession {
        /// Model id.
        model: String,
        /// Session id.
        session: u64,
    },
    /// The engine thread stopped (it panicked or the model was unloaded).
    #[error("model {model}: the engine is no longer running")]
    EngineGone {
        /// Model id.
        model: String,
    },
    /// A remote server failed or answered something unusable.
    #[error("remote model {model}: {message}")]
    Remote {
        /// Model id.
        model: String,
        /// What went wrong.
        message: String,
    },
}
