//! The `cairn` binary under test: found or built once, run as a command
//! with a time limit, its output checked.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::Node;
use crate::child::{ChildGuard, collect, text};

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
