//! SNARC salience: Surprise, Novelty, Arousal, Reward, Conflict.
//!
//! One scorer for numeric sensor vectors ([`Snarc::assess_frame`]) and one for text
//! ([`Snarc::assess_text`]); both produce a [`Salience`] value with the five dimensions in
//! `[0, 1]`, the rule's evidence, the total, and a confidence.
//!
//! **The rule** (decision 0013): `total = max(evidence, 0.6 × weighted SNARC)`, where a sensor
//! reading's evidence is its surprise (the largest deviation of any dimension from that
//! dimension's running level, in units of its running noise: see [`levels`]) and a message's
//! evidence is its strongest cue (hazard, urgency, question, instruction, new name: see
//! [`cues`]). Evidence is what makes an observation salient on its own; the weighted SNARC
//! dimensions (whose weights learn from outcomes, [`Snarc::learn`]) grade the rest and can lift
//! an observation to at most 0.6. An external semantic-importance score (from a language model)
//! refines a message the rule is unsure of: `total = 0.5 × that + 0.5 × semantic`.
//!
//! Deviations from the Python reference are listed in `docs/decisions/0002-kernel-deviations.md`.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::text::{is_stopword, normalize_word};

pub mod cues;
pub mod cycle;
pub mod levels;
mod lexicon;
mod mishap_words;
mod orders;
mod patterns;
pub mod pool;
pub mod regime;
pub mod tails;
pub mod warmup;

use levels::{Levels, Z_SALIENT};

/// A sensor reading past its deviation threshold (and not back at a known level) is at least
/// this surprising: the attention threshold in WAKE, so that crossing the threshold is what
/// attention means.
pub const EVIDENCE_FLOOR: f64 = 0.35;
/// Share of the weighted SNARC dimensions in the total: without evidence, an observation's
/// salience is at most this.
pub const WEIGHTED_SHARE: f64 = 0.6;
/// Outcomes remembered per sensor or text stream.
const OUTCOME_MEMORY: usize = 200;
/// Window of the cross-sensor correlation used by Conflict.
const CONFLICT_WINDOW: usize = 20;
/// Minimum samples before Conflict is computed.
const CONFLICT_MIN: usize = 5;
/// EMA rate of the expected cross-sensor correlation.
const EXPECT_ALPHA: f64 = 0.1;
/// Recent text messages kept for surprise and novelty.
const TEXT_WINDOW: usize = 64;
/// Word overlap (Jaccard) with a recent message from which a message counts as a repeat.
const REPEAT_SIMILARITY: f64 = 0.8;
/// Messages a source must have sent before its words say what is routine for it.
const NEWS_AFTER: usize = 10;
/// Share of a message's words (two at least, numbers aside) new to its source that make it news.
const NEWS_SHARE: f64 = 0.75;
/// Smallest weight a dimension can learn down to.
const MIN_WEIGHT: f64 = 0.05;
/// Sensor streams and text sources remembered at once (names come from outside: beyond this the
/// one seen least recently is forgotten, so memory stays bounded whatever the inputs).
pub const MAX_STREAMS: usize = 1024;
/// Sensor pairs whose usual correlation is remembered.
const MAX_PAIRS: usize = 8192;

/// The five SNARC dimensions, each in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Dims {
    /// Prediction error.
    pub surprise: f64,
    /// Dissimilarity to recent memory.
    pub novelty: f64,
    /// Intensity.
    pub arousal: f64,
    /// Expected value from similar past outcomes (0.5 when unknown).
    pub reward: f64,
    /// Disagreement between sensors or with expectation.
    pub conflict: f64,
}

impl Dims {
    /// The dimensions as an array in S, N, A, R, C order.
    pub fn as_array(&self) -> [f64; 5] {
        [self.surprise, self.novelty, self.arousal, self.reward, self.conflict]
    }
}

