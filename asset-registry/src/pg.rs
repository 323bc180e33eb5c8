//! The PostgreSQL projections of Cairn, exactly once.
//!
//! Cairn has two ordered logs. The ledger stream has one partition and each
//! record is a block; the access-event stream is a topic with several
//! partitions and each record is one encoded [`AccessEvent`]. A projector
//! reads records and hands them to [`Projections`], which writes the rows
//! *and* the next offset of every partition it consumed in one database
//! transaction. After a crash the projector asks for the stored offsets and
//! resumes there; a record applied twice is recognised by its offset and
//! skipped, so each record changes the projections exactly once.
//!
//! Every table lives in one schema, named by the caller (a replay builds a
//! scratch schema next to the live one and compares them with
//! [`Projections::digests`] and [`Projections::diff`]). The rows are a pure
//! function of the logs: no column holds a wall-clock time, and upserts keep
//! the latest record in log order.
//!
//! The tables, with their primary keys:
//!
//! | table               | key                            | fed by                     |
//! |---------------------|--------------------------------|----------------------------|
//! | `schema_migrations` | `version`                      | [`Projections::connect`]   |
//! | `stream_offsets`    | `stream, partition`            | both streams               |
//! | `blocks`            | `number`                       | [`Projections::apply_blocks`] |
//! | `transactions`      | `tx_id`                        | [`Projections::apply_blocks`] |
//! | `identities`        | `address`                      | [`Projections::apply_blocks`] |
//! | `assets`            | `asset_id`                     | [`Projections::apply_blocks`] |
//! | `asset_versions`    | `asset_id, version`            | [`Projections::apply_blocks`] |
//! | `access_events`     | `event_id`                     | [`Projections::apply_access`] |
//! | `usage`             | `identity, action, decision`   | [`Projections::apply_access`] |
//!
//! The DDL is in `pg/ddl/NNN-name.sql` (one migration per file, each run once
//! in its own transaction) and every fixed statement is in
//! `pg/sql/<table>_<verb>.sql`; only the per-table statements of
//! [`Projections::counts`], [`Projections::digests`] and
//! [`Projections::diff`] are built in Rust, from a fixed list of tables.
//! The only text ever spliced into SQL is the schema name (checked against
//! `^[a-z_][a-z0-9_]{0,62}$` and quoted) and, for the benchmark's plain table,
//! a table name checked the same way; everything else is a parameter.
//! Identifier columns are `COLLATE "C"`: keys sort bytewise, the same on
//! every server.
//!
//! Unsigned values are stored as `bigint`; a value above `i64::MAX` is
//! refused with [`Error::OutOfRange`] rather than wrapped.
//!
//! ```no_run
//! # async fn example() -> Result<(), asset_registry::pg::Error> {
//! use asset_registry::pg::{Projections, SearchQuery};
//!
//! let projections = Projections::connect("postgres://cairn@db/cairn", "projections").await?;
//! let next = projections.ledger_next_offset().await?;
//! // ... read blocks from `next` and call `projections.apply_blocks(&blocks)`.
//! let found = projections
//!     .search(&SearchQuery { text: "clinics".into(), ..SearchQuery::default() })
//!     .await?;
//! # let _ = (next, found);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use connectors::pg_tls::MakeRustls;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures_util::{TryStreamExt, pin_mut};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::config::Host;
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::{IsolationLevel, Row};

use crate::audit::{AccessEvent, AuditFilter, Decision};
use crate::billing::{self, Charge, Line, Month, MonthTotals, Tariff, TariffPeriod, Units};

#[cfg(test)]
mod tests;

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `stream` under which the ledger's offset is stored (partition 0).
pub const LEDGER_STREAM: &str = "ledger";

/// Connections in the pool of one [`Projections`].
const POOL_SIZE: usize = 8;

/// How long to wait for a TCP connection when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// [`SearchQuery::limit`] when it is 0.
pub const SEARCH_LIMIT_DEFAULT: usize = 50;

/// The largest [`SearchQuery::limit`]; larger ones are clamped.
pub const SEARCH_LIMIT_MAX: usize = 1000;

/// Everything that can go wrong in the PostgreSQL projections.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A schema name is not a plain lower-case identifier.
    #[error(
        "invalid schema name {name:?}: it must match ^[a-z_][a-z0-9_]{{0,62}}$ (lower-case letters, digits and underscores, not starting with a digit, at most 63 characters)"
    )]
    InvalidSchemaName {
        /// The name that was given.
        name: String,
    },
    /// A table name is not a plain lower-case identifier.
    #[error("invalid table name {name:?}: it must match ^[a-z_][a-z0-9_]{{0,62}}$")]
    InvalidTableName {
        /// The name that was given.
        name: String,
    },
    /// The URL is not a PostgreSQL connection string.
    #[error("invalid PostgreSQL URL: {message}")]
    InvalidUrl {
        /// What the parser said (never the password).
        message: String,
    },
    /// No connection could be made or taken from the pool.
    #[error("cannot connect to PostgreSQL at {target}: {message}")]
    Connect {
        /// `user@host:port/database`, without the password.
        target: String,
        /// The cause.
        message: String,
    },
    /// A migration failed; its transaction was rolled back.
    #[error("migration {version} ({name}) failed in schema {schema}: {message}")]
    Migration {
        /// The schema being migrated.
        schema: String,
        /// The migration's number.
        version: i32,
        /// The migration's name.
        name: &'static str,
        /// The cause.
        message: String,
    },
    /// The schema was migrated by a newer build than this one.
    #[error(
        "schema {schema} is at migration {found}, but this build knows migrations up to {known}; upgrade Cairn"
    )]
    SchemaTooNew {
        /// The schema.
        schema: String,
        /// The highest migration recorded in the schema.
        found: i32,
        /// The highest migration this build knows.
        known: i32,
    },
    /// A statement failed.
    #[error("{context} (schema {schema}): {message}")]
    Query {
        /// The schema the statement ran in.
        schema: String,
        /// What was being done.
        context: String,
        /// The cause, with the server's message when there is one.
        message: String,
        /// The SQLSTATE code, when the server reported an error.
        code: Option<String>,
    },
    /// A batch starts after the stored next offset: records are missing.
    #[error(
        "offset gap on stream {stream} partition {partition}: stored next offset {stored}, batch starts at {first}"
    )]
    OffsetGap {
        /// The stream.
        stream: String,
        /// The partition.
        partition: i32,
        /// The next offset stored in the database.
        stored: i64,
        /// The first offset of the batch.
        first: i64,
    },
    /// A batch holds an event decided at a ledger height the ledger
    /// projection has not reached: its plan is not known yet. Nothing was
    /// written; apply the batch again once the ledger projector caught up.
    #[error(
        "the ledger projection of schema {schema} is at height {projected}; an access event was decided at height {needed}"
    )]
    LedgerBehind {
        /// The schema.
        schema: String,
        /// The height the batch needs.
        needed: u64,
        /// The height projected.
        projected: u64,
    },
    /// The records of a batch are not consecutive, or not valid offsets.
    #[error("bad batch for stream {stream} partition {partition}: {message}")]
    BadBatch {
        /// The stream.
        stream: String,
        /// The partition.
        partition: i32,
        /// What is wrong.
        message: String,
    },
    /// An access stream was given the name reserved for the ledger.
    #[error(
        "stream name {stream:?} is reserved for the ledger stream; name access streams after their topic"
    )]
    ReservedStream {
        /// The name.
        stream: String,
    },
    /// A value does not fit the column that stores it.
    #[error(
        "value {value} out of range for column {column}: the largest bigint is 9223372036854775807"
    )]
    OutOfRange {
        /// `table.column`.
        column: &'static str,
        /// The value.
        value: u64,
    },
    /// A stored value cannot be read back as the type the row struct has.
    #[error("column {column} holds {value}, which is not {expected}")]
    Corrupt {
        /// `table.column`.
        column: &'static str,
        /// The value, as text.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A value could not be converted to or from JSON.
    #[error("column {column}: {message}")]
    Json {
        /// `table.column`.
        column: &'static str,
        /// The cause.
        message: String,
    },
}

/// Describes a driver error: its kind, plus the server's message, detail
/// and hint when the server reported it, or the chain of causes otherwise.
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text =
            format!("{error}: {} {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str("; detail: ");
            text.push_str(detail);
        }
        if let Some(hint) = db.hint() {
            text.push_str("; hint: ");
            text.push_str(hint);
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Whether `name` matches `^[a-z_][a-z0-9_]{0,62}$`.
fn is_identifier(name: &str) -> bool {
    let bytes = name.as_bytes();
    matches!(bytes.first(), Some(b'a'..=b'z' | b'_'))
        && bytes.len() <= 63
        && bytes.iter().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

fn check_schema(name: &str) -> Result<()> {
    if is_identifier(name) { Ok(()) } else { Err(Error::InvalidSchemaName { name: name.into() }) }
}

fn check_table(name: &str) -> Result<()> {
    if is_identifier(name) { Ok(()) } else { Err(Error::InvalidTableName { name: name.into() }) }
}

fn check_access_stream(stream: &str) -> Result<()> {
    if stream == LEDGER_STREAM {
        Err(Error::ReservedStream { stream: stream.into() })
    } else {
        Ok(())
    }
}

/// A `u64` as a `bigint`, or an error naming the column.
fn to_i64(value: u64, column: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::OutOfRange { column, value })
}

fn opt_to_i64(value: Option<u64>, column: &'static str) -> Result<Option<i64>> {
    value.map(|value| to_i64(value, column)).transpose()
}

/// A `bigint` read back as a `u64`.
fn to_u64(value: i64, column: &'static str) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Corrupt {
        column,
        value: value.to_string(),
        expected: "a non-negative integer",
    })
}

fn to_usize(value: i64, column: &'static str) -> Result<usize> {
    usize::try_from(value).map_err(|_| Error::Corrupt {
        column,
        value: value.to_string(),
        expected: "a non-negative count",
    })
}

