//! Proof files and their offline check against a signed ledger checkpoint.
//!
//! A proof file is JSON with a `kind`:
//! - [`InclusionFile`] (`cairn-inclusion-proof-v1`): a transaction's leaf in
//!   the ledger's Merkle log and its audit path;
//! - [`ConsistencyFile`] (`cairn-consistency-proof-v1`): that a newer ledger
//!   tree extends an older one;
//! - [`AuditFile`] (`cairn-audit-proof-v1`): an access event's inclusion in a
//!   node's access-event log at an anchored size, and the anchoring
//!   transaction's inclusion in the ledger.
//!
//! Hashes are lowercase hex, leaves and events base64 (standard alphabet, with
//! padding), checkpoints C2SP signed notes.

use anchor_chaincode::checkpoint::{Checkpoint, Quorum};
use anchor_chaincode::ledger::parse_leaf;
use anchor_chaincode::merkle;
use anchor_chaincode::tx::{Transaction, TxBody};
use anchor_chaincode::{TxId, ValidationCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::audit::AccessEvent;
use crate::verify::{Check, Error, Report, Result, decode_hashes, open_checkpoint};

/// The `kind` of an [`InclusionFile`].
pub const INCLUSION_KIND: &str = "cairn-inclusion-proof-v1";
/// The `kind` of a [`ConsistencyFile`].
pub const CONSISTENCY_KIND: &str = "cairn-consistency-proof-v1";
/// The `kind` of an [`AuditFile`].
pub const AUDIT_KIND: &str = "cairn-audit-proof-v1";

/// A transaction's inclusion in the ledger, written by `cairn proof inclusion`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct InclusionFile {
    /// [`INCLUSION_KIND`].
    pub kind: String,
    /// The transaction id (hex).
    pub tx_id: String,
    /// The leaf's index in the ledger's Merkle log.
    pub leaf_index: u64,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// The ledger leaf (base64): block, index, validation code, tx id, envelope.
    pub leaf: String,
    /// The audit path, leaf to root (hex).
    pub hashes: Vec<String>,
    /// The signed ledger checkpoint the node proved against.
    pub checkpoint: String,
}

/// That the ledger at `new_size` extends the ledger at `old_size`, written by
/// `cairn proof consistency`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyFile {
    /// [`CONSISTENCY_KIND`].
    pub kind: String,
    /// The older tree size.
    pub old_size: u64,
    /// The newer tree size.
    pub new_size: u64,
    /// The consistency proof (hex).
    pub hashes: Vec<String>,
    /// The signed checkpoint of the older tree.
    pub old_checkpoint: String,
    /// The signed checkpoint of the newer tree.
    pub new_checkpoint: String,
}

/// The proof that an access event was recorded: its inclusion in the
/// access-event log at an anchored size, and the anchoring transaction's
/// inclusion in the ledger at the checkpoint's size.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AuditFile {
    /// [`AUDIT_KIND`].
    pub kind: String,
    /// The encoded `cairn.v1.AccessEvent` (base64), the leaf of the access-event log.
    pub event: String,
    /// The event's index in the node's access-event log.
    pub event_index: u64,
    /// The access-event log's size the anchor states.
    pub event_tree_size: u64,
    /// The event's audit path in the access-event log (hex).
    pub event_hashes: Vec<String>,
    /// The anchoring transaction's id (hex).
    pub anchor_tx_id: String,
    /// The anchoring transaction's index in the ledger's Merkle log.
    pub anchor_leaf_index: u64,
    /// The ledger size the anchor's proof is for.
    pub anchor_tree_size: u64,
    /// The anchoring transaction's ledger leaf (base64).
    pub anchor_leaf: String,
    /// The anchor's audit path in the ledger (hex).
    pub anchor_hashes: Vec<String>,
    /// The ledger checkpoint the anchor proof is for.
    pub checkpoint: String,
}

/// A proof file of any kind.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofFile {
    /// A transaction's inclusion.
    Inclusion(InclusionFile),
    /// Two trees' consistency.
    Consistency(ConsistencyFile),
    /// An access event's inclusion under an anchor.
    Audit(AuditFile),
}

