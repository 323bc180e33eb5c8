//! The role policy: a casbin enforcer over the checked model and policy
//! lines, its memo of answers, and the decision that combines casbin's
//! answer with the on-chain facts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use anchor_chaincode::Role;
use casbin::{CoreApi, MgmtApi};

use super::validate::{check_model, parse_policy};
use super::{AccessRequest, Action, BUILTIN_MODEL, BUILTIN_POLICY, Decision, Resource};
use crate::{Error, Result};

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
pub(super) fn decide_with(
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
