//! Tests of signed requests: one case per refusal with its kind and message,
//! replays, the replay cache's bounds and the envelope's layout.

use std::cell::Cell;

use proptest::prelude::*;

use std::time::Duration;

use anchor_chaincode::{Address, Role};
use ed25519_zebra::{Signature, SigningKey, VerificationKey};
use sha2::{Digest, Sha256};

use super::*;

const METHOD: &str = "/cairn.v1.Access/RequestData";
const BODY: &[u8] = b"\x0a\x0ehealth/clinics";
const NOW: u64 = 1_700_000_000_000;
const WINDOW: Duration = Duration::from_secs(300);
const WINDOW_MS: u64 = 300_000;
const DEST: Destination<'static> =
    Destination { chain_id: "cairn-test", node: Address([0x4e; 20]) };

fn key(byte: u8) -> SigningKey {
    SigningKey::from([byte; 32])
}

fn address_of(byte: u8) -> Address {
    Address::of_public_key(&<[u8; 32]>::from(key(byte).verification_key()))
}

/// Keys 1 and 2 are registered, key 3 is revoked, any other is unknown.
fn ledger(address: &Address) -> CallerStatus {
    if *address == address_of(1) {
        CallerStatus::Registered { organisation: "dept-health".into(), role: Role::Consumer }
    } else if *address == address_of(2) {
        CallerStatus::Registered { organisation: "dept-civil".into(), role: Role::Provider }
    } else if *address == address_of(3) {
        CallerStatus::Revoked { reason: "key reported lost on 2024-05-01".into() }
    } else {
        CallerStatus::Unknown
    }
}

fn envelope(signer: u8, method: &str, body: &[u8], timestamp_ms: u64, nonce: u8) -> Vec<u8> {
    SignedRequest::sign(&key(signer), &DEST, method, body, timestamp_ms, [nonce; 16]).encode()
}

/// An envelope that claims key `claimed` but is signed by key `signer`.
fn resigned(claimed: u8, signer: u8) -> Vec<u8> {
    let mut request = SignedRequest::sign(&key(signer), &DEST, METHOD, BODY, NOW, [9; 16]);
    request.public_key = <[u8; 32]>::from(key(claimed).verification_key());
    request.encode()
}

/// A public key that does not decode to a curve point.
fn invalid_public_key() -> [u8; 32] {
    (0..=255u8)
        .map(|byte| [byte; 32])
        .find(|bytes| VerificationKey::try_from(*bytes).is_err())
        .unwrap_or([0xff; 32])
}

/// One line of the table: a request and what the verifier must say.
struct Case<'a> {
    name: &'a str,
    header: Option<Vec<u8>>,
    method: &'a str,
    body: &'a [u8],
    expected: Result<(), (AuthErrorKind, String)>,
}

/// A case for [`METHOD`] and [`BODY`].
fn case<'a>(
    name: &'a str,
    header: Option<Vec<u8>>,
    expected: Result<(), (AuthErrorKind, String)>,
) -> Case<'a> {
    Case { name, header, method: METHOD, body: BODY, expected }
}

