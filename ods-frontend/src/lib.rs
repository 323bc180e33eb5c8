//! The ODS front-end of Cairn: syncing shared rows from a department's
//! business database into its Operational Data Store, the chunk → hash →
//! encrypt pipeline, object-store writes, publishing asset versions through
//! the chaincode, wrapping data keys for authorised requesters, serving data
//! and emitting access events.
//!
//! It runs next to the provider department's database; nothing it handles in
//! plaintext (rows, data keys) reaches the ledger, the logs or `Debug` output.
//!
//! # The encrypted data pipeline
//!
//! - [`aead`]: AES-256-GCM per chunk, with the chunk's position and whether it
//!   is the last bound into its tag; two implementations (`ring`, `aes-gcm`).
//! - [`pipeline`]: streaming, multi-threaded, bounded-memory sealing and
//!   opening, and the content hash (an RFC 6962 root over chunk hashes).
//! - [`format`](mod@format): the sealed object's byte layout.
//! - [`store`]: the write-once object-store port (memory, local directory, S3).
//! - [`transfer`]: the pipeline joined to the store.
//! - [`layout`]: where indexes and key grants live in the store.
//! - [`share`]: share definitions, kept with mode 0600.
//!
//! # The pipelines
//!
//! - [`sync`](mod@sync): publishing a new version of a share (source → sealed
//!   object → version on the ledger → data keys released to the authorised
//!   identities), over the [`sync::Ledger`] and [`sync::Source`] ports.
//! - [`fetch`](mod@fetch): fetching a version one is authorised for and
//!   verifying every chunk against the ledger, over the [`fetch::Node`] port.
//!
//! # Measurements
//!
//! - [`bench`](mod@bench): throughput measurements for `cairn bench ods`.

#![warn(missing_docs)]

pub mod aead;
pub mod bench;
pub mod case_docs;
mod error;
pub mod fetch;
pub mod format;
pub mod header;
pub mod layout;
pub mod pipeline;
pub mod share;
pub mod store;
pub mod sync;
pub mod transfer;

#[cfg(test)]
mod memory;

pub use error::{BoxError, CorruptReason, Error, FormatError, Result, SyncStep};
