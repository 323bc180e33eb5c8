-- Adds the totals of a batch (one row per key, in key order) to the meters.
INSERT INTO {schema}."usage" AS u (identity, action, decision, events, bytes)
SELECT *
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
ON CONFLICT (identity, action, decision) DO UPDATE SET
    events = u.events + excluded.events,
    bytes = u.bytes + excluded.bytes
