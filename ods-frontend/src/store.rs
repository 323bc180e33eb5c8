//! A narrow port over `object_store` for sealed objects: write once, never
//! overwrite, stream in both directions.
//!
//! # Backends
//!
//! [`SealedStore::from_url`] picks the backend from the URL:
//!
//! - `memory://`: an in-process store, for tests;
//! - `file:///abs/dir`: a local directory, created if missing;
//! - `s3://bucket/prefix`: S3 or an S3-compatible service. The builder starts
//!   from the `AWS_*` environment variables (`AmazonS3Builder::from_env`), then
//!   applies the options, whose keys are `object_store`'s S3 keys, for example
//!   `endpoint`, `region`, `access_key_id`, `secret_access_key`, `token`,
//!   `allow_http`, `copy_if_not_exists`.
//!
//! # Never overwritten
//!
//! [`SealedStore::put_stream`] uploads with a multipart upload (parts of
//! [`DEFAULT_PART_SIZE`], at most [`DEFAULT_UPLOAD_CONCURRENCY`] in flight, so
//! memory stays bounded) to a fresh staging path under `_staging/`, then
//! publishes it with `copy_if_not_exists` to the final path and removes the
//! staging object. The copy fails with [`Error::AlreadyExists`] if anything is
//! at the final path, so a published object is never replaced, even by a
//! concurrent writer. `object_store` has no conditional completion of a
//! multipart upload in its public API, hence the copy.
//!
//! - Local directory: the copy is a hard link (`link(2)` fails if the name
//!   exists), which is atomic and free; the staging file and the final path
//!   must be on one file system, which they are (both under the root).
//! - Memory: the copy checks and inserts under one lock.
//! - S3: the copy needs the `copy_if_not_exists` setting. Unless the options
//!   or the environment set it, this port sets `multipart`, which native AWS
//!   S3 supports: an `UploadPartCopy` of the staging object, completed with
//!   `If-None-Match: *`. A single `UploadPartCopy` is limited to 5 GiB, so on
//!   AWS an object above 5 GiB cannot be published this way. Cloudflare R2
//!   takes `header: cf-copy-destination-if-none-match: *` instead; other
//!   S3-compatible services must support one of the two.
//!
//! [`SealedStore::put_small`] uses a conditional put (`PutMode::Create`,
//! `If-None-Match: *` on S3) directly, except on a local directory, where it
//! takes the staging route to get the file on disk before it is published.
//!
//! # Durability of the local directory
//!
//! `object_store`'s `LocalFileSystem` never calls `fsync`: a put returns once
//! the data is in the page cache, and a crash can then leave a published name
//! with missing data. So for `file://` this port syncs the staging file's data
//! before it gets its published name, then syncs every directory from the
//! object's up to the root, so the name is on disk before `put_stream` or
//! `put_small` returns. The root and its parent are synced when the store is
//! opened. S3 acknowledges a write only once it is durable; memory is memory.
//!
//! # Secrets
//!
//! `Debug` shows the backend, the bucket and prefix or the directory, and the
//! option keys, never option values, so credentials never reach logs.

use std::fmt;
use std::io::{self, BufReader, Read};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
#[cfg(feature = "s3")]
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3CopyIfNotExists};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
#[cfg(feature = "s3")]
use object_store::prefix::PrefixStore;
use object_store::{
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart,
};

use crate::error::Error;

/// The size of each multipart upload part: 8 MiB (S3 needs at least 5 MiB,
/// and allows 10,000 parts, so objects up to 80 GiB).
pub const DEFAULT_PART_SIZE: usize = 8 << 20;

/// The number of parts uploaded at once.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 4;

/// The largest object [`SealedStore::get_small`] reads: 16 MiB.
pub const SMALL_OBJECT_LIMIT: u64 = 16 << 20;

/// The prefix of staging objects; object paths may not start with it.
pub const STAGING_PREFIX: &str = "_staging";

/// The number of byte buffers a [`StreamReader`] holds ahead of its reader.
const READ_AHEAD: usize = 16;

/// Sealed objects in an object store: written once, never overwritten.
#[derive(Clone)]
pub struct SealedStore {
    /// The store itself.
    inner: Arc<dyn ObjectStore>,
    /// Which backend, for `Debug` and for the local durability steps.
    backend: Backend,
    /// The option keys given (never their values).
    option_keys: Vec<String>,
    /// The multipart part size.
    part_size: usize,
    /// The number of parts uploaded at once.
    upload_concurrency: usize,
}

