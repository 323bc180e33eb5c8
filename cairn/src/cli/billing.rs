//! `cairn billing …`: verifier accounts (opened, topped up and re-planned by
//! the hub operator), usage, monthly statements as text, CSV or JSON, and the
//! offline check of a statement carrying its proofs.
//!
//! A statement with `--proofs` is a JSON document a verifier can check with
//! no node and no trust in the hub (`cairn billing check`): the signed ledger
//! checkpoint, for each line the access event exactly as logged with its
//! inclusion in the anchored access-event log and the anchor's inclusion in
//! the ledger, and the inclusion of every plan transaction. The check
//! recomputes every line's charge from the logged events and the proved
//! plans, so the verifier knows it is billed for exactly what was recorded,
//! and checks the node's signed note of the statement (its line count, total
//! and the digest of its lines), so no line can be removed, added or
//! reordered after the node served it.

use std::path::PathBuf;

use access_control::keys::KeyPair;
use anchor_chaincode::ValidationCode;
use anchor_chaincode::billing::{Payment, Plan};
use anchor_chaincode::checkpoint;
use anchor_chaincode::ledger::parse_leaf;
use anchor_chaincode::merkle;
use anchor_chaincode::tx::{Transaction, TxBody, plan_from_pb, plan_to_pb};
use anyhow::{Context, bail, format_err};
use asset_registry::audit::AccessEvent;
use asset_registry::billing::{Charge, Line, Month, TariffPeriod, Units, billable};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::billing_client::BillingClient;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use crate::cli::NodeArgs;
use crate::cli::plain;
use crate::cli::print;
use crate::cli::proof::{AuditFile, Check};
use crate::cli::rpc::{connect, connect_as, draft, node_info, status, submit_and_print};
use crate::rpc::billing::{DigestLine, StatementNote, lines_digest};
use cairn_schemas::v1::ledger_client::LedgerClient;

/// The `kind` of a statement file.
const STATEMENT_KIND: &str = "cairn-statement-v1";

