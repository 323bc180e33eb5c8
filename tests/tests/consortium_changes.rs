//! Consortium changes end to end, through the CLI against a real
//! `cairn up --demo` node (a change needs a strict majority of its organisations):
//! adding an organisation and rotating its key with the endorsements their
//! policy names, the same changes without them refused with a message naming
//! what was missing (and the state root unmoved), a node registered only
//! with its organisation's current key, and the consortium replayed
//! identically after a restart.

use std::path::{Path, PathBuf};

use cairn_tests::{CliOutput, Node, Start, arg, cairn, on};
use serde_json::Value;

#[track_caller]
fn state_root(node: &Node) -> String {
    on(node, &["node", "info", "--json"]).assert_success().json()["state_root"]
        .as_str()
        .expect("state_root")
        .to_owned()
}

#[track_caller]
fn consortium(node: &Node) -> Value {
    on(node, &["consortium", "show", "--json"]).assert_success().json()
}

fn new_key(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("{name}.key"));
    let shown = cairn(["key", "new", "--out", arg(&path), "--json"]).assert_success().json();
    let public_key = shown["signing_public_key"].as_str().expect("public key").to_owned();
    (path, public_key)
}

/// Proposes a change as the demo's auditor and has each `(organisation, key
/// file)` endorse it; returns the change file.
fn propose(
    node: &Node,
    dir: &Path,
    file: &str,
    change: &[&str],
    endorsers: &[(&str, &Path)],
) -> PathBuf {
    let out = dir.join(file);
    let creator = node.data_dir().join("demo/auditor.key");
    let mut args = vec!["consortium", "propose"];
    args.extend(change);
    args.extend(["--key", arg(&creator), "--out", arg(&out)]);
    let _ = on(node, &args).assert_success();
    for (organisation, key) in endorsers {
        let _ =
            cairn(["consortium", "endorse", arg(&out), "--key", arg(key), "--org", organisation])
                .assert_success();
    }
    out
}

/// `count` of the demo's organisations to endorse a change, with their key
/// files: the certification authority, the operator, the audit office and the
/// Department of Health first, then the others by name.
fn voters(node: &Node, names: &[String], count: usize) -> Vec<(String, PathBuf)> {
    let first = ["ca", "operator", "audit", "dept-health"];
    let mut chosen: Vec<String> = first.iter().map(|n| (*n).to_owned()).collect();
    chosen.extend(names.iter().filter(|n| !first.contains(&n.as_str())).cloned());
    chosen.truncate(count);
    chosen
        .into_iter()
        .map(|name| {
            let key = node.data_dir().join(format!("demo/org-{name}.key"));
            (name, key)
        })
        .collect()
}

fn refs(endorsers: &[(String, PathBuf)]) -> Vec<(&str, &Path)> {
    endorsers.iter().map(|(name, key)| (name.as_str(), key.as_path())).collect()
}

fn sorted_names(endorsers: &[(String, PathBuf)]) -> Vec<String> {
    let mut names: Vec<String> = endorsers.iter().map(|(name, _)| name.clone()).collect();
    names.sort();
    names
}

/// Submits a change that must be refused with `code` and `message`, and
/// checks that the state did not move.
#[track_caller]
fn refused(node: &Node, file: &Path, code: &str, message: &str) -> CliOutput {
    let before = state_root(node);
    let out = on(node, &["consortium", "submit", arg(file)]);
    assert!(!out.success(), "the change was accepted:\n{}", out.describe());
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains(code), "not refused with {code}:\n{}", out.describe());
    assert!(text.contains(message), "does not say {message:?}:\n{}", out.describe());
    assert_eq!(state_root(node), before, "a refused change moved the state root");
    out
}

