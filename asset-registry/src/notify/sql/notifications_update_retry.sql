UPDATE {schema}.notifications SET attempts = attempts + 1, next_attempt_ms = $2, last_error = $3 WHERE id = $1 AND status = 'pending'
