-- A plan period (immutable once set). $1 holder, $2 from height, $3 tx id,
-- $4..$7 prices and allowances, $8 payment, $9 rate limit.
INSERT INTO {schema}.billing_plans
    (holder, from_height, tx_id, price_per_query, price_per_mib, free_queries_per_month,
     free_mib_per_month, payment, rate_limit_per_second)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (holder, from_height) DO NOTHING
