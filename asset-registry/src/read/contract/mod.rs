//! The contract suite of the read models: what every implementation must
//! answer after being fed the same stream.
//!
//! [`run`] feeds an empty implementation the generated [`stream::Stream`]
//! through [`Feed`] and checks each read model against answers worked out
//! from the stream's own lists ([`directory`], [`history`], [`audit_log`],
//! [`meters`]). [`answers`] asks an implementation a fixed battery of
//! queries ([`Questions`]), so that a test can feed two implementations the
//! same stream and require identical [`Answers`]. The functions panic on the
//! first wrong answer, like `assert!`.
//!
//! ```
//! # async fn example() {
//! use asset_registry::read::contract;
//! use asset_registry::read::memory::MemoryReadModels;
//!
//! let stream = contract::stream::stream();
//! contract::run(&MemoryReadModels::new(), &stream).await;
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(example());
//! ```

use std::collections::BTreeSet;

use crate::audit::{AuditFilter, Decision};
use crate::billing::{Line, Month, MonthTotals};
use crate::rows::{
    AccessApplied, DirectoryEntry, SearchQuery, StoredAccessEvent, UsageRow, VersionRow,
};

use super::{AuditLog, Directory, Feed, History, Meters, ReadModels};

pub mod stream;

use self::stream::{ACCESS_STREAM, CALLERS, HOLDERS, Stream};

/// Feeds `read_models` (empty) the stream, then runs every check.
pub async fn run<R: ReadModels + Feed>(read_models: &R, stream: &Stream) {
    feed(read_models, stream).await;
    directory(read_models, stream).await;
    history(read_models, stream).await;
    audit_log(read_models, stream).await;
    meters(read_models, stream).await;
}

/// Feeds the blocks in two batches (the second overlapping the first, as a
/// projector restarting would) and the access batches in order, checking
/// what each call says it applied.
pub async fn feed<F: Feed>(read_models: &F, stream: &Stream) {
    let n_blocks = stream.blocks.len();
    let split = n_blocks / 2;
    assert_eq!(read_models.apply_blocks(&stream.blocks[..split]).await.unwrap(), split);
    // Blocks applied before are skipped; the rest are new.
    let overlap = &stream.blocks[split - 2..];
    assert_eq!(read_models.apply_blocks(overlap).await.unwrap(), n_blocks - split);
    assert_eq!(read_models.apply_blocks(overlap).await.unwrap(), 0);
    let mut total = AccessApplied::default();
    for batch in &stream.access_batches {
        let applied = read_models.apply_access(ACCESS_STREAM, batch).await.unwrap();
        total.applied += applied.applied;
        total.duplicates += applied.duplicates;
        total.already_applied += applied.already_applied;
        total.billed += applied.billed;
    }
    let n_lines: usize = stream.bills().values().map(|(lines, _)| lines.len()).sum();
    assert_eq!(
        total,
        AccessApplied {
            applied: stream.stored_events().len(),
            duplicates: 1,
            already_applied: stream.access_batches[2].len(),
            billed: n_lines,
        }
    );
}

/// An entry as the directory lists the asset now, with `rank`.
fn entry(stream: &Stream, asset_id: &str, rank: f32) -> DirectoryEntry {
    let asset = &stream.assets[asset_id];
    DirectoryEntry {
        asset_id: asset.asset_id.clone(),
        owner_organisation: asset.owner_organisation.clone(),
        owner_address: asset.owner_address.clone(),
        data_type: asset.data_type.clone(),
        name: asset.name.clone(),
        description: asset.description.clone(),
        latest_version: asset.latest_version,
        authorised_count: asset.authorised.len(),
        rank,
    }
}

fn ids(entries: &[DirectoryEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.asset_id.as_str()).collect()
}

fn search_query(text: &str) -> SearchQuery {
    SearchQuery { text: text.into(), ..SearchQuery::default() }
}

