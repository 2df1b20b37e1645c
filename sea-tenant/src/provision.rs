//! Creating, renaming and dropping a tenant schema on *any* connection, including inside a
//! caller's transaction.
//!
//! SeaORM's `ActiveModelBehavior` hooks only receive `&C` with `C: ConnectionTrait`: there is
//! no `TransactionTrait`, and sea-orm-migration's `SchemaManager` only accepts a
//! `&DatabaseConnection`, a `&DatabaseTransaction` or a `DatabaseExecutor`. So provisioning
//! takes one of two paths, chosen per migration set.
//!
//! # The script path (the fast one)
//!
//! Each `MigratorTrait` set is first *rendered*: every migration's `up` runs against a
//! recording connection (sea-orm's `mock` connection, driven by a recorder of ours,
//! `provision/recorder.rs`) that keeps the text of each statement it is asked to execute. If
//! no migration reads, the result is cached per migrator type, and provisioning a tenant
//! sends one script through [`ConnectionTrait::execute_unprepared`], i.e. PostgreSQL's simple
//! query protocol, on whatever connection it is given:
//!
//! - on a pool (`DatabaseConnection`), a multi-statement simple query runs as **one implicit
//!   transaction**: either the whole script commits or nothing of it does;
//! - inside a caller's transaction (`DatabaseTransaction`, or an executor / restricted
//!   connection wrapping one), the script runs **in that transaction** and commits or rolls
//!   back with it (a failed script aborts that transaction, as any failed statement does).
//!
//! The script moves `search_path` to the tenant with `set_config(…, true)` (transaction-local,
//! so it can never leak into a pooled connection), and restores the caller's value at its
//! end: a caller's transaction keeps its own `search_path`. The caller's value is stashed in
//! the custom setting `sea_tenant.saved_search_path`, also transaction-local, so the script
//! needs no round trip to read it first.
//!
//! # The live path (for sets that read)
//!
//! A migration that reads while running `up` (`manager.has_column(…)`, `has_table`, a seed
//! through an entity's `ActiveModel::insert`, which is an `INSERT … RETURNING`) cannot be
//! rendered: a script cannot answer a read. Rendering notices the first read and caches that
//! *fact* for the set (never statements), and provisioning then runs the migrations for real,
//! on every tenant, in one transaction, with the same opening and closing statements as the
//! script (lock, owner-row check, schema, search path, version rows, fingerprint):
//!
//! - on a `DatabaseConnection` it opens a transaction of its own and commits it;
//! - in a `DatabaseTransaction` it uses a savepoint, released on success (so the work commits
//!   or rolls back with the caller's transaction) and rolled back on failure, which leaves the
//!   caller's transaction usable; the caller's `search_path` is put back;
//! - a `DatabaseExecutor` is taken for the pool or transaction it wraps;
//! - any other connection type (`RestrictedConnection`, an application's wrapper) gives
//!   [`Error::LiveProvisioning`] before anything is sent: the migrations need a transaction
//!   that such a connection cannot be asked for.
//!
//! Either way a tenant is provisioned whole or not at all, under the tenant's advisory lock.
//!
//! # Limits
//!
//! - Statements that PostgreSQL refuses inside a transaction block (`CREATE INDEX
//!   CONCURRENTLY`, `VACUUM`, …) fail on both paths, as they would in the migrator's
//!   per-migration transactions.
//! - The rendered SQL is the statements' text with their parameters inlined by sea-query.
//! - A migration's `up` runs once per process while its set is rendered (against the
//!   recording connection, which executes nothing): side effects outside the database (a
//!   log line, a file) happen then too.

use std::sync::Mutex;

use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::MigratorTrait;

use crate::tenant_sql::{
    self, Creation, DUPLICATE_SCHEMA, MISSING_SCHEMA, ROW_CHANGED, ROW_GONE, sqlstate,
};
use crate::{Error, Result, TenantName};
use plan::Plan;

mod concrete;
mod live;
mod migration_set;
mod plan;
mod recorder;
mod script;
mod top_level;

pub use crate::tenants::schema_exists;
pub use migration_set::MigrationSet;
pub use script::MigrationScript;

/// The cached data stays valid even if a thread panicked while holding the lock.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn push(sql: &mut String, statement: &str) {
    sql.push_str(statement.trim_end().trim_end_matches(';'));
    sql.push_str(";\n");
}

/// A dollar-quote tag that does not occur in `body`.
pub(crate) fn dollar_tag(body: &str, migration: &str) -> Result<String> {
    (0..100)
        .map(|i| format!("$sea_tenant_{i}$"))
        .find(|tag| !body.contains(tag.as_str()))
        .ok_or_else(|| Error::ProvisionScript {
            subject: migration.to_owned(),
            reason: "no free dollar-quote tag".to_owned(),
        })
}

