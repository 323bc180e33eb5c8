//! `cairn checkpoint` and `cairn node`: the signed checkpoint and what the node says of itself.

use std::path::PathBuf;

use anyhow::Context;
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
    /// The tree size; defaults to the current size.
    #[arg(long)]
    size: Option<u64>,
    #[command(flatten)]
    node: NodeArgs,
}

pub(crate) async fn checkpoint(args: CheckpointArgs) -> anyhow::Result<()> {
    let mut client = connect::<LedgerClient<_>>(&args.node).await?;
    let checkpoint = client
        .get_checkpoint(pb::GetCheckpointRequest { tree_size: args.size.unwrap_or(0) })
        .await
        .map_err(status)?
        .into_inner();
    if let Some(out) = &args.out {
        std::fs::write(out, &checkpoint.signed_note)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let view = serde_json::json!({
        "tree_size": checkpoint.tree_size,
        "root_hash": hex::encode(&checkpoint.root_hash),
        "signed_note": checkpoint.signed_note,
    });
    print(args.node.json, &view, || checkpoint.signed_note.trim_end().to_string());
    Ok(())
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
}

pub(crate) async fn run(command: NodeCommand) -> anyhow::Result<()> {
    let NodeCommand::Info { trusted_keys_out, issuers_out, node } = command;
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
    });
    print(node.json, &view, || {
        format!(
            "chain         {}\norigin        {}\nheight        {} blocks\ntransactions  {}\nstate root    {}\nverifier key  {}\nnode address  {}",
            info.chain_id,
            info.origin,
            info.height,
            info.tree_size,
            hex::encode(&info.state_root),
            info.verifier_key,
            info.node_address
        )
    });
    Ok(())
}
