//! The queries: identity status, directory search, version history, the
//! audit log and the usage meters.

use std::str::FromStr;

use crate::audit::{AccessEvent, Action, AuditFilter, Decision};

use super::{
    DirectoryEntry, Error, Projections, Result, SearchQuery, StoredAccessEvent, UsageRow,
    VersionRow, get, opt_to_i64, sql, to_u64, to_usize,
};

impl Projections {
    /// An identity's role and whether it is revoked (`None` when no identity
    /// has this address), with the height of the projected ledger it was read at.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn identity_status(&self, address: &str) -> Result<(Option<(String, bool)>, u64)> {
        let client = self.client().await?;
        let row = client
            .query_one(&self.sql(sql::IDENTITIES_SELECT_BY_ADDRESS), &[&address])
            .await
            .map_err(self.sql_error("reading an identity"))?;
        let role: Option<String> = get(&row, 0, "identities.role")?;
        let revoked: Option<bool> = get(&row, 1, "identities.revoked_reason")?;
        let height = to_u64(get(&row, 2, "blocks.number")?, "blocks.number")?;
        Ok((role.map(|role| (role, revoked.unwrap_or(false))), height))
    }

    /// Searches the directory: full text over names (weight A) and
    /// descriptions (weight B) with the `simple` configuration, or a
    /// substring of the asset id; best rank first, then by asset id.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn search(&self, query: &SearchQuery) -> Result<Vec<DirectoryEntry>> {
        let text = query.text.trim();
        let pattern = escape_like(text);
        let limit = query.effective_limit() as i64;
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(sql::ASSETS_SEARCH))
            .await
            .map_err(self.sql_error("preparing the directory search"))?;
        let rows = client
            .query(
                &statement,
                &[&text, &pattern, &query.owner_organisation, &query.data_type, &limit],
            )
            .await
            .map_err(self.sql_error("searching the directory"))?;
        rows.iter()
            .map(|row| {
                Ok(DirectoryEntry {
                    asset_id: get(row, 0, "assets.asset_id")?,
                    owner_organisation: get(row, 1, "assets.owner_organisation")?,
                    owner_address: get(row, 2, "assets.owner_address")?,
                    data_type: get(row, 3, "assets.data_type")?,
                    name: get(row, 4, "assets.name")?,
                    description: get(row, 5, "assets.description")?,
                    latest_version: to_u64(
                        get(row, 6, "assets.latest_version")?,
                        "assets.latest_version",
                    )?,
                    authorised_count: to_usize(
                        i64::from(get::<Option<i32>>(row, 7, "assets.authorised")?.unwrap_or(0)),
                        "assets.authorised",
                    )?,
                    rank: get(row, 8, "rank")?,
                })
            })
            .collect()
    }

    /// Every published version of an asset, oldest first.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn history(&self, asset_id: &str) -> Result<Vec<VersionRow>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(sql::ASSET_VERSIONS_SELECT_BY_ASSET))
            .await
            .map_err(self.sql_error("preparing the history query"))?;
        let rows = client
            .query(&statement, &[&asset_id])
            .await
            .map_err(self.sql_error(format!("reading the history of {asset_id}")))?;
        rows.iter()
            .map(|row| {
                let schema_json: Option<String> = get(row, 8, "asset_versions.schema")?;
                let schema = schema_json
                    .map(|text| serde_json::from_str(&text))
                    .transpose()
                    .map_err(|error| Error::Json {
                        column: "asset_versions.schema",
                        message: error.to_string(),
                    })?;
                Ok(VersionRow {
                    asset_id: get(row, 0, "asset_versions.asset_id")?,
                    version: to_u64(
                        get(row, 1, "asset_versions.version")?,
                        "asset_versions.version",
                    )?,
                    data_type: get(row, 2, "asset_versions.data_type")?,
                    hash_algorithm: get(row, 3, "asset_versions.hash_algorithm")?,
                    content_hash: get(row, 4, "asset_versions.content_hash")?,
                    size_bytes: to_u64(
                        get(row, 5, "asset_versions.size_bytes")?,
                        "asset_versions.size_bytes",
                    )?,
                    name: get(row, 6, "asset_versions.name")?,
                    description: get(row, 7, "asset_versions.description")?,
                    schema,
                    encoding: get(row, 9, "asset_versions.encoding")?,
                    tx_id: get(row, 10, "asset_versions.tx_id")?,
                    block_number: to_u64(
                        get(row, 11, "asset_versions.block_number")?,
                        "asset_versions.block_number",
                    )?,
                    timestamp_ms: to_u64(
                        get(row, 12, "asset_versions.timestamp_ms")?,
                        "asset_versions.timestamp_ms",
                    )?,
                })
            })
            .collect()
    }

    /// The newest matching access events, oldest first: at most `limit`, or
    /// `filter.limit` when `limit` is 0, or all when both are 0. Newest means
    /// by event time, then partition and offset.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn audit(
        &self,
        filter: &AuditFilter,
        limit: usize,
    ) -> Result<Vec<StoredAccessEvent>> {
        let limit = match (limit, filter.limit) {
            (0, 0) => None,
            (0, limit) | (limit, _) => Some(i64::try_from(limit).unwrap_or(i64::MAX)),
        };
        let since = opt_to_i64(filter.since_ms, "access_events.time_ms")?;
        let decision = filter.decision.map(Decision::as_str);
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(sql::ACCESS_EVENTS_SELECT))
            .await
            .map_err(self.sql_error("preparing the audit query"))?;
        let rows = client
            .query(&statement, &[&filter.identity, &filter.asset_id, &since, &decision, &limit])
            .await
            .map_err(self.sql_error("reading access events"))?;
        let mut events = rows
            .iter()
            .map(|row| {
                let action: String = get(row, 5, "access_events.action")?;
                let action = Action::from_str(&action).map_err(|_| Error::Corrupt {
                    column: "access_events.action",
                    value: action,
                    expected: "an access-event action",
                })?;
                let decision: String = get(row, 7, "access_events.decision")?;
                let decision = Decision::from_str(&decision).map_err(|_| Error::Corrupt {
                    column: "access_events.decision",
                    value: decision,
                    expected: "allowed or denied",
                })?;
                Ok(StoredAccessEvent {
                    event: AccessEvent {
                        event_id: get(row, 0, "access_events.event_id")?,
                        time_ms: to_u64(
                            get(row, 1, "access_events.time_ms")?,
                            "access_events.time_ms",
                        )?,
                        identity: get(row, 2, "access_events.identity")?,
                        organisation: get(row, 3, "access_events.organisation")?,
                        role: get(row, 4, "access_events.role")?,
                        action,
                        resource: get(row, 6, "access_events.resource")?,
                        decision,
                        reason: get(row, 8, "access_events.reason")?,
                        bytes: to_u64(get(row, 9, "access_events.bytes")?, "access_events.bytes")?,
                        latency_us: to_u64(
                            get(row, 10, "access_events.latency_us")?,
                            "access_events.latency_us",
                        )?,
                        method: get(row, 11, "access_events.method")?,
                        ledger_height: to_u64(
                            get(row, 16, "access_events.ledger_height")?,
                            "access_events.ledger_height",
                        )?,
                        // The projection does not keep envelopes: it checked
                        // them before storing (see `cairn project`).
                        request: Vec::new(),
                    },
                    node: get(row, 12, "access_events.node")?,
                    leaf_index: get::<Option<i64>>(row, 13, "access_events.leaf_index")?
                        .map(|leaf_index| to_u64(leaf_index, "access_events.leaf_index"))
                        .transpose()?,
                    partition: get(row, 14, "access_events.partition")?,
                    offset: get(row, 15, "access_events.offset")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        events.reverse();
        Ok(events)
    }

    /// The usage meters, of one identity or of all, by identity, action and
    /// decision.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn usage(&self, identity: Option<&str>) -> Result<Vec<UsageRow>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&self.sql(sql::USAGE_SELECT))
            .await
            .map_err(self.sql_error("preparing the usage query"))?;
        let rows = client
            .query(&statement, &[&identity])
            .await
            .map_err(self.sql_error("reading usage"))?;
        rows.iter()
            .map(|row| {
                Ok(UsageRow {
                    identity: get(row, 0, "usage.identity")?,
                    action: get(row, 1, "usage.action")?,
                    decision: get(row, 2, "usage.decision")?,
                    events: get(row, 3, "usage.events")?,
                    bytes: get(row, 4, "usage.bytes")?,
                })
            })
            .collect()
    }
}

/// Escapes `\`, `%` and `_` for `LIKE … ESCAPE '\'`.
pub(super) fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
