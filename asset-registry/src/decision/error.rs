//! The errors of decision documents: input that cannot be read, a document
//! that breaks its rules, and every way verification can fail, each named so
//! that a citizen or an auditor reading the message knows what is wrong.

/// The result type of the decision module.
pub type Result<T, E = DecisionError> = std::result::Result<T, E>;

/// Why a decision document could not be signed, read, verified or rendered.
///
/// Messages carry hashes, keys and field names, never the document's
/// reasons or amounts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecisionError {
    /// The decision file is larger than any real decision file.
    #[error("the decision file is {bytes} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The size of the file.
        bytes: usize,
        /// The largest size read.
        limit: usize,
    },
    /// The decision file is not JSON of the expected shape.
    #[error("not a readable decision file: {message}")]
    BadJson {
        /// What the parser said.
        message: String,
    },
    /// The decision file does not carry the label of this format.
    #[error(
        "not a Cairn decision file: its format label is {found:?}, expected \"cairn-decision-v1\""
    )]
    WrongLabel {
        /// The label found, or `(none)` when the file has none.
        found: String,
    },
    /// A field of the decision document breaks the document's rules.
    #[error("decision document field {field}: {reason}")]
    InvalidDocument {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A hex field of the decision file (hash, key or signature) cannot be
    /// read.
    #[error("decision file field {field}: {reason}")]
    BadHex {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The document in the file does not hash to the hash the file states:
    /// it was altered after signing.
    #[error(
        "the decision document was altered: it hashes to {computed}, but the file states {stated}"
    )]
    HashMismatch {
        /// The hash the file states, hex.
        stated: String,
        /// The hash of the document as it is, hex.
        computed: String,
    },
    /// The signer key is not a valid Ed25519 public key.
    #[error("the signer public key {key} is not a valid Ed25519 public key: {reason}")]
    BadKey {
        /// The key, hex.
        key: String,
        /// What the Ed25519 library said.
        reason: String,
    },
    /// The signature does not verify over the document with the signer key.
    #[error(
        "bad signature: the signature does not verify for the document hashing to {document_hash} under signer key {signer}; the document was altered after signing or it was signed by another key"
    )]
    BadSignature {
        /// The hash of the document as it is, hex.
        document_hash: String,
        /// The signer key the file names, hex.
        signer: String,
    },
    /// The signature holds, but by a key other than the one expected (the
    /// deciding organisation's key on the ledger).
    #[error(
        "wrong signer: the decision is signed by key {signer}, not by the expected key {expected}"
    )]
    WrongSigner {
        /// The key that signed, hex.
        signer: String,
        /// The key expected, hex.
        expected: String,
    },
    /// The signature holds, but the document is not the one anchored on the
    /// ledger.
    #[error(
        "not the anchored decision: the document hashes to {computed}, but the ledger anchored {anchored}"
    )]
    NotAnchored {
        /// The hash anchored on the ledger, hex.
        anchored: String,
        /// The hash of the document, hex.
        computed: String,
    },
    /// A QR payload is not `cairn-decision:` followed by a document hash.
    #[error("not a Cairn decision QR code: {reason}")]
    BadQrPayload {
        /// What is wrong with it.
        reason: String,
    },
    /// The QR code of the PDF could not be made.
    #[error("cannot draw the QR code: {reason}")]
    Qr {
        /// What the QR encoder said.
        reason: String,
    },
}
