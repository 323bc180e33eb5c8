-- Migration 1 of the notifier: its ledger offset and the outbox.
-- `{schema}` is replaced by the quoted, validated schema name.
-- The outbox holds no personal data: recipients are ledger addresses or
-- reviewer groups, resolved to e-mail addresses only when a notification is
-- delivered; errors are recorded without the server's words, which may
-- quote an address.

CREATE TABLE {schema}.notify_offsets (
    stream text COLLATE "C" PRIMARY KEY,
    next_offset bigint NOT NULL CHECK (next_offset >= 0)
);

CREATE TABLE {schema}.notifications (
    id text COLLATE "C" PRIMARY KEY,
    ledger_offset bigint NOT NULL CHECK (ledger_offset >= 0),
    block_number bigint NOT NULL CHECK (block_number >= 0),
    tx_index integer NOT NULL CHECK (tx_index >= 0),
    seq integer NOT NULL CHECK (seq >= 0),
    tx_id text COLLATE "C" NOT NULL,
    channel text COLLATE "C" NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient text COLLATE "C" NOT NULL,
    case_id text COLLATE "C" NOT NULL,
    service_id text NOT NULL,
    service_version bigint NOT NULL CHECK (service_version >= 0),
    action text NOT NULL,
    state text NOT NULL,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'undeliverable')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- Milliseconds since the Unix epoch, by the sender's clock.
    next_attempt_ms bigint NOT NULL DEFAULT 0,
    sent_ms bigint,
    last_error text
);

-- The sender's queue: pending notifications in ledger order.
CREATE INDEX notifications_pending
    ON {schema}.notifications (ledger_offset, tx_index, seq)
    WHERE status = 'pending';

CREATE INDEX notifications_by_case ON {schema}.notifications (case_id);
