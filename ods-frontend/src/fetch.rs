//! Fetching a version one is authorised for: the wrapped data key, the
//! chunk-hash list and the sealed chunks from a node, checked against the
//! header and content hash on the ledger, and written to a file only once
//! every chunk verified.
//!
//! The node is a port ([`Node`]); this module knows no gRPC. The plaintext is
//! written to a temporary file next to the output (`OUT.partial-XXXXXXXX`)
//! and moved into place only after the last chunk and the content hash
//! verified; on any failure the temporary file is removed and nothing is
//! left at the output path.

use std::future::Future;
use std::io::{BufWriter, Read};
use std::path::Path;

use access_control::keys::KeyPair;
use access_control::wrap::{self, WrappedKey};
use futures_util::{Stream, StreamExt};

use crate::aead::{DataKey, default_cipher};
use crate::error::{BoxError, Error, Result};
use crate::format::ObjectReader;
use crate::header::AssetHeader;
use crate::pipeline::open_stream;
use crate::sync::LedgerVersion;

/// Which version to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionSelector {
    /// The latest version.
    Latest,
    /// This version.
    Exact(u64),
}

/// The node's answer to a request for access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessGrant {
    /// The version access was granted to (the latest, if that was asked for).
    pub version: u64,
    /// The data key wrapped to the caller, if the provider released one.
    pub grant: Option<WrappedKey>,
}

/// One message of a node's data stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchPart {
    /// The SHA-256 of each chunk's plaintext, concatenated (the first message).
    ChunkHashes(Vec<u8>),
    /// Bytes of the sealed object (every later message).
    Data(Vec<u8>),
    /// A message without a part.
    Empty,
}

/// What a fetch needs from a node, acting as the caller.
///
/// Errors are the adapter's own and reach the caller unchanged
/// ([`Error::Port`]).
pub trait Node: Send {
    /// The stream of a version's data.
    type Parts: Stream<Item = Result<FetchPart, BoxError>> + Send + Unpin;
    /// Asks for access to a version (a signed, logged request).
    fn request_access(
        &mut self,
        asset_id: &str,
        version: VersionSelector,
    ) -> impl Future<Output = Result<AccessGrant, BoxError>> + Send;
    /// The version as the ledger lists it, or `None` if the asset has no such version.
    fn ledger_version(
        &mut self,
        asset_id: &str,
        version: u64,
    ) -> impl Future<Output = Result<Option<LedgerVersion>, BoxError>> + Send;
    /// Starts the version's data stream: the chunk hashes, then the sealed object.
    fn fetch_data(
        &mut self,
        asset_id: &str,
        version: u64,
    ) -> impl Future<Output = Result<Self::Parts, BoxError>> + Send;
}

/// What to fetch, as whom, and where to write it.
#[derive(Clone, Copy, Debug)]
pub struct FetchRequest<'a> {
    /// The asset id.
    pub asset_id: &'a str,
    /// The version.
    pub version: VersionSelector,
    /// The caller's keys (the grant is wrapped to them).
    pub reader: &'a KeyPair,
    /// Where to write the verified plaintext.
    pub out: &'a Path,
}

/// What a fetch verified and wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The version fetched.
    pub version: u64,
    /// The plaintext bytes written.
    pub bytes: u64,
    /// The sealed bytes received.
    pub received_bytes: u64,
    /// The content hash every chunk was checked against, from the ledger.
    pub content_hash: [u8; 32],
}

/// The number of data messages that may wait for the decrypting thread.
const QUEUE: usize = 8;

