//! Signed envelopes: every message between nodes (capabilities, requests, answer chunks,
//! cancellations) is a JSON envelope signed with the sender's Ed25519 key over the message kind,
//! the key expression it travels on, a timestamp, a random nonce and the body. A receiver opens it
//! only when the sender's key is on its allow-list, the signature holds, the key expression is
//! the one it arrived on, the timestamp is inside the window and the nonce was not seen in it.
//! See docs/decisions/0014-federation-threat-model.md.

use std::collections::{BTreeSet, HashSet};

use ring::signature::{UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use crate::identity::{node_id_of, Identity};

/// Largest envelope accepted, bytes.
pub const MAX_ENVELOPE: usize = 1 << 20;
/// Version of the wire format.
const VERSION: u32 = 1;
/// Most nonces remembered at once; past it, new messages are refused until old ones expire.
const MAX_REMEMBERED: usize = 100_000;

/// An envelope on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Wire format version.
    pub v: u32,
    /// Sender's public key, hexadecimal.
    pub from: String,
    /// What the body is (`caps`, `ask`, `chunk`, `cancel`).
    pub kind: String,
    /// The key expression the sender addressed.
    pub key: String,
    /// Sender's clock, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// Random, hexadecimal; never reused by a sender within the window.
    pub nonce: String,
    /// The message, JSON text.
    pub body: String,
    /// Ed25519 signature over [`signed_bytes`], hexadecimal.
    pub sig: String,
}

fn signed_bytes(kind: &str, key: &str, ts_ms: u64, nonce: &str, body: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + key.len() + body.len());
    for part in ["sage-fed/1", kind, key, &ts_ms.to_string(), nonce] {
        m.extend_from_slice(part.as_bytes());
        m.push(0);
    }
    m.extend_from_slice(body.as_bytes());
    m
}

/// Seal `body` as a `kind` message to `key`, at `ts_ms`.
pub fn seal(identity: &Identity, kind: &str, key: &str, body: &impl Serialize, ts_ms: u64) -> Vec<u8> {
    let body = serde_json::to_string(body).unwrap_or_else(|_| "null".into());
    let nonce = hex::encode(random_bytes());
    let sig = hex::encode(identity.sign(&signed_bytes(kind, key, ts_ms, &nonce, &body)));
    let env = Envelope {
        v: VERSION,
        from: identity.public_hex(),
        kind: kind.into(),
        key: key.into(),
        ts_ms,
        nonce,
        body,
        sig,
    };
    serde_json::to_vec(&env).unwrap_or_default()
}

fn random_bytes() -> [u8; 16] {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    // The system random source failing is not recoverable in a useful way; a zero nonce is
    // still unique enough with the timestamp for the single message that would carry it.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b
}

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// Bigger than [`MAX_ENVELOPE`].
    #[error("oversized")]
    Oversized,
    /// Not an envelope (not JSON, missing fields, wrong version, bad hex).
    #[error("malformed")]
    Malformed,
    /// The sender's key is not on the allow-list.
    #[error("unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("forged")]
    Forged,
    /// Addressed to another key expression or of another kind than where it arrived.
    #[error("wrong key expression")]
    WrongKey,
    /// Timestamp outside the window.
    #[error("stale")]
    Stale,
    /// Nonce already seen within the window.
    #[error("replayed")]
    Replayed,
    /// Too many messages in the window to remember their nonces.
    #[error("too many messages in the window")]
    Flooded,
}

impl Rejection {
    /// Every reason, for counters.
    pub const ALL: [Rejection; 8] = [
        Rejection::Oversized,
        Rejection::Malformed,
        Rejection::UnknownKey,
        Rejection::Forged,
        Rejection::WrongKey,
        Rejection::Stale,
        Rejection::Replayed,
        Rejection::Flooded,
    ];

    /// Snake-case name (metrics label).
    pub fn label(self) -> &'static str {
        match self {
            Rejection::Oversized => "oversized",
            Rejection::Malformed => "malformed",
            Rejection::UnknownKey => "unknown_key",
            Rejection::Forged => "forged",
            Rejection::WrongKey => "wrong_key",
            Rejection::Stale => "stale",
            Rejection::Replayed => "replayed",
            Rejection::Flooded => "flooded",
        }
    }
}

