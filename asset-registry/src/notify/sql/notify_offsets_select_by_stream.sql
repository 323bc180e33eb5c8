SELECT next_offset FROM {schema}.notify_offsets WHERE stream = $1
