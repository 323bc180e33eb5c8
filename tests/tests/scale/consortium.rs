//! Three department nodes on one ledger topic cosign checkpoints: a quorum
//! (2 of 3) makes them final, a proof of a transaction submitted to one node
//! is served under quorum by another, a node that is down does not block the
//! quorum and cosigns again once restarted, and a node that cosigns a forged root raises the divergence alarm
//! on the others and is never counted.

use std::path::Path;
use std::time::{Duration, Instant};

use access_control::keys::KeyPair;
use anchor_chaincode::Role;
use anchor_chaincode::checkpoint::{Checkpoint, CosignatureSigner};
use cairn_schemas::v1 as pb;
use cairn_tests::{
    Node, Start, VALID, cairn, connect, register_envelope, register_node_envelope, runtime,
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
    let a = Node::start_with_args(
        &dir.path().join("a"),
        Start::Demo,
        &args_ref(&[args.clone(), vec!["--demo-quorum".into(), "2".into()]].concat()),
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

    // C goes down: A and B still reach quorum on what follows.
    let _ = c.kill().unwrap();
    runtime().block_on(async {
        let _ = submit(&a_url, consumer(2, &ca)).await;
        let size = tree_size(&a_url).await;
        let _ = quorum_at_least(&b_url, size).await;

        // C's key cosigns a forged root for a height the others hold: they
        // raise the alarm, name C and never count its cosignature there.
        let mut client = connect(&a_url).await.unwrap();
        let height =
            client.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap().into_inner().height;
        let block = client
            .get_block(pb::GetBlockRequest { number: height - 1 })
            .await
            .unwrap()
            .into_inner();
        let forged = forged_record(&c_key, &block, CHAIN_ORIGIN);
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
        assert_eq!(divergence.disagreeing, [c_key.address().to_string()]);
        assert!(!seen.confirmed);
        let c_view =
            seen.nodes.iter().find(|n| n.node_address == c_key.address().to_string()).unwrap();
        assert!(c_view.diverged, "{c_view:?}");
        let checkpoint = client
            .get_checkpoint(pb::GetCheckpointRequest { tree_size: 0, quorum: true })
            .await
            .unwrap()
            .into_inner();
        assert!(
            !checkpoint.cosigners.contains(&c_key.address().to_string())
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
    drop((a, b, c));
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
