//! Byte-level handling of `COPY … (FORMAT csv)` output as it streams by.
//!
//! PostgreSQL's CSV output ends every record with a line feed and encloses
//! in double quotes any field that holds a double quote (doubled), a comma, a
//! carriage return or a line feed. Both types here rely on exactly that, and
//! keep only a few bytes of state between chunks, so chunk boundaries may
//! fall anywhere.

/// Counts the records of PostgreSQL CSV output: line feeds outside quotes.
///
/// A doubled quote inside a quoted field toggles the state twice, so it
/// needs no special case.
#[derive(Debug, Default)]
pub(super) struct CsvRecordCounter {
    in_quotes: bool,
    records: u64,
}

impl CsvRecordCounter {
    /// Takes the next bytes of the output.
    pub(super) fn feed(&mut self, mut bytes: &[u8]) {
        loop {
            let next = if self.in_quotes {
                bytes.iter().position(|&b| b == b'"')
            } else {
                bytes.iter().position(|&b| b == b'"' || b == b'\n')
            };
            let Some(at) = next else { return };
            if bytes[at] == b'"' {
                self.in_quotes = !self.in_quotes;
            } else {
                self.records += 1;
            }
            bytes = &bytes[at + 1..];
        }
    }

    /// The number of complete records seen so far, the header line included.
    pub(super) fn records(&self) -> u64 {
        self.records
    }
}

/// Where an [`NdjsonUnquoter`] is within the current record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the first byte of a record.
    LineStart,
    /// Inside a field that was not quoted: bytes pass through to the line feed.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Right after a quote inside a quoted field: either the first half of a
    /// doubled quote or the closing quote.
    QuoteSeen,
}

/// Turns the single-column CSV output of `COPY (SELECT row_to_json(…) …)`
/// back into NDJSON: one JSON text per line, exactly as `row_to_json` made it.
///
/// Two things are undone or repaired:
///
/// - CSV quoting: the enclosing quotes are dropped and doubled quotes become
///   single quotes. Nothing else is escaped in CSV, so backslashes, tabs and
///   non-ASCII text pass through untouched.
/// - Raw line breaks. `row_to_json` embeds `json` columns as their original
///   text, which may contain line feeds or carriage returns. JSON forbids raw
///   control characters inside strings (PostgreSQL rejects them on input), so
///   such a byte can only be whitespace between tokens; it becomes a space,
///   which keeps the value identical and the record on one line.
#[derive(Debug)]
pub(super) struct NdjsonUnquoter {
    state: State,
    records: u64,
}

impl Default for NdjsonUnquoter {
    fn default() -> Self {
        Self { state: State::LineStart, records: 0 }
    }
}

impl NdjsonUnquoter {
    /// Takes the next bytes of the CSV output and appends the NDJSON they
    /// stand for to `out`.
    pub(super) fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        while let Some((&first, rest)) = input.split_first() {
            match self.state {
                State::LineStart => {
                    if first == b'"' {
                        self.state = State::Quoted;
                        input = rest;
                    } else {
                        self.state = State::Unquoted;
                    }
                }
                State::Unquoted => match input.iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        out.extend_from_slice(&input[..=end]);
                        self.records += 1;
                        self.state = State::LineStart;
                        input = &input[end + 1..];
                    }
                    None => {
                        out.extend_from_slice(input);
                        input = &[];
                    }
                },
                State::Quoted => {
                    match input.iter().position(|&b| matches!(b, b'"' | b'\n' | b'\r')) {
                        Some(at) => {
                            out.extend_from_slice(&input[..at]);
                            if input[at] == b'"' {
                                self.state = State::QuoteSeen;
                            } else {
                                out.push(b' ');
                            }
                            input = &input[at + 1..];
                        }
                        None => {
                            out.extend_from_slice(input);
                            input = &[];
                        }
                    }
                }
                State::QuoteSeen => {
                    input = rest;
                    match first {
                        b'"' => {
                            out.push(b'"');
                            self.state = State::Quoted;
                        }
                        b'\n' => {
                            out.push(b'\n');
                            self.records += 1;
                            self.state = State::LineStart;
                        }
                        // PostgreSQL never puts anything else after a closing
                        // quote in a one-column record; pass it through.
                        other => {
                            out.push(other);
                            self.state = State::Unquoted;
                        }
                    }
                }
            }
        }
    }

    /// Ends the output: a record without its final line feed (which
    /// PostgreSQL never sends) still gets one.
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) {
        if self.state != State::LineStart {
            out.push(b'\n');
            self.records += 1;
            self.state = State::LineStart;
        }
    }

    /// The number of complete records (lines) produced so far.
    pub(super) fn records(&self) -> u64 {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the unquoter over `input` cut into pieces of every size from 1 to
    /// the whole, and checks that each gives the same output.
    fn unquote(input: &[u8]) -> (Vec<u8>, u64) {
        let mut whole = None;
        for size in 1..=input.len().max(1) {
            let mut unquoter = NdjsonUnquoter::default();
            let mut out = Vec::new();
            for chunk in input.chunks(size) {
                unquoter.feed(chunk, &mut out);
            }
            unquoter.finish(&mut out);
            let got = (out, unquoter.records());
            match &whole {
                None => whole = Some(got),
                Some(expected) => assert_eq!(&got, expected, "chunk size {size}"),
            }
        }
        whole.unwrap_or_default()
    }

    #[test]
    fn unquotes_doubled_quotes_and_keeps_backslashes() {
        let csv = b"\"{\"\"a\"\":\"\"x\\\\\"\"y\\n\"\"}\"\n{}\n\"{\"\"b\"\":1}\"\n";
        let (out, records) = unquote(csv);
        assert_eq!(out, b"{\"a\":\"x\\\\\"y\\n\"}\n{}\n{\"b\":1}\n");
        assert_eq!(records, 3);
    }

    #[test]
    fn raw_line_breaks_in_quoted_json_become_spaces() {
        let (out, records) = unquote(b"\"{\"\"j\"\":{\r\n\"\"k\"\": 1\n}}\"\n");
        assert_eq!(out, b"{\"j\":{  \"k\": 1 }}\n");
        assert_eq!(records, 1);
    }

    #[test]
    fn a_missing_final_line_feed_is_added() {
        assert_eq!(unquote(b"\"{\"\"a\"\":1}\""), (b"{\"a\":1}\n".to_vec(), 1));
        assert_eq!(unquote(b""), (Vec::new(), 0));
    }

    #[test]
    fn counts_csv_records_not_lines() {
        let csv = b"id,note\n1,\"two\nlines\"\n2,\"a \"\"quoted\"\"\r\nvalue\"\n3,\n";
        for size in 1..=csv.len() {
            let mut counter = CsvRecordCounter::default();
            for chunk in csv.chunks(size) {
                counter.feed(chunk);
            }
            assert_eq!(counter.records(), 4, "chunk size {size}");
        }
    }
}
