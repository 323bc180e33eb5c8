//! The embedded node: the ledger log, the chaincode fold over it, group
//! commit of submissions and signed checkpoints.
//!
//! A submission is acknowledged only after the block holding it is durable in
//! the log (fsync) and applied. Submissions that arrive while a block is being
//! committed wait in a queue and go into the next block together, so one fsync
//! and one batch signature check serve many transactions.
//!
//! Before a submission is queued, [`Node::admit`] refuses what can never be
//! valid: an envelope that does not decode, names another chain, comes from an
//! unknown or revoked creator (except a `RegisterIdentity`, whose creator is
//! not registered yet by design) or carries a creator signature that does not
//! verify. Such envelopes never reach the log, so nobody can fill the ledger
//! with them. The chaincode still records them as invalid if they reach the
//! log some other way (another node, a topic writer).
//!
//! A block (one log record) holds at most [`NodeConfig::max_block_bytes`] of
//! envelopes, so it stays under the log's record limit: the embedded log's
//! [`connectors::log::MAX_RECORD_LEN`], or the Kafka topic's `max.message.bytes`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use access_control::verify::ParallelVerifier;
use anchor_chaincode::checkpoint::NoteSigner;
use anchor_chaincode::ledger::{self, Ledger};
use anchor_chaincode::sig::SignatureVerifier as _;
use anchor_chaincode::tx::{MAX_TX_BYTES, Transaction, TxBody};
use anchor_chaincode::{Receipt, TxId, ValidationCode};
use anyhow::{Context, bail, format_err};
use connectors::log::LedgerLog;
use tokio::sync::{mpsc, oneshot};

pub(crate) mod access_log;
pub(crate) mod access_relay;
pub(crate) mod anchor;
pub(crate) mod cosign;
pub(crate) mod demo;
pub(crate) mod gate;
mod leaves;
#[cfg(feature = "pg")]
pub(crate) mod notifier;
#[cfg(feature = "pg")]
pub(crate) mod project;
pub(crate) mod project_args;
pub(crate) mod reads;
pub(crate) mod scale;
pub(crate) mod witnessing;

/// The guard of a lock, or — if a thread panicked while holding it — what
/// `stop` does instead: a panic while applying a block may have left the
/// ledger half-applied, and serving that state would be worse than stopping.
/// The ledger is rebuilt from the log on restart.
pub(crate) fn unpoisoned<G>(result: std::sync::LockResult<G>, stop: impl FnOnce() -> G) -> G {
    result.unwrap_or_else(|_| stop())
}

/// Stops the process: a lock over the ledger or the meter was poisoned.
pub(crate) fn stop<G>() -> G {
    tracing::error!(
        "a thread panicked while it held the ledger or the meter; stopping rather than serve half-applied state (a restart replays the logs)"
    );
    std::process::exit(70)
}

/// How a node is set up.
#[derive(Clone, Debug)]
pub(crate) struct NodeConfig {
    /// Where the log and the node key live.
    pub(crate) data_dir: PathBuf,
    /// Most transactions in one block.
    pub(crate) max_block_txs: usize,
    /// Threads that check signatures.
    pub(crate) verify_threads: usize,
    /// Most envelope bytes in one block (Kafka brokers refuse large records).
    pub(crate) max_block_bytes: usize,
}

impl NodeConfig {
    /// Defaults for a data directory.
    pub(crate) fn new(data_dir: impl Into<PathBuf>) -> NodeConfig {
        NodeConfig {
            data_dir: data_dir.into(),
            max_block_txs: 4096,
            verify_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_block_bytes: EMBEDDED_MAX_BLOCK_BYTES,
        }
    }

    /// The ledger log file.
    pub(crate) fn log_path(&self) -> PathBuf {
        self.data_dir.join("ledger.log")
    }

    /// The node's checkpoint-signing key.
    pub(crate) fn node_key_path(&self) -> PathBuf {
        self.data_dir.join("node.key")
    }
}

/// The most envelope bytes of a block on the embedded log: a quarter of its
/// record limit, so a block of the largest envelopes always fits.
pub(crate) const EMBEDDED_MAX_BLOCK_BYTES: usize = connectors::log::MAX_RECORD_LEN / 4;

