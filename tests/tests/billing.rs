//! Commercial verifiers, end to end against a running `cairn up --demo`:
//! accounts opened and topped up by the hub operator, verification queries
//! metered from the access-event stream, prepaid balances and rate limits
//! enforced before service, statements that add up, survive a restart and a
//! SIGKILL, and verify offline with their proofs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use access_control::keys::KeyPair;
use cairn_tests::{CliOutput, Node, Start, arg, cairn, now_ms, runtime, verify_data_hash_many};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tonic::Code;

const ASSET: &str = "health/clinic-registry";

/// The calendar month (UTC) of now, YYYY-MM.
fn this_month() -> String {
    asset_registry::billing::Month::of_ms(now_ms()).to_string()
}

/// The demo consortium and the paths a test needs.
struct World {
    dir: tempfile::TempDir,
    data: PathBuf,
    node: Option<Node>,
    content_hash: Vec<u8>,
}

impl World {
    fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("node");
        let node = Node::start(&data, Start::Demo).unwrap();
        let csv = std::fs::read(data.join("demo/clinic-registry.csv")).unwrap();
        World { content_hash: Sha256::digest(&csv).to_vec(), dir, data, node: Some(node) }
    }

    fn node(&self) -> &Node {
        self.node.as_ref().unwrap()
    }

    fn url(&self) -> String {
        self.node().url()
    }

    fn demo_key(&self, name: &str) -> PathBuf {
        self.data.join("demo").join(format!("{name}.key"))
    }

    /// `cairn ARGS --node URL`.
    fn on(&self, args: &[&str]) -> CliOutput {
        let url = self.url();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--node", &url]);
        cairn(all)
    }

    /// A new identity of `organisation` with `role`, registered through the CLI.
    fn register(&self, name: &str, organisation: &str, role: &str) -> (PathBuf, KeyPair) {
        let path = self.dir.path().join(format!("{name}.key"));
        cairn(["key", "new", "--out", arg(&path)]).assert_success();
        let ca = self.demo_key("org-ca");
        // A node is also endorsed by its own organisation's key.
        let own = self.demo_key(&format!("org-{organisation}"));
        let mut args = vec![
            "identity",
            "register",
            "--key",
            arg(&path),
            "--name",
            name,
            "--org",
            organisation,
            "--role",
            role,
            "--endorser-key",
            arg(&ca),
        ];
        if role == "node" {
            args.extend(["--org-key", arg(&own)]);
        }
        self.on(&args).assert_success();
        let pair = KeyPair::load(&path).unwrap();
        (path, pair)
    }

    /// Opens an account (as the CA officer: the demo's hub operator is the CA).
    fn open(&self, holder: &KeyPair, plan: &[&str]) {
        let holder = holder.address().to_string();
        let officer = self.demo_key("hub-operator");
        let mut args =
            vec!["billing", "account", "open", "--holder", &holder, "--key", arg(&officer)];
        args.extend(plan);
        self.on(&args).assert_success();
    }

    fn top_up(&self, holder: &KeyPair, amount: u64) {
        let holder = holder.address().to_string();
        let amount = amount.to_string();
        let officer = self.demo_key("hub-operator");
        self.on(&[
            "billing",
            "account",
            "top-up",
            "--holder",
            &holder,
            "--amount",
            &amount,
            "--reference",
            "test",
            "--key",
            arg(&officer),
        ])
        .assert_success();
    }

    /// `cairn billing statement --json` of `holder` this month, read with `key`.
    fn statement(&self, holder: &KeyPair, key: &Path, proofs: Option<&Path>) -> Value {
        let holder = holder.address().to_string();
        let month = this_month();
        let mut args = vec![
            "billing",
            "statement",
            "--verifier",
            &holder,
            "--month",
            &month,
            "--key",
            arg(key),
            "--json",
        ];
        if let Some(out) = proofs {
            args.extend(["--proofs", "--out", arg(out)]);
        }
        self.on(&args).assert_success().json()
    }

    fn account(&self, holder: &KeyPair, key: &Path) -> Value {
        let holder = holder.address().to_string();
        self.on(&["billing", "account", "show", "--holder", &holder, "--key", arg(key), "--json"])
            .assert_success()
            .json()
    }

    fn trusted_keys(&self) -> PathBuf {
        let path = self.dir.path().join("trusted.keys");
        self.on(&["node", "info", "--trusted-keys-out", arg(&path)]).assert_success();
        path
    }
}

