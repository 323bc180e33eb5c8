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

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use cairn_schemas::v1 as pb;

use crate::authority::{self, Orgs, Principal, TxType};
use crate::checkpoint::Checkpoint;
use crate::commitment::Commitment;
use crate::genesis::{Consortium, Genesis, GenesisError};
use crate::merkle::{self, Hash, MerkleLog, ProofError};
use crate::sig::{self, SignatureVerifier};
use crate::tx::{self, Transaction, TxBody};
use crate::types::{Address, DataType, Role, TxId, ValidationCode};

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
mod certs;
pub use billing::{AccountRecord, PlanPeriod, TopUpRecord};
pub use certs::{CertificateRecord, Channel, HeadAnchor};

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

#[derive(Serialize)]
struct AssetHeadCommit<'a> {
    owner_organisation: &'a str,
    owner_address: &'a Address,
    authorised: &'a [Address],
    latest_version: u64,
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

/// Why a log cannot start a ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// Record 0 is not a genesis record.
    #[error("log record 0 is not a genesis record: {0}")]
    NotGenesis(String),
    /// The genesis configuration is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
}

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
pub fn parse_leaf(leaf: &[u8]) -> Result<Leaf, String> {
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
}

type Failure = (ValidationCode, String);

fn failure(code: ValidationCode, message: impl Into<String>) -> Failure {
    (code, message.into())
}

fn valid_text(text: &str, max: usize) -> bool {
    !text.is_empty() && text.len() <= max && !text.chars().any(char::is_control)
}

fn valid_asset_id(asset_id: &str) -> bool {
    !asset_id.is_empty()
        && asset_id.len() <= MAX_ASSET_ID_LEN
        && asset_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}

fn identity_key(address: &Address) -> Vec<u8> {
    [b"id/".as_slice(), &address.0].concat()
}

fn asset_key(asset_id: &str) -> Vec<u8> {
    [b"asset/".as_slice(), asset_id.as_bytes()].concat()
}

