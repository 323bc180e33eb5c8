//! Tests of `tlog-cosignature` v1 and quorum policies: the spec's example
//! line, checkpoints cosigned by torchwood (golden vectors), the signed
//! message byte for byte, round trips, quorums met and not met, tampering,
//! merging, the quorum file rules and arbitrary input.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_zebra::{Signature, VerificationKey};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;

/// The cosignature line of the example in `tlog-cosignature` v1.0.0
/// (<https://c2sp.org/tlog-cosignature>); its public key is not published.
const SPEC_COSIGNATURE_LINE: &str = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";

/// The note of the same example, with the log's signature and the cosignature.
const SPEC_NOTE: &str = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

/// The timestamp of the spec's example message (`time 1679315147`).
const SPEC_TIME: u64 = 1_679_315_147;

/// Verifier keys of a log (type 0x01) and three Ed25519 cosigners (type
/// 0x04) from the test data of `thesm-os/core`
/// (`tlog/checkpoint/testdata/policy.txt`), which torchwood v0.10.0 and
/// `golang.org/x/mod` v0.40.0 generated.
const TORCHWOOD_KEYS: [&str; 4] = [
    "example.com/log+bff03704+ASCnxbDygGa23JIkY9tjqisWYoqagOS63fcd9daLrTE7",
    "example.com/w1+a72856e1+BHjw7QAzt7GUhD5JnLF3XLaP6DpiJeWa9pnwQtbET3nu",
    "example.com/w2+d3a59932+BD+1Dyxs+Mvh3r33SEWPVGxtc66lJRcr2n3BT9H/ob6E",
    "example.com/w3+a20121ef+BMjDI6bhql0gNbDEQV4SB1Ep0SH3aZh4GLay7ZBO1CMm",
];

/// A checkpoint signed by the log and cosigned by the three cosigners, from
/// the same test data (`cosigned.txt`, without its ML-DSA-44 line).
const TORCHWOOD_NOTE: &str = "example.com/log\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
    \u{2014} example.com/log v/A3BO2uStYDdI9UMljsq3mM1p1zkCAfr3O/m7FSS/7rV0xpbU/D+gTkuS7BfUejcrDk8Pw3G6yiAoGnsoIXI8laqAw=\n\
    \u{2014} example.com/w1 pyhW4QAAAABqvnLat8ho08Kz255OYB7Vy/8NdAHlKq0tpL+LQ/+W3m2+ah53FZu1aOulmPJQLWQPp3b3rEd8kb4XOmrjIP8u8rqeBA==\n\
    \u{2014} example.com/w2 06WZMgAAAABqvnLade9rIRPZ3Egg6SDr+LQJN481TCxQ1msvM48JPJLUqMM9jxiBejwYSOTaTVDctQa/B80DEMn9xL+Np7nzg6qiDw==\n\
    \u{2014} example.com/w3 ogEh7wAAAABqvnLaPcIA/Kr45bkNY/BVMyG100G2Xkj8bXD5c2fZBe6nDwl/N4fYBJTTOJxXADPCSffzDqgFdKAjr0L9xmGRF5A0AA==\n";

/// A checkpoint with an extension line, signed by the log and cosigned by
/// the first cosigner, from the same test data (`extension.txt`).
const TORCHWOOD_EXTENSION_NOTE: &str = "example.com/log\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nan extension line\n\n\
    \u{2014} example.com/log v/A3BKMjmv3d7C6xPbd58TECfECK1q+BtKQiNdenVdvwpEn7y2la9SCtDdxvALHglFXvYGNWAvCf7jSj6g1RvNBOWAA=\n\
    \u{2014} example.com/w1 pyhW4QAAAABqvnLasqEFje9lXVOqbpGT8kMXrnXxC8/3zNGWkUUwS5UY6R7dHCn1tPLFbrs+B2TyAZqs8T2WK6X4+VcKNtetsSrLAg==\n";

/// The timestamp of every cosignature of the torchwood test data.
const TORCHWOOD_TIME: u64 = 1_790_866_138;

