-- The benchmark's reference: the columns of access_events, no constraints,
-- no indexes. `{table}` is the quoted, validated table name.
CREATE TABLE IF NOT EXISTS {schema}.{table} (
    event_id text,
    node text,
    leaf_index bigint,
    "partition" integer,
    "offset" bigint,
    time_ms bigint,
    identity text,
    organisation text,
    role text,
    action text,
    resource text,
    decision text,
    reason text,
    bytes bigint,
    latency_us bigint,
    method text,
    ledger_height bigint
)
