//! The PostgreSQL projections of Cairn, exactly once.
//!
//! Cairn has two ordered logs. The ledger stream has one partition and each
//! record is a block; the access-event stream is a topic with several
//! partitions and each record is one encoded
//! [`AccessEvent`](crate::audit::AccessEvent). A projector
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

//! The code is split by concern: `error` for what can go wrong, `migrate`
//! for the schema (the row structs are in [`crate::rows`]), `ledger` and
//! `access` for the writers of the two streams, `billing` for usage meters
//! and statements, `reads` for the queries, `replay` for stream offsets,
//! digests and comparisons, and `bench_support` for the benchmark's
//! reference copies.

use std::fmt;
use std::time::Duration;

use connectors::pg_tls::MakeRustls;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::Row;
use tokio_postgres::config::Host;
use tokio_postgres::types::{FromSql, ToSql};

use crate::billing::Month;

mod access;
mod bench_support;
mod billing;
mod error;
mod ledger;
mod migrate;
mod reads;
mod replay;

#[cfg(test)]
mod tests;

pub(crate) use self::error::describe;
pub(crate) use self::migrate::{Migration, MigrationSet};
pub use crate::rows::{
    AccessApplied, AccessRecord, AccountRow, AssetRow, BlockChanges, BlockRow, DirectoryEntry,
    IdentityRow, PlanRow, RowDifference, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, SearchQuery,
    StoredAccessEvent, StreamOffset, TableDigest, TopUpRow, TransactionRow, UsageRow, VersionRow,
};
pub use crate::{Error, Result};

/// The `stream` under which the ledger's offset is stored (partition 0).
pub const LEDGER_STREAM: &str = "ledger";

/// Connections in the pool of one [`Projections`].
const POOL_SIZE: usize = 8;

/// How long to wait for a TCP connection when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The statements, by file name.
mod sql {
    pub(super) const SCHEMA_MIGRATIONS_CREATE: &str =
        include_str!("sql/schema_migrations_create.sql");
    pub(super) const SCHEMA_MIGRATIONS_SELECT_BY_VERSION: &str =
        include_str!("sql/schema_migrations_select_by_version.sql");
    pub(super) const SCHEMA_MIGRATIONS_INSERT: &str =
        include_str!("sql/schema_migrations_insert.sql");
    pub(super) const SCHEMA_MIGRATIONS_SELECT_MAX: &str =
        include_str!("sql/schema_migrations_select_max.sql");
    pub(super) const STREAM_OFFSETS_INSERT_MISSING: &str =
        include_str!("sql/stream_offsets_insert_missing.sql");
    pub(super) const STREAM_OFFSETS_SELECT_FOR_UPDATE: &str =
        include_str!("sql/stream_offsets_select_for_update.sql");
    pub(super) const STREAM_OFFSETS_UPDATE: &str = include_str!("sql/stream_offsets_update.sql");
    pub(super) const STREAM_OFFSETS_SELECT_BY_STREAM: &str =
        include_str!("sql/stream_offsets_select_by_stream.sql");
    pub(super) const STREAM_OFFSETS_SELECT: &str = include_str!("sql/stream_offsets_select.sql");
    pub(super) const BLOCKS_INSERT: &str = include_str!("sql/blocks_insert.sql");
    pub(super) const TRANSACTIONS_INSERT: &str = include_str!("sql/transactions_insert.sql");
    pub(super) const IDENTITIES_UPSERT: &str = include_str!("sql/identities_upsert.sql");
    pub(super) const ASSETS_UPSERT: &str = include_str!("sql/assets_upsert.sql");
    pub(super) const ASSET_VERSIONS_INSERT: &str = include_str!("sql/asset_versions_insert.sql");
    pub(super) const ASSET_VERSIONS_SELECT_BY_ASSET: &str =
        include_str!("sql/asset_versions_select_by_asset.sql");
    pub(super) const ASSETS_SEARCH: &str = include_str!("sql/assets_search.sql");
    pub(super) const ACCESS_EVENTS_COPY: &str = include_str!("sql/access_events_copy.sql");
    pub(super) const ACCESS_EVENTS_SELECT_STORED: &str =
        include_str!("sql/access_events_select_stored.sql");
    pub(super) const USAGE_UPSERT: &str = include_str!("sql/usage_upsert.sql");
    pub(super) const BILLING_ACCOUNTS_UPSERT: &str =
        include_str!("sql/billing_accounts_upsert.sql");
    pub(super) const BILLING_PLANS_INSERT: &str = include_str!("sql/billing_plans_insert.sql");
    pub(super) const BILLING_TOP_UPS_INSERT: &str = include_str!("sql/billing_top_ups_insert.sql");
    pub(super) const BILLING_PLANS_SELECT_BY_HOLDERS: &str =
        include_str!("sql/billing_plans_select_by_holders.sql");
    pub(super) const BLOCKS_SELECT_HEIGHT: &str = include_str!("sql/blocks_select_height.sql");
    pub(super) const IDENTITIES_SELECT_BY_ADDRESS: &str =
        include_str!("sql/identities_select_by_address.sql");
    pub(super) const BILLING_MONTHS_SELECT_FOR_UPDATE: &str =
        include_str!("sql/billing_months_select_for_update.sql");
    pub(super) const BILLING_MONTHS_UPSERT: &str = include_str!("sql/billing_months_upsert.sql");
    pub(super) const BILLING_LINES_COPY: &str = include_str!("sql/billing_lines_copy.sql");
    pub(super) const BILLING_LINES_SELECT_BY_MONTH: &str =
        include_str!("sql/billing_lines_select_by_month.sql");
    pub(super) const BILLING_MONTHS_SELECT_BY_HOLDER: &str =
        include_str!("sql/billing_months_select_by_holder.sql");
    pub(super) const BILLING_LINES_SUM_BY_OTHERS: &str =
        include_str!("sql/billing_lines_sum_by_others.sql");
    pub(super) const ACCESS_EVENTS_SELECT: &str = include_str!("sql/access_events_select.sql");
    pub(super) const ACCESS_PLAIN_CREATE: &str = include_str!("sql/access_plain_create.sql");
    pub(super) const ACCESS_PLAIN_CREATE_LIKE: &str =
        include_str!("sql/access_plain_create_like.sql");
    pub(super) const ACCESS_PLAIN_COPY: &str = include_str!("sql/access_plain_copy.sql");
    pub(super) const ACCESS_PLAIN_TRUNCATE: &str = include_str!("sql/access_plain_truncate.sql");
    pub(super) const USAGE_SELECT: &str = include_str!("sql/usage_select.sql");
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
    #[tracing::instrument(level = "debug", skip_all, fields(schema))]
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
}

/// Reads a column, naming it when the type does not fit.
pub(crate) fn get<'a, T: FromSql<'a>>(row: &'a Row, idx: usize, column: &'static str) -> Result<T> {
    row.try_get(idx).map_err(|error| Error::Corrupt {
        column,
        value: describe(&error),
        expected: std::any::type_name::<T>(),
    })
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
