INSERT INTO {schema}.stream_offsets (stream, "partition", next_offset)
SELECT $1::text, p, 0 FROM unnest($2::integer[]) AS p ORDER BY p
ON CONFLICT (stream, "partition") DO NOTHING
