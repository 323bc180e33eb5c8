//! Identities, keys, signed requests and access decisions of Cairn.
//!
//! This crate owns the client side of identity: key pairs (Ed25519 for
//! signing, X25519 for receiving wrapped data keys) generated and kept on the
//! client, in key files created with mode 0600. Later it also owns the signed
//! request envelopes with replay protection and the casbin role policy that,
//! combined with the on-chain authorised lists, decides every request.
//!
//! Key material never reaches `Debug` output or logs: [`keys::KeyPair`]
//! prints only its address.

#![warn(missing_docs)]

pub mod keys;
pub mod verify;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file's content is not a Cairn key.
    #[error("key file {path} is not a valid Cairn key file: {reason}")]
    BadKeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A key file is readable by other users.
    #[error("key file {path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")]
    InsecurePermissions {
        /// The file.
        path: std::path::PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The operating system's random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
