//! Sealed objects through the store port: round trips through memory and a
//! local directory, write-once publication, tampering on disk, and staging
//! clean-up.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;
use ods_frontend::Error;
use ods_frontend::aead::{ChunkCipher, DataKey, default_cipher, ring_cipher, rustcrypto_cipher};
use ods_frontend::pipeline::PipelineConfig;
use ods_frontend::store::{STAGING_PREFIX, SealedStore};
use ods_frontend::transfer::{ExpectedContent, open_from_store, seal_to_store};

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8).collect()
}

fn cipher() -> Arc<dyn ChunkCipher> {
    Arc::from(default_cipher(&DataKey::from_bytes([9; 32])))
}

fn config(chunk_size: usize) -> PipelineConfig {
    PipelineConfig { chunk_size, workers: 2, max_in_flight: 4 }
}

fn local_store() -> (tempfile::TempDir, SealedStore) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ods");
    let store = SealedStore::from_url(&format!("file://{}", root.display()), &[]).unwrap();
    (dir, store)
}

/// Seals `plaintext` to `path`, reads it back, and checks the bytes.
async fn round_trip(store: &SealedStore, path: &str, plaintext: Vec<u8>, chunk_size: usize) {
    let len = plaintext.len();
    let (summary, meta) = seal_to_store(
        store,
        path,
        std::io::Cursor::new(plaintext.clone()),
        cipher(),
        config(chunk_size),
    )
    .await
    .unwrap();
    assert_eq!(summary.plaintext_bytes, len as u64);
    assert_eq!(meta.size, 14 + summary.n_chunks * 20 + len as u64, "{path}");
    assert!(store.exists(path).await.unwrap());
    let (opened, out) =
        open_from_store(store, path, cipher(), ExpectedContent::from(&summary), Vec::new())
            .await
            .unwrap();
    assert_eq!(opened.content_hash, summary.content_hash);
    assert_eq!(out, plaintext, "{path}");
    // The raw stream gives the same bytes as the reader.
    let streamed: Vec<Bytes> = store.get_stream(path).await.unwrap().try_collect().await.unwrap();
    assert_eq!(streamed.iter().map(Bytes::len).sum::<usize>() as u64, meta.size);
}

