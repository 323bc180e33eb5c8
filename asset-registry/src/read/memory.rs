//! The read models in memory: ordered maps fed like the PostgreSQL
//! projections and answering like them.
//!
//! [`MemoryReadModels`] keeps one map per table of `pg` that a read model
//! answers from or bills with (assets, versions, plans, access events,
//! usage, monthly totals and statement lines) and the next offset of each
//! stream partition, behind one lock; blocks, transactions and identities
//! are not kept, as no port reads them. Applying a
//! batch checks it whole before changing anything, so a refused batch
//! leaves the models as they were, as a rolled-back transaction would.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use crate::audit::AuditFilter;
use crate::billing::{self, Line, Month, MonthTotals, Tariff, TariffPeriod};
use crate::rows::{
    AccessApplied, AccessRecord, AccountRow, AssetRow, BlockChanges, DirectoryEntry, SearchQuery,
    StoredAccessEvent, UsageRow, VersionRow,
};
use crate::{Error, Result};

use super::text::{Document, lexemes};
use super::{AuditLog, Directory, Feed, History, Meters};

/// The stream name under which ledger offsets are kept (as in `pg`).
const LEDGER_STREAM: &str = "ledger";

/// The read models in memory. Cheap to create; share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryReadModels {
    tables: Mutex<Tables>,
}

/// An asset with its search document.
#[derive(Debug)]
struct IndexedAsset {
    row: AssetRow,
    document: Document,
}

#[derive(Debug, Default)]
struct Tables {
    /// The next ledger offset.
    ledger_next: u64,
    /// The highest block number applied, if any.
    height: Option<u64>,
    assets: BTreeMap<String, IndexedAsset>,
    versions: BTreeMap<(String, u64), VersionRow>,
    /// Plans by holder and first height (inserted once each).
    plans: BTreeMap<String, BTreeMap<u64, Tariff>>,
    /// Next offset by stream and partition.
    access_next: BTreeMap<(String, i32), i64>,
    events: BTreeMap<String, StoredAccessEvent>,
    usage: BTreeMap<(String, String, String), (i64, i64)>,
    months: BTreeMap<(String, Month), MonthTotals>,
    lines: BTreeMap<(String, Month), Vec<Line>>,
}

