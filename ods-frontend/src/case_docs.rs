//! The documents of a social-security case (forms, ID card scans, bank
//! details, medical records, photos), sealed into the object store to exactly
//! the case's participants, with only their hashes anchored on the ledger.
//!
//! A document is sealed with the ODS pipeline ([`crate::pipeline`],
//! [`crate::transfer`]): cut into chunks, each hashed with SHA-256 and sealed
//! with AES-256-GCM under a fresh [`DataKey`]. The data key is wrapped with
//! HPKE ([`access_control::wrap`]) to each recipient's X25519 key, one small
//! object per recipient. Nothing is written in clear: not the plaintext, not
//! the key.
//!
//! # Content hash
//!
//! A document's content hash is the ODS content hash
//! ([`crate::pipeline::content_hash`]) with a fixed chunk size of
//! [`DOCUMENT_CHUNK_SIZE`] (4 MiB): the RFC 6962 Merkle root over the SHA-256
//! of each 4 MiB piece of the plaintext. [`document_hash`] computes it from
//! the plaintext alone, so an auditor given the document recomputes the
//! anchored hash offline. It is this hash and not a plain SHA-256 of the
//! plaintext because the pipeline checks it chunk by chunk while it decrypts:
//! a large document is verified in bounded memory, and a changed chunk is
//! caught (and named) before any later chunk is released.
//!
//! # Layout in the store
//!
//! Under `cases/<case id>/<name>/`:
//!
//! - `<content hash hex>.json`: the document's manifest (not secret): the
//!   content hash, size, chunk size, chunk hashes and the id of the seal that
//!   holds it. It is written last, with a conditional put, so it is the
//!   commit point: a document is sealed once its manifest exists, and a
//!   second seal of the same content is refused.
//! - `sealed/<seal id>.ods`: the sealed object ([`crate::format`]).
//! - `keys/<seal id>/<address>.json`: the data key wrapped to one recipient.
//!
//! Every object is written once and never overwritten. The seal id is random,
//! so a seal interrupted before its manifest leaves unreferenced objects that
//! block nothing. The wrapped key's associated data binds it to the case, the
//! document name, the seal and the recipient (see [`key_context`]), so it
//! cannot be moved to another document or identity.
//!
//! # What is checked on opening
//!
//! The expected content hash comes from the ledger. The manifest must name
//! this case, this document and this hash, its chunk hashes must give the
//! hash, and every chunk must decrypt and have its listed hash: otherwise the
//! error is [`Error::DoesNotMatch`], which names the document.
//!
//! # Memory
//!
//! [`seal_document_from_reader`] and [`open_document_to`] stream: their
//! memory is bounded by the pipeline and the upload (about 80 MiB with the
//! defaults on two cores, see [`crate::transfer`]), whatever the document's
//! size. [`seal_document`] and [`open_document`] hold the whole plaintext,
//! which suits the common small documents; a document up to one chunk is
//! sealed in memory and stored with a single conditional put.
//!
//! # Example
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use access_control::keys::KeyPair;
//! use ods_frontend::case_docs::{self, Recipient};
//! use ods_frontend::store::SealedStore;
//!
//! let store = SealedStore::from_url("memory://", &[]).unwrap();
//! let applicant = KeyPair::generate().unwrap();
//! let surveyor = KeyPair::generate().unwrap();
//! let case_id = "c-0123456789abcdef0123456789abcdef";
//! let sealed = case_docs::seal_document(
//!     &store,
//!     case_id,
//!     "bank_card",
//!     b"IBAN ...",
//!     &[Recipient::of(&applicant), Recipient::of(&surveyor)],
//! )
//! .await
//! .unwrap();
//! // The ledger anchors `sealed.content_hash`; a recipient opens the document with it.
//! let plaintext = case_docs::open_document(
//!     &store,
//!     case_id,
//!     "bank_card",
//!     &sealed.content_hash,
//!     &surveyor,
//! )
//! .await
//! .unwrap();
//! assert_eq!(plaintext, b"IBAN ...");
//! # });
//! ```

mod error;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

