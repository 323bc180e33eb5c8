//! The generated stream of the contract suite, and what it should read back
//! as, worked out by plain folds over the stream's own lists.
//!
//! Three organisations publish eight assets, several of them in two or
//! three versions, and change who may read them; two verifiers open
//! accounts, one changes its plan part way. Then 150 access events from
//! eight identities (one unidentified) over three months, allowed and
//! denied, billable and not, arrive on three partitions in batches, with a
//! batch sent twice and one event logged again on another partition.

use std::collections::BTreeMap;

use serde_json::json;

use crate::audit::{AccessEvent, Action, AuditFilter, Decision};
use crate::billing::{self, Line, Month, MonthTotals, Tariff, TariffPeriod};
use crate::rows::{
    AccessRecord, AccountRow, AssetRow, BlockChanges, BlockRow, IdentityRow, PlanRow,
    StoredAccessEvent, TransactionRow, UsageRow, VersionRow,
};

/// The name of the access-event stream the suite feeds.
pub const ACCESS_STREAM: &str = "contract-access";

/// 2026-10-01T00:00:00Z, the time of the first access event.
const FIRST_EVENT_MS: u64 = 1_790_812_800_000;

/// Half a day.
const EVENT_STEP_MS: u64 = 43_200_000;

/// How many access events the stream logs (before the one logged twice).
const N_EVENTS: usize = 150;

/// The verifiers with accounts, and one without.
pub const HOLDERS: [&str; 3] = ["addr-verifier-1", "addr-verifier-2", "addr-verifier-3"];

/// Who calls: the verifiers, readers of two organisations, an owner, and
/// an unidentified caller (empty address).
pub const CALLERS: [&str; 8] = [
    "addr-verifier-1",
    "addr-verifier-2",
    "addr-verifier-3",
    "addr-health-reader",
    "addr-transport-reader",
    "addr-energy-owner",
    "",
    "addr-verifier-1",
];

/// The name and description of one version.
type Text = (&'static str, &'static str);

/// The assets: id, data type and the name and description of each version.
const ASSETS: [(&str, &str, &[Text]); 8] = [
    (
        "health/clinics",
        "table",
        &[
            ("Clinics", "Opening hours of public clinics"),
            ("Clinics", "Opening hours and addresses of public clinics"),
            ("Public clinics", "Addresses of public clinics and their opening hours"),
        ],
    ),
    ("health/pharmacies", "table", &[("Pharmacies", "Night pharmacies by district")]),
    (
        "health/vaccination",
        "document",
        &[
            ("Vaccination rates", "Vaccination rates by district and month"),
            ("Vaccination rates", "Monthly vaccination rates by district"),
        ],
    ),
    (
        "transport/buses",
        "table",
        &[
            ("Bus stops", "Every bus stop with its lines"),
            ("Bus stops", "Bus stops and timetables of every line"),
        ],
    ),
    ("transport/bikes", "geo", &[("Bike lanes", "Bike lanes and bike parking near clinics")]),
    ("transport/parking", "table", &[("Parking", "Public parking with opening hours")]),
    (
        "energy/grid",
        "timeseries",
        &[
            ("Grid load", "Hourly grid load"),
            ("Grid load", "Hourly grid load by district"),
            ("Grid load and prices", "Hourly grid load and prices by district"),
        ],
    ),
    ("energy/meters", "table", &[("Smart meters", "Smart meter readings, anonymised")]),
];

/// A generated stream: the blocks and the access batches, in feeding order.
#[derive(Clone, Debug)]
pub struct Stream {
    /// The rows of every block, genesis first; feed them in one or more
    /// consecutive batches.
    pub blocks: Vec<BlockChanges>,
    /// Batches of access records of [`ACCESS_STREAM`], each sorted by
    /// partition and offset; the third is sent twice.
    pub access_batches: Vec<Vec<AccessRecord>>,
    /// Every asset as it stands after the last block.
    pub assets: BTreeMap<String, AssetRow>,
    /// Every version published.
    pub versions: Vec<VersionRow>,
    /// The plans of each account holder.
    pub plans: BTreeMap<String, Vec<TariffPeriod>>,
}

