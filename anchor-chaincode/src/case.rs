//! Cases: the transactions that move one application through its service's
//! states, decoded from their protobuf form, and the states themselves.
//!
//! The state machine, which the chaincode enforces (`ledger::cases`):
//!
//! ```text
//! submitted ──check──▶ checked ──step…──▶ in_review ──decide──▶ approved ──pay──▶ paid
//!     ▲  │                │                   │           │        │  └──appeal──▶ appealed ──decide──▶ …
//!     │  └─check: return──┴──── decide: return┴──▶ returned       └─close──▶ closed
//!     └──────────────── supply ◀──────────────────────┘           rejected ──appeal──▶ appealed
//! withdraw: from submitted, checked, in_review or returned ──▶ withdrawn
//! ```

use serde::Serialize;

use cairn_schemas::v1 as pb;

use crate::service::Direction;
use crate::tx::IssueCertificate;

/// The longest reason or note.
pub const MAX_REASON: usize = 1000;
/// The most documents, facts or evidence items on one transaction.
pub const MAX_LIST: usize = 64;

/// A case's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Applied, waiting for the automatic checks.
    Submitted,
    /// The automatic checks passed; review steps may start.
    Checked,
    /// At least one review step is recorded.
    InReview,
    /// Returned to the applicant for supplement.
    Returned,
    /// Approved with an amount.
    Approved,
    /// Rejected with reasons.
    Rejected,
    /// The decision is appealed; an appeal reviewer decides again.
    Appealed,
    /// At least one payment is recorded.
    Paid,
    /// Closed by the deciding organisation.
    Closed,
    /// Withdrawn by the applicant.
    Withdrawn,
}

impl CaseState {
    /// The name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Submitted => "submitted",
            CaseState::Checked => "checked",
            CaseState::InReview => "in_review",
            CaseState::Returned => "returned",
            CaseState::Approved => "approved",
            CaseState::Rejected => "rejected",
            CaseState::Appealed => "appealed",
            CaseState::Paid => "paid",
            CaseState::Closed => "closed",
            CaseState::Withdrawn => "withdrawn",
        }
    }

    /// Whether the case still counts as the person's open case for its
    /// service (a second application is refused while it does).
    pub fn is_open(self) -> bool {
        !matches!(self, CaseState::Rejected | CaseState::Closed | CaseState::Withdrawn)
    }

    /// Whether the case has not been decided yet.
    pub fn before_decision(self) -> bool {
        matches!(
            self,
            CaseState::Submitted | CaseState::Checked | CaseState::InReview | CaseState::Returned
        )
    }
}

impl std::fmt::Display for CaseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named hash: a document, the form, or evidence a step relied on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct NamedHash {
    /// Its name.
    pub name: String,
    /// SHA-256.
    #[serde(with = "hex32")]
    pub hash: [u8; 32],
    /// For evidence from a shared asset: the asset id (else empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub asset_id: String,
    /// For evidence from a shared asset: its version (else 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub asset_version: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A 32-byte hash as 64 hex digits in human-readable formats (JSON for
/// people and the API) and as 32 raw bytes in binary ones (the postcard the
/// state commitment hashes, where text would only cost time).
pub(crate) mod hex32 {
    pub(crate) fn serialize<S: serde::Serializer>(
        bytes: &[u8; 32],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            return serde::Serialize::serialize(bytes, s);
        }
        // On the stack: no heap string per hash.
        let mut text = [0u8; 64];
        hex::encode_to_slice(bytes, &mut text).map_err(serde::ser::Error::custom)?;
        s.serialize_str(std::str::from_utf8(&text).map_err(serde::ser::Error::custom)?)
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<[u8; 32], D::Error> {
        if !d.is_human_readable() {
            return <[u8; 32] as serde::Deserialize>::deserialize(d);
        }
        let text = <String as serde::Deserialize>::deserialize(d)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&text, &mut bytes).map_err(serde::de::Error::custom)?;
        Ok(bytes)
    }
}

