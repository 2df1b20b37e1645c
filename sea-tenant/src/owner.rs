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
//! # What the hooks do
//!
//! | operation | hook | statements |
//! |---|---|---|
//! | insert | `before_save` | none; checks a migration set is known, and validates the name if the template's fields are already set (a slug) |
//! | insert | `after_save` | the provisioning script: tenant lock, owner-row check, create/ensure ([`provision`]) |
//! | update touching a template field, new name differs | `before_save` | `SELECT … FOR UPDATE` of the row, then a rename of the schema from the old name to the new one + a checked `UPDATE` of the template fields, in one script |
//! | update touching no template field | – | none (not even a read) |
//! | delete, `drop = true` | `before_delete` | `SELECT … FOR UPDATE` of the row, then a checked `DELETE` of the row + a drop of the schema (cascade), in one script |
//! | delete, default | `before_delete`, `after_delete` | `SELECT … FOR UPDATE` of the row; logs (`tracing`, info) that the schema was kept |
//!
//! # The stored row decides, not the caller's model
//!
//! Renames and drops act on the schema named by the row **as stored** at that moment, read by
//! primary key with `SELECT … FOR UPDATE`; the template values of the caller's model are never
//! used for the old name. A stale model (its row renamed since, and its old name taken by
//! another owner) therefore renames or drops only its own row's schema. The script that acts
//! also checks that the row still holds the values it was read with (`UPDATE`/`DELETE … WHERE
//! pk = … AND slug = …`): inside a transaction the row lock guarantees it; on a pool, where the
//! lock ends with the read, a row changed in between is read again (up to 5 times). A row that
//! is gone touches no schema.
//!
//! With `drop = true` the hook deletes the row itself, in the same script as the drop, so
//! SeaORM's own `DELETE` that follows finds nothing: its `DeleteResult::rows_affected` is 0.
//!
//! # Atomicity, per connection kind
//!
//! **Inside a transaction** (a `DatabaseTransaction`, or an executor or restricted connection
//! on one) every statement above runs in the caller's transaction: a rollback undoes the row
//! and the DDL together, and the caller's `search_path` is unchanged afterwards.
//!
//! **On a pool** (`DatabaseConnection`) each statement is its own transaction, so:
//! - *insert*: the template may use fields the database assigns (`id`), so provisioning can
//!   only run after the `INSERT` committed. Provisioning itself is one script, hence atomic,
//!   and it runs under the tenant's advisory lock like every other creator of a schema (the
//!   migrator's `--create-missing`, either ensure function). A deploy that saw the new row and
//!   created its schema first is not an error: the script uses that schema (it was created
//!   after the row) and applies any migration it still lacks. A schema older than the row
//!   (left over from an earlier owner of the name) is refused with [`Error::SchemaExists`].
//!   If provisioning fails, the hook deletes the row again (compensation) and returns the
//!   error. A crash between the two leaves a row without a schema:
//!   [`provision::provision_tenant_on`] (or the migrator's `--create-missing`) repairs it.
//! - *rename*: done in `before_save`, as one script that renames the schema **and** writes
//!   the new template values to the row, so row and schema change together or not at all.
//!   SeaORM's own `UPDATE` follows and writes the same values again with the other changed
//!   columns; if that one fails, row and schema still agree.
//! - *drop*: the row's `DELETE` and the schema's drop are one script, so a refused delete (a
//!   foreign key pointing at the row) never costs the tenant's data, and a dropped schema
//!   never leaves its row behind.
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
    DbErr, EntityTrait, Iterable, ModelTrait, PrimaryKeyToColumn, QueryFilter, QuerySelect,
    QueryTrait,
};

pub use migrations::{MigrationSet, migrations_of, register_migrations};
pub use sea_tenant_macros::{hooks, tenant};
pub use template::RenderedName;

mod migrations;
mod template;

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

/// How often a hook reads an owner row again after it changed between the read and the
/// script acting on it (possible only on a pool, where the read's row lock ends with it).
const ATTEMPTS: usize = 5;

