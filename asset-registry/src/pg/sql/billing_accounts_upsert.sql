-- An account as it stands after a block. $1 holder, $2 currency, $3 opened in block, $4 credited.
INSERT INTO {schema}.billing_accounts (holder, currency, opened_in_block, credited)
VALUES ($1, $2, $3, $4)
ON CONFLICT (holder) DO UPDATE SET
    currency = excluded.currency,
    opened_in_block = excluded.opened_in_block,
    credited = excluded.credited
