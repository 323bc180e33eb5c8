//! ISO 20022 payment files for the benefits and premiums of approved cases:
//! `pain.001.001.03` SEPA credit transfers (the agency pays a beneficiary)
//! and `pain.008.001.02` SEPA core direct debits (the agency collects a
//! social-insurance premium).
//!
//! The module is pure: no clock, no I/O. The creation time and the
//! requested date of a file come in as values, so the same batch always
//! gives the same bytes.
//!
//! - [`monthly`] turns the entitlements of approved cases into one
//!   [`Instruction`] per entitlement active in a month, with an end-to-end id
//!   derived from the case id, the month and the direction
//!   ([`end_to_end_id`], read back by [`PaymentRef::parse`]).
//! - [`pain_001`] and [`pain_008`] validate a [`Batch`] and write its XML;
//!   every refusal is an [`Error`] naming the field (see [`validate`] for the
//!   checks and the character-set policy: transliterate Latin letters,
//!   reject the rest).
//! - [`Execution`] is what the case records once the bank reports the
//!   payment executed, rejected or returned; parsing a `pain.002` status
//!   report is left to the caller.
//!
//! Money is integer minor units (hundredths of the currency) throughout;
//! amounts are written with two decimals from integers, never floats.
//!
//! Names, IBANs and BICs of beneficiaries are personal data: the `Debug`
//! output of [`Instruction`] and [`Counterparty`] leaves them out, and error
//! messages never quote them.
//!
//! ```
//! use asset_registry::payments::{self, Batch, Counterparty, Date, DateTime, Direction, Entitlement, Party, Period};
//!
//! let entitlement = Entitlement {
//!     case_id: "c-0123456789abcdef0123456789abcdef".into(),
//!     monthly_amount_minor: 45_000,
//!     direction: Direction::Credit,
//!     first_period: Period::new(2026, 11)?,
//!     last_period: None,
//!     counterparty: Counterparty {
//!         name: "Zoë Müller & Söhne".into(),
//!         iban: "DE89 3704 0044 0532 0130 00".into(),
//!         bic: Some("COBADEFFXXX".into()),
//!         mandate: None,
//!     },
//! };
//! let instructions = payments::monthly(&[entitlement], 2026, 12)?;
//! assert_eq!(instructions[0].end_to_end_id, "C-02FAPL4N1AZS5KKWZRXA98BN3-202612");
//! let batch = Batch {
//!     message_id: "MLG-2026-12".into(),
//!     created_at: "2026-12-04T21:00:00".parse()?,
//!     requested_date: Date::new(2026, 12, 10)?,
//!     party: Party {
//!         name: "Civil affairs department".into(),
//!         iban: "DE02120300000000202051".into(),
//!         bic: Some("BYLADEM1001".into()),
//!         creditor_id: None,
//!     },
//!     instructions,
//! };
//! let xml = payments::pain_001(&batch)?;
//! assert!(xml.contains("<CtrlSum>450.00</CtrlSum>"));
//! assert!(xml.contains("<Nm>Zoe Muller + Sohne</Nm>"));
//! # Ok::<(), payments::Error>(())
//! ```

mod date;
mod error;
pub mod validate;
mod xml;

#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use date::{Date, DateTime, Period};
pub use error::{Error, Result};
pub use xml::{escape, format_amount, pain_001, pain_008};

/// The currency of every SEPA payment.
pub const EUR: &str = "EUR";

/// Which way the money goes, seen from the agency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The agency pays the counterparty (a benefit): a credit transfer,
    /// `pain.001`.
    Credit,
    /// The agency collects from the counterparty under a mandate (a
    /// premium): a direct debit, `pain.008`.
    Debit,
}

impl Direction {
    /// The letter that opens end-to-end ids: `C` or `D`.
    fn letter(self) -> char {
        match self {
            Direction::Credit => 'C',
            Direction::Debit => 'D',
        }
    }
}

/// A SEPA direct-debit mandate the payer signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mandate {
    /// The mandate reference (at most 35 characters of the SEPA set).
    pub id: String,
    /// The day the payer signed it.
    pub signed_on: Date,
}

/// The beneficiary or payer of an entitlement.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counterparty {
    /// The account holder's name (transliterated into the SEPA set when the
    /// file is written; at most 70 characters).
    pub name: String,
    /// The account's IBAN, with or without spaces.
    pub iban: String,
    /// The BIC of the account's bank; optional within SEPA.
    pub bic: Option<String>,
    /// The mandate, required for debits.
    pub mandate: Option<Mandate>,
}

impl fmt::Debug for Counterparty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counterparty")
            .field("name", &"<personal data>")
            .field("iban", &"<personal data>")
            .field("bic", &self.bic.as_ref().map(|_| "<personal data>"))
            .field("mandate", &self.mandate)
            .finish()
    }
}

