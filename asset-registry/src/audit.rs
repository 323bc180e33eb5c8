//! Access events and the audit projection.
//!
//! An access event is stored in the access-event log as an encoded
//! `cairn.v1.AccessEvent`; those bytes are also its leaf in the node's
//! RFC 6962 access-event Merkle log. The projection is a fold over the log in
//! offset order, so replaying the log rebuilds it exactly.

use std::collections::BTreeMap;
use std::fmt;

use cairn_schemas::v1 as pb;
use prost::Message;
use serde::{Deserialize, Serialize};

/// Whether a request was allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Allowed.
    Allowed,
    /// Denied.
    Denied,
}

impl Decision {
    /// The name used in JSON and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
        }
    }
}

impl std::str::FromStr for Decision {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "allowed" => Ok(Decision::Allowed),
            "denied" => Ok(Decision::Denied),
            _ => Err(crate::Error::UnknownDecision { decision: text.to_owned() }),
        }
    }
}

/// The action an access event records: what the caller asked to do.
///
/// It is stored as its name (see [`Action::as_str`]) in the encoded
/// `cairn.v1.AccessEvent`, in PostgreSQL and in JSON, so the wire and ledger
/// formats are the same as when the action was a plain string. Billing
/// decides what is paid for by matching on it (see
/// [`crate::billing::billable`]), so a new action has to be priced before
/// the code compiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Action {
    /// Verify a data hash (`/cairn.v1.Access/VerifyDataHash`): a paid query.
    #[serde(rename = "verify")]
    Verify,
    /// Check a certificate (`/cairn.v1.CertificateCheck/CheckCertificate`):
    /// a paid query.
    #[serde(rename = "verify_certificate")]
    VerifyCertificate,
    /// Ask for an asset's key or download its data: paid when bytes were
    /// served.
    #[serde(rename = "request_data")]
    RequestData,
    /// List or prove access events.
    #[serde(rename = "read_audit")]
    ReadAudit,
    /// Read an account, its usage or a statement.
    #[serde(rename = "read_bills")]
    ReadBills,
    /// Read a social-security case or the services (`/cairn.v1.Cases/…`).
    #[serde(rename = "read_case")]
    ReadCase,
    /// The summary of unauthenticated requests refused without an event each.
    #[serde(rename = "unauthenticated_refusals")]
    UnauthenticatedRefusals,
    /// A refused call to a method that stands for none of the other actions.
    #[serde(rename = "unknown")]
    Unknown,
    /// The synthetic events of the scale benchmark; no node logs it.
    #[serde(rename = "verify_data_hash")]
    VerifyDataHash,
}

impl Action {
    /// Every action, in a fixed order.
    pub const ALL: [Action; 9] = [
        Action::Verify,
        Action::VerifyCertificate,
        Action::RequestData,
        Action::ReadAudit,
        Action::ReadBills,
        Action::UnauthenticatedRefusals,
        Action::Unknown,
        Action::VerifyDataHash,
        Action::ReadCase,
    ];

    /// The name stored in the log, in PostgreSQL and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Verify => "verify",
            Action::VerifyCertificate => "verify_certificate",
            Action::RequestData => "request_data",
            Action::ReadAudit => "read_audit",
            Action::ReadBills => "read_bills",
            Action::ReadCase => "read_case",
            Action::UnauthenticatedRefusals => "unauthenticated_refusals",
            Action::Unknown => "unknown",
            Action::VerifyDataHash => "verify_data_hash",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = crate::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "verify" => Ok(Action::Verify),
            "verify_certificate" => Ok(Action::VerifyCertificate),
            "request_data" => Ok(Action::RequestData),
            "read_audit" => Ok(Action::ReadAudit),
            "read_bills" => Ok(Action::ReadBills),
            "read_case" => Ok(Action::ReadCase),
            "unauthenticated_refusals" => Ok(Action::UnauthenticatedRefusals),
            "unknown" => Ok(Action::Unknown),
            "verify_data_hash" => Ok(Action::VerifyDataHash),
            _ => Err(crate::Error::UnknownAction { action: text.to_owned() }),
        }
    }
}

