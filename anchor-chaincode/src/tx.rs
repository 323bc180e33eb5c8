//! Transactions: decoding the signed envelope into domain types, the messages
//! that signatures cover, and building signed envelopes (pure, given keys).
//!
//! Byte layouts:
//! - the envelope is the protobuf `cairn.v1.TxEnvelope`; its `payload` field
//!   holds an encoded `cairn.v1.TxPayload`;
//! - the transaction id is SHA-256 over the payload bytes;
//! - the creator signs `"cairn-tx-v1\n" || payload` with Ed25519;
//! - an endorser signs `"cairn-endorse-v1\n" || payload` with Ed25519.
//!
//! Signatures are always checked over the payload bytes as received, never
//! over a re-encoding.

use prost::Message;
use serde::Serialize;

use cairn_schemas::v1 as pb;

use crate::Error;
use crate::billing::{Payment, Plan};
use crate::types::{Address, DataType, Role, TxId, ValidationCode};

/// The largest accepted envelope, in bytes.
pub const MAX_TX_BYTES: usize = 1024 * 1024;

/// Prefix of the message a creator signs.
pub const TX_SIGNATURE_LABEL: &[u8] = b"cairn-tx-v1\n";
/// Prefix of the message an endorser signs.
pub const ENDORSEMENT_SIGNATURE_LABEL: &[u8] = b"cairn-endorse-v1\n";

/// An organisation's signature over a payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endorsement {
    /// The organisation that endorses.
    pub organisation: String,
    /// The key that signed.
    pub public_key: [u8; 32],
    /// The signature.
    pub signature: [u8; 64],
}

/// `RegisterIdentity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegisterIdentity {
    /// Display name.
    pub name: String,
    /// The organisation the identity belongs to.
    pub organisation: String,
    /// Its role.
    pub role: Role,
    /// Ed25519 public key; equals the creator.
    #[serde(serialize_with = "hex_bytes")]
    pub signing_public_key: [u8; 32],
    /// X25519 public key that data keys are wrapped to.
    #[serde(serialize_with = "hex_bytes")]
    pub encryption_public_key: [u8; 32],
    /// For role reviewer: the department-defined reviewer role; else empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reviewer_role: String,
}

/// `DefineService`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DefineService {
    /// The definition's JSON bytes, exactly as signed.
    #[serde(serialize_with = "text_or_hex")]
    pub definition_json: Vec<u8>,
}

/// `PublishAsset`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PublishAsset {
    /// The asset's id.
    pub asset_id: String,
    /// The version, strictly greater than the latest one.
    pub version: u64,
    /// Structured or unstructured.
    pub data_type: DataType,
    /// How `content_hash` was computed.
    pub hash_algorithm: String,
    /// The content hash.
    #[serde(serialize_with = "hex_bytes")]
    pub content_hash: [u8; 32],
    /// Size of the content in bytes.
    pub size_bytes: u64,
    /// Header metadata (JSON bytes, shown as text when UTF-8).
    #[serde(serialize_with = "text_or_hex")]
    pub metadata: Vec<u8>,
}

/// `SetSharingRules`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SetSharingRules {
    /// The asset.
    pub asset_id: String,
    /// Addresses allowed to read it, as given.
    pub authorised: Vec<String>,
}

/// `RevokeIdentity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RevokeIdentity {
    /// The identity to revoke, as given.
    pub address: String,
    /// Why.
    pub reason: String,
}

/// `AnchorAccessEvents`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnchorAccessEvents {
    /// Size of the creator's access-event log.
    pub tree_size: u64,
    /// Its RFC 6962 root.
    #[serde(serialize_with = "hex_bytes")]
    pub root_hash: [u8; 32],
    /// Consistency proof from the previous anchor.
    #[serde(serialize_with = "hex_list")]
    pub consistency_proof: Vec<[u8; 32]>,
}

