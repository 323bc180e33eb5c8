//! Replay support: the stored stream offsets, row counts, per-table digests
//! and row-by-row comparisons of two schemas.

use std::collections::BTreeMap;

use futures_util::{TryStreamExt, pin_mut};
use sha2::{Digest, Sha256};
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::ToSql;

use super::{Projections, Result, RowDifference, StreamOffset, TableDigest, get, sql};

/// A projection table: its name and primary key, for counts, digests and
/// diffs.
struct ProjectionTable {
    name: &'static str,
    /// The key columns, each with whether it is text (ordered bytewise).
    key: &'static [(&'static str, bool)],
}

/// The tables that [`Projections::digests`] and [`Projections::diff`] cover:
/// every projection table except `schema_migrations` and `stream_offsets`.
const PROJECTION_TABLES: &[ProjectionTable] = &[
    ProjectionTable { name: "blocks", key: &[("number", false)] },
    ProjectionTable { name: "transactions", key: &[("tx_id", true)] },
    ProjectionTable { name: "identities", key: &[("address", true)] },
    ProjectionTable { name: "assets", key: &[("asset_id", true)] },
    ProjectionTable { name: "asset_versions", key: &[("asset_id", true), ("version", false)] },
    ProjectionTable { name: "access_events", key: &[("event_id", true)] },
    ProjectionTable {
        name: "usage",
        key: &[("identity", true), ("action", true), ("decision", true)],
    },
    ProjectionTable { name: "billing_accounts", key: &[("holder", true)] },
    ProjectionTable { name: "billing_plans", key: &[("holder", true), ("from_height", false)] },
    ProjectionTable { name: "billing_top_ups", key: &[("tx_id", true)] },
    ProjectionTable { name: "billing_months", key: &[("holder", true), ("month", false)] },
    ProjectionTable { name: "billing_lines", key: &[("event_id", true)] },
];

impl ProjectionTable {
    /// `"a" COLLATE "C", "b"`: primary-key order, the same on every server.
    fn order_by(&self, qualifier: &str) -> String {
        let columns: Vec<String> = self
            .key
            .iter()
            .map(|(column, text)| {
                if *text {
                    format!("{qualifier}\"{column}\" COLLATE \"C\"")
                } else {
                    format!("{qualifier}\"{column}\"")
                }
            })
            .collect();
        columns.join(", ")
    }

    /// `"a", "b"`.
    fn key_columns(&self) -> String {
        let columns: Vec<String> =
            self.key.iter().map(|(column, _)| format!("\"{column}\"")).collect();
        columns.join(", ")
    }

    /// The key's text form: the column's text, or `(a,b)` for several.
    fn key_text(&self) -> String {
        match self.key {
            [(column, _)] => format!("\"{column}\"::text"),
            _ => format!("ROW({})::text", self.key_columns()),
        }
    }
}