/// One access event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessEvent {
    /// 32 hex digits.
    pub event_id: String,
    /// The node's clock, milliseconds since the epoch.
    pub time_ms: u64,
    /// The caller's address; empty when unidentified.
    pub identity: String,
    /// The caller's organisation.
    pub organisation: String,
    /// The caller's role.
    pub role: String,
    /// The action asked for.
    pub action: Action,
    /// The resource, e.g. `asset:health/clinics@2` or `audit`.
    pub resource: String,
    /// Allowed or denied.
    pub decision: Decision,
    /// Why.
    pub reason: String,
    /// Bytes of data served.
    pub bytes: u64,
    /// Time to decide, microseconds.
    pub latency_us: u64,
    /// The gRPC method.
    pub method: String,
    /// The height of the node's ledger when it decided.
    pub ledger_height: u64,
    /// The caller's signed request envelope as received (empty when the
    /// request did not authenticate): the evidence that the caller asked.
    #[serde(with = "hex_bytes")]
    pub request: Vec<u8>,
}

/// Envelope bytes as hex in JSON.
mod hex_bytes {
    pub(super) fn serialize<S: serde::Serializer>(
        bytes: &[u8],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }
}

/// The resource string of an asset version.
pub fn asset_resource(asset_id: &str, version: u64) -> String {
    if version == 0 { format!("asset:{asset_id}") } else { format!("asset:{asset_id}@{version}") }
}

impl AccessEvent {
    /// The asset named by the resource, if it is one.
    pub fn asset_id(&self) -> Option<&str> {
        let rest = self.resource.strip_prefix("asset:")?;
        Some(rest.rsplit_once('@').map_or(rest, |(id, _)| id))
    }

    /// The bytes stored in the log (and hashed as the Merkle leaf).
    pub fn encode(&self) -> Vec<u8> {
        pb::AccessEvent {
            event_id: self.event_id.clone(),
            time_ms: self.time_ms,
            identity: self.identity.clone(),
            organisation: self.organisation.clone(),
            role: self.role.clone(),
            action: self.action.as_str().to_owned(),
            resource: self.resource.clone(),
            decision: match self.decision {
                Decision::Allowed => pb::Decision::Allowed,
                Decision::Denied => pb::Decision::Denied,
            }
            .into(),
            reason: self.reason.clone(),
            bytes: self.bytes,
            latency_us: self.latency_us,
            method: self.method.clone(),
            ledger_height: self.ledger_height,
            request: self.request.clone(),
        }
        .encode_to_vec()
    }

    /// Decodes logged bytes.
    pub fn decode(bytes: &[u8]) -> crate::Result<AccessEvent> {
        let event = pb::AccessEvent::decode(bytes)
            .map_err(|e| crate::Error::NotAnAccessEvent { message: e.to_string() })?;
        let action = event.action.parse::<Action>()?;
        let decision = match pb::Decision::try_from(event.decision) {
            Ok(pb::Decision::Allowed) => Decision::Allowed,
            Ok(pb::Decision::Denied) => Decision::Denied,
            _ => return Err(crate::Error::NoDecision { event_id: event.event_id }),
        };
        Ok(AccessEvent {
            event_id: event.event_id,
            time_ms: event.time_ms,
            identity: event.identity,
            organisation: event.organisation,
            role: event.role,
            action,
            resource: event.resource,
            decision,
            reason: event.reason,
            bytes: event.bytes,
            latency_us: event.latency_us,
            method: event.method,
            ledger_height: event.ledger_height,
            request: event.request,
        })
    }
}

/// Domain-separation label of a node's signature over an access-topic record.
const RECORD_LABEL: &[u8] = b"cairn-access-record-v1\n";

