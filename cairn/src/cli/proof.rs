//! Fetching proofs from a node, and verifying them offline: a proof file, a
//! signed checkpoint and a file of trusted verifier keys are all that
//! `cairn proof verify` reads; it talks to no node.
//!
//! Proof files are JSON:
//! - `{"kind": "cairn-inclusion-proof-v1", "tx_id", "leaf_index", "tree_size", "leaf" (base64), "hashes" (hex), "checkpoint" (signed note)}`;
//! - `{"kind": "cairn-consistency-proof-v1", "old_size", "new_size", "hashes" (hex), "old_checkpoint", "new_checkpoint"}`.

use std::path::{Path, PathBuf};

use anchor_chaincode::checkpoint::{self, Checkpoint};
use anchor_chaincode::ledger::parse_leaf;
use anchor_chaincode::merkle::{self, Hash};
use anchor_chaincode::tx::Transaction;
use anchor_chaincode::{TxId, ValidationCode};
use anyhow::{Context, bail, format_err};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_schemas::v1 as pb;
use clap::Subcommand;
use serde::{Deserialize, Serialize};

use crate::cli::NodeArgs;
use crate::cli::rpc::{connect, status};
use cairn_schemas::v1::ledger_client::LedgerClient;

const INCLUSION_KIND: &str = "cairn-inclusion-proof-v1";
const CONSISTENCY_KIND: &str = "cairn-consistency-proof-v1";
pub(crate) const AUDIT_KIND: &str = "cairn-audit-proof-v1";

