//! PostgreSQL as a source: consistent snapshots of a table or query, streamed
//! with `COPY … TO STDOUT`.
//!
//! [`snapshot`] writes the rows of a [`PgShare`] as CSV (with a header line)
//! or NDJSON (one JSON object per row) to a [`tokio::io::AsyncWrite`]. Data
//! flows from the server's `COPY` stream to the writer through a fixed-size
//! buffer, so no table is ever loaded into memory; a writer that is slow
//! (such as one end of [`tokio::io::duplex`] read by the pipeline) slows the
//! `COPY` down.
//!
//! # One snapshot
//!
//! Everything a snapshot reads happens in one `REPEATABLE READ READ ONLY`
//! transaction: the catalog checks, the largest watermark and the `COPY`
//! see the same data, and the share's query cannot change anything. Row
//! counts come from the `COPY` output itself (a quote-aware count of CSV
//! records, or the NDJSON lines), so they are exact and need no second scan.
//!
//! The session pins `DateStyle` (`ISO, MDY`), `IntervalStyle` (`postgres`),
//! `extra_float_digits` (1, so floats round-trip) and `bytea_output` (`hex`)
//! to PostgreSQL's defaults, so the bytes do not depend on the server's
//! configuration. `TimeZone` is left to the server and user: `timestamptz`
//! values are written in it, always with an explicit offset.
//!
//! # Formats
//!
//! - [`Format::Csv`] is exactly `COPY (SELECT * …) TO STDOUT (FORMAT csv,
//!   HEADER true)`: `NULL` is an empty unquoted field, an empty string is
//!   `""`, and every type is written in its text form. No column type is
//!   refused: every PostgreSQL type has a text output function.
//! - [`Format::Ndjson`] is `row_to_json` of each row, one per line, in column
//!   order, streamed as a one-column CSV `COPY` whose quoting is undone on the
//!   fly (see `stream::NdjsonUnquoter`). `row_to_json` handles every type:
//!   numbers stay numbers (`NaN` and infinities become strings), `json` and
//!   `jsonb` columns are embedded as JSON, everything else becomes a string
//!   of its text form. A raw line break that a `json` column keeps from its
//!   input can only be whitespace between tokens, and becomes a space.
//!   Duplicate column names in a query give duplicate keys.
//!
//! # Incremental syncs
//!
//! A share with a [`watermark_column`](PgShare::watermark_column) is written
//! in the order of that column. Given the previous watermark, [`snapshot`]
//! writes only rows whose watermark is greater, compared in SQL as
//! `col > CAST('value' AS type)`: `COPY` takes no bind parameters, so the
//! value is quoted as a literal (see `sql::quote_literal`) and first checked
//! on its own with the same cast, which turns anything that is not a value
//! of the column's type into [`Error::WatermarkInvalid`]. Rows whose
//! watermark is `NULL` are in full syncs only. The largest watermark is read
//! with `max()` in the same snapshot before the `COPY`, so a query selection
//! with a watermark column runs twice (an index on the column keeps a
//! table's `max()` cheap).
//!
//! The returned watermark is the largest value among the rows written, as
//! PostgreSQL's text form; with no new rows it is the watermark given. A
//! watermark only finds rows whose values grow with every change: a row
//! committed later with a smaller value (a long transaction with an earlier
//! `updated_at`) is missed, as with any watermark scheme.
//!
//! # Errors and partial output
//!
//! Errors name the server by host and port, the database, the user and the
//! table, and never the password (see [`crate::Error`]). On any error the
//! writer may already have received part of the data: the caller must
//! discard it. The writer is shut down only after a complete snapshot.
//!
//! # Not yet
//!
//! Connections use TLS when the URL asks for it (`sslmode=require`,
//! `verify-ca` or `verify-full`, with `sslrootcert`; see [`crate::pg_tls`]),
//! and plain TCP otherwise.

use std::fmt;
use std::pin::pin;
use std::str::FromStr;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::task::JoinHandle;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, IsolationLevel, Transaction};

use crate::{Error, Result};

mod catalog;
mod errors;
mod sql;
mod stream;

use catalog::{resolve_query, resolve_table, watermark_literal};
use errors::{connect_error, pg_error, url_error_reason};
use sql::{Plan, display_ident, quote_ident};
use stream::{CsvRecordCounter, NdjsonUnquoter};

/// How long connecting may take when the URL sets no `connect_timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The size of the buffer between the `COPY` stream and the writer.
const WRITE_BUFFER: usize = 256 * 1024;

