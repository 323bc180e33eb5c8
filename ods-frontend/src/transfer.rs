//! Sealing straight into a store and opening straight out of one.
//!
//! These join the synchronous pipeline ([`crate::pipeline`], on its own
//! threads) to the asynchronous store ([`crate::store`]) through bounded
//! channels, so memory stays bounded end to end:
//!
//! - sealing: the pipeline's chunk buffers (`max_in_flight × chunk_size`),
//!   at most [`UPLOAD_QUEUE`] buffers waiting for the upload (each a length
//!   field or one chunk's ciphertext), and the upload's parts (part size ×
//!   (concurrency + 1)); about 80 MiB with every default on two cores;
//! - opening: the reader's read-ahead, one record being read, and the
//!   pipeline's `max_in_flight` chunks.

use std::io::{Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectMeta;

use crate::aead::ChunkCipher;
use crate::error::Error;
use crate::format::{ObjectEncoder, ObjectReader};
use crate::pipeline::{OpenSummary, PipelineConfig, SealSummary, open_stream_with, seal_stream};
use crate::store::SealedStore;

/// The number of byte buffers that may wait between the pipeline and the upload.
pub const UPLOAD_QUEUE: usize = 4;

/// What a reader must know, from the version's header, to open an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedContent {
    /// The chunk size the object was sealed with.
    pub chunk_size: usize,
    /// The SHA-256 of each chunk's plaintext, in index order.
    pub chunk_hashes: Vec<[u8; 32]>,
    /// The content hash, as anchored on the ledger.
    pub content_hash: [u8; 32],
}

impl From<&SealSummary> for ExpectedContent {
    fn from(summary: &SealSummary) -> Self {
        ExpectedContent {
            chunk_size: summary.chunk_size,
            chunk_hashes: summary.chunk_hashes.clone(),
            content_hash: summary.content_hash,
        }
    }
}

/// Seals `input` and uploads it as a new object at `path`.
///
/// The pipeline runs on a blocking thread while the upload runs on the
/// caller's task; nothing is published unless every chunk was sealed and
/// uploaded. Fails with [`Error::AlreadyExists`] if `path` exists.
pub async fn seal_to_store<R>(
    store: &SealedStore,
    path: &str,
    input: R,
    cipher: Arc<dyn ChunkCipher>,
    config: PipelineConfig,
) -> Result<(SealSummary, ObjectMeta), Error>
where
    R: Read + Send + 'static,
{
    seal_to_store_with_progress(store, path, input, cipher, config, |_| {}).await
}

/// [`seal_to_store`], calling `progress` with the input bytes sealed so far after each chunk.
pub async fn seal_to_store_with_progress<R, P>(
    store: &SealedStore,
    path: &str,
    input: R,
    cipher: Arc<dyn ChunkCipher>,
    config: PipelineConfig,
    mut progress: P,
) -> Result<(SealSummary, ObjectMeta), Error>
where
    R: Read + Send + 'static,
    P: FnMut(u64) + Send + 'static,
{
    config.validate()?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Bytes, Error>>(UPLOAD_QUEUE);
    let sealing = tokio::task::spawn_blocking(move || {
        let send = |item| sender.blocking_send(item).map_err(|_| Error::ConsumerStopped);
        let result = (|| {
            let mut encoder = ObjectEncoder::new(config.chunk_size)?;
            send(Ok(Bytes::copy_from_slice(&encoder.preamble())))?;
            seal_stream(
                input,
                &*cipher,
                &config,
                |chunk| {
                    let (length, ciphertext) = encoder.encode(chunk)?;
                    send(Ok(Bytes::copy_from_slice(&length)))?;
                    send(Ok(Bytes::from(ciphertext)))
                },
                &mut progress,
            )
        })();
        if result.is_err() {
            // Make the upload fail rather than publish a partial object.
            let _ = sender.blocking_send(Err(Error::ProducerStopped));
        }
        result
    });
    let stream = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let (sealed, uploaded) = tokio::join!(sealing, store.put_stream(path, stream));
    match (sealed.map_err(|_| Error::WorkerLost)?, uploaded) {
        (Ok(summary), Ok(meta)) => Ok((summary, meta)),
        // The upload stopped first: its error says why.
        (Err(Error::ConsumerStopped), Err(error)) => Err(error),
        (Err(error), _) | (Ok(_), Err(error)) => Err(error),
    }
}

/// Downloads the object at `path`, opens it against `expected`, and writes the
/// verified plaintext to `out`, which is returned.
///
/// The pipeline runs on a blocking thread with the default configuration.
pub async fn open_from_store<W>(
    store: &SealedStore,
    path: &str,
    cipher: Arc<dyn ChunkCipher>,
    expected: ExpectedContent,
    out: W,
) -> Result<(OpenSummary, W), Error>
where
    W: Write + Send + 'static,
{
    let reader = store.get_reader(path).await?;
    tokio::task::spawn_blocking(move || {
        let mut out = out;
        let chunks = ObjectReader::new_expecting(reader, expected.chunk_size)?;
        let summary = open_stream_with(
            chunks,
            &*cipher,
            &expected.chunk_hashes,
            &expected.content_hash,
            &mut out,
            &PipelineConfig::default(),
        )?;
        Ok((summary, out))
    })
    .await
    .map_err(|_| Error::WorkerLost)?
}
