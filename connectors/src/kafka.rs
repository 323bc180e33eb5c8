//! Kafka: the ledger log on a one-partition topic, a producer that waits for
//! acknowledgements, and consumers for the access-event topic.
//!
//! - [`KafkaLog`] implements [`LedgerLog`] on partition 0 of a topic that must
//!   have exactly one partition (Kafka orders records only within a
//!   partition). Appends go through an idempotent producer with `acks=all` and
//!   return once the broker acknowledged them; offsets are Kafka's own.
//! - [`KafkaProducer`] sends keyed records with headers and blocks until each
//!   one is acknowledged, for the access-event topic (keyed by identity).
//! - [`GroupConsumer`] reads a topic as a member of a consumer group;
//!   [`TopicReader`] reads chosen partitions from chosen offsets without a
//!   group (replay).
//! - [`ensure_topics`] creates missing topics and checks partition counts.
//!
//! Nothing here depends on Kafka transactions: exactly-once processing is the
//! consumer's business (Cairn stores offsets with its PostgreSQL rows).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::log::{LedgerLog, Record, check_record_sizes};
use crate::{Error, Result};

mod consumer;

use consumer::reader_config;
pub use consumer::{GroupConsumer, InRecord, TopicReader};

/// How to reach a Kafka cluster.
#[derive(Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port…]`.
    pub brokers: String,
    /// Extra librdkafka properties, e.g. `security.protocol=SASL_SSL`,
    /// `sasl.mechanism`, `sasl.username`, `sasl.password`, `ssl.ca.location`.
    pub options: Vec<(String, String)>,
    /// How long to wait for metadata, acknowledgements and reads.
    pub timeout: Duration,
    /// Replication factor of topics Cairn creates.
    pub replication: i32,
}

impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options: Vec<(&str, &str)> = self
            .options
            .iter()
            .map(|(key, value)| {
                let secret = ["password", "secret", "key", "token", "jaas"]
                    .iter()
                    .any(|word| key.to_ascii_lowercase().contains(word));
                (key.as_str(), if secret { "<redacted>" } else { value.as_str() })
            })
            .collect();
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("options", &options)
            .field("timeout", &self.timeout)
            .field("replication", &self.replication)
            .finish()
    }
}

impl KafkaConfig {
    /// A configuration for `brokers` with defaults: 30 s timeout, replication 1.
    pub fn new(brokers: impl Into<String>) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.into(),
            options: Vec::new(),
            timeout: Duration::from_secs(30),
            replication: 1,
        }
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        let _ = config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", "cairn")
            .set("socket.nagle.disable", "true")
            .set("log_level", "3");
        for (key, value) in &self.options {
            let _ = config.set(key, value);
        }
        config
    }

    fn error(&self, action: impl Into<String>, reason: impl std::fmt::Display) -> Error {
        Error::Kafka {
            brokers: self.brokers.clone(),
            action: action.into(),
            reason: reason.to_string(),
        }
    }

    fn timeout_ms(&self) -> String {
        self.timeout.as_millis().max(1).to_string()
    }
}

/// A topic Cairn needs.
#[derive(Clone, Debug)]
pub struct TopicSpec {
    /// Its name.
    pub name: String,
    /// Partitions to create it with.
    pub partitions: i32,
    /// Whether an existing topic must have exactly `partitions` (the ledger).
    pub exact: bool,
    /// Topic configuration entries to create it with.
    pub configs: Vec<(String, String)>,
}

