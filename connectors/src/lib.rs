//! Adapters of Cairn behind small traits: the ledger log, sources and object stores.
//!
//! The [`log`] module holds the ordered, durable record log the ledger is built
//! on, with an in-memory backend for tests and a crash-safe single-file backend;
//! [`kafka`] puts the same log on a Kafka topic and carries access events.
//! The [`source`] module reads the data of shares: PostgreSQL snapshots and
//! CSV, NDJSON or unstructured files. [`pg_tls`] connects to PostgreSQL over
//! TLS when the connection string asks for it.
#![warn(missing_docs)]

mod error;
pub mod kafka;
pub mod log;
pub mod pg_tls;
pub mod source;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{Error, Result};
