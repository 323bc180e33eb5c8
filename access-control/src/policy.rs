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

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, PoisonError, RwLock};

use anchor_chaincode::{Address, Role};
use casbin::{CoreApi, MgmtApi, Model};

use crate::{Error, Result};

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
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Action::ALL.into_iter().find(|action| action.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
            format!("unknown action {text:?}; expected one of {}", names.join(", "))
        })
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

/// A casbin logger that drops everything: requests name identities and
/// organisations, which belong in Cairn's own structured logs, if anywhere.
struct SilentLogger;

impl casbin::Logger for SilentLogger {
    fn enable_log(&mut self, _enabled: bool) {}

    fn is_enabled(&self) -> bool {
        false
    }

    fn print_enforce_log(&self, _rvals: Vec<String>, _authorized: bool, _cached: bool) {}

    fn print_mgmt_log(&self, _d: &casbin::EventData) {}

    fn print_explain_log(&self, _rules: Vec<String>) {}

    fn print_status_log(&self, _enabled: bool) {}
}

/// The role policy: a casbin enforcer over the model and policy lines.
///
/// The constructors are `async` because casbin's are; they do no
/// asynchronous work (files are read with blocking I/O), so their futures
/// complete on the first poll and need no particular runtime. Deciding is
/// synchronous and takes `&self`, so one policy can be shared by every
/// request handler.
pub struct RolePolicy {
    enforcer: casbin::Enforcer,
    rules: usize,
    /// Casbin's answers by (role, organisation, object, action). The policy
    /// never changes after loading, so a remembered answer is exact; casbin's
    /// matcher is an interpreted expression and costs more than a lookup.
    memo: RwLock<BTreeMap<MemoKey, Arc<CasbinAnswer>>>,
}

/// (role, organisation, object, action).
type MemoKey = (Role, String, String, Action);
/// Whether casbin allowed, and the rules it matched.
type CasbinAnswer = (bool, Vec<Vec<String>>);

/// Most remembered role-policy answers; past this, answers are computed each time.
const MEMO_CAPACITY: usize = 100_000;

impl fmt::Debug for RolePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RolePolicy").field("rules", &self.rules).finish_non_exhaustive()
    }
}

impl RolePolicy {
    /// The built-in model and default policy.
    pub async fn builtin() -> Result<RolePolicy> {
        RolePolicy::build(BUILTIN_MODEL, "built-in", BUILTIN_POLICY, "built-in").await
    }

    /// A model and a policy given as text.
    pub async fn from_texts(model: &str, policy: &str) -> Result<RolePolicy> {
        RolePolicy::build(model, "given as text", policy, "given as text").await
    }

