//! Unit tests of the node: what `Node::admit` refuses, blocks split by
//! bytes, and a poisoned ledger lock stopping the node.

use access_control::keys::KeyPair;
use anchor_chaincode::tx::{self, TxDraft};
use cairn_schemas::v1 as pb;
use prost::Message as _;

use super::*;

const CHAIN: &str = "bench";

#[test]
fn a_poisoned_ledger_lock_stops_instead_of_serving() {
    let lock = Arc::new(RwLock::new(1));
    let holder = lock.clone();
    let _ = std::thread::spawn(move || {
        let _guard = holder.write().unwrap();
        panic!("panicking while applying a block");
    })
    .join();
    assert!(lock.is_poisoned());
    let stopped = std::panic::catch_unwind(|| {
        let _guard = unpoisoned(lock.read(), || panic!("stopped"));
    });
    assert!(stopped.is_err(), "a poisoned lock must not hand out its guard");
    let healthy = RwLock::new(2);
    assert_eq!(*unpoisoned(healthy.read(), || panic!("stopped")), 2);
}

fn open(dir: &Path, max_block_bytes: Option<usize>) -> Node {
    open_with_keys(dir, max_block_bytes).0
}

/// A node on a new chain, with the keys of its two organisations (`ca`, `dept`).
fn open_with_keys(dir: &Path, max_block_bytes: Option<usize>) -> (Node, KeyPair, KeyPair) {
    let (ca, dept) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let mut config = NodeConfig::new(dir);
    if let Some(max) = max_block_bytes {
        config.max_block_bytes = max;
    }
    let organisation = |name: &str, key: &KeyPair| anchor_chaincode::genesis::Organisation {
        name: name.into(),
        description: String::new(),
        public_key: hex::encode(key.signing_public_key()),
    };
    let genesis = anchor_chaincode::genesis::Genesis::new(
        CHAIN,
        vec![organisation("ca", &ca), organisation("dept", &dept)],
        "ca",
    )
    .to_bytes();
    (Node::open(&config, Some(&genesis)).unwrap(), ca, dept)
}

/// A node on a new chain whose own key is registered as a `node` of `dept`.
async fn open_registered(dir: &Path) -> Node {
    let (node, ca, dept) = open_with_keys(dir, None);
    let key = node.key().clone();
    let draft = TxDraft {
        chain_id: CHAIN.into(),
        nonce: b"node".to_vec(),
        timestamp_ms: 1,
        body: pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
            name: "node".into(),
            organisation: "dept".into(),
            role: tx::role_to_pb(anchor_chaincode::Role::Node).into(),
            signing_public_key: key.signing_public_key().to_vec(),
            encryption_public_key: key.encryption_public_key().to_vec(),
            reviewer_role: String::new(),
        }),
    };
    let envelope = tx::seal(
        draft.payload(&key.signing_public_key()),
        key.signing_key(),
        &[("ca", ca.signing_key()), ("dept", dept.signing_key())],
    );
    let submitted = node.submit(envelope).await.unwrap();
    assert_eq!(
        submitted.receipt.code,
        anchor_chaincode::ValidationCode::Valid,
        "{}",
        submitted.receipt.message
    );
    node
}

/// A `RegisterIdentity` of a fresh key, padded to about `size` bytes by its nonce.
fn registration(chain_id: &str, size: usize, salt: u8) -> (KeyPair, Vec<u8>) {
    let pair = KeyPair::generate().unwrap();
    let draft = TxDraft {
        chain_id: chain_id.into(),
        nonce: vec![salt; size],
        timestamp_ms: 1,
        body: pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
            name: "padded".into(),
            organisation: "dept".into(),
            role: tx::role_to_pb(anchor_chaincode::Role::Provider).into(),
            signing_public_key: pair.signing_public_key().to_vec(),
            encryption_public_key: pair.encryption_public_key().to_vec(),
            reviewer_role: String::new(),
        }),
    };
    let envelope = tx::seal(draft.payload(&pair.signing_public_key()), pair.signing_key(), &[]);
    (pair, envelope)
}

