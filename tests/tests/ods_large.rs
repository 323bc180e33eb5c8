//! A 1 GiB file through `cairn sync` and `cairn data fetch` with peak
//! resident memory (the kernel's VmHWM of each process) checked to stay under
//! a fixed bound that does not depend on the input size.

use std::io::{Read, Write};
use std::path::Path;

use cairn_tests::{Node, Start, cairn};
use sha2::{Digest, Sha256};

const SIZE: u64 = 1 << 30;
/// The bound on either process's peak memory, far below the input size.
const PEAK_RSS_LIMIT: u64 = 256 << 20;

/// Writes `size` bytes of a xorshift stream; returns their SHA-256.
fn write_input(path: &Path, size: u64) -> [u8; 32] {
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    let mut written = 0;
    while written < size {
        for word in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&block).unwrap();
        hasher.update(&block);
        written += block.len() as u64;
    }
    file.flush().unwrap();
    hasher.finalize().into()
}

fn sha256_of(path: &Path) -> [u8; 32] {
    let mut file = std::fs::File::open(path).unwrap();
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut block).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&block[..n]);
    }
    hasher.finalize().into()
}

fn last_json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn a_gigabyte_syncs_and_fetches_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let node = Node::start(&data, Start::Demo).unwrap();
    let url = node.url();
    let input = dir.path().join("big.bin");
    let input_hash = write_input(&input, SIZE);
    let consumer = data.join("demo/civil-consumer.key");
    let consumer_address = cairn(["key", "show", consumer.to_str().unwrap(), "--json"])
        .assert_success()
        .json()["address"]
        .as_str()
        .unwrap()
        .to_string();
    cairn([
        "share",
        "create",
        "big",
        "--asset-id",
        "health/big-file",
        "--key",
        data.join("demo/health-provider.key").to_str().unwrap(),
        "--file",
        input.to_str().unwrap(),
        "--format",
        "raw",
        "--authorise",
        &consumer_address,
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .assert_success();
    let synced =
        cairn(["sync", "big", "--data-dir", data.to_str().unwrap(), "--node", &url, "--json"]);
    let synced = last_json(&synced.assert_success().stdout);
    assert_eq!(synced["bytes"], SIZE);
    let sync_peak = synced["peak_rss_bytes"].as_u64().unwrap();
    eprintln!("cairn sync of 1 GiB: peak RSS {} MiB", sync_peak >> 20);
    assert!(
        sync_peak < PEAK_RSS_LIMIT,
        "cairn sync peaked at {} MiB for a 1 GiB input",
        sync_peak >> 20
    );

    let output = dir.path().join("fetched.bin");
    let fetched = cairn([
        "data",
        "fetch",
        "health/big-file",
        "--key",
        consumer.to_str().unwrap(),
        "--out",
        output.to_str().unwrap(),
        "--node",
        &url,
        "--json",
    ]);
    let fetched = last_json(&fetched.assert_success().stdout);
    let fetch_peak = fetched["peak_rss_bytes"].as_u64().unwrap();
    eprintln!("cairn data fetch of 1 GiB: peak RSS {} MiB", fetch_peak >> 20);
    assert!(
        fetch_peak < PEAK_RSS_LIMIT,
        "cairn data fetch peaked at {} MiB for a 1 GiB object",
        fetch_peak >> 20
    );
    assert_eq!(std::fs::metadata(&output).unwrap().len(), SIZE);
    assert_eq!(sha256_of(&output), input_hash, "the fetched file differs from the input");
    node.stop_cleanly();
}