/// How long a finished session may take to say goodbye to the server.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The session settings that fix the text form of dates, intervals, floats
/// and byte strings, whatever the server's configuration.
const SESSION_SETTINGS: &str = "SET LOCAL DateStyle = 'ISO, MDY'; \
     SET LOCAL IntervalStyle = 'postgres'; \
     SET LOCAL extra_float_digits = 1; \
     SET LOCAL bytea_output = 'hex'";

/// The longest watermark value repeated in an error message, in characters.
const MAX_SHOWN_VALUE: usize = 200;

/// A share whose data lives in PostgreSQL.
///
/// `Debug` shows the server, database and user of the URL, never its password.
#[derive(Clone, PartialEq, Eq)]
pub struct PgShare {
    /// The connection URL, as in `postgres://user@host:port/db`; key-value
    /// strings (`host=… dbname=…`) work too. It may hold a password; it is
    /// never logged or shown.
    pub url: String,
    /// Which rows: a table or a query.
    pub selection: Selection,
    /// The column whose growing values mark new or changed rows, if the share
    /// supports incremental syncs.
    pub watermark_column: Option<String>,
}

impl fmt::Debug for PgShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgShare")
            .field("url", &RedactedUrl(&self.url))
            .field("selection", &self.selection)
            .field("watermark_column", &self.watermark_column)
            .finish()
    }
}

/// Shows a connection URL without its password.
struct RedactedUrl<'a>(&'a str);

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Config::from_str(self.0) {
            Ok(config) => {
                let server = Server::from_config(&config);
                let hidden =
                    if config.get_password().is_some() { " (password hidden)" } else { "" };
                write!(
                    f,
                    "\"postgres://{}@{}/{}\"{hidden}",
                    server.user, server.endpoint, server.database
                )
            }
            Err(_) => f.write_str("<unparseable URL, hidden>"),
        }
    }
}

/// Which rows of the database a share holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every row of a table, view, materialized view or foreign table.
    Table {
        /// The schema; without one, the user's `search_path` decides.
        schema: Option<String>,
        /// The table, exactly as named in the catalog (case-sensitive; no quoting needed).
        table: String,
    },
    /// The rows of one `SELECT` (or `VALUES`, `TABLE`, `WITH … SELECT`)
    /// statement. It runs as a subquery in a read-only transaction, so it can
    /// change nothing; trailing semicolons are ignored.
    Query(String),
}

/// The format a snapshot is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header line, as `COPY … (FORMAT csv, HEADER true)` writes it.
    Csv,
    /// One JSON object per row and line, as `row_to_json` makes it.
    Ndjson,
}

/// One column of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// The column name.
    pub name: String,
    /// Its type as PostgreSQL names it (`format_type`), with the type
    /// modifier for tables (`character varying(20)`), without for queries.
    pub pg_type: String,
    /// Whether it may be `NULL`; for a query, whose columns' nullability
    /// PostgreSQL does not report, always `true`.
    pub nullable: bool,
}

/// What a snapshot wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    /// The number of rows (data records; the CSV header line is not a row).
    pub rows: u64,
    /// The number of bytes written.
    pub bytes: u64,
    /// The columns, in order.
    pub columns: Vec<ColumnInfo>,
    /// The largest watermark among the rows written, as text; the watermark
    /// given if no row was newer; `None` without a watermark column or rows.
    pub watermark: Option<String>,
    /// What was read, for people: "postgresql table public.citizens on host
    /// 127.0.0.1:5432 db registry as user reader" (never a password).
    pub source_description: String,
}

/// Streams a snapshot of `share` as `format` into `out`.
///
/// With `since_watermark`, only the rows whose watermark column is greater
/// are written (an incremental sync); the share must have a watermark column.
/// Must run inside a tokio runtime: the connection is driven by a spawned task.
///
/// On success, `out` has been flushed and shut down. On error, `out` may hold
/// part of the data and must be discarded; the module documentation lists
/// the errors.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn snapshot(
    share: &PgShare,
    format: Format,
    since_watermark: Option<&str>,
    out: impl AsyncWrite + Unpin,
) -> Result<SyncOutcome> {
    share.selection.check()?;
    if let Some(column) = &share.watermark_column {
        check_name("watermark column", column)?;
    } else if since_watermark.is_some() {
        return Err(Error::InvalidShare {
            reason: "a watermark was given for an incremental sync, but the share has no \
                     watermark column"
                .to_owned(),
        });
    }
    let mut session = Session::connect(&share.url).await?;
    let result = session.snapshot(share, format, since_watermark, out).await;
    session.close(result.is_ok()).await;
    let outcome = result?;
    tracing::info!(
        source = %outcome.source_description,
        rows = outcome.rows,
        bytes = outcome.bytes,
        "streamed a PostgreSQL snapshot"
    );
    Ok(outcome)
}

