//! Electronic certificates: the certificate statement an issuer signs, the
//! leaves of the certificate channels, the issuers' revocation status lists,
//! and the message a holder signs to present a certificate.
//!
//! Each certificate type (`degree`, `marriage`, …) is a channel: an RFC 6962
//! Merkle log of its own, holding only that type's issues, renewals and
//! revocations, whose checkpoints are anchored in the main ledger by
//! `AnchorChannels` transactions. A verifier of degrees sees nothing of
//! marriages; a proof of a degree is its inclusion in the degree channel at an
//! anchored size plus that channel checkpoint, signed by the node.
//!
//! Everything here is pure: times are parameters (the transaction timestamp in
//! the chaincode, the verifier's `now` offline).
//!
//! # Byte layouts (version 1)
//!
//! Certificate statement (what the issuer signs; fixed layout, no padding):
//!
//! ```text
//! "cairn-cert-v1\n"
//! u8 length || channel (1 to 64 bytes of a-z 0-9 . _ -)
//! u8 length || issuer organisation (1 to 64 bytes)
//! 20-byte holder address
//! 32-byte issuer Ed25519 public key
//! 32-byte content hash
//! u64 BE valid from (ms since the Unix epoch)
//! u64 BE valid until (ms, exclusive)
//! 32-byte id of the certificate this renews (zeros: none)
//! 16-byte serial chosen by the issuer
//! ```
//!
//! - certificate id: `SHA-256("cairn-cert-id-v1\n" || statement)`;
//! - issuer signature: Ed25519 over `"cairn-cert-sig-v1\n" || statement`;
//! - content hash: `SHA-256("cairn-cert-content-v1\n" || 16-byte salt || content)`,
//!   the salt travelling with the content, encrypted to the holder;
//! - channel leaf of an issue or renewal:
//!   `0x01 || u64 BE block || 32-byte tx id || u64 BE status index || 64-byte issuer signature || statement`;
//! - channel leaf of a revocation:
//!   `0x02 || u64 BE block || 32-byte tx id || 32-byte certificate id || reason (UTF-8)`;
//! - channel checkpoint origin: `<ledger origin>/cert/<channel>`;
//! - status list hash: SHA-256 over
//!   `"cairn-status-list-v1\n" || organisation || "\n" || u64 BE size || bitstring || (u64 BE index || u16 BE length || reason)*`
//!   with the revoked entries in increasing index order; the bitstring has
//!   `ceil(size / 8)` bytes, bit `i` being bit `7 - i % 8` of byte `i / 8`
//!   (most significant first, as in the W3C Bitstring Status List);
//! - status list origin: `<ledger origin>/status/<organisation>`;
//! - holder's presentation signature: Ed25519 over
//!   `"cairn-cert-present-v1\n" || certificate id || u64 BE presented at (ms) || challenge`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::merkle::Hash;
use crate::types::{Address, TxId};

const STATEMENT_LABEL: &[u8] = b"cairn-cert-v1\n";
const ID_LABEL: &[u8] = b"cairn-cert-id-v1\n";
/// Prefix of the message an issuer signs.
pub const ISSUER_SIGNATURE_LABEL: &[u8] = b"cairn-cert-sig-v1\n";
const CONTENT_LABEL: &[u8] = b"cairn-cert-content-v1\n";
const STATUS_LABEL: &[u8] = b"cairn-status-list-v1\n";
/// Prefix of the message a holder signs to present a certificate.
pub const PRESENT_LABEL: &[u8] = b"cairn-cert-present-v1\n";
/// Leaf kind of an issue or a renewal.
pub const LEAF_ISSUE: u8 = 0x01;
/// Leaf kind of a revocation.
pub const LEAF_REVOKE: u8 = 0x02;
/// Longest channel or organisation name in a statement.
pub const MAX_NAME_LEN: usize = 64;
/// Largest encrypted certificate content, in bytes.
pub const MAX_CONTENT_BYTES: usize = 64 * 1024;

/// A certificate id: SHA-256 over the labelled statement.
pub type CertId = Hash;

