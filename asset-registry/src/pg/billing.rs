//! Usage meters and bills: the per-batch usage totals, the statement lines
//! and monthly totals of account holders, and the queries that read them.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::pin_mut;
use tokio_postgres::Row;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use crate::billing::{self, Charge, Line, Month, MonthTotals, Tariff, TariffPeriod, Units};

use super::{
    AccessRecord, Error, Projections, Result, execute, get, month_to_i32, sql, to_i64, to_month,
    to_u64,
};

/// The monthly totals in `billing_months`' columns events, queries, bytes
/// and charged, at `first` and the three after it in `row`.
fn month_totals(row: &Row, first: usize) -> Result<MonthTotals> {
    let number = |idx, column| -> Result<u64> { to_u64(get(row, first + idx, column)?, column) };
    Ok(MonthTotals {
        events: number(0, "billing_months.events")?,
        queries: number(1, "billing_months.queries")?,
        bytes: number(2, "billing_months.bytes")?,
        charged: number(3, "billing_months.charged")?,
    })
}

/// The column types of a binary copy into `billing_lines`.
const LINE_COPY_TYPES: [Type; 17] = [
    Type::TEXT, // event_id
    Type::TEXT, // holder
    Type::INT4, // month
    Type::INT8, // line
    Type::INT8, // time_ms
    Type::TEXT, // action
    Type::TEXT, // resource
    Type::INT8, // queries
    Type::INT8, // bytes
    Type::INT8, // query_amount
    Type::INT8, // traffic_amount
    Type::INT8, // amount
    Type::INT8, // ledger_height
    Type::INT8, // plan_from_height
    Type::TEXT, // note
    Type::TEXT, // node
    Type::INT8, // leaf_index
];