/// The bytes a block record spends on each envelope besides the envelope
/// itself (protobuf field tag and length), counted against the block limit.
pub(crate) const PER_ENVELOPE_OVERHEAD: usize = 16;

/// The block limit in effect: never below one envelope of the largest size,
/// so every admitted envelope fits in a block of its own.
fn effective_block_bytes(configured: usize) -> usize {
    configured.max(MAX_TX_BYTES + PER_ENVELOPE_OVERHEAD)
}

/// The answer to a submission.
#[derive(Clone, Debug)]
pub(crate) struct Submitted {
    /// The receipt of the transaction in its block.
    pub(crate) receipt: Receipt,
}

/// Why a submission was not accepted.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SubmitError {
    /// The envelope cannot be decoded, is too large or names another chain;
    /// nothing was logged.
    #[error("{0}")]
    Rejected(String),
    /// The creator is unknown or its signature does not verify; nothing was logged.
    #[error("{0}")]
    Unauthenticated(String),
    /// The creator was revoked; nothing was logged.
    #[error("{0}")]
    Revoked(String),
    /// The log failed; the transaction's fate is unknown.
    #[error("ledger log failure: {0}")]
    Log(String),
    /// The node is stopping.
    #[error("the node is shutting down")]
    ShuttingDown,
}

impl SubmitError {
    /// The `reason` label of `cairn_submissions_refused_total`.
    fn metric_reason(&self) -> &'static str {
        match self {
            SubmitError::Rejected(_) => "rejected",
            SubmitError::Unauthenticated(_) => "unauthenticated",
            SubmitError::Revoked(_) => "revoked",
            SubmitError::Log(_) => "log",
            SubmitError::ShuttingDown => "shutting_down",
        }
    }
}

struct Submission {
    envelope: Vec<u8>,
    reply: oneshot::Sender<Result<Submitted, SubmitError>>,
}