/// `IssueCertificate` (also the body of a renewal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IssueCertificate {
    /// The canonical statement bytes, exactly as signed.
    #[serde(serialize_with = "hex_vec")]
    pub statement: Vec<u8>,
    /// The issuer's signature over the labelled statement.
    #[serde(serialize_with = "hex_sig")]
    pub issuer_signature: [u8; 64],
    /// HPKE encapsulated key of the content.
    #[serde(serialize_with = "hex_vec")]
    pub content_enc: Vec<u8>,
    /// The content, encrypted to the holder.
    #[serde(serialize_with = "hex_vec")]
    pub content_ciphertext: Vec<u8>,
}

/// `RevokeCertificate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RevokeCertificate {
    /// The certificate.
    #[serde(serialize_with = "hex_bytes")]
    pub certificate_id: [u8; 32],
    /// Why.
    pub reason: String,
}

/// One channel head or status-list head claimed by `AnchorChannels`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnchoredHead {
    /// The channel, or the issuing organisation of a status list.
    pub name: String,
    /// The tree size, or the status list's size.
    pub size: u64,
    /// The channel root, or the status list hash.
    #[serde(serialize_with = "hex_bytes")]
    pub hash: [u8; 32],
}

/// `AnchorChannels`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnchorChannels {
    /// Channel heads.
    pub channels: Vec<AnchoredHead>,
    /// Status-list heads.
    pub status_lists: Vec<AnchoredHead>,
}

/// `OpenAccount`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OpenAccount {
    /// The holder's address, as given.
    pub holder: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The plan.
    pub plan: Plan,
}

/// `TopUp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TopUp {
    /// The holder's address, as given.
    pub holder: String,
    /// ISO 4217 code; must be the account's.
    pub currency: String,
    /// Minor units.
    pub amount: u64,
    /// The operator's reference.
    pub reference: String,
}

/// `ChangePlan`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChangePlan {
    /// The holder's address, as given.
    pub holder: String,
    /// The new plan.
    pub plan: Plan,
}

/// A consortium change (`ChangeConsortium`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsortiumChange {
    /// Admit an organisation.
    AddOrganisation {
        /// Its name.
        name: String,
        /// Its description.
        description: String,
        /// Its Ed25519 public key.
        #[serde(with = "hex_array")]
        public_key: [u8; 32],
    },
    /// Remove an organisation and revoke its identities.
    RemoveOrganisation {
        /// Its name.
        name: String,
    },
    /// Replace an organisation's key.
    RotateOrganisationKey {
        /// Its name.
        name: String,
        /// The new Ed25519 public key.
        #[serde(with = "hex_array")]
        new_public_key: [u8; 32],
    },
    /// Replace the authority rule of a transaction type.
    SetAuthorityRule {
        /// The transaction type, as named in the genesis.
        tx_type: String,
        /// The rule, as genesis JSON.
        rule_json: String,
    },
    /// Set the quorum k.
    SetQuorum {
        /// How many node cosignatures make a checkpoint final.
        k: u32,
    },
    /// Set the consortium-change policy.
    SetChangePolicy {
        /// How many organisations must endorse a change (0: a strict majority).
        organisations: u32,
    },
}

mod hex_array {
    pub(super) fn serialize<S: serde::Serializer>(
        bytes: &[u8; 32],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u8; 32], D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&text, &mut bytes).map_err(serde::de::Error::custom)?;
        Ok(bytes)
    }
}

/// The body of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxBody {
    /// Register an identity.
    RegisterIdentity(RegisterIdentity),
    /// Publish an asset version.
    PublishAsset(PublishAsset),
    /// Replace an asset's authorised list.
    SetSharingRules(SetSharingRules),
    /// Revoke an identity.
    RevokeIdentity(RevokeIdentity),
    /// Anchor the creator's access-event log.
    AnchorAccessEvents(AnchorAccessEvents),
    /// Issue a certificate.
    IssueCertificate(IssueCertificate),
    /// Renew a certificate: a new statement naming the one it renews.
    RenewCertificate(IssueCertificate),
    /// Revoke a certificate.
    RevokeCertificate(RevokeCertificate),
    /// Anchor channel checkpoints and status lists.
    AnchorChannels(AnchorChannels),
    /// Open a verifier account.
    OpenAccount(OpenAccount),
    /// Credit a verifier account.
    TopUp(TopUp),
    /// Change a verifier account's plan.
    ChangePlan(ChangePlan),
    /// Change the consortium.
    ChangeConsortium(ConsortiumChange),
    /// Define a service or a new version of one.
    DefineService(DefineService),
    /// Act on a case.
    CaseAction(crate::case::CaseAction),
}

