//! The stages of one tick, in order: `begin`, `settle` (jobs whose outcome arrived), `score`
//! (salience), `attend` (threshold, plugin slots, preemption, deferral), `route` (the selector),
//! `allocate` (ATP, with the executor's plan), `dispatch` (external jobs leave with their ATP
//! held; built-in plugins start), `run` (built-ins interleaved), `learn` (trust, feedback) and
//! `metabolise` (base cost, recovery, state machine, keep-hot). Each stage reads and writes a
//! [`TickCtx`]; none reads a clock or does I/O.

use sage_irp::HaltReason;

use super::builtin::{run_interleaved, start_job, Job};
use super::jobs::{Awaiting, JobEnd, JobEvent, JobKind, Preemption, RunningJob, MAX_AWAITING};
use super::*;
use crate::atp::{allocate, Allocation, EntryKind, Target};
use crate::metabolic::{Biases, Circadian, Inputs, Policy, State};
use crate::router::{Candidate, Context};
use crate::snarc::{Salience, SnarcError};
use crate::trust::{Outcome, TrustEvent};

/// How external jobs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Inside the tick, through the executor (lock step: `sage run`, `Kernel::tick_with`).
    Inline,
    /// Outside the kernel: dispatched in the report and settled when their event arrives.
    Spanning,
}

/// What the stages of one tick share.
pub(super) struct TickCtx {
    pub tick: u64,
    pub now: f64,
    pub state: State,
    pub policy: Policy,
    pub crisis: bool,
    pub mode: Mode,
    pub trust_events: Vec<TrustEvent>,
    pub residency: Vec<ResidencyEvent>,
    /// ATP spent this tick (semantic scoring, planning, runs settled).
    pub spent: f64,
    /// This tick's observations followed by the deferred ones offered again.
    pub observations: Vec<Observation>,
    pub reports: Vec<ObservationReport>,
    pub attended: Vec<usize>,
    pub busy: Vec<bool>,
    pub decisions: Vec<Routing>,
    pub routed: Vec<(usize, u32)>,
    pub allocation: Allocation,
    pub plan: Option<PlanOutcome>,
    pub builtin: Vec<Job>,
    pub external: Vec<Dispatch>,
    pub runs: Vec<RunReport>,
    pub failures: Vec<(u32, String)>,
    pub preempted: Vec<Preemption>,
    pub ended: Vec<JobEnd>,
    pub unknown_events: usize,
    pub feedback_applied: usize,
    /// Texts whose semantic score arrived this tick: `(observation, salience, class, tick seen)`.
    pub rescored: Vec<(Observation, Salience, String, u64)>,
    /// Their report indices (they count for the state machine as fresh observations).
    pub rescored_at: Vec<usize>,
    /// When each held observation offered again began its hold: `(report index, time, tick)`.
    pub held_since: Vec<(usize, f64, u64)>,
    /// Held observations given up on (held too long, or no room to hold them).
    pub expired: usize,
}

impl Kernel {
    /// Start a tick: its number, state, policy, the swap window and trust's cool-downs.
    pub(super) fn begin(&mut self, now: f64, crisis: bool, mode: Mode) -> TickCtx {
        self.tick += 1;
        let tick = self.tick;
        let state = self.machine.state();
        let policy = self.config.policies.get(state).clone();
        if tick - self.window_start >= self.config.swap_window {
            self.window_start = tick;
            self.swaps_in_window = 0;
        }
        let trust_events = self.trust.refresh(now);
        let mut busy = vec![false; self.config.experts.len()];
        for j in &self.running {
            busy[j.expert as usize] = true;
        }
        TickCtx {
            tick,
            now,
            state,
            policy,
            crisis,
            mode,
            trust_events,
            residency: vec![],
            spent: 0.0,
            observations: vec![],
            reports: vec![],
            attended: vec![],
            busy,
            decisions: vec![],
            routed: vec![],
            allocation: Allocation::default(),
            plan: None,
            builtin: vec![],
            external: vec![],
            runs: vec![],
            failures: vec![],
            preempted: vec![],
            ended: vec![],
            unknown_events: 0,
            feedback_applied: 0,
            rescored: vec![],
            rescored_at: vec![],
            held_since: vec![],
            expired: 0,
        }
    }

