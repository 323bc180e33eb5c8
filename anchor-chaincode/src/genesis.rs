//! The genesis configuration: the chain id, the organisations of the
//! consortium with their keys, the certification authority, and the
//! endorsement policy of each transaction type.
//!
//! It is the first record of every ledger log, as JSON bytes, so that the log
//! alone is enough to rebuild the state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Errors in a genesis configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum GenesisError {
    /// Not valid JSON or not the expected shape.
    #[error("genesis configuration is not valid: {0}")]
    Parse(String),
    /// A rule about the configuration's content is broken.
    #[error("genesis configuration: {0}")]
    Invalid(String),
}

/// An organisation of the consortium.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// Short unique name, for example `dept-health`.
    pub name: String,
    /// Human-readable description.
    #[serde(default)]
    pub description: String,
    /// The organisation's Ed25519 public key (64 hex digits): its endorsements are signed with it.
    pub public_key: String,
}

/// Who must sign a transaction type besides its creator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndorsementPolicy {
    /// The creator's own signature is enough.
    Creator,
    /// A member of the organisation that owns the asset (the creator counts if it is one).
    OwnerOrg,
    /// Every organisation listed.
    AllOf(Vec<String>),
    /// At least one organisation listed.
    AnyOf(Vec<String>),
}

/// The endorsement policy of each transaction type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndorsementPolicies {
    /// `RegisterIdentity`; must require the certification authority.
    pub register_identity: EndorsementPolicy,
    /// `PublishAsset`.
    pub publish_asset: EndorsementPolicy,
    /// `SetSharingRules`.
    pub set_sharing_rules: EndorsementPolicy,
    /// `RevokeIdentity`; defaults to the certification authority.
    #[serde(default)]
    pub revoke_identity: Option<EndorsementPolicy>,
    /// `AnchorAccessEvents`; defaults to the creator alone (each identity anchors its own access log).
    #[serde(default)]
    pub anchor_access_events: Option<EndorsementPolicy>,
    /// `OpenAccount`, `TopUp` and `ChangePlan`; defaults to the hub operator's organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<EndorsementPolicy>,
}

/// The genesis configuration of a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain id every transaction names.
    pub chain_id: String,
    /// The checkpoint origin line (C2SP tlog-checkpoint); defaults to `cairn.local/<chain_id>`.
    #[serde(default)]
    pub origin: String,
    /// The organisations of the consortium.
    pub organisations: Vec<Organisation>,
    /// The name of the organisation that is the certification authority.
    pub certification_authority: String,
    /// The hub operator's organisation, which opens, tops up and re-plans the
    /// accounts of commercial verifiers; defaults to the certification authority.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
    /// Endorsement policies; defaults require the certification authority for
    /// registrations and the owner organisation for asset changes.
    #[serde(default)]
    pub endorsement: Option<EndorsementPolicies>,
}

/// A checked genesis configuration with its keys decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consortium {
    /// The configuration as given.
    pub genesis: Genesis,
    /// The exact bytes of the genesis record.
    pub bytes: Vec<u8>,
    /// The checkpoint origin.
    pub origin: String,
    /// Organisation name → public key.
    pub organisation_keys: BTreeMap<String, [u8; 32]>,
    /// The effective endorsement policies.
    pub policies: EndorsementPolicies,
    /// The hub operator's organisation.
    pub operator: String,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

