//! The node's access-event log: every decision, grant, denial, download and
//! verification query, appended durably before the caller is answered, folded
//! into an RFC 6962 Merkle log and the audit projection, and anchored on the
//! ledger at an interval.
//!
//! Events are appended by one writer thread: everything queued goes into one
//! append with one fsync (group commit), then into the Merkle log, the audit
//! projection and the meter in offset order, so the leaf index of an event is
//! its log offset and the meter is a fold of the log (rebuilt on start).
//!
//! A billable request of a prepaid account is admitted with
//! [`AccessLog::admit`]: its price is quoted and set aside under the same lock
//! that queues its event, so the log holds billable events in the order their
//! prices were reserved and no burst can spend a balance twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use anchor_chaincode::merkle::{self, MerkleLog};
use anyhow::{Context, format_err};
use asset_registry::audit::{AccessEvent, AuditProjection};
use asset_registry::billing::{Meter, Reservation, TariffPeriod};
use connectors::log::LedgerLog;
use tokio::sync::{mpsc, oneshot};

/// The Merkle log, audit projection and meter of the access events.
#[derive(Debug, Default)]
pub(crate) struct AccessState {
    pub(crate) merkle: MerkleLog,
    pub(crate) projection: AuditProjection,
    pub(crate) meter: Meter,
}

/// The plans of an account holder (address in hex), oldest first, or `None`
/// for an identity without an account. Read from the node's ledger.
pub(crate) type PlanSource = Arc<dyn Fn(&str) -> Option<Vec<TariffPeriod>> + Send + Sync>;

/// How the access log meters: the node's address (the `node` of its lines),
/// its chain id (for the callers' envelopes) and where plans come from;
/// `None` switches metering off.
#[derive(Clone)]
pub(crate) struct Metering {
    pub(crate) node: String,
    pub(crate) chain_id: String,
    pub(crate) plans: PlanSource,
}

impl Metering {
    /// The plans of every distinct identity of `events`, read before any lock
    /// of the access state is taken (the ledger lock is never held with it).
    fn plans_of<'a>(
        &self,
        events: impl Iterator<Item = &'a AccessEvent>,
    ) -> BTreeMap<String, Option<Vec<TariffPeriod>>> {
        let mut plans = BTreeMap::new();
        for event in events {
            if !plans.contains_key(&event.identity) {
                let _ = plans.insert(event.identity.clone(), (self.plans)(&event.identity));
            }
        }
        plans
    }
}

impl std::fmt::Debug for Metering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metering").field("node", &self.node).finish_non_exhaustive()
    }
}

fn fold(
    state: &mut AccessState,
    metering: Option<&Metering>,
    plans: &BTreeMap<String, Option<Vec<TariffPeriod>>>,
    offset: u64,
    event: &AccessEvent,
) {
    if let Some(metering) = metering {
        let mut periods = plans.get(&event.identity).and_then(Option::as_deref);
        // An account holder is charged only for what it provably asked for.
        if periods.is_some()
            && let Err(e) =
                asset_registry::billing::check_evidence(event, &metering.chain_id, &metering.node)
        {
            tracing::error!(offset, error = %e, "an access event without its caller's evidence is not charged");
            periods = None;
        }
        let _ = state.meter.apply(event, &metering.node, offset, periods);
    }
}

type Pending = (AccessEvent, oneshot::Sender<Result<u64, String>>);

/// Where a node also publishes its access events: the access-event topic,
/// keyed by identity, so the projectors of the consumer group see them.
///
/// Each event is published after it is durable in the node's own log, and a
/// request is answered only after the broker acknowledged it. A crash in
/// between leaves events the topic has not seen; the node republishes from
/// the watermark file on start, so an event may reach the topic twice, and the
/// projections count it once by its event id.
#[cfg(feature = "kafka")]
#[derive(Debug)]
pub(crate) struct AccessSink {
    pub(crate) producer: connectors::kafka::KafkaProducer,
    pub(crate) topic: String,
    /// The node's address, sent as the `cairn-node` header.
    pub(crate) node: String,
    /// The node's key, which signs every record (`cairn-node-key`, `cairn-signature`).
    pub(crate) key: access_control::keys::KeyPair,
    /// The next local offset not yet acknowledged by the topic.
    pub(crate) watermark_path: std::path::PathBuf,
}

