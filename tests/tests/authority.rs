//! The three attacks of a citizen registered with defaults, end to end
//! through the CLI against a real `cairn up --demo` node: with nothing but
//! her own key, Ana tries to revoke the health department's provider, to
//! credit a verifier's prepaid account and to endorse a rogue issuer. Each is
//! recorded as refused with a message naming the missing authority, and the
//! state root does not move. The legitimate holders of those powers succeed.

use cairn_tests::{Node, Start, arg, cairn, key_address, on};
use serde_json::Value;

#[track_caller]
fn state_root(node: &Node) -> String {
    on(node, &["node", "info", "--json"]).assert_success().json()["state_root"]
        .as_str()
        .expect("state_root")
        .to_owned()
}

/// Runs a refused write and checks its code, its message and that the state
/// did not move.
#[track_caller]
fn refused(node: &Node, args: &[&str], code: &str, message: &str) -> Value {
    let before = state_root(node);
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = on(node, &with_json);
    assert!(!out.success(), "{} succeeded:\n{}", args.join(" "), out.describe());
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(code),
        "{} was not refused with {code}:\n{}",
        args.join(" "),
        out.describe()
    );
    assert!(
        text.contains(message),
        "{} does not say {message:?}:\n{}",
        args.join(" "),
        out.describe()
    );
    assert_eq!(state_root(node), before, "a refused transaction moved the state root");
    out.stdout.lines().rev().find_map(|l| serde_json::from_str(l).ok()).unwrap_or(Value::Null)
}

#[test]
fn a_citizen_with_defaults_cannot_revoke_credit_or_endorse() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let node = Node::start(&data, Start::Demo).expect("start the demo node");
    let demo = data.join("demo");
    let ca = demo.join("org-ca.key");

    // Ana registers as the README shows; she lands in the holders' organisation.
    let ana = dir.path().join("ana.key");
    let registered = on(
        &node,
        &[
            "cert",
            "register-user",
            "--name",
            "Ana",
            "--out",
            arg(&ana),
            "--endorser-key",
            arg(&ca),
            "--json",
        ],
    )
    .assert_success()
    .json();
    let ana_address = registered["address"].as_str().expect("address").to_owned();
    let shown = on(&node, &["identity", "show", &ana_address, "--json"]).assert_success().json();
    assert_eq!(shown["organisation"], "holders", "{shown}");
    assert_eq!(shown["role"], "public", "{shown}");
    // She cannot put herself in the certification authority's organisation either.
    let _ = refused(
        &node,
        &[
            "cert",
            "register-user",
            "--name",
            "Ana2",
            "--out",
            arg(&dir.path().join("ana2.key")),
            "--org",
            "ca",
            "--endorser-key",
            arg(&ca),
        ],
        "not_authorised",
        "only in the holders' organisation",
    );

    // 1. Revoke the health department's provider.
    let provider = key_address(&demo.join("health-provider.key"));
    let _ = refused(
        &node,
        &["identity", "revoke", &provider, "--reason", "x", "--key", arg(&ana)],
        "not_authorised",
        "revoke_identity may be created only by role certification_authority",
    );
    let provider_now =
        on(&node, &["identity", "show", &provider, "--json"]).assert_success().json();
    assert!(provider_now["revoked"].is_null(), "{provider_now}");

    // 2. Credit the commercial verifier's prepaid account.
    let verifier = key_address(&demo.join("verifier.key"));
    let account = |node: &Node| {
        on(
            node,
            &[
                "billing",
                "account",
                "show",
                "--holder",
                &verifier,
                "--key",
                arg(&demo.join("verifier.key")),
                "--json",
            ],
        )
        .assert_success()
        .json()
    };
    let before = account(&node);
    let _ = refused(
        &node,
        &[
            "billing",
            "account",
            "top-up",
            "--holder",
            &verifier,
            "--amount",
            "100000000",
            "--reference",
            "gift",
            "--key",
            arg(&ana),
        ],
        "not_authorised",
        "top_up may be created only by role operator",
    );
    // Nor may the certification authority's officer: its role does not imply the operator's.
    let _ = refused(
        &node,
        &[
            "billing",
            "account",
            "top-up",
            "--holder",
            &verifier,
            "--amount",
            "100",
            "--key",
            arg(&demo.join("ca-officer.key")),
        ],
        "not_authorised",
        "has role certification_authority",
    );
    assert_eq!(account(&node)["credited"], before["credited"]);

    // 3. Endorse a rogue issuer in the civil-affairs department.
    let evil = dir.path().join("evil.key");
    let _ = cairn(["key", "new", "--out", arg(&evil)]).assert_success();
    let _ = refused(
        &node,
        &[
            "identity",
            "register",
            "--key",
            arg(&evil),
            "--name",
            "Evil registry",
            "--org",
            "dept-civil",
            "--role",
            "issuer",
            "--endorser-key",
            arg(&ana),
        ],
        "endorsement_policy_failure",
        "requires endorsement by role certification_authority",
    );
    let evil_address = key_address(&evil);
    let _ = on(&node, &["identity", "show", &evil_address]).assert_failure_with("no identity");

    // The holders of those powers still have them.
    let _ = on(
        &node,
        &[
            "billing",
            "account",
            "top-up",
            "--holder",
            &verifier,
            "--amount",
            "100",
            "--reference",
            "invoice 1",
            "--key",
            arg(&demo.join("hub-operator.key")),
        ],
    )
    .assert_success();
    let _ = on(
        &node,
        &[
            "identity",
            "register",
            "--key",
            arg(&evil),
            "--name",
            "Civil registry 2",
            "--org",
            "dept-civil",
            "--role",
            "issuer",
            "--endorser-key",
            arg(&demo.join("ca-officer.key")),
        ],
    )
    .assert_success();
    let _ = on(
        &node,
        &[
            "identity",
            "revoke",
            &evil_address,
            "--reason",
            "test over",
            "--key",
            arg(&demo.join("ca-officer.key")),
        ],
    )
    .assert_success();
    let _ = node.stop_cleanly();
}