#[derive(Subcommand, Debug)]
pub(crate) enum BillingCommand {
    /// Open, top up, re-plan and show verifier accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// Metered usage by month, with charges, and the access-event counters.
    Usage {
        /// The account holder (or any identity: usage is metered for all).
        #[arg(long)]
        verifier: String,
        /// Only months that end after this: a duration such as 30d, or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Your key file (the holder's, an auditor's or the hub operator's).
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// One month's statement: a line per metered access event.
    Statement {
        /// The account holder.
        #[arg(long)]
        verifier: String,
        /// The month, YYYY-MM (UTC).
        #[arg(long)]
        month: String,
        /// Print CSV (one row per line, then the total).
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// Carry the proofs of every line and plan, for `cairn billing check`.
        #[arg(long)]
        proofs: bool,
        /// Write the statement (JSON) to this file as well.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Your key file (the holder's, an auditor's or the hub operator's).
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Check a statement with proofs offline: checkpoint, events, anchors, plans, charges.
    Check {
        /// The statement file (from `cairn billing statement --proofs --out`).
        file: PathBuf,
        /// Trusted checkpoint verifier keys, one per line.
        #[arg(long)]
        trusted_keys: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A plan on the command line.
#[derive(Args, Debug, Clone)]
pub(crate) struct PlanArgs {
    /// Minor units per query, after the month's free queries.
    #[arg(long)]
    price_per_query: Option<u64>,
    /// Minor units per MiB served, after the month's free MiB.
    #[arg(long)]
    price_per_mib: Option<u64>,
    /// Free queries per calendar month.
    #[arg(long)]
    free_queries: Option<u64>,
    /// Free MiB per calendar month.
    #[arg(long)]
    free_mib: Option<u64>,
    /// prepaid or postpaid.
    #[arg(long)]
    payment: Option<Payment>,
    /// Most billable requests per second on each node (0: no limit).
    #[arg(long)]
    rate_limit: Option<u32>,
}

impl PlanArgs {
    /// The plan, each flag not given taken from `base`.
    fn over(&self, base: &Plan) -> Plan {
        Plan {
            price_per_query: self.price_per_query.unwrap_or(base.price_per_query),
            price_per_mib: self.price_per_mib.unwrap_or(base.price_per_mib),
            free_queries_per_month: self.free_queries.unwrap_or(base.free_queries_per_month),
            free_mib_per_month: self.free_mib.unwrap_or(base.free_mib_per_month),
            payment: self.payment.unwrap_or(base.payment),
            rate_limit_per_second: self.rate_limit.unwrap_or(base.rate_limit_per_second),
        }
    }
}

/// A new account's plan when a flag is not given: free, prepaid, unlimited.
const DEFAULT_PLAN: Plan = Plan {
    price_per_query: 0,
    price_per_mib: 0,
    free_queries_per_month: 0,
    free_mib_per_month: 0,
    payment: Payment::Prepaid,
    rate_limit_per_second: 0,
};

#[derive(Subcommand, Debug)]
pub(crate) enum AccountCommand {
    /// Open an account for a registered identity (hub operator).
    Open {
        /// The holder's address.
        #[arg(long)]
        holder: String,
        /// ISO 4217 currency code; money is in its minor units.
        #[arg(long, default_value = "EUR")]
        currency: String,
        #[command(flatten)]
        plan: PlanArgs,
        /// The operator's key file (a member of the hub operator's organisation).
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Credit an account: a prepayment or a payment (hub operator).
    TopUp {
        /// The holder's address.
        #[arg(long)]
        holder: String,
        /// Minor units.
        #[arg(long)]
        amount: u64,
        /// Its currency; must be the account's.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// The operator's reference (an invoice or payment number).
        #[arg(long, default_value = "")]
        reference: String,
        /// The operator's key file.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Change an account's plan from the next block on (hub operator); flags not given keep their value.
    Plan {
        /// The holder's address.
        #[arg(long)]
        holder: String,
        #[command(flatten)]
        plan: PlanArgs,
        /// The operator's key file.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// An account's plan, top-ups, charges and balance.
    Show {
        /// The holder's address.
        #[arg(long)]
        holder: String,
        /// Your key file (the holder's, an auditor's or the hub operator's).
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        node: NodeArgs,
    },
}

async fn submit_body(
    node: &NodeArgs,
    key: &KeyPair,
    body: pb::tx_payload::Body,
) -> anyhow::Result<()> {
    let mut ledger = connect::<LedgerClient<_>>(node).await?;
    let info = node_info(&mut ledger).await?;
    let draft = draft(&info.chain_id, body)?;
    let envelope = anchor_chaincode::tx::seal(
        draft.payload(&key.signing_public_key()),
        key.signing_key(),
        &[],
    );
    let _ = submit_and_print(&mut ledger, envelope, node.json).await?;
    Ok(())
}

async fn get_account(node: &NodeArgs, key: &KeyPair, holder: &str) -> anyhow::Result<pb::Account> {
    let mut client = connect_as::<BillingClient<_>>(node, key).await?;
    let request = pb::GetAccountRequest { holder: holder.to_string() };
    Ok(client.get_account(request).await.map_err(status)?.into_inner())
}

fn plan_json(plan: Option<&pb::Plan>) -> serde_json::Value {
    match plan.copied().map(|p| plan_from_pb(Some(p))) {
        Some(Ok(plan)) => serde_json::to_value(plan).unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

fn plan_text(plan: &serde_json::Value) -> String {
    format!(
        "{} per query after {} free, {} per MiB after {} free MiB, {}, {}",
        plain(&plan["price_per_query"]),
        plain(&plan["free_queries_per_month"]),
        plain(&plan["price_per_mib"]),
        plain(&plan["free_mib_per_month"]),
        plain(&plan["payment"]),
        match plan["rate_limit_per_second"].as_u64() {
            Some(0) | None => "no rate limit".to_string(),
            Some(rate) => format!("at most {rate} requests per second"),
        }
    )
}

pub(crate) async fn run(command: BillingCommand) -> anyhow::Result<()> {
    match command {
        BillingCommand::Account { command } => account(command).await,
        BillingCommand::Usage { verifier, since, key, node } => {
            let key = KeyPair::load(&key)?;
            let since_ms = since.as_deref().map(crate::cli::access::parse_since).transpose()?;
            let mut client = connect_as::<BillingClient<_>>(&node, &key).await?;
            let request =
                pb::GetUsageRequest { holder: verifier.clone(), since_ms: since_ms.unwrap_or(0) };
            let usage = client.get_usage(request).await.map_err(status)?.into_inner();
            let view = serde_json::json!({
                "holder": usage.holder,
                "currency": usage.currency,
                "source": usage.source,
                "months": usage.months.iter().map(|m| serde_json::json!({
                    "month": m.month, "events": m.events, "queries": m.queries,
                    "bytes": m.bytes, "charged": m.charged,
                })).collect::<Vec<_>>(),
                "counters": usage.counters.iter().map(|c| serde_json::json!({
                    "action": c.action,
                    "decision": if c.decision == i32::from(pb::Decision::Allowed) { "allowed" } else { "denied" },
                    "events": c.events, "bytes": c.bytes,
                })).collect::<Vec<_>>(),
            });
            print(node.json, &view, || {
                let mut text = format!("holder   {}\n", usage.holder);
                if usage.currency.is_empty() {
                    text.push_str("account  none: metered, not charged\n");
                }
                for m in &usage.months {
                    text.push_str(&format!(
                        "{}  {:>8} queries  {:>14} bytes  charged {} {}\n",
                        m.month, m.queries, m.bytes, m.charged, usage.currency
                    ));
                }
                for c in view["counters"].as_array().into_iter().flatten() {
                    text.push_str(&format!(
                        "         {:20} {:7} {:>8} events {:>14} bytes\n",
                        plain(&c["action"]),
                        plain(&c["decision"]),
                        plain(&c["events"]),
                        plain(&c["bytes"])
                    ));
                }
                text.trim_end().to_string()
            });
            Ok(())
        }
        BillingCommand::Statement { verifier, month, csv, proofs, out, key, node } => {
            let key = KeyPair::load(&key)?;
            let month: Month = month.parse()?;
            let mut client = connect_as::<BillingClient<_>>(&node, &key).await?;
            let request = pb::GetStatementRequest {
                holder: verifier.clone(),
                month: month.to_string(),
                proofs,
            };
            let statement = client.get_statement(request).await.map_err(status)?.into_inner();
            let file = StatementFile::from_pb(&statement)?;
            if let Some(path) = &out {
                crate::cli::proof::write_json(path, &file)?;
            }
            if csv {
                print!("{}", file.csv());
            } else {
                let view = serde_json::to_value(&file)?;
                print(node.json, &view, || file.text());
            }
            Ok(())
        }
        BillingCommand::Check { file, trusted_keys, json } => {
            let trusted = checkpoint::parse_trusted_keys(&crate::cli::proof::read(&trusted_keys)?)
                .with_context(|| {
                    format!("{} is not a trusted-keys file", trusted_keys.display())
                })?;
            let text = crate::cli::proof::read(&file)?;
            let statement: StatementFile = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a statement file", file.display()))?;
            let checks = check_statement(&statement, &trusted);
            let valid = checks.iter().all(|c| c.ok);
            let view = serde_json::json!({
                "valid": valid,
                "holder": statement.holder,
                "month": statement.month,
                "total": statement.total,
                "currency": statement.currency,
                "checks": checks.iter().map(|c| serde_json::json!({"name": c.name, "ok": c.ok, "detail": c.detail})).collect::<Vec<_>>(),
            });
            print(json, &view, || {
                let mut text = String::new();
                for check in &checks {
                    text.push_str(&format!(
                        "{:4}  {:22} {}\n",
                        if check.ok { "pass" } else { "FAIL" },
                        check.name,
                        check.detail
                    ));
                }
                text.trim_end().to_string()
            });
            if let Some(failed) = checks.iter().find(|c| !c.ok) {
                bail!("the statement does not verify: {}: {}", failed.name, failed.detail);
            }
            Ok(())
        }
    }
}

async fn account(command: AccountCommand) -> anyhow::Result<()> {
    match command {
        AccountCommand::Open { holder, currency, plan, key, node } => {
            let key = KeyPair::load(&key)?;
            let body = pb::tx_payload::Body::OpenAccount(pb::OpenAccount {
                holder,
                currency,
                plan: Some(plan_to_pb(&plan.over(&DEFAULT_PLAN))),
            });
            submit_body(&node, &key, body).await
        }
        AccountCommand::TopUp { holder, amount, currency, reference, key, node } => {
            let key = KeyPair::load(&key)?;
            let body =
                pb::tx_payload::Body::TopUp(pb::TopUp { holder, currency, amount, reference });
            submit_body(&node, &key, body).await
        }
        AccountCommand::Plan { holder, plan, key, node } => {
            let key = KeyPair::load(&key)?;
            let account = get_account(&node, &key, &holder).await?;
            let current = plan_from_pb(account.plan).map_err(|e| format_err!(e))?;
            let body = pb::tx_payload::Body::ChangePlan(pb::ChangePlan {
                holder,
                plan: Some(plan_to_pb(&plan.over(&current))),
            });
            submit_body(&node, &key, body).await
        }
        AccountCommand::Show { holder, key, node } => {
            let key = KeyPair::load(&key)?;
            let account = get_account(&node, &key, &holder).await?;
            let view = serde_json::json!({
                "holder": account.holder,
                "currency": account.currency,
                "plan": plan_json(account.plan.as_ref()),
                "plans": account.plans.iter().map(|p| serde_json::json!({
                    "from_height": p.from_height, "tx_id": p.tx_id, "plan": plan_json(p.plan.as_ref()),
                })).collect::<Vec<_>>(),
                "top_ups": account.top_ups.iter().map(|t| serde_json::json!({
                    "tx_id": t.tx_id, "block": t.block_number, "amount": t.amount,
                    "reference": t.reference, "timestamp_ms": t.timestamp_ms,
                })).collect::<Vec<_>>(),
                "credited": account.credited,
                "charged": account.charged,
                "pending": account.pending,
                "balance": account.balance,
                "opened_in_block": account.opened_in_block,
                "source": account.source,
            });
            print(node.json, &view, || {
                format!(
                    "holder   {}\nopened   block {}\nplan     {}\ncredited {} {cur}\ncharged  {} {cur}\npending  {} {cur}\nbalance  {} {cur}",
                    account.holder,
                    account.opened_in_block,
                    plan_text(&view["plan"]),
                    account.credited,
                    account.charged,
                    account.pending,
                    account.balance,
                    cur = account.currency
                )
            });
            Ok(())
        }
    }
}

/// One plan of a statement, with its proof when the statement carries proofs.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct PlanFile {
    from_height: u64,
    tx_id: String,
    plan: Plan,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proof: Option<TxProofFile>,
}

/// A transaction's inclusion in the ledger at the statement's checkpoint.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct TxProofFile {
    leaf_index: u64,
    tree_size: u64,
    /// The ledger leaf (base64): block, index, validation code, tx id, envelope.
    leaf: String,
    hashes: Vec<String>,
}

/// One line of a statement.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct LineFile {
    number: u64,
    event_id: String,
    time_ms: u64,
    action: String,
    resource: String,
    queries: u64,
    bytes: u64,
    query_amount: u64,
    traffic_amount: u64,
    amount: u64,
    ledger_height: u64,
    plan_from_height: u64,
    note: String,
    node: String,
    leaf_index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    proof: Option<AuditFile>,
}

/// A statement as printed with `--json`, written with `--out` and checked by `cairn billing check`.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct StatementFile {
    kind: String,
    holder: String,
    currency: String,
    month: String,
    plans: Vec<PlanFile>,
    lines: Vec<LineFile>,
    total: u64,
    queries: u64,
    bytes: u64,
    top_ups: Vec<serde_json::Value>,
    source: String,
    /// The signed ledger checkpoint every proof is against (with `--proofs`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    checkpoint: String,
    /// The node's signed note of the statement (see [`StatementNote`]):
    /// without it nothing says the lines are all of the month's.
    #[serde(default)]
    signed_statement: String,
}

fn audit_file(proof: &pb::ProveAccessEventResponse) -> anyhow::Result<(AuditFile, String)> {
    let event_proof =
        proof.event_proof.as_ref().ok_or_else(|| format_err!("the node sent no event proof"))?;
    let anchor =
        proof.anchor.as_ref().ok_or_else(|| format_err!("the node sent no anchor proof"))?;
    let anchor_proof =
        anchor.proof.as_ref().ok_or_else(|| format_err!("the node sent no anchor proof"))?;
    let checkpoint = anchor.checkpoint.as_ref().map(|c| c.signed_note.clone()).unwrap_or_default();
    Ok((
        AuditFile {
            kind: crate::cli::proof::AUDIT_KIND.into(),
            event: BASE64.encode(&proof.event),
            event_index: event_proof.leaf_index,
            event_tree_size: event_proof.tree_size,
            event_hashes: event_proof.hashes.iter().map(hex::encode).collect(),
            anchor_tx_id: anchor.tx_id.clone(),
            anchor_leaf_index: anchor_proof.leaf_index,
            anchor_tree_size: anchor_proof.tree_size,
            anchor_leaf: BASE64.encode(&anchor_proof.leaf),
            anchor_hashes: anchor_proof.hashes.iter().map(hex::encode).collect(),
            checkpoint: checkpoint.clone(),
        },
        checkpoint,
    ))
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

impl StatementFile {
    fn from_pb(statement: &pb::Statement) -> anyhow::Result<StatementFile> {
        let mut checkpoint = String::new();
        let mut lines = Vec::with_capacity(statement.lines.len());
        for line in &statement.lines {
            let proof = match &line.proof {
                None => None,
                Some(proof) => {
                    let (file, note) = audit_file(proof)?;
                    checkpoint = note;
                    Some(file)
                }
            };
            lines.push(LineFile {
                number: line.number,
                event_id: line.event_id.clone(),
                time_ms: line.time_ms,
                action: line.action.clone(),
                resource: line.resource.clone(),
                queries: line.queries,
                bytes: line.bytes,
                query_amount: line.query_amount,
                traffic_amount: line.traffic_amount,
                amount: line.amount,
                ledger_height: line.ledger_height,
                plan_from_height: line.plan_from_height,
                note: line.note.clone(),
                node: line.node.clone(),
                leaf_index: line.leaf_index,
                proof,
            });
        }
        let mut plans = Vec::with_capacity(statement.plans.len());
        for (idx, period) in statement.plans.iter().enumerate() {
            let proof = match statement.plan_proofs.get(idx) {
                None => None,
                Some(response) => {
                    let proof = response
                        .proof
                        .as_ref()
                        .ok_or_else(|| format_err!("the node sent no proof of plan {idx}"))?;
                    if let Some(note) = response.checkpoint.as_ref().map(|c| &c.signed_note) {
                        checkpoint = note.clone();
                    }
                    Some(TxProofFile {
                        leaf_index: proof.leaf_index,
                        tree_size: proof.tree_size,
                        leaf: BASE64.encode(&proof.leaf),
                        hashes: proof.hashes.iter().map(hex::encode).collect(),
                    })
                }
            };
            plans.push(PlanFile {
                from_height: period.from_height,
                tx_id: period.tx_id.clone(),
                plan: plan_from_pb(period.plan).map_err(|e| format_err!(e))?,
                proof,
            });
        }
        Ok(StatementFile {
            kind: STATEMENT_KIND.into(),
            holder: statement.holder.clone(),
            currency: statement.currency.clone(),
            month: statement.month.clone(),
            plans,
            lines,
            total: statement.total,
            queries: statement.queries,
            bytes: statement.bytes,
            top_ups: statement
                .top_ups
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "tx_id": t.tx_id, "block": t.block_number, "amount": t.amount,
                        "reference": t.reference, "timestamp_ms": t.timestamp_ms,
                    })
                })
                .collect(),
            source: statement.source.clone(),
            checkpoint,
            signed_statement: statement.signed_statement.clone(),
        })
    }

    fn csv(&self) -> String {
        let mut text = String::from(
            "line,event_id,time,action,resource,queries,bytes,query_amount,traffic_amount,amount,currency,note\n",
        );
        for line in &self.lines {
            text.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{}\n",
                line.number,
                line.event_id,
                crate::clock::rfc3339(line.time_ms),
                csv_field(&line.action),
                csv_field(&line.resource),
                line.queries,
                line.bytes,
                line.query_amount,
                line.traffic_amount,
                line.amount,
                self.currency,
                csv_field(&line.note)
            ));
        }
        text.push_str(&format!(
            "total,,,,,{},{},{},{},{},{},{}\n",
            self.queries,
            self.bytes,
            self.lines.iter().map(|l| l.query_amount).sum::<u64>(),
            self.lines.iter().map(|l| l.traffic_amount).sum::<u64>(),
            self.total,
            self.currency,
            csv_field(&format!("statement of {} for {}", self.holder, self.month))
        ));
        text
    }

