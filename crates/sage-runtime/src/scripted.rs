//! A scripted language model: a **test double** for policy tests and the routing benchmark.
//!
//! It is not a language model. Tokens are the prompt's bytes (plus one; 0 is BOS), so token
//! counts are exact and trimming can be checked; it keeps a per-session prefix cache exactly as
//! the llama.cpp engine does, so KV reuse is observable; every generated token carries the
//! log-probability `ln(quality)` of the situation class named on the prompt's `class:` line, so
//! the energy the LLM plugin measures reflects the scripted quality; and it fails on a fixed,
//! seeded schedule. Real behaviour is tested against the real engine elsewhere.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sage_llm::{
    Event, FinishReason, Flow, GenerateError, GenerateParams, Generation, LanguageModel, ModelInfo,
    SessionId, Timings, TokenId, TokenOut, TokenizeError,
};

use crate::residency::{Loader, LoaderError};
use crate::zoo::ModelSpec;

/// How a scripted model behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Model id.
    pub id: String,
    /// Quality per situation class in `(0, 1]` (unknown classes: `default_quality`).
    pub quality: BTreeMap<String, f64>,
    /// Quality of classes not listed.
    pub default_quality: f64,
    /// Probability that a generation fails with an engine error.
    pub failure_rate: f64,
    /// Seed of the failure schedule.
    pub seed: u64,
    /// Reported resident bytes.
    pub bytes: u64,
    /// Reported load seconds.
    pub load_s: f64,
    /// Context window.
    pub context: u32,
    /// The reply.
    pub reply: String,
    /// A chat template (none: the plain format).
    pub template: Option<String>,
}

impl Script {
    /// A reliable model with one quality for every class.
    pub fn new(id: &str, quality: f64) -> Self {
        Self {
            id: id.into(),
            quality: BTreeMap::new(),
            default_quality: quality,
            failure_rate: 0.0,
            seed: 1,
            bytes: 100 << 20,
            load_s: 0.1,
            context: 512,
            reply: format!("answer from {id}"),
            template: None,
        }
    }
}

/// The scripted model.
pub struct ScriptedModel {
    script: Script,
    info: ModelInfo,
    sessions: Mutex<BTreeMap<SessionId, (u32, Vec<TokenId>)>>,
    next: AtomicU64,
    calls: AtomicU64,
    rng: Mutex<u64>,
}

impl ScriptedModel {
    /// A model following `script`.
    pub fn new(script: Script) -> Self {
        let info = ModelInfo {
            id: script.id.clone(),
            path: PathBuf::from(format!("scripted://{}", script.id)),
            architecture: "scripted".into(),
            name: Some(format!("scripted {}", script.id)),
            parameters: 0,
            weight_bytes: script.bytes,
            train_context: script.context,
            vocab: 257,
            layers: 0,
            chat_template: script.template.clone(),
            bos: None,
            eos: None,
            load_s: script.load_s,
            resident_bytes: script.bytes,
            weights: None,
            embedding_only: false,
        };
        let seed = script.seed.max(1);
        Self {
            script,
            info,
            sessions: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(1),
            calls: AtomicU64::new(0),
            rng: Mutex::new(seed),
        }
    }

