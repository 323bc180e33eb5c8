//! The social-security part of the state machine: service definitions and
//! the cases that move through them.
//!
//! Authority here is twofold. The `case_action` rule of [`crate::authority`]
//! admits only citizens (`public` of the holders' organisation) and
//! department reviewers; then each action is checked against its case: the
//! applicant alone supplies, withdraws and appeals, and only on their own
//! case; a reviewer acts only where the case's service version names their
//! organisation and department-defined reviewer role, only in the state and
//! order the definition allows. Rules and the amount are evaluated here,
//! from the recorded facts and step outputs, never taken from the submitter.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::certs::{CertEffect, CertificateRecord};
use super::{Effect, Failure, IdentityRecord, Ledger, Revocation, encode, failure, valid_text};
use crate::case::{self, CaseAction, CaseState, MAX_REASON, NamedHash, Outcome};
use crate::cert::{CertId, Statement};
use crate::service::expr::Inputs;
use crate::service::{Actor, Direction, FactKind, OnFail, Service, ServiceDefinition};
use crate::tx::{DefineService, IssueCertificate, Transaction};
use crate::types::{Address, Role, TxId, ValidationCode};

const DAY_MS: u64 = 86_400_000;

/// One version of a service on the ledger.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceVersionRecord {
    /// The checked definition.
    pub service: Service,
    /// SHA-256 of the definition bytes.
    pub definition_hash: [u8; 32],
    /// The defining transaction.
    pub tx_id: TxId,
    /// Its block.
    pub block_number: u64,
}

/// A rule's verdict at the automatic checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The rule.
    pub rule: String,
    /// Whether it held.
    pub passed: bool,
    /// Its reason, recorded when it did not.
    pub reason: String,
}

/// Who acted, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acted {
    /// The identity.
    pub address: Address,
    /// Its organisation.
    pub organisation: String,
    /// Its role, with the reviewer role for reviewers (`reviewer:household_surveyor`).
    pub role: String,
    /// The transaction's recorded time.
    pub at_ms: u64,
    /// The transaction.
    pub tx_id: TxId,
    /// Its block.
    pub block_number: u64,
}

/// A recorded review step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step.
    pub step: String,
    /// The case's round (one more after each return for supplement).
    pub round: u32,
    /// Whether it passed.
    pub passed: bool,
    /// Its outputs.
    pub outputs: Vec<(String, i64)>,
    /// The evidence it relied on.
    pub evidence: Vec<NamedHash>,
    /// Why.
    pub reason: String,
    /// Its deadline (ms since the epoch), when the definition sets one.
    pub due_ms: Option<u64>,
    /// Who recorded it.
    pub by: Acted,
}

/// A recorded decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The outcome.
    pub outcome: Outcome,
    /// The monthly amount of an approval, in minor units.
    pub amount: Option<i64>,
    /// Why.
    pub reasons: Vec<String>,
    /// The evidence it relied on.
    pub evidence: Vec<NamedHash>,
    /// SHA-256 of the signed decision document (zero for an automatic rejection).
    #[serde(with = "crate::case::hex32")]
    pub document_hash: [u8; 32],
    /// Whether it decided an appeal.
    pub on_appeal: bool,
    /// The certificate the approval issued, when the service names one.
    #[serde(default, with = "crate::case::hex32_opt")]
    pub certificate_id: Option<[u8; 32]>,
    /// Who decided.
    pub by: Acted,
}

/// A recorded payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// The month, `YYYY-MM`.
    pub period: String,
    /// Credit or debit.
    pub direction: Direction,
    /// Minor units.
    pub amount: u64,
    /// The instruction's end-to-end id.
    pub reference: String,
    /// SHA-256 of the payment file.
    #[serde(with = "crate::case::hex32")]
    pub file_hash: [u8; 32],
    /// Who recorded it.
    pub by: Acted,
}

/// One entry of a case's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The action.
    pub action: String,
    /// The state after it.
    pub state: CaseState,
    /// Who acted.
    pub by: Acted,
    /// The hashes it relied on or added.
    pub hashes: Vec<NamedHash>,
    /// Why, when given.
    pub reasons: Vec<String>,
}

/// A case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Its id.
    pub case_id: String,
    /// The service.
    pub service_id: String,
    /// The service version it keeps for its whole life.
    pub service_version: u64,
    /// The applicant.
    pub applicant: Address,
    /// Keyed hash of the applicant's identity document number.
    #[serde(with = "crate::case::hex32")]
    pub person_hash: [u8; 32],
    /// The current state.
    pub state: CaseState,
    /// One more after each return for supplement.
    pub round: u32,
    /// When it was applied for (the applying transaction's time).
    pub applied_at_ms: u64,
    /// When the current round's checks passed.
    pub checked_at_ms: Option<u64>,
    /// The current form and documents, by name.
    pub documents: Vec<NamedHash>,
    /// The facts of the last checks.
    pub facts: Vec<(String, i64)>,
    /// The evidence of the last checks.
    pub check_evidence: Vec<NamedHash>,
    /// The rule verdicts of the last checks.
    pub verdicts: Vec<Verdict>,
    /// Every recorded step, of every round.
    pub steps: Vec<StepRecord>,
    /// Every decision.
    pub decisions: Vec<DecisionRecord>,
    /// Whether the applicant has appealed (a decision is appealed at most once).
    pub appealed: bool,
    /// Every payment.
    pub payments: Vec<PaymentRecord>,
    /// The timeline.
    pub history: Vec<HistoryEntry>,
}

impl CaseRecord {
    /// The steps of the current round.
    pub fn current_steps(&self) -> impl Iterator<Item = &StepRecord> {
        self.steps.iter().filter(move |s| s.round == self.round)
    }

    fn step_of_round(&self, name: &str) -> Option<&StepRecord> {
        self.current_steps().find(|s| s.step == name)
    }

