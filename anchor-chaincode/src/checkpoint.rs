//! Signed checkpoints: C2SP `tlog-checkpoint` bodies in C2SP `signed-note`
//! envelopes, signed with Ed25519 and cosigned with C2SP `tlog-cosignature`
//! v1, and accepted when a quorum of a consortium's members signed them.
//!
//! The formats follow <https://c2sp.org/tlog-checkpoint>,
//! <https://c2sp.org/signed-note> and <https://c2sp.org/tlog-cosignature>
//! (v1.0.0, Ed25519 only), so that standard verifiers such as Go's
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
//! # Cosignatures
//!
//! A cosignature (signature type 0x04) is a signature line like any other:
//!
//! ```text
//! — <cosigner name> <base64(key ID || timestamp || signature)>\n
//! ```
//!
//! - Key ID: the first 4 bytes, big-endian, of
//!   `SHA-256(key name || 0x0A || 0x04 || 32-byte Ed25519 public key)`, so
//!   the same key has different IDs as a note key and as a cosigner key.
//! - Timestamp: 8 bytes, a big-endian `u64` of POSIX seconds, at most
//!   2^63 - 1. The caller passes it in; nothing here reads a clock.
//! - Signature: the 64-byte Ed25519 signature of the bytes
//!   `cosignature/v1\ntime <timestamp in decimal, no leading zeros>\n`
//!   followed by the whole checkpoint body (extension lines and final
//!   newline included, signature lines not).
//! - Verifier key: `<key name>+<8 hex digits>+<base64(0x04 || public key)>`.
//!
//! A cosigner checks a checkpoint, then [`CosignatureSigner::cosign`]s it;
//! [`add_signatures`] and [`merge_notes`] gather the lines of several
//! cosigners into one note (same text, union of lines, no duplicates, at
//! most [`MAX_SIGNATURES`]).
//!
//! # Quorums
//!
//! A [`Quorum`] is a set of named consortium members and a threshold k. A
//! member is a key name; it may list a note key (0x01), a cosigner key
//! (0x04) or both, and counts once however many of its keys signed.
//! [`open_checkpoint_with_quorum`] accepts a checkpoint when at least k
//! members' signatures or cosignatures verify, and returns who signed and
//! when they cosigned. The quorum file extends the trusted-keys file:
//!
//! ```text
//! # Cairn consortium: two of three departments must sign.
//! quorum 2
//! dept-a.example+1a2b3c4d+BK...=
//! dept-b.example+5e6f7a8b+BK...=
//! dept-c.example+9c0d1e2f+BK...=
//! ```
//!
//! One verifier key (type 0x01 or 0x04) per line; blank lines and lines
//! starting with `#` are ignored and surrounding whitespace is trimmed. The
//! only directive is `quorum <k>`, at most once, with k a positive decimal
//! number no larger than the number of members; without it k is 1, which is
//! what a trusted-keys file without the directive has always meant. Unknown
//! directives, a second `quorum`, k = 0 and k > n are errors naming the
//! line. [`open_checkpoint`] and [`parse_trusted_keys`] keep serving
//! callers that trust single note keys.
//!
//! # Strictness
//!
//! Parsing rejects notes and bodies over [`MAX_NOTE_SIZE`] bytes, notes with
//! more than [`MAX_SIGNATURES`] signature lines, any control character other
//! than newline (this includes tab, carriage return and DEL), a missing final
//! newline, non-canonical decimal sizes, base64 that is not canonical padded
//! standard base64, and root hashes that are not 32 bytes. Signatures by keys
//! that are not trusted are ignored. Every signature by a trusted key (same
//! name and key ID) must verify, and at least one must be present (at least
//! k members' for a quorum). Cosignature timestamps over 2^63 - 1 are
//! rejected; timestamps in the future are the caller's to judge.
//!
//! Signatures are checked with `ed25519-zebra`, which applies the ZIP-215
//! rules used elsewhere in the ledger. Every signature a standard RFC 8032
//! verifier accepts is accepted; the only extra signatures ZIP-215 accepts are
//! ones that the holder of the private key deliberately crafts.
//!
//! Everything here is pure and deterministic: no I/O, no clock, no
//! randomness, and no panics on any input.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

mod body;
mod cosign;
#[cfg(test)]
mod cosign_tests;
mod quorum;
mod signer;
#[cfg(test)]
mod tests;
mod verifier;

