//! Tests of the PostgreSQL projections against a real server.
//!
//! The server these tests need is named in one place, [`postgres`]: the URL
//! comes from `CAIRN_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`). When it cannot be reached the
//! tests fail if `CAIRN_REQUIRE_SERVICES=1` (CI), and otherwise skip with a
//! loud message. Each test works in its own fresh schema (`t_` and 16 hex
//! digits) and drops it at the end; a failed test leaves its schema behind
//! for inspection.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;
use crate::audit::AuditProjection;
use tokio_postgres::NoTls;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL the tests use.
struct TestDb {
    url: String,
}

/// The test server, or `None` after a loud message when it is unreachable
/// and `CAIRN_REQUIRE_SERVICES` is not `1`; panics when it is required.
async fn postgres() -> Option<TestDb> {
    let url = std::env::var("CAIRN_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let target = parse_url(&url).map(|(_, target)| target).unwrap_or_else(|_| "(bad URL)".into());
    let reached = match tokio_postgres::connect(&url, NoTls).await {
        Ok((client, connection)) => {
            let driver = tokio::spawn(connection);
            let answered = client.simple_query("SELECT 1").await.map(|_| ());
            drop(client);
            let _ = driver.await;
            answered
        }
        Err(error) => Err(error),
    };
    match reached {
        Ok(()) => Some(TestDb { url }),
        Err(error) if std::env::var("CAIRN_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "PostgreSQL not reachable at {target} and CAIRN_REQUIRE_SERVICES=1: {}",
                describe(&error)
            )
        }
        Err(error) => {
            eprintln!(
                "SKIPPED: PostgreSQL not reachable at {target} ({}); set CAIRN_TEST_POSTGRES, or CAIRN_REQUIRE_SERVICES=1 to fail instead",
                describe(&error)
            );
            None
        }
    }
}

impl TestDb {
    /// A schema name no other test (or run) uses.
    fn fresh_schema(&self) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_nanos())
            .unwrap_or(0);
        let unique = format!(
            "{}:{}:{nanos}:{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::thread::current().name().unwrap_or("")
        );
        format!("t_{}", &hex::encode(Sha256::digest(unique.as_bytes()))[..16])
    }

    /// Projections in a fresh schema.
    async fn projections(&self) -> Projections {
        Projections::connect(&self.url, &self.fresh_schema()).await.unwrap()
    }

    /// A plain client, for checks and tampering by hand.
    async fn raw(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
        let _driver = tokio::spawn(connection);
        client
    }

    async fn drop_all(&self, projections: &[&Projections]) {
        for projections in projections {
            Projections::drop_schema(&self.url, projections.schema()).await.unwrap();
        }
    }
}

// ---- builders ----

fn block(n: u64) -> BlockChanges {
    BlockChanges {
        block: BlockRow {
            number: n,
            hash: format!("{:064x}", n + 1),
            previous_hash: format!("{n:064x}"),
            state_root: format!("{:064x}", 1000 + n),
            log_offset: n,
            tx_count: 0,
        },
        transactions: Vec::new(),
        identities: Vec::new(),
        assets: Vec::new(),
        versions: Vec::new(),
        accounts: Vec::new(),
    }
}

fn transaction(block_number: u64, index: u32, tx_type: &str) -> TransactionRow {
    TransactionRow {
        tx_id: format!("tx-{block_number}-{index}"),
        block_number,
        index,
        tx_type: tx_type.into(),
        code: "valid".into(),
        creator: Some("addr-owner".into()),
        timestamp_ms: 1_700_000_000_000 + block_number,
    }
}

fn identity(address: &str, block_number: u64) -> IdentityRow {
    IdentityRow {
        address: address.into(),
        name: format!("name of {address}"),
        organisation: "health".into(),
        role: "consumer".into(),
        registered_in_block: block_number,
        revoked_reason: None,
        revoked_in_block: None,
    }
}

