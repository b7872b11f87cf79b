//! The real-time kernel's inbox: bounded, with a stated policy per kind of input.
//!
//! - A **sensor** source keeps one reading, its latest: a reading that replaces one the
//!   kernel has not seen yet is *coalesced* (counted). Memory is one reading per source,
//!   whatever the rate.
//! - **Text** (messages, questions, alerts) is never dropped silently: texts wait in one FIFO
//!   of at most `max_texts`; a text that finds it full is *refused* (counted, and the sender is
//!   told: HTTP answers 429, a Zenoh input logs it) rather than evicting one already accepted.
//! - Sources are named by the outside world: at most `max_sources` are tracked; a new source
//!   beyond that is refused.
//!
//! Every tick takes the waiting sensor readings and up to `texts_per_tick` texts.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use sage_kernel::{Observation, Payload};

/// Bounds of an [`Inbox`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InboxConfig {
    /// Texts waiting at most.
    pub max_texts: usize,
    /// Texts one tick takes at most (the rest wait for the next ticks).
    pub texts_per_tick: usize,
    /// Sources tracked at most.
    pub max_sources: usize,
    /// Values one sensor reading may carry.
    pub max_values: usize,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self { max_texts: 1024, texts_per_tick: 8, max_sources: 1024, max_values: 4096 }
    }
}

/// What happened to one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Waiting for the next tick.
    Queued,
    /// Waiting for the next tick, in place of an older reading of its source (which is
    /// counted as coalesced).
    Coalesced,
    /// Not accepted: why.
    Refused(String),
}

/// Counts of one source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceCounts {
    /// Inputs received (accepted or not).
    pub received: u64,
    /// Given to the kernel.
    pub delivered: u64,
    /// Sensor readings replaced by a newer one before a tick took them.
    pub coalesced: u64,
    /// Refused (queue full, too many sources, too many values).
    pub refused: u64,
    /// Payloads that could not be decoded (counted by the transport that received them).
    pub undecodable: u64,
}

#[derive(Default)]
struct State {
    sensors: BTreeMap<String, Observation>,
    texts: VecDeque<Observation>,
    crisis: bool,
    counts: BTreeMap<String, SourceCounts>,
}

/// The bounded inbox shared by every input (HTTP, Zenoh, recordings) and the tick loop.
pub struct Inbox {
    config: InboxConfig,
    state: Mutex<State>,
}

