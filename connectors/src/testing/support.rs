//! Where the tests find the services they need, and what happens when one is missing.
//!
//! | service | where | how to start it |
//! | --- | --- | --- |
//! | PostgreSQL | `CAIRN_TEST_POSTGRES`, default [`DEFAULT_POSTGRES`] | `pg_ctlcluster … main start`, or `scripts/test` |
//! | a Kafka broker | `CAIRN_TEST_KAFKA` (`host:port[,host:port…]`), no default | `scripts/test`, or `nisshi broker` and set the variable |
//! | the `nisshi` binary (tests that start a broker of their own) | `PATH`, then `$CARGO_HOME/bin` | `cargo install nisshi@0.8.1 --locked --ignore-rust-version --no-default-features --features dynostore,postgres` |
//! | the `s3s-fs` binary | `PATH`, then `$CARGO_HOME/bin` | `cargo install s3s-fs@0.14.1 --locked --features binary` |
//!
//! One rule: when services are [`required`] (`CAIRN_REQUIRE_SERVICES=1`,
//! which `scripts/test` sets), a missing or unreachable service panics with a
//! message naming the service, the variable and how to start it. Otherwise
//! the test prints a loud `SKIPPED: …` line to stderr (past the test
//! harness's capture) and the finder answers `None`, so the test returns
//! early. `CI=true` counts as required too, for older CI configurations;
//! `CAIRN_REQUIRE_SERVICES` is the variable to set.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// The variable that makes a missing service a failure: `CAIRN_REQUIRE_SERVICES=1`.
pub const REQUIRE_VAR: &str = "CAIRN_REQUIRE_SERVICES";
/// The variable naming the PostgreSQL server of the tests, as a URL.
pub const POSTGRES_VAR: &str = "CAIRN_TEST_POSTGRES";
/// The PostgreSQL server used when [`POSTGRES_VAR`] is not set.
pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The variable naming the Kafka bootstrap servers of the tests.
pub const KAFKA_VAR: &str = "CAIRN_TEST_KAFKA";

/// How long a reachability check waits for a TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How to start PostgreSQL, for messages.
const POSTGRES_HINT: &str = "start PostgreSQL (scripts/test does, or `pg_ctlcluster <version> main start`) \
     or set CAIRN_TEST_POSTGRES to a server whose user may create databases";
/// How to get a broker, for messages.
const KAFKA_HINT: &str = "run scripts/test, or start `nisshi broker --listener-url tcp://127.0.0.1:19092 \
     --advertised-listener-url tcp://127.0.0.1:19092 --storage-engine memory://nisshi/` \
     and set CAIRN_TEST_KAFKA=127.0.0.1:19092";
/// How to install nisshi, for messages.
const NISSHI_HINT: &str = "run scripts/test, which installs it, or `cargo install nisshi@0.8.1 --locked \
     --ignore-rust-version --no-default-features --features dynostore,postgres`";
/// How to install s3s-fs, for messages.
const S3S_FS_HINT: &str = "run scripts/test, which installs it, or `cargo install s3s-fs@0.14.1 --locked \
     --features binary`";

