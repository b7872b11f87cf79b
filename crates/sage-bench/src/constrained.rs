//! `sage bench constrained`: grammar-constrained generation (a JSON schema, a forced tool call)
//! with the constraint checked on the chosen token first (SAGE's default) against the grammar
//! run over every candidate before each draw (as llama.cpp's bare chain does: the baseline), in the same
//! process, alternating, on the same model.

use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use sage_llm::{
    ChatMessage, Constraint, EngineConfig, Flow, GenerateParams, LanguageModel, LlamaEngine, Prompt, Role,
    Sampling,
};

use crate::BenchError;

/// One workload's figures (without a constraint both ways are the same: the ceiling).
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    /// What it generates.
    pub name: String,
    /// Decode rate, tokens per second, of each run: the baseline (every candidate constrained)
    /// and SAGE's (the chosen token checked first).
    pub exact_tok_s: Vec<f64>,
    /// See [`Workload::exact_tok_s`].
    pub lazy_tok_s: Vec<f64>,
    /// Tokens generated per run, each way.
    pub exact_tokens: Vec<usize>,
    /// See [`Workload::exact_tokens`].
    pub lazy_tokens: Vec<usize>,
    /// Every answer of either way parses as JSON (true without a constraint).
    pub all_valid: bool,
    /// For greedy workloads: both ways gave the same text in every run.
    pub same_text: Option<bool>,
}

fn fail(step: &'static str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Engine { engine: "sage", step, message: e.to_string() }
}

/// The workloads: what is asked and under which constraint.
fn workloads() -> Vec<(&'static str, &'static str, Option<Constraint>, Sampling)> {
    let report = json!({"type": "object", "properties": {
        "battery": {"type": "integer"}, "status": {"type": "string", "enum": ["ok", "low"]},
        "position": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]}},
        "required": ["battery", "status", "position"]});
    let tools: Vec<Value> = vec![
        json!({"type": "function", "function": {"name": "get_battery", "parameters": {"type": "object",
            "properties": {"unit": {"type": "string", "enum": ["percent", "volts"]}}, "required": ["unit"]}}}),
        json!({"type": "function", "function": {"name": "move_to", "parameters": {"type": "object",
            "properties": {"x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]}}}),
    ];
    let call = Constraint::JsonSchema(sage_llm::tools::forced_schema(&tools, None, false));
    let sampled = Sampling { temperature: 0.8, seed: 7, ..Sampling::default() };
    let ask = "Report the robot's battery, status and position as JSON.";
    vec![
        ("no constraint, greedy (ceiling)", ask, None, Sampling::greedy()),
        ("json schema, greedy", ask, Some(Constraint::JsonSchema(report.clone())), Sampling::greedy()),
        (
            "forced tool call, greedy",
            "Check the battery, then move to the dock at 3, 4.",
            Some(call),
            Sampling::greedy(),
        ),
        ("json schema, sampled (t 0.8)", ask, Some(Constraint::JsonSchema(report)), sampled),
    ]
}

/// Generate once; the decode rate, the tokens and the text.
fn once(e: &LlamaEngine, ask: &str, params: &GenerateParams) -> Result<(f64, usize, String), BenchError> {
    let (s, _) = e.open_session(None).map_err(|e| fail("opening a session", e))?;
    let prompt = Prompt::Chat(vec![ChatMessage::new(Role::User, ask)]);
    let g = e.generate(s, &prompt, params, &mut |_| Flow::Continue).map_err(|e| fail("generating", e));
    e.close_session(s);
    let g = g?;
    Ok((g.timings.decode_tok_s, g.tokens.len(), g.text))
}

/// Run every workload `runs` times each way, alternating, `max_tokens` at most per answer.
pub fn run(model: &Path, threads: u32, runs: usize, max_tokens: u32) -> Result<Vec<Workload>, BenchError> {
    let cfg =
        EngineConfig { threads: Some(threads), context: Some(2048), parallel: 1, ..EngineConfig::default() };
    let e = LlamaEngine::load(model, Some("bench"), cfg).map_err(|e| fail("loading", e))?;
    let mut out = vec![];
    for (name, ask, constraint, sampling) in workloads() {
        let greedy = sampling.temperature == 0.0;
        let constrained = constraint.is_some();
        let lazy = GenerateParams { max_tokens, sampling, constraint, ..GenerateParams::default() };
        let exact = GenerateParams { exact_constraint: true, ..lazy.clone() };
        let mut w = Workload {
            name: name.into(),
            exact_tok_s: vec![],
            lazy_tok_s: vec![],
            exact_tokens: vec![],
            lazy_tokens: vec![],
            all_valid: true,
            same_text: greedy.then_some(true),
        };
        for i in 0..runs {
            // A sampled workload draws with another seed each run (the same for both ways).
            let seeded = |p: &GenerateParams| {
                let mut p = p.clone();
                p.sampling.seed = p.sampling.seed.wrapping_add(i as u32);
                p
            };
            let (rx, nx, tx) = once(&e, ask, &seeded(&exact))?;
            let (rl, nl, tl) = once(&e, ask, &seeded(&lazy))?;
            w.exact_tok_s.push(rx);
            w.lazy_tok_s.push(rl);
            w.exact_tokens.push(nx);
            w.lazy_tokens.push(nl);
            w.all_valid &=
                !constrained || [&tx, &tl].iter().all(|t| serde_json::from_str::<Value>(t).is_ok());
            if let Some(same) = w.same_text.as_mut() {
                *same &= tx == tl;
            }
        }
        out.push(w);
    }
    Ok(out)
}
