//! The access-event stream: records binary-copied into `access_events`,
//! deduplicated by event id, metered into `usage` and the statements, with
//! each partition's offset stored in the same transaction.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures_util::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::billing::{UsageTotals, meter_billable};
use super::replay::lock_offsets;
use super::{
    AccessApplied, AccessRecord, Error, Projections, Result, check_access_stream, get, opt_to_i64,
    relaxed_commit, sql, to_i64,
};

/// The column types of the access batch, in `COPY` order.
pub(super) const ACCESS_COPY_TYPES: [Type; 17] = [
    Type::TEXT, // event_id
    Type::TEXT, // node
    Type::INT8, // leaf_index
    Type::INT4, // partition
    Type::INT8, // offset
    Type::INT8, // time_ms
    Type::TEXT, // identity
    Type::TEXT, // organisation
    Type::TEXT, // role
    Type::TEXT, // action
    Type::TEXT, // resource
    Type::TEXT, // decision
    Type::TEXT, // reason
    Type::INT8, // bytes
    Type::INT8, // latency_us
    Type::TEXT, // method
    Type::INT8, // ledger_height
];

impl Projections {
    /// The next offset of every partition of `stream` that has one.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn access_next_offsets(&self, stream: &str) -> Result<BTreeMap<i32, i64>> {
        check_access_stream(stream)?;
        self.offsets_of(stream).await
    }

    /// Applies access records from one or more partitions of `stream` in one
    /// transaction.
    ///
    /// The offset rows of the partitions involved are locked (created at 0
    /// when missing). Records below their partition's stored next offset are
    /// skipped as already applied. The rest are deduplicated by event id,
    /// keeping the first by (partition, offset), and stored; an event already
    /// in `access_events` (a producer retry) is not stored or metered again.
    /// Only the events actually inserted are added to `usage`. Each
    /// partition's next offset becomes its highest offset in the batch plus
    /// one. Kafka offsets may have gaps, so none is checked here.
    ///
    /// The rows are binary-copied straight into `access_events`, which is as
    /// fast as the server can take them. If an event of the batch is already
    /// stored, that copy fails on the primary key; the transaction is then
    /// rolled back and the batch applied again by merging: binary copy into a
    /// session temporary table, then `INSERT … ON CONFLICT (event_id) DO
    /// NOTHING RETURNING …`, metering what it returns.
    ///
    /// An event logged twice in *different* partitions keeps the row of
    /// whichever record is applied first. Two projectors applying such
    /// events at the same time may deadlock; the server then aborts one with
    /// [`Error::Query`] code `40P01`, and applying that batch again is safe.
    #[tracing::instrument(
        skip_all,
        fields(schema = %self.schema, stream = %stream, n_records = records.len())
    )]
    pub async fn apply_access(
        &self,
        stream: &str,
        records: &[AccessRecord],
    ) -> Result<AccessApplied> {
        check_access_stream(stream)?;
        if records.is_empty() {
            return Ok(AccessApplied::default());
        }
        for record in records {
            if record.partition < 0 || record.offset < 0 {
                return Err(Error::BadBatch {
                    stream: stream.into(),
                    partition: record.partition,
                    message: format!(
                        "record at offset {} of partition {}: partitions and offsets cannot be negative",
                        record.offset, record.partition
                    ),
                });
            }
        }
        // First straight in; if an event of the batch is stored already (a
        // node republished it), again without the stored ones. Another
        // projector may store one in between: then once more.
        let mut applied = self.apply_access_once(stream, records, false).await?;
        let mut attempts = 0;
        while applied.is_none() && attempts < 5 {
            tracing::debug!("an event of the batch is already stored; leaving it out");
            applied = self.apply_access_once(stream, records, true).await?;
            attempts += 1;
        }
        let applied = applied.ok_or_else(|| Error::BadBatch {
            stream: stream.into(),
            partition: records[0].partition,
            message: "other projectors kept storing events of this batch at the same time".into(),
        })?;
        tracing::debug!(?applied, "applied access records");
        Ok(applied)
    }

    /// Moves the stored next offsets of `stream` past records a projector
    /// refused to store (an unsigned or forged record), so that they are not
    /// read again and the stream counts as caught up; never moves an offset
    /// back. `next` maps a partition to the offset after its last refused record.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn skip_access(&self, stream: &str, next: &BTreeMap<i32, i64>) -> Result<()> {
        check_access_stream(stream)?;
        if next.is_empty() {
            return Ok(());
        }
        let partitions: Vec<i32> = next.keys().copied().collect();
        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(self.sql_error("starting the offset transaction"))?;
        let stored = lock_offsets(self, &transaction, stream, &partitions).await?;
        let (moved_partitions, moved_offsets): (Vec<i32>, Vec<i64>) = next
            .iter()
            .filter(|(partition, offset)| stored.get(partition).copied().unwrap_or(0) < **offset)
            .map(|(partition, offset)| (*partition, *offset))
            .unzip();
        if !moved_partitions.is_empty() {
            let _ = transaction
                .execute(
                    &self.sql(sql::STREAM_OFFSETS_UPDATE),
                    &[&stream, &moved_partitions, &moved_offsets],
                )
                .await
                .map_err(self.sql_error("skipping refused access records"))?;
        }
        transaction.commit().await.map_err(self.sql_error("committing skipped offsets"))?;
        Ok(())
    }

    /// One attempt of [`Projections::apply_access`]; `None` when the copy met
    /// an event that is already stored (nothing is written then). With
    /// `skip_stored`, events already stored are left out first.
    async fn apply_access_once(
        &self,
        stream: &str,
        records: &[AccessRecord],
        skip_stored: bool,
    ) -> Result<Option<AccessApplied>> {
        let partitions: Vec<i32> = records
            .iter()
            .map(|record| record.partition)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();

        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(self.sql_error("starting the access transaction"))?;
        relaxed_commit(self, &transaction).await?;
        let stored = lock_offsets(self, &transaction, stream, &partitions).await?;

        let mut fresh: Vec<&AccessRecord> = records
            .iter()
            .filter(|record| record.offset >= stored.get(&record.partition).copied().unwrap_or(0))
            .collect();
        let already_applied = records.len() - fresh.len();
        if fresh.is_empty() {
            transaction.rollback().await.map_err(self.sql_error("rolling back"))?;
            return Ok(Some(AccessApplied { already_applied, ..AccessApplied::default() }));
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
        let mut seen: HashSet<&str> = HashSet::with_capacity(n_fresh);
        fresh.retain(|record| seen.insert(record.event.event_id.as_str()));
        if skip_stored {
            let ids: Vec<&str> = fresh.iter().map(|r| r.event.event_id.as_str()).collect();
            let rows = transaction
                .query(&self.sql(sql::ACCESS_EVENTS_SELECT_STORED), &[&ids])
                .await
                .map_err(self.sql_error("finding stored access events"))?;
            let stored_ids: HashSet<String> = rows
                .iter()
                .map(|row| get::<String>(row, 0, "access_events.event_id"))
                .collect::<Result<_>>()?;
            fresh.retain(|record| !stored_ids.contains(&record.event.event_id));
        }
        let duplicates = n_fresh - fresh.len();
        let (next_partitions, next_offsets): (Vec<i32>, Vec<i64>) = next.into_iter().unzip();

        if !fresh.is_empty() {
            let copy = transaction
                .prepare_cached(&self.sql(sql::ACCESS_EVENTS_COPY))
                .await
                .map_err(self.sql_error("preparing the access event copy"))?;
            let sink = transaction
                .copy_in(&copy)
                .await
                .map_err(self.sql_error("starting the access event copy"))?;
            match copy_access(BinaryCopyInWriter::new(sink, &ACCESS_COPY_TYPES), &fresh).await? {
                Ok(_) => {}
                Err(error) if is_stored_event_conflict(&error) => {
                    transaction.rollback().await.map_err(self.sql_error("rolling back"))?;
                    return Ok(None);
                }
                Err(error) => return Err(self.sql_error("copying access events")(error)),
            }
        }
        let usage = UsageTotals::of(&fresh)?;
        let meter = transaction
            .prepare_cached(&self.sql(sql::USAGE_UPSERT))
            .await
            .map_err(self.sql_error("preparing the usage upsert"))?;
        let advance = transaction
            .prepare_cached(&self.sql(sql::STREAM_OFFSETS_UPDATE))
            .await
            .map_err(self.sql_error("preparing the offset update"))?;
        let meter_params: [&(dyn ToSql + Sync); 5] =
            [&usage.identity, &usage.action, &usage.decision, &usage.events, &usage.bytes];
        let advance_params: [&(dyn ToSql + Sync); 3] = [&stream, &next_partitions, &next_offsets];
        // Both statements go out at once; the server runs them in order.
        let _ = futures_util::try_join!(
            transaction.execute(&meter, &meter_params),
            transaction.execute(&advance, &advance_params),
        )
        .map_err(self.sql_error("metering usage and storing offsets"))?;
        let billed = meter_billable(self, &transaction, &fresh).await?;
        transaction.commit().await.map_err(self.sql_error("committing access events"))?;

        Ok(Some(AccessApplied { applied: fresh.len(), duplicates, already_applied, billed }))
    }
}

