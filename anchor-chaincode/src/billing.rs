//! Verifier accounts as the chaincode keeps them: plans, payment modes and
//! money.
//!
//! Money is always an integer number of minor units of the account's currency
//! (an ISO 4217 code: cents for `EUR`), never floating point. The ledger holds
//! only what the hub operator decides — accounts, plans and top-ups — and
//! never a per-query counter: usage is metered from the access-event stream
//! by the projections (`asset-registry`), which price each metered event with
//! the plan in effect at the ledger height the request was decided at
//! ([`crate::ledger::AccountRecord::plan_at`]).

use serde::{Deserialize, Serialize};

use crate::Error;

/// The largest price accepted, in minor units (per query or per MiB).
pub const MAX_PRICE: u64 = 1_000_000_000_000;
/// The largest single top-up, in minor units.
pub const MAX_TOP_UP: u64 = 1_000_000_000_000_000;
/// The largest free allowance per month (queries or MiB).
pub const MAX_ALLOWANCE: u64 = 1_000_000_000_000;
/// The highest rate limit, in requests per second.
pub const MAX_RATE_LIMIT: u32 = 1_000_000;

/// How an account pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payment {
    /// Served only while the balance covers the price of the request.
    Prepaid,
    /// Served, and billed at the end of the month.
    Postpaid,
}

impl Payment {
    /// The name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Payment::Prepaid => "prepaid",
            Payment::Postpaid => "postpaid",
        }
    }
}

impl std::str::FromStr for Payment {
    type Err = Error;

    fn from_str(text: &str) -> Result<Payment, Error> {
        match text {
            "prepaid" => Ok(Payment::Prepaid),
            "postpaid" => Ok(Payment::Postpaid),
            other => Err(Error::Parse {
                reason: format!("payment {other:?} is not prepaid or postpaid"),
            }),
        }
    }
}

/// What an account pays. A query is a verification (of a data hash or a
/// certificate) or a download; a download also pays for its bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Plan {
    /// Minor units per query, after the month's free queries.
    pub price_per_query: u64,
    /// Minor units per MiB (1,048,576 bytes) served, after the month's free MiB.
    pub price_per_mib: u64,
    /// Queries free each calendar month (UTC).
    pub free_queries_per_month: u64,
    /// MiB free each calendar month (UTC).
    pub free_mib_per_month: u64,
    /// Prepaid or post-paid.
    pub payment: Payment,
    /// Most billable requests per second on each node (bursts of as many); 0: no limit.
    pub rate_limit_per_second: u32,
}

impl Plan {
    /// Checks the plan's ranges; the message names the field.
    pub fn check(&self) -> Result<(), Error> {
        self.check_reason().map_err(|reason| Error::Plan { reason })
    }

    fn check_reason(&self) -> Result<(), String> {
        for (name, value, max) in [
            ("price_per_query", self.price_per_query, MAX_PRICE),
            ("price_per_mib", self.price_per_mib, MAX_PRICE),
            ("free_queries_per_month", self.free_queries_per_month, MAX_ALLOWANCE),
            ("free_mib_per_month", self.free_mib_per_month, MAX_ALLOWANCE),
        ] {
            if value > max {
                return Err(format!("{name} is {value}, more than the limit of {max}"));
            }
        }
        if self.rate_limit_per_second > MAX_RATE_LIMIT {
            return Err(format!(
                "rate_limit_per_second is {}, more than the limit of {MAX_RATE_LIMIT}",
                self.rate_limit_per_second
            ));
        }
        Ok(())
    }
}

/// Whether `code` has the shape of an ISO 4217 currency code (three capital letters).
pub fn valid_currency(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            price_per_query: 5,
            price_per_mib: 0,
            free_queries_per_month: 100,
            free_mib_per_month: 0,
            payment: Payment::Prepaid,
            rate_limit_per_second: 10,
        }
    }

    #[test]
    fn plan_ranges_name_the_field() {
        assert_eq!(plan().check(), Ok(()));
        let too_dear = Plan { price_per_mib: MAX_PRICE + 1, ..plan() };
        assert!(too_dear.check().unwrap_err().to_string().starts_with("price_per_mib is "));
        let too_fast = Plan { rate_limit_per_second: MAX_RATE_LIMIT + 1, ..plan() };
        assert!(too_fast.check().unwrap_err().to_string().starts_with("rate_limit_per_second is "));
    }

    #[test]
    fn currencies() {
        assert!(valid_currency("EUR"));
        for bad in ["eur", "EU", "EURO", "E1R", ""] {
            assert!(!valid_currency(bad), "{bad}");
        }
        assert_eq!("prepaid".parse::<Payment>(), Ok(Payment::Prepaid));
        assert!("monthly".parse::<Payment>().unwrap_err().to_string().contains("\"monthly\""));
    }
}
