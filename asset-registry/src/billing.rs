//! Metering and statements: what each access event of an account holder
//! costs, folded from the access-event stream, never from the ledger.
//!
//! The fold is a pure function of the events in stream order and of the
//! holders' plans (which the ledger keeps, with the height each one applies
//! from), so replaying the stream reproduces every charge to the minor unit.
//!
//! The rules:
//! - a *query* is an allowed `verify` or `verify_certificate` event, or an
//!   allowed download (`request_data` with bytes served); denied events,
//!   key requests and audit reads cost nothing;
//! - each query costs `price_per_query` once the calendar month's (UTC, by the
//!   event's time) `free_queries_per_month` are used up;
//! - the bytes of downloads cost `price_per_mib` per MiB once the month's
//!   `free_mib_per_month` are used up; a line is charged the difference
//!   between the rounded-up price of the month's billable bytes after it and
//!   before it, so the lines of a month add up to exactly the rounded-up price
//!   of its billable bytes and no rounding error accumulates;
//! - the plan is the one in effect at the ledger height the request was
//!   decided at (recorded in the event), so a plan change applies from the
//!   next block and never reprices what was already served;
//! - identities without an account are metered (counted) but never charged.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::audit::{AccessEvent, Action, Decision};

/// Bytes in a MiB, the unit of traffic prices.
pub const MIB: u64 = 1 << 20;

/// A plan as the meter reads it (a copy of the ledger's, without its history).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tariff {
    /// Minor units per query after the free ones.
    pub price_per_query: u64,
    /// Minor units per MiB after the free ones.
    pub price_per_mib: u64,
    /// Free queries per month.
    pub free_queries_per_month: u64,
    /// Free MiB per month.
    pub free_mib_per_month: u64,
}

/// A plan with the ledger height it applies from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TariffPeriod {
    /// The first ledger height it applies at.
    pub from_height: u64,
    /// The plan.
    pub tariff: Tariff,
}

/// The plan of `periods` (oldest first) in effect at `height`.
pub fn tariff_at(periods: &[TariffPeriod], height: u64) -> Option<&TariffPeriod> {
    periods.iter().rev().find(|p| p.from_height <= height)
}

/// A calendar month (UTC), counted from January 1970.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Month(pub u32);

const MS_PER_DAY: u64 = 86_400_000;

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil year and month of a day since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32)
}

impl Month {
    /// The month a time (milliseconds since the epoch) falls in.
    pub fn of_ms(time_ms: u64) -> Month {
        let days = i64::try_from(time_ms / MS_PER_DAY).unwrap_or(i64::MAX / 2);
        let (year, month) = civil_from_days(days);
        Month(u32::try_from((year - 1970) * 12 + i64::from(month) - 1).unwrap_or(u32::MAX))
    }

    fn year_month(self) -> (i64, u32) {
        (1970 + i64::from(self.0 / 12), self.0 % 12 + 1)
    }

    /// Its first millisecond.
    pub fn start_ms(self) -> u64 {
        let (year, month) = self.year_month();
        u64::try_from(days_from_civil(year, month, 1)).unwrap_or(0).saturating_mul(MS_PER_DAY)
    }

    /// The first millisecond of the next month.
    pub fn end_ms(self) -> u64 {
        Month(self.0.saturating_add(1)).start_ms()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month) = self.year_month();
        write!(f, "{year:04}-{month:02}")
    }
}

impl std::str::FromStr for Month {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Month, crate::Error> {
        let bad = || crate::Error::InvalidMonth { month: text.to_owned() };
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: u32 = year.parse().map_err(|_| bad())?;
        let month: u32 = month.parse().map_err(|_| bad())?;
        if year < 1970 || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Month((year - 1970) * 12 + month - 1))
    }
}

/// Adds amounts of money or counts, stopping at `u64::MAX` instead of
/// wrapping (a plain `sum()` wraps in release builds). Used where a larger
/// figure is the safe side: charges and reservations subtracted from a
/// balance. Where a figure is shown as exact (a statement's total), use
/// [`sum_checked`].
pub fn sum_saturating(amounts: impl IntoIterator<Item = u64>) -> u64 {
    amounts.into_iter().fold(0u64, u64::saturating_add)
}

