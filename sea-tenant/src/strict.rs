//! Strict mode: PostgreSQL's privileges keep tenants apart, not only the search path.
//!
//! Without it, a tenant scope sets the tenant's `search_path` and screens what is sent, but the
//! database role is the application's: a query that forgets the scope, names another tenant's
//! schema (`other.item`), or calls a function that changes the path mid-transaction reaches
//! whatever that role may reach. With strict mode on:
//!
//! - each tenant has a role of its own ([`Strict::tenant_role`], `NOLOGIN` (`LOGIN` on Citus:
//!   [`Strict::with_login_roles`]), a member of
//!   [`Strict::shared_role`] for shared tables) holding
//!   `USAGE` on its schema and the row privileges (`SELECT, INSERT, UPDATE, DELETE`, sequences
//!   `USAGE, SELECT, UPDATE`) on its tables, also those later migrations create (default
//!   privileges of the owner role);
//! - every scope statement runs as that role (`SET LOCAL ROLE` in the scope's first message:
//!   no extra round trip, and transaction-local, so PgBouncer in transaction mode is fine);
//! - the application's login role (the *runtime* role) holds no privilege on any tenant
//!   schema: it is `NOINHERIT` and only a member of the tenant roles, so outside a scope a
//!   tenant table is `permission denied`;
//! - tenant schemas are created and migrated as the *owner* role (`SET LOCAL ROLE` in each
//!   provisioning and migration transaction), which owns them; the runtime role needs no DDL.
//!
//! Roles are created, renamed and dropped in the same transaction as their schemas (owner
//! hooks, `create_missing`, [`provision`](crate::provision), `fresh`).
//!
//! What it does not stop: the runtime role is a member of every tenant role (and of the owner
//! role, for owner hooks that provision in the application's transaction), and PostgreSQL lets
//! a session become any role its login is a member of. SQL injected into a scope that runs
//! `SET ROLE other_tenant` (the scope refuses every spelling of it, but not a function that
//! does it) can still switch. Strict mode guards against bugs, forgotten scopes and qualified
//! names, not against arbitrary SQL from an attacker.
//!
//! ```no_run
//! # async fn demo(admin: sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
//! use sea_tenant::strict::{self, Strict};
//!
//! let config = Strict::new("app", "app_owner")?;
//! // Once per database, as a superuser: the owner role, and the runtime role made NOINHERIT.
//! for line in strict::setup(&admin, &config).await? {
//!     println!("{line}");
//! }
//! // Where the application (and its tenant_migration binary) starts:
//! strict::enable(config);
//! # Ok(()) }
//! ```

use std::sync::{Arc, PoisonError, RwLock};

use sea_orm::{ConnectionTrait, DbBackend, Statement};

pub use crate::roles::{DEFAULT_ROLE_PREFIX, MAX_PREFIX_BYTES, Strict, StrictError};

use crate::name::{quote_ident, quote_literal};
use crate::tenant_sql::role as sql;
use crate::{Error, Result, TenantName};

static CURRENT: RwLock<Option<Arc<Strict>>> = RwLock::new(None);

/// Turns strict mode on for the whole process: scopes made from now on run as their tenant's
/// role, and the migrator, the CLI and the owner hooks create tenants with roles. A
/// process-wide setting, like [`citus::set_distribution`](crate::citus::set_distribution),
/// because the owner entities' hooks receive nothing but a connection. Call it where the
/// application starts, before the first scope.
pub fn enable(strict: Strict) {
    *CURRENT.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(strict));
}

/// Turns strict mode off (the default).
pub fn disable() {
    *CURRENT.write().unwrap_or_else(PoisonError::into_inner) = None;
}

