//! Consortium cosigning: every node cosigns the checkpoints it computed
//! itself, collects the other nodes' cosignatures and answers the newest
//! checkpoint a quorum of the consortium's nodes cosigned.
//!
//! A node cosigns (C2SP `tlog-cosignature`, `cosignature/v1`) the checkpoint
//! after its newest block, and echoes any newer-than-quorum size another
//! node cosigned, but only the root it recomputed from its own replay, and
//! only after checking that the new checkpoint is consistent with the
//! largest one it cosigned before. Each cosignature travels in a
//! [`CosignRecord`] that also carries the block height and state root and
//! is signed by the node's key; on Kafka, records go to the cosign topic and
//! every node reads every record.
//!
//! A record is taken only from a registered, unrevoked identity with the
//! role `node`, signed with that identity's key. When its roots differ from
//! the ones this node computed for the same height, the node keeps serving
//! but logs a divergence alarm naming the height, the transaction range and
//! the nodes on each side, keeps it for `cairn node agreement`, and never
//! counts that node's cosignature: a quorum checkpoint only ever carries the
//! root this node computed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use anchor_chaincode::checkpoint::{
    Checkpoint, CosignatureSigner, CosignatureVerifier, Quorum, TrustedKey, add_signatures,
    open_checkpoint_with_quorum,
};
use anchor_chaincode::merkle::{self, Hash};
use anchor_chaincode::{Address, Ledger, Role};
use anyhow::{Context, bail, format_err};
use ed25519_zebra::{Signature, VerificationKey};
use serde::{Deserialize, Serialize};

use super::Node;

mod kept;
mod topic;

use kept::Cosigned;
pub(crate) use topic::CosignTopic;

/// How many cosigned sizes are kept (the newest); older ones are forgotten
/// except the newest that reached quorum.
const KEEP_SIZES: usize = 1024;
/// How many records of sizes this node has not reached yet are kept.
const KEEP_PENDING: usize = 4096;
/// How many divergences are kept (the newest).
const KEEP_DIVERGENCES: usize = 64;
/// The domain separation of a record's signature.
const RECORD_CONTEXT: &str = "cairn-cosign-record/v1";

/// One node's cosignature of the checkpoint after a block, as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CosignRecord {
    /// The cosigning node's address.
    pub(crate) node: String,
    /// The block height.
    pub(crate) height: u64,
    /// The Merkle log size after that block.
    pub(crate) size: u64,
    /// The Merkle log root after that block (hex).
    pub(crate) log_root: String,
    /// The state root after that block (hex).
    pub(crate) state_root: String,
    /// When it was cosigned (POSIX seconds, the node's clock).
    pub(crate) timestamp: u64,
    /// The `cosignature/v1` signature line, without its newline.
    pub(crate) cosignature: String,
    /// The node's Ed25519 signature (hex) over everything above.
    pub(crate) signature: String,
}

impl CosignRecord {
    fn signed_text(&self) -> String {
        format!(
            "{RECORD_CONTEXT}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.node,
            self.height,
            self.size,
            self.log_root,
            self.state_root,
            self.timestamp,
            self.cosignature
        )
    }

    /// The record as bytes on the cosign topic.
    #[cfg(feature = "kafka")]
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a record from the cosign topic.
    #[cfg(feature = "kafka")]
    pub(crate) fn from_bytes(bytes: &[u8]) -> anyhow::Result<CosignRecord> {
        serde_json::from_slice(bytes).context("a cosign record is not valid JSON")
    }
}

/// What a node last said about itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeView {
    /// Its organisation.
    pub(crate) organisation: String,
    /// The newest block it cosigned.
    pub(crate) height: u64,
    /// The log size after that block.
    pub(crate) size: u64,
    /// Its log root there.
    pub(crate) log_root: Hash,
    /// Its state root there.
    pub(crate) state_root: Hash,
    /// The newest size whose cosignature this node accepted from it.
    pub(crate) last_cosigned_size: u64,
    /// The timestamp of its newest record.
    pub(crate) last_seen: u64,
    /// Whether it cosigned roots this node does not compute.
    pub(crate) diverged: bool,
}