    /// Sessions open now (for tests of the callers' bounds).
    pub fn open_sessions(&self) -> usize {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Generations asked for so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn roll(&self) -> f64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        (*s >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl LanguageModel for ScriptedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<TokenId>, TokenizeError> {
        let mut t: Vec<TokenId> = if add_bos { vec![0] } else { vec![] };
        t.extend(text.bytes().map(|b| b as TokenId + 1));
        Ok(t)
    }

    fn detokenize(&self, tokens: &[TokenId]) -> Result<String, TokenizeError> {
        let bytes: Vec<u8> = tokens.iter().filter(|&&t| t > 0).map(|&t| (t - 1).min(255) as u8).collect();
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn open_session(&self, context: Option<u32>) -> Result<(SessionId, u32), GenerateError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let n = context.unwrap_or(self.script.context).min(self.script.context);
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (n, vec![]));
        Ok((id, n))
    }

    fn close_session(&self, session: SessionId) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&session);
    }

    fn generate_tokens(
        &self,
        session: SessionId,
        prompt: &[TokenId],
        params: &GenerateParams,
        on_event: &mut dyn FnMut(Event<'_>) -> Flow,
    ) -> Result<Generation, GenerateError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let model = self.info.id.clone();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let Some((n_ctx, cache)) = sessions.get_mut(&session) else {
            return Err(GenerateError::NoSession { model, session });
        };
        if prompt.is_empty() {
            return Err(GenerateError::EmptyPrompt { model });
        }
        if prompt.len() + params.max_tokens as usize > *n_ctx as usize {
            return Err(GenerateError::ContextOverflow {
                model,
                prompt_tokens: prompt.len(),
                max_tokens: params.max_tokens,
                context: *n_ctx,
            });
        }
        if self.roll() < self.script.failure_rate {
            return Err(GenerateError::Decode { model, message: "scripted failure".into() });
        }
        let reused = cache.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        cache.truncate(reused);
        cache.extend_from_slice(&prompt[reused..]);
        let evaluated = (prompt.len() - reused) as u32;
        if on_event(Event::PromptDone { evaluated, cached: reused as u32 }) == Flow::Stop {
            return Ok(Generation {
                text: String::new(),
                tokens: vec![],
                finish: FinishReason::Cancelled,
                timings: Timings::default(),
            });
        }
        let text = String::from_utf8_lossy(
            &prompt.iter().filter(|&&t| t > 0).map(|&t| (t - 1) as u8).collect::<Vec<u8>>(),
        )
        .into_owned();
        let class =
            text.lines().find_map(|l| l.find("class: ").map(|i| &l[i + 7..])).map(str::trim).unwrap_or("");
        let q =
            self.script.quality.get(class).copied().unwrap_or(self.script.default_quality).clamp(1e-6, 1.0);
        let mut tokens = vec![];
        let mut out = String::new();
        let mut finish = FinishReason::EndOfTurn;
        // Continue the reply where an earlier step left it (the prompt ends with its start).
        let reply: Vec<TokenId> = self.script.reply.bytes().map(|b| b as TokenId + 1).collect();
        let done =
            (1..=reply.len().min(prompt.len())).rev().find(|&k| prompt.ends_with(&reply[..k])).unwrap_or(0);
        for b in self.script.reply.bytes().skip(done) {
            if tokens.len() as u32 >= params.max_tokens {
                finish = FinishReason::Length;
                break;
            }
            let t = TokenOut {
                id: b as TokenId + 1,
                text: (b as char).to_string(),
                logprob: Some(q.ln() as f32),
                top: vec![],
            };
            out.push(b as char);
            cache.push(t.id);
            let stop = on_event(Event::Token { token: &t, delta: &t.text }) == Flow::Stop;
            tokens.push(t);
            if stop {
                finish = FinishReason::Cancelled;
                break;
            }
        }
        let generated = tokens.len() as u32;
        Ok(Generation {
            text: out,
            tokens,
            finish,
            timings: Timings {
                prompt_tokens: evaluated,
                cached_tokens: reused as u32,
                generated_tokens: generated,
                ..Default::default()
            },
        })
    }

    fn logits(&self, _session: SessionId, _tokens: &[TokenId]) -> Result<Vec<Vec<f32>>, GenerateError> {
        Err(GenerateError::InvalidParams {
            model: self.info.id.clone(),
            message: "a scripted model has no logits".into(),
        })
    }
}

/// Loads scripted models by id (a test double of the engine loader).
#[derive(Default)]
pub struct ScriptedLoader {
    scripts: BTreeMap<String, Script>,
    fail: Mutex<BTreeMap<String, String>>,
    delay: std::time::Duration,
    loads: AtomicU64,
    /// The models loaded, for inspection.
    pub models: Mutex<BTreeMap<String, Arc<ScriptedModel>>>,
}

impl ScriptedLoader {
    /// A loader for these scripts; every load takes `delay`.
    pub fn new(scripts: Vec<Script>, delay: std::time::Duration) -> Self {
        Self {
            scripts: scripts.into_iter().map(|s| (s.id.clone(), s)).collect(),
            delay,
            ..Default::default()
        }
    }
    /// Make loading `id` fail with `message`.
    pub fn fail(&self, id: &str, message: &str) {
        self.fail.lock().unwrap_or_else(|e| e.into_inner()).insert(id.into(), message.into());
    }
    /// Loads so far.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }
}

impl Loader for ScriptedLoader {
    fn load(&self, spec: &ModelSpec) -> Result<Arc<dyn LanguageModel>, LoaderError> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(self.delay);
        let unavailable = |message: String| LoaderError::Unavailable { model: spec.id.clone(), message };
        if let Some(m) = self.fail.lock().unwrap_or_else(|e| e.into_inner()).get(&spec.id) {
            return Err(unavailable(m.clone()));
        }
        let script = self
            .scripts
            .get(&spec.id)
            .cloned()
            .ok_or_else(|| unavailable(format!("no script for {}", spec.id)))?;
        let m = Arc::new(ScriptedModel::new(script));
        self.models.lock().unwrap_or_else(|e| e.into_inner()).insert(spec.id.clone(), m.clone());
        Ok(m)
    }
}
