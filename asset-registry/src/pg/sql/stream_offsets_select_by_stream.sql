SELECT "partition", next_offset
FROM {schema}.stream_offsets
WHERE stream = $1
ORDER BY "partition"
