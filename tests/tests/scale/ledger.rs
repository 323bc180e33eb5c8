//! Ledger topics shared by nodes: two nodes derive identical blocks, and a
//! broker restart loses no acknowledged transaction.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use access_control::keys::KeyPair;
use anchor_chaincode::Role;
use cairn_schemas::v1 as pb;
use cairn_tests::{Broker, Node, Start, VALID, connect, register_envelope, runtime, support};

use crate::env::{CHAIN, Env, args_ref, postgres_client};

async fn register_on(urls: &[String], ca: &KeyPair, n: usize) -> Vec<String> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let url = urls[i % urls.len()].clone();
        let ca = ca.clone();
        let _ = tasks.spawn(async move {
            let identity = KeyPair::generate().unwrap();
            let envelope = register_envelope(
                CHAIN,
                &identity,
                &format!("c{i}"),
                "dept-civil",
                Role::Consumer,
                ("ca", &ca),
            );
            let mut client = connect(&url).await.unwrap();
            let answer = client
                .submit(pb::SubmitRequest { envelope: envelope.bytes })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(answer.validation_code, VALID, "{answer:?}");
            envelope.tx_id
        });
    }
    let mut ids = Vec::new();
    while let Some(id) = tasks.join_next().await {
        ids.push(id.unwrap());
    }
    ids
}

async fn chain_view(url: &str, height: u64) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut client = connect(url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = client.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap().into_inner();
        if info.height >= height {
            break;
        }
        assert!(Instant::now() < deadline, "{url} stayed at height {}", info.height);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut hashes = Vec::new();
    for number in 0..height {
        hashes.push(
            client.get_block(pb::GetBlockRequest { number }).await.unwrap().into_inner().hash,
        );
    }
    let root = client
        .get_block(pb::GetBlockRequest { number: height - 1 })
        .await
        .unwrap()
        .into_inner()
        .state_root;
    (hashes, root)
}

async fn height(url: &str) -> u64 {
    let mut client = connect(url).await.unwrap();
    client.get_node_info(pb::GetNodeInfoRequest {}).await.unwrap().into_inner().height
}

#[test]
fn two_nodes_on_one_ledger_topic_derive_identical_blocks() {
    let Some(env) = Env::new("two") else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start_with_args(&dir.path().join("a"), Start::Demo, &args_ref(&env.kafka_args()))
        .unwrap();
    let b =
        Node::start_with_args(&dir.path().join("b"), Start::Existing, &args_ref(&env.kafka_args()))
            .unwrap();
    let ca = KeyPair::load(&dir.path().join("a/demo/org-ca.key")).unwrap();
    runtime().block_on(async {
        let urls = [a.url(), b.url()];
        let ids = register_on(&urls, &ca, 40).await;
        assert_eq!(ids.len(), 40);
        let top = height(&a.url()).await.max(height(&b.url()).await);
        let (hashes_a, root_a) = chain_view(&a.url(), top).await;
        let (hashes_b, root_b) = chain_view(&b.url(), top).await;
        assert_eq!(hashes_a, hashes_b, "the nodes derived different blocks");
        assert_eq!(root_a, root_b, "the nodes derived different state roots");
        // Each node knows the transactions submitted to the other.
        let mut client_b = connect(&b.url()).await.unwrap();
        for id in &ids {
            let tx = client_b
                .get_transaction(pb::GetTransactionRequest { tx_id: id.clone() })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(tx.validation_code, VALID);
        }
    });
}

#[test]
fn a_broker_restart_loses_no_acknowledged_transaction() {
    let Some(mut env) = Env::new("restart") else { return };
    let Some(nisshi) = support::nisshi() else { return };
    // The broker keeps its log in a database of its own, so it survives the restart.
    let database = env.schema.clone();
    let admin = postgres_client::Client::new(&env.postgres.replace("/test", "/postgres"));
    admin.execute(&format!("CREATE DATABASE {database}"));
    let storage = format!("postgres://postgres@127.0.0.1:5432/{database}?sslmode=disable");
    let port = cairn_tests::free_port();
    let broker = Broker::start(&nisshi, port, &storage);
    env.kafka = broker.brokers();

    let dir = tempfile::tempdir().unwrap();
    let a = Node::start_with_args(&dir.path().join("a"), Start::Demo, &args_ref(&env.kafka_args()))
        .unwrap();
    let ca = KeyPair::load(&dir.path().join("a/demo/org-ca.key")).unwrap();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let failures = Arc::new(Mutex::new(0usize));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let submitters: Vec<_> = (0..4)
        .map(|worker| {
            let (url, ca, acknowledged, failures, stop) =
                (a.url(), ca.clone(), acknowledged.clone(), failures.clone(), stop.clone());
            std::thread::spawn(move || {
                runtime().block_on(async move {
                    let mut i = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        i += 1;
                        let identity = KeyPair::generate().unwrap();
                        let envelope = register_envelope(
                            CHAIN,
                            &identity,
                            &format!("w{worker}-{i}"),
                            "dept-civil",
                            Role::Consumer,
                            ("ca", &ca),
                        );
                        let answer = match connect(&url).await {
                            Ok(mut client) => {
                                client.submit(pb::SubmitRequest { envelope: envelope.bytes }).await
                            }
                            Err(e) => Err(tonic::Status::unavailable(e.to_string())),
                        };
                        match answer {
                            Ok(answer) if answer.get_ref().validation_code == VALID => {
                                acknowledged.lock().unwrap().push(envelope.tx_id);
                            }
                            _ => *failures.lock().unwrap() += 1,
                        }
                    }
                });
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let before_restart = acknowledged.lock().unwrap().len();
    broker.kill();
    std::thread::sleep(Duration::from_secs(1));
    let broker = Broker::start(&nisshi, port, &storage);
    std::thread::sleep(Duration::from_secs(8));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for submitter in submitters {
        submitter.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    eprintln!(
        "acknowledged {} ({} before the restart), failed {}",
        acknowledged.len(),
        before_restart,
        failures.lock().unwrap()
    );
    assert!(before_restart > 0, "nothing was acknowledged before the restart");
    assert!(acknowledged.len() > before_restart, "nothing was acknowledged after the restart");

    // A fresh node replays the topic: every acknowledged transaction is there, valid.
    let b =
        Node::start_with_args(&dir.path().join("b"), Start::Existing, &args_ref(&env.kafka_args()))
            .unwrap();
    runtime().block_on(async {
        let top = height(&a.url()).await;
        let (hashes_a, root_a) = chain_view(&a.url(), top).await;
        let (hashes_b, root_b) = chain_view(&b.url(), top).await;
        assert_eq!(hashes_a, hashes_b);
        assert_eq!(root_a, root_b);
        let mut client = connect(&b.url()).await.unwrap();
        let mut missing = BTreeSet::new();
        for id in &acknowledged {
            match client.get_transaction(pb::GetTransactionRequest { tx_id: id.clone() }).await {
                Ok(tx) if tx.get_ref().validation_code == VALID => {}
                _ => {
                    let _ = missing.insert(id.clone());
                }
            }
        }
        assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    });
    drop(b);
    drop(a);
    broker.kill();
    admin.execute(&format!("DROP DATABASE {database} WITH (FORCE)"));
}
