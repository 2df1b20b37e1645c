//! What a scope refuses to run, and how multi-statement text is split.
//!
//! Safety does not rest on this lexer matching PostgreSQL's: every statement it yields is sent
//! through the extended protocol, where the server refuses a text holding more than one command
//! (`cannot insert multiple commands into a prepared statement`). A piece the lexer got wrong
//! therefore fails; it never runs a hidden second statement. Only the first keyword of a
//! (server-checked) single command decides whether it is refused.

use super::error::ScopeError;
use crate::TenantName;

/// The statements of `sql`, split at top-level semicolons; empty pieces (whitespace and
/// comments only) are dropped. An unterminated quote or comment is refused: the server would
/// read it differently from us.
pub(crate) fn split<'s>(tenant: &TenantName, sql: &'s str) -> Result<Vec<&'s str>, ScopeError> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        i = match bytes[i] {
            b';' => {
                push_statement(&mut statements, &sql[start..i]);
                start = i + 1;
                i + 1
            }
            _ => skip_token(bytes, i).ok_or_else(|| ScopeError::Unterminated {
                tenant: tenant.clone(),
                statement: excerpt(&sql[start..]),
            })?,
        };
    }
    push_statement(&mut statements, &sql[start..]);
    Ok(statements)
}

fn push_statement<'s>(statements: &mut Vec<&'s str>, piece: &'s str) {
    let blank = skip_blank(piece.as_bytes(), 0).is_some_and(|end| end >= piece.len());
    if !blank {
        statements.push(piece.trim());
    }
}

/// Refuses `statement` (one command) when it would end or split the scope's transaction, move
/// it off the tenant's path, or leave on the connection state that the scope cannot take back.
pub(crate) fn check(tenant: &TenantName, statement: &str) -> Result<(), ScopeError> {
    let words = words(statement);
    let word = |n: usize| words.get(n).map_or("", |w| w.as_str());
    let rule = match (word(0), word(1), word(2)) {
        (
            "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT" | "SAVEPOINT" | "RELEASE",
            _,
            _,
        )
        | ("PREPARE", "TRANSACTION", _) => TRANSACTION_CONTROL,
        ("PREPARE" | "DEALLOCATE", _, _) => PREPARED,
        ("LOAD", _, _) => LOAD,
        ("SET", "SESSION" | "LOCAL", "SEARCH_PATH" | "SCHEMA")
        | ("SET", "SEARCH_PATH" | "SCHEMA", _)
        | ("RESET", "SEARCH_PATH" | "ALL", _) => SEARCH_PATH,
        _ => return Ok(()),
    };
    Err(ScopeError::Refused {
        tenant: tenant.clone(),
        statement: excerpt(statement),
        rule,
    })
}

const TRANSACTION_CONTROL: &str =
    "transaction control is the scope's own: use TenantScope::begin, commit and rollback";
const PREPARED: &str = "SQL-level prepared statements outlive the scope on a pooled connection \
     (and DEALLOCATE would drop the pool's own): use bound statements";
const LOAD: &str = "a library loaded into the session outlives the scope on a pooled connection";
const SEARCH_PATH: &str = "the scope's search_path is the tenant's: schema-qualify names, or \
     use TenantScope::with_shared_schemas";

/// Checks `sql` for a path that sends exactly one statement: several are refused with a clear
/// error rather than left to the server's.
pub(crate) fn check_single(tenant: &TenantName, sql: &str) -> Result<(), ScopeError> {
    let statements = split(tenant, sql)?;
    if statements.len() > 1 {
        return Err(ScopeError::MultipleStatements {
            tenant: tenant.clone(),
            statement: excerpt(sql),
        });
    }
    statements.iter().try_for_each(|s| check(tenant, s))
}

/// The statements of `sql` for `execute_unprepared`, each checked: [`split`] + [`check`].
pub(crate) fn statements<'s>(
    tenant: &TenantName,
    sql: &'s str,
) -> Result<Vec<&'s str>, ScopeError> {
    let statements = split(tenant, sql)?;
    statements.iter().try_for_each(|s| check(tenant, s))?;
    Ok(statements)
}

/// The first three words of `statement` after blanks and comments, upper-cased (words are
/// ASCII letters and `_`).
fn words(statement: &str) -> Vec<String> {
    let bytes = statement.as_bytes();
    let mut words = Vec::with_capacity(3);
    let mut at = 0;
    while words.len() < 3 {
        let Some(start) = skip_blank(bytes, at) else {
            break;
        };
        let len = bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_alphabetic() || **b == b'_')
            .count();
        if len == 0 {
            break;
        }
        words.push(statement[start..start + len].to_ascii_uppercase());
        at = start + len;
    }
    words
}

/// The index after whitespace and comments from `i`; `None` inside an unterminated comment.
fn skip_blank(bytes: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match bytes.get(i) {
            Some(b) if b.is_ascii_whitespace() => i += 1,
            Some(b'-') if bytes.get(i + 1) == Some(&b'-') => i = line_end(bytes, i),
            Some(b'/') if bytes.get(i + 1) == Some(&b'*') => i = block_comment_end(bytes, i)?,
            _ => return Some(i),
        }
    }
}

