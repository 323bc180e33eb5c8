//! `cairn asset`: publish versions, set sharing rules, search, list and show assets.

use std::path::{Path, PathBuf};

use access_control::keys::KeyPair;
use anchor_chaincode::DataType;
use anchor_chaincode::tx::{self};
use anyhow::{Context, bail};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::Subcommand;
use sha2::{Digest, Sha256};

use super::rpc::{
    Transport, connect, connect_maybe_as, draft, node_info, status, submit_and_print,
};
use super::{NodeArgs, plain, print};

/// An asset from the ledger, read as `key`'s identity when given.
/// The client is signed (see [`super::rpc::connect_as`]) to see what a signer may see.
pub(crate) async fn fetch_asset(
    client: &mut LedgerClient<Transport>,
    asset_id: String,
) -> anyhow::Result<pb::Asset> {
    let request = pb::GetAssetRequest { asset_id };
    Ok(client.get_asset(request).await.map_err(status)?.into_inner())
}

#[derive(Subcommand, Debug)]
pub(crate) enum AssetCommand {
    /// Publish a version of an asset (header and content hash; the data stays off the ledger).
    Publish {
        /// The publisher's key file (a member of the owner organisation).
        #[arg(long)]
        key: PathBuf,
        /// The asset id.
        #[arg(long)]
        asset_id: String,
        /// The version; defaults to the latest version plus one.
        #[arg(long)]
        version: Option<u64>,
        /// structured or unstructured.
        #[arg(long, default_value = "unstructured")]
        data_type: DataType,
        /// A file whose SHA-256 becomes the content hash and whose length the size.
        #[arg(long, conflicts_with_all = ["content_hash", "size"])]
        file: Option<PathBuf>,
        /// The content hash (64 hex digits), when not given --file.
        #[arg(long, requires = "size")]
        content_hash: Option<String>,
        /// The size in bytes, when not given --file.
        #[arg(long)]
        size: Option<u64>,
        /// How the content hash was computed.
        #[arg(long, default_value = "sha256")]
        hash_algorithm: String,
        /// Header metadata as JSON.
        #[arg(long, default_value = "{}")]
        metadata: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Replace the list of identities allowed to read an asset (owner organisation only).
    Share {
        /// The owner's key file.
        #[arg(long)]
        key: PathBuf,
        /// The asset id.
        #[arg(long)]
        asset_id: String,
        /// An authorised identity's address; repeat for several, omit for none.
        #[arg(long = "authorise")]
        authorised: Vec<String>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// List the assets on the ledger: the shared-data directory.
    List {
        /// Only this organisation's assets.
        #[arg(long)]
        owner: Option<String>,
        /// Your key file: sign the request, to see the authorised lists you may see.
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Search the shared-data directory by words in names and descriptions.
    Search {
        /// Words to look for (empty: every asset).
        #[arg(default_value = "")]
        text: String,
        /// Only this organisation's assets.
        #[arg(long)]
        owner: Option<String>,
        /// Only structured or unstructured assets.
        #[arg(long = "type")]
        data_type: Option<DataType>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// The version history of an asset: hashes, sizes, rows; with the publisher's key, also sources and watermarks.
    History {
        /// The asset id.
        asset_id: String,
        /// The publisher's key file: opens the sealed part of each header (where the data came from, the watermark).
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Show an asset: owner, authorised list, versions.
    Show {
        /// The asset id.
        asset_id: String,
        /// Your key file: sign the request, to see the authorised list if you may
        /// (the owner organisation, a listed identity or an auditor).
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
}

fn file_digest(path: &Path) -> anyhow::Result<([u8; 32], u64)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        size += n as u64;
    }
    Ok((hasher.finalize().into(), size))
}

pub(crate) async fn run(command: AssetCommand) -> anyhow::Result<()> {
    match command {
        AssetCommand::Publish {
            key,
            asset_id,
            version,
            data_type,
            file,
            content_hash,
            size,
            hash_algorithm,
            metadata,
            node,
        } => {
            let pair = KeyPair::load(&key)?;
            let metadata_json: serde_json::Value =
                serde_json::from_str(&metadata).context("--metadata is not valid JSON")?;
            let (content_hash, size) = match (file, content_hash, size) {
                (Some(path), _, _) => file_digest(&path)?,
                (None, Some(hash), Some(size)) => {
                    let mut bytes = [0u8; 32];
                    hex::decode_to_slice(&hash, &mut bytes)
                        .context("--content-hash must be 64 hex digits")?;
                    (bytes, size)
                }
                _ => bail!("give --file, or --content-hash with --size"),
            };
            let mut client = connect::<LedgerClient<_>>(&node).await?;
            let info = node_info(&mut client).await?;
            let version = match version {
                Some(version) => version,
                None => match client
                    .get_asset(pb::GetAssetRequest { asset_id: asset_id.clone() })
                    .await
                {
                    Ok(asset) => asset.into_inner().versions.last().map_or(1, |v| v.version + 1),
                    Err(e) if e.code() == tonic::Code::NotFound => 1,
                    Err(e) => return Err(status(e)),
                },
            };
            let body = pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
                asset_id,
                version,
                data_type: tx::data_type_to_pb(data_type).into(),
                hash_algorithm,
                content_hash: content_hash.to_vec(),
                size_bytes: size,
                metadata: metadata_json.to_string().into_bytes(),
            });
            let envelope = tx::seal(
                draft(&info.chain_id, body)?.payload(&pair.signing_public_key()),
                pair.signing_key(),
                &[],
            );
            let _ = submit_and_print(&mut client, envelope, node.json).await?;
            Ok(())
        }
        AssetCommand::Share { key, asset_id, authorised, node } => {
            let pair = KeyPair::load(&key)?;
            let mut client = connect::<LedgerClient<_>>(&node).await?;
            let info = node_info(&mut client).await?;
            let body =
                pb::tx_payload::Body::SetSharingRules(pb::SetSharingRules { asset_id, authorised });
            let envelope = tx::seal(
                draft(&info.chain_id, body)?.payload(&pair.signing_public_key()),
                pair.signing_key(),
                &[],
            );
            let _ = submit_and_print(&mut client, envelope, node.json).await?;
            Ok(())
        }
        AssetCommand::Search { text, owner, data_type, limit, node } => {
            let mut client = connect::<LedgerClient<_>>(&node).await?;
            let found = client
                .search_assets(pb::SearchAssetsRequest {
                    text,
                    owner_organisation: owner.unwrap_or_default(),
                    data_type: data_type.map(|t| t.as_str().to_owned()).unwrap_or_default(),
                    limit,
                })
                .await
                .map_err(status)?
                .into_inner();
            let rows: Vec<serde_json::Value> = found
                .entries
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "asset_id": e.asset_id,
                        "name": e.name,
                        "description": e.description,
                        "owner_organisation": e.owner_organisation,
                        "owner_address": e.owner_address,
                        "data_type": e.data_type,
                        "latest_version": e.latest_version,
                        "authorised": e.authorised_count,
                        "rank": e.rank,
                    })
                })
                .collect();
            let view = serde_json::json!({ "source": found.source, "entries": rows });
            print(node.json, &view, || {
                let mut text =
                    format!("{:40} {:16} {:12} {:>7}  name\n", "asset", "owner", "type", "version");
                for row in &rows {
                    text.push_str(&format!(
                        "{:40} {:16} {:12} {:>7}  {}\n",
                        plain(&row["asset_id"]),
                        plain(&row["owner_organisation"]),
                        plain(&row["data_type"]),
                        plain(&row["latest_version"]),
                        plain(&row["name"])
                    ));
                }
                text.push_str(&format!("{} found (directory: {})", rows.len(), found.source));
                text
            });
            Ok(())
        }
        AssetCommand::List { owner, key, node } => {
            let key = key.as_deref().map(KeyPair::load).transpose()?;
            let mut client = connect_maybe_as::<LedgerClient<_>>(&node, key.as_ref()).await?;
            let request = pb::ListAssetsRequest { owner_organisation: owner.unwrap_or_default() };
            let assets = client.list_assets(request).await.map_err(status)?.into_inner().assets;
            let rows: Vec<serde_json::Value> = assets
                .iter()
                .map(|asset| {
                    let latest = asset.versions.last();
                    let header: serde_json::Value = latest
                        .and_then(|v| serde_json::from_slice(&v.metadata).ok())
                        .unwrap_or_default();
                    serde_json::json!({
                        "asset_id": asset.asset_id,
                        "name": header["name"],
                        "owner_organisation": asset.owner_organisation,
                        "latest_version": latest.map_or(0, |v| v.version),
                        "size_bytes": latest.map_or(0, |v| v.size_bytes),
                        "authorised": asset.authorised_count,
                    })
                })
                .collect();
            print(node.json, &serde_json::Value::Array(rows.clone()), || {
                let mut text = format!(
                    "{:40} {:16} {:>7} {:>14} {:>10}  name\n",
                    "asset", "owner", "version", "bytes", "authorised"
                );
                for row in &rows {
                    text.push_str(&format!(
                        "{:40} {:16} {:>7} {:>14} {:>10}  {}\n",
                        plain(&row["asset_id"]),
                        plain(&row["owner_organisation"]),
                        plain(&row["latest_version"]),
                        plain(&row["size_bytes"]),
                        plain(&row["authorised"]),
                        plain(&row["name"])
                    ));
                }
                text.trim_end().to_string()
            });
            Ok(())
        }
        AssetCommand::History { asset_id, key, node } => {
            let publisher = key.as_deref().map(KeyPair::load).transpose()?;
            let asset =
                fetch_asset(&mut connect_maybe_as(&node, publisher.as_ref()).await?, asset_id)
                    .await?;
            let rows: Vec<serde_json::Value> = asset
                .versions
                .iter()
                .map(|v| {
                    let header: serde_json::Value =
                        serde_json::from_slice(&v.metadata).unwrap_or_default();
                    // The source and the watermark are sealed to the publisher.
                    let sealed = publisher.as_ref().and_then(|publisher| {
                        ods_frontend::header::AssetHeader::from_bytes(&v.metadata)
                            .ok()?
                            .access
                            .open(publisher)
                            .ok()
                    });
                    serde_json::json!({
                        "version": v.version,
                        "block": v.block_number,
                        "tx_id": v.tx_id,
                        "content_hash": hex::encode(&v.content_hash),
                        "size_bytes": v.size_bytes,
                        "row_count": header["row_count"],
                        "chunk_count": header["chunk_count"],
                        "watermark": sealed.as_ref().map(|s| serde_json::json!(s.watermark)),
                        "source": sealed.as_ref().map(|s| s.source.clone()),
                        "synced_at_ms": header["synced_at_ms"],
                    })
                })
                .collect();
            print(node.json, &serde_json::Value::Array(rows.clone()), || {
                let mut text = String::new();
                for row in &rows {
                    text.push_str(&format!(
                        "version {}  block {}  {} bytes  rows {}  hash {}  watermark {}\n",
                        plain(&row["version"]),
                        plain(&row["block"]),
                        plain(&row["size_bytes"]),
                        plain(&row["row_count"]),
                        plain(&row["content_hash"]),
                        plain(&row["watermark"]["value"])
                    ));
                }
                if text.is_empty() { "no versions".into() } else { text.trim_end().to_string() }
            });
            Ok(())
        }
        AssetCommand::Show { asset_id, key, node } => {
            let key = key.as_deref().map(KeyPair::load).transpose()?;
            let asset =
                fetch_asset(&mut connect_maybe_as(&node, key.as_ref()).await?, asset_id).await?;
            let versions: Vec<serde_json::Value> = asset
                .versions
                .iter()
                .map(|v| {
                    serde_json::json!({
                        "version": v.version,
                        "data_type": pb::DataType::try_from(v.data_type).map_or("unknown".into(), |d| d.as_str_name().trim_start_matches("DATA_TYPE_").to_ascii_lowercase()),
                        "hash_algorithm": v.hash_algorithm,
                        "content_hash": hex::encode(&v.content_hash),
                        "size_bytes": v.size_bytes,
                        "metadata": serde_json::from_slice::<serde_json::Value>(&v.metadata).unwrap_or_default(),
                        "tx_id": v.tx_id,
                        "block": v.block_number,
                    })
                })
                .collect();
            let view = serde_json::json!({
                "asset_id": asset.asset_id,
                "owner_organisation": asset.owner_organisation,
                "owner_address": asset.owner_address,
                "authorised": if asset.authorised_hidden {
                    serde_json::json!(null)
                } else {
                    serde_json::json!(asset.authorised)
                },
                "authorised_count": asset.authorised_count,
                "versions": versions,
            });
            print(node.json, &view, || {
                let mut text = format!(
                    "asset       {}\nowner       {} ({})\nauthorised  {}\n",
                    asset.asset_id,
                    asset.owner_organisation,
                    asset.owner_address,
                    if asset.authorised_hidden {
                        format!(
                            "{} identities (the list is shown to the owner organisation, listed identities and auditors: give --key)",
                            asset.authorised_count
                        )
                    } else if asset.authorised.is_empty() {
                        "nobody".to_string()
                    } else {
                        asset.authorised.join(", ")
                    }
                );
                for v in &versions {
                    text.push_str(&format!(
                        "version {}  {}  {} {}  {} bytes  block {}\n",
                        v["version"],
                        v["data_type"],
                        v["hash_algorithm"],
                        v["content_hash"],
                        v["size_bytes"],
                        v["block"]
                    ));
                }
                text.trim_end().to_string()
            });
            Ok(())
        }
    }
}
