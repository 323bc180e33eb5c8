//! Signed request envelopes with replay protection.
//!
//! Every gRPC call that reads protected data or costs money carries, in the
//! binary metadata key [`AUTH_METADATA_KEY`] (`x-cairn-auth-bin`), an
//! envelope signed with the caller's Ed25519 key over the method, a digest of
//! the request body, a timestamp, a nonce, the chain id and the address of
//! the node the request is sent to. The server passes the header bytes, the
//! gRPC method path (for example `/cairn.v1.Access/RequestData`), the encoded
//! request message, its own [`Destination`] and its clock to
//! [`RequestVerifier::verify`]; this module reads no clock and does no I/O.
//!
//! A client learns the chain id and the node's address from the public
//! `GetNodeInfo` call (once per connection) before it signs.
//!
//! # Envelope layout
//!
//! The envelope is exactly [`ENVELOPE_LEN`] (205) bytes; integers are big-endian:
//!
//! | offset | length | field |
//! | --- | --- | --- |
//! | 0 | 1 | version, [`ENVELOPE_VERSION`] (2) |
//! | 1 | 32 | the caller's Ed25519 public key |
//! | 33 | 8 | `timestamp_ms`, u64: milliseconds since the Unix epoch |
//! | 41 | 16 | nonce: random bytes, never reused by the key |
//! | 57 | 32 | SHA-256 of the request body (the encoded protobuf message) |
//! | 89 | 32 | SHA-256 of the chain id (UTF-8) the request is for |
//! | 121 | 20 | the address of the node the request is sent to |
//! | 141 | 64 | Ed25519 signature |
//!
//! The signature is over
//!
//! ```text
//! "cairn-request-v2\n" || u32 BE length of method || method || body SHA-256
//!     || timestamp_ms u64 BE || nonce || chain id SHA-256 || node address
//! ```
//!
//! so an envelope is bound to one method, one body, one chain and one node:
//! a node that receives a request cannot replay it to another node, and a
//! request for a test chain is refused by a production node. Signatures are
//! checked with `ed25519-zebra` (ZIP-215 rules), like every other signature
//! in Cairn. Version 1 envelopes (153 bytes, without chain and node) are
//! refused with [`AuthError::OutdatedVersion`].
//!
//! [`verify_envelope`] checks an envelope on its own, without a body, a clock
//! or a replay cache: an auditor or `cairn billing check` uses it to confirm
//! that the caller named in an access event signed a request for that method
//! to that node.
//!
//! # Checks
//!
//! [`RequestVerifier::verify`] checks, in this order, and the first failure
//! decides (the gRPC status is [`AuthError::kind`]):
//!
//! 1. the header is present (unauthenticated);
//! 2. the body is at most [`MAX_REQUEST_BYTES`] (invalid argument);
//! 3. the envelope has the right version and length (invalid argument);
//! 4. the envelope is for this chain, then for this node (unauthenticated,
//!    [`AuthError::WrongChain`], [`AuthError::WrongNode`]);
//! 5. the body's SHA-256 equals the signed digest (unauthenticated);
//! 6. the timestamp is within the window of the server's clock, either side,
//!    edges included (unauthenticated);
//! 7. the signature verifies with the envelope's public key over this method
//!    (unauthenticated);
//! 8. the key's address is a registered identity (unknown: unauthenticated)
//!    that is not revoked (permission denied);
//! 9. the nonce was not already used by this key within the window
//!    (unauthenticated), and the replay cache has room for it (resource
//!    exhausted).
//!
//! The nonce is recorded only after every other check passed, so a rejected
//! request cannot use up a nonce. [`AuthError::authenticated`] tells the
//! refusals of a proven, registered caller (durable evidence) from those of
//! anyone (counted and sampled by the server).
//!
//! # Replay cache
//!
//! The verifier remembers `(public key, nonce)` of every accepted request
//! until its timestamp falls out of the window; after that the freshness
//! check alone rejects a replay. The cache is bounded and fair: it holds at
//! most [`ReplayLimits::total`] entries, and at most
//! [`ReplayLimits::per_identity`] of one key, so one identity sending as fast
//! as it can is refused with [`AuthError::IdentityOverLimit`] while everyone
//! else keeps being served; only when the whole cache is full are requests
//! refused with [`AuthError::ReplayCacheFull`] until entries expire. The
//! cache measures expiry against the latest clock reading it has seen, so a
//! server clock that steps back cannot reopen the window for requests whose
//! nonces were already forgotten; such requests are refused as expired.
//!
//! The cache lives in memory. A server that restarts refills it with
//! [`RequestVerifier::restore`] from the envelopes of the access events it
//! logged durably before answering, so a restart does not reopen the window.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anchor_chaincode::{Address, Role};
use ed25519_zebra::{Signature, SigningKey, VerificationKey};
use sha2::{Digest, Sha256};

/// The gRPC metadata key (binary) that carries the envelope.
pub const AUTH_METADATA_KEY: &str = "x-cairn-auth-bin";

/// The largest request body the verifier hashes, in bytes.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The envelope version this module reads and writes.
pub const ENVELOPE_VERSION: u8 = 2;

/// The length of a version 2 envelope in bytes.
pub const ENVELOPE_LEN: usize = 1 + 32 + 8 + 16 + 32 + 32 + 20 + 64;

/// How many nonces a [`RequestVerifier::new`] remembers at most.
pub const DEFAULT_MAX_NONCES: usize = 1_000_000;

/// How many nonces of one key a [`RequestVerifier::new`] remembers at most.
pub const DEFAULT_MAX_NONCES_PER_IDENTITY: usize = 100_000;

/// Domain-separation label of the signed message.
const SIGNING_LABEL: &[u8] = b"cairn-request-v2\n";

