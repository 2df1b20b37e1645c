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
//! against a recording connection (sea-orm's `proxy` feature) that keeps the text of each
//! statement it is asked to execute and refuses reads. The result is cached per migrator
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
//!   `manager.has_table(…)`) cannot be rendered: [`Error::Generate`] names it. Use the
//!   migrator (`ensure_tenant`) for such sets.
//! - Statements that PostgreSQL refuses inside a transaction block (`CREATE INDEX
//!   CONCURRENTLY`, `VACUUM`, …) fail here, as they would in the migrator's per-migration
//!   transactions.
//! - The rendered SQL is the statements' text with their parameters inlined by sea-query, so
//!   a migration must not depend on values it would read back.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex};

use sea_orm::{
    ConnectionTrait, Database, DbBackend, DbErr, ProxyDatabaseTrait, ProxyExecResult, ProxyRow,
    Statement,
};
use sea_orm_migration::{MigrationTrait, MigratorTrait, SchemaManager};

use crate::lock::{
    DUPLICATE_SCHEMA, MISSING_SCHEMA, ROW_CHANGED, ROW_GONE, lock_both_sql, lock_sql, sqlstate,
};
use crate::name::quote_literal;
use crate::version_table::VersionTable;
use crate::{DEFAULT_VERSION_TABLE, Error, Result, TenantName};

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
        let recorder = Recorder::default();
        let log = recorder.log.clone();
        let proxy: Arc<Box<dyn ProxyDatabaseTrait>> = Arc::new(Box::new(recorder));
        let db = Database::connect_proxy(DbBackend::Postgres, proxy).await?;
        let manager = SchemaManager::new(&db);
        let mut steps = Vec::new();
        for migration in migrations() {
            let name = migration.name().to_owned();
            migration.up(&manager).await.map_err(|e| {
                Error::Generate(format!(
                    "migration {name} cannot be rendered to SQL for owner-entity provisioning \
                     (it must only execute statements, not read): {e}"
                ))
            })?;
            let statements = std::mem::take(&mut *lock(&log));
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
    /// assert!(sql.contains("CREATE SCHEMA \"org_7\""));
    /// # Ok(()) }
    /// ```
    pub fn create_sql(&self, tenant: &TenantName) -> String {
        let table = VersionTable::new(tenant, DEFAULT_VERSION_TABLE);
        let mut sql = String::new();
        // The lock first, before anything looks the name up (see `lock.rs`).
        push(&mut sql, &lock_sql(tenant));
        push(&mut sql, &refuse_existing_sql(tenant));
        push(&mut sql, SAVE_SEARCH_PATH);
        push(&mut sql, &format!("CREATE SCHEMA {}", tenant.quoted()));
        push(&mut sql, &set_search_path(tenant));
        push(&mut sql, &table.create_if_missing_sql());
        for step in &self.steps {
            for statement in &step.statements {
                push(&mut sql, statement);
            }
            push(&mut sql, &table.insert_sql(&step.name));
        }
        push(&mut sql, &table.fingerprint_sql());
        push(&mut sql, RESTORE_SEARCH_PATH);
        sql
    }

    /// A script that creates the schema `tenant` and its version table if missing, and
    /// applies each migration the version table does not list, under the tenant's advisory
    /// lock. Idempotent: a schema that a concurrent caller just created is simply used.
    pub fn ensure_sql(&self, tenant: &TenantName) -> Result<String> {
        self.guarded_ensure_sql(tenant, "")
    }

    /// [`MigrationScript::ensure_sql`] with `guard`, SQL run right after the lock is taken and
    /// before anything is created, that may abort the script (an owner-row check).
    pub(crate) fn guarded_ensure_sql(&self, tenant: &TenantName, guard: &str) -> Result<String> {
        let table = VersionTable::new(tenant, DEFAULT_VERSION_TABLE);
        let mut sql = String::new();
        // The lock first, before anything looks the name up (see `lock.rs`).
        push(&mut sql, &lock_sql(tenant));
        if !guard.trim().is_empty() {
            push(&mut sql, guard);
        }
        push(&mut sql, SAVE_SEARCH_PATH);
        push(
            &mut sql,
            &format!("CREATE SCHEMA IF NOT EXISTS {}", tenant.quoted()),
        );
        push(&mut sql, &set_search_path(tenant));
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
        push(&mut sql, RESTORE_SEARCH_PATH);
        Ok(sql)
    }
}

