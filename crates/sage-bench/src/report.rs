//! Report writers: the text `sage bench` prints for each benchmark, every figure set against the
//! goal it is judged by (the goals live with their harnesses).

use std::fmt::Write as _;
use std::path::Path;

use crate::judgment::{
    AttentionReport, RoutingReport, PRECISION_GOAL, RECALL_GOAL, ROUTING_COST_GOAL, ROUTING_QUALITY_GOAL,
    ROUTING_SWAPS_GOAL, SKIP_GOAL,
};
use crate::kernel::{Row, GOAL_RATIO};
use crate::llm;

/// "met" or "NOT met".
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// A rate in ops/s, short.
pub fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// The attention benchmark on `source`; `model_line` says what the language model cost.
pub fn attention(r: &AttentionReport, source: &str, model_line: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "attention on {source} ({} observations, {} labelled salient)",
        r.observations, r.salient
    );
    let _ = writeln!(
        out,
        "  recall of salient events   {:.3}  ({} of {})   goal >= {RECALL_GOAL:.2}  {}",
        r.recall,
        r.salient_attended,
        r.salient,
        verdict(r.recall >= RECALL_GOAL)
    );
    if r.confirmed_late > 0 {
        let _ = writeln!(
            out,
            "    of which {} at their source's next reading, which confirmed a change their own reading began under the threshold",
            r.confirmed_late
        );
    }
    let _ = writeln!(
        out,
        "  compute skipped            {:.3}  ({} runs for {} observations; running on every one = 1.0 of the compute)   goal >= {SKIP_GOAL:.2}  {}",
        r.skipped,
        r.runs,
        r.observations,
        verdict(r.skipped >= SKIP_GOAL)
    );
    let _ = writeln!(
        out,
        "  precision of attention     {:.3}  ({} trivial observations attended anyway)   goal >= {PRECISION_GOAL:.2}  {}",
        r.precision,
        r.trivial_attended,
        verdict(r.precision >= PRECISION_GOAL)
    );
    if let Some(l) = model_line {
        let _ = writeln!(out, "{l}");
    }
    for (tick, src, why, what) in &r.missed {
        let _ = writeln!(out, "  missed: tick {tick} {src} ({why}): {what}");
    }
    out
}

/// The scenario families' figures, the worst family first, against the goals.
pub fn families(all: &[crate::families::FamilyFigures], tuning: bool) -> String {
    use crate::judgment::{FAMILY_PRECISION_GOAL, FAMILY_RECALL_GOAL, FAMILY_SKIP_GOAL};
    let mut out = String::new();
    let seeds = all.first().map(|f| f.seeds.clone()).unwrap_or_default();
    let _ = writeln!(
        out,
        "attention on generated scenario families, {} seeds ({}: {:?}), the worst family first",
        seeds.len(),
        if tuning { "tuning" } else { "held out" },
        seeds
    );
    let _ = writeln!(
        out,
        "  {:<12} {:>7} {:>7} {:>7} {:>9} {:>9}   goals: recall >= {FAMILY_RECALL_GOAL}, precision >= {FAMILY_PRECISION_GOAL}, skipped >= {FAMILY_SKIP_GOAL}",
        "family", "salient", "recall", "prec.", "skipped", "obs."
    );
    for f in all {
        let ok = f.recall >= FAMILY_RECALL_GOAL
            && f.precision >= FAMILY_PRECISION_GOAL
            && f.skipped >= FAMILY_SKIP_GOAL;
        let _ = writeln!(
            out,
            "  {:<12} {:>7} {:>7.3} {:>7.3} {:>9.3} {:>9}   {}",
            f.family,
            f.salient,
            f.recall,
            f.precision,
            f.skipped,
            f.observations,
            verdict(ok)
        );
    }
    for f in all.iter().filter(|f| !f.missed.is_empty()).take(3) {
        for (seed, tick, src, why, what) in f.missed.iter().take(4) {
            let _ =
                writeln!(out, "  missed in {} (seed {seed}): tick {tick} {src} ({why}): {what}", f.family);
        }
    }
    let late: u64 = all.iter().map(|f| f.confirmed_late).sum();
    let caught: u64 = all.iter().map(|f| f.salient_attended).sum();
    let _ = writeln!(
        out,
        "  {late} of the {caught} salient observations attended were caught at their source's next reading, which confirmed a change they began under the threshold"
    );
    out
}