/// A parsed certificate statement (see the module docs for its bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// The certificate type, which is its channel.
    pub channel: String,
    /// The issuing agency's organisation code.
    pub issuer_organisation: String,
    /// The holder.
    pub holder: Address,
    /// The issuer's Ed25519 public key.
    pub issuer_public_key: [u8; 32],
    /// Hash of the salted content.
    pub content_hash: Hash,
    /// Start of validity, ms since the epoch.
    pub valid_from_ms: u64,
    /// End of validity (exclusive), ms since the epoch.
    pub valid_until_ms: u64,
    /// The certificate this one renews, if any.
    pub previous: Option<CertId>,
    /// The issuer's serial, so equal contents make distinct certificates.
    pub serial: [u8; 16],
}

/// Whether a channel name is acceptable: 1 to 64 bytes of `a-z 0-9 . _ -`.
pub fn valid_channel(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn take<'a>(bytes: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
    if bytes.len() < n {
        return Err(format!("statement ends inside its {what}"));
    }
    let (head, tail) = bytes.split_at(n);
    *bytes = tail;
    Ok(head)
}

fn take_array<const N: usize>(bytes: &mut &[u8], what: &str) -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    out.copy_from_slice(take(bytes, N, what)?);
    Ok(out)
}

fn take_name(bytes: &mut &[u8], what: &str) -> Result<String, String> {
    let len = take(bytes, 1, what)?[0] as usize;
    let raw = take(bytes, len, what)?;
    String::from_utf8(raw.to_vec()).map_err(|_| format!("statement {what} is not UTF-8"))
}

impl Statement {
    /// The canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(STATEMENT_LABEL.len() + 2 + 64 + 20 + 32 * 3 + 16 + 16);
        bytes.extend_from_slice(STATEMENT_LABEL);
        for name in [&self.channel, &self.issuer_organisation] {
            // Names longer than 255 bytes cannot be represented; `parse` refuses over 64.
            bytes.push(name.len().min(255) as u8);
            bytes.extend_from_slice(&name.as_bytes()[..name.len().min(255)]);
        }
        bytes.extend_from_slice(&self.holder.0);
        bytes.extend_from_slice(&self.issuer_public_key);
        bytes.extend_from_slice(&self.content_hash);
        bytes.extend_from_slice(&self.valid_from_ms.to_be_bytes());
        bytes.extend_from_slice(&self.valid_until_ms.to_be_bytes());
        bytes.extend_from_slice(&self.previous.unwrap_or([0; 32]));
        bytes.extend_from_slice(&self.serial);
        bytes
    }

    /// Parses canonical bytes strictly: the layout, names and period are checked.
    pub fn parse(bytes: &[u8]) -> Result<Statement, Error> {
        Statement::parse_reason(bytes).map_err(|reason| Error::Certificate { reason })
    }

    fn parse_reason(mut bytes: &[u8]) -> Result<Statement, String> {
        let input = &mut bytes;
        let label = take(input, STATEMENT_LABEL.len(), "label")?;
        if label != STATEMENT_LABEL {
            return Err("statement does not start with \"cairn-cert-v1\\n\"".into());
        }
        let channel = take_name(input, "channel")?;
        if !valid_channel(&channel) {
            return Err(format!(
                "channel {channel:?} must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9, '.', '_' or '-'"
            ));
        }
        let issuer_organisation = take_name(input, "issuer organisation")?;
        if issuer_organisation.is_empty() || issuer_organisation.len() > MAX_NAME_LEN {
            return Err("issuer organisation must be 1 to 64 bytes".into());
        }
        let holder = Address(take_array(input, "holder address")?);
        let issuer_public_key = take_array(input, "issuer public key")?;
        let content_hash = take_array(input, "content hash")?;
        let valid_from_ms = u64::from_be_bytes(take_array(input, "valid-from time")?);
        let valid_until_ms = u64::from_be_bytes(take_array(input, "valid-until time")?);
        let previous: [u8; 32] = take_array(input, "previous certificate id")?;
        let serial = take_array(input, "serial")?;
        if !input.is_empty() {
            return Err(format!("statement has {} bytes after its serial", input.len()));
        }
        if valid_until_ms <= valid_from_ms {
            return Err(format!(
                "validity period is empty: valid from {valid_from_ms} ms is not before valid until {valid_until_ms} ms"
            ));
        }
        Ok(Statement {
            channel,
            issuer_organisation,
            holder,
            issuer_public_key,
            content_hash,
            valid_from_ms,
            valid_until_ms,
            previous: (previous != [0; 32]).then_some(previous),
            serial,
        })
    }
}

