//! The ODS front-end end to end against the real PostgreSQL server and a
//! running node: full and incremental syncs, unchanged data publishing
//! nothing, fetch round-tripping byte for byte to `COPY … TO STDOUT`,
//! unlisted identities refused, a tampered chunk detected and named, and an
//! identity taken off the list refused every version and no later key.
//!
//! PostgreSQL is the one `cairn_tests::support` names (`CAIRN_TEST_POSTGRES`);
//! when it cannot be reached the test fails under `CAIRN_REQUIRE_SERVICES=1`
//! and is skipped with a loud message otherwise.

use std::path::Path;

use cairn_tests::{Node, Start, cairn, support};

/// A fresh database, dropped when the guard goes.
struct Database {
    /// The server's administrative URL, which it was created through.
    admin: String,
    name: String,
    url: String,
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = self.admin.clone();
        let _ = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok((client, connection)) =
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    drop(tokio::spawn(connection));
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

async fn fresh_database() -> Option<(Database, tokio_postgres::Client)> {
    let admin = support::postgres_reachable().await?;
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL answered, then refused a connection: {e}"));
    drop(tokio::spawn(connection));
    let name = format!("cairn_ods_{}", std::process::id());
    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.unwrap();
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let url = admin.rsplit_once('/').map(|(base, _)| format!("{base}/{name}")).unwrap();
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    drop(tokio::spawn(connection));
    Some((Database { admin, name, url }, db))
}

async fn copy_out(client: &tokio_postgres::Client, statement: &str) -> Vec<u8> {
    use futures_util::StreamExt;
    let stream = client.copy_out(statement).await.unwrap();
    let mut stream = std::pin::pin!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

fn address(key: &Path) -> String {
    cairn(["key", "show", key.to_str().unwrap(), "--json"]).assert_success().json()["address"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `cairn data fetch ASSET --version VERSION` (0: the latest) as `key`.
fn fetch(
    url: &str,
    key: &Path,
    asset_id: &str,
    version: &str,
    out: &Path,
) -> cairn_tests::CliOutput {
    cairn([
        "data",
        "fetch",
        asset_id,
        "--version",
        version,
        "--key",
        key.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--node",
        url,
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_shares_sync_fetch_and_detect_tampering() {
    let Some((database, db)) = fresh_database().await else { return };
    db.batch_execute(
        "CREATE TABLE citizens (id bigserial PRIMARY KEY, name text NOT NULL, note text, updated_at timestamptz NOT NULL DEFAULT now());
         INSERT INTO citizens (name, note, updated_at)
           SELECT 'citizen ' || i, CASE WHEN i % 7 = 0 THEN NULL WHEN i % 5 = 0 THEN 'says \"hi\", then
leaves' ELSE 'ünïcode ' || i END, '2026-01-01'::timestamptz + i * interval '1 second'
           FROM generate_series(1, 5000) i;",
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let node = Node::start(&data, Start::Demo).unwrap();
    let url = node.url();
    let data_dir = data.to_str().unwrap();
    let provider = data.join("demo/health-provider.key");
    let consumer = data.join("demo/civil-consumer.key");
    let consumer_address = address(&consumer);

    // Full sync of a table.
    cairn([
        "share",
        "create",
        "citizens",
        "--asset-id",
        "civil/citizens",
        "--key",
        provider.to_str().unwrap(),
        "--postgres",
        &database.url,
        "--table",
        "public.citizens",
        "--authorise",
        &consumer_address,
        "--data-dir",
        data_dir,
        "--chunk-size",
        "65536",
    ])
    .assert_success();
    cairn(["sync", "citizens", "--data-dir", data_dir, "--node", &url, "--quiet"]).assert_success();
    let again = cairn(["sync", "citizens", "--data-dir", data_dir, "--node", &url, "--quiet"])
        .assert_success()
        .stdout
        .clone();
    assert!(again.contains("unchanged"), "{again}");
    let history = cairn(["asset", "history", "civil/citizens", "--node", &url, "--json"])
        .assert_success()
        .json();
    assert_eq!(
        history.as_array().unwrap().len(),
        1,
        "an unchanged sync published a version: {history}"
    );
    assert_eq!(history[0]["row_count"], 5000);

    let fetched = dir.path().join("citizens.csv");
    cairn([
        "data",
        "fetch",
        "civil/citizens",
        "--key",
        consumer.to_str().unwrap(),
        "--out",
        fetched.to_str().unwrap(),
        "--node",
        &url,
    ])
    .assert_success();
    let expected =
        copy_out(&db, "COPY (SELECT * FROM public.citizens) TO STDOUT (FORMAT csv, HEADER true)")
            .await;
    let got = std::fs::read(&fetched).unwrap();
    assert!(got == expected, "fetched {} bytes, COPY gives {} bytes", got.len(), expected.len());

    // Identities not on the list get no key material and no file.
    let denied = dir.path().join("denied.csv");
    cairn([
        "data",
        "fetch",
        "civil/citizens",
        "--key",
        data.join("demo/verifier.key").to_str().unwrap(),
        "--out",
        denied.to_str().unwrap(),
        "--node",
        &url,
    ])
    .assert_failure_with("may not request_data");
    assert!(!denied.exists());

    // Incremental sync on updated_at: inserts and updates after the first version.
    cairn([
        "share",
        "create",
        "citizens-delta",
        "--asset-id",
        "civil/citizens-delta",
        "--key",
        provider.to_str().unwrap(),
        "--postgres",
        &database.url,
        "--table",
        "citizens",
        "--watermark",
        "updated_at",
        "--format",
        "ndjson",
        "--authorise",
        &consumer_address,
        "--data-dir",
        data_dir,
    ])
    .assert_success();
    cairn(["sync", "citizens-delta", "--data-dir", data_dir, "--node", &url, "--quiet"])
        .assert_success();
    db.batch_execute(
        "INSERT INTO citizens (name, updated_at) SELECT 'newcomer ' || i, '2027-01-01'::timestamptz + i * interval '1 second' FROM generate_series(1, 10) i;
         UPDATE citizens SET note = 'moved', updated_at = '2027-02-01' WHERE id = 42;",
    )
    .await
    .unwrap();
    cairn(["sync", "citizens-delta", "--data-dir", data_dir, "--node", &url, "--quiet"])
        .assert_success();
    let unchanged =
        cairn(["sync", "citizens-delta", "--data-dir", data_dir, "--node", &url, "--quiet"])
            .assert_success()
            .stdout
            .clone();
    assert!(unchanged.contains("no rows past the watermark"), "{unchanged}");
    // The public history shows no source and no watermark; the publisher's key opens them.
    let history = cairn(["asset", "history", "civil/citizens-delta", "--node", &url, "--json"])
        .assert_success()
        .json();
    assert_eq!(history.as_array().unwrap().len(), 2, "{history}");
    assert_eq!(history[1]["row_count"], 11, "{history}");
    assert!(history[1]["watermark"].is_null() && history[1]["source"].is_null(), "{history}");
    let shown = cairn(["asset", "show", "civil/citizens-delta", "--node", &url, "--json"])
        .assert_success()
        .stdout
        .clone();
    // Column names are public (the schema); the watermark value and the source are not.
    for secret in ["2027-02-01", "127.0.0.1", "postgres", &database.name] {
        assert!(!shown.contains(secret), "{secret:?} is on the ledger in clear: {shown}");
    }
    let history = cairn([
        "asset",
        "history",
        "civil/citizens-delta",
        "--key",
        provider.to_str().unwrap(),
        "--node",
        &url,
        "--json",
    ])
    .assert_success()
    .json();
    assert!(
        history[1]["watermark"]["value"].as_str().unwrap().starts_with("2027-02-01"),
        "{history}"
    );
    assert!(history[1]["source"].as_str().unwrap().contains("citizens"), "{history}");
    let delta = dir.path().join("delta.ndjson");
    cairn([
        "data",
        "fetch",
        "civil/citizens-delta",
        "--key",
        consumer.to_str().unwrap(),
        "--out",
        delta.to_str().unwrap(),
        "--node",
        &url,
    ])
    .assert_success();
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&delta)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 11);
    assert_eq!(lines.last().unwrap()["id"], 42);
    assert_eq!(lines.last().unwrap()["note"], "moved");

    // A changed byte in a stored chunk is detected and named; nothing is written.
    // The object of civil/citizens version 1, from the node's version index.
    let index_path =
        data.join(format!("ods/objects/index/{}/v1.json", hex::encode("civil/citizens")));
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let biggest = data.join("ods/objects").join(index["object"].as_str().unwrap());
    let mut bytes = std::fs::read(&biggest).unwrap();
    let position = bytes.len() / 2;
    bytes[position] ^= 0x20;
    std::fs::write(&biggest, &bytes).unwrap();
    let tampered = dir.path().join("tampered.csv");
    cairn([
        "data",
        "fetch",
        "civil/citizens",
        "--key",
        consumer.to_str().unwrap(),
        "--out",
        tampered.to_str().unwrap(),
        "--node",
        &url,
    ])
    .assert_failure_with("chunk ");
    assert!(!tampered.exists(), "a corrupt fetch left a file behind");

    // Taking an identity off the list: its next fetch of any version is
    // refused with no key material, and the next sync wraps no key for it.
    let provider_address = address(&provider);
    cairn([
        "asset",
        "share",
        "--key",
        provider.to_str().unwrap(),
        "--asset-id",
        "civil/citizens-delta",
        "--authorise",
        &provider_address,
        "--node",
        &url,
    ])
    .assert_success();
    for version in ["1", "2"] {
        let removed = dir.path().join(format!("removed-v{version}.ndjson"));
        let out = fetch(&url, &consumer, "civil/citizens-delta", version, &removed);
        let _ = out.assert_failure_with("authorised list");
        assert!(!out.stdout.contains("data key"), "{}", out.describe());
        assert!(!removed.exists(), "a refused fetch left a file behind");
    }
    db.batch_execute(
        "INSERT INTO citizens (name, updated_at) VALUES ('after removal', '2027-03-01');",
    )
    .await
    .unwrap();
    cairn(["sync", "citizens-delta", "--data-dir", data_dir, "--node", &url, "--quiet"])
        .assert_success();
    let history = cairn(["asset", "history", "civil/citizens-delta", "--node", &url, "--json"])
        .assert_success()
        .json();
    assert_eq!(history.as_array().unwrap().len(), 3, "{history}");
    let grants =
        data.join(format!("ods/objects/grants/{}/v3", hex::encode("civil/citizens-delta")));
    assert!(
        grants.join(format!("{provider_address}.json")).exists(),
        "the listed provider has a grant"
    );
    assert!(
        !grants.join(format!("{consumer_address}.json")).exists(),
        "version 3's data key was wrapped for an identity taken off the list"
    );
    let removed = dir.path().join("removed-v3.ndjson");
    fetch(&url, &consumer, "civil/citizens-delta", "0", &removed)
        .assert_failure_with("authorised list");
    assert!(!removed.exists());

    let directory = cairn(["asset", "list", "--node", &url, "--json"]).assert_success().json();
    assert!(
        directory.as_array().unwrap().iter().any(|a| a["asset_id"] == "civil/citizens"),
        "{directory}"
    );
    node.stop_cleanly();
    drop(db);
}