impl<'a> Case<'a> {
    fn method(self, method: &'a str) -> Case<'a> {
        Case { method, ..self }
    }

    fn body(self, body: &'a [u8]) -> Case<'a> {
        Case { body, ..self }
    }
}

#[test]
fn each_check_refuses_with_its_kind_and_message() {
    let big_body = vec![7u8; MAX_REQUEST_BYTES + 1];
    let max_body = vec![7u8; MAX_REQUEST_BYTES];
    let valid = envelope(1, METHOD, BODY, NOW, 1);
    let mut truncated = valid.clone();
    truncated.pop();
    let mut too_long = valid.clone();
    too_long.push(0);
    let mut version_3 = valid.clone();
    version_3[0] = 3;
    let mut version_1 = valid.clone();
    version_1[0] = 1;
    version_1.truncate(153);
    let other_chain = SignedRequest::sign(
        &key(1),
        &Destination { chain_id: "cairn-other", ..DEST },
        METHOD,
        BODY,
        NOW,
        [1; 16],
    )
    .encode();
    let other_node = SignedRequest::sign(
        &key(1),
        &Destination { node: Address([0x0b; 20]), ..DEST },
        METHOD,
        BODY,
        NOW,
        [1; 16],
    )
    .encode();
    let mut bad_key = SignedRequest::decode(&valid).unwrap();
    bad_key.public_key = invalid_public_key();
    let other_method = "/cairn.v1.Access/SetSharingRules";
    let a = address_of(1);
    let d = address_of(4);

    let unauthenticated = |m: &str| Err((AuthErrorKind::Unauthenticated, m.to_owned()));
    let invalid = |m: &str| Err((AuthErrorKind::InvalidArgument, m.to_owned()));
    let revoked = format!("identity {} is revoked: key reported lost on 2024-05-01", address_of(3));
    let cases = [
        case("valid", Some(valid.clone()), Ok(())),
        case("body at the limit", Some(envelope(1, METHOD, &max_body, NOW, 1)), Ok(()))
            .body(&max_body),
        case(
            "missing header",
            None,
            unauthenticated("request is not signed: metadata x-cairn-auth-bin is missing"),
        ),
        case(
            "oversized body",
            Some(envelope(1, METHOD, &big_body, NOW, 1)),
            invalid("request body is 1048577 bytes, larger than the limit of 1048576 bytes"),
        )
        .body(&big_body),
        case(
            "empty envelope",
            Some(vec![]),
            invalid("malformed x-cairn-auth-bin envelope: it is empty; expected 205 bytes"),
        ),
        case(
            "truncated envelope",
            Some(truncated),
            invalid(
                "malformed x-cairn-auth-bin envelope: it is 204 bytes; \
                 a version 2 envelope is exactly 205 bytes",
            ),
        ),
        case("envelope with a trailing byte", Some(too_long), invalid("it is 206 bytes")),
        case(
            "version 3",
            Some(version_3),
            invalid(
                "malformed x-cairn-auth-bin envelope: version 3 is not supported; \
                 expected version 2",
            ),
        ),
        case(
            "version 1",
            Some(version_1),
            invalid(
                "outdated x-cairn-auth-bin envelope: version 1 does not name the chain and \
                 the node it is for and is no longer accepted",
            ),
        ),
        case(
            "signed for another chain",
            Some(other_chain),
            unauthenticated(
                "request was signed for another chain: this node serves chain \"cairn-test\"",
            ),
        ),
        case(
            "signed for another node",
            Some(other_node),
            unauthenticated(&format!(
                "request was signed for node {}, not for this node {}",
                Address([0x0b; 20]),
                Address([0x4e; 20])
            )),
        ),
        case(
            "body changed after signing",
            Some(valid.clone()),
            unauthenticated(
                "request body does not match the signed digest: \
                 the body was changed after signing",
            ),
        )
        .body(b"\x0a\x0ehealth/prisons"),
        case("oldest accepted", Some(envelope(1, METHOD, BODY, NOW - WINDOW_MS, 1)), Ok(())),
        case(
            "one ms too old",
            Some(envelope(1, METHOD, BODY, NOW - WINDOW_MS - 1, 1)),
            unauthenticated(
                "request expired: it was signed 300001 ms ago, \
                 1 ms more than the window of 300000 ms allows",
            ),
        ),
        case("newest accepted", Some(envelope(1, METHOD, BODY, NOW + WINDOW_MS, 1)), Ok(())),
        case(
            "one ms too new",
            Some(envelope(1, METHOD, BODY, NOW + WINDOW_MS + 1, 1)),
            unauthenticated(
                "request is from the future: its timestamp is 300001 ms ahead of the \
                 server's clock, 1 ms more than the window of 300000 ms allows",
            ),
        ),
        case(
            "method swapped",
            Some(valid.clone()),
            unauthenticated(&format!(
                "bad signature: the signature does not verify with the public key of {a} \
                 over method {other_method}"
            )),
        )
        .method(other_method),
        case(
            "re-signed by another identity",
            Some(resigned(1, 2)),
            unauthenticated(&format!(
                "bad signature: the signature does not verify with the public key of {a}"
            )),
        ),
        case(
            "public key not on the curve",
            Some(bad_key.encode()),
            unauthenticated("is not a valid Ed25519 key"),
        ),
        case(
            "unknown identity",
            Some(envelope(4, METHOD, BODY, NOW, 1)),
            unauthenticated(&format!(
                "unknown identity {d}: no identity with this address is registered"
            )),
        ),
        case(
            "revoked identity",
            Some(envelope(3, METHOD, BODY, NOW, 1)),
            Err((AuthErrorKind::PermissionDenied, revoked)),
        ),
    ];
    for Case { name, header, method, body, expected } in cases {
        let verifier = RequestVerifier::new(WINDOW);
        let outcome = verifier.verify(header.as_deref(), method, body, &DEST, NOW, ledger);
        match (outcome, expected) {
            (Ok(caller), Ok(())) => {
                assert_eq!(caller.address, a, "{name}");
                assert_eq!(caller.organisation, "dept-health", "{name}");
                assert_eq!(caller.role, Role::Consumer, "{name}");
                assert_eq!(caller.nonce, [1; 16], "{name}");
                assert_eq!(Some(caller.envelope), header, "{name}");
                assert_eq!(verifier.cached_nonces(), 1, "{name}");
            }
            (Err(err), Err((kind, message))) => {
                assert_eq!(err.kind(), kind, "{name}: {err}");
                assert!(err.to_string().contains(&message), "{name}: {err}\nwants: {message}");
                assert_eq!(verifier.cached_nonces(), 0, "{name}: a refused request was cached");
            }
            (outcome, expected) => panic!("{name}: got {outcome:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn a_replay_is_refused_but_the_same_nonce_from_another_key_passes() {
    let verifier = RequestVerifier::new(WINDOW);
    let first = envelope(1, METHOD, BODY, NOW, 5);
    verifier.verify(Some(&first), METHOD, BODY, &DEST, NOW, ledger).unwrap();
    let err = verifier.verify(Some(&first), METHOD, BODY, &DEST, NOW + 10, ledger).unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::Unauthenticated);
    assert_eq!(
        err.to_string(),
        format!(
            "replayed request: nonce {} was already used by {} within the window of 300000 ms",
            "05".repeat(16),
            address_of(1)
        )
    );
    // The same key reusing the nonce with a new timestamp is also a replay.
    let again = envelope(1, METHOD, BODY, NOW + 1, 5);
    let err = verifier.verify(Some(&again), METHOD, BODY, &DEST, NOW + 10, ledger).unwrap_err();
    assert!(matches!(err, AuthError::Replayed { .. }), "{err}");
    // Another key may use the same nonce.
    let other = envelope(2, METHOD, BODY, NOW, 5);
    let caller = verifier.verify(Some(&other), METHOD, BODY, &DEST, NOW + 10, ledger).unwrap();
    assert_eq!(caller.address, address_of(2));
    assert_eq!(caller.role, Role::Provider);
    assert_eq!(verifier.cached_nonces(), 2);
}

#[test]
fn a_refused_request_does_not_use_up_its_nonce() {
    let verifier = RequestVerifier::new(WINDOW);
    let header = envelope(1, METHOD, BODY, NOW, 8);
    type Lookup = fn(&Address) -> CallerStatus;
    let refusals: [(&[u8], &str, Lookup); 3] = [
        (b"tampered", METHOD, ledger),
        (BODY, "/cairn.v1.Access/Other", ledger),
        (BODY, METHOD, |_| CallerStatus::Unknown),
    ];
    for (body, method, lookup) in refusals {
        verifier.verify(Some(&header), method, body, &DEST, NOW, lookup).unwrap_err();
    }
    assert_eq!(verifier.cached_nonces(), 0);
    verifier.verify(Some(&header), METHOD, BODY, &DEST, NOW, ledger).unwrap();
}

#[test]
fn the_ledger_is_consulted_only_after_the_signature_verifies() {
    let verifier = RequestVerifier::new(WINDOW);
    let called = Cell::new(false);
    let lookup = |address: &Address| {
        called.set(true);
        ledger(address)
    };
    verifier.verify(Some(&resigned(1, 2)), METHOD, BODY, &DEST, NOW, lookup).unwrap_err();
    assert!(!called.get());
    verifier
        .verify(Some(&envelope(1, METHOD, BODY, NOW, 1)), METHOD, BODY, &DEST, NOW, lookup)
        .unwrap();
    assert!(called.get());
}

#[test]
fn nonces_are_evicted_once_their_timestamp_leaves_the_window() {
    let verifier = RequestVerifier::new(WINDOW);
    let old: Vec<Vec<u8>> = (1..=3).map(|n| envelope(1, METHOD, BODY, NOW, n)).collect();
    for header in &old {
        verifier.verify(Some(header), METHOD, BODY, &DEST, NOW, ledger).unwrap();
    }
    assert_eq!(format!("{verifier:?}"), "RequestVerifier { window_ms: 300000, cached_nonces: 3 }");
    // Still inside the window at its edge: nothing is dropped.
    let later = NOW + WINDOW_MS;
    verifier
        .verify(Some(&envelope(2, METHOD, BODY, later, 1)), METHOD, BODY, &DEST, later, ledger)
        .unwrap();
    assert_eq!(verifier.cached_nonces(), 4);
    // One ms later the first three are out of the window and forgotten,
    // and replaying them is refused by the clock instead.
    let after = later + 1;
    verifier
        .verify(Some(&envelope(2, METHOD, BODY, after, 2)), METHOD, BODY, &DEST, after, ledger)
        .unwrap();
    assert_eq!(verifier.cached_nonces(), 2);
    let err = verifier.verify(Some(&old[0]), METHOD, BODY, &DEST, after, ledger).unwrap_err();
    assert!(matches!(err, AuthError::Expired { age_ms: 300_001, window_ms: 300_000 }), "{err}");
}

#[test]
fn a_clock_stepping_back_cannot_reopen_the_window() {
    let verifier = RequestVerifier::new(WINDOW);
    let header = envelope(1, METHOD, BODY, NOW, 1);
    verifier.verify(Some(&header), METHOD, BODY, &DEST, NOW, ledger).unwrap();
    // The clock jumps ahead, which forgets the nonce…
    let ahead = NOW + 2 * WINDOW_MS;
    verifier
        .verify(Some(&envelope(2, METHOD, BODY, ahead, 1)), METHOD, BODY, &DEST, ahead, ledger)
        .unwrap();
    assert_eq!(verifier.cached_nonces(), 1);
    // …and then steps back: the replay is refused as expired.
    let err = verifier.verify(Some(&header), METHOD, BODY, &DEST, NOW, ledger).unwrap_err();
    assert!(matches!(err, AuthError::Expired { age_ms: 600_000, .. }), "{err}");
}

#[test]
fn a_full_replay_cache_refuses_until_entries_expire() {
    let verifier = RequestVerifier::with_limits(WINDOW, ReplayLimits { total: 2, per_identity: 3 });
    for nonce in 1..=2 {
        verifier
            .verify(Some(&envelope(1, METHOD, BODY, NOW, nonce)), METHOD, BODY, &DEST, NOW, ledger)
            .unwrap();
    }
    let third = envelope(1, METHOD, BODY, NOW, 3);
    let err = verifier.verify(Some(&third), METHOD, BODY, &DEST, NOW, ledger).unwrap_err();
    assert_eq!(err, AuthError::ReplayCacheFull { capacity: 2 });
    assert_eq!(err.kind(), AuthErrorKind::ResourceExhausted);
    assert_eq!(
        err.to_string(),
        "the replay cache is full (2 requests within the window); try again later"
    );
    let later = NOW + WINDOW_MS + 1;
    let fresh = envelope(1, METHOD, BODY, later, 3);
    verifier.verify(Some(&fresh), METHOD, BODY, &DEST, later, ledger).unwrap();
    assert_eq!(verifier.cached_nonces(), 1);
}

#[test]
fn the_envelope_has_the_documented_layout_and_signed_message() {
    let signer = key(1);
    let request =
        SignedRequest::sign(&signer, &DEST, METHOD, BODY, 0x0102_0304_0506_0708, [0xab; 16]);
    let bytes = request.encode();
    assert_eq!(bytes.len(), ENVELOPE_LEN);
    assert_eq!(ENVELOPE_LEN, 205);
    assert_eq!(bytes[0], 2);
    assert_eq!(bytes[1..33], <[u8; 32]>::from(signer.verification_key()));
    assert_eq!(bytes[33..41], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(bytes[41..57], [0xab; 16]);
    let digest: [u8; 32] = Sha256::digest(BODY).into();
    assert_eq!(bytes[57..89], digest);
    let chain: [u8; 32] = Sha256::digest(b"cairn-test").into();
    assert_eq!(bytes[89..121], chain);
    assert_eq!(bytes[121..141], [0x4e; 20]);
    // The signature covers the documented message, built here by hand.
    let mut message = b"cairn-request-v2\n".to_vec();
    message.extend_from_slice(&(METHOD.len() as u32).to_be_bytes());
    message.extend_from_slice(METHOD.as_bytes());
    message.extend_from_slice(&digest);
    message.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    message.extend_from_slice(&[0xab; 16]);
    message.extend_from_slice(&chain);
    message.extend_from_slice(&[0x4e; 20]);
    let signature: [u8; 64] = bytes[141..].try_into().unwrap();
    signer.verification_key().verify(&Signature::from_bytes(&signature), &message).unwrap();
    assert_eq!(SignedRequest::decode(&bytes), Ok(request));
    assert_eq!(request.address(), address_of(1));
    let debug = format!("{request:?}");
    assert!(
        debug.contains(&address_of(1).to_string()) && debug.contains(&"ab".repeat(16)),
        "{debug}"
    );
}

#[test]
fn one_identity_cannot_fill_the_replay_cache_for_everyone_else() {
    let limits = ReplayLimits { total: 5, per_identity: 2 };
    let verifier = RequestVerifier::with_limits(WINDOW, limits);
    let send = |signer: u8, nonce: u8| {
        verifier.verify(
            Some(&envelope(signer, METHOD, BODY, NOW, nonce)),
            METHOD,
            BODY,
            &DEST,
            NOW,
            ledger,
        )
    };
    // Identity 1 floods: two are accepted, every further one is refused.
    send(1, 1).unwrap();
    send(1, 2).unwrap();
    for nonce in 3..=50 {
        let err = send(1, nonce).unwrap_err();
        assert_eq!(
            err,
            AuthError::IdentityOverLimit { address: address_of(1), limit: 2, window_ms: WINDOW_MS }
        );
        assert_eq!(err.kind(), AuthErrorKind::ResourceExhausted);
        assert!(!err.authenticated());
    }
    assert!(send(1, 3).unwrap_err().to_string().starts_with(&format!(
        "too many requests from {}: 2 within the window of 300000 ms",
        address_of(1)
    )));
    // Identity 2 is still served, up to its own share.
    send(2, 1).unwrap();
    send(2, 2).unwrap();
    assert!(matches!(send(2, 3), Err(AuthError::IdentityOverLimit { .. })));
    assert_eq!(verifier.cached_nonces(), 4);
    // Once the window has passed, identity 1 is served again.
    let later = NOW + WINDOW_MS + 1;
    verifier
        .verify(Some(&envelope(1, METHOD, BODY, later, 9)), METHOD, BODY, &DEST, later, ledger)
        .unwrap();
}

#[test]
fn restored_nonces_refuse_replays_after_a_restart() {
    let before = RequestVerifier::new(WINDOW);
    let header = envelope(1, METHOD, BODY, NOW, 7);
    let caller = before.verify(Some(&header), METHOD, BODY, &DEST, NOW, ledger).unwrap();
    // A new verifier (a restarted node) restores what its log holds.
    let after = RequestVerifier::new(WINDOW);
    let logged = SignedRequest::decode(&caller.envelope).unwrap();
    assert!(after.restore(&logged, NOW + 1_000));
    assert!(!after.restore(&logged, NOW + 1_000), "restored twice");
    let stale =
        SignedRequest::decode(&envelope(2, METHOD, BODY, NOW - WINDOW_MS - 5_000, 1)).unwrap();
    assert!(!after.restore(&stale, NOW + 1_000), "an expired request is not kept");
    assert_eq!(after.cached_nonces(), 1);
    let err = after.verify(Some(&header), METHOD, BODY, &DEST, NOW + 2_000, ledger).unwrap_err();
    assert!(matches!(err, AuthError::Replayed { .. }), "{err}");
    // Without the restore, the replay would have been accepted.
    let forgetful = RequestVerifier::new(WINDOW);
    forgetful.verify(Some(&header), METHOD, BODY, &DEST, NOW + 2_000, ledger).unwrap();
}

#[test]
fn an_envelope_verifies_on_its_own_for_its_method_chain_and_node() {
    let header = envelope(1, METHOD, BODY, NOW, 4);
    let request = verify_envelope(&header, METHOD, &DEST).unwrap();
    assert_eq!(request.address(), address_of(1));
    assert_eq!(request.body_sha256, <[u8; 32]>::from(Sha256::digest(BODY)));
    let other = "/cairn.v1.Access/VerifyDataHash";
    assert!(matches!(verify_envelope(&header, other, &DEST), Err(AuthError::BadSignature { .. })));
    let elsewhere = Destination { node: Address([1; 20]), ..DEST };
    assert!(matches!(
        verify_envelope(&header, METHOD, &elsewhere),
        Err(AuthError::WrongNode { .. })
    ));
    let other_chain = Destination { chain_id: "cairn-prod", ..DEST };
    assert!(matches!(
        verify_envelope(&header, METHOD, &other_chain),
        Err(AuthError::WrongChain { .. })
    ));
    // A field changed after signing (here the node, made to match).
    let mut moved = SignedRequest::decode(&header).unwrap();
    moved.node = Address([1; 20]);
    assert!(matches!(
        verify_envelope(&moved.encode(), METHOD, &elsewhere),
        Err(AuthError::BadSignature { .. })
    ));
    assert!(verify_envelope(&header[..100], METHOD, &DEST).is_err());
}

#[test]
fn only_a_revoked_callers_refusal_counts_as_authenticated() {
    let verifier = RequestVerifier::new(WINDOW);
    let refusal = |header: Option<Vec<u8>>| {
        verifier.verify(header.as_deref(), METHOD, BODY, &DEST, NOW, ledger).unwrap_err()
    };
    assert!(refusal(Some(envelope(3, METHOD, BODY, NOW, 1))).authenticated());
    assert!(!refusal(None).authenticated());
    assert!(!refusal(Some(envelope(4, METHOD, BODY, NOW, 1))).authenticated());
    assert!(!refusal(Some(resigned(1, 2))).authenticated());
    assert!(!refusal(Some(envelope(1, METHOD, BODY, NOW - 2 * WINDOW_MS, 1))).authenticated());
}

proptest! {
    #[test]
    fn random_headers_never_panic_and_are_refused(header in proptest::collection::vec(any::<u8>(), 0..400)) {
        let verifier = RequestVerifier::new(WINDOW);
        let err = verifier.verify(Some(&header), METHOD, BODY, &DEST, NOW, ledger).unwrap_err();
        prop_assert!(matches!(err.kind(), AuthErrorKind::InvalidArgument | AuthErrorKind::Unauthenticated), "{err}");
    }

    #[test]
    fn random_envelopes_with_the_right_digest_are_refused(
        public_key in any::<[u8; 32]>(),
        skew in -400_000i64..400_000,
        nonce in any::<[u8; 16]>(),
        signature in proptest::collection::vec(any::<u8>(), 64),
    ) {
        let signature: [u8; 64] = signature.try_into().unwrap_or([0; 64]);
        let request = SignedRequest {
            public_key,
            timestamp_ms: NOW.saturating_add_signed(skew),
            nonce,
            body_sha256: Sha256::digest(BODY).into(),
            chain_sha256: DEST.chain_sha256(),
            node: DEST.node,
            signature,
        };
        let verifier = RequestVerifier::new(WINDOW);
        let registered = |_: &Address| CallerStatus::Registered { organisation: "x".into(), role: Role::Public };
        let err = verifier.verify(Some(&request.encode()), METHOD, BODY, &DEST, NOW, registered).unwrap_err();
        prop_assert_eq!(err.kind(), AuthErrorKind::Unauthenticated, "{}", err);
    }
}
