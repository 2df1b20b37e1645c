//! Owner entities: a row of an ordinary table (say `organization`) owns one tenant schema,
//! named by a template over its fields.
//!
//! ```
//! # fn main() {}
//! # mod tenant_migration {
//! #     use sea_orm_migration::prelude::*;
//! #     pub struct TenantMigrations;
//! #     impl MigratorTrait for TenantMigrations {
//! #         fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
//! #     }
//! # }
//! mod organization {
//!     use sea_orm::entity::prelude::*;
//!
//!     #[sea_tenant::tenant(template = "org_<id>", migrator = crate::tenant_migration::TenantMigrations)]
//!     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
//!     #[sea_orm(table_name = "organization")]
//!     pub struct Model {
//!         #[sea_orm(primary_key)]
//!         pub id: i32,
//!         pub name: String,
//!     }
//!
//!     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//!     pub enum Relation {}
//!
//!     // No `impl ActiveModelBehavior for ActiveModel {}`: the attribute writes it. A
//!     // leftover one fails to compile (E0119, conflicting implementations).
//! }
//! ```
//!
//! Without `migrator = …` the application names the migration set where it starts
//! ([`register_migrations`]), so that an entity crate need not depend on the tenant
//! migration crate; an insert before that fails with [`Error::NoMigrationSet`].
//!
//! Each owner model has `tenant_name()`, the schema it owns:
//!
//! ```
//! # mod organization {
//! #     use sea_orm::entity::prelude::*;
//! #     #[sea_tenant::tenant(template = "org_<slug>")]
//! #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
//! #     #[sea_orm(table_name = "organization")]
//! #     pub struct Model { #[sea_orm(primary_key)] pub id: i32, pub slug: String }
//! #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//! #     pub enum Relation {}
//! # }
//! use sea_tenant::Error;
//!
//! let acme = organization::Model { id: 1, slug: "acme".into() };
//! assert_eq!(acme.tenant_name()?.as_str(), "org_acme");
//!
//! // An empty placeholder value is refused, not taken for the tenant `org_`.
//! let blank = organization::Model { id: 2, slug: String::new() };
//! assert!(matches!(blank.tenant_name(), Err(Error::EmptyTemplateValue { field: "slug", .. })));
//! # Ok::<(), Error>(())
//! ```
//!
//! With hook logic of your own, declare `hooks = custom` and put [`#[sea_tenant::hooks]`](hooks)
//! on your impl: it runs sea-tenant's hooks around yours (your `before_*` first, your
//! `after_*` last). Under `hooks = custom` an impl without it does not compile.
//!
//! ```
//! # fn main() {}
//! # mod tenant_migration {
//! #     use sea_orm_migration::prelude::*;
//! #     pub struct TenantMigrations;
//! #     impl MigratorTrait for TenantMigrations {
//! #         fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
//! #     }
//! # }
//! mod organization {
//!     use sea_orm::entity::prelude::*;
//!     use sea_orm::Set;
//!     use sea_tenant::tenant;
//!
//!     // The 2.0 dense format works the same way.
//!     #[sea_orm::model]
//!     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
//!     #[sea_orm(table_name = "organization")]
//!     #[tenant(
//!         template = "org_<slug>",
//!         migrator = crate::tenant_migration::TenantMigrations,
//!         hooks = custom
//!     )]
//!     pub struct Model {
//!         #[sea_orm(primary_key)]
//!         pub id: i32,
//!         pub slug: String,
//!         pub name: String,
//!     }
//!
//!     #[sea_tenant::hooks]
//!     impl ActiveModelBehavior for ActiveModel {
//!         async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
//!         where
//!             C: ConnectionTrait,
//!         {
//!             if let Some(name) = self.name.try_as_ref() {
//!                 let trimmed = name.trim().to_owned(); // your own logic
//!                 self.name = Set(trimmed);
//!             }
//!             Ok(self) // sea-tenant's before_save runs next
//!         }
//!     }
//! }
//! ```
//!
//! What each hook sends, why the row as stored decides (never the caller's copy of the
//! model), and what is atomic on each kind of connection: `docs/owner-hooks.md` in the
//! repository.
//!
//! # What the hooks do not see
//!
//! `Entity::insert`, `insert_many`, `update_many` and `delete_many` run no hooks. After
//! a bulk insert, provision each new row with [`provision::provision_tenant_on`] and the
//! row's [`TenantOwner::tenant_of`] (or the migrator's `--create-missing`).
//!
//! # Errors
//!
//! Hooks must return `DbErr`; sea-tenant's own [`Error`] travels inside it and
//! [`tenant_error`] gets it back:
//!
//! ```
//! use sea_tenant::{Error, NameError, owner};
//!
//! let db_err = owner::into_db_err(Error::InvalidName(sea_tenant::TenantName::new("Org").unwrap_err()));
//! assert!(matches!(
//!     owner::tenant_error(&db_err),
//!     Some(Error::InvalidName(NameError::InvalidChar { .. }))
//! ));
//! ```

