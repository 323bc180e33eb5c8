//! Where the node's answers become gRPC statuses: the billing gate's
//! refusals, a submission's failure, an internal error.

use tonic::Status;

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
