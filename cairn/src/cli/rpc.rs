//! How every command reaches a node: one [`connect`], one message-size
//! limit, one mapping of a gRPC status to an error, and requests signed by
//! the transport itself.
//!
//! A client made with [`connect_as`] signs each request it sends: the
//! transport takes the protobuf bytes out of the gRPC frame and signs them
//! together with the request's own path (`/cairn.v1.Access/RequestAccess`),
//! the node's chain and the node's address. The method a request is signed
//! for is therefore the method it is sent to; no command names one.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};

use access_control::keys::{KeyPair, random_bytes};
use access_control::request::{AUTH_METADATA_KEY, Destination, SignedRequest};
use anchor_chaincode::tx::TxDraft;
use anchor_chaincode::{Address, ValidationCode};
use anyhow::{Context as _, bail, format_err};
use base64::Engine;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::access_client::AccessClient;
use cairn_schemas::v1::billing_client::BillingClient;
use cairn_schemas::v1::cases_client::CasesClient;
use cairn_schemas::v1::certificate_check_client::CertificateCheckClient;
use cairn_schemas::v1::certificates_client::CertificatesClient;
use cairn_schemas::v1::ledger_client::LedgerClient;
use http_body_util::BodyExt;
use tonic::body::Body;
use tonic::transport::Channel;
use tower::Service;

use super::NodeArgs;
use crate::clock::now_ms;

/// The largest answer a command accepts (a statement with every line, a
/// certificate list, an audit page).
pub(crate) const MAX_DECODING_BYTES: usize = 256 * 1024 * 1024;
/// The largest request a command sends (an envelope of the largest block's size).
pub(crate) const MAX_ENCODING_BYTES: usize = 8 * 1024 * 1024;

/// An error and all its causes, on one line.
pub(crate) fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Turns a gRPC status into an error that says what the node said.
pub(crate) fn status(status: tonic::Status) -> anyhow::Error {
    match std::error::Error::source(&status) {
        Some(cause) => format_err!(
            "the node answered {:?}: {}: {}",
            status.code(),
            status.message(),
            causes(cause)
        ),
        None => format_err!("the node answered {:?}: {}", status.code(), status.message()),
    }
}

/// Opens a channel to the node, with TLS for https:// URLs.
async fn channel(node: &NodeArgs) -> anyhow::Result<Channel> {
    let url = &node.node;
    let mut endpoint = Channel::from_shared(url.clone())
        .with_context(|| format!("{url:?} is not a valid node URL"))?;
    if url.starts_with("https://") {
        let Some(ca_cert) = &node.ca_cert else {
            bail!(
                "{url} uses TLS: give --ca-cert (or CAIRN_CA_CERT) with the CA certificate that signed the node's certificate"
            )
        };
        let pem =
            std::fs::read(ca_cert).with_context(|| format!("cannot read {}", ca_cert.display()))?;
        endpoint = endpoint
            .tls_config(
                tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(pem)),
            )
            .context("invalid TLS configuration")?;
    }
    endpoint.connect().await.map_err(|e| {
        format_err!(
            "cannot reach the node at {url}: {} (is `cairn up` running? set --node or CAIRN_NODE)",
            causes(&e)
        )
    })
}

/// A generated gRPC client over the signing [`Transport`], with the limits above.
pub(crate) trait Client: Sized {
    /// The client over `transport`.
    fn over(transport: Transport) -> Self;
}

macro_rules! clients {
    ($($client:ident),* $(,)?) => {
        $(impl Client for $client<Transport> {
            fn over(transport: Transport) -> Self {
                $client::new(transport)
                    .max_decoding_message_size(MAX_DECODING_BYTES)
                    .max_encoding_message_size(MAX_ENCODING_BYTES)
            }
        })*
    };
}
clients!(
    LedgerClient,
    AccessClient,
    BillingClient,
    CertificatesClient,
    CertificateCheckClient,
    CasesClient
);

/// A client of the node at `node`; its requests are not signed.
pub(crate) async fn connect<C: Client>(node: &NodeArgs) -> anyhow::Result<C> {
    Ok(C::over(Transport { channel: channel(node).await?, signer: None }))
}

