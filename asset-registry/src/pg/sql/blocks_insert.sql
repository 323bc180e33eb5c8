INSERT INTO {schema}.blocks (number, hash, previous_hash, state_root, log_offset, tx_count)
SELECT *
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
