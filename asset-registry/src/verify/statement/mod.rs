//! A monthly statement with its proofs, its offline check, and the note a
//! node signs of every statement it serves.
//!
//! A statement with proofs ([`StatementFile`], `cairn-statement-v1`) is a JSON
//! document a verifier can check with no node and no trust in the hub: the
//! signed ledger checkpoint, for each line the access event exactly as logged
//! with its inclusion in the anchored access-event log and the anchor's
//! inclusion in the ledger, and the inclusion of every plan transaction.
//! [`check_statement`] recomputes every line's charge from the logged events
//! and the proved plans, so the verifier knows it is billed for exactly what
//! was recorded, and checks the node's signed [`StatementNote`] (its line
//! count, total and the digest of its lines), so no line can be removed,
//! added or reordered after the node served it.

use std::collections::BTreeMap;

use anchor_chaincode::ValidationCode;
use anchor_chaincode::billing::Plan;
use anchor_chaincode::checkpoint::{self, Quorum};
use anchor_chaincode::ledger::parse_leaf;
use anchor_chaincode::merkle;
use anchor_chaincode::tx::{Transaction, TxBody};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::audit::AccessEvent;
use crate::billing::{Charge, Line, Month, Tariff, TariffPeriod, Units, billable};
use crate::verify::proof::{AuditFile, Proved, check_audit_file};
use crate::verify::{Check, Report, decode_hashes, open_checkpoint};

mod note;

pub use note::{DigestLine, NoteError, STATEMENT_NOTE_LABEL, StatementNote, lines_digest};

/// The `kind` of a [`StatementFile`].
pub const STATEMENT_KIND: &str = "cairn-statement-v1";

/// A statement as `cairn billing statement --json` prints it, as `--out`
/// writes it, and as [`check_statement`] reads it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StatementFile {
    /// [`STATEMENT_KIND`].
    pub kind: String,
    /// The account holder's address.
    pub holder: String,
    /// The account's ISO 4217 currency; amounts are in its minor units.
    pub currency: String,
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// The account's plans, oldest first.
    pub plans: Vec<PlanFile>,
    /// One line per metered access event, numbered from 1.
    pub lines: Vec<LineFile>,
    /// The sum of the lines' amounts.
    pub total: u64,
    /// The sum of the lines' queries.
    pub queries: u64,
    /// The sum of the lines' bytes.
    pub bytes: u64,
    /// The month's top-ups.
    pub top_ups: Vec<TopUpFile>,
    /// Where the node read the lines: `memory` or `postgres`.
    pub source: String,
    /// The signed ledger checkpoint every proof is against (with `--proofs`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checkpoint: String,
    /// The node's signed note of the statement (see [`StatementNote`]):
    /// without it nothing says the lines are all of the month's.
    #[serde(default)]
    pub signed_statement: String,
}

/// One plan of a statement, with its proof when the statement carries proofs.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PlanFile {
    /// The first ledger height the plan applies at.
    pub from_height: u64,
    /// The transaction that set it.
    pub tx_id: String,
    /// The plan.
    pub plan: Plan,
    /// The transaction's inclusion in the ledger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<TxProofFile>,
}

/// A transaction's inclusion in the ledger at the statement's checkpoint.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TxProofFile {
    /// The leaf's index in the ledger's Merkle log.
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The ledger leaf (base64): block, index, validation code, tx id, envelope.
    pub leaf: String,
    /// The audit path (hex).
    pub hashes: Vec<String>,
}

/// One line of a statement: a metered access event and its charge.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LineFile {
    /// Its place, from 1.
    pub number: u64,
    /// The access event's id.
    pub event_id: String,
    /// When the event happened, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What the holder did.
    pub action: String,
    /// What it did it to.
    pub resource: String,
    /// Queries metered.
    pub queries: u64,
    /// Bytes metered.
    pub bytes: u64,
    /// The charge for the queries.
    pub query_amount: u64,
    /// The charge for the bytes.
    pub traffic_amount: u64,
    /// The line's charge.
    pub amount: u64,
    /// The ledger height when the event happened, which chooses the plan.
    pub ledger_height: u64,
    /// The `from_height` of the plan applied.
    pub plan_from_height: u64,
    /// How the charge was reached.
    pub note: String,
    /// The address of the node that logged the event.
    pub node: String,
    /// The event's index in that node's access-event log.
    pub leaf_index: u64,
    /// The event's proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<AuditFile>,
}

