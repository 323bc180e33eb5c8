//! Validation codes, one line per case: each bad transaction gets its code
//! and a message naming what was wrong, and changes no state.

use cairn_schemas::v1 as pb;
use ed25519_zebra::SigningKey;
use prost::Message;

use super::*;
use crate::authority::TxType;
use crate::genesis::Genesis;
use crate::genesis::Organisation;
use crate::tx::{TxDraft, seal};
use crate::types::Role;

fn key(seed: u8) -> SigningKey {
    SigningKey::from([seed; 32])
}

fn public(key: &SigningKey) -> [u8; 32] {
    <[u8; 32]>::from(key.verification_key())
}

struct Fixture {
    ledger: Ledger,
    offset: u64,
    nonce: u64,
}

const CA_ORG: u8 = 1;
const HEALTH_ORG: u8 = 2;
const CIVIL_ORG: u8 = 3;
const CA_OFFICER: u8 = 10;
const PROVIDER: u8 = 11;
const CONSUMER: u8 = 12;
const OUTSIDER: u8 = 13;
const OPERATOR: u8 = 14;
const NODE: u8 = 15;
const CIVIL_NODE: u8 = 16;

impl Fixture {
    fn new() -> Fixture {
        let org = |name: &str, seed| Organisation {
            name: name.into(),
            description: String::new(),
            public_key: hex::encode(public(&key(seed))),
        };
        let mut genesis = Genesis::new(
            "test-chain",
            vec![org("ca", CA_ORG), org("health", HEALTH_ORG), org("civil", CIVIL_ORG)],
            "ca",
        );
        genesis.issuers = [
            ("degree".to_owned(), vec!["civil".to_owned(), "health".to_owned()]),
            ("marriage".to_owned(), vec!["civil".to_owned()]),
        ]
        .into();
        let ledger = Ledger::from_genesis_record(0, &genesis_record(&genesis)).unwrap();
        let mut fixture = Fixture { ledger, offset: 1, nonce: 0 };
        for (seed, organisation, role) in [
            (CA_OFFICER, "ca", Role::CertificationAuthority),
            (PROVIDER, "health", Role::Provider),
            (CONSUMER, "civil", Role::Consumer),
            (OPERATOR, "ca", Role::Operator),
            (NODE, "health", Role::Node),
            (CIVIL_NODE, "civil", Role::Node),
        ] {
            // A node is also endorsed by its own organisation's key.
            let own = match organisation {
                "health" => HEALTH_ORG,
                "civil" => CIVIL_ORG,
                _ => CA_ORG,
            };
            let endorsers: &[(&str, u8)] = if role == Role::Node {
                &[("ca", CA_ORG), (organisation, own)]
            } else {
                &[("ca", CA_ORG)]
            };
            let envelope = fixture.register(seed, organisation, role, endorsers);
            fixture.expect(envelope, ValidationCode::Valid, "");
        }
        let envelope = fixture.publish(PROVIDER, "health/clinics", 1);
        fixture.expect(envelope, ValidationCode::Valid, "");
        fixture
    }

    fn draft(&mut self, body: pb::tx_payload::Body) -> TxDraft {
        self.nonce += 1;
        TxDraft {
            chain_id: "test-chain".into(),
            nonce: self.nonce.to_be_bytes().to_vec(),
            timestamp_ms: 1_000 + self.nonce,
            body,
        }
    }

    fn sealed(
        &mut self,
        creator: u8,
        endorsers: &[(&str, u8)],
        body: pb::tx_payload::Body,
    ) -> Vec<u8> {
        let draft = self.draft(body);
        let keys: Vec<(&str, SigningKey)> =
            endorsers.iter().map(|(org, seed)| (*org, key(*seed))).collect();
        let endorsers: Vec<(&str, &SigningKey)> = keys.iter().map(|(org, k)| (*org, k)).collect();
        seal(draft.payload(&public(&key(creator))), &key(creator), &endorsers)
    }

