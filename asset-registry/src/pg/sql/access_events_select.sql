-- The newest matching events. $1: identity, $2: asset id, $3: since (ms),
-- $4: decision, $5: limit (NULL: all).
-- The asset test mirrors `AccessEvent::asset_id`: the resource is
-- `asset:ID` (ID without '@') or `asset:ID@SUFFIX` (SUFFIX without '@').
SELECT event_id, time_ms, identity, organisation, role, action, resource, decision, reason,
       bytes, latency_us, method, node, leaf_index, "partition", "offset", ledger_height
FROM {schema}.access_events
WHERE ($1::text IS NULL OR identity = $1::text)
  AND ($2::text IS NULL
       OR (resource COLLATE "C" = 'asset:' || $2::text AND strpos($2::text, '@') = 0)
       OR (resource COLLATE "C" >= 'asset:' || $2::text || '@'
           AND resource COLLATE "C" < 'asset:' || $2::text || 'A'
           AND strpos(substr(resource, length($2::text) + 8), '@') = 0))
  AND ($3::bigint IS NULL OR time_ms >= $3::bigint)
  AND ($4::text IS NULL OR decision = $4::text)
ORDER BY time_ms DESC, "partition" DESC, "offset" DESC
LIMIT $5
