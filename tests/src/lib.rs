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

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use access_control::keys::KeyPair;

mod broker;
mod child;
mod cli;
mod envelopes;
mod grpc;
mod node;
mod witness;

pub use broker::Broker;
pub use cli::{
    COMMAND_TIMEOUT, CliOutput, arg, cairn, cairn_bin, cairn_command, cairn_with_timeout, on,
    parse_json, workspace_dir,
};
pub use envelopes::{
    Envelope, VALID, anchor_access_envelope, publish_envelope, register_envelope,
    register_node_envelope,
};
pub use grpc::{connect, sign_request, target, verify_data_hash_many};
pub use node::{Node, START_TIMEOUT, Start, Stopped};
pub use witness::{WITNESS_NAME, Witness};

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

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A tokio runtime with two worker threads, for tests that are not async
/// themselves but talk gRPC to a node.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs `cairn genesis new` for a consortium `chain_id` of two organisations,
/// `ca` (the certificate authority) and `dept`, into `out_dir`; panics if it fails.
#[track_caller]
pub fn genesis_new(chain_id: &str, out_dir: &Path) -> CliOutput {
    let out = cairn([
        "genesis",
        "new",
        "--chain-id",
        chain_id,
        "--org",
        "ca",
        "--org",
        "dept",
        "--ca",
        "ca",
        "--out-dir",
        arg(out_dir),
    ]);
    let _ = out.assert_success();
    out
}

/// The address of the key in the file `key`.
#[track_caller]
pub fn key_address(key: &Path) -> String {
    KeyPair::load(key)
        .unwrap_or_else(|e| panic!("cannot load the key {}: {e}", key.display()))
        .address()
        .to_string()
}
