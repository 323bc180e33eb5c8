//! The signed-request check in front of the `cairn.v1.Access` service.
//!
//! A tonic interceptor sees only metadata, not the body, so the check is a
//! tower layer: it reads the `x-cairn-auth-bin` envelope, buffers the request
//! (at most 1 MiB), takes the protobuf message bytes out of the gRPC frame and
//! hands both to `access_control::request::RequestVerifier`, so the digest is
//! over exactly the bytes received, and checks that the envelope was signed
//! for this node (its key's address) and this chain. An accepted request goes
//! on with the `VerifiedCaller` (which keeps the envelope, the evidence its
//! access event carries) in its extensions.
//!
//! A refused request is answered with its gRPC status. The refusal of a
//! proven, registered caller (a revoked identity) is recorded as a durable
//! denied access event. Refusals that anyone can cause in any number (no or a
//! malformed envelope, a bad signature, an unknown key, an expired request, a
//! replay, a request for another node) are sampled: at most
//! [`UNAUTHENTICATED_EVENTS_PER_SECOND`] of them a second become access
//! events, the rest are counted, and the count is recorded as one summary
//! event every [`SUMMARY_INTERVAL`], so a flood cannot make the node fsync
//! once per request.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use access_control::request::{
    AUTH_METADATA_KEY, AuthError, AuthErrorKind, CallerStatus, Destination, MAX_REQUEST_BYTES,
    RequestVerifier, SignedRequest, VerifiedCaller,
};
use anchor_chaincode::Address;
use asset_registry::audit::Action;
use base64::Engine;
use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::{Request, Status};

use crate::clock::now_ms;
use crate::node::Node;
use crate::node::access_log::AccessLog;
use crate::rpc::decision::{CalledMethod, Event, Who};

/// The method prefix of the protected service.
pub(crate) const PROTECTED_PREFIX: &str = "/cairn.v1.Access/";
/// The method prefix of the certificate-check service, signed the same way.
pub(crate) const CERT_CHECK_PREFIX: &str = "/cairn.v1.CertificateCheck/";
/// The method prefix of the billing service, signed the same way.
pub(crate) const BILLING_PREFIX: &str = "/cairn.v1.Billing/";

/// The method prefix of the cases service, signed the same way.
pub(crate) const CASES_PREFIX: &str = "/cairn.v1.Cases/";

/// Whether a method needs a signed request.
fn is_protected(path: &str) -> bool {
    path.starts_with(PROTECTED_PREFIX)
        || path.starts_with(CERT_CHECK_PREFIX)
        || path.starts_with(BILLING_PREFIX)
        || path.starts_with(CASES_PREFIX)
}

/// At most this many refusals of unauthenticated requests a second are
/// recorded as access events, one each.
pub(crate) const UNAUTHENTICATED_EVENTS_PER_SECOND: u64 = 20;
/// How often the count of the refusals not recorded one by one is recorded.
pub(crate) const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);
/// The action of the summary event.
pub(crate) const SUMMARY_ACTION: Action = Action::UnauthenticatedRefusals;

/// Decides which unauthenticated refusals become access events, and counts
/// the others.
#[derive(Debug, Default)]
pub(crate) struct RefusalSampler {
    /// The current second (ms since the epoch / 1000) and how many were recorded in it.
    second: Mutex<(u64, u64)>,
    /// Refusals not recorded one by one since the last summary.
    unrecorded: AtomicU64,
    /// Refusals not recorded one by one since the node started.
    unrecorded_total: AtomicU64,
}