    fn register(
        &mut self,
        seed: u8,
        organisation: &str,
        role: Role,
        endorsers: &[(&str, u8)],
    ) -> Vec<u8> {
        let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
            name: format!("identity {seed}"),
            organisation: organisation.into(),
            role: crate::tx::role_to_pb(role).into(),
            signing_public_key: public(&key(seed)).to_vec(),
            encryption_public_key: vec![seed; 32],
            reviewer_role: if role == Role::Reviewer { "clerk".into() } else { String::new() },
        });
        self.sealed(seed, endorsers, body)
    }

    fn publish(&mut self, creator: u8, asset_id: &str, version: u64) -> Vec<u8> {
        let body = pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
            asset_id: asset_id.into(),
            version,
            data_type: pb::DataType::Structured.into(),
            hash_algorithm: "sha256".into(),
            content_hash: vec![7; 32],
            size_bytes: 42,
            metadata: b"{}".to_vec(),
        });
        self.sealed(creator, &[], body)
    }

    fn share(&mut self, creator: u8, asset_id: &str, authorised: Vec<String>) -> Vec<u8> {
        let body = pb::tx_payload::Body::SetSharingRules(pb::SetSharingRules {
            asset_id: asset_id.into(),
            authorised,
        });
        self.sealed(creator, &[], body)
    }

    /// Applies one envelope in its own block and checks its code, its message and,
    /// for invalid ones, that the state root did not move.
    fn expect(&mut self, envelope: Vec<u8>, code: ValidationCode, message_part: &str) {
        let before = self.ledger.state_root();
        let block = self.ledger.apply_record(self.offset, &batch_record(vec![envelope])).clone();
        self.offset += 1;
        let receipt = &block.receipts[0];
        assert_eq!(receipt.code, code, "message: {}", receipt.message);
        assert!(
            receipt.message.contains(message_part),
            "{:?} does not contain {message_part:?}",
            receipt.message
        );
        if code == ValidationCode::Valid {
            assert_ne!(
                self.ledger.state_root(),
                before,
                "a valid transaction must change the state root"
            );
        } else {
            assert_eq!(
                self.ledger.state_root(),
                before,
                "an invalid transaction changed the state"
            );
        }
    }
}

fn address(seed: u8) -> String {
    Address::of_public_key(&public(&key(seed))).to_string()
}

#[test]
fn malformed_truncated_and_oversized_envelopes() {
    let mut f = Fixture::new();
    f.expect(
        b"\xff\xff\xff".to_vec(),
        ValidationCode::Malformed,
        "not a valid cairn.v1.TxEnvelope",
    );
    let mut truncated = f.publish(PROVIDER, "health/clinics", 2);
    truncated.truncate(truncated.len() / 2);
    f.expect(truncated, ValidationCode::Malformed, "");
    f.expect(
        vec![0; crate::tx::MAX_TX_BYTES + 1],
        ValidationCode::Oversized,
        "more than the limit",
    );
    let no_body = pb::TxEnvelope {
        payload: pb::TxPayload {
            chain_id: "test-chain".into(),
            creator: vec![1; 32],
            ..Default::default()
        }
        .encode_to_vec(),
        signature: vec![0; 64],
        endorsements: vec![],
    };
    f.expect(no_body.encode_to_vec(), ValidationCode::Malformed, "no body");
    let short_signature =
        pb::TxEnvelope { payload: vec![], signature: vec![0; 10], endorsements: vec![] };
    f.expect(short_signature.encode_to_vec(), ValidationCode::Malformed, "");
}

#[test]
fn a_record_that_is_not_a_batch_is_one_malformed_entry() {
    let mut f = Fixture::new();
    let before = f.ledger.state_root();
    let block = f.ledger.apply_record(f.offset, b"garbage that is no log record").clone();
    assert_eq!(block.receipts.len(), 1);
    assert_eq!(block.receipts[0].code, ValidationCode::Malformed);
    assert_eq!(f.ledger.state_root(), before);
}

