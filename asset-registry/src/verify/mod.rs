//! Offline verifiers of Cairn's proofs and statements, and the JSON file
//! formats they read.
//!
//! Everything here is a pure function of its inputs: the file contents, the
//! consortium quorum the caller trusts to sign checkpoints ([`Quorum`]: k of
//! n members' note signatures or cosignatures), and, where a check
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
//! an error; [`Error`] is only for input that cannot be read at all. A
//! checkpoint check that passed names the members that signed it
//! ([`Check::signatures`]); one below quorum fails with the count needed.
//!
//! The quorum file holds verifier keys (note keys, type 0x01, and cosigner
//! keys, type 0x04), one per line, `#` comments, and an optional `quorum <k>`
//! line; without it k is 1, so a plain list of trusted keys reads as before.
//!
//! ```no_run
//! use anchor_chaincode::checkpoint::Quorum;
//! use asset_registry::verify::proof::check_proof_file;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let quorum = Quorum::parse(&std::fs::read_to_string("trusted-keys.txt")?)?;
//! let report = check_proof_file(
//!     &std::fs::read_to_string("proof.json")?,
//!     &std::fs::read_to_string("checkpoint.txt")?,
//!     &quorum,
//! );
//! for check in &report.checks {
//!     println!("{} {}: {}", if check.passed { "pass" } else { "FAIL" }, check.name, check.detail);
//! }
//! if let Some(signatures) = report.signatures() {
//!     println!("{signatures}"); // signed by 2 of 3 (quorum 2): dept-a, dept-b
//! }
//! assert!(report.valid());
//! # Ok(())
//! # }
//! ```
//!
//! [`Quorum`]: anchor_chaincode::checkpoint::Quorum

use std::fmt;

use anchor_chaincode::checkpoint::{self, Checkpoint, MemberSignature, Quorum};
use anchor_chaincode::merkle::Hash;
use serde::Serialize;

pub mod anchor;
pub mod proof;
#[cfg(test)]
mod quorum_tests;
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
    /// For a checkpoint signature check that passed: the members that
    /// signed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signatures: Option<Signatures>,
}

impl Check {
    /// A check that holds.
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, passed: true, detail: detail.into(), signatures: None }
    }

    /// A check that does not hold.
    pub fn fail(name: &'static str, detail: impl Into<String>) -> Check {
        Check { name, passed: false, detail: detail.into(), signatures: None }
    }

    /// The check, naming the members that signed its checkpoint.
    pub fn with_signatures(mut self, signatures: Signatures) -> Check {
        self.signatures = Some(signatures);
        self
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

    /// Who signed the checkpoint the report is against: the signatures of
    /// the first check that names them.
    pub fn signatures(&self) -> Option<&Signatures> {
        self.checks.iter().find_map(|check| check.signatures.as_ref())
    }
}

/// A consortium member whose signature or cosignature of a checkpoint
/// verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signer {
    /// The member's key name.
    pub member: String,
    /// Whether its note signature (type 0x01) verified.
    pub signed: bool,
    /// The latest timestamp (POSIX seconds) of its verified cosignatures
    /// (type 0x04), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cosigned_at: Option<u64>,
}

/// Who signed a checkpoint, against the quorum it was checked with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signatures {
    /// The quorum's threshold k.
    pub quorum: usize,
    /// The quorum's number of members n.
    pub members: usize,
    /// The members that signed, in the quorum's member order.
    pub signers: Vec<Signer>,
}

impl Signatures {
    /// The signatures of `signers` under `quorum`.
    pub fn new(quorum: &Quorum, signers: &[MemberSignature]) -> Signatures {
        Signatures {
            quorum: quorum.threshold(),
            members: quorum.members().len(),
            signers: signers
                .iter()
                .map(|s| Signer {
                    member: s.member.clone(),
                    signed: s.signed,
                    cosigned_at: s.cosigned_at,
                })
                .collect(),
        }
    }
}

/// `signed by 2 of 3 (quorum 2): dept-a, dept-b (cosigned 2026-12-03T10:00:00Z)`.
impl fmt::Display for Signatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .signers
            .iter()
            .map(|s| match s.cosigned_at {
                Some(at) => format!(
                    "{} (cosigned {})",
                    s.member,
                    access_control::credential::verify::utc(at.saturating_mul(1000))
                ),
                None => s.member.clone(),
            })
            .collect();
        write!(
            f,
            "signed by {} of {} (quorum {}): {}",
            self.signers.len(),
            self.members,
            self.quorum,
            names.join(", ")
        )
    }
}

/// Opens a signed checkpoint with `quorum`: the checkpoint and who signed
/// it, or the library's reason (below quorum, a bad signature, a bad body).
pub fn open_checkpoint(
    note: &str,
    quorum: &Quorum,
) -> std::result::Result<(Checkpoint, Signatures), checkpoint::NoteError> {
    let opened = checkpoint::open_checkpoint_with_quorum(note, quorum)?;
    Ok((opened.checkpoint, Signatures::new(quorum, &opened.signers)))
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
