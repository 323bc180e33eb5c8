//! Sync against the in-memory ledger and a memory store: what is published,
//! what is not, and who is given the data key.

use std::sync::{Arc, Mutex};

use access_control::keys::KeyPair;
use access_control::wrap::{self, WrappedKey};

use super::*;
use crate::memory::{MemoryLedger, MemorySource, raw_share};

fn store() -> SealedStore {
    SealedStore::from_url("memory://", &[]).unwrap()
}

fn source(data: &[u8]) -> MemorySource {
    MemorySource { data: data.to_vec(), ..MemorySource::default() }
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Runs one sync and returns its outcome and the events it reported.
async fn run(
    share: &Share,
    publisher: &KeyPair,
    store: &SealedStore,
    ledger: &mut MemoryLedger,
    source: &MemorySource,
) -> (Result<SyncOutcome>, Vec<SyncEvent>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let job = SyncJob { share, publisher, store, clock: || 1_700_000_000_000 };
    let outcome = job.run(ledger, source, move |event| sink.lock().unwrap().push(event)).await;
    let events = events.lock().unwrap().clone();
    (outcome, events)
}

/// The data key `reader` unwraps from its grant for a version, if it has one.
async fn granted_key(
    store: &SealedStore,
    asset_id: &str,
    version: u64,
    reader: &KeyPair,
) -> Option<[u8; 32]> {
    let path = grant_path(asset_id, version, &reader.address());
    if !store.exists(&path).await.unwrap() {
        return None;
    }
    let wrapped: WrappedKey =
        serde_json::from_slice(&store.get_small(&path).await.unwrap()).unwrap();
    let key =
        wrap::unwrap(reader, &wrapped, &wrap::grant_context(asset_id, version, &reader.address()))
            .unwrap();
    Some(key.try_into().unwrap())
}

/// A ledger whose publisher and `readers` are registered identities.
fn ledger_with(identities: &[&KeyPair]) -> MemoryLedger {
    let mut ledger = MemoryLedger::default();
    for key in identities {
        ledger.register(key);
    }
    ledger
}

#[tokio::test]
async fn a_first_sync_publishes_version_one_and_releases_the_key_to_the_share_list() {
    let publisher = KeyPair::generate().unwrap();
    let (alice, bob) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let share = raw_share(&[&bob, &alice]);
    let store = store();
    let mut ledger = ledger_with(&[&publisher, &alice, &bob]);
    let input = data(1000, 1);

    let (outcome, events) = run(&share, &publisher, &store, &mut ledger, &source(&input)).await;
    let SyncOutcome::Published(published) = outcome.unwrap() else { panic!("nothing published") };

    assert_eq!((published.version, published.bytes, published.chunks), (1, 1000, 16));
    assert_eq!(published.granted, 2);
    assert_eq!(published.tx_id, "tx-1");
    let on_ledger = &ledger.versions_of(&share.asset_id)[0];
    assert_eq!(on_ledger.content_hash, published.content_hash.to_vec());
    let new = &ledger.published[0];
    assert_eq!((new.data_type, new.size_bytes), (DataType::Unstructured, 1000));
    // The header lists the chunks, and its sealed access information opens only for the publisher.
    let header = AssetHeader::from_bytes(&on_ledger.metadata).unwrap();
    assert_eq!(
        (header.chunk_count, header.chunk_size, header.synced_at_ms),
        (16, 64, 1_700_000_000_000)
    );
    assert!(header.access.open(&alice).is_err());
    let access = header.access.open(&publisher).unwrap();
    // The share's list became the ledger's, sorted; each identity unwraps the version's key.
    let mut wanted = share.authorised.clone();
    wanted.sort();
    assert_eq!(ledger.authorised[&share.asset_id], wanted);
    let key = granted_key(&store, &share.asset_id, 1, &alice).await.unwrap();
    assert_eq!(hex::encode(key), access.data_key);
    assert_eq!(granted_key(&store, &share.asset_id, 1, &bob).await, Some(key));
    assert_eq!(granted_key(&store, &share.asset_id, 1, &publisher).await, None);
    // The serving node finds the objects through the index.
    let index: VersionIndex =
        serde_json::from_slice(&store.get_small(&index_path(&share.asset_id, 1)).await.unwrap())
            .unwrap();
    assert_eq!(
        (index.object.as_str(), index.hashes_object.as_str()),
        (access.object.as_str(), access.hashes_object.as_str())
    );
    assert_eq!(store.get_small(&index.hashes_object).await.unwrap().len(), 16 * 32);
    // Progress reached the input size before sealing ended.
    let sealed: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::Sealed { bytes } => Some(*bytes),
            _ => None,
        })
        .collect();
    assert_eq!(sealed.last(), Some(&1000));
    assert!(sealed.windows(2).all(|w| w[0] <= w[1]), "{sealed:?}");
    assert_eq!(events.last(), Some(&SyncEvent::SealingEnded));
}