use std::marker::PhantomData;
use std::sync::Arc;

use crate::name::quote_literal;
use crate::tenant_sql::{self, DUPLICATE_SCHEMA, ROW_CHANGED, ROW_GONE, sqlstate};
use crate::tenants::TenantRow;
use crate::{Error, TenantName, provision};
use sea_orm::sea_query::{Condition, Expr, IntoCondition};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, Iterable, ModelTrait, PrimaryKeyToColumn, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select,
};

pub use crate::provision::MigrationSet;
pub use migrations::{migrations_of, register_migrations};
pub use sea_tenant_macros::{hooks, tenant};
pub use template::{IdentifierTemplate, RenderedName};

mod lifecycle;
mod migrations;
mod template;

pub use lifecycle::{after_delete, after_save, before_delete, before_save};

/// The options of `#[tenant(...)]`, as the macro wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerOptions {
    /// Create the schema when a row is inserted (default `true`).
    pub create: bool,
    /// Rename the schema when an update changes its name (default `true`).
    pub rename: bool,
    /// Drop the schema when its row is deleted (default `false`: keep it and log).
    pub drop: bool,
}

/// An entity whose rows own tenant schemas. Implemented by `#[tenant(...)]` on the entity's
/// `Model`; not meant to be implemented by hand.
pub trait TenantOwner: EntityTrait {
    /// The template, e.g. `org_<id>`.
    const TEMPLATE: &'static str;

    /// The macro's options.
    const OPTIONS: OwnerOptions;

    /// The tenant migration set `migrator = …` names, if any; [`migrations_of`] is the one
    /// in force.
    fn declared_migrations() -> Option<MigrationSet>;

    /// The template rendered from `model`, not validated.
    fn render(model: &Self::Model) -> RenderedName;

    /// The template rendered from `am`, or `None` if a template field is `NotSet`.
    fn render_active(am: &Self::ActiveModel) -> Option<RenderedName>;

    /// Whether `am` sets any template field.
    fn template_set(am: &Self::ActiveModel) -> bool;

    /// Fills every `NotSet` template field of `am` from `model` (as `Unchanged`, so it adds
    /// nothing to an `UPDATE`).
    fn fill_template(am: &mut Self::ActiveModel, model: &Self::Model);

    /// A fresh active model that sets exactly the template fields `am` has values for.
    fn template_update(am: &Self::ActiveModel) -> Self::ActiveModel;

    /// The validated tenant name of `model` (also `model.tenant_name()`).
    fn tenant_of(model: &Self::Model) -> Result<TenantName, Error> {
        Self::render(model).tenant_name()
    }
}

/// Wraps sea-tenant's error into the `DbErr` a hook has to return; [`tenant_error`] undoes it.
pub fn into_db_err(err: Error) -> DbErr {
    DbErr::TryIntoErr {
        from: "owner row",
        into: "tenant schema",
        source: Arc::new(err),
    }
}

/// The sea-tenant [`Error`] inside a `DbErr` returned by an owner hook, if it is one.
pub fn tenant_error(err: &DbErr) -> Option<&Error> {
    match err {
        DbErr::TryIntoErr { source, .. } => source.downcast_ref::<Error>(),
        _ => None,
    }
}

/// Provisions the tenant of an owner row written without hooks (`insert_many`, a raw
/// `INSERT`) from the owner's migration set (registered, or named by `migrator = …`): the
/// same provisioning as [`provision::provision_tenant_on`] (the set's rendered script, or its
/// migrations run live for a set that reads), with the name the row's template gives: creates
/// the schema if missing and applies pending migrations.
///
/// ```no_run
/// # mod organization {
/// #     use sea_orm::entity::prelude::*;
/// #     pub struct M;
/// #     impl sea_orm_migration::MigratorTrait for M {
/// #         fn migrations() -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> { vec![] }
/// #     }
/// #     #[sea_tenant::tenant(template = "org_<id>", migrator = M)]
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "organization")]
/// #     pub struct Model { #[sea_orm(primary_key)] pub id: i32 }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # }
/// use sea_orm::EntityTrait;
///
/// # async fn demo(db: &sea_orm::DatabaseConnection, org: organization::Model) -> sea_tenant::Result<()> {
/// sea_tenant::owner::provision_owned_tenant::<organization::Entity, _>(db, &org).await?;
/// # Ok(()) }
/// ```
pub async fn provision_owned_tenant<E, C>(db: &C, model: &E::Model) -> Result<TenantName, Error>
where
    E: TenantOwner,
    C: ConnectionTrait,
{
    let set = migrations_of::<E>()?;
    let name = E::tenant_of(model)?;
    provision::provision_owned_on(db, &set, &name, "").await?;
    Ok(name)
}

