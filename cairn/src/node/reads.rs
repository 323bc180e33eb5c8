//! What the read services answer from, behind the read-model ports of
//! `asset_registry::read`: the node's own state (the chaincode state, its
//! access-event log and its meter) or, when the node has one, the
//! PostgreSQL projections of every node's records.
//!
//! The services hold a [`Reads`] and call the ports; only this module knows
//! which of the two answers.

use std::future::Future;

use asset_registry::audit::AuditFilter;
#[cfg(feature = "pg")]
use asset_registry::audit::merge_newest;
use asset_registry::billing::{Line, Month, MonthTotals};
#[cfg(feature = "pg")]
pub(crate) use asset_registry::pg::Projections;
use asset_registry::read::{AuditLog, Directory, Meters, search_rows};
use asset_registry::rows::{DirectoryEntry, SearchQuery, StoredAccessEvent, UsageRow};
use asset_registry::{Result, fold};

use super::Node;
use super::access_log::AccessLog;

/// The PostgreSQL projections: none in a build without the pg feature.
#[cfg(not(feature = "pg"))]
#[derive(Clone, Debug)]
pub(crate) enum Projections {}

#[cfg(not(feature = "pg"))]
impl Projections {
    /// What nodes other than `node` charged `holder`; there is nothing to ask.
    pub(crate) async fn billing_charged_by_others(&self, _: &str, _: &str) -> Result<u64> {
        match *self {}
    }
}

/// The read models of the node's own state.
#[derive(Clone, Debug)]
pub(crate) struct NodeReads {
    node: Node,
    access: AccessLog,
}

impl NodeReads {
    /// Reads `node`'s chaincode state and `access`'s log and meter.
    pub(crate) fn new(node: Node, access: AccessLog) -> NodeReads {
        NodeReads { node, access }
    }
}

/// The directory over the chaincode state, ranked as the PostgreSQL and
/// in-memory read models rank it (`asset_registry::read::search_rows`).
impl Directory for NodeReads {
    fn search(
        &self,
        query: &SearchQuery,
    ) -> impl Future<Output = Result<Vec<DirectoryEntry>>> + Send {
        // The block that last changed an asset is not shown by the directory.
        let rows: Vec<_> =
            self.node.ledger().assets().map(|asset| fold::asset_row(asset, 0)).collect();
        std::future::ready(Ok(search_rows(&rows, query)))
    }
}

/// The audit log of this node's own access events, each at its position in
/// the node's access-event Merkle log.
impl AuditLog for NodeReads {
    fn audit(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredAccessEvent>>> + Send {
        let mut filter = filter.clone();
        if limit != 0 {
            filter.limit = limit;
        }
        let node = self.node.key().address().to_string();
        let state = self.access.state();
        let events = state
            .projection
            .query(&filter)
            .into_iter()
            .map(|event| {
                let offset = state.projection.offset_of(&event.event_id);
                StoredAccessEvent {
                    event: event.clone(),
                    node: node.clone(),
                    leaf_index: offset,
                    partition: 0,
                    offset: offset.and_then(|o| i64::try_from(o).ok()).unwrap_or(-1),
                }
            })
            .collect();
        std::future::ready(Ok(events))
    }
}

/// The meters and bills of this node's meter.
impl Meters for NodeReads {
    fn usage(&self, identity: Option<&str>) -> impl Future<Output = Result<Vec<UsageRow>>> + Send {
        std::future::ready(Ok(self.access.state().meter.usage_rows(identity)))
    }

    fn billing_months(
        &self,
        holder: &str,
    ) -> impl Future<Output = Result<Vec<(Month, MonthTotals)>>> + Send {
        std::future::ready(Ok(self.access.state().meter.months(holder)))
    }

    fn billing_lines(
        &self,
        holder: &str,
        month: Month,
    ) -> impl Future<Output = Result<Vec<Line>>> + Send {
        std::future::ready(Ok(self.access.state().meter.lines(holder, month).to_vec()))
    }
}

/// Where the read services read.
#[derive(Clone, Debug)]
pub(crate) enum Reads {
    /// The node's own state: an embedded node, or a Kafka node without
    /// PostgreSQL.
    Own(NodeReads),
    #[cfg(feature = "pg")]
    /// The PostgreSQL projections, which hold every node's records; the
    /// audit log also holds this node's newest events, not projected yet.
    Projected {
        /// This node's own state.
        own: NodeReads,
        /// The projections.
        projections: Projections,
    },
}

impl Reads {
    /// What the directory answers from, as the API names it.
    pub(crate) fn directory_source(&self) -> &'static str {
        match self {
            Reads::Own(_) => "ledger",
            #[cfg(feature = "pg")]
            Reads::Projected { .. } => "postgres",
        }
    }

    /// What accounts, usage and statements are read from, as the API names it.
    pub(crate) fn meter_source(&self) -> &'static str {
        match self {
            Reads::Own(_) => "memory",
            #[cfg(feature = "pg")]
            Reads::Projected { .. } => "postgres",
        }
    }

    /// The projections, when the node has them.
    pub(crate) fn projections(&self) -> Option<&Projections> {
        match self {
            Reads::Own(_) => None,
            #[cfg(feature = "pg")]
            Reads::Projected { projections, .. } => Some(projections),
        }
    }
}

impl Directory for Reads {
    async fn search(&self, query: &SearchQuery) -> Result<Vec<DirectoryEntry>> {
        match self {
            Reads::Own(own) => own.search(query).await,
            #[cfg(feature = "pg")]
            Reads::Projected { projections, .. } => projections.search(query).await,
        }
    }
}

impl AuditLog for Reads {
    async fn audit(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<StoredAccessEvent>> {
        match self {
            Reads::Own(own) => own.audit(filter, limit).await,
            #[cfg(feature = "pg")]
            Reads::Projected { own, projections } => {
                let limit = if limit == 0 { filter.limit } else { limit };
                let mine = own.audit(filter, limit).await?;
                let projected = projections.audit(filter, limit).await?;
                // Each event once, newest `limit`; an event of this node keeps
                // the position it has in this node's log.
                let newest = merge_newest(
                    mine.iter().map(|stored| stored.event.clone()),
                    projected.iter().map(|stored| stored.event.clone()),
                    limit,
                );
                let mut by_id: std::collections::BTreeMap<String, StoredAccessEvent> = projected
                    .into_iter()
                    .chain(mine)
                    .map(|stored| (stored.event.event_id.clone(), stored))
                    .collect();
                Ok(newest.iter().filter_map(|event| by_id.remove(&event.event_id)).collect())
            }
        }
    }
}

impl Meters for Reads {
    async fn usage(&self, identity: Option<&str>) -> Result<Vec<UsageRow>> {
        match self {
            Reads::Own(own) => own.usage(identity).await,
            #[cfg(feature = "pg")]
            Reads::Projected { projections, .. } => projections.usage(identity).await,
        }
    }

    async fn billing_months(&self, holder: &str) -> Result<Vec<(Month, MonthTotals)>> {
        match self {
            Reads::Own(own) => own.billing_months(holder).await,
            #[cfg(feature = "pg")]
            Reads::Projected { projections, .. } => projections.billing_months(holder).await,
        }
    }

    async fn billing_lines(&self, holder: &str, month: Month) -> Result<Vec<Line>> {
        match self {
            Reads::Own(own) => own.billing_lines(holder, month).await,
            #[cfg(feature = "pg")]
            Reads::Projected { projections, .. } => projections.billing_lines(holder, month).await,
        }
    }
}
