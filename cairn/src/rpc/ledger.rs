//! `cairn.v1.Ledger`: submissions, and reads of blocks, transactions,
//! identities, assets, checkpoints and proofs.
//!
//! Ledger reads are public, but show only what the public may see: an
//! asset's authorised list, and the `SetSharingRules` transactions that set
//! it, are shown to a caller who signed the request (`x-cairn-auth-bin`, as
//! the Access service requires) as a member of the owner organisation, a
//! listed identity or an auditor. Anyone else gets the asset with the list
//! left out (`authorised_hidden`, with its count), the transaction without
//! its envelope and payload, and no inclusion proof for it.

use access_control::request::{RequestVerifier, VerifiedCaller};
use anchor_chaincode::tx::{MAX_TX_BYTES, Transaction};
use anchor_chaincode::{Address, TxId};
use asset_registry::read::Directory;
use asset_registry::rows::SearchQuery;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::ledger_server::Ledger;
use tonic::{Request, Response, Status};

use super::auth::signed_reader;
use super::convert::{
    HIDDEN, agreement_to_pb, asset_to_pb, checkpoint_to_pb, code_to_pb, consortium_to_pb,
    header_to_pb, identity_to_pb, may_see_sharing, quorum_checkpoint_to_pb, submit_response,
};
use super::decision::{internal, submit_status};
use crate::node::Node;

/// The `cairn.v1.Ledger` service over a node.
#[derive(Debug, Clone)]
pub(crate) struct LedgerService {
    pub(crate) node: Node,
    /// What the directory is searched in.
    pub(crate) reads: crate::node::reads::Reads,
    /// The consortium's cosignatures of this node's checkpoints.
    pub(crate) cosigning: crate::node::cosign::Cosigning,
    /// Checks the signed requests of reads that carry one.
    pub(crate) readers: std::sync::Arc<RequestVerifier>,
}

