//! The certificate part of the state machine: issue, renew and revoke
//! certificates into their channels, keep each issuing organisation's status
//! list, and anchor channel checkpoints and status lists in the main ledger.
//!
//! Validity periods are checked against the transaction's timestamp, the only
//! time the chaincode knows (see the module docs of [`crate::cert`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Effect, Failure, IdentityRecord, Ledger, Revocation, encode, failure, valid_text};
use crate::cert::{self, CertId, Statement, StatusList};
use crate::merkle::{self, Hash, MerkleLog};
use crate::tx::{AnchorChannels, IssueCertificate, RevokeCertificate, Transaction};
use crate::types::{Address, TxId, ValidationCode};

/// A certificate on the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Its id.
    pub id: CertId,
    /// The parsed statement.
    pub statement: Statement,
    /// The statement bytes exactly as signed.
    pub statement_bytes: Vec<u8>,
    /// The issuer's signature.
    pub issuer_signature: [u8; 64],
    /// The identity that issued it.
    pub issuer_address: Address,
    /// HPKE encapsulated key of the content.
    pub content_enc: Vec<u8>,
    /// The content, encrypted to the holder.
    pub content_ciphertext: Vec<u8>,
    /// The issuing (or renewing) transaction.
    pub tx_id: TxId,
    /// Its block.
    pub block_number: u64,
    /// Its leaf in the channel's Merkle log.
    pub leaf_index: u64,
    /// Its entry in the issuing organisation's status list.
    pub status_index: u64,
    /// Set once revoked.
    pub revoked: Option<Revocation>,
    /// The certificate that renewed this one.
    pub renewed_by: Option<CertId>,
}

/// One anchor of a channel checkpoint or a status list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeadAnchor {
    /// Tree size or status-list size.
    pub size: u64,
    /// Channel root or status-list hash.
    pub hash: Hash,
    /// The `AnchorChannels` transaction.
    pub tx_id: TxId,
    /// Its block.
    pub block_number: u64,
    /// Its submitter's clock.
    pub timestamp_ms: u64,
}

/// A certificate channel: the Merkle log of one certificate type.
#[derive(Clone, Debug, Default)]
pub struct Channel {
    /// The log.
    pub log: MerkleLog,
    /// Leaf data, by leaf index.
    pub leaves: Vec<Vec<u8>>,
    /// Anchors of its checkpoints, oldest first.
    pub anchors: Vec<HeadAnchor>,
}

/// Everything the certificates add to the state.
#[derive(Clone, Debug, Default)]
pub(super) struct CertState {
    pub(super) channels: BTreeMap<String, Channel>,
    pub(super) certificates: BTreeMap<CertId, CertificateRecord>,
    pub(super) by_holder: BTreeSet<(Address, CertId)>,
    pub(super) by_tx: BTreeMap<TxId, CertId>,
    pub(super) status_lists: BTreeMap<String, StatusList>,
    pub(super) status_anchors: BTreeMap<String, Vec<HeadAnchor>>,
}

/// A certificate state change that passed validation.
pub(super) enum CertEffect {
    Issue(Box<CertificateRecord>),
    Revoke { id: CertId, revocation: Revocation },
    Anchor { channels: Vec<(String, HeadAnchor)>, status_lists: Vec<(String, HeadAnchor)> },
}

#[derive(Serialize)]
struct CertCommit<'a> {
    statement_hash: Hash,
    leaf_index: u64,
    status_index: u64,
    revoked: &'a Option<Revocation>,
    renewed_by: &'a Option<CertId>,
}

fn cert_key(id: &CertId) -> Vec<u8> {
    [b"cert/".as_slice(), id].concat()
}

fn hex_id(id: &CertId) -> String {
    hex::encode(id)
}

impl Ledger {
    /// A certificate by id.
    pub fn certificate(&self, id: &CertId) -> Option<&CertificateRecord> {
        self.certs.certificates.get(id)
    }

    /// The certificate issued or renewed by a transaction.
    pub fn certificate_by_tx(&self, tx_id: &TxId) -> Option<&CertificateRecord> {
        self.certs.by_tx.get(tx_id).and_then(|id| self.certs.certificates.get(id))
    }