/// Creates the schema `tenant`, applies every migration of `M` and records them in the
/// tenant's version table, all at once on `db`: one script, or for a set that reads, one
/// transaction of its own on a pool or a savepoint in the caller's transaction (see the
/// [module docs](self)).
///
/// Fails with [`Error::SchemaExists`] if the schema exists already: a leftover schema (e.g.
/// kept after its owner row was deleted) is never handed to a new owner silently.
///
/// ```no_run
/// # use sea_orm_migration::prelude::*;
/// # struct TenantMigrations;
/// # impl MigratorTrait for TenantMigrations {
/// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// # }
/// use sea_orm::TransactionTrait;
/// use sea_tenant::{TenantName, provision};
///
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// let txn = db.begin().await?;
/// provision::create_tenant_on::<TenantMigrations, _>(&txn, &TenantName::new("org_7")?).await?;
/// txn.commit().await?;
/// # Ok(()) }
/// ```
pub async fn create_tenant_on<M, C>(db: &C, tenant: &TenantName) -> Result<()>
where
    M: MigratorTrait + 'static,
    C: ConnectionTrait,
{
    let set = MigrationSet::of::<M>();
    // Rendered (or found live) before anything is sent.
    let plan = plan::of(&set).await?;
    // Checked first without the lock too: inside a caller's transaction this answers the
    // common case without a failed statement (which would abort that transaction). The
    // provisioning checks again under the lock.
    if schema_exists(db, tenant).await? {
        return Err(Error::SchemaExists {
            tenant: tenant.clone(),
        });
    }
    provision_with(db, &set, plan, tenant, Creation::New).await
}

/// Provisions the tenant of an owner row with `set`: under the tenant's lock, runs `guard`
/// (which checks the row and refuses a leftover schema), then creates the schema if missing
/// and applies the pending migrations. A schema a concurrent deploy created for the row is
/// used.
pub(crate) async fn provision_owned_on<C: ConnectionTrait>(
    db: &C,
    set: &MigrationSet,
    tenant: &TenantName,
    guard: &str,
) -> Result<()> {
    let plan = plan::of(set).await?;
    provision_with(db, set, plan, tenant, Creation::Ensure { guard }).await
}

/// The one place that picks the path: `plan`'s script in one statement, or a live run.
async fn provision_with<C: ConnectionTrait>(
    db: &C,
    set: &MigrationSet,
    plan: Plan,
    tenant: &TenantName,
    creation: Creation<'_>,
) -> Result<()> {
    match plan {
        Plan::Script(script) if crate::citus::is_citus(db).await? => {
            tracing::debug!(%tenant, set = set.name(), how = "citus", "provisioning a tenant");
            let guard = match creation {
                Creation::New => tenant_sql::refuse_existing_schema(tenant),
                Creation::Ensure { guard } => guard.to_owned(),
            };
            top_level::provision(db, &script, tenant, &guard).await?;
        }
        Plan::Script(script) => {
            tracing::debug!(%tenant, set = set.name(), how = "script", "provisioning a tenant");
            db.execute_unprepared(&script.sql_for(tenant, creation)?)
                .await
                .map_err(|e| classify(e, tenant, tenant))?;
        }
        Plan::Live(live) => {
            tracing::debug!(%tenant, set = set.name(), how = "live", migration = %live.reader, "provisioning a tenant");
            live::provision(db, &live, tenant, creation).await?;
        }
    }
    Ok(())
}

/// Creates the schema `tenant` if it is missing and applies the migrations of `M` that its
/// version table does not list, under the tenant's advisory lock: from `M`'s rendered script,
/// one statement on `db`, the way to ensure a tenant on any connection; or, for a set that
/// reads the database, by running the pending migrations live (see the [module docs](self)).
///
/// On a pool the work is one transaction: all of it commits or none of it does. Inside a
/// caller's transaction (a `DatabaseTransaction`, or an executor on one) it is part of that
/// transaction and commits or rolls back with it; the caller's `search_path` is kept. A set
/// that reads needs one of those two connection types ([`Error::LiveProvisioning`]
/// otherwise). Idempotent, and safe to run concurrently with itself,
/// [`migrate_tenant`](crate::migrate_tenant), the migrator and the owner hooks on the same
/// tenant.
///
/// It is the repair for owner rows whose hooks did not run (`insert_many`, a crash between an
/// insert and its provisioning), named with [`TenantOwner::tenant_of`]
/// ([`owner::provision_owned_tenant`](crate::owner::provision_owned_tenant) does both steps
/// with the owner's migration set):
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
/// use sea_tenant::owner::TenantOwner;
/// use sea_tenant::provision;
///
/// type Organization = organization::Entity;
///
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// for org in Organization::find().all(db).await? {
///     let tenant = Organization::tenant_of(&org)?;
///     provision::provision_tenant_on::<organization::M, _>(db, &tenant)
///         .await?;
/// }
/// # Ok(()) }
/// ```
///
/// [`TenantOwner::tenant_of`]: crate::owner::TenantOwner::tenant_of
pub async fn provision_tenant_on<M, C>(db: &C, tenant: &TenantName) -> Result<()>
where
    M: MigratorTrait + 'static,
    C: ConnectionTrait,
{
    provision_owned_on(db, &MigrationSet::of::<M>(), tenant, "").await
}

