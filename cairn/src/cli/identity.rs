//! `cairn identity`: register, revoke and look up identities.

use std::path::PathBuf;

use access_control::keys::KeyPair;
use anchor_chaincode::Role;
use anchor_chaincode::tx::{self};
use anyhow::{Context, bail, format_err};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::Subcommand;

use super::rpc::{connect, draft, node_info, status, submit_and_print};
use super::{NodeArgs, print};

#[derive(Subcommand, Debug)]
pub(crate) enum IdentityCommand {
    /// Register the identity of a key file, endorsed by the certification authority
    /// (and, for a node, by its own organisation's key: --org-key).
    Register {
        /// The identity's key file (from `cairn key new`).
        #[arg(long)]
        key: PathBuf,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Organisation, as in the genesis configuration.
        #[arg(long)]
        org: String,
        /// Role: provider, consumer, verifier, issuer, certification_authority, auditor, operator, node, reviewer or public.
        #[arg(long)]
        role: Role,
        /// For role reviewer: the department-defined reviewer role a service
        /// definition names (e.g. household_surveyor); needs --org-key.
        #[arg(long, default_value = "")]
        reviewer_role: String,
        /// The certification authority's key file (its organisation key or a registered member's).
        #[arg(long)]
        endorser_key: PathBuf,
        /// The endorsing organisation; defaults to the chain's certification authority.
        #[arg(long)]
        endorser_org: Option<String>,
        /// The identity's own organisation's key file (its organisation key), which must
        /// also endorse a `node` registration.
        #[arg(long)]
        org_key: Option<PathBuf>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Revoke an identity (a member of the certification authority signs).
    Revoke {
        /// The address to revoke.
        address: String,
        /// Why; recorded on the ledger and shown to the revoked identity's callers.
        #[arg(long)]
        reason: String,
        /// The key file of a registered member of the certification authority.
        #[arg(long)]
        key: PathBuf,
        /// Extra endorser key files (organisation keys), if the chain's policy asks for more.
        #[arg(long = "endorser-key")]
        endorser_keys: Vec<PathBuf>,
        /// The organisation each --endorser-key speaks for, in the same order.
        #[arg(long = "endorser-org")]
        endorser_orgs: Vec<String>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Show an identity: organisation, role, public keys.
    Show {
        /// The identity's address.
        address: String,
        #[command(flatten)]
        node: NodeArgs,
    },
}

pub(crate) async fn run(command: IdentityCommand) -> anyhow::Result<()> {
    match command {
        IdentityCommand::Register {
            key,
            name,
            org,
            role,
            reviewer_role,
            endorser_key,
            endorser_org,
            org_key,
            node,
        } => {
            let pair = KeyPair::load(&key)?;
            let endorser = KeyPair::load(&endorser_key)?;
            let own = org_key.as_deref().map(KeyPair::load).transpose()?;
            let mut client = connect::<LedgerClient<_>>(&node).await?;
            let info = node_info(&mut client).await?;
            let endorser_org = match endorser_org {
                Some(org) => org,
                None => certification_authority(&info)?,
            };
            let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
                name,
                organisation: org.clone(),
                role: tx::role_to_pb(role).into(),
                signing_public_key: pair.signing_public_key().to_vec(),
                encryption_public_key: pair.encryption_public_key().to_vec(),
                reviewer_role,
            });
            let draft = draft(&info.chain_id, body)?;
            let mut endorsers = vec![(endorser_org.as_str(), endorser.signing_key())];
            if let Some(own) = &own {
                endorsers.push((org.as_str(), own.signing_key()));
            }
            let envelope =
                tx::seal(draft.payload(&pair.signing_public_key()), pair.signing_key(), &endorsers);
            let _ = submit_and_print(&mut client, envelope, node.json).await?;
            Ok(())
        }
        IdentityCommand::Revoke { address, reason, key, endorser_keys, endorser_orgs, node } => {
            if endorser_keys.len() != endorser_orgs.len() {
                bail!("give one --endorser-org for each --endorser-key");
            }
            let pair = KeyPair::load(&key)?;
            let endorsers = endorser_keys
                .iter()
                .map(|path| KeyPair::load(path))
                .collect::<Result<Vec<_>, _>>()?;
            let mut client = connect::<LedgerClient<_>>(&node).await?;
            let info = node_info(&mut client).await?;
            let body = pb::tx_payload::Body::RevokeIdentity(pb::RevokeIdentity { address, reason });
            let endorsements: Vec<(&str, &ed25519_zebra::SigningKey)> = endorser_orgs
                .iter()
                .map(String::as_str)
                .zip(endorsers.iter().map(KeyPair::signing_key))
                .collect();
            let envelope = tx::seal(
                draft(&info.chain_id, body)?.payload(&pair.signing_public_key()),
                pair.signing_key(),
                &endorsements,
            );
            let _ = submit_and_print(&mut client, envelope, node.json).await?;
            Ok(())
        }
        IdentityCommand::Show { address, node } => {
            let mut client = connect::<LedgerClient<_>>(&node).await?;
            let identity = client
                .get_identity(pb::GetIdentityRequest { address })
                .await
                .map_err(status)?
                .into_inner();
            let role = pb::Role::try_from(identity.role).map_or("unknown".to_string(), |r| {
                r.as_str_name().trim_start_matches("ROLE_").to_ascii_lowercase()
            });
            let view = serde_json::json!({
                "address": identity.address,
                "name": identity.name,
                "organisation": identity.organisation,
                "role": role,
                "signing_public_key": hex::encode(&identity.signing_public_key),
                "encryption_public_key": hex::encode(&identity.encryption_public_key),
                "registered_in_block": identity.registered_in_block,
                "registered_by_tx": identity.registered_by_tx,
                "revoked": (!identity.revoked_reason.is_empty()).then(|| serde_json::json!({
                    "reason": identity.revoked_reason,
                    "block": identity.revoked_in_block,
                })),
            });
            print(node.json, &view, || {
                format!(
                    "address                {}\nname                   {}\norganisation           {}\nrole                   {role}\nsigning public key     {}\nencryption public key  {}\nregistered in block    {} (tx {})",
                    identity.address,
                    identity.name,
                    identity.organisation,
                    hex::encode(&identity.signing_public_key),
                    hex::encode(&identity.encryption_public_key),
                    identity.registered_in_block,
                    identity.registered_by_tx
                ) + if identity.revoked_reason.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\nREVOKED in block {}   {}",
                        identity.revoked_in_block, identity.revoked_reason
                    )
                }
                .as_str()
            });
            Ok(())
        }
    }
}

fn certification_authority(info: &pb::NodeInfo) -> anyhow::Result<String> {
    let genesis: serde_json::Value =
        serde_json::from_str(&info.genesis_json).context("node sent an unreadable genesis")?;
    genesis["certification_authority"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format_err!("node's genesis names no certification authority"))
}
