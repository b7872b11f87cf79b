//! Continuous batching: every session of a model shares one llama.cpp context whose KV cache
//! holds a stream of cells for each of `parallel` sequences (slots). Each step puts one token of
//! every generating sequence and the pending prompt tokens of newly admitted ones into a single
//! `llama_decode`, so a new request's prompt is evaluated while the others keep generating, and
//! eight streams cost one pass over the weights per token instead of eight.
//!
//! Sessions are cheap: a session holds a slot only while it generates; an idle session keeps its
//! cached tokens in its slot until another session needs the slot (least recently used first),
//! and then simply re-evaluates its prompt next time. A prompt that starts like what another
//! slot holds (a shared system prompt, the chat template's preamble) borrows those cells (the
//! other slot's stream is copied and cut after the shared prefix) instead of evaluating them
//! again.
//!
//! Each sequence has its own stream of cells, so that a token attends over its own
//! sequence's cells only; llama.cpp evaluates sequences of consecutive ids together, so a new
//! generation takes the lowest free slot and the batch lists sequences in slot order (decision
//! 0018).
//!
//! A slot also keeps the logits row its last prompt ended on. A request whose prompt is exactly
//! what a slot holds samples its first token from that row, evaluating nothing: it is faster, and
//! it is what makes a seed repeat. Evaluating the prompt's last token again, alone, rounds
//! differently from evaluating it in the prompt's batch (single-row and batched kernels sum in
//! another order: on an AMD EPYC without AMX the two rows differed enough to change the first
//! drawn token), so the same seed would draw from another distribution.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::DecodeError;

use super::abort::{self, AbortHook};
use super::logits::Rng;
use super::{Reply, Worker, WorkerEvent};
use crate::error::GenerateError;
use crate::model::SessionId;
use crate::types::{EngineStats, FinishReason, GenerateParams, Generation, Timings, TokenId, TokenOut};
use sample::{advance, row_stats, Logits};
use slots::{choose_slot, common, SlotView, BORROW_MIN};

mod forced;
mod sample;
mod slots;

/// Keeps the valid UTF-8 prefix of a byte stream; holds back an incomplete character.
#[derive(Default)]
pub(super) struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub(super) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(s) => {
                let out = s.to_string();
                self.pending.clear();
                out
            }
            Err(e) if e.error_len().is_none() => {
                // An incomplete character at the end: keep it for the next token.
                let valid = e.valid_up_to();
                let out = String::from_utf8_lossy(&self.pending[..valid]).into_owned();
                self.pending.drain(..valid);
                out
            }
            Err(_) => {
                let out = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                out
            }
        }
    }
}

/// Longest suffix of `text` that is a proper prefix of one of `stops` (held back while streaming).
pub fn held_back(text: &str, stops: &[String]) -> usize {
    let mut hold = 0;
    for s in stops {
        for k in (1..s.len()).rev() {
            if k <= text.len()
                && text.is_char_boundary(text.len() - k)
                && s.is_char_boundary(k)
                && text.ends_with(&s[..k])
            {
                hold = hold.max(k);
                break;
            }
        }
    }
    hold
}

/// What `llama_decode` returns when the abort callback stopped it.
const ABORTED: i32 = 2;

/// A stall of the streams that prompt evaluation may always cause, seconds.
const STALL_S: f64 = 0.25;

/// One KV sequence of the shared cache.
#[derive(Default)]
struct Slot {
    /// The session that holds it (None: free; its cells stay as a prefix others may borrow).
    owner: Option<SessionId>,
    /// Tokens whose keys and values are in the cache for this sequence, in order.
    cached: Vec<TokenId>,
    /// When it was last used (a step counter).
    used: u64,
    /// The logits row after `cached[..end.len]`, as the prompt that ended there computed it.
    end: Option<EndRow>,
}

/// The logits of a prompt's last position, kept so that the same prompt again needs no
/// evaluation and draws from exactly the same distribution.
#[derive(Clone)]
struct EndRow {
    /// The prompt's length: the row follows `cached[len - 1]`.
    len: usize,
    row: Arc<[f32]>,
}

/// How much of a prompt a slot already holds.
struct Reuse {
    /// Prompt tokens whose cells are in the slot.
    tokens: usize,
    /// The whole prompt is held, and this is the row its last token gave: nothing to evaluate.
    row: Option<Arc<[f32]>>,
}

struct SessionState {
    window: u32,
    slot: Option<usize>,
    busy: bool,
    /// Closed by its owner while generating: dropped when the generation ends.
    closing: bool,
}

