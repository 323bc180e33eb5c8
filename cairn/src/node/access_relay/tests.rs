//! The copies of other nodes' logs: which records enter, in which order,
//! and what a proof under an anchor needs.

use access_control::keys::KeyPair;
use anchor_chaincode::TxId;
use anchor_chaincode::ledger::AccessAnchor;
use anchor_chaincode::merkle::{self, MerkleLog};
use asset_registry::audit::{AccessEvent, Action, Decision};

use super::{Copies, Position, Refusal, SignedRecord};

fn event(n: u64) -> Vec<u8> {
    AccessEvent {
        event_id: format!("{n:032x}"),
        time_ms: 1_700_000_000_000 + n,
        identity: String::new(),
        organisation: String::new(),
        role: String::new(),
        action: Action::ReadAudit,
        resource: "audit".into(),
        decision: Decision::Allowed,
        reason: "test".into(),
        bytes: 0,
        latency_us: 1,
        method: "/cairn.v1.Access/ListAccessEvents".into(),
        ledger_height: 1,
        request: Vec::new(),
    }
    .encode()
}

/// A record of `payload` at `leaf`, named for `named` and signed by `signer`.
fn add(
    copies: &mut Copies,
    named: &KeyPair,
    signer: &KeyPair,
    leaf: u64,
    payload: &[u8],
) -> Result<(), String> {
    let signature = asset_registry::audit::sign_record(signer.signing_key(), leaf, payload);
    let node = named.address().to_string();
    let key = signer.signing_public_key();
    copies.ingest(&SignedRecord {
        node: node.as_bytes(),
        leaf: Some(&leaf.to_be_bytes()),
        node_key: Some(&key),
        signature: Some(&signature),
        payload,
        position: Position { partition: 0, offset: i64::try_from(leaf).unwrap() },
    })
}

fn anchor_of(payloads: &[Vec<u8>]) -> AccessAnchor {
    let mut log = MerkleLog::new();
    for payload in payloads {
        let _ = log.push(merkle::leaf_hash(payload));
    }
    AccessAnchor {
        tree_size: log.size(),
        root_hash: log.root(),
        tx_id: TxId([payloads.len() as u8; 32]),
        block_number: 1,
    }
}

#[test]
fn leaves_read_out_of_order_are_proved_under_the_owners_anchor() {
    let (own, owner) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let mut copies = Copies::new(own.address());
    let events: Vec<Vec<u8>> = (0..5).map(event).collect();
    for leaf in [3, 0, 4, 1, 2] {
        add(&mut copies, &owner, &owner, leaf, &events[leaf as usize]).unwrap();
    }
    // A republished record is absorbed.
    add(&mut copies, &owner, &owner, 2, &events[2]).unwrap();
    assert_eq!(copies.size(&owner.address()), 5);
    assert_eq!(copies.find(&format!("{:032x}", 3), None), [(owner.address(), 3)]);
    let anchors = [anchor_of(&events[..2]), anchor_of(&events)];
    let located = copies.locate(&owner.address(), 3, &anchors).unwrap();
    assert_eq!(located.anchor, anchors[1]);
    merkle::verify_inclusion(
        &merkle::leaf_hash(&events[3]),
        3,
        5,
        &located.hashes,
        &anchors[1].root_hash,
    )
    .unwrap();
    // The newest anchor the copy holds in full is used.
    let located = copies.locate(&owner.address(), 1, &anchors).unwrap();
    assert_eq!(located.anchor.tree_size, 5);
    assert_eq!(copies.counters(), (0, 0));
}

