//! A crash-safe [`LedgerLog`] in one append-only file.
//!
//! # On-disk layout
//!
//! The file is a plain sequence of frames, one per record, with no file
//! header and no padding. Record offsets are implicit: the first frame is
//! record 0, the next record 1, and so on. Each frame is a 16-byte header
//! followed by the payload:
//!
//! | bytes   | field         | contents                                         |
//! |---------|---------------|--------------------------------------------------|
//! | 0..4    | `magic`       | `b"CRN1"`                                        |
//! | 4..8    | `len`         | payload length, `u32` little-endian, at most 64 MiB |
//! | 8..12   | `header_crc`  | crc32c of bytes 0..8 (magic and len), `u32` LE   |
//! | 12..16  | `payload_crc` | crc32c of the payload, `u32` LE                  |
//! | 16..    | payload       | `len` opaque bytes, stored exactly as appended   |
//!
//! # Recovery
//!
//! [`EmbeddedLog::open`] reads the whole file, verifies every frame and keeps
//! the byte position of each record in memory for random-access reads. A
//! damaged end of file is treated as a torn write, truncated back to the last
//! good record and reported with a `tracing` warning, only when it is exactly
//! what an interrupted append can leave behind:
//!
//! - the file ends inside a frame whose header verifies (or inside a header
//!   whose bytes so far are a prefix of the magic, or all zero); or
//! - the last frame's header or payload fails its checksum and every byte from
//!   the failing region to the end of the file is zero.
//!
//! Such bytes were never acknowledged, because [`LedgerLog::append`] returns
//! only after `fdatasync`. Any other bad magic or checksum, anywhere in the
//! file, is reported as [`Error::Corrupt`] naming the record offset and byte
//! position; nothing is ever skipped or repaired silently.
//!
//! # Appends and group commit
//!
//! An append encodes its frames into one buffer and queues it. If no write is
//! in flight, the appender becomes the leader: it takes everything queued,
//! writes it with a single positioned `write_all` at the end of the file and
//! calls `sync_data` once. Appenders that queued meanwhile wait on a condition
//! variable and are released when their batch is durable, so concurrent
//! appenders share fsyncs. A failed write or fsync fails every appender of the
//! batch and poisons the log: the durability of its tail is unknown, so it
//! refuses further appends until it is reopened (and recovered).
//!
//! # Exclusivity
//!
//! The file is locked exclusively (an advisory `flock`) for as long as the log
//! is open, so a second open, from this process or another, fails with
//! [`Error::Locked`].

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, BufReader, ErrorKind, Read};
use std::mem;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use tracing::field::Empty;
use tracing::{debug, warn};

use super::{LedgerLog, MAX_RECORD_LEN, Record, check_record_sizes};
use crate::{Error, Result};

/// The first four bytes of every frame.
const MAGIC: [u8; 4] = *b"CRN1";

/// The size of a frame header in bytes.
const HEADER_LEN: usize = 16;

/// [`HEADER_LEN`] as a file length.
const HEADER_LEN_U64: u64 = HEADER_LEN as u64;

/// The buffer size used to scan the file on open.
const SCAN_BUFFER: usize = 1 << 20;

/// A crash-safe, single-file ledger log with group commit.
///
/// See the [module documentation](self) for the file format and the recovery
/// rules.
pub struct EmbeddedLog {
    /// The log file, as given to [`EmbeddedLog::open`].
    path: PathBuf,
    /// The open, exclusively locked file, used for positioned reads and writes.
    file: File,
    /// The index and the group-commit queue.
    state: Mutex<State>,
    /// Signalled whenever a batch finishes, successfully or not.
    batch_done: Condvar,
    /// Makes the next write fail, so that tests can exercise poisoning.
    #[cfg(test)]
    fail_next_write: std::sync::atomic::AtomicBool,
}

