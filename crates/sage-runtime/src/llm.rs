//! The language model as an IRP plugin.
//!
//! A step generates a chunk of tokens in the model's session (the KV cache holds what came
//! before, so a step evaluates only the new tokens). The energy is the mean negative
//! log-probability of what has been generated; before any token it is `ln(vocabulary)`, the
//! energy of a uniform guess. The run halts on end of turn or a stop sequence (the plugin is
//! done), on the token cap (max steps), or when the ATP left cannot pay for another token.
//! Every token costs `atp_per_token`.

use sage_irp::{Budget, HaltConfig, Plugin, PluginError, Run, StepOutcome, Telemetry};
use sage_llm::{
    Event, FinishReason, Flow, GenerateError, GenerateParams, LanguageModel, SessionId, Timings, TokenId,
};

/// Settings of one LLM run.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSettings {
    /// Tokens per step.
    pub chunk: u32,
    /// Most tokens in all.
    pub max_tokens: u32,
    /// ATP per generated token.
    pub atp_per_token: f64,
    /// Sampling, stops, constraint (its `max_tokens` is ignored: the plugin sets it per step),
    /// the thinking budget the plugin keeps.
    pub params: GenerateParams,
    /// The prompt opened a thinking block (decision 0025): the output begins inside it.
    pub opened: bool,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            chunk: 16,
            max_tokens: 64,
            atp_per_token: 0.05,
            params: GenerateParams { logprobs: Some(0), ..Default::default() },
            opened: false,
        }
    }
}

/// What the plugin refines: the generation so far.
#[derive(Debug, Clone, Default)]
pub struct LlmState {
    /// Prompt tokens.
    pub prompt: Vec<TokenId>,
    /// Generated token ids.
    pub tokens: Vec<TokenId>,
    /// Generated tokens with their text and log-probabilities.
    pub generated: Vec<sage_llm::TokenOut>,
    /// Sum of the generated tokens' negative log-probabilities.
    pub nll_sum: f64,
    /// Generated text (stop sequence removed).
    pub text: String,
    /// Why generation ended, once it has.
    pub finish: Option<FinishReason>,
    /// Prompt tokens evaluated and reused, summed over the steps.
    pub timings: Timings,
    /// An engine error, if one ended it.
    pub error: Option<String>,
    /// Bytes of `text` given to the sink so far: the engine holds back text that may begin a stop
    /// sequence, so what it streamed of a chunk can be short of the chunk's text.
    pub streamed: usize,
}

impl LlmState {
    /// Mean negative log-probability of the generated tokens (`None` before any).
    pub fn mean_nll(&self) -> Option<f64> {
        (!self.tokens.is_empty()).then(|| self.nll_sum / self.tokens.len() as f64)
    }
}

/// The plugin. `sink` sees the text as it streams.
pub struct LlmPlugin<'a> {
    model: &'a dyn LanguageModel,
    session: SessionId,
    window: u32,
    settings: LlmSettings,
    sink: Option<&'a mut dyn FnMut(&str) -> Flow>,
    uniform: f64,
    /// The first engine error, typed (a context overflow is told apart from a decode failure).
    pub failure: Option<GenerateError>,
}

impl<'a> LlmPlugin<'a> {
    /// A plugin generating in `session` (a window of `window` tokens) of `model`.
    pub fn new(model: &'a dyn LanguageModel, session: SessionId, window: u32, settings: LlmSettings) -> Self {
        let uniform = (model.info().vocab.max(2) as f64).ln();
        Self { model, session, window, settings, sink: None, uniform, failure: None }
    }

    /// Stream the text to `sink` (return [`Flow::Stop`] to cancel).
    pub fn with_sink(mut self, sink: &'a mut dyn FnMut(&str) -> Flow) -> Self {
        self.sink = Some(sink);
        self
    }

    /// The halt rules for `settings`: no slope rule (a steady NLL is no reason to stop
    /// talking), at most `max_tokens / chunk` steps, and one token's ATP charged per step
    /// (the rest of the chunk is charged by the step itself).
    pub fn halt_config(settings: &LlmSettings) -> HaltConfig {
        HaltConfig {
            max_steps: settings.max_tokens.div_ceil(settings.chunk.max(1)),
            eps: 0.0,
            k: 1,
            cost_per_step: settings.atp_per_token,
        }
    }

