//! Projectors on real engines: killed mid-batch they lose and double-count
//! nothing, replay names a differing row, metering bills exactly, the audit
//! log holds every node's events, and forged access records are refused.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use access_control::keys::KeyPair;
use asset_registry::audit::{AccessEvent, Action, Decision};
use cairn_tests::{Node, Prng, Start, cairn, runtime};
use connectors::kafka::{KafkaConfig, KafkaProducer, OutRecord};

use crate::env::{
    Env, RawRecord, args_ref, demo_height, node_key, produce_events, spawn_projector,
    synthetic_events,
};

#[test]
fn a_projector_killed_mid_batch_loses_nothing_and_counts_nothing_twice() {
    let Some(env) = Env::new("kill") else { return };
    let dir = tempfile::tempdir().unwrap();
    let node =
        Node::start_with_args(&dir.path().join("node"), Start::Demo, &args_ref(&env.kafka_args()))
            .unwrap();
    const N: usize = 100_000;
    let events = synthetic_events(N, demo_height(&node));
    produce_events(&env, &node_key(&node), &events, 97);

    let mut prng = Prng::new(0xdead_beef);
    let mut partial_counts = Vec::new();
    let projected = || {
        let sql = env.sql();
        let tables = sql.count(&format!(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '{}' AND table_name = 'access_events'",
            env.schema
        ));
        if tables == 1 {
            sql.count(&format!("SELECT count(*) FROM {}.access_events", env.schema))
        } else {
            0
        }
    };
    let mut last = 0;
    for _round in 0..10 {
        let mut projector = spawn_projector(&env);
        // Kill it while it works: once it has moved on from where the last
        // one stopped, after a random moment more.
        let deadline = Instant::now() + Duration::from_secs(30);
        while last < N as i64 && projected() <= last && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(prng.between(0, 400)));
        projector.kill().unwrap();
        let _ = projector.wait().unwrap();
        last = projected();
        partial_counts.push(last);
    }
    eprintln!("access events projected after each kill: {partial_counts:?}");
    assert!(
        partial_counts.iter().any(|&c| c > 0 && c < N as i64),
        "no kill landed in the middle of the backlog: {partial_counts:?}"
    );

    let done = env.project_until_caught_up(Duration::from_secs(600));
    done.assert_success();

    let sql = env.sql();
    let schema = &env.schema;
    assert_eq!(sql.count(&format!("SELECT count(*) FROM {schema}.access_events")), N as i64);
    let mut expected: BTreeMap<(String, String, String), (i64, i64)> = BTreeMap::new();
    for e in &events {
        let entry = expected
            .entry((
                e.identity.clone(),
                e.action.as_str().to_owned(),
                e.decision.as_str().to_owned(),
            ))
            .or_default();
        entry.0 += 1;
        entry.1 += e.bytes as i64;
    }
    let usage: BTreeMap<(String, String, String), (i64, i64)> = sql
        .rows(&format!("SELECT identity, action, decision, events, bytes FROM {schema}.usage"))
        .iter()
        .map(|r| ((r.get(0), r.get(1), r.get(2)), (r.get(3), r.get(4))))
        .collect();
    assert_eq!(usage, expected, "usage counters differ from the events sent");
    let height =
        cairn(["node", "info", "--json", "--node", &node.url()]).json()["height"].as_u64().unwrap();
    assert_eq!(sql.count(&format!("SELECT count(*) FROM {schema}.blocks")), height as i64);

    let replay = env.replay_from_start(Duration::from_secs(600));
    replay.assert_success();
    assert!(replay.stdout.contains("identical"), "{}", replay.describe());
    sql.execute(&format!("DROP SCHEMA {schema} CASCADE"));
}

#[test]
fn replay_names_a_row_that_differs() {
    let Some(env) = Env::new("diff") else { return };
    let dir = tempfile::tempdir().unwrap();
    let node =
        Node::start_with_args(&dir.path().join("node"), Start::Demo, &args_ref(&env.kafka_args()))
            .unwrap();
    produce_events(&env, &node_key(&node), &synthetic_events(50, demo_height(&node)), 1000);
    let done = env.project_until_caught_up(Duration::from_secs(120));
    done.assert_success();
    let sql = env.sql();
    let schema = &env.schema;
    sql.execute(&format!(
        "UPDATE {schema}.access_events SET bytes = bytes + 1 WHERE event_id = '{:032x}'",
        0xE000_0000_0007u64
    ));
    let replay = env.replay_from_start(Duration::from_secs(120));
    assert!(!replay.success(), "{}", replay.describe());
    assert!(
        replay.stdout.contains(&format!("access_events {:032x}", 0xE000_0000_0007u64)),
        "{}",
        replay.describe()
    );
    assert!(replay.stdout.contains("projections differ"), "{}", replay.describe());
    sql.execute(&format!("DROP SCHEMA {schema} CASCADE"));
}

