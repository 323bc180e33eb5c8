//! Offline verification of a presentation: every check is run and reported
//! with pass or fail and a reason, so a verifier sees everything that is
//! wrong, not just the first thing.
//!
//! The checks, in order: the issuer's signature over the statement; that the
//! chain allows the issuing organisation to issue the certificate's type; the
//! holder's key and signature; the challenge or the presentation's age; the
//! channel checkpoint's signatures by a quorum of trusted members and its
//! channel; the
//! certificate's inclusion in that checkpoint; the expected channel, issuer
//! and holder, when the verifier names them; the validity period at `now`;
//! the revocation status in the issuer's signed status list, with its age;
//! and that the holder's identity is not among the revoked identities the
//! list carries.

use anchor_chaincode::cert;
use anchor_chaincode::checkpoint::{self, Quorum, TrustPolicy};
use anchor_chaincode::merkle::{self, Hash};
use anchor_chaincode::{Address, TxId};
use serde::Serialize;

use std::collections::BTreeMap;

use anchor_chaincode::checkpoint::Checkpoint;

use super::presentation::Presentation;
use super::status::OpenedStatusList;

/// What the verifier expects and knows.
#[derive(Clone, Debug)]
pub struct Expectations<'a> {
    /// Who the verifier trusts to sign checkpoints: a [`Quorum`], or a list
    /// of note keys any one of which suffices (a quorum of 1).
    pub trusted: &'a dyn TrustPolicy,
    /// The chain's certificate types and the organisations allowed to issue
    /// each (the genesis `issuers`); a certificate whose issuing organisation
    /// is not listed for its type fails, whatever else verifies.
    pub authorised_issuers: &'a BTreeMap<String, Vec<String>>,
    /// The verifier's clock, ms since the epoch.
    pub now_ms: u64,
    /// The challenge the verifier gave the holder; `None` accepts a
    /// time-bound presentation signed at most `max_presentation_age_ms` ago.
    pub challenge: Option<&'a [u8]>,
    /// How old a time-bound presentation may be.
    pub max_presentation_age_ms: u64,
    /// The certificate type this check is for (the channel), if any.
    pub channel: Option<&'a str>,
    /// The issuing organisation expected, if any.
    pub issuer_organisation: Option<&'a str>,
    /// The holder expected, if any.
    pub holder: Option<Address>,
    /// The issuer's status list, synced earlier and opened
    /// ([`super::status::SignedStatusList::open`]); or why there is none.
    pub status_list: Result<&'a OpenedStatusList, String>,
    /// How old a status list may be.
    pub max_status_age_ms: u64,
}

/// One check and its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked, for example `issuer signature`.
    pub check: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// Why.
    pub detail: String,
}

/// The outcome of verifying a presentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// True when every check passed.
    pub valid: bool,
    /// The certificate id (hex).
    pub certificate_id: String,
    /// The certificate type.
    pub channel: String,
    /// The issuing organisation.
    pub issuer_organisation: String,
    /// The holder.
    pub holder: String,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Age of the status list used, ms, when one was used.
    pub status_list_age_ms: Option<u64>,
}

impl Report {
    /// The first failed check, if any.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.passed)
    }
}

/// "3 min", "2 h 5 min", "12 s": a short, readable duration.
pub fn readable_age(ms: u64) -> String {
    let seconds = ms / 1000;
    match seconds {
        0..=59 => format!("{seconds} s"),
        60..=3599 => format!("{} min {} s", seconds / 60, seconds % 60),
        3600..=86_399 => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
        _ => format!("{} d {} h", seconds / 86_400, (seconds % 86_400) / 3600),
    }
}

/// A time as `2026-11-22T05:12:27Z` (UTC), computed without a clock or a
/// time-zone database (days to civil date, as in Howard Hinnant's algorithm).
pub fn utc(ms: u64) -> String {
    let seconds = ms / 1000;
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        (rest % 3600) / 60,
        rest % 60
    )
}

