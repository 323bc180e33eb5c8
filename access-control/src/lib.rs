//! Identities, keys, signed requests and access decisions of Cairn.
//!
//! This crate owns the client side of identity and the checks a node makes
//! before it answers a request:
//!
//! - [`keys`]: key pairs (Ed25519 for signing, X25519 for receiving wrapped
//!   data keys) generated and kept on the client, in key files created with
//!   mode 0600.
//! - [`verify`]: the chaincode's signature-check port, implemented with
//!   parallel batch verification.
//! - [`request`]: signed request envelopes. Every gRPC call that reads
//!   protected data or costs money carries, in the binary metadata key
//!   `x-cairn-auth-bin`, a 205-byte envelope signed by the caller over the
//!   method, a digest of the body, a timestamp, a nonce, the chain id and the
//!   receiving node's address; [`request::RequestVerifier`] checks it, looks
//!   the caller up on the ledger and refuses replays within the time window
//!   (fairly: one identity cannot fill the replay cache), and
//!   [`request::verify_envelope`] checks a logged envelope on its own.
//! - [`policy`]: who may do what. A casbin role policy, with organisations as
//!   domains, says which role may perform which action on which kind of
//!   object; [`policy::RolePolicy::decide`] combines it with the on-chain
//!   facts (an asset's authorised list and owner organisation) and explains
//!   every decision with the condition that decided it.
//!
//! - [`credential`]: electronic-certificate presentations (CBOR, zlib,
//!   Base45, QR codes with the `qr` feature) and their offline verification.
//!
//! A server checks a request in that order: the envelope gives a
//! [`request::VerifiedCaller`] (address, organisation, role), whose fields
//! form the [`policy::AccessRequest`].
//!
//! Key material never reaches `Debug` output or logs: [`keys::KeyPair`]
//! prints only its address, [`policy::RolePolicy`] only its number of rules
//! and [`request::RequestVerifier`] only its window and cache size.

#![warn(missing_docs)]

pub mod credential;
pub mod keys;
pub mod policy;
pub mod request;
pub mod verify;
pub mod wrap;

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
    /// A policy model or policy file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    PolicyFile {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A casbin model is not one Cairn can use.
    #[error("policy model {origin} is not valid: {reason}")]
    BadPolicyModel {
        /// Where the model came from: `built-in`, `given as text` or `file PATH`.
        origin: String,
        /// What was wrong.
        reason: String,
    },
    /// A policy's lines are not valid.
    #[error("policy {origin} is not valid: {reason}")]
    BadPolicy {
        /// Where the policy came from: `built-in`, `given as text` or `file PATH`.
        origin: String,
        /// What was wrong, with the line number.
        reason: String,
    },
    /// The operating system's random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
    /// A name that is not one of the [`policy::Action`]s.
    #[error(
        "unknown action {name:?}; expected one of {}",
        policy::Action::ALL.map(policy::Action::as_str).join(", ")
    )]
    UnknownAction {
        /// The name given.
        name: String,
    },
    /// A signed request is refused.
    #[error(transparent)]
    Auth(#[from] request::AuthError),
    /// A data key cannot be wrapped or unwrapped.
    #[error(transparent)]
    Wrap(#[from] wrap::WrapError),
    /// A presentation, a status list or a QR code cannot be read.
    #[error(transparent)]
    Credential(#[from] credential::Error),
    /// A certificate statement does not parse.
    #[error(transparent)]
    Chaincode(#[from] anchor_chaincode::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
