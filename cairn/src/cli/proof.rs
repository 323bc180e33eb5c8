//! Fetching proofs from a node, and verifying them offline: a proof file, a
//! signed checkpoint and a file of trusted verifier keys are all that
//! `cairn proof verify` reads; it talks to no node.
//!
//! The file formats and their checks are the library's
//! ([`asset_registry::verify::proof`]); this module reads and writes the
//! files, asks the node, and prints.

use std::path::{Path, PathBuf};

use anchor_chaincode::checkpoint::Quorum;
use anyhow::{Context, bail, format_err};
use asset_registry::verify::proof::{
    CONSISTENCY_KIND, ConsistencyFile, INCLUSION_KIND, InclusionFile, check_proof_file,
    unverified_checkpoint,
};
use asset_registry::verify::{Check, Report};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_schemas::v1 as pb;
use clap::Subcommand;
use serde::Serialize;

use crate::cli::NodeArgs;
use crate::cli::rpc::{connect, status};
use cairn_schemas::v1::ledger_client::LedgerClient;

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
        #[arg(long, conflicts_with = "quorum")]
        checkpoint: Option<PathBuf>,
        /// Prove against the newest checkpoint a quorum of the consortium's nodes cosigned.
        #[arg(long)]
        quorum: bool,
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
        /// The quorum file: trusted verifier keys (note keys and cosigner
        /// keys), one per line, `#` comments, and an optional `quorum <k>`
        /// line (k = 1 without it).
        #[arg(long)]
        trusted_keys: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads a `--trusted-keys` quorum file: verifier keys, `#` comments and an
/// optional `quorum <k>` line; a plain list of keys is a quorum of 1.
pub(crate) fn read_quorum(path: &Path) -> anyhow::Result<Quorum> {
    Quorum::parse(&read(path)?)
        .with_context(|| format!("{} is not a trusted-keys (quorum) file", path.display()))
}

pub(crate) fn run(command: ProofCommand) -> anyhow::Result<()> {
    match command {
        ProofCommand::Inclusion { tx_id, out, checkpoint, quorum, node } => {
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
                    .get_inclusion_proof(pb::GetInclusionProofRequest { tx_id, tree_size, quorum })
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

fn verify(
    file: &Path,
    checkpoint_path: &Path,
    trusted_keys: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let quorum = read_quorum(trusted_keys)?;
    let report: Report = check_proof_file(&read(file)?, &read(checkpoint_path)?, &quorum);
    print_report(&report, json)?;
    if !report.valid() {
        bail!("the proof does not verify");
    }
    Ok(())
}

/// Prints a proof report: its checks, who signed the checkpoint, and what it
/// proves.
pub(crate) fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    let valid = report.valid();
    let checks = &report.checks;
    let summary = serde_json::to_value(&report.proved)?;
    let view = serde_json::json!({
        "valid": valid,
        "checks": checks_json(checks),
        "signed_by": report.signatures(),
        "proved": summary,
    });
    crate::cli::print(json, &view, || {
        let mut text = String::new();
        for check in checks {
            text.push_str(&format!(
                "{:4}  {:26} {}\n",
                if check.passed { "pass" } else { "FAIL" },
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
    Ok(())
}

/// Checks as the commands print them with `--json`: `name`, `ok`, `detail`,
/// and `signed_by` (quorum, members, signers with their cosignature times)
/// for a checkpoint check that passed.
pub(crate) fn checks_json(checks: &[Check]) -> Vec<serde_json::Value> {
    checks
        .iter()
        .map(|c| {
            let mut check = serde_json::json!({"name": c.name, "ok": c.passed, "detail": c.detail});
            if let Some(signatures) = &c.signatures {
                check["signed_by"] = serde_json::json!(signatures);
            }
            check
        })
        .collect()
}
