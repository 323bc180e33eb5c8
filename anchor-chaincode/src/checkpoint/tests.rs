//! Tests of signed checkpoints: golden notes from Go's `sumdb/note`, round
//! trips, tampering and the strict parsing rules.

use ed25519_zebra::VerificationKey;

use super::*;
use crate::merkle::{MerkleLog, leaf_hash};
use proptest::prelude::*;

/// The example verifier key from the documentation of Go's
/// `golang.org/x/mod/sumdb/note` package.
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

/// The matching signer key from the same documentation; its base64 part is
/// `0x01 || 32-byte Ed25519 seed`.
const GO_SKEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";

/// The example note text from the same documentation.
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";

/// The example signed note from the same documentation.
const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
    then you don't know what your problem is.\n\
    \n\
    \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

/// The second signature line of the documentation's doubly-signed example,
/// by a key whose verifier key is not published.
const GO_ENOCH_LINE: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn signer(name: &str, seed: u8) -> NoteSigner {
    NoteSigner::new(name, [seed; 32]).unwrap()
}

fn checkpoint() -> Checkpoint {
    let mut log = MerkleLog::new();
    for i in 0..13u32 {
        log.push(leaf_hash(&i.to_be_bytes()));
    }
    Checkpoint {
        origin: "cairn.example/chain-1".to_owned(),
        size: log.size(),
        root: log.root(),
        extensions: vec!["height 42".to_owned(), "ext ✓ two".to_owned()],
    }
}

/// Appends `signer`'s signature line for the note's text to the note.
fn cosign(note: &str, signer: &NoteSigner) -> String {
    let split = note.rfind("\n\n").unwrap();
    format!("{note}{}", signer.signature_line(&note[..=split]))
}

fn go_seed() -> [u8; 32] {
    // The base64 part may itself contain '+', so split off exactly four fields.
    let encoded = GO_SKEY.splitn(5, '+').nth(4).unwrap();
    let raw = STANDARD.decode(encoded).unwrap();
    assert_eq!(raw[0], ED25519_SIGNATURE_TYPE);
    raw[1..].try_into().unwrap()
}

