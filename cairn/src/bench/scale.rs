//! `cairn bench scale`: the scaled mode on a real broker and PostgreSQL,
//! each figure beside its reference measured in the same run.
//!
//! - `kafka_ledger`: signed `PublishAsset` transactions committed per second
//!   through a node on a Kafka ledger topic, end to end (submitted, appended
//!   with `acks=all`, read back by the follower, checked and applied,
//!   answered); against `raw_produce_consume`: records of the same size as the
//!   envelopes, produced with the same producer settings and consumed back,
//!   per second. Ratio `kafka_ledger_vs_raw_produce`.
//! - `projection`: access events projected per second by the access-event
//!   projector, from the topic into PostgreSQL (consumer group, one database
//!   transaction per batch with its offsets, deduplication, usage counters),
//!   timed from start until the last event is stored; against `copy`: a
//!   plain binary `COPY` of the same rows into an unindexed table of the
//!   same server. Ratio `projection_vs_copy`.

#[cfg(all(feature = "kafka", feature = "pg"))]
use std::collections::BTreeMap;
#[cfg(all(feature = "kafka", feature = "pg"))]
use std::sync::Arc;
#[cfg(all(feature = "kafka", feature = "pg"))]
use std::time::{Duration, Instant};

#[cfg(feature = "kafka")]
use access_control::keys::KeyPair;
#[cfg(all(feature = "kafka", feature = "pg"))]
use anyhow::{Context, bail};
#[cfg(all(feature = "kafka", feature = "pg"))]
use asset_registry::audit::{AccessEvent, Action, Decision};
#[cfg(all(feature = "kafka", feature = "pg"))]
use asset_registry::pg::{AccessRecord, Projections};
use clap::Args;
#[cfg(all(feature = "kafka", feature = "pg"))]
use connectors::kafka::{
    GroupConsumer, KafkaConfig, KafkaLog, KafkaProducer, OutRecord, TopicReader, TopicSpec,
};

#[cfg(all(feature = "kafka", feature = "pg"))]
use crate::bench::{bench_genesis, bench_registrations, median, signed_publishes, submit_all};
#[cfg(all(feature = "kafka", feature = "pg"))]
use crate::node::scale::KafkaSettings;
#[cfg(all(feature = "kafka", feature = "pg"))]
use crate::node::{Node, NodeConfig};

#[cfg_attr(not(all(feature = "kafka", feature = "pg")), allow(dead_code))]
#[derive(Args, Debug)]
pub(crate) struct ScaleBenchArgs {
    /// Kafka bootstrap servers.
    #[arg(long, env = "CAIRN_KAFKA", default_value = "127.0.0.1:9092")]
    kafka: String,
    /// PostgreSQL URL.
    #[arg(long, env = "CAIRN_POSTGRES", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    postgres: String,
    /// Ledger transactions per round.
    #[arg(long, default_value_t = 20_000)]
    txs: usize,
    /// Access events per round.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Rounds; medians are reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

#[cfg(all(feature = "kafka", feature = "pg"))]
struct Round {
    ledger_tps: f64,
    raw_rps: f64,
    envelope_bytes: f64,
    projected_eps: f64,
    copy_rps: f64,
    copy_like_rps: f64,
    consume_rps: f64,
}

#[cfg(feature = "kafka")]
pub(super) fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000);
    format!("bench{}x{nanos}", std::process::id())
}

