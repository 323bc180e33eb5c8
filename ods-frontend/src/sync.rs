//! Publishing a new version of a share: read its source, seal it into the
//! object store, publish the version on the ledger, and release its data key
//! to the identities the asset is shared with.
//!
//! The steps, in order, and what a failure leaves behind:
//!
//! 1. the latest version on the ledger gives the next version number and,
//!    for a PostgreSQL share with a watermark column, how far the last sync
//!    got (sealed to the publisher in the header's access information);
//! 2. the [`Source`] streams its bytes through the sealing pipeline into a
//!    new write-once object ([`crate::transfer`]); a failed source or upload
//!    publishes nothing;
//! 3. data equal to the latest version's (same content hash, or no rows past
//!    the watermark) publishes nothing: the latest version's index and grants
//!    are brought up to date instead;
//! 4. otherwise the chunk-hash list is stored, the version is published
//!    through the [`Ledger`] port, the version index is written (after the
//!    publish, so a failed publish blocks no later sync), the first version's
//!    authorised list is set from the share, and the data key is wrapped to
//!    every authorised identity that has no grant yet.
//!
//! The ledger and the source are ports: this module knows neither gRPC nor
//! PostgreSQL. Progress is reported through a [`SyncEvent`] callback.

use std::fmt;
use std::future::Future;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};

use access_control::keys::KeyPair;
use access_control::wrap;
use anchor_chaincode::Address;
use bytes::Bytes;

use crate::aead::{DataKey, default_cipher};
use crate::error::{BoxError, Error, Result, SyncStep};
use crate::header::{
    AccessInfo, AssetHeader, CONTENT_HASH_RULE, Column, FORMAT, HASH_ALGORITHM, SealedAccess,
    Watermark,
};
use crate::layout::{VersionIndex, grant_path, index_path, object_paths};
use crate::pipeline::PipelineConfig;
use crate::share::{Share, ShareSource};
use crate::store::SealedStore;
use crate::transfer::seal_to_store_with_progress;

/// A version of an asset as the ledger lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerVersion {
    /// The version number.
    pub version: u64,
    /// The content hash anchored for it.
    pub content_hash: Vec<u8>,
    /// Its published metadata (an [`AssetHeader`]'s JSON).
    pub metadata: Vec<u8>,
}

/// Whether a version's data has a schema: the ledger's own type.
pub use anchor_chaincode::DataType;

/// A version to publish on the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewVersion {
    /// The asset id.
    pub asset_id: String,
    /// The version number (the latest plus one).
    pub version: u64,
    /// Whether the data has a schema.
    pub data_type: DataType,
    /// The hash algorithm of the content hash.
    pub hash_algorithm: String,
    /// The content hash.
    pub content_hash: [u8; 32],
    /// The plaintext size in bytes.
    pub size_bytes: u64,
    /// The header's JSON.
    pub metadata: Vec<u8>,
}

/// What a sync needs from the ledger, acting as the share's publisher.
///
/// Errors are the adapter's own and reach the caller unchanged
/// ([`Error::Port`]).
pub trait Ledger: Send {
    /// The asset's latest version, or `None` if the asset or its versions do not exist.
    fn latest_version(
        &mut self,
        asset_id: &str,
    ) -> impl Future<Output = Result<Option<LedgerVersion>, BoxError>> + Send;
    /// Publishes a version; returns the transaction id.
    fn publish_version(
        &mut self,
        version: &NewVersion,
    ) -> impl Future<Output = Result<String, BoxError>> + Send;
    /// The asset's authorised list, as the owner organisation sees it.
    fn authorised(
        &mut self,
        asset_id: &str,
    ) -> impl Future<Output = Result<Vec<String>, BoxError>> + Send;
    /// Replaces the asset's authorised list.
    fn set_authorised(
        &mut self,
        asset_id: &str,
        authorised: &[String],
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
    /// The encryption public key an identity registered, as the ledger holds it.
    fn encryption_key(
        &mut self,
        address: &Address,
    ) -> impl Future<Output = Result<Vec<u8>, BoxError>> + Send;
}

/// What the source said about the data it streamed, once it was done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceReport {
    /// The number of rows, if the data has rows.
    pub rows: Option<u64>,
    /// The columns, if the data has a schema.
    pub columns: Option<Vec<Column>>,
    /// How far this sync got, for a source with a watermark column.
    pub watermark: Option<Watermark>,
    /// Where the data came from (sealed to the publisher, never in clear).
    pub description: String,
}