/// Builds the stream; the same every time.
pub fn stream() -> Stream {
    let mut builder = Builder::default();
    builder.genesis();
    for round in 0..3 {
        for (asset_id, data_type, versions) in ASSETS {
            if let Some((name, description)) = versions.get(round) {
                builder.publish(asset_id, data_type, round as u64 + 1, name, description);
            }
        }
        if round == 0 {
            builder.share("health/clinics", &["health", "addr-transport-reader"]);
            builder.share("transport/buses", &["transport", "health", "energy"]);
            builder.open_account(HOLDERS[0], tariff(2, 100, 5, 1));
            builder.open_account(HOLDERS[1], tariff(3, 0, 0, 0));
        }
        if round == 1 {
            builder.share("health/clinics", &["health"]);
            builder.share("energy/meters", &["energy", "addr-verifier-1"]);
            builder.change_plan(HOLDERS[1], tariff(1, 50, 10, 2));
        }
    }
    let height = builder.blocks.len() as u64 - 1;
    Stream {
        access_batches: access_batches(height),
        blocks: builder.blocks,
        assets: builder.assets,
        versions: builder.versions,
        plans: builder.plans,
    }
}

fn tariff(price_per_query: u64, price_per_mib: u64, free_queries: u64, free_mib: u64) -> Tariff {
    Tariff {
        price_per_query,
        price_per_mib,
        free_queries_per_month: free_queries,
        free_mib_per_month: free_mib,
    }
}

#[derive(Default)]
struct Builder {
    blocks: Vec<BlockChanges>,
    assets: BTreeMap<String, AssetRow>,
    versions: Vec<VersionRow>,
    accounts: BTreeMap<String, AccountRow>,
    plans: BTreeMap<String, Vec<TariffPeriod>>,
}

impl Builder {
    /// A new block with one transaction of `tx_type`.
    fn block(&mut self, tx_type: &str) -> &mut BlockChanges {
        let number = self.blocks.len() as u64;
        self.blocks.push(BlockChanges {
            block: BlockRow {
                number,
                hash: format!("{:064x}", number + 1),
                previous_hash: format!("{number:064x}"),
                state_root: format!("{:064x}", 0xc0ffee + number),
                log_offset: number,
                tx_count: 1,
            },
            transactions: vec![TransactionRow {
                tx_id: format!("tx-{number}"),
                block_number: number,
                index: 0,
                tx_type: tx_type.into(),
                code: "valid".into(),
                creator: Some("addr-operator".into()),
                timestamp_ms: FIRST_EVENT_MS - 10_000_000 + number,
            }],
            identities: Vec::new(),
            assets: Vec::new(),
            versions: Vec::new(),
            accounts: Vec::new(),
        });
        self.blocks.last_mut().expect("a block was just pushed")
    }

    fn genesis(&mut self) {
        let mut identities = Vec::new();
        for organisation in ["health", "transport", "energy"] {
            for role in ["owner", "reader"] {
                identities.push(IdentityRow {
                    address: format!("addr-{organisation}-{role}"),
                    name: format!("{organisation} {role}"),
                    organisation: organisation.into(),
                    role: role.into(),
                    registered_in_block: 0,
                    revoked_reason: None,
                    revoked_in_block: None,
                });
            }
        }
        let block = self.block("genesis");
        block.transactions.clear();
        block.block.tx_count = 0;
        block.identities = identities;
    }

    fn publish(
        &mut self,
        asset_id: &str,
        data_type: &str,
        version: u64,
        name: &str,
        description: &str,
    ) {
        let organisation = asset_id.split('/').next().unwrap_or_default().to_owned();
        let number = self.blocks.len() as u64;
        let previous = self.assets.get(asset_id);
        let asset = AssetRow {
            asset_id: asset_id.into(),
            owner_organisation: organisation.clone(),
            owner_address: format!("addr-{organisation}-owner"),
            authorised: previous.map(|a| a.authorised.clone()).unwrap_or_default(),
            latest_version: version,
            data_type: data_type.into(),
            name: name.into(),
            description: description.into(),
            updated_in_block: number,
        };
        let version_row = VersionRow {
            asset_id: asset_id.into(),
            version,
            data_type: data_type.into(),
            hash_algorithm: "sha256".into(),
            content_hash: format!("{:064x}", number * 1000 + version),
            size_bytes: 1000 * number + version,
            name: name.into(),
            description: description.into(),
            schema: (data_type == "table").then(|| {
                json!({"columns": [{"name": "id", "type": "integer"}, {"name": "name", "type": "text"}], "version": version})
            }),
            encoding: if data_type == "table" { "csv".into() } else { "json".into() },
            tx_id: format!("tx-{number}"),
            block_number: number,
            timestamp_ms: FIRST_EVENT_MS - 10_000_000 + number,
        };
        let _ = self.assets.insert(asset_id.into(), asset.clone());
        self.versions.push(version_row.clone());
        let block = self.block("publish_asset");
        block.assets.push(asset);
        block.versions.push(version_row);
    }

