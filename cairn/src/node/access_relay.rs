//! Other nodes' access-event logs as the access-event topic shows them, so
//! that any node can prove an event another node logged, even while that
//! node is down.
//!
//! Every node follows the whole access topic and keeps, for each other node,
//! a copy of that node's Merkle log: the leaf hashes in leaf order, where on
//! the topic each leaf's record sits, and an index from event id to leaf.
//! The event bytes stay on the topic and are read back when a proof asks for
//! them, so the copy costs about 130 bytes of memory per relayed event (the
//! Merkle log's two hashes, the record's position and the index entry).
//!
//! A record enters a copy only when the node it names signed it
//! ([`asset_registry::audit::verify_record`] over its leaf index and bytes,
//! by the key whose address is the record's `cairn-node` header); anything
//! else is refused and counted. A second, different record signed for a leaf
//! the copy already holds is an equivocation by that node: the first is kept
//! and the conflict logged.
//!
//! Nothing here is trusted by a verifier. A relayed proof is always against
//! the owning node's own anchor on the ledger (its `AnchorAccessEvents`), and
//! a copy whose root at the anchored size differs from the anchored root
//! proves nothing: the relaying node cannot add, drop or change an event
//! without the inclusion proof failing at the verifier.

// Without Kafka no relay is ever made; the copies stay for their tests.
#![cfg_attr(not(feature = "kafka"), allow(dead_code))]

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use anchor_chaincode::Address;
use anchor_chaincode::ledger::AccessAnchor;
use anchor_chaincode::merkle::{self, Hash, MerkleLog};
use asset_registry::audit::AccessEvent;

/// Why a relayed proof cannot be given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No copy holds the event.
    Unknown(String),
    /// The event is known but no anchor of its node covers it, or the copy
    /// has not read every leaf the anchor needs yet: worth retrying.
    NotYet(String),
    /// The copy disagrees with the owner's anchor: it cannot prove anything
    /// under it.
    Mismatch(String),
    /// The topic could not be read back.
    Unavailable(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unknown(why)
            | Refusal::NotYet(why)
            | Refusal::Mismatch(why)
            | Refusal::Unavailable(why) => f.write_str(why),
        }
    }
}

/// Where a leaf's record sits on the access topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

/// One node's log as the topic shows it.
#[derive(Debug, Default)]
struct NodeCopy {
    /// The contiguous leaves `[0, size)`.
    merkle: MerkleLog,
    /// Where each of them sits on the topic.
    positions: Vec<Position>,
    /// Leaves read ahead of a gap (the topic is partitioned by caller, so a
    /// node's leaves arrive in leaf order only within one partition).
    ahead: BTreeMap<u64, (Hash, Position)>,
}

impl NodeCopy {
    /// The hash the copy holds for `leaf`, contiguous or ahead of a gap.
    fn hash_of(&self, leaf: u64) -> Option<Hash> {
        self.merkle.leaf(leaf).or_else(|| self.ahead.get(&leaf).map(|(hash, _)| *hash))
    }
}

/// What a relayed proof is made of, before the event bytes are read back.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    /// The node that logged the event.
    pub(crate) owner: Address,
    /// Its leaf index in that node's log.
    pub(crate) leaf: u64,
    /// The owner's anchor the proof is against.
    pub(crate) anchor: AccessAnchor,
    /// The event's audit path in the anchored tree.
    pub(crate) hashes: Vec<Hash>,
    /// Its leaf hash, which the bytes read back must have.
    pub(crate) leaf_hash: Hash,
    /// Where its record sits on the topic.
    pub(crate) position: Position,
}

/// The copies of every other node's log.
#[derive(Debug, Default)]
pub(crate) struct Copies {
    /// The node these copies belong to: its own records are skipped (its own
    /// log is the authority on them).
    own: Option<Address>,
    copies: BTreeMap<Address, NodeCopy>,
    /// Event id → the (node, leaf) pairs that carry it (one, unless a node
    /// reused another's event id).
    events: BTreeMap<String, Vec<(Address, u64)>>,
    /// Records refused since the start.
    refused: u64,
    /// Conflicting records (a node signing two events for one leaf).
    conflicts: u64,
}

/// What a record of the access topic carries, headers already read.
#[derive(Debug)]
pub(crate) struct SignedRecord<'a> {
    pub(crate) node: &'a [u8],
    pub(crate) leaf: Option<&'a [u8]>,
    pub(crate) node_key: Option<&'a [u8]>,
    pub(crate) signature: Option<&'a [u8]>,
    pub(crate) payload: &'a [u8],
    pub(crate) position: Position,
}

impl Copies {
    /// Empty copies for the node `own`.
    pub(crate) fn new(own: Address) -> Copies {
        Copies { own: Some(own), ..Copies::default() }
    }

    /// Takes one record of the access topic; answers why it was refused, if
    /// it was. Duplicates (a node republishing after a crash) are absorbed.
    pub(crate) fn ingest(&mut self, record: &SignedRecord<'_>) -> Result<(), String> {
        let result = self.check_and_add(record);
        if result.is_err() {
            self.refused += 1;
        }
        result
    }

