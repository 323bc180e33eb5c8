//! The outbox of notifications in PostgreSQL, written exactly once.
//!
//! The notifier folds the ledger log and, for each batch of blocks, calls
//! [`Outbox::record`], which inserts the batch's notifications *and* moves
//! the stored ledger offset past the batch in one database transaction. A
//! notifier killed at any point restarts from [`Outbox::next_offset`]: a
//! batch is either recorded whole, offset included, or not at all, and a
//! notification recorded twice (a batch that overlaps the stored offset) is
//! recognised by its id and stored once.
//!
//! The sender takes [`Outbox::due`] notifications in ledger order, delivers
//! each and marks it at once with [`Outbox::mark_sent`], or schedules another
//! attempt with [`Outbox::mark_retry`]. Delivery and the mark are two steps
//! no transaction spans (the SMTP server and the webhook receiver are not
//! part of the database), so a sender killed after a delivery and before its
//! mark delivers that one notification again on restart: the window is one
//! notification per channel, and the redelivery carries the same id (the
//! e-mail's Message-ID, the webhook's `Idempotency-Key`) for the receiver to
//! drop it.
//!
//! Only one sender may work on an outbox at a time: [`Outbox::lock`] takes a
//! session advisory lock that the server releases when the holder's
//! connection ends, also when its process is killed.
//!
//! The tables live in their own schema, with their own migrations
//! (`notify/ddl/NNN-name.sql`) and statements (`notify/sql/<table>_<verb>.sql`).

use std::fmt;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use sha2::{Digest, Sha256};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{CaseSummary, Channel, Notification, Origin, Recipient};
use crate::pg::{Migration, MigrationSet, describe, get};
use crate::{Error, Result};

/// The stream under which the ledger's next offset is stored.
pub const LEDGER_STREAM: &str = "ledger";

/// The default schema of the outbox.
pub const DEFAULT_SCHEMA: &str = "cairn_notify";

/// Connections in the pool: the recorder and the sender.
const POOL_SIZE: usize = 4;

/// How long to wait for a TCP connection when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The statements, by file name.
mod sql {
    pub(super) const NOTIFY_MIGRATIONS_CREATE: &str =
        include_str!("sql/notify_migrations_create.sql");
    pub(super) const NOTIFY_MIGRATIONS_SELECT_BY_VERSION: &str =
        include_str!("sql/notify_migrations_select_by_version.sql");
    pub(super) const NOTIFY_MIGRATIONS_INSERT: &str =
        include_str!("sql/notify_migrations_insert.sql");
    pub(super) const NOTIFY_MIGRATIONS_SELECT_MAX: &str =
        include_str!("sql/notify_migrations_select_max.sql");
    pub(super) const NOTIFY_OFFSETS_INSERT_MISSING: &str =
        include_str!("sql/notify_offsets_insert_missing.sql");
    pub(super) const NOTIFY_OFFSETS_SELECT_FOR_UPDATE: &str =
        include_str!("sql/notify_offsets_select_for_update.sql");
    pub(super) const NOTIFY_OFFSETS_SELECT_BY_STREAM: &str =
        include_str!("sql/notify_offsets_select_by_stream.sql");
    pub(super) const NOTIFY_OFFSETS_UPDATE: &str = include_str!("sql/notify_offsets_update.sql");
    pub(super) const NOTIFICATIONS_INSERT: &str = include_str!("sql/notifications_insert.sql");
    pub(super) const NOTIFICATIONS_SELECT_DUE: &str =
        include_str!("sql/notifications_select_due.sql");
    pub(super) const NOTIFICATIONS_SELECT_NEXT_ATTEMPT: &str =
        include_str!("sql/notifications_select_next_attempt.sql");
    pub(super) const NOTIFICATIONS_UPDATE_SENT: &str =
        include_str!("sql/notifications_update_sent.sql");
    pub(super) const NOTIFICATIONS_UPDATE_RETRY: &str =
        include_str!("sql/notifications_update_retry.sql");
    pub(super) const NOTIFICATIONS_UPDATE_UNDELIVERABLE: &str =
        include_str!("sql/notifications_update_undeliverable.sql");
    pub(super) const NOTIFICATIONS_COUNT_BY_STATUS: &str =
        include_str!("sql/notifications_count_by_status.sql");
}

/// The migrations, in order. Never edit one that has shipped; add another.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "notify offsets and outbox",
    sql: include_str!("ddl/001-outbox.sql"),
}];

