//! Billing on the node: the gate in front of billable requests (rate limits
//! and prepaid balances), the `cairn.v1.Billing` service (accounts, usage and
//! statements, with proofs), and the bridge from the ledger's plans to the
//! meter.
//!
//! Nothing here writes to the ledger per query: the node's meter is a fold of
//! its access-event log ([`crate::node::access_log`]), and only the hub operator's
//! decisions (accounts, plans, top-ups) are transactions.
//!
//! Enforcement happens before service. A billable request of an account
//! holder first takes a token from the holder's rate-limit bucket on this
//! node; a prepaid holder's request is then quoted from the meter (what the
//! holder has been charged, plus what is reserved for its requests in flight)
//! and its price set aside under the same lock that queues its access event
//! ([`AccessLog::admit`]). Either refusal is answered with
//! `RESOURCE_EXHAUSTED` and recorded as a denied access event; no data is
//! served.

use std::sync::Arc;
use std::time::Instant;

use access_control::policy::{AccessRequest, Action, Resource, RolePolicy};
use access_control::request::VerifiedCaller;
use anchor_chaincode::ledger::AccountRecord;
use anchor_chaincode::tx::plan_to_pb;
use anchor_chaincode::{Address, Role};
use asset_registry::audit::Decision;
use asset_registry::billing::{Line, Month};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::billing_server::Billing;
use tonic::{Request, Response, Status};

use crate::rpc::decision::{Event, Who, record, signed_call};

use crate::node::Node;
use crate::node::access_log::AccessLog;

/// The `cairn.v1.Billing` service.
#[derive(Clone)]
pub(crate) struct BillingService {
    pub(crate) node: Node,
    pub(crate) access: AccessLog,
    pub(crate) policy: Arc<RolePolicy>,
    /// Anchors the access-event log when a statement needs it now.
    pub(crate) anchorer: crate::node::anchor::Anchorer,
    /// The PostgreSQL projection, when the node has one: it meters every
    /// node's events, so accounts, usage and statements are read there.
    pub(crate) directory: Option<asset_registry::pg::Projections>,
}

fn projection_error(e: asset_registry::pg::Error) -> Status {
    Status::unavailable(format!("cannot read the billing projection: {e}"))
}

/// A usage row of the projection as a meter counter; a value the projector
/// cannot have written is reported, not read as something else.
fn usage_counter(
    row: asset_registry::pg::UsageRow,
) -> Result<(String, Decision, asset_registry::billing::Counter), Status> {
    let corrupt = |what: String| Status::internal(format!("the usage projection holds {what}"));
    let decision = row.decision.parse::<Decision>().map_err(|e| corrupt(e.to_string()))?;
    let count = |value: i64, column: &str| {
        u64::try_from(value).map_err(|_| corrupt(format!("{value} in usage.{column}")))
    };
    let counter = asset_registry::billing::Counter {
        events: count(row.events, "events")?,
        bytes: count(row.bytes, "bytes")?,
    };
    Ok((row.action, decision, counter))
}

fn parse_holder(holder: &str) -> Result<Address, Status> {
    holder.parse().map_err(|e| Status::invalid_argument(format!("holder {holder:?}: {e}")))
}

fn decision_to_pb(decision: Decision) -> i32 {
    match decision {
        Decision::Allowed => pb::Decision::Allowed.into(),
        Decision::Denied => pb::Decision::Denied.into(),
    }
}

fn period_to_pb(period: &anchor_chaincode::ledger::PlanPeriod) -> pb::PlanPeriod {
    pb::PlanPeriod {
        from_height: period.from_height,
        tx_id: period.tx_id.to_string(),
        plan: Some(plan_to_pb(&period.plan)),
    }
}

fn top_up_to_pb(top_up: &anchor_chaincode::ledger::TopUpRecord) -> pb::TopUpRecord {
    pb::TopUpRecord {
        tx_id: top_up.tx_id.to_string(),
        block_number: top_up.block_number,
        amount: top_up.amount,
        reference: top_up.reference.clone(),
        timestamp_ms: top_up.timestamp_ms,
    }
}