impl ProofFile {
    /// Reads a proof file, choosing its format by its `kind`.
    pub fn parse(text: &str) -> Result<ProofFile> {
        let kind = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v["kind"].as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(match kind.as_str() {
            INCLUSION_KIND => ProofFile::Inclusion(serde_json::from_str(text)?),
            CONSISTENCY_KIND => ProofFile::Consistency(serde_json::from_str(text)?),
            AUDIT_KIND => ProofFile::Audit(serde_json::from_str(text)?),
            _ => return Err(Error::UnknownKind { kind }),
        })
    }
}

/// What a proof file proves, once its checks ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Proved {
    /// The transaction in an [`InclusionFile`].
    Transaction {
        /// Its id.
        tx_id: String,
        /// Its block.
        block: u64,
        /// Its index in the block.
        index_in_block: u32,
        /// Its validation code, such as `VALID`.
        validation_code: String,
        /// Its type, empty when its envelope does not decode.
        #[serde(rename = "type")]
        tx_type: String,
        /// Its creator's address, empty when its envelope does not decode.
        creator: String,
        /// Whether the ledger recorded it as valid.
        valid: bool,
    },
    /// The two sizes of a [`ConsistencyFile`].
    Consistency {
        /// The older size.
        old_size: u64,
        /// The newer size.
        new_size: u64,
    },
    /// The anchor, and the event when it decodes, of an [`AuditFile`].
    AccessEvent {
        /// The anchoring transaction.
        anchor_tx_id: String,
        /// Its block.
        anchor_block: u64,
        /// The address of the node key that anchored the log.
        anchored_by: String,
        /// The event as logged.
        #[serde(skip_serializing_if = "Option::is_none")]
        event: Option<Box<AccessEvent>>,
    },
}

/// The checkpoint of a signed note, without checking its signatures: only to
/// learn a size to ask a node for.
pub fn unverified_checkpoint(note: &str) -> Result<Checkpoint> {
    let body_len = note.find("\n\n").map(|i| i + 1).ok_or(Error::NotANote)?;
    Ok(Checkpoint::parse_body(&note[..body_len])?)
}

/// Checks a proof file (its text, of any kind) against a signed ledger
/// checkpoint: the checkpoint's signatures by a `quorum` of trusted members
/// first, then the proof.
pub fn check_proof_file(proof_text: &str, checkpoint_note: &str, quorum: &Quorum) -> Report {
    let mut report = Report::default();
    let checkpoint = match open_checkpoint(checkpoint_note, quorum) {
        Ok((checkpoint, signatures)) => {
            report.checks.push(
                Check::pass(
                    "checkpoint signature",
                    format!("{} at size {} {signatures}", checkpoint.origin, checkpoint.size),
                )
                .with_signatures(signatures),
            );
            checkpoint
        }
        Err(e) => {
            report.checks.push(Check::fail("checkpoint signature", e.to_string()));
            return report;
        }
    };
    let file = match ProofFile::parse(proof_text) {
        Ok(file) => file,
        Err(e) => {
            report.checks.push(Check::fail("proof file", e.to_string()));
            return report;
        }
    };
    let checked = match &file {
        ProofFile::Inclusion(file) => check_inclusion(file, &checkpoint),
        ProofFile::Consistency(file) => check_consistency(file, &checkpoint, quorum),
        ProofFile::Audit(file) => check_audit_file(file, &checkpoint, quorum),
    };
    report.checks.extend(checked.checks);
    report.proved = checked.proved;
    report
}