fn verify_signature(public_key: &[u8], signature: &[u8], message: &[u8]) -> Result<(), String> {
    let key = <[u8; 32]>::try_from(public_key)
        .map_err(|_| format!("public key is {} bytes, not 32", public_key.len()))?;
    let signature = <[u8; 64]>::try_from(signature)
        .map_err(|_| format!("signature is {} bytes, not 64", signature.len()))?;
    ed25519_zebra::VerificationKey::try_from(key)
        .and_then(|key| key.verify(&ed25519_zebra::Signature::from_bytes(&signature), message))
        .map_err(|_| "signature does not verify".to_string())
}

struct Checks(Vec<Check>);

impl Checks {
    fn push(&mut self, check: &'static str, outcome: Result<String, String>) {
        let (passed, detail) = match outcome {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        self.0.push(Check { check, passed, detail });
    }
}

/// What a verifier keeps between checks: checkpoint notes whose signatures
/// were already checked (so each checkpoint of a channel is checked once), and
/// issuers' public keys already decompressed (a verifier sees few issuers).
#[derive(Clone, Debug, Default)]
pub struct CheckpointCache {
    opened: BTreeMap<String, (Checkpoint, String)>,
    issuer_keys: BTreeMap<[u8; 32], ed25519_zebra::VerificationKey>,
    batch: bool,
}

impl CheckpointCache {
    /// A cache whose verifications check the issuer's and the holder's
    /// signatures together as one random-coefficient batch (about 15% less
    /// work than two single checks), falling back to single checks to name
    /// the bad one. The coefficients come from the operating system's random
    /// source; with `ed25519-zebra` (ZIP-215) a batch accepts exactly what
    /// single checks accept, so reports are the same as without batching.
    pub fn batched() -> CheckpointCache {
        CheckpointCache { batch: true, ..CheckpointCache::default() }
    }

    /// Whether both signatures verify as one batch; `false` when they do not
    /// or batching is off (the single checks then decide).
    fn both_signatures(&self, presentation: &Presentation, statement: &cert::Statement) -> bool {
        if !self.batch {
            return false;
        }
        let (Ok(issuer_signature), Ok(holder_key), Ok(holder_signature)) = (
            <[u8; 64]>::try_from(presentation.issuer_signature.as_slice()),
            <[u8; 32]>::try_from(presentation.holder_key.as_slice()),
            <[u8; 64]>::try_from(presentation.holder_signature.as_slice()),
        ) else {
            return false;
        };
        let issuer_message = cert::issuer_message(&presentation.statement);
        let holder_message = cert::presentation_message(
            &presentation.certificate_id(),
            presentation.presented_at_ms,
            &presentation.challenge,
        );
        let mut batch = ed25519_zebra::batch::Verifier::new();
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(statement.issuer_public_key),
            ed25519_zebra::Signature::from_bytes(&issuer_signature),
            &issuer_message[..],
        ));
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(holder_key),
            ed25519_zebra::Signature::from_bytes(&holder_signature),
            &holder_message[..],
        ));
        batch.verify(rand_core::UnwrapErr(getrandom::SysRng)).is_ok()
    }

    fn issuer_key(&mut self, key: &[u8; 32]) -> Result<ed25519_zebra::VerificationKey, String> {
        if let Some(decoded) = self.issuer_keys.get(key) {
            return Ok(*decoded);
        }
        let decoded = ed25519_zebra::VerificationKey::try_from(*key)
            .map_err(|_| "the issuer's public key is not a valid Ed25519 key".to_string())?;
        if self.issuer_keys.len() >= 10_000 {
            self.issuer_keys.clear();
        }
        let _ = self.issuer_keys.insert(*key, decoded);
        Ok(decoded)
    }

    /// Opens a checkpoint with the quorum: the checkpoint and who signed it.
    fn open(&mut self, note: &str, quorum: &Quorum) -> Result<(Checkpoint, String), String> {
        if let Some(opened) = self.opened.get(note) {
            return Ok(opened.clone());
        }
        let opened = checkpoint::open_checkpoint_with_quorum(note, quorum)
            .map_err(|e| format!("channel checkpoint is not signed by a trusted quorum: {e}"))?;
        let signed_by = quorum.describe(&opened.signers);
        if self.opened.len() >= 10_000 {
            self.opened.clear();
        }
        let value = (opened.checkpoint, signed_by);
        let _ = self.opened.insert(note.to_string(), value.clone());
        Ok(value)
    }
}

