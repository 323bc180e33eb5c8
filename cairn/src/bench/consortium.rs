//! `cairn bench consortium`: three cosigning nodes on one Kafka ledger topic
//! against one cosigning node, in the same run.
//!
//! - `consortium_tx_per_s`: signed `PublishAsset` transactions committed per
//!   second when they are spread over three nodes that follow one ledger
//!   topic and cosign every block on the cosign topic (quorum 2 of 3);
//!   against `single_node_tx_per_s`: the same number through one node that
//!   cosigns alone (quorum 1 of 1). Ratio `consortium_vs_single_node`.
//! - `followers_tx_per_s`: the same through three nodes on one topic that
//!   validate every record but do not cosign: what three full replicas cost
//!   on this machine. Ratio `consortium_vs_followers`, the cost of
//!   cosigning alone. On a machine with fewer cores than nodes, three
//!   replicas that each check every signature share the cores, which caps
//!   `consortium_vs_single_node` whatever cosigning costs; this ratio tells
//!   the two apart.
//! - `quorum_latency`: for transactions submitted one at a time, the time
//!   from a submission's answer until the submitting node holds a checkpoint
//!   a quorum cosigned that covers it (p50 and p99).

#[cfg(feature = "kafka")]
use std::sync::Arc;
#[cfg(feature = "kafka")]
use std::time::{Duration, Instant};

#[cfg(feature = "kafka")]
use access_control::keys::KeyPair;
#[cfg(feature = "kafka")]
use anyhow::{Context, bail};
use clap::Args;
#[cfg(feature = "kafka")]
use connectors::kafka::{KafkaConfig, KafkaLog, TopicSpec};

#[cfg(feature = "kafka")]
use crate::bench::scale::node_registration;
#[cfg(feature = "kafka")]
use crate::bench::{bench_genesis, bench_registrations, median, signed_publishes, submit_all};
#[cfg(feature = "kafka")]
use crate::node::cosign::{CosignTopic, Cosigning};
#[cfg(feature = "kafka")]
use crate::node::{Node, NodeConfig};

#[cfg_attr(not(feature = "kafka"), allow(dead_code))]
#[derive(Args, Debug)]
pub(crate) struct ConsortiumBenchArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "CAIRN_KAFKA", default_value = "127.0.0.1:9092")]
    kafka: String,
    /// Transactions per round.
    #[arg(long, default_value_t = 5_000)]
    txs: usize,
    /// Transactions submitted one at a time for the quorum latency, per round.
    #[arg(long, default_value_t = 50)]
    latency_txs: usize,
    /// Rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

#[cfg(feature = "kafka")]
/// Nodes on one ledger topic, each cosigning.
struct Consortium {
    nodes: Vec<(Node, Cosigning)>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    dirs: Vec<std::path::PathBuf>,
    signers: Vec<KeyPair>,
}

