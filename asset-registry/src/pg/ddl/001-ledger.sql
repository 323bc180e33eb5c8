-- Migration 1: stream offsets and the projections of the ledger stream.
-- `{schema}` is replaced by the quoted, validated schema name.
-- No column holds a wall-clock "projected at" time: every row is a pure
-- function of the logs, so a replay reproduces it bit for bit.
-- Identifiers (ids, addresses, keys) are COLLATE "C": they compare bytewise,
-- the same on every server, and cheaply.

CREATE TABLE {schema}.stream_offsets (
    stream text COLLATE "C" NOT NULL,
    "partition" integer NOT NULL CHECK ("partition" >= 0),
    next_offset bigint NOT NULL CHECK (next_offset >= 0),
    PRIMARY KEY (stream, "partition")
);

CREATE TABLE {schema}.blocks (
    number bigint PRIMARY KEY,
    hash text NOT NULL,
    previous_hash text NOT NULL,
    state_root text NOT NULL,
    log_offset bigint NOT NULL UNIQUE,
    tx_count bigint NOT NULL
);

CREATE TABLE {schema}.transactions (
    tx_id text COLLATE "C" PRIMARY KEY,
    block_number bigint NOT NULL,
    "index" bigint NOT NULL,
    tx_type text NOT NULL,
    code text NOT NULL,
    creator text,
    timestamp_ms bigint NOT NULL
);

CREATE INDEX transactions_by_block ON {schema}.transactions (block_number, "index");

CREATE TABLE {schema}.identities (
    address text COLLATE "C" PRIMARY KEY,
    name text NOT NULL,
    organisation text NOT NULL,
    role text NOT NULL,
    registered_in_block bigint NOT NULL,
    revoked_reason text,
    revoked_in_block bigint
);

CREATE TABLE {schema}.assets (
    asset_id text COLLATE "C" PRIMARY KEY,
    owner_organisation text NOT NULL,
    owner_address text NOT NULL,
    authorised text[] NOT NULL,
    latest_version bigint NOT NULL,
    data_type text NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    updated_in_block bigint NOT NULL,
    search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', name), 'A')
            || setweight(to_tsvector('simple', description), 'B')
    ) STORED
);

CREATE INDEX assets_search ON {schema}.assets USING gin (search);

CREATE TABLE {schema}.asset_versions (
    asset_id text COLLATE "C" NOT NULL,
    version bigint NOT NULL,
    data_type text NOT NULL,
    hash_algorithm text NOT NULL,
    content_hash text NOT NULL,
    size_bytes bigint NOT NULL,
    name text NOT NULL,
    description text NOT NULL,
    "schema" jsonb,
    encoding text NOT NULL,
    tx_id text NOT NULL,
    block_number bigint NOT NULL,
    timestamp_ms bigint NOT NULL,
    PRIMARY KEY (asset_id, version)
);