/// A running node.
#[derive(Clone)]
pub(crate) struct Node {
    ledger: Arc<RwLock<Ledger>>,
    log: Arc<dyn LedgerLog>,
    signer: Arc<NoteSigner>,
    key: Arc<access_control::keys::KeyPair>,
    queue: mpsc::Sender<Submission>,
    /// What the follower applied, when the node follows a shared log.
    applied: Option<Arc<Applied>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("log", &self.log)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// Loads the node key, creating it (mode 0600) on first start.
fn node_key(path: &Path) -> anyhow::Result<access_control::keys::KeyPair> {
    if path.exists() {
        Ok(access_control::keys::KeyPair::load(path)?)
    } else {
        let pair = access_control::keys::KeyPair::generate()?;
        pair.save(path)?;
        Ok(pair)
    }
}

impl Node {
    /// Opens (or creates, with `genesis`) the ledger in `config.data_dir` and
    /// rebuilds the state by replaying the log.
    pub(crate) fn open(config: &NodeConfig, genesis: Option<&[u8]>) -> anyhow::Result<Node> {
        // The log file lives in the data directory, which must exist before it opens.
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create data directory {}", config.data_dir.display())
        })?;
        let log: Arc<dyn LedgerLog> =
            Arc::new(connectors::log::EmbeddedLog::open(&config.log_path())?);
        Node::open_on(config, log, genesis, false)
    }

    /// Opens the ledger on `log`, which other nodes may append to as well when
    /// `follow` is set (a Kafka topic): then a follower thread applies every
    /// record in log order, and a submission is answered once the follower
    /// has applied the record that holds it.
    pub(crate) fn open_on(
        config: &NodeConfig,
        log: Arc<dyn LedgerLog>,
        genesis: Option<&[u8]>,
        follow: bool,
    ) -> anyhow::Result<Node> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create data directory {}", config.data_dir.display())
        })?;
        let where_ = format!("{log:?}");
        if log.next_offset() == 0 {
            let Some(genesis) = genesis else {
                bail!(
                    "{where_} holds no ledger yet: start with --genesis FILE (see `cairn genesis new`) or --demo"
                )
            };
            let _ = anchor_chaincode::genesis::Consortium::from_bytes(genesis)?;
            let record = ledger::genesis_record(
                &serde_json::from_slice(genesis)
                    .context("genesis configuration is not valid JSON")?,
            );
            // Two nodes starting on one empty topic may both append a genesis
            // record: the first one in the log wins, and the check below
            // refuses a node whose genesis lost.
            let _ = log.append(&[&record])?;
        }
        let first = log.read(0, 1)?;
        let genesis_record =
            first.first().ok_or_else(|| format_err!("the ledger log lost its genesis record"))?;
        let mut state = Ledger::from_genesis_record(0, &genesis_record.bytes)?;
        if let Some(genesis) = genesis {
            let given = anchor_chaincode::genesis::Consortium::from_bytes(genesis)?;
            if given.genesis != state.consortium().genesis {
                bail!(
                    "{where_} already holds chain {:?} with a different genesis configuration",
                    state.consortium().chain_id()
                );
            }
        }
        let verifier = ParallelVerifier { threads: config.verify_threads };
        let mut next = 1;
        loop {
            let records = log.read(next, 256)?;
            if records.is_empty() {
                break;
            }
            for record in records {
                let _ = state.apply_record_with(record.offset, &record.bytes, &verifier);
                next = record.offset + 1;
            }
        }
        tracing::info!(
            height = state.height(),
            state_root = %hex::encode(state.state_root()),
            "ledger replayed"
        );
        let key = node_key(&config.node_key_path())?;
        let signer = NoteSigner::new(&state.consortium().origin, *key.signing_key().as_bytes())?;
        let ledger = Arc::new(RwLock::new(state));
        let applied =
            follow.then(|| Arc::new(Applied { next: Mutex::new(next), changed: Condvar::new() }));
        let (queue, receiver) = mpsc::channel(65_536);
        let committer = Committer {
            ledger: ledger.clone(),
            log: log.clone(),
            verifier,
            max_block_txs: config.max_block_txs,
            max_block_bytes: effective_block_bytes(config.max_block_bytes),
            applied: applied.clone(),
        };
        if let Some(applied) = applied.clone() {
            let follower = Follower { ledger: ledger.clone(), log: log.clone(), verifier, applied };
            let _thread = std::thread::Builder::new()
                .name("cairn-follower".into())
                .spawn(move || follower.run())
                .context("cannot start the follower thread")?;
        }
        let _thread = std::thread::Builder::new()
            .name("cairn-committer".into())
            .spawn(move || committer.run(receiver))
            .context("cannot start the committer thread")?;
        Ok(Node { ledger, log, signer: Arc::new(signer), key: Arc::new(key), queue, applied })
    }

    /// The ledger log.
    #[cfg(any(test, feature = "pg"))]
    pub(crate) fn log(&self) -> &Arc<dyn LedgerLog> {
        &self.log
    }

    /// Read access to the ledger.
    pub(crate) fn ledger(&self) -> RwLockReadGuard<'_, Ledger> {
        unpoisoned(self.ledger.read(), stop)
    }

    /// The node's own key: it signs checkpoints and anchors the access-event log.
    pub(crate) fn key(&self) -> &access_control::keys::KeyPair {
        &self.key
    }

    /// The checkpoint signer.
    pub(crate) fn signer(&self) -> &NoteSigner {
        &self.signer
    }

    /// Refuses an envelope that can never be valid (see the module docs);
    /// answers the decoded transaction otherwise. Cheap checks come first, so
    /// a flood of garbage costs a decode and a map lookup, not a signature
    /// check.
    pub(crate) fn admit(&self, envelope: &[u8]) -> Result<Transaction, SubmitError> {
        let transaction = Transaction::decode(envelope).map_err(|rejection| {
            SubmitError::Rejected(format!("{}: {}", rejection.code, rejection.message))
        })?;
        let address = transaction.creator_address();
        {
            let ledger = self.ledger();
            let chain_id = ledger.consortium().chain_id();
            if transaction.chain_id != chain_id {
                return Err(SubmitError::Rejected(format!(
                    "{}: transaction is for chain {:?}, this is chain {chain_id:?}",
                    ValidationCode::WrongChain,
                    transaction.chain_id
                )));
            }
            let registers_itself = matches!(transaction.body, TxBody::RegisterIdentity(_));
            match ledger.identity(&address) {
                Some(identity) => {
                    if let Some(revocation) = &identity.revoked {
                        return Err(SubmitError::Revoked(format!(
                            "{}: creator {address} was revoked in block {}: {}",
                            ValidationCode::RevokedIdentity,
                            revocation.block_number,
                            revocation.reason
                        )));
                    }
                }
                None if registers_itself => {}
                None => {
                    return Err(SubmitError::Unauthenticated(format!(
                        "{}: creator {address} is not a registered identity",
                        ValidationCode::UnknownIdentity
                    )));
                }
            }
        }
        // The creator's signature is checked by the committer, in parallel
        // batches with the rest of its block, before anything is appended.
        Ok(transaction)
    }

    /// Submits an envelope; answers once its block is durable and applied.
    /// An envelope [`Node::admit`] refuses is answered at once and never logged.
    pub(crate) async fn submit(&self, envelope: Vec<u8>) -> Result<Submitted, SubmitError> {
        let metrics = crate::web::metrics::metrics();
        let started = std::time::Instant::now();
        let result = self.queued(envelope).await;
        match &result {
            Ok(_) => metrics.committed_after(started.elapsed()),
            Err(e) => metrics.refused(e.metric_reason()),
        }
        result
    }

    /// Admits an envelope and waits for the committer's answer.
    async fn queued(&self, envelope: Vec<u8>) -> Result<Submitted, SubmitError> {
        let _transaction = self.admit(&envelope)?;
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Submission { envelope, reply })
            .await
            .map_err(|_| SubmitError::ShuttingDown)?;
        crate::web::metrics::metrics().queued();
        answer.await.map_err(|_| SubmitError::ShuttingDown)?
    }

    /// How many log records the ledger has not applied yet: 0 for a node on
    /// its own embedded log, which applies each record as it appends it;
    /// for a node following a shared log, the records others appended that
    /// its follower has not applied (asks the log for its end).
    pub(crate) fn replica_lag(&self) -> u64 {
        match &self.applied {
            None => 0,
            Some(applied) => {
                let next = *applied.next.lock().unwrap_or_else(PoisonError::into_inner);
                self.log.next_offset().saturating_sub(next)
            }
        }
    }

    /// A signed checkpoint at `size` (0: the current size), as signed-note text.
    pub(crate) fn signed_checkpoint(
        &self,
        size: u64,
    ) -> anyhow::Result<(anchor_chaincode::checkpoint::Checkpoint, String)> {
        let ledger = self.ledger();
        let size = if size == 0 { ledger.merkle_log().size() } else { size };
        let checkpoint = ledger.checkpoint(size)?;
        let note = self.signer.sign(&checkpoint);
        Ok((checkpoint, note))
    }

    /// The envelope of a transaction, read back from the log.
    pub(crate) fn envelope(&self, tx_id: &TxId) -> anyhow::Result<Option<(Receipt, Vec<u8>)>> {
        let (receipt, offset) = {
            let ledger = self.ledger();
            let Some(receipt) = ledger.receipt(tx_id).cloned() else { return Ok(None) };
            let offset = ledger
                .block(receipt.block_number)
                .map(|b| b.header.log_offset)
                .ok_or_else(|| format_err!("block {} is missing", receipt.block_number))?;
            (receipt, offset)
        };
        let records = self.log.read(offset, 1)?;
        let record =
            records.first().ok_or_else(|| format_err!("log record {offset} is missing"))?;
        let envelopes =
            ledger::batch_envelopes(&record.bytes).unwrap_or_else(|| vec![record.bytes.clone()]);
        let envelope = envelopes.get(receipt.index as usize).cloned().ok_or_else(|| {
            format_err!("log record {offset} has no transaction {}", receipt.index)
        })?;
        Ok(Some((receipt, envelope)))
    }
}