#[cfg(feature = "kafka")]
impl Drop for Consortium {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(feature = "kafka")]
/// Starts `n` nodes on a new ledger topic `id.ledger`, registers them as the
/// consortium's nodes (quorum `quorum`) and 64 publishers.
fn start(
    args: &ConsortiumBenchArgs,
    runtime: &tokio::runtime::Runtime,
    id: &str,
    n: usize,
    quorum: u32,
    cosign: bool,
) -> anyhow::Result<Consortium> {
    let config = KafkaConfig::new(args.kafka.clone());
    let (ledger_topic, cosign_topic) = (format!("{id}.ledger"), format!("{id}.cosign"));
    let _ = runtime.block_on(connectors::kafka::ensure_topics(
        &config,
        &[ledger_topic.clone(), cosign_topic.clone()].map(|name| TopicSpec {
            name,
            partitions: 1,
            exact: true,
            configs: Vec::new(),
        }),
    ))?;
    let (ca, dept) = (KeyPair::generate()?, KeyPair::generate()?);
    let mut genesis = bench_genesis(&ca, &dept);
    genesis.quorum = quorum;
    let genesis = genesis.to_bytes();
    let mut consortium =
        Consortium { nodes: Vec::new(), tasks: Vec::new(), dirs: Vec::new(), signers: Vec::new() };
    for i in 0..n {
        let dir = std::env::temp_dir().join(format!("{id}-node{i}"));
        consortium.dirs.push(dir.clone());
        let mut node_config = NodeConfig::new(&dir);
        node_config.max_block_bytes = crate::node::scale::KAFKA_MAX_BLOCK_BYTES;
        let log = Arc::new(KafkaLog::open(&config, &ledger_topic)?);
        let node = Node::open_on(&node_config, log, Some(&genesis), true)?;
        let cosigning = Cosigning::new(node.clone(), None)?;
        if cosign {
            let topic = CosignTopic::new(&config, &cosign_topic)?;
            topic.follow(cosigning.clone())?;
            consortium.tasks.push(runtime.spawn(cosigning.clone().run(Some(topic))));
        }
        consortium.nodes.push((node, cosigning));
    }
    let first = consortium.nodes[0].0.clone();
    let registrations: Vec<Vec<u8>> = consortium
        .nodes
        .iter()
        .map(|(node, _)| node_registration("bench", &ca, &dept, node.key()))
        .collect();
    consortium.signers = (0..64).map(|_| KeyPair::generate()).collect::<Result<_, _>>()?;
    let publishers = bench_registrations("bench", &ca, &consortium.signers);
    let (valid, all) = runtime.block_on(submit_all(
        &first,
        registrations.into_iter().chain(publishers).collect(),
        8192,
    ))?;
    if valid != all {
        bail!("only {valid} of {all} bench identities registered");
    }
    Ok(consortium)
}

#[cfg(feature = "kafka")]
/// Commits `envelopes` spread over the consortium's nodes; answers tx/s.
fn throughput(
    runtime: &tokio::runtime::Runtime,
    consortium: &Consortium,
    envelopes: Vec<Vec<u8>>,
) -> anyhow::Result<f64> {
    let n = envelopes.len();
    let mut shares: Vec<Vec<Vec<u8>>> = vec![Vec::new(); consortium.nodes.len()];
    for (i, envelope) in envelopes.into_iter().enumerate() {
        shares[i % consortium.nodes.len()].push(envelope);
    }
    let start = Instant::now();
    let valid = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for ((node, _), share) in consortium.nodes.iter().zip(shares) {
            let node = node.clone();
            let _ = tasks.spawn(async move { submit_all(&node, share, 8192).await });
        }
        let mut valid = 0;
        while let Some(done) = tasks.join_next().await {
            valid += done.context("a submitting task failed")??.0;
        }
        anyhow::Ok(valid)
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    if valid != n {
        bail!("only {valid} of {n} bench transactions were valid");
    }
    Ok(n as f64 / elapsed)
}

