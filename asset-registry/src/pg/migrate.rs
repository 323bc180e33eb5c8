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
pub(crate) struct Migration {
    pub(crate) version: i32,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
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

/// A list of migrations of one schema and the table that records which ran.
/// Statements are templates where `{schema}` stands for the quoted schema.
pub(crate) struct MigrationSet<'a> {
    /// The schema.
    pub(crate) schema: &'a str,
    /// The advisory lock that serialises migrations of this set.
    pub(crate) lock_key: i64,
    /// The table that records the migrations run, for messages.
    pub(crate) table: &'static str,
    /// Creates that table if it is missing.
    pub(crate) create: &'static str,
    /// Selects the row of a version (`$1`).
    pub(crate) select_by_version: &'static str,
    /// Records a version (`$1`) and its name (`$2`).
    pub(crate) insert: &'static str,
    /// Selects the highest version recorded.
    pub(crate) select_max: &'static str,
    /// The migrations, in order.
    pub(crate) migrations: &'a [Migration],
}

impl MigrationSet<'_> {
    fn sql(&self, template: &str) -> String {
        template.replace("{schema}", &format!("\"{}\"", self.schema))
    }

    fn query_error(
        &self,
        context: &'static str,
    ) -> impl FnOnce(tokio_postgres::Error) -> Error + '_ {
        move |error| Error::Query {
            schema: self.schema.to_owned(),
            context: context.into(),
            message: describe(&error),
            code: error.code().map(|code| code.code().to_owned()),
        }
    }

    /// Creates the schema if needed and runs each migration not yet run, each
    /// in its own transaction under the set's advisory lock; refuses a schema
    /// that a newer build migrated further.
    pub(crate) async fn apply(&self, client: &mut tokio_postgres::Client) -> Result<()> {
        let lock = "SELECT pg_advisory_xact_lock($1)";
        let transaction = client
            .transaction()
            .await
            .map_err(self.query_error("starting the schema transaction"))?;
        let _ = transaction
            .execute(lock, &[&self.lock_key])
            .await
            .map_err(self.query_error("taking the migration lock"))?;
        // Looked up first: a role that may use an existing schema need not
        // have the right to create schemas.
        let exists = transaction
            .query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&self.schema])
            .await
            .map_err(self.query_error("looking for the schema"))?
            .is_some();
        if !exists {
            transaction
                .batch_execute(&format!("CREATE SCHEMA \"{}\"", self.schema))
                .await
                .map_err(self.query_error("creating the schema"))?;
        }
        transaction
            .batch_execute(&self.sql(self.create))
            .await
            .map_err(self.query_error("creating the migrations table"))?;
        transaction.commit().await.map_err(self.query_error("committing the schema"))?;

        for migration in self.migrations {
            let failed = |message: String| Error::Migration {
                schema: self.schema.to_owned(),
                version: migration.version,
                name: migration.name,
                message,
            };
            let transaction =
                client.transaction().await.map_err(|error| failed(describe(&error)))?;
            let _ = transaction
                .execute(lock, &[&self.lock_key])
                .await
                .map_err(|error| failed(describe(&error)))?;
            let applied = transaction
                .query_opt(&self.sql(self.select_by_version), &[&migration.version])
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
                .execute(&self.sql(self.insert), &[&migration.version, &migration.name])
                .await
                .map_err(|error| failed(describe(&error)))?;
            transaction.commit().await.map_err(|error| failed(describe(&error)))?;
            tracing::info!(
                schema = %self.schema,
                table = self.table,
                version = migration.version,
                name = migration.name,
                "applied migration"
            );
        }

        let known = self.migrations.iter().map(|migration| migration.version).max().unwrap_or(0);
        let row = client
            .query_one(&self.sql(self.select_max), &[])
            .await
            .map_err(self.query_error("reading the migrations table"))?;
        let found: Option<i32> = get(&row, 0, self.table)?;
        match found {
            Some(found) if found > known => {
                Err(Error::SchemaTooNew { schema: self.schema.to_owned(), found, known })
            }
            _ => Ok(()),
        }
    }
}

impl Projections {
    pub(super) async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        MigrationSet {
            schema: &self.schema,
            lock_key: advisory_key(&self.schema),
            table: "schema_migrations.version",
            create: sql::SCHEMA_MIGRATIONS_CREATE,
            select_by_version: sql::SCHEMA_MIGRATIONS_SELECT_BY_VERSION,
            insert: sql::SCHEMA_MIGRATIONS_INSERT,
            select_max: sql::SCHEMA_MIGRATIONS_SELECT_MAX,
            migrations: MIGRATIONS,
        }
        .apply(&mut client)
        .await
    }
}
