//! Data keys wrapped to an identity's X25519 public key with HPKE (RFC 9180).
//!
//! Suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305, base
//! mode, `info = "cairn-data-key-v1"`. The associated data binds a wrapped key
//! to what it is for (asset, version and recipient), so a grant cannot be
//! moved to another asset, version or identity without failing to open.

use anchor_chaincode::Address;
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use serde::{Deserialize, Serialize};

use crate::keys::KeyPair;

type Kem = X25519HkdfSha256;
const INFO: &[u8] = b"cairn-data-key-v1";

/// A secret wrapped to one recipient.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The HPKE encapsulated key (hex).
    #[serde(with = "hex_bytes")]
    pub enc: Vec<u8>,
    /// The sealed secret (hex).
    #[serde(with = "hex_bytes")]
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedKey")
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

mod hex_bytes {
    pub(super) fn serialize<S: serde::Serializer>(
        bytes: &[u8],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(deserializer)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

/// Why a key could not be wrapped or unwrapped.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WrapError {
    /// The recipient's public key is not a valid X25519 key.
    #[error("the recipient's encryption public key is not a valid X25519 key")]
    BadPublicKey,
    /// The wrapped key is not for this private key, not for this context, or was changed.
    #[error("the data key is not wrapped for this key and asset version, or it was changed")]
    Unwrap,
    /// The wrapping failed.
    #[error("HPKE failed: {0}")]
    Hpke(String),
}

/// The associated data of a data-key grant.
pub fn grant_context(asset_id: &str, version: u64, recipient: &Address) -> Vec<u8> {
    format!("cairn-grant-v1\n{asset_id}\n{version}\n{recipient}").into_bytes()
}

/// Wraps `secret` to `recipient_public` for `context`.
pub fn wrap(
    recipient_public: &[u8; 32],
    secret: &[u8],
    context: &[u8],
) -> Result<WrappedKey, WrapError> {
    let public = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient_public)
        .map_err(|_| WrapError::BadPublicKey)?;
    let (enc, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeS::Base,
        &public,
        INFO,
        secret,
        context,
    )
    .map_err(|e| WrapError::Hpke(e.to_string()))?;
    Ok(WrappedKey { enc: enc.to_bytes().to_vec(), ciphertext })
}

/// Unwraps a secret wrapped to `recipient` for `context`.
pub fn unwrap(
    recipient: &KeyPair,
    wrapped: &WrappedKey,
    context: &[u8],
) -> Result<Vec<u8>, WrapError> {
    let private =
        <Kem as hpke::Kem>::PrivateKey::from_bytes(&recipient.encryption_secret().to_bytes())
            .map_err(|_| WrapError::Unwrap)?;
    let enc =
        <Kem as hpke::Kem>::EncappedKey::from_bytes(&wrapped.enc).map_err(|_| WrapError::Unwrap)?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeR::Base,
        &private,
        &enc,
        INFO,
        &wrapped.ciphertext,
        context,
    )
    .map_err(|_| WrapError::Unwrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_for_one_recipient_and_context_only() {
        let alice = KeyPair::generate().unwrap();
        let bob = KeyPair::generate().unwrap();
        let context = grant_context("health/x", 3, &alice.address());
        let wrapped = wrap(&alice.encryption_public_key(), &[9; 32], &context).unwrap();
        assert_eq!(unwrap(&alice, &wrapped, &context).unwrap(), vec![9; 32]);
        assert_eq!(unwrap(&bob, &wrapped, &context), Err(WrapError::Unwrap));
        let other = grant_context("health/x", 4, &alice.address());
        assert_eq!(unwrap(&alice, &wrapped, &other), Err(WrapError::Unwrap));
        let mut changed = wrapped.clone();
        changed.ciphertext[0] ^= 1;
        assert_eq!(unwrap(&alice, &changed, &context), Err(WrapError::Unwrap));
        let json = serde_json::to_string(&wrapped).unwrap();
        assert_eq!(serde_json::from_str::<WrappedKey>(&json).unwrap(), wrapped);
        assert!(!format!("{wrapped:?}").contains(&hex::encode(&wrapped.ciphertext)));
    }

    #[test]
    fn a_wrong_public_key_is_refused() {
        // HPKE X25519 accepts any 32 bytes as a public key, but the all-zero point yields an all-zero shared secret.
        let result = wrap(&[0; 32], &[1; 32], b"c");
        assert!(result.is_err(), "{result:?}");
    }
}
