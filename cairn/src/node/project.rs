//! The projectors: fold the ledger log and the access-event stream into the
//! PostgreSQL projections, exactly once, and `cairn project` / `cairn replay`.
//!
//! Exactly once does not rest on Kafka transactions: every batch of rows is
//! written in one database transaction together with the stream offset it
//! reaches ([`asset_registry::pg`]). A projector killed at any point restarts
//! from the stored offsets; records below them are skipped, an event logged
//! twice (a node republishing after a crash) is stored once by its id. The
//! consumer group's committed offsets only say where to resume reading, and a
//! projector seeks back when they run ahead of the database.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use access_control::verify::ParallelVerifier;
#[cfg(feature = "kafka")]
use anchor_chaincode::Address;
use anchor_chaincode::ledger::Ledger;
#[cfg(feature = "kafka")]
use anyhow::Context;
use anyhow::format_err;
use asset_registry::audit::AccessEvent;
use asset_registry::fold::LedgerFolder;
use asset_registry::pg::{AccessRecord, BlockChanges, Projections};
#[cfg(feature = "kafka")]
use connectors::kafka::{GroupConsumer, InRecord, KafkaLog, TopicReader};
use connectors::log::LedgerLog;

use crate::node::Node;
use crate::node::access_log::AccessLog;
#[cfg(feature = "kafka")]
use crate::node::access_log::{LEAF_HEADER, NODE_HEADER, NODE_KEY_HEADER, SIGNATURE_HEADER};
#[cfg(feature = "kafka")]
use crate::node::project_args::{ProjectArgs, ReplayArgs};
use crate::node::scale::{KafkaSettings, PostgresSettings, Scale};

/// The stream name of a node's own access-event log (embedded mode).
const LOCAL_ACCESS_STREAM: &str = "local-access-log";
/// Most records per database transaction.
const BATCH: usize = 5000;

/// When a projector stops.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Until {
    /// Never (a service).
    Forever,
    /// Once it has applied everything that was in the logs when it looked.
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    CaughtUp,
}

/// Starts a replica from the genesis record and replays `[1, next)` without
/// writing; answers it with the genesis rows when nothing is applied yet.
fn start_folder(
    log: &dyn LedgerLog,
    next: u64,
) -> anyhow::Result<(LedgerFolder<ParallelVerifier>, Option<BlockChanges>)> {
    let first = log.read(0, 1)?;
    let genesis = first.first().ok_or_else(|| format_err!("the ledger log is empty"))?;
    let ledger = Ledger::from_genesis_record(0, &genesis.bytes)?;
    let verifier =
        ParallelVerifier { threads: std::thread::available_parallelism().map_or(2, |n| n.get()) };
    let mut folder = LedgerFolder::new(ledger, verifier);
    let genesis_changes = (next == 0).then(|| folder.head_changes());
    let mut at = 1;
    while at < next {
        let records = log.read(at, 512.min(usize::try_from(next - at).unwrap_or(512)))?;
        if records.is_empty() {
            anyhow::bail!(
                "the projections have applied the ledger up to offset {next}, but the log ends at {at}: they belong to another ledger"
            );
        }
        for record in records {
            folder.skip(record.offset, &record.bytes);
            at = record.offset + 1;
        }
    }
    Ok((folder, genesis_changes))
}

/// Projects the ledger log until `until`; answers the next offset.
pub(crate) async fn project_ledger(
    log: Arc<dyn LedgerLog>,
    projections: Projections,
    until: Until,
    stop_at: Option<u64>,
) -> anyhow::Result<u64> {
    let mut next = projections.ledger_next_offset().await?;
    let (mut folder, genesis) = tokio::task::block_in_place(|| start_folder(log.as_ref(), next))?;
    tracing::debug!(next, "ledger projector started");
    if let Some(genesis) = genesis {
        let _ = projections.apply_blocks(&[genesis]).await?;
        next = 1;
    }
    loop {
        if stop_at.is_some_and(|end| next >= end) {
            return Ok(next);
        }
        let max = stop_at.map_or(512, |end| 512.min(usize::try_from(end - next).unwrap_or(512)));
        let records =
            tokio::task::block_in_place(|| log.read_wait(next, max, Duration::from_millis(200)))?;
        if records.is_empty() {
            if matches!(until, Until::CaughtUp) && next >= log.next_offset() {
                return Ok(next);
            }
            // An idle loop must still reach an await, or a stopping runtime
            // could never cancel the task (and would wait for it forever).
            tokio::task::yield_now().await;
            continue;
        }
        let changes: Vec<BlockChanges> = tokio::task::block_in_place(|| {
            records.iter().map(|record| folder.apply(record.offset, &record.bytes)).collect()
        });
        let _ = projections.apply_blocks(&changes).await?;
        next = records.last().map_or(next, |r| r.offset + 1);
    }
}