/// Verifies a presentation. Never panics; every problem is a failed check.
pub fn verify(presentation: &Presentation, expect: &Expectations<'_>) -> Report {
    verify_with_cache(presentation, expect, &mut CheckpointCache::default())
}

/// [`verify`], reusing checkpoints already opened with the same quorum.
pub fn verify_with_cache(
    presentation: &Presentation,
    expect: &Expectations<'_>,
    cache: &mut CheckpointCache,
) -> Report {
    let mut checks = Checks(Vec::new());
    let id = presentation.certificate_id();
    let statement = match presentation.parsed_statement() {
        Ok(statement) => statement,
        Err(e) => {
            checks.push("statement", Err(e.to_string()));
            return Report {
                valid: false,
                certificate_id: hex::encode(id),
                channel: String::new(),
                issuer_organisation: String::new(),
                holder: String::new(),
                checks: checks.0,
                status_list_age_ms: None,
            };
        }
    };

    let both_verified = cache.both_signatures(presentation, &statement);
    checks.push(
        "issuer signature",
        cache
            .issuer_key(&statement.issuer_public_key)
            .and_then(|key| {
                if both_verified {
                    return Ok(());
                }
                let signature = <[u8; 64]>::try_from(presentation.issuer_signature.as_slice())
                    .map_err(|_| {
                        format!(
                            "signature is {} bytes, not 64",
                            presentation.issuer_signature.len()
                        )
                    })?;
                key.verify(
                    &ed25519_zebra::Signature::from_bytes(&signature),
                    &cert::issuer_message(&presentation.statement),
                )
                .map_err(|_| "signature does not verify".to_string())
            })
            .map(|()| {
                format!(
                    "signed by {} of {} (key {})",
                    Address::of_public_key(&statement.issuer_public_key),
                    statement.issuer_organisation,
                    hex::encode(statement.issuer_public_key)
                )
            })
            .map_err(|e| format!("issuer signature is forged or damaged: {e}")),
    );

    let allowed = expect.authorised_issuers.get(&statement.channel);
    checks.push(
        "issuer authorised",
        match allowed {
            Some(organisations) if organisations.contains(&statement.issuer_organisation) => {
                Ok(format!(
                    "{} may issue {} certificates",
                    statement.issuer_organisation, statement.channel
                ))
            }
            Some(organisations) => Err(format!(
                "{} certificates may be issued only by {organisations:?}, not by {}",
                statement.channel, statement.issuer_organisation
            )),
            None => {
                Err(format!("the chain lists no issuer for {:?} certificates", statement.channel))
            }
        },
    );

    let holder_outcome = <[u8; 32]>::try_from(presentation.holder_key.as_slice())
        .map_err(|_| "the presentation carries no 32-byte holder key".to_string())
        .and_then(|key| {
            let presenter = Address::of_public_key(&key);
            if presenter != statement.holder {
                return Err(format!(
                    "presented by {presenter}, but the certificate's holder is {}: another holder's certificate",
                    statement.holder
                ));
            }
            let message = cert::presentation_message(
                &id,
                presentation.presented_at_ms,
                &presentation.challenge,
            );
            if !both_verified {
                verify_signature(&key, &presentation.holder_signature, &message)
                    .map_err(|e| format!("holder signature: {e}"))?;
            }
            Ok(format!("signed by the holder {presenter}"))
        });
    checks.push("holder signature", holder_outcome);

    let freshness = match expect.challenge {
        Some(challenge) if presentation.challenge == challenge => {
            Ok("the holder signed this verifier's challenge".to_string())
        }
        Some(_) => {
            Err("the holder signed another challenge than this verifier's (a replay?)".to_string())
        }
        None => {
            let age = expect.now_ms.abs_diff(presentation.presented_at_ms);
            if age <= expect.max_presentation_age_ms {
                Ok(format!("time-bound presentation signed {} ago", readable_age(age)))
            } else {
                Err(format!(
                    "presentation was signed {} {}, more than the {} allowed",
                    readable_age(age),
                    if presentation.presented_at_ms > expect.now_ms {
                        "in the future"
                    } else {
                        "ago"
                    },
                    readable_age(expect.max_presentation_age_ms)
                ))
            }
        }
    };
    checks.push("challenge", freshness);

    let channel_suffix = format!("/cert/{}", statement.channel);
    let opened =
        expect.trusted.quorum().map_err(|e| format!("no trusted quorum: {e}")).and_then(|quorum| {
            let (checkpoint, signed_by) = cache.open(&presentation.checkpoint, &quorum)?;
            let trusted_origin = quorum
                .members()
                .iter()
                .any(|member| checkpoint.origin == format!("{}{channel_suffix}", member.name));
            Ok((checkpoint, signed_by, trusted_origin))
        });
    let opened = opened.and_then(|(checkpoint, signed_by, trusted_origin)| {
        if trusted_origin {
            Ok((checkpoint, signed_by))
        } else {
            Err(format!(
                "checkpoint is for {:?}, not the {} channel of a trusted ledger: wrong channel",
                checkpoint.origin, statement.channel
            ))
        }
    });
    let root: Option<(u64, Hash)> = opened.as_ref().ok().map(|(c, _)| (c.size, c.root));
    checks.push(
        "checkpoint",
        opened.map(|(c, signed_by)| format!("{} at size {}, {signed_by}", c.origin, c.size)),
    );

    let inclusion = match root {
        None => Err("no trusted checkpoint to check the proof against".to_string()),
        Some((size, root)) => (|| {
            let tx: [u8; 32] = presentation
                .issue_tx
                .as_slice()
                .try_into()
                .map_err(|_| "issuing transaction id is not 32 bytes".to_string())?;
            let signature: [u8; 64] = presentation
                .issuer_signature
                .as_slice()
                .try_into()
                .map_err(|_| "issuer signature is not 64 bytes".to_string())?;
            let proof = presentation
                .proof
                .iter()
                .map(|h| <[u8; 32]>::try_from(h.as_slice()))
                .collect::<Result<Vec<Hash>, _>>()
                .map_err(|_| "a proof hash is not 32 bytes".to_string())?;
            let leaf = cert::issue_leaf(
                presentation.block,
                &TxId(tx),
                presentation.status_index,
                &signature,
                &presentation.statement,
            );
            merkle::verify_inclusion(
                &merkle::leaf_hash(&leaf),
                presentation.leaf_index,
                size,
                &proof,
                &root,
            )
            .map_err(|e| format!("the certificate is not in the channel's log: {e}"))?;
            Ok(format!(
                "leaf {} of {size} in the {} channel (issued in block {}, tx {})",
                presentation.leaf_index,
                statement.channel,
                presentation.block,
                hex::encode(tx)
            ))
        })(),
    };
    checks.push("inclusion proof", inclusion);

    if let Some(channel) = expect.channel {
        checks.push(
            "channel",
            if statement.channel == channel {
                Ok(format!("a {channel} certificate, as expected"))
            } else {
                Err(format!(
                    "the certificate is of type {:?}, but this check is for {channel:?}: wrong channel",
                    statement.channel
                ))
            },
        );
    }
    if let Some(organisation) = expect.issuer_organisation {
        checks.push(
            "issuer",
            if statement.issuer_organisation == organisation {
                Ok(format!("issued by {organisation}, as expected"))
            } else {
                Err(format!("issued by {:?}, not {organisation:?}", statement.issuer_organisation))
            },
        );
    }
    if let Some(holder) = expect.holder {
        checks.push(
            "holder",
            if statement.holder == holder {
                Ok(format!("held by {holder}, as expected"))
            } else {
                Err(format!("held by {}, not {holder}", statement.holder))
            },
        );
    }

    let period = if expect.now_ms < statement.valid_from_ms {
        Err(format!(
            "not yet valid: valid from {}, now is {}",
            utc(statement.valid_from_ms),
            utc(expect.now_ms)
        ))
    } else if expect.now_ms >= statement.valid_until_ms {
        Err(format!(
            "expired {} ago (valid until {})",
            readable_age(expect.now_ms - statement.valid_until_ms),
            utc(statement.valid_until_ms)
        ))
    } else {
        Ok(format!(
            "valid for {} more (from {} until {})",
            readable_age(statement.valid_until_ms - expect.now_ms),
            utc(statement.valid_from_ms),
            utc(statement.valid_until_ms)
        ))
    };
    checks.push("validity period", period);

    let mut status_list_age_ms = None;
    let revocation = match &expect.status_list {
        Err(why) => Err(format!("revocation not checked: {why}")),
        Ok(opened) if opened.issuer_organisation != statement.issuer_organisation => Err(format!(
            "the status list is {:?}'s, the certificate is {:?}'s",
            opened.issuer_organisation, statement.issuer_organisation
        )),
        Ok(OpenedStatusList { list, as_of_ms, .. }) => {
            let as_of_ms = *as_of_ms;
            let age = expect.now_ms.saturating_sub(as_of_ms);
            status_list_age_ms = Some(age);
            let age_text = format!("status list {} old", readable_age(age));
            if presentation.status_index >= list.size {
                Err(format!(
                    "the status list has {} entries and predates this certificate (entry {}); sync it again",
                    list.size, presentation.status_index
                ))
            } else if let Some(reason) = list.revoked.get(&presentation.status_index) {
                Err(format!("revoked: {reason} ({age_text})"))
            } else if age > expect.max_status_age_ms {
                Err(format!(
                    "not revoked as of the status list, but it is {} old, more than the {} allowed; sync it again",
                    readable_age(age),
                    readable_age(expect.max_status_age_ms)
                ))
            } else {
                Ok(format!("not revoked ({age_text}, {} entries)", list.size))
            }
        }
    };
    checks.push("revocation", revocation);

    // A certificate is worth nothing once its holder's identity is revoked.
    let holder_identity = match &expect.status_list {
        Err(why) => Err(format!("holder identity not checked: {why}")),
        Ok(OpenedStatusList { revoked_identities: None, .. }) => Err(
            "the status list does not carry the revoked identities, so the holder's cannot be checked; sync it again from a current node"
                .to_string(),
        ),
        Ok(OpenedStatusList { revoked_identities: Some(revoked), .. }) => {
            match revoked.get(&statement.holder) {
                Some(reason) => {
                    Err(format!("the holder's identity {} was revoked: {reason}", statement.holder))
                }
                None => Ok(format!(
                    "the holder's identity is not revoked ({} revoked identities on the list)",
                    revoked.len()
                )),
            }
        }
    };
    checks.push("holder identity", holder_identity);

    Report {
        valid: checks.0.iter().all(|c| c.passed),
        certificate_id: hex::encode(id),
        channel: statement.channel,
        issuer_organisation: statement.issuer_organisation,
        holder: statement.holder.to_string(),
        checks: checks.0,
        status_list_age_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_ages_read_well() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_795_324_347_181), "2026-11-22T05:12:27Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(readable_age(59_999), "59 s");
        assert_eq!(readable_age(3_600_000 * 25), "1 d 1 h");
    }
}
