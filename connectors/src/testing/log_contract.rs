//! The behaviour every [`LedgerLog`] backend must have, as a suite any
//! backend's tests can run.
//!
//! [`run`] runs every check on one fresh, empty log, in order: each check
//! starts where the one before it left the log. The checks are public one by
//! one too, for a backend whose tests want to run them separately; each
//! documents the state it expects. [`concurrent_appends`] needs a log of its
//! own, shared between threads.
//!
//! ```
//! use connectors::log::MemoryLog;
//! use connectors::testing::log_contract;
//!
//! log_contract::run(&MemoryLog::new());
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use crate::Error;
use crate::log::{LedgerLog, MAX_RECORD_LEN, Record};

/// Runs every single-threaded check on `log`, which must be empty, in order.
///
/// Afterwards the log holds 1007 records.
pub fn run(log: &dyn LedgerLog) {
    starts_empty(log);
    appends_get_dense_offsets_in_order(log);
    reads_are_bounded_by_max_and_the_end(log);
    binary_records_come_back_byte_for_byte(log);
    oversized_appends_are_rejected_whole(log);
    large_groups_keep_their_order(log);
    read_wait_sees_a_later_append(log);
}

/// A record, for comparisons.
fn record(offset: u64, bytes: &[u8]) -> Record {
    Record { offset, bytes: bytes.to_vec() }
}

/// A read that must succeed.
#[track_caller]
fn read(log: &dyn LedgerLog, from: u64, max: usize) -> Vec<Record> {
    log.read(from, max).unwrap_or_else(|e| panic!("read({from}, {max}) failed: {e}"))
}

/// An append that must succeed; answers the first offset.
#[track_caller]
fn append(log: &dyn LedgerLog, records: &[&[u8]]) -> u64 {
    log.append(records)
        .unwrap_or_else(|e| panic!("append of {} records failed: {e}", records.len()))
}

/// An empty log is at offset 0, reads nothing anywhere, and an empty group
/// appended to it writes nothing.
pub fn starts_empty(log: &dyn LedgerLog) {
    assert_eq!(log.next_offset(), 0, "a fresh log is at offset 0");
    assert_eq!(read(log, 0, 10), vec![]);
    assert_eq!(read(log, 5, 10), vec![]);
    // An empty group writes nothing and reports where the next record goes.
    assert_eq!(append(log, &[]), 0);
    assert_eq!(log.next_offset(), 0);
}

/// Offsets start at 0 and are dense; a group keeps its order and gets
/// consecutive offsets; empty records are records. Expects an empty log and
/// leaves five records: `a`, `b`, (empty), `dd`, `e`.
pub fn appends_get_dense_offsets_in_order(log: &dyn LedgerLog) {
    assert_eq!(append(log, &[b"a"]), 0);
    assert_eq!(log.next_offset(), 1);
    assert_eq!(read(log, 0, 10), vec![record(0, b"a")]);

    assert_eq!(append(log, &[b"b", b"", b"dd"]), 1);
    assert_eq!(log.next_offset(), 4);
    assert_eq!(
        read(log, 0, 10),
        vec![record(0, b"a"), record(1, b"b"), record(2, b""), record(3, b"dd")]
    );
    assert_eq!(append(log, &[b"e"]), 4);
    // An empty group answers the next offset without taking it.
    assert_eq!(append(log, &[]), 5);
    assert_eq!(log.next_offset(), 5);
}

/// `max` limits the count, reads near the end return what exists, and reads
/// at or past the end return nothing. Expects the five records
/// [`appends_get_dense_offsets_in_order`] leaves.
pub fn reads_are_bounded_by_max_and_the_end(log: &dyn LedgerLog) {
    assert_eq!(read(log, 1, 2), vec![record(1, b"b"), record(2, b"")]);
    assert_eq!(read(log, 3, 10), vec![record(3, b"dd"), record(4, b"e")]);
    assert_eq!(read(log, 4, usize::MAX), vec![record(4, b"e")]);
    assert_eq!(read(log, 2, 0), vec![]);
    assert_eq!(read(log, 5, 10), vec![]);
    assert_eq!(read(log, u64::MAX, usize::MAX), vec![]);
}

/// Every byte value survives an append and a read. Appends one record at
/// offset 5.
pub fn binary_records_come_back_byte_for_byte(log: &dyn LedgerLog) {
    let binary: Vec<u8> = (0..=255).collect();
    assert_eq!(append(log, &[&binary]), 5);
    assert_eq!(read(log, 5, 1), vec![record(5, &binary)]);
}

