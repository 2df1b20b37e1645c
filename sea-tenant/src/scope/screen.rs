//! What a scope refuses to run, and how multi-statement text is split.
//!
//! Safety does not rest on this screen matching PostgreSQL's grammar in full: every statement
//! it yields is sent through the extended protocol, where the server refuses a text holding
//! more than one command (`cannot insert multiple commands into a prepared statement`). A
//! piece split wrongly therefore fails; it never runs a hidden second statement. What a single
//! (server-checked) command is, is decided on its first keywords and, for `SET` and `RESET`,
//! on the name of the setting decoded as PostgreSQL decodes it (`lexer`): `SET "search_path"`,
//! `SET U&"search\005fpath"`, `reset/**/ROLE` are one setting each, whatever the spelling.
//!
//! Two rule sets: [`Screen::Scope`] for a [`TenantScope`](crate::TenantScope) and its
//! transactions, which reset the session when they end, and [`Screen::CallersTransaction`] for a
//! [`TransactionScope`](crate::TransactionScope), which cannot: there every statement that acts
//! on the session rather than the transaction is refused as well.

use super::error::ScopeError;
use super::lexer::{self, Token, skip_blank, skip_token};
use crate::TenantName;

/// Which rules a statement is screened by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Screen {
    /// A scope on a pool: it ends every transaction itself and resets the session after.
    Scope,
    /// A scope inside a caller's transaction: whatever it leaves on the session stays there
    /// after the caller's commit.
    CallersTransaction,
}

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
/// it off the tenant's path or role, or leave on the connection state that the scope cannot
/// take back (`screen` says which scope).
pub(crate) fn check(
    tenant: &TenantName,
    statement: &str,
    screen: Screen,
) -> Result<(), ScopeError> {
    let rule = match rule_for(statement, screen) {
        Ok(None) => return Ok(()),
        Ok(Some(rule)) => rule,
        Err(lexer::Undecodable) => UNDECODABLE,
    };
    Err(ScopeError::Refused {
        tenant: tenant.clone(),
        statement: excerpt(statement),
        rule,
    })
}

/// The rule `statement` breaks, if any.
fn rule_for(statement: &str, screen: Screen) -> Result<Option<&'static str>, lexer::Undecodable> {
    let mut tokens = lexer::tokens(statement);
    let Some(first) = tokens.next().transpose()? else {
        return Ok(None);
    };
    let Some(first) = first.keyword() else {
        return Ok(None);
    };
    let rule = match first {
        "begin" | "start" | "commit" | "end" | "rollback" | "abort" | "savepoint" | "release" => {
            Some(TRANSACTION_CONTROL)
        }
        "prepare" => match tokens.next().transpose()? {
            Some(Token::Word(w)) if w == "transaction" => Some(TRANSACTION_CONTROL),
            _ => Some(PREPARED),
        },
        "deallocate" => Some(PREPARED),
        "load" => Some(LOAD),
        "set" => set_rule(&mut tokens, screen)?,
        "reset" => reset_rule(&mut tokens, screen)?,
        "discard" | "listen" | "unlisten" | "do" if screen == Screen::CallersTransaction => {
            Some(SESSION_IN_CALLERS_TRANSACTION)
        }
        _ => None,
    };
    if rule.is_some() || screen == Screen::Scope {
        return Ok(rule);
    }
    // In a caller's transaction, also the functions that act on the session, under any name.
    for token in tokens {
        if let Some(name) = token?.name()
            && SESSION_FUNCTIONS.contains(&name.as_str())
        {
            return Ok(Some(SESSION_FUNCTION_IN_CALLERS_TRANSACTION));
        }
    }
    Ok(None)
}

/// What a setting's name (decoded) stands for: refused targets and keyword forms alike.
enum Target {
    /// `search_path` (also `SET SCHEMA`), `role`, `session_authorization`, or `RESET ALL`.
    Guarded,
    /// `SET TRANSACTION …` and `SET CONSTRAINTS …`: this transaction only, whatever the scope.
    ThisTransaction,
    /// Any other setting.
    Other,
}

