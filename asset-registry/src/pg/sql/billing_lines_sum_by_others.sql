-- What a holder was charged for events other nodes logged. $1 holder, $2 this node.
SELECT coalesce(sum(amount), 0)::bigint
FROM {schema}.billing_lines
WHERE holder = $1 AND node <> $2
