-- $1: the words ('' lists every asset), $2: the same text with LIKE
-- wildcards escaped, $3: owner organisation, $4: data type, $5: limit.
WITH q AS (SELECT websearch_to_tsquery('simple', $1::text) AS query)
SELECT a.asset_id, a.owner_organisation, a.owner_address, a.data_type, a.name, a.description,
       a.latest_version, cardinality(a.authorised) AS authorised_count,
       CASE WHEN $1::text = '' THEN 0::real ELSE ts_rank(a.search, q.query) END AS rank
FROM {schema}.assets AS a, q
WHERE ($1::text = ''
       OR a.search @@ q.query
       OR a.asset_id ILIKE '%' || $2::text || '%' ESCAPE '\')
  AND ($3::text IS NULL OR a.owner_organisation = $3::text)
  AND ($4::text IS NULL OR a.data_type = $4::text)
ORDER BY rank DESC, a.asset_id COLLATE "C"
LIMIT $5