/// An opened message.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// Sender's public key.
    pub from: String,
    /// Sender's node id.
    pub node: String,
    /// The body, JSON text.
    pub body: String,
}

/// Checks envelopes against an allow-list, a time window and the nonces seen in it.
#[derive(Debug)]
pub struct Verifier {
    allowed: HashSet<String>,
    window_ms: u64,
    seen: HashSet<(String, String)>,
    expiry: BTreeSet<(u64, String, String)>,
    rejected: std::collections::BTreeMap<Rejection, u64>,
}

impl Verifier {
    /// A verifier accepting the keys in `allowed` (hexadecimal public keys) with timestamps
    /// within `window_ms` of the receiver's clock.
    pub fn new(allowed: impl IntoIterator<Item = String>, window_ms: u64) -> Self {
        Self {
            allowed: allowed.into_iter().map(|k| k.to_ascii_lowercase()).collect(),
            window_ms,
            seen: HashSet::new(),
            expiry: BTreeSet::new(),
            rejected: Default::default(),
        }
    }

    /// Allow one more key.
    pub fn allow(&mut self, public_hex: &str) {
        self.allowed.insert(public_hex.to_ascii_lowercase());
    }

    /// Whether `public_hex` is allowed.
    pub fn allows(&self, public_hex: &str) -> bool {
        self.allowed.contains(&public_hex.to_ascii_lowercase())
    }

    /// Messages refused so far, by reason.
    pub fn rejected(&self) -> &std::collections::BTreeMap<Rejection, u64> {
        &self.rejected
    }

    /// Open `bytes`, which arrived on `key` expecting `kind`, at the receiver's `now_ms`; a
    /// refusal is counted and logged.
    pub fn open(&mut self, bytes: &[u8], kind: &str, key: &str, now_ms: u64) -> Result<Opened, Rejection> {
        let r = self.check(bytes, kind, key, now_ms);
        if let Err(why) = r {
            *self.rejected.entry(why).or_default() += 1;
            tracing::warn!(key, kind, bytes = bytes.len(), "federation message refused: {why}");
        }
        r
    }

    fn check(&mut self, bytes: &[u8], kind: &str, key: &str, now_ms: u64) -> Result<Opened, Rejection> {
        if bytes.len() > MAX_ENVELOPE {
            return Err(Rejection::Oversized);
        }
        let env: Envelope = serde_json::from_slice(bytes).map_err(|_| Rejection::Malformed)?;
        if env.v != VERSION || env.nonce.len() != 32 {
            return Err(Rejection::Malformed);
        }
        let from = env.from.to_ascii_lowercase();
        if !self.allowed.contains(&from) {
            return Err(Rejection::UnknownKey);
        }
        let public = hex::decode(&from).map_err(|_| Rejection::Malformed)?;
        let sig = hex::decode(&env.sig).map_err(|_| Rejection::Forged)?;
        UnparsedPublicKey::new(&ED25519, &public)
            .verify(&signed_bytes(&env.kind, &env.key, env.ts_ms, &env.nonce, &env.body), &sig)
            .map_err(|_| Rejection::Forged)?;
        if env.kind != kind || env.key != key {
            return Err(Rejection::WrongKey);
        }
        if env.ts_ms.abs_diff(now_ms) > self.window_ms {
            return Err(Rejection::Stale);
        }
        self.forget_before(now_ms);
        let id = (from.clone(), env.nonce.clone());
        if self.seen.contains(&id) {
            return Err(Rejection::Replayed);
        }
        if self.seen.len() >= MAX_REMEMBERED {
            return Err(Rejection::Flooded);
        }
        // Remembered until its timestamp leaves the window of every later clock reading.
        self.expiry.insert((env.ts_ms + self.window_ms, id.0.clone(), id.1.clone()));
        self.seen.insert(id);
        Ok(Opened { node: node_id_of(&from), from, body: env.body })
    }

