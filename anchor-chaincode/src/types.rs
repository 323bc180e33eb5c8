//! Domain vocabulary of the ledger: addresses, transaction ids, roles, data
//! types and validation codes.
//!
//! These are not the protobuf types of `cairn-schemas`; conversion happens in
//! [`crate::tx`] when a transaction is decoded.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::merkle::Hash;

/// Domain-separation label for addresses.
const ADDRESS_LABEL: &[u8] = b"cairn-address-v1\n";

/// An identity's address: the first 20 bytes of
/// SHA-256("cairn-address-v1\n" || Ed25519 public key), shown as 40 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Derives the address of an Ed25519 public key.
    pub fn of_public_key(public_key: &[u8; 32]) -> Address {
        let digest = Sha256::new().chain_update(ADDRESS_LABEL).chain_update(public_key).finalize();
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&digest[..20]);
        Address(bytes)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 20];
        if text.len() != 40
            || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::Parse {
                reason: format!("address {text:?} is not 40 lower-case hex digits"),
            });
        }
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|e| Error::Parse { reason: format!("address {text:?}: {e}") })?;
        Ok(Address(bytes))
    }
}

/// A transaction id: SHA-256 over the encoded payload (the bytes the creator signed).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxId(pub Hash);

impl TxId {
    /// The id of a payload.
    pub fn of_payload(payload: &[u8]) -> TxId {
        TxId(Sha256::digest(payload).into())
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({self})")
    }
}

impl FromStr for TxId {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        if text.len() != 64 {
            return Err(Error::Parse {
                reason: format!("transaction id {text:?} is not 64 hex digits"),
            });
        }
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|e| Error::Parse { reason: format!("transaction id {text:?}: {e}") })?;
        Ok(TxId(bytes))
    }
}

/// What an identity does in the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A provider department: publishes assets and sets their sharing rules.
    Provider,
    /// A consumer department: requests shared data.
    Consumer,
    /// A commercial verifier: checks certificates and data hashes, and pays.
    Verifier,
    /// An issuing agency: issues certificates.
    Issuer,
    /// The certification authority: endorses identity registrations.
    CertificationAuthority,
    /// An auditor: reads audit logs and bills.
    Auditor,
    /// A member of the public: a citizen who holds certificates. Registered
    /// only in the holders' organisation; never an endorser.
    Public,
    /// The hub operator: opens, tops up and re-plans verifier accounts.
    /// Registered only in the operator's organisation.
    Operator,
    /// A department's node: anchors access-event logs and certificate
    /// channels. Never a member of the certification authority.
    Node,
    /// A department's reviewer: performs the case steps that service
    /// definitions name for its organisation and its department-defined
    /// reviewer role, and nothing else.
    Reviewer,
}

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 10] = [
        Role::Provider,
        Role::Consumer,
        Role::Verifier,
        Role::Issuer,
        Role::CertificationAuthority,
        Role::Auditor,
        Role::Public,
        Role::Operator,
        Role::Node,
        Role::Reviewer,
    ];

    /// The name used in configuration, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Provider => "provider",
            Role::Consumer => "consumer",
            Role::Verifier => "verifier",
            Role::Issuer => "issuer",
            Role::CertificationAuthority => "certification_authority",
            Role::Auditor => "auditor",
            Role::Public => "public",
            Role::Operator => "operator",
            Role::Node => "node",
            Role::Reviewer => "reviewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|role| role.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            Error::Parse {
                reason: format!("unknown role {text:?}; expected one of {}", names.join(", ")),
            }
        })
    }
}

/// Whether an asset is structured (rows with a schema) or unstructured (any file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// Rows with a column schema.
    Structured,
    /// Any other file.
    Unstructured,
}

impl DataType {
    /// The name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Structured => "structured",
            DataType::Unstructured => "unstructured",
        }
    }
}

impl FromStr for DataType {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "structured" => Ok(DataType::Structured),
            "unstructured" => Ok(DataType::Unstructured),
            _ => Err(Error::Parse {
                reason: format!("unknown data type {text:?}; expected structured or unstructured"),
            }),
        }
    }
}

