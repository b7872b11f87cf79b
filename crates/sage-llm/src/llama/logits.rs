//! What a step needs from a row of logits: the log of the softmax normaliser (for
//! log-probabilities) and the best candidates, in two passes that vectorise. A 262k-token
//! vocabulary (Gemma) made naive `f64::exp` sampling cost as much as the decode step itself
//! once eight sequences shared a batch.

/// `e^x` for `x <= 0` (below -87, and NaN, count as -87: about 1.6e-38), within about 2e-7
/// relative error. Branch-free (Cody-Waite range reduction and a degree-6 polynomial), so that
/// loops over it vectorise.
#[inline(always)]
fn exp_neg(x: f32) -> f32 {
    // Adding 1.5 * 2^23 rounds to an integer kept in the low mantissa bits: n = round(x / ln 2)
    // without a float-to-int conversion, so that every operation has a vector form.
    const SHIFT: f32 = 12_582_912.0;
    let x = if x > -87.0 { x } else { -87.0 };
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    // ln 2 split in two so that n * ln 2 is exact enough.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r / 720.0)))));
    // 2^n: n + 127 in the exponent field (t's low bits hold n + 2^22).
    let scale = f32::from_bits(t.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23);
    p * scale
}

/// `sum(exp(x - max))` over a row, in f64. Sixteen independent f32 accumulators (vector
/// registers), folded into an f64 every 1024 values so that rounding does not build up.
#[inline(always)]
fn sum_exp_body(row: &[f32], max: f32) -> f64 {
    let mut sum = 0f64;
    for block in row.chunks(1024) {
        let mut acc = [0f32; 16];
        let chunks = block.chunks_exact(16);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..16 {
                acc[k] += exp_neg(c[k] - max);
            }
        }
        sum += acc.iter().map(|&x| x as f64).sum::<f64>();
        sum += rest.iter().map(|&x| exp_neg(x - max) as f64).sum::<f64>();
    }
    sum
}

/// [`sum_exp_body`] with the widest vectors the CPU has. Built for the baseline x86-64 (SSE2,
/// four lanes), the loop over a 262k-token row took 0.5 ms; AVX-512 (sixteen lanes) takes 0.09
/// ms on the same core, and that for every sequence of every step (the runtime asks for every
/// token's log-probability: it is the answer's confidence). aarch64's baseline already has its
/// vectors (NEON).
fn sum_exp(row: &[f32], max: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn avx512(row: &[f32], max: f32) -> f64 {
            sum_exp_body(row, max)
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2(row: &[f32], max: f32) -> f64 {
            sum_exp_body(row, max)
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature the function was compiled for.
            #[allow(unsafe_code)]
            return unsafe { avx512(row, max) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            #[allow(unsafe_code)]
            return unsafe { avx2(row, max) };
        }
    }
    sum_exp_body(row, max)
}

/// The best candidates of a row, and its softmax normaliser where log-probabilities are wanted.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct RowStats {
    /// `ln(sum(exp(logits)))`; None where it was not asked for (an exponential of every
    /// logit: 262,144 of them per token for Gemma 3, a few percent of a decode step).
    pub lse: Option<f64>,
    /// The `n` highest logits' indices, best first (ties: lower index first).
    pub top: Vec<usize>,
}

impl RowStats {
    /// The `n` (at least 1) best candidates of `row`, and its normaliser if `lse`.
    pub(super) fn of(row: &[f32], n: usize, lse: bool) -> Self {
        let top = top_n(row, n.max(1));
        if !lse {
            return Self { lse: None, top };
        }
        let max = top.first().map_or(0.0, |&i| row[i]);
        let sum = sum_exp(row, max);
        Self { lse: Some(max as f64 + sum.ln()), top }
    }

    /// Log-probability of token `i` (NaN where the normaliser was not computed).
    pub(super) fn logprob(&self, row: &[f32], i: usize) -> f32 {
        self.lse.map_or(f32::NAN, |lse| (row[i] as f64 - lse) as f32)
    }
}