    /// Give the sink the text the engine held back and that is now settled: all of it when the
    /// generation is `done`, else all but what may begin a stop sequence the next chunk completes.
    /// (Without this a stream ended short of the answer by whatever was held back last.)
    fn flush(&mut self, state: &mut LlmState, done: bool) {
        let answer = self.answer_start(&state.text);
        let Some(f) = self.sink.as_mut() else { return };
        let held = match (done, answer) {
            (false, Some(from)) => {
                sage_llm::llama::held_back(&state.text[from..], &self.settings.params.stop)
            }
            _ => 0,
        };
        let safe = state.text.len() - held;
        if safe > state.streamed && state.text.is_char_boundary(state.streamed) {
            let _ = f(&state.text[state.streamed..safe]);
            state.streamed = safe;
        }
    }

    /// Tokens the thinking block may still take before its budget
    /// ([`GenerateParams::thinking_budget`]), and whether they are the grace past it in which
    /// the block closes at the thought's next line end ([`GenerateParams::thinking_grace`]);
    /// `None` without a budget or an open block. A block at its budget (and its line's end, or
    /// the grace's) is closed here ([`sage_llm::reasoning::FORCED_CLOSE`], streamed as if
    /// generated), and the answer follows.
    fn thinking_left(&mut self, state: &mut LlmState) -> Result<Option<(u32, bool)>, PluginError> {
        let Some(limit) = self.settings.params.thinking_budget else { return Ok(None) };
        if self.answer_start(&state.text).is_some() {
            return Ok(None);
        }
        // The block began the output: every token so far is thinking.
        let thought = state.tokens.len() as u64;
        if thought < limit as u64 {
            return Ok(Some((limit - thought as u32, false)));
        }
        let end = limit as u64 + self.settings.params.thinking_grace as u64;
        let past = state.generated.get(limit as usize..).unwrap_or_default();
        let line_ended = past.iter().any(|t| t.text.contains('\n'));
        if thought < end && !line_ended {
            return Ok(Some(((end - thought).min(u32::MAX as u64) as u32, true)));
        }
        let close = self.model.tokenize(sage_llm::reasoning::FORCED_CLOSE, false).map_err(|e| {
            PluginError::StepFailed { plugin: self.model.info().id.clone(), step: 0, message: e.to_string() }
        })?;
        state.tokens.extend(close);
        state.text.push_str(sage_llm::reasoning::FORCED_CLOSE);
        self.flush(state, false);
        Ok(None)
    }

    /// Where the answer begins in `text` ([`sage_llm::reasoning::answer_start`]). Stop
    /// sequences apply to the answer alone: a reasoning model's thinking runs over lines a `\n`
    /// stop would cut (decision 0025).
    fn answer_start(&self, text: &str) -> Option<usize> {
        sage_llm::reasoning::answer_start(text, self.settings.opened)
    }

    fn stop_at(&self, text: &str) -> Option<usize> {
        let from = self.answer_start(text)?;
        let after = &text[from..];
        self.settings
            .params
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| after.find(s.as_str()))
            .min()
            .map(|i| from + i)
    }
}

