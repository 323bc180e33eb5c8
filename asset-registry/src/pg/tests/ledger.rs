//! Tests of the ledger stream and of the queries over its rows and the
//! access log.

use super::*;

// ---- ledger stream ----

#[tokio::test]
async fn apply_blocks_skips_an_applied_prefix_and_refuses_gaps() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    let blocks = ledger(8);

    assert_eq!(projections.apply_blocks(&[]).await.unwrap(), 0);
    assert_eq!(projections.apply_blocks(&blocks[0..2]).await.unwrap(), 2);
    assert_eq!(projections.ledger_next_offset().await.unwrap(), 2);
    assert_eq!(projections.apply_blocks(&blocks[1..4]).await.unwrap(), 2);
    assert_eq!(projections.ledger_next_offset().await.unwrap(), 4);
    assert_eq!(projections.apply_blocks(&blocks[0..4]).await.unwrap(), 0);
    let counts = projections.counts().await.unwrap();
    assert_eq!((counts["blocks"], counts["transactions"], counts["asset_versions"]), (4, 8, 4));

    let error = projections.apply_blocks(&blocks[6..8]).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "offset gap on stream ledger partition 0: stored next offset 4, batch starts at 6"
    );
    let error =
        projections.apply_blocks(&[blocks[4].clone(), blocks[6].clone()]).await.unwrap_err();
    assert!(matches!(error, Error::BadBatch { .. }), "{error:?}");
    assert_eq!(projections.counts().await.unwrap(), counts, "a refused batch writes nothing");
    assert_eq!(projections.ledger_next_offset().await.unwrap(), 4);

    assert_eq!(projections.apply_blocks(&blocks[4..8]).await.unwrap(), 4);
    assert_eq!(projections.ledger_next_offset().await.unwrap(), 8);

    // Identities and assets hold their state after the last block.
    let raw = db.raw().await;
    let schema = projections.schema();
    let row = raw
        .query_one(
            &format!(
                "SELECT registered_in_block, revoked_reason, revoked_in_block \
                 FROM \"{schema}\".identities WHERE address = 'addr-0'"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, Option<String>>(1), row.get::<_, Option<i64>>(2)),
        (6, Some("left".into()), Some(6))
    );
    let row = raw
        .query_one(
            &format!(
                "SELECT authorised, description, latest_version \
                 FROM \"{schema}\".assets WHERE asset_id = 'health/set1'"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<String>>(0), ["addr-b", "addr-a"]);
    assert_eq!(row.get::<_, String>(1), "counts per clinic, revision 5");
    assert_eq!(row.get::<_, i64>(2), 2);

    // A published version is immutable.
    let mut republish = block(8);
    republish.versions = vec![version("health/set0", 1, 8)];
    let error = projections.apply_blocks(&[republish]).await.unwrap_err();
    assert!(
        matches!(&error, Error::Query { code: Some(code), .. } if code == "23505"),
        "{error:?}"
    );
    assert_eq!(projections.ledger_next_offset().await.unwrap(), 8);

    db.drop_all(&[&projections]).await;
}

#[tokio::test]
async fn values_above_i64_max_are_refused_and_write_nothing() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;

    let mut huge = block(0);
    huge.block.number = u64::MAX;
    let error = projections.apply_blocks(&[huge]).await.unwrap_err();
    assert!(matches!(error, Error::OutOfRange { column: "blocks.number", value: u64::MAX }));
    let mut huge = block(0);
    huge.versions = vec![version("a", 1, 0)];
    huge.versions[0].size_bytes = 1 << 63;
    let error = projections.apply_blocks(&[huge]).await.unwrap_err();
    assert!(error.to_string().contains("column asset_versions.size_bytes"), "{error}");
    assert_eq!(projections.ledger_next_offset().await.unwrap(), 0);

    let mut big = event(1, "addr-a", "audit", Decision::Allowed, 0);
    big.bytes = u64::MAX;
    let error = projections.apply_access("access", &[record(0, 0, big)]).await.unwrap_err();
    assert!(matches!(error, Error::OutOfRange { column: "access_events.bytes", .. }), "{error:?}");
    assert!(projections.access_next_offsets("access").await.unwrap().is_empty());
    let counts = projections.counts().await.unwrap();
    assert_eq!(counts.values().sum::<i64>(), 3, "only schema_migrations has rows: {counts:?}");

    db.drop_all(&[&projections]).await;
}

