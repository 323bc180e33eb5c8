//! Signed checkpoints: C2SP `tlog-checkpoint` bodies in C2SP `signed-note`
//! envelopes, signed with Ed25519.
//!
//! The formats follow <https://c2sp.org/tlog-checkpoint> and
//! <https://c2sp.org/signed-note>, so that standard verifiers such as Go's
//! `golang.org/x/mod/sumdb/note` accept the notes produced here, and notes
//! produced by them open here.
//!
//! # Checkpoint body
//!
//! ```text
//! <origin>\n
//! <tree size in decimal>\n
//! <base64 root hash>\n
//! [<extension line>\n]...
//! ```
//!
//! The origin is non-empty. The tree size is ASCII decimal with no sign and no
//! leading zeros (`0` for the empty tree) and fits in a `u64`. The root hash is
//! the 32-byte RFC 6962 root (see [`crate::merkle`]) in standard, padded
//! base64 (RFC 4648 §4), always 44 characters. Extension lines are optional,
//! opaque and non-empty.
//!
//! # Signed note
//!
//! ```text
//! <text, ending in \n>
//! \n
//! — <key name> <base64(key ID || signature)>\n
//! [— <key name> <base64(key ID || signature)>\n]...
//! ```
//!
//! Each signature line starts with U+2014 EM DASH (bytes `e2 80 94`) and a
//! space. The key ID is 4 bytes, a big-endian `u32`; for Ed25519 the
//! signature is the 64-byte RFC 8032 signature of the text bytes, including
//! the text's final newline but not the blank line. The text is separated
//! from the signatures by the last blank line of the note.
//!
//! # Keys
//!
//! - Key ID: the first 4 bytes, as a big-endian `u32`, of
//!   `SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)`.
//! - Verifier key (vkey):
//!   `<key name>+<key ID as 8 lower-case hex digits>+<base64(0x01 || public key)>`.
//! - Key names are non-empty and contain no Unicode whitespace, no `+` and no
//!   control characters.
//!
//! # Strictness
//!
//! Parsing rejects notes and bodies over [`MAX_NOTE_SIZE`] bytes, notes with
//! more than [`MAX_SIGNATURES`] signature lines, any control character other
//! than newline (this includes tab, carriage return and DEL), a missing final
//! newline, non-canonical decimal sizes, base64 that is not canonical padded
//! standard base64, and root hashes that are not 32 bytes. Signatures by keys
//! that are not trusted are ignored. Every signature by a trusted key (same
//! name and key ID) must verify, and at least one must be present.
//!
//! Signatures are checked with `ed25519-zebra`, which applies the ZIP-215
//! rules used elsewhere in the ledger. Every signature a standard RFC 8032
//! verifier accepts is accepted; the only extra signatures ZIP-215 accepts are
//! ones that the holder of the private key deliberately crafts.
//!
//! Everything here is pure and deterministic: no I/O, no clock, no
//! randomness, and no panics on any input.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_zebra::{Signature, SigningKey, VerificationKey, VerificationKeyBytes};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The largest note, or checkpoint body, accepted or produced: 1 MiB.
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// The largest number of signature lines accepted in one note.
pub const MAX_SIGNATURES: usize = 100;

/// The signed-note signature type identifier of Ed25519.
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;

/// The start of every signature line: U+2014 EM DASH and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The length of an Ed25519 signature.
const ED25519_SIGNATURE_LEN: usize = 64;

/// The longest excerpt of untrusted input quoted in an error message, in characters.
const EXCERPT_CHARS: usize = 64;

/// Why a checkpoint, note, key or signature is rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note or body exceeds [`MAX_NOTE_SIZE`].
    #[error("text is {size} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// The size of the input in bytes.
        size: usize,
        /// The limit, [`MAX_NOTE_SIZE`].
        max: usize,
    },
    /// A control character other than newline appears.
    #[error("line {line} contains the control character U+{code:04X}")]
    ControlCharacter {
        /// The 1-based line number.
        line: usize,
        /// The offending code point.
        code: u32,
    },
    /// The text does not end with a newline.
    #[error("text does not end with a newline")]
    MissingFinalNewline,
    /// No blank line separates the text from the signatures.
    #[error("note has no blank line separating the text from the signatures")]
    MissingBlankLine,
    /// Nothing follows the blank line.
    #[error("note has no signature lines after the blank line")]
    NoSignatures,
    /// The note has more than [`MAX_SIGNATURES`] signature lines.
    #[error("note has {count} signature lines, more than the limit of {max}")]
    TooManySignatures {
        /// The number of signature lines.
        count: usize,
        /// The limit, [`MAX_SIGNATURES`].
        max: usize,
    },
    /// A signature line does not have the `— <name> <base64>` form.
    #[error("signature line {line} is malformed: {reason}")]
    MalformedSignatureLine {
        /// The 1-based line number within the note.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A signature by a trusted key does not verify.
    #[error("signature on line {line} by trusted key {name}+{key_id:08x} is invalid: {reason}")]
    InvalidSignature {
        /// The 1-based line number within the note.
        line: usize,
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
        /// Why it does not verify.
        reason: String,
    },
    /// The trusted keys hold two different public keys with the same name and key ID.
    #[error("the trusted keys hold two different public keys for {name}+{key_id:08x}")]
    AmbiguousKey {
        /// The shared key name.
        name: String,
        /// The shared key ID.
        key_id: u32,
    },
    /// No signature in the note is by a trusted key.
    #[error("note has {signatures} signature(s) but none by a trusted key")]
    NoTrustedSignature {
        /// The number of signature lines in the note.
        signatures: usize,
    },
    /// The checkpoint body has fewer than three lines.
    #[error("checkpoint has {found} line(s), expected at least 3 (origin, tree size, root hash)")]
    TooFewLines {
        /// The number of lines found.
        found: usize,
    },
    /// The checkpoint origin line is empty.
    #[error("checkpoint origin line is empty")]
    EmptyOrigin,
    /// The tree size is not canonical decimal or does not fit in a `u64`.
    #[error("tree size {text:?} is not a decimal number without sign or leading zeros below 2^64")]
    InvalidTreeSize {
        /// An excerpt of the tree size line.
        text: String,
    },
    /// The root hash line is not canonical padded standard base64.
    #[error("root hash {text:?} is not canonical padded standard base64: {detail}")]
    InvalidRootHashEncoding {
        /// An excerpt of the root hash line.
        text: String,
        /// The decoder's complaint.
        detail: String,
    },
    /// The root hash does not decode to 32 bytes.
    #[error("root hash is {len} bytes, expected 32")]
    RootHashLength {
        /// The decoded length.
        len: usize,
    },
    /// An extension line of the checkpoint is empty.
    #[error("checkpoint line {line} is an empty extension line")]
    EmptyExtensionLine {
        /// The 1-based line number within the body.
        line: usize,
    },
    /// A key name is empty or contains whitespace, `+` or a control character.
    #[error("key name {name:?} {reason}")]
    InvalidKeyName {
        /// An excerpt of the name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A verifier key does not have the `<name>+<hex id>+<base64 key>` form.
    #[error("verifier key {vkey:?} is malformed: {reason}")]
    MalformedVerifierKey {
        /// An excerpt of the verifier key.
        vkey: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A verifier key names a signature type other than Ed25519.
    #[error("verifier key has signature type 0x{found:02x}, only Ed25519 (0x01) is supported")]
    UnsupportedSignatureType {
        /// The signature type byte found.
        found: u8,
    },
    /// A verifier key's stated key ID is not the hash of its name and key.
    #[error(
        "verifier key for {name} states key ID {stated:08x}, but its name and key hash to {computed:08x}"
    )]
    KeyIdMismatch {
        /// The key name.
        name: String,
        /// The key ID written in the verifier key.
        stated: u32,
        /// The key ID computed from the name and public key.
        computed: u32,
    },
    /// A public key is not a valid Ed25519 point encoding.
    #[error("public key of {name} is not a valid Ed25519 point")]
    InvalidPublicKey {
        /// The key name.
        name: String,
    },
    /// A line of a trusted-keys list is rejected.
    #[error("trusted keys line {line}: {source}")]
    TrustedKeyLine {
        /// The 1-based line number.
        line: usize,
        /// Why the line is rejected.
        source: Box<NoteError>,
    },
}