impl Plugin for LlmPlugin<'_> {
    type Input = Vec<TokenId>;
    type State = LlmState;

    fn name(&self) -> &str {
        &self.model.info().id
    }

    fn init_state(&mut self, prompt: Vec<TokenId>) -> Result<LlmState, PluginError> {
        if prompt.is_empty() {
            return Err(PluginError::InvalidInput {
                plugin: self.model.info().id.clone(),
                message: "empty prompt".into(),
            });
        }
        Ok(LlmState { prompt, ..Default::default() })
    }

    fn step(&mut self, state: &mut LlmState, budget: &mut Budget) -> Result<StepOutcome, PluginError> {
        // Thinking within its budget: at the budget the block is closed for the model; before
        // it, the chunk ends where the budget does.
        let (thinking_left, grace) = self.thinking_left(state)?.unzip();
        let grace = grace == Some(true);
        let s = &self.settings;
        let per = s.atp_per_token;
        // One token was paid by the loop; the rest of the chunk must be affordable.
        let affordable = if per > 0.0 { 1 + (budget.remaining() / per).floor() as u32 } else { s.chunk };
        let used = (state.prompt.len() + state.tokens.len()) as u32;
        let room = self.window.saturating_sub(used);
        let n = s.chunk.min(s.max_tokens.saturating_sub(state.tokens.len() as u32)).min(affordable).min(room);
        let n = n.min(thinking_left.unwrap_or(u32::MAX));
        if n == 0 {
            state.finish = Some(FinishReason::Length);
            self.flush(state, true);
            return Ok(StepOutcome::Done);
        }
        let mut input = state.prompt.clone();
        input.extend_from_slice(&state.tokens);
        let mut params = s.params.clone();
        // Thinking: the stops wait for the answer, so the engine gets none and the chunk ends
        // where the block does; the next one stops where the answer does.
        let stops_wait = !params.stop.is_empty() && self.answer_start(&state.text).is_none();
        if stops_wait {
            params.stop.clear();
        }
        let (mut tail, mut closed, mut line_ended) = (String::new(), false, false);
        params.max_tokens = n;
        params.logprobs = Some(params.logprobs.unwrap_or(0));
        // The chunks are one generation: its constraint, penalty and random stream go on.
        params.continuation = state.tokens.len() as u32;
        let sink = &mut self.sink;
        let streamed = &mut state.streamed;
        let g = self.model.generate_tokens(self.session, &input, &params, &mut |e| {
            let Event::Token { delta, .. } = e else { return Flow::Continue };
            let mut flow = Flow::Continue;
            if let Some(f) = sink.as_mut().filter(|_| !delta.is_empty()) {
                *streamed += delta.len();
                flow = f(delta);
            }
            if stops_wait && flow == Flow::Continue && block_closed(&mut tail, delta) {
                closed = true;
                flow = Flow::Stop;
            }
            // In the grace past the budget, the thought's line has ended: the block closes.
            if grace && flow == Flow::Continue && !closed && delta.contains('\n') {
                line_ended = true;
                flow = Flow::Stop;
            }
            flow
        });
        let g = match g {
            Ok(g) => g,
            Err(e) => {
                let message = e.to_string();
                state.error = Some(message.clone());
                self.failure = Some(e);
                return Err(PluginError::StepFailed {
                    plugin: self.model.info().id.clone(),
                    step: 0,
                    message,
                });
            }
        };
        let extra = (g.tokens.len() as f64 - 1.0).max(0.0) * per;
        budget.charge(extra.min(budget.remaining()));
        for t in &g.tokens {
            state.tokens.push(t.id);
            state.nll_sum -= t.logprob.unwrap_or(0.0) as f64;
        }
        state.generated.extend(g.tokens.iter().cloned());
        state.text.push_str(&g.text);
        let tm = &mut state.timings;
        // The prompt is evaluated by the first step; what later steps evaluate is the output's
        // own (a thinking block closed for the model), counted among the generated tokens.
        if tm.generated_tokens == 0 {
            tm.prompt_tokens += g.timings.prompt_tokens;
            tm.cached_tokens = g.timings.cached_tokens;
            tm.time_to_first_token_s = g.timings.time_to_first_token_s;
        }
        tm.generated_tokens += g.timings.generated_tokens;
        tm.prefill_s += g.timings.prefill_s;
        tm.decode_s += g.timings.decode_s;
        if let Some(i) = self.stop_at(&state.text) {
            state.text.truncate(i);
            state.finish = Some(FinishReason::Stop);
            self.flush(state, true);
            return Ok(StepOutcome::Done);
        }
        // Ended where the block did (above), not cancelled: the answer comes in the next step.
        let finish = match g.finish {
            FinishReason::Cancelled if closed || line_ended => FinishReason::Length,
            other => other,
        };
        match finish {
            FinishReason::Length => {
                let last = state.tokens.len() as u32 >= s.max_tokens;
                self.flush(state, last);
                Ok(StepOutcome::Continue)
            }
            other => {
                state.finish = Some(other);
                self.flush(state, true);
                Ok(StepOutcome::Done)
            }
        }
    }

    fn energy(&self, state: &LlmState) -> f64 {
        state.mean_nll().unwrap_or(self.uniform)
    }
}

/// Whether the thinking block closes with `delta`, the output's tail so far kept in `tail` (as
/// long as the closing tag, where it may begin).
fn block_closed(tail: &mut String, delta: &str) -> bool {
    use sage_llm::reasoning::CLOSE;
    tail.push_str(delta);
    if tail.contains(CLOSE) {
        return true;
    }
    let mut from = tail.len().saturating_sub(CLOSE.len());
    while !tail.is_char_boundary(from) {
        from -= 1;
    }
    tail.drain(..from);
    false
}