/// SAGE's routing against always-best on one seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoutingRatios {
    /// Quality as a share of always-best's.
    pub quality: f64,
    /// Cost as a share of always-best's.
    pub cost: f64,
    /// Model swaps per selection.
    pub swaps: f64,
    /// Every model was tried at least once.
    pub explored: bool,
}

/// The ratios of one routing report.
pub fn routing_ratios(r: &RoutingReport) -> RoutingRatios {
    let best = r.baselines.iter().find(|b| b.policy == "always best");
    let (q, c) = best.map_or((1.0, 1.0), |b| (b.quality, b.cost));
    RoutingRatios {
        quality: r.sage.quality / q,
        cost: r.sage.cost / c,
        swaps: r.sage.swaps_per_selection,
        explored: r.all_explored,
    }
}

/// The routing table of one seed, and its line against the goals.
pub fn routing(r: &RoutingReport, seed: u64) -> String {
    let mut out = String::new();
    let best =
        r.baselines.iter().find(|b| b.policy == "always best").cloned().unwrap_or_else(|| r.sage.clone());
    let _ = writeln!(
        out,
        "routing on a simulated zoo ({} requests; tiny/small/medium/large of known quality and cost per class)",
        r.requests
    );
    let _ = writeln!(
        out,
        "  {:<16} {:>8} {:>9} {:>10} {:>8}  answers per model",
        "policy", "quality", "vs best", "cost/req", "swaps"
    );
    for p in std::iter::once(&r.sage).chain(&r.baselines) {
        let used: Vec<String> = p.used.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(
            out,
            "  {:<16} {:>8.3} {:>8.1}% {:>10.2} {:>8.3}  {}",
            p.policy,
            p.quality,
            100.0 * p.quality / best.quality,
            p.cost,
            p.swaps_per_selection,
            used.join(" · ")
        );
    }
    for (class, used) in &r.sage.by_class {
        let used: Vec<String> = used.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "  sage router, {class:<14} {}", used.join(" · "));
    }
    let x = routing_ratios(r);
    let _ = writeln!(
        out,
        "  seed {seed}: quality {:.1}% of always-best (goal >= {:.0}%) {} · cost {:.1}% of it (goal < {:.0}%) {} · swaps/selection {:.3} (goal <= {ROUTING_SWAPS_GOAL}) {} · every model explored: {}",
        100.0 * x.quality,
        100.0 * ROUTING_QUALITY_GOAL,
        verdict(x.quality >= ROUTING_QUALITY_GOAL),
        100.0 * x.cost,
        100.0 * ROUTING_COST_GOAL,
        verdict(x.cost < ROUTING_COST_GOAL),
        x.swaps,
        verdict(x.swaps <= ROUTING_SWAPS_GOAL),
        x.explored
    );
    out
}

/// One further seed's line.
pub fn routing_seed(seed: u64, x: &RoutingRatios) -> String {
    format!(
        "  seed {seed}: quality {:.1}% · cost {:.1}% · swaps/selection {:.3} · every model explored: {}\n",
        100.0 * x.quality,
        100.0 * x.cost,
        x.swaps,
        x.explored
    )
}

/// The mean and worst over several seeds.
pub fn routing_seeds(all: &[RoutingRatios]) -> String {
    let n = all.len().max(1) as f64;
    let worst_q = all.iter().map(|a| a.quality).fold(f64::INFINITY, f64::min);
    let worst_c = all.iter().map(|a| a.cost).fold(0.0, f64::max);
    let worst_s = all.iter().map(|a| a.swaps).fold(0.0, f64::max);
    format!(
        "  over {} seeds: quality mean {:.1}%, worst {:.1}% {} · cost mean {:.1}%, worst {:.1}% {} · swaps worst {:.3} {} · all explored in every seed: {}\n",
        all.len(),
        100.0 * all.iter().map(|a| a.quality).sum::<f64>() / n,
        100.0 * worst_q,
        verdict(worst_q >= ROUTING_QUALITY_GOAL),
        100.0 * all.iter().map(|a| a.cost).sum::<f64>() / n,
        100.0 * worst_c,
        verdict(worst_c < ROUTING_COST_GOAL),
        worst_s,
        verdict(worst_s <= ROUTING_SWAPS_GOAL),
        all.iter().all(|a| a.explored)
    )
}