    /// A model and a policy read from files. The files are small and read
    /// with blocking I/O; errors name the file.
    pub async fn load(model_path: &Path, policy_path: &Path) -> Result<RolePolicy> {
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .map_err(|source| Error::PolicyFile { path: path.to_path_buf(), source })
        };
        let model = read(model_path)?;
        let policy = read(policy_path)?;
        RolePolicy::build(
            &model,
            &format!("file {}", model_path.display()),
            &policy,
            &format!("file {}", policy_path.display()),
        )
        .await
    }

    async fn build(
        model_text: &str,
        model_origin: &str,
        policy_text: &str,
        policy_origin: &str,
    ) -> Result<RolePolicy> {
        let bad_model =
            |reason: String| Error::BadPolicyModel { origin: model_origin.to_owned(), reason };
        let bad_policy =
            |reason: String| Error::BadPolicy { origin: policy_origin.to_owned(), reason };

        let rules = parse_policy(policy_text).map_err(bad_policy)?;
        let model = casbin::DefaultModel::from_str(model_text)
            .await
            .map_err(|e| bad_model(casbin_message(&e)))?;
        check_model(&model).map_err(bad_model)?;
        let adapter = casbin::StringAdapter::new(policy_text);
        let mut enforcer = casbin::Enforcer::new(model, adapter)
            .await
            .map_err(|e| bad_model(casbin_message(&e)))?;
        enforcer.set_logger(Box::new(SilentLogger));

        // Casbin has its own CSV reader; make sure it read what was checked.
        if enforcer.get_policy() != rules {
            return Err(bad_policy(format!(
                "casbin read {} rules where Cairn's check read {}; \
                 write plain lines of the form `p, role, organisation, object, action, allow`",
                enforcer.get_policy().len(),
                rules.len()
            )));
        }
        // Evaluate the matcher once, so that a matcher that cannot be
        // evaluated is refused now rather than denying every request later.
        enforcer.enforce_ex(("public", "cairn-probe", "certificate", "verify")).map_err(|e| {
            bad_model(format!("the matcher cannot be evaluated: {}", casbin_message(&e)))
        })?;
        Ok(RolePolicy { enforcer, rules: rules.len(), memo: RwLock::new(BTreeMap::new()) })
    }

    /// The number of policy lines.
    pub fn rules(&self) -> usize {
        self.rules
    }

    /// Decides a request; see the [module documentation](self) for the
    /// three conditions. Never panics: a casbin error denies the request
    /// with the error as the reason.
    pub fn decide(&self, request: &AccessRequest<'_>) -> Decision {
        let key = (
            request.role,
            request.organisation.to_owned(),
            request.resource.object().to_owned(),
            request.action,
        );
        let remembered =
            self.memo.read().unwrap_or_else(PoisonError::into_inner).get(&key).cloned();
        let outcome = match remembered {
            Some(answer) => Ok(answer),
            None => {
                let outcome = self.enforcer.enforce_ex((
                    request.role.as_str(),
                    request.organisation,
                    request.resource.object(),
                    request.action.as_str(),
                ));
                outcome.map(|answer| {
                    let answer = Arc::new(answer);
                    let mut memo = self.memo.write().unwrap_or_else(PoisonError::into_inner);
                    if memo.len() < MEMO_CAPACITY {
                        let _ = memo.insert(key, answer.clone());
                    }
                    answer
                })
            }
        };
        decide_with(request, outcome.as_deref())
    }
}

/// The decision for a request, given casbin's answer for its role policy.
fn decide_with(
    request: &AccessRequest<'_>,
    outcome: Result<&CasbinAnswer, &casbin::Error>,
) -> Decision {
    let role = request.role;
    let organisation = request.organisation;
    let action = request.action;
    let object = request.resource.object();

    // Condition 1: the role policy.
    let matched = match outcome {
        Err(e) => {
            return Decision::deny(
                format!(
                    "the role policy could not be evaluated for role {role} in organisation \
                     {organisation} ({action} {object}): {}",
                    casbin_message(e)
                ),
                None,
            );
        }
        Ok((false, matched)) => {
            return match matched.iter().find(|rule| rule.last().is_some_and(|e| e == "deny")) {
                Some(rule) => {
                    let rule = format_rule(rule);
                    Decision::deny(format!("denied by rule {rule}"), Some(rule))
                }
                None => Decision::deny(
                    format!(
                        "role {role} in organisation {organisation} may not {action} {object}: \
                         no rule allows it"
                    ),
                    None,
                ),
            };
        }
        Ok((true, matched)) => matched,
    };
    let rule = matched.iter().find(|rule| rule.last().is_some_and(|e| e == "allow"));
    let rule = rule.map(|rule| format_rule(rule));
    let by_rule = match &rule {
        Some(rule) => format!("allowed by rule {rule}"),
        None => "allowed by the role policy".to_owned(),
    };

    match request.resource {
        Resource::Asset { asset_id, owner_organisation, authorised } => match action {
            // Condition 2: the authorised list.
            Action::RequestData => {
                let identity = request.identity;
                if authorised.contains(&identity) {
                    Decision {
                        allowed: true,
                        reason: format!(
                            "{by_rule} and {identity} is on the authorised list of {asset_id}"
                        ),
                        rule,
                    }
                } else {
                    Decision::deny(
                        format!("{identity} is not on the authorised list of {asset_id}"),
                        rule,
                    )
                }
            }
            // Condition 3: ownership.
            Action::Publish | Action::SetSharingRules => {
                if organisation == owner_organisation {
                    Decision {
                        allowed: true,
                        reason: format!(
                            "{by_rule} and organisation {organisation} owns {asset_id}"
                        ),
                        rule,
                    }
                } else {
                    Decision::deny(
                        format!(
                            "organisation {organisation} does not own {asset_id} \
                             (owner {owner_organisation})"
                        ),
                        rule,
                    )
                }
            }
            _ => Decision { allowed: true, reason: by_rule, rule },
        },
        Resource::Other("asset")
            if matches!(action, Action::RequestData | Action::SetSharingRules) =>
        {
            Decision::deny(
                format!(
                    "{action} on an asset needs the asset's owner and authorised list, \
                     which the request does not carry; only publish may name an asset that \
                     does not exist yet"
                ),
                rule,
            )
        }
        Resource::Other(_) => Decision { allowed: true, reason: by_rule, rule },
    }
}