use access_control::keys::KeyPair;
use access_control::wrap::{self, WrapError, WrappedKey};
use anchor_chaincode::Address;
use anchor_chaincode::ledger::IdentityRecord;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use self::error::opening_failed;
pub use self::error::{DocumentRef, Error, Result};
use crate::aead::{ChunkCipher, DataKey, default_cipher};
use crate::format::ObjectWriter;
use crate::pipeline::{PipelineConfig, SealSummary, content_hash, seal_stream};
use crate::store::SealedStore;
use crate::transfer::{ExpectedContent, open_from_store, seal_to_store};

/// The chunk size of every case document: 4 MiB, the ODS default. The
/// content hash depends on it, so it is fixed.
pub const DOCUMENT_CHUNK_SIZE: usize = crate::pipeline::DEFAULT_CHUNK_SIZE;

/// The format name in a document's manifest.
pub const MANIFEST_FORMAT: &str = "cairn-case-document-v1";

/// The longest document name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// The domain-separation label of a wrapped document key's associated data.
const KEY_CONTEXT_LABEL: &str = "cairn-case-document-key-v1";

/// Someone a document is sealed to: an identity's address and its X25519
/// encryption public key, as registered on the ledger.
///
/// The caller chooses the recipients (the case's participants); this module
/// seals to exactly those given, revoked or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The identity's address.
    pub address: Address,
    /// The identity's X25519 encryption public key.
    pub encryption_public_key: [u8; 32],
}

impl Recipient {
    /// The recipient for a key pair one holds (its address and encryption public key).
    pub fn of(keys: &KeyPair) -> Recipient {
        Recipient { address: keys.address(), encryption_public_key: keys.encryption_public_key() }
    }
}

impl From<&IdentityRecord> for Recipient {
    /// The recipient for an identity registered on the ledger.
    fn from(identity: &IdentityRecord) -> Recipient {
        Recipient {
            address: identity.address,
            encryption_public_key: identity.encryption_public_key,
        }
    }
}

/// A sealed document, as the case's ledger transaction anchors it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedDocument {
    /// The document's name within the case.
    pub name: String,
    /// The content hash (see the [module](self) documentation).
    pub content_hash: [u8; 32],
    /// The plaintext size in bytes.
    pub size_bytes: u64,
}

/// What [`open_document_to`] verified and wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedDocument {
    /// The document's name within the case.
    pub name: String,
    /// The content hash every chunk was checked against.
    pub content_hash: [u8; 32],
    /// The plaintext bytes written.
    pub size_bytes: u64,
}

/// A document's manifest (`cases/<case id>/<name>/<content hash hex>.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    format: String,
    /// The case id.
    case_id: String,
    /// The document's name.
    name: String,
    /// The content hash (hex).
    content_hash: String,
    /// The plaintext size in bytes.
    size_bytes: u64,
    /// The chunk size (always [`DOCUMENT_CHUNK_SIZE`]).
    chunk_size: u64,
    /// The SHA-256 of each chunk's plaintext (hex), in index order.
    chunk_hashes: Vec<String>,
    /// The seal whose object and keys hold the document (32 hex digits).
    seal_id: String,
    /// The chunk cipher.
    cipher: String,
}

/// A manifest, checked against the document and hash it was fetched for.
struct CheckedManifest {
    /// The seal id (32 hex digits).
    seal_id: String,
    /// The chunk hashes.
    chunk_hashes: Vec<[u8; 32]>,
    /// The plaintext size in bytes.
    size_bytes: u64,
}

/// Computes a document's content hash from its plaintext (see the
/// [module](self) documentation).
pub fn document_hash(plaintext: &[u8]) -> [u8; 32] {
    let chunk_hashes: Vec<[u8; 32]> =
        plaintext.chunks(DOCUMENT_CHUNK_SIZE).map(|chunk| Sha256::digest(chunk).into()).collect();
    content_hash(&chunk_hashes)
}

/// The associated data of a document key wrapped to `recipient`:
/// `"cairn-case-document-key-v1\n<case id>\n<name>\n<seal id>\n<address>"`.
pub fn key_context(document: &DocumentRef, seal_id: &str, recipient: &Address) -> Vec<u8> {
    format!("{KEY_CONTEXT_LABEL}\n{}\n{}\n{seal_id}\n{recipient}", document.case_id, document.name)
        .into_bytes()
}

