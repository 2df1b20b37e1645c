//! Creating, renaming and dropping a tenant schema on *any* connection, including inside a
//! caller's transaction.
//!
//! # Why a script
//!
//! SeaORM's `ActiveModelBehavior` hooks only receive `&C` with `C: ConnectionTrait`: there is
//! no `TransactionTrait`, and sea-orm-migration's `SchemaManager` only accepts a
//! `&DatabaseConnection`, a `&DatabaseTransaction` or a `DatabaseExecutor`. So a migration set
//! cannot be run on the hook's connection directly, and the hook cannot open a transaction
//! of its own.
//!
//! Instead, each `MigratorTrait` set is *rendered* once into SQL: every migration's `up` runs
//! against a recording connection (sea-orm's `mock` connection, driven by a recorder of ours,
//! `provision/recorder.rs`) that keeps the text of each statement it is asked to execute and
//! refuses reads. The result is cached per migrator
//! type. Provisioning a tenant then sends one script through
//! [`ConnectionTrait::execute_unprepared`], i.e. PostgreSQL's simple query protocol:
//!
//! - on a pool (`DatabaseConnection`), a multi-statement simple query runs as **one implicit
//!   transaction**: either the whole script commits or nothing of it does;
//! - inside a caller's transaction (`DatabaseTransaction`, or an executor / restricted
//!   connection wrapping one), the script runs **in that transaction** and commits or rolls
//!   back with it.
//!
//! The script moves `search_path` to the tenant with `set_config(…, true)` (transaction-local,
//! so it can never leak into a pooled connection), and restores the caller's value at its
//! end: a caller's transaction keeps its own `search_path`. The caller's value is stashed in
//! the custom setting `sea_tenant.saved_search_path`, also transaction-local, so the script
//! needs no round trip to read it first.
//!
//! # Limits
//!
//! - A migration that reads from the database while running `up` (e.g.
//!   `manager.has_table(…)`) cannot be rendered: [`Error::ProvisionScript`] names it. Use the
//!   migrator ([`migrate_tenant`](crate::migrate_tenant)) for such sets.
//! - Statements that PostgreSQL refuses inside a transaction block (`CREATE INDEX
//!   CONCURRENTLY`, `VACUUM`, …) fail here, as they would in the migrator's per-migration
//!   transactions.
//! - The rendered SQL is the statements' text with their parameters inlined by sea-query, so
//!   a migration must not depend on values it would read back.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait, SchemaManager};

use crate::migrator::version_table::VersionTable;
use crate::name::quote_literal;
use crate::tenant_sql::{
    self, DUPLICATE_SCHEMA, MISSING_SCHEMA, ROW_CHANGED, ROW_GONE, SAVE_SEARCH_PATH, sqlstate,
};
use crate::{DEFAULT_VERSION_TABLE, Error, Result, TenantName};

mod recorder;
mod top_level;

/// The SQL of a migration set, as rendered by [`MigrationScript::of`].
#[derive(Debug, Clone)]
pub struct MigrationScript {
    steps: Vec<Step>,
}

#[derive(Debug, Clone)]
struct Step {
    name: String,
    statements: Vec<String>,
}

static RENDERED: LazyLock<Mutex<HashMap<TypeId, Arc<MigrationScript>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

