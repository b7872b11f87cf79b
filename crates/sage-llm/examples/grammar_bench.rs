//! SAGE's grammar matcher against llama.cpp's, on one model's whole vocabulary, in one process:
//! for each workload a fixed text is walked token by token, and at every token both matchers
//! judge every vocabulary entry (what a draw over every candidate needs), then take the token.
//! Prints the median time per token each way and the ratio.
//!
//! `cargo run --release -p sage-llm --example grammar_bench -- MODEL.gguf [--ambiguous-200]`
//! (`--ambiguous-200` also times llama.cpp's first token on the run of 200 `"a"?`: seconds).

use std::sync::Arc;
use std::time::Instant;

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;
use sage_llm::grammar::{Grammar, Vocab};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Milliseconds per token each way (median), and how many tokens both allowed in total.
fn walk(
    model: &LlamaModel,
    vocab: &Arc<Vocab>,
    grammar: &str,
    text: &str,
    theirs_too: bool,
) -> anyhow::Result<(f64, f64, usize)> {
    let n = vocab.len() as u32;
    let tokens = model.vocab().tokenize(text.as_bytes(), false, false);
    let mut ours = Grammar::new(grammar, "root", Arc::clone(vocab), &|_| None)?;
    let mut theirs = LlamaSampler::grammar(model, grammar, "root")?;
    let (mut ours_ms, mut theirs_ms, mut allowed) = (vec![], vec![], 0);
    let mut logits = vec![0.0f32; n as usize];
    for t in tokens {
        logits.iter_mut().for_each(|l| *l = 0.0);
        let at = Instant::now();
        let mut judged: Vec<(u32, &mut f32)> =
            logits.iter_mut().enumerate().map(|(i, l)| (i as u32, l)).collect();
        ours.apply(&mut judged, None)?;
        ours.accept(t.0 as u32).map_err(|e| {
            let piece = String::from_utf8_lossy(&model.vocab().token_to_piece(t, true, None)).into_owned();
            anyhow::anyhow!("{e} ({piece:?}) in {text:?} under\n{grammar}")
        })?;
        ours_ms.push(at.elapsed().as_secs_f64() * 1e3);
        let ours_allowed = logits.iter().filter(|l| l.is_finite()).count();
        if theirs_too {
            let at = Instant::now();
            let data = (0..n).map(|i| LlamaTokenData::new(LlamaToken(i as i32), 0.0, 0.0));
            let mut cands = LlamaTokenDataArray::from_iter(data, false);
            cands.apply_sampler(&mut theirs);
            theirs.accept(t);
            theirs_ms.push(at.elapsed().as_secs_f64() * 1e3);
            let theirs_allowed = cands.data.iter().filter(|c| c.logit().is_finite()).count();
            anyhow::ensure!(
                ours_allowed == theirs_allowed,
                "the matchers disagree: {ours_allowed} vs {theirs_allowed}"
            );
        }
        allowed += ours_allowed;
    }
    Ok((median(ours_ms), median(theirs_ms), allowed))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path =
        args.first().ok_or_else(|| anyhow::anyhow!("usage: grammar_bench MODEL.gguf [--ambiguous-200]"))?;
    let mut backend = LlamaBackend::init()?;
    backend.void_logs();
    let model = LlamaModel::load_from_file(&backend, path, &LlamaModelParams::default())?;
    let vocab = Arc::new(sage_llm::llama::grammar_vocab(&model));
    let report = serde_json::json!({"type": "object", "properties": {
        "battery": {"type": "integer"}, "status": {"type": "string", "enum": ["ok", "low"]},
        "position": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]}},
        "required": ["battery", "status", "position"]});
    let schema = sage_llm::llama::schema_to_grammar(&report).map_err(anyhow::Error::msg)?;
    let tools = vec![
        serde_json::json!({"type": "function", "function": {"name": "move_to", "parameters": {"type": "object",
            "properties": {"x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]}}}),
    ];
    let call = sage_llm::llama::schema_to_grammar(&sage_llm::tools::forced_schema(&tools, None, false))
        .map_err(anyhow::Error::msg)?;
    let run = |k: usize| format!("root ::= {}\"b\"", "\"a\"? ".repeat(k));
    let workloads: Vec<(&str, String, String, bool)> = vec![
        (
            "json schema (a robot's report)",
            schema,
            r#"{"battery": 87, "position": {"x": 1.5, "y": -2}, "status": "ok"}"#.into(),
            true,
        ),
        ("forced tool call", call, r#"[{"arguments": {"x": 3, "y": 4}, "name": "move_to"}]"#.into(), true),
        ("a run of 24 \"a\"? (ambiguous)", run(24), "aaaaaaaaaab".into(), true),
        (
            "a run of 200 \"a\"? (ambiguous)",
            run(200),
            "aaaaaaaaaab".into(),
            args.iter().any(|a| a == "--ambiguous-200"),
        ),
    ];
    println!("grammar matcher, every vocabulary entry judged per token ({} entries), {}", vocab.len(), path);
    println!(
        "  {:<34} {:>12} {:>14} {:>8} {:>10}",
        "workload", "SAGE ms/tok", "llama.cpp ms", "ratio", "allowed"
    );
    for (name, grammar, text, theirs_too) in workloads {
        let (ours, theirs, allowed) = walk(&model, &vocab, &grammar, &text, theirs_too)?;
        let ratio = if theirs_too { format!("{:.1}x", theirs / ours) } else { "-".into() };
        let theirs = if theirs_too { format!("{theirs:.2}") } else { "not run".into() };
        println!("  {name:<34} {ours:>12.2} {theirs:>14} {ratio:>8} {allowed:>10}");
    }
    Ok(())
}