#[test]
fn signatures_chain_and_duplicates() {
    let mut f = Fixture::new();
    let mut envelope =
        pb::TxEnvelope::decode(f.publish(PROVIDER, "health/clinics", 2).as_slice()).unwrap();
    envelope.signature[3] ^= 1;
    f.expect(
        envelope.encode_to_vec(),
        ValidationCode::BadSignature,
        "creator signature does not verify",
    );

    // A body changed after signing.
    let mut envelope =
        pb::TxEnvelope::decode(f.publish(PROVIDER, "health/clinics", 2).as_slice()).unwrap();
    let last = envelope.payload.len() - 1;
    envelope.payload[last] ^= 1;
    f.expect(envelope.encode_to_vec(), ValidationCode::BadSignature, "");

    let draft = TxDraft {
        chain_id: "other-chain".into(),
        ..f.draft(pb::tx_payload::Body::SetSharingRules(Default::default()))
    };
    let wrong_chain = seal(draft.payload(&public(&key(PROVIDER))), &key(PROVIDER), &[]);
    f.expect(wrong_chain, ValidationCode::WrongChain, "\"other-chain\"");

    let envelope = f.publish(PROVIDER, "health/clinics", 2);
    f.expect(envelope.clone(), ValidationCode::Valid, "");
    f.expect(envelope, ValidationCode::DuplicateTxId, "already in the log");
}

#[test]
fn registration_rules() {
    let mut f = Fixture::new();
    let envelope = f.register(OUTSIDER, "civil", Role::Consumer, &[]);
    f.expect(
        envelope,
        ValidationCode::EndorsementPolicyFailure,
        "requires endorsement by role certification_authority of the certification authority's organisation",
    );
    // Endorsed by an organisation that is not the certification authority.
    let envelope = f.register(OUTSIDER, "civil", Role::Consumer, &[("civil", CIVIL_ORG)]);
    f.expect(
        envelope,
        ValidationCode::EndorsementPolicyFailure,
        "[for \"civil\": the organisation's genesis key]",
    );
    // A key that claims to speak for the CA but does not.
    let envelope = f.register(OUTSIDER, "civil", Role::Consumer, &[("ca", CIVIL_ORG)]);
    f.expect(envelope, ValidationCode::EndorsementPolicyFailure, "for \"ca\": an unknown key");
    // A member of the CA's organisation without the CA role does not count.
    let envelope = f.register(OUTSIDER, "civil", Role::Consumer, &[("ca", OPERATOR)]);
    f.expect(envelope, ValidationCode::EndorsementPolicyFailure, "with role operator in \"ca\"");
    // Roles stay in their organisations; citizens are not members of departments.
    let envelope = f.register(OUTSIDER, "ca", Role::Public, &[("ca", CA_ORG)]);
    f.expect(envelope, ValidationCode::NotAuthorised, "only in the holders' organisation");
    let envelope = f.register(OUTSIDER, "civil", Role::CertificationAuthority, &[("ca", CA_ORG)]);
    f.expect(
        envelope,
        ValidationCode::NotAuthorised,
        "belongs only to the certification authority",
    );
    let envelope = f.register(OUTSIDER, "ca", Role::Node, &[("ca", CA_ORG)]);
    f.expect(
        envelope,
        ValidationCode::NotAuthorised,
        "never belongs to the certification authority",
    );
    let envelope = f.register(OUTSIDER, "nowhere", Role::Consumer, &[("ca", CA_ORG)]);
    f.expect(envelope, ValidationCode::UnknownOrganisation, "\"nowhere\"");
    let envelope = f.register(CONSUMER, "civil", Role::Consumer, &[("ca", CA_ORG)]);
    f.expect(envelope, ValidationCode::AlreadyRegistered, &address(CONSUMER));
    // A registered CA officer may endorse in the CA's name.
    let envelope = f.register(OUTSIDER, "civil", Role::Consumer, &[("ca", CA_OFFICER)]);
    f.expect(envelope, ValidationCode::Valid, "");
    assert_eq!(
        f.ledger.identity(&address(OUTSIDER).parse().unwrap()).unwrap().organisation,
        "civil"
    );
}

