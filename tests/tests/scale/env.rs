//! What every scale test shares: its topics, schema and services
//! ([`Env`]), a blocking PostgreSQL client for assertions, and access events
//! produced as a node would produce them.

use std::process::{Child, Stdio};
use std::time::Duration;

use access_control::keys::KeyPair;
use asset_registry::audit::{AccessEvent, Action, Decision};
use cairn_tests::{
    CliOutput, Node, Prng, cairn, cairn_command, cairn_with_timeout, support, unique_name,
};
use connectors::kafka::{KafkaConfig, KafkaProducer, OutRecord};

pub(crate) const CHAIN: &str = "cairn-demo";

/// Topics, schema and services of one test.
pub(crate) struct Env {
    pub(crate) kafka: String,
    pub(crate) postgres: String,
    pub(crate) ledger_topic: String,
    pub(crate) access_topic: String,
    pub(crate) schema: String,
}

impl Env {
    pub(crate) fn new(prefix: &str) -> Option<Env> {
        let kafka = support::kafka()?;
        let postgres = support::postgres()?;
        let name = unique_name(prefix);
        Some(Env {
            kafka,
            postgres,
            ledger_topic: format!("{name}.ledger"),
            access_topic: format!("{name}.access"),
            schema: name,
        })
    }

    pub(crate) fn kafka_args(&self) -> Vec<String> {
        vec![
            "--kafka".into(),
            self.kafka.clone(),
            "--ledger-topic".into(),
            self.ledger_topic.clone(),
            "--access-topic".into(),
            self.access_topic.clone(),
        ]
    }

    pub(crate) fn all_args(&self) -> Vec<String> {
        let mut args = self.kafka_args();
        args.extend([
            "--postgres".into(),
            self.postgres.clone(),
            "--postgres-schema".into(),
            self.schema.clone(),
        ]);
        args
    }

    /// Runs `cairn project --exit-when-caught-up` on this test's topics and schema.
    pub(crate) fn project_until_caught_up(&self, timeout: Duration) -> CliOutput {
        let args = [&["project".to_string(), "--exit-when-caught-up".into()][..], &self.all_args()];
        cairn_with_timeout(args.concat(), timeout)
    }

    /// Runs `cairn replay --from-start` on this test's topics and schema.
    pub(crate) fn replay_from_start(&self, timeout: Duration) -> CliOutput {
        let args = [&["replay".to_string(), "--from-start".into()][..], &self.all_args()];
        cairn_with_timeout(args.concat(), timeout)
    }

    /// A blocking client of the test database, for assertions.
    pub(crate) fn sql(&self) -> postgres_client::Client {
        postgres_client::Client::new(&self.postgres)
    }
}

/// A blocking wrapper of tokio-postgres for assertions.
pub(crate) mod postgres_client {
    pub(crate) struct Client {
        runtime: tokio::runtime::Runtime,
        client: tokio_postgres::Client,
    }

    impl Client {
        pub(crate) fn new(url: &str) -> Client {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let client = runtime.block_on(async {
                let (client, connection) =
                    tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
                drop(tokio::spawn(connection));
                client
            });
            Client { runtime, client }
        }

        pub(crate) fn rows(&self, sql: &str) -> Vec<tokio_postgres::Row> {
            self.runtime.block_on(self.client.query(sql, &[])).unwrap()
        }

        pub(crate) fn count(&self, sql: &str) -> i64 {
            self.rows(sql)[0].get(0)
        }

        pub(crate) fn execute(&self, sql: &str) {
            self.runtime.block_on(self.client.batch_execute(sql)).unwrap();
        }
    }
}

pub(crate) fn args_ref(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A record as a node publishes it: payload, leaf index, key, node signature.
type SignedRecord<'a> = (Vec<u8>, [u8; 8], &'a str, [u8; 64]);

/// A record's payload and headers.
pub(crate) type RawRecord = (Vec<u8>, Vec<(&'static str, Vec<u8>)>);

/// Sends `events` to the access topic as the node whose key is `node` does
/// (keyed by identity, with node, leaf, node key and signature headers),
/// each `dup_every`-th event twice, as a node does when it republishes after
/// a crash.
pub(crate) fn produce_events(env: &Env, node: &KeyPair, events: &[AccessEvent], dup_every: usize) {
    let producer = KafkaProducer::new(&KafkaConfig::new(env.kafka.clone())).unwrap();
    let address = node.address().to_string();
    let public_key = node.signing_public_key();
    let encoded: Vec<SignedRecord<'_>> = events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let payload = e.encode();
            let signature =
                asset_registry::audit::sign_record(node.signing_key(), i as u64, &payload);
            (payload, (i as u64).to_be_bytes(), e.identity.as_str(), signature)
        })
        .collect();
    let mut order: Vec<usize> = Vec::new();
    for i in 0..events.len() {
        order.push(i);
        if i % dup_every == dup_every - 1 {
            order.push(i - dup_every / 2);
        }
    }
    for chunk in order.chunks(5000) {
        let headers: Vec<[(&str, &[u8]); 4]> = chunk
            .iter()
            .map(|&i| {
                [
                    ("cairn-node", address.as_bytes()),
                    ("cairn-leaf", encoded[i].1.as_slice()),
                    ("cairn-node-key", public_key.as_slice()),
                    ("cairn-signature", encoded[i].3.as_slice()),
                ]
            })
            .collect();
        let out: Vec<OutRecord<'_>> = chunk
            .iter()
            .zip(&headers)
            .map(|(&i, headers)| OutRecord {
                key: Some(encoded[i].2.as_bytes()),
                payload: &encoded[i].0,
                headers,
                partition: None,
            })
            .collect();
        let _ = producer.send_all(&env.access_topic, &out).unwrap();
    }
}

/// Events that are not billable (billable ones would need their callers'
/// signed requests), decided at ledger `height`.
pub(crate) fn synthetic_events(n: usize, height: u64) -> Vec<AccessEvent> {
    let mut prng = Prng::new(0x5ca1e);
    (0..n)
        .map(|i| AccessEvent {
            event_id: format!("{:032x}", 0xE000_0000_0000u64 + i as u64),
            time_ms: 1_790_000_000_000 + i as u64,
            identity: format!("{:040x}", prng.between(1, 25)),
            organisation: "verifier-co".into(),
            role: "verifier".into(),
            action: if i % 3 == 0 { Action::VerifyDataHash } else { Action::ReadAudit },
            resource: format!("asset:health/clinic-registry@{}", 1 + i % 4),
            decision: if i % 10 == 0 { Decision::Denied } else { Decision::Allowed },
            reason: "test".into(),
            bytes: prng.between(0, 100_000),
            latency_us: 10,
            method: "/cairn.v1.Access/RequestAccess".into(),
            ledger_height: height,
            request: Vec::new(),
        })
        .collect()
}

/// The key of a running node (its data directory's `node.key`).
pub(crate) fn node_key(node: &Node) -> KeyPair {
    KeyPair::load(&node.data_dir().join("node.key")).unwrap()
}

/// The height of a node's ledger (after the demo set-up, the node is registered).
pub(crate) fn demo_height(node: &Node) -> u64 {
    cairn(["node", "info", "--json", "--node", &node.url()]).json()["height"].as_u64().unwrap()
}

/// `cairn project` as a child process.
pub(crate) fn spawn_projector(env: &Env) -> Child {
    cairn_command()
        .args(["project", "--member-id", "projector-1"])
        .args(env.all_args())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}
