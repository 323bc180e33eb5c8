UPDATE {schema}.notify_offsets SET next_offset = $2 WHERE stream = $1
