//! The least cost any policy can pay on a routing run within the limits every router lives
//! under: the models it uses must be resident, resident models fit a memory budget, a load costs
//! what it costs, and a policy that loads more than [`crate::judgment::ROUTING_SWAPS_GOAL`] times
//! per request fails the benchmark as thrashing.
//!
//! [`crate::judgment::least_cost_for_quality`] is the bound with loads free and memory unlimited:
//! on zoos where the good model for alerts fills the memory budget alone it calls the literal cost
//! goal reachable by alternating it with a cheap model at every request, which no machine could
//! do (a load takes seconds; the simulation serves a request a second). This bound keeps the
//! limits and stays a bound: for any prices `λ` on quality and `μ` on a load, the least of
//! `cost + loads·(load cost + μ) − λ·quality` over every policy, plus `λ·target − μ·most loads`,
//! is no more than any policy meeting the target within the limits pays (weak duality), and the
//! least over every policy is exact, by dynamic programming over the sets of resident models that
//! fit. The prices are searched (the dual is concave); whatever is found is a bound.

/// A model as the bound sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundModel {
    /// Cost of one answer.
    pub cost: f64,
    /// Cost of one load.
    pub load_cost: f64,
    /// Memory, MiB.
    pub mib: u64,
}

/// The dual search's steps per price (golden section).
const STEPS: usize = 16;

/// Rounds of the coordinate ascent over several groups' quality prices.
const ROUNDS: usize = 2;

/// What a policy must reach: requests fall in groups (`group(request)`, below `targets.len()`),
/// and each group's mean quality must reach its target (one group: the mean over the run).
pub struct Targets<'a> {
    /// The group of each request.
    pub group: &'a dyn Fn(usize) -> usize,
    /// Mean quality each group must reach.
    pub targets: &'a [f64],
}

/// The least mean cost per request (answers and loads) at which a policy that knows every
/// quality in advance (`quality(model, request)`), keeps what it uses resident within
/// `budget_mib`, loads at most `max_loads` times per request on average and starts with nothing
/// resident, reaches every group's target over `requests` requests. A lower bound (see the
/// module): no router meeting the targets within those limits pays less. `f64::INFINITY` when no
/// model fits the budget or a target is out of reach of every choice.
pub fn least_cost_within_memory(
    requests: usize,
    models: &[BoundModel],
    budget_mib: u64,
    quality: &dyn Fn(usize, usize) -> f64,
    targets: &Targets,
    max_loads: f64,
) -> f64 {
    let Some(plan) = Plan::new(models, budget_mib) else { return f64::INFINITY };
    // No target: one group that any choice reaches (the bound is the cheapest policy's cost).
    let targets = Targets {
        group: targets.group,
        targets: if targets.targets.is_empty() { &[0.0] } else { targets.targets },
    };
    let groups = targets.targets.len();
    let group: Vec<usize> = (0..requests).map(|t| (targets.group)(t).min(groups.saturating_sub(1))).collect();
    let qualities: Vec<Vec<f64>> =
        (0..requests).map(|t| (0..models.len()).map(|i| quality(i, t)).collect()).collect();
    let n = requests.max(1) as f64;
    // Each group's share of the requests and the best mean quality any choice gives it.
    let mut share = vec![0.0; groups];
    let mut best = vec![0.0; groups];
    for (t, q) in qualities.iter().enumerate() {
        share[group[t]] += 1.0 / n;
        best[group[t]] += q.iter().copied().fold(0.0, f64::max) / n;
    }
    if (0..groups).any(|g| best[g] < targets.targets[g] * share[g] - 1e-9) {
        return f64::INFINITY;
    }
    // The dual at `prices` (one on each group's quality, then one on a load), and the mean loads
    // of the policy that attains its inner minimum.
    let dual = |prices: &[f64]| {
        let (value, loads) = plan.least(models, &qualities, &group, &prices[..groups], prices[groups]);
        let value = value + (0..groups).map(|g| prices[g] * targets.targets[g] * share[g]).sum::<f64>()
            - prices[groups] * max_loads;
        (value, loads)
    };
    // The dual is concave. For a load price, the quality prices by coordinate ascent, each by
    // golden section over its logarithm (unimodal there too; one group needs one search).
    let best_for_load_price = |mu: f64| {
        let mut prices = vec![0.0; groups + 1];
        prices[groups] = mu;
        let mut best = dual(&prices);
        let rounds = if groups == 1 { 1 } else { ROUNDS };
        for _ in 0..rounds {
            for k in 0..groups {
                let (x, (v, loads)) = golden(-6.0, 12.0, |x| {
                    let mut p = prices.clone();
                    p[k] = x.exp();
                    dual(&p)
                });
                if v > best.0 {
                    best = (v, loads);
                    prices[k] = x.exp();
                }
            }
        }
        best
    };
    // Where the policy found with loads unpriced keeps within the limit, pricing loads cannot
    // raise the dual (its slope in the load price is that policy's loads minus the limit);
    // otherwise the load price by golden section too. Any value found is a bound.
    let free = best_for_load_price(0.0);
    if free.1 <= max_loads {
        return free.0;
    }
    golden(0.0, 200.0, best_for_load_price).1 .0.max(free.0)
}

