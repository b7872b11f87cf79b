//! `sage bench tools`: the report of `sage_bench::tool_calls`.

use std::path::PathBuf;

use sage_bench::tool_calls::{self, Totals};

pub fn run(
    model: Option<PathBuf>,
    threads: u32,
    seeds: std::ops::Range<u64>,
    samples: usize,
    max_tokens: u32,
    json: bool,
    show: bool,
) -> anyhow::Result<()> {
    let model = crate::model_path::resolve(model.as_deref())?;
    eprintln!(
        "tool calls (tool_choice auto) on {}, cases {}..{}, {} answers each way...",
        model.display(),
        seeds.start,
        seeds.end,
        1 + samples
    );
    let r = tool_calls::run(&model, threads, seeds, samples, max_tokens, show)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let asking = r.asking.max(1) as f64;
    println!(
        "tool calls with tool_choice auto, {}, cases {}..={} ({} answers each way; {} ask for a tool)",
        model.display(),
        r.seeds.0,
        r.seeds.1,
        r.free.answers,
        r.asking
    );
    println!(
        "  {:<22} {:>10} {:>14} {:>16} {:>15} {:>14} {:>9}",
        "", "called", "valid calls", "of the tool asked", "begun, no call", "uncalled for", "tok/s"
    );
    let line = |name: &str, t: &Totals| {
        println!(
            "  {:<22} {:>9.1}% {:>13.1}% {:>15.1}% {:>15} {:>14} {:>9.1}",
            name,
            100.0 * t.called as f64 / asking,
            100.0 * t.valid as f64 / asking,
            100.0 * t.right_tool as f64 / asking,
            format!("{} ({} cut)", t.broken, t.cut),
            t.uncalled_for,
            super::pct(&t.tok_s, 50.0)
        );
    };
    line("free (baseline)", &r.free);
    line("lazy grammar (SAGE)", &r.held);
    println!(
        "  valid calls {:.2}x the baseline's; answers begun like a call and no valid call {} -> {}; decode rate {:.2}x; greedy prose answers unchanged: {} of {}",
        r.held.valid as f64 / (r.free.valid.max(1)) as f64,
        r.free.broken,
        r.held.broken,
        super::pct(&r.held.tok_s, 50.0) / super::pct(&r.free.tok_s, 50.0),
        r.prose_same.0,
        r.prose_same.1
    );
    Ok(())
}
