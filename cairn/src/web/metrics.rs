//! The node's Prometheus metrics, served at `GET /metrics`.
//!
//! One process-wide set ([`metrics()`]): the committer, the follower, the
//! access-event log and the HTTP layer count into it wherever they run, and
//! the handler encodes it in the OpenMetrics text format that Prometheus
//! scrapes. Counters start at zero when the process starts: the blocks a
//! node replays from its log on start are not counted, only what it commits
//! or applies afterwards.
//!
//! Names (see ARCHITECTURE.md and `ops/grafana/cairn.json`):
//!
//! - `cairn_transactions_committed_total{code}`: transactions in applied
//!   blocks, by validation code (`valid`, `bad_signature`, …).
//! - `cairn_blocks_committed_total`, `cairn_block_transactions` (histogram of
//!   transactions per block) and `cairn_block_bytes` (histogram of the log
//!   record's size).
//! - `cairn_commit_latency_seconds`: from a submission's admission to its
//!   answer (durable and applied), for submissions this node took.
//! - `cairn_submission_queue_depth`: submissions waiting for the committer.
//! - `cairn_submissions_refused_total{reason}`: submissions answered with an
//!   error and never committed (`rejected`, `unauthenticated`, `revoked`,
//!   `log`, `shutting_down`).
//! - `cairn_access_decisions_total{decision}`: access events recorded,
//!   `allowed` or `denied`.
//! - `cairn_http_requests_total{route,status}`: HTTP requests served, by
//!   matched route (`unmatched` for none) and status code.
//! - `cairn_ledger_height` and `cairn_log_size`: the ledger's block height
//!   and Merkle log size, read when scraped.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// One label and its value.
type Label = [(&'static str, String); 1];
/// Two labels and their values.
type Labels2 = [(&'static str, String); 2];

/// Every metric of the process, and the registry that encodes them.
pub(crate) struct Metrics {
    registry: Registry,
    committed: Family<Label, Counter>,
    blocks: Counter,
    block_transactions: Histogram,
    block_bytes: Histogram,
    commit_latency: Histogram,
    queue_depth: Gauge,
    refused: Family<Label, Counter>,
    decisions: Family<Label, Counter>,
    http_requests: Family<Labels2, Counter>,
    height: Gauge,
    log_size: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub(crate) fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::default();
        let committed = Family::<Label, Counter>::default();
        registry.register(
            "cairn_transactions_committed",
            "Transactions in blocks applied since the process started, by validation code",
            committed.clone(),
        );
        let blocks = Counter::default();
        registry.register(
            "cairn_blocks_committed",
            "Blocks applied since the process started",
            blocks.clone(),
        );
        // 1, 2, 4, … 4096 transactions (the default most per block).
        let block_transactions = Histogram::new(exponential_buckets(1.0, 2.0, 13));
        registry.register(
            "cairn_block_transactions",
            "Transactions per applied block",
            block_transactions.clone(),
        );
        // 256 B … 64 MiB.
        let block_bytes = Histogram::new(exponential_buckets(256.0, 4.0, 10));
        registry.register(
            "cairn_block_bytes",
            "Size of each applied block's log record in bytes",
            block_bytes.clone(),
        );
        // 0.5 ms … about 8 s.
        let commit_latency = Histogram::new(exponential_buckets(0.0005, 2.0, 15));
        registry.register(
            "cairn_commit_latency_seconds",
            "From a submission's admission to its answer, once its block is durable and applied",
            commit_latency.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "cairn_submission_queue_depth",
            "Admitted submissions waiting for the committer",
            queue_depth.clone(),
        );
        let refused = Family::<Label, Counter>::default();
        registry.register(
            "cairn_submissions_refused",
            "Submissions answered with an error and not committed, by reason",
            refused.clone(),
        );
        let decisions = Family::<Label, Counter>::default();
        registry.register(
            "cairn_access_decisions",
            "Access events recorded, by decision (allowed or denied)",
            decisions.clone(),
        );
        let http_requests = Family::<Labels2, Counter>::default();
        registry.register(
            "cairn_http_requests",
            "HTTP requests served, by matched route and status code",
            http_requests.clone(),
        );
        let height = Gauge::default();
        registry.register("cairn_ledger_height", "Blocks in the ledger", height.clone());
        let log_size = Gauge::default();
        registry.register(
            "cairn_log_size",
            "Leaves (transactions) in the ledger's Merkle log",
            log_size.clone(),
        );
        Metrics {
            registry,
            committed,
            blocks,
            block_transactions,
            block_bytes,
            commit_latency,
            queue_depth,
            refused,
            decisions,
            http_requests,
            height,
            log_size,
        }
    }

    /// Counts an applied block: its transactions by validation code and its size.
    pub(crate) fn block_applied(
        &self,
        block: &anchor_chaincode::ledger::Block,
        record_bytes: usize,
    ) {
        for receipt in &block.receipts {
            let _ = self.committed.get_or_create(&[("code", receipt.code.to_string())]).inc();
        }
        let _ = self.blocks.inc();
        self.block_transactions.observe(block.receipts.len() as f64);
        self.block_bytes.observe(record_bytes as f64);
    }

    /// A submission entered the committer's queue.
    pub(crate) fn queued(&self) {
        let _ = self.queue_depth.inc();
    }

    /// The committer took `n` submissions off its queue.
    pub(crate) fn dequeued(&self, n: usize) {
        let _ = self.queue_depth.dec_by(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A submission was answered after `elapsed`.
    pub(crate) fn committed_after(&self, elapsed: Duration) {
        self.commit_latency.observe(elapsed.as_secs_f64());
    }

    /// A submission was refused for `reason`.
    pub(crate) fn refused(&self, reason: &'static str) {
        let _ = self.refused.get_or_create(&[("reason", reason.to_owned())]).inc();
    }

    /// An access event was recorded.
    pub(crate) fn decision(&self, allowed: bool) {
        let decision = if allowed { "allowed" } else { "denied" };
        let _ = self.decisions.get_or_create(&[("decision", decision.to_owned())]).inc();
    }

    /// An HTTP request was answered.
    pub(crate) fn http_request(&self, route: &str, status: u16) {
        let labels = [("route", route.to_owned()), ("status", status.to_string())];
        let _ = self.http_requests.get_or_create(&labels).inc();
    }

    /// The metrics in the OpenMetrics text format, with the ledger gauges
    /// set to `height` and `log_size` first.
    pub(crate) fn encode(&self, height: u64, log_size: u64) -> Result<String, std::fmt::Error> {
        let _ = self.height.set(i64::try_from(height).unwrap_or(i64::MAX));
        let _ = self.log_size.set(i64::try_from(log_size).unwrap_or(i64::MAX));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_are_encoded_under_their_names() {
        let metrics = Metrics::new();
        metrics.refused("rejected");
        metrics.refused("rejected");
        metrics.decision(false);
        metrics.http_request("/healthz", 200);
        metrics.committed_after(Duration::from_millis(3));
        let text = metrics.encode(7, 12).unwrap();
        assert!(
            text.contains("cairn_submissions_refused_total{reason=\"rejected\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("cairn_access_decisions_total{decision=\"denied\"} 1\n"), "{text}");
        assert!(text.contains("cairn_http_requests_total{route=\"/healthz\",status=\"200\"} 1\n"));
        assert!(text.contains("cairn_commit_latency_seconds_count 1\n"), "{text}");
        assert!(text.contains("cairn_ledger_height 7\n") && text.contains("cairn_log_size 12\n"));
        assert!(text.ends_with("# EOF\n"));
    }
}