/// Seals a document held in memory to `recipients`, and returns what the
/// ledger anchors.
///
/// Fails with [`Error::AlreadySealed`] if the same content is already sealed
/// under this name in this case (use [`add_recipients`] to share it further).
/// A document larger than [`DOCUMENT_CHUNK_SIZE`] is copied once and
/// streamed; to seal one without holding it, use [`seal_document_from_reader`].
#[tracing::instrument(level = "debug", skip_all, fields(case_id = %case_id, name = %name))]
pub async fn seal_document(
    store: &SealedStore,
    case_id: &str,
    name: &str,
    plaintext: &[u8],
    recipients: &[Recipient],
) -> Result<SealedDocument> {
    let document = document_ref(case_id, name)?;
    let recipients = checked_recipients(&document, recipients)?;
    let known_hash = document_hash(plaintext);
    refuse_if_sealed(store, &document, &known_hash).await?;
    let bytes = Bytes::copy_from_slice(plaintext);
    if bytes.len() <= DOCUMENT_CHUNK_SIZE {
        seal(store, &document, &recipients, Input::Small(bytes)).await
    } else {
        seal(store, &document, &recipients, Input::Stream(Box::new(std::io::Cursor::new(bytes))))
            .await
    }
}

/// Seals a document read from `input` to `recipients`, in bounded memory,
/// and returns what the ledger anchors.
///
/// The content hash is known only once the input is sealed, so a second seal
/// of content already sealed under this name uploads the object before it is
/// refused with [`Error::AlreadySealed`] (the object stays, unreferenced).
#[tracing::instrument(level = "debug", skip_all, fields(case_id = %case_id, name = %name))]
pub async fn seal_document_from_reader<R>(
    store: &SealedStore,
    case_id: &str,
    name: &str,
    input: R,
    recipients: &[Recipient],
) -> Result<SealedDocument>
where
    R: Read + Send + 'static,
{
    let document = document_ref(case_id, name)?;
    let recipients = checked_recipients(&document, recipients)?;
    seal(store, &document, &recipients, Input::Stream(Box::new(input))).await
}

/// Opens a document as `reader`, checks it against `expected_hash` (from the
/// ledger), and returns its plaintext.
///
/// Fails with [`Error::NotARecipient`] if the document was not sealed to
/// `reader`, [`Error::NotSealed`] if no sealed copy has this hash, and
/// [`Error::DoesNotMatch`] if the stored document was changed.
#[tracing::instrument(level = "debug", skip_all, fields(case_id = %case_id, name = %name))]
pub async fn open_document(
    store: &SealedStore,
    case_id: &str,
    name: &str,
    expected_hash: &[u8; 32],
    reader: &KeyPair,
) -> Result<Vec<u8>> {
    let (_, plaintext) =
        open_document_to(store, case_id, name, expected_hash, reader, Vec::new()).await?;
    Ok(plaintext)
}

/// [`open_document`], writing the plaintext to `out` in bounded memory.
///
/// Each chunk is written only after it verified, but on an error the chunks
/// before the failing one have been written: discard `out`'s contents then.
#[tracing::instrument(level = "debug", skip_all, fields(case_id = %case_id, name = %name))]
pub async fn open_document_to<W>(
    store: &SealedStore,
    case_id: &str,
    name: &str,
    expected_hash: &[u8; 32],
    reader: &KeyPair,
    out: W,
) -> Result<(OpenedDocument, W)>
where
    W: Write + Send + 'static,
{
    let document = document_ref(case_id, name)?;
    let manifest = load_manifest(store, &document, expected_hash).await?;
    let data_key = unwrap_key(store, &document, &manifest.seal_id, reader).await?;
    let expected = ExpectedContent {
        chunk_size: DOCUMENT_CHUNK_SIZE,
        chunk_hashes: manifest.chunk_hashes,
        content_hash: *expected_hash,
    };
    let cipher: Arc<dyn ChunkCipher> = Arc::from(default_cipher(&data_key));
    let object = object_path(&document, &manifest.seal_id);
    let (summary, out) = open_from_store(store, &object, cipher, expected, out)
        .await
        .map_err(|error| opening_failed(&document, error))?;
    if summary.plaintext_bytes != manifest.size_bytes {
        return Err(Error::DoesNotMatch {
            document,
            source: format!(
                "the manifest gives {} bytes, the verified document has {}",
                manifest.size_bytes, summary.plaintext_bytes
            )
            .into(),
        });
    }
    let opened = OpenedDocument {
        name: document.name,
        content_hash: *expected_hash,
        size_bytes: summary.plaintext_bytes,
    };
    Ok((opened, out))
}