impl RefusalSampler {
    /// Whether a refusal at `now_ms` is recorded; if not, it is counted.
    pub(crate) fn admit(&self, now_ms: u64) -> bool {
        let second = now_ms / 1000;
        let mut current = self.second.lock().unwrap_or_else(PoisonError::into_inner);
        if current.0 != second {
            *current = (second, 0);
        }
        if current.1 < UNAUTHENTICATED_EVENTS_PER_SECOND {
            current.1 += 1;
            return true;
        }
        let _ = self.unrecorded.fetch_add(1, Ordering::Relaxed);
        let _ = self.unrecorded_total.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// The refusals not recorded since the last call.
    pub(crate) fn take_unrecorded(&self) -> u64 {
        self.unrecorded.swap(0, Ordering::Relaxed)
    }

    /// The refusals not recorded one by one since the node started.
    pub(crate) fn unrecorded_total(&self) -> u64 {
        self.unrecorded_total.load(Ordering::Relaxed)
    }
}

/// What the layer needs.
pub(crate) struct AuthContext {
    pub(crate) verifier: RequestVerifier,
    pub(crate) node: Node,
    pub(crate) access: AccessLog,
    pub(crate) sampler: RefusalSampler,
}

impl AuthContext {
    /// Refills the replay cache from the envelopes of the access events the
    /// node logged within the window, so a restart does not reopen it.
    pub(crate) fn restore_nonces(&self) -> usize {
        let now = now_ms();
        let window = self.verifier.window_ms();
        // Events are logged by the node's clock within the window of their
        // envelope's timestamp; older ones cannot hold a nonce still in use.
        let horizon = now.saturating_sub(window.saturating_mul(2));
        let state = self.access.state();
        let mut restored = 0;
        for offset in (0..state.projection.len()).rev() {
            let Some(event) = state.projection.event(offset) else { break };
            if event.time_ms < horizon {
                break;
            }
            if let Ok(request) = SignedRequest::decode(&event.request)
                && self.verifier.restore(&request, now)
            {
                restored += 1;
            }
        }
        restored
    }
}

/// Records, every [`SUMMARY_INTERVAL`], how many unauthenticated refusals
/// were counted without an access event each.
pub(crate) async fn summary_loop(layer: AuthLayer) {
    let context = layer.context;
    let mut ticker = tokio::time::interval(SUMMARY_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let _ = ticker.tick().await;
        let count = context.sampler.take_unrecorded();
        if count == 0 {
            continue;
        }
        tracing::warn!(
            refusals = count,
            since_start = context.sampler.unrecorded_total(),
            "unauthenticated requests refused without an access event each"
        );
        let event = Event {
            who: Who::Unproven {
                identity: String::new(),
                organisation: String::new(),
                role: String::new(),
            },
            action: SUMMARY_ACTION,
            method: String::new(),
            resource: "request".to_string(),
            allowed: false,
            reason: format!(
                "{count} unauthenticated requests refused in the last {} s beyond the {} a second recorded one by one",
                SUMMARY_INTERVAL.as_secs(),
                UNAUTHENTICATED_EVENTS_PER_SECOND
            ),
            bytes: 0,
            started: None,
        }
        .into_access_event(&context.node);
        if let Err(e) = context.access.record(event).await {
            tracing::error!(error = %e, "cannot record the count of unauthenticated refusals");
        }
    }
}

/// The layer.
#[derive(Clone)]
pub(crate) struct AuthLayer {
    context: Arc<AuthContext>,
}

impl AuthLayer {
    pub(crate) fn new(context: AuthContext) -> AuthLayer {
        AuthLayer { context: Arc::new(context) }
    }

