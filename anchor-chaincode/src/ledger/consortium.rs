//! Consortium changes: `change_consortium` transactions that add or remove
//! an organisation, rotate an organisation's key, replace an authority rule,
//! set the quorum or set the change policy.
//!
//! A change is valid only when the current keys of the change policy's number
//! of member organisations endorse it (by default a strict majority of the
//! members at that height, never fewer; see
//! [`crate::genesis::Consortium::change_endorsements`]). An endorsement counts
//! for an organisation only when it names the organisation and is signed with
//! the key the consortium records for it at that height, so after a rotation
//! only the new key speaks. The creator is a registered identity allowed by
//! the `change_consortium` rule; creating grants nothing by itself.
//!
//! Besides the count:
//! - adding an organisation and rotating a key must also be endorsed by the
//!   new key itself (proof of possession), so nobody can give an organisation
//!   a key its holder does not control, or take over another party's key;
//! - the floor of the policy is a strict majority, which for two or more
//!   members always includes an organisation other than the one a removal
//!   or rotation affects, so no organisation changes its own standing alone;
//! - the certification authority's and the operator's organisations cannot be
//!   removed, nor one that an authority rule names; removing an organisation
//!   revokes every identity it has (they stay in history), and is refused
//!   when the nodes left would be fewer than the quorum, or the organisations
//!   left fewer than the change policy;
//! - the quorum k must lie between 1 and the registered, unrevoked `node`
//!   identities at that height, so finality never becomes impossible by a
//!   change (revoking a node with `revoke_identity` stays possible, as a
//!   compromised key must be revocable at once);
//! - the change policy is 0 (a strict majority) or lies between a strict
//!   majority and the number of members;
//! - an authority rule stays within [`authority::ceiling`]
//!   ([`authority::check_rule`]) and names only member organisations.
//!
//! State commitment keys: `org/<name>` → the organisation's current key
//! (written by the genesis too), `authority/<tx type>` → the rule (postcard),
//! `consortium/quorum` and `consortium/change-policy` → `u32` BE, and
//! `consortium-change/<u64 BE index>` → the [`ConsortiumChangeRecord`]
//! (postcard), so replicas that disagree about the consortium disagree about
//! the state root.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Effect, Failure, IdentityRecord, Ledger, Revocation, encode, failure};
use crate::authority::{self, OrgRef, Rule, TxType};
use crate::genesis::{Member, majority, valid_name};
use crate::tx::{ConsortiumChange, Transaction};
use crate::types::{Address, Role, TxId, ValidationCode};

/// Longest accepted organisation description.
pub const MAX_DESCRIPTION: usize = 256;
/// Longest accepted rule JSON.
pub const MAX_RULE_JSON: usize = 16 * 1024;

/// One valid consortium change, as kept in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsortiumChangeRecord {
    /// The block that applied it.
    pub block_number: u64,
    /// The transaction.
    pub tx_id: TxId,
    /// The change.
    pub change: ConsortiumChange,
    /// Who created it.
    pub creator: Address,
    /// The member organisations whose current keys endorsed it, by name.
    pub endorsed_by: Vec<String>,
}

/// A checked consortium change.
pub(super) struct ConsortiumEffect {
    change: Checked,
    record: ConsortiumChangeRecord,
}

enum Checked {
    Add { name: String, member: Member },
    Remove { name: String, revoke: Vec<Address> },
    Rotate { name: String, key: [u8; 32] },
    Rule { tx_type: TxType, rule: Rule },
    Quorum(u32),
    Policy(u32),
}

fn invalid(message: impl Into<String>) -> Failure {
    failure(ValidationCode::InvalidArgument, message)
}

fn valid_point(key: &[u8; 32]) -> bool {
    ed25519_zebra::VerificationKey::try_from(*key).is_ok()
}

impl Ledger {
    /// The history of consortium changes, oldest first.
    pub fn consortium_history(&self) -> &[ConsortiumChangeRecord] {
        &self.consortium_history
    }

