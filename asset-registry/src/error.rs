//! The error type of asset-registry.

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in asset-registry: a refused access event,
/// month or statement, and, in the PostgreSQL projections (`pg`), a bad
/// name or URL, a failed connection, migration or statement, or a batch that
/// does not fit the stored offsets.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An access event names an action this build does not know.
    #[error(
        "unknown access-event action {action:?}; expected one of verify, verify_certificate, request_data, read_audit, read_bills, unauthenticated_refusals, unknown, verify_data_hash"
    )]
    UnknownAction {
        /// The action that was given.
        action: String,
    },

    /// A decision is neither `allowed` nor `denied`.
    #[error("unknown decision {decision:?}; expected allowed or denied")]
    UnknownDecision {
        /// The decision that was given.
        decision: String,
    },
    /// Bytes from the access-event log are not an encoded access event.
    #[error("not a cairn.v1.AccessEvent: {message}")]
    NotAnAccessEvent {
        /// What the decoder said.
        message: String,
    },
    /// A decoded access event has no decision.
    #[error("access event {event_id} has no decision")]
    NoDecision {
        /// The event.
        event_id: String,
    },
    /// A node's signature over an access-topic record does not hold.
    #[error("{reason}")]
    RecordSignature {
        /// Which part is wrong: the key, the signature or the message.
        reason: String,
    },
    /// An event was applied to the audit projection out of log order.
    #[error("audit projection expected offset {expected}, got {offset}")]
    OutOfOrder {
        /// The offset the projection expected next.
        expected: u64,
        /// The offset it was given.
        offset: u64,
    },
    /// A month is not written `YYYY-MM`.
    #[error("month {month:?} is not YYYY-MM (for example 2026-12)")]
    InvalidMonth {
        /// The text that was given.
        month: String,
    },
    /// An access event does not prove that its caller asked.
    #[error("{reason}")]
    Evidence {
        /// The event.
        event_id: String,
        /// What is missing or wrong, naming the event.
        reason: String,
    },
    /// A statement's lines do not add up under the plans.
    #[error("{reason}")]
    Statement {
        /// The first line that does not add up, counted from 1.
        line: usize,
        /// Why, naming the line.
        reason: String,
    },
    // ---- the PostgreSQL projections ----
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
