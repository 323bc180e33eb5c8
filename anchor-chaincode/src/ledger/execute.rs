//! Execution: a checked [`Effect`] applied to the state and the commitment.

use serde::Serialize;

use super::{AssetRecord, Effect, Ledger, encode};
use crate::types::Address;

#[derive(Serialize)]
struct AssetHeadCommit<'a> {
    owner_organisation: &'a str,
    owner_address: &'a Address,
    authorised: &'a [Address],
    latest_version: u64,
}
fn identity_key(address: &Address) -> Vec<u8> {
    [b"id/".as_slice(), &address.0].concat()
}

fn asset_key(asset_id: &str) -> Vec<u8> {
    [b"asset/".as_slice(), asset_id.as_bytes()].concat()
}

fn version_key(asset_id: &str, version: u64) -> Vec<u8> {
    [b"asset-version/".as_slice(), asset_id.as_bytes(), &[0], &version.to_be_bytes()].concat()
}
impl Ledger {
    /// Applies a checked effect; returns the response as JSON text.
    pub(super) fn execute(&mut self, effect: Effect) -> String {
        let response = match effect {
            Effect::Register(identity) => {
                self.commitment.put(&identity_key(&identity.address), &encode(&identity));
                let response = serde_json::json!({ "address": identity.address.to_string() });
                let _ = self.identities.insert(identity.address, identity);
                response
            }
            Effect::Revoke { address, revocation } => {
                let Some(identity) = self.identities.get_mut(&address) else {
                    // `check` found the identity; nothing removes identities.
                    return String::new();
                };
                let response = serde_json::json!({
                    "address": address.to_string(),
                    "revoked_in_block": revocation.block_number,
                });
                identity.revoked = Some(revocation);
                self.commitment.put(&identity_key(&address), &encode(&*identity));
                response
            }
            Effect::Anchor { creator, anchor } => {
                let key = [b"access-anchor/".as_slice(), &creator.0].concat();
                self.commitment.put(&key, &encode(&anchor));
                let response = serde_json::json!({
                    "tree_size": anchor.tree_size,
                    "root_hash": hex::encode(anchor.root_hash),
                });
                self.access_anchors.entry(creator).or_default().push(anchor);
                response
            }
            Effect::Publish { owner_organisation, owner_address, asset_id, version } => {
                let asset = self.assets.entry(asset_id.clone()).or_insert_with(|| AssetRecord {
                    asset_id: asset_id.clone(),
                    owner_organisation,
                    owner_address,
                    authorised: Vec::new(),
                    versions: Vec::new(),
                });
                let number = version.version;
                self.commitment.put(&version_key(&asset_id, number), &encode(&version));
                asset.versions.push(version);
                let head = AssetHeadCommit {
                    owner_organisation: &asset.owner_organisation,
                    owner_address: &asset.owner_address,
                    authorised: &asset.authorised,
                    latest_version: number,
                };
                self.commitment.put(&asset_key(&asset_id), &encode(&head));
                serde_json::json!({ "asset_id": asset_id, "version": number })
            }
            Effect::SetRules { asset_id, authorised } => {
                let Some(asset) = self.assets.get_mut(&asset_id) else {
                    // `check` found the asset; nothing else removes assets.
                    return String::new();
                };
                asset.authorised = authorised;
                let head = AssetHeadCommit {
                    owner_organisation: &asset.owner_organisation,
                    owner_address: &asset.owner_address,
                    authorised: &asset.authorised,
                    latest_version: asset.versions.last().map_or(0, |v| v.version),
                };
                self.commitment.put(&asset_key(&asset_id), &encode(&head));
                serde_json::json!({
                    "asset_id": asset_id,
                    "authorised": asset.authorised.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            }
            Effect::Cert(effect) => self.execute_cert(effect),
            Effect::Billing(effect) => self.execute_billing(effect),
            Effect::Consortium(effect) => self.execute_consortium(effect),
            Effect::Case(effect) => self.execute_case(effect),
        };
        response.to_string()
    }
}
