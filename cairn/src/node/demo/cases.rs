//! The social-security part of `cairn up --demo`: the seed paper's
//! departments, their reviewers (each with the reviewer role the four service
//! definitions name), a provider of each owning department and one citizen
//! per service; the four definitions of `schemas/services/`; and one case per
//! service, walked from the application through the automatic checks and
//! every review step to the approval.
//!
//! The documents of each application (the form, the ID card scan and the
//! rest the definition asks for, all fictional) are sealed into the node's
//! local object store to exactly the case's participants and the applicant;
//! the ledger holds only their hashes. The deciding department signs the
//! decision document, which is written next to the demo keys (JSON and PDF)
//! and sealed into the store as the case's `decision` document; the ledger
//! anchors its hash.
//!
//! Everything here is idempotent: identities and definitions already on the
//! ledger are kept, a case already approved is left alone, and a case that a
//! stop interrupted is resumed from its state, so a restart never applies
//! twice for the same person.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use access_control::keys::KeyPair;
use anchor_chaincode::case::{self, CaseAction, CaseState, NamedHash, Outcome};
use anchor_chaincode::ledger::{self as chain, CaseRecord};
use anchor_chaincode::service::expr::Inputs;
use anchor_chaincode::service::{Actor, Direction, Service};
use anchor_chaincode::tx::{self, Transaction, TxDraft};
use anchor_chaincode::{Role, ValidationCode};
use anyhow::{Context, bail, format_err};
use asset_registry::decision::{self, CertificateTerms, DecisionDocument, SignedDecision};
use cairn_schemas::v1 as pb;
use ods_frontend::case_docs::{self, Recipient};
use ods_frontend::store::SealedStore;
use serde_json::Value as Json;

use super::{CHAIN_ID, keys_dir, load_or_create};
use crate::clock::now_ms;
use crate::node::Node;

mod applications;

use applications::{Application, application};

/// The departments of the seed paper, added to the demo genesis beside the
/// demo's first organisations.
pub(super) const ORGANISATIONS: [(&str, &str); 9] = [
    ("social-insurance-agency", "Social Insurance Agency (social insurance enrolment)"),
    ("civil-affairs", "Civil Affairs Department (minimum living guarantee, social assistance)"),
    ("neighbourhood-committee", "Neighbourhood Committee (household surveys)"),
    ("sub-district-accounting", "Sub-district Accounting Team (income and property accounting)"),
    ("democratic-review", "Democratic Review Team"),
    ("welfare-institute", "Welfare Institute (social welfare for injury on duty)"),
    ("county-welfare", "County Welfare Department (acceptance of welfare applications)"),
    ("hospital-consultation", "Hospital Consultation Team (medical examination and conclusion)"),
    ("bank", "Bank (benefit payments and premium collection)"),
];

/// The consortium's person-hash key: 32 random bytes in hex, mode 0600.
pub(super) const PERSON_KEY_FILE: &str = "person-hash.key";
/// Where the signed decision documents go, under the demo keys folder.
const DECISIONS_DIR: &str = "decisions";
/// The most actions one case takes from its application to its approval.
const MAX_ACTIONS: usize = 16;
const DAY_MS: u64 = 86_400_000;

/// The four service definitions, parsed.
pub(super) fn services() -> anyhow::Result<Vec<Service>> {
    cairn_schemas::services::ALL
        .iter()
        .map(|(file, json)| {
            Service::parse(json.as_bytes(), &|_| true)
                .map_err(|e| format_err!("service definition {file}: {e}"))
        })
        .collect()
}

/// The certificate type each service's approval produces, with the
/// organisation (the service's owner) that issues it.
pub(super) fn certificate_issuers() -> anyhow::Result<Vec<(String, String)>> {
    Ok(services()?
        .iter()
        .filter_map(|service| {
            let definition = &service.definition;
            definition
                .outcome
                .as_ref()
                .map(|outcome| (outcome.certificate_type.clone(), definition.owner.clone()))
        })
        .collect())
}

/// The key file stem of the reviewer of a reviewer group.
pub(super) fn reviewer_stem(actor: &Actor) -> String {
    format!("reviewer-{}-{}", actor.organisation, actor.role)
}