#[cfg(all(feature = "kafka", feature = "pg"))]
/// Transactions per second through a node on Kafka; answers (tps, mean envelope bytes).
fn kafka_ledger(
    args: &ScaleBenchArgs,
    runtime: &tokio::runtime::Runtime,
    round: usize,
    topic: &str,
) -> anyhow::Result<(f64, f64)> {
    let config = KafkaConfig::new(args.kafka.clone());
    let _ = runtime.block_on(connectors::kafka::ensure_topics(
        &config,
        &[TopicSpec { name: topic.into(), partitions: 1, exact: true, configs: Vec::new() }],
    ))?;
    let dir = std::env::temp_dir().join(format!("{topic}-node"));
    let (ca, dept) = (KeyPair::generate()?, KeyPair::generate()?);
    let mut node_config = NodeConfig::new(&dir);
    node_config.max_block_bytes = crate::node::scale::KAFKA_MAX_BLOCK_BYTES;
    let log = Arc::new(KafkaLog::open(&config, topic)?);
    let node = Node::open_on(&node_config, log, Some(&bench_genesis(&ca, &dept).to_bytes()), true)?;
    let signers: Vec<KeyPair> = (0..64).map(|_| KeyPair::generate()).collect::<Result<_, _>>()?;
    let registrations = bench_registrations("bench", &ca, &signers);
    let (valid, _) = runtime.block_on(submit_all(&node, registrations, 8192))?;
    if valid != signers.len() {
        bail!("only {valid} of {} bench identities registered", signers.len());
    }
    let envelopes = signed_publishes("bench", &signers, round, args.txs)?;
    let bytes = envelopes.iter().map(Vec::len).sum::<usize>() as f64 / envelopes.len() as f64;
    let start = Instant::now();
    let (valid, n) = runtime.block_on(submit_all(&node, envelopes, 8192))?;
    let elapsed = start.elapsed().as_secs_f64();
    if valid != n {
        bail!("only {valid} of {n} bench transactions were valid");
    }
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
    Ok((n as f64 / elapsed, bytes))
}

#[cfg(all(feature = "kafka", feature = "pg"))]
/// Records per second produced (idempotent, acks=all) and consumed back.
fn raw_produce_consume(
    args: &ScaleBenchArgs,
    runtime: &tokio::runtime::Runtime,
    topic: &str,
    size: usize,
) -> anyhow::Result<f64> {
    let config = KafkaConfig::new(args.kafka.clone());
    let _ = runtime.block_on(connectors::kafka::ensure_topics(
        &config,
        &[TopicSpec { name: topic.into(), partitions: 1, exact: true, configs: Vec::new() }],
    ))?;
    let producer = KafkaProducer::new(&config)?;
    let payload = vec![0x5a; size];
    let n = args.txs;
    let reader = TopicReader::new(&config, topic, &BTreeMap::from([(0, 0)]))?;
    let start = Instant::now();
    let consumer = std::thread::spawn(move || -> anyhow::Result<usize> {
        let mut seen = 0;
        while seen < n {
            let batch = reader.poll(10_000, Duration::from_secs(30))?;
            if batch.is_empty() {
                bail!("the raw topic stopped after {seen} of {n} records");
            }
            seen += batch.len();
        }
        Ok(seen)
    });
    // Everything in flight at once: librdkafka batches as it likes, and the
    // one wait is for the last acknowledgement.
    let out: Vec<OutRecord<'_>> = (0..n)
        .map(|_| OutRecord { key: None, payload: &payload, headers: &[], partition: Some(0) })
        .collect();
    let _ = producer.send_all(topic, &out)?;
    let seen = consumer.join().map_err(|_| anyhow::format_err!("the raw consumer panicked"))??;
    Ok(seen as f64 / start.elapsed().as_secs_f64())
}

#[cfg(feature = "kafka")]
/// A `RegisterIdentity` of `key` with the `node` role in the bench's
/// department, endorsed by the certification authority and the department.
pub(super) fn node_registration(
    chain_id: &str,
    ca: &KeyPair,
    dept: &KeyPair,
    key: &KeyPair,
) -> Vec<u8> {
    use anchor_chaincode::tx::{self, TxDraft};
    use cairn_schemas::v1 as pb;
    let draft = TxDraft {
        chain_id: chain_id.into(),
        nonce: b"bench node".to_vec(),
        timestamp_ms: 1_700_000_000_000,
        body: pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
            name: "bench node".into(),
            organisation: "dept".into(),
            role: tx::role_to_pb(anchor_chaincode::Role::Node).into(),
            signing_public_key: key.signing_public_key().to_vec(),
            encryption_public_key: key.encryption_public_key().to_vec(),
            reviewer_role: String::new(),
        }),
    };
    tx::seal(
        draft.payload(&key.signing_public_key()),
        key.signing_key(),
        &[("ca", ca.signing_key()), ("dept", dept.signing_key())],
    )
}