/// Directory search: listing, filters, limits, words, asset-id substrings
/// and ranking.
pub async fn directory<R: Directory>(read_models: &R, stream: &Stream) {
    let everything = read_models.search(&SearchQuery::default()).await.unwrap();
    let expected: Vec<DirectoryEntry> =
        stream.assets.keys().map(|asset_id| entry(stream, asset_id, 0.0)).collect();
    assert_eq!(everything, expected, "an empty text lists every asset by id, unranked");
    assert_eq!(everything.len(), 8);

    let first_three =
        read_models.search(&SearchQuery { limit: 3, ..SearchQuery::default() }).await.unwrap();
    assert_eq!(first_three, expected[..3]);
    let clamped =
        read_models.search(&SearchQuery { limit: 5000, ..SearchQuery::default() }).await.unwrap();
    assert_eq!(clamped, expected);

    let tables = read_models
        .search(&SearchQuery { data_type: Some("table".into()), ..SearchQuery::default() })
        .await
        .unwrap();
    assert_eq!(
        ids(&tables),
        [
            "energy/meters",
            "health/clinics",
            "health/pharmacies",
            "transport/buses",
            "transport/parking"
        ]
    );

    let clinics = read_models.search(&search_query("clinics")).await.unwrap();
    assert_eq!(ids(&clinics), ["health/clinics", "transport/bikes"]);
    assert!(
        clinics[0].rank > clinics[1].rank && clinics[1].rank > 0.0,
        "a word in the name ranks above the same word in a description: {clinics:?}"
    );
    assert_eq!(clinics[0], entry(stream, "health/clinics", clinics[0].rank));

    let case = read_models.search(&search_query("  CLINICS ")).await.unwrap();
    assert_eq!(case, clinics, "words are matched without case and the text is trimmed");

    let both = read_models.search(&search_query("opening hours")).await.unwrap();
    assert_eq!(
        BTreeSet::from_iter(ids(&both)),
        BTreeSet::from(["health/clinics", "transport/parking"])
    );
    assert!(both[0].rank >= both[1].rank);

    let by_id = read_models.search(&search_query("Clinic")).await.unwrap();
    assert_eq!(ids(&by_id), ["health/clinics"], "a part of the asset id matches the id");
    assert_eq!(by_id[0].rank, 0.0, "no word of the text is in the name or description");
    let slash = read_models.search(&search_query("energy/")).await.unwrap();
    assert_eq!(ids(&slash), ["energy/grid", "energy/meters"]);

    let district = read_models
        .search(&SearchQuery {
            text: "district".into(),
            owner_organisation: Some("health".into()),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        BTreeSet::from_iter(ids(&district)),
        BTreeSet::from(["health/pharmacies", "health/vaccination"])
    );

    assert!(read_models.search(&search_query("submarine")).await.unwrap().is_empty());
    let old_words = read_models.search(&search_query("month")).await.unwrap();
    assert!(old_words.is_empty(), "only the latest version's words are searched: {old_words:?}");
    assert!(read_models.search(&search_query("monthly grid")).await.unwrap().is_empty());
}

/// Version history: every version of an asset, oldest first, as published.
pub async fn history<R: History>(read_models: &R, stream: &Stream) {
    for asset_id in stream.assets.keys() {
        let expected: Vec<VersionRow> =
            stream.versions.iter().filter(|v| v.asset_id == *asset_id).cloned().collect();
        assert!(!expected.is_empty());
        assert_eq!(read_models.history(asset_id).await.unwrap(), expected, "{asset_id}");
    }
    assert_eq!(read_models.history("health/clinics").await.unwrap().len(), 3);
    assert!(read_models.history("health").await.unwrap().is_empty());
    assert!(read_models.history("nobody/nothing").await.unwrap().is_empty());
}

/// The audit filters the suite asks about, with the limit passed beside them.
pub fn audit_filters() -> Vec<(AuditFilter, usize)> {
    let mut filters = vec![
        (AuditFilter::default(), 0),
        (AuditFilter::default(), 7),
        (AuditFilter { limit: 5, ..AuditFilter::default() }, 0),
        (AuditFilter { limit: 5, ..AuditFilter::default() }, 9),
        (AuditFilter { decision: Some(Decision::Denied), ..AuditFilter::default() }, 0),
        (AuditFilter { decision: Some(Decision::Allowed), ..AuditFilter::default() }, 10),
        (AuditFilter { since_ms: Some(1_795_000_000_000), ..AuditFilter::default() }, 0),
        (AuditFilter { identity: Some(String::new()), ..AuditFilter::default() }, 0),
        (AuditFilter { asset_id: Some("health/clin".into()), ..AuditFilter::default() }, 0),
    ];
    for identity in CALLERS.iter().take(6) {
        filters.push((
            AuditFilter { identity: Some((*identity).into()), ..AuditFilter::default() },
            0,
        ));
    }
    for asset_id in ["health/clinics", "transport/buses", "energy/grid"] {
        filters
            .push((AuditFilter { asset_id: Some(asset_id.into()), ..AuditFilter::default() }, 0));
        filters.push((
            AuditFilter {
                asset_id: Some(asset_id.into()),
                identity: Some(HOLDERS[0].into()),
                decision: Some(Decision::Allowed),
                since_ms: Some(1_792_000_000_000),
                limit: 3,
            },
            0,
        ));
    }
    filters
}

/// The audit log: filters by identity, asset, time and decision, limits,
/// ordering, and events logged twice stored once.
pub async fn audit_log<R: AuditLog>(read_models: &R, stream: &Stream) {
    let all = read_models.audit(&AuditFilter::default(), 0).await.unwrap();
    assert_eq!(all, stream.stored_events());
    assert_eq!(all.len(), 150);
    let again = all.iter().find(|e| e.event.event_id == "event-010").unwrap();
    assert_ne!(again.node, "node-restarted", "an event logged twice keeps its first record");
    for (filter, limit) in audit_filters() {
        let expected = stream.audit(&filter, limit);
        let answered = read_models.audit(&filter, limit).await.unwrap();
        assert_eq!(answered, expected, "{filter:?}, limit {limit}");
    }
    let denied = read_models
        .audit(&AuditFilter { decision: Some(Decision::Denied), ..AuditFilter::default() }, 0)
        .await
        .unwrap();
    assert!(!denied.is_empty() && denied.len() < all.len());
    let newest = read_models.audit(&AuditFilter::default(), 4).await.unwrap();
    assert_eq!(newest, all[all.len() - 4..], "a limit keeps the newest, oldest first");
}

/// Usage meters and bills.
pub async fn meters<R: Meters>(read_models: &R, stream: &Stream) {
    let usage = read_models.usage(None).await.unwrap();
    assert_eq!(usage, stream.usage(None));
    assert_eq!(usage.iter().map(|row| row.events).sum::<i64>(), 150);
    for identity in CALLERS {
        assert_eq!(read_models.usage(Some(identity)).await.unwrap(), stream.usage(Some(identity)));
    }
    assert!(read_models.usage(Some("addr-nobody")).await.unwrap().is_empty());

    let bills = stream.bills();
    assert!(bills.keys().filter(|(holder, _)| holder == HOLDERS[1]).count() >= 2);
    assert!(bills.values().any(|(lines, _)| lines.iter().any(|line| line.charge.amount > 0)));
    assert!(bills.values().any(|(lines, _)| lines.iter().any(|line| line.charge.amount == 0)));
    for holder in HOLDERS {
        let months = read_models.billing_months(holder).await.unwrap();
        let with_lines: Vec<(Month, MonthTotals)> = months
            .iter()
            .filter(|(_, totals)| *totals != MonthTotals::default())
            .copied()
            .collect();
        let expected: Vec<(Month, MonthTotals)> = bills
            .iter()
            .filter(|((bill_holder, _), _)| bill_holder == holder)
            .map(|((_, month), (_, totals))| (*month, *totals))
            .collect();
        assert_eq!(with_lines, expected, "{holder}: months with lines");
        for (month, _) in &months {
            let lines: Vec<Line> = bills
                .get(&(holder.to_owned(), *month))
                .map(|(lines, _)| lines.clone())
                .unwrap_or_default();
            assert_eq!(read_models.billing_lines(holder, *month).await.unwrap(), lines);
        }
    }
    assert!(read_models.billing_months(HOLDERS[2]).await.unwrap().is_empty(), "no account");
    assert!(read_models.billing_lines(HOLDERS[0], Month(0)).await.unwrap().is_empty());
}

/// The battery of queries [`answers`] asks.
#[derive(Clone, Debug)]
pub struct Questions {
    /// Directory searches.
    pub searches: Vec<SearchQuery>,
    /// Asset ids whose history is asked.
    pub histories: Vec<String>,
    /// Audit filters, with the limit passed beside them.
    pub audits: Vec<(AuditFilter, usize)>,
    /// Identities whose usage is asked (`None`: all).
    pub usage: Vec<Option<String>>,
    /// Holders and months whose bills are asked.
    pub bills: Vec<(String, Month)>,
}

/// Searches, histories, audit filters, usage and bills over the stream:
/// every word of every name and description, parts of asset ids, filters
/// and limits.
pub fn questions(stream: &Stream) -> Questions {
    let mut texts: BTreeSet<String> = BTreeSet::new();
    for asset in stream.assets.values() {
        for word in super::text::lexemes(&format!("{} {}", asset.name, asset.description)) {
            let _ = texts.insert(word);
        }
        let _ = texts.insert(format!("{} {}", asset.name, asset.description));
        let _ = texts.insert(asset.asset_id.clone());
    }
    for text in [
        "",
        "clinics opening",
        "bus line",
        "hours clinics public",
        "CLINIC",
        "th/",
        "100%",
        "energy/",
        "/",
    ] {
        let _ = texts.insert(text.into());
    }
    let mut searches = Vec::new();
    for text in texts {
        for (owner_organisation, data_type, limit) in [
            (None, None, 0),
            (None, None, 2),
            (Some("health"), None, 0),
            (None, Some("table"), 1),
            (Some("transport"), Some("table"), 0),
        ] {
            searches.push(SearchQuery {
                text: text.clone(),
                owner_organisation: owner_organisation.map(Into::into),
                data_type: data_type.map(Into::into),
                limit,
            });
        }
    }
    let mut months: BTreeSet<Month> = BTreeSet::new();
    for stored in stream.stored_events() {
        let _ = months.insert(Month::of_ms(stored.event.time_ms));
    }
    Questions {
        searches,
        histories: stream.assets.keys().cloned().chain(["missing/asset".into()]).collect(),
        audits: audit_filters(),
        usage: std::iter::once(None).chain(CALLERS.iter().map(|c| Some((*c).to_owned()))).collect(),
        bills: HOLDERS
            .iter()
            .flat_map(|holder| months.iter().map(|month| ((*holder).to_owned(), *month)))
            .collect(),
    }
}

/// What an implementation answered to [`Questions`], in the same order.
#[derive(Clone, Debug, PartialEq)]
pub struct Answers {
    /// One list per search.
    pub searches: Vec<Vec<DirectoryEntry>>,
    /// One list per history.
    pub histories: Vec<Vec<VersionRow>>,
    /// One list per audit filter.
    pub audits: Vec<Vec<StoredAccessEvent>>,
    /// One list per usage question.
    pub usage: Vec<Vec<UsageRow>>,
    /// The monthly totals of each holder asked about, in order of first mention.
    pub months: Vec<Vec<(Month, MonthTotals)>>,
    /// One list per bill.
    pub lines: Vec<Vec<Line>>,
}

/// Asks `read_models` every question.
pub async fn answers<R: ReadModels>(read_models: &R, questions: &Questions) -> Answers {
    let mut answers = Answers {
        searches: Vec::new(),
        histories: Vec::new(),
        audits: Vec::new(),
        usage: Vec::new(),
        months: Vec::new(),
        lines: Vec::new(),
    };
    for query in &questions.searches {
        answers.searches.push(read_models.search(query).await.unwrap());
    }
    for asset_id in &questions.histories {
        answers.histories.push(read_models.history(asset_id).await.unwrap());
    }
    for (filter, limit) in &questions.audits {
        answers.audits.push(read_models.audit(filter, *limit).await.unwrap());
    }
    for identity in &questions.usage {
        answers.usage.push(read_models.usage(identity.as_deref()).await.unwrap());
    }
    let holders: BTreeSet<&str> =
        questions.bills.iter().map(|(holder, _)| holder.as_str()).collect();
    for holder in holders {
        answers.months.push(read_models.billing_months(holder).await.unwrap());
    }
    for (holder, month) in &questions.bills {
        answers.lines.push(read_models.billing_lines(holder, *month).await.unwrap());
    }
    answers
}

/// Asserts two sets of answers are identical, naming the first question
/// they differ on.
pub fn assert_same_answers(questions: &Questions, left: &Answers, right: &Answers) {
    for (idx, query) in questions.searches.iter().enumerate() {
        assert_eq!(left.searches[idx], right.searches[idx], "search {query:?}");
    }
    for (idx, asset_id) in questions.histories.iter().enumerate() {
        assert_eq!(left.histories[idx], right.histories[idx], "history of {asset_id}");
    }
    for (idx, (filter, limit)) in questions.audits.iter().enumerate() {
        assert_eq!(left.audits[idx], right.audits[idx], "audit {filter:?}, limit {limit}");
    }
    for (idx, identity) in questions.usage.iter().enumerate() {
        assert_eq!(left.usage[idx], right.usage[idx], "usage of {identity:?}");
    }
    assert_eq!(left.months, right.months, "monthly totals");
    for (idx, (holder, month)) in questions.bills.iter().enumerate() {
        assert_eq!(left.lines[idx], right.lines[idx], "lines of {holder} in {month:?}");
    }
    assert_eq!(left, right);
}
