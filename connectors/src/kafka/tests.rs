//! Fast tests of the Kafka adapter against librdkafka's in-process mock
//! cluster; the tests against a real broker live in the `tests` crate.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use super::*;

fn mock() -> (MockCluster<'static, DefaultProducerContext>, KafkaConfig) {
    let cluster = MockCluster::new(1).unwrap();
    let mut config = KafkaConfig::new(cluster.bootstrap_servers());
    config.timeout = Duration::from_secs(10);
    (cluster, config)
}

fn ledger_spec(name: &str, partitions: i32) -> TopicSpec {
    TopicSpec { name: name.into(), partitions, exact: true, configs: Vec::new() }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ledger_log_appends_reads_and_follows_in_order() {
    let (cluster, config) = mock();
    // The mock cluster does not implement CreateTopics; the real broker's tests cover creation.
    cluster.create_topic("ledger", 1, 1).unwrap();
    let counts = ensure_topics(&config, &[ledger_spec("ledger", 1)]).await.unwrap();
    assert_eq!(counts.get("ledger"), Some(&1));
    let log = KafkaLog::open(&config, "ledger").unwrap();
    assert_eq!(log.next_offset(), 0);
    assert!(log.read(0, 10).unwrap().is_empty());

    let first = log.append(&[b"zero", b"one"]).unwrap();
    assert_eq!(first, 0);
    assert_eq!(log.append(&[b"two"]).unwrap(), 2);
    assert_eq!(log.next_offset(), 3);

    let all = log.read(0, 10).unwrap();
    let bytes: Vec<&[u8]> = all.iter().map(|r| r.bytes.as_slice()).collect();
    assert_eq!(bytes, [b"zero".as_slice(), b"one", b"two"]);
    assert_eq!(all.iter().map(|r| r.offset).collect::<Vec<_>>(), [0, 1, 2]);
    // Random reads seek.
    assert_eq!(log.read(1, 1).unwrap()[0].bytes, b"one");
    assert_eq!(log.read(2, 5).unwrap().len(), 1);
    assert!(log.read(3, 5).unwrap().is_empty());

    // A follower waiting at the end sees a later append from another handle.
    let other = KafkaLog::open(&config, "ledger").unwrap();
    let waiting = std::thread::spawn(move || log.read_wait(3, 10, Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(other.append(&[b"three"]).unwrap(), 3);
    let seen = waiting.join().unwrap().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].offset, seen[0].bytes.as_slice()), (3, b"three".as_slice()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ledger_topic_with_several_partitions_is_refused() {
    let (cluster, config) = mock();
    cluster.create_topic("shared", 3, 1).unwrap();
    let error = ensure_topics(&config, &[ledger_spec("shared", 1)]).await.unwrap_err().to_string();
    assert!(error.contains("shared") && error.contains("3 partitions"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_broker_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = KafkaConfig::new(format!("127.0.0.1:{port}"));
    config.timeout = Duration::from_secs(2);
    let error = ensure_topics(&config, &[ledger_spec("ledger", 1)]).await.unwrap_err().to_string();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(error.contains("fetch metadata"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn keyed_records_keep_their_headers_and_a_key_stays_in_one_partition() {
    let (cluster, config) = mock();
    cluster.create_topic("events", 4, 1).unwrap();
    let producer = KafkaProducer::new(&config).unwrap();
    let headers: [(&str, &[u8]); 1] = [("cairn-node", b"n1")];
    let out: Vec<OutRecord<'_>> = (0..40)
        .map(|i| OutRecord {
            key: Some(if i % 2 == 0 { b"alice".as_slice() } else { b"bob".as_slice() }),
            payload: b"event",
            headers: &headers,
            partition: None,
        })
        .collect();
    let positions = producer.send_all("events", &out).unwrap();
    assert_eq!(positions.len(), 40);
    let alice: std::collections::BTreeSet<i32> =
        positions.iter().step_by(2).map(|&(p, _)| p).collect();
    assert_eq!(alice.len(), 1, "one key, one partition");

    let from: BTreeMap<i32, i64> = (0..4).map(|p| (p, 0)).collect();
    let reader = TopicReader::new(&config, "events", &from).unwrap();
    let ends = reader.high_watermarks(4).unwrap();
    assert_eq!(ends.values().sum::<i64>(), 40);
    let mut seen = Vec::new();
    while seen.len() < 40 {
        let batch = reader.poll(100, Duration::from_secs(5)).unwrap();
        assert!(!batch.is_empty(), "records stopped after {}", seen.len());
        seen.extend(batch);
    }
    assert!(seen.iter().all(|r| r.header("cairn-node") == Some(b"n1".as_slice())));
    assert!(seen.iter().all(|r| r.payload == b"event"));
}

/// A fresh one-partition topic on the mock cluster, opened as a ledger log.
fn mock_log(
    cluster: &MockCluster<'static, DefaultProducerContext>,
    config: &KafkaConfig,
    topic: &str,
) -> KafkaLog {
    cluster.create_topic(topic, 1, 1).unwrap();
    KafkaLog::open(config, topic).unwrap()
}

#[test]
fn the_ledger_log_keeps_the_log_contract() {
    let (cluster, config) = mock();
    crate::testing::log_contract::run(&mock_log(&cluster, &config, "contract"));
    let shared = std::sync::Arc::new(mock_log(&cluster, &config, "concurrent"));
    let calls = crate::testing::log_contract::concurrent_appends(shared);
    assert!(calls > 0);
}

#[test]
fn debug_output_hides_secrets() {
    let mut config = KafkaConfig::new("k:9092");
    config.options.push(("sasl.password".into(), "hunter2".into()));
    config.options.push(("security.protocol".into(), "SASL_SSL".into()));
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2") && debug.contains("SASL_SSL"), "{debug}");
}