fn line_ids(statement: &Value) -> Vec<String> {
    statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["event_id"].as_str().unwrap().to_string())
        .collect()
}

/// The statement without what legitimately differs between two readings (the proofs).
fn essentials(statement: &Value) -> Value {
    let mut statement = statement.clone();
    let object = statement.as_object_mut().unwrap();
    let _ = object.remove("checkpoint");
    for line in object["lines"].as_array_mut().unwrap() {
        let _ = line.as_object_mut().unwrap().remove("proof");
    }
    for plan in object["plans"].as_array_mut().unwrap() {
        let _ = plan.as_object_mut().unwrap().remove("proof");
    }
    statement
}

#[test]
fn concurrent_verifiers_are_metered_once_and_their_statements_check_offline() {
    let mut world = World::start();
    let (postpaid_key, postpaid) = world.register("postpaid", "verifier-co", "verifier");
    let (prepaid_key, prepaid) = world.register("prepaid", "verifier-co", "verifier");
    let (_, free) = world.register("public-desk", "verifier-co", "verifier");
    world.open(
        &postpaid,
        &["--payment", "postpaid", "--price-per-query", "3", "--free-queries", "2"],
    );
    world.open(&prepaid, &["--price-per-query", "7", "--currency", "EUR"]);
    world.top_up(&prepaid, 10_000);
    let runtime = runtime();
    const N: usize = 60;
    let url = world.url();
    let results = runtime.block_on(async {
        let (a, b, c) = tokio::join!(
            verify_data_hash_many(&url, &postpaid, ASSET, &world.content_hash, N, 16),
            verify_data_hash_many(&url, &prepaid, ASSET, &world.content_hash, N, 16),
            verify_data_hash_many(&url, &free, ASSET, &world.content_hash, N, 16),
        );
        [a, b, c]
    });
    for (who, results) in ["postpaid", "prepaid", "free"].iter().zip(&results) {
        let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert!(refused.is_empty(), "{who}: refused {refused:?}");
    }

    let auditor = world.demo_key("auditor");
    let postpaid_statement = world.statement(&postpaid, &postpaid_key, None);
    assert_eq!(postpaid_statement["lines"].as_array().unwrap().len(), N);
    assert_eq!(postpaid_statement["total"], 3 * (N as u64 - 2), "{postpaid_statement:#}");
    let amounts: Vec<u64> = postpaid_statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount"].as_u64().unwrap())
        .collect();
    assert_eq!(&amounts[..3], &[0, 0, 3], "the first two queries of the month are free");
    let answered: BTreeSet<String> =
        results[0].iter().map(|r| r.as_ref().unwrap().clone()).collect();
    let billed: BTreeSet<String> = line_ids(&postpaid_statement).into_iter().collect();
    assert_eq!(answered, billed, "every answered query is billed once, and nothing else");

    // The prepaid statement, read by an auditor, with proofs, checked offline.
    let file = world.dir.path().join("prepaid-statement.json");
    let prepaid_statement = world.statement(&prepaid, &auditor, Some(&file));
    assert_eq!(prepaid_statement["total"], 7 * N as u64);
    let account = world.account(&prepaid, &prepaid_key);
    assert_eq!(account["charged"], 7 * N as u64);
    assert_eq!(account["balance"], 10_000 - 7 * N as i64);
    let trusted = world.trusted_keys();
    let checked =
        cairn(["billing", "check", arg(&file), "--trusted-keys", arg(&trusted), "--json"]);
    let report = checked.assert_success().json();
    assert_eq!(report["valid"], true, "{report:#}");
    assert!(report["checks"].as_array().unwrap().len() > 2 * N);

    // Billed for more than was recorded, or with a line taken out: refused, naming the line.
    let text = std::fs::read_to_string(&file).unwrap();
    let mut inflated: Value = serde_json::from_str(&text).unwrap();
    inflated["lines"][4]["amount"] = 8.into();
    inflated["lines"][4]["query_amount"] = 8.into();
    inflated["total"] = (7 * N as u64 + 1).into();
    let inflated_path = world.dir.path().join("inflated.json");
    std::fs::write(&inflated_path, inflated.to_string()).unwrap();
    let _ = cairn(["billing", "check", arg(&inflated_path), "--trusted-keys", arg(&trusted)])
        .assert_failure_with("line 5")
        .assert_failure_with("the plan gives 7 + 0 = 7");
    let mut forged: Value = serde_json::from_str(&text).unwrap();
    forged["lines"][2]["bytes"] = 4096.into();
    let forged_path = world.dir.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let _ = cairn(["billing", "check", arg(&forged_path), "--trusted-keys", arg(&trusted)])
        .assert_failure_with("line 3: the logged event");

    // A free identity: metered, not charged, and it has no statement.
    let usage = world
        .on(&[
            "billing",
            "usage",
            "--verifier",
            &free.address().to_string(),
            "--key",
            arg(&auditor),
            "--json",
        ])
        .assert_success()
        .json();
    assert_eq!(usage["currency"], "");
    let verified = usage["counters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "verify" && c["decision"] == "allowed")
        .unwrap_or_else(|| panic!("no verify counter in {usage:#}"));
    assert_eq!(verified["events"], N as u64);
    // Another verifier may not read a competitor's bill; the refusal is recorded.
    let _ = world
        .on(&[
            "billing",
            "statement",
            "--verifier",
            &prepaid.address().to_string(),
            "--month",
            &this_month(),
            "--key",
            arg(&postpaid_key),
        ])
        .assert_failure_with("only");

    // After a restart the meter is rebuilt from the log: the same statements to the minor unit.
    let before = [essentials(&postpaid_statement), essentials(&prepaid_statement)];
    let node = world.node.take().unwrap();
    let _ = node.stop_cleanly();
    world.node = Some(Node::start(&world.data, Start::Existing).unwrap());
    let after = [
        essentials(&world.statement(&postpaid, &postpaid_key, None)),
        essentials(&world.statement(&prepaid, &auditor, None)),
    ];
    assert_eq!(before, after, "the restarted node bills differently");
}

#[test]
fn a_prepaid_balance_running_out_in_a_burst_serves_nothing_past_it() {
    let world = World::start();
    let (key_path, holder) = world.register("tight", "verifier-co", "verifier");
    world.open(&holder, &["--price-per-query", "10", "--payment", "prepaid"]);
    world.top_up(&holder, 95);
    let runtime = runtime();
    let results = runtime.block_on(verify_data_hash_many(
        &world.url(),
        &holder,
        ASSET,
        &world.content_hash,
        40,
        20,
    ));
    let served: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(served.len(), 9, "95 covers nine queries at 10");
    for refusal in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(refusal.code(), Code::ResourceExhausted, "{refusal:?}");
        assert!(
            refusal.message().contains("prepaid balance of 5 EUR")
                && refusal.message().contains("price of 10 EUR")
                && refusal.message().contains("(access event "),
            "{}",
            refusal.message()
        );
    }
    let statement = world.statement(&holder, &key_path, None);
    assert_eq!(statement["total"], 90);
    assert_eq!(line_ids(&statement).len(), 9);
    let account = world.account(&holder, &key_path);
    assert_eq!((account["charged"].as_u64(), account["balance"].as_i64()), (Some(90), Some(5)));
    // Each refusal is an access event of its own, denied with the reason.
    let auditor = world.demo_key("auditor");
    let denied = world
        .on(&[
            "audit",
            "events",
            "--identity",
            &holder.address().to_string(),
            "--decision",
            "denied",
            "--limit",
            "100000",
            "--key",
            arg(&auditor),
            "--json",
        ])
        .assert_success()
        .json();
    let denied = denied.as_array().unwrap();
    assert_eq!(denied.len(), 31);
    assert!(denied.iter().all(|e| e["reason"].as_str().unwrap().contains("does not cover")));

    // A top-up lets it go on.
    world.top_up(&holder, 100);
    let results = runtime.block_on(verify_data_hash_many(
        &world.url(),
        &holder,
        ASSET,
        &world.content_hash,
        12,
        4,
    ));
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 10);
    assert_eq!(world.statement(&holder, &key_path, None)["total"], 190);
}

