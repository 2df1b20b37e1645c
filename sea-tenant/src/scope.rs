//! The tenant scope: run SeaORM queries in one tenant's schema.
//!
//! ```no_run
//! # async fn demo(db: sea_orm::DatabaseConnection) -> Result<(), sea_tenant::Error> {
//! use sea_orm::{ConnectionTrait, TransactionTrait};
//! use sea_tenant::{TenantConnectionExt, TenantName};
//!
//! let name = TenantName::new("org_7")?;
//! let t = db.tenant(&name);
//! // Any SeaORM query takes `&t`, e.g. `post::Entity::find().all(&t).await?`.
//! t.execute_unprepared("INSERT INTO post (title) VALUES ('hi')").await?;
//!
//! // A unit of work: BEGIN and set_config travel together.
//! let txn = t.begin().await?;
//! txn.execute_unprepared("UPDATE post SET title = 'bye'").await?;
//! txn.commit().await?;
//! # Ok(()) }
//! ```
//!
//! Inside a transaction of the caller's own (an owner row and its tenant's first rows,
//! committed together), `txn.tenant(&name)` opens a [`TransactionScope`] instead: same rules,
//! the path set and put back around each of its statements.
//!
//! # How names resolve
//!
//! Every statement runs inside a transaction of the scope's own whose `search_path` was set with
//! `SET LOCAL search_path TO "tenant", pg_temp`: transaction-local, so it ends with the
//! transaction (also on a PgBouncer server connection in transaction mode).
//!
//! The path is the tenant's schema **alone**, then `pg_temp` (last, so that no temporary table
//! shadows a tenant table): `public` is not on it. A table missing from the tenant's schema is
//! therefore an error (`relation "post" does not exist`), never a `public` table of the same
//! name. `pg_catalog` stays implicitly searched, so built-in functions and types work.
//!
//! Global tables are reached in one of two ways:
//! - entities declared with `#[sea_orm(schema_name = "public")]` (or any other schema) are
//!   always schema-qualified, so they reach the global table whatever the path;
//! - [`TenantScope::with_shared_schemas`] appends schemas after the tenant's (like Apartment's
//!   `persistent_schemas`), for unqualified access to global tables and for extension types
//!   and functions installed there. A name missing from the tenant schema then *does* fall
//!   through to those schemas, so keep them free of table names that tenants also use.
//!
//! # What the scope guarantees
//!
//! Whatever SQL is sent, nothing of it outlives the scope on the pooled connection: the scope
//! begins and ends every transaction with messages of its own, then resets the session (settings, role, cursors, `LISTEN`, temporary tables, sequence state,
//! session advisory locks). Transaction control, `search_path` changes, `PREPARE`,
//! `DEALLOCATE` and `LOAD` are refused with a [`ScopeError`] before anything is sent. Named
//! prepared statements are kept per search path, so tenants whose tables differ never share
//! one. The README's "Isolation guarantees and their limits" lists each rule, its cost and what
//! no scope can prevent.
//!
//! # Round trips
//!
//! A single `SELECT` (no `FOR …` locking) whose values are integers, booleans or strings costs
//! one round trip: `BEGIN READ ONLY; SET LOCAL search_path …; <query>; ROLLBACK; <reset>` as
//! one simple-protocol message (`scope/inline.rs` writes the values in, and refuses anything it
//! cannot be sure of, a second statement included); the caller has its rows when the query
//! completes, and the pool reads the rest of the replies before it lends the connection again.
//! Any other statement costs `BEGIN; SET LOCAL` plus the statement, plus `COMMIT` for a write.
//! [`TenantScope::begin`] is one round trip, each statement of a [`TenantTransaction`] one, its
//! commit one: what a plain connection costs. What ends a scope's work without the caller
//! waiting (the rollback of other read-only statements, the session reset after `COMMIT`) runs
//! in a background task that holds the connection until it is done, so no other borrower can
//! see the connection before. Read-only single statements run
//! `READ ONLY`, so a `SELECT` with side effects fails loudly instead of being rolled back
//! silently: run such statements in a transaction.
//!
//! # Cancellation
//!
//! A future dropped at any `.await` leaves no tenant state on a connection that another task
//! can borrow: while a message of the scope's is in flight the connection is closed instead of
//! returned; once the transaction is open, dropping it rolls it back (and resets) in a
//! background task before the connection goes back to the pool.

