//! The PostgreSQL source against a real server: snapshots are compared byte
//! for byte with a plain `COPY`, and incremental syncs with the rows SQL
//! selects.
//!
//! Each test makes its own database (see `support`), so they run in parallel.
//! The error cases are in `pg_source_errors.rs`.

#[macro_use]
mod support;

use std::io::Read;

use connectors::Error;
use connectors::source::file::{FileInfo, FileKind, inspect};
use connectors::source::pg::{ColumnInfo, Format, PgShare, Selection, copy_to_sink, snapshot};
use support::{fail, run, share, table};

/// Rows whose values are hard to quote: quotes, commas, line breaks,
/// backslashes, tabs, non-ASCII text, `NULL` next to the empty string, and
/// numbers JSON has no literal for; then enough plain rows for many chunks.
const CITIZENS: &str = r#"
CREATE TABLE public.citizens (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    note text,
    born date,
    score numeric(10, 2),
    ratio double precision,
    active boolean,
    tags text[],
    doc jsonb,
    raw bytea,
    updated_at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
);
INSERT INTO public.citizens (name, note, born, score, ratio, active, tags, doc, raw) VALUES
    ('quote', 'he said "hi" and ''bye''', '1990-01-02', 1.5, 0.1, true, '{a,"b \"c\""}', '{"k": "v \"q\""}', '\x00ff'),
    ('comma', 'a, b, c', '2000-02-29', -3.25, 1e300, false, '{}', '[1, 2.5, "x"]', '\x'),
    ('newline', E'line1\nline2\n', NULL, 0, -0.0, NULL, '{NULL}', 'null', NULL),
    ('crlf', E'line1\r\nline2\r', NULL, NULL, NULL, NULL, NULL, '"just a string"', NULL),
    ('backslash', E'C:\\path\\n \\\\ \\" end\\', NULL, NULL, NULL, NULL, NULL, '{"p": "a\\b"}', NULL),
    ('tab', E'a\tb\t', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('unicode', 'ünïcødé 🐢 中文 עברית', NULL, NULL, NULL, NULL, '{"ü 🐢"}', '{"ü": "🐢"}', NULL),
    ('null', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    ('empty', '', NULL, NULL, NULL, NULL, '{""}', '""', '\x'),
    ('not a number', 'x', NULL, 'NaN', 'Infinity', NULL, NULL, NULL, NULL),
    ('minus infinity', 'y', NULL, NULL, '-Infinity', NULL, NULL, NULL, NULL),
    ('control', E'bell \x07 escape \x1b end', NULL, NULL, 'NaN', NULL, NULL, NULL, NULL);
INSERT INTO public.citizens (name, note)
    SELECT 'bulk ' || g, repeat('x, "y"' || chr(10), g % 7) FROM generate_series(1, 5000) AS g;
"#;

/// The number of rows `CITIZENS` inserts.
const CITIZEN_ROWS: u64 = 5012;

/// Writes `bytes` to a temporary file and inspects it as `kind`.
fn inspect_bytes(bytes: &[u8], kind: FileKind) -> FileInfo {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("snapshot");
    std::fs::write(&path, bytes).expect("writing the snapshot");
    inspect(&path, kind).unwrap_or_else(|err| panic!("{err}"))
}

/// Splits NDJSON into parsed values, checking every line is one JSON value.
fn parse_ndjson(bytes: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(bytes).expect("NDJSON is UTF-8");
    assert!(text.is_empty() || text.ends_with('\n'), "NDJSON ends with a line feed");
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {line:?} is not JSON: {e}"))
        })
        .collect()
}

