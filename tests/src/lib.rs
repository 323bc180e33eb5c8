//! Support for the end-to-end tests of Cairn in `tests/`.
//!
//! The tests run the real `cairn` binary as child processes on loopback. This
//! library finds that binary (building it once if it is missing or older than
//! the sources), runs CLI commands with a time limit, starts `cairn up` nodes
//! and learns their port from the `listening on ADDR` line, stops them with
//! SIGTERM or kills them with SIGKILL, and builds signed envelopes and a gRPC
//! client for tests that talk to a node directly.
//!
//! Every child process is owned by a guard whose `Drop` kills it, so a failing
//! test never leaves a node running.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use access_control::keys::KeyPair;
use anchor_chaincode::Role;
use anchor_chaincode::tx::{self, TxDraft};
use anyhow::{Context, bail, format_err};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::ledger_client::LedgerClient;
use tonic::transport::Channel;

mod broker;

pub use broker::Broker;

/// How long a node may take to print `listening on` (it replays its log first).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a CLI command or a stopping node may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The workspace root: the parent of this crate's directory.
pub fn workspace_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// The cargo target directory, honouring `CARGO_TARGET_DIR` (a relative one is
/// taken relative to the workspace, where the build below runs).
fn target_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

/// The newest modification time of the files a `cairn` build may depend on:
/// every file of the workspace's member crates (sources, protobuf files, files
/// pulled in with `include_str!`) except this crate, and the root manifests.
fn newest_source(workspace: &Path) -> SystemTime {
    fn walk(dir: &Path, depth: usize, newest: &mut SystemTime) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(metadata) = entry.metadata() else { continue };
            let wanted = if metadata.is_dir() && depth == 0 {
                // At the top, only member crates count (not `target` or these tests).
                path.join("Cargo.toml").exists() && name != "tests"
            } else if depth == 0 {
                ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml"].contains(&name.as_str())
            } else {
                !name.starts_with('.') && name != "target"
            };
            if !wanted {
                continue;
            }
            if metadata.is_dir() {
                walk(&path, depth + 1, newest);
            } else if let Ok(modified) = metadata.modified() {
                *newest = (*newest).max(modified);
            }
        }
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    walk(workspace, 0, &mut newest);
    newest
}

/// The `cairn` binary under test.
///
/// `CAIRN_BIN` wins if set. Otherwise it is `<target>/debug/cairn`, built once
/// per test process with `cargo build -p cairn --bin cairn` when it is missing
/// or older than the workspace sources.
pub fn cairn_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("CAIRN_BIN") {
            return PathBuf::from(path);
        }
        let workspace = workspace_dir();
        let bin = target_dir(&workspace).join("debug").join("cairn");
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        if built.is_none_or(|built| built < newest_source(&workspace)) {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let output = Command::new(cargo)
                .args(["build", "--quiet", "-p", "cairn", "--bin", "cairn"])
                .current_dir(&workspace)
                .stdin(Stdio::null())
                .output()
                .expect("cannot run cargo to build the cairn binary");
            assert!(
                output.status.success(),
                "`cargo build -p cairn --bin cairn` failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(bin.exists(), "the cairn binary is not at {} after building it", bin.display());
        bin
    })
    .clone()
}

/// A `cairn` command with no stdin and without the caller's `CAIRN_*`
/// environment variables, which `cairn` reads as defaults for its options, so
/// that the caller's environment cannot change what a test means.
pub fn cairn_command() -> Command {
    let mut command = Command::new(cairn_bin());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CAIRN_") {
            let _ = command.env_remove(name);
        }
    }
    let _ = command.stdin(Stdio::null());
    command
}

/// Kills and reaps a child when dropped, unless it has been reaped already.
#[derive(Debug)]
struct ChildGuard {
    child: Option<Child>,
}

impl ChildGuard {
    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("the child process was already reaped")
    }

    /// Waits up to `timeout` for the child to exit; `None` if it is still running.
    fn wait_timeout(&mut self, timeout: Duration) -> std::io::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child().try_wait()? {
                self.child = None;
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends SIGKILL and reaps the child.
    fn kill(&mut self) -> std::io::Result<ExitStatus> {
        let child = self.child();
        // Killing a child that already exited is not an error worth reporting.
        let _ = child.kill();
        let status = child.wait()?;
        self.child = None;
        Ok(status)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Collects a child's stream into a shared buffer on a thread.
fn collect(mut stream: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let sink = buffer.clone();
    let handle = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.lock().unwrap_or_else(PoisonError::into_inner).extend(&chunk[..n]),
            }
        }
    });
    (buffer, handle)
}

