//! Every conversion between the domain's types and the protobuf messages of
//! `cairn.v1`, for the services' answers.

use access_control::request::VerifiedCaller;
use anchor_chaincode::ledger::{AssetRecord, IdentityRecord};
use anchor_chaincode::tx;
use anchor_chaincode::{BlockHeader, Receipt, ValidationCode};
use cairn_schemas::v1 as pb;

pub(crate) fn code_to_pb(code: ValidationCode) -> i32 {
    // The protobuf enum uses the same numbers.
    i32::from(code.number())
}

pub(crate) fn header_to_pb(header: &BlockHeader, hash: &[u8; 32]) -> pb::BlockHeader {
    pb::BlockHeader {
        number: header.number,
        previous_hash: header.previous_hash.to_vec(),
        tx_root: header.tx_root.to_vec(),
        log_root: header.log_root.to_vec(),
        log_size: header.log_size,
        state_root: header.state_root.to_vec(),
        log_offset: header.log_offset,
        tx_count: header.tx_count,
        hash: hash.to_vec(),
    }
}

pub(crate) fn identity_to_pb(identity: &IdentityRecord) -> pb::Identity {
    pb::Identity {
        address: identity.address.to_string(),
        name: identity.name.clone(),
        organisation: identity.organisation.clone(),
        role: tx::role_to_pb(identity.role).into(),
        signing_public_key: identity.signing_public_key.to_vec(),
        encryption_public_key: identity.encryption_public_key.to_vec(),
        registered_in_block: identity.registered_in_block,
        registered_by_tx: identity.registered_by_tx.to_string(),
        revoked_reason: identity.revoked.as_ref().map(|r| r.reason.clone()).unwrap_or_default(),
        revoked_in_block: identity.revoked.as_ref().map_or(0, |r| r.block_number),
        reviewer_role: identity.reviewer_role.clone(),
    }
}

/// Whether `caller` may see who is authorised to read `asset`: a member of
/// the owner organisation, a listed identity or an auditor.
pub(crate) fn may_see_sharing(caller: Option<&VerifiedCaller>, asset: &AssetRecord) -> bool {
    caller.is_some_and(|caller| {
        caller.organisation == asset.owner_organisation
            || caller.role == anchor_chaincode::Role::Auditor
            || asset.authorised.contains(&caller.address)
    })
}

/// What anonymous callers see of a hidden list.
pub(crate) const HIDDEN: &str = "hidden: sign the request as a member of the owner organisation, a listed identity or an auditor to see it";

pub(crate) fn asset_to_pb(asset: &AssetRecord, caller: Option<&VerifiedCaller>) -> pb::Asset {
    let visible = may_see_sharing(caller, asset);
    pb::Asset {
        asset_id: asset.asset_id.clone(),
        owner_organisation: asset.owner_organisation.clone(),
        owner_address: asset.owner_address.to_string(),
        authorised: if visible {
            asset.authorised.iter().map(ToString::to_string).collect()
        } else {
            Vec::new()
        },
        authorised_hidden: !visible,
        authorised_count: u32::try_from(asset.authorised.len()).unwrap_or(u32::MAX),
        versions: asset
            .versions
            .iter()
            .map(|v| pb::AssetVersion {
                version: v.version,
                data_type: tx::data_type_to_pb(v.data_type).into(),
                hash_algorithm: v.hash_algorithm.clone(),
                content_hash: v.content_hash.to_vec(),
                size_bytes: v.size_bytes,
                metadata: v.metadata.clone(),
                tx_id: v.tx_id.to_string(),
                block_number: v.block_number,
            })
            .collect(),
    }
}

pub(crate) fn checkpoint_to_pb(
    checkpoint: &anchor_chaincode::checkpoint::Checkpoint,
    note: String,
) -> pb::Checkpoint {
    pb::Checkpoint {
        signed_note: note,
        tree_size: checkpoint.size,
        root_hash: checkpoint.root.to_vec(),
        ..pb::Checkpoint::default()
    }
}

/// A checkpoint with the consortium's cosignatures; `quorum` is the genesis k.
pub(crate) fn quorum_checkpoint_to_pb(
    cosigned: crate::node::cosign::QuorumCheckpoint,
    quorum: usize,
) -> pb::Checkpoint {
    pb::Checkpoint {
        tree_size: cosigned.checkpoint.size,
        root_hash: cosigned.checkpoint.root.to_vec(),
        signed_note: cosigned.note,
        cosigners: cosigned.cosigners,
        quorum: u32::try_from(quorum).unwrap_or(u32::MAX),
        confirmed: cosigned.final_,
    }
}