/// Adds amounts, or `None` if the sum does not fit in a `u64`.
pub fn sum_checked(amounts: impl IntoIterator<Item = u64>) -> Option<u64> {
    amounts.into_iter().try_fold(0u64, u64::checked_add)
}

/// Billable units of one event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Units {
    /// Queries (0 or 1).
    pub queries: u64,
    /// Bytes served.
    pub bytes: u64,
}

/// Whether an allowed event of `action` is a paid verification query.
///
/// The match lists every action, with no catch-all arm: a new action does
/// not compile until it is decided here whether it is paid for.
pub fn is_query(action: Action) -> bool {
    match action {
        Action::Verify | Action::VerifyCertificate => true,
        Action::RequestData
        | Action::ReadAudit
        | Action::ReadBills
        | Action::ReadCase
        | Action::UnauthenticatedRefusals
        | Action::Unknown
        | Action::VerifyDataHash => false,
    }
}

/// What an event is billed for, or `None` if it is not billable.
pub fn billable(event: &AccessEvent) -> Option<Units> {
    if event.decision != Decision::Allowed {
        return None;
    }
    if is_query(event.action) {
        return Some(Units { queries: 1, bytes: event.bytes });
    }
    (event.action == Action::RequestData && event.bytes > 0)
        .then_some(Units { queries: 1, bytes: event.bytes })
}

/// The signed methods an event of `action` can come from: its envelope
/// must be signed for one of them.
pub fn methods_of(action: Action) -> &'static [&'static str] {
    match action {
        Action::Verify => &["/cairn.v1.Access/VerifyDataHash"],
        Action::VerifyCertificate => &["/cairn.v1.CertificateCheck/CheckCertificate"],
        Action::RequestData => &["/cairn.v1.Access/FetchData", "/cairn.v1.Access/RequestAccess"],
        Action::ReadAudit => {
            &["/cairn.v1.Access/ListAccessEvents", "/cairn.v1.Access/ProveAccessEvent"]
        }
        Action::ReadBills => &[
            "/cairn.v1.Billing/GetAccount",
            "/cairn.v1.Billing/GetUsage",
            "/cairn.v1.Billing/GetStatement",
        ],
        Action::ReadCase => &[
            "/cairn.v1.Cases/ListServices",
            "/cairn.v1.Cases/GetService",
            "/cairn.v1.Cases/GetCase",
            "/cairn.v1.Cases/ListCases",
        ],
        Action::UnauthenticatedRefusals | Action::Unknown | Action::VerifyDataHash => &[],
    }
}

/// Checks that an event proves its caller asked: an event that carries the
/// caller's signed request envelope must carry a valid one, and a billable
/// event must carry one. Valid means signed by the key of the event's
/// identity, for the event's method (one that its action comes from), for
/// the node that logged the event (`node`, an address) on chain `chain_id`.
/// A node, or anyone who can write to the access topic, cannot make up a
/// billable event without the caller's key. Events of requests that did not
/// authenticate carry no envelope and are never billable.
pub fn check_evidence(event: &AccessEvent, chain_id: &str, node: &str) -> crate::Result<()> {
    let id = &event.event_id;
    let refused = |reason: String| crate::Error::Evidence { event_id: id.clone(), reason };
    if event.request.is_empty() {
        return match billable(event) {
            Some(_) => {
                Err(refused(format!("billable event {id} carries no signed request of its caller")))
            }
            None => Ok(()),
        };
    }
    if !methods_of(event.action).contains(&event.method.as_str()) {
        return Err(refused(format!(
            "event {id}: method {:?} is not one a {} event comes from",
            event.method, event.action
        )));
    }
    let node: anchor_chaincode::Address =
        node.parse().map_err(|e| refused(format!("event {id}: node {node:?}: {e}")))?;
    let destination = access_control::request::Destination { chain_id, node };
    let request =
        access_control::request::verify_envelope(&event.request, &event.method, &destination)
            .map_err(|e| refused(format!("event {id}: its signed request does not verify: {e}")))?;
    let signer = request.address().to_string();
    if signer != event.identity {
        return Err(refused(format!(
            "event {id}: its request was signed by {signer}, not by the event's identity {}",
            event.identity
        )));
    }
    Ok(())
}