fn version_key(asset_id: &str, version: u64) -> Vec<u8> {
    [b"asset-version/".as_slice(), asset_id.as_bytes(), &[0], &version.to_be_bytes()].concat()
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
        for (name, key) in &consortium.organisation_keys {
            commitment.put(&[b"org/".as_slice(), name.as_bytes()].concat(), key);
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
        })
    }

    /// The consortium configuration.
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

    /// Whether an endorsement speaks for `principal`: a registered, unrevoked
    /// identity of the principal's organisation and role, or the genesis key
    /// of an organisation whose key acts in that role (see [`authority`]).
    fn endorses_as(
        &self,
        endorsement: &tx::Endorsement,
        principal: &Principal,
        orgs: &Orgs<'_>,
    ) -> bool {
        let organisation = endorsement.organisation.as_str();
        if !principal.organisation.matches(organisation, orgs) {
            return false;
        }
        if self.consortium.organisation_keys.get(organisation) == Some(&endorsement.public_key) {
            return authority::genesis_key_acts_as(organisation, principal.role, orgs);
        }
        self.identities.get(&Address::of_public_key(&endorsement.public_key)).is_some_and(
            |identity| {
                identity.organisation == organisation
                    && identity.role == principal.role
                    && identity.revoked.is_none()
            },
        )
    }

    /// Checks the authority rule of the transaction's type: that the creator
    /// (absent for a registration) is one of the rule's creators and that every
    /// required endorser endorsed. `owner` is the organisation that
    /// [`authority::OrgRef::Owner`] stands for.
    fn authorise(
        &self,
        transaction: &Transaction,
        creator: Option<&IdentityRecord>,
        owner: Option<&str>,
    ) -> Result<(), Failure> {
        let tx_type = TxType::of(&transaction.body);
        let rule = self.consortium.rule(tx_type);
        let orgs = self.consortium.orgs(owner);
        if let Some(creator) = creator
            && !rule.create.iter().any(|p| p.admits(&creator.organisation, creator.role, &orgs))
        {
            let allowed: Vec<String> = rule
                .create
                .iter()
                .map(|p| match (&p.organisation, owner) {
                    (authority::OrgRef::Owner, Some(owner)) => {
                        format!("role {} of the owning organisation {owner:?}", p.role)
                    }
                    _ => p.to_string(),
                })
                .collect();
            return Err(failure(
                ValidationCode::NotAuthorised,
                format!(
                    "{tx_type} may be created only by {}; creator {} has role {} in organisation {:?}",
                    allowed.join(" or "),
                    creator.address,
                    creator.role,
                    creator.organisation
                ),
            ));
        }
        for required in &rule.endorse {
            if !transaction.endorsements.iter().any(|e| self.endorses_as(e, required, &orgs)) {
                let given: Vec<String> = transaction
                    .endorsements
                    .iter()
                    .map(|e| {
                        let who = self
                            .identities
                            .get(&Address::of_public_key(&e.public_key))
                            .map_or_else(
                                || {
                                    if self.consortium.organisation_keys.get(&e.organisation)
                                        == Some(&e.public_key)
                                    {
                                        "the organisation's genesis key".to_owned()
                                    } else {
                                        "an unknown key".to_owned()
                                    }
                                },
                                |identity| {
                                    format!(
                                        "{} with role {} in {:?}{}",
                                        identity.address,
                                        identity.role,
                                        identity.organisation,
                                        if identity.revoked.is_some() { ", revoked" } else { "" }
                                    )
                                },
                            );
                        format!("for {:?}: {who}", e.organisation)
                    })
                    .collect();
                return Err(failure(
                    ValidationCode::EndorsementPolicyFailure,
                    format!(
                        "{tx_type} requires endorsement by {required}; endorsements given: [{}]",
                        given.join("; ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn registered_creator(&self, transaction: &Transaction) -> Result<&IdentityRecord, Failure> {
        let address = transaction.creator_address();
        let identity = self.identities.get(&address).ok_or_else(|| {
            failure(
                ValidationCode::UnknownIdentity,
                format!("creator {address} is not a registered identity"),
            )
        })?;
        if let Some(revocation) = &identity.revoked {
            return Err(failure(
                ValidationCode::RevokedIdentity,
                format!(
                    "creator {address} was revoked in block {}: {}",
                    revocation.block_number, revocation.reason
                ),
            ));
        }
        Ok(identity)
    }

    /// Validates a transaction against the current state without changing it.
    fn check(
        &self,
        transaction: &Transaction,
        sig_ok: bool,
        endorsement_ok: &[bool],
    ) -> Result<Effect, Failure> {
        if transaction.chain_id != self.consortium.chain_id() {
            return Err(failure(
                ValidationCode::WrongChain,
                format!(
                    "transaction is for chain {:?}, this is chain {:?}",
                    transaction.chain_id,
                    self.consortium.chain_id()
                ),
            ));
        }
        if !sig_ok {
            return Err(failure(
                ValidationCode::BadSignature,
                format!(
                    "creator signature does not verify for key {}",
                    hex::encode(transaction.creator)
                ),
            ));
        }
        if let Some(idx) = endorsement_ok.iter().position(|ok| !ok) {
            return Err(failure(
                ValidationCode::BadSignature,
                format!(
                    "endorsement {idx} by organisation {:?} does not verify",
                    transaction
                        .endorsements
                        .get(idx)
                        .map(|e| e.organisation.as_str())
                        .unwrap_or_default()
                ),
            ));
        }
        if self.tx_locations.contains_key(&transaction.id) {
            return Err(failure(
                ValidationCode::DuplicateTxId,
                format!("transaction {} is already in the log", transaction.id),
            ));
        }
        match &transaction.body {
            TxBody::RegisterIdentity(register) => {
                if register.signing_public_key != transaction.creator {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "signing_public_key must equal the creator's key: an identity registers itself",
                    ));
                }
                if !valid_text(&register.name, 128) {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "name must be 1 to 128 bytes without control characters",
                    ));
                }
                if !self.consortium.organisation_keys.contains_key(&register.organisation)
                    && register.organisation != self.consortium.holders()
                {
                    return Err(failure(
                        ValidationCode::UnknownOrganisation,
                        format!(
                            "organisation {:?} is neither in the genesis configuration nor the holders' organisation {:?}",
                            register.organisation,
                            self.consortium.holders()
                        ),
                    ));
                }
                authority::check_registration(
                    &register.organisation,
                    register.role,
                    &self.consortium.orgs(None),
                )
                .map_err(|e| failure(ValidationCode::NotAuthorised, e))?;
                if register.encryption_public_key == [0; 32] {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "encryption public key is all zeros",
                    ));
                }
                let address = transaction.creator_address();
                if let Some(existing) = self.identities.get(&address) {
                    return Err(failure(
                        ValidationCode::AlreadyRegistered,
                        format!(
                            "identity {address} is already registered (as {:?})",
                            existing.name
                        ),
                    ));
                }
                self.authorise(transaction, None, None)?;
                Ok(Effect::Register(IdentityRecord {
                    address,
                    name: register.name.clone(),
                    organisation: register.organisation.clone(),
                    role: register.role,
                    signing_public_key: register.signing_public_key,
                    encryption_public_key: register.encryption_public_key,
                    registered_in_block: self.height(),
                    registered_by_tx: transaction.id,
                    revoked: None,
                }))
            }
            TxBody::PublishAsset(publish) => {
                let creator = self.registered_creator(transaction)?;
                if !valid_asset_id(&publish.asset_id) {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "asset id {:?} must be 1 to {MAX_ASSET_ID_LEN} characters of letters, digits and . _ : / -",
                            publish.asset_id
                        ),
                    ));
                }
                if !valid_text(&publish.hash_algorithm, 64) {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "hash algorithm must be 1 to 64 bytes of text",
                    ));
                }
                if publish.metadata.len() > MAX_METADATA_BYTES {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "metadata is {} bytes, more than {MAX_METADATA_BYTES}",
                            publish.metadata.len()
                        ),
                    ));
                }
                if publish.version == 0 {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "version must be at least 1",
                    ));
                }
                let (owner_organisation, owner_address) = match self.assets.get(&publish.asset_id) {
                    Some(asset) => {
                        if asset.owner_organisation != creator.organisation {
                            return Err(failure(
                                ValidationCode::NotOwner,
                                format!(
                                    "asset {:?} is owned by organisation {:?}; creator {} belongs to {:?}",
                                    publish.asset_id,
                                    asset.owner_organisation,
                                    creator.address,
                                    creator.organisation
                                ),
                            ));
                        }
                        let latest = asset.versions.last().map_or(0, |v| v.version);
                        if publish.version.saturating_sub(latest) > MAX_VERSION_STEP {
                            return Err(failure(
                                ValidationCode::InvalidArgument,
                                format!(
                                    "version {} of asset {:?} jumps more than {MAX_VERSION_STEP} past its latest version {latest}",
                                    publish.version, publish.asset_id
                                ),
                            ));
                        }
                        if publish.version <= latest {
                            return Err(failure(
                                ValidationCode::VersionConflict,
                                format!(
                                    "version {} of asset {:?} does not increase its latest version {latest}",
                                    publish.version, publish.asset_id
                                ),
                            ));
                        }
                        (asset.owner_organisation.clone(), asset.owner_address)
                    }
                    None if publish.version > MAX_VERSION_STEP => {
                        return Err(failure(
                            ValidationCode::InvalidArgument,
                            format!(
                                "the first version of asset {:?} is {}, more than {MAX_VERSION_STEP}",
                                publish.asset_id, publish.version
                            ),
                        ));
                    }
                    None => (creator.organisation.clone(), creator.address),
                };
                self.authorise(transaction, Some(creator), Some(&owner_organisation))?;
                Ok(Effect::Publish {
                    owner_organisation,
                    owner_address,
                    asset_id: publish.asset_id.clone(),
                    version: AssetVersionRecord {
                        version: publish.version,
                        data_type: publish.data_type,
                        hash_algorithm: publish.hash_algorithm.clone(),
                        content_hash: publish.content_hash,
                        size_bytes: publish.size_bytes,
                        metadata: publish.metadata.clone(),
                        tx_id: transaction.id,
                        block_number: self.height(),
                    },
                })
            }
            TxBody::SetSharingRules(rules) => {
                let creator = self.registered_creator(transaction)?;
                let asset = self.assets.get(&rules.asset_id).ok_or_else(|| {
                    failure(
                        ValidationCode::UnknownAsset,
                        format!("asset {:?} does not exist", rules.asset_id),
                    )
                })?;
                if asset.owner_organisation != creator.organisation {
                    return Err(failure(
                        ValidationCode::NotOwner,
                        format!(
                            "only organisation {:?} may change the sharing rules of asset {:?}; creator {} belongs to {:?}",
                            asset.owner_organisation,
                            rules.asset_id,
                            creator.address,
                            creator.organisation
                        ),
                    ));
                }
                if rules.authorised.len() > MAX_AUTHORISED {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "{} authorised identities, more than {MAX_AUTHORISED}",
                            rules.authorised.len()
                        ),
                    ));
                }
                let mut authorised = BTreeSet::new();
                for (idx, text) in rules.authorised.iter().enumerate() {
                    let address: Address = text.parse().map_err(|e| {
                        failure(ValidationCode::InvalidArgument, format!("authorised[{idx}]: {e}"))
                    })?;
                    if !self.identities.contains_key(&address) {
                        return Err(failure(
                            ValidationCode::UnknownIdentity,
                            format!("authorised[{idx}] {address} is not a registered identity"),
                        ));
                    }
                    let _ = authorised.insert(address);
                }
                self.authorise(transaction, Some(creator), Some(&asset.owner_organisation))?;
                Ok(Effect::SetRules {
                    asset_id: rules.asset_id.clone(),
                    authorised: authorised.into_iter().collect(),
                })
            }
            TxBody::RevokeIdentity(revoke) => {
                let creator = self.registered_creator(transaction)?;
                let address: Address = revoke
                    .address
                    .parse()
                    .map_err(|e: String| failure(ValidationCode::InvalidArgument, e))?;
                if !valid_text(&revoke.reason, 256) {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "reason must be 1 to 256 bytes without control characters",
                    ));
                }
                let target = self.identities.get(&address).ok_or_else(|| {
                    failure(
                        ValidationCode::UnknownIdentity,
                        format!("identity {address} is not registered"),
                    )
                })?;
                if let Some(revocation) = &target.revoked {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "identity {address} was already revoked in block {}",
                            revocation.block_number
                        ),
                    ));
                }
                self.authorise(transaction, Some(creator), None)?;
                Ok(Effect::Revoke {
                    address,
                    revocation: Revocation {
                        reason: revoke.reason.clone(),
                        block_number: self.height(),
                        tx_id: transaction.id,
                    },
                })
            }
            TxBody::AnchorAccessEvents(anchor) => {
                let creator = self.registered_creator(transaction)?;
                self.authorise(transaction, Some(creator), None)?;
                let previous = self.access_anchors(&creator.address).last();
                let (old_size, old_root) =
                    previous.map_or((0, merkle::empty_root()), |p| (p.tree_size, p.root_hash));
                if anchor.tree_size <= old_size {
                    return Err(failure(
                        ValidationCode::InconsistentAnchor,
                        format!(
                            "anchored size {} does not grow the previous anchor's size {old_size}",
                            anchor.tree_size
                        ),
                    ));
                }
                merkle::verify_consistency(
                    old_size,
                    anchor.tree_size,
                    &old_root,
                    &anchor.root_hash,
                    &anchor.consistency_proof,
                )
                .map_err(|e| {
                    failure(
                        ValidationCode::InconsistentAnchor,
                        format!(
                            "the access-event log of size {} does not extend the anchored log of size {old_size}: {e}",
                            anchor.tree_size
                        ),
                    )
                })?;
                Ok(Effect::Anchor {
                    creator: creator.address,
                    anchor: AccessAnchor {
                        tree_size: anchor.tree_size,
                        root_hash: anchor.root_hash,
                        tx_id: transaction.id,
                        block_number: self.height(),
                    },
                })
            }
            TxBody::IssueCertificate(issue) => self.check_issue(transaction, issue, false),
            TxBody::RenewCertificate(issue) => self.check_issue(transaction, issue, true),
            TxBody::RevokeCertificate(revoke) => self.check_revoke_certificate(transaction, revoke),
            TxBody::AnchorChannels(anchor) => self.check_anchor_channels(transaction, anchor),
            TxBody::OpenAccount(open) => self.check_open_account(transaction, open),
            TxBody::TopUp(top_up) => self.check_top_up(transaction, top_up),
            TxBody::ChangePlan(change) => self.check_change_plan(transaction, change),
        }
    }

    /// Applies a checked effect; returns the response as JSON text.
    fn execute(&mut self, effect: Effect) -> String {
        let response = match effect {
            Effect::Register(identity) => {
                self.commitment.put(&identity_key(&identity.address), &encode(&identity));
                let response = serde_json::json!({ "address": identity.address.to_string() });
                let _ = self.identities.insert(identity.address, identity);
                response
            }
            Effect::Revoke { address, revocation } => {
                let Some(identity) = self.identities.get_mut(&address) else {
                    // `check` found the identity; nothing removes identities.
                    return String::new();
                };
                let response = serde_json::json!({
                    "address": address.to_string(),
                    "revoked_in_block": revocation.block_number,
                });
                identity.revoked = Some(revocation);
                self.commitment.put(&identity_key(&address), &encode(&*identity));
                response
            }
            Effect::Anchor { creator, anchor } => {
                let key = [b"access-anchor/".as_slice(), &creator.0].concat();
                self.commitment.put(&key, &encode(&anchor));
                let response = serde_json::json!({
                    "tree_size": anchor.tree_size,
                    "root_hash": hex::encode(anchor.root_hash),
                });
                self.access_anchors.entry(creator).or_default().push(anchor);
                response
            }
            Effect::Publish { owner_organisation, owner_address, asset_id, version } => {
                let asset = self.assets.entry(asset_id.clone()).or_insert_with(|| AssetRecord {
                    asset_id: asset_id.clone(),
                    owner_organisation,
                    owner_address,
                    authorised: Vec::new(),
                    versions: Vec::new(),
                });
                let number = version.version;
                self.commitment.put(&version_key(&asset_id, number), &encode(&version));
                asset.versions.push(version);
                let head = AssetHeadCommit {
                    owner_organisation: &asset.owner_organisation,
                    owner_address: &asset.owner_address,
                    authorised: &asset.authorised,
                    latest_version: number,
                };
                self.commitment.put(&asset_key(&asset_id), &encode(&head));
                serde_json::json!({ "asset_id": asset_id, "version": number })
            }
            Effect::SetRules { asset_id, authorised } => {
                let Some(asset) = self.assets.get_mut(&asset_id) else {
                    // `check` found the asset; nothing else removes assets.
                    return String::new();
                };
                asset.authorised = authorised;
                let head = AssetHeadCommit {
                    owner_organisation: &asset.owner_organisation,
                    owner_address: &asset.owner_address,
                    authorised: &asset.authorised,
                    latest_version: asset.versions.last().map_or(0, |v| v.version),
                };
                self.commitment.put(&asset_key(&asset_id), &encode(&head));
                serde_json::json!({
                    "asset_id": asset_id,
                    "authorised": asset.authorised.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            }
            Effect::Cert(effect) => self.execute_cert(effect),
            Effect::Billing(effect) => self.execute_billing(effect),
        };
        response.to_string()
    }
}

#[cfg(test)]
mod tests;
