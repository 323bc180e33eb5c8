//! `cairn case`: apply for a social-security service, work a case's steps,
//! decide, pay, and follow, audit and verify cases.
//!
//! Every write is a signed transaction the chaincode checks against the
//! case's service definition and state; every read is a signed request. The
//! form and documents are sealed into the ODS to exactly the case's
//! participants (the applicant and the reviewers the service names) before
//! the application carries their hashes; nothing personal goes to the node.

use std::path::{Path, PathBuf};

use access_control::keys::KeyPair;
use anchor_chaincode::case::{self, CaseAction, NamedHash};
use anchor_chaincode::ledger::CaseRecord;
use anchor_chaincode::service::Service;
use anchor_chaincode::tx;
use anyhow::{Context, bail, format_err};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::cases_client::CasesClient;
use cairn_schemas::v1::ledger_client::LedgerClient;
use clap::{Args, Subcommand};
use ods_frontend::case_docs::Recipient;

use super::rpc::{connect, connect_as, draft, node_info, status, submit};
use super::{NodeArgs, print};

mod audit;
mod payments;
mod write;

#[derive(Subcommand, Debug)]
pub(crate) enum CaseCommand {
    /// Make a consortium person-hash key file (32 random bytes, mode 0600).
    PersonKey {
        /// Where to write it.
        file: PathBuf,
    },
    /// Apply to a service with a form and documents, sealed to the case's participants.
    Apply(write::ApplyArgs),
    /// Supply more material to a submitted or returned case.
    Supply(write::SupplyArgs),
    /// Record the automatic checks: facts from the sealed form and given facts; the chaincode evaluates the rules.
    Check(write::CheckArgs),
    /// Record a review step's outcome.
    Step(write::StepArgs),
    /// Decide: render, sign and seal the decision document, anchor its hash.
    Decide(write::DecideArgs),
    /// Appeal a decision (the applicant, once).
    Appeal(write::ReasonArgs),
    /// Withdraw an undecided case (the applicant).
    Withdraw(write::ReasonArgs),
    /// Close a decided case (the deciding reviewer role).
    Close(write::ReasonArgs),
    /// Write the month's ISO 20022 payment files and record the payments.
    Payments(payments::PaymentsArgs),
    /// Show a case.
    Show(CaseRead),
    /// The caller's cases; with --queue, those waiting for the caller.
    List(ListArgs),
    /// A case's timeline: who (organisation, role) did what, when, why.
    Timeline(CaseRead),
    /// Recompute every automatic verdict and the amount; exit non-zero on any difference.
    Audit(audit::AuditArgs),
    /// Verify a decision file offline (and against the ledger with --key).
    VerifyDecision(audit::VerifyDecisionArgs),
    /// Open a sealed document of a case, checking its anchored hash.
    Fetch(audit::FetchArgs),
}

/// A signed read of one case.
#[derive(Args, Debug)]
pub(crate) struct CaseRead {
    /// The case id.
    case_id: String,
    /// A registered identity's key file.
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    node: NodeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    /// A registered identity's key file.
    #[arg(long)]
    key: PathBuf,
    /// Only the cases waiting for the caller's organisation and reviewer role.
    #[arg(long)]
    queue: bool,
    /// Only this service's cases.
    #[arg(long, default_value = "")]
    service: String,
    /// Only cases in this state.
    #[arg(long, default_value = "")]
    state: String,
    /// Only cases with a step past its deadline (the escalation list).
    #[arg(long)]
    overdue: bool,
    /// Judge the deadlines at this time (RFC 3339) rather than now.
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    as_of: Option<std::time::SystemTime>,
    #[command(flatten)]
    node: NodeArgs,
}

pub(crate) async fn run(command: CaseCommand) -> anyhow::Result<()> {
    match command {
        CaseCommand::PersonKey { file } => {
            let _ = asset_registry::cases::create_person_key(&file).map_err(|e| format_err!(e))?;
            Ok(())
        }
        CaseCommand::Apply(args) => write::apply(args).await,
        CaseCommand::Supply(args) => write::supply(args).await,
        CaseCommand::Check(args) => write::check(args).await,
        CaseCommand::Step(args) => write::step(args).await,
        CaseCommand::Decide(args) => write::decide(args).await,
        CaseCommand::Appeal(args) => {
            let action =
                CaseAction::Appeal { case_id: args.case_id.clone(), reason: args.reason.clone() };
            write::simple(args, action).await
        }
        CaseCommand::Withdraw(args) => {
            let action =
                CaseAction::Withdraw { case_id: args.case_id.clone(), reason: args.reason.clone() };
            write::simple(args, action).await
        }
        CaseCommand::Close(args) => {
            let action =
                CaseAction::Close { case_id: args.case_id.clone(), reason: args.reason.clone() };
            write::simple(args, action).await
        }
        CaseCommand::Payments(args) => payments::run(args).await,
        CaseCommand::Show(args) => show(args, false).await,
        CaseCommand::Timeline(args) => show(args, true).await,
        CaseCommand::List(args) => list(args).await,
        CaseCommand::Audit(args) => audit::audit(args).await,
        CaseCommand::VerifyDecision(args) => audit::verify_decision(args).await,
        CaseCommand::Fetch(args) => audit::fetch(args).await,
    }
}

