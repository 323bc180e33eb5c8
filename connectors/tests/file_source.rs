//! File sources: what `inspect` reports for valid CSV, NDJSON and
//! unstructured files, and which line its errors name for invalid ones.

use std::path::{Path, PathBuf};

use connectors::Error;
use connectors::source::file::{FileInfo, FileKind, MAX_LINE_LEN, inspect};

/// Writes `bytes` to a file in a fresh directory; the directory lives as long as the guard.
fn file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("data");
    std::fs::write(&path, bytes).expect("writing the test file");
    (dir, path)
}

/// Inspects `bytes` as `kind`, which must succeed.
fn ok(bytes: &[u8], kind: FileKind) -> FileInfo {
    let (_dir, path) = file(bytes);
    inspect(&path, kind).unwrap_or_else(|err| panic!("{err}"))
}

/// Inspects `bytes` as `kind`, which must fail as invalid; returns the line and message.
fn invalid(bytes: &[u8], kind: FileKind) -> (u64, String) {
    let (_dir, path) = file(bytes);
    match inspect(&path, kind) {
        Err(err @ Error::FileInvalid { line, .. }) => {
            let message = err.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            (line, message)
        }
        other => panic!("expected an invalid file, got {other:?}"),
    }
}

/// `names` as owned strings.
fn names(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|&n| n.to_owned()).collect())
}

#[test]
fn csv_counts_records_not_lines() {
    let text = "id,note,\"odd, name\"\n1,\"two\nlines\",x\n2,\"say \"\"hi\"\"\",\n3,,\"\"\n";
    let info = ok(text.as_bytes(), FileKind::Csv);
    assert_eq!(info.rows, Some(3));
    assert_eq!(info.columns, names(&["id", "note", "odd, name"]));
    assert_eq!(info.bytes, text.len() as u64);
    assert!(info.source_description.starts_with("CSV file /"), "{}", info.source_description);
}

#[test]
fn csv_accepts_crlf_a_bom_and_no_final_line_break() {
    let text = "\u{feff}naïve,b\r\n1,\"ü\r\n🐢\"\r\n2,3";
    let info = ok(text.as_bytes(), FileKind::Csv);
    assert_eq!(info.rows, Some(2));
    assert_eq!(info.columns, names(&["naïve", "b"]));
    assert_eq!(info.bytes, text.len() as u64, "the BOM counts as bytes");
}

#[test]
fn csv_with_only_a_header_has_no_rows() {
    let info = ok(b"a,b\n", FileKind::Csv);
    assert_eq!((info.rows, info.columns), (Some(0), names(&["a", "b"])));
}

#[test]
fn csv_errors_name_the_line() {
    let (line, message) = invalid(b"a,b\n1,2\n3,\"never\nclosed\n", FileKind::Csv);
    assert_eq!(line, 3);
    assert!(message.contains("never closed"), "{message}");

    let (line, message) = invalid(b"a,b\n1,2\n3,4,5\n", FileKind::Csv);
    assert_eq!(line, 3);
    assert!(message.contains("3 fields, but the header has 2"), "{message}");

    let (line, message) = invalid(b"a,b\n1,say \"hi\"\n", FileKind::Csv);
    assert_eq!(line, 2);
    assert!(message.contains("double quote"), "{message}");

    let (line, message) = invalid(b"a,b\n1,\"x\"y\n", FileKind::Csv);
    assert_eq!(line, 2);
    assert!(message.contains("character 'y' after the closing quote"), "{message}");

    let (line, _) = invalid(b"a,b\n1,2\n\n", FileKind::Csv);
    assert_eq!(line, 3, "an empty line is a one-field record");

    let (line, message) = invalid(b"a,b\n1,\"multi\nline\"\n2,\xff\n", FileKind::Csv);
    assert_eq!(line, 4);
    assert!(message.contains("UTF-8"), "{message}");

    let (line, message) = invalid(b"", FileKind::Csv);
    assert_eq!(line, 1);
    assert!(message.contains("empty"), "{message}");

    let (line, message) = invalid(b"\r\n1\r\n", FileKind::Csv);
    assert_eq!(line, 1);
    assert!(message.contains("header line is empty"), "{message}");
}

#[test]
fn a_line_over_the_limit_is_refused() {
    let mut bytes = b"a\n".to_vec();
    bytes.resize(bytes.len() + MAX_LINE_LEN + 1, b'x');
    let (line, message) = invalid(&bytes, FileKind::Csv);
    assert_eq!(line, 2);
    assert!(message.contains("longer than the limit"), "{message}");
}

#[test]
fn ndjson_reports_rows_and_the_first_objects_keys_in_order() {
    let text = "{\"z\": 1, \"a\": {\"nested\": [1, \"x\\n\"]}, \"m\": null}\r\n\
                {\"other\": \"keys\", \"are\": \"fine\"}\n\
                [1, 2, 3]\n\
                \"a string\"";
    let info = ok(text.as_bytes(), FileKind::Ndjson);
    assert_eq!(info.rows, Some(4));
    assert_eq!(info.columns, names(&["z", "a", "m"]));
    assert_eq!(info.bytes, text.len() as u64);
    assert!(info.source_description.starts_with("NDJSON file /"));

    let info = ok(b"[1]\n{\"a\": 1}\n", FileKind::Ndjson);
    assert_eq!((info.rows, info.columns), (Some(2), None), "the first value is not an object");

    let info = ok(b"", FileKind::Ndjson);
    assert_eq!((info.rows, info.columns, info.bytes), (Some(0), None, 0));
}

#[test]
fn ndjson_errors_name_the_line() {
    let (line, message) = invalid(b"{\"a\": 1}\n{\"a\": 2,}\n{\"a\": 3}\n", FileKind::Ndjson);
    assert_eq!(line, 2);
    assert!(message.contains("invalid JSON at column"), "{message}");

    let (line, message) = invalid(b"{\"a\": 1}\n\n{\"a\": 3}\n", FileKind::Ndjson);
    assert_eq!(line, 2);
    assert!(message.contains("empty"), "{message}");

    let (line, message) = invalid(b"{\"a\": 1}\n{\"a\": 1} {\"b\": 2}\n", FileKind::Ndjson);
    assert_eq!(line, 2);
    assert!(message.contains("trailing characters"), "{message}");

    let (line, _) = invalid(b"{\"a\": \"split\nacross lines\"}\n", FileKind::Ndjson);
    assert_eq!(line, 1);

    let (line, message) = invalid(b"{\"a\": 1}\n{\"a\": \"\xc3\x28\"}\n", FileKind::Ndjson);
    assert_eq!(line, 2);
    assert!(message.contains("UTF-8"), "{message}");
}

#[test]
fn unstructured_files_report_only_their_size() {
    let bytes: Vec<u8> = (0..=255).cycle().take(100_000).collect();
    let info = ok(&bytes, FileKind::Unstructured);
    assert_eq!(
        info,
        FileInfo {
            bytes: 100_000,
            rows: None,
            columns: None,
            source_description: info.source_description.clone(),
        }
    );
    assert!(info.source_description.starts_with("file /"));
}

#[test]
fn a_missing_file_or_a_directory_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let missing = dir.path().join("missing.csv");
    for (path, kind) in [(missing.as_path(), FileKind::Csv), (dir.path(), FileKind::Unstructured)] {
        match inspect(path, kind) {
            Err(err @ Error::FileIo { .. }) => {
                assert!(err.to_string().contains(&path.display().to_string()), "{err}");
            }
            other => panic!("expected an I/O error for {}, got {other:?}", Path::display(path)),
        }
    }
}