/// The text collected so far (decoded only now, so no character is split).
fn text(buffer: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

fn lock(buffer: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    buffer.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a finished `cairn` command printed and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    /// The command line, for messages.
    pub command: String,
    /// How it exited.
    pub status: ExitStatus,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

impl CliOutput {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with everything it printed unless it exited with status 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "`{}` failed:\n{}", self.command, self.describe());
        self
    }

    /// Panics unless it exited with a non-zero status and `stderr` contains `needle`.
    #[track_caller]
    pub fn assert_failure_with(&self, needle: &str) -> &Self {
        assert!(
            !self.success(),
            "`{}` should have failed (with {needle:?}) but succeeded:\n{}",
            self.command,
            self.describe()
        );
        assert!(
            self.stderr.contains(needle),
            "`{}` failed, but its stderr does not mention {needle:?}:\n{}",
            self.command,
            self.describe()
        );
        self
    }

    /// The JSON value printed on stdout (`--json` prints one value).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        parse_json(&self.stdout)
            .unwrap_or_else(|e| panic!("`{}`: {e:#}\n{}", self.command, self.describe()))
    }

    /// The exit status and both streams, for assertion messages.
    pub fn describe(&self) -> String {
        format!("status: {}\nstdout:\n{}\nstderr:\n{}", self.status, self.stdout, self.stderr)
    }
}

/// Parses the JSON value a `--json` command printed (surrounding whitespace allowed).
pub fn parse_json(text: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(text.trim())
        .with_context(|| format!("stdout is not one JSON value: {text:?}"))
}

/// A path as a command-line argument (temporary directories are UTF-8).
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Runs `cairn ARGS --node URL` against `node`.
#[track_caller]
pub fn on(node: &Node, args: &[&str]) -> CliOutput {
    let url = node.url();
    cairn(args.iter().copied().chain(["--node", url.as_str()]))
}

/// Runs `cairn ARGS` to completion within [`COMMAND_TIMEOUT`].
#[track_caller]
pub fn cairn<I, S>(args: I) -> CliOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    cairn_with_timeout(args, COMMAND_TIMEOUT)
}