#[test]
fn publishing_rules() {
    let mut f = Fixture::new();
    let envelope = f.publish(20, "health/x", 1);
    f.expect(envelope, ValidationCode::UnknownIdentity, "is not a registered identity");
    let envelope = f.publish(CONSUMER, "health/clinics", 9);
    f.expect(envelope, ValidationCode::NotOwner, "owned by organisation \"health\"");
    let envelope = f.publish(PROVIDER, "health/clinics", 1);
    f.expect(envelope, ValidationCode::VersionConflict, "does not increase its latest version 1");
    let envelope = f.publish(PROVIDER, "bad id with spaces", 1);
    f.expect(envelope, ValidationCode::InvalidArgument, "asset id");
    let envelope = f.publish(PROVIDER, "health/new", 0);
    f.expect(envelope, ValidationCode::InvalidArgument, "version must be at least 1");
    let envelope = f.publish(PROVIDER, "health/clinics", 5);
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.publish(PROVIDER, "health/clinics", 5);
    f.expect(envelope, ValidationCode::VersionConflict, "");
    let versions: Vec<u64> =
        f.ledger.asset("health/clinics").unwrap().versions.iter().map(|v| v.version).collect();
    assert_eq!(versions, [1, 5]);
}

#[test]
fn sharing_rules_only_by_the_owner() {
    let mut f = Fixture::new();
    let envelope = f.share(CONSUMER, "health/clinics", vec![address(CONSUMER)]);
    f.expect(envelope, ValidationCode::NotOwner, "only organisation \"health\"");
    let envelope = f.share(PROVIDER, "health/none", vec![]);
    f.expect(envelope, ValidationCode::UnknownAsset, "does not exist");
    let envelope = f.share(PROVIDER, "health/clinics", vec!["not-an-address".into()]);
    f.expect(envelope, ValidationCode::InvalidArgument, "authorised[0]");
    let envelope = f.share(PROVIDER, "health/clinics", vec![address(OUTSIDER)]);
    f.expect(envelope, ValidationCode::UnknownIdentity, "authorised[0]");
    let envelope = f.share(
        PROVIDER,
        "health/clinics",
        vec![address(CONSUMER), address(CONSUMER), address(PROVIDER)],
    );
    f.expect(envelope, ValidationCode::Valid, "");
    let authorised = &f.ledger.asset("health/clinics").unwrap().authorised;
    assert_eq!(authorised.len(), 2, "duplicates are folded");
    assert!(authorised.windows(2).all(|w| w[0] < w[1]), "the list is kept sorted");
}

#[test]
fn blocks_chain_and_leaves_carry_their_codes() {
    let mut f = Fixture::new();
    let good = f.publish(PROVIDER, "health/clinics", 2);
    let bad = f.publish(CONSUMER, "health/clinics", 3);
    let block =
        f.ledger.apply_record(f.offset, &batch_record(vec![good.clone(), bad.clone()])).clone();
    let previous = f.ledger.block(block.header.number - 1).unwrap().hash;
    assert_eq!(block.header.previous_hash, previous);
    assert_eq!(block.hash, block.header.hash());
    assert_eq!(block.header.log_size, f.ledger.merkle_log().size());
    let codes: Vec<_> = block.receipts.iter().map(|r| r.code).collect();
    assert_eq!(codes, [ValidationCode::Valid, ValidationCode::NotOwner]);
    let leaves: Vec<_> = block
        .receipts
        .iter()
        .zip([&good, &bad])
        .map(|(r, envelope)| {
            merkle::leaf_hash(&leaf_data(r.block_number, r.index, r.code, &r.tx_id, envelope))
        })
        .collect();
    assert_eq!(block.header.tx_root, merkle::root_of(&leaves));
    let leaf = parse_leaf(&leaf_data(
        block.header.number,
        1,
        ValidationCode::NotOwner,
        &block.receipts[1].tx_id,
        &bad,
    ))
    .unwrap();
    assert_eq!(leaf.code, ValidationCode::NotOwner);
    assert_eq!(leaf.envelope, bad);
    assert!(parse_leaf(&[0; 10]).is_err());
}

impl Fixture {
    fn revoke(&mut self, creator: u8, target: String, endorsers: &[(&str, u8)]) -> Vec<u8> {
        let body = pb::tx_payload::Body::RevokeIdentity(pb::RevokeIdentity {
            address: target,
            reason: "key lost".into(),
        });
        self.sealed(creator, endorsers, body)
    }

