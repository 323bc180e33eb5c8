//! Where a decision becomes what the caller and the audit log see: the
//! billing gate's refusals as gRPC statuses.

use tonic::Status;

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
