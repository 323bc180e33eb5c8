//! Case documents in a memory store: names and ids, the content hash rule,
//! recipients, keys that cannot be moved, and manifests that do not fit.

use access_control::keys::KeyPair;

use super::*;

const CASE: &str = "c-0123456789abcdef0123456789abcdef";
const OTHER_CASE: &str = "c-fedcba9876543210fedcba9876543210";

fn store() -> SealedStore {
    SealedStore::from_url("memory://", &[]).unwrap()
}

fn keys() -> KeyPair {
    KeyPair::generate().unwrap()
}

#[test]
fn case_ids_and_names_are_checked() {
    let too_long = "x".repeat(65);
    let longest = "x".repeat(64);
    for bad in [
        "",
        "c-",
        "c-0123",
        "C-0123456789abcdef0123456789abcdef",
        "c-0123456789ABCDEF0123456789abcdef",
        "c-0123456789abcdef0123456789abcdef0",
    ] {
        let err = document_ref(bad, "form").unwrap_err();
        assert!(matches!(err, Error::InvalidCaseId { .. }), "{bad}: {err}");
    }
    for bad in ["", ".hidden", "_x", "Bank", "a/b", "a b", "..", too_long.as_str()] {
        let err = document_ref(CASE, bad).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{bad}: {err}");
    }
    for good in ["bank_card", "id-card.front", "0", longest.as_str()] {
        assert!(document_ref(CASE, good).is_ok(), "{good}");
    }
    let document = document_ref(CASE, "bank_card").unwrap();
    assert_eq!(document.to_string(), format!("document \"bank_card\" of case {CASE}"));
}

#[test]
fn the_content_hash_is_the_ods_hash_with_4_mib_chunks() {
    // Empty: the SHA-256 of the empty string.
    assert_eq!(hex::encode(document_hash(b"")), hex::encode(Sha256::digest(b"")));
    // One chunk: the RFC 6962 leaf hash of the plaintext's SHA-256.
    let digest: [u8; 32] = Sha256::digest(b"form").into();
    let leaf: [u8; 32] = Sha256::new().chain_update([0u8]).chain_update(digest).finalize().into();
    assert_eq!(document_hash(b"form"), leaf);
    // Two chunks: an interior node over both leaves.
    let plaintext = vec![7u8; DOCUMENT_CHUNK_SIZE + 1];
    let leaves: Vec<[u8; 32]> = plaintext
        .chunks(DOCUMENT_CHUNK_SIZE)
        .map(|chunk| {
            let digest: [u8; 32] = Sha256::digest(chunk).into();
            Sha256::new().chain_update([0u8]).chain_update(digest).finalize().into()
        })
        .collect();
    let root: [u8; 32] = Sha256::new()
        .chain_update([1u8])
        .chain_update(leaves[0])
        .chain_update(leaves[1])
        .finalize()
        .into();
    assert_eq!(document_hash(&plaintext), root);
}

#[tokio::test]
async fn small_and_streamed_seals_agree_and_open() {
    let store = store();
    let applicant = keys();
    let plaintext = br#"{"household_members":3}"#.to_vec();
    let small = seal_document(&store, CASE, "form", &plaintext, &[Recipient::of(&applicant)])
        .await
        .unwrap();
    assert_eq!(small.content_hash, document_hash(&plaintext));
    assert_eq!(small.size_bytes, plaintext.len() as u64);
    assert_eq!(small.name, "form");
    let streamed = seal_document_from_reader(
        &store,
        OTHER_CASE,
        "form",
        std::io::Cursor::new(plaintext.clone()),
        &[Recipient::of(&applicant)],
    )
    .await
    .unwrap();
    assert_eq!(streamed, small);
    for case_id in [CASE, OTHER_CASE] {
        let opened =
            open_document(&store, case_id, "form", &small.content_hash, &applicant).await.unwrap();
        assert_eq!(opened, plaintext);
    }
    // An empty document is a document too.
    let empty =
        seal_document(&store, CASE, "notes", b"", &[Recipient::of(&applicant)]).await.unwrap();
    assert_eq!(empty.size_bytes, 0);
    let opened = open_document(&store, CASE, "notes", &empty.content_hash, &applicant).await;
    assert_eq!(opened.unwrap(), b"");
}