impl TxBody {
    /// The type's name, as shown by `cairn tx show`.
    pub fn type_name(&self) -> &'static str {
        crate::authority::TxType::of(self).as_str()
    }
}

/// A decoded transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transaction {
    /// SHA-256 of the payload.
    pub id: TxId,
    /// The payload bytes exactly as signed.
    pub payload: Vec<u8>,
    /// The chain named by the payload.
    pub chain_id: String,
    /// The creator's Ed25519 public key.
    pub creator: [u8; 32],
    /// The submitter's nonce.
    pub nonce: Vec<u8>,
    /// The submitter's clock (milliseconds since the epoch), recorded as given.
    pub timestamp_ms: u64,
    /// What the transaction does.
    pub body: TxBody,
    /// The creator's signature.
    pub signature: [u8; 64],
    /// Endorsements.
    pub endorsements: Vec<Endorsement>,
}

/// Why an envelope could not be decoded into a [`Transaction`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The best id available: of the payload if it could be extracted, else of the raw bytes.
    pub id: TxId,
    /// [`ValidationCode::Malformed`] or [`ValidationCode::Oversized`].
    pub code: ValidationCode,
    /// What was wrong.
    pub message: String,
}

fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], String> {
    <[u8; N]>::try_from(bytes).map_err(|_| format!("{what} must be {N} bytes, got {}", bytes.len()))
}

impl Transaction {
    /// The creator's address.
    pub fn creator_address(&self) -> Address {
        Address::of_public_key(&self.creator)
    }

