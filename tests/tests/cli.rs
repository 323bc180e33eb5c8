//! The `cairn` command line end to end against a real `cairn up --demo` node:
//! reading the chain, keys and identity registration, publishing and sharing
//! assets (and the validation codes of refused transactions), checkpoints and
//! proofs verified offline after the node has stopped (and refused once
//! tampered with), bad envelopes at the gRPC edge, and `cairn up`'s refusals.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use access_control::keys::KeyPair;
use anchor_chaincode::checkpoint::NoteSigner;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use cairn_schemas::v1 as pb;
use cairn_tests::{
    CliOutput, Node, Start, arg, cairn, cairn_with_timeout, genesis_new, on, publish_envelope,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

const ASSET: &str = "health/clinic-registry";
const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The JSON of `cairn key show FILE --json`.
#[track_caller]
fn key_show(file: &Path) -> Value {
    cairn(["key", "show", arg(file), "--json"]).assert_success().json()
}

/// The JSON of `cairn node info --json`.
#[track_caller]
fn node_info(node: &Node) -> Value {
    on(node, &["node", "info", "--json"]).assert_success().json()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[track_caller]
fn as_u64(value: &Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("{value} is not an unsigned integer"))
}

#[track_caller]
fn assert_hex(value: &Value, digits: usize) {
    let text = value.as_str().unwrap_or_else(|| panic!("{value} is not a string"));
    assert!(
        text.len() == digits && text.bytes().all(|b| b.is_ascii_hexdigit()),
        "{text:?} is not {digits} hex digits"
    );
}

/// The validation code a refused submission printed with `--json`, after
/// checking that the command failed and said why on stderr.
#[track_caller]
fn refused(output: &CliOutput, code: &str) -> Value {
    let _ = output.assert_failure_with(code);
    let view = output.json();
    assert_eq!(view["validation_code"], code, "{}", output.describe());
    view
}

/// `cairn proof verify FILE --checkpoint CP --trusted-keys KEYS --json`.
fn verify(proof: &Path, checkpoint: &Path, trusted: &Path) -> CliOutput {
    cairn([
        "proof",
        "verify",
        arg(proof),
        "--checkpoint",
        arg(checkpoint),
        "--trusted-keys",
        arg(trusted),
        "--json",
    ])
}

/// Asserts that a verification succeeded with every check passing; returns what it proved.
#[track_caller]
fn assert_verifies(output: &CliOutput) -> Value {
    let _ = output.assert_success();
    let view = output.json();
    assert_eq!(view["valid"], true, "{}", output.describe());
    let checks = view["checks"].as_array().expect("checks is an array");
    assert!(checks.len() >= 3, "too few checks ran: {}", output.describe());
    for check in checks {
        assert_eq!(check["ok"], true, "check {} failed: {}", check["name"], output.describe());
    }
    view["proved"].clone()
}

/// Asserts that a verification failed (non-zero exit, `"valid": false`) and that
/// the check named `failing` is the one that failed.
#[track_caller]
fn assert_rejected(output: &CliOutput, failing: &str) {
    assert!(!output.success(), "a tampered proof verified: {}", output.describe());
    let view = output.json();
    assert_eq!(view["valid"], false, "{}", output.describe());
    let checks = view["checks"].as_array().expect("checks is an array");
    let check = checks
        .iter()
        .find(|c| c["name"] == failing)
        .unwrap_or_else(|| panic!("no check {failing:?} ran: {}", output.describe()));
    assert_eq!(check["ok"], false, "check {failing:?} passed: {}", output.describe());
}

/// Writes a copy of a signed checkpoint whose root hash (line 3) has one byte flipped.
fn tamper_checkpoint_root(from: &Path, to: &Path) {
    let note = std::fs::read_to_string(from).expect("read checkpoint");
    let mut lines: Vec<String> = note.split('\n').map(str::to_string).collect();
    let mut root = BASE64.decode(&lines[2]).expect("the root line is base64");
    assert_eq!(root.len(), 32, "the root line holds a 32-byte hash");
    root[0] ^= 0x01;
    lines[2] = BASE64.encode(&root);
    let tampered = lines.join("\n");
    assert_ne!(tampered, note);
    std::fs::write(to, tampered).expect("write tampered checkpoint");
}

/// Writes a copy of a JSON proof file changed by `change`.
fn tamper_json(from: &Path, to: &Path, change: impl FnOnce(&mut Value)) {
    let mut proof: Value =
        serde_json::from_str(&std::fs::read_to_string(from).expect("read proof")).expect("JSON");
    let before = proof.clone();
    change(&mut proof);
    assert_ne!(proof, before, "the tampering changed nothing");
    std::fs::write(to, serde_json::to_string_pretty(&proof).expect("JSON")).expect("write");
}

/// Flips the lowest bit of the hex digit at `index` of a hex string.
fn flip_hex(text: &str, index: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    bytes[index] = match bytes[index] {
        b'0' => b'1',
        b'1' => b'0',
        other => {
            let value = (other as char).to_digit(16).expect("hex digit") ^ 1;
            char::from_digit(value, 16).expect("hex digit") as u8
        }
    };
    String::from_utf8(bytes).expect("hex is ASCII")
}

#[test]
fn cli_walks_the_demo_chain_from_reading_to_offline_proofs() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let node = Node::start(&data, Start::Demo).expect("start the demo node");
    let demo = data.join("demo");
    let provider_key = demo.join("health-provider.key");
    let consumer_key = demo.join("civil-consumer.key");
    let provider = key_show(&provider_key);
    let consumer = key_show(&consumer_key);

    // Step 1: node info, with the trusted-keys file written for later.
    let trusted = work.join("trusted.keys");
    let info = on(&node, &["node", "info", "--json", "--trusted-keys-out", arg(&trusted)])
        .assert_success()
        .json();
    assert_eq!(info["chain_id"], "cairn-demo", "node info: {info}");
    assert_eq!(info["origin"], "cairn.local/cairn-demo", "node info: {info}");
    let demo_height = as_u64(&info["height"]);
    assert!(demo_height >= 7, "the demo chain has only {demo_height} blocks: {info}");
    assert_hex(&info["state_root"], 64);
    let verifier_key = info["verifier_key"].as_str().expect("verifier key");
    assert!(verifier_key.starts_with("cairn.local/cairn-demo+"), "verifier key {verifier_key}");
    assert_eq!(
        std::fs::read_to_string(&trusted).expect("trusted keys file").trim(),
        verifier_key,
        "--trusted-keys-out wrote something other than the verifier key"
    );

    // Step 2: the demo asset.
    let asset = on(&node, &["asset", "show", ASSET, "--json"]).assert_success().json();
    assert_eq!(asset["asset_id"], ASSET);
    assert_eq!(asset["owner_organisation"], "dept-health", "asset: {asset}");
    assert_eq!(asset["owner_address"], provider["address"], "asset: {asset}");
    // The public sees how many are authorised, not who; the owner sees the list.
    assert!(asset["authorised"].is_null(), "asset: {asset}");
    assert_eq!(asset["authorised_count"], 1, "asset: {asset}");
    let owned = on(&node, &["asset", "show", ASSET, "--key", arg(&provider_key), "--json"])
        .assert_success()
        .json();
    assert_eq!(owned["authorised"], serde_json::json!([consumer["address"]]), "asset: {owned}");
    let versions = asset["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 1, "asset: {asset}");
    let csv = std::fs::read(demo.join("clinic-registry.csv")).expect("demo CSV");
    assert_eq!(versions[0]["version"], 1);
    assert_eq!(versions[0]["data_type"], "structured");
    assert_eq!(versions[0]["hash_algorithm"], "sha256");
    assert_eq!(versions[0]["content_hash"], sha256_hex(&csv), "content hash of the demo CSV");
    assert_eq!(versions[0]["size_bytes"], csv.len() as u64);
    assert_eq!(versions[0]["metadata"]["row_count"], 3);

    // Step 3: an identity.
    let identity =
        on(&node, &["identity", "show", consumer["address"].as_str().expect("address"), "--json"])
            .assert_success()
            .json();
    assert_eq!(identity["address"], consumer["address"]);
    assert_eq!(identity["organisation"], "dept-civil", "identity: {identity}");
    assert_eq!(identity["role"], "consumer", "identity: {identity}");
    assert_eq!(identity["signing_public_key"], consumer["signing_public_key"]);
    assert_eq!(identity["encryption_public_key"], consumer["encryption_public_key"]);
    let registered_in = as_u64(&identity["registered_in_block"]);
    assert!((1..demo_height).contains(&registered_in), "identity: {identity}");

    // Step 4: the transaction that published version 1.
    let publish_tx = versions[0]["tx_id"].as_str().expect("tx id").to_string();
    let tx = on(&node, &["tx", "show", &publish_tx, "--json"]).assert_success().json();
    assert_eq!(tx["tx_id"], publish_tx.as_str());
    assert_eq!(tx["block"], versions[0]["block"], "tx: {tx}");
    assert_eq!(tx["validation_code"], "valid", "tx: {tx}");
    assert_eq!(tx["type"], "publish_asset", "tx: {tx}");
    assert_eq!(tx["creator"], provider["address"], "tx: {tx}");
    assert_eq!(tx["payload"]["chain_id"], "cairn-demo", "tx: {tx}");
    assert_eq!(tx["payload"]["creator_address"], provider["address"], "tx: {tx}");
    let body = &tx["payload"]["body"]["publish_asset"];
    assert_eq!(body["asset_id"], ASSET, "tx: {tx}");
    assert_eq!(body["version"], 1, "tx: {tx}");
    assert_eq!(body["content_hash"], sha256_hex(&csv), "tx: {tx}");

    // Step 5: blocks, latest and genesis, and the hash chain between the last two.
    let latest = on(&node, &["block", "show", "latest", "--json"]).assert_success().json();
    assert_eq!(as_u64(&latest["number"]), demo_height - 1, "latest: {latest}");
    assert_eq!(latest["state_root"], info["state_root"], "latest: {latest}");
    assert_hex(&latest["hash"], 64);
    assert!(as_u64(&latest["tx_count"]) >= 1, "latest: {latest}");
    let before_latest = (demo_height - 2).to_string();
    let previous = on(&node, &["block", "show", &before_latest, "--json"]).assert_success().json();
    assert_eq!(previous["hash"], latest["previous_hash"], "the block hash chain is broken");
    let genesis = on(&node, &["block", "show", "0", "--json"]).assert_success().json();
    assert_eq!(genesis["number"], 0, "genesis: {genesis}");
    assert_eq!(genesis["previous_hash"], ZERO_HASH, "genesis: {genesis}");
    assert_eq!(genesis["tx_count"], 0, "genesis: {genesis}");
    assert_eq!(genesis["log_offset"], 0, "genesis: {genesis}");
    assert_eq!(genesis["log_size"], 0, "genesis: {genesis}");
    let _ = on(&node, &["block", "show", &demo_height.to_string(), "--json"])
        .assert_failure_with("NotFound");

    // A checkpoint of the demo chain, to prove consistency from later on.
    let old_checkpoint = work.join("checkpoint-old.txt");
    let old =
        on(&node, &["checkpoint", "--out", arg(&old_checkpoint), "--json"]).assert_success().json();
    assert_eq!(old["tree_size"], info["tree_size"], "checkpoint: {old}");
    assert_eq!(
        std::fs::read_to_string(&old_checkpoint).expect("checkpoint file"),
        old["signed_note"].as_str().expect("signed note"),
    );

    // Step 6: a new key file is private and never overwritten.
    let mine = work.join("analyst.key");
    let made = cairn(["key", "new", "--out", arg(&mine), "--json"]).assert_success().json();
    assert_hex(&made["address"], 40);
    let mode = std::fs::metadata(&mine).expect("key file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "cairn key new made a key file with mode {mode:o}");
    let key_text = std::fs::read_to_string(&mine).expect("key file");
    let _ = cairn(["key", "new", "--out", arg(&mine)]).assert_failure_with("exists");
    assert_eq!(std::fs::read_to_string(&mine).expect("key file"), key_text, "key overwritten");

    // Step 7: registration, endorsed by the CA organisation's key.
    let ca_org_key = demo.join("org-ca.key");
    let register = |key: &Path, endorser: &Path, endorser_org: Option<&str>| {
        let mut args = vec![
            "identity",
            "register",
            "--key",
            arg(key),
            "--name",
            "Test analyst",
            "--org",
            "dept-civil",
            "--role",
            "consumer",
            "--endorser-key",
            arg(endorser),
            "--json",
        ];
        if let Some(org) = endorser_org {
            args.extend(["--endorser-org", org]);
        }
        on(&node, &args)
    };
    let registered = register(&mine, &ca_org_key, None).assert_success().json();
    assert_eq!(registered["validation_code"], "valid", "register: {registered}");
    let shown = on(&node, &["identity", "show", made["address"].as_str().expect("a"), "--json"])
        .assert_success()
        .json();
    assert_eq!(shown["organisation"], "dept-civil", "identity: {shown}");
    assert_eq!(shown["role"], "consumer", "identity: {shown}");
    assert_eq!(shown["name"], "Test analyst", "identity: {shown}");
    assert_eq!(shown["registered_by_tx"], registered["tx_id"], "identity: {shown}");
    assert_eq!(shown["registered_in_block"], registered["block"], "identity: {shown}");

    // Step 8: refused registrations change nothing.
    let root_after_register = node_info(&node)["state_root"].clone();
    let _ = refused(&register(&mine, &ca_org_key, None), "already_registered");
    let stranger = work.join("stranger.key");
    let stranger_view =
        cairn(["key", "new", "--out", arg(&stranger), "--json"]).assert_success().json();
    let civil_org_key = demo.join("org-dept-civil.key");
    let _ = refused(
        &register(&stranger, &civil_org_key, Some("dept-civil")),
        "endorsement_policy_failure",
    );
    let _ = on(&node, &["identity", "show", stranger_view["address"].as_str().expect("a")])
        .assert_failure_with("NotFound");
    assert_eq!(
        node_info(&node)["state_root"],
        root_after_register,
        "refused registrations changed the state root"
    );

    // Step 9: the provider publishes version 2 from a file.
    let v2_file = work.join("clinic-registry-v2.csv");
    let v2_content =
        format!("{}C-004,Hilltop Clinic,West,2029-01-31\n", String::from_utf8_lossy(&csv));
    std::fs::write(&v2_file, &v2_content).expect("write v2");
    let v2 = on(
        &node,
        &[
            "asset",
            "publish",
            "--key",
            arg(&provider_key),
            "--asset-id",
            ASSET,
            "--file",
            arg(&v2_file),
            "--data-type",
            "structured",
            "--metadata",
            r#"{"row_count":4}"#,
            "--json",
        ],
    )
    .assert_success()
    .json();
    assert_eq!(v2["validation_code"], "valid", "publish: {v2}");
    let asset = on(&node, &["asset", "show", ASSET, "--json"]).assert_success().json();
    let versions = asset["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 2, "asset after publishing version 2: {asset}");
    assert_eq!(versions[1]["version"], 2, "asset: {asset}");
    assert_eq!(versions[1]["tx_id"], v2["tx_id"], "asset: {asset}");
    assert_eq!(versions[1]["content_hash"], sha256_hex(v2_content.as_bytes()), "asset: {asset}");
    assert_eq!(versions[1]["size_bytes"], v2_content.len() as u64, "asset: {asset}");
    assert_eq!(versions[1]["metadata"]["row_count"], 4, "asset: {asset}");
    let info_v2 = node_info(&node);
    assert_ne!(info_v2["state_root"], root_after_register, "a valid publish left the state root");

    // Step 10: refused publishes and sharing change nothing but the height.
    let publish = |key: &Path, version: Option<&str>| {
        let mut args = vec![
            "asset",
            "publish",
            "--key",
            arg(key),
            "--asset-id",
            ASSET,
            "--file",
            arg(&v2_file),
            "--json",
        ];
        if let Some(version) = version {
            args.extend(["--version", version]);
        }
        on(&node, &args)
    };
    let not_owner = refused(&publish(&consumer_key, None), "not_owner");
    let rejected_tx = not_owner["tx_id"].as_str().expect("tx id").to_string();
    let _ = refused(&publish(&provider_key, Some("1")), "version_conflict");
    let share = on(
        &node,
        &[
            "asset",
            "share",
            "--key",
            arg(&consumer_key),
            "--asset-id",
            ASSET,
            "--authorise",
            consumer["address"].as_str().expect("a"),
            "--authorise",
            made["address"].as_str().expect("a"),
            "--json",
        ],
    );
    let refused_share = refused(&share, "not_owner");
    // A sharing rule's list is not for the public: tx show leaves it out, and
    // the inclusion proof (whose leaf holds the envelope) is refused; an
    // identity it names, signing its read, sees it.
    let share_tx = refused_share["tx_id"].as_str().expect("tx id").to_string();
    let hidden = on(&node, &["tx", "show", &share_tx, "--json"]).assert_success().json();
    assert!(
        hidden["payload"]["authorised"].as_str().is_some_and(|t| t.starts_with("hidden")),
        "tx: {hidden}"
    );
    let seen = on(&node, &["tx", "show", &share_tx, "--key", arg(&consumer_key), "--json"])
        .assert_success()
        .json();
    assert!(
        seen["payload"].to_string().contains(consumer["address"].as_str().expect("a")),
        "{seen}"
    );
    let proof =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt").block_on(
            async {
                cairn_tests::connect(&node.url())
                    .await
                    .expect("connect")
                    .get_inclusion_proof(pb::GetInclusionProofRequest {
                        tx_id: share_tx.clone(),
                        tree_size: 0,
                        quorum: false,
                    })
                    .await
            },
        );
    let refusal = proof.expect_err("the proof of a hidden sharing rule was served");
    assert_eq!(refusal.code(), tonic::Code::PermissionDenied, "{refusal:?}");
    let info_after = node_info(&node);
    assert_eq!(
        info_after["state_root"], info_v2["state_root"],
        "refused transactions changed state"
    );
    assert_eq!(
        as_u64(&info_after["height"]),
        as_u64(&info_v2["height"]) + 3,
        "each refused transaction should still be recorded in its own block"
    );
    let asset_after = on(&node, &["asset", "show", ASSET, "--json"]).assert_success().json();
    assert_eq!(asset_after, asset, "refused transactions changed the asset");
    let rejected = on(&node, &["tx", "show", &rejected_tx, "--json"]).assert_success().json();
    assert_eq!(rejected["validation_code"], "not_owner", "tx: {rejected}");

    // Step 11: checkpoint and proofs, fetched while the node runs.
    let checkpoint = work.join("checkpoint.txt");
    let _ = on(&node, &["checkpoint", "--out", arg(&checkpoint)]).assert_success();
    let proof = work.join("proof.json");
    let v2_tx = v2["tx_id"].as_str().expect("tx id");
    let _ = on(
        &node,
        &["proof", "inclusion", v2_tx, "--checkpoint", arg(&checkpoint), "--out", arg(&proof)],
    )
    .assert_success();
    let rejected_proof = work.join("proof-rejected.json");
    let _ = on(
        &node,
        &[
            "proof",
            "inclusion",
            &rejected_tx,
            "--checkpoint",
            arg(&checkpoint),
            "--out",
            arg(&rejected_proof),
        ],
    )
    .assert_success();
    let new_checkpoint = work.join("checkpoint-new.txt");
    let consistency = work.join("consistency.json");
    let _ = on(
        &node,
        &[
            "proof",
            "consistency",
            "--from",
            arg(&old_checkpoint),
            "--checkpoint-out",
            arg(&new_checkpoint),
            "--out",
            arg(&consistency),
        ],
    )
    .assert_success();

    // Step 12: everything below runs offline.
    let _ = node.stop_cleanly();

    let proved = assert_verifies(&verify(&proof, &checkpoint, &trusted));
    assert_eq!(proved["tx_id"], v2_tx, "proved: {proved}");
    assert_eq!(proved["block"], v2["block"], "proved: {proved}");
    assert_eq!(proved["validation_code"], "valid", "proved: {proved}");
    assert_eq!(proved["type"], "publish_asset", "proved: {proved}");
    assert_eq!(proved["creator"], provider["address"], "proved: {proved}");
    assert_eq!(proved["valid"], true, "proved: {proved}");
    // The inclusion of a refused transaction verifies too, and says it was refused.
    let proved = assert_verifies(&verify(&rejected_proof, &checkpoint, &trusted));
    assert_eq!(proved["tx_id"], rejected_tx.as_str(), "proved: {proved}");
    assert_eq!(proved["validation_code"], "not_owner", "proved: {proved}");
    assert_eq!(proved["valid"], false, "proved: {proved}");

    // One byte of the leaf (inside the envelope).
    let bad = work.join("bad-leaf.json");
    tamper_json(&proof, &bad, |p| {
        let mut leaf = BASE64.decode(p["leaf"].as_str().expect("leaf")).expect("base64 leaf");
        let middle = leaf.len() / 2;
        leaf[middle] ^= 0x01;
        p["leaf"] = BASE64.encode(&leaf).into();
    });
    assert_rejected(&verify(&bad, &checkpoint, &trusted), "inclusion proof");
    // The leaf's validation code, rewritten to claim a refused transaction was valid.
    let bad = work.join("bad-code.json");
    tamper_json(&rejected_proof, &bad, |p| {
        let mut leaf = BASE64.decode(p["leaf"].as_str().expect("leaf")).expect("base64 leaf");
        leaf[12..14].copy_from_slice(&1u16.to_be_bytes());
        p["leaf"] = BASE64.encode(&leaf).into();
    });
    assert_rejected(&verify(&bad, &checkpoint, &trusted), "inclusion proof");
    // One proof hash.
    let bad = work.join("bad-hash.json");
    tamper_json(&proof, &bad, |p| {
        let hash = p["hashes"][0].as_str().expect("a proof hash").to_string();
        p["hashes"][0] = flip_hex(&hash, 10).into();
    });
    assert_rejected(&verify(&bad, &checkpoint, &trusted), "inclusion proof");
    // The checkpoint's root line.
    let bad_checkpoint = work.join("bad-checkpoint.txt");
    tamper_checkpoint_root(&checkpoint, &bad_checkpoint);
    assert_rejected(&verify(&proof, &bad_checkpoint, &trusted), "checkpoint signature");
    // A trusted-keys file holding another key for the same origin.
    let other_keys = work.join("other.keys");
    let other = NoteSigner::new("cairn.local/cairn-demo", [42; 32]).expect("signer");
    std::fs::write(&other_keys, format!("{}\n", other.verifier_key())).expect("write keys");
    assert_rejected(&verify(&proof, &checkpoint, &other_keys), "checkpoint signature");

    // Consistency from the demo checkpoint to the new one.
    let proved = assert_verifies(&verify(&consistency, &new_checkpoint, &trusted));
    assert_eq!(proved["old_size"], old["tree_size"], "proved: {proved}");
    assert!(
        as_u64(&proved["new_size"]) > as_u64(&proved["old_size"]),
        "the tree did not grow: {proved}"
    );
    let bad_new = work.join("bad-new-checkpoint.txt");
    tamper_checkpoint_root(&new_checkpoint, &bad_new);
    assert_rejected(&verify(&consistency, &bad_new, &trusted), "checkpoint signature");
    let bad = work.join("bad-consistency.json");
    tamper_json(&consistency, &bad, |p| {
        let hash = p["hashes"][0].as_str().expect("a proof hash").to_string();
        p["hashes"][0] = flip_hex(&hash, 3).into();
    });
    assert_rejected(&verify(&bad, &new_checkpoint, &trusted), "consistency proof");
}

#[test]
fn grpc_edge_rejects_garbage_and_oversized_envelopes_without_logging_them() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("data");
    let node = Node::start(&data, Start::Demo).expect("start the demo node");
    let provider = KeyPair::load(&data.join("demo").join("health-provider.key")).expect("key");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    runtime.block_on(async {
        let mut client = cairn_tests::connect(&node.url()).await.expect("connect");
        let info = |info: pb::NodeInfo| (info.height, info.tree_size, info.state_root);
        let before =
            info(client.get_node_info(pb::GetNodeInfoRequest {}).await.expect("info").into_inner());

        let valid =
            publish_envelope("cairn-demo", &provider, "edge/asset", 1, b"{}".to_vec(), b"n1");
        let garbage: Vec<(&str, Vec<u8>)> = vec![
            ("random bytes", b"\xff\xfe\xfd this is not a protobuf envelope \x00\x01".to_vec()),
            ("an empty envelope", Vec::new()),
            ("a truncated envelope", valid.bytes[..valid.bytes.len() / 2].to_vec()),
        ];
        for (what, envelope) in garbage {
            let status = client
                .submit(pb::SubmitRequest { envelope })
                .await
                .expect_err(&format!("{what} was accepted"));
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{what}: {status:?}");
            assert!(status.message().contains("malformed"), "{what}: {status:?}");
        }

        // A correctly signed envelope of 1.5 MiB, larger than the 1 MiB limit.
        let big = publish_envelope(
            "cairn-demo",
            &provider,
            "edge/big",
            1,
            vec![b'x'; 3 * 512 * 1024],
            b"n2",
        );
        assert!(
            big.bytes.len() > 1536 * 1024,
            "the big envelope is only {} bytes",
            big.bytes.len()
        );
        let status = client
            .submit(pb::SubmitRequest { envelope: big.bytes })
            .await
            .expect_err("a 1.5 MiB envelope was accepted");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("limit") && status.message().contains("1048576"),
            "the refusal does not name the size limit: {status:?}"
        );
        let lookup = client
            .get_transaction(pb::GetTransactionRequest { tx_id: big.tx_id.clone() })
            .await
            .expect_err("the oversized transaction is in the ledger");
        assert_eq!(lookup.code(), tonic::Code::NotFound, "{lookup:?}");

        let after =
            info(client.get_node_info(pb::GetNodeInfoRequest {}).await.expect("info").into_inner());
        assert_eq!(after, before, "rejected envelopes changed the height, tree or state");

        // The node still commits a well-formed transaction on the same connection.
        let response = client
            .submit(pb::SubmitRequest { envelope: valid.bytes })
            .await
            .expect("submit a valid envelope")
            .into_inner();
        assert_eq!(response.validation_code, cairn_tests::VALID, "{response:?}");
        assert_eq!(response.tx_id, valid.tx_id);
        let after =
            client.get_node_info(pb::GetNodeInfoRequest {}).await.expect("info").into_inner();
        assert_eq!(after.height, before.0 + 1, "a valid submission should add one block");
    });
    // Dropping the runtime closes the client's connection; a connected client
    // that is never polled again would hold up the node's graceful shutdown.
    drop(runtime);
    let _ = node.stop_cleanly();
}

