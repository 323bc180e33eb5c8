-- A transaction id seen again (a rejected duplicate) keeps its first row.
INSERT INTO {schema}.transactions
    (tx_id, block_number, "index", tx_type, code, creator, timestamp_ms)
SELECT *
FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[])
ON CONFLICT (tx_id) DO NOTHING
