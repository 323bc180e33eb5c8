//! A `cairn witness serve` child process (C2SP tlog-witness), for tests that
//! put an outside witness beside their nodes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};

use crate::child::ChildGuard;
use crate::cli::cairn_command;

/// The cosigner name the tests' witnesses sign under.
pub const WITNESS_NAME: &str = "auditor.example/witness";

/// A running witness. Dropping it kills the process.
#[derive(Debug)]
pub struct Witness {
    _guard: ChildGuard,
    vkey: String,
    addr: String,
}

impl Witness {
    /// Starts `cairn witness serve` on `listen` for the logs whose note
    /// verifier keys are `log_vkeys`, with its key and state under `dir`, and
    /// waits for its `witness <vkey> listening on <addr>` line.
    pub fn start(dir: &Path, log_vkeys: &[&str], listen: &str) -> anyhow::Result<Witness> {
        let mut command = cairn_command();
        let _ = command
            .args(["witness", "serve", "--listen", listen, "--name", WITNESS_NAME])
            .arg("--key")
            .arg(dir.join("witness.key"))
            .arg("--state-dir")
            .arg(dir.join("witness-state"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for vkey in log_vkeys {
            let _ = command.args(["--log", vkey]);
        }
        let child = command.spawn().context("cannot start `cairn witness serve`")?;
        let mut guard = ChildGuard { child: Some(child) };
        let stdout = guard.child().stdout.take().context("stdout is not piped")?;
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line).context("cannot read the witness")?;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() != 5 || words[0] != "witness" || words[2] != "listening" {
            bail!("`cairn witness serve` printed {line:?} first");
        }
        Ok(Witness { _guard: guard, vkey: words[1].to_owned(), addr: words[4].to_owned() })
    }

    /// Its cosigner verifier key, for a trusted-keys file.
    pub fn vkey(&self) -> &str {
        &self.vkey
    }

    /// The address it listens on.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Its base URL, for `--witness`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