/// The backend behind a [`SealedStore`].
#[derive(Clone)]
enum Backend {
    /// `memory://`.
    Memory,
    /// `file:///abs/dir`.
    Local {
        /// The canonical root directory.
        root: PathBuf,
        /// The store, kept typed to map object paths to files.
        fs: Arc<LocalFileSystem>,
    },
    /// `s3://bucket/prefix`.
    #[cfg(feature = "s3")]
    S3 {
        /// The bucket.
        bucket: String,
        /// The prefix inside the bucket, without slashes at either end.
        prefix: String,
    },
}

impl fmt::Debug for SealedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("SealedStore");
        match &self.backend {
            Backend::Memory => debug.field("backend", &"memory"),
            Backend::Local { root, .. } => debug.field("backend", &"file").field("root", root),
            #[cfg(feature = "s3")]
            Backend::S3 { bucket, prefix } => {
                debug.field("backend", &"s3").field("bucket", bucket).field("prefix", prefix)
            }
        };
        debug
            .field("option_keys", &self.option_keys)
            .field("part_size", &self.part_size)
            .field("upload_concurrency", &self.upload_concurrency)
            .finish_non_exhaustive()
    }
}

/// Opens `s3://{rest}` (see the module documentation).
#[cfg(feature = "s3")]
fn open_s3(
    rest: &str,
    options: &[(String, String)],
    invalid: impl Fn(String) -> Error,
) -> Result<(Arc<dyn ObjectStore>, Backend), Error> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let prefix = prefix.trim_matches('/').to_owned();
    if bucket.is_empty() || bucket.contains('@') {
        return Err(invalid("use s3://bucket/prefix".into()));
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (key, value) in options {
        let key: AmazonS3ConfigKey =
            key.parse().map_err(|_| invalid(format!("unknown S3 option {key:?}")))?;
        builder = builder.with_config(key, value);
    }
    if builder.get_config_value(&AmazonS3ConfigKey::CopyIfNotExists).is_none() {
        builder = builder.with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
    }
    let s3 = builder.build().map_err(|error| invalid(format!("cannot configure S3: {error}")))?;
    let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, prefix.as_str()))
    };
    Ok((inner, Backend::S3 { bucket: bucket.to_owned(), prefix }))
}

/// A build without the `s3` feature opens no S3 store.
#[cfg(not(feature = "s3"))]
fn open_s3(
    _: &str,
    _: &[(String, String)],
    invalid: impl Fn(String) -> Error,
) -> Result<(Arc<dyn ObjectStore>, Backend), Error> {
    Err(invalid("this build of cairn has no S3 support (feature s3)".into()))
}