    /// A holder's certificates, in id order.
    pub fn holder_certificates(
        &self,
        holder: &Address,
    ) -> impl Iterator<Item = &CertificateRecord> + '_ {
        let holder = *holder;
        self.certs
            .by_holder
            .range((holder, [0u8; 32])..=(holder, [0xff; 32]))
            .filter_map(|(_, id)| self.certs.certificates.get(id))
    }

    /// A channel by name.
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        self.certs.channels.get(name)
    }

    /// Every channel, by name.
    pub fn channels(&self) -> impl Iterator<Item = (&String, &Channel)> {
        self.certs.channels.iter()
    }

    /// An issuing organisation's status list.
    pub fn status_list(&self, organisation: &str) -> Option<&StatusList> {
        self.certs.status_lists.get(organisation)
    }

    /// Every status list, by organisation.
    pub fn status_lists(&self) -> impl Iterator<Item = (&String, &StatusList)> {
        self.certs.status_lists.iter()
    }

    /// Anchors of an organisation's status list, oldest first.
    pub fn status_anchors(&self, organisation: &str) -> &[HeadAnchor] {
        self.certs.status_anchors.get(organisation).map_or(&[], Vec::as_slice)
    }

    /// The organisation whose issuers may issue a certificate of `channel`
    /// naming `issuer_organisation`: that organisation when the genesis lists
    /// it for the type, else a failure naming who may.
    pub(super) fn allowed_issuer<'a>(
        &self,
        channel: &str,
        issuer_organisation: &'a str,
    ) -> Result<&'a str, Failure> {
        let allowed = self.consortium.issuers_of(channel);
        if allowed.iter().any(|o| o == issuer_organisation) {
            return Ok(issuer_organisation);
        }
        Err(failure(
            ValidationCode::NotAuthorised,
            if allowed.is_empty() {
                format!(
                    "certificate type {channel:?} is not listed in the genesis issuers: no organisation may issue it"
                )
            } else {
                format!(
                    "certificate type {channel:?} may be issued only by issuers of {allowed:?}, not of {issuer_organisation:?}"
                )
            },
        ))
    }

    pub(super) fn check_issue(
        &self,
        transaction: &Transaction,
        issue: &IssueCertificate,
        renewal: bool,
    ) -> Result<Effect, Failure> {
        let creator = self.registered_creator(transaction)?;
        let statement = Statement::parse(&issue.statement)
            .map_err(|e| failure(ValidationCode::InvalidArgument, e))?;
        let owner = self.allowed_issuer(&statement.channel, &statement.issuer_organisation)?;
        self.authorise(transaction, Some(creator), Some(owner))?;
        let record = self.checked_issue(transaction, creator, statement, issue, renewal)?;
        Ok(Effect::Cert(CertEffect::Issue(Box::new(record))))
    }

    /// The certificate an issuance by `creator` adds, once who may issue
    /// the statement's type has been settled: by the `issue_certificate`
    /// rule, or by a service whose approval produces it.
    pub(super) fn checked_issue(
        &self,
        transaction: &Transaction,
        creator: &IdentityRecord,
        statement: Statement,
        issue: &IssueCertificate,
        renewal: bool,
    ) -> Result<CertificateRecord, Failure> {
        if statement.issuer_organisation != creator.organisation {
            return Err(failure(
                ValidationCode::NotIssuer,
                format!(
                    "statement names issuer organisation {:?}; creator {} belongs to {:?}",
                    statement.issuer_organisation, creator.address, creator.organisation
                ),
            ));
        }
        if statement.issuer_public_key != transaction.creator {
            return Err(failure(
                ValidationCode::InvalidArgument,
                "statement's issuer public key must be the creator's key: the issuer signs its certificates",
            ));
        }
        let verification = ed25519_zebra::VerificationKey::try_from(statement.issuer_public_key)
            .and_then(|key| {
                key.verify(
                    &ed25519_zebra::Signature::from_bytes(&issue.issuer_signature),
                    &cert::issuer_message(&issue.statement),
                )
            });
        if verification.is_err() {
            return Err(failure(
                ValidationCode::BadSignature,
                "issuer signature over the certificate statement does not verify",
            ));
        }
        match self.identities.get(&statement.holder) {
            None => {
                return Err(failure(
                    ValidationCode::UnknownIdentity,
                    format!("holder {} is not a registered identity", statement.holder),
                ));
            }
            Some(holder) if holder.revoked.is_some() => {
                return Err(failure(
                    ValidationCode::RevokedIdentity,
                    format!("holder {} is revoked", statement.holder),
                ));
            }
            Some(_) => {}
        }
        if statement.valid_until_ms <= transaction.timestamp_ms {
            return Err(failure(
                ValidationCode::InvalidArgument,
                format!(
                    "validity ends at {} ms, not after the transaction's time {} ms: the certificate would be expired",
                    statement.valid_until_ms, transaction.timestamp_ms
                ),
            ));
        }
        if issue.content_enc.len() != 32 {
            return Err(failure(
                ValidationCode::InvalidArgument,
                format!(
                    "content encapsulated key must be 32 bytes, got {}",
                    issue.content_enc.len()
                ),
            ));
        }
        if issue.content_ciphertext.is_empty()
            || issue.content_ciphertext.len() > cert::MAX_CONTENT_BYTES
        {
            return Err(failure(
                ValidationCode::InvalidArgument,
                format!(
                    "encrypted content must be 1 to {} bytes, got {}",
                    cert::MAX_CONTENT_BYTES,
                    issue.content_ciphertext.len()
                ),
            ));
        }
        let id = cert::certificate_id(&issue.statement);
        if self.certs.certificates.contains_key(&id) {
            return Err(failure(
                ValidationCode::InvalidArgument,
                format!("certificate {} already exists", hex_id(&id)),
            ));
        }
        match (renewal, statement.previous) {
            (false, Some(_)) => {
                return Err(failure(
                    ValidationCode::InvalidArgument,
                    "an issued certificate renews nothing: its previous id must be zero (use renew_certificate)",
                ));
            }
            (true, None) => {
                return Err(failure(
                    ValidationCode::InvalidArgument,
                    "a renewal must name the certificate it renews",
                ));
            }
            (true, Some(previous_id)) => {
                let previous = self.certs.certificates.get(&previous_id).ok_or_else(|| {
                    failure(
                        ValidationCode::UnknownCertificate,
                        format!("certificate {} does not exist", hex_id(&previous_id)),
                    )
                })?;
                let old = &previous.statement;
                if old.issuer_organisation != creator.organisation {
                    return Err(failure(
                        ValidationCode::NotIssuer,
                        format!(
                            "certificate {} was issued by {:?}; only that organisation may renew it",
                            hex_id(&previous_id),
                            old.issuer_organisation
                        ),
                    ));
                }
                if let Some(revocation) = &previous.revoked {
                    return Err(failure(
                        ValidationCode::RevokedCertificate,
                        format!(
                            "certificate {} was revoked in block {}: {}",
                            hex_id(&previous_id),
                            revocation.block_number,
                            revocation.reason
                        ),
                    ));
                }
                if let Some(next) = previous.renewed_by {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "certificate {} was already renewed by {}",
                            hex_id(&previous_id),
                            hex_id(&next)
                        ),
                    ));
                }
                if old.channel != statement.channel
                    || old.holder != statement.holder
                    || old.content_hash != statement.content_hash
                {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "a renewal keeps the certificate's type, holder and content; only the validity period changes",
                    ));
                }
                if statement.valid_until_ms <= old.valid_until_ms {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "a renewal must extend the validity: it ends at {} ms, the certificate it renews at {} ms",
                            statement.valid_until_ms, old.valid_until_ms
                        ),
                    ));
                }
            }
            (false, None) => {}
        }
        let channel_size = self.certs.channels.get(&statement.channel).map_or(0, |c| c.log.size());
        let status_index =
            self.certs.status_lists.get(&statement.issuer_organisation).map_or(0, |l| l.size);
        Ok(CertificateRecord {
            id,
            statement,
            statement_bytes: issue.statement.clone(),
            issuer_signature: issue.issuer_signature,
            issuer_address: creator.address,
            content_enc: issue.content_enc.clone(),
            content_ciphertext: issue.content_ciphertext.clone(),
            tx_id: transaction.id,
            block_number: self.height(),
            leaf_index: channel_size,
            status_index,
            revoked: None,
            renewed_by: None,
        })
    }

    pub(super) fn check_revoke_certificate(
        &self,
        transaction: &Transaction,
        revoke: &RevokeCertificate,
    ) -> Result<Effect, Failure> {
        let creator = self.registered_creator(transaction)?;
        let record = self.certs.certificates.get(&revoke.certificate_id).ok_or_else(|| {
            failure(
                ValidationCode::UnknownCertificate,
                format!("certificate {} does not exist", hex_id(&revoke.certificate_id)),
            )
        })?;
        // The issuing organisation revokes its own certificates, even of a
        // type it may no longer issue.
        self.authorise(transaction, Some(creator), Some(&record.statement.issuer_organisation))?;
        if record.statement.issuer_organisation != creator.organisation {
            return Err(failure(
                ValidationCode::NotIssuer,
                format!(
                    "certificate {} was issued by {:?}; creator {} belongs to {:?}",
                    hex_id(&record.id),
                    record.statement.issuer_organisation,
                    creator.address,
                    creator.organisation
                ),
            ));
        }
        if !valid_text(&revoke.reason, 256) {
            return Err(failure(
                ValidationCode::InvalidArgument,
                "reason must be 1 to 256 bytes without control characters",
            ));
        }
        if let Some(revocation) = &record.revoked {
            return Err(failure(
                ValidationCode::RevokedCertificate,
                format!(
                    "certificate {} was already revoked in block {}",
                    hex_id(&record.id),
                    revocation.block_number
                ),
            ));
        }
        Ok(Effect::Cert(CertEffect::Revoke {
            id: record.id,
            revocation: Revocation {
                reason: revoke.reason.clone(),
                block_number: self.height(),
                tx_id: transaction.id,
            },
        }))
    }

    pub(super) fn check_anchor_channels(
        &self,
        transaction: &Transaction,
        anchor: &AnchorChannels,
    ) -> Result<Effect, Failure> {
        let creator = self.registered_creator(transaction)?;
        self.authorise(transaction, Some(creator), None)?;
        if anchor.channels.is_empty() && anchor.status_lists.is_empty() {
            return Err(failure(ValidationCode::InvalidArgument, "the anchor names nothing"));
        }
        let inconsistent = |message: String| failure(ValidationCode::InconsistentAnchor, message);
        let anchored = |size, hash| HeadAnchor {
            size,
            hash,
            tx_id: transaction.id,
            block_number: self.height(),
            timestamp_ms: transaction.timestamp_ms,
        };
        let mut seen = BTreeSet::new();
        let mut channels = Vec::with_capacity(anchor.channels.len());
        for head in &anchor.channels {
            if !seen.insert(head.name.as_str()) {
                return Err(inconsistent(format!("channel {:?} is anchored twice", head.name)));
            }
            let channel =
                self.certs.channels.get(&head.name).ok_or_else(|| {
                    inconsistent(format!("channel {:?} does not exist", head.name))
                })?;
            let previous = channel.anchors.last().map_or(0, |a| a.size);
            if head.size <= previous || head.size > channel.log.size() {
                return Err(inconsistent(format!(
                    "channel {:?}: anchored size {} must grow the previous anchor's {previous} and be at most the channel's size {}",
                    head.name,
                    head.size,
                    channel.log.size()
                )));
            }
            let root = channel.log.root_at(head.size).map_err(|e| inconsistent(e.to_string()))?;
            if root != head.hash {
                return Err(inconsistent(format!(
                    "channel {:?}: root at size {} is {}, not {}",
                    head.name,
                    head.size,
                    hex::encode(root),
                    hex::encode(head.hash)
                )));
            }
            channels.push((head.name.clone(), anchored(head.size, head.hash)));
        }
        let mut seen = BTreeSet::new();
        let mut status_lists = Vec::with_capacity(anchor.status_lists.len());
        for head in &anchor.status_lists {
            if !seen.insert(head.name.as_str()) {
                return Err(inconsistent(format!("status list {:?} is anchored twice", head.name)));
            }
            let list = self.certs.status_lists.get(&head.name).ok_or_else(|| {
                inconsistent(format!("organisation {:?} has no status list", head.name))
            })?;
            let hash = list.hash(&head.name);
            if head.size != list.size || head.hash != hash {
                return Err(inconsistent(format!(
                    "status list of {:?} has size {} and hash {}, not size {} and hash {}",
                    head.name,
                    list.size,
                    hex::encode(hash),
                    head.size,
                    hex::encode(head.hash)
                )));
            }
            if self.status_anchors(&head.name).last().is_some_and(|a| a.hash == hash) {
                return Err(inconsistent(format!(
                    "status list of {:?} is unchanged since its last anchor",
                    head.name
                )));
            }
            status_lists.push((head.name.clone(), anchored(head.size, head.hash)));
        }
        Ok(Effect::Cert(CertEffect::Anchor { channels, status_lists }))
    }

    fn commit_certificate(&mut self, id: &CertId) {
        let Some(record) = self.certs.certificates.get(id) else { return };
        let commit = CertCommit {
            statement_hash: merkle::leaf_hash(&record.statement_bytes),
            leaf_index: record.leaf_index,
            status_index: record.status_index,
            revoked: &record.revoked,
            renewed_by: &record.renewed_by,
        };
        let value = encode(&commit);
        self.commitment.put(&cert_key(id), &value);
    }

    fn push_leaf(&mut self, channel_name: &str, leaf: Vec<u8>) -> u64 {
        let channel = self.certs.channels.entry(channel_name.to_string()).or_default();
        let index = channel.log.push(merkle::leaf_hash(&leaf));
        channel.leaves.push(leaf);
        let head = (channel.log.size(), channel.log.root());
        self.commitment
            .put(&[b"channel/".as_slice(), channel_name.as_bytes()].concat(), &encode(&head));
        index
    }

    fn commit_status_list(&mut self, organisation: &str) {
        let Some(list) = self.certs.status_lists.get(organisation) else { return };
        let hash = list.hash(organisation);
        self.commitment.put(&[b"status/".as_slice(), organisation.as_bytes()].concat(), &hash);
    }

    pub(super) fn execute_cert(&mut self, effect: CertEffect) -> serde_json::Value {
        match effect {
            CertEffect::Issue(record) => {
                let record = *record;
                let id = record.id;
                let leaf = cert::issue_leaf(
                    record.block_number,
                    &record.tx_id,
                    record.status_index,
                    &record.issuer_signature,
                    &record.statement_bytes,
                );
                let channel = record.statement.channel.clone();
                let organisation = record.statement.issuer_organisation.clone();
                let leaf_index = self.push_leaf(&channel, leaf);
                debug_assert_eq!(leaf_index, record.leaf_index);
                let list = self.certs.status_lists.entry(organisation.clone()).or_default();
                list.size += 1;
                self.commit_status_list(&organisation);
                let previous = record.statement.previous;
                let _ = self.certs.by_holder.insert((record.statement.holder, id));
                let _ = self.certs.by_tx.insert(record.tx_id, id);
                let response = serde_json::json!({
                    "certificate_id": hex_id(&id),
                    "channel": channel,
                    "leaf_index": record.leaf_index,
                    "status_index": record.status_index,
                    "renews": previous.map(|p| hex_id(&p)),
                });
                let _ = self.certs.certificates.insert(id, record);
                self.commit_certificate(&id);
                if let Some(previous) = previous {
                    if let Some(old) = self.certs.certificates.get_mut(&previous) {
                        old.renewed_by = Some(id);
                    }
                    self.commit_certificate(&previous);
                }
                response
            }
            CertEffect::Revoke { id, revocation } => {
                let Some(record) = self.certs.certificates.get(&id) else {
                    // `check` found the certificate; nothing removes certificates.
                    return serde_json::Value::Null;
                };
                let channel = record.statement.channel.clone();
                let organisation = record.statement.issuer_organisation.clone();
                let status_index = record.status_index;
                let leaf = cert::revoke_leaf(
                    revocation.block_number,
                    &revocation.tx_id,
                    &id,
                    &revocation.reason,
                );
                let leaf_index = self.push_leaf(&channel, leaf);
                let list = self.certs.status_lists.entry(organisation.clone()).or_default();
                let _ = list.revoked.insert(status_index, revocation.reason.clone());
                self.commit_status_list(&organisation);
                let response = serde_json::json!({
                    "certificate_id": hex_id(&id),
                    "channel": channel,
                    "leaf_index": leaf_index,
                    "status_index": status_index,
                    "reason": revocation.reason,
                });
                if let Some(record) = self.certs.certificates.get_mut(&id) {
                    record.revoked = Some(revocation);
                }
                self.commit_certificate(&id);
                response
            }
            CertEffect::Anchor { channels, status_lists } => {
                let mut response_channels = Vec::new();
                for (name, anchor) in channels {
                    response_channels.push(serde_json::json!({
                        "channel": name, "tree_size": anchor.size, "root_hash": hex::encode(anchor.hash),
                    }));
                    let key = [b"channel-anchor/".as_slice(), name.as_bytes()].concat();
                    self.commitment.put(&key, &encode(&anchor));
                    if let Some(channel) = self.certs.channels.get_mut(&name) {
                        channel.anchors.push(anchor);
                    }
                }
                let mut response_lists = Vec::new();
                for (organisation, anchor) in status_lists {
                    response_lists.push(serde_json::json!({
                        "issuer_organisation": organisation, "size": anchor.size, "list_hash": hex::encode(anchor.hash),
                    }));
                    let key = [b"status-anchor/".as_slice(), organisation.as_bytes()].concat();
                    self.commitment.put(&key, &encode(&anchor));
                    self.certs.status_anchors.entry(organisation).or_default().push(anchor);
                }
                serde_json::json!({ "channels": response_channels, "status_lists": response_lists })
            }
        }
    }
}
