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
//! reordered after the node served it. The file format and its check are
//! the library's ([`asset_registry::verify::statement`]); this module asks
//! the node, writes and prints.

use std::path::PathBuf;

use access_control::keys::KeyPair;
use anchor_chaincode::billing::{Payment, Plan};
use anchor_chaincode::tx::{plan_from_pb, plan_to_pb};
use anyhow::{Context, bail, format_err};
use asset_registry::billing::Month;
use asset_registry::verify::proof::{AUDIT_KIND, AuditFile};
use asset_registry::verify::statement::{
    LineFile, PlanFile, STATEMENT_KIND, StatementFile, TopUpFile, TxProofFile, check_statement,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::billing_client::BillingClient;
use clap::{Args, Subcommand};

use crate::cli::NodeArgs;
use crate::cli::plain;
use crate::cli::print;
use crate::cli::rpc::{connect, connect_as, draft, node_info, status, submit_and_print};
use cairn_schemas::v1::ledger_client::LedgerClient;

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
        /// The quorum file: trusted verifier keys (note keys and cosigner
        /// keys), one per line, `#` comments, and an optional `quorum <k>`
        /// line (k = 1 without it).
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
            let file = statement_file(&statement)?;
            if let Some(path) = &out {
                crate::cli::proof::write_json(path, &file)?;
            }
            if csv {
                print!("{}", statement_csv(&file));
            } else {
                let view = serde_json::to_value(&file)?;
                print(node.json, &view, || statement_text(&file));
            }
            Ok(())
        }
        BillingCommand::Check { file, trusted_keys, json } => {
            let quorum = crate::cli::proof::read_quorum(&trusted_keys)?;
            let text = crate::cli::proof::read(&file)?;
            let statement: StatementFile = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a statement file", file.display()))?;
            let report = check_statement(&statement, &quorum);
            let checks = &report.checks;
            let valid = report.valid();
            let view = serde_json::json!({
                "valid": valid,
                "holder": statement.holder,
                "month": statement.month,
                "total": statement.total,
                "currency": statement.currency,
                "checks": crate::cli::proof::checks_json(checks),
                "signed_by": report.signatures(),
            });
            print(json, &view, || {
                let mut text = String::new();
                for check in checks {
                    text.push_str(&format!(
                        "{:4}  {:22} {}\n",
                        if check.passed { "pass" } else { "FAIL" },
                        check.name,
                        check.detail
                    ));
                }
                text.trim_end().to_string()
            });
            if let Some(failed) = report.first_failure() {
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
            kind: AUDIT_KIND.into(),
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

/// The statement file of a statement the node served.
fn statement_file(statement: &pb::Statement) -> anyhow::Result<StatementFile> {
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
            .map(|t| TopUpFile {
                amount: t.amount,
                block: t.block_number,
                reference: t.reference.clone(),
                timestamp_ms: t.timestamp_ms,
                tx_id: t.tx_id.clone(),
            })
            .collect(),
        source: statement.source.clone(),
        checkpoint,
        signed_statement: statement.signed_statement.clone(),
    })
}

/// A statement as CSV: a row per line, then the total.
fn statement_csv(file: &StatementFile) -> String {
    let mut text = String::from(
        "line,event_id,time,action,resource,queries,bytes,query_amount,traffic_amount,amount,currency,note\n",
    );
    for line in &file.lines {
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
            file.currency,
            csv_field(&line.note)
        ));
    }
    text.push_str(&format!(
        "total,,,,,{},{},{},{},{},{},{}\n",
        file.queries,
        file.bytes,
        file.lines.iter().map(|l| l.query_amount).sum::<u64>(),
        file.lines.iter().map(|l| l.traffic_amount).sum::<u64>(),
        file.total,
        file.currency,
        csv_field(&format!("statement of {} for {}", file.holder, file.month))
    ));
    text
}

/// A statement as text.
fn statement_text(file: &StatementFile) -> String {
    let mut text = format!(
        "statement of {} for {} ({}; amounts in minor units)\n",
        file.holder, file.month, file.currency
    );
    for plan in &file.plans {
        text.push_str(&format!(
            "plan from height {}: {}\n",
            plan.from_height,
            plan_text(&serde_json::to_value(&plan.plan).unwrap_or_default())
        ));
    }
    for line in &file.lines {
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
    for top_up in &file.top_ups {
        text.push_str(&format!(
            "top-up {} {} ({}) in block {}\n",
            top_up.amount, file.currency, top_up.reference, top_up.block
        ));
    }
    text.push_str(&format!(
        "total  {} {} for {} queries and {} bytes in {} lines",
        file.total,
        file.currency,
        file.queries,
        file.bytes,
        file.lines.len()
    ));
    text
}
