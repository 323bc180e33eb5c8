-- The height of the projected ledger: its highest block number plus one.
SELECT coalesce(max(number) + 1, 0)::bigint FROM {schema}.blocks
