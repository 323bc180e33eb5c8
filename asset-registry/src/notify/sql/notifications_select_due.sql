SELECT id, ledger_offset, block_number, tx_index, seq, tx_id, channel, recipient,
       case_id, service_id, service_version, action, state, attempts
FROM {schema}.notifications
WHERE status = 'pending' AND next_attempt_ms <= $1
ORDER BY ledger_offset, tx_index, seq
LIMIT $2
