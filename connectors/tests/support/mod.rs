//! Throwaway databases and roles on the PostgreSQL server of the source tests.
//!
//! The server is the one `connectors::testing::support::postgres_reachable`
//! names (`CAIRN_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/postgres`);
//! its user must be allowed to create databases and roles. When it cannot be
//! reached, the rule of `connectors::testing::support` applies: the test fails
//! under `CAIRN_REQUIRE_SERVICES=1` and otherwise skips with a loud message.
//!
//! Also the helpers both source test files use: `test_db!`, shares of a
//! table, and snapshots that must succeed or fail.

#![allow(
    dead_code,
    reason = "shared by the pg_source and pg_source_errors tests, each of which uses a part"
)]

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use connectors::Error;
use connectors::source::pg::{Format, PgShare, Selection, SyncOutcome, snapshot};
use futures_util::StreamExt;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

/// Gets a test database or skips the test (see `support::test_db`).
macro_rules! test_db {
    ($name:expr) => {
        match $crate::support::test_db($name).await {
            Some(db) => db,
            None => return,
        }
    };
}

/// A share of `selection` in `db` as the administrative user.
pub(crate) fn share(db: &TestDb, selection: Selection, watermark: Option<&str>) -> PgShare {
    PgShare { url: db.url(), selection, watermark_column: watermark.map(str::to_owned) }
}

/// The table selection `public.name`.
pub(crate) fn table(name: &str) -> Selection {
    Selection::Table { schema: Some("public".to_owned()), table: name.to_owned() }
}

/// Runs a snapshot into memory.
pub(crate) async fn run(
    share: &PgShare,
    format: Format,
    since: Option<&str>,
) -> (SyncOutcome, Vec<u8>) {
    let mut out = Vec::new();
    match snapshot(share, format, since, &mut out).await {
        Ok(outcome) => (outcome, out),
        Err(err) => panic!("snapshot of {share:?} failed: {err}"),
    }
}

/// Runs a snapshot that must fail, and returns its error.
pub(crate) async fn fail(share: &PgShare, format: Format, since: Option<&str>) -> Error {
    let mut out = Vec::new();
    match snapshot(share, format, since, &mut out).await {
        Ok(outcome) => panic!("snapshot of {share:?} succeeded: {outcome:?}"),
        Err(err) => err,
    }
}

/// A database that exists for one test and is dropped when this is dropped,
/// even if the test panics; roles made through it are dropped too.
pub(crate) struct TestDb {
    /// The server's URL as given, for the administrative connection.
    admin: Config,
    /// The database's name.
    pub(crate) name: String,
    /// A connection to the database as the administrative user.
    pub(crate) client: Client,
    /// Roles to drop at the end.
    roles: Mutex<Vec<String>>,
}

/// Connects to `config`, driving the connection on the current runtime.
async fn connect(config: &Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A name no other test run uses: the process, the time and a counter.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}_{}_{nanos}_{count}", std::process::id())
}

/// Percent-encodes everything but unreserved URL characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Creates a database for the test `test`, or `None` (after saying so loudly)
/// if no server is reachable and services are not required.
pub(crate) async fn test_db(test: &str) -> Option<TestDb> {
    let url = connectors::testing::support::postgres_reachable().await?;
    let mut admin = Config::from_str(&url)
        .unwrap_or_else(|err| panic!("CAIRN_TEST_POSTGRES is not a valid PostgreSQL URL: {err}"));
    admin.connect_timeout(Duration::from_secs(5));
    let client = connect(&admin).await.unwrap_or_else(|err| {
        panic!(
            "{test}: PostgreSQL at {} answered, then refused a connection: {err}",
            describe(&admin)
        )
    });
    let name = unique("cairn_test");
    client
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"))
        .await
        .unwrap_or_else(|err| panic!("{test}: cannot create the test database {name}: {err}"));
    drop(client);
    let mut config = admin.clone();
    config.dbname(&name);
    let client = connect(&config)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to the test database {name}: {err}"));
    Some(TestDb { admin, name, client, roles: Mutex::new(Vec::new()) })
}

