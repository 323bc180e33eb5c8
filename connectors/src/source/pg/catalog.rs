//! What a snapshot learns from the catalog before it copies: the table or
//! query and its columns, and the checked watermark literal of an
//! incremental sync.

use tokio_postgres::Transaction;

use super::errors::{pg_error, query_error};
use super::sql::{self, display_ident, quote_ident, quote_literal};
use super::{ColumnInfo, MAX_SHOWN_VALUE, Server, trim_query};
use crate::{Error, Result};

/// A selection resolved against the catalog.
pub(super) struct Resolved {
    /// The `FROM` item.
    pub(super) from: String,
    /// For messages: "table public.citizens" or "the share's query".
    pub(super) relation: String,
    /// For the description: "table public.citizens" or "query".
    pub(super) kind: String,
    /// The columns, in order.
    pub(super) columns: Vec<ColumnInfo>,
    /// Each column's type without its modifier, for casting a watermark.
    pub(super) cast_types: Vec<String>,
}

/// Finds a table in the catalog, with its columns.
pub(super) async fn resolve_table(
    txn: &Transaction<'_>,
    server: &Server,
    label: &str,
    schema: Option<&str>,
    table: &str,
) -> Result<Resolved> {
    let name = match schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(table)),
        None => quote_ident(table),
    };
    let found = txn
        .query_opt(
            "SELECT c.oid, n.nspname::text, c.relname::text \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
            &[&name],
        )
        .await
        .map_err(|err| pg_error(&err, server, label, "look up"))?;
    let Some(found) = found else {
        return Err(Error::TableMissing {
            table: label.trim_start_matches("table ").to_owned(),
            database: server.database.clone(),
            server: server.name(),
            user: server.user.clone(),
        });
    };
    let oid: u32 = found.get(0);
    let (schema, table): (String, String) = (found.get(1), found.get(2));
    let relation = format!("table {}.{}", display_ident(&schema), display_ident(&table));
    let rows = txn
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, \
                    format_type(a.atttypid, NULL) \
             FROM pg_catalog.pg_attribute a \
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&oid],
        )
        .await
        .map_err(|err| pg_error(&err, server, &relation, "read the columns of"))?;
    let columns = rows
        .iter()
        .map(|row| ColumnInfo { name: row.get(0), pg_type: row.get(1), nullable: row.get(2) })
        .collect();
    let cast_types = rows.iter().map(|row| row.get(3)).collect();
    Ok(Resolved {
        from: sql::table_from(&schema, &table),
        kind: relation.clone(),
        relation,
        columns,
        cast_types,
    })
}

/// Prepares a share's query as the subquery it will run as, which checks it
/// and gives its columns.
pub(super) async fn resolve_query(
    txn: &Transaction<'_>,
    server: &Server,
    query: &str,
) -> Result<Resolved> {
    let relation = "the share's query".to_owned();
    let query = trim_query(query);
    let from = sql::query_from(query);
    let statement = txn
        .prepare(&format!("SELECT * FROM {from}"))
        .await
        .map_err(|err| query_error(&err, server, query))?;
    let oids: Vec<u32> = statement.columns().iter().map(|column| column.type_().oid()).collect();
    let types = txn
        .query(
            "SELECT format_type(t.oid, NULL) \
             FROM unnest($1::oid[]) WITH ORDINALITY AS t(oid, n) ORDER BY t.n",
            &[&oids],
        )
        .await
        .map_err(|err| pg_error(&err, server, &relation, "read the column types of"))?;
    let cast_types: Vec<String> = types.iter().map(|row| row.get(0)).collect();
    let columns = statement
        .columns()
        .iter()
        .zip(&cast_types)
        .map(|(column, pg_type)| ColumnInfo {
            name: column.name().to_owned(),
            pg_type: pg_type.clone(),
            nullable: true,
        })
        .collect();
    Ok(Resolved { from, relation, kind: "query".to_owned(), columns, cast_types })
}

/// Builds `CAST('value' AS type)` for an incremental sync, after checking on
/// its own that the server accepts the value as the column's type.
pub(super) async fn watermark_literal(
    txn: &Transaction<'_>,
    server: &Server,
    column: &str,
    cast_type: &str,
    value: &str,
) -> Result<String> {
    let invalid = |reason: String| Error::WatermarkInvalid {
        column: column.to_owned(),
        pg_type: cast_type.to_owned(),
        value: value.chars().take(MAX_SHOWN_VALUE).collect(),
        reason,
    };
    let literal =
        quote_literal(value).ok_or_else(|| invalid("it contains a NUL character".to_owned()))?;
    let cast = format!("CAST({literal} AS {cast_type})");
    txn.query_one(format!("SELECT {cast}::text").as_str(), &[]).await.map_err(|err| {
        match err.as_db_error() {
            // Class 22 is "data exception": the value is not one of the type.
            Some(db) if db.code().code().starts_with("22") => invalid(db.message().to_owned()),
            _ => pg_error(
                &err,
                server,
                &format!("watermark column {column:?}"),
                "check the value of",
            ),
        }
    })?;
    Ok(cast)
}
