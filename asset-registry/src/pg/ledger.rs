//! The ledger stream: blocks turned into rows of `blocks`, `transactions`,
//! `identities`, `assets`, `asset_versions` and the billing accounts, with
//! the ledger offset stored in the same transaction.

use std::collections::BTreeMap;

use super::replay::lock_offsets;

use super::{
    AccountRow, AssetRow, BlockChanges, Error, IdentityRow, LEDGER_STREAM, Projections, Result,
    TransactionRow, VersionRow, execute, opt_to_i64, relaxed_commit, sql, to_i64, to_u64,
};

impl Projections {
    /// The next ledger offset to apply: 0 when nothing is applied.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn ledger_next_offset(&self) -> Result<u64> {
        let next = self.offsets_of(LEDGER_STREAM).await?;
        match next.get(&0) {
            Some(&next) => to_u64(next, "stream_offsets.next_offset"),
            None => Ok(0),
        }
    }

    /// Applies consecutive blocks in one transaction and returns how many
    /// were new.
    ///
    /// The stored next ledger offset is locked first. Blocks below it were
    /// applied before and are skipped; a batch that starts above it would
    /// leave a gap and is refused with [`Error::OffsetGap`], writing nothing.
    /// Within the batch, identities and assets keep their last row, and a
    /// repeated transaction id keeps its first.
    #[tracing::instrument(skip_all, fields(schema = %self.schema, n_blocks = blocks.len()))]
    pub async fn apply_blocks(&self, blocks: &[BlockChanges]) -> Result<usize> {
        let Some(first) = blocks.first() else { return Ok(0) };
        let first_offset = to_i64(first.block.log_offset, "blocks.log_offset")?;
        for (block_idx, block_changes) in blocks.iter().enumerate() {
            let expected = u64::try_from(block_idx)
                .ok()
                .and_then(|block_idx| first.block.log_offset.checked_add(block_idx));
            if expected != Some(block_changes.block.log_offset) {
                return Err(Error::BadBatch {
                    stream: LEDGER_STREAM.into(),
                    partition: 0,
                    message: format!(
                        "block {} has log offset {} but follows offset {} at position {block_idx}; blocks must be consecutive",
                        block_changes.block.number,
                        block_changes.block.log_offset,
                        first.block.log_offset
                    ),
                });
            }
        }
        let last_offset = match blocks.last() {
            Some(last) => to_i64(last.block.log_offset, "blocks.log_offset")?,
            None => first_offset,
        };
        let next_offset = last_offset.checked_add(1).ok_or(Error::OutOfRange {
            column: "stream_offsets.next_offset",
            value: last_offset.unsigned_abs() + 1,
        })?;

        let mut client = self.client().await?;
        let transaction = client
            .transaction()
            .await
            .map_err(self.sql_error("starting the ledger transaction"))?;
        relaxed_commit(self, &transaction).await?;
        let stored = lock_offsets(self, &transaction, LEDGER_STREAM, &[0]).await?;
        let stored = stored.get(&0).copied().unwrap_or(0);
        if stored < first_offset {
            transaction.rollback().await.map_err(self.sql_error("rolling back"))?;
            return Err(Error::OffsetGap {
                stream: LEDGER_STREAM.into(),
                partition: 0,
                stored,
                first: first_offset,
            });
        }
        let skip = usize::try_from(stored - first_offset).unwrap_or(usize::MAX);
        let Some(fresh) = blocks.get(skip..).filter(|fresh| !fresh.is_empty()) else {
            transaction.rollback().await.map_err(self.sql_error("rolling back"))?;
            return Ok(0);
        };

        write_ledger_rows(self, &transaction, fresh).await?;
        let _ = transaction
            .execute(
                &self.sql(sql::STREAM_OFFSETS_UPDATE),
                &[&LEDGER_STREAM, &vec![0i32], &vec![next_offset]],
            )
            .await
            .map_err(self.sql_error("storing the next ledger offset"))?;
        transaction.commit().await.map_err(self.sql_error("committing blocks"))?;
        tracing::debug!(applied = fresh.len(), next_offset, "applied blocks");
        Ok(fresh.len())
    }
}

