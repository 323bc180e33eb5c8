//! Files as sources: CSV, NDJSON and unstructured files.
//!
//! [`inspect`] reads a file once, front to back, with bounded memory (one
//! line at a time, at most [`MAX_LINE_LEN`] bytes), checks that it is what
//! its kind says, and reports its size, rows and columns. The publishing
//! pipeline then reads the file's bytes itself, unchanged: nothing here
//! rewrites or normalises data.
//!
//! # What is checked
//!
//! - Every kind: the path names a readable regular file.
//! - CSV (RFC 4180, comma-separated): UTF-8 text; a header line; fields
//!   containing commas, quotes or line breaks enclosed in double quotes, with
//!   inner quotes doubled; every record with as many fields as the header.
//!   Lines end with `\n` or `\r\n`; a quoted field may span lines; the last
//!   record may lack its line break. An empty line is a record with one empty
//!   field (a `NULL` in a one-column `COPY`), so it is an error in a file with
//!   more columns.
//! - NDJSON: UTF-8 text, one JSON value per line (`\n` or `\r\n`), no empty
//!   lines; the last line may lack its line break.
//! - A UTF-8 byte order mark at the start is allowed and skipped when
//!   reading the header or the first JSON value; it still counts as bytes.
//!
//! Errors name the file and the 1-based line. [`inspect`] blocks; call it
//! through `tokio::task::spawn_blocking` from async code.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::{Error, Result};

/// The longest line (or, in a CSV file, the longest stretch between two line
/// feeds inside a quoted field) [`inspect`] accepts: 64 MiB. This bounds its memory.
pub const MAX_LINE_LEN: usize = 64 * 1024 * 1024;

/// The longest CSV header accepted, in bytes of field text.
const MAX_HEADER_LEN: usize = 1024 * 1024;

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Comma-separated values with a header line.
    Csv,
    /// Newline-delimited JSON: one JSON value per line.
    Ndjson,
    /// Anything else; only its size is known.
    Unstructured,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Csv => "CSV file",
            Self::Ndjson => "NDJSON file",
            Self::Unstructured => "file",
        })
    }
}

/// What [`inspect`] found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file's size in bytes, as read.
    pub bytes: u64,
    /// The number of data records: CSV records after the header, or NDJSON
    /// lines; `None` for unstructured files.
    pub rows: Option<u64>,
    /// The CSV header's fields, or the keys of the first NDJSON value in
    /// their order if it is an object; `None` otherwise.
    pub columns: Option<Vec<String>>,
    /// What was read, for people: "CSV file /data/citizens.csv".
    pub source_description: String,
}

/// Reads the file at `path` once, checks it is a valid `kind` file, and
/// describes it.
///
/// Fails with [`Error::FileIo`] if it cannot be opened or read (or is not a
/// regular file), and with [`Error::FileInvalid`], naming the line, if its
/// content is not valid for `kind`.
pub fn inspect(path: &Path, kind: FileKind) -> Result<FileInfo> {
    let io_error = |action, source| Error::FileIo { action, path: path.to_owned(), source };
    let file = File::open(path).map_err(|err| io_error("open", err))?;
    let metadata = file.metadata().map_err(|err| io_error("inspect", err))?;
    if !metadata.is_file() {
        let source = io::Error::new(io::ErrorKind::InvalidInput, "it is not a regular file");
        return Err(io_error("read", source));
    }
    let source_description = format!("{kind} {}", path.display());
    let mut lines = Lines::new(path, file);
    let (rows, columns) = match kind {
        FileKind::Unstructured => {
            let bytes = io::copy(&mut lines.reader, &mut io::sink())
                .map_err(|err| io_error("read", err))?;
            return Ok(FileInfo { bytes, rows: None, columns: None, source_description });
        }
        FileKind::Csv => {
            let (rows, header) = check_csv(&mut lines)?;
            (rows, Some(header))
        }
        FileKind::Ndjson => check_ndjson(&mut lines)?,
    };
    Ok(FileInfo { bytes: lines.bytes, rows: Some(rows), columns, source_description })
}

/// Reads a file line by line into one reused buffer.
struct Lines<'a> {
    path: &'a Path,
    reader: BufReader<File>,
    /// The current line: its bytes with the line feed, without a leading BOM.
    buf: Vec<u8>,
    /// The 1-based number of the current line.
    line: u64,
    /// The bytes read so far.
    bytes: u64,
}

