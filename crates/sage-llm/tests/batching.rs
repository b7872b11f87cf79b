#![allow(clippy::unwrap_used)]

//! Continuous batching on the embedded default model: concurrent generations share one
//! llama.cpp context and one `llama_decode` per step, and must answer exactly what they answer
//! alone; sessions outnumbering the sequences, a session used by two callers at once and a
//! borrowed prompt prefix must all stay correct.

mod common;

use std::sync::OnceLock;

use common::load_once;

use sage_llm::{
    Constraint, EngineConfig, FinishReason, Flow, GenerateParams, LanguageModel, LlamaEngine, Prompt,
    Sampling, TokenId,
};

const PARALLEL: u32 = 3;

fn engine() -> &'static LlamaEngine {
    static E: OnceLock<LlamaEngine> = OnceLock::new();
    load_once(
        &E,
        "gemma3-270m",
        EngineConfig {
            context: Some(256),
            parallel: PARALLEL,
            // The grammar's matcher is this crate's code, unoptimised in a test build and slower
            // still beside a concurrent build: the default limit (1 s per token) failed a
            // constrained test here once. What the limit does is tested on an engine of its own.
            grammar_step_limit: std::time::Duration::from_secs(120),
            ..EngineConfig::default()
        },
    )
}

fn greedy(max_tokens: u32) -> GenerateParams {
    GenerateParams { max_tokens, sampling: Sampling::greedy(), ..GenerateParams::default() }
}

const PROMPTS: &[&str] = &[
    "The robot entered the warehouse and",
    "Water boils at a temperature of",
    "The capital city of France is",
    "Once upon a time, a small drone",
    "The battery of the rover was low, so",
];

/// Largest gap, over `generated`, between the best logit and the chosen token's logit when the
/// sequence is evaluated cold in its own session (teacher forcing). A greedy answer computed in
/// a batch is the cold greedy answer up to floating-point ties: batched matrix products sum in
/// another order (llama.cpp, vLLM and every batching server share this), so a near-tie may
/// fall the other way. A mixed-up cache would show gaps of several logits.
fn greedy_gap(prompt: &[TokenId], generated: &[TokenId]) -> f32 {
    let e = engine();
    let (s, _) = e.open_session(None).unwrap();
    let mut all = prompt.to_vec();
    all.extend_from_slice(generated);
    let logits = e.logits(s, &all[..all.len() - 1]).unwrap();
    e.close_session(s);
    let mut worst = 0f32;
    for (k, &t) in generated.iter().enumerate() {
        let row = &logits[prompt.len() - 1 + k];
        let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        worst = worst.max(best - row[t as usize]);
    }
    worst
}

/// Ties within this many logits count as the same greedy choice.
const TIE: f32 = 0.5;

/// Generate `prompt` in a fresh session of `e`; the token ids.
fn alone_on(e: &LlamaEngine, prompt: &str, n: u32) -> Vec<TokenId> {
    let (s, _) = e.open_session(None).unwrap();
    let g = e.generate(s, &Prompt::Text(prompt.into()), &greedy(n), &mut |_| Flow::Continue).unwrap();
    e.close_session(s);
    g.tokens.iter().map(|t| t.id).collect()
}

#[test]
fn concurrent_generations_answer_what_they_answer_alone() {
    // Its own engine, so that its step count is its own.
    static OWN: OnceLock<LlamaEngine> = OnceLock::new();
    let e: &'static LlamaEngine = load_once(
        &OWN,
        "gemma3-270m-concurrent",
        EngineConfig { context: Some(256), parallel: PARALLEL, ..EngineConfig::default() },
    );
    // More concurrent requests than sequences: the extra ones wait for a slot.
    let reference: Vec<Vec<TokenId>> = PROMPTS.iter().map(|p| alone_on(e, p, 20)).collect();
    for _ in 0..2 {
        let steps = e.stats().map_or(0, |s| s.steps);
        let handles: Vec<_> =
            PROMPTS.iter().map(|p| std::thread::spawn(move || alone_on(e, p, 20))).collect();
        let got: Vec<Vec<TokenId>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        // Batching happened: fewer steps than tokens (one generation at a time takes a step per
        // token, and one per prompt).
        let taken = e.stats().map_or(0, |s| s.steps) - steps;
        let tokens: usize = got.iter().map(Vec::len).sum();
        assert!((taken as usize) < tokens, "{taken} steps for {tokens} tokens: nothing was batched");
        for (i, (g, r)) in got.iter().zip(&reference).enumerate() {
            let gap = greedy_gap(&engine().tokenize(PROMPTS[i], true).unwrap(), g);
            eprintln!("prompt {i}: same as alone: {}, greedy gap {gap:.4}", g == r);
            assert!(gap < TIE, "prompt {i} ({:?}): batched answer departs from greedy by {gap}", PROMPTS[i]);
            assert_eq!(g.len(), r.len());
        }
    }
}

