-- A reference table for the benchmark with the definition of access_events:
-- the same columns, primary key and indexes. `{table}` is the quoted,
-- validated table name.
CREATE TABLE IF NOT EXISTS {schema}.{table} (LIKE {schema}.access_events INCLUDING ALL)
