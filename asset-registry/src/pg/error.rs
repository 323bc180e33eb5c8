//! How a PostgreSQL driver error is described in an [`Error`](crate::Error)
//! message: the server's words when it sent some, the chain of causes
//! otherwise, never a password.

/// Describes a driver error: its kind, plus the server's message, detail
/// and hint when the server reported it, or the chain of causes otherwise.
pub(crate) fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text =
            format!("{error}: {} {} (SQLSTATE {})", db.severity(), db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            text.push_str("; detail: ");
            text.push_str(detail);
        }
        if let Some(hint) = db.hint() {
            text.push_str("; hint: ");
            text.push_str(hint);
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
