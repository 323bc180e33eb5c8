//! The gRPC edge: `cairn.v1.Ledger` served by tonic, with server reflection.
//! Domain types become protobuf types here and nowhere else.
//!
//! Ledger reads are public, but show only what the public may see: an
//! asset's authorised list, and the `SetSharingRules` transactions that set
//! it, are shown to a caller who signed the request (`x-cairn-auth-bin`, as
//! the Access service requires) as a member of the owner organisation, a
//! listed identity or an auditor. Anyone else gets the asset with the list
//! left out (`authorised_hidden`, with its count), the transaction without
//! its envelope and payload, and no inclusion proof for it.

use std::net::SocketAddr;

use access_control::request::{AUTH_METADATA_KEY, AuthErrorKind, RequestVerifier, VerifiedCaller};
use anchor_chaincode::ledger::{AssetRecord, IdentityRecord};
use anchor_chaincode::tx::{self, MAX_TX_BYTES, Transaction};
use anchor_chaincode::{Address, BlockHeader, Receipt, TxId, ValidationCode};
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::ledger_server::{Ledger, LedgerServer};
use tonic::{Request, Response, Status};

use crate::node::{Node, SubmitError};

pub(crate) mod access;
pub(crate) mod auth;
pub(crate) mod billing;
pub(crate) mod certificates;
mod decision;

/// The `cairn.v1.Ledger` service over a node.
#[derive(Debug, Clone)]
pub(crate) struct LedgerService {
    node: Node,
    /// The PostgreSQL projections, when the node has them.
    directory: Option<asset_registry::pg::Projections>,
    /// Checks the signed requests of reads that carry one.
    readers: std::sync::Arc<RequestVerifier>,
}

/// Whether `caller` may see who is authorised to read `asset`: a member of
/// the owner organisation, a listed identity or an auditor.
pub(crate) fn may_see_sharing(caller: Option<&VerifiedCaller>, asset: &AssetRecord) -> bool {
    caller.is_some_and(|caller| {
        caller.organisation == asset.owner_organisation
            || caller.role == anchor_chaincode::Role::Auditor
            || asset.authorised.contains(&caller.address)
    })
}

/// What anonymous callers see of a hidden list.
const HIDDEN: &str = "hidden: sign the request as a member of the owner organisation, a listed identity or an auditor to see it";

