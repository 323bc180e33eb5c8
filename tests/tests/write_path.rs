//! The write path under abuse, end to end through gRPC: what can never be
//! valid is refused at Submit and never logged, a flood of unauthenticated
//! submissions leaves valid ones served, and the largest envelope commits
//! on the embedded log and on Kafka (a nisshi broker of the test's own).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use access_control::keys::KeyPair;
use anchor_chaincode::tx::MAX_TX_BYTES;
use cairn_schemas::v1 as pb;
use cairn_tests::{Broker, Node, Start, VALID, cairn, connect, publish_envelope, support};
use prost::Message as _;
use tonic::Code;

const CHAIN: &str = "cairn-demo";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap()
}

/// The ledger's size: (height, tree size).
async fn size(url: &str) -> (u64, u64) {
    let info = connect(url)
        .await
        .unwrap()
        .get_node_info(pb::GetNodeInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    (info.height, info.tree_size)
}

/// A publish by `publisher` whose nonce pads the envelope to about `bytes`.
fn padded_publish(publisher: &KeyPair, asset_id: &str, bytes: usize) -> cairn_tests::Envelope {
    let small = publish_envelope(CHAIN, publisher, asset_id, 1, b"{}".to_vec(), b"n");
    let pad = bytes.saturating_sub(small.bytes.len() + 16);
    publish_envelope(CHAIN, publisher, asset_id, 1, b"{}".to_vec(), &vec![b'p'; pad])
}

/// The same envelope with its creator signature spoiled.
fn unsigned(envelope: &[u8]) -> Vec<u8> {
    let mut decoded = pb::TxEnvelope::decode(envelope).unwrap();
    decoded.signature = vec![0; 64];
    decoded.encode_to_vec()
}

/// A case refused at Submit: what it is, its envelope, the status code, a
/// word of the message, and the id a lookup must not find.
type Refused = (&'static str, Vec<u8>, Code, &'static str, Option<String>);

#[test]
fn what_can_never_be_valid_is_refused_at_submit_and_never_logged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = Node::start(&data, Start::Demo).unwrap();
    let url = node.url();
    // A consumer registered, then revoked.
    let revoked_path = dir.path().join("revoked.key");
    cairn(["key", "new", "--out", revoked_path.to_str().unwrap()]).assert_success();
    cairn([
        "identity",
        "register",
        "--node",
        &url,
        "--key",
        revoked_path.to_str().unwrap(),
        "--name",
        "Revoked",
        "--org",
        "dept-health",
        "--role",
        "provider",
        "--endorser-key",
        data.join("demo/org-ca.key").to_str().unwrap(),
    ])
    .assert_success();
    let revoked = KeyPair::load(&revoked_path).unwrap();
    cairn([
        "identity",
        "revoke",
        &revoked.address().to_string(),
        "--reason",
        "laptop stolen",
        "--key",
        data.join("demo/ca-officer.key").to_str().unwrap(),
        "--node",
        &url,
    ])
    .assert_success();
    let provider = KeyPair::load(&data.join("demo/health-provider.key")).unwrap();
    let stranger = KeyPair::generate().unwrap();

    let runtime = runtime();
    runtime.block_on(async {
        let before = size(&url).await;
        let mut client = connect(&url).await.unwrap();
        let valid = publish_envelope(CHAIN, &provider, "edge/valid", 1, b"{}".to_vec(), b"v");
        let cases: Vec<Refused> = vec![
            (
                "an unknown creator",
                publish_envelope(CHAIN, &stranger, "edge/a", 1, b"{}".to_vec(), b"1").bytes,
                Code::Unauthenticated,
                "unknown_identity",
                Some(publish_envelope(CHAIN, &stranger, "edge/a", 1, b"{}".to_vec(), b"1").tx_id),
            ),
            (
                "a bad creator signature",
                unsigned(&valid.bytes),
                Code::Unauthenticated,
                "bad_signature",
                None,
            ),
            (
                "a revoked creator",
                publish_envelope(CHAIN, &revoked, "edge/b", 1, b"{}".to_vec(), b"2").bytes,
                Code::PermissionDenied,
                "laptop stolen",
                Some(publish_envelope(CHAIN, &revoked, "edge/b", 1, b"{}".to_vec(), b"2").tx_id),
            ),
            (
                "another chain",
                publish_envelope("another-chain", &provider, "edge/c", 1, b"{}".to_vec(), b"3")
                    .bytes,
                Code::InvalidArgument,
                "wrong_chain",
                None,
            ),
        ];
        for (what, envelope, code, needle, tx_id) in cases {
            let status = client
                .submit(pb::SubmitRequest { envelope })
                .await
                .expect_err(&format!("{what} was accepted"));
            assert_eq!(status.code(), code, "{what}: {status:?}");
            assert!(status.message().contains(needle), "{what}: {status:?}");
            if let Some(tx_id) = tx_id {
                let lookup = client
                    .get_transaction(pb::GetTransactionRequest { tx_id })
                    .await
                    .expect_err(&format!("{what} is in the ledger"));
                assert_eq!(lookup.code(), Code::NotFound, "{what}: {lookup:?}");
            }
        }
        assert_eq!(size(&url).await, before, "a refused envelope reached the log");

        // The largest envelope there is commits, valid.
        let largest = padded_publish(&provider, "edge/largest", MAX_TX_BYTES);
        assert!(largest.bytes.len() <= MAX_TX_BYTES && largest.bytes.len() > MAX_TX_BYTES - 64);
        let response = client
            .submit(pb::SubmitRequest { envelope: largest.bytes })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(response.validation_code, VALID, "{response:?}");
    });
    drop(runtime);
    let _ = node.stop_cleanly();
}

