//! Noise estimates pooled across the dimensions of a reading, and the Student's t quantile the
//! deviation thresholds use.
//!
//! A source's first readings say little about each dimension's noise on its own: four readings
//! give a variance with three degrees of freedom, and the threshold that noise alone crosses
//! once in a thousand readings of 16 dimensions is then 33σ away (5.6σ after 15 readings), so
//! a 6σ jump in a source's first 15 readings was never news. But the dimensions of one channel
//! usually share their noise (16 joint angles from one encoder type, 32 beams of one scan).
//! Where they do, together they know it well; where they do not (a torque sensor whose joints
//! differ tenfold), each must speak for itself.
//!
//! The rule is the empirical Bayes moderation of variances of Smyth (2004, limma): the
//! dimensions' variances `s²_d` (with `ν_d` degrees of freedom each) are taken as drawn around a
//! common `s0²` with a spread worth `d0` degrees of freedom, both estimated from the spread of
//! `ln s²_d` beyond what sampling alone explains; each dimension's variance is then
//! `(d0 s0² + ν_d s²_d) / (d0 + ν_d)`, with `d0 + ν_d` degrees of freedom. Dimensions alike give
//! a large `d0` (the pool speaks); dimensions of different noise give `d0` near 0 (each its own).
//! With a few readings each, that spread is itself too noisy to tell alike from apart, so
//! variances that Bartlett's test finds consistent with one noise are one (`d0` as large as the
//! other dimensions' readings allow).
//!
//! One dimension apart from alike others (a joint three times noisier than its fifteen
//! neighbours) barely moves the spread, and pooled it would take the others' noise as its own
//! and cry wolf at every third reading. So each dimension is first tested against the median
//! variance (an F test at [`GATE`] either side): one set apart keeps its own noise, and the
//! pool is estimated without it; where more than one in [`MOST_APART`] are set apart, the
//! dimensions share no noise and only the moderation above applies ([`pool`]). A pool cannot
//! tell a dimension apart from four readings as it can from twenty: in the hardest case (one
//! dimension three times noisier than fifteen others) noise alone is news about 0.2 times in a
//! channel's warm-up, against 0.08 for dimensions alike (`levels` tests).

/// Fewest dimensions whose variances say whether they share their noise.
pub const MIN_DIMS: usize = 4;
/// More than one dimension in this many set apart from the pool: the dimensions do not share
/// their noise.
pub const MOST_APART: usize = 4;
/// Level of the F test, either side, under which a dimension's variance is no longer the
/// pool's.
pub const GATE: f64 = 0.01;

/// One dimension's noise estimate after pooling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pooled {
    /// Its variance.
    pub var: f64,
    /// Its degrees of freedom.
    pub dof: f64,
    /// Whether the pool moderated it.
    pub pooled: bool,
}

/// Each dimension's `(variance, degrees of freedom)` after pooling: moderated towards the pool
/// of the others where its own variance is consistent with theirs, its own elsewhere and where
/// there is no pool (fewer than [`MIN_DIMS`] dimensions that vary, or too few left once those
/// apart are set aside); where many are apart, each moderated by the spread of them all.
pub fn pool(estimates: &[(f64, f64)]) -> Vec<Pooled> {
    let own = |&(var, dof): &(f64, f64)| Pooled { var, dof, pooled: false };
    let varies = |v: f64, n: f64| v > 0.0 && v.is_finite() && n >= 1.0 && n.is_finite();
    // Each against the median variance (which one dimension apart does not move), as an
    // estimate of the common variance with the degrees of freedom of them all.
    let mut varying: Vec<(f64, f64)> = estimates.iter().copied().filter(|&(v, n)| varies(v, n)).collect();
    if varying.len() < MIN_DIMS {
        return estimates.iter().map(own).collect();
    }
    let dofs: f64 = varying.iter().map(|&(_, n)| n).sum();
    let middle = varying.len() / 2;
    varying.select_nth_unstable_by(middle, |a, b| a.0.total_cmp(&b.0));
    let (median_var, median_dof) = varying[middle];
    // The median of χ²_ν / ν (Wilson and Hilferty).
    let reference = median_var / (1.0 - 2.0 / (9.0 * median_dof)).powi(3);
    let member: Vec<bool> =
        estimates.iter().map(|&(v, n)| varies(v, n) && consistent(v, n, reference, dofs)).collect();
    // Many set apart: the dimensions do not share one noise, and those near the median are no
    // pool either (chosen for being alike, they would pass any test of it).
    let apart = varying.len() - member.iter().filter(|&&m| m).count();
    if apart * MOST_APART > varying.len() {
        let Some(prior) = prior(estimates.iter().copied()) else {
            return estimates.iter().map(own).collect();
        };
        return estimates
            .iter()
            .map(|&(v, n)| {
                let (var, dof) = prior.moderate(v, n);
                Pooled { var, dof, pooled: varies(v, n) }
            })
            .collect();
    }
    let members = estimates.iter().zip(&member).filter(|(_, &m)| m).map(|(e, _)| *e);
    let Some(prior) = prior(members) else {
        return estimates.iter().map(own).collect();
    };
    estimates
        .iter()
        .zip(member)
        .map(|(e, m)| {
            if m {
                let (var, dof) = prior.moderate(e.0, e.1);
                Pooled { var, dof, pooled: true }
            } else {
                own(e)
            }
        })
        .collect()
}

