//! The ledger: a deterministic fold of the ordered log into blocks, state and
//! the Merkle log of transactions.
//!
//! Each log record is one block. Record 0 is the genesis configuration; every
//! later record is a `cairn.v1.LogRecord` batch of transaction envelopes. A
//! record that cannot be decoded still makes a block, holding one entry marked
//! [`ValidationCode::Malformed`], so every node derives the same chain from the
//! same log whatever it contains.
//!
//! Byte layouts (version 1):
//! - leaf data of a transaction in the Merkle log:
//!   `u64 BE block number || u32 BE index in block || u16 BE validation code || 32-byte tx id || envelope bytes`;
//!   its RFC 6962 leaf hash is SHA-256(0x00 || leaf data);
//! - a block's `tx_root` is the RFC 6962 root over the leaf hashes of its transactions
//!   (block 0: over the single leaf that is the genesis bytes);
//! - the block hash is SHA-256 over
//!   `"cairn-block-v1\n" || u64 BE number || previous hash || tx root || log root || u64 BE log size || state root || u64 BE log offset || u32 BE tx count`;
//!   block 0's previous hash is 32 zero bytes.

use std::collections::BTreeMap;

use prost::Message;
use serde::Serialize;
use sha2::{Digest, Sha256};

use cairn_schemas::v1 as pb;

use crate::checkpoint::Checkpoint;
use crate::commitment::Commitment;
use crate::genesis::{Consortium, GenesisError};
use crate::merkle::{self, Hash, MerkleLog, ProofError};
use crate::sig::{self, SignatureVerifier};
use crate::tx::{self, Transaction};
use crate::types::{Address, TxId, ValidationCode};

/// Longest accepted asset id.
pub const MAX_ASSET_ID_LEN: usize = 128;
/// Largest accepted asset metadata, in bytes.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;
/// The most a new version may exceed the asset's latest version by, so that
/// no publisher can jump an asset to `u64::MAX` and freeze it.
pub const MAX_VERSION_STEP: u64 = 1_000_000;
/// Most identities on one authorised list.
pub const MAX_AUTHORISED: usize = 10_000;

const BLOCK_LABEL: &[u8] = b"cairn-block-v1\n";

mod billing;
mod cases;
mod certs;
mod check;
mod consortium;
mod execute;
mod log_record;
mod records;
#[cfg(test)]
mod tests;

pub use billing::{AccountRecord, PlanPeriod, TopUpRecord};
pub use cases::{
    Acted, CaseRecord, Deadline, DecisionRecord, HistoryEntry, PaymentRecord, ServiceVersionRecord,
    StepRecord, Verdict, awaiting, open_deadlines, participants, ready_step_names, ready_steps,
};
pub use certs::{CertificateRecord, Channel, HeadAnchor};
pub use consortium::{ConsortiumChangeRecord, MAX_DESCRIPTION, MAX_RULE_JSON, change_summary};
pub use log_record::{
    Leaf, batch_envelopes, batch_record, genesis_record, leaf_data, parse_leaf, signature_items,
};
pub use records::{
    AccessAnchor, AssetRecord, AssetVersionRecord, Block, BlockHeader, IdentityRecord, Receipt,
    Revocation,
};

/// Why a log cannot start a ledger.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// Record 0 is not a genesis record.
    #[error("log record 0 is not a genesis record: {0}")]
    NotGenesis(String),
    /// The genesis configuration is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
}

/// The ledger state and chain.
#[derive(Clone, Debug)]
pub struct Ledger {
    consortium: Consortium,
    identities: BTreeMap<Address, IdentityRecord>,
    assets: BTreeMap<String, AssetRecord>,
    commitment: Commitment,
    log: MerkleLog,
    blocks: Vec<Block>,
    tx_locations: BTreeMap<TxId, (u64, u32)>,
    /// Every anchor of each identity's access-event log, oldest first.
    access_anchors: BTreeMap<Address, Vec<AccessAnchor>>,
    /// Certificates, their channels and status lists.
    certs: certs::CertState,
    /// Verifier accounts, by holder.
    accounts: BTreeMap<Address, AccountRecord>,
    /// Every valid consortium change, oldest first.
    consortium_history: Vec<ConsortiumChangeRecord>,
    /// Social-security services and their cases.
    cases: cases::CaseBook,
}

