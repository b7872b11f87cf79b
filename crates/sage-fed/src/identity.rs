//! A node's Ed25519 identity: generated once, kept in a key file (PKCS#8), named by its public
//! key.

use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::FedError;

/// A node's signing key.
pub struct Identity {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("public", &self.public_hex()).finish()
    }
}

impl Identity {
    /// A new random identity (not saved).
    pub fn generate() -> Result<Self, FedError> {
        let pkcs8 = Self::new_pkcs8()?;
        Self::from_pkcs8(&pkcs8, Path::new("<generated>"))
    }

    fn new_pkcs8() -> Result<Vec<u8>, FedError> {
        let rng = SystemRandom::new();
        Ed25519KeyPair::generate_pkcs8(&rng).map(|d| d.as_ref().to_vec()).map_err(|_| FedError::Key {
            path: "<generated>".into(),
            why: "the system random source failed".into(),
        })
    }

    fn from_pkcs8(pkcs8: &[u8], path: &Path) -> Result<Self, FedError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| FedError::Key {
            path: path.display().to_string(),
            why: format!("not an Ed25519 PKCS#8 key: {e}"),
        })?;
        Ok(Self { pair })
    }

    /// The identity in `path`, created there (through a temporary file renamed into place,
    /// readable by the owner only) when the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, FedError> {
        let key_err = |why: String| FedError::Key { path: path.display().to_string(), why };
        match std::fs::read(path) {
            Ok(bytes) => Self::from_pkcs8(&bytes, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pkcs8 = Self::new_pkcs8()?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| key_err(e.to_string()))?;
                }
                let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
                write_private(&tmp, &pkcs8).map_err(|e| key_err(e.to_string()))?;
                std::fs::rename(&tmp, path).map_err(|e| key_err(e.to_string()))?;
                Self::from_pkcs8(&pkcs8, path)
            }
            Err(e) => Err(key_err(e.to_string())),
        }
    }

    /// The public key, 64 hexadecimal digits.
    pub fn public_hex(&self) -> String {
        hex::encode(self.pair.public_key().as_ref())
    }

    /// The node's id: the first 16 hexadecimal digits of its public key (a key expression
    /// chunk, stable across restarts).
    pub fn node_id(&self) -> String {
        node_id_of(&self.public_hex())
    }

    /// Sign `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// The node id of a public key given in hexadecimal.
pub fn node_id_of(public_hex: &str) -> String {
    public_hex.chars().take(16).collect()
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_created_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("sage-fed-id-{}", std::process::id()));
        let path = dir.join("node.key");
        let _ = std::fs::remove_file(&path);
        let a = Identity::load_or_create(&path).expect("create");
        let b = Identity::load_or_create(&path).expect("read");
        assert_eq!(a.public_hex(), b.public_hex());
        assert_eq!(a.node_id().len(), 16);
        std::fs::write(&path, b"not a key").expect("write");
        let err = Identity::load_or_create(&path).expect_err("garbage key file");
        assert!(err.to_string().contains("node.key"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
