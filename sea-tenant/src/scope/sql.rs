//! The statements a scope sends around the caller's: begin with the tenant's path, end, and
//! leave the connection as it found it.

use std::hash::{Hash, Hasher};

use sea_orm::TransactionOptions;

use crate::{TenantName, tenant_sql};

/// The role strict mode (as currently set) gives `tenant`'s scopes.
pub(crate) fn current_role(tenant: &TenantName) -> Option<String> {
    crate::strict::current().map(|strict| strict.tenant_role(tenant))
}

/// Undoes what a committed transaction can leave on a session, whatever SQL ran in it:
/// `SET` of any setting (also `SET ROLE`, `SET SESSION AUTHORIZATION`, session
/// characteristics), `WITH HOLD` cursors, `LISTEN`, temporary tables, sequence state and
/// session advisory locks. `PREPARE` and `LOAD` are refused instead (see `screen`): the only
/// undo for them would also drop the pool's own prepared statements.
///
/// `RESET ALL` goes back to the session's defaults: server and role settings and the
/// connection's startup options stay, a `SET` sent after connecting does not.
const RESET_AFTER_COMMIT: &str = "SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; RESET ALL; \
     CLOSE ALL; UNLISTEN *; DISCARD TEMP; DISCARD SEQUENCES; SELECT pg_advisory_unlock_all()";

/// What a rolled-back transaction can leave: settings, cursors, `LISTEN` and temporary tables
/// go with the rollback; sequence state and session advisory locks do not.
const RESET_AFTER_ROLLBACK: &str = "DISCARD SEQUENCES; SELECT pg_advisory_unlock_all()";

/// The scope's fixed statements, built once per scope (the tenant name is validated, and
/// quoted again anyway).
#[derive(Debug)]
pub(crate) struct ScopeSql {
    pub(crate) tenant: TenantName,
    /// The tenant's schema and the shared ones, quoted: what the caller's names resolve in.
    pub(crate) search_path: String,
    /// Strict mode's tenant role, which every statement runs as (see `crate::strict`).
    pub(crate) role: Option<String>,
    /// The shared schemas after the tenant's on the path, as given.
    shared: Vec<String>,
    /// Sets `search_path` for the transaction (see `tenant_sql::set_local_search_path`) and,
    /// in strict mode, the tenant's role: one or two commands, sent after `BEGIN`.
    set_path: String,
    /// Appended to statements prepared under a name, so that each search path has statements
    /// of its own: a plan prepared for one tenant never meets another tenant's tables.
    statement_tag: String,
}

impl ScopeSql {
    /// The statements of `tenant`'s scope with `shared` schemas after its own on the path,
    /// running as `role` (strict mode's tenant role) when there is one.
    pub(crate) fn new(tenant: &TenantName, shared: &[String], role: Option<String>) -> ScopeSql {
        let search_path = tenant_sql::scope_search_path(tenant, shared);
        let mut set_path = tenant_sql::set_local_search_path(&search_path);
        if let Some(role) = &role {
            set_path.push_str("; ");
            set_path.push_str(&crate::tenant_sql::role::set_local_role(role));
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        search_path.hash(&mut hasher);
        let statement_tag = format!("\n/* sea-tenant {:016x} */", hasher.finish());
        ScopeSql {
            tenant: tenant.clone(),
            search_path,
            role,
            shared: shared.to_vec(),
            set_path,
            statement_tag,
        }
    }

    /// How many commands complete before a caller's statement in [`begin`](Self::begin) and
    /// [`one_message_select`](Self::one_message_select): `BEGIN`, the path, the role.
    pub(crate) fn commands_before_statement(&self) -> usize {
        if self.role.is_some() { 3 } else { 2 }
    }

    /// The same statements for another role (or none).
    pub(crate) fn with_role(&self, role: Option<String>) -> ScopeSql {
        let shared = self.shared.clone();
        ScopeSql::new(&self.tenant, &shared, role)
    }

    /// `BEGIN [options]; <set path>`: one simple-protocol message.
    pub(crate) fn begin(&self, options: TransactionOptions) -> String {
        let mut begin = String::from("BEGIN");
        if let Some(level) = options.isolation_level {
            begin.push_str(" ISOLATION LEVEL ");
            begin.push_str(&level.to_string());
        }
        if let Some(mode) = options.access_mode {
            begin.push(' ');
            begin.push_str(&mode.to_string());
        }
        format!("{begin}; {}", self.set_path)
    }

    /// A read-only `select` (one statement, values written in) in a read-only transaction of
    /// its own, begun, rolled back and reset in the same message: one round trip, and the
    /// server plans nothing but the caller's statement and the advisory-lock release. Its rows
    /// are the ones after the second command completion (see `conn::query_once`).
    pub(crate) fn one_message_select(&self, select: &str) -> String {
        format!(
            "BEGIN READ ONLY; {};\n{select}\n; {}",
            self.set_path,
            self.rollback()
        )
    }

    /// The reset of the session after `COMMIT`.
    pub(crate) fn reset_after_commit(&self) -> &'static str {
        RESET_AFTER_COMMIT
    }

    /// `ROLLBACK` and the reset of what a rollback leaves.
    pub(crate) fn rollback(&self) -> String {
        format!("ROLLBACK; {RESET_AFTER_ROLLBACK}")
    }

    /// After a final message failed part-way: whatever state the transaction is in, end it
    /// and reset everything.
    pub(crate) fn recover(&self) -> String {
        format!("ROLLBACK; {RESET_AFTER_COMMIT}")
    }

    /// `sql` as the text of a named prepared statement for this search path.
    pub(crate) fn tagged(&self, sql: &str) -> String {
        let mut text = String::with_capacity(sql.len() + self.statement_tag.len());
        text.push_str(sql);
        text.push_str(&self.statement_tag);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{AccessMode, IsolationLevel};

    #[test]
    fn search_path_and_begin_are_quoted() {
        let tenant = TenantName::new("org_7").expect("valid");
        let sql = ScopeSql::new(&tenant, &["sh\"ared".to_owned(), "it's".to_owned()], None);
        assert_eq!(sql.search_path, r#""org_7", "sh""ared", "it's""#);
        assert_eq!(
            sql.set_path,
            r#"SET LOCAL search_path TO "org_7", "sh""ared", "it's", pg_temp"#
        );
        let begin = sql.begin(TransactionOptions {
            isolation_level: Some(IsolationLevel::Serializable),
            access_mode: Some(AccessMode::ReadOnly),
            sqlite_transaction_mode: None,
        });
        assert!(
            begin
                .starts_with("BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY; SET LOCAL search_path")
        );
    }

    #[test]
    fn each_search_path_has_its_own_statement_texts() {
        let a = ScopeSql::new(&TenantName::new("org_a").expect("valid"), &[], None);
        let b = ScopeSql::new(&TenantName::new("org_b").expect("valid"), &[], None);
        let again = ScopeSql::new(&TenantName::new("org_a").expect("valid"), &[], None);
        assert_ne!(a.tagged("SELECT 1"), b.tagged("SELECT 1"));
        assert_eq!(a.tagged("SELECT 1"), again.tagged("SELECT 1"));
        // A trailing line comment in the caller's text cannot swallow the tag's end.
        assert!(a.tagged("SELECT 1 -- x").contains("\n/* sea-tenant "));
    }
}