/// A state change that passed validation.
enum Effect {
    Register(IdentityRecord),
    Revoke {
        address: Address,
        revocation: Revocation,
    },
    Anchor {
        creator: Address,
        anchor: AccessAnchor,
    },
    Publish {
        owner_organisation: String,
        owner_address: Address,
        version: AssetVersionRecord,
        asset_id: String,
    },
    SetRules {
        asset_id: String,
        authorised: Vec<Address>,
    },
    Cert(certs::CertEffect),
    Billing(billing::BillingEffect),
    Consortium(consortium::ConsortiumEffect),
    Case(cases::CaseEffect),
}

type Failure = (ValidationCode, String);

fn failure(code: ValidationCode, message: impl Into<String>) -> Failure {
    (code, message.into())
}

fn valid_text(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && !text.chars().any(char::is_control)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Encoding plain structs into a vector cannot fail.
    postcard::to_allocvec(value).unwrap_or_default()
}

impl Ledger {
    /// Starts a ledger from log record 0 (the genesis record) at `offset`.
    pub fn from_genesis_record(offset: u64, record: &[u8]) -> Result<Ledger, LedgerError> {
        let genesis_bytes = match pb::LogRecord::decode(record) {
            Ok(pb::LogRecord { kind: Some(pb::log_record::Kind::Genesis(bytes)) }) => bytes,
            Ok(_) => return Err(LedgerError::NotGenesis("it is a batch record".into())),
            Err(e) => {
                return Err(LedgerError::NotGenesis(format!("not a cairn.v1.LogRecord: {e}")));
            }
        };
        let consortium = Consortium::from_bytes(&genesis_bytes)?;
        let mut commitment = Commitment::new();
        commitment.put(b"genesis", &Sha256::digest(&genesis_bytes));
        for (name, member) in &consortium.organisations {
            commitment.put(&[b"org/".as_slice(), name.as_bytes()].concat(), &member.public_key);
        }
        let log = MerkleLog::new();
        let header = BlockHeader {
            number: 0,
            previous_hash: [0; 32],
            tx_root: merkle::root_of(&[merkle::leaf_hash(&genesis_bytes)]),
            log_root: log.root(),
            log_size: 0,
            state_root: commitment.root(),
            log_offset: offset,
            tx_count: 0,
        };
        let hash = header.hash();
        Ok(Ledger {
            consortium,
            identities: BTreeMap::new(),
            assets: BTreeMap::new(),
            commitment,
            log,
            blocks: vec![Block { header, hash, receipts: Vec::new() }],
            tx_locations: BTreeMap::new(),
            access_anchors: BTreeMap::new(),
            certs: certs::CertState::default(),
            accounts: BTreeMap::new(),
            consortium_history: Vec::new(),
            cases: cases::CaseBook::default(),
        })
    }

    /// The consortium as it is now: the genesis configuration with every
    /// valid consortium change applied.
    pub fn consortium(&self) -> &Consortium {
        &self.consortium
    }

    /// Number of blocks, including the genesis block.
    pub fn height(&self) -> u64 {
        self.blocks.len() as u64
    }

    /// The latest block.
    pub fn head(&self) -> &Block {
        // There is always the genesis block.
        &self.blocks[self.blocks.len() - 1]
    }

    /// A block by number.
    pub fn block(&self, number: u64) -> Option<&Block> {
        usize::try_from(number).ok().and_then(|n| self.blocks.get(n))
    }

    /// The state root after the latest block.
    pub fn state_root(&self) -> Hash {
        self.head().header.state_root
    }

    /// The Merkle log of transactions.
    pub fn merkle_log(&self) -> &MerkleLog {
        &self.log
    }

    /// A transaction's receipt.
    pub fn receipt(&self, tx_id: &TxId) -> Option<&Receipt> {
        let (block, index) = self.tx_locations.get(tx_id)?;
        self.block(*block)?.receipts.get(*index as usize)
    }

    /// A registered identity.
    pub fn identity(&self, address: &Address) -> Option<&IdentityRecord> {
        self.identities.get(address)
    }

    /// All identities, by address.
    pub fn identities(&self) -> impl Iterator<Item = &IdentityRecord> {
        self.identities.values()
    }

    /// An asset.
    pub fn asset(&self, asset_id: &str) -> Option<&AssetRecord> {
        self.assets.get(asset_id)
    }

    /// All assets, by id.
    pub fn assets(&self) -> impl Iterator<Item = &AssetRecord> {
        self.assets.values()
    }

    /// Every anchor of an identity's access-event log, oldest first.
    pub fn access_anchors(&self, creator: &Address) -> &[AccessAnchor] {
        self.access_anchors.get(creator).map_or(&[], Vec::as_slice)
    }

