//! Signed requests, access decisions and the audit log, end to end against a
//! running `cairn up --demo`: every attack gets its gRPC status and a clear
//! reason, is recorded as a denied access event, and changes no ledger state;
//! recorded events can be proved offline from an anchored checkpoint.

use std::path::Path;
use std::time::Duration;

use access_control::keys::KeyPair;
use access_control::request::{AUTH_METADATA_KEY, SignedRequest};
use anchor_chaincode::Address;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::access_client::AccessClient;
use cairn_tests::{Node, Start, cairn, connect, now_ms, sign_request, target};
use prost::Message;
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

const METHOD: &str = "/cairn.v1.Access/RequestAccess";
const ASSET: &str = "health/clinic-registry";

fn key(data_dir: &Path, name: &str) -> KeyPair {
    KeyPair::load(&data_dir.join("demo").join(format!("{name}.key"))).unwrap()
}

/// A request whose metadata carries `envelope` (or nothing).
fn with_envelope(
    message: pb::RequestAccessRequest,
    envelope: Option<Vec<u8>>,
) -> tonic::Request<pb::RequestAccessRequest> {
    let mut request = tonic::Request::new(message);
    if let Some(envelope) = envelope {
        let _ = request
            .metadata_mut()
            .insert_bin(AUTH_METADATA_KEY, MetadataValue::from_bytes(&envelope));
    }
    request
}

fn ask(asset_id: &str) -> pb::RequestAccessRequest {
    pb::RequestAccessRequest { asset_id: asset_id.into(), version: 0 }
}

/// Where requests to a node go: its chain id and its address.
type Target = (String, Address);

fn sign(
    target: &Target,
    key: &KeyPair,
    method: &str,
    message: &pb::RequestAccessRequest,
    timestamp_ms: u64,
    nonce: u8,
) -> Vec<u8> {
    sign_request(key, target, method, &message.encode_to_vec(), timestamp_ms, [nonce; 16])
}

/// The event id a refusal names: "… (access event ID)".
fn event_id(status: &tonic::Status) -> String {
    let message = status.message();
    let start =
        message.rfind("(access event ").unwrap_or_else(|| panic!("no access event in {message:?}"));
    message[start + 14..].trim_end_matches(')').to_string()
}

