//! The per-tenant advisory lock every creator and writer of a tenant schema takes: the
//! migrator (also with `create_missing`), owner-entity provisioning, renames and drops, and
//! every `ensure_*`. One key for all of them, so they never work on one tenant at once;
//! different tenants never wait for each other.
//!
//! The lock is taken **before** anything else in the transaction looks the tenant's name up,
//! and its own functions are schema-qualified. PostgreSQL caches catalog look-ups per
//! backend, also negative ones ("no schema of that name"), and waiting for an advisory lock
//! does not refresh that cache. The migrator used to set `search_path` to the tenant first and
//! then call the (unqualified) lock functions, which resolved them through a `search_path`
//! naming a schema that did not exist yet; after waiting while another caller created it,
//! its `CREATE SCHEMA IF NOT EXISTS` still saw no schema and failed with a duplicate key in
//! `pg_namespace_nspname_index`. Each of the two changes alone makes the integration test
//! `owner_races::creation_races` pass; both are kept.

use sea_orm::DbErr;

use crate::TenantName;
use crate::name::quote_literal;

/// `SELECT pg_advisory_xact_lock(…)` keyed on the tenant: transaction-scoped, so it is released
/// by COMMIT or ROLLBACK and can never outlive a transaction on a pooled connection. The key is
/// a 64-bit hash of `sea_tenant:<schema>`; a collision would only serialise two tenants.
/// Schema-qualified, so it resolves no name through `search_path`.
pub(crate) fn lock_sql(tenant: &TenantName) -> String {
    format!(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended({}, 0))",
        quote_literal(&format!("sea_tenant:{}", tenant.as_str()))
    )
}

/// The locks of two tenants (a rename's old and new name), always in the same order, so that
/// two renames in opposite directions cannot deadlock.
pub(crate) fn lock_both_sql(a: &TenantName, b: &TenantName) -> String {
    let (first, second) = if a.as_str() <= b.as_str() {
        (a, b)
    } else {
        (b, a)
    };
    format!("{}; {}", lock_sql(first), lock_sql(second))
}

/// SQLSTATE `duplicate_schema`: raised by sea-tenant's scripts when a schema that must not
/// exist does (and by PostgreSQL itself).
pub(crate) const DUPLICATE_SCHEMA: &str = "42P06";
/// SQLSTATE `invalid_schema_name`: raised when a schema that must exist does not.
pub(crate) const MISSING_SCHEMA: &str = "3F000";
/// SQLSTATE `serialization_failure`: an owner row changed between reading it and acting on
/// it (only possible outside a transaction); the hook reads it again.
pub(crate) const ROW_CHANGED: &str = "40001";
/// SQLSTATE `no_data_found`: an owner row is gone.
pub(crate) const ROW_GONE: &str = "P0002";

/// The SQLSTATE of a database error, if it is one.
pub(crate) fn sqlstate(err: &DbErr) -> Option<String> {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}
