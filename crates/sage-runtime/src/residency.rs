//! The residency manager: which models are loaded, within a memory budget.
//!
//! - Admission: a model that is not resident is loaded if it fits; otherwise idle models (never
//!   a busy or pinned one) are evicted, least valuable first, until it does; if it still cannot
//!   fit, a clear [`ResidencyError`] says why (the caller falls back to another model).
//! - Value of a resident model: `trust × (1 + reload seconds) / (1 + idle minutes)`: trusted,
//!   expensive to reload and recently used models stay.
//! - Two requests for one model never load it twice: the second waits for the first's load.
//! - Keep-alive: idle models past their TTL are unloaded by [`Residency::expire`].
//! - A state change sets the budget and the keep-hot set ([`Residency::apply_state`]).
//! - Every load, unload and eviction is measured and logged ([`Residency::take_log`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use sage_llm::LanguageModel;

use crate::zoo::ModelSpec;
use crate::Clock;

/// Loads models; the composition root names the concrete engines.
pub trait Loader: Send + Sync {
    /// Load `spec`. The returned model's [`sage_llm::ModelInfo`] carries the measured load
    /// seconds and resident bytes.
    fn load(&self, spec: &ModelSpec) -> Result<Arc<dyn LanguageModel>, LoaderError>;
}

/// Why a loader could not load a model.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// The engine refused the file or the settings.
    #[error(transparent)]
    Engine(#[from] sage_llm::LoadError),
    /// The model cannot be obtained here (no file, an engine this build lacks, a failed import).
    #[error("model {model}: {message}")]
    Unavailable {
        /// Model id.
        model: String,
        /// Why.
        message: String,
    },
}

/// Why a model cannot be made resident.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResidencyError {
    /// The zoo has no such model.
    #[error("no model {model} in the zoo")]
    Unknown {
        /// Model id.
        model: String,
    },
    /// It is larger than the whole budget.
    #[error("model {model} needs {need_mib} MiB, more than the whole budget of {budget_mib} MiB")]
    TooLarge {
        /// Model id.
        model: String,
        /// MiB it needs.
        need_mib: u64,
        /// MiB of the budget.
        budget_mib: u64,
    },
    /// It would fit the budget, but busy or pinned models hold the memory.
    #[error("model {model} needs {need_mib} MiB; only {free_mib} MiB can be freed (busy or pinned: {held})")]
    NoRoom {
        /// Model id.
        model: String,
        /// MiB it needs.
        need_mib: u64,
        /// MiB free after evicting every idle model.
        free_mib: u64,
        /// Models that could not be evicted.
        held: String,
    },
    /// The engine failed to load it.
    #[error("model {model} failed to load: {message}")]
    LoadFailed {
        /// Model id.
        model: String,
        /// The engine's error.
        message: String,
    },
}

/// One entry of the residency log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ResidencyLog {
    /// Loaded, with what it measured.
    Load {
        /// When.
        t: f64,
        /// Model.
        model: String,
        /// Measured resident bytes.
        bytes: u64,
        /// Measured seconds.
        seconds: f64,
        /// Why.
        why: String,
    },
    /// A load failed.
    LoadFailed {
        /// When.
        t: f64,
        /// Model.
        model: String,
        /// Error.
        error: String,
    },
    /// Unloaded.
    Unload {
        /// When.
        t: f64,
        /// Model.
        model: String,
        /// Bytes freed.
        bytes: u64,
        /// Why (eviction for another model, keep-alive expired, state change).
        why: String,
    },
}

/// A resident model, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resident {
    /// Model.
    pub model: String,
    /// Bytes.
    pub bytes: u64,
    /// Requests using it now.
    pub busy: u32,
    /// Seconds since last used.
    pub idle_s: f64,
    /// Pinned or kept hot by the state.
    pub pinned: bool,
}

enum Slot {
    Loading {
        reserved: u64,
    },
    Ready {
        model: Arc<dyn LanguageModel>,
        bytes: u64,
        load_s: f64,
        last_used: f64,
        busy: u32,
        generation: u64,
    },
}

struct Inner {
    budget: u64,
    specs: BTreeMap<String, ModelSpec>,
    slots: BTreeMap<String, Slot>,
    measured: BTreeMap<String, (u64, f64)>,
    trust: BTreeMap<String, f64>,
    hot: BTreeSet<String>,
    pins: BTreeSet<String>,
    log: Vec<ResidencyLog>,
    loads: u64,
}