impl MigrationScript {
    /// Renders the migration set `M` (once per process; later calls return the cached copy).
    ///
    /// ```
    /// # use sea_orm_migration::prelude::*;
    /// # struct Empty;
    /// # impl MigratorTrait for Empty {
    /// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
    /// # }
    /// # async fn demo() -> sea_tenant::Result<()> {
    /// let script = sea_tenant::provision::MigrationScript::of::<Empty>().await?;
    /// assert!(script.versions().is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn of<M: MigratorTrait + 'static>() -> Result<Arc<MigrationScript>> {
        Self::cached(TypeId::of::<M>(), M::migrations).await
    }

    /// [`MigrationScript::of`] for the set whose type is `key` and whose `migrations()` is
    /// `migrations`.
    pub(crate) async fn cached(
        key: TypeId,
        migrations: fn() -> Vec<Box<dyn MigrationTrait>>,
    ) -> Result<Arc<MigrationScript>> {
        if let Some(script) = cache().get(&key) {
            return Ok(script.clone());
        }
        // Two callers may both render on a cold cache; the results are identical, so the
        // second insert is harmless and cheaper than holding a lock across awaits.
        let script = Arc::new(Self::render(migrations).await?);
        cache().insert(key, script.clone());
        Ok(script)
    }

    async fn render(migrations: fn() -> Vec<Box<dyn MigrationTrait>>) -> Result<MigrationScript> {
        let (db, log) = recorder::connect();
        let manager = SchemaManager::new(&db);
        let mut steps = Vec::new();
        for migration in migrations() {
            let name = migration.name().to_owned();
            migration
                .up(&manager)
                .await
                .map_err(|e| Error::ProvisionScript {
                    subject: format!("migration {name}"),
                    reason: format!("it must only execute statements, not read: {e}"),
                })?;
            let statements = log.take();
            steps.push(Step { name, statements });
        }
        Ok(MigrationScript { steps })
    }

    /// The migrations' names, in order.
    pub fn versions(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name.as_str()).collect()
    }

    /// A script that takes the tenant's advisory lock, creates the schema `tenant` (failing
    /// with SQLSTATE `42P06` if it exists), its version table, applies every migration and
    /// records each one.
    ///
    /// ```
    /// # use sea_orm_migration::prelude::*;
    /// # struct Empty;
    /// # impl MigratorTrait for Empty {
    /// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
    /// # }
    /// # async fn demo() -> sea_tenant::Result<()> {
    /// use sea_tenant::{TenantName, provision::MigrationScript};
    ///
    /// let sql = MigrationScript::of::<Empty>().await?.create_sql(&TenantName::new("org_7")?);
    /// assert!(sql.contains("\"org_7\""));
    /// # Ok(()) }
    /// ```
    pub fn create_sql(&self, tenant: &TenantName) -> String {
        let table = VersionTable::new(tenant, DEFAULT_VERSION_TABLE);
        let mut sql = String::new();
        // The lock first, before anything looks the name up (see `tenant_sql.rs`).
        push(&mut sql, &tenant_sql::lock_tenant(tenant));
        push(&mut sql, &tenant_sql::refuse_existing_schema(tenant));
        push(&mut sql, SAVE_SEARCH_PATH);
        push(&mut sql, &tenant_sql::create_schema(tenant));
        push(&mut sql, &tenant_sql::set_tenant_path(tenant));
        push(&mut sql, &table.create_if_missing_sql());
        for step in &self.steps {
            for statement in &step.statements {
                push(&mut sql, statement);
            }
            push(&mut sql, &table.insert_sql(&step.name));
        }
        push(&mut sql, &table.fingerprint_sql());
        push(&mut sql, &tenant_sql::restore_search_path());
        sql
    }

    /// A script that creates the schema `tenant` and its version table if missing, and
    /// applies each migration the version table does not list, under the tenant's advisory
    /// lock. Idempotent: a schema that a concurrent caller just created is simply used.
    pub fn provision_sql(&self, tenant: &TenantName) -> Result<String> {
        self.guarded_provision_sql(tenant, "")
    }

    /// [`MigrationScript::provision_sql`] with `guard`, SQL run right after the lock is taken and
    /// before anything is created, that may abort the script (an owner-row check).
    pub(crate) fn guarded_provision_sql(&self, tenant: &TenantName, guard: &str) -> Result<String> {
        let table = VersionTable::new(tenant, DEFAULT_VERSION_TABLE);
        let mut sql = String::new();
        // The lock first, before anything looks the name up (see `tenant_sql.rs`).
        push(&mut sql, &tenant_sql::lock_tenant(tenant));
        if !guard.trim().is_empty() {
            push(&mut sql, guard);
        }
        push(&mut sql, SAVE_SEARCH_PATH);
        push(&mut sql, &tenant_sql::create_schema_if_missing(tenant));
        push(&mut sql, &tenant_sql::set_tenant_path(tenant));
        push(&mut sql, &table.create_if_missing_sql());
        // The pending check has to happen inside the script (not by reading the version table
        // first), otherwise two callers could both see a migration as pending.
        for step in &self.steps {
            let mut body = String::new();
            for statement in &step.statements {
                let tag = dollar_tag(statement, &step.name)?;
                let _ = writeln!(body, "EXECUTE {tag}{statement}{tag};");
            }
            let _ = writeln!(body, "{};", table.insert_sql(&step.name));
            let block = format!(
                "IF NOT EXISTS (SELECT 1 FROM {} WHERE version = {}) THEN\n{body}END IF;",
                table.qualified(),
                quote_literal(&step.name)
            );
            let tag = dollar_tag(&block, &step.name)?;
            push(&mut sql, &format!("DO {tag}BEGIN\n{block}\nEND{tag}"));
        }
        push(&mut sql, &table.fingerprint_sql());
        push(&mut sql, &tenant_sql::restore_search_path());
        Ok(sql)
    }
}