fn line_to_pb(number: usize, line: &Line) -> pb::StatementLine {
    pb::StatementLine {
        number: number as u64,
        event_id: line.event_id.clone(),
        time_ms: line.time_ms,
        action: line.action.clone(),
        resource: line.resource.clone(),
        queries: line.units.queries,
        bytes: line.units.bytes,
        query_amount: line.charge.query_amount,
        traffic_amount: line.charge.traffic_amount,
        amount: line.charge.amount,
        ledger_height: line.ledger_height,
        plan_from_height: line.plan_from_height,
        note: line.charge.note.clone(),
        node: line.node.clone(),
        leaf_index: line.leaf_index,
        proof: None,
    }
}

impl BillingService {
    /// May `caller` read `holder`'s account? Records the access event either
    /// way; answers its id, or the refusal.
    async fn authorise(
        &self,
        caller: &VerifiedCaller,
        holder: &Address,
        resource: String,
        method: &str,
        started: Instant,
    ) -> Result<String, Status> {
        let operator = self.node.ledger().consortium().operator().to_owned();
        let (allowed, reason) = if caller.address == *holder {
            (true, format!("{holder} may read its own bills"))
        } else if caller.organisation == operator && caller.role == Role::Operator {
            (
                true,
                format!(
                    "the operator role of the hub operator's organisation {operator:?} reads every account"
                ),
            )
        } else {
            let decision = self.policy.decide(&AccessRequest {
                identity: caller.address,
                organisation: &caller.organisation,
                role: caller.role,
                action: Action::ReadBills,
                resource: Resource::Other("bill"),
            });
            if decision.allowed && caller.role == Role::Auditor {
                (true, decision.reason)
            } else {
                (
                    false,
                    format!(
                        "only {holder} itself, auditors and the operator role of the hub operator's organisation {operator:?} read its bills"
                    ),
                )
            }
        };
        let event = Event {
            who: Who::Verified(caller),
            action: asset_registry::audit::Action::ReadBills,
            method: method.to_string(),
            resource,
            allowed,
            reason: reason.clone(),
            bytes: 0,
            started: Some(started),
        }
        .into_access_event(&self.node);
        let event_id = record(&self.access, event).await?;
        if allowed {
            Ok(event_id)
        } else {
            Err(Status::permission_denied(format!("{reason} (access event {event_id})")))
        }
    }

    fn account(&self, holder: &Address) -> Option<AccountRecord> {
        self.node.ledger().account(holder).cloned()
    }

