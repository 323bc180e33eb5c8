//! The certificate services: `cairn.v1.Certificates` (submit the signed
//! certificate transactions, query certificates and public keys, hand out the
//! proofs a presentation carries and the issuers' signed status lists) and
//! `cairn.v1.CertificateCheck` (a verifier's signed check of a presentation,
//! recorded as an access event with action `verify_certificate`, which billing
//! counts as a verification query).
//!
//! Channel checkpoints and status lists are anchored in the main ledger by
//! `AnchorChannels` transactions signed with the node key: on demand, when a
//! proof or a status list needs an anchor that does not exist yet, and by
//! the node's one anchoring loop (`node::anchor`) at an interval.

use std::sync::Arc;
use std::time::{Duration, Instant};

use access_control::credential::status::{
    self, OpenedStatusList, RevokedIdentity, SignedRevokedIdentities, SignedStatusList,
};
use access_control::credential::verify::{self, Expectations};
use access_control::policy::{AccessRequest, Action, Resource, RolePolicy};
use access_control::request::VerifiedCaller;
use anchor_chaincode::cert::{self, CertId};
use anchor_chaincode::checkpoint::{Checkpoint, NoteVerifier};
use anchor_chaincode::ledger::CertificateRecord;
use anchor_chaincode::tx::{self, Transaction, TxBody};
use anchor_chaincode::{Address, Receipt, TxId};
use asset_registry::audit::AccessEvent;
use cairn_schemas::v1 as pb;
use cairn_schemas::v1::certificate_check_server::CertificateCheck;
use cairn_schemas::v1::certificates_server::Certificates;
use tonic::{Request, Response, Status};

use crate::clock::now_ms;
use crate::node::Node;
use crate::node::access_log::AccessLog;
use crate::node::anchor::Anchorer;
use crate::node::gate::RateLimit;
use crate::rpc::convert::code_to_pb;
use crate::rpc::decision::{Event, Who, record, signed_call};

/// How old a time-bound presentation may be when the node checks it.
pub(crate) const MAX_PRESENTATION_AGE: Duration = Duration::from_secs(15 * 60);

/// `cairn.v1.Certificates`.
#[derive(Clone, Debug)]
pub(crate) struct CertService {
    pub(crate) node: Node,
    /// Anchors a channel or status list on demand.
    pub(crate) anchorer: Anchorer,
    /// Checks the signed requests of reads that need one (a holder's list).
    pub(crate) readers: Arc<access_control::request::RequestVerifier>,
}

impl CertService {
    pub(crate) fn new(
        node: Node,
        anchorer: Anchorer,
        readers: Arc<access_control::request::RequestVerifier>,
    ) -> CertService {
        CertService { node, anchorer, readers }
    }
}

fn parse_id(text: &str) -> Result<CertId, Status> {
    let mut id = [0u8; 32];
    hex::decode_to_slice(text, &mut id).map_err(|_| {
        Status::invalid_argument(format!("certificate id {text:?} is not 64 hex digits"))
    })?;
    Ok(id)
}

pub(crate) fn certificate_to_pb(record: &CertificateRecord) -> pb::Certificate {
    let statement = &record.statement;
    pb::Certificate {
        certificate_id: hex::encode(record.id),
        channel: statement.channel.clone(),
        issuer_organisation: statement.issuer_organisation.clone(),
        issuer_address: record.issuer_address.to_string(),
        holder: statement.holder.to_string(),
        content_hash: statement.content_hash.to_vec(),
        valid_from_ms: statement.valid_from_ms,
        valid_until_ms: statement.valid_until_ms,
        previous: statement.previous.map(hex::encode).unwrap_or_default(),
        statement: record.statement_bytes.clone(),
        issuer_signature: record.issuer_signature.to_vec(),
        content: Some(pb::EncryptedContent {
            enc: record.content_enc.clone(),
            ciphertext: record.content_ciphertext.clone(),
        }),
        tx_id: record.tx_id.to_string(),
        block_number: record.block_number,
        leaf_index: record.leaf_index,
        status_index: record.status_index,
        revocation: record.revoked.as_ref().map(|r| pb::CertificateRevocation {
            reason: r.reason.clone(),
            block_number: r.block_number,
            tx_id: r.tx_id.to_string(),
        }),
        renewed_by: record.renewed_by.map(hex::encode).unwrap_or_default(),
    }
}