/// A `PublishAsset` signed by `creator`.
fn publish(chain_id: &str, creator: &KeyPair) -> Vec<u8> {
    let draft = TxDraft {
        chain_id: chain_id.into(),
        nonce: b"n".to_vec(),
        timestamp_ms: 1,
        body: pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
            asset_id: "a".into(),
            version: 1,
            data_type: pb::DataType::Unstructured.into(),
            hash_algorithm: "sha256".into(),
            content_hash: vec![7; 32],
            size_bytes: 1,
            metadata: b"{}".to_vec(),
        }),
    };
    tx::seal(draft.payload(&creator.signing_public_key()), creator.signing_key(), &[])
}

fn refusal(node: &Node, envelope: &[u8]) -> SubmitError {
    match node.admit(envelope) {
        Ok(_) => panic!("the envelope was admitted"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn what_can_never_be_valid_is_refused_before_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), None);
    let size = node.log().next_offset();

    let e = refusal(&node, b"\xff\xfe not an envelope");
    assert!(matches!(&e, SubmitError::Rejected(m) if m.starts_with("malformed")), "{e}");

    let (_, other_chain) = registration("another-chain", 8, 1);
    let e = refusal(&node, &other_chain);
    assert!(matches!(&e, SubmitError::Rejected(m) if m.starts_with("wrong_chain")), "{e}");

    let stranger = KeyPair::generate().unwrap();
    let e = refusal(&node, &publish(CHAIN, &stranger));
    assert!(
        matches!(&e, SubmitError::Unauthenticated(m) if m.starts_with("unknown_identity") && m.contains(&stranger.address().to_string())),
        "{e}"
    );

    // A registration's creator is not registered yet: only its signature counts.
    let (_, mut forged) = registration(CHAIN, 8, 2);
    let mut envelope = pb::TxEnvelope::decode(forged.as_slice()).unwrap();
    envelope.signature[0] ^= 1;
    forged = envelope.encode_to_vec();
    let e = node.submit(forged).await.unwrap_err();
    assert!(matches!(&e, SubmitError::Unauthenticated(m) if m.starts_with("bad_signature")), "{e}");

    assert_eq!(node.log().next_offset(), size, "a refused envelope reached the log");

    // A well-signed registration is admitted and committed.
    let (_, good) = registration(CHAIN, 8, 3);
    let submitted = node.submit(good).await.unwrap();
    assert_eq!(node.log().next_offset(), size + 1);
    assert_eq!(submitted.receipt.block_number, node.ledger().height() - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_are_split_by_bytes_and_the_largest_envelope_fits() {
    let dir = tempfile::tempdir().unwrap();
    // The smallest limit there is: one largest envelope per block.
    let node = open(dir.path(), Some(0));
    let envelopes: Vec<Vec<u8>> = (0..3).map(|i| registration(CHAIN, 600 * 1024, i).1).collect();
    let (_, largest) = registration(CHAIN, MAX_TX_BYTES - 400, 9);
    assert!(largest.len() <= MAX_TX_BYTES && largest.len() > MAX_TX_BYTES - 1024);
    let tasks: Vec<_> = envelopes
        .into_iter()
        .chain([largest])
        .map(|envelope| {
            let node = node.clone();
            tokio::spawn(async move { node.submit(envelope).await })
        })
        .collect();
    let mut blocks = Vec::new();
    for task in tasks {
        blocks.push(task.await.unwrap().unwrap().receipt.block_number);
    }
    blocks.sort_unstable();
    blocks.dedup();
    assert_eq!(blocks.len(), 4, "two large envelopes shared a block: {blocks:?}");
    for record in node.log().read(1, 16).unwrap() {
        assert!(
            record.bytes.len() <= MAX_TX_BYTES + PER_ENVELOPE_OVERHEAD,
            "block record of {} bytes",
            record.bytes.len()
        );
    }
}

/// Envelopes queued together are split into blocks under the record limit:
/// the queue is filled before the committer starts, so without the byte
/// limit they would all go into one record over the embedded log's limit.
#[test]
fn more_large_envelopes_than_one_record_holds_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), None);
    // 80 envelopes of 0.9 MiB: more than the embedded log's 64 MiB record limit together.
    let envelopes: Vec<Vec<u8>> =
        (0..80).map(|i| registration(CHAIN, 900 * 1024, i as u8).1).collect();
    let total: usize = envelopes.iter().map(Vec::len).sum();
    assert!(total > connectors::log::MAX_RECORD_LEN);
    let (queue, receiver) = mpsc::channel(envelopes.len());
    let mut answers = Vec::new();
    for envelope in envelopes {
        let (reply, answer) = oneshot::channel();
        queue.try_send(Submission { envelope, reply }).unwrap();
        answers.push(answer);
    }
    drop(queue);
    let committer = Committer {
        ledger: node.ledger.clone(),
        log: node.log.clone(),
        verifier: ParallelVerifier { threads: 2 },
        max_block_txs: 4096,
        max_block_bytes: effective_block_bytes(NodeConfig::new(dir.path()).max_block_bytes),
        applied: None,
    };
    committer.run(receiver);
    for answer in answers {
        let submitted = answer.blocking_recv().unwrap();
        assert!(submitted.is_ok(), "{:?}", submitted.err());
    }
    let records = node.log().read(1, 1024).unwrap();
    assert!(records.len() >= 5, "{} records", records.len());
    for record in records {
        assert!(record.bytes.len() <= EMBEDDED_MAX_BLOCK_BYTES + MAX_TX_BYTES);
    }
}