/// Returns at most [`EXCERPT_CHARS`] characters of `text`, marking a cut with `…`.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Rejects text over [`MAX_NOTE_SIZE`] bytes or with a control character
/// other than newline.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_SIZE {
        return Err(NoteError::TooLarge { size: text.len(), max: MAX_NOTE_SIZE });
    }
    let mut line = 1;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        } else if c.is_control() {
            return Err(NoteError::ControlCharacter { line, code: u32::from(c) });
        }
    }
    Ok(())
}

/// Checks the signed-note rules for key names: non-empty, with no Unicode
/// whitespace, no `+` and no control characters.
fn check_key_name(name: &str) -> Result<(), NoteError> {
    let reason = if name.is_empty() {
        "is empty"
    } else if name.chars().any(char::is_whitespace) {
        "contains whitespace"
    } else if name.contains('+') {
        "contains '+'"
    } else if name.chars().any(char::is_control) {
        "contains a control character"
    } else {
        return Ok(());
    };
    Err(NoteError::InvalidKeyName { name: excerpt(name), reason })
}

/// Computes the signed-note key ID of an Ed25519 key: the first 4 bytes,
/// big-endian, of `SHA-256(name || 0x0A || 0x01 || public_key)`.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519_SIGNATURE_TYPE]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Formats a verifier key: `<name>+<8 hex digits>+<base64(0x01 || public key)>`.
fn format_vkey(name: &str, key_id: u32, public_key: &[u8; 32]) -> String {
    let mut typed = Vec::with_capacity(33);
    typed.push(ED25519_SIGNATURE_TYPE);
    typed.extend_from_slice(public_key);
    format!("{name}+{key_id:08x}+{}", STANDARD.encode(typed))
}

/// A transparency-log checkpoint: the signed statement of a log's size and root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, for example `cairn.local/chain-1`; non-empty.
    pub origin: String,
    /// The number of leaves in the log.
    pub size: u64,
    /// The RFC 6962 root of the first `size` leaves.
    pub root: Hash,
    /// Optional extension lines, without their newlines; each non-empty.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// Returns the checkpoint body: origin, size, base64 root and extension
    /// lines, each followed by a newline.
    ///
    /// The fields are not checked; see [`Checkpoint::validate`].
    pub fn body(&self) -> String {
        let mut body = format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root));
        for extension in &self.extensions {
            body.push_str(extension);
            body.push('\n');
        }
        body
    }

    /// Checks that [`Checkpoint::body`] gives text that
    /// [`Checkpoint::parse_body`] turns back into this same checkpoint.
    ///
    /// The origin and extension lines must be non-empty and free of control
    /// characters, newline included, and the body must fit in
    /// [`MAX_NOTE_SIZE`].
    pub fn validate(&self) -> Result<(), NoteError> {
        if self.origin.is_empty() {
            return Err(NoteError::EmptyOrigin);
        }
        let lines = std::iter::once((1, self.origin.as_str()))
            .chain(self.extensions.iter().enumerate().map(|(i, e)| (i + 4, e.as_str())));
        for (line, text) in lines {
            if text.is_empty() {
                return Err(NoteError::EmptyExtensionLine { line });
            }
            if let Some(c) = text.chars().find(|c| c.is_control()) {
                return Err(NoteError::ControlCharacter { line, code: u32::from(c) });
            }
        }
        let size = self.body().len();
        if size > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge { size, max: MAX_NOTE_SIZE });
        }
        Ok(())
    }

    /// Parses a checkpoint body strictly.
    ///
    /// This only parses; it does not check any signature. Use
    /// [`open_checkpoint`] on a signed note.
    pub fn parse_body(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        let Some(content) = text.strip_suffix('\n') else {
            return Err(NoteError::MissingFinalNewline);
        };
        let lines: Vec<&str> = content.split('\n').collect();
        let [origin, size, root, extensions @ ..] = lines.as_slice() else {
            return Err(NoteError::TooFewLines { found: lines.len() });
        };
        if origin.is_empty() {
            return Err(NoteError::EmptyOrigin);
        }
        let size = parse_tree_size(size)?;
        let root = parse_root_hash(root)?;
        if let Some(i) = extensions.iter().position(|e| e.is_empty()) {
            return Err(NoteError::EmptyExtensionLine { line: i + 4 });
        }
        Ok(Self {
            origin: (*origin).to_owned(),
            size,
            root,
            extensions: extensions.iter().map(|e| (*e).to_owned()).collect(),
        })
    }
}

