//! A node's capability document: who it is, what it can run, how busy it is. Answered to a
//! capabilities query, signed like every other message, and checked before it is believed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most models one document may list.
pub const MAX_MODELS: usize = 256;
/// Longest id (node, model, class) accepted.
const MAX_ID: usize = 128;

/// One model a node offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCaps {
    /// The model's id on that node.
    pub id: String,
    /// Loaded now.
    pub resident: bool,
    /// Context window, tokens.
    pub context: u32,
    /// Memory it needs, MiB.
    pub mib: u64,
    /// Seconds to load it when cold.
    pub load_s: f64,
    /// Measured decode speed, tokens per second (0 when not measured yet).
    pub tok_s: f64,
    /// Situation classes it serves, with the node's own trust in it for each.
    pub classes: BTreeMap<String, f64>,
}

/// What a node says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Node id (the first 16 hex digits of its public key).
    pub node: String,
    /// Its Ed25519 public key, hexadecimal.
    pub public_key: String,
    /// Hardware profile (thor, legion, sprout, local...).
    pub profile: String,
    /// Models resident and available.
    pub models: Vec<ModelCaps>,
    /// Requests waiting.
    pub queue: u32,
    /// Requests running.
    pub running: u32,
    /// Requests it runs at once.
    pub parallel: u32,
    /// Metabolic state (WAKE, FOCUS, REST, DREAM, CRISIS).
    pub state: String,
    /// Energy level, `[0, 1]`.
    pub atp: f64,
}

/// Why a capability document was not believed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CapsError {
    /// Not JSON of the right shape.
    #[error("capability document is malformed: {0}")]
    Malformed(String),
    /// The document speaks for another node than the key that signed it.
    #[error("capability document of {claimed} signed by {signer}")]
    Impersonation {
        /// Node the document claims.
        claimed: String,
        /// Node whose key signed it.
        signer: String,
    },
    /// A field out of bounds.
    #[error("capability document of {node}: {why}")]
    OutOfBounds {
        /// Node.
        node: String,
        /// What.
        why: String,
    },
}

impl Capabilities {
    /// Parse and check a document signed by `signer` (public key, hexadecimal).
    pub fn parse(body: &str, signer: &str) -> Result<Self, CapsError> {
        let caps: Capabilities =
            serde_json::from_str(body).map_err(|e| CapsError::Malformed(e.to_string()))?;
        if !caps.public_key.eq_ignore_ascii_case(signer) || caps.node != crate::identity::node_id_of(signer) {
            return Err(CapsError::Impersonation {
                claimed: caps.node.chars().take(MAX_ID).collect(),
                signer: crate::identity::node_id_of(signer),
            });
        }
        caps.check()?;
        Ok(caps)
    }

    fn check(&self) -> Result<(), CapsError> {
        let bad = |why: String| Err(CapsError::OutOfBounds { node: self.node.clone(), why });
        if self.models.len() > MAX_MODELS {
            return bad(format!("{} models (at most {MAX_MODELS})", self.models.len()));
        }
        if self.profile.len() > MAX_ID || self.state.len() > MAX_ID {
            return bad("profile or state too long".into());
        }
        if !(0.0..=1.0).contains(&self.atp) {
            return bad(format!("atp {} outside [0, 1]", self.atp));
        }
        for m in &self.models {
            if m.id.is_empty() || m.id.len() > MAX_ID || m.classes.keys().any(|c| c.len() > MAX_ID) {
                return bad(format!(
                    "model id or class of `{}` empty or too long",
                    m.id.chars().take(MAX_ID).collect::<String>()
                ));
            }
            if !(m.tok_s.is_finite() && m.tok_s >= 0.0 && m.load_s.is_finite() && m.load_s >= 0.0) {
                return bad(format!("model {}: speed or load time not a non-negative number", m.id));
            }
            if m.classes.values().any(|q| !(0.0..=1.0).contains(q)) {
                return bad(format!("model {}: a class quality outside [0, 1]", m.id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(public: &str) -> Capabilities {
        Capabilities {
            node: crate::identity::node_id_of(public),
            public_key: public.into(),
            profile: "thor".into(),
            models: vec![ModelCaps {
                id: "nemotron".into(),
                resident: true,
                context: 4096,
                mib: 2600,
                load_s: 3.0,
                tok_s: 13.0,
                classes: [("text.chat".to_string(), 0.8)].into(),
            }],
            queue: 0,
            running: 1,
            parallel: 4,
            state: "WAKE".into(),
            atp: 0.9,
        }
    }

    #[test]
    fn documents_are_believed_only_from_their_own_node_and_in_bounds() {
        let key = "ab".repeat(32);
        let good = doc(&key);
        let text = serde_json::to_string(&good).expect("json");
        assert_eq!(Capabilities::parse(&text, &key), Ok(good.clone()));
        let other = "cd".repeat(32);
        assert!(matches!(Capabilities::parse(&text, &other), Err(CapsError::Impersonation { .. })));
        assert!(matches!(Capabilities::parse("{\"node\": 3}", &key), Err(CapsError::Malformed(_))));
        let mut bad = good.clone();
        bad.models[0].tok_s = f64::NAN;
        let text = serde_json::to_string(&bad).expect("json");
        assert!(matches!(
            Capabilities::parse(&text, &key),
            Err(CapsError::Malformed(_) | CapsError::OutOfBounds { .. })
        ));
        let mut bad = good.clone();
        bad.models[0].classes.insert("text.alert".into(), 7.0);
        let text = serde_json::to_string(&bad).expect("json");
        assert!(matches!(Capabilities::parse(&text, &key), Err(CapsError::OutOfBounds { .. })));
        let mut bad = good;
        bad.models = vec![bad.models[0].clone(); MAX_MODELS + 1];
        let text = serde_json::to_string(&bad).expect("json");
        assert!(matches!(Capabilities::parse(&text, &key), Err(CapsError::OutOfBounds { .. })));
    }
}
