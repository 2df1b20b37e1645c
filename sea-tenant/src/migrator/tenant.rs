//! One tenant's share of a run: its migrations, each in a transaction of its own.
//!
//! Each migration runs in its own transaction on a connection the migrator owns:
//!
//! 1. `BEGIN`
//! 2. one round trip: the tenant lock (`pg_advisory_xact_lock` keyed on the schema, so two
//!    migrators, owner hooks and `ensure` calls never work on one tenant at once, while
//!    different tenants still proceed in parallel), then the search path set to the tenant
//!    alone (transaction-local, so nothing outlives the transaction), then, the first time
//!    only, the schema and the version table if missing (see `tenant_sql.rs`);
//! 3. the version row is inserted with `ON CONFLICT DO NOTHING`; if another runner recorded it
//!    while this one waited for the lock, nothing is inserted and the transaction is rolled
//!    back;
//! 4. the migration's `up` (or `down`, which deletes the row instead);
//! 5. `COMMIT`. A failing migration rolls back with its version row: nothing half-applied.
//!
//! Only a tenant's last transaction of a run commits synchronously. The ones before it set
//! `synchronous_commit = off` for themselves (transaction-local): they are just as atomic, but
//! do not wait for their own WAL flush, because the last, synchronous commit flushes the WAL up
//! to itself, and so every earlier commit, before the tenant is reported done. This saves a
//! disk flush per migration. Should the server crash in between, the unflushed migrations are
//! lost together with their version rows, and a rerun applies them again. So a failed tenant's
//! report counts as committed only what is known durable: after a failure the migrator tries a
//! synchronous commit to flush the earlier ones, and when the connection is gone it lists them
//! as "not confirmed durable" instead ([`Outcome::unconfirmed`]).

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use sea_orm_migration::{MigrationTrait, SchemaManager};
use tracing::{debug, warn};

use super::catalog::TenantState;
use super::connection::is_connection_error;
use super::lock::{blockers, is_lock_timeout, lock_timeout_sql, retry_pause};
use super::report::{MigrationState, Operation, Outcome};
use super::{NamedMigration, TenantMigrator};
use crate::tenant_sql::VersionTable;
use crate::{Error, Result, TenantName, citus, tenant_sql};

/// Which way a migration runs.
#[derive(Debug, Clone, Copy)]
enum Direction {
    Up,
    Down,
}

impl TenantMigrator {
    /// Runs `operation` in one tenant, on `conn`, from what the catalog and its version table
    /// said of it (`state`).
    pub(super) async fn run_one_tenant(
        &self,
        conn: &DatabaseConnection,
        operation: Operation,
        tenant: &TenantName,
        state: TenantState,
    ) -> Outcome {
        if let Some(version) = state
            .applied
            .iter()
            .find(|v| self.sorted_names.binary_search(v).is_err())
        {
            return Outcome::failed(Error::UnknownMigration {
                tenant: tenant.clone(),
                version: version.to_string(),
            });
        }
        let creates = matches!(
            operation,
            Operation::Up(_) | Operation::Fresh | Operation::Refresh
        );
        let will_create = creates && self.create_missing;
        if !state.schema_exists && !will_create {
            return Outcome::Missing;
        }
        let mut txns = TenantTransactions::new(self, conn, tenant, state);
        let result = match operation {
            Operation::Status => return Outcome::Status(txns.status()),
            Operation::Up(steps) => txns.up(steps).await,
            Operation::Down(steps) => txns.down(steps).await,
            Operation::Reset => txns.down(None).await,
            Operation::Refresh => match txns.down(None).await {
                Ok(()) => txns.up(None).await,
                Err(e) => Err(e),
            },
            Operation::Fresh => match txns.recreate_schema().await {
                Ok(()) => txns.up(None).await,
                Err(e) => Err(e),
            },
        };
        // Refresh's rollbacks, or a fresh with no migrations, can end on an asynchronous
        // commit: make it durable before the tenant is reported done.
        let result = match result {
            Ok(()) if txns.unflushed => txns.flush().await,
            // What committed asynchronously before the failure is durable only once flushed:
            // try; if the connection is gone, `finish` reports it as not confirmed.
            // A lost connection cannot flush (and the server may be gone): those stay
            // unconfirmed.
            Err(error) if txns.unflushed && !is_connection_error(&error) => {
                if let Err(flush) = txns.flush().await {
                    debug!(%tenant, error = %flush, "flushing after a failure failed");
                }
                Err(error)
            }
            other => other,
        };
        txns.finish(result)
    }
}

