-- A published version is immutable: inserting it twice is an error.
INSERT INTO {schema}.asset_versions
    (asset_id, version, data_type, hash_algorithm, content_hash, size_bytes, name,
     description, "schema", encoding, tx_id, block_number, timestamp_ms)
SELECT
    u.asset_id, u.version, u.data_type, u.hash_algorithm, u.content_hash, u.size_bytes,
    u.name, u.description, u.schema_json::jsonb, u.encoding, u.tx_id, u.block_number,
    u.timestamp_ms
FROM unnest(
    $1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[],
    $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bigint[]
) AS u (asset_id, version, data_type, hash_algorithm, content_hash, size_bytes, name,
        description, schema_json, encoding, tx_id, block_number, timestamp_ms)