#[test]
fn round_trip() {
    let log_signer = signer("cairn.example/chain-1", 7);
    let cp = checkpoint();
    let note = log_signer.sign(&cp);
    assert_eq!(note, log_signer.try_sign(&cp).unwrap());
    assert!(note.starts_with(&cp.body()));
    assert_eq!(Checkpoint::parse_body(&cp.body()).unwrap(), cp);

    let vkey = log_signer.verifier_key();
    let verifier = NoteVerifier::parse(&vkey).unwrap();
    assert_eq!(verifier, log_signer.verifier());
    assert_eq!(verifier.vkey(), vkey);
    assert_eq!(verifier.key_id, log_signer.key_id());
    assert_eq!(verifier.key_id, key_id(log_signer.name(), &log_signer.public_key()));
    assert_eq!(
        NoteVerifier::from_public_key(log_signer.name(), log_signer.public_key()).unwrap(),
        verifier
    );
    assert!(vkey.starts_with(&format!("cairn.example/chain-1+{:08x}+A", log_signer.key_id())));

    assert_eq!(open_checkpoint(&note, std::slice::from_ref(&verifier)).unwrap(), cp);
    assert_eq!(open_note(&note, std::slice::from_ref(&verifier)).unwrap(), cp.body());

    // An empty log and a log without extensions round-trip as well.
    let empty = Checkpoint {
        origin: "o".to_owned(),
        size: 0,
        root: crate::merkle::empty_root(),
        extensions: Vec::new(),
    };
    assert_eq!(empty.body(), "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
    assert_eq!(open_checkpoint(&log_signer.sign(&empty), &[verifier]).unwrap(), empty);
}

#[test]
fn golden_go_note() {
    let verifier = NoteVerifier::parse(GO_VKEY).unwrap();
    assert_eq!(verifier.name, "PeterNeumann");
    assert_eq!(verifier.key_id, 0xc74f20a3);
    assert_eq!(verifier.vkey(), GO_VKEY);
    let trusted = [verifier.clone()];
    assert_eq!(open_note(GO_NOTE, &trusted).unwrap(), GO_TEXT);

    // Ed25519 is deterministic, so our signer reproduces Go's note exactly.
    let go_signer = NoteSigner::new("PeterNeumann", go_seed()).unwrap();
    assert_eq!(go_signer.key_id(), 0xc74f20a3);
    assert_eq!(go_signer.verifier_key(), GO_VKEY);
    assert_eq!(go_signer.sign_note(GO_TEXT).unwrap(), GO_NOTE);

    // The doubly-signed example opens; the EnochRoot signature is unknown
    // and ignored, wherever it appears.
    let doubly = format!("{GO_NOTE}{GO_ENOCH_LINE}");
    assert_eq!(open_note(&doubly, &trusted).unwrap(), GO_TEXT);
    let reordered = format!("{GO_TEXT}\n{GO_ENOCH_LINE}{}", &GO_NOTE[GO_TEXT.len() + 1..]);
    assert_eq!(open_note(&reordered, &trusted).unwrap(), GO_TEXT);
    assert_eq!(
        open_note(&format!("{GO_TEXT}\n{GO_ENOCH_LINE}"), &trusted),
        Err(NoteError::NoTrustedSignature { signatures: 1 })
    );

    // A one-letter change to the text breaks the signature.
    let tampered = GO_NOTE.replace("cryptography", "cryptographY");
    assert!(matches!(
        open_note(&tampered, &trusted),
        Err(NoteError::InvalidSignature { line: 4, key_id: 0xc74f20a3, .. })
    ));
    // The note is not a checkpoint.
    assert_eq!(open_checkpoint(GO_NOTE, &trusted), Err(NoteError::TooFewLines { found: 2 }));
}

#[test]
fn every_single_byte_change_is_caught() {
    let trusted_signer = signer("cairn.example/chain-1", 1);
    let other_signer = signer("witness.example/w1", 2);
    let cp = checkpoint();
    let note = cosign(&trusted_signer.sign(&cp), &other_signer);
    let trusted = [trusted_signer.verifier()];
    assert_eq!(open_checkpoint(&note, &trusted).unwrap(), cp);

    // Bytes from here on belong to the untrusted signature line.
    let untrusted_start = note.rfind('\u{2014}').unwrap();
    let bytes = note.as_bytes();
    let mut checked = 0;
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x02, 0x20, 0x40, 0x80] {
            let mut changed = bytes.to_vec();
            changed[i] ^= mask;
            // Bytes that are not UTF-8 never reach the parser.
            let Ok(changed) = String::from_utf8(changed) else {
                continue;
            };
            checked += 1;
            let result = open_checkpoint(&changed, &trusted);
            if i >= untrusted_start {
                assert!(
                    result.is_err() || result.as_ref() == Ok(&cp),
                    "byte {i} ^ {mask:#04x} gave {result:?}"
                );
            } else {
                assert!(result.is_err(), "byte {i} ^ {mask:#04x} was accepted");
            }
        }
    }
    assert!(checked > bytes.len() * 3);
}

