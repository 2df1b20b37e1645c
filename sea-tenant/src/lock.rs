//! The per-tenant advisory lock every writer of a tenant's migrations takes: the migrator,
//! owner-entity provisioning and `ensure_tenant`. One key for all of them, so they never work
//! on one tenant at once; different tenants never wait for each other.

use crate::TenantName;
use crate::name::quote_literal;

/// `SELECT pg_advisory_xact_lock(…)` keyed on the tenant: transaction-scoped, so it is released
/// by COMMIT or ROLLBACK and can never outlive a transaction on a pooled connection. The key is
/// a 64-bit hash of `sea_tenant:<schema>`; a collision would only serialise two tenants.
pub(crate) fn lock_sql(tenant: &TenantName) -> String {
    format!(
        "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))",
        quote_literal(&format!("sea_tenant:{}", tenant.as_str()))
    )
}
