INSERT INTO {schema}.notify_offsets (stream, next_offset) VALUES ($1, 0) ON CONFLICT (stream) DO NOTHING
