SELECT stream, "partition", next_offset
FROM {schema}.stream_offsets
ORDER BY stream COLLATE "C", "partition"