impl<'a> Lines<'a> {
    fn new(path: &'a Path, file: File) -> Self {
        Self {
            path,
            reader: BufReader::with_capacity(256 * 1024, file),
            buf: Vec::new(),
            line: 0,
            bytes: 0,
        }
    }

    /// An [`Error::FileInvalid`] at `line`.
    fn invalid(&self, line: u64, reason: impl Into<String>) -> Error {
        Error::FileInvalid { path: self.path.to_owned(), line, reason: reason.into() }
    }

    /// Reads the next line into `buf` and checks it is UTF-8; `false` at the end.
    fn next(&mut self) -> Result<bool> {
        self.buf.clear();
        let limit = MAX_LINE_LEN as u64 + 1;
        let read =
            (&mut self.reader).take(limit).read_until(b'\n', &mut self.buf).map_err(|source| {
                Error::FileIo { action: "read", path: self.path.to_owned(), source }
            })?;
        if read == 0 {
            return Ok(false);
        }
        self.line += 1;
        self.bytes += read as u64;
        if self.buf.len() > MAX_LINE_LEN && self.buf.last() != Some(&b'\n') {
            return Err(self.invalid(
                self.line,
                format!("the line is longer than the limit of {MAX_LINE_LEN} bytes"),
            ));
        }
        if self.line == 1 && self.buf.starts_with(BOM) {
            self.buf.drain(..BOM.len());
        }
        if let Err(err) = std::str::from_utf8(&self.buf) {
            return Err(self.invalid(
                self.line,
                format!(
                    "the text is not valid UTF-8 (at byte {} of the line)",
                    err.valid_up_to() + 1
                ),
            ));
        }
        Ok(true)
    }
}

/// Where the CSV parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CsvState {
    /// At the start of a field.
    FieldStart,
    /// Inside a field that did not start with a quote.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Right after a quote in a quoted field: a doubled quote or the end of the field.
    QuoteSeen,
    /// After a carriage return outside quotes, which must end the record.
    CarriageReturn,
}

/// A streaming RFC 4180 checker that keeps the header and counts records.
struct CsvChecker {
    state: CsvState,
    /// Fields completed in the current record.
    fields: usize,
    /// Whether the current record has started.
    record_open: bool,
    /// The line where the current record started.
    record_line: u64,
    /// The line where the current quoted field opened.
    quote_line: u64,
    /// The header, once its record is complete.
    header: Option<Vec<String>>,
    /// The header fields so far, while reading the header.
    header_fields: Vec<String>,
    /// The current header field's bytes, while reading the header.
    field: Vec<u8>,
    /// Bytes of header text so far.
    header_len: usize,
    /// Data records completed.
    rows: u64,
}

impl CsvChecker {
    fn new() -> Self {
        Self {
            state: CsvState::FieldStart,
            fields: 0,
            record_open: false,
            record_line: 0,
            quote_line: 0,
            header: None,
            header_fields: Vec::new(),
            field: Vec::new(),
            header_len: 0,
            rows: 0,
        }
    }

    /// Takes one byte of field content.
    fn push(&mut self, byte: u8) -> Result<(), (u64, String)> {
        if self.header.is_none() {
            self.header_len += 1;
            if self.header_len > MAX_HEADER_LEN {
                return Err((
                    self.record_line,
                    format!("the header is longer than the limit of {MAX_HEADER_LEN} bytes"),
                ));
            }
            self.field.push(byte);
        }
        Ok(())
    }

    /// Completes the current field.
    fn end_field(&mut self) {
        self.fields += 1;
        if self.header.is_none() {
            // Every line was checked to be UTF-8 and fields split only at
            // ASCII bytes, so this never replaces anything.
            self.header_fields.push(String::from_utf8_lossy(&self.field).into_owned());
            self.field.clear();
        }
        self.state = CsvState::FieldStart;
    }

    /// Completes the current record (its last field already ended).
    fn end_record(&mut self) -> Result<(), (u64, String)> {
        match &self.header {
            None => {
                let header = std::mem::take(&mut self.header_fields);
                if header.len() == 1 && header[0].is_empty() {
                    return Err((
                        self.record_line,
                        "the header line is empty; a CSV file starts with a header line".to_owned(),
                    ));
                }
                self.header = Some(header);
            }
            Some(header) if header.len() != self.fields => {
                return Err((
                    self.record_line,
                    format!(
                        "the record starting on this line has {} fields, but the header has {}",
                        self.fields,
                        header.len()
                    ),
                ));
            }
            Some(_) => self.rows += 1,
        }
        self.fields = 0;
        self.record_open = false;
        self.state = CsvState::FieldStart;
        Ok(())
    }

