//! Unit tests of the metering rules: months, prices, allowances, rounding,
//! plan periods and the offline recomputation.

use super::*;

fn tariff(per_query: u64, per_mib: u64, free_queries: u64, free_mib: u64) -> Tariff {
    Tariff {
        price_per_query: per_query,
        price_per_mib: per_mib,
        free_queries_per_month: free_queries,
        free_mib_per_month: free_mib,
    }
}

fn event(id: &str, action: &str, bytes: u64, time_ms: u64, height: u64) -> AccessEvent {
    AccessEvent {
        event_id: id.into(),
        time_ms,
        identity: "holder".into(),
        organisation: "org".into(),
        role: "verifier".into(),
        action: action.parse().unwrap(),
        resource: "asset:a@1".into(),
        decision: Decision::Allowed,
        reason: String::new(),
        bytes,
        latency_us: 0,
        method: String::new(),
        ledger_height: height,
        request: Vec::new(),
    }
}

/// 2026-12-01T00:00:00Z.
const DEC_2026: u64 = 1_796_083_200_000;

#[test]
fn months_follow_the_utc_calendar() {
    for (ms, text) in [
        (0, "1970-01"),
        (DEC_2026 - 1, "2026-11"),
        (DEC_2026, "2026-12"),
        (951_782_400_000, "2000-02"), // 2000-02-29T00:00:00Z, a leap day
        (951_868_799_999, "2000-02"),
        (951_868_800_000, "2000-03"),
    ] {
        assert_eq!(Month::of_ms(ms).to_string(), text, "{ms}");
    }
    let december: Month = "2026-12".parse().unwrap();
    assert_eq!(december.start_ms(), DEC_2026);
    assert_eq!(december.end_ms(), Month("2027-01".parse::<Month>().unwrap().0).start_ms());
    assert_eq!(Month::of_ms(december.end_ms() - 1), december);
    for bad in ["2026-13", "2026-00", "26-12", "2026/12", "1969-12", "2026-1"] {
        assert!(bad.parse::<Month>().unwrap_err().to_string().contains(bad), "{bad}");
    }
}

#[test]
fn only_allowed_verifications_and_downloads_are_billable() {
    let units = |e: &AccessEvent| billable(e);
    assert_eq!(units(&event("a", "verify", 0, 0, 1)), Some(Units { queries: 1, bytes: 0 }));
    assert_eq!(
        units(&event("a", "verify_certificate", 0, 0, 1)),
        Some(Units { queries: 1, bytes: 0 })
    );
    assert_eq!(
        units(&event("a", "request_data", 700, 0, 1)),
        Some(Units { queries: 1, bytes: 700 })
    );
    assert_eq!(units(&event("a", "request_data", 0, 0, 1)), None, "a key request");
    assert_eq!(units(&event("a", "read_audit", 0, 0, 1)), None);
    let mut denied = event("a", "verify", 0, 0, 1);
    denied.decision = Decision::Denied;
    assert_eq!(units(&denied), None);
}

#[test]
fn free_queries_then_the_price() {
    let plan = tariff(7, 0, 2, 0);
    let mut totals = MonthTotals::default();
    let mut amounts = Vec::new();
    for _ in 0..4 {
        let charge = price(&plan, &totals, Units { queries: 1, bytes: 0 });
        totals.add(Units { queries: 1, bytes: 0 }, charge.amount);
        amounts.push(charge.amount);
    }
    assert_eq!(amounts, [0, 0, 7, 7]);
    assert_eq!(totals.charged, 14);
}

#[test]
fn traffic_is_rounded_up_per_month_not_per_line() {
    // 10 minor units per MiB, 1 MiB free: five downloads of 0.3 MiB.
    let plan = tariff(0, 10, 0, 1);
    let piece = MIB * 3 / 10;
    let mut totals = MonthTotals::default();
    let mut amounts = Vec::new();
    for _ in 0..5 {
        let units = Units { queries: 1, bytes: piece };
        let charge = price(&plan, &totals, units);
        totals.add(units, charge.amount);
        amounts.push(charge.amount);
    }
    // Billable after each: 0, 0, 0, 0.2 MiB, 0.5 MiB → ceil(2.0)=2, ceil(5.0)=5.
    let billable = 5 * piece - MIB;
    assert_eq!(totals.charged, (billable * 10).div_ceil(MIB));
    assert_eq!(amounts.iter().sum::<u64>(), totals.charged);
    assert_eq!(amounts[..3], [0, 0, 0]);
}

