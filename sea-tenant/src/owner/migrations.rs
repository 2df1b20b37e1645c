//! Which tenant migration set provisions an owner entity's new tenants: the one registered
//! where the application starts, else the one named by `#[tenant(migrator = …)]`.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use sea_orm_migration::MigratorTrait;

use super::TenantOwner;
use crate::Error;
use crate::provision::MigrationSet;

/// The registered sets, by the owner entity's type.
static REGISTERED: LazyLock<RwLock<HashMap<TypeId, MigrationSet>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

/// Makes `M` the tenant migration set of the owner entity `E`: a new owner row gets a schema
/// with `M` applied. Call it where the application starts, before the first insert; the
/// entity then need not name `M` (`#[tenant(migrator = …)]`), so an entity crate never
/// depends on the tenant migration crate, whose seed migrations may use the entities. A set
/// registered here replaces the one the attribute names; a later call replaces an earlier
/// one.
///
/// ```
/// # mod tenant_migration {
/// #     use sea_orm_migration::prelude::*;
/// #     pub struct Migrator;
/// #     impl MigratorTrait for Migrator {
/// #         fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// #     }
/// # }
/// mod organization {
///     use sea_orm::entity::prelude::*;
///
///     // No `migrator = …`: this crate does not know the tenant migrations.
///     #[sea_tenant::tenant(template = "org_<slug>")]
///     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
///     #[sea_orm(table_name = "organization")]
///     pub struct Model {
///         #[sea_orm(primary_key)]
///         pub id: i32,
///         pub slug: String,
///     }
///
///     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
///     pub enum Relation {}
/// }
///
/// use sea_tenant::owner::{self, MigrationSet};
///
/// fn main() {
///     // The application's start, which knows both crates.
///     owner::register_migrations::<organization::Entity, tenant_migration::Migrator>();
///
///     assert_eq!(
///         owner::migrations_of::<organization::Entity>().unwrap(),
///         MigrationSet::of::<tenant_migration::Migrator>()
///     );
/// }
/// ```
pub fn register_migrations<E, M>()
where
    E: TenantOwner,
    M: MigratorTrait + 'static,
{
    let set = MigrationSet::of::<M>();
    if let Some(declared) = E::declared_migrations()
        && declared != set
    {
        tracing::warn!(
            entity = std::any::type_name::<E>(),
            declared = declared.name(),
            registered = set.name(),
            "the registered tenant migration set replaces the one #[tenant(migrator = …)] names"
        );
    }
    REGISTERED
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(TypeId::of::<E>(), set);
}

/// The tenant migration set of the owner entity `E`: the registered one
/// ([`register_migrations`]), else the one its `#[tenant(migrator = …)]` names, else
/// [`Error::NoMigrationSet`], which names the registration call to add.
pub fn migrations_of<E: TenantOwner>() -> Result<MigrationSet, Error> {
    let registered = REGISTERED
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&TypeId::of::<E>())
        .copied();
    registered
        .or_else(E::declared_migrations)
        .ok_or(Error::NoMigrationSet {
            entity: std::any::type_name::<E>(),
        })
}
