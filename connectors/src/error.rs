//! The error type shared by the connectors in this crate.

use std::io;
use std::path::PathBuf;

/// A result whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a connector.
///
/// Every variant carries enough context (the log path, the record offset, the
/// byte position) for its message to be actionable on its own.
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
}

impl Error {
    /// Builds an [`Error::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { action, path: path.into(), source }
    }
}
