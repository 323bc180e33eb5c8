//! `cairn witness`: a C2SP `tlog-witness` v1 server, so that a body outside
//! the consortium (an auditor's office, a court) can cosign the ledger's
//! checkpoints, and the client that asks it for a cosignature.
//!
//! A witness attests consistency only: that it never cosigned two
//! checkpoints of one log that are not consistent with each other. It knows
//! nothing of the transactions and says nothing of their validity.
//!
//! [`protocol`] is the pure request check; [`store`] keeps the records;
//! [`http`] serves and submits over HTTP/1.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use access_control::keys::KeyPair;
use anchor_chaincode::checkpoint::{CosignatureSigner, NoteVerifier};
use anyhow::Context;
use clap::Subcommand;

pub(crate) mod client;
pub(crate) mod http;
pub(crate) mod protocol;
pub(crate) mod store;

use protocol::{AddCheckpoint, Records, Witness};
use store::Store;

/// The witness's default cosigner name.
const DEFAULT_NAME: &str = "witness.cairn.local";

#[derive(Subcommand, Debug)]
pub(crate) enum WitnessCommand {
    /// Serve `POST /add-checkpoint` (C2SP tlog-witness v1).
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:7380")]
        listen: String,
        /// The witness's key file; created (mode 0600) if missing.
        #[arg(long)]
        key: PathBuf,
        /// The witness's cosigner name (in its signature lines).
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
        /// A log's note verifier key (`cairn node info` prints it); its name is
        /// the log's origin. Repeat for more logs or keys.
        #[arg(long = "log", required = true)]
        logs: Vec<String>,
        /// The directory that keeps the last cosigned size and root of each log.
        /// Losing it lets the witness be rolled back: retire the key instead.
        #[arg(long)]
        state_dir: PathBuf,
    },
    /// Print the witness's cosigner verifier key, creating the key file if missing.
    Key {
        /// The witness's key file.
        #[arg(long)]
        key: PathBuf,
        /// The witness's cosigner name.
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
    },
}

pub(crate) fn run(command: WitnessCommand) -> anyhow::Result<()> {
    match command {
        WitnessCommand::Key { key, name } => {
            println!("{}", signer(&key, &name)?.verifier_key());
            Ok(())
        }
        WitnessCommand::Serve { listen, key, name, logs, state_dir } => {
            let logs = logs
                .iter()
                .map(|vkey| {
                    NoteVerifier::parse(vkey)
                        .with_context(|| format!("--log {vkey:?} is not a note verifier key"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let service = Service::open(Witness::new(signer(&key, &name)?, logs), &state_dir)?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(http::serve(&listen, Arc::new(service)))
        }
    }
}

/// The witness's cosigner from its key file, made if missing.
fn signer(path: &Path, name: &str) -> anyhow::Result<CosignatureSigner> {
    let pair = if path.exists() {
        KeyPair::load(path)?
    } else {
        let pair = KeyPair::generate()?;
        pair.save(path)?;
        pair
    };
    CosignatureSigner::new(name, *pair.signing_key().as_bytes())
        .with_context(|| format!("{name:?} is not a valid cosigner name"))
}

/// The witness with its records: checks and persists under one lock, so two
/// requests cannot roll the record back.
#[derive(Debug)]
pub(crate) struct Service {
    witness: Witness,
    store: Store,
    records: Mutex<Records>,
}

/// An HTTP answer: status, content type and body.
pub(crate) type Answer = (u16, &'static str, String);

impl Service {
    /// The witness with the records kept in `state_dir`.
    pub(crate) fn open(witness: Witness, state_dir: &Path) -> anyhow::Result<Service> {
        let store = Store::open(state_dir)?;
        let records = Mutex::new(store.load()?);
        Ok(Service { witness, store, records })
    }

    /// The witness's cosigner verifier key.
    pub(crate) fn verifier_key(&self) -> String {
        self.witness.verifier_key()
    }

    /// Answers an `add-checkpoint` request body at `timestamp` (POSIX seconds).
    pub(crate) fn add_checkpoint(&self, body: &[u8], timestamp: u64) -> Answer {
        let refused = |refusal: protocol::Refusal| {
            let (content_type, text) = refusal.answer();
            (refusal.status(), content_type, text)
        };
        let request = match AddCheckpoint::parse(body) {
            Ok(request) => request,
            Err(refusal) => return refused(refusal),
        };
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let cosigned = match self.witness.add_checkpoint(&request, &records, timestamp) {
            Ok(cosigned) => cosigned,
            Err(refusal) => {
                if matches!(
                    refusal,
                    protocol::Refusal::RootMismatch { .. } | protocol::Refusal::Inconsistent(_)
                ) {
                    tracing::warn!(%refusal, note = %request.note, "refused a checkpoint the log signed");
                }
                return refused(refusal);
            }
        };
        let mut next = records.clone();
        let _ = next.insert(cosigned.origin.clone(), cosigned.record.clone());
        if let Err(e) = self.store.save(&next) {
            tracing::error!("cannot persist the witness state: {e:#}");
            return (500, "text/plain; charset=utf-8", "cannot persist the witness state\n".into());
        }
        *records = next;
        (200, "text/plain; charset=utf-8", cosigned.lines)
    }
}

#[cfg(test)]
mod tests {
    use anchor_chaincode::checkpoint::{Checkpoint, NoteSigner};
    use anchor_chaincode::merkle::{MerkleLog, leaf_hash};

    use super::*;

    #[test]
    fn a_restarted_witness_remembers_and_refuses_a_rollback() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log_key = NoteSigner::new("cairn.test/log", [1; 32]).expect("log key");
        let witness = || {
            let cosigner = CosignatureSigner::new("w.test", [2; 32]).expect("cosigner");
            Witness::new(cosigner, vec![log_key.verifier()])
        };
        let mut log = MerkleLog::new();
        for i in 0..8u64 {
            let _ = log.push(leaf_hash(&i.to_be_bytes()));
        }
        let note = |size| {
            log_key.sign(&Checkpoint {
                origin: "cairn.test/log".into(),
                size,
                root: log.root_at(size).expect("root"),
                extensions: vec![],
            })
        };
        let service = Service::open(witness(), dir.path()).expect("open");
        let body = AddCheckpoint { old_size: 0, proof: vec![], note: note(8) }.body();
        let (status, _, lines) = service.add_checkpoint(body.as_bytes(), 1);
        assert_eq!(status, 200, "{lines}");
        drop(service);

        let service = Service::open(witness(), dir.path()).expect("reopen");
        let body = AddCheckpoint { old_size: 0, proof: vec![], note: note(5) }.body();
        assert_eq!(
            service.add_checkpoint(body.as_bytes(), 2),
            (409, "text/x.tlog.size", "8\n".into())
        );
        let body = AddCheckpoint { old_size: 8, proof: vec![], note: note(5) }.body();
        assert_eq!(service.add_checkpoint(body.as_bytes(), 2).0, 400);
        let (status, _, _) = service.add_checkpoint(b"old x\n", 2);
        assert_eq!(status, 400);
    }
}