/// The `before_save` hook. On an update that changes the tenant name, renames the schema
/// (see the [module docs](self)); otherwise passes `am` through.
///
/// The old name is rendered from the row as stored (read with `SELECT … FOR UPDATE`), never
/// from `am`, and the rename script only proceeds if the row still holds those values.
pub async fn before_save<E, C>(
    am: E::ActiveModel,
    db: &C,
    insert: bool,
) -> Result<E::ActiveModel, DbErr>
where
    E: TenantOwner,
    C: ConnectionTrait,
{
    if insert {
        if E::OPTIONS.create {
            // Checked now, so that a row that cannot be provisioned is never written: the
            // migration set, and a name made of fields known before the INSERT (a slug).
            migrations_of::<E>().map_err(into_db_err)?;
            if let Some(rendered) = E::render_active(&am) {
                rendered.tenant_name().map_err(into_db_err)?;
            }
        }
        return Ok(am);
    }
    if !E::OPTIONS.rename || !E::template_set(&am) {
        return Ok(am);
    }
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let stored = load_locked::<E, C>(&am, db).await?.ok_or_else(|| {
            DbErr::RecordNotFound(format!(
                "sea-tenant owner hook: no {} row with this primary key",
                E::default().table_name()
            ))
        })?;
        let old_name = E::tenant_of(&stored).map_err(into_db_err)?;
        // The stored row with the fields `am` sets: the row as the UPDATE will leave it.
        let merged = overlay::<E>(Some(&am), &stored)?;
        let rendered = E::render_active(&merged).ok_or_else(|| {
            into_db_err(Error::IncompleteTemplate {
                template: E::TEMPLATE,
            })
        })?;
        let new_name = rendered.tenant_name().map_err(into_db_err)?;
        if new_name == old_name {
            return Ok(am);
        }
        // The row's template fields are written in the same script as the rename, and only
        // if the row still holds the values the old name was rendered from: on a pool this is
        // the only way the two commit together (see the module docs).
        let pk = pk_condition::<E>(|col| Some(stored.get(col)))?;
        let update = E::update_many()
            .set(E::template_update(&merged))
            .filter(pk.add(template_condition::<E>(&stored)?))
            .build(DbBackend::Postgres)
            .to_string();
        let guard = guarded_block(
            &format!(
                "{update};\nIF NOT FOUND THEN RAISE EXCEPTION USING ERRCODE = '{ROW_CHANGED}', \
                 MESSAGE = 'sea-tenant: owner row changed while its schema was renamed'; END IF;"
            ),
            &old_name,
        )?;
        if provision::rename_with(db, &old_name, &new_name, &guard)
            .await
            .map_err(into_db_err)?
        {
            tracing::info!(from = %old_name, to = %new_name, "renamed tenant schema");
            return Ok(am);
        }
        tracing::debug!(tenant = %old_name, "owner row changed during a rename; reading it again");
        last = Some(old_name);
    }
    Err(into_db_err(changed_too_often::<E>(last)))
}

/// The `after_save` hook. On an insert, provisions the row's tenant; if that fails, deletes
/// the row again (on a pool it has committed already) and returns the error.
///
/// Provisioning runs under the tenant's advisory lock, with the owner row locked (`FOR
/// SHARE`; a row deleted meanwhile gets no schema). A schema that exists already is used if
/// it was created after the row (a `--create-missing` deploy or an `ensure` that saw the new
/// row got there first) and its missing migrations are applied; one that predates the row
/// (left over from an earlier owner of the name) is refused with [`Error::SchemaExists`].
pub async fn after_save<E, C>(model: E::Model, db: &C, insert: bool) -> Result<E::Model, DbErr>
where
    E: TenantOwner,
    C: ConnectionTrait,
{
    if !insert || !E::OPTIONS.create {
        return Ok(model);
    }
    let provisioned = async {
        let script = migrations_of::<E>()?.script().await?;
        let name = E::tenant_of(&model)?;
        let guard = owner_guard_sql::<E>(&model, &name)?;
        provision::provision_owned_on(db, &script, &name, &guard).await?;
        Ok::<_, Error>(name)
    }
    .await;
    match provisioned {
        Ok(name) => {
            tracing::info!(tenant = %name, "created tenant schema");
            Ok(model)
        }
        Err(err) => {
            // On a pool this removes the committed row. Inside a transaction the failed
            // script aborted the transaction, so this DELETE fails too and the caller's
            // rollback removes the row; either way the original error is the one to report.
            let compensated = delete_row::<E, C>(&model, db).await;
            if let Err(delete_err) = compensated {
                tracing::debug!(error = %delete_err, "compensating delete of the owner row failed");
            }
            Err(into_db_err(err))
        }
    }
}