/// The bytes a node signs for a record it publishes on the access topic:
/// `"cairn-access-record-v1\n" || leaf index u64 BE || SHA-256(payload)`,
/// where the payload is the encoded event and the leaf index its position in
/// the node's access-event log.
fn record_message(leaf_index: u64, payload: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut message = Vec::with_capacity(RECORD_LABEL.len() + 8 + 32);
    message.extend_from_slice(RECORD_LABEL);
    message.extend_from_slice(&leaf_index.to_be_bytes());
    message.extend_from_slice(&sha2::Sha256::digest(payload));
    message
}

/// A node's signature over an access-topic record (see [`record_message`]).
pub fn sign_record(key: &ed25519_zebra::SigningKey, leaf_index: u64, payload: &[u8]) -> [u8; 64] {
    key.sign(&record_message(leaf_index, payload)).to_bytes()
}

/// Checks a record's signature: `public_key` (32 bytes) signed `signature`
/// (64 bytes) over the record at `leaf_index` with `payload`. Answers the
/// signer's address; a projector then checks that it is a node it trusts.
pub fn verify_record(
    public_key: &[u8],
    signature: &[u8],
    leaf_index: u64,
    payload: &[u8],
) -> crate::Result<anchor_chaincode::Address> {
    let refused = |reason: String| crate::Error::RecordSignature { reason };
    let public_key: [u8; 32] = public_key
        .try_into()
        .map_err(|_| refused(format!("the node key is {} bytes, not 32", public_key.len())))?;
    let signature: [u8; 64] = signature
        .try_into()
        .map_err(|_| refused(format!("the node signature is {} bytes, not 64", signature.len())))?;
    let key = ed25519_zebra::VerificationKey::try_from(public_key)
        .map_err(|_| refused("the node key is not an Ed25519 key".to_string()))?;
    key.verify(
        &ed25519_zebra::Signature::from_bytes(&signature),
        &record_message(leaf_index, payload),
    )
    .map_err(|_| refused("the node signature does not verify over the record".to_string()))?;
    Ok(anchor_chaincode::Address::of_public_key(&public_key))
}

/// What `cairn audit events` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this caller.
    pub identity: Option<String>,
    /// Only this asset.
    pub asset_id: Option<String>,
    /// Only at or after this time.
    pub since_ms: Option<u64>,
    /// Only this decision.
    pub decision: Option<Decision>,
    /// At most this many, newest last.
    pub limit: usize,
}

impl AuditFilter {
    fn matches(&self, event: &AccessEvent) -> bool {
        self.identity.as_ref().is_none_or(|identity| &event.identity == identity)
            && self.asset_id.as_ref().is_none_or(|asset| event.asset_id() == Some(asset.as_str()))
            && self.since_ms.is_none_or(|since| event.time_ms >= since)
            && self.decision.is_none_or(|decision| event.decision == decision)
    }
}

/// The audit log projection: every event in log order, indexed by id.
#[derive(Clone, Debug, Default)]
pub struct AuditProjection {
    events: Vec<AccessEvent>,
    by_id: BTreeMap<String, u64>,
}

impl AuditProjection {
    /// Applies the event at `offset`; offsets must come in order from 0.
    pub fn apply(&mut self, offset: u64, event: AccessEvent) -> crate::Result<()> {
        if offset != self.events.len() as u64 {
            return Err(crate::Error::OutOfOrder { expected: self.events.len() as u64, offset });
        }
        let _ = self.by_id.insert(event.event_id.clone(), offset);
        self.events.push(event);
        Ok(())
    }

