//! `cairn key`: key pairs made and kept on this machine.

use std::path::PathBuf;

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub(crate) enum KeyCommand {
    /// Generate a key pair (Ed25519 signing, X25519 encryption) into a new file with mode 0600.
    New {
        /// The key file to create; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Show a key file's address and public keys.
    Show {
        /// The key file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(command: KeyCommand) -> anyhow::Result<()> {
    let (pair, json) = match command {
        KeyCommand::New { out, json } => {
            let pair = access_control::keys::KeyPair::generate()?;
            pair.save(&out)?;
            (pair, json)
        }
        KeyCommand::Show { file, json } => (access_control::keys::KeyPair::load(&file)?, json),
    };
    let view = serde_json::json!({
        "address": pair.address().to_string(),
        "signing_public_key": hex::encode(pair.signing_public_key()),
        "encryption_public_key": hex::encode(pair.encryption_public_key()),
    });
    super::print(json, &view, || {
        format!(
            "address                {}\nsigning public key     {}\nencryption public key  {}",
            pair.address(),
            hex::encode(pair.signing_public_key()),
            hex::encode(pair.encryption_public_key())
        )
    });
    Ok(())
}
