//! Services and cases: the minimum living guarantee of the seed paper, end to
//! end through the chaincode, and every refusal the issue names. Each refused
//! transaction leaves the state root where it was (`Fixture::expect`).

use super::*;
use crate::case::{self, CaseAction, CaseState, NamedHash, Outcome, case_id_of};
use crate::cert::{self, Statement};
use crate::service::Direction;
use crate::tx::IssueCertificate;

const MLG: &str = include_str!("../../../../schemas/services/minimum-living-guarantee.json");

const CA: u8 = 1;
const CIVIL: u8 = 2;
const COMMITTEE: u8 = 3;
const ACCOUNTING: u8 = 4;
const DEMOCRATIC: u8 = 5;
const BANK: u8 = 6;
const TAX: u8 = 7;

const PROVIDER: u8 = 20;
const INTAKE: u8 = 21;
const SURVEYOR: u8 = 22;
const ACCOUNTANT: u8 = 23;
const REVIEWER: u8 = 24;
const OFFICER: u8 = 25;
const APPEAL: u8 = 26;
const CLERK: u8 = 27;
const TAX_PROVIDER: u8 = 28;
const CITIZEN: u8 = 30;
const CITIZEN_2: u8 = 31;
const ORGS: [(&str, u8); 7] = [
    ("ca", CA),
    ("civil-affairs", CIVIL),
    ("neighbourhood-committee", COMMITTEE),
    ("sub-district-accounting", ACCOUNTING),
    ("democratic-review", DEMOCRATIC),
    ("bank", BANK),
    ("tax-office", TAX),
];
/// 2026-12-04 in milliseconds.
const NOW_MS: u64 = 1_796_342_400_000;
const DAY: i64 = 86_400_000;

fn hash(seed: u8) -> NamedHash {
    NamedHash { name: String::new(), hash: [seed; 32], asset_id: String::new(), asset_version: 0 }
}

fn doc(name: &str, seed: u8) -> NamedHash {
    NamedHash { name: name.into(), ..hash(seed) }
}

fn documents() -> Vec<NamedHash> {
    ["form", "id_card", "household_register", "income_proof", "bank_card"]
        .iter()
        .enumerate()
        .map(|(i, name)| doc(name, 40 + i as u8))
        .collect()
}

fn world() -> Fixture {
    let organisations = ORGS
        .iter()
        .map(|(name, seed)| Organisation {
            name: (*name).into(),
            description: String::new(),
            public_key: hex::encode(public(&key(*seed))),
        })
        .collect();
    let mut genesis = Genesis::new("test-chain", organisations, "ca");
    genesis.issuers = [
        ("minimum-living-guarantee", "civil-affairs"),
        ("social-assistance", "civil-affairs"),
        ("social-welfare", "democratic-review"),
    ]
    .into_iter()
    .map(|(channel, organisation)| (channel.to_owned(), vec![organisation.to_owned()]))
    .collect();
    let ledger = Ledger::from_genesis_record(0, &genesis_record(&genesis)).unwrap();
    let mut f = Fixture { ledger, offset: 1, nonce: 0 };
    let org_seed = |name: &str| ORGS.iter().find(|(n, _)| *n == name).unwrap().1;
    for (seed, organisation, role, reviewer_role) in [
        (PROVIDER, "civil-affairs", Role::Provider, ""),
        (INTAKE, "civil-affairs", Role::Reviewer, "intake_officer"),
        (SURVEYOR, "neighbourhood-committee", Role::Reviewer, "household_surveyor"),
        (ACCOUNTANT, "sub-district-accounting", Role::Reviewer, "income_accountant"),
        (REVIEWER, "democratic-review", Role::Reviewer, "democratic_reviewer"),
        (OFFICER, "civil-affairs", Role::Reviewer, "case_officer"),
        (APPEAL, "civil-affairs", Role::Reviewer, "appeal_officer"),
        (CLERK, "bank", Role::Reviewer, "payment_clerk"),
        (TAX_PROVIDER, "tax-office", Role::Provider, ""),
        (CITIZEN, "holders", Role::Public, ""),
        (CITIZEN_2, "holders", Role::Public, ""),
    ] {
        let endorsers: Vec<(&str, u8)> = if role == Role::Reviewer {
            vec![("ca", CA), (organisation, org_seed(organisation))]
        } else {
            vec![("ca", CA)]
        };
        let envelope = f.register_reviewer(seed, organisation, role, reviewer_role, &endorsers);
        f.expect(envelope, ValidationCode::Valid, "");
    }
    let envelope = f.define(PROVIDER, MLG, &[("civil-affairs", CIVIL)]);
    f.expect(envelope, ValidationCode::Valid, "");
    f
}

