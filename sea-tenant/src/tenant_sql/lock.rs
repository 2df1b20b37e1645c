//! The per-tenant advisory lock every creator and writer of a tenant schema takes (see the
//! module docs of `tenant_sql`).

use crate::TenantName;
use crate::name::quote_literal;

/// The tenant lock's key: a 64-bit hash of `sea_tenant:<schema>` (a collision would only
/// serialise two tenants), schema-qualified so it resolves no name through `search_path`.
pub(crate) fn lock_key(tenant: &TenantName) -> String {
    format!(
        "pg_catalog.hashtextextended({}, 0)",
        quote_literal(&format!("sea_tenant:{}", tenant.as_str()))
    )
}

/// Takes the tenant lock, `pg_advisory_xact_lock`: transaction-scoped, so it is released by
/// COMMIT or ROLLBACK and can never outlive a transaction on a pooled connection.
pub(crate) fn lock_tenant(tenant: &TenantName) -> String {
    format!(
        "SELECT pg_catalog.pg_advisory_xact_lock({})",
        lock_key(tenant)
    )
}

/// The locks of two tenants (a rename's old and new name), always in the same order, so that
/// two renames in opposite directions cannot deadlock.
pub(crate) fn lock_tenants(a: &TenantName, b: &TenantName) -> String {
    let (first, second) = if a.as_str() <= b.as_str() {
        (a, b)
    } else {
        (b, a)
    };
    format!("{}; {}", lock_tenant(first), lock_tenant(second))
}