/// Binary-copies access records through a started `COPY … FROM STDIN`.
///
/// The outer error is a value that does not fit its column; the inner one is
/// the server's or the connection's, left for the caller to judge.
pub(super) async fn copy_access(
    writer: BinaryCopyInWriter,
    records: &[&AccessRecord],
) -> Result<Result<u64, tokio_postgres::Error>> {
    pin_mut!(writer);
    for record in records {
        let event = &record.event;
        let leaf_index = opt_to_i64(record.leaf_index, "access_events.leaf_index")?;
        let time_ms = to_i64(event.time_ms, "access_events.time_ms")?;
        let bytes = to_i64(event.bytes, "access_events.bytes")?;
        let latency_us = to_i64(event.latency_us, "access_events.latency_us")?;
        let ledger_height = to_i64(event.ledger_height, "access_events.ledger_height")?;
        let action = event.action.as_str();
        let decision = event.decision.as_str();
        let written = writer
            .as_mut()
            .write(&[
                &event.event_id,
                &record.node,
                &leaf_index,
                &record.partition,
                &record.offset,
                &time_ms,
                &event.identity,
                &event.organisation,
                &event.role,
                &action,
                &event.resource,
                &decision,
                &event.reason,
                &bytes,
                &latency_us,
                &event.method,
                &ledger_height,
            ])
            .await;
        if let Err(error) = written {
            return Ok(Err(error));
        }
    }
    Ok(writer.finish().await)
}

/// Whether a copy into `access_events` failed because an event is already
/// stored.
fn is_stored_event_conflict(error: &tokio_postgres::Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION
            && db.constraint() == Some("access_events_pkey")
    })
}