#[cfg(feature = "kafka")]
/// What the access-topic projector checks before it stores a record: that
/// the node that logged the event signed the record and is a node the
/// ledger trusts, and that a billable event carries its caller's evidence.
#[derive(Debug)]
pub(crate) struct RecordChecks {
    /// The chain id, for the callers' envelopes.
    chain_id: String,
    /// The ledger topic, whose end bounds the heights events may claim.
    kafka: Option<KafkaSettings>,
    /// Node addresses found trusted on the projected ledger.
    trusted: std::sync::Mutex<std::collections::BTreeSet<Address>>,
    /// Records refused since the projector started.
    refused: std::sync::atomic::AtomicU64,
}

#[cfg(feature = "kafka")]
impl RecordChecks {
    pub(crate) fn new(chain_id: String, kafka: Option<KafkaSettings>) -> RecordChecks {
        RecordChecks { chain_id, kafka, trusted: Default::default(), refused: Default::default() }
    }

    /// How many blocks the ledger topic holds now (its genesis is block 0 at
    /// offset 0, one block per record), or `None` without a topic.
    fn ledger_end(&self) -> anyhow::Result<Option<u64>> {
        let Some(kafka) = &self.kafka else { return Ok(None) };
        let reader = TopicReader::new(&kafka.config, &kafka.ledger_topic, &BTreeMap::new())?;
        let ends = tokio::task::block_in_place(|| reader.high_watermarks(1))?;
        Ok(ends.get(&0).map(|&end| u64::try_from(end).unwrap_or(0)))
    }

    /// Reads the chain id from the genesis record of the ledger topic,
    /// waiting for it to be written.
    pub(crate) async fn of_ledger_topic(kafka: &KafkaSettings) -> anyhow::Result<RecordChecks> {
        let log = KafkaLog::open(&kafka.config, &kafka.ledger_topic)?;
        let started = std::time::Instant::now();
        let mut warned_at = Duration::ZERO;
        loop {
            if started.elapsed() >= warned_at + Duration::from_secs(30) {
                warned_at = started.elapsed();
                tracing::warn!(topic = %kafka.ledger_topic, "waiting for the ledger topic's genesis record: access records are checked against the ledger's chain and nodes");
            }
            let first =
                tokio::task::block_in_place(|| log.read_wait(0, 1, Duration::from_millis(500)))?;
            if let Some(genesis) = first.first() {
                let ledger = Ledger::from_genesis_record(0, &genesis.bytes)
                    .map_err(|e| format_err!("the ledger topic's genesis record: {e}"))?;
                return Ok(RecordChecks::new(
                    ledger.consortium().chain_id().to_string(),
                    Some(kafka.clone()),
                ));
            }
        }
    }
}

#[cfg(feature = "kafka")]
/// Whether `node` may sign access-topic records: a registered identity of
/// the ledger (as projected) with the `node` role that is not revoked.
/// Answers `None` while the projected ledger is below `height` and does not
/// know the identity yet. The one place that says which identities count as
/// nodes.
pub(crate) async fn is_trusted_node(
    ledger: &Projections,
    node: &Address,
    height: u64,
) -> anyhow::Result<Option<bool>> {
    let (identity, projected) = ledger.identity_status(&node.to_string()).await?;
    Ok(match identity {
        Some((role, revoked)) => Some(role == anchor_chaincode::Role::Node.to_string() && !revoked),
        None if projected < height => None,
        None => Some(false),
    })
}

