//! Notifications of case state changes: which ledger receipts concern whom,
//! what each notification says, and how a webhook body is signed.
//!
//! Every valid `case_action` transaction carries a receipt whose `response`
//! is a JSON [`CaseChange`]: the case reference, the service and its
//! version, the action, the state after it, the applicant's address and the
//! recipients the change concerns (the applicant by address, reviewer groups
//! by organisation and role). [`block_notifications`] maps the receipts of a
//! block to one [`Notification`] per recipient and [`Channel`], in a fixed
//! order, each with a stable [`Notification::id`] derived from the
//! transaction id, the recipient and the channel. A sender uses that id as
//! the e-mail's Message-ID and the webhook's `Idempotency-Key`, so a receiver
//! can recognise a redelivery.
//!
//! The mapping is a pure function of the receipt: it reads no clock, no
//! contacts and no configuration. The ledger never holds e-mail addresses;
//! the sender resolves a recipient to one from a private contacts file when
//! it delivers, and an e-mail notification whose recipient has no contact is
//! recorded as undeliverable rather than guessed.
//!
//! A notification carries no personal data beyond the case reference and
//! state: its subject is `Case c-… is now <state>` and its body names the
//! case, the service, the state and the action, never a name.
//!
//! [`signature`] and [`verify_signature`] compute and check the
//! `X-Cairn-Signature` header of a webhook body (HMAC-SHA256 with a shared
//! secret), for the sender and for any receiver.
//!
//! With the `pg` feature, [`outbox`] stores the notifications in PostgreSQL
//! together with the ledger offset they reach, in one transaction, so each is
//! recorded exactly once, and tracks their delivery.

use std::fmt;
use std::str::FromStr;

use anchor_chaincode::ValidationCode;
use anchor_chaincode::ledger::{Block, Receipt};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[cfg(feature = "pg")]
pub mod outbox;
#[cfg(test)]
mod tests;

/// The transaction type whose receipts are case changes.
pub const CASE_ACTION_TX: &str = "case_action";

/// The name of the webhook header that carries [`signature`].
pub const SIGNATURE_HEADER: &str = "X-Cairn-Signature";

/// The name of the webhook header that carries [`Notification::id`].
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// The domain separation label of notification ids.
const ID_LABEL: &[u8] = b"cairn.notify.v1";

/// Why a receipt's response is not a case change this build understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The response is not the JSON of a case change.
    #[error("the case_action receipt of transaction {tx_id} is not a case change: {message}")]
    NotACaseChange {
        /// The transaction.
        tx_id: String,
        /// What the parser said.
        message: String,
    },
    /// A field of the case change has a value this build refuses.
    #[error("the case_action receipt of transaction {tx_id}: {message}")]
    BadField {
        /// The transaction.
        tx_id: String,
        /// Which field and why, without the value when it could be personal.
        message: String,
    },
}

