//! Signed transaction envelopes, built as a client would build them.

use access_control::keys::KeyPair;
use anchor_chaincode::Role;
use anchor_chaincode::tx::{self, TxDraft};
use cairn_schemas::v1 as pb;

/// A signed envelope and the id the node will give it (SHA-256 of the payload).
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The encoded `cairn.v1.TxEnvelope`.
    pub bytes: Vec<u8>,
    /// The transaction id, as 64 hex digits.
    pub tx_id: String,
}

fn seal(
    chain_id: &str,
    creator: &KeyPair,
    nonce: &[u8],
    body: pb::tx_payload::Body,
    endorsers: &[(&str, &KeyPair)],
) -> Envelope {
    let draft =
        TxDraft { chain_id: chain_id.to_string(), nonce: nonce.to_vec(), timestamp_ms: 1, body };
    let payload = draft.payload(&creator.signing_public_key());
    let tx_id = anchor_chaincode::TxId::of_payload(&payload).to_string();
    let endorsers: Vec<_> = endorsers.iter().map(|(org, key)| (*org, key.signing_key())).collect();
    Envelope { bytes: tx::seal(payload, creator.signing_key(), &endorsers), tx_id }
}

/// A `RegisterIdentity` of `identity` in `organisation`, endorsed by `endorser` speaking for `endorser_org`.
pub fn register_envelope(
    chain_id: &str,
    identity: &KeyPair,
    name: &str,
    organisation: &str,
    role: Role,
    (endorser_org, endorser): (&str, &KeyPair),
) -> Envelope {
    let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
        name: name.to_string(),
        organisation: organisation.to_string(),
        role: tx::role_to_pb(role).into(),
        signing_public_key: identity.signing_public_key().to_vec(),
        encryption_public_key: identity.encryption_public_key().to_vec(),
        reviewer_role: String::new(),
    });
    seal(chain_id, identity, b"register", body, &[(endorser_org, endorser)])
}

/// A `RegisterIdentity` of `identity` as a `node` of `organisation`, endorsed
/// by the certification authority (`ca`, its organisation key) and by the
/// node's own organisation (`own`, its organisation key).
pub fn register_node_envelope(
    chain_id: &str,
    identity: &KeyPair,
    name: &str,
    organisation: &str,
    ca: &KeyPair,
    own: &KeyPair,
) -> Envelope {
    let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
        name: name.to_string(),
        organisation: organisation.to_string(),
        role: tx::role_to_pb(Role::Node).into(),
        signing_public_key: identity.signing_public_key().to_vec(),
        encryption_public_key: identity.encryption_public_key().to_vec(),
        reviewer_role: String::new(),
    });
    seal(chain_id, identity, b"register", body, &[("ca", ca), (organisation, own)])
}

/// A `PublishAsset` of `asset_id` at `version`, signed by `publisher`; `nonce`
/// makes equal bodies distinct.
pub fn publish_envelope(
    chain_id: &str,
    publisher: &KeyPair,
    asset_id: &str,
    version: u64,
    metadata: Vec<u8>,
    nonce: &[u8],
) -> Envelope {
    let body = pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
        asset_id: asset_id.to_string(),
        version,
        data_type: pb::DataType::Unstructured.into(),
        hash_algorithm: "sha256".into(),
        content_hash: vec![7; 32],
        size_bytes: 1024,
        metadata,
    });
    seal(chain_id, publisher, nonce, body, &[])
}

/// An `AnchorAccessEvents` of a log of `tree_size` events with `root_hash`,
/// signed by `creator`, with no consistency proof (a first anchor).
pub fn anchor_access_envelope(
    chain_id: &str,
    creator: &KeyPair,
    tree_size: u64,
    root_hash: [u8; 32],
) -> Envelope {
    let body = pb::tx_payload::Body::AnchorAccessEvents(pb::AnchorAccessEvents {
        tree_size,
        root_hash: root_hash.to_vec(),
        consistency_proof: Vec::new(),
    });
    seal(chain_id, creator, b"anchor", body, &[])
}

/// The protobuf number of the `VALID` validation code.
pub const VALID: i32 = pb::ValidationCode::Valid as i32;
