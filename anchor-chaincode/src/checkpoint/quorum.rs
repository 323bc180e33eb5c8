//! Quorum trust policies: k of n named consortium members must have signed
//! or cosigned a checkpoint for a client to accept it.

use std::borrow::Cow;
use std::fmt;

use super::cosign::{COSIGNATURE_TYPE, CosignatureVerifier};
use super::verifier::{
    NoteParts, RawVerifierKey, parse_signature_line, split_note, verify_ed25519,
};
use super::{Checkpoint, ED25519_SIGNATURE_TYPE, NoteError, NoteVerifier, excerpt};

/// One trusted key of a consortium member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustedKey {
    /// An Ed25519 note key (type 0x01): its signature is over the note text.
    Note(NoteVerifier),
    /// An Ed25519 cosigner key (type 0x04): its `cosignature/v1` is over a
    /// timestamp and the note text.
    Cosignature(CosignatureVerifier),
}

impl TrustedKey {
    /// Parses a verifier key of type 0x01 or 0x04.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        match RawVerifierKey::split(vkey)?.signature_type {
            ED25519_SIGNATURE_TYPE => NoteVerifier::parse(vkey).map(Self::Note),
            COSIGNATURE_TYPE => CosignatureVerifier::parse(vkey).map(Self::Cosignature),
            found => Err(NoteError::UnsupportedQuorumKeyType { found }),
        }
    }

    /// Returns the verifier key string that [`TrustedKey::parse`] reads.
    pub fn vkey(&self) -> String {
        match self {
            Self::Note(key) => key.vkey(),
            Self::Cosignature(key) => key.vkey(),
        }
    }

    /// Returns the key name.
    pub fn name(&self) -> &str {
        match self {
            Self::Note(key) => &key.name,
            Self::Cosignature(key) => &key.name,
        }
    }

    /// Returns the signature type, the key ID and the public key.
    fn identity(&self) -> (u8, u32, [u8; 32]) {
        match self {
            Self::Note(key) => (ED25519_SIGNATURE_TYPE, key.key_id, key.public_key),
            Self::Cosignature(key) => (COSIGNATURE_TYPE, key.key_id, key.public_key),
        }
    }
}

/// A consortium member: a key name and the keys listed under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The key name shared by all the member's keys.
    pub name: String,
    /// The member's keys, in the order listed; at least one.
    pub keys: Vec<TrustedKey>,
}

/// A trust policy: the consortium's members and how many of them must sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum {
    /// The members, in the order their names first appear.
    members: Vec<Member>,
    /// The threshold k, with 1 ≤ k ≤ number of members.
    threshold: usize,
}

impl Quorum {
    /// Builds a quorum from trusted keys and a threshold.
    ///
    /// Keys are grouped into members by name; a key listed twice counts
    /// once. Two different keys with the same name, type and key ID are
    /// rejected, since signatures could not tell them apart.
    pub fn new(keys: Vec<TrustedKey>, threshold: usize) -> Result<Self, NoteError> {
        let mut members: Vec<Member> = Vec::new();
        for key in keys {
            add_key(&mut members, key)?;
        }
        check_threshold(threshold, members.len())?;
        Ok(Self { members, threshold })
    }

