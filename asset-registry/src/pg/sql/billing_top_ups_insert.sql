-- A top-up (immutable). $1 tx id, $2 holder, $3 block, $4 amount, $5 reference, $6 time.
INSERT INTO {schema}.billing_top_ups (tx_id, holder, block_number, amount, reference, timestamp_ms)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (tx_id) DO NOTHING