fn asset(
    asset_id: &str,
    owner_organisation: &str,
    data_type: &str,
    name: &str,
    description: &str,
    block_number: u64,
) -> AssetRow {
    AssetRow {
        asset_id: asset_id.into(),
        owner_organisation: owner_organisation.into(),
        owner_address: format!("addr-{owner_organisation}"),
        authorised: vec!["addr-b".into(), "addr-a".into()],
        latest_version: 1,
        data_type: data_type.into(),
        name: name.into(),
        description: description.into(),
        updated_in_block: block_number,
    }
}

fn version(asset_id: &str, version: u64, block_number: u64) -> VersionRow {
    VersionRow {
        asset_id: asset_id.into(),
        version,
        data_type: "table".into(),
        hash_algorithm: "sha256".into(),
        content_hash: format!("{:064x}", version * 7),
        size_bytes: 100 * version,
        name: format!("{asset_id} v{version}"),
        description: "a version".into(),
        schema: Some(serde_json::json!([
            {"name": "id", "type": "int64"},
            {"name": "clinic", "type": "string", "nullable": true}
        ])),
        encoding: "csv".into(),
        tx_id: format!("tx-{block_number}-0"),
        block_number,
        timestamp_ms: 1_700_000_000_000 + block_number,
    }
}

/// A ledger of `n_blocks` blocks with transactions, identities (one revoked
/// later), assets (one changed later) and versions.
fn ledger(n_blocks: u64) -> Vec<BlockChanges> {
    (0..n_blocks)
        .map(|n| {
            let mut changes = block(n);
            changes.transactions =
                vec![transaction(n, 0, "publish_asset"), transaction(n, 1, "grant")];
            changes.block.tx_count = 2;
            changes.identities = vec![identity(&format!("addr-{}", n % 3), n)];
            if n >= 3 {
                changes.identities[0].revoked_reason = Some("left".into());
                changes.identities[0].revoked_in_block = Some(n);
            }
            let asset_id = format!("health/set{}", n % 4);
            let mut row = asset(&asset_id, "health", "table", "Clinic set", "counts per clinic", n);
            row.latest_version = n / 4 + 1;
            row.description = format!("counts per clinic, revision {n}");
            changes.assets = vec![row];
            changes.versions = vec![version(&asset_id, n / 4 + 1, n)];
            changes
        })
        .collect()
}

fn event(n: u64, identity: &str, resource: &str, decision: Decision, bytes: u64) -> AccessEvent {
    AccessEvent {
        event_id: format!("{n:032x}"),
        time_ms: 1_700_000_000_000 + n,
        identity: identity.into(),
        organisation: "health".into(),
        role: "consumer".into(),
        action: if n.is_multiple_of(3) { "list".into() } else { "request_data".into() },
        resource: resource.into(),
        decision,
        reason: "policy".into(),
        bytes,
        latency_us: 40 + n % 7,
        method: "/cairn.v1.Access/RequestAccess".into(),
        ledger_height: 0,
        request: Vec::new(),
    }
}