#[test]
fn up_refuses_a_missing_genesis_a_different_genesis_and_a_locked_log() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let limit = Duration::from_secs(30);

    let empty = tmp.path().join("empty");
    let out =
        cairn_with_timeout(["up", "--data-dir", arg(&empty), "--listen", "127.0.0.1:0"], limit);
    let _ = out.assert_failure_with("--genesis");
    assert!(!out.stdout.contains("listening on"), "{}", out.describe());

    let data = tmp.path().join("data");
    let node = Node::start(&data, Start::Demo).expect("start the demo node");
    let second =
        cairn_with_timeout(["up", "--data-dir", arg(&data), "--listen", "127.0.0.1:0"], limit);
    let _ = second.assert_failure_with("in use");
    assert!(!second.stdout.contains("listening on"), "{}", second.describe());
    // The first node is unaffected.
    assert_eq!(node_info(&node)["chain_id"], "cairn-demo");
    let _ = node.stop_cleanly();

    // Another consortium's genesis does not fit this data directory.
    let other = tmp.path().join("other");
    let _ = genesis_new("other", &other);
    let out = cairn_with_timeout(
        [
            "up",
            "--data-dir",
            arg(&data),
            "--listen",
            "127.0.0.1:0",
            "--genesis",
            arg(&other.join("genesis.json")),
        ],
        limit,
    );
    let _ = out.assert_failure_with("different genesis");
    // The ledger is intact: it starts again without a genesis.
    let node = Node::start(&data, Start::Existing).expect("restart the demo node");
    assert_eq!(node_info(&node)["chain_id"], "cairn-demo");
    let _ = node.stop_cleanly();
}