#[test]
fn over_the_rate_limit_a_verifier_is_told_when_to_retry() {
    let world = World::start();
    let (key_path, holder) = world.register("hasty", "verifier-co", "verifier");
    world.open(&holder, &["--payment", "postpaid", "--price-per-query", "1", "--rate-limit", "5"]);
    let runtime = runtime();
    let started = Instant::now();
    let results = runtime.block_on(verify_data_hash_many(
        &world.url(),
        &holder,
        ASSET,
        &world.content_hash,
        20,
        20,
    ));
    let elapsed = started.elapsed();
    let served = results.iter().filter(|r| r.is_ok()).count();
    // A full bucket of five, plus what refilled while the burst ran.
    let most = 5 + (elapsed.as_secs_f64() * 5.0).ceil() as usize;
    assert!((5..=most).contains(&served), "{served} served in {elapsed:?}");
    let refusal = results.iter().find_map(|r| r.as_ref().err()).expect("some are refused");
    assert_eq!(refusal.code(), Code::ResourceExhausted);
    assert!(
        refusal.message().contains("rate limit of 5 requests per second exceeded; retry in "),
        "{}",
        refusal.message()
    );
    let retry_ms: u64 = refusal
        .metadata()
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a retry-after-ms header");
    assert!((1..=200).contains(&retry_ms), "retry after {retry_ms} ms");
    std::thread::sleep(Duration::from_millis(retry_ms + 250));
    let again = runtime.block_on(verify_data_hash_many(
        &world.url(),
        &holder,
        ASSET,
        &world.content_hash,
        1,
        1,
    ));
    assert!(again[0].is_ok(), "{:?}", again[0]);
    // Refused requests are not billed.
    assert_eq!(world.statement(&holder, &key_path, None)["total"], served as u64 + 1);
}

