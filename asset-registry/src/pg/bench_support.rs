//! Bench-only: reference copies for `cairn bench scale`.
//!
//! Nothing in a running node calls these. They binary-copy access records
//! into a plain table, the cheapest way to get the same rows into the
//! server, so the benchmark can compare the projection with it. They are
//! kept apart from the projections so that they can move to the binary's
//! benchmark code.

use tokio_postgres::binary_copy::BinaryCopyInWriter;

use super::access::{ACCESS_COPY_TYPES, copy_access};
use super::{AccessRecord, Projections, Result, check_table, sql};

impl Projections {
    /// Bench-only (see the module docs). Binary-copies records into `table`
    /// of this schema, created if missing
    /// with the columns of `access_events` and, when `like_projection`, its
    /// primary key and indexes too (else none). Returns how many rows were
    /// copied. The references of the projection benchmark: the cheapest way
    /// to get the same rows into the server.
    pub async fn copy_access_plain(
        &self,
        table: &str,
        records: &[AccessRecord],
        like_projection: bool,
    ) -> Result<u64> {
        check_table(table)?;
        let table_sql =
            |template: &str| self.sql(template).replace("{table}", &format!("\"{table}\""));
        let client = self.client().await?;
        client
            .batch_execute(&table_sql(if like_projection {
                sql::ACCESS_PLAIN_CREATE_LIKE
            } else {
                sql::ACCESS_PLAIN_CREATE
            }))
            .await
            .map_err(self.sql_error(format!("creating plain table {table}")))?;
        let copy = client
            .prepare_cached(&table_sql(sql::ACCESS_PLAIN_COPY))
            .await
            .map_err(self.sql_error(format!("preparing the copy into {table}")))?;
        let sink = client
            .copy_in(&copy)
            .await
            .map_err(self.sql_error(format!("starting the copy into {table}")))?;
        let records: Vec<&AccessRecord> = records.iter().collect();
        copy_access(BinaryCopyInWriter::new(sink, &ACCESS_COPY_TYPES), &records)
            .await?
            .map_err(self.sql_error(format!("copying into {table}")))
    }

    /// Bench-only. Empties the plain table made by [`Projections::copy_access_plain`].
    pub async fn truncate_plain(&self, table: &str) -> Result<()> {
        check_table(table)?;
        let client = self.client().await?;
        client
            .batch_execute(
                &self.sql(sql::ACCESS_PLAIN_TRUNCATE).replace("{table}", &format!("\"{table}\"")),
            )
            .await
            .map_err(self.sql_error(format!("truncating plain table {table}")))
    }
}