/// Checks a transaction's inclusion against a checkpoint whose signature was
/// already checked.
pub fn check_inclusion(file: &InclusionFile, checkpoint: &Checkpoint) -> Report {
    let mut report = Report::default();
    let checks = &mut report.checks;
    checks.push(Check {
        name: "tree size",
        passed: file.tree_size == checkpoint.size,
        detail: if file.tree_size == checkpoint.size {
            format!("proof and checkpoint are both at size {}", file.tree_size)
        } else {
            format!(
                "proof is for tree size {} but the checkpoint is at size {}; fetch the proof with --checkpoint",
                file.tree_size, checkpoint.size
            )
        },
        signatures: None,
    });
    let leaf = match BASE64.decode(&file.leaf) {
        Ok(leaf) => leaf,
        Err(e) => {
            checks.push(Check::fail("leaf", format!("leaf is not base64: {e}")));
            return report;
        }
    };
    match parse_leaf(&leaf) {
        Ok(parsed) => {
            let claimed: Result<TxId, _> = file.tx_id.parse();
            let decoded = Transaction::decode(&parsed.envelope);
            let id_ok = claimed.as_ref().is_ok_and(|id| *id == parsed.tx_id)
                && match &decoded {
                    Ok(transaction) => transaction.id == parsed.tx_id,
                    Err(rejection) => rejection.id == parsed.tx_id,
                };
            checks.push(Check {
                name: "leaf content",
                passed: id_ok,
                detail: if id_ok {
                    format!(
                        "leaf holds transaction {} and its envelope hashes to that id",
                        parsed.tx_id
                    )
                } else {
                    format!(
                        "leaf holds transaction {} but the file names {}",
                        parsed.tx_id, file.tx_id
                    )
                },
                signatures: None,
            });
            report.proved = Some(Proved::Transaction {
                tx_id: parsed.tx_id.to_string(),
                block: parsed.block_number,
                index_in_block: parsed.index,
                validation_code: parsed.code.as_str().to_string(),
                tx_type: decoded.as_ref().map_or("", |t| t.body.type_name()).to_string(),
                creator: decoded
                    .as_ref()
                    .map(|t| t.creator_address().to_string())
                    .unwrap_or_default(),
                valid: parsed.code == ValidationCode::Valid,
            });
        }
        Err(e) => checks.push(Check::fail("leaf content", e)),
    }
    let proof_result =
        verify_inclusion(&leaf, file.leaf_index, file.tree_size, &file.hashes, &checkpoint.root);
    report.checks.push(Check::of(
        "inclusion proof",
        proof_result.map(|()| {
            format!(
                "leaf {} is in the tree of size {} with the checkpoint's root",
                file.leaf_index, file.tree_size
            )
        }),
    ));
    report
}

/// Checks that the tree of a checkpoint whose signature was already checked
/// extends the file's older checkpoint, which must be signed by the `quorum`
/// too and have the same origin.
pub fn check_consistency(
    file: &ConsistencyFile,
    checkpoint: &Checkpoint,
    quorum: &Quorum,
) -> Report {
    let mut report = Report::default();
    let (old, old_signatures) = match open_checkpoint(&file.old_checkpoint, quorum) {
        Ok(opened) => opened,
        Err(e) => {
            report.checks.push(Check::fail("old checkpoint signature", e.to_string()));
            return report;
        }
    };
    report.checks.push(Check {
        name: "old checkpoint signature",
        passed: old.origin == checkpoint.origin,
        detail: format!("{} at size {} {old_signatures}", old.origin, old.size),
        signatures: Some(old_signatures),
    });
    report.checks.push(Check {
        name: "tree sizes",
        passed: old.size == file.old_size && checkpoint.size == file.new_size,
        detail: format!(
            "proof {} → {}, checkpoints {} → {}",
            file.old_size, file.new_size, old.size, checkpoint.size
        ),
        signatures: None,
    });
    let proof_result = decode_hashes(&file.hashes).map_err(|e| e.to_string()).and_then(|hashes| {
        merkle::verify_consistency(old.size, checkpoint.size, &old.root, &checkpoint.root, &hashes)
            .map_err(|e| e.to_string())
    });
    report.checks.push(Check::of(
        "consistency proof",
        proof_result.map(|()| {
            format!("the tree of size {} extends the tree of size {}", checkpoint.size, old.size)
        }),
    ));
    report.proved = Some(Proved::Consistency { old_size: old.size, new_size: checkpoint.size });
    report
}