impl Projections {
    pub(super) async fn offsets_of(&self, stream: &str) -> Result<BTreeMap<i32, i64>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(sql::STREAM_OFFSETS_SELECT_BY_STREAM))
            .await
            .map_err(self.sql_error("preparing the offset query"))?;
        let rows = client
            .query(&statement, &[&stream])
            .await
            .map_err(self.sql_error("reading stream offsets"))?;
        rows.iter()
            .map(|row| {
                Ok((
                    get(row, 0, "stream_offsets.partition")?,
                    get(row, 1, "stream_offsets.next_offset")?,
                ))
            })
            .collect()
    }

    /// Every stored stream offset, by stream and partition.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn offsets(&self) -> Result<Vec<StreamOffset>> {
        let client = self.client().await?;
        let rows = client
            .query(&self.sql(sql::STREAM_OFFSETS_SELECT), &[])
            .await
            .map_err(self.sql_error("reading stream offsets"))?;
        rows.iter()
            .map(|row| {
                Ok(StreamOffset {
                    stream: get(row, 0, "stream_offsets.stream")?,
                    partition: get(row, 1, "stream_offsets.partition")?,
                    next_offset: get(row, 2, "stream_offsets.next_offset")?,
                })
            })
            .collect()
    }

    /// The number of rows of every table, `stream_offsets` and
    /// `schema_migrations` included.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn counts(&self) -> Result<BTreeMap<String, i64>> {
        let names = PROJECTION_TABLES
            .iter()
            .map(|table| table.name)
            .chain(["stream_offsets", "schema_migrations"]);
        let selects: Vec<String> = names
            .map(|name| {
                format!("SELECT '{name}'::text, count(*) FROM \"{}\".\"{name}\"", self.schema)
            })
            .collect();
        let client = self.client().await?;
        let rows = client
            .query(&selects.join(" UNION ALL "), &[])
            .await
            .map_err(self.sql_error("counting rows"))?;
        rows.iter().map(|row| Ok((get(row, 0, "table")?, get(row, 1, "count")?))).collect()
    }

    /// One digest per projection table (all but `schema_migrations` and
    /// `stream_offsets`; see [`Projections::offsets`]), read in one
    /// repeatable-read snapshot. Two schemas fed the same log prefix have the
    /// same digests, however the records were batched.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn digests(&self) -> Result<BTreeMap<String, TableDigest>> {
        let mut client = self.client().await?;
        let transaction = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(self.sql_error("starting the digest snapshot"))?;
        let mut digests = BTreeMap::new();
        for table in PROJECTION_TABLES {
            let query = format!(
                "SELECT t::text FROM \"{}\".\"{}\" AS t ORDER BY {}",
                self.schema,
                table.name,
                table.order_by("t.")
            );
            let rows = transaction
                .query_raw(&query, std::iter::empty::<&(dyn ToSql + Sync)>())
                .await
                .map_err(self.sql_error(format!("reading {} for its digest", table.name)))?;
            pin_mut!(rows);
            let mut hasher = Sha256::new();
            let mut n_rows: i64 = 0;
            while let Some(row) = rows
                .try_next()
                .await
                .map_err(self.sql_error(format!("reading {} for its digest", table.name)))?
            {
                let text: Option<String> = get(&row, 0, "row text")?;
                let text = text.unwrap_or_default();
                hasher.update((text.len() as u64).to_be_bytes());
                hasher.update(text.as_bytes());
                n_rows += 1;
            }
            let _ = digests.insert(
                table.name.to_owned(),
                TableDigest { rows: n_rows, sha256: hex::encode(hasher.finalize()) },
            );
        }
        transaction.commit().await.map_err(self.sql_error("ending the digest snapshot"))?;
        Ok(digests)
    }

    /// The rows that differ between the projections of `live` and `other`,
    /// which must be schemas on the same server (the query runs on `live`'s
    /// pool): at most `limit` per table, by table and then primary key.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn diff(
        live: &Projections,
        other: &Projections,
        limit: usize,
    ) -> Result<Vec<RowDifference>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = live.client().await?;
        let mut differences = Vec::new();
        for table in PROJECTION_TABLES {
            let query = format!(
                "SELECT {key_text} AS key, a.row_text, b.row_text \
                 FROM (SELECT {keys}, t::text AS row_text FROM \"{live}\".\"{name}\" AS t) AS a \
                 FULL OUTER JOIN (SELECT {keys}, t::text AS row_text FROM \"{other}\".\"{name}\" AS t) AS b \
                 USING ({keys}) \
                 WHERE a.row_text IS DISTINCT FROM b.row_text \
                 ORDER BY {order} \
                 LIMIT $1",
                key_text = table.key_text(),
                keys = table.key_columns(),
                live = live.schema,
                other = other.schema,
                name = table.name,
                order = table.order_by(""),
            );
            let rows = client.query(&query, &[&limit]).await.map_err(
                live.sql_error(format!("comparing {} with schema {}", table.name, other.schema)),
            )?;
            for row in &rows {
                differences.push(RowDifference {
                    table: table.name.to_owned(),
                    key: get::<Option<String>>(row, 0, "key")?.unwrap_or_default(),
                    live: get(row, 1, "row text")?,
                    other: get(row, 2, "row text")?,
                });
            }
        }
        Ok(differences)
    }
}

/// Creates the missing offset rows of `partitions` at 0, locks them all and
/// returns their next offsets.
pub(super) async fn lock_offsets(
    projections: &Projections,
    transaction: &deadpool_postgres::Transaction<'_>,
    stream: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>> {
    let partitions = partitions.to_vec();
    let insert = transaction
        .prepare_cached(&projections.sql(sql::STREAM_OFFSETS_INSERT_MISSING))
        .await
        .map_err(projections.sql_error("preparing the offset insert"))?;
    let lock = transaction
        .prepare_cached(&projections.sql(sql::STREAM_OFFSETS_SELECT_FOR_UPDATE))
        .await
        .map_err(projections.sql_error("preparing the offset lock"))?;
    let params: [&(dyn ToSql + Sync); 2] = [&stream, &partitions];
    // Both statements go out at once; the server runs them in order, so the
    // lock sees the rows the insert made.
    let (_, rows) = futures_util::try_join!(
        transaction.execute(&insert, &params),
        transaction.query(&lock, &params)
    )
    .map_err(projections.sql_error(format!("locking offsets of stream {stream}")))?;
    rows.iter()
        .map(|row| {
            Ok((
                get(row, 0, "stream_offsets.partition")?,
                get(row, 1, "stream_offsets.next_offset")?,
            ))
        })
        .collect()
}