/// A group holding a record larger than [`MAX_RECORD_LEN`] is rejected as a
/// whole with [`Error::RecordTooLarge`] naming the record and its size, and
/// nothing of it is written. Expects six records and leaves them.
pub fn oversized_appends_are_rejected_whole(log: &dyn LedgerLog) {
    let before = log.next_offset();
    let huge = vec![1; MAX_RECORD_LEN + 1];
    match log.append(&[b"ok", &huge]) {
        Err(error @ Error::RecordTooLarge { index: 1, len, max: MAX_RECORD_LEN })
            if len == MAX_RECORD_LEN + 1 =>
        {
            let message = error.to_string();
            assert!(message.contains(&(MAX_RECORD_LEN + 1).to_string()), "{message}");
            assert!(message.contains("nothing was written"), "{message}");
        }
        other => panic!("expected RecordTooLarge for record 1, got {other:?}"),
    }
    assert_eq!(log.next_offset(), before, "a rejected group writes nothing");
    assert_eq!(read(log, before, 10), vec![]);
}

/// A group of 1000 records lands in order at consecutive offsets. Expects six
/// records and leaves 1006.
pub fn large_groups_keep_their_order(log: &dyn LedgerLog) {
    let first = log.next_offset();
    let many: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_le_bytes().to_vec()).collect();
    let refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();
    assert_eq!(append(log, &refs), first);
    assert_eq!(log.next_offset(), first + 1000);
    let back = read(log, first, 2000);
    assert_eq!(back.len(), 1000);
    for ((offset, record), expected) in (first..).zip(&back).zip(&many) {
        assert_eq!(record.offset, offset);
        assert_eq!(&record.bytes, expected);
    }
}

/// [`LedgerLog::read_wait`] at the end returns nothing once its timeout is
/// over, returns what is already there, and sees a record appended while it
/// waits. Appends one record at the end.
pub fn read_wait_sees_a_later_append(log: &dyn LedgerLog) {
    let end = log.next_offset();
    let nothing = log.read_wait(end, 10, Duration::from_millis(100)).expect("read_wait at the end");
    assert_eq!(nothing, vec![]);
    if end > 0 {
        let there = log.read_wait(end - 1, 10, Duration::from_secs(30)).expect("read_wait");
        assert_eq!(there.first().map(|r| r.offset), Some(end - 1));
    }
    let seen = thread::scope(|scope| {
        let waiter = scope.spawn(|| log.read_wait(end, 10, Duration::from_secs(30)));
        thread::sleep(Duration::from_millis(200));
        assert_eq!(append(log, &[b"late"]), end);
        waiter.join().expect("the waiting reader panicked")
    })
    .expect("read_wait while another thread appends");
    assert_eq!(seen, vec![record(end, b"late")]);
}

/// Eight threads append 500 records each, in groups of one to three, and
/// read each group back at the offset its append answered; afterwards every
/// record is there exactly once, each thread's in its own order, each group
/// contiguous, offsets dense. `log` must be empty. Answers the number of
/// `append` calls made.
pub fn concurrent_appends(log: Arc<dyn LedgerLog>) -> u64 {
    const THREADS: u32 = 8;
    const PER_THREAD: u32 = 500;
    assert_eq!(log.next_offset(), 0, "concurrent_appends needs an empty log");
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|thread_idx| {
            let log = Arc::clone(&log);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let _ = barrier.wait();
                let mut calls = 0;
                let mut seq = 0;
                while seq < PER_THREAD {
                    // Groups of 1 to 3 records, so that group atomicity is exercised too.
                    let group = (seq % 3 + 1).min(PER_THREAD - seq);
                    let records: Vec<Vec<u8>> = (seq..seq + group)
                        .map(|s| format!("{thread_idx}:{s}").into_bytes())
                        .collect();
                    let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
                    let first = append(&*log, &refs);
                    let back = read(&*log, first, refs.len());
                    assert_eq!(
                        back.iter().map(|r| &r.bytes).collect::<Vec<_>>(),
                        records.iter().collect::<Vec<_>>(),
                        "the group appended at {first} reads back whole"
                    );
                    seq += group;
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let calls = handles
        .into_iter()
        .map(|handle| handle.join().expect("an appending thread panicked"))
        .sum();

    let total = u64::from(THREADS * PER_THREAD);
    assert_eq!(log.next_offset(), total);
    let records = read(&*log, 0, usize::MAX);
    assert_eq!(records.len() as u64, total);
    let mut last_seq: BTreeMap<u32, u32> = BTreeMap::new();
    for (offset, record) in (0..).zip(&records) {
        assert_eq!(record.offset, offset, "offsets are dense");
        let text = String::from_utf8(record.bytes.clone()).expect("records are text");
        let (thread_idx, seq) = text.split_once(':').expect("records are THREAD:SEQ");
        let thread_idx: u32 = thread_idx.parse().expect("a thread number");
        let seq: u32 = seq.parse().expect("a sequence number");
        let expected = last_seq.get(&thread_idx).map_or(0, |last| last + 1);
        assert_eq!(
            seq, expected,
            "thread {thread_idx}'s records are in order and each appears once"
        );
        let _ = last_seq.insert(thread_idx, seq);
    }
    assert_eq!(last_seq.len(), THREADS as usize);
    assert!(last_seq.values().all(|&seq| seq == PER_THREAD - 1));
    calls
}
