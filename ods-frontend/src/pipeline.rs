//! The streaming chunk → hash → encrypt pipeline and its inverse, on all cores
//! with bounded memory.
//!
//! # Sealing
//!
//! [`seal_stream`] cuts the input into chunks of `chunk_size` bytes (the last
//! may be shorter; an empty input gives zero chunks). A reader thread reads
//! the chunks into a bounded queue, `workers` threads take them in turn, hash
//! each plaintext with SHA-256 and seal it in place (see [`crate::aead`]), and
//! the calling thread puts the results back in index order and hands them to
//! the sink.
//!
//! Memory is bounded by credits: the reader takes one credit before it
//! allocates a chunk buffer, and the calling thread gives it back only once
//! that chunk has been handed to the sink. There are `max_in_flight` credits,
//! so at most `max_in_flight` buffers of `chunk_size + 16` bytes exist at any
//! time, whether they wait in the queue, are being sealed, or wait to be put
//! back in order. Peak memory is therefore about
//! `max_in_flight × chunk_size` (24 MiB with the defaults on two cores:
//! 6 × 4 MiB), whatever the input size, plus whatever the sink keeps.
//!
//! To know which chunk is the last (its tag binds the `is_last` flag), the
//! reader reads one byte past each full chunk; that byte starts the next
//! chunk, so no second buffer is needed.
//!
//! # Opening
//!
//! [`open_stream`] first checks that the header's chunk hashes give the
//! content hash the caller trusts (from the ledger), then opens the chunks on
//! `workers` threads, checks each plaintext's SHA-256 against the header, and
//! writes each chunk only after it verified, in order. The first failure, in
//! index order, stops it and names the chunk.
//!
//! # Content hash
//!
//! See [`content_hash`].

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;

use anchor_chaincode::merkle::{leaf_hash, root_of};
use sha2::{Digest, Sha256};

use crate::aead::{ChunkCipher, ChunkPosition, TAG_LEN};
use crate::error::Error;
use crate::format::check_chunk_size;

/// The default chunk size: 4 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 4 << 20;

/// How the pipeline cuts and schedules its work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Plaintext bytes per chunk, 1 to [`crate::format::MAX_CHUNK_SIZE`]
    /// (default 4 MiB).
    pub chunk_size: usize,
    /// Threads that hash and seal or open chunks (default: the available
    /// parallelism).
    pub workers: usize,
    /// Chunk buffers alive at once, at least 1 (default `2 × workers + 2`).
    pub max_in_flight: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        let workers = thread::available_parallelism().map_or(1, usize::from);
        PipelineConfig { chunk_size: DEFAULT_CHUNK_SIZE, workers, max_in_flight: 2 * workers + 2 }
    }
}

impl PipelineConfig {
    /// Returns the default configuration with another chunk size.
    pub fn with_chunk_size(chunk_size: usize) -> PipelineConfig {
        PipelineConfig { chunk_size, ..PipelineConfig::default() }
    }

    /// Checks that every setting is in range.
    pub fn validate(&self) -> Result<(), Error> {
        check_chunk_size(self.chunk_size)?;
        if self.workers == 0 {
            return Err(Error::InvalidConfig("the pipeline needs at least one worker".into()));
        }
        if self.max_in_flight == 0 {
            return Err(Error::InvalidConfig("max_in_flight must be at least 1".into()));
        }
        Ok(())
    }
}

/// One sealed chunk, as handed to the sink of [`seal_stream`].
///
/// Its `Debug` output shows only sizes and the index.
pub struct SealedChunk {
    /// The chunk's index, from 0.
    pub index: u64,
    /// The SHA-256 of the chunk's plaintext (a leaf input of the content hash).
    pub plaintext_sha256: [u8; 32],
    /// The number of plaintext bytes.
    pub plaintext_len: u64,
    /// The ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedChunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedChunk")
            .field("index", &self.index)
            .field("plaintext_len", &self.plaintext_len)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish_non_exhaustive()
    }
}

/// What [`seal_stream`] produced: the values that go into the version's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealSummary {
    /// The content hash: see [`content_hash`].
    pub content_hash: [u8; 32],
    /// The SHA-256 of each chunk's plaintext, in index order.
    pub chunk_hashes: Vec<[u8; 32]>,
    /// The number of chunks.
    pub n_chunks: u64,
    /// The number of plaintext bytes.
    pub plaintext_bytes: u64,
    /// The chunk size used.
    pub chunk_size: usize,
}