/// The `before_delete` hook. Reads the row as stored (`SELECT … FOR UPDATE`), whatever `am`
/// holds. With `drop = true` it deletes the row and drops the schema rendered from the stored
/// values in one script, which only deletes the row if it still holds those values; SeaORM's
/// own `DELETE` then finds nothing (`rows_affected` is 0). A row that is gone already touches
/// no schema.
pub async fn before_delete<E, C>(am: E::ActiveModel, db: &C) -> Result<E::ActiveModel, DbErr>
where
    E: TenantOwner,
    C: ConnectionTrait,
{
    if !E::OPTIONS.drop {
        // Only for after_delete's log line: the name of the stored row.
        return match load_locked::<E, C>(&am, db).await? {
            Some(stored) => overlay::<E>(None, &stored),
            None => Ok(am),
        };
    }
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let Some(stored) = load_locked::<E, C>(&am, db).await? else {
            // Deleted meanwhile, with its schema if it had one: nothing to do.
            return Ok(am);
        };
        // A row whose name never was valid never had a schema: SeaORM deletes the row.
        let Ok(name) = E::tenant_of(&stored) else {
            return overlay::<E>(None, &stored);
        };
        let pk = pk_condition::<E>(|col| Some(stored.get(col)))?;
        let delete = E::delete_many()
            .filter(pk.clone().add(template_condition::<E>(&stored)?))
            .build(DbBackend::Postgres)
            .to_string();
        let still_there = E::find()
            .select_only()
            .expr(Expr::cust("1"))
            .filter(pk)
            .build(DbBackend::Postgres)
            .to_string();
        let block = guarded_block(
            &format!(
                "{delete};\nIF FOUND THEN {drop};\n\
                 ELSIF EXISTS ({still_there}) THEN RAISE EXCEPTION USING ERRCODE = \
                 '{ROW_CHANGED}', MESSAGE = 'sea-tenant: owner row changed while being deleted'; \
                 END IF;",
                drop = tenant_sql::drop_schema(&name)
            ),
            &name,
        )?;
        // The tenant's lock first, as everywhere (see `tenant_sql.rs`).
        let sql = format!("{};\n{block}", tenant_sql::lock_tenant(&name));
        match db.execute_unprepared(&sql).await {
            Ok(_) => {
                tracing::info!(tenant = %name, "dropped tenant schema with its owner row");
                return overlay::<E>(None, &stored);
            }
            // Refused deletes (a foreign key) come back as SeaORM's own DELETE would fail.
            Err(err) if sqlstate(&err).as_deref() != Some(ROW_CHANGED) => return Err(err),
            Err(_) => {
                tracing::debug!(tenant = %name, "owner row changed during a delete; reading it again");
                last = Some(name);
            }
        }
    }
    Err(into_db_err(changed_too_often::<E>(last)))
}

/// The `after_delete` hook. With `drop = true` the schema went with the row in
/// [`before_delete`]; otherwise logs that it was kept.
pub async fn after_delete<E, C>(am: E::ActiveModel, _db: &C) -> Result<E::ActiveModel, DbErr>
where
    E: TenantOwner,
    C: ConnectionTrait,
{
    if E::OPTIONS.drop {
        return Ok(am);
    }
    if let Some(name) = E::render_active(&am).and_then(|rendered| rendered.tenant_name().ok()) {
        tracing::info!(tenant = %name, "owner row deleted; tenant schema kept (drop = false)");
    }
    Ok(am)
}

/// Provisions the tenant of an owner row written without hooks (`insert_many`, a raw
/// `INSERT`) from the owner's migration set (registered, or named by `migrator = …`): the
/// same rendered script as [`provision::provision_tenant_on`], which it calls with the name
/// the row's template gives: creates the schema if missing and applies pending migrations.
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
    let script = migrations_of::<E>()?.script().await?;
    let name = E::tenant_of(model)?;
    provision::provision_owned_on(db, &script, &name, "").await?;
    Ok(name)
}

/// Every owner row's tenant name, rendered from the template and **not** validated (a row
/// with an empty placeholder value gives the template's bare text): [`tenant_source`] is the
/// checked listing for the migrator.
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
    Ok(E::find()
        .all(db)
        .await?
        .iter()
        .map(|model| E::render(model).into_string())
        .collect())
}

