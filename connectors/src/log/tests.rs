//! Tests of the ledger log: the public contract suite
//! ([`crate::testing::log_contract`]) on the in-crate backends and their
//! wrappers, then the file backend's recovery, corruption, locking and
//! group-commit behaviour.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;

use tempfile::TempDir;

use super::*;
use crate::Error;
use crate::testing::log_contract;

/// The frame header size, as the tests compute file layouts.
const HEADER: u64 = 16;

fn rec(offset: u64, bytes: &[u8]) -> Record {
    Record { offset, bytes: bytes.to_vec() }
}

fn temp_log() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.log");
    (dir, path)
}

/// The payloads the recovery tests write: distinct, non-empty, no 0xff bytes.
fn payloads() -> Vec<Vec<u8>> {
    vec![b"first record".to_vec(), b"the middle one".to_vec(), b"last!".to_vec()]
}

/// Writes `payloads` to a fresh log at `path` and returns each frame's start.
fn write_log(path: &Path, payloads: &[Vec<u8>]) -> Vec<u64> {
    let log = EmbeddedLog::open(path).unwrap();
    for payload in payloads {
        log.append(&[payload]).unwrap();
    }
    let mut starts = Vec::new();
    let mut pos = 0;
    for payload in payloads {
        starts.push(pos);
        pos += HEADER + payload.len() as u64;
    }
    assert_eq!(fs::metadata(path).unwrap().len(), pos);
    starts
}

fn all_records(log: &dyn LedgerLog) -> Vec<Vec<u8>> {
    log.read(0, usize::MAX).unwrap().into_iter().map(|r| r.bytes).collect()
}

fn assert_corrupt(result: Result<EmbeddedLog>, record: u64, position: u64, context: &str) {
    match result {
        Err(Error::Corrupt { record: r, position: p, .. }) => {
            assert_eq!((r, p), (record, position), "{context}");
        }
        other => panic!("{context}: expected Corrupt at record {record}, got {other:?}"),
    }
}

#[test]
fn contract_memory() {
    log_contract::run(&MemoryLog::new());
    log_contract::run(&*open("memory://").unwrap());
    log_contract::run(&Box::new(MemoryLog::named("boxed")));
}

#[test]
fn contract_embedded() {
    let (_dir, path) = temp_log();
    log_contract::run(&EmbeddedLog::open(&path).unwrap());
    let (_dir, path) = temp_log();
    log_contract::run(&Arc::new(EmbeddedLog::open(&path).unwrap()));
    let (_dir, path) = temp_log();
    log_contract::run(&*open(path.to_str().unwrap()).unwrap());
}

#[test]
fn reopen_keeps_every_record() {
    let (_dir, path) = temp_log();
    let expected: Vec<Vec<u8>> = (0..300u32).map(|i| format!("record {i}").into_bytes()).collect();
    {
        let log = EmbeddedLog::open(&path).unwrap();
        for chunk in expected.chunks(7) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            log.append(&refs).unwrap();
        }
    }
    let log = EmbeddedLog::open(&path).unwrap();
    assert_eq!(log.next_offset(), 300);
    assert_eq!(all_records(&log), expected);
    assert_eq!(log.append(&[b"more"]).unwrap(), 300);
    drop(log);
    let log = EmbeddedLog::open(&path).unwrap();
    assert_eq!(log.next_offset(), 301);
    assert_eq!(log.read(300, 1).unwrap(), vec![rec(300, b"more")]);
}

#[test]
fn concurrent_appends_memory() {
    let calls = log_contract::concurrent_appends(Arc::new(MemoryLog::new()));
    assert!(calls > 0);
}

#[test]
fn concurrent_appends_embedded_survive_reopen() {
    let (_dir, path) = temp_log();
    let log = Arc::new(EmbeddedLog::open(&path).unwrap());
    let calls = log_contract::concurrent_appends(log.clone());
    // Group commit shares fsyncs between concurrent calls, so there are at
    // most as many batches as calls (usually far fewer).
    let batches = log.batches_written();
    eprintln!("{calls} concurrent appends took {batches} fsyncs");
    assert!((1..=calls).contains(&batches));
    drop(log);
    // The same checks hold for what is on disk.
    let log = EmbeddedLog::open(&path).unwrap();
    assert_eq!(log.next_offset(), 4000);
    let records = log.read(0, usize::MAX).unwrap();
    let mut seen = std::collections::HashSet::new();
    assert!(records.iter().all(|r| seen.insert(r.bytes.clone())));
}

