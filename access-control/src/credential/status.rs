//! Signed revocation status lists, in the manner of the W3C Bitstring Status
//! List: one list per issuing organisation, one bit per certificate it issued
//! (set when revoked), zlib-compressed and base64-encoded, with the reasons of
//! the revoked entries beside it.
//!
//! The node signs a C2SP checkpoint note whose origin is
//! `<ledger origin>/status/<organisation>`, whose size is the number of
//! entries and whose root is the list hash
//! ([`anchor_chaincode::cert::StatusList::hash`]), with two extension lines:
//! `time <ms>` (when the node signed it: the list was current then) and
//! `anchor <tx id> <block>` (the `AnchorChannels` transaction that anchored
//! this list hash in the main ledger). A verifier that synced a list checks
//! revocation offline and knows how old its knowledge is.
//!
//! A certificate is worth nothing once its holder's identity is revoked (a
//! stolen key, a death): the list carries the chain's revoked identities too,
//! under a second note signed by the node with origin
//! `<ledger origin>/revoked-identities`, size the number of revoked
//! identities, root [`revoked_identities_hash`] and the same `time` line. An
//! offline verifier thus learns a holder's revocation from the same sync.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use anchor_chaincode::cert::StatusList;
use anchor_chaincode::checkpoint::{self, Checkpoint, Quorum, TrustPolicy};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// One revoked entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedEntry {
    /// Its index in the list.
    pub index: u64,
    /// Why it was revoked.
    pub reason: String,
}

/// A revoked identity, as the ledger records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedIdentity {
    /// Its address (40 hex digits).
    pub address: String,
    /// Why it was revoked.
    pub reason: String,
}

/// The chain's revoked identities and the node's note over them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRevokedIdentities {
    /// Every revoked identity, in address order.
    pub revoked: Vec<RevokedIdentity>,
    /// The node's signed note (see the module docs).
    pub signed_note: String,
}

/// The most revoked identities a list may carry.
pub const MAX_REVOKED_IDENTITIES: usize = 1 << 20;

/// The origin of the revoked-identities note of a ledger.
pub fn revoked_identities_origin(ledger_origin: &str) -> String {
    format!("{ledger_origin}/revoked-identities")
}

/// The hash the revoked-identities note signs: SHA-256 over the label
/// `cairn-revoked-identities-v1\n`, then for each identity in order its
/// address text's length (4 bytes, big-endian) and bytes, and its reason's
/// length and bytes.
pub fn revoked_identities_hash(revoked: &[RevokedIdentity]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"cairn-revoked-identities-v1\n");
    for entry in revoked {
        for text in [&entry.address, &entry.reason] {
            hasher.update(u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
            hasher.update(text.as_bytes());
        }
    }
    hasher.finalize().into()
}

/// A status list as fetched from a node and kept by a verifier (JSON file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedStatusList {
    /// The issuing organisation.
    pub issuer_organisation: String,
    /// Number of entries.
    pub size: u64,
    /// base64 of the zlib-compressed bitstring (the W3C `encodedList`).
    pub encoded_list: String,
    /// The revoked entries, in index order.
    pub revoked: Vec<RevokedEntry>,
    /// The node's signed note (see the module docs).
    pub signed_note: String,
    /// The chain's revoked identities, signed by the node; a list without
    /// them cannot show that a holder is still registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_identities: Option<SignedRevokedIdentities>,
}

/// A status list whose signature and hash checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedStatusList {
    /// The issuing organisation.
    pub issuer_organisation: String,
    /// The list.
    pub list: StatusList,
    /// When the node signed it (ms since the epoch).
    pub as_of_ms: u64,
    /// The anchoring transaction and its block, as the note states them.
    pub anchor: Option<(String, u64)>,
    /// The revoked identities (address → reason), when the list carries them.
    pub revoked_identities: Option<BTreeMap<anchor_chaincode::Address, String>>,
}

/// zlib-compresses a bitstring.
pub fn compress(bits: &[u8]) -> Result<Vec<u8>> {
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    zlib.write_all(bits).map_err(|e| Error::Compression(e.to_string()))?;
    zlib.finish().map_err(|e| Error::Compression(e.to_string()))
}