    fn check_and_add(&mut self, record: &SignedRecord<'_>) -> Result<(), String> {
        let (Some(leaf), Some(key), Some(signature)) =
            (record.leaf, record.node_key, record.signature)
        else {
            return Err("the record is not signed by a node".into());
        };
        let leaf = <[u8; 8]>::try_from(leaf)
            .map(u64::from_be_bytes)
            .map_err(|_| format!("the leaf header is {} bytes, not 8", leaf.len()))?;
        let signer = asset_registry::audit::verify_record(key, signature, leaf, record.payload)
            .map_err(|e| e.to_string())?;
        let named = String::from_utf8_lossy(record.node);
        if signer.to_string() != named {
            return Err(format!("the record names node {named:?} but is signed by {signer}"));
        }
        if Some(signer) == self.own {
            return Ok(());
        }
        let hash = merkle::leaf_hash(record.payload);
        let copy = self.copies.entry(signer).or_default();
        if let Some(held) = copy.hash_of(leaf) {
            if held == hash {
                return Ok(());
            }
            self.conflicts += 1;
            return Err(format!(
                "node {signer} signed a second, different record for its leaf {leaf}; the first is kept"
            ));
        }
        let _ = copy.ahead.insert(leaf, (hash, record.position));
        while let Some((hash, position)) = copy.ahead.remove(&copy.merkle.size()) {
            let _ = copy.merkle.push(hash);
            copy.positions.push(position);
        }
        // An event that does not decode is still a leaf of its node's log;
        // it just cannot be found by id.
        if let Ok(event) = AccessEvent::decode(record.payload) {
            let holders = self.events.entry(event.event_id).or_default();
            if !holders.contains(&(signer, leaf)) {
                holders.push((signer, leaf));
            }
        }
        Ok(())
    }

    /// Records refused and conflicts seen since the start.
    pub(crate) fn counters(&self) -> (u64, u64) {
        (self.refused, self.conflicts)
    }

    /// The nodes and leaves that carry `event_id`, only those of `owner` when given.
    pub(crate) fn find(&self, event_id: &str, owner: Option<&Address>) -> Vec<(Address, u64)> {
        self.events
            .get(event_id)
            .map(|holders| {
                holders
                    .iter()
                    .filter(|(node, _)| owner.is_none_or(|o| o == node))
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many of `owner`'s leaves the copy holds in order.
    #[cfg(test)]
    pub(crate) fn size(&self, owner: &Address) -> u64 {
        self.copies.get(owner).map_or(0, |copy| copy.merkle.size())
    }

    /// Locates `owner`'s leaf under the newest of `anchors` (the owner's
    /// anchors a proof may use, oldest first) that the copy holds in full,
    /// and checks that the copy's root at its size is the anchored root.
    pub(crate) fn locate(
        &self,
        owner: &Address,
        leaf: u64,
        anchors: &[AccessAnchor],
    ) -> Result<Located, Refusal> {
        let copy = self.copies.get(owner).ok_or_else(|| {
            Refusal::Unknown(format!(
                "no record of node {owner} has been read from the access-event topic"
            ))
        })?;
        let size = copy.merkle.size();
        let covering: Vec<&AccessAnchor> = anchors.iter().filter(|a| a.tree_size > leaf).collect();
        let Some(anchor) = covering.iter().rev().find(|a| a.tree_size <= size) else {
            return Err(Refusal::NotYet(match covering.first() {
                None => format!(
                    "the access event at position {leaf} of node {owner} is not anchored on the ledger yet (under the checkpoint asked for); try again after the next anchor"
                ),
                Some(anchor) => format!(
                    "this node has read {size} of node {owner}'s access events in order from the topic, and the anchor covering position {leaf} needs {}; try again shortly",
                    anchor.tree_size
                ),
            }));
        };
        let root =
            copy.merkle.root_at(anchor.tree_size).map_err(|e| Refusal::Mismatch(e.to_string()))?;
        if root != anchor.root_hash {
            return Err(Refusal::Mismatch(format!(
                "node {owner}'s records on the access-event topic do not match its anchor of size {} (tx {}): the topic's copy of its log cannot prove its events",
                anchor.tree_size, anchor.tx_id
            )));
        }
        let hashes = copy
            .merkle
            .inclusion_proof(leaf, anchor.tree_size)
            .map_err(|e| Refusal::Mismatch(e.to_string()))?;
        let (Some(leaf_hash), Some(position)) = (
            copy.merkle.leaf(leaf),
            usize::try_from(leaf).ok().and_then(|i| copy.positions.get(i)),
        ) else {
            return Err(Refusal::Mismatch(format!(
                "the copy of node {owner}'s log lacks leaf {leaf}"
            )));
        };
        Ok(Located {
            owner: *owner,
            leaf,
            anchor: (*anchor).clone(),
            hashes,
            leaf_hash,
            position: *position,
        })
    }
}

/// The access-topic follower of a node: its copies of the other nodes' logs.
#[derive(Clone)]
pub(crate) struct AccessRelay {
    copies: Arc<RwLock<Copies>>,
    #[cfg(feature = "kafka")]
    kafka: crate::node::scale::KafkaSettings,
}

impl std::fmt::Debug for AccessRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessRelay").finish_non_exhaustive()
    }
}

impl AccessRelay {
    /// Read access to the copies.
    pub(crate) fn copies(&self) -> std::sync::RwLockReadGuard<'_, Copies> {
        super::unpoisoned(self.copies.read(), super::stop)
    }
}

