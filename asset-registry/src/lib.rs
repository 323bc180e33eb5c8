//! Event-sourced projections of Cairn: the global shared-data directory, the
//! version history, the audit log of access events, and the usage meters and
//! bills.
//!
//! Projections are folds of the ledger log and the access-event log: delete
//! them and they can be rebuilt by replay. In the embedded mode they live in
//! memory and are rebuilt on start; at scale they will live in PostgreSQL.
//!
//! Today: [`audit`], the access event and the audit projection that answers
//! `cairn audit events`. Identity and asset queries are answered straight from
//! the chaincode state.

#![warn(missing_docs)]

pub mod audit;
