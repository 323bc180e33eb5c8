//! `cairn case audit`, `verify-decision` and `fetch`: the checks anyone
//! holding the data can run without trusting the node's word.

use std::path::PathBuf;

use access_control::keys::KeyPair;
use anchor_chaincode::ledger::CaseRecord;
use anyhow::{Context, bail, format_err};
use asset_registry::cases::{audit as recompute, form_facts};
use asset_registry::decision::SignedDecision;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::cases_client::CasesClient;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::Args;
use ods_frontend::case_docs;
use ods_frontend::store::SealedStore;

use super::{case_record, check_case_id, service};
use crate::cli::rpc::{connect, connect_as, status};
use crate::cli::{NodeArgs, print};

#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    /// The case id.
    case_id: String,
    /// A key file of the applicant, a participant or an auditor.
    #[arg(long)]
    key: PathBuf,
    /// The ODS object store: with it, a participant also recomputes the facts from the sealed form.
    #[arg(long, env = "CAIRN_CASE_STORE")]
    store: Option<String>,
    /// Audit this exported case record (JSON, as `cairn case show --json` prints) instead of the node's.
    #[arg(long)]
    case_file: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct VerifyDecisionArgs {
    /// The decision file (`CASE-decision.json`).
    file: PathBuf,
    /// With a key file: also check the hash the ledger anchored and the signer's registered identity.
    #[arg(long)]
    key: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct FetchArgs {
    /// The case id.
    case_id: String,
    /// The document's name.
    #[arg(long)]
    doc: String,
    /// A recipient's key file.
    #[arg(long)]
    key: PathBuf,
    /// The ODS object store.
    #[arg(long, env = "CAIRN_CASE_STORE")]
    store: String,
    /// Where the document goes.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
}

pub(crate) async fn audit(args: AuditArgs) -> anyhow::Result<()> {
    check_case_id(&args.case_id)?;
    let pair = KeyPair::load(&args.key)?;
    let mut cases = connect_as::<CasesClient<_>>(&args.node, &pair).await?;
    let (_, on_ledger) = case_record(&mut cases, &args.case_id).await?;
    let record: CaseRecord = match &args.case_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a case record", path.display()))?
        }
        None => on_ledger.clone(),
    };
    if record.case_id != args.case_id {
        bail!("the case file is case {}, not {}", record.case_id, args.case_id);
    }
    let (_, service) = service(&mut cases, &record.service_id, record.service_version).await?;
    let from_form = match &args.store {
        Some(store) => {
            let form = record
                .documents
                .iter()
                .find(|d| d.name == "form")
                .ok_or_else(|| format_err!("the case has no form"))?;
            let store = SealedStore::from_url(store, &[])?;
            let bytes =
                case_docs::open_document(&store, &record.case_id, "form", &form.hash, &pair)
                    .await?;
            let form: serde_json::Value =
                serde_json::from_slice(&bytes).context("the sealed form is not JSON")?;
            Some(form_facts(&service.definition, &form).map_err(|e| format_err!(e))?)
        }
        None => None,
    };
    let mut findings = recompute(&service, &record, from_form.as_ref());
    if args.case_file.is_some() {
        // An exported record that differs from the ledger's is flagged too.
        for (idx, verdict) in record.verdicts.iter().enumerate() {
            if on_ledger.verdicts.get(idx) != Some(verdict) {
                findings.push(asset_registry::cases::Finding {
                    subject: format!("rule {} (against the ledger)", verdict.rule),
                    recorded: verdict.passed.to_string(),
                    recomputed: on_ledger
                        .verdicts
                        .get(idx)
                        .map_or("missing".into(), |v| v.passed.to_string()),
                });
            }
        }
    }
    let value = serde_json::json!({
        "case_id": record.case_id,
        "rules": service.definition.rules.len(),
        "facts_from_form": from_form.as_ref().map(|f| f.len()),
        "findings": findings,
        "ok": findings.is_empty(),
    });
    print(args.node.json, &value, || {
        let mut text = format!(
            "case {}: {} rules recomputed{}",
            record.case_id,
            service.definition.rules.len(),
            from_form
                .as_ref()
                .map(|f| format!(", {} facts recomputed from the sealed form", f.len()))
                .unwrap_or_default()
        );
        for finding in &findings {
            text.push_str(&format!(
                "\nDIFFERS  {}: recorded {}, recomputed {}",
                finding.subject, finding.recorded, finding.recomputed
            ));
        }
        if findings.is_empty() {
            text.push_str("\nevery verdict recomputes");
        }
        text
    });
    if !findings.is_empty() {
        bail!("{} verdicts or facts of case {} do not recompute", findings.len(), record.case_id);
    }
    Ok(())
}