/// Two sides of one height.
#[derive(Clone, Debug)]
pub(crate) struct Divergence {
    /// The height.
    pub(crate) height: u64,
    /// The log size after it (this node's).
    pub(crate) size: u64,
    /// The first log index of that block's transactions.
    pub(crate) first_entry: u64,
    /// This node's log and state roots.
    pub(crate) ours: (Hash, Hash),
    /// The other side's log and state roots.
    pub(crate) theirs: (Hash, Hash),
    /// The nodes that cosigned this node's roots.
    pub(crate) agreeing: Vec<String>,
    /// The nodes that cosigned the other roots.
    pub(crate) disagreeing: Vec<String>,
    /// When it was detected (POSIX seconds).
    pub(crate) detected: u64,
}

/// The cosignatures of one size that match this node's own root.
#[derive(Debug, Default)]
struct SizeEntry {
    /// Node address → (signature line with newline, timestamp).
    lines: BTreeMap<String, (String, u64)>,
}

/// Everything collected.
#[derive(Debug, Default)]
struct Book {
    sizes: BTreeMap<u64, SizeEntry>,
    nodes: BTreeMap<String, NodeView>,
    divergences: Vec<Divergence>,
    pending: BTreeMap<u64, Vec<CosignRecord>>,
    /// The largest size this node cosigned, with its root.
    last_cosigned: Option<(u64, Hash)>,
    /// The newest size that reached quorum.
    quorum_size: Option<u64>,
    /// Outside witnesses' cosignature lines, by size (the newest few).
    witnessed: BTreeMap<u64, String>,
}

/// How many sizes' witness cosignatures are kept (the newest).
const KEEP_WITNESSED: usize = 16;

/// A checkpoint with the cosignatures collected for it.
#[derive(Clone, Debug)]
pub(crate) struct QuorumCheckpoint {
    /// The checkpoint.
    pub(crate) checkpoint: Checkpoint,
    /// The signed note: this node's signature and every collected cosignature.
    pub(crate) note: String,
    /// The addresses of the consortium nodes whose cosignatures it carries.
    pub(crate) cosigners: Vec<String>,
    /// Whether they reach the consortium's quorum.
    pub(crate) final_: bool,
}

/// The agreement of the consortium as this node sees it.
#[derive(Clone, Debug)]
pub(crate) struct Agreement {
    /// The genesis quorum k.
    pub(crate) quorum: usize,
    /// The consortium's nodes: address → (organisation, cosigner verifier key).
    pub(crate) members: BTreeMap<String, (String, String)>,
    /// The newest size a quorum cosigned.
    pub(crate) quorum_size: Option<u64>,
    /// What each node last said.
    pub(crate) nodes: BTreeMap<String, NodeView>,
    /// The divergences seen, oldest first.
    pub(crate) divergences: Vec<Divergence>,
}

/// The node's cosigning: shared by the loop, the cosign-topic reader and the services.
#[derive(Clone)]
pub(crate) struct Cosigning {
    node: Node,
    signer: Arc<CosignatureSigner>,
    book: Arc<Mutex<Book>>,
    /// Where the largest cosigned checkpoint is kept, if anywhere.
    cosigned: Option<Arc<PathBuf>>,
}

impl std::fmt::Debug for Cosigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cosigning").field("name", &self.signer.name()).finish_non_exhaustive()
    }
}

/// The cosigner key name of a node: its address.
pub(crate) fn cosigner_name(address: &Address) -> String {
    address.to_string()
}

/// The consortium's nodes: registered, unrevoked identities with the role `node`.
fn members(ledger: &Ledger) -> BTreeMap<String, (String, [u8; 32])> {
    ledger
        .active_nodes()
        .map(|identity| {
            (
                identity.address.to_string(),
                (identity.organisation.clone(), identity.signing_public_key),
            )
        })
        .collect()
}

