SELECT "partition", next_offset
FROM {schema}.stream_offsets
WHERE stream = $1 AND "partition" = ANY($2::integer[])
ORDER BY "partition"
FOR UPDATE
