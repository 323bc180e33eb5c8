//! The row structs the projections take and answer: ledger rows, access
//! records, usage, search results, digests and offsets.
//!
//! They are shared by every implementation of the read models
//! ([`crate::read`]), so they live outside the `pg` module and need no
//! PostgreSQL driver.

use serde::Serialize;

/// [`SearchQuery::limit`] when it is 0.
pub const SEARCH_LIMIT_DEFAULT: usize = 50;

/// The largest [`SearchQuery::limit`]; larger ones are clamped.
pub const SEARCH_LIMIT_MAX: usize = 1000;

impl SearchQuery {
    /// How many entries the search answers at most: [`SearchQuery::limit`],
    /// or [`SEARCH_LIMIT_DEFAULT`] when it is 0, clamped to [`SEARCH_LIMIT_MAX`].
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => SEARCH_LIMIT_DEFAULT,
            limit => limit.min(SEARCH_LIMIT_MAX),
        }
    }
}

use crate::audit::AccessEvent;
use crate::billing::Tariff;

/// The changes one block makes to the ledger projections.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockChanges {
    /// The block itself.
    pub block: BlockRow,
    /// Its transactions, valid or not.
    pub transactions: Vec<TransactionRow>,
    /// Identities registered or revoked by it, in their state after it.
    pub identities: Vec<IdentityRow>,
    /// Assets created or changed by it, in their state after it.
    pub assets: Vec<AssetRow>,
    /// Asset versions it published.
    pub versions: Vec<VersionRow>,
    /// Verifier accounts it opened, topped up or re-planned, in their state after it.
    pub accounts: Vec<AccountRow>,
}

/// A verifier account as it stands after a block (upserted by holder; its
/// plans and top-ups are inserted once each).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccountRow {
    /// The holder's address.
    pub holder: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The block that opened it.
    pub opened_in_block: u64,
    /// Sum of its top-ups, minor units.
    pub credited: u64,
    /// Every plan, oldest first.
    pub plans: Vec<PlanRow>,
    /// Every top-up, oldest first.
    pub top_ups: Vec<TopUpRow>,
}

/// One plan period of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlanRow {
    /// The first ledger height it applies at.
    pub from_height: u64,
    /// The transaction that set it.
    pub tx_id: String,
    /// Its prices and allowances.
    pub tariff: Tariff,
    /// `prepaid` or `postpaid`.
    pub payment: String,
    /// Requests per second on each node; 0: no limit.
    pub rate_limit_per_second: u32,
}

/// One top-up of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopUpRow {
    /// The transaction.
    pub tx_id: String,
    /// Its block.
    pub block_number: u64,
    /// Minor units.
    pub amount: u64,
    /// The operator's reference.
    pub reference: String,
    /// The operator's clock.
    pub timestamp_ms: u64,
}

/// One block of the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockRow {
    /// The block number.
    pub number: u64,
    /// Its hash, hex.
    pub hash: String,
    /// The previous block's hash, hex.
    pub previous_hash: String,
    /// The state root after the block, hex.
    pub state_root: String,
    /// The block's offset in the ledger stream.
    pub log_offset: u64,
    /// How many transactions it holds.
    pub tx_count: u32,
}

/// One transaction of a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransactionRow {
    /// The transaction id. A later transaction with the same id (a rejected
    /// duplicate) does not replace the first row.
    pub tx_id: String,
    /// The block that holds it.
    pub block_number: u64,
    /// Its position in the block.
    pub index: u32,
    /// The transaction type, e.g. `publish_asset`.
    pub tx_type: String,
    /// The name of its validation code, e.g. `valid`.
    pub code: String,
    /// The submitter's address, when known.
    pub creator: Option<String>,
    /// The transaction's timestamp, milliseconds since the epoch.
    pub timestamp_ms: u64,
}

/// An identity, as it stands after a block (upserted by address).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdentityRow {
    /// The identity's address.
    pub address: String,
    /// Its display name.
    pub name: String,
    /// Its organisation.
    pub organisation: String,
    /// Its role.
    pub role: String,
    /// The block that registered it.
    pub registered_in_block: u64,
    /// Why it was revoked, if it was.
    pub revoked_reason: Option<String>,
    /// The block that revoked it, if one did.
    pub revoked_in_block: Option<u64>,
}

/// An asset, as it stands after a block (upserted by asset id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AssetRow {
    /// The asset id, e.g. `health/clinics`.
    pub asset_id: String,
    /// The owning organisation.
    pub owner_organisation: String,
    /// The owner's address.
    pub owner_address: String,
    /// The addresses or organisations authorised to read it, in ledger order.
    pub authorised: Vec<String>,
    /// The newest published version.
    pub latest_version: u64,
    /// The data type, e.g. `table`.
    pub data_type: String,
    /// The display name (searched with weight A).
    pub name: String,
    /// The description (searched with weight B).
    pub description: String,
    /// The block that last changed it.
    pub updated_in_block: u64,
}