#[tokio::test]
async fn recipients_are_checked() {
    let store = store();
    let alice = keys();
    let err = seal_document(&store, CASE, "form", b"x", &[]).await.unwrap_err();
    assert!(matches!(err, Error::NoRecipients { .. }), "{err}");
    assert!(err.to_string().contains("\"form\" of case c-0123"), "{err}");

    let impostor = Recipient {
        encryption_public_key: keys().encryption_public_key(),
        ..Recipient::of(&alice)
    };
    let err = seal_document(&store, CASE, "form", b"x", &[Recipient::of(&alice), impostor])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConflictingRecipient { .. }), "{err}");

    let zero = Recipient { address: keys().address(), encryption_public_key: [0; 32] };
    let err = seal_document(&store, CASE, "form", b"x", &[Recipient::of(&alice), zero.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::RecipientKey { address, .. } if *address == zero.address),
        "{err}"
    );
    // A listed twice with the same key is listed once.
    let sealed =
        seal_document(&store, CASE, "form", b"x", &[Recipient::of(&alice), Recipient::of(&alice)])
            .await
            .unwrap();
    assert_eq!(
        open_document(&store, CASE, "form", &sealed.content_hash, &alice).await.unwrap(),
        b"x"
    );
}

#[tokio::test]
async fn the_same_content_is_sealed_once_per_name() {
    let store = store();
    let alice = keys();
    let to = [Recipient::of(&alice)];
    let sealed = seal_document(&store, CASE, "photo", b"jpeg", &to).await.unwrap();
    let err = seal_document(&store, CASE, "photo", b"jpeg", &to).await.unwrap_err();
    assert!(
        matches!(&err, Error::AlreadySealed { content_hash, .. } if *content_hash == sealed.content_hash),
        "{err}"
    );
    let err =
        seal_document_from_reader(&store, CASE, "photo", &b"jpeg"[..], &to).await.unwrap_err();
    assert!(matches!(err, Error::AlreadySealed { .. }), "{err}");
    // Another name, or new content under the same name (a supplement), is another document.
    assert!(seal_document(&store, CASE, "photo-2", b"jpeg", &to).await.is_ok());
    let newer = seal_document(&store, CASE, "photo", b"jpeg, retaken", &to).await.unwrap();
    assert_eq!(
        open_document(&store, CASE, "photo", &newer.content_hash, &alice).await.unwrap(),
        b"jpeg, retaken"
    );
    assert_eq!(
        open_document(&store, CASE, "photo", &sealed.content_hash, &alice).await.unwrap(),
        b"jpeg"
    );
}

#[tokio::test]
async fn a_wrapped_key_cannot_be_moved_to_another_identity_or_document() {
    let store = store();
    let alice = keys();
    let mallory = keys();
    let first = seal_document(
        &store,
        CASE,
        "bank_card",
        b"first",
        &[Recipient::of(&alice), Recipient::of(&mallory)],
    )
    .await
    .unwrap();
    let second =
        seal_document(&store, CASE, "medical", b"second", &[Recipient::of(&alice)]).await.unwrap();
    let first_ref = document_ref(CASE, "bank_card").unwrap();
    let second_ref = document_ref(CASE, "medical").unwrap();
    let first_seal = load_manifest(&store, &first_ref, &first.content_hash).await.unwrap().seal_id;
    let second_seal =
        load_manifest(&store, &second_ref, &second.content_hash).await.unwrap().seal_id;
    // Mallory copies the key wrapped to them for the first document into the second one.
    let mallorys_key =
        store.get_small(&key_path(&first_ref, &first_seal, &mallory.address())).await.unwrap();
    store
        .put_small(&key_path(&second_ref, &second_seal, &mallory.address()), mallorys_key)
        .await
        .unwrap();
    let err =
        open_document(&store, CASE, "medical", &second.content_hash, &mallory).await.unwrap_err();
    assert!(matches!(err, Error::KeyDoesNotOpen { .. }), "{err}");
    assert!(err.to_string().contains("\"medical\" of case"), "{err}");
    // Alice's key copied to Mallory's address does not open for Mallory either.
    let alices_key =
        store.get_small(&key_path(&first_ref, &first_seal, &alice.address())).await.unwrap();
    let other = keys();
    store
        .put_small(&key_path(&first_ref, &first_seal, &other.address()), alices_key)
        .await
        .unwrap();
    let err =
        open_document(&store, CASE, "bank_card", &first.content_hash, &other).await.unwrap_err();
    assert!(matches!(err, Error::KeyDoesNotOpen { .. }), "{err}");
}

