//! Sources: where the data of a share comes from.
//!
//! A source turns a share definition into a byte stream for the publishing
//! pipeline (chunk, hash, encrypt) without ever holding the whole data in
//! memory:
//!
//! - `pg` (feature `pg`) streams a consistent snapshot of a PostgreSQL table or query, in
//!   full or incrementally past a watermark, as CSV or NDJSON, into a
//!   `tokio::io::AsyncWrite`;
//! - [`file`](mod@file) inspects and validates a CSV, NDJSON or unstructured file with
//!   bounded memory; the pipeline then reads the file's bytes itself, unchanged.
//!
//! # Connecting a source to the pipeline
//!
//! The pipeline reads a [`std::io::Read`] on its own threads. For a
//! PostgreSQL snapshot, give `pg::snapshot` one end of
//! `tokio::io::duplex` and let the pipeline read the other end through
//! `tokio_util::io::SyncIoBridge` on a blocking thread: the duplex buffer
//! bounds the memory in flight, and a slow reader slows the `COPY` down
//! instead of queueing data.
//!
//! The reader sees end-of-stream both when the snapshot is complete and when
//! it failed half-way (the writer is dropped either way). Only the result of
//! `pg::snapshot` says which: on `Err`, whatever was read is incomplete and
//! must be discarded, and nothing is published.

pub mod file;
#[cfg(feature = "pg")]
pub mod pg;