/// The most entries a status list may have: 2^27 certificates, a
/// bitstring of 16 MiB. A list claiming more is refused before anything is
/// decoded.
pub const MAX_ENTRIES: u64 = 1 << 27;
/// The largest status-list file (JSON) a verifier reads: room for the
/// largest bitstring in base64 and reasons for many revoked entries.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// The longest base64 `encoded_list` a list of `size` entries can need: the
/// zlib stream of its bitstring (stored blocks at worst: 5 bytes per 16 KiB
/// and a few bytes of header) in base64.
fn max_encoded_len(size: u64) -> u64 {
    let bits = size.div_ceil(8);
    let zlib = bits + 5 * bits.div_ceil(16 * 1024) + 64;
    zlib.div_ceil(3) * 4
}

/// Decompresses a bitstring of at most `max` bytes.
pub fn decompress(compressed: &[u8], max: u64) -> Result<Vec<u8>> {
    let mut bits = Vec::new();
    let _ = flate2::read::ZlibDecoder::new(compressed)
        .take(max + 1)
        .read_to_end(&mut bits)
        .map_err(|e| Error::Compression(e.to_string()))?;
    if bits.len() as u64 > max {
        return Err(Error::StatusList(format!("bitstring is longer than {max} bytes")));
    }
    Ok(bits)
}

/// The extension lines of a status-list note.
pub fn note_extensions(as_of_ms: u64, anchor_tx: &str, anchor_block: u64) -> Vec<String> {
    vec![format!("time {as_of_ms}"), format!("anchor {anchor_tx} {anchor_block}")]
}

impl SignedStatusList {
    /// Builds the file form of a list and its signed note.
    pub fn new(issuer_organisation: &str, list: &StatusList, signed_note: String) -> Result<Self> {
        Ok(SignedStatusList {
            issuer_organisation: issuer_organisation.to_string(),
            size: list.size,
            encoded_list: STANDARD.encode(compress(&list.bitstring())?),
            revoked: list
                .revoked
                .iter()
                .map(|(index, reason)| RevokedEntry { index: *index, reason: reason.clone() })
                .collect(),
            signed_note,
            revoked_identities: None,
        })
    }

    /// The same list with the chain's revoked identities and their note.
    pub fn with_revoked_identities(mut self, revoked: SignedRevokedIdentities) -> Self {
        self.revoked_identities = Some(revoked);
        self
    }

    /// Checks the revoked-identities note against the `quorum` and the entries.
    fn open_revoked_identities(
        &self,
        quorum: &Quorum,
        as_of_ms: u64,
    ) -> Result<Option<BTreeMap<anchor_chaincode::Address, String>>> {
        let invalid = |message: String| Error::StatusList(message);
        let Some(signed) = &self.revoked_identities else { return Ok(None) };
        if signed.revoked.len() > MAX_REVOKED_IDENTITIES {
            return Err(invalid(format!(
                "it names {} revoked identities, more than the limit of {MAX_REVOKED_IDENTITIES}",
                signed.revoked.len()
            )));
        }
        let note = checkpoint::open_checkpoint_with_quorum(&signed.signed_note, quorum)
            .map_err(|e| {
                invalid(format!("its revoked identities are not signed by a trusted quorum: {e}"))
            })?
            .checkpoint;
        let members = quorum.members();
        if !members.iter().any(|m| note.origin == revoked_identities_origin(&m.name)) {
            return Err(invalid(format!(
                "its revoked-identities note is for {:?}, not a trusted ledger",
                note.origin
            )));
        }
        // Signed together with the status list: an older note (from before a
        // holder was revoked) cannot be paired with a fresh list.
        if !note.extensions.iter().any(|line| *line == format!("time {as_of_ms}")) {
            return Err(invalid(
                "its revoked-identities note was not signed at the same time as the list"
                    .to_string(),
            ));
        }
        if note.size != signed.revoked.len() as u64
            || note.root != revoked_identities_hash(&signed.revoked)
        {
            return Err(invalid(
                "its revoked identities do not match the hash and size their note signs"
                    .to_string(),
            ));
        }
        let mut revoked = BTreeMap::new();
        for entry in &signed.revoked {
            let address: anchor_chaincode::Address = entry.address.parse().map_err(|e| {
                invalid(format!("revoked identity {:?} is not an address: {e}", entry.address))
            })?;
            let _ = revoked.insert(address, entry.reason.clone());
        }
        Ok(Some(revoked))
    }