#[tokio::test]
async fn full_csv_is_byte_equal_to_a_plain_copy() {
    let db = test_db!("full_csv_is_byte_equal_to_a_plain_copy");
    db.exec(CITIZENS).await;
    let share = share(&db, table("citizens"), None);

    let (outcome, out) = run(&share, Format::Csv, None).await;

    let expected = db.copy("COPY public.citizens TO STDOUT (FORMAT csv, HEADER true)").await;
    assert!(out == expected, "the snapshot differs from COPY");
    assert_eq!(outcome.rows, CITIZEN_ROWS);
    assert_eq!(outcome.bytes, expected.len() as u64);
    assert_eq!(outcome.watermark, None);
    assert_eq!(
        outcome.source_description,
        format!(
            "postgresql table public.citizens on host {} db {} as user {}",
            db.endpoint(),
            db.name,
            db.user()
        )
    );
    let column = |name: &str, pg_type: &str, nullable: bool| ColumnInfo {
        name: name.to_owned(),
        pg_type: pg_type.to_owned(),
        nullable,
    };
    assert_eq!(
        outcome.columns,
        [
            column("id", "bigint", false),
            column("name", "text", false),
            column("note", "text", true),
            column("born", "date", true),
            column("score", "numeric(10,2)", true),
            column("ratio", "double precision", true),
            column("active", "boolean", true),
            column("tags", "text[]", true),
            column("doc", "jsonb", true),
            column("raw", "bytea", true),
            column("updated_at", "timestamp with time zone", false),
        ]
    );
    // The file source reads the snapshot back with the same rows and columns.
    let names: Vec<String> = outcome.columns.iter().map(|c| c.name.clone()).collect();
    let info = inspect_bytes(&out, FileKind::Csv);
    assert_eq!((info.rows, info.columns), (Some(CITIZEN_ROWS), Some(names)));

    // NULL is an empty unquoted field, the empty string a quoted one.
    let text = String::from_utf8(out).expect("CSV is UTF-8");
    assert!(text.contains(",null,,,,,,,,,2024-01-01 00:00:00"), "NULLs are empty fields");
    assert!(text.contains(",empty,\"\","), "empty strings are quoted");
}

#[tokio::test]
async fn full_ndjson_matches_row_to_json_line_for_line() {
    let db = test_db!("full_ndjson_matches_row_to_json_line_for_line");
    db.exec(CITIZENS).await;
    let share = share(&db, table("citizens"), None);

    let (outcome, out) = run(&share, Format::Ndjson, None).await;

    let mut expected = String::new();
    for line in db.column("SELECT row_to_json(t)::text FROM public.citizens AS t").await {
        expected.push_str(&line.unwrap_or_default());
        expected.push('\n');
    }
    assert!(out == expected.as_bytes(), "NDJSON differs from row_to_json");
    assert_eq!(outcome.rows, CITIZEN_ROWS);
    assert_eq!(outcome.bytes, out.len() as u64);

    let names: Vec<String> = outcome.columns.iter().map(|c| c.name.clone()).collect();
    let info = inspect_bytes(&out, FileKind::Ndjson);
    assert_eq!((info.rows, info.columns), (Some(CITIZEN_ROWS), Some(names)));

    // Every tricky value survives as the same string, NULL as null.
    let values = parse_ndjson(&out);
    assert_eq!(values.len() as u64, CITIZEN_ROWS);
    let notes = db.column("SELECT note FROM public.citizens").await;
    for (value, note) in values.iter().zip(&notes) {
        match note {
            Some(note) => assert_eq!(value["note"].as_str(), Some(note.as_str())),
            None => assert!(value["note"].is_null()),
        }
    }
    let first = values[0].as_object().expect("rows are objects");
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 11, "all columns are keys");
    let by_name = |name: &str| values.iter().find(|v| v["name"] == name).cloned();
    let nan = by_name("not a number").unwrap_or_default();
    assert_eq!(nan["score"], "NaN");
    assert_eq!(nan["ratio"], "Infinity");
    assert_eq!(by_name("quote").unwrap_or_default()["doc"]["k"], "v \"q\"");
    assert_eq!(by_name("empty").unwrap_or_default()["note"], "");
}

#[tokio::test]
async fn ndjson_keeps_json_columns_with_line_breaks_on_one_line() {
    let db = test_db!("ndjson_keeps_json_columns_with_line_breaks_on_one_line");
    db.exec(
        r#"CREATE TABLE docs (id int, body json, note text);
           INSERT INTO docs VALUES
             (1, E'{\n  "a": "x\\ny",\r\n  "b": [1,\n2]\n}', E'tab\there'),
             (2, E'"a\\"quote"', 'two'),
             (3, NULL, NULL);"#,
    )
    .await;
    let share = share(&db, table("docs"), None);

    let (outcome, out) = run(&share, Format::Ndjson, None).await;

    assert_eq!(outcome.rows, 3);
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3, "one line per row");
    let values = parse_ndjson(&out);
    let expected: Vec<serde_json::Value> = db
        .column("SELECT row_to_json(t)::text FROM docs AS t")
        .await
        .into_iter()
        .map(|text| serde_json::from_str(&text.unwrap_or_default()).unwrap_or_default())
        .collect();
    assert_eq!(values, expected);
    assert_eq!(values[0]["body"]["a"], "x\ny");
    assert_eq!(values[0]["note"], "tab\there");
}

