SELECT max(version) FROM {schema}.notify_migrations