/// Names of the dimensions, in S, N, A, R, C order.
pub const DIM_NAMES: [&str; 5] = ["surprise", "novelty", "arousal", "reward", "conflict"];

/// A salience assessment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Salience {
    /// The five dimensions.
    pub dims: Dims,
    /// Weighted total in `[0, 1]` (with the semantic blend when one was given).
    pub total: f64,
    /// `1 - min(2·var(dims), 1)`: how much the dimensions agree.
    pub confidence: f64,
    /// The external semantic-importance score blended in, if any.
    pub semantic: Option<f64>,
    /// The rule's evidence: a sensor reading's surprise, a message's strongest cue.
    #[serde(default)]
    pub evidence: f64,
    /// A sensor reading that confirms a change its source's previous reading began under the
    /// deviation threshold ([`levels::Deviation::confirmed`]): the change is news from that
    /// reading on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirms: bool,
}

/// SNARC weights; they always sum to 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights(pub [f64; 5]);

impl Default for Weights {
    fn default() -> Self {
        Self([0.2; 5])
    }
}

impl Weights {
    fn combine(&self, d: &Dims) -> f64 {
        clamp01(self.0.iter().zip(d.as_array()).map(|(w, x)| w * x).sum())
    }
}

/// Settings of the salience scorer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnarcConfig {
    /// Initial weights.
    pub weights: Weights,
    /// Weight learning rate (share of the dominant weight moved per outcome).
    pub learning_rate: f64,
    /// Words that mark urgency in text (the urgency cue; hazards are a fixed list, see
    /// [`cues`]).
    pub urgency_words: Vec<String>,
    /// Domain keywords whose density raises a message's arousal a little (at most 0.3).
    pub keywords: Vec<String>,
    /// Words that mark contradiction in text.
    pub contradiction_words: Vec<String>,
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for SnarcConfig {
    fn default() -> Self {
        Self {
            weights: Weights::default(),
            learning_rate: 0.05,
            urgency_words: words(&[
                "urgent",
                "urgently",
                "immediately",
                "asap",
                "hurry",
                "quickly",
                "critical",
                "warning",
                "alert",
                "stop",
                "halt",
                "abort",
                "mayday",
                "sos",
                "careful",
                "caution",
                "beware",
                "stat",
            ]),
            keywords: words(&[
                "robot",
                "battery",
                "motor",
                "sensor",
                "obstacle",
                "temperature",
                "arm",
                "camera",
                "lidar",
                "path",
                "goal",
                "door",
                "person",
                "human",
                "charge",
                "load",
                "memory",
                "model",
                "task",
                "plan",
            ]),
            // Not "no" or "not": a negation is no contradiction ("no anomalies detected").
            contradiction_words: words(&[
                "but",
                "however",
                "wrong",
                "incorrect",
                "contradicts",
                "conflict",
                "disagree",
                "instead",
                "although",
                "despite",
                "unexpected",
                "mismatch",
            ]),
        }
    }
}

/// Small ring buffer of f64 with a fixed capacity.
#[derive(Debug, Clone, Default)]
struct Ring {
    buf: VecDeque<f64>,
    cap: usize,
}

impl Ring {
    fn new(cap: usize) -> Self {
        Self { buf: VecDeque::with_capacity(cap), cap }
    }
    fn push(&mut self, x: f64) {
        if self.buf.len() == self.cap {
            self.buf.pop_front();
        }
        self.buf.push_back(x);
    }
    fn len(&self) -> usize {
        self.buf.len()
    }
}

/// What is remembered about one numeric sensor.
#[derive(Debug, Clone)]
struct SensorTrack {
    /// When it was last assessed (the scorer's use counter).
    seen: u64,
    /// Level and noise per dimension (None before the first reading).
    levels: Option<Levels>,
    /// The watch for a fast cycle in its readings ([`cycle`]).
    cycle: cycle::Watch,
    outcomes: VecDeque<(Vec<f64>, f64)>,
    last: Option<Vec<f64>>,
    norms: Ring,
}