fn record(partition: i32, offset: i64, event: AccessEvent) -> AccessRecord {
    AccessRecord {
        partition,
        offset,
        node: "addr-node-1".into(),
        leaf_index: u64::try_from(offset).ok(),
        event,
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

/// `n_records` records over `n_partitions` partitions; about a tenth repeat
/// an earlier event of the same partition (a producer retry).
fn access_log(seed: u64, n_records: usize, n_partitions: i32) -> Vec<AccessRecord> {
    let mut rng = Rng(seed);
    let mut next_offset = vec![0i64; n_partitions as usize];
    let mut by_partition: Vec<Vec<AccessEvent>> = vec![Vec::new(); n_partitions as usize];
    let identities = ["addr-a", "addr-b", "addr-c", ""];
    let mut records = Vec::with_capacity(n_records);
    for n in 0..n_records as u64 {
        let partition = rng.below(n_partitions as u64) as usize;
        let earlier = &by_partition[partition];
        let event = if !earlier.is_empty() && rng.below(10) == 0 {
            earlier[rng.below(earlier.len() as u64) as usize].clone()
        } else {
            let decision = if rng.below(4) == 0 { Decision::Denied } else { Decision::Allowed };
            let resource = format!("asset:health/set{}@{}", rng.below(4), rng.below(3));
            let identity = identities[rng.below(identities.len() as u64) as usize];
            event(n, identity, &resource, decision, rng.below(10_000))
        };
        by_partition[partition].push(event.clone());
        records.push(record(partition as i32, next_offset[partition], event));
        next_offset[partition] += 1;
    }
    records
}

async fn recount(db: &TestDb, schema: &str) -> Vec<UsageRow> {
    let rows = db
        .raw()
        .await
        .query(
            &format!(
                "SELECT identity, action, decision, count(*), sum(bytes)::bigint \
                 FROM \"{schema}\".access_events GROUP BY identity, action, decision \
                 ORDER BY identity COLLATE \"C\", action COLLATE \"C\", decision COLLATE \"C\""
            ),
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|row| UsageRow {
            identity: row.get(0),
            action: row.get(1),
            decision: row.get(2),
            events: row.get(3),
            bytes: row.get(4),
        })
        .collect()
}

// ---- names, URLs, conversions (no server needed) ----

#[test]
fn identifiers_are_checked() {
    let long_ok = format!("a{}", "b".repeat(62));
    let long_bad = format!("a{}", "b".repeat(63));
    for (name, ok) in [
        ("projections", true),
        ("_x1", true),
        ("t_0123456789abcdef", true),
        (long_ok.as_str(), true),
        ("", false),
        ("1abc", false),
        ("Bad", false),
        ("a-b", false),
        ("a b", false),
        ("x\"; DROP SCHEMA public; --", false),
        ("é", false),
        (long_bad.as_str(), false),
    ] {
        assert_eq!(is_identifier(name), ok, "{name:?}");
    }
}

#[tokio::test]
async fn bad_schema_names_are_refused_before_connecting() {
    let error = Projections::connect(DEFAULT_URL, "Robert'); DROP TABLE x;--").await.unwrap_err();
    assert!(matches!(error, Error::InvalidSchemaName { .. }), "{error:?}");
    assert!(error.to_string().contains("^[a-z_][a-z0-9_]{0,62}$"), "{error}");
    let error = Projections::drop_schema(DEFAULT_URL, "1x").await.unwrap_err();
    assert!(matches!(error, Error::InvalidSchemaName { .. }), "{error:?}");
}

#[tokio::test]
async fn connect_errors_and_debug_never_show_the_password() {
    let url = "postgres://cairn:hunter2@127.0.0.1:1/cairndb";
    let error = Projections::connect(url, "projections").await.unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Connect { .. }), "{error:?}");
    assert!(message.contains("cairn@127.0.0.1:1/cairndb"), "{message}");
    assert!(!message.contains("hunter2") && !format!("{error:?}").contains("hunter2"));

    let (config, target) = parse_url(url).unwrap();
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig { recycling_method: RecyclingMethod::Fast },
    );
    let projections = Projections {
        pool: Pool::builder(manager).max_size(1).build().unwrap(),
        schema: "projections".into(),
        target,
    };
    let debug = format!("{projections:?}");
    assert!(debug.contains("cairn@127.0.0.1:1/cairndb") && debug.contains("projections"));
    assert!(!debug.contains("hunter2"), "{debug}");

    for bad in [
        "postgres://[nope",
        "postgres://cairn:hunter2@host:port/db",
        "host=h password=hunter2 sslmode=maybe",
    ] {
        let error = Projections::connect(bad, "projections").await.unwrap_err();
        assert!(matches!(error, Error::InvalidUrl { .. }), "{error:?}");
        assert!(!format!("{error} {error:?}").contains("hunter2"), "{error:?}");
    }
}