    /// Registered, unrevoked identities with the role `node`.
    pub fn active_nodes(&self) -> impl Iterator<Item = &IdentityRecord> {
        self.identities.values().filter(|i| i.role == Role::Node && i.revoked.is_none())
    }

    fn member_named(&self, name: &str) -> Result<&Member, Failure> {
        self.consortium.organisations.get(name).ok_or_else(|| {
            failure(
                ValidationCode::UnknownOrganisation,
                format!("organisation {name:?} is not a member of the consortium"),
            )
        })
    }

    fn check_new_key(&self, name: &str, key: &[u8; 32]) -> Result<(), Failure> {
        if !valid_point(key) {
            return Err(invalid(format!(
                "the key given for organisation {name:?} is not a valid Ed25519 point"
            )));
        }
        if let Some((other, _)) =
            self.consortium.organisations.iter().find(|(_, member)| member.public_key == *key)
        {
            return Err(invalid(format!(
                "the key given for organisation {name:?} is already the key of organisation {other:?}"
            )));
        }
        Ok(())
    }

    /// Checks a `change_consortium` transaction against the current state.
    pub(super) fn check_change_consortium(
        &self,
        transaction: &Transaction,
        change: &ConsortiumChange,
    ) -> Result<Effect, Failure> {
        let creator = self.registered_creator(transaction)?;
        self.authorise(transaction, Some(creator), None)?;
        let consortium = &self.consortium;
        let n_members = consortium.organisations.len();
        // What the change does, and whose key must prove possession.
        let (checked, new_key) = match change {
            ConsortiumChange::AddOrganisation { name, description, public_key } => {
                if !valid_name(name) {
                    return Err(invalid(format!(
                        "organisation name {name:?} must be 1 to 64 characters of letters, digits, '-', '_' or '.'"
                    )));
                }
                if consortium.is_member(name) {
                    return Err(invalid(format!(
                        "organisation {name:?} is already a member of the consortium"
                    )));
                }
                if name == consortium.holders() {
                    return Err(invalid(format!(
                        "{name:?} is the holders' organisation; citizens are not members of a department"
                    )));
                }
                if description.len() > MAX_DESCRIPTION || description.chars().any(char::is_control)
                {
                    return Err(invalid(format!(
                        "description must be at most {MAX_DESCRIPTION} bytes without control characters"
                    )));
                }
                self.check_new_key(name, public_key)?;
                let member = Member {
                    description: description.clone(),
                    public_key: *public_key,
                    since_block: self.height(),
                    key_since_block: self.height(),
                };
                (Checked::Add { name: name.clone(), member }, Some((name, *public_key)))
            }
            ConsortiumChange::RemoveOrganisation { name } => {
                let _ = self.member_named(name)?;
                if name == consortium.certification_authority() {
                    return Err(failure(
                        ValidationCode::NotAuthorised,
                        format!(
                            "organisation {name:?} is the certification authority and cannot be removed"
                        ),
                    ));
                }
                if name == consortium.operator() {
                    return Err(failure(
                        ValidationCode::NotAuthorised,
                        format!("organisation {name:?} is the hub operator and cannot be removed"),
                    ));
                }
                if let Some(tx_type) = TxType::ALL.into_iter().find(|t| {
                    let rule = consortium.rule(*t);
                    rule.create
                        .iter()
                        .chain(&rule.endorse)
                        .any(|p| p.organisation == OrgRef::Named(name.clone()))
                }) {
                    return Err(invalid(format!(
                        "the authority rule of {tx_type} names organisation {name:?}; change that rule first"
                    )));
                }
                let policy = usize::try_from(consortium.change_policy).unwrap_or(usize::MAX);
                if policy > n_members - 1 {
                    return Err(invalid(format!(
                        "the change policy needs {policy} organisations, more than the {} left after removing {name:?}; lower it first",
                        n_members - 1
                    )));
                }
                let nodes_left = self.active_nodes().filter(|i| i.organisation != *name).count();
                if nodes_left < consortium.quorum() {
                    return Err(invalid(format!(
                        "removing {name:?} would leave {nodes_left} node(s), fewer than the quorum of {}; lower the quorum first",
                        consortium.quorum()
                    )));
                }
                let revoke = self
                    .identities
                    .values()
                    .filter(|i| i.organisation == *name && i.revoked.is_none())
                    .map(|i| i.address)
                    .collect();
                (Checked::Remove { name: name.clone(), revoke }, None)
            }
            ConsortiumChange::RotateOrganisationKey { name, new_public_key } => {
                let member = self.member_named(name)?;
                if member.public_key == *new_public_key {
                    return Err(invalid(format!(
                        "the new key of organisation {name:?} is its current key"
                    )));
                }
                self.check_new_key(name, new_public_key)?;
                (
                    Checked::Rotate { name: name.clone(), key: *new_public_key },
                    Some((name, *new_public_key)),
                )
            }
            ConsortiumChange::SetAuthorityRule { tx_type, rule_json } => {
                let parsed: TxType =
                    tx_type.parse().map_err(|e: crate::Error| invalid(e.to_string()))?;
                if rule_json.len() > MAX_RULE_JSON {
                    return Err(invalid(format!("the rule is longer than {MAX_RULE_JSON} bytes")));
                }
                let rule: Rule = serde_json::from_str(rule_json)
                    .map_err(|e| invalid(format!("the rule of {parsed} is not valid: {e}")))?;
                for principal in rule.create.iter().chain(&rule.endorse) {
                    if let OrgRef::Named(name) = &principal.organisation
                        && !consortium.is_member(name)
                    {
                        return Err(failure(
                            ValidationCode::UnknownOrganisation,
                            format!(
                                "the rule of {parsed} names organisation {name:?}, which is not a member of the consortium"
                            ),
                        ));
                    }
                }
                authority::check_rule(parsed, &rule, &consortium.orgs(None))
                    .map_err(|e| invalid(e.to_string()))?;
                (Checked::Rule { tx_type: parsed, rule }, None)
            }
            ConsortiumChange::SetQuorum { k } => {
                let nodes = self.active_nodes().count();
                if *k == 0 || usize::try_from(*k).unwrap_or(usize::MAX) > nodes {
                    return Err(invalid(format!(
                        "quorum {k} must be at least 1 and at most the {nodes} registered, unrevoked node identities"
                    )));
                }
                (Checked::Quorum(*k), None)
            }
            ConsortiumChange::SetChangePolicy { organisations } => {
                let wanted = usize::try_from(*organisations).unwrap_or(usize::MAX);
                if *organisations != 0 && !(majority(n_members)..=n_members).contains(&wanted) {
                    return Err(invalid(format!(
                        "the change policy {organisations} must be 0 (a strict majority) or between a strict majority ({}) and the number of organisations ({n_members})",
                        majority(n_members)
                    )));
                }
                (Checked::Policy(*organisations), None)
            }
        };
        // Whose current keys endorsed it.
        let mut endorsed_by = BTreeSet::new();
        let mut ignored = Vec::new();
        for endorsement in &transaction.endorsements {
            let name = &endorsement.organisation;
            if consortium.organisation_key(name) == Some(&endorsement.public_key) {
                let _ = endorsed_by.insert(name.clone());
            } else if new_key.is_some_and(|(n, key)| n == name && key == endorsement.public_key) {
                // The proof of possession, checked below; it is not a vote.
            } else if consortium.is_member(name) {
                ignored.push(format!("{name} (not its current key)"));
            } else {
                ignored.push(format!("{name} (not a member)"));
            }
        }
        let required = consortium.change_endorsements();
        let what = change_summary(change);
        if endorsed_by.len() < required {
            let has: Vec<&str> = endorsed_by.iter().map(String::as_str).collect();
            let ignored = if ignored.is_empty() {
                String::new()
            } else {
                format!("; ignored: {}", ignored.join(", "))
            };
            return Err(failure(
                ValidationCode::EndorsementPolicyFailure,
                format!(
                    "{what} needs endorsements of {required} of the {n_members} member organisations by their current keys, has {}{}{ignored}",
                    has.len(),
                    if has.is_empty() { String::new() } else { format!(": {}", has.join(", ")) },
                ),
            ));
        }
        if let Some((name, key)) = new_key
            && !transaction
                .endorsements
                .iter()
                .any(|e| e.organisation == *name && e.public_key == key)
        {
            return Err(failure(
                ValidationCode::EndorsementPolicyFailure,
                format!(
                    "{what} needs an endorsement by the new key {} itself, naming organisation {name:?} (proof of possession)",
                    hex::encode(key)
                ),
            ));
        }
        Ok(Effect::Consortium(ConsortiumEffect {
            change: checked,
            record: ConsortiumChangeRecord {
                block_number: self.height(),
                tx_id: transaction.id,
                change: change.clone(),
                creator: creator.address,
                endorsed_by: endorsed_by.into_iter().collect(),
            },
        }))
    }