    /// Decodes an envelope. Never panics; bad input gives a [`Rejection`].
    pub fn decode(envelope: &[u8]) -> Result<Transaction, Rejection> {
        let raw_id = || TxId::of_payload(envelope);
        if envelope.len() > MAX_TX_BYTES {
            return Err(Rejection {
                id: raw_id(),
                code: ValidationCode::Oversized,
                message: format!(
                    "envelope is {} bytes, more than the limit of {MAX_TX_BYTES}",
                    envelope.len()
                ),
            });
        }
        let envelope_pb = pb::TxEnvelope::decode(envelope).map_err(|e| Rejection {
            id: raw_id(),
            code: ValidationCode::Malformed,
            message: format!("envelope is not a valid cairn.v1.TxEnvelope: {e}"),
        })?;
        let id = TxId::of_payload(&envelope_pb.payload);
        let malformed =
            |message: String| Rejection { id, code: ValidationCode::Malformed, message };
        let payload = pb::TxPayload::decode(envelope_pb.payload.as_slice())
            .map_err(|e| malformed(format!("payload is not a valid cairn.v1.TxPayload: {e}")))?;
        let signature = fixed::<64>(&envelope_pb.signature, "signature").map_err(malformed)?;
        let creator = fixed::<32>(&payload.creator, "creator public key").map_err(malformed)?;
        if envelope_pb.endorsements.len() > crate::authority::MAX_ENDORSEMENTS {
            return Err(malformed(format!(
                "{} endorsements, more than the limit of {}",
                envelope_pb.endorsements.len(),
                crate::authority::MAX_ENDORSEMENTS
            )));
        }
        let mut endorsements = Vec::with_capacity(envelope_pb.endorsements.len());
        for (idx, endorsement) in envelope_pb.endorsements.iter().enumerate() {
            endorsements.push(Endorsement {
                organisation: endorsement.organisation.clone(),
                public_key: fixed::<32>(
                    &endorsement.public_key,
                    &format!("endorsement {idx} public key"),
                )
                .map_err(malformed)?,
                signature: fixed::<64>(
                    &endorsement.signature,
                    &format!("endorsement {idx} signature"),
                )
                .map_err(malformed)?,
            });
        }
        for (idx, endorsement) in endorsements.iter().enumerate() {
            if endorsements[..idx].iter().any(|e| e.public_key == endorsement.public_key) {
                return Err(malformed(format!(
                    "endorsement {idx} repeats the key of an earlier endorsement"
                )));
            }
        }
        let body = match payload.body {
            None => return Err(malformed("payload has no body (no transaction type)".into())),
            Some(pb::tx_payload::Body::RegisterIdentity(r)) => {
                TxBody::RegisterIdentity(RegisterIdentity {
                    role: role_from_pb(r.role).map_err(malformed)?,
                    signing_public_key: fixed::<32>(&r.signing_public_key, "signing public key")
                        .map_err(malformed)?,
                    encryption_public_key: fixed::<32>(
                        &r.encryption_public_key,
                        "encryption public key",
                    )
                    .map_err(malformed)?,
                    name: r.name,
                    organisation: r.organisation,
                    reviewer_role: r.reviewer_role,
                })
            }
            Some(pb::tx_payload::Body::PublishAsset(p)) => TxBody::PublishAsset(PublishAsset {
                data_type: match pb::DataType::try_from(p.data_type) {
                    Ok(pb::DataType::Structured) => DataType::Structured,
                    Ok(pb::DataType::Unstructured) => DataType::Unstructured,
                    _ => {
                        return Err(malformed(format!(
                            "data type {} is not structured or unstructured",
                            p.data_type
                        )));
                    }
                },
                content_hash: fixed::<32>(&p.content_hash, "content hash").map_err(malformed)?,
                asset_id: p.asset_id,
                version: p.version,
                hash_algorithm: p.hash_algorithm,
                size_bytes: p.size_bytes,
                metadata: p.metadata,
            }),
            Some(pb::tx_payload::Body::SetSharingRules(s)) => {
                TxBody::SetSharingRules(SetSharingRules {
                    asset_id: s.asset_id,
                    authorised: s.authorised,
                })
            }
            Some(pb::tx_payload::Body::RevokeIdentity(r)) => {
                TxBody::RevokeIdentity(RevokeIdentity { address: r.address, reason: r.reason })
            }
            Some(pb::tx_payload::Body::AnchorAccessEvents(a)) => {
                let mut consistency_proof = Vec::with_capacity(a.consistency_proof.len());
                for (idx, hash) in a.consistency_proof.iter().enumerate() {
                    consistency_proof.push(
                        fixed::<32>(hash, &format!("consistency proof hash {idx}"))
                            .map_err(malformed)?,
                    );
                }
                TxBody::AnchorAccessEvents(AnchorAccessEvents {
                    tree_size: a.tree_size,
                    root_hash: fixed::<32>(&a.root_hash, "root hash").map_err(malformed)?,
                    consistency_proof,
                })
            }
            Some(pb::tx_payload::Body::IssueCertificate(issue)) => {
                TxBody::IssueCertificate(decode_issue(issue).map_err(malformed)?)
            }
            Some(pb::tx_payload::Body::RenewCertificate(issue)) => {
                TxBody::RenewCertificate(decode_issue(issue).map_err(malformed)?)
            }
            Some(pb::tx_payload::Body::RevokeCertificate(revoke)) => {
                TxBody::RevokeCertificate(RevokeCertificate {
                    certificate_id: fixed::<32>(&revoke.certificate_id, "certificate id")
                        .map_err(malformed)?,
                    reason: revoke.reason,
                })
            }
            Some(pb::tx_payload::Body::AnchorChannels(anchor)) => {
                let mut channels = Vec::with_capacity(anchor.channels.len());
                for (idx, head) in anchor.channels.into_iter().enumerate() {
                    channels.push(AnchoredHead {
                        hash: fixed::<32>(&head.root_hash, &format!("channel {idx} root hash"))
                            .map_err(malformed)?,
                        name: head.channel,
                        size: head.tree_size,
                    });
                }
                let mut status_lists = Vec::with_capacity(anchor.status_lists.len());
                for (idx, head) in anchor.status_lists.into_iter().enumerate() {
                    status_lists.push(AnchoredHead {
                        hash: fixed::<32>(&head.list_hash, &format!("status list {idx} hash"))
                            .map_err(malformed)?,
                        name: head.issuer_organisation,
                        size: head.size,
                    });
                }
                TxBody::AnchorChannels(AnchorChannels { channels, status_lists })
            }
            Some(pb::tx_payload::Body::OpenAccount(open)) => TxBody::OpenAccount(OpenAccount {
                plan: plan_from_pb_reason(open.plan).map_err(malformed)?,
                holder: open.holder,
                currency: open.currency,
            }),
            Some(pb::tx_payload::Body::TopUp(top_up)) => TxBody::TopUp(TopUp {
                holder: top_up.holder,
                currency: top_up.currency,
                amount: top_up.amount,
                reference: top_up.reference,
            }),
            Some(pb::tx_payload::Body::ChangePlan(change)) => TxBody::ChangePlan(ChangePlan {
                plan: plan_from_pb_reason(change.plan).map_err(malformed)?,
                holder: change.holder,
            }),
            Some(pb::tx_payload::Body::ChangeConsortium(change)) => {
                TxBody::ChangeConsortium(decode_change(change).map_err(malformed)?)
            }
            Some(pb::tx_payload::Body::DefineService(define)) => {
                TxBody::DefineService(DefineService { definition_json: define.definition_json })
            }
            Some(pb::tx_payload::Body::CaseAction(action)) => {
                TxBody::CaseAction(crate::case::decode(action).map_err(malformed)?)
            }
        };
        Ok(Transaction {
            id,
            payload: envelope_pb.payload,
            chain_id: payload.chain_id,
            creator,
            nonce: payload.nonce,
            timestamp_ms: payload.timestamp_ms,
            body,
            signature,
            endorsements,
        })
    }