    /// Number of events.
    pub fn len(&self) -> u64 {
        self.events.len() as u64
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The log offset of an event.
    pub fn offset_of(&self, event_id: &str) -> Option<u64> {
        self.by_id.get(event_id).copied()
    }

    /// An event by offset.
    pub fn event(&self, offset: u64) -> Option<&AccessEvent> {
        usize::try_from(offset).ok().and_then(|i| self.events.get(i))
    }

    /// The newest `filter.limit` events that match, oldest first.
    pub fn query(&self, filter: &AuditFilter) -> Vec<&AccessEvent> {
        let limit = if filter.limit == 0 { usize::MAX } else { filter.limit };
        let mut matched: Vec<&AccessEvent> =
            self.events.iter().rev().filter(|event| filter.matches(event)).take(limit).collect();
        matched.reverse();
        matched
    }
}

/// Merges two lists of matching events (a node's own log and the PostgreSQL
/// projection of every node's) into one: each event once by its id, ordered
/// by time and then id, the newest `limit` (all when `limit` is 0).
pub fn merge_newest(
    own: impl IntoIterator<Item = AccessEvent>,
    projected: impl IntoIterator<Item = AccessEvent>,
    limit: usize,
) -> Vec<AccessEvent> {
    let mut by_key: BTreeMap<(u64, String), AccessEvent> = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for event in own.into_iter().chain(projected) {
        if seen.insert(event.event_id.clone()) {
            let _ = by_key.insert((event.time_ms, event.event_id.clone()), event);
        }
    }
    let skip = if limit == 0 { 0 } else { by_key.len().saturating_sub(limit) };
    by_key.into_values().skip(skip).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: u64, identity: &str, resource: &str, decision: Decision) -> AccessEvent {
        AccessEvent {
            event_id: format!("{n:032x}"),
            time_ms: 1_000 * n,
            identity: identity.into(),
            organisation: "org".into(),
            role: "consumer".into(),
            action: Action::RequestData,
            resource: resource.into(),
            decision,
            reason: "because".into(),
            bytes: n,
            latency_us: 5,
            method: "/cairn.v1.Access/RequestAccess".into(),
            ledger_height: 1,
            request: vec![2; 205],
        }
    }

    #[test]
    fn a_record_signature_binds_the_node_the_leaf_and_the_payload() {
        let key = ed25519_zebra::SigningKey::from([5; 32]);
        let public = <[u8; 32]>::from(key.verification_key());
        let payload = event(1, "a", "audit", Decision::Allowed).encode();
        let signature = sign_record(&key, 7, &payload);
        assert_eq!(
            verify_record(&public, &signature, 7, &payload),
            Ok(anchor_chaincode::Address::of_public_key(&public))
        );
        assert!(verify_record(&public, &signature, 8, &payload).is_err(), "another leaf");
        let mut changed = payload.clone();
        changed[3] ^= 1;
        assert!(verify_record(&public, &signature, 7, &changed).is_err(), "another payload");
        let other = <[u8; 32]>::from(ed25519_zebra::SigningKey::from([6; 32]).verification_key());
        assert!(verify_record(&other, &signature, 7, &payload).is_err(), "another key");
        assert!(verify_record(&public[..31], &signature, 7, &payload).is_err());
        assert!(verify_record(&public, &signature[..63], 7, &payload).is_err());
    }

    #[test]
    fn every_action_is_listed_once_in_all() {
        // Adding a variant fails to compile here until it is placed in `ALL`.
        let position = |action: Action| match action {
            Action::Verify => 0,
            Action::VerifyCertificate => 1,
            Action::RequestData => 2,
            Action::ReadAudit => 3,
            Action::ReadBills => 4,
            Action::UnauthenticatedRefusals => 5,
            Action::Unknown => 6,
            Action::VerifyDataHash => 7,
            Action::ReadCase => 8,
        };
        let positions: Vec<usize> = Action::ALL.into_iter().map(position).collect();
        assert_eq!(positions, (0..Action::ALL.len()).collect::<Vec<_>>());
    }

