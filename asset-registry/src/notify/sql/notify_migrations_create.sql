CREATE TABLE IF NOT EXISTS {schema}.notify_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL
)