/// Writes the rows of fresh blocks: one multi-row statement per table.
async fn write_ledger_rows(
    projections: &Projections,
    transaction: &deadpool_postgres::Transaction<'_>,
    blocks: &[BlockChanges],
) -> Result<()> {
    // Blocks.
    let mut number = Vec::with_capacity(blocks.len());
    let mut hash = Vec::with_capacity(blocks.len());
    let mut previous_hash = Vec::with_capacity(blocks.len());
    let mut state_root = Vec::with_capacity(blocks.len());
    let mut log_offset = Vec::with_capacity(blocks.len());
    let mut tx_count = Vec::with_capacity(blocks.len());
    for BlockChanges { block, .. } in blocks {
        number.push(to_i64(block.number, "blocks.number")?);
        hash.push(block.hash.as_str());
        previous_hash.push(block.previous_hash.as_str());
        state_root.push(block.state_root.as_str());
        log_offset.push(to_i64(block.log_offset, "blocks.log_offset")?);
        tx_count.push(i64::from(block.tx_count));
    }

    // Transactions: a repeated id keeps its first row.
    let mut first_transactions: BTreeMap<&str, &TransactionRow> = BTreeMap::new();
    for transaction_row in blocks.iter().flat_map(|changes| &changes.transactions) {
        let _ = first_transactions.entry(transaction_row.tx_id.as_str()).or_insert(transaction_row);
    }
    let mut tx_id = Vec::new();
    let mut tx_block = Vec::new();
    let mut tx_index = Vec::new();
    let mut tx_type = Vec::new();
    let mut code = Vec::new();
    let mut creator = Vec::new();
    let mut tx_timestamp = Vec::new();
    for row in first_transactions.values() {
        tx_id.push(row.tx_id.as_str());
        tx_block.push(to_i64(row.block_number, "transactions.block_number")?);
        tx_index.push(i64::from(row.index));
        tx_type.push(row.tx_type.as_str());
        code.push(row.code.as_str());
        creator.push(row.creator.as_deref());
        tx_timestamp.push(to_i64(row.timestamp_ms, "transactions.timestamp_ms")?);
    }

    // Identities: the last row of the batch wins.
    let mut last_identities: BTreeMap<&str, &IdentityRow> = BTreeMap::new();
    for identity in blocks.iter().flat_map(|changes| &changes.identities) {
        let _ = last_identities.insert(identity.address.as_str(), identity);
    }
    let mut address = Vec::new();
    let mut identity_name = Vec::new();
    let mut organisation = Vec::new();
    let mut role = Vec::new();
    let mut registered_in_block = Vec::new();
    let mut revoked_reason = Vec::new();
    let mut revoked_in_block = Vec::new();
    for row in last_identities.values() {
        address.push(row.address.as_str());
        identity_name.push(row.name.as_str());
        organisation.push(row.organisation.as_str());
        role.push(row.role.as_str());
        registered_in_block
            .push(to_i64(row.registered_in_block, "identities.registered_in_block")?);
        revoked_reason.push(row.revoked_reason.as_deref());
        revoked_in_block.push(opt_to_i64(row.revoked_in_block, "identities.revoked_in_block")?);
    }

    // Assets: the last row of the batch wins.
    let mut last_assets: BTreeMap<&str, &AssetRow> = BTreeMap::new();
    for asset in blocks.iter().flat_map(|changes| &changes.assets) {
        let _ = last_assets.insert(asset.asset_id.as_str(), asset);
    }
    let mut asset_id = Vec::new();
    let mut owner_organisation = Vec::new();
    let mut owner_address = Vec::new();
    let mut authorised = Vec::new();
    let mut latest_version = Vec::new();
    let mut asset_data_type = Vec::new();
    let mut asset_name = Vec::new();
    let mut asset_description = Vec::new();
    let mut updated_in_block = Vec::new();
    for row in last_assets.values() {
        asset_id.push(row.asset_id.as_str());
        owner_organisation.push(row.owner_organisation.as_str());
        owner_address.push(row.owner_address.as_str());
        authorised.push(serde_json::to_string(&row.authorised).map_err(|error| Error::Json {
            column: "assets.authorised",
            message: error.to_string(),
        })?);
        latest_version.push(to_i64(row.latest_version, "assets.latest_version")?);
        asset_data_type.push(row.data_type.as_str());
        asset_name.push(row.name.as_str());
        asset_description.push(row.description.as_str());
        updated_in_block.push(to_i64(row.updated_in_block, "assets.updated_in_block")?);
    }

    // Versions: immutable, inserted once.
    let versions: Vec<&VersionRow> = blocks.iter().flat_map(|changes| &changes.versions).collect();
    let mut version_asset = Vec::with_capacity(versions.len());
    let mut version = Vec::with_capacity(versions.len());
    let mut version_data_type = Vec::with_capacity(versions.len());
    let mut hash_algorithm = Vec::with_capacity(versions.len());
    let mut content_hash = Vec::with_capacity(versions.len());
    let mut size_bytes = Vec::with_capacity(versions.len());
    let mut version_name = Vec::with_capacity(versions.len());
    let mut version_description = Vec::with_capacity(versions.len());
    let mut schema_json = Vec::with_capacity(versions.len());
    let mut encoding = Vec::with_capacity(versions.len());
    let mut version_tx = Vec::with_capacity(versions.len());
    let mut version_block = Vec::with_capacity(versions.len());
    let mut version_timestamp = Vec::with_capacity(versions.len());
    for row in &versions {
        version_asset.push(row.asset_id.as_str());
        version.push(to_i64(row.version, "asset_versions.version")?);
        version_data_type.push(row.data_type.as_str());
        hash_algorithm.push(row.hash_algorithm.as_str());
        content_hash.push(row.content_hash.as_str());
        size_bytes.push(to_i64(row.size_bytes, "asset_versions.size_bytes")?);
        version_name.push(row.name.as_str());
        version_description.push(row.description.as_str());
        schema_json.push(row.schema.as_ref().map(serde_json::to_string).transpose().map_err(
            |error| Error::Json { column: "asset_versions.schema", message: error.to_string() },
        )?);
        encoding.push(row.encoding.as_str());
        version_tx.push(row.tx_id.as_str());
        version_block.push(to_i64(row.block_number, "asset_versions.block_number")?);
        version_timestamp.push(to_i64(row.timestamp_ms, "asset_versions.timestamp_ms")?);
    }

    let _ = execute(
        projections,
        transaction,
        sql::BLOCKS_INSERT,
        "inserting blocks",
        &[&number, &hash, &previous_hash, &state_root, &log_offset, &tx_count],
    )
    .await?;
    if !tx_id.is_empty() {
        let _ = execute(
            projections,
            transaction,
            sql::TRANSACTIONS_INSERT,
            "inserting transactions",
            &[&tx_id, &tx_block, &tx_index, &tx_type, &code, &creator, &tx_timestamp],
        )
        .await?;
    }
    if !address.is_empty() {
        let _ = execute(
            projections,
            transaction,
            sql::IDENTITIES_UPSERT,
            "upserting identities",
            &[
                &address,
                &identity_name,
                &organisation,
                &role,
                &registered_in_block,
                &revoked_reason,
                &revoked_in_block,
            ],
        )
        .await?;
    }
    if !asset_id.is_empty() {
        let _ = execute(
            projections,
            transaction,
            sql::ASSETS_UPSERT,
            "upserting assets",
            &[
                &asset_id,
                &owner_organisation,
                &owner_address,
                &authorised,
                &latest_version,
                &asset_data_type,
                &asset_name,
                &asset_description,
                &updated_in_block,
            ],
        )
        .await?;
    }
    // Accounts: the last row of the batch wins; plans and top-ups are immutable.
    let mut last_accounts: BTreeMap<&str, &AccountRow> = BTreeMap::new();
    for account in blocks.iter().flat_map(|changes| &changes.accounts) {
        let _ = last_accounts.insert(account.holder.as_str(), account);
    }
    for account in last_accounts.values() {
        let opened = to_i64(account.opened_in_block, "billing_accounts.opened_in_block")?;
        let credited = to_i64(account.credited, "billing_accounts.credited")?;
        let _ = execute(
            projections,
            transaction,
            sql::BILLING_ACCOUNTS_UPSERT,
            "upserting an account",
            &[&account.holder, &account.currency, &opened, &credited],
        )
        .await?;
        for plan in &account.plans {
            let from = to_i64(plan.from_height, "billing_plans.from_height")?;
            let t = &plan.tariff;
            let per_query = to_i64(t.price_per_query, "billing_plans.price_per_query")?;
            let per_mib = to_i64(t.price_per_mib, "billing_plans.price_per_mib")?;
            let free_queries =
                to_i64(t.free_queries_per_month, "billing_plans.free_queries_per_month")?;
            let free_mib = to_i64(t.free_mib_per_month, "billing_plans.free_mib_per_month")?;
            let rate = i64::from(plan.rate_limit_per_second);
            let _ = execute(
                projections,
                transaction,
                sql::BILLING_PLANS_INSERT,
                "inserting a plan",
                &[
                    &account.holder,
                    &from,
                    &plan.tx_id,
                    &per_query,
                    &per_mib,
                    &free_queries,
                    &free_mib,
                    &plan.payment,
                    &rate,
                ],
            )
            .await?;
        }
        for top_up in &account.top_ups {
            let block = to_i64(top_up.block_number, "billing_top_ups.block_number")?;
            let amount = to_i64(top_up.amount, "billing_top_ups.amount")?;
            let time = to_i64(top_up.timestamp_ms, "billing_top_ups.timestamp_ms")?;
            let _ = execute(
                projections,
                transaction,
                sql::BILLING_TOP_UPS_INSERT,
                "inserting a top-up",
                &[&top_up.tx_id, &account.holder, &block, &amount, &top_up.reference, &time],
            )
            .await?;
        }
    }
    if !version_asset.is_empty() {
        let _ = execute(
            projections,
            transaction,
            sql::ASSET_VERSIONS_INSERT,
            "inserting asset versions",
            &[
                &version_asset,
                &version,
                &version_data_type,
                &hash_algorithm,
                &content_hash,
                &size_bytes,
                &version_name,
                &version_description,
                &schema_json,
                &encoding,
                &version_tx,
                &version_block,
                &version_timestamp,
            ],
        )
        .await?;
    }
    Ok(())
}