/// What a flood task got back.
#[derive(Default)]
struct Refusals {
    sent: AtomicUsize,
    refused: AtomicUsize,
    accepted: AtomicUsize,
}

#[test]
fn a_flood_of_unauthenticated_submissions_leaves_valid_ones_served() {
    const FLOODERS: usize = 8;
    const PER_FLOODER: usize = 625;
    const VALID_TXS: usize = 20;
    const FLOOD_FOR: Duration = Duration::from_secs(20);
    const MAX_SENT: usize = 50_000;
    const VALID_EVERY: Duration = Duration::from_millis(100);
    const VALID_WITHIN: Duration = Duration::from_secs(5);

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = Node::start(&data, Start::Demo).unwrap();
    let url = node.url();
    let provider = KeyPair::load(&data.join("demo/health-provider.key")).unwrap();
    // The garbage, made before the clock starts: random bytes, envelopes
    // whose signature is spoiled, and well-signed envelopes of unknown keys.
    let garbage: Vec<Vec<Vec<u8>>> = (0..FLOODERS)
        .map(|flooder| {
            (0..PER_FLOODER)
                .map(|i| match i % 3 {
                    0 => format!("garbage {flooder} {i}").into_bytes(),
                    1 => unsigned(
                        &publish_envelope(
                            CHAIN,
                            &provider,
                            &format!("flood/{flooder}/{i}"),
                            1,
                            b"{}".to_vec(),
                            b"f",
                        )
                        .bytes,
                    ),
                    _ => {
                        let stranger = KeyPair::generate().unwrap();
                        let asset = format!("flood/{flooder}/{i}");
                        publish_envelope(CHAIN, &stranger, &asset, 1, b"{}".to_vec(), b"f").bytes
                    }
                })
                .collect()
        })
        .collect();
    let valid: Vec<cairn_tests::Envelope> = (0..VALID_TXS)
        .map(|i| {
            publish_envelope(CHAIN, &provider, &format!("steady/{i}"), 1, b"{}".to_vec(), b"s")
        })
        .collect();

    let runtime = runtime();
    runtime.block_on(async {
        let before = size(&url).await;
        let counts = Arc::new(Refusals::default());
        let valid_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let started = Instant::now();
        let mut flooders = Vec::new();
        for batch in garbage {
            let (url, counts, valid_done) = (url.clone(), counts.clone(), valid_done.clone());
            flooders.push(tokio::spawn(async move {
                // Each flooder on a connection of its own, many calls in flight,
                // its garbage over and over until the valid client is done
                // (bounded in time and in count).
                let client = connect(&url).await.unwrap();
                let mut in_flight = tokio::task::JoinSet::new();
                for envelope in batch.iter().cycle().cloned() {
                    if valid_done.load(Ordering::Relaxed)
                        || started.elapsed() > FLOOD_FOR
                        || counts.sent.load(Ordering::Relaxed) >= MAX_SENT
                    {
                        break;
                    }
                    let mut client = client.clone();
                    let counts = counts.clone();
                    let _ = in_flight.spawn(async move {
                        let _ = counts.sent.fetch_add(1, Ordering::Relaxed);
                        match client.submit(pb::SubmitRequest { envelope }).await {
                            Ok(_) => counts.accepted.fetch_add(1, Ordering::Relaxed),
                            Err(_) => counts.refused.fetch_add(1, Ordering::Relaxed),
                        }
                    });
                    if in_flight.len() >= 32 {
                        let _ = in_flight.join_next().await;
                    }
                }
                while in_flight.join_next().await.is_some() {}
            }));
        }
        // Meanwhile a valid client submits, one transaction at a time, spread
        // over the flood once it is under way.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut client = connect(&url).await.unwrap();
        let mut slowest = Duration::ZERO;
        for envelope in valid {
            tokio::time::sleep(VALID_EVERY).await;
            let asked = Instant::now();
            let response = tokio::time::timeout(
                VALID_WITHIN,
                client.submit(pb::SubmitRequest { envelope: envelope.bytes }),
            )
            .await
            .expect("a valid submission waited too long during the flood")
            .expect("a valid submission was refused during the flood")
            .into_inner();
            assert_eq!(response.validation_code, VALID, "{response:?}");
            slowest = slowest.max(asked.elapsed());
        }
        let valid_took = started.elapsed();
        valid_done.store(true, Ordering::Relaxed);
        for flooder in flooders {
            flooder.await.unwrap();
        }
        let sent = counts.sent.load(Ordering::Relaxed);
        eprintln!(
            "flood: {sent} garbage submissions in {:?}; {VALID_TXS} valid ones within {valid_took:?}, the slowest in {slowest:?}",
            started.elapsed()
        );
        assert!(sent >= FLOODERS * PER_FLOODER, "the flood sent only {sent}");
        assert_eq!(counts.accepted.load(Ordering::Relaxed), 0, "garbage was accepted");
        assert_eq!(counts.refused.load(Ordering::Relaxed), sent);
        let after = size(&url).await;
        assert_eq!(
            after.1,
            before.1 + VALID_TXS as u64,
            "the log holds more than the valid transactions"
        );
    });
    drop(runtime);
    let _ = node.stop_cleanly();
}