#[test]
fn unsigned_values_convert_with_checks() {
    assert_eq!(to_i64(i64::MAX as u64, "c").unwrap(), i64::MAX);
    let error = to_i64(i64::MAX as u64 + 1, "blocks.number").unwrap_err();
    assert_eq!(
        error.to_string(),
        "value 9223372036854775808 out of range for column blocks.number: the largest bigint is 9223372036854775807"
    );
    assert!(matches!(to_u64(-1, "x.y"), Err(Error::Corrupt { column: "x.y", .. })));
    assert_eq!(escape_like(r"a_b%c\d"), r"a\_b\%c\\d");
}

// ---- migrations ----

#[tokio::test]
async fn migrations_run_once_even_when_starters_race() {
    let Some(db) = postgres().await else { return };
    let schema = db.fresh_schema();
    let racers =
        futures_util::future::join_all((0..4).map(|_| Projections::connect(&db.url, &schema)))
            .await;
    for racer in racers {
        let _ = racer.unwrap();
    }
    let projections = Projections::connect(&db.url, &schema).await.unwrap();
    let again = Projections::connect(&db.url, &schema).await.unwrap();
    assert_eq!(again.schema(), schema);

    let rows = db
        .raw()
        .await
        .query(
            &format!("SELECT version, name FROM \"{schema}\".schema_migrations ORDER BY version"),
            &[],
        )
        .await
        .unwrap();
    let versions: Vec<(i32, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(
        versions,
        [
            (1, "stream offsets and ledger projections".into()),
            (2, "access-event projections".into()),
            (3, "billing projections".into())
        ]
    );
    let counts = projections.counts().await.unwrap();
    assert_eq!(counts.len(), 14);
    for (table, count) in &counts {
        assert_eq!(*count, if table == "schema_migrations" { 3 } else { 0 }, "{table}");
    }
    assert_eq!(projections.ledger_next_offset().await.unwrap(), 0);
    assert!(projections.access_next_offsets("access").await.unwrap().is_empty());

    // A schema migrated by a newer build is refused.
    let _ = db
        .raw()
        .await
        .execute(&format!("INSERT INTO \"{schema}\".schema_migrations VALUES (99, 'future')"), &[])
        .await
        .unwrap();
    let error = Projections::connect(&db.url, &schema).await.unwrap_err();
    assert!(matches!(error, Error::SchemaTooNew { found: 99, known: 3, .. }), "{error:?}");

    db.drop_all(&[&projections]).await;
    let left = db
        .raw()
        .await
        .query_one("SELECT count(*) FROM pg_namespace WHERE nspname = $1", &[&schema])
        .await
        .unwrap();
    assert_eq!(left.get::<_, i64>(0), 0);
    Projections::drop_schema(&db.url, &schema).await.unwrap();
}

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
         DELETE FROM \"{live_schema}\".usage WHERE identity = 'addr-a' AND action = 'list' AND decision = 'allowed';
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
            ("usage", "(addr-a,list,allowed)", false, true),
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

fn account_block(n: u64, holder: &str, price_per_query: u64) -> BlockChanges {
    let mut changes = block(n);
    changes.accounts.push(AccountRow {
        holder: holder.into(),
        currency: "EUR".into(),
        opened_in_block: 1,
        credited: 0,
        plans: vec![PlanRow {
            from_height: n + 1,
            tx_id: format!("tx-plan-{n}"),
            tariff: Tariff {
                price_per_query,
                price_per_mib: 0,
                free_queries_per_month: 1,
                free_mib_per_month: 0,
            },
            payment: "postpaid".into(),
            rate_limit_per_second: 0,
        }],
        top_ups: Vec::new(),
    });
    changes
}

fn verification(n: u64, identity: &str, height: u64) -> AccessEvent {
    AccessEvent {
        action: "verify".into(),
        bytes: 0,
        ledger_height: height,
        request: Vec::new(),
        ..event(n, identity, "asset:health/set1@1", Decision::Allowed, 0)
    }
}

#[tokio::test]
async fn account_holders_are_metered_once_with_the_plan_of_their_height() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    // Block 1 opens the account (plan from height 2); block 3 changes its price.
    let mut third = account_block(3, "holder", 7);
    third.accounts[0].plans.insert(0, account_block(1, "holder", 5).accounts[0].plans[0].clone());
    let blocks = vec![block(0), account_block(1, "holder", 5), block(2)];
    assert_eq!(projections.apply_blocks(&blocks).await.unwrap(), 3);

    let stream = "access-test";
    // Height 1 is before the account: metered (usage), never charged; height
    // 4 needs block 3, not projected yet: the batch is refused whole.
    let first = vec![
        record(0, 0, verification(1, "holder", 1)),
        record(0, 1, verification(2, "holder", 2)),
        record(0, 2, verification(3, "holder", 3)),
        record(0, 3, AccessEvent { decision: Decision::Denied, ..verification(4, "holder", 3) }),
        record(0, 4, verification(5, "nobody", 3)),
        record(0, 5, verification(6, "holder", 4)),
    ];
    let error = projections.apply_access(stream, &first).await.unwrap_err();
    assert!(matches!(error, Error::LedgerBehind { needed: 4, projected: 3, .. }), "{error}");
    assert!(projections.access_next_offsets(stream).await.unwrap().is_empty());
    assert_eq!(projections.apply_blocks(&[third]).await.unwrap(), 1);
    let applied = projections.apply_access(stream, &first).await.unwrap();
    assert_eq!(applied.billed, 3, "{applied:?}");
    // A republished event and one more at the new price.
    let second = vec![
        record(0, 6, verification(3, "holder", 3)),
        record(0, 7, verification(7, "holder", 4)),
    ];
    let applied = projections.apply_access(stream, &second).await.unwrap();
    assert_eq!((applied.applied, applied.duplicates, applied.billed), (1, 1, 1), "{applied:?}");

    let month = Month::of_ms(1_700_000_000_000);
    let lines = projections.billing_lines("holder", month).await.unwrap();
    let amounts: Vec<(String, u64, u64)> =
        lines.iter().map(|l| (l.event_id.clone(), l.charge.amount, l.plan_from_height)).collect();
    assert_eq!(
        amounts,
        vec![
            (format!("{:032x}", 2), 0, 2),
            (format!("{:032x}", 3), 5, 2),
            (format!("{:032x}", 6), 7, 4),
            (format!("{:032x}", 7), 7, 4),
        ],
        "the free query, then 5 under the first plan, then 7 under the second"
    );
    let periods = vec![
        TariffPeriod {
            from_height: 2,
            tariff: Tariff {
                price_per_query: 5,
                price_per_mib: 0,
                free_queries_per_month: 1,
                free_mib_per_month: 0,
            },
        },
        TariffPeriod {
            from_height: 4,
            tariff: Tariff {
                price_per_query: 7,
                price_per_mib: 0,
                free_queries_per_month: 1,
                free_mib_per_month: 0,
            },
        },
    ];
    assert_eq!(billing::recompute(&periods, &lines), Ok(19));
    let months = projections.billing_months("holder").await.unwrap();
    assert_eq!(months, vec![(month, MonthTotals { events: 4, queries: 4, bytes: 0, charged: 19 })]);
    assert_eq!(projections.billing_charged_by_others("holder", "addr-node-1").await.unwrap(), 0);
    assert_eq!(projections.billing_charged_by_others("holder", "elsewhere").await.unwrap(), 19);
    assert!(projections.billing_lines("nobody", month).await.unwrap().is_empty());
    // The billing tables are projections: digests cover them.
    let digests = projections.digests().await.unwrap();
    assert_eq!(digests["billing_lines"].rows, 4);
    assert_eq!(digests["billing_plans"].rows, 2);

    db.drop_all(&[&projections]).await;
}