    fn text(&self) -> String {
        let mut text = format!(
            "statement of {} for {} ({}; amounts in minor units)\n",
            self.holder, self.month, self.currency
        );
        for plan in &self.plans {
            text.push_str(&format!(
                "plan from height {}: {}\n",
                plan.from_height,
                plan_text(&serde_json::to_value(&plan.plan).unwrap_or_default())
            ));
        }
        for line in &self.lines {
            text.push_str(&format!(
                "{:>5}  {}  {}  {:18} {:34} {:>10} B  {:>8}  {}\n",
                line.number,
                crate::clock::rfc3339(line.time_ms),
                line.event_id,
                line.action,
                line.resource,
                line.bytes,
                line.amount,
                line.note
            ));
        }
        for top_up in &self.top_ups {
            text.push_str(&format!(
                "top-up {} {} ({}) in block {}\n",
                plain(&top_up["amount"]),
                self.currency,
                plain(&top_up["reference"]),
                plain(&top_up["block"])
            ));
        }
        text.push_str(&format!(
            "total  {} {} for {} queries and {} bytes in {} lines",
            self.total,
            self.currency,
            self.queries,
            self.bytes,
            self.lines.len()
        ));
        text
    }
}

fn check(checks: &mut Vec<Check>, name: &'static str, result: Result<String, String>) -> bool {
    let ok = result.is_ok();
    checks.push(Check {
        name,
        ok,
        detail: match result {
            Ok(detail) | Err(detail) => detail,
        },
    });
    ok
}

