//! The `LanguageModel` trait: what SAGE needs from any engine.

use crate::error::{GenerateError, TemplateError, TokenizeError};
use crate::template::{render_plain_tools, render_template, RenderedChat, TemplateContext};
use crate::types::{
    ChatMessage, EngineStats, Event, Flow, GenerateParams, Generation, ModelInfo, Prompt, TokenId,
};

/// A session: a context window with its own KV cache. A conversation that grows by a turn
/// reuses the cached prefix instead of evaluating its whole history again.
pub type SessionId = u64;

/// A loaded language model.
///
/// Engines implement the required methods; [`LanguageModel::generate`] turns any [`Prompt`]
/// into tokens (chat template or plain completion format) and calls
/// [`LanguageModel::generate_tokens`].
pub trait LanguageModel: Send + Sync {
    /// What is known about the model, including its measured load time and resident bytes.
    fn info(&self) -> &ModelInfo;

    /// Text to token ids; `add_bos` adds the beginning-of-sequence token if the model uses one.
    /// Special tokens written in the text (`<start_of_turn>`...) are parsed as such.
    fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<TokenId>, TokenizeError>;

    /// Token ids to text.
    fn detokenize(&self, tokens: &[TokenId]) -> Result<String, TokenizeError>;

    /// Open a session with a context window of `context` tokens (engine default if `None`);
    /// returns its id and the window actually allocated.
    fn open_session(&self, context: Option<u32>) -> Result<(SessionId, u32), GenerateError>;

    /// Close a session and free its cache.
    fn close_session(&self, session: SessionId);

    /// Generate from token ids, streaming events to `on_event` (return [`Flow::Stop`] to stop).
    /// A prompt plus `max_tokens` beyond the context window is an error before anything runs.
    fn generate_tokens(
        &self,
        session: SessionId,
        prompt: &[TokenId],
        params: &GenerateParams,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Generation, GenerateError>;

    /// The logits at every position of `tokens` (evaluated from an empty cache), for parity and
    /// teacher-forced agreement tests.
    fn logits(&self, session: SessionId, tokens: &[TokenId]) -> Result<Vec<Vec<f32>>, GenerateError>;

    /// The logits of the token that would follow `tokens`. Engines with a KV cache reuse what
    /// `session` (or another session) already holds of `tokens`, so a question asked after a
    /// fixed preamble costs only the question.
    fn next_logits(&self, session: SessionId, tokens: &[TokenId]) -> Result<Vec<f32>, GenerateError> {
        self.logits(session, tokens)?
            .pop()
            .ok_or_else(|| GenerateError::EmptyPrompt { model: self.info().id.clone() })
    }

    /// A unit-length embedding of each text (the model's mean-pooled last hidden states, for
    /// engines that have them).
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, GenerateError> {
        let _ = texts;
        Err(GenerateError::InvalidParams {
            model: self.info().id.clone(),
            message: "this engine gives no embeddings".into(),
        })
    }

    /// What the engine is doing (sequences, queue, cache), where it keeps such figures.
    fn stats(&self) -> Option<EngineStats> {
        None
    }

    /// Whether the engine applies grammar constraints (a remote server is sent none): where it
    /// does not, SAGE adds none of its own (the lazy grammar of tool calls).
    fn constrains(&self) -> bool {
        true
    }

    /// Render a conversation: the model's chat template if it has one, else the plain format.
    fn render_chat(&self, messages: &[ChatMessage]) -> Result<RenderedChat, TemplateError> {
        self.render_chat_tools(messages, &[])
    }

    /// Render a conversation with the tools the model may call.
    fn render_chat_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[serde_json::Value],
    ) -> Result<RenderedChat, TemplateError> {
        self.render_chat_vars(messages, tools, None)
    }

    /// Render a conversation with tools and variables for the template (`chat_template_kwargs`).
    fn render_chat_vars(
        &self,
        messages: &[ChatMessage],
        tools: &[serde_json::Value],
        vars: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<RenderedChat, TemplateError> {
        let info = self.info();
        match &info.chat_template {
            Some(t) => render_template(
                t,
                messages,
                &TemplateContext {
                    model: &info.id,
                    bos: info.bos.as_deref(),
                    eos: info.eos.as_deref(),
                    date: None,
                    tools,
                    vars,
                },
            ),
            None => render_plain_tools(&info.id, messages, tools),
        }
    }

    /// Token ids and extra stop sequences for a prompt.
    fn prompt_tokens(&self, prompt: &Prompt) -> Result<(Vec<TokenId>, Vec<String>), GenerateError> {
        Ok(match prompt {
            Prompt::Text(t) => (self.tokenize(t, true)?, vec![]),
            Prompt::Tokens(t) => (t.clone(), vec![]),
            Prompt::Chat(messages) => {
                let r = self.render_chat(messages)?;
                (self.tokenize(&r.text, !r.has_bos)?, r.stop)
            }
            Prompt::ChatTools(messages, tools) => {
                let r = self.render_chat_tools(messages, tools)?;
                (self.tokenize(&r.text, !r.has_bos)?, r.stop)
            }
        })
    }

    /// Generate from any prompt.
    fn generate(
        &self,
        session: SessionId,
        prompt: &Prompt,
        params: &GenerateParams,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Generation, GenerateError> {
        let (tokens, stops) = self.prompt_tokens(prompt)?;
        if stops.is_empty() {
            return self.generate_tokens(session, &tokens, params, on_event);
        }
        let mut p = params.clone();
        p.stop.extend(stops);
        self.generate_tokens(session, &tokens, &p, on_event)
    }
}