impl Inner {
    fn need(&self, id: &str) -> u64 {
        match self.measured.get(id) {
            Some((b, _)) => *b,
            None => self.specs.get(id).map_or(0, ModelSpec::expected_bytes),
        }
    }
    fn used(&self) -> u64 {
        self.slots
            .values()
            .map(|s| match s {
                Slot::Loading { reserved } => *reserved,
                Slot::Ready { bytes, .. } => *bytes,
            })
            .sum()
    }
    fn held(&self, id: &str) -> bool {
        self.hot.contains(id) || self.pins.contains(id) || self.specs.get(id).is_some_and(|s| s.pinned)
    }
    fn value(&self, id: &str, now: f64) -> f64 {
        let Some(Slot::Ready { load_s, last_used, .. }) = self.slots.get(id) else { return f64::INFINITY };
        let trust = self.trust.get(id).copied().unwrap_or(0.5);
        let idle_min = ((now - last_used) / 60.0).max(0.0);
        trust * (1.0 + load_s) / (1.0 + idle_min)
    }
    fn unload(&mut self, id: &str, now: f64, why: String) {
        if let Some(Slot::Ready { bytes, model, .. }) = self.slots.remove(id) {
            tracing::info!(model = id, mib = bytes >> 20, %why, "unloaded");
            self.log.push(ResidencyLog::Unload { t: now, model: id.into(), bytes, why });
            release_elsewhere(model);
        }
    }
}

/// Drop an unloaded model on a thread of its own: freeing a 4B model's weights and KV cache and
/// joining its engine's worker takes a few hundred milliseconds, which must not stop the caller
/// (a real-time tick expiring an idle model stopped the ticks for 239 ms). The memory is free a
/// moment after the residency manager counts it free. Where no thread can be started, here.
fn release_elsewhere(model: Arc<dyn LanguageModel>) {
    let _ = std::thread::Builder::new().name("sage-unload".into()).spawn(move || drop(model));
}

/// The residency manager. Share it in an [`Arc`].
pub struct Residency {
    inner: Mutex<Inner>,
    loaded: Condvar,
    loader: Arc<dyn Loader>,
    clock: Arc<dyn Clock>,
}

/// A model in use: it cannot be evicted while a lease is alive.
pub struct Lease {
    model: Arc<dyn LanguageModel>,
    id: String,
    generation: u64,
    owner: Arc<Residency>,
}

impl Lease {
    /// The model.
    pub fn model(&self) -> &dyn LanguageModel {
        self.model.as_ref()
    }
    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Which load of the model this is (sessions of an earlier load are gone).
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let now = self.owner.clock.now();
        let mut g = self.owner.lock();
        if let Some(Slot::Ready { busy, last_used, .. }) = g.slots.get_mut(&self.id) {
            *busy = busy.saturating_sub(1);
            *last_used = now;
        }
    }
}