/// The outcome of validating one transaction. Only [`ValidationCode::Valid`] changes state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u16)]
pub enum ValidationCode {
    /// Applied.
    Valid = 1,
    /// The envelope or payload could not be decoded, or a field has the wrong length.
    Malformed = 2,
    /// The envelope is larger than [`crate::tx::MAX_TX_BYTES`].
    Oversized = 3,
    /// The payload names another chain.
    WrongChain = 4,
    /// The creator's or an endorser's signature does not verify.
    BadSignature = 5,
    /// The endorsement policy of the transaction type is not satisfied.
    EndorsementPolicyFailure = 6,
    /// The creator, or an identity the transaction names, is not registered.
    UnknownIdentity = 7,
    /// The identity is already registered.
    AlreadyRegistered = 8,
    /// The organisation is not in the genesis configuration.
    UnknownOrganisation = 9,
    /// The creator does not belong to the organisation that owns the asset.
    NotOwner = 10,
    /// The version does not increase the asset's latest version.
    VersionConflict = 11,
    /// No such asset.
    UnknownAsset = 12,
    /// A transaction with this id is already in the log.
    DuplicateTxId = 13,
    /// A field's value is out of range (empty name, bad asset id, …).
    InvalidArgument = 14,
    /// The creator's identity has been revoked.
    RevokedIdentity = 15,
    /// An access-event anchor does not extend the previous anchor, or a
    /// channel or status-list anchor does not state the chaincode's own head.
    InconsistentAnchor = 16,
    /// No such certificate.
    UnknownCertificate = 30,
    /// The certificate is revoked.
    RevokedCertificate = 31,
    /// The creator is not an issuing agency, or not the certificate's issuer.
    NotIssuer = 32,
    /// The identity has no verifier account.
    UnknownAccount = 40,
    /// The identity already has a verifier account.
    AccountExists = 41,
    /// The creator's role and organisation may not create this transaction
    /// type, or may not act on the object it names.
    NotAuthorised = 50,
    /// No such service, or no such version of it.
    UnknownService = 60,
    /// No such case.
    UnknownCase = 61,
    /// The person already has an open case for this service.
    DuplicateApplication = 62,
    /// The case is not in a state that allows the action, or the action
    /// comes out of the order the service defines.
    CaseStateConflict = 63,
}

impl ValidationCode {
    /// The name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationCode::Valid => "valid",
            ValidationCode::Malformed => "malformed",
            ValidationCode::Oversized => "oversized",
            ValidationCode::WrongChain => "wrong_chain",
            ValidationCode::BadSignature => "bad_signature",
            ValidationCode::EndorsementPolicyFailure => "endorsement_policy_failure",
            ValidationCode::UnknownIdentity => "unknown_identity",
            ValidationCode::AlreadyRegistered => "already_registered",
            ValidationCode::UnknownOrganisation => "unknown_organisation",
            ValidationCode::NotOwner => "not_owner",
            ValidationCode::VersionConflict => "version_conflict",
            ValidationCode::UnknownAsset => "unknown_asset",
            ValidationCode::DuplicateTxId => "duplicate_tx_id",
            ValidationCode::InvalidArgument => "invalid_argument",
            ValidationCode::RevokedIdentity => "revoked_identity",
            ValidationCode::InconsistentAnchor => "inconsistent_anchor",
            ValidationCode::UnknownCertificate => "unknown_certificate",
            ValidationCode::RevokedCertificate => "revoked_certificate",
            ValidationCode::NotIssuer => "not_issuer",
            ValidationCode::UnknownAccount => "unknown_account",
            ValidationCode::AccountExists => "account_exists",
            ValidationCode::NotAuthorised => "not_authorised",
            ValidationCode::UnknownService => "unknown_service",
            ValidationCode::UnknownCase => "unknown_case",
            ValidationCode::DuplicateApplication => "duplicate_application",
            ValidationCode::CaseStateConflict => "case_state_conflict",
        }
    }

    /// The code's number, as in the protobuf enum `cairn.v1.ValidationCode`.
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The code with this number.
    pub fn from_number(number: u16) -> Option<ValidationCode> {
        use ValidationCode::*;
        [
            Valid,
            Malformed,
            Oversized,
            WrongChain,
            BadSignature,
            EndorsementPolicyFailure,
            UnknownIdentity,
            AlreadyRegistered,
            UnknownOrganisation,
            NotOwner,
            VersionConflict,
            UnknownAsset,
            DuplicateTxId,
            InvalidArgument,
            RevokedIdentity,
            InconsistentAnchor,
            UnknownCertificate,
            RevokedCertificate,
            NotIssuer,
            UnknownAccount,
            AccountExists,
            NotAuthorised,
            UnknownService,
            UnknownCase,
            DuplicateApplication,
            CaseStateConflict,
        ]
        .into_iter()
        .find(|code| code.number() == number)
    }
}

impl fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