    /// Checks the note's signatures by a quorum of trusted members, its
    /// origin (a member's name), and that the bitstring and reasons hash to
    /// the signed list hash.
    ///
    /// `trusted` is a [`Quorum`], or a list of note keys any one of which
    /// suffices; either way the note is opened with
    /// [`checkpoint::open_checkpoint_with_quorum`].
    pub fn open(&self, trusted: &dyn TrustPolicy) -> Result<OpenedStatusList> {
        let invalid = |message: String| Error::StatusList(message);
        let quorum =
            trusted.quorum().map_err(|e| invalid(format!("no trusted quorum to check it: {e}")))?;
        let opened =
            checkpoint::open_checkpoint_with_quorum(&self.signed_note, &quorum).map_err(|e| {
                invalid(format!("its signatures do not verify with a trusted quorum: {e}"))
            })?;
        let note: Checkpoint = opened.checkpoint;
        let suffix = format!("/status/{}", self.issuer_organisation);
        let from_trusted_origin =
            quorum.members().iter().any(|m| note.origin == format!("{}{suffix}", m.name));
        if !from_trusted_origin {
            return Err(invalid(format!(
                "its note is for {:?}, not the status list of {:?} on a trusted ledger",
                note.origin, self.issuer_organisation
            )));
        }
        // Sizes first, from the signed note: a list that claims more entries
        // than it signs, or more than anyone issues, is not decoded at all.
        if self.size != note.size {
            return Err(invalid(format!(
                "it claims {} entries, its note signs {}",
                self.size, note.size
            )));
        }
        if self.size > MAX_ENTRIES {
            return Err(invalid(format!(
                "it has {} entries, more than the limit of {MAX_ENTRIES}",
                self.size
            )));
        }
        if self.encoded_list.len() as u64 > max_encoded_len(self.size) {
            return Err(invalid(format!(
                "its encoded list is {} bytes, more than {} entries can need",
                self.encoded_list.len(),
                self.size
            )));
        }
        if self.revoked.len() as u64 > self.size {
            return Err(invalid(format!(
                "it names {} revoked entries, more than its {} entries",
                self.revoked.len(),
                self.size
            )));
        }
        let compressed = STANDARD
            .decode(&self.encoded_list)
            .map_err(|e| invalid(format!("encoded list is not base64: {e}")))?;
        let bits = decompress(&compressed, self.size.div_ceil(8))?;
        let reasons: BTreeMap<u64, String> =
            self.revoked.iter().map(|e| (e.index, e.reason.clone())).collect();
        let list = StatusList::from_parts(self.size, &bits, reasons)
            .map_err(|e| invalid(e.to_string()))?;
        if note.size != list.size || note.root != list.hash(&self.issuer_organisation) {
            return Err(invalid(
                "the list does not match the hash and size its note signs".to_string(),
            ));
        }
        let mut as_of_ms = None;
        let mut anchor = None;
        for line in &note.extensions {
            let parts: Vec<&str> = line.split(' ').collect();
            match parts.as_slice() {
                ["time", ms] => as_of_ms = ms.parse().ok(),
                ["anchor", tx, block] => anchor = block.parse().ok().map(|b| (tx.to_string(), b)),
                _ => {}
            }
        }
        let as_of_ms =
            as_of_ms.ok_or_else(|| invalid("its note carries no `time` line".to_string()))?;
        let revoked_identities = self.open_revoked_identities(&quorum, as_of_ms)?;
        Ok(OpenedStatusList {
            issuer_organisation: self.issuer_organisation.clone(),
            list,
            as_of_ms,
            anchor,
            revoked_identities,
        })
    }
}
