UPDATE {schema}.notifications SET status = 'sent', attempts = attempts + 1, sent_ms = $2, last_error = NULL WHERE id = $1 AND status = 'pending'
