INSERT INTO {schema}.notify_migrations (version, name) VALUES ($1, $2)
