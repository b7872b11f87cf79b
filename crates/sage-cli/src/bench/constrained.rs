//! `sage bench constrained`: the report of `sage_bench::constrained`.

use std::path::PathBuf;

use sage_bench::constrained;

fn median(v: &[f64]) -> f64 {
    super::pct(v, 50.0)
}

pub fn run(
    model: Option<PathBuf>,
    threads: u32,
    runs: usize,
    max_tokens: u32,
    json: bool,
) -> anyhow::Result<()> {
    let model = crate::model_path::resolve(model.as_deref())?;
    eprintln!("constrained generation on {} ({threads} threads, {runs} runs each way)...", model.display());
    let w = constrained::run(&model, threads, runs.max(1), max_tokens)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&w)?);
        return Ok(());
    }
    println!(
        "grammar-constrained generation, {} (decode tokens/s, median of {runs} runs each way, alternating)",
        model.display()
    );
    println!(
        "  {:<30} {:>16} {:>16} {:>7} {:>14} {:>6} {:>10}",
        "workload", "every candidate", "chosen first", "ratio", "tokens (each)", "JSON", "same text"
    );
    for x in &w {
        let (e, l) = (median(&x.exact_tok_s), median(&x.lazy_tok_s));
        let tokens = |v: &[usize]| v.iter().map(|&n| n as f64).collect::<Vec<_>>();
        println!(
            "  {:<30} {:>16.1} {:>16.1} {:>6.2}x {:>6.0} / {:<6.0} {:>6} {:>10}",
            x.name,
            e,
            l,
            l / e,
            median(&tokens(&x.exact_tokens)),
            median(&tokens(&x.lazy_tokens)),
            if x.all_valid { "valid" } else { "NOT" },
            match x.same_text {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "(sampled)",
            }
        );
    }
    println!("  (baseline: the grammar applied to every candidate before each draw, as llama.cpp's bare chain does, with SAGE's matcher (decision 0026; grammar_bench compares the matchers); SAGE: the token the rest of the chain chooses is checked first, then the best candidates, the whole vocabulary only when too few of them pass)");
    Ok(())
}
