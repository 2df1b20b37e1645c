//! A tenant scope inside a caller's [`DatabaseTransaction`]: create an owner row and seed its
//! tenant's first rows in one transaction, then commit or roll back all of it.

use std::sync::{Arc, Mutex as StdMutex, PoisonError, Weak};

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, QueryResult, RuntimeErr,
    Statement,
};
use tokio::sync::{Mutex, MutexGuard};

use super::error::ScopeError;
use super::screen::{self, Screen};
use super::sql::ScopeSql;
use crate::{TenantName, tenant_sql};

/// Runs statements in one tenant's schema inside a transaction the caller began (with
/// `db.begin()`, in `db.transaction(|txn| …)`, in an owner entity's hooks): made by
/// [`TenantConnectionExt::tenant`](crate::TenantConnectionExt::tenant) on a
/// [`DatabaseTransaction`] or by [`TransactionScope::new`].
///
/// It implements [`ConnectionTrait`], so every SeaORM query and mutation takes `&scope`. The
/// caller commits or rolls back the transaction as usual; the scope's writes go with it.
///
/// ```no_run
/// # async fn demo(db: sea_orm::DatabaseConnection) -> Result<(), Box<dyn std::error::Error>> {
/// use sea_orm::{ConnectionTrait, TransactionTrait};
/// use sea_tenant::{TenantConnectionExt, TenantName};
///
/// let txn = db.begin().await?;
/// txn.execute_unprepared("INSERT INTO organization (slug) VALUES ('acme')").await?;
/// // With an owner entity: `org.insert(&txn)` creates the schema in this transaction.
/// let acme = txn.tenant(&TenantName::new("org_acme")?);
/// acme.execute_unprepared("INSERT INTO post (title) VALUES ('Welcome')").await?;
/// txn.execute_unprepared("UPDATE organization SET seeded = true").await?; // public again
/// txn.commit().await?; // the organization and its first post, or neither
/// # Ok(()) }
/// ```
///
/// # How the path is set, and put back
///
/// Each statement of the scope costs three round trips: the first sets the tenant's path with
/// `set_config('search_path', …, true)` (transaction-local, so a rollback takes it back too)
/// and reads the caller's path; the second is the statement; the third puts the caller's path
/// back, whatever it was (`"$user", public, extra` included). So between two statements of the
/// scope the transaction is exactly as the caller left it. That is why the path is set per
/// statement rather than once for a closure or until the scope ends: the caller's own
/// statements may come between the scope's (the owner row, then its first rows, then a
/// `public` update), a second tenant's scope may share the transaction, and there is no end to
/// forget: a scope dropped at any point between statements leaves nothing behind.
///
/// Statements of scopes on the same transaction never overlap, also when they run
/// concurrently (`join!` of two tenants' seeds): each waits for the other's three round trips.
/// A statement sent on the transaction itself *concurrently* with one of the scope's could still
/// run between the scope's first and third round trip, in the tenant's path: on one
/// transaction, await the scope's statement before sending the next of your own.
///
/// A failed statement aborts the transaction, path included: its rollback (or a rollback to a
/// savepoint taken before) takes the path back with everything else. A statement whose future
/// is dropped while it runs (a timeout) can leave the tenant's path on the transaction until
/// it ends; roll back such a transaction, as after any cancelled statement, since nobody can
/// say whether it ran (sea-tenant logs a warning).
///
/// # What it refuses
///
/// Exactly what [`TenantScope`](crate::TenantScope) refuses (transaction control, `search_path`
/// changes, `PREPARE`, `DEALLOCATE`, `LOAD`, several statements outside
/// `execute_unprepared`), with a [`ScopeError`](crate::scope::ScopeError), before anything is
/// sent. Statements prepared under a name are kept per search path, as in a `TenantScope`.
///
/// It does not implement `StreamTrait`: a stream's statement outlives the call that starts it,
/// so the caller's path could not be put back before the caller's next statement.
pub struct TransactionScope<'t> {
    txn: &'t DatabaseTransaction,
    sql: Arc<ScopeSql>,
    /// The value `search_path` is set to: the scope's path, then `pg_temp`.
    path: String,
    /// Shared by every scope on `txn`: one statement of theirs at a time.
    gate: Arc<Mutex<()>>,
}

impl std::fmt::Debug for TransactionScope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionScope")
            .field("tenant", &self.sql.tenant)
            .field("search_path", &self.sql.search_path)
            .finish()
    }
}

