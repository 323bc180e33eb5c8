//! The `cairn.v1.Access` service: every call is signed (checked by
//! [`crate::rpc::auth`]), decided by the role policy combined with the ledger's
//! authorised lists, recorded as an access event, and only then answered.

use std::sync::Arc;
use std::time::Instant;

use access_control::policy::{
    AccessRequest, Action, Decision as PolicyDecision, Resource, RolePolicy,
};
use access_control::request::VerifiedCaller;
use anchor_chaincode::Address;
use anchor_chaincode::ledger::{AccessAnchor, AssetRecord, AssetVersionRecord};
use asset_registry::audit::{
    AccessEvent, Action as EventAction, AuditFilter, Decision, asset_resource,
};
use asset_registry::billing::Units;
use asset_registry::read::AuditLog as _;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::access_server::Access;
use tonic::{Request, Response, Status};

use crate::node::Node;
use crate::node::access_log::{AccessLog, new_event_id};
use crate::node::access_relay::{AccessRelay, Refusal};
use crate::node::gate::RateLimit;
use crate::rpc::decision::{Event, Who, signed_call};

/// The `cairn.v1.Access` service.
#[derive(Clone)]
pub(crate) struct AccessService {
    pub(crate) node: Node,
    pub(crate) access: AccessLog,
    pub(crate) policy: Arc<RolePolicy>,
    /// The department's ODS object store (sealed objects, version index, key grants).
    pub(crate) store: Arc<ods_frontend::store::SealedStore>,
    /// Rate limits and prepaid balances in front of billable requests.
    pub(crate) gate: Arc<crate::node::gate::Gate>,
    /// What audit queries read: with PostgreSQL the projection, whose audit
    /// log holds every node's access events.
    pub(crate) reads: crate::node::reads::Reads,
    /// The other nodes' access-event logs as read from the access-event
    /// topic, when the node follows one.
    pub(crate) relay: Option<AccessRelay>,
}

fn version_to_pb(v: &AssetVersionRecord) -> pb::AssetVersion {
    pb::AssetVersion {
        version: v.version,
        data_type: anchor_chaincode::tx::data_type_to_pb(v.data_type).into(),
        hash_algorithm: v.hash_algorithm.clone(),
        content_hash: v.content_hash.to_vec(),
        size_bytes: v.size_bytes,
        metadata: v.metadata.clone(),
        tx_id: v.tx_id.to_string(),
        block_number: v.block_number,
    }
}

/// Looks an asset version up (0 = latest).
fn find_version(asset: &AssetRecord, version: u64) -> Option<&AssetVersionRecord> {
    if version == 0 {
        asset.versions.last()
    } else {
        asset.versions.iter().find(|v| v.version == version)
    }
}

impl AccessService {
    /// The caller's data-key grant for a version, if the provider released one.
    async fn grant(
        &self,
        asset_id: &str,
        version: u64,
        caller: &anchor_chaincode::Address,
    ) -> Result<Option<pb::KeyGrant>, Status> {
        let path = ods_frontend::layout::grant_path(asset_id, version, caller);
        match self.store.get_small(&path).await {
            Ok(bytes) => {
                let wrapped: access_control::wrap::WrappedKey = serde_json::from_slice(&bytes)
                    .map_err(|e| {
                        Status::internal(format!("the key grant at {path} is unreadable: {e}"))
                    })?;
                Ok(Some(pb::KeyGrant { enc: wrapped.enc, ciphertext: wrapped.ciphertext }))
            }
            Err(ods_frontend::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Status::internal(format!("cannot read the key grant: {e}"))),
        }
    }

    /// Records an outcome; answers with the event id.
    async fn record(&self, outcome: Event<'_>) -> Result<String, Status> {
        let event = outcome.into_access_event(&self.node);
        let event_id = event.event_id.clone();
        let _ = self
            .access
            .record(event)
            .await
            .map_err(|e| Status::unavailable(format!("cannot record the access event: {e}")))?;
        Ok(event_id)
    }