fn provider_stem(organisation: &str) -> String {
    format!("provider-{organisation}")
}

/// The key file stem of the citizen who applies to a service.
pub(super) fn citizen_stem(service_id: &str) -> String {
    format!("citizen-{service_id}")
}

use asset_registry::cases::person_hash;

/// Reads the person-hash key, or makes one (mode 0600) on the first start.
fn load_or_create_person_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    if path.exists() {
        asset_registry::cases::read_person_key(path)
    } else {
        asset_registry::cases::create_person_key(path)
    }
    .map_err(|e| format_err!(e))
}

/// Whether the form satisfies its JSON Schema (as the CLI's checks decide).
fn form_complete(schema: &Json, form: &Json) -> bool {
    asset_registry::cases::validate_form(schema, form).is_ok_and(|problems| problems.is_empty())
}

/// Minor units as major units with two decimals (`150000` → `1500.00`).
fn money(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, (minor % 100).abs())
}

/// The demo's keys, its store and the ledger it writes to.
struct Demo<'a> {
    node: &'a Node,
    store: SealedStore,
    dir: PathBuf,
    person_key: [u8; 32],
    /// Key pairs by key file stem.
    keys: BTreeMap<String, KeyPair>,
}

impl Demo<'_> {
    fn key(&self, stem: &str) -> anyhow::Result<&KeyPair> {
        self.keys.get(stem).ok_or_else(|| format_err!("the demo has no key {stem}.key"))
    }

    fn organisation_key(&self, organisation: &str) -> anyhow::Result<KeyPair> {
        let path = self.dir.join(format!("org-{organisation}.key"));
        KeyPair::load(&path).with_context(|| format!("cannot load {}", path.display()))
    }

    /// Signs a transaction at `timestamp_ms`.
    fn envelope(
        &self,
        signer: &KeyPair,
        timestamp_ms: u64,
        body: pb::tx_payload::Body,
        endorsers: &[(&str, &KeyPair)],
    ) -> anyhow::Result<Vec<u8>> {
        let draft = TxDraft {
            chain_id: CHAIN_ID.into(),
            nonce: access_control::keys::random_bytes::<16>()?.to_vec(),
            timestamp_ms,
            body,
        };
        let endorsers: Vec<(&str, &ed25519_zebra::SigningKey)> =
            endorsers.iter().map(|(org, pair)| (*org, pair.signing_key())).collect();
        Ok(tx::seal(draft.payload(&signer.signing_public_key()), signer.signing_key(), &endorsers))
    }

    /// Submits an envelope and fails unless it is valid.
    async fn commit(&self, envelope: Vec<u8>, what: &str) -> anyhow::Result<()> {
        let receipt = self.node.submit(envelope).await?.receipt;
        if receipt.code != ValidationCode::Valid {
            bail!("demo {what} ({}) was {}: {}", receipt.tx_id, receipt.code, receipt.message);
        }
        Ok(())
    }

    /// Loads (or makes) a key and registers its identity if the ledger does
    /// not know it yet; reviewers are endorsed by their organisation too.
    async fn register(
        &mut self,
        stem: String,
        name: String,
        organisation: &str,
        role: Role,
        reviewer_role: &str,
    ) -> anyhow::Result<()> {
        let pair = load_or_create(&self.dir.join(format!("{stem}.key")))?;
        let registered = self.node.ledger().identity(&pair.address()).is_some();
        if !registered {
            let body = pb::tx_payload::Body::RegisterIdentity(pb::RegisterIdentity {
                name,
                organisation: organisation.into(),
                role: tx::role_to_pb(role).into(),
                signing_public_key: pair.signing_public_key().to_vec(),
                encryption_public_key: pair.encryption_public_key().to_vec(),
                reviewer_role: reviewer_role.into(),
            });
            let ca = self.organisation_key("ca")?;
            let own = if role == Role::Reviewer {
                Some(self.organisation_key(organisation)?)
            } else {
                None
            };
            let mut endorsers = vec![("ca", &ca)];
            if let Some(own) = &own {
                endorsers.push((organisation, own));
            }
            let envelope = self.envelope(&pair, now_ms(), body, &endorsers)?;
            self.commit(envelope, &format!("registration of {stem}")).await?;
        }
        let _ = self.keys.insert(stem, pair);
        Ok(())
    }

    /// The case's participants (every registered reviewer of a group the
    /// service names) and the applicant: whom its documents are sealed to.
    fn recipients(&self, service: &Service, applicant: &KeyPair) -> Vec<Recipient> {
        let groups = chain::participants(service);
        let ledger = self.node.ledger();
        let mut recipients: Vec<Recipient> = ledger
            .identities()
            .filter(|identity| {
                identity.revoked.is_none()
                    && identity.role == Role::Reviewer
                    && groups.iter().any(|group| {
                        group.organisation == identity.organisation
                            && group.role == identity.reviewer_role
                    })
            })
            .map(Recipient::from)
            .collect();
        recipients.push(Recipient::of(applicant));
        recipients
    }

    /// Seals the application's documents and applies; answers the case id.
    async fn apply(&self, service: &Service, application: &Application) -> anyhow::Result<String> {
        let definition = &service.definition;
        let citizen = self.key(&citizen_stem(&definition.service_id))?;
        let mut documents =
            vec![("form".to_owned(), serde_json::to_vec_pretty(&application.form)?)];
        for spec in definition.documents.iter().filter(|d| d.required && d.name != "form") {
            let text = format!(
                "{}: a fictional sample for the Cairn demo's application to {:?}.\n",
                if spec.title.is_empty() { &spec.name } else { &spec.title },
                definition.title
            );
            documents.push((spec.name.clone(), text.into_bytes()));
        }
        let id_number = application.form["id_number"].as_str().ok_or_else(|| {
            format_err!("the demo form for {} has no id_number", service_id(service))
        })?;
        let action = CaseAction::Apply {
            service_id: definition.service_id.clone(),
            service_version: definition.version,
            person_hash: person_hash(&self.person_key, id_number),
            documents: documents
                .iter()
                .map(|(name, bytes)| named(name, case_docs::document_hash(bytes)))
                .collect(),
        };
        // The case id derives from the applying transaction's id, and the
        // documents are sealed under it before the application is submitted:
        // their content hashes do not depend on the case.
        let envelope = self.envelope(
            citizen,
            now_ms(),
            pb::tx_payload::Body::CaseAction(case::to_pb(&action)),
            &[],
        )?;
        let tx_id = Transaction::decode(&envelope)
            .map_err(|r| format_err!("demo application: {}: {}", r.code, r.message))?
            .id;
        let case_id = case::case_id_of(&tx_id);
        let recipients = self.recipients(service, citizen);
        for (name, bytes) in &documents {
            let _ = case_docs::seal_document(&self.store, &case_id, name, bytes, &recipients)
                .await
                .with_context(|| format!("cannot seal document {name:?} of case {case_id}"))?;
        }
        self.commit(envelope, &format!("application to {}", definition.service_id)).await?;
        Ok(case_id)
    }

    /// The intake officer's automatic checks: the completeness of the form,
    /// read from the sealed form itself, the person hash recomputed from its
    /// ID number, and the other facts.
    async fn check(
        &self,
        service: &Service,
        case: &CaseRecord,
        application: &Application,
    ) -> anyhow::Result<()> {
        let definition = &service.definition;
        let intake = self.key(&reviewer_stem(&definition.checks))?;
        let form_hash = case
            .documents
            .iter()
            .find(|d| d.name == "form")
            .map(|d| d.hash)
            .ok_or_else(|| format_err!("case {} has no form", case.case_id))?;
        let form = case_docs::open_document(&self.store, &case.case_id, "form", &form_hash, intake)
            .await
            .with_context(|| format!("cannot open the form of case {}", case.case_id))?;
        let form: Json = serde_json::from_slice(&form)
            .with_context(|| format!("the form of case {} is not JSON", case.case_id))?;
        let person_hash_confirmed = form["id_number"]
            .as_str()
            .is_some_and(|number| person_hash(&self.person_key, number) == case.person_hash);
        let mut facts = vec![(
            application.completeness_fact.to_owned(),
            i64::from(form_complete(&definition.form_schema, &form)),
        )];
        facts.extend(application.facts.iter().map(|(name, value)| ((*name).to_owned(), *value)));
        let action = CaseAction::Check {
            case_id: case.case_id.clone(),
            facts,
            evidence: case.documents.clone(),
            person_hash_confirmed,
        };
        self.act(intake, action, now_ms(), "checks").await
    }

    /// One review step, by the reviewer of its group.
    async fn step(
        &self,
        service: &Service,
        case: &CaseRecord,
        application: &Application,
        step: &str,
    ) -> anyhow::Result<()> {
        let spec = service
            .step(step)
            .ok_or_else(|| format_err!("service {} has no step {step:?}", service_id(service)))?;
        let reviewer = self.key(&reviewer_stem(&spec.actor()))?;
        let finding = application
            .steps
            .iter()
            .find(|finding| finding.step == step)
            .ok_or_else(|| format_err!("the demo has no finding for step {step:?}"))?;
        let outputs = finding.outputs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        let action = CaseAction::Step {
            case_id: case.case_id.clone(),
            step: step.into(),
            passed: true,
            outputs,
            evidence: case.documents.clone(),
            reason: finding.reason.into(),
        };
        self.act(reviewer, action, now_ms(), &format!("step {step}")).await
    }

    /// The approval: the decision document signed with the deciding
    /// organisation's key, written as JSON and PDF, sealed into the store,
    /// and its hash anchored by the deciding reviewer's transaction.
    async fn approve(&self, service: &Service, case: &CaseRecord) -> anyhow::Result<()> {
        let definition = &service.definition;
        let decider = service.decider();
        let officer = self.key(&reviewer_stem(&decider))?;
        let decided_at_ms = now_ms();
        let amount = amount(service, case, decided_at_ms)?;
        let reasons =
            vec!["Every automatic check and every review step of the service passed.".to_owned()];
        let document = DecisionDocument {
            case_id: case.case_id.clone(),
            service_id: case.service_id.clone(),
            service_version: u32::try_from(case.service_version)
                .context("the service version does not fit a decision document")?,
            outcome: decision::Outcome::Approved,
            amount_minor: Some(amount),
            currency: Some(definition.currency.clone()),
            reasons: reasons.clone(),
            decided_by_organisation: decider.organisation.clone(),
            decided_by_role: decider.role.clone(),
            decided_by_address: officer.address().to_string(),
            decided_at_ms,
            evidence: case.documents.iter().map(|d| hex::encode(d.hash)).collect(),
            appeal: false,
        };
        let organisation_key = self.organisation_key(&decider.organisation)?;
        let signed = SignedDecision::sign(document, organisation_key.signing_key())?;
        let file = signed.to_json();
        let pdf = decision::render_pdf(&signed)?;
        let (json_path, pdf_path) = decision_paths(&self.dir, &case.case_id);
        if let Some(parent) = json_path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&json_path, &file)
            .with_context(|| format!("cannot write {}", json_path.display()))?;
        std::fs::write(&pdf_path, &pdf)
            .with_context(|| format!("cannot write {}", pdf_path.display()))?;
        let applicant = self.key(&citizen_stem(&case.service_id))?;
        let certificate = match &definition.outcome {
            Some(produces) => Some(Box::new(decision::approval_certificate(
                officer,
                &signed.document,
                &signed.document.document_hash(),
                &CertificateTerms {
                    certificate_type: &produces.certificate_type,
                    title: &produces.title,
                    holder: applicant.address(),
                    holder_encryption_key: applicant.encryption_public_key(),
                    valid_for_ms: 365 * DAY_MS,
                },
            )?)),
            None => None,
        };
        let recipients = self.recipients(service, applicant);
        let _ = case_docs::seal_document(
            &self.store,
            &case.case_id,
            "decision",
            file.as_bytes(),
            &recipients,
        )
        .await
        .with_context(|| format!("cannot seal the decision of case {}", case.case_id))?;
        let action = CaseAction::Decide {
            case_id: case.case_id.clone(),
            outcome: Outcome::Approved,
            reasons,
            evidence: case.documents.clone(),
            decision_document_hash: signed.document.document_hash(),
            certificate,
        };
        self.act(officer, action, decided_at_ms, "decision").await
    }

    async fn act(
        &self,
        signer: &KeyPair,
        action: CaseAction,
        timestamp_ms: u64,
        what: &str,
    ) -> anyhow::Result<()> {
        let case_id = action.case_id().unwrap_or_default().to_owned();
        let body = pb::tx_payload::Body::CaseAction(case::to_pb(&action));
        let envelope = self.envelope(signer, timestamp_ms, body, &[])?;
        self.commit(envelope, &format!("{what} of case {case_id}")).await
    }

    /// Walks the citizen's case of a service to its approval: applies if
    /// the citizen has no case of it yet, else resumes the open one.
    async fn walk(&self, service_id: &str) -> anyhow::Result<String> {
        let citizen = self.key(&citizen_stem(service_id))?.address();
        let application = application(service_id, (now_ms() / DAY_MS) as i64)?;
        let (existing, service) = {
            let ledger = self.node.ledger();
            let mine: Vec<&CaseRecord> = ledger
                .cases()
                .filter(|c| c.service_id == service_id && c.applicant == citizen)
                .collect();
            let decided = mine.iter().find(|c| {
                matches!(c.state, CaseState::Approved | CaseState::Paid | CaseState::Closed)
            });
            let open = mine.iter().find(|c| c.state.is_open());
            let existing = decided.or(open).map(|c| c.case_id.clone());
            let service = ledger
                .service(service_id)
                .map(|record| record.service.clone())
                .ok_or_else(|| format_err!("service {service_id:?} is not defined"))?;
            (existing, service)
        };
        let case_id = match existing {
            Some(case_id) => case_id,
            None => self.apply(&service, &application).await?,
        };
        for _ in 0..MAX_ACTIONS {
            let (case, service) = {
                let ledger = self.node.ledger();
                let case = ledger
                    .case(&case_id)
                    .cloned()
                    .ok_or_else(|| format_err!("the ledger has no case {case_id}"))?;
                let service = ledger
                    .service_version(&case.service_id, case.service_version)
                    .map(|record| record.service.clone())
                    .ok_or_else(|| format_err!("case {case_id} names a missing service"))?;
                (case, service)
            };
            match case.state {
                CaseState::Submitted => self.check(&service, &case, &application).await?,
                CaseState::Checked | CaseState::InReview => {
                    let next =
                        chain::ready_step_names(&service, &case).first().map(|s| s.to_string());
                    match next {
                        Some(step) => self.step(&service, &case, &application, &step).await?,
                        None => self.approve(&service, &case).await?,
                    }
                }
                CaseState::Approved | CaseState::Paid | CaseState::Closed => return Ok(case_id),
                state => bail!(
                    "demo case {case_id} of {service_id} is {state}, not on its way to approval: {}",
                    case.history.last().map(|h| h.reasons.join("; ")).unwrap_or_default()
                ),
            }
        }
        bail!("demo case {case_id} of {service_id} was not approved after {MAX_ACTIONS} actions")
    }
}