impl Residency {
    /// A manager for `specs` with `budget` bytes.
    pub fn new(
        specs: &[ModelSpec],
        budget: u64,
        loader: Arc<dyn Loader>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                budget,
                specs: specs.iter().map(|s| (s.id.clone(), s.clone())).collect(),
                slots: BTreeMap::new(),
                measured: BTreeMap::new(),
                trust: BTreeMap::new(),
                hot: BTreeSet::new(),
                pins: BTreeSet::new(),
                log: vec![],
                loads: 0,
            }),
            loaded: Condvar::new(),
            loader,
            clock,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is one step).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Use measured bytes and load seconds for `model` (from the store or a previous load).
    pub fn set_measured(&self, model: &str, bytes: u64, load_s: f64) {
        self.lock().measured.insert(model.to_string(), (bytes, load_s));
    }

    /// What is known about `model`'s cost: measured if it was loaded, else expected.
    pub fn cost(&self, model: &str) -> Option<(u64, f64, bool)> {
        let g = self.lock();
        match g.measured.get(model) {
            Some((b, s)) => Some((*b, *s, true)),
            None => g.specs.get(model).map(|s| (s.expected_bytes(), s.expected_load_s, false)),
        }
    }

    /// Tell the manager how much `model` is trusted (its eviction value).
    pub fn set_trust(&self, model: &str, trust: f64) {
        self.lock().trust.insert(model.to_string(), trust);
    }

    /// The budget, bytes.
    pub fn budget(&self) -> u64 {
        self.lock().budget
    }

    /// Loads made so far.
    pub fn loads(&self) -> u64 {
        self.lock().loads
    }

    /// Whether `model` is loaded.
    pub fn is_resident(&self, model: &str) -> bool {
        matches!(self.lock().slots.get(model), Some(Slot::Ready { .. }))
    }

    /// Whether admitting `model` now would evict a resident model (it is neither loaded nor
    /// loading, and does not fit beside what is).
    pub fn would_evict(&self, model: &str) -> bool {
        let g = self.lock();
        !g.slots.contains_key(model) && g.used() + g.need(model) > g.budget
    }

    /// Whether `model` could be admitted now (counting what evictions could free).
    pub fn fits(&self, model: &str) -> bool {
        let g = self.lock();
        if matches!(g.slots.get(model), Some(Slot::Ready { .. })) {
            return true;
        }
        let held: u64 = g
            .slots
            .iter()
            .map(|(id, s)| match s {
                Slot::Loading { reserved } => *reserved,
                Slot::Ready { bytes, busy, .. } if *busy > 0 || g.held(id) => *bytes,
                Slot::Ready { .. } => 0,
            })
            .sum();
        held + g.need(model) <= g.budget
    }

    /// The resident models.
    pub fn resident(&self) -> Vec<Resident> {
        let now = self.clock.now();
        let g = self.lock();
        g.slots
            .iter()
            .filter_map(|(id, s)| match s {
                Slot::Ready { bytes, busy, last_used, .. } => Some(Resident {
                    model: id.clone(),
                    bytes: *bytes,
                    busy: *busy,
                    idle_s: (now - last_used).max(0.0),
                    pinned: g.held(id),
                }),
                Slot::Loading { .. } => None,
            })
            .collect()
    }

    /// What each resident model's engine is doing (engines that keep such figures).
    pub fn engine_stats(&self) -> Vec<(String, sage_llm::EngineStats)> {
        let g = self.lock();
        g.slots
            .iter()
            .filter_map(|(id, s)| match s {
                Slot::Ready { model, .. } => model.stats().map(|st| (id.clone(), st)),
                Slot::Loading { .. } => None,
            })
            .collect()
    }

    /// Take the log of loads and unloads since the last call.
    pub fn take_log(&self) -> Vec<ResidencyLog> {
        std::mem::take(&mut self.lock().log)
    }

    /// Acquire `model` for a request, loading it (and evicting idle models) if needed. `why`
    /// is logged with a load.
    pub fn acquire(self: &Arc<Self>, model: &str, why: &str) -> Result<Lease, ResidencyError> {
        let mut g = self.lock();
        loop {
            match g.slots.get_mut(model) {
                Some(Slot::Ready { model: m, busy, generation, .. }) => {
                    *busy += 1;
                    return Ok(Lease {
                        model: m.clone(),
                        id: model.to_string(),
                        generation: *generation,
                        owner: self.clone(),
                    });
                }
                Some(Slot::Loading { .. }) => {
                    g = self.loaded.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                None => break,
            }
        }
        let Some(spec) = g.specs.get(model).cloned() else {
            return Err(ResidencyError::Unknown { model: model.into() });
        };
        let need = g.need(model);
        if need > g.budget {
            return Err(ResidencyError::TooLarge {
                model: model.into(),
                need_mib: need >> 20,
                budget_mib: g.budget >> 20,
            });
        }
        let now = self.clock.now();
        // Evict idle, unheld models, least valuable first, until it fits.
        while g.used() + need > g.budget {
            let victim = g
                .slots
                .iter()
                .filter(|(id, s)| matches!(s, Slot::Ready { busy: 0, .. }) && !g.held(id))
                .map(|(id, _)| (g.value(id, now), id.clone()))
                .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            match victim {
                Some((_, v)) => g.unload(&v, now, format!("evicted to make room for {model}")),
                None => {
                    let held: Vec<String> = g
                        .slots
                        .iter()
                        .filter(|(id, s)| !matches!(s, Slot::Ready { busy: 0, .. }) || g.held(id))
                        .map(|(id, _)| id.clone())
                        .collect();
                    return Err(ResidencyError::NoRoom {
                        model: model.into(),
                        need_mib: need >> 20,
                        free_mib: g.budget.saturating_sub(g.used()) >> 20,
                        held: held.join(", "),
                    });
                }
            }
        }
        g.slots.insert(model.to_string(), Slot::Loading { reserved: need });
        drop(g);

        let started = self.clock.now();
        let result = self.loader.load(&spec);
        let seconds = (self.clock.now() - started).max(0.0);
        let mut g = self.lock();
        g.slots.remove(model);
        let out = match result {
            Ok(m) => {
                let info = m.info();
                // Measured resident bytes; the file's weights where the platform cannot say.
                let bytes =
                    if info.resident_bytes > 0 { info.resident_bytes.max(info.weight_bytes) } else { need };
                let load_s = if info.load_s > 0.0 { info.load_s } else { seconds };
                g.measured.insert(model.to_string(), (bytes, load_s));
                g.loads += 1;
                let generation = g.loads;
                let now = self.clock.now();
                g.slots.insert(
                    model.to_string(),
                    Slot::Ready { model: m.clone(), bytes, load_s, last_used: now, busy: 1, generation },
                );
                tracing::info!(model, mib = bytes >> 20, seconds = load_s, why, "loaded");
                g.log.push(ResidencyLog::Load {
                    t: now,
                    model: model.into(),
                    bytes,
                    seconds: load_s,
                    why: why.into(),
                });
                Ok(Lease { model: m, id: model.to_string(), generation, owner: self.clone() })
            }
            Err(e) => {
                // The error names the model already where it is ours: keep its message alone.
                let message = match e {
                    LoaderError::Unavailable { message, .. } => message,
                    other => other.to_string(),
                };
                tracing::warn!(model, %message, "load failed");
                g.log.push(ResidencyLog::LoadFailed {
                    t: self.clock.now(),
                    model: model.into(),
                    error: message.clone(),
                });
                Err(ResidencyError::LoadFailed { model: model.into(), message })
            }
        };
        drop(g);
        self.loaded.notify_all();
        out
    }

    /// Pin `model` (never evicted, no keep-alive) or unpin it.
    pub fn set_pinned(&self, model: &str, pinned: bool) -> Result<(), ResidencyError> {
        let mut g = self.lock();
        if !g.specs.contains_key(model) {
            return Err(ResidencyError::Unknown { model: model.into() });
        }
        if pinned {
            g.pins.insert(model.to_string());
        } else {
            g.pins.remove(model);
        }
        Ok(())
    }

    /// How long `model` stays loaded once idle, from now on (an API's `keep_alive`).
    pub fn set_keep_alive(&self, model: &str, seconds: f64) -> Result<(), ResidencyError> {
        let mut g = self.lock();
        match g.specs.get_mut(model) {
            Some(spec) => {
                spec.keep_alive_s = seconds.max(0.0);
                Ok(())
            }
            None => Err(ResidencyError::Unknown { model: model.into() }),
        }
    }

    /// Unload `model` now if it is resident and idle. Returns whether it was resident; a busy
    /// model is an error (it is never unloaded under a request).
    pub fn unload(&self, model: &str, why: &str) -> Result<bool, ResidencyError> {
        let now = self.clock.now();
        let mut g = self.lock();
        match g.slots.get(model) {
            None if !g.specs.contains_key(model) => Err(ResidencyError::Unknown { model: model.into() }),
            None | Some(Slot::Loading { .. }) => Ok(false),
            Some(Slot::Ready { busy, .. }) if *busy > 0 => Err(ResidencyError::NoRoom {
                model: model.into(),
                need_mib: 0,
                free_mib: 0,
                held: format!("{model} is serving {busy} request(s)"),
            }),
            Some(Slot::Ready { .. }) => {
                g.pins.remove(model);
                g.unload(model, now, why.to_string());
                Ok(true)
            }
        }
    }

    /// Unload idle models whose keep-alive has passed (not pinned, not kept hot). Returns how
    /// many were unloaded.
    pub fn expire(&self) -> usize {
        let now = self.clock.now();
        let mut g = self.lock();
        let stale: Vec<String> = g
            .slots
            .iter()
            .filter(|(id, s)| match s {
                Slot::Ready { busy: 0, last_used, .. } => {
                    !g.held(id) && g.specs.get(*id).is_some_and(|spec| now - last_used >= spec.keep_alive_s)
                }
                _ => false,
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &stale {
            let ttl = g.specs.get(id).map_or(0.0, |s| s.keep_alive_s);
            g.unload(id, now, format!("idle past its keep-alive of {ttl:.0} s"));
        }
        stale.len()
    }

    /// A state change: set the budget and the keep-hot set; unload idle models that are not
    /// kept hot, least valuable first, while the state's budget is exceeded; then load the
    /// keep-hot models. (Models that still fit stay until their keep-alive: unloading them on
    /// every WAKE/DREAM cycle would reload the same model again and again.) Returns the load
    /// errors.
    pub fn apply_state(
        self: &Arc<Self>,
        state: &str,
        budget: u64,
        keep_hot: &[String],
    ) -> Vec<ResidencyError> {
        let now = self.clock.now();
        {
            let mut g = self.lock();
            g.budget = budget;
            g.hot = keep_hot.iter().cloned().collect();
            while g.used() > g.budget {
                let victim = g
                    .slots
                    .iter()
                    .filter(|(id, s)| matches!(s, Slot::Ready { busy: 0, .. }) && !g.held(id))
                    .map(|(id, _)| (g.value(id, now), id.clone()))
                    .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                match victim {
                    Some((_, v)) => {
                        g.unload(&v, now, format!("over the {state} budget of {} MiB", budget >> 20))
                    }
                    None => break,
                }
            }
        }
        let mut errors = vec![];
        for id in keep_hot {
            if let Err(e) = self.acquire(id, &format!("{state} keeps it hot")) {
                errors.push(e);
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests;