    /// What the layer checks with.
    pub(crate) fn context(&self) -> &AuthContext {
        &self.context
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService { inner, context: self.context.clone() }
    }
}

/// The service the layer wraps around the gRPC routes.
#[derive(Clone)]
pub(crate) struct AuthService<S> {
    inner: S,
    context: Arc<AuthContext>,
}

/// The ledger's view of a caller.
pub(crate) fn caller_status(node: &Node, address: &Address) -> CallerStatus {
    match node.ledger().identity(address) {
        None => CallerStatus::Unknown,
        Some(identity) => match &identity.revoked {
            Some(revocation) => CallerStatus::Revoked { reason: revocation.reason.clone() },
            None => CallerStatus::Registered {
                organisation: identity.organisation.clone(),
                role: identity.role,
            },
        },
    }
}

/// The action a method stands for, for the access event of a refused call.
pub(crate) fn action_of(method: &str) -> Action {
    if method.starts_with(CERT_CHECK_PREFIX) {
        return Action::VerifyCertificate;
    }
    if method.starts_with(BILLING_PREFIX) {
        return Action::ReadBills;
    }
    if method.starts_with(CASES_PREFIX) {
        return Action::ReadCase;
    }
    match method.strip_prefix(PROTECTED_PREFIX) {
        Some("RequestAccess") => Action::RequestData,
        Some("VerifyDataHash") => Action::Verify,
        Some("ListAccessEvents" | "ProveAccessEvent") => Action::ReadAudit,
        _ => Action::Unknown,
    }
}

fn status_of(error: &AuthError) -> tonic::Status {
    let message = error.to_string();
    match error.kind() {
        AuthErrorKind::Unauthenticated => tonic::Status::unauthenticated(message),
        AuthErrorKind::PermissionDenied => tonic::Status::permission_denied(message),
        AuthErrorKind::InvalidArgument => tonic::Status::invalid_argument(message),
        AuthErrorKind::ResourceExhausted => tonic::Status::resource_exhausted(message),
    }
}

impl<S> tower::Service<http::Request<Body>> for AuthService<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        // Every handler learns the path it was called by, so no handler writes
        // a method name down: a signed request's signature is checked against it.
        let path = CalledMethod(request.uri().path().to_owned());
        let _ = request.extensions_mut().insert(path);
        if !is_protected(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        // The ready service handles this call; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let context = self.context.clone();
        Box::pin(async move {
            let started = Instant::now();
            let method = request.uri().path().to_string();
            let (mut parts, body) = request.into_parts();
            let header = parts.headers.get(AUTH_METADATA_KEY).map(|value| {
                // Binary metadata travels base64-encoded, with or without padding.
                let text = value.as_bytes();
                let trimmed: Vec<u8> = text.iter().copied().filter(|b| *b != b'=').collect();
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed).unwrap_or_default()
            });
            let limited = http_body_util::Limited::new(body, MAX_REQUEST_BYTES + 5);
            let result = match limited.collect().await {
                Err(_) => Err(AuthError::Oversized {
                    size: MAX_REQUEST_BYTES + 6,
                    max: MAX_REQUEST_BYTES,
                }),
                Ok(collected) => Ok(collected.to_bytes()),
            };
            let verdict = result.map_err(|e| (status_of(&e), false)).and_then(|bytes| {
                let message = crate::grpc::frame_message(&bytes).map_err(|e| {
                    (tonic::Status::invalid_argument(format!("malformed request: {e}")), false)
                })?;
                let node = context.node.key().address();
                let chain_id = context.node.ledger().consortium().chain_id().to_string();
                let destination = Destination { chain_id: &chain_id, node };
                let caller = context
                    .verifier
                    .verify(
                        header.as_deref(),
                        &method,
                        message,
                        &destination,
                        now_ms(),
                        |address| caller_status(&context.node, address),
                    )
                    .map_err(|e| (status_of(&e), e.authenticated()))?;
                Ok((caller, bytes))
            });
            match verdict {
                Ok((caller, bytes)) => {
                    let _ = parts.extensions.insert(caller);
                    let request = http::Request::from_parts(
                        parts,
                        Body::new(http_body_util::Full::new(bytes)),
                    );
                    inner.call(request).await
                }
                Err((refusal, authenticated)) => {
                    if !authenticated && !context.sampler.admit(now_ms()) {
                        let status = tonic::Status::new(
                            refusal.code(),
                            format!(
                                "{} (not recorded one by one: unauthenticated refusals beyond {} a second are counted)",
                                refusal.message(),
                                UNAUTHENTICATED_EVENTS_PER_SECOND
                            ),
                        );
                        return Ok(status.into_http());
                    }
                    let signer = header
                        .as_deref()
                        .and_then(|h| SignedRequest::decode(h).ok())
                        .map(|r| r.address());
                    let (organisation, role) =
                        match signer.map(|a| caller_status(&context.node, &a)) {
                            Some(CallerStatus::Registered { organisation, role }) => {
                                (organisation, role.to_string())
                            }
                            _ => (String::new(), String::new()),
                        };
                    // The envelope of a refused request is not the caller's
                    // evidence: it did not authenticate, or was refused before
                    // anything was served.
                    let event = Event {
                        who: Who::Unproven {
                            identity: signer.map(|a| a.to_string()).unwrap_or_default(),
                            organisation,
                            role,
                        },
                        action: action_of(&method),
                        method,
                        resource: "request".to_string(),
                        allowed: false,
                        reason: refusal.message().to_string(),
                        bytes: 0,
                        started: Some(started),
                    }
                    .into_access_event(&context.node);
                    let event_id = event.event_id.clone();
                    let status = match context.access.record(event).await {
                        Ok(_) => tonic::Status::new(
                            refusal.code(),
                            format!("{} (access event {event_id})", refusal.message()),
                        ),
                        Err(e) => tonic::Status::unavailable(format!(
                            "cannot record the access event: {e}"
                        )),
                    };
                    Ok(status.into_http())
                }
            }
        })
    }
}