/// The block after which the log has `size` entries, if one ends there.
fn block_at_size(ledger: &Ledger, size: u64) -> Option<&anchor_chaincode::Block> {
    let (mut low, mut high) = (0, ledger.height());
    while low < high {
        let middle = low + (high - low) / 2;
        let block = ledger.block(middle)?;
        if block.header.log_size < size {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    ledger.block(low).filter(|block| block.header.log_size == size)
}

fn now_seconds() -> u64 {
    crate::clock::now_ms() / 1000
}

fn lock(book: &Mutex<Book>) -> MutexGuard<'_, Book> {
    // Every change to the book is one insert or one push: a panic while it
    // was held leaves nothing half-written.
    book.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cosigning {
    /// The cosigning of `node`, with its own key. With `cosigned` (a file in
    /// the data directory), the largest checkpoint this node cosigned is kept
    /// there across restarts, and a ledger log that is not consistent with it
    /// (cut short, or holding another root at that size) is refused here:
    /// the node stops rather than serve a fork.
    pub(crate) fn new(node: Node, cosigned: Option<PathBuf>) -> anyhow::Result<Cosigning> {
        let name = cosigner_name(&node.key().address());
        let signer = CosignatureSigner::new(&name, *node.key().signing_key().as_bytes())?;
        let mut book = Book::default();
        if let Some(path) = &cosigned
            && let Some(last) = Cosigned::load(path)?
        {
            book.last_cosigned = Some(last.check(&node.ledger(), path)?);
        }
        Ok(Cosigning {
            node,
            signer: Arc::new(signer),
            book: Arc::new(Mutex::new(book)),
            cosigned: cosigned.map(Arc::new),
        })
    }

    /// This node's cosigner verifier key (`cosignature/v1`, type 0x04).
    pub(crate) fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// Cosigns what there is to cosign now: the newest block, and every size
    /// newer than the last quorum that another node cosigned with the root
    /// this node computed. Answers the records to publish; they are already
    /// in this node's book.
    pub(crate) fn cosign_due(&self) -> anyhow::Result<Vec<CosignRecord>> {
        let ledger = self.node.ledger();
        let own = self.node.key().address().to_string();
        let mut due: BTreeSet<u64> = BTreeSet::new();
        {
            let book = lock(&self.book);
            let newest = ledger.head().header.log_size;
            if newest > 0 && book.last_cosigned.is_none_or(|(size, _)| size < newest) {
                let _ = due.insert(newest);
            }
            // Echo what others cosigned above the last quorum, up to what this
            // node holds (an empty range when the quorum is at or above it).
            let floor = book.quorum_size.unwrap_or(0);
            let echo = book
                .sizes
                .range(floor.saturating_add(1)..)
                .take_while(|(size, _)| **size <= newest);
            for (size, entry) in echo {
                if !entry.lines.contains_key(&own) {
                    let _ = due.insert(*size);
                }
            }
        }
        let mut records = Vec::new();
        for size in due {
            let Some(block) = block_at_size(&ledger, size) else { continue };
            let header = block.header.clone();
            self.check_consistency(&ledger, size, &header.log_root)?;
            let checkpoint = ledger.checkpoint(size)?;
            let timestamp = now_seconds();
            let line = self.signer.cosign(&checkpoint, timestamp)?;
            let mut record = CosignRecord {
                node: own.clone(),
                height: header.number,
                size,
                log_root: hex::encode(header.log_root),
                state_root: hex::encode(header.state_root),
                timestamp,
                cosignature: line.trim_end_matches('\n').to_owned(),
                signature: String::new(),
            };
            record.signature = hex::encode(<[u8; 64]>::from(
                self.node.key().signing_key().sign(record.signed_text().as_bytes()),
            ));
            {
                let mut book = lock(&self.book);
                if book.last_cosigned.is_none_or(|(last, _)| last < size) {
                    book.last_cosigned = Some((size, header.log_root));
                }
            }
            self.receive_checked(&ledger, record.clone())?;
            records.push(record);
        }
        drop(ledger);
        // Kept before anything is published: a node that crashes after
        // publishing a cosignature still knows, once restarted, what it signed.
        let largest = lock(&self.book).last_cosigned.map(|(size, _)| size);
        let newest = records.iter().find(|record| Some(record.size) == largest);
        if let (Some(path), Some(record)) = (&self.cosigned, newest) {
            Cosigned {
                size: record.size,
                height: record.height,
                log_root: record.log_root.clone(),
            }
            .store(path)?;
        }
        self.retry_pending();
        Ok(records)
    }

    /// Checks that the log at `size` with `root` extends, or is extended by,
    /// the largest checkpoint this node cosigned; refuses to cosign otherwise.
    fn check_consistency(&self, ledger: &Ledger, size: u64, root: &Hash) -> anyhow::Result<()> {
        let Some((last, last_root)) = lock(&self.book).last_cosigned else { return Ok(()) };
        let (old, new, old_root, new_root) = if last <= size {
            (last, size, last_root, *root)
        } else {
            (size, last, *root, last_root)
        };
        let proof = ledger.merkle_log().consistency_proof(old, new)?;
        merkle::verify_consistency(old, new, &old_root, &new_root, &proof).map_err(|e| {
            tracing::error!(
                old_size = old,
                new_size = new,
                "DIVERGENCE: this node's own log is not consistent with the checkpoint it cosigned; it refuses to cosign"
            );
            format_err!("the log at size {size} is not consistent with the cosigned size {last}: {e}")
        })
    }

    /// Takes a record from the cosign topic.
    #[cfg(feature = "kafka")]
    pub(crate) fn receive(&self, record: CosignRecord) {
        let ledger = self.node.ledger();
        if let Err(e) = self.receive_checked(&ledger, record) {
            tracing::warn!(error = %e, "cosign record ignored");
        }
    }

    fn retry_pending(&self) {
        let ledger = self.node.ledger();
        let size = ledger.head().header.log_size;
        let ready: Vec<CosignRecord> = {
            let mut book = lock(&self.book);
            let later = book.pending.split_off(&(size + 1));
            let ready = std::mem::replace(&mut book.pending, later);
            ready.into_values().flatten().collect()
        };
        for record in ready {
            if let Err(e) = self.receive_checked(&ledger, record) {
                tracing::warn!(error = %e, "cosign record ignored");
            }
        }
    }

    fn receive_checked(&self, ledger: &Ledger, record: CosignRecord) -> anyhow::Result<()> {
        let address: Address =
            record.node.parse().map_err(|e| format_err!("cosign record names no address: {e}"))?;
        let Some(identity) = ledger.identity(&address) else {
            bail!("cosign record from {address}, which is not a registered identity");
        };
        if identity.role != Role::Node || identity.revoked.is_some() {
            bail!("cosign record from {address}, which is not an unrevoked node identity");
        }
        let mut signature = [0u8; 64];
        hex::decode_to_slice(&record.signature, &mut signature)
            .context("cosign record signature is not 128 hex digits")?;
        VerificationKey::try_from(identity.signing_public_key)
            .and_then(|key| {
                key.verify(&Signature::from(signature), record.signed_text().as_bytes())
            })
            .map_err(|_| format_err!("cosign record from {address} has a bad signature"))?;
        let theirs = (parse_hash(&record.log_root)?, parse_hash(&record.state_root)?);
        let organisation = identity.organisation.clone();
        let public_key = identity.signing_public_key;
        if record.size > ledger.head().header.log_size {
            let mut book = lock(&self.book);
            if book.pending.values().map(Vec::len).sum::<usize>() < KEEP_PENDING {
                book.pending.entry(record.size).or_default().push(record);
            }
            return Ok(());
        }
        let ours = match ledger.block(record.height) {
            Some(block) if block.header.log_size == record.size => {
                Some((block.header.log_root, block.header.state_root))
            }
            _ => None,
        };
        if ours != Some(theirs) && record.node == own_address(&self.node) {
            own_fork(&record, ours);
        }
        let mut book = lock(&self.book);
        let view = book.nodes.entry(record.node.clone()).or_default();
        view.organisation = organisation;
        if record.height >= view.height {
            view.height = record.height;
            view.size = record.size;
            (view.log_root, view.state_root) = theirs;
            view.last_seen = view.last_seen.max(record.timestamp);
        }
        if ours != Some(theirs) {
            view.diverged = true;
            let ours = ours.unwrap_or_default();
            let first_entry = ledger
                .block(record.height)
                .map_or(0, |b| b.header.log_size - u64::from(b.header.tx_count));
            let agreeing: Vec<String> = book
                .sizes
                .get(&record.size)
                .map(|entry| entry.lines.keys().cloned().collect())
                .unwrap_or_default();
            tracing::error!(
                height = record.height,
                size = record.size,
                first_entry,
                node = %record.node,
                ours = %hex::encode(ours.0),
                theirs = %hex::encode(theirs.0),
                agreeing = ?agreeing,
                "DIVERGENCE: a node cosigned roots this node does not compute for the same height"
            );
            let known = book
                .divergences
                .iter_mut()
                .find(|d| d.height == record.height && d.theirs == theirs);
            match known {
                Some(divergence) => {
                    if !divergence.disagreeing.contains(&record.node) {
                        divergence.disagreeing.push(record.node.clone());
                    }
                }
                None => {
                    book.divergences.push(Divergence {
                        height: record.height,
                        size: record.size,
                        first_entry,
                        ours,
                        theirs,
                        agreeing,
                        disagreeing: vec![record.node.clone()],
                        detected: now_seconds(),
                    });
                    if book.divergences.len() > KEEP_DIVERGENCES {
                        let _ = book.divergences.remove(0);
                    }
                }
            }
            return Ok(());
        }
        // The roots are ours: the cosignature must be over our checkpoint.
        let checkpoint = ledger.checkpoint(record.size)?;
        let verifier = CosignatureVerifier::from_public_key(&record.node, public_key)?;
        let quorum = Quorum::new(vec![TrustedKey::Cosignature(verifier)], 1)?;
        let line = format!("{}\n", record.cosignature);
        let note = add_signatures(&self.node.signer().sign(&checkpoint), &line)?;
        let _ = open_checkpoint_with_quorum(&note, &quorum)
            .map_err(|e| format_err!("cosignature of {} does not verify: {e}", record.node))?;
        let view = book.nodes.entry(record.node.clone()).or_default();
        view.last_cosigned_size = view.last_cosigned_size.max(record.size);
        let _ = book
            .sizes
            .entry(record.size)
            .or_default()
            .lines
            .insert(record.node.clone(), (line, record.timestamp));
        for divergence in book.divergences.iter_mut().filter(|d| d.size == record.size) {
            if !divergence.agreeing.contains(&record.node) {
                divergence.agreeing.push(record.node.clone());
            }
        }
        let members = members(ledger);
        let k = ledger.consortium().quorum();
        let count =
            |entry: &SizeEntry| entry.lines.keys().filter(|n| members.contains_key(*n)).count();
        if book.sizes.get(&record.size).is_some_and(|entry| count(entry) >= k)
            && book.quorum_size.is_none_or(|size| size < record.size)
        {
            book.quorum_size = Some(record.size);
        }
        while book.sizes.len() > KEEP_SIZES {
            let Some(oldest) = book.sizes.keys().next().copied() else { break };
            if Some(oldest) == book.quorum_size {
                break;
            }
            let _ = book.sizes.remove(&oldest);
        }
        Ok(())
    }

    /// The newest checkpoint a quorum cosigned, or `None` yet.
    pub(crate) fn quorum_checkpoint(&self) -> anyhow::Result<Option<QuorumCheckpoint>> {
        let size = lock(&self.book).quorum_size;
        match size {
            Some(size) => self.checkpoint_at(size).map(Some),
            None => Ok(None),
        }
    }

    /// The checkpoint at `size` with every cosignature collected for it.
    pub(crate) fn checkpoint_at(&self, size: u64) -> anyhow::Result<QuorumCheckpoint> {
        let ledger = self.node.ledger();
        let checkpoint = ledger.checkpoint(size)?;
        let members = members(&ledger);
        let k = ledger.consortium().quorum();
        drop(ledger);
        let mut note = self.node.signer().sign(&checkpoint);
        let mut cosigners = Vec::new();
        {
            let book = lock(&self.book);
            if let Some(entry) = book.sizes.get(&size) {
                let lines: String = entry
                    .lines
                    .iter()
                    .filter(|(node, _)| members.contains_key(*node))
                    .map(|(node, (line, _))| {
                        cosigners.push(node.clone());
                        line.as_str()
                    })
                    .collect();
                if !lines.is_empty() {
                    note = add_signatures(&note, &lines)?;
                }
            }
            if let Some(lines) = book.witnessed.get(&size) {
                note = add_signatures(&note, lines)?;
            }
        }
        let final_ = cosigners.len() >= k;
        Ok(QuorumCheckpoint { checkpoint, note, cosigners, final_ })
    }

    /// The newest size a quorum cosigned, if any yet.
    pub(crate) fn quorum_size(&self) -> Option<u64> {
        lock(&self.book).quorum_size
    }

    /// Keeps an outside witness's cosignature `lines` of the checkpoint at
    /// `size`; they are added to that checkpoint's note from now on. A
    /// client checks them against its trusted keys like any cosignature.
    pub(crate) fn add_witnessed(&self, size: u64, lines: &str) {
        let mut book = lock(&self.book);
        let kept = book.witnessed.entry(size).or_default();
        for line in lines.lines().filter(|line| !line.is_empty()) {
            if !kept.lines().any(|known| known == line) {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        while book.witnessed.len() > KEEP_WITNESSED {
            let _ = book.witnessed.pop_first();
        }
    }

    /// A consistency proof between two sizes of this node's log.
    pub(crate) fn consistency_proof(&self, old: u64, new: u64) -> anyhow::Result<Vec<Hash>> {
        Ok(self.node.ledger().merkle_log().consistency_proof(old, new)?)
    }

    /// The agreement as this node sees it.
    pub(crate) fn agreement(&self) -> Agreement {
        let ledger = self.node.ledger();
        let members = members(&ledger)
            .into_iter()
            .map(|(address, (organisation, public_key))| {
                let vkey = address
                    .parse::<Address>()
                    .ok()
                    .and_then(|a| {
                        CosignatureVerifier::from_public_key(&cosigner_name(&a), public_key).ok()
                    })
                    .map(|v| v.vkey())
                    .unwrap_or_default();
                (address, (organisation, vkey))
            })
            .collect();
        let quorum = ledger.consortium().quorum();
        drop(ledger);
        let book = lock(&self.book);
        Agreement {
            quorum,
            members,
            quorum_size: book.quorum_size,
            nodes: book.nodes.clone(),
            divergences: book.divergences.clone(),
        }
    }
}

fn own_address(node: &Node) -> String {
    node.key().address().to_string()
}

/// This node's own key cosigned other roots for a height than the ones it
/// computes now (its earlier records on the cosign topic): its log differs
/// from the one it cosigned, and going on would sign two histories with one
/// key. It stops; a restart on the same log stops again.
fn own_fork(record: &CosignRecord, ours: Option<(Hash, Hash)>) -> ! {
    tracing::error!(
        height = record.height,
        size = record.size,
        cosigned = %record.log_root,
        now = ?ours.map(|(log_root, _)| hex::encode(log_root)),
        "DIVERGENCE: this node's own key cosigned another root for this height; its ledger log differs from the one it cosigned, and it stops rather than serve a fork"
    );
    std::process::exit(70)
}

pub(super) fn parse_hash(text: &str) -> anyhow::Result<Hash> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash)
        .context("a root in a cosign record is not 64 hex digits")?;
    Ok(hash)
}

/// How often a node looks for something to cosign.
pub(crate) const COSIGN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

impl Cosigning {
    /// Cosigns every [`COSIGN_INTERVAL`] until dropped, publishing on `topic`
    /// when the node shares a Kafka ledger. A failure is logged once until
    /// cosigning works again.
    pub(crate) async fn run(self, topic: Option<CosignTopic>) {
        let mut tick = tokio::time::interval(COSIGN_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let topic = topic.map(Arc::new);
        let mut warned = false;
        loop {
            let _ = tick.tick().await;
            let me = self.clone();
            let topic = topic.clone();
            let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
                let records = me.cosign_due()?;
                if let Some(topic) = topic {
                    topic.publish(&records)?;
                }
                Ok(records.len())
            })
            .await
            .map_err(|e| format_err!("the cosigning task failed: {e}"))
            .and_then(|outcome| outcome);
            match outcome {
                Ok(_) => warned = false,
                Err(e) if !warned => {
                    tracing::warn!(error = %e, "cosigning failed; retrying");
                    warned = true;
                }
                Err(_) => {}
            }
        }
    }
}
