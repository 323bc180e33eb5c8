SELECT name FROM {schema}.schema_migrations WHERE version = $1
