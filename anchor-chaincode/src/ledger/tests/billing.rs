//! Verifier accounts: open, top up and change plans, one validation case per
//! line, and the plan history that metering reads.

use super::*;
use crate::billing::{Payment, Plan};
use crate::tx::plan_to_pb;

const VERIFIER: u8 = 30;

fn plan(price_per_query: u64) -> Plan {
    Plan {
        price_per_query,
        price_per_mib: 2,
        free_queries_per_month: 10,
        free_mib_per_month: 1,
        payment: Payment::Prepaid,
        rate_limit_per_second: 5,
    }
}

struct Billing {
    f: Fixture,
}

impl Billing {
    fn new() -> Billing {
        let mut f = Fixture::new();
        let envelope = f.register(VERIFIER, "civil", Role::Verifier, &[("ca", CA_ORG)]);
        f.expect(envelope, ValidationCode::Valid, "");
        Billing { f }
    }

    fn open(&mut self, creator: u8, holder: &str, currency: &str, plan: &Plan) -> Vec<u8> {
        let body = pb::OpenAccount {
            holder: holder.into(),
            currency: currency.into(),
            plan: Some(plan_to_pb(plan)),
        };
        self.f.sealed(creator, &[], pb::tx_payload::Body::OpenAccount(body))
    }

    fn top_up(&mut self, creator: u8, holder: &str, currency: &str, amount: u64) -> Vec<u8> {
        let body = pb::TopUp {
            holder: holder.into(),
            currency: currency.into(),
            amount,
            reference: "invoice 7".into(),
        };
        self.f.sealed(creator, &[], pb::tx_payload::Body::TopUp(body))
    }

    fn change(&mut self, creator: u8, holder: &str, plan: &Plan) -> Vec<u8> {
        let body = pb::ChangePlan { holder: holder.into(), plan: Some(plan_to_pb(plan)) };
        self.f.sealed(creator, &[], pb::tx_payload::Body::ChangePlan(body))
    }

    fn opened() -> Billing {
        let mut b = Billing::new();
        let envelope = b.open(OPERATOR, &address(VERIFIER), "EUR", &plan(5));
        b.f.expect(envelope, ValidationCode::Valid, "");
        b
    }
}

#[test]
fn open_account_rejections() {
    let mut b = Billing::new();
    let verifier = address(VERIFIER);
    let cases: Vec<(Vec<u8>, ValidationCode, &str)> = vec![
        (
            b.open(PROVIDER, &verifier, "EUR", &plan(5)),
            ValidationCode::NotAuthorised,
            "open_account may be created only by role operator of the operator's organisation",
        ),
        (
            // The certification authority's role does not imply the operator's.
            b.open(CA_OFFICER, &verifier, "EUR", &plan(5)),
            ValidationCode::NotAuthorised,
            "has role certification_authority",
        ),
        (
            b.open(OUTSIDER, &verifier, "EUR", &plan(5)),
            ValidationCode::UnknownIdentity,
            "is not a registered identity",
        ),
        (
            b.open(OPERATOR, &address(OUTSIDER), "EUR", &plan(5)),
            ValidationCode::UnknownIdentity,
            "holder",
        ),
        (
            b.open(OPERATOR, "not-an-address", "EUR", &plan(5)),
            ValidationCode::InvalidArgument,
            "is not an address",
        ),
        (
            b.open(OPERATOR, &verifier, "euro", &plan(5)),
            ValidationCode::InvalidArgument,
            "currency \"euro\" is not an ISO 4217 code",
        ),
        (
            b.open(OPERATOR, &verifier, "EUR", &Plan { price_per_query: u64::MAX, ..plan(5) }),
            ValidationCode::InvalidArgument,
            "price_per_query is",
        ),
    ];
    for (envelope, code, message) in cases {
        b.f.expect(envelope, code, message);
    }
    let body = pb::OpenAccount { holder: verifier.clone(), currency: "EUR".into(), plan: None };
    let envelope = b.f.sealed(OPERATOR, &[], pb::tx_payload::Body::OpenAccount(body));
    b.f.expect(envelope, ValidationCode::Malformed, "the account has no plan");
    let mut no_payment = plan_to_pb(&plan(5));
    no_payment.payment = 0;
    let body = pb::OpenAccount {
        holder: verifier.clone(),
        currency: "EUR".into(),
        plan: Some(no_payment),
    };
    let envelope = b.f.sealed(OPERATOR, &[], pb::tx_payload::Body::OpenAccount(body));
    b.f.expect(envelope, ValidationCode::Malformed, "payment 0 is not prepaid or postpaid");
    assert!(b.f.ledger.accounts().next().is_none());
    // The operator organisation's own key does not lend its authority to a
    // member of another organisation.
    let envelope = {
        let body = pb::OpenAccount {
            holder: verifier.clone(),
            currency: "EUR".into(),
            plan: Some(plan_to_pb(&plan(5))),
        };
        b.f.sealed(PROVIDER, &[("ca", CA_ORG)], pb::tx_payload::Body::OpenAccount(body))
    };
    b.f.expect(envelope, ValidationCode::NotAuthorised, "has role provider");
    let envelope = b.open(OPERATOR, &verifier, "EUR", &plan(5));
    b.f.expect(envelope, ValidationCode::Valid, "");
    let envelope = b.open(OPERATOR, &verifier, "EUR", &plan(5));
    b.f.expect(envelope, ValidationCode::AccountExists, "already has an account");
}