impl Fixture {
    fn register_reviewer(
        &mut self,
        seed: u8,
        organisation: &str,
        role: Role,
        reviewer_role: &str,
        endorsers: &[(&str, u8)],
    ) -> Vec<u8> {
        let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
            name: format!("identity {seed}"),
            organisation: organisation.into(),
            role: crate::tx::role_to_pb(role).into(),
            signing_public_key: public(&key(seed)).to_vec(),
            encryption_public_key: vec![seed; 32],
            reviewer_role: reviewer_role.into(),
        });
        self.sealed(seed, endorsers, body)
    }

    fn define(&mut self, creator: u8, json: &str, endorsers: &[(&str, u8)]) -> Vec<u8> {
        let body = pb::tx_payload::Body::DefineService(pb::DefineService {
            definition_json: json.as_bytes().to_vec(),
        });
        self.sealed(creator, endorsers, body)
    }

    fn act(&mut self, creator: u8, action: CaseAction) -> Vec<u8> {
        self.act_at(creator, action, NOW_MS)
    }

    fn act_at(&mut self, creator: u8, action: CaseAction, at_ms: u64) -> Vec<u8> {
        self.nonce += 1;
        let draft = TxDraft {
            chain_id: "test-chain".into(),
            nonce: self.nonce.to_be_bytes().to_vec(),
            timestamp_ms: at_ms + self.nonce,
            body: pb::tx_payload::Body::CaseAction(case::to_pb(&action)),
        };
        seal(draft.payload(&public(&key(creator))), &key(creator), &[])
    }

    /// Applies and returns the new case's id.
    fn apply(&mut self, citizen: u8, person: u8) -> String {
        let envelope = self.act(citizen, apply(person, documents()));
        let id = Transaction::decode(&envelope).unwrap().id;
        self.expect(envelope, ValidationCode::Valid, "");
        case_id_of(&id)
    }

    fn check(&mut self, case_id: &str, facts: &[(&str, i64)]) -> Vec<u8> {
        self.act(
            INTAKE,
            CaseAction::Check {
                case_id: case_id.into(),
                facts: facts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
                evidence: vec![doc("form", 40)],
                person_hash_confirmed: true,
            },
        )
    }

    fn step(&mut self, who: u8, case_id: &str, step: &str, outputs: &[(&str, i64)]) -> Vec<u8> {
        self.act(
            who,
            CaseAction::Step {
                case_id: case_id.into(),
                step: step.into(),
                passed: true,
                outputs: outputs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
                evidence: vec![doc("survey_report", 60)],
                reason: "visited the household".into(),
            },
        )
    }

    /// A decision; an approval carries the service's certificate, issued by
    /// the decider to the applicant.
    fn decide(&mut self, who: u8, case_id: &str, outcome: Outcome) -> Vec<u8> {
        let certificate = (outcome == Outcome::Approved).then(|| {
            let applicant = self.ledger.case(case_id).map(|c| c.applicant);
            let holder = applicant.unwrap_or_else(|| Address::of_public_key(&public(&key(who))));
            self.certificate(who, holder, "minimum-living-guarantee")
        });
        self.decide_with(who, case_id, outcome, certificate)
    }

    fn decide_with(
        &mut self,
        who: u8,
        case_id: &str,
        outcome: Outcome,
        certificate: Option<Box<IssueCertificate>>,
    ) -> Vec<u8> {
        self.act(
            who,
            CaseAction::Decide {
                case_id: case_id.into(),
                outcome,
                reasons: if outcome == Outcome::Approved { vec![] } else { vec!["reasons".into()] },
                evidence: vec![],
                decision_document_hash: [70; 32],
                certificate,
            },
        )
    }

    /// A certificate of `channel` by `issuer` of civil affairs to `holder`.
    fn certificate(&self, issuer: u8, holder: Address, channel: &str) -> Box<IssueCertificate> {
        let mut serial = [0; 16];
        serial[..8].copy_from_slice(&self.nonce.to_be_bytes());
        let statement = Statement {
            channel: channel.into(),
            issuer_organisation: "civil-affairs".into(),
            holder,
            issuer_public_key: public(&key(issuer)),
            content_hash: cert::content_hash(&[1; 16], b"entitled"),
            valid_from_ms: NOW_MS,
            valid_until_ms: NOW_MS + 365 * DAY as u64,
            previous: None,
            serial,
        };
        let bytes = statement.to_bytes();
        Box::new(IssueCertificate {
            issuer_signature: key(issuer).sign(&cert::issuer_message(&bytes)).to_bytes(),
            statement: bytes,
            content_enc: vec![7; 32],
            content_ciphertext: vec![8; 48],
        })
    }

    fn case(&self, case_id: &str) -> &CaseRecord {
        self.ledger.case(case_id).unwrap()
    }
}