#[tokio::test]
async fn an_unchanged_source_publishes_nothing_and_grants_nobody_twice() {
    let publisher = KeyPair::generate().unwrap();
    let alice = KeyPair::generate().unwrap();
    let share = raw_share(&[&alice]);
    let store = store();
    let mut ledger = ledger_with(&[&publisher, &alice]);
    let input = source(&data(300, 2));
    run(&share, &publisher, &store, &mut ledger, &input).await.0.unwrap();
    let grant = grant_path(&share.asset_id, 1, &alice.address());
    let first_grant = store.get_small(&grant).await.unwrap();

    let (outcome, events) = run(&share, &publisher, &store, &mut ledger, &input).await;

    let reason = Unchanged::SameContent { version: 1 };
    assert_eq!(
        outcome.unwrap(),
        SyncOutcome::Unchanged {
            reason: reason.clone(),
            regranted: Some(Regranted { version: 1, granted: 0 })
        }
    );
    assert_eq!(reason.to_string(), "content hash equals version 1");
    assert!(events.contains(&SyncEvent::Unchanged(reason)));
    assert_eq!(ledger.versions_of(&share.asset_id).len(), 1);
    assert_eq!(ledger.published.len(), 1);
    assert_eq!(ledger.set_authorised_calls, 1);
    assert_eq!(store.get_small(&grant).await.unwrap(), first_grant);
}

#[tokio::test]
async fn an_unchanged_sync_releases_the_key_only_to_newly_authorised_identities() {
    let publisher = KeyPair::generate().unwrap();
    let (alice, carol) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
    let share = raw_share(&[&alice]);
    let store = store();
    let mut ledger = ledger_with(&[&publisher, &alice, &carol]);
    let input = source(&data(200, 3));
    run(&share, &publisher, &store, &mut ledger, &input).await.0.unwrap();
    assert_eq!(granted_key(&store, &share.asset_id, 1, &carol).await, None);
    // The owner shares the asset with carol on the ledger (`cairn asset share`).
    ledger.authorised.get_mut(&share.asset_id).unwrap().push(carol.address().to_string());

    let outcome = run(&share, &publisher, &store, &mut ledger, &input).await.0.unwrap();

    let SyncOutcome::Unchanged { regranted, .. } = outcome else { panic!("published again") };
    assert_eq!(regranted, Some(Regranted { version: 1, granted: 1 }));
    let key = granted_key(&store, &share.asset_id, 1, &carol).await.unwrap();
    assert_eq!(granted_key(&store, &share.asset_id, 1, &alice).await, Some(key));
    assert_eq!(ledger.published.len(), 1);
}

#[tokio::test]
async fn a_changed_source_publishes_the_next_version_under_a_new_key() {
    let publisher = KeyPair::generate().unwrap();
    let alice = KeyPair::generate().unwrap();
    let share = raw_share(&[&alice]);
    let store = store();
    let mut ledger = ledger_with(&[&publisher, &alice]);
    run(&share, &publisher, &store, &mut ledger, &source(&data(200, 4))).await.0.unwrap();
    // A later removal from the list is the owner's; a sync does not undo it.
    ledger.authorised.insert(share.asset_id.clone(), Vec::new());

    let outcome = run(&share, &publisher, &store, &mut ledger, &source(&data(201, 4))).await;

    let SyncOutcome::Published(published) = outcome.0.unwrap() else { panic!("nothing published") };
    assert_eq!((published.version, published.granted), (2, 0));
    let versions = ledger.versions_of(&share.asset_id);
    assert_eq!(versions.len(), 2);
    assert_ne!(versions[0].content_hash, versions[1].content_hash);
    assert_eq!(ledger.set_authorised_calls, 1);
    assert_eq!(granted_key(&store, &share.asset_id, 2, &alice).await, None);
    assert!(store.exists(&index_path(&share.asset_id, 2)).await.unwrap());
}

