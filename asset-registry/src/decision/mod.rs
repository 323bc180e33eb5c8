//! Signed decision documents: what a department decided on a social-security
//! case, signed with the deciding organisation's identity key, sealed into
//! the ODS and anchored on the ledger by its hash, so that anyone holding the
//! file (or its printed PDF) can check it offline.
//!
//! Everything here is pure: no clock, no randomness, no filesystem, no
//! network. The caller passes in the time of the decision, the signing key
//! and, to check against the ledger, the anchored hash.
//!
//! # What a decision document holds
//!
//! A [`DecisionDocument`] names the case only by its reference (`c-` and 32
//! hex digits), the service and its version, the [`Outcome`], an optional
//! amount in integer minor units with its ISO 4217 currency, the reasons, who
//! decided (organisation, reviewer role and Cairn address), when (milliseconds
//! since the Unix epoch, UTC), the hashes of the evidence relied on, and
//! whether the decision was made on appeal. It holds no name, identity
//! document number or other personal data of the applicant: reasons are
//! written about the case, not the person.
//!
//! # Canonical bytes and the document hash
//!
//! [`DecisionDocument::canonical_bytes`] is JSON with no whitespace and the
//! fields always present, in this order:
//!
//! ```text
//! {"case_id":"c-…","service_id":"…","service_version":1,"outcome":"approved",
//!  "amount_minor":123456,"currency":"CNY","reasons":["…"],
//!  "decided_by_organisation":"…","decided_by_role":"…",
//!  "decided_by_address":"<40 hex>","decided_at_ms":1796000000000,
//!  "evidence":["<64 hex>"],"appeal":false}
//! ```
//!
//! (shown folded here; the real bytes are one line). An absent amount and
//! currency are written `null`. Strings are UTF-8 and escaped as RFC 8259
//! requires and no more: `"` and `\` by a backslash; control characters
//! cannot occur, since a valid document has none. Integers are written in
//! decimal without sign for non-negative values, as `JSON.stringify` writes
//! them, so a verifier in another language reproduces the bytes from the
//! parsed document.
//!
//! The **document hash** is `SHA-256(canonical bytes)`; it is what the ledger
//! anchors and what the PDF's QR code carries, as [`qr_payload`]
//! `cairn-decision:<64 hex>`.
//!
//! # Signature and file
//!
//! The deciding organisation's Ed25519 key signs
//! `"cairn-decision-v1\n" || canonical bytes` (the label separates these
//! signatures from every other signature Cairn makes with the same key).
//! [`SignedDecision::to_json`] writes the file a citizen keeps:
//!
//! ```text
//! {
//!   "format": "cairn-decision-v1",
//!   "document": <the canonical bytes, verbatim>,
//!   "document_hash": "<64 hex>",
//!   "signer_public_key": "<64 hex>",
//!   "signature": "<128 hex>"
//! }
//! ```
//!
//! [`SignedDecision::from_json`] reads it back and refuses a file whose
//! stated hash is not the hash of its document; [`SignedDecision::verify`]
//! checks the document's rules and the signature and answers the document
//! hash; [`SignedDecision::verify_against`] also compares that hash with the
//! one anchored on the ledger, and [`SignedDecision::verify_signed_by`] the
//! signer with the key the ledger registers for the deciding organisation.
//!
//! ```
//! use asset_registry::decision::{DecisionDocument, Outcome, SignedDecision};
//!
//! # fn main() -> Result<(), asset_registry::decision::DecisionError> {
//! let key = ed25519_zebra::SigningKey::from([7u8; 32]);
//! let document = DecisionDocument {
//!     case_id: format!("c-{}", "ab".repeat(16)),
//!     service_id: "minimum-living-guarantee".into(),
//!     service_version: 1,
//!     outcome: Outcome::Approved,
//!     amount_minor: Some(42_000),
//!     currency: Some("CNY".into()),
//!     reasons: vec!["Household per-capita income is below the local threshold.".into()],
//!     decided_by_organisation: "county-welfare-department".into(),
//!     decided_by_role: "acceptance_officer".into(),
//!     decided_by_address: "0f".repeat(20),
//!     decided_at_ms: 1_796_000_000_000,
//!     evidence: vec!["e3".repeat(32)],
//!     appeal: false,
//! };
//! let signed = SignedDecision::sign(document, &key)?;
//! let file = signed.to_json();
//! let hash = SignedDecision::from_json(&file)?.verify()?;
//! assert_eq!(hash, signed.document.document_hash());
//! let pdf = asset_registry::decision::render_pdf(&signed)?;
//! assert!(pdf.starts_with(b"%PDF-"));
//! # Ok(())
//! # }
//! ```