#[tokio::test]
async fn incremental_by_timestamp_sees_inserts_and_updates() {
    let db = test_db!("incremental_by_timestamp_sees_inserts_and_updates");
    db.exec(
        "CREATE TABLE events (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
         INSERT INTO events VALUES
           (1, 'one', '2024-01-01 10:00:00+00'),
           (2, 'two', '2024-01-03 10:00:00.123456+00'),
           (3, 'three', '2024-01-02 10:00:00+00');",
    )
    .await;
    let share = share(&db, table("events"), Some("updated_at"));

    let (first, out) = run(&share, Format::Csv, None).await;
    assert_eq!(first.rows, 3);
    let expected = db
        .copy("COPY (SELECT * FROM events ORDER BY updated_at) TO STDOUT (FORMAT csv, HEADER true)")
        .await;
    assert!(out == expected, "a full sync is ordered by the watermark");
    let mark = first.watermark.expect("a watermark");
    assert_eq!(mark, db.value("SELECT max(updated_at)::text FROM events").await);

    db.exec(
        "INSERT INTO events VALUES (4, 'four', '2024-01-04 10:00:00+00');
         UPDATE events SET v = 'one, changed', updated_at = '2024-01-05 10:00:00+00' WHERE id = 1;",
    )
    .await;
    let (second, out) = run(&share, Format::Csv, Some(&mark)).await;

    assert_eq!(second.rows, 2);
    let expected = db
        .copy(&format!(
            "COPY (SELECT * FROM events WHERE updated_at > '{mark}' ORDER BY updated_at) \
             TO STDOUT (FORMAT csv, HEADER true)"
        ))
        .await;
    assert!(out == expected, "{}", String::from_utf8_lossy(&out));
    let text = String::from_utf8_lossy(&out);
    assert!(text.find("four").unwrap_or(usize::MAX) < text.find("one, changed").unwrap_or(0));
    let newest = db.value("SELECT max(updated_at)::text FROM events").await;
    assert!(newest.starts_with("2024-01-05"), "{newest}");
    assert_eq!(second.watermark, Some(newest));
}

#[tokio::test]
async fn incremental_by_bigserial_id_as_ndjson() {
    let db = test_db!("incremental_by_bigserial_id_as_ndjson");
    db.exec(
        "CREATE TABLE log (id bigserial PRIMARY KEY, msg text);
         INSERT INTO log (msg) SELECT 'm' || g FROM generate_series(1, 10) AS g;",
    )
    .await;
    let share = share(&db, table("log"), Some("id"));

    let (first, _) = run(&share, Format::Ndjson, None).await;
    assert_eq!((first.rows, first.watermark.as_deref()), (10, Some("10")));

    db.exec("INSERT INTO log (msg) VALUES ('eleven'), ('twelve'); DELETE FROM log WHERE id = 3;")
        .await;
    let (second, out) = run(&share, Format::Ndjson, Some("10")).await;

    assert_eq!((second.rows, second.watermark.as_deref()), (2, Some("12")));
    let values = parse_ndjson(&out);
    assert_eq!(
        values,
        [
            serde_json::json!({"id": 11, "msg": "eleven"}),
            serde_json::json!({"id": 12, "msg": "twelve"})
        ]
    );
}