/// What [`open_stream`] verified and wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSummary {
    /// The content hash the chunks were checked against.
    pub content_hash: [u8; 32],
    /// The number of chunks opened.
    pub n_chunks: u64,
    /// The number of plaintext bytes written.
    pub plaintext_bytes: u64,
}

/// Computes the content hash of a version from its chunk hashes.
///
/// The content hash is the RFC 6962 (RFC 9162 §2.1.1) Merkle Tree Hash over
/// one leaf per chunk, in index order, where the leaf data is the 32-byte
/// SHA-256 of the chunk's plaintext:
///
/// - `d_i = SHA-256(plaintext of chunk i)`;
/// - leaf hash `l_i = SHA-256(0x00 || d_i)`;
/// - interior node `SHA-256(0x01 || left || right)`, with the RFC's
///   left-heavy split (the left subtree holds the largest power of two
///   strictly below the leaf count);
/// - zero chunks (empty input) give `SHA-256("")` =
///   `e3b0c442…7852b855`.
///
/// So a third party holding the plaintext and the chunk size recomputes it
/// by cutting the plaintext into `chunk_size` pieces (the last may be
/// shorter), hashing each, and computing the RFC 6962 root of those 32-byte
/// values as leaves.
pub fn content_hash(chunk_hashes: &[[u8; 32]]) -> [u8; 32] {
    let leaves: Vec<[u8; 32]> = chunk_hashes.iter().map(|digest| leaf_hash(digest)).collect();
    root_of(&leaves)
}

/// A chunk on its way to a worker.
struct Job {
    /// The chunk's index.
    index: u64,
    /// Whether it is the final chunk.
    position: ChunkPosition,
    /// The plaintext (sealing) or the stored bytes (opening).
    buffer: Vec<u8>,
}

/// A worker's answer for one chunk.
type Outcome<T> = (u64, Result<T, Error>);

/// What the reader thread of [`seal_stream`] read.
struct ReadTotals {
    /// The number of chunks read.
    chunks: u64,
}

/// Seals a stream into chunks, handing each to `sink` in index order.
///
/// `sink` and `progress` run on the calling thread; `progress` receives the
/// number of input bytes sealed and handed to the sink so far, after each
/// chunk. If `sink` fails, sealing stops and its error is returned once the
/// reader thread's current `read` call has returned. See the module
/// documentation for the threads and the memory bound.
pub fn seal_stream<R, S, P>(
    input: R,
    cipher: &dyn ChunkCipher,
    config: &PipelineConfig,
    mut sink: S,
    mut progress: P,
) -> Result<SealSummary, Error>
where
    R: Read + Send,
    S: FnMut(SealedChunk) -> Result<(), Error>,
    P: FnMut(u64),
{
    config.validate()?;
    let PipelineConfig { chunk_size, workers, max_in_flight } = *config;
    let cancel = AtomicBool::new(false);
    let cancel = &cancel;

    let mut chunk_hashes = Vec::new();
    let mut plaintext_bytes = 0u64;
    thread::scope(|scope| {
        let (credit_tx, credit_rx) = mpsc::sync_channel::<()>(max_in_flight);
        for _ in 0..max_in_flight {
            // The channel holds exactly `max_in_flight` credits, so this never blocks.
            let _ = credit_tx.send(());
        }
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(max_in_flight);
        let (result_tx, result_rx) = mpsc::sync_channel::<Outcome<SealedChunk>>(max_in_flight);

        let reader = scope.spawn(move || read_chunks(input, chunk_size, credit_rx, job_tx, cancel));
        let job_rx = Arc::new(Mutex::new(job_rx));
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let result_tx = result_tx.clone();
                scope.spawn(move || {
                    run_worker(&job_rx, &result_tx, cancel, |job| seal_job(cipher, job))
                })
            })
            .collect();
        drop(result_tx);

        // Put the results back in order and hand them on.
        let mut delivered = 0u64;
        let delivery = (|| {
            let mut pending = BTreeMap::new();
            for (index, result) in result_rx.iter() {
                pending.insert(index, result?);
                while let Some(chunk) = pending.remove(&delivered) {
                    chunk_hashes.push(chunk.plaintext_sha256);
                    plaintext_bytes += chunk.plaintext_len;
                    sink(chunk)?;
                    // The reader may have finished already; a lost credit is harmless then.
                    let _ = credit_tx.send(());
                    delivered += 1;
                    progress(plaintext_bytes);
                }
            }
            Ok::<(), Error>(())
        })();
        if delivery.is_err() {
            cancel.store(true, Ordering::Relaxed);
        }
        // Closing our ends wakes every thread that waits on us.
        drop(result_rx);
        drop(credit_tx);
        let worker_panicked = handles.into_iter().any(|handle| handle.join().is_err());
        let read = reader.join();
        delivery?;
        let totals = read.map_err(|_| Error::WorkerLost)??;
        if worker_panicked || totals.chunks != delivered {
            return Err(Error::WorkerLost);
        }
        Ok(())
    })?;

    Ok(SealSummary {
        content_hash: content_hash(&chunk_hashes),
        n_chunks: chunk_hashes.len() as u64,
        chunk_hashes,
        plaintext_bytes,
        chunk_size,
    })
}