use std::fmt;

use serde::Deserialize;

pub use certificate::{CertificateTerms, approval_certificate};
use sha2::{Digest, Sha256};

mod certificate;
mod error;
mod pdf;
#[cfg(test)]
mod tests;

pub use error::{DecisionError, Result};
pub use pdf::render_pdf;

/// The label of the format: the first line of every signed message and the
/// `format` field of every decision file.
pub const LABEL: &str = "cairn-decision-v1";

/// The prefix of the text a decision's QR code carries.
pub const QR_PREFIX: &str = "cairn-decision:";

/// The largest decision file [`SignedDecision::from_json`] reads.
pub const MAX_FILE_BYTES: usize = 256 * 1024;

/// The most reasons a decision may give.
pub const MAX_REASONS: usize = 32;
/// The longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 2000;
/// The most evidence hashes a decision may name.
pub const MAX_EVIDENCE: usize = 64;
/// The longest service id, organisation or role, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The application is granted, with an amount where the service pays one.
    Approved,
    /// The application is refused, with reasons.
    Rejected,
    /// The application goes back to the applicant for more material, with
    /// reasons saying what is missing.
    Returned,
}

impl Outcome {
    /// The word written in the canonical bytes: `approved`, `rejected` or
    /// `returned`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Approved => "approved",
            Outcome::Rejected => "rejected",
            Outcome::Returned => "returned",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision on one case, as it is signed and anchored.
///
/// Its `Debug` output names the case, the service, the outcome and the
/// deciding organisation only: reasons and amounts are the case's business.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionDocument {
    /// The case reference: `c-` followed by 32 lower-case hex digits.
    pub case_id: String,
    /// The service applied for.
    pub service_id: String,
    /// The version of the service definition the case follows (from 1).
    pub service_version: u32,
    /// What was decided.
    pub outcome: Outcome,
    /// The amount granted, in integer minor units of `currency` (for
    /// example fen for CNY); only with [`Outcome::Approved`], never negative.
    pub amount_minor: Option<i64>,
    /// The ISO 4217 code of the amount's currency (three capital letters);
    /// present exactly when `amount_minor` is.
    pub currency: Option<String>,
    /// Why, one sentence or paragraph each; at least one for a rejection or
    /// a return. About the case, never naming the person.
    pub reasons: Vec<String>,
    /// The organisation that decided (its key signs the document).
    pub decided_by_organisation: String,
    /// The department-defined reviewer role of the deciding reviewer.
    pub decided_by_role: String,
    /// The Cairn address of the deciding reviewer: 40 lower-case hex digits.
    pub decided_by_address: String,
    /// When the decision was made: milliseconds since the Unix epoch, UTC,
    /// as recorded in the deciding transaction.
    pub decided_at_ms: u64,
    /// SHA-256 hashes of the evidence relied on, 64 lower-case hex digits
    /// each.
    pub evidence: Vec<String>,
    /// Whether the decision was made on appeal.
    pub appeal: bool,
}

impl fmt::Debug for DecisionDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecisionDocument")
            .field("case_id", &self.case_id)
            .field("service_id", &self.service_id)
            .field("service_version", &self.service_version)
            .field("outcome", &self.outcome)
            .field("decided_by_organisation", &self.decided_by_organisation)
            .field("n_reasons", &self.reasons.len())
            .field("n_evidence", &self.evidence.len())
            .field("appeal", &self.appeal)
            .finish_non_exhaustive()
    }
}