/// The mutable part of an [`EmbeddedLog`], guarded by its mutex.
#[derive(Debug)]
struct State {
    /// The byte position of every durable record's frame, indexed by offset.
    positions: Vec<u64>,
    /// The end of the last durable record, which is where the next batch goes.
    end: u64,
    /// The next offset to hand out, counting queued and in-flight records.
    assigned: u64,
    /// Encoded frames waiting for the next leader.
    queue: Vec<u8>,
    /// The start of each queued frame within `queue`.
    queue_starts: Vec<u64>,
    /// The number of the batch that `queue` collects into.
    open_batch: u64,
    /// The number of the last batch that is durable (0 before the first).
    durable_batch: u64,
    /// Whether a leader is writing a batch right now.
    writing: bool,
    /// Why the log refuses appends, once a write or fsync has failed.
    poisoned: Option<String>,
}

impl EmbeddedLog {
    /// Opens the log at `path`, creating it (and its parent directory) if missing.
    ///
    /// The whole file is verified and indexed; a torn tail is truncated, and
    /// any other damage is an [`Error::Corrupt`]. Fails with [`Error::Locked`]
    /// if the log is already open elsewhere.
    #[tracing::instrument(name = "log_open", level = "debug", skip_all, fields(path = %path.display()))]
    pub fn open(path: &Path) -> Result<Self> {
        let file = open_or_create(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(Error::Locked { path: path.to_owned() }),
            Err(TryLockError::Error(source)) => return Err(Error::io("lock", path, source)),
        }
        let (positions, end) = recover(path, &file)?;
        debug!(records = positions.len(), bytes = end, "opened log");
        let state = State {
            assigned: positions.len() as u64,
            positions,
            end,
            queue: Vec::new(),
            queue_starts: Vec::new(),
            open_batch: 1,
            durable_batch: 0,
            writing: false,
            poisoned: None,
        };
        Ok(Self {
            path: path.to_owned(),
            file,
            state: Mutex::new(state),
            batch_done: Condvar::new(),
            #[cfg(test)]
            fail_next_write: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The path the log was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the next batch write fail as if its fsync had failed.
    #[cfg(test)]
    pub(super) fn fail_next_write(&self) {
        self.fail_next_write.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The number of batches written so far, each with one fsync.
    #[cfg(test)]
    pub(super) fn batches_written(&self) -> u64 {
        self.state().durable_batch
    }

    /// Locks the state. No code panics while holding the lock, so a poisoned
    /// mutex can only come from a panic elsewhere and the state is still usable.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until a batch finishes.
    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.batch_done.wait(state).unwrap_or_else(PoisonError::into_inner)
    }

    /// The error for an append to a poisoned log.
    fn poisoned(&self, reason: &str) -> Error {
        Error::Poisoned { path: self.path.clone(), reason: reason.to_owned() }
    }

    /// Writes `frames` at byte `at` and makes them durable.
    fn write_durably(&self, frames: &[u8], at: u64) -> Result<()> {
        #[cfg(test)]
        if self.fail_next_write.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let source = io::Error::other("injected fsync failure");
            return Err(Error::io("fsync", &self.path, source));
        }
        self.file.write_all_at(frames, at).map_err(|e| Error::io("append to", &self.path, e))?;
        self.file.sync_data().map_err(|e| Error::io("fsync", &self.path, e))
    }

    /// Reads and verifies the frame of record `offset`, which spans
    /// `start..end`, and returns its payload.
    fn read_frame(&self, offset: u64, start: u64, end: u64) -> Result<Vec<u8>> {
        let corrupt = |reason: String| Error::Corrupt {
            path: self.path.clone(),
            record: offset,
            position: start,
            reason,
        };
        let frame_len = usize::try_from(end - start)
            .map_err(|_| corrupt("the indexed frame is too large to read".to_owned()))?;
        let mut frame = vec![0; frame_len];
        self.file
            .read_exact_at(&mut frame, start)
            .map_err(|e| Error::io("read from", &self.path, e))?;
        let Some((header, payload)) = frame.split_first_chunk::<HEADER_LEN>() else {
            return Err(corrupt("the indexed frame is shorter than a header".to_owned()));
        };
        let header = Header::parse(header).map_err(|problem| corrupt(problem.to_string()))?;
        if header.len != payload.len() {
            return Err(corrupt(format!(
                "the header now says {} payload bytes but {} were indexed at open",
                header.len,
                payload.len()
            )));
        }
        if crc32c::crc32c(payload) != header.payload_crc {
            return Err(corrupt("payload checksum mismatch".to_owned()));
        }
        frame.drain(..HEADER_LEN);
        Ok(frame)
    }
}

impl fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedLog")
            .field("path", &self.path)
            .field("next_offset", &self.next_offset())
            .finish_non_exhaustive()
    }
}

