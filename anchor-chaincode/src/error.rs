//! The crate's error type: every way a call into the chaincode can fail.
//!
//! A rejected transaction is not among them: it is data, recorded in its
//! block with its [`ValidationCode`](crate::ValidationCode). The per-module
//! errors ([`LedgerError`], [`GenesisError`], [`ProofError`], [`VerifyError`],
//! [`NoteError`]) stay the precise answer of their own functions and convert
//! into [`Error`] with `?`.

use crate::checkpoint::NoteError;
use crate::genesis::GenesisError;
use crate::ledger::LedgerError;
use crate::merkle::{ProofError, VerifyError};

/// Errors of this crate.
///
/// The messages of the variants that carry a `reason` are complete sentences
/// that name the field or the byte range at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A log cannot start a ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A genesis configuration is invalid.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// A root or proof cannot be produced from a Merkle log.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// An inclusion or consistency proof does not verify.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A checkpoint, signed note, note key or signature is rejected.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A certificate statement or a status list does not parse or does not
    /// hold together.
    #[error("{reason}")]
    Certificate {
        /// What is wrong.
        reason: String,
    },
    /// Leaf data of the Merkle log of transactions does not parse.
    #[error("{reason}")]
    Leaf {
        /// What is wrong.
        reason: String,
    },
    /// A billing plan is missing, or one of its fields is out of range.
    #[error("{reason}")]
    Plan {
        /// What is wrong, naming the field.
        reason: String,
    },
    /// A transaction envelope does not decode.
    #[error("{reason}")]
    Envelope {
        /// What is wrong.
        reason: String,
    },
    /// The text form of a transaction id, a role, a data type or a payment
    /// mode does not parse.
    #[error("{reason}")]
    Parse {
        /// What is wrong, quoting the text.
        reason: String,
    },
    /// An authority rule reaches beyond the ceiling of its transaction type,
    /// or no rule admits an identity's organisation and role.
    #[error("{reason}")]
    Authority {
        /// What is wrong.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error's message, for callers that report errors as text.
impl From<Error> for String {
    fn from(error: Error) -> String {
        error.to_string()
    }
}