    /// The payload as JSON, for reading.
    pub fn payload_json(&self) -> serde_json::Value {
        serde_json::json!({
            "chain_id": self.chain_id,
            "creator": hex::encode(self.creator),
            "creator_address": self.creator_address().to_string(),
            "nonce": hex::encode(&self.nonce),
            "timestamp_ms": self.timestamp_ms,
            "type": self.body.type_name(),
            "body": serde_json::to_value(&self.body).unwrap_or_default(),
            "endorsements": self.endorsements.iter().map(|e| serde_json::json!({
                "organisation": e.organisation,
                "public_key": hex::encode(e.public_key),
            })).collect::<Vec<_>>(),
        })
    }
}

fn decode_change(change: pb::ChangeConsortium) -> Result<ConsortiumChange, String> {
    use pb::change_consortium::Change;
    Ok(match change.change {
        None => return Err("change_consortium names no change".into()),
        Some(Change::AddOrganisation(add)) => ConsortiumChange::AddOrganisation {
            public_key: fixed::<32>(&add.public_key, "organisation public key")?,
            name: add.name,
            description: add.description,
        },
        Some(Change::RemoveOrganisation(remove)) => {
            ConsortiumChange::RemoveOrganisation { name: remove.name }
        }
        Some(Change::RotateOrganisationKey(rotate)) => ConsortiumChange::RotateOrganisationKey {
            new_public_key: fixed::<32>(&rotate.new_public_key, "new organisation public key")?,
            name: rotate.name,
        },
        Some(Change::SetAuthorityRule(rule)) => {
            ConsortiumChange::SetAuthorityRule { tx_type: rule.tx_type, rule_json: rule.rule_json }
        }
        Some(Change::SetQuorum(quorum)) => ConsortiumChange::SetQuorum { k: quorum.k },
        Some(Change::SetChangePolicy(policy)) => {
            ConsortiumChange::SetChangePolicy { organisations: policy.organisations }
        }
    })
}

/// The protobuf form of a consortium change, for building a transaction.
pub fn change_to_pb(change: &ConsortiumChange) -> pb::ChangeConsortium {
    use pb::change_consortium::Change;
    let change = match change {
        ConsortiumChange::AddOrganisation { name, description, public_key } => {
            Change::AddOrganisation(pb::AddOrganisation {
                name: name.clone(),
                description: description.clone(),
                public_key: public_key.to_vec(),
            })
        }
        ConsortiumChange::RemoveOrganisation { name } => {
            Change::RemoveOrganisation(pb::RemoveOrganisation { name: name.clone() })
        }
        ConsortiumChange::RotateOrganisationKey { name, new_public_key } => {
            Change::RotateOrganisationKey(pb::RotateOrganisationKey {
                name: name.clone(),
                new_public_key: new_public_key.to_vec(),
            })
        }
        ConsortiumChange::SetAuthorityRule { tx_type, rule_json } => {
            Change::SetAuthorityRule(pb::SetAuthorityRule {
                tx_type: tx_type.clone(),
                rule_json: rule_json.clone(),
            })
        }
        ConsortiumChange::SetQuorum { k } => Change::SetQuorum(pb::SetQuorum { k: *k }),
        ConsortiumChange::SetChangePolicy { organisations } => {
            Change::SetChangePolicy(pb::SetChangePolicy { organisations: *organisations })
        }
    };
    pb::ChangeConsortium { change: Some(change) }
}

