//! The records the ledger keeps: identities, access anchors, assets and
//! their versions, blocks and receipts.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BLOCK_LABEL;
use crate::merkle::Hash;
use crate::types::{Address, DataType, Role, TxId, ValidationCode};

/// A registered identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    /// Derived from the signing key.
    pub address: Address,
    /// Display name.
    pub name: String,
    /// Organisation.
    pub organisation: String,
    /// Role.
    pub role: Role,
    /// Ed25519 public key.
    pub signing_public_key: [u8; 32],
    /// X25519 public key.
    pub encryption_public_key: [u8; 32],
    /// For role reviewer: the department-defined reviewer role; else empty.
    pub reviewer_role: String,
    /// Block that registered it.
    pub registered_in_block: u64,
    /// Transaction that registered it.
    pub registered_by_tx: TxId,
    /// Set once the identity is revoked.
    pub revoked: Option<Revocation>,
}

/// Why and when an identity was revoked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The reason given.
    pub reason: String,
    /// Block that revoked it.
    pub block_number: u64,
    /// Transaction that revoked it.
    pub tx_id: TxId,
}

/// One anchor of an identity's access-event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessAnchor {
    /// Size of the access-event log.
    pub tree_size: u64,
    /// Its RFC 6962 root.
    pub root_hash: Hash,
    /// The anchoring transaction.
    pub tx_id: TxId,
    /// Its block.
    pub block_number: u64,
}

/// One published version of an asset. Immutable once published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetVersionRecord {
    /// Version number.
    pub version: u64,
    /// Structured or unstructured.
    pub data_type: DataType,
    /// How the content hash was computed.
    pub hash_algorithm: String,
    /// Content hash.
    pub content_hash: [u8; 32],
    /// Size in bytes.
    pub size_bytes: u64,
    /// Header metadata.
    pub metadata: Vec<u8>,
    /// Transaction that published it.
    pub tx_id: TxId,
    /// Block that published it.
    pub block_number: u64,
}

/// An asset: its owner, its authorised list and its versions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetRecord {
    /// Id.
    pub asset_id: String,
    /// The owning organisation: only its members may publish versions or change the rules.
    pub owner_organisation: String,
    /// The identity that published version 1.
    pub owner_address: Address,
    /// Identities allowed to read it, sorted, without duplicates.
    pub authorised: Vec<Address>,
    /// Versions in increasing order.
    pub versions: Vec<AssetVersionRecord>,
}
/// A block header, derived identically by every node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockHeader {
    /// Height; the genesis block is 0.
    pub number: u64,
    /// Hash of the previous block.
    pub previous_hash: Hash,
    /// RFC 6962 root over this block's transactions.
    pub tx_root: Hash,
    /// Root of the Merkle log of all transactions after this block.
    pub log_root: Hash,
    /// Number of transactions in the Merkle log after this block.
    pub log_size: u64,
    /// State commitment after this block.
    pub state_root: Hash,
    /// The log offset of the record this block came from.
    pub log_offset: u64,
    /// Number of transactions in this block.
    pub tx_count: u32,
}

impl BlockHeader {
    /// The bytes the block hash covers.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(BLOCK_LABEL.len() + 8 + 32 * 4 + 8 + 8 + 4);
        bytes.extend_from_slice(BLOCK_LABEL);
        bytes.extend_from_slice(&self.number.to_be_bytes());
        bytes.extend_from_slice(&self.previous_hash);
        bytes.extend_from_slice(&self.tx_root);
        bytes.extend_from_slice(&self.log_root);
        bytes.extend_from_slice(&self.log_size.to_be_bytes());
        bytes.extend_from_slice(&self.state_root);
        bytes.extend_from_slice(&self.log_offset.to_be_bytes());
        bytes.extend_from_slice(&self.tx_count.to_be_bytes());
        bytes
    }

    /// The block hash.
    pub fn hash(&self) -> Hash {
        Sha256::digest(self.canonical_bytes()).into()
    }
}

/// What happened to one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Transaction id.
    pub tx_id: TxId,
    /// Block that holds it.
    pub block_number: u64,
    /// Position in the block.
    pub index: u32,
    /// Position in the Merkle log.
    pub leaf_index: u64,
    /// Validation code.
    pub code: ValidationCode,
    /// Why it is not valid (empty when valid).
    pub message: String,
    /// The chaincode's answer as JSON text (empty when not valid).
    pub response: String,
    /// The creator, when the envelope could be decoded.
    pub creator: Option<Address>,
    /// The transaction type, when the envelope could be decoded.
    pub tx_type: &'static str,
    /// The submitter's clock.
    pub timestamp_ms: u64,
}

/// A block: header, hash and receipts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Header.
    pub header: BlockHeader,
    /// SHA-256 of the canonical header.
    pub hash: Hash,
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
}
