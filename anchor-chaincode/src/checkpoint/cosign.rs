//! C2SP `tlog-cosignature` v1 with Ed25519 (signature type 0x04): the
//! cosigner key, its verifier key, the signed message, and the merging of
//! signature lines into an existing signed note.
//!
//! Followed byte for byte from <https://c2sp.org/tlog-cosignature> (the
//! "Ed25519 signed message" section of `tlog-cosignature` v1.0.0):
//!
//! - key ID: the first 4 bytes of
//!   `SHA-256(name || 0x0A || 0x04 || 32-byte Ed25519 public key)`;
//! - signature line: `— <name> base64(key ID || u64 timestamp, big-endian ||
//!   64-byte Ed25519 signature)`, 76 bytes before base64;
//! - signed message: `cosignature/v1\n`, then `time <timestamp>\n` with the
//!   timestamp in ASCII decimal without leading zeros, then the whole
//!   checkpoint body including its final newline and any extension lines,
//!   but no signature line;
//! - the timestamp is POSIX seconds and must not exceed 2^63 - 1.
//!
//! The timestamp is an input: this crate reads no clock, so the cosigner
//! passes the time it signs at and the verifier compares what it gets with
//! its own clock if it cares.
//!
//! The `signed_note` and `tlog_tiles` crates implement the same formats, but
//! they sign and verify with `ed25519-dalek` (and `signed_note` enables
//! `rand_core` for key generation), which would put a second Ed25519
//! implementation with other acceptance rules next to the ZIP-215 one
//! (`ed25519-zebra`) the rest of the ledger uses. The format is small, so it
//! is implemented here on the shared note parsing instead.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_zebra::{SigningKey, VerificationKey, VerificationKeyBytes};

use super::verifier::{
    NoteParts, RawVerifierKey, parse_signature_line, split_note, verify_ed25519,
};
use super::{
    Checkpoint, ED25519_SIGNATURE_LEN, MAX_NOTE_SIZE, MAX_SIGNATURES, NoteError, SIGNATURE_PREFIX,
    check_key_name, check_text, format_typed_vkey, typed_key_id,
};

/// The signed-note signature type identifier of Ed25519 `cosignature/v1`.
pub const COSIGNATURE_TYPE: u8 = 0x04;

/// The largest cosignature timestamp `tlog-cosignature` allows: 2^63 - 1.
pub const MAX_COSIGNATURE_TIMESTAMP: u64 = i64::MAX as u64;

/// The length of a cosignature before base64: key ID, timestamp, signature.
const COSIGNATURE_LEN: usize = 4 + 8 + ED25519_SIGNATURE_LEN;

/// Computes the key ID of an Ed25519 cosigner key: the first 4 bytes,
/// big-endian, of `SHA-256(name || 0x0A || 0x04 || public_key)`.
pub fn cosignature_key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    typed_key_id(name, COSIGNATURE_TYPE, public_key)
}

/// Returns the message an Ed25519 `cosignature/v1` signs:
/// `cosignature/v1\ntime <timestamp>\n` followed by the note text.
pub fn cosigned_message(timestamp: u64, text: &str) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{text}").into_bytes()
}

/// Checks that a timestamp is at most [`MAX_COSIGNATURE_TIMESTAMP`].
fn check_timestamp(timestamp: u64) -> Result<(), NoteError> {
    if timestamp > MAX_COSIGNATURE_TIMESTAMP {
        return Err(NoteError::InvalidTimestamp { timestamp });
    }
    Ok(())
}

/// An Ed25519 cosigner key with its name.
///
/// Its `Debug` output shows only the name and key ID, never the secret.
/// `cosignature/v1` does not sign the cosigner's name, so one key must
/// serve one name only.
pub struct CosignatureSigner {
    /// The key name.
    name: String,
    /// The cosignature key ID, computed from the name and public key.
    key_id: u32,
    /// The Ed25519 signing key.
    signing_key: SigningKey,
    /// The Ed25519 public key.
    public_key: [u8; 32],
}

impl fmt::Debug for CosignatureSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignatureSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl CosignatureSigner {
    /// Creates a cosigner from a key name and a 32-byte Ed25519 secret key (seed).
    pub fn new(name: &str, secret_key: [u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let signing_key = SigningKey::from(secret_key);
        let public_key: [u8; 32] = VerificationKeyBytes::from(&signing_key).into();
        Ok(Self {
            name: name.to_owned(),
            key_id: cosignature_key_id(name, &public_key),
            signing_key,
            public_key,
        })
    }

    /// Returns the key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the cosignature key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Returns the Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// Returns the matching trusted cosigner key.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            public_key: self.public_key,
        }
    }

    /// Returns the verifier key string to hand to verifiers.
    pub fn verifier_key(&self) -> String {
        format_typed_vkey(&self.name, self.key_id, COSIGNATURE_TYPE, &self.public_key)
    }

    /// Returns the cosignature line for `text` at `timestamp`, including its
    /// newline. The text is not checked.
    fn signature_line(&self, text: &str, timestamp: u64) -> String {
        let signature = self.signing_key.sign(&cosigned_message(timestamp, text));
        let mut raw = Vec::with_capacity(COSIGNATURE_LEN);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&signature.to_bytes());
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }

    /// Validates a checkpoint and returns its cosignature line at
    /// `timestamp` (POSIX seconds), including the newline.
    ///
    /// The caller is expected to have checked the checkpoint (its log
    /// signature, and its consistency with the largest one it cosigned)
    /// before it cosigns. Add the line to the note with [`add_signatures`].
    pub fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> Result<String, NoteError> {
        checkpoint.validate()?;
        check_timestamp(timestamp)?;
        Ok(self.signature_line(&checkpoint.body(), timestamp))
    }

    /// Cosigns the text of an existing signed note at `timestamp` and returns
    /// the note with the cosignature line added.
    ///
    /// The note's signatures are not verified here; the text must parse as a
    /// checkpoint body.
    pub fn cosign_note(&self, note: &str, timestamp: u64) -> Result<String, NoteError> {
        let parts = split_note(note)?;
        let checkpoint = Checkpoint::parse_body(parts.text)?;
        let line = self.cosign(&checkpoint, timestamp)?;
        add_signatures(note, &line)
    }
}