impl SealedStore {
    /// Opens the store a URL names (see the module documentation).
    ///
    /// `memory://` and `file://` take no options. A `file://` directory is
    /// created if missing, and it and its parent are synced.
    pub fn from_url(url: &str, options: &[(String, String)]) -> Result<SealedStore, Error> {
        let invalid = |reason: String| Error::InvalidStoreUrl { url: redact(url), reason };
        let option_keys: Vec<String> = options.iter().map(|(key, _)| key.clone()).collect();
        let no_options = || {
            if options.is_empty() {
                Ok(())
            } else {
                Err(invalid(format!("this backend takes no options, got {option_keys:?}")))
            }
        };
        let (inner, backend): (Arc<dyn ObjectStore>, Backend) = if let Some(rest) =
            url.strip_prefix("memory://")
        {
            if !rest.is_empty() && rest != "/" {
                return Err(invalid("a memory store has no path: use memory://".into()));
            }
            no_options()?;
            (Arc::new(InMemory::new()), Backend::Memory)
        } else if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(invalid("use an absolute directory: file:///abs/dir".into()));
            }
            no_options()?;
            let root = open_local_root(FsPath::new(rest))
                .map_err(|error| invalid(format!("cannot prepare the directory: {error}")))?;
            let fs = Arc::new(
                LocalFileSystem::new_with_prefix(&root)
                    .map_err(|error| invalid(format!("cannot open the directory: {error}")))?,
            );
            (fs.clone(), Backend::Local { root, fs })
        } else if let Some(rest) = url.strip_prefix("s3://") {
            open_s3(rest, options, invalid)?
        } else {
            return Err(invalid(
                "unsupported scheme: use memory://, file:///abs/dir or s3://bucket/prefix".into(),
            ));
        };
        Ok(SealedStore {
            inner,
            backend,
            option_keys,
            part_size: DEFAULT_PART_SIZE,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
        })
    }

    /// Sets the multipart part size (at least 5 MiB for S3) and the number of
    /// parts uploaded at once (at least 1).
    pub fn with_upload_parts(mut self, part_size: usize, concurrency: usize) -> SealedStore {
        self.part_size = part_size.max(1);
        self.upload_concurrency = concurrency.max(1);
        self
    }

    /// Uploads a stream of byte buffers as a new object at `path`, and returns
    /// its metadata once it is published (and, for a local directory, on disk).
    ///
    /// Fails with [`Error::AlreadyExists`] if `path` exists, before uploading
    /// when that is already visible, and in any case at publication. If the
    /// stream yields an error, the upload is abandoned and nothing is
    /// published. Memory use is bounded by the part size times the upload
    /// concurrency plus one part being filled.
    #[tracing::instrument(level = "debug", skip_all, fields(path))]
    pub async fn put_stream<S>(&self, path: &str, chunks: S) -> Result<ObjectMeta, Error>
    where
        S: Stream<Item = Result<Bytes, Error>> + Send,
    {
        let location = object_path(path)?;
        if self.head(&location).await?.is_some() {
            return Err(Error::AlreadyExists { path: location.to_string() });
        }
        let staging = staging_path()?;
        let result = async {
            let upload = self.inner.put_multipart(&staging).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
            let mut chunks = std::pin::pin!(chunks);
            while let Some(item) = chunks.next().await {
                let capacity = match item {
                    Ok(bytes) => {
                        writer.wait_for_capacity(self.upload_concurrency).await.map(|()| bytes)
                    }
                    Err(error) => {
                        let _ = writer.abort().await;
                        return Err(error);
                    }
                };
                match capacity {
                    Ok(bytes) => writer.put(bytes),
                    Err(error) => {
                        let _ = writer.abort().await;
                        return Err(error.into());
                    }
                }
            }
            writer.finish().await?;
            self.publish(&staging, &location).await
        }
        .await;
        self.remove_staging(&staging).await;
        result?;
        self.head(&location).await?.ok_or(Error::NotFound { path: location.to_string() })
    }

    /// The size in bytes of the object at `path`.
    #[tracing::instrument(level = "debug", skip_all, fields(path))]
    pub async fn size(&self, path: &str) -> Result<u64, Error> {
        let location = object_path(path)?;
        self.head(&location)
            .await?
            .map(|meta| meta.size)
            .ok_or(Error::NotFound { path: location.to_string() })
    }

    /// Reads the object at `path` as a stream of byte buffers.
    #[tracing::instrument(level = "debug", skip_all, fields(path))]
    pub async fn get_stream(
        &self,
        path: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, Error>> + Send + 'static + use<>, Error> {
        self.get_boxed(path).await
    }

    /// Reads the object at `path` as a blocking [`Read`], for the pipeline.
    ///
    /// Call it inside a tokio runtime and read it outside async code (on a
    /// `spawn_blocking` thread or a plain thread): reading blocks the thread.
    /// A local file is read directly; other backends are fed through a
    /// [`StreamReader`].
    #[tracing::instrument(level = "debug", skip_all, fields(path))]
    pub async fn get_reader(&self, path: &str) -> Result<Box<dyn Read + Send>, Error> {
        if let Backend::Local { fs, .. } = &self.backend {
            let location = object_path(path)?;
            let file_path = fs.path_to_filesystem(&location)?;
            return match std::fs::File::open(&file_path) {
                Ok(file) => Ok(Box::new(BufReader::with_capacity(1 << 16, file))),
                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                    Err(Error::NotFound { path: location.to_string() })
                }
                Err(error) => Err(Error::Store(object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(error),
                })),
            };
        }
        Ok(Box::new(StreamReader::spawn(self.get_boxed(path).await?)))
    }

    /// Writes a small object at `path` if nothing is there yet.
    ///
    /// Fails with [`Error::AlreadyExists`] otherwise. On a local directory the
    /// object is on disk when this returns.
    #[tracing::instrument(level = "debug", skip_all, fields(path))]
    pub async fn put_small(&self, path: &str, bytes: Bytes) -> Result<(), Error> {
        let location = object_path(path)?;
        if let Backend::Local { .. } = self.backend {
            let staging = staging_path()?;
            let result = async {
                self.inner.put(&staging, PutPayload::from(bytes)).await?;
                self.publish(&staging, &location).await
            }
            .await;
            self.remove_staging(&staging).await;
            return result;
        }
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        self.inner.put_opts(&location, PutPayload::from(bytes), options).await?;
        Ok(())
    }

    /// Reads a whole object of at most [`SMALL_OBJECT_LIMIT`] bytes.
    #[tracing::instrument(level = "debug", skip_all, fields(path))]
    pub async fn get_small(&self, path: &str) -> Result<Bytes, Error> {
        let location = object_path(path)?;
        let result = self.inner.get(&location).await?;
        let size = result.meta.size;
        if size > SMALL_OBJECT_LIMIT {
            return Err(Error::TooLarge {
                path: location.to_string(),
                size,
                limit: SMALL_OBJECT_LIMIT,
            });
        }
        Ok(result.bytes().await?)
    }

    /// Returns whether an object exists at `path`.
    #[tracing::instrument(level = "debug", skip_all, fields(path))]
    pub async fn exists(&self, path: &str) -> Result<bool, Error> {
        Ok(self.head(&object_path(path)?).await?.is_some())
    }

    /// Returns the metadata of the object at `location`, or `None`.
    async fn head(&self, location: &Path) -> Result<Option<ObjectMeta>, Error> {
        match self.inner.head(location).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Opens the object at `path` as a boxed stream.
    async fn get_boxed(
        &self,
        path: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
        let location = object_path(path)?;
        let result = self.inner.get(&location).await?;
        Ok(result.into_stream().map_err(Error::from).boxed())
    }

    /// Publishes a complete staging object at `location` without overwriting,
    /// with the local durability steps around the link.
    async fn publish(&self, staging: &Path, location: &Path) -> Result<(), Error> {
        if let Backend::Local { fs, .. } = &self.backend {
            let file = fs.path_to_filesystem(staging)?;
            blocking(move || sync_path(&file)).await?;
        }
        self.inner.copy_if_not_exists(staging, location).await.map_err(
            |error| match Error::from(error) {
                Error::AlreadyExists { .. } => Error::AlreadyExists { path: location.to_string() },
                other => other,
            },
        )?;
        if let Backend::Local { fs, root } = &self.backend {
            let file = fs.path_to_filesystem(location)?;
            let root = root.clone();
            blocking(move || sync_parents(&file, &root)).await?;
        }
        Ok(())
    }

    /// Removes a staging object, logging (without contents) if that fails.
    async fn remove_staging(&self, staging: &Path) {
        match self.inner.delete(staging).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => {
                tracing::warn!(path = %staging, %error, "could not remove a staging object");
            }
        }
    }
}