/// `SET [SESSION | LOCAL] <target> …`
fn set_rule(
    tokens: &mut lexer::Tokens<'_>,
    screen: Screen,
) -> Result<Option<&'static str>, lexer::Undecodable> {
    let mut next = tokens.next().transpose()?;
    let mut local = false;
    if let Some(Token::Word(w)) = &next {
        if w == "local" {
            local = true;
            next = tokens.next().transpose()?;
        } else if w == "session" {
            // `SET SESSION AUTHORIZATION` and `SET SESSION CHARACTERISTICS` are targets of
            // their own; otherwise SESSION is the (default) scope of the setting.
            let after = tokens.next().transpose()?;
            match after.as_ref().and_then(Token::keyword) {
                Some("authorization") => return Ok(Some(GUARDED_SETTING)),
                Some("characteristics") => next = None,
                _ => next = after,
            }
        }
    }
    let target = match next {
        None => Target::Other,
        Some(token) => target(token, tokens)?,
    };
    Ok(match target {
        Target::Guarded => Some(GUARDED_SETTING),
        Target::ThisTransaction => None,
        Target::Other if screen == Screen::CallersTransaction && !local => {
            Some(SESSION_IN_CALLERS_TRANSACTION)
        }
        Target::Other => None,
    })
}

/// `RESET <target>`, `RESET ALL`.
fn reset_rule(
    tokens: &mut lexer::Tokens<'_>,
    screen: Screen,
) -> Result<Option<&'static str>, lexer::Undecodable> {
    let target = match tokens.next().transpose()? {
        Some(Token::Word(w)) if w == "all" => Target::Guarded,
        Some(token) => target(token, tokens)?,
        None => Target::Other,
    };
    Ok(match target {
        Target::Guarded => Some(GUARDED_SETTING),
        // A RESET is session-level: it outlives the caller's transaction.
        _ if screen == Screen::CallersTransaction => Some(SESSION_IN_CALLERS_TRANSACTION),
        _ => None,
    })
}

/// The setting named from `first` on: a keyword form (`SCHEMA`, `ROLE`, `SESSION
/// AUTHORIZATION`, `TRANSACTION`, `CONSTRAINTS`) or a name, dotted for custom settings.
fn target(first: Token, tokens: &mut lexer::Tokens<'_>) -> Result<Target, lexer::Undecodable> {
    if let Token::Word(w) = &first {
        match w.as_str() {
            "schema" | "role" => return Ok(Target::Guarded),
            "session" => {
                let authorization = matches!(
                    tokens.next().transpose()?.as_ref().and_then(Token::keyword),
                    Some("authorization")
                );
                return Ok(if authorization {
                    Target::Guarded
                } else {
                    Target::Other
                });
            }
            "transaction" | "constraints" => return Ok(Target::ThisTransaction),
            _ => {}
        }
    }
    let Some(name) = first.name() else {
        return Ok(Target::Other);
    };
    // `a.b` names a custom setting, never one of the guarded ones.
    if tokens.next_byte() == Some(b'.') {
        return Ok(Target::Other);
    }
    Ok(classify(&name))
}

fn classify(name: &str) -> Target {
    if GUARDED_SETTINGS.contains(&name) {
        Target::Guarded
    } else {
        Target::Other
    }
}

/// Settings the scope owns: its path and its role (and the ways to change the role).
const GUARDED_SETTINGS: &[&str] = &["search_path", "role", "session_authorization"];

/// Functions that change the session beyond the transaction: settings at session level
/// (`set_config(…, false)`) and session advisory locks.
const SESSION_FUNCTIONS: &[&str] = &[
    "set_config",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
];

const TRANSACTION_CONTROL: &str =
    "transaction control is the scope's own: use TenantScope::begin, commit and rollback";
const PREPARED: &str = "SQL-level prepared statements outlive the scope on a pooled connection \
     (and DEALLOCATE would drop the pool's own): use bound statements";
const LOAD: &str = "a library loaded into the session outlives the scope on a pooled connection";
const GUARDED_SETTING: &str = "the scope's search_path and role are the tenant's (RESET ALL \
     included): schema-qualify names, or use TenantScope::with_shared_schemas";
const UNDECODABLE: &str = "a name in it cannot be read the way PostgreSQL reads it";
const SESSION_IN_CALLERS_TRANSACTION: &str = "inside a caller's transaction a scope cannot undo \
     session state (SET without LOCAL, RESET, DISCARD, LISTEN, DO): use SET LOCAL, or a TenantScope \
     on the pool";
const SESSION_FUNCTION_IN_CALLERS_TRANSACTION: &str = "inside a caller's transaction a scope \
     cannot undo set_config or session advisory locks: use SET LOCAL and pg_advisory_xact_lock \
     on the caller's transaction";

