//! The read models as ports: what a node answers about the directory, the
//! version history, the audit log and the meters, whichever store holds them.
//!
//! Each read model is a narrow trait: [`Directory`], [`History`],
//! [`AuditLog`] and [`Meters`]; [`ReadModels`] is all four. They are fed
//! through [`Feed`] with the same inputs whatever the store: the
//! [`BlockChanges`] of [`crate::fold`] and the [`AccessRecord`]s of the
//! access-event stream. Two implementations exist:
//!
//! - [`memory::MemoryReadModels`]: ordered maps in memory, for the embedded
//!   mode and for tests;
//! - `pg::Projections` (with the `pg` feature): the PostgreSQL projections.
//!
//! The contract suite `read::contract` (with the `testing` feature) feeds an
//! implementation a generated stream and checks its answers; every
//! implementation runs it, and a test feeds both the same stream and
//! compares their answers query by query.
//!
//! The methods return `Send` futures, so a gRPC handler can await them. The
//! traits are not object safe (their futures are not boxed); write generic
//! code, or hold an `Arc<T>`, which implements them too.
//!
//! ```
//! # async fn example() -> asset_registry::Result<()> {
//! use asset_registry::read::memory::MemoryReadModels;
//! use asset_registry::read::{Directory, History};
//! use asset_registry::rows::SearchQuery;
//!
//! let read_models = MemoryReadModels::default();
//! let found = read_models.search(&SearchQuery::default()).await?;
//! assert!(found.is_empty());
//! assert!(read_models.history("health/clinics").await?.is_empty());
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(example()).unwrap();
//! ```

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::Result;
use crate::audit::AuditFilter;
use crate::billing::{Line, Month, MonthTotals};
use crate::rows::{
    AccessApplied, AccessRecord, BlockChanges, DirectoryEntry, SearchQuery, StoredAccessEvent,
    UsageRow, VersionRow,
};

#[cfg(any(test, feature = "testing"))]
pub mod contract;
pub mod memory;
pub use memory::search_rows;
#[cfg(feature = "pg")]
mod postgres;
mod text;

/// The shared-data directory.
pub trait Directory: Send + Sync + fmt::Debug + 'static {
    /// The assets that match `query`, at most [`SearchQuery::effective_limit`]:
    /// every asset when the text is empty; otherwise those whose name and
    /// description hold every word of the text (words are letters and
    /// digits, compared without case) or whose asset id holds the text as a
    /// substring, without case.
    ///
    /// Ordered by [`DirectoryEntry::rank`], best first, then by asset id
    /// (bytewise). The rank is PostgreSQL's `ts_rank` with default weights,
    /// names weighing A and descriptions B; 0 for an empty text.
    fn search(
        &self,
        query: &SearchQuery,
    ) -> impl Future<Output = Result<Vec<DirectoryEntry>>> + Send;
}

/// The version history of assets.
pub trait History: Send + Sync + fmt::Debug + 'static {
    /// Every published version of `asset_id`, oldest first; empty for an
    /// unknown asset.
    fn history(&self, asset_id: &str) -> impl Future<Output = Result<Vec<VersionRow>>> + Send;
}

/// The audit log of access events.
pub trait AuditLog: Send + Sync + fmt::Debug + 'static {
    /// The newest events that match `filter`, oldest first: at most `limit`,
    /// or `filter.limit` when `limit` is 0, or all when both are 0. Newest
    /// means by event time, then partition, then offset. An event logged
    /// twice is answered once, as first applied.
    fn audit(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredAccessEvent>>> + Send;
}

/// The usage meters and the bills of account holders.
pub trait Meters: Send + Sync + fmt::Debug + 'static {
    /// The usage meters, of one identity or of all, ordered by identity,
    /// action and decision (bytewise).
    fn usage(&self, identity: Option<&str>) -> impl Future<Output = Result<Vec<UsageRow>>> + Send;

    /// A holder's monthly totals, oldest month first.
    fn billing_months(
        &self,
        holder: &str,
    ) -> impl Future<Output = Result<Vec<(Month, MonthTotals)>>> + Send;

    /// A holder's statement lines of one month, in metering order.
    fn billing_lines(
        &self,
        holder: &str,
        month: Month,
    ) -> impl Future<Output = Result<Vec<Line>>> + Send;
}

/// Every read model.
pub trait ReadModels: Directory + History + AuditLog + Meters {}

impl<T: Directory + History + AuditLog + Meters> ReadModels for T {}

/// How read models are fed: the rows of ledger blocks and the records of an
/// access-event stream, each applied exactly once.
pub trait Feed: Send + Sync + fmt::Debug + 'static {
    /// Applies consecutive blocks (by log offset); blocks applied before are
    /// skipped and a batch that would leave a gap is refused. Answers how
    /// many blocks were new.
    fn apply_blocks(&self, blocks: &[BlockChanges]) -> impl Future<Output = Result<usize>> + Send;

    /// Applies records of the access-event stream `stream`: records below
    /// their partition's next offset are skipped, events are stored once by
    /// id, metered into usage, and those of account holders billed with the
    /// plan at the event's ledger height. The ledger must have reached that
    /// height, or nothing is applied.
    fn apply_access(
        &self,
        stream: &str,
        records: &[AccessRecord],
    ) -> impl Future<Output = Result<AccessApplied>> + Send;
}

impl<T: Directory> Directory for Arc<T> {
    fn search(
        &self,
        query: &SearchQuery,
    ) -> impl Future<Output = Result<Vec<DirectoryEntry>>> + Send {
        T::search(self, query)
    }
}

impl<T: History> History for Arc<T> {
    fn history(&self, asset_id: &str) -> impl Future<Output = Result<Vec<VersionRow>>> + Send {
        T::history(self, asset_id)
    }
}

impl<T: AuditLog> AuditLog for Arc<T> {
    fn audit(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredAccessEvent>>> + Send {
        T::audit(self, filter, limit)
    }
}

impl<T: Meters> Meters for Arc<T> {
    fn usage(&self, identity: Option<&str>) -> impl Future<Output = Result<Vec<UsageRow>>> + Send {
        T::usage(self, identity)
    }

    fn billing_months(
        &self,
        holder: &str,
    ) -> impl Future<Output = Result<Vec<(Month, MonthTotals)>>> + Send {
        T::billing_months(self, holder)
    }

    fn billing_lines(
        &self,
        holder: &str,
        month: Month,
    ) -> impl Future<Output = Result<Vec<Line>>> + Send {
        T::billing_lines(self, holder, month)
    }
}

impl<T: Feed> Feed for Arc<T> {
    fn apply_blocks(&self, blocks: &[BlockChanges]) -> impl Future<Output = Result<usize>> + Send {
        T::apply_blocks(self, blocks)
    }

    fn apply_access(
        &self,
        stream: &str,
        records: &[AccessRecord],
    ) -> impl Future<Output = Result<AccessApplied>> + Send {
        T::apply_access(self, stream, records)
    }
}
