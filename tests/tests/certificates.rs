//! Electronic certificates end to end against a real `cairn up --demo` node:
//! the full journey (register a holder, issue a degree, present it, verify it
//! from the QR image, renew, verify again, revoke, verify fails with
//! "revoked" and its reason), and each failure a verifier must see with a
//! clear reason: a forged issuer signature, another holder's certificate, a
//! certificate of another type presented for the wrong channel, an expired
//! certificate and a tampered QR payload.

use std::path::{Path, PathBuf};

use access_control::credential::presentation;
use access_control::keys::KeyPair;
use cairn_tests::{CliOutput, Node, Start, arg, cairn, on};
use serde_json::Value;

#[track_caller]
fn text(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("{value} is not a string")).to_string()
}

/// A demo node with a registered issuing agency and a registered holder.
struct Setup {
    _dir: tempfile::TempDir,
    node: Node,
    root: PathBuf,
    issuer: PathBuf,
    holder: PathBuf,
    holder_address: String,
    trusted: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().to_path_buf();
        let node = Node::start(&root.join("data"), Start::Demo).expect("cairn up --demo starts");
        let ca = root.join("data/demo/org-ca.key");
        let issuer = root.join("issuer.key");
        cairn(["key", "new", "--out", arg(&issuer)]).assert_success();
        on(
            &node,
            &[
                "identity",
                "register",
                "--key",
                arg(&issuer),
                "--name",
                "University registry",
                "--org",
                "dept-civil",
                "--role",
                "issuer",
                "--endorser-key",
                arg(&ca),
            ],
        )
        .assert_success();
        let holder = root.join("holder.key");
        let registered = on(
            &node,
            &[
                "cert",
                "register-user",
                "--name",
                "Ana Citizen",
                "--out",
                arg(&holder),
                "--endorser-key",
                arg(&ca),
                "--json",
            ],
        )
        .assert_success()
        .json();
        let holder_address = text(&registered["address"]);
        assert_eq!(text(&registered["validation_code"]), "valid");
        assert!(registered["block"].as_u64().is_some_and(|b| b > 0));
        assert_eq!(
            KeyPair::load(&holder).expect("the holder's key file").address().to_string(),
            holder_address,
            "the key pair was made on the client and the address is its own"
        );
        let keys = on(&node, &["cert", "keys", &holder_address, "--json"]).assert_success().json();
        assert_eq!(text(&keys["address"]), holder_address);
        let trusted = root.join("trusted.keys");
        let issuers = root.join("issuers.json");
        on(
            &node,
            &["node", "info", "--trusted-keys-out", arg(&trusted), "--issuers-out", arg(&issuers)],
        )
        .assert_success();
        let listed: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&issuers).expect("issuers file"))
                .expect("issuers JSON");
        assert_eq!(listed["degree"], serde_json::json!(["dept-civil"]), "{listed}");
        Setup { _dir: dir, node, root, issuer, holder, holder_address, trusted }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Issues a certificate of `cert_type` to the holder; returns its id.
    #[track_caller]
    fn issue(&self, cert_type: &str, content: &str) -> String {
        let issued = on(
            &self.node,
            &[
                "cert",
                "issue",
                "--key",
                arg(&self.issuer),
                "--holder",
                &self.holder_address,
                "--type",
                cert_type,
                "--content",
                content,
                "--valid-for",
                "365d",
                "--json",
            ],
        )
        .assert_success()
        .json();
        assert_eq!(text(&issued["validation_code"]), "valid");
        assert_eq!(text(&issued["tx_id"]).len(), 64);
        text(&issued["certificate_id"])
    }

    /// Presents a certificate with `key`; returns the presentation file.
    #[track_caller]
    fn present(&self, certificate_id: &str, key: &Path, name: &str) -> PathBuf {
        let out = self.path(name);
        on(&self.node, &["cert", "present", certificate_id, "--key", arg(key), "--out", arg(&out)])
            .assert_success();
        out
    }

    /// Syncs the issuer's status list to a file.
    #[track_caller]
    fn status_list(&self, name: &str) -> PathBuf {
        let out = self.path(name);
        on(&self.node, &["cert", "status-list", "dept-civil", "--out", arg(&out)]).assert_success();
        out
    }

    /// `cairn cert verify` of a presentation file or a QR image, offline.
    #[track_caller]
    fn verify(&self, source: &[&str], status_list: &Path, extra: &[&str]) -> CliOutput {
        let mut args = vec!["cert", "verify"];
        args.extend_from_slice(source);
        let issuers = self.path("issuers.json");
        args.extend(["--trusted-keys", arg(&self.trusted), "--status-list", arg(status_list)]);
        args.extend(["--issuers", arg(&issuers)]);
        args.extend_from_slice(extra);
        // No --node: an offline verification must not need one (the default address is not running).
        cairn(args.iter().copied().chain(["--node", "http://127.0.0.1:9"]))
    }
}

