//! Running a request for every API: on a blocking thread, its deltas and final record on a
//! channel ([`spawn`], [`Chunk`]); the first chunk or the error a failed request deserves
//! ([`first_or_error`], [`failure`]); the whole answer ([`whole`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use sage_llm::Flow;
use sage_runtime::route::{Failure, Request, Served};

use crate::{lock, ApiError, App};

pub(crate) enum Chunk {
    Delta(String),
    Done(Box<Served>),
}

/// Run `request` on a blocking thread; deltas and the final record arrive on the channel. A
/// closed channel (the client went away) stops the generation at the next token.
pub(crate) fn spawn(
    app: Arc<App>,
    model: String,
    request: Request,
    slot: crate::Slot,
) -> tokio::sync::mpsc::Receiver<Chunk> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(256);
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let started = Instant::now();
        let mut last: Option<Instant> = None;
        let mut gone = false;
        let mut sink = |d: &str| {
            let now = Instant::now();
            match last {
                None => app.metrics.ttft.observe((now - started).as_secs_f64()),
                Some(l) => app.metrics.itl.observe((now - l).as_secs_f64()),
            }
            last = Some(now);
            if tx.blocking_send(Chunk::Delta(d.to_string())).is_err() {
                gone = true;
                Flow::Stop
            } else {
                Flow::Continue
            }
        };
        if tx.is_closed() {
            // The client left while the request waited for its slot: nothing to do.
            app.metrics.cancelled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // The kernel's state as last seen: a tick in progress does not hold a chat up.
        let (state, _, level) = crate::state_view(&app);
        // Decide under the router's lock, generate without it (the engine batches concurrent
        // generations), then learn under it again.
        lock(&app.router).atp_level = level;
        let served = match crate::federation::serve(&app, &model, &request, &mut sink) {
            Some(served) => served,
            None => {
                let (plan, runner) = {
                    let mut r = lock(&app.router);
                    let plan = if model == "sage" {
                        r.plan(&request, state)
                    } else {
                        r.plan_model(&request, &model)
                    };
                    (plan, r.runner())
                };
                let (attempts, answer) = runner.run(&plan, Some(&mut sink));
                lock(&app.router).finish(plan, attempts, answer)
            }
        };
        if gone {
            app.metrics.cancelled.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(a) = &served.answer {
            app.metrics
                .prompt_tokens
                .fetch_add((a.timings.prompt_tokens + a.timings.cached_tokens) as u64, Ordering::Relaxed);
            app.metrics.generation_tokens.fetch_add(a.tokens as u64, Ordering::Relaxed);
        }
        app.metrics.e2e.observe(started.elapsed().as_secs_f64());
        app.metrics.residency(&app.residency.take_log());
        if let Some(store) = &app.store {
            if let Err(e) = lock(store).log_decision(app.clock.now(), "request", &served) {
                tracing::warn!(error = %e, "logging a request failed");
            }
        }
        let _ = tx.blocking_send(Chunk::Done(Box::new(served)));
    });
    rx
}

/// The error a failed request deserves: an invalid request is 400, a prompt too long everywhere
/// is 400 `context_length_exceeded`; a named model that failed is 503; the router's degraded answer
/// is not an error.
pub(crate) fn failure(model: &str, s: &Served) -> Option<ApiError> {
    if s.answer.is_some() {
        return None;
    }
    if let Some(bad) = s.attempts.iter().find_map(|a| match &a.failure {
        Some(f @ Failure::BadRequest { .. }) => Some(f.message().to_string()),
        _ => None,
    }) {
        return Some(ApiError::invalid(bad, None));
    }
    let all_context = !s.attempts.is_empty()
        && s.attempts.iter().all(|a| matches!(a.failure, Some(Failure::ContextTooLong { .. })));
    if all_context {
        let m = s
            .attempts
            .iter()
            .filter_map(|a| a.failure.as_ref().map(|f| f.message().to_string()))
            .collect::<Vec<_>>();
        return Some(ApiError::context(m.join("; ")));
    }
    if model != "sage" {
        return Some(ApiError::unavailable(s.reply.clone()));
    }
    None
}

/// The first message of a generation: a finished failure becomes its error status (before any
/// stream starts); anything else begins the stream.
pub(crate) async fn first_or_error(
    app: &App,
    model: &str,
    rx: &mut tokio::sync::mpsc::Receiver<Chunk>,
) -> Result<Chunk, ApiError> {
    let first = rx.recv().await.ok_or_else(|| ApiError::internal("the generation ended without a result"))?;
    if let Chunk::Done(s) = &first {
        if let Some(e) = failure(model, s) {
            app.metrics.finish("error");
            return Err(e);
        }
    }
    Ok(first)
}

/// A whole (non-streamed) answer: the final record, or its failure as an error status.
pub(crate) async fn whole(
    app: &App,
    model: &str,
    mut rx: tokio::sync::mpsc::Receiver<Chunk>,
) -> Result<Box<Served>, ApiError> {
    let mut served = None;
    while let Some(c) = rx.recv().await {
        if let Chunk::Done(s) = c {
            served = Some(s);
        }
    }
    let s = served.ok_or_else(|| ApiError::internal("the generation ended without a result"))?;
    if let Some(e) = failure(model, &s) {
        app.metrics.finish("error");
        return Err(e);
    }
    app.metrics.finish(if s.degraded { "degraded" } else { "ok" });
    Ok(s)
}