#[cfg(feature = "kafka")]
/// Why a topic record is refused, or the access record to store.
async fn access_record(
    projections: &Projections,
    checks: &RecordChecks,
    record: &InRecord,
) -> anyhow::Result<Result<AccessRecord, String>> {
    let event = match AccessEvent::decode(&record.payload) {
        Ok(event) => event,
        Err(e) => return Ok(Err(format!("not an access event: {e}"))),
    };
    let node = record
        .header(NODE_HEADER)
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let leaf_index = record
        .header(LEAF_HEADER)
        .and_then(|leaf| <[u8; 8]>::try_from(leaf).ok())
        .map(u64::from_be_bytes);
    let (Some(leaf), Some(key), Some(signature)) =
        (leaf_index, record.header(NODE_KEY_HEADER), record.header(SIGNATURE_HEADER))
    else {
        return Ok(Err("the record is not signed by a node".into()));
    };
    let signer = match asset_registry::audit::verify_record(key, signature, leaf, &record.payload) {
        Ok(signer) => signer,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if signer.to_string() != node {
        return Ok(Err(format!("the record names node {node:?} but is signed by {signer}")));
    }
    let known = checks.trusted.lock().unwrap_or_else(|p| p.into_inner()).contains(&signer);
    if !known {
        let mut waited = Duration::ZERO;
        let trusted = loop {
            match is_trusted_node(projections, &signer, event.ledger_height).await? {
                Some(trusted) => break trusted,
                // Wait for the projection only up to a height the ledger has:
                // a record claiming more would stall the projector for nothing.
                None if waited.is_zero()
                    && checks.ledger_end()?.is_some_and(|end| event.ledger_height > end) =>
                {
                    return Ok(Err(format!(
                        "the event claims ledger height {}, beyond the ledger's end",
                        event.ledger_height
                    )));
                }
                None if waited < Duration::from_secs(600) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    waited += Duration::from_millis(50);
                }
                None => break false,
            }
        };
        if !trusted {
            return Ok(Err(format!(
                "the record is signed by {signer}, which is not a registered, unrevoked node identity of the ledger"
            )));
        }
        let _ = checks.trusted.lock().unwrap_or_else(|p| p.into_inner()).insert(signer);
    }
    if let Err(e) = asset_registry::billing::check_evidence(&event, &checks.chain_id, &node) {
        return Ok(Err(e.to_string()));
    }
    Ok(Ok(AccessRecord {
        partition: record.partition,
        offset: record.offset,
        node,
        leaf_index,
        event,
    }))
}

#[cfg(feature = "kafka")]
/// Applies a batch of topic records; answers the next offset per partition it reached.
async fn apply_topic_batch(
    projections: &Projections,
    checks: &RecordChecks,
    topic: &str,
    records: &[InRecord],
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let mut reached = BTreeMap::new();
    for record in records {
        let next = reached.entry(record.partition).or_insert(0);
        *next = (*next).max(record.offset + 1);
    }
    let mut access = Vec::with_capacity(records.len());
    let mut refused: BTreeMap<i32, i64> = BTreeMap::new();
    for record in records {
        match access_record(projections, checks, record).await? {
            Ok(accepted) => access.push(accepted),
            Err(reason) => {
                let total = checks.refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                // Where and why, never the payload.
                tracing::error!(
                    partition = record.partition,
                    offset = record.offset,
                    refused_in_all = total,
                    reason = %reason,
                    "refusing an access-topic record"
                );
                let next = refused.entry(record.partition).or_insert(0);
                *next = (*next).max(record.offset + 1);
            }
        }
    }
    if !access.is_empty() {
        apply_when_ledger_caught_up(projections, topic, &access).await?;
    }
    projections.skip_access(topic, &refused).await?;
    Ok(reached)
}