/// Renames the schema `from` to `to` on `db`, under both tenants' locks. Fails with
/// [`Error::SchemaExists`] if `to` exists, [`Error::MissingSchema`] if `from` does not.
///
/// ```no_run
/// use sea_tenant::{TenantName, provision};
///
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// provision::rename_tenant_on(db, &TenantName::new("org_acme")?, &TenantName::new("org_acme2")?)
///     .await?;
/// # Ok(()) }
/// ```
pub async fn rename_tenant_on<C: ConnectionTrait>(
    db: &C,
    from: &TenantName,
    to: &TenantName,
) -> Result<()> {
    rename_with(db, from, to, "").await.map(|_| ())
}

/// [`rename_tenant_on`] with `guard`, SQL run under the locks before the rename that must
/// commit or fail together with it (the owner row's checked update), in the same script.
/// `Ok(false)`: the guard raised `serialization_failure` (the owner row changed since it was
/// read), nothing was done.
pub(crate) async fn rename_with<C: ConnectionTrait>(
    db: &C,
    from: &TenantName,
    to: &TenantName,
    guard: &str,
) -> Result<bool> {
    // Checked first without the locks (see `create_tenant_on`), then again under them.
    if schema_exists(db, to).await? {
        return Err(Error::SchemaExists { tenant: to.clone() });
    }
    if !schema_exists(db, from).await? {
        return Err(Error::MissingSchema {
            tenant: from.clone(),
        });
    }
    let mut sql = String::new();
    push(&mut sql, &tenant_sql::lock_tenants(from, to));
    if !guard.trim().is_empty() {
        push(&mut sql, guard);
    }
    push(&mut sql, &tenant_sql::refuse_existing_schema(to));
    push(&mut sql, &tenant_sql::require_existing_schema(from));
    for statement in tenant_sql::rename_tenant(from, to, crate::strict::current().as_deref()) {
        push(&mut sql, &statement);
    }
    match db.execute_unprepared(&sql).await {
        Ok(_) => Ok(true),
        Err(e) if sqlstate(&e).as_deref() == Some(ROW_CHANGED) => Ok(false),
        Err(e) => Err(classify(e, from, to)),
    }
}

/// Drops the schema `tenant` with everything in it, if it exists, under the tenant's lock.
///
/// ```no_run
/// use sea_tenant::{TenantName, provision};
///
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// provision::drop_tenant_on(db, &TenantName::new("org_7")?).await?;
/// # Ok(()) }
/// ```
pub async fn drop_tenant_on<C: ConnectionTrait>(db: &C, tenant: &TenantName) -> Result<()> {
    let mut sql = String::new();
    push(&mut sql, &tenant_sql::lock_tenant(tenant));
    for statement in tenant_sql::drop_tenant(tenant, crate::strict::current().as_deref()) {
        push(&mut sql, &statement);
    }
    db.execute_unprepared(&sql)
        .await
        .map_err(Error::tenant_db(tenant))?;
    Ok(())
}

/// Turns the SQLSTATEs sea-tenant's scripts raise into typed errors: `duplicate_schema` is
/// about `to` (the schema to be created), `invalid_schema_name` about `from`.
fn classify(err: DbErr, from: &TenantName, to: &TenantName) -> Error {
    match sqlstate(&err).as_deref() {
        Some(DUPLICATE_SCHEMA) => Error::SchemaExists { tenant: to.clone() },
        Some(MISSING_SCHEMA) => Error::MissingSchema {
            tenant: from.clone(),
        },
        Some(ROW_GONE) => Error::OwnerRowGone { tenant: to.clone() },
        _ => crate::citus::classify(err, from, None, |source| Error::Tenant {
            tenant: from.clone(),
            source,
        }),
    }
}