/// Parses a canonical decimal tree size: digits only, no leading zeros
/// except for `0` itself, at most `u64::MAX`.
fn parse_tree_size(text: &str) -> Result<u64, NoteError> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    match text.parse::<u64>() {
        Ok(size) if canonical => Ok(size),
        _ => Err(NoteError::InvalidTreeSize { text: excerpt(text) }),
    }
}

/// Parses a root hash: canonical padded standard base64 of exactly 32 bytes.
fn parse_root_hash(text: &str) -> Result<Hash, NoteError> {
    let bytes = STANDARD.decode(text).map_err(|e| NoteError::InvalidRootHashEncoding {
        text: excerpt(text),
        detail: e.to_string(),
    })?;
    let len = bytes.len();
    Hash::try_from(bytes).map_err(|_| NoteError::RootHashLength { len })
}

/// A trusted Ed25519 note key: the parsed form of a verifier key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    /// The key name, as written in signature lines.
    pub name: String,
    /// The key ID, as written in the first 4 bytes of each signature.
    pub key_id: u32,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
}

impl NoteVerifier {
    /// Builds a verifier from a name and a public key, computing the key ID.
    pub fn from_public_key(name: &str, public_key: [u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        if VerificationKey::try_from(public_key).is_err() {
            return Err(NoteError::InvalidPublicKey { name: name.to_owned() });
        }
        Ok(Self { name: name.to_owned(), key_id: key_id(name, &public_key), public_key })
    }

    /// Parses a verifier key `<name>+<8 lower-case hex digits>+<base64(0x01 || key)>`.
    ///
    /// The key ID must be the hash of the name and key, and the key must be a
    /// valid Ed25519 point.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let malformed = |reason: &str| NoteError::MalformedVerifierKey {
            vkey: excerpt(vkey),
            reason: reason.to_owned(),
        };
        let Some((name, rest)) = vkey.split_once('+') else {
            return Err(malformed("it has no '+' after the key name"));
        };
        check_key_name(name)?;
        let Some((id_hex, key_b64)) = rest.split_once('+') else {
            return Err(malformed("it has no '+' after the key ID"));
        };
        let id_is_canonical = id_hex.len() == 8
            && id_hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let stated = match u32::from_str_radix(id_hex, 16) {
            Ok(id) if id_is_canonical => id,
            _ => return Err(malformed("the key ID is not 8 lower-case hex digits")),
        };
        let typed = STANDARD.decode(key_b64).map_err(|e| {
            malformed(&format!("the key is not canonical padded standard base64: {e}"))
        })?;
        let Some((&signature_type, key)) = typed.split_first() else {
            return Err(malformed("the key is empty"));
        };
        if signature_type != ED25519_SIGNATURE_TYPE {
            return Err(NoteError::UnsupportedSignatureType { found: signature_type });
        }
        let Ok(public_key) = <[u8; 32]>::try_from(key) else {
            return Err(malformed(&format!("the Ed25519 key is {} bytes, expected 32", key.len())));
        };
        let computed = key_id(name, &public_key);
        if computed != stated {
            return Err(NoteError::KeyIdMismatch { name: name.to_owned(), stated, computed });
        }
        Self::from_public_key(name, public_key)
    }

    /// Returns the verifier key string that [`NoteVerifier::parse`] reads.
    pub fn vkey(&self) -> String {
        format_vkey(&self.name, self.key_id, &self.public_key)
    }
}

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
    fn signature_line(&self, text: &str) -> String {
        let signature = self.signing_key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(4 + ED25519_SIGNATURE_LEN);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&signature.to_bytes());
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(raw))
    }

    /// Signs a checkpoint and returns the whole signed note.
    ///
    /// The checkpoint is not validated: one that [`Checkpoint::validate`]
    /// rejects gives a note that [`open_checkpoint`] rejects. Use
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

/// Parses a trusted-keys list: one verifier key per line, with
/// blank lines and lines starting with `#` ignored.
///
/// Surrounding whitespace on each line is ignored. Two different keys with
/// the same name and key ID are rejected, since signatures could not tell
/// them apart. Errors name the 1-based line number.
pub fn parse_trusted_keys(text: &str) -> Result<Vec<NoteVerifier>, NoteError> {
    let mut keys: Vec<NoteVerifier> = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let wrap =
            |e: NoteError| NoteError::TrustedKeyLine { line: line_number, source: Box::new(e) };
        let key = NoteVerifier::parse(line).map_err(wrap)?;
        match keys.iter().find(|k| k.name == key.name && k.key_id == key.key_id) {
            Some(existing) if existing.public_key != key.public_key => {
                return Err(wrap(NoteError::AmbiguousKey { name: key.name, key_id: key.key_id }));
            }
            Some(_) => {}
            None => keys.push(key),
        }
    }
    Ok(keys)
}

/// One parsed signature line.
struct SignatureLine<'a> {
    /// The key name.
    name: &'a str,
    /// The key ID.
    key_id: u32,
    /// The signature bytes after the key ID.
    signature: Vec<u8>,
}

