//! The statements around a tenant's migrations when it is provisioned, shared by the rendered
//! script and the live path.

use super::lock::lock_tenant;
use super::path::{SAVE_SEARCH_PATH, restore_search_path, set_tenant_path};
use super::placement::Distribution;
use super::role;
use super::schema::{create_schema, create_schema_if_missing, refuse_existing_schema};
use super::version_table::{DEFAULT_VERSION_TABLE, VersionTable};
use crate::TenantName;
use crate::roles::Strict;

/// How provisioning treats a schema that exists under the tenant's lock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Creation<'a> {
    /// It must not exist: [`DUPLICATE_SCHEMA`] if it does (`create_tenant_on`).
    New,
    /// It is used if it exists; `guard` (SQL, may be empty) runs first and may abort (the
    /// owner-row check of the insert hook).
    Ensure {
        /// Run right after the lock, before anything is created.
        guard: &'a str,
    },
}

/// The statements that start provisioning `tenant`, in the rendered script and on the live
/// path alike: the tenant's lock (first, see the module docs), the existence check or the
/// guard, the caller's search path stashed, the schema created (placed as `distribution` says), the search path moved to the
/// tenant alone and its version table created if missing. The migrations follow, then
/// [`provisioning_epilogue`].
///
/// In strict mode (`strict`), the caller's role is stashed too and everything after the guard
/// runs as the owner role, which so owns the schema and all it holds; the tenant's role is
/// created if missing and granted its rows (see [`crate::strict`]).
pub(crate) fn provisioning_prologue(
    tenant: &TenantName,
    creation: Creation<'_>,
    distribution: Distribution,
    strict: Option<&Strict>,
) -> Vec<String> {
    let mut sql = vec![lock_tenant(tenant)];
    let create = match creation {
        Creation::New => {
            sql.push(refuse_existing_schema(tenant));
            create_schema(tenant, distribution)
        }
        Creation::Ensure { guard } => {
            if !guard.trim().is_empty() {
                sql.push(guard.to_owned());
            }
            create_schema_if_missing(tenant, distribution)
        }
    };
    sql.push(SAVE_SEARCH_PATH.to_owned());
    if let Some(strict) = strict {
        sql.push(role::SAVE_ROLE.to_owned());
        sql.push(role::set_local_role(strict.owner_role()));
    }
    sql.push(create);
    if let Some(strict) = strict {
        sql.extend(tenant_role(tenant, strict));
    }
    sql.push(set_tenant_path(tenant));
    sql.push(VersionTable::new(tenant, DEFAULT_VERSION_TABLE).create_if_missing_sql());
    sql
}

/// Strict mode's role of `tenant`, created if missing and granted its schema's rows; run as
/// the owner role once the schema exists.
pub(crate) fn tenant_role(tenant: &TenantName, strict: &Strict) -> Vec<String> {
    role::grant_tenant_role(
        tenant,
        &strict.tenant_role(tenant),
        strict.owner_role(),
        strict.runtime_role(),
        strict.shared_role(),
        strict.login_attribute(),
    )
}

/// The statements that end provisioning `tenant`: the version table's fingerprint rewritten
/// and the caller's search path (and, in strict mode, role) put back.
pub(crate) fn provisioning_epilogue(tenant: &TenantName, strict: Option<&Strict>) -> Vec<String> {
    let mut sql = vec![
        VersionTable::new(tenant, DEFAULT_VERSION_TABLE).fingerprint_sql(),
        restore_search_path(),
    ];
    if strict.is_some() {
        sql.push(role::RESTORE_ROLE.to_owned());
    }
    sql
}