mod conn;
mod error;
mod in_transaction;
mod inline;
mod lexer;
mod screen;
mod sql;
mod stream;
mod transaction;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sea_orm::sqlx::PgPool;
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DatabaseTransaction,
    DbBackend, DbErr, ExecResult, IsolationLevel, QueryResult, Statement, StreamTrait,
    TransactionError, TransactionOptions, TransactionTrait,
};

use crate::{TenantName, tenant_sql};
use conn::ScopedConn;
pub use error::ScopeError;
pub use in_transaction::TransactionScope;
use inline::is_plain_select;
use screen::Screen;
use sql::ScopeSql;
pub use stream::TenantStream;
pub use transaction::TenantTransaction;

/// Opens tenant scopes: [`TenantScope`]s on a [`DatabaseConnection`] (a pool), and
/// [`TransactionScope`]s inside a caller's [`DatabaseTransaction`].
pub trait TenantConnectionExt {
    /// The scope this connection opens.
    type Scope<'a>
    where
        Self: 'a;

    /// A scope in `tenant`'s schema. Cheap (no I/O): make one per request or per unit of work.
    ///
    /// ```no_run
    /// # async fn demo(db: sea_orm::DatabaseConnection) -> Result<(), sea_tenant::Error> {
    /// use sea_orm::ConnectionTrait;
    /// use sea_tenant::{TenantConnectionExt, TenantName};
    ///
    /// let t = db.tenant(&TenantName::new("org_7")?);
    /// let rows = t.execute_unprepared("DELETE FROM post WHERE title = ''").await?;
    /// println!("{} rows deleted in {}", rows.rows_affected(), t.tenant());
    /// # Ok(()) }
    /// ```
    fn tenant<'a>(&'a self, tenant: &TenantName) -> Self::Scope<'a>;
}

impl TenantConnectionExt for DatabaseConnection {
    type Scope<'a> = TenantScope;

    fn tenant(&self, tenant: &TenantName) -> TenantScope {
        TenantScope::new(self, tenant)
    }
}

impl TenantConnectionExt for DatabaseTransaction {
    type Scope<'a> = TransactionScope<'a>;

    fn tenant<'a>(&'a self, tenant: &TenantName) -> TransactionScope<'a> {
        TransactionScope::new(self, tenant)
    }
}

/// Runs statements in one tenant's schema; see the [module docs](self) for how names resolve,
/// what each operation costs and why cancellation is safe.
///
/// It implements [`ConnectionTrait`], [`StreamTrait`] and [`TransactionTrait`], so every SeaORM
/// query and mutation takes `&scope`. Cloning is cheap (the pool is shared).
#[derive(Clone)]
pub struct TenantScope {
    pool: Option<PgPool>,
    tenant: TenantName,
    sql: Arc<ScopeSql>,
    named: bool,
}

impl std::fmt::Debug for TenantScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantScope")
            .field("tenant", &self.tenant)
            .field("search_path", &self.sql.search_path)
            .finish()
    }
}