#[test]
fn the_largest_envelope_commits_on_kafka() {
    let Some(nisshi) = support::nisshi() else { return };
    let broker = Broker::in_memory(&nisshi);
    let brokers = broker.brokers();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let name = cairn_tests::unique_name("large");
    let node = Node::start_with_args(
        &data,
        Start::Demo,
        &[
            "--kafka",
            &brokers,
            "--ledger-topic",
            &format!("{name}.ledger"),
            "--access-topic",
            &format!("{name}.access"),
        ],
    )
    .unwrap();
    let provider = KeyPair::load(&data.join("demo/health-provider.key")).unwrap();
    let runtime = runtime();
    runtime.block_on(async {
        let mut client = connect(&node.url()).await.unwrap();
        // Two of the largest at once: each needs a block of its own.
        let first = padded_publish(&provider, "kafka/largest-1", MAX_TX_BYTES);
        let second = padded_publish(&provider, "kafka/largest-2", MAX_TX_BYTES);
        let mut other = client.clone();
        let (a, b) = tokio::join!(
            client.submit(pb::SubmitRequest { envelope: first.bytes }),
            other.submit(pb::SubmitRequest { envelope: second.bytes }),
        );
        for response in [a, b] {
            let response = response.expect("a 1 MiB envelope was refused on Kafka").into_inner();
            assert_eq!(response.validation_code, VALID, "{response:?}");
        }
    });
    drop(runtime);
    let _ = node.stop_cleanly();
    drop(broker);
}
