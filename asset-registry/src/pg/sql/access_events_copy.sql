COPY {schema}.access_events
    (event_id, node, leaf_index, "partition", "offset", time_ms, identity, organisation,
     role, action, resource, decision, reason, bytes, latency_us, method, ledger_height)
FROM STDIN (FORMAT binary)