/// What an approved case pays or collects each month.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// The case, `c-` and 32 hexadecimal digits.
    pub case_id: String,
    /// The amount of each month, in minor units of euro; a month of zero
    /// produces no instruction.
    pub monthly_amount_minor: u64,
    /// Paid to (credit) or collected from (debit) the counterparty.
    pub direction: Direction,
    /// The first month paid.
    pub first_period: Period,
    /// The last month paid, if the entitlement ends.
    pub last_period: Option<Period>,
    /// Who is paid or debited.
    pub counterparty: Counterparty,
}

impl Entitlement {
    /// Whether the entitlement pays or collects in `period`.
    pub fn is_active(&self, period: Period) -> bool {
        self.first_period <= period && self.last_period.is_none_or(|last| period <= last)
    }
}

/// One payment of one case for one month.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instruction {
    /// The end-to-end id, derived from the direction, case id and period by
    /// [`end_to_end_id`] (at most 35 characters); the bank reports it back.
    pub end_to_end_id: String,
    /// The case.
    pub case_id: String,
    /// The month paid for.
    pub period: Period,
    /// Credit transfer or direct debit.
    pub direction: Direction,
    /// The amount in minor units, 1 to 999 999 999 999.
    pub amount_minor: u64,
    /// The ISO 4217 currency code (`EUR` for SEPA).
    pub currency: String,
    /// The account holder's name.
    pub counterparty_name: String,
    /// The account holder's IBAN.
    pub iban: String,
    /// The BIC of the account holder's bank, if known.
    pub bic: Option<String>,
    /// The unstructured remittance information: the case reference and the
    /// month only, never personal data.
    pub remittance: String,
    /// The mandate, for debits only.
    pub mandate: Option<Mandate>,
}

impl Instruction {
    /// The instruction of `counterparty` for `case_id` in `period`, with its
    /// end-to-end id and remittance information derived from them.
    pub fn new(
        case_id: &str,
        period: Period,
        direction: Direction,
        amount_minor: u64,
        counterparty: &Counterparty,
    ) -> Result<Instruction> {
        let end_to_end_id = end_to_end_id(direction, case_id, period)?;
        Ok(Instruction {
            end_to_end_id,
            case_id: case_id.to_ascii_lowercase(),
            period,
            direction,
            amount_minor,
            currency: EUR.to_owned(),
            counterparty_name: counterparty.name.clone(),
            iban: counterparty.iban.clone(),
            bic: counterparty.bic.clone(),
            remittance: remittance(case_id, period, direction),
            mandate: counterparty.mandate.clone(),
        })
    }
}

impl fmt::Debug for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instruction")
            .field("end_to_end_id", &self.end_to_end_id)
            .field("case_id", &self.case_id)
            .field("period", &self.period)
            .field("direction", &self.direction)
            .field("amount_minor", &self.amount_minor)
            .field("currency", &self.currency)
            .field("counterparty_name", &"<personal data>")
            .field("iban", &"<personal data>")
            .field("bic", &self.bic.as_ref().map(|_| "<personal data>"))
            .field("remittance", &self.remittance)
            .field("mandate", &self.mandate)
            .finish()
    }
}

/// The agency's own side of a file: the debtor of credit transfers or the
/// creditor of direct debits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// The agency's name (at most 70 characters after transliteration).
    pub name: String,
    /// The agency's account.
    pub iban: String,
    /// The BIC of the agency's bank, if known.
    pub bic: Option<String>,
    /// The SEPA creditor identifier, required for direct debits.
    pub creditor_id: Option<String>,
}

/// A payment file's content: one message of one agency, for one requested
/// date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The message id, unique per agency (at most 35 characters); it also
    /// names the file's single payment information block.
    pub message_id: String,
    /// When the file was created, given by the caller (for instance the
    /// ledger time of the run), never read from a clock.
    pub created_at: DateTime,
    /// The requested execution (credit) or collection (debit) date.
    pub requested_date: Date,
    /// The agency.
    pub party: Party,
    /// The payments, all in one currency.
    pub instructions: Vec<Instruction>,
}

/// The end-to-end id of the payment of `case_id` for `period`:
/// `C-` or `D-`, the case's 128 bits in 25 base-36 digits, `-`, and
/// `YYYYMM` (34 characters, within the 35 of `Max35Text`).
///
/// The id is reversible ([`PaymentRef::parse`]), so a bank's status report
/// leads back to the case without a lookup table.
pub fn end_to_end_id(direction: Direction, case_id: &str, period: Period) -> Result<String> {
    let bits = case_bits("case_id", case_id)?;
    Ok(format!("{}-{}-{}", direction.letter(), base36(bits), period.compact()))
}

/// The remittance text of a payment: the case reference and the month.
fn remittance(case_id: &str, period: Period, direction: Direction) -> String {
    let what = match direction {
        Direction::Credit => "Benefit",
        Direction::Debit => "Premium",
    };
    format!("{what} case {} period {period}", case_id.to_ascii_lowercase())
}