/// The next log offset the follower will apply, and a signal when it moves.
struct Applied {
    next: Mutex<u64>,
    changed: Condvar,
}

/// How long a committer waits for the follower to apply its own record.
const APPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Applies every record of a shared log in order, whoever appended it.
struct Follower {
    ledger: Arc<RwLock<Ledger>>,
    log: Arc<dyn LedgerLog>,
    verifier: ParallelVerifier,
    applied: Arc<Applied>,
}

impl Follower {
    fn run(self) {
        let mut next = *self.applied.next.lock().unwrap_or_else(|p| p.into_inner());
        let mut failing = false;
        loop {
            match self.log.read_wait(next, 1024, Duration::from_millis(200)) {
                Ok(records) => {
                    if failing {
                        tracing::info!(offset = next, "reading the ledger log again");
                        failing = false;
                    }
                    if records.is_empty() {
                        continue;
                    }
                    {
                        let mut ledger = unpoisoned(self.ledger.write(), stop);
                        for record in &records {
                            if record.offset < next {
                                continue;
                            }
                            let block = ledger.apply_record_with(
                                record.offset,
                                &record.bytes,
                                &self.verifier,
                            );
                            crate::web::metrics::metrics().block_applied(block, record.bytes.len());
                            next = record.offset + 1;
                        }
                    }
                    *self.applied.next.lock().unwrap_or_else(|p| p.into_inner()) = next;
                    self.applied.changed.notify_all();
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, offset = next, "cannot read the ledger log; retrying");
                        failing = true;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
    }
}

/// The verdicts the committer computed for a record's signatures before
/// appending it, handed to the chaincode for that record, so that each
/// signature is checked once. They come from the same [`ParallelVerifier`]
/// over the same items ([`ledger::signature_items`]), so they are exactly the
/// verdicts the chaincode would compute; a call with another number of items
/// (which the chaincode never makes) is checked afresh.
struct Precomputed<'a> {
    verdicts: std::sync::Mutex<Option<Vec<bool>>>,
    fallback: &'a ParallelVerifier,
}

impl anchor_chaincode::sig::SignatureVerifier for Precomputed<'_> {
    fn verify(&self, items: Vec<anchor_chaincode::sig::Item>) -> Vec<bool> {
        let mut stored = self.verdicts.lock().unwrap_or_else(PoisonError::into_inner);
        match stored.take() {
            Some(verdicts) if verdicts.len() == items.len() => verdicts,
            _ => self.fallback.verify(items),
        }
    }
}