fn service_id(service: &Service) -> &str {
    &service.definition.service_id
}

fn named(name: &str, hash: [u8; 32]) -> NamedHash {
    NamedHash { name: name.into(), hash, asset_id: String::new(), asset_version: 0 }
}

/// The monthly amount of an approval, as the chaincode computes it from the
/// recorded facts and step outputs.
fn amount(service: &Service, case: &CaseRecord, decided_at_ms: u64) -> anyhow::Result<i64> {
    let outputs: BTreeMap<String, i64> = case
        .current_steps()
        .flat_map(|s| s.outputs.iter().map(|(k, v)| (format!("{}.{k}", s.step), *v)))
        .collect();
    let facts: BTreeMap<String, i64> = case.facts.iter().cloned().collect();
    let vars = BTreeMap::from([
        ("application_date".to_owned(), (case.applied_at_ms / DAY_MS) as i64),
        ("decision_date".to_owned(), (decided_at_ms / DAY_MS) as i64),
    ]);
    let inputs = Inputs {
        facts: Some(&facts),
        outputs: Some(&outputs),
        constants: Some(&service.definition.constants),
        vars: Some(&vars),
    };
    service
        .amount
        .eval_int(&inputs)
        .map_err(|e| format_err!("the amount formula of {}: {e}", service_id(service)))
}

