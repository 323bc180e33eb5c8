-- Sets the monthly totals a batch reached (computed under the lock above).
INSERT INTO {schema}.billing_months AS m (holder, "month", events, queries, bytes, charged)
SELECT *
FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
ON CONFLICT (holder, "month") DO UPDATE SET
    events = excluded.events,
    queries = excluded.queries,
    bytes = excluded.bytes,
    charged = excluded.charged