    /// Parses a quorum file: one verifier key (type 0x01 or 0x04) per line,
    /// blank lines and lines starting with `#` ignored, and at most one
    /// `quorum <k>` directive; without it k is 1.
    ///
    /// Surrounding whitespace on each line is ignored. Errors name the
    /// 1-based line number, that of the directive when k is out of range.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let mut members: Vec<Member> = Vec::new();
        let mut directive: Option<(usize, usize)> = None;
        for (index, line) in text.split('\n').enumerate() {
            let line_number = index + 1;
            let wrap =
                |e: NoteError| NoteError::TrustedKeyLine { line: line_number, source: Box::new(e) };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or_default();
            if first.contains('+') && words.next().is_none() {
                add_key(&mut members, TrustedKey::parse(line).map_err(wrap)?).map_err(wrap)?;
                continue;
            }
            if first != "quorum" {
                return Err(wrap(NoteError::UnknownDirective { directive: excerpt(first) }));
            }
            if let Some((first_line, _)) = directive {
                return Err(wrap(NoteError::DuplicateQuorumDirective { first_line }));
            }
            let argument = line[first.len()..].trim();
            directive = Some((line_number, parse_threshold(argument).map_err(wrap)?));
        }
        let (line, threshold) = directive.unwrap_or((0, 1));
        match check_threshold(threshold, members.len()) {
            Err(e) if line > 0 => Err(NoteError::TrustedKeyLine { line, source: Box::new(e) }),
            result => result.map(|()| Self { members, threshold }),
        }
    }

    /// A quorum of one note key, k = 1: what a single trusted key meant
    /// before consortia.
    pub fn single(key: NoteVerifier) -> Self {
        let member = Member { name: key.name.clone(), keys: vec![TrustedKey::Note(key)] };
        Self { members: vec![member], threshold: 1 }
    }

    /// A quorum of note keys, any one of which suffices (k = 1): the trust
    /// of a trusted-keys list without a `quorum` directive.
    pub fn any_of(keys: &[NoteVerifier]) -> Result<Self, NoteError> {
        Self::new(keys.iter().cloned().map(TrustedKey::Note).collect(), 1)
    }

    /// Returns the note keys (type 0x01) of all members, for notes that one
    /// member signs alone and nobody cosigns.
    pub fn note_keys(&self) -> Vec<NoteVerifier> {
        let keys = self.members.iter().flat_map(|m| &m.keys);
        keys.filter_map(|k| match k {
            TrustedKey::Note(key) => Some(key.clone()),
            TrustedKey::Cosignature(_) => None,
        })
        .collect()
    }

    /// Whether some member key, of either type, has this Ed25519 public key.
    pub fn has_public_key(&self, public_key: &[u8]) -> bool {
        let mut keys = self.members.iter().flat_map(|m| &m.keys);
        keys.any(|k| k.identity().2.as_slice() == public_key)
    }

    /// Describes who signed a checkpoint, for example
    /// `signed by 2 of 3 (quorum 2): dept-a, dept-b`.
    pub fn describe(&self, signers: &[MemberSignature]) -> String {
        let names: Vec<&str> = signers.iter().map(|s| s.member.as_str()).collect();
        format!(
            "signed by {} of {} (quorum {}): {}",
            signers.len(),
            self.members.len(),
            self.threshold,
            names.join(", ")
        )
    }

    /// Returns the members, in the order their names first appear.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Returns the threshold k.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Formats the quorum as a file that [`Quorum::parse`] reads back.
    pub fn format(&self) -> String {
        let mut text = format!("quorum {}\n", self.threshold);
        for key in self.members.iter().flat_map(|m| &m.keys) {
            text.push_str(&key.vkey());
            text.push('\n');
        }
        text
    }
}

/// Adds a key to the member of its name, creating the member if needed.
fn add_key(members: &mut Vec<Member>, key: TrustedKey) -> Result<(), NoteError> {
    let (signature_type, key_id, public_key) = key.identity();
    let clash = members.iter().flat_map(|m| &m.keys).find(|k| {
        let (other_type, other_id, _) = k.identity();
        k.name() == key.name() && other_type == signature_type && other_id == key_id
    });
    match clash {
        Some(existing) if existing.identity().2 != public_key => {
            return Err(NoteError::AmbiguousKey { name: key.name().to_owned(), key_id });
        }
        Some(_) => return Ok(()),
        None => {}
    }
    match members.iter_mut().find(|m| m.name == key.name()) {
        Some(member) => member.keys.push(key),
        None => members.push(Member { name: key.name().to_owned(), keys: vec![key] }),
    }
    Ok(())
}

/// Parses a threshold: a positive canonical decimal number.
fn parse_threshold(text: &str) -> Result<usize, NoteError> {
    let invalid = |reason| NoteError::InvalidThreshold { text: excerpt(text), reason };
    if text.is_empty() {
        return Err(invalid("is missing"));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) || (text.starts_with('0') && text != "0") {
        return Err(invalid("is not a decimal number without sign or leading zeros"));
    }
    match text.parse::<usize>() {
        Ok(0) => Err(invalid("is zero; at least one member must sign")),
        Ok(k) => Ok(k),
        Err(_) => Err(invalid("is too large")),
    }
}

/// Checks 1 ≤ k ≤ n.
fn check_threshold(threshold: usize, members: usize) -> Result<(), NoteError> {
    if members == 0 {
        return Err(NoteError::NoMembers);
    }
    if threshold == 0 {
        return Err(NoteError::InvalidThreshold {
            text: "0".to_owned(),
            reason: "is zero; at least one member must sign",
        });
    }
    if threshold > members {
        return Err(NoteError::ThresholdTooLarge { threshold, members });
    }
    Ok(())
}