/// A started source: a blocking reader of its bytes and a task that reports when done.
pub struct OpenedSource {
    /// The bytes to seal.
    pub reader: Box<dyn Read + Send>,
    /// The report, ready once the reader reached its end.
    pub report: tokio::task::JoinHandle<Result<SourceReport, BoxError>>,
}

impl OpenedSource {
    /// A source whose report is known before it is read (a file, bytes in memory).
    ///
    /// Must be called within a Tokio runtime.
    pub fn ready(reader: Box<dyn Read + Send>, report: SourceReport) -> OpenedSource {
        OpenedSource { reader, report: tokio::spawn(async move { Ok(report) }) }
    }
}

impl fmt::Debug for OpenedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedSource").finish_non_exhaustive()
    }
}

/// Where a share's data comes from.
pub trait Source {
    /// Starts streaming the data; `since` is the watermark value the last
    /// version reached, for a source with a watermark column.
    fn open(&self, since: Option<String>) -> Result<OpenedSource, BoxError>;
}

/// What a sync reports while it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// The input bytes sealed so far (after each chunk).
    Sealed {
        /// Bytes read from the source and sealed.
        bytes: u64,
    },
    /// Sealing and the source are done, successfully or not.
    SealingEnded,
    /// The data equals the latest version's; nothing will be published, and
    /// the latest version's index and grants are brought up to date next.
    Unchanged(Unchanged),
}

/// Why a sync published nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unchanged {
    /// The source has no rows past the latest version's watermark.
    NoRowsPastWatermark,
    /// The content hash equals that of a published version.
    SameContent {
        /// That version.
        version: u64,
    },
}

impl fmt::Display for Unchanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unchanged::NoRowsPastWatermark => f.write_str("no rows past the watermark"),
            Unchanged::SameContent { version } => {
                write!(f, "content hash equals version {version}")
            }
        }
    }
}

/// A version a sync published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The version number.
    pub version: u64,
    /// The publishing transaction's id.
    pub tx_id: String,
    /// The plaintext size in bytes.
    pub bytes: u64,
    /// The number of chunks.
    pub chunks: u64,
    /// The content hash.
    pub content_hash: [u8; 32],
    /// The identities the data key was released to.
    pub granted: usize,
}

/// Grants of an existing version brought up to date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regranted {
    /// The version.
    pub version: u64,
    /// The identities newly given its data key.
    pub granted: usize,
}

/// What a sync did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// A new version was published.
    Published(Published),
    /// Nothing was published.
    Unchanged {
        /// Why.
        reason: Unchanged,
        /// The latest version's grants, brought up to date (`None` if there is no version).
        regranted: Option<Regranted>,
    },
}

/// One sync of one share.
#[derive(Debug)]
pub struct SyncJob<'a> {
    /// The share.
    pub share: &'a Share,
    /// The publisher's keys (a provider of the owning organisation).
    pub publisher: &'a KeyPair,
    /// The share's object store.
    pub store: &'a SealedStore,
    /// The wall clock, in milliseconds since the Unix epoch: read once the
    /// data is sealed, for the header's `synced_at_ms`.
    pub clock: fn() -> u64,
}

