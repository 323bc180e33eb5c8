//! The `cairn.v1.Cases` service: signed reads of social-security services
//! and cases from the node's ledger replica.
//!
//! Every call is a signed request, and every answer or refusal an access
//! event (`read_case`). Any registered identity reads the service
//! definitions, which are public rules. A case holds facts about a person
//! (the integers its rules needed), so it is read only by its applicant, by
//! the reviewers whose organisation and reviewer role its service version
//! names, and by auditors; anyone else is refused.

use std::time::Instant;

use access_control::request::VerifiedCaller;
use anchor_chaincode::Role;
use anchor_chaincode::ledger::{
    CaseRecord, Ledger, ServiceVersionRecord, awaiting, open_deadlines, participants,
};
use anchor_chaincode::service::Actor;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::cases_server::Cases;
use tonic::{Request, Response, Status};

use crate::clock::now_ms;
use crate::node::Node;
use crate::node::access_log::AccessLog;
use crate::rpc::decision::{Event, Who, record, signed_call};

/// The `cairn.v1.Cases` service.
#[derive(Clone)]
pub(crate) struct CasesService {
    pub(crate) node: Node,
    pub(crate) access: AccessLog,
}

fn service_view(ledger: &Ledger, record: &ServiceVersionRecord) -> pb::ServiceView {
    let definition = &record.service.definition;
    let groups = participants(&record.service);
    let participants = ledger
        .identities()
        .filter(|i| i.role == Role::Reviewer && i.revoked.is_none())
        .filter(|i| {
            groups.iter().any(|g| g.organisation == i.organisation && g.role == i.reviewer_role)
        })
        .map(|i| pb::Participant {
            address: i.address.to_string(),
            organisation: i.organisation.clone(),
            role: i.reviewer_role.clone(),
            encryption_public_key: i.encryption_public_key.to_vec(),
        })
        .collect();
    pb::ServiceView {
        participants,
        service_id: definition.service_id.clone(),
        version: definition.version,
        title: definition.title.clone(),
        owner: definition.owner.clone(),
        definition_hash: hex::encode(record.definition_hash),
        definition_json: String::from_utf8_lossy(&record.service.definition_bytes).into_owned(),
        block_number: record.block_number,
        tx_id: record.tx_id.to_string(),
    }
}

/// A case as the API shows it, its overdue steps judged at `now_ms`.
fn case_view(ledger: &Ledger, case: &CaseRecord, now_ms: u64) -> pb::CaseView {
    let service = ledger.service_version(&case.service_id, case.service_version);
    let awaiting = service.map(|s| awaiting(&s.service, case)).unwrap_or_default();
    let overdue = service
        .map(|s| open_deadlines(&s.service, case))
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.due_ms < now_ms)
        .map(|d| pb::OverdueStep {
            step: d.step,
            actor: format!("{}/{}", d.actor.organisation, d.actor.role),
            due_ms: d.due_ms,
        })
        .collect();
    pb::CaseView {
        case_id: case.case_id.clone(),
        service_id: case.service_id.clone(),
        service_version: case.service_version,
        state: case.state.as_str().to_owned(),
        applicant: case.applicant.to_string(),
        case_json: serde_json::to_string(case).unwrap_or_default(),
        awaiting: awaiting.iter().map(|a| format!("{}/{}", a.organisation, a.role)).collect(),
        overdue,
    }
}

/// The reviewer group a caller belongs to, if it is a reviewer.
fn actor_of(ledger: &Ledger, caller: &VerifiedCaller) -> Option<Actor> {
    let identity = ledger.identity(&caller.address)?;
    (identity.role == Role::Reviewer && identity.revoked.is_none()).then(|| Actor {
        organisation: identity.organisation.clone(),
        role: identity.reviewer_role.clone(),
    })
}

/// Why the caller may read the case, or `None`.
fn may_read(ledger: &Ledger, caller: &VerifiedCaller, case: &CaseRecord) -> Option<String> {
    if caller.address == case.applicant {
        return Some("the applicant reads their own case".into());
    }
    if caller.role == Role::Auditor {
        return Some(format!("auditors of {:?} read every case", caller.organisation));
    }
    let actor = actor_of(ledger, caller)?;
    let service = ledger.service_version(&case.service_id, case.service_version)?;
    participants(&service.service)
        .contains(&actor)
        .then(|| format!("{actor} takes part in service {:?}", case.service_id))
}