/// An account's usage of one month so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MonthTotals {
    /// Metered events.
    pub events: u64,
    /// Queries.
    pub queries: u64,
    /// Bytes served.
    pub bytes: u64,
    /// Minor units charged.
    pub charged: u64,
}

/// The price of one event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Charge {
    /// For the query.
    pub query_amount: u64,
    /// For the bytes.
    pub traffic_amount: u64,
    /// The sum.
    pub amount: u64,
    /// Why, in words.
    pub note: String,
}

fn traffic_price(billable_bytes: u64, price_per_mib: u64) -> u64 {
    let product = u128::from(billable_bytes) * u128::from(price_per_mib);
    u64::try_from(product.div_ceil(u128::from(MIB))).unwrap_or(u64::MAX)
}

/// What an event with `units` costs after the month's usage `before`.
pub fn price(tariff: &Tariff, before: &MonthTotals, units: Units) -> Charge {
    let mut notes = Vec::new();
    let free_queries_left = tariff.free_queries_per_month.saturating_sub(before.queries);
    let billed_queries = units.queries.saturating_sub(free_queries_left);
    let query_amount = billed_queries.saturating_mul(tariff.price_per_query);
    if units.queries > 0 {
        notes.push(if billed_queries == 0 {
            format!(
                "query {} of {} free this month",
                before.queries.saturating_add(1),
                tariff.free_queries_per_month
            )
        } else {
            format!("1 query at {}", tariff.price_per_query)
        });
    }
    let free_bytes = tariff.free_mib_per_month.saturating_mul(MIB);
    let billable_before = before.bytes.saturating_sub(free_bytes);
    let billable_after = before.bytes.saturating_add(units.bytes).saturating_sub(free_bytes);
    let traffic_amount = traffic_price(billable_after, tariff.price_per_mib)
        - traffic_price(billable_before, tariff.price_per_mib);
    if units.bytes > 0 {
        let billed = billable_after - billable_before;
        notes.push(if billed == 0 {
            format!(
                "{} bytes within the month's free {} MiB",
                units.bytes, tariff.free_mib_per_month
            )
        } else {
            format!("{billed} billable bytes at {} per MiB", tariff.price_per_mib)
        });
    }
    Charge {
        query_amount,
        traffic_amount,
        amount: query_amount.saturating_add(traffic_amount),
        note: notes.join("; "),
    }
}

impl MonthTotals {
    /// Adds one metered event.
    pub fn add(&mut self, units: Units, amount: u64) {
        self.events = self.events.saturating_add(1);
        self.queries = self.queries.saturating_add(units.queries);
        self.bytes = self.bytes.saturating_add(units.bytes);
        self.charged = self.charged.saturating_add(amount);
    }
}

/// One metered event of an account holder: a line of its statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    /// The access event.
    pub event_id: String,
    /// Its time.
    pub time_ms: u64,
    /// Its month.
    pub month: Month,
    /// Its action.
    pub action: String,
    /// Its resource.
    pub resource: String,
    /// What it is billed for.
    pub units: Units,
    /// What it costs.
    pub charge: Charge,
    /// The ledger height it was decided at.
    pub ledger_height: u64,
    /// The plan it fell under.
    pub plan_from_height: u64,
    /// The node that logged it.
    pub node: String,
    /// Its leaf in that node's access-event log.
    pub leaf_index: u64,
}

/// Meters one event of a holder whose plans are `periods`, after `before`;
/// `None` if the event is not billable or the holder had no account yet.
pub fn meter(
    event: &AccessEvent,
    node: &str,
    leaf_index: u64,
    periods: &[TariffPeriod],
    before: &MonthTotals,
) -> Option<Line> {
    let units = billable(event)?;
    let period = tariff_at(periods, event.ledger_height)?;
    Some(Line {
        event_id: event.event_id.clone(),
        time_ms: event.time_ms,
        month: Month::of_ms(event.time_ms),
        action: event.action.as_str().to_owned(),
        resource: event.resource.clone(),
        units,
        charge: price(&period.tariff, before, units),
        ledger_height: event.ledger_height,
        plan_from_height: period.from_height,
        node: node.to_owned(),
        leaf_index,
    })
}

