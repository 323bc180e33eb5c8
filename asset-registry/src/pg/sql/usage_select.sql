SELECT identity, action, decision, events, bytes
FROM {schema}."usage"
WHERE ($1::text IS NULL OR identity = $1::text)
ORDER BY identity COLLATE "C", action COLLATE "C", decision COLLATE "C"