/// Parses an object path, refusing empty paths and the staging prefix.
fn object_path(path: &str) -> Result<Path, Error> {
    let invalid = |reason: String| Error::InvalidPath { path: path.to_owned(), reason };
    let location = Path::parse(path).map_err(|error| invalid(error.to_string()))?;
    match location.parts().next() {
        None => Err(invalid("the path is empty".into())),
        Some(first) if first.as_ref() == STAGING_PREFIX => {
            Err(invalid(format!("paths under {STAGING_PREFIX}/ are reserved for uploads")))
        }
        Some(_) => Ok(location),
    }
}

/// Returns a fresh, random staging path.
fn staging_path() -> Result<Path, Error> {
    let mut name = [0u8; 16];
    getrandom::fill(&mut name).map_err(Error::Rng)?;
    Ok(Path::from(STAGING_PREFIX).join(hex::encode(name)))
}

/// Removes anything before an `@` in a URL's authority, where credentials
/// could hide, so errors can show the URL.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{scheme}://…@{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// Creates the root directory if needed, syncs it and its parent, and returns
/// its canonical path.
fn open_local_root(dir: &FsPath) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let root = std::fs::canonicalize(dir)?;
    std::fs::File::open(&root)?.sync_all()?;
    if let Some(parent) = root.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(root)
}

/// Syncs one file or directory to disk.
fn sync_path(path: &FsPath) -> Result<(), Error> {
    std::fs::File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|source| Error::Sync { path: path.display().to_string(), source })
}

