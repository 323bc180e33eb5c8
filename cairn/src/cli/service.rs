//! `cairn service`: define social-security services from definition files,
//! and list and show them.

use std::path::PathBuf;

use access_control::keys::KeyPair;
use anchor_chaincode::tx;
use anyhow::Context;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::cases_client::CasesClient;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::Subcommand;

use super::rpc::{connect, connect_as, draft, node_info, status, submit_and_print};
use super::{NodeArgs, print};

#[derive(Subcommand, Debug)]
pub(crate) enum ServiceCommand {
    /// Define a service, or a new version of one, from its JSON definition
    /// (see schemas/services/); endorsed by the owning organisation's key.
    Define {
        /// The definition file.
        file: PathBuf,
        /// A provider of the owning organisation.
        #[arg(long)]
        key: PathBuf,
        /// The owning organisation's key file.
        #[arg(long)]
        org_key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Every service at its latest version.
    List {
        /// Any registered identity's key file (reads are signed).
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// One service's definition and its participants.
    Show {
        /// The service id.
        service_id: String,
        /// The version (default: the latest).
        #[arg(long, default_value_t = 0)]
        version: u64,
        /// Any registered identity's key file (reads are signed).
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
}

/// A service view as JSON.
pub(crate) fn view_json(view: &pb::ServiceView) -> serde_json::Value {
    serde_json::json!({
        "service_id": view.service_id,
        "version": view.version,
        "title": view.title,
        "owner": view.owner,
        "definition_hash": view.definition_hash,
        "block": view.block_number,
        "tx_id": view.tx_id,
        "definition": serde_json::from_str::<serde_json::Value>(&view.definition_json).unwrap_or_default(),
        "participants": view.participants.iter().map(|p| serde_json::json!({
            "address": p.address, "organisation": p.organisation, "role": p.role,
        })).collect::<Vec<_>>(),
    })
}

pub(crate) async fn run(command: ServiceCommand) -> anyhow::Result<()> {
    match command {
        ServiceCommand::Define { file, key, org_key, node } => {
            let definition = std::fs::read(&file)
                .with_context(|| format!("cannot read the definition {}", file.display()))?;
            let parsed: anchor_chaincode::service::ServiceDefinition =
                serde_json::from_slice(&definition)
                    .with_context(|| format!("{} is not a service definition", file.display()))?;
            let pair = KeyPair::load(&key)?;
            let owner_key = KeyPair::load(&org_key)?;
            let mut client = connect::<LedgerClient<_>>(&node).await?;
            let info = node_info(&mut client).await?;
            let body = pb::tx_payload::Body::DefineService(pb::DefineService {
                definition_json: definition,
            });
            let envelope = tx::seal(
                draft(&info.chain_id, body)?.payload(&pair.signing_public_key()),
                pair.signing_key(),
                &[(parsed.owner.as_str(), owner_key.signing_key())],
            );
            let _ = submit_and_print(&mut client, envelope, node.json).await?;
            Ok(())
        }
        ServiceCommand::List { key, node } => {
            let pair = KeyPair::load(&key)?;
            let mut client = connect_as::<CasesClient<_>>(&node, &pair).await?;
            let services = client
                .list_services(pb::ListServicesRequest {})
                .await
                .map_err(status)?
                .into_inner()
                .services;
            let value = serde_json::json!({
                "services": services.iter().map(|s| serde_json::json!({
                    "service_id": s.service_id, "version": s.version, "title": s.title, "owner": s.owner,
                    "participants": s.participants.len(),
                })).collect::<Vec<_>>(),
            });
            print(node.json, &value, || {
                let mut text = format!("{:<28} {:>7}  {:<26} title", "service", "version", "owner");
                for s in &services {
                    text.push_str(&format!(
                        "\n{:<28} {:>7}  {:<26} {}",
                        s.service_id, s.version, s.owner, s.title
                    ));
                }
                text
            });
            Ok(())
        }
        ServiceCommand::Show { service_id, version, key, node } => {
            let pair = KeyPair::load(&key)?;
            let mut client = connect_as::<CasesClient<_>>(&node, &pair).await?;
            let view = client
                .get_service(pb::GetServiceRequest { service_id, version })
                .await
                .map_err(status)?
                .into_inner();
            let value = view_json(&view);
            print(node.json, &value, || serde_json::to_string_pretty(&value).unwrap_or_default());
            Ok(())
        }
    }
}
