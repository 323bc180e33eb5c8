//! The genesis configuration: the chain id, the organisations of the
//! consortium with their keys, the certification authority, the operator,
//! the holders' organisation, which organisations issue which certificate
//! types, and the authority rule of each transaction type
//! (see [`crate::authority`]).
//!
//! It is the first record of every ledger log, as JSON bytes, so that the log
//! alone is enough to rebuild the state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::authority::{self, Orgs, Rule, TxType};

/// The genesis format this chaincode understands. Format 1 (before
/// role-bound authority) is refused: its chains were built under rules that
/// let any member endorse, so they must be started anew.
pub const GENESIS_FORMAT: u32 = 2;

/// The holders' organisation when the genesis names none.
pub const DEFAULT_HOLDERS: &str = "holders";

/// Errors in a genesis configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
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

/// The genesis configuration of a chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The format, [`GENESIS_FORMAT`].
    #[serde(default)]
    pub format: u32,
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
    /// The organisation citizens (certificate holders, applicants) are
    /// registered in, with the role `public`; defaults to [`DEFAULT_HOLDERS`].
    /// It is not one of `organisations`: it has no key and endorses nothing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub holders: String,
    /// Certificate type (channel) → the organisations whose issuers may issue,
    /// renew and revoke certificates of that type. A type not listed cannot
    /// be issued.
    #[serde(default)]
    pub issuers: BTreeMap<String, Vec<String>>,
    /// Authority rules that narrow the defaults of [`authority::ceiling`];
    /// a type not listed gets its ceiling.
    #[serde(default)]
    pub authority: BTreeMap<TxType, Rule>,
    /// How many of the consortium's nodes (registered identities with the
    /// role `node`, not revoked) must cosign a checkpoint before clients
    /// treat it as final; 0 or absent means 1.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub quorum: u32,
    /// How many member organisations must endorse a consortium change
    /// (`change_consortium`) with their organisation keys; 0 or absent means
    /// a strict majority of the current members. Never below that majority
    /// and never above the number of organisations.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consortium_changes: u32,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// A member organisation as the consortium currently records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Human-readable description.
    pub description: String,
    /// The organisation's current Ed25519 public key: only this key speaks
    /// for the organisation.
    pub public_key: [u8; 32],
    /// The block that admitted it (0: the genesis).
    pub since_block: u64,
    /// The block from which `public_key` is its key (0: the genesis).
    pub key_since_block: u64,
}

/// The consortium: the genesis configuration, checked, with the changes
/// that valid `change_consortium` transactions made since (members, keys,
/// authority rules, quorum, change policy). The ledger holds the current one;
/// `genesis` and `bytes` never change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consortium {
    /// The configuration as given.
    pub genesis: Genesis,
    /// The exact bytes of the genesis record.
    pub bytes: Vec<u8>,
    /// The checkpoint origin.
    pub origin: String,
    /// The current member organisations, by name.
    pub organisations: BTreeMap<String, Member>,
    /// The effective authority rule of every transaction type, in the order
    /// of [`TxType::ALL`].
    pub rules: Vec<Rule>,
    /// The hub operator's organisation.
    pub operator: String,
    /// The holders' organisation.
    pub holders: String,
    /// The current quorum k as configured (0 means 1).
    pub quorum_k: u32,
    /// The current consortium-change policy as configured (0: majority).
    pub change_policy: u32,
}

/// A strict majority of `n` organisations.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

impl Consortium {
    /// How many node cosignatures make a checkpoint final (at least 1).
    pub fn quorum(&self) -> usize {
        usize::try_from(self.quorum_k.max(1)).unwrap_or(usize::MAX)
    }

    /// An organisation's current key, if it is a member.
    pub fn organisation_key(&self, name: &str) -> Option<&[u8; 32]> {
        self.organisations.get(name).map(|member| &member.public_key)
    }

    /// Whether `name` is a current member organisation.
    pub fn is_member(&self, name: &str) -> bool {
        self.organisations.contains_key(name)
    }

    /// How many member organisations must endorse a consortium change now:
    /// the configured number, never below a strict majority of the current
    /// members.
    pub fn change_endorsements(&self) -> usize {
        let configured = usize::try_from(self.change_policy).unwrap_or(usize::MAX);
        configured.max(majority(self.organisations.len()))
    }
}

/// Whether a chain or organisation name is 1 to 64 characters of letters, digits, `-`, `_` or `.`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

impl Genesis {
    /// A configuration of the current format with the default operator
    /// (the certification authority), holders, no certificate types and the
    /// default authority rules.
    pub fn new(
        chain_id: impl Into<String>,
        organisations: Vec<Organisation>,
        certification_authority: impl Into<String>,
    ) -> Genesis {
        Genesis {
            format: GENESIS_FORMAT,
            chain_id: chain_id.into(),
            organisations,
            certification_authority: certification_authority.into(),
            ..Genesis::default()
        }
    }

