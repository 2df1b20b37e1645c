//! Turning a single read-only statement into text for the simple protocol, so that a scoped
//! `SELECT` costs one round trip: `set_config` and the query travel in one message and run in
//! one implicit transaction.
//!
//! The simple protocol takes no bind parameters, so the statement's values are written into
//! the SQL. That is done only where it is certainly sound: integers, booleans and strings (as
//! escape-string literals `E'…'` with `\` and `'` doubled, which reads the same whatever
//! `standard_conforming_strings` is), each cast to the type it would have been bound as; and
//! only into SQL whose structure is plain (`$n` placeholders, ordinary quoted strings and
//! identifiers). Anything else (other value types, NULLs, comments, dollar quoting, escape
//! strings, a placeholder out of range) returns `None`, and the caller takes the prepared path.

use sea_orm::Value;

/// `sql` with its `$n` placeholders replaced by `values`, or `None` when that is not certainly
/// sound.
pub(crate) fn inline(sql: &str, values: &[Value]) -> Option<String> {
    let literals: Vec<String> = values.iter().map(literal).collect::<Option<_>>()?;
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16 * literals.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                if quote == b'\'' && i > 0 && bytes[i - 1].eq_ignore_ascii_case(&b'e') {
                    return None;
                }
                // A doubled quote inside is part of the text; the first lone one ends it.
                let mut j = i + 1;
                loop {
                    match bytes.get(j) {
                        None => return None,
                        Some(b'\\') if quote == b'\'' => return None,
                        Some(&b) if b == quote => {
                            if bytes.get(j + 1) == Some(&quote) {
                                j += 2;
                            } else {
                                break;
                            }
                        }
                        Some(_) => j += 1,
                    }
                }
                i = j + 1;
            }
            // One message carries exactly one statement of the caller's: a second one would
            // run after whatever the first did to the transaction.
            b';' => return None,
            b'-' if bytes.get(i + 1) == Some(&b'-') => return None,
            b'/' if bytes.get(i + 1) == Some(&b'*') => return None,
            // `a$1` is an identifier, not a placeholder.
            b'$' if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') => {
                return None;
            }
            b'$' => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if digits == 0 {
                    return None;
                }
                let n: usize = sql[i + 1..i + 1 + digits].parse().ok()?;
                let literal = literals.get(n.checked_sub(1)?)?;
                out.push_str(&sql[copied..i]);
                out.push_str(literal);
                i += 1 + digits;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// A value as a typed SQL literal, for the types where that is certainly exact.
fn literal(value: &Value) -> Option<String> {
    Some(match value {
        Value::Bool(Some(b)) => format!("{b}::boolean"),
        Value::TinyInt(Some(n)) => format!("({n})::int2"),
        Value::SmallInt(Some(n)) => format!("({n})::int2"),
        Value::Int(Some(n)) => format!("({n})::int4"),
        Value::BigInt(Some(n)) => format!("({n})::int8"),
        Value::TinyUnsigned(Some(n)) => format!("({n})::int2"),
        Value::SmallUnsigned(Some(n)) => format!("({n})::int4"),
        Value::Unsigned(Some(n)) => format!("({n})::int8"),
        Value::BigUnsigned(Some(n)) => format!("({})::int8", i64::try_from(*n).ok()?),
        Value::String(Some(s)) => string_literal(s)?,
        Value::Char(Some(c)) => string_literal(&c.to_string())?,
        _ => return None,
    })
}

fn string_literal(s: &str) -> Option<String> {
    // PostgreSQL text cannot hold NUL; leave such a value to the server's own error.
    if s.contains('\0') {
        return None;
    }
    let mut out = String::with_capacity(s.len() + 10);
    out.push_str("E'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            c => out.push(c),
        }
    }
    out.push_str("'::text");
    Some(out)
}

/// Whether `sql` is a `SELECT` that takes no row locks, so a read-only transaction runs it
/// unchanged. Anything unsure counts as a write: that path is always correct, only slower.
pub(super) fn is_plain_select(sql: &str) -> bool {
    let bytes = sql.trim_start().as_bytes();
    let starts = bytes.len() > 6
        && bytes[..6].eq_ignore_ascii_case(b"select")
        && bytes[6].is_ascii_whitespace();
    starts
        && !contains_ignore_ascii_case(bytes, b" for ")
        && !contains_ignore_ascii_case(bytes, b"\nfor ")
}

fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn inlines_sea_orm_selects() {
        let sql =
            r#"SELECT "post"."id", "post"."title" FROM "post" WHERE "post"."id" = $1 LIMIT $2"#;
        assert_eq!(
            inline(sql, &[Value::Int(Some(7)), Value::BigUnsigned(Some(1))]).unwrap(),
            r#"SELECT "post"."id", "post"."title" FROM "post" WHERE "post"."id" = (7)::int4 LIMIT (1)::int8"#
        );
        assert_eq!(
            inline(
                "SELECT $1, $10",
                &(1..=10).map(|n| Value::Int(Some(n))).collect::<Vec<_>>()
            )
            .unwrap(),
            "SELECT (1)::int4, (10)::int4"
        );
    }

    #[test]
    fn escapes_strings() {
        assert_eq!(
            inline(
                "SELECT $1",
                &[Value::String(Some(r"it's \ '; DROP".into()))]
            )
            .unwrap(),
            r"SELECT E'it''s \\ ''; DROP'::text"
        );
    }

    #[test]
    fn leaves_quoted_text_alone() {
        assert_eq!(
            inline(
                r#"SELECT '$1', "a""$2" FROM t WHERE x = $1"#,
                &[Value::Int(Some(3))]
            )
            .unwrap(),
            r#"SELECT '$1', "a""$2" FROM t WHERE x = (3)::int4"#
        );
    }

    #[test]
    fn refuses_what_it_cannot_be_sure_of() {
        let one = [Value::Int(Some(1))];
        assert_eq!(inline("SELECT $$ $1 $$", &one), None);
        assert_eq!(inline("SELECT E'\\n' , $1", &one), None);
        assert_eq!(inline("SELECT 'a\\' , $1", &one), None);
        assert_eq!(inline("SELECT 1 -- $1", &one), None);
        assert_eq!(inline("SELECT /* $1 */ 1", &one), None);
        assert_eq!(inline("SELECT $2", &one), None);
        assert_eq!(inline("SELECT a$1 FROM t", &one), None);
        assert_eq!(inline("SELECT $0", &one), None);
        assert_eq!(inline("SELECT 'open", &[]), None);
        assert_eq!(inline("SELECT 1; COMMIT; DELETE FROM item", &[]), None);
        assert_eq!(inline("SELECT 1;", &[]), None);
        assert_eq!(
            inline("SELECT ';' , $1", &one),
            Some("SELECT ';' , (1)::int4".to_owned())
        );
        assert_eq!(inline("SELECT $1", &[Value::Int(None)]), None);
        assert_eq!(inline("SELECT $1", &[Value::Double(Some(1.5))]), None);
        assert_eq!(
            inline("SELECT $1", &[Value::BigUnsigned(Some(u64::MAX))]),
            None
        );
    }

    /// Reads an `E'…'` literal back the way PostgreSQL does; returns what follows it.
    fn parse_escape_string(sql: &str) -> Option<(String, &str)> {
        let body = sql.strip_prefix("E'")?;
        let mut out = String::new();
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?.1),
                '\'' if matches!(chars.peek(), Some((_, '\''))) => {
                    chars.next();
                    out.push('\'');
                }
                '\'' => return Some((out, &body[i + 1..])),
                c => out.push(c),
            }
        }
        None
    }

    proptest! {
        /// Any string value comes back whole from its literal, followed only by the cast.
        #[test]
        fn string_literals_cannot_escape(raw in any::<String>()) {
            prop_assume!(!raw.contains('\0'));
            let lit = string_literal(&raw).unwrap();
            let (read, rest) = parse_escape_string(&lit).expect("closed literal");
            prop_assert_eq!(read, raw);
            prop_assert_eq!(rest, "::text");
        }
    }

    #[test]
    fn classifies_plain_selects() {
        assert!(is_plain_select(
            r#"SELECT "post"."id" FROM "post" WHERE "post"."id" = $1"#
        ));
        assert!(is_plain_select("  select\n1"));
        assert!(!is_plain_select("SELECT * FROM post FOR UPDATE"));
        assert!(!is_plain_select("select * from post\nfor share"));
        assert!(!is_plain_select(
            "INSERT INTO post (title) VALUES ($1) RETURNING id"
        ));
        assert!(!is_plain_select(
            "WITH x AS (DELETE FROM post RETURNING id) SELECT id FROM x"
        ));
        assert!(!is_plain_select("SELECTED"));
        assert!(!is_plain_select("sel"));
    }
}