/// What the dimensions of a reading say about their noise together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    /// The common variance the dimensions' variances scatter around.
    pub var: f64,
    /// What it is worth, in degrees of freedom (how alike the dimensions are).
    pub dof: f64,
}

impl Prior {
    /// A dimension's variance `var` with `dof` degrees of freedom, moderated towards the pool:
    /// `(variance, degrees of freedom)`. A dimension that never varied keeps its own.
    pub fn moderate(&self, var: f64, dof: f64) -> (f64, f64) {
        if var <= 0.0 || !var.is_finite() {
            return (var, dof);
        }
        ((self.dof * self.var + dof * var) / (self.dof + dof), dof + self.dof)
    }
}

/// The common variance and its worth from the dimensions' `(variance, degrees of freedom)`
/// (Smyth's moments of `ln s²`). None when fewer than [`MIN_DIMS`] dimensions vary. The worth
/// is at most the degrees of freedom of the other dimensions together (the pool knows no more
/// than their readings), so it is finite even for dimensions exactly alike.
pub fn prior(estimates: impl IntoIterator<Item = (f64, f64)>) -> Option<Prior> {
    let usable: Vec<(f64, f64)> = estimates
        .into_iter()
        .filter(|&(v, n)| v > 0.0 && v.is_finite() && n >= 1.0 && n.is_finite())
        .collect();
    if usable.len() < MIN_DIMS {
        return None;
    }
    let count = usable.len() as f64;
    // ln s² - E[ln s²] + ln σ²: centred on ln s0² whatever each dimension's degrees of freedom.
    let e: Vec<f64> = usable.iter().map(|&(v, n)| v.ln() - digamma(n / 2.0) + (n / 2.0).ln()).collect();
    let mean = e.iter().sum::<f64>() / count;
    let spread = e.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (count - 1.0);
    let sampling = usable.iter().map(|&(_, n)| trigamma(n / 2.0)).sum::<f64>() / count;
    let dof_sum: f64 = usable.iter().map(|&(_, n)| n).sum();
    let most = dof_sum * (count - 1.0) / count;
    let excess = spread - sampling;
    // With a few readings each, the spread of `ln s²` is itself a noisy estimate, and noise alone
    // makes it exceed what sampling explains half the time: where the variances are consistent
    // with one noise (Bartlett's test), they are one.
    let (var, dof) = if excess <= 0.0 || alike(&usable) {
        // One noise: its estimate is the pooled variance.
        (usable.iter().map(|&(v, n)| v * n).sum::<f64>() / dof_sum, most)
    } else {
        let dof = (2.0 * trigamma_inverse(excess)).min(most);
        ((mean + digamma(dof / 2.0) - (dof / 2.0).ln()).exp(), dof)
    };
    (var > 0.0 && var.is_finite()).then_some(Prior { var, dof })
}

/// Whether a variance `var` with `dof` degrees of freedom is consistent with `pool_var` with
/// `pool_dof`: the F test of their ratio (in Paulson's normal approximation) rejects it at
/// [`GATE`] on neither side.
fn consistent(var: f64, dof: f64, pool_var: f64, pool_dof: f64) -> bool {
    if pool_var <= 0.0 || !pool_var.is_finite() {
        return false;
    }
    let (h1, h2) = (2.0 / (9.0 * dof), 2.0 / (9.0 * pool_dof.max(1.0)));
    let u = (var / pool_var).cbrt();
    let z = ((1.0 - h2) * u - (1.0 - h1)) / (h2 * u * u + h1).sqrt();
    z.abs() <= normal_upper_quantile(GATE)
}

/// Level of Bartlett's test under which variances count as one noise's.
const ALIKE_LEVEL: f64 = 0.01;

