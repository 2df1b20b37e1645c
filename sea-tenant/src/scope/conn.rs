//! One pooled connection inside a tenant transaction, and the guard that keeps the pool clean.
//!
//! The transaction is driven with simple-protocol messages of the scope's own (`BEGIN; set
//! path`, `COMMIT; reset`), so that beginning costs one round trip and ending also resets the
//! session in the same round trip. sqlx is not told about the transaction (its depth stays 0):
//! this guard tracks it, and on drop ends it in a background task, or closes the connection
//! when the state on the server is unknown. Statements reach it already checked by `screen`
//! (the scope and the transaction check before they take a connection).

use std::sync::Arc;

use sea_orm::sea_query::Values;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::postgres::{PgConnection, PgQueryResult};
use sea_orm::sqlx::{self, AssertSqlSafe, Either, PgPool, Postgres};
use sea_orm::{DbErr, ExecResult, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;

use futures::TryStreamExt;

use super::sql::ScopeSql;

/// Where the connection is in its life. The state decides what `Drop` must do to return it
/// to the pool without any tenant state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A message of the scope's own was sent and its reply not read: the server's state is
    /// unknown, so the connection must be closed rather than reused.
    InFlight,
    /// The tenant transaction is open (possibly failed): dropping ends it and resets the
    /// session before the connection is reused.
    Open,
    /// Ended and reset: nothing left on the connection.
    Done,
}

/// A pooled connection with an open transaction whose `search_path` is the tenant's.
pub(crate) struct ScopedConn {
    conn: Option<PoolConnection<Postgres>>,
    state: State,
    /// 1 for the tenant transaction, one more per open savepoint.
    depth: usize,
    /// Whether statements are prepared under a name and cached (see
    /// `TenantScope::with_named_statements`).
    named: bool,
    sql: Arc<ScopeSql>,
    /// Savepoint rollbacks of nested transactions dropped without an end: sent before anything
    /// else on this connection.
    pending: Option<String>,
}

impl std::fmt::Debug for ScopedConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedConn")
            .field("tenant", &self.sql.tenant)
            .field("state", &self.state)
            .field("depth", &self.depth)
            .finish()
    }
}

impl ScopedConn {
    async fn acquire(pool: &PgPool, sql: &Arc<ScopeSql>, named: bool) -> Result<ScopedConn, DbErr> {
        let conn = pool.acquire().await.map_err(acquire_err)?;
        Ok(ScopedConn {
            conn: Some(conn),
            state: State::Done,
            depth: 0,
            named,
            sql: Arc::clone(sql),
            pending: None,
        })
    }

    /// Takes a connection from `pool` and runs `begin_sql` (a `BEGIN …; SET LOCAL search_path …`
    /// built by the scope) on it: one round trip.
    pub(crate) async fn begin(
        pool: &PgPool,
        sql: &Arc<ScopeSql>,
        begin_sql: &str,
        named: bool,
    ) -> Result<ScopedConn, DbErr> {
        let mut this = Self::acquire(pool, sql, named).await?;
        if let Err(err) = this.send(begin_sql).await {
            // `BEGIN` may have run and the path not: end whatever is open, or close.
            this.recover().await;
            return Err(query_err(err));
        }
        this.state = State::Open;
        this.depth = 1;
        Ok(this)
    }

    /// Sends one simple-protocol message of the scope's own. Until its reply is read the state
    /// is `InFlight`, so a future dropped meanwhile closes the connection.
    async fn send(&mut self, text: &str) -> Result<PgQueryResult, sqlx::Error> {
        let state = self.state;
        self.state = State::InFlight;
        let conn = self
            .raw()
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let outcome = sqlx::Executor::execute(conn, AssertSqlSafe(text.to_owned())).await;
        // The server answered (an error included): the connection is in step again. An I/O or
        // protocol failure leaves it `InFlight`, to be closed.
        if matches!(outcome, Ok(_) | Err(sqlx::Error::Database(_))) {
            self.state = state;
        }
        outcome
    }

    /// The connection, if the transaction is still open, after any pending savepoint rollback.
    async fn ready(&mut self) -> Result<&mut PgConnection, DbErr> {
        self.open()?;
        if let Some(pending) = self.pending.take() {
            self.send(&pending).await.map_err(exec_err)?;
        }
        self.open()
    }