    /// The latest decision.
    pub fn last_decision(&self) -> Option<&DecisionRecord> {
        self.decisions.last()
    }

    /// A copy without the timeline, for an action to change: an action only
    /// appends to the timeline, so its effect carries just the entries it
    /// appends and the recorded ones are moved over, never copied.
    fn copy_without_history(&self) -> CaseRecord {
        CaseRecord {
            case_id: self.case_id.clone(),
            service_id: self.service_id.clone(),
            service_version: self.service_version,
            applicant: self.applicant,
            person_hash: self.person_hash,
            state: self.state,
            round: self.round,
            applied_at_ms: self.applied_at_ms,
            checked_at_ms: self.checked_at_ms,
            documents: self.documents.clone(),
            facts: self.facts.clone(),
            check_evidence: self.check_evidence.clone(),
            verdicts: self.verdicts.clone(),
            steps: self.steps.clone(),
            decisions: self.decisions.clone(),
            appealed: self.appealed,
            payments: self.payments.clone(),
            history: Vec::new(),
        }
    }
}

/// The state of services and cases.
#[derive(Clone, Debug, Default)]
pub(super) struct CaseBook {
    pub(super) services: BTreeMap<String, Vec<ServiceVersionRecord>>,
    pub(super) cases: BTreeMap<String, CaseRecord>,
    /// The open case of each (service, person hash).
    pub(super) open: BTreeMap<(String, [u8; 32]), String>,
}

/// A checked change of services or cases.
pub(super) enum CaseEffect {
    Define(Box<ServiceVersionRecord>),
    /// The case after the action, except that its `history` holds only the
    /// entries the action appends to the recorded timeline.
    Put {
        record: Box<CaseRecord>,
        action: &'static str,
        notify: Vec<Actor>,
        certificate: Option<Box<CertificateRecord>>,
        /// The case's earlier certificate, revoked by this action: an
        /// appeal decision supersedes it, a closing ends it.
        revoke: Option<(CertId, Revocation)>,
    },
}

fn service_key(service_id: &str, version: u64) -> Vec<u8> {
    [b"service/".as_slice(), service_id.as_bytes(), &[0], &version.to_be_bytes()].concat()
}

fn case_key(case_id: &str) -> Vec<u8> {
    [b"case/".as_slice(), case_id.as_bytes()].concat()
}

fn not_authorised(message: String) -> Failure {
    failure(ValidationCode::NotAuthorised, message)
}

fn conflict(message: String) -> Failure {
    failure(ValidationCode::CaseStateConflict, message)
}

fn invalid(message: impl Into<String>) -> Failure {
    failure(ValidationCode::InvalidArgument, message)
}

fn role_label(identity: &IdentityRecord) -> String {
    if identity.role == Role::Reviewer {
        format!("reviewer:{}", identity.reviewer_role)
    } else {
        identity.role.to_string()
    }
}

fn is_actor(identity: &IdentityRecord, actor: &Actor) -> bool {
    identity.role == Role::Reviewer
        && identity.organisation == actor.organisation
        && identity.reviewer_role == actor.role
}

fn check_reason(reason: &str, what: &str, required: bool) -> Result<(), Failure> {
    if (required && reason.is_empty())
        || reason.len() > MAX_REASON
        || reason.chars().any(char::is_control)
    {
        return Err(invalid(format!(
            "{what} must be {} to {MAX_REASON} bytes without control characters",
            if required { 1 } else { 0 }
        )));
    }
    Ok(())
}

fn valid_period(period: &str) -> bool {
    let bytes = period.as_bytes();
    bytes.len() == 7
        && bytes[4] == b'-'
        && bytes[..4].iter().chain(&bytes[5..]).all(u8::is_ascii_digit)
        && matches!(
            &period[5..],
            "01" | "02" | "03" | "04" | "05" | "06" | "07" | "08" | "09" | "10" | "11" | "12"
        )
}

impl Ledger {
    fn acted(&self, transaction: &Transaction, creator: &IdentityRecord) -> Acted {
        Acted {
            address: creator.address,
            organisation: creator.organisation.clone(),
            role: role_label(creator),
            at_ms: transaction.timestamp_ms,
            tx_id: transaction.id,
            block_number: self.height(),
        }
    }

    /// The latest version of a service.
    pub fn service(&self, service_id: &str) -> Option<&ServiceVersionRecord> {
        self.cases.services.get(service_id).and_then(|versions| versions.last())
    }

    /// One version of a service.
    pub fn service_version(&self, service_id: &str, version: u64) -> Option<&ServiceVersionRecord> {
        self.cases
            .services
            .get(service_id)
            .and_then(|versions| versions.iter().find(|v| v.service.definition.version == version))
    }

    /// Every service, each with all its versions, oldest first.
    pub fn services(&self) -> impl Iterator<Item = &[ServiceVersionRecord]> {
        self.cases.services.values().map(Vec::as_slice)
    }

    /// A case.
    pub fn case(&self, case_id: &str) -> Option<&CaseRecord> {
        self.cases.cases.get(case_id)
    }

    /// Every case, by id.
    pub fn cases(&self) -> impl Iterator<Item = &CaseRecord> {
        self.cases.cases.values()
    }

