//! Adapters of Cairn behind small traits: the ledger log, sources and object stores.
//!
//! The [`log`] module holds the ordered, durable record log the ledger is built
//! on, with an in-memory backend for tests and a crash-safe single-file backend.
#![warn(missing_docs)]

mod error;
pub mod log;

pub use error::{Error, Result};
