//! Who may do what: the casbin role policy combined with the on-chain facts.
//!
//! A request is decided in three steps, and the first that fails decides:
//!
//! 1. The role policy, evaluated by [casbin](https://casbin.org/), must allow
//!    `(role, organisation, object, action)`. The object is the kind of
//!    resource: `asset` for [`Resource::Asset`], the named kind for
//!    [`Resource::Other`].
//! 2. For [`Action::RequestData`] on an asset, the caller's identity must be
//!    on the asset's authorised list (the sharing rules on the ledger).
//! 3. For [`Action::Publish`] and [`Action::SetSharingRules`] on an existing
//!    asset, the caller's organisation must own the asset.
//!
//! # Model
//!
//! The casbin model ([`BUILTIN_MODEL`], kept in `access-control/policy/model.conf`)
//! treats organisations as domains:
//!
//! ```text
//! r = role, org, obj, act
//! p = role, org, obj, act, eft
//! e = some(where (p.eft == allow)) && !some(where (p.eft == deny))
//! m = r.role == p.role && (p.org == "*" || r.org == p.org) && r.obj == p.obj && r.act == p.act
//! ```
//!
//! A policy line names one organisation or `*` for all of them, and a `deny`
//! line overrides every `allow` line that matches the same request. A custom
//! model may change the matcher, but it must keep these request and policy
//! fields and this effect: [`RolePolicy`] refuses any other shape, because
//! casbin 2.20 panics at evaluation time on an effect it does not know.
//!
//! # Default policy
//!
//! The default policy ([`BUILTIN_POLICY`], kept in
//! `access-control/policy/policy.csv`, where every line is documented) is:
//!
//! | role | object | actions |
//! | --- | --- | --- |
//! | `provider` | `asset` | `publish`, `set_sharing_rules`, `request_data` |
//! | `provider` | `directory` | `read_directory` |
//! | `consumer` | `asset` | `request_data` |
//! | `consumer` | `directory` | `read_directory` |
//! | `verifier` | `certificate`, `asset` | `verify` |
//! | `verifier` | `bill` | `read_bills` (the billing service shows only the verifier's own bills) |
//! | `issuer` | `certificate` | `issue_certificate` |
//! | `certification_authority` | `identity` | `register_identity`, `revoke_identity` |
//! | `auditor` | `audit` | `read_audit` |
//! | `auditor` | `bill` | `read_bills` |
//! | `public` | `certificate` | `verify` |
//!
//! Every line applies to every organisation (`*`) and allows; nothing is
//! allowed on the `ledger` object by default.
//!
//! # Policy files
//!
//! Casbin's CSV reader skips blank lines and lines whose first non-blank
//! character is `#`, so whole-line comments are allowed; a `#` after a rule
//! is not a comment. [`RolePolicy`] checks every line before casbin sees it
//! and refuses, naming the line: other rule types than `p`, a wrong number of
//! fields, empty fields, quotes, unknown roles, objects or actions, effects
//! other than `allow` and `deny`, repeated lines, and a policy without rules.

use std::fmt;
use std::str::FromStr;

use anchor_chaincode::{Address, Role};

use crate::Error;

mod enforcer;
#[cfg(test)]
mod tests;
mod validate;

pub use enforcer::RolePolicy;

/// The built-in casbin model (`access-control/policy/model.conf`).
pub const BUILTIN_MODEL: &str = include_str!("../policy/model.conf");

/// The built-in default policy (`access-control/policy/policy.csv`).
pub const BUILTIN_POLICY: &str = include_str!("../policy/policy.csv");

/// Every kind of object a policy line may name.
pub const OBJECTS: [&str; 8] =
    ["asset", "identity", "certificate", "audit", "bill", "directory", "ledger", "account"];

/// The only effect the decision logic understands, as casbin stores it
/// (with `p.eft` rewritten to `p_eft`).
const EFFECT: &str = "some(where (p_eft == allow)) && !some(where (p_eft == deny))";

/// Something a caller wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Publish an asset or a new version of one.
    Publish,
    /// Change who may read an asset.
    SetSharingRules,
    /// Read an asset's data.
    RequestData,
    /// Verify a certificate or a data hash.
    Verify,
    /// Issue a certificate.
    IssueCertificate,
    /// Register an identity.
    RegisterIdentity,
    /// Revoke an identity.
    RevokeIdentity,
    /// Read the audit log.
    ReadAudit,
    /// Read bills.
    ReadBills,
    /// Read the directory of published assets.
    ReadDirectory,
    /// Anchor access-event logs and certificate channels on the ledger.
    Anchor,
    /// Open, top up and re-plan verifier accounts.
    ManageAccounts,
}

impl Action {
    /// Every action, in a fixed order.
    pub const ALL: [Action; 12] = [
        Action::Publish,
        Action::SetSharingRules,
        Action::RequestData,
        Action::Verify,
        Action::IssueCertificate,
        Action::RegisterIdentity,
        Action::RevokeIdentity,
        Action::ReadAudit,
        Action::ReadBills,
        Action::ReadDirectory,
        Action::Anchor,
        Action::ManageAccounts,
    ];

    /// The name used in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::SetSharingRules => "set_sharing_rules",
            Action::RequestData => "request_data",
            Action::Verify => "verify",
            Action::IssueCertificate => "issue_certificate",
            Action::RegisterIdentity => "register_identity",
            Action::RevokeIdentity => "revoke_identity",
            Action::ReadAudit => "read_audit",
            Action::ReadBills => "read_bills",
            Action::ReadDirectory => "read_directory",
            Action::Anchor => "anchor",
            Action::ManageAccounts => "manage_accounts",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == text)
            .ok_or_else(|| Error::UnknownAction { name: text.to_owned() })
    }
}

/// What a request acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource<'a> {
    /// An asset on the ledger, with the facts the decision needs.
    Asset {
        /// The asset's id.
        asset_id: &'a str,
        /// The organisation that owns it.
        owner_organisation: &'a str,
        /// The identities allowed to read it.
        authorised: &'a [Address],
    },
    /// A hub-level resource that is not an asset: "identity", "certificate",
    /// "audit", "bill", "directory", "ledger".
    ///
    /// `Other("asset")` stands for an asset that does not exist yet, so it
    /// only makes sense with [`Action::Publish`] (the first version);
    /// [`Action::RequestData`] and [`Action::SetSharingRules`] on it are
    /// always denied, because they need the facts of [`Resource::Asset`].
    Other(&'a str),
}

impl<'a> Resource<'a> {
    /// The object the role policy is asked about.
    pub fn object(&self) -> &'a str {
        match self {
            Resource::Asset { .. } => "asset",
            Resource::Other(kind) => kind,
        }
    }
}

/// One access question: may this identity, acting in this role for this
/// organisation, perform this action on this resource?
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessRequest<'a> {
    /// The caller's address.
    pub identity: Address,
    /// The caller's organisation, as registered on the ledger.
    pub organisation: &'a str,
    /// The caller's role, as registered on the ledger.
    pub role: Role,
    /// What the caller wants to do.
    pub action: Action,
    /// What the caller wants to do it to.
    pub resource: Resource<'a>,
}

/// The answer to an [`AccessRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Which condition decided, in words.
    pub reason: String,
    /// The policy line casbin matched, for example
    /// `p, consumer, *, asset, request_data, allow`: the allowing line when
    /// the role policy allowed (even if an on-chain check then denied), the
    /// denying line when a deny line decided, and `None` when no line matched.
    pub rule: Option<String>,
}

impl Decision {
    fn deny(reason: String, rule: Option<String>) -> Decision {
        Decision { allowed: false, reason, rule }
    }
}
