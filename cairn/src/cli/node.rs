//! `cairn checkpoint` and `cairn node`: the signed checkpoint (or the newest
//! one a quorum of the consortium cosigned), what the node says of itself,
//! and the consortium's agreement as it sees it.

use std::path::PathBuf;

use anchor_chaincode::checkpoint::{
    Checkpoint, Quorum, add_signatures, open_checkpoint_with_quorum,
};
use anchor_chaincode::merkle;
use anyhow::{Context, bail};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::{Args, Subcommand};

use super::rpc::{connect, node_info, status};
use super::{NodeArgs, print};

#[derive(Args, Debug)]
pub(crate) struct CheckpointArgs {
    /// Write the signed checkpoint to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The tree size; defaults to the current size (with --quorum, the newest quorum size).
    #[arg(long)]
    size: Option<u64>,
    /// The newest checkpoint a quorum of the consortium's nodes cosigned.
    #[arg(long)]
    quorum: bool,
    /// Check the checkpoint's signatures against this trusted-keys file
    /// (verifier keys, one per line, and an optional `quorum K` line) and name the cosigners.
    #[arg(long, requires = "quorum")]
    trusted_keys: Option<PathBuf>,
    /// Keep the newest checkpoint accepted in this file, and refuse a new one
    /// that is not consistent with it (a node showing different histories to
    /// different clients, a split view, is caught here).
    #[arg(long, requires = "quorum")]
    remember: Option<PathBuf>,
    /// Also have the outside witness at this URL (`cairn witness serve`,
    /// C2SP tlog-witness) cosign the checkpoint, and add its cosignature.
    #[arg(long, requires = "quorum")]
    witness: Option<String>,
    #[command(flatten)]
    node: NodeArgs,
}

pub(crate) async fn checkpoint(args: CheckpointArgs) -> anyhow::Result<()> {
    let mut client = connect::<LedgerClient<_>>(&args.node).await?;
    let mut checkpoint = client
        .get_checkpoint(pb::GetCheckpointRequest {
            tree_size: args.size.unwrap_or(0),
            quorum: args.quorum,
        })
        .await
        .map_err(status)?
        .into_inner();
    if let Some(url) = &args.witness {
        let lines = witness_cosign(&mut client, url, &checkpoint).await?;
        checkpoint.signed_note = add_signatures(&checkpoint.signed_note, &lines)
            .context("the witness answered with malformed signature lines")?;
    }
    let signers = match &args.trusted_keys {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let quorum = Quorum::parse(&text)
                .with_context(|| format!("{} is not a trusted-keys file", path.display()))?;
            let opened = open_checkpoint_with_quorum(&checkpoint.signed_note, &quorum)
                .context("the node's quorum checkpoint does not verify with the trusted keys")?;
            Some(opened.signers.into_iter().map(|s| s.member).collect::<Vec<_>>())
        }
        None => None,
    };
    if let Some(path) = &args.remember {
        remember(&mut client, path, &checkpoint).await?;
    }
    if let Some(out) = &args.out {
        std::fs::write(out, &checkpoint.signed_note)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let view = serde_json::json!({
        "tree_size": checkpoint.tree_size,
        "root_hash": hex::encode(&checkpoint.root_hash),
        "signed_note": checkpoint.signed_note,
        "cosigners": checkpoint.cosigners,
        "quorum": checkpoint.quorum,
        "confirmed": checkpoint.confirmed,
        "verified_signers": signers,
    });
    print(args.node.json, &view, || {
        let mut text = checkpoint.signed_note.trim_end().to_string();
        if let Some(signers) = &signers {
            text.push_str(&format!(
                "\n\nverified: signed by {} trusted member(s): {}",
                signers.len(),
                signers.join(", ")
            ));
        }
        text
    });
    Ok(())
}

/// Submits `checkpoint` to the witness at `url` and returns its
/// cosignature lines, with the node's consistency proof from the size the
/// witness last cosigned when it asks for one.
async fn witness_cosign(
    client: &mut LedgerClient<super::rpc::Transport>,
    url: &str,
    checkpoint: &pb::Checkpoint,
) -> anyhow::Result<String> {
    use crate::witness::client::{Witnessed, add_checkpoint};
    let size = checkpoint.tree_size;
    let prove = |old: u64| async move {
        let proof = client
            .get_consistency_proof(pb::GetConsistencyProofRequest { old_size: old, new_size: size })
            .await
            .map_err(status)?
            .into_inner()
            .proof
            .ok_or_else(|| anyhow::format_err!("the node sent no consistency proof"))?;
        proof.hashes.iter().map(|h| to_hash(h)).collect::<anyhow::Result<Vec<_>>>()
    };
    match add_checkpoint(url, &checkpoint.signed_note, size, prove).await? {
        Witnessed::Cosigned(lines) => Ok(lines),
        Witnessed::Ahead(old) => bail!(
            "the witness at {url} already cosigned size {old}, newer than this checkpoint's {size}; ask again once the node's quorum checkpoint reaches it"
        ),
    }
}

