//! The signed-request check in front of the `cairn.v1.Access` service.
//!
//! A tonic interceptor sees only metadata, not the body, so the check is a
//! tower layer: it reads the `x-cairn-auth-bin` envelope, buffers the request
//! (at most 1 MiB), takes the protobuf message bytes out of the gRPC frame and
//! hands both to `access_control::request::RequestVerifier`, so the digest is
//! over exactly the bytes received. A refused request is answered with its
//! gRPC status and recorded as a denied access event; an accepted one goes on
//! with the `VerifiedCaller` in its extensions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use access_control::request::{
    AUTH_METADATA_KEY, AuthError, AuthErrorKind, CallerStatus, MAX_REQUEST_BYTES, RequestVerifier,
    SignedRequest,
};
use anchor_chaincode::Address;
use asset_registry::audit::{AccessEvent, Decision};
use base64::Engine;
use http_body_util::BodyExt;
use tonic::body::Body;

use crate::access::{AccessLog, new_event_id};
use crate::client::now_ms;
use crate::node::Node;

/// The method prefix of the protected service.
pub(crate) const PROTECTED_PREFIX: &str = "/cairn.v1.Access/";
/// The method prefix of the certificate-check service, signed the same way.
pub(crate) const CERT_CHECK_PREFIX: &str = "/cairn.v1.CertificateCheck/";
/// The method prefix of the billing service, signed the same way.
pub(crate) const BILLING_PREFIX: &str = "/cairn.v1.Billing/";

/// Whether a method needs a signed request.
fn is_protected(path: &str) -> bool {
    path.starts_with(PROTECTED_PREFIX)
        || path.starts_with(CERT_CHECK_PREFIX)
        || path.starts_with(BILLING_PREFIX)
}

/// What the layer needs.
pub(crate) struct AuthContext {
    pub(crate) verifier: RequestVerifier,
    pub(crate) node: Node,
    pub(crate) access: AccessLog,
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
pub(crate) fn action_of(method: &str) -> &'static str {
    if method.starts_with(CERT_CHECK_PREFIX) {
        return "verify_certificate";
    }
    if method.starts_with(BILLING_PREFIX) {
        return "read_bills";
    }
    match method.strip_prefix(PROTECTED_PREFIX) {
        Some("RequestAccess") => "request_data",
        Some("VerifyDataHash") => "verify",
        Some("ListAccessEvents" | "ProveAccessEvent") => "read_audit",
        _ => "unknown",
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

/// The message bytes of a single uncompressed gRPC frame.
fn grpc_message(body: &[u8]) -> Result<&[u8], String> {
    if body.len() < 5 {
        return Err(format!(
            "request body is {} bytes, shorter than a gRPC frame header",
            body.len()
        ));
    }
    if body[0] != 0 {
        return Err("compressed request messages are not accepted: the signature covers the uncompressed bytes".into());
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if body.len() != 5 + len {
        return Err(format!(
            "request body holds {} bytes after the frame header, the frame says {len}",
            body.len() - 5
        ));
    }
    Ok(&body[5..])
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

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
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
            let verdict = result.map_err(|e| status_of(&e)).and_then(|bytes| {
                let message = grpc_message(&bytes).map_err(|e| {
                    tonic::Status::invalid_argument(format!("malformed request: {e}"))
                })?;
                let caller = context
                    .verifier
                    .verify(header.as_deref(), &method, message, now_ms(), |address| {
                        caller_status(&context.node, address)
                    })
                    .map_err(|e| status_of(&e))?;
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
                Err(refusal) => {
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
                    let event = AccessEvent {
                        event_id: new_event_id(),
                        time_ms: now_ms(),
                        identity: signer.map(|a| a.to_string()).unwrap_or_default(),
                        organisation,
                        role,
                        action: action_of(&method).to_string(),
                        resource: "request".to_string(),
                        decision: Decision::Denied,
                        reason: refusal.message().to_string(),
                        bytes: 0,
                        latency_us: started.elapsed().as_micros() as u64,
                        method,
                        ledger_height: context.node.ledger().height(),
                    };
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