    /// The connection, if the transaction is still open.
    fn open(&mut self) -> Result<&mut PgConnection, DbErr> {
        if self.state != State::Open {
            return Err(DbErr::Custom(format!(
                "sea-tenant: tenant {} transaction is already finished",
                self.sql.tenant
            )));
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

    /// 1 for the tenant transaction, more inside savepoints, 0 once ended.
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Opens a savepoint.
    pub(crate) async fn savepoint(&mut self) -> Result<(), DbErr> {
        self.ready().await?;
        let text = format!("SAVEPOINT sea_tenant_{}", self.depth);
        self.send(&text).await.map_err(exec_err)?;
        self.depth += 1;
        Ok(())
    }

    /// Commits the innermost level: `RELEASE SAVEPOINT`, or `COMMIT` and the session reset at
    /// depth 1.
    pub(crate) async fn commit(&mut self) -> Result<(), DbErr> {
        self.ready().await?;
        if self.depth > 1 {
            let text = format!("RELEASE SAVEPOINT sea_tenant_{}", self.depth - 1);
            self.send(&text).await.map_err(exec_err)?;
            self.depth -= 1;
            return Ok(());
        }
        let outcome = self.send("COMMIT").await;
        if outcome.is_ok() {
            // The caller waits for the commit only; the session reset runs in the background
            // before the connection can be borrowed again.
            let reset = self.sql.reset_after_commit().to_owned();
            self.end_in_background(reset);
            return Ok(());
        }
        self.finish_after(outcome).await
    }

    /// Rolls back the innermost level.
    pub(crate) async fn rollback(&mut self) -> Result<(), DbErr> {
        self.ready().await?;
        if self.depth > 1 {
            let n = self.depth - 1;
            let text =
                format!("ROLLBACK TO SAVEPOINT sea_tenant_{n}; RELEASE SAVEPOINT sea_tenant_{n}");
            self.send(&text).await.map_err(exec_err)?;
            self.depth -= 1;
            return Ok(());
        }
        let text = self.sql.rollback();
        let outcome = self.send(&text).await;
        self.finish_after(outcome).await
    }

    /// After the transaction's final message: done, or (it failed part-way) end whatever is
    /// left and reset; a connection that cannot be reset is closed.
    async fn finish_after(
        &mut self,
        outcome: Result<PgQueryResult, sqlx::Error>,
    ) -> Result<(), DbErr> {
        self.depth = 0;
        match outcome {
            Ok(_) => {
                self.state = State::Done;
                Ok(())
            }
            Err(err) => {
                self.recover().await;
                Err(exec_err(err))
            }
        }
    }

    async fn recover(&mut self) {
        self.depth = 0;
        let text = self.sql.recover();
        if self.send(&text).await.is_ok() {
            self.state = State::Done;
        } else if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
            self.state = State::Done;
        }
    }

    /// A nested level dropped without commit or rollback: its savepoint is rolled back before
    /// the next statement (the outer level's drop ends everything anyway).
    pub(crate) fn abandon_savepoint(&mut self) {
        if self.state != State::Open || self.depth <= 1 {
            return;
        }
        let n = self.depth - 1;
        let text =
            format!("ROLLBACK TO SAVEPOINT sea_tenant_{n}; RELEASE SAVEPOINT sea_tenant_{n}");
        self.pending = Some(match self.pending.take() {
            Some(earlier) => format!("{earlier}; {text}"),
            None => text,
        });
        self.depth -= 1;
    }

    /// The outermost level dropped without commit or rollback: end it in the background.
    pub(crate) fn abandon(&mut self) {
        if self.state == State::Open {
            self.end_on_drop();
        }
    }

    /// Ends a read-only transaction without waiting: the rollback and reset run in a background
    /// task that then returns the connection to the pool.
    pub(crate) fn finish_in_background(mut self) {
        self.end_on_drop();
    }

    fn end_on_drop(&mut self) {
        // Settings, temporary tables and cursors go with the rollback itself.
        let text = self.sql.rollback();
        self.end_in_background(text);
    }

    /// Sends `text` (the end of the transaction and/or the session reset) in a background task
    /// that then returns the connection to the pool; a connection that cannot be reset, or no
    /// runtime to reset it on, closes it instead.
    fn end_in_background(&mut self, text: String) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        self.state = State::Done;
        self.depth = 0;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let reset = sqlx::Executor::execute(&mut *conn, AssertSqlSafe(text)).await;
                    if reset.is_err() {
                        conn.close_on_drop();
                    }
                });
            }
            Err(_) => conn.close_on_drop(),
        }
    }

    pub(crate) async fn execute(&mut self, stmt: &Statement) -> Result<ExecResult, DbErr> {
        let text = self.statement_text(stmt);
        let conn = self.ready().await?;
        bound_query(&text, stmt)
            .execute(conn)
            .await
            .map(Into::into)
            .map_err(exec_err)
    }

    pub(crate) async fn query_one(
        &mut self,
        stmt: &Statement,
    ) -> Result<Option<QueryResult>, DbErr> {
        let text = self.statement_text(stmt);
        let conn = self.ready().await?;
        bound_query(&text, stmt)
            .fetch_optional(conn)
            .await
            .map(|row| row.map(Into::into))
            .map_err(query_err)
    }

    pub(crate) async fn query_all(&mut self, stmt: &Statement) -> Result<Vec<QueryResult>, DbErr> {
        let text = self.statement_text(stmt);
        let conn = self.ready().await?;
        bound_query(&text, stmt)
            .fetch_all(conn)
            .await
            .map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(query_err)
    }

    /// Runs each of `statements` (from `screen::statements`, which split and checked them) on
    /// its own through the extended protocol, unnamed: the server then refuses any piece that
    /// still holds two commands, so nothing can run outside the tenant transaction whatever
    /// the text.
    pub(crate) async fn execute_unprepared(
        &mut self,
        statements: &[&str],
    ) -> Result<ExecResult, DbErr> {
        let mut total = PgQueryResult::default();
        for statement in statements {
            let conn = self.ready().await?;
            let done = sqlx::query(AssertSqlSafe(*statement))
                .persistent(false)
                .execute(conn)
                .await
                .map_err(exec_err)?;
            total.extend([done]);
        }
        Ok(total.into())
    }

    /// Sends each row of `stmt` to `rows` as it arrives; stops early when the receiver is gone.
    pub(crate) async fn stream_into(
        &mut self,
        stmt: &Statement,
        rows: &tokio::sync::mpsc::Sender<Result<QueryResult, DbErr>>,
    ) -> Result<(), DbErr> {
        let text = self.statement_text(stmt);
        let conn = self.ready().await?;
        let mut fetched = bound_query(&text, stmt).fetch(conn);
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

    /// The text sent for `stmt`: tagged with the search path when it is prepared under a name,
    /// so that sqlx's per-connection cache (keyed by text) keeps one statement per path.
    fn statement_text(&self, stmt: &Statement) -> StatementText {
        if self.named {
            StatementText::Named(self.sql.tagged(&stmt.sql))
        } else {
            StatementText::Unnamed(stmt.sql.clone())
        }
    }
}