/// SplitMix64: the random stream of one generation's draws, from the request's seed (the same
/// seed gives the same answer).
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Self(seed ^ 0x5EED_5A6E_0000_0000)
    }

    /// Uniform in [0, 1).
    pub(super) fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        unit(mix(self.0))
    }

    /// Two independent uniforms in [0, 1) from one step of the stream (the second is the first's
    /// bits mixed again), so that a draw that may need a second try still moves the stream by
    /// one, as every other draw does.
    pub(super) fn uniform_pair(&mut self) -> (f64, f64) {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = mix(self.0);
        (unit(z), unit(mix(z ^ 0xA5A5_5A5A_C3C3_3C3C)))
    }
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(z: u64) -> f64 {
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Draw a token from `candidates` (indices into `row`, best first: the top-k) the way llama.cpp's
/// chain top-k, top-p, min-p, temperature, distribution does: top-p and min-p judge the
/// candidates' temperature-1 distribution, then the survivors are drawn at `temperature` with the
/// uniform number `u`. Returns an index into `row`; `candidates` must not be empty.
pub(super) fn draw(
    row: &[f32],
    candidates: &[usize],
    top_p: f32,
    min_p: f32,
    temperature: f32,
    u: f64,
) -> usize {
    let best = row[candidates[0]] as f64;
    let mut keep = candidates.len();
    if top_p < 1.0 {
        let w: Vec<f64> = candidates.iter().map(|&i| (row[i] as f64 - best).exp()).collect();
        let total: f64 = w.iter().sum();
        let mut cum = 0.0;
        for (k, x) in w.iter().enumerate() {
            cum += x / total;
            if cum >= top_p as f64 {
                keep = k + 1;
                break;
            }
        }
    }
    if min_p > 0.0 {
        let floor = best + (min_p as f64).ln();
        keep = candidates[..keep].iter().take_while(|&&i| row[i] as f64 >= floor).count().max(1);
    }
    let t = (temperature as f64).max(1e-6);
    let w: Vec<f64> = candidates[..keep].iter().map(|&i| ((row[i] as f64 - best) / t).exp()).collect();
    let target = u * w.iter().sum::<f64>();
    let mut cum = 0.0;
    for (k, x) in w.iter().enumerate() {
        cum += x;
        if target < cum {
            return candidates[k];
        }
    }
    candidates[keep - 1]
}

/// Indices of the `n` highest values, best first (ties: lower index first).
pub(super) fn top_n(logits: &[f32], n: usize) -> Vec<usize> {
    if n == 1 {
        // The best alone: a vectorised maximum, then its first position.
        let mut acc = [f32::NEG_INFINITY; 8];
        let chunks = logits.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                acc[k] = if c[k] > acc[k] { c[k] } else { acc[k] };
            }
        }
        let max = acc.iter().chain(rest).copied().fold(f32::NEG_INFINITY, |m, x| if x > m { x } else { m });
        return logits.iter().position(|&x| x == max).into_iter().collect();
    }
    let mut idx: Vec<usize> = Vec::with_capacity(n + 1);
    for (i, &x) in logits.iter().enumerate() {
        if idx.len() < n || x > logits[idx[idx.len() - 1]] {
            let pos = idx.partition_point(|&j| logits[j] >= x);
            idx.insert(pos, i);
            idx.truncate(n);
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_neg_is_accurate_over_its_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 0.0 {
            let want = (x as f64).exp();
            let got = exp_neg(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
        assert_eq!(exp_neg(0.0), 1.0);
        assert!(exp_neg(-1000.0) >= 0.0 && exp_neg(-1000.0) < 1e-37);
        assert!(exp_neg(f32::NAN) < 1e-37);
    }

    #[test]
    fn the_vector_paths_agree_with_the_baseline() {
        let row: Vec<f32> = (0..262_147u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 2000) as f32 / 100.0 - 12.0)
            .collect();
        let (fast, base) = (sum_exp(&row, 8.0), sum_exp_body(&row, 8.0));
        assert!(((fast - base) / base).abs() < 1e-6, "{fast} vs {base}");
    }

    #[test]
    fn stats_match_a_plain_f64_softmax() {
        // A vocabulary-sized row with a spread like real logits.
        let row: Vec<f32> = (0..262_147u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 2000) as f32 / 100.0 - 12.0)
            .collect();
        let s = RowStats::of(&row, 3, true);
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = max + row.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
        let got = s.lse.expect("asked for");
        assert!((got - lse).abs() < 2e-6, "{got} vs {lse}");
        assert_eq!(RowStats::of(&row, 3, false), RowStats { lse: None, top: s.top.clone() });
        assert_eq!(s.top.len(), 3);
        assert_eq!(row[s.top[0]] as f64, max);
        assert!(row[s.top[0]] >= row[s.top[1]] && row[s.top[1]] >= row[s.top[2]]);
        let total: f64 = row.iter().enumerate().map(|(i, _)| (s.logprob(&row, i) as f64).exp()).sum();
        assert!((total - 1.0).abs() < 1e-4, "probabilities sum to {total}");
    }

    #[test]
    fn draws_follow_the_truncated_tempered_distribution() {
        let row = [2.0f32, 1.0, 0.0, -1.0, -8.0];
        let cands = top_n(&row, 4);
        assert_eq!(cands, vec![0, 1, 2, 3]);
        // Frequencies over an even grid of u match softmax(logits / T) over the candidates.
        let t = 0.7f32;
        let n = 100_000;
        let mut count = [0usize; 5];
        for k in 0..n {
            count[draw(&row, &cands, 1.0, 0.0, t, (k as f64 + 0.5) / n as f64)] += 1;
        }
        let w: Vec<f64> = cands.iter().map(|&i| ((row[i] - 2.0) as f64 / t as f64).exp()).collect();
        let total: f64 = w.iter().sum();
        for (j, &i) in cands.iter().enumerate() {
            let want = w[j] / total;
            let got = count[i] as f64 / n as f64;
            assert!((got - want).abs() < 1e-3, "token {i}: {got} vs {want}");
        }
        assert_eq!(count[4], 0, "outside the top-k");
        // top-p 0.5: at temperature 1 the best alone holds 0.64 of the candidates' mass.
        assert!((0..100).all(|k| draw(&row, &cands, 0.5, 0.0, 1.0, k as f64 / 100.0) == 0));
        // min-p 0.3: e^-1 = 0.37 >= 0.3 keeps the second, e^-2 = 0.14 drops the third.
        let picked: std::collections::BTreeSet<usize> =
            (0..1000).map(|k| draw(&row, &cands, 1.0, 0.3, 1.0, k as f64 / 1000.0)).collect();
        assert_eq!(picked.into_iter().collect::<Vec<_>>(), vec![0, 1]);
    }

    #[test]
    fn the_random_stream_is_uniform_and_seeded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<f64> = (0..10_000).map(|_| a.uniform()).collect();
        assert!(xs.iter().all(|&x| (0.0..1.0).contains(&x)));
        assert_eq!(xs[..5], (0..5).map(|_| b.uniform()).collect::<Vec<_>>()[..]);
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        assert_ne!(Rng::new(8).uniform(), xs[0]);
    }

    #[test]
    fn top_n_picks_the_best_first_and_the_lower_index_on_ties() {
        let l = [1.0f32, 5.0, 3.0, 5.0, 4.0];
        assert_eq!(top_n(&l, 3), vec![1, 3, 4]);
        assert_eq!(top_n(&l, 1), vec![1]);
    }
}
