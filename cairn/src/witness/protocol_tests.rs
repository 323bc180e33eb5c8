//! Tests of the `add-checkpoint` protocol: parsing, every refusal the spec
//! names, and the record a cosigned request leaves.

use anchor_chaincode::checkpoint::{
    Checkpoint, CosignatureSigner, NoteSigner, Quorum, TrustedKey, add_signatures,
    open_checkpoint_with_quorum,
};
use anchor_chaincode::merkle::{MerkleLog, leaf_hash};

use super::*;

const ORIGIN: &str = "cairn.test/chain-1";

struct Fixture {
    log: MerkleLog,
    log_signer: NoteSigner,
    witness: Witness,
    records: Records,
}

fn fixture() -> Fixture {
    let log_signer = NoteSigner::new(ORIGIN, [7; 32]).expect("log signer");
    let cosigner = CosignatureSigner::new("witness.test", [9; 32]).expect("cosigner");
    let witness = Witness::new(cosigner, vec![log_signer.verifier()]);
    Fixture { log: MerkleLog::new(), log_signer, witness, records: Records::new() }
}

impl Fixture {
    fn grow_to(&mut self, size: u64) {
        while self.log.size() < size {
            let n = self.log.size();
            let _ = self.log.push(leaf_hash(&n.to_be_bytes()));
        }
    }

    fn note(&self, size: u64) -> String {
        let root = self.log.root_at(size).expect("root");
        self.log_signer.sign(&Checkpoint { origin: ORIGIN.into(), size, root, extensions: vec![] })
    }

    fn request(&self, old_size: u64, size: u64) -> AddCheckpoint {
        let proof = if old_size == 0 {
            vec![]
        } else {
            self.log.consistency_proof(old_size, size).expect("proof")
        };
        AddCheckpoint { old_size, proof, note: self.note(size) }
    }

    /// Sends `request` and keeps the record on success, as the server does.
    fn add(&mut self, request: &AddCheckpoint) -> Result<Cosigned, Refusal> {
        let parsed = AddCheckpoint::parse(request.body().as_bytes())?;
        let cosigned = self.witness.add_checkpoint(&parsed, &self.records, 1_700_000_000)?;
        let _ = self.records.insert(cosigned.origin.clone(), cosigned.record.clone());
        Ok(cosigned)
    }
}

#[test]
fn a_good_request_is_cosigned_and_the_line_verifies_as_a_quorum_member() {
    let mut f = fixture();
    f.grow_to(5);
    let request = f.request(0, 5);
    let cosigned = f.add(&request).expect("cosigned");
    assert_eq!(cosigned.record.size, 5);
    assert!(cosigned.lines.starts_with("— witness.test "));
    let note = add_signatures(&request.note, &cosigned.lines).expect("merged");
    let quorum =
        Quorum::new(vec![TrustedKey::parse(&f.witness.verifier_key()).expect("witness key")], 1)
            .expect("quorum");
    let opened = open_checkpoint_with_quorum(&note, &quorum).expect("verifies");
    assert_eq!(opened.signers.len(), 1);

    // Growing on from there with a proof from 5.
    f.grow_to(12);
    let next = f.request(5, 12);
    assert_eq!(f.add(&next).expect("cosigned").record.size, 12);
    // The same checkpoint again is cosigned again.
    let again = f.request(12, 12);
    assert_eq!(f.add(&again).expect("cosigned").record.size, 12);
}

#[test]
fn a_wrong_old_size_is_a_conflict_that_names_the_current_size() {
    let mut f = fixture();
    f.grow_to(9);
    let _ = f.add(&f.request(0, 4)).expect("cosigned");
    let refusal = f.add(&f.request(0, 9)).expect_err("old 0 is stale");
    assert_eq!(refusal, Refusal::OldSizeMismatch { size: 4 });
    assert_eq!(refusal.status(), 409);
    assert_eq!(refusal.answer(), (SIZE_CONTENT_TYPE, "4\n".to_owned()));
    let refusal = f.add(&f.request(3, 9)).expect_err("old 3 is wrong too");
    assert_eq!(refusal.status(), 409);
    // A smaller checkpoint than the record (a rollback) is refused.
    let rollback = AddCheckpoint { old_size: 4, proof: vec![], note: f.note(3) };
    let refusal = f.add(&rollback).expect_err("old above size");
    assert_eq!(refusal.status(), 400);
}