#[cfg(feature = "kafka")]
/// For each envelope, submitted alone to the first node: seconds from its
/// answer until that node holds a quorum checkpoint covering it.
fn quorum_latencies(
    runtime: &tokio::runtime::Runtime,
    consortium: &Consortium,
    envelopes: Vec<Vec<u8>>,
) -> anyhow::Result<Vec<f64>> {
    let (node, cosigning) = &consortium.nodes[0];
    let mut latencies = Vec::new();
    for envelope in envelopes {
        let submitted = runtime.block_on(node.submit(envelope))?;
        let answered = Instant::now();
        let needed = submitted.receipt.leaf_index + 1;
        loop {
            let size = cosigning.quorum_checkpoint()?.map_or(0, |c| c.checkpoint.size);
            if size >= needed {
                break;
            }
            if answered.elapsed() > Duration::from_secs(30) {
                bail!("no quorum checkpoint covered entry {needed} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        latencies.push(answered.elapsed().as_secs_f64());
    }
    Ok(latencies)
}

#[cfg(feature = "kafka")]
fn percentile(mut values: Vec<f64>, p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let Some(last) = values.len().checked_sub(1) else { return 0.0 };
    values[((last as f64) * p).round() as usize]
}

#[cfg(feature = "kafka")]
struct Round {
    consortium: f64,
    single: f64,
    followers: f64,
    p50: f64,
    p99: f64,
}

#[cfg(feature = "kafka")]
pub(crate) fn run(args: ConsortiumBenchArgs) -> anyhow::Result<()> {
    if args.txs == 0 || args.latency_txs == 0 || args.rounds == 0 {
        bail!("--txs, --latency-txs and --rounds must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let id = super::scale::run_id();
        let single = start(&args, &runtime, &format!("{id}s"), 1, 1, true).context("one node")?;
        let envelopes = signed_publishes("bench", &single.signers, round, args.txs)?;
        let single_tps = throughput(&runtime, &single, envelopes)?;
        drop(single);
        let followers =
            start(&args, &runtime, &format!("{id}f"), 3, 2, false).context("three followers")?;
        let envelopes = signed_publishes("bench", &followers.signers, round, args.txs)?;
        let followers_tps = throughput(&runtime, &followers, envelopes)?;
        drop(followers);
        let three = start(&args, &runtime, &format!("{id}c"), 3, 2, true).context("three nodes")?;
        let envelopes = signed_publishes("bench", &three.signers, round, args.txs)?;
        let consortium_tps = throughput(&runtime, &three, envelopes)?;
        let envelopes = signed_publishes("bench", &three.signers, round + 1000, args.latency_txs)?;
        let latencies = quorum_latencies(&runtime, &three, envelopes)?;
        drop(three);
        let (p50, p99) = (percentile(latencies.clone(), 0.5), percentile(latencies, 0.99));
        eprintln!(
            "round {}: one node {single_tps:.0} tx/s, three followers {followers_tps:.0} tx/s, three cosigning nodes {consortium_tps:.0} tx/s, quorum latency p50 {:.0} ms p99 {:.0} ms",
            round + 1,
            p50 * 1e3,
            p99 * 1e3
        );
        rounds.push(Round {
            consortium: consortium_tps,
            single: single_tps,
            followers: followers_tps,
            p50,
            p99,
        });
    }
    let pick = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    let (consortium, single) = (pick(|r| r.consortium), pick(|r| r.single));
    let followers = pick(|r| r.followers);
    let ratio = pick(|r| r.consortium / r.single);
    let cosigning_ratio = pick(|r| r.consortium / r.followers);
    let (p50, p99) = (pick(|r| r.p50) * 1e3, pick(|r| r.p99) * 1e3);
    println!(
        "cairn bench consortium: {} rounds, {} transactions per round, {} for latency, medians",
        args.rounds, args.txs, args.latency_txs
    );
    println!("{:<32} {:>12}  unit", "figure", "value");
    println!("{:<32} {:>12.0}  tx/s", "consortium_tx_per_s", consortium);
    println!("{:<32} {:>12.0}  tx/s", "single_node_tx_per_s", single);
    println!("{:<32} {:>12.0}  tx/s", "followers_tx_per_s", followers);
    println!("{:<32} {:>12.0}  ms", "quorum_latency_p50", p50);
    println!("{:<32} {:>12.0}  ms", "quorum_latency_p99", p99);
    println!("{:<32} {:>12.2}  (goal 0.7)", "consortium_vs_single_node", ratio);
    println!("{:<32} {:>12.2}", "consortium_vs_followers", cosigning_ratio);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "consortium",
                "figures": [
                    {"name": "consortium_tx_per_s", "value": consortium, "unit": "tx/s"},
                    {"name": "single_node_tx_per_s", "value": single, "unit": "tx/s"},
                    {"name": "followers_tx_per_s", "value": followers, "unit": "tx/s"},
                    {"name": "quorum_latency_p50", "value": p50, "unit": "ms"},
                    {"name": "quorum_latency_p99", "value": p99, "unit": "ms"},
                ],
                "ratios": [
                    {"name": "consortium_vs_single_node", "value": ratio, "goal": 0.7},
                    {"name": "consortium_vs_followers", "value": cosigning_ratio},
                ],
            })
        );
    }
    Ok(())
}

/// `cairn bench consortium` in a build without Kafka.
#[cfg(not(feature = "kafka"))]
pub(crate) fn run(_: ConsortiumBenchArgs) -> anyhow::Result<()> {
    crate::features::need("kafka")
}
