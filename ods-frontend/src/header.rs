//! The digital-asset header of a published version: what `PublishAsset`
//! carries as metadata, described by `schemas/json/asset-header.schema.json`.
//!
//! The access information (object location and data key) is sealed with HPKE
//! to the publishing identity's own encryption key, so only the provider can
//! read it back from the ledger; other identities receive the data key through
//! grants wrapped to their own keys. The description of the source (database
//! host, user, table, file path) and the watermark of an incremental sync are
//! sealed with it: anyone can read the ledger, and they say more about the
//! provider's systems and data than the public may see.

use access_control::keys::KeyPair;
use access_control::wrap::{self, WrappedKey};
use anchor_chaincode::Address;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The header format name.
pub const FORMAT: &str = "cairn-asset-header-v1";
/// The hash algorithm name.
pub const HASH_ALGORITHM: &str = "sha256-merkle-chunks-v1";
/// How the content hash is computed, in words, carried in every header.
pub const CONTENT_HASH_RULE: &str = "Split the plaintext into chunks of chunk_size bytes (the last may be shorter; empty data has no chunks). \
d_i = SHA-256(chunk_i). The content hash is the RFC 6962 Merkle tree hash over the leaves d_0..d_{n-1}: \
leaf hash SHA-256(0x00 || d_i), node hash SHA-256(0x01 || left || right), and SHA-256 of the empty string for no chunks.";

/// A column of structured data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Source type name.
    #[serde(rename = "type")]
    pub column_type: String,
    /// Whether it may be null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
}

/// The watermark of an incremental sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// The watermark column.
    pub column: String,
    /// The largest value in this version (as text), if any row.
    pub value: Option<String>,
    /// The value this version started after, if incremental.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// Where the encrypted object is, its data key, where the data came from and
/// its watermark: sealed in the header.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessInfo {
    /// The sealed object's path in the store.
    pub object: String,
    /// The chunk-hash list's path in the store.
    pub hashes_object: String,
    /// The data key (hex).
    pub data_key: String,
    /// Where the data came from ("postgresql table public.clinics on db:5432", a file path).
    #[serde(default)]
    pub source: String,
    /// Watermark of an incremental share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
}

impl std::fmt::Debug for AccessInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessInfo").field("object", &self.object).finish_non_exhaustive()
    }
}

/// Sealed access information.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedAccess {
    /// Whose key it is sealed to.
    pub recipient: String,
    /// HPKE encapsulated key (hex).
    pub enc: String,
    /// Sealed JSON of [`AccessInfo`] (hex).
    pub ciphertext: String,
}

/// The header (the `metadata` of `PublishAsset`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetHeader {
    /// Always [`FORMAT`].
    pub format: String,
    /// Human-readable name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `structured` or `unstructured`.
    pub data_type: String,
    /// `csv`, `ndjson` or `raw`.
    pub encoding: String,
    /// Always [`HASH_ALGORITHM`].
    pub hash_algorithm: String,
    /// Always [`CONTENT_HASH_RULE`].
    pub content_hash_rule: String,
    /// Columns of structured data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Vec<Column>>,
    /// Rows of structured data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_count: Option<u64>,
    /// Plaintext bytes.
    pub byte_size: u64,
    /// Chunks.
    pub chunk_count: u64,
    /// Chunk size.
    pub chunk_size: u64,
    /// Always `AES-256-GCM`.
    pub cipher: String,
    /// When the sync ran (the provider's clock).
    pub synced_at_ms: u64,
    /// The sealed access information.
    pub access: SealedAccess,
}

const ACCESS_CONTEXT: &[u8] = b"cairn-header-access-v1";

impl SealedAccess {
    /// Seals access information to the publisher's own key.
    pub fn seal(publisher: &KeyPair, info: &AccessInfo) -> Result<SealedAccess, wrap::WrapError> {
        let plaintext =
            serde_json::to_vec(info).map_err(|e| wrap::WrapError::Hpke(e.to_string()))?;
        let wrapped = wrap::wrap(&publisher.encryption_public_key(), &plaintext, ACCESS_CONTEXT)?;
        Ok(SealedAccess {
            recipient: publisher.address().to_string(),
            enc: hex::encode(&wrapped.enc),
            ciphertext: hex::encode(&wrapped.ciphertext),
        })
    }

