//! Checkpoints checked against consortium quorums: cosignatures by k of n
//! members, too few of them, a tampered one, and a plain trusted-keys file.

use anchor_chaincode::checkpoint::{
    Checkpoint, CosignatureSigner, NoteSigner, Quorum, add_signatures,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::proof::{INCLUSION_KIND, InclusionFile, check_proof_file};
use super::{Check, Report};

const ORIGIN: &str = "example.org/log";
const NOW: u64 = 1_764_787_200;

fn log() -> NoteSigner {
    NoteSigner::new(ORIGIN, [9; 32]).unwrap()
}

fn members() -> Vec<CosignatureSigner> {
    ["dept-a", "dept-b", "dept-c"]
        .iter()
        .zip(1u8..)
        .map(|(name, seed)| CosignatureSigner::new(name, [seed; 32]).unwrap())
        .collect()
}

/// `quorum 2` of the three departments' cosigner keys.
fn consortium() -> Quorum {
    let mut file = String::from("# the departments\nquorum 2\n");
    for member in members() {
        file.push_str(&member.verifier_key());
        file.push('\n');
    }
    Quorum::parse(&file).unwrap()
}

fn checkpoint() -> Checkpoint {
    Checkpoint { origin: ORIGIN.into(), size: 4, root: [1; 32], extensions: vec![] }
}

/// The log's note with the cosignatures of the first `count` departments.
fn cosigned(count: usize) -> String {
    let mut note = log().sign(&checkpoint());
    for (i, member) in members().iter().take(count).enumerate() {
        let line = member.cosign(&checkpoint(), NOW + i as u64).unwrap();
        note = add_signatures(&note, &line).unwrap();
    }
    note
}

/// Checks an inclusion file (for another size, so the proof fails later)
/// against `note`, and answers the checkpoint check.
fn check(note: &str, quorum: &Quorum) -> (Check, Report) {
    let file = InclusionFile {
        kind: INCLUSION_KIND.into(),
        tx_id: String::new(),
        leaf_index: 0,
        tree_size: 3,
        leaf: String::new(),
        hashes: vec![],
        checkpoint: note.into(),
    };
    let report = check_proof_file(&serde_json::to_string(&file).unwrap(), note, quorum);
    (report.checks[0].clone(), report)
}

#[test]
fn two_of_three_cosignatures_meet_a_quorum_of_two() {
    let (first, report) = check(&cosigned(2), &consortium());
    assert_eq!(first.name, "checkpoint signature");
    assert!(first.passed, "{}", first.detail);
    assert!(
        first.detail.contains(
            "signed by 2 of 3 (quorum 2): dept-a (cosigned 2025-12-03T18:40:00Z), dept-b"
        ),
        "{}",
        first.detail
    );
    let signatures = report.signatures().unwrap();
    assert_eq!((signatures.quorum, signatures.members), (2, 3));
    let signers: Vec<_> =
        signatures.signers.iter().map(|s| (s.member.as_str(), s.signed, s.cosigned_at)).collect();
    assert_eq!(signers, [("dept-a", false, Some(NOW)), ("dept-b", false, Some(NOW + 1))]);
    let json = serde_json::to_value(&first).unwrap();
    assert_eq!(json["signatures"]["signers"][1]["cosigned_at"], NOW + 1);
}

#[test]
fn one_of_three_cosignatures_is_below_a_quorum_of_two() {
    let (first, report) = check(&cosigned(1), &consortium());
    assert!(!first.passed);
    assert_eq!(report.checks.len(), 1, "nothing is checked against an unaccepted checkpoint");
    assert!(first.detail.contains("signed by 1 of 3"), "{}", first.detail);
    assert!(first.detail.contains("2 needed"), "{}", first.detail);
    assert!(first.detail.contains("[dept-a]"), "{}", first.detail);
    assert_eq!(report.signatures(), None);
}

#[test]
fn a_tampered_cosignature_fails_even_with_a_quorum_of_others() {
    let note = cosigned(3);
    let line = note.lines().find(|l| l.starts_with("— dept-b ")).unwrap();
    let mut raw = STANDARD.decode(&line["— dept-b ".len()..]).unwrap();
    raw[20] ^= 1;
    let tampered = note.replace(line, &format!("— dept-b {}", STANDARD.encode(raw)));
    let (first, _) = check(&tampered, &consortium());
    assert!(!first.passed);
    assert!(first.detail.contains("dept-b"), "{}", first.detail);
    // Its timestamp is signed too.
    let mut raw = STANDARD.decode(&line["— dept-b ".len()..]).unwrap();
    raw[11] ^= 1;
    let retimed = note.replace(line, &format!("— dept-b {}", STANDARD.encode(raw)));
    assert!(!check(&retimed, &consortium()).0.passed);
}

#[test]
fn an_old_style_trusted_keys_file_is_a_quorum_of_one() {
    let quorum = Quorum::parse(&format!("# the node\n{}\n", log().verifier_key())).unwrap();
    assert_eq!(quorum.threshold(), 1);
    let (first, report) = check(&cosigned(2), &quorum);
    assert!(first.passed, "{}", first.detail);
    assert!(
        first.detail.ends_with("signed by 1 of 1 (quorum 1): example.org/log"),
        "{}",
        first.detail
    );
    let signer = &report.signatures().unwrap().signers[0];
    assert!(signer.signed);
    assert_eq!(signer.cosigned_at, None);
    // The same note against a key it does not carry fails, naming 0 of 1.
    let other = NoteSigner::new(ORIGIN, [7; 32]).unwrap();
    let (first, _) = check(&cosigned(0), &Quorum::single(other.verifier()));
    assert!(!first.passed);
    assert!(first.detail.contains("signed by 0 of 1"), "{}", first.detail);
}