/// A `DO` block raising `duplicate_schema` if the schema `tenant` exists. Run under the
/// tenant's lock, its answer stays true until the transaction ends. The name is validated
/// (no quotes, no `$`), so it cannot end the block.
fn refuse_existing_sql(tenant: &TenantName) -> String {
    format!(
        "DO $sea_tenant_chk$ BEGIN IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace \
         WHERE nspname = {lit}) THEN RAISE EXCEPTION USING ERRCODE = '{DUPLICATE_SCHEMA}', \
         MESSAGE = {msg}; END IF; END $sea_tenant_chk$",
        lit = tenant.literal(),
        msg = quote_literal(&format!("schema {} already exists", tenant.quoted())),
    )
}

/// A `DO` block raising `invalid_schema_name` if the schema `tenant` does not exist.
fn require_existing_sql(tenant: &TenantName) -> String {
    format!(
        "DO $sea_tenant_chk$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace \
         WHERE nspname = {lit}) THEN RAISE EXCEPTION USING ERRCODE = '{MISSING_SCHEMA}', \
         MESSAGE = {msg}; END IF; END $sea_tenant_chk$",
        lit = tenant.literal(),
        msg = quote_literal(&format!("schema {} does not exist", tenant.quoted())),
    )
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
        .ok_or_else(|| Error::Generate(format!("migration {migration}: no free dollar-quote tag")))
}

const SAVE_SEARCH_PATH: &str = "SELECT set_config('sea_tenant.saved_search_path', \
     current_setting('search_path'), true)";
const RESTORE_SEARCH_PATH: &str = "SELECT set_config('search_path', \
     current_setting('sea_tenant.saved_search_path'), true)";

/// Only the tenant schema: an unqualified name in a migration must never resolve to a
/// shared table (a `DROP TABLE IF EXISTS` would otherwise reach into `public`).
fn set_search_path(tenant: &TenantName) -> String {
    format!(
        "SELECT set_config('search_path', {}, true)",
        quote_literal(&tenant.quoted())
    )
}

/// Records the text of every executed statement; refuses reads, which a script cannot
/// answer.
#[derive(Debug, Default)]
struct Recorder {
    log: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl ProxyDatabaseTrait for Recorder {
    async fn query(&self, statement: Statement) -> Result<Vec<ProxyRow>, DbErr> {
        Err(DbErr::Custom(format!(
            "reads are not supported while rendering a migration: {}",
            statement.sql
        )))
    }

    async fn execute(&self, statement: Statement) -> Result<ProxyExecResult, DbErr> {
        // `Display` inlines the bound values with sea-query's PostgreSQL quoting.
        lock(&self.log).push(statement.to_string());
        Ok(ProxyExecResult::default())
    }
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
    db.execute_unprepared(&script.guarded_ensure_sql(tenant, guard)?)
        .await
        .map_err(|e| classify(e, tenant, tenant))?;
    Ok(())
}

/// Creates the schema `tenant` if it is missing and applies the migrations of `M` that its
/// version table does not list, in one script on `db`, under the tenant's advisory lock.
/// Idempotent, and safe to run concurrently with itself, the migrator and owner hooks on the
/// same tenant; the repair for owner rows whose hooks did not run (`insert_many`, a crash
/// between an insert and its provisioning).
///
/// ```no_run
/// # use sea_orm_migration::prelude::*;
/// # struct TenantMigrations;
/// # impl MigratorTrait for TenantMigrations {
/// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// # }
/// use sea_tenant::{TenantName, provision};
///
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// provision::ensure_tenant_on::<TenantMigrations, _>(db, &TenantName::new("org_7")?).await?;
/// # Ok(()) }
/// ```
pub async fn ensure_tenant_on<M, C>(db: &C, tenant: &TenantName) -> Result<()>
where
    M: MigratorTrait + 'static,
    C: ConnectionTrait,
{
    let script = MigrationScript::of::<M>().await?;
    db.execute_unprepared(&script.ensure_sql(tenant)?)
        .await
        .map_err(Error::tenant_db(tenant))?;
    Ok(())
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
    push(&mut sql, &lock_both_sql(from, to));
    if !guard.trim().is_empty() {
        push(&mut sql, guard);
    }
    push(&mut sql, &refuse_existing_sql(to));
    push(&mut sql, &require_existing_sql(from));
    push(
        &mut sql,
        &format!("ALTER SCHEMA {} RENAME TO {}", from.quoted(), to.quoted()),
    );
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
    db.execute_unprepared(&drop_sql(tenant))
        .await
        .map_err(Error::tenant_db(tenant))?;
    Ok(())
}

/// Takes the tenant's lock and drops its schema if it exists.
pub(crate) fn drop_sql(tenant: &TenantName) -> String {
    format!(
        "{}; DROP SCHEMA IF EXISTS {} CASCADE",
        lock_sql(tenant),
        tenant.quoted()
    )
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
        _ => Error::Tenant {
            tenant: from.clone(),
            source: err,
        },
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
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
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