    /// The canonical JSON bytes written as the genesis record.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing a struct of strings and vectors cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

impl Consortium {
    /// Parses and checks genesis bytes (JSON).
    pub fn from_bytes(bytes: &[u8]) -> Result<Consortium, GenesisError> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| GenesisError::Parse(e.to_string()))?;
        let format = value.get("format").and_then(serde_json::Value::as_u64).unwrap_or(1);
        if format != u64::from(GENESIS_FORMAT) {
            return Err(GenesisError::Invalid(format!(
                "genesis format {format} is not supported (this node reads format {GENESIS_FORMAT}, with role-bound authority); \
                 a chain made before role-bound authority must be started anew: move its data directory aside and start a new chain"
            )));
        }
        let genesis: Genesis =
            serde_json::from_value(value).map_err(|e| GenesisError::Parse(e.to_string()))?;
        if !valid_name(&genesis.chain_id) {
            return Err(GenesisError::Invalid(format!(
                "chain_id {:?} must be 1 to 64 characters of letters, digits, '-', '_' or '.'",
                genesis.chain_id
            )));
        }
        let mut organisation_keys = BTreeMap::new();
        let mut organisations = BTreeMap::new();
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
            let _ = organisations.insert(
                organisation.name.clone(),
                Member {
                    description: organisation.description.clone(),
                    public_key: key,
                    since_block: 0,
                    key_since_block: 0,
                },
            );
        }
        let n_organisations = organisations.len();
        if genesis.consortium_changes != 0
            && !(majority(n_organisations)..=n_organisations)
                .contains(&usize::try_from(genesis.consortium_changes).unwrap_or(usize::MAX))
        {
            return Err(GenesisError::Invalid(format!(
                "consortium_changes {} must be 0 (a strict majority) or between a strict majority ({}) and the number of organisations ({n_organisations})",
                genesis.consortium_changes,
                majority(n_organisations)
            )));
        }
        let ca = &genesis.certification_authority;
        if !organisation_keys.contains_key(ca) {
            return Err(GenesisError::Invalid(format!(
                "certification_authority {ca:?} is not one of the organisations"
            )));
        }
        let operator =
            if genesis.operator.is_empty() { ca.clone() } else { genesis.operator.clone() };
        if !organisation_keys.contains_key(&operator) {
            return Err(GenesisError::Invalid(format!(
                "operator {operator:?} is not one of the organisations"
            )));
        }
        let holders = if genesis.holders.is_empty() {
            DEFAULT_HOLDERS.to_owned()
        } else {
            genesis.holders.clone()
        };
        if !valid_name(&holders) {
            return Err(GenesisError::Invalid(format!(
                "holders {holders:?} must be 1 to 64 characters of letters, digits, '-', '_' or '.'"
            )));
        }
        if organisation_keys.contains_key(&holders) {
            return Err(GenesisError::Invalid(format!(
                "holders {holders:?} is one of the organisations; citizens are not members of a department, so name an organisation of their own"
            )));
        }
        for (channel, organisations) in &genesis.issuers {
            if !crate::cert::valid_channel(channel) {
                return Err(GenesisError::Invalid(format!(
                    "issuers: certificate type {channel:?} must be 1 to 64 bytes of a-z 0-9 . _ -"
                )));
            }
            if organisations.is_empty() {
                return Err(GenesisError::Invalid(format!(
                    "issuers: certificate type {channel:?} lists no organisation"
                )));
            }
            if let Some(unknown) =
                organisations.iter().find(|o| !organisation_keys.contains_key(*o))
            {
                return Err(GenesisError::Invalid(format!(
                    "issuers: certificate type {channel:?} names {unknown:?}, which is not one of the organisations"
                )));
            }
        }
        let orgs = Orgs {
            certification_authority: ca,
            operator: &operator,
            holders: &holders,
            owner: None,
        };
        let mut rules = Vec::with_capacity(TxType::ALL.len());
        for tx_type in TxType::ALL {
            let rule = genesis
                .authority
                .get(&tx_type)
                .cloned()
                .unwrap_or_else(|| authority::ceiling(tx_type));
            for principal in rule.create.iter().chain(&rule.endorse) {
                if let authority::OrgRef::Named(name) = &principal.organisation
                    && !organisation_keys.contains_key(name)
                {
                    return Err(GenesisError::Invalid(format!(
                        "authority of {tx_type} names organisation {name:?}, which is not one of the organisations"
                    )));
                }
            }
            authority::check_rule(tx_type, &rule, &orgs)
                .map_err(|e| GenesisError::Invalid(format!("authority: {e}")))?;
            rules.push(rule);
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
        let quorum_k = genesis.quorum;
        let change_policy = genesis.consortium_changes;
        Ok(Consortium {
            genesis,
            bytes: bytes.to_vec(),
            origin,
            organisations,
            rules,
            operator,
            holders,
            quorum_k,
            change_policy,
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

    /// The holders' organisation name.
    pub fn holders(&self) -> &str {
        &self.holders
    }

    /// The organisations a rule is resolved against, with `owner`.
    pub fn orgs<'a>(&'a self, owner: Option<&'a str>) -> Orgs<'a> {
        Orgs {
            certification_authority: &self.genesis.certification_authority,
            operator: &self.operator,
            holders: &self.holders,
            owner,
        }
    }

    /// The effective rule of a transaction type.
    pub fn rule(&self, tx_type: TxType) -> &Rule {
        // `from_bytes` puts a rule for every type, in the order of `TxType::ALL`.
        &self.rules[tx_type as usize]
    }

    /// Replaces the rule of a transaction type (a checked consortium change).
    pub fn set_rule(&mut self, tx_type: TxType, rule: Rule) {
        self.rules[tx_type as usize] = rule;
    }

    /// The organisations allowed to issue certificates of a type.
    pub fn issuers_of(&self, channel: &str) -> &[String] {
        self.genesis.issuers.get(channel).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn genesis(ca: &str, authority: BTreeMap<TxType, Rule>) -> Vec<u8> {
        let key = hex::encode(<[u8; 32]>::from(
            ed25519_zebra::SigningKey::from([7u8; 32]).verification_key(),
        ));
        let organisations = ["ca", "dept"]
            .map(|name| Organisation {
                name: name.into(),
                description: String::new(),
                public_key: key.clone(),
            })
            .to_vec();
        Genesis { authority, ..Genesis::new("test", organisations, ca) }.to_bytes()
    }

    #[test]
    fn defaults_and_origin() {
        let consortium = Consortium::from_bytes(&genesis("ca", BTreeMap::new())).unwrap();
        assert_eq!(consortium.origin, "cairn.local/test");
        assert_eq!(consortium.holders(), DEFAULT_HOLDERS);
        assert_eq!(consortium.operator(), "ca");
        for tx_type in TxType::ALL {
            assert_eq!(consortium.rule(tx_type), &authority::ceiling(tx_type), "{tx_type}");
        }
    }

    #[test]
    fn rejects_unknown_ca_and_rules_beyond_the_ceiling() {
        let err = Consortium::from_bytes(&genesis("nobody", BTreeMap::new())).unwrap_err();
        assert!(err.to_string().contains("\"nobody\" is not one of the organisations"), "{err}");
        let rule = Rule { create: Vec::new(), endorse: Vec::new() };
        let err = Consortium::from_bytes(&genesis(
            "ca",
            BTreeMap::from([(TxType::RegisterIdentity, rule)]),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("must include role certification_authority"), "{err}");
        let rule = Rule {
            create: vec![authority::Principal {
                organisation: authority::OrgRef::AnyDepartment,
                role: crate::types::Role::Public,
            }],
            endorse: Vec::new(),
        };
        let err = Consortium::from_bytes(&genesis("ca", BTreeMap::from([(TxType::TopUp, rule)])))
            .unwrap_err();
        assert!(err.to_string().contains("exceeds what the type allows"), "{err}");
        let err = Consortium::from_bytes(b"{").unwrap_err();
        assert!(matches!(err, GenesisError::Parse(_)));
    }

    #[test]
    fn refuses_format_1_and_holders_inside_the_consortium() {
        let mut old: serde_json::Value =
            serde_json::from_slice(&genesis("ca", BTreeMap::new())).unwrap();
        let _ = old.as_object_mut().unwrap().remove("format");
        let err = Consortium::from_bytes(&serde_json::to_vec(&old).unwrap()).unwrap_err();
        assert!(err.to_string().contains("must be started anew"), "{err}");
        let mut inside: Genesis = serde_json::from_slice(&genesis("ca", BTreeMap::new())).unwrap();
        inside.holders = "dept".into();
        let err = Consortium::from_bytes(&inside.to_bytes()).unwrap_err();
        assert!(err.to_string().contains("citizens are not members of a department"), "{err}");
        let mut issuers: Genesis = serde_json::from_slice(&genesis("ca", BTreeMap::new())).unwrap();
        issuers.issuers.insert("licence".into(), vec!["nowhere".into()]);
        let err = Consortium::from_bytes(&issuers.to_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("\"nowhere\", which is not one of the organisations"),
            "{err}"
        );
    }

    #[test]
    fn the_change_policy_lies_between_a_majority_and_every_organisation() {
        let mut config: Genesis = serde_json::from_slice(&genesis("ca", BTreeMap::new())).unwrap();
        let consortium = Consortium::from_bytes(&config.to_bytes()).unwrap();
        assert_eq!(consortium.change_endorsements(), 2, "a strict majority of 2");
        for too_few_or_many in [1, 3] {
            config.consortium_changes = too_few_or_many;
            let err = Consortium::from_bytes(&config.to_bytes()).unwrap_err();
            assert!(err.to_string().contains("between a strict majority (2)"), "{err}");
        }
        config.consortium_changes = 2;
        assert_eq!(Consortium::from_bytes(&config.to_bytes()).unwrap().change_policy, 2);
    }
}
