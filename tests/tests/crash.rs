//! Crash safety of `cairn up` with real processes.
//!
//! A node under a continuous load of concurrent submissions is killed with
//! SIGKILL at varying moments, several times over the same data directory.
//! After each crash every acknowledged transaction must still be in the block
//! it was acknowledged in, a graceful restart must land on the same height and
//! state root, and an independent replica that replays the log file must agree.
//! A corrupted log must be refused with the record named, and a torn tail
//! (what an interrupted append leaves) must be dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use access_control::keys::KeyPair;
use anchor_chaincode::{Ledger, Role};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::ledger_client::LedgerClient;
use cairn_tests::{
    Node, Prng, Start, VALID, cairn_with_timeout, connect, genesis_new, publish_envelope,
    register_envelope, runtime,
};
use connectors::log::{EmbeddedLog, LedgerLog};
use tokio::sync::Notify;
use tonic::transport::Channel;

const CHAIN: &str = "crash-test";
const ROUNDS: u64 = 4;
const PROVIDERS: usize = 16;
/// The shortest and longest wait between the first acknowledgement and the kill.
const KILL_DELAY_MS: (u64, u64) = (50, 1500);

/// A consortium made by `cairn genesis new` and the node data directory.
struct Consortium {
    genesis: PathBuf,
    ca: KeyPair,
    data: PathBuf,
}

fn consortium(root: &Path) -> Consortium {
    let dir = root.join("consortium");
    let _ = genesis_new(CHAIN, &dir);
    let ca = KeyPair::load(&dir.join("org-ca.key")).expect("load the CA organisation key");
    Consortium { genesis: dir.join("genesis.json"), ca, data: root.join("node") }
}

/// Registers `n` fresh provider identities of organisation `dept`, concurrently.
async fn register_providers(url: &str, ca: &KeyPair, n: usize) -> Vec<KeyPair> {
    let client = connect(url).await.expect("connect");
    let providers: Vec<KeyPair> = (0..n).map(|_| KeyPair::generate().expect("key")).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, provider) in providers.iter().enumerate() {
        let envelope = register_envelope(
            CHAIN,
            provider,
            &format!("provider {i}"),
            "dept",
            Role::Provider,
            ("ca", ca),
        );
        let mut client = client.clone();
        let _ = tasks.spawn(async move {
            client.submit(pb::SubmitRequest { envelope: envelope.bytes }).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        let response = result.expect("task").expect("submit a registration").into_inner();
        assert_eq!(response.validation_code, VALID, "registration refused: {response:?}");
    }
    providers
}

async fn node_info(client: &mut LedgerClient<Channel>) -> pb::NodeInfo {
    client.get_node_info(pb::GetNodeInfoRequest {}).await.expect("node info").into_inner()
}

/// A transaction the node acknowledged as valid, and the block it named.
#[derive(Clone, Debug)]
struct Ack {
    tx_id: String,
    block: u64,
}

/// What the submitters of one round saw.
#[derive(Debug, Default)]
struct Fired {
    acks: Vec<Ack>,
    /// Anything other than a valid acknowledgement before the kill, or an
    /// acknowledgement that is not valid or names another transaction.
    unexpected: Vec<String>,
}

/// Submits distinct PublishAsset transactions one after another until the node fails.
async fn submitter(
    mut client: LedgerClient<Channel>,
    signer: KeyPair,
    round: u64,
    task: usize,
    killing: Arc<AtomicBool>,
    first_ack: Arc<Notify>,
) -> Fired {
    let mut fired = Fired::default();
    for n in 0u64.. {
        let asset = format!("crash/r{round}/t{task}/n{n}");
        let nonce = format!("{round}/{task}/{n}");
        let envelope =
            publish_envelope(CHAIN, &signer, &asset, 1, b"{}".to_vec(), nonce.as_bytes());
        match client.submit(pb::SubmitRequest { envelope: envelope.bytes }).await {
            Ok(response) => {
                let response = response.into_inner();
                if response.validation_code == VALID && response.tx_id == envelope.tx_id {
                    fired.acks.push(Ack { tx_id: response.tx_id, block: response.block_number });
                    first_ack.notify_one();
                } else {
                    fired.unexpected.push(format!("{asset}: acknowledged as {response:?}"));
                }
            }
            Err(status) => {
                if !killing.load(Ordering::SeqCst) {
                    fired.unexpected.push(format!("{asset}: failed before the kill: {status:?}"));
                }
                break;
            }
        }
    }
    fired
}

/// Fires submissions from `tasks` concurrent tasks and SIGKILLs the node
/// `delay` after the first acknowledgement.
async fn fire_and_kill(
    node: Node,
    providers: &[KeyPair],
    round: u64,
    tasks: usize,
    delay: Duration,
) -> Fired {
    let client = connect(&node.url()).await.expect("connect");
    let killing = Arc::new(AtomicBool::new(false));
    let first_ack = Arc::new(Notify::new());
    let mut set = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let _ = set.spawn(submitter(
            client.clone(),
            providers[task % providers.len()].clone(),
            round,
            task,
            killing.clone(),
            first_ack.clone(),
        ));
    }
    tokio::time::timeout(Duration::from_secs(30), first_ack.notified())
        .await
        .unwrap_or_else(|_| panic!("round {round}: no acknowledgement within 30 s"));
    tokio::time::sleep(delay).await;
    killing.store(true, Ordering::SeqCst);
    let _ = node.kill().expect("SIGKILL the node");
    let mut fired = Fired::default();
    let joined = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(result) = set.join_next().await {
            let one = result.expect("submitter task");
            fired.acks.extend(one.acks);
            fired.unexpected.extend(one.unexpected);
        }
    })
    .await;
    assert!(joined.is_ok(), "round {round}: submitters still running 30 s after the kill");
    fired
}