fn apply(person: u8, documents: Vec<NamedHash>) -> CaseAction {
    CaseAction::Apply {
        service_id: "minimum-living-guarantee".into(),
        service_version: 1,
        person_hash: [person; 32],
        documents,
    }
}

fn good_facts() -> Vec<(&'static str, i64)> {
    vec![
        ("form_complete", 1),
        ("id_card_expires_on", (NOW_MS as i64) / DAY + 365),
        ("household_members", 3),
        ("household_monthly_income", 90_000),
        ("household_property", 10_000),
    ]
}

fn with(facts: &[(&'static str, i64)], name: &str, value: i64) -> Vec<(&'static str, i64)> {
    facts.iter().map(|(k, v)| (*k, if *k == name { value } else { *v })).collect()
}

/// Checks and records every step of a case, ready to decide.
fn reviewed(f: &mut Fixture, case_id: &str) {
    let envelope = f.check(case_id, &good_facts());
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.step(SURVEYOR, case_id, "household_survey", &[]);
    f.expect(envelope, ValidationCode::Valid, "");
    // The two steps after the survey run in parallel: either order works.
    let envelope = f.step(REVIEWER, case_id, "democratic_review", &[]);
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.step(
        ACCOUNTANT,
        case_id,
        "income_accounting",
        &[("household_monthly_income", 90_000), ("members", 3)],
    );
    f.expect(envelope, ValidationCode::Valid, "");
}

#[test]
fn a_minimum_living_guarantee_case_from_application_to_payment() {
    let mut f = world();
    let case_id = f.apply(CITIZEN, 1);
    assert_eq!(f.case(&case_id).state, CaseState::Submitted);
    reviewed(&mut f, &case_id);
    assert_eq!(f.case(&case_id).state, CaseState::InReview);
    let envelope = f.decide(OFFICER, &case_id, Outcome::Approved);
    f.expect(envelope, ValidationCode::Valid, "");
    let case = f.case(&case_id);
    assert_eq!(case.state, CaseState::Approved);
    // (threshold 80,000 − 90,000 / 3 per person) × 3 members.
    assert_eq!(case.last_decision().unwrap().amount, Some(150_000));
    assert!(case.verdicts.iter().all(|v| v.passed));
    let pay = |period: &str, amount: u64| CaseAction::Pay {
        case_id: case_id.clone(),
        period: period.into(),
        direction: Direction::Credit,
        amount,
        reference: format!("{case_id}-{period}").chars().take(35).collect(),
        file_hash: [9; 32],
    };
    let envelope = f.act(CLERK, pay("2026-12", 140_000));
    f.expect(
        envelope,
        ValidationCode::InvalidArgument,
        "differs from the decided monthly amount 150000",
    );
    let envelope = f.act(OFFICER, pay("2026-12", 150_000));
    f.expect(envelope, ValidationCode::NotAuthorised, "payment_clerk");
    let envelope = f.act(CLERK, pay("2026-12", 150_000));
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.act(CLERK, pay("2026-12", 150_000));
    f.expect(envelope, ValidationCode::CaseStateConflict, "already has a payment for 2026-12");
    let case = f.case(&case_id);
    assert_eq!(case.state, CaseState::Paid);
    let actions: Vec<&str> = case.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["apply", "check", "step", "step", "step", "decide", "pay"]);
    assert!(case.history.iter().all(|h| h.by.at_ms > NOW_MS));
    assert_eq!(case.history[2].by.role, "reviewer:household_surveyor");
    assert_eq!(case.history[2].by.organisation, "neighbourhood-committee");
}

#[test]
fn the_receipt_names_the_case_its_state_and_who_to_tell() {
    let mut f = world();
    let envelope = f.act(CITIZEN, apply(1, documents()));
    let block = f.ledger.apply_record(f.offset, &batch_record(vec![envelope])).clone();
    f.offset += 1;
    let response: serde_json::Value = serde_json::from_str(&block.receipts[0].response).unwrap();
    assert_eq!(response["action"], "apply");
    assert_eq!(response["state"], "submitted");
    assert_eq!(response["notify"][1]["organisation"], "civil-affairs");
    assert_eq!(response["notify"][1]["role"], "intake_officer");
    assert!(!block.receipts[0].response.contains("90000"), "no facts in receipts");
}

#[test]
fn applications_refused() {
    let mut f = world();
    let mut incomplete = documents();
    let _ = incomplete.pop();
    let envelope = f.act(CITIZEN, apply(1, incomplete));
    f.expect(
        envelope,
        ValidationCode::InvalidArgument,
        "required document \"bank_card\" is missing",
    );
    let envelope = f.act(INTAKE, apply(1, documents()));
    f.expect(envelope, ValidationCode::NotAuthorised, "only a citizen (role public) applies");
    let envelope = f.act(
        CITIZEN,
        CaseAction::Apply {
            service_id: "minimum-living-guarantee".into(),
            service_version: 2,
            person_hash: [1; 32],
            documents: documents(),
        },
    );
    f.expect(envelope, ValidationCode::UnknownService, "at version 1, not 2");
    let first = f.apply(CITIZEN, 1);
    // The same person, from another key: matched by the keyed hash of the ID number.
    let envelope = f.act(CITIZEN_2, apply(1, documents()));
    f.expect(envelope, ValidationCode::DuplicateApplication, &first);
    // Withdrawn, the person may apply again.
    let envelope =
        f.act(CITIZEN_2, CaseAction::Withdraw { case_id: first.clone(), reason: String::new() });
    f.expect(envelope, ValidationCode::NotAuthorised, "only the applicant");
    let envelope =
        f.act(CITIZEN, CaseAction::Withdraw { case_id: first.clone(), reason: String::new() });
    f.expect(envelope, ValidationCode::Valid, "");
    let _second = f.apply(CITIZEN_2, 1);
}

#[test]
fn automatic_checks_reject_return_and_accept_supplements() {
    let mut f = world();
    let expired = f.apply(CITIZEN, 1);
    let envelope =
        f.check(&expired, &with(&good_facts(), "id_card_expires_on", NOW_MS as i64 / DAY - 1));
    f.expect(envelope, ValidationCode::Valid, "");
    assert_eq!(f.case(&expired).state, CaseState::Rejected);
    assert_eq!(f.case(&expired).last_decision().unwrap().reasons, ["the ID card has expired"]);

    let rich = f.apply(CITIZEN, 2);
    let envelope = f.check(&rich, &with(&good_facts(), "household_monthly_income", 300_000));
    f.expect(envelope, ValidationCode::Valid, "");
    assert_eq!(
        f.case(&rich).last_decision().unwrap().reasons,
        ["household income per person is above the local threshold"]
    );

    let incomplete = f.apply(CITIZEN, 3);
    let envelope = f.check(&incomplete, &with(&good_facts(), "form_complete", 0));
    f.expect(envelope, ValidationCode::Valid, "");
    assert_eq!(f.case(&incomplete).state, CaseState::Returned);
    let envelope = f.check(&incomplete, &good_facts());
    f.expect(envelope, ValidationCode::CaseStateConflict, "checks run only on a submitted case");
    let envelope = f.act(
        CITIZEN,
        CaseAction::Supply {
            case_id: incomplete.clone(),
            documents: vec![doc("form", 99)],
            note: "completed".into(),
        },
    );
    f.expect(envelope, ValidationCode::Valid, "");
    assert_eq!(f.case(&incomplete).state, CaseState::Submitted);
    reviewed(&mut f, &incomplete);
    let envelope = f.decide(OFFICER, &incomplete, Outcome::Approved);
    f.expect(envelope, ValidationCode::Valid, "");

    // Facts are the definition's, complete and in range.
    let other = f.apply(CITIZEN_2, 4);
    let envelope = f.check(&other, &good_facts()[1..]);
    f.expect(envelope, ValidationCode::InvalidArgument, "fact \"form_complete\" is missing");
    let envelope = f.check(&other, &with(&good_facts(), "form_complete", 2));
    f.expect(envelope, ValidationCode::InvalidArgument, "out of range");
    let mut extra = good_facts();
    extra.push(("shoe_size", 42));
    let envelope = f.check(&other, &extra);
    f.expect(
        envelope,
        ValidationCode::InvalidArgument,
        "\"shoe_size\" is not one the service defines",
    );
}

#[test]
fn reviewers_act_only_in_their_step_role_and_order() {
    let mut f = world();
    let case_id = f.apply(CITIZEN, 1);
    let envelope = f.step(SURVEYOR, &case_id, "household_survey", &[]);
    f.expect(
        envelope,
        ValidationCode::CaseStateConflict,
        "steps are recorded only after the checks",
    );
    let facts = good_facts();
    let envelope = f.act(
        SURVEYOR,
        CaseAction::Check {
            case_id: case_id.clone(),
            facts: facts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            evidence: vec![],
            person_hash_confirmed: true,
        },
    );
    f.expect(envelope, ValidationCode::NotAuthorised, "intake_officer");
    let envelope = f.check(&case_id, &facts);
    f.expect(envelope, ValidationCode::Valid, "");
    // Out of order: income accounting waits for the household survey.
    let envelope = f.step(
        ACCOUNTANT,
        &case_id,
        "income_accounting",
        &[("household_monthly_income", 1), ("members", 1)],
    );
    f.expect(envelope, ValidationCode::CaseStateConflict, "out of order");
    // The wrong organisation or role.
    let envelope = f.step(ACCOUNTANT, &case_id, "household_survey", &[]);
    f.expect(envelope, ValidationCode::NotAuthorised, "household_surveyor");
    let envelope = f.step(OFFICER, &case_id, "household_survey", &[]);
    f.expect(envelope, ValidationCode::NotAuthorised, "neighbourhood-committee");
    // The applicant never acts as a reviewer on their own case.
    let envelope = f.step(CITIZEN, &case_id, "household_survey", &[]);
    f.expect(envelope, ValidationCode::NotAuthorised, "");
    let envelope = f.decide(CITIZEN, &case_id, Outcome::Approved);
    f.expect(envelope, ValidationCode::NotAuthorised, "case_officer");
    // No decision before the required steps.
    let envelope = f.decide(OFFICER, &case_id, Outcome::Approved);
    f.expect(envelope, ValidationCode::CaseStateConflict, "cannot be decided before its steps");
    let envelope = f.step(SURVEYOR, &case_id, "household_survey", &[]);
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.step(SURVEYOR, &case_id, "household_survey", &[]);
    f.expect(envelope, ValidationCode::CaseStateConflict, "already recorded");
    let envelope = f.step(ACCOUNTANT, &case_id, "income_accounting", &[("members", 3)]);
    f.expect(
        envelope,
        ValidationCode::InvalidArgument,
        "without its output \"household_monthly_income\"",
    );
    let envelope = f.decide(OFFICER, &case_id, Outcome::Approved);
    f.expect(
        envelope,
        ValidationCode::CaseStateConflict,
        "income_accounting, democratic_review not recorded",
    );
}

#[test]
fn an_appeal_is_decided_once_by_another_reviewer() {
    let mut f = world();
    let case_id = f.apply(CITIZEN, 1);
    reviewed(&mut f, &case_id);
    let envelope = f.decide(OFFICER, &case_id, Outcome::Rejected);
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope =
        f.act(CITIZEN_2, CaseAction::Appeal { case_id: case_id.clone(), reason: "unfair".into() });
    f.expect(envelope, ValidationCode::NotAuthorised, "only the applicant");
    let envelope =
        f.act(CITIZEN, CaseAction::Withdraw { case_id: case_id.clone(), reason: String::new() });
    f.expect(envelope, ValidationCode::CaseStateConflict, "only before a decision");
    let envelope = f.act(
        CITIZEN,
        CaseAction::Appeal {
            case_id: case_id.clone(),
            reason: "the survey missed our debts".into(),
        },
    );
    f.expect(envelope, ValidationCode::Valid, "");
    // The decider of the appealed decision may not decide the appeal, even
    // registered again as an appeal officer.
    let envelope = f.register_reviewer(
        OFFICER,
        "civil-affairs",
        Role::Reviewer,
        "appeal_officer",
        &[("ca", CA), ("civil-affairs", CIVIL)],
    );
    f.expect(envelope, ValidationCode::AlreadyRegistered, "");
    let envelope = f.decide(OFFICER, &case_id, Outcome::Approved);
    f.expect(envelope, ValidationCode::NotAuthorised, "appeal_officer");
    let envelope = f.decide(APPEAL, &case_id, Outcome::Approved);
    f.expect(envelope, ValidationCode::Valid, "");
    assert!(f.case(&case_id).last_decision().unwrap().on_appeal);
    let envelope =
        f.act(CITIZEN, CaseAction::Appeal { case_id: case_id.clone(), reason: "again".into() });
    f.expect(envelope, ValidationCode::CaseStateConflict, "appealed once");
}

#[test]
fn the_appeal_officer_who_decided_first_may_not_decide_the_appeal() {
    // A service whose appeal role is the deciding role itself.
    let json = MLG
        .replace("\"appeal_officer\"", "\"case_officer\"")
        .replace("\"version\": 1", "\"version\": 2");
    let mut f = world();
    let envelope = f.define(PROVIDER, &json, &[("civil-affairs", CIVIL)]);
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.act(
        CITIZEN,
        CaseAction::Apply {
            service_id: "minimum-living-guarantee".into(),
            service_version: 2,
            person_hash: [1; 32],
            documents: documents(),
        },
    );
    let case_id = case_id_of(&Transaction::decode(&envelope).unwrap().id);
    f.expect(envelope, ValidationCode::Valid, "");
    reviewed(&mut f, &case_id);
    let envelope = f.decide(OFFICER, &case_id, Outcome::Rejected);
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope =
        f.act(CITIZEN, CaseAction::Appeal { case_id: case_id.clone(), reason: "unfair".into() });
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.decide(OFFICER, &case_id, Outcome::Approved);
    f.expect(envelope, ValidationCode::NotAuthorised, "a reviewer other than");
}

#[test]
fn definitions_are_endorsed_by_the_owner_and_versioned() {
    let mut f = world();
    let case_v1 = f.apply(CITIZEN, 1);
    let v2 = MLG.replace("\"version\": 1", "\"version\": 2").replace("80000", "90000");
    let envelope = f.define(PROVIDER, &v2, &[]);
    f.expect(
        envelope,
        ValidationCode::EndorsementPolicyFailure,
        "owning organisation \"civil-affairs\"",
    );
    let envelope = f.define(PROVIDER, &v2, &[("ca", CA)]);
    f.expect(envelope, ValidationCode::EndorsementPolicyFailure, "owning organisation");
    let envelope = f.define(OFFICER, &v2, &[("civil-affairs", CIVIL)]);
    f.expect(envelope, ValidationCode::NotAuthorised, "may be created only by role provider");
    let envelope = f.define(TAX_PROVIDER, &v2, &[("tax-office", TAX)]);
    f.expect(envelope, ValidationCode::NotAuthorised, "");
    let v3 = MLG.replace("\"version\": 1", "\"version\": 3");
    let envelope = f.define(PROVIDER, &v3, &[("civil-affairs", CIVIL)]);
    f.expect(envelope, ValidationCode::VersionConflict, "the next version must be 2");
    let bad = MLG
        .replacen("\"const\": \"local_threshold\"", "\"const\": \"nowhere\"", 1)
        .replace("\"version\": 1", "\"version\": 2");
    let envelope = f.define(PROVIDER, &bad, &[("civil-affairs", CIVIL)]);
    f.expect(envelope, ValidationCode::InvalidArgument, "const \"nowhere\" is not defined");
    let envelope = f.define(PROVIDER, &v2, &[("civil-affairs", CIVIL)]);
    f.expect(envelope, ValidationCode::Valid, "");
    // The case in flight keeps version 1 and its threshold.
    reviewed(&mut f, &case_v1);
    let envelope = f.decide(OFFICER, &case_v1, Outcome::Approved);
    f.expect(envelope, ValidationCode::Valid, "");
    assert_eq!(f.case(&case_v1).service_version, 1);
    assert_eq!(f.case(&case_v1).last_decision().unwrap().amount, Some(150_000));
}

#[test]
fn evidence_from_another_department_must_be_a_version_it_may_read() {
    let mut f = world();
    let envelope = f.publish(TAX_PROVIDER, "tax-office/declared-income", 1);
    f.expect(envelope, ValidationCode::Valid, "");
    let case_id = f.apply(CITIZEN, 1);
    let evidence = |hash: [u8; 32]| NamedHash {
        name: "declared_income".into(),
        hash,
        asset_id: "tax-office/declared-income".into(),
        asset_version: 1,
    };
    let check = |evidence: NamedHash| CaseAction::Check {
        case_id: case_id.clone(),
        facts: good_facts().iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        evidence: vec![evidence],
        person_hash_confirmed: true,
    };
    let envelope = f.act(INTAKE, check(evidence([7; 32])));
    f.expect(envelope, ValidationCode::NotAuthorised, "is not authorised for asset");
    let intake = Address::of_public_key(&public(&key(INTAKE))).to_string();
    let envelope = f.share(TAX_PROVIDER, "tax-office/declared-income", vec![intake]);
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.act(INTAKE, check(evidence([8; 32])));
    f.expect(envelope, ValidationCode::InvalidArgument, "differs from the content hash");
    let envelope = f.act(INTAKE, check(NamedHash { asset_version: 2, ..evidence([7; 32]) }));
    f.expect(envelope, ValidationCode::UnknownAsset, "has no version 2");
    let envelope = f.act(INTAKE, check(evidence([7; 32])));
    f.expect(envelope, ValidationCode::Valid, "");
    assert_eq!(f.case(&case_id).check_evidence[0].asset_version, 1);
}

#[test]
fn a_reviewer_joins_only_with_its_organisation_and_a_reviewer_role() {
    let mut f = world();
    let envelope = f.register_reviewer(90, "bank", Role::Reviewer, "payment_clerk", &[("ca", CA)]);
    f.expect(envelope, ValidationCode::EndorsementPolicyFailure, "its own organisation \"bank\"");
    let envelope =
        f.register_reviewer(90, "bank", Role::Reviewer, "", &[("ca", CA), ("bank", BANK)]);
    f.expect(envelope, ValidationCode::InvalidArgument, "needs a reviewer role");
    let envelope = f.register_reviewer(90, "bank", Role::Provider, "clerk", &[("ca", CA)]);
    f.expect(envelope, ValidationCode::InvalidArgument, "only role reviewer takes a reviewer role");
    let envelope = f.register_reviewer(90, "holders", Role::Reviewer, "clerk", &[("ca", CA)]);
    f.expect(envelope, ValidationCode::NotAuthorised, "");
}

#[test]
fn replicas_agree_on_cases() {
    let f = {
        let mut f = world();
        let case_id = f.apply(CITIZEN, 1);
        reviewed(&mut f, &case_id);
        f
    };
    assert!(f.ledger.cases().count() == 1);
    assert!(
        matches!(f.ledger.service("minimum-living-guarantee"), Some(s) if s.service.definition.version == 1)
    );
    let _ = Outcome::Returned;
}

#[test]
fn the_four_seed_definitions_are_valid() {
    for (file, json) in [
        ("social-insurance", include_str!("../../../../schemas/services/social-insurance.json")),
        ("social-assistance", include_str!("../../../../schemas/services/social-assistance.json")),
        ("social-welfare", include_str!("../../../../schemas/services/social-welfare.json")),
        ("minimum-living-guarantee", MLG),
    ] {
        let service = crate::service::Service::parse(json.as_bytes(), &|org| org != "holders")
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(service.definition.service_id, file);
        assert!(!service.definition.steps.is_empty(), "{file} has review steps");
    }
}

#[test]
fn an_approval_issues_the_services_certificate_into_its_channel() {
    let mut f = world();
    let case_id = f.apply(CITIZEN, 1);
    reviewed(&mut f, &case_id);
    let applicant = f.case(&case_id).applicant;
    let stranger = Address::of_public_key(&public(&key(CITIZEN_2)));
    // An approval must carry the certificate, of the service's type, to the
    // applicant, signed by the decider itself.
    let envelope = f.decide_with(OFFICER, &case_id, Outcome::Approved, None);
    f.expect(
        envelope,
        ValidationCode::InvalidArgument,
        "must carry the \"minimum-living-guarantee\" certificate",
    );
    let wrong_type = f.certificate(OFFICER, applicant, "social-assistance");
    let envelope = f.decide_with(OFFICER, &case_id, Outcome::Approved, Some(wrong_type));
    f.expect(envelope, ValidationCode::InvalidArgument, "issues \"minimum-living-guarantee\"");
    let to_stranger = f.certificate(OFFICER, stranger, "minimum-living-guarantee");
    let envelope = f.decide_with(OFFICER, &case_id, Outcome::Approved, Some(to_stranger));
    f.expect(envelope, ValidationCode::InvalidArgument, "not the applicant");
    let signed_by_another = f.certificate(APPEAL, applicant, "minimum-living-guarantee");
    let envelope = f.decide_with(OFFICER, &case_id, Outcome::Approved, Some(signed_by_another));
    f.expect(envelope, ValidationCode::InvalidArgument, "must be the creator's key");
    let mut forged = f.certificate(OFFICER, applicant, "minimum-living-guarantee");
    forged.issuer_signature[0] ^= 1;
    let envelope = f.decide_with(OFFICER, &case_id, Outcome::Approved, Some(forged));
    f.expect(envelope, ValidationCode::BadSignature, "does not verify");
    let on_rejection = f.certificate(OFFICER, applicant, "minimum-living-guarantee");
    let envelope = f.decide_with(OFFICER, &case_id, Outcome::Rejected, Some(on_rejection));
    f.expect(envelope, ValidationCode::InvalidArgument, "not an approval");
    assert_eq!(f.ledger.holder_certificates(&applicant).count(), 0);

    let envelope = f.decide(OFFICER, &case_id, Outcome::Approved);
    f.expect(envelope, ValidationCode::Valid, "");
    let decision = f.case(&case_id).last_decision().unwrap().clone();
    let id = decision.certificate_id.expect("the approval names its certificate");
    let issued = f.ledger.certificate(&id).expect("the certificate is in its channel");
    assert_eq!(issued.statement.channel, "minimum-living-guarantee");
    assert_eq!(issued.statement.holder, applicant);
    assert_eq!(issued.statement.issuer_organisation, "civil-affairs");
    assert_eq!(issued.issuer_address, Address::of_public_key(&public(&key(OFFICER))));
    assert!(issued.revoked.is_none());
    let timeline = &f.case(&case_id).history;
    assert!(
        timeline.last().unwrap().hashes.iter().any(|h| h.name == "certificate" && h.hash == id)
    );

    // An appeal decided again supersedes the first certificate: revoked,
    // and the new approval issues another.
    let envelope =
        f.act(CITIZEN, CaseAction::Appeal { case_id: case_id.clone(), reason: "amount".into() });
    f.expect(envelope, ValidationCode::Valid, "");
    let envelope = f.decide(APPEAL, &case_id, Outcome::Approved);
    f.expect(envelope, ValidationCode::Valid, "");
    let first = f.ledger.certificate(&id).unwrap();
    assert!(first.revoked.as_ref().unwrap().reason.contains("decided again on appeal"));
    let second = f.case(&case_id).last_decision().unwrap().certificate_id.unwrap();
    assert_ne!(second, id);
    assert!(f.ledger.certificate(&second).unwrap().revoked.is_none());

    // Closing the case ends the entitlement: its certificate is revoked.
    let envelope =
        f.act(OFFICER, CaseAction::Close { case_id: case_id.clone(), reason: "moved away".into() });
    f.expect(envelope, ValidationCode::Valid, "");
    let closed = f.ledger.certificate(&second).unwrap();
    assert!(closed.revoked.as_ref().unwrap().reason.contains("was closed"));
}

#[test]
fn a_service_whose_deciders_may_not_issue_its_certificate_is_refused() {
    let mut f = world();
    // Civil affairs is not an issuer of social-welfare certificates in this
    // consortium.
    let json = MLG
        .replace(
            "\"certificate_type\": \"minimum-living-guarantee\"",
            "\"certificate_type\": \"social-welfare\"",
        )
        .replace("\"version\": 1", "\"version\": 2");
    assert!(json.contains("\"certificate_type\": \"social-welfare\""), "the replacement took");
    let envelope = f.define(PROVIDER, &json, &[("civil-affairs", CIVIL)]);
    f.expect(envelope, ValidationCode::NotAuthorised, "lets only [\"democratic-review\"] issue");
}

#[test]
fn deadlines_count_from_when_a_step_became_ready() {
    let mut f = world();
    let case_id = f.apply(CITIZEN, 1);
    let service = f.ledger.service("minimum-living-guarantee").unwrap().service.clone();
    assert!(
        open_deadlines(&service, f.case(&case_id)).is_empty(),
        "nothing is due before the checks"
    );
    let envelope = f.check(&case_id, &good_facts());
    f.expect(envelope, ValidationCode::Valid, "");
    let checked_at = f.case(&case_id).checked_at_ms.unwrap();
    let due = open_deadlines(&service, f.case(&case_id));
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].step, "household_survey");
    assert_eq!(due[0].due_ms, checked_at + 15 * DAY as u64);
    let envelope = f.step(SURVEYOR, &case_id, "household_survey", &[]);
    f.expect(envelope, ValidationCode::Valid, "");
    let surveyed_at = f.case(&case_id).steps[0].by.at_ms;
    let due = open_deadlines(&service, f.case(&case_id));
    let names: Vec<&str> = due.iter().map(|d| d.step.as_str()).collect();
    assert_eq!(names, ["income_accounting", "democratic_review"]);
    assert!(due.iter().all(|d| d.due_ms == surveyed_at + 10 * DAY as u64), "{due:?}");
}

