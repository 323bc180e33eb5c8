//! The note signer: an Ed25519 key with its name, which signs checkpoints
//! and arbitrary note text.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_zebra::{SigningKey, VerificationKeyBytes};

use super::{
    Checkpoint, ED25519_SIGNATURE_LEN, MAX_NOTE_SIZE, NoteError, NoteVerifier, SIGNATURE_PREFIX,
    check_key_name, check_text, format_vkey, key_id,
};

/// An Ed25519 note signing key with its name.
///
/// Its `Debug` output shows only the name and key ID, never the secret.
pub struct NoteSigner {
    /// The key name.
    name: String,
    /// The key ID, computed from the name and public key.
    key_id: u32,
    /// The Ed25519 signing key.
    signing_key: SigningKey,
    /// The Ed25519 public key.
    public_key: [u8; 32],
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// Creates a signer from a key name and a 32-byte Ed25519 secret key (seed).
    pub fn new(name: &str, secret_key: [u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let signing_key = SigningKey::from(secret_key);
        let public_key: [u8; 32] = VerificationKeyBytes::from(&signing_key).into();
        Ok(Self {
            name: name.to_owned(),
            key_id: key_id(name, &public_key),
            signing_key,
            public_key,
        })
    }

    /// Returns the key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Returns the Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// Returns the matching trusted key.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), key_id: self.key_id, public_key: self.public_key }
    }

    /// Returns the verifier key string to hand to verifiers.
    pub fn verifier_key(&self) -> String {
        format_vkey(&self.name, self.key_id, &self.public_key)
    }

    /// Returns the signature line for `text`, including its newline.
    pub(super) fn signature_line(&self, text: &str) -> String {
        let signature = self.signing_key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(4 + ED25519_SIGNATURE_LEN);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&signature.to_bytes());
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }

    /// Signs a checkpoint and returns the whole signed note.
    ///
    /// The checkpoint is not validated: one that [`Checkpoint::validate`]
    /// rejects gives a note that [`open_checkpoint`](super::open_checkpoint) rejects. Use
    /// [`NoteSigner::try_sign`] to get an error instead.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let line = self.signature_line(&body);
        format!("{body}\n{line}")
    }

    /// Validates a checkpoint, then signs it and returns the whole signed note.
    pub fn try_sign(&self, checkpoint: &Checkpoint) -> Result<String, NoteError> {
        checkpoint.validate()?;
        self.sign_note(&checkpoint.body())
    }

    /// Signs arbitrary note text and returns the whole signed note.
    ///
    /// The text must end with a newline, contain no control character other
    /// than newline, and leave the signed note within [`MAX_NOTE_SIZE`].
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        if !text.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline);
        }
        let note = format!("{text}\n{}", self.signature_line(text));
        if note.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge { size: note.len(), max: MAX_NOTE_SIZE });
        }
        Ok(note)
    }
}