impl<'t> TransactionScope<'t> {
    /// A scope in `tenant`'s schema inside `txn`. Cheap (no I/O). `txn` must be a PostgreSQL
    /// transaction; on any other every statement of the scope fails with [`DbErr::Conn`].
    pub fn new(txn: &'t DatabaseTransaction, tenant: &TenantName) -> TransactionScope<'t> {
        let sql = ScopeSql::new(tenant, &[], super::sql::current_role(tenant));
        TransactionScope {
            txn,
            path: tenant_sql::with_pg_temp(&sql.search_path),
            sql: Arc::new(sql),
            gate: gate_of(txn),
        }
    }

    /// Appends `schemas` to the search path, after the tenant's schema, as
    /// [`TenantScope::with_shared_schemas`](crate::TenantScope::with_shared_schemas) does.
    pub fn with_shared_schemas<I, S>(mut self, schemas: I) -> TransactionScope<'t>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let shared: Vec<String> = schemas.into_iter().map(Into::into).collect();
        let sql = ScopeSql::new(&self.sql.tenant, &shared, self.sql.role.clone());
        self.path = tenant_sql::with_pg_temp(&sql.search_path);
        self.sql = Arc::new(sql);
        self
    }

    /// Runs the scope's statements as `strict`'s role of its tenant, or, with `None`, as the
    /// caller's role, whatever [`strict::current`](crate::strict::current) says.
    pub fn with_strict(mut self, strict: Option<&crate::strict::Strict>) -> TransactionScope<'t> {
        let role = strict.map(|s| s.tenant_role(&self.sql.tenant));
        self.sql = Arc::new(self.sql.with_role(role));
        self
    }

    /// The tenant.
    pub fn tenant(&self) -> &TenantName {
        &self.sql.tenant
    }

    /// The `search_path` every statement of the scope runs with, e.g. `"org_7"`.
    pub fn search_path(&self) -> &str {
        &self.sql.search_path
    }

    /// Runs `work` (the statement `text`) on the transaction with the tenant's path (and, in
    /// strict mode, role) set, then puts the caller's back; the same round trips read what the
    /// session holds before and after, and a statement that changed what would outlive the
    /// caller's transaction aborts it (see [`ScopeError::SessionChanged`]).
    async fn in_path<T>(
        &self,
        text: &str,
        work: impl Future<Output = Result<T, DbErr>> + Send,
    ) -> Result<T, DbErr> {
        if self.txn.get_database_backend() != DbBackend::Postgres {
            return Err(DbErr::Conn(RuntimeErr::Internal(
                "sea-tenant: a tenant scope needs a PostgreSQL (sqlx-postgres) transaction"
                    .to_owned(),
            )));
        }
        let mut entered = Entered {
            _gate: self.gate.lock().await,
            tenant: &self.sql.tenant,
            done: false,
        };
        let saved = match self.swap().await {
            Ok(saved) => saved,
            Err(err) => {
                // Failed, so nothing was set (a failed statement changes nothing).
                entered.done = true;
                return Err(err);
            }
        };
        let outcome = work.await;
        let put_back = self
            .txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                tenant_sql::PUT_BACK_SEARCH_PATH.as_str(),
                [saved.path.clone().into(), saved.role.clone().into()],
            ))
            .await
            .and_then(SessionRow::read);
        entered.done = true;
        // After a failed statement the transaction is aborted and refuses the put-back too;
        // its rollback takes the path back. The statement's error is the one to report.
        let value = outcome?;
        let during = put_back?;
        if let Some(what) = self.changed(&saved, &during) {
            let err = ScopeError::SessionChanged {
                tenant: self.sql.tenant.clone(),
                statement: screen::excerpt(text),
                what,
            };
            // The message names only the (validated) tenant: the statement's text must not be
            // written into SQL.
            let message = format!(
                "sea-tenant: a statement of tenant {}'s scope changed the session; roll this \
                 transaction back",
                self.sql.tenant
            );
            // Its own failure can only mean the transaction is aborted or gone already.
            let _aborted = self
                .txn
                .execute_unprepared(&tenant_sql::abort_transaction(&message))
                .await;
            return Err(err.into());
        }
        Ok(value)
    }

    /// Sets the tenant's path and role; returns the caller's and the session's state.
    async fn swap(&self) -> Result<SessionRow, DbErr> {
        self.txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                tenant_sql::SWAP_SEARCH_PATH.as_str(),
                [self.path.as_str().into(), self.sql.role.clone().into()],
            ))
            .await
            .and_then(SessionRow::read)
    }

    /// What the statement changed, comparing the state read around it with what the scope set.
    fn changed(&self, saved: &SessionRow, during: &SessionRow) -> Option<String> {
        let role = self.sql.role.as_deref().unwrap_or(&saved.role);
        if during.path != self.path {
            Some(format!("the search_path (to {:?})", during.path))
        } else if during.role != role {
            Some(format!("the role (to {:?})", during.role))
        } else if during.session != saved.session {
            Some(format!(
                "the session's temporary objects, LISTEN channels, held cursors or advisory \
                 locks (counts {} before, {} after)",
                saved.session, during.session
            ))
        } else {
            None
        }
    }

    fn tagged(&self, stmt: Statement) -> Statement {
        Statement {
            sql: self.sql.tagged(&stmt.sql),
            ..stmt
        }
    }
}