struct Committer {
    ledger: Arc<RwLock<Ledger>>,
    log: Arc<dyn LedgerLog>,
    verifier: ParallelVerifier,
    max_block_txs: usize,
    max_block_bytes: usize,
    applied: Option<Arc<Applied>>,
}

impl Committer {
    fn run(self, mut receiver: mpsc::Receiver<Submission>) {
        let mut carried: Option<Submission> = None;
        loop {
            let first = match carried.take() {
                Some(first) => first,
                None => match receiver.blocking_recv() {
                    Some(first) => first,
                    None => break,
                },
            };
            // Admitted envelopes are at most MAX_TX_BYTES, and the limit is
            // never below one of them, so the first always fits.
            let mut bytes = first.envelope.len().saturating_add(PER_ENVELOPE_OVERHEAD);
            let mut batch = vec![first];
            while batch.len() < self.max_block_txs {
                match receiver.try_recv() {
                    Ok(submission) => {
                        let more = submission.envelope.len().saturating_add(PER_ENVELOPE_OVERHEAD);
                        if bytes.saturating_add(more) > self.max_block_bytes {
                            carried = Some(submission);
                            break;
                        }
                        bytes += more;
                        batch.push(submission);
                    }
                    Err(_) => break,
                }
            }
            crate::web::metrics::metrics().dequeued(batch.len());
            self.commit(batch);
        }
        tracing::info!("committer stopped");
    }