/// Applies an envelope that must be valid; answers its log record and the
/// state root after it.
fn commit(f: &mut Fixture, envelope: Vec<u8>) -> (Vec<u8>, crate::merkle::Hash) {
    let record = batch_record(vec![envelope]);
    let block = f.ledger.apply_record(f.offset, &record).clone();
    f.offset += 1;
    assert_eq!(block.receipts[0].code, ValidationCode::Valid, "{}", block.receipts[0].message);
    (record, block.header.state_root)
}

#[test]
fn replicas_agree_on_the_state_root_after_every_case_action() {
    let mut f = world();
    let mut applied = Vec::new();
    let envelope = f.act(CITIZEN, apply(1, documents()));
    let case_id = case_id_of(&Transaction::decode(&envelope).unwrap().id);
    applied.push(commit(&mut f, envelope));
    let envelopes = [
        f.check(&case_id, &good_facts()),
        f.step(SURVEYOR, &case_id, "household_survey", &[]),
        f.step(REVIEWER, &case_id, "democratic_review", &[]),
        f.step(
            ACCOUNTANT,
            &case_id,
            "income_accounting",
            &[("household_monthly_income", 90_000), ("members", 3)],
        ),
        f.decide(OFFICER, &case_id, Outcome::Approved),
    ];
    for envelope in envelopes {
        applied.push(commit(&mut f, envelope));
    }
    let case = f.case(&case_id);
    assert_eq!(case.state, CaseState::Approved);
    let actions: Vec<&str> = case.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["apply", "check", "step", "step", "step", "decide"]);
    let roots: Vec<_> = applied.iter().map(|(_, root)| *root).collect();
    assert!(roots.windows(2).all(|w| w[0] != w[1]), "every action moves the state root");

    let mut replica = world();
    for (record, root) in &applied {
        let block = replica.ledger.apply_record(replica.offset, record).clone();
        replica.offset += 1;
        assert_eq!(&block.header.state_root, root);
    }
    assert_eq!(replica.case(&case_id), case);
}