/// Where a request is sent: the chain and the node that serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination<'a> {
    /// The chain id of the ledger's genesis.
    pub chain_id: &'a str,
    /// The address of the receiving node's key.
    pub node: Address,
}

impl Destination<'_> {
    /// SHA-256 of the chain id, as the envelope carries it.
    pub fn chain_sha256(&self) -> [u8; 32] {
        chain_sha256(self.chain_id)
    }
}

/// SHA-256 of a chain id (UTF-8).
pub fn chain_sha256(chain_id: &str) -> [u8; 32] {
    Sha256::digest(chain_id.as_bytes()).into()
}

/// A decoded request envelope.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignedRequest {
    /// The caller's Ed25519 public key.
    pub public_key: [u8; 32],
    /// When the caller signed, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Random bytes, never reused by the same key.
    pub nonce: [u8; 16],
    /// SHA-256 of the request body.
    pub body_sha256: [u8; 32],
    /// SHA-256 of the chain id the request is for.
    pub chain_sha256: [u8; 32],
    /// The address of the node the request is for.
    pub node: Address,
    /// Ed25519 signature over the signed message (see the module docs).
    pub signature: [u8; 64],
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("address", &self.address())
            .field("timestamp_ms", &self.timestamp_ms)
            .field("nonce", &hex::encode(self.nonce))
            .field("body_sha256", &hex::encode(self.body_sha256))
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// The bytes a request signature covers.
fn signed_message(method: &str, request: &SignedRequest) -> Vec<u8> {
    // A method path longer than 4 GiB cannot reach this code through gRPC;
    // saturating keeps the function total.
    let method_len = u32::try_from(method.len()).unwrap_or(u32::MAX);
    let mut message =
        Vec::with_capacity(SIGNING_LABEL.len() + 4 + method.len() + 32 + 8 + 16 + 32 + 20);
    message.extend_from_slice(SIGNING_LABEL);
    message.extend_from_slice(&method_len.to_be_bytes());
    message.extend_from_slice(method.as_bytes());
    message.extend_from_slice(&request.body_sha256);
    message.extend_from_slice(&request.timestamp_ms.to_be_bytes());
    message.extend_from_slice(&request.nonce);
    message.extend_from_slice(&request.chain_sha256);
    message.extend_from_slice(&request.node.0);
    message
}

impl SignedRequest {
    /// Signs a request for `method` with `body` at `timestamp_ms`, to be sent
    /// to `destination`. The nonce must be fresh random bytes (for example
    /// from [`crate::keys::random_bytes`]).
    pub fn sign(
        key: &SigningKey,
        destination: &Destination<'_>,
        method: &str,
        body: &[u8],
        timestamp_ms: u64,
        nonce: [u8; 16],
    ) -> SignedRequest {
        let mut request = SignedRequest {
            public_key: <[u8; 32]>::from(key.verification_key()),
            timestamp_ms,
            nonce,
            body_sha256: Sha256::digest(body).into(),
            chain_sha256: destination.chain_sha256(),
            node: destination.node,
            signature: [0; 64],
        };
        request.signature = key.sign(&signed_message(method, &request)).to_bytes();
        request
    }

    /// The envelope bytes (see the module docs for the layout).
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(ENVELOPE_LEN);
        bytes.push(ENVELOPE_VERSION);
        bytes.extend_from_slice(&self.public_key);
        bytes.extend_from_slice(&self.timestamp_ms.to_be_bytes());
        bytes.extend_from_slice(&self.nonce);
        bytes.extend_from_slice(&self.body_sha256);
        bytes.extend_from_slice(&self.chain_sha256);
        bytes.extend_from_slice(&self.node.0);
        bytes.extend_from_slice(&self.signature);
        bytes
    }

    /// Reads envelope bytes; checks the version and the length only.
    pub fn decode(bytes: &[u8]) -> Result<SignedRequest, AuthError> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(AuthError::EmptyEnvelope);
        };
        if version == 1 {
            return Err(AuthError::OutdatedVersion { version });
        }
        if version != ENVELOPE_VERSION {
            return Err(AuthError::UnsupportedVersion { version });
        }
        let wrong_length = AuthError::WrongLength { length: bytes.len() };
        let (public_key, rest) = rest.split_first_chunk::<32>().ok_or(wrong_length.clone())?;
        let (timestamp, rest) = rest.split_first_chunk::<8>().ok_or(wrong_length.clone())?;
        let (nonce, rest) = rest.split_first_chunk::<16>().ok_or(wrong_length.clone())?;
        let (body_sha256, rest) = rest.split_first_chunk::<32>().ok_or(wrong_length.clone())?;
        let (chain_sha256, rest) = rest.split_first_chunk::<32>().ok_or(wrong_length.clone())?;
        let (node, rest) = rest.split_first_chunk::<20>().ok_or(wrong_length.clone())?;
        let (signature, rest) = rest.split_first_chunk::<64>().ok_or(wrong_length.clone())?;
        if !rest.is_empty() {
            return Err(wrong_length);
        }
        Ok(SignedRequest {
            public_key: *public_key,
            timestamp_ms: u64::from_be_bytes(*timestamp),
            nonce: *nonce,
            body_sha256: *body_sha256,
            chain_sha256: *chain_sha256,
            node: Address(*node),
            signature: *signature,
        })
    }

    /// The address of the envelope's public key.
    pub fn address(&self) -> Address {
        Address::of_public_key(&self.public_key)
    }

    /// Refuses an envelope made for another chain or node.
    fn check_destination(&self, destination: &Destination<'_>) -> Result<(), AuthError> {
        if self.chain_sha256 != destination.chain_sha256() {
            return Err(AuthError::WrongChain { chain_id: destination.chain_id.to_owned() });
        }
        if self.node != destination.node {
            return Err(AuthError::WrongNode {
                signed_for: self.node,
                this_node: destination.node,
            });
        }
        Ok(())
    }

    /// Checks the signature over `method` and the envelope's fields.
    fn check_signature(&self, method: &str) -> Result<(), AuthError> {
        let key = VerificationKey::try_from(self.public_key)
            .map_err(|_| AuthError::InvalidPublicKey { public_key: self.public_key })?;
        key.verify(&Signature::from_bytes(&self.signature), &signed_message(method, self)).map_err(
            |_| AuthError::BadSignature { address: self.address(), method: method.to_owned() },
        )
    }
}