/// The result of one LLM run.
#[derive(Debug)]
pub struct LlmRun {
    /// What was generated.
    pub state: LlmState,
    /// IRP telemetry (energies per step, halt reason, ATP).
    pub telemetry: Telemetry,
    /// Quality in `[0, 1]`: the geometric-mean token probability, with credit for ending the
    /// turn and for saying anything at all.
    pub quality: f64,
    /// The engine error that ended it, typed.
    pub failure: Option<GenerateError>,
}

/// Generate a reply to `prompt` in `session` within `atp`, streaming to `sink`.
pub fn run(
    model: &dyn LanguageModel,
    session: SessionId,
    window: u32,
    prompt: Vec<TokenId>,
    settings: &LlmSettings,
    atp: f64,
    sink: Option<&mut dyn FnMut(&str) -> Flow>,
) -> Result<LlmRun, PluginError> {
    let halt = LlmPlugin::halt_config(settings);
    let mut plugin = LlmPlugin::new(model, session, window, settings.clone());
    if let Some(s) = sink {
        plugin = plugin.with_sink(s);
    }
    let mut r = Run::start(&mut plugin, prompt, halt, Budget::new(atp))?;
    let _ = r.run_to_end();
    let refined = r.finish(0.0);
    let state = refined.state;
    let telemetry = refined.telemetry;
    let quality = if plugin.failure.is_some() {
        0.0
    } else {
        let p = state.mean_nll().map_or(0.0, |nll| (-nll).exp());
        let ended = matches!(state.finish, Some(FinishReason::EndOfTurn | FinishReason::Stop)) as u8 as f64;
        let said = (!state.text.trim().is_empty()) as u8 as f64;
        (0.6 * p + 0.2 * ended + 0.2 * said).clamp(0.0, 1.0)
    };
    Ok(LlmRun { state, telemetry, quality, failure: plugin.failure.take() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripted::{Script, ScriptedModel};
    use sage_irp::HaltReason;

    fn model() -> ScriptedModel {
        ScriptedModel::new(Script { reply: "The door in bay 3 is open.".into(), ..Script::new("m", 0.5) })
    }

    #[test]
    fn steps_generate_chunks_and_energy_is_the_mean_nll() {
        let m = model();
        let (s, n) = m.open_session(None).unwrap();
        let settings = LlmSettings { chunk: 8, max_tokens: 64, ..Default::default() };
        let prompt = m.tokenize("class: text.question\nWhere?", true).unwrap();
        let prompt_len = prompt.len() as u32;
        let mut seen = String::new();
        let mut sink = |d: &str| {
            seen.push_str(d);
            Flow::Continue
        };
        let r = run(&m, s, n, prompt, &settings, 100.0, Some(&mut sink)).unwrap();
        assert_eq!(r.state.text, "The door in bay 3 is open.");
        assert_eq!(seen, r.state.text);
        assert_eq!(r.state.finish, Some(FinishReason::EndOfTurn));
        assert_eq!(r.telemetry.halt_reason, HaltReason::PluginDone);
        assert_eq!(r.telemetry.steps, 4, "26 tokens in chunks of 8");
        assert!((r.telemetry.energies[0] - 257f64.ln()).abs() < 1e-9);
        assert!((r.telemetry.final_energy() - 0.5f64.ln().abs()).abs() < 1e-6);
        assert!((r.telemetry.atp_spent - 26.0 * 0.05).abs() < 1e-9, "{}", r.telemetry.atp_spent);
        // Steps after the first reuse the session's cache: only new tokens are evaluated.
        assert_eq!(r.state.timings.prompt_tokens, prompt_len, "{:?}", r.state.timings);
    }

    #[test]
    fn the_run_halts_on_token_cap_stop_sequence_and_atp() {
        let m = model();
        let prompt = m.tokenize("Where?", true).unwrap();
        let (s, n) = m.open_session(None).unwrap();
        let capped = LlmSettings { chunk: 4, max_tokens: 10, ..Default::default() };
        let r = run(&m, s, n, prompt.clone(), &capped, 100.0, None).unwrap();
        assert_eq!(r.state.tokens.len(), 10);
        assert_eq!(r.telemetry.halt_reason, HaltReason::MaxSteps);

        let (s, n) = m.open_session(None).unwrap();
        let mut stopped = LlmSettings::default();
        stopped.params.stop = vec![" bay".into()];
        let r = run(&m, s, n, prompt.clone(), &stopped, 100.0, None).unwrap();
        assert_eq!(r.state.text, "The door in");
        assert_eq!(r.state.finish, Some(FinishReason::Stop));

        let (s, n) = m.open_session(None).unwrap();
        let r = run(&m, s, n, prompt, &LlmSettings { chunk: 4, ..Default::default() }, 0.3, None).unwrap();
        assert_eq!(r.telemetry.halt_reason, HaltReason::BudgetSpent);
        assert_eq!(r.state.tokens.len(), 6, "0.3 ATP at 0.05 per token");
        assert!(r.telemetry.atp_spent <= 0.3 + 1e-9);
    }

    /// A scripted model answering `reply`, run with `settings`: the run and what streamed.
    fn run_script(reply: &str, settings: &LlmSettings) -> (LlmRun, String) {
        let m = ScriptedModel::new(Script { reply: reply.into(), ..Script::new("m", 0.5) });
        let (s, n) = m.open_session(None).unwrap();
        let prompt = m.tokenize("class: text.question\nWhy?", true).unwrap();
        let mut seen = String::new();
        let mut sink = |d: &str| {
            seen.push_str(d);
            Flow::Continue
        };
        let r = run(&m, s, n, prompt, settings, 100.0, Some(&mut sink)).unwrap();
        (r, seen)
    }

    /// A model that thinks on and on (its block opened by the prompt, never closed).
    fn think(budget: Option<u32>, opened: bool) -> (LlmRun, String) {
        let mut settings = LlmSettings { chunk: 4, max_tokens: 40, opened, ..Default::default() };
        settings.params.thinking_budget = budget;
        run_script("abcdefghijklmnopqrstuvwxyz", &settings)
    }

    #[test]
    fn thinking_at_its_budget_has_its_block_closed_for_it() {
        // Budget 10 in chunks of 4: the third chunk is cut to 2, then the block is closed.
        let (r, seen) = think(Some(10), true);
        let forced = sage_llm::reasoning::FORCED_CLOSE;
        assert!(r.state.text.starts_with(&format!("abcdefghij{forced}")), "{:?}", r.state.text);
        assert_eq!(seen, r.state.text, "the closing streams as if generated");
        let opened = format!("{}{}", sage_llm::reasoning::OPENED, r.state.text);
        assert_eq!(sage_llm::reasoning::split(&opened).0.as_deref(), Some("abcdefghij"));
        assert_eq!(r.state.tokens.len(), 40, "the close counts against max_tokens");
        // Budget 0: closed before anything is thought.
        assert!(think(Some(0), true).0.state.text.starts_with(forced));
        // No budget, or no open block: nothing is closed.
        assert!(!think(None, true).0.state.text.contains("</think>"));
        assert!(!think(Some(10), false).0.state.text.contains("</think>"));
    }

    #[test]
    fn stop_sequences_apply_to_the_answer_after_the_thinking() {
        let stopped = |reply: &str, opened: bool| {
            let mut settings = LlmSettings { chunk: 4, max_tokens: 64, opened, ..Default::default() };
            settings.params.stop = vec!["\n".into()];
            let (r, seen) = run_script(reply, &settings);
            // (The scripted engine streams past a stop sequence; a real one holds it back.)
            assert!(seen.starts_with(&r.state.text), "{seen:?}");
            (r.state.text, r.state.finish)
        };
        let stop = Some(FinishReason::Stop);
        // The prompt opened the block: its lines run on, the answer stops at its first line.
        assert_eq!(
            stopped("one\ntwo\n</think>The dock is free.\nMore.", true),
            ("one\ntwo\n</think>The dock is free.".into(), stop)
        );
        // The model opened it.
        assert_eq!(
            stopped("<think>\none\ntwo\n</think>Free.\nMore.", false),
            ("<think>\none\ntwo\n</think>Free.".into(), stop)
        );
        // No thinking: the first line.
        assert_eq!(stopped("Free.\nMore.", false), ("Free.".into(), stop));
    }
}
