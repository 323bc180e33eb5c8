//! Access events from any node, proven by any node: an event logged and
//! anchored by node A is proven by node B after A is killed, from A's signed
//! records on the access-event topic and against A's own anchor, under a
//! quorum of two of three nodes; a made-up event is refused by B (not signed
//! by A, or signed by A but never anchored), and a proof whose event was
//! swapped for a made-up one fails at the verifier. A verifier's statement
//! of queries A logged is served with proofs by B (its PostgreSQL
//! projection holds the lines) after A is killed, and checks offline.

use std::path::Path;
use std::time::{Duration, Instant};

use access_control::keys::KeyPair;
use base64::Engine;
use cairn_schemas::v1 as pb;
use cairn_tests::{CliOutput, Node, Start, VALID, cairn, connect, register_node_envelope, runtime};
use connectors::kafka::{KafkaConfig, KafkaProducer, OutRecord};

use crate::env::{CHAIN, Env, args_ref, node_key, synthetic_events};

const ASSET: &str = "health/clinic-registry";

async fn submit(url: &str, envelope: Vec<u8>) {
    let mut client = connect(url).await.unwrap();
    let answer = client.submit(pb::SubmitRequest { envelope }).await.unwrap().into_inner();
    assert_eq!(answer.validation_code, VALID, "{answer:?}");
}

/// Registers the node key in `dir` as a `node` identity of `organisation`.
async fn register_node(url: &str, dir: &Path, organisation: &str, ca: &KeyPair) {
    let key = KeyPair::load(&dir.join("node.key")).unwrap();
    // A node joins with its own organisation's endorsement too (the demo keeps its key).
    let demo = dir.parent().unwrap().join("a/demo");
    let own = KeyPair::load(&demo.join(format!("org-{organisation}.key"))).unwrap();
    let envelope = register_node_envelope(CHAIN, &key, organisation, organisation, ca, &own);
    submit(url, envelope.bytes).await;
}