/// Bartlett's test of equal variances does not reject them at [`ALIKE_LEVEL`] (its statistic
/// against the chi-square quantile of Wilson and Hilferty).
fn alike(estimates: &[(f64, f64)]) -> bool {
    let groups = estimates.len() as f64;
    let total: f64 = estimates.iter().map(|&(_, n)| n).sum();
    let pooled = estimates.iter().map(|&(v, n)| v * n).sum::<f64>() / total;
    let m = total * pooled.ln() - estimates.iter().map(|&(v, n)| n * v.ln()).sum::<f64>();
    let c =
        1.0 + (estimates.iter().map(|&(_, n)| 1.0 / n).sum::<f64>() - 1.0 / total) / (3.0 * (groups - 1.0));
    let k = groups - 1.0;
    let h = 2.0 / (9.0 * k);
    let quantile = k * (1.0 - h + normal_upper_quantile(ALIKE_LEVEL) * h.sqrt()).powi(3);
    m / c <= quantile
}

/// The digamma function ψ(x) for x > 0 (recurrence to x ≥ 6, then the asymptotic series;
/// error below 1e-12).
pub fn digamma(mut x: f64) -> f64 {
    let mut shift = 0.0;
    while x < 6.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    let series = f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f / 132.0))));
    shift + x.ln() - 0.5 / x - series
}