/// Checks an access event's proof against a checkpoint whose signature was
/// already checked; the report proves the anchor and the decoded event.
///
/// The anchoring transaction must have been made by a node key among the
/// `quorum`'s member keys (those that sign or cosign checkpoints): anyone registered can anchor
/// a log of made-up events, and only a trusted node's anchor proves that an
/// event was logged. The event must carry its caller's evidence (see
/// [`crate::billing::check_evidence`]), checked for the anchoring node and
/// the anchor's chain.
pub fn check_audit_file(file: &AuditFile, checkpoint: &Checkpoint, quorum: &Quorum) -> Report {
    let mut report = Report::default();
    report.checks.push(Check {
        name: "tree size",
        passed: file.anchor_tree_size == checkpoint.size,
        detail: format!(
            "anchor proof at ledger size {}, checkpoint at size {}",
            file.anchor_tree_size, checkpoint.size
        ),
        signatures: None,
    });
    let (Ok(anchor_leaf), Ok(event)) =
        (BASE64.decode(&file.anchor_leaf), BASE64.decode(&file.event))
    else {
        report.checks.push(Check::fail("proof file", "anchor_leaf or event is not base64"));
        return report;
    };
    let checks = &mut report.checks;
    // The anchoring transaction: valid, an AnchorAccessEvents of the size the event proof uses.
    let mut anchor_chain = None;
    let anchored_root = match parse_leaf(&anchor_leaf) {
        Err(e) => {
            checks.push(Check::fail("anchor transaction", e));
            None
        }
        Ok(leaf) => match Transaction::decode(&leaf.envelope) {
            Ok(transaction) => match &transaction.body {
                TxBody::AnchorAccessEvents(anchor)
                    if leaf.code == ValidationCode::Valid
                        && anchor.tree_size == file.event_tree_size
                        && transaction.id == leaf.tx_id =>
                {
                    let creator = transaction.creator_address().to_string();
                    let trusted_node = quorum.has_public_key(&transaction.creator);
                    checks.push(Check {
                        name: "anchor signer",
                        passed: trusted_node,
                        detail: if trusted_node {
                            format!("the anchor was made by {creator}, a trusted node key")
                        } else {
                            format!(
                                "the anchor was made by {creator}, whose key is not among the trusted node keys: only a log anchored by a trusted node proves an event"
                            )
                        },
                        signatures: None,
                    });
                    anchor_chain = Some((transaction.chain_id.clone(), creator.clone()));
                    checks.push(Check::pass(
                        "anchor transaction",
                        format!(
                            "valid anchor {} in block {} by {creator}: access-event log size {}",
                            leaf.tx_id, leaf.block_number, anchor.tree_size
                        ),
                    ));
                    report.proved = Some(Proved::AccessEvent {
                        anchor_tx_id: leaf.tx_id.to_string(),
                        anchor_block: leaf.block_number,
                        anchored_by: creator,
                        event: None,
                    });
                    Some(anchor.root_hash)
                }
                _ => {
                    checks.push(Check::fail(
                        "anchor transaction",
                        format!(
                            "ledger leaf is not a valid anchor of an access-event log of size {} (code {})",
                            file.event_tree_size, leaf.code
                        ),
                    ));
                    None
                }
            },
            Err(rejection) => {
                checks.push(Check::fail("anchor transaction", rejection.message));
                None
            }
        },
    };
    let anchor_result = verify_inclusion(
        &anchor_leaf,
        file.anchor_leaf_index,
        file.anchor_tree_size,
        &file.anchor_hashes,
        &checkpoint.root,
    );
    checks.push(Check::of(
        "anchor in ledger",
        anchor_result.map(|()| {
            format!("anchor is leaf {} of the checkpoint's tree", file.anchor_leaf_index)
        }),
    ));
    let Some(root) = anchored_root else { return report };
    let event_result =
        verify_inclusion(&event, file.event_index, file.event_tree_size, &file.event_hashes, &root);
    checks.push(Check::of(
        "event in anchored log",
        event_result.map(|()| {
            format!(
                "event is entry {} of the anchored access-event log of size {}",
                file.event_index, file.event_tree_size
            )
        }),
    ));
    match AccessEvent::decode(&event) {
        Ok(event) => {
            if let Some((chain_id, node)) = &anchor_chain {
                let evidence = crate::billing::check_evidence(&event, chain_id, node);
                checks.push(Check::of(
                    "caller's request",
                    evidence.map_err(|e| e.to_string()).map(|()| {
                        if event.request.is_empty() {
                            "the event carries no signed request (it is not billable)".into()
                        } else {
                            format!("signed by {} for {} to {node}", event.identity, event.method)
                        }
                    }),
                ));
            }
            if let Some(Proved::AccessEvent { event: proved, .. }) = &mut report.proved {
                *proved = Some(Box::new(event));
            }
        }
        Err(e) => checks.push(Check::fail("event content", e.to_string())),
    }
    report
}