impl Genesis {
    /// The canonical JSON bytes written as the genesis record.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing a struct of strings and vectors cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

impl Consortium {
    /// Parses and checks genesis bytes (JSON).
    pub fn from_bytes(bytes: &[u8]) -> Result<Consortium, GenesisError> {
        let genesis: Genesis =
            serde_json::from_slice(bytes).map_err(|e| GenesisError::Parse(e.to_string()))?;
        if !valid_name(&genesis.chain_id) {
            return Err(GenesisError::Invalid(format!(
                "chain_id {:?} must be 1 to 64 characters of letters, digits, '-', '_' or '.'",
                genesis.chain_id
            )));
        }
        let mut organisation_keys = BTreeMap::new();
        for organisation in &genesis.organisations {
            if !valid_name(&organisation.name) {
                return Err(GenesisError::Invalid(format!(
                    "organisation name {:?} must be 1 to 64 characters of letters, digits, '-', '_' or '.'",
                    organisation.name
                )));
            }
            let mut key = [0u8; 32];
            hex::decode_to_slice(&organisation.public_key, &mut key).map_err(|e| {
                GenesisError::Invalid(format!(
                    "organisation {:?}: public_key is not 64 hex digits: {e}",
                    organisation.name
                ))
            })?;
            if ed25519_zebra::VerificationKey::try_from(key).is_err() {
                return Err(GenesisError::Invalid(format!(
                    "organisation {:?}: public_key is not a valid Ed25519 point",
                    organisation.name
                )));
            }
            if organisation_keys.insert(organisation.name.clone(), key).is_some() {
                return Err(GenesisError::Invalid(format!(
                    "organisation {:?} is listed twice",
                    organisation.name
                )));
            }
        }
        let ca = &genesis.certification_authority;
        if !organisation_keys.contains_key(ca) {
            return Err(GenesisError::Invalid(format!(
                "certification_authority {ca:?} is not one of the organisations"
            )));
        }
        let mut policies = genesis.endorsement.clone().unwrap_or_else(|| EndorsementPolicies {
            register_identity: EndorsementPolicy::AllOf(vec![ca.clone()]),
            publish_asset: EndorsementPolicy::OwnerOrg,
            set_sharing_rules: EndorsementPolicy::OwnerOrg,
            revoke_identity: None,
            anchor_access_events: None,
            billing: None,
        });
        let _ = policies
            .revoke_identity
            .get_or_insert_with(|| EndorsementPolicy::AllOf(vec![ca.clone()]));
        let _ = policies.anchor_access_events.get_or_insert(EndorsementPolicy::Creator);
        let operator =
            if genesis.operator.is_empty() { ca.clone() } else { genesis.operator.clone() };
        if !organisation_keys.contains_key(&operator) {
            return Err(GenesisError::Invalid(format!(
                "operator {operator:?} is not one of the organisations"
            )));
        }
        let _ = policies
            .billing
            .get_or_insert_with(|| EndorsementPolicy::AllOf(vec![operator.clone()]));
        for (tx_type, policy) in [
            ("register_identity", &policies.register_identity),
            ("publish_asset", &policies.publish_asset),
            ("set_sharing_rules", &policies.set_sharing_rules),
            (
                "revoke_identity",
                policies.revoke_identity.as_ref().unwrap_or(&EndorsementPolicy::Creator),
            ),
            (
                "anchor_access_events",
                policies.anchor_access_events.as_ref().unwrap_or(&EndorsementPolicy::Creator),
            ),
            ("billing", policies.billing.as_ref().unwrap_or(&EndorsementPolicy::Creator)),
        ] {
            if let EndorsementPolicy::AllOf(names) | EndorsementPolicy::AnyOf(names) = policy {
                if names.is_empty() {
                    return Err(GenesisError::Invalid(format!(
                        "endorsement policy of {tx_type} lists no organisation"
                    )));
                }
                if let Some(unknown) =
                    names.iter().find(|name| !organisation_keys.contains_key(*name))
                {
                    return Err(GenesisError::Invalid(format!(
                        "endorsement policy of {tx_type} names unknown organisation {unknown:?}"
                    )));
                }
            }
        }
        let requires_ca = match &policies.register_identity {
            EndorsementPolicy::AllOf(names) => names.contains(ca),
            EndorsementPolicy::AnyOf(names) => names.len() == 1 && names[0] == *ca,
            EndorsementPolicy::Creator | EndorsementPolicy::OwnerOrg => false,
        };
        if !requires_ca {
            return Err(GenesisError::Invalid(format!(
                "endorsement policy of register_identity must require the certification authority {ca:?}"
            )));
        }
        let origin = if genesis.origin.is_empty() {
            format!("cairn.local/{}", genesis.chain_id)
        } else {
            genesis.origin.clone()
        };
        if origin.chars().any(|c| c.is_control()) || origin.trim() != origin {
            return Err(GenesisError::Invalid(format!(
                "origin {origin:?} must be one line without surrounding spaces"
            )));
        }
        Ok(Consortium {
            genesis,
            bytes: bytes.to_vec(),
            origin,
            organisation_keys,
            policies,
            operator,
        })
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.genesis.chain_id
    }

    /// The certification authority's organisation name.
    pub fn certification_authority(&self) -> &str {
        &self.genesis.certification_authority
    }

    /// The hub operator's organisation name.
    pub fn operator(&self) -> &str {
        &self.operator
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis(ca: &str, policy: Option<EndorsementPolicies>) -> Vec<u8> {
        let key = hex::encode(<[u8; 32]>::from(
            ed25519_zebra::SigningKey::from([7u8; 32]).verification_key(),
        ));
        Genesis {
            chain_id: "test".into(),
            origin: String::new(),
            organisations: vec![
                Organisation {
                    name: "ca".into(),
                    description: String::new(),
                    public_key: key.clone(),
                },
                Organisation { name: "dept".into(), description: String::new(), public_key: key },
            ],
            certification_authority: ca.into(),
            operator: String::new(),
            endorsement: policy,
        }
        .to_bytes()
    }

    #[test]
    fn defaults_and_origin() {
        let consortium = Consortium::from_bytes(&genesis("ca", None)).unwrap();
        assert_eq!(consortium.origin, "cairn.local/test");
        assert_eq!(
            consortium.policies.register_identity,
            EndorsementPolicy::AllOf(vec!["ca".into()])
        );
    }

    #[test]
    fn rejects_unknown_ca_and_policy_without_ca() {
        let err = Consortium::from_bytes(&genesis("nobody", None)).unwrap_err();
        assert!(err.to_string().contains("\"nobody\" is not one of the organisations"), "{err}");
        let policy = EndorsementPolicies {
            register_identity: EndorsementPolicy::Creator,
            publish_asset: EndorsementPolicy::OwnerOrg,
            set_sharing_rules: EndorsementPolicy::OwnerOrg,
            revoke_identity: None,
            anchor_access_events: None,
            billing: None,
        };
        let err = Consortium::from_bytes(&genesis("ca", Some(policy))).unwrap_err();
        assert!(err.to_string().contains("must require the certification authority"), "{err}");
        let err = Consortium::from_bytes(b"{").unwrap_err();
        assert!(matches!(err, GenesisError::Parse(_)));
    }
}