impl MemoryReadModels {
    /// Empty read models.
    pub fn new() -> MemoryReadModels {
        MemoryReadModels::default()
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // A panic while the lock was held left no half-applied batch: every
        // batch is checked before it changes anything.
        self.tables.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies consecutive blocks; see [`Feed::apply_blocks`].
    pub fn apply_blocks_now(&self, blocks: &[BlockChanges]) -> Result<usize> {
        let Some(first) = blocks.first() else { return Ok(0) };
        for (block_idx, changes) in blocks.iter().enumerate() {
            if first.block.log_offset.checked_add(block_idx as u64)
                != Some(changes.block.log_offset)
            {
                return Err(Error::BadBatch {
                    stream: LEDGER_STREAM.into(),
                    partition: 0,
                    message: format!(
                        "block {} has log offset {} but follows offset {} at position {block_idx}; blocks must be consecutive",
                        changes.block.number, changes.block.log_offset, first.block.log_offset
                    ),
                });
            }
        }
        let mut tables = self.tables();
        let stored = tables.ledger_next;
        if stored < first.block.log_offset {
            return Err(Error::OffsetGap {
                stream: LEDGER_STREAM.into(),
                partition: 0,
                stored: i64::try_from(stored).unwrap_or(i64::MAX),
                first: i64::try_from(first.block.log_offset).unwrap_or(i64::MAX),
            });
        }
        let skip = usize::try_from(stored - first.block.log_offset).unwrap_or(usize::MAX);
        let Some(fresh) = blocks.get(skip..).filter(|fresh| !fresh.is_empty()) else {
            return Ok(0);
        };
        for changes in fresh {
            tables.apply_block(changes);
        }
        if let Some(last) = fresh.last() {
            tables.ledger_next = last.block.log_offset + 1;
        }
        Ok(fresh.len())
    }

    /// Applies access records; see [`Feed::apply_access`].
    pub fn apply_access_now(
        &self,
        stream: &str,
        records: &[AccessRecord],
    ) -> Result<AccessApplied> {
        if stream == LEDGER_STREAM {
            return Err(Error::ReservedStream { stream: stream.into() });
        }
        if records.is_empty() {
            return Ok(AccessApplied::default());
        }
        if let Some(record) = records.iter().find(|r| r.partition < 0 || r.offset < 0) {
            return Err(Error::BadBatch {
                stream: stream.into(),
                partition: record.partition,
                message: format!(
                    "record at offset {} of partition {}: partitions and offsets cannot be negative",
                    record.offset, record.partition
                ),
            });
        }
        let mut tables = self.tables();
        let next_of = |tables: &Tables, partition: i32| {
            tables.access_next.get(&(stream.to_owned(), partition)).copied().unwrap_or(0)
        };
        let mut fresh: Vec<&AccessRecord> =
            records.iter().filter(|r| r.offset >= next_of(&tables, r.partition)).collect();
        let already_applied = records.len() - fresh.len();
        if fresh.is_empty() {
            return Ok(AccessApplied { already_applied, ..AccessApplied::default() });
        }
        fresh.sort_by_key(|record| (record.partition, record.offset));
        let mut next: BTreeMap<i32, i64> = BTreeMap::new();
        for record in &fresh {
            let after = record.offset.checked_add(1).ok_or(Error::OutOfRange {
                column: "stream_offsets.next_offset",
                value: record.offset.unsigned_abs() + 1,
            })?;
            let entry = next.entry(record.partition).or_insert(after);
            *entry = (*entry).max(after);
        }
        let n_fresh = fresh.len();
        let mut seen = BTreeSet::new();
        fresh.retain(|r| {
            seen.insert(r.event.event_id.as_str()) && !tables.events.contains_key(&r.event.event_id)
        });
        let duplicates = n_fresh - fresh.len();
        if let Some(needed) = fresh
            .iter()
            .filter(|r| billing::billable(&r.event).is_some())
            .map(|r| r.event.ledger_height)
            .max()
        {
            let projected = tables.height.unwrap_or(0);
            if projected < needed {
                return Err(Error::LedgerBehind { schema: "memory".into(), needed, projected });
            }
        }
        for record in &fresh {
            let event = &record.event;
            let key = (
                event.identity.clone(),
                event.action.as_str().to_owned(),
                event.decision.as_str().to_owned(),
            );
            let bytes = i64::try_from(event.bytes)
                .map_err(|_| Error::OutOfRange { column: "usage.bytes", value: event.bytes })?;
            let meter = tables.usage.entry(key).or_insert((0, 0));
            meter.0 += 1;
            meter.1 = meter
                .1
                .checked_add(bytes)
                .ok_or(Error::OutOfRange { column: "usage.bytes", value: event.bytes })?;
        }
        // As in `pg`: when a batch bills anything, every month of a holder
        // with a plan that a billable event of the batch falls in is listed,
        // with zero totals if none of those events made a line.
        let mut touched = BTreeSet::new();
        let mut billed = 0;
        for record in &fresh {
            let event = &record.event;
            if billing::billable(event).is_some() && tables.plans.contains_key(&event.identity) {
                let _ = touched.insert((event.identity.clone(), Month::of_ms(event.time_ms)));
            }
            if tables.bill(record) {
                billed += 1;
            }
            let _ = tables.events.insert(
                record.event.event_id.clone(),
                StoredAccessEvent {
                    event: crate::audit::AccessEvent {
                        request: Vec::new(),
                        ..record.event.clone()
                    },
                    node: record.node.clone(),
                    leaf_index: record.leaf_index,
                    partition: record.partition,
                    offset: record.offset,
                },
            );
        }
        if billed > 0 {
            for key in touched {
                let _ = tables.months.entry(key).or_default();
            }
        }
        for (partition, after) in next {
            let _ = tables.access_next.insert((stream.to_owned(), partition), after);
        }
        Ok(AccessApplied { applied: fresh.len(), duplicates, already_applied, billed })
    }
}

impl Tables {
    fn apply_block(&mut self, changes: &BlockChanges) {
        self.height =
            Some(self.height.map_or(changes.block.number, |h| h.max(changes.block.number)));
        for asset in &changes.assets {
            let document = Document::of(&asset.name, &asset.description);
            let _ = self
                .assets
                .insert(asset.asset_id.clone(), IndexedAsset { row: asset.clone(), document });
        }
        for version in &changes.versions {
            let _ = self
                .versions
                .entry((version.asset_id.clone(), version.version))
                .or_insert_with(|| version.clone());
        }
        for AccountRow { holder, plans, .. } in &changes.accounts {
            let holder_plans = self.plans.entry(holder.clone()).or_default();
            for plan in plans {
                let _ = holder_plans.entry(plan.from_height).or_insert_with(|| plan.tariff.clone());
            }
        }
    }