    /// Settle the jobs whose outcome arrived: their held ATP becomes what they spent, a
    /// completed run is reported (and learnt from), a failure or a cancellation is reported as
    /// a [`JobEnd`]. Events for jobs the kernel does not hold are counted and ignored.
    pub(super) fn settle(&mut self, ctx: &mut TickCtx, events: Vec<JobEvent>) {
        for event in events {
            if let JobEvent::Scored { job, score, cost } = event {
                match self.awaiting.iter().position(|a| a.job == job) {
                    Some(pos) => {
                        let a = self.awaiting.remove(pos);
                        self.settle_score(ctx, a, score, cost);
                    }
                    None => ctx.unknown_events += 1,
                }
                continue;
            }
            let Some(pos) = self.running.iter().position(|j| j.job == event.job()) else {
                ctx.unknown_events += 1;
                continue;
            };
            let job = self.running.remove(pos);
            let (run, cancelled) = match event {
                JobEvent::Done { run, .. } => (run, None),
                JobEvent::Cancelled { run, reason, .. } => (run, Some(reason)),
                JobEvent::Scored { .. } => continue,
            };
            self.settle_one(ctx, &job, run, cancelled, None);
        }
    }

    /// Settle a scoring job: its cost comes out of what it held, and the text it scored is
    /// offered at this tick with the blended salience.
    fn settle_score(&mut self, ctx: &mut TickCtx, a: Awaiting, score: Option<f64>, cost: f64) {
        ctx.spent += self.ledger.settle(ctx.tick, a.held, cost, None);
        let s = match score {
            Some(x) if x.is_finite() => self.snarc.blend(a.salience, x),
            _ => a.salience,
        };
        let class = a.obs.class(s.dims.arousal).to_string();
        ctx.rescored.push((a.obs, s, class, a.tick));
    }

    /// Settle one job; `observation` is its index in this tick when it ran inline.
    fn settle_one(
        &mut self,
        ctx: &mut TickCtx,
        job: &RunningJob,
        run: ExternalRun,
        cancelled: Option<String>,
        observation: Option<usize>,
    ) {
        let expert_name = self.config.experts[job.expert as usize].name.clone();
        let used = run.used.as_deref().and_then(|n| self.expert_id(n));
        for (name, _) in &run.failed {
            if let Some(id) = self.expert_id(name) {
                ctx.failures.push((id, job.class.clone()));
            }
        }
        let charged_to = used.or(Some(job.expert));
        let spent = self.ledger.settle(ctx.tick, job.held, run.telemetry.atp_spent, charged_to);
        ctx.spent += spent;
        let quality = run.quality.unwrap_or_else(|| quality_of(&run.telemetry)).clamp(0.0, 1.0);
        let why_failed =
            || run.failed.iter().map(|(n, w)| format!("{n}: {w}")).collect::<Vec<_>>().join("; ");
        match (cancelled, used, observation) {
            (None, None, Some(i)) => ctx.reports[i].attention = Attention::Unrouted { why: why_failed() },
            (None, Some(_), _) => ctx.runs.push(RunReport {
                observation: observation.unwrap_or(0),
                expert: run.used.clone().unwrap_or(expert_name),
                class: job.class.clone(),
                allocated: job.grant,
                reallocated: 0.0,
                telemetry: run.telemetry,
                quality,
                output: run.output,
                job: observation.is_none().then_some(job.job),
                dispatched_at: observation.is_none().then_some(job.tick),
            }),
            (cancelled, _, _) => ctx.ended.push(JobEnd {
                job: job.job,
                dispatched_at: job.tick,
                expert: expert_name,
                class: job.class.clone(),
                outcome: if cancelled.is_some() { "cancelled" } else { "failed" }.into(),
                why: cancelled.unwrap_or_else(why_failed),
                output: run.output,
                spent,
            }),
        }
    }

