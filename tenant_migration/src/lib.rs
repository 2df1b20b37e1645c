//! Tenant migrations: run inside every tenant schema by sea-tenant's `TenantMigrator`
//! (`cargo run -p tenant_migration -- up`). `search_path` is the tenant schema alone while
//! they run, so unqualified names are the tenant's tables and global tables are written
//! `("public", "table")`.

pub use sea_orm_migration::prelude::*;

mod m20260101_000001_create_project;
mod m20260101_000002_create_task;

/// The tenant migration set.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_project::Migration),
            Box::new(m20260101_000002_create_task::Migration),
        ]
    }
}

/// The tenants of the example application: one schema per organization, `org_<slug>`.
pub fn all_tenants() -> impl sea_tenant::AllTenants {
    sea_tenant::tenants::from_query("SELECT 'org_' || slug FROM public.organization ORDER BY id")
}
