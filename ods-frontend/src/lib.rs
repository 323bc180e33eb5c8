//! The ODS front-end of Cairn: syncing shared rows from a department's
//! business database into its Operational Data Store, the chunk → hash →
//! encrypt pipeline, object-store writes, publishing asset versions through
//! the chaincode, wrapping data keys for authorised requesters, serving data
//! and emitting access events.
//!
//! It runs next to the provider department's database; nothing it handles in
//! plaintext (rows, data keys) reaches the ledger, the logs or `Debug` output.

#![warn(missing_docs)]