/// A month as its `integer` column.
fn month_to_i32(month: Month, column: &'static str) -> Result<i32> {
    i32::try_from(month.0).map_err(|_| Error::OutOfRange { column, value: u64::from(month.0) })
}

/// An `integer` month column read back.
fn to_month(value: i32, column: &'static str) -> Result<Month> {
    u32::try_from(value).map(Month).map_err(|_| Error::Corrupt {
        column,
        value: value.to_string(),
        expected: "a month number (0 is January 1970)",
    })
}

/// The monthly totals in `billing_months`' columns events, queries, bytes
/// and charged, at `first` and the three after it in `row`.
fn month_totals(row: &Row, first: usize) -> Result<MonthTotals> {
    let number = |idx, column| -> Result<u64> { to_u64(get(row, first + idx, column)?, column) };
    Ok(MonthTotals {
        events: number(0, "billing_months.events")?,
        queries: number(1, "billing_months.queries")?,
        bytes: number(2, "billing_months.bytes")?,
        charged: number(3, "billing_months.charged")?,
    })
}

/// Parses a URL and names its target without the password.
#[cfg(test)]
fn parse_url(url: &str) -> Result<(tokio_postgres::Config, String)> {
    parse_url_tls(url).map(|(config, target, _)| (config, target))
}

/// Like [`parse_url`], with the TLS connector the URL's `sslmode` asks for
/// (see `connectors::pg_tls`).
fn parse_url_tls(url: &str) -> Result<(tokio_postgres::Config, String, MakeRustls)> {
    // The messages quote no character of the URL (see `connectors::pg_tls::parse`).
    let (mut config, tls) = connectors::pg_tls::connect_config(url)
        .map_err(|error| Error::InvalidUrl { message: error.to_string() })?;
    if config.get_connect_timeout().is_none() {
        let _ = config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        let _ = config.application_name("cairn-projections");
    }
    let target = describe_target(&config);
    Ok((config, target, tls))
}

/// `user@host:port/database`; never the password.
fn describe_target(config: &tokio_postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(host_idx, host)| {
            let port = ports.get(host_idx).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let hosts = if hosts.is_empty() { "localhost".to_owned() } else { hosts.join(",") };
    let user = config.get_user().unwrap_or("(default user)");
    let database = config.get_dbname().unwrap_or("(default database)");
    format!("{user}@{hosts}/{database}")
}

/// Renders a statement for a schema: `{schema}` becomes the quoted name.
fn render(template: &str, schema: &str) -> String {
    template.replace("{schema}", &format!("\"{schema}\""))
}

/// The key of the advisory lock that serialises migrations of one schema.
fn advisory_key(schema: &str) -> i64 {
    let digest = Sha256::digest(format!("cairn.asset-registry.pg.migrate:{schema}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// One numbered DDL file.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// The migrations, in order. Never edit one that has shipped; add another.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "stream offsets and ledger projections",
        sql: include_str!("pg/ddl/001-ledger.sql"),
    },
    Migration {
        version: 2,
        name: "access-event projections",
        sql: include_str!("pg/ddl/002-access.sql"),
    },
    Migration {
        version: 3,
        name: "billing projections",
        sql: include_str!("pg/ddl/003-billing.sql"),
    },
];

/// The statements, by file name.
mod sql {
    pub(super) const SCHEMA_MIGRATIONS_CREATE: &str =
        include_str!("pg/sql/schema_migrations_create.sql");
    pub(super) const SCHEMA_MIGRATIONS_SELECT_BY_VERSION: &str =
        include_str!("pg/sql/schema_migrations_select_by_version.sql");
    pub(super) const SCHEMA_MIGRATIONS_INSERT: &str =
        include_str!("pg/sql/schema_migrations_insert.sql");
    pub(super) const SCHEMA_MIGRATIONS_SELECT_MAX: &str =
        include_str!("pg/sql/schema_migrations_select_max.sql");
    pub(super) const STREAM_OFFSETS_INSERT_MISSING: &str =
        include_str!("pg/sql/stream_offsets_insert_missing.sql");
    pub(super) const STREAM_OFFSETS_SELECT_FOR_UPDATE: &str =
        include_str!("pg/sql/stream_offsets_select_for_update.sql");
    pub(super) const STREAM_OFFSETS_UPDATE: &str = include_str!("pg/sql/stream_offsets_update.sql");
    pub(super) const STREAM_OFFSETS_SELECT_BY_STREAM: &str =
        include_str!("pg/sql/stream_offsets_select_by_stream.sql");
    pub(super) const STREAM_OFFSETS_SELECT: &str = include_str!("pg/sql/stream_offsets_select.sql");
    pub(super) const BLOCKS_INSERT: &str = include_str!("pg/sql/blocks_insert.sql");
    pub(super) const TRANSACTIONS_INSERT: &str = include_str!("pg/sql/transactions_insert.sql");
    pub(super) const IDENTITIES_UPSERT: &str = include_str!("pg/sql/identities_upsert.sql");
    pub(super) const ASSETS_UPSERT: &str = include_str!("pg/sql/assets_upsert.sql");
    pub(super) const ASSET_VERSIONS_INSERT: &str = include_str!("pg/sql/asset_versions_insert.sql");
    pub(super) const ASSET_VERSIONS_SELECT_BY_ASSET: &str =
        include_str!("pg/sql/asset_versions_select_by_asset.sql");
    pub(super) const ASSETS_SEARCH: &str = include_str!("pg/sql/assets_search.sql");
    pub(super) const ACCESS_EVENTS_COPY: &str = include_str!("pg/sql/access_events_copy.sql");
    pub(super) const ACCESS_EVENTS_SELECT_STORED: &str =
        include_str!("pg/sql/access_events_select_stored.sql");
    pub(super) const USAGE_UPSERT: &str = include_str!("pg/sql/usage_upsert.sql");
    pub(super) const BILLING_ACCOUNTS_UPSERT: &str =
        include_str!("pg/sql/billing_accounts_upsert.sql");
    pub(super) const BILLING_PLANS_INSERT: &str = include_str!("pg/sql/billing_plans_insert.sql");
    pub(super) const BILLING_TOP_UPS_INSERT: &str =
        include_str!("pg/sql/billing_top_ups_insert.sql");
    pub(super) const BILLING_PLANS_SELECT_BY_HOLDERS: &str =
        include_str!("pg/sql/billing_plans_select_by_holders.sql");
    pub(super) const BLOCKS_SELECT_HEIGHT: &str = include_str!("pg/sql/blocks_select_height.sql");
    pub(super) const IDENTITIES_SELECT_BY_ADDRESS: &str =
        include_str!("pg/sql/identities_select_by_address.sql");
    pub(super) const BILLING_MONTHS_SELECT_FOR_UPDATE: &str =
        include_str!("pg/sql/billing_months_select_for_update.sql");
    pub(super) const BILLING_MONTHS_UPSERT: &str = include_str!("pg/sql/billing_months_upsert.sql");
    pub(super) const BILLING_LINES_COPY: &str = include_str!("pg/sql/billing_lines_copy.sql");
    pub(super) const BILLING_LINES_SELECT_BY_MONTH: &str =
        include_str!("pg/sql/billing_lines_select_by_month.sql");
    pub(super) const BILLING_MONTHS_SELECT_BY_HOLDER: &str =
        include_str!("pg/sql/billing_months_select_by_holder.sql");
    pub(super) const BILLING_LINES_SUM_BY_OTHERS: &str =
        include_str!("pg/sql/billing_lines_sum_by_others.sql");
    pub(super) const ACCESS_EVENTS_SELECT: &str = include_str!("pg/sql/access_events_select.sql");
    pub(super) const ACCESS_PLAIN_CREATE: &str = include_str!("pg/sql/access_plain_create.sql");
    pub(super) const ACCESS_PLAIN_CREATE_LIKE: &str =
        include_str!("pg/sql/access_plain_create_like.sql");
    pub(super) const ACCESS_PLAIN_COPY: &str = include_str!("pg/sql/access_plain_copy.sql");
    pub(super) const ACCESS_PLAIN_TRUNCATE: &str = include_str!("pg/sql/access_plain_truncate.sql");
    pub(super) const USAGE_SELECT: &str = include_str!("pg/sql/usage_select.sql");
}

/// A projection table: its name and primary key, for counts, digests and
/// diffs.
struct ProjectionTable {
    name: &'static str,
    /// The key columns, each with whether it is text (ordered bytewise).
    key: &'static [(&'static str, bool)],
}

/// The tables that [`Projections::digests`] and [`Projections::diff`] cover:
/// every projection table except `schema_migrations` and `stream_offsets`.
const PROJECTION_TABLES: &[ProjectionTable] = &[
    ProjectionTable { name: "blocks", key: &[("number", false)] },
    ProjectionTable { name: "transactions", key: &[("tx_id", true)] },
    ProjectionTable { name: "identities", key: &[("address", true)] },
    ProjectionTable { name: "assets", key: &[("asset_id", true)] },
    ProjectionTable { name: "asset_versions", key: &[("asset_id", true), ("version", false)] },
    ProjectionTable { name: "access_events", key: &[("event_id", true)] },
    ProjectionTable {
        name: "usage",
        key: &[("identity", true), ("action", true), ("decision", true)],
    },
    ProjectionTable { name: "billing_accounts", key: &[("holder", true)] },
    ProjectionTable { name: "billing_plans", key: &[("holder", true), ("from_height", false)] },
    ProjectionTable { name: "billing_top_ups", key: &[("tx_id", true)] },
    ProjectionTable { name: "billing_months", key: &[("holder", true), ("month", false)] },
    ProjectionTable { name: "billing_lines", key: &[("event_id", true)] },
];

impl ProjectionTable {
    /// `"a" COLLATE "C", "b"`: primary-key order, the same on every server.
    fn order_by(&self, qualifier: &str) -> String {
        let columns: Vec<String> = self
            .key
            .iter()
            .map(|(column, text)| {
                if *text {
                    format!("{qualifier}\"{column}\" COLLATE \"C\"")
                } else {
                    format!("{qualifier}\"{column}\"")
                }
            })
            .collect();
        columns.join(", ")
    }

