//! Sampling a step's rows: the row statistics every sequence needs (computed in parallel), the
//! fast greedy and top-k draws, llama.cpp's sampler chain drawn with the request's own random
//! stream, and streaming the chosen token (stop sequences, UTF-8, the end of a generation).

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use llama_cpp_2::token::LlamaToken;

use super::super::logits::{draw, top_n, Rng, RowStats};
use super::super::{Worker, WorkerEvent};
use super::{held_back, Active, Phase};
use crate::grammar::Grammar;
use crate::types::{FinishReason, GenerateParams, TokenId, TokenOut};

/// Greedy choice with nothing that reshapes the distribution: the best logit is the token,
/// and llama.cpp's sampler (which copies the whole vocabulary into a candidate array) is skipped.
fn plain_greedy(a: &Active) -> bool {
    a.params.sampling.temperature == 0.0 && !reshaped(a)
}

/// Whether something besides temperature and truncation reshapes the distribution: a
/// constraint, a penalty or a logit bias (only llama.cpp's chain applies those).
fn reshaped(a: &Active) -> bool {
    let p = &a.params;
    a.sampler.constraining() || crate::types::penalised(&p.sampling) || !p.logit_bias.is_empty()
}

/// Temperature sampling over a bounded top-k with nothing else reshaping the distribution: our
/// own draw over the row's best `k` (the same chain as llama.cpp's, drawn from the request's
/// seed), computed with the other rows in parallel; llama.cpp's sampler would copy the whole
/// vocabulary per token, one sequence after another. Returns `k`.
fn fast_sampling(a: &Active) -> Option<usize> {
    let s = &a.params.sampling;
    (s.temperature > 0.0 && (1..=1000).contains(&s.top_k) && !reshaped(a)).then_some(s.top_k as usize)
}

/// Tokens this request generated in earlier calls (a generation taken in chunks) pass through
/// its samplers again, as they did then: the grammar (once its awaited text has come), the
/// penalties' history, one random number each. A token the grammar does not allow (the caller
/// gave a generation that did not follow it) is `Err` with its id: fed to llama.cpp's grammar,
/// it would abort the process.
pub(super) fn replay(
    sampler: &mut crate::llama::Samplers,
    rng: &mut Rng,
    tokens: &[TokenId],
    piece: impl Fn(TokenId) -> Vec<u8>,
) -> Result<(), TokenId> {
    for &t in tokens {
        let waiting = sampler.waiting();
        if let Some(g) = sampler.grammar.as_mut().filter(|_| !waiting) {
            if !g.allows(t) {
                return Err(t);
            }
        }
        sampler.accept(LlamaToken(t as i32));
        if sampler.waiting() {
            sampler.generated(t, &String::from_utf8_lossy(&piece(t)));
            if sampler.dead_end.is_some() {
                return Err(t);
            }
        }
        rng.uniform();
    }
    Ok(())
}

/// Which sequences need row statistics: those reporting log-probabilities (with the row's
/// normaliser), plain greedy ones (their token is the row's best) and fast-sampled ones (their
/// top-k). Computed for all rows at once: in parallel only on cores the decode does not use
/// (right after a step its threads still spin, waiting for the next one: a thread started on
/// their cores waited for one, and computing eight rows on two threads took longer than on
/// one); without normalisers a row is one pass over the vocabulary, cheaper than a thread.
pub(super) fn row_stats(
    ctx: &LlamaContext<'_>,
    active: &[Active],
    decode_threads: usize,
) -> Vec<Option<RowStats>> {
    let wants: Vec<Option<(&[f32], usize, bool)>> = active
        .iter()
        .map(|a| {
            let row = match (&a.saved, a.logits_at) {
                (Some(row), _) => &row[..],
                (None, Some(at)) => ctx.get_logits_ith(at),
                (None, None) => return None,
            };
            let n = [
                a.params.logprobs.map(|n| (n as usize).clamp(1, 20)),
                plain_greedy(a).then_some(1),
                fast_sampling(a),
            ]
            .into_iter()
            .flatten()
            .max()?;
            Some((row, n, a.params.logprobs.is_some()))
        })
        .collect();
    let jobs = wants.iter().filter(|w| w.is_some_and(|(_, _, lse)| lse)).count();
    let spare = std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(decode_threads);
    let threads = spare.min(jobs);
    if threads <= 1 {
        return wants.iter().map(|w| w.map(|(row, n, lse)| RowStats::of(row, n, lse))).collect();
    }
    let mut out: Vec<Option<RowStats>> = vec![None; wants.len()];
    let per = wants.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (ws, os) in wants.chunks(per).zip(out.chunks_mut(per)) {
            s.spawn(move || {
                for (w, o) in ws.iter().zip(os.iter_mut()) {
                    *o = w.map(|(row, n, lse)| RowStats::of(row, n, lse));
                }
            });
        }
    });
    out
}