/// Whether a missing service fails the test instead of skipping it:
/// `CAIRN_REQUIRE_SERVICES=1`, or `CI=true`.
pub fn required() -> bool {
    std::env::var(REQUIRE_VAR).is_ok_and(|value| value == "1")
        || std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Applies the rule to a service that is not there: panics when services
/// are [`required`], and otherwise prints a loud `SKIPPED` line and answers
/// `None`.
///
/// `service` names it ("PostgreSQL"), `problem` says what is wrong ("nothing
/// answers at 127.0.0.1:5432") and `hint` how to fix it. Tests with a check
/// of their own (a database they could not create, say) use this too.
#[track_caller]
pub fn unavailable<T>(service: &str, problem: &str, hint: &str) -> Option<T> {
    if required() {
        panic!("{service} is required ({REQUIRE_VAR}=1) but {problem}: {hint}");
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    // Written to the process's stderr directly, which the test harness does
    // not capture, so the skip is seen without --nocapture.
    let _ = writeln!(
        std::io::stderr(),
        "\nSKIPPED: {test}: {service} {problem}; {hint} (set {REQUIRE_VAR}=1 to fail instead)\n"
    );
    None
}

/// Whether something accepts TCP connections at `addr` (`host:port`) within two seconds.
pub fn answers(addr: &str) -> bool {
    addr.to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|addr| TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok())
}

/// The PostgreSQL URL of the tests, [`POSTGRES_VAR`] or [`DEFAULT_POSTGRES`],
/// without checking that anything answers there.
pub fn postgres_url() -> String {
    std::env::var(POSTGRES_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES.to_owned())
}

/// The `host:port` of a `postgres://` URL (port 5432 when absent), or `None`
/// if it is not such a URL.
pub fn postgres_endpoint(url: &str) -> Option<String> {
    let rest = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host_port = host_port.split(',').next().unwrap_or_default();
    if host_port.is_empty() {
        return Some("127.0.0.1:5432".to_owned());
    }
    let has_port = match host_port.rsplit_once(':') {
        // An IPv6 literal is in brackets; its colons are not a port separator.
        Some((_, port)) => !port.contains(']') && port.parse::<u16>().is_ok(),
        None => false,
    };
    Some(if has_port { host_port.to_owned() } else { format!("{host_port}:5432") })
}

/// The PostgreSQL server of the tests, if something answers at its address.
///
/// Only the TCP port is checked; [`postgres_reachable`] also logs in.
#[track_caller]
pub fn postgres() -> Option<String> {
    let url = postgres_url();
    let Some(endpoint) = postgres_endpoint(&url) else {
        panic!("{POSTGRES_VAR} must be a postgres:// URL, as in {DEFAULT_POSTGRES}");
    };
    if answers(&endpoint) {
        Some(url)
    } else {
        unavailable(
            "PostgreSQL",
            &format!("nothing answers at {endpoint} ({POSTGRES_VAR})"),
            POSTGRES_HINT,
        )
    }
}

/// The PostgreSQL server of the tests, if it accepts a connection and
/// answers `SELECT 1`; see [`postgres`] for the rule when it does not.
#[cfg(feature = "pg")]
pub async fn postgres_reachable() -> Option<String> {
    let url = postgres_url();
    let endpoint = postgres_endpoint(&url).unwrap_or_else(|| "(the configured server)".to_owned());
    let mut config = match url.parse::<tokio_postgres::Config>() {
        Ok(config) => config,
        Err(error) => panic!("{POSTGRES_VAR} is not a valid PostgreSQL URL: {error}"),
    };
    let _ = config.connect_timeout(Duration::from_secs(5));
    let answered = match config.connect(tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            let driver = tokio::spawn(connection);
            let answered = client.simple_query("SELECT 1").await.map(drop);
            drop(client);
            let _ = driver.await;
            answered
        }
        Err(error) => Err(error),
    };
    match answered {
        Ok(()) => Some(url),
        Err(error) => {
            let cause = std::error::Error::source(&error)
                .map(|cause| format!(": {cause}"))
                .unwrap_or_default();
            unavailable(
                "PostgreSQL",
                &format!(
                    "the server at {endpoint} ({POSTGRES_VAR}) refused or failed: {error}{cause}"
                ),
                POSTGRES_HINT,
            )
        }
    }
}

/// The Kafka bootstrap servers of the tests, [`KAFKA_VAR`], if the first one answers.
#[track_caller]
pub fn kafka() -> Option<String> {
    let Some(brokers) = std::env::var(KAFKA_VAR).ok().filter(|brokers| !brokers.is_empty()) else {
        return unavailable(
            "a Kafka broker",
            &format!("is not configured ({KAFKA_VAR} is not set)"),
            KAFKA_HINT,
        );
    };
    let first = brokers.split(',').next().unwrap_or_default().trim();
    if answers(first) {
        Some(brokers)
    } else {
        unavailable(
            "a Kafka broker",
            &format!("nothing answers at {first} ({KAFKA_VAR}={brokers})"),
            KAFKA_HINT,
        )
    }
}

/// The `nisshi` binary, for tests that start a broker of their own.
#[track_caller]
pub fn nisshi() -> Option<PathBuf> {
    match find_binary("nisshi") {
        Some(path) => Some(path),
        None => unavailable("the nisshi broker", "is not installed", NISSHI_HINT),
    }
}

/// The `s3s-fs` binary, a signature-checking S3 server.
#[track_caller]
pub fn s3s_fs() -> Option<PathBuf> {
    match find_binary("s3s-fs") {
        Some(path) => Some(path),
        None => unavailable("the s3s-fs S3 server", "is not installed", S3S_FS_HINT),
    }
}

/// An executable `name` on `PATH`, or in `$CARGO_HOME/bin` (default `~/.cargo/bin`).
pub fn find_binary(name: &str) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    path_dirs
        .into_iter()
        .chain(cargo_home.map(|home| home.join("bin")))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_of_a_url_is_its_host_and_port() {
        let cases = [
            ("postgres://postgres@127.0.0.1:5432/postgres", Some("127.0.0.1:5432")),
            ("postgresql://u:p%40ss@db.example/x?sslmode=require", Some("db.example:5432")),
            ("postgres://u@[::1]:6543/db", Some("[::1]:6543")),
            ("postgres://u@[::1]/db", Some("[::1]:5432")),
            ("postgres:///db", Some("127.0.0.1:5432")),
            ("host=localhost dbname=x", None),
        ];
        for (url, expected) in cases {
            assert_eq!(postgres_endpoint(url).as_deref(), expected, "{url}");
        }
    }

    #[test]
    fn nothing_answers_on_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        assert!(answers(&addr));
        drop(listener);
        assert!(!answers(&addr));
        assert!(!answers("not an address"));
    }
}