/// Syncs every directory from `file`'s parent up to and including `root`.
fn sync_parents(file: &FsPath, root: &FsPath) -> Result<(), Error> {
    let mut dir = file.parent();
    while let Some(current) = dir {
        sync_path(current)?;
        if current == root {
            break;
        }
        dir = current.parent();
    }
    Ok(())
}

/// Runs blocking file-system work off the async threads.
async fn blocking(work: impl FnOnce() -> Result<(), Error> + Send + 'static) -> Result<(), Error> {
    tokio::task::spawn_blocking(work).await.map_err(|_| Error::WorkerLost)?
}

/// A blocking [`Read`] over an object stream.
///
/// A tokio task pulls the stream and passes at most 16 buffers ahead through
/// a bounded channel; reads block until data arrives. Create it inside a
/// tokio runtime and read it outside async code (tokio refuses blocking
/// receives on an async thread).
pub struct StreamReader {
    /// Buffers from the forwarding task.
    receiver: tokio::sync::mpsc::Receiver<Result<Bytes, Error>>,
    /// The unread rest of the current buffer.
    current: Bytes,
}

impl StreamReader {
    /// Starts forwarding `stream` on the current tokio runtime.
    pub fn spawn(stream: BoxStream<'static, Result<Bytes, Error>>) -> StreamReader {
        let (sender, receiver) = tokio::sync::mpsc::channel(READ_AHEAD);
        tokio::spawn(async move {
            let mut stream = stream;
            while let Some(item) = stream.next().await {
                let failed = item.is_err();
                if sender.send(item).await.is_err() || failed {
                    break;
                }
            }
        });
        StreamReader { receiver, current: Bytes::new() }
    }
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader").field("buffered", &self.current.len()).finish()
    }
}

impl Read for StreamReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if buffer.is_empty() {
            return Ok(0);
        }
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                None => return Ok(0),
                Some(Ok(bytes)) => self.current = bytes,
                Some(Err(error)) => return Err(io::Error::other(error)),
            }
        }
        let n = buffer.len().min(self.current.len());
        buffer[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths() {
        assert!(SealedStore::from_url("memory://", &[]).is_ok());
        for bad in ["memory://x", "file://relative/dir", "ftp://host/x", "s3://", "nonsense"] {
            assert!(
                matches!(SealedStore::from_url(bad, &[]), Err(Error::InvalidStoreUrl { .. })),
                "{bad}"
            );
        }
        let option = vec![("region".to_owned(), "x".to_owned())];
        assert!(SealedStore::from_url("memory://", &option).is_err());
        assert!(object_path("").is_err());
        assert!(object_path("_staging/x").is_err());
        assert!(object_path("a//b").is_err());
        assert_eq!(object_path("assets/a/v1.ods").unwrap().as_ref(), "assets/a/v1.ods");
        assert_eq!(redact("s3://key:secret@bucket/p"), "s3://…@bucket/p");
        assert_eq!(redact("s3://bucket/p@x"), "s3://bucket/p@x");
    }

    #[cfg(not(feature = "s3"))]
    #[test]
    fn s3_needs_the_feature() {
        let err = SealedStore::from_url("s3://bucket/p", &[]).unwrap_err().to_string();
        assert!(err.contains("no S3 support (feature s3)"), "{err}");
    }

    #[cfg(feature = "s3")]
    #[test]
    fn s3_debug_never_shows_credentials() {
        let options: Vec<(String, String)> = [
            ("endpoint", "http://127.0.0.1:9"),
            ("region", "eu-west-1"),
            ("access_key_id", "AKIDSECRETVALUE"),
            ("secret_access_key", "verysecretkeymaterial"),
            ("allow_http", "true"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let store = SealedStore::from_url("s3://bucket/some/prefix/", &options).unwrap();
        let debug = format!("{store:?} {store:#?}");
        assert!(!debug.contains("AKIDSECRETVALUE"), "{debug}");
        assert!(!debug.contains("verysecretkeymaterial"), "{debug}");
        assert!(debug.contains("bucket") && debug.contains("some/prefix"), "{debug}");
        let bad = vec![("no_such_option".to_owned(), "secret".to_owned())];
        let err = SealedStore::from_url("s3://bucket", &bad).unwrap_err().to_string();
        assert!(err.contains("no_such_option") && !err.contains("secret\""), "{err}");
    }
}