#[test]
fn trust_rules() {
    let log_signer = signer("cairn.example/chain-1", 1);
    let stranger = signer("cairn.example/chain-1", 9);
    let cp = checkpoint();
    let note = log_signer.sign(&cp);

    // No trusted keys, or only other keys: rejected.
    assert_eq!(open_checkpoint(&note, &[]), Err(NoteError::NoTrustedSignature { signatures: 1 }));
    let only_stranger = [stranger.verifier()];
    assert_eq!(
        open_checkpoint(&note, &only_stranger),
        Err(NoteError::NoTrustedSignature { signatures: 1 })
    );
    assert_eq!(
        open_checkpoint(&stranger.sign(&cp), &[log_signer.verifier()]),
        Err(NoteError::NoTrustedSignature { signatures: 1 })
    );

    // Same name and key ID but another public key: the signature is checked and fails.
    let impostor = NoteVerifier { public_key: stranger.public_key(), ..log_signer.verifier() };
    assert!(matches!(
        open_checkpoint(&note, std::slice::from_ref(&impostor)),
        Err(NoteError::InvalidSignature { line: 7, .. })
    ));
    // Two different keys under one name and key ID are ambiguous.
    assert_eq!(
        open_checkpoint(&note, &[log_signer.verifier(), impostor]),
        Err(NoteError::AmbiguousKey {
            name: log_signer.name().to_owned(),
            key_id: log_signer.key_id()
        })
    );
    // Listing the same key twice is harmless.
    assert_eq!(
        open_checkpoint(&note, &[log_signer.verifier(), log_signer.verifier()]).unwrap(),
        cp
    );

    // Two trusted signers: both are checked.
    let witness = signer("witness.example/w1", 3);
    let both = [log_signer.verifier(), witness.verifier()];
    let cosigned = cosign(&note, &witness);
    assert_eq!(open_checkpoint(&cosigned, &both).unwrap(), cp);
    let other_cp = Checkpoint { size: cp.size + 1, ..cp.clone() };
    let bad_witness_line = &witness.sign(&other_cp)[other_cp.body().len() + 1..];
    let with_bad_witness = format!("{note}{bad_witness_line}");
    assert!(matches!(
        open_checkpoint(&with_bad_witness, &both),
        Err(NoteError::InvalidSignature { line: 8, ref name, .. }) if name == "witness.example/w1"
    ));
    // The same bad line is ignored when the witness is not trusted.
    assert_eq!(open_checkpoint(&with_bad_witness, &[log_signer.verifier()]).unwrap(), cp);

    // A trusted key's signature of the wrong length is invalid; an
    // unknown key's is ignored.
    let mut short = log_signer.key_id().to_be_bytes().to_vec();
    short.extend_from_slice(&[0; 63]);
    let short_line = format!("\u{2014} {} {}\n", log_signer.name(), STANDARD.encode(&short));
    assert!(matches!(
        open_checkpoint(&format!("{note}{short_line}"), &[log_signer.verifier()]),
        Err(NoteError::InvalidSignature { line: 8, ref reason, .. }) if reason.contains("63 bytes")
    ));
    assert_eq!(
        open_checkpoint(&format!("{note}{short_line}"), &only_stranger).map(|_| ()),
        Err(NoteError::NoTrustedSignature { signatures: 2 })
    );
}