/// A client of the node at `node` whose every request is signed by `key`
/// for that node's chain and address (learnt once per process, see [`Target::of`]).
pub(crate) async fn connect_as<C: Client>(node: &NodeArgs, key: &KeyPair) -> anyhow::Result<C> {
    let channel = channel(node).await?;
    let target = Target::of(node, &channel).await?;
    Ok(C::over(Transport::signed(channel, key, target)))
}

/// One client per key over one connection to `node` (for load tests).
pub(crate) async fn connect_each_as<C: Client>(
    node: &NodeArgs,
    keys: &[KeyPair],
) -> anyhow::Result<Vec<C>> {
    let channel = channel(node).await?;
    let target = Target::of(node, &channel).await?;
    Ok(keys
        .iter()
        .map(|key| C::over(Transport::signed(channel.clone(), key, target.clone())))
        .collect())
}

/// [`connect_as`] with a key, [`connect`] without one: a read the node
/// answers to anyone but shows more to some signers.
pub(crate) async fn connect_maybe_as<C: Client>(
    node: &NodeArgs,
    key: Option<&KeyPair>,
) -> anyhow::Result<C> {
    match key {
        Some(key) => connect_as(node, key).await,
        None => connect(node).await,
    }
}

/// Where signed requests to a node go: its chain and its address, as its
/// public `GetNodeInfo` says. An envelope names both, so the node it is sent
/// to cannot replay it to another node or chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) chain_id: String,
    pub(crate) node: Address,
}

impl Target {
    /// Asks the node once per process and node URL; later calls reuse the answer.
    async fn of(node: &NodeArgs, channel: &Channel) -> anyhow::Result<Target> {
        static KNOWN: OnceLock<Mutex<BTreeMap<String, Target>>> = OnceLock::new();
        let known = KNOWN.get_or_init(Default::default);
        if let Some(target) =
            known.lock().unwrap_or_else(PoisonError::into_inner).get(&node.node).cloned()
        {
            return Ok(target);
        }
        let mut ledger =
            LedgerClient::<Transport>::over(Transport { channel: channel.clone(), signer: None });
        let target = Target::from_info(&node_info(&mut ledger).await?)?;
        let _ = known
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(node.node.clone(), target.clone());
        Ok(target)
    }

    /// The target a node's info names.
    pub(crate) fn from_info(info: &pb::NodeInfo) -> anyhow::Result<Target> {
        if info.node_address.is_empty() {
            bail!(
                "the node does not say its address, so requests cannot be signed for it; \
                 it runs an older version of Cairn than this client"
            );
        }
        let node: Address = info.node_address.parse().map_err(|e: anchor_chaincode::Error| {
            format_err!("the node's address {:?} is malformed: {e}", info.node_address)
        })?;
        Ok(Target { chain_id: info.chain_id.clone(), node })
    }

    /// As the envelope module takes it.
    pub(crate) fn destination(&self) -> Destination<'_> {
        Destination { chain_id: &self.chain_id, node: self.node }
    }
}

/// Who signs a transport's requests, and for which node.
struct Signer {
    key: KeyPair,
    target: Target,
}

impl Signer {
    /// `request` with the envelope over its path and message bytes.
    async fn sign(&self, request: http::Request<Body>) -> anyhow::Result<http::Request<Body>> {
        let (mut parts, body) = request.into_parts();
        let bytes =
            body.collect().await.map_err(|e| format_err!("cannot read the request: {e}"))?;
        let bytes = bytes.to_bytes();
        let message = crate::grpc::frame_message(&bytes).map_err(|e| format_err!(e))?;
        let envelope = SignedRequest::sign(
            self.key.signing_key(),
            &self.target.destination(),
            parts.uri.path(),
            message,
            now_ms(),
            random_bytes::<16>()?,
        );
        let value = base64::engine::general_purpose::STANDARD_NO_PAD.encode(envelope.encode());
        let _ = parts.headers.insert(AUTH_METADATA_KEY, http::HeaderValue::try_from(value)?);
        Ok(http::Request::from_parts(parts, Body::new(http_body_util::Full::new(bytes))))
    }
}