    /// Records a billable outcome through the billing gate: a refusal (rate
    /// limit, prepaid balance) is recorded as denied and returned.
    async fn record_billable(
        &self,
        outcome: Event<'_>,
        units: Units,
        reserve_for: Option<&str>,
    ) -> Result<String, Status> {
        let event = outcome.into_access_event(&self.node);
        self.gate
            .record(&self.node, &self.access, event, units, reserve_for, RateLimit::Take)
            .await
            .map_err(Status::from)
    }

    /// Decides a request about an asset version; also names the resource for its access event.
    fn decide_asset(
        &self,
        caller: &VerifiedCaller,
        action: Action,
        asset_id: &str,
        version: u64,
    ) -> (PolicyDecision, Option<AssetVersionRecord>, String) {
        let (decision, found) = self.decide_asset_version(caller, action, asset_id, version);
        let resource = asset_resource(asset_id, found.as_ref().map_or(version, |v| v.version));
        (decision, found, resource)
    }

    fn decide_asset_version(
        &self,
        caller: &VerifiedCaller,
        action: Action,
        asset_id: &str,
        version: u64,
    ) -> (PolicyDecision, Option<AssetVersionRecord>) {
        let ledger = self.node.ledger();
        let Some(asset) = ledger.asset(asset_id) else {
            return (
                PolicyDecision {
                    allowed: false,
                    reason: format!("asset {asset_id:?} does not exist"),
                    rule: None,
                },
                None,
            );
        };
        let Some(found) = find_version(asset, version) else {
            let latest = asset.versions.last().map_or(0, |v| v.version);
            return (
                PolicyDecision {
                    allowed: false,
                    reason: format!(
                        "asset {asset_id:?} has no version {version} (latest is {latest})"
                    ),
                    rule: None,
                },
                None,
            );
        };
        let decision = self.policy.decide(&AccessRequest {
            identity: caller.address,
            organisation: &caller.organisation,
            role: caller.role,
            action,
            resource: Resource::Asset {
                asset_id,
                owner_organisation: &asset.owner_organisation,
                authorised: &asset.authorised,
            },
        });
        (decision, Some(found.clone()))
    }

    /// A version's stored data: its index, chunk hashes and sealed object size.
    async fn stored_version(
        &self,
        asset_id: &str,
        version: u64,
    ) -> Result<(ods_frontend::layout::VersionIndex, bytes::Bytes, u64), Status> {
        let index_bytes = self
            .store
            .get_small(&ods_frontend::layout::index_path(asset_id, version))
            .await
            .map_err(|e| {
                Status::not_found(format!(
                    "version {version} of {asset_id} has no stored data on this node: {e}"
                ))
            })?;
        let index: ods_frontend::layout::VersionIndex = serde_json::from_slice(&index_bytes)
            .map_err(|e| Status::internal(format!("the version index is unreadable: {e}")))?;
        let hashes = self
            .store
            .get_small(&index.hashes_object)
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        let size =
            self.store.size(&index.object).await.map_err(|e| Status::internal(e.to_string()))?;
        Ok((index, hashes, size))
    }

    /// May the caller read audit records of `identity` (empty: everyone's)?
    fn audit_decision(&self, caller: &VerifiedCaller, identity: &str) -> PolicyDecision {
        let decision = self.policy.decide(&AccessRequest {
            identity: caller.address,
            organisation: &caller.organisation,
            role: caller.role,
            action: Action::ReadAudit,
            resource: Resource::Other("audit"),
        });
        if decision.allowed {
            return decision;
        }
        if identity == caller.address.to_string() {
            return PolicyDecision {
                allowed: true,
                reason: format!("{} may read its own access events", caller.address),
                rule: None,
            };
        }
        decision
    }
}

fn denied(status_reason: &str, event_id: &str) -> Status {
    Status::permission_denied(format!("{status_reason} (access event {event_id})"))
}