    /// Salience of every observation (sensors of the tick as one frame; ambiguous text asked of
    /// the executor once), then the deferred observations offered again.
    pub(super) fn score(
        &mut self,
        ctx: &mut TickCtx,
        observations: &[Observation],
        executor: &mut dyn Executor,
    ) {
        let sensor_sal = self.score_sensors(observations);
        let mut sensor_iter = sensor_sal.into_iter();
        ctx.reports.reserve(observations.len());
        for o in observations {
            let sal = match &o.payload {
                Payload::Sensor(_) => sensor_iter.next().unwrap_or(Ok(Salience {
                    dims: Default::default(),
                    total: 0.0,
                    confidence: 0.0,
                    semantic: None,
                    evidence: 0.0,
                    confirms: false,
                })),
                Payload::Text(t) => Ok(self.score_text(ctx, &o.source, t, o.semantic, executor)),
            };
            // In the real-time kernel an ambiguous text waits for a scoring job.
            if let (Ok(s), Payload::Text(_)) = (&sal, &o.payload) {
                if let Some(job) = self.await_score(ctx, o, *s) {
                    self.remember_dims(&o.source, s.dims, ctx.tick);
                    ctx.reports.push(ObservationReport {
                        source: o.source.clone(),
                        class: o.class(s.dims.arousal).to_string(),
                        salience: Some(*s),
                        attention: Attention::Scoring { job },
                        deferred_from: None,
                        onset: None,
                    });
                    continue;
                }
            }
            // A reading that confirms a change: the change began at the source's reading before.
            let onset = match &sal {
                Ok(s) => self.remember_dims(&o.source, s.dims, ctx.tick).filter(|_| s.confirms),
                Err(_) => None,
            };
            ctx.reports.push(match sal {
                Ok(s) => ObservationReport {
                    source: o.source.clone(),
                    class: o.class(s.dims.arousal).to_string(),
                    salience: Some(s),
                    attention: Attention::Ignored,
                    deferred_from: None,
                    onset,
                },
                Err(e) => ObservationReport {
                    source: o.source.clone(),
                    class: o.class(0.0).to_string(),
                    salience: None,
                    attention: Attention::Rejected { error: e.to_string() },
                    deferred_from: None,
                    onset: None,
                },
            });
        }
        ctx.observations = observations.to_vec();
        // Texts whose score arrived, then observations capped at earlier ticks, are offered.
        for (obs, salience, class, origin) in std::mem::take(&mut ctx.rescored) {
            ctx.rescored_at.push(ctx.reports.len());
            ctx.reports.push(ObservationReport {
                source: obs.source.clone(),
                class,
                salience: Some(salience),
                attention: Attention::Ignored,
                deferred_from: Some(origin),
                onset: None,
            });
            ctx.observations.push(obs);
        }
        for d in std::mem::take(&mut self.deferred) {
            // A state that runs nothing (DREAM) does not age what it holds: its hold begins
            // again, so it is offered for the usual ticks once the kernel wakes, whatever the
            // thresholds (before, a 6σ jump held through a dream it did not wake expired).
            let (seen_at, since_tick) =
                if ctx.policy.max_plugins == 0 { (ctx.now, ctx.tick) } else { (d.seen_at, d.since_tick) };
            if ctx.tick - since_tick > MAX_DEFER_TICKS && ctx.now - seen_at > MAX_DEFER_S {
                ctx.expired += 1;
                continue;
            }
            ctx.held_since.push((ctx.reports.len(), seen_at, since_tick));
            ctx.reports.push(ObservationReport {
                source: d.obs.source.clone(),
                class: d.class,
                salience: Some(d.salience),
                attention: Attention::Ignored,
                deferred_from: Some(d.origin),
                onset: d.onset,
            });
            ctx.observations.push(d.obs);
        }
    }

    /// The valid sensor readings scored as one frame; invalid ones rejected alone. One result
    /// per sensor observation, in order.
    fn score_sensors(&mut self, observations: &[Observation]) -> Vec<Result<Salience, SnarcError>> {
        let sensors: Vec<(&str, &[f64])> = observations
            .iter()
            .filter_map(|o| match &o.payload {
                Payload::Sensor(v) => Some((o.source.as_str(), v.as_slice())),
                Payload::Text(_) => None,
            })
            .collect();
        if sensors.is_empty() {
            return vec![];
        }
        let valid_reading = |v: &[f64]| !v.is_empty() && v.iter().all(|x| x.is_finite());
        let valid: Vec<(&str, &[f64])> = sensors.iter().copied().filter(|(_, v)| valid_reading(v)).collect();
        let mut scored = self.snarc.assess_frame(&valid).unwrap_or_default().into_iter();
        sensors
            .iter()
            .map(|(s, v)| {
                if v.is_empty() {
                    Err(SnarcError::EmptyVector { sensor: s.to_string() })
                } else if let Some(index) = v.iter().position(|x| !x.is_finite()) {
                    Err(SnarcError::NotFinite { sensor: s.to_string(), index })
                } else {
                    scored.next().ok_or_else(|| SnarcError::EmptyVector { sensor: s.to_string() })
                }
            })
            .collect()
    }

