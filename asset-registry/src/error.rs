//! The error type of asset-registry.

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in asset-registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An access event names an action this build does not know.
    #[error(
        "unknown access-event action {action:?}; expected one of verify, verify_certificate, request_data, read_audit, read_bills, unauthenticated_refusals, unknown, verify_data_hash"
    )]
    UnknownAction {
        /// The action that was given.
        action: String,
    },
}