/// What an end-to-end id refers to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRef {
    /// Credit or debit.
    pub direction: Direction,
    /// The case, `c-` and 32 lower-case hexadecimal digits.
    pub case_id: String,
    /// The month.
    pub period: Period,
}

impl PaymentRef {
    /// Reads an end-to-end id written by [`end_to_end_id`].
    pub fn parse(end_to_end_id: &str) -> Result<PaymentRef> {
        let bad = |reason: &str| Error::Identifier {
            field: "end_to_end_id".into(),
            value: end_to_end_id.to_owned(),
            reason: reason.into(),
        };
        let parts: Vec<&str> = end_to_end_id.split('-').collect();
        let [letter, digits, period] = parts.as_slice() else {
            return Err(bad("expected C-<25 base-36 digits>-YYYYMM or D-…"));
        };
        let direction = match *letter {
            "C" => Direction::Credit,
            "D" => Direction::Debit,
            _ => return Err(bad("it must start with C- (credit) or D- (debit)")),
        };
        if digits.len() != 25 {
            return Err(bad("the case part must have 25 base-36 digits"));
        }
        let bits = u128::from_str_radix(digits, 36)
            .map_err(|_| bad("the case part is not a base-36 number of 128 bits"))?;
        if period.len() != 6 || !period.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the period part must be YYYYMM"));
        }
        let period: Period = format!("{}-{}", &period[0..4], &period[4..6]).parse()?;
        Ok(PaymentRef { direction, case_id: format!("c-{bits:032x}"), period })
    }
}

/// The instructions of `month` of `year`: one for each entitlement active
/// then with a non-zero amount, in the order of `entitlements`.
///
/// An entitlement whose last period is before its first, or a debit
/// entitlement active in the month without a mandate, is an error naming
/// it. Amounts, IBANs and names are
/// checked when the file is written ([`pain_001`], [`pain_008`]), so one bad
/// account does not stop the month's computation.
pub fn monthly(entitlements: &[Entitlement], year: u16, month: u8) -> Result<Vec<Instruction>> {
    let period = Period::new(year, month)?;
    let mut instructions = Vec::new();
    for (entitlement_idx, entitlement) in entitlements.iter().enumerate() {
        let field = format!("entitlements[{entitlement_idx}] ({})", entitlement.case_id);
        if let Some(last) = entitlement.last_period
            && last < entitlement.first_period
        {
            return Err(Error::Date {
                field: format!("{field}.last_period"),
                reason: format!("{last} is before the first period {}", entitlement.first_period),
            });
        }
        if !entitlement.is_active(period) || entitlement.monthly_amount_minor == 0 {
            continue;
        }
        if entitlement.direction == Direction::Debit && entitlement.counterparty.mandate.is_none() {
            return Err(Error::Batch {
                reason: format!("{field}: a debit needs the payer's mandate"),
            });
        }
        case_bits(&format!("{field}.case_id"), &entitlement.case_id)?;
        instructions.push(Instruction::new(
            &entitlement.case_id,
            period,
            entitlement.direction,
            entitlement.monthly_amount_minor,
            &entitlement.counterparty,
        )?);
    }
    Ok(instructions)
}

/// How a payment ended, as the bank reported it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ExecutionStatus {
    /// Booked on the counterparty's account (`ACSC`).
    Settled,
    /// Refused before settlement (`RJCT`), with the ISO 20022 reason code
    /// (for example `AC04`, account closed).
    Rejected {
        /// The reason code.
        reason_code: String,
    },
    /// Settled, then returned or refunded (an R-transaction), with the
    /// reason code (for example `MD06`, refund requested by the payer).
    Returned {
        /// The reason code.
        reason_code: String,
    },
}

/// The outcome of one payment, recorded on its case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// The payment's end-to-end id.
    pub end_to_end_id: String,
    /// The day the bank executed, rejected or returned it.
    pub executed_on: Date,
    /// What happened.
    pub status: ExecutionStatus,
}

impl Execution {
    /// The case, month and direction the payment belongs to.
    pub fn payment(&self) -> Result<PaymentRef> {
        PaymentRef::parse(&self.end_to_end_id)
    }
}

/// The 128 bits of a case id `c-` + 32 hexadecimal digits.
fn case_bits(field: &str, case_id: &str) -> Result<u128> {
    let bad = || Error::CaseId { field: field.to_owned(), case_id: case_id.to_owned() };
    let hex = case_id.strip_prefix("c-").ok_or_else(bad)?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u128::from_str_radix(hex, 16).map_err(|_| bad())
}

/// `value` in 25 upper-case base-36 digits (enough for any u128).
fn base36(mut value: u128) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = [b'0'; 25];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(value % 36) as usize];
        value /= 36;
    }
    out.iter().map(|b| char::from(*b)).collect()
}