#[test]
fn a_download_is_billed_by_its_bytes() {
    let world = World::start();
    let consumer_key = world.demo_key("civil-consumer");
    let consumer = KeyPair::load(&consumer_key).unwrap();
    // A department under a traffic plan: 100 per MiB after 1 free MiB, post-paid.
    world.open(&consumer, &["--payment", "postpaid", "--price-per-mib", "100", "--free-mib", "1"]);
    let input = world.dir.path().join("register.bin");
    let content: Vec<u8> = (0..3 * 1024 * 1024 + 12_345).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(&input, &content).unwrap();
    let data = world.data.clone();
    cairn([
        "share",
        "create",
        "register",
        "--asset-id",
        "health/register",
        "--key",
        arg(&world.demo_key("health-provider")),
        "--file",
        arg(&input),
        "--format",
        "raw",
        "--authorise",
        &consumer.address().to_string(),
        "--data-dir",
        arg(&data),
    ])
    .assert_success();
    world.on(&["sync", "register", "--data-dir", arg(&data)]).assert_success();
    let output = world.dir.path().join("fetched.bin");
    world
        .on(&[
            "data",
            "fetch",
            "health/register",
            "--key",
            arg(&consumer_key),
            "--out",
            arg(&output),
        ])
        .assert_success();
    assert_eq!(std::fs::read(&output).unwrap(), content);
    let statement = world.statement(&consumer, &consumer_key, None);
    let lines = statement["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{statement:#}");
    let bytes = lines[0]["bytes"].as_u64().unwrap();
    assert!(bytes > content.len() as u64, "the sealed object is served: {bytes} bytes");
    let mib = 1u64 << 20;
    assert_eq!(lines[0]["traffic_amount"].as_u64().unwrap(), ((bytes - mib) * 100).div_ceil(mib));
    assert_eq!(statement["total"], lines[0]["amount"]);
}

