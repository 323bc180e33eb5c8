//! Role-bound authority: which roles of which organisations may create, and
//! must endorse, each transaction type.
//!
//! Authority is ledger data. The genesis configuration may state a [`Rule`]
//! for any transaction type; the types it leaves out get the rule of
//! [`ceiling`]. A configured rule may only narrow the ceiling: its creators
//! must each lie within one of the ceiling's creators, and its endorsers must
//! include every endorser the ceiling requires. So whatever a consortium
//! writes in its genesis, no role ever exceeds these powers:
//!
//! | transaction type | may create | must endorse |
//! | --- | --- | --- |
//! | `register_identity` | the new identity itself | the certification authority role of the CA organisation |
//! | `revoke_identity` | the certification authority role of the CA organisation | — |
//! | `publish_asset`, `set_sharing_rules` | the `provider` role of the owning organisation (for a new asset id: of the creator's own) | — |
//! | `issue_certificate`, `renew_certificate`, `revoke_certificate` | the `issuer` role of an organisation listed for the certificate type (renew and revoke: the certificate's issuing organisation) | — |
//! | `anchor_access_events`, `anchor_channels` | the `node` role of any department | — |
//! | `open_account`, `top_up`, `change_plan` | the `operator` role of the operator's organisation | — |
//! | `define_service` | the `provider` role of the service's owning organisation, with that organisation's key endorsing | — |
//! | `case_action` | a `public` identity of the holders' organisation (apply, supply, withdraw, appeal, only on its own case) or a `reviewer` of a department (checks, steps, decisions, payments, only where the case's service names its organisation and reviewer role) | — |
//! | `change_consortium` | any role but `public` and `verifier`, of any member organisation | the current keys of the change policy's number of member organisations (by default a strict majority; see [`crate::consortium`]) |
//!
//! A `node` registration must also be endorsed by the node's own
//! organisation: its current organisation key, or a registered identity of
//! that organisation whose role the `register_identity` rule names for
//! [`OrgRef::Owner`] (which, for a registration, stands for the organisation
//! the identity joins).
//!
//! `public` and `verifier` never create nor endorse anything but their own
//! registration. An endorsement counts for a principal when its key is a
//! registered, unrevoked identity of the principal's organisation and role,
//! or when it is the genesis key of the certification authority's
//! organisation (acting as `certification_authority`) or of the operator's
//! organisation (acting as `operator`). The creator's own organisation is
//! never counted as an endorser.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::tx::TxBody;
use crate::types::Role;

/// The most endorsements one transaction may carry.
pub const MAX_ENDORSEMENTS: usize = 16;

/// Every transaction type, as named in the genesis configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxType {
    /// `RegisterIdentity`.
    RegisterIdentity,
    /// `RevokeIdentity`.
    RevokeIdentity,
    /// `PublishAsset`.
    PublishAsset,
    /// `SetSharingRules`.
    SetSharingRules,
    /// `AnchorAccessEvents`.
    AnchorAccessEvents,
    /// `IssueCertificate`.
    IssueCertificate,
    /// `RenewCertificate`.
    RenewCertificate,
    /// `RevokeCertificate`.
    RevokeCertificate,
    /// `AnchorChannels`.
    AnchorChannels,
    /// `OpenAccount`.
    OpenAccount,
    /// `TopUp`.
    TopUp,
    /// `ChangePlan`.
    ChangePlan,
    /// `ChangeConsortium`.
    ChangeConsortium,
    /// `DefineService`.
    DefineService,
    /// `CaseAction`.
    CaseAction,
}

impl TxType {
    /// Every transaction type, in a fixed order.
    pub const ALL: [TxType; 15] = [
        TxType::RegisterIdentity,
        TxType::RevokeIdentity,
        TxType::PublishAsset,
        TxType::SetSharingRules,
        TxType::AnchorAccessEvents,
        TxType::IssueCertificate,
        TxType::RenewCertificate,
        TxType::RevokeCertificate,
        TxType::AnchorChannels,
        TxType::OpenAccount,
        TxType::TopUp,
        TxType::ChangePlan,
        TxType::ChangeConsortium,
        TxType::DefineService,
        TxType::CaseAction,
    ];

