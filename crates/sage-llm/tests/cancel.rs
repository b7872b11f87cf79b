#![allow(clippy::unwrap_used)]

//! Cancelling a generation from another thread on the embedded default model: the llama.cpp
//! step in progress is aborted (a long prompt's evaluation does not run to its end), the
//! cancelled generation returns what it had, the others go on, and the cache stays right.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::load_once;

use sage_llm::{
    Cancel, EngineConfig, Event, FinishReason, Flow, GenerateParams, LanguageModel, LlamaEngine, Sampling,
};

fn engine() -> &'static LlamaEngine {
    static E: OnceLock<LlamaEngine> = OnceLock::new();
    load_once(&E, "gemma3-270m", EngineConfig { context: Some(4096), parallel: 2, ..EngineConfig::default() })
}

fn greedy(max_tokens: u32, cancel: Cancel) -> GenerateParams {
    GenerateParams { max_tokens, sampling: Sampling::greedy(), cancel, ..GenerateParams::default() }
}

/// A prompt of about 3,000 tokens: seconds of evaluation on a CPU, in 512-token steps.
fn long_prompt(e: &LlamaEngine) -> Vec<u32> {
    let text = "The rover crossed the ridge, logged the wind speed and the battery level, and sent \
                its report to the base station before the storm arrived. "
        .repeat(110);
    e.tokenize(&text, true).unwrap()
}

/// Cancel `cancel` once `delay` has passed, from another thread.
fn cancel_after(cancel: &Cancel, delay: Duration) -> std::thread::JoinHandle<()> {
    let c = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        c.cancel();
    })
}

/// An engine of its own, so that no other test's generation shortens its steps (a prompt
/// evaluated beside a stream is cut into short chunks, and a cancel may land between two).
fn alone() -> &'static LlamaEngine {
    static E: OnceLock<LlamaEngine> = OnceLock::new();
    load_once(&E, "gemma3-270m-alone", EngineConfig { context: Some(4096), ..EngineConfig::default() })
}

#[test]
fn cancel_aborts_a_long_prompt_step() {
    let e = alone();
    let prompt = long_prompt(e);
    assert!(prompt.len() > 2500, "{} tokens", prompt.len());
    let (s, _) = e.open_session(None).unwrap();
    let aborted_before = e.stats().unwrap().aborted_steps;
    let cancel = Cancel::new();
    let t = cancel_after(&cancel, Duration::from_millis(50));
    let mut prompt_done = false;
    let g = e
        .generate_tokens(s, &prompt, &greedy(8, cancel.clone()), &mut |ev| {
            prompt_done |= matches!(ev, Event::PromptDone { .. });
            Flow::Continue
        })
        .unwrap();
    t.join().unwrap();
    assert_eq!(g.finish, FinishReason::Cancelled);
    assert!(!prompt_done, "the prompt's evaluation ran to its end");
    assert!(g.tokens.is_empty());
    let st = e.stats().unwrap();
    assert!(st.aborted_steps > aborted_before, "{st:?}");

    // The session is usable, and what the aborted step left in the cache was rolled back: the
    // same prompt now answers what a fresh session answers.
    let short = e.tokenize("The capital city of France is", true).unwrap();
    let again = e.generate_tokens(s, &short, &greedy(8, Cancel::default()), &mut |_| Flow::Continue).unwrap();
    let (fresh_s, _) = e.open_session(None).unwrap();
    let fresh =
        e.generate_tokens(fresh_s, &short, &greedy(8, Cancel::default()), &mut |_| Flow::Continue).unwrap();
    assert_eq!(again.finish, FinishReason::Length);
    assert_eq!(again.text, fresh.text);
    e.close_session(s);
    e.close_session(fresh_s);
}

#[test]
fn cancelling_one_generation_lets_the_other_finish() {
    let e = engine();
    let (a, _) = e.open_session(None).unwrap();
    let (b, _) = e.open_session(None).unwrap();
    let short = e.tokenize("Once upon a time, a small drone", true).unwrap();
    let long = long_prompt(e);
    // A streams; once it has its first token, B's long prompt arrives and is cancelled
    // while it is evaluated.
    let started = Arc::new(AtomicBool::new(false));
    let s2 = started.clone();
    let b_cancel = Cancel::new();
    let bc = b_cancel.clone();
    let other = std::thread::spawn(move || {
        while !s2.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let t = cancel_after(&bc, Duration::from_millis(100));
        let g = engine().generate_tokens(b, &long, &greedy(8, bc.clone()), &mut |_| Flow::Continue).unwrap();
        t.join().unwrap();
        g
    });
    let ga = e
        .generate_tokens(a, &short, &greedy(48, Cancel::new()), &mut |_| {
            started.store(true, Ordering::SeqCst);
            Flow::Continue
        })
        .unwrap();
    let gb = other.join().unwrap();
    assert_eq!(gb.finish, FinishReason::Cancelled);
    assert!(gb.tokens.is_empty(), "B was cancelled before its first token");
    assert_eq!(ga.finish, FinishReason::Length);
    assert_eq!(ga.tokens.len(), 48);
    assert!(b_cancel.is_cancelled());
    e.close_session(a);
    e.close_session(b);
}

#[test]
fn a_cancelled_request_still_waiting_is_answered_at_once() {
    let e = engine();
    let (s, _) = e.open_session(None).unwrap();
    let cancel = Cancel::new();
    cancel.cancel();
    let short = e.tokenize("Water boils at a temperature of", true).unwrap();
    let g = e.generate_tokens(s, &short, &greedy(64, cancel), &mut |_| Flow::Continue).unwrap();
    assert_eq!(g.finish, FinishReason::Cancelled);
    assert!(g.tokens.is_empty(), "{} tokens after a cancel made before the request", g.tokens.len());
    e.close_session(s);
}