/// Checks an envelope on its own: its version and length, that it was made
/// for `destination`, and that its signature verifies over `method`, the body
/// digest it carries, its timestamp and its nonce. Reads no clock, keeps no
/// replay cache and does not see the body: it proves that the envelope's key
/// signed a request for `method` to that node of that chain, as an auditor
/// checking an access event needs.
pub fn verify_envelope(
    envelope: &[u8],
    method: &str,
    destination: &Destination<'_>,
) -> Result<SignedRequest, AuthError> {
    let request = SignedRequest::decode(envelope)?;
    request.check_destination(destination)?;
    request.check_signature(method)?;
    Ok(request)
}

/// What the verifier needs to know about the caller from the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerStatus {
    /// A registered identity.
    Registered {
        /// Its organisation.
        organisation: String,
        /// Its role.
        role: Role,
    },
    /// A registered identity that has been revoked.
    Revoked {
        /// Why, as recorded on the ledger.
        reason: String,
    },
    /// No identity with this address is registered.
    Unknown,
}

/// A caller whose request passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCaller {
    /// The caller's address.
    pub address: Address,
    /// The caller's organisation, from the ledger.
    pub organisation: String,
    /// The caller's role, from the ledger.
    pub role: Role,
    /// The request's nonce.
    pub nonce: [u8; 16],
    /// When the caller signed, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The envelope as received, kept as the caller's evidence in the
    /// access event of the request.
    pub envelope: Vec<u8>,
}

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

/// The bounds of the replay cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayLimits {
    /// Nonces remembered in all.
    pub total: usize,
    /// Nonces remembered of one key.
    pub per_identity: usize,
}

impl Default for ReplayLimits {
    fn default() -> ReplayLimits {
        ReplayLimits { total: DEFAULT_MAX_NONCES, per_identity: DEFAULT_MAX_NONCES_PER_IDENTITY }
    }
}

/// The nonces of accepted requests still inside the window.
#[derive(Default)]
struct ReplayCache {
    /// `(public key, nonce)` to the request's timestamp.
    seen: BTreeMap<([u8; 32], [u8; 16]), u64>,
    /// The same entries ordered by timestamp, for eviction.
    by_time: BTreeSet<(u64, [u8; 32], [u8; 16])>,
    /// How many entries each key has.
    per_key: BTreeMap<[u8; 32], usize>,
    /// The latest clock reading seen.
    latest_now_ms: u64,
}

impl ReplayCache {
    /// Forgets every entry with a timestamp before `horizon_ms`.
    fn evict_before(&mut self, horizon_ms: u64) {
        while let Some(&(timestamp, key, nonce)) = self.by_time.first()
            && timestamp < horizon_ms
        {
            self.by_time.pop_first();
            self.seen.remove(&(key, nonce));
            if let Some(count) = self.per_key.get_mut(&key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_key.remove(&key);
                }
            }
        }
    }

    /// Records an entry known to be absent.
    fn insert(&mut self, public_key: [u8; 32], nonce: [u8; 16], timestamp_ms: u64) {
        self.seen.insert((public_key, nonce), timestamp_ms);
        self.by_time.insert((timestamp_ms, public_key, nonce));
        *self.per_key.entry(public_key).or_default() += 1;
    }
}

/// Checks signed request envelopes and remembers nonces to refuse replays.
pub struct RequestVerifier {
    window_ms: u64,
    limits: ReplayLimits,
    cache: Mutex<ReplayCache>,
}

impl fmt::Debug for RequestVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestVerifier")
            .field("window_ms", &self.window_ms)
            .field("cached_nonces", &self.cached_nonces())
            .finish()
    }
}

impl RequestVerifier {
    /// A verifier accepting timestamps up to `window` either side of the
    /// server's clock, with the default [`ReplayLimits`].
    pub fn new(window: Duration) -> RequestVerifier {
        RequestVerifier::with_limits(window, ReplayLimits::default())
    }

    /// A verifier whose replay cache has these bounds.
    pub fn with_limits(window: Duration, limits: ReplayLimits) -> RequestVerifier {
        RequestVerifier {
            window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
            limits,
            cache: Mutex::new(ReplayCache::default()),
        }
    }