#[test]
fn sessions_outnumbering_sequences_keep_their_conversations() {
    let e = engine();
    // Five sessions over three sequences: each generates, then all generate again with their
    // own history appended; evicted caches are re-evaluated, never mixed up.
    let sessions: Vec<_> = (0..5).map(|_| e.open_session(None).unwrap().0).collect();
    let mut histories: Vec<Vec<TokenId>> = PROMPTS.iter().map(|p| e.tokenize(p, true).unwrap()).collect();
    for round in 0..2 {
        let handles: Vec<_> = sessions
            .iter()
            .zip(histories.clone())
            .map(|(&s, h)| {
                std::thread::spawn(move || {
                    let g = engine().generate_tokens(s, &h, &greedy(8), &mut |_| Flow::Continue).unwrap();
                    (g.tokens.iter().map(|t| t.id).collect::<Vec<_>>(), g.timings)
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let (tokens, timings) = h.join().unwrap();
            // The same history in a fresh session gives the same continuation.
            let (fresh, _) = e.open_session(None).unwrap();
            let want = e.generate_tokens(fresh, &histories[i], &greedy(8), &mut |_| Flow::Continue).unwrap();
            e.close_session(fresh);
            let gap = greedy_gap(&histories[i], &tokens);
            eprintln!(
                "round {round} session {i}: same as fresh: {}, greedy gap {gap:.4}",
                tokens == want.tokens.iter().map(|t| t.id).collect::<Vec<_>>()
            );
            assert!(gap < TIE, "round {round} session {i}: departs from greedy by {gap}");
            assert_eq!((timings.prompt_tokens + timings.cached_tokens) as usize, histories[i].len());
            histories[i].extend(tokens);
        }
    }
    for s in sessions {
        e.close_session(s);
    }
}

#[test]
fn one_session_used_by_two_callers_serves_them_in_turn() {
    let e = engine();
    let (s, _) = e.open_session(None).unwrap();
    let a = std::thread::spawn(move || {
        engine().generate(s, &Prompt::Text(PROMPTS[0].into()), &greedy(12), &mut |_| Flow::Continue).unwrap()
    });
    let b = std::thread::spawn(move || {
        engine().generate(s, &Prompt::Text(PROMPTS[1].into()), &greedy(12), &mut |_| Flow::Continue).unwrap()
    });
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    for (g, p) in [(a, PROMPTS[0]), (b, PROMPTS[1])] {
        let ids: Vec<TokenId> = g.tokens.iter().map(|t| t.id).collect();
        assert_eq!(ids.len(), 12);
        let gap = greedy_gap(&e.tokenize(p, true).unwrap(), &ids);
        assert!(gap < TIE, "{p:?}: departs from greedy by {gap}");
    }
    e.close_session(s);
}

#[test]
fn a_shared_prefix_is_borrowed_not_evaluated_again() {
    let e = engine();
    let system = "You are the maintenance assistant of a warehouse robot fleet. Answer briefly, \
                  name the robot and the aisle, and never guess a battery level you were not told.";
    let first = format!("{system}\nQuestion: which robot is charging?\nAnswer:");
    let second = format!("{system}\nQuestion: is aisle 3 clear?\nAnswer:");
    let shared = {
        let a = e.tokenize(&first, true).unwrap();
        let b = e.tokenize(&second, true).unwrap();
        a.iter().zip(&b).take_while(|(x, y)| x == y).count()
    };
    assert!(shared > 30, "the prompts share {shared} tokens");
    let (s1, _) = e.open_session(None).unwrap();
    e.generate(s1, &Prompt::Text(first), &greedy(4), &mut |_| Flow::Continue).unwrap();
    // Hold s1's slot busy-free but owned: a second session borrows its cells.
    let (s2, _) = e.open_session(None).unwrap();
    let g = e.generate(s2, &Prompt::Text(second.clone()), &greedy(10), &mut |_| Flow::Continue).unwrap();
    assert!(
        g.timings.cached_tokens as usize >= shared,
        "{} tokens reused, {shared} shared",
        g.timings.cached_tokens
    );
    // And the answer is the one a cold evaluation gives.
    let got: Vec<TokenId> = g.tokens.iter().map(|t| t.id).collect();
    e.close_session(s1);
    e.close_session(s2);
    let logits_session = e.open_session(None).unwrap().0;
    let mut tokens = e.tokenize(&second, true).unwrap();
    for &t in &got {
        let l = e.logits(logits_session, &tokens).unwrap();
        let last = l.last().unwrap();
        let best = (0..last.len()).max_by(|&a, &b| last[a].total_cmp(&last[b])).unwrap() as TokenId;
        assert_eq!(best, t, "a borrowed prefix changed the answer");
        tokens.push(t);
    }
    e.close_session(logits_session);
}

/// Gemma 3's sliding-window layers keep only the last 512 positions of a sequence: a
/// conversation longer than that must still continue from its cache, and a prompt that departs
/// from the cache before the window must be evaluated again, never continued from missing cells.
#[test]
fn beyond_the_sliding_window_reuse_stays_correct() {
    static LONG: OnceLock<LlamaEngine> = OnceLock::new();
    // Batches of 64: the sliding-window cache holds 768 cells (512 + 64, padded), fewer than the
    // 900-token prompt, so cells the window has left behind are overwritten.
    let config =
        EngineConfig { context: Some(1024), parallel: 1, batch: 64, ubatch: 64, ..EngineConfig::default() };
    let e = load_once(&LONG, "gemma3-270m-long", config);
    let paragraph = "The rover checked the north door, the charging dock and the third aisle, then \
                     wrote down what it saw and why it mattered to the night shift. ";
    let mut p1 = e.tokenize(&paragraph.repeat(40), true).unwrap();
    p1.truncate(900);
    assert!(p1.len() == 900);
    let (s, _) = e.open_session(None).unwrap();
    let g1 = e.generate_tokens(s, &p1, &greedy(8), &mut |_| Flow::Continue).unwrap();
    // A turn later: the whole history is still usable (only the last sampled token was never
    // evaluated).
    let mut p2 = p1.clone();
    p2.extend(g1.tokens.iter().map(|t| t.id));
    p2.extend(e.tokenize(" Next, the rover", false).unwrap());
    let g2 = e.generate_tokens(s, &p2, &greedy(8), &mut |_| Flow::Continue).unwrap();
    assert!(
        g2.timings.cached_tokens as usize >= p1.len() + g1.tokens.len() - 1,
        "{} of {} tokens reused",
        g2.timings.cached_tokens,
        p2.len()
    );
    // Departing at position 300, long before the window: evaluated again, and still right.
    let mut p3 = p1[..300].to_vec();
    p3.extend(e.tokenize(" Suddenly the lights went out and", false).unwrap());
    let g3 = e.generate_tokens(s, &p3, &greedy(8), &mut |_| Flow::Continue).unwrap();
    assert_eq!((g3.timings.prompt_tokens + g3.timings.cached_tokens) as usize, p3.len());
    assert!((g3.timings.cached_tokens as usize) < 300, "continued from cells the window had dropped");
    let ids: Vec<TokenId> = g3.tokens.iter().map(|t| t.id).collect();
    let (cold, _) = e.open_session(None).unwrap();
    let mut all = p3.clone();
    all.extend(&ids);
    let logits = e.logits(cold, &all[..all.len() - 1]).unwrap();
    for (k, &t) in ids.iter().enumerate() {
        let row = &logits[p3.len() - 1 + k];
        let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        assert!(best - row[t as usize] < TIE, "token {k} departs from greedy");
    }
    e.close_session(cold);
    e.close_session(s);
}

/// Temperature sampling is drawn from the request's seed: the same seed gives the same answer,
/// other seeds other answers, and every token is among the top-k of the model's distribution.
/// The same prompt again is not evaluated again: its first token is drawn from the row the
/// prompt ended on the first time. Evaluating the last prompt token again, alone, rounds
/// differently from evaluating it within the prompt's batch (on an AMD EPYC, up to 0.32 in a
/// top-20 log-probability), which changed the first drawn token of a repeat there.
/// (Its own engine, with one sequence: a seed repeats exactly only when the steps around it
/// repeat, and the other tests here would share its steps.)
#[test]
fn seeded_sampling_repeats_and_stays_in_the_top_k() {
    static OWN: OnceLock<LlamaEngine> = OnceLock::new();
    let e = load_once(
        &OWN,
        "gemma3-270m-sampling",
        EngineConfig { context: Some(256), ..EngineConfig::default() },
    );
    let a = sample(e, PROMPTS[3], 11, 1.0);
    let again = sample(e, PROMPTS[3], 11, 1.0);
    assert_eq!(ids(&a), ids(&again), "the same seed answered differently");
    assert_eq!(again.timings.prompt_tokens, 0, "the repeated prompt was evaluated again");
    let others: Vec<Vec<TokenId>> = (12..16).map(|seed| ids(&sample(e, PROMPTS[3], seed, 1.0))).collect();
    assert!(others.iter().any(|o| o != &ids(&a)), "four other seeds all answered {:?}", ids(&a));
    // After other prompts have used the sequence, the first prompt is evaluated from scratch
    // again, exactly as the first time: the same seed still repeats.
    let _ = sample(e, PROMPTS[0], 11, 1.0);
    let cold_again = sample(e, PROMPTS[3], 11, 1.0);
    assert!(cold_again.timings.prompt_tokens > 1, "{:?}", cold_again.timings);
    assert_eq!(ids(&a), ids(&cold_again), "the same seed answered differently from a cold prompt");
    // Every drawn token is among the 20 best of a cold evaluation (teacher forcing: another
    // batch shape, so ranks are compared up to float ties).
    let prompt = e.tokenize(PROMPTS[3], true).unwrap();
    let (s, _) = e.open_session(None).unwrap();
    let mut all = prompt.clone();
    all.extend(ids(&a));
    let logits = e.logits(s, &all[..all.len() - 1]).unwrap();
    e.close_session(s);
    for (k, &t) in ids(&a).iter().enumerate() {
        let row = &logits[prompt.len() - 1 + k];
        let better = row.iter().filter(|&&x| x > row[t as usize] + TIE).count();
        assert!(better < 20, "token {k} ranks {better}: outside the top-k");
    }
}

/// A seed repeats through llama.cpp's own sampler chain too (a repetition penalty takes the
/// request off SAGE's fast draw), and across engines: a freshly loaded engine answers a seeded
/// prompt exactly as another fresh engine did.
#[test]
fn seeds_repeat_through_the_sampler_chain_and_across_engines() {
    static A: OnceLock<LlamaEngine> = OnceLock::new();
    static B: OnceLock<LlamaEngine> = OnceLock::new();
    let config = || EngineConfig { context: Some(256), ..EngineConfig::default() };
    let a = load_once(&A, "gemma3-270m-chain-a", config());
    let b = load_once(&B, "gemma3-270m-chain-b", config());
    let chained = |e: &LlamaEngine, seed: u32| {
        let p = GenerateParams {
            max_tokens: 12,
            sampling: Sampling {
                temperature: 0.9,
                repeat_penalty: 1.3,
                repeat_last_n: 16,
                seed,
                ..Sampling::default()
            },
            ..GenerateParams::default()
        };
        let (s, _) = e.open_session(None).unwrap();
        let g = e.generate(s, &Prompt::Text(PROMPTS[4].into()), &p, &mut |_| Flow::Continue).unwrap();
        e.close_session(s);
        g
    };
    let first = chained(a, 5);
    let repeat = chained(a, 5);
    assert_eq!(repeat.timings.prompt_tokens, 0);
    assert_eq!(ids(&first), ids(&repeat), "llama.cpp's chain: the same seed answered differently");
    assert_eq!(ids(&first), ids(&chained(b, 5)), "another engine answered the same seed differently");
    assert_eq!(ids(&sample(a, PROMPTS[2], 3, 0.7)), ids(&sample(b, PROMPTS[2], 3, 0.7)));
}

/// A sampled answer of `prompt` from a new session of `e`.
fn sample(e: &LlamaEngine, prompt: &str, seed: u32, temperature: f32) -> sage_llm::Generation {
    let p = GenerateParams {
        max_tokens: 16,
        sampling: Sampling { temperature, top_k: 20, top_p: 0.95, min_p: 0.0, seed, ..Sampling::default() },
        ..GenerateParams::default()
    };
    let (s, _) = e.open_session(None).unwrap();
    let g = e.generate(s, &Prompt::Text(prompt.into()), &p, &mut |_| Flow::Continue).unwrap();
    e.close_session(s);
    g
}

fn ids(g: &sage_llm::Generation) -> Vec<TokenId> {
    g.tokens.iter().map(|t| t.id).collect()
}

/// A generation taken in chunks (as the kernel's LLM plugin does, a step at a time) gives
/// exactly what one call gives, when each call says how much of its prompt it generated
/// itself: the grammar goes on from where it was (one JSON object, not one per chunk), and so
/// do the repetition penalty and the random stream. Both samplers: SAGE's draw and llama.cpp's
/// chain (a constraint takes the request there).
#[test]
fn a_generation_in_chunks_is_the_generation_in_one_call() {
    static OWN: OnceLock<LlamaEngine> = OnceLock::new();
    let e =
        load_once(&OWN, "gemma3-270m-chunks", EngineConfig { context: Some(512), ..EngineConfig::default() });
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"battery": {"type": "integer"}, "status": {"type": "string", "enum": ["ok", "low"]}},
        "required": ["battery", "status"]
    });
    let prompt = e.tokenize("Report the battery level as JSON:", true).unwrap();
    for (seed, constraint) in [
        (3, None),
        (4, Some(Constraint::JsonSchema(schema.clone()))),
        (5, Some(Constraint::JsonSchema(schema))),
    ] {
        let params = |max_tokens: u32, continuation: u32| GenerateParams {
            max_tokens,
            sampling: Sampling { temperature: 1.0, repeat_penalty: 1.1, seed, ..Sampling::default() },
            constraint: constraint.clone(),
            continuation,
            ..GenerateParams::default()
        };
        let (s, _) = e.open_session(None).unwrap();
        let whole = e.generate_tokens(s, &prompt, &params(40, 0), &mut |_| Flow::Continue).unwrap();
        e.close_session(s);
        let (s, _) = e.open_session(None).unwrap();
        let mut chunked: Vec<TokenId> = vec![];
        let mut text = String::new();
        loop {
            let mut input = prompt.clone();
            input.extend(&chunked);
            let n = (40 - chunked.len() as u32).min(6);
            let g = e
                .generate_tokens(s, &input, &params(n, chunked.len() as u32), &mut |_| Flow::Continue)
                .unwrap();
            chunked.extend(g.tokens.iter().map(|t| t.id));
            text.push_str(&g.text);
            if g.finish != FinishReason::Length || chunked.len() >= 40 {
                break;
            }
        }
        e.close_session(s);
        assert_eq!(ids(&whole), chunked, "seed {seed}: the chunks departed from the one call");
        assert_eq!(whole.text, text);
        if constraint.is_some() {
            let v: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert!(v["battery"].is_i64(), "{v}");
        }
    }
}