/// One published version of an asset (immutable; key asset id and version).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VersionRow {
    /// The asset id.
    pub asset_id: String,
    /// The version number.
    pub version: u64,
    /// The data type.
    pub data_type: String,
    /// The hash algorithm of `content_hash`, e.g. `sha256`.
    pub hash_algorithm: String,
    /// The content hash, hex.
    pub content_hash: String,
    /// The size of the content in bytes.
    pub size_bytes: u64,
    /// The display name at this version.
    pub name: String,
    /// The description at this version.
    pub description: String,
    /// The column list, as JSON (stored as `jsonb`, so key order and
    /// whitespace are normalised).
    pub schema: Option<serde_json::Value>,
    /// The encoding of the content, e.g. `csv`.
    pub encoding: String,
    /// The transaction that published it.
    pub tx_id: String,
    /// The block that holds that transaction.
    pub block_number: u64,
    /// The transaction's timestamp, milliseconds since the epoch.
    pub timestamp_ms: u64,
}

/// One record of the access-event stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AccessRecord {
    /// The stream partition.
    pub partition: i32,
    /// The record's offset in its partition.
    pub offset: i64,
    /// The address of the node that logged the event; may be empty.
    pub node: String,
    /// The event's position in that node's access-event Merkle log.
    pub leaf_index: Option<u64>,
    /// The event.
    pub event: AccessEvent,
}

/// An access event as stored, with where it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredAccessEvent {
    /// The event.
    #[serde(flatten)]
    pub event: AccessEvent,
    /// The address of the node that logged it; may be empty.
    pub node: String,
    /// Its position in that node's access-event Merkle log.
    pub leaf_index: Option<u64>,
    /// The partition of the record that was stored (the first, when the
    /// event was logged more than once).
    pub partition: i32,
    /// The offset of that record.
    pub offset: i64,
}

/// What applying a batch of access records did (`pg::Projections::apply_access`,
/// [`crate::read::Feed::apply_access`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AccessApplied {
    /// Events stored and metered.
    pub applied: usize,
    /// Records whose event was already stored (earlier in the batch or in an
    /// earlier batch): not counted again.
    pub duplicates: usize,
    /// Records below the stored next offset of their partition: skipped.
    pub already_applied: usize,
    /// Events of account holders metered into statement lines.
    pub billed: usize,
}

/// The usage meter of one identity, action and decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// The caller's address; empty when unidentified.
    pub identity: String,
    /// The action.
    pub action: String,
    /// `allowed` or `denied`.
    pub decision: String,
    /// How many events.
    pub events: i64,
    /// How many bytes were served.
    pub bytes: i64,
}

/// A directory search.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SearchQuery {
    /// Words, in web-search syntax (`"a phrase"`, `or`, `-not`), matched
    /// against names and descriptions; also matched as a substring of the
    /// asset id. Empty: every asset, by asset id.
    pub text: String,
    /// Only assets of this organisation.
    pub owner_organisation: Option<String>,
    /// Only assets of this data type.
    pub data_type: Option<String>,
    /// At most this many; 0 means [`SEARCH_LIMIT_DEFAULT`], and more than
    /// [`SEARCH_LIMIT_MAX`] means that.
    pub limit: usize,
}

/// One asset found by a directory search ([`crate::read::Directory::search`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DirectoryEntry {
    /// The asset id.
    pub asset_id: String,
    /// The owning organisation.
    pub owner_organisation: String,
    /// The owner's address.
    pub owner_address: String,
    /// The data type.
    pub data_type: String,
    /// The display name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The newest published version.
    pub latest_version: u64,
    /// How many are authorised to read it.
    pub authorised_count: usize,
    /// The full-text rank (`ts_rank`); 0 for an empty query or a match on the
    /// asset id alone.
    pub rank: f32,
}

/// The digest of one projection table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableDigest {
    /// How many rows.
    pub rows: i64,
    /// SHA-256, hex, over the rows in primary-key order (text keys in byte
    /// order), each row's `row::text` form preceded by its length in bytes
    /// as a big-endian u64.
    pub sha256: String,
}

/// One row that differs between two schemas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowDifference {
    /// The table.
    pub table: String,
    /// The primary key's text form: the value, or `(a,b)` for a composite key.
    pub key: String,
    /// The row's text form in the first schema; `None` when it is missing there.
    pub live: Option<String>,
    /// The row's text form in the second schema; `None` when it is missing there.
    pub other: Option<String>,
}

/// The stored next offset of one stream partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StreamOffset {
    /// The stream: `ledger` or an access topic.
    pub stream: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to apply.
    pub next_offset: i64,
}