/// Runs a plain `COPY table TO STDOUT (FORMAT csv)` (or `COPY (query) …`)
/// and throws the bytes away; returns the rows and bytes it streamed.
///
/// This is the reference `cairn bench ods` compares [`snapshot`] against: no
/// transaction, catalog check or header, and the table form works for tables
/// only (PostgreSQL refuses `COPY view TO`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn copy_to_sink(url: &str, selection: &Selection) -> Result<(u64, u64)> {
    selection.check()?;
    let session = Session::connect(url).await?;
    let statement = match selection {
        Selection::Table { schema, table } => {
            let name = match schema {
                Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
                None => quote_ident(table),
            };
            format!("COPY {name} TO STDOUT (FORMAT csv)")
        }
        Selection::Query(query) => {
            format!("COPY (\n{}\n) TO STDOUT (FORMAT csv)", trim_query(query))
        }
    };
    let relation = selection.label();
    let result = async {
        let error =
            |err: tokio_postgres::Error| pg_error(&err, &session.server, &relation, "stream");
        let mut copy = pin!(session.client.copy_out(statement.as_str()).await.map_err(error)?);
        let (mut counter, mut bytes) = (CsvRecordCounter::default(), 0_u64);
        while let Some(chunk) = copy.next().await {
            let chunk = chunk.map_err(error)?;
            counter.feed(&chunk);
            bytes += chunk.len() as u64;
        }
        Ok((counter.records(), bytes))
    }
    .await;
    session.close(result.is_ok()).await;
    result
}

impl Selection {
    /// Rejects selections no database could hold.
    fn check(&self) -> Result<()> {
        match self {
            Self::Table { schema, table } => {
                if let Some(schema) = schema {
                    check_name("schema name", schema)?;
                }
                check_name("table name", table)
            }
            Self::Query(query) if trim_query(query).is_empty() => {
                Err(Error::InvalidShare { reason: "the query is empty".to_owned() })
            }
            Self::Query(query) if query.contains('\0') => {
                Err(Error::InvalidShare { reason: "the query contains a NUL character".to_owned() })
            }
            Self::Query(_) => Ok(()),
        }
    }

    /// Names the selection in messages, as "table public.citizens" or "the share's query".
    fn label(&self) -> String {
        match self {
            Self::Table { schema: Some(schema), table } => {
                format!("table {}.{}", display_ident(schema), display_ident(table))
            }
            Self::Table { schema: None, table } => format!("table {}", display_ident(table)),
            Self::Query(_) => "the share's query".to_owned(),
        }
    }
}

/// Rejects an empty name or one with a NUL character.
fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidShare { reason: format!("the {what} is empty") });
    }
    if name.contains('\0') {
        return Err(Error::InvalidShare { reason: format!("the {what} contains a NUL character") });
    }
    Ok(())
}

/// The query without trailing whitespace and semicolons, which a subquery cannot have.
fn trim_query(query: &str) -> &str {
    query.trim_end_matches(|c: char| c.is_whitespace() || c == ';')
}

/// A PostgreSQL server as messages name it: never with a password.
#[derive(Debug, Clone)]
struct Server {
    /// `host:port`, comma-separated if the URL lists several.
    endpoint: String,
    /// The database.
    database: String,
    /// The user.
    user: String,
}

impl Server {
    /// Describes the server a parsed URL points at.
    fn from_config(config: &Config) -> Self {
        let ports = config.get_ports();
        let port = |index: usize| ports.get(index).or(ports.first()).copied().unwrap_or(5432);
        let mut endpoints: Vec<String> = config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(index, host)| match host {
                Host::Tcp(name) => format!("{name}:{}", port(index)),
                Host::Unix(dir) => format!("{}/.s.PGSQL.{}", dir.display(), port(index)),
            })
            .collect();
        if endpoints.is_empty() {
            endpoints = config
                .get_hostaddrs()
                .iter()
                .enumerate()
                .map(|(index, addr)| format!("{addr}:{}", port(index)))
                .collect();
        }
        let user = config.get_user().unwrap_or("(the operating-system user)").to_owned();
        let database = config.get_dbname().map_or_else(|| user.clone(), str::to_owned);
        Self { endpoint: endpoints.join(","), database, user }
    }

    /// "PostgreSQL at host:port".
    fn name(&self) -> String {
        format!("PostgreSQL at {}", self.endpoint)
    }
}