#[tokio::test]
async fn round_trips_through_memory_and_a_local_directory() {
    let cs = 1000;
    let (_dir, local) = local_store();
    let memory = SealedStore::from_url("memory://", &[]).unwrap();
    for store in [&memory, &local] {
        for len in [0, 1, cs - 1, cs, cs + 1, 3 * cs + cs / 2] {
            round_trip(store, &format!("assets/a/v{len}.ods"), data(len), cs).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn larger_objects_cross_several_upload_parts() {
    // 20 MiB in 1 MiB chunks with 5 MiB parts: five parts, several in flight.
    let (_dir, local) = local_store();
    let local = local.with_upload_parts(5 << 20, 2);
    let memory = SealedStore::from_url("memory://", &[]).unwrap().with_upload_parts(5 << 20, 2);
    for store in [&memory, &local] {
        round_trip(store, "big/v1.ods", data(20 << 20), 1 << 20).await;
    }
}

#[tokio::test]
async fn published_objects_are_never_overwritten() {
    let (dir, local) = local_store();
    let memory = SealedStore::from_url("memory://", &[]).unwrap();
    for store in [&memory, &local] {
        let (summary, _) =
            seal_to_store(store, "v1.ods", &b"first"[..], cipher(), config(4)).await.unwrap();
        let err =
            seal_to_store(store, "v1.ods", &b"second"[..], cipher(), config(4)).await.unwrap_err();
        assert!(matches!(&err, Error::AlreadyExists { path } if path == "v1.ods"), "{err}");
        let (_, out) =
            open_from_store(store, "v1.ods", cipher(), ExpectedContent::from(&summary), Vec::new())
                .await
                .unwrap();
        assert_eq!(out, b"first");

        store.put_small("headers/v1.json", Bytes::from_static(b"{\"v\":1}")).await.unwrap();
        let err =
            store.put_small("headers/v1.json", Bytes::from_static(b"{\"v\":2}")).await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert_eq!(store.get_small("headers/v1.json").await.unwrap(), &b"{\"v\":1}"[..]);
        assert!(!store.exists("headers/v2.json").await.unwrap());
        let err = store.get_small("headers/v2.json").await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
    }
    // Staging files are gone, and the published files are where they should be.
    let root = dir.path().join("ods");
    let staging = root.join(STAGING_PREFIX);
    let leftovers = std::fs::read_dir(&staging).map(|entries| entries.count()).unwrap_or(0);
    assert_eq!(leftovers, 0);
    assert_eq!(std::fs::read(root.join("headers/v1.json")).unwrap(), b"{\"v\":1}");
    assert!(root.join("v1.ods").is_file());
}

/// The publication itself refuses to replace an object that appeared during
/// the upload, not just the check before it.
#[tokio::test]
async fn a_race_during_upload_still_does_not_overwrite() {
    let (_dir, local) = local_store();
    let memory = SealedStore::from_url("memory://", &[]).unwrap();
    for store in [&memory, &local] {
        let racer = store.clone();
        let chunks = futures_util::stream::once(async move {
            racer.put_small("raced.ods", Bytes::from_static(b"winner")).await.unwrap();
            Ok(Bytes::from_static(b"loser"))
        });
        let err = store.put_stream("raced.ods", chunks).await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert_eq!(store.get_small("raced.ods").await.unwrap(), &b"winner"[..]);
    }
}

#[tokio::test]
async fn a_failing_producer_publishes_nothing() {
    let memory = SealedStore::from_url("memory://", &[]).unwrap();
    let chunks = futures_util::stream::iter([
        Ok(Bytes::from_static(b"partial")),
        Err(Error::ProducerStopped),
    ]);
    let err = memory.put_stream("partial.ods", chunks).await.unwrap_err();
    assert!(matches!(err, Error::ProducerStopped), "{err}");
    assert!(!memory.exists("partial.ods").await.unwrap());

    // A sealing failure (here, the input) aborts the upload too.
    let failing = std::io::Read::chain(&b"some bytes"[..], FailingRead);
    let err = seal_to_store(&memory, "failed.ods", failing, cipher(), config(4)).await.unwrap_err();
    assert!(matches!(err, Error::Read(_)), "{err}");
    assert!(!memory.exists("failed.ods").await.unwrap());
}

/// A reader that always fails.
struct FailingRead;

impl std::io::Read for FailingRead {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("gone"))
    }
}

#[tokio::test]
async fn tampering_on_disk_names_the_chunk() {
    let (dir, local) = local_store();
    let plaintext = data(10_000);
    let (summary, _) = seal_to_store(
        &local,
        "v1.ods",
        std::io::Cursor::new(plaintext.clone()),
        Arc::from(ring_cipher(&DataKey::from_bytes([9; 32]))),
        config(1000),
    )
    .await
    .unwrap();
    let file = dir.path().join("ods/v1.ods");
    let mut bytes = std::fs::read(&file).unwrap();
    // Chunk 7's record starts at 14 + 7 × 1020; flip a ciphertext byte in it.
    bytes[14 + 7 * 1020 + 4 + 100] ^= 0x20;
    // The file is read-only for nobody here, so rewrite it in place as an attacker would.
    std::fs::write(&file, &bytes).unwrap();
    let expected = ExpectedContent::from(&summary);
    let aes_gcm: Arc<dyn ChunkCipher> = Arc::from(rustcrypto_cipher(&DataKey::from_bytes([9; 32])));
    let err = open_from_store(&local, "v1.ods", aes_gcm, expected, Vec::new()).await.unwrap_err();
    assert!(err.to_string().starts_with("chunk 7 failed authentication"), "{err}");

    let err = open_from_store(
        &local,
        "missing.ods",
        cipher(),
        ExpectedContent::from(&summary),
        Vec::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn reserved_and_invalid_paths_are_refused() {
    let memory = SealedStore::from_url("memory://", &[]).unwrap();
    for path in ["", "_staging/x", "a//b"] {
        let err = memory.put_small(path, Bytes::new()).await.unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{path:?}: {err}");
    }
}