/// Every owner row's tenant name, in primary key order, rendered from the template and **not**
/// validated (a row with an empty placeholder value gives the template's bare text):
/// [`tenant_source`] is the checked listing for the migrator.
///
/// ```no_run
/// # mod organization {
/// #     use sea_orm::entity::prelude::*;
/// #     #[sea_tenant::tenant(template = "org_<id>")]
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "organization")]
/// #     pub struct Model { #[sea_orm(primary_key)] pub id: i32 }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # }
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// let names = sea_tenant::owner::all_tenants::<organization::Entity, _>(db).await?;
/// # Ok(()) }
/// ```
pub async fn all_tenants<E, C>(db: &C) -> Result<Vec<String>, DbErr>
where
    E: TenantOwner,
    C: ConnectionTrait,
{
    Ok(by_primary_key::<E>()
        .all(db)
        .await?
        .iter()
        .map(|model| E::render(model).into_string())
        .collect())
}

/// Every owner row, in primary key order: tenants are listed, migrated and reported in the
/// same order on every run.
fn by_primary_key<E: TenantOwner>() -> Select<E> {
    E::PrimaryKey::iter().fold(E::find(), |query, key| {
        query.order_by_asc(key.into_column())
    })
}

/// The owner rows, in primary key order, as the tenant source of a
/// [`TenantMigrator`](crate::TenantMigrator) or of the tenant CLI, so the template is written
/// once, on the entity, not again as SQL. A row
/// whose name is invalid, or has an empty placeholder value, is reported as a failed tenant.
///
/// The tenant migration crate's `main.rs`, which depends on the entity crate (the entity
/// crate needs no migration crate: see [`register_migrations`]):
///
/// ```no_run
/// # mod entity { pub mod organization {
/// #     use sea_orm::entity::prelude::*;
/// #     #[sea_tenant::tenant(template = "org_<slug>")]
/// #     #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "organization")]
/// #     pub struct Model { #[sea_orm(primary_key)] pub id: i32, pub slug: String }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// # } }
/// # mod tenant_migration {
/// #     use sea_orm_migration::prelude::*;
/// #     pub struct Migrator;
/// #     impl MigratorTrait for Migrator {
/// #         fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// #     }
/// # }
/// use sea_tenant::owner;
///
/// # #[cfg(not(feature = "cli"))] fn main() {}
/// # #[cfg(feature = "cli")] // `sea_tenant::cli` is behind the `cli` feature
/// #[tokio::main]
/// async fn main() {
///     sea_tenant::cli::run_cli(
///         tenant_migration::Migrator,
///         owner::tenant_source::<entity::organization::Entity>(),
///         env!("CARGO_MANIFEST_DIR"),
///     )
///     .await
/// }
/// ```
pub fn tenant_source<E>() -> impl crate::AllTenants
where
    E: TenantOwner,
{
    OwnerTenants::<E>(PhantomData)
}

struct OwnerTenants<E>(PhantomData<fn() -> E>);

#[async_trait::async_trait]
impl<E: TenantOwner> crate::AllTenants for OwnerTenants<E> {
    async fn all_tenants(&self, db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
        all_tenants::<E, _>(db).await
    }

    async fn tenant_rows(&self, db: &DatabaseConnection) -> Result<Vec<TenantRow>, DbErr> {
        Ok(by_primary_key::<E>()
            .all(db)
            .await?
            .iter()
            .map(|model| {
                let rendered = E::render(model);
                match rendered.tenant_name() {
                    Err(err @ Error::EmptyTemplateValue { .. }) => TenantRow::Bad(err.to_string()),
                    // An invalid name is reported by the migrator itself, with its value.
                    _ => TenantRow::Name(rendered.into_string()),
                }
            })
            .collect())
    }
}

/// Used by the code `#[tenant]` and `#[sea_tenant::hooks]` generate.
#[doc(hidden)]
pub mod __private {
    pub use super::template::Renderer;

    /// Implemented by `#[sea_tenant::hooks]` alone: an entity declared with `hooks = custom`
    /// checks that its `ActiveModelBehavior` runs sea-tenant's hooks.
    #[diagnostic::on_unimplemented(
        message = "owner entity declared with `hooks = custom`, but its `impl ActiveModelBehavior for {Self}` does not run sea-tenant's hooks",
        label = "`hooks = custom` needs `#[sea_tenant::hooks]` on `impl ActiveModelBehavior for {Self}`",
        note = "add `#[sea_tenant::hooks]` above your `impl ActiveModelBehavior for {Self}`: it runs sea-tenant's hooks around yours (the tenant schema is created, renamed and dropped there)",
        note = "or remove `hooks = custom` and your impl: `#[sea_tenant::tenant]` then writes the impl itself"
    )]
    pub trait HooksRouted {}
}