/// Runs `cairn ARGS` to completion; kills it and panics if it takes longer than `timeout`.
#[track_caller]
pub fn cairn_with_timeout<I, S>(args: I, timeout: Duration) -> CliOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_os_string()).collect();
    let command_line =
        format!("cairn {}", args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "));
    let child = cairn_command()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{command_line}`: {e}"));
    let mut guard = ChildGuard { child: Some(child) };
    let (stdout, stdout_thread) = collect(guard.child().stdout.take().expect("stdout is piped"));
    let (stderr, stderr_thread) = collect(guard.child().stderr.take().expect("stderr is piped"));
    let status = guard.wait_timeout(timeout).expect("cannot wait for a cairn command");
    let Some(status) = status else {
        let _ = guard.kill();
        panic!(
            "`{command_line}` did not finish within {timeout:?}; stdout:\n{}\nstderr:\n{}",
            text(&stdout),
            text(&stderr)
        );
    };
    // The streams reach end of file once the process has exited.
    let _ = stdout_thread.join();
    let _ = stderr_thread.join();
    let stdout = text(&stdout);
    let stderr = text(&stderr);
    CliOutput { command: command_line, status, stdout, stderr }
}

/// How `cairn up` gets its ledger.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// The data directory already holds a ledger.
    Existing,
    /// `--demo`: create the demo consortium on first start and populate it.
    Demo,
    /// `--genesis FILE`.
    Genesis(&'a Path),
}

/// A running `cairn up` child process. Dropping it kills the process.
#[derive(Debug)]
pub struct Node {
    guard: ChildGuard,
    addr: SocketAddr,
    data_dir: PathBuf,
    lines: mpsc::Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stdout_thread: Option<JoinHandle<()>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
}

/// How a node ended, and what it printed.
#[derive(Debug)]
pub struct Stopped {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything on stdout.
    pub stdout: String,
    /// Everything on stderr.
    pub stderr: String,
}

/// Reads lines from a child's stdout, forwarding each to a channel and keeping a copy.
fn forward_lines(
    stream: ChildStdout,
) -> (mpsc::Receiver<String>, Arc<Mutex<String>>, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel();
    let copy = Arc::new(Mutex::new(String::new()));
    let sink = copy.clone();
    let handle = std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            {
                let mut all = lock(&sink);
                all.push_str(&line);
                all.push('\n');
            }
            // The receiver may be gone once the test stopped caring.
            let _ = sender.send(line);
        }
    });
    (receiver, copy, handle)
}

impl Node {
    /// Starts `cairn up --data-dir DATA_DIR --listen 127.0.0.1:0` and waits for
    /// its `listening on ADDR` line. With [`Start::Demo`] it also waits until
    /// the demo consortium is populated.
    pub fn start(data_dir: &Path, start: Start<'_>) -> anyhow::Result<Node> {
        Node::start_with_args(data_dir, start, &[])
    }

    /// Like [`Node::start`], with extra arguments for `cairn up`.
    pub fn start_with_args(
        data_dir: &Path,
        start: Start<'_>,
        extra: &[&str],
    ) -> anyhow::Result<Node> {
        let mut command = cairn_command();
        let _ = command
            .arg("up")
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match start {
            Start::Existing => {}
            Start::Demo => {
                let _ = command.arg("--demo");
            }
            Start::Genesis(path) => {
                let _ = command.arg("--genesis").arg(path);
            }
        }
        let child = command.spawn().context("cannot start `cairn up`")?;
        let mut guard = ChildGuard { child: Some(child) };
        let (lines, stdout, stdout_thread) =
            forward_lines(guard.child().stdout.take().expect("stdout is piped"));
        let (stderr, stderr_thread) =
            collect(guard.child().stderr.take().expect("stderr is piped"));
        let mut node = Node {
            guard,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.to_path_buf(),
            lines,
            stdout,
            stdout_thread: Some(stdout_thread),
            stderr,
            stderr_thread: Some(stderr_thread),
        };
        let line = node.wait_for_line(|line| line.starts_with("listening on "), START_TIMEOUT)?;
        // The address is the first word; a suffix such as " (TLS)" may follow.
        let addr = line.trim_start_matches("listening on ").split_whitespace().next().unwrap_or("");
        node.addr = addr
            .parse()
            .with_context(|| format!("`cairn up` printed an unreadable address {addr:?}"))?;
        if matches!(start, Start::Demo) {
            let _ = node.wait_for_line(|line| line.contains(" is up on "), START_TIMEOUT)?;
        }
        Ok(node)
    }

    /// Waits for a stdout line that satisfies `wanted`, skipping others.
    pub fn wait_for_line(
        &mut self,
        wanted: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return Ok(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    bail!(
                        "`cairn up` printed no awaited line within {timeout:?}; stdout:\n{}\nstderr:\n{}",
                        lock(&self.stdout),
                        text(&self.stderr)
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Stdout closed: the process is exiting; report how.
                    let status = self.guard.wait_timeout(Duration::from_secs(10))?;
                    if let Some(handle) = self.stderr_thread.take() {
                        let _ = handle.join();
                    }
                    bail!(
                        "`cairn up` exited ({}) before printing the awaited line; stdout:\n{}\nstderr:\n{}",
                        status.map_or("still running".to_string(), |s| s.to_string()),
                        lock(&self.stdout),
                        text(&self.stderr)
                    )
                }
            }
        }
    }

    /// The gRPC address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The node URL for `--node` and gRPC clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Its ledger log file.
    pub fn log_path(&self) -> PathBuf {
        self.data_dir.join("ledger.log")
    }

    /// What it printed on stderr so far.
    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }

    fn finish(mut self, status: ExitStatus) -> Stopped {
        for handle in [self.stdout_thread.take(), self.stderr_thread.take()].into_iter().flatten() {
            let _ = handle.join();
        }
        Stopped { status, stdout: lock(&self.stdout).clone(), stderr: text(&self.stderr) }
    }

    /// Stops it gracefully with SIGTERM and waits for it to exit; kills it and
    /// fails if it does not exit within [`COMMAND_TIMEOUT`].
    pub fn stop(mut self) -> anyhow::Result<Stopped> {
        let child = self.guard.child();
        let pid = rustix::process::Pid::from_child(child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM)
            .context("cannot send SIGTERM to the node")?;
        match self.guard.wait_timeout(COMMAND_TIMEOUT)? {
            Some(status) => Ok(self.finish(status)),
            None => {
                let _ = self.guard.kill();
                let stderr = self.stderr();
                Err(format_err!(
                    "the node did not stop within {COMMAND_TIMEOUT:?} of SIGTERM; stderr:\n{stderr}"
                ))
            }
        }
    }

    /// Stops it with SIGTERM and panics unless it exits with status 0.
    #[track_caller]
    pub fn stop_cleanly(self) -> Stopped {
        let stopped = self.stop().unwrap_or_else(|e| panic!("{e:#}"));
        assert!(
            stopped.status.success(),
            "the node exited with {} after SIGTERM; stderr:\n{}",
            stopped.status,
            stopped.stderr
        );
        stopped
    }

    /// Kills it with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill(mut self) -> anyhow::Result<Stopped> {
        let status = self.guard.kill().context("cannot kill the node")?;
        Ok(self.finish(status))
    }
}

/// SplitMix64: a small deterministic generator, so that a failing round can be
/// reproduced from its seed.
#[derive(Clone, Debug)]
pub struct Prng(u64);

impl Prng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Prng {
        Prng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high, "empty range {low}..={high}");
        low + self.next_u64() % (high - low + 1)
    }
}

/// Connects a gRPC client to a node URL (`http://ADDR`).
pub async fn connect(url: &str) -> anyhow::Result<LedgerClient<Channel>> {
    let channel = Channel::from_shared(url.to_string())
        .with_context(|| format!("{url:?} is not a valid URL"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    Ok(LedgerClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(64 * 1024 * 1024))
}

/// A signed envelope and the id the node will give it (SHA-256 of the payload).
#[derive(Clone, Debug)]
pub struct Envelope {
    /// The encoded `cairn.v1.TxEnvelope`.
    pub bytes: Vec<u8>,
    /// The transaction id, as 64 hex digits.
    pub tx_id: String,
}

fn seal(
    chain_id: &str,
    creator: &KeyPair,
    nonce: &[u8],
    body: pb::tx_payload::Body,
    endorsers: &[(&str, &KeyPair)],
) -> Envelope {
    let draft =
        TxDraft { chain_id: chain_id.to_string(), nonce: nonce.to_vec(), timestamp_ms: 1, body };
    let payload = draft.payload(&creator.signing_public_key());
    let tx_id = anchor_chaincode::TxId::of_payload(&payload).to_string();
    let endorsers: Vec<_> = endorsers.iter().map(|(org, key)| (*org, key.signing_key())).collect();
    Envelope { bytes: tx::seal(payload, creator.signing_key(), &endorsers), tx_id }
}

/// A `RegisterIdentity` of `identity` in `organisation`, endorsed by `endorser` speaking for `endorser_org`.
pub fn register_envelope(
    chain_id: &str,
    identity: &KeyPair,
    name: &str,
    organisation: &str,
    role: Role,
    (endorser_org, endorser): (&str, &KeyPair),
) -> Envelope {
    let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
        name: name.to_string(),
        organisation: organisation.to_string(),
        role: tx::role_to_pb(role).into(),
        signing_public_key: identity.signing_public_key().to_vec(),
        encryption_public_key: identity.encryption_public_key().to_vec(),
    });
    seal(chain_id, identity, b"register", body, &[(endorser_org, endorser)])
}

/// A `PublishAsset` of `asset_id` at `version`, signed by `publisher`; `nonce`
/// makes equal bodies distinct.
pub fn publish_envelope(
    chain_id: &str,
    publisher: &KeyPair,
    asset_id: &str,
    version: u64,
    metadata: Vec<u8>,
    nonce: &[u8],
) -> Envelope {
    let body = pb::tx_payload::Body::PublishAsset(pb::PublishAsset {
        asset_id: asset_id.to_string(),
        version,
        data_type: pb::DataType::Unstructured.into(),
        hash_algorithm: "sha256".into(),
        content_hash: vec![7; 32],
        size_bytes: 1024,
        metadata,
    });
    seal(chain_id, publisher, nonce, body, &[])
}

/// An `AnchorAccessEvents` of a log of `tree_size` events with `root_hash`,
/// signed by `creator`, with no consistency proof (a first anchor).
pub fn anchor_access_envelope(
    chain_id: &str,
    creator: &KeyPair,
    tree_size: u64,
    root_hash: [u8; 32],
) -> Envelope {
    let body = pb::tx_payload::Body::AnchorAccessEvents(pb::AnchorAccessEvents {
        tree_size,
        root_hash: root_hash.to_vec(),
        consistency_proof: Vec::new(),
    });
    seal(chain_id, creator, b"anchor", body, &[])
}

/// The protobuf number of the `VALID` validation code.
pub const VALID: i32 = pb::ValidationCode::Valid as i32;

/// Where the services the tests need are, and the one rule for a missing
/// one (fail when `CAIRN_REQUIRE_SERVICES=1`, skip loudly otherwise).
pub use connectors::testing::support;

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("cannot find a free loopback port")
}