impl Drop for ScopedConn {
    fn drop(&mut self) {
        match self.state {
            State::InFlight => {
                // Dropped while a message of ours was in flight (cancellation), or after one
                // failed without recovery: the server may be inside a transaction with the
                // tenant's path. Closing is the only way to be sure no tenant state reaches the
                // next borrower; rare, so a new connection's cost is acceptable.
                if let Some(conn) = self.conn.as_mut() {
                    conn.close_on_drop();
                }
            }
            State::Open => self.end_on_drop(),
            State::Done => {}
        }
    }
}

enum StatementText {
    Named(String),
    Unnamed(String),
}

/// Runs a read-only `select` (one statement, no bind parameters) in a read-only transaction
/// with the tenant's path that is begun, rolled back and reset in the same simple-protocol
/// message: one round trip. The caller has its rows when the `select` completes; the replies
/// to the rollback and reset are read when the pool takes the connection back (sqlx drains a
/// connection's pending replies and checks it on release, before anyone can borrow it).
pub(crate) async fn query_once(
    pool: &PgPool,
    sql: &Arc<ScopeSql>,
    select: &str,
) -> Result<Vec<QueryResult>, DbErr> {
    let mut this = ScopedConn::acquire(pool, sql, false).await?;
    this.state = State::InFlight;
    let text = sql.one_message_select(select);
    let conn = this.raw()?;
    let mut results = sqlx::Executor::fetch_many(conn, AssertSqlSafe(text));
    let mut completed = 0;
    let mut rows = Vec::new();
    let mut failure = None;
    // BEGIN and the SET LOCALs complete before the caller's rows; its statement comes next.
    let before = sql.commands_before_statement();
    while completed <= before {
        match results.try_next().await {
            Ok(Some(Either::Left(_))) => completed += 1,
            Ok(Some(Either::Right(row))) if completed == before => rows.push(row.into()),
            Ok(Some(Either::Right(_))) => {}
            Ok(None) => {
                failure = Some(sqlx::Error::Protocol(
                    "the server ended the scope's message early".to_owned(),
                ));
                break;
            }
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    drop(results);
    match failure {
        None => {
            this.state = State::Done;
            Ok(rows)
        }
        Some(err) => {
            // The message stopped at the error: whatever ran of it is undone and reset.
            this.recover().await;
            Err(query_err(err))
        }
    }
}

fn bound_query<'q>(
    text: &'q StatementText,
    stmt: &Statement,
) -> sqlx::query::Query<'q, Postgres, SqlxValues> {
    let values = stmt
        .values
        .as_ref()
        .map_or_else(|| Values(Vec::new()), Clone::clone);
    let (sql, named) = match text {
        StatementText::Named(sql) => (sql.as_str(), true),
        StatementText::Unnamed(sql) => (sql.as_str(), false),
    };
    sqlx::query_with(AssertSqlSafe(sql), SqlxValues(values)).persistent(named)
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