impl CasesService {
    async fn event(
        &self,
        caller: &VerifiedCaller,
        method: &str,
        resource: String,
        allowed: bool,
        reason: String,
        started: Instant,
    ) -> Result<(), Status> {
        let event = Event {
            who: Who::Verified(caller),
            action: asset_registry::audit::Action::ReadCase,
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
            Ok(())
        } else {
            Err(Status::permission_denied(format!("{reason} (access event {event_id})")))
        }
    }
}

#[tonic::async_trait]
impl Cases for CasesService {
    async fn list_services(
        &self,
        request: Request<pb::ListServicesRequest>,
    ) -> Result<Response<pb::ListServicesResponse>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let services: Vec<pb::ServiceView> = {
            let ledger = self.node.ledger();
            ledger
                .services()
                .filter_map(|versions| versions.last())
                .map(|record| service_view(&ledger, record))
                .collect()
        };
        self.event(
            &caller,
            &method,
            "services".into(),
            true,
            "service definitions are public rules".into(),
            started,
        )
        .await?;
        Ok(Response::new(pb::ListServicesResponse { services }))
    }

    async fn get_service(
        &self,
        request: Request<pb::GetServiceRequest>,
    ) -> Result<Response<pb::ServiceView>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let request = request.into_inner();
        let view = {
            let ledger = self.node.ledger();
            let record = if request.version == 0 {
                ledger.service(&request.service_id)
            } else {
                ledger.service_version(&request.service_id, request.version)
            };
            record.map(|record| service_view(&ledger, record))
        };
        let view = view.ok_or_else(|| {
            Status::not_found(format!(
                "no service {:?}{}",
                request.service_id,
                if request.version == 0 {
                    String::new()
                } else {
                    format!(" version {}", request.version)
                }
            ))
        })?;
        self.event(
            &caller,
            &method,
            format!("service:{}", request.service_id),
            true,
            "service definitions are public rules".into(),
            started,
        )
        .await?;
        Ok(Response::new(view))
    }

    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::CaseView>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let case_id = request.into_inner().case_id;
        let (view, reason) = {
            let ledger = self.node.ledger();
            match ledger.case(&case_id) {
                None => (None, None),
                Some(case) => {
                    (Some(case_view(&ledger, case, now_ms())), may_read(&ledger, &caller, case))
                }
            }
        };
        let Some(view) = view else {
            return Err(Status::not_found(format!("no case {case_id:?}")));
        };
        let resource = format!("case:{case_id}");
        match reason {
            Some(reason) => {
                self.event(&caller, &method, resource, true, reason, started).await?;
                Ok(Response::new(view))
            }
            None => {
                let reason = format!(
                    "only the applicant, the reviewers service {:?} names and auditors read case {case_id}",
                    view.service_id
                );
                let refusal = self.event(&caller, &method, resource, false, reason, started).await;
                Err(refusal.err().unwrap_or_else(|| Status::permission_denied("refused")))
            }
        }
    }

    async fn list_cases(
        &self,
        request: Request<pb::ListCasesRequest>,
    ) -> Result<Response<pb::ListCasesResponse>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let request = request.into_inner();
        let as_of_ms = if request.as_of_ms == 0 { now_ms() } else { request.as_of_ms };
        let cases: Vec<pb::CaseView> = {
            let ledger = self.node.ledger();
            let actor = actor_of(&ledger, &caller);
            ledger
                .cases()
                .filter(|case| {
                    request.service_id.is_empty() || case.service_id == request.service_id
                })
                .filter(|case| request.state.is_empty() || case.state.as_str() == request.state)
                .filter(|case| {
                    let Some(service) =
                        ledger.service_version(&case.service_id, case.service_version)
                    else {
                        return false;
                    };
                    if request.queue {
                        return actor
                            .as_ref()
                            .is_some_and(|a| awaiting(&service.service, case).contains(a));
                    }
                    may_read(&ledger, &caller, case).is_some()
                })
                .map(|case| case_view(&ledger, case, as_of_ms))
                .filter(|view| !request.overdue || !view.overdue.is_empty())
                .collect()
        };
        self.event(
            &caller,
            &method,
            match (request.queue, request.overdue) {
                (true, _) => "cases:queue".into(),
                (false, true) => "cases:overdue".into(),
                (false, false) => "cases".into(),
            },
            true,
            "each caller lists only the cases it may read".into(),
            started,
        )
        .await?;
        Ok(Response::new(pb::ListCasesResponse { cases }))
    }
}