/// The task that drives a connection; dropping it closes the connection at
/// once, which makes the server abandon a `COPY` still in progress.
struct ConnectionTask(Option<JoinHandle<()>>);

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// One connection to a source.
struct Session {
    client: Client,
    connection: ConnectionTask,
    server: Server,
}

impl Session {
    /// Connects to the server of `url`, over TLS when its `sslmode` asks
    /// for it (see [`crate::pg_tls`]).
    async fn connect(url: &str) -> Result<Self> {
        let (mut config, tls) = crate::pg_tls::connect_config(url).map_err(|err| match err {
            Error::PgConnectionString { .. } => match Config::from_str(url) {
                Err(err) => Error::InvalidSourceUrl { reason: url_error_reason(&err) },
                Ok(_) => Error::InvalidSourceUrl { reason: err.to_string() },
            },
            other => Error::InvalidSourceUrl { reason: other.to_string() },
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let server = Server::from_config(&config);
        let (client, connection) =
            config.connect(tls).await.map_err(|err| connect_error(&err, &server))?;
        let task = tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "a PostgreSQL source connection ended with an error");
            }
        });
        Ok(Self { client, connection: ConnectionTask(Some(task)), server })
    }

    /// Ends the session: politely after success, at once after a failure.
    async fn close(self, graceful: bool) {
        let Self { client, mut connection, .. } = self;
        drop(client);
        if graceful && let Some(task) = connection.0.take() {
            // Without a client the connection says goodbye and ends; a timeout
            // only guards against a server that stops answering.
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, task).await;
        }
    }

    /// Streams one snapshot; see [`snapshot`].
    async fn snapshot(
        &mut self,
        share: &PgShare,
        format: Format,
        since_watermark: Option<&str>,
        out: impl AsyncWrite + Unpin,
    ) -> Result<SyncOutcome> {
        let label = share.selection.label();
        let txn = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|err| {
                pg_error(&err, &self.server, &label, "start a read-only transaction for")
            })?;
        let server = &mut self.server;
        let setup = async {
            txn.batch_execute(SESSION_SETTINGS).await?;
            txn.query_one("SELECT current_user::text, current_database()::text", &[]).await
        };
        let who =
            setup.await.map_err(|err| pg_error(&err, server, &label, "set up the session for"))?;
        server.user = who.get(0);
        server.database = who.get(1);
        let server = &*server;

        let source = match &share.selection {
            Selection::Table { schema, table } => {
                resolve_table(&txn, server, &label, schema.as_deref(), table).await?
            }
            Selection::Query(query) => resolve_query(&txn, server, query).await?,
        };
        let relation = source.relation.as_str();

        let mut plan = Plan { from: source.from.clone(), watermark: None };
        let mut watermark_column = None;
        if let Some(column) = &share.watermark_column {
            let index = source.columns.iter().position(|c| c.name == *column).ok_or_else(|| {
                Error::WatermarkColumnMissing {
                    column: column.clone(),
                    relation: relation.to_owned(),
                    available: source
                        .columns
                        .iter()
                        .map(|c| display_ident(&c.name))
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?;
            let cast_type = &source.cast_types[index];
            let since = match since_watermark {
                Some(value) => {
                    Some(watermark_literal(&txn, server, column, cast_type, value).await?)
                }
                None => None,
            };
            plan.watermark = Some((quote_ident(column), since));
            watermark_column = Some((column, cast_type));
        }

        let mut watermark = None;
        if let (Some(query), Some((column, cast_type))) = (plan.max_watermark(), watermark_column) {
            let row = txn.query_one(query.as_str(), &[]).await.map_err(|err| {
                if err.code() == Some(&SqlState::UNDEFINED_FUNCTION) {
                    Error::WatermarkUnordered {
                        column: column.clone(),
                        relation: relation.to_owned(),
                        pg_type: cast_type.clone(),
                    }
                } else {
                    pg_error(&err, server, relation, "find the largest watermark of")
                }
            })?;
            watermark =
                row.get::<_, Option<String>>(0).or_else(|| since_watermark.map(str::to_owned));
        }

        let statement = match format {
            Format::Csv => plan.copy_csv(),
            Format::Ndjson => plan.copy_ndjson(),
        };
        let (rows, bytes) = copy_into(&txn, server, relation, &statement, format, out).await?;
        txn.commit()
            .await
            .map_err(|err| pg_error(&err, server, relation, "end the read-only transaction for"))?;

        Ok(SyncOutcome {
            rows,
            bytes,
            columns: source.columns,
            watermark,
            source_description: format!(
                "postgresql {} on host {} db {} as user {}",
                source.kind, server.endpoint, server.database, server.user
            ),
        })
    }
}

/// Runs `statement` (a `COPY … TO STDOUT`) and writes its output, as
/// `format` needs it, to `out`; returns the rows and bytes written.
async fn copy_into(
    txn: &Transaction<'_>,
    server: &Server,
    relation: &str,
    statement: &str,
    format: Format,
    out: impl AsyncWrite + Unpin,
) -> Result<(u64, u64)> {
    let read_error = |err: tokio_postgres::Error| pg_error(&err, server, relation, "stream");
    let write_error =
        |source: std::io::Error| Error::SinkWrite { relation: relation.to_owned(), source };
    let mut copy = pin!(txn.copy_out(statement).await.map_err(read_error)?);
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, out);
    let mut bytes = 0_u64;
    let rows = match format {
        Format::Csv => {
            let mut counter = CsvRecordCounter::default();
            while let Some(chunk) = copy.next().await {
                let chunk = chunk.map_err(read_error)?;
                counter.feed(&chunk);
                writer.write_all(&chunk).await.map_err(write_error)?;
                bytes += chunk.len() as u64;
            }
            // The first record is the header line.
            counter.records().saturating_sub(1)
        }
        Format::Ndjson => {
            let mut unquoter = NdjsonUnquoter::default();
            let mut lines = Vec::new();
            while let Some(chunk) = copy.next().await {
                let chunk = chunk.map_err(read_error)?;
                lines.clear();
                unquoter.feed(&chunk, &mut lines);
                writer.write_all(&lines).await.map_err(write_error)?;
                bytes += lines.len() as u64;
            }
            lines.clear();
            unquoter.finish(&mut lines);
            writer.write_all(&lines).await.map_err(write_error)?;
            bytes += lines.len() as u64;
            unquoter.records()
        }
    };
    writer.shutdown().await.map_err(write_error)?;
    Ok((rows, bytes))
}