/// Header carrying the address of the node that logged an event.
#[cfg(feature = "kafka")]
pub(crate) const NODE_HEADER: &str = "cairn-node";
/// Header carrying the event's leaf index in that node's access-event log (8 bytes, big-endian).
#[cfg(feature = "kafka")]
pub(crate) const LEAF_HEADER: &str = "cairn-leaf";
/// Header carrying the Ed25519 public key of the node that logged the event (32 bytes).
#[cfg(feature = "kafka")]
pub(crate) const NODE_KEY_HEADER: &str = "cairn-node-key";
/// Header carrying the node's signature over the record
/// ([`asset_registry::audit::sign_record`], 64 bytes).
#[cfg(feature = "kafka")]
pub(crate) const SIGNATURE_HEADER: &str = "cairn-signature";

/// The access-event topic: none in a build without the kafka feature.
#[cfg(not(feature = "kafka"))]
#[derive(Debug)]
pub(crate) enum AccessSink {}

#[cfg(not(feature = "kafka"))]
impl AccessSink {
    fn topic(&self) -> &str {
        match *self {}
    }

    fn watermark(&self) -> anyhow::Result<u64> {
        match *self {}
    }

    fn publish(&self, _: &dyn LedgerLog, _: u64, _: u64) -> anyhow::Result<()> {
        match *self {}
    }
}

#[cfg(feature = "kafka")]
impl AccessSink {
    fn topic(&self) -> &str {
        &self.topic
    }

