-- Moves the batch table into access_events, meters only the events that were
-- new, and stores the next offset of every partition of the batch: one
-- statement, so one round trip.
-- $1: stream, $2: partitions, $3: their next offsets.
WITH inserted AS (
    INSERT INTO {schema}.access_events
        (event_id, node, leaf_index, "partition", "offset", time_ms, identity, organisation,
         role, action, resource, decision, reason, bytes, latency_us, method, ledger_height)
    SELECT event_id, node, leaf_index, "partition", "offset", time_ms, identity, organisation,
           role, action, resource, decision, reason, bytes, latency_us, method, ledger_height
    FROM pg_temp.cairn_access_batch
    ON CONFLICT (event_id) DO NOTHING
    RETURNING identity, action, decision, bytes
), totals AS (
    SELECT identity, action, decision, count(*) AS events, sum(bytes)::bigint AS bytes
    FROM inserted
    GROUP BY identity, action, decision
), metered AS (
    INSERT INTO {schema}."usage" AS u (identity, action, decision, events, bytes)
    SELECT identity, action, decision, events, bytes
    FROM totals
    ORDER BY identity, action, decision
    ON CONFLICT (identity, action, decision) DO UPDATE SET
        events = u.events + excluded.events,
        bytes = u.bytes + excluded.bytes
), advanced AS (
    UPDATE {schema}.stream_offsets AS o
    SET next_offset = greatest(o.next_offset, n.next_offset)
    FROM unnest($2::integer[], $3::bigint[]) AS n ("partition", next_offset)
    WHERE o.stream = $1 AND o."partition" = n."partition"
)
SELECT count(*) FROM inserted
