//! A node's log altered after the fact: one transaction of an early block
//! changed in the node's own ledger file, and the frame re-checksummed so
//! the file itself verifies. The node had cosigned a checkpoint covering that
//! block; restarted, it replays the altered log, finds another root at the
//! size it cosigned, and stops instead of serving the fork, naming the size
//! and both roots.

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_schemas::v1 as pb;
use cairn_tests::{Node, Start};
use prost::Message as _;

/// The byte ranges of the frames of an embedded ledger log
/// (`magic, len, header crc, payload crc, payload`; see connectors' embedded log).
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= bytes.len() {
        assert_eq!(&bytes[at..at + 4], b"CRN1", "a frame at byte {at} has no magic");
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        out.push((at, at + 16 + len));
        at += 16 + len;
    }
    assert_eq!(at, bytes.len(), "the log ends inside a frame");
    out
}

/// Changes the first transaction of record `offset` (a batch): one bit of
/// its creator signature, then writes the frame back with fresh checksums.
fn alter_record(log: &Path, offset: usize) {
    let bytes = std::fs::read(log).unwrap();
    let frames = frames(&bytes);
    let (start, end) = frames[offset];
    let mut record = pb::LogRecord::decode(&bytes[start + 16..end]).unwrap();
    let Some(pb::log_record::Kind::Batch(batch)) = record.kind.as_mut() else {
        panic!("record {offset} is not a batch")
    };
    let mut envelope = pb::TxEnvelope::decode(batch.transactions[0].as_slice()).unwrap();
    envelope.signature[0] ^= 1;
    batch.transactions[0] = envelope.encode_to_vec();
    let payload = record.encode_to_vec();
    let mut frame = Vec::with_capacity(16 + payload.len());
    frame.extend_from_slice(b"CRN1");
    frame.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
    let header_crc = crc32c::crc32c(&frame);
    frame.extend_from_slice(&header_crc.to_le_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    let mut altered = bytes[..start].to_vec();
    altered.extend_from_slice(&frame);
    altered.extend_from_slice(&bytes[end..]);
    std::fs::write(log, altered).unwrap();
}

#[test]
fn a_node_stops_on_its_own_log_altered_after_it_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let node = Node::start(&data, Start::Demo).expect("demo node");
    // The node cosigns its newest block within a fraction of a second.
    let cosigned_path = data.join("cosigned");
    let deadline = Instant::now() + Duration::from_secs(60);
    let cosigned: serde_json::Value = loop {
        if let Ok(bytes) = std::fs::read(&cosigned_path) {
            break serde_json::from_slice(&bytes).unwrap();
        }
        assert!(Instant::now() < deadline, "the node never cosigned");
        std::thread::sleep(Duration::from_millis(100));
    };
    let size = cosigned["size"].as_u64().unwrap();
    assert!(size > 1, "{cosigned}");
    let log = node.log_path();
    let _ = node.stop_cleanly();
    // It may have cosigned newer blocks before it stopped: what it kept last counts.
    let cosigned: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cosigned_path).unwrap()).unwrap();

    // Record 0 is the genesis; record 1 the first block, inside the cosigned size.
    alter_record(&log, 1);
    let refused = Node::start(&data, Start::Existing).expect_err("the node served an altered log");
    let message = format!("{refused:#}");
    assert!(message.contains("differs from what this node cosigned"), "{message}");
    let kept = cosigned["size"].as_u64().unwrap();
    assert!(message.contains(&format!("at size {kept}")), "{message}");
    assert!(message.contains(cosigned["log_root"].as_str().unwrap()), "{message}");
    assert!(message.contains("stops rather than serve a fork"), "{message}");

    // The log file itself verifies: the refusal is the cosigned root, not a checksum.
    assert!(!message.contains("checksum"), "{message}");
}