    fn anchor(&mut self, creator: u8, log: &MerkleLog, from: u64) -> Vec<u8> {
        let body = pb::tx_payload::Body::AnchorAccessEvents(pb::AnchorAccessEvents {
            tree_size: log.size(),
            root_hash: log.root().to_vec(),
            consistency_proof: log
                .consistency_proof(from, log.size())
                .unwrap()
                .iter()
                .map(|h| h.to_vec())
                .collect(),
        });
        self.sealed(creator, &[], body)
    }
}

#[test]
fn revocation_needs_the_ca_and_stops_the_identity() {
    let mut f = Fixture::new();
    let envelope = f.revoke(PROVIDER, address(CONSUMER), &[]);
    f.expect(
        envelope,
        ValidationCode::NotAuthorised,
        "revoke_identity may be created only by role certification_authority",
    );
    // A member of the CA's own organisation with another role may not either.
    let envelope = f.revoke(OPERATOR, address(CONSUMER), &[]);
    f.expect(envelope, ValidationCode::NotAuthorised, "has role operator in organisation \"ca\"");
    // Endorsements do not lend the creator a role it does not have.
    let envelope = f.revoke(PROVIDER, address(CONSUMER), &[("ca", CA_ORG), ("ca", CA_OFFICER)]);
    f.expect(envelope, ValidationCode::NotAuthorised, "has role provider");
    let envelope = f.revoke(CA_OFFICER, address(OUTSIDER), &[]);
    f.expect(envelope, ValidationCode::UnknownIdentity, "is not registered");
    let envelope = f.revoke(CA_OFFICER, address(PROVIDER), &[]);
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.revoke(CA_OFFICER, address(PROVIDER), &[]);
    f.expect(envelope, ValidationCode::InvalidArgument, "already revoked");
    let envelope = f.publish(PROVIDER, "health/clinics", 2);
    f.expect(envelope, ValidationCode::RevokedIdentity, "key lost");
    let identity = f.ledger.identity(&address(PROVIDER).parse().unwrap()).unwrap();
    assert_eq!(identity.revoked.as_ref().unwrap().reason, "key lost");
}

#[test]
fn access_event_anchors_only_grow_consistently() {
    let mut f = Fixture::new();
    let mut log = MerkleLog::new();
    for i in 0..5u8 {
        let _ = log.push(merkle::leaf_hash(&[i]));
    }
    // Only node identities anchor: not the CA, not a provider.
    for creator in [CA_OFFICER, PROVIDER] {
        let envelope = f.anchor(creator, &log, 0);
        f.expect(envelope, ValidationCode::NotAuthorised, "only by role node of any department");
    }
    let envelope = f.anchor(NODE, &log, 0);
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.anchor(NODE, &log, 0);
    f.expect(envelope, ValidationCode::InconsistentAnchor, "does not grow");
    for i in 5..9u8 {
        let _ = log.push(merkle::leaf_hash(&[i]));
    }
    // A proof from the wrong old size does not verify.
    let envelope = f.anchor(NODE, &log, 3);
    f.expect(envelope, ValidationCode::InconsistentAnchor, "does not extend");
    // A rewritten history (same size, other leaves) does not extend the anchor either.
    let mut forged = MerkleLog::new();
    for i in 100..109u8 {
        let _ = forged.push(merkle::leaf_hash(&[i]));
    }
    let envelope = f.anchor(NODE, &forged, 5);
    f.expect(envelope, ValidationCode::InconsistentAnchor, "");
    let envelope = f.anchor(NODE, &log, 5);
    f.expect(envelope, ValidationCode::Valid, "");
    let anchors = f.ledger.access_anchors(&address(NODE).parse().unwrap());
    assert_eq!(anchors.iter().map(|a| a.tree_size).collect::<Vec<_>>(), [5, 9]);
    // Each node has its own stream.
    let envelope = f.anchor(CIVIL_NODE, &log, 0);
    f.expect(envelope, ValidationCode::Valid, "");
}

mod authority;
mod billing;
mod cases;
mod certificates;
mod consortium;