#[tokio::test]
async fn the_watermark_of_the_last_version_is_where_the_next_sync_starts() {
    let publisher = KeyPair::generate().unwrap();
    let mut share = raw_share(&[]);
    share.source = ShareSource::Postgres {
        url: "postgres://db/x".into(),
        schema: None,
        table: Some("citizens".into()),
        query: None,
        watermark: Some("updated_at".into()),
        format: "csv".into(),
    };
    let store = store();
    let mut ledger = ledger_with(&[&publisher]);
    let watermark = |value: &str, since: Option<&str>| Watermark {
        column: "updated_at".into(),
        value: Some(value.into()),
        since: since.map(String::from),
    };
    let first = MemorySource {
        data: b"id\n1\n2\n".to_vec(),
        report: SourceReport {
            rows: Some(2),
            watermark: Some(watermark("2026-01-02", None)),
            ..SourceReport::default()
        },
        ..MemorySource::default()
    };
    let outcome = run(&share, &publisher, &store, &mut ledger, &first).await.0.unwrap();
    assert!(matches!(outcome, SyncOutcome::Published(Published { version: 1, .. })));
    assert_eq!(ledger.published[0].data_type, DataType::Structured);
    assert_eq!(*first.since.lock().unwrap(), vec![None]);

    let empty = MemorySource {
        data: b"id\n".to_vec(),
        report: SourceReport { rows: Some(0), ..SourceReport::default() },
        ..MemorySource::default()
    };
    let (outcome, _) = run(&share, &publisher, &store, &mut ledger, &empty).await;

    assert_eq!(*empty.since.lock().unwrap(), vec![Some("2026-01-02".to_string())]);
    let reason = Unchanged::NoRowsPastWatermark;
    assert_eq!(reason.to_string(), "no rows past the watermark");
    assert_eq!(
        outcome.unwrap(),
        SyncOutcome::Unchanged { reason, regranted: Some(Regranted { version: 1, granted: 0 }) }
    );
    assert_eq!(ledger.versions_of(&share.asset_id).len(), 1);
}

#[tokio::test]
async fn a_failed_source_publishes_nothing_and_says_so() {
    let publisher = KeyPair::generate().unwrap();
    let share = raw_share(&[]);
    let store = store();
    let mut ledger = ledger_with(&[&publisher]);
    let failing = MemorySource { data: data(100, 5), fail: true, ..MemorySource::default() };

    let (outcome, events) = run(&share, &publisher, &store, &mut ledger, &failing).await;

    let error = outcome.unwrap_err();
    assert!(matches!(error, Error::Source(_)), "{error:?}");
    assert_eq!(error.to_string(), "the source failed; nothing was published");
    assert_eq!(
        std::error::Error::source(&error).map(ToString::to_string).as_deref(),
        Some("the database went away")
    );
    assert!(events.contains(&SyncEvent::SealingEnded));
    assert!(ledger.published.is_empty());
    assert!(!store.exists(&index_path(&share.asset_id, 1)).await.unwrap());
}

#[tokio::test]
async fn an_identity_without_an_encryption_key_is_refused_by_name() {
    let publisher = KeyPair::generate().unwrap();
    let alice = KeyPair::generate().unwrap();
    let share = raw_share(&[&alice]);
    let store = store();
    let mut ledger = ledger_with(&[&publisher]);
    ledger.encryption_keys.insert(alice.address().to_string(), vec![1, 2, 3]);

    let error = run(&share, &publisher, &store, &mut ledger, &source(&data(10, 6))).await.0;

    let address = alice.address().to_string();
    assert!(
        matches!(&error, Err(Error::NoEncryptionKey { address: a }) if *a == address),
        "{error:?}"
    );
    assert_eq!(granted_key(&store, &share.asset_id, 1, &alice).await, None);
}