/// Reads a person-hash key file (64 hex digits).
pub(crate) fn read_person_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    asset_registry::cases::read_person_key(path).map_err(|e| format_err!(e))
}

/// A service version and its parsed definition.
pub(crate) async fn service(
    client: &mut CasesClient<super::rpc::Transport>,
    service_id: &str,
    version: u64,
) -> anyhow::Result<(pb::ServiceView, Service)> {
    let view = client
        .get_service(pb::GetServiceRequest { service_id: service_id.into(), version })
        .await
        .map_err(status)?
        .into_inner();
    // The ledger checked the definition when it was defined.
    let service = Service::parse(view.definition_json.as_bytes(), &|_| true)
        .map_err(|e| format_err!("service {service_id:?}: {e}"))?;
    Ok((view, service))
}

/// A case record.
pub(crate) async fn case_record(
    client: &mut CasesClient<super::rpc::Transport>,
    case_id: &str,
) -> anyhow::Result<(pb::CaseView, CaseRecord)> {
    let view = client
        .get_case(pb::GetCaseRequest { case_id: case_id.into() })
        .await
        .map_err(status)?
        .into_inner();
    let record: CaseRecord = serde_json::from_str(&view.case_json)
        .context("the node answered a case that does not parse")?;
    Ok((view, record))
}

/// The recipients of a case's sealed documents: the applicant and the
/// service's registered participants.
pub(crate) fn recipients(
    view: &pb::ServiceView,
    applicant: Recipient,
) -> anyhow::Result<Vec<Recipient>> {
    let mut recipients = vec![applicant];
    for participant in &view.participants {
        let address =
            participant.address.parse().map_err(|e| format_err!("participant address: {e}"))?;
        let key =
            <[u8; 32]>::try_from(participant.encryption_public_key.as_slice()).map_err(|_| {
                format_err!("participant {} has no 32-byte encryption key", participant.address)
            })?;
        if !recipients.iter().any(|r: &Recipient| r.address == address) {
            recipients.push(Recipient { address, encryption_public_key: key });
        }
    }
    Ok(recipients)
}

/// Signs and submits a case action; returns the response and the transaction.
pub(crate) async fn submit_action(
    node: &NodeArgs,
    pair: &KeyPair,
    action: &CaseAction,
) -> anyhow::Result<pb::SubmitResponse> {
    let mut client = connect::<LedgerClient<_>>(node).await?;
    let info = node_info(&mut client).await?;
    let body = pb::tx_payload::Body::CaseAction(case::to_pb(action));
    let envelope = tx::seal(
        draft(&info.chain_id, body)?.payload(&pair.signing_public_key()),
        pair.signing_key(),
        &[],
    );
    submit(&mut client, envelope).await
}

/// Prints a submitted action's outcome.
pub(crate) fn print_outcome(json: bool, response: &pb::SubmitResponse, extra: serde_json::Value) {
    let receipt: serde_json::Value =
        serde_json::from_str(&response.response_json).unwrap_or_default();
    let mut value = serde_json::json!({
        "tx_id": response.tx_id,
        "block": response.block_number,
        "case_id": receipt["case_id"],
        "state": receipt["state"],
        "action": receipt["action"],
    });
    if let (Some(map), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
        map.extend(extra);
    }
    print(json, &value, || {
        format!(
            "case     {}\naction   {}\nstate    {}\ntx       {} (block {})",
            super::plain(&receipt["case_id"]),
            super::plain(&receipt["action"]),
            super::plain(&receipt["state"]),
            response.tx_id,
            response.block_number
        )
    });
}

/// `NAME=VALUE` pairs.
pub(crate) fn pairs(items: &[String], what: &str) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| format_err!("{what} {item:?} is not NAME=VALUE"))
        })
        .collect()
}