/// The channel every client uses: a tonic channel that, when it has a
/// signer, signs each request on its way out.
#[derive(Clone)]
pub(crate) struct Transport {
    channel: Channel,
    signer: Option<Arc<Signer>>,
}

impl Transport {
    /// A transport signing as `key` for `target`.
    fn signed(channel: Channel, key: &KeyPair, target: Target) -> Transport {
        Transport { channel, signer: Some(Arc::new(Signer { key: key.clone(), target })) }
    }
}

impl Service<http::Request<Body>> for Transport {
    type Response = http::Response<Body>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.channel.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The ready channel sends this request; a fresh clone waits for the next one.
        let clone = self.channel.clone();
        let mut channel = std::mem::replace(&mut self.channel, clone);
        let signer = self.signer.clone();
        Box::pin(async move {
            let request = match signer {
                Some(signer) => signer
                    .sign(request)
                    .await
                    .map_err(Box::<dyn std::error::Error + Send + Sync>::from)?,
                None => request,
            };
            channel.call(request).await.map_err(Into::into)
        })
    }
}

/// The node's public description: its chain, address and keys.
pub(crate) async fn node_info(
    client: &mut LedgerClient<Transport>,
) -> anyhow::Result<pb::NodeInfo> {
    Ok(client.get_node_info(pb::GetNodeInfoRequest {}).await.map_err(status)?.into_inner())
}

/// A fresh draft for the node's chain.
pub(crate) fn draft(chain_id: &str, body: pb::tx_payload::Body) -> anyhow::Result<TxDraft> {
    Ok(TxDraft {
        chain_id: chain_id.to_string(),
        nonce: random_bytes::<16>()?.to_vec(),
        timestamp_ms: now_ms(),
        body,
    })
}

/// A validation code's name, as the ledger writes it.
pub(crate) fn code_name(number: i32) -> &'static str {
    u16::try_from(number)
        .ok()
        .and_then(ValidationCode::from_number)
        .map_or("unknown", ValidationCode::as_str)
}

/// Submits an envelope; a transaction recorded as not valid is an error naming its code and reason.
pub(crate) async fn submit(
    client: &mut LedgerClient<Transport>,
    envelope: Vec<u8>,
) -> anyhow::Result<pb::SubmitResponse> {
    let response =
        client.submit(pb::SubmitRequest { envelope }).await.map_err(status)?.into_inner();
    if response.validation_code != i32::from(ValidationCode::Valid.number()) {
        bail!(
            "transaction {} was recorded in block {} as {}: {}",
            response.tx_id,
            response.block_number,
            code_name(response.validation_code),
            response.message
        );
    }
    Ok(response)
}

/// Submits an envelope and prints the outcome; an invalid transaction is an error.
pub(crate) async fn submit_and_print(
    client: &mut LedgerClient<Transport>,
    envelope: Vec<u8>,
    json: bool,
) -> anyhow::Result<pb::SubmitResponse> {
    let response =
        client.submit(pb::SubmitRequest { envelope }).await.map_err(status)?.into_inner();
    let code = code_name(response.validation_code);
    let response_json: serde_json::Value =
        serde_json::from_str(&response.response_json).unwrap_or_default();
    let view = serde_json::json!({
        "tx_id": response.tx_id,
        "block": response.block_number,
        "validation_code": code,
        "message": response.message,
        "response": response_json,
    });
    super::print(json, &view, || {
        let mut text = format!(
            "tx       {}\nblock    {}\nresult   {code}",
            response.tx_id, response.block_number
        );
        if !response.message.is_empty() {
            text.push_str(&format!("\nreason   {}", response.message));
        }
        if !response.response_json.is_empty() {
            text.push_str(&format!("\nresponse {}", response.response_json));
        }
        text
    });
    if response.validation_code != i32::from(ValidationCode::Valid.number()) {
        bail!(
            "transaction {} was recorded in block {} as {code}: {}",
            response.tx_id,
            response.block_number,
            response.message
        );
    }
    Ok(response)
}
