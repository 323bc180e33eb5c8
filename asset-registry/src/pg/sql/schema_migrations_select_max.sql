SELECT max(version) FROM {schema}.schema_migrations