#[cfg(test)]
mod tests {
    use super::sql::QUERY_PREFIX;
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let share = PgShare {
            url: "postgres://reader:s3cr%3At@db.example:6543/registry".to_owned(),
            selection: Selection::Table { schema: None, table: "citizens".to_owned() },
            watermark_column: None,
        };
        let shown = format!("{share:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(shown.contains("reader@db.example:6543/registry"), "{shown}");
        assert!(shown.contains("password hidden"), "{shown}");

        let keyword = PgShare { url: "host=h password=hunter2 user=u".to_owned(), ..share.clone() };
        let shown = format!("{keyword:?}");
        assert!(!shown.contains("hunter2"), "{shown}");

        let broken = PgShare { url: "postgres://u:pw@h:notaport/db".to_owned(), ..share };
        let shown = format!("{broken:?}");
        assert!(!shown.contains("pw"), "{shown}");
    }

    #[test]
    fn url_errors_quote_no_character_of_the_url() {
        let Err(err) = Config::from_str("host='unterminated password=x") else {
            return;
        };
        assert!(!url_error_reason(&err).contains("password=x"));
        for url in ["postgres://u:pa$$@h:99999/db", "postgresql://u:secret@[::1/db"] {
            if let Err(err) = Config::from_str(url) {
                let reason = url_error_reason(&err);
                assert!(!reason.contains("pa$$") && !reason.contains("secret"), "{reason}");
            }
        }
    }

    #[test]
    fn trailing_semicolons_are_trimmed() {
        assert_eq!(trim_query("SELECT 1 ;; \n"), "SELECT 1");
        assert_eq!(trim_query(" ; "), "");
    }

    #[test]
    fn the_query_prefix_is_what_the_wrapper_puts_first() {
        assert!(format!("SELECT * FROM {}", sql::query_from("q")).starts_with(QUERY_PREFIX));
        assert!(sql::query_from("q").ends_with(sql::ALIAS));
    }
}
