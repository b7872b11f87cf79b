//! `sage bench attention`: recall of labelled salient events and compute skipped, with the
//! kernel's built-in plugins or the whole loop with the language model.

use std::path::PathBuf;

use anyhow::Context as _;
use sage_bench::{judgment, report};

/// The labelled scenario of `sage bench attention`.
const ATTENTION: &str = include_str!("../../../../scenarios/attention.jsonl");

pub fn run(
    scenario: Option<PathBuf>,
    json: bool,
    with_model: bool,
    zoo: &crate::runtime::ZooArgs,
) -> anyhow::Result<()> {
    let text = match &scenario {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        None => ATTENTION.to_string(),
    };
    let (r, model_line) = if with_model {
        with_the_model(&text, zoo)?
    } else {
        (judgment::attention(&text, sage_kernel::KernelConfig::default(), None)?, None)
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let source =
        scenario.as_ref().map_or("scenarios/attention.jsonl".to_string(), |p| p.display().to_string());
    print!("{}", report::attention(&r, &source, model_line.as_deref()));
    Ok(())
}

/// The whole loop with the language model answering and scoring ambiguous text; the report and
/// a line on what the model cost against running it on every observation.
fn with_the_model(
    text: &str,
    zoo: &crate::runtime::ZooArgs,
) -> anyhow::Result<(judgment::AttentionReport, Option<String>)> {
    let c = crate::runtime::compose(zoo)?;
    let config = sage_runtime::driver::kernel_config(&c.specs, c.profile.model_bytes, &c.residency);
    let first = c.specs.first().map(|s| s.id.clone()).unwrap_or_default();
    // A private store: the benchmark leaves the user's memories alone.
    let store = sage_store::Store::in_memory()?;
    let mut d = sage_runtime::driver::LlmDriver::new(
        c.specs.clone(),
        c.residency.clone(),
        Some(store),
        Some(sage_runtime::semantic::SemanticScorer::new(&first, 0.01)),
        c.clock.clone(),
    )
    .with_reasoner(sage_runtime::reasoner::Reasoner::new(&first, 0.01));
    let r = judgment::attention(text, config, Some(&mut d))?;
    let inv = &d.invocations;
    let tokens: u64 = inv.iter().map(|i| (i.tokens.0 + i.tokens.1 + i.tokens.2) as u64).sum();
    let per = if inv.is_empty() { 0.0 } else { tokens as f64 / inv.len() as f64 };
    let every = per * r.observations as f64;
    let line = format!(
        "  language model: {} answers, {} tokens (prompt and generated); on every observation it would \
         be about {:.0} tokens ({} observations × {:.0} per answer): {:.1}% of the model compute skipped",
        inv.len(),
        tokens,
        every,
        r.observations,
        per,
        if every > 0.0 { 100.0 * (1.0 - tokens as f64 / every) } else { 0.0 }
    );
    Ok((r, Some(line)))
}

/// Every scenario family on `seeds` seeds (held out, or the tuning ones), the worst first.
pub fn families(seeds: u64, tuning: bool, json: bool) -> anyhow::Result<()> {
    use sage_bench::families::{evaluate_all, HELD_OUT_FROM};
    let from = if tuning { 0 } else { HELD_OUT_FROM };
    let seeds: Vec<u64> = (from..from + seeds.max(1)).collect();
    let all = evaluate_all(&seeds)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    print!("{}", report::families(&all, tuning));
    Ok(())
}
