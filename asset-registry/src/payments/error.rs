//! The error type of the payments module: every refusal names the field that
//! is wrong and, where it matters, the instruction it belongs to.
//!
//! Messages never quote a name, an IBAN or a BIC in full: those are personal
//! data of the beneficiary or payer, and errors end up in logs.

/// The result type of the payments module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an instruction, a batch or an entitlement cannot become a payment file.
///
/// `field` is a path such as `instructions[2] (C-…-202612).iban` or
/// `party.creditor_id`, so the caller can point at the exact input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An IBAN fails its shape, country length or mod-97 check.
    #[error("{field}: invalid IBAN: {reason}")]
    Iban {
        /// The field.
        field: String,
        /// What is wrong (never the IBAN itself).
        reason: String,
    },
    /// A BIC does not have the shape `AAAABBCC` or `AAAABBCCDDD`.
    #[error(
        "{field}: invalid BIC: it must be 8 or 11 characters, 6 letters, then 2 letters or digits (the second not O), then optionally 3 letters or digits"
    )]
    Bic {
        /// The field.
        field: String,
    },
    /// A SEPA creditor identifier fails its shape or check digits.
    #[error("{field}: invalid SEPA creditor identifier: {reason}")]
    CreditorId {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// An amount is zero or above the largest SEPA amount.
    #[error(
        "{field}: amount {amount_minor} minor units is out of range: it must be between 1 and 999999999999 (9999999999.99)"
    )]
    Amount {
        /// The field.
        field: String,
        /// The amount given, in minor units.
        amount_minor: u64,
    },
    /// A currency is not three upper-case letters, or differs within a batch.
    #[error("{field}: currency {currency:?} {reason}")]
    Currency {
        /// The field.
        field: String,
        /// The code given.
        currency: String,
        /// What is wrong.
        reason: String,
    },
    /// A free text holds a character outside the SEPA character set that has
    /// no transliteration, is empty, or is too long.
    #[error("{field}: {reason}")]
    Text {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A reference (message id, end-to-end id, mandate id) breaks the SEPA
    /// rules for identifiers.
    #[error("{field}: invalid identifier {value:?}: {reason}")]
    Identifier {
        /// The field.
        field: String,
        /// The identifier given (identifiers hold no personal data).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A case id is not `c-` followed by 32 hexadecimal digits.
    #[error("{field}: case id {case_id:?} is not c- followed by 32 hexadecimal digits")]
    CaseId {
        /// The field.
        field: String,
        /// The case id given.
        case_id: String,
    },
    /// A date, time or period does not exist or is not written as expected.
    #[error("{field}: {reason}")]
    Date {
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The batch as a whole cannot be written.
    #[error("batch: {reason}")]
    Batch {
        /// What is wrong.
        reason: String,
    },
}