/// Parses `— <name> <base64(key ID || signature)>` (without its newline).
fn parse_signature_line(line: &str, line_number: usize) -> Result<SignatureLine<'_>, NoteError> {
    let malformed =
        |reason: String| NoteError::MalformedSignatureLine { line: line_number, reason };
    let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
        return Err(malformed("it does not start with an em dash (U+2014) and a space".to_owned()));
    };
    let Some((name, encoded)) = rest.split_once(' ') else {
        return Err(malformed("it has no space between the key name and the signature".to_owned()));
    };
    check_key_name(name).map_err(|e| malformed(e.to_string()))?;
    if encoded.is_empty() {
        return Err(malformed("the signature is empty".to_owned()));
    }
    let raw = STANDARD.decode(encoded).map_err(|e| {
        malformed(format!("the signature is not canonical padded standard base64: {e}"))
    })?;
    match raw.split_first_chunk::<4>() {
        Some((id, signature)) if !signature.is_empty() => Ok(SignatureLine {
            name,
            key_id: u32::from_be_bytes(*id),
            signature: signature.to_vec(),
        }),
        _ => Err(malformed(format!(
            "the signature is {} bytes, expected a 4-byte key ID and at least 1 signature byte",
            raw.len()
        ))),
    }
}

/// Looks up the trusted key with this name and key ID.
fn find_trusted<'a>(
    trusted: &'a [NoteVerifier],
    name: &str,
    key_id: u32,
) -> Result<Option<&'a NoteVerifier>, NoteError> {
    let mut matches = trusted.iter().filter(|v| v.name == name && v.key_id == key_id);
    let Some(first) = matches.next() else {
        return Ok(None);
    };
    if matches.any(|other| other.public_key != first.public_key) {
        return Err(NoteError::AmbiguousKey { name: name.to_owned(), key_id });
    }
    Ok(Some(first))
}

/// Checks one Ed25519 signature of `text` by a trusted key.
fn verify_signature(
    key: &NoteVerifier,
    signature: &[u8],
    text: &str,
    line: usize,
) -> Result<(), NoteError> {
    let invalid = |reason: String| NoteError::InvalidSignature {
        line,
        name: key.name.clone(),
        key_id: key.key_id,
        reason,
    };
    let Ok(bytes) = <[u8; ED25519_SIGNATURE_LEN]>::try_from(signature) else {
        return Err(invalid(format!(
            "the signature is {} bytes, expected {ED25519_SIGNATURE_LEN}",
            signature.len()
        )));
    };
    let Ok(public_key) = VerificationKey::try_from(key.public_key) else {
        return Err(invalid("the trusted public key is not a valid Ed25519 point".to_owned()));
    };
    public_key
        .verify(&Signature::from_bytes(&bytes), text.as_bytes())
        .map_err(|_| invalid("Ed25519 verification failed".to_owned()))
}

/// Verifies a signed note and returns its text, including the final newline.
///
/// Signatures by keys not in `trusted` are ignored. Every signature by a
/// trusted key (same name and key ID) must verify, and at least one must be
/// present.
pub fn open_note(note: &str, trusted: &[NoteVerifier]) -> Result<String, NoteError> {
    check_text(note)?;
    if !note.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    let Some(split) = note.rfind("\n\n") else {
        return Err(NoteError::MissingBlankLine);
    };
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    let Some(signatures) = signatures.strip_suffix('\n') else {
        return Err(NoteError::NoSignatures);
    };
    let count = signatures.split('\n').count();
    if count > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures { count, max: MAX_SIGNATURES });
    }
    // The text has one line per newline, then comes the blank line.
    let first_line = text.matches('\n').count() + 2;
    let mut verified = 0usize;
    for (i, line) in signatures.split('\n').enumerate() {
        let line_number = first_line + i;
        let parsed = parse_signature_line(line, line_number)?;
        let Some(key) = find_trusted(trusted, parsed.name, parsed.key_id)? else {
            continue;
        };
        verify_signature(key, &parsed.signature, text, line_number)?;
        verified += 1;
    }
    if verified == 0 {
        return Err(NoteError::NoTrustedSignature { signatures: count });
    }
    Ok(text.to_owned())
}

