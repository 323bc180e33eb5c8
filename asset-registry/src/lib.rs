//! Event-sourced projections of Cairn: the global shared-data directory, the
//! version history, the audit log of access events, and the usage meters and
//! bills.
//!
//! Projections are folds of the ledger log and the access-event log: delete
//! them and they can be rebuilt by replay. In the embedded mode they live in
//! memory and are rebuilt on start; at scale they live in PostgreSQL.
//!
//! Today the embedded node answers identity and asset queries straight from
//! the chaincode state; the projections of this crate arrive with the access
//! events and the scale-out mode.

#![warn(missing_docs)]
