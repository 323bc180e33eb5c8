//! The node's HTTP face: an axum [`Router`] served on its own listener
//! (`cairn up --http-listen ADDR`), next to the gRPC port.
//!
//! - `tiles`: the transaction log as C2SP tlog-tiles (`/checkpoint`,
//!   `/tile/<L>/<N>[.p/<W>]`, `/tile/entries/<N>[.p/<W>]`);
//! - `health`: `/healthz` and `/readyz`;
//! - `metrics`: `/metrics` (Prometheus), and the metrics the rest of the
//!   node counts into.
//!
//! More routes are added in [`router`]. Every error is an RFC 9457 problem
//! detail ([`Problem`]), and every answered request is counted in
//! `cairn_http_requests_total` by matched route and status.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::node::Node;

mod health;
pub(crate) mod metrics;
mod tiles;

/// What the handlers share.
#[derive(Clone, Debug)]
pub(crate) struct WebState {
    node: Node,
    /// Set once the node serves its gRPC API (see `/readyz`).
    serving: Arc<AtomicBool>,
    /// Whether `/tile/entries/…` is served (`--http-public-entries`).
    public_entries: bool,
}

impl WebState {
    /// The state of a node's HTTP face; not ready until [`WebState::set_serving`].
    pub(crate) fn new(node: Node, public_entries: bool) -> WebState {
        WebState { node, serving: Arc::new(AtomicBool::new(false)), public_entries }
    }

    /// The node serves its gRPC API: `/readyz` may answer ready.
    pub(crate) fn set_serving(&self) {
        self.serving.store(true, Ordering::Release);
    }
}

/// Every route of the HTTP face.
pub(crate) fn router(state: WebState) -> Router {
    Router::new()
        .route("/checkpoint", get(tiles::checkpoint))
        .route("/tile/entries/{*path}", get(tiles::entries))
        .route("/tile/{*path}", get(tiles::hashes))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(serve_metrics))
        .route_layer(axum::middleware::from_fn(count_request))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Binds `address` (port 0 picks a free port); answers the listener and its address.
pub(crate) async fn bind(address: &str) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen for HTTP on {address}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves the HTTP face on `listener` until `shutdown` completes.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the HTTP server failed")
}

/// Counts a request that matched a route, by route and status.
async fn count_request(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let route = matched.map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let response = next.run(request).await;
    metrics::metrics().http_request(&route, response.status().as_u16());
    response
}

/// `GET /metrics`: the Prometheus metrics.
async fn serve_metrics(State(state): State<WebState>) -> Response {
    let (height, size) = {
        let ledger = state.node.ledger();
        (ledger.height(), ledger.merkle_log().size())
    };
    match metrics::metrics().encode(height, size) {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => Problem::internal(format!("cannot encode the metrics: {e}")).into_response(),
    }
}

async fn not_found(request: Request) -> Response {
    let response = Problem::new(
        StatusCode::NOT_FOUND,
        "about:blank",
        format!("there is no resource at {}", request.uri().path()),
    )
    .into_response();
    metrics::metrics().http_request("unmatched", response.status().as_u16());
    response
}

async fn method_not_allowed(request: Request) -> Response {
    let response = Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "about:blank",
        format!("{} is not allowed on {}", request.method(), request.uri().path()),
    )
    .into_response();
    metrics::metrics().http_request("unmatched", response.status().as_u16());
    response
}

/// An RFC 9457 problem detail, answered as `application/problem+json`.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    /// The problem type: `about:blank` (the status says it all) or a
    /// `tag:cairn,2026:` URI naming a Cairn problem.
    kind: &'static str,
    detail: String,
}

impl Problem {
    pub(crate) fn new(
        status: StatusCode,
        kind: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem { status, kind, detail: detail.into() }
    }

    /// A failure of the node itself.
    pub(crate) fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "about:blank", detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": self.kind,
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut response = (self.status, body.to_string()).into_response();
        let _ = response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        let _ = response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
