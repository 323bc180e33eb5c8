//! Case documents in a local-directory store, as a node keeps them: sealed to
//! two participants who both open them while a third cannot, a byte changed
//! on disk or a wrong anchored hash named by document, no plaintext in any
//! stored file, and a document larger than a chunk streamed both ways.

use std::path::{Path, PathBuf};

use access_control::keys::KeyPair;
use ods_frontend::case_docs::{
    self, DOCUMENT_CHUNK_SIZE, Error, Recipient, add_recipients, document_hash, open_document,
    open_document_to, seal_document, seal_document_from_reader,
};
use ods_frontend::store::SealedStore;

const CASE: &str = "c-00112233445566778899aabbccddeeff";

/// A marker that must never appear in clear in the store.
const MARKER: &[u8] = b"MARKER-6222-0212-3456-7890";

fn local_store() -> (tempfile::TempDir, PathBuf, SealedStore) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ods");
    let store = SealedStore::from_url(&format!("file://{}", root.display()), &[]).unwrap();
    (dir, root, store)
}

fn keys() -> KeyPair {
    KeyPair::generate().unwrap()
}

/// A bank card scan with the marker in it, several times.
fn bank_card() -> Vec<u8> {
    let mut plaintext = b"account holder: (redacted); card number: ".to_vec();
    for _ in 0..50 {
        plaintext.extend_from_slice(MARKER);
        plaintext.push(b'\n');
    }
    plaintext
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// The one file under `dir` whose name ends with `suffix`.
fn only_file_ending(dir: &Path, suffix: &str) -> PathBuf {
    let mut found: Vec<PathBuf> = files_under(dir)
        .into_iter()
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[tokio::test]
async fn both_recipients_open_it_and_a_third_cannot() {
    let (_dir, _root, store) = local_store();
    let applicant = keys();
    let surveyor = keys();
    let stranger = keys();
    let plaintext = bank_card();
    let sealed = seal_document(
        &store,
        CASE,
        "bank_card",
        &plaintext,
        &[Recipient::of(&applicant), Recipient::of(&surveyor)],
    )
    .await
    .unwrap();
    assert_eq!(sealed.name, "bank_card");
    assert_eq!(sealed.size_bytes, plaintext.len() as u64);
    assert_eq!(sealed.content_hash, document_hash(&plaintext));

    for reader in [&applicant, &surveyor] {
        let opened =
            open_document(&store, CASE, "bank_card", &sealed.content_hash, reader).await.unwrap();
        assert_eq!(opened, plaintext);
    }
    let err = open_document(&store, CASE, "bank_card", &sealed.content_hash, &stranger)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotARecipient { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a recipient of document \"bank_card\" of case {CASE}",
            stranger.address()
        )
    );
}

#[tokio::test]
async fn one_byte_flipped_on_disk_is_named() {
    let (_dir, root, store) = local_store();
    let applicant = keys();
    let plaintext = bank_card();
    let sealed = seal_document(&store, CASE, "bank_card", &plaintext, &[Recipient::of(&applicant)])
        .await
        .unwrap();
    let object = only_file_ending(&root.join("cases"), ".ods");
    let mut bytes = std::fs::read(&object).unwrap();
    // Past the 14-byte preamble and the 4-byte length: a ciphertext byte.
    bytes[14 + 4 + 100] ^= 0x01;
    std::fs::write(&object, &bytes).unwrap();
    let err = open_document(&store, CASE, "bank_card", &sealed.content_hash, &applicant)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DoesNotMatch { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("document \"bank_card\" of case {CASE} does not match its anchored hash")
    );
    let detail = std::error::Error::source(&err).unwrap().to_string();
    assert!(detail.starts_with("chunk 0 failed authentication"), "{detail}");
}

#[tokio::test]
async fn a_wrong_anchored_hash_is_named() {
    let (_dir, _root, store) = local_store();
    let applicant = keys();
    let sealed =
        seal_document(&store, CASE, "bank_card", &bank_card(), &[Recipient::of(&applicant)])
            .await
            .unwrap();
    let mut wrong = sealed.content_hash;
    wrong[0] ^= 0x80;
    let err = open_document(&store, CASE, "bank_card", &wrong, &applicant).await.unwrap_err();
    assert!(matches!(err, Error::NotSealed { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "document \"bank_card\" of case {CASE} does not match its anchored hash: no sealed copy of it has hash {}",
            hex::encode(wrong)
        )
    );
    // The right hash under another name, or in another case, is not that document either.
    let err =
        open_document(&store, CASE, "id_card", &sealed.content_hash, &applicant).await.unwrap_err();
    assert!(err.to_string().starts_with("document \"id_card\" of case"), "{err}");
}

#[tokio::test]
async fn no_plaintext_reaches_the_store() {
    let (_dir, root, store) = local_store();
    let applicant = keys();
    let surveyor = keys();
    let accountant = keys();
    let plaintext = bank_card();
    let sealed = seal_document(
        &store,
        CASE,
        "bank_card",
        &plaintext,
        &[Recipient::of(&applicant), Recipient::of(&surveyor)],
    )
    .await
    .unwrap();
    let added = add_recipients(
        &store,
        CASE,
        "bank_card",
        &sealed.content_hash,
        &surveyor,
        &[Recipient::of(&accountant)],
    )
    .await
    .unwrap();
    assert_eq!(added, vec![accountant.address()]);
    let form = format!(r#"{{"applicant_id_number":"{}"}}"#, String::from_utf8_lossy(MARKER));
    let _ = seal_document_from_reader(
        &store,
        CASE,
        "application_form",
        std::io::Cursor::new(form.into_bytes()),
        &[Recipient::of(&applicant)],
    )
    .await
    .unwrap();

    let files = files_under(&root);
    // A manifest, an object and a key per recipient for each document: 1 + 1 + 3, then 1 + 1 + 1.
    assert_eq!(files.iter().filter(|f| f.to_string_lossy().contains("/cases/")).count(), 5 + 3);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!contains(&bytes, MARKER), "{} holds plaintext", file.display());
        assert!(!contains(&bytes, b"account holder"), "{} holds plaintext", file.display());
    }
    assert_eq!(
        open_document(&store, CASE, "bank_card", &sealed.content_hash, &accountant).await.unwrap(),
        plaintext
    );
}

/// Deterministic bytes that differ from chunk to chunk.
struct Pattern {
    remaining: u64,
    position: u64,
}

impl std::io::Read for Pattern {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let n = buffer.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        for byte in &mut buffer[..n] {
            *byte = (self.position.wrapping_mul(2_654_435_761) >> 11) as u8;
            self.position += 1;
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// A sink that hashes what it is given, so a large document is checked without being held.
struct Hashing(sha2::Sha256, u64);

impl std::io::Write for Hashing {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buffer);
        self.1 += buffer.len() as u64;
        Ok(buffer.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_document_of_several_chunks_streams_both_ways() {
    let (_dir, root, store) = local_store();
    let applicant = keys();
    let size = 2 * DOCUMENT_CHUNK_SIZE as u64 + 12_345;
    let pattern = || Pattern { remaining: size, position: 0 };
    let sealed = seal_document_from_reader(
        &store,
        CASE,
        "medical_record",
        pattern(),
        &[Recipient::of(&applicant)],
    )
    .await
    .unwrap();
    let mut plaintext = Vec::new();
    std::io::Read::read_to_end(&mut pattern(), &mut plaintext).unwrap();
    assert_eq!(sealed.content_hash, document_hash(&plaintext));
    assert_eq!(sealed.size_bytes, size);
    let expected_sha256 = <sha2::Sha256 as sha2::Digest>::digest(&plaintext);
    drop(plaintext);

    let sink = Hashing(<sha2::Sha256 as sha2::Digest>::new(), 0);
    let (opened, sink) =
        open_document_to(&store, CASE, "medical_record", &sealed.content_hash, &applicant, sink)
            .await
            .unwrap();
    assert_eq!(opened.size_bytes, size);
    assert_eq!(sink.1, size);
    assert_eq!(sha2::Digest::finalize(sink.0), expected_sha256);

    // Cut after the second chunk's record, where the format alone sees nothing wrong.
    let object = only_file_ending(&root.join("cases"), ".ods");
    let file = std::fs::OpenOptions::new().write(true).open(&object).unwrap();
    file.set_len(14 + 2 * (4 + DOCUMENT_CHUNK_SIZE as u64 + 16)).unwrap();
    drop(file);
    let err = open_document(&store, CASE, "medical_record", &sealed.content_hash, &applicant)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DoesNotMatch { .. }), "{err}");
    assert!(err.to_string().starts_with("document \"medical_record\" of case"), "{err}");
}

#[tokio::test]
async fn a_memory_store_works_the_same() {
    let store = SealedStore::from_url("memory://", &[]).unwrap();
    let applicant = keys();
    let plaintext = bank_card();
    let sealed = case_docs::seal_document(
        &store,
        CASE,
        "bank_card",
        &plaintext,
        &[Recipient::of(&applicant)],
    )
    .await
    .unwrap();
    let opened =
        open_document(&store, CASE, "bank_card", &sealed.content_hash, &applicant).await.unwrap();
    assert_eq!(opened, plaintext);
}