// ---- queries ----

#[tokio::test]
async fn search_matches_words_filters_and_ranks() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    let mut first = block(0);
    first.assets = vec![
        asset(
            "health/clinics",
            "health",
            "table",
            "Clinic locations",
            "Every public clinic with opening hours",
            0,
        ),
        asset(
            "health/beds",
            "health",
            "table",
            "Hospital beds",
            "Daily bed occupancy per clinic",
            0,
        ),
        asset("transport/stops", "transport", "geojson", "Bus stops", "Stops and shelters", 0),
        asset(
            "transport/clinic_shuttles",
            "transport",
            "table",
            "Shuttle timetable",
            "Shuttles between clinic sites",
            0,
        ),
    ];
    let mut second = block(1);
    second.assets = vec![asset(
        "transport/stops",
        "transport",
        "geojson",
        "Bus stops",
        "Stops, shelters and timetables",
        1,
    )];
    second.assets[0].authorised = vec!["addr-z".into()];
    assert_eq!(projections.apply_blocks(&[first, second]).await.unwrap(), 2);

    let search = |text: &str, owner: Option<&str>, data_type: Option<&str>, limit: usize| {
        let query = SearchQuery {
            text: text.into(),
            owner_organisation: owner.map(Into::into),
            data_type: data_type.map(Into::into),
            limit,
        };
        let projections = projections.clone();
        async move { projections.search(&query).await.unwrap() }
    };
    let ids = |entries: &[DirectoryEntry]| -> Vec<String> {
        entries.iter().map(|entry| entry.asset_id.clone()).collect()
    };

    // Everything, by asset id.
    let all = search("", None, None, 0).await;
    assert_eq!(
        ids(&all),
        ["health/beds", "health/clinics", "transport/clinic_shuttles", "transport/stops"]
    );
    assert!(all.iter().all(|entry| entry.rank == 0.0));
    assert_eq!(ids(&search("  ", None, None, 2).await), ["health/beds", "health/clinics"]);

    // A word in a name (weight A) ranks above the same word in a description.
    let clinic = search("clinic", None, None, 0).await;
    assert_eq!(clinic[0].asset_id, "health/clinics");
    assert_eq!(clinic.len(), 3);
    assert!(clinic[0].rank > clinic[1].rank, "{clinic:?}");
    assert!(clinic.windows(2).all(|pair| pair[0].rank >= pair[1].rank));

    // Words of a description, web-search syntax, the latest row.
    assert_eq!(ids(&search("opening hours", None, None, 0).await), ["health/clinics"]);
    assert_eq!(ids(&search("clinic -hospital", None, None, 0).await).len(), 2);
    let stops = search("timetables", None, None, 0).await;
    assert_eq!(ids(&stops), ["transport/stops"]);
    assert_eq!((stops[0].authorised_count, stops[0].owner_address.as_str()), (1, "addr-transport"));

    // Filters.
    assert_eq!(
        ids(&search("clinic", Some("transport"), None, 0).await),
        ["transport/clinic_shuttles"]
    );
    assert_eq!(ids(&search("", None, Some("geojson"), 0).await), ["transport/stops"]);
    assert!(search("clinic", Some("nobody"), None, 0).await.is_empty());

    // Asset ids match as substrings, with LIKE wildcards taken literally.
    assert_eq!(
        ids(&search("transport/", None, None, 0).await),
        ["transport/clinic_shuttles", "transport/stops"]
    );
    assert_eq!(ids(&search("_", None, None, 0).await), ["transport/clinic_shuttles"]);
    assert!(search("%", None, None, 0).await.is_empty());

    db.drop_all(&[&projections]).await;
}