    /// The type of a transaction body.
    pub fn of(body: &TxBody) -> TxType {
        match body {
            TxBody::RegisterIdentity(_) => TxType::RegisterIdentity,
            TxBody::PublishAsset(_) => TxType::PublishAsset,
            TxBody::SetSharingRules(_) => TxType::SetSharingRules,
            TxBody::RevokeIdentity(_) => TxType::RevokeIdentity,
            TxBody::AnchorAccessEvents(_) => TxType::AnchorAccessEvents,
            TxBody::IssueCertificate(_) => TxType::IssueCertificate,
            TxBody::RenewCertificate(_) => TxType::RenewCertificate,
            TxBody::RevokeCertificate(_) => TxType::RevokeCertificate,
            TxBody::AnchorChannels(_) => TxType::AnchorChannels,
            TxBody::OpenAccount(_) => TxType::OpenAccount,
            TxBody::TopUp(_) => TxType::TopUp,
            TxBody::ChangePlan(_) => TxType::ChangePlan,
            TxBody::ChangeConsortium(_) => TxType::ChangeConsortium,
            TxBody::DefineService(_) => TxType::DefineService,
            TxBody::CaseAction(_) => TxType::CaseAction,
        }
    }

    /// The name used in configuration, JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            TxType::RegisterIdentity => "register_identity",
            TxType::RevokeIdentity => "revoke_identity",
            TxType::PublishAsset => "publish_asset",
            TxType::SetSharingRules => "set_sharing_rules",
            TxType::AnchorAccessEvents => "anchor_access_events",
            TxType::IssueCertificate => "issue_certificate",
            TxType::RenewCertificate => "renew_certificate",
            TxType::RevokeCertificate => "revoke_certificate",
            TxType::AnchorChannels => "anchor_channels",
            TxType::OpenAccount => "open_account",
            TxType::TopUp => "top_up",
            TxType::ChangePlan => "change_plan",
            TxType::ChangeConsortium => "change_consortium",
            TxType::DefineService => "define_service",
            TxType::CaseAction => "case_action",
        }
    }
}

impl fmt::Display for TxType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which organisation a principal acts for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRef {
    /// The certification authority's organisation.
    CertificationAuthority,
    /// The hub operator's organisation.
    Operator,
    /// The organisation that owns the asset the transaction acts on; for a
    /// new asset id, the creator's own organisation. For certificates, the
    /// issuing organisation the certificate type allows.
    Owner,
    /// Any organisation of the consortium (never the holders').
    AnyDepartment,
    /// One named organisation.
    Named(String),
    /// The holders' organisation (citizens).
    Holders,
}

impl fmt::Display for OrgRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrgRef::CertificationAuthority => {
                f.write_str("the certification authority's organisation")
            }
            OrgRef::Operator => f.write_str("the operator's organisation"),
            OrgRef::Owner => f.write_str("the owning organisation"),
            OrgRef::AnyDepartment => f.write_str("any department"),
            OrgRef::Named(name) => write!(f, "organisation {name:?}"),
            OrgRef::Holders => f.write_str("the holders' organisation"),
        }
    }
}

/// A role of an organisation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// The organisation.
    pub organisation: OrgRef,
    /// The role.
    pub role: Role,
}

impl Principal {
    fn new(organisation: OrgRef, role: Role) -> Principal {
        Principal { organisation, role }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "role {} of {}", self.role, self.organisation)
    }
}

/// Who may create a transaction type and who must endorse it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The creator must be one of these; empty for `register_identity`,
    /// whose creator is the new identity itself.
    #[serde(default)]
    pub create: Vec<Principal>,
    /// Every one of these must endorse (each by some endorsement).
    #[serde(default)]
    pub endorse: Vec<Principal>,
}

/// The organisations a rule is resolved against.
#[derive(Clone, Copy, Debug)]
pub struct Orgs<'a> {
    /// The certification authority's organisation.
    pub certification_authority: &'a str,
    /// The operator's organisation.
    pub operator: &'a str,
    /// The holders' organisation.
    pub holders: &'a str,
    /// The organisation that [`OrgRef::Owner`] stands for, if the
    /// transaction names one.
    pub owner: Option<&'a str>,
}

impl OrgRef {
    /// Whether `organisation` is this reference under `orgs`.
    pub fn matches(&self, organisation: &str, orgs: &Orgs<'_>) -> bool {
        match self {
            OrgRef::CertificationAuthority => organisation == orgs.certification_authority,
            OrgRef::Operator => organisation == orgs.operator,
            OrgRef::Owner => orgs.owner == Some(organisation),
            OrgRef::AnyDepartment => organisation != orgs.holders,
            OrgRef::Named(name) => organisation == name,
            OrgRef::Holders => organisation == orgs.holders,
        }
    }

    /// Whether every organisation this reference can stand for is one that
    /// `outer` stands for.
    fn within(&self, outer: &OrgRef, orgs: &Orgs<'_>) -> bool {
        match (self, outer) {
            (a, b) if a == b => true,
            (OrgRef::Named(name), outer) => outer.matches(name, orgs),
            (
                OrgRef::CertificationAuthority | OrgRef::Operator | OrgRef::Owner,
                OrgRef::AnyDepartment,
            ) => true,
            _ => false,
        }
    }
}