    /// The proofs of a statement's lines and plans, all against one ledger checkpoint.
    async fn prove(
        &self,
        statement: &mut pb::Statement,
        account: &AccountRecord,
    ) -> Result<(), Status> {
        let node_address = self.node.key().address().to_string();
        if let Some(line) = statement.lines.iter().find(|line| line.node != node_address) {
            return Err(Status::failed_precondition(format!(
                "line {} (access event {}) was logged by node {}, not by this node {node_address}; ask that node for its proofs",
                line.number, line.event_id, line.node
            )));
        }
        let last = statement.lines.iter().map(|line| line.leaf_index).max();
        let anchored = {
            let ledger = self.node.ledger();
            ledger.access_anchors(&self.node.key().address()).last().map_or(0, |a| a.tree_size)
        };
        if last.is_some_and(|leaf| leaf >= anchored) {
            // Anchor now rather than make the verifier wait for the next interval.
            let _ = self.anchorer.access_events().await.map_err(|e| {
                Status::failed_precondition(format!(
                    "the statement's last events are not anchored on the ledger yet and anchoring failed: {e:#}"
                ))
            })?;
        }
        let tree_size = self.node.ledger().merkle_log().size();
        for line in &mut statement.lines {
            line.proof = Some(crate::rpc::access::prove_event(
                &self.node,
                &self.access,
                line.leaf_index,
                tree_size,
            )?);
        }
        statement.plan_proofs = account
            .plans
            .iter()
            .map(|period| crate::rpc::ledger::inclusion_proof(&self.node, &period.tx_id, tree_size))
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}

#[tonic::async_trait]
impl Billing for BillingService {
    #[tracing::instrument(skip_all)]
    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::Account>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let holder = parse_holder(&request.into_inner().holder)?;
        let _ =
            self.authorise(&caller, &holder, format!("bill:{holder}"), &method, started).await?;
        let account = self
            .account(&holder)
            .ok_or_else(|| Status::not_found(format!("{holder} has no account")))?;
        let holder_text = holder.to_string();
        let (mut charged, pending) = {
            let state = self.access.state();
            (state.meter.charged(&holder_text), state.meter.reserved(&holder_text))
        };
        let source = match &self.directory {
            None => "memory",
            Some(directory) => {
                let months =
                    directory.billing_months(&holder_text).await.map_err(projection_error)?;
                // Saturating: an overflow can only make the balance smaller.
                charged = asset_registry::billing::sum_saturating(
                    months.iter().map(|(_, totals)| totals.charged),
                );
                "postgres"
            }
        };
        let balance = i128::from(account.credited) - i128::from(charged) - i128::from(pending);
        Ok(Response::new(pb::Account {
            holder: holder.to_string(),
            currency: account.currency.clone(),
            plan: Some(plan_to_pb(account.plan())),
            plans: account.plans.iter().map(period_to_pb).collect(),
            top_ups: account.top_ups.iter().map(top_up_to_pb).collect(),
            credited: account.credited,
            charged,
            pending,
            balance: i64::try_from(balance).unwrap_or(if balance < 0 {
                i64::MIN
            } else {
                i64::MAX
            }),
            opened_in_block: account.opened_in_block,
            source: source.into(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_usage(
        &self,
        request: Request<pb::GetUsageRequest>,
    ) -> Result<Response<pb::Usage>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let request = request.into_inner();
        let holder = parse_holder(&request.holder)?;
        let _ =
            self.authorise(&caller, &holder, format!("bill:{holder}"), &method, started).await?;
        let currency = self.account(&holder).map(|a| a.currency).unwrap_or_default();
        let holder_text = holder.to_string();
        let (months, counters, source) = match &self.directory {
            Some(directory) => {
                let months =
                    directory.billing_months(&holder_text).await.map_err(projection_error)?;
                let counters = directory
                    .usage(Some(&holder_text))
                    .await
                    .map_err(projection_error)?
                    .into_iter()
                    .map(usage_counter)
                    .collect::<Result<_, Status>>()?;
                (months, counters, "postgres")
            }
            None => {
                let state = self.access.state();
                (state.meter.months(&holder_text), state.meter.counters(&holder_text), "memory")
            }
        };
        let months = months
            .into_iter()
            .filter(|(month, _)| month.end_ms() > request.since_ms)
            .map(|(month, totals)| pb::UsageMonth {
                month: month.to_string(),
                queries: totals.queries,
                bytes: totals.bytes,
                charged: totals.charged,
                events: totals.events,
            })
            .collect();
        let counters = counters
            .into_iter()
            .map(|(action, decision, counter)| pb::UsageCounter {
                action,
                decision: decision_to_pb(decision),
                events: counter.events,
                bytes: counter.bytes,
            })
            .collect();
        Ok(Response::new(pb::Usage {
            holder: holder_text,
            currency,
            months,
            counters,
            source: source.into(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_statement(
        &self,
        request: Request<pb::GetStatementRequest>,
    ) -> Result<Response<pb::Statement>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let request = request.into_inner();
        let holder = parse_holder(&request.holder)?;
        let month: Month = request
            .month
            .parse()
            .map_err(|e: asset_registry::Error| Status::invalid_argument(e.to_string()))?;
        let _ = self
            .authorise(&caller, &holder, format!("bill:{holder}/{month}"), &method, started)
            .await?;
        let account = self
            .account(&holder)
            .ok_or_else(|| Status::not_found(format!("{holder} has no account")))?;
        let (lines, source) = match &self.directory {
            Some(directory) => (
                directory
                    .billing_lines(&holder.to_string(), month)
                    .await
                    .map_err(projection_error)?,
                "postgres",
            ),
            None => {
                (self.access.state().meter.lines(&holder.to_string(), month).to_vec(), "memory")
            }
        };
        let lines: Vec<pb::StatementLine> =
            lines.iter().enumerate().map(|(idx, line)| line_to_pb(idx + 1, line)).collect();
        let mut statement = pb::Statement {
            holder: holder.to_string(),
            currency: account.currency.clone(),
            month: month.to_string(),
            plans: account.plans.iter().map(period_to_pb).collect(),
            total: exact_sum("total", lines.iter().map(|l| l.amount))?,
            queries: exact_sum("query count", lines.iter().map(|l| l.queries))?,
            bytes: exact_sum("byte count", lines.iter().map(|l| l.bytes))?,
            lines,
            top_ups: account
                .top_ups
                .iter()
                .filter(|t| Month::of_ms(t.timestamp_ms) == month)
                .map(top_up_to_pb)
                .collect(),
            source: source.into(),
            plan_proofs: Vec::new(),
            signed_statement: String::new(),
        };
        statement.signed_statement = self
            .node
            .signer()
            .sign_note(&StatementNote::of(&statement).body())
            .map_err(|e| Status::internal(format!("cannot sign the statement: {e}")))?;
        if request.proofs {
            self.prove(&mut statement, &account).await?;
        }
        Ok(Response::new(statement))
    }
}

/// The first line of a signed statement note.
pub(crate) const STATEMENT_NOTE_LABEL: &str = "cairn statement v1";

/// What a line contributes to [`lines_digest`]: its place, its event and its charge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DigestLine<'a> {
    pub(crate) number: u64,
    pub(crate) event_id: &'a str,
    pub(crate) query_amount: u64,
    pub(crate) traffic_amount: u64,
    pub(crate) amount: u64,
}

/// The SHA-256 of a statement's lines in order. Each line is encoded as its
/// number, the length of its event id, the event id, its query amount,
/// traffic amount and amount, every integer a big-endian `u64`, so that no
/// two different lists of lines encode alike.
pub(crate) fn lines_digest<'a>(lines: impl IntoIterator<Item = DigestLine<'a>>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for line in lines {
        hasher.update(line.number.to_be_bytes());
        hasher.update((line.event_id.len() as u64).to_be_bytes());
        hasher.update(line.event_id.as_bytes());
        hasher.update(line.query_amount.to_be_bytes());
        hasher.update(line.traffic_amount.to_be_bytes());
        hasher.update(line.amount.to_be_bytes());
    }
    hasher.finalize().into()
}

/// What a node signs of a statement it serves: the body of a C2SP signed
/// note, one `name value` per line after the label.
///
/// ```text
/// cairn statement v1
/// holder <address>
/// month <YYYY-MM>
/// currency <ISO 4217 code>
/// lines <number of lines>
/// total <minor units>
/// queries <count>
/// bytes <count>
/// lines-sha256 <hex of lines_digest>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatementNote {
    pub(crate) holder: String,
    pub(crate) month: String,
    pub(crate) currency: String,
    pub(crate) n_lines: u64,
    pub(crate) total: u64,
    pub(crate) queries: u64,
    pub(crate) bytes: u64,
    pub(crate) lines_sha256: [u8; 32],
}

/// The names of a statement note's lines after the label, in order.
const STATEMENT_NOTE_FIELDS: [&str; 8] =
    ["holder", "month", "currency", "lines", "total", "queries", "bytes", "lines-sha256"];

impl StatementNote {
    /// The note's summary of `statement`.
    pub(crate) fn of(statement: &pb::Statement) -> StatementNote {
        StatementNote {
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
        }
    }

    /// The note body, every line ending in a newline.
    pub(crate) fn body(&self) -> String {
        let values = [
            self.holder.clone(),
            self.month.clone(),
            self.currency.clone(),
            self.n_lines.to_string(),
            self.total.to_string(),
            self.queries.to_string(),
            self.bytes.to_string(),
            hex::encode(self.lines_sha256),
        ];
        let mut body = format!("{STATEMENT_NOTE_LABEL}\n");
        for (name, value) in STATEMENT_NOTE_FIELDS.iter().zip(values) {
            body.push_str(&format!("{name} {value}\n"));
        }
        body
    }

    /// Parses a note body strictly: the label, then exactly the fields of
    /// [`StatementNote::body`] in order, numbers in canonical decimal.
    pub(crate) fn parse_body(text: &str) -> Result<StatementNote, String> {
        let content = text.strip_suffix('\n').ok_or("the note text does not end in a newline")?;
        let lines: Vec<&str> = content.split('\n').collect();
        let [label, fields @ ..] = lines.as_slice() else {
            return Err("the note is empty".into());
        };
        if *label != STATEMENT_NOTE_LABEL {
            return Err(format!("the note is a {label:?}, not a {STATEMENT_NOTE_LABEL:?}"));
        }
        if fields.len() != STATEMENT_NOTE_FIELDS.len() {
            return Err(format!(
                "the note has {} fields, a {STATEMENT_NOTE_LABEL:?} has {}",
                fields.len(),
                STATEMENT_NOTE_FIELDS.len()
            ));
        }
        let mut values = Vec::with_capacity(fields.len());
        for (line, name) in fields.iter().zip(STATEMENT_NOTE_FIELDS) {
            let value = line
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .ok_or_else(|| format!("the note line {line:?} is not {name:?}"))?;
            values.push(value);
        }
        let number = |idx: usize| -> Result<u64, String> {
            let text = values[idx];
            let canonical = !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_digit())
                && (text == "0" || !text.starts_with('0'));
            text.parse::<u64>().ok().filter(|_| canonical).ok_or_else(|| {
                format!(
                    "the note's {} {text:?} is not a decimal number",
                    STATEMENT_NOTE_FIELDS[idx]
                )
            })
        };
        let digest = hex::decode(values[7])
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .filter(|digest| hex::encode(digest) == values[7])
            .ok_or_else(|| {
                format!("the note's lines-sha256 {:?} is not 64 hex digits", values[7])
            })?;
        Ok(StatementNote {
            holder: values[0].to_string(),
            month: values[1].to_string(),
            currency: values[2].to_string(),
            n_lines: number(3)?,
            total: number(4)?,
            queries: number(5)?,
            bytes: number(6)?,
            lines_sha256: digest,
        })
    }
}

/// A statement figure that must be exact: an overflow is an error, not a wrapped number.
fn exact_sum(what: &str, values: impl IntoIterator<Item = u64>) -> Result<u64, Status> {
    asset_registry::billing::sum_checked(values).ok_or_else(|| {
        Status::out_of_range(format!("the statement's {what} does not fit in 64 bits"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note() -> StatementNote {
        StatementNote {
            holder: "cairn1holder".into(),
            month: "2026-12".into(),
            currency: "EUR".into(),
            n_lines: 2,
            total: 3,
            queries: 2,
            bytes: 0,
            lines_sha256: lines_digest([line(1, "a1", 0), line(2, "b2", 3)]),
        }
    }

    fn line(number: u64, event_id: &str, amount: u64) -> DigestLine<'_> {
        DigestLine { number, event_id, query_amount: amount, traffic_amount: 0, amount }
    }

    #[test]
    fn a_statement_note_parses_back_to_itself() {
        let note = note();
        assert_eq!(StatementNote::parse_body(&note.body()), Ok(note));
    }

    #[test]
    fn the_lines_digest_changes_with_any_line() {
        let lines = [line(1, "a1", 0), line(2, "b2", 3), line(3, "c3", 3)];
        let digest = lines_digest(lines);
        let changed = [
            vec![line(1, "a1", 0), line(2, "b2", 3)],
            vec![line(1, "a1", 0), line(2, "c3", 3)],
            vec![line(1, "a1", 0), line(2, "c3", 3), line(3, "b2", 3)],
            vec![line(1, "a1", 0), line(2, "b2", 3), line(3, "c3", 4)],
            vec![line(1, "a1", 0), line(2, "b2", 3), line(3, "c3", 3), line(4, "d4", 3)],
            vec![line(1, "a1", 0), line(2, "b", 3), line(3, "2c3", 3)],
        ];
        for lines in changed {
            assert_ne!(lines_digest(lines.clone()), digest, "{lines:?}");
        }
    }

    #[test]
    fn a_statement_note_is_parsed_strictly() {
        let body = note().body();
        let cases = [
            (
                body.replace("cairn statement v1", "cairn statement v2"),
                "not a \"cairn statement v1\"",
            ),
            (body.replace("lines 2\n", "lines 02\n"), "lines \"02\" is not a decimal number"),
            (body.replace("total 3\n", ""), "the note has 7 fields"),
            (body.replace("total", "sum"), "is not \"total\""),
            (body.replace(&hex::encode(note().lines_sha256), "00"), "is not 64 hex digits"),
            (body.trim_end().to_string(), "does not end in a newline"),
        ];
        for (text, expected) in cases {
            let error = StatementNote::parse_body(&text).unwrap_err();
            assert!(error.contains(expected), "{error} should contain {expected}");
        }
    }
}