#[tokio::test]
async fn history_lists_versions_oldest_first() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    let blocks = ledger(8);
    assert_eq!(projections.apply_blocks(&blocks).await.unwrap(), 8);

    let history = projections.history("health/set2").await.unwrap();
    assert_eq!(history, [version("health/set2", 1, 2), version("health/set2", 2, 6)]);
    assert!(projections.history("health/none").await.unwrap().is_empty());

    let mut no_schema = block(8);
    no_schema.versions = vec![VersionRow { schema: None, ..version("other", 1, 8) }];
    assert_eq!(projections.apply_blocks(&[no_schema]).await.unwrap(), 1);
    assert_eq!(projections.history("other").await.unwrap()[0].schema, None);

    db.drop_all(&[&projections]).await;
}

#[tokio::test]
async fn audit_answers_like_the_in_memory_projection() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    let resources = [
        "asset:x@1",
        "asset:x",
        "asset:xy@2",
        "asset:x@",
        "asset:x@1@2",
        "asset:a@b",
        "asset:a@b@3",
        "asset:x_y@1",
        "asset:xzy@1",
        "audit",
    ];
    let mut memory = AuditProjection::default();
    let mut records = Vec::new();
    for n in 0..40u64 {
        let identity = ["addr-a", "addr-b", ""][n as usize % 3];
        let decision = if n.is_multiple_of(4) { Decision::Denied } else { Decision::Allowed };
        let event = event(n, identity, resources[n as usize % resources.len()], decision, n);
        memory.apply(n, event.clone()).unwrap();
        records.push(record(0, n as i64, event));
    }
    let applied = projections.apply_access("access", &records).await.unwrap();
    assert_eq!(
        applied,
        AccessApplied { applied: 40, duplicates: 0, already_applied: 0, billed: 0 }
    );

    let filters = [
        AuditFilter::default(),
        AuditFilter { identity: Some("addr-a".into()), ..Default::default() },
        AuditFilter { identity: Some(String::new()), ..Default::default() },
        AuditFilter { asset_id: Some("x".into()), ..Default::default() },
        AuditFilter { asset_id: Some("x@1".into()), ..Default::default() },
        AuditFilter { asset_id: Some("xy".into()), ..Default::default() },
        AuditFilter { asset_id: Some("a".into()), ..Default::default() },
        AuditFilter { asset_id: Some("a@b".into()), ..Default::default() },
        AuditFilter { asset_id: Some("x_y".into()), ..Default::default() },
        AuditFilter { since_ms: Some(1_700_000_000_030), ..Default::default() },
        AuditFilter { decision: Some(Decision::Denied), ..Default::default() },
        AuditFilter {
            identity: Some("addr-b".into()),
            decision: Some(Decision::Allowed),
            limit: 3,
            ..Default::default()
        },
        AuditFilter { limit: 5, ..Default::default() },
    ];
    for filter in &filters {
        let expected: Vec<AccessEvent> = memory.query(filter).into_iter().cloned().collect();
        let stored = projections.audit(filter, 0).await.unwrap();
        let found: Vec<AccessEvent> = stored.iter().map(|stored| stored.event.clone()).collect();
        assert_eq!(found, expected, "{filter:?}");
    }
    let newest_two =
        projections.audit(&AuditFilter { limit: 5, ..Default::default() }, 2).await.unwrap();
    assert_eq!(newest_two.len(), 2);
    assert_eq!(
        (newest_two[1].offset, newest_two[1].partition, newest_two[1].leaf_index),
        (39, 0, Some(39))
    );
    assert_eq!(newest_two[1].node, "addr-node-1");
    let json = serde_json::to_value(&newest_two[1]).unwrap();
    assert_eq!(json["event_id"], format!("{:032x}", 39));
    assert_eq!(json["offset"], 39);

    db.drop_all(&[&projections]).await;
}