    /// Meters a record into its holder's statement; whether it made a line.
    fn bill(&mut self, record: &AccessRecord) -> bool {
        let event = &record.event;
        let Some(plans) = self.plans.get(&event.identity) else { return false };
        let periods: Vec<TariffPeriod> = plans
            .iter()
            .map(|(from_height, tariff)| TariffPeriod {
                from_height: *from_height,
                tariff: tariff.clone(),
            })
            .collect();
        let key = (event.identity.clone(), Month::of_ms(event.time_ms));
        let totals = self.months.get(&key).copied().unwrap_or_default();
        let Some(line) =
            billing::meter(event, &record.node, record.leaf_index.unwrap_or(0), &periods, &totals)
        else {
            return false;
        };
        let totals = self.months.entry(key.clone()).or_default();
        totals.add(line.units, line.charge.amount);
        self.lines.entry(key).or_default().push(line);
        true
    }
}

impl Feed for MemoryReadModels {
    fn apply_blocks(&self, blocks: &[BlockChanges]) -> impl Future<Output = Result<usize>> + Send {
        std::future::ready(self.apply_blocks_now(blocks))
    }

    fn apply_access(
        &self,
        stream: &str,
        records: &[AccessRecord],
    ) -> impl Future<Output = Result<AccessApplied>> + Send {
        std::future::ready(self.apply_access_now(stream, records))
    }
}

impl Directory for MemoryReadModels {
    fn search(
        &self,
        query: &SearchQuery,
    ) -> impl Future<Output = Result<Vec<DirectoryEntry>>> + Send {
        let tables = self.tables();
        let found =
            ranked(tables.assets.values().map(|asset| (&asset.row, &asset.document)), query);
        drop(tables);
        std::future::ready(Ok(found))
    }
}

/// Searches asset rows as the directory does, with no index: the answer of
/// [`Directory::search`] over read models that hold exactly `rows`. The
/// embedded node's directory, which reads the chaincode state, uses it.
pub fn search_rows(rows: &[AssetRow], query: &SearchQuery) -> Vec<DirectoryEntry> {
    let documents: Vec<Document> =
        rows.iter().map(|row| Document::of(&row.name, &row.description)).collect();
    ranked(rows.iter().zip(&documents), query)
}

/// The entries among `assets` (in asset id order) that match `query`, best
/// ranked first, equal ranks in asset id order.
fn ranked<'a>(
    assets: impl Iterator<Item = (&'a AssetRow, &'a Document)>,
    query: &SearchQuery,
) -> Vec<DirectoryEntry> {
    let text = query.text.trim();
    let words = lexemes(text);
    let id_part = text.to_lowercase();
    let mut found: Vec<DirectoryEntry> = assets
        .filter(|(row, document)| {
            query.owner_organisation.as_ref().is_none_or(|o| *o == row.owner_organisation)
                && query.data_type.as_ref().is_none_or(|t| *t == row.data_type)
                && (text.is_empty()
                    || document.matches(&words)
                    || row.asset_id.to_lowercase().contains(&id_part))
        })
        .map(|(row, document)| DirectoryEntry {
            asset_id: row.asset_id.clone(),
            owner_organisation: row.owner_organisation.clone(),
            owner_address: row.owner_address.clone(),
            data_type: row.data_type.clone(),
            name: row.name.clone(),
            description: row.description.clone(),
            latest_version: row.latest_version,
            authorised_count: row.authorised.len(),
            rank: if text.is_empty() { 0.0 } else { document.rank(&words) },
        })
        .collect();
    // Stable: equal ranks keep asset id order.
    found.sort_by(|a, b| b.rank.total_cmp(&a.rank));
    found.truncate(query.effective_limit());
    found
}