impl LedgerLog for EmbeddedLog {
    #[tracing::instrument(
        name = "log_append",
        level = "debug",
        skip_all,
        fields(n_records = records.len(), offset = Empty)
    )]
    fn append(&self, records: &[&[u8]]) -> Result<u64> {
        check_record_sizes(records)?;
        if records.is_empty() {
            let state = self.state();
            if let Some(reason) = &state.poisoned {
                return Err(self.poisoned(reason));
            }
            return Ok(state.positions.len() as u64);
        }
        let (frames, starts) = encode(records);

        let mut state = self.state();
        if let Some(reason) = &state.poisoned {
            return Err(self.poisoned(reason));
        }
        let first = state.assigned;
        state.assigned += records.len() as u64;
        tracing::Span::current().record("offset", first);
        let base = state.queue.len() as u64;
        state.queue_starts.extend(starts.iter().map(|start| base + start));
        if state.queue.is_empty() {
            state.queue = frames;
        } else {
            state.queue.extend_from_slice(&frames);
        }
        let my_batch = state.open_batch;

        loop {
            if state.durable_batch >= my_batch {
                return Ok(first);
            }
            if let Some(reason) = &state.poisoned {
                return Err(self.poisoned(reason));
            }
            if state.writing {
                state = self.wait(state);
                continue;
            }
            // No write is in flight and this appender's batch is not durable,
            // so that batch is still the open one: lead it.
            let batch = state.open_batch;
            state.open_batch += 1;
            state.writing = true;
            let frames = mem::take(&mut state.queue);
            let starts = mem::take(&mut state.queue_starts);
            let at = state.end;
            drop(state);

            debug!(batch, records = starts.len(), bytes = frames.len(), "group commit");
            let written = self.write_durably(&frames, at);

            state = self.state();
            state.writing = false;
            match written {
                Ok(()) => {
                    state.positions.extend(starts.iter().map(|start| at + start));
                    state.end = at + frames.len() as u64;
                    state.durable_batch = batch;
                    self.batch_done.notify_all();
                }
                Err(error) => {
                    let reason = match &error {
                        Error::Io { action, source, .. } => format!("{action} failed: {source}"),
                        other => other.to_string(),
                    };
                    tracing::error!(%reason, "log append failed; refusing further appends");
                    state.poisoned = Some(reason);
                    state.queue = Vec::new();
                    state.queue_starts = Vec::new();
                    self.batch_done.notify_all();
                    return Err(error);
                }
            }
        }
    }

    #[tracing::instrument(name = "log_read", level = "trace", skip(self))]
    fn read(&self, from: u64, max: usize) -> Result<Vec<Record>> {
        // Copy the frame boundaries out so that the reads run without the lock.
        let bounds = {
            let state = self.state();
            let Some(start) = usize::try_from(from).ok().filter(|&s| s < state.positions.len())
            else {
                return Ok(Vec::new());
            };
            let stop = start.saturating_add(max).min(state.positions.len());
            let mut bounds = state.positions[start..stop].to_vec();
            bounds.push(state.positions.get(stop).copied().unwrap_or(state.end));
            bounds
        };
        bounds
            .windows(2)
            .zip(from..)
            .map(|(frame, offset)| {
                let bytes = self.read_frame(offset, frame[0], frame[1])?;
                Ok(Record { offset, bytes })
            })
            .collect()
    }

    fn next_offset(&self) -> u64 {
        self.state().positions.len() as u64
    }
}