/// "host:port" of a config, for messages.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        Some(Host::Unix(dir)) => dir.display().to_string(),
        None => "(no host)".to_owned(),
    };
    format!("{host}:{}", config.get_ports().first().copied().unwrap_or(5432))
}

impl TestDb {
    /// A URL for the test database as the administrative user.
    pub(crate) fn url(&self) -> String {
        self.url_as(self.user(), self.admin.get_password())
    }

    /// A URL for the test database as `user`, with `password` if any.
    pub(crate) fn url_as(&self, user: &str, password: Option<&[u8]>) -> String {
        self.url_for(user, password, &self.name)
    }

    /// A URL for another `database` as the administrative user.
    pub(crate) fn url_to_database(&self, database: &str) -> String {
        self.url_for(self.user(), self.admin.get_password(), database)
    }

    /// The administrative user's name.
    pub(crate) fn user(&self) -> &str {
        self.admin.get_user().unwrap_or("postgres")
    }

    /// The server as "host:port".
    pub(crate) fn endpoint(&self) -> String {
        describe(&self.admin)
    }

    /// A URL for `database` as `user`, with `password` if any.
    fn url_for(&self, user: &str, password: Option<&[u8]>, database: &str) -> String {
        let secret = password
            .map(|p| format!(":{}", encode(&String::from_utf8_lossy(p))))
            .unwrap_or_default();
        format!(
            "postgres://{}{secret}@{}/{}",
            encode(user),
            describe(&self.admin),
            encode(database)
        )
    }

    /// Runs SQL in the test database, panicking with the SQL on failure.
    pub(crate) async fn exec(&self, sql: &str) {
        if let Err(err) = self.client.batch_execute(sql).await {
            panic!("setup SQL failed: {err:?}\n{sql}");
        }
    }

    /// Creates a role (dropped at the end) with `options` such as "LOGIN"; returns its name.
    pub(crate) async fn role(&self, options: &str) -> String {
        let name = unique("cairn_role");
        self.roles.lock().unwrap_or_else(|e| e.into_inner()).push(name.clone());
        self.exec(&format!("CREATE ROLE {name} {options}")).await;
        name
    }

    /// The bytes of a plain `COPY … TO STDOUT`, the reference snapshots are compared with.
    pub(crate) async fn copy(&self, sql: &str) -> Vec<u8> {
        let stream = self.client.copy_out(sql).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        let mut stream = std::pin::pin!(stream);
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap_or_else(|e| panic!("{sql}: {e:?}")));
        }
        out
    }

    /// The first column of every row of `sql`, as text (`None` for `NULL`).
    pub(crate) async fn column(&self, sql: &str) -> Vec<Option<String>> {
        let rows = self.client.query(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        rows.iter().map(|row| row.get(0)).collect()
    }

    /// The single text value of `sql`.
    pub(crate) async fn value(&self, sql: &str) -> String {
        let mut values = self.column(sql).await;
        assert_eq!(values.len(), 1, "{sql} returned {} rows", values.len());
        values.pop().flatten().unwrap_or_default()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        let roles = std::mem::take(&mut *self.roles.lock().unwrap_or_else(|e| e.into_inner()));
        // Drop runs inside the test's runtime, which cannot be blocked on, so
        // the cleanup gets a thread and a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let client = connect(&admin).await.map_err(std::io::Error::other)?;
                // DROP DATABASE cannot share a multi-statement string (it
                // would run in an implicit transaction), so each goes alone.
                let mut statements = vec![format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")];
                statements.extend(roles.iter().map(|role| format!("DROP ROLE IF EXISTS {role}")));
                for sql in statements {
                    client.batch_execute(&sql).await.map_err(std::io::Error::other)?;
                }
                Ok::<(), std::io::Error>(())
            })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("warning: could not drop test database {}: {err}", self.name),
            Err(_) => eprintln!("warning: the cleanup of test database {} panicked", self.name),
        }
    }
}
