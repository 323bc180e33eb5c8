//! Ledger blocks turned into the rows of the read models.
//!
//! [`LedgerFolder`] keeps a replica of the chaincode state and answers, for
//! each ledger record it applies, the [`BlockChanges`] of that block: the
//! block, its transactions, and the identities, assets, versions and
//! accounts it touched as they stand after it. Every implementation of the
//! read models ([`crate::read`]) is fed by this one fold, so they cannot
//! disagree on what a block means.
//!
//! The fold does no I/O: the caller reads the log and hands records over.

use std::collections::BTreeSet;

use anchor_chaincode::ledger::{self, Block, Ledger};
use anchor_chaincode::sig::SignatureVerifier;
use anchor_chaincode::tx::{Transaction, TxBody};
use anchor_chaincode::{Address, ValidationCode};

use crate::billing::Tariff;
use crate::rows::{
    AccountRow, AssetRow, BlockChanges, BlockRow, IdentityRow, PlanRow, TopUpRow, TransactionRow,
    VersionRow,
};

/// Folds ledger records into block rows, with a replica of the chaincode state.
#[derive(Debug)]
pub struct LedgerFolder<V> {
    ledger: Ledger,
    verifier: V,
}

impl<V: SignatureVerifier> LedgerFolder<V> {
    /// A folder whose replica starts at `ledger` (usually just built from
    /// the genesis record), checking signatures with `verifier`.
    pub fn new(ledger: Ledger, verifier: V) -> LedgerFolder<V> {
        LedgerFolder { ledger, verifier }
    }

    /// The replica.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The rows of the block at the head of the replica, as if its
    /// transactions were unknown (used for the genesis block, whose
    /// identities all count as registered by it).
    pub fn head_changes(&self) -> BlockChanges {
        block_changes(&self.ledger, self.ledger.head(), &[])
    }

    /// Applies a record without answering its rows (catching up with what
    /// the read models already hold).
    pub fn skip(&mut self, offset: u64, record: &[u8]) {
        let _ = self.ledger.apply_record_with(offset, record, &self.verifier);
    }

    /// Applies the record at `offset` and answers the rows of its block.
    pub fn apply(&mut self, offset: u64, record: &[u8]) -> BlockChanges {
        let block = self.ledger.apply_record_with(offset, record, &self.verifier).clone();
        let envelopes = ledger::batch_envelopes(record).unwrap_or_default();
        block_changes(&self.ledger, &block, &envelopes)
    }
}