/// Registers `n` consumers, spread over `urls`; answers the acknowledged tx ids.

#[test]
fn an_embedded_node_projects_into_postgres_and_searches_there() {
    let Some(env) = Env::new("emb") else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let args = ["--postgres", env.postgres.as_str(), "--postgres-schema", env.schema.as_str()];
    let node = Node::start_with_args(&data, Start::Demo, &args).unwrap();
    let consumer = data.join("demo/civil-consumer.key");
    cairn([
        "access",
        "request",
        "health/clinic-registry",
        "--key",
        consumer.to_str().unwrap(),
        "--node",
        &node.url(),
    ])
    .assert_success();
    // The projection follows the ledger asynchronously: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let found =
            cairn(["asset", "search", "clinic registry", "--json", "--node", &node.url()]).json();
        if found["entries"].as_array().is_some_and(|e| !e.is_empty()) || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(found["source"], "postgres", "{found}");
    assert_eq!(found["entries"][0]["asset_id"], "health/clinic-registry", "{found}");
    let none = cairn(["asset", "search", "marriage", "--json", "--node", &node.url()]).json();
    assert_eq!(none["entries"].as_array().map(Vec::len), Some(0), "{none}");
    let sql = env.sql();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sql.count(&format!(
        "SELECT coalesce(sum(events), 0)::bigint FROM {}.usage WHERE action = 'request_data'",
        env.schema
    )) < 1
    {
        assert!(Instant::now() < deadline, "the access event never reached the usage table");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A node that projects stops cleanly on SIGTERM (its projector tasks included).
    let _ = node.stop_cleanly();
    sql.execute(&format!("DROP SCHEMA {} CASCADE", env.schema));
}

#[test]
fn the_metering_projector_killed_during_a_burst_bills_exactly() {
    let Some(env) = Env::new("meter") else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let node = Node::start_with_args(&data, Start::Demo, &args_ref(&env.kafka_args())).unwrap();
    let url = node.url();
    let key_path = dir.path().join("meter.key");
    let key_arg = key_path.to_str().unwrap();
    cairn(["key", "new", "--out", key_arg]).assert_success();
    let ca = data.join("demo/org-ca.key");
    cairn([
        "identity",
        "register",
        "--node",
        &url,
        "--key",
        key_arg,
        "--name",
        "Metered desk",
        "--org",
        "verifier-co",
        "--role",
        "verifier",
        "--endorser-key",
        ca.to_str().unwrap(),
    ])
    .assert_success();
    let holder = KeyPair::load(&key_path).unwrap();
    let officer = data.join("demo/hub-operator.key");
    cairn([
        "billing",
        "account",
        "open",
        "--node",
        &url,
        "--holder",
        &holder.address().to_string(),
        "--payment",
        "postpaid",
        "--price-per-query",
        "3",
        "--free-queries",
        "10",
        "--key",
        officer.to_str().unwrap(),
    ])
    .assert_success();
    let csv = std::fs::read(data.join("demo/clinic-registry.csv")).unwrap();
    let content_hash = <sha2::Sha256 as sha2::Digest>::digest(&csv).to_vec();

    // A burst of queries while the projector is killed again and again.
    const N: usize = 3000;
    let runtime = runtime();
    let burst = runtime.spawn({
        let url = url.clone();
        let holder = KeyPair::load(&key_path).unwrap();
        async move {
            cairn_tests::verify_data_hash_many(
                &url,
                &holder,
                "health/clinic-registry",
                &content_hash,
                N,
                32,
            )
            .await
        }
    });
    let mut prng = Prng::new(0x0b11);
    let mut kills = 0;
    while !burst.is_finished() {
        let mut projector = spawn_projector(&env);
        std::thread::sleep(Duration::from_millis(prng.between(300, 900)));
        projector.kill().unwrap();
        let _ = projector.wait().unwrap();
        kills += 1;
    }
    let results = runtime.block_on(burst).unwrap();
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(refused.is_empty(), "refused: {:?}", &refused[..refused.len().min(3)]);
    assert!(kills >= 2, "the projector was killed only {kills} times during the burst");
    env.project_until_caught_up(Duration::from_secs(600)).assert_success();

    // The projection bills what the node's own meter bills, line for line.
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as u64;
    let month = asset_registry::billing::Month::of_ms(now_ms).to_string();
    let month = month.as_str();
    let statement = cairn([
        "billing",
        "statement",
        "--node",
        &url,
        "--verifier",
        &holder.address().to_string(),
        "--month",
        month,
        "--key",
        key_arg,
        "--json",
    ])
    .assert_success()
    .json();
    assert_eq!(statement["source"], "memory");
    let expected: Vec<(String, i64)> = statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["event_id"].as_str().unwrap().to_owned(), l["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(expected.len(), N);
    assert_eq!(statement["total"], 3 * (N as u64 - 10));
    let sql = env.sql();
    let projected: Vec<(String, i64)> = sql
        .rows(&format!(
            "SELECT event_id, amount FROM {}.billing_lines WHERE holder = '{}' ORDER BY line",
            env.schema,
            holder.address()
        ))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(projected, expected, "the projection bills differently from the node's meter");

    let replay = env.replay_from_start(Duration::from_secs(600));
    replay.assert_success();
    assert!(replay.stdout.contains("billing_lines"), "{}", replay.describe());
    assert!(replay.stdout.contains("identical"), "{}", replay.describe());
    let _ = node.stop_cleanly();
    sql.execute(&format!("DROP SCHEMA {} CASCADE", env.schema));
}

#[test]
fn the_audit_log_of_a_node_with_postgres_holds_every_nodes_events() {
    let Some(env) = Env::new("audit") else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start_with_args(&dir.path().join("a"), Start::Demo, &args_ref(&env.all_args()))
        .unwrap();
    let b =
        Node::start_with_args(&dir.path().join("b"), Start::Existing, &args_ref(&env.all_args()))
            .unwrap();
    let demo = dir.path().join("a/demo");
    // Node b is a registered node of the ledger, as the demo registers node
    // a: projectors store only records signed by registered nodes.
    let node_b_key = dir.path().join("b/node.key");
    let org_ca = demo.join("org-ca.key");
    cairn([
        "identity",
        "register",
        "--key",
        node_b_key.to_str().unwrap(),
        "--name",
        "cairn node b",
        "--org",
        "operator",
        "--role",
        "node",
        "--endorser-key",
        org_ca.to_str().unwrap(),
        "--org-key",
        demo.join("org-operator.key").to_str().unwrap(),
        "--node",
        &a.url(),
    ])
    .assert_success();
    let verifier = KeyPair::load(&demo.join("verifier.key")).unwrap();
    let csv = std::fs::read(demo.join("clinic-registry.csv")).unwrap();
    let content_hash = <sha2::Sha256 as sha2::Digest>::digest(&csv).to_vec();
    let results = runtime().block_on(cairn_tests::verify_data_hash_many(
        &b.url(),
        &verifier,
        "health/clinic-registry",
        &content_hash,
        3,
        3,
    ));
    let on_b: Vec<String> =
        results.into_iter().map(|r| r.expect("a verification on node b")).collect();

    // Node a never logged these events; its audit log shows them once the
    // projection holds them, each once, beside its own.
    let auditor = demo.join("auditor.key");
    let audit = |url: &str| {
        cairn([
            "audit",
            "events",
            "--key",
            auditor.to_str().unwrap(),
            "--node",
            url,
            "--limit",
            "1000",
            "--json",
        ])
        .assert_success()
        .json()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let listed = loop {
        let listed = audit(&a.url());
        let events = listed.as_array().unwrap();
        if on_b.iter().all(|id| events.iter().any(|e| e["event_id"] == id.as_str())) {
            break listed;
        }
        assert!(Instant::now() < deadline, "node a never listed node b's events: {listed}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let events = listed.as_array().unwrap();
    for id in &on_b {
        assert_eq!(events.iter().filter(|e| e["event_id"] == id.as_str()).count(), 1, "{id}");
    }
    // The audit reads themselves are access events of node a, listed at once.
    let again = audit(&a.url());
    let reads = again
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "read_audit" && e["decision"] == "allowed")
        .count();
    assert!(reads >= 2, "{again}");
    // RFC 3339 times with milliseconds, all in UTC: their text order is time order.
    let times: Vec<&str> =
        again.as_array().unwrap().iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order: {times:?}");
    let _ = a.stop_cleanly();
    let _ = b.stop_cleanly();
    env.sql().execute(&format!("DROP SCHEMA {} CASCADE", env.schema));
}

#[test]
fn the_projector_refuses_forged_access_topic_records() {
    let Some(env) = Env::new("forged") else { return };
    let dir = tempfile::tempdir().unwrap();
    let node =
        Node::start_with_args(&dir.path().join("node"), Start::Demo, &args_ref(&env.kafka_args()))
            .unwrap();
    let height = demo_height(&node);
    let node_key = node_key(&node);
    let stranger = KeyPair::generate().unwrap();
    let mut events = synthetic_events(7, height);
    // Event 6 claims a ledger height far beyond the ledger's end.
    events[6].ledger_height = 1_000_000_000;
    // Event 5 is billable (an allowed verification) but carries no signed
    // request of its caller.
    let mut unasked = events[5].clone();
    unasked.action = Action::Verify;
    unasked.decision = Decision::Allowed;
    unasked.method = "/cairn.v1.Access/VerifyDataHash".into();
    let payloads: Vec<Vec<u8>> =
        events[..5].iter().chain([&unasked, &events[6]]).map(AccessEvent::encode).collect();
    let leaf = |i: usize| (i as u64).to_be_bytes();
    let sign = |key: &KeyPair, i: usize| {
        asset_registry::audit::sign_record(key.signing_key(), i as u64, &payloads[i])
    };
    let (node_address, node_public) =
        (node_key.address().to_string(), node_key.signing_public_key());
    let (stranger_address, stranger_public) =
        (stranger.address().to_string(), stranger.signing_public_key());
    let mut tampered = payloads[3].clone();
    tampered[4] ^= 1;
    let leaves: Vec<[u8; 8]> = (0..7).map(leaf).collect();
    let signatures: Vec<[u8; 64]> = vec![
        sign(&node_key, 0),
        [0; 64],
        sign(&stranger, 2),
        sign(&node_key, 3),
        sign(&node_key, 4),
        sign(&node_key, 5),
        sign(&stranger, 6),
    ];
    let full = |i: usize, address: &'static str| -> Vec<(&'static str, Vec<u8>)> {
        let (node, public) = if address == "stranger" {
            (stranger_address.as_bytes().to_vec(), stranger_public.to_vec())
        } else {
            (node_address.as_bytes().to_vec(), node_public.to_vec())
        };
        vec![
            ("cairn-node", node),
            ("cairn-leaf", leaves[i].to_vec()),
            ("cairn-node-key", public),
            ("cairn-signature", signatures[i].to_vec()),
        ]
    };
    // 0: the control, signed by the registered node. 1: no signature.
    // 2: signed by a key the ledger does not know. 3: its payload changed
    // after signing. 4: signed by the node but naming another node.
    // 5: the node's billable event without the caller's request.
    // 6: an unknown signer's event claiming a height the ledger never had
    // (refused at once, not after waiting for the projection to get there).
    let mut named_other = full(4, "node");
    named_other[0].1 = stranger_address.as_bytes().to_vec();
    let records: Vec<RawRecord> = vec![
        (payloads[0].clone(), full(0, "node")),
        (payloads[1].clone(), full(1, "node")[..2].to_vec()),
        (payloads[2].clone(), full(2, "stranger")),
        (tampered, full(3, "node")),
        (payloads[4].clone(), named_other),
        (payloads[5].clone(), full(5, "node")),
        (payloads[6].clone(), full(6, "stranger")),
    ];
    let producer = KafkaProducer::new(&KafkaConfig::new(env.kafka.clone())).unwrap();
    let headers: Vec<Vec<(&str, &[u8])>> = records
        .iter()
        .map(|(_, headers)| headers.iter().map(|(k, v)| (*k, v.as_slice())).collect())
        .collect();
    let out: Vec<OutRecord<'_>> = records
        .iter()
        .zip(&headers)
        .map(|((payload, _), headers)| OutRecord {
            key: Some(b"forged".as_slice()),
            payload,
            headers,
            partition: None,
        })
        .collect();
    let _ = producer.send_all(&env.access_topic, &out).unwrap();

    let done = env.project_until_caught_up(Duration::from_secs(120));
    done.assert_success();
    let sql = env.sql();
    let schema = &env.schema;
    let stored: Vec<String> = sql
        .rows(&format!(
            "SELECT event_id FROM {schema}.access_events WHERE event_id LIKE '0000%e0000000%' ORDER BY event_id"
        ))
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored, vec![events[0].event_id.clone()], "only the control is stored");
    sql.execute(&format!("DROP SCHEMA {schema} CASCADE"));
}