/// The id of a certificate, from its statement bytes.
pub fn certificate_id(statement: &[u8]) -> CertId {
    Sha256::new().chain_update(ID_LABEL).chain_update(statement).finalize().into()
}

/// The message an issuer signs.
pub fn issuer_message(statement: &[u8]) -> Vec<u8> {
    [ISSUER_SIGNATURE_LABEL, statement].concat()
}

/// The content hash of salted content.
pub fn content_hash(salt: &[u8; 16], content: &[u8]) -> Hash {
    Sha256::new()
        .chain_update(CONTENT_LABEL)
        .chain_update(salt)
        .chain_update(content)
        .finalize()
        .into()
}

/// The associated data that binds encrypted content to its channel and holder.
pub fn content_context(channel: &str, holder: &Address) -> Vec<u8> {
    format!("cairn-cert-content-v1\n{channel}\n{holder}").into_bytes()
}

/// The channel leaf of an issue or renewal.
pub fn issue_leaf(
    block_number: u64,
    tx_id: &TxId,
    status_index: u64,
    issuer_signature: &[u8; 64],
    statement: &[u8],
) -> Vec<u8> {
    let mut leaf = Vec::with_capacity(1 + 8 + 32 + 8 + 64 + statement.len());
    leaf.push(LEAF_ISSUE);
    leaf.extend_from_slice(&block_number.to_be_bytes());
    leaf.extend_from_slice(&tx_id.0);
    leaf.extend_from_slice(&status_index.to_be_bytes());
    leaf.extend_from_slice(issuer_signature);
    leaf.extend_from_slice(statement);
    leaf
}

/// The channel leaf of a revocation.
pub fn revoke_leaf(
    block_number: u64,
    tx_id: &TxId,
    certificate_id: &CertId,
    reason: &str,
) -> Vec<u8> {
    let mut leaf = Vec::with_capacity(1 + 8 + 32 + 32 + reason.len());
    leaf.push(LEAF_REVOKE);
    leaf.extend_from_slice(&block_number.to_be_bytes());
    leaf.extend_from_slice(&tx_id.0);
    leaf.extend_from_slice(certificate_id);
    leaf.extend_from_slice(reason.as_bytes());
    leaf
}

/// The checkpoint origin of a channel.
pub fn channel_origin(ledger_origin: &str, channel: &str) -> String {
    format!("{ledger_origin}/cert/{channel}")
}

/// The checkpoint origin of an organisation's status list.
pub fn status_origin(ledger_origin: &str, organisation: &str) -> String {
    format!("{ledger_origin}/status/{organisation}")
}

/// The message a holder signs to present a certificate.
pub fn presentation_message(
    certificate_id: &CertId,
    presented_at_ms: u64,
    challenge: &[u8],
) -> Vec<u8> {
    let mut message = Vec::with_capacity(PRESENT_LABEL.len() + 32 + 8 + challenge.len());
    message.extend_from_slice(PRESENT_LABEL);
    message.extend_from_slice(certificate_id);
    message.extend_from_slice(&presented_at_ms.to_be_bytes());
    message.extend_from_slice(challenge);
    message
}

/// An issuing organisation's revocation status list: one entry per
/// certificate it issued, in issue order, with the reasons of revoked ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusList {
    /// Number of entries (certificates issued).
    pub size: u64,
    /// Revoked entries and their reasons.
    pub revoked: BTreeMap<u64, String>,
}

impl StatusList {
    /// The bitstring: bit `i` set when entry `i` is revoked, most significant bit first.
    pub fn bitstring(&self) -> Vec<u8> {
        let len = usize::try_from(self.size.div_ceil(8)).unwrap_or(0);
        let mut bits = vec![0u8; len];
        for index in self.revoked.keys() {
            if let Some(byte) = usize::try_from(index / 8).ok().and_then(|i| bits.get_mut(i)) {
                *byte |= 0x80 >> (index % 8);
            }
        }
        bits
    }

    /// Rebuilds a list from its bitstring and reasons, checking they agree.
    pub fn from_parts(
        size: u64,
        bitstring: &[u8],
        reasons: BTreeMap<u64, String>,
    ) -> Result<StatusList, Error> {
        StatusList::from_parts_reason(size, bitstring, reasons)
            .map_err(|reason| Error::Certificate { reason })
    }

