//! `cairn consortium`: show the consortium and its history, and build,
//! endorse and submit consortium changes.
//!
//! A change travels as a file holding the signed envelope in hex: `propose`
//! writes it signed by its creator, each organisation adds its endorsement
//! with `endorse` (its organisation key signs the payload, nothing else
//! changes), and `submit` sends it. The chaincode counts the endorsements.

use std::path::{Path, PathBuf};

use access_control::keys::KeyPair;
use anchor_chaincode::authority::TxType;
use anchor_chaincode::tx::{self, ConsortiumChange, Transaction, TxBody, change_to_pb};
use anyhow::{Context, format_err};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::{Args, Subcommand};

use super::rpc::{connect, draft, node_info, status, submit_and_print};
use super::{NodeArgs, print};

#[derive(Subcommand, Debug)]
pub(crate) enum ConsortiumCommand {
    /// Show the member organisations, their keys, the quorum, the change
    /// policy, the authority rules and every change so far.
    Show {
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Write a change, signed by its creator, to a file for the organisations to endorse.
    Propose {
        #[command(subcommand)]
        change: ProposeCommand,
    },
    /// Add an organisation's endorsement to a proposed change (in place).
    Endorse {
        /// The change file from `propose`.
        file: PathBuf,
        /// The organisation's key file (its current organisation key, or the new key of an
        /// added or rotated organisation).
        #[arg(long)]
        key: PathBuf,
        /// The organisation the key speaks for.
        #[arg(long)]
        org: String,
    },
    /// Submit a proposed change; a refusal names what was missing.
    Submit {
        /// The change file.
        file: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
}

/// What every proposal needs.
#[derive(Args, Debug)]
pub(crate) struct Proposal {
    /// The creator's key file: a registered identity of a member organisation
    /// whose role the `change_consortium` rule allows.
    #[arg(long)]
    key: PathBuf,
    /// The change file to write; an existing file is never overwritten.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum ProposeCommand {
    /// Admit an organisation (its new key must endorse too).
    AddOrganisation {
        /// Its name.
        #[arg(long)]
        name: String,
        /// What it is.
        #[arg(long, default_value = "")]
        description: String,
        /// Its Ed25519 public key, 64 hex digits (`cairn key show`).
        #[arg(long)]
        public_key: String,
        #[command(flatten)]
        proposal: Proposal,
    },
    /// Remove an organisation; its identities are revoked with it.
    RemoveOrganisation {
        /// Its name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        proposal: Proposal,
    },
    /// Replace an organisation's key (the new key must endorse too).
    RotateKey {
        /// The organisation.
        #[arg(long)]
        name: String,
        /// The new Ed25519 public key, 64 hex digits.
        #[arg(long)]
        new_public_key: String,
        #[command(flatten)]
        proposal: Proposal,
    },
    /// Replace the authority rule of a transaction type (within its ceiling).
    SetRule {
        /// The transaction type, e.g. revoke_identity.
        #[arg(long)]
        tx_type: TxType,
        /// The rule as in the genesis: {"create": [...], "endorse": [...]}.
        #[arg(long)]
        rule: String,
        #[command(flatten)]
        proposal: Proposal,
    },
    /// Set how many node cosignatures make a checkpoint final.
    SetQuorum {
        /// k, between 1 and the registered node identities.
        #[arg(long)]
        k: u32,
        #[command(flatten)]
        proposal: Proposal,
    },
    /// Set how many organisations must endorse a change (0: a strict majority).
    SetChangePolicy {
        /// The number of organisations.
        #[arg(long)]
        organisations: u32,
        #[command(flatten)]
        proposal: Proposal,
    },
}

fn public_key(hex_text: &str, what: &str) -> anyhow::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(hex_text.trim(), &mut key)
        .with_context(|| format!("{what} {hex_text:?} is not 64 hex digits"))?;
    Ok(key)
}

impl ProposeCommand {
    fn into_parts(self) -> anyhow::Result<(ConsortiumChange, Proposal)> {
        Ok(match self {
            ProposeCommand::AddOrganisation { name, description, public_key: key, proposal } => (
                ConsortiumChange::AddOrganisation {
                    public_key: public_key(&key, "--public-key")?,
                    name,
                    description,
                },
                proposal,
            ),
            ProposeCommand::RemoveOrganisation { name, proposal } => {
                (ConsortiumChange::RemoveOrganisation { name }, proposal)
            }
            ProposeCommand::RotateKey { name, new_public_key, proposal } => (
                ConsortiumChange::RotateOrganisationKey {
                    new_public_key: public_key(&new_public_key, "--new-public-key")?,
                    name,
                },
                proposal,
            ),
            ProposeCommand::SetRule { tx_type, rule, proposal } => (
                ConsortiumChange::SetAuthorityRule {
                    tx_type: tx_type.to_string(),
                    rule_json: rule,
                },
                proposal,
            ),
            ProposeCommand::SetQuorum { k, proposal } => {
                (ConsortiumChange::SetQuorum { k }, proposal)
            }
            ProposeCommand::SetChangePolicy { organisations, proposal } => {
                (ConsortiumChange::SetChangePolicy { organisations }, proposal)
            }
        })
    }
}

fn read_change(file: &Path) -> anyhow::Result<(Vec<u8>, Transaction)> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the change file {}", file.display()))?;
    let envelope = hex::decode(text.trim())
        .with_context(|| format!("{} does not hold a hex envelope", file.display()))?;
    let transaction = Transaction::decode(&envelope).map_err(|rejection| {
        format_err!("{} is not a transaction: {}", file.display(), rejection.message)
    })?;
    if !matches!(transaction.body, TxBody::ChangeConsortium(_)) {
        anyhow::bail!(
            "{} holds a {} transaction, not a consortium change",
            file.display(),
            transaction.body.type_name()
        );
    }
    Ok((envelope, transaction))
}