/// The signer of a read on a public service, if the request carries a
/// signed envelope (`x-cairn-auth-bin`, as the Access service requires); a
/// signature that does not verify is refused rather than read as anonymous.
pub(crate) fn signed_reader<T: prost::Message>(
    verifier: &RequestVerifier,
    node: &Node,
    request: &Request<T>,
) -> Result<Option<VerifiedCaller>, Status> {
    let Some(value) = request.metadata().get_bin(AUTH_METADATA_KEY) else { return Ok(None) };
    let CalledMethod(method) = request.extensions().get::<CalledMethod>().ok_or_else(|| {
        Status::internal("the request's method is unknown: the auth layer is missing")
    })?;
    let header = value.to_bytes().map_err(|_| {
        Status::invalid_argument(format!("{AUTH_METADATA_KEY} is not valid base64"))
    })?;
    let body = request.get_ref().encode_to_vec();
    let chain_id = node.ledger().consortium().chain_id().to_string();
    let destination =
        access_control::request::Destination { chain_id: &chain_id, node: node.key().address() };
    verifier
        .verify(Some(&header), method, &body, &destination, crate::clock::now_ms(), |address| {
            crate::rpc::auth::caller_status(node, address)
        })
        .map(Some)
        .map_err(|e| {
            let message = e.to_string();
            match e.kind() {
                AuthErrorKind::Unauthenticated => Status::unauthenticated(message),
                AuthErrorKind::PermissionDenied => Status::permission_denied(message),
                AuthErrorKind::InvalidArgument => Status::invalid_argument(message),
                AuthErrorKind::ResourceExhausted => Status::resource_exhausted(message),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unauthenticated_refusals_beyond_the_rate_are_counted_not_recorded() {
        let sampler = RefusalSampler::default();
        let second = 1_700_000_000_000;
        let recorded = (0..100).filter(|i| sampler.admit(second + i)).count();
        assert_eq!(recorded as u64, UNAUTHENTICATED_EVENTS_PER_SECOND);
        assert_eq!(sampler.unrecorded_total(), 100 - UNAUTHENTICATED_EVENTS_PER_SECOND);
        // The next second records again.
        assert!(sampler.admit(second + 1_000));
        assert_eq!(sampler.take_unrecorded(), 100 - UNAUTHENTICATED_EVENTS_PER_SECOND);
        assert_eq!(sampler.take_unrecorded(), 0, "the count is taken once");
        assert_eq!(sampler.unrecorded_total(), 100 - UNAUTHENTICATED_EVENTS_PER_SECOND);
    }
}
