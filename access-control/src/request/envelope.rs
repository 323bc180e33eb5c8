//! The request envelope: its byte layout, how a client signs it and how a
//! server decodes it and checks its destination and signature.

use std::fmt;

use anchor_chaincode::Address;
use ed25519_zebra::{Signature, SigningKey, VerificationKey};
use sha2::{Digest, Sha256};

use super::{AuthError, ENVELOPE_LEN, ENVELOPE_VERSION, SIGNING_LABEL};

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
    pub(super) fn check_destination(&self, destination: &Destination<'_>) -> Result<(), AuthError> {
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
    pub(super) fn check_signature(&self, method: &str) -> Result<(), AuthError> {
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
