//! An in-memory [`LedgerLog`] for fast tests: a vector of records behind a mutex.
//!
//! Nothing survives the process, so "durable" here only means "visible to
//! later reads". Record sizes are limited exactly as in the file backend so
//! that tests see the same errors.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{LedgerLog, Record, check_record_sizes};
use crate::Result;

/// An in-memory log: `Mutex<Vec<Vec<u8>>>`.
#[derive(Debug, Default)]
pub struct MemoryLog {
    /// A label shown in debug output (from `memory://name`), possibly empty.
    name: String,
    /// The records, indexed by offset.
    records: Mutex<Vec<Vec<u8>>>,
}

impl MemoryLog {
    /// Creates an empty, unnamed log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates an empty log labelled `name` in debug output.
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: name.into(), records: Mutex::default() }
    }

    /// The label given at creation, possibly empty.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Locks the records; a panic in another thread cannot leave them half
    /// updated, so a poisoned mutex is still safe to use.
    fn records(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LedgerLog for MemoryLog {
    fn append(&self, records: &[&[u8]]) -> Result<u64> {
        check_record_sizes(records)?;
        let mut stored = self.records();
        let first = stored.len() as u64;
        stored.extend(records.iter().map(|record| record.to_vec()));
        Ok(first)
    }

    fn read(&self, from: u64, max: usize) -> Result<Vec<Record>> {
        let stored = self.records();
        let Ok(start) = usize::try_from(from) else {
            return Ok(Vec::new());
        };
        let Some(tail) = stored.get(start..) else {
            return Ok(Vec::new());
        };
        Ok(tail
            .iter()
            .take(max)
            .zip(from..)
            .map(|(bytes, offset)| Record { offset, bytes: bytes.clone() })
            .collect())
    }

    fn next_offset(&self) -> u64 {
        self.records().len() as u64
    }
}