pub(crate) fn decode_issue(issue: pb::IssueCertificate) -> Result<IssueCertificate, String> {
    let content = issue.content.unwrap_or_default();
    Ok(IssueCertificate {
        issuer_signature: fixed::<64>(&issue.issuer_signature, "issuer signature")?,
        statement: issue.statement,
        content_enc: content.enc,
        content_ciphertext: content.ciphertext,
    })
}

/// The protobuf form of a certificate issuance.
pub fn issue_to_pb(issue: &IssueCertificate) -> pb::IssueCertificate {
    pb::IssueCertificate {
        statement: issue.statement.clone(),
        issuer_signature: issue.issuer_signature.to_vec(),
        content: Some(pb::EncryptedContent {
            enc: issue.content_enc.clone(),
            ciphertext: issue.content_ciphertext.clone(),
        }),
    }
}

/// A plan from its protobuf form; a missing plan or payment mode is malformed.
pub fn plan_from_pb(plan: Option<pb::Plan>) -> Result<Plan, Error> {
    plan_from_pb_reason(plan).map_err(|reason| Error::Plan { reason })
}

fn plan_from_pb_reason(plan: Option<pb::Plan>) -> Result<Plan, String> {
    let plan = plan.ok_or_else(|| "the account has no plan".to_string())?;
    let payment = match pb::Payment::try_from(plan.payment) {
        Ok(pb::Payment::Prepaid) => Payment::Prepaid,
        Ok(pb::Payment::Postpaid) => Payment::Postpaid,
        _ => return Err(format!("payment {} is not prepaid or postpaid", plan.payment)),
    };
    Ok(Plan {
        price_per_query: plan.price_per_query,
        price_per_mib: plan.price_per_mib,
        free_queries_per_month: plan.free_queries_per_month,
        free_mib_per_month: plan.free_mib_per_month,
        payment,
        rate_limit_per_second: plan.rate_limit_per_second,
    })
}

/// The protobuf form of a plan.
pub fn plan_to_pb(plan: &Plan) -> pb::Plan {
    pb::Plan {
        price_per_query: plan.price_per_query,
        price_per_mib: plan.price_per_mib,
        free_queries_per_month: plan.free_queries_per_month,
        free_mib_per_month: plan.free_mib_per_month,
        payment: match plan.payment {
            Payment::Prepaid => pb::Payment::Prepaid,
            Payment::Postpaid => pb::Payment::Postpaid,
        }
        .into(),
        rate_limit_per_second: plan.rate_limit_per_second,
    }
}

fn role_from_pb(number: i32) -> Result<Role, String> {
    Ok(match pb::Role::try_from(number) {
        Ok(pb::Role::Provider) => Role::Provider,
        Ok(pb::Role::Consumer) => Role::Consumer,
        Ok(pb::Role::Verifier) => Role::Verifier,
        Ok(pb::Role::Issuer) => Role::Issuer,
        Ok(pb::Role::CertificationAuthority) => Role::CertificationAuthority,
        Ok(pb::Role::Auditor) => Role::Auditor,
        Ok(pb::Role::Public) => Role::Public,
        Ok(pb::Role::Operator) => Role::Operator,
        Ok(pb::Role::Node) => Role::Node,
        Ok(pb::Role::Reviewer) => Role::Reviewer,
        _ => return Err(format!("role {number} is not a known role")),
    })
}

