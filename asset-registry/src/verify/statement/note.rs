//! The note a node signs of every statement it serves: its holder, month,
//! currency, line count, totals and the digest of its lines, so that no line
//! can be removed, added or reordered after the node served the statement.

use cairn_schemas::v1 as pb;

use super::StatementFile;

/// The first line of a signed statement note.
pub const STATEMENT_NOTE_LABEL: &str = "cairn statement v1";

/// What a line contributes to [`lines_digest`]: its place, its event and its charge.
#[derive(Debug, Clone, Copy)]
pub struct DigestLine<'a> {
    /// Its place, from 1.
    pub number: u64,
    /// Its access event's id.
    pub event_id: &'a str,
    /// The charge for its queries.
    pub query_amount: u64,
    /// The charge for its bytes.
    pub traffic_amount: u64,
    /// Its charge.
    pub amount: u64,
}

/// The SHA-256 of a statement's lines in order. Each line is encoded as its
/// number, the length of its event id, the event id, its query amount,
/// traffic amount and amount, every integer a big-endian `u64`, so that no
/// two different lists of lines encode alike.
pub fn lines_digest<'a>(lines: impl IntoIterator<Item = DigestLine<'a>>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for line in lines {
        hasher.update(line.number.to_be_bytes());
        hasher.update((line.event_id.len() as u64).to_be_bytes());
        hasher.update(line.event_id.as_bytes());
        hasher.update(line.query_amount.to_be_bytes());
        hasher.update(line.traffic_amount.to_be_bytes());
        hasher.update(line.amount.to_be_bytes());
    }
    hasher.finalize().into()
}

/// What a node signs of a statement it serves: the body of a C2SP signed
/// note, one `name value` per line after the label.
///
/// ```text
/// cairn statement v1
/// holder <address>
/// month <YYYY-MM>
/// currency <ISO 4217 code>
/// lines <number of lines>
/// total <minor units>
/// queries <count>
/// bytes <count>
/// lines-sha256 <hex of lines_digest>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementNote {
    /// The account holder's address.
    pub holder: String,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// The account's currency.
    pub currency: String,
    /// The number of lines.
    pub n_lines: u64,
    /// The statement's total.
    pub total: u64,
    /// The statement's queries.
    pub queries: u64,
    /// The statement's bytes.
    pub bytes: u64,
    /// The [`lines_digest`] of its lines.
    pub lines_sha256: [u8; 32],
}

/// The names of a statement note's lines after the label, in order.
const STATEMENT_NOTE_FIELDS: [&str; 8] =
    ["holder", "month", "currency", "lines", "total", "queries", "bytes", "lines-sha256"];

/// A statement note that does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The text does not end in a newline.
    #[error("the note text does not end in a newline")]
    NoFinalNewline,
    /// The text is empty.
    #[error("the note is empty")]
    Empty,
    /// The first line is not [`STATEMENT_NOTE_LABEL`].
    #[error("the note is a {label:?}, not a {STATEMENT_NOTE_LABEL:?}")]
    Label {
        /// The first line.
        label: String,
    },
    /// The note has too few or too many lines.
    #[error("the note has {found} fields, a {STATEMENT_NOTE_LABEL:?} has {}", STATEMENT_NOTE_FIELDS.len())]
    FieldCount {
        /// Its number of lines after the label.
        found: usize,
    },
    /// A line is not the field expected at its place.
    #[error("the note line {line:?} is not {name:?}")]
    Field {
        /// The line.
        line: String,
        /// The field expected.
        name: &'static str,
    },
    /// A number is not in canonical decimal.
    #[error("the note's {name} {text:?} is not a decimal number")]
    Number {
        /// The field.
        name: &'static str,
        /// Its value.
        text: String,
    },
    /// The digest is not 64 lowercase hex digits.
    #[error("the note's lines-sha256 {text:?} is not 64 hex digits")]
    Digest {
        /// Its value.
        text: String,
    },
}

impl StatementNote {
    /// The note's summary of `statement`, as the node signs it.
    pub fn of(statement: &pb::Statement) -> StatementNote {
        StatementNote {
            holder: statement.holder.clone(),
            month: statement.month.clone(),
            currency: statement.currency.clone(),
            n_lines: statement.lines.len() as u64,
            total: statement.total,
            queries: statement.queries,
            bytes: statement.bytes,
            lines_sha256: lines_digest(statement.lines.iter().map(|line| DigestLine {
                number: line.number,
                event_id: &line.event_id,
                query_amount: line.query_amount,
                traffic_amount: line.traffic_amount,
                amount: line.amount,
            })),
        }
    }

    /// The note's summary of a statement file, as a verifier recomputes it.
    pub fn of_file(statement: &StatementFile) -> StatementNote {
        StatementNote {
            holder: statement.holder.clone(),
            month: statement.month.clone(),
            currency: statement.currency.clone(),
            n_lines: statement.lines.len() as u64,
            total: statement.total,
            queries: statement.queries,
            bytes: statement.bytes,
            lines_sha256: lines_digest(statement.lines.iter().map(|line| DigestLine {
                number: line.number,
                event_id: &line.event_id,
                query_amount: line.query_amount,
                traffic_amount: line.traffic_amount,
                amount: line.amount,
            })),
        }
    }

