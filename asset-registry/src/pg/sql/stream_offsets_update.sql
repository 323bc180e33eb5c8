UPDATE {schema}.stream_offsets AS o
SET next_offset = n.next_offset
FROM unnest($2::integer[], $3::bigint[]) AS n ("partition", next_offset)
WHERE o.stream = $1 AND o."partition" = n."partition"