/// Applies access records, waiting while the ledger projection is behind the
/// height an event was decided at (billing needs the plan of that height).
async fn apply_when_ledger_caught_up(
    projections: &Projections,
    stream: &str,
    records: &[AccessRecord],
) -> anyhow::Result<()> {
    let mut waited = Duration::ZERO;
    loop {
        match projections.apply_access(stream, records).await {
            Ok(_) => return Ok(()),
            Err(asset_registry::pg::Error::LedgerBehind { needed, projected, .. })
                if waited < Duration::from_secs(600) =>
            {
                tracing::debug!(needed, projected, "waiting for the ledger projection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                waited += Duration::from_millis(50);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(feature = "kafka")]
/// Projects the access-event topic as a member of the consumer group.
pub(crate) async fn project_access_topic(
    kafka: KafkaSettings,
    projections: Projections,
    until: Until,
    member: Option<String>,
) -> anyhow::Result<()> {
    let checks = Arc::new(RecordChecks::of_ledger_topic(&kafka).await?);
    let group = format!("cairn-projector.{}", projections.schema());
    let topic = kafka.access_topic.clone();
    let mut expected = projections.access_next_offsets(&topic).await?;
    let partitions = kafka.ensure_topics().await?;
    let consumer = tokio::task::block_in_place(|| {
        GroupConsumer::subscribe(
            &kafka.config,
            &group,
            &topic,
            Some((&expected, partitions)),
            member.as_deref(),
        )
    })?;
    let mut idle_checks = 0u32;
    // The batch being written while the next one is read: Kafka reads and
    // database writes overlap, and batches are still applied in order.
    let mut writing: Option<tokio::task::JoinHandle<anyhow::Result<BTreeMap<i32, i64>>>> = None;
    loop {
        let batch =
            tokio::task::block_in_place(|| consumer.poll(BATCH, Duration::from_millis(200)))?;
        tracing::debug!(records = batch.len(), assigned = ?consumer.assigned(), "polled the access topic");
        if batch.is_empty() {
            if let Some(write) = writing.take() {
                commit_reached(&consumer, &write.await??);
            }
            if matches!(until, Until::CaughtUp) {
                idle_checks += 1;
                if idle_checks >= 3 && caught_up(&kafka, &projections).await? {
                    return Ok(());
                }
            }
            tokio::task::yield_now().await;
            continue;
        }
        idle_checks = 0;
        // Where the group resumed past what the database holds (a fresh
        // schema, a lost commit), go back: the database decides.
        let mut first: BTreeMap<i32, i64> = BTreeMap::new();
        for record in &batch {
            let _ = first.entry(record.partition).or_insert(record.offset);
        }
        let mut rewound = std::collections::BTreeSet::new();
        for (&partition, &offset) in &first {
            let stored = expected.get(&partition).copied().unwrap_or(0);
            if offset > stored {
                tracing::info!(
                    partition,
                    from = offset,
                    to = stored,
                    "rewinding to the stored offset"
                );
                tokio::task::block_in_place(|| consumer.seek(partition, stored))?;
                let _ = rewound.insert(partition);
            }
        }
        let kept: Vec<InRecord> =
            batch.into_iter().filter(|r| !rewound.contains(&r.partition)).collect();
        if kept.is_empty() {
            continue;
        }
        for record in &kept {
            let entry = expected.entry(record.partition).or_insert(0);
            *entry = (*entry).max(record.offset + 1);
        }
        if let Some(write) = writing.take() {
            commit_reached(&consumer, &write.await??);
        }
        let (projections, topic, checks) = (projections.clone(), topic.clone(), checks.clone());
        writing = Some(tokio::spawn(async move {
            apply_topic_batch(&projections, &checks, &topic, &kept).await
        }));
    }
}

#[cfg(feature = "kafka")]
/// Commits what a batch reached to the group, after its database commit.
fn commit_reached(consumer: &GroupConsumer, reached: &BTreeMap<i32, i64>) {
    if let Err(e) = consumer.commit(reached) {
        tracing::debug!(error = %e, "cannot commit group offsets (the database holds the real ones)");
    }
}

#[cfg(feature = "kafka")]
/// Whether the projections hold every access record the topic has now.
async fn caught_up(kafka: &KafkaSettings, projections: &Projections) -> anyhow::Result<bool> {
    let stored = projections.access_next_offsets(&kafka.access_topic).await?;
    let partitions = kafka.ensure_topics().await?;
    let reader = TopicReader::new(&kafka.config, &kafka.access_topic, &BTreeMap::new())?;
    let ends = tokio::task::block_in_place(|| reader.high_watermarks(partitions))?;
    Ok(ends.iter().all(|(p, &end)| end == 0 || stored.get(p).copied().unwrap_or(0) >= end))
}

/// Projects a node's own access-event log (embedded mode) as partition 0.
async fn project_local_access(
    access: AccessLog,
    node_address: String,
    chain_id: String,
    projections: Projections,
) -> anyhow::Result<()> {
    let log = access.log().clone();
    let mut next =
        projections.access_next_offsets(LOCAL_ACCESS_STREAM).await?.get(&0).copied().unwrap_or(0);
    loop {
        let from = u64::try_from(next).unwrap_or(0);
        let records =
            tokio::task::block_in_place(|| log.read_wait(from, BATCH, Duration::from_millis(200)))?;
        let Some(last) = records.last().map(|r| r.offset) else {
            tokio::task::yield_now().await;
            continue;
        };
        let mut refused: BTreeMap<i32, i64> = BTreeMap::new();
        let access_records: Vec<AccessRecord> = records
            .iter()
            .filter_map(|r| {
                let event = AccessEvent::decode(&r.bytes).ok()?;
                if let Err(reason) =
                    asset_registry::billing::check_evidence(&event, &chain_id, &node_address)
                {
                    tracing::error!(offset = r.offset, reason = %reason, "refusing an access event without its caller's evidence");
                    let _ = refused.insert(0, i64::try_from(r.offset + 1).ok()?);
                    return None;
                }
                Some(AccessRecord {
                    partition: 0,
                    offset: i64::try_from(r.offset).ok()?,
                    node: node_address.clone(),
                    leaf_index: Some(r.offset),
                    event,
                })
            })
            .collect();
        apply_when_ledger_caught_up(&projections, LOCAL_ACCESS_STREAM, &access_records).await?;
        projections.skip_access(LOCAL_ACCESS_STREAM, &refused).await?;
        next = i64::try_from(last + 1).unwrap_or(i64::MAX);
    }
}

/// Runs the projectors inside `cairn up`; answers the projections for queries.
pub(crate) async fn start_in_process(
    scale: &Scale,
    postgres: &PostgresSettings,
    node: &Node,
    access: &AccessLog,
) -> anyhow::Result<Projections> {
    let projections = Projections::connect(&postgres.url, &postgres.schema).await?;
    let ledger_task = project_ledger(node.log().clone(), projections.clone(), Until::Forever, None);
    drop(tokio::spawn(report("ledger projector", ledger_task)));
    match &scale.kafka {
        Some(kafka) => spawn_topic_projector(kafka, &projections, node),
        None => {
            let task = project_local_access(
                access.clone(),
                node.key().address().to_string(),
                node.ledger().consortium().chain_id().to_string(),
                projections.clone(),
            );
            drop(tokio::spawn(report("access-event projector", task)));
        }
    }
    tracing::info!(schema = projections.schema(), "projecting into PostgreSQL");
    Ok(projections)
}

/// Projects the access-event topic in this process, as a member named after the node.
#[cfg(feature = "kafka")]
fn spawn_topic_projector(kafka: &KafkaSettings, projections: &Projections, node: &Node) {
    let member = format!("node-{}", node.key().address());
    let task =
        project_access_topic(kafka.clone(), projections.clone(), Until::Forever, Some(member));
    drop(tokio::spawn(report("access-event projector", task)));
}

/// A build without the kafka feature has no access-event topic.
#[cfg(not(feature = "kafka"))]
fn spawn_topic_projector(kafka: &KafkaSettings, _: &Projections, _: &Node) {
    match *kafka {}
}

async fn report<T>(what: &'static str, task: impl std::future::Future<Output = anyhow::Result<T>>) {
    if let Err(e) = task.await {
        tracing::error!(error = %format!("{e:#}"), "{what} stopped");
    }
}

#[cfg(feature = "kafka")]
/// Runs the projectors as a process of their own (scaled mode).
pub(crate) fn project(args: ProjectArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let scale = args.scale.resolve()?;
        let kafka = scale.need_kafka("cairn project")?.clone();
        let postgres = scale.need_postgres("cairn project")?.clone();
        let _ = kafka.ensure_topics().await?;
        let projections = Projections::connect(&postgres.url, &postgres.schema).await?;
        let log: Arc<dyn LedgerLog> = Arc::new(KafkaLog::open(&kafka.config, &kafka.ledger_topic)?);
        let until = if args.exit_when_caught_up { Until::CaughtUp } else { Until::Forever };
        let ledger = tokio::spawn(project_ledger(log, projections.clone(), until, None));
        let access =
            tokio::spawn(project_access_topic(kafka, projections.clone(), until, args.member_id));
        println!("projecting into schema {}", projections.schema());
        let (ledger, access) = tokio::try_join!(ledger, access)?;
        let next = ledger.context("ledger projector")?;
        access.context("access-event projector")?;
        println!("caught up: ledger offset {next}");
        Ok(())
    })
}

#[cfg(feature = "kafka")]
/// Rebuilds every projection into a fresh schema and compares it with the live one.
pub(crate) fn replay(args: ReplayArgs) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let scale = args.scale.resolve()?;
        let kafka = scale.need_kafka("cairn replay")?.clone();
        let postgres = scale.need_postgres("cairn replay")?.clone();
        let live = Projections::connect(&postgres.url, &postgres.schema).await?;
        let scratch_name = format!("{}_replay", postgres.schema);
        Projections::drop_schema(&postgres.url, &scratch_name).await?;
        let scratch = Projections::connect(&postgres.url, &scratch_name).await?;
        let log: Arc<dyn LedgerLog> = Arc::new(KafkaLog::open(&kafka.config, &kafka.ledger_topic)?);
        // Catch up with the live offsets and compare; if the live projector
        // moved on meanwhile, catch up again (a few times) before reporting.
        let mut rounds = 0;
        let (stable, live_digests, replay_digests, differences) = loop {
            let ledger_end = live.ledger_next_offset().await?;
            let access_end = live.access_next_offsets(&kafka.access_topic).await?;
            let _ = project_ledger(log.clone(), scratch.clone(), Until::Forever, Some(ledger_end))
                .await?;
            replay_access(&kafka, &scratch, &access_end).await?;
            let live_digests = live.digests().await?;
            let replay_digests = scratch.digests().await?;
            let differences = Projections::diff(&live, &scratch, args.limit).await?;
            rounds += 1;
            let moved = live.ledger_next_offset().await? != ledger_end
                || live.access_next_offsets(&kafka.access_topic).await? != access_end;
            if !moved || rounds >= 5 {
                break (!moved, live_digests, replay_digests, differences);
            }
        };
        let identical = stable && differences.is_empty() && live_digests == replay_digests;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "identical": identical,
                    "live_schema": live.schema(),
                    "replay_schema": scratch.schema(),
                    "live_moved_during_replay": !stable,
                    "live": live_digests,
                    "replay": replay_digests,
                    "differences": differences,
                }))?
            );
        } else {
            for (table, digest) in &live_digests {
                let other = replay_digests.get(table);
                let same = other == Some(digest);
                println!(
                    "{table:<16} live {:>9} rows {}  replay {:>9} rows {}  {}",
                    digest.rows,
                    &digest.sha256[..16.min(digest.sha256.len())],
                    other.map_or(0, |d| d.rows),
                    other.map_or("-", |d| &d.sha256[..16.min(d.sha256.len())]),
                    if same { "same" } else { "DIFFERENT" }
                );
            }
            for difference in &differences {
                println!(
                    "  {} {}: live {}  replay {}",
                    difference.table,
                    difference.key,
                    difference.live.as_deref().unwrap_or("(missing)"),
                    difference.other.as_deref().unwrap_or("(missing)")
                );
            }
            if !stable {
                println!("the live projection kept moving during the replay; stop its projector and run again");
            }
            println!("{}", if identical { "identical" } else { "projections differ from the replay" });
        }
        if !args.keep {
            Projections::drop_schema(&postgres.url, &scratch_name).await?;
        }
        Ok(identical)
    })
}