/// Work waiting for its session or for a free slot.
pub(super) enum Pending {
    Generate {
        session: SessionId,
        prompt: Vec<TokenId>,
        params: Box<GenerateParams>,
        events: Sender<WorkerEvent>,
        start: Instant,
    },
    Logits {
        session: SessionId,
        tokens: Vec<TokenId>,
        /// Only the last position's row, with the session's cached prefix reused.
        last_only: bool,
        reply: Reply<Result<Vec<Vec<f32>>, GenerateError>>,
    },
}

impl Pending {
    fn session(&self) -> SessionId {
        match self {
            Pending::Generate { session, .. } | Pending::Logits { session, .. } => *session,
        }
    }
}

enum Phase {
    /// Prompt tokens `[..next]` are in the cache.
    Prefill { next: usize },
    /// `last` was sampled and streamed; it goes into the cache in the next step.
    Decode { last: TokenId },
}

/// Who waits for a sequence in progress: a caller streaming a generation, or a caller that
/// wants only the logits row its prompt ends on (a prompt evaluated like any other, in the
/// shared steps, and nothing generated).
enum Listener {
    Stream(Sender<WorkerEvent>),
    Row(Reply<Result<Vec<Vec<f32>>, GenerateError>>),
}

impl Listener {
    /// Pass an event on; `Err` when a streaming caller is gone (a row's caller wants none).
    fn send(&self, ev: WorkerEvent) -> Result<(), ()> {
        match self {
            Listener::Stream(tx) => tx.send(ev).map_err(|_| ()),
            Listener::Row(_) => Ok(()),
        }
    }
}

/// A generation in progress.
struct Active {
    session: SessionId,
    slot: usize,
    prompt: Vec<TokenId>,
    params: GenerateParams,
    events: Listener,
    sampler: super::Samplers,
    /// The whole prompt was cached with its last row: the first token is drawn from it.
    saved: Option<Arc<[f32]>>,
    /// Draws of the fast sampler (see [`fast_sampling`]).
    rng: Rng,
    phase: Phase,
    start: Instant,
    timings: Timings,
    text: String,
    emitted: usize,
    tokens: Vec<TokenOut>,
    utf8: Utf8Stream,
    first_token_at: Option<f64>,
    stop_at: Option<usize>,
    /// Where this sequence's logits are in the current batch.
    logits_at: Option<i32>,
    /// Tokens this sequence put into the current batch.
    in_batch: usize,
}

/// The shared context, its slots, the sessions and the generations in progress.
pub(super) struct Scheduler<'m> {
    /// Aborts the step in progress when `abort` is raised; declared before `ctx` so that it is
    /// uninstalled before the context goes.
    _hook: Option<AbortHook>,
    /// Raised by a generation's [`crate::Cancel`]: the step in progress stops, the cancelled
    /// generations finish, and the step is evaluated again for the others.
    abort: Arc<AtomicBool>,
    w: Worker<'m>,
    ctx: LlamaContext<'m>,
    slots: Vec<Slot>,
    sessions: HashMap<SessionId, SessionState>,
    next_session: SessionId,
    active: Vec<Active>,
    waiting: VecDeque<Pending>,
    batch: LlamaBatch<'static>,
    n_batch: usize,
    /// Sliding-window size of the model's local attention layers (0: none).
    n_swa: u32,
    /// KV cells of all sequences together.
    cells: u32,
    /// Threads the decode uses (the cores left over compute row statistics).
    threads: usize,
    /// KV cells of one sequence (its stream).
    per_seq: u32,
    /// Steps taken (the clock of slot recency).
    steps: u64,
    /// The last step evaluated prompts only (decoding sequences sat it out).
    last_prefill_only: bool,
    /// When the last step that gave the streams their next tokens ended, and how long it took.
    last_decode: Option<(Instant, std::time::Duration)>,
    /// Seconds per prompt token, as measured on steps that evaluated prompts only (a moving
    /// average), to size prompt chunks while streams wait.
    prompt_s_per_token: Option<f64>,
    /// Figures shared with the engine's handle (metrics).
    stats: Arc<Mutex<EngineStats>>,
    prompt_evaluated: u64,
    prompt_reused: u64,
    aborted_steps: u64,
}

