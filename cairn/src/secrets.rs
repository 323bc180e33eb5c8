//! Secrets in the node's settings: PostgreSQL passwords and `cairn.toml`.
//!
//! A password never travels on the command line, where every user of the
//! machine can read it in the process list: a PostgreSQL URL given as a flag
//! may not hold one, and the password comes from `PGPASSWORD` or from a file
//! named by `CAIRN_POSTGRES_PASSWORD_FILE` that only its owner can read
//! (mode 0600). A configuration file that holds a secret (a password in a
//! PostgreSQL URL, a Kafka password or key option) is refused when other
//! users may read it.
//!
//! Only the binary reads the environment; the libraries receive a complete
//! URL (see STYLE.md, "Config and CLI").

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, bail};

/// The environment variable naming a file that holds the PostgreSQL password.
pub(crate) const PASSWORD_FILE_ENV: &str = "CAIRN_POSTGRES_PASSWORD_FILE";
/// The environment variable holding the PostgreSQL password (as libpq reads it).
pub(crate) const PASSWORD_ENV: &str = "PGPASSWORD";

/// Whether a PostgreSQL connection string (URL or `key=value` form) holds a password.
pub(crate) fn url_has_password(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if let Some((user_info, _)) = authority.rsplit_once('@')
            && user_info.contains(':')
        {
            return true;
        }
        let query = rest.split_once('?').map(|(_, q)| q.to_ascii_lowercase()).unwrap_or_default();
        return query.split('&').any(|pair| pair.starts_with("password="));
    }
    lower.split_whitespace().any(|pair| pair.trim_start().starts_with("password"))
}

/// Refuses a PostgreSQL URL with a password given as the command-line flag `flag`.
pub(crate) fn refuse_password_on_command_line(flag: &str, url: &str) -> anyhow::Result<()> {
    if url_has_password(url) {
        bail!(
            "{flag} holds a password, and other users of this machine can read the command line: \
             give the URL without it and put the password in {PASSWORD_ENV}, or in a file only you \
             can read (chmod 600) named by {PASSWORD_FILE_ENV}"
        );
    }
    Ok(())
}

/// Whether the flag `flag` was given on the command line rather than by its
/// environment variable `env` (clap gives both in the same field).
pub(crate) fn from_command_line(value: Option<&str>, env: &str) -> bool {
    value.is_some() && std::env::var(env).ok().as_deref() != value
}

/// Refuses a file that holds a secret when users other than its owner may read it.
pub(crate) fn check_private(path: &Path, what: &str) -> anyhow::Result<()> {
    let mode = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} holds {what} and other users can read it (mode {mode:03o}); run: chmod 600 {}",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

/// The PostgreSQL password from the environment: `CAIRN_POSTGRES_PASSWORD_FILE`
/// (a private file; its first line) or else `PGPASSWORD`.
fn password_from_environment() -> anyhow::Result<Option<String>> {
    let file = std::env::var_os(PASSWORD_FILE_ENV).map(std::path::PathBuf::from);
    password_from(file.as_deref(), std::env::var(PASSWORD_ENV).ok())
}

/// The password from a private file, else from `env_password`.
fn password_from(
    file: Option<&Path>,
    env_password: Option<String>,
) -> anyhow::Result<Option<String>> {
    if let Some(path) = file {
        check_private(path, "a PostgreSQL password")?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the password file {}", path.display()))?;
        let password = text.lines().next().unwrap_or_default().to_owned();
        if password.is_empty() {
            bail!("the password file {} is empty", path.display());
        }
        return Ok(Some(password));
    }
    Ok(env_password.filter(|p| !p.is_empty()))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Adds `password` to a connection string that has none.
fn add_password(url: &str, password: &str) -> String {
    if url.contains("://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}password={}", percent_encode(password))
    } else {
        let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
        format!("{url} password='{quoted}'")
    }
}

/// The URL to connect with: `url` itself when it holds a password (from a
/// private file), else `url` with the password from the environment, if any.
pub(crate) fn with_password(url: &str) -> anyhow::Result<String> {
    if url_has_password(url) {
        return Ok(url.to_owned());
    }
    Ok(match password_from_environment()? {
        Some(password) => add_password(url, &password),
        None => url.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_found_in_every_form() {
        for url in [
            "postgres://u:pw@db/x",
            "postgresql://u:p%40ss@db:5432/x?sslmode=require",
            "postgres://u@db/x?sslmode=require&password=pw",
            "host=db user=u password=pw",
        ] {
            assert!(url_has_password(url), "{url}");
            let error = refuse_password_on_command_line("--postgres", url).unwrap_err();
            assert!(error.to_string().contains("PGPASSWORD"), "{error}");
        }
        for url in ["postgres://u@db/x", "postgres://db:5432/x?sslmode=require", "host=db user=u"] {
            assert!(!url_has_password(url), "{url}");
            refuse_password_on_command_line("--postgres", url).unwrap();
        }
    }

    #[test]
    fn a_password_is_added_encoded() {
        assert_eq!(
            add_password("postgres://u@db/x", "p@ss w"),
            "postgres://u@db/x?password=p%40ss%20w"
        );
        assert_eq!(
            add_password("postgres://u@db/x?sslmode=require", "pw"),
            "postgres://u@db/x?sslmode=require&password=pw"
        );
        assert_eq!(add_password("host=db", "it's"), "host=db password='it\\'s'");
    }

    #[cfg(feature = "pg")]
    #[test]
    fn a_password_added_parses_as_a_postgres_config() {
        let config: tokio_postgres::Config =
            add_password("postgres://u@db/x", "p@ss w").parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"p@ss w"[..]));
    }

    #[test]
    fn the_password_file_wins_and_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "from-file\nignored\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env = || Some("from-env".to_owned());
        assert_eq!(password_from(Some(&path), env()).unwrap().as_deref(), Some("from-file"));
        assert_eq!(password_from(None, env()).unwrap().as_deref(), Some("from-env"));
        assert_eq!(password_from(None, None).unwrap(), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = password_from(Some(&path), env()).unwrap_err().to_string();
        assert!(error.contains("other users can read it"), "{error}");
    }

    #[test]
    fn a_readable_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "pw\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = check_private(&path, "a password").unwrap_err().to_string();
        assert!(error.contains("mode 644") && error.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        check_private(&path, "a password").unwrap();
    }
}