/// One tenant's migration transactions within a run: what is known of its state, what has been
/// committed, and which of that is known durable.
struct TenantTransactions<'a> {
    migrator: &'a TenantMigrator,
    conn: &'a DatabaseConnection,
    tenant: &'a TenantName,
    state: TenantState,
    applied: Vec<Arc<str>>,
    rolled_back: Vec<Arc<str>>,
    /// How many of `applied` and `rolled_back` are known durable; the rest committed
    /// asynchronously.
    durable: Durable,
    /// Whether the last commit was asynchronous and not yet followed by a synchronous one.
    unflushed: bool,
}

impl<'a> TenantTransactions<'a> {
    fn new(
        migrator: &'a TenantMigrator,
        conn: &'a DatabaseConnection,
        tenant: &'a TenantName,
        state: TenantState,
    ) -> Self {
        TenantTransactions {
            migrator,
            conn,
            tenant,
            state,
            applied: Vec::new(),
            rolled_back: Vec::new(),
            durable: Durable::default(),
            unflushed: false,
        }
    }

    fn version_table(&self) -> VersionTable<'_> {
        VersionTable::new(self.tenant, &self.migrator.version_table)
    }

    fn status(&self) -> Vec<MigrationState> {
        self.migrator
            .migrations
            .iter()
            .map(|m| MigrationState {
                name: Arc::clone(&m.name),
                applied: self.is_applied(&m.name),
            })
            .collect()
    }

    fn is_applied(&self, name: &str) -> bool {
        self.state
            .applied
            .binary_search_by(|v| (**v).cmp(name))
            .is_ok()
    }

    fn finish(mut self, result: Result<()>) -> Outcome {
        match result {
            Err(error) => {
                let mut unconfirmed = self
                    .applied
                    .split_off(self.durable.applied.min(self.applied.len()));
                unconfirmed.extend(
                    self.rolled_back
                        .split_off(self.durable.rolled_back.min(self.rolled_back.len())),
                );
                Outcome::Failed {
                    error,
                    rolled_back: self.rolled_back,
                    applied: self.applied,
                    unconfirmed,
                }
            }
            Ok(()) if self.applied.is_empty() && self.rolled_back.is_empty() => Outcome::UpToDate,
            Ok(()) => Outcome::Changed {
                rolled_back: self.rolled_back,
                applied: self.applied,
            },
        }
    }

    /// Begins a transaction scoped to the tenant and holding its lock; creates the schema and
    /// the version table first when they are not known to exist. One round trip after BEGIN.
    async fn begin(&mut self, durable: bool) -> Result<DatabaseTransaction> {
        let db_err = Error::tenant_db(self.tenant);
        let txn = self.conn.begin().await.map_err(db_err)?;
        // The lock before the search_path names the schema: a name looked up (and found
        // missing) before waiting would stay missing in this backend's catalog cache after a
        // concurrent creator committed (see `tenant_sql.rs`).
        let mut sql = format!(
            "{timeout}{lock}; {path}",
            timeout = lock_timeout_sql(self.migrator.lock_timeout),
            lock = tenant_sql::lock_tenant(self.tenant),
            path = tenant_sql::set_tenant_path(self.tenant),
        );
        if let Some(strict) = &self.migrator.strict {
            if self.state.lacks_role {
                // A tenant from before strict mode: handed to the owner role first, by the
                // migrating login.
                sql += "; ";
                sql += &crate::tenant_sql::role::adopt_schema(self.tenant, strict.owner_role());
            }
            // The owner role owns the schema and everything migrations create in it.
            sql += "; ";
            sql += &crate::tenant_sql::role::set_local_role(strict.owner_role());
        }
        if !durable {
            // Only this transaction's commit stops waiting for the WAL flush; it stays atomic,
            // and the tenant's last commit (synchronous) flushes it before the tenant is
            // reported done. See the module docs.
            sql += "; SELECT set_config('synchronous_commit', 'off', true)";
        }
        if !self.state.schema_exists {
            sql += "; ";
            sql += &tenant_sql::create_schema_if_missing(self.tenant, crate::citus::distribution());
        }
        if let Some(strict) = &self.migrator.strict
            && (!self.state.schema_exists || self.state.lacks_role)
        {
            for statement in tenant_sql::tenant_role(self.tenant, strict) {
                sql += "; ";
                sql += &statement;
            }
        }
        if !self.state.has_version_table {
            sql += "; ";
            sql += &self.version_table().create_if_missing_sql();
        }
        txn.execute_unprepared(&sql)
            .await
            .map_err(Error::tenant_db(self.tenant))?;
        Ok(txn)
    }

    /// Makes every earlier asynchronous commit of this tenant durable: a synchronous commit
    /// of a transaction with an id flushes the WAL up to its own record, so everything before.
    async fn flush(&mut self) -> Result<()> {
        let txn = self
            .conn
            .begin()
            .await
            .map_err(Error::tenant_db(self.tenant))?;
        txn.execute_unprepared("SELECT txid_current()")
            .await
            .map_err(Error::tenant_db(self.tenant))?;
        txn.commit().await.map_err(Error::tenant_db(self.tenant))?;
        self.unflushed = false;
        self.confirm();
        Ok(())
    }

    /// Everything recorded so far is durable.
    fn confirm(&mut self) {
        self.durable = Durable {
            applied: self.applied.len(),
            rolled_back: self.rolled_back.len(),
        };
    }

    /// Commits a migration's transaction and notes whether it still needs a flush.
    async fn commit(&mut self, txn: DatabaseTransaction, durable: bool) -> Result<()> {
        txn.commit().await.map_err(Error::tenant_db(self.tenant))?;
        self.unflushed = !durable;
        Ok(())
    }

    /// Notes a step's result as applied or rolled back; durable unless its commit was not.
    fn record(&mut self, name: &Arc<str>, direction: Direction) {
        match direction {
            Direction::Up => self.applied.push(Arc::clone(name)),
            Direction::Down => self.rolled_back.push(Arc::clone(name)),
        }
        if !self.unflushed {
            self.confirm();
        }
    }

    /// After a commit that created them, the schema and version table are known to exist.
    fn created(&mut self) {
        self.state.schema_exists = true;
        self.state.has_version_table = true;
        self.state.lacks_role = false;
    }

    async fn up(&mut self, steps: Option<u32>) -> Result<()> {
        let migrations = Arc::clone(&self.migrator.migrations);
        let limit = steps.map_or(usize::MAX, |n| n as usize);
        let pending: Vec<&NamedMigration> = migrations
            .iter()
            .filter(|m| !self.is_applied(&m.name))
            .take(limit)
            .collect();
        let count = pending.len();
        let complete = self.state.applied.len() == migrations.len();
        if count == 0
            && complete
            && self.migrator.trust_fingerprints
            && self.state.has_version_table
            && !self.state.from_fingerprint
        {
            // Up to date, but the fingerprint is missing or stale (a table from before
            // fingerprints, or edited by hand): leave a correct one for the next deploy.
            let txn = self.begin(true).await?;
            txn.execute_unprepared(&self.version_table().fingerprint_sql())
                .await
                .map_err(Error::tenant_db(self.tenant))?;
            self.commit(txn, true).await?;
        }
        if count == 0 && self.state.lacks_role && self.migrator.strict.is_some() {
            // A tenant from before strict mode: its role and grants, nothing else.
            let txn = self.begin(true).await?;
            self.commit(txn, true).await?;
            self.created();
        }
        for (i, pending) in pending.into_iter().enumerate() {
            let durable = i + 1 == count;
            let done = self
                .step(pending.migration.as_ref(), Direction::Up, durable)
                .await?;
            // Either way the schema and version table exist now.
            self.created();
            if done {
                self.state.applied.push(Arc::clone(&pending.name));
                self.state.applied.sort();
                self.record(&pending.name, Direction::Up);
            }
        }
        Ok(())
    }

    async fn down(&mut self, steps: Option<u32>) -> Result<()> {
        let migrations = Arc::clone(&self.migrator.migrations);
        let applied: Vec<&NamedMigration> = migrations
            .iter()
            .filter(|m| self.is_applied(&m.name))
            .collect();
        let limit = steps.map_or(usize::MAX, |n| n as usize);
        let rollback: Vec<_> = applied.into_iter().rev().take(limit).collect();
        let count = rollback.len();
        for (i, applied) in rollback.into_iter().enumerate() {
            let durable = i + 1 == count;
            if self
                .step(applied.migration.as_ref(), Direction::Down, durable)
                .await?
            {
                self.state.applied.retain(|v| *v != applied.name);
                self.record(&applied.name, Direction::Down);
            }
        }
        Ok(())
    }

    /// [`TenantTransactions::step_once`], tried again after a lock timeout (each attempt rolled
    /// back whole), up to `lock_retries` times with a growing pause.
    async fn step(
        &mut self,
        migration: &dyn MigrationTrait,
        direction: Direction,
        durable: bool,
    ) -> Result<bool> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.step_once(migration, direction, durable).await {
                Err(error) if is_lock_timeout(&error) => {
                    let blockers = blockers(self.conn, self.tenant).await;
                    if attempts > self.migrator.lock_retries {
                        return Err(Error::LockTimeout {
                            tenant: self.tenant.clone(),
                            migration: migration.name().to_owned(),
                            timeout: self.migrator.lock_timeout.unwrap_or_default(),
                            attempts,
                            blockers,
                        });
                    }
                    let pause = retry_pause(attempts);
                    warn!(tenant = %self.tenant, migration = %migration.name(), attempts, ?pause, %blockers, "lock timeout; retrying");
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }

    /// Applies or rolls back one migration in its own transaction, with its version row.
    /// Returns `false` when another runner did it first (seen under the lock).
    async fn step_once(
        &mut self,
        migration: &dyn MigrationTrait,
        direction: Direction,
        durable: bool,
    ) -> Result<bool> {
        let name = migration.name();
        let table = self.version_table();
        let bookkeeping = match direction {
            // The run's last step for this tenant leaves the fingerprint of what it holds.
            Direction::Up if durable => {
                format!("{}; {}", table.insert_sql(name), table.fingerprint_sql())
            }
            Direction::Up => table.insert_sql(name),
            // Every rollback step rewrites the fingerprint, so that an interrupted rollback
            // never leaves one that claims versions the table no longer holds.
            Direction::Down => format!("{}; {}", table.delete_sql(name), table.fingerprint_sql()),
        };
        let txn = self.begin(durable).await?;
        let changed = txn
            .execute_unprepared(&bookkeeping)
            .await
            .map_err(Error::tenant_db(self.tenant))?
            .rows_affected();
        if changed == 0 {
            txn.rollback()
                .await
                .map_err(Error::tenant_db(self.tenant))?;
            debug!(tenant = %self.tenant, migration = %name, ?direction, "already done by another runner");
            return Ok(false);
        }
        if migration.use_transaction() == Some(false) {
            debug!(migration = %name, "use_transaction() is false, but tenant migrations always run in a transaction");
        }
        let manager = SchemaManager::new(&txn);
        let result = match direction {
            Direction::Up => migration.up(&manager).await,
            Direction::Down => migration.down(&manager).await,
        };
        drop(manager);
        if let Err(source) = result {
            txn.rollback().await.ok();
            return Err(citus::classify(source, self.tenant, Some(name), |source| {
                Error::Migration {
                    tenant: self.tenant.clone(),
                    migration: name.to_owned(),
                    source,
                }
            }));
        }
        self.commit(txn, durable).await?;
        debug!(tenant = %self.tenant, migration = %name, ?direction, "done");
        Ok(true)
    }

    /// `fresh`: the schema is dropped and recreated in one transaction, under the lock.
    async fn recreate_schema(&mut self) -> Result<()> {
        // Not durable on its own: the migrations that follow end with a synchronous commit.
        let txn = self.begin(false).await?;
        let mut sql = format!(
            "{}; {}",
            tenant_sql::drop_schema(self.tenant),
            tenant_sql::create_schema(self.tenant, crate::citus::distribution())
        );
        if let Some(strict) = &self.migrator.strict {
            // The role outlives the dropped schema; its grants on the new one are new.
            for statement in tenant_sql::tenant_role(self.tenant, strict) {
                sql += "; ";
                sql += &statement;
            }
        }
        txn.execute_unprepared(&sql)
            .await
            .map_err(Error::tenant_db(self.tenant))?;
        self.commit(txn, false).await?;
        self.state = TenantState {
            schema_exists: true,
            ..TenantState::default()
        };
        Ok(())
    }
}

/// How many of a tenant's applied and rolled-back migrations are known durable: committed
/// synchronously, or followed by a synchronous commit.
#[derive(Debug, Default, Clone, Copy)]
struct Durable {
    applied: usize,
    rolled_back: usize,
}