/// Recomputes the charges of a month's lines (in metering order, from the
/// month's first) from the plans, as a verifier checks a statement offline;
/// the error names the first line that does not add up.
pub fn recompute(periods: &[TariffPeriod], lines: &[Line]) -> crate::Result<u64> {
    let mut totals = MonthTotals::default();
    let month = lines.first().map(|l| l.month);
    for (idx, line) in lines.iter().enumerate() {
        let number = idx + 1;
        let refused = |reason: String| crate::Error::Statement { line: number, reason };
        if Some(line.month) != month {
            return Err(refused(format!(
                "line {number} is in {}, not in the statement's month",
                line.month
            )));
        }
        if Month::of_ms(line.time_ms) != line.month {
            return Err(refused(format!("line {number}: its time is not in {}", line.month)));
        }
        let period = tariff_at(periods, line.ledger_height).ok_or_else(|| {
            refused(format!(
                "line {number}: no plan was in effect at height {}",
                line.ledger_height
            ))
        })?;
        if period.from_height != line.plan_from_height {
            return Err(refused(format!(
                "line {number}: at height {} the plan from height {} applies, not the one from {}",
                line.ledger_height, period.from_height, line.plan_from_height
            )));
        }
        let expected = price(&period.tariff, &totals, line.units);
        if expected.query_amount != line.charge.query_amount
            || expected.traffic_amount != line.charge.traffic_amount
            || expected.amount != line.charge.amount
        {
            return Err(refused(format!(
                "line {number} ({}): charged {} + {} = {}, but the plan gives {} + {} = {}",
                line.event_id,
                line.charge.query_amount,
                line.charge.traffic_amount,
                line.charge.amount,
                expected.query_amount,
                expected.traffic_amount,
                expected.amount
            )));
        }
        totals.add(line.units, expected.amount);
    }
    Ok(totals.charged)
}

/// Counts of an identity's events by action and decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counter {
    /// Events.
    pub events: u64,
    /// Bytes served.
    pub bytes: u64,
}

/// A charge set aside for a request being served and not yet metered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// The holder.
    pub holder: String,
    /// The month of the request.
    pub month: Month,
    /// Its billable units (at most; a download may serve less).
    pub units: Units,
    /// Its price as quoted.
    pub amount: u64,
}

/// The in-memory meter of the embedded mode: a fold of the node's
/// access-event log, with the reservations of requests being served.
#[derive(Clone, Debug, Default)]
pub struct Meter {
    months: BTreeMap<(String, Month), MonthTotals>,
    lines: BTreeMap<(String, Month), Vec<Line>>,
    charged: BTreeMap<String, u64>,
    counters: BTreeMap<(String, String, Decision), Counter>,
    reservations: BTreeMap<String, Reservation>,
}

impl Meter {
    /// Meters one event (`periods`: the holder's plans, if it has an account);
    /// answers its line if it was charged for. Releases the event's
    /// reservation, if any.
    pub fn apply(
        &mut self,
        event: &AccessEvent,
        node: &str,
        leaf_index: u64,
        periods: Option<&[TariffPeriod]>,
    ) -> Option<&Line> {
        let _ = self.reservations.remove(&event.event_id);
        let counter = self
            .counters
            .entry((event.identity.clone(), event.action.as_str().to_owned(), event.decision))
            .or_default();
        counter.events = counter.events.saturating_add(1);
        counter.bytes = counter.bytes.saturating_add(event.bytes);
        let key = (event.identity.clone(), Month::of_ms(event.time_ms));
        let before = self.months.get(&key).copied().unwrap_or_default();
        let line = meter(event, node, leaf_index, periods?, &before)?;
        self.months.entry(key.clone()).or_default().add(line.units, line.charge.amount);
        let charged = self.charged.entry(event.identity.clone()).or_default();
        *charged = charged.saturating_add(line.charge.amount);
        let lines = self.lines.entry(key).or_default();
        lines.push(line);
        lines.last()
    }