fn tx_response(receipt: &Receipt) -> pb::CertTxResponse {
    let response: serde_json::Value = serde_json::from_str(&receipt.response).unwrap_or_default();
    pb::CertTxResponse {
        tx_id: receipt.tx_id.to_string(),
        block_number: receipt.block_number,
        validation_code: code_to_pb(receipt.code),
        message: receipt.message.clone(),
        response_json: receipt.response.clone(),
        certificate_id: response["certificate_id"].as_str().unwrap_or_default().to_string(),
        address: response["address"].as_str().unwrap_or_default().to_string(),
    }
}

/// The node's signed status list of an organisation, as of now.
pub(crate) fn signed_status_list(
    node: &Node,
    organisation: &str,
    now: u64,
) -> Result<SignedStatusList, Status> {
    let ledger = node.ledger();
    let list = ledger.status_list(organisation).ok_or_else(|| {
        Status::not_found(format!("organisation {organisation:?} has issued no certificate"))
    })?;
    let hash = list.hash(organisation);
    let mut extensions = vec![format!("time {now}")];
    if let Some(anchor) = ledger.status_anchors(organisation).last().filter(|a| a.hash == hash) {
        extensions = access_control::credential::status::note_extensions(
            now,
            &anchor.tx_id.to_string(),
            anchor.block_number,
        );
    }
    let note = node.signer().sign(&Checkpoint {
        origin: cert::status_origin(&ledger.consortium().origin, organisation),
        size: list.size,
        root: hash,
        extensions,
    });
    // The chain's revoked identities, signed at the same time: a certificate
    // whose holder was revoked fails offline too.
    let revoked: Vec<RevokedIdentity> = ledger
        .identities()
        .filter_map(|identity| {
            identity.revoked.as_ref().map(|revocation| RevokedIdentity {
                address: identity.address.to_string(),
                reason: revocation.reason.clone(),
            })
        })
        .collect();
    let revoked_note = node.signer().sign(&Checkpoint {
        origin: status::revoked_identities_origin(&ledger.consortium().origin),
        size: revoked.len() as u64,
        root: status::revoked_identities_hash(&revoked),
        extensions: vec![format!("time {now}")],
    });
    Ok(SignedStatusList::new(organisation, list, note)
        .map_err(|e| Status::internal(e.to_string()))?
        .with_revoked_identities(SignedRevokedIdentities { revoked, signed_note: revoked_note }))
}

fn status_list_to_pb(list: &SignedStatusList) -> Result<pb::StatusList, Status> {
    use base64::Engine as _;
    Ok(pb::StatusList {
        issuer_organisation: list.issuer_organisation.clone(),
        size: list.size,
        compressed_bits: base64::engine::general_purpose::STANDARD
            .decode(&list.encoded_list)
            .map_err(|e| Status::internal(e.to_string()))?,
        revoked: list
            .revoked
            .iter()
            .map(|e| pb::RevokedEntry { index: e.index, reason: e.reason.clone() })
            .collect(),
        signed_note: list.signed_note.clone(),
        revoked_identities: list
            .revoked_identities
            .iter()
            .flat_map(|signed| &signed.revoked)
            .map(|e| pb::RevokedIdentity { address: e.address.clone(), reason: e.reason.clone() })
            .collect(),
        revoked_identities_note: list
            .revoked_identities
            .as_ref()
            .map(|signed| signed.signed_note.clone())
            .unwrap_or_default(),
    })
}

impl CertService {
    async fn submit_typed(
        &self,
        envelope: Vec<u8>,
        expected: &'static str,
    ) -> Result<Response<pb::CertTxResponse>, Status> {
        let transaction = Transaction::decode(&envelope)
            .map_err(|r| Status::invalid_argument(format!("{}: {}", r.code, r.message)))?;
        let type_name = transaction.body.type_name();
        let matches = match &transaction.body {
            TxBody::RegisterIdentity(_) => expected == "register_identity",
            _ => type_name == expected,
        };
        if !matches {
            return Err(Status::invalid_argument(format!(
                "this method takes a {expected} transaction, not {type_name}"
            )));
        }
        match self.node.submit(envelope).await {
            Ok(submitted) => Ok(Response::new(tx_response(&submitted.receipt))),
            Err(e) => Err(crate::rpc::decision::submit_status(e)),
        }
    }