/// A name no other test run uses: `prefix` plus the process id and the time.
pub fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000);
    format!("{prefix}{}x{nanos}", std::process::id())
}

/// Where signed requests to the node at `url` go: its chain id and the
/// address of its key, from its public node info.
pub async fn target(url: &str) -> anyhow::Result<(String, anchor_chaincode::Address)> {
    let info = connect(url).await?.get_node_info(pb::GetNodeInfoRequest {}).await?.into_inner();
    let node = info.node_address.parse().map_err(|e: String| format_err!(e))?;
    Ok((info.chain_id, node))
}

/// A version 2 envelope signed by `key` for `method` and `body`, for the node
/// at `target` (see [`target`]).
pub fn sign_request(
    key: &KeyPair,
    target: &(String, anchor_chaincode::Address),
    method: &str,
    body: &[u8],
    timestamp_ms: u64,
    nonce: [u8; 16],
) -> Vec<u8> {
    let destination = access_control::request::Destination { chain_id: &target.0, node: target.1 };
    access_control::request::SignedRequest::sign(
        key.signing_key(),
        &destination,
        method,
        body,
        timestamp_ms,
        nonce,
    )
    .encode()
}

/// `n` signed `VerifyDataHash` requests for `asset_id`'s latest version,
/// `in_flight` at a time, signed by `key`; each result is the access event id
/// the node answered with, or its refusal.
pub async fn verify_data_hash_many(
    url: &str,
    key: &KeyPair,
    asset_id: &str,
    content_hash: &[u8],
    n: usize,
    in_flight: usize,
) -> Vec<Result<String, tonic::Status>> {
    const METHOD: &str = "/cairn.v1.Access/VerifyDataHash";
    let Ok(target) = target(url).await else {
        return (0..n).map(|_| Err(tonic::Status::unavailable("cannot read node info"))).collect();
    };
    let channel = Channel::from_shared(url.to_string()).expect("a valid URL").connect().await;
    let Ok(channel) = channel else {
        return (0..n).map(|_| Err(tonic::Status::unavailable("cannot connect"))).collect();
    };
    let client = cairn_schemas::v1::access_client::AccessClient::new(channel);
    let mut results = Vec::with_capacity(n);
    let mut set = tokio::task::JoinSet::new();
    let mut sent = 0;
    while results.len() < n {
        while sent < n && set.len() < in_flight {
            let mut client = client.clone();
            let message = pb::VerifyDataHashRequest {
                asset_id: asset_id.into(),
                version: 0,
                content_hash: content_hash.to_vec(),
            };
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&(sent as u64).to_be_bytes());
            nonce[8..].copy_from_slice(&now.to_be_bytes());
            let envelope = sign_request(
                key,
                &target,
                METHOD,
                &prost::Message::encode_to_vec(&message),
                now,
                nonce,
            );
            let mut request = tonic::Request::new(message);
            let _ = request.metadata_mut().insert_bin(
                access_control::request::AUTH_METADATA_KEY,
                tonic::metadata::MetadataValue::from_bytes(&envelope),
            );
            let _ = set.spawn(async move {
                client.verify_data_hash(request).await.map(|r| r.into_inner().event_id)
            });
            sent += 1;
        }
        match set.join_next().await {
            Some(Ok(result)) => results.push(result),
            Some(Err(e)) => results.push(Err(tonic::Status::internal(e.to_string()))),
            None => break,
        }
    }
    results
}