/// The protobuf number of a role.
pub fn role_to_pb(role: Role) -> pb::Role {
    match role {
        Role::Provider => pb::Role::Provider,
        Role::Consumer => pb::Role::Consumer,
        Role::Verifier => pb::Role::Verifier,
        Role::Issuer => pb::Role::Issuer,
        Role::CertificationAuthority => pb::Role::CertificationAuthority,
        Role::Auditor => pb::Role::Auditor,
        Role::Public => pb::Role::Public,
        Role::Operator => pb::Role::Operator,
        Role::Node => pb::Role::Node,
        Role::Reviewer => pb::Role::Reviewer,
    }
}

/// The protobuf number of a data type.
pub fn data_type_to_pb(data_type: DataType) -> pb::DataType {
    match data_type {
        DataType::Structured => pb::DataType::Structured,
        DataType::Unstructured => pb::DataType::Unstructured,
    }
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

fn hex_vec<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

fn hex_sig<S: serde::Serializer>(bytes: &[u8; 64], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

fn hex_list<S: serde::Serializer>(hashes: &[[u8; 32]], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(hashes.iter().map(hex::encode))
}

fn text_or_hex<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => serializer.serialize_str(&format!("hex:{}", hex::encode(bytes))),
    }
}

/// The message a creator signs.
pub fn creator_message(payload: &[u8]) -> Vec<u8> {
    [TX_SIGNATURE_LABEL, payload].concat()
}

/// The message an endorser signs.
pub fn endorsement_message(payload: &[u8]) -> Vec<u8> {
    [ENDORSEMENT_SIGNATURE_LABEL, payload].concat()
}

/// What a client needs to build a transaction; the randomness (nonce) and the
/// clock (timestamp) are the caller's, so building is pure.
#[derive(Clone, Debug)]
pub struct TxDraft {
    /// The chain id.
    pub chain_id: String,
    /// A fresh random nonce (16 bytes or more).
    pub nonce: Vec<u8>,
    /// The submitter's clock.
    pub timestamp_ms: u64,
    /// The body.
    pub body: pb::tx_payload::Body,
}

impl TxDraft {
    /// Encodes the payload for `creator`.
    pub fn payload(&self, creator: &[u8; 32]) -> Vec<u8> {
        pb::TxPayload {
            chain_id: self.chain_id.clone(),
            creator: creator.to_vec(),
            nonce: self.nonce.clone(),
            timestamp_ms: self.timestamp_ms,
            body: Some(self.body.clone()),
        }
        .encode_to_vec()
    }
}

/// Signs `payload` as its creator and with each `(organisation, key)` endorser; returns the encoded envelope.
pub fn seal(
    payload: Vec<u8>,
    creator: &ed25519_zebra::SigningKey,
    endorsers: &[(&str, &ed25519_zebra::SigningKey)],
) -> Vec<u8> {
    let signature = creator.sign(&creator_message(&payload));
    let endorsement_msg = endorsement_message(&payload);
    let endorsements = endorsers
        .iter()
        .map(|(organisation, key)| pb::Endorsement {
            organisation: organisation.to_string(),
            public_key: <[u8; 32]>::from(key.verification_key()).to_vec(),
            signature: key.sign(&endorsement_msg).to_bytes().to_vec(),
        })
        .collect();
    pb::TxEnvelope { payload, signature: signature.to_bytes().to_vec(), endorsements }
        .encode_to_vec()
}

/// Adds an endorsement to an already sealed envelope (for two-step endorsement by another party).
pub fn endorse(
    envelope: &[u8],
    organisation: &str,
    key: &ed25519_zebra::SigningKey,
) -> Result<Vec<u8>, Error> {
    let mut envelope_pb = pb::TxEnvelope::decode(envelope).map_err(|e| Error::Envelope {
        reason: format!("envelope is not a valid cairn.v1.TxEnvelope: {e}"),
    })?;
    let signature = key.sign(&endorsement_message(&envelope_pb.payload));
    envelope_pb.endorsements.push(pb::Endorsement {
        organisation: organisation.to_string(),
        public_key: <[u8; 32]>::from(key.verification_key()).to_vec(),
        signature: signature.to_bytes().to_vec(),
    });
    Ok(envelope_pb.encode_to_vec())
}