    /// The channel anchor that covers a certificate, anchoring first if needed.
    async fn covering_anchor(
        &self,
        record: &CertificateRecord,
    ) -> Result<anchor_chaincode::ledger::HeadAnchor, Status> {
        let find = |node: &Node| {
            node.ledger()
                .channel(&record.statement.channel)
                .and_then(|c| c.anchors.last().cloned())
                .filter(|a| a.size > record.leaf_index)
        };
        if let Some(anchor) = find(&self.node) {
            return Ok(anchor);
        }
        {
            if find(&self.node).is_none() {
                let _ = self
                    .anchorer
                    .certificates()
                    .await
                    .map_err(|e| Status::failed_precondition(e.to_string()))?;
            }
        }
        find(&self.node).ok_or_else(|| {
            Status::failed_precondition("the certificate's channel could not be anchored")
        })
    }
}

#[tonic::async_trait]
impl Certificates for CertService {
    #[tracing::instrument(skip_all)]
    async fn register_user(
        &self,
        request: Request<pb::CertSubmitRequest>,
    ) -> Result<Response<pb::CertTxResponse>, Status> {
        self.submit_typed(request.into_inner().envelope, "register_identity").await
    }

    #[tracing::instrument(skip_all)]
    async fn issue_certificate(
        &self,
        request: Request<pb::CertSubmitRequest>,
    ) -> Result<Response<pb::CertTxResponse>, Status> {
        self.submit_typed(request.into_inner().envelope, "issue_certificate").await
    }

    #[tracing::instrument(skip_all)]
    async fn renew_certificate(
        &self,
        request: Request<pb::CertSubmitRequest>,
    ) -> Result<Response<pb::CertTxResponse>, Status> {
        self.submit_typed(request.into_inner().envelope, "renew_certificate").await
    }

    #[tracing::instrument(skip_all)]
    async fn revoke_certificate(
        &self,
        request: Request<pb::CertSubmitRequest>,
    ) -> Result<Response<pb::CertTxResponse>, Status> {
        self.submit_typed(request.into_inner().envelope, "revoke_certificate").await
    }