    pub(super) fn check_define_service(
        &self,
        transaction: &Transaction,
        define: &DefineService,
    ) -> Result<Effect, Failure> {
        let creator = self.registered_creator(transaction)?;
        let consortium = &self.consortium;
        let service = Service::parse(&define.definition_json, &|org| {
            consortium.is_member(org) && org != consortium.holders()
        })
        .map_err(invalid)?;
        let owner = service.definition.owner.as_str();
        self.authorise(transaction, Some(creator), Some(owner))?;
        let owner_key = self.consortium.organisation_key(owner);
        if !transaction
            .endorsements
            .iter()
            .any(|e| e.organisation == owner && Some(&e.public_key) == owner_key)
        {
            return Err(failure(
                ValidationCode::EndorsementPolicyFailure,
                format!(
                    "define_service requires endorsement by the owning organisation {owner:?} with its current organisation key"
                ),
            ));
        }
        if let Some(outcome) = &service.definition.outcome {
            let issuers = self.consortium.issuers_of(&outcome.certificate_type);
            for actor in [service.decider(), service.definition.appeal.clone()] {
                if !issuers.contains(&actor.organisation) {
                    return Err(not_authorised(format!(
                        "an approval of service {:?} issues a {:?} certificate, which the genesis lets only {issuers:?} issue, not {:?}, whose {} decides",
                        service.definition.service_id,
                        outcome.certificate_type,
                        actor.organisation,
                        actor.role
                    )));
                }
            }
        }
        let id = &service.definition.service_id;
        let version = service.definition.version;
        match self.cases.services.get(id).and_then(|v| v.last()) {
            Some(latest) if latest.service.definition.owner != owner => {
                return Err(not_authorised(format!(
                    "service {id:?} is owned by {:?}; {owner:?} may not define a version of it",
                    latest.service.definition.owner
                )));
            }
            Some(latest) if version != latest.service.definition.version + 1 => {
                return Err(failure(
                    ValidationCode::VersionConflict,
                    format!(
                        "service {id:?} is at version {}; the next version must be {}",
                        latest.service.definition.version,
                        latest.service.definition.version + 1
                    ),
                ));
            }
            None if version != 1 => {
                return Err(failure(
                    ValidationCode::VersionConflict,
                    format!("service {id:?} is new; its first version must be 1, not {version}"),
                ));
            }
            _ => {}
        }
        Ok(Effect::Case(CaseEffect::Define(Box::new(ServiceVersionRecord {
            definition_hash: Sha256::digest(&define.definition_json).into(),
            service,
            tx_id: transaction.id,
            block_number: self.height(),
        }))))
    }