/// A credit of the account in the statement's month. Its fields are in
/// alphabetical order, as statement files have always written them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TopUpFile {
    /// Minor units.
    pub amount: u64,
    /// The block of the top-up transaction.
    pub block: u64,
    /// The operator's reference.
    pub reference: String,
    /// The block's time, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// The top-up transaction.
    pub tx_id: String,
}

/// Checks a plan transaction's proof against the checkpoint's `root` and
/// `size`, and that it sets exactly the plan the statement states.
pub fn check_plan(
    statement: &StatementFile,
    plan: &PlanFile,
    root: &merkle::Hash,
    size: u64,
) -> Check {
    Check::of("plan", plan_result(statement, plan, root, size))
}

fn plan_result(
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
    let hashes = decode_hashes(&proof.hashes).map_err(|e| e.to_string())?;
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
fn event_result(
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

/// Every check of a statement with proofs, in order: its kind, the
/// checkpoint's signatures by the `quorum`, each plan's proof, each line's
/// proof, uniqueness, event and place, the recomputed charges, and the
/// node's signed note of the statement.
pub fn check_statement(statement: &StatementFile, quorum: &Quorum) -> Report {
    let mut report = Report::default();
    let checks = &mut report.checks;
    if statement.kind != STATEMENT_KIND {
        checks.push(Check::fail(
            "statement",
            format!("kind {:?} is not {STATEMENT_KIND:?}", statement.kind),
        ));
        return report;
    }
    checks.push(Check::pass(
        "statement",
        format!("{} lines for {} in {}", statement.lines.len(), statement.holder, statement.month),
    ));
    let opened = if statement.checkpoint.is_empty() {
        Err("the statement carries no proofs; get it with `cairn billing statement --proofs --out FILE`".to_string())
    } else {
        open_checkpoint(&statement.checkpoint, quorum).map_err(|e| e.to_string())
    };
    let checkpoint = match opened {
        Ok((checkpoint, signatures)) => {
            checks.push(
                Check::pass(
                    "checkpoint signature",
                    format!("{} at size {} {signatures}", checkpoint.origin, checkpoint.size),
                )
                .with_signatures(signatures),
            );
            checkpoint
        }
        Err(e) => {
            checks.push(Check::fail("checkpoint signature", e));
            return report;
        }
    };
    let mut periods = Vec::with_capacity(statement.plans.len());
    for plan in &statement.plans {
        checks.push(check_plan(statement, plan, &checkpoint.root, checkpoint.size));
        periods
            .push(TariffPeriod { from_height: plan.from_height, tariff: Tariff::from(&plan.plan) });
    }
    let month: Result<Month, String> =
        statement.month.parse().map_err(|e: crate::Error| e.to_string());
    let mut lines = Vec::with_capacity(statement.lines.len());
    // Each logged event, and each signed request, backs one line at most.
    let mut seen_events = BTreeMap::new();
    let mut seen_requests = BTreeMap::new();
    for (idx, line) in statement.lines.iter().enumerate() {
        let Some(proof) = &line.proof else {
            checks
                .push(Check::fail("line proof", format!("line {} carries no proof", line.number)));
            continue;
        };
        let line_report = check_audit_file(proof, &checkpoint, quorum);
        let anchored_by = match &line_report.proved {
            Some(Proved::AccessEvent { anchored_by, .. }) => anchored_by.as_str(),
            _ => "",
        };
        checks.push(Check::of(
            "line proof",
            if !line_report.valid() {
                Err(format!(
                    "line {}: {}",
                    line.number,
                    line_report
                        .checks
                        .iter()
                        .filter(|c| !c.passed)
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
        ));
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
                checks.push(Check::fail(
                    "line unique",
                    format!(
                        "line {} bills event {} or its signed request again, already billed by line {earlier}",
                        line.number, event.event_id
                    ),
                ));
            }
        }
        checks.push(Check::of(
            "line event",
            event
                .and_then(|event| event_result(statement, line, &event))
                .map_err(|e| format!("line {}: {e}", line.number)),
        ));
        if line.number != idx as u64 + 1 {
            checks.push(Check::fail(
                "line order",
                format!("line {} is at position {}", line.number, idx + 1),
            ));
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
    let recomputed =
        month.and_then(|_| crate::billing::recompute(&periods, &lines).map_err(|e| e.to_string()));
    checks.push(Check::of(
        "charges",
        recomputed.and_then(|total| {
            let sum = crate::billing::sum_checked(statement.lines.iter().map(|l| l.amount))
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
    ));
    checks.push(check_signed_statement(statement, quorum));
    report
}

/// Checks the node's signed note of the statement against the file: the
/// same holder, month, currency, number of lines, total, queries, bytes and
/// lines (their numbers, event ids and charges, in order).
///
/// The note is signed by the one node that served the statement, not
/// cosigned: a note signature by any member's note key (type 0x01) of the
/// `quorum` is enough.
pub fn check_signed_statement(statement: &StatementFile, quorum: &Quorum) -> Check {
    Check::of("signed statement", signed_statement_result(statement, quorum))
}

fn signed_statement_result(statement: &StatementFile, quorum: &Quorum) -> Result<String, String> {
    if statement.signed_statement.is_empty() {
        return Err("the statement carries no signed_statement note from the node, so nothing proves its lines are all of the month's; get it again from an up-to-date node with `cairn billing statement --proofs --out FILE`".into());
    }
    let text = checkpoint::open_note(&statement.signed_statement, &quorum.note_keys())
        .map_err(|e| format!("the signed statement note does not verify: {e}"))?;
    let signed = StatementNote::parse_body(&text).map_err(|e| e.to_string())?;
    let file = StatementNote::of_file(statement);
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
            "signed by a trusted member's key: {} lines, total {} {}",
            signed.n_lines, signed.total, signed.currency
        ))
    } else {
        Err(differences.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quorum() -> Quorum {
        Quorum::single(checkpoint::NoteSigner::new("example.org", [9; 32]).unwrap().verifier())
    }

    #[test]
    fn a_statement_of_another_kind_stops_at_the_first_check() {
        let statement = StatementFile {
            kind: "cairn-statement-v0".into(),
            holder: String::new(),
            currency: String::new(),
            month: String::new(),
            plans: vec![],
            lines: vec![],
            total: 0,
            queries: 0,
            bytes: 0,
            top_ups: vec![],
            source: String::new(),
            checkpoint: String::new(),
            signed_statement: String::new(),
        };
        let report = check_statement(&statement, &quorum());
        assert_eq!(report.checks.len(), 1);
        assert_eq!(report.first_failure().map(|c| c.name), Some("statement"));
    }

    #[test]
    fn a_statement_without_proofs_is_told_how_to_get_them() {
        let statement = StatementFile {
            kind: STATEMENT_KIND.into(),
            holder: "cairn1holder".into(),
            currency: "EUR".into(),
            month: "2026-12".into(),
            plans: vec![],
            lines: vec![],
            total: 0,
            queries: 0,
            bytes: 0,
            top_ups: vec![],
            source: "memory".into(),
            checkpoint: String::new(),
            signed_statement: String::new(),
        };
        let report = check_statement(&statement, &quorum());
        let failed = report.first_failure().unwrap();
        assert_eq!(failed.name, "checkpoint signature");
        assert!(failed.detail.contains("cairn billing statement --proofs"), "{}", failed.detail);
        assert!(!check_signed_statement(&statement, &quorum()).passed);
    }
}
