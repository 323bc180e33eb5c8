//! Where things live in a department's object store, as the syncing
//! front-end writes them and the serving node reads them.
//!
//! - `index/<hex asset id>/v<version>.json`: a [`VersionIndex`], where the
//!   version's sealed object (under `objects/<hex asset id>/`) and chunk-hash list are (not secret);
//! - `grants/<hex asset id>/v<version>/<address>.json`: one recipient's
//!   wrapped data key for that version.
//!
//! Asset ids are hex-encoded so that any id is one safe path segment.

use std::path::Path;

use anchor_chaincode::Address;
use serde::{Deserialize, Serialize};

fn hex_id(asset_id: &str) -> String {
    hex::encode(asset_id.as_bytes())
}

/// Where a new version's sealed object and its chunk-hash list go: the
/// random `suffix` keeps a retried sync from colliding with a half-written
/// earlier attempt (objects are write-once).
pub fn object_paths(asset_id: &str, version: u64, suffix: &str) -> VersionIndex {
    let id = hex_id(asset_id);
    VersionIndex {
        object: format!("objects/{id}/v{version}-{suffix}.ods"),
        hashes_object: format!("objects/{id}/v{version}-{suffix}.hashes"),
    }
}

/// Where a version's object locations are listed for the serving node.
pub fn index_path(asset_id: &str, version: u64) -> String {
    format!("index/{}/v{version}.json", hex_id(asset_id))
}

/// The serving node's view of a version: where its objects are (not secret;
/// the data key is not here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionIndex {
    /// The sealed object's path.
    pub object: String,
    /// The path of the object's list of chunk hashes.
    pub hashes_object: String,
}

/// Where a version's data-key grant for `recipient` lives in the store.
pub fn grant_path(asset_id: &str, version: u64, recipient: &Address) -> String {
    format!("grants/{}/v{version}/{recipient}.json", hex_id(asset_id))
}

/// The default object store of a node's data directory, as a `file://` URL
/// with an absolute path (so the node and the command line agree), created
/// if missing.
pub fn default_store(data_dir: &Path) -> std::io::Result<String> {
    let dir = std::path::absolute(data_dir.join("ods").join("objects"))?;
    std::fs::create_dir_all(&dir)?;
    Ok(format!("file://{}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_one_segment_per_id_whatever_the_id() {
        assert_eq!(index_path("a/b", 3), "index/612f62/v3.json");
        let address: Address = Address::of_public_key(&[7; 32]);
        assert_eq!(grant_path("../x", 1, &address), format!("grants/2e2e2f78/v1/{address}.json"));
    }
}
