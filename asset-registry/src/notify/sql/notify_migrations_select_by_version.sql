SELECT 1 FROM {schema}.notify_migrations WHERE version = $1
