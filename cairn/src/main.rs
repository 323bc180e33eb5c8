//! The `cairn` command: runs the embedded node (`cairn up`), talks to a
//! running node over gRPC, keeps keys on the client, verifies proofs offline,
//! and runs benchmarks.

use clap::{Parser, Subcommand};

mod bench;
mod cli;
mod clock;
mod features;
mod grpc;
mod node;
mod rpc;
mod secrets;
mod up;
mod web;
mod witness;

/// Cairn: an event-sourced data-sharing hub with a signed, Merkle-proven ledger.
#[derive(Parser, Debug)]
#[command(name = "cairn", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an embedded node: the ledger log, the chaincode and the gRPC server.
    Up(up::UpArgs),
    /// Make a genesis configuration and the organisations' keys.
    Genesis {
        #[command(subcommand)]
        command: cli::genesis::GenesisCommand,
    },
    /// Keys, made and kept on this machine.
    Key {
        #[command(subcommand)]
        command: cli::key::KeyCommand,
    },
    /// Register and look up identities.
    Identity {
        #[command(subcommand)]
        command: cli::identity::IdentityCommand,
    },
    /// The consortium: show it, and propose, endorse and submit changes.
    Consortium {
        #[command(subcommand)]
        command: cli::consortium::ConsortiumCommand,
    },
    /// Social-security services: define them from files, list and show them.
    Service {
        #[command(subcommand)]
        command: cli::service::ServiceCommand,
    },
    /// Social-security cases: apply, supply, check, step, decide, appeal, pay, follow, audit.
    Case {
        #[command(subcommand)]
        command: cli::case::CaseCommand,
    },
    /// Publish asset versions, set sharing rules, look up assets.
    Asset {
        #[command(subcommand)]
        command: cli::asset::AssetCommand,
    },
    /// Look up transactions.
    Tx {
        #[command(subcommand)]
        command: cli::tx::TxCommand,
    },
    /// Look up blocks.
    Block {
        #[command(subcommand)]
        command: cli::tx::BlockCommand,
    },
    /// Fetch a signed checkpoint of the transaction log.
    Checkpoint(cli::node::CheckpointArgs),
    /// Fetch and verify inclusion and consistency proofs.
    Proof {
        #[command(subcommand)]
        command: cli::proof::ProofCommand,
    },
    /// Show the node's chain, height, state root and checkpoint key.
    Node {
        #[command(subcommand)]
        command: cli::node::NodeCommand,
    },
    /// Ask for protected data (signed request).
    Access {
        #[command(subcommand)]
        command: cli::access::AccessCommand,
    },
    /// Check data against the ledger (a verification query; signed request).
    Verify {
        #[command(subcommand)]
        command: cli::access::VerifyCommand,
    },
    /// Read the audit log of access events and prove entries of it (signed requests).
    Audit {
        #[command(subcommand)]
        command: cli::access::AuditCommand,
    },
    /// Declare what the department shares (the ODS front-end).
    Share {
        #[command(subcommand)]
        command: cli::ods::ShareCommand,
    },
    /// Sync a share: seal its data into the ODS, publish the version, release keys.
    Sync(cli::ods::SyncArgs),
    /// Fetch shared data you are authorised for.
    Data {
        #[command(subcommand)]
        command: cli::ods::DataCommand,
    },
    /// Verifier accounts, usage, monthly statements and their offline check.
    Billing {
        #[command(subcommand)]
        command: cli::billing::BillingCommand,
    },
    /// Electronic certificates: issue, show, list, renew, revoke, present, QR codes, verify.
    Cert {
        #[command(subcommand)]
        command: cli::cert::CertCommand,
    },
    /// Measure this machine.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Run an outside witness (C2SP tlog-witness): cosigns checkpoints consistent with the last it cosigned.
    Witness {
        #[command(subcommand)]
        command: witness::WitnessCommand,
    },
    /// Run the PostgreSQL projectors on their own (scaled mode: --kafka and --postgres).
    Project(node::project_args::ProjectArgs),
    /// Rebuild every projection from the logs into fresh tables and compare them with the live ones.
    Replay(node::project_args::ReplayArgs),
    /// Notify applicants and reviewers of case changes by e-mail and signed webhook, once (needs --postgres).
    Notify(cli::notify::NotifyArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // The node logs its progress; client commands only warnings, so their output stays readable.
    let default_level = if matches!(
        cli.command,
        Command::Up(_)
            | Command::Bench { .. }
            | Command::Project(_)
            | Command::Notify(_)
            | Command::Witness { .. }
    ) {
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
        Command::Genesis { command } => cli::genesis::run(command),
        Command::Key { command } => cli::key::run(command),
        Command::Bench { command } => bench::run(command),
        Command::Proof { command } => cli::proof::run(command),
        Command::Identity { command } => cli::run_async(cli::identity::run(command)),
        Command::Consortium { command } => cli::run_async(cli::consortium::run(command)),
        Command::Asset { command } => cli::run_async(cli::asset::run(command)),
        Command::Service { command } => cli::run_async(cli::service::run(command)),
        Command::Case { command } => cli::run_async(cli::case::run(command)),
        Command::Tx { command } => cli::run_async(cli::tx::tx(command)),
        Command::Block { command } => cli::run_async(cli::tx::block(command)),
        Command::Checkpoint(args) => cli::run_async(cli::node::checkpoint(args)),
        Command::Node { command } => cli::run_async(cli::node::run(command)),
        Command::Share { command } => cli::ods::share(command),
        Command::Sync(args) => cli::run_async(cli::ods::sync(args)),
        Command::Data { command } => cli::run_async(cli::ods::data(command)),
        Command::Access { command } => cli::run_async(cli::access::access(command)),
        Command::Verify { command } => cli::run_async(cli::access::verify(command)),
        Command::Audit { command } => cli::run_async(cli::access::audit(command)),
        #[cfg(all(feature = "kafka", feature = "pg"))]
        Command::Project(args) => node::project::project(args),
        #[cfg(not(all(feature = "kafka", feature = "pg")))]
        Command::Project(args) => node::project_args::project(args),
        #[cfg(all(feature = "kafka", feature = "pg"))]
        Command::Replay(args) => match node::project::replay(args) {
            Ok(true) => Ok(()),
            Ok(false) => return std::process::ExitCode::from(3),
            Err(e) => Err(e),
        },
        #[cfg(not(all(feature = "kafka", feature = "pg")))]
        Command::Replay(args) => match node::project_args::replay(args) {
            Ok(true) => Ok(()),
            Ok(false) => return std::process::ExitCode::from(3),
            Err(e) => Err(e),
        },
        Command::Cert { command } => cli::run_async(cli::cert::run(command)),
        Command::Billing { command } => cli::run_async(cli::billing::run(command)),
        Command::Witness { command } => witness::run(command),
        Command::Notify(args) => cli::notify::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
