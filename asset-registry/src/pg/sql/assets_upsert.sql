-- `authorised` arrives as one JSON array of strings per asset.
INSERT INTO {schema}.assets
    (asset_id, owner_organisation, owner_address, authorised, latest_version,
     data_type, name, description, updated_in_block)
SELECT
    u.asset_id,
    u.owner_organisation,
    u.owner_address,
    ARRAY(
        SELECT e.value
        FROM jsonb_array_elements_text(u.authorised::jsonb) WITH ORDINALITY AS e (value, ord)
        ORDER BY e.ord
    ),
    u.latest_version,
    u.data_type,
    u.name,
    u.description,
    u.updated_in_block
FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
    $6::text[], $7::text[], $8::text[], $9::bigint[]
) AS u (asset_id, owner_organisation, owner_address, authorised, latest_version,
        data_type, name, description, updated_in_block)
ON CONFLICT (asset_id) DO UPDATE SET
    owner_organisation = excluded.owner_organisation,
    owner_address = excluded.owner_address,
    authorised = excluded.authorised,
    latest_version = excluded.latest_version,
    data_type = excluded.data_type,
    name = excluded.name,
    description = excluded.description,
    updated_in_block = excluded.updated_in_block
