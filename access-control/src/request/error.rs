//! Why a signed request is refused, and which gRPC status answers each refusal.

use anchor_chaincode::Address;

use super::{AUTH_METADATA_KEY, ENVELOPE_LEN, ENVELOPE_VERSION};

/// Which gRPC status a server answers an [`AuthError`] with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthErrorKind {
    /// `UNAUTHENTICATED`: the caller is not proven to be a registered identity
    /// sending this request now.
    Unauthenticated,
    /// `PERMISSION_DENIED`: the caller is known but may not call.
    PermissionDenied,
    /// `INVALID_ARGUMENT`: the request or its envelope is malformed.
    InvalidArgument,
    /// `RESOURCE_EXHAUSTED`: the replay cache is full; the caller may retry later.
    ResourceExhausted,
}

/// Why a signed request was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// There is no envelope.
    #[error("request is not signed: metadata {AUTH_METADATA_KEY} is missing")]
    MissingHeader,
    /// The body is too large to hash.
    #[error("request body is {size} bytes, larger than the limit of {max} bytes")]
    Oversized {
        /// The body's size.
        size: usize,
        /// [`MAX_REQUEST_BYTES`].
        max: usize,
    },
    /// The envelope is empty.
    #[error("malformed {AUTH_METADATA_KEY} envelope: it is empty; expected {ENVELOPE_LEN} bytes")]
    EmptyEnvelope,
    /// The envelope is of an older version that is no longer accepted.
    #[error(
        "outdated {AUTH_METADATA_KEY} envelope: version {version} does not name the chain and \
         the node it is for and is no longer accepted; upgrade the client to sign version \
         {ENVELOPE_VERSION} envelopes"
    )]
    OutdatedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The envelope's version is not [`ENVELOPE_VERSION`].
    #[error(
        "malformed {AUTH_METADATA_KEY} envelope: version {version} is not supported; \
         expected version {ENVELOPE_VERSION}"
    )]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The envelope has the wrong length.
    #[error(
        "malformed {AUTH_METADATA_KEY} envelope: it is {length} bytes; \
         a version {ENVELOPE_VERSION} envelope is exactly {ENVELOPE_LEN} bytes"
    )]
    WrongLength {
        /// The envelope's length.
        length: usize,
    },
    /// The envelope was signed for another chain.
    #[error(
        "request was signed for another chain: this node serves chain {chain_id:?}; \
         sign it for this chain (see `cairn node info`)"
    )]
    WrongChain {
        /// The chain id this node serves.
        chain_id: String,
    },
    /// The envelope was signed for another node.
    #[error(
        "request was signed for node {signed_for}, not for this node {this_node}; \
         a request is accepted only by the node it was signed for"
    )]
    WrongNode {
        /// The node named in the envelope.
        signed_for: Address,
        /// The node that received it.
        this_node: Address,
    },
    /// The body's digest is not the signed one.
    #[error("request body does not match the signed digest: the body was changed after signing")]
    BodyMismatch,
    /// The timestamp is older than the window allows.
    #[error(
        "request expired: it was signed {age_ms} ms ago, {} ms more than the window of \
         {window_ms} ms allows",
        age_ms.saturating_sub(*window_ms)
    )]
    Expired {
        /// How old the request is, in milliseconds.
        age_ms: u64,
        /// The window, in milliseconds.
        window_ms: u64,
    },
    /// The timestamp is further in the future than the window allows.
    #[error(
        "request is from the future: its timestamp is {ahead_ms} ms ahead of the server's clock, \
         {} ms more than the window of {window_ms} ms allows",
        ahead_ms.saturating_sub(*window_ms)
    )]
    FromFuture {
        /// How far ahead the timestamp is, in milliseconds.
        ahead_ms: u64,
        /// The window, in milliseconds.
        window_ms: u64,
    },
    /// The envelope's public key is not an Ed25519 point.
    #[error(
        "bad signature: the envelope's public key {} is not a valid Ed25519 key",
        hex::encode(public_key)
    )]
    InvalidPublicKey {
        /// The public key.
        public_key: [u8; 32],
    },
    /// The signature does not verify.
    #[error(
        "bad signature: the signature does not verify with the public key of {address} over \
         method {method}, the body digest, the timestamp, the nonce, the chain and the node"
    )]
    BadSignature {
        /// The address of the envelope's public key.
        address: Address,
        /// The method the server checked against.
        method: String,
    },
    /// The key's address is not a registered identity.
    #[error("unknown identity {address}: no identity with this address is registered")]
    UnknownIdentity {
        /// The address.
        address: Address,
    },
    /// The identity has been revoked.
    #[error("identity {address} is revoked: {reason}")]
    Revoked {
        /// The address.
        address: Address,
        /// Why, as recorded on the ledger.
        reason: String,
    },
    /// The nonce was already used by this key within the window.
    #[error(
        "replayed request: nonce {nonce} was already used by {address} within the window of \
         {window_ms} ms"
    )]
    Replayed {
        /// The address.
        address: Address,
        /// The nonce, as hex.
        nonce: String,
        /// The window, in milliseconds.
        window_ms: u64,
    },
    /// The identity has as many requests in the window as one identity may.
    #[error(
        "too many requests from {address}: {limit} within the window of {window_ms} ms is the \
         most one identity may send; try again later"
    )]
    IdentityOverLimit {
        /// The address.
        address: Address,
        /// [`ReplayLimits::per_identity`].
        limit: usize,
        /// The window, in milliseconds.
        window_ms: u64,
    },
    /// The replay cache is full.
    #[error("the replay cache is full ({capacity} requests within the window); try again later")]
    ReplayCacheFull {
        /// The cache's capacity.
        capacity: usize,
    },
}

impl AuthError {
    /// The gRPC status a server answers with.
    pub fn kind(&self) -> AuthErrorKind {
        match self {
            AuthError::Oversized { .. }
            | AuthError::EmptyEnvelope
            | AuthError::OutdatedVersion { .. }
            | AuthError::UnsupportedVersion { .. }
            | AuthError::WrongLength { .. } => AuthErrorKind::InvalidArgument,
            AuthError::MissingHeader
            | AuthError::WrongChain { .. }
            | AuthError::WrongNode { .. }
            | AuthError::BodyMismatch
            | AuthError::Expired { .. }
            | AuthError::FromFuture { .. }
            | AuthError::InvalidPublicKey { .. }
            | AuthError::BadSignature { .. }
            | AuthError::UnknownIdentity { .. }
            | AuthError::Replayed { .. } => AuthErrorKind::Unauthenticated,
            AuthError::Revoked { .. } => AuthErrorKind::PermissionDenied,
            AuthError::IdentityOverLimit { .. } | AuthError::ReplayCacheFull { .. } => {
                AuthErrorKind::ResourceExhausted
            }
        }
    }

    /// Whether the refused request is proven to come from a registered
    /// identity, now, for this node: only then is it evidence worth a
    /// durable access event. Anyone can produce the other refusals in any
    /// number (garbage, unknown keys, replays of a captured envelope, floods),
    /// so a server counts and samples them instead.
    pub fn authenticated(&self) -> bool {
        matches!(self, AuthError::Revoked { .. })
    }
}
