//! `GET /healthz` (the process answers) and `GET /readyz` (the node serves
//! its gRPC API and its ledger replica is caught up with its log).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{Problem, WebState};

/// `GET /healthz`: 200 while the process answers at all.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// `GET /readyz`: 200 when the node serves and its ledger has applied every
/// record of its log; 503 with the reason otherwise.
pub(super) async fn readyz(State(state): State<WebState>) -> Response {
    if !state.serving.load(Ordering::Acquire) {
        return not_ready("the node has not started serving its gRPC API yet");
    }
    // A node on a shared (Kafka) log asks the broker for the log's end.
    let node = state.node.clone();
    let lag = match tokio::task::spawn_blocking(move || node.replica_lag()).await {
        Ok(lag) => lag,
        Err(e) => {
            return Problem::internal(format!("the readiness check failed: {e}")).into_response();
        }
    };
    if lag > 0 {
        return not_ready(format!(
            "the ledger replica is catching up: {lag} log records not applied yet"
        ));
    }
    let height = state.node.ledger().height();
    (StatusCode::OK, format!("ready: ledger height {height}\n")).into_response()
}

fn not_ready(reason: impl Into<String>) -> Response {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "tag:cairn,2026:not-ready", reason)
        .into_response()
}