    /// In the real-time kernel, an ambiguous text (cheap salience inside the semantic band, no
    /// score given) waits for a scoring job with `score_grant` ATP held: its number, or `None`
    /// when it is decided on now (lock step, not ambiguous, or too many waiting already).
    fn await_score(&mut self, ctx: &mut TickCtx, o: &Observation, cheap: Salience) -> Option<u64> {
        let (lo, hi) = self.config.semantic_band;
        let ambiguous = o.semantic.is_none() && cheap.total >= lo && cheap.total <= hi;
        if ctx.mode != Mode::Spanning || !ambiguous || self.awaiting.len() >= MAX_AWAITING {
            return None;
        }
        self.next_job += 1;
        let job = self.next_job;
        let held = self.ledger.reserve(ctx.tick, self.config.score_grant, None);
        self.awaiting.push(Awaiting { job, tick: ctx.tick, held, obs: o.clone(), salience: cheap });
        ctx.external.push(Dispatch {
            job,
            kind: JobKind::Score,
            tick: ctx.tick,
            state: ctx.state,
            observation: ctx.reports.len(),
            input: o.clone(),
            salience: cheap.total,
            class: o.class(cheap.dims.arousal).to_string(),
            expert: String::new(),
            alternatives: vec![],
            grant: self.config.score_grant,
        });
        Some(job)
    }

    /// Cheap salience of a text, blended with the executor's semantic score when ambiguous
    /// (in lock step: the real-time kernel asks a scoring job instead).
    fn score_text(
        &mut self,
        ctx: &mut TickCtx,
        source: &str,
        text: &str,
        semantic: Option<f64>,
        executor: &mut dyn Executor,
    ) -> Salience {
        let mut s = self.snarc.assess_text(source, text, semantic);
        let (lo, hi) = self.config.semantic_band;
        if ctx.mode == Mode::Inline && semantic.is_none() && s.total >= lo && s.total <= hi {
            if let Some((score, cost)) = executor.score(source, text, s.total) {
                if score.is_finite() {
                    s = self.snarc.blend(s, score);
                }
                if cost.is_finite() && cost > 0.0 {
                    ctx.spent += self.ledger.debit(ctx.tick, EntryKind::PluginSpend, cost, None);
                }
            }
        }
        s
    }

    /// Remember `source`'s last observation (its dimensions, come in at `tick`); returns the tick
    /// of the one before.
    fn remember_dims(&mut self, source: &str, dims: crate::snarc::Dims, tick: u64) -> Option<u64> {
        match self.last_dims.get_mut(source) {
            Some(d) => return Some(std::mem::replace(d, (dims, tick)).1),
            None => {
                // Sources are named by the outside world: as many as SNARC remembers (the
                // feedback a forgotten source gets no longer teaches the weights).
                if self.last_dims.len() >= 2 * crate::snarc::MAX_STREAMS {
                    self.last_dims.pop_first();
                }
                self.last_dims.insert(source.to_string(), (dims, tick));
            }
        }
        None
    }

    /// The observations above the attention threshold, most salient first, within the
    /// plugin slots that running jobs leave; a crisis, or an observation more salient than a
    /// running job by the preemption margin, takes a running job's slot. The rest are capped
    /// and deferred.
    pub(super) fn attend(&mut self, ctx: &mut TickCtx) {
        let salience = |r: &ObservationReport| r.salience.map_or(0.0, |s| s.total);
        let mut attended: Vec<usize> = ctx
            .reports
            .iter()
            .enumerate()
            .filter(|(_, r)| r.salience.is_some_and(|s| s.total >= self.config.attention_threshold))
            .filter(|(_, r)| !matches!(r.attention, Attention::Scoring { .. }))
            .map(|(i, _)| i)
            .collect();
        attended.sort_by(|&a, &b| {
            salience(&ctx.reports[b]).total_cmp(&salience(&ctx.reports[a])).then(a.cmp(&b))
        });
        if ctx.crisis {
            self.preempt_all(ctx, "a crisis was signalled");
        }
        let active = self.running.iter().filter(|j| j.cancelling.is_none()).count();
        let mut free = ctx.policy.max_plugins.saturating_sub(active);
        for &i in attended.iter().skip(free) {
            if free >= ctx.policy.max_plugins {
                break;
            }
            if self.preempt_for(ctx, salience(&ctx.reports[i])) {
                free += 1;
            }
        }
        for &i in attended.iter().skip(free) {
            self.defer(ctx, i);
        }
        attended.truncate(free);
        ctx.attended = attended;
    }