#[test]
fn torn_tail_at_every_cut_is_truncated() {
    let (_dir, path) = temp_log();
    let payloads = payloads();
    let starts = write_log(&path, &payloads);
    let original = fs::read(&path).unwrap();
    let last_start = *starts.last().unwrap();

    for cut in last_start + 1..original.len() as u64 {
        fs::write(&path, &original[..cut as usize]).unwrap();
        let log = EmbeddedLog::open(&path).unwrap();
        assert_eq!(log.next_offset(), 2, "cut at {cut}");
        assert_eq!(all_records(&log), payloads[..2], "cut at {cut}");
        assert_eq!(fs::metadata(&path).unwrap().len(), last_start, "cut at {cut}");
        assert_eq!(log.append(&[b"again"]).unwrap(), 2);
        drop(log);
        let log = EmbeddedLog::open(&path).unwrap();
        assert_eq!(log.read(0, 10).unwrap().len(), 3, "cut at {cut}");
        assert_eq!(log.read(2, 1).unwrap(), vec![rec(2, b"again")]);
    }
}

#[test]
fn zero_filled_tail_is_truncated() {
    let (_dir, path) = temp_log();
    let payloads = payloads();
    let starts = write_log(&path, &payloads);
    let original = fs::read(&path).unwrap();
    let last_start = *starts.last().unwrap() as usize;

    let mut cases: Vec<(String, Vec<u8>, usize)> = Vec::new();
    // Zeros appended after the last good record.
    for zeros in [1, 3, 4, 15, 16, 17, 21, 100, 70_000] {
        let mut bytes = original.clone();
        bytes.resize(bytes.len() + zeros, 0);
        cases.push((format!("{zeros} zeros appended"), bytes, 3));
    }
    // The last frame's payload never reached the disk.
    let mut bytes = original.clone();
    bytes[last_start + 16..].fill(0);
    cases.push(("zeroed last payload".to_owned(), bytes, 2));
    // The whole last frame never reached the disk.
    let mut bytes = original.clone();
    bytes[last_start..].fill(0);
    cases.push(("zeroed last frame".to_owned(), bytes, 2));
    // The last frame is zeros, plus more zeros after it.
    let mut bytes = original.clone();
    bytes[last_start..].fill(0);
    bytes.resize(bytes.len() + 5000, 0);
    cases.push(("zeroed last frame and more".to_owned(), bytes, 2));

    for (name, bytes, kept) in cases {
        fs::write(&path, &bytes).unwrap();
        let log = EmbeddedLog::open(&path).unwrap();
        assert_eq!(all_records(&log), payloads[..kept], "{name}");
        let good_len: usize = payloads[..kept].iter().map(|p| p.len() + 16).sum();
        assert_eq!(fs::metadata(&path).unwrap().len(), good_len as u64, "{name}");
        assert_eq!(log.append(&[b"again"]).unwrap(), kept as u64, "{name}");
        drop(log);
        let log = EmbeddedLog::open(&path).unwrap();
        assert_eq!(log.next_offset(), kept as u64 + 1, "{name}");
    }
}