/// Creates the topics that are missing and checks the ones that exist;
/// answers each topic's partition count.
///
/// An unreachable cluster, a refused creation or a ledger topic with the
/// wrong number of partitions is an [`Error::Kafka`] naming the topic.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn ensure_topics(
    config: &KafkaConfig,
    topics: &[TopicSpec],
) -> Result<BTreeMap<String, i32>> {
    let existing = partition_counts(config).await?;
    let missing: Vec<&TopicSpec> =
        topics.iter().filter(|t| !existing.contains_key(&t.name)).collect();
    if !missing.is_empty() {
        let admin: AdminClient<DefaultClientContext> = config
            .client_config()
            .create()
            .map_err(|e| config.error("create an admin client", e))?;
        let new_topics: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|t| {
                let mut topic = NewTopic::new(
                    &t.name,
                    t.partitions,
                    TopicReplication::Fixed(config.replication),
                );
                for (key, value) in &t.configs {
                    topic = topic.set(key, value);
                }
                topic
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(config.timeout));
        let results = admin
            .create_topics(&new_topics, &options)
            .await
            .map_err(|e| config.error("create topics", e))?;
        for result in results {
            match result {
                Ok(name) => tracing::info!(topic = %name, "created Kafka topic"),
                // Another node created it first.
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(config.error(format!("create topic {name}"), code));
                }
            }
        }
    }
    // Metadata may lag a creation for a moment.
    let deadline = Instant::now() + config.timeout;
    loop {
        let counts = partition_counts(config).await?;
        let mut answer = BTreeMap::new();
        let mut all_there = true;
        for topic in topics {
            match counts.get(&topic.name) {
                Some(&n) if n > 0 => {
                    if topic.exact && n != topic.partitions {
                        return Err(config.error(
                            format!("check topic {}", topic.name),
                            format!(
                                "it has {n} partitions; it must have exactly {} \
                                 (Kafka orders records only within one partition, and the ledger needs one total order)",
                                topic.partitions
                            ),
                        ));
                    }
                    let _ = answer.insert(topic.name.clone(), n);
                }
                _ => all_there = false,
            }
        }
        if all_there {
            return Ok(answer);
        }
        if Instant::now() >= deadline {
            return Err(config.error("create topics", "the topics did not appear in the metadata"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The partition count of every topic in the cluster.
async fn partition_counts(config: &KafkaConfig) -> Result<BTreeMap<String, i32>> {
    let config = config.clone();
    let task = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer =
            config.client_config().create().map_err(|e| config.error("create a client", e))?;
        let metadata = consumer.fetch_metadata(None, config.timeout).map_err(|e| {
            config.error(
                "fetch metadata",
                format!("{e} (is a broker listening there? waited {:?})", config.timeout),
            )
        })?;
        Ok(metadata
            .topics()
            .iter()
            .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
            .collect())
    });
    task.await.map_err(|e| Error::Kafka {
        brokers: String::new(),
        action: "fetch metadata".into(),
        reason: e.to_string(),
    })?
}

/// A delivery report: the record's index in its send, and its (partition, offset) or the error.
type Report = (usize, std::result::Result<(i32, i64), KafkaError>);

/// Where a delivery report goes.
#[derive(Debug)]
pub struct Delivery {
    index: usize,
    reply: mpsc::Sender<Report>,
}

/// Routes delivery reports to the waiting sender.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryContext;

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(message) => Ok((message.partition(), message.offset())),
            Err((error, _)) => Err(error.clone()),
        };
        let _ = delivery.reply.send((delivery.index, outcome));
    }
}

/// One record to produce.
#[derive(Clone, Copy, Debug)]
pub struct OutRecord<'a> {
    /// The key (decides the partition when `partition` is `None`).
    pub key: Option<&'a [u8]>,
    /// The value.
    pub payload: &'a [u8],
    /// Headers.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// A fixed partition.
    pub partition: Option<i32>,
}

/// An idempotent producer (`acks=all`) whose sends block until acknowledged.
pub struct KafkaProducer {
    config: KafkaConfig,
    producer: ThreadedProducer<DeliveryContext>,
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer").field("brokers", &self.config.brokers).finish()
    }
}

impl KafkaProducer {
    /// Creates the producer; no connection is made until the first send.
    pub fn new(config: &KafkaConfig) -> Result<KafkaProducer> {
        let producer = config
            .client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "1")
            .set("compression.type", "none")
            .set("message.max.bytes", "16777216")
            .set("message.timeout.ms", config.timeout_ms())
            .create_with_context(DeliveryContext)
            .map_err(|e| config.error("create a producer", e))?;
        Ok(KafkaProducer { config: config.clone(), producer })
    }

    /// Sends `records` to `topic` in order and waits until every one is
    /// acknowledged; answers their (partition, offset).
    #[tracing::instrument(level = "debug", skip_all, fields(topic))]
    pub fn send_all(&self, topic: &str, records: &[OutRecord<'_>]) -> Result<Vec<(i32, i64)>> {
        self.enqueue(topic, records)?.wait()
    }

    /// Hands `records` to the producer's queue in order, without waiting for
    /// acknowledgements.
    ///
    /// If queueing fails part-way, the records queued before the failure may
    /// still be delivered.
    fn enqueue(&self, topic: &str, records: &[OutRecord<'_>]) -> Result<Pending<'_>> {
        let (reply, reports) = mpsc::channel();
        for (index, out) in records.iter().enumerate() {
            let mut headers = OwnedHeaders::new_with_capacity(out.headers.len());
            for (key, value) in out.headers {
                headers = headers.insert(Header { key, value: Some(*value) });
            }
            let mut record = BaseRecord::with_opaque_to(
                topic,
                Box::new(Delivery { index, reply: reply.clone() }),
            )
            .payload(out.payload)
            .headers(headers);
            if let Some(key) = out.key {
                record = record.key(key);
            }
            if let Some(partition) = out.partition {
                record = record.partition(partition);
            }
            let deadline = Instant::now() + self.config.timeout;
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if Instant::now() < deadline =>
                    {
                        record = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((e, _)) => {
                        return Err(self.config.error(format!("produce to topic {topic}"), e));
                    }
                }
            }
        }
        Ok(Pending {
            config: &self.config,
            topic: topic.to_owned(),
            reports,
            n_records: records.len(),
        })
    }

    /// Waits until everything sent is acknowledged.
    #[tracing::instrument(level = "debug", skip_all)]
    pub fn flush(&self) -> Result<()> {
        self.producer.flush(self.config.timeout).map_err(|e| self.config.error("flush", e))
    }
}

/// Records queued by [`KafkaProducer::enqueue`] whose acknowledgements are awaited.
struct Pending<'a> {
    config: &'a KafkaConfig,
    topic: String,
    reports: mpsc::Receiver<Report>,
    n_records: usize,
}

