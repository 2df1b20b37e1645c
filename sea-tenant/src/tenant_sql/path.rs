//! The search path: the tenant's schema alone for scripts and migrations, the tenant's and
//! the shared ones for scopes; always transaction-local (see the module docs of `tenant_sql`).

use crate::TenantName;
use crate::name::{quote_ident, quote_literal};

/// The tenant schema alone as the transaction's search path (see the module docs).
pub(crate) fn set_tenant_path(tenant: &TenantName) -> String {
    set_search_path(&quote_literal(&tenant.quoted()))
}

/// Stashes the caller's search path in the transaction-local custom setting
/// `sea_tenant.saved_search_path`, so that a script can put it back at its end
/// ([`restore_search_path`]) without a round trip to read it first.
pub(crate) const SAVE_SEARCH_PATH: &str = "SELECT set_config('sea_tenant.saved_search_path', \
     current_setting('search_path'), true)";

/// Puts back the search path [`SAVE_SEARCH_PATH`] stashed.
pub(crate) fn restore_search_path() -> String {
    set_search_path("current_setting('sea_tenant.saved_search_path')")
}

/// `value` (an SQL expression) as the search path until the transaction ends.
fn set_search_path(value: &str) -> String {
    format!("SELECT set_config('search_path', {value}, true)")
}

/// A scope's search path: the tenant's schema, then the shared ones, each quoted.
pub(crate) fn scope_search_path(tenant: &TenantName, shared: &[String]) -> String {
    std::iter::once(tenant.quoted())
        .chain(shared.iter().map(|s| quote_ident(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SET LOCAL search_path TO <search_path>, pg_temp`: transaction-local, and `pg_temp` last so
/// that no temporary table can shadow a tenant table. (A utility statement: cheaper for the
/// server than `SELECT set_config(…)`, which is planned and executed.)
pub(crate) fn set_local_search_path(search_path: &str) -> String {
    format!("SET LOCAL search_path TO {}", with_pg_temp(search_path))
}

/// A scope's search path as the value of the setting: `pg_temp` last, as in
/// [`set_local_search_path`].
pub(crate) fn with_pg_temp(search_path: &str) -> String {
    format!("{search_path}, pg_temp")
}
