UPDATE {schema}.notifications SET status = 'undeliverable', attempts = attempts + 1, last_error = $2 WHERE id = $1 AND status = 'pending'
