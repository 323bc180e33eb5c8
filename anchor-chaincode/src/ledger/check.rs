//! Validation: a transaction checked against the current state, without
//! changing it, gives the [`Effect`] to apply or the [`Failure`] to record.

use std::collections::BTreeSet;

use super::{
    AccessAnchor, AssetVersionRecord, Effect, Failure, IdentityRecord, Ledger, MAX_ASSET_ID_LEN,
    MAX_AUTHORISED, MAX_METADATA_BYTES, MAX_VERSION_STEP, Revocation, failure, valid_text,
};
use crate::authority::{self, Orgs, Principal, TxType};
use crate::merkle;
use crate::tx::{self, Transaction, TxBody};
use crate::types::{Address, Role, ValidationCode};

fn valid_asset_id(asset_id: &str) -> bool {
    !asset_id.is_empty()
        && asset_id.len() <= MAX_ASSET_ID_LEN
        && asset_id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}
impl Ledger {
    /// Whether an endorsement speaks for `principal`: a registered, unrevoked
    /// identity of the principal's organisation and role, or the genesis key
    /// of an organisation whose key acts in that role (see [`authority`]).
    fn endorses_as(
        &self,
        endorsement: &tx::Endorsement,
        principal: &Principal,
        orgs: &Orgs<'_>,
    ) -> bool {
        let organisation = endorsement.organisation.as_str();
        if !principal.organisation.matches(organisation, orgs) {
            return false;
        }
        if self.consortium.organisation_key(organisation) == Some(&endorsement.public_key) {
            return authority::genesis_key_acts_as(organisation, principal.role, orgs);
        }
        self.identities.get(&Address::of_public_key(&endorsement.public_key)).is_some_and(
            |identity| {
                identity.organisation == organisation
                    && identity.role == principal.role
                    && identity.revoked.is_none()
            },
        )
    }