/// Checks a plan transaction's proof and that it sets exactly the plan the statement states.
fn check_plan(
    statement: &StatementFile,
    plan: &PlanFile,
    root: &merkle::Hash,
    size: u64,
) -> Result<String, String> {
    let proof = plan.proof.as_ref().ok_or("the plan carries no proof")?;
    let leaf = BASE64.decode(&proof.leaf).map_err(|e| format!("leaf is not base64: {e}"))?;
    if proof.tree_size != size {
        return Err(format!("proof at size {}, checkpoint at size {size}", proof.tree_size));
    }
    let hashes = crate::cli::proof::decode_hashes(&proof.hashes)?;
    merkle::verify_inclusion(&merkle::leaf_hash(&leaf), proof.leaf_index, size, &hashes, root)
        .map_err(|e| e.to_string())?;
    let leaf = parse_leaf(&leaf)?;
    if leaf.code != ValidationCode::Valid || leaf.tx_id.to_string() != plan.tx_id {
        return Err(format!("leaf is transaction {} with code {}", leaf.tx_id, leaf.code));
    }
    let transaction = Transaction::decode(&leaf.envelope).map_err(|r| r.message)?;
    let (holder, stated) = match &transaction.body {
        TxBody::OpenAccount(open) => (&open.holder, &open.plan),
        TxBody::ChangePlan(change) => (&change.holder, &change.plan),
        other => return Err(format!("transaction {} is a {}", leaf.tx_id, other.type_name())),
    };
    if *holder != statement.holder
        || *stated != plan.plan
        || leaf.block_number + 1 != plan.from_height
    {
        return Err(format!(
            "transaction {} sets a plan for {holder} from height {}, not the statement's",
            leaf.tx_id,
            leaf.block_number + 1
        ));
    }
    Ok(format!(
        "{} in block {} sets the plan from height {}",
        transaction.body.type_name(),
        leaf.block_number,
        plan.from_height
    ))
}