    /// The checkpoint (unsigned) at a tree size.
    pub fn checkpoint(&self, size: u64) -> Result<Checkpoint, ProofError> {
        Ok(Checkpoint {
            origin: self.consortium.origin.clone(),
            size,
            root: self.log.root_at(size)?,
            extensions: Vec::new(),
        })
    }

    /// Applies one log record as the next block, checking signatures
    /// sequentially. Never fails: bad content becomes validation codes.
    pub fn apply_record(&mut self, offset: u64, record: &[u8]) -> &Block {
        self.apply_record_with(offset, record, &sig::SequentialVerifier)
    }

    /// Applies one log record as the next block, with a signature verifier
    /// that must agree with [`sig::SequentialVerifier`].
    pub fn apply_record_with(
        &mut self,
        offset: u64,
        record: &[u8],
        verifier: &dyn SignatureVerifier,
    ) -> &Block {
        let envelopes: Vec<Vec<u8>> = match batch_envelopes(record) {
            Some(envelopes) => envelopes,
            // Not a batch: the whole record is one malformed entry.
            None => vec![record.to_vec()],
        };
        let record_is_batch = batch_envelopes(record).is_some();
        let decoded: Vec<Result<Transaction, tx::Rejection>> = envelopes
            .iter()
            .map(|envelope| {
                if record_is_batch {
                    Transaction::decode(envelope)
                } else {
                    Err(tx::Rejection {
                        id: TxId::of_payload(envelope),
                        code: ValidationCode::Malformed,
                        message: format!(
                            "log record at offset {offset} is not a cairn.v1.LogRecord batch"
                        ),
                    })
                }
            })
            .collect();
        let verdicts = self.verify_signatures(&decoded, verifier);

        let number = self.height();
        let mut leaf_hashes = Vec::with_capacity(envelopes.len());
        let mut receipts = Vec::with_capacity(envelopes.len());
        for (index, (envelope, decoded)) in envelopes.iter().zip(&decoded).enumerate() {
            let index = index as u32;
            let (tx_id, code, message, response, creator, tx_type, timestamp_ms) = match decoded {
                Err(rejection) => (
                    rejection.id,
                    rejection.code,
                    rejection.message.clone(),
                    String::new(),
                    None,
                    "",
                    0,
                ),
                Ok(transaction) => {
                    let (sig_ok, endorsement_ok) = &verdicts[index as usize];
                    let (code, message, response) =
                        match self.check(transaction, *sig_ok, endorsement_ok) {
                            Ok(effect) => {
                                (ValidationCode::Valid, String::new(), self.execute(effect))
                            }
                            Err((code, message)) => (code, message, String::new()),
                        };
                    (
                        transaction.id,
                        code,
                        message,
                        response,
                        Some(transaction.creator_address()),
                        transaction.body.type_name(),
                        transaction.timestamp_ms,
                    )
                }
            };
            let leaf = merkle::leaf_hash(&leaf_data(number, index, code, &tx_id, envelope));
            leaf_hashes.push(leaf);
            let leaf_index = self.log.push(leaf);
            let _ = self.tx_locations.entry(tx_id).or_insert((number, index));
            receipts.push(Receipt {
                tx_id,
                block_number: number,
                index,
                leaf_index,
                code,
                message,
                response,
                creator,
                tx_type,
                timestamp_ms,
            });
        }
        let header = BlockHeader {
            number,
            previous_hash: self.head().hash,
            tx_root: merkle::root_of(&leaf_hashes),
            log_root: self.log.root(),
            log_size: self.log.size(),
            state_root: self.commitment.root(),
            log_offset: offset,
            tx_count: receipts.len() as u32,
        };
        let hash = header.hash();
        self.blocks.push(Block { header, hash, receipts });
        self.head()
    }

    /// Checks every signature of the decoded transactions in one call.
    fn verify_signatures(
        &self,
        decoded: &[Result<Transaction, tx::Rejection>],
        verifier: &dyn SignatureVerifier,
    ) -> Vec<(bool, Vec<bool>)> {
        let items = signature_items(decoded.iter().flatten());
        let n_items = items.len();
        let mut results = verifier.verify(items).into_iter();
        let verdicts = decoded
            .iter()
            .map(|decoded| match decoded {
                Err(_) => (false, Vec::new()),
                Ok(transaction) => {
                    let creator_ok = results.next().unwrap_or(false);
                    let endorsements_ok = transaction
                        .endorsements
                        .iter()
                        .map(|_| results.next().unwrap_or(false))
                        .collect();
                    (creator_ok, endorsements_ok)
                }
            })
            .collect();
        debug_assert!(
            results.next().is_none(),
            "verifier returned more verdicts than the {n_items} items"
        );
        verdicts
    }
}
