//! `cairn up` as a child process: started on a free loopback port, its
//! `listening on` line awaited, stopped with SIGTERM or killed.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, format_err};

use crate::child::{ChildGuard, collect, lock, text};
use crate::cli::{COMMAND_TIMEOUT, cairn_command};

/// How long a node may take to print `listening on` (it replays its log first).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

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
    http_addr: Option<SocketAddr>,
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
            http_addr: None,
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
        if extra.contains(&"--http-listen") {
            // Printed right after the gRPC address.
            let line =
                node.wait_for_line(|line| line.starts_with("http listening on "), START_TIMEOUT)?;
            let addr = line.trim_start_matches("http listening on ").trim();
            node.http_addr = Some(addr.parse().with_context(|| {
                format!("`cairn up` printed an unreadable HTTP address {addr:?}")
            })?);
        }
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

    /// The HTTP address, when it was started with `--http-listen`.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
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

    /// Waits up to `timeout` for it to exit by itself; fails (and kills it)
    /// if it is still running then.
    pub fn wait_exit(mut self, timeout: Duration) -> anyhow::Result<Stopped> {
        match self.guard.wait_timeout(timeout)? {
            Some(status) => Ok(self.finish(status)),
            None => {
                let _ = self.guard.kill();
                Err(format_err!(
                    "the node was still running after {timeout:?}; stderr:\n{}",
                    self.stderr()
                ))
            }
        }
    }

    /// Kills it with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill(mut self) -> anyhow::Result<Stopped> {
        let status = self.guard.kill().context("cannot kill the node")?;
        Ok(self.finish(status))
    }
}