    /// `"a", "b"`.
    fn key_columns(&self) -> String {
        let columns: Vec<String> =
            self.key.iter().map(|(column, _)| format!("\"{column}\"")).collect();
        columns.join(", ")
    }

    /// The key's text form: the column's text, or `(a,b)` for several.
    fn key_text(&self) -> String {
        match self.key {
            [(column, _)] => format!("\"{column}\"::text"),
            _ => format!("ROW({})::text", self.key_columns()),
        }
    }
}

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

/// What [`Projections::apply_access`] did with a batch.
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

/// One asset found by [`Projections::search`].
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
    /// The stream: [`LEDGER_STREAM`] or an access topic.
    pub stream: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to apply.
    pub next_offset: i64,
}

/// The PostgreSQL projections in one schema, over a pool of connections.
///
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct Projections {
    pool: Pool,
    schema: String,
    /// `user@host:port/database`, for messages; never the password.
    target: String,
}

impl fmt::Debug for Projections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Projections")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// The column types of the access batch, in `COPY` order.
const ACCESS_COPY_TYPES: [Type; 17] = [
    Type::TEXT, // event_id
    Type::TEXT, // node
    Type::INT8, // leaf_index
    Type::INT4, // partition
    Type::INT8, // offset
    Type::INT8, // time_ms
    Type::TEXT, // identity
    Type::TEXT, // organisation
    Type::TEXT, // role
    Type::TEXT, // action
    Type::TEXT, // resource
    Type::TEXT, // decision
    Type::TEXT, // reason
    Type::INT8, // bytes
    Type::INT8, // latency_us
    Type::TEXT, // method
    Type::INT8, // ledger_height
];