impl History for MemoryReadModels {
    fn history(&self, asset_id: &str) -> impl Future<Output = Result<Vec<VersionRow>>> + Send {
        let tables = self.tables();
        let versions = tables
            .versions
            .range((asset_id.to_owned(), 0)..=(asset_id.to_owned(), u64::MAX))
            .map(|(_, version)| version.clone())
            .collect();
        std::future::ready(Ok(versions))
    }
}

impl AuditLog for MemoryReadModels {
    fn audit(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredAccessEvent>>> + Send {
        let limit = match (limit, filter.limit) {
            (0, 0) => usize::MAX,
            (0, limit) | (limit, _) => limit,
        };
        let tables = self.tables();
        let mut events: Vec<&StoredAccessEvent> = tables
            .events
            .values()
            .filter(|stored| {
                let event = &stored.event;
                filter.identity.as_ref().is_none_or(|identity| event.identity == *identity)
                    && filter
                        .asset_id
                        .as_ref()
                        .is_none_or(|asset| event.asset_id() == Some(asset.as_str()))
                    && filter.since_ms.is_none_or(|since| event.time_ms >= since)
                    && filter.decision.is_none_or(|decision| event.decision == decision)
            })
            .collect();
        events.sort_by_key(|stored| (stored.event.time_ms, stored.partition, stored.offset));
        let skip = events.len().saturating_sub(limit);
        let newest = events[skip..].iter().map(|stored| (*stored).clone()).collect();
        std::future::ready(Ok(newest))
    }
}

impl Meters for MemoryReadModels {
    fn usage(&self, identity: Option<&str>) -> impl Future<Output = Result<Vec<UsageRow>>> + Send {
        let tables = self.tables();
        let rows = tables
            .usage
            .iter()
            .filter(|((row_identity, _, _), _)| identity.is_none_or(|i| i == row_identity))
            .map(|((identity, action, decision), (events, bytes))| UsageRow {
                identity: identity.clone(),
                action: action.clone(),
                decision: decision.clone(),
                events: *events,
                bytes: *bytes,
            })
            .collect();
        std::future::ready(Ok(rows))
    }

    fn billing_months(
        &self,
        holder: &str,
    ) -> impl Future<Output = Result<Vec<(Month, MonthTotals)>>> + Send {
        let tables = self.tables();
        let months = tables
            .months
            .range((holder.to_owned(), Month(0))..=(holder.to_owned(), Month(u32::MAX)))
            .map(|((_, month), totals)| (*month, *totals))
            .collect();
        std::future::ready(Ok(months))
    }

    fn billing_lines(
        &self,
        holder: &str,
        month: Month,
    ) -> impl Future<Output = Result<Vec<Line>>> + Send {
        let tables = self.tables();
        let lines = tables.lines.get(&(holder.to_owned(), month)).cloned().unwrap_or_default();
        std::future::ready(Ok(lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::contract;

    #[tokio::test]
    async fn passes_the_contract() {
        contract::run(&MemoryReadModels::new(), &contract::stream::stream()).await;
    }

    /// A directory with no index, over rows as the chaincode state gives them.
    #[derive(Debug)]
    struct Rows(Vec<AssetRow>);

    impl Directory for Rows {
        fn search(
            &self,
            query: &SearchQuery,
        ) -> impl Future<Output = Result<Vec<DirectoryEntry>>> + Send {
            std::future::ready(Ok(search_rows(&self.0, query)))
        }
    }

    #[tokio::test]
    async fn searching_rows_without_an_index_passes_the_directory_contract() {
        let stream = contract::stream::stream();
        contract::directory(&Rows(stream.assets.values().cloned().collect()), &stream).await;
    }

    #[tokio::test]
    async fn a_batch_the_ledger_has_not_reached_is_refused_whole() {
        let stream = contract::stream::stream();
        let read_models = MemoryReadModels::new();
        let _ = read_models.apply_blocks_now(&stream.blocks[..2]).unwrap();
        let refused = read_models
            .apply_access_now(contract::stream::ACCESS_STREAM, &stream.access_batches[3]);
        assert!(matches!(refused, Err(Error::LedgerBehind { .. })), "{refused:?}");
        assert!(read_models.usage(None).await.unwrap().is_empty());
        assert!(read_models.audit(&AuditFilter::default(), 0).await.unwrap().is_empty());
    }
}