/// The rows `block` changes, read from `ledger`, the state after it;
/// `envelopes` are the block's transaction envelopes in order.
pub fn block_changes(ledger: &Ledger, block: &Block, envelopes: &[Vec<u8>]) -> BlockChanges {
    let mut changes = BlockChanges {
        block: BlockRow {
            number: block.header.number,
            hash: hex::encode(block.hash),
            previous_hash: hex::encode(block.header.previous_hash),
            state_root: hex::encode(block.header.state_root),
            log_offset: block.header.log_offset,
            tx_count: block.header.tx_count,
        },
        transactions: Vec::new(),
        identities: Vec::new(),
        assets: Vec::new(),
        versions: Vec::new(),
        accounts: Vec::new(),
    };
    let mut identities = BTreeSet::new();
    let mut holders = BTreeSet::new();
    let mut assets = BTreeSet::new();
    for receipt in &block.receipts {
        changes.transactions.push(TransactionRow {
            tx_id: receipt.tx_id.to_string(),
            block_number: receipt.block_number,
            index: receipt.index,
            tx_type: receipt.tx_type.to_owned(),
            code: receipt.code.as_str().to_owned(),
            creator: receipt.creator.map(|a| a.to_string()),
            timestamp_ms: receipt.timestamp_ms,
        });
        if receipt.code != ValidationCode::Valid {
            continue;
        }
        let Some(Ok(transaction)) =
            envelopes.get(receipt.index as usize).map(|e| Transaction::decode(e))
        else {
            continue;
        };
        match &transaction.body {
            TxBody::RegisterIdentity(register) => {
                let _ = identities.insert(Address::of_public_key(&register.signing_public_key));
            }
            TxBody::RevokeIdentity(revoke) => {
                if let Ok(address) = revoke.address.parse::<Address>() {
                    let _ = identities.insert(address);
                }
            }
            TxBody::PublishAsset(publish) => {
                let _ = assets.insert(publish.asset_id.clone());
                if let Some(version) = ledger
                    .asset(&publish.asset_id)
                    .and_then(|a| a.versions.iter().find(|v| v.version == publish.version))
                {
                    let meta = Metadata::of(&version.metadata);
                    changes.versions.push(VersionRow {
                        asset_id: publish.asset_id.clone(),
                        version: version.version,
                        data_type: version.data_type.as_str().to_owned(),
                        hash_algorithm: version.hash_algorithm.clone(),
                        content_hash: hex::encode(version.content_hash),
                        size_bytes: version.size_bytes,
                        name: meta.name,
                        description: meta.description,
                        schema: meta.schema,
                        encoding: meta.encoding,
                        tx_id: version.tx_id.to_string(),
                        block_number: version.block_number,
                        timestamp_ms: transaction.timestamp_ms,
                    });
                }
            }
            TxBody::SetSharingRules(rules) => {
                let _ = assets.insert(rules.asset_id.clone());
            }
            // Removing an organisation revokes its identities.
            TxBody::ChangeConsortium(
                anchor_chaincode::tx::ConsortiumChange::RemoveOrganisation { name },
            ) => {
                identities.extend(
                    ledger.identities().filter(|i| i.organisation == *name).map(|i| i.address),
                );
            }
            TxBody::ChangeConsortium(_) => {}
            // Certificates stay in their channels; the directory does not list them.
            TxBody::AnchorAccessEvents(_)
            | TxBody::IssueCertificate(_)
            | TxBody::RenewCertificate(_)
            | TxBody::RevokeCertificate(_)
            | TxBody::AnchorChannels(_) => {}
            // Services and cases are read from the node's ledger replica.
            TxBody::DefineService(_) | TxBody::CaseAction(_) => {}
            TxBody::OpenAccount(anchor_chaincode::tx::OpenAccount { holder, .. })
            | TxBody::TopUp(anchor_chaincode::tx::TopUp { holder, .. })
            | TxBody::ChangePlan(anchor_chaincode::tx::ChangePlan { holder, .. }) => {
                if let Ok(address) = holder.parse::<Address>() {
                    let _ = holders.insert(address);
                }
            }
        }
    }
    if block.header.number == 0 {
        identities.extend(ledger.identities().map(|i| i.address));
    }
    for address in identities {
        if let Some(identity) = ledger.identity(&address) {
            changes.identities.push(IdentityRow {
                address: identity.address.to_string(),
                name: identity.name.clone(),
                organisation: identity.organisation.clone(),
                role: identity.role.as_str().to_owned(),
                registered_in_block: identity.registered_in_block,
                revoked_reason: identity.revoked.as_ref().map(|r| r.reason.clone()),
                revoked_in_block: identity.revoked.as_ref().map(|r| r.block_number),
            });
        }
    }
    for holder in holders {
        if let Some(account) = ledger.account(&holder) {
            changes.accounts.push(AccountRow {
                holder: holder.to_string(),
                currency: account.currency.clone(),
                opened_in_block: account.opened_in_block,
                credited: account.credited,
                plans: account
                    .plans
                    .iter()
                    .map(|period| PlanRow {
                        from_height: period.from_height,
                        tx_id: period.tx_id.to_string(),
                        tariff: Tariff::from(&period.plan),
                        payment: period.plan.payment.as_str().to_owned(),
                        rate_limit_per_second: period.plan.rate_limit_per_second,
                    })
                    .collect(),
                top_ups: account
                    .top_ups
                    .iter()
                    .map(|top_up| TopUpRow {
                        tx_id: top_up.tx_id.to_string(),
                        block_number: top_up.block_number,
                        amount: top_up.amount,
                        reference: top_up.reference.clone(),
                        timestamp_ms: top_up.timestamp_ms,
                    })
                    .collect(),
            });
        }
    }
    for asset_id in assets {
        if let Some(asset) = ledger.asset(&asset_id) {
            changes.assets.push(asset_row(asset, block.header.number));
        }
    }
    changes
}

/// The directory row of an asset as the chaincode state holds it, last
/// changed in block `updated_in_block`.
pub fn asset_row(asset: &ledger::AssetRecord, updated_in_block: u64) -> AssetRow {
    let latest = asset.versions.last();
    let meta = latest.map(|v| Metadata::of(&v.metadata)).unwrap_or_default();
    AssetRow {
        asset_id: asset.asset_id.clone(),
        owner_organisation: asset.owner_organisation.clone(),
        owner_address: asset.owner_address.to_string(),
        authorised: asset.authorised.iter().map(ToString::to_string).collect(),
        latest_version: latest.map_or(0, |v| v.version),
        data_type: latest.map(|v| v.data_type.as_str().to_owned()).unwrap_or_default(),
        name: meta.name,
        description: meta.description,
        updated_in_block,
    }
}

/// What the directory shows of a version's header metadata (the ODS asset
/// header as JSON; anything else is shown without a name).
#[derive(Debug, Default)]
struct Metadata {
    name: String,
    description: String,
    schema: Option<serde_json::Value>,
    encoding: String,
}

impl Metadata {
    fn of(bytes: &[u8]) -> Metadata {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Metadata::default();
        };
        let text =
            |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        Metadata {
            name: text("name"),
            description: text("description"),
            schema: value.get("schema").filter(|s| !s.is_null()).cloned(),
            encoding: text("encoding"),
        }
    }
}
