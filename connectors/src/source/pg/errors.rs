//! How PostgreSQL failures become [`Error`]s: classified by SQLSTATE, with
//! the server, user and relation named and never a character of the URL.

use tokio_postgres::error::{DbError, ErrorPosition, SqlState};

use super::Server;
use super::sql::QUERY_PREFIX;
use crate::Error;

/// The reason a connection URL did not parse, without any of its characters.
///
/// The parser's messages name options, not values, except "unexpected
/// character … but got `c`", which could quote a character of a password.
pub(super) fn url_error_reason(err: &tokio_postgres::Error) -> String {
    let mut reason = error_chain(err);
    if let Some(at) = reason.find(" but got ") {
        reason.truncate(at);
    }
    reason
}

/// Classifies a failure to connect.
pub(super) fn connect_error(err: &tokio_postgres::Error, server: &Server) -> Error {
    let auth = |reason: String| Error::SourceAuthentication {
        server: server.name(),
        user: server.user.clone(),
        reason,
    };
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            auth(db.message().to_owned())
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            Error::DatabaseMissing { server: server.name(), database: server.database.clone() }
        } else {
            Error::SourceUnreachable { server: server.name(), reason: db_reason(db) }
        };
    }
    let reason = error_chain(err);
    if reason.contains("password missing") {
        auth("the server asks for a password and the URL has none".to_owned())
    } else if reason.starts_with("authentication error") {
        auth(reason)
    } else {
        Error::SourceUnreachable { server: server.name(), reason }
    }
}

/// Classifies a failure of a statement while reading `relation`.
pub(super) fn pg_error(
    err: &tokio_postgres::Error,
    server: &Server,
    relation: &str,
    action: &'static str,
) -> Error {
    match err.as_db_error() {
        Some(db) if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE => Error::PermissionDenied {
            user: server.user.clone(),
            relation: relation.to_owned(),
            reason: db.message().to_owned(),
        },
        Some(db) => Error::SourceQuery {
            action,
            relation: relation.to_owned(),
            server: server.name(),
            reason: db_reason(db),
        },
        None => Error::SourceQuery {
            action,
            relation: relation.to_owned(),
            server: server.name(),
            reason: error_chain(err),
        },
    }
}

/// Classifies a failure to prepare a share's query, pointing into the query
/// as the user wrote it.
pub(super) fn query_error(err: &tokio_postgres::Error, server: &Server, query: &str) -> Error {
    let Some(db) = err.as_db_error() else {
        return pg_error(err, server, "the share's query", "prepare");
    };
    if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE {
        return pg_error(err, server, "the share's query", "prepare");
    }
    let mut reason = db_reason(db);
    if let Some(ErrorPosition::Original(position)) = db.position() {
        // Positions count characters from 1 in the wrapped statement.
        let shift = QUERY_PREFIX.chars().count();
        let at = usize::try_from(*position).unwrap_or(0).saturating_sub(shift);
        let len = query.chars().count();
        if (1..=len).contains(&at) {
            let near: String = query.chars().skip(at - 1).take(30).collect();
            reason.push_str(&format!(", at character {at} of the query, near {near:?}"));
        } else if at > len {
            reason.push_str(", at the end of the query");
        }
    }
    Error::QueryInvalid { reason }
}

/// A server error as "message (SQLSTATE code); detail; hint".
pub(super) fn db_reason(db: &DbError) -> String {
    let mut reason = format!("{} (SQLSTATE {})", db.message(), db.code().code());
    for extra in [db.detail(), db.hint()].into_iter().flatten() {
        reason.push_str("; ");
        reason.push_str(extra);
    }
    reason
}

/// An error and its sources, joined by ": ".
pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(next) = source {
        text.push_str(": ");
        text.push_str(&next.to_string());
        source = next.source();
    }
    text
}
