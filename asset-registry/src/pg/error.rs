//! What can go wrong in the PostgreSQL projections, and how a driver error
//! is described without ever quoting a password.

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
pub(super) fn describe(error: &tokio_postgres::Error) -> String {
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