fn checkpoint() -> Checkpoint {
    Checkpoint {
        origin: "cairn.example/chain-1".to_owned(),
        size: 13,
        root: [7; 32],
        extensions: vec!["height 42".to_owned()],
    }
}

fn cosigner(name: &str, seed: u8) -> CosignatureSigner {
    CosignatureSigner::new(name, [seed; 32]).unwrap()
}

/// The log's note and three department cosigners, each cosigning at a
/// different time.
fn consortium() -> (NoteSigner, Vec<CosignatureSigner>, String) {
    let log = NoteSigner::new("cairn.example/chain-1", [1; 32]).unwrap();
    let members = vec![
        cosigner("dept-a.example", 11),
        cosigner("dept-b.example", 12),
        cosigner("dept-c.example", 13),
    ];
    let note = log.try_sign(&checkpoint()).unwrap();
    (log, members, note)
}

fn quorum_file(log: &NoteSigner, members: &[CosignatureSigner], k: usize) -> String {
    let mut text = format!("# Cairn consortium\nquorum {k}\n{}\n", log.verifier_key());
    for member in members {
        text.push_str(&member.verifier_key());
        text.push('\n');
    }
    text
}

/// A check of the kind of a quorum file error.
type ErrorCheck = fn(&NoteError) -> bool;

fn line_error(result: Result<Quorum, NoteError>) -> (usize, NoteError) {
    match result {
        Err(NoteError::TrustedKeyLine { line, source }) => (line, *source),
        other => panic!("expected a line error, got {other:?}"),
    }
}

#[test]
fn spec_example_line_decodes_as_specified() {
    // Parse the example's cosignature line: key ID, then the big-endian
    // timestamp that the spec's example message shows, then 64 bytes.
    let raw =
        STANDARD.decode(SPEC_COSIGNATURE_LINE.trim_end().rsplit(' ').next().unwrap()).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64);
    assert_eq!(u64::from_be_bytes(raw[4..12].try_into().unwrap()), SPEC_TIME);

    // Adding it to the example note gives the spec's two-line example, and
    // a quorum without the witness key ignores it.
    let note = add_signatures(SPEC_NOTE, SPEC_COSIGNATURE_LINE).unwrap();
    assert!(note.ends_with(SPEC_COSIGNATURE_LINE));
    let other = cosigner("witness.example.com/w1", 9);
    let quorum = Quorum::parse(&other.verifier_key()).unwrap();
    assert_eq!(
        open_checkpoint_with_quorum(&note, &quorum),
        Err(NoteError::QuorumNotMet { needed: 1, found: 0, members: 1, signed: vec![] })
    );
}

