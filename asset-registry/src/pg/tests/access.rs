//! Tests of the access-event stream, of replay support, and of the
//! benchmark's plain copies.

use super::*;

// ---- access-event stream ----

#[tokio::test]
async fn access_batches_apply_exactly_once() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    let records = access_log(7, 40, 1);
    let distinct: HashSet<&str> = records.iter().map(|r| r.event.event_id.as_str()).collect();
    assert!(distinct.len() < 40, "the log has producer retries");

    let first = projections.apply_access("access", &records[..20]).await.unwrap();
    assert_eq!(first.applied + first.duplicates, 20);
    let again = projections.apply_access("access", &records[..20]).await.unwrap();
    assert_eq!(again, AccessApplied { applied: 0, duplicates: 0, already_applied: 20, billed: 0 });
    assert_eq!(projections.access_next_offsets("access").await.unwrap(), BTreeMap::from([(0, 20)]));

    // Two projectors racing on the same batch: the row lock lets one win.
    let (left, right) = tokio::join!(
        projections.apply_access("access", &records[20..]),
        projections.apply_access("access", &records[20..])
    );
    let (left, right) = (left.unwrap(), right.unwrap());
    assert_eq!(left.already_applied + right.already_applied, 20, "{left:?} {right:?}");
    assert_eq!(left.applied + right.applied + first.applied, distinct.len());
    assert_eq!(projections.counts().await.unwrap()["access_events"], distinct.len() as i64);
    assert_eq!(projections.usage(None).await.unwrap(), recount(&db, projections.schema()).await);

    db.drop_all(&[&projections]).await;
}

#[tokio::test]
async fn a_duplicated_event_is_stored_and_metered_once() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    let e1 = event(1, "addr-a", "asset:x@1", Decision::Allowed, 100);
    let e2 = event(2, "addr-a", "asset:x@1", Decision::Allowed, 10);
    let e3 = event(3, "addr-b", "asset:x@1", Decision::Denied, 0);

    let batch = [
        record(0, 0, e1.clone()),
        record(0, 1, e2.clone()),
        record(0, 2, e1.clone()),
        record(0, 3, e3.clone()),
    ];
    let applied = projections.apply_access("access", &batch).await.unwrap();
    assert_eq!(applied, AccessApplied { applied: 3, duplicates: 1, already_applied: 0, billed: 0 });
    let applied = projections.apply_access("access", &[record(0, 4, e2.clone())]).await.unwrap();
    assert_eq!(applied, AccessApplied { applied: 0, duplicates: 1, already_applied: 0, billed: 0 });
    assert_eq!(projections.access_next_offsets("access").await.unwrap(), BTreeMap::from([(0, 5)]));

    // Out of order within the slice: the lower offset is the one stored.
    let e4 = event(4, "addr-b", "audit", Decision::Allowed, 1);
    let batch = [record(0, 6, e4.clone()), record(0, 5, e4.clone())];
    let applied = projections.apply_access("access", &batch).await.unwrap();
    assert_eq!(applied, AccessApplied { applied: 1, duplicates: 1, already_applied: 0, billed: 0 });

    // New events next to one already stored: the new ones count.
    let e5 = event(5, "addr-a", "asset:x@1", Decision::Allowed, 1000);
    let batch = [record(0, 7, e5.clone()), record(0, 8, e1.clone())];
    let applied = projections.apply_access("access", &batch).await.unwrap();
    assert_eq!(applied, AccessApplied { applied: 1, duplicates: 1, already_applied: 0, billed: 0 });

    let stored = projections.audit(&AuditFilter::default(), 0).await.unwrap();
    let offsets: Vec<(String, i64)> =
        stored.iter().map(|stored| (stored.event.event_id.clone(), stored.offset)).collect();
    assert_eq!(
        offsets,
        [(e1.event_id, 0), (e2.event_id, 1), (e3.event_id, 3), (e4.event_id, 5), (e5.event_id, 7)]
    );
    let usage = projections.usage(Some("addr-a")).await.unwrap();
    assert_eq!(
        usage,
        [UsageRow {
            identity: "addr-a".into(),
            action: "request_data".into(),
            decision: "allowed".into(),
            events: 3,
            bytes: 1110,
        }]
    );
    assert_eq!(projections.usage(None).await.unwrap(), recount(&db, projections.schema()).await);

    db.drop_all(&[&projections]).await;
}