/// The routing families: per family the worst run's ratios against always-best, the oracle's,
/// and how fast traffic left a degraded model.
pub fn routing_families(all: &[crate::routing_families::RoutingFamily], tuning: bool) -> String {
    let mut out = routing_families_header(all, tuning);
    for f in all {
        routing_family_row(&mut out, f);
    }
    routing_families_summary(&mut out, all);
    out
}

/// The header of [`routing_families`]: the seeds and the columns.
fn routing_families_header(all: &[crate::routing_families::RoutingFamily], tuning: bool) -> String {
    let mut out = String::new();
    let seeds: Vec<u64> = all.first().map(|f| f.runs.iter().map(|r| r.seed).collect()).unwrap_or_default();
    let _ = writeln!(
        out,
        "routing on families of simulated zoos, {} requests per run, seeds {:?} ({}), the worst family first",
        crate::routing_families::REQUESTS,
        seeds,
        if tuning { "tuning" } else { "held out" }
    );
    let _ = writeln!(
        out,
        "  {:<15} {:>9} {:>9} {:>7}   {:>16}   {:>16} {:>18} {:>14}   goals: quality >= {:.0}% of always-best's at < {:.0}% of its cost; as read by decision 0016 (runs met)",
        "family",
        "quality",
        "cost",
        "swaps",
        "oracle q / cost",
        "in budget q/cost",
        "least cost at 95%",
        "moved within",
        100.0 * ROUTING_QUALITY_GOAL,
        100.0 * ROUTING_COST_GOAL
    );
    out
}

/// One family's row of [`routing_families`]: its worst runs against each baseline and its
/// verdicts.
fn routing_family_row(out: &mut String, f: &crate::routing_families::RoutingFamily) {
    let worst = |k: fn(&crate::routing_families::FamilyRun) -> f64, max: bool| {
        f.runs.iter().map(k).fold(if max { 0.0 } else { f64::INFINITY }, |a, b| {
            if max {
                a.max(b)
            } else {
                a.min(b)
            }
        })
    };
    let oracle_q = worst(|r| r.policies[4].quality / r.policies[1].quality.max(1e-9), false);
    let oracle_c = worst(|r| r.policies[4].cost / r.policies[1].cost.max(1e-9), true);
    let budgeted_q = worst(|r| r.policies[5].quality / r.policies[1].quality.max(1e-9), false);
    let budgeted_c = worst(|r| r.policies[5].cost / r.policies[1].cost.max(1e-9), true);
    let least = worst(|r| r.lowest_cost_in_limits_ratio, false);
    let reachable = f.runs.iter().filter(|r| r.lowest_cost_in_limits_ratio < ROUTING_COST_GOAL).count();
    let least = format!("{:.1}% ({reachable} < {:.0}%)", 100.0 * least, 100.0 * ROUTING_COST_GOAL);
    let moved = match (f.in_use_runs, f.never_moved, f.slowest_move) {
        (0, _, _) => "-".to_string(),
        (n, 0, Some(m)) => format!("{m} ({n} in use)"),
        (n, k, _) => format!("never in {k} of {n}"),
    };
    let ok = f.worst_quality_ratio >= ROUTING_QUALITY_GOAL && f.worst_cost_ratio < ROUTING_COST_GOAL;
    let read = f
        .runs
        .iter()
        .filter(|r| {
            crate::judgment::routing_goal_met(
                r.quality_ratio,
                r.cost_ratio,
                r.policies[5].cost / r.policies[1].cost.max(1e-9),
            )
        })
        .count();
    let _ = writeln!(
        out,
        "  {:<15} {:>8.1}% {:>8.1}% {:>7.3}   {:>7.1}% / {:>5.1}%   {:>7.1}% / {:>5.1}% {:>18} {:>14}   {}; {} ({} of {})",
        f.family,
        100.0 * f.worst_quality_ratio,
        100.0 * f.worst_cost_ratio,
        f.worst_swaps,
        100.0 * oracle_q,
        100.0 * oracle_c,
        100.0 * budgeted_q,
        100.0 * budgeted_c,
        least,
        moved,
        verdict(ok),
        verdict(read == f.runs.len()),
        read,
        f.runs.len()
    );
}