#[tokio::test]
async fn a_manifest_that_does_not_fit_names_the_document() {
    let store = store();
    let alice = keys();
    let to = [Recipient::of(&alice)];
    let real = seal_document(&store, CASE, "income", b"declared income", &to).await.unwrap();
    let document = document_ref(CASE, "income").unwrap();
    let manifest = store.get_small(&manifest_path(&document, &real.content_hash)).await.unwrap();

    // The real manifest put where another hash is looked up.
    let claimed = document_hash(b"another income");
    store.put_small(&manifest_path(&document, &claimed), manifest.clone()).await.unwrap();
    let err = open_document(&store, CASE, "income", &claimed, &alice).await.unwrap_err();
    assert!(matches!(err, Error::DoesNotMatch { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("document \"income\" of case {CASE} does not match its anchored hash")
    );

    // A manifest whose fields are changed to claim that hash: its chunk hashes do not give it.
    let mut forged: Manifest = serde_json::from_slice(&manifest).unwrap();
    forged.content_hash = hex::encode(document_hash(b"a third income"));
    let forged_hash = document_hash(b"a third income");
    store
        .put_small(
            &manifest_path(&document, &forged_hash),
            Bytes::from(serde_json::to_vec(&forged).unwrap()),
        )
        .await
        .unwrap();
    let err = open_document(&store, CASE, "income", &forged_hash, &alice).await.unwrap_err();
    assert!(matches!(err, Error::DoesNotMatch { .. }), "{err}");
    let detail = std::error::Error::source(&err).unwrap().to_string();
    assert!(detail.contains("content hash"), "{detail}");

    // The manifest of another case's document.
    let other = document_ref(OTHER_CASE, "income").unwrap();
    store.put_small(&manifest_path(&other, &real.content_hash), manifest).await.unwrap();
    let err =
        open_document(&store, OTHER_CASE, "income", &real.content_hash, &alice).await.unwrap_err();
    assert!(matches!(err, Error::DoesNotMatch { .. }), "{err}");
    assert_eq!(err.document(), Some(&other));

    // Garbage.
    let garbage = document_hash(b"garbage");
    store.put_small(&manifest_path(&document, &garbage), Bytes::from_static(b"{")).await.unwrap();
    let err = open_document(&store, CASE, "income", &garbage, &alice).await.unwrap_err();
    assert!(matches!(err, Error::DoesNotMatch { .. }), "{err}");
}

#[tokio::test]
async fn only_a_recipient_adds_recipients() {
    let store = store();
    let applicant = keys();
    let surveyor = keys();
    let accountant = keys();
    let outsider = keys();
    let sealed = seal_document(
        &store,
        CASE,
        "income",
        b"1200",
        &[Recipient::of(&applicant), Recipient::of(&surveyor)],
    )
    .await
    .unwrap();
    let hash = sealed.content_hash;
    let err = add_recipients(&store, CASE, "income", &hash, &outsider, &[Recipient::of(&outsider)])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NotARecipient { address, .. } if *address == outsider.address()),
        "{err}"
    );
    let err = open_document(&store, CASE, "income", &hash, &accountant).await.unwrap_err();
    assert!(matches!(err, Error::NotARecipient { .. }), "{err}");

    let added = add_recipients(
        &store,
        CASE,
        "income",
        &hash,
        &surveyor,
        &[Recipient::of(&accountant), Recipient::of(&applicant)],
    )
    .await
    .unwrap();
    assert_eq!(added, vec![accountant.address()]);
    assert_eq!(open_document(&store, CASE, "income", &hash, &accountant).await.unwrap(), b"1200");
    // Adding again changes nothing.
    let again =
        add_recipients(&store, CASE, "income", &hash, &accountant, &[Recipient::of(&accountant)])
            .await
            .unwrap();
    assert!(again.is_empty());
    let err = add_recipients(
        &store,
        CASE,
        "income",
        &document_hash(b"other"),
        &surveyor,
        &[Recipient::of(&outsider)],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::NotSealed { .. }), "{err}");
}