/// A notification waiting for delivery, with the attempts made so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The notification.
    pub notification: Notification,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// The notifications of an outbox by delivery status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Waiting for delivery (including those waiting for a retry).
    pub pending: u64,
    /// Delivered.
    pub sent: u64,
    /// Given up: no contact for the recipient, or too many attempts.
    pub undeliverable: u64,
}

/// The outbox in one schema, over a pool of connections.
///
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct Outbox {
    pool: Pool,
    schema: String,
    /// `user@host:port/database`, for messages; never the password.
    target: String,
    /// The URL, to open the lock's own connection.
    config: tokio_postgres::Config,
    tls: connectors::pg_tls::MakeRustls,
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// The advisory lock that keeps a second sender off an outbox, held by a
/// connection of its own until this is dropped (or the process dies).
pub struct OutboxLock {
    client: tokio_postgres::Client,
    driver: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for OutboxLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxLock").finish_non_exhaustive()
    }
}

impl OutboxLock {
    /// Whether the connection that holds the lock is still open.
    pub fn is_held(&self) -> bool {
        !self.client.is_closed() && !self.driver.is_finished()
    }
}

impl Drop for OutboxLock {
    fn drop(&mut self) {
        // Closing the connection releases the session lock.
        self.driver.abort();
    }
}

/// Whether `name` matches `^[a-z_][a-z0-9_]{0,62}$`.
fn is_identifier(name: &str) -> bool {
    let bytes = name.as_bytes();
    matches!(bytes.first(), Some(b'a'..=b'z' | b'_'))
        && bytes.len() <= 63
        && bytes.iter().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// `user@host:port/database`; never the password.
fn describe_target(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => format!("{name}:{port}"),
            Host::Unix(path) => format!("{}:{port}", path.display()),
        })
        .collect();
    let hosts = if hosts.is_empty() { "localhost".to_owned() } else { hosts.join(",") };
    let user = config.get_user().unwrap_or("(default user)");
    let database = config.get_dbname().unwrap_or("(default database)");
    format!("{user}@{hosts}/{database}")
}

/// A key for advisory locks of one schema and purpose.
fn advisory_key(purpose: &str, schema: &str) -> i64 {
    let digest = Sha256::digest(format!("cairn.asset-registry.notify.{purpose}:{schema}"));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// A `u64` as a `bigint`, or an error naming the column.
fn to_i64(value: u64, column: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::OutOfRange { column, value })
}

/// A non-negative integer column read back.
fn to_unsigned<T: TryFrom<i64>>(value: i64, column: &'static str) -> Result<T> {
    T::try_from(value).map_err(|_| Error::Corrupt {
        column,
        value: value.to_string(),
        expected: "a non-negative integer",
    })
}

/// Parses a vocabulary column.
fn parse<T: std::str::FromStr>(
    text: &str,
    column: &'static str,
    expected: &'static str,
) -> Result<T> {
    text.parse().map_err(|_| Error::Corrupt { column, value: text.to_owned(), expected })
}

