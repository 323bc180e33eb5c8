//! Trusted note keys and the verification of signed notes and checkpoints.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_zebra::{Signature, VerificationKey};

use super::{
    Checkpoint, ED25519_SIGNATURE_LEN, ED25519_SIGNATURE_TYPE, MAX_SIGNATURES, NoteError,
    SIGNATURE_PREFIX, check_key_name, check_text, excerpt, format_vkey, key_id, typed_key_id,
};

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
        let raw = RawVerifierKey::split(vkey)?;
        if raw.signature_type != ED25519_SIGNATURE_TYPE {
            return Err(NoteError::UnsupportedSignatureType { found: raw.signature_type });
        }
        let public_key = raw.ed25519_key(vkey)?;
        raw.check_key_id(&public_key)?;
        Self::from_public_key(raw.name, public_key)
    }

    /// Returns the verifier key string that [`NoteVerifier::parse`] reads.
    pub fn vkey(&self) -> String {
        format_vkey(&self.name, self.key_id, &self.public_key)
    }
}

/// A verifier key split into its fields, before its type is checked.
pub(super) struct RawVerifierKey<'a> {
    /// The key name, already checked.
    pub(super) name: &'a str,
    /// The key ID written in the verifier key.
    pub(super) stated: u32,
    /// The signature type byte.
    pub(super) signature_type: u8,
    /// The public key bytes after the type byte.
    pub(super) key: Vec<u8>,
}

impl<'a> RawVerifierKey<'a> {
    /// Splits `<name>+<8 lower-case hex digits>+<base64(type || key)>`.
    pub(super) fn split(vkey: &'a str) -> Result<Self, NoteError> {
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
        Ok(Self { name, stated, signature_type, key: key.to_vec() })
    }

    /// Returns the key as a 32-byte Ed25519 public key.
    pub(super) fn ed25519_key(&self, vkey: &str) -> Result<[u8; 32], NoteError> {
        <[u8; 32]>::try_from(self.key.as_slice()).map_err(|_| NoteError::MalformedVerifierKey {
            vkey: excerpt(vkey),
            reason: format!("the Ed25519 key is {} bytes, expected 32", self.key.len()),
        })
    }

    /// Checks that the stated key ID is the hash of the name, type and key.
    pub(super) fn check_key_id(&self, public_key: &[u8; 32]) -> Result<(), NoteError> {
        let computed = typed_key_id(self.name, self.signature_type, public_key);
        if computed != self.stated {
            return Err(NoteError::KeyIdMismatch {
                name: self.name.to_owned(),
                stated: self.stated,
                computed,
            });
        }
        Ok(())
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
pub(super) struct SignatureLine<'a> {
    /// The key name.
    pub(super) name: &'a str,
    /// The key ID.
    pub(super) key_id: u32,
    /// The signature bytes after the key ID.
    pub(super) signature: Vec<u8>,
}

/// Parses `— <name> <base64(key ID || signature)>` (without its newline).
pub(super) fn parse_signature_line(
    line: &str,
    line_number: usize,
) -> Result<SignatureLine<'_>, NoteError> {
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
    verify_ed25519(&key.public_key, &key.name, key.key_id, signature, text.as_bytes(), line)
}

/// Checks one 64-byte Ed25519 signature of `message` by the trusted key
/// `name`+`key_id` with `public_key`, found on signature line `line`.
pub(super) fn verify_ed25519(
    public_key: &[u8; 32],
    name: &str,
    key_id: u32,
    signature: &[u8],
    message: &[u8],
    line: usize,
) -> Result<(), NoteError> {
    let invalid = |reason: String| NoteError::InvalidSignature {
        line,
        name: name.to_owned(),
        key_id,
        reason,
    };
    let Ok(bytes) = <[u8; ED25519_SIGNATURE_LEN]>::try_from(signature) else {
        return Err(invalid(format!(
            "the signature is {} bytes, expected {ED25519_SIGNATURE_LEN}",
            signature.len()
        )));
    };
    let Ok(public_key) = VerificationKey::try_from(*public_key) else {
        return Err(invalid("the trusted public key is not a valid Ed25519 point".to_owned()));
    };
    public_key
        .verify(&Signature::from_bytes(&bytes), message)
        .map_err(|_| invalid("Ed25519 verification failed".to_owned()))
}

/// A signed note split into its text and its signature lines.
pub(super) struct NoteParts<'a> {
    /// The text, including its final newline.
    pub(super) text: &'a str,
    /// The signature lines without their newlines, with their 1-based line
    /// numbers within the note.
    pub(super) lines: Vec<(usize, &'a str)>,
}

/// Splits a signed note at its last blank line, checking its size, control
/// characters, final newline and number of signature lines.
pub(super) fn split_note(note: &str) -> Result<NoteParts<'_>, NoteError> {
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
    let lines = signatures.split('\n').enumerate().map(|(i, l)| (first_line + i, l)).collect();
    Ok(NoteParts { text, lines })
}

/// Verifies a signed note and returns its text, including the final newline.
///
/// Signatures by keys not in `trusted` are ignored. Every signature by a
/// trusted key (same name and key ID) must verify, and at least one must be
/// present.
pub fn open_note(note: &str, trusted: &[NoteVerifier]) -> Result<String, NoteError> {
    let NoteParts { text, lines } = split_note(note)?;
    let mut verified = 0usize;
    for &(line_number, line) in &lines {
        let parsed = parse_signature_line(line, line_number)?;
        let Some(key) = find_trusted(trusted, parsed.name, parsed.key_id)? else {
            continue;
        };
        verify_signature(key, &parsed.signature, text, line_number)?;
        verified += 1;
    }
    if verified == 0 {
        return Err(NoteError::NoTrustedSignature { signatures: lines.len() });
    }
    Ok(text.to_owned())
}

/// Verifies a signed checkpoint note, then parses its body.
pub fn open_checkpoint(note: &str, trusted: &[NoteVerifier]) -> Result<Checkpoint, NoteError> {
    let body = open_note(note, trusted)?;
    Checkpoint::parse_body(&body)
}