#[test]
fn top_ups_credit_and_plans_keep_their_history() {
    let mut b = Billing::opened();
    let verifier = address(VERIFIER);
    let holder: Address = verifier.parse().unwrap();
    let opened_height = b.f.ledger.account(&holder).unwrap().plans[0].from_height;
    assert_eq!(opened_height, b.f.ledger.height());
    let cases: Vec<(Vec<u8>, ValidationCode, &str)> = vec![
        (
            b.top_up(OPERATOR, &verifier, "USD", 100),
            ValidationCode::InvalidArgument,
            "the top-up is in \"USD\"",
        ),
        (
            b.top_up(OPERATOR, &verifier, "EUR", 0),
            ValidationCode::InvalidArgument,
            "amount must be 1 to",
        ),
        (
            b.top_up(OPERATOR, &address(CONSUMER), "EUR", 100),
            ValidationCode::UnknownAccount,
            "has no account",
        ),
        (
            b.top_up(CONSUMER, &verifier, "EUR", 100),
            ValidationCode::NotAuthorised,
            "top_up may be created only by role operator",
        ),
        (
            b.change(OPERATOR, &verifier, &plan(5)),
            ValidationCode::InvalidArgument,
            "already has this plan",
        ),
        (
            b.change(OPERATOR, &address(CONSUMER), &plan(6)),
            ValidationCode::UnknownAccount,
            "has no account",
        ),
    ];
    for (envelope, code, message) in cases {
        b.f.expect(envelope, code, message);
    }
    for amount in [1_000, 250] {
        let envelope = b.top_up(OPERATOR, &verifier, "EUR", amount);
        b.f.expect(envelope, ValidationCode::Valid, "");
    }
    let envelope = b.change(OPERATOR, &verifier, &Plan { payment: Payment::Postpaid, ..plan(9) });
    b.f.expect(envelope, ValidationCode::Valid, "");
    let changed_height = b.f.ledger.height();
    let account = b.f.ledger.account(&holder).unwrap();
    assert_eq!(account.credited, 1_250);
    assert_eq!(account.top_ups.len(), 2);
    assert_eq!(account.plan().price_per_query, 9);
    assert_eq!(account.plan_at(opened_height - 1), None, "before the account was opened");
    assert_eq!(account.plan_at(opened_height).unwrap().plan.price_per_query, 5);
    assert_eq!(account.plan_at(changed_height - 1).unwrap().plan.price_per_query, 5);
    assert_eq!(account.plan_at(changed_height).unwrap().plan.price_per_query, 9);
}

#[test]
fn accounts_are_in_the_state_root_and_replicas_agree() {
    let mut a = Billing::opened();
    let verifier = address(VERIFIER);
    let root = a.f.ledger.state_root();
    let envelope = a.top_up(OPERATOR, &verifier, "EUR", 10);
    let mut replica = a.f.ledger.clone();
    let record = batch_record(vec![envelope]);
    let block = a.f.ledger.apply_record(a.f.offset, &record).clone();
    assert_eq!(block.receipts[0].code, ValidationCode::Valid, "{}", block.receipts[0].message);
    assert_ne!(a.f.ledger.state_root(), root, "a top-up changes the state root");
    assert_eq!(replica.apply_record(a.f.offset, &record).hash, block.hash);
}