async fn access_client(url: &str) -> AccessClient<Channel> {
    AccessClient::new(Channel::from_shared(url.to_string()).unwrap().connect().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attacks_are_refused_recorded_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let node = Node::start(&data, Start::Demo).unwrap();
    let url = node.url();
    let consumer = key(&data, "civil-consumer");
    let verifier = key(&data, "verifier");
    let stranger = KeyPair::generate().unwrap();

    // A second consumer that is registered but not on the asset's list, and one to revoke.
    let outsider_path = dir.path().join("outsider.key");
    let revoked_path = dir.path().join("revoked.key");
    for (path, name) in [(&outsider_path, "Outsider"), (&revoked_path, "Revoked")] {
        cairn(["key", "new", "--out", path.to_str().unwrap()]).assert_success();
        let ca = data.join("demo/org-ca.key");
        cairn([
            "identity",
            "register",
            "--node",
            &url,
            "--key",
            path.to_str().unwrap(),
            "--name",
            name,
            "--org",
            "dept-civil",
            "--role",
            "consumer",
            "--endorser-key",
            ca.to_str().unwrap(),
        ])
        .assert_success();
    }
    let outsider = KeyPair::load(&outsider_path).unwrap();
    let revoked = KeyPair::load(&revoked_path).unwrap();
    let ca_officer = data.join("demo/ca-officer.key");
    cairn([
        "identity",
        "revoke",
        &revoked.address().to_string(),
        "--reason",
        "laptop stolen",
        "--key",
        ca_officer.to_str().unwrap(),
        "--node",
        &url,
    ])
    .assert_success();

    let mut ledger = connect(&url).await.unwrap();
    let before = ledger.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap().into_inner();
    let mut client = access_client(&url).await;
    let target = target(&url).await.unwrap();

    // The control: an authorised consumer is allowed.
    let message = ask(ASSET);
    let valid = sign(&target, &consumer, METHOD, &message, now_ms(), 1);
    let granted = client
        .request_access(with_envelope(message.clone(), Some(valid.clone())))
        .await
        .unwrap()
        .into_inner();
    assert!(granted.reason.contains("is on the authorised list"), "{}", granted.reason);

    // Each attack: (name, request, expected code, words the reason must contain).
    let now = now_ms();
    let mut forged =
        SignedRequest::decode(&sign(&target, &verifier, METHOD, &message, now, 3)).unwrap();
    forged.public_key = consumer.signing_public_key();
    let big = ask(&"x".repeat(1_200_000));
    let cases: Vec<(&str, tonic::Request<pb::RequestAccessRequest>, Code, &str)> = vec![
        (
            "replayed",
            with_envelope(message.clone(), Some(valid)),
            Code::Unauthenticated,
            "replayed request",
        ),
        (
            "re-signed by another identity",
            with_envelope(message.clone(), Some(forged.encode())),
            Code::Unauthenticated,
            "bad signature",
        ),
        (
            "body changed after signing",
            with_envelope(
                ask("health/other"),
                Some(sign(&target, &consumer, METHOD, &message, now, 4)),
            ),
            Code::Unauthenticated,
            "body was changed after signing",
        ),
        (
            "signed for another method",
            with_envelope(
                message.clone(),
                Some(sign(&target, &consumer, "/cairn.v1.Access/VerifyDataHash", &message, now, 5)),
            ),
            Code::Unauthenticated,
            "bad signature",
        ),
        (
            "expired",
            with_envelope(
                message.clone(),
                Some(sign(&target, &consumer, METHOD, &message, now - 10 * 60_000, 6)),
            ),
            Code::Unauthenticated,
            "expired",
        ),
        (
            "from the future",
            with_envelope(
                message.clone(),
                Some(sign(&target, &consumer, METHOD, &message, now + 10 * 60_000, 7)),
            ),
            Code::Unauthenticated,
            "from the future",
        ),
        (
            "revoked identity",
            with_envelope(message.clone(), Some(sign(&target, &revoked, METHOD, &message, now, 8))),
            Code::PermissionDenied,
            "laptop stolen",
        ),
        (
            "unknown identity",
            with_envelope(
                message.clone(),
                Some(sign(&target, &stranger, METHOD, &message, now, 9)),
            ),
            Code::Unauthenticated,
            "unknown identity",
        ),
        (
            "malformed envelope",
            with_envelope(message.clone(), Some(vec![2, 2, 3])),
            Code::InvalidArgument,
            "malformed",
        ),
        ("unsigned", with_envelope(message.clone(), None), Code::Unauthenticated, "not signed"),
        (
            "version 1 envelope",
            with_envelope(message.clone(), Some([vec![1], vec![0; 152]].concat())),
            Code::InvalidArgument,
            "version 1 does not name the chain and the node",
        ),
        (
            "signed for another chain",
            with_envelope(
                message.clone(),
                Some(sign(
                    &("cairn-elsewhere".to_string(), target.1),
                    &consumer,
                    METHOD,
                    &message,
                    now,
                    14,
                )),
            ),
            Code::Unauthenticated,
            "request was signed for another chain",
        ),
        (
            "signed for another node",
            with_envelope(
                message.clone(),
                Some(sign(
                    &(target.0.clone(), Address([7; 20])),
                    &consumer,
                    METHOD,
                    &message,
                    now,
                    15,
                )),
            ),
            Code::Unauthenticated,
            "not for this node",
        ),
        (
            "oversized",
            with_envelope(big.clone(), Some(sign(&target, &consumer, METHOD, &big, now, 10))),
            Code::InvalidArgument,
            "larger than the limit",
        ),
        (
            "role may not request data",
            with_envelope(
                message.clone(),
                Some(sign(&target, &verifier, METHOD, &message, now, 11)),
            ),
            Code::PermissionDenied,
            "no rule allows it",
        ),
        (
            "not on the authorised list",
            with_envelope(
                message.clone(),
                Some(sign(&target, &outsider, METHOD, &message, now, 12)),
            ),
            Code::PermissionDenied,
            "is not on the authorised list",
        ),
        (
            "no such asset",
            with_envelope(
                ask("health/none"),
                Some(sign(&target, &consumer, METHOD, &ask("health/none"), now, 13)),
            ),
            Code::PermissionDenied,
            "does not exist",
        ),
    ];
    let mut denied = Vec::new();
    for (name, request, code, words) in cases {
        let status = client.request_access(request).await.expect_err(name);
        assert_eq!(status.code(), code, "{name}: {}", status.message());
        assert!(
            status.message().contains(words),
            "{name}: {:?} does not say {words:?}",
            status.message()
        );
        denied.push((name, event_id(&status), words));
    }

    // Nothing changed on the ledger.
    let after = ledger.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap().into_inner();
    assert_eq!(after.state_root, before.state_root, "an access attempt changed the state");
    assert_eq!(after.height, before.height, "an access attempt made a block");

    // Every refusal is a denied access event with its reason, and the grant an allowed one.
    let auditor = data.join("demo/auditor.key");
    let listed = cairn([
        "audit",
        "events",
        "--key",
        auditor.to_str().unwrap(),
        "--node",
        &url,
        "--limit",
        "1000",
        "--json",
    ])
    .assert_success()
    .json();
    let events = listed.as_array().unwrap();
    for (name, id, words) in &denied {
        let event = events
            .iter()
            .find(|e| e["event_id"] == *id)
            .unwrap_or_else(|| panic!("{name}: no event {id}"));
        assert_eq!(event["decision"], "denied", "{name}");
        assert!(event["reason"].as_str().unwrap().contains(words), "{name}: {event}");
    }
    assert!(
        events
            .iter()
            .any(|e| e["event_id"] == granted.event_id.as_str() && e["decision"] == "allowed")
    );
    let only_denied = cairn([
        "audit",
        "events",
        "--key",
        auditor.to_str().unwrap(),
        "--node",
        &url,
        "--decision",
        "denied",
        "--identity",
        &outsider.address().to_string(),
        "--json",
    ])
    .assert_success()
    .json();
    assert_eq!(only_denied.as_array().unwrap().len(), 1, "{only_denied}");

    // The consumer may read its own events but not the whole audit log.
    let consumer_key = data.join("demo/civil-consumer.key");
    cairn(["audit", "events", "--key", consumer_key.to_str().unwrap(), "--node", &url])
        .assert_failure_with("may not read_audit");
    cairn([
        "audit",
        "events",
        "--key",
        consumer_key.to_str().unwrap(),
        "--node",
        &url,
        "--identity",
        &consumer.address().to_string(),
    ])
    .assert_success();
    drop(client);
    drop(ledger);
    node.stop_cleanly();
}

/// `RequestAccess` with `envelope`; the refusal's message, or "granted".
async fn try_request(url: &str, envelope: Vec<u8>) -> Result<String, tonic::Status> {
    let mut client = access_client(url).await;
    client
        .request_access(with_envelope(ask(ASSET), Some(envelope)))
        .await
        .map(|granted| granted.into_inner().event_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_accepted_once_by_the_node_and_chain_it_was_signed_for() {
    let dir = tempfile::tempdir().unwrap();
    let data_a = dir.path().join("a");
    let data_b = dir.path().join("b");
    let node_a = Node::start(&data_a, Start::Demo).unwrap();
    let node_b = Node::start(&data_b, Start::Demo).unwrap();
    let (url_a, url_b) = (node_a.url(), node_b.url());
    let target_a = target(&url_a).await.unwrap();
    let target_b = target(&url_b).await.unwrap();
    assert_ne!(target_a.1, target_b.1, "two nodes share a key");
    let consumer = key(&data_a, "civil-consumer");
    let message = ask(ASSET);

    // Accepted by node A, for which it was signed.
    let for_a = sign(&target_a, &consumer, METHOD, &message, now_ms(), 1);
    try_request(&url_a, for_a.clone()).await.unwrap();

    // Node B refuses it: the envelope names node A.
    let refused = try_request(&url_b, for_a.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{}", refused.message());
    assert!(
        refused.message().contains(&format!(
            "request was signed for node {}, not for this node {}",
            target_a.1, target_b.1
        )),
        "{}",
        refused.message()
    );

    // A request signed for another chain id is refused by node A.
    let other_chain = ("cairn-other-chain".to_string(), target_a.1);
    let refused = try_request(&url_a, sign(&other_chain, &consumer, METHOD, &message, now_ms(), 2))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(
        refused.message().contains("request was signed for another chain: this node serves chain"),
        "{}",
        refused.message()
    );

    // Replayed to node A before and after a restart: refused both times.
    let refused = try_request(&url_a, for_a.clone()).await.unwrap_err();
    assert!(refused.message().contains("replayed request"), "{}", refused.message());
    node_a.stop_cleanly();
    let node_a = Node::start(&data_a, Start::Existing).unwrap();
    let url_a = node_a.url();
    let refused = try_request(&url_a, for_a.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{}", refused.message());
    assert!(refused.message().contains("replayed request"), "{}", refused.message());
    // After a crash (SIGKILL) too: the nonce was durable before the answer.
    let fresh = sign(&target_a, &consumer, METHOD, &message, now_ms(), 3);
    try_request(&url_a, fresh.clone()).await.unwrap();
    let _ = node_a.kill().unwrap();
    let node_a = Node::start(&data_a, Start::Existing).unwrap();
    let refused = try_request(&node_a.url(), fresh).await.unwrap_err();
    assert!(refused.message().contains("replayed request"), "{}", refused.message());
    // A new request of the same caller is served.
    try_request(&node_a.url(), sign(&target_a, &consumer, METHOD, &message, now_ms(), 4))
        .await
        .unwrap();
    node_a.stop_cleanly();
    node_b.stop_cleanly();
}

#[test]
fn an_access_event_is_proved_offline_from_an_anchored_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let node =
        Node::start_with_args(&data, Start::Demo, &["--audit-anchor-interval", "200ms"]).unwrap();
    let url = node.url();
    let path = |name: &str| data.join(format!("demo/{name}.key")).to_str().unwrap().to_string();
    let verified = cairn([
        "verify",
        "hash",
        ASSET,
        "--file",
        data.join("demo/clinic-registry.csv").to_str().unwrap(),
        "--key",
        &path("verifier"),
        "--node",
        &url,
        "--json",
    ])
    .assert_success()
    .json();
    assert_eq!(verified["matches"], true);
    let event = verified["event_id"].as_str().unwrap().to_string();
    cairn([
        "verify",
        "hash",
        ASSET,
        "--hash",
        &"00".repeat(32),
        "--key",
        &path("verifier"),
        "--node",
        &url,
    ])
    .assert_failure_with("does not match");
    let trusted = dir.path().join("trusted.keys");
    cairn(["node", "info", "--node", &url, "--trusted-keys-out", trusted.to_str().unwrap()])
        .assert_success();

    // Wait for the anchor that covers the event.
    let proof = dir.path().join("audit-proof.json");
    let checkpoint = dir.path().join("checkpoint.txt");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = cairn([
            "audit",
            "prove",
            &event,
            "--key",
            &path("auditor"),
            "--node",
            &url,
            "--out",
            proof.to_str().unwrap(),
            "--checkpoint-out",
            checkpoint.to_str().unwrap(),
        ]);
        if out.success() {
            break;
        }
        assert!(out.stderr.contains("not anchored"), "{}", out.describe());
        assert!(std::time::Instant::now() < deadline, "the event was never anchored");
        std::thread::sleep(Duration::from_millis(200));
    }
    node.stop_cleanly();

    // Offline.
    let verify = |proof: &Path| {
        cairn([
            "proof",
            "verify",
            proof.to_str().unwrap(),
            "--checkpoint",
            checkpoint.to_str().unwrap(),
            "--trusted-keys",
            trusted.to_str().unwrap(),
            "--json",
        ])
    };
    let report = verify(&proof).assert_success().json();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["proved"]["event"]["event_id"], event.as_str());
    assert_eq!(report["proved"]["event"]["action"], "verify");

    // A changed event, or a changed anchor, no longer verifies.
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    for field in ["event", "anchor_leaf"] {
        let mut bytes = b64.decode(original[field].as_str().unwrap()).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x01;
        let mut tampered = original.clone();
        tampered[field] = b64.encode(&bytes).into();
        let tampered_path = dir.path().join(format!("tampered-{field}.json"));
        std::fs::write(&tampered_path, tampered.to_string()).unwrap();
        let report = verify(&tampered_path);
        assert!(!report.success(), "a changed {field} still verified");
        assert_eq!(report.json()["valid"], false);
    }
}

#[test]
fn tls_serves_clients_that_trust_its_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let openssl = |args: &[&str]| {
        let status =
            std::process::Command::new("openssl").args(args).current_dir(d).output().unwrap();
        assert!(
            status.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Cairn test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "node.key.pem",
        "-out",
        "node.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        d.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "node.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "node.pem",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
    ]);
    let cert = d.join("node.pem");
    let key = d.join("node.key.pem");
    let node = Node::start_with_args(
        &d.join("data"),
        Start::Demo,
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    )
    .unwrap();
    let url = format!("https://localhost:{}", node.addr().port());
    let ca = d.join("ca.pem");
    let info = cairn(["node", "info", "--node", &url, "--ca-cert", ca.to_str().unwrap(), "--json"])
        .assert_success()
        .json();
    assert_eq!(info["chain_id"], "cairn-demo");
    // Trusting another CA (here: the node's own leaf as if it were a CA) fails, and so does plain HTTP.
    cairn(["node", "info", "--node", &url, "--ca-cert", cert.to_str().unwrap()])
        .assert_failure_with("cannot reach the node");
    cairn(["node", "info", "--node", &url]).assert_failure_with("--ca-cert");
    let plain = format!("http://127.0.0.1:{}", node.addr().port());
    assert!(!cairn(["node", "info", "--node", &plain]).success());
    node.stop_cleanly();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unauthenticated_requests_is_counted_not_logged_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let node = Node::start(&data, Start::Demo).unwrap();
    let url = node.url();
    let target = target(&url).await.unwrap();
    let consumer = key(&data, "civil-consumer");
    let mut client = access_client(&url).await;
    const FLOOD: usize = 400;
    let started = std::time::Instant::now();
    let mut counted_only = 0;
    for _ in 0..FLOOD {
        let status = client.request_access(with_envelope(ask(ASSET), None)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{}", status.message());
        if status.message().contains("not recorded one by one") {
            counted_only += 1;
        }
    }
    let seconds = started.elapsed().as_secs() + 1;
    // Valid requests are still served, and recorded.
    let granted = client
        .request_access(with_envelope(
            ask(ASSET),
            Some(sign(&target, &consumer, METHOD, &ask(ASSET), now_ms(), 1)),
        ))
        .await
        .unwrap()
        .into_inner();
    let auditor = data.join("demo/auditor.key");
    let events = || {
        cairn([
            "audit",
            "events",
            "--key",
            auditor.to_str().unwrap(),
            "--node",
            &url,
            "--limit",
            "10000",
            "--json",
        ])
        .assert_success()
        .json()
    };
    let listed = events();
    let listed = listed.as_array().unwrap();
    let recorded = listed
        .iter()
        .filter(|e| e["reason"].as_str().unwrap_or_default().contains("request is not signed"))
        .count();
    assert_eq!(recorded + counted_only, FLOOD, "each refusal is recorded or counted");
    assert!(
        recorded as u64 <= 20 * (seconds + 1),
        "{recorded} refusals recorded one by one in {seconds} s"
    );
    assert!(counted_only > 0, "the flood was recorded one by one");
    assert!(listed.iter().any(|e| e["event_id"] == granted.event_id.as_str()));
    // The count is recorded as one summary event.
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    loop {
        let listed = events();
        let summary = listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "unauthenticated_refusals")
            .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>();
        let counted: usize = summary
            .iter()
            .filter_map(|reason| reason.split_whitespace().next()?.parse::<usize>().ok())
            .sum();
        if counted == counted_only {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no summary of {counted_only}: {summary:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(client);
    node.stop_cleanly();
}