#[tokio::test]
async fn nothing_past_the_watermark_gives_zero_rows() {
    let db = test_db!("nothing_past_the_watermark_gives_zero_rows");
    db.exec("CREATE TABLE t (id bigint, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b');").await;
    let share = share(&db, table("t"), Some("id"));

    let (csv, out) = run(&share, Format::Csv, Some("2")).await;
    assert_eq!((csv.rows, csv.watermark.as_deref()), (0, Some("2")));
    assert_eq!(out, b"id,v\n", "only the header");
    assert_eq!(csv.bytes, 5);

    let (ndjson, out) = run(&share, Format::Ndjson, Some("99")).await;
    assert_eq!((ndjson.rows, ndjson.bytes, ndjson.watermark.as_deref()), (0, 0, Some("99")));
    assert!(out.is_empty());

    // An empty table has no watermark at all on a full sync.
    db.exec("TRUNCATE t").await;
    let (empty, _) = run(&share, Format::Csv, None).await;
    assert_eq!((empty.rows, empty.watermark), (0, None));
}

#[tokio::test]
async fn an_injection_attempt_in_the_watermark_is_only_a_value() {
    let db = test_db!("an_injection_attempt_in_the_watermark_is_only_a_value");
    db.exec(
        "CREATE TABLE x (id bigint, name text);
         INSERT INTO x VALUES (1, 'alice'), (2, ''''), (3, 'zed'), (4, '\\'), (5, ')');",
    )
    .await;
    let attacks = [
        "'); DROP TABLE x; --",
        "0; DROP TABLE x; --",
        "\\'); DROP TABLE x; --",
        "x' OR '1'='1",
        "$$; DROP TABLE x; $$",
        "E'\\\\'",
    ];

    // Against a number, each is an invalid value.
    let by_id = share(&db, table("x"), Some("id"));
    for attack in attacks {
        let err = fail(&by_id, Format::Csv, Some(attack)).await;
        assert!(matches!(err, Error::WatermarkInvalid { .. }), "{attack}: {err}");
        assert!(err.to_string().contains("bigint"), "{err}");
    }
    // Against text, each is compared as the string it is.
    let by_name = share(&db, table("x"), Some("name"));
    for attack in attacks {
        let (outcome, _) = run(&by_name, Format::Csv, Some(attack)).await;
        let rows = db
            .client
            .query_one("SELECT count(*) FROM x WHERE name > $1", &[&attack])
            .await
            .map(|row| row.get::<_, i64>(0))
            .unwrap_or(-1);
        assert_eq!(outcome.rows as i64, rows, "{attack}");
    }
    assert_eq!(db.value("SELECT count(*)::text FROM x").await, "5", "the table is intact");

    let err = fail(&by_name, Format::Csv, Some("nul\0byte")).await;
    assert!(matches!(err, Error::WatermarkInvalid { .. }), "{err}");
}

#[tokio::test]
async fn a_query_selection_streams_its_rows_with_prepared_column_types() {
    let db = test_db!("a_query_selection_streams_its_rows_with_prepared_column_types");
    db.exec(CITIZENS).await;
    let query = "SELECT id, note, score * 2 AS doubled, updated_at\n\
                 FROM public.citizens WHERE note IS NOT NULL ORDER BY id -- a trailing comment;\n ;";
    let share = share(&db, Selection::Query(query.to_owned()), None);

    let (outcome, out) = run(&share, Format::Csv, None).await;

    let expected = db
        .copy(
            "COPY (SELECT id, note, score * 2 AS doubled, updated_at FROM public.citizens \
             WHERE note IS NOT NULL ORDER BY id) TO STDOUT (FORMAT csv, HEADER true)",
        )
        .await;
    assert!(out == expected, "the query's rows differ from COPY");
    assert_eq!(outcome.rows, CITIZEN_ROWS - 1);
    let types: Vec<(&str, &str, bool)> =
        outcome.columns.iter().map(|c| (c.name.as_str(), c.pg_type.as_str(), c.nullable)).collect();
    assert_eq!(
        types,
        [
            ("id", "bigint", true),
            ("note", "text", true),
            ("doubled", "numeric", true),
            ("updated_at", "timestamp with time zone", true)
        ]
    );
    assert!(outcome.source_description.starts_with("postgresql query on host "));

    // A query with a watermark: only its newer rows, ordered.
    let share = PgShare {
        selection: Selection::Query(
            "SELECT id, name FROM public.citizens WHERE id % 2 = 0".to_owned(),
        ),
        watermark_column: Some("id".to_owned()),
        ..share
    };
    let (outcome, out) = run(&share, Format::Ndjson, Some("5000")).await;
    assert_eq!(outcome.rows, 6);
    assert_eq!(outcome.watermark.as_deref(), Some("5012"));
    assert_eq!(parse_ndjson(&out)[0], serde_json::json!({"id": 5002, "name": "bulk 4990"}));
}

#[tokio::test]
async fn odd_identifiers_are_quoted_exactly() {
    let db = test_db!("odd_identifiers_are_quoted_exactly");
    db.exec(
        r#"CREATE SCHEMA "My ""Schema""";
           CREATE TABLE "My ""Schema"""."Odd, Table" ("Weird ""Col""" int, "select" text, cairn_src text);
           INSERT INTO "My ""Schema"""."Odd, Table" VALUES (2, 'b', 'own column'), (1, 'a', NULL);
           CREATE VIEW plain_view AS SELECT * FROM "My ""Schema"""."Odd, Table";"#,
    )
    .await;
    let share = PgShare {
        url: db.url(),
        selection: Selection::Table {
            schema: Some(r#"My "Schema""#.to_owned()),
            table: "Odd, Table".to_owned(),
        },
        watermark_column: Some(r#"Weird "Col""#.to_owned()),
    };

    let (outcome, out) = run(&share, Format::Csv, None).await;
    assert_eq!(out, b"\"Weird \"\"Col\"\"\",select,cairn_src\n1,a,\n2,b,own column\n");
    assert_eq!(outcome.watermark.as_deref(), Some("2"));
    assert!(outcome.source_description.contains(r#"table "My ""Schema"""."Odd, Table""#));

    // A column named like the internal alias does not confuse the NDJSON rows.
    let (_, out) = run(&share, Format::Ndjson, Some("1")).await;
    assert_eq!(
        parse_ndjson(&out),
        [serde_json::json!({"Weird \"Col\"": 2, "select": "b", "cairn_src": "own column"})]
    );

    // A view, found through the search path (no schema given).
    let view = PgShare {
        selection: Selection::Table { schema: None, table: "plain_view".to_owned() },
        watermark_column: None,
        ..share
    };
    let (outcome, _) = run(&view, Format::Csv, None).await;
    assert_eq!(outcome.rows, 2);
    assert!(outcome.source_description.contains("table public.plain_view"));
}

#[tokio::test]
async fn streams_through_a_small_pipe_to_a_blocking_reader() {
    let db = test_db!("streams_through_a_small_pipe_to_a_blocking_reader");
    db.exec(
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS hash, repeat('y', g % 100) AS pad \
         FROM generate_series(1, 100000) AS g;",
    )
    .await;
    let share = share(&db, table("big"), None);
    let (writer, reader) = tokio::io::duplex(16 * 1024);
    // The pipeline's side: a std::io::Read on a thread of its own.
    let mut reader = tokio_util::io::SyncIoBridge::new(reader);
    let consumer = tokio::task::spawn_blocking(move || {
        let mut all = Vec::new();
        reader.read_to_end(&mut all).map(|_| all)
    });

    let outcome = snapshot(&share, Format::Csv, None, writer).await.expect("snapshot");
    let read = consumer.await.expect("the reader thread").expect("reading the pipe");

    assert_eq!(outcome.rows, 100_000);
    assert_eq!(outcome.bytes, read.len() as u64);
    let expected = db.copy("COPY big TO STDOUT (FORMAT csv, HEADER true)").await;
    assert!(read == expected, "the bytes through the pipe differ from COPY");
}

#[tokio::test]
async fn copy_to_sink_counts_what_a_plain_copy_sends() {
    let db = test_db!("copy_to_sink_counts_what_a_plain_copy_sends");
    db.exec(CITIZENS).await;
    let expected = db.copy("COPY public.citizens TO STDOUT (FORMAT csv)").await;

    let counted = copy_to_sink(&db.url(), &table("citizens")).await.expect("copy_to_sink");
    assert_eq!(counted, (CITIZEN_ROWS, expected.len() as u64));

    let query = Selection::Query("SELECT note FROM public.citizens WHERE id <= 12;".to_owned());
    let counted = copy_to_sink(&db.url(), &query).await.expect("copy_to_sink of a query");
    assert_eq!(counted.0, 12);
}