#[tokio::test]
async fn partitions_and_streams_are_independent() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    let p0: Vec<AccessRecord> = (0..8)
        .map(|n| record(0, n, event(n as u64, "addr-a", "audit", Decision::Allowed, 1)))
        .collect();
    let p1: Vec<AccessRecord> = (0..3)
        .map(|n| record(1, n, event(100 + n as u64, "addr-b", "audit", Decision::Allowed, 1)))
        .collect();

    let applied = projections.apply_access("access", &p0[..5]).await.unwrap();
    assert_eq!(applied.applied, 5);
    let mixed: Vec<AccessRecord> = p1.iter().chain(&p0[3..]).cloned().collect();
    let applied = projections.apply_access("access", &mixed).await.unwrap();
    assert_eq!(applied, AccessApplied { applied: 6, duplicates: 0, already_applied: 2, billed: 0 });
    assert_eq!(
        projections.access_next_offsets("access").await.unwrap(),
        BTreeMap::from([(0, 8), (1, 3)])
    );

    // Kafka offsets may skip: no gap check on the access stream.
    let sparse = [
        record(1, 10, event(200, "addr-b", "audit", Decision::Denied, 0)),
        record(1, 12, event(201, "addr-b", "audit", Decision::Denied, 0)),
    ];
    assert_eq!(projections.apply_access("access", &sparse).await.unwrap().applied, 2);

    // Another stream has offsets of its own.
    let other: Vec<AccessRecord> = (0..2)
        .map(|n| record(0, n, event(300 + n as u64, "addr-c", "audit", Decision::Allowed, 1)))
        .collect();
    assert_eq!(projections.apply_access("access-eu", &other).await.unwrap().applied, 2);
    assert_eq!(
        projections.access_next_offsets("access").await.unwrap(),
        BTreeMap::from([(0, 8), (1, 13)])
    );
    assert_eq!(
        projections.access_next_offsets("access-eu").await.unwrap(),
        BTreeMap::from([(0, 2)])
    );
    let offsets = projections.offsets().await.unwrap();
    assert_eq!(offsets.len(), 3);

    let error = projections.apply_access(LEDGER_STREAM, &other).await.unwrap_err();
    assert!(matches!(error, Error::ReservedStream { .. }), "{error:?}");
    let error = projections
        .apply_access("access", &[record(0, -1, event(9, "", "audit", Decision::Allowed, 0))])
        .await
        .unwrap_err();
    assert!(matches!(error, Error::BadBatch { .. }), "{error:?}");

    db.drop_all(&[&projections]).await;
}

#[tokio::test]
async fn usage_equals_a_recount_of_access_events() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    let records = access_log(42, 3000, 3);
    let mut rng = Rng(9);
    let mut start = 0;
    while start < records.len() {
        let end = (start + 1 + rng.below(400) as usize).min(records.len());
        let _ = projections.apply_access("access", &records[start..end]).await.unwrap();
        // Sometimes a projector restarts and re-reads part of a batch.
        if rng.below(3) == 0 {
            let replayed = projections.apply_access("access", &records[start..end]).await.unwrap();
            assert_eq!(replayed.applied, 0);
        }
        start = end;
    }
    let distinct: HashSet<&str> = records.iter().map(|r| r.event.event_id.as_str()).collect();
    assert_eq!(projections.counts().await.unwrap()["access_events"], distinct.len() as i64);
    let usage = projections.usage(None).await.unwrap();
    assert!(usage.len() > 10);
    assert_eq!(usage, recount(&db, projections.schema()).await);

    db.drop_all(&[&projections]).await;
}

// ---- replay support ----

/// Feeds the same logs to two schemas in different batch splits.
async fn twin_projections(db: &TestDb) -> (Projections, Projections) {
    let live = db.projections().await;
    let other = db.projections().await;
    let blocks = ledger(9);
    let records = access_log(5, 600, 2);

    assert_eq!(live.apply_blocks(&blocks).await.unwrap(), 9);
    let _ = live.apply_access("access", &records).await.unwrap();

    for split in [&blocks[0..1], &blocks[0..3], &blocks[3..4], &blocks[2..9]] {
        let _ = other.apply_blocks(split).await.unwrap();
    }
    // Partition by partition, in uneven batches, with a replayed batch.
    for partition in [1, 0] {
        let mine: Vec<AccessRecord> =
            records.iter().filter(|r| r.partition == partition).cloned().collect();
        for chunk in mine.chunks(77) {
            let _ = other.apply_access("access", chunk).await.unwrap();
        }
        let _ = other.apply_access("access", &mine[..50]).await.unwrap();
    }
    (live, other)
}

