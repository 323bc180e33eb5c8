INSERT INTO {schema}.notifications (
    id, ledger_offset, block_number, tx_index, seq, tx_id, channel, recipient,
    case_id, service_id, service_version, action, state
)
SELECT * FROM unnest(
    $1::text[], $2::bigint[], $3::bigint[], $4::integer[], $5::integer[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::text[], $13::text[]
)
ON CONFLICT (id) DO NOTHING
