//! `cairn bench …`: measurements an operator can run on their own hardware.
//!
//! `cairn bench ledger` measures committed transactions per second on the
//! embedded node — signed envelopes, decoded, signature-checked, validated,
//! applied, logged with fsync (group commit) — and, in the same run, the
//! single-thread Ed25519 verification rate of the same library on the same
//! machine, and prints their ratio `ledger_vs_ed25519_verify`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use access_control::keys::KeyPair;
use anchor_chaincode::genesis::{Genesis, Organisation};
use anchor_chaincode::tx::{self, Transaction, TxDraft};
use anchor_chaincode::{Role, ValidationCode};
use anyhow::{Context, bail};
use cairn_schemas::v1 as pb;
use clap::{Args, Subcommand};

use crate::node::{Node, NodeConfig};

mod access;
mod cases;
mod consortium;
mod metering;
mod ods;
mod reference;
mod scale;
mod verify;

#[derive(Subcommand, Debug)]
pub(crate) enum BenchCommand {
    /// Committed transactions per second vs single-thread Ed25519 verifications per second.
    Ledger(LedgerBenchArgs),
    /// Access decisions per second (in process) and authorised gRPC calls under load.
    Access(self::access::AccessBenchArgs),
    /// The ODS pipeline against its limits and peers (crypto, cp+sync, openssl+age, COPY).
    Ods(self::ods::OdsBenchArgs),
    /// The scaled mode: ledger through Kafka vs raw produce+consume, projection vs COPY.
    Scale(self::scale::ScaleBenchArgs),
    /// Three cosigning nodes on one Kafka ledger vs one node, and the time to a quorum checkpoint.
    Consortium(self::consortium::ConsortiumBenchArgs),
    /// Certificate presentations verified per second vs single-thread Ed25519 verifications per second.
    Verify(self::verify::VerifyBenchArgs),
    /// Metered verification queries per second vs the same queries with metering switched off.
    Metering(self::metering::MeteringBenchArgs),
    /// Complete social-security cases per second, in transactions, vs the plain commit rate.
    Cases(self::cases::CasesBenchArgs),
    /// The load process of `bench access` (started by it).
    #[command(hide = true)]
    AccessLoad(self::access::AccessLoadArgs),
}

#[derive(Args, Debug)]
pub(crate) struct LedgerBenchArgs {
    /// Transactions committed per round.
    #[arg(long, default_value_t = 100_000)]
    txs: usize,
    /// Rounds; the medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Distinct registered identities that submit.
    #[arg(long, default_value_t = 64)]
    identities: usize,
    /// Most transactions in one block.
    #[arg(long, default_value_t = 4096)]
    max_block_txs: usize,
    /// Where the bench's ledger logs go (on the disk to measure; removed afterwards).
    #[arg(long, default_value = ".cairn-bench")]
    data_dir: PathBuf,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ledger(args) => ledger(args),
        BenchCommand::Access(args) => self::access::run(args),
        BenchCommand::Ods(args) => self::ods::run_bench(args),
        BenchCommand::Verify(args) => self::verify::run(args),
        BenchCommand::Metering(args) => self::metering::run(args),
        BenchCommand::AccessLoad(args) => self::access::load(args),
        BenchCommand::Scale(args) => self::scale::run(args),
        BenchCommand::Consortium(args) => self::consortium::run(args),
        BenchCommand::Cases(args) => self::cases::run(args),
    }
}

/// What a bench reports: its figures and its ratios against the reference,
/// printed as a table and, with `--json`, as one JSON object
/// (`{"bench", "figures": [{name, value, unit}], "ratios": [{name, value, goal}]}`).
pub(crate) struct Report {
    bench: &'static str,
    figures: Vec<(&'static str, f64, usize, &'static str)>,
    ratios: Vec<(&'static str, f64, f64)>,
}

impl Report {
    pub(crate) fn new(bench: &'static str) -> Report {
        Report { bench, figures: Vec::new(), ratios: Vec::new() }
    }

    /// A figure, shown with `decimals` digits after the point.
    pub(crate) fn figure(
        &mut self,
        name: &'static str,
        value: f64,
        decimals: usize,
        unit: &'static str,
    ) -> &mut Report {
        self.figures.push((name, value, decimals, unit));
        self
    }

    /// A ratio and the goal the issue set for it.
    pub(crate) fn ratio(&mut self, name: &'static str, value: f64, goal: f64) -> &mut Report {
        self.ratios.push((name, value, goal));
        self
    }

