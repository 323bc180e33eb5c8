//! The PostgreSQL source's error cases against a real server, each provoked
//! for real: unreachable servers, bad URLs and shares, refused logins,
//! missing objects, denied reads, invalid queries and watermarks, a failing
//! writer, and TLS as the URL asks.

#[macro_use]
mod support;

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use connectors::Error;
use connectors::source::pg::{Format, PgShare, Selection, copy_to_sink, snapshot};
use support::{TestDb, fail, run, share, table};
use tokio::io::AsyncWrite;

#[tokio::test]
async fn an_unreachable_server_is_named_without_the_password() {
    let share = PgShare {
        url: "postgres://postgres:s3cret-pw@127.0.0.1:1/db?connect_timeout=5".to_owned(),
        selection: table("t"),
        watermark_column: None,
    };
    let err = fail(&share, Format::Csv, None).await;
    assert!(matches!(err, Error::SourceUnreachable { .. }), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("PostgreSQL at 127.0.0.1:1"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");

    let err = copy_to_sink(&share.url, &share.selection).await.expect_err("unreachable");
    assert!(!format!("{err} {err:?}").contains("s3cret"));
}

#[tokio::test]
async fn invalid_urls_and_shares_are_refused_before_connecting() {
    let bad =
        |url: &str| PgShare { url: url.to_owned(), selection: table("t"), watermark_column: None };
    for url in [
        "postgres://u:s3cret@host:notaport/db",
        "mysql://u:s3cret@h/db",
        "postgres://u:s3cret@h/db?sslmode=sometimes",
        "postgres://u:s3cret@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    ] {
        let err = fail(&bad(url), Format::Csv, None).await;
        assert!(matches!(err, Error::InvalidSourceUrl { .. }), "{url}: {err}");
        assert!(!format!("{err} {err:?}").contains("s3cret"), "{err:?}");
    }

    let share = bad("postgres://u@127.0.0.1:1/db");
    let err = fail(&share, Format::Csv, Some("5")).await;
    assert!(matches!(err, Error::InvalidShare { .. }), "{err}");
    for selection in [
        Selection::Table { schema: None, table: String::new() },
        Selection::Table { schema: Some("a\0b".to_owned()), table: "t".to_owned() },
        Selection::Query(" ;\n".to_owned()),
    ] {
        let err = fail(&PgShare { selection, ..share.clone() }, Format::Csv, None).await;
        assert!(matches!(err, Error::InvalidShare { .. }), "{err}");
    }
}

#[tokio::test]
async fn authentication_failures_name_the_user() {
    let db = test_db!("authentication_failures_name_the_user");
    let nologin = db.role("NOLOGIN").await;
    for user in ["cairn_no_such_role", nologin.as_str()] {
        let share = PgShare {
            url: db.url_as(user, Some(b"pw-not-shown")),
            selection: table("t"),
            watermark_column: None,
        };
        let err = fail(&share, Format::Csv, None).await;
        assert!(matches!(err, Error::SourceAuthentication { .. }), "{err}");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(user), "{shown}");
        assert!(!shown.contains("pw-not-shown"), "{shown}");
    }
}

#[tokio::test]
async fn a_missing_database_table_schema_or_column_is_named() {
    let db = test_db!("a_missing_database_table_schema_or_column_is_named");
    db.exec("CREATE TABLE present (id int, v text); CREATE SEQUENCE not_a_table;").await;

    let missing_db = PgShare {
        url: db.url_to_database("cairn_no_such_database"),
        selection: table("present"),
        watermark_column: None,
    };
    let err = fail(&missing_db, Format::Csv, None).await;
    assert!(matches!(err, Error::DatabaseMissing { .. }), "{err}");
    assert!(err.to_string().contains("cairn_no_such_database"), "{err}");

    for (schema, name) in [
        (Some("public"), "absent"),
        (Some("no_schema"), "present"),
        (None, "Present"),
        (None, "not_a_table"),
    ] {
        let selection =
            Selection::Table { schema: schema.map(str::to_owned), table: name.to_owned() };
        let err = fail(&share(&db, selection, None), Format::Csv, None).await;
        assert!(matches!(err, Error::TableMissing { .. }), "{err}");
        assert!(err.to_string().contains(&db.name), "{err}");
    }

    let err = fail(&share(&db, table("present"), Some("updated_at")), Format::Csv, None).await;
    assert!(matches!(err, Error::WatermarkColumnMissing { .. }), "{err}");
    assert!(
        err.to_string().contains("\"updated_at\"") && err.to_string().contains("id, v"),
        "{err}"
    );
}

#[tokio::test]
async fn a_user_without_select_gets_permission_denied() {
    let db = test_db!("a_user_without_select_gets_permission_denied");
    db.exec("CREATE TABLE secret (id int, v text); INSERT INTO secret VALUES (1, 'x');").await;
    let reader = db.role("LOGIN").await;
    let as_reader =
        |selection| PgShare { url: db.url_as(&reader, None), selection, watermark_column: None };

    let err = fail(&as_reader(table("secret")), Format::Csv, None).await;
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(&reader) && text.contains("secret"), "{text}");

    let query = Selection::Query("SELECT * FROM secret".to_owned());
    let err = fail(&as_reader(query.clone()), Format::Ndjson, None).await;
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    let err = copy_to_sink(&db.url_as(&reader, None), &query).await.expect_err("denied");
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");

    // With the grant, the same share works.
    db.exec(&format!("GRANT SELECT ON secret TO {reader}")).await;
    let (outcome, _) = run(&as_reader(table("secret")), Format::Csv, None).await;
    assert_eq!(outcome.rows, 1);
}