#[test]
fn a_bad_proof_is_unprocessable() {
    let mut f = fixture();
    f.grow_to(10);
    let _ = f.add(&f.request(0, 3)).expect("cosigned");
    let mut request = f.request(3, 10);
    request.proof[0][0] ^= 1;
    assert_eq!(f.add(&request).expect_err("bad proof").status(), 422);
    request.proof.clear();
    assert_eq!(f.add(&request).expect_err("no proof").status(), 422);
    // From size 0 the proof must be empty.
    let mut f = fixture();
    f.grow_to(4);
    let mut request = f.request(0, 4);
    request.proof.push([0; 32]);
    assert_eq!(f.add(&request).expect_err("proof from 0").status(), 422);
}

#[test]
fn a_note_not_signed_by_the_log_key_is_forbidden_and_an_unknown_log_not_found() {
    let mut f = fixture();
    f.grow_to(4);
    let root = f.log.root();
    let checkpoint = Checkpoint { origin: ORIGIN.into(), size: 4, root, extensions: vec![] };
    let impostor = NoteSigner::new(ORIGIN, [8; 32]).expect("impostor");
    let request = AddCheckpoint { old_size: 0, proof: vec![], note: impostor.sign(&checkpoint) };
    assert_eq!(f.add(&request).expect_err("wrong key").status(), 403);
    // A tampered signature by the trusted key is forbidden too.
    let mut note = f.note(4);
    let last = note.len() - 3;
    note.replace_range(last..last + 1, if &note[last..=last] == "A" { "B" } else { "A" });
    let request = AddCheckpoint { old_size: 0, proof: vec![], note };
    assert_eq!(f.add(&request).expect_err("tampered").status(), 403);
    let other = NoteSigner::new("other.test/log", [7; 32]).expect("other");
    let note = other.sign(&Checkpoint { origin: "other.test/log".into(), ..checkpoint });
    let request = AddCheckpoint { old_size: 0, proof: vec![], note };
    assert_eq!(f.add(&request).expect_err("unknown").status(), 404);
    assert!(f.records.is_empty());
}

#[test]
fn another_root_for_the_cosigned_size_is_a_split_view() {
    let mut f = fixture();
    f.grow_to(6);
    let _ = f.add(&f.request(0, 6)).expect("cosigned");
    let forged = f.log_signer.sign(&Checkpoint {
        origin: ORIGIN.into(),
        size: 6,
        root: [0xAB; 32],
        extensions: vec![],
    });
    let refusal =
        f.add(&AddCheckpoint { old_size: 6, proof: vec![], note: forged }).expect_err("split view");
    assert!(matches!(refusal, Refusal::RootMismatch { size: 6, .. }), "{refusal:?}");
    assert_eq!(refusal.status(), 409);
    assert_eq!(f.records[ORIGIN].size, 6);
    assert_eq!(f.records[ORIGIN].root, hex::encode(f.log.root_at(6).expect("root")));
}

#[test]
fn malformed_bodies_are_bad_requests() {
    for body in [
        &b""[..],
        b"old 01\n\n",
        b"old -1\n\n",
        b"old 1",
        b"new 1\n\n",
        b"old 1\nnot base64!\n\nx",
        b"old 1\nAAAA\n\nx",
        b"old 1\nAAAA",
        b"\xff\xfe",
    ] {
        let refusal = AddCheckpoint::parse(body).expect_err("malformed");
        assert_eq!(refusal.status(), 400, "{body:?}");
    }
    let mut body = "old 1\n".to_owned();
    for _ in 0..64 {
        body.push_str(&STANDARD.encode([0u8; 32]));
        body.push('\n');
    }
    body.push_str("\nnote");
    assert_eq!(AddCheckpoint::parse(body.as_bytes()).expect_err("64 lines").status(), 400);
    // A well-formed body whose note is garbage is refused, not a panic.
    let f = fixture();
    let request = AddCheckpoint::parse(b"old 0\n\n").expect("parses");
    assert_eq!(
        f.witness.add_checkpoint(&request, &f.records, 0).expect_err("no note").status(),
        400
    );
    let request = AddCheckpoint::parse(format!("old 0\n\n{ORIGIN}\n").as_bytes()).expect("parses");
    assert_eq!(
        f.witness.add_checkpoint(&request, &f.records, 0).expect_err("unsigned").status(),
        403
    );
}

#[test]
fn the_request_body_round_trips() {
    let mut f = fixture();
    f.grow_to(7);
    let request = f.request(3, 7);
    assert_eq!(AddCheckpoint::parse(request.body().as_bytes()).expect("parses"), request);
}