#[test]
fn adding_an_organisation_and_rotating_its_key_need_their_endorsements() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let node = Node::start(&data, Start::Demo).expect("start the demo node");
    let demo = data.join("demo");
    let org = |name: &str| demo.join(format!("org-{name}.key"));
    let (ca, operator, audit) = (org("ca"), org("operator"), org("audit"));

    let before = consortium(&node);
    let names: Vec<String> = before["organisations"]
        .as_array()
        .expect("organisations")
        .iter()
        .map(|o| o["name"].as_str().expect("name").to_owned())
        .collect();
    let n_members = names.len();
    assert!(n_members >= 6, "{before}");
    let majority = n_members / 2 + 1;
    assert_eq!(before["change_endorsements"], majority, "{before}");
    assert_eq!(before["history"], Value::Array(Vec::new()), "{before}");

    // Adding dept-tax with three organisations and the new key: refused,
    // naming who endorsed and how many are needed.
    let (tax, tax_public) = new_key(dir.path(), "tax");
    let add = [
        "add-organisation",
        "--name",
        "dept-tax",
        "--description",
        "Tax office",
        "--public-key",
        &tax_public,
    ];
    let short = propose(
        &node,
        dir.path(),
        "add-short.tx",
        &add,
        &[("ca", &ca), ("operator", &operator), ("audit", &audit), ("dept-tax", &tax)],
    );
    let _ = refused(
        &node,
        &short,
        "endorsement_policy_failure",
        &format!(
            "adding organisation \"dept-tax\" needs endorsements of {majority} of the {n_members} member organisations by their current keys, has 3: audit, ca, operator"
        ),
    );
    // A majority but no proof that dept-tax holds its key: refused.
    let adders = voters(&node, &names, majority);
    let no_proof = propose(&node, dir.path(), "add-no-proof.tx", &add, &refs(&adders));
    let _ = refused(&node, &no_proof, "endorsement_policy_failure", "proof of possession");
    // With both: valid.
    let mut with_proof = refs(&adders);
    with_proof.push(("dept-tax", &tax));
    let full = propose(&node, dir.path(), "add.tx", &add, &with_proof);
    let added = on(&node, &["consortium", "submit", arg(&full), "--json"]).assert_success().json();
    assert_eq!(added["validation_code"], "valid", "{added}");
    let after_add = consortium(&node);
    let members = after_add["organisations"].as_array().expect("organisations");
    let tax_member = members.iter().find(|o| o["name"] == "dept-tax").expect("dept-tax added");
    assert_eq!(tax_member["public_key"], tax_public.as_str(), "{after_add}");
    assert_eq!(tax_member["description"], "Tax office", "{after_add}");
    let majority_after = n_members.div_ceil(2) + 1;
    assert_eq!(
        after_add["change_endorsements"],
        majority_after,
        "a strict majority of {}: {after_add}",
        n_members + 1
    );
    let history = after_add["history"].as_array().expect("history");
    assert_eq!(history.len(), 1, "{after_add}");
    assert_eq!(history[0]["tx_id"], added["tx_id"], "{after_add}");
    assert_eq!(
        history[0]["endorsed_by"],
        serde_json::json!(sorted_names(&adders)),
        "the new key proves possession but is not a vote: {after_add}"
    );

    // Rotating dept-tax's key without the new key's endorsement: refused.
    let (tax2, tax2_public) = new_key(dir.path(), "tax2");
    let rotate = ["rotate-key", "--name", "dept-tax", "--new-public-key", &tax2_public];
    let others = voters(&node, &names, majority_after - 1);
    let mut majority = refs(&others);
    majority.push(("dept-tax", &tax));
    let unproven = propose(&node, dir.path(), "rotate-unproven.tx", &rotate, &majority);
    let _ = refused(
        &node,
        &unproven,
        "endorsement_policy_failure",
        &format!(
            "rotating the key of organisation \"dept-tax\" needs an endorsement by the new key {tax2_public} itself"
        ),
    );
    let mut endorsers = majority.clone();
    endorsers.push(("dept-tax", &tax2));
    let rotation = propose(&node, dir.path(), "rotate.tx", &rotate, &endorsers);
    let _ = on(&node, &["consortium", "submit", arg(&rotation)]).assert_success();
    let after_rotation = consortium(&node);
    let tax_member = after_rotation["organisations"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["name"] == "dept-tax").cloned())
        .expect("dept-tax");
    assert_eq!(tax_member["public_key"], tax2_public.as_str(), "{after_rotation}");
    assert!(tax_member["key_since_block"].as_u64() > tax_member["since_block"].as_u64());
    assert_eq!(after_rotation["history"].as_array().map(Vec::len), Some(2));

    // Only the new key speaks for dept-tax now: the old one no longer
    // counts for a change, nor admits a node.
    let quorum = ["set-quorum", "--k", "1"];
    let old_key = propose(
        &node,
        dir.path(),
        "quorum-old-key.tx",
        &quorum,
        &[("ca", &ca), ("operator", &operator), ("audit", &audit), ("dept-tax", &tax)],
    );
    let _ = refused(
        &node,
        &old_key,
        "endorsement_policy_failure",
        "has 3: audit, ca, operator; ignored: dept-tax (not its current key)",
    );
    let (tax_node, _) = new_key(dir.path(), "tax-node");
    let register = |org_key: Option<&Path>| {
        let mut args = vec![
            "identity",
            "register",
            "--key",
            arg(&tax_node),
            "--name",
            "tax node",
            "--org",
            "dept-tax",
            "--role",
            "node",
            "--endorser-key",
            arg(&ca),
        ];
        if let Some(org_key) = org_key {
            args.extend(["--org-key", arg(org_key)]);
        }
        on(&node, &args)
    };
    let without = register(None);
    assert!(!without.success(), "{}", without.describe());
    assert!(
        without.stderr.contains("requires endorsement by its own organisation \"dept-tax\""),
        "{}",
        without.describe()
    );
    let with_old = register(Some(&tax));
    assert!(!with_old.success(), "{}", with_old.describe());
    assert!(with_old.stderr.contains("endorsement_policy_failure"), "{}", with_old.describe());
    let _ = register(Some(&tax2)).assert_success();
    let shown = consortium(&node);
    assert_eq!(shown["nodes"], 2, "the demo's node and dept-tax's: {shown}");

    // The quorum follows the ledger: never above the registered nodes, and
    // what the node reports (and cosigns under) once changed.
    let mut current = refs(&others);
    current.push(("dept-tax", &tax2));
    let too_high = propose(&node, dir.path(), "quorum-3.tx", &["set-quorum", "--k", "3"], &current);
    let _ = refused(
        &node,
        &too_high,
        "invalid_argument",
        "quorum 3 must be at least 1 and at most the 2 registered, unrevoked node identities",
    );
    let two = propose(&node, dir.path(), "quorum-2.tx", &["set-quorum", "--k", "2"], &current);
    let _ = on(&node, &["consortium", "submit", arg(&two)]).assert_success();
    let agreement = on(&node, &["node", "agreement", "--json"]).assert_success().json();
    assert_eq!(agreement["quorum"], 2, "the cosigning loop's quorum: {agreement}");
    let shown = consortium(&node);
    assert_eq!(shown["quorum"], 2, "{shown}");
    let info = on(&node, &["node", "info", "--json"]).assert_success().json();
    assert_eq!(info["quorum"], 2, "node info's quorum: {info}");

    // The text view names the change and who endorsed it.
    let text = on(&node, &["consortium", "show"]).assert_success().stdout.clone();
    assert!(text.contains("dept-tax"), "{text}");
    let endorsed_by = format!("endorsed by {}", sorted_names(&adders).join(", "));
    assert!(text.contains(&endorsed_by), "{text}");

    // A restarted node replays the log into the same consortium and state.
    let info = on(&node, &["node", "info", "--json"]).assert_success().json();
    let last = (info["height"].as_u64().expect("height") - 1).to_string();
    let _ = node.stop_cleanly();
    let node = Node::start(&data, Start::Existing).expect("restart");
    let without_height = |mut view: Value| {
        let _ = view.as_object_mut().and_then(|o| o.remove("height"));
        view
    };
    assert_eq!(
        without_height(consortium(&node)),
        without_height(shown),
        "the replayed consortium differs"
    );
    let block = on(&node, &["block", "show", &last, "--json"]).assert_success().json();
    assert_eq!(block["state_root"], info["state_root"], "the replayed state differs");
}
