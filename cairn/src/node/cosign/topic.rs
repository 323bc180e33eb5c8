//! The cosign topic of a Kafka consortium: one partition that every node
//! publishes its [`CosignRecord`]s to and reads from the start.

#[cfg(feature = "kafka")]
use std::collections::BTreeMap;

#[cfg(feature = "kafka")]
use anyhow::Context;

use super::{CosignRecord, Cosigning};

/// The cosign topic: none in a build without the kafka feature.
#[cfg(not(feature = "kafka"))]
pub(crate) enum CosignTopic {}

#[cfg(not(feature = "kafka"))]
impl CosignTopic {
    pub(super) fn publish(&self, _: &[CosignRecord]) -> anyhow::Result<()> {
        match *self {}
    }

    pub(crate) fn follow(&self, _: Cosigning) -> anyhow::Result<()> {
        match *self {}
    }
}

/// The cosign topic of a Kafka consortium: one partition, every node's records.
#[cfg(feature = "kafka")]
pub(crate) struct CosignTopic {
    producer: connectors::kafka::KafkaProducer,
    config: connectors::kafka::KafkaConfig,
    topic: String,
}

#[cfg(feature = "kafka")]
impl CosignTopic {
    /// Publishes on and reads `topic`.
    pub(crate) fn new(
        config: &connectors::kafka::KafkaConfig,
        topic: &str,
    ) -> anyhow::Result<CosignTopic> {
        Ok(CosignTopic {
            producer: connectors::kafka::KafkaProducer::new(config)?,
            config: config.clone(),
            topic: topic.to_owned(),
        })
    }

    pub(super) fn publish(&self, records: &[CosignRecord]) -> anyhow::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let payloads: Vec<(Vec<u8>, Vec<u8>)> =
            records.iter().map(|r| (r.node.clone().into_bytes(), r.to_bytes())).collect();
        let out: Vec<connectors::kafka::OutRecord<'_>> = payloads
            .iter()
            .map(|(key, payload)| connectors::kafka::OutRecord {
                key: Some(key),
                payload,
                headers: &[],
                partition: Some(0),
            })
            .collect();
        let _ = self.producer.send_all(&self.topic, &out)?;
        Ok(())
    }

    /// Reads every record of the topic from the start, on a thread of its
    /// own, and hands each to `cosigning`.
    pub(crate) fn follow(&self, cosigning: Cosigning) -> anyhow::Result<()> {
        let reader = connectors::kafka::TopicReader::new(
            &self.config,
            &self.topic,
            &BTreeMap::from([(0, 0)]),
        )?;
        let _thread = std::thread::Builder::new()
            .name("cairn-cosign-reader".into())
            .spawn(move || {
                let mut warned = false;
                loop {
                    match reader.poll(256, std::time::Duration::from_millis(500)) {
                        Ok(records) => {
                            warned = false;
                            for record in records {
                                match CosignRecord::from_bytes(&record.payload) {
                                    Ok(parsed) => cosigning.receive(parsed),
                                    Err(e) => tracing::warn!(offset = record.offset, error = %e, "cosign record ignored"),
                                }
                            }
                        }
                        Err(e) if !warned => {
                            tracing::warn!(error = %e, "cannot read the cosign topic; retrying");
                            warned = true;
                        }
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(500)),
                    }
                }
            })
            .context("cannot start the cosign reader thread")?;
        Ok(())
    }
}