#[cfg(all(feature = "kafka", feature = "pg"))]
/// Events that are not billable (a billable one needs its caller's signed
/// request), decided at ledger `height`.
fn synthetic_events(n: usize, round: usize, height: u64) -> Vec<AccessEvent> {
    (0..n)
        .map(|i| AccessEvent {
            event_id: format!("{:016x}{:016x}", round as u64 + 1, i as u64),
            time_ms: 1_790_000_000_000 + i as u64,
            identity: format!("{:040x}", i % 500),
            organisation: "verifier-co".into(),
            role: "verifier".into(),
            action: if i % 3 == 0 { Action::VerifyDataHash } else { Action::ReadAudit },
            resource: format!("asset:health/clinic-registry@{}", 1 + i % 7),
            decision: if i % 10 == 0 { Decision::Denied } else { Decision::Allowed },
            reason: "allowed by rule p, verifier, *, asset, verify_data_hash, allow".into(),
            bytes: (i as u64 * 7919) % 100_000,
            latency_us: 50,
            method: "/cairn.v1.Access/VerifyDataHash".into(),
            ledger_height: height,
            request: Vec::new(),
        })
        .collect()
}

#[cfg(all(feature = "kafka", feature = "pg"))]
/// The projection figures of one round, per second.
struct Projection {
    /// Events projected.
    projected: f64,
    /// Rows of a plain COPY into an unindexed table.
    copy: f64,
    /// Rows of a plain COPY into a table defined like `access_events`.
    copy_like: f64,
    /// Records read by a consumer-group member that writes nothing.
    consume: f64,
}