impl SyncJob<'_> {
    /// Publishes a new version of the share if its data changed, and releases
    /// the data key to the authorised identities; see the [module](self) docs.
    pub async fn run<L, S, F>(&self, ledger: &mut L, source: &S, events: F) -> Result<SyncOutcome>
    where
        L: Ledger,
        S: Source,
        F: FnMut(SyncEvent) + Send + 'static,
    {
        let share = self.share;
        let events = Arc::new(Mutex::new(events));
        let emit = {
            let events = Arc::clone(&events);
            move |event: SyncEvent| (events.lock().unwrap_or_else(PoisonError::into_inner))(event)
        };
        let latest = ledger.latest_version(&share.asset_id).await.map_err(Error::Port)?;
        let latest_header = latest.as_ref().and_then(|v| AssetHeader::from_bytes(&v.metadata).ok());
        // The watermark is sealed to the publisher with the access information.
        let since = match (&share.source, &latest_header) {
            (ShareSource::Postgres { watermark: Some(column), .. }, Some(header)) => header
                .access
                .open(self.publisher)
                .map_err(Error::AccessInfo)?
                .watermark
                .filter(|w| &w.column == column)
                .and_then(|w| w.value),
            _ => None,
        };
        let version = latest.as_ref().map_or(1, |v| v.version + 1);
        let mut suffix = [0u8; 4];
        getrandom::fill(&mut suffix).map_err(Error::Rng)?;
        let VersionIndex { object, hashes_object } =
            object_paths(&share.asset_id, version, &hex::encode(suffix));

        // Seal on worker threads while the upload streams the sealed bytes to the store.
        let opened = source.open(since.clone()).map_err(Error::SourceOpen)?;
        let data_key = DataKey::generate()?;
        let progress = emit.clone();
        let sealed = seal_to_store_with_progress(
            self.store,
            &object,
            opened.reader,
            Arc::from(default_cipher(&data_key)),
            PipelineConfig::with_chunk_size(share.chunk_size),
            move |bytes| progress(SyncEvent::Sealed { bytes }),
        )
        .await;
        let report = opened.report.await.map_err(Error::SourceLost);
        emit(SyncEvent::SealingEnded);
        // A failed source makes the sealing fail too; report the cause first.
        let report = report?.map_err(Error::Source)?;
        let (summary, _) = sealed.map_err(|e| not_published(SyncStep::Seal, e))?;

        let unchanged = match (&since, report.rows) {
            (Some(_), Some(0)) => Some(Unchanged::NoRowsPastWatermark),
            _ => latest
                .as_ref()
                .filter(|v| v.content_hash == summary.content_hash)
                .map(|v| Unchanged::SameContent { version: v.version }),
        };
        if let Some(reason) = unchanged {
            emit(SyncEvent::Unchanged(reason.clone()));
            // The version stays as it was; make sure its grants follow the current authorised list.
            let regranted = match (&latest, &latest_header) {
                (Some(latest), Some(header)) => {
                    Some(self.refresh(ledger, latest.version, header).await?)
                }
                _ => None,
            };
            return Ok(SyncOutcome::Unchanged { reason, regranted });
        }
        let hashes: Vec<u8> = summary.chunk_hashes.iter().flatten().copied().collect();
        self.store
            .put_small(&hashes_object, Bytes::from(hashes))
            .await
            .map_err(|e| not_published(SyncStep::StoreHashes, e))?;

        let data_type = match share.data_type() {
            "structured" => DataType::Structured,
            _ => DataType::Unstructured,
        };
        let header = AssetHeader {
            format: FORMAT.into(),
            name: share.title.clone(),
            description: share.description.clone(),
            data_type: share.data_type().into(),
            encoding: share.encoding().into(),
            hash_algorithm: HASH_ALGORITHM.into(),
            content_hash_rule: CONTENT_HASH_RULE.into(),
            schema: report.columns,
            row_count: report.rows,
            byte_size: summary.plaintext_bytes,
            chunk_count: summary.n_chunks,
            chunk_size: summary.chunk_size as u64,
            cipher: "AES-256-GCM".into(),
            synced_at_ms: (self.clock)(),
            access: SealedAccess::seal(
                self.publisher,
                &AccessInfo {
                    object: object.clone(),
                    hashes_object: hashes_object.clone(),
                    data_key: hex::encode(data_key.as_bytes()),
                    source: report.description,
                    watermark: report.watermark,
                },
            )?,
        };
        let new_version = NewVersion {
            asset_id: share.asset_id.clone(),
            version,
            data_type,
            hash_algorithm: HASH_ALGORITHM.into(),
            content_hash: summary.content_hash,
            size_bytes: summary.plaintext_bytes,
            metadata: header.to_bytes(),
        };
        let tx_id = ledger.publish_version(&new_version).await.map_err(Error::Port)?;
        // The serving node finds the version's objects through this index. It is written after
        // the publish, so a failed publish leaves nothing that blocks the next sync; a sync that
        // finds the data unchanged writes it if a crash came in between.
        ensure_index(self.store, &share.asset_id, version, &VersionIndex { object, hashes_object })
            .await?;

        // The share's authorised list is the first version's rules; later changes are the
        // owner's, through `cairn asset share`, and a sync never undoes a removal.
        if latest.is_none() && !share.authorised.is_empty() {
            let current = ledger.authorised(&share.asset_id).await.map_err(Error::Port)?;
            let mut wanted = share.authorised.clone();
            wanted.sort();
            if current != wanted {
                ledger.set_authorised(&share.asset_id, &wanted).await.map_err(Error::Port)?;
            }
        }
        let granted =
            grant(ledger, self.store, &share.asset_id, version, data_key.as_bytes()).await?;
        Ok(SyncOutcome::Published(Published {
            version,
            tx_id,
            bytes: summary.plaintext_bytes,
            chunks: summary.n_chunks,
            content_hash: summary.content_hash,
            granted,
        }))
    }

    /// Brings an unchanged latest version's index and grants up to date.
    async fn refresh<L: Ledger>(
        &self,
        ledger: &mut L,
        version: u64,
        header: &AssetHeader,
    ) -> Result<Regranted> {
        let access = header.access.open(self.publisher).map_err(Error::AccessInfo)?;
        let index = VersionIndex { object: access.object, hashes_object: access.hashes_object };
        ensure_index(self.store, &self.share.asset_id, version, &index).await?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(&access.data_key, &mut key).map_err(Error::MalformedDataKey)?;
        let granted = grant(ledger, self.store, &self.share.asset_id, version, &key).await?;
        Ok(Regranted { version, granted })
    }
}