impl DecisionDocument {
    /// The canonical bytes: compact JSON with every field, in the fixed
    /// order the module documentation gives.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(512);
        out.push_str("{\"case_id\":");
        push_json_string(&mut out, &self.case_id);
        out.push_str(",\"service_id\":");
        push_json_string(&mut out, &self.service_id);
        out.push_str(",\"service_version\":");
        out.push_str(&self.service_version.to_string());
        out.push_str(",\"outcome\":");
        push_json_string(&mut out, self.outcome.as_str());
        out.push_str(",\"amount_minor\":");
        match self.amount_minor {
            Some(amount) => out.push_str(&amount.to_string()),
            None => out.push_str("null"),
        }
        out.push_str(",\"currency\":");
        match &self.currency {
            Some(currency) => push_json_string(&mut out, currency),
            None => out.push_str("null"),
        }
        out.push_str(",\"reasons\":");
        push_json_strings(&mut out, &self.reasons);
        out.push_str(",\"decided_by_organisation\":");
        push_json_string(&mut out, &self.decided_by_organisation);
        out.push_str(",\"decided_by_role\":");
        push_json_string(&mut out, &self.decided_by_role);
        out.push_str(",\"decided_by_address\":");
        push_json_string(&mut out, &self.decided_by_address);
        out.push_str(",\"decided_at_ms\":");
        out.push_str(&self.decided_at_ms.to_string());
        out.push_str(",\"evidence\":");
        push_json_strings(&mut out, &self.evidence);
        out.push_str(",\"appeal\":");
        out.push_str(if self.appeal { "true" } else { "false" });
        out.push('}');
        out.into_bytes()
    }

    /// `SHA-256(canonical bytes)`: the hash the ledger anchors and the QR
    /// code carries.
    pub fn document_hash(&self) -> [u8; 32] {
        Sha256::digest(self.canonical_bytes()).into()
    }

    /// Checks the document's rules, naming the first field that breaks one:
    /// the case reference, address and evidence hashes are lower-case hex of
    /// the right length; names are non-empty, short and free of control
    /// characters; an amount comes with a currency, only on an approval and
    /// never negative; a rejection or a return gives at least one reason.
    pub fn validate(&self) -> Result<()> {
        let invalid =
            |field: &'static str, reason: String| DecisionError::InvalidDocument { field, reason };
        match self.case_id.strip_prefix("c-") {
            Some(hex_part) if is_lower_hex(hex_part, 32) => {}
            _ => {
                return Err(invalid(
                    "case_id",
                    format!("{:?} is not c- followed by 32 lower-case hex digits", self.case_id),
                ));
            }
        }
        check_name("service_id", &self.service_id)?;
        if self.service_version == 0 {
            return Err(invalid("service_version", "versions are counted from 1".into()));
        }
        match (self.amount_minor, &self.currency) {
            (None, None) => {}
            (Some(amount), Some(currency)) => {
                if self.outcome != Outcome::Approved {
                    return Err(invalid(
                        "amount_minor",
                        format!(
                            "only an approval carries an amount, not a decision {}",
                            self.outcome
                        ),
                    ));
                }
                if amount < 0 {
                    return Err(invalid(
                        "amount_minor",
                        "an amount granted is never negative".into(),
                    ));
                }
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(invalid(
                        "currency",
                        format!("{currency:?} is not an ISO 4217 code of three capital letters"),
                    ));
                }
            }
            (Some(_), None) => {
                return Err(invalid("currency", "an amount needs its currency".into()));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "amount_minor",
                    "a currency is given without an amount".into(),
                ));
            }
        }
        if self.outcome != Outcome::Approved && self.reasons.is_empty() {
            return Err(invalid(
                "reasons",
                format!("a decision {} must give at least one reason", self.outcome),
            ));
        }
        if self.reasons.len() > MAX_REASONS {
            return Err(invalid(
                "reasons",
                format!("{} reasons, more than the limit of {MAX_REASONS}", self.reasons.len()),
            ));
        }
        for (reason_idx, reason) in self.reasons.iter().enumerate() {
            let n_chars = reason.chars().count();
            if reason.trim().is_empty() {
                return Err(invalid("reasons", format!("reason {} is empty", reason_idx + 1)));
            }
            if n_chars > MAX_REASON_CHARS {
                return Err(invalid(
                    "reasons",
                    format!(
                        "reason {} is {n_chars} characters, more than the limit of {MAX_REASON_CHARS}",
                        reason_idx + 1
                    ),
                ));
            }
            if reason.chars().any(char::is_control) {
                return Err(invalid(
                    "reasons",
                    format!(
                        "reason {} holds a control character (line break or tab)",
                        reason_idx + 1
                    ),
                ));
            }
        }
        check_name("decided_by_organisation", &self.decided_by_organisation)?;
        check_name("decided_by_role", &self.decided_by_role)?;
        if !is_lower_hex(&self.decided_by_address, 40) {
            return Err(invalid(
                "decided_by_address",
                format!(
                    "{:?} is not a Cairn address (40 lower-case hex digits)",
                    self.decided_by_address
                ),
            ));
        }
        if self.evidence.len() > MAX_EVIDENCE {
            return Err(invalid(
                "evidence",
                format!("{} hashes, more than the limit of {MAX_EVIDENCE}", self.evidence.len()),
            ));
        }
        for (evidence_idx, hash) in self.evidence.iter().enumerate() {
            if !is_lower_hex(hash, 64) {
                return Err(invalid(
                    "evidence",
                    format!(
                        "item {} ({hash:?}) is not a SHA-256 hash in 64 lower-case hex digits",
                        evidence_idx + 1
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A decision document with the deciding organisation's signature.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedDecision {
    /// The document signed.
    pub document: DecisionDocument,
    /// The Ed25519 public key that signed it.
    pub signer_public_key: [u8; 32],
    /// The Ed25519 signature over `"cairn-decision-v1\n" || canonical bytes`.
    pub signature: [u8; 64],
}

impl fmt::Debug for SignedDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedDecision")
            .field("document", &self.document)
            .field("signer_public_key", &hex::encode(self.signer_public_key))
            .finish_non_exhaustive()
    }
}

/// The file layout, for reading only; [`SignedDecision::to_json`] writes it
/// by hand so that the document appears as its canonical bytes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionFile {
    #[serde(rename = "format")]
    _format: String,
    document: DecisionDocument,
    document_hash: String,
    signer_public_key: String,
    signature: String,
}

impl SignedDecision {
    /// Signs a document with the deciding organisation's identity key,
    /// after checking the document's rules ([`DecisionDocument::validate`]).
    pub fn sign(
        document: DecisionDocument,
        signing_key: &ed25519_zebra::SigningKey,
    ) -> Result<SignedDecision> {
        document.validate()?;
        let signature = signing_key.sign(&signed_message(&document.canonical_bytes()));
        let signer_public_key = ed25519_zebra::VerificationKeyBytes::from(signing_key).into();
        Ok(SignedDecision { document, signer_public_key, signature: signature.to_bytes() })
    }

    /// The decision file: pretty JSON whose `document` line is the
    /// canonical bytes verbatim, ending with a line break.
    pub fn to_json(&self) -> String {
        let canonical = self.document.canonical_bytes();
        format!(
            "{{\n  \"format\": \"{LABEL}\",\n  \"document\": {},\n  \"document_hash\": \"{}\",\n  \"signer_public_key\": \"{}\",\n  \"signature\": \"{}\"\n}}\n",
            String::from_utf8_lossy(&canonical),
            hex::encode(Sha256::digest(&canonical)),
            hex::encode(self.signer_public_key),
            hex::encode(self.signature),
        )
    }

    /// Reads a decision file. Refuses text that is too large, not JSON of
    /// the file's shape (unknown fields included), labelled with another
    /// format, or whose stated document hash is not the hash of its
    /// document. It does not check the signature: call [`Self::verify`].
    pub fn from_json(text: &str) -> Result<SignedDecision> {
        if text.len() > MAX_FILE_BYTES {
            return Err(DecisionError::TooLarge { bytes: text.len(), limit: MAX_FILE_BYTES });
        }
        let bad_json = |e: serde_json::Error| DecisionError::BadJson { message: e.to_string() };
        let value: serde_json::Value = serde_json::from_str(text).map_err(bad_json)?;
        let object = value.as_object().ok_or_else(|| DecisionError::BadJson {
            message: "the file is not a JSON object".into(),
        })?;
        match object.get("format") {
            Some(serde_json::Value::String(label)) if label == LABEL => {}
            Some(serde_json::Value::String(label)) => {
                return Err(DecisionError::WrongLabel { found: label.clone() });
            }
            Some(other) => return Err(DecisionError::WrongLabel { found: other.to_string() }),
            None => return Err(DecisionError::WrongLabel { found: "(none)".into() }),
        }
        let file: DecisionFile = serde_json::from_value(value).map_err(bad_json)?;
        let stated_hash: [u8; 32] = decode_hex("document_hash", &file.document_hash)?;
        let signer_public_key = decode_hex("signer_public_key", &file.signer_public_key)?;
        let signature = decode_hex("signature", &file.signature)?;
        let computed_hash = file.document.document_hash();
        if computed_hash != stated_hash {
            return Err(DecisionError::HashMismatch {
                stated: hex::encode(stated_hash),
                computed: hex::encode(computed_hash),
            });
        }
        Ok(SignedDecision { document: file.document, signer_public_key, signature })
    }

    /// Checks the document's rules and the signature over it; answers the
    /// document hash, to compare with the one anchored on the ledger.
    pub fn verify(&self) -> Result<[u8; 32]> {
        self.document.validate()?;
        let canonical = self.document.canonical_bytes();
        let document_hash: [u8; 32] = Sha256::digest(&canonical).into();
        let key =
            ed25519_zebra::VerificationKey::try_from(self.signer_public_key).map_err(|e| {
                DecisionError::BadKey {
                    key: hex::encode(self.signer_public_key),
                    reason: e.to_string(),
                }
            })?;
        let signature = ed25519_zebra::Signature::from_bytes(&self.signature);
        key.verify(&signature, &signed_message(&canonical)).map_err(|_| {
            DecisionError::BadSignature {
                document_hash: hex::encode(document_hash),
                signer: hex::encode(self.signer_public_key),
            }
        })?;
        Ok(document_hash)
    }

    /// [`Self::verify`], then checks that the document hash is the one the
    /// ledger anchored.
    pub fn verify_against(&self, anchored_hash: &[u8; 32]) -> Result<[u8; 32]> {
        let document_hash = self.verify()?;
        if &document_hash != anchored_hash {
            return Err(DecisionError::NotAnchored {
                anchored: hex::encode(anchored_hash),
                computed: hex::encode(document_hash),
            });
        }
        Ok(document_hash)
    }

    /// [`Self::verify`], then checks that the signer is the expected key:
    /// the signing key the ledger registers for the deciding organisation.
    pub fn verify_signed_by(&self, expected_public_key: &[u8; 32]) -> Result<[u8; 32]> {
        let document_hash = self.verify()?;
        if &self.signer_public_key != expected_public_key {
            return Err(DecisionError::WrongSigner {
                signer: hex::encode(self.signer_public_key),
                expected: hex::encode(expected_public_key),
            });
        }
        Ok(document_hash)
    }
}

/// The text of a decision's QR code: `cairn-decision:` and the document
/// hash in 64 lower-case hex digits.
pub fn qr_payload(document_hash: &[u8; 32]) -> String {
    format!("{QR_PREFIX}{}", hex::encode(document_hash))
}

/// Reads the document hash back from a QR code's text, refusing anything
/// that is not [`qr_payload`]'s form (surrounding whitespace is ignored,
/// and hex digits of either case are accepted).
pub fn parse_qr_payload(text: &str) -> Result<[u8; 32]> {
    let text = text.trim();
    let hex_part = text.strip_prefix(QR_PREFIX).ok_or_else(|| DecisionError::BadQrPayload {
        reason: format!("the text does not start with {QR_PREFIX:?}"),
    })?;
    if hex_part.len() != 64 {
        return Err(DecisionError::BadQrPayload {
            reason: format!(
                "the document hash has {} characters, expected 64 hex digits",
                hex_part.len()
            ),
        });
    }
    let mut hash = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut hash).map_err(|e| DecisionError::BadQrPayload {
        reason: format!("the document hash is not hex: {e}"),
    })?;
    Ok(hash)
}