/// Checks `sql` for a path that sends exactly one statement: several are refused with a clear
/// error rather than left to the server's.
pub(crate) fn check_single(
    tenant: &TenantName,
    sql: &str,
    screen: Screen,
) -> Result<(), ScopeError> {
    let statements = split(tenant, sql)?;
    if statements.len() > 1 {
        return Err(ScopeError::MultipleStatements {
            tenant: tenant.clone(),
            statement: excerpt(sql),
        });
    }
    statements.iter().try_for_each(|s| check(tenant, s, screen))
}

/// The statements of `sql` for `execute_unprepared`, each checked: [`split`] + [`check`].
pub(crate) fn statements<'s>(
    tenant: &TenantName,
    sql: &'s str,
    screen: Screen,
) -> Result<Vec<&'s str>, ScopeError> {
    let statements = split(tenant, sql)?;
    statements
        .iter()
        .try_for_each(|s| check(tenant, s, screen))?;
    Ok(statements)
}

/// A statement shortened for an error message.
pub(crate) fn excerpt(statement: &str) -> String {
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

    fn refused(sql: &str, screen: Screen) -> bool {
        matches!(
            check(&tenant(), sql, screen),
            Err(ScopeError::Refused { .. })
        )
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
            assert!(refused(sql, Screen::Scope), "{sql}");
        }
    }

    #[test]
    fn refuses_every_spelling_of_the_path_and_the_role() {
        for sql in [
            "SET search_path TO x",
            "set local search_path = x",
            "SET SESSION schema 'x'",
            "SET \"search_path\" TO tb",
            "SET \"Search_Path\" TO tb",
            "set/**/Search_Path to tb",
            "SET LOCAL U&\"search\\005fpath\" TO tb",
            "SET U&\"search!005fpath\" UESCAPE '!' TO tb",
            "RESET search_path",
            "RESET \"search_path\"",
            "reset all",
            "SET ROLE x",
            "SET LOCAL \"role\" TO x",
            "RESET ROLE",
            "SET SESSION AUTHORIZATION x",
            "SET LOCAL SESSION AUTHORIZATION x",
            "RESET SESSION AUTHORIZATION",
            "SET session_authorization = x",
            "SET U&\"\\0072ole\" TO x",
            // Names the server could not read either are refused rather than guessed.
            "SET U&\"search\\00\" TO x",
        ] {
            for screen in [Screen::Scope, Screen::CallersTransaction] {
                assert!(refused(sql, screen), "{sql} ({screen:?})");
            }
        }
        for sql in [
            "SELECT 1",
            "SET statement_timeout = 0",
            "SET \"search_path.x\" TO 1",
            "SET search_path.x TO 1",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            "RESET statement_timeout",
            "UPDATE committed SET x = 1",
            "SELECT set_config('search_path', 'x', true)",
            "DO $$ BEGIN PERFORM 1; END $$",
            "",
        ] {
            assert!(check(&tenant(), sql, Screen::Scope).is_ok(), "{sql}");
        }
    }

    #[test]
    fn in_a_callers_transaction_session_state_is_refused_too() {
        for sql in [
            "SET statement_timeout = 0",
            "SET SESSION work_mem = '8MB'",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
            "SET TIME ZONE 'UTC'",
            "RESET statement_timeout",
            "DISCARD TEMP",
            "LISTEN x",
            "UNLISTEN *",
            "DO $$ BEGIN PERFORM 1; END $$",
            "SELECT set_config('search_path', 'x', false)",
            "SELECT pg_catalog.\"set_config\"('work_mem', '8MB', false)",
            "SELECT U&\"set\\005fconfig\"('work_mem', '8MB', false)",
            "SELECT 1 WHERE pg_try_advisory_lock(1)",
            "select PG_ADVISORY_LOCK(1)",
        ] {
            assert!(refused(sql, Screen::CallersTransaction), "{sql}");
        }
        for sql in [
            "SET LOCAL statement_timeout = 0",
            "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "SET CONSTRAINTS ALL DEFERRED",
            "SELECT pg_advisory_xact_lock(1)",
            "SELECT 'set_config(1)', $$pg_advisory_lock$$",
            "INSERT INTO item (id) VALUES ($1) RETURNING id",
        ] {
            assert!(
                check(&tenant(), sql, Screen::CallersTransaction).is_ok(),
                "{sql}"
            );
        }
    }
}