    fn share(&mut self, asset_id: &str, authorised: &[&str]) {
        let number = self.blocks.len() as u64;
        let Some(asset) = self.assets.get_mut(asset_id) else { return };
        asset.authorised = authorised.iter().map(|a| (*a).to_owned()).collect();
        asset.updated_in_block = number;
        let asset = asset.clone();
        self.block("set_sharing_rules").assets.push(asset);
    }

    fn open_account(&mut self, holder: &str, tariff: Tariff) {
        let number = self.blocks.len() as u64;
        let account = AccountRow {
            holder: holder.into(),
            currency: "EUR".into(),
            opened_in_block: number,
            credited: 0,
            plans: Vec::new(),
            top_ups: Vec::new(),
        };
        let _ = self.accounts.insert(holder.into(), account);
        self.set_plan(holder, tariff, "open_account");
    }

    fn change_plan(&mut self, holder: &str, tariff: Tariff) {
        self.set_plan(holder, tariff, "change_plan");
    }

    fn set_plan(&mut self, holder: &str, tariff: Tariff, tx_type: &str) {
        let number = self.blocks.len() as u64;
        let Some(account) = self.accounts.get_mut(holder) else { return };
        account.plans.push(PlanRow {
            from_height: number,
            tx_id: format!("tx-{number}"),
            tariff: tariff.clone(),
            payment: "postpaid".into(),
            rate_limit_per_second: 0,
        });
        let account = account.clone();
        self.plans
            .entry(holder.into())
            .or_default()
            .push(TariffPeriod { from_height: number, tariff });
        self.block(tx_type).accounts.push(account);
    }
}

/// The access events, on three partitions, in batches of 40 records.
fn access_batches(height: u64) -> Vec<Vec<AccessRecord>> {
    let actions = [
        Action::Verify,
        Action::RequestData,
        Action::VerifyCertificate,
        Action::ReadAudit,
        Action::RequestData,
        Action::VerifyDataHash,
    ];
    let mut next_offset = [0i64; 3];
    let mut records = Vec::new();
    for event_idx in 0..N_EVENTS {
        let asset_id = ASSETS[event_idx % ASSETS.len()].0;
        let identity = CALLERS[event_idx % CALLERS.len()];
        let action = actions[event_idx % actions.len()];
        let denied = event_idx % 4 == 3 || identity.is_empty();
        let partition = (event_idx % 3) as i32;
        let offset = next_offset[partition as usize];
        next_offset[partition as usize] += 1;
        let resource = match event_idx % 3 {
            0 => format!("asset:{asset_id}"),
            1 => format!("asset:{asset_id}@{}", 1 + event_idx % 2),
            _ => format!("certificate:{event_idx}"),
        };
        let event = AccessEvent {
            event_id: format!("event-{event_idx:03}"),
            // Two events share each time: the audit log orders them by partition and offset.
            time_ms: FIRST_EVENT_MS + (event_idx as u64 / 2) * EVENT_STEP_MS,
            identity: identity.into(),
            organisation: identity.split('-').nth(1).unwrap_or_default().into(),
            role: if identity.contains("verifier") { "verifier".into() } else { "reader".into() },
            action,
            resource,
            decision: if denied { Decision::Denied } else { Decision::Allowed },
            reason: if denied { "not authorised".into() } else { String::new() },
            bytes: if action == Action::RequestData {
                (event_idx as u64 * 400_037) % 3_000_000
            } else {
                0
            },
            latency_us: 100 + event_idx as u64,
            method: format!("/cairn.v1.Access/{}", action.as_str()),
            ledger_height: (event_idx as u64 * height) / N_EVENTS as u64,
            request: Vec::new(),
        };
        records.push(AccessRecord {
            partition,
            offset,
            node: format!("node-{}", event_idx % 2),
            leaf_index: Some(event_idx as u64),
            event,
        });
    }
    let mut batches: Vec<Vec<AccessRecord>> =
        records.chunks(40).map(<[AccessRecord]>::to_vec).collect();
    // A node logs event 10 again after a crash, on another partition.
    if let (Some(first), Some(last)) = (batches.first(), batches.last()) {
        let mut again = first[10].clone();
        again.partition = 0;
        again.offset = next_offset[0];
        again.node = "node-restarted".into();
        let mut last = last.clone();
        last.push(again);
        let n_batches = batches.len();
        batches[n_batches - 1] = last;
    }
    // The third batch is delivered twice.
    if let Some(third) = batches.get(2).cloned() {
        batches.insert(3, third);
    }
    for batch in &mut batches {
        batch.sort_by_key(|record| (record.partition, record.offset));
    }
    batches
}

