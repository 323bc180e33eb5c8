-- An identity as projected, and the height of the projected ledger.
SELECT role, revoked_reason IS NOT NULL,
       (SELECT coalesce(max(number) + 1, 0)::bigint FROM {schema}.blocks)
FROM (SELECT 1) AS one
LEFT JOIN {schema}.identities ON address = $1
