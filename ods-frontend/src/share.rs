//! A share: what a department shares and from where, kept in
//! `DATA_DIR/ods/shares/NAME.json` with mode 0600, because its source may
//! name a database password. Loading refuses a file other users can read.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where a share's rows come from.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShareSource {
    /// A PostgreSQL table or query.
    Postgres {
        /// The database URL (its password, if any, comes from the environment).
        url: String,
        /// The table's schema.
        #[serde(default)]
        schema: Option<String>,
        /// The table, or
        #[serde(default)]
        table: Option<String>,
        /// a query.
        #[serde(default)]
        query: Option<String>,
        /// The column whose largest value marks how far a sync got.
        #[serde(default)]
        watermark: Option<String>,
        /// `csv` or `ndjson`.
        format: String,
    },
    /// A file: `csv`, `ndjson` or `raw` (unstructured).
    File {
        /// The file.
        path: PathBuf,
        /// `csv`, `ndjson` or `raw`.
        format: String,
    },
}

/// A share definition.
#[derive(Clone, Serialize, Deserialize)]
pub struct Share {
    /// The share's name (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// The asset it publishes.
    pub asset_id: String,
    /// The asset's title.
    pub title: String,
    /// The asset's description.
    #[serde(default)]
    pub description: String,
    /// Where the rows come from.
    pub source: ShareSource,
    /// The publisher's key file.
    pub key: PathBuf,
    /// The identities the first version is shared with.
    #[serde(default)]
    pub authorised: Vec<String>,
    /// The object store URL.
    pub store: String,
    /// The chunk size of sealed objects.
    pub chunk_size: usize,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("name", &self.name)
            .field("asset_id", &self.asset_id)
            .finish_non_exhaustive()
    }
}

/// Where the share `name` of a data directory is kept.
pub fn share_path(data_dir: &Path, name: &str) -> Result<PathBuf> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(Error::Share {
            reason: format!("share name {name:?} must be letters, digits, '-', '_' or '.'"),
            source: None,
        });
    }
    Ok(data_dir.join("ods").join("shares").join(format!("{name}.json")))
}

impl Share {
    /// The share `name` of `data_dir`; refused if other users can read its file.
    pub fn load(data_dir: &Path, name: &str) -> Result<Share> {
        let path = share_path(data_dir, name)?;
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Share {
            reason: format!(
                "no share {name:?} ({} cannot be read; see `cairn share create`)",
                path.display()
            ),
            source: Some(Box::new(e)),
        })?;
        let mode = std::fs::metadata(&path)
            .map_err(|e| Error::Share {
                reason: format!("cannot read the mode of {}", path.display()),
                source: Some(Box::new(e)),
            })?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Share {
                reason: format!(
                    "share file {} is readable by other users (mode {mode:o}) and may hold a database password; run: chmod 600 {}",
                    path.display(),
                    path.display()
                ),
                source: None,
            });
        }
        serde_json::from_str(&text).map_err(|e| Error::Share {
            reason: format!("{} is not a valid share", path.display()),
            source: Some(Box::new(e)),
        })
    }

    /// Writes a new share file (mode 0600) under `data_dir`; an existing one is never overwritten.
    pub fn save(&self, data_dir: &Path) -> Result<PathBuf> {
        let path = share_path(data_dir, &self.name)?;
        let failed = |reason: String| {
            move |e: std::io::Error| Error::Share { reason, source: Some(Box::new(e)) }
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(failed(format!("cannot create {}", parent.display())))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(failed(format!(
                "cannot create {} (does the share exist already?)",
                path.display()
            )))?;
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Share {
            reason: format!("cannot encode share {:?}", self.name),
            source: Some(Box::new(e)),
        })?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(failed(format!("cannot write {}", path.display())))?;
        Ok(path)
    }

    /// `structured` rows, or an `unstructured` file.
    pub fn data_type(&self) -> &'static str {
        match &self.source {
            ShareSource::File { format, .. } if format == "raw" => "unstructured",
            _ => "structured",
        }
    }

    /// The format the rows are sealed in: `csv`, `ndjson` or `raw`.
    pub fn encoding(&self) -> &str {
        match &self.source {
            ShareSource::Postgres { format, .. } | ShareSource::File { format, .. } => format,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(name: &str) -> Share {
        Share {
            name: name.into(),
            asset_id: "a".into(),
            title: "t".into(),
            description: String::new(),
            source: ShareSource::File { path: "x.csv".into(), format: "csv".into() },
            key: "k".into(),
            authorised: Vec::new(),
            store: "memory://".into(),
            chunk_size: 1024,
        }
    }

    #[test]
    fn saved_shares_load_back_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = share("clinics").save(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(Share::load(dir.path(), "clinics").unwrap().asset_id, "a");
        let again = share("clinics").save(dir.path()).unwrap_err().to_string();
        assert!(again.contains("does the share exist already?"), "{again}");
    }

    #[test]
    fn a_readable_share_file_and_a_bad_name_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = share("open").save(dir.path()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = Share::load(dir.path(), "open").unwrap_err().to_string();
        assert!(error.contains("readable by other users (mode 644)"), "{error}");
        let error = share_path(dir.path(), "../x").unwrap_err().to_string();
        assert!(error.contains("must be letters, digits"), "{error}");
    }
}