    fn watermark(&self) -> anyhow::Result<u64> {
        match std::fs::read_to_string(&self.watermark_path) {
            Ok(text) => text.trim().parse().with_context(|| {
                format!("{} does not hold an offset", self.watermark_path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => {
                Err(e).with_context(|| format!("cannot read {}", self.watermark_path.display()))
            }
        }
    }

    fn set_watermark(&self, next: u64) -> anyhow::Result<()> {
        // Not fsynced: a lost update only republishes, which the projections absorb.
        std::fs::write(&self.watermark_path, next.to_string())
            .with_context(|| format!("cannot write {}", self.watermark_path.display()))
    }

    /// Publishes local records `[from, to)` and moves the watermark to `to`.
    fn publish(&self, log: &dyn LedgerLog, from: u64, to: u64) -> anyhow::Result<()> {
        let mut next = from;
        while next < to {
            let records = log.read(next, 4096.min(usize::try_from(to - next).unwrap_or(4096)))?;
            let Some(last) = records.last() else { break };
            let last = last.offset;
            let node_key = self.key.signing_public_key();
            let keys: Vec<(String, [u8; 8], [u8; 64])> = records
                .iter()
                .map(|r| {
                    let identity =
                        AccessEvent::decode(&r.bytes).map(|e| e.identity).unwrap_or_default();
                    let signature = asset_registry::audit::sign_record(
                        self.key.signing_key(),
                        r.offset,
                        &r.bytes,
                    );
                    (identity, r.offset.to_be_bytes(), signature)
                })
                .collect();
            let headers: Vec<[(&str, &[u8]); 4]> = keys
                .iter()
                .map(|(_, leaf, signature)| {
                    [
                        (NODE_HEADER, self.node.as_bytes()),
                        (LEAF_HEADER, leaf.as_slice()),
                        (NODE_KEY_HEADER, node_key.as_slice()),
                        (SIGNATURE_HEADER, signature.as_slice()),
                    ]
                })
                .collect();
            let out: Vec<connectors::kafka::OutRecord<'_>> = records
                .iter()
                .zip(&keys)
                .zip(&headers)
                .map(|((record, (identity, _, _)), headers)| connectors::kafka::OutRecord {
                    key: Some(identity.as_bytes()),
                    payload: &record.bytes,
                    headers,
                    partition: None,
                })
                .collect();
            let _ = self.producer.send_all(&self.topic, &out)?;
            next = last + 1;
            self.set_watermark(next)?;
        }
        Ok(())
    }
}

/// The access-event log of a node.
#[derive(Clone)]
pub(crate) struct AccessLog {
    log: Arc<dyn LedgerLog>,
    state: Arc<RwLock<AccessState>>,
    queue: mpsc::Sender<Pending>,
    metering: Option<Metering>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog").field("log", &self.log).finish_non_exhaustive()
    }
}

/// A fresh event id: 16 random bytes as hex.
pub(crate) fn new_event_id() -> String {
    access_control::keys::random_bytes::<16>().map(hex::encode).unwrap_or_else(|_| {
        // The OS random source failing is not a reason to lose an audit record.
        format!(
            "{:032x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        )
    })
}

impl AccessLog {
    /// Opens the log file and rebuilds the Merkle log and projection from it;
    /// with a sink, publishes what the topic has not acknowledged yet.
    pub(crate) fn open(
        path: &Path,
        sink: Option<AccessSink>,
        metering: Option<Metering>,
    ) -> anyhow::Result<AccessLog> {
        let log: Arc<dyn LedgerLog> = Arc::new(connectors::log::EmbeddedLog::open(path)?);
        let mut state = AccessState::default();
        let mut next = 0;
        loop {
            let records = log.read(next, 4096)?;
            if records.is_empty() {
                break;
            }
            let events = records
                .iter()
                .map(|record| {
                    AccessEvent::decode(&record.bytes).map_err(|e| {
                        format_err!(
                            "access-event log {} record {}: {e}",
                            path.display(),
                            record.offset
                        )
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let plans = metering.as_ref().map(|m| m.plans_of(events.iter())).unwrap_or_default();
            for (record, event) in records.iter().zip(events) {
                let _ = state.merkle.push(merkle::leaf_hash(&record.bytes));
                fold(&mut state, metering.as_ref(), &plans, record.offset, &event);
                state.projection.apply(record.offset, event).map_err(|e| format_err!(e))?;
                next = record.offset + 1;
            }
        }
        tracing::info!(events = next, "access-event log replayed");
        if let Some(sink) = &sink {
            let published = sink.watermark()?;
            if published < next {
                tracing::info!(from = published, to = next, topic = %sink.topic(), "publishing access events the topic has not acknowledged");
                sink.publish(log.as_ref(), published, next)?;
            }
        }
        let state = Arc::new(RwLock::new(state));
        let (queue, receiver) = mpsc::channel(65_536);
        let writer =
            Writer { log: log.clone(), state: state.clone(), sink, metering: metering.clone() };
        let _thread = std::thread::Builder::new()
            .name("cairn-access-log".into())
            .spawn(move || writer.run(receiver))
            .context("cannot start the access-log writer")?;
        Ok(AccessLog { log, state, queue, metering })
    }

    /// Whether the log meters usage (off only in the metering benchmark's reference).
    pub(crate) fn metering(&self) -> bool {
        self.metering.is_some()
    }

    /// Appends an event whose price `gate` quotes from the meter and sets
    /// aside, keyed by `reserve_for` (the id of the event that will be
    /// metered: this one, or a download's closing event); answers with the
    /// event's offset once it is durable, or with the gate's refusal (nothing
    /// logged then: the caller records the refusal as a denied event).
    pub(crate) async fn admit<R>(
        &self,
        event: AccessEvent,
        reserve_for: &str,
        gate: impl FnOnce(&Meter) -> Result<Reservation, R>,
    ) -> anyhow::Result<Result<u64, R>> {
        let (reply, answer) = oneshot::channel();
        {
            let mut state = super::unpoisoned(self.state.write(), super::stop);
            let reservation = match gate(&state.meter) {
                Ok(reservation) => reservation,
                Err(refusal) => return Ok(Err(refusal)),
            };
            state.meter.reserve(reserve_for, reservation);
            // Queued under the lock: the log keeps the order of the reservations.
            if let Err(e) = self.queue.try_send((event, reply)) {
                state.meter.release(reserve_for);
                anyhow::bail!(match e {
                    mpsc::error::TrySendError::Full(_) =>
                        "the access-event log is busy (its queue is full)",
                    mpsc::error::TrySendError::Closed(_) => "the access-event log is closed",
                });
            }
        }
        let logged = answer
            .await
            .map_err(|_| "the access-event log is closed".to_string())
            .and_then(|result| result);
        match logged {
            Ok(offset) => Ok(Ok(offset)),
            Err(e) => {
                // Not served: nothing may stay reserved for it.
                self.release(reserve_for);
                Err(format_err!(e))
            }
        }
    }

    /// Releases a reservation whose event will not be logged (a download whose
    /// closing event could not be recorded).
    pub(crate) fn release(&self, reserve_for: &str) {
        let mut state = super::unpoisoned(self.state.write(), super::stop);
        state.meter.release(reserve_for);
    }

    /// Appends an event; answers with its offset once it is durable.
    pub(crate) async fn record(&self, event: AccessEvent) -> anyhow::Result<u64> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((event, reply))
            .await
            .map_err(|_| format_err!("the access-event log is closed"))?;
        answer
            .await
            .map_err(|_| format_err!("the access-event log is closed"))?
            .map_err(|e| format_err!(e))
    }

    /// Read access to the Merkle log and projection.
    pub(crate) fn state(&self) -> RwLockReadGuard<'_, AccessState> {
        super::unpoisoned(self.state.read(), super::stop)
    }

    /// The node's own access-event log.
    #[cfg(feature = "pg")]
    pub(crate) fn log(&self) -> &Arc<dyn LedgerLog> {
        &self.log
    }

    /// The logged bytes of the event at `offset`.
    pub(crate) fn event_bytes(&self, offset: u64) -> anyhow::Result<Vec<u8>> {
        let records = self.log.read(offset, 1)?;
        records
            .into_iter()
            .next()
            .map(|r| r.bytes)
            .ok_or_else(|| format_err!("access-event log has no record {offset}"))
    }
}

struct Writer {
    log: Arc<dyn LedgerLog>,
    state: Arc<RwLock<AccessState>>,
    sink: Option<AccessSink>,
    metering: Option<Metering>,
}

impl Writer {
    fn run(self, mut receiver: mpsc::Receiver<Pending>) {
        while let Some(first) = receiver.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < 4096 {
                match receiver.try_recv() {
                    Ok(pending) => batch.push(pending),
                    Err(_) => break,
                }
            }
            let encoded: Vec<Vec<u8>> = batch.iter().map(|(event, _)| event.encode()).collect();
            let records: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
            match self.log.append(&records) {
                Ok(first_offset) => {
                    // Durable here: the Merkle log and projection take it now,
                    // whatever the topic says, so leaf index = log offset holds.
                    let published = self.sink.as_ref().map(|sink| {
                        sink.watermark()
                            .and_then(|from| {
                                sink.publish(
                                    self.log.as_ref(),
                                    from.min(first_offset),
                                    first_offset + records.len() as u64,
                                )
                            })
                            .map_err(|e| {
                                tracing::error!(error = %format!("{e:#}"), "access events not acknowledged by the topic");
                                format!(
                                    "the access event is logged on this node but the access-event topic did not acknowledge it (it will be republished): {e:#}"
                                )
                            })
                    });
                    let plans = self
                        .metering
                        .as_ref()
                        .map(|m| m.plans_of(batch.iter().map(|(event, _)| event)))
                        .unwrap_or_default();
                    let mut state = super::unpoisoned(self.state.write(), super::stop);
                    for (i, ((event, reply), bytes)) in batch.into_iter().zip(&encoded).enumerate()
                    {
                        let offset = first_offset + i as u64;
                        // Every event, recorded or admitted, is counted once it is durable.
                        crate::web::metrics::metrics()
                            .decision(event.decision == asset_registry::audit::Decision::Allowed);
                        let _ = state.merkle.push(merkle::leaf_hash(bytes));
                        fold(&mut state, self.metering.as_ref(), &plans, offset, &event);
                        let result = state
                            .projection
                            .apply(offset, event)
                            .map(|()| offset)
                            .map_err(|e| e.to_string());
                        let result = match &published {
                            Some(Err(e)) => result.and(Err(e.clone())),
                            _ => result,
                        };
                        let _ = reply.send(result);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "access-event log append failed");
                    for (_, reply) in batch {
                        let _ = reply.send(Err(format!("access-event log append failed: {e}")));
                    }
                }
            }
        }
    }
}