/// Where a sequence's next-token logits are.
pub(super) enum Logits<'a, 'm> {
    /// Row `at` of the step just decoded.
    Batch(&'a LlamaContext<'m>, i32),
    /// A row kept from when the same prompt was evaluated.
    Saved(&'a [f32]),
}

impl Logits<'_, '_> {
    fn row(&self) -> &[f32] {
        match self {
            Logits::Batch(ctx, at) => ctx.get_logits_ith(*at),
            Logits::Saved(row) => row,
        }
    }

    /// The whole row as llama.cpp's candidates.
    fn candidates(&self) -> LlamaTokenDataArray {
        let data =
            self.row().iter().enumerate().map(|(i, &l)| LlamaTokenData::new(LlamaToken(i as i32), l, 0.0));
        LlamaTokenDataArray::from_iter(data, false)
    }

    /// Rule out, in `cands`, what `grammar` does not allow next; past the deadline (`clock`:
    /// when this token's grammar work started and its limit, the engine's
    /// `grammar_step_limit`) the reason instead.
    fn constrain(
        cands: &mut LlamaTokenDataArray,
        grammar: &mut Grammar,
        (started, limit): Clock,
    ) -> Result<(), String> {
        let mut logits: Vec<f32> = cands.data.iter().map(|c| c.logit()).collect();
        let mut judged: Vec<(u32, &mut f32)> =
            cands.data.iter().zip(logits.iter_mut()).map(|(c, l)| (c.id().0 as u32, l)).collect();
        // A limit past what the clock can count (`--grammar-step-limit-ms` of 2^64 - 1) is none.
        let deadline = started.checked_add(limit).map(|at| (at, limit.as_millis()));
        grammar.apply(&mut judged, deadline).map_err(|e| e.to_string())?;
        for (c, l) in cands.data.iter_mut().zip(logits) {
            c.set_logit(l);
        }
        Ok(())
    }

    /// The token `chain` leaves chosen in `cands`, or drawn from what it leaves with `u`; None
    /// when it ruled out every token (llama.cpp's greedy choice then selects a ruled-out one).
    fn choose(cands: &mut LlamaTokenDataArray, chain: &mut LlamaSampler, u: f64) -> Option<LlamaToken> {
        cands.apply_sampler(chain);
        match cands.selected.and_then(|i| cands.data.get(i)) {
            Some(c) if c.logit().is_finite() => Some(c.id()),
            Some(_) => None,
            None => pick(&cands.data, u),
        }
    }

