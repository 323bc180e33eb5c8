-- The plans of some holders, oldest first. $1 holders.
SELECT holder, from_height, price_per_query, price_per_mib, free_queries_per_month,
       free_mib_per_month
FROM {schema}.billing_plans
WHERE holder = ANY($1::text[])
ORDER BY holder, from_height