/// The reader thread of [`seal_stream`]: cuts the input into chunks.
fn read_chunks<R: Read>(
    mut input: R,
    chunk_size: usize,
    credits: Receiver<()>,
    jobs: SyncSender<Job>,
    cancel: &AtomicBool,
) -> Result<ReadTotals, Error> {
    let mut totals = ReadTotals { chunks: 0 };
    // The byte read past the previous full chunk, which starts this one.
    let mut carry: Option<u8> = None;
    loop {
        if cancel.load(Ordering::Relaxed) || credits.recv().is_err() {
            return Ok(totals);
        }
        let mut buffer = Vec::with_capacity(chunk_size + TAG_LEN);
        buffer.extend(carry.take());
        let want = (chunk_size - buffer.len()) as u64;
        (&mut input).take(want).read_to_end(&mut buffer).map_err(Error::Read)?;
        if buffer.is_empty() {
            return Ok(totals);
        }
        let is_last = if buffer.len() < chunk_size {
            true
        } else {
            carry = read_byte(&mut input)?;
            carry.is_none()
        };
        let index = totals.chunks;
        let position = ChunkPosition::last_if(is_last);
        if jobs.send(Job { index, position, buffer }).is_err() {
            // Every worker has stopped, which only happens when sealing was cancelled.
            return Ok(totals);
        }
        totals.chunks += 1;
        if is_last {
            return Ok(totals);
        }
    }
}

/// Reads one byte, or `None` at the end of the input.
fn read_byte(input: &mut impl Read) -> Result<Option<u8>, Error> {
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(byte[0])),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(Error::Read(error)),
        }
    }
}

/// Hashes and seals one chunk.
fn seal_job(cipher: &dyn ChunkCipher, job: Job) -> Result<SealedChunk, Error> {
    let Job { index, position, mut buffer } = job;
    let plaintext_sha256: [u8; 32] = Sha256::digest(&buffer).into();
    let plaintext_len = buffer.len() as u64;
    cipher.seal_in_place(index, position, &mut buffer)?;
    Ok(SealedChunk { index, plaintext_sha256, plaintext_len, ciphertext: buffer })
}

/// A worker thread: takes jobs until the queue closes and sends each outcome.
///
/// After cancellation it drops the remaining jobs unprocessed.
fn run_worker<T>(
    jobs: &Mutex<Receiver<Job>>,
    results: &SyncSender<Outcome<T>>,
    cancel: &AtomicBool,
    work: impl Fn(Job) -> Result<T, Error>,
) {
    loop {
        // The lock is held only while waiting for the next job; a poisoned
        // lock still guards a usable receiver.
        let job = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
        let Ok(job) = job else { return };
        if cancel.load(Ordering::Relaxed) {
            continue;
        }
        let index = job.index;
        if results.send((index, work(job))).is_err() {
            return;
        }
    }
}

/// Opens a sealed version chunk by chunk and writes the verified plaintext,
/// with the default [`PipelineConfig`] (only `workers` and `max_in_flight`
/// matter here).
///
/// `chunks` yields `(index, stored bytes)` in index order, such as an
/// [`crate::format::ObjectReader`]. `expected` are the chunk hashes from the
/// header and `expected_root` the content hash the caller trusts. A chunk is
/// written to `out` only after its tag and its hash verified; the first
/// failure in index order is returned and names the chunk.
pub fn open_stream<I, W>(
    chunks: I,
    cipher: &dyn ChunkCipher,
    expected: &[[u8; 32]],
    expected_root: &[u8; 32],
    out: W,
) -> Result<OpenSummary, Error>
where
    I: Iterator<Item = Result<(u64, Vec<u8>), Error>>,
    W: Write,
{
    open_stream_with(chunks, cipher, expected, expected_root, out, &PipelineConfig::default())
}