    /// Sample (and accept) a token with llama.cpp's samplers (grammar, bias, penalty, top-k,
    /// top-p, min-p, temperature, or greedy), drawing from what they leave with `rng`: the
    /// request's own stream, which a chunked generation continues (one step per token).
    ///
    /// With a constraint, the rest of the chain chooses first and the grammar judges only that
    /// token; when it refuses, the grammar judges the row's best candidates, and runs over the
    /// whole vocabulary (every candidate's text matched against its stacks) only when too few of
    /// them pass; a second draw uses an independent number. A greedy choice is the one the
    /// grammar-first chain makes (the best allowed token is the best of the allowed among the
    /// best); a top-k draw is too, when k of the best pass.
    fn sample(&self, p: &GenerateParams, s: &mut super::super::Samplers, rng: &mut Rng) -> LlamaToken {
        let (u, again) = rng.uniform_pair();
        let started = (std::time::Instant::now(), s.step_limit);
        let waiting = s.waiting();
        let token = match s.grammar.as_mut().filter(|_| !waiting) {
            None => Ok(Self::choose(&mut self.candidates(), &mut s.rest, u)),
            Some(g) if s.exact => {
                let mut cands = self.candidates();
                Self::constrain(&mut cands, g, started).map(|()| Self::choose(&mut cands, &mut s.rest, u))
            }
            Some(g) => self.constrained(p, g, &mut s.rest, (u, again), started),
        };
        // The grammar's work passed its time limit: the generation ends here (see
        // `Samplers::dead_end`), with the row's best token, which is not streamed.
        let token = match token {
            Ok(t) => t,
            Err(why) => {
                s.dead_end = Some(why);
                return LlamaToken(top_n(self.row(), 1).first().copied().unwrap_or(0) as i32);
            }
        };
        // The chain ruled out every token (a logit bias that bans every token the constraint
        // allows): the best the constraint allows, else the best logit.
        let token = token.unwrap_or_else(|| {
            let constraint = s.grammar.as_mut().filter(|_| !waiting);
            let constraint_set = constraint.is_some();
            let allowed = constraint.and_then(|g| {
                let mut cands = self.candidates();
                if let Err(why) = Self::constrain(&mut cands, g, started) {
                    s.dead_end = Some(why);
                    return None;
                }
                cands
                    .data
                    .iter()
                    .filter(|c| c.logit().is_finite())
                    .max_by(|a, b| a.logit().total_cmp(&b.logit()))
                    .map(|c| c.id())
            });
            if constraint_set && allowed.is_none() && s.dead_end.is_none() {
                // The constraint allows no token at all: the generation ends here (see
                // `Samplers::dead_end`).
                s.dead_end = Some("no token can follow the constraint".into());
            }
            allowed.unwrap_or_else(|| LlamaToken(top_n(self.row(), 1).first().copied().unwrap_or(0) as i32))
        });
        if s.dead_end.is_none() {
            s.accept(token);
        }
        token
    }

