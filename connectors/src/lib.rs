//! Adapters of Cairn behind small traits: the ledger log, sources and object stores.
//!
//! The [`log`] module holds the ordered, durable record log the ledger is built
//! on, with an in-memory backend for tests and a crash-safe single-file backend;
//! [`kafka`] puts the same log on a Kafka topic and carries access events.
//! The [`source`] module reads the data of shares: PostgreSQL snapshots and
//! CSV, NDJSON or unstructured files. [`pg_tls`] connects to PostgreSQL over
//! TLS when the connection string asks for it.
//!
//! # Features
//!
//! - `kafka` (default): [`kafka`], on librdkafka.
//! - `pg` (default): the PostgreSQL source `source::pg` and [`pg_tls`], on
//!   tokio-postgres and rustls.
//! - `testing`: `testing`, where the test services are and the ledger-log
//!   contract suite, for tests of this and other crates.
//!
//! Without `kafka` and `pg` the crate is the ledger log and the file source,
//! with no async runtime and no network client.
#![warn(missing_docs)]

mod error;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod log;
#[cfg(feature = "pg")]
pub mod pg_tls;
pub mod source;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{Error, Result};