impl Stream {
    /// Every event stored once, as first applied.
    pub fn stored_events(&self) -> Vec<StoredAccessEvent> {
        let mut stored: BTreeMap<String, StoredAccessEvent> = BTreeMap::new();
        for record in self.access_batches.iter().flatten() {
            let _ =
                stored.entry(record.event.event_id.clone()).or_insert_with(|| StoredAccessEvent {
                    event: record.event.clone(),
                    node: record.node.clone(),
                    leaf_index: record.leaf_index,
                    partition: record.partition,
                    offset: record.offset,
                });
        }
        let mut events: Vec<StoredAccessEvent> = stored.into_values().collect();
        events.sort_by_key(|e| (e.event.time_ms, e.partition, e.offset));
        events
    }

    /// What the audit log answers for `filter` and `limit`.
    pub fn audit(&self, filter: &AuditFilter, limit: usize) -> Vec<StoredAccessEvent> {
        let matching: Vec<StoredAccessEvent> = self
            .stored_events()
            .into_iter()
            .filter(|stored| {
                let event = &stored.event;
                filter.identity.as_ref().is_none_or(|i| *i == event.identity)
                    && filter.asset_id.as_ref().is_none_or(|a| event.asset_id() == Some(a.as_str()))
                    && filter.since_ms.is_none_or(|since| event.time_ms >= since)
                    && filter.decision.is_none_or(|d| d == event.decision)
            })
            .collect();
        let limit = if limit == 0 { filter.limit } else { limit };
        let skip = if limit == 0 { 0 } else { matching.len().saturating_sub(limit) };
        matching[skip..].to_vec()
    }

    /// The usage meters.
    pub fn usage(&self, identity: Option<&str>) -> Vec<UsageRow> {
        let mut meters: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
        for stored in self.stored_events() {
            let event = stored.event;
            if identity.is_some_and(|i| i != event.identity) {
                continue;
            }
            let meter = meters
                .entry((
                    event.identity,
                    event.action.as_str().into(),
                    event.decision.as_str().into(),
                ))
                .or_default();
            meter.0 += 1;
            meter.1 += event.bytes as i64;
        }
        meters
            .into_iter()
            .map(|((identity, action, decision), (events, bytes))| UsageRow {
                identity,
                action,
                decision,
                events,
                bytes,
            })
            .collect()
    }

    /// Every statement line of each holder and month, in metering order
    /// (batch by batch, first delivery only), with the monthly totals.
    pub fn bills(&self) -> BTreeMap<(String, Month), (Vec<Line>, MonthTotals)> {
        let mut bills: BTreeMap<(String, Month), (Vec<Line>, MonthTotals)> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for record in self.access_batches.iter().flatten() {
            if !seen.insert(record.event.event_id.clone()) {
                continue;
            }
            let Some(periods) = self.plans.get(&record.event.identity) else { continue };
            let key = (record.event.identity.clone(), Month::of_ms(record.event.time_ms));
            let (lines, totals) = bills.entry(key).or_default();
            if let Some(line) = billing::meter(
                &record.event,
                &record.node,
                record.leaf_index.unwrap_or(0),
                periods,
                totals,
            ) {
                totals.add(line.units, line.charge.amount);
                lines.push(line);
            }
        }
        bills.retain(|_, (lines, _)| !lines.is_empty());
        bills
    }
}