/// Fetches a version, verifies it against the ledger and writes it to `request.out`.
pub async fn fetch<N: Node>(node: &mut N, request: &FetchRequest<'_>) -> Result<Fetched> {
    let FetchRequest { asset_id, version, reader: me, out } = *request;
    let granted = node.request_access(asset_id, version).await.map_err(Error::Port)?;
    let version = granted.version;
    let grant =
        granted.grant.ok_or_else(|| Error::NoGrant { asset_id: asset_id.into(), version })?;
    let data_key =
        wrap::unwrap(me, &grant, &wrap::grant_context(asset_id, version, &me.address()))?;
    let data_key: [u8; 32] = data_key.try_into().map_err(|_| Error::GrantLength)?;
    // The header and content hash come from the ledger, not from the stream.
    let on_ledger = node
        .ledger_version(asset_id, version)
        .await
        .map_err(Error::Port)?
        .ok_or(Error::VersionNotOnLedger { version })?;
    let header = AssetHeader::from_bytes(&on_ledger.metadata)?;
    let content_hash: [u8; 32] =
        on_ledger.content_hash.as_slice().try_into().map_err(|_| Error::MalformedContentHash)?;

    let mut parts = node.fetch_data(asset_id, version).await.map_err(Error::Port)?;
    let mut suffix = [0u8; 4];
    getrandom::fill(&mut suffix).map_err(Error::Rng)?;
    let partial = out.with_extension(format!("partial-{}", hex::encode(suffix)));
    let hashes = match parts.next().await.transpose().map_err(Error::Port)? {
        Some(FetchPart::ChunkHashes(bytes)) => chunk_hashes(&bytes)?,
        _ => return Err(Error::NoChunkHashes),
    };
    if hashes.len() as u64 != header.chunk_count {
        return Err(Error::ChunkHashCount {
            sent: hashes.len() as u64,
            expected: header.chunk_count,
        });
    }
    // A size no object can have makes the reader refuse the object.
    let chunk_size = usize::try_from(header.chunk_size).unwrap_or(usize::MAX);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(QUEUE);
    let partial_for_thread = partial.clone();
    let opening = tokio::task::spawn_blocking(move || -> Result<u64> {
        let cipher = default_cipher(&DataKey::from_bytes(data_key));
        let file = std::fs::File::create(&partial_for_thread)
            .map_err(|source| Error::CreateFile { path: partial_for_thread.clone(), source })?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        let reader = ChannelReader { receiver, buffer: Vec::new(), position: 0 };
        let chunks = ObjectReader::new_expecting(reader, chunk_size)?;
        let summary = open_stream(chunks, cipher.as_ref(), &hashes, &content_hash, &mut writer)?;
        let file = writer.into_inner().map_err(|e| Error::Write(e.into_error()))?;
        file.sync_all().map_err(Error::Write)?;
        Ok(summary.plaintext_bytes)
    });
    let mut received = 0u64;
    let mut stream_error = None;
    while let Some(part) = parts.next().await {
        match part {
            Ok(FetchPart::Data(bytes)) => {
                received += bytes.len() as u64;
                if sender.send(bytes).await.is_err() {
                    break;
                }
            }
            Ok(_) => {
                stream_error = Some(Error::UnexpectedPart);
                break;
            }
            Err(e) => {
                stream_error = Some(Error::Port(e));
                break;
            }
        }
    }
    drop(sender);
    let opened = opening.await.map_err(|_| Error::WorkerLost).and_then(|opened| opened);
    let result = match (stream_error, opened) {
        (Some(e), _) | (None, Err(e)) => Err(e),
        (None, Ok(bytes)) => Ok(bytes),
    };
    match result {
        Ok(bytes) => {
            std::fs::rename(&partial, out)
                .map_err(|source| Error::MoveOutput { path: out.to_path_buf(), source })?;
            Ok(Fetched { version, bytes, received_bytes: received, content_hash })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(Error::NotWritten { asset_id: asset_id.into(), version, source: Box::new(e) })
        }
    }
}

/// Splits a chunk-hash list into its hashes.
fn chunk_hashes(bytes: &[u8]) -> Result<Vec<[u8; 32]>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(Error::ChunkHashListLength { len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|chunk| {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(chunk);
            hash
        })
        .collect())
}

/// A blocking reader over byte buffers sent through a channel.
struct ChannelReader {
    receiver: tokio::sync::mpsc::Receiver<Vec<u8>>,
    buffer: Vec<u8>,
    position: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.position == self.buffer.len() {
            match self.receiver.blocking_recv() {
                Some(next) => {
                    self.buffer = next;
                    self.position = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buffer.len() - self.position);
        out[..n].copy_from_slice(&self.buffer[self.position..self.position + n]);
        self.position += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