#[cfg(feature = "kafka")]
impl AccessRelay {
    /// Follows the whole access topic of `kafka` from its start on a thread
    /// of its own, keeping copies of every node's log but `own`'s.
    pub(crate) async fn follow(
        kafka: &crate::node::scale::KafkaSettings,
        own: Address,
    ) -> anyhow::Result<AccessRelay> {
        use anyhow::Context as _;
        let partitions = kafka.ensure_topics().await?;
        let from: BTreeMap<i32, i64> = (0..partitions).map(|p| (p, 0)).collect();
        let reader =
            connectors::kafka::TopicReader::new(&kafka.config, &kafka.access_topic, &from)?;
        let relay =
            AccessRelay { copies: Arc::new(RwLock::new(Copies::new(own))), kafka: kafka.clone() };
        let copies = relay.copies.clone();
        let _thread = std::thread::Builder::new()
            .name("cairn-access-relay".into())
            .spawn(move || follow_topic(&reader, &copies))
            .context("cannot start the access-topic follower")?;
        tracing::info!(topic = %kafka.access_topic, partitions, "following other nodes' access events");
        Ok(relay)
    }

    /// Reads the record at `position` back from the topic; answers its bytes
    /// when they hash to `leaf_hash`.
    pub(crate) async fn read_back(
        &self,
        position: Position,
        leaf_hash: Hash,
    ) -> Result<Vec<u8>, Refusal> {
        let kafka = self.kafka.clone();
        let read = tokio::task::spawn_blocking(move || -> anyhow::Result<Option<Vec<u8>>> {
            let from = BTreeMap::from([(position.partition, position.offset)]);
            let reader =
                connectors::kafka::TopicReader::new(&kafka.config, &kafka.access_topic, &from)?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                let records = reader.poll(1, std::time::Duration::from_millis(500))?;
                if let Some(record) = records
                    .into_iter()
                    .find(|r| r.partition == position.partition && r.offset == position.offset)
                {
                    return Ok(Some(record.payload));
                }
            }
            Ok(None)
        })
        .await
        .map_err(|e| Refusal::Unavailable(format!("reading the access topic failed: {e}")))?
        .map_err(|e| Refusal::Unavailable(format!("cannot read the access topic: {e:#}")))?;
        let Some(bytes) = read else {
            return Err(Refusal::Unavailable(format!(
                "the access topic did not return its record at partition {} offset {} within 10 s",
                position.partition, position.offset
            )));
        };
        if merkle::leaf_hash(&bytes) != leaf_hash {
            return Err(Refusal::Mismatch(format!(
                "the access topic's record at partition {} offset {} is not the one read before",
                position.partition, position.offset
            )));
        }
        Ok(bytes)
    }
}

#[cfg(not(feature = "kafka"))]
impl AccessRelay {
    /// Without the kafka feature there is no topic to read back from (and
    /// no relay is ever made).
    pub(crate) async fn read_back(&self, _: Position, _: Hash) -> Result<Vec<u8>, Refusal> {
        Err(Refusal::Unavailable("this build has no Kafka support".into()))
    }
}

/// The follower's loop: reads every record of the topic into the copies.
/// A read error is logged once and retried.
#[cfg(feature = "kafka")]
fn follow_topic(reader: &connectors::kafka::TopicReader, copies: &RwLock<Copies>) {
    use crate::node::access_log::{LEAF_HEADER, NODE_HEADER, NODE_KEY_HEADER, SIGNATURE_HEADER};
    let mut warned = false;
    loop {
        let records = match reader.poll(4096, std::time::Duration::from_millis(500)) {
            Ok(records) => {
                warned = false;
                records
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, "cannot read the access-event topic; retrying");
                    warned = true;
                }
                std::thread::sleep(std::time::Duration::from_secs(1));
                continue;
            }
        };
        if records.is_empty() {
            continue;
        }
        let mut copies = super::unpoisoned(copies.write(), super::stop);
        for record in &records {
            let signed = SignedRecord {
                node: record.header(NODE_HEADER).unwrap_or_default(),
                leaf: record.header(LEAF_HEADER),
                node_key: record.header(NODE_KEY_HEADER),
                signature: record.header(SIGNATURE_HEADER),
                payload: &record.payload,
                position: Position { partition: record.partition, offset: record.offset },
            };
            if let Err(reason) = copies.ingest(&signed) {
                let (refused, conflicts) = copies.counters();
                // Where and why, never the payload.
                tracing::error!(
                    partition = record.partition,
                    offset = record.offset,
                    refused_in_all = refused,
                    conflicts,
                    reason = %reason,
                    "not relaying an access-topic record"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