/// A trusted Ed25519 cosigner key: the parsed form of a type 0x04 verifier key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureVerifier {
    /// The key name, as written in cosignature lines.
    pub name: String,
    /// The cosignature key ID, as written in the first 4 bytes of each cosignature.
    pub key_id: u32,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
}

impl CosignatureVerifier {
    /// Builds a verifier from a name and a public key, computing the key ID.
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        if VerificationKey::try_from(public_key).is_err() {
            return Err(NoteError::InvalidPublicKey { name: name.to_owned() });
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: cosignature_key_id(name, &public_key),
            public_key,
        })
    }

    /// Parses a verifier key `<name>+<8 lower-case hex digits>+<base64(0x04 || key)>`.
    ///
    /// The key ID must be the hash of the name, type and key, and the key
    /// must be a valid Ed25519 point.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let raw = RawVerifierKey::split(vkey)?;
        if raw.signature_type != COSIGNATURE_TYPE {
            return Err(NoteError::WrongSignatureType {
                found: raw.signature_type,
                expected: COSIGNATURE_TYPE,
            });
        }
        let public_key = raw.ed25519_key(vkey)?;
        raw.check_key_id(&public_key)?;
        Self::from_public_key(raw.name, public_key)
    }

    /// Returns the verifier key string that [`CosignatureVerifier::parse`] reads.
    pub fn vkey(&self) -> String {
        format_typed_vkey(&self.name, self.key_id, COSIGNATURE_TYPE, &self.public_key)
    }

    /// Verifies the cosignature bytes after the key ID (timestamp and
    /// signature) over `text`, found on note line `line`, and returns the
    /// timestamp.
    pub(super) fn verify(
        &self,
        signature: &[u8],
        text: &str,
        line: usize,
    ) -> Result<u64, NoteError> {
        let invalid = |reason: String| NoteError::InvalidSignature {
            line,
            name: self.name.clone(),
            key_id: self.key_id,
            reason,
        };
        let Some((timestamp, signature)) = signature.split_first_chunk::<8>() else {
            return Err(invalid(format!(
                "the cosignature is {} bytes after the key ID, expected {}",
                signature.len(),
                COSIGNATURE_LEN - 4
            )));
        };
        let timestamp = u64::from_be_bytes(*timestamp);
        check_timestamp(timestamp).map_err(|e| invalid(e.to_string()))?;
        let message = cosigned_message(timestamp, text);
        verify_ed25519(&self.public_key, &self.name, self.key_id, signature, &message, line)?;
        Ok(timestamp)
    }
}

/// Adds signature lines to a signed note and returns the new note.
///
/// `signature_lines` is one or more `— <name> <base64>` lines, each ending in
/// a newline. Lines already in the note are not repeated. Every line must be
/// well formed; no signature is verified. The result must stay within
/// [`MAX_SIGNATURES`] and [`MAX_NOTE_SIZE`].
pub fn add_signatures(note: &str, signature_lines: &str) -> Result<String, NoteError> {
    let NoteParts { text, lines } = split_note(note)?;
    for &(number, line) in &lines {
        parse_signature_line(line, number)?;
    }
    check_text(signature_lines)?;
    let Some(added) = signature_lines.strip_suffix('\n') else {
        return Err(NoteError::MissingFinalNewline);
    };
    let mut all: Vec<&str> = lines.iter().map(|&(_, line)| line).collect();
    let first_new = lines.last().map_or(1, |&(number, _)| number + 1);
    for (i, line) in added.split('\n').enumerate() {
        parse_signature_line(line, first_new + i)?;
        if !all.contains(&line) {
            all.push(line);
        }
        if all.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures { count: all.len(), max: MAX_SIGNATURES });
        }
    }
    let mut merged = format!("{text}\n");
    for line in all {
        merged.push_str(line);
        merged.push('\n');
    }
    if merged.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge { size: merged.len(), max: MAX_NOTE_SIZE });
    }
    Ok(merged)
}

/// Merges two signed notes of the same text: the union of their signature
/// lines, those of `note` first, without duplicates.
///
/// No signature is verified; see [`add_signatures`] for the limits.
pub fn merge_notes(note: &str, other: &str) -> Result<String, NoteError> {
    let mine = split_note(note)?;
    let theirs = split_note(other)?;
    if mine.text != theirs.text {
        return Err(NoteError::TextMismatch);
    }
    add_signatures(note, &other[theirs.text.len() + 1..])
}
