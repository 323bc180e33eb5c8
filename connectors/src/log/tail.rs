//! A read-only follower of an embedded log file that another process
//! appends to.

use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::{LedgerLog, Record};

/// An embedded ledger log followed read-only, while the node that owns it
/// appends (the node holds the file's lock, so it cannot be opened as an
/// [`super::EmbeddedLog`]).
///
/// It reads the frames the embedded log documents (`CRN1`, length,
/// checksums, payload) and serves only complete frames whose checksums
/// hold: a frame being written is not served until it is whole, and a torn
/// or damaged one is waited on until the node's recovery (which truncates a
/// torn tail on restart) or its owner resolves it; nothing after it is
/// served meanwhile.
#[derive(Debug)]
pub struct TailLog {
    path: PathBuf,
    state: Mutex<TailState>,
}

#[derive(Debug, Default)]
struct TailState {
    file: Option<FileHandle>,
    /// The byte position of every complete record's frame.
    positions: Vec<(u64, u32)>,
    /// Where the next frame starts.
    end: u64,
}

struct FileHandle(File);

impl fmt::Debug for FileHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileHandle")
    }
}

/// The first bytes of every frame of the embedded log.
const FRAME_MAGIC: [u8; 4] = *b"CRN1";
/// The size of a frame header.
const FRAME_HEADER: u64 = 16;

impl TailLog {
    /// Follows the log file at `path` (which may not exist yet).
    pub fn new(path: PathBuf) -> TailLog {
        TailLog { path, state: Mutex::new(TailState::default()) }
    }

    /// Indexes the frames appended since the last look.
    fn refresh(&self, state: &mut TailState) -> crate::Result<()> {
        if state.file.is_none() {
            match File::open(&self.path) {
                Ok(file) => state.file = Some(FileHandle(file)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_error(&self.path, e)),
            }
        }
        let Some(FileHandle(file)) = &state.file else { return Ok(()) };
        let len = file.metadata().map_err(|e| io_error(&self.path, e))?.len();
        while state.end + FRAME_HEADER <= len {
            let mut header = [0u8; FRAME_HEADER as usize];
            file.read_exact_at(&mut header, state.end).map_err(|e| io_error(&self.path, e))?;
            let frame_len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            let header_crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
            let payload_crc = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
            if header[..4] != FRAME_MAGIC || crc32c::crc32c(&header[..8]) != header_crc {
                // Being written, or damaged: the node's recovery decides.
                return Ok(());
            }
            let frame_end = state.end + FRAME_HEADER + u64::from(frame_len);
            if frame_end > len {
                return Ok(());
            }
            let payload = read_at(file, state.end + FRAME_HEADER, frame_len, &self.path)?;
            if crc32c::crc32c(&payload) != payload_crc {
                return Ok(());
            }
            state.positions.push((state.end + FRAME_HEADER, frame_len));
            state.end = frame_end;
        }
        Ok(())
    }
}

fn io_error(path: &Path, error: std::io::Error) -> crate::Error {
    crate::Error::Io { action: "follow", path: path.to_owned(), source: error }
}

fn read_at(file: &File, at: u64, len: u32, path: &Path) -> crate::Result<Vec<u8>> {
    let mut payload = vec![0u8; len as usize];
    file.read_exact_at(&mut payload, at).map_err(|e| io_error(path, e))?;
    Ok(payload)
}

impl LedgerLog for TailLog {
    fn append(&self, _: &[&[u8]]) -> crate::Result<u64> {
        Err(crate::Error::Io {
            action: "append to",
            path: self.path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "a follower reads the ledger log only",
            ),
        })
    }

    fn read(&self, from: u64, max: usize) -> crate::Result<Vec<Record>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if from.saturating_add(max as u64) > state.positions.len() as u64 {
            self.refresh(&mut state)?;
        }
        let Some(FileHandle(file)) = &state.file else { return Ok(Vec::new()) };
        let start = usize::try_from(from).unwrap_or(usize::MAX);
        let Some(positions) = state.positions.get(start..) else { return Ok(Vec::new()) };
        positions
            .iter()
            .take(max)
            .enumerate()
            .map(|(idx, &(at, len))| {
                Ok(Record { offset: from + idx as u64, bytes: read_at(file, at, len, &self.path)? })
            })
            .collect()
    }

    fn next_offset(&self) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = self.refresh(&mut state) {
            tracing::warn!(error = %e, "cannot read the ledger log");
        }
        state.positions.len() as u64
    }
}
