//! The writes of `cairn case`: apply, supply, check, step, decide and the
//! applicant's and decider's one-line actions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use access_control::keys::KeyPair;
use anchor_chaincode::case::{self, CaseAction, NamedHash, Outcome};
use anchor_chaincode::service::expr::Inputs;
use anchor_chaincode::tx::{self, TxDraft};
use anchor_chaincode::types::TxId;
use anyhow::{Context, bail, format_err};
use asset_registry::cases::{DAY_MS, form_facts, parse_fact, person_hash, validate_form};
use asset_registry::decision::{self, CertificateTerms, DecisionDocument, SignedDecision};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::cases_client::CasesClient;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::Args;
use ods_frontend::case_docs::{self, Recipient};
use ods_frontend::store::SealedStore;

use super::{
    case_record, check_case_id, evidence, pairs, print_outcome, read_person_key, recipients,
    service, submit_action,
};
use crate::cli::NodeArgs;
use crate::cli::rpc::{connect, connect_as, node_info, submit};

#[derive(Args, Debug)]
pub(crate) struct ApplyArgs {
    /// The service id.
    #[arg(long)]
    service: String,
    /// The applicant's key file (a citizen: role public).
    #[arg(long)]
    key: PathBuf,
    /// The consortium's person-hash key file.
    #[arg(long)]
    person_key: PathBuf,
    /// The application form (JSON); it must hold `id_number`.
    #[arg(long)]
    form: PathBuf,
    /// A document: NAME=PATH (repeat).
    #[arg(long = "doc")]
    docs: Vec<String>,
    /// The ODS object store the sealed documents go to (file:///dir, s3://bucket/prefix).
    #[arg(long, env = "CAIRN_CASE_STORE")]
    store: String,
    /// Submit a form that does not satisfy the service's schema (the checks will return it).
    #[arg(long)]
    submit_incomplete: bool,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct SupplyArgs {
    /// The case id.
    case_id: String,
    /// The applicant's key file.
    #[arg(long)]
    key: PathBuf,
    /// A corrected form (JSON).
    #[arg(long)]
    form: Option<PathBuf>,
    /// A document: NAME=PATH (repeat).
    #[arg(long = "doc")]
    docs: Vec<String>,
    /// The ODS object store.
    #[arg(long, env = "CAIRN_CASE_STORE")]
    store: String,
    /// A note to the reviewers.
    #[arg(long, default_value = "")]
    note: String,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// The case id.
    case_id: String,
    /// The key file of the reviewer the service names for the checks.
    #[arg(long)]
    key: PathBuf,
    /// The ODS object store holding the sealed form.
    #[arg(long, env = "CAIRN_CASE_STORE")]
    store: String,
    /// The consortium's person-hash key file, to confirm the case's person hash.
    #[arg(long)]
    person_key: PathBuf,
    /// A fact the form does not give: NAME=VALUE (dates as YYYY-MM-DD; repeat).
    #[arg(long = "fact")]
    facts: Vec<String>,
    /// Evidence: NAME=HEX or NAME=asset:ASSET_ID@VERSION (repeat).
    #[arg(long = "evidence")]
    evidence: Vec<String>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct StepArgs {
    /// The case id.
    case_id: String,
    /// The step's name.
    #[arg(long)]
    step: String,
    /// The key file of a reviewer of the step's organisation and role.
    #[arg(long)]
    key: PathBuf,
    /// The step passed.
    #[arg(long, conflicts_with = "fail")]
    pass: bool,
    /// The step did not pass.
    #[arg(long)]
    fail: bool,
    /// An output: NAME=VALUE (repeat).
    #[arg(long = "output")]
    outputs: Vec<String>,
    /// Evidence: NAME=HEX or NAME=asset:ASSET_ID@VERSION (repeat).
    #[arg(long = "evidence")]
    evidence: Vec<String>,
    /// Why.
    #[arg(long, default_value = "")]
    reason: String,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct DecideArgs {
    /// The case id.
    case_id: String,
    /// The deciding reviewer's key file.
    #[arg(long)]
    key: PathBuf,
    /// Approve (the amount is the service's formula).
    #[arg(long, conflicts_with_all = ["reject", "return_for_supplement"])]
    approve: bool,
    /// Reject.
    #[arg(long, conflicts_with = "return_for_supplement")]
    reject: bool,
    /// Return to the applicant for supplement.
    #[arg(long = "return")]
    return_for_supplement: bool,
    /// A reason (repeat).
    #[arg(long = "reason")]
    reasons: Vec<String>,
    /// The ODS object store the signed decision is sealed into.
    #[arg(long, env = "CAIRN_CASE_STORE")]
    store: String,
    /// Where the decision's JSON and PDF go.
    #[arg(long)]
    out: PathBuf,
    /// How long the certificate an approval issues is valid (when the
    /// service names one), for example "365d".
    #[arg(long, default_value = "365d", value_parser = humantime::parse_duration)]
    certificate_valid_for: std::time::Duration,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct ReasonArgs {
    /// The case id.
    pub(super) case_id: String,
    /// The key file.
    #[arg(long)]
    pub(super) key: PathBuf,
    /// Why.
    #[arg(long, default_value = "")]
    pub(super) reason: String,
    #[command(flatten)]
    pub(super) node: NodeArgs,
}

/// Reads `NAME=PATH` documents.
fn read_documents(items: &[String]) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    pairs(items, "document")?
        .into_iter()
        .map(|(name, path)| {
            let bytes = std::fs::read(&path)
                .with_context(|| format!("cannot read document {name:?} at {path}"))?;
            Ok((name, bytes))
        })
        .collect()
}

fn read_form(path: &std::path::Path) -> anyhow::Result<(serde_json::Value, Vec<u8>)> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the form {}", path.display()))?;
    let form: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("the form {} is not JSON", path.display()))?;
    if !form.is_object() {
        bail!("the form {} is not a JSON object", path.display());
    }
    Ok((form, bytes))
}

async fn seal_all(
    store: &SealedStore,
    case_id: &str,
    documents: &[(String, Vec<u8>)],
    recipients: &[Recipient],
) -> anyhow::Result<()> {
    for (name, bytes) in documents {
        let _ = case_docs::seal_document(store, case_id, name, bytes, recipients)
            .await
            .with_context(|| format!("sealing document {name:?}"))?;
    }
    Ok(())
}

fn hashes(documents: &[(String, Vec<u8>)]) -> Vec<NamedHash> {
    documents
        .iter()
        .map(|(name, bytes)| NamedHash {
            name: name.clone(),
            hash: case_docs::document_hash(bytes),
            asset_id: String::new(),
            asset_version: 0,
        })
        .collect()
}

pub(crate) async fn apply(args: ApplyArgs) -> anyhow::Result<()> {
    let pair = KeyPair::load(&args.key)?;
    let person_key = read_person_key(&args.person_key)?;
    let (form, form_bytes) = read_form(&args.form)?;
    let mut cases = connect_as::<CasesClient<_>>(&args.node, &pair).await?;
    let (view, service) = service(&mut cases, &args.service, 0).await?;
    let problems =
        validate_form(&service.definition.form_schema, &form).map_err(|e| format_err!(e))?;
    if !problems.is_empty() && !args.submit_incomplete {
        bail!(
            "the form does not satisfy service {:?}: {} (submit anyway with --submit-incomplete)",
            args.service,
            problems.join("; ")
        );
    }
    let id_number = form.get("id_number").and_then(|v| v.as_str()).ok_or_else(|| {
        format_err!("the form has no id_number, which the person hash is made from")
    })?;
    let mut documents = vec![("form".to_owned(), form_bytes)];
    documents.extend(read_documents(&args.docs)?);
    let store = SealedStore::from_url(&args.store, &[])?;
    let action = CaseAction::Apply {
        service_id: args.service.clone(),
        service_version: service.definition.version,
        person_hash: person_hash(&person_key, id_number),
        documents: hashes(&documents),
    };
    let mut ledger = connect::<LedgerClient<_>>(&args.node).await?;
    let info = node_info(&mut ledger).await?;
    let draft = crate::cli::rpc::draft(
        &info.chain_id,
        pb::tx_payload::Body::CaseAction(case::to_pb(&action)),
    )?;
    let payload = draft.payload(&pair.signing_public_key());
    let case_id = case::case_id_of(&TxId::of_payload(&payload));
    let recipients = recipients(&view, Recipient::of(&pair))?;
    seal_all(&store, &case_id, &documents, &recipients).await?;
    let envelope = tx::seal(payload, pair.signing_key(), &[]);
    let response = submit(&mut ledger, envelope).await?;
    let docs = serde_json::json!(
        documents
            .iter()
            .zip(hashes(&documents))
            .map(|((name, _), h)| serde_json::json!({"name": name, "hash": hex::encode(h.hash)}))
            .collect::<Vec<_>>()
    );
    print_outcome(
        args.node.json,
        &response,
        serde_json::json!({ "documents": docs, "recipients": recipients.len() }),
    );
    Ok(())
}

pub(crate) async fn supply(args: SupplyArgs) -> anyhow::Result<()> {
    check_case_id(&args.case_id)?;
    let pair = KeyPair::load(&args.key)?;
    let mut cases = connect_as::<CasesClient<_>>(&args.node, &pair).await?;
    let (_, record) = case_record(&mut cases, &args.case_id).await?;
    let (view, _) = service(&mut cases, &record.service_id, record.service_version).await?;
    let mut documents = Vec::new();
    if let Some(form) = &args.form {
        documents.push(("form".to_owned(), read_form(form)?.1));
    }
    documents.extend(read_documents(&args.docs)?);
    if documents.is_empty() {
        bail!("give a --form or at least one --doc NAME=PATH");
    }
    let store = SealedStore::from_url(&args.store, &[])?;
    seal_all(&store, &args.case_id, &documents, &recipients(&view, Recipient::of(&pair))?).await?;
    let action = CaseAction::Supply {
        case_id: args.case_id.clone(),
        documents: hashes(&documents),
        note: args.note,
    };
    let response = submit_action(&args.node, &pair, &action).await?;
    print_outcome(args.node.json, &response, serde_json::json!({}));
    Ok(())
}

pub(crate) async fn check(args: CheckArgs) -> anyhow::Result<()> {
    check_case_id(&args.case_id)?;
    let pair = KeyPair::load(&args.key)?;
    let person_key = read_person_key(&args.person_key)?;
    let mut cases = connect_as::<CasesClient<_>>(&args.node, &pair).await?;
    let (_, record) = case_record(&mut cases, &args.case_id).await?;
    let (_, service) = service(&mut cases, &record.service_id, record.service_version).await?;
    let form_doc = record
        .documents
        .iter()
        .find(|d| d.name == "form")
        .ok_or_else(|| format_err!("case {} has no form", args.case_id))?;
    let store = SealedStore::from_url(&args.store, &[])?;
    let form_bytes =
        case_docs::open_document(&store, &args.case_id, "form", &form_doc.hash, &pair).await?;
    let form: serde_json::Value =
        serde_json::from_slice(&form_bytes).context("the sealed form is not JSON")?;
    let mut facts = form_facts(&service.definition, &form).map_err(|e| format_err!(e))?;
    for (name, text) in pairs(&args.facts, "fact")? {
        let spec =
            service.definition.facts.iter().find(|f| f.name == name).ok_or_else(|| {
                format_err!("service {:?} has no fact {name:?}", record.service_id)
            })?;
        let value = parse_fact(spec.kind, &text).map_err(|e| format_err!("fact {name:?}: {e}"))?;
        let _ = facts.insert(name, value);
    }
    let confirmed = form
        .get("id_number")
        .and_then(|v| v.as_str())
        .is_some_and(|id| person_hash(&person_key, id) == record.person_hash);
    let mut evidence = evidence(&args.node, &args.evidence).await?;
    evidence.insert(0, NamedHash { name: "form".into(), ..form_doc.clone() });
    let action = CaseAction::Check {
        case_id: args.case_id.clone(),
        facts: facts.into_iter().collect(),
        evidence,
        person_hash_confirmed: confirmed,
    };
    let response = submit_action(&args.node, &pair, &action).await?;
    print_outcome(
        args.node.json,
        &response,
        serde_json::json!({ "person_hash_confirmed": confirmed }),
    );
    Ok(())
}

pub(crate) async fn step(args: StepArgs) -> anyhow::Result<()> {
    check_case_id(&args.case_id)?;
    if args.pass == args.fail {
        bail!("say --pass or --fail");
    }
    let pair = KeyPair::load(&args.key)?;
    let outputs = pairs(&args.outputs, "output")?
        .into_iter()
        .map(|(name, value)| {
            let value: i64 = value
                .parse()
                .map_err(|_| format_err!("output {name:?}: {value:?} is not an integer"))?;
            Ok((name, value))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let action = CaseAction::Step {
        case_id: args.case_id.clone(),
        step: args.step,
        passed: args.pass,
        outputs,
        evidence: evidence(&args.node, &args.evidence).await?,
        reason: args.reason,
    };
    let response = submit_action(&args.node, &pair, &action).await?;
    print_outcome(args.node.json, &response, serde_json::json!({}));
    Ok(())
}

pub(crate) async fn decide(args: DecideArgs) -> anyhow::Result<()> {
    check_case_id(&args.case_id)?;
    let outcome = match (args.approve, args.reject, args.return_for_supplement) {
        (true, false, false) => Outcome::Approved,
        (false, true, false) => Outcome::Rejected,
        (false, false, true) => Outcome::Returned,
        _ => bail!("say --approve, --reject or --return"),
    };
    let pair = KeyPair::load(&args.key)?;
    let mut cases = connect_as::<CasesClient<_>>(&args.node, &pair).await?;
    let (_, record) = case_record(&mut cases, &args.case_id).await?;
    let (view, service) = service(&mut cases, &record.service_id, record.service_version).await?;
    let mut ledger = connect::<LedgerClient<_>>(&args.node).await?;
    let info = node_info(&mut ledger).await?;
    let identity = ledger
        .get_identity(pb::GetIdentityRequest { address: pair.address().to_string() })
        .await
        .map_err(crate::cli::rpc::status)?
        .into_inner();
    // The draft's clock is the decision's time, so the amount the document
    // states is the one the chaincode computes from the same inputs.
    let placeholder = TxDraft {
        body: pb::tx_payload::Body::CaseAction(pb::CaseAction::default()),
        ..crate::cli::rpc::draft(
            &info.chain_id,
            pb::tx_payload::Body::CaseAction(pb::CaseAction::default()),
        )?
    };
    let decided_at_ms = placeholder.timestamp_ms;
    let amount = if outcome == Outcome::Approved {
        let facts: BTreeMap<String, i64> = record.facts.iter().cloned().collect();
        let outputs: BTreeMap<String, i64> = record
            .current_steps()
            .flat_map(|s| s.outputs.iter().map(|(k, v)| (format!("{}.{k}", s.step), *v)))
            .collect();
        let vars = BTreeMap::from([
            ("application_date".to_owned(), (record.applied_at_ms / DAY_MS) as i64),
            ("decision_date".to_owned(), (decided_at_ms / DAY_MS) as i64),
        ]);
        let inputs = Inputs {
            facts: Some(&facts),
            outputs: Some(&outputs),
            constants: Some(&service.definition.constants),
            vars: Some(&vars),
        };
        Some(service.amount.eval_int(&inputs).map_err(|e| format_err!("the amount formula: {e}"))?)
    } else {
        None
    };
    let document = DecisionDocument {
        case_id: args.case_id.clone(),
        service_id: record.service_id.clone(),
        service_version: u32::try_from(record.service_version).unwrap_or(u32::MAX),
        outcome: match outcome {
            Outcome::Approved => decision::Outcome::Approved,
            Outcome::Rejected => decision::Outcome::Rejected,
            Outcome::Returned => decision::Outcome::Returned,
        },
        amount_minor: amount,
        currency: amount.map(|_| service.definition.currency.clone()),
        reasons: args.reasons.clone(),
        decided_by_organisation: identity.organisation.clone(),
        decided_by_role: format!("reviewer:{}", identity.reviewer_role),
        decided_by_address: pair.address().to_string(),
        decided_at_ms,
        evidence: record.documents.iter().map(|d| hex::encode(d.hash)).collect(),
        appeal: record.state == anchor_chaincode::case::CaseState::Appealed,
    };
    let signed = SignedDecision::sign(document, pair.signing_key())?;
    let document_hash = signed.verify()?;
    let json = signed.to_json();
    let pdf = decision::render_pdf(&signed)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let json_path = args.out.join(format!("{}-decision.json", args.case_id));
    let pdf_path = args.out.join(format!("{}-decision.pdf", args.case_id));
    std::fs::write(&json_path, &json)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    std::fs::write(&pdf_path, &pdf)
        .with_context(|| format!("cannot write {}", pdf_path.display()))?;
    let store = SealedStore::from_url(&args.store, &[])?;
    let applicant_key = ledger
        .get_identity(pb::GetIdentityRequest { address: record.applicant.to_string() })
        .await
        .map_err(crate::cli::rpc::status)?
        .into_inner();
    let applicant = Recipient {
        address: record.applicant,
        encryption_public_key: <[u8; 32]>::try_from(applicant_key.encryption_public_key.as_slice())
            .map_err(|_| format_err!("the applicant has no 32-byte encryption key"))?,
    };
    let certificate = match (&service.definition.outcome, outcome) {
        (Some(produces), Outcome::Approved) => {
            let terms = CertificateTerms {
                certificate_type: &produces.certificate_type,
                title: &produces.title,
                holder: record.applicant,
                holder_encryption_key: applicant.encryption_public_key,
                valid_for_ms: u64::try_from(args.certificate_valid_for.as_millis())
                    .unwrap_or(u64::MAX),
            };
            Some(Box::new(decision::approval_certificate(
                &pair,
                &signed.document,
                &document_hash,
                &terms,
            )?))
        }
        _ => None,
    };
    let certificate_id = certificate
        .as_ref()
        .map(|c| hex::encode(anchor_chaincode::cert::certificate_id(&c.statement)));
    let name = format!("decision-{}", record.decisions.len() + 1);
    let sealed = case_docs::seal_document(
        &store,
        &args.case_id,
        &name,
        json.as_bytes(),
        &recipients(&view, applicant)?,
    )
    .await?;
    let action = CaseAction::Decide {
        case_id: args.case_id.clone(),
        outcome,
        reasons: args.reasons,
        // The sealed copy's content hash, so that recipients can fetch it.
        evidence: vec![NamedHash {
            name,
            hash: sealed.content_hash,
            asset_id: String::new(),
            asset_version: 0,
        }],
        decision_document_hash: if outcome == Outcome::Returned { [0; 32] } else { document_hash },
        certificate,
    };
    let body = pb::tx_payload::Body::CaseAction(case::to_pb(&action));
    let draft = TxDraft { body, ..placeholder };
    let envelope = tx::seal(draft.payload(&pair.signing_public_key()), pair.signing_key(), &[]);
    let response = submit(&mut ledger, envelope).await?;
    print_outcome(
        args.node.json,
        &response,
        serde_json::json!({
            "outcome": format!("{outcome:?}").to_lowercase(),
            "amount": amount,
            "document_hash": hex::encode(document_hash),
            "json": json_path.display().to_string(),
            "pdf": pdf_path.display().to_string(),
            "certificate_id": certificate_id,
        }),
    );
    Ok(())
}

pub(crate) async fn simple(args: ReasonArgs, action: CaseAction) -> anyhow::Result<()> {
    check_case_id(&args.case_id)?;
    let pair = KeyPair::load(&args.key)?;
    let response = submit_action(&args.node, &pair, &action).await?;
    print_outcome(args.node.json, &response, serde_json::json!({}));
    Ok(())
}