/// The owner rows as the tenant source of a [`TenantMigrator`](crate::TenantMigrator) or of
/// the tenant CLI, so the template is written once, on the entity, not again as SQL. A row
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
        Ok(E::find()
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

/// `WHERE pk1 = … AND pk2 = …`, the values taken from `value_of`.
fn pk_condition<E: EntityTrait>(
    mut value_of: impl FnMut(E::Column) -> Option<sea_orm::Value>,
) -> Result<Condition, DbErr> {
    let mut condition = Condition::all();
    for key in E::PrimaryKey::iter() {
        let column = key.into_column();
        let value = value_of(column).ok_or(DbErr::PrimaryKeyNotSet {
            ctx: "sea-tenant owner hook",
        })?;
        condition = condition.add(column.eq(value).into_condition());
    }
    Ok(condition)
}

/// The stored row `am` refers to, locked for the rest of the caller's transaction
/// (`SELECT … FOR UPDATE`; on a pool the lock ends with the statement, and the scripts that
/// act on the row check its values again).
async fn load_locked<E, C>(am: &E::ActiveModel, db: &C) -> Result<Option<E::Model>, DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let condition = pk_condition::<E>(|col| am.get(col).into_value())?;
    E::find().filter(condition).lock_exclusive().one(db).await
}

/// An active model with every column set: from `am` where it sets one, else from `stored`.
fn overlay<E: EntityTrait>(
    am: Option<&E::ActiveModel>,
    stored: &E::Model,
) -> Result<E::ActiveModel, DbErr> {
    let mut out = <E::ActiveModel as ActiveModelTrait>::default();
    for column in E::Column::iter() {
        let value = match am.map(|am| am.get(column)) {
            Some(ActiveValue::Set(value)) => value,
            _ => stored.get(column),
        };
        out.try_set(column, value)?;
    }
    Ok(out)
}

/// `WHERE field = …` for every template field, the values taken from `stored`.
fn template_condition<E: TenantOwner>(stored: &E::Model) -> Result<Condition, DbErr> {
    let fields = E::template_update(&overlay::<E>(None, stored)?);
    let mut condition = Condition::all();
    for column in E::Column::iter() {
        if let ActiveValue::Set(value) = fields.get(column) {
            condition = condition.add(column.eq(value).into_condition());
        }
    }
    Ok(condition)
}

/// `body` as a PL/pgSQL `DO` block, under a dollar-quote tag that does not occur in it.
fn guarded_block(body: &str, tenant: &TenantName) -> Result<String, DbErr> {
    let block = format!("BEGIN\n{body}\nEND");
    let tag = provision::dollar_tag(&block, tenant.as_str()).map_err(into_db_err)?;
    Ok(format!("DO {tag}{block}{tag}"))
}

/// The check that runs under the tenant's lock before an owner row's schema is provisioned:
/// the row must still exist (it is locked `FOR SHARE` until the provisioning commits), and a
/// schema of its name must not predate it. `age(xmin)` compares the transactions that wrote
/// the row and the schema's catalog entry: a schema written later was created for this row
/// (by a deploy or an `ensure` that listed it), an older one was left by an earlier owner.
fn owner_guard_sql<E: TenantOwner>(model: &E::Model, name: &TenantName) -> Result<String, Error> {
    let pk = pk_condition::<E>(|col| Some(model.get(col)))?;
    let row_age = E::find()
        .select_only()
        .expr(Expr::cust("pg_catalog.age(xmin)"))
        .filter(pk)
        .lock_shared()
        .build(DbBackend::Postgres)
        .to_string();
    let body = format!(
        "DECLARE row_age integer;\nBEGIN\nrow_age := ({row_age});\n\
         IF row_age IS NULL THEN RAISE EXCEPTION USING ERRCODE = '{ROW_GONE}', MESSAGE = {gone};\n\
         END IF;\n\
         IF {leftover} THEN RAISE EXCEPTION USING ERRCODE = \
         '{DUPLICATE_SCHEMA}', MESSAGE = {exists};\nEND IF;\nEND",
        leftover = tenant_sql::schema_at_least_as_old(name, "row_age"),
        gone = quote_literal(&format!("owner row of tenant {name} is gone")),
        exists = quote_literal(&format!(
            "schema {} already exists and predates its owner row",
            name.quoted()
        )),
    );
    let tag = provision::dollar_tag(&body, name.as_str())?;
    Ok(format!("DO {tag}{body}{tag}"))
}

fn changed_too_often<E: EntityTrait>(tenant: Option<TenantName>) -> Error {
    let source = DbErr::Custom(format!(
        "sea-tenant owner hook: the {} row kept changing while its tenant schema was being \
         renamed or dropped; nothing was done",
        E::default().table_name()
    ));
    match tenant {
        Some(tenant) => Error::Tenant { tenant, source },
        None => Error::Db(source),
    }
}

async fn delete_row<E, C>(model: &E::Model, db: &C) -> Result<(), DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
{
    let condition = pk_condition::<E>(|col| Some(model.get(col)))?;
    E::delete_many()
        .filter(condition)
        .exec(db)
        .await
        .map(|_| ())
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
