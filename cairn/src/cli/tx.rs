//! `cairn tx` and `cairn block`: transactions and blocks by id and number.

use std::path::PathBuf;

use access_control::keys::KeyPair;
use anyhow::Context;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::Subcommand;

use super::rpc::{code_name, connect, connect_maybe_as, node_info, status};
use super::{NodeArgs, print};

#[derive(Subcommand, Debug)]
pub(crate) enum TxCommand {
    /// Show a transaction: block, validation code, creator, type, submitter's time, payload, response.
    Show {
        /// The transaction id (64 hex digits).
        tx_id: String,
        /// Your key file: sign the request, to see a sharing rule's list if you may.
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
}

pub(crate) async fn tx(command: TxCommand) -> anyhow::Result<()> {
    let TxCommand::Show { tx_id, key, node } = command;
    let key = key.as_deref().map(KeyPair::load).transpose()?;
    let mut client = connect_maybe_as::<LedgerClient<_>>(&node, key.as_ref()).await?;
    let request = pb::GetTransactionRequest { tx_id };
    let details = client.get_transaction(request).await.map_err(status)?.into_inner();
    let payload: serde_json::Value =
        serde_json::from_str(&details.payload_json).unwrap_or_default();
    let response: serde_json::Value =
        serde_json::from_str(&details.response_json).unwrap_or_default();
    let time = crate::clock::rfc3339(details.timestamp_ms);
    let view = serde_json::json!({
        "tx_id": details.tx_id,
        "block": details.block_number,
        "index_in_block": details.index_in_block,
        "leaf_index": details.leaf_index,
        "validation_code": code_name(details.validation_code),
        "message": details.message,
        "creator": details.creator_address,
        "type": details.tx_type,
        "submitter_time": time.to_string(),
        "timestamp_ms": details.timestamp_ms,
        "payload": payload,
        "response": response,
    });
    print(node.json, &view, || {
        format!(
            "tx             {}\nblock          {} (index {}, leaf {})\nresult         {}{}\ncreator        {}\ntype           {}\nsubmitter time {}\npayload        {}\nresponse       {}",
            details.tx_id,
            details.block_number,
            details.index_in_block,
            details.leaf_index,
            code_name(details.validation_code),
            if details.message.is_empty() {
                String::new()
            } else {
                format!(": {}", details.message)
            },
            details.creator_address,
            details.tx_type,
            time,
            serde_json::to_string_pretty(&payload).unwrap_or_default(),
            if details.response_json.is_empty() {
                "-".to_string()
            } else {
                details.response_json.clone()
            },
        )
    });
    Ok(())
}

#[derive(Subcommand, Debug)]
pub(crate) enum BlockCommand {
    /// Show a block header.
    Show {
        /// Block number, or "latest".
        number: String,
        #[command(flatten)]
        node: NodeArgs,
    },
}

pub(crate) async fn block(command: BlockCommand) -> anyhow::Result<()> {
    let BlockCommand::Show { number, node } = command;
    let mut client = connect::<LedgerClient<_>>(&node).await?;
    let number = if number == "latest" {
        node_info(&mut client).await?.height.saturating_sub(1)
    } else {
        number
            .parse()
            .with_context(|| format!("block number {number:?} is not a number or \"latest\""))?
    };
    let header =
        client.get_block(pb::GetBlockRequest { number }).await.map_err(status)?.into_inner();
    let view = serde_json::json!({
        "number": header.number,
        "hash": hex::encode(&header.hash),
        "previous_hash": hex::encode(&header.previous_hash),
        "tx_root": hex::encode(&header.tx_root),
        "log_root": hex::encode(&header.log_root),
        "log_size": header.log_size,
        "state_root": hex::encode(&header.state_root),
        "log_offset": header.log_offset,
        "tx_count": header.tx_count,
    });
    print(node.json, &view, || {
        format!(
            "block          {}\nhash           {}\nprevious hash  {}\ntx root        {}\nlog root       {}\nlog size       {}\nstate root     {}\nlog offset     {}\ntransactions   {}",
            header.number,
            hex::encode(&header.hash),
            hex::encode(&header.previous_hash),
            hex::encode(&header.tx_root),
            hex::encode(&header.log_root),
            header.log_size,
            hex::encode(&header.state_root),
            header.log_offset,
            header.tx_count
        )
    });
    Ok(())
}