/// The signer of a read on a public service, if the request carries a
/// signed envelope (`x-cairn-auth-bin`, as the Access service requires); a
/// signature that does not verify is refused rather than read as anonymous.
pub(crate) fn signed_reader<T: prost::Message>(
    verifier: &RequestVerifier,
    node: &Node,
    request: &Request<T>,
    method: &str,
) -> Result<Option<VerifiedCaller>, Status> {
    let Some(value) = request.metadata().get_bin(AUTH_METADATA_KEY) else { return Ok(None) };
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

impl LedgerService {
    /// The signer of a read, if any (see [`signed_reader`]).
    fn reader<T: prost::Message>(
        &self,
        request: &Request<T>,
        method: &str,
    ) -> Result<Option<VerifiedCaller>, Status> {
        signed_reader(&self.readers, &self.node, request, method)
    }

    /// Whether the sharing rules a transaction sets may be shown to `caller`
    /// (true for every other transaction).
    fn may_see_transaction(&self, caller: Option<&VerifiedCaller>, envelope: &[u8]) -> bool {
        match Transaction::decode(envelope).map(|t| t.body) {
            Ok(anchor_chaincode::tx::TxBody::SetSharingRules(rules)) => {
                self.node.ledger().asset(&rules.asset_id).is_none_or(|asset| {
                    may_see_sharing(caller, asset)
                        // The list as it was set: someone it named may see it too.
                        || caller.is_some_and(|c| rules.authorised.contains(&c.address.to_string()))
                })
            }
            _ => true,
        }
    }
}

/// Searches the ledger state itself (no PostgreSQL): every word of `text`
/// must appear, case-insensitively, in the asset id, name or description.
fn search_ledger(
    ledger: &anchor_chaincode::ledger::Ledger,
    query: &asset_registry::pg::SearchQuery,
) -> Vec<pb::DirectoryEntry> {
    let words: Vec<String> = query.text.split_whitespace().map(str::to_lowercase).collect();
    let limit = if query.limit == 0 { 50 } else { query.limit.min(1000) };
    ledger
        .assets()
        .filter_map(|asset| {
            let latest = asset.versions.last()?;
            let meta: serde_json::Value =
                serde_json::from_slice(&latest.metadata).unwrap_or_default();
            let text =
                |key: &str| meta.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let (name, description) = (text("name"), text("description"));
            let haystack = format!("{} {} {}", asset.asset_id, name, description).to_lowercase();
            let matches = words.iter().all(|w| haystack.contains(w.as_str()))
                && query.owner_organisation.as_ref().is_none_or(|o| *o == asset.owner_organisation)
                && query.data_type.as_ref().is_none_or(|t| t == latest.data_type.as_str());
            matches.then(|| pb::DirectoryEntry {
                asset_id: asset.asset_id.clone(),
                owner_organisation: asset.owner_organisation.clone(),
                owner_address: asset.owner_address.to_string(),
                data_type: latest.data_type.as_str().to_owned(),
                name,
                description,
                latest_version: latest.version,
                authorised_count: u32::try_from(asset.authorised.len()).unwrap_or(u32::MAX),
                rank: 0.0,
            })
        })
        .take(limit)
        .collect()
}

pub(crate) fn code_to_pb(code: ValidationCode) -> i32 {
    // The protobuf enum uses the same numbers.
    i32::from(code.number())
}

pub(crate) fn header_to_pb(header: &BlockHeader, hash: &[u8; 32]) -> pb::BlockHeader {
    pb::BlockHeader {
        number: header.number,
        previous_hash: header.previous_hash.to_vec(),
        tx_root: header.tx_root.to_vec(),
        log_root: header.log_root.to_vec(),
        log_size: header.log_size,
        state_root: header.state_root.to_vec(),
        log_offset: header.log_offset,
        tx_count: header.tx_count,
        hash: hash.to_vec(),
    }
}

fn identity_to_pb(identity: &IdentityRecord) -> pb::Identity {
    pb::Identity {
        address: identity.address.to_string(),
        name: identity.name.clone(),
        organisation: identity.organisation.clone(),
        role: tx::role_to_pb(identity.role).into(),
        signing_public_key: identity.signing_public_key.to_vec(),
        encryption_public_key: identity.encryption_public_key.to_vec(),
        registered_in_block: identity.registered_in_block,
        registered_by_tx: identity.registered_by_tx.to_string(),
        revoked_reason: identity.revoked.as_ref().map(|r| r.reason.clone()).unwrap_or_default(),
        revoked_in_block: identity.revoked.as_ref().map_or(0, |r| r.block_number),
    }
}

fn asset_to_pb(asset: &AssetRecord, caller: Option<&VerifiedCaller>) -> pb::Asset {
    let visible = may_see_sharing(caller, asset);
    pb::Asset {
        asset_id: asset.asset_id.clone(),
        owner_organisation: asset.owner_organisation.clone(),
        owner_address: asset.owner_address.to_string(),
        authorised: if visible {
            asset.authorised.iter().map(ToString::to_string).collect()
        } else {
            Vec::new()
        },
        authorised_hidden: !visible,
        authorised_count: u32::try_from(asset.authorised.len()).unwrap_or(u32::MAX),
        versions: asset
            .versions
            .iter()
            .map(|v| pb::AssetVersion {
                version: v.version,
                data_type: tx::data_type_to_pb(v.data_type).into(),
                hash_algorithm: v.hash_algorithm.clone(),
                content_hash: v.content_hash.to_vec(),
                size_bytes: v.size_bytes,
                metadata: v.metadata.clone(),
                tx_id: v.tx_id.to_string(),
                block_number: v.block_number,
            })
            .collect(),
    }
}

fn checkpoint_to_pb(
    checkpoint: &anchor_chaincode::checkpoint::Checkpoint,
    note: String,
) -> pb::Checkpoint {
    pb::Checkpoint {
        signed_note: note,
        tree_size: checkpoint.size,
        root_hash: checkpoint.root.to_vec(),
    }
}

fn submit_response(receipt: &Receipt) -> pb::SubmitResponse {
    pb::SubmitResponse {
        tx_id: receipt.tx_id.to_string(),
        block_number: receipt.block_number,
        validation_code: code_to_pb(receipt.code),
        message: receipt.message.clone(),
        response_json: receipt.response.clone(),
    }
}

/// A transaction's inclusion proof with the signed checkpoint it is for (`tree_size` 0: the current size).
pub(crate) fn inclusion_proof(
    node: &Node,
    tx_id: &TxId,
    tree_size: u64,
) -> Result<pb::GetInclusionProofResponse, Status> {
    let (receipt, envelope) = node
        .envelope(tx_id)
        .map_err(internal)?
        .ok_or_else(|| Status::not_found(format!("no transaction {tx_id}")))?;
    let (checkpoint, note) =
        node.signed_checkpoint(tree_size).map_err(|e| Status::out_of_range(e.to_string()))?;
    let hashes = node
        .ledger()
        .merkle_log()
        .inclusion_proof(receipt.leaf_index, checkpoint.size)
        .map_err(|e| Status::out_of_range(e.to_string()))?;
    let leaf = anchor_chaincode::ledger::leaf_data(
        receipt.block_number,
        receipt.index,
        receipt.code,
        &receipt.tx_id,
        &envelope,
    );
    Ok(pb::GetInclusionProofResponse {
        tx_id: tx_id.to_string(),
        proof: Some(pb::InclusionProof {
            leaf_index: receipt.leaf_index,
            tree_size: checkpoint.size,
            leaf,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        }),
        checkpoint: Some(checkpoint_to_pb(&checkpoint, note)),
    })
}

/// The gRPC status of a refused or failed submission.
pub(crate) fn submit_status(error: SubmitError) -> Status {
    match error {
        SubmitError::Rejected(message) => Status::invalid_argument(message),
        SubmitError::Unauthenticated(message) => Status::unauthenticated(message),
        SubmitError::Revoked(message) => Status::permission_denied(message),
        SubmitError::ShuttingDown => Status::unavailable("the node is shutting down"),
        e @ SubmitError::Log(_) => Status::unavailable(e.to_string()),
    }
}

fn parse_tx_id(text: &str) -> Result<TxId, Status> {
    text.parse().map_err(Status::invalid_argument)
}

fn internal(error: impl std::fmt::Display) -> Status {
    Status::internal(error.to_string())
}

#[tonic::async_trait]
impl Ledger for LedgerService {
    async fn submit(
        &self,
        request: Request<pb::SubmitRequest>,
    ) -> Result<Response<pb::SubmitResponse>, Status> {
        let envelope = request.into_inner().envelope;
        if envelope.len() > MAX_TX_BYTES {
            return Err(Status::invalid_argument(format!(
                "oversized: envelope is {} bytes, more than the limit of {MAX_TX_BYTES}",
                envelope.len()
            )));
        }
        match self.node.submit(envelope).await {
            Ok(submitted) => Ok(Response::new(submit_response(&submitted.receipt))),
            Err(e) => Err(submit_status(e)),
        }
    }

    async fn get_transaction(
        &self,
        request: Request<pb::GetTransactionRequest>,
    ) -> Result<Response<pb::TransactionDetails>, Status> {
        let caller = self.reader(&request, "/cairn.v1.Ledger/GetTransaction")?;
        let tx_id = parse_tx_id(&request.into_inner().tx_id)?;
        let (receipt, mut envelope) = self
            .node
            .envelope(&tx_id)
            .map_err(internal)?
            .ok_or_else(|| Status::not_found(format!("no transaction {tx_id}")))?;
        let mut payload_json = match Transaction::decode(&envelope) {
            Ok(transaction) => transaction.payload_json().to_string(),
            Err(_) => String::new(),
        };
        if !self.may_see_transaction(caller.as_ref(), &envelope) {
            envelope = Vec::new();
            payload_json = serde_json::json!({ "authorised": HIDDEN }).to_string();
        }
        Ok(Response::new(pb::TransactionDetails {
            tx_id: receipt.tx_id.to_string(),
            block_number: receipt.block_number,
            index_in_block: receipt.index,
            leaf_index: receipt.leaf_index,
            validation_code: code_to_pb(receipt.code),
            message: receipt.message.clone(),
            creator_address: receipt.creator.map(|a| a.to_string()).unwrap_or_default(),
            tx_type: receipt.tx_type.to_string(),
            timestamp_ms: receipt.timestamp_ms,
            payload_json,
            response_json: receipt.response.clone(),
            envelope,
        }))
    }

    async fn get_block(
        &self,
        request: Request<pb::GetBlockRequest>,
    ) -> Result<Response<pb::BlockHeader>, Status> {
        let number = request.into_inner().number;
        let ledger = self.node.ledger();
        let block = ledger.block(number).ok_or_else(|| {
            Status::not_found(format!(
                "no block {number}; the chain has {} blocks (0 to {})",
                ledger.height(),
                ledger.height() - 1
            ))
        })?;
        Ok(Response::new(header_to_pb(&block.header, &block.hash)))
    }

    async fn get_identity(
        &self,
        request: Request<pb::GetIdentityRequest>,
    ) -> Result<Response<pb::Identity>, Status> {
        let address: Address =
            request.into_inner().address.parse().map_err(Status::invalid_argument)?;
        let ledger = self.node.ledger();
        let identity = ledger
            .identity(&address)
            .ok_or_else(|| Status::not_found(format!("no identity {address}")))?;
        Ok(Response::new(identity_to_pb(identity)))
    }

    async fn get_asset(
        &self,
        request: Request<pb::GetAssetRequest>,
    ) -> Result<Response<pb::Asset>, Status> {
        let caller = self.reader(&request, "/cairn.v1.Ledger/GetAsset")?;
        let asset_id = request.into_inner().asset_id;
        let ledger = self.node.ledger();
        let asset = ledger
            .asset(&asset_id)
            .ok_or_else(|| Status::not_found(format!("no asset {asset_id:?}")))?;
        Ok(Response::new(asset_to_pb(asset, caller.as_ref())))
    }

    async fn list_assets(
        &self,
        request: Request<pb::ListAssetsRequest>,
    ) -> Result<Response<pb::ListAssetsResponse>, Status> {
        let caller = self.reader(&request, "/cairn.v1.Ledger/ListAssets")?;
        let owner = request.into_inner().owner_organisation;
        let ledger = self.node.ledger();
        let assets = ledger
            .assets()
            .filter(|asset| owner.is_empty() || asset.owner_organisation == owner)
            .map(|asset| asset_to_pb(asset, caller.as_ref()))
            .collect();
        Ok(Response::new(pb::ListAssetsResponse { assets }))
    }

    async fn search_assets(
        &self,
        request: Request<pb::SearchAssetsRequest>,
    ) -> Result<Response<pb::SearchAssetsResponse>, Status> {
        let request = request.into_inner();
        let data_type = (!request.data_type.is_empty()).then_some(request.data_type);
        if let Some(data_type) = &data_type
            && data_type.parse::<anchor_chaincode::DataType>().is_err()
        {
            return Err(Status::invalid_argument(format!(
                "unknown data type {data_type:?}; expected structured or unstructured"
            )));
        }
        let query = asset_registry::pg::SearchQuery {
            text: request.text,
            owner_organisation: (!request.owner_organisation.is_empty())
                .then_some(request.owner_organisation),
            data_type,
            limit: request.limit as usize,
        };
        let (entries, source) = match &self.directory {
            Some(directory) => {
                let found = directory
                    .search(&query)
                    .await
                    .map_err(|e| Status::unavailable(format!("directory search failed: {e}")))?;
                let entries = found
                    .into_iter()
                    .map(|e| pb::DirectoryEntry {
                        asset_id: e.asset_id,
                        owner_organisation: e.owner_organisation,
                        owner_address: e.owner_address,
                        data_type: e.data_type,
                        name: e.name,
                        description: e.description,
                        latest_version: e.latest_version,
                        authorised_count: u32::try_from(e.authorised_count).unwrap_or(u32::MAX),
                        rank: e.rank,
                    })
                    .collect();
                (entries, "postgres")
            }
            None => (search_ledger(&self.node.ledger(), &query), "ledger"),
        };
        Ok(Response::new(pb::SearchAssetsResponse { entries, source: source.to_owned() }))
    }

    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        let size = request.into_inner().tree_size;
        let (checkpoint, note) =
            self.node.signed_checkpoint(size).map_err(|e| Status::out_of_range(e.to_string()))?;
        Ok(Response::new(checkpoint_to_pb(&checkpoint, note)))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
        let caller = self.reader(&request, "/cairn.v1.Ledger/GetInclusionProof")?;
        let request = request.into_inner();
        let tx_id = parse_tx_id(&request.tx_id)?;
        let response = inclusion_proof(&self.node, &tx_id, request.tree_size)?;
        // The leaf holds the envelope: no proof of a sharing rule to whom may not see it.
        let leaf = response.proof.as_ref().map(|p| p.leaf.as_slice()).unwrap_or_default();
        let envelope = anchor_chaincode::ledger::parse_leaf(leaf).ok().map(|l| l.envelope);
        if let Some(envelope) = envelope
            && !self.may_see_transaction(caller.as_ref(), &envelope)
        {
            return Err(Status::permission_denied(format!(
                "transaction {tx_id} sets an asset's sharing rules, whose list is {HIDDEN}"
            )));
        }
        Ok(Response::new(response))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::GetConsistencyProofResponse>, Status> {
        let request = request.into_inner();
        let (checkpoint, note) = self
            .node
            .signed_checkpoint(request.new_size)
            .map_err(|e| Status::out_of_range(e.to_string()))?;
        let hashes = self
            .node
            .ledger()
            .merkle_log()
            .consistency_proof(request.old_size, checkpoint.size)
            .map_err(|e| Status::out_of_range(e.to_string()))?;
        Ok(Response::new(pb::GetConsistencyProofResponse {
            proof: Some(pb::ConsistencyProof {
                old_size: request.old_size,
                new_size: checkpoint.size,
                hashes: hashes.iter().map(|h| h.to_vec()).collect(),
            }),
            checkpoint: Some(checkpoint_to_pb(&checkpoint, note)),
        }))
    }

    async fn get_node_info(
        &self,
        _request: Request<pb::GetNodeInfoRequest>,
    ) -> Result<Response<pb::NodeInfo>, Status> {
        let ledger = self.node.ledger();
        let consortium = ledger.consortium();
        Ok(Response::new(pb::NodeInfo {
            chain_id: consortium.chain_id().to_string(),
            origin: consortium.origin.clone(),
            height: ledger.height(),
            tree_size: ledger.merkle_log().size(),
            state_root: ledger.state_root().to_vec(),
            verifier_key: self.node.signer().verifier_key(),
            genesis_json: String::from_utf8_lossy(&consortium.bytes).into_owned(),
            node_address: self.node.key().address().to_string(),
        }))
    }
}

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
    /// The PostgreSQL projections, when configured.
    pub(crate) directory: Option<asset_registry::pg::Projections>,
}

/// Serves the ledger and access services on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    services: Services,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Services { node, access, anchorer, policy, request_window, tls, store, directory } =
        services;
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
        directory.clone(),
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
            directory: directory.clone(),
        },
    )
    .max_encoding_message_size(256 * 1024 * 1024);
    let access_service =
        cairn_schemas::v1::access_server::AccessServer::new(crate::rpc::access::AccessService {
            node: node.clone(),
            access,
            policy,
            store,
            gate,
            directory: directory.clone(),
        })
        .max_decoding_message_size(2 * access_control::request::MAX_REQUEST_BYTES);
    let service = LedgerServer::new(LedgerService { node, directory, readers })
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
