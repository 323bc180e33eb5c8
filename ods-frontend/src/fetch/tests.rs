//! Fetch from the in-memory node after a sync: the plaintext comes back
//! byte for byte, and a changed chunk or hash list leaves no file behind.

use access_control::keys::KeyPair;

use super::*;
use crate::memory::{MemoryLedger, MemoryNode, MemorySource, Tamper, raw_share};
use crate::store::SealedStore;
use crate::sync::{SyncJob, SyncOutcome};

struct Synced {
    store: SealedStore,
    ledger: MemoryLedger,
    reader: KeyPair,
    outsider: KeyPair,
    asset_id: String,
    input: Vec<u8>,
}

/// Syncs 1000 bytes (16 chunks of 64) shared with `reader`.
async fn synced() -> Synced {
    let publisher = KeyPair::generate().unwrap();
    let (reader, outsider) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let share = raw_share(&[&reader]);
    let store = SealedStore::from_url("memory://", &[]).unwrap();
    let mut ledger = MemoryLedger::default();
    for key in [&publisher, &reader, &outsider] {
        ledger.register(key);
    }
    let input: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
    let source = MemorySource { data: input.clone(), ..MemorySource::default() };
    let job = SyncJob { share: &share, publisher: &publisher, store: &store, clock: || 1 };
    let outcome = job.run(&mut ledger, &source, |_| {}).await.unwrap();
    assert!(matches!(outcome, SyncOutcome::Published(_)));
    Synced { store, ledger, reader, outsider, asset_id: share.asset_id, input }
}

async fn fetch_as(
    synced: &Synced,
    caller: &KeyPair,
    tamper: Tamper,
    out: &Path,
) -> Result<Fetched> {
    let mut node = MemoryNode {
        ledger: &synced.ledger,
        store: &synced.store,
        caller: caller.address(),
        tamper,
    };
    let request = FetchRequest {
        asset_id: &synced.asset_id,
        version: VersionSelector::Latest,
        reader: caller,
        out,
    };
    fetch(&mut node, &request).await
}

/// The names of the files in `dir`.
fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn a_fetch_writes_the_synced_bytes_verified_against_the_ledger() {
    let synced = synced().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("citizens.bin");

    let fetched = fetch_as(&synced, &synced.reader, Tamper::None, &out).await.unwrap();

    assert_eq!(std::fs::read(&out).unwrap(), synced.input);
    assert_eq!((fetched.version, fetched.bytes), (1, 1000));
    let on_ledger = &synced.ledger.versions_of(&synced.asset_id)[0];
    assert_eq!(fetched.content_hash.to_vec(), on_ledger.content_hash);
    // 16 chunks, each sealed with a tag and a length field, after the preamble.
    assert!(fetched.received_bytes > 1000 + 16 * 16, "{fetched:?}");
    assert_eq!(files_in(dir.path()), vec!["citizens.bin".to_string()]);
}

#[tokio::test]
async fn a_tampered_chunk_fails_the_fetch_by_its_index_and_leaves_no_file() {
    let synced = synced().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("citizens.bin");
    // Past the preamble and the first chunks: inside chunk 5 or so.
    let error = fetch_as(&synced, &synced.reader, Tamper::FlipByte(500), &out).await.unwrap_err();

    let Error::NotWritten { version: 1, source, .. } = &error else { panic!("{error:?}") };
    assert!(
        matches!(**source, Error::ChunkCorrupt { .. } | Error::ChunkHashMismatch { .. }),
        "{source:?}"
    );
    let index = error.chunk_index().unwrap();
    assert!((4..8).contains(&index), "chunk {index}");
    assert!(error.to_string().ends_with("version 1 was not written"), "{error}");
    assert!(!out.exists());
    assert!(files_in(dir.path()).is_empty(), "{:?}", files_in(dir.path()));
}

#[tokio::test]
async fn a_short_hash_list_is_refused_before_anything_is_written() {
    let synced = synced().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("citizens.bin");

    let error = fetch_as(&synced, &synced.reader, Tamper::DropHash, &out).await.unwrap_err();

    assert!(matches!(error, Error::ChunkHashCount { sent: 15, expected: 16 }), "{error:?}");
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test]
async fn an_identity_without_a_grant_gets_no_data() {
    let synced = synced().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("citizens.bin");

    let error = fetch_as(&synced, &synced.outsider, Tamper::None, &out).await.unwrap_err();

    assert!(matches!(&error, Error::NoGrant { version: 1, .. }), "{error:?}");
    assert!(error.to_string().contains("no data key has been released to you"), "{error}");
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn a_hash_list_must_be_whole_hashes() {
    assert!(matches!(chunk_hashes(&[0; 33]), Err(Error::ChunkHashListLength { len: 33 })));
    assert_eq!(chunk_hashes(&[[1u8; 32], [2; 32]].concat()).unwrap(), vec![[1; 32], [2; 32]]);
}