/// An engine for the one test that counts evaluated tokens (no other test's prompts in it).
fn counting_engine() -> &'static LlamaEngine {
    static E: OnceLock<LlamaEngine> = OnceLock::new();
    load_once(&E, "gemma3-270m-counting", EngineConfig { context: Some(512), ..EngineConfig::default() })
}

#[test]
fn the_next_token_row_reuses_the_cached_preamble() {
    let e = counting_engine();
    let pre = "Decide whether a message needs attention.\nMessage: \"Nice weather today.\"\nImportant: no\n\
               Message: \"Fire in aisle 4, evacuate now!\"\nImportant: yes\n";
    let a = e.tokenize(&format!("{pre}Message: \"The door is open.\"\nImportant:"), true).unwrap();
    let b = e.tokenize(&format!("{pre}Message: \"Smoke near the charger!\"\nImportant:"), true).unwrap();
    let shared = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    assert!(shared > 20 && shared < b.len());
    // The reference: every position evaluated from an empty cache.
    let (r, _) = e.open_session(None).unwrap();
    let reference = e.logits(r, &b).unwrap().pop().unwrap();
    e.close_session(r);

    let (s, _) = e.open_session(None).unwrap();
    e.next_logits(s, &a).unwrap();
    let before = e.stats().unwrap().prompt_tokens_evaluated;
    let row = e.next_logits(s, &b).unwrap();
    let evaluated = e.stats().unwrap().prompt_tokens_evaluated - before;
    assert_eq!(evaluated as usize, b.len() - shared, "only what follows the shared preamble is evaluated");
    let argmax = |r: &[f32]| (0..r.len()).max_by(|&i, &j| r[i].total_cmp(&r[j])).unwrap();
    assert_eq!(argmax(&row), argmax(&reference));
    // Rows evaluated in other batch shapes round differently (see the module's note: with this
    // 4-bit model the total variation is about 0.03 here); the distributions must agree
    // closely, and a position or cache mix-up would give another distribution altogether.
    let probs = |r: &[f32]| {
        let m = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let z: f64 = r.iter().map(|&x| ((x - m) as f64).exp()).sum();
        r.iter().map(|&x| ((x - m) as f64).exp() / z).collect::<Vec<f64>>()
    };
    let tv: f64 = probs(&row).iter().zip(probs(&reference)).map(|(p, q)| (p - q).abs()).sum::<f64>() / 2.0;
    assert!(tv < 0.06, "the cached-prefix distribution differs from the reference by {tv} (total variation)");
    // Asked again, the same tokens evaluate nothing and give the same row.
    let again = e.next_logits(s, &b).unwrap();
    assert_eq!(e.stats().unwrap().prompt_tokens_evaluated - before, evaluated, "{:?}", e.stats());
    assert_eq!(again, row);
    e.close_session(s);
}