    fn check_documents(
        &self,
        service: &Service,
        documents: &[NamedHash],
        all_required: bool,
    ) -> Result<(), Failure> {
        for (idx, document) in documents.iter().enumerate() {
            if !service.definition.documents.iter().any(|d| d.name == document.name) {
                return Err(invalid(format!(
                    "document {:?} is not one the service {:?} asks for",
                    document.name, service.definition.service_id
                )));
            }
            if documents[..idx].iter().any(|d| d.name == document.name) {
                return Err(invalid(format!("document {:?} is given twice", document.name)));
            }
            if !document.asset_id.is_empty() {
                return Err(invalid(format!(
                    "document {:?} names an asset; documents are sealed case files",
                    document.name
                )));
            }
        }
        if all_required {
            for spec in service.definition.documents.iter().filter(|d| d.required) {
                if !documents.iter().any(|d| d.name == spec.name) {
                    return Err(invalid(format!(
                        "the application is incomplete: required document {:?} is missing",
                        spec.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Evidence from a shared asset must name a published version with that
    /// content hash, which the acting organisation may read.
    fn check_evidence(
        &self,
        creator: &IdentityRecord,
        evidence: &[NamedHash],
    ) -> Result<(), Failure> {
        for item in evidence {
            if item.name.is_empty()
                || item.name.len() > 128
                || item.name.chars().any(char::is_control)
            {
                return Err(invalid(
                    "evidence names must be 1 to 128 bytes without control characters",
                ));
            }
            if item.asset_id.is_empty() {
                continue;
            }
            let asset = self.assets.get(&item.asset_id).ok_or_else(|| {
                failure(
                    ValidationCode::UnknownAsset,
                    format!("evidence {:?} names unknown asset {:?}", item.name, item.asset_id),
                )
            })?;
            let version =
                asset.versions.iter().find(|v| v.version == item.asset_version).ok_or_else(
                    || {
                        failure(
                            ValidationCode::UnknownAsset,
                            format!(
                                "evidence {:?}: asset {:?} has no version {}",
                                item.name, item.asset_id, item.asset_version
                            ),
                        )
                    },
                )?;
            if version.content_hash != item.hash {
                return Err(invalid(format!(
                    "evidence {:?}: the hash differs from the content hash of asset {:?} version {}",
                    item.name, item.asset_id, item.asset_version
                )));
            }
            let may_read = asset.owner_organisation == creator.organisation
                || asset.authorised.contains(&creator.address);
            if !may_read {
                return Err(not_authorised(format!(
                    "evidence {:?}: {} of {:?} is not authorised for asset {:?}",
                    item.name, creator.address, creator.organisation, item.asset_id
                )));
            }
        }
        Ok(())
    }

    pub(super) fn check_case_action(
        &self,
        transaction: &Transaction,
        action: &CaseAction,
    ) -> Result<Effect, Failure> {
        let creator = self.registered_creator(transaction)?;
        self.authorise(transaction, Some(creator), None)?;
        let by = self.acted(transaction, creator);
        let is_applicant_role = creator.role == Role::Public;
        if let CaseAction::Apply { service_id, service_version, person_hash, documents } = action {
            if !is_applicant_role {
                return Err(not_authorised(format!(
                    "only a citizen (role public) applies; {} has role {}",
                    creator.address,
                    role_label(creator)
                )));
            }
            let service = self.service(service_id).ok_or_else(|| {
                failure(ValidationCode::UnknownService, format!("no service {service_id:?}"))
            })?;
            let latest = service.service.definition.version;
            if *service_version != latest {
                return Err(failure(
                    ValidationCode::UnknownService,
                    format!(
                        "service {service_id:?} takes applications at version {latest}, not {service_version}"
                    ),
                ));
            }
            if *person_hash == [0; 32] {
                return Err(invalid("person hash is all zeros"));
            }
            self.check_documents(&service.service, documents, true)?;
            if let Some(open) = self.cases.open.get(&(service_id.clone(), *person_hash)) {
                return Err(failure(
                    ValidationCode::DuplicateApplication,
                    format!(
                        "this person already has an open case {open} for service {service_id:?}"
                    ),
                ));
            }
            let case_id = case::case_id_of(&transaction.id);
            let record = CaseRecord {
                case_id,
                service_id: service_id.clone(),
                service_version: latest,
                applicant: creator.address,
                person_hash: *person_hash,
                state: CaseState::Submitted,
                round: 0,
                applied_at_ms: transaction.timestamp_ms,
                checked_at_ms: None,
                documents: documents.clone(),
                facts: Vec::new(),
                check_evidence: Vec::new(),
                verdicts: Vec::new(),
                steps: Vec::new(),
                decisions: Vec::new(),
                appealed: false,
                payments: Vec::new(),
                history: vec![HistoryEntry {
                    action: "apply".into(),
                    state: CaseState::Submitted,
                    by,
                    hashes: documents.clone(),
                    reasons: Vec::new(),
                }],
            };
            let notify = vec![service.service.definition.checks.clone()];
            return Ok(put(record, "apply", notify));
        }
        let case_id = action.case_id().unwrap_or_default();
        let case =
            self.cases.cases.get(case_id).ok_or_else(|| {
                failure(ValidationCode::UnknownCase, format!("no case {case_id:?}"))
            })?;
        let service = &self
            .service_version(&case.service_id, case.service_version)
            .ok_or_else(|| {
                failure(
                    ValidationCode::UnknownService,
                    format!("case {case_id} names a missing service version"),
                )
            })?
            .service;
        let definition = &service.definition;
        let mut record = case.copy_without_history();
        let state = case.state;
        let applicant_only = |what: &str| -> Result<(), Failure> {
            if creator.address != case.applicant {
                return Err(not_authorised(format!(
                    "only the applicant {} may {what} case {case_id}; {} ({} of {:?}) may not",
                    case.applicant,
                    creator.address,
                    role_label(creator),
                    creator.organisation
                )));
            }
            Ok(())
        };
        let actor_only = |actor: &Actor, what: &str| -> Result<(), Failure> {
            if !is_actor(creator, actor) {
                return Err(not_authorised(format!(
                    "{what} of case {case_id} is for {actor}; {} has role {} in {:?}",
                    creator.address,
                    role_label(creator),
                    creator.organisation
                )));
            }
            Ok(())
        };
        let mut notify = Vec::new();
        let mut certificate_issued = None;
        let mut revoke = None;
        let name = action.name();
        let mut hashes = Vec::new();
        let mut reasons = Vec::new();
        match action {
            CaseAction::Apply { .. } => return Err(invalid("unreachable: apply handled above")),
            CaseAction::Supply { documents, note, .. } => {
                applicant_only("supply material to")?;
                if !matches!(state, CaseState::Submitted | CaseState::Returned) {
                    return Err(conflict(format!(
                        "case {case_id} is {state}; material is supplied only while submitted or returned"
                    )));
                }
                if documents.is_empty() {
                    return Err(invalid("supply names no documents"));
                }
                check_reason(note, "note", false)?;
                self.check_documents(service, documents, false)?;
                for document in documents {
                    record.documents.retain(|d| d.name != document.name);
                    record.documents.push(document.clone());
                }
                record.documents.sort();
                record.state = CaseState::Submitted;
                hashes = documents.clone();
                if !note.is_empty() {
                    reasons.push(note.clone());
                }
                notify.push(definition.checks.clone());
            }
            CaseAction::Check { facts, evidence, person_hash_confirmed, .. } => {
                actor_only(&definition.checks, "the automatic checks")?;
                if state != CaseState::Submitted {
                    return Err(conflict(format!(
                        "case {case_id} is {state}; checks run only on a submitted case"
                    )));
                }
                self.check_evidence(creator, evidence)?;
                let mut values = BTreeMap::new();
                for (fact, value) in facts {
                    let spec =
                        definition.facts.iter().find(|f| &f.name == fact).ok_or_else(|| {
                            invalid(format!("fact {fact:?} is not one the service defines"))
                        })?;
                    let in_range = match spec.kind {
                        FactKind::Flag => matches!(value, 0 | 1),
                        FactKind::Money | FactKind::Count | FactKind::BasisPoints => *value >= 0,
                        FactKind::Date => true,
                    };
                    if !in_range {
                        return Err(invalid(format!(
                            "fact {fact:?} = {value} is out of range for a {:?}",
                            spec.kind
                        )));
                    }
                    if values.insert(fact.clone(), *value).is_some() {
                        return Err(invalid(format!("fact {fact:?} is given twice")));
                    }
                }
                if let Some(missing) =
                    definition.facts.iter().find(|f| !values.contains_key(&f.name))
                {
                    return Err(invalid(format!("fact {:?} is missing", missing.name)));
                }
                let vars = BTreeMap::from([(
                    "application_date".to_owned(),
                    (case.applied_at_ms / DAY_MS) as i64,
                )]);
                let inputs = Inputs {
                    facts: Some(&values),
                    constants: Some(&definition.constants),
                    vars: Some(&vars),
                    outputs: None,
                };
                let mut verdicts = Vec::with_capacity(service.rules.len());
                let (mut reject, mut give_back) = (Vec::new(), Vec::new());
                for (spec, rule) in definition.rules.iter().zip(&service.rules) {
                    let passed = rule
                        .eval_bool(&inputs)
                        .map_err(|e| invalid(format!("rule {:?}: {e}", spec.name)))?;
                    if !passed {
                        match spec.on_fail {
                            OnFail::Reject => reject.push(spec.reason.clone()),
                            OnFail::Return => give_back.push(spec.reason.clone()),
                        }
                    }
                    verdicts.push(Verdict {
                        rule: spec.name.clone(),
                        passed,
                        reason: if passed { String::new() } else { spec.reason.clone() },
                    });
                }
                if !person_hash_confirmed {
                    reject.push("the person hash does not match the identity document".into());
                }
                record.facts = values.into_iter().collect();
                record.check_evidence = evidence.clone();
                record.verdicts = verdicts;
                hashes = evidence.clone();
                if !reject.is_empty() {
                    record.state = CaseState::Rejected;
                    reasons = reject.clone();
                    record.decisions.push(DecisionRecord {
                        outcome: Outcome::Rejected,
                        amount: None,
                        reasons: reject,
                        evidence: evidence.clone(),
                        document_hash: [0; 32],
                        on_appeal: false,
                        certificate_id: None,
                        by: by.clone(),
                    });
                } else if !give_back.is_empty() {
                    record.state = CaseState::Returned;
                    record.round += 1;
                    reasons = give_back;
                } else {
                    record.state = CaseState::Checked;
                    record.checked_at_ms = Some(transaction.timestamp_ms);
                    notify.extend(ready_steps(service, &record));
                    if definition.steps.is_empty() {
                        notify.push(service.decider());
                    }
                }
            }
            CaseAction::Step { step, passed, outputs, evidence, reason, .. } => {
                let spec = service.step(step).ok_or_else(|| {
                    invalid(format!("service {:?} has no step {step:?}", definition.service_id))
                })?;
                actor_only(&spec.actor(), &format!("step {step:?}"))?;
                if !matches!(state, CaseState::Checked | CaseState::InReview) {
                    return Err(conflict(format!(
                        "case {case_id} is {state}; steps are recorded only after the checks and before the decision"
                    )));
                }
                if case.step_of_round(step).is_some() {
                    return Err(conflict(format!(
                        "step {step:?} of case {case_id} is already recorded"
                    )));
                }
                let mut ready_at = case.checked_at_ms.unwrap_or(case.applied_at_ms);
                for before in &spec.after {
                    match case.step_of_round(before) {
                        Some(done) if done.passed => ready_at = ready_at.max(done.by.at_ms),
                        Some(_) => {
                            return Err(conflict(format!(
                                "step {step:?} waits for {before:?}, which did not pass"
                            )));
                        }
                        None => {
                            return Err(conflict(format!(
                                "step {step:?} is out of order: it waits for {before:?}, not yet recorded"
                            )));
                        }
                    }
                }
                check_reason(reason, "reason", false)?;
                self.check_evidence(creator, evidence)?;
                let mut given = BTreeMap::new();
                for (output, value) in outputs {
                    if !spec.outputs.contains(output) {
                        return Err(invalid(format!("step {step:?} has no output {output:?}")));
                    }
                    if given.insert(output.clone(), *value).is_some() {
                        return Err(invalid(format!("output {output:?} is given twice")));
                    }
                }
                if *passed
                    && let Some(missing) = spec.outputs.iter().find(|o| !given.contains_key(*o))
                {
                    return Err(invalid(format!(
                        "step {step:?} passed without its output {missing:?}"
                    )));
                }
                let due_ms = (spec.deadline_days > 0)
                    .then(|| ready_at.saturating_add(u64::from(spec.deadline_days) * DAY_MS));
                record.steps.push(StepRecord {
                    step: step.clone(),
                    round: case.round,
                    passed: *passed,
                    outputs: given.into_iter().collect(),
                    evidence: evidence.clone(),
                    reason: reason.clone(),
                    due_ms,
                    by: by.clone(),
                });
                record.state = CaseState::InReview;
                hashes = evidence.clone();
                if !reason.is_empty() {
                    reasons.push(reason.clone());
                }
                let before: Vec<Actor> = ready_steps(service, case);
                notify.extend(
                    ready_steps(service, &record).into_iter().filter(|a| !before.contains(a)),
                );
                if definition.steps.iter().all(|s| record.step_of_round(&s.name).is_some())
                    || !passed
                {
                    notify.push(service.decider());
                }
            }
            CaseAction::Decide {
                outcome,
                reasons: given_reasons,
                evidence,
                decision_document_hash,
                certificate,
                ..
            } => {
                let on_appeal = state == CaseState::Appealed;
                if on_appeal {
                    actor_only(&definition.appeal, "the appeal decision")?;
                    if let Some(first) = case.last_decision()
                        && first.by.address == creator.address
                    {
                        return Err(not_authorised(format!(
                            "the appeal of case {case_id} must be decided by a reviewer other than {}, who made the decision appealed",
                            creator.address
                        )));
                    }
                } else {
                    actor_only(&service.decider(), "the decision")?;
                    if !matches!(state, CaseState::Checked | CaseState::InReview) {
                        return Err(conflict(format!(
                            "case {case_id} is {state}; it is decided only after the checks and before any decision"
                        )));
                    }
                }
                if given_reasons.len() > case::MAX_LIST {
                    return Err(invalid("too many reasons"));
                }
                for reason in given_reasons {
                    check_reason(reason, "each reason", true)?;
                }
                if *outcome != Outcome::Approved && given_reasons.is_empty() {
                    return Err(invalid(
                        "a rejection or a return for supplement must give its reasons",
                    ));
                }
                if *outcome != Outcome::Returned && *decision_document_hash == [0; 32] {
                    return Err(invalid(
                        "an approval or rejection must anchor its signed decision document's hash",
                    ));
                }
                self.check_evidence(creator, evidence)?;
                if !on_appeal && *outcome != Outcome::Returned {
                    let missing: Vec<&str> = definition
                        .steps
                        .iter()
                        .filter(|s| case.step_of_round(&s.name).is_none())
                        .map(|s| s.name.as_str())
                        .collect();
                    let failed = case.current_steps().any(|s| !s.passed);
                    if *outcome == Outcome::Approved && failed {
                        return Err(conflict(format!(
                            "case {case_id} cannot be approved: a review step did not pass"
                        )));
                    }
                    let rejecting_a_failed_step = failed && *outcome == Outcome::Rejected;
                    if !missing.is_empty() && !rejecting_a_failed_step {
                        return Err(conflict(format!(
                            "case {case_id} cannot be decided before its steps: {} not recorded",
                            missing.join(", ")
                        )));
                    }
                }
                let amount = if *outcome == Outcome::Approved {
                    let outputs: BTreeMap<String, i64> = case
                        .current_steps()
                        .flat_map(|s| {
                            s.outputs.iter().map(|(k, v)| (format!("{}.{k}", s.step), *v))
                        })
                        .collect();
                    let facts: BTreeMap<String, i64> = case.facts.iter().cloned().collect();
                    let vars = BTreeMap::from([
                        ("application_date".to_owned(), (case.applied_at_ms / DAY_MS) as i64),
                        ("decision_date".to_owned(), (transaction.timestamp_ms / DAY_MS) as i64),
                    ]);
                    let inputs = Inputs {
                        facts: Some(&facts),
                        outputs: Some(&outputs),
                        constants: Some(&definition.constants),
                        vars: Some(&vars),
                    };
                    let amount = service
                        .amount
                        .eval_int(&inputs)
                        .map_err(|e| invalid(format!("the amount formula: {e}")))?;
                    if amount < 0 {
                        return Err(invalid(format!(
                            "the amount formula gives {amount}, below zero"
                        )));
                    }
                    Some(amount)
                } else {
                    None
                };
                let issued = self.approval_certificate(
                    transaction,
                    creator,
                    case,
                    definition,
                    *outcome,
                    certificate.as_deref(),
                )?;
                record.decisions.push(DecisionRecord {
                    outcome: *outcome,
                    amount,
                    reasons: given_reasons.clone(),
                    evidence: evidence.clone(),
                    document_hash: *decision_document_hash,
                    on_appeal,
                    certificate_id: issued.as_ref().map(|c| c.id),
                    by: by.clone(),
                });
                let certificate_id = issued.as_ref().map(|c| c.id);
                certificate_issued = issued;
                if on_appeal {
                    revoke = self.revoke_case_certificate(
                        transaction,
                        case,
                        "was decided again on appeal",
                    );
                }
                record.state = match outcome {
                    Outcome::Approved => CaseState::Approved,
                    Outcome::Rejected => CaseState::Rejected,
                    Outcome::Returned => {
                        record.round += 1;
                        CaseState::Returned
                    }
                };
                if *outcome == Outcome::Approved
                    && let Some(payment) = &definition.payment
                {
                    notify.push(Actor {
                        organisation: payment.organisation.clone(),
                        role: payment.role.clone(),
                    });
                }
                hashes = evidence.clone();
                if *decision_document_hash != [0; 32] {
                    hashes.push(NamedHash {
                        name: "decision_document".into(),
                        hash: *decision_document_hash,
                        asset_id: String::new(),
                        asset_version: 0,
                    });
                }
                if let Some(id) = certificate_id {
                    hashes.push(NamedHash {
                        name: "certificate".into(),
                        hash: id,
                        asset_id: String::new(),
                        asset_version: 0,
                    });
                }
                reasons = given_reasons.clone();
            }
            CaseAction::Appeal { reason, .. } => {
                applicant_only("appeal")?;
                if !matches!(state, CaseState::Approved | CaseState::Rejected) {
                    return Err(conflict(format!(
                        "case {case_id} is {state}; only an approval or a rejection is appealed"
                    )));
                }
                if case.appealed {
                    return Err(conflict(format!(
                        "case {case_id} was appealed already; a decision is appealed once"
                    )));
                }
                check_reason(reason, "reason", true)?;
                record.appealed = true;
                record.state = CaseState::Appealed;
                reasons.push(reason.clone());
                notify.push(definition.appeal.clone());
            }
            CaseAction::Withdraw { reason, .. } => {
                applicant_only("withdraw")?;
                if !state.before_decision() {
                    return Err(conflict(format!(
                        "case {case_id} is {state}; it can be withdrawn only before a decision"
                    )));
                }
                check_reason(reason, "reason", false)?;
                record.state = CaseState::Withdrawn;
                if !reason.is_empty() {
                    reasons.push(reason.clone());
                }
            }
            CaseAction::Pay { period, direction, amount, reference, file_hash, .. } => {
                let payment = definition.payment.as_ref().ok_or_else(|| {
                    invalid(format!("service {:?} makes no payments", definition.service_id))
                })?;
                actor_only(
                    &Actor {
                        organisation: payment.organisation.clone(),
                        role: payment.role.clone(),
                    },
                    "recording a payment",
                )?;
                if !matches!(state, CaseState::Approved | CaseState::Paid) {
                    return Err(conflict(format!(
                        "case {case_id} is {state}; payments are recorded only for an approved case"
                    )));
                }
                if *direction != payment.direction {
                    return Err(invalid(format!(
                        "service {:?} pays by {:?}, not {direction:?}",
                        definition.service_id, payment.direction
                    )));
                }
                if !valid_period(period) {
                    return Err(invalid(format!("period {period:?} is not YYYY-MM")));
                }
                if case.payments.iter().any(|p| &p.period == period) {
                    return Err(conflict(format!(
                        "case {case_id} already has a payment for {period}"
                    )));
                }
                if payment.months > 0 && case.payments.len() >= payment.months as usize {
                    return Err(conflict(format!(
                        "case {case_id} has had all its {} payments",
                        payment.months
                    )));
                }
                let entitled = case.last_decision().and_then(|d| d.amount).unwrap_or(0);
                if i64::try_from(*amount).ok() != Some(entitled) || *amount == 0 {
                    return Err(invalid(format!(
                        "payment of {amount} differs from the decided monthly amount {entitled}"
                    )));
                }
                if !valid_text(reference, 35) || !reference.is_ascii() {
                    return Err(invalid("reference must be 1 to 35 ASCII characters"));
                }
                if *file_hash == [0; 32] {
                    return Err(invalid("payment file hash is all zeros"));
                }
                record.payments.push(PaymentRecord {
                    period: period.clone(),
                    direction: *direction,
                    amount: *amount,
                    reference: reference.clone(),
                    file_hash: *file_hash,
                    by: by.clone(),
                });
                record.state = CaseState::Paid;
                hashes.push(NamedHash {
                    name: format!("payment_file_{period}"),
                    hash: *file_hash,
                    asset_id: String::new(),
                    asset_version: 0,
                });
            }
            CaseAction::Close { reason, .. } => {
                actor_only(&service.decider(), "closing")?;
                if !matches!(state, CaseState::Approved | CaseState::Paid | CaseState::Rejected) {
                    return Err(conflict(format!(
                        "case {case_id} is {state}; only a decided case is closed"
                    )));
                }
                check_reason(reason, "reason", true)?;
                revoke = self.revoke_case_certificate(transaction, case, "was closed");
                record.state = CaseState::Closed;
                reasons.push(reason.clone());
            }
        }
        record.history.push(HistoryEntry {
            action: name.into(),
            state: record.state,
            by,
            hashes,
            reasons,
        });
        Ok(Effect::Case(CaseEffect::Put {
            record: Box::new(record),
            action: name,
            notify,
            certificate: certificate_issued,
            revoke,
        }))
    }

    /// The certificate the case's last approval issued, unless revoked.
    fn live_certificate(&self, case: &CaseRecord) -> Option<CertId> {
        let id = case.decisions.iter().rev().find_map(|d| d.certificate_id)?;
        let record = self.certs.certificates.get(&id)?;
        record.revoked.is_none().then_some(id)
    }

    fn revoke_case_certificate(
        &self,
        transaction: &Transaction,
        case: &CaseRecord,
        why: &str,
    ) -> Option<(CertId, Revocation)> {
        self.live_certificate(case).map(|id| {
            (
                id,
                Revocation {
                    reason: format!("case {} {why}", case.case_id),
                    block_number: self.height(),
                    tx_id: transaction.id,
                },
            )
        })
    }

    /// The certificate a decision issues: exactly when it approves a case
    /// whose service names a certificate type, of that type, to the
    /// applicant, by the decider (whose organisation the genesis must list
    /// as an issuer of the type), checked as any issuance is.
    fn approval_certificate(
        &self,
        transaction: &Transaction,
        creator: &IdentityRecord,
        case: &CaseRecord,
        definition: &ServiceDefinition,
        outcome: Outcome,
        given: Option<&IssueCertificate>,
    ) -> Result<Option<Box<CertificateRecord>>, Failure> {
        let spec = definition.outcome.as_ref().filter(|_| outcome == Outcome::Approved);
        let (spec, issue) = match (spec, given) {
            (None, None) => return Ok(None),
            (None, Some(_)) => {
                return Err(invalid(format!(
                    "only an approval of a service that names a certificate carries one; service {:?} {}",
                    definition.service_id,
                    if definition.outcome.is_some() {
                        "names one, but this decision is not an approval"
                    } else {
                        "names none"
                    }
                )));
            }
            (Some(spec), None) => {
                return Err(invalid(format!(
                    "an approval of service {:?} must carry the {:?} certificate it issues to the applicant",
                    definition.service_id, spec.certificate_type
                )));
            }
            (Some(spec), Some(issue)) => (spec, issue),
        };
        let statement = Statement::parse(&issue.statement)
            .map_err(|e| invalid(format!("the approval's certificate: {e}")))?;
        if statement.channel != spec.certificate_type {
            return Err(invalid(format!(
                "the approval's certificate is of type {:?}; service {:?} issues {:?}",
                statement.channel, definition.service_id, spec.certificate_type
            )));
        }
        if statement.holder != case.applicant {
            return Err(invalid(format!(
                "the approval's certificate is for {}, not the applicant {}",
                statement.holder, case.applicant
            )));
        }
        let _ = self.allowed_issuer(&statement.channel, &statement.issuer_organisation)?;
        let record = self.checked_issue(transaction, creator, statement, issue, false)?;
        Ok(Some(Box::new(record)))
    }

    pub(super) fn execute_case(&mut self, effect: CaseEffect) -> serde_json::Value {
        match effect {
            CaseEffect::Define(record) => {
                let definition = &record.service.definition;
                let response = serde_json::json!({
                    "service_id": definition.service_id,
                    "version": definition.version,
                    "definition_hash": hex::encode(record.definition_hash),
                });
                self.commitment.put(
                    &service_key(&definition.service_id, definition.version),
                    &record.definition_hash,
                );
                self.cases.services.entry(definition.service_id.clone()).or_default().push(*record);
                response
            }
            CaseEffect::Put { mut record, action, notify, certificate, revoke } => {
                // The new certificate first: its leaf index was taken at
                // the check, before the revocation adds its own leaf.
                let certificate_id = certificate.map(|certificate| {
                    let id = hex::encode(certificate.id);
                    let _ = self.execute_cert(CertEffect::Issue(certificate));
                    id
                });
                let revoked = revoke.map(|(id, revocation)| {
                    let _ = self.execute_cert(CertEffect::Revoke { id, revocation });
                    hex::encode(id)
                });
                let key = (record.service_id.clone(), record.person_hash);
                if record.state.is_open() {
                    let _ = self.cases.open.insert(key, record.case_id.clone());
                } else if self.cases.open.get(&key) == Some(&record.case_id) {
                    let _ = self.cases.open.remove(&key);
                }
                if let Some(before) = self.cases.cases.get_mut(&record.case_id) {
                    let mut history = std::mem::take(&mut before.history);
                    history.append(&mut record.history);
                    record.history = history;
                }
                self.commitment.put(&case_key(&record.case_id), &encode(&*record));
                let mut recipients =
                    vec![serde_json::json!({ "address": record.applicant.to_string() })];
                let mut seen = Vec::new();
                for actor in notify {
                    if !seen.contains(&actor) {
                        recipients.push(serde_json::json!({ "organisation": actor.organisation, "role": actor.role }));
                        seen.push(actor);
                    }
                }
                let mut response = serde_json::json!({
                    "case_id": record.case_id,
                    "service_id": record.service_id,
                    "service_version": record.service_version,
                    "action": action,
                    "state": record.state.as_str(),
                    "applicant": record.applicant.to_string(),
                    "notify": recipients,
                });
                if let Some(id) = certificate_id {
                    response["certificate_id"] = serde_json::Value::String(id);
                }
                if let Some(id) = revoked {
                    response["revoked_certificate_id"] = serde_json::Value::String(id);
                }
                let _ = self.cases.cases.insert(record.case_id.clone(), *record);
                response
            }
        }
    }
}

fn put(record: CaseRecord, action: &'static str, notify: Vec<Actor>) -> Effect {
    Effect::Case(CaseEffect::Put {
        record: Box::new(record),
        action,
        notify,
        certificate: None,
        revoke: None,
    })
}

/// The steps of the current round that may be recorded now: not recorded,
/// every prerequisite passed.
pub fn ready_steps(service: &Service, case: &CaseRecord) -> Vec<Actor> {
    if !matches!(case.state, CaseState::Checked | CaseState::InReview) {
        return Vec::new();
    }
    service
        .definition
        .steps
        .iter()
        .filter(|s| case.step_of_round(&s.name).is_none())
        .filter(|s| s.after.iter().all(|b| case.step_of_round(b).is_some_and(|d| d.passed)))
        .map(|s| s.actor())
        .collect()
}

/// A ready step's deadline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deadline {
    /// The step.
    pub step: String,
    /// Who is to record it.
    pub actor: Actor,
    /// When it is due (ms since the epoch): its deadline counted from the
    /// time it became ready (the checks, or its last prerequisite).
    pub due_ms: u64,
}

/// The deadlines of the steps that may be recorded now, for the steps whose
/// definition sets one.
pub fn open_deadlines(service: &Service, case: &CaseRecord) -> Vec<Deadline> {
    if !matches!(case.state, CaseState::Checked | CaseState::InReview) {
        return Vec::new();
    }
    let checked_at = case.checked_at_ms.unwrap_or(case.applied_at_ms);
    service
        .definition
        .steps
        .iter()
        .filter(|s| s.deadline_days > 0 && case.step_of_round(&s.name).is_none())
        .filter_map(|s| {
            let mut ready_at = checked_at;
            for before in &s.after {
                let done = case.step_of_round(before).filter(|d| d.passed)?;
                ready_at = ready_at.max(done.by.at_ms);
            }
            Some(Deadline {
                step: s.name.clone(),
                actor: s.actor(),
                due_ms: ready_at.saturating_add(u64::from(s.deadline_days) * DAY_MS),
            })
        })
        .collect()
}

/// The names of the steps of the current round that may be recorded now.
pub fn ready_step_names<'a>(service: &'a Service, case: &CaseRecord) -> Vec<&'a str> {
    if !matches!(case.state, CaseState::Checked | CaseState::InReview) {
        return Vec::new();
    }
    service
        .definition
        .steps
        .iter()
        .filter(|s| case.step_of_round(&s.name).is_none())
        .filter(|s| s.after.iter().all(|b| case.step_of_round(b).is_some_and(|d| d.passed)))
        .map(|s| s.name.as_str())
        .collect()
}

/// Who must act next on a case: the reviewer groups whose work is waiting
/// (empty when the applicant or nobody is to act).
pub fn awaiting(service: &Service, case: &CaseRecord) -> Vec<Actor> {
    let definition = &service.definition;
    match case.state {
        CaseState::Submitted => vec![definition.checks.clone()],
        CaseState::Checked | CaseState::InReview => {
            let all_recorded =
                definition.steps.iter().all(|s| case.step_of_round(&s.name).is_some());
            let failed = case.current_steps().any(|s| !s.passed);
            if all_recorded || failed {
                vec![service.decider()]
            } else {
                ready_steps(service, case)
            }
        }
        CaseState::Appealed => vec![definition.appeal.clone()],
        CaseState::Approved | CaseState::Paid => definition
            .payment
            .iter()
            .map(|p| Actor { organisation: p.organisation.clone(), role: p.role.clone() })
            .collect(),
        CaseState::Returned | CaseState::Rejected | CaseState::Closed | CaseState::Withdrawn => {
            Vec::new()
        }
    }
}

/// Every reviewer group a service names: the case's participants beside the
/// applicant.
pub fn participants(service: &Service) -> Vec<Actor> {
    let definition = &service.definition;
    let mut actors = vec![definition.checks.clone(), service.decider(), definition.appeal.clone()];
    actors.extend(definition.steps.iter().map(|s| s.actor()));
    actors.extend(
        definition
            .payment
            .iter()
            .map(|p| Actor { organisation: p.organisation.clone(), role: p.role.clone() }),
    );
    actors.sort();
    actors.dedup();
    actors
}
