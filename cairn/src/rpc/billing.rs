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
use asset_registry::read::Meters as _;
use asset_registry::verify::statement::StatementNote;
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
    /// What accounts, usage and statements are read from: with PostgreSQL
    /// the projection, which meters every node's events.
    pub(crate) reads: crate::node::reads::Reads,
    /// Other nodes' access-event logs from the access-event topic: the
    /// proofs of lines other nodes logged.
    pub(crate) relay: Option<crate::node::access_relay::AccessRelay>,
}

fn projection_error(e: asset_registry::Error) -> Status {
    Status::unavailable(format!("cannot read the billing projection: {e}"))
}

/// A usage row of the projection as a meter counter; a value the projector
/// cannot have written is reported, not read as something else.
fn usage_counter(
    row: asset_registry::rows::UsageRow,
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
        if self.relay.is_none()
            && let Some(line) = statement.lines.iter().find(|line| line.node != node_address)
        {
            return Err(Status::failed_precondition(format!(
                "line {} (access event {}) was logged by node {}, not by this node {node_address}, and this node follows no access-event topic; ask that node for its proofs",
                line.number, line.event_id, line.node
            )));
        }
        let last = statement
            .lines
            .iter()
            .filter(|line| line.node == node_address)
            .map(|line| line.leaf_index)
            .max();
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
            line.proof = Some(match &self.relay {
                // Another node's line: from that node's signed records on
                // the access-event topic, under its own anchor.
                Some(relay) if line.node != node_address => {
                    let owner: anchor_chaincode::Address = line.node.parse().map_err(|e| {
                        Status::internal(format!(
                            "line {} names node {:?}: {e}",
                            line.number, line.node
                        ))
                    })?;
                    crate::rpc::access::prove_relayed(
                        &self.node,
                        relay,
                        &owner,
                        line.leaf_index,
                        tree_size,
                    )
                    .await
                    .map_err(|status| {
                        Status::new(
                            status.code(),
                            format!(
                                "line {} (access event {}): {}",
                                line.number,
                                line.event_id,
                                status.message()
                            ),
                        )
                    })?
                }
                _ => crate::rpc::access::prove_event(
                    &self.node,
                    &self.access,
                    line.leaf_index,
                    tree_size,
                )?,
            });
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
        let pending = self.access.state().meter.reserved(&holder_text);
        let months = self.reads.billing_months(&holder_text).await.map_err(projection_error)?;
        // Saturating: an overflow can only make the balance smaller.
        let charged = asset_registry::billing::sum_saturating(
            months.iter().map(|(_, totals)| totals.charged),
        );
        let source = self.reads.meter_source();
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
        let months = self.reads.billing_months(&holder_text).await.map_err(projection_error)?;
        let counters: Vec<_> = self
            .reads
            .usage(Some(&holder_text))
            .await
            .map_err(projection_error)?
            .into_iter()
            .map(usage_counter)
            .collect::<Result<_, Status>>()?;
        let source = self.reads.meter_source();
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
        let lines =
            self.reads.billing_lines(&holder.to_string(), month).await.map_err(projection_error)?;
        let source = self.reads.meter_source();
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

/// A statement figure that must be exact: an overflow is an error, not a wrapped number.
fn exact_sum(what: &str, values: impl IntoIterator<Item = u64>) -> Result<u64, Status> {
    asset_registry::billing::sum_checked(values).ok_or_else(|| {
        Status::out_of_range(format!("the statement's {what} does not fit in 64 bits"))
    })
}