#[test]
fn a_node_killed_during_a_burst_bills_every_answered_query_once() {
    const BURST: usize = 5000;
    let mut world = World::start();
    let (key_path, holder) = world.register("steady", "verifier-co", "verifier");
    world
        .open(&holder, &["--payment", "postpaid", "--price-per-query", "2", "--free-queries", "5"]);
    let runtime = runtime();
    let url = world.url();
    let hash = world.content_hash.clone();
    let burst = runtime.spawn({
        let holder = KeyPair::load(&key_path).unwrap();
        async move { verify_data_hash_many(&url, &holder, ASSET, &hash, BURST, 32).await }
    });
    // Let some be answered, then kill the node in the middle of the burst.
    std::thread::sleep(Duration::from_millis(300));
    let node = world.node.take().unwrap();
    let _ = node.kill().unwrap();
    let results = runtime.block_on(burst).unwrap();
    let answered: BTreeSet<String> =
        results.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    assert!(!answered.is_empty() && answered.len() < BURST, "{} answered", answered.len());
    world.node = Some(Node::start(&world.data, Start::Existing).unwrap());
    let file = world.dir.path().join("after-crash.json");
    let statement = world.statement(&holder, &key_path, Some(&file));
    let ids = line_ids(&statement);
    let billed: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(billed.len(), ids.len(), "an event is billed twice");
    assert!(answered.is_subset(&billed), "an answered query is not billed");
    // What was logged but not answered (the crash cut the reply) is billed too, and no more.
    let auditor = world.demo_key("auditor");
    let logged = world
        .on(&[
            "audit",
            "events",
            "--identity",
            &holder.address().to_string(),
            "--decision",
            "allowed",
            "--limit",
            "100000",
            "--key",
            arg(&auditor),
            "--json",
        ])
        .assert_success()
        .json();
    let logged: BTreeSet<String> = logged
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "verify")
        .map(|e| e["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(billed, logged);
    assert_eq!(statement["total"], 2 * (ids.len() as u64).saturating_sub(5));
    let trusted = world.trusted_keys();
    let _ =
        cairn(["billing", "check", arg(&file), "--trusted-keys", arg(&trusted)]).assert_success();
}

/// Runs `cairn billing check` on `statement` written to `name`.
fn check_statement(world: &World, trusted: &Path, name: &str, statement: &Value) -> CliOutput {
    let path = world.dir.path().join(name);
    std::fs::write(&path, statement.to_string()).unwrap();
    cairn(["billing", "check", arg(&path), "--trusted-keys", arg(trusted), "--json"])
}

/// Renumbers a statement's lines 1..n and sets its total to their sum.
fn renumbered(mut statement: Value) -> Value {
    let lines = statement["lines"].as_array_mut().unwrap();
    let mut total = 0;
    for (idx, line) in lines.iter_mut().enumerate() {
        line["number"] = (idx as u64 + 1).into();
        total += line["amount"].as_u64().unwrap();
    }
    statement["total"] = total.into();
    statement
}

/// The text of a signed note signed again, under the same key name, by a new key.
fn resigned(note: &str) -> String {
    let split = note.rfind("\n\n").unwrap();
    let (text, signature) = (&note[..=split], &note[split + 2..]);
    let name = signature.strip_prefix("\u{2014} ").unwrap().split(' ').next().unwrap();
    let key = KeyPair::generate().unwrap();
    anchor_chaincode::checkpoint::NoteSigner::new(name, *key.signing_key().as_bytes())
        .unwrap()
        .sign_note(text)
        .unwrap()
}

#[test]
fn made_up_evidence_and_edited_statements_are_refused_offline() {
    let world = World::start();
    let (_, verifier) = world.register("checked", "verifier-co", "verifier");
    world.open(
        &verifier,
        &["--payment", "postpaid", "--price-per-query", "3", "--free-queries", "2"],
    );
    let url = world.url();
    const N: usize = 5;
    let answered = runtime().block_on(verify_data_hash_many(
        &url,
        &verifier,
        ASSET,
        &world.content_hash,
        N,
        1,
    ));
    assert!(answered.iter().all(Result::is_ok), "{answered:?}");
    let auditor = world.demo_key("auditor");
    let file = world.dir.path().join("statement.json");
    let _ = world.statement(&verifier, &auditor, Some(&file));
    let trusted = world.trusted_keys();
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let report = check_statement(&world, &trusted, "original.json", &original);
    assert_eq!(report.assert_success().json()["valid"], true);

    // A line duplicated (renumbered, the total made to match): refused.
    let mut duplicated = original.clone();
    let copy = duplicated["lines"][3].clone();
    duplicated["lines"].as_array_mut().unwrap().insert(4, copy);
    let _ = check_statement(&world, &trusted, "duplicated.json", &renumbered(duplicated))
        .assert_failure_with("already billed by line 4");
    // A line removed: its number is missing, or (renumbered) the charges no
    // longer follow from the plan's free queries.
    let mut removed = original.clone();
    let _ = removed["lines"].as_array_mut().unwrap().remove(0);
    let _ = check_statement(&world, &trusted, "gap.json", &removed)
        .assert_failure_with("line 2 is at position 1");
    let _ = check_statement(&world, &trusted, "removed.json", &renumbered(removed))
        .assert_failure_with("the plan gives 0 + 0 = 0");

    // Every charge still follows from the plan, but the lines are not the
    // ones the node signed: refused by the signed statement note.
    let mut cut = original.clone();
    let _ = cut["lines"].as_array_mut().unwrap().pop();
    let _ = check_statement(&world, &trusted, "cut.json", &renumbered(cut))
        .assert_failure_with("signed statement: the node signed lines 5, the file has 4")
        .assert_failure_with("the node signed total 9, the file has 6");
    let mut equal_price_removed = original.clone();
    let _ = equal_price_removed["lines"].as_array_mut().unwrap().remove(3);
    let _ = check_statement(
        &world,
        &trusted,
        "equal-price-removed.json",
        &renumbered(equal_price_removed),
    )
    .assert_failure_with("the node signed lines 5, the file has 4")
    .assert_failure_with("a line was removed, added, duplicated, reordered or changed");
    let mut reordered = original.clone();
    reordered["lines"].as_array_mut().unwrap().swap(3, 4);
    let _ = check_statement(&world, &trusted, "reordered.json", &renumbered(reordered))
        .assert_failure_with("signed statement: the lines' numbers, event ids and charges hash to");
    let mut total_changed = original.clone();
    total_changed["total"] = 8.into();
    let _ = check_statement(&world, &trusted, "total-changed.json", &total_changed)
        .assert_failure_with("the plans give 9, the lines add up to 9, the statement says 8");
    // A statement from before nodes signed them, and one whose note is
    // signed by a key the verifier does not trust.
    let mut unsigned = original.clone();
    let _ = unsigned.as_object_mut().unwrap().remove("signed_statement");
    let _ = check_statement(&world, &trusted, "unsigned.json", &unsigned)
        .assert_failure_with("the statement carries no signed_statement note");
    let mut foreign = original.clone();
    foreign["signed_statement"] = resigned(original["signed_statement"].as_str().unwrap()).into();
    let _ = check_statement(&world, &trusted, "foreign.json", &foreign)
        .assert_failure_with("signed statement: the signed statement note does not verify")
        .assert_failure_with("none by a trusted key");

    // A consumer anchors a log of one made-up event naming the verifier: the
    // chaincode refuses the anchor, and so do both commands. A node identity
    // the verifier does not trust gets its anchor recorded, and both commands
    // refuse it for its signer.
    let consumer = KeyPair::load(&world.demo_key("civil-consumer")).unwrap();
    let (_, rogue_node) = world.register("rogue-node", "operator", "node");
    let anchorers = [
        (&consumer, "consumer", "is not a valid anchor"),
        (&rogue_node, "rogue", "not among the trusted node keys"),
    ];
    for (anchorer, name, reason) in anchorers {
        let forged = made_up_proof(&world, anchorer, &verifier, name);
        let proof_path = world.dir.path().join(format!("{name}-proof.json"));
        std::fs::write(&proof_path, forged.to_string()).unwrap();
        let checkpoint = world.dir.path().join(format!("{name}-checkpoint.txt"));
        std::fs::write(&checkpoint, forged["checkpoint"].as_str().unwrap()).unwrap();
        let refusal = |out: &CliOutput| {
            let text = format!("{}{}", out.stdout, out.stderr);
            assert!(!out.success(), "{name}: a made-up log was accepted: {}", out.describe());
            assert!(text.contains(reason), "{name}: {}", out.describe());
        };
        refusal(&cairn([
            "proof",
            "verify",
            arg(&proof_path),
            "--checkpoint",
            arg(&checkpoint),
            "--trusted-keys",
            arg(&trusted),
        ]));
        // The same made-up event as a line of the verifier's statement.
        let mut padded = original.clone();
        padded["checkpoint"] = forged["checkpoint"].clone();
        let line = &mut padded["lines"][N - 1];
        line["event_id"] = "f".repeat(32).into();
        line["proof"] = forged;
        refusal(&check_statement(&world, &trusted, &format!("{name}-padded.json"), &padded));
    }
}

/// An audit proof of a log of one made-up billable event of `verifier`,
/// anchored by `anchorer`, against the checkpoint that includes the anchor.
fn made_up_proof(world: &World, anchorer: &KeyPair, verifier: &KeyPair, name: &str) -> Value {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let url = world.url();
    let event = asset_registry::audit::AccessEvent {
        event_id: "f".repeat(32),
        time_ms: now_ms(),
        identity: verifier.address().to_string(),
        organisation: "verifier-co".into(),
        role: "verifier".into(),
        action: asset_registry::audit::Action::Verify,
        resource: format!("asset:{ASSET}@1"),
        decision: asset_registry::audit::Decision::Allowed,
        reason: "made up".into(),
        bytes: 0,
        latency_us: 1,
        method: "/cairn.v1.Access/VerifyDataHash".into(),
        ledger_height: 1,
        request: Vec::new(),
    }
    .encode();
    let root = anchor_chaincode::merkle::leaf_hash(&event);
    let info = cairn(["node", "info", "--json", "--node", &url]).assert_success().json();
    let chain_id = info["chain_id"].as_str().unwrap().to_string();
    let anchor = cairn_tests::anchor_access_envelope(&chain_id, anchorer, 1, root);
    let submitted = runtime().block_on(async {
        let mut client = cairn_tests::connect(&url).await.unwrap();
        client
            .submit(cairn_schemas::v1::SubmitRequest { envelope: anchor.bytes.clone() })
            .await
            .unwrap()
            .into_inner()
    });
    let inclusion = world.dir.path().join(format!("{name}-anchor-inclusion.json"));
    world.on(&["proof", "inclusion", &submitted.tx_id, "--out", arg(&inclusion)]).assert_success();
    let inclusion: Value =
        serde_json::from_str(&std::fs::read_to_string(&inclusion).unwrap()).unwrap();
    serde_json::json!({
        "kind": "cairn-audit-proof-v1",
        "event": b64.encode(&event),
        "event_index": 0,
        "event_tree_size": 1,
        "event_hashes": [],
        "anchor_tx_id": submitted.tx_id,
        "anchor_leaf_index": inclusion["leaf_index"],
        "anchor_tree_size": inclusion["tree_size"],
        "anchor_leaf": inclusion["leaf"],
        "anchor_hashes": inclusion["hashes"],
        "checkpoint": inclusion["checkpoint"],
    })
}
