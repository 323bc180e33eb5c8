//! The largest checkpoint a node cosigned, kept in its data directory
//! (`DATA_DIR/cosigned`) so that a restarted node refuses a ledger log that
//! does not hold it.

use std::path::Path;

use anchor_chaincode::Ledger;
use anchor_chaincode::merkle::Hash;
use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::parse_hash;

/// The largest checkpoint a node cosigned, as kept in its data directory.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Cosigned {
    /// The log size.
    pub(super) size: u64,
    /// The block that ends there.
    pub(super) height: u64,
    /// The log root there (hex).
    pub(super) log_root: String,
}

impl Cosigned {
    pub(super) fn load(path: &Path) -> anyhow::Result<Option<Cosigned>> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{} does not hold a cosigned checkpoint", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Written to a temporary file, synced, then renamed over the old one.
    pub(super) fn store(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write as _;
        let temporary = path.with_extension("tmp");
        let mut file = std::fs::File::create(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        file.write_all(&serde_json::to_vec(self)?)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// Checks that `ledger` holds this checkpoint: at least `size` entries,
    /// with the same root at `size`. Answers the size and root.
    pub(super) fn check(&self, ledger: &Ledger, path: &Path) -> anyhow::Result<(u64, Hash)> {
        let root = parse_hash(&self.log_root)
            .with_context(|| format!("{} does not hold a cosigned checkpoint", path.display()))?;
        let held = ledger.head().header.log_size;
        if held < self.size {
            bail!(
                "the ledger log holds {held} entries, fewer than the {} this node cosigned (block {}, root {}): the log was cut short or replaced, and this node stops rather than serve a fork; the cosigned checkpoint is in {}",
                self.size,
                self.height,
                self.log_root,
                path.display()
            );
        }
        let ours = ledger.merkle_log().root_at(self.size)?;
        if ours != root {
            tracing::error!(
                size = self.size,
                height = self.height,
                cosigned = %self.log_root,
                now = %hex::encode(ours),
                "DIVERGENCE: the ledger log differs from what this node cosigned"
            );
            bail!(
                "the ledger log differs from what this node cosigned: at size {} (block {}) its root is {}, but this node cosigned {}; it stops rather than serve a fork (the cosigned checkpoint is in {})",
                self.size,
                self.height,
                hex::encode(ours),
                self.log_root,
                path.display()
            );
        }
        Ok((self.size, root))
    }
}