    /// Checks every signature of the batch in one parallel call, answers the
    /// submissions whose creator signature does not verify (they are never
    /// logged), and returns the rest with the verdicts of their signatures,
    /// in the order the chaincode asks for them.
    fn admit_signatures(&self, batch: Vec<Submission>) -> (Vec<Submission>, Vec<bool>) {
        let decoded: Vec<Option<Transaction>> =
            batch.iter().map(|s| Transaction::decode(&s.envelope).ok()).collect();
        let verdicts = self.verifier.verify(ledger::signature_items(decoded.iter().flatten()));
        let mut verdicts = verdicts.into_iter();
        let mut kept = Vec::with_capacity(batch.len());
        let mut kept_verdicts = Vec::with_capacity(batch.len());
        for (submission, transaction) in batch.into_iter().zip(decoded) {
            let Some(transaction) = transaction else {
                // Admitted envelopes decode; the chaincode records one that does not.
                kept.push(submission);
                continue;
            };
            let creator_ok = verdicts.next().unwrap_or(false);
            let endorsements: Vec<bool> =
                transaction.endorsements.iter().map(|_| verdicts.next().unwrap_or(false)).collect();
            if creator_ok {
                kept_verdicts.push(true);
                kept_verdicts.extend(endorsements);
                kept.push(submission);
            } else {
                let _ = submission.reply.send(Err(SubmitError::Unauthenticated(format!(
                    "{}: creator signature does not verify for key {}",
                    ValidationCode::BadSignature,
                    hex::encode(transaction.creator)
                ))));
            }
        }
        (kept, kept_verdicts)
    }

    fn commit(&self, batch: Vec<Submission>) {
        let (batch, verdicts) = self.admit_signatures(batch);
        if batch.is_empty() {
            return;
        }
        let (envelopes, replies): (Vec<Vec<u8>>, Vec<_>) =
            batch.into_iter().map(|s| (s.envelope, s.reply)).unzip();
        let record = ledger::batch_record(envelopes);
        let offset = match self.log.append(&[&record]) {
            Ok(offset) => offset,
            Err(e) => {
                tracing::error!(error = %e, "ledger log append failed");
                for reply in replies {
                    let _ = reply.send(Err(SubmitError::Log(e.to_string())));
                }
                return;
            }
        };
        let receipts = match &self.applied {
            None => {
                let mut ledger = unpoisoned(self.ledger.write(), stop);
                let _span =
                    tracing::debug_span!("apply_block", offset, n_txs = replies.len()).entered();
                let verifier = Precomputed {
                    verdicts: std::sync::Mutex::new(Some(verdicts)),
                    fallback: &self.verifier,
                };
                let block = ledger.apply_record_with(offset, &record, &verifier);
                crate::web::metrics::metrics().block_applied(block, record.len());
                block.receipts.clone()
            }
            Some(applied) => match self.wait_applied(applied, offset) {
                Ok(receipts) => receipts,
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(SubmitError::Log(e.clone())));
                    }
                    return;
                }
            },
        };
        for (reply, receipt) in replies.into_iter().zip(receipts) {
            if receipt.code != ValidationCode::Valid {
                tracing::debug!(tx_id = %receipt.tx_id, code = %receipt.code, "transaction not valid");
            }
            let _ = reply.send(Ok(Submitted { receipt }));
        }
    }

    /// Waits until the follower applied the record at `offset`; answers its receipts.
    fn wait_applied(&self, applied: &Applied, offset: u64) -> Result<Vec<Receipt>, String> {
        let deadline = std::time::Instant::now() + APPLY_TIMEOUT;
        let mut next = applied.next.lock().unwrap_or_else(|p| p.into_inner());
        while *next <= offset {
            let wait = deadline.saturating_duration_since(std::time::Instant::now());
            if wait.is_zero() {
                return Err(format!(
                    "the block was appended at log offset {offset} but not applied within {APPLY_TIMEOUT:?}; its transactions may still commit"
                ));
            }
            next = applied.changed.wait_timeout(next, wait).unwrap_or_else(|p| p.into_inner()).0;
        }
        drop(next);
        let ledger = unpoisoned(self.ledger.read(), stop);
        block_at_offset(&ledger, offset)
            .map(|block| block.receipts.clone())
            .ok_or_else(|| format!("no block came from log offset {offset}"))
    }
}

/// The block that came from log record `offset`.
pub(crate) fn block_at_offset(
    ledger: &Ledger,
    offset: u64,
) -> Option<&anchor_chaincode::ledger::Block> {
    let mut number = offset.min(ledger.height().saturating_sub(1));
    loop {
        let block = ledger.block(number)?;
        match block.header.log_offset.cmp(&offset) {
            std::cmp::Ordering::Equal => return Some(block),
            std::cmp::Ordering::Less => return None,
            std::cmp::Ordering::Greater if number == 0 => return None,
            std::cmp::Ordering::Greater => number -= 1,
        }
    }
}

#[cfg(test)]
mod tests;