#[tonic::async_trait]
impl Access for AccessService {
    #[tracing::instrument(skip_all)]
    async fn request_access(
        &self,
        request: Request<pb::RequestAccessRequest>,
    ) -> Result<Response<pb::RequestAccessResponse>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let request = request.into_inner();
        let (decision, version, resource) =
            self.decide_asset(&caller, Action::RequestData, &request.asset_id, request.version);
        let event_id = self
            .record(Event {
                who: Who::Verified(&caller),
                action: EventAction::RequestData,
                resource,
                allowed: decision.allowed,
                reason: decision.reason.clone(),
                method: method.clone(),
                started: Some(started),
                bytes: 0,
            })
            .await?;
        match version {
            Some(version) if decision.allowed => {
                let grant = self.grant(&request.asset_id, version.version, &caller.address).await?;
                Ok(Response::new(pb::RequestAccessResponse {
                    reason: decision.reason,
                    rule: decision.rule.unwrap_or_default(),
                    event_id,
                    version: Some(version_to_pb(&version)),
                    grant,
                }))
            }
            _ => Err(denied(&decision.reason, &event_id)),
        }
    }

    type FetchDataStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::FetchDataChunk, Status>> + Send + 'static>,
    >;

    #[tracing::instrument(skip_all)]
    async fn fetch_data(
        &self,
        request: Request<pb::FetchDataRequest>,
    ) -> Result<Response<Self::FetchDataStream>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let request = request.into_inner();
        let (decision, version, resource) =
            self.decide_asset(&caller, Action::RequestData, &request.asset_id, request.version);
        let (Some(version), true) = (version, decision.allowed) else {
            let event_id = self
                .record(Event {
                    who: Who::Verified(&caller),
                    action: EventAction::RequestData,
                    resource,
                    allowed: false,
                    reason: decision.reason.clone(),
                    method: method.clone(),
                    started: Some(started),
                    bytes: 0,
                })
                .await?;
            return Err(denied(
                &format!("not authorised for asset {}: {}", request.asset_id, decision.reason),
                &event_id,
            ));
        };
        // The decision is durable before any byte is served; the byte count
        // follows in a closing event, which is the one metered: its price is
        // set aside now, for the whole object.
        let stored = self.stored_version(&request.asset_id, version.version).await;
        let closing_id = new_event_id();
        let units = Units { queries: 1, bytes: stored.as_ref().map_or(0, |s| s.2) };
        let _ = self
            .record_billable(
                Event {
                    who: Who::Verified(&caller),
                    action: EventAction::RequestData,
                    resource: resource.clone(),
                    allowed: true,
                    reason: format!("{}; download starts", decision.reason),
                    method: method.clone(),
                    started: Some(started),
                    bytes: 0,
                },
                units,
                Some(&closing_id),
            )
            .await?;
        let opened = match stored {
            Ok((index, hashes, _)) => self
                .store
                .get_stream(&index.object)
                .await
                .map(|object| (hashes, object))
                .map_err(|e| Status::internal(e.to_string())),
            Err(e) => Err(e),
        };
        let (hashes, mut object) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                self.access.release(&closing_id);
                return Err(e);
            }
        };
        // The download is billed under the plan of the decision, not of its end.
        let ledger_height = self.node.ledger().height();
        let (sender, receiver) = tokio::sync::mpsc::channel(8);
        let service = self.clone();
        let reason = decision.reason.clone();
        let _task = tokio::spawn(async move {
            use tokio_stream::StreamExt;
            let mut sent = 0u64;
            let mut failure = None;
            if sender
                .send(Ok(pb::FetchDataChunk {
                    part: Some(pb::fetch_data_chunk::Part::ChunkHashes(hashes.to_vec())),
                }))
                .await
                .is_err()
            {
                failure = Some("the caller went away".to_string());
            }
            while failure.is_none() {
                match object.next().await {
                    None => break,
                    Some(Ok(bytes)) => {
                        for piece in bytes.chunks(1 << 20) {
                            sent += piece.len() as u64;
                            let part = pb::FetchDataChunk {
                                part: Some(pb::fetch_data_chunk::Part::Data(piece.to_vec())),
                            };
                            if sender.send(Ok(part)).await.is_err() {
                                failure = Some("the caller went away".to_string());
                                break;
                            }
                        }
                    }
                    Some(Err(e)) => {
                        let _ = sender
                            .send(Err(Status::internal(format!(
                                "reading the stored object failed: {e}"
                            ))))
                            .await;
                        failure = Some(format!("reading the stored object failed: {e}"));
                    }
                }
            }
            let (allowed, reason) = match failure {
                None => (true, format!("{reason}; served {sent} encrypted bytes")),
                Some(why) => {
                    (true, format!("{reason}; download stopped after {sent} bytes: {why}"))
                }
            };
            let mut event = Event {
                who: Who::Verified(&caller),
                action: EventAction::RequestData,
                method,
                resource,
                allowed,
                reason,
                bytes: sent,
                started: Some(started),
            }
            .into_access_event(&service.node);
            // The id reserved for the download when it was admitted, and the
            // height it was decided at.
            event.event_id = closing_id.clone();
            event.ledger_height = ledger_height;
            if let Err(e) = service.access.record(event).await {
                service.access.release(&closing_id);
                tracing::error!(error = %e, "cannot record a download");
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))))
    }

    #[tracing::instrument(skip_all)]
    async fn verify_data_hash(
        &self,
        request: Request<pb::VerifyDataHashRequest>,
    ) -> Result<Response<pb::VerifyDataHashResponse>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let request = request.into_inner();
        let (decision, version, resource) =
            self.decide_asset(&caller, Action::Verify, &request.asset_id, request.version);
        let matches = version
            .as_ref()
            .is_some_and(|v| v.content_hash.as_slice() == request.content_hash.as_slice());
        let reason = if decision.allowed {
            format!(
                "{}; the hash {}",
                decision.reason,
                if matches { "matches the ledger" } else { "does not match the ledger" }
            )
        } else {
            decision.reason.clone()
        };
        let outcome = Event {
            who: Who::Verified(&caller),
            action: EventAction::Verify,
            resource,
            allowed: decision.allowed,
            reason,
            method: method.clone(),
            started: Some(started),
            bytes: 0,
        };
        let event_id = if decision.allowed && version.is_some() {
            self.record_billable(outcome, Units { queries: 1, bytes: 0 }, None).await?
        } else {
            self.record(outcome).await?
        };
        match version {
            Some(version) if decision.allowed => Ok(Response::new(pb::VerifyDataHashResponse {
                matches,
                version: Some(version_to_pb(&version)),
                event_id,
            })),
            _ => Err(denied(&decision.reason, &event_id)),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn list_access_events(
        &self,
        request: Request<pb::ListAccessEventsRequest>,
    ) -> Result<Response<pb::ListAccessEventsResponse>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let request = request.into_inner();
        let decision = self.audit_decision(&caller, &request.identity);
        let event_id = self
            .record(Event {
                who: Who::Verified(&caller),
                action: EventAction::ReadAudit,
                resource: "audit".into(),
                allowed: decision.allowed,
                reason: decision.reason.clone(),
                method: method.clone(),
                started: Some(started),
                bytes: 0,
            })
            .await?;
        if !decision.allowed {
            return Err(denied(&decision.reason, &event_id));
        }
        let filter = AuditFilter {
            identity: (!request.identity.is_empty()).then_some(request.identity),
            asset_id: (!request.asset_id.is_empty()).then_some(request.asset_id),
            since_ms: (request.since_ms > 0).then_some(request.since_ms),
            decision: match pb::Decision::try_from(request.decision) {
                Ok(pb::Decision::Allowed) => Some(Decision::Allowed),
                Ok(pb::Decision::Denied) => Some(Decision::Denied),
                _ => None,
            },
            limit: if request.limit == 0 { 1000 } else { request.limit as usize },
        };
        // With a PostgreSQL projection the answer also holds what other
        // nodes logged; this node's newest events, not projected yet, come
        // from its own log.
        let events =
            self.reads.audit(&filter, 0).await.map_err(|e| {
                Status::unavailable(format!("cannot read the audit projection: {e}"))
            })?;
        let events = events
            .iter()
            .map(|stored| prost::Message::decode(stored.event.encode().as_slice()))
            .collect::<Result<Vec<pb::AccessEvent>, _>>()
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(pb::ListAccessEventsResponse { events }))
    }

    #[tracing::instrument(skip_all)]
    async fn prove_access_event(
        &self,
        request: Request<pb::ProveAccessEventRequest>,
    ) -> Result<Response<pb::ProveAccessEventResponse>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let request = request.into_inner();
        let event_id = request.event_id;
        let owner = if request.node.is_empty() {
            None
        } else {
            Some(request.node.parse::<Address>().map_err(|e| {
                Status::invalid_argument(format!(
                    "node {:?} is not a node address: {e}",
                    request.node
                ))
            })?)
        };
        let own_address = self.node.key().address();
        let own = if owner.is_none_or(|owner| owner == own_address) {
            let state = self.access.state();
            state.projection.offset_of(&event_id).map(|offset| {
                let subject =
                    state.projection.event(offset).map(|e| e.identity.clone()).unwrap_or_default();
                (offset, subject)
            })
        } else {
            None
        };
        let record = |allowed: bool, reason: String| {
            self.record(Event {
                who: Who::Verified(&caller),
                action: EventAction::ReadAudit,
                resource: format!("access-event:{event_id}"),
                allowed,
                reason,
                method: method.clone(),
                started: Some(started),
                bytes: 0,
            })
        };
        if let Some((offset, subject)) = own {
            let decision = self.audit_decision(&caller, &subject);
            let recorded = record(decision.allowed, decision.reason.clone()).await?;
            if !decision.allowed {
                return Err(denied(&decision.reason, &recorded));
            }
            return Ok(Response::new(prove_event(
                &self.node,
                &self.access,
                offset,
                request.tree_size,
            )?));
        }
        // Another node's event: the proof is built (from that node's signed
        // records and against its own anchor) before the decision, which
        // needs the event's subject.
        match self.relayed(&event_id, owner.as_ref(), request.tree_size).await {
            Err(status) => {
                let recorded = record(false, status.message().to_string()).await?;
                Err(Status::new(
                    status.code(),
                    format!("{} (access event {recorded})", status.message()),
                ))
            }
            Ok(response) => {
                let subject = AccessEvent::decode(&response.event)
                    .map(|event| event.identity)
                    .unwrap_or_default();
                let decision = self.audit_decision(&caller, &subject);
                let recorded = record(decision.allowed, decision.reason.clone()).await?;
                if !decision.allowed {
                    return Err(denied(&decision.reason, &recorded));
                }
                Ok(Response::new(response))
            }
        }
    }
}