    fn forget_before(&mut self, now_ms: u64) {
        while let Some(first) = self.expiry.first() {
            if first.0 >= now_ms {
                break;
            }
            if let Some((_, from, nonce)) = self.expiry.pop_first() {
                self.seen.remove(&(from, nonce));
            }
        }
    }

    /// Nonces remembered now.
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

/// Milliseconds since the Unix epoch (the federation's clock; nodes are expected to run NTP).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Identity, Verifier) {
        let id = Identity::generate().expect("key");
        let v = Verifier::new([id.public_hex()], 30_000);
        (id, v)
    }

    #[test]
    fn a_sealed_message_opens_once() {
        let (id, mut v) = pair();
        let m = seal(&id, "ask", "sage/fed/ask/x", &serde_json::json!({"q": 1}), 1_000_000);
        let o = v.open(&m, "ask", "sage/fed/ask/x", 1_000_500).expect("open");
        assert_eq!(o.body, r#"{"q":1}"#);
        assert_eq!(o.node, id.node_id());
        assert_eq!(v.open(&m, "ask", "sage/fed/ask/x", 1_000_600), Err(Rejection::Replayed));
        assert_eq!(v.rejected().get(&Rejection::Replayed), Some(&1));
    }

    #[test]
    fn forged_unknown_stale_misaddressed_and_malformed_messages_are_refused() {
        let (id, mut v) = pair();
        let key = "sage/fed/ask/x";
        // A changed body keeps the signature of the old one.
        let m = seal(&id, "ask", key, &"hello", 1_000_000);
        let mut env: Envelope = serde_json::from_slice(&m).expect("json");
        env.body = "\"hullo\"".into();
        let forged = serde_json::to_vec(&env).expect("json");
        assert_eq!(v.open(&forged, "ask", key, 1_000_000), Err(Rejection::Forged));
        // A key not on the allow-list.
        let stranger = Identity::generate().expect("key");
        let m = seal(&stranger, "ask", key, &"hello", 1_000_000);
        assert_eq!(v.open(&m, "ask", key, 1_000_000), Err(Rejection::UnknownKey));
        // A stranger claiming an allowed key cannot sign for it.
        let mut env: Envelope = serde_json::from_slice(&m).expect("json");
        env.from = id.public_hex();
        assert_eq!(
            v.open(&serde_json::to_vec(&env).expect("json"), "ask", key, 1_000_000),
            Err(Rejection::Forged)
        );
        // Outside the window, either way.
        let m = seal(&id, "ask", key, &"hello", 1_000_000);
        assert_eq!(v.open(&m, "ask", key, 1_031_000), Err(Rejection::Stale));
        assert_eq!(v.open(&m, "ask", key, 969_000), Err(Rejection::Stale));
        // Sent to another node, or as another kind.
        let m = seal(&id, "ask", "sage/fed/ask/y", &"hello", 1_000_000);
        assert_eq!(v.open(&m, "ask", key, 1_000_000), Err(Rejection::WrongKey));
        let m = seal(&id, "cancel", key, &"hello", 1_000_000);
        assert_eq!(v.open(&m, "ask", key, 1_000_000), Err(Rejection::WrongKey));
        // Not an envelope at all, and too big.
        assert_eq!(v.open(b"{\"v\":1}", "ask", key, 1_000_000), Err(Rejection::Malformed));
        assert_eq!(v.open(b"\xff\x00garbage", "ask", key, 1_000_000), Err(Rejection::Malformed));
        assert_eq!(v.open(&vec![b' '; MAX_ENVELOPE + 1], "ask", key, 1_000_000), Err(Rejection::Oversized));
        let total: u64 = v.rejected().values().sum();
        assert_eq!(total, 10);
    }

    #[test]
    fn nonces_are_forgotten_once_their_window_has_passed() {
        let (id, mut v) = pair();
        for i in 0..10 {
            let m = seal(&id, "chunk", "k", &i, 1_000_000 + i * 10_000);
            v.open(&m, "chunk", "k", 1_000_000 + i * 10_000).expect("open");
        }
        // At most the messages of the last 30 s (plus the current) are remembered.
        assert!(v.remembered() <= 4, "{}", v.remembered());
    }
}