/// Concurrent lookups after a restart (each round trip can take tens of
/// milliseconds on loopback, so they overlap).
const LOOKUP_TASKS: usize = 64;

/// Looks every acknowledged transaction up; returns what does not match.
async fn missing_acks(url: &str, acks: &[Ack]) -> Vec<String> {
    let client = connect(url).await.expect("connect");
    let mut set = tokio::task::JoinSet::new();
    for chunk in acks.chunks(acks.len().div_ceil(LOOKUP_TASKS).max(1)) {
        let chunk = chunk.to_vec();
        let mut client = client.clone();
        let _ = set.spawn(async move {
            let mut problems = Vec::new();
            for ack in chunk {
                let request = pb::GetTransactionRequest { tx_id: ack.tx_id.clone() };
                match client.get_transaction(request).await {
                    Ok(details) => {
                        let details = details.into_inner();
                        if details.validation_code != VALID || details.block_number != ack.block {
                            problems.push(format!(
                                "{} acknowledged valid in block {} is now code {} in block {}",
                                ack.tx_id, ack.block, details.validation_code, details.block_number
                            ));
                        }
                    }
                    Err(status) => problems.push(format!(
                        "{} acknowledged valid in block {} is lost: {status:?}",
                        ack.tx_id, ack.block
                    )),
                }
            }
            problems
        });
    }
    let mut problems = Vec::new();
    while let Some(result) = set.join_next().await {
        problems.extend(result.expect("lookup task"));
    }
    problems
}

/// Height, tree size and state root, as a comparable triple.
type Summary = (u64, u64, Vec<u8>);

fn summary(info: &pb::NodeInfo) -> Summary {
    (info.height, info.tree_size, info.state_root.clone())
}

/// Replays a stopped node's log file into a fresh ledger, as an independent replica would.
fn replay(log_path: &Path) -> Summary {
    let log = EmbeddedLog::open(log_path).expect("open the stopped node's log");
    let first = log.read(0, 1).expect("read the genesis record");
    let genesis = first.first().expect("the log has a genesis record");
    let mut ledger =
        Ledger::from_genesis_record(genesis.offset, &genesis.bytes).expect("genesis record");
    let mut next = 1;
    loop {
        let records = log.read(next, 512).expect("read log records");
        if records.is_empty() {
            break;
        }
        for record in &records {
            let _ = ledger.apply_record(record.offset, &record.bytes);
            next = record.offset + 1;
        }
    }
    assert_eq!(next, log.next_offset(), "the replica did not read the whole log");
    (ledger.height(), ledger.merkle_log().size(), ledger.state_root().to_vec())
}