impl SensorTrack {
    fn new() -> Self {
        Self {
            seen: 0,
            levels: None,
            cycle: cycle::Watch::default(),
            outcomes: VecDeque::new(),
            last: None,
            norms: Ring::new(CONFLICT_WINDOW),
        }
    }
}

/// What is remembered about one text stream (a source of messages).
#[derive(Debug, Clone, Default)]
struct TextTrack {
    /// When it was last assessed.
    seen: u64,
    recent: VecDeque<HashSet<String>>,
    vocabulary: HashMap<String, u32>,
    outcomes: VecDeque<(HashSet<String>, f64)>,
    last: Option<HashSet<String>>,
}

/// The salience scorer. Deterministic: the same observations in the same order give the same
/// scores.
#[derive(Debug, Clone)]
pub struct Snarc {
    config: SnarcConfig,
    weights: Weights,
    sensors: HashMap<String, SensorTrack>,
    /// Expected correlation per sensor pair (names sorted).
    expected_corr: HashMap<(String, String), f64>,
    texts: HashMap<String, TextTrack>,
    /// The last [`TEXT_WINDOW`] messages' content words, from every source.
    heard: VecDeque<HashSet<String>>,
    /// Assessments so far (the recency clock of streams).
    uses: u64,
    urgency: HashSet<String>,
    keywords: HashSet<String>,
    contradiction: HashSet<String>,
}

/// The stream seen least recently (ties: the smallest name, so that the choice is
/// deterministic).
fn least_recent<T>(map: &HashMap<String, T>, seen: impl Fn(&T) -> u64) -> Option<String> {
    map.iter().min_by(|a, b| seen(a.1).cmp(&seen(b.1)).then_with(|| a.0.cmp(b.0))).map(|(k, _)| k.clone())
}

/// A salience input that cannot be scored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SnarcError {
    /// A sensor vector was empty.
    #[error("sensor {sensor}: empty vector")]
    EmptyVector {
        /// Sensor name.
        sensor: String,
    },
    /// A sensor vector contained NaN or infinity.
    #[error("sensor {sensor}: value {index} is not finite")]
    NotFinite {
        /// Sensor name.
        sensor: String,
        /// Index of the bad value.
        index: usize,
    },
}

impl Snarc {
    /// A scorer with the given settings.
    pub fn new(config: SnarcConfig) -> Self {
        let set = |v: &[String]| v.iter().map(|w| w.to_lowercase()).collect::<HashSet<_>>();
        Self {
            weights: config.weights,
            urgency: set(&config.urgency_words),
            keywords: set(&config.keywords),
            contradiction: set(&config.contradiction_words),
            config,
            sensors: HashMap::new(),
            expected_corr: HashMap::new(),
            texts: HashMap::new(),
            heard: VecDeque::new(),
            uses: 0,
        }
    }

    /// Current weights.
    pub fn weights(&self) -> Weights {
        self.weights
    }

    /// `salience` with an external semantic-importance score blended in (as if it had been
    /// given to [`Snarc::assess_text`]), without observing the message again.
    pub fn blend(&self, salience: Salience, semantic: f64) -> Salience {
        self.finish(salience.dims, Some(semantic), salience.evidence)
    }

    /// The total by the rule: `max(evidence, 0.6 × weighted)`, and with a semantic score
    /// `0.5 × that + 0.5 × semantic`.
    fn finish(&self, dims: Dims, semantic: Option<f64>, evidence: f64) -> Salience {
        let a = dims.as_array();
        let mean = a.iter().sum::<f64>() / 5.0;
        let var = a.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 5.0;
        let confidence = 1.0 - (2.0 * var).min(1.0);
        let evidence = clamp01(evidence);
        let base = evidence.max(WEIGHTED_SHARE * self.weights.combine(&dims));
        let total = match semantic {
            Some(s) => clamp01(0.5 * base + 0.5 * clamp01(s)),
            None => base,
        };
        Salience { dims, total, confidence, semantic: semantic.map(clamp01), evidence, confirms: false }
    }

