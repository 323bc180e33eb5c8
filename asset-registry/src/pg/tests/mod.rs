//! Tests of the PostgreSQL projections against a real server.
//!
//! The server comes from `connectors::testing::support`, the one place that
//! says where the test services are (`CAIRN_TEST_POSTGRES`): when it cannot
//! be reached the tests fail if `CAIRN_REQUIRE_SERVICES=1` (CI), and
//! otherwise skip with a loud message. Each test works in its own fresh schema (`t_` and 16 hex
//! digits) and drops it at the end; a failed test leaves its schema behind
//! for inspection.

use std::sync::atomic::{AtomicU64, Ordering};

mod access;
mod billing;
mod ledger;
mod read;

use std::collections::{BTreeMap, HashSet};

use sha2::{Digest, Sha256};

use super::reads::escape_like;
use super::*;
use crate::audit::{AccessEvent, Action, AuditFilter, AuditProjection, Decision};
use tokio_postgres::NoTls;

/// The PostgreSQL the tests use.
struct TestDb {
    url: String,
}

/// The test server, as `connectors::testing::support` finds it: `None`
/// after a loud `SKIPPED` line when it is unreachable and not required; a
/// panic when it is.
async fn postgres() -> Option<TestDb> {
    connectors::testing::support::postgres_reachable().await.map(|url| TestDb { url })
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
        action: if n.is_multiple_of(3) { Action::ReadAudit } else { Action::RequestData },
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
    let error = Projections::connect(
        "postgres://postgres@127.0.0.1:5432/postgres",
        "Robert'); DROP TABLE x;--",
    )
    .await
    .unwrap_err();
    assert!(matches!(error, Error::InvalidSchemaName { .. }), "{error:?}");
    assert!(error.to_string().contains("^[a-z_][a-z0-9_]{0,62}$"), "{error}");
    let error = Projections::drop_schema("postgres://postgres@127.0.0.1:5432/postgres", "1x")
        .await
        .unwrap_err();
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