/// Checks a line's logged event against what the line says of it.
fn check_event(
    statement: &StatementFile,
    line: &LineFile,
    event: &AccessEvent,
) -> Result<String, String> {
    let units = billable(event).ok_or("the logged event is not billable")?;
    let same = event.event_id == line.event_id
        && event.identity == statement.holder
        && event.time_ms == line.time_ms
        && event.action.as_str() == line.action
        && event.resource == line.resource
        && event.ledger_height == line.ledger_height
        && units == Units { queries: line.queries, bytes: line.bytes };
    if !same {
        return Err(format!(
            "the logged event ({} by {} at {}, {} {} bytes, height {}) is not what the line says",
            event.event_id,
            event.identity,
            event.time_ms,
            event.action,
            event.bytes,
            event.ledger_height
        ));
    }
    Ok(format!("{} {} by the holder, {} bytes", event.action, event.resource, event.bytes))
}

/// Every check of a statement with proofs, in order.
fn check_statement(statement: &StatementFile, trusted: &[checkpoint::NoteVerifier]) -> Vec<Check> {
    let mut checks = Vec::new();
    if !check(
        &mut checks,
        "statement",
        if statement.kind == STATEMENT_KIND {
            Ok(format!(
                "{} lines for {} in {}",
                statement.lines.len(),
                statement.holder,
                statement.month
            ))
        } else {
            Err(format!("kind {:?} is not {STATEMENT_KIND:?}", statement.kind))
        },
    ) {
        return checks;
    }
    let opened = if statement.checkpoint.is_empty() {
        Err("the statement carries no proofs; get it with `cairn billing statement --proofs --out FILE`".to_string())
    } else {
        checkpoint::open_checkpoint(&statement.checkpoint, trusted).map_err(|e| e.to_string())
    };
    let checkpoint = match opened {
        Ok(checkpoint) => {
            let _ = check(
                &mut checks,
                "checkpoint signature",
                Ok(format!(
                    "{} at size {} signed by a trusted key",
                    checkpoint.origin, checkpoint.size
                )),
            );
            checkpoint
        }
        Err(e) => {
            let _ = check(&mut checks, "checkpoint signature", Err(e));
            return checks;
        }
    };
    let mut periods = Vec::with_capacity(statement.plans.len());
    for plan in &statement.plans {
        let _ = check(
            &mut checks,
            "plan",
            check_plan(statement, plan, &checkpoint.root, checkpoint.size),
        );
        periods.push(TariffPeriod {
            from_height: plan.from_height,
            tariff: crate::node::gate::tariff(&plan.plan),
        });
    }
    let month: Result<Month, String> =
        statement.month.parse().map_err(|e: asset_registry::Error| e.to_string());
    let mut lines = Vec::with_capacity(statement.lines.len());
    // Each logged event, and each signed request, backs one line at most.
    let mut seen_events = std::collections::BTreeMap::new();
    let mut seen_requests = std::collections::BTreeMap::new();
    for (idx, line) in statement.lines.iter().enumerate() {
        let Some(proof) = &line.proof else {
            let _ = check(
                &mut checks,
                "line proof",
                Err(format!("line {} carries no proof", line.number)),
            );
            continue;
        };
        let mut line_checks = Vec::new();
        let mut summary = serde_json::Value::Null;
        crate::cli::proof::check_audit_file(
            proof,
            &checkpoint,
            trusted,
            &mut line_checks,
            &mut summary,
        );
        let proved = line_checks.iter().all(|c| c.ok);
        let anchored_by = summary["anchored_by"].as_str().unwrap_or_default().to_string();
        let _ = check(
            &mut checks,
            "line proof",
            if !proved {
                Err(format!(
                    "line {}: {}",
                    line.number,
                    line_checks
                        .iter()
                        .filter(|c| !c.ok)
                        .map(|c| format!("{}: {}", c.name, c.detail))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            } else if anchored_by != line.node || proof.event_index != line.leaf_index {
                Err(format!(
                    "line {}: the proof is of entry {} logged by {anchored_by}, the line names entry {} of {}",
                    line.number, proof.event_index, line.leaf_index, line.node
                ))
            } else {
                Ok(format!("line {}: recorded and anchored by {anchored_by}", line.number))
            },
        );
        let event = BASE64
            .decode(&proof.event)
            .map_err(|e| e.to_string())
            .and_then(|bytes| AccessEvent::decode(&bytes).map_err(|e| e.to_string()));
        if let Ok(event) = &event {
            let request = access_control::request::SignedRequest::decode(&event.request)
                .ok()
                .map(|r| (r.public_key, r.nonce));
            let earlier = seen_events
                .insert(event.event_id.clone(), line.number)
                .or_else(|| request.and_then(|request| seen_requests.insert(request, line.number)));
            if let Some(earlier) = earlier {
                let _ = check(
                    &mut checks,
                    "line unique",
                    Err(format!(
                        "line {} bills event {} or its signed request again, already billed by line {earlier}",
                        line.number, event.event_id
                    )),
                );
            }
        }
        let _ = check(
            &mut checks,
            "line event",
            event
                .and_then(|event| check_event(statement, line, &event))
                .map_err(|e| format!("line {}: {e}", line.number)),
        );
        if line.number != idx as u64 + 1 {
            let _ = check(
                &mut checks,
                "line order",
                Err(format!("line {} is at position {}", line.number, idx + 1)),
            );
        }
        lines.push(Line {
            event_id: line.event_id.clone(),
            time_ms: line.time_ms,
            month: month.clone().unwrap_or(Month(0)),
            action: line.action.clone(),
            resource: line.resource.clone(),
            units: Units { queries: line.queries, bytes: line.bytes },
            charge: Charge {
                query_amount: line.query_amount,
                traffic_amount: line.traffic_amount,
                amount: line.amount,
                note: line.note.clone(),
            },
            ledger_height: line.ledger_height,
            plan_from_height: line.plan_from_height,
            node: line.node.clone(),
            leaf_index: line.leaf_index,
        });
    }
    let recomputed = month.and_then(|_| {
        asset_registry::billing::recompute(&periods, &lines).map_err(|e| e.to_string())
    });
    let _ = check(
        &mut checks,
        "charges",
        recomputed.and_then(|total| {
            let sum =
                asset_registry::billing::sum_checked(statement.lines.iter().map(|l| l.amount))
                    .ok_or_else(|| "the lines' charges add up to more than 64 bits".to_string())?;
            if total == statement.total && sum == statement.total {
                Ok(format!(
                    "every line's charge follows from its event and plan; total {} {}",
                    total, statement.currency
                ))
            } else {
                Err(format!(
                    "the plans give {total}, the lines add up to {sum}, the statement says {}",
                    statement.total
                ))
            }
        }),
    );
    let _ = check(&mut checks, "signed statement", check_signed_statement(statement, trusted));
    checks
}

/// Checks the node's signed note of the statement against the file: the
/// same holder, month, currency, number of lines, total, queries, bytes and
/// lines (their numbers, event ids and charges, in order).
fn check_signed_statement(
    statement: &StatementFile,
    trusted: &[checkpoint::NoteVerifier],
) -> Result<String, String> {
    if statement.signed_statement.is_empty() {
        return Err("the statement carries no signed_statement note from the node, so nothing proves its lines are all of the month's; get it again from an up-to-date node with `cairn billing statement --proofs --out FILE`".into());
    }
    let text = checkpoint::open_note(&statement.signed_statement, trusted)
        .map_err(|e| format!("the signed statement note does not verify: {e}"))?;
    let signed = StatementNote::parse_body(&text)?;
    let file = StatementNote {
        holder: statement.holder.clone(),
        month: statement.month.clone(),
        currency: statement.currency.clone(),
        n_lines: statement.lines.len() as u64,
        total: statement.total,
        queries: statement.queries,
        bytes: statement.bytes,
        lines_sha256: lines_digest(statement.lines.iter().map(|line| DigestLine {
            number: line.number,
            event_id: &line.event_id,
            query_amount: line.query_amount,
            traffic_amount: line.traffic_amount,
            amount: line.amount,
        })),
    };
    let mut differences = Vec::new();
    let mut compare = |name: &str, signed: &dyn std::fmt::Display, file: &dyn std::fmt::Display| {
        let (signed, file) = (signed.to_string(), file.to_string());
        if signed != file {
            differences.push(format!("the node signed {name} {signed}, the file has {file}"));
        }
    };
    compare("holder", &signed.holder, &file.holder);
    compare("month", &signed.month, &file.month);
    compare("currency", &signed.currency, &file.currency);
    compare("lines", &signed.n_lines, &file.n_lines);
    compare("total", &signed.total, &file.total);
    compare("queries", &signed.queries, &file.queries);
    compare("bytes", &signed.bytes, &file.bytes);
    if signed.lines_sha256 != file.lines_sha256 {
        differences.push(format!(
            "the lines' numbers, event ids and charges hash to {}, the node signed {} (a line was removed, added, duplicated, reordered or changed)",
            hex::encode(file.lines_sha256),
            hex::encode(signed.lines_sha256)
        ));
    }
    if differences.is_empty() {
        Ok(format!(
            "signed by a trusted key: {} lines, total {} {}",
            signed.n_lines, signed.total, signed.currency
        ))
    } else {
        Err(differences.join("; "))
    }
}
