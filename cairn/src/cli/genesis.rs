//! `cairn genesis new`: a genesis configuration and the organisations' keys.

use std::path::PathBuf;

use access_control::keys::KeyPair;
use anchor_chaincode::genesis::{Genesis, Organisation};
use anyhow::{Context, format_err};
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub(crate) enum GenesisCommand {
    /// Write genesis.json and one key file (mode 0600) per organisation.
    New {
        /// The chain id.
        #[arg(long)]
        chain_id: String,
        /// An organisation name; repeat for each.
        #[arg(long = "org", required = true)]
        organisations: Vec<String>,
        /// The organisation that is the certification authority.
        #[arg(long)]
        ca: String,
        /// The hub operator's organisation (verifier accounts); defaults to the CA's.
        #[arg(long)]
        operator: Option<String>,
        /// The organisation citizens are registered in (not one of --org).
        #[arg(long, default_value = anchor_chaincode::genesis::DEFAULT_HOLDERS)]
        holders: String,
        /// A certificate type and an organisation whose issuers may issue it,
        /// as TYPE=ORG; repeat for each. A type not listed cannot be issued.
        #[arg(long = "issuer", value_name = "TYPE=ORG")]
        issuers: Vec<String>,
        /// How many node cosignatures make a checkpoint final (k of the
        /// registered nodes).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        quorum: u32,
        /// The directory to write into.
        #[arg(long)]
        out_dir: PathBuf,
    },
}

pub(crate) fn run(command: GenesisCommand) -> anyhow::Result<()> {
    let GenesisCommand::New {
        chain_id,
        organisations,
        ca,
        operator,
        holders,
        issuers,
        quorum,
        out_dir,
    } = command;
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let genesis_path = out_dir.join("genesis.json");
    if genesis_path.exists() {
        anyhow::bail!("{} exists; refusing to overwrite it", genesis_path.display());
    }
    let mut entries = Vec::new();
    let mut keys = Vec::new();
    for name in &organisations {
        let pair = KeyPair::generate()?;
        entries.push(Organisation {
            name: name.clone(),
            description: String::new(),
            public_key: hex::encode(pair.signing_public_key()),
        });
        keys.push((out_dir.join(format!("org-{name}.key")), pair));
    }
    let mut genesis = Genesis::new(chain_id, entries, ca);
    genesis.operator = operator.unwrap_or_default();
    genesis.quorum = if quorum == 1 { 0 } else { quorum };
    genesis.holders = holders;
    for issuer in &issuers {
        let (channel, organisation) = issuer.split_once('=').ok_or_else(|| {
            format_err!("--issuer {issuer:?} must be TYPE=ORG, for example marriage=dept-civil")
        })?;
        genesis.issuers.entry(channel.to_owned()).or_default().push(organisation.to_owned());
    }
    let bytes = genesis.to_bytes();
    // Check before writing anything, so a bad configuration leaves nothing behind.
    let _ = anchor_chaincode::genesis::Consortium::from_bytes(&bytes)?;
    for (path, pair) in &keys {
        pair.save(path)?;
        println!("wrote {} (organisation key, mode 0600)", path.display());
    }
    std::fs::write(&genesis_path, &bytes)
        .with_context(|| format!("cannot write {}", genesis_path.display()))?;
    println!("wrote {}", genesis_path.display());
    println!("start a node with: cairn up --genesis {}", genesis_path.display());
    Ok(())
}