    /// Ask for the cancellation of every running job dispatched outside CRISIS.
    fn preempt_all(&mut self, ctx: &mut TickCtx, why: &str) {
        for j in self.running.iter_mut().filter(|j| j.cancelling.is_none() && j.state != State::Crisis) {
            j.cancelling = Some(why.to_string());
            ctx.preempted.push(Preemption {
                job: j.job,
                expert: self.config.experts[j.expert as usize].name.clone(),
                salience: j.salience,
                reason: why.to_string(),
            });
        }
    }

    /// Preempt the least salient running job if `salience` beats it by the margin.
    fn preempt_for(&mut self, ctx: &mut TickCtx, salience: f64) -> bool {
        let margin = self.config.preempt_margin;
        let victim = self
            .running
            .iter_mut()
            .filter(|j| j.cancelling.is_none())
            .min_by(|a, b| a.salience.total_cmp(&b.salience).then(a.job.cmp(&b.job)));
        match victim {
            Some(j) if salience >= j.salience + margin => {
                let why = format!(
                    "an observation of salience {salience:.2} beat its {:.2} by at least {margin:.2}",
                    j.salience
                );
                j.cancelling = Some(why.clone());
                ctx.preempted.push(Preemption {
                    job: j.job,
                    expert: self.config.experts[j.expert as usize].name.clone(),
                    salience: j.salience,
                    reason: why,
                });
                true
            }
            _ => false,
        }
    }

    /// Cap observation `i` and hold it for the next ticks: a sensor keeps one held reading,
    /// its most salient; messages are each held.
    fn defer(&mut self, ctx: &mut TickCtx, i: usize) {
        ctx.reports[i].attention = Attention::Capped;
        let Some(sal) = ctx.reports[i].salience else { return };
        let (seen_at, since_tick) =
            ctx.held_since.iter().find(|(j, _, _)| *j == i).map_or((ctx.now, ctx.tick), |(_, t, k)| (*t, *k));
        let held = Deferred {
            origin: ctx.reports[i].deferred_from.unwrap_or(ctx.tick),
            onset: ctx.reports[i].onset,
            since_tick,
            seen_at,
            obs: ctx.observations[i].clone(),
            salience: sal,
            class: ctx.reports[i].class.clone(),
        };
        let same = matches!(held.obs.payload, Payload::Sensor(_))
            .then(|| {
                self.deferred.iter().position(|d| {
                    d.obs.source == held.obs.source && matches!(d.obs.payload, Payload::Sensor(_))
                })
            })
            .flatten();
        match same {
            Some(j) => {
                // One reading held per sensor, the more salient; the source's news went
                // unattended from the earlier of the two, whose tick the one kept names as its
                // onset.
                let kept = &mut self.deferred[j];
                let began = kept.onset.unwrap_or(kept.origin).min(held.onset.unwrap_or(held.origin));
                if sal.total > kept.salience.total {
                    *kept = held;
                }
                if began < kept.origin {
                    kept.onset = Some(began);
                }
            }
            None if self.deferred.len() < MAX_DEFERRED => self.deferred.push(held),
            None => ctx.expired += 1,
        }
    }

    /// Jobs running on expert `id` that still take one of its slots.
    fn jobs_on(&self, id: u32) -> u32 {
        self.running.iter().filter(|j| j.expert == id).count() as u32
    }

