//! The billing part of the state machine: verifier accounts opened, topped
//! up and re-planned by the hub operator's organisation.
//!
//! Only these decisions are transactions. Usage is metered off the ledger,
//! from the access-event stream; a per-query write to one account key would
//! serialise every verification of that verifier through the ordering
//! service, which is what ledger systems are known to choke on.

use serde::{Deserialize, Serialize};

use super::{Effect, Failure, Ledger, encode, failure, valid_text};
use crate::billing::{MAX_TOP_UP, Plan, valid_currency};
use crate::tx::{ChangePlan, OpenAccount, TopUp, Transaction};
use crate::types::{Address, TxId, ValidationCode};

/// A plan and the first ledger height it applies at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPeriod {
    /// Requests decided at this ledger height or later fall under the plan
    /// (the height after the block that set it).
    pub from_height: u64,
    /// The `OpenAccount` or `ChangePlan` transaction.
    pub tx_id: TxId,
    /// The plan.
    pub plan: Plan,
}

/// One credit of an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUpRecord {
    /// The `TopUp` transaction.
    pub tx_id: TxId,
    /// Its block.
    pub block_number: u64,
    /// Minor units.
    pub amount: u64,
    /// The operator's reference.
    pub reference: String,
    /// The operator's clock when it submitted the top-up.
    pub timestamp_ms: u64,
}

/// A verifier's account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The account holder.
    pub holder: Address,
    /// ISO 4217 code.
    pub currency: String,
    /// The block that opened it.
    pub opened_in_block: u64,
    /// Every plan, oldest first; never empty.
    pub plans: Vec<PlanPeriod>,
    /// Every top-up, oldest first.
    pub top_ups: Vec<TopUpRecord>,
    /// Sum of the top-ups, in minor units.
    pub credited: u64,
}

impl AccountRecord {
    /// The plan now.
    pub fn plan(&self) -> &Plan {
        // `plans` is never empty: the account is opened with one.
        &self.plans[self.plans.len() - 1].plan
    }

    /// The plan a request decided at ledger `height` falls under, or `None`
    /// if the account did not exist yet at that height.
    pub fn plan_at(&self, height: u64) -> Option<&PlanPeriod> {
        self.plans.iter().rev().find(|period| period.from_height <= height)
    }
}

/// A billing state change that passed validation.
pub(super) enum BillingEffect {
    Open(AccountRecord),
    TopUp { holder: Address, top_up: TopUpRecord },
    ChangePlan { holder: Address, period: PlanPeriod },
}

fn account_key(holder: &Address) -> Vec<u8> {
    [b"account/".as_slice(), &holder.0].concat()
}

impl Ledger {
    /// The account of `holder`, if it has one.
    pub fn account(&self, holder: &Address) -> Option<&AccountRecord> {
        self.accounts.get(holder)
    }

    /// Every account, by holder.
    pub fn accounts(&self) -> impl Iterator<Item = &AccountRecord> {
        self.accounts.values()
    }

    /// The creator, registered, not revoked, and allowed by the type's
    /// authority rule (the operator role of the operator's organisation).
    fn operator_creator(&self, transaction: &Transaction) -> Result<(), Failure> {
        let creator = self.registered_creator(transaction)?;
        self.authorise(transaction, Some(creator), None)
    }

    fn registered_holder(&self, holder: &str) -> Result<Address, Failure> {
        let address: Address = holder.parse().map_err(|e| {
            failure(
                ValidationCode::InvalidArgument,
                format!("holder {holder:?} is not an address: {e}"),
            )
        })?;
        let identity = self.identities.get(&address).ok_or_else(|| {
            failure(
                ValidationCode::UnknownIdentity,
                format!("holder {address} is not a registered identity"),
            )
        })?;
        if let Some(revocation) = &identity.revoked {
            return Err(failure(
                ValidationCode::RevokedIdentity,
                format!(
                    "holder {address} was revoked in block {}: {}",
                    revocation.block_number, revocation.reason
                ),
            ));
        }
        Ok(address)
    }

    fn existing_account(&self, holder: &str) -> Result<&AccountRecord, Failure> {
        let address: Address = holder.parse().map_err(|e| {
            failure(
                ValidationCode::InvalidArgument,
                format!("holder {holder:?} is not an address: {e}"),
            )
        })?;
        self.accounts.get(&address).ok_or_else(|| {
            failure(ValidationCode::UnknownAccount, format!("{address} has no account"))
        })
    }

