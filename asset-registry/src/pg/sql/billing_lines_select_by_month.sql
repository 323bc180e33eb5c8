-- A holder's lines of one month, in metering order. $1 holder, $2 month.
SELECT event_id, time_ms, action, resource, queries, bytes, query_amount, traffic_amount,
       amount, ledger_height, plan_from_height, note, node, leaf_index
FROM {schema}.billing_lines
WHERE holder = $1 AND "month" = $2
ORDER BY line