/// Why a stored or given value is not one of a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}; expected one of {expected}")]
pub struct UnknownValue {
    /// Which vocabulary.
    pub what: &'static str,
    /// The value that was given.
    pub value: String,
    /// The values that are known.
    pub expected: &'static str,
}

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as written on the ledger and in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(value: &str) -> Result<$name, UnknownValue> {
                match value {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        what: $what,
                        value: value.to_owned(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}

vocabulary!(
    /// What was done to a case.
    CaseAction, "case action", {
        /// The applicant applied.
        Apply => "apply",
        /// The applicant supplied more material.
        Supply => "supply",
        /// The automatic checks ran.
        Check => "check",
        /// A review step recorded its outcome.
        Step => "step",
        /// The case was decided.
        Decide => "decide",
        /// The applicant appealed the decision.
        Appeal => "appeal",
        /// The applicant withdrew.
        Withdraw => "withdraw",
        /// A payment was recorded.
        Pay => "pay",
        /// The case was closed.
        Close => "close",
    }
);

vocabulary!(
    /// The state of a case after an action.
    CaseState, "case state", {
        /// Applied, waiting for the automatic checks.
        Submitted => "submitted",
        /// The automatic checks passed.
        Checked => "checked",
        /// Review steps are under way.
        InReview => "in_review",
        /// Returned to the applicant for supplement.
        Returned => "returned",
        /// Approved.
        Approved => "approved",
        /// Rejected.
        Rejected => "rejected",
        /// Appealed, waiting for another reviewer.
        Appealed => "appealed",
        /// Paid.
        Paid => "paid",
        /// Closed.
        Closed => "closed",
        /// Withdrawn by the applicant.
        Withdrawn => "withdrawn",
    }
);

vocabulary!(
    /// How a notification is delivered.
    Channel, "channel", {
        /// E-mail over SMTP, to the recipient's contact address.
        Email => "email",
        /// A signed HTTP POST to the configured webhook (an SMS gateway or a portal).
        Webhook => "webhook",
    }
);

/// Whom a case change concerns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Recipient {
    /// One identity, by its ledger address (40 lower-case hex digits).
    Address(String),
    /// A reviewer group: every reviewer of a role in an organisation.
    Group {
        /// The organisation.
        organisation: String,
        /// The department-defined reviewer role.
        role: String,
    },
}

impl Recipient {
    /// The recipient as one text, as stored: `address:<address>` or
    /// `group:<organisation>/<role>`.
    pub fn key(&self) -> String {
        match self {
            Recipient::Address(address) => format!("address:{address}"),
            Recipient::Group { organisation, role } => format!("group:{organisation}/{role}"),
        }
    }

    /// Parses [`Recipient::key`].
    pub fn from_key(key: &str) -> Result<Recipient, UnknownValue> {
        let unknown = || UnknownValue {
            what: "recipient",
            value: key.to_owned(),
            expected: "address:<40 hex digits> or group:<organisation>/<role>",
        };
        if let Some(address) = key.strip_prefix("address:") {
            return if is_address(address) {
                Ok(Recipient::Address(address.to_owned()))
            } else {
                Err(unknown())
            };
        }
        let group = key.strip_prefix("group:").ok_or_else(unknown)?;
        let (organisation, role) = group.split_once('/').ok_or_else(unknown)?;
        if is_name(organisation) && is_name(role) {
            Ok(Recipient::Group { organisation: organisation.to_owned(), role: role.to_owned() })
        } else {
            Err(unknown())
        }
    }

    /// The key of the recipient in the contacts file: the address, or
    /// `<organisation>/<role>`.
    pub fn contact_key(&self) -> String {
        match self {
            Recipient::Address(address) => address.clone(),
            Recipient::Group { organisation, role } => format!("{organisation}/{role}"),
        }
    }

    /// The recipient as the JSON object of the receipt and the webhook body.
    fn to_json(&self) -> serde_json::Value {
        match self {
            Recipient::Address(address) => serde_json::json!({ "address": address }),
            Recipient::Group { organisation, role } => {
                serde_json::json!({ "organisation": organisation, "role": role })
            }
        }
    }
}

/// Whether `text` is an address: 40 lower-case hex digits.
fn is_address(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `text` is a plain name: not empty, at most 128 bytes, no `/` and
/// no control characters.
fn is_name(text: &str) -> bool {
    !text.is_empty() && text.len() <= 128 && !text.chars().any(|c| c == '/' || c.is_control())
}

/// Whether `text` is a case reference: `c-` and 32 lower-case hex digits.
pub fn is_case_id(text: &str) -> bool {
    text.strip_prefix("c-").is_some_and(|hex| {
        hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A recipient as the receipt writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipient {
    address: Option<String>,
    organisation: Option<String>,
    role: Option<String>,
}

/// The response of a `case_action` receipt, as the chaincode writes it.
#[derive(Deserialize)]
struct RawCaseChange {
    case_id: String,
    service_id: String,
    service_version: u64,
    action: CaseAction,
    state: CaseState,
    applicant: String,
    #[serde(default)]
    notify: Vec<RawRecipient>,
}

/// What a case change says about the case: everything a notification may
/// carry, and nothing more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseSummary {
    /// The case reference, `c-` and 32 hex digits.
    pub case_id: String,
    /// The service applied to.
    pub service_id: String,
    /// The version of the service the case follows.
    pub service_version: u64,
    /// What was done.
    pub action: CaseAction,
    /// The state after it.
    pub state: CaseState,
}

/// A case change: the response of a valid `case_action` receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseChange {
    /// The case, the action and the state.
    pub summary: CaseSummary,
    /// The applicant's address.
    pub applicant: String,
    /// Whom the change concerns, in the receipt's order, without repeats.
    pub recipients: Vec<Recipient>,
}

impl CaseChange {
    /// Parses and checks the response of the `case_action` receipt of
    /// transaction `tx_id`.
    pub fn parse(tx_id: &str, response: &str) -> Result<CaseChange, ReceiptError> {
        let raw: RawCaseChange = serde_json::from_str(response).map_err(|error| {
            ReceiptError::NotACaseChange { tx_id: tx_id.to_owned(), message: error.to_string() }
        })?;
        let bad = |message: String| ReceiptError::BadField { tx_id: tx_id.to_owned(), message };
        if !is_case_id(&raw.case_id) {
            return Err(bad(format!(
                "case_id {:?} is not c- and 32 lower-case hex digits",
                raw.case_id
            )));
        }
        if !is_name(&raw.service_id) {
            return Err(bad(
                "service_id is empty, longer than 128 bytes, or holds / or a control character"
                    .into(),
            ));
        }
        if !is_address(&raw.applicant) {
            return Err(bad("applicant is not an address (40 lower-case hex digits)".into()));
        }
        let mut recipients = Vec::with_capacity(raw.notify.len());
        for (index, raw_recipient) in raw.notify.into_iter().enumerate() {
            let recipient = match raw_recipient {
                RawRecipient { address: Some(address), organisation: None, role: None }
                    if is_address(&address) =>
                {
                    Recipient::Address(address)
                }
                RawRecipient {
                    address: None,
                    organisation: Some(organisation),
                    role: Some(role),
                } if is_name(&organisation) && is_name(&role) => {
                    Recipient::Group { organisation, role }
                }
                _ => {
                    return Err(bad(format!(
                        "notify[{index}] is neither {{\"address\": <40 hex digits>}} nor {{\"organisation\": …, \"role\": …}} with plain names"
                    )));
                }
            };
            if !recipients.contains(&recipient) {
                recipients.push(recipient);
            }
        }
        Ok(CaseChange {
            summary: CaseSummary {
                case_id: raw.case_id,
                service_id: raw.service_id,
                service_version: raw.service_version,
                action: raw.action,
                state: raw.state,
            },
            applicant: raw.applicant,
            recipients,
        })
    }
}

/// Where on the ledger a notification comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The log offset of the block.
    pub ledger_offset: u64,
    /// The block number.
    pub block_number: u64,
    /// The transaction's position in the block.
    pub tx_index: u32,
    /// The transaction id, 64 hex digits.
    pub tx_id: String,
}

/// One notification: one recipient of one case change on one channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The stable id: `n-` and 32 hex digits of SHA-256 over the transaction
    /// id, the recipient and the channel ([`notification_id`]).
    pub id: String,
    /// Where it comes from.
    pub origin: Origin,
    /// Its position among the notifications of its transaction.
    pub seq: u32,
    /// The channel.
    pub channel: Channel,
    /// Whom it concerns.
    pub recipient: Recipient,
    /// What it says.
    pub summary: CaseSummary,
}

/// The stable id of the notification of transaction `tx_id` to `recipient`
/// on `channel`: `n-` followed by the first 16 bytes, in hex, of
/// SHA-256(`cairn.notify.v1` 0x00 tx_id 0x00 recipient key 0x00 channel).
pub fn notification_id(tx_id: &str, recipient: &Recipient, channel: Channel) -> String {
    let digest = Sha256::new()
        .chain_update(ID_LABEL)
        .chain_update([0])
        .chain_update(tx_id.as_bytes())
        .chain_update([0])
        .chain_update(recipient.key().as_bytes())
        .chain_update([0])
        .chain_update(channel.as_str().as_bytes())
        .finalize();
    format!("n-{}", hex::encode(&digest[..16]))
}

impl Notification {
    /// The e-mail subject: `Case c-… is now <state>`.
    pub fn subject(&self) -> String {
        format!("Case {} is now {}", self.summary.case_id, self.summary.state)
    }

    /// The plain-text e-mail body: the case reference, the service, the
    /// state and the action; no names.
    pub fn text_body(&self) -> String {
        let summary = &self.summary;
        format!(
            "Case: {}\nService: {} (version {})\nState: {}\nAction: {}\n\nThis message carries no personal data. Sign in to see the case.\nNotification: {}\n",
            summary.case_id,
            summary.service_id,
            summary.service_version,
            summary.state,
            summary.action,
            self.id
        )
    }

    /// The webhook body: one JSON object, its keys in a fixed order.
    pub fn webhook_body(&self) -> Vec<u8> {
        let summary = &self.summary;
        let body = serde_json::json!({
            "id": self.id,
            "case_id": summary.case_id,
            "service_id": summary.service_id,
            "service_version": summary.service_version,
            "action": summary.action.as_str(),
            "state": summary.state.as_str(),
            "recipient": self.recipient.to_json(),
            "tx_id": self.origin.tx_id,
            "block_number": self.origin.block_number,
            "subject": self.subject(),
        });
        // A `Value` always serialises.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The e-mail Message-ID: `<id@domain>`.
    pub fn message_id(&self, domain: &str) -> String {
        format!("<{}@{domain}>", self.id)
    }
}

/// The notifications of one case change, in a fixed order: for each
/// recipient (in the receipt's order), the e-mail and then the webhook.
pub fn change_notifications(origin: &Origin, change: &CaseChange) -> Vec<Notification> {
    let mut notifications = Vec::with_capacity(change.recipients.len() * Channel::ALL.len());
    for recipient in &change.recipients {
        for &channel in Channel::ALL {
            let seq = u32::try_from(notifications.len()).unwrap_or(u32::MAX);
            notifications.push(Notification {
                id: notification_id(&origin.tx_id, recipient, channel),
                origin: origin.clone(),
                seq,
                channel,
                recipient: recipient.clone(),
                summary: change.summary.clone(),
            });
        }
    }
    notifications
}

/// The notifications of one receipt at log offset `ledger_offset`: none
/// unless it is a valid `case_action`.
pub fn receipt_notifications(
    ledger_offset: u64,
    receipt: &Receipt,
) -> Result<Vec<Notification>, ReceiptError> {
    if receipt.tx_type != CASE_ACTION_TX || receipt.code != ValidationCode::Valid {
        return Ok(Vec::new());
    }
    let tx_id = receipt.tx_id.to_string();
    let change = CaseChange::parse(&tx_id, &receipt.response)?;
    let origin = Origin {
        ledger_offset,
        block_number: receipt.block_number,
        tx_index: receipt.index,
        tx_id,
    };
    Ok(change_notifications(&origin, &change))
}

/// The notifications of every receipt of a block, in block order.
pub fn block_notifications(block: &Block) -> Result<Vec<Notification>, ReceiptError> {
    let mut notifications = Vec::new();
    for receipt in &block.receipts {
        notifications.extend(receipt_notifications(block.header.log_offset, receipt)?);
    }
    Ok(notifications)
}

/// The `X-Cairn-Signature` value of a webhook body: `sha256=` and the hex
/// HMAC-SHA256 of the body under the shared secret.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac(secret, body).finalize().into_bytes()))
}

/// Whether `header` is the [`signature`] of `body` under `secret`, compared
/// in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_mac) = header.trim().strip_prefix("sha256=") else { return false };
    let Ok(mac) = hex::decode(hex_mac) else { return false };
    hmac(secret, body).verify_slice(&mac).is_ok()
}

/// HMAC-SHA256 of `body` under `secret`, not yet finalised.
fn hmac(secret: &[u8], body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length (a long one is hashed), so this never fails.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    mac.update(body);
    mac
}
