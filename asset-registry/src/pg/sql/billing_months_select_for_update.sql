-- Locks and reads the monthly totals a batch adds to. $1 holders, $2 months (pairwise).
SELECT m.holder, m."month", m.events, m.queries, m.bytes, m.charged
FROM {schema}.billing_months AS m
JOIN unnest($1::text[], $2::integer[]) AS k (holder, "month")
  ON m.holder = k.holder AND m."month" = k."month"
ORDER BY m.holder, m."month"
FOR UPDATE OF m
