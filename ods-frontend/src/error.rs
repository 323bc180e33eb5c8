//! The one error type of the ODS front-end.
//!
//! Every variant carries the context a reader needs to act: which chunk
//! failed and why, which field of a sealed object is malformed, which store
//! path was refused. No variant ever carries plaintext or key material.

use std::fmt;

/// A port's or a source's own error, passed through unchanged.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the ODS front-end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Rng(getrandom::Error),
    /// A cipher could not be set up (it never happens with a 32-byte key).
    #[error("the {cipher} cipher could not be initialised")]
    CipherUnavailable {
        /// The name of the cipher implementation.
        cipher: &'static str,
    },
    /// Encrypting a chunk failed (only possible for chunks beyond the AES-GCM
    /// message size limit, which the pipeline never produces).
    #[error("sealing chunk {index} failed")]
    SealFailed {
        /// The chunk's index.
        index: u64,
    },
    /// A stored chunk did not decrypt.
    #[error("chunk {index} {reason}")]
    ChunkCorrupt {
        /// The chunk's index.
        index: u64,
        /// What was wrong with it.
        reason: CorruptReason,
    },
    /// A chunk decrypted, but its plaintext is not the one the header lists.
    #[error(
        "chunk {index} decrypted, but the SHA-256 of its plaintext is not the chunk hash the header lists"
    )]
    ChunkHashMismatch {
        /// The chunk's index.
        index: u64,
    },
    /// The header's chunk hashes do not give the expected content hash.
    #[error(
        "the header's chunk hashes give content hash {}, not the expected {}",
        hex::encode(.computed),
        hex::encode(.expected)
    )]
    RootMismatch {
        /// The content hash the caller trusts (from the ledger).
        expected: [u8; 32],
        /// The content hash of the chunk hashes that were supplied.
        computed: [u8; 32],
    },
    /// The sealed object ended before every chunk of the header was read.
    #[error("the sealed object ends after {found} chunks, but the header lists {expected}")]
    MissingChunks {
        /// The number of chunks the header lists.
        expected: u64,
        /// The number of chunks the object holds.
        found: u64,
    },
    /// The sealed object holds more chunks than the header lists.
    #[error("the sealed object holds chunk {index}, beyond the {expected} chunks the header lists")]
    ExtraChunk {
        /// The index of the first surplus chunk.
        index: u64,
        /// The number of chunks the header lists.
        expected: u64,
    },
    /// A chunk source yielded chunks out of order.
    #[error("chunk {found} arrived where chunk {expected} was due")]
    ChunkOutOfOrder {
        /// The index that was due.
        expected: u64,
        /// The index that arrived.
        found: u64,
    },
    /// The sealed object's bytes do not follow the format.
    #[error("malformed sealed object: {0}")]
    Format(#[from] FormatError),
    /// A pipeline or store setting is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Reading the plaintext input failed.
    #[error("reading the input failed")]
    Read(#[source] std::io::Error),
    /// Writing the plaintext output failed.
    #[error("writing the output failed")]
    Write(#[source] std::io::Error),
    /// A pipeline thread stopped without reporting a result.
    #[error("a pipeline thread stopped unexpectedly")]
    WorkerLost,
    /// The producer of a stream given to the store stopped before the end.
    #[error("the producer of the object stopped before the object was complete")]
    ProducerStopped,
    /// The consumer of sealed chunks (an upload) stopped before the end.
    #[error("the upload stopped before the object was complete")]
    ConsumerStopped,
    /// A share definition could not be named, read, checked or written.
    #[error("{reason}")]
    Share {
        /// What went wrong, naming the share or its file.
        reason: String,
        /// The underlying failure, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A store URL or option was not understood.
    #[error("store URL {url}: {reason}")]
    InvalidStoreUrl {
        /// The URL as given (store URLs carry no credentials; options do).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An object path is not valid.
    #[error("invalid object path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store refused to overwrite an existing object.
    #[error("an object already exists at {path}; published objects are never overwritten")]
    AlreadyExists {
        /// The object's path.
        path: String,
    },
    /// No object exists at the path.
    #[error("no object at {path}")]
    NotFound {
        /// The object's path.
        path: String,
    },
    /// An object read with a size limit is larger than the limit.
    #[error("the object at {path} has {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The object's path.
        path: String,
        /// The object's size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// Making a local object durable failed.
    #[error("fsync of {path} failed")]
    Sync {
        /// The file or directory that could not be synced.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The object store failed.
    #[error("object store error")]
    Store(#[source] object_store::Error),
    /// Published metadata is not the JSON of an asset header.
    #[error("metadata is not a Cairn asset header: {0}")]
    HeaderJson(#[source] serde_json::Error),
    /// A port (the ledger, the node) failed; its error says why, unchanged.
    #[error(transparent)]
    Port(BoxError),
    /// A share's source could not be started; its error says why, unchanged.
    #[error(transparent)]
    SourceOpen(BoxError),
    /// A share's source failed while it streamed.
    #[error("the source failed; nothing was published")]
    Source(#[source] BoxError),
    /// The task that reports on a share's source stopped without reporting.
    #[error("the source task failed")]
    SourceLost(#[source] tokio::task::JoinError),
    /// A step of a sync before the publish failed, so nothing was published.
    #[error("{step} failed; nothing was published")]
    NotPublished {
        /// The step that failed.
        step: SyncStep,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },
    /// A version's index could not be stored.
    #[error("storing the version index failed")]
    Index(#[source] Box<Error>),
    /// The access information sealed to the publisher did not open.
    #[error("cannot open the latest version's access information")]
    AccessInfo(#[source] access_control::wrap::WrapError),
    /// The data key in the sealed access information is not 32 bytes of hex.
    #[error("the latest version's data key is malformed")]
    MalformedDataKey(#[source] hex::FromHexError),
    /// A data key could not be wrapped to, or unwrapped by, an identity.
    #[error(transparent)]
    Wrap(#[from] access_control::wrap::WrapError),
    /// An address on an asset's authorised list is not an address.
    #[error(transparent)]
    Address(#[from] anchor_chaincode::Error),
    /// An identity on the authorised list has no usable encryption key.
    #[error("identity {address} has no valid encryption key")]
    NoEncryptionKey {
        /// The identity's address.
        address: String,
    },
    /// A small JSON object (an index, a grant) could not be encoded.
    #[error("encoding JSON failed")]
    Encode(#[source] serde_json::Error),
    /// No data key has been released to the caller for the version.
    #[error(
        "no data key has been released to you for {asset_id} version {version}; the provider releases keys when it runs `cairn sync`"
    )]
    NoGrant {
        /// The asset id.
        asset_id: String,
        /// The version.
        version: u64,
    },
    /// The released data key is not 32 bytes.
    #[error("the released data key has the wrong length")]
    GrantLength,
    /// The version is not on the ledger.
    #[error("version {version} is not on the ledger")]
    VersionNotOnLedger {
        /// The version.
        version: u64,
    },
    /// The ledger's content hash is not 32 bytes.
    #[error("the ledger's content hash is malformed")]
    MalformedContentHash,
    /// The node's data stream did not start with the chunk-hash list.
    #[error("the node did not start the stream with the chunk hashes")]
    NoChunkHashes,
    /// The chunk-hash list is not a whole number of hashes.
    #[error("the chunk-hash list is {len} bytes, not a multiple of 32")]
    ChunkHashListLength {
        /// The list's length in bytes.
        len: usize,
    },
    /// The chunk-hash list does not have one hash per chunk of the header.
    #[error("the node sent {sent} chunk hashes; the header lists {expected} chunks")]
    ChunkHashCount {
        /// The number of hashes sent.
        sent: u64,
        /// The number of chunks the header lists.
        expected: u64,
    },
    /// The data stream carried something other than data after the hashes.
    #[error("unexpected part in the data stream")]
    UnexpectedPart,
    /// A file could not be created.
    #[error("cannot create {}", .path.display())]
    CreateFile {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The verified output could not be moved into place.
    #[error("cannot move the output to {}", .path.display())]
    MoveOutput {
        /// Where it was to go.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A fetch failed, and its output was not written.
    #[error("{asset_id} version {version} was not written")]
    NotWritten {
        /// The asset id.
        asset_id: String,
        /// The version.
        version: u64,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// Published metadata is an asset header of another format.
    #[error("header format {found:?} is not {expected:?}")]
    HeaderFormat {
        /// The format the header names.
        found: String,
        /// The format this code reads.
        expected: &'static str,
    },
}

impl Error {
    /// Returns the index of the chunk this error names, if it names one.
    ///
    /// For [`Error::MissingChunks`] that is the first missing chunk, and for
    /// [`Error::ChunkOutOfOrder`] the chunk that was due.
    pub fn chunk_index(&self) -> Option<u64> {
        match self {
            Error::SealFailed { index }
            | Error::ChunkCorrupt { index, .. }
            | Error::ChunkHashMismatch { index }
            | Error::ExtraChunk { index, .. } => Some(*index),
            Error::ChunkOutOfOrder { expected, .. } => Some(*expected),
            Error::MissingChunks { found, .. } => Some(*found),
            Error::Format(format) => format.chunk_index(),
            Error::NotPublished { source, .. }
            | Error::NotWritten { source, .. }
            | Error::Index(source) => source.chunk_index(),
            _ => None,
        }
    }
}

impl From<object_store::Error> for Error {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::AlreadyExists { path, .. } => Error::AlreadyExists { path },
            object_store::Error::NotFound { path, .. } => Error::NotFound { path },
            other => Error::Store(other),
        }
    }
}

/// The step of a sync that failed before anything was published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncStep {
    /// Sealing the source's bytes and storing the sealed object.
    Seal,
    /// Storing the list of chunk hashes.
    StoreHashes,
}

impl fmt::Display for SyncStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncStep::Seal => "sealing or storing the object",
            SyncStep::StoreHashes => "storing the chunk hashes",
        })
    }
}

/// Why a stored chunk did not decrypt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptReason {
    /// The AES-GCM tag did not verify.
    Authentication,
    /// The stored chunk is shorter than an authentication tag.
    TooShort {
        /// The stored length in bytes.
        len: usize,
    },
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptReason::Authentication => f.write_str(
                "failed authentication: the stored ciphertext or tag was changed, the chunk was \
                 moved to another position, or the key is wrong",
            ),
            CorruptReason::TooShort { len } => write!(
                f,
                "is {len} bytes long, shorter than the {}-byte authentication tag",
                crate::aead::TAG_LEN
            ),
        }
    }
}

/// What is malformed in a sealed object's bytes (see [`crate::format`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The object does not start with the magic bytes.
    #[error("the object does not start with the magic bytes \"CAIRNODS\"")]
    BadMagic,
    /// The format version is not one this code reads.
    #[error("format version {version} is not supported (this code reads version 1)")]
    UnsupportedVersion {
        /// The version in the preamble.
        version: u16,
    },
    /// The preamble's chunk size is zero or too large.
    #[error("the preamble's chunk size {chunk_size} is outside 1..={max}")]
    BadChunkSize {
        /// The chunk size in the preamble.
        chunk_size: u32,
        /// The largest chunk size allowed.
        max: u32,
    },
    /// The preamble's chunk size is not the one the header lists.
    #[error("the preamble's chunk size {found} is not the header's chunk size {expected}")]
    ChunkSizeMismatch {
        /// The chunk size the caller expects.
        expected: u32,
        /// The chunk size in the preamble.
        found: u32,
    },
    /// The object ends inside the preamble.
    #[error("the object ends inside the preamble, after {len} bytes")]
    TruncatedPreamble {
        /// The number of bytes present.
        len: u64,
    },
    /// The object ends inside a chunk's length field.
    #[error("the object ends inside the length field of chunk {index} (byte offset {offset})")]
    TruncatedLength {
        /// The chunk's index.
        index: u64,
        /// The byte offset of the length field.
        offset: u64,
    },
    /// The object ends inside a chunk's ciphertext.
    #[error(
        "the object ends inside chunk {index}: its length field says {expected} bytes, only {found} follow (byte offset {offset})"
    )]
    TruncatedChunk {
        /// The chunk's index.
        index: u64,
        /// The byte offset of the chunk's ciphertext.
        offset: u64,
        /// The length the length field announces.
        expected: u32,
        /// The number of bytes present.
        found: u64,
    },
    /// A chunk's length field is outside the range the chunk size allows.
    #[error(
        "the length field of chunk {index} says {length} bytes, outside {min}..={max} (byte offset {offset})"
    )]
    BadChunkLength {
        /// The chunk's index.
        index: u64,
        /// The byte offset of the length field.
        offset: u64,
        /// The length in the field.
        length: u32,
        /// The smallest allowed length.
        min: u32,
        /// The largest allowed length.
        max: u32,
    },
    /// A chunk shorter than the chunk size is followed by more bytes.
    #[error(
        "chunk {index} is shorter than the chunk size, so it must be the last, but more bytes follow it (byte offset {offset})"
    )]
    ShortChunkNotLast {
        /// The short chunk's index.
        index: u64,
        /// The byte offset where the unexpected bytes start.
        offset: u64,
    },
    /// Reading the object failed.
    #[error("reading the sealed object failed")]
    Io(#[source] std::io::Error),
}

impl FormatError {
    /// Returns the index of the chunk this error names, if it names one.
    pub fn chunk_index(&self) -> Option<u64> {
        match self {
            FormatError::TruncatedLength { index, .. }
            | FormatError::TruncatedChunk { index, .. }
            | FormatError::BadChunkLength { index, .. }
            | FormatError::ShortChunkNotLast { index, .. } => Some(*index),
            _ => None,
        }
    }
}