    /// Checks the authority rule of the transaction's type: that the creator
    /// (absent for a registration) is one of the rule's creators and that every
    /// required endorser endorsed. `owner` is the organisation that
    /// [`authority::OrgRef::Owner`] stands for.
    pub(super) fn authorise(
        &self,
        transaction: &Transaction,
        creator: Option<&IdentityRecord>,
        owner: Option<&str>,
    ) -> Result<(), Failure> {
        let tx_type = TxType::of(&transaction.body);
        let rule = self.consortium.rule(tx_type);
        let orgs = self.consortium.orgs(owner);
        if let Some(creator) = creator
            && !rule.create.iter().any(|p| p.admits(&creator.organisation, creator.role, &orgs))
        {
            let allowed: Vec<String> = rule
                .create
                .iter()
                .map(|p| match (&p.organisation, owner) {
                    (authority::OrgRef::Owner, Some(owner)) => {
                        format!("role {} of the owning organisation {owner:?}", p.role)
                    }
                    _ => p.to_string(),
                })
                .collect();
            return Err(failure(
                ValidationCode::NotAuthorised,
                format!(
                    "{tx_type} may be created only by {}; creator {} has role {} in organisation {:?}",
                    allowed.join(" or "),
                    creator.address,
                    creator.role,
                    creator.organisation
                ),
            ));
        }
        for required in &rule.endorse {
            if !transaction.endorsements.iter().any(|e| self.endorses_as(e, required, &orgs)) {
                let given: Vec<String> = transaction
                    .endorsements
                    .iter()
                    .map(|e| {
                        let who = self
                            .identities
                            .get(&Address::of_public_key(&e.public_key))
                            .map_or_else(
                                || {
                                    if self.consortium.organisation_key(&e.organisation)
                                        == Some(&e.public_key)
                                    {
                                        "the organisation's genesis key".to_owned()
                                    } else {
                                        "an unknown key".to_owned()
                                    }
                                },
                                |identity| {
                                    format!(
                                        "{} with role {} in {:?}{}",
                                        identity.address,
                                        identity.role,
                                        identity.organisation,
                                        if identity.revoked.is_some() { ", revoked" } else { "" }
                                    )
                                },
                            );
                        format!("for {:?}: {who}", e.organisation)
                    })
                    .collect();
                return Err(failure(
                    ValidationCode::EndorsementPolicyFailure,
                    format!(
                        "{tx_type} requires endorsement by {required}; endorsements given: [{}]",
                        given.join("; ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A node or a reviewer joins an organisation only with that organisation's consent:
    /// an endorsement by its current organisation key, or by a registered,
    /// unrevoked identity of it whose role the `register_identity` rule names
    /// for the owning organisation.
    fn check_own_organisation_endorses(
        &self,
        transaction: &Transaction,
        organisation: &str,
        role: Role,
    ) -> Result<(), Failure> {
        let rule = self.consortium.rule(TxType::RegisterIdentity);
        let endorses = |endorsement: &tx::Endorsement| {
            endorsement.organisation == organisation
                && (self.consortium.organisation_key(organisation) == Some(&endorsement.public_key)
                    || self
                        .identities
                        .get(&Address::of_public_key(&endorsement.public_key))
                        .is_some_and(|identity| {
                            identity.organisation == organisation
                                && identity.revoked.is_none()
                                && rule.endorse.iter().any(|p| {
                                    p.organisation == authority::OrgRef::Owner
                                        && p.role == identity.role
                                })
                        }))
        };
        if transaction.endorsements.iter().any(endorses) {
            return Ok(());
        }
        Err(failure(
            ValidationCode::EndorsementPolicyFailure,
            format!(
                "register_identity of a {role} requires endorsement by its own organisation {organisation:?}: its current organisation key{}",
                if rule.endorse.iter().any(|p| p.organisation == authority::OrgRef::Owner) {
                    " or a member whose role the register_identity rule names for the owning organisation"
                } else {
                    ""
                }
            ),
        ))
    }

    pub(super) fn registered_creator(
        &self,
        transaction: &Transaction,
    ) -> Result<&IdentityRecord, Failure> {
        let address = transaction.creator_address();
        let identity = self.identities.get(&address).ok_or_else(|| {
            failure(
                ValidationCode::UnknownIdentity,
                format!("creator {address} is not a registered identity"),
            )
        })?;
        if let Some(revocation) = &identity.revoked {
            return Err(failure(
                ValidationCode::RevokedIdentity,
                format!(
                    "creator {address} was revoked in block {}: {}",
                    revocation.block_number, revocation.reason
                ),
            ));
        }
        Ok(identity)
    }

    /// Validates a transaction against the current state without changing it.
    pub(super) fn check(
        &self,
        transaction: &Transaction,
        sig_ok: bool,
        endorsement_ok: &[bool],
    ) -> Result<Effect, Failure> {
        if transaction.chain_id != self.consortium.chain_id() {
            return Err(failure(
                ValidationCode::WrongChain,
                format!(
                    "transaction is for chain {:?}, this is chain {:?}",
                    transaction.chain_id,
                    self.consortium.chain_id()
                ),
            ));
        }
        if !sig_ok {
            return Err(failure(
                ValidationCode::BadSignature,
                format!(
                    "creator signature does not verify for key {}",
                    hex::encode(transaction.creator)
                ),
            ));
        }
        if let Some(idx) = endorsement_ok.iter().position(|ok| !ok) {
            return Err(failure(
                ValidationCode::BadSignature,
                format!(
                    "endorsement {idx} by organisation {:?} does not verify",
                    transaction
                        .endorsements
                        .get(idx)
                        .map(|e| e.organisation.as_str())
                        .unwrap_or_default()
                ),
            ));
        }
        if self.tx_locations.contains_key(&transaction.id) {
            return Err(failure(
                ValidationCode::DuplicateTxId,
                format!("transaction {} is already in the log", transaction.id),
            ));
        }
        match &transaction.body {
            TxBody::RegisterIdentity(register) => {
                if register.signing_public_key != transaction.creator {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "signing_public_key must equal the creator's key: an identity registers itself",
                    ));
                }
                if !valid_text(&register.name, 128) {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "name must be 1 to 128 bytes without control characters",
                    ));
                }
                if !self.consortium.is_member(&register.organisation)
                    && register.organisation != self.consortium.holders()
                {
                    return Err(failure(
                        ValidationCode::UnknownOrganisation,
                        format!(
                            "organisation {:?} is neither a member of the consortium nor the holders' organisation {:?}",
                            register.organisation,
                            self.consortium.holders()
                        ),
                    ));
                }
                authority::check_registration(
                    &register.organisation,
                    register.role,
                    &self.consortium.orgs(None),
                )
                .map_err(|e| failure(ValidationCode::NotAuthorised, e))?;
                if register.encryption_public_key == [0; 32] {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "encryption public key is all zeros",
                    ));
                }
                let address = transaction.creator_address();
                if let Some(existing) = self.identities.get(&address) {
                    return Err(failure(
                        ValidationCode::AlreadyRegistered,
                        format!(
                            "identity {address} is already registered (as {:?})",
                            existing.name
                        ),
                    ));
                }
                self.authorise(transaction, None, Some(&register.organisation))?;
                if register.role == Role::Reviewer
                    && !crate::service::valid_reviewer_role(&register.reviewer_role)
                {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "a reviewer needs a reviewer role of 1 to 64 characters of a-z, 0-9, _ and -, not {:?}",
                            register.reviewer_role
                        ),
                    ));
                }
                if register.role != Role::Reviewer && !register.reviewer_role.is_empty() {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "only role reviewer takes a reviewer role; {} does not",
                            register.role
                        ),
                    ));
                }
                // A node or a reviewer acts for its organisation, so it joins
                // only with that organisation's consent.
                if matches!(register.role, Role::Node | Role::Reviewer) {
                    self.check_own_organisation_endorses(
                        transaction,
                        &register.organisation,
                        register.role,
                    )?;
                }
                Ok(Effect::Register(IdentityRecord {
                    address,
                    name: register.name.clone(),
                    organisation: register.organisation.clone(),
                    role: register.role,
                    signing_public_key: register.signing_public_key,
                    encryption_public_key: register.encryption_public_key,
                    reviewer_role: register.reviewer_role.clone(),
                    registered_in_block: self.height(),
                    registered_by_tx: transaction.id,
                    revoked: None,
                }))
            }
            TxBody::PublishAsset(publish) => {
                let creator = self.registered_creator(transaction)?;
                if !valid_asset_id(&publish.asset_id) {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "asset id {:?} must be 1 to {MAX_ASSET_ID_LEN} characters of letters, digits and . _ : / -",
                            publish.asset_id
                        ),
                    ));
                }
                if !valid_text(&publish.hash_algorithm, 64) {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "hash algorithm must be 1 to 64 bytes of text",
                    ));
                }
                if publish.metadata.len() > MAX_METADATA_BYTES {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "metadata is {} bytes, more than {MAX_METADATA_BYTES}",
                            publish.metadata.len()
                        ),
                    ));
                }
                if publish.version == 0 {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "version must be at least 1",
                    ));
                }
                let (owner_organisation, owner_address) = match self.assets.get(&publish.asset_id) {
                    Some(asset) => {
                        if asset.owner_organisation != creator.organisation {
                            return Err(failure(
                                ValidationCode::NotOwner,
                                format!(
                                    "asset {:?} is owned by organisation {:?}; creator {} belongs to {:?}",
                                    publish.asset_id,
                                    asset.owner_organisation,
                                    creator.address,
                                    creator.organisation
                                ),
                            ));
                        }
                        let latest = asset.versions.last().map_or(0, |v| v.version);
                        if publish.version.saturating_sub(latest) > MAX_VERSION_STEP {
                            return Err(failure(
                                ValidationCode::InvalidArgument,
                                format!(
                                    "version {} of asset {:?} jumps more than {MAX_VERSION_STEP} past its latest version {latest}",
                                    publish.version, publish.asset_id
                                ),
                            ));
                        }
                        if publish.version <= latest {
                            return Err(failure(
                                ValidationCode::VersionConflict,
                                format!(
                                    "version {} of asset {:?} does not increase its latest version {latest}",
                                    publish.version, publish.asset_id
                                ),
                            ));
                        }
                        (asset.owner_organisation.clone(), asset.owner_address)
                    }
                    None if publish.version > MAX_VERSION_STEP => {
                        return Err(failure(
                            ValidationCode::InvalidArgument,
                            format!(
                                "the first version of asset {:?} is {}, more than {MAX_VERSION_STEP}",
                                publish.asset_id, publish.version
                            ),
                        ));
                    }
                    None => (creator.organisation.clone(), creator.address),
                };
                self.authorise(transaction, Some(creator), Some(&owner_organisation))?;
                Ok(Effect::Publish {
                    owner_organisation,
                    owner_address,
                    asset_id: publish.asset_id.clone(),
                    version: AssetVersionRecord {
                        version: publish.version,
                        data_type: publish.data_type,
                        hash_algorithm: publish.hash_algorithm.clone(),
                        content_hash: publish.content_hash,
                        size_bytes: publish.size_bytes,
                        metadata: publish.metadata.clone(),
                        tx_id: transaction.id,
                        block_number: self.height(),
                    },
                })
            }
            TxBody::SetSharingRules(rules) => {
                let creator = self.registered_creator(transaction)?;
                let asset = self.assets.get(&rules.asset_id).ok_or_else(|| {
                    failure(
                        ValidationCode::UnknownAsset,
                        format!("asset {:?} does not exist", rules.asset_id),
                    )
                })?;
                if asset.owner_organisation != creator.organisation {
                    return Err(failure(
                        ValidationCode::NotOwner,
                        format!(
                            "only organisation {:?} may change the sharing rules of asset {:?}; creator {} belongs to {:?}",
                            asset.owner_organisation,
                            rules.asset_id,
                            creator.address,
                            creator.organisation
                        ),
                    ));
                }
                if rules.authorised.len() > MAX_AUTHORISED {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "{} authorised identities, more than {MAX_AUTHORISED}",
                            rules.authorised.len()
                        ),
                    ));
                }
                let mut authorised = BTreeSet::new();
                for (idx, text) in rules.authorised.iter().enumerate() {
                    let address: Address = text.parse().map_err(|e| {
                        failure(ValidationCode::InvalidArgument, format!("authorised[{idx}]: {e}"))
                    })?;
                    if !self.identities.contains_key(&address) {
                        return Err(failure(
                            ValidationCode::UnknownIdentity,
                            format!("authorised[{idx}] {address} is not a registered identity"),
                        ));
                    }
                    let _ = authorised.insert(address);
                }
                self.authorise(transaction, Some(creator), Some(&asset.owner_organisation))?;
                Ok(Effect::SetRules {
                    asset_id: rules.asset_id.clone(),
                    authorised: authorised.into_iter().collect(),
                })
            }
            TxBody::RevokeIdentity(revoke) => {
                let creator = self.registered_creator(transaction)?;
                let address: Address = revoke.address.parse().map_err(|e: crate::Error| {
                    failure(ValidationCode::InvalidArgument, e.to_string())
                })?;
                if !valid_text(&revoke.reason, 256) {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        "reason must be 1 to 256 bytes without control characters",
                    ));
                }
                let target = self.identities.get(&address).ok_or_else(|| {
                    failure(
                        ValidationCode::UnknownIdentity,
                        format!("identity {address} is not registered"),
                    )
                })?;
                if let Some(revocation) = &target.revoked {
                    return Err(failure(
                        ValidationCode::InvalidArgument,
                        format!(
                            "identity {address} was already revoked in block {}",
                            revocation.block_number
                        ),
                    ));
                }
                self.authorise(transaction, Some(creator), None)?;
                Ok(Effect::Revoke {
                    address,
                    revocation: Revocation {
                        reason: revoke.reason.clone(),
                        block_number: self.height(),
                        tx_id: transaction.id,
                    },
                })
            }
            TxBody::AnchorAccessEvents(anchor) => {
                let creator = self.registered_creator(transaction)?;
                self.authorise(transaction, Some(creator), None)?;
                let previous = self.access_anchors(&creator.address).last();
                let (old_size, old_root) =
                    previous.map_or((0, merkle::empty_root()), |p| (p.tree_size, p.root_hash));
                if anchor.tree_size <= old_size {
                    return Err(failure(
                        ValidationCode::InconsistentAnchor,
                        format!(
                            "anchored size {} does not grow the previous anchor's size {old_size}",
                            anchor.tree_size
                        ),
                    ));
                }
                merkle::verify_consistency(
                    old_size,
                    anchor.tree_size,
                    &old_root,
                    &anchor.root_hash,
                    &anchor.consistency_proof,
                )
                .map_err(|e| {
                    failure(
                        ValidationCode::InconsistentAnchor,
                        format!(
                            "the access-event log of size {} does not extend the anchored log of size {old_size}: {e}",
                            anchor.tree_size
                        ),
                    )
                })?;
                Ok(Effect::Anchor {
                    creator: creator.address,
                    anchor: AccessAnchor {
                        tree_size: anchor.tree_size,
                        root_hash: anchor.root_hash,
                        tx_id: transaction.id,
                        block_number: self.height(),
                    },
                })
            }
            TxBody::IssueCertificate(issue) => self.check_issue(transaction, issue, false),
            TxBody::RenewCertificate(issue) => self.check_issue(transaction, issue, true),
            TxBody::RevokeCertificate(revoke) => self.check_revoke_certificate(transaction, revoke),
            TxBody::AnchorChannels(anchor) => self.check_anchor_channels(transaction, anchor),
            TxBody::OpenAccount(open) => self.check_open_account(transaction, open),
            TxBody::TopUp(top_up) => self.check_top_up(transaction, top_up),
            TxBody::ChangePlan(change) => self.check_change_plan(transaction, change),
            TxBody::ChangeConsortium(change) => self.check_change_consortium(transaction, change),
            TxBody::DefineService(define) => self.check_define_service(transaction, define),
            TxBody::CaseAction(action) => self.check_case_action(transaction, action),
        }
    }
}