pub(crate) async fn verify_decision(args: VerifyDecisionArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let signed = SignedDecision::from_json(&text)?;
    let hash = signed.verify()?;
    let mut anchored = None;
    if let Some(key) = &args.key {
        let pair = KeyPair::load(key)?;
        let mut cases = connect_as::<CasesClient<_>>(&args.node, &pair).await?;
        let (_, record) = case_record(&mut cases, &signed.document.case_id).await?;
        let decision =
            record.decisions.iter().find(|d| d.document_hash == hash).ok_or_else(|| {
                format_err!(
                    "case {} anchors no decision with hash {}",
                    record.case_id,
                    hex::encode(hash)
                )
            })?;
        let mut ledger = connect::<LedgerClient<_>>(&args.node).await?;
        let identity = ledger
            .get_identity(pb::GetIdentityRequest { address: decision.by.address.to_string() })
            .await
            .map_err(status)?
            .into_inner();
        let key = <[u8; 32]>::try_from(identity.signing_public_key.as_slice())
            .map_err(|_| format_err!("bad key"))?;
        let _ = signed.verify_signed_by(&key)?;
        anchored = Some(decision.by.block_number);
    }
    let value = serde_json::json!({
        "case_id": signed.document.case_id,
        "outcome": signed.document.outcome.as_str(),
        "document_hash": hex::encode(hash),
        "signer": hex::encode(signed.signer_public_key),
        "anchored_in_block": anchored,
        "valid": true,
    });
    print(args.node.json, &value, || {
        format!(
            "decision of case {} ({}) is signed and intact; hash {}{}",
            signed.document.case_id,
            signed.document.outcome.as_str(),
            hex::encode(hash),
            anchored
                .map(|b| format!("; anchored in block {b} by the signer's registered identity"))
                .unwrap_or_default()
        )
    });
    Ok(())
}

pub(crate) async fn fetch(args: FetchArgs) -> anyhow::Result<()> {
    check_case_id(&args.case_id)?;
    let pair = KeyPair::load(&args.key)?;
    let mut cases = connect_as::<CasesClient<_>>(&args.node, &pair).await?;
    let (_, record) = case_record(&mut cases, &args.case_id).await?;
    let hash = if let Some(document) = record.documents.iter().find(|d| d.name == args.doc) {
        document.hash
    } else if let Some(sealed) =
        record.decisions.iter().flat_map(|d| &d.evidence).find(|e| e.name == args.doc)
    {
        sealed.hash
    } else {
        bail!("case {} has no document {:?}", args.case_id, args.doc);
    };
    let store = SealedStore::from_url(&args.store, &[])?;
    let bytes = case_docs::open_document(&store, &args.case_id, &args.doc, &hash, &pair).await?;
    std::fs::write(&args.out, &bytes)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let value = serde_json::json!({ "case_id": args.case_id, "document": args.doc, "bytes": bytes.len(), "hash": hex::encode(hash) });
    print(args.node.json, &value, || {
        format!(
            "document {:?} of case {}: {} bytes, hash verified",
            args.doc,
            args.case_id,
            bytes.len()
        )
    });
    Ok(())
}