/// Meters the billable events of account holders among `records` (in stream
/// order) into `billing_lines` and `billing_months`, inside the batch's
/// transaction; answers how many lines it wrote.
///
/// Each event is priced with the holder's plan at the ledger height it was
/// decided at, so the ledger projection must have reached that height:
/// otherwise [`Error::LedgerBehind`] and nothing is written.
pub(super) async fn meter_billable(
    projections: &Projections,
    transaction: &deadpool_postgres::Transaction<'_>,
    records: &[&AccessRecord],
) -> Result<usize> {
    let billable: Vec<&AccessRecord> =
        records.iter().copied().filter(|r| billing::billable(&r.event).is_some()).collect();
    let Some(needed) = billable.iter().map(|r| r.event.ledger_height).max() else {
        return Ok(0);
    };
    let row = transaction
        .query_one(&projections.sql(sql::BLOCKS_SELECT_HEIGHT), &[])
        .await
        .map_err(projections.sql_error("reading the projected ledger height"))?;
    let projected = to_u64(get(&row, 0, "blocks.number")?, "blocks.number")?;
    if projected < needed {
        return Err(Error::LedgerBehind { schema: projections.schema.clone(), needed, projected });
    }
    let holders: Vec<&str> = billable
        .iter()
        .map(|r| r.event.identity.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows = transaction
        .query(&projections.sql(sql::BILLING_PLANS_SELECT_BY_HOLDERS), &[&holders])
        .await
        .map_err(projections.sql_error("reading the holders' plans"))?;
    let mut plans: BTreeMap<String, Vec<TariffPeriod>> = BTreeMap::new();
    for row in &rows {
        let holder: String = get(row, 0, "billing_plans.holder")?;
        let number = |idx, column| -> Result<u64> { to_u64(get(row, idx, column)?, column) };
        plans.entry(holder).or_default().push(TariffPeriod {
            from_height: number(1, "billing_plans.from_height")?,
            tariff: Tariff {
                price_per_query: number(2, "billing_plans.price_per_query")?,
                price_per_mib: number(3, "billing_plans.price_per_mib")?,
                free_queries_per_month: number(4, "billing_plans.free_queries_per_month")?,
                free_mib_per_month: number(5, "billing_plans.free_mib_per_month")?,
            },
        });
    }
    if plans.is_empty() {
        return Ok(0);
    }
    let keys: BTreeSet<(&str, Month)> = billable
        .iter()
        .filter(|r| plans.contains_key(&r.event.identity))
        .map(|r| (r.event.identity.as_str(), Month::of_ms(r.event.time_ms)))
        .collect();
    let key_holders: Vec<&str> = keys.iter().map(|(holder, _)| *holder).collect();
    let key_months: Vec<i32> = keys
        .iter()
        .map(|(_, month)| month_to_i32(*month, "billing_months.month"))
        .collect::<Result<_>>()?;
    let rows = transaction
        .query(
            &projections.sql(sql::BILLING_MONTHS_SELECT_FOR_UPDATE),
            &[&key_holders, &key_months],
        )
        .await
        .map_err(projections.sql_error("locking the monthly totals"))?;
    let mut totals: BTreeMap<(String, Month), MonthTotals> = BTreeMap::new();
    for row in &rows {
        let month = to_month(get(row, 1, "billing_months.month")?, "billing_months.month")?;
        let _ =
            totals.insert((get(row, 0, "billing_months.holder")?, month), month_totals(row, 2)?);
    }
    let mut lines: Vec<(Line, u64, &str)> = Vec::new();
    for record in &billable {
        let Some(periods) = plans.get(&record.event.identity) else { continue };
        let key = (record.event.identity.clone(), Month::of_ms(record.event.time_ms));
        let month_totals = totals.entry(key).or_default();
        let Some(line) = billing::meter(
            &record.event,
            &record.node,
            record.leaf_index.unwrap_or(0),
            periods,
            month_totals,
        ) else {
            continue;
        };
        month_totals.add(line.units, line.charge.amount);
        lines.push((line, month_totals.events, record.event.identity.as_str()));
    }
    if lines.is_empty() {
        return Ok(0);
    }
    let copy = transaction
        .prepare_cached(&projections.sql(sql::BILLING_LINES_COPY))
        .await
        .map_err(projections.sql_error("preparing the line copy"))?;
    let sink = transaction
        .copy_in(&copy)
        .await
        .map_err(projections.sql_error("starting the line copy"))?;
    let writer = BinaryCopyInWriter::new(sink, &LINE_COPY_TYPES);
    pin_mut!(writer);
    for (line, number, holder) in &lines {
        let month = month_to_i32(line.month, "billing_lines.month")?;
        let values: [i64; 10] = [
            to_i64(*number, "billing_lines.line")?,
            to_i64(line.time_ms, "billing_lines.time_ms")?,
            to_i64(line.units.queries, "billing_lines.queries")?,
            to_i64(line.units.bytes, "billing_lines.bytes")?,
            to_i64(line.charge.query_amount, "billing_lines.query_amount")?,
            to_i64(line.charge.traffic_amount, "billing_lines.traffic_amount")?,
            to_i64(line.charge.amount, "billing_lines.amount")?,
            to_i64(line.ledger_height, "billing_lines.ledger_height")?,
            to_i64(line.plan_from_height, "billing_lines.plan_from_height")?,
            to_i64(line.leaf_index, "billing_lines.leaf_index")?,
        ];
        writer
            .as_mut()
            .write(&[
                &line.event_id,
                holder,
                &month,
                &values[0],
                &values[1],
                &line.action,
                &line.resource,
                &values[2],
                &values[3],
                &values[4],
                &values[5],
                &values[6],
                &values[7],
                &values[8],
                &line.charge.note,
                &line.node,
                &values[9],
            ])
            .await
            .map_err(projections.sql_error("copying statement lines"))?;
    }
    let _ = writer.finish().await.map_err(projections.sql_error("copying statement lines"))?;
    let mut month_holders = Vec::new();
    let mut months = Vec::new();
    let mut columns: [Vec<i64>; 4] = Default::default();
    for ((holder, month), month_totals) in &totals {
        month_holders.push(holder.as_str());
        months.push(month_to_i32(*month, "billing_months.month")?);
        columns[0].push(to_i64(month_totals.events, "billing_months.events")?);
        columns[1].push(to_i64(month_totals.queries, "billing_months.queries")?);
        columns[2].push(to_i64(month_totals.bytes, "billing_months.bytes")?);
        columns[3].push(to_i64(month_totals.charged, "billing_months.charged")?);
    }
    let _ = execute(
        projections,
        transaction,
        sql::BILLING_MONTHS_UPSERT,
        "storing the monthly totals",
        &[&month_holders, &months, &columns[0], &columns[1], &columns[2], &columns[3]],
    )
    .await?;
    Ok(lines.len())
}

/// The usage of a batch, one entry per (identity, action, decision) in key
/// order, as parameter arrays.
#[derive(Debug, Default)]
pub(super) struct UsageTotals<'a> {
    pub(super) identity: Vec<&'a str>,
    pub(super) action: Vec<&'a str>,
    pub(super) decision: Vec<&'static str>,
    pub(super) events: Vec<i64>,
    pub(super) bytes: Vec<i64>,
}