#[test]
fn body_parse_errors() {
    let root = STANDARD.encode([7u8; 32]);
    let body = |size: &str| format!("origin\n{size}\n{root}\n");
    assert_eq!(Checkpoint::parse_body(&body("0")).unwrap().size, 0);
    assert_eq!(Checkpoint::parse_body(&body("18446744073709551615")).unwrap().size, u64::MAX);
    for size in [
        "",
        "00",
        "01",
        "+1",
        "-1",
        " 1",
        "1 ",
        "1_000",
        "0x10",
        "1e3",
        "18446744073709551616",
        "١",
    ] {
        assert_eq!(
            Checkpoint::parse_body(&body(size)),
            Err(NoteError::InvalidTreeSize { text: size.to_owned() }),
            "size {size:?}"
        );
    }

    let with_root = |root: &str| Checkpoint::parse_body(&format!("origin\n5\n{root}\n"));
    for bad in
        ["not base64!", &root[..43], &format!("{root}="), &format!("={root}"), &format!(" {root}")]
    {
        assert!(
            matches!(with_root(bad), Err(NoteError::InvalidRootHashEncoding { .. })),
            "root {bad:?}: {:?}",
            with_root(bad)
        );
    }
    // Non-zero padding bits make the encoding non-canonical.
    let last = root.as_bytes()[42];
    let non_canonical =
        format!("{}{}=", &root[..42], char::from(if last == b'A' { b'B' } else { last ^ 1 }));
    assert!(matches!(with_root(&non_canonical), Err(NoteError::InvalidRootHashEncoding { .. })));
    // URL-safe alphabet is not standard base64.
    let url_safe = STANDARD.encode([0xfbu8; 32]).replace('+', "-").replace('/', "_");
    assert!(matches!(with_root(&url_safe), Err(NoteError::InvalidRootHashEncoding { .. })));
    assert_eq!(with_root(""), Err(NoteError::RootHashLength { len: 0 }));
    assert_eq!(with_root(&STANDARD.encode([1u8; 31])), Err(NoteError::RootHashLength { len: 31 }));
    assert_eq!(with_root(&STANDARD.encode([1u8; 33])), Err(NoteError::RootHashLength { len: 33 }));

    let good = body("5");
    assert_eq!(
        Checkpoint::parse_body(good.trim_end_matches('\n')),
        Err(NoteError::MissingFinalNewline)
    );
    assert_eq!(Checkpoint::parse_body(""), Err(NoteError::MissingFinalNewline));
    assert_eq!(Checkpoint::parse_body("\n"), Err(NoteError::TooFewLines { found: 1 }));
    assert_eq!(Checkpoint::parse_body("origin\n5\n"), Err(NoteError::TooFewLines { found: 2 }));
    assert_eq!(Checkpoint::parse_body(&format!("\n5\n{root}\n")), Err(NoteError::EmptyOrigin));
    assert_eq!(
        Checkpoint::parse_body(&format!("{good}ext\n\nmore\n")),
        Err(NoteError::EmptyExtensionLine { line: 5 })
    );
    assert_eq!(
        Checkpoint::parse_body(&format!("{good}\n")),
        Err(NoteError::EmptyExtensionLine { line: 4 })
    );
    for (text, line, code) in [
        (format!("ori\rgin\n5\n{root}\n"), 1, 0x0d),
        (format!("origin\n5\t\n{root}\n"), 2, 0x09),
        (format!("origin\n5\n{root}\r\n"), 3, 0x0d),
        (format!("{good}e\u{0}xt\n"), 4, 0x00),
        (format!("{good}ext\u{7f}\n"), 4, 0x7f),
        (format!("{good}ok\next\u{85}\n"), 5, 0x85),
    ] {
        assert_eq!(Checkpoint::parse_body(&text), Err(NoteError::ControlCharacter { line, code }));
    }
    let huge = format!("{good}{}\n", "x".repeat(MAX_NOTE_SIZE));
    assert_eq!(
        Checkpoint::parse_body(&huge),
        Err(NoteError::TooLarge { size: huge.len(), max: MAX_NOTE_SIZE })
    );

    // Error messages name what is wrong.
    assert_eq!(
        Checkpoint::parse_body(&body("01")).unwrap_err().to_string(),
        "tree size \"01\" is not a decimal number without sign or leading zeros below 2^64"
    );
    assert_eq!(
        Checkpoint::parse_body(&format!("{good}e\u{0}xt\n")).unwrap_err().to_string(),
        "line 4 contains the control character U+0000"
    );
}

