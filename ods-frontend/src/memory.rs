//! In-memory ports for the unit tests of [`crate::sync`] and
//! [`crate::fetch`]: a ledger that keeps versions, authorised lists and
//! identities in maps, a node that serves from the same ledger and a
//! [`SealedStore`], and a source over bytes in memory.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use access_control::keys::KeyPair;
use access_control::wrap::WrappedKey;
use anchor_chaincode::Address;
use futures_util::TryStreamExt;

use crate::error::BoxError;
use crate::fetch::{AccessGrant, FetchPart, Node, VersionSelector};
use crate::layout::{VersionIndex, grant_path, index_path};
use crate::share::{Share, ShareSource};
use crate::store::SealedStore;
use crate::sync::{Ledger, LedgerVersion, NewVersion, OpenedSource, Source, SourceReport};

/// A ledger in maps, for one publisher.
#[derive(Debug, Default)]
pub(crate) struct MemoryLedger {
    pub(crate) versions: HashMap<String, Vec<LedgerVersion>>,
    pub(crate) published: Vec<NewVersion>,
    pub(crate) authorised: HashMap<String, Vec<String>>,
    pub(crate) encryption_keys: HashMap<String, Vec<u8>>,
    pub(crate) set_authorised_calls: usize,
}

impl MemoryLedger {
    /// Registers an identity's encryption key.
    pub(crate) fn register(&mut self, key: &KeyPair) {
        self.encryption_keys
            .insert(key.address().to_string(), key.encryption_public_key().to_vec());
    }

    /// The versions of an asset.
    pub(crate) fn versions_of(&self, asset_id: &str) -> &[LedgerVersion] {
        self.versions.get(asset_id).map_or(&[], Vec::as_slice)
    }
}

impl Ledger for MemoryLedger {
    async fn latest_version(&mut self, asset_id: &str) -> Result<Option<LedgerVersion>, BoxError> {
        Ok(self.versions.get(asset_id).and_then(|versions| versions.last().cloned()))
    }

    async fn publish_version(&mut self, version: &NewVersion) -> Result<String, BoxError> {
        let versions = self.versions.entry(version.asset_id.clone()).or_default();
        let next = versions.last().map_or(1, |v| v.version + 1);
        if version.version != next {
            return Err(format!("version {} is not the next, {next}", version.version).into());
        }
        versions.push(LedgerVersion {
            version: version.version,
            content_hash: version.content_hash.to_vec(),
            metadata: version.metadata.clone(),
        });
        self.published.push(version.clone());
        Ok(format!("tx-{}", self.published.len()))
    }

    async fn authorised(&mut self, asset_id: &str) -> Result<Vec<String>, BoxError> {
        Ok(self.authorised.get(asset_id).cloned().unwrap_or_default())
    }

    async fn set_authorised(
        &mut self,
        asset_id: &str,
        authorised: &[String],
    ) -> Result<(), BoxError> {
        self.set_authorised_calls += 1;
        self.authorised.insert(asset_id.to_string(), authorised.to_vec());
        Ok(())
    }

    async fn encryption_key(&mut self, address: &Address) -> Result<Vec<u8>, BoxError> {
        self.encryption_keys
            .get(&address.to_string())
            .cloned()
            .ok_or_else(|| format!("no identity {address}").into())
    }
}

/// A change made to the sealed object as the node streams it.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Tamper {
    /// Stream it as stored.
    None,
    /// Flip one bit of the byte at this offset.
    FlipByte(usize),
    /// Drop the last chunk hash from the list.
    DropHash,
}

/// A node serving `ledger`'s versions from `store` to `caller`.
#[derive(Debug)]
pub(crate) struct MemoryNode<'a> {
    pub(crate) ledger: &'a MemoryLedger,
    pub(crate) store: &'a SealedStore,
    pub(crate) caller: Address,
    pub(crate) tamper: Tamper,
}

impl Node for MemoryNode<'_> {
    type Parts = futures_util::stream::Iter<std::vec::IntoIter<Result<FetchPart, BoxError>>>;

    async fn request_access(
        &mut self,
        asset_id: &str,
        version: VersionSelector,
    ) -> Result<AccessGrant, BoxError> {
        let versions = self.ledger.versions_of(asset_id);
        let found = match version {
            VersionSelector::Latest => versions.last(),
            VersionSelector::Exact(n) => versions.iter().find(|v| v.version == n),
        };
        let version = found.ok_or("no such version")?.version;
        let path = grant_path(asset_id, version, &self.caller);
        let grant = if self.store.exists(&path).await? {
            Some(serde_json::from_slice::<WrappedKey>(&self.store.get_small(&path).await?)?)
        } else {
            None
        };
        Ok(AccessGrant { version, grant })
    }

    async fn ledger_version(
        &mut self,
        asset_id: &str,
        version: u64,
    ) -> Result<Option<LedgerVersion>, BoxError> {
        Ok(self.ledger.versions_of(asset_id).iter().find(|v| v.version == version).cloned())
    }

    async fn fetch_data(&mut self, asset_id: &str, version: u64) -> Result<Self::Parts, BoxError> {
        let index: VersionIndex =
            serde_json::from_slice(&self.store.get_small(&index_path(asset_id, version)).await?)?;
        let mut hashes = self.store.get_small(&index.hashes_object).await?.to_vec();
        let stream = self.store.get_stream(&index.object).await?;
        let mut object: Vec<u8> = stream
            .try_fold(Vec::new(), |mut all, bytes| async move {
                all.extend_from_slice(&bytes);
                Ok(all)
            })
            .await?;
        match self.tamper {
            Tamper::None => {}
            Tamper::FlipByte(offset) => object[offset] ^= 1,
            Tamper::DropHash => hashes.truncate(hashes.len().saturating_sub(32)),
        }
        let mut parts = vec![Ok(FetchPart::ChunkHashes(hashes))];
        parts.extend(object.chunks(7).map(|piece| Ok(FetchPart::Data(piece.to_vec()))));
        Ok(futures_util::stream::iter(parts))
    }
}

/// A source over bytes in memory that records the `since` it was opened with.
#[derive(Debug, Default)]
pub(crate) struct MemorySource {
    pub(crate) data: Vec<u8>,
    pub(crate) report: SourceReport,
    pub(crate) fail: bool,
    pub(crate) since: Arc<Mutex<Vec<Option<String>>>>,
}

impl Source for MemorySource {
    fn open(&self, since: Option<String>) -> Result<OpenedSource, BoxError> {
        self.since.lock().map_err(|_| "poisoned")?.push(since);
        let reader = Box::new(Cursor::new(self.data.clone()));
        if self.fail {
            return Ok(OpenedSource {
                reader,
                report: tokio::spawn(async { Err("the database went away".into()) }),
            });
        }
        Ok(OpenedSource::ready(reader, self.report.clone()))
    }
}

/// A share of raw bytes in a memory store, authorised to `authorised`.
pub(crate) fn raw_share(authorised: &[&KeyPair]) -> Share {
    Share {
        name: "citizens".into(),
        asset_id: "gov.example/citizens".into(),
        title: "Citizens".into(),
        description: "test data".into(),
        source: ShareSource::File { path: PathBuf::from("/nonexistent"), format: "raw".into() },
        key: PathBuf::from("/nonexistent/publisher.key"),
        authorised: authorised.iter().map(|k| k.address().to_string()).collect(),
        store: "memory://".into(),
        chunk_size: 64,
    }
}