impl Inbox {
    /// An empty inbox.
    pub fn new(config: InboxConfig) -> Self {
        Self { config, state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Offer one observation.
    pub fn push(&self, obs: Observation) -> Admission {
        let mut s = self.lock();
        if !s.counts.contains_key(&obs.source) && s.counts.len() >= self.config.max_sources {
            return Admission::Refused(format!(
                "source {:?} is new and {} sources are tracked already",
                obs.source, self.config.max_sources
            ));
        }
        let max_texts = self.config.max_texts;
        let max_values = self.config.max_values;
        let State { sensors, texts, counts, .. } = &mut *s;
        let c = counts.entry(obs.source.clone()).or_default();
        c.received += 1;
        match &obs.payload {
            Payload::Sensor(v) if v.len() > max_values => {
                c.refused += 1;
                Admission::Refused(format!("{} values from {}; at most {max_values}", v.len(), obs.source))
            }
            Payload::Sensor(_) => match sensors.insert(obs.source.clone(), obs) {
                Some(_) => {
                    c.coalesced += 1;
                    Admission::Coalesced
                }
                None => Admission::Queued,
            },
            Payload::Text(_) if texts.len() >= max_texts => {
                c.refused += 1;
                Admission::Refused(format!("{max_texts} texts are waiting already"))
            }
            Payload::Text(_) => {
                texts.push_back(obs);
                Admission::Queued
            }
        }
    }

    /// Signal a crisis: the next tick is told.
    pub fn crisis(&self) {
        self.lock().crisis = true;
    }

    /// Count an input of `source` that could not be decoded.
    pub fn undecodable(&self, source: &str) {
        let mut s = self.lock();
        if s.counts.contains_key(source) || s.counts.len() < self.config.max_sources {
            let c = s.counts.entry(source.to_string()).or_default();
            c.received += 1;
            c.undecodable += 1;
        }
    }

    /// What the next tick takes: every waiting sensor reading, up to `texts_per_tick` texts,
    /// and whether a crisis was signalled (which is then cleared).
    pub fn take(&self) -> (Vec<Observation>, bool) {
        let mut s = self.lock();
        let mut out: Vec<Observation> = std::mem::take(&mut s.sensors).into_values().collect();
        let n = s.texts.len().min(self.config.texts_per_tick);
        out.extend(s.texts.drain(..n));
        for o in &out {
            if let Some(c) = s.counts.get_mut(&o.source) {
                c.delivered += 1;
            }
        }
        let crisis = std::mem::take(&mut s.crisis);
        (out, crisis)
    }

    /// Inputs waiting: `(sensor readings, texts)`.
    pub fn waiting(&self) -> (usize, usize) {
        let s = self.lock();
        (s.sensors.len(), s.texts.len())
    }

    /// Counts per source.
    pub fn counts(&self) -> BTreeMap<String, SourceCounts> {
        self.lock().counts.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensors_coalesce_to_their_latest_reading_and_texts_wait_in_order() {
        let inbox = Inbox::new(InboxConfig { texts_per_tick: 2, ..InboxConfig::default() });
        for i in 0..1000 {
            let a = inbox.push(Observation::sensor("imu", vec![i as f64]));
            assert_eq!(a, if i == 0 { Admission::Queued } else { Admission::Coalesced });
        }
        for t in ["one", "two", "three"] {
            assert_eq!(inbox.push(Observation::text("op", t)), Admission::Queued);
        }
        let (obs, crisis) = inbox.take();
        assert!(!crisis);
        assert_eq!(obs[0], Observation::sensor("imu", vec![999.0]));
        assert_eq!(obs[1..], [Observation::text("op", "one"), Observation::text("op", "two")]);
        let (obs, _) = inbox.take();
        assert_eq!(obs, [Observation::text("op", "three")]);
        let c = inbox.counts();
        assert_eq!(
            c["imu"],
            SourceCounts { received: 1000, delivered: 1, coalesced: 999, refused: 0, undecodable: 0 }
        );
        assert_eq!(c["op"].delivered, 3);
        assert_eq!(inbox.waiting(), (0, 0));
    }

    #[test]
    fn a_full_text_queue_refuses_and_counts_and_keeps_what_it_accepted() {
        let inbox = Inbox::new(InboxConfig { max_texts: 3, ..InboxConfig::default() });
        for i in 0..5 {
            let a = inbox.push(Observation::text("op", &format!("message {i}")));
            assert_eq!(matches!(a, Admission::Refused(_)), i >= 3, "{i}: {a:?}");
        }
        assert_eq!(inbox.counts()["op"].refused, 2);
        let (obs, _) = inbox.take();
        assert_eq!(obs.len(), 3);
        assert_eq!(obs[0], Observation::text("op", "message 0"));
    }

    #[test]
    fn sources_and_values_are_bounded_and_a_crisis_is_told_once() {
        let inbox = Inbox::new(InboxConfig { max_sources: 2, max_values: 4, ..InboxConfig::default() });
        assert_eq!(inbox.push(Observation::sensor("a", vec![1.0])), Admission::Queued);
        assert!(matches!(inbox.push(Observation::sensor("b", vec![0.0; 5])), Admission::Refused(_)));
        assert!(matches!(inbox.push(Observation::sensor("c", vec![1.0])), Admission::Refused(_)));
        assert_eq!(inbox.counts().len(), 2);
        inbox.crisis();
        assert!(inbox.take().1);
        assert!(!inbox.take().1);
    }
}
