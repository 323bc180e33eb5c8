//! The witness's records on disk: one JSON file of origin → last cosigned
//! size and root, replaced atomically (temporary file, fsync, rename, fsync
//! of the directory) so that a crash leaves the old or the new records.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::protocol::Records;

/// The records file in a state directory.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
}

const FILE: &str = "witness-state.json";
const TEMPORARY: &str = "witness-state.json.tmp";

impl Store {
    /// The store in `dir`, created if missing.
    pub(crate) fn open(dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Store { dir: dir.to_path_buf() })
    }

    /// The records, empty if the witness never cosigned.
    pub(crate) fn load(&self) -> anyhow::Result<Records> {
        let path = self.dir.join(FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .with_context(|| format!("{} is damaged; refusing to start", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Records::new()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Replaces the records, durably, before returning.
    pub(crate) fn save(&self, records: &Records) -> anyhow::Result<()> {
        let temporary = self.dir.join(TEMPORARY);
        let path = self.dir.join(FILE);
        let mut text = serde_json::to_string_pretty(records)?;
        text.push('\n');
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .with_context(|| format!("cannot sync {}", self.dir.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::protocol::LogRecord;
    use super::*;

    #[test]
    fn records_survive_a_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        assert!(store.load().expect("empty").is_empty());
        let mut records = Records::new();
        let _ = records.insert("a/b".into(), LogRecord { size: 3, root: "00".repeat(32) });
        store.save(&records).expect("save");
        assert_eq!(Store::open(dir.path()).expect("open").load().expect("load"), records);
        std::fs::write(dir.path().join(FILE), "{").expect("damage");
        assert!(store.load().is_err());
    }
}
