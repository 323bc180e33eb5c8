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

mod envelope;
mod error;
mod replay;
#[cfg(test)]
mod tests;
mod verifier;

pub use envelope::{Destination, SignedRequest, chain_sha256, verify_envelope};
pub use error::{AuthError, AuthErrorKind};
pub use replay::ReplayLimits;
pub use verifier::{CallerStatus, RequestVerifier, VerifiedCaller};

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