    /// Opens access information with the publisher's key.
    pub fn open(&self, publisher: &KeyPair) -> Result<AccessInfo, wrap::WrapError> {
        let wrapped = WrappedKey {
            enc: hex::decode(&self.enc).map_err(|_| wrap::WrapError::Unwrap)?,
            ciphertext: hex::decode(&self.ciphertext).map_err(|_| wrap::WrapError::Unwrap)?,
        };
        let plaintext = wrap::unwrap(publisher, &wrapped, ACCESS_CONTEXT)?;
        serde_json::from_slice(&plaintext).map_err(|_| wrap::WrapError::Unwrap)
    }

    /// The recipient's address.
    pub fn recipient(&self) -> Option<Address> {
        self.recipient.parse().ok()
    }
}

impl AssetHeader {
    /// The JSON bytes published as metadata.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads published metadata.
    pub fn from_bytes(bytes: &[u8]) -> Result<AssetHeader> {
        let header: AssetHeader = serde_json::from_slice(bytes).map_err(Error::HeaderJson)?;
        if header.format != FORMAT {
            return Err(Error::HeaderFormat { found: header.format, expected: FORMAT });
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(publisher: &KeyPair) -> AssetHeader {
        AssetHeader {
            format: FORMAT.into(),
            name: "Clinics".into(),
            description: "Licensed clinics".into(),
            data_type: "structured".into(),
            encoding: "csv".into(),
            hash_algorithm: HASH_ALGORITHM.into(),
            content_hash_rule: CONTENT_HASH_RULE.into(),
            schema: Some(vec![Column {
                name: "id".into(),
                column_type: "int8".into(),
                nullable: Some(false),
            }]),
            row_count: Some(3),
            byte_size: 42,
            chunk_count: 1,
            chunk_size: 4 << 20,
            cipher: "AES-256-GCM".into(),
            synced_at_ms: 1,
            access: SealedAccess::seal(
                publisher,
                &AccessInfo {
                    object: "a/1.ods".into(),
                    hashes_object: "a/1.hashes".into(),
                    data_key: "00".repeat(32),
                    source: "postgresql table public.clinics on db.internal:5432".into(),
                    watermark: Some(Watermark {
                        column: "updated_at".into(),
                        value: Some("2026-01-01".into()),
                        since: None,
                    }),
                },
            )
            .unwrap(),
        }
    }

    #[test]
    fn access_opens_only_for_the_publisher() {
        let publisher = KeyPair::generate().unwrap();
        let header = header(&publisher);
        let parsed = AssetHeader::from_bytes(&header.to_bytes()).unwrap();
        assert_eq!(parsed, header);
        let opened = parsed.access.open(&publisher).unwrap();
        assert_eq!(opened.object, "a/1.ods");
        assert_eq!(opened.watermark.unwrap().value.as_deref(), Some("2026-01-01"));
        assert!(parsed.access.open(&KeyPair::generate().unwrap()).is_err());
        let public = String::from_utf8(header.to_bytes()).unwrap();
        for secret in
            [&"00".repeat(32), "db.internal", "public.clinics", "updated_at", "2026-01-01"]
        {
            assert!(!public.contains(secret), "{secret} is in the public header: {public}");
        }
    }

    /// The JSON Schema and the struct agree on field names and required fields.
    #[test]
    fn schema_matches_the_struct() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/json/asset-header.schema.json"))
                .unwrap();
        let value = serde_json::to_value(header(&KeyPair::generate().unwrap())).unwrap();
        let properties = schema["properties"].as_object().unwrap();
        for key in value.as_object().unwrap().keys() {
            assert!(properties.contains_key(key), "field {key} is not in the schema");
        }
        for required in schema["required"].as_array().unwrap() {
            assert!(
                value.get(required.as_str().unwrap()).is_some(),
                "required {required} is not serialized"
            );
        }
        assert_eq!(schema["properties"]["format"]["const"], FORMAT);
        assert_eq!(schema["properties"]["hash_algorithm"]["const"], HASH_ALGORITHM);
    }
}