/// The summary lines of [`routing_families`]: the literal goal over every run, within reach of
/// each bound, and what the columns mean.
fn routing_families_summary(out: &mut String, all: &[crate::routing_families::RoutingFamily]) {
    let runs: Vec<&crate::routing_families::FamilyRun> = all.iter().flat_map(|f| &f.runs).collect();
    let met = |r: &crate::routing_families::FamilyRun| {
        r.quality_ratio >= ROUTING_QUALITY_GOAL && r.cost_ratio < ROUTING_COST_GOAL
    };
    // (runs within reach, of those met) for a bound.
    let reach = |bound: fn(&crate::routing_families::FamilyRun) -> f64| {
        let within: Vec<_> = runs.iter().filter(|r| bound(r) < ROUTING_COST_GOAL).collect();
        (within.len(), within.iter().filter(|r| met(r)).count())
    };
    let (limits, limits_met) = reach(|r| r.lowest_cost_in_limits_ratio);
    let (per_class, per_class_met) = reach(|r| r.lowest_cost_per_class_ratio);
    let _ = writeln!(
        out,
        "  the literal goal: met in {} of {} runs; within reach of any policy that does not thrash in {limits} (met in {limits_met}); with every class at 95% of always-best's quality on that class, within reach in {per_class} (met in {per_class_met})",
        runs.iter().filter(|r| met(r)).count(),
        runs.len(),
    );
    let _ = writeln!(
        out,
        "  (quality, cost and swaps (loads per request): SAGE's router against always-best, the worst run of each family; oracle: the same ratios for a policy that knows every true quality (worst run of each ratio); in budget: that oracle held to the router's swap budget, the cost decision 0016 compares with; least cost at 95%: the lowest cost at which any choice of models, knowing every true quality, keeping what it uses within the memory budget, paying for its loads and loading at most 0.2 times a request, reaches 95% of always-best's quality (the best run; in brackets the runs where it is under 50%, the only runs where the literal cost goal can be met without thrashing); moved within: in the runs where the degraded model had at least 20% of the 50 requests before the drop or burst, the most requests after it until under 20% of 50 went to it)"
    );
}

/// What the generation benchmark measured, for its report.
pub struct LlmFigures<'a> {
    /// Model file.
    pub model: &'a Path,
    /// Threads.
    pub threads: u32,
    /// Tokens generated per run.
    pub gen: usize,
    /// Runs per engine.
    pub runs: u32,
    /// Whether SAGE maps the file (else it reads it, and raw llama.cpp ran both ways).
    pub mapped: bool,
    /// SAGE's load decision, in words.
    pub load_reason: &'a str,
    /// Bytes of weights.
    pub weight_bytes: u64,
    /// Measured memory bandwidth, bytes/s.
    pub bandwidth: f64,
    /// Medians: SAGE, raw llama.cpp mapping, raw llama.cpp with SAGE's load mode; HF if run.
    pub sage: &'a serde_json::Value,
    /// Raw llama.cpp, its default (mapping).
    pub raw_default: &'a serde_json::Value,
    /// Raw llama.cpp with SAGE's load mode.
    pub raw: &'a serde_json::Value,
    /// HF transformers, if measured.
    pub hf: Option<&'a serde_json::Value>,
}

fn f(v: &serde_json::Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(f64::NAN)
}

/// The generation report's ratios, as JSON.
pub fn llm_ratios(x: &LlmFigures<'_>) -> serde_json::Value {
    let decode = f(x.sage, "decode_tok_s");
    serde_json::json!({
        "decode_sage_over_raw": decode / f(x.raw, "decode_tok_s"),
        "prefill_sage_over_raw": f(x.sage, "prefill_tok_s") / f(x.raw, "prefill_tok_s"),
        "load_sage_over_raw": f(x.sage, "load_s") / f(x.raw, "load_s"),
        "peak_rss_sage_minus_raw_mib": f(x.sage, "peak_rss_mib") - f(x.raw, "peak_rss_mib"),
        "bandwidth_utilisation": decode * x.weight_bytes as f64 / x.bandwidth,
        "peak_rss_sage_over_raw_default": f(x.sage, "peak_rss_mib") / f(x.raw_default, "peak_rss_mib"),
        "load_sage_over_raw_default": f(x.sage, "load_s") / f(x.raw_default, "load_s"),
    })
}

