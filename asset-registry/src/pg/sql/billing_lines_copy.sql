COPY {schema}.billing_lines
    (event_id, holder, "month", line, time_ms, action, resource, queries, bytes, query_amount,
     traffic_amount, amount, ledger_height, plan_from_height, note, node, leaf_index)
FROM STDIN (FORMAT binary)