    #[tracing::instrument(skip_all)]
    async fn get_public_keys(
        &self,
        request: Request<pb::GetPublicKeysRequest>,
    ) -> Result<Response<pb::PublicKeys>, Status> {
        let address: Address =
            request.into_inner().address.parse().map_err(Status::invalid_argument)?;
        let ledger = self.node.ledger();
        let identity = ledger
            .identity(&address)
            .ok_or_else(|| Status::not_found(format!("no identity {address}")))?;
        Ok(Response::new(pb::PublicKeys {
            address: address.to_string(),
            signing_public_key: identity.signing_public_key.to_vec(),
            encryption_public_key: identity.encryption_public_key.to_vec(),
            organisation: identity.organisation.clone(),
            role: tx::role_to_pb(identity.role).into(),
            revoked_reason: identity.revoked.as_ref().map(|r| r.reason.clone()).unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_certificate(
        &self,
        request: Request<pb::GetCertificateRequest>,
    ) -> Result<Response<pb::Certificate>, Status> {
        let request = request.into_inner();
        let ledger = self.node.ledger();
        let record = if !request.certificate_id.is_empty() {
            let id = parse_id(&request.certificate_id)?;
            ledger.certificate(&id).ok_or_else(|| {
                Status::not_found(format!("no certificate {}", request.certificate_id))
            })?
        } else {
            let tx_id: TxId = request.tx_id.parse().map_err(Status::invalid_argument)?;
            let holder: Address = request.holder.parse().map_err(Status::invalid_argument)?;
            let record = ledger.certificate_by_tx(&tx_id).ok_or_else(|| {
                Status::not_found(format!("transaction {tx_id} issued no certificate"))
            })?;
            if record.statement.holder != holder || record.block_number != request.block_number {
                return Err(Status::not_found(format!(
                    "no certificate of holder {holder} issued by transaction {tx_id} in block {}",
                    request.block_number
                )));
            }
            record
        };
        Ok(Response::new(certificate_to_pb(record)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_certificates(
        &self,
        request: Request<pb::ListCertificatesRequest>,
    ) -> Result<Response<pb::ListCertificatesResponse>, Status> {
        // Which certificates a citizen holds is the citizen's to tell: the
        // request must be signed by the holder.
        let caller = crate::rpc::auth::signed_reader(&self.readers, &self.node, &request)?;
        let holder: Address =
            request.into_inner().holder.parse().map_err(Status::invalid_argument)?;
        match caller {
            None => {
                return Err(Status::unauthenticated(format!(
                    "listing the certificates of {holder} needs a request signed by the holder"
                )));
            }
            Some(caller) if caller.address != holder => {
                return Err(Status::permission_denied(format!(
                    "{} may not list the certificates of {holder}: only the holder may",
                    caller.address
                )));
            }
            Some(_) => {}
        }
        let ledger = self.node.ledger();
        let mut certificates: Vec<pb::Certificate> =
            ledger.holder_certificates(&holder).map(certificate_to_pb).collect();
        certificates.sort_by_key(|c| c.block_number);
        Ok(Response::new(pb::ListCertificatesResponse { certificates }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_certificate_proof(
        &self,
        request: Request<pb::GetCertificateProofRequest>,
    ) -> Result<Response<pb::CertificateProof>, Status> {
        let id = parse_id(&request.into_inner().certificate_id)?;
        let record = self
            .node
            .ledger()
            .certificate(&id)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("no certificate {}", hex::encode(id))))?;
        let anchor = self.covering_anchor(&record).await?;
        let ledger = self.node.ledger();
        let channel = ledger
            .channel(&record.statement.channel)
            .ok_or_else(|| Status::internal("the certificate's channel is missing"))?;
        let hashes = channel
            .log
            .inclusion_proof(record.leaf_index, anchor.size)
            .map_err(|e| Status::internal(e.to_string()))?;
        let note = self.node.signer().sign(&Checkpoint {
            origin: cert::channel_origin(&ledger.consortium().origin, &record.statement.channel),
            size: anchor.size,
            root: anchor.hash,
            extensions: Vec::new(),
        });
        Ok(Response::new(pb::CertificateProof {
            certificate: Some(certificate_to_pb(&record)),
            leaf_index: record.leaf_index,
            tree_size: anchor.size,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
            channel_checkpoint: note,
            anchor_tx_id: anchor.tx_id.to_string(),
            anchor_block: anchor.block_number,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_status_list(
        &self,
        request: Request<pb::GetStatusListRequest>,
    ) -> Result<Response<pb::StatusList>, Status> {
        let organisation = request.into_inner().issuer_organisation;
        let anchored = |node: &Node| {
            let ledger = node.ledger();
            ledger.status_list(&organisation).is_some_and(|list| {
                ledger
                    .status_anchors(&organisation)
                    .last()
                    .is_some_and(|a| a.hash == list.hash(&organisation))
            })
        };
        if !anchored(&self.node) {
            let exists = self.node.ledger().status_list(&organisation).is_some();
            if exists
                && !anchored(&self.node)
                && let Err(e) = self.anchorer.certificates().await
            {
                tracing::warn!(error = %e, "cannot anchor the status list before serving it");
            }
        }
        let list = signed_status_list(&self.node, &organisation, now_ms())?;
        Ok(Response::new(status_list_to_pb(&list)?))
    }
}

/// `cairn.v1.CertificateCheck`.
#[derive(Clone)]
pub(crate) struct CheckService {
    pub(crate) node: Node,
    pub(crate) access: AccessLog,
    pub(crate) policy: Arc<RolePolicy>,
    /// Rate limits and prepaid balances: a check is a billable query.
    pub(crate) gate: Arc<crate::node::gate::Gate>,
}

impl CheckService {
    /// The access event of a check, allowed or not.
    fn event(
        &self,
        caller: &VerifiedCaller,
        method: &str,
        resource: String,
        allowed: bool,
        reason: String,
        started: Instant,
    ) -> AccessEvent {
        Event {
            who: Who::Verified(caller),
            action: asset_registry::audit::Action::VerifyCertificate,
            method: method.to_owned(),
            resource,
            allowed,
            reason,
            bytes: 0,
            started: Some(started),
        }
        .into_access_event(&self.node)
    }
}

#[tonic::async_trait]
impl CertificateCheck for CheckService {
    #[tracing::instrument(skip_all)]
    async fn check_certificate(
        &self,
        request: Request<pb::CheckCertificateRequest>,
    ) -> Result<Response<pb::CheckCertificateResponse>, Status> {
        let started = Instant::now();
        let (caller, method) = signed_call(&request)?;
        let request = request.into_inner();
        let decision = self.policy.decide(&AccessRequest {
            identity: caller.address,
            organisation: &caller.organisation,
            role: caller.role,
            action: Action::Verify,
            resource: Resource::Other("certificate"),
        });
        let presentation = access_control::credential::presentation::decode(&request.presentation);
        let resource = match &presentation {
            Ok(p) => match p.parsed_statement() {
                Ok(s) => format!("certificate:{}/{}", s.channel, hex::encode(p.certificate_id())),
                Err(_) => "certificate:unreadable".to_string(),
            },
            Err(_) => "certificate:unreadable".to_string(),
        };
        if !decision.allowed {
            let event_id = record(
                &self.access,
                self.event(&caller, &method, resource, false, decision.reason.clone(), started),
            )
            .await?;
            return Err(Status::permission_denied(format!(
                "{} (access event {event_id})",
                decision.reason
            )));
        }
        // Over its rate limit, a caller gets no check done at all.
        let over_limit =
            self.event(&caller, &method, resource.clone(), false, String::new(), started);
        self.gate.check_rate(&self.node, &self.access, &caller, over_limit).await?;
        let report = match &presentation {
            Err(e) => verify::Report {
                valid: false,
                certificate_id: String::new(),
                channel: String::new(),
                issuer_organisation: String::new(),
                holder: String::new(),
                checks: vec![verify::Check {
                    check: "decode",
                    passed: false,
                    detail: e.to_string(),
                }],
                status_list_age_ms: None,
            },
            Ok(presentation) => {
                let now = now_ms();
                let trusted: Vec<NoteVerifier> = vec![self.node.signer().verifier()];
                let organisation = presentation
                    .parsed_statement()
                    .map(|s| s.issuer_organisation)
                    .unwrap_or_default();
                let opened: Result<OpenedStatusList, String> =
                    signed_status_list(&self.node, &organisation, now)
                        .map_err(|e| e.message().to_string())
                        .and_then(|list| list.open(&trusted).map_err(|e| e.to_string()));
                let holder = if request.holder.is_empty() {
                    None
                } else {
                    Some(request.holder.parse().map_err(Status::invalid_argument)?)
                };
                let issuers = self.node.ledger().consortium().genesis.issuers.clone();
                let expect = Expectations {
                    trusted: &trusted,
                    authorised_issuers: &issuers,
                    now_ms: now,
                    challenge: (!request.challenge.is_empty()).then_some(&request.challenge[..]),
                    max_presentation_age_ms: MAX_PRESENTATION_AGE.as_millis() as u64,
                    channel: (!request.channel.is_empty()).then_some(request.channel.as_str()),
                    issuer_organisation: (!request.issuer_organisation.is_empty())
                        .then_some(request.issuer_organisation.as_str()),
                    holder,
                    status_list: opened.as_ref().map_err(Clone::clone),
                    max_status_age_ms: u64::MAX,
                };
                verify::verify_with_cache(
                    presentation,
                    &expect,
                    &mut verify::CheckpointCache::batched(),
                )
            }
        };
        let reason = match report.first_failure() {
            None => format!("{}; the certificate is valid", decision.reason),
            Some(failed) => {
                format!(
                    "{}; the certificate is not valid: {}: {}",
                    decision.reason, failed.check, failed.detail
                )
            }
        };
        let checked = self.event(&caller, &method, resource, true, reason, started);
        let units = asset_registry::billing::Units { queries: 1, bytes: 0 };
        let event_id = self
            .gate
            .record(&self.node, &self.access, checked, units, None, RateLimit::AlreadyTaken)
            .await?;
        Ok(Response::new(pb::CheckCertificateResponse {
            valid: report.valid,
            checks: report
                .checks
                .into_iter()
                .map(|c| pb::CheckLine {
                    check: c.check.to_string(),
                    passed: c.passed,
                    detail: c.detail,
                })
                .collect(),
            certificate_id: report.certificate_id,
            event_id,
        }))
    }
}