#[test]
fn issue_present_verify_renew_revoke() {
    let s = Setup::new();
    let degree = s.issue("degree", "BSc Physics, first class, 2026");

    // The holder, and only the holder, reads the content; the query by holder, block and tx works.
    let shown = on(&s.node, &["cert", "show", &degree, "--key", arg(&s.holder), "--json"])
        .assert_success()
        .json();
    assert_eq!(text(&shown["content"]), "BSc Physics, first class, 2026");
    assert_eq!(text(&shown["issuer_organisation"]), "dept-civil");
    let block = shown["block"].as_u64().expect("block").to_string();
    let by_tx = on(
        &s.node,
        &[
            "cert",
            "show",
            "--holder",
            &s.holder_address,
            "--block",
            &block,
            "--tx",
            &text(&shown["tx_id"]),
            "--json",
        ],
    )
    .assert_success()
    .json();
    assert_eq!(text(&by_tx["certificate_id"]), degree);
    on(&s.node, &["cert", "show", &degree, "--key", arg(&s.issuer)])
        .assert_failure_with("not the holder's");

    // Present, render as QR codes, verify from the PNG offline.
    let presentation = s.present(&degree, &s.holder, "degree.txt");
    let png = s.path("degree.png");
    let svg = s.path("degree.svg");
    cairn([
        "cert",
        "qr",
        "--presentation",
        arg(&presentation),
        "--png",
        arg(&png),
        "--svg",
        arg(&svg),
    ])
    .assert_success();
    let svg_text = std::fs::read_to_string(&svg).expect("the SVG");
    assert!(svg_text.contains("<svg"), "{svg_text:.200}");
    let terminal =
        cairn(["cert", "qr", "--presentation", arg(&presentation)]).assert_success().stdout.clone();
    assert!(terminal.contains('▀') || terminal.contains('▄'), "{terminal}");
    let list = s.status_list("status-1.json");
    let verified = s
        .verify(&["--qr", arg(&png)], &list, &["--type", "degree"])
        .assert_success()
        .stdout
        .clone();
    for check in [
        "issuer signature",
        "holder signature",
        "challenge",
        "checkpoint",
        "inclusion proof",
        "channel",
        "validity period",
        "revocation",
    ] {
        assert!(
            verified.lines().any(|l| l.starts_with("pass") && l.contains(check)),
            "no passed {check:?} line in:\n{verified}"
        );
    }
    assert!(verified.contains("status list  "), "the list's age is shown:\n{verified}");
    assert!(verified.contains("result       VALID"), "{verified}");
    // The channel checkpoint's anchor in the main ledger, proved against a signed ledger checkpoint.
    let anchored = on(
        &s.node,
        &["cert", "verify", "--qr", arg(&png), "--trusted-keys", arg(&s.trusted), "--check-anchor"],
    )
    .assert_success()
    .stdout
    .clone();
    assert!(
        anchored
            .lines()
            .any(|l| l.starts_with("pass") && l.contains("anchor") && l.contains("anchored by tx")),
        "{anchored}"
    );

    // A verifier's check on the node is recorded as a verification query.
    let verifier_key = s.root.join("data/demo/verifier.key");
    let recorded = on(
        &s.node,
        &[
            "cert",
            "verify",
            "--presentation",
            arg(&presentation),
            "--key",
            arg(&verifier_key),
            "--json",
        ],
    )
    .assert_success()
    .json();
    assert_eq!(recorded["recorded"]["valid"], Value::Bool(true));
    let event_id = text(&recorded["recorded"]["event_id"]);
    let events = on(
        &s.node,
        &["audit", "events", "--key", arg(&s.root.join("data/demo/auditor.key")), "--json"],
    )
    .assert_success()
    .json();
    let event = events
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["event_id"] == Value::String(event_id.clone()))
        .unwrap_or_else(|| panic!("access event {event_id} not in {events}"))
        .clone();
    assert_eq!(text(&event["action"]), "verify_certificate");
    assert!(text(&event["resource"]).contains(&degree), "{event}");

    // Renew: a new certificate linked to the old one; verify the new one.
    let renewed = on(
        &s.node,
        &["cert", "renew", &degree, "--key", arg(&s.issuer), "--valid-for", "730d", "--json"],
    )
    .assert_success()
    .json();
    let renewal = text(&renewed["certificate_id"]);
    assert_ne!(renewal, degree);
    let old = on(&s.node, &["cert", "show", &degree, "--json"]).assert_success().json();
    assert_eq!(text(&old["renewed_by"]), renewal);
    let presentation = s.present(&renewal, &s.holder, "renewal.txt");
    let png = s.path("renewal.png");
    cairn(["cert", "qr", "--presentation", arg(&presentation), "--png", arg(&png)])
        .assert_success();
    let list = s.status_list("status-2.json");
    s.verify(&["--qr", arg(&png)], &list, &["--type", "degree"]).assert_success();

    // Revoke, with a reason; the next synced status list makes the check fail, naming it.
    on(
        &s.node,
        &[
            "cert",
            "revoke",
            &renewal,
            "--key",
            arg(&s.issuer),
            "--reason",
            "degree withdrawn: plagiarism",
        ],
    )
    .assert_success();
    let list = s.status_list("status-3.json");
    let refused = s.verify(&["--qr", arg(&png)], &list, &[]);
    refused.assert_failure_with("revocation: revoked: degree withdrawn: plagiarism");
    assert!(
        refused.stdout.lines().any(|l| l.starts_with("FAIL") && l.contains("revoked")),
        "{}",
        refused.describe()
    );
    // Only the issuing organisation revokes; revoking twice is refused.
    on(&s.node, &["cert", "revoke", &renewal, "--key", arg(&s.holder), "--reason", "mine"])
        .assert_failure_with("not_authorised");
    on(&s.node, &["cert", "revoke", &renewal, "--key", arg(&s.issuer), "--reason", "again"])
        .assert_failure_with("already revoked");
    let listed =
        on(&s.node, &["cert", "list", "--key", arg(&s.holder), "--json"]).assert_success().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    // Only the holder lists its certificates: not an anonymous caller, not the issuer.
    let anonymous = list_certificates_as(&s, None);
    assert_eq!(anonymous.code(), tonic::Code::Unauthenticated, "{anonymous:?}");
    assert!(anonymous.message().contains("signed by the holder"), "{anonymous:?}");
    let issuer = KeyPair::load(&s.issuer).expect("issuer key");
    let other = list_certificates_as(&s, Some(&issuer));
    assert_eq!(other.code(), tonic::Code::PermissionDenied, "{other:?}");
    assert!(other.message().contains("only the holder"), "{other:?}");
}