fn write_change(file: &Path, envelope: &[u8], create: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    let _ = options.write(true);
    if create {
        let _ = options.create_new(true);
    } else {
        let _ = options.truncate(true);
    }
    let mut out = options.open(file).with_context(|| format!("cannot write {}", file.display()))?;
    writeln!(out, "{}", hex::encode(envelope))
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok(())
}

fn summary(transaction: &Transaction) -> serde_json::Value {
    let change = match &transaction.body {
        TxBody::ChangeConsortium(change) => serde_json::to_value(change).unwrap_or_default(),
        _ => serde_json::Value::Null,
    };
    serde_json::json!({
        "tx_id": transaction.id.to_string(),
        "creator": transaction.creator_address().to_string(),
        "change": change,
        "endorsements": transaction.endorsements.iter().map(|e| serde_json::json!({
            "organisation": e.organisation,
            "public_key": hex::encode(e.public_key),
        })).collect::<Vec<_>>(),
    })
}

fn print_summary(json: bool, file: &Path, transaction: &Transaction) {
    let view = summary(transaction);
    print(json, &view, || {
        let endorsers: Vec<String> = transaction
            .endorsements
            .iter()
            .map(|e| format!("{} ({}…)", e.organisation, &hex::encode(e.public_key)[..16]))
            .collect();
        format!(
            "change        {}\ntx            {}\ncreator       {}\nendorsed by   {}\nfile          {}",
            view["change"],
            transaction.id,
            transaction.creator_address(),
            if endorsers.is_empty() { "nobody yet".to_owned() } else { endorsers.join(", ") },
            file.display()
        )
    });
}

