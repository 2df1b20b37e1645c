//! Public-schema migrations, as `sea-orm-cli migrate init` lays them out. They use the
//! entities (SeaORM's usual layout), which is why the entity crate must not depend on any
//! migration crate.

pub use sea_orm_migration::prelude::*;

mod m20260201_000001_create_organization;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20260201_000001_create_organization::Migration)]
    }
}