pub use body::Checkpoint;
pub use cosign::{
    COSIGNATURE_TYPE, CosignatureSigner, CosignatureVerifier, MAX_COSIGNATURE_TIMESTAMP,
    add_signatures, cosignature_key_id, cosigned_message, merge_notes,
};
pub use quorum::{
    Member, MemberSignature, Quorum, QuorumCheckpoint, TrustPolicy, TrustedKey,
    open_checkpoint_with_quorum,
};
pub use signer::NoteSigner;
pub use verifier::{NoteVerifier, open_checkpoint, open_note, parse_trusted_keys};

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
#[non_exhaustive]
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
    /// A verifier key has a signature type other than the one its parser reads.
    #[error("verifier key has signature type 0x{found:02x}, expected 0x{expected:02x}")]
    WrongSignatureType {
        /// The signature type byte found.
        found: u8,
        /// The signature type byte expected.
        expected: u8,
    },
    /// A quorum file holds a key that is neither an Ed25519 note key nor an
    /// Ed25519 cosignature key.
    #[error(
        "verifier key has signature type 0x{found:02x}; a quorum accepts Ed25519 note keys (0x01) and Ed25519 cosignature keys (0x04)"
    )]
    UnsupportedQuorumKeyType {
        /// The signature type byte found.
        found: u8,
    },
    /// A cosignature timestamp is over 2^63 - 1, which `tlog-cosignature` forbids.
    #[error("cosignature timestamp {timestamp} exceeds 2^63 - 1")]
    InvalidTimestamp {
        /// The timestamp, in seconds since the Unix epoch.
        timestamp: u64,
    },
    /// Two notes to merge have different texts.
    #[error("the notes to merge sign different texts")]
    TextMismatch,
    /// A line of a quorum file is neither a verifier key, a comment nor a
    /// known directive.
    #[error("unknown directive {directive:?}; expected `quorum <k>` or a verifier key")]
    UnknownDirective {
        /// An excerpt of the directive's first word.
        directive: String,
    },
    /// A `quorum` directive's threshold is not a positive decimal number.
    #[error("quorum threshold {text:?} {reason}")]
    InvalidThreshold {
        /// An excerpt of the threshold text.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A quorum file has a second `quorum` directive.
    #[error("second quorum directive; the first is on line {first_line}")]
    DuplicateQuorumDirective {
        /// The 1-based line number of the first directive.
        first_line: usize,
    },
    /// A quorum's threshold exceeds its number of members.
    #[error("quorum threshold {threshold} exceeds the {members} member(s) the keys name")]
    ThresholdTooLarge {
        /// The threshold k.
        threshold: usize,
        /// The number of members n.
        members: usize,
    },
    /// A quorum has no members.
    #[error("quorum has no member keys")]
    NoMembers,
    /// Fewer consortium members than the threshold signed the checkpoint.
    #[error(
        "checkpoint is signed by {found} of {members} consortium member(s), {needed} needed; signed by: [{}]",
        signed.join(", ")
    )]
    QuorumNotMet {
        /// The threshold k.
        needed: usize,
        /// The number of members whose signature verified.
        found: usize,
        /// The number of members n.
        members: usize,
        /// The names of the members whose signature verified, in the
        /// quorum's member order.
        signed: Vec<String>,
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
    typed_key_id(name, ED25519_SIGNATURE_TYPE, public_key)
}

/// Computes the key ID of a key of any signature type: the first 4 bytes,
/// big-endian, of `SHA-256(name || 0x0A || signature_type || public_key)`.
fn typed_key_id(name: &str, signature_type: u8, public_key: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', signature_type]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Formats a verifier key: `<name>+<8 hex digits>+<base64(0x01 || public key)>`.
fn format_vkey(name: &str, key_id: u32, public_key: &[u8; 32]) -> String {
    format_typed_vkey(name, key_id, ED25519_SIGNATURE_TYPE, public_key)
}

/// Formats a verifier key of any signature type:
/// `<name>+<8 hex digits>+<base64(signature_type || public key)>`.
fn format_typed_vkey(name: &str, key_id: u32, signature_type: u8, public_key: &[u8; 32]) -> String {
    let mut typed = Vec::with_capacity(33);
    typed.push(signature_type);
    typed.extend_from_slice(public_key);
    format!("{name}+{key_id:08x}+{}", STANDARD.encode(typed))
}
