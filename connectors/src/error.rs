//! The error type shared by the connectors in this crate.

use std::io;
use std::path::PathBuf;

/// A result whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a connector.
///
/// Every variant carries enough context (the log path, the record offset, the
/// byte position, the server, table or line) for its message to be actionable
/// on its own.
///
/// Source errors never carry credentials: a PostgreSQL server is named by
/// host, port, database and user, never by its connection URL, which may hold
/// a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The log file holds bytes that are not a valid record and cannot be
    /// explained by an interrupted write; nothing was skipped or repaired.
    #[error("log {path} is corrupt at record {record} (byte {position}): {reason}")]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// The offset of the record that failed to verify.
        record: u64,
        /// The byte position in the file where that record's frame starts.
        position: u64,
        /// What exactly failed to verify.
        reason: String,
    },

    /// Another process, or another handle in this process, holds the log open.
    #[error("log {path} is in use by another process (it is locked exclusively)")]
    Locked {
        /// The log file.
        path: PathBuf,
    },

    /// A record in an append is larger than the log accepts; nothing was written.
    #[error(
        "record {index} of the append is {len} bytes, more than the maximum of {max} bytes; \
         nothing was written"
    )]
    RecordTooLarge {
        /// The position of the offending record within the appended group.
        index: usize,
        /// Its length in bytes.
        len: usize,
        /// The largest record the log accepts, in bytes.
        max: usize,
    },

    /// An earlier write or fsync failed, so the durability of the log's tail is
    /// unknown and the log refuses further appends until it is reopened.
    #[error("log {path} refuses appends after an earlier write or fsync failure: {reason}")]
    Poisoned {
        /// The log file.
        path: PathBuf,
        /// The failure that poisoned the log.
        reason: String,
    },

    /// An operating-system call on the log failed.
    #[error("failed to {action} log {path}")]
    Io {
        /// What was being done, as a verb phrase ("open", "append to", ...).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The log URL names no supported backend or is malformed.
    #[error("cannot open log URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A Kafka broker could not be reached, refused a request, or a topic is
    /// set up in a way Cairn cannot use.
    #[error("Kafka at {brokers}: {action}: {reason}")]
    Kafka {
        /// The bootstrap servers, as configured.
        brokers: String,
        /// What was being done ("produce to topic cairn.ledger", ...).
        action: String,
        /// The client's or broker's error.
        reason: String,
    },

    /// A share definition is unusable as given (an empty table name, a
    /// watermark without a watermark column, a NUL character, ...).
    #[error("invalid share: {reason}")]
    InvalidShare {
        /// What is wrong with it.
        reason: String,
    },

    /// A source connection URL could not be parsed or asks for something
    /// unsupported; the URL itself is not repeated, since it may hold a password.
    #[error("invalid source URL: {reason} (expected postgres://user@host:port/database)")]
    InvalidSourceUrl {
        /// Why it was rejected.
        reason: String,
    },

    /// A PostgreSQL connection string cannot be parsed; the string itself is
    /// not repeated, since it may hold a password.
    #[error("invalid PostgreSQL connection string: {reason}")]
    PgConnectionString {
        /// Why it was rejected, quoting none of its characters.
        reason: String,
    },

    /// The `sslmode` of a PostgreSQL connection string is not one libpq knows.
    #[error(
        "sslmode {mode:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
    )]
    SslMode {
        /// The mode as given.
        mode: String,
    },

    /// The root certificates named by `sslrootcert` cannot be read, or the
    /// file holds none.
    #[error("cannot read the root certificates {path}: {reason}")]
    RootCertificates {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },

    /// TLS with a verified server was asked for without `sslrootcert`, and
    /// the system's certificate store is empty.
    #[error(
        "sslmode=verify-full needs root certificates: give sslrootcert=FILE (none found in the system store)"
    )]
    NoRootCertificates,

    /// rustls refused the TLS configuration.
    #[error("TLS configuration: {reason}")]
    TlsConfig {
        /// rustls's reason.
        reason: String,
    },

    /// The source server could not be reached, or closed the connection
    /// before the session started.
    #[error("cannot connect to {server}: {reason}")]
    SourceUnreachable {
        /// The server, as "PostgreSQL at host:port".
        server: String,
        /// The operating-system or server error.
        reason: String,
    },

    /// The source server refused the credentials or the user.
    #[error("{server} refused to authenticate user {user:?}: {reason}")]
    SourceAuthentication {
        /// The server, as "PostgreSQL at host:port".
        server: String,
        /// The user name that was refused.
        user: String,
        /// The server's reason, which never includes the password.
        reason: String,
    },

    /// The database named in the source URL does not exist on the server.
    #[error("database {database:?} does not exist on {server}")]
    DatabaseMissing {
        /// The server, as "PostgreSQL at host:port".
        server: String,
        /// The missing database.
        database: String,
    },

    /// The table of a share does not exist, or is not visible to its user.
    #[error(
        "table {table} does not exist in database {database:?} on {server} \
         (no table, view, materialized view or foreign table of that name is visible to user {user:?})"
    )]
    TableMissing {
        /// The table as given, schema-qualified if a schema was given.
        table: String,
        /// The database that was searched.
        database: String,
        /// The server, as "PostgreSQL at host:port".
        server: String,
        /// The user whose search path and privileges applied.
        user: String,
    },

    /// The watermark column of a share is not a column of its table or query.
    #[error(
        "watermark column {column:?} does not exist in {relation}; its columns are: {available}"
    )]
    WatermarkColumnMissing {
        /// The watermark column as given.
        column: String,
        /// The table or query, as "table public.citizens" or "the share's query".
        relation: String,
        /// The columns that do exist, comma-separated.
        available: String,
    },

    /// The watermark column has a type without an ordering, so "newer than" means nothing.
    #[error(
        "watermark column {column:?} of {relation} has type {pg_type}, which has no ordering, \
         so it cannot serve as a watermark"
    )]
    WatermarkUnordered {
        /// The watermark column.
        column: String,
        /// The table or query.
        relation: String,
        /// Its type, as PostgreSQL names it.
        pg_type: String,
    },

    /// The watermark value of an incremental sync is not a value of the column's type.
    #[error("watermark value {value:?} is not a valid {pg_type} for column {column:?}: {reason}")]
    WatermarkInvalid {
        /// The watermark column.
        column: String,
        /// Its type, as PostgreSQL names it.
        pg_type: String,
        /// The value as given, cut to at most 200 characters.
        value: String,
        /// The server's reason.
        reason: String,
    },

    /// The user of a share may not read its table (or a table its query reads).
    #[error("user {user:?} is not allowed to read {relation}: {reason}")]
    PermissionDenied {
        /// The user of the share.
        user: String,
        /// The table or query.
        relation: String,
        /// The server's message, which names the object.
        reason: String,
    },

    /// The query of a share is not valid SQL, or names something that does not exist.
    #[error("the share's query is invalid: {reason}")]
    QueryInvalid {
        /// The server's message, with the SQLSTATE and the position in the query.
        reason: String,
    },

    /// Any other failure of a source while reading (a lost connection, a
    /// runtime error in the share's query, ...).
    #[error("{server} failed to {action} {relation}: {reason}")]
    SourceQuery {
        /// What was being done, as a verb phrase whose object is the
        /// relation ("stream", "read the columns of", ...).
        action: &'static str,
        /// The table or query.
        relation: String,
        /// The server, as "PostgreSQL at host:port".
        server: String,
        /// The server's message with its SQLSTATE, or the connection error.
        reason: String,
    },

    /// Writing a snapshot to its destination failed; the output is incomplete.
    #[error("failed to write the snapshot of {relation} to its destination")]
    SinkWrite {
        /// The table or query being written.
        relation: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An operating-system call on a source file failed.
    #[error("failed to {action} source file {path}")]
    FileIo {
        /// What was being done, as a verb phrase ("open", "read", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A source file is not valid for its declared kind (CSV, NDJSON).
    #[error("{path}, line {line}: {reason}")]
    FileInvalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line where the problem was found.
        line: u64,
        /// What is wrong there.
        reason: String,
    },
}

impl Error {
    /// Builds an [`Error::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { action, path: path.into(), source }
    }
}
