//! Recordings of the real-time kernel and their exact replay.
//!
//! The real-time kernel's decisions depend on what each tick was given: the time, the
//! observations the inbox delivered (after coalescing), the crisis signal, the job outcomes
//! that had arrived (when each job completed or was cancelled is when its event is in a tick),
//! and what the driver told it about residency and measured costs. A live recording is a
//! JSON-lines file: a header (`sage_live: 1`, the kernel configuration, the trust it started
//! with), then one line per tick with those inputs and the digest of its decisions. A replay
//! ticks a fresh kernel with the same inputs and compares every digest; no model is loaded.

use serde::{Deserialize, Serialize};

use sage_kernel::trust::TrustEntry;
use sage_kernel::{JobEvent, Kernel, KernelConfig, NoExecutor, Observation};

use crate::record::{digest, RecordError};

/// Everything one tick of the real-time kernel was given, and the digest of what it decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveTick {
    /// Time, seconds.
    pub now: f64,
    /// Observations delivered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observations: Vec<Observation>,
    /// Crisis signalled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub crisis: bool,
    /// Job outcomes delivered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<JobEvent>,
    /// Residency told to the kernel before the tick, where it changed: `(expert, resident)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resident: Vec<(String, bool)>,
    /// Measured costs told before the tick, where they changed: `(expert, bytes, load s)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub costs: Vec<(String, u64, f64)>,
    /// The decisions' digest.
    pub digest: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct Header {
    sage_live: u32,
    config: KernelConfig,
    #[serde(default)]
    trust: Vec<(String, String, TrustEntry)>,
    #[serde(default)]
    start: f64,
    #[serde(default)]
    resident: Option<Vec<String>>,
}

/// A live recording.
#[derive(Debug, Clone)]
pub struct LiveTape {
    /// Kernel configuration.
    pub config: KernelConfig,
    /// Trust the kernel started with (restored from earlier runs), at time `start`.
    pub trust: Vec<(String, String, TrustEntry)>,
    /// Time of the trust snapshot.
    pub start: f64,
    /// The experts resident when the recording started.
    pub resident: Option<Vec<String>>,
    /// The ticks.
    pub ticks: Vec<LiveTick>,
}

impl LiveTape {
    /// A tape for `kernel` as it is now (its configuration and trust) at time `now`.
    pub fn start(kernel: &Kernel, now: f64) -> Self {
        Self {
            config: kernel.config().clone(),
            trust: kernel.trust_snapshot(now),
            start: now,
            resident: Some(kernel.resident().into_iter().map(str::to_string).collect()),
            ticks: vec![],
        }
    }

    /// The recording as JSON lines.
    pub fn write(&self) -> String {
        let header = Header {
            sage_live: 1,
            config: self.config.clone(),
            trust: self.trust.clone(),
            start: self.start,
            resident: self.resident.clone(),
        };
        let mut out = serde_json::to_string(&header).unwrap_or_default();
        out.push('\n');
        for t in &self.ticks {
            out.push_str(&serde_json::to_string(t).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    /// Whether `text` looks like a live recording (its first line has `sage_live`).
    pub fn is_live(text: &str) -> bool {
        text.lines()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .is_some_and(|v| v.get("sage_live").is_some())
    }

    /// Parse a live recording.
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let (_, first) =
            lines.next().ok_or(RecordError::Line { line: 1, message: "empty recording".into() })?;
        let h: Header =
            serde_json::from_str(first).map_err(|e| RecordError::Line { line: 1, message: e.to_string() })?;
        if h.sage_live != 1 {
            return Err(RecordError::Line {
                line: 1,
                message: format!("unknown live recording version {}", h.sage_live),
            });
        }
        let mut ticks = vec![];
        for (i, l) in lines {
            ticks.push(
                serde_json::from_str(l)
                    .map_err(|e| RecordError::Line { line: i + 1, message: e.to_string() })?,
            );
        }
        Ok(Self { config: h.config, trust: h.trust, start: h.start, resident: h.resident, ticks })
    }

    /// A fresh kernel in the state the recording started from.
    pub fn kernel(&self) -> Result<Kernel, RecordError> {
        let mut k = Kernel::new(self.config.clone())?;
        for (expert, class, entry) in &self.trust {
            k.restore_trust(expert, class, *entry, self.start);
        }
        if let Some(resident) = &self.resident {
            let names: Vec<String> = k.config().experts.iter().map(|e| e.name.clone()).collect();
            for name in names {
                k.set_resident(&name, resident.contains(&name));
            }
        }
        Ok(k)
    }

    /// Tick a fresh kernel with the recorded inputs and compare every tick's decisions.
    pub fn replay(&self) -> Result<LiveReplay, RecordError> {
        let mut k = self.kernel()?;
        let mut mismatches = vec![];
        for (i, t) in self.ticks.iter().enumerate() {
            for (expert, resident) in &t.resident {
                k.set_resident(expert, *resident);
            }
            for (expert, bytes, load_s) in &t.costs {
                k.set_cost(expert, *bytes, *load_s);
            }
            let r = k.tick_live(t.now, &t.observations, t.crisis, t.events.clone(), &mut NoExecutor);
            let d = digest(&r);
            if d != t.digest {
                mismatches.push(format!("tick {}: recorded {} replayed {}", i + 1, t.digest, d));
            }
        }
        Ok(LiveReplay { ticks: self.ticks.len(), mismatches, final_state: k.state() })
    }
}

/// What a live replay found.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveReplay {
    /// Ticks replayed.
    pub ticks: usize,
    /// Ticks whose decisions differed, described.
    pub mismatches: Vec<String>,
    /// State at the end.
    pub final_state: sage_kernel::State,
}
