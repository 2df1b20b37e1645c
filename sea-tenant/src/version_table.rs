//! The per-tenant migration version table.
//!
//! It has the columns of sea-orm-migration's `seaql_migrations` (`version`, `applied_at`),
//! lives inside each tenant schema, and is always addressed schema-qualified by sea-tenant's
//! own statements, so it never depends on (or collides with) the public `seaql_migrations`.

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

    /// Records `version`; affects no row when another runner recorded it first.
    pub fn insert_sql(&self, version: &str) -> String {
        format!(
            "INSERT INTO {} (version, applied_at) VALUES ({}, extract(epoch from now())::bigint) \
             ON CONFLICT (version) DO NOTHING",
            self.qualified(),
            quote_literal(version)
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
