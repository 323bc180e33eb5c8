//! The ledger-log contract suite (`connectors::testing::log_contract`)
//! through the public API, on every backend: memory, the embedded file and a
//! Kafka topic on the broker of the tests (`CAIRN_TEST_KAFKA`, see
//! `connectors::testing::support`).

use std::sync::Arc;

use connectors::log::{self, EmbeddedLog, LedgerLog, MemoryLog};
use connectors::testing::log_contract;

#[test]
fn memory_log_keeps_the_contract() {
    log_contract::run(&MemoryLog::new());
    let calls = log_contract::concurrent_appends(Arc::new(MemoryLog::new()));
    assert!(calls > 0);
}

#[test]
fn embedded_log_keeps_the_contract() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    log_contract::run(&EmbeddedLog::open(&dir.path().join("run.log")).expect("open a log"));
    let url = format!("file://{}", dir.path().join("by-url.log").display());
    log_contract::run(&*log::open(&url).expect("open a log by URL"));
    let shared: Arc<dyn LedgerLog> =
        Arc::new(EmbeddedLog::open(&dir.path().join("shared.log")).expect("open a log"));
    let calls = log_contract::concurrent_appends(shared);
    assert!(calls > 0);
}

#[cfg(feature = "kafka")]
mod kafka {
    //! The contract on a fresh one-partition topic per log.

    use std::sync::Arc;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use connectors::kafka::{KafkaConfig, KafkaLog, TopicSpec, ensure_topics};
    use connectors::log::LedgerLog;
    use connectors::testing::{log_contract, support};

    /// A new log on a topic no other run uses, or `None` when no broker is
    /// configured (and services are not required).
    fn fresh_log(label: &str) -> Option<KafkaLog> {
        let brokers = support::kafka()?;
        let mut config = KafkaConfig::new(brokers);
        config.timeout = Duration::from_secs(20);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let topic = format!("cairn-contract-{label}-{}-{nanos}", std::process::id());
        let spec =
            TopicSpec { name: topic.clone(), partitions: 1, exact: true, configs: Vec::new() };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let counts = runtime
            .block_on(ensure_topics(&config, &[spec]))
            .unwrap_or_else(|e| panic!("cannot create topic {topic}: {e}"));
        assert_eq!(counts.get(&topic), Some(&1));
        Some(KafkaLog::open(&config, &topic).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn kafka_log_keeps_the_contract() {
        let Some(log) = fresh_log("run") else { return };
        log_contract::run(&log);
    }

    #[test]
    fn kafka_log_keeps_concurrent_groups_whole() {
        let Some(log) = fresh_log("concurrent") else { return };
        let log: Arc<dyn LedgerLog> = Arc::new(log);
        let calls = log_contract::concurrent_appends(log);
        assert!(calls > 0);
    }
}