#[tokio::test]
async fn digests_do_not_depend_on_batching() {
    let Some(db) = postgres().await else { return };
    let (live, other) = twin_projections(&db).await;

    let digests = live.digests().await.unwrap();
    assert_eq!(
        digests.keys().collect::<Vec<_>>(),
        [
            "access_events",
            "asset_versions",
            "assets",
            "billing_accounts",
            "billing_lines",
            "billing_months",
            "billing_plans",
            "billing_top_ups",
            "blocks",
            "identities",
            "transactions",
            "usage"
        ]
    );
    // No account is opened here: the billing tables stay empty.
    assert!(
        digests.iter().all(|(table, digest)| (digest.rows > 0 || table.starts_with("billing_"))
            && digest.sha256.len() == 64)
    );
    assert_eq!(other.digests().await.unwrap(), digests);
    assert_eq!(other.offsets().await.unwrap(), live.offsets().await.unwrap());

    let _ = db
        .raw()
        .await
        .execute(
            &format!("UPDATE \"{}\".blocks SET hash = 'x' WHERE number = 3", other.schema()),
            &[],
        )
        .await
        .unwrap();
    let changed = other.digests().await.unwrap();
    for (table, digest) in &changed {
        assert_eq!(digest == &digests[table], table != "blocks", "{table}");
    }

    db.drop_all(&[&live, &other]).await;
}

#[tokio::test]
async fn diff_names_changed_and_missing_rows() {
    let Some(db) = postgres().await else { return };
    let (live, other) = twin_projections(&db).await;
    assert!(Projections::diff(&live, &other, 10).await.unwrap().is_empty());

    let raw = db.raw().await;
    let (live_schema, other_schema) = (live.schema(), other.schema());
    raw.batch_execute(&format!(
        "UPDATE \"{other_schema}\".assets SET description = 'tampered' WHERE asset_id = 'health/set1';
         DELETE FROM \"{live_schema}\".usage WHERE identity = 'addr-a' AND action = 'read_audit' AND decision = 'allowed';
         DELETE FROM \"{other_schema}\".asset_versions WHERE asset_id = 'health/set0' AND version = 2;
         UPDATE \"{other_schema}\".blocks SET tx_count = 9 WHERE number IN (2, 4, 6);"
    ))
    .await
    .unwrap();

    let differences = Projections::diff(&live, &other, 2).await.unwrap();
    let summary: Vec<(&str, &str, bool, bool)> = differences
        .iter()
        .map(|d| (d.table.as_str(), d.key.as_str(), d.live.is_some(), d.other.is_some()))
        .collect();
    assert_eq!(
        summary,
        [
            ("blocks", "2", true, true),
            ("blocks", "4", true, true),
            ("assets", "health/set1", true, true),
            ("asset_versions", "(health/set0,2)", true, false),
            ("usage", "(addr-a,read_audit,allowed)", false, true),
        ]
    );
    let tampered = &differences[2];
    assert!(tampered.live.as_deref().is_some_and(|row| row.contains("revision 5")), "{tampered:?}");
    assert!(tampered.other.as_deref().is_some_and(|row| row.contains("tampered")), "{tampered:?}");
    assert!(differences[0].other.as_deref().is_some_and(|row| row.contains(",9)")));

    db.drop_all(&[&live, &other]).await;
}

#[tokio::test]
async fn copy_access_plain_copies_and_truncates() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    let records = access_log(3, 250, 2);
    assert_eq!(projections.copy_access_plain("bench_plain", &records, false).await.unwrap(), 250);
    assert_eq!(projections.copy_access_plain("bench_plain", &records, false).await.unwrap(), 250);
    let count = |raw: tokio_postgres::Client, schema: String| async move {
        raw.query_one(&format!("SELECT count(*) FROM \"{schema}\".bench_plain"), &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    assert_eq!(count(db.raw().await, projections.schema().to_owned()).await, 500);
    projections.truncate_plain("bench_plain").await.unwrap();
    assert_eq!(count(db.raw().await, projections.schema().to_owned()).await, 0);
    let error = projections.copy_access_plain("Bench", &records, false).await.unwrap_err();
    assert!(matches!(error, Error::InvalidTableName { .. }), "{error:?}");
    // The reference like access_events has its primary key: a second copy conflicts.
    let mut seen = std::collections::BTreeSet::new();
    let unique: Vec<AccessRecord> =
        records.iter().filter(|r| seen.insert(r.event.event_id.clone())).cloned().collect();
    let n_unique = unique.len() as u64;
    assert_eq!(projections.copy_access_plain("bench_like", &unique, true).await.unwrap(), n_unique);
    let records = unique;
    let error = projections.copy_access_plain("bench_like", &records, true).await.unwrap_err();
    assert!(error.to_string().contains("duplicate key"), "{error}");
    // The plain table is not a projection: counts and digests ignore it.
    assert!(!projections.counts().await.unwrap().contains_key("bench_plain"));

    db.drop_all(&[&projections]).await;
}
