-- Migration 2: the projections of the access-event stream.
-- `{schema}` is replaced by the quoted, validated schema name.
-- Identifiers are COLLATE "C", as in migration 1.

CREATE TABLE {schema}.access_events (
    event_id text COLLATE "C" PRIMARY KEY,
    node text NOT NULL,
    leaf_index bigint,
    "partition" integer NOT NULL,
    "offset" bigint NOT NULL,
    time_ms bigint NOT NULL,
    identity text COLLATE "C" NOT NULL,
    organisation text NOT NULL,
    role text NOT NULL,
    action text NOT NULL,
    resource text COLLATE "C" NOT NULL,
    decision text NOT NULL CHECK (decision IN ('allowed', 'denied')),
    reason text NOT NULL,
    bytes bigint NOT NULL,
    latency_us bigint NOT NULL,
    method text NOT NULL,
    ledger_height bigint NOT NULL
);

CREATE INDEX access_events_by_identity_time ON {schema}.access_events (identity, time_ms);

-- In byte order, so that the audit query finds `asset:ID@…` by range.
CREATE INDEX access_events_by_resource ON {schema}.access_events (resource);

CREATE TABLE {schema}."usage" (
    identity text COLLATE "C" NOT NULL,
    action text COLLATE "C" NOT NULL,
    decision text COLLATE "C" NOT NULL,
    events bigint NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (identity, action, decision)
);