fn not_published(step: SyncStep, error: Error) -> Error {
    Error::NotPublished { step, source: Box::new(error) }
}

/// Writes a version's index unless it is there already.
pub async fn ensure_index(
    store: &SealedStore,
    asset_id: &str,
    version: u64,
    index: &VersionIndex,
) -> Result<()> {
    let path = index_path(asset_id, version);
    if store.exists(&path).await? {
        return Ok(());
    }
    let bytes = serde_json::to_vec(index).map_err(Error::Encode)?;
    store.put_small(&path, Bytes::from(bytes)).await.map_err(|e| Error::Index(Box::new(e)))
}

/// Wraps a version's data key to every identity on the asset's authorised
/// list that has no grant yet; returns how many were granted.
///
/// `ledger` acts as the publisher: only the owner organisation (and listed
/// identities, auditors) see the list.
pub async fn grant<L: Ledger>(
    ledger: &mut L,
    store: &SealedStore,
    asset_id: &str,
    version: u64,
    data_key: &[u8; 32],
) -> Result<usize> {
    let authorised = ledger.authorised(asset_id).await.map_err(Error::Port)?;
    let mut granted = 0;
    for address in &authorised {
        let recipient: Address = address.parse()?;
        let path = grant_path(asset_id, version, &recipient);
        if store.exists(&path).await? {
            continue;
        }
        let key = ledger.encryption_key(&recipient).await.map_err(Error::Port)?;
        let public: [u8; 32] = key
            .as_slice()
            .try_into()
            .map_err(|_| Error::NoEncryptionKey { address: address.clone() })?;
        let wrapped =
            wrap::wrap(&public, data_key, &wrap::grant_context(asset_id, version, &recipient))?;
        let bytes = serde_json::to_vec(&wrapped).map_err(Error::Encode)?;
        store.put_small(&path, Bytes::from(bytes)).await?;
        granted += 1;
    }
    Ok(granted)
}

#[cfg(test)]
mod tests;