    /// Score one frame of numeric sensor readings observed together. Conflict compares the
    /// sensors of the frame with each other. Returns one assessment per input, in order.
    pub fn assess_frame(&mut self, frame: &[(&str, &[f64])]) -> Result<Vec<Salience>, SnarcError> {
        for (name, v) in frame {
            if v.is_empty() {
                return Err(SnarcError::EmptyVector { sensor: name.to_string() });
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(SnarcError::NotFinite { sensor: name.to_string(), index: i });
            }
        }
        let mut dims: Vec<(Dims, f64, bool)> = Vec::with_capacity(frame.len());
        for (name, v) in frame {
            self.uses += 1;
            if !self.sensors.contains_key(*name) && self.sensors.len() >= MAX_STREAMS {
                if let Some(old) = least_recent(&self.sensors, |t| t.seen) {
                    self.sensors.remove(&old);
                    self.expected_corr.retain(|(a, b), _| *a != old && *b != old);
                }
            }
            let track = match self.sensors.get_mut(*name) {
                Some(t) => t,
                None => self.sensors.entry(name.to_string()).or_insert_with(SensorTrack::new),
            };
            track.seen = self.uses;
            dims.push(assess_sensor(track, v));
        }
        // Conflict: how far each pair's current correlation is from what it usually is.
        if frame.len() > 1 {
            let mut conflict = vec![0.0f64; frame.len()];
            for i in 0..frame.len() {
                for j in i + 1..frame.len() {
                    let (a, b) = (frame[i].0, frame[j].0);
                    let (ta, tb) = match (self.sensors.get(a), self.sensors.get(b)) {
                        (Some(x), Some(y)) => (x, y),
                        _ => continue,
                    };
                    let Some(corr) = pearson(&ta.norms, &tb.norms) else {
                        continue;
                    };
                    let key =
                        if a < b { (a.to_string(), b.to_string()) } else { (b.to_string(), a.to_string()) };
                    if !self.expected_corr.contains_key(&key) && self.expected_corr.len() >= MAX_PAIRS {
                        continue;
                    }
                    let expected = self.expected_corr.entry(key).or_insert(corr);
                    // Only a break from a reliable expectation is a conflict: weight the
                    // deviation by how strongly the pair usually correlates.
                    let c = clamp01((corr - *expected).abs() * expected.abs());
                    *expected += EXPECT_ALPHA * (corr - *expected);
                    conflict[i] = conflict[i].max(c);
                    conflict[j] = conflict[j].max(c);
                }
            }
            for ((d, _, _), c) in dims.iter_mut().zip(conflict) {
                d.conflict = c;
            }
        }
        Ok(dims
            .into_iter()
            .map(|(d, evidence, confirms)| Salience { confirms, ..self.finish(d, None, evidence) })
            .collect())
    }