/// Strict mode's configuration, if it is on.
pub fn current() -> Option<Arc<Strict>> {
    CURRENT
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Prepares a database for strict mode, as a superuser (or a role with `CREATEROLE` and
/// `CREATE` on the database), idempotently: the owner role exists (`NOLOGIN CREATEROLE`, or `LOGIN` with
/// [`Strict::with_login_roles`]; may
/// create schemas in this database, and may reference the tables of `public`, for tenant
/// tables' foreign keys: those that exist and those the role running the set-up creates later), the group of tenant roles ([`Strict::shared_role`]) exists
/// and may use `public`, the runtime role exists and is `NOINHERIT` (created `LOGIN` without
/// a password if missing: give it one), and may become the owner role (owner hooks provision
/// in the application's transaction). Returns what it did, a line each.
///
/// It grants nothing on the application's own tables beyond `REFERENCES`: what scopes may do
/// on shared tables is granted to [`Strict::shared_role`] by the application.
///
/// Refused with [`StrictError::PrivilegedRuntime`] when the runtime role is a superuser or has
/// `BYPASSRLS`: privileges cannot hold such a role; and with
/// [`StrictError::CitusNeedsLoginRoles`] on a database with the `citus` extension unless the
/// configuration has [`Strict::with_login_roles`].
pub async fn setup<C: ConnectionTrait>(db: &C, strict: &Strict) -> Result<Vec<String>> {
    let runtime = quote_literal(strict.runtime_role());
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT rolsuper OR rolbypassrls AS privileged FROM pg_catalog.pg_roles \
                 WHERE rolname = {runtime}"
            ),
        ))
        .await
        .map_err(Error::Setup)?;
    if let Some(row) = &row
        && row
            .try_get::<bool>("", "privileged")
            .map_err(Error::Setup)?
    {
        return Err(StrictError::PrivilegedRuntime {
            role: strict.runtime_role().to_owned(),
        }
        .into());
    }
    let citus = match db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            crate::tenant_sql::IS_CITUS,
        ))
        .await
        .map_err(Error::Setup)?
    {
        Some(row) => row.try_get_by_index::<bool>(0).map_err(Error::Setup)?,
        None => false,
    };
    if citus && !strict.login_roles() {
        return Err(StrictError::CitusNeedsLoginRoles.into());
    }
    let owner_ident = quote_ident(strict.owner_role());
    let runtime_ident = quote_ident(strict.runtime_role());
    let owner_attributes = format!("{} CREATEROLE", strict.login_attribute());
    let mut done = Vec::new();
    let steps = [
        (
            format!(
                "owner role {} exists, {owner_attributes}",
                strict.owner_role()
            ),
            // An existing owner keeps LOGIN if it has it (a migration URL may log in as it).
            ensure_role(
                strict.owner_role(),
                &owner_attributes,
                if strict.login_roles() {
                    "LOGIN CREATEROLE"
                } else {
                    "CREATEROLE"
                },
            ),
        ),
        (
            format!(
                "owner role {} may create schemas in this database",
                strict.owner_role()
            ),
            format!(
                "DO $sea_tenant_setup$ BEGIN EXECUTE pg_catalog.format('GRANT CREATE ON DATABASE %I TO %I', \
                 pg_catalog.current_database(), {}); END $sea_tenant_setup$",
                quote_literal(strict.owner_role())
            ),
        ),
        (
            format!(
                "owner role {} may reference the tables of schema public, also those the role \
                 running this set-up creates later (tenant tables' foreign keys)",
                strict.owner_role()
            ),
            format!(
                "GRANT USAGE ON SCHEMA public TO {owner_ident}; \
                 GRANT REFERENCES ON ALL TABLES IN SCHEMA public TO {owner_ident}; \
                 ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT REFERENCES ON TABLES TO {owner_ident}"
            ),
        ),
        (
            format!(
                "group {} of the tenant roles exists, NOLOGIN, and may use schema public",
                strict.shared_role()
            ),
            format!(
                "{}; GRANT USAGE ON SCHEMA public TO {}",
                ensure_role(strict.shared_role(), "NOLOGIN", "NOLOGIN"),
                quote_ident(strict.shared_role())
            ),
        ),
        (
            format!(
                "runtime role {} exists and is NOINHERIT (it holds no tenant's privileges outside a scope)",
                strict.runtime_role()
            ),
            ensure_role(strict.runtime_role(), "LOGIN NOINHERIT", "NOINHERIT"),
        ),
        (
            format!(
                "runtime role {} may become {} (owner hooks provision in the application's transaction)",
                strict.runtime_role(),
                strict.owner_role()
            ),
            format!("GRANT {owner_ident} TO {runtime_ident}"),
        ),
    ];
    let citus_step = citus.then(|| {
        (
            format!(
                "owner role {} is a distributed object of this database on every Citus node \
                 (else the first tenant would send it to the workers as the owner role, \
                 which may not alter itself there)",
                strict.owner_role()
            ),
            sql::distribute_owner(strict.owner_role()),
        )
    });
    let steps = steps
        .into_iter()
        .map(|(what, sql)| (what, vec![sql]))
        .chain(citus_step);
    for (what, statements) in steps {
        for sql in statements {
            db.execute_unprepared(&sql).await.map_err(Error::Setup)?;
        }
        tracing::info!(step = %what, "strict mode set-up");
        done.push(what);
    }
    Ok(done)
}

/// A `DO` block creating `role` with `create` attributes, or altering it to `alter` ones.
fn ensure_role(role: &str, create: &str, alter: &str) -> String {
    format!(
        "DO $sea_tenant_setup$ BEGIN \
         IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {literal}) THEN \
         ALTER ROLE {quoted} {alter}; ELSE CREATE ROLE {quoted} {create}; END IF; \
         END $sea_tenant_setup$",
        literal = quote_literal(role),
        quoted = quote_ident(role),
    )
}

/// Tenants of `tenants` that strict mode does not keep apart, each with what is wrong (a
/// missing role, a role that may not use its schema, another role or `PUBLIC` that may use its
/// schema or tables), read from the catalog in batches; tenants without a schema are skipped.
/// Empty when all is well. `tenant_migration status` prints this in strict mode.
///
/// ```no_run
/// # async fn demo(db: &sea_orm::DatabaseConnection, strict: &sea_tenant::strict::Strict,
/// #     tenants: &[sea_tenant::TenantName]) -> sea_tenant::Result<()> {
/// for (tenant, problems) in sea_tenant::strict::tenants_not_apart(db, strict, tenants).await? {
///     eprintln!("{tenant}: {}", problems.join(", "));
/// }
/// # Ok(()) }
/// ```
pub async fn tenants_not_apart<C: ConnectionTrait>(
    db: &C,
    strict: &Strict,
    tenants: &[TenantName],
) -> Result<Vec<(TenantName, Vec<String>)>> {
    /// Tenants per catalog query, as the migrator's catalog reads.
    const BATCH: usize = 5000;
    let mut found: Vec<(TenantName, Vec<String>)> = Vec::new();
    for chunk in tenants.chunks(BATCH) {
        let named: Vec<(&TenantName, String)> =
            chunk.iter().map(|t| (t, strict.tenant_role(t))).collect();
        let rows = db
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                sql::tenants_not_apart(&named),
            ))
            .await
            .map_err(Error::Db)?;
        for row in rows {
            let tenant: String = row.try_get("", "tenant").map_err(Error::Db)?;
            let problem: String = row.try_get("", "problem").map_err(Error::Db)?;
            match found.last_mut() {
                Some((last, problems)) if last.as_str() == tenant => problems.push(problem),
                _ => found.push((TenantName::new(tenant)?, vec![problem])),
            }
        }
    }
    Ok(found)
}