#[cfg(all(feature = "kafka", feature = "pg"))]
fn projection(
    args: &ScaleBenchArgs,
    runtime: &tokio::runtime::Runtime,
    round: usize,
    name: &str,
) -> anyhow::Result<Projection> {
    let kafka = KafkaSettings {
        config: KafkaConfig::new(args.kafka.clone()),
        // Its own ledger: the ledger benchmark's topic holds another genesis.
        ledger_topic: format!("{name}.projection-ledger"),
        access_topic: format!("{name}.access"),
        cosign_topic: None,
        access_partitions: 8,
    };
    let _ = runtime.block_on(kafka.ensure_topics())?;
    // Projectors store only records signed by a registered node of the
    // ledger: a genesis on the ledger topic and one registered logger.
    let logger = KeyPair::generate()?;
    let height = {
        let dir = std::env::temp_dir().join(format!("{name}-node"));
        let (ca, dept) = (KeyPair::generate()?, KeyPair::generate()?);
        let mut node_config = NodeConfig::new(&dir);
        node_config.max_block_bytes = crate::node::scale::KAFKA_MAX_BLOCK_BYTES;
        let log = Arc::new(KafkaLog::open(&kafka.config, &kafka.ledger_topic)?);
        let genesis = bench_genesis(&ca, &dept).to_bytes();
        let node = Node::open_on(&node_config, log, Some(&genesis), true)?;
        let registration = vec![node_registration("bench", &ca, &dept, &logger)];
        let (valid, _) = runtime.block_on(submit_all(&node, registration, 1))?;
        if valid != 1 {
            bail!("the bench's logging node could not be registered");
        }
        let height = node.ledger().height();
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
        height
    };
    let events = synthetic_events(args.events, round, height);
    let producer = KafkaProducer::new(&kafka.config)?;
    let logger_address = logger.address().to_string();
    let logger_key = logger.signing_public_key();
    let encoded: Vec<(Vec<u8>, [u8; 8], [u8; 64])> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let payload = e.encode();
            let signature =
                asset_registry::audit::sign_record(logger.signing_key(), i as u64, &payload);
            (payload, (i as u64).to_be_bytes(), signature)
        })
        .collect();
    for (chunk, events_chunk) in encoded.chunks(5000).zip(events.chunks(5000)) {
        let headers: Vec<[(&str, &[u8]); 4]> = chunk
            .iter()
            .map(|(_, leaf, signature)| {
                [
                    (crate::node::access_log::NODE_HEADER, logger_address.as_bytes()),
                    (crate::node::access_log::LEAF_HEADER, leaf.as_slice()),
                    (crate::node::access_log::NODE_KEY_HEADER, logger_key.as_slice()),
                    (crate::node::access_log::SIGNATURE_HEADER, signature.as_slice()),
                ]
            })
            .collect();
        let out: Vec<OutRecord<'_>> = chunk
            .iter()
            .zip(events_chunk)
            .zip(&headers)
            .map(|(((payload, _, _), event), headers)| OutRecord {
                key: Some(event.identity.as_bytes()),
                payload,
                headers,
                partition: None,
            })
            .collect();
        let _ = producer.send_all(&kafka.access_topic, &out)?;
    }
    // The topic alone, before the projector reads it: how fast this broker
    // hands a consumer group the same records.
    let consumed = consume_only(&kafka, &format!("{name}-consume-only"), events.len())?;
    let schema = name.to_owned();
    runtime
        .block_on(async {
            let url = crate::secrets::with_password(&args.postgres)?;
            let projections = Projections::connect(&url, &schema).await?;
            // The ledger projection tells the access projector who the nodes are.
            let ledger_log: Arc<dyn connectors::log::LedgerLog> =
                Arc::new(KafkaLog::open(&kafka.config, &kafka.ledger_topic)?);
            let ledger = tokio::spawn(crate::node::project::project_ledger(
                ledger_log,
                projections.clone(),
                crate::node::project::Until::Forever,
                None,
            ));
            let start = Instant::now();
            let task = tokio::spawn(crate::node::project::project_access_topic(
                kafka.clone(),
                projections.clone(),
                crate::node::project::Until::Forever,
                Some(format!("{name}-bench")),
            ));
            let total = events.len() as i64;
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                // The offsets move with the rows, in the same transaction, and
                // reading them costs the server nothing next to a count(*).
                let stored: i64 =
                    projections.access_next_offsets(&kafka.access_topic).await?.values().sum();
                if stored >= total {
                    break;
                }
                if task.is_finished() || Instant::now() > deadline {
                    task.abort();
                    bail!("the projector stopped at {stored} of {total} events");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let projected = total as f64 / start.elapsed().as_secs_f64();
            task.abort();
            ledger.abort();
            let records: Vec<AccessRecord> = events
                .iter()
                .enumerate()
                .map(|(i, e)| AccessRecord {
                    partition: 0,
                    offset: i as i64,
                    node: "bench".into(),
                    leaf_index: Some(i as u64),
                    event: e.clone(),
                })
                .collect();
            let start = Instant::now();
            let copied = projections.copy_access_plain("copy_reference", &records, false).await?;
            let copy_rate = copied as f64 / start.elapsed().as_secs_f64();
            let start = Instant::now();
            let copied =
                projections.copy_access_plain("copy_like_projection", &records, true).await?;
            let copy_like_rate = copied as f64 / start.elapsed().as_secs_f64();
            Projections::drop_schema(&crate::secrets::with_password(&args.postgres)?, &schema)
                .await?;
            Ok::<_, anyhow::Error>((projected, copy_rate, copy_like_rate))
        })
        .map(|(projected, copy, copy_like)| Projection {
            projected,
            copy,
            copy_like,
            consume: consumed,
        })
}

