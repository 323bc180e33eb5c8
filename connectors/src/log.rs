//! The ledger log: an ordered, durable, append-only sequence of opaque records.
//!
//! [`LedgerLog`] is the small trait the rest of Cairn programs against. Two
//! backends implement it:
//!
//! - [`MemoryLog`], a mutex-guarded vector for fast tests;
//! - [`EmbeddedLog`], a crash-safe single file with crc32c-checked frames and
//!   group commit; the [`embedded`] module documents the on-disk layout.
//!
//! [`open`] picks a backend from a URL: `memory://`, `memory://name`,
//! `file:///abs/path/to/file.log` or a plain filesystem path.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Error, Result};

pub mod embedded;
pub mod memory;
pub mod tail;
#[cfg(test)]
mod tests;

pub use embedded::EmbeddedLog;
pub use memory::MemoryLog;
pub use tail::TailLog;

/// The largest record payload a log accepts: 64 MiB.
///
/// Appends containing a larger record are rejected with
/// [`Error::RecordTooLarge`] before anything is written.
pub const MAX_RECORD_LEN: usize = 64 * 1024 * 1024;

/// One record read back from a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The record's offset: its position in the log, starting at 0.
    pub offset: u64,
    /// The record's payload, exactly as appended.
    pub bytes: Vec<u8>,
}

/// An ordered, durable log of opaque records. Offsets start at 0 and are dense.
pub trait LedgerLog: Send + Sync + std::fmt::Debug + 'static {
    /// Appends `records` in order, atomically as a group; returns the offset of the first.
    ///
    /// When it returns `Ok`, the records are durable (fsynced for the file
    /// backend). It is safe to call from many threads: concurrent appenders
    /// share fsyncs (group commit). An empty group writes nothing and returns
    /// the current [`next_offset`](LedgerLog::next_offset).
    fn append(&self, records: &[&[u8]]) -> Result<u64>;

    /// Reads up to `max` records starting at `from`.
    ///
    /// Fewer records are returned at the end of the log, and none past it.
    fn read(&self, from: u64, max: usize) -> Result<Vec<Record>>;

    /// The offset the next appended record will get, which is the number of
    /// records in the log.
    fn next_offset(&self) -> u64;

    /// Like [`read`](LedgerLog::read), but when nothing is there yet waits up
    /// to `timeout` for records appended by others (a follower's loop).
    ///
    /// The default polls [`read`](LedgerLog::read) every few milliseconds;
    /// a backend that can be told about new records does better.
    fn read_wait(
        &self,
        from: u64,
        max: usize,
        timeout: std::time::Duration,
    ) -> Result<Vec<Record>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let records = self.read(from, max)?;
            if !records.is_empty() || std::time::Instant::now() >= deadline {
                return Ok(records);
            }
            std::thread::sleep(std::time::Duration::from_millis(5).min(timeout));
        }
    }
}

impl<T: LedgerLog + ?Sized> LedgerLog for Arc<T> {
    fn append(&self, records: &[&[u8]]) -> Result<u64> {
        (**self).append(records)
    }

    fn read(&self, from: u64, max: usize) -> Result<Vec<Record>> {
        (**self).read(from, max)
    }

    fn read_wait(
        &self,
        from: u64,
        max: usize,
        timeout: std::time::Duration,
    ) -> Result<Vec<Record>> {
        (**self).read_wait(from, max, timeout)
    }

    fn next_offset(&self) -> u64 {
        (**self).next_offset()
    }
}

impl<T: LedgerLog + ?Sized> LedgerLog for Box<T> {
    fn append(&self, records: &[&[u8]]) -> Result<u64> {
        (**self).append(records)
    }

    fn read(&self, from: u64, max: usize) -> Result<Vec<Record>> {
        (**self).read(from, max)
    }

    fn read_wait(
        &self,
        from: u64,
        max: usize,
        timeout: std::time::Duration,
    ) -> Result<Vec<Record>> {
        (**self).read_wait(from, max, timeout)
    }

    fn next_offset(&self) -> u64 {
        (**self).next_offset()
    }
}

/// Fails to compile if [`LedgerLog`] stops being usable as a trait object.
fn _assert_object_safe(_: &dyn LedgerLog) {}

/// Checks every record of an append against [`MAX_RECORD_LEN`].
pub(crate) fn check_record_sizes(records: &[&[u8]]) -> Result<()> {
    match records.iter().position(|record| record.len() > MAX_RECORD_LEN) {
        Some(index) => {
            Err(Error::RecordTooLarge { index, len: records[index].len(), max: MAX_RECORD_LEN })
        }
        None => Ok(()),
    }
}

/// Opens the log named by `url`.
///
/// - `memory://` or `memory://name` gives a fresh, empty [`MemoryLog`]; the
///   name only labels it in debug output, so two opens never share records.
/// - `file:///abs/path/to/file.log` (or `file://localhost/abs/path`) opens an
///   [`EmbeddedLog`] at that absolute path; `%XX` escapes are decoded.
/// - Anything without a `scheme://` prefix is taken as a filesystem path for
///   an [`EmbeddedLog`].
///
/// Any other scheme is an [`Error::InvalidUrl`].
pub fn open(url: &str) -> Result<Arc<dyn LedgerLog>> {
    let invalid =
        |reason: &str| Error::InvalidUrl { url: url.to_owned(), reason: reason.to_owned() };
    if url.is_empty() {
        return Err(invalid("the URL is empty"));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(Arc::new(EmbeddedLog::open(Path::new(url))?));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "memory" => Ok(Arc::new(MemoryLog::named(rest))),
        "file" => {
            // A file URL is `file://host/path`; only an empty host or
            // `localhost` refer to this machine.
            let path = if rest.starts_with('/') {
                rest
            } else if let Some(path) = rest.strip_prefix("localhost").filter(|p| p.starts_with('/'))
            {
                path
            } else {
                return Err(invalid(
                    "a file URL needs an absolute path on this host, as in file:///var/lib/cairn/ledger.log",
                ));
            };
            if path.contains(['?', '#']) {
                return Err(invalid("a file URL must not have a query or fragment"));
            }
            let bytes =
                percent_decode(path).ok_or_else(|| invalid("the path has a malformed %-escape"))?;
            if bytes.ends_with(b"/") {
                return Err(invalid("the path names a directory, not a log file"));
            }
            let path = PathBuf::from(OsString::from_vec(bytes));
            Ok(Arc::new(EmbeddedLog::open(&path)?))
        }
        _ => Err(invalid(&format!(
            "unknown scheme {scheme:?}; expected memory://, file:///absolute/path or a plain path"
        ))),
    }
}

/// Decodes `%XX` escapes in a URL path; `None` if an escape is malformed.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(byte) = bytes.next() {
        if byte == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            // Two hex digits always fit in a byte.
            out.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            out.push(byte);
        }
    }
    Some(out)
}