impl<'m> Scheduler<'m> {
    pub(super) fn new(
        w: Worker<'m>,
        ctx: LlamaContext<'m>,
        parallel: u32,
        n_swa: u32,
        threads: usize,
        stats: Arc<Mutex<EngineStats>>,
    ) -> Self {
        let n_batch = ctx.n_batch().max(1) as usize;
        let cells = ctx.n_ctx();
        let per_seq = cells / parallel.max(1);
        let abort = Arc::new(AtomicBool::new(false));
        let hook = abort::install(&ctx, &abort);
        if hook.is_none() {
            tracing::warn!(model = %w.id, "cannot abort a llama.cpp step in progress: a cancelled generation stops when its step ends");
        }
        Self {
            _hook: hook,
            abort,
            w,
            ctx,
            slots: (0..parallel.max(1)).map(|_| Slot::default()).collect(),
            sessions: HashMap::new(),
            next_session: 1,
            active: vec![],
            waiting: VecDeque::new(),
            batch: LlamaBatch::new(n_batch, 1),
            n_batch,
            n_swa,
            cells,
            threads,
            per_seq,
            steps: 0,
            last_prefill_only: false,
            last_decode: None,
            prompt_s_per_token: None,
            stats,
            prompt_evaluated: 0,
            prompt_reused: 0,
            aborted_steps: 0,
        }
    }

    /// Publish the figures (after every change of the queue or the cache).
    fn publish(&self) {
        let s = EngineStats {
            sequences: self.slots.len() as u32,
            generating: self.active.len() as u32,
            waiting: self.waiting.len() as u32,
            kv_cells: self.cells,
            kv_tokens: self.slots.iter().map(|s| s.cached.len() as u64).sum(),
            steps: self.steps,
            prompt_tokens_evaluated: self.prompt_evaluated,
            prompt_tokens_reused: self.prompt_reused,
            aborted_steps: self.aborted_steps,
        };
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = s;
    }

    /// Nothing is generating (work still waiting can only wait for a generation to end).
    pub(super) fn idle(&self) -> bool {
        self.active.is_empty()
    }

    /// Open a session with a window of `window` tokens.
    pub(super) fn open(&mut self, window: u32) -> Result<(SessionId, u32), GenerateError> {
        if window > self.per_seq {
            return Err(GenerateError::InvalidParams {
                model: self.w.id.to_string(),
                message: format!(
                    "a context of {window} tokens exceeds the engine's KV cache of {} cells per \
                     sequence (its context)",
                    self.per_seq
                ),
            });
        }
        let id = self.next_session;
        self.next_session += 1;
        self.sessions.insert(id, SessionState { window, slot: None, busy: false, closing: false });
        Ok((id, window))
    }

    /// Close a session; its slot's cells stay as a prefix others may borrow.
    pub(super) fn close(&mut self, session: SessionId) {
        let Some(s) = self.sessions.get_mut(&session) else { return };
        if s.busy {
            s.closing = true;
            return;
        }
        if let Some(i) = s.slot {
            self.slots[i].owner = None;
        }
        self.sessions.remove(&session);
    }

    /// Queue work; it starts as soon as its session and a slot are free.
    pub(super) fn submit(&mut self, job: Pending) {
        if let Pending::Generate { params, .. } = &job {
            params.cancel.also_raise(&self.abort);
        }
        self.waiting.push_back(job);
        self.admit();
    }

    fn model(&self) -> String {
        self.w.id.to_string()
    }

    /// Start what can start, in arrival order.
    pub(super) fn admit(&mut self) {
        let mut still = VecDeque::new();
        while let Some(job) = self.waiting.pop_front() {
            let sid = job.session();
            let Some(state) = self.sessions.get(&sid) else {
                let e = GenerateError::NoSession { model: self.model(), session: sid };
                match job {
                    Pending::Generate { events, .. } => {
                        let _ = events.send(WorkerEvent::Done(Err(e)));
                    }
                    Pending::Logits { reply, .. } => {
                        let _ = reply.send(Err(e));
                    }
                }
                continue;
            };
            if state.busy {
                still.push_back(job);
                continue;
            }
            let hint: &[TokenId] = match &job {
                Pending::Generate { prompt, .. } => prompt,
                Pending::Logits { tokens, .. } => tokens,
            };
            let Some(slot) = self.assign(sid, hint) else {
                still.push_back(job);
                continue;
            };
            match job {
                Pending::Logits { tokens, last_only: false, reply, .. } => {
                    let _ = reply.send(self.logits(slot, &tokens));
                }
                Pending::Logits { session, tokens, last_only: true, reply } => {
                    // Evaluated in the shared steps like a prompt with nothing to generate, so
                    // that streams in progress keep getting their tokens.
                    let params = GenerateParams { max_tokens: 0, ..GenerateParams::default() };
                    let fail = reply.clone();
                    if let Err(e) =
                        self.start(session, slot, tokens, params, Listener::Row(reply), Instant::now())
                    {
                        let _ = fail.send(Err(e));
                    }
                }
                Pending::Generate { session, prompt, params, events, start } => {
                    let listener = Listener::Stream(events.clone());
                    if let Err(e) = self.start(session, slot, prompt, *params, listener, start) {
                        let _ = events.send(WorkerEvent::Done(Err(e)));
                    }
                }
            }
        }
        self.waiting = still;
        self.publish();
    }

