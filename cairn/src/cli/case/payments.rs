//! `cairn case payments`: the month's ISO 20022 files for the approved cases
//! whose payments the caller's organisation and reviewer role make, and the
//! executed payments recorded back on each case.
//!
//! Bank details come from each case's sealed form, which the paying reviewer
//! opens as one of the case's participants; they go into the file and
//! nowhere else (never the ledger, whose payment record holds the amount,
//! the end-to-end id and the file's hash).

use std::collections::BTreeMap;
use std::path::PathBuf;

use access_control::keys::KeyPair;
use anchor_chaincode::case::{CaseAction, CaseState};
use anchor_chaincode::service::{Direction, Service};
use anyhow::{Context, bail, format_err};
use asset_registry::payments::{
    self, Batch, Counterparty, Date, DateTime, Instruction, Mandate, Party, Period,
};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::cases_client::CasesClient;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::Args;
use ods_frontend::case_docs;
use ods_frontend::store::SealedStore;
use sha2::{Digest, Sha256};

use super::{case_record, service, submit_action};
use crate::cli::rpc::{connect, connect_as, status};
use crate::cli::{NodeArgs, print};
use crate::clock::now_ms;

#[derive(Args, Debug)]
pub(crate) struct PaymentsArgs {
    /// The paying reviewer's key file (the payment role a service names).
    #[arg(long)]
    key: PathBuf,
    /// The month, YYYY-MM.
    #[arg(long)]
    month: String,
    /// The ODS object store holding the cases' sealed forms.
    #[arg(long, env = "CAIRN_CASE_STORE")]
    store: String,
    /// Where the files go.
    #[arg(long)]
    out: PathBuf,
    /// The paying or collecting agency's account name.
    #[arg(long)]
    party_name: String,
    /// Its IBAN.
    #[arg(long)]
    party_iban: String,
    /// Its BIC.
    #[arg(long)]
    party_bic: Option<String>,
    /// Its SEPA creditor identifier (for direct debits).
    #[arg(long)]
    creditor_id: Option<String>,
    /// Record each payment on its case (once the bank has executed the file).
    #[arg(long)]
    record: bool,
    #[command(flatten)]
    node: NodeArgs,
}

fn counterparty(
    form: &serde_json::Value,
    mandate: Option<Mandate>,
) -> anyhow::Result<Counterparty> {
    let account =
        form.get("bank_account").ok_or_else(|| format_err!("the form has no bank_account"))?;
    let text = |field: &str| account.get(field).and_then(|v| v.as_str()).map(str::to_owned);
    Ok(Counterparty {
        name: text("holder").ok_or_else(|| format_err!("the bank account has no holder"))?,
        iban: text("iban").ok_or_else(|| format_err!("the bank account has no iban"))?,
        bic: text("bic"),
        mandate,
    })
}