#[test]
fn note_parse_errors() {
    let log_signer = signer("cairn.example/chain-1", 1);
    let trusted = [log_signer.verifier()];
    let cp = checkpoint();
    let note = log_signer.sign(&cp);
    let body = cp.body();
    let line = &note[body.len() + 1..];

    assert_eq!(
        open_checkpoint(note.trim_end_matches('\n'), &trusted),
        Err(NoteError::MissingFinalNewline)
    );
    assert_eq!(
        open_checkpoint(&format!("{body}{line}"), &trusted),
        Err(NoteError::MissingBlankLine)
    );
    assert_eq!(open_checkpoint(&format!("{body}\n"), &trusted), Err(NoteError::NoSignatures));
    assert_eq!(open_checkpoint(&format!("{note}\n"), &trusted), Err(NoteError::NoSignatures));
    assert_eq!(
        open_checkpoint(&note.replace('\n', "\r\n"), &trusted),
        Err(NoteError::ControlCharacter { line: 1, code: 0x0d })
    );
    assert_eq!(
        open_checkpoint(&format!("{note}\u{2014} a\tb AAAAAAA=\n"), &trusted),
        Err(NoteError::ControlCharacter { line: 8, code: 0x09 })
    );

    let malformed = |extra: &str| match open_checkpoint(&format!("{note}{extra}\n"), &trusted) {
        Err(NoteError::MalformedSignatureLine { line: 8, reason }) => reason,
        other => panic!("{extra:?} gave {other:?}"),
    };
    assert!(malformed("- name AAAAAAA=").contains("em dash"));
    assert!(malformed("\u{2014}name AAAAAAA=").contains("em dash"));
    assert!(malformed("\u{2014} name").contains("no space"));
    assert!(malformed("\u{2014} name ").contains("empty"));
    assert!(malformed("\u{2014}  AAAAAAA=").contains("is empty"));
    assert!(malformed("\u{2014} na+me AAAAAAA=").contains("'+'"));
    assert!(malformed("\u{2014} na\u{a0}me AAAAAAA=").contains("whitespace"));
    assert!(malformed("\u{2014} name !!!!").contains("base64"));
    assert!(malformed("\u{2014} name AAAAAAA").contains("base64"));
    assert!(malformed("\u{2014} name AAAAAAA= ").contains("base64"));
    assert!(malformed("\u{2014} name AAAAAA==").contains("4 bytes"));

    // Exactly MAX_SIGNATURES lines are accepted; one more is not.
    let stranger_line = |seed: u8| {
        let s = signer("stranger.example", seed);
        s.signature_line(&body)
    };
    let extra: String = (0..MAX_SIGNATURES as u8 - 1).map(stranger_line).collect();
    let full = format!("{note}{extra}");
    assert_eq!(open_checkpoint(&full, &trusted).unwrap(), cp);
    assert_eq!(
        open_checkpoint(&format!("{full}{}", stranger_line(0)), &trusted),
        Err(NoteError::TooManySignatures { count: MAX_SIGNATURES + 1, max: MAX_SIGNATURES })
    );

    // A note of exactly MAX_NOTE_SIZE bytes opens; one byte more does not.
    let overhead = note.len() - body.len();
    let mut big = Checkpoint { extensions: Vec::new(), ..cp.clone() };
    let base = big.body().len();
    big.extensions = vec!["x".repeat(MAX_NOTE_SIZE - overhead - base - 1)];
    let big_note = log_signer.try_sign(&big).unwrap();
    assert_eq!(big_note.len(), MAX_NOTE_SIZE);
    assert_eq!(open_checkpoint(&big_note, &trusted).unwrap(), big);
    big.extensions[0].push('x');
    let too_big = log_signer.sign(&big);
    assert_eq!(
        open_checkpoint(&too_big, &trusted),
        Err(NoteError::TooLarge { size: MAX_NOTE_SIZE + 1, max: MAX_NOTE_SIZE })
    );
    assert_eq!(
        log_signer.try_sign(&big),
        Err(NoteError::TooLarge { size: MAX_NOTE_SIZE + 1, max: MAX_NOTE_SIZE })
    );

    // A signed text that is not a valid checkpoint is rejected after verification.
    let not_a_checkpoint = log_signer.sign_note("origin\n01\nAAAA\n").unwrap();
    assert_eq!(
        open_checkpoint(&not_a_checkpoint, &trusted),
        Err(NoteError::InvalidTreeSize { text: "01".to_owned() })
    );
    assert_eq!(log_signer.sign_note("no newline"), Err(NoteError::MissingFinalNewline));
    assert_eq!(
        log_signer.sign_note("tab\there\n"),
        Err(NoteError::ControlCharacter { line: 1, code: 9 })
    );
}

