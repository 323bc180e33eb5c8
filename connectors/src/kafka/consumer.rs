//! Reading topics: as a member of a consumer group ([`GroupConsumer`]) or
//! from chosen offsets without one ([`TopicReader`]).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::KafkaConfig;
use crate::Result;

/// One record read from a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InRecord {
    /// Its partition.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub payload: Vec<u8>,
    /// Its headers.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl InRecord {
    fn of(message: &BorrowedMessage<'_>) -> InRecord {
        let headers = message
            .headers()
            .map(|headers| {
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec).unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        InRecord {
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers,
        }
    }

    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_slice())
    }
}

pub(super) fn reader_config(config: &KafkaConfig, group: &str) -> ClientConfig {
    let mut client = config.client_config();
    let _ = client
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("fetch.min.bytes", "1")
        .set("check.crcs", "true")
        .set("enable.partition.eof", "false");
    client
}

/// Polls up to `max` records: waits up to `timeout` for the first one, then
/// takes what is already there.
fn poll_batch(
    consumer: &BaseConsumer,
    config: &KafkaConfig,
    topic: &str,
    max: usize,
    timeout: Duration,
) -> Result<Vec<InRecord>> {
    let mut out = Vec::new();
    let mut wait = timeout;
    while out.len() < max {
        match consumer.poll(wait) {
            Some(Ok(message)) => out.push(InRecord::of(&message)),
            Some(Err(e)) => return Err(config.error(format!("read topic {topic}"), e)),
            None => break,
        }
        wait = Duration::ZERO;
    }
    Ok(out)
}

/// A member of a consumer group on one topic.
pub struct GroupConsumer {
    config: KafkaConfig,
    topic: String,
    consumer: BaseConsumer,
}

impl std::fmt::Debug for GroupConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupConsumer").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl GroupConsumer {
    /// Joins `group` and subscribes to `topic`; a new group starts at the
    /// earliest offsets.
    ///
    /// `start`, when given, is where the consumer's own records say each
    /// partition should resume (partitions not named resume at 0): it is
    /// committed to the group first, so a group whose committed offsets ran
    /// ahead of those records (a projection rebuilt from scratch) goes back.
    /// The commit is refused while other members are active; theirs are then
    /// the offsets to trust. `instance`, when given, is a static member id
    /// (`group.instance.id`), unique per member.
    #[tracing::instrument(level = "debug", skip_all, fields(topic))]
    pub fn subscribe(
        config: &KafkaConfig,
        group: &str,
        topic: &str,
        start: Option<(&BTreeMap<i32, i64>, i32)>,
        instance: Option<&str>,
    ) -> Result<GroupConsumer> {
        if let Some((offsets, partitions)) = start {
            let standalone: BaseConsumer = reader_config(config, group)
                .create()
                .map_err(|e| config.error("create a consumer", e))?;
            let mut list = TopicPartitionList::new();
            for partition in 0..partitions {
                let offset = offsets.get(&partition).copied().unwrap_or(0);
                list.add_partition_offset(topic, partition, Offset::Offset(offset))
                    .map_err(|e| config.error("commit offsets", e))?;
            }
            if let Err(e) = standalone.commit(&list, CommitMode::Sync) {
                tracing::debug!(error = %e, group, "did not reset the group's offsets (it has active members)");
            }
        }
        let mut member = reader_config(config, group);
        let _ = member.set("session.timeout.ms", "6000").set("heartbeat.interval.ms", "500");
        if let Some(instance) = instance {
            // Static membership: a restarted member takes its old place at
            // once instead of waiting out the session timeout.
            let _ = member.set("group.instance.id", instance);
        }
        let consumer: BaseConsumer =
            member.create().map_err(|e| config.error("create a consumer", e))?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| config.error(format!("subscribe to topic {topic}"), e))?;
        Ok(GroupConsumer { config: config.clone(), topic: topic.to_owned(), consumer })
    }

    /// Up to `max` records, waiting up to `timeout` for the first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub fn poll(&self, max: usize, timeout: Duration) -> Result<Vec<InRecord>> {
        poll_batch(&self.consumer, &self.config, &self.topic, max, timeout)
    }

    /// Moves the consumer of `partition` to `offset` (after a rebalance
    /// gave it a partition whose stored position is elsewhere).
    #[tracing::instrument(level = "debug", skip_all)]
    pub fn seek(&self, partition: i32, offset: i64) -> Result<()> {
        self.consumer
            .seek(&self.topic, partition, Offset::Offset(offset), self.config.timeout)
            .map_err(|e| {
                self.config.error(format!("seek topic {} partition {partition}", self.topic), e)
            })
    }

    /// Commits next offsets to the group, asynchronously: an optimisation
    /// of where a restarted member resumes, never the record of what was applied.
    #[tracing::instrument(level = "debug", skip_all)]
    pub fn commit(&self, next_offsets: &BTreeMap<i32, i64>) -> Result<()> {
        let mut list = TopicPartitionList::new();
        for (&partition, &offset) in next_offsets {
            list.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                .map_err(|e| self.config.error("commit offsets", e))?;
        }
        self.consumer
            .commit(&list, CommitMode::Async)
            .map_err(|e| self.config.error(format!("commit offsets of topic {}", self.topic), e))
    }

    /// The partitions this member holds now.
    pub fn assigned(&self) -> Vec<i32> {
        self.consumer
            .assignment()
            .map(|list| list.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default()
    }
}

/// Reads chosen partitions of a topic from chosen offsets, without a group.
pub struct TopicReader {
    config: KafkaConfig,
    topic: String,
    consumer: BaseConsumer,
}

impl std::fmt::Debug for TopicReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicReader").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl TopicReader {
    /// Starts reading `topic` at `from` (partition → offset).
    pub fn new(
        config: &KafkaConfig,
        topic: &str,
        from: &BTreeMap<i32, i64>,
    ) -> Result<TopicReader> {
        let consumer: BaseConsumer = reader_config(config, "cairn-reader")
            .create()
            .map_err(|e| config.error("create a consumer", e))?;
        let reader = TopicReader { config: config.clone(), topic: topic.to_owned(), consumer };
        reader.assign(from)?;
        Ok(reader)
    }

    fn assign(&self, from: &BTreeMap<i32, i64>) -> Result<()> {
        let mut list = TopicPartitionList::new();
        for (&partition, &offset) in from {
            list.add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                .map_err(|e| self.config.error("assign partitions", e))?;
        }
        self.consumer
            .assign(&list)
            .map_err(|e| self.config.error(format!("assign partitions of topic {}", self.topic), e))
    }

    /// Up to `max` records, waiting up to `timeout` for the first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub fn poll(&self, max: usize, timeout: Duration) -> Result<Vec<InRecord>> {
        poll_batch(&self.consumer, &self.config, &self.topic, max, timeout)
    }

    /// The high watermark (next offset) of each of the topic's partitions.
    #[tracing::instrument(level = "debug", skip_all)]
    pub fn high_watermarks(&self, partitions: i32) -> Result<BTreeMap<i32, i64>> {
        (0..partitions)
            .map(|p| {
                self.consumer
                    .fetch_watermarks(&self.topic, p, self.config.timeout)
                    .map(|(_, high)| (p, high))
                    .map_err(|e| {
                        self.config
                            .error(format!("read the end of topic {} partition {p}", self.topic), e)
                    })
            })
            .collect()
    }
}
