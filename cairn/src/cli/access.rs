//! CLI commands of the signed `cairn.v1.Access` service: data requests,
//! hash verification, the audit log and audit proofs.

use std::path::PathBuf;

use access_control::keys::KeyPair;
use anyhow::{Context, bail, format_err};
use asset_registry::audit::Decision;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::access_client::AccessClient;
use clap::Subcommand;
use sha2::{Digest, Sha256};

use crate::cli::NodeArgs;
use crate::cli::plain;
use crate::cli::print;
use crate::cli::rpc::{connect, connect_as, status};
use crate::clock::now_ms;
use cairn_schemas::v1::ledger_client::LedgerClient;

#[derive(Subcommand, Debug)]
pub(crate) enum AccessCommand {
    /// Ask for an asset version's data (allowed for authorised identities only).
    Request {
        /// The asset id.
        asset_id: String,
        /// The version; defaults to the latest.
        #[arg(long, default_value_t = 0)]
        version: u64,
        /// Your key file.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum VerifyCommand {
    /// Check a data file or a content hash against the hash anchored on the ledger.
    Hash {
        /// The asset id.
        asset_id: String,
        /// The version; defaults to the latest.
        #[arg(long, default_value_t = 0)]
        version: u64,
        /// A file to hash with SHA-256.
        #[arg(long, conflicts_with = "hash", required_unless_present = "hash")]
        file: Option<PathBuf>,
        /// A content hash (64 hex digits).
        #[arg(long)]
        hash: Option<String>,
        /// Your key file.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// List access events (auditors: all; anyone: their own).
    Events {
        /// Only this caller's events.
        #[arg(long)]
        identity: Option<String>,
        /// Only events about this asset.
        #[arg(long)]
        asset: Option<String>,
        /// Only events since then: a duration ago ("1h") or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only allowed or denied events.
        #[arg(long)]
        decision: Option<Decision>,
        /// At most this many (newest last).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Your key file.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Fetch the proof that an access event was recorded and anchored, for
    /// offline checking, from any node: one that did not log the event
    /// proves it from the logging node's signed records on the access-event
    /// topic, against that node's own anchor.
    Prove {
        /// The event id.
        event_id: String,
        /// The address of the node that logged the event: the proof must be
        /// under that node's anchor (default: whichever node logged it).
        #[arg(long)]
        owner: Option<String>,
        /// The proof file to write (check it with `cairn proof verify`).
        #[arg(long)]
        out: PathBuf,
        /// Also write the ledger checkpoint the proof is for.
        #[arg(long)]
        checkpoint_out: Option<PathBuf>,
        /// Check the fetched proof against this quorum file before writing
        /// it (trusted verifier keys, `#` comments, an optional `quorum <k>`
        /// line), as `cairn proof verify` does.
        #[arg(long)]
        trusted_keys: Option<PathBuf>,
        /// Your key file.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
}

pub(crate) fn event_json(event: &pb::AccessEvent) -> serde_json::Value {
    serde_json::json!({
        "event_id": event.event_id,
        "time": crate::clock::rfc3339(event.time_ms),
        "identity": event.identity,
        "organisation": event.organisation,
        "role": event.role,
        "action": event.action,
        "resource": event.resource,
        "decision": pb::Decision::try_from(event.decision).map_or("unknown", |d| if d == pb::Decision::Allowed { "allowed" } else { "denied" }),
        "reason": event.reason,
        "bytes": event.bytes,
        "latency_us": event.latency_us,
        "method": event.method,
    })
}

pub(crate) fn parse_since(text: &str) -> anyhow::Result<u64> {
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(now_ms().saturating_sub(ago.as_millis() as u64));
    }
    crate::clock::parse_rfc3339(text).with_context(|| {
        format!("--since {text:?} is neither a duration such as 1h nor an RFC 3339 time")
    })
}

fn version_json(version: Option<&pb::AssetVersion>) -> serde_json::Value {
    version.map_or(serde_json::Value::Null, |v| {
        serde_json::json!({
            "version": v.version,
            "content_hash": hex::encode(&v.content_hash),
            "size_bytes": v.size_bytes,
            "hash_algorithm": v.hash_algorithm,
            "tx_id": v.tx_id,
            "block": v.block_number,
        })
    })
}

pub(crate) async fn access(command: AccessCommand) -> anyhow::Result<()> {
    let AccessCommand::Request { asset_id, version, key, node } = command;
    let key = KeyPair::load(&key)?;
    let mut client = connect_as::<AccessClient<_>>(&node, &key).await?;
    let request = pb::RequestAccessRequest { asset_id, version };
    let response = client.request_access(request).await.map_err(status)?.into_inner();
    let view = serde_json::json!({
        "allowed": true,
        "reason": response.reason,
        "rule": response.rule,
        "event_id": response.event_id,
        "version": version_json(response.version.as_ref()),
    });
    print(node.json, &view, || {
        format!(
            "allowed   {}\nrule      {}\nevent     {}\nversion   {}",
            response.reason,
            response.rule,
            response.event_id,
            plain(&view["version"]["version"])
        )
    });
    Ok(())
}

/// A file's content hash as the asset version's hash algorithm computes it (streamed, bounded memory).
async fn file_content_hash(
    node: &NodeArgs,
    asset_id: &str,
    version: u64,
    path: &std::path::Path,
) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut ledger = connect::<LedgerClient<_>>(node).await?;
    let asset = ledger
        .get_asset(pb::GetAssetRequest { asset_id: asset_id.into() })
        .await
        .map_err(status)?
        .into_inner();
    let on_ledger = if version == 0 {
        asset.versions.last()
    } else {
        asset.versions.iter().find(|v| v.version == version)
    }
    .ok_or_else(|| format_err!("asset {asset_id} has no version {version}"))?;
    let chunk_size = match on_ledger.hash_algorithm.as_str() {
        ods_frontend::header::HASH_ALGORITHM => {
            let header = ods_frontend::header::AssetHeader::from_bytes(&on_ledger.metadata)
                .map_err(|e| format_err!(e))?;
            Some(
                usize::try_from(header.chunk_size)
                    .context("the header's chunk size is too large")?,
            )
        }
        "sha256" => None,
        other => bail!("cannot compute hash algorithm {other:?} for a file; pass --hash"),
    };
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut whole = Sha256::new();
    let mut chunk_hashes = Vec::new();
    let mut buffer = vec![0u8; chunk_size.unwrap_or(1 << 20).max(1)];
    loop {
        let mut filled = 0;
        while filled < buffer.len() {
            let n = file
                .read(&mut buffer[filled..])
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        whole.update(&buffer[..filled]);
        chunk_hashes.push(<[u8; 32]>::from(Sha256::digest(&buffer[..filled])));
        if filled < buffer.len() {
            break;
        }
    }
    Ok(match chunk_size {
        Some(_) => ods_frontend::pipeline::content_hash(&chunk_hashes).to_vec(),
        None => whole.finalize().to_vec(),
    })
}

pub(crate) async fn verify(command: VerifyCommand) -> anyhow::Result<()> {
    let VerifyCommand::Hash { asset_id, version, file, hash, key, node } = command;
    let content_hash = match (file, hash) {
        (Some(path), _) => file_content_hash(&node, &asset_id, version, &path).await?,
        (None, Some(hash)) => {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(&hash, &mut bytes).context("--hash must be 64 hex digits")?;
            bytes.to_vec()
        }
        (None, None) => bail!("give --file or --hash"),
    };
    let key = KeyPair::load(&key)?;
    let mut client = connect_as::<AccessClient<_>>(&node, &key).await?;
    let request =
        pb::VerifyDataHashRequest { asset_id, version, content_hash: content_hash.clone() };
    let response = client.verify_data_hash(request).await.map_err(status)?.into_inner();
    let view = serde_json::json!({
        "matches": response.matches,
        "content_hash": hex::encode(&content_hash),
        "ledger": version_json(response.version.as_ref()),
        "event_id": response.event_id,
    });
    print(node.json, &view, || {
        format!(
            "{}\nyours     {}\nledger    {} (version {}, tx {})\nevent     {}",
            if response.matches {
                "MATCH: the hash equals the one anchored on the ledger"
            } else {
                "MISMATCH: the hash differs from the ledger"
            },
            hex::encode(&content_hash),
            plain(&view["ledger"]["content_hash"]),
            plain(&view["ledger"]["version"]),
            plain(&view["ledger"]["tx_id"]),
            response.event_id
        )
    });
    if !response.matches {
        bail!("the content hash does not match the ledger");
    }
    Ok(())
}

pub(crate) async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Events { identity, asset, since, decision, limit, key, node } => {
            let key = KeyPair::load(&key)?;
            let since_ms = since.as_deref().map(parse_since).transpose()?.unwrap_or(0);
            let mut client = connect_as::<AccessClient<_>>(&node, &key).await?;
            let message = pb::ListAccessEventsRequest {
                identity: identity.unwrap_or_default(),
                asset_id: asset.unwrap_or_default(),
                since_ms,
                decision: match decision {
                    None => pb::Decision::Unspecified,
                    Some(Decision::Allowed) => pb::Decision::Allowed,
                    Some(Decision::Denied) => pb::Decision::Denied,
                }
                .into(),
                limit,
            };
            let request = message;
            let events =
                client.list_access_events(request).await.map_err(status)?.into_inner().events;
            let rows: Vec<serde_json::Value> = events.iter().map(event_json).collect();
            print(node.json, &serde_json::Value::Array(rows.clone()), || {
                let mut text = String::new();
                for row in &rows {
                    text.push_str(&format!(
                        "{}  {}  {:7}  {:12} {:40}  {}  {}\n",
                        plain(&row["time"]),
                        plain(&row["event_id"]),
                        plain(&row["decision"]),
                        plain(&row["action"]),
                        plain(&row["resource"]),
                        plain(&row["identity"]),
                        plain(&row["reason"])
                    ));
                }
                if text.is_empty() {
                    "no access events match".to_string()
                } else {
                    text.trim_end().to_string()
                }
            });
            Ok(())
        }
        AuditCommand::Prove { event_id, owner, out, checkpoint_out, trusted_keys, key, node } => {
            let quorum = trusted_keys.as_deref().map(crate::cli::proof::read_quorum).transpose()?;
            if let Some(owner) = &owner {
                let _ = owner
                    .parse::<anchor_chaincode::Address>()
                    .map_err(|e| format_err!("--owner {owner:?} is not a node address: {e}"))?;
            }
            let key = KeyPair::load(&key)?;
            // Under a quorum, the proof is for the newest checkpoint the
            // consortium cosigned, and that cosigned note is the one kept.
            let cosigned = match &quorum {
                None => None,
                Some(_) => quorum_checkpoint(&node).await?,
            };
            let mut client = connect_as::<AccessClient<_>>(&node, &key).await?;
            let request = pb::ProveAccessEventRequest {
                event_id: event_id.clone(),
                node: owner.clone().unwrap_or_default(),
                tree_size: cosigned.as_ref().map_or(0, |c| c.tree_size),
            };
            let response = client.prove_access_event(request).await.map_err(status)?.into_inner();
            if let Some(owner) = &owner
                && response.node != *owner
            {
                bail!(
                    "the node answered with an event of node {:?}, not of the owner {owner}",
                    response.node
                );
            }
            let (logged_by, relayed) = (response.node.clone(), response.relayed);
            let event_proof =
                response.event_proof.ok_or_else(|| format_err!("the node sent no event proof"))?;
            let anchor =
                response.anchor.ok_or_else(|| format_err!("the node sent no anchor proof"))?;
            let anchor_proof =
                anchor.proof.ok_or_else(|| format_err!("the node sent no anchor proof"))?;
            let anchored_by = anchor_creator(&anchor_proof.leaf)?;
            if let Some(owner) = &owner
                && anchored_by != *owner
            {
                bail!(
                    "the proof of access event {event_id} is under an anchor made by {anchored_by}, not by its owner {owner}"
                );
            }
            let checkpoint = match cosigned {
                Some(cosigned) => cosigned.signed_note,
                None => anchor.checkpoint.map(|c| c.signed_note).unwrap_or_default(),
            };
            if let Some(path) = &checkpoint_out {
                std::fs::write(path, &checkpoint)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            let file = asset_registry::verify::proof::AuditFile {
                kind: asset_registry::verify::proof::AUDIT_KIND.into(),
                event: BASE64.encode(&response.event),
                event_index: event_proof.leaf_index,
                event_tree_size: event_proof.tree_size,
                event_hashes: event_proof.hashes.iter().map(hex::encode).collect(),
                anchor_tx_id: anchor.tx_id,
                anchor_leaf_index: anchor_proof.leaf_index,
                anchor_tree_size: anchor_proof.tree_size,
                anchor_leaf: BASE64.encode(&anchor_proof.leaf),
                anchor_hashes: anchor_proof.hashes.iter().map(hex::encode).collect(),
                checkpoint,
            };
            let mut signed_by = None;
            if let Some(quorum) = &quorum {
                let text = serde_json::to_string(&file)?;
                let report = asset_registry::verify::proof::check_proof_file(
                    &text,
                    &file.checkpoint,
                    quorum,
                );
                if !report.valid() {
                    crate::cli::proof::print_report(&report, node.json)?;
                    bail!("the node's proof of access event {event_id} does not verify");
                }
                if !node.json {
                    crate::cli::proof::print_report(&report, false)?;
                }
                signed_by = report.signatures().cloned();
            }
            crate::cli::proof::write_json(&out, &file)?;
            let view = serde_json::json!({
                "out": out,
                "event_index": file.event_index,
                "anchor_tx_id": file.anchor_tx_id,
                "signed_by": signed_by,
                "logged_by": logged_by,
                "anchored_by": anchored_by,
                "relayed": relayed,
            });
            print(node.json, &view, || {
                format!(
                    "wrote the proof of access event {} (position {} of node {}'s anchored log of {}; anchor tx {}{}) to {}",
                    event_id,
                    file.event_index,
                    anchored_by,
                    file.event_tree_size,
                    file.anchor_tx_id,
                    if relayed { "; relayed from the access-event topic" } else { "" },
                    out.display()
                )
            });
            Ok(())
        }
    }
}

/// The address of the creator of the transaction in a ledger leaf (the node
/// that anchored an access-event log).
fn anchor_creator(leaf: &[u8]) -> anyhow::Result<String> {
    let leaf = anchor_chaincode::ledger::parse_leaf(leaf)
        .map_err(|e| format_err!("the node sent an anchor leaf that does not parse: {e}"))?;
    let transaction = anchor_chaincode::tx::Transaction::decode(&leaf.envelope).map_err(|e| {
        format_err!("the node sent an anchor transaction that does not decode: {}", e.message)
    })?;
    Ok(transaction.creator_address().to_string())
}

/// The newest checkpoint a quorum of the consortium cosigned, as the node
/// answers it; `None` when the node has none to give (the proof is then for
/// the node's own checkpoint, and the quorum check below says whether that
/// is enough).
async fn quorum_checkpoint(node: &NodeArgs) -> anyhow::Result<Option<pb::Checkpoint>> {
    let mut ledger = connect::<LedgerClient<_>>(node).await?;
    match ledger.get_checkpoint(pb::GetCheckpointRequest { tree_size: 0, quorum: true }).await {
        Ok(checkpoint) => Ok(Some(checkpoint.into_inner())),
        Err(refused) if refused.code() == tonic::Code::FailedPrecondition => Ok(None),
        Err(refused) => Err(status(refused)),
    }
}
