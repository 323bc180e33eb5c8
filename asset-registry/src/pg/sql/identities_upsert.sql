INSERT INTO {schema}.identities
    (address, name, organisation, role, registered_in_block, revoked_reason, revoked_in_block)
SELECT *
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[])
ON CONFLICT (address) DO UPDATE SET
    name = excluded.name,
    organisation = excluded.organisation,
    role = excluded.role,
    registered_in_block = excluded.registered_in_block,
    revoked_reason = excluded.revoked_reason,
    revoked_in_block = excluded.revoked_in_block