    pub(super) fn check_open_account(
        &self,
        transaction: &Transaction,
        open: &OpenAccount,
    ) -> Result<Effect, Failure> {
        self.operator_creator(transaction)?;
        let holder = self.registered_holder(&open.holder)?;
        if let Some(account) = self.accounts.get(&holder) {
            return Err(failure(
                ValidationCode::AccountExists,
                format!(
                    "{holder} already has an account, opened in block {}",
                    account.opened_in_block
                ),
            ));
        }
        if !valid_currency(&open.currency) {
            return Err(failure(
                ValidationCode::InvalidArgument,
                format!(
                    "currency {:?} is not an ISO 4217 code (three capital letters)",
                    open.currency
                ),
            ));
        }
        open.plan.check().map_err(|e| failure(ValidationCode::InvalidArgument, e))?;
        let block_number = self.height();
        Ok(Effect::Billing(BillingEffect::Open(AccountRecord {
            holder,
            currency: open.currency.clone(),
            opened_in_block: block_number,
            plans: vec![PlanPeriod {
                from_height: block_number + 1,
                tx_id: transaction.id,
                plan: open.plan.clone(),
            }],
            top_ups: Vec::new(),
            credited: 0,
        })))
    }

    pub(super) fn check_top_up(
        &self,
        transaction: &Transaction,
        top_up: &TopUp,
    ) -> Result<Effect, Failure> {
        self.operator_creator(transaction)?;
        let account = self.existing_account(&top_up.holder)?;
        if top_up.currency != account.currency {
            return Err(failure(
                ValidationCode::InvalidArgument,
                format!(
                    "the top-up is in {:?}; the account of {} is in {:?}",
                    top_up.currency, account.holder, account.currency
                ),
            ));
        }
        if top_up.amount == 0 || top_up.amount > MAX_TOP_UP {
            return Err(failure(
                ValidationCode::InvalidArgument,
                format!("amount must be 1 to {MAX_TOP_UP} minor units, got {}", top_up.amount),
            ));
        }
        let Some(credited) = account.credited.checked_add(top_up.amount) else {
            return Err(failure(
                ValidationCode::InvalidArgument,
                format!(
                    "the account's credit of {} would overflow with {} more",
                    account.credited, top_up.amount
                ),
            ));
        };
        let _ = credited;
        if !top_up.reference.is_empty() && !valid_text(&top_up.reference, 128) {
            return Err(failure(
                ValidationCode::InvalidArgument,
                "reference must be at most 128 bytes without control characters",
            ));
        }
        Ok(Effect::Billing(BillingEffect::TopUp {
            holder: account.holder,
            top_up: TopUpRecord {
                tx_id: transaction.id,
                block_number: self.height(),
                amount: top_up.amount,
                reference: top_up.reference.clone(),
                timestamp_ms: transaction.timestamp_ms,
            },
        }))
    }

    pub(super) fn check_change_plan(
        &self,
        transaction: &Transaction,
        change: &ChangePlan,
    ) -> Result<Effect, Failure> {
        self.operator_creator(transaction)?;
        let account = self.existing_account(&change.holder)?;
        change.plan.check().map_err(|e| failure(ValidationCode::InvalidArgument, e))?;
        if *account.plan() == change.plan {
            return Err(failure(
                ValidationCode::InvalidArgument,
                format!("the account of {} already has this plan", account.holder),
            ));
        }
        Ok(Effect::Billing(BillingEffect::ChangePlan {
            holder: account.holder,
            period: PlanPeriod {
                from_height: self.height() + 1,
                tx_id: transaction.id,
                plan: change.plan.clone(),
            },
        }))
    }

    pub(super) fn execute_billing(&mut self, effect: BillingEffect) -> serde_json::Value {
        let holder = match effect {
            BillingEffect::Open(account) => {
                let holder = account.holder;
                let _ = self.accounts.insert(holder, account);
                holder
            }
            BillingEffect::TopUp { holder, top_up } => {
                let Some(account) = self.accounts.get_mut(&holder) else {
                    // `check` found the account; nothing removes accounts.
                    return serde_json::Value::Null;
                };
                account.credited = account.credited.saturating_add(top_up.amount);
                account.top_ups.push(top_up);
                holder
            }
            BillingEffect::ChangePlan { holder, period } => {
                let Some(account) = self.accounts.get_mut(&holder) else {
                    return serde_json::Value::Null;
                };
                account.plans.push(period);
                holder
            }
        };
        let Some(account) = self.accounts.get(&holder) else {
            return serde_json::Value::Null;
        };
        self.commitment.put(&account_key(&holder), &encode(account));
        serde_json::json!({
            "holder": holder.to_string(),
            "currency": account.currency,
            "credited": account.credited,
            "plan": account.plan(),
            "plan_from_height": account.plans.last().map_or(0, |p| p.from_height),
        })
    }
}