/// `"cairn-decision-v1\n" || canonical bytes`.
fn signed_message(canonical: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(LABEL.len() + 1 + canonical.len());
    message.extend_from_slice(LABEL.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(canonical);
    message
}

fn decode_hex<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    if text.len() != 2 * N {
        return Err(DecisionError::BadHex {
            field,
            reason: format!("{} characters, expected {} hex digits", text.len(), 2 * N),
        });
    }
    hex::decode_to_slice(text, &mut bytes)
        .map_err(|e| DecisionError::BadHex { field, reason: format!("not hex: {e}") })?;
    Ok(bytes)
}

fn is_lower_hex(text: &str, n_digits: usize) -> bool {
    text.len() == n_digits && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check_name(field: &'static str, text: &str) -> Result<()> {
    let n_chars = text.chars().count();
    let reason = if text.trim().is_empty() {
        "it is empty".to_string()
    } else if n_chars > MAX_NAME_CHARS {
        format!("{n_chars} characters, more than the limit of {MAX_NAME_CHARS}")
    } else if text.chars().any(char::is_control) {
        "it holds a control character".to_string()
    } else {
        return Ok(());
    };
    Err(DecisionError::InvalidDocument { field, reason })
}

/// Appends a JSON string: `"` and `\` escaped by a backslash, control
/// characters as RFC 8259 and `JSON.stringify` write them.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_json_strings(out: &mut String, texts: &[String]) {
    out.push('[');
    for (text_idx, text) in texts.iter().enumerate() {
        if text_idx > 0 {
            out.push(',');
        }
        push_json_string(out, text);
    }
    out.push(']');
}