/// The index after the token that starts at `i` (a quoted string or identifier, a dollar-quoted
/// string, a comment, or one byte); `None` if it does not end.
fn skip_token(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes[i] {
        b'\'' => {
            let escapes = i > 0
                && bytes[i - 1].eq_ignore_ascii_case(&b'e')
                && (i < 2 || !is_ident_byte(bytes[i - 2]));
            quoted_end(bytes, i, b'\'', escapes)
        }
        b'"' => quoted_end(bytes, i, b'"', false),
        b'-' if bytes.get(i + 1) == Some(&b'-') => Some(line_end(bytes, i)),
        b'/' if bytes.get(i + 1) == Some(&b'*') => block_comment_end(bytes, i),
        b'$' if i == 0 || !is_ident_byte(bytes[i - 1]) => match dollar_tag(bytes, i) {
            Some(tag) => {
                let body = i + tag.len();
                let close = find(&bytes[body..], tag)?;
                Some(body + close + tag.len())
            }
            None => Some(i + 1),
        },
        _ => Some(i + 1),
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// `$tag$` (or `$$`) starting at `i`, if that is a dollar quote rather than a `$1` parameter.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<&[u8]> {
    let rest = &bytes[i + 1..];
    let len = rest.iter().take_while(|b| is_ident_byte(**b)).count();
    if len > 0 && rest[0].is_ascii_digit() {
        return None;
    }
    (rest.get(len) == Some(&b'$')).then(|| &bytes[i..i + len + 2])
}

fn quoted_end(bytes: &[u8], open: usize, quote: u8, escapes: bool) -> Option<usize> {
    let mut j = open + 1;
    loop {
        match *bytes.get(j)? {
            b'\\' if escapes => j += 2,
            b if b == quote => {
                if bytes.get(j + 1) == Some(&quote) {
                    j += 2;
                } else {
                    return Some(j + 1);
                }
            }
            _ => j += 1,
        }
    }
}

fn line_end(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|b| *b == b'\n' || *b == b'\r')
        .map_or(bytes.len(), |p| i + p + 1)
}

/// Block comments nest in PostgreSQL.
fn block_comment_end(bytes: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j + 1 < bytes.len() {
        match (bytes[j], bytes[j + 1]) {
            (b'/', b'*') => {
                depth += 1;
                j += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => j += 1,
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A statement shortened for an error message.
fn excerpt(statement: &str) -> String {
    const MAX: usize = 80;
    let trimmed = statement.trim();
    match trimmed.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> TenantName {
        TenantName::new("t_1").expect("valid")
    }

    fn pieces(sql: &str) -> Vec<&str> {
        split(&tenant(), sql).expect("splits")
    }

    #[test]
    fn splits_at_top_level_semicolons_only() {
        assert_eq!(pieces("SELECT 1; SELECT 2;"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(
            pieces("SELECT ';'; SELECT \";\""),
            ["SELECT ';'", "SELECT \";\""]
        );
        assert_eq!(pieces("SELECT 'it''s; ok'"), ["SELECT 'it''s; ok'"]);
        assert_eq!(pieces("SELECT E'a\\'; b'"), ["SELECT E'a\\'; b'"]);
        assert_eq!(
            pieces("DO $x$ BEGIN; COMMIT; END $x$; SELECT $$;$$"),
            ["DO $x$ BEGIN; COMMIT; END $x$", "SELECT $$;$$"]
        );
        assert_eq!(pieces("SELECT $1; SELECT a$b"), ["SELECT $1", "SELECT a$b"]);
        assert_eq!(
            pieces("SELECT 1 /* ; /* ; */ ; */; -- ;\n"),
            ["SELECT 1 /* ; /* ; */ ; */"]
        );
        assert!(pieces(" ; -- nothing\n ; /* */").is_empty());
    }

    #[test]
    fn refuses_unterminated_text() {
        for sql in [
            "SELECT 'a",
            "SELECT \"a",
            "SELECT 1 /* x",
            "SELECT $q$ x",
            "SELECT E'\\'",
        ] {
            assert!(
                matches!(split(&tenant(), sql), Err(ScopeError::Unterminated { .. })),
                "{sql}"
            );
        }
    }

    #[test]
    fn refuses_transaction_control_behind_comments() {
        for sql in [
            "COMMIT",
            " /* x /* y */ */ commit",
            "-- c\nRollback",
            "end",
            "abort",
            "BEGIN",
            "start transaction",
            "savepoint a",
            "release a",
            "PREPARE TRANSACTION 'x'",
            "prepare p AS SELECT 1",
            "DEALLOCATE ALL",
            "LOAD 'x'",
        ] {
            assert!(
                matches!(check(&tenant(), sql), Err(ScopeError::Refused { .. })),
                "{sql}"
            );
        }
        for sql in [
            "SET search_path TO x",
            "set local search_path = x",
            "SET SESSION schema 'x'",
            "RESET search_path",
            "reset all",
        ] {
            assert!(
                matches!(check(&tenant(), sql), Err(ScopeError::Refused { .. })),
                "{sql}"
            );
        }
        for sql in [
            "SELECT 1",
            "SET statement_timeout = 0",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            "RESET statement_timeout",
            "UPDATE committed SET x = 1",
            "",
        ] {
            assert!(check(&tenant(), sql).is_ok(), "{sql}");
        }
    }
}