#[test]
fn acknowledged_transactions_survive_sigkill_at_varying_moments() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().expect("temp dir");
    let consortium = consortium(tmp.path());
    let runtime = runtime();

    let node = Node::start(&consortium.data, Start::Genesis(&consortium.genesis)).expect("start");
    let url = node.url();
    let (providers, registered) = runtime.block_on(async {
        let providers = register_providers(&url, &consortium.ca, PROVIDERS).await;
        let mut client = connect(&url).await.expect("connect");
        (providers, node_info(&mut client).await)
    });
    let _ = node.stop_cleanly();

    // The chain as the previous round left it; a crash may only add to it.
    let mut previous = summary(&registered);
    let mut total_acks = 0;
    for round in 0..ROUNDS {
        // Each round draws its load and its kill delay from its own seed, and
        // from its own slice of the delay range, so the rounds kill at
        // different points and a failing round can be rerun exactly.
        let seed = 0xC4A5_0000 + round;
        let mut rng = Prng::new(seed);
        let tasks = rng.between(32, 64) as usize;
        let (shortest, longest) = KILL_DELAY_MS;
        let band = (longest - shortest) / ROUNDS;
        let delay_ms = rng.between(shortest + band * round, shortest + band * (round + 1));
        let delay = Duration::from_millis(delay_ms);
        let context =
            format!("round {round} (seed {seed:#x}, {tasks} tasks, kill after {delay_ms} ms)");

        let node = Node::start(&consortium.data, Start::Existing)
            .unwrap_or_else(|e| panic!("{context}: start: {e:#}"));
        let fired = runtime.block_on(fire_and_kill(node, &providers, round, tasks, delay));
        assert!(
            fired.unexpected.is_empty(),
            "{context}: {} unexpected answers, first: {:?}",
            fired.unexpected.len(),
            &fired.unexpected[..fired.unexpected.len().min(5)]
        );
        assert!(!fired.acks.is_empty(), "{context}: nothing was acknowledged");
        total_acks += fired.acks.len();

        // Restart after the crash: every acknowledgement holds.
        let node = Node::start(&consortium.data, Start::Existing)
            .unwrap_or_else(|e| panic!("{context}: restart after SIGKILL: {e:#}"));
        let url = node.url();
        let torn =
            if node.stderr().contains("torn") { "dropped a torn tail" } else { "clean tail" };
        let (problems, after_crash) = runtime.block_on(async {
            let problems = missing_acks(&url, &fired.acks).await;
            let mut client = connect(&url).await.expect("connect");
            (problems, node_info(&mut client).await)
        });
        assert!(
            problems.is_empty(),
            "{context}: {} of {} acknowledged transactions are wrong after the restart, first: {:?}",
            problems.len(),
            fired.acks.len(),
            &problems[..problems.len().min(5)]
        );
        assert!(
            after_crash.height > previous.0 && after_crash.tree_size > previous.1,
            "{context}: the chain did not grow past {previous:?}: {after_crash:?}"
        );
        let newest_ack = fired.acks.iter().map(|a| a.block).max().unwrap_or(0);
        assert!(
            after_crash.height > newest_ack,
            "{context}: height {} lost block {newest_ack}",
            after_crash.height
        );
        let _ = node.stop_cleanly();

        // A graceful restart lands on the same chain.
        let node = Node::start(&consortium.data, Start::Existing)
            .unwrap_or_else(|e| panic!("{context}: graceful restart: {e:#}"));
        let url = node.url();
        let after_graceful = runtime.block_on(async {
            let mut client = connect(&url).await.expect("connect");
            node_info(&mut client).await
        });
        assert_eq!(
            summary(&after_graceful),
            summary(&after_crash),
            "{context}: height, tree size or state root changed across a graceful restart"
        );
        let _ = node.stop_cleanly();

        // An independent replica of the log file agrees.
        let replica = replay(&consortium.data.join("ledger.log"));
        assert_eq!(
            replica,
            summary(&after_graceful),
            "{context}: a replica replaying the log disagrees with the node"
        );
        previous = replica;
        eprintln!(
            "{context}: {} acknowledged, restart {torn}, height {}, {:.1} s elapsed",
            fired.acks.len(),
            after_graceful.height,
            started.elapsed().as_secs_f64()
        );
    }
    assert!(total_acks >= ROUNDS as usize, "only {total_acks} acknowledgements in {ROUNDS} rounds");
}