    /// Route every attended observation: the selector's choice, or the best runnable
    /// alternative when it cannot run here (memory, cool-down, every slot of it busy).
    pub(super) fn route(&mut self, ctx: &mut TickCtx) {
        let mut candidates: Vec<Candidate> = Vec::with_capacity(self.config.experts.len());
        for i in ctx.attended.clone() {
            let class = ctx.reports[i].class.clone();
            candidates.clear();
            for (id, e) in self.config.experts.iter().enumerate() {
                if !e.classes.contains_key(&class) {
                    continue;
                }
                let trust = self.trust.trust(id as u32, &class);
                candidates.push(Candidate {
                    id: id as u32,
                    expertise: trust,
                    trust,
                    resident: self.resident[id],
                    cold_cost: e.load_s / self.config.reference_load_s,
                    run_cost: 0.0,
                    bytes: e.bytes,
                    fits: self.fits(id, &ctx.busy),
                    evicts: false,
                    anchored: false,
                    suppressed: self.trust.is_suppressed(id as u32, &class),
                });
            }
            let context = Context {
                state: ctx.state,
                swaps_left: self.config.swap_budget.saturating_sub(self.swaps_in_window),
                incumbent: self.incumbents.get(&class).copied(),
                exploration: ctx.policy.exploration,
                // Short of energy (under 30% of the maximum), every state prefers light experts.
                prefer_light: (self.ledger.balance() < 0.3 * self.ledger.max()).then_some(true),
            };
            let d = self.selector.select(&context, &candidates);
            // Slots of an external expert in the real-time kernel: its running jobs and those
            // routed to it this tick (in lock step its jobs run one after another in the tick).
            let spanning = ctx.mode == Mode::Spanning;
            let free = |k: &Self, id: u32| {
                let spec = &k.config.experts[id as usize];
                let taken = ctx.routed.iter().filter(|(_, r)| *r == id).count() as u32;
                !spanning || spec.plugin != Builtin::External || k.jobs_on(id) + taken < spec.slots.max(1)
            };
            let runnable = |k: &Self, c: &Candidate| !c.suppressed && (c.resident || c.fits) && free(k, c.id);
            let mut fallback = None;
            let used = match d.chosen {
                Some(id) if candidates.iter().any(|c| c.id == id && runnable(self, c)) => Some(id),
                Some(id) => {
                    let name = &self.config.experts[id as usize].name;
                    let why = if !free(self, id) {
                        format!("every slot of {name} is running a job")
                    } else {
                        let budget = self.memory_budget(ctx.state) >> 20;
                        let need = self.config.experts[id as usize].bytes >> 20;
                        format!(
                            "{name} needs {need} MiB, more than the {} budget of {budget} MiB allows",
                            ctx.state
                        )
                    };
                    let mut ranked: Vec<&crate::router::Factors> = d.candidates.iter().collect();
                    ranked.sort_by(|a, b| b.permission.total_cmp(&a.permission));
                    let alt = ranked
                        .into_iter()
                        .find(|f| f.id != id && candidates.iter().any(|c| c.id == f.id && runnable(self, c)))
                        .map(|f| f.id);
                    fallback = Some(match alt {
                        Some(a) => format!("{why}; fell back to {}", self.config.experts[a as usize].name),
                        None => format!("{why}, and no other expert for {class} is available"),
                    });
                    alt
                }
                None => {
                    fallback = Some(format!("every expert for {class} is cooled down or none serves it"));
                    None
                }
            };
            match used {
                Some(id) => {
                    if !self.resident[id as usize] {
                        self.swaps_in_window += 1;
                        self.total_swaps += 1;
                        self.load(
                            id as usize,
                            &ctx.busy,
                            &format!("routed {class} to it"),
                            &mut ctx.residency,
                        );
                    }
                    ctx.busy[id as usize] = true;
                    self.last_used[id as usize] = ctx.tick;
                    self.incumbents.insert(class.clone(), id);
                    ctx.routed.push((i, id));
                    ctx.reports[i].attention = Attention::Attended;
                }
                // An expert busy with jobs frees up: the observation waits for it.
                None if d.chosen.is_some_and(|id| !free(self, id)) => self.defer(ctx, i),
                None => {
                    ctx.reports[i].attention =
                        Attention::Unrouted { why: fallback.clone().unwrap_or_default() };
                }
            }
            ctx.decisions.push(Routing { observation: i, class, decision: d, used, fallback });
        }
    }

