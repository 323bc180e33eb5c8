TRUNCATE {schema}.{table}
