//! The `cairn` command: runs the embedded node (`cairn up`), talks to a
//! running node over gRPC, keeps keys on the client, verifies proofs offline,
//! and runs benchmarks.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod access;
mod access_client;
mod access_service;
mod auth;
mod bench;
mod bench_access;
mod bench_metering;
mod bench_ods;
mod bench_scale;
mod bench_verify;
mod billing;
mod billing_client;
mod cert_client;
mod cert_service;
mod client;
mod demo;
mod node;
mod ods;
mod project;
mod proof;
mod scale;
mod secrets;
mod server;
mod up;

/// Cairn: an event-sourced data-sharing hub with a signed, Merkle-proven ledger.
#[derive(Parser, Debug)]
#[command(name = "cairn", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the node is.
#[derive(Args, Debug, Clone)]
pub(crate) struct NodeArgs {
    /// The node's gRPC address.
    #[arg(long, env = "CAIRN_NODE", default_value = "http://127.0.0.1:7878")]
    pub(crate) node: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// The CA certificate (PEM) that signed the node's TLS certificate, for https:// node URLs.
    #[arg(long, env = "CAIRN_CA_CERT")]
    pub(crate) ca_cert: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an embedded node: the ledger log, the chaincode and the gRPC server.
    Up(up::UpArgs),
    /// Make a genesis configuration and the organisations' keys.
    Genesis {
        #[command(subcommand)]
        command: up::GenesisCommand,
    },
    /// Keys, made and kept on this machine.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Register and look up identities.
    Identity {
        #[command(subcommand)]
        command: client::IdentityCommand,
    },
    /// Publish asset versions, set sharing rules, look up assets.
    Asset {
        #[command(subcommand)]
        command: client::AssetCommand,
    },
    /// Look up transactions.
    Tx {
        #[command(subcommand)]
        command: client::TxCommand,
    },
    /// Look up blocks.
    Block {
        #[command(subcommand)]
        command: client::BlockCommand,
    },
    /// Fetch a signed checkpoint of the transaction log.
    Checkpoint(client::CheckpointArgs),
    /// Fetch and verify inclusion and consistency proofs.
    Proof {
        #[command(subcommand)]
        command: proof::ProofCommand,
    },
    /// Show the node's chain, height, state root and checkpoint key.
    Node {
        #[command(subcommand)]
        command: client::NodeCommand,
    },
    /// Ask for protected data (signed request).
    Access {
        #[command(subcommand)]
        command: access_client::AccessCommand,
    },
    /// Check data against the ledger (a verification query; signed request).
    Verify {
        #[command(subcommand)]
        command: access_client::VerifyCommand,
    },
    /// Read the audit log of access events and prove entries of it (signed requests).
    Audit {
        #[command(subcommand)]
        command: access_client::AuditCommand,
    },
    /// Declare what the department shares (the ODS front-end).
    Share {
        #[command(subcommand)]
        command: ods::ShareCommand,
    },
    /// Sync a share: seal its data into the ODS, publish the version, release keys.
    Sync(ods::SyncArgs),
    /// Fetch shared data you are authorised for.
    Data {
        #[command(subcommand)]
        command: ods::DataCommand,
    },
    /// Verifier accounts, usage, monthly statements and their offline check.
    Billing {
        #[command(subcommand)]
        command: billing_client::BillingCommand,
    },
    /// Electronic certificates: issue, show, list, renew, revoke, present, QR codes, verify.
    Cert {
        #[command(subcommand)]
        command: cert_client::CertCommand,
    },
    /// Measure this machine.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Run the PostgreSQL projectors on their own (scaled mode: --kafka and --postgres).
    Project(project::ProjectArgs),
    /// Rebuild every projection from the logs into fresh tables and compare them with the live ones.
    Replay(project::ReplayArgs),
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
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

fn key_command(command: KeyCommand) -> anyhow::Result<()> {
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
    client::print(json, &view, || {
        format!(
            "address                {}\nsigning public key     {}\nencryption public key  {}",
            pair.address(),
            hex::encode(pair.signing_public_key()),
            hex::encode(pair.encryption_public_key())
        )
    });
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The node logs its progress; client commands only warnings, so their output stays readable.
    let default_level =
        if matches!(cli.command, Command::Up(_) | Command::Bench { .. } | Command::Project(_)) {
            "info"
        } else {
            "warn"
        };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Genesis { command } => up::genesis(command),
        Command::Key { command } => key_command(command),
        Command::Bench { command } => bench::run(command),
        Command::Proof { command } => proof::run(command),
        Command::Identity { command } => client::run_async(client::identity(command)),
        Command::Asset { command } => client::run_async(client::asset(command)),
        Command::Tx { command } => client::run_async(client::tx(command)),
        Command::Block { command } => client::run_async(client::block(command)),
        Command::Checkpoint(args) => client::run_async(client::checkpoint(args)),
        Command::Node { command } => client::run_async(client::node(command)),
        Command::Share { command } => ods::share(command),
        Command::Sync(args) => client::run_async(ods::sync(args)),
        Command::Data { command } => client::run_async(ods::data(command)),
        Command::Access { command } => client::run_async(access_client::access(command)),
        Command::Verify { command } => client::run_async(access_client::verify(command)),
        Command::Audit { command } => client::run_async(access_client::audit(command)),
        Command::Project(args) => project::project(args),
        Command::Replay(args) => match project::replay(args) {
            Ok(true) => Ok(()),
            Ok(false) => return std::process::ExitCode::from(3),
            Err(e) => Err(e),
        },
        Command::Cert { command } => client::run_async(cert_client::run(command)),
        Command::Billing { command } => client::run_async(billing_client::run(command)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
