SELECT asset_id, version, data_type, hash_algorithm, content_hash, size_bytes, name,
       description, "schema"::text AS schema_json, encoding, tx_id, block_number, timestamp_ms
FROM {schema}.asset_versions
WHERE asset_id = $1
ORDER BY version