impl Projections {
    /// Connects with a pool of 8 connections, creates the schema if it is
    /// missing and runs the migrations it lacks.
    ///
    /// Each migration runs once, in its own transaction, recorded in
    /// `schema_migrations`; concurrent callers on the same schema wait for
    /// each other on an advisory lock.
    #[tracing::instrument(skip(url))]
    pub async fn connect(url: &str, schema: &str) -> Result<Projections> {
        check_schema(schema)?;
        let (config, target, tls) = parse_url_tls(url)?;
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager).max_size(POOL_SIZE).build().map_err(|error| {
            Error::Connect { target: target.clone(), message: error.to_string() }
        })?;
        let projections = Projections { pool, schema: schema.to_owned(), target };
        projections.migrate().await?;
        Ok(projections)
    }

    /// The schema that holds the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Drops a schema and everything in it (used by replay for its scratch
    /// schema). A missing schema is not an error.
    pub async fn drop_schema(url: &str, schema: &str) -> Result<()> {
        check_schema(schema)?;
        let (config, target, tls) = parse_url_tls(url)?;
        let (client, connection) = config
            .connect(tls)
            .await
            .map_err(|error| Error::Connect { target, message: describe(&error) })?;
        let driver = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(error = %describe(&error), "PostgreSQL connection ended with an error");
            }
        });
        let dropped = client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
            .map_err(|error| Error::Query {
                schema: schema.to_owned(),
                context: "dropping the schema".into(),
                message: describe(&error),
                code: error.code().map(|code| code.code().to_owned()),
            });
        drop(client);
        let _ = driver.await;
        dropped
    }

    /// A closure that wraps a driver error with what was being done.
    fn sql_error<'a, C: Into<String> + 'a>(
        &'a self,
        context: C,
    ) -> impl FnOnce(tokio_postgres::Error) -> Error + 'a {
        move |error| Error::Query {
            schema: self.schema.clone(),
            context: context.into(),
            message: describe(&error),
            code: error.code().map(|code| code.code().to_owned()),
        }
    }

    fn sql(&self, template: &str) -> String {
        render(template, &self.schema)
    }

    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(|error| {
            let message = match &error {
                deadpool_postgres::PoolError::Backend(error) => describe(error),
                other => other.to_string(),
            };
            Error::Connect { target: self.target.clone(), message }
        })
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let lock_key = advisory_key(&self.schema);
        let lock = "SELECT pg_advisory_xact_lock($1)";

        let transaction = client
            .transaction()
            .await
            .map_err(self.sql_error("starting the schema transaction"))?;
        let _ = transaction
            .execute(lock, &[&lock_key])
            .await
            .map_err(self.sql_error("taking the migration lock"))?;
        let exists = transaction
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&self.schema])
            .await
            .map_err(self.sql_error("looking for the schema"))?
            .is_some();
        if !exists {
            transaction
                .batch_execute(&format!("CREATE SCHEMA \"{}\"", self.schema))
                .await
                .map_err(self.sql_error("creating the schema"))?;
        }
        transaction
            .batch_execute(&self.sql(sql::SCHEMA_MIGRATIONS_CREATE))
            .await
            .map_err(self.sql_error("creating schema_migrations"))?;
        transaction.commit().await.map_err(self.sql_error("committing the schema"))?;

        for migration in MIGRATIONS {
            let failed = |message: String| Error::Migration {
                schema: self.schema.clone(),
                version: migration.version,
                name: migration.name,
                message,
            };
            let transaction =
                client.transaction().await.map_err(|error| failed(describe(&error)))?;
            let _ = transaction
                .execute(lock, &[&lock_key])
                .await
                .map_err(|error| failed(describe(&error)))?;
            let applied = transaction
                .query_opt(
                    &self.sql(sql::SCHEMA_MIGRATIONS_SELECT_BY_VERSION),
                    &[&migration.version],
                )
                .await
                .map_err(|error| failed(describe(&error)))?
                .is_some();
            if applied {
                transaction.rollback().await.map_err(|error| failed(describe(&error)))?;
                continue;
            }
            transaction
                .batch_execute(&self.sql(migration.sql))
                .await
                .map_err(|error| failed(describe(&error)))?;
            let _ = transaction
                .execute(
                    &self.sql(sql::SCHEMA_MIGRATIONS_INSERT),
                    &[&migration.version, &migration.name],
                )
                .await
                .map_err(|error| failed(describe(&error)))?;
            transaction.commit().await.map_err(|error| failed(describe(&error)))?;
            tracing::info!(
                schema = %self.schema,
                version = migration.version,
                name = migration.name,
                "applied migration"
            );
        }

        let known = MIGRATIONS.iter().map(|migration| migration.version).max().unwrap_or(0);
        let row = client
            .query_one(&self.sql(sql::SCHEMA_MIGRATIONS_SELECT_MAX), &[])
            .await
            .map_err(self.sql_error("reading schema_migrations"))?;
        let found: Option<i32> = get(&row, 0, "schema_migrations.version")?;
        match found {
            Some(found) if found > known => {
                Err(Error::SchemaTooNew { schema: self.schema.clone(), found, known })
            }
            _ => Ok(()),
        }
    }

    // ---- ledger stream ----

    /// An identity's role and whether it is revoked (`None` when no identity
    /// has this address), with the height of the projected ledger it was read at.
    pub async fn identity_status(&self, address: &str) -> Result<(Option<(String, bool)>, u64)> {
        let client = self.client().await?;
        let row = client
            .query_one(&self.sql(sql::IDENTITIES_SELECT_BY_ADDRESS), &[&address])
            .await
            .map_err(self.sql_error("reading an identity"))?;
        let role: Option<String> = get(&row, 0, "identities.role")?;
        let revoked: Option<bool> = get(&row, 1, "identities.revoked_reason")?;
        let height = to_u64(get(&row, 2, "blocks.number")?, "blocks.number")?;
        Ok((role.map(|role| (role, revoked.unwrap_or(false))), height))
    }

    /// The next ledger offset to apply: 0 when nothing is applied.
    pub async fn ledger_next_offset(&self) -> Result<u64> {
        let next = self.offsets_of(LEDGER_STREAM).await?;
        match next.get(&0) {
            Some(&next) => to_u64(next, "stream_offsets.next_offset"),
            None => Ok(0),
        }
    }

    /// Applies consecutive blocks in one transaction and returns how many
    /// were new.
    ///
    /// The stored next ledger offset is locked first. Blocks below it were
    /// applied before and are skipped; a batch that starts above it would
    /// leave a gap and is refused with [`Error::OffsetGap`], writing nothing.
    /// Within the batch, identities and assets keep their last row, and a
    /// repeated transaction id keeps its first.
    #[tracing::instrument(skip_all, fields(schema = %self.schema, n_blocks = blocks.len()))]
    pub async fn apply_blocks(&self, blocks: &[BlockChanges]) -> Result<usize> {
        let Some(first) = blocks.first() else { return Ok(0) };
        let first_offset = to_i64(first.block.log_offset, "blocks.log_offset")?;
        for (block_idx, block_changes) in blocks.iter().enumerate() {
            let expected = u64::try_from(block_idx)
                .ok()
                .and_then(|block_idx| first.block.log_offset.checked_add(block_idx));
            if expected != Some(block_changes.block.log_offset) {
                return Err(Error::BadBatch {
                    stream: LEDGER_STREAM.into(),
                    partition: 0,
                    message: format!(
                        "block {} has log offset {} but follows offset {} at position {block_idx}; blocks must be consecutive",
                        block_changes.block.number,
                        block_changes.block.log_offset,
                        first.block.log_offset
                    ),
                });
            }
        }
        let last_offset = match blocks.last() {
            Some(last) => to_i64(last.block.log_offset, "blocks.log_offset")?,
            None => first_offset,
        };
        let next_offset = last_offset.checked_add(1).ok_or(Error::OutOfRange {
            column: "stream_offsets.next_offset",
            value: last_offset.unsigned_abs() + 1,
        })?;

        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(self.sql_error("starting the ledger transaction"))?;
        relaxed_commit(self, &transaction).await?;
        let stored = lock_offsets(self, &transaction, LEDGER_STREAM, &[0]).await?;
        let stored = stored.get(&0).copied().unwrap_or(0);
        if stored < first_offset {
            transaction.rollback().await.map_err(self.sql_error("rolling back"))?;
            return Err(Error::OffsetGap {
                stream: LEDGER_STREAM.into(),
                partition: 0,
                stored,
                first: first_offset,
            });
        }
        let skip = usize::try_from(stored - first_offset).unwrap_or(usize::MAX);
        let Some(fresh) = blocks.get(skip..).filter(|fresh| !fresh.is_empty()) else {
            transaction.rollback().await.map_err(self.sql_error("rolling back"))?;
            return Ok(0);
        };

        write_ledger_rows(self, &transaction, fresh).await?;
        let _ = transaction
            .execute(
                &self.sql(sql::STREAM_OFFSETS_UPDATE),
                &[&LEDGER_STREAM, &vec![0i32], &vec![next_offset]],
            )
            .await
            .map_err(self.sql_error("storing the next ledger offset"))?;
        transaction.commit().await.map_err(self.sql_error("committing blocks"))?;
        tracing::debug!(applied = fresh.len(), next_offset, "applied blocks");
        Ok(fresh.len())
    }

    // ---- access-event stream ----

    /// The next offset of every partition of `stream` that has one.
    pub async fn access_next_offsets(&self, stream: &str) -> Result<BTreeMap<i32, i64>> {
        check_access_stream(stream)?;
        self.offsets_of(stream).await
    }

    async fn offsets_of(&self, stream: &str) -> Result<BTreeMap<i32, i64>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(sql::STREAM_OFFSETS_SELECT_BY_STREAM))
            .await
            .map_err(self.sql_error("preparing the offset query"))?;
        let rows = client
            .query(&statement, &[&stream])
            .await
            .map_err(self.sql_error("reading stream offsets"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    get(row, 0, "stream_offsets.partition")?,
                    get(row, 1, "stream_offsets.next_offset")?,
                ))
            })
            .collect()
    }

    /// Every stored stream offset, by stream and partition.
    pub async fn offsets(&self) -> Result<Vec<StreamOffset>> {
        let client = self.client().await?;
        let rows = client
            .query(&self.sql(sql::STREAM_OFFSETS_SELECT), &[])
            .await
            .map_err(self.sql_error("reading stream offsets"))?;
        rows.iter()
            .map(|row| {
                Ok(StreamOffset {
                    stream: get(row, 0, "stream_offsets.stream")?,
                    partition: get(row, 1, "stream_offsets.partition")?,
                    next_offset: get(row, 2, "stream_offsets.next_offset")?,
                })
            })
            .collect()
    }

    /// Applies access records from one or more partitions of `stream` in one
    /// transaction.
    ///
    /// The offset rows of the partitions involved are locked (created at 0
    /// when missing). Records below their partition's stored next offset are
    /// skipped as already applied. The rest are deduplicated by event id,
    /// keeping the first by (partition, offset), and stored; an event already
    /// in `access_events` (a producer retry) is not stored or metered again.
    /// Only the events actually inserted are added to `usage`. Each
    /// partition's next offset becomes its highest offset in the batch plus
    /// one. Kafka offsets may have gaps, so none is checked here.
    ///
    /// The rows are binary-copied straight into `access_events`, which is as
    /// fast as the server can take them. If an event of the batch is already
    /// stored, that copy fails on the primary key; the transaction is then
    /// rolled back and the batch applied again by merging: binary copy into a
    /// session temporary table, then `INSERT … ON CONFLICT (event_id) DO
    /// NOTHING RETURNING …`, metering what it returns.
    ///
    /// An event logged twice in *different* partitions keeps the row of
    /// whichever record is applied first. Two projectors applying such
    /// events at the same time may deadlock; the server then aborts one with
    /// [`Error::Query`] code `40P01`, and applying that batch again is safe.
    #[tracing::instrument(
        skip_all,
        fields(schema = %self.schema, stream = %stream, n_records = records.len())
    )]
    pub async fn apply_access(
        &self,
        stream: &str,
        records: &[AccessRecord],
    ) -> Result<AccessApplied> {
        check_access_stream(stream)?;
        if records.is_empty() {
            return Ok(AccessApplied::default());
        }
        for record in records {
            if record.partition < 0 || record.offset < 0 {
                return Err(Error::BadBatch {
                    stream: stream.into(),
                    partition: record.partition,
                    message: format!(
                        "record at offset {} of partition {}: partitions and offsets cannot be negative",
                        record.offset, record.partition
                    ),
                });
            }
        }
        // First straight in; if an event of the batch is stored already (a
        // node republished it), again without the stored ones. Another
        // projector may store one in between: then once more.
        let mut applied = self.apply_access_once(stream, records, false).await?;
        let mut attempts = 0;
        while applied.is_none() && attempts < 5 {
            tracing::debug!("an event of the batch is already stored; leaving it out");
            applied = self.apply_access_once(stream, records, true).await?;
            attempts += 1;
        }
        let applied = applied.ok_or_else(|| Error::BadBatch {
            stream: stream.into(),
            partition: records[0].partition,
            message: "other projectors kept storing events of this batch at the same time".into(),
        })?;
        tracing::debug!(?applied, "applied access records");
        Ok(applied)
    }

    /// Moves the stored next offsets of `stream` past records a projector
    /// refused to store (an unsigned or forged record), so that they are not
    /// read again and the stream counts as caught up; never moves an offset
    /// back. `next` maps a partition to the offset after its last refused record.
    pub async fn skip_access(&self, stream: &str, next: &BTreeMap<i32, i64>) -> Result<()> {
        check_access_stream(stream)?;
        if next.is_empty() {
            return Ok(());
        }
        let partitions: Vec<i32> = next.keys().copied().collect();
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(self.sql_error("starting the offset transaction"))?;
        let stored = lock_offsets(self, &transaction, stream, &partitions).await?;
        let (moved_partitions, moved_offsets): (Vec<i32>, Vec<i64>) = next
            .iter()
            .filter(|(partition, offset)| stored.get(partition).copied().unwrap_or(0) < **offset)
            .map(|(partition, offset)| (*partition, *offset))
            .unzip();
        if !moved_partitions.is_empty() {
            let _ = transaction
                .execute(
                    &self.sql(sql::STREAM_OFFSETS_UPDATE),
                    &[&stream, &moved_partitions, &moved_offsets],
                )
                .await
                .map_err(self.sql_error("skipping refused access records"))?;
        }
        transaction.commit().await.map_err(self.sql_error("committing skipped offsets"))?;
        Ok(())
    }

    /// One attempt of [`Projections::apply_access`]; `None` when the copy met
    /// an event that is already stored (nothing is written then). With
    /// `skip_stored`, events already stored are left out first.
    async fn apply_access_once(
        &self,
        stream: &str,
        records: &[AccessRecord],
        skip_stored: bool,
    ) -> Result<Option<AccessApplied>> {
        let partitions: Vec<i32> = records
            .iter()
            .map(|record| record.partition)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();

        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(self.sql_error("starting the access transaction"))?;
        relaxed_commit(self, &transaction).await?;
        let stored = lock_offsets(self, &transaction, stream, &partitions).await?;

        let mut fresh: Vec<&AccessRecord> = records
            .iter()
            .filter(|record| record.offset >= stored.get(&record.partition).copied().unwrap_or(0))
            .collect();
        let already_applied = records.len() - fresh.len();
        if fresh.is_empty() {
            transaction.rollback().await.map_err(self.sql_error("rolling back"))?;
            return Ok(Some(AccessApplied { already_applied, ..AccessApplied::default() }));
        }
        fresh.sort_by_key(|record| (record.partition, record.offset));
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for record in &fresh {
            let after = record.offset.checked_add(1).ok_or(Error::OutOfRange {
                column: "stream_offsets.next_offset",
                value: record.offset.unsigned_abs() + 1,
            })?;
            let entry = next.entry(record.partition).or_insert(after);
            *entry = (*entry).max(after);
        }
        let n_fresh = fresh.len();
        let mut seen: HashSet<&str> = HashSet::with_capacity(n_fresh);
        fresh.retain(|record| seen.insert(record.event.event_id.as_str()));
        if skip_stored {
            let ids: Vec<&str> = fresh.iter().map(|r| r.event.event_id.as_str()).collect();
            let rows = transaction
                .query(&self.sql(sql::ACCESS_EVENTS_SELECT_STORED), &[&ids])
                .await
                .map_err(self.sql_error("finding stored access events"))?;
            let stored_ids: HashSet<String> = rows
                .iter()
                .map(|row| get::<String>(row, 0, "access_events.event_id"))
                .collect::<Result<_>>()?;
            fresh.retain(|record| !stored_ids.contains(&record.event.event_id));
        }
        let duplicates = n_fresh - fresh.len();
        let (next_partitions, next_offsets): (Vec<i32>, Vec<i64>) = next.into_iter().unzip();

        if !fresh.is_empty() {
            let copy = transaction
                .prepare_cached(&self.sql(sql::ACCESS_EVENTS_COPY))
                .await
                .map_err(self.sql_error("preparing the access event copy"))?;
            let sink = transaction
                .copy_in(&copy)
                .await
                .map_err(self.sql_error("starting the access event copy"))?;
            match copy_access(BinaryCopyInWriter::new(sink, &ACCESS_COPY_TYPES), &fresh).await? {
                Ok(_) => {}
                Err(error) if is_stored_event_conflict(&error) => {
                    transaction.rollback().await.map_err(self.sql_error("rolling back"))?;
                    return Ok(None);
                }
                Err(error) => return Err(self.sql_error("copying access events")(error)),
            }
        }
        let usage = UsageTotals::of(&fresh)?;
        let meter = transaction
            .prepare_cached(&self.sql(sql::USAGE_UPSERT))
            .await
            .map_err(self.sql_error("preparing the usage upsert"))?;
        let advance = transaction
            .prepare_cached(&self.sql(sql::STREAM_OFFSETS_UPDATE))
            .await
            .map_err(self.sql_error("preparing the offset update"))?;
        let meter_params: [&(dyn ToSql + Sync); 5] =
            [&usage.identity, &usage.action, &usage.decision, &usage.events, &usage.bytes];
        let advance_params: [&(dyn ToSql + Sync); 3] = [&stream, &next_partitions, &next_offsets];
        // Both statements go out at once; the server runs them in order.
        let _ = futures_util::try_join!(
            transaction.execute(&meter, &meter_params),
            transaction.execute(&advance, &advance_params),
        )
        .map_err(self.sql_error("metering usage and storing offsets"))?;
        let billed = meter_billable(self, &transaction, &fresh).await?;
        transaction.commit().await.map_err(self.sql_error("committing access events"))?;

        Ok(Some(AccessApplied { applied: fresh.len(), duplicates, already_applied, billed }))
    }

    /// Binary-copies records into `table` of this schema, created if missing
    /// with the columns of `access_events` and, when `like_projection`, its
    /// primary key and indexes too (else none). Returns how many rows were
    /// copied. The references of the projection benchmark: the cheapest way
    /// to get the same rows into the server.
    pub async fn copy_access_plain(
        &self,
        table: &str,
        records: &[AccessRecord],
        like_projection: bool,
    ) -> Result<u64> {
        check_table(table)?;
        let table_sql =
            |template: &str| self.sql(template).replace("{table}", &format!("\"{table}\""));
        let client = self.client().await?;
        client
            .batch_execute(&table_sql(if like_projection {
                sql::ACCESS_PLAIN_CREATE_LIKE
            } else {
                sql::ACCESS_PLAIN_CREATE
            }))
            .await
            .map_err(self.sql_error(format!("creating plain table {table}")))?;
        let copy = client
            .prepare_cached(&table_sql(sql::ACCESS_PLAIN_COPY))
            .await
            .map_err(self.sql_error(format!("preparing the copy into {table}")))?;
        let sink = client
            .copy_in(&copy)
            .await
            .map_err(self.sql_error(format!("starting the copy into {table}")))?;
        let records: Vec<&AccessRecord> = records.iter().collect();
        copy_access(BinaryCopyInWriter::new(sink, &ACCESS_COPY_TYPES), &records)
            .await?
            .map_err(self.sql_error(format!("copying into {table}")))
    }

    /// Empties the plain table made by [`Projections::copy_access_plain`].
    pub async fn truncate_plain(&self, table: &str) -> Result<()> {
        check_table(table)?;
        let client = self.client().await?;
        client
            .batch_execute(
                &self.sql(sql::ACCESS_PLAIN_TRUNCATE).replace("{table}", &format!("\"{table}\"")),
            )
            .await
            .map_err(self.sql_error(format!("truncating plain table {table}")))
    }

    // ---- queries ----

    /// Searches the directory: full text over names (weight A) and
    /// descriptions (weight B) with the `simple` configuration, or a
    /// substring of the asset id; best rank first, then by asset id.
    pub async fn search(&self, query: &SearchQuery) -> Result<Vec<DirectoryEntry>> {
        let text = query.text.trim();
        let pattern = escape_like(text);
        let limit = match query.limit {
            0 => SEARCH_LIMIT_DEFAULT,
            limit => limit.min(SEARCH_LIMIT_MAX),
        } as i64;
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(sql::ASSETS_SEARCH))
            .await
            .map_err(self.sql_error("preparing the directory search"))?;
        let rows = client
            .query(
                &statement,
                &[&text, &pattern, &query.owner_organisation, &query.data_type, &limit],
            )
            .await
            .map_err(self.sql_error("searching the directory"))?;
        rows.iter()
            .map(|row| {
                Ok(DirectoryEntry {
                    asset_id: get(row, 0, "assets.asset_id")?,
                    owner_organisation: get(row, 1, "assets.owner_organisation")?,
                    owner_address: get(row, 2, "assets.owner_address")?,
                    data_type: get(row, 3, "assets.data_type")?,
                    name: get(row, 4, "assets.name")?,
                    description: get(row, 5, "assets.description")?,
                    latest_version: to_u64(
                        get(row, 6, "assets.latest_version")?,
                        "assets.latest_version",
                    )?,
                    authorised_count: to_usize(
                        i64::from(get::<Option<i32>>(row, 7, "assets.authorised")?.unwrap_or(0)),
                        "assets.authorised",
                    )?,
                    rank: get(row, 8, "rank")?,
                })
            })
            .collect()
    }

    /// Every published version of an asset, oldest first.
    pub async fn history(&self, asset_id: &str) -> Result<Vec<VersionRow>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(sql::ASSET_VERSIONS_SELECT_BY_ASSET))
            .await
            .map_err(self.sql_error("preparing the history query"))?;
        let rows = client
            .query(&statement, &[&asset_id])
            .await
            .map_err(self.sql_error(format!("reading the history of {asset_id}")))?;
        rows.iter()
            .map(|row| {
                let schema_json: Option<String> = get(row, 8, "asset_versions.schema")?;
                let schema = schema_json
                    .map(|text| serde_json::from_str(&text))
                    .transpose()
                    .map_err(|error| Error::Json {
                        column: "asset_versions.schema",
                        message: error.to_string(),
                    })?;
                Ok(VersionRow {
                    asset_id: get(row, 0, "asset_versions.asset_id")?,
                    version: to_u64(
                        get(row, 1, "asset_versions.version")?,
                        "asset_versions.version",
                    )?,
                    data_type: get(row, 2, "asset_versions.data_type")?,
                    hash_algorithm: get(row, 3, "asset_versions.hash_algorithm")?,
                    content_hash: get(row, 4, "asset_versions.content_hash")?,
                    size_bytes: to_u64(
                        get(row, 5, "asset_versions.size_bytes")?,
                        "asset_versions.size_bytes",
                    )?,
                    name: get(row, 6, "asset_versions.name")?,
                    description: get(row, 7, "asset_versions.description")?,
                    schema,
                    encoding: get(row, 9, "asset_versions.encoding")?,
                    tx_id: get(row, 10, "asset_versions.tx_id")?,
                    block_number: to_u64(
                        get(row, 11, "asset_versions.block_number")?,
                        "asset_versions.block_number",
                    )?,
                    timestamp_ms: to_u64(
                        get(row, 12, "asset_versions.timestamp_ms")?,
                        "asset_versions.timestamp_ms",
                    )?,
                })
            })
            .collect()
    }

    /// The newest matching access events, oldest first: at most `limit`, or
    /// `filter.limit` when `limit` is 0, or all when both are 0. Newest means
    /// by event time, then partition and offset.
    pub async fn audit(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> Result<Vec<StoredAccessEvent>> {
        let limit = match (limit, filter.limit) {
            (0, 0) => None,
            (0, limit) | (limit, _) => Some(i64::try_from(limit).unwrap_or(i64::MAX)),
        };
        let since = opt_to_i64(filter.since_ms, "access_events.time_ms")?;
        let decision = filter.decision.map(Decision::as_str);
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(sql::ACCESS_EVENTS_SELECT))
            .await
            .map_err(self.sql_error("preparing the audit query"))?;
        let rows = client
            .query(&statement, &[&filter.identity, &filter.asset_id, &since, &decision, &limit])
            .await
            .map_err(self.sql_error("reading access events"))?;
        let mut events = rows
            .iter()
            .map(|row| {
                let decision: String = get(row, 7, "access_events.decision")?;
                let decision = Decision::from_str(&decision).map_err(|_| Error::Corrupt {
                    column: "access_events.decision",
                    value: decision,
                    expected: "allowed or denied",
                })?;
                Ok(StoredAccessEvent {
                    event: AccessEvent {
                        event_id: get(row, 0, "access_events.event_id")?,
                        time_ms: to_u64(
                            get(row, 1, "access_events.time_ms")?,
                            "access_events.time_ms",
                        )?,
                        identity: get(row, 2, "access_events.identity")?,
                        organisation: get(row, 3, "access_events.organisation")?,
                        role: get(row, 4, "access_events.role")?,
                        action: get(row, 5, "access_events.action")?,
                        resource: get(row, 6, "access_events.resource")?,
                        decision,
                        reason: get(row, 8, "access_events.reason")?,
                        bytes: to_u64(get(row, 9, "access_events.bytes")?, "access_events.bytes")?,
                        latency_us: to_u64(
                            get(row, 10, "access_events.latency_us")?,
                            "access_events.latency_us",
                        )?,
                        method: get(row, 11, "access_events.method")?,
                        ledger_height: to_u64(
                            get(row, 16, "access_events.ledger_height")?,
                            "access_events.ledger_height",
                        )?,
                        // The projection does not keep envelopes: it checked
                        // them before storing (see `cairn project`).
                        request: Vec::new(),
                    },
                    node: get(row, 12, "access_events.node")?,
                    leaf_index: get::<Option<i64>>(row, 13, "access_events.leaf_index")?
                        .map(|leaf_index| to_u64(leaf_index, "access_events.leaf_index"))
                        .transpose()?,
                    partition: get(row, 14, "access_events.partition")?,
                    offset: get(row, 15, "access_events.offset")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        events.reverse();
        Ok(events)
    }

    /// A holder's monthly totals (metered events, queries, bytes, charges), oldest first.
    pub async fn billing_months(&self, holder: &str) -> Result<Vec<(Month, MonthTotals)>> {
        let client = self.client().await?;
        let rows = client
            .query(&self.sql(sql::BILLING_MONTHS_SELECT_BY_HOLDER), &[&holder])
            .await
            .map_err(self.sql_error("reading monthly totals"))?;
        rows.iter()
            .map(|row| {
                let month = to_month(get(row, 0, "billing_months.month")?, "billing_months.month")?;
                Ok((month, month_totals(row, 1)?))
            })
            .collect()
    }

    /// A holder's statement lines of one month, in metering order.
    pub async fn billing_lines(&self, holder: &str, month: Month) -> Result<Vec<Line>> {
        let month_number = month_to_i32(month, "billing_lines.month")?;
        let client = self.client().await?;
        let rows = client
            .query(&self.sql(sql::BILLING_LINES_SELECT_BY_MONTH), &[&holder, &month_number])
            .await
            .map_err(self.sql_error("reading statement lines"))?;
        rows.iter()
            .map(|row| {
                let number =
                    |idx, column| -> Result<u64> { to_u64(get(row, idx, column)?, column) };
                Ok(Line {
                    event_id: get(row, 0, "billing_lines.event_id")?,
                    time_ms: number(1, "billing_lines.time_ms")?,
                    month,
                    action: get(row, 2, "billing_lines.action")?,
                    resource: get(row, 3, "billing_lines.resource")?,
                    units: Units {
                        queries: number(4, "billing_lines.queries")?,
                        bytes: number(5, "billing_lines.bytes")?,
                    },
                    charge: Charge {
                        query_amount: number(6, "billing_lines.query_amount")?,
                        traffic_amount: number(7, "billing_lines.traffic_amount")?,
                        amount: number(8, "billing_lines.amount")?,
                        note: get(row, 11, "billing_lines.note")?,
                    },
                    ledger_height: number(9, "billing_lines.ledger_height")?,
                    plan_from_height: number(10, "billing_lines.plan_from_height")?,
                    node: get(row, 12, "billing_lines.node")?,
                    leaf_index: number(13, "billing_lines.leaf_index")?,
                })
            })
            .collect()
    }

    /// What `holder` was charged for events logged by nodes other than `node`.
    pub async fn billing_charged_by_others(&self, holder: &str, node: &str) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(&self.sql(sql::BILLING_LINES_SUM_BY_OTHERS), &[&holder, &node])
            .await
            .map_err(self.sql_error("summing other nodes' charges"))?;
        to_u64(get(&row, 0, "billing_lines.amount")?, "billing_lines.amount")
    }

    /// The usage meters, of one identity or of all, by identity, action and
    /// decision.
    pub async fn usage(&self, identity: Option<&str>) -> Result<Vec<UsageRow>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(sql::USAGE_SELECT))
            .await
            .map_err(self.sql_error("preparing the usage query"))?;
        let rows = client
            .query(&statement, &[&identity])
            .await
            .map_err(self.sql_error("reading usage"))?;
        rows.iter()
            .map(|row| {
                Ok(UsageRow {
                    identity: get(row, 0, "usage.identity")?,
                    action: get(row, 1, "usage.action")?,
                    decision: get(row, 2, "usage.decision")?,
                    events: get(row, 3, "usage.events")?,
                    bytes: get(row, 4, "usage.bytes")?,
                })
            })
            .collect()
    }

    /// The number of rows of every table, `stream_offsets` and
    /// `schema_migrations` included.
    pub async fn counts(&self) -> Result<BTreeMap<String, i64>> {
        let names = PROJECTION_TABLES
            .iter()
            .map(|table| table.name)
            .chain(["stream_offsets", "schema_migrations"]);
        let selects: Vec<String> = names
            .map(|name| {
                format!("SELECT '{name}'::text, count(*) FROM \"{}\".\"{name}\"", self.schema)
            })
            .collect();
        let client = self.client().await?;
        let rows = client
            .query(&selects.join(" UNION ALL "), &[])
            .await
            .map_err(self.sql_error("counting rows"))?;
        rows.iter().map(|row| Ok((get(row, 0, "table")?, get(row, 1, "count")?))).collect()
    }

    // ---- replay support ----

    /// One digest per projection table (all but `schema_migrations` and
    /// `stream_offsets`; see [`Projections::offsets`]), read in one
    /// repeatable-read snapshot. Two schemas fed the same log prefix have the
    /// same digests, however the records were batched.
    pub async fn digests(&self) -> Result<BTreeMap<String, TableDigest>> {
        let mut client = self.client().await?;
        let transaction = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(self.sql_error("starting the digest snapshot"))?;
        let mut digests = BTreeMap::new();
        for table in PROJECTION_TABLES {
            let query = format!(
                "SELECT t::text FROM \"{}\".\"{}\" AS t ORDER BY {}",
                self.schema,
                table.name,
                table.order_by("t.")
            );
            let rows = transaction
                .query_raw(&query, std::iter::empty::<&(dyn ToSql + Sync)>())
                .await
                .map_err(self.sql_error(format!("reading {} for its digest", table.name)))?;
            pin_mut!(rows);
            let mut hasher = Sha256::new();
            let mut n_rows: i64 = 0;
            while let Some(row) = rows
                .try_next()
                .await
                .map_err(self.sql_error(format!("reading {} for its digest", table.name)))?
            {
                let text: Option<String> = get(&row, 0, "row text")?;
                let text = text.unwrap_or_default();
                hasher.update((text.len() as u64).to_be_bytes());
                hasher.update(text.as_bytes());
                n_rows += 1;
            }
            let _ = digests.insert(
                table.name.to_owned(),
                TableDigest { rows: n_rows, sha256: hex::encode(hasher.finalize()) },
            );
        }
        transaction.commit().await.map_err(self.sql_error("ending the digest snapshot"))?;
        Ok(digests)
    }

    /// The rows that differ between the projections of `live` and `other`,
    /// which must be schemas on the same server (the query runs on `live`'s
    /// pool): at most `limit` per table, by table and then primary key.
    pub async fn diff(
        live: &Projections,
        other: &Projections,
        limit: usize,
    ) -> Result<Vec<RowDifference>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = live.client().await?;
        let mut differences = Vec::new();
        for table in PROJECTION_TABLES {
            let query = format!(
                "SELECT {key_text} AS key, a.row_text, b.row_text \
                 FROM (SELECT {keys}, t::text AS row_text FROM \"{live}\".\"{name}\" AS t) AS a \
                 FULL OUTER JOIN (SELECT {keys}, t::text AS row_text FROM \"{other}\".\"{name}\" AS t) AS b \
                 USING ({keys}) \
                 WHERE a.row_text IS DISTINCT FROM b.row_text \
                 ORDER BY {order} \
                 LIMIT $1",
                key_text = table.key_text(),
                keys = table.key_columns(),
                live = live.schema,
                other = other.schema,
                name = table.name,
                order = table.order_by(""),
            );
            let rows = client.query(&query, &[&limit]).await.map_err(
                live.sql_error(format!("comparing {} with schema {}", table.name, other.schema)),
            )?;
            for row in &rows {
                differences.push(RowDifference {
                    table: table.name.to_owned(),
                    key: get::<Option<String>>(row, 0, "key")?.unwrap_or_default(),
                    live: get(row, 1, "row text")?,
                    other: get(row, 2, "row text")?,
                });
            }
        }
        Ok(differences)
    }
}