pub(crate) async fn run(command: ConsortiumCommand) -> anyhow::Result<()> {
    match command {
        ConsortiumCommand::Show { node } => show(node).await,
        ConsortiumCommand::Propose { change } => {
            let (change, proposal) = change.into_parts()?;
            let creator = KeyPair::load(&proposal.key)?;
            let mut client = connect::<LedgerClient<_>>(&proposal.node).await?;
            let info = node_info(&mut client).await?;
            let body = pb::tx_payload::Body::ChangeConsortium(change_to_pb(&change));
            let payload = draft(&info.chain_id, body)?.payload(&creator.signing_public_key());
            let envelope = tx::seal(payload, creator.signing_key(), &[]);
            write_change(&proposal.out, &envelope, true)?;
            let (_, transaction) = read_change(&proposal.out)?;
            print_summary(proposal.node.json, &proposal.out, &transaction);
            Ok(())
        }
        ConsortiumCommand::Endorse { file, key, org } => {
            let (envelope, transaction) = read_change(&file)?;
            let pair = KeyPair::load(&key)?;
            if transaction.endorsements.iter().any(|e| e.public_key == pair.signing_public_key()) {
                anyhow::bail!("{} is already endorsed by this key", file.display());
            }
            let envelope = tx::endorse(&envelope, &org, pair.signing_key())?;
            write_change(&file, &envelope, false)?;
            let (_, transaction) = read_change(&file)?;
            print_summary(false, &file, &transaction);
            Ok(())
        }
        ConsortiumCommand::Submit { file, node } => {
            let (envelope, _) = read_change(&file)?;
            let mut client = connect::<LedgerClient<_>>(&node).await?;
            let _ = submit_and_print(&mut client, envelope, node.json).await?;
            Ok(())
        }
    }
}

async fn show(node: NodeArgs) -> anyhow::Result<()> {
    let mut client = connect::<LedgerClient<_>>(&node).await?;
    let state =
        client.get_consortium(pb::GetConsortiumRequest {}).await.map_err(status)?.into_inner();
    let authority: serde_json::Value =
        serde_json::from_str(&state.authority_json).unwrap_or_default();
    let history: Vec<serde_json::Value> = state
        .history
        .iter()
        .map(|record| {
            serde_json::json!({
                "block": record.block_number,
                "tx_id": record.tx_id,
                "change": serde_json::from_str::<serde_json::Value>(&record.change_json).unwrap_or_default(),
                "creator": record.creator_address,
                "endorsed_by": record.endorsed_by,
            })
        })
        .collect();
    let view = serde_json::json!({
        "height": state.height,
        "organisations": state.organisations.iter().map(|o| serde_json::json!({
            "name": o.name,
            "description": o.description,
            "public_key": hex::encode(&o.public_key),
            "since_block": o.since_block,
            "key_since_block": o.key_since_block,
        })).collect::<Vec<_>>(),
        "certification_authority": state.certification_authority,
        "operator": state.operator,
        "holders": state.holders,
        "quorum": state.quorum,
        "nodes": state.nodes,
        "change_policy": state.change_policy,
        "change_endorsements": state.change_endorsements,
        "authority": authority,
        "history": history,
    });
    print(node.json, &view, || {
        let mut text = format!(
            "height {}: {} organisations; certification authority {:?}, operator {:?}, holders {:?}\n\
             quorum {} of {} node(s); a change needs {} organisation(s){}\n\norganisations:\n",
            state.height,
            state.organisations.len(),
            state.certification_authority,
            state.operator,
            state.holders,
            state.quorum,
            state.nodes,
            state.change_endorsements,
            if state.change_policy == 0 { " (a strict majority)" } else { "" },
        );
        for o in &state.organisations {
            text.push_str(&format!(
                "  {:<16} key {} (since block {}), member since block {}  {}\n",
                o.name,
                hex::encode(&o.public_key),
                o.key_since_block,
                o.since_block,
                o.description
            ));
        }
        text.push_str("\nhistory:\n");
        if history.is_empty() {
            text.push_str("  no changes since the genesis\n");
        }
        for record in &state.history {
            text.push_str(&format!(
                "  block {:<6} {}  endorsed by {}  (tx {}, created by {})\n",
                record.block_number,
                record.change_json,
                record.endorsed_by.join(", "),
                record.tx_id,
                record.creator_address
            ));
        }
        text.trim_end().to_owned()
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_must_be_64_hex_digits() {
        assert_eq!(public_key(&"ab".repeat(32), "--public-key").unwrap(), [0xab; 32]);
        let err = public_key("xyz", "--public-key").unwrap_err();
        assert!(err.to_string().contains("--public-key \"xyz\" is not 64 hex digits"), "{err}");
    }
}