#[derive(Subcommand, Debug)]
pub(crate) enum ProofCommand {
    /// Fetch the inclusion proof of a transaction into a file.
    Inclusion {
        /// The transaction id.
        tx_id: String,
        /// The proof file to write.
        #[arg(long)]
        out: PathBuf,
        /// Prove against this checkpoint's tree size instead of the current one.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Fetch the consistency proof from an older checkpoint to the current tree into a file.
    Consistency {
        /// The older signed checkpoint.
        #[arg(long)]
        from: PathBuf,
        /// The proof file to write.
        #[arg(long)]
        out: PathBuf,
        /// Also write the newer signed checkpoint here.
        #[arg(long)]
        checkpoint_out: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Verify a proof file offline against a signed checkpoint and trusted keys.
    Verify {
        /// The proof file.
        file: PathBuf,
        /// The signed checkpoint to verify against.
        #[arg(long)]
        checkpoint: PathBuf,
        /// Trusted checkpoint verifier keys, one per line.
        #[arg(long)]
        trusted_keys: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize, Deserialize)]
struct InclusionFile {
    kind: String,
    tx_id: String,
    leaf_index: u64,
    tree_size: u64,
    leaf: String,
    hashes: Vec<String>,
    checkpoint: String,
}

#[derive(Serialize, Deserialize)]
struct ConsistencyFile {
    kind: String,
    old_size: u64,
    new_size: u64,
    hashes: Vec<String>,
    old_checkpoint: String,
    new_checkpoint: String,
}

/// The proof that an access event was recorded: its inclusion in the
/// access-event log at an anchored size, and the anchoring transaction's
/// inclusion in the ledger at the checkpoint's size.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub(crate) struct AuditFile {
    pub(crate) kind: String,
    /// The encoded `cairn.v1.AccessEvent` (base64), the leaf of the access-event log.
    pub(crate) event: String,
    pub(crate) event_index: u64,
    pub(crate) event_tree_size: u64,
    pub(crate) event_hashes: Vec<String>,
    pub(crate) anchor_tx_id: String,
    pub(crate) anchor_leaf_index: u64,
    pub(crate) anchor_tree_size: u64,
    pub(crate) anchor_leaf: String,
    pub(crate) anchor_hashes: Vec<String>,
    /// The ledger checkpoint the anchor proof is for.
    pub(crate) checkpoint: String,
}

pub(crate) fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The checkpoint of a signed note, without checking its signatures (only to learn a size).
fn unverified_checkpoint(note: &str) -> anyhow::Result<Checkpoint> {
    let body_len = note
        .find("\n\n")
        .map(|i| i + 1)
        .ok_or_else(|| format_err!("not a signed note: no blank line"))?;
    Ok(Checkpoint::parse_body(&note[..body_len])?)
}

pub(crate) fn run(command: ProofCommand) -> anyhow::Result<()> {
    match command {
        ProofCommand::Inclusion { tx_id, out, checkpoint, node } => {
            crate::cli::run_async(async move {
                let tree_size = match &checkpoint {
                    Some(path) => {
                        unverified_checkpoint(&read(path)?)
                            .with_context(|| format!("{} is not a checkpoint", path.display()))?
                            .size
                    }
                    None => 0,
                };
                let mut client = connect::<LedgerClient<_>>(&node).await?;
                let response = client
                    .get_inclusion_proof(pb::GetInclusionProofRequest { tx_id, tree_size })
                    .await
                    .map_err(status)?
                    .into_inner();
                let proof = response.proof.ok_or_else(|| format_err!("the node sent no proof"))?;
                let file = InclusionFile {
                    kind: INCLUSION_KIND.into(),
                    tx_id: response.tx_id,
                    leaf_index: proof.leaf_index,
                    tree_size: proof.tree_size,
                    leaf: BASE64.encode(&proof.leaf),
                    hashes: proof.hashes.iter().map(hex::encode).collect(),
                    checkpoint: response.checkpoint.map(|c| c.signed_note).unwrap_or_default(),
                };
                write_json(&out, &file)?;
                let view = serde_json::json!({"out": out, "tx_id": file.tx_id, "leaf_index": file.leaf_index, "tree_size": file.tree_size});
                crate::cli::print(node.json, &view, || {
                    format!(
                        "wrote the inclusion proof of {} (leaf {} of {}) to {}",
                        file.tx_id,
                        file.leaf_index,
                        file.tree_size,
                        out.display()
                    )
                });
                Ok(())
            })
        }
        ProofCommand::Consistency { from, out, checkpoint_out, node } => {
            crate::cli::run_async(async move {
                let old_note = read(&from)?;
                let old = unverified_checkpoint(&old_note)
                    .with_context(|| format!("{} is not a checkpoint", from.display()))?;
                let mut client = connect::<LedgerClient<_>>(&node).await?;
                let response = client
                    .get_consistency_proof(pb::GetConsistencyProofRequest {
                        old_size: old.size,
                        new_size: 0,
                    })
                    .await
                    .map_err(status)?
                    .into_inner();
                let proof = response.proof.ok_or_else(|| format_err!("the node sent no proof"))?;
                let new_note = response.checkpoint.map(|c| c.signed_note).unwrap_or_default();
                if let Some(path) = &checkpoint_out {
                    std::fs::write(path, &new_note)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
                let file = ConsistencyFile {
                    kind: CONSISTENCY_KIND.into(),
                    old_size: proof.old_size,
                    new_size: proof.new_size,
                    hashes: proof.hashes.iter().map(hex::encode).collect(),
                    old_checkpoint: old_note,
                    new_checkpoint: new_note,
                };
                write_json(&out, &file)?;
                let view = serde_json::json!({"out": out, "old_size": file.old_size, "new_size": file.new_size});
                crate::cli::print(node.json, &view, || {
                    format!(
                        "wrote the consistency proof from {} to {} to {}",
                        file.old_size,
                        file.new_size,
                        out.display()
                    )
                });
                Ok(())
            })
        }
        ProofCommand::Verify { file, checkpoint, trusted_keys, json } => {
            verify(&file, &checkpoint, &trusted_keys, json)
        }
    }
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// One verification step and its result.
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

pub(crate) fn decode_hashes(hashes: &[String]) -> Result<Vec<Hash>, String> {
    hashes
        .iter()
        .enumerate()
        .map(|(idx, text)| {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(text, &mut hash)
                .map_err(|e| format!("proof hash {idx} is not 64 hex digits: {e}"))?;
            Ok(hash)
        })
        .collect()
}

/// Verifies a proof file; returns the checks and a summary of what was proved.
fn check_file(
    proof_text: &str,
    checkpoint_note: &str,
    trusted: &[checkpoint::NoteVerifier],
) -> (Vec<Check>, serde_json::Value) {
    let mut checks = Vec::new();
    let mut summary = serde_json::Value::Null;
    let checkpoint = match checkpoint::open_checkpoint(checkpoint_note, trusted) {
        Ok(checkpoint) => {
            checks.push(Check {
                name: "checkpoint signature",
                ok: true,
                detail: format!(
                    "{} at size {} signed by a trusted key",
                    checkpoint.origin, checkpoint.size
                ),
            });
            checkpoint
        }
        Err(e) => {
            checks.push(Check { name: "checkpoint signature", ok: false, detail: e.to_string() });
            return (checks, summary);
        }
    };
    let kind = serde_json::from_str::<serde_json::Value>(proof_text)
        .ok()
        .and_then(|v| v["kind"].as_str().map(str::to_string))
        .unwrap_or_default();
    match kind.as_str() {
        INCLUSION_KIND => {
            let file: InclusionFile = match serde_json::from_str(proof_text) {
                Ok(file) => file,
                Err(e) => {
                    checks.push(Check { name: "proof file", ok: false, detail: e.to_string() });
                    return (checks, summary);
                }
            };
            checks.push(Check {
                name: "tree size",
                ok: file.tree_size == checkpoint.size,
                detail: if file.tree_size == checkpoint.size {
                    format!("proof and checkpoint are both at size {}", file.tree_size)
                } else {
                    format!(
                        "proof is for tree size {} but the checkpoint is at size {}; fetch the proof with --checkpoint",
                        file.tree_size, checkpoint.size
                    )
                },
            });
            let leaf = match BASE64.decode(&file.leaf) {
                Ok(leaf) => leaf,
                Err(e) => {
                    checks.push(Check {
                        name: "leaf",
                        ok: false,
                        detail: format!("leaf is not base64: {e}"),
                    });
                    return (checks, summary);
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
                        ok: id_ok,
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
                    });
                    summary = serde_json::json!({
                        "tx_id": parsed.tx_id.to_string(),
                        "block": parsed.block_number,
                        "index_in_block": parsed.index,
                        "validation_code": parsed.code.as_str(),
                        "type": decoded.as_ref().map_or("", |t| t.body.type_name()),
                        "creator": decoded.as_ref().map(|t| t.creator_address().to_string()).unwrap_or_default(),
                        "valid": parsed.code == ValidationCode::Valid,
                    });
                }
                Err(e) => {
                    checks.push(Check { name: "leaf content", ok: false, detail: e.to_string() })
                }
            }
            let proof_result = decode_hashes(&file.hashes).and_then(|hashes| {
                merkle::verify_inclusion(
                    &merkle::leaf_hash(&leaf),
                    file.leaf_index,
                    file.tree_size,
                    &hashes,
                    &checkpoint.root,
                )
                .map_err(|e| e.to_string())
            });
            checks.push(Check {
                name: "inclusion proof",
                ok: proof_result.is_ok(),
                detail: match proof_result {
                    Ok(()) => format!(
                        "leaf {} is in the tree of size {} with the checkpoint's root",
                        file.leaf_index, file.tree_size
                    ),
                    Err(e) => e,
                },
            });
        }
        CONSISTENCY_KIND => {
            let file: ConsistencyFile = match serde_json::from_str(proof_text) {
                Ok(file) => file,
                Err(e) => {
                    checks.push(Check { name: "proof file", ok: false, detail: e.to_string() });
                    return (checks, summary);
                }
            };
            let old = match checkpoint::open_checkpoint(&file.old_checkpoint, trusted) {
                Ok(old) => old,
                Err(e) => {
                    checks.push(Check {
                        name: "old checkpoint signature",
                        ok: false,
                        detail: e.to_string(),
                    });
                    return (checks, summary);
                }
            };
            checks.push(Check {
                name: "old checkpoint signature",
                ok: old.origin == checkpoint.origin,
                detail: format!("{} at size {}", old.origin, old.size),
            });
            let sizes_ok = old.size == file.old_size && checkpoint.size == file.new_size;
            checks.push(Check {
                name: "tree sizes",
                ok: sizes_ok,
                detail: format!(
                    "proof {} → {}, checkpoints {} → {}",
                    file.old_size, file.new_size, old.size, checkpoint.size
                ),
            });
            let proof_result = decode_hashes(&file.hashes).and_then(|hashes| {
                merkle::verify_consistency(
                    old.size,
                    checkpoint.size,
                    &old.root,
                    &checkpoint.root,
                    &hashes,
                )
                .map_err(|e| e.to_string())
            });
            checks.push(Check {
                name: "consistency proof",
                ok: proof_result.is_ok(),
                detail: match proof_result {
                    Ok(()) => format!(
                        "the tree of size {} extends the tree of size {}",
                        checkpoint.size, old.size
                    ),
                    Err(e) => e,
                },
            });
            summary = serde_json::json!({"old_size": old.size, "new_size": checkpoint.size});
        }
        AUDIT_KIND => check_audit(proof_text, &checkpoint, trusted, &mut checks, &mut summary),
        other => checks.push(Check {
            name: "proof file",
            ok: false,
            detail: format!("kind {other:?} is not {INCLUSION_KIND:?} or {CONSISTENCY_KIND:?}"),
        }),
    }
    (checks, summary)
}

fn check_audit(
    proof_text: &str,
    checkpoint: &Checkpoint,
    trusted: &[checkpoint::NoteVerifier],
    checks: &mut Vec<Check>,
    summary: &mut serde_json::Value,
) {
    let file: AuditFile = match serde_json::from_str(proof_text) {
        Ok(file) => file,
        Err(e) => {
            checks.push(Check { name: "proof file", ok: false, detail: e.to_string() });
            return;
        }
    };
    check_audit_file(&file, checkpoint, trusted, checks, summary);
}

/// Checks an access event's proof against a checkpoint whose signature was
/// already checked; `summary` gets the anchor and the decoded event.
///
/// The anchoring transaction must have been made by a node key among the
/// `trusted` keys (those that sign checkpoints): anyone registered can anchor
/// a log of made-up events, and only a trusted node's anchor proves that an
/// event was logged. The event must carry its caller's evidence (see
/// [`asset_registry::billing::check_evidence`]), checked for the anchoring
/// node and the anchor's chain.
pub(crate) fn check_audit_file(
    file: &AuditFile,
    checkpoint: &Checkpoint,
    trusted: &[checkpoint::NoteVerifier],
    checks: &mut Vec<Check>,
    summary: &mut serde_json::Value,
) {
    checks.push(Check {
        name: "tree size",
        ok: file.anchor_tree_size == checkpoint.size,
        detail: format!(
            "anchor proof at ledger size {}, checkpoint at size {}",
            file.anchor_tree_size, checkpoint.size
        ),
    });
    let (Ok(anchor_leaf), Ok(event)) =
        (BASE64.decode(&file.anchor_leaf), BASE64.decode(&file.event))
    else {
        checks.push(Check {
            name: "proof file",
            ok: false,
            detail: "anchor_leaf or event is not base64".into(),
        });
        return;
    };
    // The anchoring transaction: valid, an AnchorAccessEvents of the size the event proof uses.
    let mut anchor_chain = None;
    let anchored_root = match parse_leaf(&anchor_leaf) {
        Err(e) => {
            checks.push(Check { name: "anchor transaction", ok: false, detail: e.to_string() });
            None
        }
        Ok(leaf) => match Transaction::decode(&leaf.envelope) {
            Ok(transaction) => match &transaction.body {
                anchor_chaincode::tx::TxBody::AnchorAccessEvents(anchor)
                    if leaf.code == ValidationCode::Valid
                        && anchor.tree_size == file.event_tree_size
                        && transaction.id == leaf.tx_id =>
                {
                    let creator = transaction.creator_address().to_string();
                    let trusted_node = trusted.iter().any(|k| k.public_key == transaction.creator);
                    checks.push(Check {
                        name: "anchor signer",
                        ok: trusted_node,
                        detail: if trusted_node {
                            format!("the anchor was made by {creator}, a trusted node key")
                        } else {
                            format!(
                                "the anchor was made by {creator}, whose key is not among the trusted node keys: only a log anchored by a trusted node proves an event"
                            )
                        },
                    });
                    anchor_chain = Some((transaction.chain_id.clone(), creator.clone()));
                    checks.push(Check {
                        name: "anchor transaction",
                        ok: true,
                        detail: format!(
                            "valid anchor {} in block {} by {creator}: access-event log size {}",
                            leaf.tx_id, leaf.block_number, anchor.tree_size
                        ),
                    });
                    *summary = serde_json::json!({
                        "anchor_tx_id": leaf.tx_id.to_string(),
                        "anchor_block": leaf.block_number,
                        "anchored_by": creator,
                    });
                    Some(anchor.root_hash)
                }
                _ => {
                    checks.push(Check {
                        name: "anchor transaction",
                        ok: false,
                        detail: format!(
                            "ledger leaf is not a valid anchor of an access-event log of size {} (code {})",
                            file.event_tree_size, leaf.code
                        ),
                    });
                    None
                }
            },
            Err(rejection) => {
                checks.push(Check {
                    name: "anchor transaction",
                    ok: false,
                    detail: rejection.message,
                });
                None
            }
        },
    };
    let anchor_result = decode_hashes(&file.anchor_hashes).and_then(|hashes| {
        merkle::verify_inclusion(
            &merkle::leaf_hash(&anchor_leaf),
            file.anchor_leaf_index,
            file.anchor_tree_size,
            &hashes,
            &checkpoint.root,
        )
        .map_err(|e| e.to_string())
    });
    checks.push(Check {
        name: "anchor in ledger",
        ok: anchor_result.is_ok(),
        detail: match anchor_result {
            Ok(()) => format!("anchor is leaf {} of the checkpoint's tree", file.anchor_leaf_index),
            Err(e) => e,
        },
    });
    let Some(root) = anchored_root else { return };
    let event_result = decode_hashes(&file.event_hashes).and_then(|hashes| {
        merkle::verify_inclusion(
            &merkle::leaf_hash(&event),
            file.event_index,
            file.event_tree_size,
            &hashes,
            &root,
        )
        .map_err(|e| e.to_string())
    });
    checks.push(Check {
        name: "event in anchored log",
        ok: event_result.is_ok(),
        detail: match event_result {
            Ok(()) => format!(
                "event is entry {} of the anchored access-event log of size {}",
                file.event_index, file.event_tree_size
            ),
            Err(e) => e,
        },
    });
    match asset_registry::audit::AccessEvent::decode(&event) {
        Ok(event) => {
            if let Some((chain_id, node)) = &anchor_chain {
                let evidence = asset_registry::billing::check_evidence(&event, chain_id, node);
                checks.push(Check {
                    name: "caller's request",
                    ok: evidence.is_ok(),
                    detail: match evidence {
                        Ok(()) if event.request.is_empty() => {
                            "the event carries no signed request (it is not billable)".into()
                        }
                        Ok(()) => {
                            format!("signed by {} for {} to {node}", event.identity, event.method)
                        }
                        Err(e) => e.to_string(),
                    },
                });
            }
            if let Some(object) = summary.as_object_mut() {
                let _ =
                    object.insert("event".into(), serde_json::to_value(&event).unwrap_or_default());
            }
        }
        Err(e) => checks.push(Check { name: "event content", ok: false, detail: e.to_string() }),
    }
}

fn verify(
    file: &Path,
    checkpoint_path: &Path,
    trusted_keys: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let trusted = checkpoint::parse_trusted_keys(&read(trusted_keys)?)
        .with_context(|| format!("{} is not a trusted-keys file", trusted_keys.display()))?;
    let (checks, summary) = check_file(&read(file)?, &read(checkpoint_path)?, &trusted);
    let valid = checks.iter().all(|c| c.ok);
    let view = serde_json::json!({
        "valid": valid,
        "checks": checks.iter().map(|c| serde_json::json!({"name": c.name, "ok": c.ok, "detail": c.detail})).collect::<Vec<_>>(),
        "proved": summary,
    });
    crate::cli::print(json, &view, || {
        let mut text = String::new();
        for check in &checks {
            text.push_str(&format!(
                "{:4}  {:26} {}\n",
                if check.ok { "pass" } else { "FAIL" },
                check.name,
                check.detail
            ));
        }
        if let Some(object) = summary.as_object() {
            for (key, value) in object {
                text.push_str(&format!("      {key:26} {}\n", crate::cli::plain(value)));
            }
        }
        text.trim_end().to_string()
    });
    if !valid {
        bail!("the proof does not verify");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(unverified_checkpoint("no blank line").is_err());
    }
}
