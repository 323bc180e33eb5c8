//! Three department nodes on one ledger topic cosign checkpoints: a quorum
//! (2 of 3) makes them final, a proof of a transaction submitted to one node
//! is served under quorum by another and verifies offline with the
//! consortium's keys, an outside witness cosigns what one node pushes to it, a node that is down does not block the
//! quorum and cosigns again once restarted, and a node that cosigns a forged root raises the divergence alarm
//! on the others and is never counted. Last, one node's log is altered after
//! the fact (a copy of the topic with one record changed): restarted on it,
//! the node stops, since the log differs from what it cosigned, and with its
//! data directory wiped it stops too, on reading its own earlier
//! cosignatures; a newly joined node on that altered log cosigns the forged
//! root, the others name it and the height, and no quorum or client ever
//! accepts the forged history.

use std::path::Path;
use std::time::{Duration, Instant};

use access_control::keys::KeyPair;
use anchor_chaincode::Role;
use anchor_chaincode::checkpoint::{Checkpoint, CosignatureSigner};
use cairn_schemas::v1 as pb;
use cairn_tests::{
    Node, Start, VALID, WITNESS_NAME, Witness, cairn, connect, register_envelope,
    register_node_envelope, runtime,
};
use connectors::kafka::{KafkaConfig, KafkaProducer, OutRecord};

use crate::env::{CHAIN, Env, args_ref};

async fn submit(url: &str, envelope: Vec<u8>) -> u64 {
    let mut client = connect(url).await.unwrap();
    let answer = client.submit(pb::SubmitRequest { envelope }).await.unwrap().into_inner();
    assert_eq!(answer.validation_code, VALID, "{answer:?}");
    answer.block_number
}

/// Registers the node key in `dir` as a `node` identity of `organisation`,
/// endorsed by the certification authority and the organisation's key (in
/// the demo's key directory beside `ca`).
async fn register_node(url: &str, dir: &Path, organisation: &str, ca: &KeyPair) -> KeyPair {
    let key = KeyPair::load(&dir.join("node.key")).unwrap();
    let demo = dir.parent().unwrap().join("a/demo");
    let own = KeyPair::load(&demo.join(format!("org-{organisation}.key"))).unwrap();
    let envelope = register_node_envelope(CHAIN, &key, organisation, organisation, ca, &own);
    let _ = submit(url, envelope.bytes).await;
    key
}

async fn agreement(url: &str) -> pb::Agreement {
    let mut client = connect(url).await.unwrap();
    client.get_agreement(pb::GetAgreementRequest {}).await.unwrap().into_inner()
}

