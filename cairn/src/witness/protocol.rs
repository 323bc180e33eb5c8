//! The C2SP `tlog-witness` v1 `add-checkpoint` protocol, without I/O: parse
//! a request body, check it against the witness's record of the log, and
//! cosign it.
//!
//! Followed from <https://c2sp.org/tlog-witness> ("add-checkpoint"):
//!
//! - the body is `old <size>\n`, zero to 63 base64 consistency proof lines,
//!   an empty line, then the signed checkpoint note;
//! - an origin the witness has no key for is `404 Not Found`; a note no
//!   trusted key signed is `403 Forbidden`; an old size above the
//!   checkpoint's size, or a malformed body, is `400 Bad Request`;
//! - an old size other than the size last cosigned for the origin (0 if
//!   none) is `409 Conflict` with that size and a newline as a
//!   `text/x.tlog.size` body;
//! - a consistency proof that does not verify (it must be empty from size 0)
//!   is `422 Unprocessable Entity`;
//! - the same size with another root is `409 Conflict`: a split view;
//! - otherwise the witness records the new size and root, then answers
//!   `200` with its `cosignature/v1` line.
//!
//! [`Witness::add_checkpoint`] returns the new record; the caller persists it
//! before it sends the answer, and checks and persists under one lock.

use std::collections::BTreeMap;

use anchor_chaincode::checkpoint::{CosignatureSigner, NoteVerifier, open_checkpoint};
use anchor_chaincode::merkle::{self, Hash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

/// The most consistency proof lines a client may send.
pub(crate) const MAX_PROOF_LINES: usize = 63;

/// The content type of a `409 Conflict` answer that carries the witness's size.
pub(crate) const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// A parsed `add-checkpoint` request body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AddCheckpoint {
    /// The size the client believes the witness last cosigned.
    pub(crate) old_size: u64,
    /// The consistency proof from `old_size` to the checkpoint's size.
    pub(crate) proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub(crate) note: String,
}

impl AddCheckpoint {
    /// The request body for this request.
    pub(crate) fn body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&STANDARD.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.note);
        body
    }

    /// Parses a request body strictly.
    pub(crate) fn parse(body: &[u8]) -> Result<AddCheckpoint, Refusal> {
        let bad = |reason: &str| Refusal::BadRequest(reason.to_owned());
        let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
        let Some((first, mut rest)) = text.split_once('\n') else {
            return Err(bad("the body has no old size line"));
        };
        let Some(old) = first.strip_prefix("old ") else {
            return Err(bad("the first line is not `old <size>`"));
        };
        let old_size =
            parse_size(old).ok_or_else(|| bad("the old size is not a canonical decimal"))?;
        let mut proof = Vec::new();
        loop {
            let Some((line, after)) = rest.split_once('\n') else {
                return Err(bad("the body has no empty line before the checkpoint"));
            };
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let bytes = STANDARD.decode(line).map_err(|_| bad("a proof line is not base64"))?;
            let hash = Hash::try_from(bytes).map_err(|_| bad("a proof hash is not 32 bytes"))?;
            proof.push(hash);
        }
        Ok(AddCheckpoint { old_size, proof, note: rest.to_owned() })
    }
}

/// A canonical decimal size: digits, no leading zero except `0` itself.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

/// The witness's record of one log: the checkpoint it last cosigned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LogRecord {
    /// Its tree size.
    pub(crate) size: u64,
    /// Its root hash, hex.
    pub(crate) root: String,
}

/// The witness's records, by origin.
pub(crate) type Records = BTreeMap<String, LogRecord>;

/// Why the witness does not cosign, with the HTTP answer the spec asks for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// A malformed body, or an old size above the checkpoint's.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The witness knows no key for this origin.
    #[error("unknown log {0:?}")]
    UnknownLog(String),
    /// No trusted key signed the note, or a trusted key's signature is bad.
    #[error("the checkpoint is not signed by the log: {0}")]
    Forbidden(String),
    /// The old size is not the size the witness last cosigned.
    #[error("the witness last cosigned size {size}")]
    OldSizeMismatch {
        /// The size the witness last cosigned for the origin.
        size: u64,
    },
    /// The same size as the witness's record, with another root: a split view.
    #[error(
        "SPLIT VIEW: size {size} was cosigned with root {cosigned}, this checkpoint has {offered}"
    )]
    RootMismatch {
        /// The size.
        size: u64,
        /// The root the witness cosigned, hex.
        cosigned: String,
        /// The root offered, hex.
        offered: String,
    },
    /// The consistency proof does not verify.
    #[error("the consistency proof does not verify: {0}")]
    Inconsistent(String),
}