/// Encodes `records` as consecutive frames, returning the buffer and the start
/// of each frame within it. Record sizes must already be checked.
fn encode(records: &[&[u8]]) -> (Vec<u8>, Vec<u64>) {
    let total = records.iter().map(|record| HEADER_LEN + record.len()).sum();
    let mut frames = Vec::with_capacity(total);
    let mut starts = Vec::with_capacity(records.len());
    for record in records {
        starts.push(frames.len() as u64);
        // The caller checked every length against MAX_RECORD_LEN, which fits in a u32.
        let len = u32::try_from(record.len()).unwrap_or(u32::MAX);
        let mut head = [0; 8];
        head[..4].copy_from_slice(&MAGIC);
        head[4..].copy_from_slice(&len.to_le_bytes());
        frames.extend_from_slice(&head);
        frames.extend_from_slice(&crc32c::crc32c(&head).to_le_bytes());
        frames.extend_from_slice(&crc32c::crc32c(record).to_le_bytes());
        frames.extend_from_slice(record);
    }
    (frames, starts)
}

/// A frame header whose magic and header checksum verified.
struct Header {
    /// The payload length.
    len: usize,
    /// The stored crc32c of the payload.
    payload_crc: u32,
}

/// Why a frame header failed to verify.
enum HeaderProblem {
    /// The first four bytes are not [`MAGIC`].
    BadMagic([u8; 4]),
    /// The header checksum does not match the magic and length.
    BadChecksum,
    /// The checksum matches but the length is over [`MAX_RECORD_LEN`].
    TooLong(u32),
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadMagic(found) => {
                write!(f, "bad magic {found:02x?}, expected {MAGIC:02x?} (\"CRN1\")")
            }
            Self::BadChecksum => f.write_str("header checksum mismatch"),
            Self::TooLong(len) => {
                write!(f, "record length {len} exceeds the maximum of {MAX_RECORD_LEN} bytes")
            }
        }
    }
}

impl Header {
    /// Verifies and decodes a frame header.
    fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Self, HeaderProblem> {
        let [m0, m1, m2, m3, l0, l1, l2, l3, h0, h1, h2, h3, p0, p1, p2, p3] = *bytes;
        let magic = [m0, m1, m2, m3];
        if magic != MAGIC {
            return Err(HeaderProblem::BadMagic(magic));
        }
        if crc32c::crc32c(&bytes[..8]) != u32::from_le_bytes([h0, h1, h2, h3]) {
            return Err(HeaderProblem::BadChecksum);
        }
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        match usize::try_from(len) {
            Ok(len) if len <= MAX_RECORD_LEN => {
                Ok(Self { len, payload_crc: u32::from_le_bytes([p0, p1, p2, p3]) })
            }
            _ => Err(HeaderProblem::TooLong(len)),
        }
    }
}

/// Opens the log file read-write, creating it and any missing parent
/// directories, and fsyncs every directory whose entries changed.
fn open_or_create(path: &Path) -> Result<File> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    // The directories that do not exist yet, deepest first.
    let mut missing = Vec::new();
    let mut dir = parent;
    while !dir.try_exists().map_err(|e| Error::io("inspect the directory of", path, e))? {
        missing.push(dir);
        match dir.parent() {
            Some(up) if !up.as_os_str().is_empty() => dir = up,
            _ => break,
        }
    }
    if !missing.is_empty() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::io("create the directory of", path, e))?;
    }

    let (file, created) =
        match OpenOptions::new().read(true).write(true).create_new(true).open(path) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(|e| Error::io("open", path, e))?;
                (file, false)
            }
            Err(e) => return Err(Error::io("create", path, e)),
        };
    let metadata = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    if !metadata.is_file() {
        let source = io::Error::new(ErrorKind::InvalidInput, "not a regular file");
        return Err(Error::io("open", path, source));
    }

    if created {
        sync_dir(parent, path)?;
    }
    for dir in missing {
        match dir.parent() {
            Some(up) if !up.as_os_str().is_empty() => sync_dir(up, path)?,
            _ => sync_dir(Path::new("."), path)?,
        }
    }
    Ok(file)
}

/// Fsyncs `dir`, a directory on the way to the log at `path`, so that entries
/// created in it survive a crash.
fn sync_dir(dir: &Path, path: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|e| Error::io("fsync a directory holding", path, e))
}

