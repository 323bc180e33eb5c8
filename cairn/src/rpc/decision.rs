//! Where a decision becomes what the caller and the audit log see: the one
//! constructor of access events ([`Event`]), the method a signed request was
//! checked for ([`CalledMethod`]), and the gRPC statuses of the billing
//! gate's refusals, a submission's failure and an internal error.

use std::time::Instant;

use access_control::request::VerifiedCaller;
use asset_registry::audit::{AccessEvent, Action, Decision};
use tonic::{Request, Status};

use crate::clock::now_ms;
use crate::node::Node;
use crate::node::access_log::{AccessLog, new_event_id};

use crate::node::SubmitError;

use crate::node::gate::{Refusal, Refused};

impl From<Refused> for Status {
    fn from(refused: Refused) -> Status {
        match refused {
            Refused::Refusal { refusal, event_id } => {
                let mut status = Status::resource_exhausted(format!(
                    "{} (access event {event_id})",
                    refusal.reason()
                ));
                if let Refusal::RateLimited { retry_after, .. } = refusal
                    && let Ok(value) = retry_after.as_millis().max(1).to_string().parse()
                {
                    let _ = status.metadata_mut().insert("retry-after-ms", value);
                }
                status
            }
            Refused::Unavailable(message) => Status::unavailable(message),
        }
    }
}

/// The gRPC status of a refused or failed submission.
pub(crate) fn submit_status(error: SubmitError) -> Status {
    match error {
        SubmitError::Rejected(message) => Status::invalid_argument(message),
        SubmitError::Unauthenticated(message) => Status::unauthenticated(message),
        SubmitError::Revoked(message) => Status::permission_denied(message),
        SubmitError::ShuttingDown => Status::unavailable("the node is shutting down"),
        e @ SubmitError::Log(_) => Status::unavailable(e.to_string()),
    }
}

pub(crate) fn internal(error: impl std::fmt::Display) -> Status {
    Status::internal(error.to_string())
}

/// The path a request was sent to (`/cairn.v1.Access/RequestAccess`), put
/// in its extensions by the auth layer; a signed request's signature was
/// checked against it. An access event names the method the caller signed,
/// not one a handler wrote down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CalledMethod(pub(crate) String);

/// The caller of a request that passed the auth layer, and the method it signed.
pub(crate) fn signed_call<T>(request: &Request<T>) -> Result<(VerifiedCaller, String), Status> {
    let missing =
        || Status::unauthenticated("request was not checked: the signed-request layer is missing");
    let caller = request.extensions().get::<VerifiedCaller>().cloned().ok_or_else(missing)?;
    let method = request.extensions().get::<CalledMethod>().ok_or_else(missing)?.0.clone();
    Ok((caller, method))
}

/// Who an access event is about.
#[derive(Debug)]
pub(crate) enum Who<'a> {
    /// A caller whose signed request verified: its envelope is the event's evidence.
    Verified(&'a VerifiedCaller),
    /// A request refused before it authenticated: what it claimed, with no evidence.
    Unproven { identity: String, organisation: String, role: String },
}

/// An access event about to be recorded.
#[derive(Debug)]
pub(crate) struct Event<'a> {
    pub(crate) who: Who<'a>,
    pub(crate) action: Action,
    /// The gRPC method path, empty for a summary of many requests.
    pub(crate) method: String,
    pub(crate) resource: String,
    pub(crate) allowed: bool,
    pub(crate) reason: String,
    /// Bytes served.
    pub(crate) bytes: u64,
    /// When the request arrived, for the event's latency.
    pub(crate) started: Option<Instant>,
}

impl Event<'_> {
    /// The access event, with a fresh id, the time and the node's ledger height.
    pub(crate) fn into_access_event(self, node: &Node) -> AccessEvent {
        let (identity, organisation, role, request) = match self.who {
            Who::Verified(caller) => (
                caller.address.to_string(),
                caller.organisation.clone(),
                caller.role.to_string(),
                caller.envelope.clone(),
            ),
            Who::Unproven { identity, organisation, role } => {
                (identity, organisation, role, Vec::new())
            }
        };
        AccessEvent {
            event_id: new_event_id(),
            time_ms: now_ms(),
            identity,
            organisation,
            role,
            action: self.action,
            resource: self.resource,
            decision: if self.allowed { Decision::Allowed } else { Decision::Denied },
            reason: self.reason,
            bytes: self.bytes,
            latency_us: self.started.map_or(0, |started| started.elapsed().as_micros() as u64),
            method: self.method,
            ledger_height: node.ledger().height(),
            request,
        }
    }
}

/// Records `event` durably; answers its id, or `UNAVAILABLE` when it cannot be recorded.
pub(crate) async fn record(access: &AccessLog, event: AccessEvent) -> Result<String, Status> {
    let event_id = event.event_id.clone();
    let _ = access
        .record(event)
        .await
        .map_err(|e| Status::unavailable(format!("cannot record the access event: {e}")))?;
    Ok(event_id)
}