/// Asks the node for the holder's certificates without the holder's
/// signature: unsigned, or signed by `signer`; answers the refusal.
fn list_certificates_as(s: &Setup, signer: Option<&KeyPair>) -> tonic::Status {
    use cairn_schemas::v1 as pb;
    use prost::Message as _;
    let message = pb::ListCertificatesRequest { holder: s.holder_address.clone() };
    let mut request = tonic::Request::new(message.clone());
    if let Some(signer) = signer {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64;
        let info = on(&s.node, &["node", "info", "--json"]).assert_success().json();
        let chain_id = info["chain_id"].as_str().expect("chain id").to_owned();
        let node: anchor_chaincode::Address =
            info["node_address"].as_str().expect("node address").parse().expect("an address");
        let envelope = access_control::request::SignedRequest::sign(
            signer.signing_key(),
            &access_control::request::Destination { chain_id: &chain_id, node },
            "/cairn.v1.Certificates/ListCertificates",
            &message.encode_to_vec(),
            now,
            [7; 16],
        );
        let _ = request.metadata_mut().insert_bin(
            access_control::request::AUTH_METADATA_KEY,
            tonic::metadata::MetadataValue::from_bytes(&envelope.encode()),
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(async {
        let channel = tonic::transport::Channel::from_shared(s.node.url())
            .expect("url")
            .connect()
            .await
            .expect("connect");
        pb::certificates_client::CertificatesClient::new(channel)
            .list_certificates(request)
            .await
            .expect_err("the certificates were listed without the holder's signature")
    })
}

/// Decodes a presentation file, changes it, and writes it under a new name.
fn altered(
    s: &Setup,
    file: &Path,
    name: &str,
    change: impl FnOnce(&mut presentation::Presentation),
) -> PathBuf {
    let text = std::fs::read_to_string(file).expect("the presentation");
    let mut decoded = presentation::decode(&text).expect("a valid presentation");
    change(&mut decoded);
    let out = s.path(name);
    std::fs::write(&out, presentation::encode(&decoded).expect("encodes")).expect("written");
    out
}

#[test]
fn verification_failures_name_their_reason() {
    let s = Setup::new();
    let degree = s.issue("degree", "MSc Chemistry");
    let presentation = s.present(&degree, &s.holder, "degree.txt");
    let list = s.status_list("status.json");
    s.verify(&["--presentation", arg(&presentation)], &list, &[]).assert_success();

    // A forged issuer signature.
    let forged = altered(&s, &presentation, "forged.txt", |p| p.issuer_signature[10] ^= 0x01);
    s.verify(&["--presentation", arg(&forged)], &list, &[])
        .assert_failure_with("issuer signature: issuer signature is forged or damaged");

    // Another holder presents this holder's certificate.
    let other = s.path("other.key");
    on(
        &s.node,
        &[
            "cert",
            "register-user",
            "--name",
            "Bo",
            "--out",
            arg(&other),
            "--endorser-key",
            arg(&s.root.join("data/demo/org-ca.key")),
        ],
    )
    .assert_success();
    on(&s.node, &["cert", "present", &degree, "--key", arg(&other)])
        .assert_failure_with("is held by");
    let other_key = KeyPair::load(&other).expect("the other holder's key");
    let stolen = altered(&s, &presentation, "stolen.txt", |p| {
        let at = p.presented_at_ms;
        p.sign_as_holder(other_key.signing_key(), at, b"");
    });
    s.verify(&["--presentation", arg(&stolen)], &list, &[])
        .assert_failure_with("another holder's certificate");

    // A certificate of another type, presented where a degree is checked.
    let marriage = s.issue("marriage", "Ana and Bo, 2026-06-01");
    let marriage_presentation = s.present(&marriage, &s.holder, "marriage.txt");
    let list = s.status_list("status-2.json");
    s.verify(&["--presentation", arg(&marriage_presentation)], &list, &["--type", "degree"])
        .assert_failure_with(
            "channel: the certificate is of type \"marriage\", but this check is for \"degree\"",
        );
    // And a marriage statement claimed under the degree channel's checkpoint fails its proof.
    let degree_text = std::fs::read_to_string(&presentation).expect("presentation");
    let degree_decoded = presentation::decode(&degree_text).expect("valid");
    let moved = altered(&s, &marriage_presentation, "moved.txt", |p| {
        p.checkpoint = degree_decoded.checkpoint.clone();
    });
    s.verify(&["--presentation", arg(&moved)], &list, &[]).assert_failure_with("wrong channel");

    // An expired certificate: checked after its end of validity; and one cannot be issued expired.
    s.verify(
        &["--presentation", arg(&presentation)],
        &list,
        &["--at", "2099-01-01T00:00:00Z", "--max-age", "1000000d", "--max-status-age", "1000000d"],
    )
    .assert_failure_with("validity period: expired");
    on(
        &s.node,
        &[
            "cert",
            "issue",
            "--key",
            arg(&s.issuer),
            "--holder",
            &s.holder_address,
            "--type",
            "degree",
            "--content",
            "old",
            "--valid-from",
            "2020-01-01T00:00:00Z",
            "--valid-until",
            "2021-01-01T00:00:00Z",
        ],
    )
    .assert_failure_with("would be expired");

    // A tampered QR payload: one character changed before the QR code was drawn.
    let mut tampered = degree_text.trim().to_string().into_bytes();
    let idx = tampered.len() / 2;
    tampered[idx] = if tampered[idx] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII");
    let png = s.path("tampered.png");
    std::fs::write(&png, access_control::credential::qr::png(&tampered).expect("a QR code"))
        .expect("written");
    s.verify(&["--qr", arg(&png)], &list, &[]).assert_failure_with("cannot be read");

    // The verifier's challenge: a presentation for another challenge is refused.
    let challenged = s.path("challenged.txt");
    on(
        &s.node,
        &[
            "cert",
            "present",
            &degree,
            "--key",
            arg(&s.holder),
            "--challenge",
            "n-123",
            "--out",
            arg(&challenged),
        ],
    )
    .assert_success();
    s.verify(&["--presentation", arg(&challenged)], &list, &["--challenge", "n-123"])
        .assert_success();
    s.verify(&["--presentation", arg(&challenged)], &list, &["--challenge", "n-456"])
        .assert_failure_with("another challenge");
}

#[test]
fn a_revoked_holders_certificate_fails_online_and_offline() {
    let s = Setup::new();
    let degree = s.issue("degree", "MSc Chemistry, 2026");
    let presentation = s.present(&degree, &s.holder, "held.txt");
    let before = s.status_list("before-revocation.json");
    s.verify(&["--presentation", arg(&presentation)], &before, &[]).assert_success();

    let ca_officer = s.root.join("data/demo/ca-officer.key");
    on(
        &s.node,
        &[
            "identity",
            "revoke",
            &s.holder_address,
            "--reason",
            "key stolen",
            "--key",
            arg(&ca_officer),
        ],
    )
    .assert_success();
    // Offline, with a list synced after the revocation.
    let after = s.status_list("after-revocation.json");
    let refused = s.verify(&["--presentation", arg(&presentation)], &after, &[]);
    refused.assert_failure_with("key stolen");
    assert!(
        refused.stdout.lines().any(|l| l.starts_with("FAIL") && l.contains("holder identity")),
        "{}",
        refused.describe()
    );
    // Online: the list fetched from the node.
    on(
        &s.node,
        &[
            "cert",
            "verify",
            "--presentation",
            arg(&presentation),
            "--trusted-keys",
            arg(&s.trusted),
        ],
    )
    .assert_failure_with("key stolen");
}