#[test]
fn a_grammar_past_its_time_limit_ends_the_generation_with_an_error() {
    static E: OnceLock<LlamaEngine> = OnceLock::new();
    // A limit no judging of the whole vocabulary (262,144 tokens) can meet.
    let limit = std::time::Duration::from_micros(1);
    let e = load_once(
        &E,
        "gemma3-270m-hurried",
        EngineConfig { context: Some(64), grammar_step_limit: limit, ..EngineConfig::default() },
    );
    let prompt = e.tokenize("The battery level as JSON:", true).unwrap();
    let schema = serde_json::json!({"type": "object", "properties": {"battery": {"type": "integer"}}});
    let params = GenerateParams {
        constraint: Some(Constraint::JsonSchema(schema)),
        exact_constraint: true,
        ..greedy(8)
    };
    let (s, _) = e.open_session(None).unwrap();
    let err = e.generate_tokens(s, &prompt, &params, &mut |_| Flow::Continue).unwrap_err();
    e.close_session(s);
    assert!(
        matches!(&err, sage_llm::GenerateError::Constraint { message, .. } if message.contains("time limit")),
        "{err}"
    );
    // The same request without a constraint is answered: the engine goes on.
    let (s, _) = e.open_session(None).unwrap();
    let g = e.generate_tokens(s, &prompt, &greedy(4), &mut |_| Flow::Continue).unwrap();
    e.close_session(s);
    assert_eq!(g.tokens.len(), 4);
}

#[test]
fn a_grammar_limit_of_zero_is_refused_at_load() {
    let config = EngineConfig { grammar_step_limit: std::time::Duration::ZERO, ..EngineConfig::default() };
    let err = LlamaEngine::load(common::model_path(), Some("zero-limit"), config).unwrap_err();
    assert!(err.to_string().contains("limit per token must be positive"), "{err}");
}