/// Waits until the node at `url` has a quorum checkpoint of at least `size`.
async fn quorum_at_least(url: &str, size: u64) -> pb::Agreement {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = agreement(url).await;
        if seen.quorum_size >= size {
            return seen;
        }
        assert!(Instant::now() < deadline, "no quorum at size {size} on {url}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn tree_size(url: &str) -> u64 {
    let mut client = connect(url).await.unwrap();
    client.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap().into_inner().tree_size
}

fn consumer(n: usize, ca: &KeyPair) -> Vec<u8> {
    let identity = KeyPair::generate().unwrap();
    register_envelope(CHAIN, &identity, &format!("q{n}"), "dept-civil", Role::Consumer, ("ca", ca))
        .bytes
}

#[test]
fn three_nodes_cosign_and_a_quorum_of_two_makes_checkpoints_final() {
    let Some(env) = Env::new("quorum") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut args = env.kafka_args();
    // A pushes its quorum checkpoints to an outside witness, which starts later.
    let witness_port = cairn_tests::free_port();
    let a_extra = vec![
        "--demo-quorum".into(),
        "2".into(),
        "--witness".into(),
        format!("http://127.0.0.1:{witness_port}"),
    ];
    let a = Node::start_with_args(
        &dir.path().join("a"),
        Start::Demo,
        &args_ref(&[args.clone(), a_extra].concat()),
    )
    .unwrap();
    let b =
        Node::start_with_args(&dir.path().join("b"), Start::Existing, &args_ref(&args)).unwrap();
    let c =
        Node::start_with_args(&dir.path().join("c"), Start::Existing, &args_ref(&args)).unwrap();
    args.clear();
    let ca = KeyPair::load(&dir.path().join("a/demo/org-ca.key")).unwrap();
    let (a_url, b_url, c_url) = (a.url(), b.url(), c.url());
    let keys = dir.path().join("consortium.keys");
    let c_key = runtime().block_on(async {
        // Until a second node is registered, one cosignature is not a quorum.
        let mut client = connect(&a_url).await.unwrap();
        let refused = client
            .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0, quorum: true })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}");
        assert!(refused.message().contains("quorum of 2"), "{refused:?}");

        let _ = register_node(&a_url, &dir.path().join("b"), "dept-health", &ca).await;
        let c_key = register_node(&b_url, &dir.path().join("c"), "dept-civil", &ca).await;
        let size = tree_size(&a_url).await;
        let seen = quorum_at_least(&a_url, size).await;
        assert_eq!(seen.quorum, 2);
        assert_eq!(seen.members, 3, "{seen:?}");
        assert!(seen.divergences.is_empty(), "{seen:?}");

        // A transaction submitted to C is proven by A under quorum.
        let _ = submit(&c_url, consumer(1, &ca)).await;
        let size = tree_size(&c_url).await;
        let _ = quorum_at_least(&a_url, size).await;
        let checkpoint = client
            .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0, quorum: true })
            .await
            .unwrap()
            .into_inner();
        assert!(checkpoint.confirmed && checkpoint.cosigners.len() >= 2, "{checkpoint:?}");
        c_key
    });

    // The consortium's keys, as A sees them; a client checks 2 of 3 with them.
    let _ = cairn(
        ["node", "agreement", "--node", &a_url, "--trusted-keys-out"]
            .iter()
            .copied()
            .chain([keys.to_str().unwrap()]),
    )
    .assert_success();
    let text = std::fs::read_to_string(&keys).unwrap();
    assert!(text.contains("quorum 2"), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains('+')).count(), 3, "{text}");
    let checked = cairn([
        "checkpoint",
        "--quorum",
        "--trusted-keys",
        keys.to_str().unwrap(),
        "--node",
        &b_url,
        "--json",
    ]);
    let verified = checked.assert_success().json()["verified_signers"].as_array().unwrap().len();
    assert!(verified >= 2, "{}", checked.describe());

    // The outside witness comes up. A transaction submitted to B is proven
    // by A, and the proof verifies offline with the consortium's keys (2 of
    // 3); with the witness's key and `quorum 3`, A's checkpoint carries the
    // witness's cosignature, pushed by A, and it is counted.
    let a_vkey =
        cairn(["node", "info", "--node", &a_url, "--json"]).assert_success().json()["verifier_key"]
            .as_str()
            .unwrap()
            .to_owned();
    let witness_dir = dir.path().join("witness");
    std::fs::create_dir_all(&witness_dir).unwrap();
    let witness =
        Witness::start(&witness_dir, &[&a_vkey], &format!("127.0.0.1:{witness_port}")).unwrap();
    let tx_id = runtime().block_on(async {
        let mut client = connect(&b_url).await.unwrap();
        let answer = client
            .submit(pb::SubmitRequest { envelope: consumer(5, &ca) })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.validation_code, VALID, "{answer:?}");
        let _ = quorum_at_least(&a_url, tree_size(&b_url).await).await;
        answer.tx_id
    });
    let mut with_witness = String::from("quorum 3\n");
    for line in text.lines().filter(|l| l.contains('+')) {
        with_witness.push_str(line);
        with_witness.push('\n');
    }
    with_witness.push_str(witness.vkey());
    with_witness.push('\n');
    let with_witness_path = dir.path().join("with-witness.keys");
    std::fs::write(&with_witness_path, &with_witness).unwrap();
    let checkpoint_path = dir.path().join("quorum-checkpoint.txt");
    let deadline = Instant::now() + Duration::from_secs(60);
    let witnessed = loop {
        let run = cairn([
            "checkpoint",
            "--quorum",
            "--trusted-keys",
            with_witness_path.to_str().unwrap(),
            "--node",
            &a_url,
            "--out",
            checkpoint_path.to_str().unwrap(),
            "--json",
        ]);
        let witnessed = run.success()
            && run.json()["verified_signers"]
                .as_array()
                .is_some_and(|signers| signers.iter().any(|s| s == WITNESS_NAME));
        if witnessed {
            break run.json();
        }
        assert!(
            Instant::now() < deadline,
            "A never served a witnessed checkpoint: {}",
            run.describe()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let signers = witnessed["verified_signers"].as_array().unwrap();
    assert!(signers.iter().any(|s| s == WITNESS_NAME), "{witnessed}");
    assert!(signers.len() >= 3, "{witnessed}");
    let proof_path = dir.path().join("proof.json");
    let _ = cairn([
        "proof",
        "inclusion",
        &tx_id,
        "--checkpoint",
        checkpoint_path.to_str().unwrap(),
        "--node",
        &a_url,
        "--out",
        proof_path.to_str().unwrap(),
    ])
    .assert_success();
    let verified = cairn([
        "proof",
        "verify",
        proof_path.to_str().unwrap(),
        "--checkpoint",
        checkpoint_path.to_str().unwrap(),
        "--trusted-keys",
        keys.to_str().unwrap(),
    ]);
    let report = verified.assert_success().stdout.clone();
    assert!(report.contains("(quorum 2)"), "{report}");

    // C goes down: A and B still reach quorum on what follows.
    let _ = c.kill().unwrap();
    runtime().block_on(async {
        let _ = submit(&a_url, consumer(2, &ca)).await;
        let size = tree_size(&a_url).await;
        let _ = quorum_at_least(&b_url, size).await;

        // E, a registered node whose key signs without running a node,
        // cosigns a forged root for a height the others hold: they raise the
        // alarm, name E and never count its cosignature there.
        let e_dir = dir.path().join("e");
        std::fs::create_dir_all(&e_dir).unwrap();
        KeyPair::generate().unwrap().save(&e_dir.join("node.key")).unwrap();
        let e_key = register_node(&a_url, &e_dir, "dept-civil", &ca).await;
        let mut client = connect(&a_url).await.unwrap();
        let height =
            client.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap().into_inner().height;
        let block = client
            .get_block(pb::GetBlockRequest { number: height - 1 })
            .await
            .unwrap()
            .into_inner();
        let forged = forged_record(&e_key, &block, CHAIN_ORIGIN);
        let producer = KafkaProducer::new(&KafkaConfig::new(env.kafka.clone())).unwrap();
        let topic = format!("{}.cosign", env.ledger_topic.trim_end_matches(".ledger"));
        let _ = producer
            .send_all(
                &topic,
                &[OutRecord { key: None, payload: &forged, headers: &[], partition: Some(0) }],
            )
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = agreement(&a_url).await;
            if !seen.divergences.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "no divergence raised: {seen:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The same forgery signed by a registered consumer, and by a key
        // nobody registered: only node identities are heard, so neither is
        // listed nor named.
        let outsider = KeyPair::generate().unwrap();
        let consumer_key = KeyPair::generate().unwrap();
        let envelope = register_envelope(
            CHAIN,
            &consumer_key,
            "not-a-node",
            "dept-civil",
            Role::Consumer,
            ("ca", &ca),
        );
        let _ = submit(&a_url, envelope.bytes).await;
        for key in [&consumer_key, &outsider] {
            let forged = forged_record(key, &block, CHAIN_ORIGIN);
            let _ = producer
                .send_all(
                    &topic,
                    &[OutRecord { key: None, payload: &forged, headers: &[], partition: Some(0) }],
                )
                .unwrap();
        }
        // A record sent after them is read after them.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let seen = agreement(&a_url).await;
        for key in [&consumer_key, &outsider] {
            let address = key.address().to_string();
            assert!(seen.nodes.iter().all(|n| n.node_address != address), "{seen:?}");
            assert!(seen.divergences.iter().all(|d| !d.disagreeing.contains(&address)), "{seen:?}");
        }
        let divergence = &seen.divergences[0];
        assert_eq!(divergence.height, block.number);
        assert_eq!(divergence.disagreeing, [e_key.address().to_string()]);
        assert!(!seen.confirmed);
        let e_view =
            seen.nodes.iter().find(|n| n.node_address == e_key.address().to_string()).unwrap();
        assert!(e_view.diverged, "{e_view:?}");
        let checkpoint = client
            .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0, quorum: true })
            .await
            .unwrap()
            .into_inner();
        assert!(
            !checkpoint.cosigners.contains(&e_key.address().to_string())
                || checkpoint.tree_size != block.log_size,
            "the forged cosignature was counted: {checkpoint:?}"
        );
    });

    // C restarts, catches up and cosigns again.
    let c =
        Node::start_with_args(&dir.path().join("c"), Start::Existing, &args_ref(&env.kafka_args()))
            .unwrap();
    runtime().block_on(async {
        let _ = submit(&b_url, consumer(3, &ca)).await;
        let size = tree_size(&b_url).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = agreement(&a_url).await;
            let c_view = seen
                .nodes
                .iter()
                .find(|n| n.node_address == c_key.address().to_string())
                .cloned()
                .unwrap_or_default();
            if c_view.last_cosigned_size >= size {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "C did not cosign size {size} again: {seen:?}\nC says: {:?}\nC logged: {}",
                agreement(&c.url()).await,
                c.stderr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // D joins: a fourth node, registered now, that has never run. Once C has
    // cosigned everything up to D's registration, C stops.
    let d_dir = dir.path().join("d");
    std::fs::create_dir_all(&d_dir).unwrap();
    KeyPair::generate().unwrap().save(&d_dir.join("node.key")).unwrap();
    let d_address = runtime().block_on(async {
        let d_key = register_node(&a_url, &d_dir, "dept-health", &ca).await;
        // A block after it: the one whose transaction the altered log changes.
        let _ = submit(&a_url, consumer(4, &ca)).await;
        let size = tree_size(&a_url).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = agreement(&a_url).await;
            let c_done = seen.nodes.iter().any(|n| {
                n.node_address == c_key.address().to_string() && n.last_cosigned_size >= size
            });
            if c_done {
                break;
            }
            assert!(Instant::now() < deadline, "C did not cosign size {size}: {seen:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        d_key.address().to_string()
    });
    let _ = cairn(
        ["node", "agreement", "--node", &a_url, "--trusted-keys-out"]
            .iter()
            .copied()
            .chain([keys.to_str().unwrap()]),
    )
    .assert_success();
    let text = std::fs::read_to_string(&keys).unwrap();
    assert_eq!(text.lines().filter(|l| l.contains('+')).count(), 5, "{text}");

    // C's log altered after the fact: a copy of the ledger topic up to the
    // block C last cosigned, with one transaction of that block changed (the
    // broker checksums the new record). C restarted on it with its own data
    // directory stops: the log differs from what it cosigned.
    let c_dir = dir.path().join("c");
    let _ = c.kill().unwrap();
    let cosigned: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c_dir.join("cosigned")).unwrap()).unwrap();
    let height = cosigned["height"].as_u64().unwrap();
    let altered_topic = format!("{}-altered", env.ledger_topic);
    let last = runtime().block_on(async {
        let mut client = connect(&a_url).await.unwrap();
        client
            .get_block(pb::GetBlockRequest { number: height })
            .await
            .unwrap()
            .into_inner()
            .log_offset
    });
    copy_altered(&env.kafka, &env.ledger_topic, &altered_topic, last);
    let mut on_altered = env.kafka_args();
    let at = on_altered.iter().position(|a| a == "--ledger-topic").unwrap() + 1;
    on_altered[at] = altered_topic.clone();
    let cosign_topic = format!("{}.cosign", env.ledger_topic.trim_end_matches(".ledger"));
    on_altered.extend(["--cosign-topic".into(), cosign_topic]);
    let refused = Node::start_with_args(&c_dir, Start::Existing, &args_ref(&on_altered))
        .expect_err("C served a log that differs from what it cosigned");
    let message = format!("{refused:#}");
    assert!(message.contains("differs from what this node cosigned"), "{message}");

    // C again on the altered log, its data directory wiped: its own earlier
    // cosignatures on the cosign topic name other roots, so it stops too.
    let wiped = dir.path().join("c-wiped");
    std::fs::create_dir_all(&wiped).unwrap();
    std::fs::copy(c_dir.join("node.key"), wiped.join("node.key")).unwrap();
    let stderr = match Node::start_with_args(&wiped, Start::Existing, &args_ref(&on_altered)) {
        Ok(node) => {
            let stopped = node.wait_exit(Duration::from_secs(60)).unwrap();
            assert_eq!(stopped.status.code(), Some(70), "{}", stopped.stderr);
            stopped.stderr
        }
        Err(e) => format!("{e:#}"),
    };
    assert!(stderr.contains("own key cosigned another root"), "{stderr}");

    // D on the same altered log: it cosigns the forged root of that height.
    // A and B raise the alarm naming the height and D; D, seeing the others
    // cosign other roots, never counts them, so no quorum ever holds the
    // forged history; and a client given D's checkpoint refuses it under quorum.
    let forked = Node::start_with_args(&d_dir, Start::Existing, &args_ref(&on_altered)).unwrap();
    let forked_url = forked.url();
    runtime().block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        let seen = loop {
            let seen = agreement(&a_url).await;
            if seen.divergences.iter().any(|d| d.height == height) {
                break seen;
            }
            assert!(Instant::now() < deadline, "no divergence at height {height}: {seen:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let divergence = seen.divergences.iter().find(|d| d.height == height).unwrap();
        assert_eq!(divergence.disagreeing, std::slice::from_ref(&d_address), "{divergence:?}");
        let mut client = connect(&a_url).await.unwrap();
        let checkpoint = client
            .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0, quorum: true })
            .await
            .unwrap()
            .into_inner();
        let forked_block = {
            let mut forked_client = connect(&forked_url).await.unwrap();
            forked_client
                .get_block(pb::GetBlockRequest { number: height })
                .await
                .unwrap()
                .into_inner()
        };
        let real_block =
            client.get_block(pb::GetBlockRequest { number: height }).await.unwrap().into_inner();
        assert_eq!(forked_block.log_size, real_block.log_size);
        assert_ne!(forked_block.log_root, real_block.log_root, "the altered log has the same root");
        // The quorum checkpoint carries the consortium's root, never the forked one.
        assert_ne!(checkpoint.root_hash, forked_block.log_root, "{checkpoint:?}");
        if checkpoint.tree_size == real_block.log_size {
            assert_eq!(checkpoint.root_hash, real_block.log_root, "{checkpoint:?}");
        }
        // D's side: the others' cosignatures of that height disagree with it.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = agreement(&forked_url).await;
            let others = |d: &pb::Divergence| {
                d.height == height
                    && d.disagreeing.len() >= 2
                    && !d.disagreeing.contains(&d_address)
            };
            if seen.divergences.iter().any(others) {
                assert!(!seen.confirmed, "{seen:?}");
                break;
            }
            assert!(Instant::now() < deadline, "D saw no divergence: {seen:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // D's newest quorum checkpoint, if any, ends before the forged block:
        // only the history the others share reached quorum there.
        let mut forked_client = connect(&forked_url).await.unwrap();
        match forked_client
            .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0, quorum: true })
            .await
        {
            Ok(quorum) => {
                let quorum = quorum.into_inner();
                assert!(quorum.tree_size < forked_block.log_size, "{quorum:?}");
            }
            Err(refused) => {
                assert_eq!(refused.code(), tonic::Code::FailedPrecondition, "{refused:?}")
            }
        }
    });
    let note = dir.path().join("forked.note");
    let _ = cairn(["checkpoint", "--node", &forked_url, "--out", note.to_str().unwrap()])
        .assert_success();
    let quorum = anchor_chaincode::checkpoint::Quorum::parse(&text).unwrap();
    let forked_note = std::fs::read_to_string(&note).unwrap();
    let e = anchor_chaincode::checkpoint::open_checkpoint_with_quorum(&forked_note, &quorum)
        .expect_err("a checkpoint only the forked node signed passed a quorum of 2");
    assert!(e.to_string().contains("2 needed"), "{e}");
    drop((a, b, forked, witness));
}