#[test]
fn golden_torchwood_cosignatures() {
    // The key IDs computed here match the ones torchwood wrote.
    let keys: Vec<TrustedKey> =
        TORCHWOOD_KEYS.iter().map(|k| TrustedKey::parse(k).unwrap()).collect();
    for (key, vkey) in keys.iter().zip(TORCHWOOD_KEYS) {
        assert_eq!(key.vkey(), vkey);
    }
    let TrustedKey::Cosignature(w1) = &keys[1] else { panic!("W1 is a cosigner key") };
    assert_eq!(cosignature_key_id(&w1.name, &w1.public_key), 0xa728_56e1);

    let all = Quorum::parse(&format!("quorum 4\n{}\n", TORCHWOOD_KEYS.join("\n"))).unwrap();
    let opened = open_checkpoint_with_quorum(TORCHWOOD_NOTE, &all).unwrap();
    assert_eq!(opened.checkpoint.origin, "example.com/log");
    assert_eq!(opened.checkpoint.size, 20_852_163);
    let cosigned = |name: &str| MemberSignature {
        member: name.to_owned(),
        signed: false,
        cosigned_at: Some(TORCHWOOD_TIME),
    };
    assert_eq!(
        opened.signers,
        vec![
            MemberSignature {
                member: "example.com/log".to_owned(),
                signed: true,
                cosigned_at: None
            },
            cosigned("example.com/w1"),
            cosigned("example.com/w2"),
            cosigned("example.com/w3"),
        ]
    );
    let witnesses =
        Quorum::parse(&format!("quorum 3\n{}\n", TORCHWOOD_KEYS[1..].join("\n"))).unwrap();
    assert_eq!(open_checkpoint_with_quorum(TORCHWOOD_NOTE, &witnesses).unwrap().signers.len(), 3);
    let log = NoteVerifier::parse(TORCHWOOD_KEYS[0]).unwrap();
    assert_eq!(open_checkpoint(TORCHWOOD_NOTE, &[log]).unwrap(), opened.checkpoint);

    // The cosignature over a checkpoint with an extension line signs it too.
    let opened = open_checkpoint_with_quorum(TORCHWOOD_EXTENSION_NOTE, &all);
    assert!(matches!(opened, Err(NoteError::QuorumNotMet { found: 2, .. })), "{opened:?}");
    let two = Quorum::parse(&format!("quorum 2\n{}\n{}\n", TORCHWOOD_KEYS[0], TORCHWOOD_KEYS[1]))
        .unwrap();
    let opened = open_checkpoint_with_quorum(TORCHWOOD_EXTENSION_NOTE, &two).unwrap();
    assert_eq!(opened.checkpoint.extensions, vec!["an extension line".to_owned()]);

    // Moving W1's cosignature to the other checkpoint breaks it.
    let w1_line = TORCHWOOD_NOTE.lines().find(|l| l.contains("example.com/w1")).unwrap();
    let moved = add_signatures(TORCHWOOD_EXTENSION_NOTE, &format!("{w1_line}\n")).unwrap();
    assert!(matches!(
        open_checkpoint_with_quorum(&moved, &two),
        Err(NoteError::InvalidSignature { name, .. }) if name == "example.com/w1"
    ));

    // Our cosigner reproduces torchwood's line format for its own key.
    let ours = cosigner("example.com/w1", 1);
    let line = ours.cosign(&opened.checkpoint, TORCHWOOD_TIME).unwrap();
    let raw = STANDARD.decode(line.trim_end().rsplit(' ').next().unwrap()).unwrap();
    assert_eq!(raw[4..12], TORCHWOOD_TIME.to_be_bytes());
}