impl Principal {
    fn within(&self, outer: &Principal, orgs: &Orgs<'_>) -> bool {
        self.role == outer.role && self.organisation.within(&outer.organisation, orgs)
    }

    /// Whether an identity of `organisation` with `role` is this principal.
    pub fn admits(&self, organisation: &str, role: Role, orgs: &Orgs<'_>) -> bool {
        self.role == role && self.organisation.matches(organisation, orgs)
    }
}

/// The most a transaction type may ever allow: the default rule, and the
/// bound every configured rule is checked against.
pub fn ceiling(tx_type: TxType) -> Rule {
    use OrgRef::*;
    let create = |organisation, role| vec![Principal::new(organisation, role)];
    match tx_type {
        TxType::RegisterIdentity => Rule {
            create: Vec::new(),
            endorse: vec![Principal::new(CertificationAuthority, Role::CertificationAuthority)],
        },
        TxType::RevokeIdentity => Rule {
            create: create(CertificationAuthority, Role::CertificationAuthority),
            endorse: Vec::new(),
        },
        TxType::PublishAsset | TxType::SetSharingRules => {
            Rule { create: create(Owner, Role::Provider), endorse: Vec::new() }
        }
        TxType::IssueCertificate | TxType::RenewCertificate | TxType::RevokeCertificate => {
            Rule { create: create(Owner, Role::Issuer), endorse: Vec::new() }
        }
        TxType::AnchorAccessEvents | TxType::AnchorChannels => {
            Rule { create: create(AnyDepartment, Role::Node), endorse: Vec::new() }
        }
        TxType::OpenAccount | TxType::TopUp | TxType::ChangePlan => {
            Rule { create: create(Operator, Role::Operator), endorse: Vec::new() }
        }
        // Creating a change grants nothing: the organisations' endorsements,
        // counted by `consortium::check_change`, decide.
        // The service's owning organisation, whose key must also endorse
        // (checked with the definition, see `ledger::cases`).
        TxType::DefineService => {
            Rule { create: create(Owner, Role::Provider), endorse: Vec::new() }
        }
        // Applicants act on their own cases, reviewers on the steps a
        // service names for them; `ledger::cases` checks each action
        // against the case's definition and state.
        TxType::CaseAction => Rule {
            create: vec![
                Principal::new(Holders, Role::Public),
                Principal::new(AnyDepartment, Role::Reviewer),
            ],
            endorse: Vec::new(),
        },
        TxType::ChangeConsortium => Rule {
            create: Role::ALL
                .into_iter()
                .filter(|role| !matches!(role, Role::Public | Role::Verifier))
                .map(|role| Principal::new(AnyDepartment, role))
                .collect(),
            endorse: Vec::new(),
        },
    }
}

impl std::str::FromStr for TxType {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        TxType::ALL.into_iter().find(|t| t.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = TxType::ALL.iter().map(|t| t.as_str()).collect();
            Error::Parse {
                reason: format!(
                    "unknown transaction type {text:?}; expected one of {}",
                    names.join(", ")
                ),
            }
        })
    }
}

/// Checks a configured rule against the ceiling of its type.
pub fn check_rule(tx_type: TxType, rule: &Rule, orgs: &Orgs<'_>) -> Result<(), Error> {
    check_rule_reason(tx_type, rule, orgs).map_err(|reason| Error::Authority { reason })
}

fn check_rule_reason(tx_type: TxType, rule: &Rule, orgs: &Orgs<'_>) -> Result<(), String> {
    let ceiling = ceiling(tx_type);
    if tx_type == TxType::RegisterIdentity && !rule.create.is_empty() {
        return Err(format!(
            "{tx_type}: the creator of a registration is the new identity itself; `create` must be empty"
        ));
    }
    if tx_type != TxType::RegisterIdentity && rule.create.is_empty() {
        return Err(format!("{tx_type}: `create` names no principal, so nobody could create it"));
    }
    for principal in &rule.create {
        if !ceiling.create.iter().any(|outer| principal.within(outer, orgs)) {
            let allowed: Vec<String> = ceiling.create.iter().map(ToString::to_string).collect();
            return Err(format!(
                "{tx_type}: creator {principal} exceeds what the type allows ({})",
                allowed.join(", ")
            ));
        }
    }
    if rule.endorse.len() > MAX_ENDORSEMENTS {
        return Err(format!(
            "{tx_type}: {} endorsers required, more than a transaction may carry ({MAX_ENDORSEMENTS})",
            rule.endorse.len()
        ));
    }
    for principal in &rule.endorse {
        if matches!(principal.role, Role::Public | Role::Verifier) {
            return Err(format!(
                "{tx_type}: endorser {principal}: the roles public and verifier never endorse"
            ));
        }
    }
    for required in &ceiling.endorse {
        if !rule.endorse.iter().any(|principal| principal.within(required, orgs)) {
            return Err(format!("{tx_type}: the endorsers must include {required}"));
        }
    }
    Ok(())
}