/// The trigamma function ψ'(x) for x > 0 (recurrence to x ≥ 6, then the asymptotic series).
pub fn trigamma(mut x: f64) -> f64 {
    let mut shift = 0.0;
    while x < 6.0 {
        shift += 1.0 / (x * x);
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    let series = f / x * (1.0 / 6.0 - f * (1.0 / 30.0 - f * (1.0 / 42.0 - f / 30.0)));
    shift + 1.0 / x + f / 2.0 + series
}

/// The x > 0 with ψ'(x) = y, for y > 0 (ψ' falls from infinity to 0: bisection on a log scale).
fn trigamma_inverse(y: f64) -> f64 {
    let (mut low, mut high) = (1e-8_f64, 1e12_f64);
    for _ in 0..200 {
        let mid = (low * high).sqrt();
        if trigamma(mid) > y {
            low = mid;
        } else {
            high = mid;
        }
        if high / low < 1.0 + 1e-10 {
            break;
        }
    }
    (low * high).sqrt()
}

/// `z` with `P(Z > z) = p` for a standard normal (Abramowitz and Stegun 26.2.23, error below
/// 4.5e-4), for `p` in `(0, 0.5]`.
pub fn normal_upper_quantile(p: f64) -> f64 {
    let p = p.clamp(1e-300, 0.5);
    let t = (-2.0 * p.ln()).sqrt();
    t - (2.515517 + 0.802853 * t + 0.010328 * t * t)
        / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
}

/// `t` with `P(|T| > t) = p` for Student's t with `dof` degrees of freedom (Hill 1970, ACM
/// algorithm 396; within 0.5% of the exact quantile for the tails used here, `dof` from 1,
/// fractional too). `p` in `(0, 1)`.
pub fn t_two_sided_quantile(p: f64, dof: f64) -> f64 {
    let p = p.clamp(1e-300, 1.0 - 1e-12);
    let n = dof.max(1.0);
    if n > 1e7 {
        return normal_upper_quantile(p / 2.0);
    }
    if n < 1.0 + 1e-9 {
        let half = p * std::f64::consts::FRAC_PI_2;
        return half.cos() / half.sin();
    }
    if (n - 2.0).abs() < 1e-9 {
        return (2.0 / (p * (2.0 - p)) - 2.0).sqrt();
    }
    let a = 1.0 / (n - 0.5);
    let b = 48.0 / (a * a);
    let mut c = ((20700.0 * a / b - 98.0) * a - 16.0) * a + 96.36;
    let d = ((94.5 / (b + c) - 3.0) / b + 1.0) * (a * std::f64::consts::FRAC_PI_2).sqrt() * n;
    let mut y = (d * p).powf(2.0 / n);
    if y > 0.05 + a {
        let x = normal_upper_quantile(p / 2.0);
        y = x * x;
        if n < 5.0 {
            c += 0.3 * (n - 4.5) * (x + 0.6);
        }
        c += (((0.05 * d * x - 5.0) * x - 7.0) * x - 2.0) * x + b;
        y = (((((0.4 * y + 6.3) * y + 36.0) * y + 94.5) / c - y - 3.0) / b + 1.0) * x;
        y = a * y * y;
        y = if y > 0.002 { y.exp() - 1.0 } else { 0.5 * y * y + y };
    } else {
        y = ((1.0 / (((n + 6.0) / (n * y) - 0.089 * d - 0.822) * (n + 2.0) * 3.0) + 0.5 / (n + 4.0)) * y
            - 1.0)
            * (n + 1.0)
            / (n + 2.0)
            + 1.0 / y;
    }
    (n * y).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn special_functions_match_reference_values() {
        // scipy.special.digamma / polygamma(1, x).
        for (x, psi, psi1) in [
            (0.5, -1.9635100260214235, 4.934802200544679),
            (1.5, 0.03648997397857652, 0.934802200544679),
            (7.5, 1.9467574842460866, 0.1426159),
        ] {
            assert!((digamma(x) - psi).abs() < 1e-10, "ψ({x}) = {}", digamma(x));
            assert!((trigamma(x) - psi1).abs() < 1e-6, "ψ'({x}) = {}", trigamma(x));
            assert!((trigamma_inverse(trigamma(x)) - x).abs() < 1e-6 * x);
        }
    }

    #[test]
    fn t_quantiles_match_reference_values() {
        // scipy.stats.t.isf(p / 2, dof).
        let table = [
            (3.0, 6.334e-5, 32.61682),
            (4.5, 6.334e-5, 14.3181),
            (6.0, 6.334e-5, 9.84423),
            (10.0, 6.25e-5, 6.57782),
            (14.0, 6.334e-5, 5.61861),
            (30.0, 6.334e-5, 4.64514),
            (100.0, 6.25e-5, 4.18018),
            (1000.0, 6.334e-5, 4.01707),
            (2.0, 1e-3, 31.59905),
            (6.0, 1e-6, 20.04786),
        ];
        for (dof, p, t) in table {
            let got = t_two_sided_quantile(p, dof);
            assert!((got / t - 1.0).abs() < 5e-3, "t({p}, {dof}) = {got}, not {t}");
        }
    }

    /// `dims` sample variances with `dof` degrees of freedom of noise whose variance is
    /// `sigma2(d)`.
    fn sample_variances(
        rng: &mut Rng,
        dims: usize,
        dof: usize,
        sigma2: impl Fn(usize) -> f64,
    ) -> Vec<(f64, f64)> {
        (0..dims)
            .map(|d| {
                let ss: f64 = (0..dof).map(|_| rng.normal().powi(2)).sum();
                (sigma2(d) * ss / dof as f64, dof as f64)
            })
            .collect()
    }

    #[test]
    fn dimensions_alike_pool_and_dimensions_apart_do_not() {
        let mut alike = 0.0;
        let mut apart = 0.0;
        for seed in 0..50 {
            let mut rng = Rng::new(seed);
            let p = prior(sample_variances(&mut rng, 16, 4, |_| 2.5)).unwrap();
            assert!((p.var / 2.5 - 1.0).abs() < 0.5, "seed {seed}: {p:?}");
            alike += p.dof / 50.0;
            // Noise tenfold apart from one dimension to the next (log-uniform).
            let q = prior(sample_variances(&mut rng, 16, 4, |d| 10f64.powf(2.0 * (d as f64 / 15.0 - 0.5))))
                .unwrap();
            apart += q.dof / 50.0;
        }
        assert!(alike > 20.0, "alike: {alike}");
        assert!(apart < 3.0, "apart: {apart}");
    }

    #[test]
    fn too_few_or_still_dimensions_give_no_pool_and_a_still_one_keeps_its_own() {
        assert_eq!(prior([(1.0, 3.0), (1.2, 3.0), (0.9, 3.0)]), None);
        assert_eq!(prior([(1.0, 3.0), (0.0, 3.0), (0.9, 3.0), (f64::NAN, 3.0), (1.1, 3.0)]), None);
        let p = prior([(1.0, 3.0), (1.2, 3.0), (0.9, 3.0), (1.1, 3.0)]).unwrap();
        assert!(p.dof <= 9.0 + 1e-9 && p.dof > 0.0, "{p:?}");
        assert_eq!(p.moderate(0.0, 3.0), (0.0, 3.0));
        let (v, n) = p.moderate(4.0, 3.0);
        assert!(v < 4.0 && v > p.var && n > 3.0);
    }

    #[test]
    fn a_dimension_apart_from_alike_others_keeps_its_own_noise() {
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let mut estimates = sample_variances(&mut rng, 16, 20, |_| 1.0);
            estimates[5].0 *= 9.0;
            let pooled = pool(&estimates);
            assert!(!pooled[5].pooled && pooled[5].var == estimates[5].0, "seed {seed}: {:?}", pooled[5]);
            let members = pooled.iter().filter(|p| p.pooled).count();
            assert!(members >= 13, "seed {seed}: {members}");
            for p in pooled.iter().filter(|p| p.pooled) {
                assert!(p.dof > 100.0 && (0.6..1.6).contains(&p.var), "seed {seed}: {p:?}");
            }
        }
    }
}
