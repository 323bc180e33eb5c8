SELECT min(next_attempt_ms) FROM {schema}.notifications WHERE status = 'pending'
