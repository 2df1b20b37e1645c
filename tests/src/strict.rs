//! Strict mode's world for a test binary: the process-wide [`Strict`] configuration (roles named
//! after the binary, so test binaries running side by side never share a role), a database set
//! up for it, and a pool that connects as the runtime role.
//!
//! Roles are shared by every database of the server: tenants of strict tests get unique names
//! ([`unique_name`](crate::unique_name)), and [`StrictDb::drop_tenant_roles`] removes the roles
//! a test made.

use std::sync::OnceLock;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use sea_tenant::strict::{self, Strict};
use sea_tenant::{TenantName, TenantScope};

use crate::{TestDb, strings};

/// The strict configuration of the binary `binary` (e.g. `"strict"`), turned on for the whole
/// process: runtime role `st_<binary>_app`, owner `st_<binary>_owner`, tenant roles
/// `st_<binary>_<tenant>`.
pub fn enable(binary: &str) -> Strict {
    static CONFIG: OnceLock<Strict> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        Strict::new(format!("st_{binary}_app"), format!("st_{binary}_owner"))
            .and_then(|s| s.with_role_prefix(format!("st_{binary}_")))
            .unwrap_or_else(|e| panic!("{e}"))
    });
    strict::enable(config.clone());
    config.clone()
}

/// A test database set up for strict mode, with a pool that logs in as the runtime role.
pub struct StrictDb {
    /// The database; `test.db` logs in as the server's superuser (the admin's view).
    pub test: TestDb,
    /// A pool on the database as the runtime role: what the application uses.
    pub runtime: DatabaseConnection,
    /// The configuration in force.
    pub strict: Strict,
}

impl StrictDb {
    /// A fresh database for `binary`'s strict configuration, put in strict mode by
    /// [`sea_tenant::testing::strict_runtime`], with a runtime pool of `max_connections`.
    pub async fn new(binary: &str, label: &str, max_connections: u32) -> StrictDb {
        let strict = enable(binary);
        let test = TestDb::new(label).await;
        let runtime = test.strict_runtime(&strict, max_connections).await;
        StrictDb {
            test,
            runtime,
            strict,
        }
    }

    /// The role of `tenant`.
    pub fn role(&self, tenant: &TenantName) -> String {
        self.strict.tenant_role(tenant)
    }

    /// Whether the role `role` exists on the server.
    pub async fn role_exists(&self, role: &str) -> bool {
        let found = strings(
            &self.test.db,
            &format!("SELECT rolname::text FROM pg_roles WHERE rolname = '{role}'"),
        )
        .await;
        !found.is_empty()
    }

    /// `tenant` is kept apart as strict mode wants: [`strict::tenants_not_apart`] finds
    /// nothing wrong with it.
    pub async fn assert_kept_apart(&self, tenant: &TenantName) {
        let found =
            strict::tenants_not_apart(&self.test.db, &self.strict, std::slice::from_ref(tenant))
                .await
                .unwrap_or_else(|e| panic!("privileges of {tenant}: {e}"));
        assert!(found.is_empty(), "{tenant} is not kept apart: {found:?}");
    }

    /// Drops the roles of `tenants` (after their schemas, which hold their privileges).
    pub async fn drop_tenant_roles(&self, tenants: &[&TenantName]) {
        for tenant in tenants {
            let role = self.role(tenant);
            self.test
                .db
                .execute_unprepared(&format!(
                    "DROP SCHEMA IF EXISTS \"{tenant}\" CASCADE; DROP ROLE IF EXISTS \"{role}\""
                ))
                .await
                .unwrap_or_else(|e| panic!("drop role {role}: {e}"));
        }
    }
}

/// PostgreSQL's `insufficient_privilege`.
pub const DENIED: &str = "42501";
/// `undefined_table`: what a name resolved through a `search_path` naming a schema the role may
/// not use gives, since PostgreSQL skips such schemas.
pub const NOT_FOUND: &str = "42P01";

/// `result` failed with SQLSTATE `sqlstate`.
pub fn assert_fails_with(result: Result<impl std::fmt::Debug, DbErr>, sqlstate: &str, what: &str) {
    let err = match result {
        Ok(rows) => panic!("{what}: expected SQLSTATE {sqlstate}, got {rows:?}"),
        Err(err) => err,
    };
    let text = sea_tenant::DbError(&err).to_string();
    assert!(
        text.contains(&format!("(SQLSTATE {sqlstate})")),
        "{what}: expected SQLSTATE {sqlstate}, got {text}"
    );
}

/// The first column of each row of `sql`, as text.
pub async fn titles(db: &impl ConnectionTrait, sql: &str) -> Result<Vec<String>, DbErr> {
    db.query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect()
}

/// In `scope`, another tenant's table (`other`'s `post`) named with its schema is
/// `permission denied` on every path of a scope: one message, a write, a scope transaction.
pub async fn qualified_names_are_denied(scope: &TenantScope, other: &TenantName) {
    let qualified = format!("SELECT title FROM \"{other}\".post");
    assert_fails_with(
        titles(scope, &qualified).await,
        DENIED,
        "scope, one message",
    );
    assert_fails_with(
        scope
            .execute_unprepared(&format!("DELETE FROM \"{other}\".post"))
            .await,
        DENIED,
        "scope, write",
    );
    let txn = scope.begin().await.expect("begin");
    assert_fails_with(titles(&txn, &qualified).await, DENIED, "scope transaction");
    txn.rollback().await.expect("rollback");
}