/// The signed decision's JSON file and its printable PDF.
fn decision_paths(dir: &Path, case_id: &str) -> (PathBuf, PathBuf) {
    let decisions = dir.join(DECISIONS_DIR);
    (
        decisions.join(format!("{case_id}-decision.json")),
        decisions.join(format!("{case_id}-decision.pdf")),
    )
}

/// Registers the departments' people, defines the four services and walks
/// one case per service to its approval; keeps whatever is there already.
pub(super) async fn populate(node: &Node, data_dir: &Path) -> anyhow::Result<()> {
    let dir = keys_dir(data_dir);
    let store_url = ods_frontend::layout::default_store(data_dir)
        .with_context(|| format!("cannot create the object store under {}", data_dir.display()))?;
    let mut demo = Demo {
        node,
        store: SealedStore::from_url(&store_url, &[])?,
        person_key: load_or_create_person_key(&dir.join(PERSON_KEY_FILE))?,
        dir,
        keys: BTreeMap::new(),
    };
    let services = services()?;
    let mut owners: Vec<&str> = services.iter().map(|s| s.definition.owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    for owner in owners {
        demo.register(
            provider_stem(owner),
            format!("Service desk of {owner}"),
            owner,
            Role::Provider,
            "",
        )
        .await?;
    }
    let mut groups: Vec<Actor> = services.iter().flat_map(chain::participants).collect();
    groups.sort();
    groups.dedup();
    for group in &groups {
        demo.register(
            reviewer_stem(group),
            format!("{} of {}", group.role.replace('_', " "), group.organisation),
            &group.organisation,
            Role::Reviewer,
            &group.role,
        )
        .await?;
    }
    let holders = node.ledger().consortium().holders().to_owned();
    for service in &services {
        let definition = &service.definition;
        demo.register(
            citizen_stem(&definition.service_id),
            format!("Demo applicant for {}", definition.title.to_lowercase()),
            &holders,
            Role::Public,
            "",
        )
        .await?;
    }
    for (file, json) in cairn_schemas::services::ALL {
        let service = services
            .iter()
            .find(|s| s.definition_bytes == json.as_bytes())
            .ok_or_else(|| format_err!("service definition {file} did not parse"))?;
        let defined = node.ledger().service(service_id(service)).is_some();
        if defined {
            continue;
        }
        let owner = service.definition.owner.as_str();
        let provider = demo.key(&provider_stem(owner))?;
        let owner_key = demo.organisation_key(owner)?;
        let body = pb::tx_payload::Body::DefineService(pb::DefineService {
            definition_json: json.as_bytes().to_vec(),
        });
        let envelope = demo.envelope(provider, now_ms(), body, &[(owner, &owner_key)])?;
        demo.commit(envelope, &format!("definition of {file}")).await?;
    }
    for service in &services {
        let _ = demo.walk(service_id(service)).await?;
    }
    Ok(())
}

/// The citizen's approved (or since paid or closed) case of each service,
/// in the order of `cairn_schemas::services::ALL`.
pub(super) fn demo_cases(node: &Node, data_dir: &Path) -> Vec<CaseRecord> {
    let dir = keys_dir(data_dir);
    let ledger = node.ledger();
    let Ok(services) = services() else { return Vec::new() };
    services
        .iter()
        .filter_map(|service| {
            let id = service_id(service);
            let citizen = KeyPair::load(&dir.join(format!("{}.key", citizen_stem(id)))).ok()?;
            ledger
                .cases()
                .find(|c| {
                    c.service_id == id
                        && c.applicant == citizen.address()
                        && matches!(
                            c.state,
                            CaseState::Approved | CaseState::Paid | CaseState::Closed
                        )
                })
                .cloned()
        })
        .collect()
}

fn role_label(role: &str) -> String {
    match role.strip_prefix("reviewer:") {
        Some(reviewer_role) => format!("reviewer {reviewer_role}"),
        None => role.to_owned(),
    }
}

/// The walkthrough of the demo cases and the case commands to try next.
pub(super) fn walkthrough(node: &Node, data_dir: &Path, node_flag: &str) -> String {
    let dir = keys_dir(data_dir);
    let cases = demo_cases(node, data_dir);
    let mut out = String::from(
        "\nSocial-security services: one case per service, from the application to the approval.\n\
         Documents are sealed into the local object store to the case's participants and the\n\
         applicant; the ledger holds only their hashes.\n",
    );
    let ledger = node.ledger();
    for case in &cases {
        let Some(record) = ledger.service_version(&case.service_id, case.service_version) else {
            continue;
        };
        let definition = &record.service.definition;
        let _ = writeln!(
            out,
            "\n{} ({} v{}, owned by {})\n  case {}, applicant {} (key {})",
            definition.title,
            definition.service_id,
            definition.version,
            definition.owner,
            case.case_id,
            case.applicant,
            dir.join(format!("{}.key", citizen_stem(&case.service_id))).display(),
        );
        for (idx, entry) in case.history.iter().enumerate() {
            let action = match entry.action.as_str() {
                "step" => case
                    .steps
                    .iter()
                    .find(|s| s.by.tx_id == entry.by.tx_id)
                    .map_or_else(|| "step".to_owned(), |s| format!("step {}", s.step)),
                other => other.to_owned(),
            };
            let who = format!("{} / {}", entry.by.organisation, role_label(&entry.by.role));
            let detail = match entry.action.as_str() {
                "apply" => format!(
                    "documents sealed: {}",
                    entry.hashes.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
                "check" => format!(
                    "{} of {} rules passed",
                    case.verdicts.iter().filter(|v| v.passed).count(),
                    case.verdicts.len()
                ),
                "decide" => case
                    .decisions
                    .iter()
                    .find(|d| d.by.tx_id == entry.by.tx_id)
                    .and_then(|d| d.amount.map(|amount| (amount, d.certificate_id)))
                    .map(|(amount, certificate)| {
                        let per_month = match definition.payment.as_ref().map(|p| p.direction) {
                            Some(Direction::Debit) => "premium a month",
                            _ => "a month",
                        };
                        format!(
                            "{} {} {per_month}, decision {}{}",
                            money(amount),
                            definition.currency,
                            decision_paths(&dir, &case.case_id).0.display(),
                            certificate
                                .map(|id| format!(", certificate {}", hex::encode(id)))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_default(),
                _ => entry.reasons.join("; "),
            };
            let _ = writeln!(
                out,
                "    {}. {action:<28} {who:<55} -> {:<10} {detail}",
                idx + 1,
                entry.state.as_str(),
            );
        }
    }
    let Some(first) = cases.iter().find(|c| c.service_id == "minimum-living-guarantee") else {
        return out;
    };
    let key = |stem: &str| dir.join(format!("{stem}.key")).display().to_string();
    let citizen = key(&citizen_stem(&first.service_id));
    let store = ods_frontend::layout::default_store(data_dir).unwrap_or_default();
    let clerk =
        key(&reviewer_stem(&Actor { organisation: "bank".into(), role: "payment_clerk".into() }));
    let surveyor = key(&reviewer_stem(&Actor {
        organisation: "neighbourhood-committee".into(),
        role: "household_surveyor".into(),
    }));
    let case_id = &first.case_id;
    let _ = write!(
        out,
        "\nTry the case commands:\n\
         \x20 cairn service list{node_flag} --key {citizen}\n\
         \x20 cairn service show minimum-living-guarantee{node_flag} --key {citizen}\n\
         \x20 cairn case list --queue{node_flag} --key {clerk}   (the approved cases wait for payment)\n\
         \x20 cairn case list{node_flag} --key {citizen}\n\
         \x20 cairn case show {case_id}{node_flag} --key {citizen}\n\
         \x20 cairn case timeline {case_id}{node_flag} --key {surveyor}\n\
         \x20 cairn case fetch {case_id} --doc form{node_flag} --key {surveyor} --store {store} --out form.json\n\
         \x20 cairn case audit {case_id}{node_flag} --key {} --store {store} --person-key {}\n\
         \x20 cairn case verify-decision {}{node_flag} --key {citizen}\n\
         \x20 cairn cert list{node_flag} --key {citizen}   (the certificate each approval issued)\n",
        key("auditor"),
        dir.join(PERSON_KEY_FILE).display(),
        decision_paths(&dir, case_id).0.display(),
    );
    out
}
