//! The command line: one module per command group, plus [`rpc`], the one
//! way the commands connect to a node and sign their requests.
//!
//! Nothing under `node/` or `rpc/` imports this module.

use std::future::Future;
use std::path::PathBuf;

use clap::Args;

pub(crate) mod access;
pub(crate) mod asset;
pub(crate) mod billing;
pub(crate) mod case;
pub(crate) mod cert;
pub(crate) mod consortium;
pub(crate) mod genesis;
pub(crate) mod identity;
pub(crate) mod key;
pub(crate) mod node;
pub(crate) mod notify;
pub(crate) mod ods;
pub(crate) mod proof;
pub(crate) mod rpc;
pub(crate) mod service;
pub(crate) mod tx;

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

/// Runs a future on a small runtime.
pub(crate) fn run_async<F: Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(future)
}

/// Prints `value` as JSON, or the text `text` makes.
/// A closed stdout (as in `cairn … | head -1`) is not an error worth a panic.
pub(crate) fn print(json: bool, value: &serde_json::Value, text: impl FnOnce() -> String) {
    use std::io::Write;
    let line = if json { value.to_string() } else { text() };
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// A JSON value as plain text: strings without their quotes.
pub(crate) fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
