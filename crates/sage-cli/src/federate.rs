//! `sage node --federation FILE` and `sage key FILE`: a node's identity and the federation it
//! joins over the inputs file's Zenoh session.
//!
//! The federation file (TOML), paths relative to its folder:
//! ```toml
//! profile = "thor"                  # hardware profile announced to peers
//! key = "thor.key"                  # this node's Ed25519 key (created on first start)
//! allow = ["<64 hex digits>", ...]  # public keys of the peers allowed (`sage key PEER.key`)
//! window_ms = 30000                 # replay window (optional)
//! stall_ms = 3000                   # a peer silent this long mid-answer is given up (optional)
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use clap::Args;
use serde::Deserialize;

/// Arguments of `sage key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The node's key file (created when missing).
    pub path: PathBuf,
}

/// Print a node's public key (for the allow-lists of its peers), creating the key if missing.
pub fn key(args: KeyArgs) -> anyhow::Result<()> {
    let id = sage_fed::Identity::load_or_create(&args.path)?;
    println!("{}", id.public_hex());
    Ok(())
}

/// The federation file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationFile {
    /// Hardware profile.
    pub profile: String,
    /// Key file.
    pub key: PathBuf,
    /// Allowed peers' public keys.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Replay window, ms.
    pub window_ms: Option<u64>,
    /// Stall limit, ms.
    pub stall_ms: Option<u64>,
}

impl FederationFile {
    /// Read and check `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut f: FederationFile =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        for k in &f.allow {
            anyhow::ensure!(
                k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()),
                "{}: `{k}` is not a public key (64 hexadecimal digits, as `sage key` prints)",
                path.display()
            );
        }
        if f.key.is_relative() {
            f.key = path.parent().unwrap_or(Path::new(".")).join(&f.key);
        }
        Ok(f)
    }
}

/// Join the federation described by `file` on the inputs' Zenoh session, offering `app`.
pub fn join(
    file: &FederationFile,
    io: &sage_io::ZenohIo,
    app: &Arc<sage_server::App>,
) -> anyhow::Result<String> {
    let session = io.session().clone();
    let identity = sage_fed::Identity::load_or_create(&file.key)?;
    let defaults = sage_fed::FedConfig::default();
    let config = sage_fed::FedConfig {
        allow: file.allow.clone(),
        window_ms: file.window_ms.unwrap_or(defaults.window_ms),
        stall_ms: file.stall_ms.unwrap_or(defaults.stall_ms),
        ..defaults
    };
    let local = Arc::new(sage_server::federation::FedLocal {
        app: Arc::downgrade(app),
        profile: file.profile.clone(),
    });
    let net = sage_fed::Federation::join(session, identity, config, local)?;
    let id = net.node_id();
    let fed = sage_server::federation::Fed { net, router: Mutex::new(sage_fed::FedRouter::new(0x5a6e)) };
    app.federation.set(fed).map_err(|_| anyhow::anyhow!("the node has joined a federation already"))?;
    Ok(id)
}