#[cfg(feature = "kafka")]
/// Applies the access topic from offset 0 up to `end` (per partition) into `projections`.
async fn replay_access(
    kafka: &KafkaSettings,
    projections: &Projections,
    end: &BTreeMap<i32, i64>,
) -> anyhow::Result<()> {
    let mut next = projections.access_next_offsets(&kafka.access_topic).await?;
    let from: BTreeMap<i32, i64> = end
        .keys()
        .map(|&p| (p, next.get(&p).copied().unwrap_or(0)))
        .filter(|(p, from)| end.get(p).is_some_and(|e| from < e))
        .collect();
    if from.is_empty() {
        return Ok(());
    }
    let reader = TopicReader::new(&kafka.config, &kafka.access_topic, &from)?;
    let checks = RecordChecks::of_ledger_topic(kafka).await?;
    let done = |next: &BTreeMap<i32, i64>| {
        end.iter().all(|(p, &e)| next.get(p).copied().unwrap_or(0) >= e)
    };
    while !done(&next) {
        let batch = tokio::task::block_in_place(|| reader.poll(BATCH, Duration::from_secs(10)))?;
        if batch.is_empty() {
            anyhow::bail!(
                "the access topic ended before the offsets the live projection holds: {end:?}"
            );
        }
        let wanted: Vec<InRecord> = batch
            .into_iter()
            .filter(|r| end.get(&r.partition).is_some_and(|&e| r.offset < e))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let reached = apply_topic_batch(projections, &checks, &kafka.access_topic, &wanted).await?;
        for (p, n) in reached {
            let entry = next.entry(p).or_insert(0);
            *entry = (*entry).max(n);
        }
    }
    Ok(())
}