/// [`hex32`] of an optional hash.
pub(crate) mod hex32_opt {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Hash(#[serde(with = "super::hex32")] [u8; 32]);

    pub(crate) fn serialize<S: serde::Serializer>(
        bytes: &Option<[u8; 32]>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&bytes.map(Hash), s)
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<[u8; 32]>, D::Error> {
        Ok(<Option<Hash> as serde::Deserialize>::deserialize(d)?.map(|Hash(bytes)| bytes))
    }
}

/// A decision's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Approved with an amount.
    Approved,
    /// Rejected with reasons.
    Rejected,
    /// Returned for supplement.
    Returned,
}

/// One action on a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum CaseAction {
    /// Apply to a service (creates the case; its id derives from this
    /// transaction's id).
    Apply {
        /// The service.
        service_id: String,
        /// Its version (the latest, when applying).
        service_version: u64,
        /// Keyed hash of the identity document number.
        #[serde(with = "hex32")]
        person_hash: [u8; 32],
        /// The sealed form and documents.
        documents: Vec<NamedHash>,
    },
    /// Supply more material.
    Supply {
        /// The case.
        case_id: String,
        /// Documents added or replaced.
        documents: Vec<NamedHash>,
        /// A note.
        note: String,
    },
    /// The automatic checks.
    Check {
        /// The case.
        case_id: String,
        /// The facts the rules need.
        facts: Vec<(String, i64)>,
        /// The evidence the facts came from.
        evidence: Vec<NamedHash>,
        /// Whether the person hash matches the sealed identity document.
        person_hash_confirmed: bool,
    },
    /// A review step's outcome.
    Step {
        /// The case.
        case_id: String,
        /// The step.
        step: String,
        /// Whether it passed.
        passed: bool,
        /// Its outputs.
        outputs: Vec<(String, i64)>,
        /// The evidence it relied on.
        evidence: Vec<NamedHash>,
        /// Why.
        reason: String,
    },
    /// A decision.
    Decide {
        /// The case.
        case_id: String,
        /// The outcome.
        outcome: Outcome,
        /// Why.
        reasons: Vec<String>,
        /// The evidence it relied on.
        evidence: Vec<NamedHash>,
        /// SHA-256 of the signed decision document.
        #[serde(with = "hex32")]
        decision_document_hash: [u8; 32],
        /// The certificate an approval produces, when the service names one.
        certificate: Option<Box<IssueCertificate>>,
    },
    /// An appeal by the applicant.
    Appeal {
        /// The case.
        case_id: String,
        /// Why.
        reason: String,
    },
    /// A withdrawal by the applicant.
    Withdraw {
        /// The case.
        case_id: String,
        /// Why.
        reason: String,
    },
    /// An executed payment.
    Pay {
        /// The case.
        case_id: String,
        /// The month, `YYYY-MM`.
        period: String,
        /// Credit or debit.
        direction: Direction,
        /// Minor units.
        amount: u64,
        /// The instruction's end-to-end id.
        reference: String,
        /// SHA-256 of the payment file.
        #[serde(with = "hex32")]
        file_hash: [u8; 32],
    },
    /// Closing the case.
    Close {
        /// The case.
        case_id: String,
        /// Why.
        reason: String,
    },
}

impl CaseAction {
    /// The action's name, as in receipts.
    pub fn name(&self) -> &'static str {
        match self {
            CaseAction::Apply { .. } => "apply",
            CaseAction::Supply { .. } => "supply",
            CaseAction::Check { .. } => "check",
            CaseAction::Step { .. } => "step",
            CaseAction::Decide { .. } => "decide",
            CaseAction::Appeal { .. } => "appeal",
            CaseAction::Withdraw { .. } => "withdraw",
            CaseAction::Pay { .. } => "pay",
            CaseAction::Close { .. } => "close",
        }
    }

    /// The case acted on (none for an application, which creates it).
    pub fn case_id(&self) -> Option<&str> {
        match self {
            CaseAction::Apply { .. } => None,
            CaseAction::Supply { case_id, .. }
            | CaseAction::Check { case_id, .. }
            | CaseAction::Step { case_id, .. }
            | CaseAction::Decide { case_id, .. }
            | CaseAction::Appeal { case_id, .. }
            | CaseAction::Withdraw { case_id, .. }
            | CaseAction::Pay { case_id, .. }
            | CaseAction::Close { case_id, .. } => Some(case_id),
        }
    }
}

/// The case id a transaction id gives: `c-` and the first 16 bytes in hex.
pub fn case_id_of(tx_id: &crate::TxId) -> String {
    format!("c-{}", hex::encode(&tx_id.0[..16]))
}

