//! Federation of SAGE nodes over Zenoh.
//!
//! - [`identity`]: a node's Ed25519 key, kept in a key file.
//! - [`envelope`]: signed messages, the allow-list and the replay window.
//! - [`caps`]: the capability document a node answers with.

pub mod caps;
pub mod envelope;
pub mod identity;
pub mod node;
pub mod route;
pub mod wire;

pub use caps::{Capabilities, CapsError, ModelCaps};
pub use envelope::{now_ms, seal, Opened, Rejection, Verifier};
pub use identity::Identity;
pub use node::{FedConfig, FedCounts, Federation, ForwardError, Forwarded, Local, Peer};
pub use route::{FedDecision, FedRouter, Offer, Prices, LOCAL};
pub use wire::{Ask, Chunk};

/// Errors of the federation layer.
#[derive(Debug, thiserror::Error)]
pub enum FedError {
    /// A key file could not be read, written or parsed.
    #[error("node key {path}: {why}")]
    Key {
        /// The key file.
        path: String,
        /// Why.
        why: String,
    },
    /// Zenoh refused an operation.
    #[error("zenoh: {0}")]
    Zenoh(String),
}
