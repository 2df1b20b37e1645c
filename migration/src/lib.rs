//! Public-schema migrations: the global tables every tenant shares. Run with the plain
//! sea-orm-migration CLI: `cargo run -p migration -- up`.

pub use sea_orm_migration::prelude::*;

mod m20260101_000001_create_user;
mod m20260101_000002_create_organization;
mod m20261128_044407_add_invoices;

/// The public migration set.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_user::Migration),
            Box::new(m20260101_000002_create_organization::Migration),
            Box::new(m20261128_044407_add_invoices::Migration),
        ]
    }
}