fn hash32(bytes: &[u8], what: &str) -> Result<[u8; 32], String> {
    <[u8; 32]>::try_from(bytes).map_err(|_| format!("{what} must be 32 bytes, got {}", bytes.len()))
}

fn named(list: Vec<pb::NamedHash>, what: &str) -> Result<Vec<NamedHash>, String> {
    if list.len() > MAX_LIST {
        return Err(format!("more than {MAX_LIST} {what}"));
    }
    list.into_iter()
        .enumerate()
        .map(|(idx, item)| {
            Ok(NamedHash {
                hash: hash32(&item.hash, &format!("{what} {idx} ({:?}) hash", item.name))?,
                name: item.name,
                asset_id: item.asset_id,
                asset_version: item.asset_version,
            })
        })
        .collect()
}

fn facts(list: Vec<pb::Fact>) -> Result<Vec<(String, i64)>, String> {
    if list.len() > MAX_LIST {
        return Err(format!("more than {MAX_LIST} facts"));
    }
    Ok(list.into_iter().map(|f| (f.name, f.value)).collect())
}

/// Decodes a case action from its protobuf form.
pub fn decode(action: pb::CaseAction) -> Result<CaseAction, String> {
    use pb::case_action::Action;
    Ok(match action.action {
        None => return Err("case_action names no action".into()),
        Some(Action::Apply(a)) => CaseAction::Apply {
            person_hash: hash32(&a.person_hash, "person hash")?,
            documents: named(a.documents, "documents")?,
            service_id: a.service_id,
            service_version: a.service_version,
        },
        Some(Action::Supply(s)) => CaseAction::Supply {
            documents: named(s.documents, "documents")?,
            case_id: s.case_id,
            note: s.note,
        },
        Some(Action::Check(c)) => CaseAction::Check {
            facts: facts(c.facts)?,
            evidence: named(c.evidence, "evidence")?,
            case_id: c.case_id,
            person_hash_confirmed: c.person_hash_confirmed,
        },
        Some(Action::Step(s)) => CaseAction::Step {
            outputs: facts(s.outputs)?,
            evidence: named(s.evidence, "evidence")?,
            case_id: s.case_id,
            step: s.step,
            passed: s.passed,
            reason: s.reason,
        },
        Some(Action::Decide(d)) => CaseAction::Decide {
            outcome: match pb::CaseOutcome::try_from(d.outcome) {
                Ok(pb::CaseOutcome::Approved) => Outcome::Approved,
                Ok(pb::CaseOutcome::Rejected) => Outcome::Rejected,
                Ok(pb::CaseOutcome::Returned) => Outcome::Returned,
                _ => {
                    return Err(format!(
                        "outcome {} is not approved, rejected or returned",
                        d.outcome
                    ));
                }
            },
            evidence: named(d.evidence, "evidence")?,
            decision_document_hash: hash32(&d.decision_document_hash, "decision document hash")?,
            certificate: match d.certificate {
                Some(issue) => Some(Box::new(crate::tx::decode_issue(issue)?)),
                None => None,
            },
            case_id: d.case_id,
            reasons: d.reasons,
        },
        Some(Action::Appeal(a)) => CaseAction::Appeal { case_id: a.case_id, reason: a.reason },
        Some(Action::Withdraw(w)) => CaseAction::Withdraw { case_id: w.case_id, reason: w.reason },
        Some(Action::Pay(p)) => CaseAction::Pay {
            direction: match pb::PaymentDirection::try_from(p.direction) {
                Ok(pb::PaymentDirection::Credit) => Direction::Credit,
                Ok(pb::PaymentDirection::Debit) => Direction::Debit,
                _ => {
                    return Err(format!(
                        "payment direction {} is not credit or debit",
                        p.direction
                    ));
                }
            },
            file_hash: hash32(&p.file_hash, "payment file hash")?,
            case_id: p.case_id,
            period: p.period,
            amount: p.amount,
            reference: p.reference,
        },
        Some(Action::Close(c)) => CaseAction::Close { case_id: c.case_id, reason: c.reason },
    })
}