/// A policy rule as its CSV line.
fn format_rule(fields: &[String]) -> String {
    format!("p, {}", fields.join(", "))
}

/// Casbin's errors print their inner errors with `Debug`; this prints the
/// inner error with `Display` where there is one.
fn casbin_message(error: &casbin::Error) -> String {
    use casbin::Error as E;
    match error {
        E::IoError(e) => e.to_string(),
        E::ModelError(e) => e.to_string(),
        E::PolicyError(e) => e.to_string(),
        E::RbacError(e) => e.to_string(),
        E::RhaiError(e) => e.to_string(),
        E::RhaiParseError(e) => e.to_string(),
        E::RequestError(e) => e.to_string(),
        E::AdapterError(e) => e.0.to_string(),
    }
}

/// Checks that a model has the request, policy, effect and matcher
/// definitions that [`decide_with`] relies on.
fn check_model(model: &casbin::DefaultModel) -> Result<(), String> {
    let sections = model.get_model();
    let assertion = |section: &str, header: &str| {
        sections
            .get(section)
            .and_then(|map| map.get(section))
            .ok_or_else(|| format!("it has no [{header}] section with `{section} = …`"))
    };
    let fields = |tokens: &[String], prefix: &str| -> Vec<String> {
        tokens.iter().map(|t| t.strip_prefix(prefix).unwrap_or(t).to_owned()).collect()
    };

    let request = assertion("r", "request_definition")?;
    if request.tokens.len() != 4 {
        return Err(format!(
            "the request definition must have 4 fields (role, organisation, object, action); \
             it has {}: {}",
            request.tokens.len(),
            fields(&request.tokens, "r_").join(", ")
        ));
    }
    let policy = assertion("p", "policy_definition")?;
    if policy.tokens.len() != 5 || policy.tokens.last().is_none_or(|t| t != "p_eft") {
        return Err(format!(
            "the policy definition must have 5 fields (role, organisation, object, action, eft); \
             it has {}: {}",
            policy.tokens.len(),
            fields(&policy.tokens, "p_").join(", ")
        ));
    }
    let effect = assertion("e", "policy_effect")?;
    if effect.value != EFFECT {
        return Err(format!(
            "the policy effect must be `{}`; it is `{}`",
            EFFECT.replace("p_eft", "p.eft"),
            effect.value.replace("p_eft", "p.eft")
        ));
    }
    assertion("m", "matchers")?;
    Ok(())
}