impl Pending<'_> {
    /// Waits until every record is acknowledged; answers their (partition, offset) in order.
    fn wait(self) -> Result<Vec<(i32, i64)>> {
        let topic = &self.topic;
        let mut answers = vec![None; self.n_records];
        // librdkafka fails a delivery itself after message.timeout.ms.
        let deadline = Instant::now() + self.config.timeout + Duration::from_secs(10);
        for _ in 0..self.n_records {
            let wait = deadline.saturating_duration_since(Instant::now());
            let (index, outcome) = self.reports.recv_timeout(wait).map_err(|_| {
                self.config.error(
                    format!("produce to topic {topic}"),
                    "no acknowledgement in time; the records' fate is unknown",
                )
            })?;
            let position = outcome.map_err(|e| {
                self.config
                    .error(format!("produce to topic {topic}"), format!("not acknowledged: {e}"))
            })?;
            answers[index] = Some(position);
        }
        answers
            .into_iter()
            .map(|a| {
                a.ok_or_else(|| {
                    self.config
                        .error(format!("produce to topic {topic}"), "a delivery report is missing")
                })
            })
            .collect()
    }
}

/// Reading position of one consumer of the ledger partition.
struct Cursor {
    consumer: BaseConsumer,
    position: Option<u64>,
}

/// The ledger log on partition 0 of a one-partition Kafka topic.
pub struct KafkaLog {
    config: KafkaConfig,
    topic: String,
    producer: KafkaProducer,
    /// Held while an append queues its records, so that concurrent appends
    /// do not interleave and every group gets consecutive offsets.
    append_order: Mutex<()>,
    /// For [`LedgerLog::read`] (random reads, catch-up).
    reader: Mutex<Cursor>,
    /// For [`LedgerLog::read_wait`] (the follower), so the two never seek each other away.
    follower: Mutex<Cursor>,
    high: AtomicU64,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("brokers", &self.config.brokers)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaLog {
    /// Opens the log on `topic`, which must exist with one partition (see
    /// [`ensure_topics`]).
    #[tracing::instrument(level = "debug", skip_all, fields(topic))]
    pub fn open(config: &KafkaConfig, topic: &str) -> Result<KafkaLog> {
        let cursor = || -> Result<Mutex<Cursor>> {
            let consumer: BaseConsumer = reader_config(config, "cairn-ledger-reader")
                .create()
                .map_err(|e| config.error("create a consumer", e))?;
            Ok(Mutex::new(Cursor { consumer, position: None }))
        };
        let log = KafkaLog {
            config: config.clone(),
            topic: topic.to_owned(),
            producer: KafkaProducer::new(config)?,
            append_order: Mutex::new(()),
            reader: cursor()?,
            follower: cursor()?,
            high: AtomicU64::new(0),
        };
        let _ = log.refresh_high()?;
        Ok(log)
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn refresh_high(&self) -> Result<u64> {
        let cursor = lock(&self.reader);
        let (_, high) = cursor
            .consumer
            .fetch_watermarks(&self.topic, 0, self.config.timeout)
            .map_err(|e| self.config.error(format!("read the end of topic {}", self.topic), e))?;
        let high = u64::try_from(high).unwrap_or(0);
        Ok(self.high.fetch_max(high, Ordering::AcqRel).max(high))
    }

    fn seek(&self, cursor: &mut Cursor, from: u64) -> Result<()> {
        if cursor.position == Some(from) {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        let offset = i64::try_from(from)
            .map_err(|_| self.config.error("read", format!("offset {from} is out of range")))?;
        list.add_partition_offset(&self.topic, 0, Offset::Offset(offset))
            .map_err(|e| self.config.error("assign the ledger partition", e))?;
        cursor
            .consumer
            .assign(&list)
            .map_err(|e| self.config.error(format!("assign topic {}", self.topic), e))?;
        cursor.position = Some(from);
        Ok(())
    }

    fn take(
        &self,
        cursor: &mut Cursor,
        max: usize,
        first_wait: Duration,
        until: Option<u64>,
    ) -> Result<Vec<Record>> {
        let mut out: Vec<Record> = Vec::new();
        let deadline = Instant::now() + first_wait;
        while out.len() < max {
            if let Some(end) = until
                && cursor.position.is_some_and(|p| p >= end)
            {
                break;
            }
            let wait = if until.is_some() {
                deadline.saturating_duration_since(Instant::now())
            } else if out.is_empty() {
                first_wait
            } else {
                Duration::ZERO
            };
            match cursor.consumer.poll(wait) {
                Some(Ok(message)) => {
                    let offset = u64::try_from(message.offset()).unwrap_or(0);
                    if cursor.position.is_some_and(|p| offset < p) {
                        continue;
                    }
                    out.push(Record {
                        offset,
                        bytes: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    });
                    cursor.position = Some(offset + 1);
                    let _ = self.high.fetch_max(offset + 1, Ordering::AcqRel);
                }
                Some(Err(e)) => {
                    cursor.position = None;
                    return Err(self.config.error(format!("read topic {}", self.topic), e));
                }
                None => {
                    if until.is_some() && Instant::now() >= deadline {
                        cursor.position = None;
                        return Err(self.config.error(
                            format!("read topic {}", self.topic),
                            format!(
                                "timed out after {:?} before reaching offset {}",
                                first_wait,
                                until.unwrap_or(0)
                            ),
                        ));
                    }
                    if until.is_none() {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }
}

fn lock(cursor: &Mutex<Cursor>) -> std::sync::MutexGuard<'_, Cursor> {
    cursor.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl LedgerLog for KafkaLog {
    #[tracing::instrument(level = "debug", skip_all)]
    fn append(&self, records: &[&[u8]]) -> Result<u64> {
        check_record_sizes(records)?;
        if records.is_empty() {
            return Ok(self.next_offset());
        }
        let out: Vec<OutRecord<'_>> = records
            .iter()
            .map(|payload| OutRecord { key: None, payload, headers: &[], partition: Some(0) })
            .collect();
        let pending = {
            // Queued under the lock, acknowledged outside it: concurrent
            // appends still share the broker's round trips.
            let _order = self.append_order.lock().unwrap_or_else(PoisonError::into_inner);
            self.producer.enqueue(&self.topic, &out)?
        };
        let positions = pending.wait()?;
        let first = positions.first().map_or(0, |&(_, offset)| offset);
        let last = positions.last().map_or(0, |&(_, offset)| offset);
        if usize::try_from(last - first).ok() != Some(records.len() - 1) {
            return Err(self.config.error(
                format!("append to topic {}", self.topic),
                format!(
                    "the broker stored the group of {} records at offsets {first} to {last}, \
                     not consecutively",
                    records.len()
                ),
            ));
        }
        let _ = self.high.fetch_max(u64::try_from(last).unwrap_or(0) + 1, Ordering::AcqRel);
        u64::try_from(first)
            .map_err(|_| self.config.error("append", format!("broker answered offset {first}")))
    }

    #[tracing::instrument(level = "debug", skip_all)]
    fn read(&self, from: u64, max: usize) -> Result<Vec<Record>> {
        let mut high = self.high.load(Ordering::Acquire);
        if from >= high {
            high = self.refresh_high()?;
        }
        if from >= high || max == 0 {
            return Ok(Vec::new());
        }
        let mut cursor = lock(&self.reader);
        self.seek(&mut cursor, from)?;
        self.take(&mut cursor, max, self.config.timeout, Some(high))
    }

    fn read_wait(&self, from: u64, max: usize, timeout: Duration) -> Result<Vec<Record>> {
        let mut cursor = lock(&self.follower);
        self.seek(&mut cursor, from)?;
        self.take(&mut cursor, max, timeout, None)
    }

    fn next_offset(&self) -> u64 {
        match self.refresh_high() {
            Ok(high) => high,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the end of the ledger topic; using the last known");
                self.high.load(Ordering::Acquire)
            }
        }
    }
}

#[cfg(test)]
mod tests;
