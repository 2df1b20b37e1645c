//! The per-tenant migration version table.
//!
//! It has the columns of sea-orm-migration's `seaql_migrations` (`version`, `applied_at`),
//! lives inside each tenant schema, and is always addressed schema-qualified by sea-tenant's
//! own statements, so it never depends on (or collides with) the public `seaql_migrations`.
//!
//! Its table comment is a fingerprint of its contents, `sea_tenant:<md5 of the sorted versions
//! joined by ','>`, rewritten by every run that finishes a tenant's `up` and by every `down`
//! step. A no-op deploy compares the fingerprints of thousands of tenants in one catalog query
//! instead of opening every version table; a fingerprint that does not match (or is missing)
//! only means the table is read. Editing the table by hand leaves the fingerprint stale:
//! `status` always reads the tables, and `up` after such an edit should be run with the
//! fingerprint ignored (`TenantMigrator::trust_fingerprints(false)`).

use crate::TenantName;
use crate::name::{quote_ident, quote_literal};

/// The version table's default name.
pub const DEFAULT_VERSION_TABLE: &str = "seaql_tenant_migrations";

/// The version table of one tenant.
#[derive(Debug, Clone)]
pub(crate) struct VersionTable<'a> {
    pub tenant: &'a TenantName,
    pub table: &'a str,
}

impl<'a> VersionTable<'a> {
    pub fn new(tenant: &'a TenantName, table: &'a str) -> Self {
        VersionTable { tenant, table }
    }

    /// `"tenant"."table"`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.tenant.quoted(), quote_ident(self.table))
    }

    pub fn create_if_missing_sql(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (version varchar NOT NULL PRIMARY KEY, applied_at bigint NOT NULL)",
            self.qualified()
        )
    }

    /// The recorded versions, one text column.
    pub fn versions_sql(&self) -> String {
        format!("SELECT version::text FROM {}", self.qualified())
    }

    /// Records `version`; affects no row when another runner recorded it first.
    pub fn insert_sql(&self, version: &str) -> String {
        format!(
            "INSERT INTO {} (version, applied_at) VALUES ({}, extract(epoch from now())::bigint) \
             ON CONFLICT (version) DO NOTHING",
            self.qualified(),
            quote_literal(version)
        )
    }

    /// Rewrites the table's fingerprint from its current rows. The names inside the DO body
    /// are validated tenant and table names (no quotes, no `$`), so they cannot end it.
    pub fn fingerprint_sql(&self) -> String {
        let table = self.qualified();
        format!(
            "DO $sea_tenant_fp$ BEGIN EXECUTE 'COMMENT ON TABLE {table} IS ' || quote_literal(\
             (SELECT 'sea_tenant:' || md5(coalesce(string_agg(version::text, ',' ORDER BY version COLLATE \"C\"), '')) \
             FROM {table})); END $sea_tenant_fp$"
        )
    }

    pub fn delete_sql(&self, version: &str) -> String {
        format!(
            "DELETE FROM {} WHERE version = {}",
            self.qualified(),
            quote_literal(version)
        )
    }
}

/// The fingerprint a version table holding exactly `versions` carries, as the SQL expression
/// that computes it (md5 is not worth a dependency; one query per run computes it).
pub(crate) fn expected_fingerprint_sql(versions: &[String]) -> String {
    let mut sorted: Vec<&str> = versions.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    format!(
        "SELECT 'sea_tenant:' || md5({})",
        quote_literal(&sorted.join(","))
    )
}