/// Reads and checks policy lines; returns the rules without the leading `p`,
/// in file order.
fn parse_policy(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rules: Vec<Vec<String>> = Vec::new();
    let mut lines: Vec<usize> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |what: String| format!("line {number} ({line}): {what}");
        if line.contains('"') {
            return Err(at("quotes are not supported".into()));
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields[0] != "p" {
            return Err(at(format!(
                "unknown rule type {:?}; only `p` lines are supported",
                fields[0]
            )));
        }
        if fields.len() != 6 {
            return Err(at(format!(
                "expected 6 fields (p, role, organisation or *, object, action, allow or deny); \
                 found {}",
                fields.len()
            )));
        }
        if let Some(position) = fields.iter().position(|f| f.is_empty()) {
            return Err(at(format!("field {} is empty", position + 1)));
        }
        Role::from_str(fields[1]).map_err(at)?;
        if !OBJECTS.contains(&fields[3]) {
            return Err(at(format!(
                "unknown object {:?}; expected one of {}",
                fields[3],
                OBJECTS.join(", ")
            )));
        }
        Action::from_str(fields[4]).map_err(at)?;
        if !matches!(fields[5], "allow" | "deny") {
            return Err(at(format!(
                "the effect is {:?}; expected allow or deny (comments must be on their own line)",
                fields[5]
            )));
        }
        let rule: Vec<String> = fields[1..].iter().map(|f| (*f).to_owned()).collect();
        if let Some(earlier) = rules.iter().position(|r| *r == rule) {
            return Err(at(format!("repeats line {}", lines[earlier])));
        }
        rules.push(rule);
        lines.push(number);
    }
    if rules.is_empty() {
        return Err("it has no rules, so every request would be denied".into());
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anchor_chaincode::authority::{self, TxType};

    /// The default policy, written out again independently of the CSV file:
    /// (role, object, action) triples that every organisation is allowed.
    const EXPECTED_TABLE: &[(Role, &str, Action)] = &[
        (Role::Provider, "asset", Action::Publish),
        (Role::Provider, "asset", Action::SetSharingRules),
        (Role::Provider, "asset", Action::RequestData),
        (Role::Provider, "directory", Action::ReadDirectory),
        (Role::Consumer, "asset", Action::RequestData),
        (Role::Consumer, "directory", Action::ReadDirectory),
        (Role::Verifier, "certificate", Action::Verify),
        (Role::Verifier, "asset", Action::Verify),
        (Role::Verifier, "bill", Action::ReadBills),
        (Role::Issuer, "certificate", Action::IssueCertificate),
        (Role::CertificationAuthority, "identity", Action::RegisterIdentity),
        (Role::CertificationAuthority, "identity", Action::RevokeIdentity),
        (Role::Auditor, "audit", Action::ReadAudit),
        (Role::Auditor, "bill", Action::ReadBills),
        (Role::Public, "certificate", Action::Verify),
        (Role::Node, "ledger", Action::Anchor),
        (Role::Operator, "account", Action::ManageAccounts),
    ];

    /// What the decision must be, and a fragment its reason must contain.
    fn expectation(
        role: Role,
        action: Action,
        resource: &Resource<'_>,
        authorised: bool,
        owner: bool,
    ) -> (bool, String) {
        let object = resource.object();
        let rule_line = format!("p, {role}, *, {object}, {action}, allow");
        if !EXPECTED_TABLE.contains(&(role, object, action)) {
            return (false, "no rule allows it".into());
        }
        match (resource, action) {
            (Resource::Asset { .. }, Action::RequestData) if authorised => {
                (true, format!("allowed by rule {rule_line} and"))
            }
            (Resource::Asset { .. }, Action::RequestData) => {
                (false, "is not on the authorised list of health/clinics".into())
            }
            (Resource::Asset { .. }, Action::Publish | Action::SetSharingRules) if owner => {
                (true, "organisation dept-health owns health/clinics".into())
            }
            (Resource::Asset { .. }, Action::Publish | Action::SetSharingRules) => (
                false,
                "organisation dept-civil does not own health/clinics (owner dept-health)".into(),
            ),
            (Resource::Other("asset"), Action::RequestData | Action::SetSharingRules) => {
                (false, "needs the asset's owner and authorised list".into())
            }
            _ => (true, format!("allowed by rule {rule_line}")),
        }
    }

    fn address(byte: u8) -> Address {
        Address([byte; 20])
    }

    #[tokio::test]
    async fn every_role_action_authorisation_and_ownership_is_decided_as_the_table_says() {
        let policy = RolePolicy::builtin().await.unwrap();
        let caller = address(0x1a);
        let others = [address(0x01), address(0x02)];
        let with_caller = [address(0x01), caller, address(0x02)];
        let mut cases = 0;
        for role in Role::ALL {
            for action in Action::ALL {
                for authorised in [false, true] {
                    for owner in [false, true] {
                        let list: &[Address] = if authorised { &with_caller } else { &others };
                        let organisation = if owner { "dept-health" } else { "dept-civil" };
                        let resource = Resource::Asset {
                            asset_id: "health/clinics",
                            owner_organisation: "dept-health",
                            authorised: list,
                        };
                        let request = AccessRequest {
                            identity: caller,
                            organisation,
                            role,
                            action,
                            resource,
                        };
                        let decision = policy.decide(&request);
                        let (allowed, fragment) =
                            expectation(role, action, &resource, authorised, owner);
                        let case = format!(
                            "{role} {action} asset authorised={authorised} owner={owner}: {decision:?}"
                        );
                        assert_eq!(decision.allowed, allowed, "{case}");
                        assert!(decision.reason.contains(&fragment), "{case}: wants {fragment:?}");
                        if decision.allowed && action == Action::RequestData {
                            assert!(decision.reason.contains(&caller.to_string()), "{case}");
                        }
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, Role::ALL.len() * Action::ALL.len() * 4);

        for role in Role::ALL {
            for action in Action::ALL {
                for object in OBJECTS {
                    let resource = Resource::Other(object);
                    let request = AccessRequest {
                        identity: caller,
                        organisation: "dept-civil",
                        role,
                        action,
                        resource,
                    };
                    let decision = policy.decide(&request);
                    let (allowed, fragment) = expectation(role, action, &resource, false, false);
                    let case = format!("{role} {action} {object}: {decision:?}");
                    assert_eq!(decision.allowed, allowed, "{case}");
                    assert!(decision.reason.contains(&fragment), "{case}: wants {fragment:?}");
                    let allowed_by_role = EXPECTED_TABLE.contains(&(role, object, action));
                    let line = format!("p, {role}, *, {object}, {action}, allow");
                    assert_eq!(decision.rule, allowed_by_role.then_some(line), "{case}");
                }
            }
        }
    }

    #[tokio::test]
    async fn reasons_name_the_deciding_condition_exactly() {
        let policy = RolePolicy::builtin().await.unwrap();
        let caller = address(0x1a);
        let authorised = [caller];
        let asset = Resource::Asset {
            asset_id: "health/clinics",
            owner_organisation: "dept-health",
            authorised: &authorised,
        };
        let request = AccessRequest {
            identity: caller,
            organisation: "dept-civil",
            role: Role::Consumer,
            action: Action::RequestData,
            resource: asset,
        };
        let decision = policy.decide(&request);
        assert_eq!(
            decision,
            Decision {
                allowed: true,
                reason: format!(
                    "allowed by rule p, consumer, *, asset, request_data, allow and {caller} is on \
                     the authorised list of health/clinics"
                ),
                rule: Some("p, consumer, *, asset, request_data, allow".into()),
            }
        );
        let decision = policy.decide(&AccessRequest { action: Action::SetSharingRules, ..request });
        assert_eq!(
            decision.reason,
            "role consumer in organisation dept-civil may not set_sharing_rules asset: no rule allows it"
        );
        assert_eq!(decision.rule, None);
        let stranger = address(0x2b);
        let decision = policy.decide(&AccessRequest { identity: stranger, ..request });
        assert_eq!(
            decision.reason,
            format!("{stranger} is not on the authorised list of health/clinics")
        );
        assert_eq!(decision.rule.as_deref(), Some("p, consumer, *, asset, request_data, allow"));
        let decision = policy.decide(&AccessRequest {
            role: Role::Provider,
            action: Action::Publish,
            ..request
        });
        assert!(!decision.allowed);
        assert_eq!(
            decision.reason,
            "organisation dept-civil does not own health/clinics (owner dept-health)"
        );
    }

    #[tokio::test]
    async fn a_deny_line_for_one_organisation_overrides_the_wildcard_allow() {
        let policy_text = format!(
            "{BUILTIN_POLICY}\n# Consumers of verifier-co may not request data.\n\
             p, consumer, verifier-co, asset, request_data, deny\n"
        );
        let policy = RolePolicy::from_texts(BUILTIN_MODEL, &policy_text).await.unwrap();
        let caller = address(7);
        let authorised = [caller];
        let request = AccessRequest {
            identity: caller,
            organisation: "verifier-co",
            role: Role::Consumer,
            action: Action::RequestData,
            resource: Resource::Asset {
                asset_id: "health/clinics",
                owner_organisation: "dept-health",
                authorised: &authorised,
            },
        };
        let decision = policy.decide(&request);
        assert_eq!(
            decision,
            Decision {
                allowed: false,
                reason: "denied by rule p, consumer, verifier-co, asset, request_data, deny".into(),
                rule: Some("p, consumer, verifier-co, asset, request_data, deny".into()),
            }
        );
        // The same role in another organisation is still allowed.
        let elsewhere = policy.decide(&AccessRequest { organisation: "dept-civil", ..request });
        assert!(elsewhere.allowed, "{elsewhere:?}");
        // An allow line for one organisation does not leak to others.
        let text =
            format!("{BUILTIN_POLICY}\np, public, dept-health, directory, read_directory, allow\n");
        let policy = RolePolicy::from_texts(BUILTIN_MODEL, &text).await.unwrap();
        let public = AccessRequest {
            role: Role::Public,
            action: Action::ReadDirectory,
            resource: Resource::Other("directory"),
            organisation: "dept-health",
            ..request
        };
        let decision = policy.decide(&public);
        assert!(decision.allowed, "{decision:?}");
        assert_eq!(
            decision.rule.as_deref(),
            Some("p, public, dept-health, directory, read_directory, allow")
        );
        assert!(!policy.decide(&AccessRequest { organisation: "dept-civil", ..public }).allowed);
    }

    #[tokio::test]
    async fn repository_files_load_and_match_the_builtin_policy() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/policy");
        let from_repo = RolePolicy::load(
            &Path::new(dir).join("model.conf"),
            &Path::new(dir).join("policy.csv"),
        )
        .await
        .unwrap();
        let builtin = RolePolicy::builtin().await.unwrap();
        assert_eq!(from_repo.rules(), EXPECTED_TABLE.len());
        assert_eq!(
            format!("{builtin:?}"),
            format!("RolePolicy {{ rules: {}, .. }}", EXPECTED_TABLE.len())
        );

        // A policy written to a file of its own is used instead of the default.
        let temp = tempfile::tempdir().unwrap();
        let model_path = temp.path().join("model.conf");
        let policy_path = temp.path().join("policy.csv");
        std::fs::write(&model_path, BUILTIN_MODEL).unwrap();
        std::fs::write(&policy_path, "# Only auditors.\np, auditor, *, audit, read_audit, allow\n")
            .unwrap();
        let custom = RolePolicy::load(&model_path, &policy_path).await.unwrap();
        assert_eq!(custom.rules(), 1);
        let request = AccessRequest {
            identity: address(1),
            organisation: "dept-civil",
            role: Role::Consumer,
            action: Action::ReadDirectory,
            resource: Resource::Other("directory"),
        };
        assert!(builtin.decide(&request).allowed);
        assert!(!custom.decide(&request).allowed);
    }

    #[tokio::test]
    async fn a_missing_file_is_named_in_the_error() {
        let temp = tempfile::tempdir().unwrap();
        let model_path = temp.path().join("model.conf");
        let policy_path = temp.path().join("policy.csv");
        std::fs::write(&model_path, BUILTIN_MODEL).unwrap();
        let err = RolePolicy::load(&model_path, &policy_path).await.unwrap_err();
        assert!(matches!(&err, Error::PolicyFile { path, .. } if *path == policy_path), "{err}");
        let message = err.to_string();
        assert!(message.contains(&policy_path.display().to_string()), "{message}");
        assert!(message.contains("No such file"), "{message}");
        let missing_model = temp.path().join("nope.conf");
        let err = RolePolicy::load(&missing_model, &policy_path).await.unwrap_err();
        assert!(err.to_string().contains(&missing_model.display().to_string()), "{err}");
    }

    #[tokio::test]
    async fn malformed_models_are_refused_with_the_reason() {
        let temp = tempfile::tempdir().unwrap();
        let model_path = temp.path().join("model.conf");
        let policy_path = temp.path().join("policy.csv");
        std::fs::write(&policy_path, BUILTIN_POLICY).unwrap();
        let matcher = "m = r.role == p.role && r.obj == p.obj && r.act == p.act";
        let head = BUILTIN_MODEL.split("[matchers]").next().unwrap_or_default();
        let cases: &[(String, &str)] = &[
            ("this is not a model".into(), "parse content error"),
            (BUILTIN_MODEL.replace("[matchers]", "[other]"), "no [matchers] section"),
            (
                BUILTIN_MODEL.replace("r = role, org, obj, act", "r = role, obj, act"),
                "request definition must have 4 fields",
            ),
            (
                BUILTIN_MODEL.replace("p = role, org, obj, act, eft", "p = role, org, obj, act"),
                "policy definition must have 5 fields",
            ),
            (
                BUILTIN_MODEL.replace(
                    "e = some(where (p.eft == allow)) && !some(where (p.eft == deny))",
                    "e = some(where (p.eft == allow))",
                ),
                "policy effect must be",
            ),
            (
                BUILTIN_MODEL.replace(
                    "e = some(where (p.eft == allow)) && !some(where (p.eft == deny))",
                    "e = priority(p.eft) || deny",
                ),
                "it is `priority(p.eft) || deny`",
            ),
            (format!("{head}[matchers]\n{matcher} &&\n"), "Failed to compile matcher"),
            (
                format!("{head}[matchers]\nm = r.role == p.nothing\n"),
                "the matcher cannot be evaluated",
            ),
            (format!("{head}[matchers]\nm = r.org\n"), "the matcher cannot be evaluated"),
        ];
        for (model, fragment) in cases {
            std::fs::write(&model_path, model).unwrap();
            let err = RolePolicy::load(&model_path, &policy_path).await.unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, Error::BadPolicyModel { .. }), "{message}");
            assert!(message.contains(&model_path.display().to_string()), "{message}");
            assert!(message.contains(fragment), "{message}: wants {fragment:?}");
        }
    }

    #[tokio::test]
    async fn malformed_policy_lines_are_refused_with_the_line() {
        let cases: &[(&str, &str)] = &[
            ("", "it has no rules"),
            ("# only a comment\n", "it has no rules"),
            (
                "p, consumer, *, asset, request_data\n",
                "line 1 (p, consumer, *, asset, request_data): expected 6 fields",
            ),
            (
                "\n\np, consumr, *, asset, request_data, allow\n",
                "line 3 (p, consumr, *, asset, request_data, allow): unknown role \"consumr\"",
            ),
            ("p, consumer, *, assets, request_data, allow\n", "unknown object \"assets\""),
            ("p, consumer, *, asset, read, allow\n", "unknown action \"read\""),
            ("p, consumer, *, asset, request_data, permit\n", "the effect is \"permit\""),
            (
                "p, consumer, *, asset, request_data, allow # trailing\n",
                "comments must be on their own line",
            ),
            ("p, consumer, , asset, request_data, allow\n", "field 3 is empty"),
            ("g, alice, consumer\n", "unknown rule type \"g\""),
            ("p, \"consumer\", *, asset, request_data, allow\n", "quotes are not supported"),
            (
                "p, consumer, *, asset, request_data, allow\n\np, consumer, *, asset, request_data, allow\n",
                "line 3 (p, consumer, *, asset, request_data, allow): repeats line 1",
            ),
        ];
        for (text, fragment) in cases {
            let err = RolePolicy::from_texts(BUILTIN_MODEL, text).await.unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, Error::BadPolicy { .. }), "{message}");
            assert!(message.contains(fragment), "{message}: wants {fragment:?}");
        }
    }

    #[test]
    fn a_casbin_error_denies_with_the_error_as_the_reason() {
        let request = AccessRequest {
            identity: address(1),
            organisation: "dept-civil",
            role: Role::Auditor,
            action: Action::ReadAudit,
            resource: Resource::Other("audit"),
        };
        let error =
            casbin::Error::from(casbin::error::RequestError::UnmatchRequestDefinition(4, 3));
        let decision = decide_with(&request, Err(&error));
        assert!(!decision.allowed);
        assert_eq!(decision.rule, None);
        assert!(
            decision.reason.starts_with("the role policy could not be evaluated"),
            "{decision:?}"
        );
        assert!(decision.reason.contains("expected length: 4"), "{decision:?}");
    }

    /// The object and action the role policy names for a transaction type.
    fn write_of(tx_type: TxType) -> (&'static str, Action) {
        match tx_type {
            TxType::RegisterIdentity => ("identity", Action::RegisterIdentity),
            TxType::RevokeIdentity => ("identity", Action::RevokeIdentity),
            TxType::PublishAsset => ("asset", Action::Publish),
            TxType::SetSharingRules => ("asset", Action::SetSharingRules),
            TxType::IssueCertificate | TxType::RenewCertificate | TxType::RevokeCertificate => {
                ("certificate", Action::IssueCertificate)
            }
            TxType::AnchorAccessEvents | TxType::AnchorChannels => ("ledger", Action::Anchor),
            TxType::OpenAccount | TxType::TopUp | TxType::ChangePlan => {
                ("account", Action::ManageAccounts)
            }
        }
    }

    /// For every role and every transaction type, the role policy allows the
    /// write exactly when the chaincode's default authority lets that role
    /// create the type or endorse it (a registration is the CA's endorsement).
    #[tokio::test]
    async fn the_role_policy_agrees_with_the_chaincode_on_every_write() {
        let policy = RolePolicy::builtin().await.unwrap();
        let caller = address(0x1a);
        for tx_type in TxType::ALL {
            let rule = authority::ceiling(tx_type);
            for role in Role::ALL {
                let chaincode = rule.create.iter().chain(&rule.endorse).any(|p| p.role == role);
                let (object, action) = write_of(tx_type);
                let resource = if object == "asset" {
                    Resource::Asset {
                        asset_id: "health/clinics",
                        owner_organisation: "dept-health",
                        authorised: &[],
                    }
                } else {
                    Resource::Other(object)
                };
                let request = AccessRequest {
                    identity: caller,
                    organisation: "dept-health",
                    role,
                    action,
                    resource,
                };
                let decision = policy.decide(&request);
                assert_eq!(
                    decision.allowed, chaincode,
                    "{role} × {tx_type}: chaincode {chaincode}, role policy {decision:?}"
                );
            }
        }
    }

    #[test]
    fn actions_round_trip_through_their_names() {
        for action in Action::ALL {
            assert_eq!(action.as_str().parse::<Action>(), Ok(action));
            assert_eq!(action.to_string(), action.as_str());
        }
        let err = "fly".parse::<Action>().unwrap_err();
        assert!(err.contains("unknown action \"fly\"") && err.contains("read_directory"), "{err}");
    }

    #[test]
    fn role_policy_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<RolePolicy>();
    }
}