    /// The slot for `session`: its own, else the one chosen by [`choose_slot`]. None while
    /// every slot is generating.
    fn assign(&mut self, session: SessionId, hint: &[TokenId]) -> Option<usize> {
        if let Some(i) = self.sessions.get(&session).and_then(|s| s.slot) {
            return Some(i);
        }
        let busy = |o: &Option<SessionId>| o.and_then(|o| self.sessions.get(&o)).is_some_and(|s| s.busy);
        let views: Vec<SlotView> = self
            .slots
            .iter()
            .map(|s| SlotView {
                busy: busy(&s.owner),
                owned: s.owner.is_some(),
                used: s.used,
                held: common(&s.cached, hint),
            })
            .collect();
        let i = choose_slot(&views)?;
        if let Some(old) = self.slots[i].owner.take() {
            if let Some(s) = self.sessions.get_mut(&old) {
                s.slot = None;
            }
        }
        self.slots[i].owner = Some(session);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.slot = Some(i);
        }
        Some(i)
    }

    fn seq_clear(&mut self, slot: usize, from: usize) -> bool {
        let ok = self.ctx.clear_kv_cache_seq(Some(slot as u32), Some(from as u32), None).unwrap_or(false);
        let s = &mut self.slots[slot];
        if ok {
            s.cached.truncate(from);
        } else {
            // Partial removal failed (a recurrent or pruned cache): drop the sequence.
            let _ = self.ctx.clear_kv_cache_seq(Some(slot as u32), None, None);
            s.cached.clear();
        }
        if s.end.as_ref().is_some_and(|e| e.len > s.cached.len()) {
            s.end = None;
        }
        ok
    }

    /// The cells at positions `[..n]` of `slot` can be continued from: with sliding-window
    /// attention the last `n_swa` positions before `n` must still be in the cache.
    fn continuable(&self, slot: usize, n: usize) -> bool {
        if self.n_swa == 0 || n == 0 {
            return true;
        }
        let min = self.ctx.kv_cache_seq_pos_min(slot as i32);
        min <= 0 || (min as i64) <= (n as i64 - self.n_swa as i64).max(0)
    }

    /// Make `slot` hold the longest reusable prefix of `prompt` (its own cells, or cells
    /// borrowed from another slot). The last token is kept to evaluate unless the whole prompt
    /// is held together with the row it ended on.
    fn prepare(&mut self, slot: usize, prompt: &[TokenId]) -> Reuse {
        if let Some(r) = self.reuse_whole(slot, prompt) {
            return r;
        }
        let cap = prompt.len().saturating_sub(1);
        let mut own = common(&self.slots[slot].cached, prompt).min(cap);
        // A few shared tokens (the BOS, a template's opening) are evaluated again with the rest:
        // reusing them saves almost nothing and evaluates the prompt in another batch shape,
        // whose rounding differs, so a seeded prompt asked again after others would not repeat
        // (decision 0009; on an AVX2 EPYC the seeded test's answer changed at its 7th token).
        if own < BORROW_MIN || !self.continuable(slot, own) {
            own = 0;
        }
        let best = (0..self.slots.len())
            .filter(|&j| j != slot)
            .map(|j| (common(&self.slots[j].cached, prompt).min(cap), j))
            .filter(|&(n, j)| n > own && n >= BORROW_MIN && self.continuable(j, n))
            .max();
        if let Some((n, j)) = best {
            let tokens = if self.borrow(j, slot, n, prompt) { n } else { 0 };
            return Reuse { tokens, row: None };
        }
        let tokens = if self.seq_clear(slot, own) { own } else { 0 };
        Reuse { tokens, row: None }
    }

    /// The whole of `prompt` and the row it ended on, from `slot` itself or borrowed from
    /// another slot; None where no slot holds both.
    fn reuse_whole(&mut self, slot: usize, prompt: &[TokenId]) -> Option<Reuse> {
        let n = prompt.len();
        let holds =
            |s: &Slot| s.end.as_ref().is_some_and(|e| e.len == n) && s.cached.get(..n) == Some(prompt);
        let from = std::iter::once(slot)
            .chain((0..self.slots.len()).filter(|&j| j != slot))
            .find(|&j| holds(&self.slots[j]) && self.continuable(j, n))?;
        if from == slot {
            if !self.seq_clear(slot, n) {
                return None;
            }
        } else if !self.borrow(from, slot, n, prompt) {
            return None;
        }
        let row = self.slots[slot].end.as_ref().map(|e| e.row.clone())?;
        Some(Reuse { tokens: n, row: Some(row) })
    }

    /// Copy the cells of `prompt[..n]` from slot `from` into `slot` (and the row they ended on,
    /// where `from` kept it): llama.cpp copies a sequence's whole stream (the copy is made
    /// before the next step), and the cells after the prefix are then dropped.
    fn borrow(&mut self, from: usize, slot: usize, n: usize, prompt: &[TokenId]) -> bool {
        self.seq_clear(slot, 0);
        if self.ctx.copy_kv_cache_seq(from as i32, slot as i32, None, None).is_err()
            || !self.ctx.clear_kv_cache_seq(Some(slot as u32), Some(n as u32), None).unwrap_or(false)
        {
            let _ = self.ctx.clear_kv_cache_seq(Some(slot as u32), None, None);
            self.slots[slot].cached.clear();
            self.slots[slot].end = None;
            return false;
        }
        self.slots[slot].cached = prompt[..n].to_vec();
        self.slots[slot].end = self.slots[from].end.clone().filter(|e| e.len == n);
        tracing::debug!(model = %self.w.id, from, to = slot, tokens = n, "borrowed a cached prefix");
        true
    }

    fn start(
        &mut self,
        session: SessionId,
        slot: usize,
        prompt: Vec<TokenId>,
        params: GenerateParams,
        events: Listener,
        start: Instant,
    ) -> Result<(), GenerateError> {
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt { model: self.model() });
        }
        self.w.check_tokens(&prompt)?;
        let window = self.sessions.get(&session).map_or(0, |s| s.window);
        if prompt.len() as u64 + params.max_tokens as u64 > window as u64 {
            return Err(GenerateError::ContextOverflow {
                model: self.model(),
                prompt_tokens: prompt.len(),
                max_tokens: params.max_tokens,
                context: window,
            });
        }
        let mut sampler = self.w.sampler(&params)?;
        let mut rng = Rng::new(params.sampling.seed as u64);
        // Continuing a generation: what it generated so far has passed through the sampler
        // chain (grammar, penalty) and drawn one number each.
        let continued = prompt.len().saturating_sub(1).min(params.continuation as usize);
        let replayed =
            sample::replay(&mut sampler, &mut rng, &prompt[prompt.len() - continued..], |t| self.w.piece(t));
        if let Err(t) = replayed {
            let message = format!("token {t} of the generation so far does not follow the constraint");
            return Err(GenerateError::Constraint { model: self.model(), message });
        }
        let Reuse { tokens: reused, row: saved } = self.prepare(slot, &prompt);
        if let Some(s) = self.sessions.get_mut(&session) {
            s.busy = true;
        }
        self.active.push(Active {
            session,
            slot,
            prompt,
            params,
            events,
            rng,
            sampler,
            saved,
            phase: Phase::Prefill { next: reused },
            start,
            timings: Timings { cached_tokens: reused as u32, ..Timings::default() },
            text: String::new(),
            emitted: 0,
            tokens: vec![],
            utf8: Utf8Stream::default(),
            first_token_at: None,
            stop_at: None,
            logits_at: None,
            in_batch: 0,
        });
        Ok(())
    }

    /// Fill the batch: one token per decoding sequence, prompt chunks given out in arrival
    /// order with the room left, and the batch listing every sequence's part in slot order.
    /// With a KV stream per sequence llama.cpp evaluates a batch in parts of runs of
    /// consecutive sequence ids, the same number of tokens each: in slot order a prompt between
    /// decoding sequences gives its first token to the streams' part (one part of one token for
    /// all, then the rest of the prompt) instead of cutting it in two.
    fn fill(&mut self) -> Result<(), GenerateError> {
        self.batch.clear();
        let mut room = self.n_batch;
        for a in &mut self.active {
            a.logits_at = None;
            a.in_batch = 0;
        }
        // A new prompt goes first, alone: its first token then costs one prompt evaluation,
        // not a step of every stream's next token as well. The streams in progress sit out
        // prompt-only steps for at most as long as their own last step took (their next token
        // comes at most one step late, and a long prompt, chunked, cannot starve them); then
        // their tokens come first and prompts fill the rest of the batch.
        let prefilling =
            self.active.iter().any(|a| matches!(a.phase, Phase::Prefill { next } if next < a.prompt.len()));
        let decoders = self.active.iter().filter(|a| matches!(a.phase, Phase::Decode { .. })).count();
        let decoding = decoders > 0;
        let patience = self.last_decode.is_some_and(|(end, took)| end.elapsed() < took);
        let prefill_only = prefilling && decoding && (patience || !self.last_prefill_only);
        self.last_prefill_only = prefill_only;
        if !prefill_only {
            room = room.saturating_sub(decoders);
        }
        // While streams wait, a step evaluates at most as many prompt tokens as take three of
        // their own steps or a quarter of a second, whichever is longer (and at least 16): a
        // long prompt is chunked, so the streams' next tokens come within a few of their steps
        // however long the prompt (without it, an 8-stream step of a 4B model on two cores
        // waited 4.3 s for a 241-token chunk), while small prompts arriving together are still
        // evaluated together.
        // Before any stream step has been timed, 64 tokens.
        if decoding {
            if let Some(per) = self.prompt_s_per_token {
                let fit = match self.last_decode {
                    Some((_, took)) => ((3.0 * took.as_secs_f64()).max(STALL_S) / per.max(1e-6)) as usize,
                    None => 64,
                };
                room = room.min(fit.max(16));
            }
        }
        let mut share = vec![0; self.active.len()];
        for (i, a) in self.active.iter().enumerate() {
            if room == 0 {
                break;
            }
            if let Phase::Prefill { next } = a.phase {
                share[i] = (a.prompt.len() - next).min(room);
                room -= share[i];
            }
        }
        let mut by_slot: Vec<usize> = (0..self.active.len()).collect();
        by_slot.sort_by_key(|&i| self.active[i].slot);
        for &i in &by_slot {
            let a = &mut self.active[i];
            match (&a.phase, share[i]) {
                (Phase::Decode { last }, _) if !prefill_only => {
                    let pos = self.slots[a.slot].cached.len();
                    a.logits_at = Some(self.batch.n_tokens());
                    self.batch
                        .add(LlamaToken(*last as i32), pos as i32, &[a.slot as i32], true)
                        .map_err(|e| self.w.err_decode(e))?;
                    a.in_batch = 1;
                }
                (Phase::Prefill { next }, k @ 1..) => {
                    let next = *next;
                    for (j, &t) in a.prompt[next..next + k].iter().enumerate() {
                        let pos = next + j;
                        let last = pos + 1 == a.prompt.len();
                        if last {
                            a.logits_at = Some(self.batch.n_tokens());
                        }
                        self.batch
                            .add(LlamaToken(t as i32), pos as i32, &[a.slot as i32], last)
                            .map_err(|e| self.w.err_decode(e))?;
                    }
                    a.in_batch = k;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Undo whatever a failed decode may have left of this batch in the cache.
    fn roll_back(&mut self) {
        for i in 0..self.slots.len() {
            let n = self.slots[i].cached.len();
            let _ = self.ctx.clear_kv_cache_seq(Some(i as u32), Some(n as u32), None);
        }
    }

    /// Free the cells of slots nobody is generating in. Returns whether anything was freed.
    fn free_idle(&mut self) -> bool {
        let mut freed = false;
        for i in 0..self.slots.len() {
            let generating = self.active.iter().any(|a| a.slot == i);
            if !generating && !self.slots[i].cached.is_empty() {
                let _ = self.ctx.clear_kv_cache_seq(Some(i as u32), None, None);
                self.slots[i].cached.clear();
                self.slots[i].end = None;
                freed = true;
            }
        }
        freed
    }

    /// Fill the batch and decode it, retrying what can be retried: a full KV cache (idle slots
    /// freed, else the newest generation gives way) and an aborted step (the cancelled
    /// generations finish, the step is filled again for the others). `false` when nothing is
    /// left to sample this step.
    fn evaluate(&mut self) -> bool {
        loop {
            if let Err(e) = self.fill() {
                self.fail_all(e);
                return false;
            }
            if self.batch.n_tokens() == 0 {
                if self.active.iter().any(|a| a.saved.is_some()) {
                    // Only rows kept from earlier prompts to sample from: no decode.
                    return true;
                }
                return false;
            }
            if tracing::enabled!(tracing::Level::TRACE) {
                let mut parts: Vec<(usize, usize)> =
                    self.active.iter().map(|a| (a.slot, a.in_batch)).collect();
                parts.sort_unstable();
                tracing::trace!(model = %self.w.id, tokens = self.batch.n_tokens(), ?parts, "step: (slot, tokens) in the batch");
            }
            match self.ctx.decode(&mut self.batch) {
                Ok(()) => return true,
                Err(DecodeError::NoKvCacheSlot) => {
                    self.roll_back();
                    if self.free_idle() {
                        continue;
                    }
                    // Still full: the newest generation gives way so that the others finish.
                    let cells = self.cells;
                    let model = self.model();
                    if let Some(i) = (0..self.active.len()).max_by_key(|&i| self.active[i].start) {
                        let a = self.active.swap_remove(i);
                        let message = format!(
                            "the KV cache ({cells} cells shared by {} sequences) is full",
                            self.slots.len()
                        );
                        self.finish(a, Err(GenerateError::Decode { model, message }));
                    }
                    if self.active.is_empty() {
                        return false;
                    }
                }
                Err(DecodeError::Unknown(ABORTED)) => {
                    // A generation was cancelled mid-step: it finishes now with what it had,
                    // and the step is filled and evaluated again for the others.
                    self.aborted_steps += 1;
                    self.roll_back();
                    self.reap_cancelled();
                    if self.active.is_empty() {
                        self.admit();
                        return false;
                    }
                }
                Err(e) => {
                    self.roll_back();
                    let e = self.w.err_decode(e);
                    self.fail_all(e);
                    return false;
                }
            }
        }
    }

    /// One decode over every active sequence, then sampling for those whose logits are ready.
    pub(super) fn step(&mut self) {
        if self.active.is_empty() {
            return;
        }
        if self.abort.load(Ordering::SeqCst) {
            self.reap_cancelled();
            if self.active.is_empty() {
                self.admit();
                return;
            }
        }
        self.steps += 1;
        let t0 = Instant::now();
        if !self.evaluate() {
            return;
        }
        let decoded = t0.elapsed();
        // Prompt-only steps tell how long a prompt token takes.
        let prompt_tokens: usize =
            self.active.iter().filter(|a| matches!(a.phase, Phase::Prefill { .. })).map(|a| a.in_batch).sum();
        let decode_tokens = self.batch.n_tokens() as usize - prompt_tokens;
        if prompt_tokens >= 8 && decode_tokens == 0 {
            let per = decoded.as_secs_f64() / prompt_tokens as f64;
            self.prompt_s_per_token = Some(self.prompt_s_per_token.map_or(per, |old| 0.7 * old + 0.3 * per));
        }
        let steps = self.steps;
        let mut done = vec![];
        let stats = row_stats(&self.ctx, &self.active, self.threads);
        for (i, a) in self.active.iter_mut().enumerate() {
            let slot = &mut self.slots[a.slot];
            slot.used = steps;
            match a.phase {
                Phase::Decode { last } if a.in_batch == 1 => slot.cached.push(last),
                Phase::Prefill { next } if a.in_batch > 0 => {
                    slot.cached.extend_from_slice(&a.prompt[next..next + a.in_batch]);
                    a.phase = Phase::Prefill { next: next + a.in_batch };
                }
                _ => {}
            }
            let saved = a.saved.take();
            let source = match (&saved, a.logits_at) {
                (Some(row), _) => Logits::Saved(&row[..]),
                (None, Some(at)) => Logits::Batch(&self.ctx, at),
                (None, None) => continue,
            };
            if let (Phase::Prefill { .. }, Logits::Batch(ctx, at)) = (&a.phase, &source) {
                // The prompt's last row: the same prompt again samples from it.
                slot.end = Some(EndRow { len: a.prompt.len(), row: Arc::from(ctx.get_logits_ith(*at)) });
            }
            if let Phase::Prefill { next } = a.phase {
                debug_assert_eq!(next, a.prompt.len());
                let prefill_s = a.start.elapsed().as_secs_f64();
                let evaluated = (a.prompt.len() as u32).saturating_sub(a.timings.cached_tokens);
                self.prompt_evaluated += evaluated as u64;
                self.prompt_reused += a.timings.cached_tokens as u64;
                a.timings.prompt_tokens = evaluated;
                a.timings.prefill_s = prefill_s;
                a.timings.prefill_tok_s = if prefill_s > 0.0 { evaluated as f64 / prefill_s } else { 0.0 };
                let ev = WorkerEvent::Prompt { evaluated, cached: a.timings.cached_tokens };
                if a.events.send(ev).is_err() {
                    done.push((i, FinishReason::Cancelled));
                    continue;
                }
                if a.params.max_tokens == 0 {
                    done.push((i, FinishReason::Length));
                    continue;
                }
            }
            if let Some(f) = advance(&self.w, a, &source, stats[i].as_ref()) {
                done.push((i, f));
            }
        }
        if decode_tokens > 0 {
            // The streams' own step: this one, less what its prompt tokens cost.
            let took = t0.elapsed().as_secs_f64();
            let prompts = prompt_tokens as f64 * self.prompt_s_per_token.unwrap_or(0.0);
            let own = (took - prompts).max(0.25 * took);
            self.last_decode = Some((Instant::now(), std::time::Duration::from_secs_f64(own)));
        }
        tracing::trace!(
            model = %self.w.id,
            tokens = self.batch.n_tokens(),
            sequences = self.active.iter().filter(|a| a.in_batch > 0).count(),
            prompts_only = self.last_prefill_only,
            decode_ms = decoded.as_secs_f64() * 1e3,
            sample_ms = (t0.elapsed() - decoded).as_secs_f64() * 1e3,
            "step"
        );
        for (i, f) in done.into_iter().rev() {
            let a = self.active.swap_remove(i);
            self.finish_ok(a, f);
        }
        self.admit();
    }

    /// Finish the generations whose callers cancelled them, with what they had, and answer
    /// cancelled work still waiting. The abort flag is lowered first: a cancel that comes
    /// after this raises it again.
    fn reap_cancelled(&mut self) {
        self.abort.store(false, Ordering::SeqCst);
        let mut i = 0;
        while i < self.active.len() {
            if self.active[i].params.cancel.is_cancelled() {
                let a = self.active.remove(i);
                tracing::debug!(model = %self.w.id, session = a.session, tokens = a.tokens.len(), "generation cancelled");
                self.finish_ok(a, FinishReason::Cancelled);
            } else {
                i += 1;
            }
        }
        let waiting = std::mem::take(&mut self.waiting);
        for job in waiting {
            match job {
                Pending::Generate { params, events, .. } if params.cancel.is_cancelled() => {
                    let g = Generation {
                        text: String::new(),
                        tokens: vec![],
                        finish: FinishReason::Cancelled,
                        timings: Timings::default(),
                    };
                    let _ = events.send(WorkerEvent::Done(Ok(g)));
                }
                job => self.waiting.push_back(job),
            }
        }
        self.publish();
    }

    fn fail_all(&mut self, e: GenerateError) {
        for a in std::mem::take(&mut self.active) {
            self.finish(a, Err(e.clone()));
        }
    }

    fn finish_ok(&mut self, mut a: Active, finish: FinishReason) {
        if let Some(why) = &a.sampler.dead_end {
            let message = format!("{why}, after {} tokens", a.tokens.len());
            return self.finish(a, Err(GenerateError::Constraint { model: self.model(), message }));
        }
        if let Some(at) = a.stop_at {
            a.text.truncate(at);
        }
        let total = a.start.elapsed().as_secs_f64();
        let mut t = a.timings;
        t.generated_tokens = a.tokens.len() as u32;
        t.time_to_first_token_s = a.first_token_at.unwrap_or(total);
        t.decode_s = total - t.time_to_first_token_s;
        t.decode_tok_s = if t.decode_s > 0.0 && a.tokens.len() > 1 {
            (a.tokens.len() - 1) as f64 / t.decode_s
        } else {
            0.0
        };
        let g = Generation {
            text: std::mem::take(&mut a.text),
            tokens: std::mem::take(&mut a.tokens),
            finish,
            timings: t,
        };
        self.finish(a, Ok(g));
    }

    fn finish(&mut self, a: Active, result: Result<Generation, GenerateError>) {
        // The figures first: a caller that reads them once answered sees its own work.
        self.publish();
        match &a.events {
            Listener::Stream(tx) => {
                let _ = tx.send(WorkerEvent::Done(result));
            }
            Listener::Row(reply) => {
                let row = self.slots[a.slot].end.as_ref().filter(|e| e.len == a.prompt.len());
                let row = match (result, row) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Some(end)) => Ok(vec![end.row.to_vec()]),
                    (Ok(_), None) => Err(GenerateError::EmptyPrompt { model: self.model() }),
                };
                let _ = reply.send(row);
            }
        }
        if let Some(s) = self.sessions.get_mut(&a.session) {
            s.busy = false;
            if s.closing {
                self.slots[a.slot].owner = None;
                self.sessions.remove(&a.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_stream_holds_incomplete_characters() {
        let mut u = Utf8Stream::default();
        let e = "é".as_bytes();
        assert_eq!(u.push(&e[..1]), "");
        assert_eq!(u.push(&e[1..]), "é");
        assert_eq!(u.push(b"ab"), "ab");
    }

    #[test]
    fn stop_prefixes_are_held_back() {
        let stops = vec!["\nUser:".to_string()];
        assert_eq!(held_back("hello\nUs", &stops), 3);
        assert_eq!(held_back("hello", &stops), 0);
        assert_eq!(held_back("hello\n", &stops), 1);
    }
}
