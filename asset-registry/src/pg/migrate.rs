//! The schema: numbered DDL files, each run once in its own transaction
//! under an advisory lock, and the check that the schema is not newer than
//! this build.

use sha2::{Digest, Sha256};

use super::{Error, Projections, Result, describe, get, sql};

/// The key of the advisory lock that serialises migrations of one schema.
fn advisory_key(schema: &str) -> i64 {
    let digest = Sha256::digest(format!("cairn.asset-registry.pg.migrate:{schema}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// One numbered DDL file.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// The migrations, in order. Never edit one that has shipped; add another.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "stream offsets and ledger projections",
        sql: include_str!("ddl/001-ledger.sql"),
    },
    Migration {
        version: 2,
        name: "access-event projections",
        sql: include_str!("ddl/002-access.sql"),
    },
    Migration { version: 3, name: "billing projections", sql: include_str!("ddl/003-billing.sql") },
];

impl Projections {
    pub(super) async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let lock_key = advisory_key(&self.schema);
        let lock = "SELECT pg_advisory_xact_lock($1)";

        let transaction = client
            .transaction()
            .await
            .map_err(self.sql_error("starting the schema transaction"))?;
        let _ = transaction
            .execute(lock, &[&lock_key])
            .await
            .map_err(self.sql_error("taking the migration lock"))?;
        let exists = transaction
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&self.schema])
            .await
            .map_err(self.sql_error("looking for the schema"))?
            .is_some();
        if !exists {
            transaction
                .batch_execute(&format!("CREATE SCHEMA \"{}\"", self.schema))
                .await
                .map_err(self.sql_error("creating the schema"))?;
        }
        transaction
            .batch_execute(&self.sql(sql::SCHEMA_MIGRATIONS_CREATE))
            .await
            .map_err(self.sql_error("creating schema_migrations"))?;
        transaction.commit().await.map_err(self.sql_error("committing the schema"))?;

        for migration in MIGRATIONS {
            let failed = |message: String| Error::Migration {
                schema: self.schema.clone(),
                version: migration.version,
                name: migration.name,
                message,
            };
            let transaction =
                client.transaction().await.map_err(|error| failed(describe(&error)))?;
            let _ = transaction
                .execute(lock, &[&lock_key])
                .await
                .map_err(|error| failed(describe(&error)))?;
            let applied = transaction
                .query_opt(
                    &self.sql(sql::SCHEMA_MIGRATIONS_SELECT_BY_VERSION),
                    &[&migration.version],
                )
                .await
                .map_err(|error| failed(describe(&error)))?
                .is_some();
            if applied {
                transaction.rollback().await.map_err(|error| failed(describe(&error)))?;
                continue;
            }
            transaction
                .batch_execute(&self.sql(migration.sql))
                .await
                .map_err(|error| failed(describe(&error)))?;
            let _ = transaction
                .execute(
                    &self.sql(sql::SCHEMA_MIGRATIONS_INSERT),
                    &[&migration.version, &migration.name],
                )
                .await
                .map_err(|error| failed(describe(&error)))?;
            transaction.commit().await.map_err(|error| failed(describe(&error)))?;
            tracing::info!(
                schema = %self.schema,
                version = migration.version,
                name = migration.name,
                "applied migration"
            );
        }

        let known = MIGRATIONS.iter().map(|migration| migration.version).max().unwrap_or(0);
        let row = client
            .query_one(&self.sql(sql::SCHEMA_MIGRATIONS_SELECT_MAX), &[])
            .await
            .map_err(self.sql_error("reading schema_migrations"))?;
        let found: Option<i32> = get(&row, 0, "schema_migrations.version")?;
        match found {
            Some(found) if found > known => {
                Err(Error::SchemaTooNew { schema: self.schema.clone(), found, known })
            }
            _ => Ok(()),
        }
    }
}
