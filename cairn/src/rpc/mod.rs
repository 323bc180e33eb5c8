//! The gRPC edge: the services of `cairn.v1` over a node, served by tonic
//! with server reflection, behind the signed-request layer ([`auth`]).
//! Domain types become protobuf types in [`convert`] and nowhere else; one
//! module per service.

use std::net::SocketAddr;

use access_control::request::RequestVerifier;
use anchor_chaincode::tx::MAX_TX_BYTES;
use cairn_schemas::v1::ledger_server::LedgerServer;

use crate::node::Node;

pub(crate) mod access;
pub(crate) mod auth;
pub(crate) mod billing;
pub(crate) mod cases;
pub(crate) mod certificates;
pub(crate) mod convert;
pub(crate) mod decision;
pub(crate) mod ledger;

/// How long a call may take before the server answers `CANCELLED`
/// (`DEADLINE_EXCEEDED` to the client): above the 60 s a Kafka-mode submission
/// waits for its block to be applied, so a slow but healthy call is not cut.
pub(crate) const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);
/// Calls served at once on one connection; more wait for a slot, so one
/// connection cannot take every worker.
pub(crate) const MAX_CONCURRENT_REQUESTS_PER_CONNECTION: usize = 64;
/// HTTP/2 streams a client may open at once on one connection.
pub(crate) const MAX_CONCURRENT_STREAMS: u32 = 128;
/// Streams reset by the client before the server accepted them ("rapid
/// reset", CVE-2023-44487) tolerated on one connection before it is closed.
pub(crate) const MAX_PENDING_RESET_STREAMS: usize = 32;
/// The largest request header block (metadata), the signed-request
/// envelope included.
pub(crate) const MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;
/// How often the server pings an idle HTTP/2 connection (and TCP keepalive).
pub(crate) const KEEPALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);
/// How long it waits for the ping's answer before closing the connection.
pub(crate) const KEEPALIVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the servers share.
pub(crate) struct Services {
    pub(crate) node: Node,
    pub(crate) access: crate::node::access_log::AccessLog,
    /// The node's anchoring, for anchors a request needs at once.
    pub(crate) anchorer: crate::node::anchor::Anchorer,
    pub(crate) policy: std::sync::Arc<access_control::policy::RolePolicy>,
    pub(crate) request_window: std::time::Duration,
    /// TLS, when configured.
    pub(crate) tls: Option<tonic::transport::ServerTlsConfig>,
    /// The department's ODS object store.
    pub(crate) store: std::sync::Arc<ods_frontend::store::SealedStore>,
    /// What the read services answer from.
    pub(crate) reads: crate::node::reads::Reads,
    /// The consortium's cosignatures.
    pub(crate) cosigning: crate::node::cosign::Cosigning,
    /// Other nodes' access-event logs from the access-event topic, when followed.
    pub(crate) relay: Option<crate::node::access_relay::AccessRelay>,
}

/// Serves the ledger and access services on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    services: Services,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Services {
        node,
        access,
        anchorer,
        policy,
        request_window,
        tls,
        store,
        reads,
        cosigning,
        relay,
    } = services;
    // Both reflection versions: grpcurl asks for v1, older clients for v1alpha.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cairn_schemas::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(cairn_schemas::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let auth = crate::rpc::auth::AuthLayer::new(crate::rpc::auth::AuthContext {
        verifier: access_control::request::RequestVerifier::new(request_window),
        node: node.clone(),
        access: access.clone(),
        sampler: crate::rpc::auth::RefusalSampler::default(),
    });
    // The nonces of requests answered before a restart stay refused.
    let restored = auth.context().restore_nonces();
    tracing::info!(nonces = restored, "replay cache restored from the access-event log");
    let refusal_summaries = tokio::spawn(crate::rpc::auth::summary_loop(auth.clone()));
    // Electronic certificates (cert_service.rs).
    // Signed reads of the public services share one replay cache.
    let readers = std::sync::Arc::new(RequestVerifier::new(request_window));
    let cert_service =
        crate::rpc::certificates::CertService::new(node.clone(), anchorer.clone(), readers.clone());
    let gate = std::sync::Arc::new(crate::node::gate::Gate::new(
        reads.projections().cloned(),
        node.key().address().to_string(),
    ));
    let check_service = cairn_schemas::v1::certificate_check_server::CertificateCheckServer::new(
        crate::rpc::certificates::CheckService {
            node: node.clone(),
            access: access.clone(),
            policy: policy.clone(),
            gate: gate.clone(),
        },
    );
    let billing_service = cairn_schemas::v1::billing_server::BillingServer::new(
        crate::rpc::billing::BillingService {
            node: node.clone(),
            access: access.clone(),
            policy: policy.clone(),
            anchorer: anchorer.clone(),
            reads: reads.clone(),
            relay: relay.clone(),
        },
    )
    .max_encoding_message_size(256 * 1024 * 1024);
    let cases_service =
        cairn_schemas::v1::cases_server::CasesServer::new(crate::rpc::cases::CasesService {
            node: node.clone(),
            access: access.clone(),
        })
        .max_encoding_message_size(64 * 1024 * 1024);
    let access_service =
        cairn_schemas::v1::access_server::AccessServer::new(crate::rpc::access::AccessService {
            node: node.clone(),
            access,
            policy,
            store,
            gate,
            reads: reads.clone(),
            relay,
        })
        .max_decoding_message_size(2 * access_control::request::MAX_REQUEST_BYTES);
    let service = LedgerServer::new(ledger::LedgerService { node, reads, cosigning, readers })
        .max_decoding_message_size(2 * MAX_TX_BYTES)
        .max_encoding_message_size(64 * 1024 * 1024);
    let mut builder = tonic::transport::Server::builder()
        .timeout(REQUEST_TIMEOUT)
        .concurrency_limit_per_connection(MAX_CONCURRENT_REQUESTS_PER_CONNECTION)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .http2_max_pending_accept_reset_streams(Some(MAX_PENDING_RESET_STREAMS))
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
        .tcp_keepalive(Some(KEEPALIVE_INTERVAL));
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls)
            .map_err(|e| anyhow::format_err!("invalid TLS certificate or key: {e}"))?;
    }
    builder
        .layer(auth)
        .add_service(access_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(service)
        .add_service(cairn_schemas::v1::certificates_server::CertificatesServer::new(cert_service))
        .add_service(check_service)
        .add_service(billing_service)
        .add_service(cases_service)
        // Small gRPC answers must not wait for Nagle's algorithm (40 ms with delayed ACKs).
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await?;
    refusal_summaries.abort();
    Ok(())
}

/// The address a listener is bound to, for printing.
pub(crate) fn local_addr(listener: &tokio::net::TcpListener) -> anyhow::Result<SocketAddr> {
    Ok(listener.local_addr()?)
}
