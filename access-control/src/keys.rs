//! Key pairs and key files.
//!
//! A key file is JSON (`"kind": "cairn-key-v1"`) holding the Ed25519 signing
//! secret and the X25519 encryption secret as hex, with the public halves and
//! the address for reading. It is created with mode 0600 and never
//! overwritten; loading refuses a file that other users can read.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anchor_chaincode::Address;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

const KIND: &str = "cairn-key-v1";

/// An identity's (or an organisation's) secret keys.
#[derive(Clone)]
pub struct KeyPair {
    signing: ed25519_zebra::SigningKey,
    encryption: x25519_dalek::StaticSecret,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("address", &self.address()).finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    kind: String,
    address: String,
    signing_public_key: String,
    encryption_public_key: String,
    signing_secret_key: String,
    encryption_secret_key: String,
}

/// Fills a buffer from the operating system's random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Random(e.to_string()))?;
    Ok(bytes)
}

impl KeyPair {
    /// Generates a new key pair from the operating system's random source.
    pub fn generate() -> Result<KeyPair> {
        Ok(KeyPair::from_secrets(random_bytes()?, random_bytes()?))
    }

    /// A key pair from its two 32-byte secrets.
    pub fn from_secrets(signing_secret: [u8; 32], encryption_secret: [u8; 32]) -> KeyPair {
        KeyPair {
            signing: ed25519_zebra::SigningKey::from(signing_secret),
            encryption: x25519_dalek::StaticSecret::from(encryption_secret),
        }
    }

    /// The Ed25519 signing key.
    pub fn signing_key(&self) -> &ed25519_zebra::SigningKey {
        &self.signing
    }

    /// The Ed25519 public key.
    pub fn signing_public_key(&self) -> [u8; 32] {
        <[u8; 32]>::from(self.signing.verification_key())
    }

    /// The X25519 public key.
    pub fn encryption_public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.encryption).to_bytes()
    }

    /// The X25519 secret, for unwrapping data keys.
    pub fn encryption_secret(&self) -> &x25519_dalek::StaticSecret {
        &self.encryption
    }

    /// The address derived from the signing key.
    pub fn address(&self) -> Address {
        Address::of_public_key(&self.signing_public_key())
    }

    /// Writes a new key file with mode 0600; fails if the file exists.
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let file = KeyFile {
            kind: KIND.into(),
            address: self.address().to_string(),
            signing_public_key: hex::encode(self.signing_public_key()),
            encryption_public_key: hex::encode(self.encryption_public_key()),
            signing_secret_key: hex::encode(self.signing.as_bytes()),
            encryption_secret_key: hex::encode(self.encryption.to_bytes()),
        };
        let mut text = serde_json::to_string_pretty(&file)
            .map_err(|e| Error::BadKeyFile { path: path.to_path_buf(), reason: e.to_string() })?;
        text.push('\n');
        let mut out =
            OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
        out.write_all(text.as_bytes()).map_err(io)?;
        out.sync_all().map_err(io)?;
        Ok(())
    }

    /// Reads a key file, refusing one that other users can read.
    pub fn load(path: &Path) -> Result<KeyPair> {
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let metadata = std::fs::metadata(path).map_err(io)?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::InsecurePermissions { path: path.to_path_buf(), mode });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let bad = |reason: String| Error::BadKeyFile { path: path.to_path_buf(), reason };
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.kind != KIND {
            return Err(bad(format!("kind is {:?}, expected {KIND:?}", file.kind)));
        }
        let secret = |hex_text: &str, what: &str| -> Result<[u8; 32]> {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hex_text, &mut bytes)
                .map_err(|e| bad(format!("{what} is not 64 hex digits: {e}")))?;
            Ok(bytes)
        };
        let pair = KeyPair::from_secrets(
            secret(&file.signing_secret_key, "signing_secret_key")?,
            secret(&file.encryption_secret_key, "encryption_secret_key")?,
        );
        if pair.address().to_string() != file.address {
            return Err(bad(format!(
                "address {} does not match the signing key (derives {})",
                file.address,
                pair.address()
            )));
        }
        Ok(pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_with_mode_0600_and_no_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alice.key");
        let pair = KeyPair::generate().unwrap();
        pair.save(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = KeyPair::load(&path).unwrap();
        assert_eq!(loaded.address(), pair.address());
        assert_eq!(loaded.encryption_public_key(), pair.encryption_public_key());
        let err = pair.save(&path).unwrap_err();
        assert!(err.to_string().contains("exists"), "{err}");
    }

    #[test]
    fn debug_shows_no_secret_and_insecure_file_is_refused() {
        let pair = KeyPair::from_secrets([3; 32], [4; 32]);
        let debug = format!("{pair:?}");
        assert!(debug.contains(&pair.address().to_string()));
        assert!(!debug.contains(&hex::encode([3u8; 32])));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        pair.save(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = KeyPair::load(&path).unwrap_err();
        assert!(matches!(err, Error::InsecurePermissions { mode: 0o644, .. }), "{err}");
    }

    #[test]
    fn tampered_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        KeyPair::from_secrets([3; 32], [4; 32]).save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let other = KeyPair::from_secrets([5; 32], [4; 32]).address().to_string();
        let address = KeyPair::from_secrets([3; 32], [4; 32]).address().to_string();
        std::fs::write(&path, text.replace(&address, &other)).unwrap();
        let err = KeyPair::load(&path).unwrap_err();
        assert!(err.to_string().contains("does not match the signing key"), "{err}");
    }
}
