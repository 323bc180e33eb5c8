-- Migration 3: the billing projections. Accounts, plans and top-ups come
-- from the ledger stream; the metered lines and monthly totals from the
-- access-event stream, priced by the plan in effect at the ledger height of
-- each event's decision (asset-registry `billing`). Money is in integer minor
-- units of the account's currency.

CREATE TABLE {schema}.billing_accounts (
    holder text COLLATE "C" PRIMARY KEY,
    currency text NOT NULL,
    opened_in_block bigint NOT NULL,
    credited bigint NOT NULL
);

CREATE TABLE {schema}.billing_plans (
    holder text COLLATE "C" NOT NULL,
    from_height bigint NOT NULL,
    tx_id text NOT NULL,
    price_per_query bigint NOT NULL,
    price_per_mib bigint NOT NULL,
    free_queries_per_month bigint NOT NULL,
    free_mib_per_month bigint NOT NULL,
    payment text NOT NULL,
    rate_limit_per_second bigint NOT NULL,
    PRIMARY KEY (holder, from_height)
);

CREATE TABLE {schema}.billing_top_ups (
    tx_id text COLLATE "C" PRIMARY KEY,
    holder text COLLATE "C" NOT NULL,
    block_number bigint NOT NULL,
    amount bigint NOT NULL,
    reference text NOT NULL,
    timestamp_ms bigint NOT NULL
);

-- The fold's state: what each holder used and was charged in each month.
CREATE TABLE {schema}.billing_months (
    holder text COLLATE "C" NOT NULL,
    "month" integer NOT NULL,
    events bigint NOT NULL,
    queries bigint NOT NULL,
    bytes bigint NOT NULL,
    charged bigint NOT NULL,
    PRIMARY KEY (holder, "month")
);

-- One line per metered event of an account holder; `line` numbers the
-- holder's lines of the month in metering order, from 1.
CREATE TABLE {schema}.billing_lines (
    event_id text COLLATE "C" PRIMARY KEY,
    holder text COLLATE "C" NOT NULL,
    "month" integer NOT NULL,
    line bigint NOT NULL,
    time_ms bigint NOT NULL,
    action text NOT NULL,
    resource text NOT NULL,
    queries bigint NOT NULL,
    bytes bigint NOT NULL,
    query_amount bigint NOT NULL,
    traffic_amount bigint NOT NULL,
    amount bigint NOT NULL,
    ledger_height bigint NOT NULL,
    plan_from_height bigint NOT NULL,
    note text NOT NULL,
    node text NOT NULL,
    leaf_index bigint NOT NULL,
    UNIQUE (holder, "month", line)
);