/// The agreement as the API shows it; `tree_size` is the answering node's.
pub(crate) fn agreement_to_pb(
    agreement: crate::node::cosign::Agreement,
    tree_size: u64,
) -> pb::Agreement {
    let mut nodes: Vec<pb::NodeAgreement> = agreement
        .nodes
        .iter()
        .map(|(address, view)| pb::NodeAgreement {
            node_address: address.clone(),
            organisation: view.organisation.clone(),
            height: view.height,
            tree_size: view.size,
            log_root: view.log_root.to_vec(),
            state_root: view.state_root.to_vec(),
            last_cosigned_size: view.last_cosigned_size,
            lag: tree_size.saturating_sub(view.size),
            last_seen_unix: view.last_seen,
            diverged: view.diverged,
            member: agreement.members.contains_key(address),
            cosigner_key: agreement
                .members
                .get(address)
                .map(|(_, key)| key.clone())
                .unwrap_or_default(),
        })
        .collect();
    // Members not heard from yet are listed too.
    for (address, (organisation, key)) in &agreement.members {
        if !agreement.nodes.contains_key(address) {
            nodes.push(pb::NodeAgreement {
                node_address: address.clone(),
                organisation: organisation.clone(),
                lag: tree_size,
                member: true,
                cosigner_key: key.clone(),
                ..pb::NodeAgreement::default()
            });
        }
    }
    let quorum_size = agreement.quorum_size.unwrap_or(0);
    pb::Agreement {
        quorum: u32::try_from(agreement.quorum).unwrap_or(u32::MAX),
        members: u32::try_from(agreement.members.len()).unwrap_or(u32::MAX),
        quorum_size,
        tree_size,
        confirmed: agreement.divergences.is_empty() && quorum_size == tree_size,
        nodes,
        divergences: agreement
            .divergences
            .iter()
            .map(|d| pb::Divergence {
                height: d.height,
                tree_size: d.size,
                first_entry: d.first_entry,
                our_log_root: d.ours.0.to_vec(),
                our_state_root: d.ours.1.to_vec(),
                their_log_root: d.theirs.0.to_vec(),
                their_state_root: d.theirs.1.to_vec(),
                agreeing: d.agreeing.clone(),
                disagreeing: d.disagreeing.clone(),
                detected_unix: d.detected,
            })
            .collect(),
    }
}

pub(crate) fn submit_response(receipt: &Receipt) -> pb::SubmitResponse {
    pb::SubmitResponse {
        tx_id: receipt.tx_id.to_string(),
        block_number: receipt.block_number,
        validation_code: code_to_pb(receipt.code),
        message: receipt.message.clone(),
        response_json: receipt.response.clone(),
    }
}

/// The current consortium and the history of its changes.
pub(crate) fn consortium_to_pb(ledger: &anchor_chaincode::Ledger) -> pb::ConsortiumState {
    let consortium = ledger.consortium();
    let authority: serde_json::Map<String, serde_json::Value> =
        anchor_chaincode::authority::TxType::ALL
            .into_iter()
            .map(|tx_type| {
                (
                    tx_type.as_str().to_owned(),
                    serde_json::to_value(consortium.rule(tx_type)).unwrap_or_default(),
                )
            })
            .collect();
    pb::ConsortiumState {
        height: ledger.height(),
        organisations: consortium
            .organisations
            .iter()
            .map(|(name, member)| pb::ConsortiumOrganisation {
                name: name.clone(),
                description: member.description.clone(),
                public_key: member.public_key.to_vec(),
                since_block: member.since_block,
                key_since_block: member.key_since_block,
            })
            .collect(),
        certification_authority: consortium.certification_authority().to_owned(),
        operator: consortium.operator().to_owned(),
        holders: consortium.holders().to_owned(),
        quorum: u32::try_from(consortium.quorum()).unwrap_or(u32::MAX),
        nodes: u32::try_from(ledger.active_nodes().count()).unwrap_or(u32::MAX),
        change_policy: consortium.change_policy,
        change_endorsements: u32::try_from(consortium.change_endorsements()).unwrap_or(u32::MAX),
        authority_json: serde_json::Value::Object(authority).to_string(),
        history: ledger
            .consortium_history()
            .iter()
            .map(|record| pb::ConsortiumChangeRecord {
                block_number: record.block_number,
                tx_id: record.tx_id.to_string(),
                change_json: serde_json::to_string(&record.change).unwrap_or_default(),
                creator_address: record.creator.to_string(),
                endorsed_by: record.endorsed_by.clone(),
            })
            .collect(),
    }
}