#[test]
fn signed_message_and_key_id_byte_for_byte() {
    let body =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    assert_eq!(
        cosigned_message(SPEC_TIME, body),
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
    assert_eq!(cosigned_message(0, "x\n"), b"cosignature/v1\ntime 0\nx\n");

    let c = cosigner("witness.example.com/w1", 5);
    let mut preimage = b"witness.example.com/w1\n\x04".to_vec();
    preimage.extend_from_slice(&c.public_key());
    let digest = Sha256::digest(&preimage);
    let expected = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    assert_eq!(c.key_id(), expected);
    assert_eq!(cosignature_key_id(c.name(), &c.public_key()), expected);
    assert_ne!(c.key_id(), key_id(c.name(), &c.public_key()));

    // The line is key ID || timestamp || an RFC 8032 signature of the
    // message above, checked here with the bare Ed25519 verifier.
    let cp = checkpoint();
    let line = c.cosign(&cp, SPEC_TIME).unwrap();
    let prefix = format!("\u{2014} {} ", c.name());
    let encoded = line.strip_prefix(&prefix).unwrap().strip_suffix('\n').unwrap();
    let raw = STANDARD.decode(encoded).unwrap();
    assert_eq!(raw.len(), 76);
    assert_eq!(raw[..4], expected.to_be_bytes());
    assert_eq!(raw[4..12], SPEC_TIME.to_be_bytes());
    let signature = Signature::from_bytes(&raw[12..].try_into().unwrap());
    let key = VerificationKey::try_from(c.public_key()).unwrap();
    key.verify(&signature, &cosigned_message(SPEC_TIME, &cp.body())).unwrap();
    assert!(key.verify(&signature, cp.body().as_bytes()).is_err());
    // Ed25519 is deterministic: the same inputs give the same line.
    assert_eq!(c.cosign(&cp, SPEC_TIME).unwrap(), line);
}

#[test]
fn verifier_keys_round_trip_and_reject_wrong_types() {
    let c = cosigner("dept-a.example", 3);
    let vkey = c.verifier_key();
    let parsed = CosignatureVerifier::parse(&vkey).unwrap();
    assert_eq!(parsed, c.verifier());
    assert_eq!(parsed.vkey(), vkey);
    assert_eq!(STANDARD.decode(vkey.rsplit('+').next().unwrap()).unwrap()[0], 0x04);
    assert_eq!(CosignatureVerifier::from_public_key(c.name(), c.public_key()).unwrap(), parsed);
    assert_eq!(TrustedKey::parse(&vkey).unwrap(), TrustedKey::Cosignature(parsed));

    let note_key = NoteSigner::new("dept-a.example", [3; 32]).unwrap().verifier_key();
    assert_eq!(
        CosignatureVerifier::parse(&note_key),
        Err(NoteError::WrongSignatureType { found: 1, expected: 4 })
    );
    assert_eq!(NoteVerifier::parse(&vkey), Err(NoteError::UnsupportedSignatureType { found: 4 }));
    let other_type = format_typed_vkey("x", 0, 0x06, &[0; 32]);
    assert_eq!(
        TrustedKey::parse(&other_type),
        Err(NoteError::UnsupportedQuorumKeyType { found: 6 })
    );
    let wrong_id = vkey.replacen(&format!("{:08x}", c.key_id()), "00000000", 1);
    assert!(matches!(CosignatureVerifier::parse(&wrong_id), Err(NoteError::KeyIdMismatch { .. })));
    assert!(CosignatureSigner::new("bad name", [0; 32]).is_err());
    let debug = format!("{c:?}");
    assert!(debug.contains("dept-a.example") && !debug.contains("signing_key"), "{debug}");
}

#[test]
fn quorum_met_and_not_met() {
    let (log, members, note) = consortium();
    let quorum = Quorum::parse(&quorum_file(&log, &members, 3)).unwrap();
    assert_eq!(quorum.threshold(), 3);
    assert_eq!(quorum.members().len(), 4);
    assert_eq!(Quorum::parse(&quorum.format()).unwrap(), quorum);

    // Only the log's signature: 1 of 4, 3 needed.
    let err = open_checkpoint_with_quorum(&note, &quorum).unwrap_err();
    assert_eq!(
        err,
        NoteError::QuorumNotMet {
            needed: 3,
            found: 1,
            members: 4,
            signed: vec!["cairn.example/chain-1".to_owned()]
        }
    );
    assert_eq!(
        err.to_string(),
        "checkpoint is signed by 1 of 4 consortium member(s), 3 needed; signed by: [cairn.example/chain-1]"
    );

    let note = members[1].cosign_note(&note, 1_700_000_001).unwrap();
    assert!(matches!(
        open_checkpoint_with_quorum(&note, &quorum),
        Err(NoteError::QuorumNotMet { found: 2, .. })
    ));
    let note = members[0].cosign_note(&note, 1_700_000_000).unwrap();
    let opened = open_checkpoint_with_quorum(&note, &quorum).unwrap();
    assert_eq!(opened.checkpoint, checkpoint());
    let member = |name: &str, signed, cosigned_at| MemberSignature {
        member: name.to_owned(),
        signed,
        cosigned_at,
    };
    assert_eq!(
        opened.signers,
        vec![
            member("cairn.example/chain-1", true, None),
            member("dept-a.example", false, Some(1_700_000_000)),
            member("dept-b.example", false, Some(1_700_000_001)),
        ]
    );

    // Cosignatures alone meet a quorum of cosigners; the single-key API
    // still opens the note with the log's key and ignores cosignatures.
    let cosigners_only = Quorum::parse(&format!(
        "quorum 2\n{}\n{}\n",
        members[0].verifier_key(),
        members[1].verifier_key()
    ))
    .unwrap();
    assert_eq!(open_checkpoint_with_quorum(&note, &cosigners_only).unwrap().signers.len(), 2);
    assert_eq!(open_checkpoint(&note, &[log.verifier()]), Ok(checkpoint()));
}

#[test]
fn duplicates_from_one_member_count_once() {
    let (_, members, note) = consortium();
    let a = &members[0];
    // Member a holds a note key and a cosigner key with the same name and
    // public key: one member.
    let a_note = NoteSigner::new(a.name(), [11; 32]).unwrap();
    let file = format!(
        "quorum 2\n{}\n{}\n{}\n{}\n",
        a.verifier_key(),
        a_note.verifier_key(),
        a.verifier_key(),
        members[1].verifier_key()
    );
    let quorum = Quorum::parse(&file).unwrap();
    assert_eq!(quorum.members().len(), 2);
    assert_eq!(quorum.members()[0].keys.len(), 2);

    let signed_by_a = a_note.sign_note(&checkpoint().body()).unwrap();
    let note = merge_notes(&note, &signed_by_a).unwrap();
    let note = a.cosign_note(&note, 5).unwrap();
    let note = a.cosign_note(&note, 9).unwrap();
    // The same line twice is not added twice.
    assert_eq!(a.cosign_note(&note, 9).unwrap(), note);
    let err = open_checkpoint_with_quorum(&note, &quorum).unwrap_err();
    assert_eq!(
        err,
        NoteError::QuorumNotMet {
            needed: 2,
            found: 1,
            members: 2,
            signed: vec![a.name().to_owned()]
        }
    );
    let note = members[1].cosign_note(&note, 7).unwrap();
    let opened = open_checkpoint_with_quorum(&note, &quorum).unwrap();
    assert_eq!(opened.signers[0].member, a.name());
    assert!(opened.signers[0].signed);
    assert_eq!(opened.signers[0].cosigned_at, Some(9));
}

#[test]
fn tampered_or_misplaced_cosignatures_are_rejected() {
    let (log, members, note) = consortium();
    let quorum = Quorum::parse(&quorum_file(&log, &members, 2)).unwrap();
    let good = members[0].cosign_note(&note, 100).unwrap();
    assert!(open_checkpoint_with_quorum(&good, &quorum).is_ok());
    let line = good.lines().last().unwrap();
    let line_number = good.lines().count();

    // Flip each byte of the cosignature in turn (key ID, timestamp, signature).
    let prefix = format!("\u{2014} {} ", members[0].name());
    let raw = STANDARD.decode(line.strip_prefix(&prefix).unwrap()).unwrap();
    for i in 4..raw.len() {
        let mut bad = raw.clone();
        bad[i] ^= 0x01;
        let tampered = format!("{note}{prefix}{}\n", STANDARD.encode(&bad));
        let err = open_checkpoint_with_quorum(&tampered, &quorum).unwrap_err();
        assert!(
            matches!(err, NoteError::InvalidSignature { line, .. } if line == line_number),
            "byte {i}: {err:?}"
        );
    }
    // A changed key ID makes the line an unknown key's, which is ignored.
    let mut bad = raw.clone();
    bad[0] ^= 0x01;
    let unknown = format!("{note}{prefix}{}\n", STANDARD.encode(&bad));
    assert!(matches!(
        open_checkpoint_with_quorum(&unknown, &quorum),
        Err(NoteError::QuorumNotMet { found: 1, .. })
    ));

    // A cosignature of another checkpoint does not verify on this one.
    let mut other = checkpoint();
    other.size += 1;
    let foreign = members[0].cosign(&other, 100).unwrap();
    let moved = add_signatures(&note, &foreign).unwrap();
    assert!(matches!(
        open_checkpoint_with_quorum(&moved, &quorum),
        Err(NoteError::InvalidSignature { reason, .. }) if reason.contains("verification failed")
    ));

    // A timestamp over 2^63 - 1 is refused when signing and when verifying.
    assert_eq!(
        members[0].cosign(&checkpoint(), MAX_COSIGNATURE_TIMESTAMP + 1),
        Err(NoteError::InvalidTimestamp { timestamp: MAX_COSIGNATURE_TIMESTAMP + 1 })
    );
    assert!(members[0].cosign(&checkpoint(), MAX_COSIGNATURE_TIMESTAMP).is_ok());
    let mut late = raw.clone();
    late[4..12].copy_from_slice(&u64::MAX.to_be_bytes());
    let late = format!("{note}{prefix}{}\n", STANDARD.encode(&late));
    assert!(matches!(
        open_checkpoint_with_quorum(&late, &quorum),
        Err(NoteError::InvalidSignature { reason, .. }) if reason.contains("2^63")
    ));

    // Wrong lengths: a bare key ID is a malformed line; a partial
    // timestamp, no signature or a signature of the wrong length are bad
    // signatures.
    let bare = format!("{note}{prefix}{}\n", STANDARD.encode(&raw[..4]));
    assert!(matches!(
        open_checkpoint_with_quorum(&bare, &quorum),
        Err(NoteError::MalformedSignatureLine { .. })
    ));
    for len in [5, 11, 12, 75, 77] {
        let mut short = raw.clone();
        short.resize(len, 0);
        let short = format!("{note}{prefix}{}\n", STANDARD.encode(&short));
        assert!(
            matches!(
                open_checkpoint_with_quorum(&short, &quorum),
                Err(NoteError::InvalidSignature { .. })
            ),
            "{len}"
        );
    }

    // A cosignature under the note key type is a bad note signature: a
    // member listed with its 0x01 key signs the text itself.
    let member_note = NoteSigner::new(members[0].name(), [11; 32]).unwrap();
    let as_note_key = Quorum::parse(&member_note.verifier_key()).unwrap();
    let swapped = {
        let mut bytes = raw.clone();
        bytes[..4].copy_from_slice(&member_note.key_id().to_be_bytes());
        format!("{note}{prefix}{}\n", STANDARD.encode(&bytes))
    };
    assert!(matches!(
        open_checkpoint_with_quorum(&swapped, &as_note_key),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn merging_notes() {
    let (_, members, note) = consortium();
    let a = members[0].cosign_note(&note, 1).unwrap();
    let b = members[1].cosign_note(&note, 2).unwrap();
    let merged = merge_notes(&a, &b).unwrap();
    assert_eq!(merged.lines().filter(|l| l.starts_with('\u{2014}')).count(), 3);
    assert_eq!(merge_notes(&merged, &a).unwrap(), merged);
    assert_eq!(merge_notes(&merged, &merged).unwrap(), merged);

    let mut other = checkpoint();
    other.root = [8; 32];
    let other_note = NoteSigner::new("x", [1; 32]).unwrap().sign(&other);
    assert_eq!(merge_notes(&a, &other_note), Err(NoteError::TextMismatch));

    assert_eq!(add_signatures(&note, "no newline"), Err(NoteError::MissingFinalNewline));
    assert!(matches!(
        add_signatures(&note, "not a signature\n"),
        Err(NoteError::MalformedSignatureLine { line: 7, .. })
    ));
    assert!(matches!(
        add_signatures(&note, "\u{2014} a AAAA\tAA==\n"),
        Err(NoteError::ControlCharacter { .. })
    ));
    assert_eq!(add_signatures("text\n", "x\n"), Err(NoteError::MissingBlankLine));

    // At most MAX_SIGNATURES lines in the merged note.
    let mut full = note.clone();
    for seed in 0..MAX_SIGNATURES - 1 {
        let c = cosigner(&format!("c{seed}"), 1);
        full = c.cosign_note(&full, seed as u64).unwrap();
    }
    assert_eq!(full.lines().filter(|l| l.starts_with('\u{2014}')).count(), MAX_SIGNATURES);
    assert_eq!(
        members[2].cosign_note(&full, 1),
        Err(NoteError::TooManySignatures { count: MAX_SIGNATURES + 1, max: MAX_SIGNATURES })
    );

    // Oversize notes are refused before any parsing.
    let huge = format!("{}\n\n\u{2014} a AAAAAA==\n", "a".repeat(MAX_NOTE_SIZE));
    assert!(matches!(add_signatures(&huge, "x\n"), Err(NoteError::TooLarge { .. })));
    assert!(matches!(members[0].cosign_note(&huge, 1), Err(NoteError::TooLarge { .. })));
}

#[test]
fn quorum_file_rules() {
    let (log, members, _) = consortium();
    let keys = format!("{}\n{}\n", log.verifier_key(), members[0].verifier_key());

    // Today's trusted-keys files parse, with k = 1.
    let today = Quorum::parse(&format!("# keys\n\n  {}  \r\n", log.verifier_key())).unwrap();
    assert_eq!(today.threshold(), 1);
    assert_eq!(today.members()[0].keys, vec![TrustedKey::Note(log.verifier())]);
    assert_eq!(Quorum::parse(&keys).unwrap().threshold(), 1);
    assert_eq!(Quorum::parse(&format!("{keys}quorum 2\n")).unwrap().threshold(), 2);
    assert_eq!(Quorum::parse(&format!("  quorum   2  \n{keys}")).unwrap().threshold(), 2);

    let cases: Vec<(String, usize, ErrorCheck)> = vec![
        (format!("quorum 0\n{keys}"), 1, |e| matches!(e, NoteError::InvalidThreshold { .. })),
        (format!("{keys}quorum 3\n"), 3, |e| {
            matches!(e, NoteError::ThresholdTooLarge { threshold: 3, members: 2 })
        }),
        (format!("{keys}quorum\n"), 3, |e| matches!(e, NoteError::InvalidThreshold { .. })),
        (format!("{keys}quorum 01\n"), 3, |e| matches!(e, NoteError::InvalidThreshold { .. })),
        (format!("{keys}quorum -1\n"), 3, |e| matches!(e, NoteError::InvalidThreshold { .. })),
        (format!("{keys}quorum 1 2\n"), 3, |e| matches!(e, NoteError::InvalidThreshold { .. })),
        (format!("{keys}quorum 99999999999999999999999\n"), 3, |e| {
            matches!(e, NoteError::InvalidThreshold { reason: "is too large", .. })
        }),
        (format!("quorum 1\n{keys}quorum 1\n"), 4, |e| {
            matches!(e, NoteError::DuplicateQuorumDirective { first_line: 1 })
        }),
        (
            format!("{keys}threshold 1\n"),
            3,
            |e| matches!(e, NoteError::UnknownDirective { directive } if directive == "threshold"),
        ),
        (format!("{keys}not-a-key\n"), 3, |e| matches!(e, NoteError::UnknownDirective { .. })),
        (format!("{keys}a+00000000+AA==\n"), 3, |e| {
            matches!(e, NoteError::UnsupportedQuorumKeyType { found: 0 })
        }),
        (format!("#\n{keys}a+b+c\n"), 4, |e| matches!(e, NoteError::MalformedVerifierKey { .. })),
    ];
    for (text, line, check) in cases {
        let (found_line, error) = line_error(Quorum::parse(&text));
        assert_eq!(found_line, line, "{text:?}: {error}");
        assert!(check(&error), "{text:?}: {error:?}");
    }
    let err = Quorum::parse(&format!("{keys}quorum 3\n")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "trusted keys line 3: quorum threshold 3 exceeds the 2 member(s) the keys name"
    );

    assert_eq!(Quorum::parse(""), Err(NoteError::NoMembers));
    assert_eq!(Quorum::parse("# nothing\n"), Err(NoteError::NoMembers));
    assert_eq!(
        Quorum::parse("quorum 1\n"),
        Err(NoteError::TrustedKeyLine { line: 1, source: Box::new(NoteError::NoMembers) })
    );
    assert_eq!(
        Quorum::new(vec![TrustedKey::Note(log.verifier())], 2),
        Err(NoteError::ThresholdTooLarge { threshold: 2, members: 1 })
    );
    assert!(matches!(
        Quorum::new(vec![TrustedKey::Note(log.verifier())], 0),
        Err(NoteError::InvalidThreshold { .. })
    ));
    assert_eq!(Quorum::new(vec![], 1), Err(NoteError::NoMembers));

    // Two different keys under one name and key ID cannot be told apart.
    let impostor = NoteVerifier { public_key: members[0].public_key(), ..log.verifier() };
    assert_eq!(
        Quorum::new(vec![TrustedKey::Note(log.verifier()), TrustedKey::Note(impostor)], 1),
        Err(NoteError::AmbiguousKey { name: log.name().to_owned(), key_id: log.key_id() })
    );
}

#[test]
fn quorum_note_errors_are_errors() {
    let (log, members, note) = consortium();
    let quorum = Quorum::parse(&quorum_file(&log, &members, 1)).unwrap();
    let cases = [
        ("", NoteError::MissingFinalNewline),
        ("x\n", NoteError::MissingBlankLine),
        ("x\n\n", NoteError::NoSignatures),
    ];
    for (text, expected) in cases {
        assert_eq!(open_checkpoint_with_quorum(text, &quorum), Err(expected));
    }
    assert!(matches!(
        open_checkpoint_with_quorum(&format!("{note}garbage\n"), &quorum),
        Err(NoteError::MalformedSignatureLine { .. })
    ));
    // A note signed by the quorum whose text is not a checkpoint.
    let not_checkpoint = log.sign_note("hello\n").unwrap();
    assert_eq!(
        open_checkpoint_with_quorum(&not_checkpoint, &quorum),
        Err(NoteError::TooFewLines { found: 1 })
    );
    assert!(matches!(
        members[0].cosign_note(&not_checkpoint, 1),
        Err(NoteError::TooFewLines { .. })
    ));
    let mut invalid = checkpoint();
    invalid.origin = String::new();
    assert_eq!(members[0].cosign(&invalid, 1), Err(NoteError::EmptyOrigin));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cosign_round_trips(
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        seed in any::<[u8; 32]>(),
        timestamp in 0..=MAX_COSIGNATURE_TIMESTAMP,
    ) {
        let cp = Checkpoint { origin: "prop.example/log".to_owned(), size, root, extensions: vec![] };
        let log = NoteSigner::new("prop.example/log", [1; 32]).unwrap();
        let c = CosignatureSigner::new("prop.example/witness", seed).unwrap();
        let note = c.cosign_note(&log.sign(&cp), timestamp).unwrap();
        let quorum = Quorum::parse(&format!("quorum 2\n{}\n{}\n", log.verifier_key(), c.verifier_key())).unwrap();
        let opened = open_checkpoint_with_quorum(&note, &quorum).unwrap();
        prop_assert_eq!(opened.checkpoint, cp);
        prop_assert_eq!(opened.signers[1].cosigned_at, Some(timestamp));
    }

    #[test]
    fn arbitrary_input_never_panics(text in "(?s).{0,300}", other in "(?s).{0,100}", bytes in any::<Vec<u8>>()) {
        let quorum = Quorum::parse(&cosigner("x", 1).verifier_key()).unwrap();
        let lossy = String::from_utf8_lossy(&bytes);
        for input in [text.as_str(), lossy.as_ref()] {
            let _ = Quorum::parse(input);
            let _ = TrustedKey::parse(input);
            let _ = CosignatureVerifier::parse(input);
            let _ = open_checkpoint_with_quorum(input, &quorum);
            let _ = add_signatures(input, &other);
            let _ = merge_notes(input, &other);
            let _ = cosigner("x", 1).cosign_note(input, 0);
        }
        let with_lines = format!("a\n\n{text}");
        let _ = open_checkpoint_with_quorum(&with_lines, &quorum);
        let _ = Quorum::parse(&format!("quorum {other}\n{}\n", cosigner("x", 1).verifier_key()));
    }
}