fn named_to_pb(list: &[NamedHash]) -> Vec<pb::NamedHash> {
    list.iter()
        .map(|n| pb::NamedHash {
            name: n.name.clone(),
            hash: n.hash.to_vec(),
            asset_id: n.asset_id.clone(),
            asset_version: n.asset_version,
        })
        .collect()
}

fn facts_to_pb(list: &[(String, i64)]) -> Vec<pb::Fact> {
    list.iter().map(|(name, value)| pb::Fact { name: name.clone(), value: *value }).collect()
}

/// The protobuf form of a case action, for building a transaction.
pub fn to_pb(action: &CaseAction) -> pb::CaseAction {
    use pb::case_action::Action;
    let action = match action {
        CaseAction::Apply { service_id, service_version, person_hash, documents } => {
            Action::Apply(pb::ApplyCase {
                service_id: service_id.clone(),
                service_version: *service_version,
                person_hash: person_hash.to_vec(),
                documents: named_to_pb(documents),
            })
        }
        CaseAction::Supply { case_id, documents, note } => Action::Supply(pb::SupplyCase {
            case_id: case_id.clone(),
            documents: named_to_pb(documents),
            note: note.clone(),
        }),
        CaseAction::Check { case_id, facts, evidence, person_hash_confirmed } => {
            Action::Check(pb::CheckCase {
                case_id: case_id.clone(),
                facts: facts_to_pb(facts),
                evidence: named_to_pb(evidence),
                person_hash_confirmed: *person_hash_confirmed,
            })
        }
        CaseAction::Step { case_id, step, passed, outputs, evidence, reason } => {
            Action::Step(pb::RecordStep {
                case_id: case_id.clone(),
                step: step.clone(),
                passed: *passed,
                outputs: facts_to_pb(outputs),
                evidence: named_to_pb(evidence),
                reason: reason.clone(),
            })
        }
        CaseAction::Decide {
            case_id,
            outcome,
            reasons,
            evidence,
            decision_document_hash,
            certificate,
        } => Action::Decide(pb::DecideCase {
            case_id: case_id.clone(),
            outcome: match outcome {
                Outcome::Approved => pb::CaseOutcome::Approved,
                Outcome::Rejected => pb::CaseOutcome::Rejected,
                Outcome::Returned => pb::CaseOutcome::Returned,
            }
            .into(),
            reasons: reasons.clone(),
            evidence: named_to_pb(evidence),
            decision_document_hash: decision_document_hash.to_vec(),
            certificate: certificate.as_deref().map(crate::tx::issue_to_pb),
        }),
        CaseAction::Appeal { case_id, reason } => {
            Action::Appeal(pb::AppealCase { case_id: case_id.clone(), reason: reason.clone() })
        }
        CaseAction::Withdraw { case_id, reason } => {
            Action::Withdraw(pb::WithdrawCase { case_id: case_id.clone(), reason: reason.clone() })
        }
        CaseAction::Pay { case_id, period, direction, amount, reference, file_hash } => {
            Action::Pay(pb::RecordPayment {
                case_id: case_id.clone(),
                period: period.clone(),
                direction: match direction {
                    Direction::Credit => pb::PaymentDirection::Credit,
                    Direction::Debit => pb::PaymentDirection::Debit,
                }
                .into(),
                amount: *amount,
                reference: reference.clone(),
                file_hash: file_hash.to_vec(),
            })
        }
        CaseAction::Close { case_id, reason } => {
            Action::Close(pb::CloseCase { case_id: case_id.clone(), reason: reason.clone() })
        }
    };
    pb::CaseAction { action: Some(action) }
}

#[cfg(test)]
mod hash_encoding_tests {
    use super::*;

    #[test]
    fn hashes_are_hex_for_people_and_raw_bytes_for_the_commitment() {
        let named = NamedHash {
            name: "form".into(),
            hash: [0xab; 32],
            asset_id: String::new(),
            asset_version: 0,
        };
        let json = serde_json::to_string(&named).unwrap();
        assert!(json.contains(&"ab".repeat(32)), "{json}");
        assert_eq!(serde_json::from_str::<NamedHash>(&json).unwrap(), named);
        let binary = postcard::to_allocvec(&named).unwrap();
        assert!(binary.len() < 40, "32 raw bytes, not 64 hex digits: {} bytes", binary.len());
        assert!(binary.windows(32).any(|w| w == [0xab; 32]), "{binary:?}");
    }
}