/// The maximum of a unimodal `f` (its value first) on `[lo, hi]` by golden section:
/// `(argument, value)`.
fn golden<T: Copy>(lo: f64, hi: f64, f: impl Fn(f64) -> (f64, T)) -> (f64, (f64, T)) {
    let r = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (lo, hi);
    let (mut x1, mut x2) = (b - r * (b - a), a + r * (b - a));
    let (mut f1, mut f2) = (f(x1), f(x2));
    let mut best = if f1.0 >= f2.0 { (x1, f1) } else { (x2, f2) };
    for _ in 0..STEPS {
        if f1.0 >= f2.0 {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - r * (b - a);
            f1 = f(x1);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + r * (b - a);
            f2 = f(x2);
        }
        for (x, v) in [(x1, f1), (x2, f2)] {
            if v.0 > best.1 .0 {
                best = (x, v);
            }
        }
    }
    best
}

/// The resident sets that fit, and for each set and model the sets a policy may move to when it
/// answers with that model: the same set when it is resident, otherwise every largest set that
/// fits, holds it and keeps only models already resident (keeping more resident never costs,
/// so smaller sets are never better).
struct Plan {
    /// Bit masks of the sets that fit (the empty set first).
    sets: Vec<u32>,
    /// `moves[set index][model]`: indices of the sets reachable, and whether it is a load.
    moves: Vec<Vec<(Vec<usize>, bool)>>,
}

impl Plan {
    fn new(models: &[BoundModel], budget_mib: u64) -> Option<Self> {
        let n = models.len();
        if n == 0 || n > 16 || models.iter().all(|m| m.mib > budget_mib) {
            return None;
        }
        let mib = |set: u32| (0..n).filter(|i| set & (1 << i) != 0).map(|i| models[i].mib).sum::<u64>();
        let sets: Vec<u32> = (0..1u32 << n).filter(|&s| mib(s) <= budget_mib).collect();
        let index = |s: u32| sets.iter().position(|&x| x == s);
        let moves = sets
            .iter()
            .map(|&s| {
                (0..n)
                    .map(|i| {
                        let bit = 1u32 << i;
                        if s & bit != 0 {
                            return (index(s).into_iter().collect(), false);
                        }
                        let pool = s | bit;
                        let fitting: Vec<u32> =
                            sets.iter().copied().filter(|&x| x & bit != 0 && x & !pool == 0).collect();
                        let largest = fitting
                            .iter()
                            .copied()
                            .filter(|&x| !fitting.iter().any(|&y| y != x && y & x == x))
                            .filter_map(index)
                            .collect();
                        (largest, true)
                    })
                    .collect()
            })
            .collect();
        Some(Self { sets, moves })
    }

