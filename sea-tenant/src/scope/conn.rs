//! One pooled connection inside a tenant transaction, and the guard that keeps the pool clean.
//!
//! sea-orm's own `DatabaseTransaction` waits for `BEGIN`'s reply before anything else can be
//! sent, so `set_config` would cost a round trip of its own. Here the transaction is opened with
//! sqlx's `PgTransactionManager::begin` and a custom statement, `BEGIN; SELECT set_config(…)`,
//! which travels as one simple-protocol message: one round trip.

use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgConnection, PgQueryResult, PgTransactionManager};
use sea_orm::sqlx::{self, AssertSqlSafe, Either, PgPool, Postgres, SqlSafeStr};
use sea_orm::{DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;
use sqlx_core::transaction::TransactionManager;

use futures::TryStreamExt;

/// Where the connection is in its life. The state decides what `Drop` must do to return it
/// to the pool without any tenant state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `BEGIN; set_config` was queued or sent but its reply not read. sqlx has not counted the
    /// transaction yet, so it would not roll it back: the connection must be closed instead.
    Beginning,
    /// sqlx counts the transaction (depth ≥ 1): dropping queues `ROLLBACK`, which sqlx's pool
    /// flushes and waits for before the connection becomes idle again.
    Open,
    /// Committed or rolled back: nothing left on the connection.
    Done,
}

/// A pooled connection with an open transaction whose `search_path` is the tenant's.
pub(crate) struct ScopedConn {
    conn: Option<PoolConnection<Postgres>>,
    state: State,
    /// Whether statements are prepared under a name and cached (see
    /// `TenantScope::with_named_statements`).
    named: bool,
}

impl std::fmt::Debug for ScopedConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedConn")
            .field("state", &self.state)
            .finish()
    }
}

impl ScopedConn {
    /// Takes a connection from `pool` and runs `begin_sql` (a `BEGIN …; SELECT set_config(…)`
    /// built by the scope) on it: one round trip.
    pub(crate) async fn begin(
        pool: &PgPool,
        begin_sql: &str,
        named: bool,
    ) -> Result<ScopedConn, DbErr> {
        let conn = pool.acquire().await.map_err(acquire_err)?;
        let mut this = ScopedConn {
            conn: Some(conn),
            state: State::Beginning,
            named,
        };
        let statement = AssertSqlSafe(begin_sql.to_owned()).into_sql_str();
        PgTransactionManager::begin(this.raw()?, Some(statement))
            .await
            .map_err(query_err)?;
        this.state = State::Open;
        Ok(this)
    }

    /// The connection, if the transaction is still open.
    pub(crate) fn open(&mut self) -> Result<&mut PgConnection, DbErr> {
        if self.state != State::Open {
            return Err(DbErr::Custom(
                "sea-tenant: the tenant transaction is already finished".to_owned(),
            ));
        }
        self.raw()
    }

    fn raw(&mut self) -> Result<&mut PgConnection, DbErr> {
        match self.conn.as_mut() {
            Some(conn) => Ok(&mut **conn),
            None => Err(DbErr::Custom(
                "sea-tenant: the connection was released".to_owned(),
            )),
        }
    }

    /// sqlx's transaction depth: 1 for the tenant transaction, more inside savepoints.
    pub(crate) fn depth(&self) -> usize {
        self.conn
            .as_ref()
            .map_or(0, |c| PgTransactionManager::get_transaction_depth(c))
    }

    /// Opens a savepoint (sqlx names it after the depth).
    pub(crate) async fn savepoint(&mut self) -> Result<(), DbErr> {
        PgTransactionManager::begin(self.open()?, None)
            .await
            .map_err(query_err)
    }

    /// Commits the innermost level: `RELEASE SAVEPOINT`, or `COMMIT` at depth 1.
    pub(crate) async fn commit(&mut self) -> Result<(), DbErr> {
        PgTransactionManager::commit(self.open()?)
            .await
            .map_err(exec_err)?;
        if self.depth() == 0 {
            self.state = State::Done;
        }
        Ok(())
    }

    /// Rolls back the innermost level.
    pub(crate) async fn rollback(&mut self) -> Result<(), DbErr> {
        PgTransactionManager::rollback(self.open()?)
            .await
            .map_err(exec_err)?;
        if self.depth() == 0 {
            self.state = State::Done;
        }
        Ok(())
    }

    /// Queues a rollback of the innermost level without waiting (for `Drop`); the next use of
    /// the connection, or its return to the pool, sends it.
    pub(crate) fn start_rollback(&mut self) {
        if self.state == State::Open
            && let Some(conn) = self.conn.as_mut()
        {
            PgTransactionManager::start_rollback(conn);
            if PgTransactionManager::get_transaction_depth(conn) == 0 {
                self.state = State::Done;
            }
        }
    }

    /// Queues the rollback of every level (for `Drop` of the outermost transaction).
    pub(crate) fn start_rollback_all(&mut self) {
        while self.state == State::Open && self.depth() > 0 {
            self.start_rollback();
        }
        if self.state == State::Open {
            self.state = State::Done;
        }
    }