impl Outbox {
    /// Connects, creates the schema if it is missing and runs the migrations
    /// it lacks (each once, in its own transaction, under an advisory lock).
    #[tracing::instrument(skip(url))]
    pub async fn connect(url: &str, schema: &str) -> Result<Outbox> {
        if !is_identifier(schema) {
            return Err(Error::InvalidSchemaName { name: schema.into() });
        }
        let (mut config, tls) = connectors::pg_tls::connect_config(url)
            .map_err(|error| Error::InvalidUrl { message: error.to_string() })?;
        if config.get_connect_timeout().is_none() {
            let _ = config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            let _ = config.application_name("cairn-notify");
        }
        let target = describe_target(&config);
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager).max_size(POOL_SIZE).build().map_err(|error| {
            Error::Connect { target: target.clone(), message: error.to_string() }
        })?;
        let outbox = Outbox { pool, schema: schema.to_owned(), target, config, tls };
        outbox.migrate().await?;
        Ok(outbox)
    }

    /// The schema that holds the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Drops a schema and everything in it. A missing schema is not an error.
    pub async fn drop_schema(&self) -> Result<()> {
        let client = self.client().await?;
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema))
            .await
            .map_err(self.sql_error("dropping the schema"))
    }

    /// Takes the sender's lock of this outbox, waiting while another process
    /// holds it; `on_wait` is called once if it has to wait.
    pub async fn lock(&self, on_wait: impl FnOnce()) -> Result<OutboxLock> {
        let (client, connection) =
            self.config.connect(self.tls.clone()).await.map_err(|error| Error::Connect {
                target: self.target.clone(),
                message: describe(&error),
            })?;
        let driver = tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(error = %describe(&error), "the outbox lock's connection ended with an error");
            }
        });
        let lock = OutboxLock { client, driver };
        let key = advisory_key("sender", &self.schema);
        let mut on_wait = Some(on_wait);
        loop {
            let row = lock
                .client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await
                .map_err(self.sql_error("taking the sender lock"))?;
            if get::<bool>(&row, 0, "pg_try_advisory_lock")? {
                return Ok(lock);
            }
            if let Some(on_wait) = on_wait.take() {
                on_wait();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The ledger offset the next batch must start at.
    pub async fn next_offset(&self) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_opt(&self.sql(sql::NOTIFY_OFFSETS_SELECT_BY_STREAM), &[&LEDGER_STREAM])
            .await
            .map_err(self.sql_error("reading the ledger offset"))?;
        match row {
            Some(row) => to_unsigned(
                get(&row, 0, "notify_offsets.next_offset")?,
                "notify_offsets.next_offset",
            ),
            None => Ok(0),
        }
    }

    /// Records the notifications of the ledger records `[from, to)` and moves
    /// the stored offset to `to`, in one transaction; answers how many
    /// notifications were new.
    ///
    /// A batch that starts below the stored offset is recorded from the
    /// stored offset on (the records below it were recorded before); one
    /// that ends at or below it changes nothing. One that starts above it is
    /// refused with [`Error::OffsetGap`]: records would be lost.
    #[tracing::instrument(level = "debug", skip(self, notifications), fields(schema = %self.schema, n = notifications.len()))]
    pub async fn record(&self, from: u64, to: u64, notifications: &[Notification]) -> Result<u64> {
        if to < from {
            return Err(Error::BadBatch {
                stream: LEDGER_STREAM.into(),
                partition: 0,
                message: format!("the batch ends at {to}, before it starts at {from}"),
            });
        }
        if let Some(outside) = notifications
            .iter()
            .find(|n| n.origin.ledger_offset < from || n.origin.ledger_offset >= to)
        {
            return Err(Error::BadBatch {
                stream: LEDGER_STREAM.into(),
                partition: 0,
                message: format!(
                    "notification {} comes from offset {}, outside the batch [{from}, {to})",
                    outside.id, outside.origin.ledger_offset
                ),
            });
        }
        let mut client = self.client().await?;
        let transaction =
            client.transaction().await.map_err(self.sql_error("starting a batch transaction"))?;
        let _ = transaction
            .execute(&self.sql(sql::NOTIFY_OFFSETS_INSERT_MISSING), &[&LEDGER_STREAM])
            .await
            .map_err(self.sql_error("adding the ledger offset"))?;
        let row = transaction
            .query_one(&self.sql(sql::NOTIFY_OFFSETS_SELECT_FOR_UPDATE), &[&LEDGER_STREAM])
            .await
            .map_err(self.sql_error("locking the ledger offset"))?;
        let stored: u64 =
            to_unsigned(get(&row, 0, "notify_offsets.next_offset")?, "notify_offsets.next_offset")?;
        if from > stored {
            return Err(Error::OffsetGap {
                stream: LEDGER_STREAM.into(),
                partition: 0,
                stored: to_i64(stored, "notify_offsets.next_offset")?,
                first: to_i64(from, "notifications.ledger_offset")?,
            });
        }
        if to <= stored {
            return Ok(0);
        }
        let fresh: Vec<&Notification> =
            notifications.iter().filter(|n| n.origin.ledger_offset >= stored).collect();
        let mut columns = Columns::default();
        for notification in &fresh {
            columns.push(notification)?;
        }
        let inserted = transaction
            .execute(
                &self.sql(sql::NOTIFICATIONS_INSERT),
                &[
                    &columns.id as &(dyn ToSql + Sync),
                    &columns.ledger_offset,
                    &columns.block_number,
                    &columns.tx_index,
                    &columns.seq,
                    &columns.tx_id,
                    &columns.channel,
                    &columns.recipient,
                    &columns.case_id,
                    &columns.service_id,
                    &columns.service_version,
                    &columns.action,
                    &columns.state,
                ],
            )
            .await
            .map_err(self.sql_error("inserting notifications"))?;
        let _ = transaction
            .execute(
                &self.sql(sql::NOTIFY_OFFSETS_UPDATE),
                &[&LEDGER_STREAM, &to_i64(to, "notify_offsets.next_offset")?],
            )
            .await
            .map_err(self.sql_error("moving the ledger offset"))?;
        transaction.commit().await.map_err(self.sql_error("committing a batch"))?;
        Ok(inserted)
    }

    /// Up to `limit` pending notifications whose next attempt is due at
    /// `now_ms` (milliseconds since the Unix epoch), in ledger order.
    pub async fn due(&self, now_ms: u64, limit: u32) -> Result<Vec<Pending>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &self.sql(sql::NOTIFICATIONS_SELECT_DUE),
                &[&to_i64(now_ms, "notifications.next_attempt_ms")?, &i64::from(limit)],
            )
            .await
            .map_err(self.sql_error("reading due notifications"))?;
        rows.iter().map(pending_from_row).collect()
    }

    /// When the earliest pending notification is due (milliseconds since
    /// the Unix epoch), or `None` when nothing is pending.
    pub async fn next_attempt(&self) -> Result<Option<u64>> {
        let client = self.client().await?;
        let row = client
            .query_one(&self.sql(sql::NOTIFICATIONS_SELECT_NEXT_ATTEMPT), &[])
            .await
            .map_err(self.sql_error("reading the next attempt"))?;
        let at: Option<i64> = get(&row, 0, "notifications.next_attempt_ms")?;
        Ok(at.map(|at| u64::try_from(at).unwrap_or(0)))
    }

    /// Marks a notification delivered at `now_ms`. Answers whether it was
    /// still pending.
    pub async fn mark_sent(&self, id: &str, now_ms: u64) -> Result<bool> {
        let now = to_i64(now_ms, "notifications.sent_ms")?;
        self.update(sql::NOTIFICATIONS_UPDATE_SENT, "marking a notification sent", &[&id, &now])
            .await
    }

    /// Records a failed attempt and schedules the next at `next_attempt_ms`.
    /// `error` must hold no personal data. Answers whether it was still pending.
    pub async fn mark_retry(&self, id: &str, next_attempt_ms: u64, error: &str) -> Result<bool> {
        let next = to_i64(next_attempt_ms, "notifications.next_attempt_ms")?;
        self.update(
            sql::NOTIFICATIONS_UPDATE_RETRY,
            "scheduling another attempt",
            &[&id, &next, &error],
        )
        .await
    }

    /// Gives up on a notification. `reason` must hold no personal data.
    /// Answers whether it was still pending.
    pub async fn mark_undeliverable(&self, id: &str, reason: &str) -> Result<bool> {
        self.update(
            sql::NOTIFICATIONS_UPDATE_UNDELIVERABLE,
            "marking a notification undeliverable",
            &[&id, &reason],
        )
        .await
    }

    /// The notifications by delivery status.
    pub async fn counts(&self) -> Result<StatusCounts> {
        let client = self.client().await?;
        let rows = client
            .query(&self.sql(sql::NOTIFICATIONS_COUNT_BY_STATUS), &[])
            .await
            .map_err(self.sql_error("counting notifications"))?;
        let mut counts = StatusCounts::default();
        for row in &rows {
            let status: String = get(row, 0, "notifications.status")?;
            let n: u64 = to_unsigned(get(row, 1, "count")?, "count")?;
            match status.as_str() {
                "pending" => counts.pending = n,
                "sent" => counts.sent = n,
                "undeliverable" => counts.undeliverable = n,
                _ => {
                    return Err(Error::Corrupt {
                        column: "notifications.status",
                        value: status,
                        expected: "pending, sent or undeliverable",
                    });
                }
            }
        }
        Ok(counts)
    }

    async fn update(
        &self,
        template: &str,
        context: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<bool> {
        let client = self.client().await?;
        let statement =
            client.prepare_cached(&self.sql(template)).await.map_err(self.sql_error(context))?;
        let changed = client.execute(&statement, params).await.map_err(self.sql_error(context))?;
        Ok(changed == 1)
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        MigrationSet {
            schema: &self.schema,
            lock_key: advisory_key("migrate", &self.schema),
            table: "notify_migrations.version",
            create: sql::NOTIFY_MIGRATIONS_CREATE,
            select_by_version: sql::NOTIFY_MIGRATIONS_SELECT_BY_VERSION,
            insert: sql::NOTIFY_MIGRATIONS_INSERT,
            select_max: sql::NOTIFY_MIGRATIONS_SELECT_MAX,
            migrations: MIGRATIONS,
        }
        .apply(&mut client)
        .await
    }

    /// A closure that wraps a driver error with what was being done.
    fn sql_error<'a>(
        &'a self,
        context: &'static str,
    ) -> impl FnOnce(tokio_postgres::Error) -> Error + 'a {
        move |error| Error::Query {
            schema: self.schema.clone(),
            context: context.into(),
            message: describe(&error),
            code: error.code().map(|code| code.code().to_owned()),
        }
    }

    /// Renders a statement for the schema: `{schema}` becomes the quoted name.
    fn sql(&self, template: &str) -> String {
        template.replace("{schema}", &format!("\"{}\"", self.schema))
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

/// The columns of a batch insert.
#[derive(Default)]
struct Columns {
    id: Vec<String>,
    ledger_offset: Vec<i64>,
    block_number: Vec<i64>,
    tx_index: Vec<i32>,
    seq: Vec<i32>,
    tx_id: Vec<String>,
    channel: Vec<&'static str>,
    recipient: Vec<String>,
    case_id: Vec<String>,
    service_id: Vec<String>,
    service_version: Vec<i64>,
    action: Vec<&'static str>,
    state: Vec<&'static str>,
}

impl Columns {
    fn push(&mut self, notification: &Notification) -> Result<()> {
        let origin = &notification.origin;
        let summary = &notification.summary;
        self.id.push(notification.id.clone());
        self.ledger_offset.push(to_i64(origin.ledger_offset, "notifications.ledger_offset")?);
        self.block_number.push(to_i64(origin.block_number, "notifications.block_number")?);
        self.tx_index.push(i32::try_from(origin.tx_index).map_err(|_| Error::OutOfRange {
            column: "notifications.tx_index",
            value: u64::from(origin.tx_index),
        })?);
        self.seq.push(i32::try_from(notification.seq).map_err(|_| Error::OutOfRange {
            column: "notifications.seq",
            value: u64::from(notification.seq),
        })?);
        self.tx_id.push(origin.tx_id.clone());
        self.channel.push(notification.channel.as_str());
        self.recipient.push(notification.recipient.key());
        self.case_id.push(summary.case_id.clone());
        self.service_id.push(summary.service_id.clone());
        self.service_version
            .push(to_i64(summary.service_version, "notifications.service_version")?);
        self.action.push(summary.action.as_str());
        self.state.push(summary.state.as_str());
        Ok(())
    }
}

/// A row of `notifications_select_due.sql`.
fn pending_from_row(row: &Row) -> Result<Pending> {
    let channel: String = get(row, 6, "notifications.channel")?;
    let recipient: String = get(row, 7, "notifications.recipient")?;
    let action: String = get(row, 11, "notifications.action")?;
    let state: String = get(row, 12, "notifications.state")?;
    Ok(Pending {
        notification: Notification {
            id: get(row, 0, "notifications.id")?,
            origin: Origin {
                ledger_offset: to_unsigned(
                    get(row, 1, "notifications.ledger_offset")?,
                    "notifications.ledger_offset",
                )?,
                block_number: to_unsigned(
                    get(row, 2, "notifications.block_number")?,
                    "notifications.block_number",
                )?,
                tx_index: to_unsigned(
                    i64::from(get::<i32>(row, 3, "notifications.tx_index")?),
                    "notifications.tx_index",
                )?,
                tx_id: get(row, 5, "notifications.tx_id")?,
            },
            seq: to_unsigned(
                i64::from(get::<i32>(row, 4, "notifications.seq")?),
                "notifications.seq",
            )?,
            channel: parse::<Channel>(&channel, "notifications.channel", "email or webhook")?,
            recipient: Recipient::from_key(&recipient).map_err(|_| Error::Corrupt {
                column: "notifications.recipient",
                value: recipient.clone(),
                expected: "address:<address> or group:<organisation>/<role>",
            })?,
            summary: CaseSummary {
                case_id: get(row, 8, "notifications.case_id")?,
                service_id: get(row, 9, "notifications.service_id")?,
                service_version: to_unsigned(
                    get(row, 10, "notifications.service_version")?,
                    "notifications.service_version",
                )?,
                action: parse(&action, "notifications.action", "a case action")?,
                state: parse(&state, "notifications.state", "a case state")?,
            },
        },
        attempts: to_unsigned(
            i64::from(get::<i32>(row, 13, "notifications.attempts")?),
            "notifications.attempts",
        )?,
    })
}