impl AccessService {
    /// The proof of an event another node logged, from the copy of that
    /// node's log this node read from the access-event topic.
    async fn relayed(
        &self,
        event_id: &str,
        owner: Option<&Address>,
        tree_size: u64,
    ) -> Result<pb::ProveAccessEventResponse, Status> {
        let not_found = |why: &str| {
            Status::not_found(match owner {
                Some(owner) => format!(
                    "no access event {event_id} of node {owner} on this node: not among the records node {owner} signed on the access-event topic{why}"
                ),
                None => format!(
                    "no access event {event_id} on this node: not in its own log, nor among the records other nodes signed on the access-event topic{why}"
                ),
            })
        };
        let Some(relay) = &self.relay else {
            return Err(not_found(" (this node follows no access-event topic)"));
        };
        let candidates = relay.copies().find(event_id, owner);
        let mut refusal = None;
        for (node, leaf) in candidates {
            match prove_relayed(&self.node, relay, &node, leaf, tree_size).await {
                Ok(response) => return Ok(response),
                Err(status) => refusal = Some(status),
            }
        }
        Err(refusal.unwrap_or_else(|| not_found("")))
    }
}

/// The proof of leaf `leaf` of `owner`'s access-event log, from the copy of
/// that log this node read from the access-event topic, against `owner`'s
/// newest anchor the copy holds in full and the ledger holds at `tree_size`
/// (0: now).
pub(crate) async fn prove_relayed(
    node: &Node,
    relay: &AccessRelay,
    owner: &Address,
    leaf: u64,
    tree_size: u64,
) -> Result<pb::ProveAccessEventResponse, Status> {
    let anchors = anchors_within(node, owner, tree_size);
    let located = relay.copies().locate(owner, leaf, &anchors).map_err(refusal_status)?;
    let event =
        relay.read_back(located.position, located.leaf_hash).await.map_err(refusal_status)?;
    let anchor = crate::rpc::ledger::inclusion_proof(node, &located.anchor.tx_id, tree_size)?;
    Ok(pb::ProveAccessEventResponse {
        event: event.clone(),
        event_proof: Some(pb::InclusionProof {
            leaf_index: located.leaf,
            tree_size: located.anchor.tree_size,
            leaf: event,
            hashes: located.hashes.iter().map(|h| h.to_vec()).collect(),
        }),
        anchor: Some(anchor),
        node: located.owner.to_string(),
        relayed: true,
    })
}