fn cache() -> std::sync::MutexGuard<'static, HashMap<TypeId, Arc<MigrationScript>>> {
    lock(&RENDERED)
}

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
/// tenant's version table, all in one script on `db` (see the module docs for why this is
/// atomic on a pool and part of the caller's transaction otherwise).
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
    let script = MigrationScript::of::<M>().await?;
    // Checked first without the lock too: inside a caller's transaction this answers the
    // common case without a failed statement (which would abort that transaction). The
    // script checks again under the lock.
    if schema_exists(db, tenant).await? {
        return Err(Error::SchemaExists {
            tenant: tenant.clone(),
        });
    }
    if crate::citus::is_citus(db).await? {
        let refuse = tenant_sql::refuse_existing_schema(tenant);
        return top_level::provision(db, &script, tenant, &refuse).await;
    }
    db.execute_unprepared(&script.create_sql(tenant))
        .await
        .map_err(|e| classify(e, tenant, tenant))?;
    Ok(())
}

/// Provisions the tenant of an owner row: under the tenant's lock, runs `guard` (which
/// checks the row and refuses a leftover schema), then creates the schema if missing and
/// applies the pending migrations. A schema a concurrent deploy created for the row is used.
pub(crate) async fn provision_owned_on<C: ConnectionTrait>(
    db: &C,
    script: &MigrationScript,
    tenant: &TenantName,
    guard: &str,
) -> Result<()> {
    if crate::citus::is_citus(db).await? {
        return top_level::provision(db, script, tenant, guard).await;
    }
    db.execute_unprepared(&script.guarded_provision_sql(tenant, guard)?)
        .await
        .map_err(|e| classify(e, tenant, tenant))?;
    Ok(())
}

/// Creates the schema `tenant` if it is missing and applies the migrations of `M` that its
/// version table does not list, from `M`'s rendered script: one statement on `db`, under the
/// tenant's advisory lock. The way to ensure a tenant on any connection.
///
/// On a pool the script is one implicit transaction: all of it commits or none of it does.
/// Inside a caller's transaction (a `DatabaseTransaction`, or an executor on one) it is part
/// of that transaction and commits or rolls back with it; the caller's `search_path` is kept.
/// Idempotent, and safe to run concurrently with itself, [`migrate_tenant`](crate::migrate_tenant),
/// the migrator and the owner hooks on the same tenant. A migration set that reads the
/// database cannot be rendered (see the [module docs](self)): ensure its tenants with
/// [`migrate_tenant`](crate::migrate_tenant), which runs one transaction per migration on a
/// pool, with the migrator's lock timeouts and retries.
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
    let script = MigrationScript::of::<M>().await?;
    provision_owned_on(db, &script, tenant, "").await
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
    push(&mut sql, &tenant_sql::rename_schema(from, to));
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
    let sql = format!(
        "{}; {}",
        tenant_sql::lock_tenant(tenant),
        tenant_sql::drop_schema(tenant)
    );
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

/// Whether the schema `tenant` exists (as seen by `db`'s transaction, if any).
///
/// ```no_run
/// use sea_tenant::{TenantName, provision};
///
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// let exists = provision::schema_exists(db, &TenantName::new("org_7")?).await?;
/// # Ok(()) }
/// ```
pub async fn schema_exists<C: ConnectionTrait>(db: &C, tenant: &TenantName) -> Result<bool> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT {}", tenant_sql::schema_exists("$1")),
            [tenant.as_str().into()],
        ))
        .await
        .map_err(Error::tenant_db(tenant))?;
    match row {
        Some(row) => Ok(row
            .try_get_by_index::<bool>(0)
            .map_err(Error::tenant_db(tenant))?),
        None => Ok(false),
    }
}
