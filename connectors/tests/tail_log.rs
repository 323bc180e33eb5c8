//! The read-only follower of an embedded log, against a real file that an
//! owner appends to. A test binary of its own: the embedded log's tests
//! capture its tracing output, which other threads opening logs would race.

use connectors::log::{EmbeddedLog, LedgerLog, TailLog};

#[test]
fn the_follower_serves_whole_frames_appended_by_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.log");
    let follower = TailLog::new(path.clone());
    assert_eq!(follower.next_offset(), 0, "a missing file is an empty log");
    let owner = EmbeddedLog::open(&path).unwrap();
    let _ = owner.append(&[b"zero", b"one"]).unwrap();
    assert_eq!(follower.next_offset(), 2);
    let records = follower.read(0, 10).unwrap();
    assert_eq!(
        records.iter().map(|r| r.bytes.as_slice()).collect::<Vec<_>>(),
        [b"zero".as_slice(), b"one".as_slice()]
    );
    let _ = owner.append(&[b"two"]).unwrap();
    assert_eq!(follower.read(2, 10).unwrap()[0].bytes, b"two");
    assert_eq!(follower.read(1, 1).unwrap().len(), 1);
    assert!(follower.read(3, 10).unwrap().is_empty());
    // A frame being written (a header whose payload is not there yet) is not served.
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        let mut header = Vec::from(*b"CRN1");
        header.extend_from_slice(&100u32.to_le_bytes());
        let crc = crc32c::crc32c(&header);
        header.extend_from_slice(&crc.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        file.write_all(&header).unwrap();
    }
    assert_eq!(follower.next_offset(), 3);
    assert!(follower.append(&[b"x"]).is_err(), "the follower is read-only");
}