    /// What `holder` was charged in all. Sums saturate rather than wrap: an
    /// account can never look richer than it is (see [`sum_saturating`]).
    pub fn charged(&self, holder: &str) -> u64 {
        self.charged.get(holder).copied().unwrap_or(0)
    }

    /// What is reserved for `holder`'s requests being served.
    pub fn reserved(&self, holder: &str) -> u64 {
        sum_saturating(self.reservations.values().filter(|r| r.holder == holder).map(|r| r.amount))
    }

    /// A month's totals of `holder`.
    pub fn month(&self, holder: &str, month: Month) -> MonthTotals {
        self.months.get(&(holder.to_owned(), month)).copied().unwrap_or_default()
    }

    /// Every month of `holder` with metered events, oldest first.
    pub fn months(&self, holder: &str) -> Vec<(Month, MonthTotals)> {
        self.months
            .range((holder.to_owned(), Month(0))..=(holder.to_owned(), Month(u32::MAX)))
            .map(|((_, month), totals)| (*month, *totals))
            .collect()
    }

    /// A month's lines of `holder`, in metering order.
    pub fn lines(&self, holder: &str, month: Month) -> &[Line] {
        self.lines.get(&(holder.to_owned(), month)).map_or(&[], Vec::as_slice)
    }

    /// The counters of one identity, or of all, as the usage read model
    /// answers them: by identity, action and decision.
    pub fn usage_rows(&self, identity: Option<&str>) -> Vec<crate::rows::UsageRow> {
        self.counters
            .iter()
            .filter(|((who, _, _), _)| identity.is_none_or(|identity| who == identity))
            .map(|((who, action, decision), counter)| crate::rows::UsageRow {
                identity: who.clone(),
                action: action.clone(),
                decision: decision.as_str().to_owned(),
                events: i64::try_from(counter.events).unwrap_or(i64::MAX),
                bytes: i64::try_from(counter.bytes).unwrap_or(i64::MAX),
            })
            .collect()
    }

    /// `identity`'s counters by (action, decision).
    pub fn counters(&self, identity: &str) -> Vec<(String, Decision, Counter)> {
        self.counters
            .iter()
            .filter(|((who, _, _), _)| who == identity)
            .map(|((_, action, decision), counter)| (action.clone(), *decision, *counter))
            .collect()
    }

    /// The price of a request with `units` in `month` if it were metered
    /// next, counting the requests already reserved.
    pub fn quote(&self, holder: &str, month: Month, tariff: &Tariff, units: Units) -> u64 {
        let mut before = self.month(holder, month);
        for reservation in self.reservations.values() {
            if reservation.holder == holder && reservation.month == month {
                before.add(reservation.units, reservation.amount);
            }
        }
        price(tariff, &before, units).amount
    }

    /// Sets aside a request's price until its event (`event_id`) is metered.
    pub fn reserve(&mut self, event_id: &str, reservation: Reservation) {
        let _ = self.reservations.insert(event_id.to_owned(), reservation);
    }

    /// Releases a reservation whose event will not be logged.
    pub fn release(&mut self, event_id: &str) {
        let _ = self.reservations.remove(event_id);
    }
}

/// The meter's copy of a ledger plan: what it charges (the plan's payment
/// mode and rate limit are the gate's, not the meter's).
impl From<&anchor_chaincode::billing::Plan> for Tariff {
    fn from(plan: &anchor_chaincode::billing::Plan) -> Tariff {
        Tariff {
            price_per_query: plan.price_per_query,
            price_per_mib: plan.price_per_mib,
            free_queries_per_month: plan.free_queries_per_month,
            free_mib_per_month: plan.free_mib_per_month,
        }
    }
}

/// An account's plans as the meter reads them, oldest first.
pub fn periods(account: &anchor_chaincode::ledger::AccountRecord) -> Vec<TariffPeriod> {
    account
        .plans
        .iter()
        .map(|period| TariffPeriod {
            from_height: period.from_height,
            tariff: Tariff::from(&period.plan),
        })
        .collect()
}

#[cfg(test)]
mod tests;