impl Refusal {
    /// The HTTP status code.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Forbidden(_) => 403,
            Refusal::UnknownLog(_) => 404,
            Refusal::OldSizeMismatch { .. } | Refusal::RootMismatch { .. } => 409,
            Refusal::Inconsistent(_) => 422,
        }
    }

    /// The content type and body of the answer.
    pub(crate) fn answer(&self) -> (&'static str, String) {
        match self {
            Refusal::OldSizeMismatch { size } => (SIZE_CONTENT_TYPE, format!("{size}\n")),
            other => ("text/plain; charset=utf-8", format!("{other}\n")),
        }
    }
}

/// A witness: its cosigner key and the logs it follows.
#[derive(Debug)]
pub(crate) struct Witness {
    signer: CosignatureSigner,
    logs: BTreeMap<String, Vec<NoteVerifier>>,
}

/// What a cosigned request gives: the record to persist and the answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Cosigned {
    /// The checkpoint's origin.
    pub(crate) origin: String,
    /// The new record for the origin.
    pub(crate) record: LogRecord,
    /// The cosignature line(s), each ending in a newline.
    pub(crate) lines: String,
}

impl Witness {
    /// A witness with `signer`, following the logs whose note keys are `logs`
    /// (the key name is the log's origin).
    pub(crate) fn new(signer: CosignatureSigner, logs: Vec<NoteVerifier>) -> Witness {
        let mut by_origin: BTreeMap<String, Vec<NoteVerifier>> = BTreeMap::new();
        for key in logs {
            by_origin.entry(key.name.clone()).or_default().push(key);
        }
        Witness { signer, logs: by_origin }
    }

    /// The witness's cosigner verifier key.
    pub(crate) fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// Checks `request` against `records` and cosigns it at `timestamp`
    /// (POSIX seconds). The caller persists [`Cosigned::record`] before it
    /// answers with [`Cosigned::lines`].
    pub(crate) fn add_checkpoint(
        &self,
        request: &AddCheckpoint,
        records: &Records,
        timestamp: u64,
    ) -> Result<Cosigned, Refusal> {
        let origin = note_origin(&request.note)?;
        let Some(keys) = self.logs.get(&origin) else {
            return Err(Refusal::UnknownLog(origin));
        };
        let checkpoint =
            open_checkpoint(&request.note, keys).map_err(|e| Refusal::Forbidden(e.to_string()))?;
        if request.old_size > checkpoint.size {
            return Err(Refusal::BadRequest(format!(
                "old size {} is above the checkpoint's size {}",
                request.old_size, checkpoint.size
            )));
        }
        let known = records.get(&origin);
        let known_size = known.map_or(0, |r| r.size);
        if request.old_size != known_size {
            return Err(Refusal::OldSizeMismatch { size: known_size });
        }
        let offered = hex::encode(checkpoint.root);
        match known {
            Some(record) if record.size == checkpoint.size => {
                if record.root != offered {
                    return Err(Refusal::RootMismatch {
                        size: record.size,
                        cosigned: record.root.clone(),
                        offered,
                    });
                }
                if !request.proof.is_empty() {
                    return Err(Refusal::Inconsistent(
                        "the proof between equal sizes is not empty".into(),
                    ));
                }
            }
            Some(record) if record.size > 0 => {
                let old_root = parse_root(&record.root)?;
                merkle::verify_consistency(
                    record.size,
                    checkpoint.size,
                    &old_root,
                    &checkpoint.root,
                    &request.proof,
                )
                .map_err(|e| Refusal::Inconsistent(e.to_string()))?;
            }
            _ => {
                if !request.proof.is_empty() {
                    return Err(Refusal::Inconsistent("the proof from size 0 is not empty".into()));
                }
            }
        }
        let lines = self
            .signer
            .cosign(&checkpoint, timestamp)
            .map_err(|e| Refusal::BadRequest(e.to_string()))?;
        Ok(Cosigned { origin, record: LogRecord { size: checkpoint.size, root: offered }, lines })
    }
}

/// The origin line of a note, read before any signature is checked (to
/// tell an unknown log from a bad signature).
fn note_origin(note: &str) -> Result<String, Refusal> {
    let Some((origin, _)) = note.split_once('\n') else {
        return Err(Refusal::BadRequest("the checkpoint has no origin line".into()));
    };
    if origin.is_empty() {
        return Err(Refusal::BadRequest("the checkpoint's origin is empty".into()));
    }
    Ok(origin.to_owned())
}

/// A recorded root, hex.
fn parse_root(text: &str) -> Result<Hash, Refusal> {
    let mut root = [0u8; 32];
    hex::decode_to_slice(text, &mut root)
        .map_err(|e| Refusal::Inconsistent(format!("the witness's record is damaged: {e}")))?;
    Ok(root)
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
