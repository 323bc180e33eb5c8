SELECT status, count(*) FROM {schema}.notifications GROUP BY status ORDER BY status