    /// A constrained draw: the chosen token checked first, then the best candidates, then the
    /// whole vocabulary (see [`Logits::sample`]).
    fn constrained(
        &self,
        p: &GenerateParams,
        grammar: &mut Grammar,
        rest: &mut LlamaSampler,
        (u, again): (f64, f64),
        started: Clock,
    ) -> Result<Option<LlamaToken>, String> {
        let row = self.row();
        let sp = &p.sampling;
        // Where nothing but truncation and temperature shapes the row, the draw needs only the
        // best k: greedy is k = 1.
        let k = match sp.temperature == 0.0 {
            _ if crate::types::penalised(sp) || !p.logit_bias.is_empty() => None,
            true => Some(1),
            false => (1..=1000).contains(&sp.top_k).then_some(sp.top_k as usize),
        };
        let draw_among = |best: &[usize], u: f64| match sp.temperature == 0.0 {
            true => best[0],
            false => draw(row, best, sp.top_p, sp.min_p, sp.temperature, u),
        };
        let first = match k {
            Some(k) => Some(LlamaToken(draw_among(&top_n(row, k), u) as i32)),
            None => Self::choose(&mut self.candidates(), rest, u),
        };
        if first.is_some_and(|t| grammar.allows(t.0 as u32)) {
            return Ok(first);
        }
        if let Some(k) = k {
            let best = top_n(row, (k * 8).max(SHORTLIST).min(row.len()));
            let passed: Vec<usize> = best.into_iter().filter(|&i| grammar.allows(i as u32)).collect();
            if passed.len() >= k {
                return Ok(Some(LlamaToken(draw_among(&passed[..k], again) as i32)));
            }
        }
        let mut cands = self.candidates();
        Self::constrain(&mut cands, grammar, started)?;
        Ok(Self::choose(&mut cands, rest, again))
    }
}

/// When one token's grammar work started, and how long it may take.
type Clock = (std::time::Instant, std::time::Duration);

/// The best candidates a refused choice's grammar judges before the whole vocabulary (8 times
/// top-k where that is more). A second, longer list was tried (8,192): no faster, since where
/// too few of the best 256 pass, few tokens pass at all (a digit, a closing brace).
const SHORTLIST: usize = 256;

/// Draw from candidates' logits (the softmax of what the chain left) with the uniform number
/// `u`; None when every candidate has been ruled out.
fn pick(cands: &[LlamaTokenData], u: f64) -> Option<LlamaToken> {
    let best = cands.iter().map(|c| c.logit()).filter(|l| l.is_finite()).fold(f32::NEG_INFINITY, f32::max);
    if !best.is_finite() {
        return None;
    }
    let w: Vec<f64> = cands
        .iter()
        .map(|c| if c.logit().is_finite() { ((c.logit() - best) as f64).exp() } else { 0.0 })
        .collect();
    let target = u * w.iter().sum::<f64>();
    let mut cum = 0.0;
    for (c, x) in cands.iter().zip(&w) {
        cum += x;
        if target < cum {
            return Some(c.id());
        }
    }
    cands.iter().zip(&w).rev().find(|(_, x)| **x > 0.0).map(|(c, _)| c.id())
}

/// Sample the next token of `a` from `source` (with `stats` of that row when [`row_stats`]
/// computed them), stream it, and say whether the generation is over.
pub(super) fn advance(
    w: &Worker<'_>,
    a: &mut Active,
    source: &Logits<'_, '_>,
    stats: Option<&RowStats>,
) -> Option<FinishReason> {
    let row = stats.map(|_| source.row());
    let top: Vec<(TokenId, String, f32)> = match (a.params.logprobs, stats, row) {
        (Some(n), Some(st), Some(row)) => st
            .top
            .iter()
            .take((n as usize).min(20))
            .map(|&i| {
                (
                    i as TokenId,
                    String::from_utf8_lossy(&w.piece(i as TokenId)).into_owned(),
                    st.logprob(row, i),
                )
            })
            .collect(),
        _ => vec![],
    };
    let token = match (stats, row) {
        (Some(st), _) if plain_greedy(a) && !st.top.is_empty() => LlamaToken(st.top[0] as i32),
        (Some(st), Some(row)) if !st.top.is_empty() => match fast_sampling(a) {
            Some(k) => {
                let s = &a.params.sampling;
                let u = a.rng.uniform();
                LlamaToken(
                    draw(row, &st.top[..k.min(st.top.len())], s.top_p, s.min_p, s.temperature, u) as i32
                )
            }
            None => source.sample(&a.params, &mut a.sampler, &mut a.rng),
        },
        _ => source.sample(&a.params, &mut a.sampler, &mut a.rng),
    };
    if a.first_token_at.is_none() {
        a.first_token_at = Some(a.start.elapsed().as_secs_f64());
    }
    if a.sampler.dead_end.is_some() {
        // Ended as an error by the scheduler (`finish_ok`).
        return Some(FinishReason::Stop);
    }
    if w.model.vocab().is_eog(token) {
        return Some(FinishReason::EndOfTurn);
    }
    let id = token.0 as TokenId;
    let lp = match (a.params.logprobs, stats, row) {
        (Some(_), Some(st), Some(row)) => Some(st.logprob(row, id as usize)),
        _ => None,
    };
    let bytes = match a.sampler.preserved.contains(&id) {
        true => w.special_piece(id),
        false => w.piece(id),
    };
    let piece = String::from_utf8_lossy(&bytes).into_owned();
    let before = a.text.len();
    a.text.push_str(&a.utf8.push(&bytes));
    a.sampler.generated(id, &a.text[before..]);
    if a.sampler.dead_end.is_some() {
        // The text from a lazy grammar's trigger on does not follow it: ended as an error.
        return Some(FinishReason::Stop);
    }
    let out = TokenOut { id, text: piece, logprob: lp, top };
    // Stop sequences: cut the text at the first one. Only the tail can hold a new one (the text
    // before it was searched at the tokens before), so a token costs the stops' length, not the
    // whole answer's times theirs.
    if let Some((at, _)) = a
        .params
        .stop
        .iter()
        .filter(|st| !st.is_empty())
        .filter_map(|st| {
            let mut from = before.saturating_sub(st.len() - 1);
            while !a.text.is_char_boundary(from) {
                from -= 1;
            }
            a.text[from..].find(st.as_str()).map(|i| (from + i, st))
        })
        .min()
    {
        a.stop_at = Some(at);
        a.tokens.push(out);
        return Some(FinishReason::Stop);
    }
    let safe = (a.text.len() - held_back(&a.text, &a.params.stop)).max(a.emitted);
    let delta = a.text[a.emitted..safe].to_string();
    a.emitted = safe;
    a.tokens.push(out.clone());
    if a.events.send(WorkerEvent::Token { token: out, delta }).is_err() {
        return Some(FinishReason::Cancelled);
    }
    if a.tokens.len() >= a.params.max_tokens as usize {
        return Some(FinishReason::Length);
    }
    a.phase = Phase::Decode { last: id };
    None
}