/// Verifies a signed checkpoint note, then parses its body.
pub fn open_checkpoint(note: &str, trusted: &[NoteVerifier]) -> Result<Checkpoint, NoteError> {
    let body = open_note(note, trusted)?;
    Checkpoint::parse_body(&body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{MerkleLog, leaf_hash};
    use proptest::prelude::*;

    /// The example verifier key from the documentation of Go's
    /// `golang.org/x/mod/sumdb/note` package.
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    /// The matching signer key from the same documentation; its base64 part is
    /// `0x01 || 32-byte Ed25519 seed`.
    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";

    /// The example note text from the same documentation.
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";

    /// The example signed note from the same documentation.
    const GO_NOTE: &str = "If you think cryptography is the answer to your problem,\n\
        then you don't know what your problem is.\n\
        \n\
        \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    /// The second signature line of the documentation's doubly-signed example,
    /// by a key whose verifier key is not published.
    const GO_ENOCH_LINE: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::new(name, [seed; 32]).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        let mut log = MerkleLog::new();
        for i in 0..13u32 {
            log.push(leaf_hash(&i.to_be_bytes()));
        }
        Checkpoint {
            origin: "cairn.example/chain-1".to_owned(),
            size: log.size(),
            root: log.root(),
            extensions: vec!["height 42".to_owned(), "ext ✓ two".to_owned()],
        }
    }

    /// Appends `signer`'s signature line for the note's text to the note.
    fn cosign(note: &str, signer: &NoteSigner) -> String {
        let split = note.rfind("\n\n").unwrap();
        format!("{note}{}", signer.signature_line(&note[..=split]))
    }

    fn go_seed() -> [u8; 32] {
        // The base64 part may itself contain '+', so split off exactly four fields.
        let encoded = GO_SKEY.splitn(5, '+').nth(4).unwrap();
        let raw = STANDARD.decode(encoded).unwrap();
        assert_eq!(raw[0], ED25519_SIGNATURE_TYPE);
        raw[1..].try_into().unwrap()
    }

    #[test]
    fn round_trip() {
        let log_signer = signer("cairn.example/chain-1", 7);
        let cp = checkpoint();
        let note = log_signer.sign(&cp);
        assert_eq!(note, log_signer.try_sign(&cp).unwrap());
        assert!(note.starts_with(&cp.body()));
        assert_eq!(Checkpoint::parse_body(&cp.body()).unwrap(), cp);

        let vkey = log_signer.verifier_key();
        let verifier = NoteVerifier::parse(&vkey).unwrap();
        assert_eq!(verifier, log_signer.verifier());
        assert_eq!(verifier.vkey(), vkey);
        assert_eq!(verifier.key_id, log_signer.key_id());
        assert_eq!(verifier.key_id, key_id(log_signer.name(), &log_signer.public_key()));
        assert_eq!(
            NoteVerifier::from_public_key(log_signer.name(), log_signer.public_key()).unwrap(),
            verifier
        );
        assert!(vkey.starts_with(&format!("cairn.example/chain-1+{:08x}+A", log_signer.key_id())));

        assert_eq!(open_checkpoint(&note, std::slice::from_ref(&verifier)).unwrap(), cp);
        assert_eq!(open_note(&note, std::slice::from_ref(&verifier)).unwrap(), cp.body());

        // An empty log and a log without extensions round-trip as well.
        let empty = Checkpoint {
            origin: "o".to_owned(),
            size: 0,
            root: crate::merkle::empty_root(),
            extensions: Vec::new(),
        };
        assert_eq!(empty.body(), "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
        assert_eq!(open_checkpoint(&log_signer.sign(&empty), &[verifier]).unwrap(), empty);
    }

    #[test]
    fn golden_go_note() {
        let verifier = NoteVerifier::parse(GO_VKEY).unwrap();
        assert_eq!(verifier.name, "PeterNeumann");
        assert_eq!(verifier.key_id, 0xc74f20a3);
        assert_eq!(verifier.vkey(), GO_VKEY);
        let trusted = [verifier.clone()];
        assert_eq!(open_note(GO_NOTE, &trusted).unwrap(), GO_TEXT);

        // Ed25519 is deterministic, so our signer reproduces Go's note exactly.
        let go_signer = NoteSigner::new("PeterNeumann", go_seed()).unwrap();
        assert_eq!(go_signer.key_id(), 0xc74f20a3);
        assert_eq!(go_signer.verifier_key(), GO_VKEY);
        assert_eq!(go_signer.sign_note(GO_TEXT).unwrap(), GO_NOTE);

        // The doubly-signed example opens; the EnochRoot signature is unknown
        // and ignored, wherever it appears.
        let doubly = format!("{GO_NOTE}{GO_ENOCH_LINE}");
        assert_eq!(open_note(&doubly, &trusted).unwrap(), GO_TEXT);
        let reordered = format!("{GO_TEXT}\n{GO_ENOCH_LINE}{}", &GO_NOTE[GO_TEXT.len() + 1..]);
        assert_eq!(open_note(&reordered, &trusted).unwrap(), GO_TEXT);
        assert_eq!(
            open_note(&format!("{GO_TEXT}\n{GO_ENOCH_LINE}"), &trusted),
            Err(NoteError::NoTrustedSignature { signatures: 1 })
        );

        // A one-letter change to the text breaks the signature.
        let tampered = GO_NOTE.replace("cryptography", "cryptographY");
        assert!(matches!(
            open_note(&tampered, &trusted),
            Err(NoteError::InvalidSignature { line: 4, key_id: 0xc74f20a3, .. })
        ));
        // The note is not a checkpoint.
        assert_eq!(open_checkpoint(GO_NOTE, &trusted), Err(NoteError::TooFewLines { found: 2 }));
    }

    #[test]
    fn every_single_byte_change_is_caught() {
        let trusted_signer = signer("cairn.example/chain-1", 1);
        let other_signer = signer("witness.example/w1", 2);
        let cp = checkpoint();
        let note = cosign(&trusted_signer.sign(&cp), &other_signer);
        let trusted = [trusted_signer.verifier()];
        assert_eq!(open_checkpoint(&note, &trusted).unwrap(), cp);

        // Bytes from here on belong to the untrusted signature line.
        let untrusted_start = note.rfind('\u{2014}').unwrap();
        let bytes = note.as_bytes();
        let mut checked = 0;
        for i in 0..bytes.len() {
            for mask in [0x01u8, 0x02, 0x20, 0x40, 0x80] {
                let mut changed = bytes.to_vec();
                changed[i] ^= mask;
                // Bytes that are not UTF-8 never reach the parser.
                let Ok(changed) = String::from_utf8(changed) else {
                    continue;
                };
                checked += 1;
                let result = open_checkpoint(&changed, &trusted);
                if i >= untrusted_start {
                    assert!(
                        result.is_err() || result.as_ref() == Ok(&cp),
                        "byte {i} ^ {mask:#04x} gave {result:?}"
                    );
                } else {
                    assert!(result.is_err(), "byte {i} ^ {mask:#04x} was accepted");
                }
            }
        }
        assert!(checked > bytes.len() * 3);
    }

    #[test]
    fn trust_rules() {
        let log_signer = signer("cairn.example/chain-1", 1);
        let stranger = signer("cairn.example/chain-1", 9);
        let cp = checkpoint();
        let note = log_signer.sign(&cp);

        // No trusted keys, or only other keys: rejected.
        assert_eq!(
            open_checkpoint(&note, &[]),
            Err(NoteError::NoTrustedSignature { signatures: 1 })
        );
        let only_stranger = [stranger.verifier()];
        assert_eq!(
            open_checkpoint(&note, &only_stranger),
            Err(NoteError::NoTrustedSignature { signatures: 1 })
        );
        assert_eq!(
            open_checkpoint(&stranger.sign(&cp), &[log_signer.verifier()]),
            Err(NoteError::NoTrustedSignature { signatures: 1 })
        );

        // Same name and key ID but another public key: the signature is checked and fails.
        let impostor = NoteVerifier { public_key: stranger.public_key(), ..log_signer.verifier() };
        assert!(matches!(
            open_checkpoint(&note, std::slice::from_ref(&impostor)),
            Err(NoteError::InvalidSignature { line: 7, .. })
        ));
        // Two different keys under one name and key ID are ambiguous.
        assert_eq!(
            open_checkpoint(&note, &[log_signer.verifier(), impostor]),
            Err(NoteError::AmbiguousKey {
                name: log_signer.name().to_owned(),
                key_id: log_signer.key_id()
            })
        );
        // Listing the same key twice is harmless.
        assert_eq!(
            open_checkpoint(&note, &[log_signer.verifier(), log_signer.verifier()]).unwrap(),
            cp
        );

        // Two trusted signers: both are checked.
        let witness = signer("witness.example/w1", 3);
        let both = [log_signer.verifier(), witness.verifier()];
        let cosigned = cosign(&note, &witness);
        assert_eq!(open_checkpoint(&cosigned, &both).unwrap(), cp);
        let other_cp = Checkpoint { size: cp.size + 1, ..cp.clone() };
        let bad_witness_line = &witness.sign(&other_cp)[other_cp.body().len() + 1..];
        let with_bad_witness = format!("{note}{bad_witness_line}");
        assert!(matches!(
            open_checkpoint(&with_bad_witness, &both),
            Err(NoteError::InvalidSignature { line: 8, ref name, .. }) if name == "witness.example/w1"
        ));
        // The same bad line is ignored when the witness is not trusted.
        assert_eq!(open_checkpoint(&with_bad_witness, &[log_signer.verifier()]).unwrap(), cp);

        // A trusted key's signature of the wrong length is invalid; an
        // unknown key's is ignored.
        let mut short = log_signer.key_id().to_be_bytes().to_vec();
        short.extend_from_slice(&[0; 63]);
        let short_line = format!("\u{2014} {} {}\n", log_signer.name(), STANDARD.encode(&short));
        assert!(matches!(
            open_checkpoint(&format!("{note}{short_line}"), &[log_signer.verifier()]),
            Err(NoteError::InvalidSignature { line: 8, ref reason, .. }) if reason.contains("63 bytes")
        ));
        assert_eq!(
            open_checkpoint(&format!("{note}{short_line}"), &only_stranger).map(|_| ()),
            Err(NoteError::NoTrustedSignature { signatures: 2 })
        );
    }

    #[test]
    fn body_parse_errors() {
        let root = STANDARD.encode([7u8; 32]);
        let body = |size: &str| format!("origin\n{size}\n{root}\n");
        assert_eq!(Checkpoint::parse_body(&body("0")).unwrap().size, 0);
        assert_eq!(Checkpoint::parse_body(&body("18446744073709551615")).unwrap().size, u64::MAX);
        for size in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1_000",
            "0x10",
            "1e3",
            "18446744073709551616",
            "١",
        ] {
            assert_eq!(
                Checkpoint::parse_body(&body(size)),
                Err(NoteError::InvalidTreeSize { text: size.to_owned() }),
                "size {size:?}"
            );
        }

        let with_root = |root: &str| Checkpoint::parse_body(&format!("origin\n5\n{root}\n"));
        for bad in [
            "not base64!",
            &root[..43],
            &format!("{root}="),
            &format!("={root}"),
            &format!(" {root}"),
        ] {
            assert!(
                matches!(with_root(bad), Err(NoteError::InvalidRootHashEncoding { .. })),
                "root {bad:?}: {:?}",
                with_root(bad)
            );
        }
        // Non-zero padding bits make the encoding non-canonical.
        let last = root.as_bytes()[42];
        let non_canonical =
            format!("{}{}=", &root[..42], char::from(if last == b'A' { b'B' } else { last ^ 1 }));
        assert!(matches!(
            with_root(&non_canonical),
            Err(NoteError::InvalidRootHashEncoding { .. })
        ));
        // URL-safe alphabet is not standard base64.
        let url_safe = STANDARD.encode([0xfbu8; 32]).replace('+', "-").replace('/', "_");
        assert!(matches!(with_root(&url_safe), Err(NoteError::InvalidRootHashEncoding { .. })));
        assert_eq!(with_root(""), Err(NoteError::RootHashLength { len: 0 }));
        assert_eq!(
            with_root(&STANDARD.encode([1u8; 31])),
            Err(NoteError::RootHashLength { len: 31 })
        );
        assert_eq!(
            with_root(&STANDARD.encode([1u8; 33])),
            Err(NoteError::RootHashLength { len: 33 })
        );

        let good = body("5");
        assert_eq!(
            Checkpoint::parse_body(good.trim_end_matches('\n')),
            Err(NoteError::MissingFinalNewline)
        );
        assert_eq!(Checkpoint::parse_body(""), Err(NoteError::MissingFinalNewline));
        assert_eq!(Checkpoint::parse_body("\n"), Err(NoteError::TooFewLines { found: 1 }));
        assert_eq!(Checkpoint::parse_body("origin\n5\n"), Err(NoteError::TooFewLines { found: 2 }));
        assert_eq!(Checkpoint::parse_body(&format!("\n5\n{root}\n")), Err(NoteError::EmptyOrigin));
        assert_eq!(
            Checkpoint::parse_body(&format!("{good}ext\n\nmore\n")),
            Err(NoteError::EmptyExtensionLine { line: 5 })
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("{good}\n")),
            Err(NoteError::EmptyExtensionLine { line: 4 })
        );
        for (text, line, code) in [
            (format!("ori\rgin\n5\n{root}\n"), 1, 0x0d),
            (format!("origin\n5\t\n{root}\n"), 2, 0x09),
            (format!("origin\n5\n{root}\r\n"), 3, 0x0d),
            (format!("{good}e\u{0}xt\n"), 4, 0x00),
            (format!("{good}ext\u{7f}\n"), 4, 0x7f),
            (format!("{good}ok\next\u{85}\n"), 5, 0x85),
        ] {
            assert_eq!(
                Checkpoint::parse_body(&text),
                Err(NoteError::ControlCharacter { line, code })
            );
        }
        let huge = format!("{good}{}\n", "x".repeat(MAX_NOTE_SIZE));
        assert_eq!(
            Checkpoint::parse_body(&huge),
            Err(NoteError::TooLarge { size: huge.len(), max: MAX_NOTE_SIZE })
        );

        // Error messages name what is wrong.
        assert_eq!(
            Checkpoint::parse_body(&body("01")).unwrap_err().to_string(),
            "tree size \"01\" is not a decimal number without sign or leading zeros below 2^64"
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("{good}e\u{0}xt\n")).unwrap_err().to_string(),
            "line 4 contains the control character U+0000"
        );
    }

    #[test]
    fn note_parse_errors() {
        let log_signer = signer("cairn.example/chain-1", 1);
        let trusted = [log_signer.verifier()];
        let cp = checkpoint();
        let note = log_signer.sign(&cp);
        let body = cp.body();
        let line = &note[body.len() + 1..];

        assert_eq!(
            open_checkpoint(note.trim_end_matches('\n'), &trusted),
            Err(NoteError::MissingFinalNewline)
        );
        assert_eq!(
            open_checkpoint(&format!("{body}{line}"), &trusted),
            Err(NoteError::MissingBlankLine)
        );
        assert_eq!(open_checkpoint(&format!("{body}\n"), &trusted), Err(NoteError::NoSignatures));
        assert_eq!(open_checkpoint(&format!("{note}\n"), &trusted), Err(NoteError::NoSignatures));
        assert_eq!(
            open_checkpoint(&note.replace('\n', "\r\n"), &trusted),
            Err(NoteError::ControlCharacter { line: 1, code: 0x0d })
        );
        assert_eq!(
            open_checkpoint(&format!("{note}\u{2014} a\tb AAAAAAA=\n"), &trusted),
            Err(NoteError::ControlCharacter { line: 8, code: 0x09 })
        );

        let malformed = |extra: &str| match open_checkpoint(&format!("{note}{extra}\n"), &trusted) {
            Err(NoteError::MalformedSignatureLine { line: 8, reason }) => reason,
            other => panic!("{extra:?} gave {other:?}"),
        };
        assert!(malformed("- name AAAAAAA=").contains("em dash"));
        assert!(malformed("\u{2014}name AAAAAAA=").contains("em dash"));
        assert!(malformed("\u{2014} name").contains("no space"));
        assert!(malformed("\u{2014} name ").contains("empty"));
        assert!(malformed("\u{2014}  AAAAAAA=").contains("is empty"));
        assert!(malformed("\u{2014} na+me AAAAAAA=").contains("'+'"));
        assert!(malformed("\u{2014} na\u{a0}me AAAAAAA=").contains("whitespace"));
        assert!(malformed("\u{2014} name !!!!").contains("base64"));
        assert!(malformed("\u{2014} name AAAAAAA").contains("base64"));
        assert!(malformed("\u{2014} name AAAAAAA= ").contains("base64"));
        assert!(malformed("\u{2014} name AAAAAA==").contains("4 bytes"));

        // Exactly MAX_SIGNATURES lines are accepted; one more is not.
        let stranger_line = |seed: u8| {
            let s = signer("stranger.example", seed);
            s.signature_line(&body)
        };
        let extra: String = (0..MAX_SIGNATURES as u8 - 1).map(stranger_line).collect();
        let full = format!("{note}{extra}");
        assert_eq!(open_checkpoint(&full, &trusted).unwrap(), cp);
        assert_eq!(
            open_checkpoint(&format!("{full}{}", stranger_line(0)), &trusted),
            Err(NoteError::TooManySignatures { count: MAX_SIGNATURES + 1, max: MAX_SIGNATURES })
        );

        // A note of exactly MAX_NOTE_SIZE bytes opens; one byte more does not.
        let overhead = note.len() - body.len();
        let mut big = Checkpoint { extensions: Vec::new(), ..cp.clone() };
        let base = big.body().len();
        big.extensions = vec!["x".repeat(MAX_NOTE_SIZE - overhead - base - 1)];
        let big_note = log_signer.try_sign(&big).unwrap();
        assert_eq!(big_note.len(), MAX_NOTE_SIZE);
        assert_eq!(open_checkpoint(&big_note, &trusted).unwrap(), big);
        big.extensions[0].push('x');
        let too_big = log_signer.sign(&big);
        assert_eq!(
            open_checkpoint(&too_big, &trusted),
            Err(NoteError::TooLarge { size: MAX_NOTE_SIZE + 1, max: MAX_NOTE_SIZE })
        );
        assert_eq!(
            log_signer.try_sign(&big),
            Err(NoteError::TooLarge { size: MAX_NOTE_SIZE + 1, max: MAX_NOTE_SIZE })
        );

        // A signed text that is not a valid checkpoint is rejected after verification.
        let not_a_checkpoint = log_signer.sign_note("origin\n01\nAAAA\n").unwrap();
        assert_eq!(
            open_checkpoint(&not_a_checkpoint, &trusted),
            Err(NoteError::InvalidTreeSize { text: "01".to_owned() })
        );
        assert_eq!(log_signer.sign_note("no newline"), Err(NoteError::MissingFinalNewline));
        assert_eq!(
            log_signer.sign_note("tab\there\n"),
            Err(NoteError::ControlCharacter { line: 1, code: 9 })
        );
    }

    #[test]
    fn verifier_key_errors() {
        assert_eq!(NoteVerifier::parse(GO_VKEY).unwrap().vkey(), GO_VKEY);
        let malformed = |vkey: &str| match NoteVerifier::parse(vkey) {
            Err(NoteError::MalformedVerifierKey { reason, .. }) => reason,
            other => panic!("{vkey:?} gave {other:?}"),
        };
        assert!(malformed("PeterNeumann").contains("after the key name"));
        assert!(malformed("PeterNeumann+c74f20a3").contains("after the key ID"));
        assert!(
            malformed("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .contains("hex")
        );
        assert!(
            malformed("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .contains("hex")
        );
        assert!(
            malformed("PeterNeumann+0c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .contains("hex")
        );
        assert!(
            malformed("PeterNeumann++c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .contains("hex")
        );
        assert!(
            malformed("PeterNeumann+-74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .contains("hex")
        );
        assert!(
            malformed("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T")
                .contains("base64")
        );
        assert!(
            malformed("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW ")
                .contains("base64")
        );
        assert!(malformed("PeterNeumann+c74f20a3+").contains("empty"));
        assert!(malformed("PeterNeumann+c74f20a3+AQ==").contains("0 bytes"));
        assert!(
            malformed(&format!("PeterNeumann+c74f20a3+{}", STANDARD.encode([1u8; 34])))
                .contains("33 bytes")
        );

        assert_eq!(
            NoteVerifier::parse(&format!("PeterNeumann+c74f20a3+{}", STANDARD.encode([2u8; 33]))),
            Err(NoteError::UnsupportedSignatureType { found: 2 })
        );
        assert_eq!(
            NoteVerifier::parse(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::KeyIdMismatch {
                name: "PeterNeumann".to_owned(),
                stated: 0xc74f20a4,
                computed: 0xc74f20a3
            })
        );
        assert_eq!(
            NoteVerifier::parse("Peter+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
                .unwrap_err(),
            NoteError::KeyIdMismatch {
                name: "Peter".to_owned(),
                stated: 0xc74f20a3,
                computed: key_id("Peter", &NoteVerifier::parse(GO_VKEY).unwrap().public_key)
            }
        );
        assert!(matches!(
            NoteVerifier::parse("+c74f20a3+AQ=="),
            Err(NoteError::InvalidKeyName { reason: "is empty", .. })
        ));

        // A 32-byte string that is not an Ed25519 point, with a correct key ID.
        let not_a_point = (0u8..=255)
            .map(|b| [b; 32])
            .find(|bytes| VerificationKey::try_from(*bytes).is_err())
            .expect("some repeated byte is not a point");
        let vkey = format_vkey("bad", key_id("bad", &not_a_point), &not_a_point);
        assert_eq!(
            NoteVerifier::parse(&vkey),
            Err(NoteError::InvalidPublicKey { name: "bad".to_owned() })
        );
        assert_eq!(
            NoteVerifier::from_public_key("bad", not_a_point),
            Err(NoteError::InvalidPublicKey { name: "bad".to_owned() })
        );
    }

    #[test]
    fn trusted_key_lists() {
        let a = signer("a.example/log", 1);
        let b = signer("b.example/log", 2);
        let text = format!(
            "# Cairn trusted keys\n\n{}\n   {}   \r\n# trailing comment\n{}\n",
            a.verifier_key(),
            b.verifier_key(),
            a.verifier_key()
        );
        assert_eq!(parse_trusted_keys(&text).unwrap(), vec![a.verifier(), b.verifier()]);
        assert_eq!(parse_trusted_keys("").unwrap(), Vec::new());
        assert_eq!(parse_trusted_keys("# only a comment\n\n").unwrap(), Vec::new());

        let bad = format!("# header\n{}\nnot a key\n", a.verifier_key());
        let err = parse_trusted_keys(&bad).unwrap_err();
        assert!(matches!(err, NoteError::TrustedKeyLine { line: 3, .. }), "{err:?}");
        assert!(err.to_string().starts_with("trusted keys line 3: "), "{err}");

        let impostor = NoteVerifier { public_key: b.public_key(), ..a.verifier() };
        let ambiguous = format!("{}\n{}\n", a.verifier_key(), impostor.vkey());
        // The impostor's stated key ID does not match its key, so it is
        // rejected as such before it can be ambiguous.
        assert!(matches!(
            parse_trusted_keys(&ambiguous),
            Err(NoteError::TrustedKeyLine { line: 2, source }) if matches!(*source, NoteError::KeyIdMismatch { .. })
        ));
    }

    #[test]
    fn signer_names_and_debug() {
        for (name, reason) in [
            ("", "is empty"),
            ("a b", "contains whitespace"),
            ("a\tb", "contains whitespace"),
            ("a\u{2003}b", "contains whitespace"),
            ("a+b", "contains '+'"),
            ("a\u{1}b", "contains a control character"),
        ] {
            assert_eq!(
                NoteSigner::new(name, [1; 32]).unwrap_err(),
                NoteError::InvalidKeyName { name: name.to_owned(), reason },
            );
        }
        let long_name = "n".repeat(100) + " ";
        match NoteSigner::new(&long_name, [1; 32]) {
            Err(NoteError::InvalidKeyName { name, .. }) => {
                assert_eq!(name.chars().count(), EXCERPT_CHARS + 1)
            }
            other => panic!("{other:?}"),
        }

        let secret = [0xabu8; 32];
        let s = NoteSigner::new("example.com/log", secret).unwrap();
        let debug = format!("{s:?}");
        assert_eq!(
            debug,
            format!("NoteSigner {{ name: \"example.com/log\", key_id: {:08x}, .. }}", s.key_id())
        );
        assert!(!debug.contains('['));

        // try_sign refuses checkpoints whose body would not parse back.
        let mut cp = checkpoint();
        cp.origin = "two\nlines".to_owned();
        assert_eq!(s.try_sign(&cp), Err(NoteError::ControlCharacter { line: 1, code: 10 }));
        assert!(open_checkpoint(&s.sign(&cp), &[s.verifier()]).is_err());
        cp.origin = String::new();
        assert_eq!(s.try_sign(&cp), Err(NoteError::EmptyOrigin));
        cp.origin = "ok".to_owned();
        cp.extensions.push(String::new());
        assert_eq!(s.try_sign(&cp), Err(NoteError::EmptyExtensionLine { line: 6 }));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn valid_checkpoints_round_trip(
            origin in "[^\\p{Cc}]{1,40}",
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
            extensions in proptest::collection::vec("[^\\p{Cc}]{1,20}", 0..4),
            seed in any::<[u8; 32]>(),
        ) {
            let cp = Checkpoint { origin, size, root, extensions };
            prop_assert_eq!(cp.validate(), Ok(()));
            prop_assert_eq!(Checkpoint::parse_body(&cp.body()), Ok(cp.clone()));
            let s = NoteSigner::new("prop.example/log", seed).unwrap();
            let note = s.try_sign(&cp).unwrap();
            prop_assert_eq!(open_checkpoint(&note, &[s.verifier()]), Ok(cp));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,300}", bytes in any::<Vec<u8>>()) {
            let trusted = [signer("x", 1).verifier()];
            let _ = open_checkpoint(&text, &trusted);
            let _ = Checkpoint::parse_body(&text);
            let _ = NoteVerifier::parse(&text);
            let _ = parse_trusted_keys(&text);
            let lossy = String::from_utf8_lossy(&bytes);
            let _ = open_note(&lossy, &trusted);
        }
    }
}