/// Wraps a sealed document's data key to more recipients, for when a later
/// step's reviewers join the case; returns the addresses that were added.
///
/// Only a recipient can do this: `by`'s own wrapped key is unwrapped and the
/// same data key is wrapped to each new recipient. Recipients that already
/// hold a key are left as they are and not listed.
#[tracing::instrument(level = "debug", skip_all, fields(case_id = %case_id, name = %name))]
pub async fn add_recipients(
    store: &SealedStore,
    case_id: &str,
    name: &str,
    content_hash: &[u8; 32],
    by: &KeyPair,
    recipients: &[Recipient],
) -> Result<Vec<Address>> {
    let document = document_ref(case_id, name)?;
    let recipients = checked_recipients(&document, recipients)?;
    let manifest = load_manifest(store, &document, content_hash).await?;
    let data_key = unwrap_key(store, &document, &manifest.seal_id, by).await?;
    let read = |source| Error::Read { document: document.clone(), source: Box::new(source) };
    let mut added = Vec::new();
    for (address, public_key) in &recipients {
        let path = key_path(&document, &manifest.seal_id, address);
        if store.exists(&path).await.map_err(read)? {
            continue;
        }
        let wrapped = wrap_to(&document, &manifest.seal_id, &data_key, address, public_key)?;
        match store.put_small(&path, wrapped).await {
            Ok(()) => added.push(*address),
            // Someone added the same recipient meanwhile.
            Err(crate::Error::AlreadyExists { .. }) => {}
            Err(error) => return Err(read(error)),
        }
    }
    Ok(added)
}

/// What to seal.
enum Input {
    /// A document of at most one chunk, sealed in memory.
    Small(Bytes),
    /// A document of any size, streamed.
    Stream(Box<dyn Read + Send>),
}

/// Seals `input` to `recipients`: the sealed object, the wrapped keys, then
/// the manifest (the commit point).
async fn seal(
    store: &SealedStore,
    document: &DocumentRef,
    recipients: &BTreeMap<Address, [u8; 32]>,
    input: Input,
) -> Result<SealedDocument> {
    let failed = |source| Error::Seal { document: document.clone(), source: Box::new(source) };
    let seal_id = random_seal_id().map_err(failed)?;
    let data_key = DataKey::generate().map_err(failed)?;
    // Wrap first: a recipient with an unusable key stops the seal before anything is stored.
    let mut wrapped_keys = Vec::with_capacity(recipients.len());
    for (address, public_key) in recipients {
        let wrapped = wrap_to(document, &seal_id, &data_key, address, public_key)?;
        wrapped_keys.push((key_path(document, &seal_id, address), wrapped));
    }
    let object = object_path(document, &seal_id);
    let cipher: Arc<dyn ChunkCipher> = Arc::from(default_cipher(&data_key));
    let config = PipelineConfig::with_chunk_size(DOCUMENT_CHUNK_SIZE);
    let summary = match input {
        Input::Small(bytes) => {
            let config = PipelineConfig { workers: 1, max_in_flight: 1, ..config };
            let sealing = tokio::task::spawn_blocking(move || {
                let mut writer =
                    ObjectWriter::new(Vec::with_capacity(bytes.len() + 64), DOCUMENT_CHUNK_SIZE)?;
                let summary = seal_stream(
                    &bytes[..],
                    &*cipher,
                    &config,
                    |chunk| writer.write_chunk(chunk),
                    |_| {},
                )?;
                Ok::<(SealSummary, Vec<u8>), crate::Error>((summary, writer.finish()?))
            });
            let (summary, sealed) =
                sealing.await.map_err(|_| failed(crate::Error::WorkerLost))?.map_err(failed)?;
            store.put_small(&object, Bytes::from(sealed)).await.map_err(failed)?;
            summary
        }
        Input::Stream(reader) => {
            let (summary, _) =
                seal_to_store(store, &object, reader, cipher, config).await.map_err(failed)?;
            summary
        }
    };
    refuse_if_sealed(store, document, &summary.content_hash).await?;
    let writes = wrapped_keys
        .into_iter()
        .map(|(path, wrapped)| async move { store.put_small(&path, wrapped).await });
    futures_util::future::try_join_all(writes).await.map_err(failed)?;
    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        case_id: document.case_id.clone(),
        name: document.name.clone(),
        content_hash: hex::encode(summary.content_hash),
        size_bytes: summary.plaintext_bytes,
        chunk_size: DOCUMENT_CHUNK_SIZE as u64,
        chunk_hashes: summary.chunk_hashes.iter().map(hex::encode).collect(),
        seal_id,
        cipher: "AES-256-GCM".into(),
    };
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| failed(crate::Error::Encode(e)))?;
    let path = manifest_path(document, &summary.content_hash);
    match store.put_small(&path, Bytes::from(manifest_bytes)).await {
        Ok(()) => {}
        Err(crate::Error::AlreadyExists { .. }) => {
            return Err(Error::AlreadySealed {
                document: document.clone(),
                content_hash: summary.content_hash,
            });
        }
        Err(error) => return Err(failed(error)),
    }
    Ok(SealedDocument {
        name: document.name.clone(),
        content_hash: summary.content_hash,
        size_bytes: summary.plaintext_bytes,
    })
}