    /// Split this tick's budget over the routed observations by `salience × trust`, or by the
    /// executor's plan where several compete and one goes to an external expert.
    pub(super) fn allocate(&mut self, ctx: &mut TickCtx, executor: &mut dyn Executor) {
        let cycle_budget = self.ledger.balance() * ctx.policy.budget_share;
        let targets: Vec<Target> = ctx
            .routed
            .iter()
            .map(|&(i, id)| Target {
                index: i,
                salience: ctx.reports[i].salience.map_or(0.0, |s| s.total),
                trust: self.trust.trust(id, &ctx.reports[i].class),
            })
            .collect();
        ctx.allocation = allocate(cycle_budget, ctx.policy.max_plugins, self.config.probe_floor, &targets);
        let external = |id: u32| self.config.experts[id as usize].plugin == Builtin::External;
        let competing = ctx.allocation.grants.len() >= 2
            && ctx
                .allocation
                .grants
                .iter()
                .any(|(i, _)| ctx.routed.iter().any(|&(j, id)| j == *i && external(id)));
        if !competing {
            return;
        }
        let tasks: Vec<PlanTask> = ctx
            .allocation
            .grants
            .iter()
            .filter_map(|&(i, g)| {
                let &(_, id) = ctx.routed.iter().find(|(j, _)| *j == i)?;
                let gist = match &ctx.observations[i].payload {
                    Payload::Text(t) => t.chars().take(80).collect(),
                    Payload::Sensor(v) => format!("{} readings from {}", v.len(), ctx.observations[i].source),
                };
                Some(PlanTask {
                    class: ctx.reports[i].class.clone(),
                    expert: self.config.experts[id as usize].name.clone(),
                    salience: ctx.reports[i].salience.map_or(0.0, |s| s.total),
                    trust: self.trust.trust(id, &ctx.reports[i].class),
                    gist,
                    heuristic: g,
                })
            })
            .collect();
        let Some((asked, cost)) = executor.plan(ctx.allocation.cycle_budget, &tasks) else {
            return;
        };
        let cost = if cost.is_finite() && cost > 0.0 {
            ctx.spent += self.ledger.debit(ctx.tick, EntryKind::PluginSpend, cost, None);
            cost
        } else {
            0.0
        };
        // The planning cost comes out of this tick's budget.
        let mut h = ctx.allocation.clone();
        let left = (h.cycle_budget - cost).max(0.0);
        let scale = if h.cycle_budget > 0.0 { left / h.cycle_budget } else { 0.0 };
        h.cycle_budget = left;
        for g in &mut h.grants {
            g.1 *= scale;
        }
        match crate::atp::apply_plan(&h, &asked) {
            Ok((a, clamped)) => {
                ctx.allocation = a;
                ctx.plan = Some(PlanOutcome::Plan { asked, clamped, cost });
            }
            Err(why) => {
                ctx.allocation = h;
                ctx.plan = Some(PlanOutcome::Rejected { why: why.to_string(), cost });
            }
        }
    }

    /// Start what was allocated: an external expert's job gets a number and its ATP held; a
    /// built-in plugin's run starts.
    pub(super) fn dispatch(&mut self, ctx: &mut TickCtx) {
        for &(i, grant) in &ctx.allocation.grants.clone() {
            let Some(&(_, id)) = ctx.routed.iter().find(|(j, _)| *j == i) else {
                continue;
            };
            let spec = &self.config.experts[id as usize];
            if spec.plugin != Builtin::External {
                let trust = self.trust.trust(id, &ctx.reports[i].class);
                match start_job(spec, &ctx.observations[i], grant) {
                    Ok(run) => ctx.builtin.push(Job {
                        obs: i,
                        expert: id,
                        allocated: grant,
                        reallocated: 0.0,
                        trust,
                        run,
                        done: false,
                    }),
                    Err(e) => ctx.reports[i].attention = Attention::Rejected { error: e.to_string() },
                }
                continue;
            }
            let alternatives = self.alternatives(ctx, i, id);
            self.next_job += 1;
            let salience = ctx.reports[i].salience.map_or(0.0, |s| s.total);
            let held = self.ledger.reserve(ctx.tick, grant, Some(id));
            self.running.push(RunningJob {
                job: self.next_job,
                tick: ctx.tick,
                state: ctx.state,
                expert: id,
                class: ctx.reports[i].class.clone(),
                salience,
                grant,
                held,
                cancelling: None,
            });
            ctx.external.push(Dispatch {
                job: self.next_job,
                kind: JobKind::Answer,
                tick: ctx.tick,
                state: ctx.state,
                observation: i,
                input: ctx.observations[i].clone(),
                salience,
                class: ctx.reports[i].class.clone(),
                expert: spec.name.clone(),
                alternatives,
                grant,
            });
        }
    }

    /// Other external experts for observation `i`'s class, most permitted first.
    fn alternatives(&self, ctx: &TickCtx, i: usize, id: u32) -> Vec<String> {
        let Some(d) = ctx.decisions.iter().find(|d| d.observation == i) else {
            return vec![];
        };
        let mut ranked: Vec<&crate::router::Factors> = d.decision.candidates.iter().collect();
        ranked.sort_by(|a, b| b.permission.total_cmp(&a.permission));
        ranked
            .into_iter()
            .filter(|f| {
                f.id != id
                    && f.excluded.is_none()
                    && self.config.experts[f.id as usize].plugin == Builtin::External
            })
            .map(|f| self.config.experts[f.id as usize].name.clone())
            .collect()
    }