/// A node keeps the largest checkpoint it cosigned in its data directory
/// and, restarted on a log that does not hold it (another root at that
/// size, or fewer entries), refuses to start instead of serving a fork.
#[tokio::test]
async fn a_node_refuses_a_log_that_is_not_what_it_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let node = open_registered(dir.path()).await;
    let size = node.ledger().head().header.log_size;
    let cosigned = dir.path().join("cosigned");
    let cosigning = cosign::Cosigning::new(node.clone(), Some(cosigned.clone())).unwrap();
    let records = cosigning.cosign_due().unwrap();
    assert_eq!(records.last().map(|r| r.size), Some(size));
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cosigned).unwrap()).unwrap();
    assert_eq!(kept["size"], size);
    // Nothing new: nothing to cosign, and the same log starts again.
    assert!(cosigning.cosign_due().unwrap().is_empty());
    let _ = cosign::Cosigning::new(node.clone(), Some(cosigned.clone())).unwrap();

    // Another log of the same size (another chain's keys, so another root).
    let other_dir = tempfile::tempdir().unwrap();
    let other = open_registered(other_dir.path()).await;
    assert_eq!(other.ledger().head().header.log_size, size);
    let e = cosign::Cosigning::new(other.clone(), Some(cosigned.clone())).unwrap_err();
    let message = format!("{e:#}");
    assert!(message.contains("differs from what this node cosigned"), "{message}");
    assert!(message.contains(&format!("at size {size}")), "{message}");

    // A log cut short: fewer entries than the cosigned size.
    let short_dir = tempfile::tempdir().unwrap();
    let short = open(short_dir.path(), None);
    let e = cosign::Cosigning::new(short, Some(cosigned.clone())).unwrap_err();
    assert!(
        format!("{e:#}").contains(&format!("fewer than the {size} this node cosigned")),
        "{e:#}"
    );

    // A damaged file is named, not ignored.
    std::fs::write(&cosigned, b"not json").unwrap();
    let e = cosign::Cosigning::new(node, Some(cosigned.clone())).unwrap_err();
    assert!(format!("{e:#}").contains("does not hold a cosigned checkpoint"), "{e:#}");
}