    /// Score a text message from `source`. `semantic` is an optional external importance score
    /// in `[0, 1]`; when given, `total = 0.5·(the rule's total) + 0.5·semantic`.
    pub fn assess_text(&mut self, source: &str, text: &str, semantic: Option<f64>) -> Salience {
        let raw: Vec<&str> = text.split_whitespace().collect();
        let tokens: Vec<String> = raw.iter().map(|w| normalize_word(w)).filter(|w| !w.is_empty()).collect();
        let content: HashSet<String> = tokens.iter().filter(|w| !is_stopword(w)).cloned().collect();
        self.uses += 1;
        if !self.texts.contains_key(source) && self.texts.len() >= MAX_STREAMS {
            if let Some(old) = least_recent(&self.texts, |t| t.seen) {
                self.texts.remove(&old);
            }
        }
        let track = self.texts.entry(source.to_string()).or_default();
        track.seen = self.uses;

        // Surprise: share of content words not in the recent vocabulary (all of them for a
        // source's first message: nothing is expected of it yet).
        let surprise = if content.is_empty() {
            0.0
        } else if track.vocabulary.is_empty() {
            1.0
        } else {
            content.iter().filter(|w| !track.vocabulary.contains_key(*w)).count() as f64
                / content.len() as f64
        };
        // Novelty: 1 - max Jaccard similarity to recent messages.
        let similar = track.recent.iter().map(|m| jaccard(m, &content)).fold(0.0, f64::max);
        let novelty = if track.recent.is_empty() { 1.0 } else { 1.0 - similar };
        // The rule's cues (hazard, urgency, question, instruction, new name).
        let vocabulary = &track.vocabulary;
        let mut cues = cues::read(text, &|w| vocabulary.contains_key(w), &self.urgency);
        // A situation told again in the same words ("3 people in zone B" every few minutes) is a
        // status line by now; an order, a question or a hazard said again still counts.
        if similar >= REPEAT_SIMILARITY {
            cues.event = false;
        }
        // News: once a source's routine is known, a message mostly in words it has not used
        // lately ("the cows broke through the east fence" among status lines), and not a line
        // heard lately from another ("Pump primed" from the ground crew, then the pilot).
        let words: Vec<&String> = content.iter().filter(|w| !w.chars().any(|c| c.is_ascii_digit())).collect();
        let unknown = words.iter().filter(|w| !track.vocabulary.contains_key(**w)).count();
        let heard = self.heard.iter().any(|m| jaccard(m, &content) >= REPEAT_SIMILARITY);
        cues.news = track.recent.len() >= NEWS_AFTER
            && !cues.report
            && !cues.routine
            && !heard
            && words.len() >= 2
            && unknown as f64 >= NEWS_SHARE * words.len() as f64;
        let evidence = cues.evidence();
        // Arousal: the message's intensity (hazard, urgency), a little for domain keywords.
        let density = if content.is_empty() {
            0.0
        } else {
            (3.0 * content.iter().filter(|w| self.keywords.contains(*w)).count() as f64
                / content.len() as f64)
                .min(1.0)
        };
        let arousal = clamp01(cues.intensity().max(0.3 * density));
        // Reward: what similar messages led to; a question is worth answering.
        let mut reward = expected_reward(track.outcomes.iter().map(|(m, r)| (jaccard(m, &content), *r)));
        if cues.question {
            reward = reward.max(0.75);
        }
        // Conflict: contradiction markers.
        let contra = tokens.iter().filter(|w| self.contradiction.contains(*w)).count() as f64;
        let conflict = clamp01(contra / 2.0);

        // Remember.
        if track.recent.len() == TEXT_WINDOW {
            if let Some(old) = track.recent.pop_front() {
                for w in old {
                    if let Some(c) = track.vocabulary.get_mut(&w) {
                        *c -= 1;
                        if *c == 0 {
                            track.vocabulary.remove(&w);
                        }
                    }
                }
            }
        }
        for w in &content {
            *track.vocabulary.entry(w.clone()).or_insert(0) += 1;
        }
        track.last = Some(content.clone());
        if self.heard.len() == TEXT_WINDOW {
            self.heard.pop_front();
        }
        self.heard.push_back(content.clone());
        track.recent.push_back(content);

        let dims = Dims { surprise, novelty, arousal, reward, conflict };
        self.finish(dims, semantic, evidence)
    }

