//! Unit tests of decision documents: canonical bytes, signing and
//! verification, the decision file, the document rules and the QR payload.

use super::*;

fn sample() -> DecisionDocument {
    DecisionDocument {
        case_id: "c-0123456789abcdef0123456789abcdef".into(),
        service_id: "minimum-living-guarantee".into(),
        service_version: 2,
        outcome: Outcome::Approved,
        amount_minor: Some(123_456),
        currency: Some("CNY".into()),
        reasons: vec![
            "Per-capita income is below the local threshold.".into(),
            "Quote \" and backslash \\ kept; 低保 too.".into(),
        ],
        decided_by_organisation: "county-welfare-department".into(),
        decided_by_role: "acceptance_officer".into(),
        decided_by_address: "00112233445566778899aabbccddeeff00112233".into(),
        decided_at_ms: 1_796_342_400_000,
        evidence: vec!["ab".repeat(32), "cd".repeat(32)],
        appeal: false,
    }
}

fn key(seed: u8) -> ed25519_zebra::SigningKey {
    ed25519_zebra::SigningKey::from([seed; 32])
}

fn signed() -> SignedDecision {
    SignedDecision::sign(sample(), &key(7)).unwrap()
}

#[test]
fn canonical_bytes_are_compact_json_in_fixed_order() {
    let canonical = String::from_utf8(sample().canonical_bytes()).unwrap();
    assert_eq!(
        canonical,
        format!(
            concat!(
                r#"{{"case_id":"c-0123456789abcdef0123456789abcdef","service_id":"minimum-living-guarantee","#,
                r#""service_version":2,"outcome":"approved","amount_minor":123456,"currency":"CNY","#,
                r#""reasons":["Per-capita income is below the local threshold.","Quote \" and backslash \\ kept; 低保 too."],"#,
                r#""decided_by_organisation":"county-welfare-department","decided_by_role":"acceptance_officer","#,
                r#""decided_by_address":"00112233445566778899aabbccddeeff00112233","decided_at_ms":1796342400000,"#,
                r#""evidence":["{}","{}"],"appeal":false}}"#
            ),
            "ab".repeat(32),
            "cd".repeat(32)
        )
    );
    // A JSON reader gets the same document back.
    let parsed: DecisionDocument = serde_json::from_str(&canonical).unwrap();
    assert_eq!(parsed, sample());

    let mut absent = sample();
    absent.outcome = Outcome::Rejected;
    absent.amount_minor = None;
    absent.currency = None;
    absent.appeal = true;
    let canonical = String::from_utf8(absent.canonical_bytes()).unwrap();
    assert!(canonical.contains(r#""outcome":"rejected","amount_minor":null,"currency":null,"#));
    assert!(canonical.ends_with(r#""appeal":true}"#));

    // Control characters, which a valid document never holds, are still escaped.
    let mut out = String::new();
    push_json_string(&mut out, "a\nb\u{1}\t");
    assert_eq!(out, r#""a\nb\u0001\t""#);
}

#[test]
fn document_hash_is_sha256_of_the_canonical_bytes() {
    let document = sample();
    let expected: [u8; 32] = Sha256::digest(document.canonical_bytes()).into();
    assert_eq!(document.document_hash(), expected);
    let mut other = sample();
    other.decided_at_ms += 1;
    assert_ne!(other.document_hash(), expected);
}

#[test]
fn sign_then_verify_answers_the_document_hash() {
    let signed = signed();
    let hash = signed.verify().unwrap();
    assert_eq!(hash, sample().document_hash());
    assert_eq!(
        signed.signer_public_key,
        <[u8; 32]>::from(ed25519_zebra::VerificationKey::from(&key(7)))
    );
    assert_eq!(signed.verify_against(&hash).unwrap(), hash);
    assert_eq!(signed.verify_signed_by(&signed.signer_public_key).unwrap(), hash);

    // The signature is over the label and the canonical bytes.
    let mut message = b"cairn-decision-v1\n".to_vec();
    message.extend(sample().canonical_bytes());
    let verification_key =
        ed25519_zebra::VerificationKey::try_from(signed.signer_public_key).unwrap();
    verification_key
        .verify(&ed25519_zebra::Signature::from_bytes(&signed.signature), &message)
        .unwrap();
    // Without the label it does not hold.
    assert!(
        verification_key
            .verify(
                &ed25519_zebra::Signature::from_bytes(&signed.signature),
                &sample().canonical_bytes()
            )
            .is_err()
    );
}

#[test]
fn the_file_round_trips_and_shows_the_canonical_bytes() {
    let signed = signed();
    let file = signed.to_json();
    let canonical = String::from_utf8(signed.document.canonical_bytes()).unwrap();
    assert!(file.contains(&format!("  \"document\": {canonical},\n")), "{file}");
    assert!(file.starts_with("{\n  \"format\": \"cairn-decision-v1\",\n"), "{file}");
    assert!(file.contains(&hex::encode(signed.document.document_hash())));
    // It is JSON.
    let _: serde_json::Value = serde_json::from_str(&file).unwrap();
    let read = SignedDecision::from_json(&file).unwrap();
    assert_eq!(read, signed);
    assert_eq!(read.verify().unwrap(), signed.document.document_hash());
    // Re-indented by a text editor or a JSON tool, it still reads and verifies.
    let value: serde_json::Value = serde_json::from_str(&file).unwrap();
    let reformatted = serde_json::to_string(&value).unwrap();
    assert_eq!(
        SignedDecision::from_json(&reformatted).unwrap().verify().unwrap(),
        read.verify().unwrap()
    );
}

#[test]
fn a_flipped_byte_in_the_document_is_a_bad_signature() {
    let mut signed = signed();
    signed.document.case_id.replace_range(2..3, "1");
    let error = signed.verify().unwrap_err();
    assert_eq!(
        error,
        DecisionError::BadSignature {
            document_hash: hex::encode(signed.document.document_hash()),
            signer: hex::encode(signed.signer_public_key),
        }
    );
    assert!(error.to_string().starts_with("bad signature: "), "{error}");
    assert!(error.to_string().contains("altered after signing"), "{error}");

    // The same change made in the file is caught when the file is read.
    let file = self::signed().to_json();
    let altered = file.replacen("\"amount_minor\":123456", "\"amount_minor\":923456", 1);
    assert_ne!(altered, file);
    let error = SignedDecision::from_json(&altered).unwrap_err();
    assert!(matches!(error, DecisionError::HashMismatch { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with("the decision document was altered: it hashes to "),
        "{error}"
    );

    // With the stated hash recomputed too, the signature gives it away.
    let mut document = sample();
    document.amount_minor = Some(923_456);
    let forged = altered
        .replace(&hex::encode(sample().document_hash()), &hex::encode(document.document_hash()));
    let read = SignedDecision::from_json(&forged).unwrap();
    assert!(matches!(read.verify(), Err(DecisionError::BadSignature { .. })));

    // A flipped bit in the signature.
    let mut signed = self::signed();
    signed.signature[10] ^= 0x01;
    assert!(matches!(signed.verify(), Err(DecisionError::BadSignature { .. })));
}

#[test]
fn another_key_does_not_verify() {
    let genuine = signed();
    let other_key: [u8; 32] = ed25519_zebra::VerificationKey::from(&key(8)).into();

    // The file names another key than the one that signed.
    let mut swapped = genuine.clone();
    swapped.signer_public_key = other_key;
    assert_eq!(
        swapped.verify().unwrap_err(),
        DecisionError::BadSignature {
            document_hash: hex::encode(sample().document_hash()),
            signer: hex::encode(other_key),
        }
    );

    // Signed, validly, by a key that is not the deciding organisation's.
    let by_other = SignedDecision::sign(sample(), &key(8)).unwrap();
    assert!(by_other.verify().is_ok());
    let error = by_other.verify_signed_by(&genuine.signer_public_key).unwrap_err();
    assert_eq!(
        error,
        DecisionError::WrongSigner {
            signer: hex::encode(other_key),
            expected: hex::encode(genuine.signer_public_key),
        }
    );
    assert!(error.to_string().starts_with("wrong signer: "), "{error}");

    // Bytes that are no Ed25519 point at all.
    let not_a_point = (0u8..=255)
        .map(|first| {
            let mut bytes = [0u8; 32];
            bytes[0] = first;
            bytes
        })
        .find(|bytes| ed25519_zebra::VerificationKey::try_from(*bytes).is_err())
        .unwrap();
    let mut broken = genuine;
    broken.signer_public_key = not_a_point;
    let error = broken.verify().unwrap_err();
    assert!(matches!(error, DecisionError::BadKey { .. }), "{error:?}");
    assert!(error.to_string().contains("not a valid Ed25519 public key"), "{error}");
}

#[test]
fn verify_against_compares_the_anchored_hash() {
    let signed = signed();
    let error = signed.verify_against(&[9u8; 32]).unwrap_err();
    assert_eq!(
        error,
        DecisionError::NotAnchored {
            anchored: hex::encode([9u8; 32]),
            computed: hex::encode(sample().document_hash()),
        }
    );
    assert!(error.to_string().starts_with("not the anchored decision: "), "{error}");
}

#[test]
fn unreadable_files_are_named() {
    let file = signed().to_json();
    let check = |text: &str, expected: &str| {
        let error = SignedDecision::from_json(text).unwrap_err().to_string();
        assert!(error.contains(expected), "{expected:?} not in {error:?}");
    };
    check(
        &file.replace("cairn-decision-v1", "cairn-decision-v2"),
        r#"not a Cairn decision file: its format label is "cairn-decision-v2", expected "cairn-decision-v1""#,
    );
    check(&file.replace("\"format\"", "\"kind\""), "its format label is \"(none)\"");
    check(&file.replace("\"cairn-decision-v1\"", "1"), "its format label is \"1\"");
    check("{\"format\": \"cairn-decision-v1\",", "not a readable decision file: ");
    check("[1, 2]", "not a readable decision file: the file is not a JSON object");
    check(
        &file.replace("\"appeal\":false", "\"appeal\":false,\"name\":\"x\""),
        "unknown field `name`",
    );
    check(&file.replace("\"approved\"", "\"granted\""), "unknown variant `granted`");
    check(
        &file.replace("\"signature\": \"", "\"signature\": \"zz"),
        "decision file field signature: ",
    );
    let signature = hex::encode(signed().signature);
    check(
        &file.replace(&signature, &signature[..126]),
        "decision file field signature: 126 characters",
    );
    check(&" ".repeat(MAX_FILE_BYTES + 1), "more than the limit of 262144");
}

#[test]
fn broken_rules_name_the_field() {
    /// The field named, a change that breaks its rule, and words of the reason.
    type Case = (&'static str, fn(&mut DecisionDocument), &'static str);
    let cases: Vec<Case> = vec![
        ("case_id", |d| d.case_id = "c-0123".into(), "not c- followed by 32 lower-case hex digits"),
        ("case_id", |d| d.case_id = d.case_id.to_uppercase(), "not c- followed by"),
        ("service_id", |d| d.service_id = " ".into(), "empty"),
        ("service_id", |d| d.service_id = "x".repeat(201), "201 characters"),
        ("service_version", |d| d.service_version = 0, "counted from 1"),
        ("amount_minor", |d| d.amount_minor = Some(-1), "never negative"),
        ("currency", |d| d.currency = None, "needs its currency"),
        ("amount_minor", |d| d.amount_minor = None, "without an amount"),
        ("currency", |d| d.currency = Some("cny".into()), "three capital letters"),
        ("amount_minor", |d| d.outcome = Outcome::Rejected, "only an approval carries an amount"),
        (
            "reasons",
            |d| {
                d.outcome = Outcome::Returned;
                d.amount_minor = None;
                d.currency = None;
                d.reasons.clear();
            },
            "a decision returned must give at least one reason",
        ),
        ("reasons", |d| d.reasons.push(String::new()), "reason 3 is empty"),
        ("reasons", |d| d.reasons[0].push('\n'), "reason 1 holds a control character"),
        ("reasons", |d| d.reasons[1] = "x".repeat(2001), "reason 2 is 2001 characters"),
        ("reasons", |d| d.reasons = vec!["r".into(); 33], "33 reasons"),
        ("decided_by_organisation", |d| d.decided_by_organisation.clear(), "empty"),
        ("decided_by_role", |d| d.decided_by_role.push('\u{7}'), "control character"),
        ("decided_by_address", |d| d.decided_by_address.truncate(39), "not a Cairn address"),
        ("evidence", |d| d.evidence[1] = "AB".repeat(32), "item 2"),
        ("evidence", |d| d.evidence = vec!["ab".repeat(32); 65], "65 hashes"),
    ];
    for (field, change, reason) in cases {
        let mut document = sample();
        change(&mut document);
        let error = document.validate().unwrap_err();
        let DecisionError::InvalidDocument { field: named, reason: why } = &error else {
            panic!("{field}: {error:?}");
        };
        assert_eq!(*named, field, "{error}");
        assert!(why.contains(reason), "{field}: {reason:?} not in {why:?}");
        assert!(error.to_string().starts_with(&format!("decision document field {field}: ")));
        // Nothing invalid is signed, and a signed file holding it does not verify.
        assert_eq!(SignedDecision::sign(document.clone(), &key(7)).unwrap_err(), error);
        let mut signed = signed();
        signed.document = document;
        assert_eq!(signed.verify().unwrap_err(), error);
    }

    // A rejection with reasons and no amount, and an approval without an
    // amount or reasons, are valid.
    let mut rejected = sample();
    rejected.outcome = Outcome::Rejected;
    rejected.amount_minor = None;
    rejected.currency = None;
    rejected.validate().unwrap();
    let mut approved = sample();
    approved.amount_minor = None;
    approved.currency = None;
    approved.reasons.clear();
    approved.evidence.clear();
    approved.validate().unwrap();
}

#[test]
fn qr_payloads_round_trip() {
    let hash = sample().document_hash();
    let payload = qr_payload(&hash);
    assert_eq!(payload, format!("cairn-decision:{}", hex::encode(hash)));
    assert_eq!(parse_qr_payload(&payload).unwrap(), hash);
    assert_eq!(
        parse_qr_payload(&format!(
            " {}\n",
            payload.to_uppercase().replace("CAIRN-DECISION:", "cairn-decision:")
        ))
        .unwrap(),
        hash
    );
    let check = |text: &str, expected: &str| {
        let error = parse_qr_payload(text).unwrap_err();
        assert!(matches!(error, DecisionError::BadQrPayload { .. }));
        let error = error.to_string();
        assert!(error.starts_with("not a Cairn decision QR code: "), "{error}");
        assert!(error.contains(expected), "{expected:?} not in {error:?}");
    };
    check(&hex::encode(hash), "does not start with \"cairn-decision:\"");
    check("CRN1:abc", "does not start with");
    check(&payload[..70], "has 55 characters, expected 64 hex digits");
    check(&format!("cairn-decision:{}", "g".repeat(64)), "not hex");
}

#[test]
fn debug_shows_no_reasons_or_amounts() {
    let debug = format!("{:?}", signed());
    assert!(debug.contains("c-0123456789abcdef0123456789abcdef"), "{debug}");
    assert!(debug.contains("n_reasons: 2"), "{debug}");
    assert!(!debug.contains("income") && !debug.contains("CNY"), "{debug}");
}

#[test]
fn the_pdf_is_one_deterministic_a4_page() {
    let signed = signed();
    let pdf = render_pdf(&signed).unwrap();
    assert!(pdf.starts_with(b"%PDF-1.7"));
    assert_eq!(render_pdf(&signed).unwrap(), pdf);
    let text = String::from_utf8_lossy(&pdf);
    for expected in [
        "/Type /Pages",
        "/Count 1",
        "/MediaBox [0 0 595 842]",
        "/BaseFont /Helvetica",
        "/BaseFont /Helvetica-Bold",
        "/BaseFont /Courier",
        "/Encoding /WinAnsiEncoding",
        "(c-0123456789abcdef0123456789abcdef)",
        "(Approved)",
        "(CNY 1,234.56)",
        "(4 December 2026 (2026-12-04, UTC))",
        "re",
    ] {
        assert!(text.contains(expected), "{expected:?} missing");
    }
    assert!(text.contains(&format!("({})", hex::encode(sample().document_hash()))));
    assert!(text.contains(&format!("({})", hex::encode(signed.signer_public_key))));
    assert_eq!(text.matches("/Type /Page\n").count() + text.matches("/Type /Page ").count(), 1);
}

#[test]
fn long_reasons_are_cut_to_one_page_with_a_note() {
    let mut document = sample();
    document.reasons =
        vec!["A long reason about the case, written at length. ".repeat(40); MAX_REASONS];
    document.evidence = vec!["ef".repeat(32); MAX_EVIDENCE];
    let signed = SignedDecision::sign(document, &key(7)).unwrap();
    let pdf = render_pdf(&signed).unwrap();
    let text = String::from_utf8_lossy(&pdf);
    assert!(
        text.contains("more lines do not fit on this page; the decision file holds the full text.")
    );
    assert!(text.contains("/Count 1"));
    // The verification block is still there.
    assert!(text.contains(&format!("({})", hex::encode(signed.document.document_hash()))));
}