/// Reads a column, naming it when the type does not fit.
fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize, column: &'static str) -> Result<T> {
    row.try_get(idx).map_err(|error| Error::Corrupt {
        column,
        value: describe(&error),
        expected: std::any::type_name::<T>(),
    })
}

/// Escapes `\`, `%` and `_` for `LIKE … ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Lets the server acknowledge the commit before its WAL is flushed.
///
/// Safe for projections: the rows and the offsets they reach commit
/// together, so a commit the server loses in a crash is lost whole, and the
/// projector applies those records again from the log; nothing outside the
/// database has seen it (the group's committed offsets are only a hint).
async fn relaxed_commit(
    projections: &Projections,
    transaction: &deadpool_postgres::Transaction<'_>,
) -> Result<()> {
    transaction
        .batch_execute("SET LOCAL synchronous_commit TO OFF")
        .await
        .map_err(projections.sql_error("relaxing the commit of a projection batch"))
}

/// Creates the missing offset rows of `partitions` at 0, locks them all and
/// returns their next offsets.
async fn lock_offsets(
    projections: &Projections,
    transaction: &deadpool_postgres::Transaction<'_>,
    stream: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>> {
    let partitions = partitions.to_vec();
    let insert = transaction
        .prepare_cached(&projections.sql(sql::STREAM_OFFSETS_INSERT_MISSING))
        .await
        .map_err(projections.sql_error("preparing the offset insert"))?;
    let lock = transaction
        .prepare_cached(&projections.sql(sql::STREAM_OFFSETS_SELECT_FOR_UPDATE))
        .await
        .map_err(projections.sql_error("preparing the offset lock"))?;
    let params: [&(dyn ToSql + Sync); 2] = [&stream, &partitions];
    // Both statements go out at once; the server runs them in order, so the
    // lock sees the rows the insert made.
    let (_, rows) = futures_util::try_join!(
        transaction.execute(&insert, &params),
        transaction.query(&lock, &params)
    )
    .map_err(projections.sql_error(format!("locking offsets of stream {stream}")))?;
    rows.iter()
        .map(|row| {
            Ok((
                get(row, 0, "stream_offsets.partition")?,
                get(row, 1, "stream_offsets.next_offset")?,
            ))
        })
        .collect()
}

/// The column types of a binary copy into `billing_lines`.
const LINE_COPY_TYPES: [Type; 17] = [
    Type::TEXT, // event_id
    Type::TEXT, // holder
    Type::INT4, // month
    Type::INT8, // line
    Type::INT8, // time_ms
    Type::TEXT, // action
    Type::TEXT, // resource
    Type::INT8, // queries
    Type::INT8, // bytes
    Type::INT8, // query_amount
    Type::INT8, // traffic_amount
    Type::INT8, // amount
    Type::INT8, // ledger_height
    Type::INT8, // plan_from_height
    Type::TEXT, // note
    Type::TEXT, // node
    Type::INT8, // leaf_index
];

/// Meters the billable events of account holders among `records` (in stream
/// order) into `billing_lines` and `billing_months`, inside the batch's
/// transaction; answers how many lines it wrote.
///
/// Each event is priced with the holder's plan at the ledger height it was
/// decided at, so the ledger projection must have reached that height:
/// otherwise [`Error::LedgerBehind`] and nothing is written.
async fn meter_billable(
    projections: &Projections,
    transaction: &deadpool_postgres::Transaction<'_>,
    records: &[&AccessRecord],
) -> Result<usize> {
    let billable: Vec<&AccessRecord> =
        records.iter().copied().filter(|r| billing::billable(&r.event).is_some()).collect();
    let Some(needed) = billable.iter().map(|r| r.event.ledger_height).max() else {
        return Ok(0);
    };
    let row = transaction
        .query_one(&projections.sql(sql::BLOCKS_SELECT_HEIGHT), &[])
        .await
        .map_err(projections.sql_error("reading the projected ledger height"))?;
    let projected = to_u64(get(&row, 0, "blocks.number")?, "blocks.number")?;
    if projected < needed {
        return Err(Error::LedgerBehind { schema: projections.schema.clone(), needed, projected });
    }
    let holders: Vec<&str> = billable
        .iter()
        .map(|r| r.event.identity.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows = transaction
        .query(&projections.sql(sql::BILLING_PLANS_SELECT_BY_HOLDERS), &[&holders])
        .await
        .map_err(projections.sql_error("reading the holders' plans"))?;
    let mut plans: BTreeMap<String, Vec<TariffPeriod>> = BTreeMap::new();
    for row in &rows {
        let holder: String = get(row, 0, "billing_plans.holder")?;
        let number = |idx, column| -> Result<u64> { to_u64(get(row, idx, column)?, column) };
        plans.entry(holder).or_default().push(TariffPeriod {
            from_height: number(1, "billing_plans.from_height")?,
            tariff: Tariff {
                price_per_query: number(2, "billing_plans.price_per_query")?,
                price_per_mib: number(3, "billing_plans.price_per_mib")?,
                free_queries_per_month: number(4, "billing_plans.free_queries_per_month")?,
                free_mib_per_month: number(5, "billing_plans.free_mib_per_month")?,
            },
        });
    }
    if plans.is_empty() {
        return Ok(0);
    }
    let keys: BTreeSet<(&str, Month)> = billable
        .iter()
        .filter(|r| plans.contains_key(&r.event.identity))
        .map(|r| (r.event.identity.as_str(), Month::of_ms(r.event.time_ms)))
        .collect();
    let key_holders: Vec<&str> = keys.iter().map(|(holder, _)| *holder).collect();
    let key_months: Vec<i32> = keys
        .iter()
        .map(|(_, month)| month_to_i32(*month, "billing_months.month"))
        .collect::<Result<_>>()?;
    let rows = transaction
        .query(
            &projections.sql(sql::BILLING_MONTHS_SELECT_FOR_UPDATE),
            &[&key_holders, &key_months],
        )
        .await
        .map_err(projections.sql_error("locking the monthly totals"))?;
    let mut totals: BTreeMap<(String, Month), MonthTotals> = BTreeMap::new();
    for row in &rows {
        let month = to_month(get(row, 1, "billing_months.month")?, "billing_months.month")?;
        let _ =
            totals.insert((get(row, 0, "billing_months.holder")?, month), month_totals(row, 2)?);
    }
    let mut lines: Vec<(Line, u64, &str)> = Vec::new();
    for record in &billable {
        let Some(periods) = plans.get(&record.event.identity) else { continue };
        let key = (record.event.identity.clone(), Month::of_ms(record.event.time_ms));
        let month_totals = totals.entry(key).or_default();
        let Some(line) = billing::meter(
            &record.event,
            &record.node,
            record.leaf_index.unwrap_or(0),
            periods,
            month_totals,
        ) else {
            continue;
        };
        month_totals.add(line.units, line.charge.amount);
        lines.push((line, month_totals.events, record.event.identity.as_str()));
    }
    if lines.is_empty() {
        return Ok(0);
    }
    let copy = transaction
        .prepare_cached(&projections.sql(sql::BILLING_LINES_COPY))
        .await
        .map_err(projections.sql_error("preparing the line copy"))?;
    let sink = transaction
        .copy_in(&copy)
        .await
        .map_err(projections.sql_error("starting the line copy"))?;
    let writer = BinaryCopyInWriter::new(sink, &LINE_COPY_TYPES);
    pin_mut!(writer);
    for (line, number, holder) in &lines {
        let month = month_to_i32(line.month, "billing_lines.month")?;
        let values: [i64; 10] = [
            to_i64(*number, "billing_lines.line")?,
            to_i64(line.time_ms, "billing_lines.time_ms")?,
            to_i64(line.units.queries, "billing_lines.queries")?,
            to_i64(line.units.bytes, "billing_lines.bytes")?,
            to_i64(line.charge.query_amount, "billing_lines.query_amount")?,
            to_i64(line.charge.traffic_amount, "billing_lines.traffic_amount")?,
            to_i64(line.charge.amount, "billing_lines.amount")?,
            to_i64(line.ledger_height, "billing_lines.ledger_height")?,
            to_i64(line.plan_from_height, "billing_lines.plan_from_height")?,
            to_i64(line.leaf_index, "billing_lines.leaf_index")?,
        ];
        writer
            .as_mut()
            .write(&[
                &line.event_id,
                holder,
                &month,
                &values[0],
                &values[1],
                &line.action,
                &line.resource,
                &values[2],
                &values[3],
                &values[4],
                &values[5],
                &values[6],
                &values[7],
                &values[8],
                &line.charge.note,
                &line.node,
                &values[9],
            ])
            .await
            .map_err(projections.sql_error("copying statement lines"))?;
    }
    let _ = writer.finish().await.map_err(projections.sql_error("copying statement lines"))?;
    let mut month_holders = Vec::new();
    let mut months = Vec::new();
    let mut columns: [Vec<i64>; 4] = Default::default();
    for ((holder, month), month_totals) in &totals {
        month_holders.push(holder.as_str());
        months.push(month_to_i32(*month, "billing_months.month")?);
        columns[0].push(to_i64(month_totals.events, "billing_months.events")?);
        columns[1].push(to_i64(month_totals.queries, "billing_months.queries")?);
        columns[2].push(to_i64(month_totals.bytes, "billing_months.bytes")?);
        columns[3].push(to_i64(month_totals.charged, "billing_months.charged")?);
    }
    let _ = execute(
        projections,
        transaction,
        sql::BILLING_MONTHS_UPSERT,
        "storing the monthly totals",
        &[&month_holders, &months, &columns[0], &columns[1], &columns[2], &columns[3]],
    )
    .await?;
    Ok(lines.len())
}

/// Binary-copies access records through a started `COPY … FROM STDIN`.
///
/// The outer error is a value that does not fit its column; the inner one is
/// the server's or the connection's, left for the caller to judge.
async fn copy_access(
    writer: BinaryCopyInWriter,
    records: &[&AccessRecord],
) -> Result<Result<u64, tokio_postgres::Error>> {
    pin_mut!(writer);
    for record in records {
        let event = &record.event;
        let leaf_index = opt_to_i64(record.leaf_index, "access_events.leaf_index")?;
        let time_ms = to_i64(event.time_ms, "access_events.time_ms")?;
        let bytes = to_i64(event.bytes, "access_events.bytes")?;
        let latency_us = to_i64(event.latency_us, "access_events.latency_us")?;
        let ledger_height = to_i64(event.ledger_height, "access_events.ledger_height")?;
        let decision = event.decision.as_str();
        let written = writer
            .as_mut()
            .write(&[
                &event.event_id,
                &record.node,
                &leaf_index,
                &record.partition,
                &record.offset,
                &time_ms,
                &event.identity,
                &event.organisation,
                &event.role,
                &event.action,
                &event.resource,
                &decision,
                &event.reason,
                &bytes,
                &latency_us,
                &event.method,
                &ledger_height,
            ])
            .await;
        if let Err(error) = written {
            return Ok(Err(error));
        }
    }
    Ok(writer.finish().await)
}

/// Whether a copy into `access_events` failed because an event is already
/// stored.
fn is_stored_event_conflict(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("access_events_pkey")
    })
}