/// Waits until the node at `url` has a quorum checkpoint with `members` members.
async fn quorum_of(url: &str, members: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut client = connect(url).await.unwrap();
        let seen = client.get_agreement(pb::GetAgreementRequest {}).await.unwrap().into_inner();
        if seen.members == members && seen.quorum_size > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "no quorum of {members} members on {url}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `cairn audit prove` of `event` on `node` by the demo's auditor, checked under `keys`.
fn prove(event: &str, node: &str, owner: Option<&str>, keys: &Path, dir: &Path) -> CliOutput {
    prove_as("auditor", event, node, owner, keys, dir)
}

/// `cairn audit prove` signed by the demo identity `who` (its key file stem).
fn prove_as(
    who: &str,
    event: &str,
    node: &str,
    owner: Option<&str>,
    keys: &Path,
    dir: &Path,
) -> CliOutput {
    let key = dir.join(format!("a/demo/{who}.key"));
    let mut args = vec![
        "audit".to_string(),
        "prove".into(),
        event.into(),
        "--key".into(),
        key.to_str().unwrap().into(),
        "--node".into(),
        node.into(),
        "--out".into(),
        dir.join("proof.json").to_str().unwrap().into(),
        "--checkpoint-out".into(),
        dir.join("checkpoint.txt").to_str().unwrap().into(),
        "--trusted-keys".into(),
        keys.to_str().unwrap().into(),
        "--json".into(),
    ];
    if let Some(owner) = owner {
        args.extend(["--owner".into(), owner.into()]);
    }
    cairn(args)
}

/// Proves `event` on `node`, retrying while it is not anchored (under quorum) yet.
fn prove_when_anchored(
    event: &str,
    node: &str,
    owner: Option<&str>,
    keys: &Path,
    dir: &Path,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = prove(event, node, owner, keys, dir);
        if out.success() {
            return out.json();
        }
        assert!(
            out.stderr.contains("not anchored")
                || out.stderr.contains("not under a quorum")
                || out.stderr.contains("try again")
                || out.stderr.contains("no access event"),
            "{}",
            out.describe()
        );
        assert!(Instant::now() < deadline, "never proven: {}", out.describe());
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Sends one access-topic record of `payload` at `leaf`, naming node `named`
/// and signed by `signer` under the key header `key_of`.
fn send_record(
    env: &Env,
    named: &KeyPair,
    key_of: &KeyPair,
    signer: &KeyPair,
    leaf: u64,
    payload: &[u8],
) {
    let producer = KafkaProducer::new(&KafkaConfig::new(env.kafka.clone())).unwrap();
    let address = named.address().to_string();
    let public_key = key_of.signing_public_key();
    let signature = asset_registry::audit::sign_record(signer.signing_key(), leaf, payload);
    let leaf = leaf.to_be_bytes();
    let headers: [(&str, &[u8]); 4] = [
        ("cairn-node", address.as_bytes()),
        ("cairn-leaf", leaf.as_slice()),
        ("cairn-node-key", public_key.as_slice()),
        ("cairn-signature", signature.as_slice()),
    ];
    let _ = producer
        .send_all(
            &env.access_topic,
            &[OutRecord { key: Some(b"made-up"), payload, headers: &headers, partition: None }],
        )
        .unwrap();
}

#[test]
fn an_event_logged_on_a_dead_node_is_proven_by_another_under_quorum() {
    let Some(env) = Env::new("anyaccess") else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut args = env.kafka_args();
    args.extend(["--audit-anchor-interval".into(), "300ms".into()]);
    let a = Node::start_with_args(
        &root.join("a"),
        Start::Demo,
        &args_ref(&[args.clone(), vec!["--demo-quorum".into(), "2".into()]].concat()),
    )
    .unwrap();
    let b = Node::start_with_args(&root.join("b"), Start::Existing, &args_ref(&args)).unwrap();
    let c = Node::start_with_args(&root.join("c"), Start::Existing, &args_ref(&args)).unwrap();
    let ca = KeyPair::load(&root.join("a/demo/org-ca.key")).unwrap();
    let (a_url, b_url) = (a.url(), b.url());
    let a_key = node_key(&a);
    let a_address = a_key.address().to_string();
    runtime().block_on(async {
        register_node(&a_url, &root.join("b"), "dept-health", &ca).await;
        register_node(&a_url, &root.join("c"), "dept-civil", &ca).await;
        quorum_of(&a_url, 3).await;
    });
    let keys = root.join("consortium.keys");
    let _ = cairn([
        "node",
        "agreement",
        "--node",
        &a_url,
        "--trusted-keys-out",
        keys.to_str().unwrap(),
    ])
    .assert_success();

    // An event logged on A: a verification query.
    let verified = cairn([
        "verify",
        "hash",
        ASSET,
        "--file",
        root.join("a/demo/clinic-registry.csv").to_str().unwrap(),
        "--key",
        root.join("a/demo/verifier.key").to_str().unwrap(),
        "--node",
        &a_url,
        "--json",
    ])
    .assert_success()
    .json();
    let event = verified["event_id"].as_str().unwrap().to_string();
    // A anchors it, under a quorum checkpoint.
    let from_a = prove_when_anchored(&event, &a_url, None, &keys, root);
    assert_eq!(from_a["relayed"], false, "{from_a}");
    assert_eq!(from_a["logged_by"], a_address.as_str(), "{from_a}");

    // A goes down for good; B proves A's event from A's records on the topic.
    let _ = a.kill().unwrap();
    let from_b = prove_when_anchored(&event, &b_url, Some(&a_address), &keys, root);
    assert_eq!(from_b["relayed"], true, "{from_b}");
    assert_eq!(from_b["logged_by"], a_address.as_str(), "{from_b}");
    assert_eq!(from_b["anchored_by"], a_address.as_str(), "{from_b}");
    let signers = from_b["signed_by"]["signers"].as_array().map_or(0, Vec::len);
    assert!(signers >= 2, "not under a quorum of 2: {from_b}");
    assert_eq!(from_b["signed_by"]["quorum"], 2, "{from_b}");
    // Who may have a relayed proof: the event's own identity (the verifier
    // that queried) and auditors, as for the node's own events; a provider
    // of another department is refused, and the refusal is itself recorded.
    let own = prove_as("verifier", &event, &b_url, Some(&a_address), &keys, root);
    assert_eq!(own.assert_success().json()["relayed"], true, "{}", own.describe());
    let refused = prove_as("health-provider", &event, &b_url, Some(&a_address), &keys, root);
    assert!(!refused.success(), "{}", refused.describe());
    assert!(refused.stderr.contains("access event"), "{}", refused.describe());
    assert!(!refused.stderr.contains("no access event"), "{}", refused.describe());
    // Without --owner, B finds the owner itself.
    let found = prove_when_anchored(&event, &b_url, None, &keys, root);
    assert_eq!(found["logged_by"], a_address.as_str(), "{found}");

    // Offline, with the consortium's keys.
    let proof = root.join("proof.json");
    let verify = |proof: &Path| {
        cairn([
            "proof",
            "verify",
            proof.to_str().unwrap(),
            "--checkpoint",
            root.join("checkpoint.txt").to_str().unwrap(),
            "--trusted-keys",
            keys.to_str().unwrap(),
            "--json",
        ])
    };
    let report = verify(&proof).assert_success().json();
    assert_eq!(report["valid"], true, "{report}");
    assert_eq!(report["proved"]["event"]["event_id"], event.as_str(), "{report}");

    // A made-up event put in the relayed proof's place fails at the verifier.
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut made_up = synthetic_events(1, 1).remove(0);
    made_up.event_id = "f".repeat(32);
    let made_up_bytes = made_up.encode();
    let mut forged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    forged["event"] = b64.encode(&made_up_bytes).into();
    let forged_path = root.join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let refused = verify(&forged_path);
    assert!(!refused.success(), "{}", refused.describe());
    assert!(refused.stdout.contains("event in anchored log"), "{}", refused.describe());

    // Made-up events on the topic, named for A: signed by an outsider (under
    // its own key header, and under A's), and signed by A's own key at A's
    // next leaf but never anchored. B serves none of them.
    let outsider = KeyPair::generate().unwrap();
    let mut events = synthetic_events(3, 1);
    for (i, event) in events.iter_mut().enumerate() {
        event.event_id = format!("{:032x}", 0xbad0 + i);
    }
    let next_leaf = from_b["event_index"].as_u64().unwrap() + 1000;
    send_record(&env, &a_key, &outsider, &outsider, 0, &events[0].encode());
    send_record(&env, &a_key, &a_key, &outsider, 1, &events[1].encode());
    send_record(&env, &a_key, &a_key, &a_key, next_leaf, &events[2].encode());
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.stderr().matches("not relaying an access-topic record").count() < 2 {
        assert!(Instant::now() < deadline, "B never refused the forged records: {}", b.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    for made_up in &events[..2] {
        prove(&made_up.event_id, &b_url, Some(&a_address), &keys, root).assert_failure_with(
            &format!("no access event {} of node {a_address}", made_up.event_id),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = prove(&events[2].event_id, &b_url, Some(&a_address), &keys, root);
        assert!(!out.success(), "{}", out.describe());
        if out.stderr.contains("not anchored") {
            break;
        }
        assert!(out.stderr.contains("no access event"), "{}", out.describe());
        assert!(Instant::now() < deadline, "{}", out.describe());
        std::thread::sleep(Duration::from_millis(200));
    }
    // An id nobody logged.
    prove(&"0".repeat(32), &b_url, None, &keys, root)
        .assert_failure_with("nor among the records other nodes signed");
    drop((b, c));
}

/// `cairn ARGS --node URL`, asserting success.
fn on(url: &str, args: &[&str]) -> CliOutput {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--node", url]);
    cairn(all)
}

#[test]
fn a_statement_of_a_dead_nodes_lines_is_proven_by_another_node() {
    let Some(env) = Env::new("anybill") else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let anchor = ["--audit-anchor-interval".to_string(), "300ms".into()];
    let a_args = [env.kafka_args(), anchor.to_vec()].concat();
    let b_args = [env.all_args(), anchor.to_vec()].concat();
    let a = Node::start_with_args(&root.join("a"), Start::Demo, &args_ref(&a_args)).unwrap();
    let b = Node::start_with_args(&root.join("b"), Start::Existing, &args_ref(&b_args)).unwrap();
    let (a_url, b_url) = (a.url(), b.url());
    let demo = |name: &str| root.join(format!("a/demo/{name}.key"));
    let ca = KeyPair::load(&demo("org-ca")).unwrap();
    runtime().block_on(register_node(&a_url, &root.join("b"), "dept-health", &ca));
    // A verifier with an account, whose queries A logs and meters.
    let verifier_key = root.join("verifier.key");
    cairn(["key", "new", "--out", verifier_key.to_str().unwrap()]).assert_success();
    let verifier = KeyPair::load(&verifier_key).unwrap().address().to_string();
    on(
        &a_url,
        &[
            "identity",
            "register",
            "--key",
            verifier_key.to_str().unwrap(),
            "--name",
            "v",
            "--org",
            "verifier-co",
            "--role",
            "verifier",
            "--endorser-key",
            demo("org-ca").to_str().unwrap(),
        ],
    )
    .assert_success();
    on(
        &a_url,
        &[
            "billing",
            "account",
            "open",
            "--holder",
            &verifier,
            "--payment",
            "postpaid",
            "--price-per-query",
            "5",
            "--key",
            demo("hub-operator").to_str().unwrap(),
        ],
    )
    .assert_success();
    let csv = root.join("a/demo/clinic-registry.csv");
    let mut events = Vec::new();
    for _ in 0..2 {
        let out = on(
            &a_url,
            &[
                "verify",
                "hash",
                ASSET,
                "--file",
                csv.to_str().unwrap(),
                "--key",
                verifier_key.to_str().unwrap(),
                "--json",
            ],
        );
        events.push(out.assert_success().json()["event_id"].as_str().unwrap().to_string());
    }
    // Both nodes' keys, read while A is up.
    let keys = root.join("trusted.keys");
    let mut text = String::new();
    for (url, name) in [(&a_url, "a.keys"), (&b_url, "b.keys")] {
        let path = root.join(name);
        on(url, &["node", "info", "--trusted-keys-out", path.to_str().unwrap()]).assert_success();
        text.push_str(&std::fs::read_to_string(&path).unwrap());
    }
    std::fs::write(&keys, text).unwrap();
    // A anchors both events; B's projection holds both lines.
    let auditor = demo("auditor");
    let month = asset_registry::billing::Month::of_ms(cairn_tests::now_ms()).to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let anchored = on(
            &a_url,
            &[
                "audit",
                "prove",
                &events[1],
                "--key",
                auditor.to_str().unwrap(),
                "--out",
                root.join("last.json").to_str().unwrap(),
            ],
        )
        .success();
        let statement = on(
            &b_url,
            &[
                "billing",
                "statement",
                "--verifier",
                &verifier,
                "--month",
                &month,
                "--key",
                auditor.to_str().unwrap(),
                "--json",
            ],
        );
        let lines = if statement.success() {
            statement.json()["lines"].as_array().map_or(0, Vec::len)
        } else {
            0
        };
        if anchored && lines == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "not anchored or projected: {}", statement.describe());
        std::thread::sleep(Duration::from_millis(300));
    }

    // A goes down; B serves the statement with A's lines proven, and it checks offline.
    let _ = a.kill().unwrap();
    let file = root.join("statement.json");
    let statement = on(
        &b_url,
        &[
            "billing",
            "statement",
            "--verifier",
            &verifier,
            "--month",
            &month,
            "--key",
            auditor.to_str().unwrap(),
            "--proofs",
            "--out",
            file.to_str().unwrap(),
            "--json",
        ],
    );
    let statement = statement.assert_success().json();
    assert_eq!(statement["total"], 10, "{statement}");
    let checked = cairn([
        "billing",
        "check",
        file.to_str().unwrap(),
        "--trusted-keys",
        keys.to_str().unwrap(),
        "--json",
    ]);
    let report = checked.assert_success().json();
    assert_eq!(report["valid"], true, "{report:#}");
    drop(b);
}
