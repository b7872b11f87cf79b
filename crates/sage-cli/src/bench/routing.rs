//! `sage bench routing`: the router on a simulated zoo against always-best, always-cheapest and
//! random, over several seeds.

use sage_bench::{judgment, report};

pub fn run(requests: usize, seed: u64, more_seeds: u64, json: bool) -> anyhow::Result<()> {
    let r = judgment::routing(requests, seed);
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    print!("{}", report::routing(&r, seed));
    let mut all = vec![report::routing_ratios(&r)];
    for s in seed + 1..=seed + more_seeds {
        let x = report::routing_ratios(&judgment::routing(requests, s));
        print!("{}", report::routing_seed(s, &x));
        all.push(x);
    }
    if all.len() > 1 {
        print!("{}", report::routing_seeds(&all));
    }
    Ok(())
}

/// Every family of simulated zoos on `seeds` seeds, the worst first.
pub fn families(seeds: u64, tuning: bool, json: bool) -> anyhow::Result<()> {
    let from = if tuning { 0 } else { sage_bench::routing_families::HELD_OUT_FROM };
    let seeds: Vec<u64> = (from..from + seeds.max(1)).collect();
    let all = sage_bench::routing_families::evaluate_all(&seeds);
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    print!("{}", report::routing_families(&all, tuning));
    Ok(())
}