    /// The window either side of the server's clock, in milliseconds.
    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }

    /// How many nonces the replay cache holds now.
    pub fn cached_nonces(&self) -> usize {
        self.lock().seen.len()
    }

    /// A panic elsewhere while the lock was held cannot leave the cache
    /// half-updated in a way that matters (at worst an entry is in one index
    /// only), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, ReplayCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers the nonce of a request accepted before a restart (read from
    /// a durable log), so that replaying it is refused. Requests already out
    /// of the window at `now_ms` are ignored; the bounds do not apply (these
    /// requests were accepted within them). Answers whether it was kept.
    pub fn restore(&self, request: &SignedRequest, now_ms: u64) -> bool {
        let mut cache = self.lock();
        cache.latest_now_ms = cache.latest_now_ms.max(now_ms);
        if request.timestamp_ms < cache.latest_now_ms.saturating_sub(self.window_ms)
            || cache.seen.contains_key(&(request.public_key, request.nonce))
        {
            return false;
        }
        cache.insert(request.public_key, request.nonce, request.timestamp_ms);
        true
    }

    /// Checks a request; see the module docs for the order of the checks.
    /// `header` is the value of [`AUTH_METADATA_KEY`], `method` the gRPC
    /// method path, `body` the encoded request message, `destination` this
    /// node and its chain, and `now_ms` the server's clock. `caller` looks
    /// the signer's address up on the ledger; it is called only once the
    /// signature has verified.
    pub fn verify(
        &self,
        header: Option<&[u8]>,
        method: &str,
        body: &[u8],
        destination: &Destination<'_>,
        now_ms: u64,
        caller: impl FnOnce(&Address) -> CallerStatus,
    ) -> Result<VerifiedCaller, AuthError> {
        let header = header.ok_or(AuthError::MissingHeader)?;
        if body.len() > MAX_REQUEST_BYTES {
            return Err(AuthError::Oversized { size: body.len(), max: MAX_REQUEST_BYTES });
        }
        let request = SignedRequest::decode(header)?;
        request.check_destination(destination)?;
        let body_sha256: [u8; 32] = Sha256::digest(body).into();
        if body_sha256 != request.body_sha256 {
            return Err(AuthError::BodyMismatch);
        }
        self.check_time(request.timestamp_ms, now_ms)?;
        request.check_signature(method)?;

        let address = request.address();
        let (organisation, role) = match caller(&address) {
            CallerStatus::Registered { organisation, role } => (organisation, role),
            CallerStatus::Revoked { reason } => {
                return Err(AuthError::Revoked { address, reason });
            }
            CallerStatus::Unknown => return Err(AuthError::UnknownIdentity { address }),
        };

        self.remember(&request, now_ms)?;
        Ok(VerifiedCaller {
            address,
            organisation,
            role,
            nonce: request.nonce,
            timestamp_ms: request.timestamp_ms,
            envelope: header.to_vec(),
        })
    }

    /// Refuses timestamps outside `[now - window, now + window]`.
    fn check_time(&self, timestamp_ms: u64, now_ms: u64) -> Result<(), AuthError> {
        let window_ms = self.window_ms;
        if timestamp_ms < now_ms.saturating_sub(window_ms) {
            return Err(AuthError::Expired { age_ms: now_ms - timestamp_ms, window_ms });
        }
        if timestamp_ms > now_ms.saturating_add(window_ms) {
            return Err(AuthError::FromFuture { ahead_ms: timestamp_ms - now_ms, window_ms });
        }
        Ok(())
    }

    /// Records the request's nonce, refusing a replay; the last check.
    fn remember(&self, request: &SignedRequest, now_ms: u64) -> Result<(), AuthError> {
        let window_ms = self.window_ms;
        let mut cache = self.lock();
        cache.latest_now_ms = cache.latest_now_ms.max(now_ms);
        let latest = cache.latest_now_ms;
        cache.evict_before(latest.saturating_sub(window_ms));
        // The server's clock stepped back: nonces of this age may already be
        // forgotten, so the request cannot be told apart from a replay.
        if request.timestamp_ms < latest.saturating_sub(window_ms) {
            return Err(AuthError::Expired { age_ms: latest - request.timestamp_ms, window_ms });
        }
        if cache.seen.contains_key(&(request.public_key, request.nonce)) {
            return Err(AuthError::Replayed {
                address: request.address(),
                nonce: hex::encode(request.nonce),
                window_ms,
            });
        }
        let of_key = cache.per_key.get(&request.public_key).copied().unwrap_or(0);
        if of_key >= self.limits.per_identity {
            return Err(AuthError::IdentityOverLimit {
                address: request.address(),
                limit: self.limits.per_identity,
                window_ms,
            });
        }
        if cache.seen.len() >= self.limits.total {
            return Err(AuthError::ReplayCacheFull { capacity: self.limits.total });
        }
        cache.insert(request.public_key, request.nonce, request.timestamp_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use proptest::prelude::*;

    use super::*;

    const METHOD: &str = "/cairn.v1.Access/RequestData";
    const BODY: &[u8] = b"\x0a\x0ehealth/clinics";
    const NOW: u64 = 1_700_000_000_000;
    const WINDOW: Duration = Duration::from_secs(300);
    const WINDOW_MS: u64 = 300_000;
    const DEST: Destination<'static> =
        Destination { chain_id: "cairn-test", node: Address([0x4e; 20]) };

    fn key(byte: u8) -> SigningKey {
        SigningKey::from([byte; 32])
    }

    fn address_of(byte: u8) -> Address {
        Address::of_public_key(&<[u8; 32]>::from(key(byte).verification_key()))
    }

    /// Keys 1 and 2 are registered, key 3 is revoked, any other is unknown.
    fn ledger(address: &Address) -> CallerStatus {
        if *address == address_of(1) {
            CallerStatus::Registered { organisation: "dept-health".into(), role: Role::Consumer }
        } else if *address == address_of(2) {
            CallerStatus::Registered { organisation: "dept-civil".into(), role: Role::Provider }
        } else if *address == address_of(3) {
            CallerStatus::Revoked { reason: "key reported lost on 2024-05-01".into() }
        } else {
            CallerStatus::Unknown
        }
    }

    fn envelope(signer: u8, method: &str, body: &[u8], timestamp_ms: u64, nonce: u8) -> Vec<u8> {
        SignedRequest::sign(&key(signer), &DEST, method, body, timestamp_ms, [nonce; 16]).encode()
    }

    /// An envelope that claims key `claimed` but is signed by key `signer`.
    fn resigned(claimed: u8, signer: u8) -> Vec<u8> {
        let mut request = SignedRequest::sign(&key(signer), &DEST, METHOD, BODY, NOW, [9; 16]);
        request.public_key = <[u8; 32]>::from(key(claimed).verification_key());
        request.encode()
    }

    /// A public key that does not decode to a curve point.
    fn invalid_public_key() -> [u8; 32] {
        (0..=255u8)
            .map(|byte| [byte; 32])
            .find(|bytes| VerificationKey::try_from(*bytes).is_err())
            .unwrap_or([0xff; 32])
    }

    /// One line of the table: a request and what the verifier must say.
    struct Case<'a> {
        name: &'a str,
        header: Option<Vec<u8>>,
        method: &'a str,
        body: &'a [u8],
        expected: Result<(), (AuthErrorKind, String)>,
    }

    /// A case for [`METHOD`] and [`BODY`].
    fn case<'a>(
        name: &'a str,
        header: Option<Vec<u8>>,
        expected: Result<(), (AuthErrorKind, String)>,
    ) -> Case<'a> {
        Case { name, header, method: METHOD, body: BODY, expected }
    }

    impl<'a> Case<'a> {
        fn method(self, method: &'a str) -> Case<'a> {
            Case { method, ..self }
        }

        fn body(self, body: &'a [u8]) -> Case<'a> {
            Case { body, ..self }
        }
    }

    #[test]
    fn each_check_refuses_with_its_kind_and_message() {
        let big_body = vec![7u8; MAX_REQUEST_BYTES + 1];
        let max_body = vec![7u8; MAX_REQUEST_BYTES];
        let valid = envelope(1, METHOD, BODY, NOW, 1);
        let mut truncated = valid.clone();
        truncated.pop();
        let mut too_long = valid.clone();
        too_long.push(0);
        let mut version_3 = valid.clone();
        version_3[0] = 3;
        let mut version_1 = valid.clone();
        version_1[0] = 1;
        version_1.truncate(153);
        let other_chain = SignedRequest::sign(
            &key(1),
            &Destination { chain_id: "cairn-other", ..DEST },
            METHOD,
            BODY,
            NOW,
            [1; 16],
        )
        .encode();
        let other_node = SignedRequest::sign(
            &key(1),
            &Destination { node: Address([0x0b; 20]), ..DEST },
            METHOD,
            BODY,
            NOW,
            [1; 16],
        )
        .encode();
        let mut bad_key = SignedRequest::decode(&valid).unwrap();
        bad_key.public_key = invalid_public_key();
        let other_method = "/cairn.v1.Access/SetSharingRules";
        let a = address_of(1);
        let d = address_of(4);

        let unauthenticated = |m: &str| Err((AuthErrorKind::Unauthenticated, m.to_owned()));
        let invalid = |m: &str| Err((AuthErrorKind::InvalidArgument, m.to_owned()));
        let revoked =
            format!("identity {} is revoked: key reported lost on 2024-05-01", address_of(3));
        let cases = [
            case("valid", Some(valid.clone()), Ok(())),
            case("body at the limit", Some(envelope(1, METHOD, &max_body, NOW, 1)), Ok(()))
                .body(&max_body),
            case(
                "missing header",
                None,
                unauthenticated("request is not signed: metadata x-cairn-auth-bin is missing"),
            ),
            case(
                "oversized body",
                Some(envelope(1, METHOD, &big_body, NOW, 1)),
                invalid("request body is 1048577 bytes, larger than the limit of 1048576 bytes"),
            )
            .body(&big_body),
            case(
                "empty envelope",
                Some(vec![]),
                invalid("malformed x-cairn-auth-bin envelope: it is empty; expected 205 bytes"),
            ),
            case(
                "truncated envelope",
                Some(truncated),
                invalid(
                    "malformed x-cairn-auth-bin envelope: it is 204 bytes; \
                     a version 2 envelope is exactly 205 bytes",
                ),
            ),
            case("envelope with a trailing byte", Some(too_long), invalid("it is 206 bytes")),
            case(
                "version 3",
                Some(version_3),
                invalid(
                    "malformed x-cairn-auth-bin envelope: version 3 is not supported; \
                     expected version 2",
                ),
            ),
            case(
                "version 1",
                Some(version_1),
                invalid(
                    "outdated x-cairn-auth-bin envelope: version 1 does not name the chain and \
                     the node it is for and is no longer accepted",
                ),
            ),
            case(
                "signed for another chain",
                Some(other_chain),
                unauthenticated(
                    "request was signed for another chain: this node serves chain \"cairn-test\"",
                ),
            ),
            case(
                "signed for another node",
                Some(other_node),
                unauthenticated(&format!(
                    "request was signed for node {}, not for this node {}",
                    Address([0x0b; 20]),
                    Address([0x4e; 20])
                )),
            ),
            case(
                "body changed after signing",
                Some(valid.clone()),
                unauthenticated(
                    "request body does not match the signed digest: \
                     the body was changed after signing",
                ),
            )
            .body(b"\x0a\x0ehealth/prisons"),
            case("oldest accepted", Some(envelope(1, METHOD, BODY, NOW - WINDOW_MS, 1)), Ok(())),
            case(
                "one ms too old",
                Some(envelope(1, METHOD, BODY, NOW - WINDOW_MS - 1, 1)),
                unauthenticated(
                    "request expired: it was signed 300001 ms ago, \
                     1 ms more than the window of 300000 ms allows",
                ),
            ),
            case("newest accepted", Some(envelope(1, METHOD, BODY, NOW + WINDOW_MS, 1)), Ok(())),
            case(
                "one ms too new",
                Some(envelope(1, METHOD, BODY, NOW + WINDOW_MS + 1, 1)),
                unauthenticated(
                    "request is from the future: its timestamp is 300001 ms ahead of the \
                     server's clock, 1 ms more than the window of 300000 ms allows",
                ),
            ),
            case(
                "method swapped",
                Some(valid.clone()),
                unauthenticated(&format!(
                    "bad signature: the signature does not verify with the public key of {a} \
                     over method {other_method}"
                )),
            )
            .method(other_method),
            case(
                "re-signed by another identity",
                Some(resigned(1, 2)),
                unauthenticated(&format!(
                    "bad signature: the signature does not verify with the public key of {a}"
                )),
            ),
            case(
                "public key not on the curve",
                Some(bad_key.encode()),
                unauthenticated("is not a valid Ed25519 key"),
            ),
            case(
                "unknown identity",
                Some(envelope(4, METHOD, BODY, NOW, 1)),
                unauthenticated(&format!(
                    "unknown identity {d}: no identity with this address is registered"
                )),
            ),
            case(
                "revoked identity",
                Some(envelope(3, METHOD, BODY, NOW, 1)),
                Err((AuthErrorKind::PermissionDenied, revoked)),
            ),
        ];
        for Case { name, header, method, body, expected } in cases {
            let verifier = RequestVerifier::new(WINDOW);
            let outcome = verifier.verify(header.as_deref(), method, body, &DEST, NOW, ledger);
            match (outcome, expected) {
                (Ok(caller), Ok(())) => {
                    assert_eq!(caller.address, a, "{name}");
                    assert_eq!(caller.organisation, "dept-health", "{name}");
                    assert_eq!(caller.role, Role::Consumer, "{name}");
                    assert_eq!(caller.nonce, [1; 16], "{name}");
                    assert_eq!(Some(caller.envelope), header, "{name}");
                    assert_eq!(verifier.cached_nonces(), 1, "{name}");
                }
                (Err(err), Err((kind, message))) => {
                    assert_eq!(err.kind(), kind, "{name}: {err}");
                    assert!(err.to_string().contains(&message), "{name}: {err}\nwants: {message}");
                    assert_eq!(verifier.cached_nonces(), 0, "{name}: a refused request was cached");
                }
                (outcome, expected) => panic!("{name}: got {outcome:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn a_replay_is_refused_but_the_same_nonce_from_another_key_passes() {
        let verifier = RequestVerifier::new(WINDOW);
        let first = envelope(1, METHOD, BODY, NOW, 5);
        verifier.verify(Some(&first), METHOD, BODY, &DEST, NOW, ledger).unwrap();
        let err = verifier.verify(Some(&first), METHOD, BODY, &DEST, NOW + 10, ledger).unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::Unauthenticated);
        assert_eq!(
            err.to_string(),
            format!(
                "replayed request: nonce {} was already used by {} within the window of 300000 ms",
                "05".repeat(16),
                address_of(1)
            )
        );
        // The same key reusing the nonce with a new timestamp is also a replay.
        let again = envelope(1, METHOD, BODY, NOW + 1, 5);
        let err = verifier.verify(Some(&again), METHOD, BODY, &DEST, NOW + 10, ledger).unwrap_err();
        assert!(matches!(err, AuthError::Replayed { .. }), "{err}");
        // Another key may use the same nonce.
        let other = envelope(2, METHOD, BODY, NOW, 5);
        let caller = verifier.verify(Some(&other), METHOD, BODY, &DEST, NOW + 10, ledger).unwrap();
        assert_eq!(caller.address, address_of(2));
        assert_eq!(caller.role, Role::Provider);
        assert_eq!(verifier.cached_nonces(), 2);
    }

    #[test]
    fn a_refused_request_does_not_use_up_its_nonce() {
        let verifier = RequestVerifier::new(WINDOW);
        let header = envelope(1, METHOD, BODY, NOW, 8);
        type Lookup = fn(&Address) -> CallerStatus;
        let refusals: [(&[u8], &str, Lookup); 3] = [
            (b"tampered", METHOD, ledger),
            (BODY, "/cairn.v1.Access/Other", ledger),
            (BODY, METHOD, |_| CallerStatus::Unknown),
        ];
        for (body, method, lookup) in refusals {
            verifier.verify(Some(&header), method, body, &DEST, NOW, lookup).unwrap_err();
        }
        assert_eq!(verifier.cached_nonces(), 0);
        verifier.verify(Some(&header), METHOD, BODY, &DEST, NOW, ledger).unwrap();
    }

    #[test]
    fn the_ledger_is_consulted_only_after_the_signature_verifies() {
        let verifier = RequestVerifier::new(WINDOW);
        let called = Cell::new(false);
        let lookup = |address: &Address| {
            called.set(true);
            ledger(address)
        };
        verifier.verify(Some(&resigned(1, 2)), METHOD, BODY, &DEST, NOW, lookup).unwrap_err();
        assert!(!called.get());
        verifier
            .verify(Some(&envelope(1, METHOD, BODY, NOW, 1)), METHOD, BODY, &DEST, NOW, lookup)
            .unwrap();
        assert!(called.get());
    }

    #[test]
    fn nonces_are_evicted_once_their_timestamp_leaves_the_window() {
        let verifier = RequestVerifier::new(WINDOW);
        let old: Vec<Vec<u8>> = (1..=3).map(|n| envelope(1, METHOD, BODY, NOW, n)).collect();
        for header in &old {
            verifier.verify(Some(header), METHOD, BODY, &DEST, NOW, ledger).unwrap();
        }
        assert_eq!(
            format!("{verifier:?}"),
            "RequestVerifier { window_ms: 300000, cached_nonces: 3 }"
        );
        // Still inside the window at its edge: nothing is dropped.
        let later = NOW + WINDOW_MS;
        verifier
            .verify(Some(&envelope(2, METHOD, BODY, later, 1)), METHOD, BODY, &DEST, later, ledger)
            .unwrap();
        assert_eq!(verifier.cached_nonces(), 4);
        // One ms later the first three are out of the window and forgotten,
        // and replaying them is refused by the clock instead.
        let after = later + 1;
        verifier
            .verify(Some(&envelope(2, METHOD, BODY, after, 2)), METHOD, BODY, &DEST, after, ledger)
            .unwrap();
        assert_eq!(verifier.cached_nonces(), 2);
        let err = verifier.verify(Some(&old[0]), METHOD, BODY, &DEST, after, ledger).unwrap_err();
        assert!(matches!(err, AuthError::Expired { age_ms: 300_001, window_ms: 300_000 }), "{err}");
    }

    #[test]
    fn a_clock_stepping_back_cannot_reopen_the_window() {
        let verifier = RequestVerifier::new(WINDOW);
        let header = envelope(1, METHOD, BODY, NOW, 1);
        verifier.verify(Some(&header), METHOD, BODY, &DEST, NOW, ledger).unwrap();
        // The clock jumps ahead, which forgets the nonce…
        let ahead = NOW + 2 * WINDOW_MS;
        verifier
            .verify(Some(&envelope(2, METHOD, BODY, ahead, 1)), METHOD, BODY, &DEST, ahead, ledger)
            .unwrap();
        assert_eq!(verifier.cached_nonces(), 1);
        // …and then steps back: the replay is refused as expired.
        let err = verifier.verify(Some(&header), METHOD, BODY, &DEST, NOW, ledger).unwrap_err();
        assert!(matches!(err, AuthError::Expired { age_ms: 600_000, .. }), "{err}");
    }

    #[test]
    fn a_full_replay_cache_refuses_until_entries_expire() {
        let verifier =
            RequestVerifier::with_limits(WINDOW, ReplayLimits { total: 2, per_identity: 3 });
        for nonce in 1..=2 {
            verifier
                .verify(
                    Some(&envelope(1, METHOD, BODY, NOW, nonce)),
                    METHOD,
                    BODY,
                    &DEST,
                    NOW,
                    ledger,
                )
                .unwrap();
        }
        let third = envelope(1, METHOD, BODY, NOW, 3);
        let err = verifier.verify(Some(&third), METHOD, BODY, &DEST, NOW, ledger).unwrap_err();
        assert_eq!(err, AuthError::ReplayCacheFull { capacity: 2 });
        assert_eq!(err.kind(), AuthErrorKind::ResourceExhausted);
        assert_eq!(
            err.to_string(),
            "the replay cache is full (2 requests within the window); try again later"
        );
        let later = NOW + WINDOW_MS + 1;
        let fresh = envelope(1, METHOD, BODY, later, 3);
        verifier.verify(Some(&fresh), METHOD, BODY, &DEST, later, ledger).unwrap();
        assert_eq!(verifier.cached_nonces(), 1);
    }

    #[test]
    fn the_envelope_has_the_documented_layout_and_signed_message() {
        let signer = key(1);
        let request =
            SignedRequest::sign(&signer, &DEST, METHOD, BODY, 0x0102_0304_0506_0708, [0xab; 16]);
        let bytes = request.encode();
        assert_eq!(bytes.len(), ENVELOPE_LEN);
        assert_eq!(ENVELOPE_LEN, 205);
        assert_eq!(bytes[0], 2);
        assert_eq!(bytes[1..33], <[u8; 32]>::from(signer.verification_key()));
        assert_eq!(bytes[33..41], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(bytes[41..57], [0xab; 16]);
        let digest: [u8; 32] = Sha256::digest(BODY).into();
        assert_eq!(bytes[57..89], digest);
        let chain: [u8; 32] = Sha256::digest(b"cairn-test").into();
        assert_eq!(bytes[89..121], chain);
        assert_eq!(bytes[121..141], [0x4e; 20]);
        // The signature covers the documented message, built here by hand.
        let mut message = b"cairn-request-v2\n".to_vec();
        message.extend_from_slice(&(METHOD.len() as u32).to_be_bytes());
        message.extend_from_slice(METHOD.as_bytes());
        message.extend_from_slice(&digest);
        message.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        message.extend_from_slice(&[0xab; 16]);
        message.extend_from_slice(&chain);
        message.extend_from_slice(&[0x4e; 20]);
        let signature: [u8; 64] = bytes[141..].try_into().unwrap();
        signer.verification_key().verify(&Signature::from_bytes(&signature), &message).unwrap();
        assert_eq!(SignedRequest::decode(&bytes), Ok(request));
        assert_eq!(request.address(), address_of(1));
        let debug = format!("{request:?}");
        assert!(
            debug.contains(&address_of(1).to_string()) && debug.contains(&"ab".repeat(16)),
            "{debug}"
        );
    }

    #[test]
    fn one_identity_cannot_fill_the_replay_cache_for_everyone_else() {
        let limits = ReplayLimits { total: 5, per_identity: 2 };
        let verifier = RequestVerifier::with_limits(WINDOW, limits);
        let send = |signer: u8, nonce: u8| {
            verifier.verify(
                Some(&envelope(signer, METHOD, BODY, NOW, nonce)),
                METHOD,
                BODY,
                &DEST,
                NOW,
                ledger,
            )
        };
        // Identity 1 floods: two are accepted, every further one is refused.
        send(1, 1).unwrap();
        send(1, 2).unwrap();
        for nonce in 3..=50 {
            let err = send(1, nonce).unwrap_err();
            assert_eq!(
                err,
                AuthError::IdentityOverLimit {
                    address: address_of(1),
                    limit: 2,
                    window_ms: WINDOW_MS
                }
            );
            assert_eq!(err.kind(), AuthErrorKind::ResourceExhausted);
            assert!(!err.authenticated());
        }
        assert!(send(1, 3).unwrap_err().to_string().starts_with(&format!(
            "too many requests from {}: 2 within the window of 300000 ms",
            address_of(1)
        )));
        // Identity 2 is still served, up to its own share.
        send(2, 1).unwrap();
        send(2, 2).unwrap();
        assert!(matches!(send(2, 3), Err(AuthError::IdentityOverLimit { .. })));
        assert_eq!(verifier.cached_nonces(), 4);
        // Once the window has passed, identity 1 is served again.
        let later = NOW + WINDOW_MS + 1;
        verifier
            .verify(Some(&envelope(1, METHOD, BODY, later, 9)), METHOD, BODY, &DEST, later, ledger)
            .unwrap();
    }

    #[test]
    fn restored_nonces_refuse_replays_after_a_restart() {
        let before = RequestVerifier::new(WINDOW);
        let header = envelope(1, METHOD, BODY, NOW, 7);
        let caller = before.verify(Some(&header), METHOD, BODY, &DEST, NOW, ledger).unwrap();
        // A new verifier (a restarted node) restores what its log holds.
        let after = RequestVerifier::new(WINDOW);
        let logged = SignedRequest::decode(&caller.envelope).unwrap();
        assert!(after.restore(&logged, NOW + 1_000));
        assert!(!after.restore(&logged, NOW + 1_000), "restored twice");
        let stale =
            SignedRequest::decode(&envelope(2, METHOD, BODY, NOW - WINDOW_MS - 5_000, 1)).unwrap();
        assert!(!after.restore(&stale, NOW + 1_000), "an expired request is not kept");
        assert_eq!(after.cached_nonces(), 1);
        let err =
            after.verify(Some(&header), METHOD, BODY, &DEST, NOW + 2_000, ledger).unwrap_err();
        assert!(matches!(err, AuthError::Replayed { .. }), "{err}");
        // Without the restore, the replay would have been accepted.
        let forgetful = RequestVerifier::new(WINDOW);
        forgetful.verify(Some(&header), METHOD, BODY, &DEST, NOW + 2_000, ledger).unwrap();
    }

    #[test]
    fn an_envelope_verifies_on_its_own_for_its_method_chain_and_node() {
        let header = envelope(1, METHOD, BODY, NOW, 4);
        let request = verify_envelope(&header, METHOD, &DEST).unwrap();
        assert_eq!(request.address(), address_of(1));
        assert_eq!(request.body_sha256, <[u8; 32]>::from(Sha256::digest(BODY)));
        let other = "/cairn.v1.Access/VerifyDataHash";
        assert!(matches!(
            verify_envelope(&header, other, &DEST),
            Err(AuthError::BadSignature { .. })
        ));
        let elsewhere = Destination { node: Address([1; 20]), ..DEST };
        assert!(matches!(
            verify_envelope(&header, METHOD, &elsewhere),
            Err(AuthError::WrongNode { .. })
        ));
        let other_chain = Destination { chain_id: "cairn-prod", ..DEST };
        assert!(matches!(
            verify_envelope(&header, METHOD, &other_chain),
            Err(AuthError::WrongChain { .. })
        ));
        // A field changed after signing (here the node, made to match).
        let mut moved = SignedRequest::decode(&header).unwrap();
        moved.node = Address([1; 20]);
        assert!(matches!(
            verify_envelope(&moved.encode(), METHOD, &elsewhere),
            Err(AuthError::BadSignature { .. })
        ));
        assert!(verify_envelope(&header[..100], METHOD, &DEST).is_err());
    }

    #[test]
    fn only_a_revoked_callers_refusal_counts_as_authenticated() {
        let verifier = RequestVerifier::new(WINDOW);
        let refusal = |header: Option<Vec<u8>>| {
            verifier.verify(header.as_deref(), METHOD, BODY, &DEST, NOW, ledger).unwrap_err()
        };
        assert!(refusal(Some(envelope(3, METHOD, BODY, NOW, 1))).authenticated());
        assert!(!refusal(None).authenticated());
        assert!(!refusal(Some(envelope(4, METHOD, BODY, NOW, 1))).authenticated());
        assert!(!refusal(Some(resigned(1, 2))).authenticated());
        assert!(!refusal(Some(envelope(1, METHOD, BODY, NOW - 2 * WINDOW_MS, 1))).authenticated());
    }

    proptest! {
        #[test]
        fn random_headers_never_panic_and_are_refused(header in proptest::collection::vec(any::<u8>(), 0..400)) {
            let verifier = RequestVerifier::new(WINDOW);
            let err = verifier.verify(Some(&header), METHOD, BODY, &DEST, NOW, ledger).unwrap_err();
            prop_assert!(matches!(err.kind(), AuthErrorKind::InvalidArgument | AuthErrorKind::Unauthenticated), "{err}");
        }

        #[test]
        fn random_envelopes_with_the_right_digest_are_refused(
            public_key in any::<[u8; 32]>(),
            skew in -400_000i64..400_000,
            nonce in any::<[u8; 16]>(),
            signature in proptest::collection::vec(any::<u8>(), 64),
        ) {
            let signature: [u8; 64] = signature.try_into().unwrap_or([0; 64]);
            let request = SignedRequest {
                public_key,
                timestamp_ms: NOW.saturating_add_signed(skew),
                nonce,
                body_sha256: Sha256::digest(BODY).into(),
                chain_sha256: DEST.chain_sha256(),
                node: DEST.node,
                signature,
            };
            let verifier = RequestVerifier::new(WINDOW);
            let registered = |_: &Address| CallerStatus::Registered { organisation: "x".into(), role: Role::Public };
            let err = verifier.verify(Some(&request.encode()), METHOD, BODY, &DEST, NOW, registered).unwrap_err();
            prop_assert_eq!(err.kind(), AuthErrorKind::Unauthenticated, "{}", err);
        }
    }
}