/// Fails with [`Error::AlreadySealed`] if a manifest for this content exists.
async fn refuse_if_sealed(
    store: &SealedStore,
    document: &DocumentRef,
    content_hash: &[u8; 32],
) -> Result<()> {
    let exists = store
        .exists(&manifest_path(document, content_hash))
        .await
        .map_err(|source| Error::Seal { document: document.clone(), source: Box::new(source) })?;
    if exists {
        return Err(Error::AlreadySealed {
            document: document.clone(),
            content_hash: *content_hash,
        });
    }
    Ok(())
}

/// Wraps a data key to one recipient, as the JSON of a [`WrappedKey`].
fn wrap_to(
    document: &DocumentRef,
    seal_id: &str,
    data_key: &DataKey,
    address: &Address,
    public_key: &[u8; 32],
) -> Result<Bytes> {
    let context = key_context(document, seal_id, address);
    let wrapped = wrap::wrap(public_key, data_key.as_bytes(), &context).map_err(|source| {
        Error::RecipientKey { document: document.clone(), address: *address, source }
    })?;
    let json = serde_json::to_vec(&wrapped).map_err(|e| Error::Seal {
        document: document.clone(),
        source: Box::new(crate::Error::Encode(e)),
    })?;
    Ok(Bytes::from(json))
}

/// Fetches and unwraps the data key wrapped to `reader`.
async fn unwrap_key(
    store: &SealedStore,
    document: &DocumentRef,
    seal_id: &str,
    reader: &KeyPair,
) -> Result<DataKey> {
    let address = reader.address();
    let bytes = match store.get_small(&key_path(document, seal_id, &address)).await {
        Ok(bytes) => bytes,
        Err(crate::Error::NotFound { .. }) => {
            return Err(Error::NotARecipient { document: document.clone(), address });
        }
        Err(source) => {
            return Err(Error::Read { document: document.clone(), source: Box::new(source) });
        }
    };
    let does_not_open =
        |source| Error::KeyDoesNotOpen { document: document.clone(), address, source };
    let wrapped: WrappedKey =
        serde_json::from_slice(&bytes).map_err(|_| does_not_open(WrapError::Unwrap))?;
    let key = wrap::unwrap(reader, &wrapped, &key_context(document, seal_id, &address))
        .map_err(does_not_open)?;
    let key: [u8; 32] = key.try_into().map_err(|_| does_not_open(WrapError::Unwrap))?;
    Ok(DataKey::from_bytes(key))
}