#[test]
fn plans_apply_from_their_height() {
    let periods = vec![
        TariffPeriod { from_height: 5, tariff: tariff(3, 0, 0, 0) },
        TariffPeriod { from_height: 9, tariff: tariff(4, 0, 0, 0) },
    ];
    let before = MonthTotals::default();
    assert!(meter(&event("a", "verify", 0, DEC_2026, 4), "n", 0, &periods, &before).is_none());
    let at = |h| meter(&event("a", "verify", 0, DEC_2026, h), "n", 0, &periods, &before).unwrap();
    assert_eq!((at(5).charge.amount, at(5).plan_from_height), (3, 5));
    assert_eq!((at(8).charge.amount, at(8).plan_from_height), (3, 5));
    assert_eq!((at(9).charge.amount, at(9).plan_from_height), (4, 9));
}

#[test]
fn the_meter_folds_counts_and_reserves() {
    let periods = vec![TariffPeriod { from_height: 1, tariff: tariff(5, 0, 1, 0) }];
    let mut meter = Meter::default();
    let month = Month::of_ms(DEC_2026);
    assert_eq!(meter.quote("holder", month, &periods[0].tariff, Units { queries: 1, bytes: 0 }), 0);
    meter.reserve(
        "e1",
        Reservation {
            holder: "holder".into(),
            month,
            units: Units { queries: 1, bytes: 0 },
            amount: 0,
        },
    );
    // The free query is reserved: the next one costs.
    assert_eq!(meter.quote("holder", month, &periods[0].tariff, Units { queries: 1, bytes: 0 }), 5);
    let line = meter.apply(&event("e1", "verify", 0, DEC_2026, 2), "n", 0, Some(&periods)).cloned();
    assert_eq!(line.map(|l| l.charge.amount), Some(0));
    assert_eq!(meter.reserved("holder"), 0);
    let line = meter.apply(&event("e2", "verify", 0, DEC_2026, 2), "n", 1, Some(&periods)).cloned();
    assert_eq!(line.map(|l| l.charge.amount), Some(5));
    assert_eq!(meter.charged("holder"), 5);
    assert_eq!(meter.lines("holder", month).len(), 2);
    // No account: counted, not charged.
    let mut free = event("e3", "verify", 0, DEC_2026, 2);
    free.identity = "public".into();
    assert!(meter.apply(&free, "n", 2, None).is_none());
    assert_eq!(meter.charged("public"), 0);
    assert_eq!(meter.counters("public")[0].2.events, 1);
}

#[test]
fn recompute_accepts_the_fold_and_names_a_changed_line() {
    let periods = vec![TariffPeriod { from_height: 1, tariff: tariff(5, 3, 1, 0) }];
    let mut meter = Meter::default();
    for (i, bytes) in [0, MIB / 2, 0, 3 * MIB].into_iter().enumerate() {
        let action = if bytes == 0 { "verify" } else { "request_data" };
        let _ = meter.apply(
            &event(&format!("e{i}"), action, bytes, DEC_2026 + i as u64, 2),
            "n",
            i as u64,
            Some(&periods),
        );
    }
    let month = Month::of_ms(DEC_2026);
    let lines = meter.lines("holder", month).to_vec();
    assert_eq!(recompute(&periods, &lines), Ok(meter.charged("holder")));
    let mut inflated = lines.clone();
    inflated[2].charge.query_amount += 1;
    inflated[2].charge.amount += 1;
    let err = recompute(&periods, &inflated).unwrap_err().to_string();
    assert!(
        err.starts_with("line 3 (e2): charged 6 + 0 = 6, but the plan gives 5 + 0 = 5"),
        "{err}"
    );
    let mut dropped = lines;
    let _ = dropped.remove(0);
    assert!(recompute(&periods, &dropped).unwrap_err().to_string().starts_with("line 1 "));
}