/// A member whose signature or cosignature of a checkpoint verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSignature {
    /// The member's name.
    pub member: String,
    /// Whether a note signature (type 0x01) by the member verified.
    pub signed: bool,
    /// The latest timestamp of the member's verified cosignatures (type
    /// 0x04), if any; the caller may compare it with its own clock.
    pub cosigned_at: Option<u64>,
}

/// A checkpoint that a quorum of the consortium signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The members whose signatures verified, in the quorum's member order;
    /// at least the threshold of them.
    pub signers: Vec<MemberSignature>,
}

/// Verifies a signed checkpoint note against a quorum and parses its body.
///
/// Signature lines by keys the quorum does not hold are ignored. Every
/// signature line by a member's key (same name and key ID) must verify. A
/// member counts once however many of its keys signed; at least
/// [`Quorum::threshold`] members must have.
pub fn open_checkpoint_with_quorum(
    note: &str,
    quorum: &Quorum,
) -> Result<QuorumCheckpoint, NoteError> {
    let NoteParts { text, lines } = split_note(note)?;
    let mut signers: Vec<MemberSignature> = Vec::new();
    for &(number, line) in &lines {
        let parsed = parse_signature_line(line, number)?;
        let Some((member, key)) = find_member_key(quorum, parsed.name, parsed.key_id)? else {
            continue;
        };
        let (signed, cosigned_at) = match key {
            TrustedKey::Note(key) => {
                let NoteVerifier { name, key_id, public_key } = key;
                let message = text.as_bytes();
                verify_ed25519(public_key, name, *key_id, &parsed.signature, message, number)?;
                (true, None)
            }
            TrustedKey::Cosignature(key) => {
                (false, Some(key.verify(&parsed.signature, text, number)?))
            }
        };
        match signers.iter_mut().find(|s| s.member == member.name) {
            Some(entry) => {
                entry.signed |= signed;
                entry.cosigned_at = entry.cosigned_at.max(cosigned_at);
            }
            None => {
                signers.push(MemberSignature { member: member.name.clone(), signed, cosigned_at })
            }
        }
    }
    let order = |s: &MemberSignature| quorum.members.iter().position(|m| m.name == s.member);
    signers.sort_by_key(order);
    if signers.len() < quorum.threshold {
        return Err(NoteError::QuorumNotMet {
            needed: quorum.threshold,
            found: signers.len(),
            members: quorum.members.len(),
            signed: signers.into_iter().map(|s| s.member).collect(),
        });
    }
    let checkpoint = Checkpoint::parse_body(text)?;
    Ok(QuorumCheckpoint { checkpoint, signers })
}

/// Looks up the member key with this name and key ID.
fn find_member_key<'a>(
    quorum: &'a Quorum,
    name: &str,
    key_id: u32,
) -> Result<Option<(&'a Member, &'a TrustedKey)>, NoteError> {
    let Some(member) = quorum.members.iter().find(|m| m.name == name) else {
        return Ok(None);
    };
    let mut matches = member.keys.iter().filter(|k| k.identity().1 == key_id);
    let Some(first) = matches.next() else {
        return Ok(None);
    };
    if matches.next().is_some() {
        return Err(NoteError::AmbiguousKey { name: name.to_owned(), key_id });
    }
    Ok(Some((member, first)))
}

/// What a verifier trusts to sign checkpoints: a [`Quorum`], or a list of
/// note keys any one of which suffices (k = 1, see [`Quorum::any_of`]).
///
/// Verifiers that take a `&dyn TrustPolicy` open every checkpoint with
/// [`open_checkpoint_with_quorum`] whichever they are given.
pub trait TrustPolicy: fmt::Debug + Send + Sync {
    /// Returns the quorum; an empty key list has none.
    fn quorum(&self) -> Result<Cow<'_, Quorum>, NoteError>;
}

impl TrustPolicy for Quorum {
    fn quorum(&self) -> Result<Cow<'_, Quorum>, NoteError> {
        Ok(Cow::Borrowed(self))
    }
}

impl TrustPolicy for [NoteVerifier] {
    fn quorum(&self) -> Result<Cow<'_, Quorum>, NoteError> {
        Quorum::any_of(self).map(Cow::Owned)
    }
}

impl<const N: usize> TrustPolicy for [NoteVerifier; N] {
    fn quorum(&self) -> Result<Cow<'_, Quorum>, NoteError> {
        self.as_slice().quorum()
    }
}

impl TrustPolicy for Vec<NoteVerifier> {
    fn quorum(&self) -> Result<Cow<'_, Quorum>, NoteError> {
        self.as_slice().quorum()
    }
}