/// Copies records 0..=`last` of `from` to a new topic `to`, with the first
/// transaction of record `last` changed (one bit of its creator signature).
fn copy_altered(brokers: &str, from: &str, to: &str, last: u64) {
    use connectors::log::LedgerLog as _;
    use prost::Message as _;
    let config = KafkaConfig::new(brokers.to_owned());
    runtime().block_on(async {
        let spec = connectors::kafka::TopicSpec {
            name: to.to_owned(),
            partitions: 1,
            exact: true,
            configs: vec![("max.message.bytes".into(), (8 * 1024 * 1024).to_string())],
        };
        let _ = connectors::kafka::ensure_topics(&config, &[spec]).await.unwrap();
    });
    let source = connectors::kafka::KafkaLog::open(&config, from).unwrap();
    let target = connectors::kafka::KafkaLog::open(&config, to).unwrap();
    let mut next = 0;
    while next <= last {
        let records = source.read(next, 64).unwrap();
        assert!(!records.is_empty(), "the ledger topic ends before record {last}");
        for record in records.into_iter().filter(|r| r.offset <= last) {
            let bytes = if record.offset == last {
                let mut decoded = pb::LogRecord::decode(record.bytes.as_slice()).unwrap();
                let Some(pb::log_record::Kind::Batch(batch)) = decoded.kind.as_mut() else {
                    panic!("record {last} is not a batch")
                };
                let mut envelope =
                    pb::TxEnvelope::decode(batch.transactions[0].as_slice()).unwrap();
                envelope.signature[0] ^= 1;
                batch.transactions[0] = envelope.encode_to_vec();
                decoded.encode_to_vec()
            } else {
                record.bytes
            };
            let _ = target.append(&[&bytes]).unwrap();
            next = record.offset + 1;
        }
    }
}

