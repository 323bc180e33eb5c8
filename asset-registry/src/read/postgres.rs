//! The read models in PostgreSQL: [`Projections`] answers each port with its
//! own queries (`pg/reads.rs`, `pg/billing.rs`) and is fed by its writers.

use std::future::Future;

use crate::Result;
use crate::audit::AuditFilter;
use crate::billing::{Line, Month, MonthTotals};
use crate::pg::Projections;
use crate::rows::{
    AccessApplied, AccessRecord, BlockChanges, DirectoryEntry, SearchQuery, StoredAccessEvent,
    UsageRow, VersionRow,
};

use super::{AuditLog, Directory, Feed, History, Meters};

impl Directory for Projections {
    fn search(
        &self,
        query: &SearchQuery,
    ) -> impl Future<Output = Result<Vec<DirectoryEntry>>> + Send {
        Projections::search(self, query)
    }
}

impl History for Projections {
    fn history(&self, asset_id: &str) -> impl Future<Output = Result<Vec<VersionRow>>> + Send {
        Projections::history(self, asset_id)
    }
}

impl AuditLog for Projections {
    fn audit(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredAccessEvent>>> + Send {
        Projections::audit(self, filter, limit)
    }
}

impl Meters for Projections {
    fn usage(&self, identity: Option<&str>) -> impl Future<Output = Result<Vec<UsageRow>>> + Send {
        Projections::usage(self, identity)
    }

    fn billing_months(
        &self,
        holder: &str,
    ) -> impl Future<Output = Result<Vec<(Month, MonthTotals)>>> + Send {
        Projections::billing_months(self, holder)
    }

    fn billing_lines(
        &self,
        holder: &str,
        month: Month,
    ) -> impl Future<Output = Result<Vec<Line>>> + Send {
        Projections::billing_lines(self, holder, month)
    }
}

impl Feed for Projections {
    fn apply_blocks(&self, blocks: &[BlockChanges]) -> impl Future<Output = Result<usize>> + Send {
        Projections::apply_blocks(self, blocks)
    }

    fn apply_access(
        &self,
        stream: &str,
        records: &[AccessRecord],
    ) -> impl Future<Output = Result<AccessApplied>> + Send {
        Projections::apply_access(self, stream, records)
    }
}
