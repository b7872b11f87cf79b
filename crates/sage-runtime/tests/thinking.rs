#![allow(clippy::unwrap_used)]

//! Thinking within a budget, and a constrained answer after it, on the embedded default model
//! (a real engine, so the block closed for the model and the grammar that waits for it run
//! through llama.cpp's sampler chain and the continuation of a generation taken in steps).
//! The model is a base model, not a reasoning one: its text stands in for thinking in a block
//! the prompt opened.

#[path = "../../sage-llm/tests/common/mod.rs"]
mod common;

use std::sync::OnceLock;

use sage_llm::reasoning::{split, CLOSE, FORCED_CLOSE, OPENED};
use sage_llm::{
    Constraint, EngineConfig, FinishReason, GenerateParams, LanguageModel, LlamaEngine, Sampling,
};
use sage_runtime::llm::{run, LlmRun, LlmSettings};

fn engine() -> &'static LlamaEngine {
    static E: OnceLock<LlamaEngine> = OnceLock::new();
    common::load_once(&E, "gemma3-270m", EngineConfig::default())
}

/// The LLM plugin run on `prompt` with `settings` in a session of its own: the run and what
/// streamed.
fn run_on(e: &LlamaEngine, prompt: &str, settings: &LlmSettings) -> (LlmRun, String) {
    let (s, n) = e.open_session(None).unwrap();
    let prompt = e.tokenize(prompt, true).unwrap();
    let mut streamed = String::new();
    let mut sink = |d: &str| {
        streamed.push_str(d);
        sage_llm::Flow::Continue
    };
    let r = run(e, s, n, prompt, settings, 100.0, Some(&mut sink)).unwrap();
    e.close_session(s);
    (r, streamed)
}

#[test]
fn a_budget_closes_the_block_and_the_answer_after_it_follows_the_schema() {
    let e = engine();
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"action": {"type": "string", "enum": ["stop", "go", "wait"]}},
        "required": ["action"]
    });
    let params = GenerateParams {
        sampling: Sampling::greedy(),
        logprobs: Some(0),
        constraint: Some(Constraint::JsonSchema(schema)),
        constraint_after: Some(CLOSE.into()),
        thinking_budget: Some(6),
        ..GenerateParams::default()
    };
    let settings = LlmSettings { chunk: 4, max_tokens: 64, opened: true, params, ..LlmSettings::default() };
    let (r, streamed) = run_on(e, "The robot sees an obstacle ahead. Its decision:", &settings);
    let texts = |from: usize, to: usize| -> String {
        r.state.generated[from..to].iter().map(|t| t.text.as_str()).collect()
    };
    let thought = texts(0, 6);
    let after = texts(6, r.state.generated.len());
    assert_eq!(r.state.text, format!("{thought}{FORCED_CLOSE}{after}"), "six tokens, then the close");
    assert_eq!(streamed, r.state.text);
    assert_eq!(r.state.finish, Some(FinishReason::EndOfTurn), "{:?}", r.state.text);
    let (reasoning, answer) = split(&format!("{OPENED}{}", r.state.text));
    assert_eq!(reasoning.as_deref(), Some(thought.trim()));
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{answer:?}: {e}"));
    assert!(["stop", "go", "wait"].contains(&v["action"].as_str().unwrap()), "{v}");
}

#[test]
fn a_stop_sequence_waits_for_the_answer_after_the_thinking() {
    // The model's first tokens here are line breaks ("Answer:" goes on "\n\nThe answer is...");
    // as thinking in a block the prompt opened, a "\n" stop must not cut them.
    let e = engine();
    let params = GenerateParams {
        sampling: Sampling::greedy(),
        logprobs: Some(0),
        stop: vec!["\n".into()],
        thinking_budget: Some(6),
        ..GenerateParams::default()
    };
    let settings = LlmSettings { chunk: 4, max_tokens: 48, opened: true, params, ..LlmSettings::default() };
    let (r, streamed) = run_on(e, "Answer:", &settings);
    let thought: String = r.state.generated[..6].iter().map(|t| t.text.as_str()).collect();
    assert!(thought.contains('\n'), "the thinking holds a line break: {thought:?}");
    let answer = r.state.text.strip_prefix(&format!("{thought}{FORCED_CLOSE}")).unwrap();
    assert!(!answer.contains('\n'), "{:?}", r.state.text);
    assert_eq!(r.state.finish, Some(FinishReason::Stop), "{:?}", r.state.text);
    assert_eq!(streamed, r.state.text);
}

/// A grace past the budget (NVIDIA's budget control): the thought ends its line, and the block
/// closes after the first token past the budget that holds a line break, or at the grace's end.
#[test]
fn a_grace_past_the_budget_lets_the_thought_end_its_line() {
    let e = engine();
    let prompt = "A robot's log, line by line:";
    let params =
        GenerateParams { sampling: Sampling::greedy(), logprobs: Some(0), ..GenerateParams::default() };
    let settings = LlmSettings { chunk: 4, max_tokens: 64, opened: true, params, ..LlmSettings::default() };
    let (free, _) = run_on(e, prompt, &settings);
    let (budget, grace) = (3usize, 40usize);
    let line_end = free.state.generated[budget..].iter().position(|t| t.text.contains('\n'));
    let thought_tokens = line_end.map_or(budget + grace, |i| budget + i + 1).min(budget + grace);
    assert!(
        line_end.is_some_and(|i| i > 0 && i < grace),
        "the free text ends a line past the budget, within the grace: {:?}",
        free.state.text
    );
    let mut graced = settings.clone();
    graced.params.thinking_budget = Some(budget as u32);
    graced.params.thinking_grace = grace as u32;
    let (r, streamed) = run_on(e, prompt, &graced);
    let ids = |r: &LlmRun, n: usize| r.state.generated[..n].iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(&r, thought_tokens), ids(&free, thought_tokens), "the thought is the free text");
    let thought: String = free.state.generated[..thought_tokens].iter().map(|t| t.text.as_str()).collect();
    assert!(
        r.state.text.starts_with(&format!("{thought}{FORCED_CLOSE}")),
        "{:?} / {thought:?}",
        r.state.text
    );
    assert_eq!(streamed, r.state.text);
    // Without a grace, the block closes at the budget, mid-line.
    graced.params.thinking_grace = 0;
    let (strict, _) = run_on(e, prompt, &graced);
    let cut: String = free.state.generated[..budget].iter().map(|t| t.text.as_str()).collect();
    assert!(strict.state.text.starts_with(&format!("{cut}{FORCED_CLOSE}")), "{:?}", strict.state.text);
}
