//! Tenant migrations: sea-tenant runs them inside each organization's schema, with
//! `search_path` set to that schema, so unqualified names are the tenant's tables.
//!
//! Two of them read the database, as real migration sets do: one checks `has_column` before
//! altering, one seeds rows through the entities (`INSERT … RETURNING`) and uses the ids it
//! gets back. sea-tenant provisions such sets by running them live in the owner's transaction.

pub use sea_orm_migration::prelude::*;

mod m20260201_000001_create_pipeline;
mod m20260201_000002_add_contact_phone;
mod m20260201_000003_seed_pipeline;

/// The tenant migration set; registered for the owner entity where the application starts.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260201_000001_create_pipeline::Migration),
            Box::new(m20260201_000002_add_contact_phone::Migration),
            Box::new(m20260201_000003_seed_pipeline::Migration),
        ]
    }
}