/// The generation benchmark's table and its lines against the goals.
pub fn llm(x: &LlmFigures<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "generation: {} · {} threads · {} tokens · median of {} runs each",
        x.model.display(),
        x.threads,
        x.gen,
        x.runs
    );
    let _ = writeln!(
        out,
        "{:<22} {:>9} {:>13} {:>12} {:>10}",
        "engine", "load s", "prefill tok/s", "decode tok/s", "peak MiB"
    );
    let mut line = |name: &str, v: &serde_json::Value| {
        let _ = writeln!(
            out,
            "{:<22} {:>9.3} {:>13.1} {:>12.1} {:>10.0}",
            name,
            f(v, "load_s"),
            f(v, "prefill_tok_s"),
            f(v, "decode_tok_s"),
            f(v, "peak_rss_mib").max(f(v, "peak_rss") / 1048576.0)
        );
    };
    line("raw llama.cpp", x.raw_default);
    if !x.mapped {
        line("raw llama.cpp, read", x.raw);
    }
    line("sage", x.sage);
    if let Some(h) = x.hf {
        line("HF transformers fp32", h);
    }
    let _ = writeln!(out, "sage {}", x.load_reason);
    let r = llm_ratios(x);
    let _ = writeln!(
        out,
        "sage / raw{}: decode {:.3}x (goal >= {}) · prefill {:.3}x (>= {}) · load {:.3}x (<= {}) · peak memory {:+.0} MiB (<= +{})",
        if x.mapped { "" } else { " (both reading the file)" },
        f(&r, "decode_sage_over_raw"),
        llm::DECODE_GOAL,
        f(&r, "prefill_sage_over_raw"),
        llm::PREFILL_GOAL,
        f(&r, "load_sage_over_raw"),
        llm::LOAD_GOAL,
        f(&r, "peak_rss_sage_minus_raw_mib"),
        llm::EXTRA_MIB_GOAL
    );
    if !x.mapped {
        let _ = writeln!(
            out,
            "sage (reading) vs raw llama.cpp's default (mapping): peak memory {:.0} vs {:.0} MiB ({:.2}x) · load {:.3} vs {:.3} s ({:.2}x)",
            f(x.sage, "peak_rss_mib"),
            f(x.raw_default, "peak_rss_mib"),
            f(&r, "peak_rss_sage_over_raw_default"),
            f(x.sage, "load_s"),
            f(x.raw_default, "load_s"),
            f(&r, "load_sage_over_raw_default")
        );
    }
    let decode = f(x.sage, "decode_tok_s");
    if let Some(h) = x.hf {
        let _ = writeln!(
            out,
            "sage vs HF transformers: decode {:.1}x faster (goal >= {}) · peak memory {:.1}x smaller (>= {}) · load {:.0}x faster (>= {})",
            decode / f(h, "decode_tok_s"),
            llm::HF_DECODE_GOAL,
            f(h, "peak_rss") / 1048576.0 / f(x.sage, "peak_rss_mib"),
            llm::HF_MEMORY_GOAL,
            f(h, "load_s") / f(x.sage, "load_s"),
            llm::HF_LOAD_GOAL
        );
    }
    let _ = writeln!(
        out,
        "decode vs machine limit: {:.1} tok/s x {:.0} MB per token / {:.1} GB/s measured = {:.0}% (goal >= {:.0}%)",
        decode,
        x.weight_bytes as f64 / 1e6,
        x.bandwidth / 1e9,
        f(&r, "bandwidth_utilisation") * 100.0,
        llm::BANDWIDTH_GOAL * 100.0
    );
    out
}

/// The kernel benchmark's table; `measured` says whether the reference ran in this run.
pub fn kernel(rows: &[Row], reps: u32, ms: u64, measured: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "kernel benchmarks: median of {reps} runs of {ms} ms, one thread");
    let _ = writeln!(
        out,
        "reference: {}",
        if measured {
            "the Python reference measured in this run (single thread, CPython)"
        } else {
            "documented rates of the Python reference (from the survey of the Python SAGE, not measured here); --python-ref DIR measures it now"
        }
    );
    let _ = writeln!(
        out,
        "{:<84} {:>10} {:>10} {:>9}  goal {GOAL_RATIO:.0}x",
        "workload", "ops/s", "reference", "ratio"
    );
    for r in rows {
        let reference = r.reference_per_s.map(human).unwrap_or_else(|| "-".into());
        let (ratio, v) = match r.ratio {
            Some(x) => (format!("{x:.0}x"), verdict(x >= GOAL_RATIO)),
            None => ("-".into(), ""),
        };
        let _ = writeln!(
            out,
            "{:<84} {:>10} {:>10} {:>9}  {v}",
            r.workload,
            human(r.ours.median_per_s),
            reference,
            ratio
        );
    }
    out
}
