//! Test support shared by the workspace's tests, behind the `testing` feature.
//!
//! - [`support`] is the one place that says where the services the tests need
//!   are (PostgreSQL, a Kafka broker, the `nisshi` and `s3s-fs` binaries), and
//!   the one rule for when one is missing: fail when services are required,
//!   skip loudly otherwise.
//! - [`log_contract`] is the behaviour every [`LedgerLog`](crate::log::LedgerLog)
//!   backend must have, as public functions any backend's tests can run.

pub mod log_contract;
pub mod support;