/// Checks `checkpoint` against the one remembered in `path` (same size: the
/// same root; else a consistency proof from the smaller to the larger,
/// checked here), then remembers the larger.
async fn remember(
    client: &mut LedgerClient<super::rpc::Transport>,
    path: &std::path::Path,
    checkpoint: &pb::Checkpoint,
) -> anyhow::Result<()> {
    let new_root = to_hash(&checkpoint.root_hash)?;
    let old = match std::fs::read_to_string(path) {
        Ok(text) => Some(
            Checkpoint::parse_body(note_text(&text))
                .with_context(|| format!("{} holds no checkpoint", path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let keep_new = match &old {
        None => true,
        Some(old) if old.size == checkpoint.tree_size => {
            if old.root != new_root {
                bail!(
                    "SPLIT VIEW: the node's checkpoint at size {} has root {}, but {} holds root {} for the same size; the node shows different histories",
                    old.size,
                    hex::encode(new_root),
                    path.display(),
                    hex::encode(old.root)
                );
            }
            false
        }
        Some(old) => {
            let (small, large, small_root, large_root) = if old.size < checkpoint.tree_size {
                (old.size, checkpoint.tree_size, old.root, new_root)
            } else {
                (checkpoint.tree_size, old.size, new_root, old.root)
            };
            let proof = client
                .get_consistency_proof(pb::GetConsistencyProofRequest {
                    old_size: small,
                    new_size: large,
                })
                .await
                .map_err(status)?
                .into_inner()
                .proof
                .ok_or_else(|| anyhow::format_err!("the node sent no consistency proof"))?;
            let hashes =
                proof.hashes.iter().map(|h| to_hash(h)).collect::<anyhow::Result<Vec<_>>>()?;
            merkle::verify_consistency(small, large, &small_root, &large_root, &hashes).map_err(
                |e| {
                    anyhow::format_err!(
                        "SPLIT VIEW: the checkpoint at size {} is not consistent with the one at size {} in {}: {e}",
                        checkpoint.tree_size,
                        old.size,
                        path.display()
                    )
                },
            )?;
            old.size < checkpoint.tree_size
        }
    };
    if keep_new {
        std::fs::write(path, &checkpoint.signed_note)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The text of a signed note (up to its blank line).
fn note_text(note: &str) -> &str {
    note.rfind("\n\n").map_or(note, |end| &note[..=end])
}

fn to_hash(bytes: &[u8]) -> anyhow::Result<merkle::Hash> {
    bytes
        .try_into()
        .map_err(|_| anyhow::format_err!("the node sent a hash of {} bytes", bytes.len()))
}

#[derive(Subcommand, Debug)]
pub(crate) enum NodeCommand {
    /// Chain id, height, tree size, state root and the checkpoint verifier key.
    Info {
        /// Also write the verifier key to this file (a trusted-keys file for `cairn proof verify`).
        #[arg(long)]
        trusted_keys_out: Option<PathBuf>,
        /// Also write the chain's certificate types and their issuing
        /// organisations to this file (an issuers file for `cairn cert verify`).
        #[arg(long)]
        issuers_out: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The consortium as this node sees it: every node's newest cosigned
    /// block, roots and lag, the newest quorum checkpoint, and divergences.
    Agreement {
        /// Also write the consortium's cosigner keys and quorum to this file
        /// (a trusted-keys file for `--trusted-keys`). It is what this node
        /// says: compare it with another department's before trusting it.
        #[arg(long)]
        trusted_keys_out: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
}

pub(crate) async fn run(command: NodeCommand) -> anyhow::Result<()> {
    let (trusted_keys_out, issuers_out, node) = match command {
        NodeCommand::Info { trusted_keys_out, issuers_out, node } => {
            (trusted_keys_out, issuers_out, node)
        }
        NodeCommand::Agreement { trusted_keys_out, node } => {
            return agreement(trusted_keys_out, node).await;
        }
    };
    let mut client = connect::<LedgerClient<_>>(&node).await?;
    let info = node_info(&mut client).await?;
    if let Some(out) = &trusted_keys_out {
        std::fs::write(out, format!("{}\n", info.verifier_key))
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    if let Some(out) = &issuers_out {
        let issuers = crate::cli::cert::genesis_issuers(&info.genesis_json)?;
        let text = serde_json::to_string_pretty(&issuers)?;
        std::fs::write(out, format!("{text}\n"))
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let view = serde_json::json!({
        "chain_id": info.chain_id,
        "origin": info.origin,
        "height": info.height,
        "tree_size": info.tree_size,
        "state_root": hex::encode(&info.state_root),
        "verifier_key": info.verifier_key,
        "node_address": info.node_address,
        "cosigner_key": info.cosigner_key,
        "quorum": info.quorum,
    });
    print(node.json, &view, || {
        format!(
            "chain         {}\norigin        {}\nheight        {} blocks\ntransactions  {}\nstate root    {}\nverifier key  {}\nnode address  {}\ncosigner key  {}\nquorum        {} node cosignatures",
            info.chain_id,
            info.origin,
            info.height,
            info.tree_size,
            hex::encode(&info.state_root),
            info.verifier_key,
            info.node_address,
            info.cosigner_key,
            info.quorum
        )
    });
    Ok(())
}

async fn agreement(trusted_keys_out: Option<PathBuf>, node: NodeArgs) -> anyhow::Result<()> {
    let mut client = connect::<LedgerClient<_>>(&node).await?;
    let agreement =
        client.get_agreement(pb::GetAgreementRequest {}).await.map_err(status)?.into_inner();
    if let Some(out) = &trusted_keys_out {
        let mut text = format!(
            "# The consortium's node cosigner keys, as the node at {} sees them.\nquorum {}\n",
            node.node, agreement.quorum
        );
        for member in agreement.nodes.iter().filter(|n| n.member) {
            text.push_str(&format!("{}\n", member.cosigner_key));
        }
        std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    }
    let nodes: Vec<serde_json::Value> = agreement
        .nodes
        .iter()
        .map(|n| {
            serde_json::json!({
                "node_address": n.node_address,
                "organisation": n.organisation,
                "member": n.member,
                "height": n.height,
                "tree_size": n.tree_size,
                "log_root": hex::encode(&n.log_root),
                "state_root": hex::encode(&n.state_root),
                "last_cosigned_size": n.last_cosigned_size,
                "lag": n.lag,
                "last_seen_unix": n.last_seen_unix,
                "diverged": n.diverged,
            })
        })
        .collect();
    let divergences: Vec<serde_json::Value> = agreement
        .divergences
        .iter()
        .map(|d| {
            serde_json::json!({
                "height": d.height,
                "tree_size": d.tree_size,
                "transactions": [d.first_entry, d.tree_size],
                "our_log_root": hex::encode(&d.our_log_root),
                "their_log_root": hex::encode(&d.their_log_root),
                "our_state_root": hex::encode(&d.our_state_root),
                "their_state_root": hex::encode(&d.their_state_root),
                "agreeing": d.agreeing,
                "disagreeing": d.disagreeing,
                "detected_unix": d.detected_unix,
            })
        })
        .collect();
    let view = serde_json::json!({
        "quorum": agreement.quorum,
        "members": agreement.members,
        "quorum_size": agreement.quorum_size,
        "tree_size": agreement.tree_size,
        "confirmed": agreement.confirmed,
        "nodes": nodes,
        "divergences": divergences,
    });
    print(node.json, &view, || {
        let mut text = format!(
            "quorum {} of {} nodes; newest quorum checkpoint at size {} of {}{}\n",
            agreement.quorum,
            agreement.members,
            agreement.quorum_size,
            agreement.tree_size,
            if agreement.confirmed { "" } else { " (UNCONFIRMED)" }
        );
        for n in &agreement.nodes {
            text.push_str(&format!(
                "{} {:<12} height {:>6} size {:>8} cosigned {:>8} lag {:>6}{}{}\n",
                n.node_address,
                n.organisation,
                n.height,
                n.tree_size,
                n.last_cosigned_size,
                n.lag,
                if n.member { "" } else { " (not a member)" },
                if n.diverged { " DIVERGED" } else { "" }
            ));
        }
        for d in &agreement.divergences {
            text.push_str(&format!(
                "DIVERGENCE at height {} (transactions {}..{}): agreeing {:?}, disagreeing {:?}\n",
                d.height, d.first_entry, d.tree_size, d.agreeing, d.disagreeing
            ));
        }
        text.trim_end().to_string()
    });
    Ok(())
}