#[test]
fn verifier_key_errors() {
    assert_eq!(NoteVerifier::parse(GO_VKEY).unwrap().vkey(), GO_VKEY);
    let malformed = |vkey: &str| match NoteVerifier::parse(vkey) {
        Err(NoteError::MalformedVerifierKey { reason, .. }) => reason,
        other => panic!("{vkey:?} gave {other:?}"),
    };
    assert!(malformed("PeterNeumann").contains("after the key name"));
    assert!(malformed("PeterNeumann+c74f20a3").contains("after the key ID"));
    assert!(
        malformed("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .contains("hex")
    );
    assert!(
        malformed("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .contains("hex")
    );
    assert!(
        malformed("PeterNeumann+0c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .contains("hex")
    );
    assert!(
        malformed("PeterNeumann++c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .contains("hex")
    );
    assert!(
        malformed("PeterNeumann+-74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .contains("hex")
    );
    assert!(
        malformed("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T")
            .contains("base64")
    );
    assert!(
        malformed("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW ")
            .contains("base64")
    );
    assert!(malformed("PeterNeumann+c74f20a3+").contains("empty"));
    assert!(malformed("PeterNeumann+c74f20a3+AQ==").contains("0 bytes"));
    assert!(
        malformed(&format!("PeterNeumann+c74f20a3+{}", STANDARD.encode([1u8; 34])))
            .contains("33 bytes")
    );

    assert_eq!(
        NoteVerifier::parse(&format!("PeterNeumann+c74f20a3+{}", STANDARD.encode([2u8; 33]))),
        Err(NoteError::UnsupportedSignatureType { found: 2 })
    );
    assert_eq!(
        NoteVerifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::KeyIdMismatch {
            name: "PeterNeumann".to_owned(),
            stated: 0xc74f20a4,
            computed: 0xc74f20a3
        })
    );
    assert_eq!(
        NoteVerifier::parse("Peter+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
            .unwrap_err(),
        NoteError::KeyIdMismatch {
            name: "Peter".to_owned(),
            stated: 0xc74f20a3,
            computed: key_id("Peter", &NoteVerifier::parse(GO_VKEY).unwrap().public_key)
        }
    );
    assert!(matches!(
        NoteVerifier::parse("+c74f20a3+AQ=="),
        Err(NoteError::InvalidKeyName { reason: "is empty", .. })
    ));

    // A 32-byte string that is not an Ed25519 point, with a correct key ID.
    let not_a_point = (0u8..=255)
        .map(|b| [b; 32])
        .find(|bytes| VerificationKey::try_from(*bytes).is_err())
        .expect("some repeated byte is not a point");
    let vkey = format_vkey("bad", key_id("bad", &not_a_point), &not_a_point);
    assert_eq!(
        NoteVerifier::parse(&vkey),
        Err(NoteError::InvalidPublicKey { name: "bad".to_owned() })
    );
    assert_eq!(
        NoteVerifier::from_public_key("bad", not_a_point),
        Err(NoteError::InvalidPublicKey { name: "bad".to_owned() })
    );
}

#[test]
fn trusted_key_lists() {
    let a = signer("a.example/log", 1);
    let b = signer("b.example/log", 2);
    let text = format!(
        "# Cairn trusted keys\n\n{}\n   {}   \r\n# trailing comment\n{}\n",
        a.verifier_key(),
        b.verifier_key(),
        a.verifier_key()
    );
    assert_eq!(parse_trusted_keys(&text).unwrap(), vec![a.verifier(), b.verifier()]);
    assert_eq!(parse_trusted_keys("").unwrap(), Vec::new());
    assert_eq!(parse_trusted_keys("# only a comment\n\n").unwrap(), Vec::new());

    let bad = format!("# header\n{}\nnot a key\n", a.verifier_key());
    let err = parse_trusted_keys(&bad).unwrap_err();
    assert!(matches!(err, NoteError::TrustedKeyLine { line: 3, .. }), "{err:?}");
    assert!(err.to_string().starts_with("trusted keys line 3: "), "{err}");

    let impostor = NoteVerifier { public_key: b.public_key(), ..a.verifier() };
    let ambiguous = format!("{}\n{}\n", a.verifier_key(), impostor.vkey());
    // The impostor's stated key ID does not match its key, so it is
    // rejected as such before it can be ambiguous.
    assert!(matches!(
        parse_trusted_keys(&ambiguous),
        Err(NoteError::TrustedKeyLine { line: 2, source }) if matches!(*source, NoteError::KeyIdMismatch { .. })
    ));
}

#[test]
fn signer_names_and_debug() {
    for (name, reason) in [
        ("", "is empty"),
        ("a b", "contains whitespace"),
        ("a\tb", "contains whitespace"),
        ("a\u{2003}b", "contains whitespace"),
        ("a+b", "contains '+'"),
        ("a\u{1}b", "contains a control character"),
    ] {
        assert_eq!(
            NoteSigner::new(name, [1; 32]).unwrap_err(),
            NoteError::InvalidKeyName { name: name.to_owned(), reason },
        );
    }
    let long_name = "n".repeat(100) + " ";
    match NoteSigner::new(&long_name, [1; 32]) {
        Err(NoteError::InvalidKeyName { name, .. }) => {
            assert_eq!(name.chars().count(), EXCERPT_CHARS + 1)
        }
        other => panic!("{other:?}"),
    }

    let secret = [0xabu8; 32];
    let s = NoteSigner::new("example.com/log", secret).unwrap();
    let debug = format!("{s:?}");
    assert_eq!(
        debug,
        format!("NoteSigner {{ name: \"example.com/log\", key_id: {:08x}, .. }}", s.key_id())
    );
    assert!(!debug.contains('['));

    // try_sign refuses checkpoints whose body would not parse back.
    let mut cp = checkpoint();
    cp.origin = "two\nlines".to_owned();
    assert_eq!(s.try_sign(&cp), Err(NoteError::ControlCharacter { line: 1, code: 10 }));
    assert!(open_checkpoint(&s.sign(&cp), &[s.verifier()]).is_err());
    cp.origin = String::new();
    assert_eq!(s.try_sign(&cp), Err(NoteError::EmptyOrigin));
    cp.origin = "ok".to_owned();
    cp.extensions.push(String::new());
    assert_eq!(s.try_sign(&cp), Err(NoteError::EmptyExtensionLine { line: 6 }));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn valid_checkpoints_round_trip(
        origin in "[^\\p{Cc}]{1,40}",
        size in any::<u64>(),
        root in any::<[u8; 32]>(),
        extensions in proptest::collection::vec("[^\\p{Cc}]{1,20}", 0..4),
        seed in any::<[u8; 32]>(),
    ) {
        let cp = Checkpoint { origin, size, root, extensions };
        prop_assert_eq!(cp.validate(), Ok(()));
        prop_assert_eq!(Checkpoint::parse_body(&cp.body()), Ok(cp.clone()));
        let s = NoteSigner::new("prop.example/log", seed).unwrap();
        let note = s.try_sign(&cp).unwrap();
        prop_assert_eq!(open_checkpoint(&note, &[s.verifier()]), Ok(cp));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,300}", bytes in any::<Vec<u8>>()) {
        let trusted = [signer("x", 1).verifier()];
        let _ = open_checkpoint(&text, &trusted);
        let _ = Checkpoint::parse_body(&text);
        let _ = NoteVerifier::parse(&text);
        let _ = parse_trusted_keys(&text);
        let lossy = String::from_utf8_lossy(&bytes);
        let _ = open_note(&lossy, &trusted);
    }
}