/// The role a genesis organisation key acts in, if any.
pub fn genesis_key_acts_as(organisation: &str, role: Role, orgs: &Orgs<'_>) -> bool {
    (role == Role::CertificationAuthority && organisation == orgs.certification_authority)
        || (role == Role::Operator && organisation == orgs.operator)
}

/// Which roles of which organisations an identity may be registered with.
pub fn check_registration(organisation: &str, role: Role, orgs: &Orgs<'_>) -> Result<(), Error> {
    check_registration_reason(organisation, role, orgs)
        .map_err(|reason| Error::Authority { reason })
}

fn check_registration_reason(
    organisation: &str,
    role: Role,
    orgs: &Orgs<'_>,
) -> Result<(), String> {
    let holders = organisation == orgs.holders;
    match role {
        Role::Public if !holders => Err(format!(
            "role public is for citizens, registered only in the holders' organisation {:?}, not in {organisation:?}",
            orgs.holders
        )),
        Role::Public => Ok(()),
        _ if holders => Err(format!(
            "the holders' organisation {organisation:?} has only the role public, not {role}"
        )),
        Role::CertificationAuthority if organisation != orgs.certification_authority => {
            Err(format!(
                "role certification_authority belongs only to the certification authority's organisation {:?}, not {organisation:?}",
                orgs.certification_authority
            ))
        }
        Role::Operator if organisation != orgs.operator => Err(format!(
            "role operator belongs only to the operator's organisation {:?}, not {organisation:?}",
            orgs.operator
        )),
        Role::Node if organisation == orgs.certification_authority => Err(format!(
            "a node's key never belongs to the certification authority's organisation {organisation:?}"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORGS: Orgs<'static> =
        Orgs { certification_authority: "ca", operator: "ops", holders: "holders", owner: None };

    #[test]
    fn ceilings_are_valid_rules() {
        for tx_type in TxType::ALL {
            check_rule(tx_type, &ceiling(tx_type), &ORGS).unwrap();
        }
    }

    #[test]
    fn a_rule_may_narrow_but_never_widen() {
        let narrowed = Rule {
            create: vec![Principal::new(OrgRef::Named("ca".into()), Role::CertificationAuthority)],
            endorse: vec![Principal::new(OrgRef::Named("dept".into()), Role::Auditor)],
        };
        check_rule(TxType::RevokeIdentity, &narrowed, &ORGS).unwrap();
        let widened = Rule {
            create: vec![Principal::new(OrgRef::AnyDepartment, Role::CertificationAuthority)],
            endorse: Vec::new(),
        };
        let err = check_rule(TxType::RevokeIdentity, &widened, &ORGS).unwrap_err();
        assert!(err.to_string().contains("exceeds what the type allows"), "{err}");
        let other_role = Rule {
            create: vec![Principal::new(OrgRef::Operator, Role::CertificationAuthority)],
            endorse: Vec::new(),
        };
        assert!(check_rule(TxType::TopUp, &other_role, &ORGS).is_err());
        let public_endorser = Rule {
            create: Vec::new(),
            endorse: vec![
                Principal::new(OrgRef::CertificationAuthority, Role::CertificationAuthority),
                Principal::new(OrgRef::AnyDepartment, Role::Public),
            ],
        };
        let err = check_rule(TxType::RegisterIdentity, &public_endorser, &ORGS).unwrap_err();
        assert!(err.to_string().contains("never endorse"), "{err}");
        let without_ca = Rule {
            create: Vec::new(),
            endorse: vec![Principal::new(OrgRef::AnyDepartment, Role::Provider)],
        };
        let err = check_rule(TxType::RegisterIdentity, &without_ca, &ORGS).unwrap_err();
        assert!(err.to_string().contains("must include role certification_authority"), "{err}");
    }

    #[test]
    fn registrations_keep_roles_in_their_organisations() {
        check_registration("holders", Role::Public, &ORGS).unwrap();
        check_registration("ca", Role::CertificationAuthority, &ORGS).unwrap();
        check_registration("ops", Role::Operator, &ORGS).unwrap();
        check_registration("dept", Role::Node, &ORGS).unwrap();
        for (organisation, role) in [
            ("ca", Role::Public),
            ("holders", Role::Consumer),
            ("dept", Role::CertificationAuthority),
            ("ca", Role::Operator),
            ("ca", Role::Node),
        ] {
            assert!(
                check_registration(organisation, role, &ORGS).is_err(),
                "{organisation} {role}"
            );
        }
    }
}