    /// Record the outcome of attending to the last observation of `stream` (a sensor name or a
    /// text source): `reward` in `[-1, 1]`. Future similar observations expect that reward.
    pub fn record_outcome(&mut self, stream: &str, reward: f64) {
        let reward = if reward.is_finite() {
            reward.clamp(-1.0, 1.0)
        } else {
            return;
        };
        if let Some(t) = self.sensors.get_mut(stream) {
            if let Some(last) = t.last.clone() {
                if t.outcomes.len() == OUTCOME_MEMORY {
                    t.outcomes.pop_front();
                }
                t.outcomes.push_back((last, reward));
            }
        }
        if let Some(t) = self.texts.get_mut(stream) {
            if let Some(last) = t.last.clone() {
                if t.outcomes.len() == OUTCOME_MEMORY {
                    t.outcomes.pop_front();
                }
                t.outcomes.push_back((last, reward));
            }
        }
    }

    /// Learn the weights from an outcome: the dimension that dominated `dims` gains weight when
    /// the outcome was good (`reward > 0`) and loses weight when it was bad; the others share the
    /// difference. Weights stay at least 0.05 and sum to 1.
    pub fn learn(&mut self, dims: &Dims, reward: f64) {
        if !reward.is_finite() || reward == 0.0 {
            return;
        }
        let a = dims.as_array();
        let mut k = 0;
        for i in 1..5 {
            if a[i] > a[k] {
                k = i;
            }
        }
        let w = &mut self.weights.0;
        let lr = self.config.learning_rate * reward.clamp(-1.0, 1.0).abs();
        let delta = if reward > 0.0 {
            // Take from the others, no one below the floor.
            let room: f64 = (0..5).filter(|&i| i != k).map(|i| (w[i] - MIN_WEIGHT).max(0.0)).sum();
            (lr * w[k]).min(room)
        } else {
            -(lr * w[k]).min((w[k] - MIN_WEIGHT).max(0.0))
        };
        if delta == 0.0 {
            return;
        }
        w[k] += delta;
        if delta > 0.0 {
            let room: f64 = (0..5).filter(|&i| i != k).map(|i| (w[i] - MIN_WEIGHT).max(0.0)).sum();
            for i in (0..5).filter(|&i| i != k) {
                w[i] -= delta * (w[i] - MIN_WEIGHT).max(0.0) / room;
            }
        } else {
            for i in (0..5).filter(|&i| i != k) {
                w[i] += -delta / 4.0;
            }
        }
        let s: f64 = w.iter().sum();
        for x in w.iter_mut() {
            *x /= s;
        }
    }
}

/// The five dimensions of one reading and its evidence (its surprise). Surprise: 0 below the
/// deviation threshold (see [`levels::threshold`]) and for a return to a level the source held
/// recently; past it, from 0.35 (attention in WAKE) to 1 at 6σ; novelty: how far
/// it is from every level it held recently (1 for a source's first reading); arousal: how far
/// it is from the slow home level. Nothing counts during a source's first [`levels::EARLY`]
/// readings. A reading that confirms a change its source's last reading began under the
/// threshold ([`levels::Deviation::confirmed`]) is news as a deviation of the two readings'
/// mean would be; the flag returned says so.
fn assess_sensor(track: &mut SensorTrack, v: &[f64]) -> (Dims, f64, bool) {
    let norm = l2(v);
    let (surprise, novelty, arousal, confirms) = match &mut track.levels {
        Some(l) if l.dims() == v.len() => {
            let before = (v.len() <= cycle::MAX_DIMS).then(|| l.prediction().to_vec());
            let d = l.observe(&track.cycle.remove(v));
            track.cycle.learn(v, before.as_deref(), l);
            if d.warm {
                let confirms = d.confirmed > 0.0;
                let news = (d.z >= d.threshold && !d.returned()) || confirms;
                let surprise = if news {
                    let z = if confirms { d.z.max(d.confirmed) } else { d.z };
                    EVIDENCE_FLOOR + (1.0 - EVIDENCE_FLOOR) * ramp(z, d.threshold, Z_SALIENT)
                } else {
                    0.0
                };
                (
                    surprise,
                    ramp(d.z_known, d.threshold, 2.0 * Z_SALIENT),
                    ramp(d.z_home, d.threshold, 2.0 * Z_SALIENT),
                    confirms,
                )
            } else {
                (0.0, 0.0, 0.0, false)
            }
        }
        Some(_) => {
            // A shape change is maximally surprising; the levels start again.
            let mut levels = Levels::new(v);
            track.cycle = cycle::Watch::default();
            track.cycle.learn(v, None, &mut levels);
            track.levels = Some(levels);
            (1.0, 1.0, 0.0, false)
        }
        None => {
            let mut levels = Levels::new(v);
            track.cycle.learn(v, None, &mut levels);
            track.levels = Some(levels);
            (0.0, 1.0, 0.0, false)
        }
    };
    // Reward: expected value of similar past outcomes.
    let reward = expected_reward(track.outcomes.iter().map(|(o, r)| (similarity(o, l2(o), v, norm), *r)));
    track.last = Some(v.to_vec());
    track.norms.push(norm);
    let dims = Dims {
        surprise: clamp01(surprise),
        novelty: clamp01(novelty),
        arousal: clamp01(arousal),
        reward,
        conflict: 0.0,
    };
    (dims, dims.surprise, confirms)
}

