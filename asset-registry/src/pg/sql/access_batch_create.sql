-- One per session, emptied by every commit.
CREATE TEMP TABLE IF NOT EXISTS cairn_access_batch (
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
) ON COMMIT DELETE ROWS