/// The usage of a batch, one entry per (identity, action, decision) in key
/// order, as parameter arrays.
#[derive(Debug, Default)]
struct UsageTotals<'a> {
    identity: Vec<&'a str>,
    action: Vec<&'a str>,
    decision: Vec<&'static str>,
    events: Vec<i64>,
    bytes: Vec<i64>,
}

impl<'a> UsageTotals<'a> {
    fn of(records: &[&'a AccessRecord]) -> Result<UsageTotals<'a>> {
        let mut totals: BTreeMap<(&str, &str, &'static str), (i64, i64)> = BTreeMap::new();
        for record in records {
            let event = &record.event;
            let bytes = to_i64(event.bytes, "access_events.bytes")?;
            let key = (event.identity.as_str(), event.action.as_str(), event.decision.as_str());
            let total = totals.entry(key).or_insert((0, 0));
            total.0 += 1;
            total.1 = total
                .1
                .checked_add(bytes)
                .ok_or(Error::OutOfRange { column: "usage.bytes", value: event.bytes })?;
        }
        let mut usage = UsageTotals::default();
        for ((identity, action, decision), (events, bytes)) in totals {
            usage.identity.push(identity);
            usage.action.push(action);
            usage.decision.push(decision);
            usage.events.push(events);
            usage.bytes.push(bytes);
        }
        Ok(usage)
    }
}

/// Writes the rows of fresh blocks: one multi-row statement per table.
async fn write_ledger_rows(
    projections: &Projections,
    transaction: &deadpool_postgres::Transaction<'_>,
    blocks: &[BlockChanges],
) -> Result<()> {
    // Blocks.
    let mut number = Vec::with_capacity(blocks.len());
    let mut hash = Vec::with_capacity(blocks.len());
    let mut previous_hash = Vec::with_capacity(blocks.len());
    let mut state_root = Vec::with_capacity(blocks.len());
    let mut log_offset = Vec::with_capacity(blocks.len());
    let mut tx_count = Vec::with_capacity(blocks.len());
    for BlockChanges { block, .. } in blocks {
        number.push(to_i64(block.number, "blocks.number")?);
        hash.push(block.hash.as_str());
        previous_hash.push(block.previous_hash.as_str());
        state_root.push(block.state_root.as_str());
        log_offset.push(to_i64(block.log_offset, "blocks.log_offset")?);
        tx_count.push(i64::from(block.tx_count));
    }

    // Transactions: a repeated id keeps its first row.
    let mut first_transactions: BTreeMap<&str, &TransactionRow> = BTreeMap::new();
    for transaction_row in blocks.iter().flat_map(|changes| &changes.transactions) {
        let _ = first_transactions.entry(transaction_row.tx_id.as_str()).or_insert(transaction_row);
    }
    let mut tx_id = Vec::new();
    let mut tx_block = Vec::new();
    let mut tx_index = Vec::new();
    let mut tx_type = Vec::new();
    let mut code = Vec::new();
    let mut creator = Vec::new();
    let mut tx_timestamp = Vec::new();
    for row in first_transactions.values() {
        tx_id.push(row.tx_id.as_str());
        tx_block.push(to_i64(row.block_number, "transactions.block_number")?);
        tx_index.push(i64::from(row.index));
        tx_type.push(row.tx_type.as_str());
        code.push(row.code.as_str());
        creator.push(row.creator.as_deref());
        tx_timestamp.push(to_i64(row.timestamp_ms, "transactions.timestamp_ms")?);
    }

    // Identities: the last row of the batch wins.
    let mut last_identities: BTreeMap<&str, &IdentityRow> = BTreeMap::new();
    for identity in blocks.iter().flat_map(|changes| &changes.identities) {
        let _ = last_identities.insert(identity.address.as_str(), identity);
    }
    let mut address = Vec::new();
    let mut identity_name = Vec::new();
    let mut organisation = Vec::new();
    let mut role = Vec::new();
    let mut registered_in_block = Vec::new();
    let mut revoked_reason = Vec::new();
    let mut revoked_in_block = Vec::new();
    for row in last_identities.values() {
        address.push(row.address.as_str());
        identity_name.push(row.name.as_str());
        organisation.push(row.organisation.as_str());
        role.push(row.role.as_str());
        registered_in_block
            .push(to_i64(row.registered_in_block, "identities.registered_in_block")?);
        revoked_reason.push(row.revoked_reason.as_deref());
        revoked_in_block.push(opt_to_i64(row.revoked_in_block, "identities.revoked_in_block")?);
    }

    // Assets: the last row of the batch wins.
    let mut last_assets: BTreeMap<&str, &AssetRow> = BTreeMap::new();
    for asset in blocks.iter().flat_map(|changes| &changes.assets) {
        let _ = last_assets.insert(asset.asset_id.as_str(), asset);
    }
    let mut asset_id = Vec::new();
    let mut owner_organisation = Vec::new();
    let mut owner_address = Vec::new();
    let mut authorised = Vec::new();
    let mut latest_version = Vec::new();
    let mut asset_data_type = Vec::new();
    let mut asset_name = Vec::new();
    let mut asset_description = Vec::new();
    let mut updated_in_block = Vec::new();
    for row in last_assets.values() {
        asset_id.push(row.asset_id.as_str());
        owner_organisation.push(row.owner_organisation.as_str());
        owner_address.push(row.owner_address.as_str());
        authorised.push(serde_json::to_string(&row.authorised).map_err(|error| Error::Json {
            column: "assets.authorised",
            message: error.to_string(),
        })?);
        latest_version.push(to_i64(row.latest_version, "assets.latest_version")?);
        asset_data_type.push(row.data_type.as_str());
        asset_name.push(row.name.as_str());
        asset_description.push(row.description.as_str());
        updated_in_block.push(to_i64(row.updated_in_block, "assets.updated_in_block")?);
    }

    // Versions: immutable, inserted once.
    let versions: Vec<&VersionRow> = blocks.iter().flat_map(|changes| &changes.versions).collect();
    let mut version_asset = Vec::with_capacity(versions.len());
    let mut version = Vec::with_capacity(versions.len());
    let mut version_data_type = Vec::with_capacity(versions.len());
    let mut hash_algorithm = Vec::with_capacity(versions.len());
    let mut content_hash = Vec::with_capacity(versions.len());
    let mut size_bytes = Vec::with_capacity(versions.len());
    let mut version_name = Vec::with_capacity(versions.len());
    let mut version_description = Vec::with_capacity(versions.len());
    let mut schema_json = Vec::with_capacity(versions.len());
    let mut encoding = Vec::with_capacity(versions.len());
    let mut version_tx = Vec::with_capacity(versions.len());
    let mut version_block = Vec::with_capacity(versions.len());
    let mut version_timestamp = Vec::with_capacity(versions.len());
    for row in &versions {
        version_asset.push(row.asset_id.as_str());
        version.push(to_i64(row.version, "asset_versions.version")?);
        version_data_type.push(row.data_type.as_str());
        hash_algorithm.push(row.hash_algorithm.as_str());
        content_hash.push(row.content_hash.as_str());
        size_bytes.push(to_i64(row.size_bytes, "asset_versions.size_bytes")?);
        version_name.push(row.name.as_str());
        version_description.push(row.description.as_str());
        schema_json.push(row.schema.as_ref().map(serde_json::to_string).transpose().map_err(
            |error| Error::Json { column: "asset_versions.schema", message: error.to_string() },
        )?);
        encoding.push(row.encoding.as_str());
        version_tx.push(row.tx_id.as_str());
        version_block.push(to_i64(row.block_number, "asset_versions.block_number")?);
        version_timestamp.push(to_i64(row.timestamp_ms, "asset_versions.timestamp_ms")?);
    }

    let _ = execute(
        projections,
        transaction,
        sql::BLOCKS_INSERT,
        "inserting blocks",
        &[&number, &hash, &previous_hash, &state_root, &log_offset, &tx_count],
    )
    .await?;
    if !tx_id.is_empty() {
        let _ = execute(
            projections,
            transaction,
            sql::TRANSACTIONS_INSERT,
            "inserting transactions",
            &[&tx_id, &tx_block, &tx_index, &tx_type, &code, &creator, &tx_timestamp],
        )
        .await?;
    }
    if !address.is_empty() {
        let _ = execute(
            projections,
            transaction,
            sql::IDENTITIES_UPSERT,
            "upserting identities",
            &[
                &address,
                &identity_name,
                &organisation,
                &role,
                &registered_in_block,
                &revoked_reason,
                &revoked_in_block,
            ],
        )
        .await?;
    }
    if !asset_id.is_empty() {
        let _ = execute(
            projections,
            transaction,
            sql::ASSETS_UPSERT,
            "upserting assets",
            &[
                &asset_id,
                &owner_organisation,
                &owner_address,
                &authorised,
                &latest_version,
                &asset_data_type,
                &asset_name,
                &asset_description,
                &updated_in_block,
            ],
        )
        .await?;
    }
    // Accounts: the last row of the batch wins; plans and top-ups are immutable.
    let mut last_accounts: BTreeMap<&str, &AccountRow> = BTreeMap::new();
    for account in blocks.iter().flat_map(|changes| &changes.accounts) {
        let _ = last_accounts.insert(account.holder.as_str(), account);
    }
    for account in last_accounts.values() {
        let opened = to_i64(account.opened_in_block, "billing_accounts.opened_in_block")?;
        let credited = to_i64(account.credited, "billing_accounts.credited")?;
        let _ = execute(
            projections,
            transaction,
            sql::BILLING_ACCOUNTS_UPSERT,
            "upserting an account",
            &[&account.holder, &account.currency, &opened, &credited],
        )
        .await?;
        for plan in &account.plans {
            let from = to_i64(plan.from_height, "billing_plans.from_height")?;
            let t = &plan.tariff;
            let per_query = to_i64(t.price_per_query, "billing_plans.price_per_query")?;
            let per_mib = to_i64(t.price_per_mib, "billing_plans.price_per_mib")?;
            let free_queries =
                to_i64(t.free_queries_per_month, "billing_plans.free_queries_per_month")?;
            let free_mib = to_i64(t.free_mib_per_month, "billing_plans.free_mib_per_month")?;
            let rate = i64::from(plan.rate_limit_per_second);
            let _ = execute(
                projections,
                transaction,
                sql::BILLING_PLANS_INSERT,
                "inserting a plan",
                &[
                    &account.holder,
                    &from,
                    &plan.tx_id,
                    &per_query,
                    &per_mib,
                    &free_queries,
                    &free_mib,
                    &plan.payment,
                    &rate,
                ],
            )
            .await?;
        }
        for top_up in &account.top_ups {
            let block = to_i64(top_up.block_number, "billing_top_ups.block_number")?;
            let amount = to_i64(top_up.amount, "billing_top_ups.amount")?;
            let time = to_i64(top_up.timestamp_ms, "billing_top_ups.timestamp_ms")?;
            let _ = execute(
                projections,
                transaction,
                sql::BILLING_TOP_UPS_INSERT,
                "inserting a top-up",
                &[&top_up.tx_id, &account.holder, &block, &amount, &top_up.reference, &time],
            )
            .await?;
        }
    }
    if !version_asset.is_empty() {
        let _ = execute(
            projections,
            transaction,
            sql::ASSET_VERSIONS_INSERT,
            "inserting asset versions",
            &[
                &version_asset,
                &version,
                &version_data_type,
                &hash_algorithm,
                &content_hash,
                &size_bytes,
                &version_name,
                &version_description,
                &schema_json,
                &encoding,
                &version_tx,
                &version_block,
                &version_timestamp,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Prepares (cached per connection) and runs one statement of a schema.
async fn execute(
    projections: &Projections,
    transaction: &deadpool_postgres::Transaction<'_>,
    template: &str,
    context: &'static str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64> {
    let statement = transaction
        .prepare_cached(&projections.sql(template))
        .await
        .map_err(projections.sql_error(context))?;
    transaction.execute(&statement, params).await.map_err(projections.sql_error(context))
}
