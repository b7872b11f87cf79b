//! Prometheus metrics, named in the vLLM / llama.cpp style with a `sage:` prefix.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A histogram with fixed buckets (seconds).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Mutex<(Vec<u64>, f64, u64)>,
}

const LATENCY: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: Mutex::new((vec![0; bounds.len()], 0.0, 0)) }
    }

    /// Record one value.
    pub fn observe(&self, v: f64) {
        if !v.is_finite() {
            return;
        }
        let mut g = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                g.0[i] += 1;
            }
        }
        g.1 += v;
        g.2 += 1;
    }

    /// Observations so far.
    /// Mean of the observations (None before any).
    pub fn mean(&self) -> Option<f64> {
        let g = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        (g.2 > 0).then(|| g.1 / g.2 as f64)
    }

    pub fn count(&self) -> u64 {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).2
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let g = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&g.0) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {c}");
        }
        let _ =
            writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}", g.2, g.1, g.2);
    }
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// Requests generating now.
    pub running: AtomicU64,
    /// Requests waiting for a slot.
    pub waiting: AtomicU64,
    /// Requests finished, by outcome.
    pub finished: Mutex<BTreeMap<&'static str, u64>>,
    /// Requests refused because the queue was full.
    pub rejected: AtomicU64,
    /// Generations stopped because the client went away.
    pub cancelled: AtomicU64,
    /// Connections closed on arrival because the server had as many open as it allows.
    pub connections_refused: Arc<AtomicU64>,
    /// Prompt tokens evaluated or reused.
    pub prompt_tokens: AtomicU64,
    /// Tokens generated.
    pub generation_tokens: AtomicU64,
    /// Time to first token.
    pub ttft: Histogram,
    /// Time between streamed tokens.
    pub itl: Histogram,
    /// Request latency, end to end.
    pub e2e: Histogram,
    /// Model loads and their seconds, by model.
    pub loads: Mutex<BTreeMap<String, (u64, f64)>>,
    /// Unloads and evictions, by model.
    pub unloads: Mutex<BTreeMap<String, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            running: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            finished: Mutex::new(BTreeMap::new()),
            rejected: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            connections_refused: Arc::new(AtomicU64::new(0)),
            prompt_tokens: AtomicU64::new(0),
            generation_tokens: AtomicU64::new(0),
            ttft: Histogram::new(LATENCY),
            itl: Histogram::new(LATENCY),
            e2e: Histogram::new(LATENCY),
            loads: Mutex::new(BTreeMap::new()),
            unloads: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Metrics {
    /// Count a finished request.
    pub fn finish(&self, outcome: &'static str) {
        *self.finished.lock().unwrap_or_else(|e| e.into_inner()).entry(outcome).or_default() += 1;
    }

    /// Fold residency events in.
    pub fn residency(&self, logs: &[sage_runtime::ResidencyLog]) {
        for l in logs {
            match l {
                sage_runtime::ResidencyLog::Load { model, seconds, .. } => {
                    let mut g = self.loads.lock().unwrap_or_else(|e| e.into_inner());
                    let e = g.entry(model.clone()).or_default();
                    e.0 += 1;
                    e.1 += seconds;
                }
                sage_runtime::ResidencyLog::Unload { model, .. } => {
                    *self
                        .unloads
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(model.clone())
                        .or_default() += 1;
                }
                sage_runtime::ResidencyLog::LoadFailed { .. } => {}
            }
        }
    }

    /// The Prometheus text; `state` and `atp` come from the kernel, `engines` from the resident
    /// models.
    pub fn render(&self, state: &str, atp: f64, engines: &[(String, sage_llm::EngineStats)]) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, v: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        gauge(
            &mut out,
            "sage:num_requests_running",
            "Requests generating now.",
            self.running.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "sage:num_requests_waiting",
            "Requests waiting for a slot.",
            self.waiting.load(Ordering::Relaxed) as f64,
        );
        let _ = writeln!(
            out,
            "# HELP sage:requests_total Requests finished, by outcome.\n# TYPE sage:requests_total counter"
        );
        for (k, v) in self.finished.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "sage:requests_total{{outcome=\"{k}\"}} {v}");
        }
        counter(
            &mut out,
            "sage:requests_rejected_total",
            "Requests refused with 429 because the queue was full.",
            self.rejected.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sage:connections_refused_total",
            "Connections closed on arrival because as many as allowed were open.",
            self.connections_refused.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sage:requests_cancelled_total",
            "Generations stopped because the client disconnected.",
            self.cancelled.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sage:prompt_tokens_total",
            "Prompt tokens processed.",
            self.prompt_tokens.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "sage:generation_tokens_total",
            "Tokens generated.",
            self.generation_tokens.load(Ordering::Relaxed),
        );
        self.ttft.render("sage:time_to_first_token_seconds", "Time to the first generated token.", &mut out);
        self.itl.render("sage:inter_token_latency_seconds", "Time between streamed tokens.", &mut out);
        self.e2e.render("sage:e2e_request_latency_seconds", "Request latency, end to end.", &mut out);
        let _ = writeln!(
            out,
            "# HELP sage:model_loads_total Model loads.\n# TYPE sage:model_loads_total counter"
        );
        let loads = self.loads.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (m, (n, _)) in &loads {
            let _ = writeln!(out, "sage:model_loads_total{{model=\"{m}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP sage:model_load_seconds_total Seconds spent loading models.\n# TYPE sage:model_load_seconds_total counter");
        for (m, (_, s)) in &loads {
            let _ = writeln!(out, "sage:model_load_seconds_total{{model=\"{m}\"}} {s}");
        }
        let _ = writeln!(out, "# HELP sage:model_unloads_total Model unloads and evictions.\n# TYPE sage:model_unloads_total counter");
        for (m, n) in self.unloads.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "sage:model_unloads_total{{model=\"{m}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP sage:metabolic_state The kernel's metabolic state (1 for the current one).\n# TYPE sage:metabolic_state gauge");
        for s in ["WAKE", "FOCUS", "REST", "DREAM", "CRISIS"] {
            let _ = writeln!(out, "sage:metabolic_state{{state=\"{s}\"}} {}", u8::from(s == state));
        }
        gauge(&mut out, "sage:atp", "The kernel's ATP balance.", atp);
        type Figure = fn(&sage_llm::EngineStats) -> f64;
        let per_engine: [(&str, &str, &str, Figure); 6] = [
            (
                "sage:engine_sequences_generating",
                "gauge",
                "Sequences generating in the model's batch.",
                |s| s.generating as f64,
            ),
            (
                "sage:engine_requests_waiting",
                "gauge",
                "Requests waiting inside the engine for a sequence.",
                |s| s.waiting as f64,
            ),
            (
                "sage:kv_cache_usage_ratio",
                "gauge",
                "Tokens held in the KV cache over its cells (a shared prefix counts per sequence).",
                |s| if s.kv_cells > 0 { s.kv_tokens as f64 / s.kv_cells as f64 } else { 0.0 },
            ),
            ("sage:engine_steps_total", "counter", "Batched decode steps.", |s| s.steps as f64),
            (
                "sage:prompt_tokens_evaluated_total",
                "counter",
                "Prompt tokens evaluated by the engine.",
                |s| s.prompt_tokens_evaluated as f64,
            ),
            (
                "sage:prompt_tokens_reused_total",
                "counter",
                "Prompt tokens found in the KV cache (the session's own or another sequence's prefix).",
                |s| s.prompt_tokens_reused as f64,
            ),
        ];
        for (name, kind, help, figure) in per_engine {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (m, st) in engines {
                let _ = writeln!(out, "{name}{{model=\"{m}\"}} {}", figure(st));
            }
        }
        out
    }
}