/// Checks a leaf's audit path (hex hashes) to `root` in a tree of `tree_size`.
fn verify_inclusion(
    leaf: &[u8],
    leaf_index: u64,
    tree_size: u64,
    hashes: &[String],
    root: &merkle::Hash,
) -> std::result::Result<(), String> {
    let hashes = decode_hashes(hashes).map_err(|e| e.to_string())?;
    merkle::verify_inclusion(&merkle::leaf_hash(leaf), leaf_index, tree_size, &hashes, root)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_chaincode::checkpoint::{self, NoteVerifier};

    #[test]
    fn unverified_checkpoint_reads_the_size() {
        let signer = checkpoint::NoteSigner::new("example.org/log", [9; 32]).unwrap();
        let note = signer.sign(&Checkpoint {
            origin: "example.org/log".into(),
            size: 12,
            root: [1; 32],
            extensions: vec![],
        });
        assert_eq!(unverified_checkpoint(&note).unwrap().size, 12);
        assert!(matches!(unverified_checkpoint("no blank line"), Err(Error::NotANote)));
    }

    #[test]
    fn a_proof_file_of_another_kind_is_refused() {
        let error = ProofFile::parse(r#"{"kind": "cairn-other-v1"}"#).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"kind "cairn-other-v1" is not "cairn-inclusion-proof-v1" or "cairn-consistency-proof-v1""#
        );
        assert!(
            matches!(ProofFile::parse("{}"), Err(Error::UnknownKind { kind }) if kind.is_empty())
        );
    }

    #[test]
    fn a_checkpoint_signed_by_no_trusted_key_fails_first() {
        let signer = checkpoint::NoteSigner::new("example.org/log", [9; 32]).unwrap();
        let note = signer.sign(&Checkpoint {
            origin: "example.org/log".into(),
            size: 1,
            root: [1; 32],
            extensions: vec![],
        });
        let other = checkpoint::NoteSigner::new("example.org/log", [8; 32]).unwrap();
        let report = check_proof_file("{}", &note, &Quorum::single(other.verifier()));
        assert_eq!(report.checks.len(), 1);
        assert_eq!(report.checks[0].name, "checkpoint signature");
        assert!(!report.valid());
    }

    #[test]
    fn an_inclusion_file_is_checked_step_by_step_against_a_trusted_checkpoint() {
        let signer = checkpoint::NoteSigner::new("example.org/log", [9; 32]).unwrap();
        let trusted = Quorum::single(NoteVerifier::parse(&signer.verifier_key()).unwrap());
        let note = signer.sign(&Checkpoint {
            origin: "example.org/log".into(),
            size: 4,
            root: [1; 32],
            extensions: vec![],
        });
        let file = InclusionFile {
            kind: INCLUSION_KIND.into(),
            tx_id: String::new(),
            leaf_index: 0,
            tree_size: 3,
            leaf: "not base64!".into(),
            hashes: vec![],
            checkpoint: note.clone(),
        };
        let report = check_proof_file(&serde_json::to_string(&file).unwrap(), &note, &trusted);
        let outcome: Vec<_> = report.checks.iter().map(|c| (c.name, c.passed)).collect();
        assert_eq!(
            outcome,
            [("checkpoint signature", true), ("tree size", false), ("leaf", false)]
        );
        assert_eq!(report.proved, None);
    }
}
