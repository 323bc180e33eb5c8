//! The error type of [`crate::case_docs`]: every variant that concerns a
//! document names it (its name and its case), and none carries plaintext or
//! key material.

use std::fmt;

use anchor_chaincode::Address;

use crate::error::BoxError;

/// The result type of [`crate::case_docs`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One document of one case, as errors name it: `"bank_card" of case c-…`.
///
/// A document name says what kind of document it is (`bank_card`,
/// `application_form`), never what it holds, so it may appear in errors and
/// logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentRef {
    /// The case id (`c-` and 32 hex digits).
    pub case_id: String,
    /// The document's name within the case.
    pub name: String,
}

impl fmt::Display for DocumentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document \"{}\" of case {}", self.name, self.case_id)
    }
}

/// Everything that can go wrong when sealing, opening or sharing a case document.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The case id is not `c-` followed by 32 lowercase hex digits.
    #[error("case id {case_id:?} is not \"c-\" followed by 32 lowercase hex digits")]
    InvalidCaseId {
        /// The case id as given.
        case_id: String,
    },
    /// The document name cannot be used as a name.
    #[error("document name {name:?} {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A document was to be sealed to nobody.
    #[error("{document} has no recipients; it would be sealed to nobody")]
    NoRecipients {
        /// The document.
        document: DocumentRef,
    },
    /// One address was given twice with different encryption keys.
    #[error("{document}: recipient {address} is listed twice with different encryption keys")]
    ConflictingRecipient {
        /// The document.
        document: DocumentRef,
        /// The address listed twice.
        address: Address,
    },
    /// A recipient's encryption key cannot be wrapped to.
    #[error("{document}: the data key cannot be wrapped to recipient {address}")]
    RecipientKey {
        /// The document.
        document: DocumentRef,
        /// The recipient.
        address: Address,
        /// Why.
        #[source]
        source: access_control::wrap::WrapError,
    },
    /// The document with this content is already sealed in this case.
    #[error(
        "{document} with content hash {} is already sealed; add recipients to it instead",
        hex::encode(.content_hash)
    )]
    AlreadySealed {
        /// The document.
        document: DocumentRef,
        /// Its content hash.
        content_hash: [u8; 32],
    },
    /// No sealed copy of the document has the expected content hash (the
    /// hash is wrong, or the document was never sealed).
    #[error(
        "{document} does not match its anchored hash: no sealed copy of it has hash {}",
        hex::encode(.content_hash)
    )]
    NotSealed {
        /// The document.
        document: DocumentRef,
        /// The content hash that was asked for.
        content_hash: [u8; 32],
    },
    /// The reader has no wrapped key for the document.
    #[error("{address} is not a recipient of {document}")]
    NotARecipient {
        /// The document.
        document: DocumentRef,
        /// The reader's address.
        address: Address,
    },
    /// The key wrapped to the reader's address does not open with the reader's key.
    #[error(
        "the data key of {document} wrapped to {address} does not open with this identity's encryption key"
    )]
    KeyDoesNotOpen {
        /// The document.
        document: DocumentRef,
        /// The reader's address.
        address: Address,
        /// Why.
        #[source]
        source: access_control::wrap::WrapError,
    },
    /// The stored document (its description, its chunks or their order) is not
    /// what the anchored hash says: it was changed, or the hash is another
    /// document's.
    #[error("{document} does not match its anchored hash")]
    DoesNotMatch {
        /// The document.
        document: DocumentRef,
        /// What exactly did not match (a chunk, a field, the root).
        #[source]
        source: BoxError,
    },
    /// Sealing or storing the document failed (nothing was anchored).
    #[error("sealing {document} failed")]
    Seal {
        /// The document.
        document: DocumentRef,
        /// Why.
        #[source]
        source: Box<crate::Error>,
    },
    /// Reading the document from the store, or writing its plaintext out, failed.
    #[error("reading {document} failed")]
    Read {
        /// The document.
        document: DocumentRef,
        /// Why.
        #[source]
        source: Box<crate::Error>,
    },
}

impl Error {
    /// Returns the document this error names, if it names one.
    pub fn document(&self) -> Option<&DocumentRef> {
        match self {
            Error::InvalidCaseId { .. } | Error::InvalidName { .. } => None,
            Error::NoRecipients { document }
            | Error::ConflictingRecipient { document, .. }
            | Error::RecipientKey { document, .. }
            | Error::AlreadySealed { document, .. }
            | Error::NotSealed { document, .. }
            | Error::NotARecipient { document, .. }
            | Error::KeyDoesNotOpen { document, .. }
            | Error::DoesNotMatch { document, .. }
            | Error::Seal { document, .. }
            | Error::Read { document, .. } => Some(document),
        }
    }
}

/// Sorts an error of the opening pipeline: anything that shows the stored
/// bytes are not the anchored document becomes [`Error::DoesNotMatch`], the
/// rest (the store failing, the output failing) [`Error::Read`].
pub(super) fn opening_failed(document: &DocumentRef, error: crate::Error) -> Error {
    use crate::Error as Ods;
    let mismatch = match &error {
        Ods::ChunkCorrupt { .. }
        | Ods::ChunkHashMismatch { .. }
        | Ods::RootMismatch { .. }
        | Ods::MissingChunks { .. }
        | Ods::ExtraChunk { .. }
        | Ods::ChunkOutOfOrder { .. } => true,
        Ods::Format(format) => !matches!(format, crate::FormatError::Io(_)),
        _ => false,
    };
    if mismatch {
        Error::DoesNotMatch { document: document.clone(), source: Box::new(error) }
    } else {
        Error::Read { document: document.clone(), source: Box::new(error) }
    }
}