impl<'a> UsageTotals<'a> {
    pub(super) fn of(records: &[&'a AccessRecord]) -> Result<UsageTotals<'a>> {
        let mut totals: BTreeMap<(&str, &str, &'static str), (i64, i64)> = BTreeMap::new();
        for record in records {
            let event = &record.event;
            let bytes = to_i64(event.bytes, "access_events.bytes")?;
            let key = (event.identity.as_str(), event.action.as_str(), event.decision.as_str());
            let total = totals.entry(key).or_insert((0, 0));
            total.0 += 1;
            total.1 = total
                .1
                .checked_add(bytes)
                .ok_or(Error::OutOfRange { column: "usage.bytes", value: event.bytes })?;
        }
        let mut usage = UsageTotals::default();
        for ((identity, action, decision), (events, bytes)) in totals {
            usage.identity.push(identity);
            usage.action.push(action);
            usage.decision.push(decision);
            usage.events.push(events);
            usage.bytes.push(bytes);
        }
        Ok(usage)
    }
}

impl Projections {
    /// A holder's monthly totals (metered events, queries, bytes, charges), oldest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn billing_months(&self, holder: &str) -> Result<Vec<(Month, MonthTotals)>> {
        let client = self.client().await?;
        let rows = client
            .query(&self.sql(sql::BILLING_MONTHS_SELECT_BY_HOLDER), &[&holder])
            .await
            .map_err(self.sql_error("reading monthly totals"))?;
        rows.iter()
            .map(|row| {
                let month = to_month(get(row, 0, "billing_months.month")?, "billing_months.month")?;
                Ok((month, month_totals(row, 1)?))
            })
            .collect()
    }

    /// A holder's statement lines of one month, in metering order.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn billing_lines(&self, holder: &str, month: Month) -> Result<Vec<Line>> {
        let month_number = month_to_i32(month, "billing_lines.month")?;
        let client = self.client().await?;
        let rows = client
            .query(&self.sql(sql::BILLING_LINES_SELECT_BY_MONTH), &[&holder, &month_number])
            .await
            .map_err(self.sql_error("reading statement lines"))?;
        rows.iter()
            .map(|row| {
                let number =
                    |idx, column| -> Result<u64> { to_u64(get(row, idx, column)?, column) };
                Ok(Line {
                    event_id: get(row, 0, "billing_lines.event_id")?,
                    time_ms: number(1, "billing_lines.time_ms")?,
                    month,
                    action: get(row, 2, "billing_lines.action")?,
                    resource: get(row, 3, "billing_lines.resource")?,
                    units: Units {
                        queries: number(4, "billing_lines.queries")?,
                        bytes: number(5, "billing_lines.bytes")?,
                    },
                    charge: Charge {
                        query_amount: number(6, "billing_lines.query_amount")?,
                        traffic_amount: number(7, "billing_lines.traffic_amount")?,
                        amount: number(8, "billing_lines.amount")?,
                        note: get(row, 11, "billing_lines.note")?,
                    },
                    ledger_height: number(9, "billing_lines.ledger_height")?,
                    plan_from_height: number(10, "billing_lines.plan_from_height")?,
                    node: get(row, 12, "billing_lines.node")?,
                    leaf_index: number(13, "billing_lines.leaf_index")?,
                })
            })
            .collect()
    }

    /// What `holder` was charged for events logged by nodes other than `node`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn billing_charged_by_others(&self, holder: &str, node: &str) -> Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(&self.sql(sql::BILLING_LINES_SUM_BY_OTHERS), &[&holder, &node])
            .await
            .map_err(self.sql_error("summing other nodes' charges"))?;
        to_u64(get(&row, 0, "billing_lines.amount")?, "billing_lines.amount")
    }
}
