-- A holder's monthly totals, oldest first. $1 holder.
SELECT "month", events, queries, bytes, charged
FROM {schema}.billing_months
WHERE holder = $1
ORDER BY "month"