#[test]
fn a_record_the_named_node_did_not_sign_is_refused() {
    let (own, owner, other) =
        (KeyPair::generate().unwrap(), KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let mut copies = Copies::new(own.address());
    let refused = add(&mut copies, &owner, &other, 0, &event(0)).unwrap_err();
    assert!(refused.contains("but is signed by"), "{refused}");
    // A key header of the owner with another key's signature.
    let payload = event(1);
    let signature = asset_registry::audit::sign_record(other.signing_key(), 0, &payload);
    let node = owner.address().to_string();
    let key = owner.signing_public_key();
    let refused = copies
        .ingest(&SignedRecord {
            node: node.as_bytes(),
            leaf: Some(&0u64.to_be_bytes()),
            node_key: Some(&key),
            signature: Some(&signature),
            payload: &payload,
            position: Position { partition: 0, offset: 0 },
        })
        .unwrap_err();
    assert!(refused.contains("does not verify"), "{refused}");
    let unsigned = copies
        .ingest(&SignedRecord {
            node: node.as_bytes(),
            leaf: Some(&0u64.to_be_bytes()),
            node_key: None,
            signature: None,
            payload: &payload,
            position: Position { partition: 0, offset: 0 },
        })
        .unwrap_err();
    assert!(unsigned.contains("not signed by a node"), "{unsigned}");
    assert_eq!(copies.size(&owner.address()), 0);
    assert!(copies.find(&format!("{:032x}", 0), None).is_empty());
    assert_eq!(copies.counters(), (3, 0));
    let unknown = copies.locate(&owner.address(), 0, &[]).unwrap_err();
    assert!(matches!(unknown, Refusal::Unknown(_)), "{unknown:?}");
}

#[test]
fn a_second_record_for_a_leaf_is_a_conflict_and_the_first_is_kept() {
    let (own, owner) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let mut copies = Copies::new(own.address());
    let events: Vec<Vec<u8>> = (0..2).map(event).collect();
    add(&mut copies, &owner, &owner, 0, &events[0]).unwrap();
    let refused = add(&mut copies, &owner, &owner, 0, &events[1]).unwrap_err();
    assert!(refused.contains("second, different record"), "{refused}");
    assert_eq!(copies.counters(), (1, 1));
    assert!(copies.find(&format!("{:032x}", 1), None).is_empty());
    let _ = copies.locate(&owner.address(), 0, &[anchor_of(&events[..1])]).unwrap();
}

#[test]
fn own_records_are_left_to_the_own_log() {
    let own = KeyPair::generate().unwrap();
    let mut copies = Copies::new(own.address());
    add(&mut copies, &own, &own, 0, &event(0)).unwrap();
    assert_eq!(copies.size(&own.address()), 0);
    assert!(copies.find(&format!("{:032x}", 0), None).is_empty());
}

#[test]
fn a_copy_that_lacks_leaves_or_differs_from_the_anchor_proves_nothing() {
    let (own, owner) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let mut copies = Copies::new(own.address());
    let events: Vec<Vec<u8>> = (0..4).map(event).collect();
    for leaf in [0, 1, 3] {
        add(&mut copies, &owner, &owner, leaf, &events[leaf as usize]).unwrap();
    }
    let owner_address = owner.address();
    // Leaf 2 has not arrived: the anchor of 4 cannot be used yet.
    let waiting = copies.locate(&owner_address, 1, &[anchor_of(&events)]).unwrap_err();
    assert!(matches!(&waiting, Refusal::NotYet(why) if why.contains("read 2")), "{waiting:?}");
    // Not anchored at all.
    let unanchored = copies.locate(&owner_address, 1, &[anchor_of(&events[..1])]).unwrap_err();
    assert!(
        matches!(&unanchored, Refusal::NotYet(why) if why.contains("not anchored")),
        "{unanchored:?}"
    );
    // An anchor of other bytes than the topic holds.
    let other: Vec<Vec<u8>> = (10..12).map(event).collect();
    let mismatch = copies.locate(&owner_address, 1, &[anchor_of(&other)]).unwrap_err();
    assert!(
        matches!(&mismatch, Refusal::Mismatch(why) if why.contains("do not match its anchor")),
        "{mismatch:?}"
    );
}