/// Evidence items: `NAME=HEX` (a SHA-256) or `NAME=asset:ASSET_ID@VERSION`
/// (that version's content hash, from the ledger).
pub(crate) async fn evidence(node: &NodeArgs, items: &[String]) -> anyhow::Result<Vec<NamedHash>> {
    let mut out = Vec::new();
    for (name, value) in pairs(items, "evidence")? {
        if let Some(asset) = value.strip_prefix("asset:") {
            let (asset_id, version) = asset
                .rsplit_once('@')
                .ok_or_else(|| format_err!("evidence {name:?}: write asset:ASSET_ID@VERSION"))?;
            let version: u64 =
                version.parse().map_err(|_| format_err!("evidence {name:?}: bad version"))?;
            let mut client = connect::<LedgerClient<_>>(node).await?;
            let asset = client
                .get_asset(pb::GetAssetRequest { asset_id: asset_id.into() })
                .await
                .map_err(status)?
                .into_inner();
            let found = asset
                .versions
                .iter()
                .find(|v| v.version == version)
                .ok_or_else(|| format_err!("asset {asset_id:?} has no version {version}"))?;
            let hash = <[u8; 32]>::try_from(found.content_hash.as_slice())
                .map_err(|_| format_err!("asset {asset_id:?} has a malformed content hash"))?;
            out.push(NamedHash { name, hash, asset_id: asset_id.into(), asset_version: version });
        } else {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(&value, &mut hash).map_err(|_| {
                format_err!("evidence {name:?}: {value:?} is not 64 hex digits or asset:ID@VERSION")
            })?;
            out.push(NamedHash { name, hash, asset_id: String::new(), asset_version: 0 });
        }
    }
    Ok(out)
}

async fn show(args: CaseRead, timeline: bool) -> anyhow::Result<()> {
    let pair = KeyPair::load(&args.key)?;
    let mut client = connect_as::<CasesClient<_>>(&args.node, &pair).await?;
    let (view, record) = case_record(&mut client, &args.case_id).await?;
    if timeline {
        let value = serde_json::json!({ "case_id": record.case_id, "history": record.history });
        print(args.node.json, &value, || {
            let mut text = format!(
                "case {} ({} v{})",
                record.case_id, record.service_id, record.service_version
            );
            for entry in &record.history {
                text.push_str(&format!(
                    "\n{}  {:<9} → {:<10} by {} ({} of {}){}",
                    entry.by.at_ms,
                    entry.action,
                    entry.state.as_str(),
                    entry.by.address,
                    entry.by.role,
                    entry.by.organisation,
                    if entry.reasons.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", entry.reasons.join("; "))
                    }
                ));
            }
            text
        });
        return Ok(());
    }
    let mut value = serde_json::to_value(&record)?;
    if let Some(map) = value.as_object_mut() {
        let _ = map.insert("awaiting".into(), serde_json::json!(view.awaiting));
    }
    print(args.node.json, &value, || {
        let mut text = format!(
            "case      {}\nservice   {} v{}\nstate     {}\napplicant {}\nawaiting  {}",
            record.case_id,
            record.service_id,
            record.service_version,
            record.state.as_str(),
            record.applicant,
            if view.awaiting.is_empty() { "-".to_owned() } else { view.awaiting.join(", ") }
        );
        for verdict in &record.verdicts {
            text.push_str(&format!(
                "\nrule      {} {}",
                verdict.rule,
                if verdict.passed { "passed" } else { "failed" }
            ));
        }
        for step in record.current_steps() {
            text.push_str(&format!(
                "\nstep      {} {} by {}",
                step.step,
                if step.passed { "passed" } else { "failed" },
                step.by.organisation
            ));
        }
        if let Some(decision) = record.last_decision() {
            text.push_str(&format!(
                "\ndecision  {:?}{}",
                decision.outcome,
                decision.amount.map(|a| format!(", {a} minor units a month")).unwrap_or_default()
            ));
        }
        text
    });
    Ok(())
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let pair = KeyPair::load(&args.key)?;
    let mut client = connect_as::<CasesClient<_>>(&args.node, &pair).await?;
    let cases = client
        .list_cases(pb::ListCasesRequest {
            queue: args.queue,
            service_id: args.service,
            state: args.state,
            overdue: args.overdue,
            as_of_ms: args
                .as_of
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        })
        .await
        .map_err(status)?
        .into_inner()
        .cases;
    let value = serde_json::json!({
        "cases": cases.iter().map(|c| serde_json::json!({
            "case_id": c.case_id, "service_id": c.service_id, "service_version": c.service_version,
            "state": c.state, "awaiting": c.awaiting,
            "overdue": c.overdue.iter().map(|o| serde_json::json!({
                "step": o.step, "actor": o.actor, "due": crate::clock::rfc3339(o.due_ms),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    print(args.node.json, &value, || {
        let mut text = format!("{:<36} {:<26} {:<10} awaiting", "case", "service", "state");
        for c in &cases {
            text.push_str(&format!(
                "\n{:<36} {:<26} {:<10} {}",
                c.case_id,
                c.service_id,
                c.state,
                c.awaiting.join(", ")
            ));
            for o in &c.overdue {
                text.push_str(&format!(
                    "\n    overdue: {} by {} since {}",
                    o.step,
                    o.actor,
                    crate::clock::rfc3339(o.due_ms)
                ));
            }
        }
        text
    });
    Ok(())
}

/// Refuses a bad case id early, with the expected shape.
pub(crate) fn check_case_id(case_id: &str) -> anyhow::Result<()> {
    if !(case_id.len() == 34
        && case_id.starts_with("c-")
        && case_id[2..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        bail!("{case_id:?} is not a case id (c- and 32 hex digits)");
    }
    Ok(())
}