#[test]
fn charges_and_counts_saturate_instead_of_wrapping() {
    assert_eq!(sum_saturating([u64::MAX, 1, 2]), u64::MAX);
    assert_eq!(sum_checked([u64::MAX, 1]), None);
    assert_eq!(sum_checked([2, 3]), Some(5));

    // A price near the top of the range: the second charge would wrap.
    let periods = vec![TariffPeriod { from_height: 1, tariff: tariff(u64::MAX - 1, 0, 0, 0) }];
    let mut meter = Meter::default();
    for i in 0..3 {
        let _ =
            meter.apply(&event(&format!("e{i}"), "verify", 0, DEC_2026, 2), "n", i, Some(&periods));
    }
    assert_eq!(meter.charged("holder"), u64::MAX, "the total wrapped");
    let month = Month::of_ms(DEC_2026);
    assert_eq!(meter.month("holder", month).charged, u64::MAX);
    for (i, amount) in [u64::MAX, 5].into_iter().enumerate() {
        meter.reserve(
            &format!("r{i}"),
            Reservation { holder: "holder".into(), month, units: Units::default(), amount },
        );
    }
    assert_eq!(meter.reserved("holder"), u64::MAX, "the reservations wrapped");
    assert_eq!(Month(u32::MAX).end_ms(), Month(u32::MAX).start_ms());
}

#[test]
fn a_billable_event_needs_its_callers_valid_envelope() {
    use access_control::keys::KeyPair;
    use access_control::request::{Destination, SignedRequest};

    const CHAIN: &str = "cairn-test";
    let caller = KeyPair::generate().unwrap();
    let other = KeyPair::generate().unwrap();
    let node = anchor_chaincode::Address([0x11; 20]);
    let node_text = node.to_string();
    let method = "/cairn.v1.Access/VerifyDataHash";
    let envelope = |key: &KeyPair, method: &str, chain_id: &str, node| {
        SignedRequest::sign(
            key.signing_key(),
            &Destination { chain_id, node },
            method,
            b"body",
            DEC_2026,
            [3; 16],
        )
        .encode()
    };
    let signed = AccessEvent {
        identity: caller.address().to_string(),
        method: method.into(),
        request: envelope(&caller, method, CHAIN, node),
        ..event("e1", "verify", 0, DEC_2026, 1)
    };
    assert_eq!(check_evidence(&signed, CHAIN, &node_text), Ok(()));

    let check =
        |event: AccessEvent| check_evidence(&event, CHAIN, &node_text).unwrap_err().to_string();
    let unsigned = AccessEvent { request: Vec::new(), ..signed.clone() };
    assert_eq!(
        check(unsigned.clone()),
        "billable event e1 carries no signed request of its caller"
    );
    // Not billable (denied): no envelope is needed.
    let denied = AccessEvent { decision: Decision::Denied, ..unsigned };
    assert_eq!(check_evidence(&denied, CHAIN, &node_text), Ok(()));
    // Signed by another key than the event's identity.
    let stolen = AccessEvent { request: envelope(&other, method, CHAIN, node), ..signed.clone() };
    assert!(check(stolen).contains("its request was signed by"), "names the signer");
    // Signed for another method, node or chain.
    let fetch = "/cairn.v1.Access/FetchData";
    let other_method =
        AccessEvent { request: envelope(&caller, fetch, CHAIN, node), ..signed.clone() };
    assert!(check(other_method).contains("bad signature"));
    let other_node = AccessEvent {
        request: envelope(&caller, method, CHAIN, anchor_chaincode::Address([2; 20])),
        ..signed.clone()
    };
    assert!(check(other_node).contains("not for this node"));
    let other_chain =
        AccessEvent { request: envelope(&caller, method, "cairn-prod", node), ..signed.clone() };
    assert!(check(other_chain).contains("another chain"));
    // The event claims another action than its method is for.
    let relabelled = AccessEvent { action: Action::VerifyCertificate, ..signed.clone() };
    assert!(check(relabelled).contains("is not one a verify_certificate event comes from"));
    // A garbled envelope.
    let garbled = AccessEvent { request: vec![2; 10], ..signed };
    assert!(check(garbled).contains("malformed"));
}

#[test]
fn the_paid_queries_are_exactly_verify_and_verify_certificate() {
    let queries: Vec<&str> =
        Action::ALL.into_iter().filter(|a| is_query(*a)).map(Action::as_str).collect();
    assert_eq!(queries, ["verify", "verify_certificate"]);
    // Allowed and with bytes served, only those two and a download are billable.
    let billed: Vec<&str> = Action::ALL
        .into_iter()
        .filter(|a| billable(&event("e", a.as_str(), 10, 0, 1)).is_some())
        .map(Action::as_str)
        .collect();
    assert_eq!(billed, ["verify", "verify_certificate", "request_data"]);
}