/// [`open_stream`] with an explicit configuration.
///
/// At most `max_in_flight` chunks are being opened or wait to be written at
/// once, plus the one `chunks` is producing.
pub fn open_stream_with<I, W>(
    mut chunks: I,
    cipher: &dyn ChunkCipher,
    expected: &[[u8; 32]],
    expected_root: &[u8; 32],
    mut out: W,
    config: &PipelineConfig,
) -> Result<OpenSummary, Error>
where
    I: Iterator<Item = Result<(u64, Vec<u8>), Error>>,
    W: Write,
{
    if config.workers == 0 || config.max_in_flight == 0 {
        return Err(Error::InvalidConfig(
            "opening needs at least one worker and one chunk in flight".into(),
        ));
    }
    let computed = content_hash(expected);
    if computed != *expected_root {
        return Err(Error::RootMismatch { expected: *expected_root, computed });
    }
    let n_chunks = expected.len() as u64;
    let PipelineConfig { workers, max_in_flight, .. } = *config;
    let cancel = AtomicBool::new(false);
    let cancel = &cancel;

    let plaintext_bytes = thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::sync_channel::<Job>(max_in_flight);
        let (result_tx, result_rx) = mpsc::sync_channel::<Outcome<Vec<u8>>>(max_in_flight);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let result_tx = result_tx.clone();
                scope.spawn(move || {
                    run_worker(&job_rx, &result_tx, cancel, |job| open_job(cipher, expected, job))
                })
            })
            .collect();
        drop(result_tx);

        let outcome = (|| {
            let mut pulled = 0u64;
            let mut written = 0u64;
            let mut in_flight = 0usize;
            let mut plaintext_bytes = 0u64;
            let mut source_done = false;
            // A failure of the chunk source, which sits after every chunk pulled before it.
            let mut source_error: Option<Error> = None;
            let mut pending = BTreeMap::new();
            loop {
                // Keep the workers busy: pull chunks while there is room.
                while !source_done && in_flight < max_in_flight {
                    let problem = match chunks.next() {
                        None => {
                            source_done = true;
                            None
                        }
                        Some(Err(error)) => Some(error),
                        Some(Ok((index, _))) if index != pulled => {
                            Some(Error::ChunkOutOfOrder { expected: pulled, found: index })
                        }
                        Some(Ok((index, _))) if index >= n_chunks => {
                            Some(Error::ExtraChunk { index, expected: n_chunks })
                        }
                        Some(Ok((index, buffer))) => {
                            let position = ChunkPosition::last_if(index + 1 == n_chunks);
                            job_tx
                                .send(Job { index, position, buffer })
                                .map_err(|_| Error::WorkerLost)?;
                            in_flight += 1;
                            pulled += 1;
                            None
                        }
                    };
                    if let Some(problem) = problem {
                        source_error = Some(problem);
                        source_done = true;
                    }
                }
                if in_flight == 0 {
                    break;
                }
                let (index, result) = result_rx.recv().map_err(|_| Error::WorkerLost)?;
                in_flight -= 1;
                pending.insert(index, result);
                while let Some(result) = pending.remove(&written) {
                    let plaintext = result?;
                    out.write_all(&plaintext).map_err(Error::Write)?;
                    plaintext_bytes += plaintext.len() as u64;
                    written += 1;
                }
            }
            if let Some(error) = source_error {
                return Err(error);
            }
            if written < n_chunks {
                return Err(Error::MissingChunks { expected: n_chunks, found: written });
            }
            out.flush().map_err(Error::Write)?;
            Ok(plaintext_bytes)
        })();
        if outcome.is_err() {
            cancel.store(true, Ordering::Relaxed);
        }
        drop(job_tx);
        drop(result_rx);
        let worker_panicked = handles.into_iter().any(|handle| handle.join().is_err());
        let plaintext_bytes = outcome?;
        if worker_panicked {
            return Err(Error::WorkerLost);
        }
        Ok(plaintext_bytes)
    })?;

    Ok(OpenSummary { content_hash: computed, n_chunks, plaintext_bytes })
}

/// Opens one chunk and checks its plaintext against the header's hash.
fn open_job(cipher: &dyn ChunkCipher, expected: &[[u8; 32]], job: Job) -> Result<Vec<u8>, Error> {
    let Job { index, position, mut buffer } = job;
    cipher.open_in_place(index, position, &mut buffer)?;
    let digest: [u8; 32] = Sha256::digest(&buffer).into();
    let matches = usize::try_from(index)
        .ok()
        .and_then(|i| expected.get(i))
        .is_some_and(|expected| *expected == digest);
    if !matches {
        return Err(Error::ChunkHashMismatch { index });
    }
    Ok(buffer)
}