const CHAIN_ORIGIN: &str = "cairn.local/cairn-demo";

/// A cosign record of `key` for `block` whose log root is forged.
fn forged_record(key: &KeyPair, block: &pb::BlockHeader, origin: &str) -> Vec<u8> {
    let forged_root = [7u8; 32];
    let checkpoint = Checkpoint {
        origin: origin.into(),
        size: block.log_size,
        root: forged_root,
        extensions: Vec::new(),
    };
    let node = key.address().to_string();
    let signer = CosignatureSigner::new(&node, *key.signing_key().as_bytes()).unwrap();
    let timestamp = cairn_tests::now_ms() / 1000;
    let line = signer.cosign(&checkpoint, timestamp).unwrap();
    let state_root = hex::encode(&block.state_root);
    let cosignature = line.trim_end().to_owned();
    let text = format!(
        "cairn-cosign-record/v1\n{node}\n{}\n{}\n{}\n{state_root}\n{timestamp}\n{cosignature}\n",
        block.number,
        block.log_size,
        hex::encode(forged_root),
    );
    let signature = hex::encode(<[u8; 64]>::from(key.signing_key().sign(text.as_bytes())));
    serde_json::to_vec(&serde_json::json!({
        "node": node,
        "height": block.number,
        "size": block.log_size,
        "log_root": hex::encode(forged_root),
        "state_root": state_root,
        "timestamp": timestamp,
        "cosignature": cosignature,
        "signature": signature,
    }))
    .unwrap()
}