/// The status of a relayed proof that cannot be given.
fn refusal_status(refusal: Refusal) -> Status {
    match refusal {
        Refusal::Unknown(why) => Status::not_found(why),
        Refusal::NotYet(why) | Refusal::Mismatch(why) => Status::failed_precondition(why),
        Refusal::Unavailable(why) => Status::unavailable(why),
    }
}

/// The anchors of `owner`'s access-event log whose transactions the ledger
/// holds at `tree_size` (0: now), oldest first.
fn anchors_within(node: &Node, owner: &Address, tree_size: u64) -> Vec<AccessAnchor> {
    let ledger = node.ledger();
    let size = if tree_size == 0 { ledger.merkle_log().size() } else { tree_size };
    ledger
        .access_anchors(owner)
        .iter()
        .filter(|anchor| ledger.receipt(&anchor.tx_id).is_some_and(|r| r.leaf_index < size))
        .cloned()
        .collect()
}

/// The proof that the event at `offset` of the node's access-event log was
/// recorded: its inclusion in the first anchored tree that holds it, and that
/// anchor's inclusion in the ledger at `tree_size` (0: now).
pub(crate) fn prove_event(
    node: &Node,
    access: &AccessLog,
    offset: u64,
    tree_size: u64,
) -> Result<pb::ProveAccessEventResponse, Status> {
    let node_address = node.key().address();
    let anchor =
        anchors_within(node, &node_address, tree_size).into_iter().find(|a| a.tree_size > offset);
    let Some(anchor) = anchor else {
        return Err(Status::failed_precondition(format!(
            "the access event at position {offset} is recorded but not anchored on the ledger yet{}; try again after the next anchor",
            if tree_size == 0 {
                String::new()
            } else {
                format!(" under the checkpoint of size {tree_size}")
            }
        )));
    };
    let hashes = access
        .state()
        .merkle
        .inclusion_proof(offset, anchor.tree_size)
        .map_err(|e| Status::internal(e.to_string()))?;
    let event = access.event_bytes(offset).map_err(|e| Status::internal(e.to_string()))?;
    let anchor_proof = crate::rpc::ledger::inclusion_proof(node, &anchor.tx_id, tree_size)?;
    Ok(pb::ProveAccessEventResponse {
        event: event.clone(),
        event_proof: Some(pb::InclusionProof {
            leaf_index: offset,
            tree_size: anchor.tree_size,
            leaf: event,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        }),
        anchor: Some(anchor_proof),
        node: node_address.to_string(),
        relayed: false,
    })
}