impl LedgerService {
    /// The signer of a read, if any (see [`signed_reader`]).
    fn reader<T: prost::Message>(
        &self,
        request: &Request<T>,
    ) -> Result<Option<VerifiedCaller>, Status> {
        signed_reader(&self.readers, &self.node, request)
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

/// Searches `directory` and answers the entries as the API shows them.
async fn search_directory<D: Directory>(
    directory: &D,
    query: &SearchQuery,
) -> Result<Vec<pb::DirectoryEntry>, Status> {
    let found = directory
        .search(query)
        .await
        .map_err(|e| Status::unavailable(format!("directory search failed: {e}")))?;
    Ok(found
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
        .collect())
}

fn parse_tx_id(text: &str) -> Result<TxId, Status> {
    text.parse().map_err(Status::invalid_argument)
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

#[tonic::async_trait]
impl Ledger for LedgerService {
    #[tracing::instrument(skip_all)]
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

    #[tracing::instrument(skip_all)]
    async fn get_transaction(
        &self,
        request: Request<pb::GetTransactionRequest>,
    ) -> Result<Response<pb::TransactionDetails>, Status> {
        let caller = self.reader(&request)?;
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

    #[tracing::instrument(skip_all)]
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

    #[tracing::instrument(skip_all)]
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

    #[tracing::instrument(skip_all)]
    async fn get_asset(
        &self,
        request: Request<pb::GetAssetRequest>,
    ) -> Result<Response<pb::Asset>, Status> {
        let caller = self.reader(&request)?;
        let asset_id = request.into_inner().asset_id;
        let ledger = self.node.ledger();
        let asset = ledger
            .asset(&asset_id)
            .ok_or_else(|| Status::not_found(format!("no asset {asset_id:?}")))?;
        Ok(Response::new(asset_to_pb(asset, caller.as_ref())))
    }

    #[tracing::instrument(skip_all)]
    async fn list_assets(
        &self,
        request: Request<pb::ListAssetsRequest>,
    ) -> Result<Response<pb::ListAssetsResponse>, Status> {
        let caller = self.reader(&request)?;
        let owner = request.into_inner().owner_organisation;
        let ledger = self.node.ledger();
        let assets = ledger
            .assets()
            .filter(|asset| owner.is_empty() || asset.owner_organisation == owner)
            .map(|asset| asset_to_pb(asset, caller.as_ref()))
            .collect();
        Ok(Response::new(pb::ListAssetsResponse { assets }))
    }

    #[tracing::instrument(skip_all)]
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
        let query = SearchQuery {
            text: request.text,
            owner_organisation: (!request.owner_organisation.is_empty())
                .then_some(request.owner_organisation),
            data_type,
            limit: request.limit as usize,
        };
        let entries = search_directory(&self.reads, &query).await?;
        let source = self.reads.directory_source().to_owned();
        Ok(Response::new(pb::SearchAssetsResponse { entries, source }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_checkpoint(
        &self,
        request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        let request = request.into_inner();
        if request.quorum {
            return Ok(Response::new(self.quorum_checkpoint(request.tree_size)?));
        }
        let (checkpoint, note) = self
            .node
            .signed_checkpoint(request.tree_size)
            .map_err(|e| Status::out_of_range(e.to_string()))?;
        Ok(Response::new(checkpoint_to_pb(&checkpoint, note)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::GetInclusionProofResponse>, Status> {
        let caller = self.reader(&request)?;
        let request = request.into_inner();
        let tx_id = parse_tx_id(&request.tx_id)?;
        let response = if request.quorum {
            let cosigned = self.quorum_checkpoint(0)?;
            let mut response =
                inclusion_proof(&self.node, &tx_id, cosigned.tree_size).map_err(|e| {
                    if e.code() == tonic::Code::OutOfRange {
                        Status::failed_precondition(format!(
                            "transaction {tx_id} is not under a quorum checkpoint yet (the newest covers {} entries); retry shortly",
                            cosigned.tree_size
                        ))
                    } else {
                        e
                    }
                })?;
            response.checkpoint = Some(cosigned);
            response
        } else {
            inclusion_proof(&self.node, &tx_id, request.tree_size)?
        };
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

    #[tracing::instrument(skip_all)]
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

    #[tracing::instrument(skip_all)]
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
            cosigner_key: self.cosigning.verifier_key(),
            quorum: u32::try_from(consortium.quorum()).unwrap_or(u32::MAX),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_consortium(
        &self,
        _request: Request<pb::GetConsortiumRequest>,
    ) -> Result<Response<pb::ConsortiumState>, Status> {
        let ledger = self.node.ledger();
        Ok(Response::new(consortium_to_pb(&ledger)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_agreement(
        &self,
        _request: Request<pb::GetAgreementRequest>,
    ) -> Result<Response<pb::Agreement>, Status> {
        let tree_size = self.node.ledger().head().header.log_size;
        Ok(Response::new(agreement_to_pb(self.cosigning.agreement(), tree_size)))
    }
}

impl LedgerService {
    /// The newest checkpoint a quorum cosigned (`size` 0), or the one at
    /// `size` when a quorum cosigned it.
    fn quorum_checkpoint(&self, size: u64) -> Result<pb::Checkpoint, Status> {
        let quorum = self.node.ledger().consortium().quorum();
        let newest = self.cosigning.quorum_checkpoint().map_err(internal)?.ok_or_else(|| {
            Status::failed_precondition(format!(
                "no checkpoint has been cosigned by a quorum of {quorum} consortium nodes yet (see `cairn node agreement`)"
            ))
        })?;
        if size == 0 || size == newest.checkpoint.size {
            return Ok(quorum_checkpoint_to_pb(newest, quorum));
        }
        let cosigned =
            self.cosigning.checkpoint_at(size).map_err(|e| Status::out_of_range(e.to_string()))?;
        if !cosigned.final_ {
            return Err(Status::failed_precondition(format!(
                "the checkpoint at size {size} carries {} of the {quorum} cosignatures a quorum needs",
                cosigned.cosigners.len()
            )));
        }
        Ok(quorum_checkpoint_to_pb(cosigned, quorum))
    }
}
