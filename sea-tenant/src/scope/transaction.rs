//! A transaction whose unqualified names resolve to one tenant's schema.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, DbErr, ExecResult, IsolationLevel, QueryResult,
    Statement, StreamTrait, TransactionError, TransactionOptions, TransactionSession,
    TransactionTrait,
};
use tokio::sync::Mutex;

use super::conn::ScopedConn;
use super::screen::{self, Screen};
use super::stream::TenantStream;
use crate::TenantName;

/// An open transaction in one tenant's schema, from [`TenantScope::begin`](crate::TenantScope)
/// or [`TenantScope::transaction`](crate::TenantScope).
///
/// It implements [`ConnectionTrait`], [`StreamTrait`] and [`TransactionTrait`] (nested
/// transactions are savepoints), so every SeaORM query takes it. Every statement costs exactly
/// its own round trip; the `search_path` was set when the transaction began, in the same round
/// trip as `BEGIN`.
///
/// Dropped without [`commit`](TenantTransaction::commit), it rolls back: the `ROLLBACK` is
/// queued and sent before the connection is handed to anyone else.
///
/// ```no_run
/// # async fn demo(db: sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
/// use sea_orm::{ConnectionTrait, TransactionTrait};
/// use sea_tenant::{TenantConnectionExt, TenantName};
///
/// let name = TenantName::new("org_7").map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
/// let txn = db.tenant(&name).begin().await?; // BEGIN + set_config: one round trip
/// txn.execute_unprepared("UPDATE post SET title = upper(title)").await?;
/// txn.commit().await?;
/// # Ok(()) }
/// ```
pub struct TenantTransaction {
    conn: Arc<Mutex<ScopedConn>>,
    tenant: TenantName,
    /// sqlx's transaction depth this level opened: 1 for the outermost, more for savepoints.
    depth: usize,
    open: bool,
}

impl std::fmt::Debug for TenantTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTransaction")
            .field("tenant", &self.tenant)
            .field("depth", &self.depth)
            .field("open", &self.open)
            .finish()
    }
}

impl TenantTransaction {
    pub(crate) fn new(conn: ScopedConn, tenant: TenantName) -> TenantTransaction {
        TenantTransaction {
            conn: Arc::new(Mutex::new(conn)),
            tenant,
            depth: 1,
            open: true,
        }
    }

    /// The tenant this transaction works in.
    pub fn tenant(&self) -> &TenantName {
        &self.tenant
    }

    /// Commits (`COMMIT`, or `RELEASE SAVEPOINT` when nested): one round trip.
    pub async fn commit(mut self) -> Result<(), DbErr> {
        self.lock_level().await?.commit().await?;
        self.open = false;
        Ok(())
    }

    /// Rolls back (`ROLLBACK`, or `ROLLBACK TO SAVEPOINT` when nested): one round trip.
    pub async fn rollback(mut self) -> Result<(), DbErr> {
        self.lock_level().await?.rollback().await?;
        self.open = false;
        Ok(())
    }

    /// Locks the connection, checking that this level is the innermost open one: statements of
    /// an outer level while a savepoint is open would silently run inside the savepoint.
    async fn lock_level(&self) -> Result<tokio::sync::MutexGuard<'_, ScopedConn>, DbErr> {
        let conn = self.conn.lock().await;
        if !self.open || conn.depth() != self.depth {
            return Err(DbErr::Custom(format!(
                "sea-tenant: tenant {} transaction (level {}) is not the innermost open one",
                self.tenant, self.depth
            )));
        }
        Ok(conn)
    }

    async fn nested(&self, options: TransactionOptions) -> Result<TenantTransaction, DbErr> {
        if options.isolation_level.is_some() || options.access_mode.is_some() {
            return Err(DbErr::Custom(
                "sea-tenant: isolation level and access mode can only be set on the outermost \
                 tenant transaction"
                    .to_owned(),
            ));
        }
        let mut conn = self.lock_level().await?;
        conn.savepoint().await?;
        Ok(TenantTransaction {
            conn: Arc::clone(&self.conn),
            tenant: self.tenant.clone(),
            depth: conn.depth(),
            open: true,
        })
    }
}

impl Drop for TenantTransaction {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        // Drop cannot await: queue the rollback. The lock is free unless a statement of this very
        // transaction is running, which cannot be while it is being dropped (the statement
        // borrows it); the outermost level is also rolled back by `ScopedConn`'s own drop.
        if let Ok(mut conn) = self.conn.try_lock() {
            if self.depth == 1 {
                conn.abandon();
            } else if conn.depth() == self.depth {
                conn.abandon_savepoint();
            }
        }
    }
}

/// Runs `callback` in `txn`, committing on `Ok` and rolling back on `Err`. Cancelled midway,
/// `txn` is dropped and rolls back.
pub(crate) async fn run<F, T, E>(
    txn: TenantTransaction,
    callback: F,
) -> Result<T, TransactionError<E>>
where
    F: for<'c> FnOnce(
            &'c TenantTransaction,
        ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
        + Send,
    T: Send,
    E: std::fmt::Display + std::fmt::Debug + Send,
{
    let result = callback(&txn).await;
    match result {
        Ok(value) => {
            txn.commit().await.map_err(TransactionError::Connection)?;
            Ok(value)
        }
        Err(err) => {
            txn.rollback().await.map_err(TransactionError::Connection)?;
            Err(TransactionError::Transaction(err))
        }
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for TenantTransaction {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        screen::check_single(&self.tenant, &stmt.sql, Screen::Scope)?;
        self.lock_level().await?.execute(&stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let statements = screen::statements(&self.tenant, sql, Screen::Scope)?;
        self.lock_level()
            .await?
            .execute_unprepared(&statements)
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        screen::check_single(&self.tenant, &stmt.sql, Screen::Scope)?;
        self.lock_level().await?.query_one(&stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        screen::check_single(&self.tenant, &stmt.sql, Screen::Scope)?;
        self.lock_level().await?.query_all(&stmt).await
    }
}

impl StreamTrait for TenantTransaction {
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
            // Holding the lock for the stream's life keeps other statements of this transaction
            // from interleaving with its rows, as with sea-orm's own transaction streams.
            let mut conn = self.lock_level().await?;
            Ok(TenantStream::new(move |rows| async move {
                if let Err(err) = conn.stream_into(&stmt, &rows).await {
                    let _ = rows.send(Err(err)).await;
                }
            }))
        })
    }
}

#[async_trait::async_trait]
impl TransactionSession for TenantTransaction {
    async fn commit(self) -> Result<(), DbErr> {
        TenantTransaction::commit(self).await
    }

    async fn rollback(self) -> Result<(), DbErr> {
        TenantTransaction::rollback(self).await
    }
}

#[async_trait::async_trait]
impl TransactionTrait for TenantTransaction {
    type Transaction = TenantTransaction;

    /// A savepoint inside this transaction: one round trip.
    async fn begin(&self) -> Result<TenantTransaction, DbErr> {
        self.nested(TransactionOptions::default()).await
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<TenantTransaction, DbErr> {
        self.nested(TransactionOptions {
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
        self.nested(options).await
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
        let txn = self.begin().await.map_err(TransactionError::Connection)?;
        run(txn, callback).await
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
        run(txn, callback).await
    }
}