/// The byte range of every frame of a log file (16-byte header, then the
/// payload whose length is the little-endian `u32` at bytes 4..8).
fn frames(log: &[u8]) -> Vec<(usize, usize)> {
    let mut frames = Vec::new();
    let mut pos = 0;
    while pos < log.len() {
        assert_eq!(&log[pos..pos + 4], b"CRN1", "frame at byte {pos} has no magic");
        let len = u32::from_le_bytes(log[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        frames.push((pos, pos + 16 + len));
        pos += 16 + len;
    }
    assert_eq!(pos, log.len(), "the log does not end on a frame boundary");
    frames
}

#[test]
fn torn_tail_is_dropped_and_corruption_is_refused_with_the_record_named() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let consortium = consortium(tmp.path());
    let runtime = runtime();
    let log_path = consortium.data.join("ledger.log");

    // A small ledger with a few dozen blocks.
    let node = Node::start(&consortium.data, Start::Genesis(&consortium.genesis)).expect("start");
    let url = node.url();
    let before = runtime.block_on(async {
        let providers = register_providers(&url, &consortium.ca, 4).await;
        let client = connect(&url).await.expect("connect");
        let mut set = tokio::task::JoinSet::new();
        for (p, provider) in providers.into_iter().enumerate() {
            let mut client = client.clone();
            let _ = set.spawn(async move {
                for n in 0..8 {
                    let envelope = publish_envelope(
                        CHAIN,
                        &provider,
                        &format!("torn/p{p}/n{n}"),
                        1,
                        b"{}".to_vec(),
                        b"nonce",
                    );
                    let request = pb::SubmitRequest { envelope: envelope.bytes };
                    let response = client.submit(request).await.expect("submit").into_inner();
                    assert_eq!(response.validation_code, VALID, "{response:?}");
                }
            });
        }
        while let Some(result) = set.join_next().await {
            result.expect("publisher task");
        }
        let mut client = client.clone();
        node_info(&mut client).await
    });
    let _ = node.stop_cleanly();
    let original = std::fs::read(&log_path).expect("read the log");
    let layout = frames(&original);
    assert!(layout.len() >= 6, "the log has only {} records", layout.len());

    // A torn tail: the first 10 bytes of a frame header (magic and length).
    let mut torn = original.clone();
    torn.extend_from_slice(&original[..10]);
    std::fs::write(&log_path, &torn).expect("write the torn log");
    let node = Node::start(&consortium.data, Start::Existing).expect("start over a torn tail");
    let url = node.url();
    let after = runtime.block_on(async {
        let mut client = connect(&url).await.expect("connect");
        node_info(&mut client).await
    });
    assert_eq!(summary(&after), summary(&before), "the torn tail changed the chain");
    let stopped = node.stop_cleanly();
    assert!(stopped.stderr.contains("torn"), "no warning about the torn tail:\n{}", stopped.stderr);
    assert_eq!(
        std::fs::read(&log_path).expect("read the log"),
        original,
        "recovery should truncate exactly the torn bytes"
    );

    // A flipped byte in the middle of the file, then in the magic of a middle
    // record's header: both are refused, naming the record that holds the byte.
    let middle_record = layout.len() / 2 + 1;
    for position in [original.len() / 2, layout[middle_record].0] {
        let record = layout
            .iter()
            .position(|&(start, end)| (start..end).contains(&position))
            .expect("frame");
        let start = layout[record].0;
        let mut corrupt = original.clone();
        corrupt[position] ^= 0x20;
        std::fs::write(&log_path, &corrupt).expect("write the corrupt log");
        let out = cairn_with_timeout(
            [
                "up",
                "--data-dir",
                consortium.data.to_str().expect("UTF-8 path"),
                "--listen",
                "127.0.0.1:0",
            ],
            Duration::from_secs(30),
        );
        let named = format!("record {record} (byte {start})");
        let _ = out.assert_failure_with("corrupt").assert_failure_with(&named);
        assert!(!out.stdout.contains("listening on"), "{}", out.describe());
        assert_eq!(
            std::fs::read(&log_path).expect("read the log"),
            corrupt,
            "a refused start changed the corrupt log"
        );
    }

    // With the original bytes back, the node starts on the same chain.
    std::fs::write(&log_path, &original).expect("restore the log");
    let node = Node::start(&consortium.data, Start::Existing).expect("start on the restored log");
    let url = node.url();
    let restored = runtime.block_on(async {
        let mut client = connect(&url).await.expect("connect");
        node_info(&mut client).await
    });
    assert_eq!(summary(&restored), summary(&before), "the restored log gives another chain");
    let _ = node.stop_cleanly();
}