    #[test]
    fn every_action_round_trips_through_its_name_and_serde() {
        for action in Action::ALL {
            let name = action.as_str();
            assert_eq!(name.parse::<Action>().unwrap(), action);
            assert_eq!(action.to_string(), name);
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), action);
            let logged = AccessEvent { action, ..event(1, "a", "audit", Decision::Allowed) };
            let decoded = AccessEvent::decode(&logged.encode()).unwrap();
            assert_eq!(decoded.action, action);
            assert_eq!(pb::AccessEvent::decode(logged.encode().as_slice()).unwrap().action, name);
        }
    }

    #[test]
    fn an_unknown_action_is_refused_with_its_name() {
        let error = "verfy".parse::<Action>().unwrap_err();
        assert!(matches!(&error, crate::Error::UnknownAction { action } if action == "verfy"));
        assert!(error.to_string().contains("unknown access-event action \"verfy\""), "{error}");
        assert!(serde_json::from_str::<Action>("\"Verify\"").is_err(), "names are case-sensitive");
        let mut logged =
            pb::AccessEvent::decode(event(1, "a", "audit", Decision::Allowed).encode().as_slice())
                .unwrap();
        logged.action = "verfy".into();
        let error = AccessEvent::decode(&logged.encode_to_vec()).unwrap_err();
        assert!(error.to_string().contains("\"verfy\""), "{error}");
    }

    #[test]
    fn encode_decode_round_trip() {
        let original = event(3, "ab", "asset:health/x@2", Decision::Denied);
        assert_eq!(AccessEvent::decode(&original.encode()).unwrap(), original);
        assert!(AccessEvent::decode(b"\xff\xff").is_err());
        assert_eq!(original.asset_id(), Some("health/x"));
        assert_eq!(event(1, "a", "audit", Decision::Allowed).asset_id(), None);
    }

    #[test]
    fn filters_combine_and_limit_keeps_the_newest() {
        let mut projection = AuditProjection::default();
        let rows = [
            ("a", "asset:x@1", Decision::Allowed),
            ("b", "asset:x@1", Decision::Denied),
            ("a", "asset:y", Decision::Denied),
            ("a", "audit", Decision::Allowed),
            ("b", "asset:y@3", Decision::Denied),
        ];
        for (n, (identity, resource, decision)) in rows.into_iter().enumerate() {
            projection.apply(n as u64, event(n as u64, identity, resource, decision)).unwrap();
        }
        let ids = |filter: AuditFilter| -> Vec<u64> {
            projection.query(&filter).iter().map(|e| e.bytes).collect()
        };
        assert_eq!(ids(AuditFilter::default()), [0, 1, 2, 3, 4]);
        assert_eq!(
            ids(AuditFilter { identity: Some("a".into()), ..Default::default() }),
            [0, 2, 3]
        );
        assert_eq!(ids(AuditFilter { asset_id: Some("y".into()), ..Default::default() }), [2, 4]);
        assert_eq!(
            ids(AuditFilter {
                decision: Some(Decision::Denied),
                since_ms: Some(2_000),
                ..Default::default()
            }),
            [2, 4]
        );
        assert_eq!(ids(AuditFilter { limit: 2, ..Default::default() }), [3, 4]);
        assert_eq!(projection.offset_of(&format!("{:032x}", 3)), Some(3));
        assert!(projection.apply(9, event(9, "a", "audit", Decision::Allowed)).is_err());
    }

    #[test]
    fn merging_keeps_each_event_once_in_time_order_and_the_newest() {
        let own = vec![
            event(1, "a", "audit", Decision::Allowed),
            event(4, "a", "audit", Decision::Allowed),
        ];
        let projected = vec![
            event(1, "a", "audit", Decision::Allowed),
            event(2, "b", "audit", Decision::Denied),
            event(3, "c", "audit", Decision::Allowed),
        ];
        let bytes =
            |events: Vec<AccessEvent>| -> Vec<u64> { events.iter().map(|e| e.bytes).collect() };
        assert_eq!(bytes(merge_newest(own.clone(), projected.clone(), 0)), [1, 2, 3, 4]);
        assert_eq!(bytes(merge_newest(own.clone(), projected.clone(), 2)), [3, 4]);
        assert_eq!(bytes(merge_newest(own, Vec::new(), 5)), [1, 4]);
        assert!(merge_newest(Vec::new(), Vec::new(), 3).is_empty());
    }
}