    /// Prints the heading line and the table, then the JSON object if asked.
    pub(crate) fn print(&self, heading: &str, json: bool) {
        let width = self
            .figures
            .iter()
            .map(|f| f.0.len())
            .chain(self.ratios.iter().map(|r| r.0.len()))
            .max()
            .unwrap_or(0)
            .max(26);
        println!("{heading}");
        println!("{:<width$} {:>12}  unit", "figure", "value");
        for (name, value, decimals, unit) in &self.figures {
            println!("{name:<width$} {value:>12.decimals$}  {unit}");
        }
        for (name, value, goal) in &self.ratios {
            println!("{name:<width$} {value:>12.2}  (goal {goal:?})");
        }
        if json {
            let figures: Vec<_> = self
                .figures
                .iter()
                .map(|(name, value, _, unit)| {
                    serde_json::json!({"name": name, "value": value, "unit": unit})
                })
                .collect();
            let ratios: Vec<_> = self
                .ratios
                .iter()
                .map(|(name, value, goal)| {
                    serde_json::json!({"name": name, "value": value, "goal": goal})
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({"bench": self.bench, "figures": figures, "ratios": ratios})
            );
        }
    }
}

/// The median of a bench's per-round figures (the mean of the middle two
/// for an even count; 0 for none).
pub(crate) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

struct Round {
    tps: f64,
    blocks: u64,
    verify_rate: f64,
}

pub(crate) fn signed_publishes(
    chain_id: &str,
    signers: &[KeyPair],
    round: usize,
    n: usize,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = n.div_ceil(threads);
    let nonces: Vec<[u8; 16]> =
        (0..n).map(|_| access_control::keys::random_bytes::<16>()).collect::<Result<_, _>>()?;
    let envelopes = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let nonces = &nonces;
                scope.spawn(move || {
                    (t * per_thread..((t + 1) * per_thread).min(n))
                        .map(|i| {
                            let signer = &signers[i % signers.len()];
                            let draft = TxDraft {
                                chain_id: chain_id.to_string(),
                                nonce: nonces[i].to_vec(),
                                timestamp_ms: 1_700_000_000_000 + i as u64,
                                body: pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
                                    asset_id: format!("bench/r{round}/asset-{i}"),
                                    version: 1,
                                    data_type: pb::DataType::Unstructured.into(),
                                    hash_algorithm: "sha256".into(),
                                    content_hash: content_hash(i),
                                    size_bytes: 1_048_576,
                                    metadata: br#"{"source":"cairn bench ledger"}"#.to_vec(),
                                }),
                            };
                            tx::seal(
                                draft.payload(&signer.signing_public_key()),
                                signer.signing_key(),
                                &[],
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect::<Vec<_>>()
    });
    if envelopes.len() != n {
        bail!("signing threads produced {} envelopes instead of {n}", envelopes.len());
    }
    Ok(envelopes)
}

fn content_hash(i: usize) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(i.to_be_bytes()).to_vec()
}

/// Single-thread verification rate over the creator signatures of `envelopes`.
fn verify_rate(envelopes: &[Vec<u8>]) -> anyhow::Result<f64> {
    let checks: Vec<reference::SignatureCheck> = envelopes
        .iter()
        .map(|envelope| {
            let transaction =
                Transaction::decode(envelope).map_err(|r| anyhow::format_err!("{}", r.message))?;
            Ok((
                transaction.creator,
                ed25519_zebra::Signature::from_bytes(&transaction.signature),
                tx::creator_message(&transaction.payload),
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    reference::ed25519_rate(&checks)
}

fn ledger_round(
    args: &LedgerBenchArgs,
    round: usize,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Round> {
    let dir = args.data_dir.join(format!("round-{round}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    let ca = KeyPair::generate()?;
    let dept = KeyPair::generate()?;
    let chain_id = "bench";
    let genesis = bench_genesis(&ca, &dept);
    let mut config = NodeConfig::new(&dir);
    config.max_block_txs = args.max_block_txs;
    let node = Node::open(&config, Some(&genesis.to_bytes()))?;
    let signers: Vec<KeyPair> =
        (0..args.identities.max(1)).map(|_| KeyPair::generate()).collect::<Result<_, _>>()?;
    let registrations = bench_registrations(chain_id, &ca, &signers);
    let (valid, _) = runtime.block_on(submit_all(&node, registrations, args.max_block_txs * 2))?;
    if valid != signers.len() {
        bail!("only {valid} of {} bench identities registered", signers.len());
    }
    let envelopes = signed_publishes(chain_id, &signers, round, args.txs)?;
    let verify_sample = &envelopes[..envelopes.len().min(20_000)];
    let height_before = node.ledger().height();
    let start = Instant::now();
    let (valid, n) =
        runtime.block_on(submit_all(&node, envelopes.clone(), args.max_block_txs * 2))?;
    let elapsed = start.elapsed().as_secs_f64();
    if valid != n {
        bail!("only {valid} of {n} bench transactions were valid");
    }
    let blocks = node.ledger().height() - height_before;
    drop(node);
    let verify_rate = verify_rate(verify_sample)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Round { tps: n as f64 / elapsed, blocks, verify_rate })
}

/// The bench consortium: organisations `ca` (the certification authority) and `dept`.
pub(crate) fn bench_genesis(ca: &KeyPair, dept: &KeyPair) -> Genesis {
    let organisation = |name: &str, key: &KeyPair| Organisation {
        name: name.into(),
        description: String::new(),
        public_key: hex::encode(key.signing_public_key()),
    };
    Genesis::new("bench", vec![organisation("ca", ca), organisation("dept", dept)], "ca")
}

/// Registrations of `signers` as providers of `dept`, endorsed by `ca`.
pub(crate) fn bench_registrations(
    chain_id: &str,
    ca: &KeyPair,
    signers: &[KeyPair],
) -> Vec<Vec<u8>> {
    signers
        .iter()
        .enumerate()
        .map(|(i, pair)| {
            let draft = TxDraft {
                chain_id: chain_id.into(),
                nonce: (i as u64).to_be_bytes().to_vec(),
                timestamp_ms: 1_700_000_000_000,
                body: pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
                    name: format!("bench submitter {i}"),
                    organisation: "dept".into(),
                    role: tx::role_to_pb(Role::Provider).into(),
                    signing_public_key: pair.signing_public_key().to_vec(),
                    encryption_public_key: pair.encryption_public_key().to_vec(),
                    reviewer_role: String::new(),
                }),
            };
            tx::seal(
                draft.payload(&pair.signing_public_key()),
                pair.signing_key(),
                &[("ca", ca.signing_key())],
            )
        })
        .collect()
}

pub(crate) async fn submit_all(
    node: &Node,
    envelopes: Vec<Vec<u8>>,
    in_flight: usize,
) -> anyhow::Result<(usize, usize)> {
    let limit = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let n = envelopes.len();
    for envelope in envelopes {
        let permit = limit.clone().acquire_owned().await?;
        let node = node.clone();
        let _ = tasks.spawn(async move {
            let result = node.submit(envelope).await;
            drop(permit);
            result
        });
    }
    let mut valid = 0;
    while let Some(result) = tasks.join_next().await {
        if result??.receipt.code == ValidationCode::Valid {
            valid += 1;
        }
    }
    Ok((valid, n))
}

fn ledger(args: LedgerBenchArgs) -> anyhow::Result<()> {
    if args.txs == 0 || args.rounds == 0 {
        bail!("--txs and --rounds must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let result = ledger_round(&args, round, &runtime)?;
        eprintln!(
            "round {}: {:.0} tx/s committed in {} blocks; {:.0} Ed25519 verifications/s on one thread",
            round + 1,
            result.tps,
            result.blocks,
            result.verify_rate
        );
        rounds.push(result);
    }
    let _ = std::fs::remove_dir(&args.data_dir);
    let tps = median(rounds.iter().map(|r| r.tps).collect());
    let verify = median(rounds.iter().map(|r| r.verify_rate).collect());
    let block_size =
        median(rounds.iter().map(|r| args.txs as f64 / r.blocks.max(1) as f64).collect());
    Report::new("ledger")
        .figure("ledger_commit", tps, 0, "tx/s")
        .figure("ed25519_verify_single_thread", verify, 0, "sig/s")
        .figure("mean_block_size", block_size, 0, "tx/block")
        .ratio("ledger_vs_ed25519_verify", tps / verify, 1.0)
        .print(
            &format!(
                "cairn bench ledger: {} rounds of {} PublishAsset transactions, medians",
                args.rounds, args.txs
            ),
            args.json,
        );
    Ok(())
}
