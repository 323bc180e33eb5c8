//! Log records and Merkle leaves: the genesis and batch records the ledger
//! reads, the leaf data it appends for each transaction, and the signatures
//! it checks for a batch.

use prost::Message;

use cairn_schemas::v1 as pb;

use crate::Error;
use crate::genesis::Genesis;
use crate::sig;
use crate::tx::{self, Transaction};
use crate::types::{TxId, ValidationCode};

/// Builds the genesis record (log record 0) for a configuration.
pub fn genesis_record(genesis: &Genesis) -> Vec<u8> {
    pb::LogRecord { kind: Some(pb::log_record::Kind::Genesis(genesis.to_bytes())) }.encode_to_vec()
}

/// Builds a batch record from encoded envelopes.
pub fn batch_record(envelopes: Vec<Vec<u8>>) -> Vec<u8> {
    pb::LogRecord { kind: Some(pb::log_record::Kind::Batch(pb::Batch { transactions: envelopes })) }
        .encode_to_vec()
}

/// Splits a batch record into its envelopes; `None` if it is not a batch.
pub fn batch_envelopes(record: &[u8]) -> Option<Vec<Vec<u8>>> {
    match pb::LogRecord::decode(record).ok()?.kind? {
        pb::log_record::Kind::Batch(batch) => Some(batch.transactions),
        pb::log_record::Kind::Genesis(_) => None,
    }
}

/// The leaf data of a transaction (see the module docs).
pub fn leaf_data(
    block_number: u64,
    index: u32,
    code: ValidationCode,
    tx_id: &TxId,
    envelope: &[u8],
) -> Vec<u8> {
    let mut leaf = Vec::with_capacity(8 + 4 + 2 + 32 + envelope.len());
    leaf.extend_from_slice(&block_number.to_be_bytes());
    leaf.extend_from_slice(&index.to_be_bytes());
    leaf.extend_from_slice(&code.number().to_be_bytes());
    leaf.extend_from_slice(&tx_id.0);
    leaf.extend_from_slice(envelope);
    leaf
}

/// A parsed leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// Block number.
    pub block_number: u64,
    /// Index in the block.
    pub index: u32,
    /// Validation code.
    pub code: ValidationCode,
    /// Transaction id.
    pub tx_id: TxId,
    /// Envelope bytes.
    pub envelope: Vec<u8>,
}

/// Parses leaf data.
pub fn parse_leaf(leaf: &[u8]) -> Result<Leaf, Error> {
    parse_leaf_reason(leaf).map_err(|reason| Error::Leaf { reason })
}

fn parse_leaf_reason(leaf: &[u8]) -> Result<Leaf, String> {
    if leaf.len() < 46 {
        return Err(format!("leaf is {} bytes, shorter than the 46-byte prefix", leaf.len()));
    }
    let number = u16::from_be_bytes([leaf[12], leaf[13]]);
    let code = ValidationCode::from_number(number)
        .ok_or_else(|| format!("leaf has unknown validation code {number}"))?;
    let mut id = [0u8; 32];
    id.copy_from_slice(&leaf[14..46]);
    Ok(Leaf {
        block_number: u64::from_be_bytes(leaf[0..8].try_into().unwrap_or_default()),
        index: u32::from_be_bytes(leaf[8..12].try_into().unwrap_or_default()),
        code,
        tx_id: TxId(id),
        envelope: leaf[46..].to_vec(),
    })
}

/// The signatures the chaincode checks for a record's decoded transactions,
/// in the order it asks its [`SignatureVerifier`] about them: for each
/// transaction, the creator's signature, then each endorsement's. A node that
/// checks a batch before ordering it uses the same items, so it can hand the
/// chaincode the verdicts instead of checking twice.
pub fn signature_items<'a>(transactions: impl Iterator<Item = &'a Transaction>) -> Vec<sig::Item> {
    let mut items = Vec::new();
    for transaction in transactions {
        items.push(sig::item(
            &transaction.creator,
            &transaction.signature,
            &tx::creator_message(&transaction.payload),
        ));
        if !transaction.endorsements.is_empty() {
            let message = tx::endorsement_message(&transaction.payload);
            for endorsement in &transaction.endorsements {
                items.push(sig::item(&endorsement.public_key, &endorsement.signature, &message));
            }
        }
    }
    items
}