#[tokio::test]
async fn invalid_queries_are_reported_with_their_position() {
    let db = test_db!("invalid_queries_are_reported_with_their_position");
    db.exec("CREATE TABLE t (id int); INSERT INTO t VALUES (1);").await;
    let query = |sql: &str| share(&db, Selection::Query(sql.to_owned()), None);

    let err = fail(&query("SELECT id FROM t WHERE id >> "), Format::Csv, None).await;
    assert!(matches!(err, Error::QueryInvalid { .. }), "{err}");
    assert!(err.to_string().contains("42601"), "{err}");

    let err = fail(&query("SELECT id FROM nope"), Format::Csv, None).await;
    assert!(matches!(err, Error::QueryInvalid { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("\"nope\"") && text.contains("at character 16"), "{text}");

    // Statements that would change data are refused; the table stays.
    for sql in [
        "DELETE FROM t RETURNING *",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        "SELECT 1; DROP TABLE t",
    ] {
        let err = fail(&query(sql), Format::Csv, None).await;
        assert!(matches!(err, Error::QueryInvalid { .. }), "{sql}: {err}");
    }
    assert_eq!(db.value("SELECT count(*)::text FROM t").await, "1");

    // A failure while the query runs is a source error.
    let err = fail(&query("SELECT 1 / (id - 1) AS boom FROM t"), Format::Csv, None).await;
    assert!(matches!(err, Error::SourceQuery { .. }), "{err}");
    assert!(err.to_string().contains("division by zero"), "{err}");
}

#[tokio::test]
async fn a_watermark_without_ordering_is_refused() {
    let db = test_db!("a_watermark_without_ordering_is_refused");
    db.exec("CREATE TABLE j (id int, doc json, p point); INSERT INTO j VALUES (1, '{}', '(1,2)');")
        .await;
    for column in ["doc", "p"] {
        let err = fail(&share(&db, table("j"), Some(column)), Format::Csv, None).await;
        assert!(matches!(err, Error::WatermarkUnordered { .. }), "{err}");
        assert!(err.to_string().contains(column), "{err}");
    }
}

/// A writer that accepts `left` bytes and then fails, as a reader that went away.
struct FailAfter {
    left: usize,
}

impl AsyncWrite for FailAfter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.left == 0 {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the reader went away",
            )));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_failing_writer_stops_the_copy_on_the_server() {
    let db = test_db!("a_failing_writer_stops_the_copy_on_the_server");
    db.exec(
        "CREATE TABLE big AS SELECT g AS id, repeat('z', 200) AS pad \
         FROM generate_series(1, 200000) AS g;",
    )
    .await;
    let share = share(&db, table("big"), None);

    let err = snapshot(&share, Format::Csv, None, FailAfter { left: 1_000_000 })
        .await
        .expect_err("the writer fails");
    assert!(matches!(err, Error::SinkWrite { .. }), "{err}");
    assert!(err.to_string().contains("table public.big"), "{err}");

    // The snapshot's connection is gone: the server is not left streaming.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let others = db
            .value(
                "SELECT count(*)::text FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .await;
        if others == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "{others} other sessions still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether the test server has TLS on, and its certificate file.
async fn server_tls(db: &TestDb) -> Option<String> {
    let (client, connection) = tokio_postgres::connect(&db.url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let driver = tokio::spawn(connection);
    let ssl: String = client.query_one("SHOW ssl", &[]).await.unwrap().get(0);
    let cert: String = client.query_one("SHOW ssl_cert_file", &[]).await.unwrap().get(0);
    drop(client);
    let _ = driver.await;
    (ssl == "on").then_some(cert)
}

/// Whether a connection made from `url` with `connectors::pg_tls` is encrypted.
async fn encrypted(url: &str) -> Result<bool, String> {
    let (config, tls) = connectors::pg_tls::connect_config(url).map_err(|e| e.to_string())?;
    let (client, connection) = config.connect(tls).await.map_err(|e| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    })?;
    let driver = tokio::spawn(connection);
    let row = client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .map_err(|e| e.to_string())?;
    drop(client);
    let _ = driver.await;
    Ok(row.get(0))
}

/// TLS as the URL asks. Debian's cluster runs with `ssl = on` and the
/// snakeoil certificate for `localhost`; against a server without TLS the
/// test checks that `sslmode=require` is refused rather than sent in clear.
#[tokio::test]
async fn tls_is_used_when_the_url_asks_for_it() {
    let db = test_db!("tls_is_used_when_the_url_asks_for_it");
    db.exec("CREATE TABLE public.t (id int); INSERT INTO public.t VALUES (1), (2);").await;
    let require = format!("{}?sslmode=require", db.url());
    let Some(cert_file) = server_tls(&db).await else {
        eprintln!(
            "*** the test PostgreSQL has ssl off: checking only that sslmode=require is refused"
        );
        let err =
            fail(&PgShare { url: require, ..share(&db, table("t"), None) }, Format::Csv, None)
                .await;
        assert!(err.to_string().contains("TLS"), "{err}");
        return;
    };
    assert_eq!(encrypted(&db.url()).await, Ok(false), "no sslmode: plain TCP as before");
    assert_eq!(encrypted(&require).await, Ok(true));
    let (outcome, _) =
        run(&PgShare { url: require.clone(), ..share(&db, table("t"), None) }, Format::Csv, None)
            .await;
    assert_eq!(outcome.rows, 2);

    // verify-full: the chain against sslrootcert and the host name.
    if std::fs::read(&cert_file).is_ok() {
        let localhost = db.url().replace("127.0.0.1", "localhost");
        let verified = format!("{localhost}?sslmode=verify-full&sslrootcert={cert_file}");
        if db.url().contains("127.0.0.1") {
            assert_eq!(encrypted(&verified).await, Ok(true), "{verified}");
            // The same certificate does not name 127.0.0.1.
            let wrong_name = format!("{}?sslmode=verify-full&sslrootcert={cert_file}", db.url());
            let error = encrypted(&wrong_name).await.unwrap_err();
            assert!(error.contains("certificate"), "{error}");
            let err = fail(
                &PgShare { url: wrong_name, ..share(&db, table("t"), None) },
                Format::Csv,
                None,
            )
            .await;
            assert!(err.to_string().contains("certificate"), "{err}");
        }
    } else {
        eprintln!("*** cannot read the server certificate {cert_file}: verify-full not checked");
    }
    // A root that did not sign the server's certificate.
    let dir = tempfile::tempdir().unwrap();
    let other_root = dir.path().join("other.pem");
    std::fs::write(&other_root, OTHER_ROOT).unwrap();
    let error = encrypted(&format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        db.url().replace("127.0.0.1", "localhost"),
        other_root.display()
    ))
    .await
    .unwrap_err();
    assert!(error.contains("certificate"), "{error}");
}

/// A self-signed certificate unrelated to the test server (ISRG Root X1).
const OTHER_ROOT: &str = "-----BEGIN CERTIFICATE-----
MIIFazCCA1OgAwIBAgIRAIIQz7DSQONZRGPgu2OCiwAwDQYJKoZIhvcNAQELBQAw
TzELMAkGA1UEBhMCVVMxKTAnBgNVBAoTIEludGVybmV0IFNlY3VyaXR5IFJlc2Vh
cmNoIEdyb3VwMRUwEwYDVQQDEwxJU1JHIFJvb3QgWDEwHhcNMTUwNjA0MTEwNDM4
WhcNMzUwNjA0MTEwNDM4WjBPMQswCQYDVQQGEwJVUzEpMCcGA1UEChMgSW50ZXJu
ZXQgU2VjdXJpdHkgUmVzZWFyY2ggR3JvdXAxFTATBgNVBAMTDElTUkcgUm9vdCBY
MTCCAiIwDQYJKoZIhvcNAQEBBQADggIPADCCAgoCggIBAK3oJHP0FDfzm54rVygc
h77ct984kIxuPOZXoHj3dcKi/vVqbvYATyjb3miGbESTtrFj/RQSa78f0uoxmyF+
0TM8ukj13Xnfs7j/EvEhmkvBioZxaUpmZmyPfjxwv60pIgbz5MDmgK7iS4+3mX6U
A5/TR5d8mUgjU+g4rk8Kb4Mu0UlXjIB0ttov0DiNewNwIRt18jA8+o+u3dpjq+sW
T8KOEUt+zwvo/7V3LvSye0rgTBIlDHCNAymg4VMk7BPZ7hm/ELNKjD+Jo2FR3qyH
B5T0Y3HsLuJvW5iB4YlcNHlsdu87kGJ55tukmi8mxdAQ4Q7e2RCOFvu396j3x+UC
B5iPNgiV5+I3lg02dZ77DnKxHZu8A/lJBdiB3QW0KtZB6awBdpUKD9jf1b0SHzUv
KBds0pjBqAlkd25HN7rOrFleaJ1/ctaJxQZBKT5ZPt0m9STJEadao0xAH0ahmbWn
OlFuhjuefXKnEgV4We0+UXgVCwOPjdAvBbI+e0ocS3MFEvzG6uBQE3xDk3SzynTn
jh8BCNAw1FtxNrQHusEwMFxIt4I7mKZ9YIqioymCzLq9gwQbooMDQaHWBfEbwrbw
qHyGO0aoSCqI3Haadr8faqU9GY/rOPNk3sgrDQoo//fb4hVC1CLQJ13hef4Y53CI
rU7m2Ys6xt0nUW7/vGT1M0NPAgMBAAGjQjBAMA4GA1UdDwEB/wQEAwIBBjAPBgNV
HRMBAf8EBTADAQH/MB0GA1UdDgQWBBR5tFnme7bl5AFzgAiIyBpY9umbbjANBgkq
hkiG9w0BAQsFAAOCAgEAVR9YqbyyqFDQDLHYGmkgJykIrGF1XIpu+ILlaS/V9lZL
ubhzEFnTIZd+50xx+7LSYK05qAvqFyFWhfFQDlnrzuBZ6brJFe+GnY+EgPbk6ZGQ
3BebYhtF8GaV0nxvwuo77x/Py9auJ/GpsMiu/X1+mvoiBOv/2X/qkSsisRcOj/KK
NFtY2PwByVS5uCbMiogziUwthDyC3+6WVwW6LLv3xLfHTjuCvjHIInNzktHCgKQ5
ORAzI4JMPJ+GslWYHb4phowim57iaztXOoJwTdwJx4nLCgdNbOhdjsnvzqvHu7Ur
TkXWStAmzOVyyghqpZXjFaH3pO3JLF+l+/+sKAIuvtd7u+Nxe5AW0wdeRlN8NwdC
jNPElpzVmbUq4JUagEiuTDkHzsxHpFKVK7q4+63SM1N95R1NbdWhscdCb+ZAJzVc
oyi3B43njTOQ5yOf+1CceWxG1bQVs5ZufpsMljq4Ui0/1lvh+wjChP4kqKOJ2qxq
4RgqsahDYVvTH9w7jXbyLeiNdd8XM2w9U/t7y0Ff/9yi0GE44Za4rF2LN9d11TPA
mRGunUHBcnWEvgJBQl9nJEiU0Zsnvgc/ubhPgXRR4Xq37Z0j4r7g1SgEEzwxA57d
emyPxgcYxn/eR44/KJ4EBs+lVDR3veyJm+kXQ99b21/+jh5Xos1AnX5iItreGCc=
-----END CERTIFICATE-----
";
