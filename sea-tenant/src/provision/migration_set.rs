//! A tenant migration set as a value: what provisioning runs, whatever `MigratorTrait` type
//! names it.

use std::any::TypeId;
use std::fmt;

use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// A tenant migration set (a `MigratorTrait` type), held as a value.
#[derive(Clone, Copy)]
pub struct MigrationSet {
    id: TypeId,
    name: &'static str,
    migrations: fn() -> Vec<Box<dyn MigrationTrait>>,
}

impl MigrationSet {
    /// The migration set `M`.
    pub fn of<M: MigratorTrait + 'static>() -> Self {
        MigrationSet {
            id: TypeId::of::<M>(),
            name: std::any::type_name::<M>(),
            migrations: M::migrations,
        }
    }

    /// The type's name, e.g. `tenant_migration::Migrator`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The type's `TypeId`: the key of per-set caches.
    pub(crate) fn id(&self) -> TypeId {
        self.id
    }

    /// The type's `MigratorTrait::migrations`.
    pub(crate) fn migrations(&self) -> fn() -> Vec<Box<dyn MigrationTrait>> {
        self.migrations
    }
}

impl PartialEq for MigrationSet {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for MigrationSet {}

impl fmt::Debug for MigrationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MigrationSet").field(&self.name).finish()
    }
}