    pub(crate) async fn execute(&mut self, stmt: &Statement) -> Result<ExecResult, DbErr> {
        let named = self.named;
        let conn = self.open()?;
        sqlx_query(stmt, named)
            .execute(conn)
            .await
            .map(Into::into)
            .map_err(exec_err)
    }

    pub(crate) async fn query_one(
        &mut self,
        stmt: &Statement,
    ) -> Result<Option<QueryResult>, DbErr> {
        let named = self.named;
        let conn = self.open()?;
        sqlx_query(stmt, named)
            .fetch_optional(conn)
            .await
            .map(|row| row.map(Into::into))
            .map_err(query_err)
    }

    pub(crate) async fn query_all(&mut self, stmt: &Statement) -> Result<Vec<QueryResult>, DbErr> {
        let named = self.named;
        let conn = self.open()?;
        sqlx_query(stmt, named)
            .fetch_all(conn)
            .await
            .map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(query_err)
    }

    pub(crate) async fn execute_unprepared(&mut self, sql: &str) -> Result<ExecResult, DbErr> {
        let conn = self.open()?;
        sqlx::Executor::execute(conn, AssertSqlSafe(sql.to_owned()))
            .await
            .map(Into::into)
            .map_err(exec_err)
    }

    /// Sends each row of `stmt` to `rows` as it arrives; stops early when the receiver is gone.
    pub(crate) async fn stream_into(
        &mut self,
        stmt: &Statement,
        rows: &tokio::sync::mpsc::Sender<Result<QueryResult, DbErr>>,
    ) -> Result<(), DbErr> {
        let named = self.named;
        let conn = self.open()?;
        let mut fetched = sqlx_query(stmt, named).fetch(conn);
        loop {
            match fetched.try_next().await {
                Ok(Some(row)) => {
                    if rows.send(Ok(row.into())).await.is_err() {
                        return Ok(());
                    }
                }
                Ok(None) => return Ok(()),
                Err(err) => return Err(query_err(err)),
            }
        }
    }
}

impl Drop for ScopedConn {
    fn drop(&mut self) {
        match self.state {
            State::Beginning => {
                // A future dropped while `BEGIN; set_config` was in flight: the server may be in
                // a transaction sqlx does not know about. Closing is the only way to be sure no
                // tenant state reaches the next borrower. Rare (cancellation), so the cost of a
                // new connection is acceptable.
                if let Some(conn) = self.conn.as_mut() {
                    conn.close_on_drop();
                }
            }
            State::Open => self.start_rollback_all(),
            State::Done => {}
        }
    }
}

/// Runs `sql` (no bind parameters) after `set_config`, as one simple-protocol message. The
/// statements of one such message run in one implicit transaction, so the transaction-local
/// setting ends with them: one round trip, nothing left on the connection.
pub(crate) async fn execute_unprepared_once(
    pool: &PgPool,
    set_config_sql: &str,
    sql: &str,
) -> Result<ExecResult, DbErr> {
    let mut conn = pool.acquire().await.map_err(acquire_err)?;
    let batch = format!("{set_config_sql};\n{sql}");
    let mut results = sqlx::Executor::fetch_many(&mut *conn, AssertSqlSafe(batch));
    let mut total = PgQueryResult::default();
    let mut seen_set_config = false;
    while let Some(item) = results.try_next().await.map_err(exec_err)? {
        if let Either::Left(done) = item {
            // The first completion is set_config's own `SELECT 1`: not the caller's rows.
            if seen_set_config {
                total.extend([done]);
            } else {
                seen_set_config = true;
            }
        }
    }
    Ok(total.into())
}

/// Runs the read-only `sql` (no bind parameters) after `prefix_sql` (the scope's
/// `set_config` calls) as one simple-protocol message, and returns the rows of `sql`: one
/// round trip, and the implicit transaction ends with the message.
pub(crate) async fn query_once(
    pool: &PgPool,
    prefix_sql: &str,
    sql: &str,
) -> Result<Vec<QueryResult>, DbErr> {
    let mut conn = pool.acquire().await.map_err(acquire_err)?;
    let batch = format!("{prefix_sql};\n{sql}");
    let mut results = sqlx::Executor::fetch_many(&mut *conn, AssertSqlSafe(batch));
    let mut completed = 0;
    let mut rows = Vec::new();
    while let Some(item) = results.try_next().await.map_err(query_err)? {
        match item {
            Either::Left(_) => completed += 1,
            // The prefix's own row comes before its completion: not the caller's.
            Either::Right(row) if completed >= 1 => rows.push(row.into()),
            Either::Right(_) => {}
        }
    }
    Ok(rows)
}

fn sqlx_query(stmt: &Statement, named: bool) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
    let values = stmt
        .values
        .as_ref()
        .map_or_else(|| Values(Vec::new()), Clone::clone);
    sqlx::query_with(AssertSqlSafe(stmt.sql.as_str()), SqlxValues(values)).persistent(named)
}

fn exec_err(err: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(err.into()))
}

fn query_err(err: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(err.into()))
}

fn acquire_err(err: sqlx::Error) -> DbErr {
    match err {
        sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
        sqlx::Error::PoolClosed => {
            DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::ConnectionClosed)
        }
        other => DbErr::Conn(RuntimeErr::SqlxError(other.into())),
    }
}
