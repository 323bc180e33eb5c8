//! Tests of the role policy: the default policy against a table written out
//! independently, the on-chain conditions, and refused models and policies.

use std::path::Path;

use super::enforcer::decide_with;
use super::*;
use crate::Error;
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
                    let request =
                        AccessRequest { identity: caller, organisation, role, action, resource };
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
    let decision =
        policy.decide(&AccessRequest { role: Role::Provider, action: Action::Publish, ..request });
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
    let from_repo =
        RolePolicy::load(&Path::new(dir).join("model.conf"), &Path::new(dir).join("policy.csv"))
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
        (format!("{head}[matchers]\nm = r.role == p.nothing\n"), "the matcher cannot be evaluated"),
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
    let error = casbin::Error::from(casbin::error::RequestError::UnmatchRequestDefinition(4, 3));
    let decision = decide_with(&request, Err(&error));
    assert!(!decision.allowed);
    assert_eq!(decision.rule, None);
    assert!(decision.reason.starts_with("the role policy could not be evaluated"), "{decision:?}");
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
        TxType::ChangeConsortium | TxType::DefineService | TxType::CaseAction => {
            unreachable!("no role policy speaks for consortium changes, services or cases")
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
    // A consortium change is decided by the organisations' endorsements,
    // counted by the chaincode; no request in front of the node stands for it.
    // Services and cases likewise: who may act on a case depends on the
    // case's service definition and state, which only the chaincode knows.
    for tx_type in TxType::ALL.into_iter().filter(|t| {
        !matches!(t, TxType::ChangeConsortium | TxType::DefineService | TxType::CaseAction)
    }) {
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
        assert_eq!(action.as_str().parse::<Action>().ok(), Some(action));
        assert_eq!(action.to_string(), action.as_str());
    }
    let err = "fly".parse::<Action>().unwrap_err().to_string();
    assert!(err.contains("unknown action \"fly\"") && err.contains("read_directory"), "{err}");
}

#[test]
fn role_policy_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<RolePolicy>();
}
