//! Offline verifiers of Cairn's proofs and statements, and the JSON file
//! formats they read.
//!
//! Everything here is a pure function of its inputs: the file contents, the
//! checkpoint keys the caller trusts ([`NoteVerifier`]), and, where a check
//! depends on it, the current time passed in as an argument. Nothing here
//! opens a socket, reads a clock or touches the filesystem: a program that
//! links this crate can check a Cairn proof or statement without the `cairn`
//! command and without asking a node. Where a check needs something from a
//! node (the ledger inclusion proof of a channel anchor), the caller fetches
//! it and passes it in.
//!
//! - [`proof`]: inclusion, consistency and access-event (audit) proof files,
//!   checked against a signed ledger checkpoint.
//! - [`statement`]: a monthly statement with its proofs, and the
//!   [`statement::StatementNote`] a node signs of every statement it serves.
//! - [`anchor`]: that a certificate presentation's channel checkpoint is
//!   anchored in the main ledger.
//!
//! A verifier answers a [`Report`]: every [`Check`] it ran, in order, each
//! passed or failed with a sentence saying why. A failed check is data, not
//! an error; [`Error`] is only for input that cannot be read at all.
//!
//! ```no_run
//! use anchor_chaincode::checkpoint::parse_trusted_keys;
//! use asset_registry::verify::proof::check_proof_file;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let trusted = parse_trusted_keys(&std::fs::read_to_string("trusted-keys.txt")?)?;
//! let report = check_proof_file(
//!     &std::fs::read_to_string("proof.json")?,
//!     &std::fs::read_to_string("checkpoint.txt")?,
//!     &trusted,
//! );
//! for check in &report.checks {
//!     println!("{} {}: {}", if check.passed { "pass" } else { "FAIL" }, check.name, check.detail);
//! }
//! assert!(report.valid());
//! # Ok(())
//! # }
//! ```
//!
//! [`NoteVerifier`]: anchor_chaincode::checkpoint::NoteVerifier

use anchor_chaincode::merkle::Hash;
use serde::Serialize;

pub mod anchor;
pub mod proof;
pub mod statement;

/// One verification step and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, for example `"checkpoint signature"`.
    pub name: &'static str,
    /// Whether it holds.
    pub passed: bool,
    /// What was found, or why it does not hold.
    pub detail: String,
}

impl Check {
    /// A check that holds.
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, passed: true, detail: detail.into() }
    }

    /// A check that does not hold.
    pub fn fail(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, passed: false, detail: detail.into() }
    }

    /// A check whose outcome is `result`: its detail either way.
    pub fn of(name: &'static str, result: Result<String, String>) -> Check {
        match result {
            Ok(detail) => Check::pass(name, detail),
            Err(detail) => Check::fail(name, detail),
        }
    }
}

/// What a verifier found: every check it ran, in order, and what the file
/// proves when the checks that establish it passed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The checks, in the order they ran.
    pub checks: Vec<Check>,
    /// What was proved, when the verifier got far enough to say.
    pub proved: Option<proof::Proved>,
}

impl Report {
    /// True when every check passed.
    pub fn valid(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    /// The first check that failed, if any.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|check| !check.passed)
    }
}

/// Input a verifier cannot read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A proof hash is not 32 bytes of hex.
    #[error("proof hash {index} is not 64 hex digits: {source}")]
    Hash {
        /// Its position in the proof.
        index: usize,
        /// Why it does not decode.
        source: hex::FromHexError,
    },
    /// A signed note has no blank line between its body and signatures.
    #[error("not a signed note: no blank line")]
    NotANote,
    /// A signed note's body is not a checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] anchor_chaincode::checkpoint::NoteError),
    /// A file is not JSON of the expected shape.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A proof file's `kind` is none this crate reads.
    #[error("kind {kind:?} is not {:?} or {:?}", proof::INCLUSION_KIND, proof::CONSISTENCY_KIND)]
    UnknownKind {
        /// The file's `kind`, empty when it has none.
        kind: String,
    },
    /// A statement note does not read.
    #[error(transparent)]
    StatementNote(#[from] statement::NoteError),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Decodes a proof's hashes, each 64 hex digits.
pub fn decode_hashes(hashes: &[String]) -> Result<Vec<Hash>> {
    hashes
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(text, &mut hash)
                .map_err(|source| Error::Hash { index, source })?;
            Ok(hash)
        })
        .collect()
}