#[test]
fn flipped_byte_in_middle_record_is_corrupt() {
    let (_dir, path) = temp_log();
    let payloads = payloads();
    let starts = write_log(&path, &payloads);
    let original = fs::read(&path).unwrap();
    let (start, end) = (starts[1], starts[2]);

    for pos in start..end {
        let mut bytes = original.clone();
        bytes[pos as usize] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert_corrupt(EmbeddedLog::open(&path), 1, start, &format!("byte {pos} flipped"));
        // The file is left exactly as it was found.
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn flipped_byte_in_last_record_is_corrupt() {
    let (_dir, path) = temp_log();
    let payloads = payloads();
    let starts = write_log(&path, &payloads);
    let original = fs::read(&path).unwrap();
    let start = starts[2];

    for pos in start..original.len() as u64 {
        let mut bytes = original.clone();
        bytes[pos as usize] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert_corrupt(EmbeddedLog::open(&path), 2, start, &format!("byte {pos} flipped"));
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }
}

#[test]
fn corrupt_first_record_is_reported_even_with_zeros_after_it() {
    let (_dir, path) = temp_log();
    let payloads = payloads();
    let starts = write_log(&path, &payloads);
    let mut bytes = fs::read(&path).unwrap();
    // Damage the first payload and zero everything after it: the damage is
    // not at the tail, so it must not be mistaken for a torn write.
    bytes[17] ^= 0x01;
    bytes[starts[1] as usize..].fill(0);
    fs::write(&path, &bytes).unwrap();
    assert_corrupt(EmbeddedLog::open(&path), 0, 0, "first payload damaged");
}

#[test]
fn corrupt_empty_last_record_is_reported() {
    let (_dir, path) = temp_log();
    {
        let log = EmbeddedLog::open(&path).unwrap();
        log.append(&[b"x", b""]).unwrap();
    }
    let mut bytes = fs::read(&path).unwrap();
    // The empty record's payload checksum is its last four bytes.
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    assert_corrupt(EmbeddedLog::open(&path), 1, 17, "empty payload, bad checksum");
}

#[test]
fn partial_header_that_is_not_a_header_is_corrupt() {
    let (_dir, path) = temp_log();
    let payloads = payloads();
    write_log(&path, &payloads);
    let mut bytes = fs::read(&path).unwrap();
    let len = bytes.len() as u64;
    bytes.extend_from_slice(b"junk");
    fs::write(&path, &bytes).unwrap();
    assert_corrupt(EmbeddedLog::open(&path), 3, len, "junk after the last record");
}

#[test]
fn corruption_message_names_record_and_byte() {
    let error = Error::Corrupt {
        path: "/x/ledger.log".into(),
        record: 17,
        position: 40960,
        reason: "payload checksum mismatch".into(),
    };
    assert_eq!(
        error.to_string(),
        "log /x/ledger.log is corrupt at record 17 (byte 40960): payload checksum mismatch"
    );
}

#[test]
fn read_verifies_checksums() {
    let (_dir, path) = temp_log();
    let log = EmbeddedLog::open(&path).unwrap();
    log.append(&[b"one", b"two"]).unwrap();
    // Damage the second payload behind the open log's back.
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    assert_eq!(log.read(0, 1).unwrap(), vec![rec(0, b"one")]);
    match log.read(0, 2) {
        Err(Error::Corrupt { record: 1, position: 19, reason, .. }) => {
            assert_eq!(reason, "payload checksum mismatch");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn oversized_append_is_rejected_without_writing() {
    let (_dir, path) = temp_log();
    let log = EmbeddedLog::open(&path).unwrap();
    log.append(&[b"before"]).unwrap();
    let len_before = fs::metadata(&path).unwrap().len();

    let huge = vec![7; MAX_RECORD_LEN + 1];
    let error = log.append(&[b"small", &huge]).unwrap_err();
    assert!(matches!(error, Error::RecordTooLarge { index: 1, .. }), "{error:?}");
    assert!(error.to_string().contains("nothing was written"), "{error}");
    assert_eq!(fs::metadata(&path).unwrap().len(), len_before);
    assert_eq!(log.next_offset(), 1);

    // The largest allowed record goes through and reads back.
    let max = vec![9; MAX_RECORD_LEN];
    assert_eq!(log.append(&[&max]).unwrap(), 1);
    drop(log);
    let log = EmbeddedLog::open(&path).unwrap();
    assert_eq!(log.read(1, 1).unwrap()[0].bytes.len(), MAX_RECORD_LEN);
}

#[test]
fn second_open_fails_as_locked() {
    let (_dir, path) = temp_log();
    let log = EmbeddedLog::open(&path).unwrap();
    let error = EmbeddedLog::open(&path).unwrap_err();
    assert!(matches!(error, Error::Locked { .. }), "{error:?}");
    assert!(error.to_string().contains("is in use by another process"), "{error}");
    drop(log);
    EmbeddedLog::open(&path).unwrap();
}

#[test]
fn failed_fsync_fails_every_waiter_and_poisons() {
    let (_dir, path) = temp_log();
    let log = Arc::new(EmbeddedLog::open(&path).unwrap());
    log.append(&[b"durable"]).unwrap();
    log.fail_next_write();

    let barrier = Arc::new(Barrier::new(8));
    let results: Vec<Result<u64>> = (0..8)
        .map(|_| {
            let log = Arc::clone(&log);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                log.append(&[b"never acknowledged"])
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect();
    // The first batch written fails, and nothing is written after it.
    assert!(results.iter().all(Result::is_err), "{results:?}");
    assert!(results.iter().any(|r| matches!(r, Err(Error::Io { action: "fsync", .. }))));

    let error = log.append(&[b"later"]).unwrap_err();
    assert!(matches!(error, Error::Poisoned { .. }), "{error:?}");
    assert!(error.to_string().contains("injected fsync failure"), "{error}");
    assert!(log.append(&[]).is_err());
    // What was durable before stays readable.
    assert_eq!(log.next_offset(), 1);
    assert_eq!(log.read(0, 10).unwrap(), vec![rec(0, b"durable")]);

    drop(log);
    let log = EmbeddedLog::open(&path).unwrap();
    assert_eq!(log.append(&[b"after reopen"]).unwrap(), 1);
}

#[test]
fn creates_missing_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/ledger.log");
    let log = EmbeddedLog::open(&path).unwrap();
    log.append(&[b"x"]).unwrap();
    assert!(path.is_file());
    assert_eq!(log.path(), path);
}

#[test]
fn directory_is_not_a_log() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(EmbeddedLog::open(dir.path()), Err(Error::Io { .. })));
}

#[test]
fn open_picks_backend_from_url() {
    let dir = tempfile::tempdir().unwrap();

    let memory = open("memory://").unwrap();
    assert!(format!("{memory:?}").contains("MemoryLog"));
    let named = open("memory://ledger-a").unwrap();
    assert!(format!("{named:?}").contains("ledger-a"));
    named.append(&[b"x"]).unwrap();
    // Names are labels only: every open is a fresh log.
    assert_eq!(open("memory://ledger-a").unwrap().next_offset(), 0);

    let path = dir.path().join("with space.log");
    let url = format!("file://{}", dir.path().join("with%20space.log").display());
    let log = open(&url).unwrap();
    log.append(&[b"x"]).unwrap();
    assert!(format!("{log:?}").contains("EmbeddedLog"));
    drop(log);
    assert!(path.is_file());

    let localhost = format!("file://localhost{}", path.display());
    assert_eq!(open(&localhost).unwrap().next_offset(), 1);
    assert_eq!(open(path.to_str().unwrap()).unwrap().next_offset(), 1);
}

#[test]
fn unknown_or_malformed_urls_are_errors() {
    for url in [
        "s3://bucket/ledger.log",
        "postgres://db",
        "",
        "file://relative/path.log",
        "file://otherhost/abs.log",
        "file:///tmp/bad%zzescape.log",
        "file:///tmp/ledger.log?mode=ro",
        "file:///tmp/",
    ] {
        match open(url) {
            Err(error @ Error::InvalidUrl { .. }) => {
                assert!(error.to_string().contains(&format!("{url:?}")), "{error}");
            }
            other => panic!("{url:?}: expected InvalidUrl, got {other:?}"),
        }
    }
    let error = open("s3://bucket/ledger.log").err().unwrap();
    assert!(error.to_string().contains("unknown scheme \"s3\""), "{error}");
}

/// A `tracing` writer that keeps everything written to it.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn torn_tail_is_logged_without_payload_bytes() {
    let (_dir, path) = temp_log();
    let payloads = payloads();
    write_log(&path, &payloads);
    let len = fs::metadata(&path).unwrap().len();
    set_len(&path, len - 7);

    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let log = EmbeddedLog::open(&path).unwrap();
        log.append(&[b"secret payload"]).unwrap();
        log.read(0, 10).unwrap();
    });

    let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let dropped = HEADER + payloads[2].len() as u64 - 7;
    assert!(output.contains("WARN"), "{output}");
    assert!(output.contains(&format!("dropping {dropped} bytes")), "{output}");
    assert!(output.contains("n_records=1") && output.contains("offset=2"), "{output}");
    for payload in payloads.iter().map(Vec::as_slice).chain([&b"secret payload"[..]]) {
        assert!(!output.contains(std::str::from_utf8(payload).unwrap()), "{output}");
    }
}

fn set_len(path: &Path, len: u64) {
    fs::OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}
