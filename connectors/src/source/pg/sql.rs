//! The SQL text of a snapshot: identifier and literal quoting, and the
//! statements built from them.
//!
//! `COPY` takes no bind parameters, so the watermark of an incremental sync
//! has to be part of the statement text. It goes in as a string literal built
//! by [`quote_literal`], inside `CAST(… AS type)`, so the server parses it with
//! the column type's own input function; nothing in the value can end the
//! literal. Identifiers always go through [`quote_ident`].

/// The alias every snapshot gives its table or query in generated SQL.
pub(super) const ALIAS: &str = "cairn_src";

/// What comes before the share's query when it is wrapped as a subquery;
/// error positions inside the wrapped query are shifted back by its length.
pub(super) const QUERY_PREFIX: &str = "SELECT * FROM (\n";

/// Quotes an identifier for SQL: always in double quotes, with inner double
/// quotes doubled, so the name is taken exactly (case and all).
///
/// The caller rejects NUL characters, which no identifier can contain.
pub(super) fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Quotes a string as an SQL literal that is safe whatever the server's
/// `standard_conforming_strings` setting, or `None` if it holds a NUL
/// character (which no PostgreSQL text value can hold).
///
/// Single quotes are doubled. A value with a backslash becomes an escape
/// string (`E'…'`) with each backslash doubled, because only there is the
/// meaning of a backslash fixed; this is what PostgreSQL's own
/// `quote_literal` does. The client encoding is always UTF-8 (tokio-postgres
/// sets it), so no multi-byte character can hide a quote.
pub(super) fn quote_literal(value: &str) -> Option<String> {
    if value.contains('\0') {
        return None;
    }
    let escape = value.contains('\\');
    let mut out = String::with_capacity(value.len() + 3);
    if escape {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    Some(out)
}

/// Shows a name the way a person would write it in SQL: bare when it is a
/// plain lower-case identifier, quoted otherwise. For messages only.
pub(super) fn display_ident(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain { name.to_owned() } else { quote_ident(name) }
}

/// The `FROM` item of a share's query: the query wrapped as a subquery.
///
/// The newlines keep a trailing `--` comment in the query from swallowing
/// the closing parenthesis.
pub(super) fn query_from(query: &str) -> String {
    format!("(\n{query}\n) AS {ALIAS}")
}

/// The `FROM` item of a share's table.
pub(super) fn table_from(schema: &str, table: &str) -> String {
    format!("{}.{} AS {ALIAS}", quote_ident(schema), quote_ident(table))
}

/// The rows of one snapshot: where they come from and which of them.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// The `FROM` item, aliased [`ALIAS`].
    pub(super) from: String,
    /// The watermark column (quoted) and, for an incremental sync, the
    /// literal of the last watermark cast to the column's type.
    pub(super) watermark: Option<(String, Option<String>)>,
}

impl Plan {
    /// ` WHERE cairn_src."col" > CAST(… AS type)` for an incremental sync, or nothing.
    fn filter(&self) -> String {
        match &self.watermark {
            Some((column, Some(since))) => format!(" WHERE {ALIAS}.{column} > {since}"),
            _ => String::new(),
        }
    }

    /// ` ORDER BY cairn_src."col"` when the share has a watermark column, or nothing.
    fn order(&self) -> String {
        match &self.watermark {
            Some((column, _)) => format!(" ORDER BY {ALIAS}.{column}"),
            None => String::new(),
        }
    }

    /// `COPY` of the rows as CSV with a header line.
    pub(super) fn copy_csv(&self) -> String {
        format!(
            "COPY (SELECT * FROM {}{}{}) TO STDOUT (FORMAT csv, HEADER true)",
            self.from,
            self.filter(),
            self.order()
        )
    }

    /// `COPY` of the rows as one JSON object each, in a single CSV column.
    ///
    /// `cairn_src.*` is the whole row even if a column is named `cairn_src`.
    /// CSV quoting is undone by [`super::stream::NdjsonUnquoter`].
    pub(super) fn copy_ndjson(&self) -> String {
        format!(
            "COPY (SELECT row_to_json({ALIAS}.*) FROM {}{}{}) TO STDOUT (FORMAT csv)",
            self.from,
            self.filter(),
            self.order()
        )
    }

    /// The largest watermark among the rows, as text (`NULL` without rows).
    pub(super) fn max_watermark(&self) -> Option<String> {
        let (column, _) = self.watermark.as_ref()?;
        Some(format!("SELECT max({ALIAS}.{column})::text FROM {}{}", self.from, self.filter()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_quoted_with_inner_quotes_doubled() {
        assert_eq!(quote_ident("citizens"), r#""citizens""#);
        assert_eq!(quote_ident("Mixed Case"), r#""Mixed Case""#);
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_ident(r#"x"; DROP TABLE t; --"#), r#""x""; DROP TABLE t; --""#);
    }

    #[test]
    fn literals_double_quotes_and_escape_backslashes() {
        assert_eq!(quote_literal("2024-01-01").as_deref(), Some("'2024-01-01'"));
        assert_eq!(quote_literal("it's").as_deref(), Some("'it''s'"));
        assert_eq!(
            quote_literal("'); DROP TABLE x; --").as_deref(),
            Some("'''); DROP TABLE x; --'")
        );
        assert_eq!(quote_literal(r"a\'b").as_deref(), Some(r"E'a\\''b'"));
        assert_eq!(quote_literal(r"\").as_deref(), Some(r"E'\\'"));
        assert_eq!(quote_literal("").as_deref(), Some("''"));
        assert_eq!(quote_literal("ünï 🐢").as_deref(), Some("'ünï 🐢'"));
        assert_eq!(quote_literal("a\0b"), None);
    }

    #[test]
    fn display_names_are_bare_only_when_plain() {
        assert_eq!(display_ident("public"), "public");
        assert_eq!(display_ident("_x1$"), "_x1$");
        assert_eq!(display_ident("Citizens"), r#""Citizens""#);
        assert_eq!(display_ident("1abc"), r#""1abc""#);
        assert_eq!(display_ident(""), r#""""#);
    }

    #[test]
    fn statements_put_filter_before_order() {
        let plan = Plan {
            from: table_from("public", "t"),
            watermark: Some((quote_ident("id"), Some("CAST('5' AS bigint)".to_owned()))),
        };
        assert_eq!(
            plan.copy_csv(),
            r#"COPY (SELECT * FROM "public"."t" AS cairn_src WHERE cairn_src."id" > CAST('5' AS bigint) ORDER BY cairn_src."id") TO STDOUT (FORMAT csv, HEADER true)"#
        );
        assert_eq!(
            plan.max_watermark().as_deref(),
            Some(
                r#"SELECT max(cairn_src."id")::text FROM "public"."t" AS cairn_src WHERE cairn_src."id" > CAST('5' AS bigint)"#
            )
        );
        let full = Plan { from: query_from("SELECT 1 AS a -- note"), watermark: None };
        assert_eq!(
            full.copy_ndjson(),
            "COPY (SELECT row_to_json(cairn_src.*) FROM (\nSELECT 1 AS a -- note\n) AS cairn_src) TO STDOUT (FORMAT csv)"
        );
        assert_eq!(full.max_watermark(), None);
    }
}