/// The path, role and session state read around a scope's statement.
struct SessionRow {
    path: String,
    role: String,
    session: String,
}

impl SessionRow {
    fn read(row: Option<QueryResult>) -> Result<SessionRow, DbErr> {
        let row =
            row.ok_or_else(|| DbErr::Custom("sea-tenant: set_config returned no row".to_owned()))?;
        Ok(SessionRow {
            path: row.try_get_by_index(0)?,
            role: row.try_get_by_index(1)?,
            session: row.try_get_by_index(2)?,
        })
    }
}

/// A scope's statement under way, holding the gate; `done` once the caller's path is back
/// (or was never changed).
struct Entered<'a> {
    _gate: MutexGuard<'a, ()>,
    tenant: &'a TenantName,
    done: bool,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        if !self.done {
            tracing::warn!(
                tenant = %self.tenant,
                "a statement of a tenant scope was cancelled inside a caller's transaction: \
                 the tenant's search_path may stay on that transaction until it ends; roll it back"
            );
        }
    }
}

/// The gate of the transaction at `txn`'s address, shared by every scope on it. The address
/// identifies the transaction while any scope borrows it (it cannot move or be dropped); an
/// entry dies with the last scope that holds its gate.
fn gate_of(txn: &DatabaseTransaction) -> Arc<Mutex<()>> {
    static GATES: StdMutex<Vec<(usize, Weak<Mutex<()>>)>> = StdMutex::new(Vec::new());
    let key = std::ptr::from_ref(txn) as usize;
    let mut gates = GATES.lock().unwrap_or_else(PoisonError::into_inner);
    gates.retain(|(_, gate)| gate.strong_count() > 0);
    if let Some(gate) = gates
        .iter()
        .find(|(at, _)| *at == key)
        .and_then(|(_, gate)| gate.upgrade())
    {
        return gate;
    }
    let gate = Arc::new(Mutex::new(()));
    gates.push((key, Arc::downgrade(&gate)));
    gate
}

#[async_trait::async_trait]
impl ConnectionTrait for TransactionScope<'_> {
    fn get_database_backend(&self) -> DbBackend {
        DbBackend::Postgres
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        screen::check_single(&self.sql.tenant, &stmt.sql, Screen::CallersTransaction)?;
        let text = stmt.sql.clone();
        let stmt = self.tagged(stmt);
        self.in_path(&text, self.txn.execute_raw(stmt)).await
    }

    /// Runs each statement of `sql` on its own (bound, so the server refuses any piece that
    /// still holds two commands). `rows_affected()` is the last statement's: sea-orm's
    /// [`ExecResult`] cannot be summed outside sea-orm.
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let statements = screen::statements(&self.sql.tenant, sql, Screen::CallersTransaction)?;
        let Some((last, first)) = statements.split_last() else {
            // Blanks and comments only: nothing to run in any path.
            return self.txn.execute_unprepared("").await;
        };
        let piece = |s: &str| self.tagged(Statement::from_string(DbBackend::Postgres, s));
        self.in_path(sql, async {
            for statement in first {
                self.txn.execute_raw(piece(statement)).await?;
            }
            self.txn.execute_raw(piece(last)).await
        })
        .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        screen::check_single(&self.sql.tenant, &stmt.sql, Screen::CallersTransaction)?;
        let text = stmt.sql.clone();
        let stmt = self.tagged(stmt);
        self.in_path(&text, self.txn.query_one_raw(stmt)).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        screen::check_single(&self.sql.tenant, &stmt.sql, Screen::CallersTransaction)?;
        let text = stmt.sql.clone();
        let stmt = self.tagged(stmt);
        self.in_path(&text, self.txn.query_all_raw(stmt)).await
    }
}
