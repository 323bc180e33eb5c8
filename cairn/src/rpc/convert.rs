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
