//! Talking to a node over gRPC directly: a client, and signed requests.

use std::time::SystemTime;

use access_control::keys::KeyPair;
use anyhow::{Context, format_err};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::ledger_client::LedgerClient;
use tonic::transport::Channel;

/// Connects a gRPC client to a node URL (`http://ADDR`).
pub async fn connect(url: &str) -> anyhow::Result<LedgerClient<Channel>> {
    let channel = Channel::from_shared(url.to_string())
        .with_context(|| format!("{url:?} is not a valid URL"))?
        .connect()
        .await
        .with_context(|| format!("cannot connect to {url}"))?;
    Ok(LedgerClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024)
        .max_encoding_message_size(64 * 1024 * 1024))
}

/// Where signed requests to the node at `url` go: its chain id and the
/// address of its key, from its public node info.
pub async fn target(url: &str) -> anyhow::Result<(String, anchor_chaincode::Address)> {
    let info = connect(url).await?.get_node_info(pb::GetNodeInfoRequest {}).await?.into_inner();
    let node = info.node_address.parse().map_err(|e: anchor_chaincode::Error| format_err!(e))?;
    Ok((info.chain_id, node))
}

/// A version 2 envelope signed by `key` for `method` and `body`, for the node
/// at `target` (see [`target`]).
pub fn sign_request(
    key: &KeyPair,
    target: &(String, anchor_chaincode::Address),
    method: &str,
    body: &[u8],
    timestamp_ms: u64,
    nonce: [u8; 16],
) -> Vec<u8> {
    let destination = access_control::request::Destination { chain_id: &target.0, node: target.1 };
    access_control::request::SignedRequest::sign(
        key.signing_key(),
        &destination,
        method,
        body,
        timestamp_ms,
        nonce,
    )
    .encode()
}

/// `n` signed `VerifyDataHash` requests for `asset_id`'s latest version,
/// `in_flight` at a time, signed by `key`; each result is the access event id
/// the node answered with, or its refusal.
pub async fn verify_data_hash_many(
    url: &str,
    key: &KeyPair,
    asset_id: &str,
    content_hash: &[u8],
    n: usize,
    in_flight: usize,
) -> Vec<Result<String, tonic::Status>> {
    const METHOD: &str = "/cairn.v1.Access/VerifyDataHash";
    let Ok(target) = target(url).await else {
        return (0..n).map(|_| Err(tonic::Status::unavailable("cannot read node info"))).collect();
    };
    let channel = Channel::from_shared(url.to_string()).expect("a valid URL").connect().await;
    let Ok(channel) = channel else {
        return (0..n).map(|_| Err(tonic::Status::unavailable("cannot connect"))).collect();
    };
    let client = cairn_schemas::v1::access_client::AccessClient::new(channel);
    let mut results = Vec::with_capacity(n);
    let mut set = tokio::task::JoinSet::new();
    let mut sent = 0;
    while results.len() < n {
        while sent < n && set.len() < in_flight {
            let mut client = client.clone();
            let message = pb::VerifyDataHashRequest {
                asset_id: asset_id.into(),
                version: 0,
                content_hash: content_hash.to_vec(),
            };
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&(sent as u64).to_be_bytes());
            nonce[8..].copy_from_slice(&now.to_be_bytes());
            let envelope = sign_request(
                key,
                &target,
                METHOD,
                &prost::Message::encode_to_vec(&message),
                now,
                nonce,
            );
            let mut request = tonic::Request::new(message);
            let _ = request.metadata_mut().insert_bin(
                access_control::request::AUTH_METADATA_KEY,
                tonic::metadata::MetadataValue::from_bytes(&envelope),
            );
            let _ = set.spawn(async move {
                client.verify_data_hash(request).await.map(|r| r.into_inner().event_id)
            });
            sent += 1;
        }
        match set.join_next().await {
            Some(Ok(result)) => results.push(result),
            Some(Err(e)) => results.push(Err(tonic::Status::internal(e.to_string()))),
            None => break,
        }
    }
    results
}