impl TenantScope {
    /// A scope in `tenant`'s schema on `db`. Same as [`TenantConnectionExt::tenant`].
    ///
    /// `db` must be a PostgreSQL pool (sea-orm's `sqlx-postgres`); on any other connection every
    /// statement of the scope fails with [`DbErr::Conn`].
    pub fn new(db: &DatabaseConnection, tenant: &TenantName) -> TenantScope {
        let pool = match &db.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                Some(db.get_postgres_connection_pool().clone())
            }
            _ => None,
        };
        TenantScope {
            pool,
            tenant: tenant.clone(),
            sql: Arc::new(ScopeSql::new(tenant, &[], sql::current_role(tenant))),
            named: true,
        }
    }

    /// Appends `schemas` to the search path, after the tenant's schema, for global tables
    /// reached by unqualified names (see the [module docs](self#how-names-resolve)).
    ///
    /// ```no_run
    /// # fn demo(db: sea_orm::DatabaseConnection) -> Result<(), sea_tenant::Error> {
    /// use sea_tenant::{TenantConnectionExt, TenantName};
    ///
    /// let t = db.tenant(&TenantName::new("org_7")?).with_shared_schemas(["shared"]);
    /// assert_eq!(t.search_path(), r#""org_7", "shared""#);
    /// # Ok(()) }
    /// ```
    pub fn with_shared_schemas<I, S>(mut self, schemas: I) -> TenantScope
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let shared: Vec<String> = schemas.into_iter().map(Into::into).collect();
        self.sql = Arc::new(ScopeSql::new(&self.tenant, &shared, self.sql.role.clone()));
        self
    }

    /// Runs the scope's statements as `strict`'s role of its tenant (see [`crate::strict`]), or,
    /// with `None`, as the pool's login role, whatever [`strict::current`](crate::strict::current)
    /// says (which scopes follow by default).
    ///
    /// ```
    /// # fn demo(db: sea_orm::DatabaseConnection) -> Result<(), Box<dyn std::error::Error>> {
    /// use sea_tenant::{TenantConnectionExt, TenantName, strict::Strict};
    ///
    /// let strict = Strict::new("app", "app_owner")?;
    /// let t = db.tenant(&TenantName::new("org_7")?).with_strict(Some(&strict));
    /// assert_eq!(t.role(), Some("tenant_org_7"));
    /// # Ok(()) }
    /// ```
    pub fn with_strict(mut self, strict: Option<&crate::strict::Strict>) -> TenantScope {
        let role = strict.map(|s| s.tenant_role(&self.tenant));
        self.sql = Arc::new(self.sql.with_role(role));
        self
    }

    /// The role the scope's statements run as, in strict mode.
    pub fn role(&self) -> Option<&str> {
        self.sql.role.as_deref()
    }

    /// Whether statements are prepared under a name and cached per connection (the default,
    /// and the fastest on a direct connection). PgBouncer before 1.21 in transaction mode
    /// mixes up named statements of different clients (`prepared statement "sqlx_s_1" already
    /// exists`): turn them off there. Unnamed statements cost one more round trip each
    /// (sqlx parses, waits, then binds), all inside the scope's transaction, so PgBouncer keeps
    /// them on one server connection.
    ///
    /// ```no_run
    /// # fn demo(db: sea_orm::DatabaseConnection) -> Result<(), sea_tenant::Error> {
    /// use sea_tenant::{TenantConnectionExt, TenantName};
    ///
    /// let t = db.tenant(&TenantName::new("org_7")?).with_named_statements(false);
    /// # Ok(()) }
    /// ```
    pub fn with_named_statements(mut self, named: bool) -> TenantScope {
        self.named = named;
        self
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantName {
        &self.tenant
    }

    /// The `search_path` every statement of the scope runs with, e.g. `"org_7"`.
    pub fn search_path(&self) -> &str {
        &self.sql.search_path
    }

    /// Whether the tenant's schema exists: one catalog query (one round trip, simple protocol,
    /// so it is safe through PgBouncer in transaction mode too).
    pub async fn schema_exists(&self) -> Result<bool, DbErr> {
        let pool = self.pool()?;
        let sql = format!(
            "SELECT 1 WHERE {}",
            tenant_sql::schema_exists(&self.tenant.literal())
        );
        let found =
            sea_orm::sqlx::Executor::fetch_optional(pool, sea_orm::sqlx::AssertSqlSafe(sql))
                .await
                .map_err(|e| DbErr::Query(sea_orm::RuntimeErr::SqlxError(e.into())))?;
        Ok(found.is_some())
    }

    fn pool(&self) -> Result<&PgPool, DbErr> {
        self.pool.as_ref().ok_or_else(|| {
            DbErr::Conn(sea_orm::RuntimeErr::Internal(
                "sea-tenant: a tenant scope needs a PostgreSQL (sqlx-postgres) connection"
                    .to_owned(),
            ))
        })
    }

    async fn open(&self, options: TransactionOptions) -> Result<ScopedConn, DbErr> {
        ScopedConn::begin(
            self.pool()?,
            &self.sql,
            &self.sql.begin(options),
            self.named,
        )
        .await
    }

    /// Opens the transaction a single statement runs in: read-only for plain `SELECT`s, whose
    /// end need not be waited for.
    async fn open_for(&self, sql: &str) -> Result<(ScopedConn, bool), DbErr> {
        let read_only = is_plain_select(sql);
        let options = TransactionOptions {
            access_mode: read_only.then_some(AccessMode::ReadOnly),
            ..TransactionOptions::default()
        };
        Ok((self.open(options).await?, read_only))
    }

    /// A plain `SELECT` whose values can be written into its text (see `inline`): it then
    /// runs as one simple-protocol message after `set_config`, one round trip in all.
    fn one_message_select(&self, stmt: &Statement) -> Option<String> {
        if !is_plain_select(&stmt.sql) {
            return None;
        }
        let values = stmt.values.as_ref().map_or(&[][..], |v| &v.0[..]);
        inline::inline(&stmt.sql, values)
    }

    /// Ends a single statement's transaction. A read-only one has nothing to commit: its
    /// rollback runs in the background before the connection goes back to the pool.
    async fn finish(mut conn: ScopedConn, read_only: bool) -> Result<(), DbErr> {
        if read_only {
            conn.finish_in_background();
            Ok(())
        } else {
            conn.commit().await
        }
    }

    /// Begins a transaction in the tenant's schema: `BEGIN; set_config`, one round trip.
    pub async fn begin(&self) -> Result<TenantTransaction, DbErr> {
        self.begin_with_options(TransactionOptions::default()).await
    }

    /// Like [`begin`](TenantScope::begin); isolation level and access mode go into the same
    /// `BEGIN` statement, still one round trip.
    pub async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<TenantTransaction, DbErr> {
        let conn = self.open(options).await?;
        Ok(TenantTransaction::new(conn, self.tenant.clone()))
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for TenantScope {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        screen::check_single(&self.tenant, &stmt.sql, Screen::Scope)?;
        let mut conn = self.open(TransactionOptions::default()).await?;
        let result = conn.execute(&stmt).await?;
        conn.commit().await?;
        Ok(result)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let statements = screen::statements(&self.tenant, sql, Screen::Scope)?;
        let mut conn = self.open(TransactionOptions::default()).await?;
        let result = conn.execute_unprepared(&statements).await?;
        conn.commit().await?;
        Ok(result)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        if let Some(sql) = self.one_message_select(&stmt) {
            let rows = conn::query_once(self.pool()?, &self.sql, &sql).await?;
            return Ok(rows.into_iter().next());
        }
        screen::check_single(&self.tenant, &stmt.sql, Screen::Scope)?;
        let (mut conn, read_only) = self.open_for(&stmt.sql).await?;
        let row = conn.query_one(&stmt).await?;
        Self::finish(conn, read_only).await?;
        Ok(row)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        if let Some(sql) = self.one_message_select(&stmt) {
            return conn::query_once(self.pool()?, &self.sql, &sql).await;
        }
        screen::check_single(&self.tenant, &stmt.sql, Screen::Scope)?;
        let (mut conn, read_only) = self.open_for(&stmt.sql).await?;
        let rows = conn.query_all(&stmt).await?;
        Self::finish(conn, read_only).await?;
        Ok(rows)
    }
}

impl StreamTrait for TenantScope {
    type Stream<'a> = TenantStream<'a>;

    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    fn stream_raw<'a>(
        &'a self,
        stmt: Statement,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Stream<'a>, DbErr>> + 'a + Send>> {
        Box::pin(async move {
            screen::check_single(&self.tenant, &stmt.sql, Screen::Scope)?;
            let (mut conn, read_only) = self.open_for(&stmt.sql).await?;
            Ok(TenantStream::new(move |rows| async move {
                let streamed = conn.stream_into(&stmt, &rows).await;
                // A consumer that stopped early dropped the receiver: roll back rather than
                // commit half-read writes.
                let outcome = match streamed {
                    Ok(()) if !rows.is_closed() => Self::finish(conn, read_only).await,
                    Ok(()) => Ok(()),
                    Err(err) => Err(err),
                };
                if let Err(err) = outcome {
                    let _ = rows.send(Err(err)).await;
                }
            }))
        })
    }
}

#[async_trait::async_trait]
impl TransactionTrait for TenantScope {
    type Transaction = TenantTransaction;

    async fn begin(&self) -> Result<TenantTransaction, DbErr> {
        TenantScope::begin(self).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<TenantTransaction, DbErr> {
        self.begin_with_options(TransactionOptions {
            isolation_level,
            access_mode,
            sqlite_transaction_mode: None,
        })
        .await
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<TenantTransaction, DbErr> {
        TenantScope::begin_with_options(self, options).await
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c TenantTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = TenantScope::begin(self)
            .await
            .map_err(TransactionError::Connection)?;
        transaction::run(txn, callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c TenantTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: std::fmt::Display + std::fmt::Debug + Send,
    {
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        transaction::run(txn, callback).await
    }
}