    /// The least mean of `cost + loads·(load cost + mu) − lambda·quality` over every policy
    /// (`lambda` of the request's group), and its mean number of loads.
    fn least(
        &self,
        models: &[BoundModel],
        qualities: &[Vec<f64>],
        group: &[usize],
        lambda: &[f64],
        mu: f64,
    ) -> (f64, f64) {
        let k = self.sets.len();
        let mut value = vec![(f64::INFINITY, 0.0f64); k];
        value[0] = (0.0, 0.0);
        let mut next = value.clone();
        for (q, &g) in qualities.iter().zip(group) {
            let lambda = lambda[g];
            next.iter_mut().for_each(|v| *v = (f64::INFINITY, 0.0));
            for (s, &(v, loads)) in value.iter().enumerate() {
                if !v.is_finite() {
                    continue;
                }
                for (i, m) in models.iter().enumerate() {
                    let (to, load) = &self.moves[s][i];
                    let step = m.cost - lambda * q[i] + if *load { m.load_cost + mu } else { 0.0 };
                    let candidate = (v + step, loads + f64::from(u8::from(*load)));
                    for &t in to {
                        if candidate.0 < next[t].0 {
                            next[t] = candidate;
                        }
                    }
                }
            }
            std::mem::swap(&mut value, &mut next);
        }
        let n = qualities.len().max(1) as f64;
        let (v, loads) =
            value.iter().copied().fold((f64::INFINITY, 0.0), |a, b| if b.0 < a.0 { b } else { a });
        (v / n, loads / n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_group(_: usize) -> usize {
        0
    }

    /// One target for the mean over the run.
    fn mean(target: &[f64]) -> Targets<'_> {
        Targets { group: &one_group, targets: target }
    }

    fn model(cost: f64, mib: u64) -> BoundModel {
        BoundModel { cost, load_cost: 0.4 * cost, mib }
    }

    #[test]
    fn with_room_for_every_model_the_bound_is_the_free_one_plus_the_first_loads() {
        // Two models that fit together: cheap (cost 1) good on even requests only, dear (cost
        // 10) good everywhere; the target leaves an eighth of the odd requests to the cheap one.
        let models = [model(1.0, 100), model(10.0, 100)];
        let quality = |i: usize, t: usize| if i == 1 || t.is_multiple_of(2) { 0.9 } else { 0.1 };
        let n = 1000;
        let free = crate::judgment::least_cost_for_quality(n, 2, &|i, _| models[i].cost, &quality, 0.85);
        let bound = least_cost_within_memory(n, &models, 1000, &quality, &mean(&[0.85]), 0.2);
        // Each model is loaded once: 0.4 + 4 over 1000 requests.
        assert!((bound - (free + 4.4 / n as f64)).abs() < 0.02, "{bound} {free}");
    }

    #[test]
    fn a_budget_that_holds_one_model_makes_alternating_pay_for_its_loads() {
        // The same zoo, but only one model fits: alternating loads at every request (far above
        // the thrashing limit), so meeting the target means the dear model mostly.
        let models = [model(1.0, 100), model(10.0, 100)];
        let quality = |i: usize, t: usize| if i == 1 || t.is_multiple_of(2) { 0.9 } else { 0.1 };
        let n = 1000;
        let free = crate::judgment::least_cost_for_quality(n, 2, &|i, _| models[i].cost, &quality, 0.85);
        let bound = least_cost_within_memory(n, &models, 150, &quality, &mean(&[0.85]), 0.2);
        assert!(free < 5.0, "{free}");
        // At best a fifth of the requests alternate (7.7 a request with the loads), an eighth
        // are cheap, the rest dear: 8.4.
        assert!(bound > 8.2 && bound <= 10.0 + 1e-9, "{bound}");
        // A lower target leaves room for the cheap model, in long runs and few loads.
        let lower = least_cost_within_memory(n, &models, 150, &quality, &mean(&[0.5]), 0.2);
        assert!(lower < 6.0, "{lower}");
    }

    #[test]
    fn a_target_per_group_costs_more_than_the_same_target_on_the_mean() {
        // Cheap is as good as dear on even requests and far worse on odd ones; both fit.
        let models = [model(1.0, 100), model(10.0, 100)];
        let quality = |i: usize, t: usize| if i == 1 || t.is_multiple_of(2) { 0.9 } else { 0.5 };
        let parity = |t: usize| t % 2;
        let n = 1000;
        // On the mean, half the odd requests go to dear: 3.25; each group at 0.8, three quarters
        // of them: 4.375 (plus the two loads).
        let mean_bound = least_cost_within_memory(n, &models, 1000, &quality, &mean(&[0.8]), 0.2);
        let groups = Targets { group: &parity, targets: &[0.8, 0.8] };
        let group_bound = least_cost_within_memory(n, &models, 1000, &quality, &groups, 0.2);
        assert!((mean_bound - 3.25).abs() < 0.05, "{mean_bound}");
        assert!((group_bound - 4.375).abs() < 0.05, "{group_bound}");
    }

    #[test]
    fn the_bound_is_never_above_a_policy_that_meets_the_target_within_the_limits() {
        // Three models, one fits at a time; the policy "dear model throughout" meets any target
        // up to its quality with one load; the bound is at most its cost.
        let models = [model(1.0, 100), model(4.0, 100), model(9.0, 100)];
        let quality = |i: usize, t: usize| [0.5, 0.7, 0.9][i] + 0.05 * ((t % 3) as f64 - 1.0);
        let n = 600;
        let dear = 9.0 + 3.6 / n as f64;
        for target in [0.5, 0.7, 0.85, 0.9] {
            let bound = least_cost_within_memory(n, &models, 100, &quality, &mean(&[target]), 0.2);
            assert!(bound <= dear + 1e-6, "{target}: {bound}");
        }
        // No target: the cheapest policy (the cheap model throughout, one load).
        let none = least_cost_within_memory(n, &models, 100, &quality, &mean(&[]), 0.2);
        assert!((none - (1.0 + 0.4 / n as f64)).abs() < 1e-6, "{none}");
        // Out of reach, and no model fits: infinite.
        assert!(least_cost_within_memory(n, &models, 100, &quality, &mean(&[0.99]), 0.2).is_infinite());
        assert!(least_cost_within_memory(n, &models, 50, &quality, &mean(&[0.5]), 0.2).is_infinite());
    }
}