pub(crate) async fn run(args: PaymentsArgs) -> anyhow::Result<()> {
    let period: Period = args.month.parse().map_err(|e| format_err!("--month: {e}"))?;
    let pair = KeyPair::load(&args.key)?;
    let mut ledger = connect::<LedgerClient<_>>(&args.node).await?;
    let me = ledger
        .get_identity(pb::GetIdentityRequest { address: pair.address().to_string() })
        .await
        .map_err(status)?
        .into_inner();
    let mut cases = connect_as::<CasesClient<_>>(&args.node, &pair).await?;
    let listed = cases
        .list_cases(pb::ListCasesRequest { queue: true, ..Default::default() })
        .await
        .map_err(status)?
        .into_inner()
        .cases;
    let store = SealedStore::from_url(&args.store, &[])?;
    let mut services: BTreeMap<(String, u64), Service> = BTreeMap::new();
    let mut by_direction: BTreeMap<Direction, Vec<Instruction>> = BTreeMap::new();
    for view in listed {
        let (_, record) = case_record(&mut cases, &view.case_id).await?;
        if !matches!(record.state, CaseState::Approved | CaseState::Paid) {
            continue;
        }
        let key = (record.service_id.clone(), record.service_version);
        if !services.contains_key(&key) {
            let (_, parsed) =
                service(&mut cases, &record.service_id, record.service_version).await?;
            let _ = services.insert(key.clone(), parsed);
        }
        let Some(service) = services.get(&key) else { continue };
        let Some(spec) = &service.definition.payment else { continue };
        if spec.organisation != me.organisation || spec.role != me.reviewer_role {
            continue;
        }
        let paid_this_month = record.payments.iter().any(|p| p.period == period.to_string());
        let used_up = spec.months > 0 && record.payments.len() >= spec.months as usize;
        let Some(amount) = record.last_decision().and_then(|d| d.amount) else { continue };
        if paid_this_month || used_up || amount <= 0 {
            continue;
        }
        let form = record
            .documents
            .iter()
            .find(|d| d.name == "form")
            .ok_or_else(|| format_err!("case {} has no form", record.case_id))?;
        let bytes =
            case_docs::open_document(&store, &record.case_id, "form", &form.hash, &pair).await?;
        let form: serde_json::Value =
            serde_json::from_slice(&bytes).context("a sealed form is not JSON")?;
        let direction = match spec.direction {
            Direction::Credit => payments::Direction::Credit,
            Direction::Debit => payments::Direction::Debit,
        };
        let mandate = (spec.direction == Direction::Debit)
            .then(|| -> anyhow::Result<Mandate> {
                let approved_ms =
                    record.last_decision().map_or(record.applied_at_ms, |d| d.by.at_ms);
                Ok(Mandate {
                    id: format!("M-{}", &record.case_id[2..26]),
                    signed_on: Date::from_unix_millis(approved_ms)?,
                })
            })
            .transpose()?;
        let counterparty =
            counterparty(&form, mandate).with_context(|| format!("case {}", record.case_id))?;
        let mut instruction =
            Instruction::new(&record.case_id, period, direction, amount as u64, &counterparty)
                .with_context(|| format!("case {}", record.case_id))?;
        instruction.currency = service.definition.currency.clone();
        by_direction.entry(spec.direction).or_default().push(instruction);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let party = Party {
        name: args.party_name,
        iban: args.party_iban,
        bic: args.party_bic,
        creditor_id: args.creditor_id,
    };
    let now = now_ms();
    let mut files = Vec::new();
    let mut recorded = 0;
    let mut n_instructions = 0;
    for (direction, instructions) in by_direction {
        n_instructions += instructions.len();
        let batch = Batch {
            message_id: format!(
                "CAIRN-{}-{}-{}",
                period,
                if direction == Direction::Credit { "CT" } else { "DD" },
                now % 1_000_000_000
            ),
            created_at: DateTime::from_unix_millis(now)?,
            requested_date: Date::from_unix_millis(now)?,
            party: party.clone(),
            instructions,
        };
        let (xml, name) = match direction {
            Direction::Credit => (payments::pain_001(&batch)?, format!("pain.001-{period}.xml")),
            Direction::Debit => (payments::pain_008(&batch)?, format!("pain.008-{period}.xml")),
        };
        let path = args.out.join(&name);
        std::fs::write(&path, &xml).with_context(|| format!("cannot write {}", path.display()))?;
        let file_hash: [u8; 32] = Sha256::digest(xml.as_bytes()).into();
        if args.record {
            for instruction in &batch.instructions {
                let action = CaseAction::Pay {
                    case_id: instruction.case_id.clone(),
                    period: period.to_string(),
                    direction,
                    amount: instruction.amount_minor,
                    reference: instruction.end_to_end_id.clone(),
                    file_hash,
                };
                let _ = submit_action(&args.node, &pair, &action).await?;
                recorded += 1;
            }
        }
        files.push(serde_json::json!({ "path": path.display().to_string(), "sha256": hex::encode(file_hash), "instructions": batch.instructions.len() }));
    }
    if n_instructions == 0 && !args.record {
        eprintln!(
            "no approved case is due a payment in {period} for {} of {}",
            me.reviewer_role, me.organisation
        );
    }
    if args.record && recorded != n_instructions {
        bail!("recorded {recorded} of {n_instructions} payments");
    }
    let value =
        serde_json::json!({ "files": files, "instructions": n_instructions, "recorded": recorded });
    print(args.node.json, &value, || {
        let mut text = format!(
            "{n_instructions} payment instructions for {period}; {recorded} recorded on their cases"
        );
        for file in &files {
            text.push_str(&format!("\n{}", crate::cli::plain(&file["path"])));
        }
        text
    });
    Ok(())
}