/// 0 at or below `from`, 1 at or above `to`, linear in between.
fn ramp(x: f64, from: f64, to: f64) -> f64 {
    if to <= from {
        return if x >= to { 1.0 } else { 0.0 };
    }
    clamp01((x - from) / (to - from))
}

/// Expected reward from the 10 most similar past outcomes: the similarity-weighted mean of
/// `(r+1)/2`, shrunk toward 0.5 by a prior pseudo-weight so that one unrelated outcome cannot
/// decide it. 0.5 with none.
fn expected_reward(it: impl Iterator<Item = (f64, f64)>) -> f64 {
    const PRIOR_WEIGHT: f64 = 0.25;
    let mut top: Vec<(f64, f64)> = it.collect();
    if top.is_empty() {
        return 0.5;
    }
    top.sort_by(|a, b| b.0.total_cmp(&a.0));
    top.truncate(10);
    let wsum: f64 = top.iter().map(|(s, _)| s).sum();
    let r = top.iter().map(|(s, r)| s * (r + 1.0) / 2.0).sum::<f64>();
    clamp01((r + 0.5 * PRIOR_WEIGHT) / (wsum + PRIOR_WEIGHT))
}

/// `(cos + 1) / 2`, 0 when shapes differ; for scalars `exp(-|Δ|/10)`.
fn similarity(a: &[f64], an: f64, b: &[f64], bn: f64) -> f64 {
    if a.len() != b.len() {
        return 0.0;
    }
    if a.len() == 1 {
        return (-(a[0] - b[0]).abs() / 10.0).exp();
    }
    if an == 0.0 || bn == 0.0 {
        return if an == bn { 1.0 } else { 0.5 };
    }
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    (dot / (an * bn)).clamp(-1.0, 1.0) * 0.5 + 0.5
}

fn pearson(a: &Ring, b: &Ring) -> Option<f64> {
    let n = a.len().min(b.len());
    if n < CONFLICT_MIN {
        return None;
    }
    let xs = a.buf.iter().skip(a.len() - n);
    let ys: Vec<f64> = b.buf.iter().skip(b.len() - n).copied().collect();
    let (mx, my) =
        (a.buf.iter().skip(a.len() - n).sum::<f64>() / n as f64, ys.iter().sum::<f64>() / n as f64);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.zip(ys.iter()) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    if sxx <= 1e-12 || syy <= 1e-12 {
        // A constant sensor correlates with nothing; treat as uncorrelated.
        return Some(0.0);
    }
    Some(sxy / (sxx * syy).sqrt())
}

fn l2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn jaccard(a: &HashSet<String>, b: &HashSet<String>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let inter = a.iter().filter(|w| b.contains(*w)).count() as f64;
    inter / (a.len() as f64 + b.len() as f64 - inter)
}

fn clamp01(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests;