    fn from_parts_reason(
        size: u64,
        bitstring: &[u8],
        reasons: BTreeMap<u64, String>,
    ) -> Result<StatusList, String> {
        if bitstring.len() as u64 != size.div_ceil(8) {
            return Err(format!(
                "status list bitstring has {} bytes; {size} entries need {}",
                bitstring.len(),
                size.div_ceil(8)
            ));
        }
        for index in 0..size {
            let set = bitstring[(index / 8) as usize] & (0x80 >> (index % 8)) != 0;
            if set != reasons.contains_key(&index) {
                return Err(format!(
                    "status list entry {index} is {} in the bitstring but {} in the reasons",
                    if set { "revoked" } else { "not revoked" },
                    if set { "missing" } else { "present" }
                ));
            }
        }
        if let Some(index) = reasons.keys().find(|index| **index >= size) {
            return Err(format!("status list names entry {index}, past its size {size}"));
        }
        // Trailing bits past `size` must be zero.
        if !size.is_multiple_of(8) {
            let last = bitstring[bitstring.len() - 1];
            if last & (0xff >> (size % 8)) != 0 {
                return Err("status list bitstring has bits set past its size".into());
            }
        }
        Ok(StatusList { size, revoked: reasons })
    }

    /// The list hash (see the module docs).
    pub fn hash(&self, organisation: &str) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update(STATUS_LABEL);
        hasher.update(organisation.as_bytes());
        hasher.update(b"\n");
        hasher.update(self.size.to_be_bytes());
        hasher.update(self.bitstring());
        for (index, reason) in &self.revoked {
            hasher.update(index.to_be_bytes());
            hasher.update((reason.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
            hasher.update(reason.as_bytes());
        }
        hasher.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement() -> Statement {
        Statement {
            channel: "degree".into(),
            issuer_organisation: "dept-education".into(),
            holder: Address([7; 20]),
            issuer_public_key: [9; 32],
            content_hash: content_hash(&[1; 16], b"BSc Physics"),
            valid_from_ms: 1_000,
            valid_until_ms: 2_000,
            previous: None,
            serial: [3; 16],
        }
    }

    #[test]
    fn statement_round_trips_and_is_strict() {
        let bytes = statement().to_bytes();
        assert_eq!(Statement::parse(&bytes).unwrap(), statement());
        for cut in 0..bytes.len() {
            assert!(Statement::parse(&bytes[..cut]).is_err(), "prefix of {cut} bytes parsed");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Statement::parse(&longer).unwrap_err().to_string().contains("after its serial"));
        let mut empty_period = statement();
        empty_period.valid_until_ms = 1_000;
        assert!(
            Statement::parse(&empty_period.to_bytes()).unwrap_err().to_string().contains("empty")
        );
        let mut bad_channel = statement();
        bad_channel.channel = "Degree".into();
        assert!(
            Statement::parse(&bad_channel.to_bytes()).unwrap_err().to_string().contains("channel")
        );
        let mut renewal = statement();
        renewal.previous = Some([5; 32]);
        assert_eq!(Statement::parse(&renewal.to_bytes()).unwrap().previous, Some([5; 32]));
    }

    #[test]
    fn ids_and_hashes_are_domain_separated() {
        let bytes = statement().to_bytes();
        assert_ne!(certificate_id(&bytes), Sha256::digest(&bytes).as_slice());
        assert_ne!(content_hash(&[1; 16], b"a"), content_hash(&[2; 16], b"a"));
    }

    #[test]
    fn status_list_bits_and_hash() {
        let mut list = StatusList { size: 10, revoked: BTreeMap::new() };
        let empty = list.hash("org");
        let _ = list.revoked.insert(0, "lost".into());
        let _ = list.revoked.insert(9, "fraud".into());
        assert_eq!(list.bitstring(), vec![0x80, 0x40]);
        assert_ne!(list.hash("org"), empty);
        assert_ne!(list.hash("org"), list.hash("other"));
        let rebuilt = StatusList::from_parts(10, &list.bitstring(), list.revoked.clone()).unwrap();
        assert_eq!(rebuilt, list);
        assert!(StatusList::from_parts(10, &[0x80, 0x00], list.revoked.clone()).is_err());
        assert!(StatusList::from_parts(10, &[0x80, 0x60], list.revoked.clone()).is_err());
        assert!(StatusList::from_parts(9, &list.bitstring(), list.revoked.clone()).is_err());
    }
}