    /// Run this tick's work: in lock step the executor runs each external job now and it is
    /// settled at once; the built-in plugins run interleaved and are debited what they spent.
    pub(super) fn run(&mut self, ctx: &mut TickCtx, executor: &mut dyn Executor) {
        run_interleaved(&mut ctx.builtin, self.config.probe_floor);
        if ctx.mode == Mode::Inline {
            for job in std::mem::take(&mut ctx.external) {
                let out = executor.execute(&job);
                let Some(pos) = self.running.iter().position(|r| r.job == job.job) else { continue };
                let running = self.running.remove(pos);
                self.settle_one(ctx, &running, out, None, Some(job.observation));
            }
        }
        for job in std::mem::take(&mut ctx.builtin) {
            let (telemetry, output) = job.run.finish();
            ctx.spent +=
                self.ledger.debit(ctx.tick, EntryKind::PluginSpend, telemetry.atp_spent, Some(job.expert));
            let quality = quality_of(&telemetry);
            ctx.runs.push(RunReport {
                observation: job.obs,
                expert: self.config.experts[job.expert as usize].name.clone(),
                class: ctx.reports[job.obs].class.clone(),
                allocated: job.allocated,
                reallocated: job.reallocated,
                telemetry,
                quality,
                output,
                job: None,
                dispatched_at: None,
            });
        }
    }

    /// Trust learns from the runs and failures (cancellations teach nothing), and queued
    /// feedback is applied, in states whose policy allows learning.
    pub(super) fn learn(&mut self, ctx: &mut TickCtx) {
        if !ctx.policy.learning {
            return;
        }
        for (id, class) in &ctx.failures {
            ctx.trust_events.extend(self.trust.record(
                *id,
                class,
                Outcome { success: false, quality: 0.0 },
                ctx.now,
            ));
        }
        for r in &ctx.runs {
            let Some(id) = self.expert_id(&r.expert) else {
                continue;
            };
            let success = r.telemetry.halt_reason != HaltReason::Error;
            ctx.trust_events.extend(self.trust.record(
                id,
                &r.class,
                Outcome { success, quality: r.quality },
                ctx.now,
            ));
        }
        ctx.feedback_applied = self.apply_feedback(ctx.now, &mut ctx.trust_events);
    }

    /// Base cost and recovery, the state machine, and the new state's keep-hot set and
    /// consolidation; the tick's report.
    pub(super) fn metabolise(&mut self, mut ctx: TickCtx) -> TickReport {
        let base_cost = self.ledger.debit(ctx.tick, EntryKind::BaseCost, ctx.policy.base_cost, None);
        let recovered = self.ledger.credit(ctx.tick, EntryKind::Recovery, ctx.policy.recovery);
        let biases = match self.config.circadian_period {
            Some(period) => Circadian { period }.biases(ctx.tick),
            None => Biases::NEUTRAL,
        };
        // Held observations were seen already; they keep counting only where nothing can be
        // attended (so that a held event can still wake a dreaming kernel).
        let max_salience = ctx
            .reports
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                r.deferred_from.is_none() || ctx.policy.max_plugins == 0 || ctx.rescored_at.contains(i)
            })
            .filter(|(_, r)| !matches!(r.attention, Attention::Scoring { .. }))
            .map(|(_, r)| r)
            .filter_map(|r| r.salience.map(|s| s.total))
            .fold(0.0, f64::max);
        let transition = self.machine.update(Inputs {
            atp: self.ledger.balance(),
            salience: max_salience,
            crisis: ctx.crisis,
            biases,
        });
        let mut consolidated = 0;
        if let Some(t) = transition {
            self.apply_keep_hot(t.to, &mut ctx.residency);
            if self.config.policies.get(t.to).consolidation {
                consolidated = self.trust.consolidate(ctx.now);
            }
        }
        TickReport {
            tick: ctx.tick,
            now: ctx.now,
            state: ctx.state,
            transition,
            observations: ctx.reports,
            decisions: ctx.decisions,
            runs: ctx.runs,
            atp: AtpReport {
                allocated: ctx.allocation.cycle_budget,
                spent: ctx.spent,
                base_cost,
                recovered,
                balance: self.ledger.balance(),
                reserved: self.ledger.reserved(),
            },
            residency: ctx.residency,
            trust_events: ctx.trust_events,
            consolidated,
            feedback_applied: ctx.feedback_applied,
            plan: ctx.plan,
            dispatched: ctx.external,
            preempted: ctx.preempted,
            ended: ctx.ended,
            running: self.running.len(),
            unknown_events: ctx.unknown_events,
            expired: ctx.expired,
            next_tick_in_s: self.config.policies.get(self.machine.state()).tick_interval_s,
        }
    }
}