/// Fetches a document's manifest for `content_hash` and checks that it
/// describes this document and this hash.
async fn load_manifest(
    store: &SealedStore,
    document: &DocumentRef,
    content_hash: &[u8; 32],
) -> Result<CheckedManifest> {
    let bytes = match store.get_small(&manifest_path(document, content_hash)).await {
        Ok(bytes) => bytes,
        Err(crate::Error::NotFound { .. }) => {
            return Err(Error::NotSealed {
                document: document.clone(),
                content_hash: *content_hash,
            });
        }
        Err(source) => {
            return Err(Error::Read { document: document.clone(), source: Box::new(source) });
        }
    };
    let mismatch = |reason: String| Error::DoesNotMatch {
        document: document.clone(),
        source: format!("its manifest {reason}").into(),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|error| mismatch(format!("is not a case document manifest: {error}")))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(mismatch(format!("has format {:?}, not {MANIFEST_FORMAT:?}", manifest.format)));
    }
    if manifest.case_id != document.case_id || manifest.name != document.name {
        return Err(mismatch("describes another document".into()));
    }
    if manifest.content_hash != hex::encode(content_hash) {
        return Err(mismatch(format!("gives content hash {}", manifest.content_hash)));
    }
    if manifest.chunk_size != DOCUMENT_CHUNK_SIZE as u64 {
        return Err(mismatch(format!("gives chunk size {}", manifest.chunk_size)));
    }
    if !is_seal_id(&manifest.seal_id) {
        return Err(mismatch("has a malformed seal id".into()));
    }
    let chunk_hashes = manifest
        .chunk_hashes
        .iter()
        .map(|text| {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(text, &mut hash).map(|()| hash)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| mismatch("has a malformed chunk hash".into()))?;
    Ok(CheckedManifest { seal_id: manifest.seal_id, chunk_hashes, size_bytes: manifest.size_bytes })
}

/// Checks a case id and a document name.
fn document_ref(case_id: &str, name: &str) -> Result<DocumentRef> {
    let hex_part = case_id.strip_prefix("c-").unwrap_or("");
    if hex_part.len() != 32 || !hex_part.bytes().all(is_lower_hex) {
        return Err(Error::InvalidCaseId { case_id: case_id.to_owned() });
    }
    let invalid = |reason| Error::InvalidName { name: name.to_owned(), reason };
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(invalid("must be 1 to 64 bytes long"));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b)) {
        return Err(invalid(
            "may hold only lowercase letters, digits, '_', '-' and '.' (it names a kind of document)",
        ));
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(invalid("must start with a letter or a digit"));
    }
    Ok(DocumentRef { case_id: case_id.to_owned(), name: name.to_owned() })
}

/// Checks the recipients, dropping exact duplicates.
fn checked_recipients(
    document: &DocumentRef,
    recipients: &[Recipient],
) -> Result<BTreeMap<Address, [u8; 32]>> {
    if recipients.is_empty() {
        return Err(Error::NoRecipients { document: document.clone() });
    }
    let mut checked = BTreeMap::new();
    for recipient in recipients {
        match checked.insert(recipient.address, recipient.encryption_public_key) {
            Some(previous) if previous != recipient.encryption_public_key => {
                return Err(Error::ConflictingRecipient {
                    document: document.clone(),
                    address: recipient.address,
                });
            }
            _ => {}
        }
    }
    Ok(checked)
}

fn is_lower_hex(byte: u8) -> bool {
    byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)
}

/// Whether `text` is a seal id: 32 lowercase hex digits.
fn is_seal_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(is_lower_hex)
}

/// A fresh random seal id.
fn random_seal_id() -> Result<String, crate::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(crate::Error::Rng)?;
    Ok(hex::encode(bytes))
}

/// `cases/<case id>/<name>`.
fn document_prefix(document: &DocumentRef) -> String {
    format!("cases/{}/{}", document.case_id, document.name)
}

/// Where a document's manifest for `content_hash` lives.
fn manifest_path(document: &DocumentRef, content_hash: &[u8; 32]) -> String {
    format!("{}/{}.json", document_prefix(document), hex::encode(content_hash))
}

/// Where a seal's sealed object lives.
fn object_path(document: &DocumentRef, seal_id: &str) -> String {
    format!("{}/sealed/{seal_id}.ods", document_prefix(document))
}

/// Where a seal's data key wrapped to `recipient` lives.
fn key_path(document: &DocumentRef, seal_id: &str, recipient: &Address) -> String {
    format!("{}/keys/{seal_id}/{recipient}.json", document_prefix(document))
}

#[cfg(test)]
mod tests;