    /// Applies a checked consortium change.
    pub(super) fn execute_consortium(&mut self, effect: ConsortiumEffect) -> serde_json::Value {
        let ConsortiumEffect { change, record } = effect;
        let mut revoked = Vec::new();
        match change {
            Checked::Add { name, member } => {
                self.commitment.put(&org_key(&name), &member.public_key);
                let _ = self.consortium.organisations.insert(name, member);
            }
            Checked::Remove { name, revoke } => {
                self.commitment.delete(&org_key(&name));
                let _ = self.consortium.organisations.remove(&name);
                for address in revoke {
                    if let Some(identity) = self.identities.get_mut(&address) {
                        identity.revoked = Some(Revocation {
                            reason: format!(
                                "organisation {name:?} was removed from the consortium"
                            ),
                            block_number: record.block_number,
                            tx_id: record.tx_id,
                        });
                        let key = [b"id/".as_slice(), &address.0].concat();
                        self.commitment.put(&key, &encode(&*identity));
                        revoked.push(address.to_string());
                    }
                }
            }
            Checked::Rotate { name, key } => {
                if let Some(member) = self.consortium.organisations.get_mut(&name) {
                    member.public_key = key;
                    member.key_since_block = record.block_number;
                }
                self.commitment.put(&org_key(&name), &key);
            }
            Checked::Rule { tx_type, rule } => {
                self.commitment.put(
                    &[b"authority/".as_slice(), tx_type.as_str().as_bytes()].concat(),
                    &encode(&rule),
                );
                self.consortium.set_rule(tx_type, rule);
            }
            Checked::Quorum(k) => {
                self.consortium.quorum_k = k;
                self.commitment.put(b"consortium/quorum", &k.to_be_bytes());
            }
            Checked::Policy(organisations) => {
                self.consortium.change_policy = organisations;
                self.commitment.put(b"consortium/change-policy", &organisations.to_be_bytes());
            }
        }
        let index = self.consortium_history.len() as u64;
        self.commitment.put(
            &[b"consortium-change/".as_slice(), &index.to_be_bytes()].concat(),
            &encode(&record),
        );
        let response = serde_json::json!({
            "change": record.change,
            "endorsed_by": record.endorsed_by,
            "revoked": revoked,
        });
        self.consortium_history.push(record);
        response
    }
}

fn org_key(name: &str) -> Vec<u8> {
    [b"org/".as_slice(), name.as_bytes()].concat()
}

/// A short description of a change, for messages.
pub fn change_summary(change: &ConsortiumChange) -> String {
    match change {
        ConsortiumChange::AddOrganisation { name, .. } => format!("adding organisation {name:?}"),
        ConsortiumChange::RemoveOrganisation { name } => format!("removing organisation {name:?}"),
        ConsortiumChange::RotateOrganisationKey { name, .. } => {
            format!("rotating the key of organisation {name:?}")
        }
        ConsortiumChange::SetAuthorityRule { tx_type, .. } => {
            format!("setting the authority rule of {tx_type}")
        }
        ConsortiumChange::SetQuorum { k } => format!("setting the quorum to {k}"),
        ConsortiumChange::SetChangePolicy { organisations } => {
            format!("setting the change policy to {organisations}")
        }
    }
}