#[cfg(all(feature = "kafka", feature = "pg"))]
/// Reads every record of `topic` (`total` of them) as a fresh consumer-group
/// member and decodes it; records per second from subscribing to the last.
fn consume_only(kafka: &KafkaSettings, group: &str, total: usize) -> anyhow::Result<f64> {
    let start = Instant::now();
    let consumer = GroupConsumer::subscribe(&kafka.config, group, &kafka.access_topic, None, None)?;
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen < total {
        if Instant::now() > deadline {
            bail!("the consumer read {seen} of {total} records");
        }
        for record in consumer.poll(5000, Duration::from_millis(200))? {
            let _ = AccessEvent::decode(&record.payload).map_err(anyhow::Error::msg)?;
            seen += 1;
        }
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

#[cfg(all(feature = "kafka", feature = "pg"))]
pub(crate) fn run(args: ScaleBenchArgs) -> anyhow::Result<()> {
    if args.txs == 0 || args.events == 0 || args.rounds == 0 {
        bail!("--txs, --events and --rounds must be at least 1");
    }
    if crate::secrets::from_command_line(Some(&args.postgres), "CAIRN_POSTGRES") {
        crate::secrets::refuse_password_on_command_line("--postgres", &args.postgres)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let id = run_id();
        let (ledger_tps, envelope_bytes) =
            kafka_ledger(&args, &runtime, round, &format!("{id}.ledger"))
                .context("kafka_ledger")?;
        let raw_rps = raw_produce_consume(
            &args,
            &runtime,
            &format!("{id}.raw"),
            envelope_bytes.round() as usize,
        )
        .context("raw_produce_consume")?;
        let p = projection(&args, &runtime, round, &id).context("projection")?;
        eprintln!(
            "round {}: ledger {ledger_tps:.0} tx/s, raw produce+consume {raw_rps:.0} records/s ({envelope_bytes:.0} B); projection {:.0} events/s, COPY {:.0} rows/s, COPY like the projection {:.0} rows/s, consume only {:.0} records/s",
            round + 1,
            p.projected,
            p.copy,
            p.copy_like,
            p.consume
        );
        rounds.push(Round {
            ledger_tps,
            raw_rps,
            envelope_bytes,
            projected_eps: p.projected,
            copy_rps: p.copy,
            copy_like_rps: p.copy_like,
            consume_rps: p.consume,
        });
    }
    let pick = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    let ledger = pick(|r| r.ledger_tps);
    let raw = pick(|r| r.raw_rps);
    let projected = pick(|r| r.projected_eps);
    let copy = pick(|r| r.copy_rps);
    let bytes = pick(|r| r.envelope_bytes);
    let ledger_ratio = pick(|r| r.ledger_tps / r.raw_rps);
    let projection_ratio = pick(|r| r.projected_eps / r.copy_rps);
    let copy_like = pick(|r| r.copy_like_rps);
    let consume = pick(|r| r.consume_rps);
    let like_ratio = pick(|r| r.projected_eps / r.copy_like_rps);
    println!(
        "cairn bench scale: {} rounds, {} transactions and {} access events per round, medians",
        args.rounds, args.txs, args.events
    );
    println!("{:<32} {:>12}  unit", "figure", "value");
    println!("{:<32} {:>12.0}  tx/s", "kafka_ledger", ledger);
    println!("{:<32} {:>12.0}  records/s of {bytes:.0} B", "raw_produce_consume", raw);
    println!("{:<32} {:>12.0}  events/s", "projection", projected);
    println!("{:<32} {:>12.0}  rows/s", "copy", copy);
    println!("{:<32} {:>12.0}  rows/s", "copy_like_projection", copy_like);
    println!("{:<32} {:>12.0}  records/s", "consume_only", consume);
    println!("{:<32} {:>12.2}  (goal 0.5)", "kafka_ledger_vs_raw_produce", ledger_ratio);
    println!("{:<32} {:>12.2}  (goal 0.5)", "projection_vs_copy", projection_ratio);
    println!("{:<32} {:>12.2}", "projection_vs_copy_like_projection", like_ratio);
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "scale",
                "figures": [
                    {"name": "kafka_ledger", "value": ledger, "unit": "tx/s"},
                    {"name": "raw_produce_consume", "value": raw, "unit": "records/s", "record_bytes": bytes},
                    {"name": "projection", "value": projected, "unit": "events/s"},
                    {"name": "copy", "value": copy, "unit": "rows/s"},
                    {"name": "copy_like_projection", "value": copy_like, "unit": "rows/s"},
                    {"name": "consume_only", "value": consume, "unit": "records/s"},
                ],
                "ratios": [
                    {"name": "kafka_ledger_vs_raw_produce", "value": ledger_ratio, "goal": 0.5},
                    {"name": "projection_vs_copy", "value": projection_ratio, "goal": 0.5},
                    {"name": "projection_vs_copy_like_projection", "value": like_ratio},
                ],
            })
        );
    }
    Ok(())
}

/// `cairn bench scale` in a build without Kafka or PostgreSQL.
#[cfg(not(all(feature = "kafka", feature = "pg")))]
pub(crate) fn run(_: ScaleBenchArgs) -> anyhow::Result<()> {
    crate::features::need("kafka")?;
    crate::features::need("pg")
}
