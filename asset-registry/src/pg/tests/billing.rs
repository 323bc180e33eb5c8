//! Tests of metering account holders into statement lines.

use super::*;
use crate::billing::{self, MonthTotals, Tariff, TariffPeriod};

fn account_block(n: u64, holder: &str, price_per_query: u64) -> BlockChanges {
    let mut changes = block(n);
    changes.accounts.push(AccountRow {
        holder: holder.into(),
        currency: "EUR".into(),
        opened_in_block: 1,
        credited: 0,
        plans: vec![PlanRow {
            from_height: n + 1,
            tx_id: format!("tx-plan-{n}"),
            tariff: Tariff {
                price_per_query,
                price_per_mib: 0,
                free_queries_per_month: 1,
                free_mib_per_month: 0,
            },
            payment: "postpaid".into(),
            rate_limit_per_second: 0,
        }],
        top_ups: Vec::new(),
    });
    changes
}

fn verification(n: u64, identity: &str, height: u64) -> AccessEvent {
    AccessEvent {
        action: Action::Verify,
        bytes: 0,
        ledger_height: height,
        request: Vec::new(),
        ..event(n, identity, "asset:health/set1@1", Decision::Allowed, 0)
    }
}

#[tokio::test]
async fn account_holders_are_metered_once_with_the_plan_of_their_height() {
    let Some(db) = postgres().await else { return };
    let projections = db.projections().await;
    // Block 1 opens the account (plan from height 2); block 3 changes its price.
    let mut third = account_block(3, "holder", 7);
    third.accounts[0].plans.insert(0, account_block(1, "holder", 5).accounts[0].plans[0].clone());
    let blocks = vec![block(0), account_block(1, "holder", 5), block(2)];
    assert_eq!(projections.apply_blocks(&blocks).await.unwrap(), 3);

    let stream = "access-test";
    // Height 1 is before the account: metered (usage), never charged; height
    // 4 needs block 3, not projected yet: the batch is refused whole.
    let first = vec![
        record(0, 0, verification(1, "holder", 1)),
        record(0, 1, verification(2, "holder", 2)),
        record(0, 2, verification(3, "holder", 3)),
        record(0, 3, AccessEvent { decision: Decision::Denied, ..verification(4, "holder", 3) }),
        record(0, 4, verification(5, "nobody", 3)),
        record(0, 5, verification(6, "holder", 4)),
    ];
    let error = projections.apply_access(stream, &first).await.unwrap_err();
    assert!(matches!(error, Error::LedgerBehind { needed: 4, projected: 3, .. }), "{error}");
    assert!(projections.access_next_offsets(stream).await.unwrap().is_empty());
    assert_eq!(projections.apply_blocks(&[third]).await.unwrap(), 1);
    let applied = projections.apply_access(stream, &first).await.unwrap();
    assert_eq!(applied.billed, 3, "{applied:?}");
    // A republished event and one more at the new price.
    let second = vec![
        record(0, 6, verification(3, "holder", 3)),
        record(0, 7, verification(7, "holder", 4)),
    ];
    let applied = projections.apply_access(stream, &second).await.unwrap();
    assert_eq!((applied.applied, applied.duplicates, applied.billed), (1, 1, 1), "{applied:?}");

    let month = Month::of_ms(1_700_000_000_000);
    let lines = projections.billing_lines("holder", month).await.unwrap();
    let amounts: Vec<(String, u64, u64)> =
        lines.iter().map(|l| (l.event_id.clone(), l.charge.amount, l.plan_from_height)).collect();
    assert_eq!(
        amounts,
        vec![
            (format!("{:032x}", 2), 0, 2),
            (format!("{:032x}", 3), 5, 2),
            (format!("{:032x}", 6), 7, 4),
            (format!("{:032x}", 7), 7, 4),
        ],
        "the free query, then 5 under the first plan, then 7 under the second"
    );
    let periods = vec![
        TariffPeriod {
            from_height: 2,
            tariff: Tariff {
                price_per_query: 5,
                price_per_mib: 0,
                free_queries_per_month: 1,
                free_mib_per_month: 0,
            },
        },
        TariffPeriod {
            from_height: 4,
            tariff: Tariff {
                price_per_query: 7,
                price_per_mib: 0,
                free_queries_per_month: 1,
                free_mib_per_month: 0,
            },
        },
    ];
    assert_eq!(billing::recompute(&periods, &lines), Ok(19));
    let months = projections.billing_months("holder").await.unwrap();
    assert_eq!(months, vec![(month, MonthTotals { events: 4, queries: 4, bytes: 0, charged: 19 })]);
    assert_eq!(projections.billing_charged_by_others("holder", "addr-node-1").await.unwrap(), 0);
    assert_eq!(projections.billing_charged_by_others("holder", "elsewhere").await.unwrap(), 19);
    assert!(projections.billing_lines("nobody", month).await.unwrap().is_empty());
    // The billing tables are projections: digests cover them.
    let digests = projections.digests().await.unwrap();
    assert_eq!(digests["billing_lines"].rows, 4);
    assert_eq!(digests["billing_plans"].rows, 2);

    db.drop_all(&[&projections]).await;
}