    /// The note body, every line ending in a newline.
    pub fn body(&self) -> String {
        let values = [
            self.holder.clone(),
            self.month.clone(),
            self.currency.clone(),
            self.n_lines.to_string(),
            self.total.to_string(),
            self.queries.to_string(),
            self.bytes.to_string(),
            hex::encode(self.lines_sha256),
        ];
        let mut body = format!("{STATEMENT_NOTE_LABEL}\n");
        for (name, value) in STATEMENT_NOTE_FIELDS.iter().zip(values) {
            body.push_str(&format!("{name} {value}\n"));
        }
        body
    }

    /// Parses a note body strictly: the label, then exactly the fields of
    /// [`StatementNote::body`] in order, numbers in canonical decimal.
    pub fn parse_body(text: &str) -> Result<StatementNote, NoteError> {
        let content = text.strip_suffix('\n').ok_or(NoteError::NoFinalNewline)?;
        let lines: Vec<&str> = content.split('\n').collect();
        let [label, fields @ ..] = lines.as_slice() else {
            return Err(NoteError::Empty);
        };
        if *label != STATEMENT_NOTE_LABEL {
            return Err(NoteError::Label { label: label.to_string() });
        }
        if fields.len() != STATEMENT_NOTE_FIELDS.len() {
            return Err(NoteError::FieldCount { found: fields.len() });
        }
        let mut values = Vec::with_capacity(fields.len());
        for (line, name) in fields.iter().zip(STATEMENT_NOTE_FIELDS) {
            let value = line
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .ok_or_else(|| NoteError::Field { line: line.to_string(), name })?;
            values.push(value);
        }
        let number = |idx: usize| -> Result<u64, NoteError> {
            let text = values[idx];
            let canonical = !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_digit())
                && (text == "0" || !text.starts_with('0'));
            text.parse::<u64>().ok().filter(|_| canonical).ok_or_else(|| NoteError::Number {
                name: STATEMENT_NOTE_FIELDS[idx],
                text: text.to_string(),
            })
        };
        let digest = hex::decode(values[7])
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .filter(|digest| hex::encode(digest) == values[7])
            .ok_or_else(|| NoteError::Digest { text: values[7].to_string() })?;
        Ok(StatementNote {
            holder: values[0].to_string(),
            month: values[1].to_string(),
            currency: values[2].to_string(),
            n_lines: number(3)?,
            total: number(4)?,
            queries: number(5)?,
            bytes: number(6)?,
            lines_sha256: digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note() -> StatementNote {
        StatementNote {
            holder: "cairn1holder".into(),
            month: "2026-12".into(),
            currency: "EUR".into(),
            n_lines: 2,
            total: 3,
            queries: 2,
            bytes: 0,
            lines_sha256: lines_digest([line(1, "a1", 0), line(2, "b2", 3)]),
        }
    }

    fn line(number: u64, event_id: &str, amount: u64) -> DigestLine<'_> {
        DigestLine { number, event_id, query_amount: amount, traffic_amount: 0, amount }
    }

    #[test]
    fn a_statement_note_parses_back_to_itself() {
        let note = note();
        assert_eq!(StatementNote::parse_body(&note.body()), Ok(note));
    }

    #[test]
    fn the_lines_digest_changes_with_any_line() {
        let lines = [line(1, "a1", 0), line(2, "b2", 3), line(3, "c3", 3)];
        let digest = lines_digest(lines);
        let changed = [
            vec![line(1, "a1", 0), line(2, "b2", 3)],
            vec![line(1, "a1", 0), line(2, "c3", 3)],
            vec![line(1, "a1", 0), line(2, "c3", 3), line(3, "b2", 3)],
            vec![line(1, "a1", 0), line(2, "b2", 3), line(3, "c3", 4)],
            vec![line(1, "a1", 0), line(2, "b2", 3), line(3, "c3", 3), line(4, "d4", 3)],
            vec![line(1, "a1", 0), line(2, "b", 3), line(3, "2c3", 3)],
        ];
        for lines in changed {
            assert_ne!(lines_digest(lines.clone()), digest, "{lines:?}");
        }
    }

    #[test]
    fn a_statement_note_is_parsed_strictly() {
        let body = note().body();
        let cases = [
            (
                body.replace("cairn statement v1", "cairn statement v2"),
                "not a \"cairn statement v1\"",
            ),
            (body.replace("lines 2\n", "lines 02\n"), "lines \"02\" is not a decimal number"),
            (body.replace("total 3\n", ""), "the note has 7 fields"),
            (body.replace("total", "sum"), "is not \"total\""),
            (body.replace(&hex::encode(note().lines_sha256), "00"), "is not 64 hex digits"),
            (body.trim_end().to_string(), "does not end in a newline"),
        ];
        for (text, expected) in cases {
            let error = StatementNote::parse_body(&text).unwrap_err().to_string();
            assert!(error.contains(expected), "{error} should contain {expected}");
        }
    }
}
