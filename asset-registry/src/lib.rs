//! Event-sourced projections of Cairn: the global shared-data directory, the
//! version history, the audit log of access events, and the usage meters and
//! bills.
//!
//! Projections are folds of the ledger log and the access-event log: delete
//! them and they can be rebuilt by replay. In the embedded mode they live in
//! memory and are rebuilt on start; at scale they live in PostgreSQL.
//!
//! - [`audit`]: the access event and the in-memory audit projection that
//!   answers `cairn audit events` in the embedded mode.
//! - [`billing`]: the metering rules (what an access event of an account
//!   holder costs under its plan), the in-memory meter of the embedded mode,
//!   and the recomputation a verifier runs to check a statement offline.
//! - [`rows`]: the row structs every read model takes and answers.
//! - [`fold`]: ledger blocks turned into those rows, with a replica of the
//!   chaincode state; one fold feeds every read model.
//! - [`read`]: the read models as ports (directory, history, audit log,
//!   meters), their in-memory implementation, and, with the `testing`
//!   feature, the contract suite every implementation must pass.
//! - `pg`, behind the default feature `pg`: the PostgreSQL projections
//!   (directory search, version history, audit log, usage meters), written
//!   exactly once by storing each stream's offsets in the same transaction
//!   as the rows, with per-table digests and row diffs for replay checks. It
//!   takes plain row structs, so this crate does not depend on the
//!   chaincode. Without the feature the crate links no PostgreSQL driver,
//!   pool or async runtime.
//! - [`cases`]: the client side of a social-security case: the form checked
//!   against its service's JSON Schema, the facts taken from it, the keyed
//!   person hash, and the offline audit that recomputes every automatic
//!   verdict and the amount.
//! - [`decision`]: the signed decision document, its PDF and QR code.
//! - [`payments`]: ISO 20022 `pain.001` and `pain.008` files of monthly
//!   payments.
//! - [`notify`]: case changes on the ledger mapped to notifications (one per
//!   recipient and channel, with stable ids), the webhook signature, and,
//!   with `pg`, the PostgreSQL outbox written exactly once with the ledger
//!   offset.
//! - [`verify`]: the offline verifiers of proof files, statements and
//!   channel anchors, and the JSON file formats they read; pure functions of
//!   their inputs, for any program that checks Cairn's proofs without a node.

#![warn(missing_docs)]

pub mod audit;
pub mod billing;
pub mod cases;
pub mod decision;
mod error;
pub mod fold;
pub mod notify;
pub mod payments;
#[cfg(feature = "pg")]
pub mod pg;
pub mod read;
pub mod rows;
pub mod verify;

pub use error::{Error, Result};
