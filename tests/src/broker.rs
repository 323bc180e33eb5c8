//! A Kafka-protocol broker (nisshi) of a test's own, on a loopback port.
//!
//! Most tests share the broker `scripts/test` starts
//! ([`support::kafka`](crate::support::kafka)); a test that must restart the
//! broker, or wants one nobody else writes to, starts its own with
//! [`Broker::start`] from the binary [`support::nisshi`](crate::support::nisshi) finds.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;

/// How long a broker may take to accept connections.
const BROKER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `nisshi broker` child process; dropping it kills the process.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    port: u16,
}

impl Broker {
    /// Starts `nisshi broker` on 127.0.0.1:`port` with `storage` (such as
    /// `memory://nisshi/` or a `postgres://` URL) and waits until it accepts
    /// connections; panics if it does not within 30 seconds.
    pub fn start(nisshi: &Path, port: u16, storage: &str) -> Broker {
        let listener = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(nisshi)
            .args(["broker", "--listener-url", &listener, "--advertised-listener-url", &listener])
            .args(["--storage-engine", storage, "--group-initial-rebalance-delay", "0s"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", nisshi.display()));
        let broker = Broker { child, port };
        let deadline = Instant::now() + BROKER_START_TIMEOUT;
        while !support::answers(&broker.brokers()) {
            assert!(Instant::now() < deadline, "the broker did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    /// Starts a broker that keeps its log in memory, on a free port.
    pub fn in_memory(nisshi: &Path) -> Broker {
        Broker::start(nisshi, crate::free_port(), "memory://nisshi/")
    }

    /// Its bootstrap servers, `127.0.0.1:PORT`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills it with SIGKILL and reaps it.
    pub fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        // Killing a broker that already exited is not an error worth reporting.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill_now();
    }
}