/// Scans and verifies the whole file, truncates a torn tail, and returns the
/// position of every record and the end of the last one.
fn recover(path: &Path, file: &File) -> Result<(Vec<u64>, u64)> {
    let (positions, end, torn) = scan(path, file)?;
    if let Some(reason) = torn {
        let len = file.metadata().map_err(|e| Error::io("inspect", path, e))?.len();
        warn!(
            path = %path.display(),
            dropped_bytes = len - end,
            records = positions.len(),
            "dropping {} bytes of a torn, never-acknowledged write at the end of the log ({reason})",
            len - end,
        );
        file.set_len(end).map_err(|e| Error::io("truncate the torn tail of", path, e))?;
        file.sync_all().map_err(|e| Error::io("fsync", path, e))?;
    }
    Ok((positions, end))
}

/// Verifies every frame. Returns the record positions, the end of the last
/// good record and, if the file continues past it with a torn write, why the
/// rest counts as torn.
fn scan(path: &Path, file: &File) -> Result<(Vec<u64>, u64, Option<String>)> {
    let len = file.metadata().map_err(|e| Error::io("inspect", path, e))?.len();
    let read_error = |e| Error::io("read", path, e);
    let mut reader = BufReader::with_capacity(SCAN_BUFFER, file);
    let mut positions = Vec::new();
    let mut payload = Vec::new();
    let mut pos = 0;

    while pos < len {
        let record = positions.len() as u64;
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_owned(),
            record,
            position: pos,
            reason,
        };
        let remaining = len - pos;

        if remaining < HEADER_LEN_U64 {
            // The file ends inside a header. An interrupted write leaves a
            // prefix of a real header (which starts with the magic) or zeros.
            let mut partial = [0; HEADER_LEN];
            let partial = &mut partial[..remaining as usize];
            reader.read_exact(partial).map_err(read_error)?;
            let magic_part = partial.len().min(MAGIC.len());
            if partial.iter().all(|&b| b == 0) || partial[..magic_part] == MAGIC[..magic_part] {
                let reason = format!("the file ends {remaining} bytes into a frame header");
                return Ok((positions, pos, Some(reason)));
            }
            return Err(corrupt(format!(
                "the file ends {remaining} bytes into a frame header that does not start with the magic \"CRN1\""
            )));
        }

        let mut header = [0; HEADER_LEN];
        reader.read_exact(&mut header).map_err(read_error)?;
        let header = match Header::parse(&header) {
            Ok(header) => header,
            Err(problem @ (HeaderProblem::BadMagic(_) | HeaderProblem::BadChecksum)) => {
                if zeros_to_end(file, pos, len).map_err(read_error)? {
                    let reason = format!("{problem} over {remaining} zero bytes");
                    return Ok((positions, pos, Some(reason)));
                }
                return Err(corrupt(problem.to_string()));
            }
            Err(problem @ HeaderProblem::TooLong(_)) => return Err(corrupt(problem.to_string())),
        };

        let available = remaining - HEADER_LEN_U64;
        let wanted = header.len as u64;
        if available < wanted {
            let reason =
                format!("the file ends {available} bytes into a {wanted}-byte record payload");
            return Ok((positions, pos, Some(reason)));
        }
        payload.resize(header.len, 0);
        reader.read_exact(&mut payload).map_err(read_error)?;
        if crc32c::crc32c(&payload) != header.payload_crc {
            // A non-empty payload of zeros running to the end of the file is
            // what a write interrupted after its header reached the disk leaves.
            if !payload.is_empty()
                && zeros_to_end(file, pos + HEADER_LEN_U64, len).map_err(read_error)?
            {
                let reason = "payload checksum mismatch over zero bytes".to_owned();
                return Ok((positions, pos, Some(reason)));
            }
            return Err(corrupt("payload checksum mismatch".to_owned()));
        }

        positions.push(pos);
        pos += HEADER_LEN_U64 + wanted;
    }
    Ok((positions, pos, None))
}

/// Whether every byte of `file` from `from` to `len` is zero.
fn zeros_to_end(file: &File, mut from: u64, len: u64) -> io::Result<bool> {
    let mut buffer = vec![0; 64 * 1024];
    while from < len {
        let chunk = usize::try_from(len - from).unwrap_or(usize::MAX).min(buffer.len());
        let chunk = &mut buffer[..chunk];
        file.read_exact_at(chunk, from)?;
        if chunk.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        from += chunk.len() as u64;
    }
    Ok(true)
}