/// The real-time kernel's figures and its inbox's counts per source, in Prometheus text.
pub(crate) fn render_live(
    f: &crate::LiveFigures,
    counts: &std::collections::BTreeMap<String, sage_runtime::live::SourceCounts>,
) -> String {
    let mut out = String::new();
    let v = serde_json::to_value(f).unwrap_or_default();
    if let Some(o) = v.as_object() {
        for (k, x) in o {
            let kind = if k.ends_with("_s") { "gauge" } else { "counter" };
            let _ = writeln!(out, "# TYPE sage:live_{k} {kind}\nsage:live_{k} {}", x.as_f64().unwrap_or(0.0));
        }
    }
    let _ = writeln!(
        out,
        "# HELP sage:inputs_total Inputs per source: received, delivered to the kernel, coalesced (a newer reading replaced it), refused, undecodable.\n# TYPE sage:inputs_total counter"
    );
    for (source, c) in counts {
        let source = source.replace(['"', '\\', '\n'], "_");
        for (what, n) in [
            ("received", c.received),
            ("delivered", c.delivered),
            ("coalesced", c.coalesced),
            ("refused", c.refused),
            ("undecodable", c.undecodable),
        ] {
            let _ = writeln!(out, "sage:inputs_total{{source=\"{source}\",outcome=\"{what}\"}} {n}");
        }
    }
    out
}