    /// Takes the bytes of line `line`, line feed included.
    fn feed(&mut self, line: u64, bytes: &[u8]) -> Result<(), (u64, String)> {
        let mut at = 0;
        while at < bytes.len() {
            // Past the header, field content is not kept, so plain content
            // bytes are skipped up to the next one that matters.
            if self.header.is_some() {
                let rest = &bytes[at..];
                let skip = match self.state {
                    CsvState::Quoted => rest.iter().position(|&b| b == b'"'),
                    CsvState::Unquoted => {
                        rest.iter().position(|&b| matches!(b, b',' | b'\n' | b'\r' | b'"'))
                    }
                    _ => Some(0),
                };
                match skip {
                    Some(skip) => at += skip,
                    None => return Ok(()),
                }
            }
            let byte = bytes[at];
            at += 1;
            if !self.record_open {
                self.record_open = true;
                self.record_line = line;
            }
            match (self.state, byte) {
                (CsvState::FieldStart, b'"') => {
                    self.state = CsvState::Quoted;
                    self.quote_line = line;
                }
                (CsvState::FieldStart | CsvState::Unquoted | CsvState::QuoteSeen, b',') => {
                    self.end_field();
                }
                (
                    CsvState::FieldStart
                    | CsvState::Unquoted
                    | CsvState::QuoteSeen
                    | CsvState::CarriageReturn,
                    b'\n',
                ) => {
                    self.end_field();
                    self.end_record()?;
                }
                (CsvState::FieldStart | CsvState::Unquoted | CsvState::QuoteSeen, b'\r') => {
                    self.state = CsvState::CarriageReturn;
                }
                (CsvState::Unquoted, b'"') => {
                    return Err((
                        line,
                        "a double quote inside a field that does not start with one; such a \
                         field must be enclosed in double quotes, with the quote doubled"
                            .to_owned(),
                    ));
                }
                (CsvState::FieldStart | CsvState::Unquoted, _) => {
                    self.state = CsvState::Unquoted;
                    self.push(byte)?;
                }
                (CsvState::Quoted, b'"') => self.state = CsvState::QuoteSeen,
                (CsvState::Quoted, _) => self.push(byte)?,
                (CsvState::QuoteSeen, b'"') => {
                    self.state = CsvState::Quoted;
                    self.push(b'"')?;
                }
                (CsvState::QuoteSeen, _) => {
                    return Err((
                        line,
                        format!(
                            "unexpected {} after the closing quote of a field; a quote inside a \
                             quoted field must be doubled",
                            describe_byte(byte)
                        ),
                    ));
                }
                (CsvState::CarriageReturn, _) => {
                    return Err((
                        line,
                        "a carriage return outside quotes that is not followed by a line feed"
                            .to_owned(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Ends the input; returns the data rows and the header.
    fn finish(mut self, last_line: u64) -> Result<(u64, Vec<String>), (u64, String)> {
        if self.state == CsvState::Quoted {
            return Err((
                self.quote_line,
                "a quoted field that starts on this line is never closed".to_owned(),
            ));
        }
        if self.record_open {
            self.end_field();
            self.end_record()?;
        }
        match self.header {
            Some(header) => Ok((self.rows, header)),
            None => Err((
                last_line.max(1),
                "the file is empty; a CSV file starts with a header line".to_owned(),
            )),
        }
    }
}

/// Names a byte in a message.
fn describe_byte(byte: u8) -> String {
    if byte.is_ascii_graphic() || byte == b' ' {
        format!("character {:?}", char::from(byte))
    } else if byte.is_ascii() {
        format!("control character 0x{byte:02x}")
    } else {
        "non-ASCII character".to_owned()
    }
}

/// Checks a CSV file; returns its data rows and header.
fn check_csv(lines: &mut Lines<'_>) -> Result<(u64, Vec<String>)> {
    let mut checker = CsvChecker::new();
    while lines.next()? {
        checker
            .feed(lines.line, &lines.buf)
            .map_err(|(line, reason)| lines.invalid(line, reason))?;
    }
    checker.finish(lines.line).map_err(|(line, reason)| lines.invalid(line, reason))
}

/// Checks an NDJSON file; returns its rows and the keys of its first value.
fn check_ndjson(lines: &mut Lines<'_>) -> Result<(u64, Option<Vec<String>>)> {
    let mut rows = 0_u64;
    let mut columns = None;
    while lines.next()? {
        let line = lines.buf.strip_suffix(b"\n").unwrap_or(&lines.buf);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // `next` checked that the line is UTF-8.
        let text = std::str::from_utf8(line).unwrap_or_default();
        if text.trim().is_empty() {
            return Err(lines.invalid(
                lines.line,
                "the line is empty; every line of an NDJSON file holds one JSON value",
            ));
        }
        let parsed = if rows == 0 {
            serde_json::from_str::<FirstValue>(text).map(|first| columns = first.0)
        } else {
            serde_json::from_str::<IgnoredAny>(text).map(drop)
        };
        if let Err(err) = parsed {
            return Err(lines.invalid(lines.line, json_reason(&err)));
        }
        rows += 1;
    }
    Ok((rows, columns))
}

/// A JSON error as "invalid JSON at column C: what", without serde_json's
/// "at line 1", which would be wrong for the file.
fn json_reason(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let what = text.rfind(" at line ").map_or(text.as_str(), |at| &text[..at]);
    format!("invalid JSON at column {}: {what}", err.column())
}

/// The first NDJSON value: the keys of an object, in order and without
/// repeats, or nothing for any other value. Values are checked, not kept.
struct FirstValue(Option<Vec<String>>);

impl<'de> Deserialize<'de> for FirstValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FirstValueVisitor)
    }
}

/// Visits the first NDJSON value for [`FirstValue`].
struct FirstValueVisitor;

impl<'de> Visitor<'de> for FirstValueVisitor {
    type Value = FirstValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FirstValue, A::Error> {
        let (mut keys, mut seen) = (Vec::new(), BTreeSet::new());
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<IgnoredAny>()?;
            if seen.insert(key.clone()) {
                keys.push(key);
            }
        }
        Ok(FirstValue(Some(keys)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstValue, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FirstValue(None))
    }

    fn visit_bool<E>(self, _: bool) -> Result<FirstValue, E> {
        Ok(FirstValue(None))
    }

    fn visit_i64<E>(self, _: i64) -> Result<FirstValue, E> {
        Ok(FirstValue(None))
    }

    fn visit_u64<E>(self, _: u64) -> Result<FirstValue, E> {
        Ok(FirstValue(None))
    }

    fn visit_f64<E>(self, _: f64) -> Result<FirstValue, E> {
        Ok(FirstValue(None))
    }

    fn visit_str<E>(self, _: &str) -> Result<FirstValue, E> {
        Ok(FirstValue(None))
    }

    fn visit_unit<E>(self) -> Result<FirstValue, E> {
        Ok(FirstValue(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the CSV checker over `text` as lines.
    fn csv(text: &str) -> Result<(u64, Vec<String>), (u64, String)> {
        let mut checker = CsvChecker::new();
        let mut line = 0;
        for piece in text.as_bytes().split_inclusive(|&b| b == b'\n') {
            line += 1;
            checker.feed(line, piece)?;
        }
        checker.finish(line)
    }

    #[test]
    fn csv_records_may_span_lines_and_end_without_a_line_feed() {
        let (rows, header) = csv("id,\"the \"\"note\"\"\"\r\n1,\"a\nb\"\r\n2,\n3,\"\"").unwrap();
        assert_eq!(header, ["id", "the \"note\""]);
        assert_eq!(rows, 3);
    }

    #[test]
    fn csv_errors_name_the_line() {
        assert_eq!(csv("a,b\n1,2\n3\n").unwrap_err().0, 3);
        assert_eq!(csv("a,b\n1,\"open\n\n").unwrap_err().0, 2);
        assert_eq!(csv("a,b\n1,x\"y\n").unwrap_err().0, 2);
        assert_eq!(csv("a,b\n1,\"x\"y\n").unwrap_err().0, 2);
        assert_eq!(csv("a,b\n1,2\rx\n").unwrap_err().0, 2);
        assert_eq!(csv("\na\n").unwrap_err().0, 1);
        assert_eq!(csv("").unwrap_err().0, 1);
    }

    #[test]
    fn a_single_column_csv_may_have_empty_records() {
        assert_eq!(csv("only\nx\n\ny\n").unwrap(), (3, vec!["only".to_owned()]));
    }

    #[test]
    fn first_ndjson_value_gives_keys_in_order() {
        let first: FirstValue = serde_json::from_str(r#"{"z":1,"a":{"n":[1]},"z":2}"#).unwrap();
        assert_eq!(first.0, Some(vec!["z".to_owned(), "a".to_owned()]));
        let first: FirstValue = serde_json::from_str("[1,2]").unwrap();
        assert_eq!(first.0, None);
    }
}
