//! What travels between nodes: key expressions, a forwarded request and the chunks of its
//! answer.

use serde::{Deserialize, Serialize};

/// Prefix of every federation key expression.
pub const PREFIX: &str = "sage/fed";

/// Liveliness token of `node`.
pub fn alive_key(node: &str) -> String {
    format!("{PREFIX}/alive/{node}")
}

/// Capabilities queryable of `node`.
pub fn caps_key(node: &str) -> String {
    format!("{PREFIX}/caps/{node}")
}

/// Requests to `node`.
pub fn ask_key(node: &str) -> String {
    format!("{PREFIX}/ask/{node}")
}

/// Cancellations to `node`.
pub fn cancel_key(node: &str) -> String {
    format!("{PREFIX}/cancel/{node}")
}

/// The node id at the end of a federation key expression (`sage/fed/<what>/<node>`), if it is
/// one: 16 lowercase hexadecimal digits.
pub fn node_of(key: &str, what: &str) -> Option<String> {
    let rest = key.strip_prefix(PREFIX)?.strip_prefix('/')?.strip_prefix(what)?.strip_prefix('/')?;
    (rest.len() == 16 && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| rest.to_string())
}

/// A request forwarded to a peer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ask {
    /// Chosen by the asker, unique among its requests; chunks and cancellations name it.
    pub id: String,
    /// The peer's model to use; `None`: the peer routes among its own.
    pub model: Option<String>,
    /// The request (`sage_runtime::Request` as JSON).
    pub request: serde_json::Value,
    /// Text of the answer already given to the client by a node that failed: the peer continues
    /// it instead of starting over.
    #[serde(default)]
    pub prefix: String,
}

/// One reply to an [`Ask`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Chunk {
    /// The next piece of text.
    Text {
        /// Request id.
        id: String,
        /// 0, 1, 2... in order.
        seq: u64,
        /// The piece.
        text: String,
    },
    /// The answer is complete.
    Done {
        /// Request id.
        id: String,
        /// Pieces sent before this one.
        seq: u64,
        /// The model that answered.
        model: String,
        /// Its quality estimate, `[0, 1]`.
        quality: f64,
    },
    /// The peer could not answer.
    Failed {
        /// Request id.
        id: String,
        /// Why.
        why: String,
    },
}

/// A cancellation of request `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancel {
    /// Request id.
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_read_only_from_well_formed_keys() {
        assert_eq!(node_of("sage/fed/ask/0123456789abcdef", "ask").as_deref(), Some("0123456789abcdef"));
        assert_eq!(node_of("sage/fed/ask/0123456789ABCDEF", "ask"), None);
        assert_eq!(node_of("sage/fed/ask/0123", "ask"), None);
        assert_eq!(node_of("sage/fed/caps/0123456789abcdef", "ask"), None);
        assert_eq!(node_of("other/ask/0123456789abcdef", "ask"), None);
        assert_eq!(node_of("sage/fed/ask/0123456789abcdef/x", "ask"), None);
    }
}
