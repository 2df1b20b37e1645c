//! Running one sea-orm-migration set in every tenant schema.
//!
//! # How a tenant is migrated
//! Each migration runs in its own transaction on a connection the migrator owns:
//!
//! 1. `BEGIN`
//! 2. one round trip: `pg_advisory_xact_lock` keyed on the schema (so two migrators, owner
//!    hooks and `ensure` calls never work on one tenant at once, while different tenants still
//!    proceed in parallel), then `set_config('search_path', '"tenant"', true)`
//!    (transaction-local, so nothing outlives the transaction), then, the first time only,
//!    `CREATE SCHEMA IF NOT EXISTS` and the version table;
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
//!
//! # Faults
//! Every migration transaction sets `lock_timeout` for itself ([`TenantMigrator::lock_timeout`],
//! default 10 s), before it takes the tenant lock. A migration that times out (SQLSTATE 55P03)
//! is rolled back and tried again after a pause, [`TenantMigrator::lock_retries`] times; then
//! the tenant fails with "lock timeout" and the sessions that hold locks on its tables (from
//! `pg_locks` and `pg_stat_activity`), and the run carries on with the others.
//! Connections are opened directly under [`TenantMigrator::connect_timeout`], so a refused,
//! full or silent server is reported with its own error; only "the database system is
//! starting up" is retried. After [`CIRCUIT_BREAKER_FAILURES`] connection failures in a row the
//! run starts no more tenants and reports them as not attempted.
//!
//! # How many tenants at once
//! First, one catalog query per 5,000 tenants, on the application's pool, says which schemas
//! and version tables exist, and compares each version table's fingerprint (its comment, see
//! `version_table.rs`) with that of the complete migration set: for `up`, a tenant whose
//! fingerprint matches is done without any further query, so a no-op deploy costs a handful
//! of queries in all. The other tenants are cut into chunks; a worker reads a chunk's version
//! tables with one `UNION ALL` query per 500 tables and puts its tenants on a shared queue,
//! from which every worker takes one tenant at a time: a tenant that waits holds up only its
//! own worker. Up to `concurrency` workers run at once. When more than one tenant needs work,
//! each worker uses a dedicated connection built from the pool's connect options, which never
//! goes back to the application's pool and is replaced after `recycle_after` tenants (PostgreSQL
//! keeps ~20 KB of catalog cache per table a backend has touched and never frees it) or after
//! a connection failure. A one-tenant run uses the application's pool, which is safe because
//! every tenant setting is transaction-local.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sea_orm::sqlx::postgres::{PgConnection, PgPoolOptions};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DatabaseTransaction, DbErr,
    RuntimeErr, SqlxPostgresConnector, Statement, TransactionTrait,
};
use sea_orm_migration::{MigrationTrait, MigratorTrait, SchemaManager};
use tracing::{debug, info, warn};

use crate::catalog::{CompleteSet, TenantState, load_catalog, load_versions};
use crate::lock::lock_sql;
use crate::name::quote_literal;
use crate::progress::Progress;
use crate::report::{MigrationState, Operation, Outcome, Report, TenantReport};
use crate::tenants::TenantRow;
use crate::version_table::{DEFAULT_VERSION_TABLE, VersionTable, expected_fingerprint_sql};
use crate::{AllTenants, ConnectError, Error, Result, TenantName};

/// The default number of tenants migrated at once.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The default number of tenants a worker connection serves before it is replaced.
pub const DEFAULT_RECYCLE_AFTER: usize = 250;

/// The largest batch of tenants whose state is read together.
const MAX_BATCH: usize = 500;

/// How long the tenant listing may wait for the application's pool before a direct
/// connection checks the server (see `TenantMigrator::list_tenants`).
const PROBE_AFTER: Duration = Duration::from_millis(250);

/// The default lock timeout of each migration transaction (as strong_migrations').
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The default number of retries of a migration that hit the lock timeout.
pub const DEFAULT_LOCK_RETRIES: u32 = 2;

/// The default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// After this many connection failures in a row (across workers), a run starts no more
/// tenants: the rest are reported as not attempted (the circuit breaker).
pub const CIRCUIT_BREAKER_FAILURES: usize = 3;

/// Which way a migration runs.
#[derive(Debug, Clone, Copy)]
enum Direction {
    Up,
    Down,
}

/// A tenant a worker has to look at: its index in the report, its name, and what the catalog
/// said of it.
type Work = (usize, TenantName, TenantState);

/// A tenant whose version table has been read (or could not be).
type Ready = (usize, TenantName, std::result::Result<TenantState, DbErr>);

/// A run's work: chunks of tenants whose version tables are still to be read, and tenants
/// ready to be migrated, taken one at a time by whichever worker is free.
struct Queue {
    unread: VecDeque<Vec<Work>>,
    ready: VecDeque<Ready>,
}

enum Next {
    Tenant(Ready),
    Chunk(Vec<Work>),
}

/// What stops a run from starting tenants: `fail_fast` after a problem, or the circuit
/// breaker after [`CIRCUIT_BREAKER_FAILURES`] connection failures in a row.
#[derive(Default)]
struct Stop {
    fail_fast: AtomicBool,
    consecutive: AtomicUsize,
    tripped: OnceLock<Arc<str>>,
}

impl Stop {
    /// The outcome of a tenant that is no longer started, if the run has stopped.
    fn outcome(&self) -> Option<Outcome> {
        if let Some(reason) = self.tripped.get() {
            Some(Outcome::NotAttempted {
                reason: Arc::clone(reason),
            })
        } else if self.fail_fast.load(Ordering::Relaxed) {
            Some(Outcome::Skipped)
        } else {
            None
        }
    }

    fn connection_ok(&self) {
        self.consecutive.store(0, Ordering::Relaxed);
    }

    /// Whether the last connection attempt failed.
    fn connections_failing(&self) -> bool {
        self.consecutive.load(Ordering::Relaxed) > 0
    }

    /// Counts a connection failure; trips the breaker at the limit, else pauses a little
    /// longer each time (a restarting server gets a moment).
    async fn connection_failed(&self, error: &(dyn std::fmt::Display + Sync)) {
        let n = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= CIRCUIT_BREAKER_FAILURES {
            let mut first = false;
            self.tripped.get_or_init(|| {
                first = true;
                Arc::from(format!(
                    "the run stopped after {n} connection failures in a row (last: {error})"
                ))
            });
            if first {
                warn!(%error, failures = n, "circuit breaker: starting no more tenants");
            }
            return;
        }
        warn!(%error, failures = n, "connection failure");
        tokio::time::sleep(Duration::from_millis(100 << n.min(4))).await;
    }
}

fn done_stopped(done: &impl Fn(usize, Outcome), chunk: Vec<Work>, first: Outcome, stop: &Stop) {
    let mut first = Some(first);
    for (i, _, _) in chunk {
        let outcome = first
            .take()
            .or_else(|| stop.outcome())
            .unwrap_or(Outcome::Skipped);
        done(i, outcome);
    }
}

async fn close_quietly(conn: PgConnection) {
    conn.close().await.ok();
}

/// A worker's own connection (see `TenantMigrator::worker_connection`).
#[derive(Default)]
struct WorkerConn {
    current: Option<DatabaseConnection>,
    /// Tenants served on `current`, for recycling.
    served: usize,
    /// Whether this worker has opened a connection before.
    opened: bool,
}

impl WorkerConn {
    async fn drop_current(&mut self) {
        if let Some(old) = self.current.take() {
            old.close().await.ok();
        }
    }
}

fn sqlx_error_of(error: &DbErr) -> Option<&sqlx::Error> {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

fn sqlstate_of(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Whether an error says the connection (or the server) is gone, rather than anything about
/// the statement: I/O, TLS, protocol, pool errors, and SQLSTATE class 08, 57P01–57P03, 53300.
fn is_connection_db_err(error: &DbErr) -> bool {
    if matches!(error, DbErr::ConnectionAcquire(_)) {
        return true;
    }
    match sqlx_error_of(error) {
        Some(
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed,
        ) => true,
        Some(e) => sqlstate_of(e).is_some_and(|code| {
            code.starts_with("08") || ["57P01", "57P02", "57P03", "53300"].contains(&code.as_str())
        }),
        None => false,
    }
}

fn db_err_of(error: &Error) -> Option<&DbErr> {
    match error {
        Error::Tenant { source, .. } | Error::Migration { source, .. } => Some(source),
        _ => None,
    }
}

fn is_connection_error(error: &Error) -> bool {
    match error {
        Error::TenantConnect { .. } | Error::Connect(_) => true,
        other => db_err_of(other).is_some_and(is_connection_db_err),
    }
}

/// SQLSTATE 55P03 (`lock_not_available`): "canceling statement due to lock timeout".
fn is_lock_timeout(error: &Error) -> bool {
    db_err_of(error)
        .and_then(sqlx_error_of)
        .and_then(sqlstate_of)
        .as_deref()
        == Some("55P03")
}

/// Runs a tenant migration set (a sea-orm-migration [`MigratorTrait`]) in every tenant schema
/// that an [`AllTenants`] source lists.
///
/// ```no_run
/// use sea_orm::Database;
/// use sea_tenant::{TenantMigrator, tenants};
/// # mod tenant_migration {
/// #     use sea_orm_migration::prelude::*;
/// #     pub struct Migrator;
/// #     impl MigratorTrait for Migrator {
/// #         fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// #     }
/// # }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let db = Database::connect("postgres://postgres@127.0.0.1/app").await?;
/// let migrator = TenantMigrator::new(
///     db,
///     tenant_migration::Migrator,
///     tenants::from_query("SELECT 'org_' || id FROM organization ORDER BY id"),
/// )
/// .concurrency(8);
///
/// let report = migrator.up(None).await?;
/// println!("{report}");
/// if !report.is_success() {
///     std::process::exit(1);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TenantMigrator {
    db: DatabaseConnection,
    migrations: Arc<Vec<Box<dyn MigrationTrait>>>,
    /// The migrations' names, in order, allocated once and shared by every report.
    names: Arc<Vec<Arc<str>>>,
    /// The same names, sorted, for look-ups.
    sorted_names: Arc<Vec<Arc<str>>>,
    source: Arc<dyn AllTenants>,
    version_table: String,
    concurrency: usize,
    recycle_after: usize,
    fail_fast: bool,
    create_missing: bool,
    trust_fingerprints: bool,
    lock_timeout: Option<Duration>,
    lock_retries: u32,
    connect_timeout: Duration,
    only: Vec<String>,
    except: Vec<String>,
    progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for TenantMigrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantMigrator")
            .field("migrations", &self.migrations.len())
            .field("version_table", &self.version_table)
            .field("concurrency", &self.concurrency)
            .field("recycle_after", &self.recycle_after)
            .field("fail_fast", &self.fail_fast)
            .field("create_missing", &self.create_missing)
            .field("lock_timeout", &self.lock_timeout)
            .field("lock_retries", &self.lock_retries)
            .field("connect_timeout", &self.connect_timeout)
            .field("only", &self.only)
            .field("except", &self.except)
            .finish_non_exhaustive()
    }
}

impl TenantMigrator {
    /// A migrator for the migration set `M` over the tenants `all_tenants` lists, using `db`
    /// (a PostgreSQL pool) for `all_tenants` and as the template for its own connections.
    pub fn new<M: MigratorTrait>(
        db: DatabaseConnection,
        _migrations: M,
        all_tenants: impl AllTenants + 'static,
    ) -> Self {
        Self::with_migrations(db, M::migrations(), all_tenants)
    }

    fn with_migrations(
        db: DatabaseConnection,
        migrations: Vec<Box<dyn MigrationTrait>>,
        all_tenants: impl AllTenants + 'static,
    ) -> Self {
        let names: Vec<Arc<str>> = migrations.iter().map(|m| Arc::from(m.name())).collect();
        let mut sorted_names = names.clone();
        sorted_names.sort();
        TenantMigrator {
            db,
            migrations: Arc::new(migrations),
            names: Arc::new(names),
            sorted_names: Arc::new(sorted_names),
            source: Arc::new(all_tenants),
            version_table: DEFAULT_VERSION_TABLE.to_owned(),
            concurrency: DEFAULT_CONCURRENCY,
            recycle_after: DEFAULT_RECYCLE_AFTER,
            fail_fast: false,
            create_missing: false,
            trust_fingerprints: true,
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
            lock_retries: DEFAULT_LOCK_RETRIES,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            only: Vec::new(),
            except: Vec::new(),
            progress: None,
        }
    }

    /// The name of the version table inside each tenant schema
    /// (default [`DEFAULT_VERSION_TABLE`]).
    pub fn version_table(mut self, name: impl Into<String>) -> Self {
        self.version_table = name.into();
        self
    }

    /// How many tenants are migrated at once (default [`DEFAULT_CONCURRENCY`], at least 1).
    /// The end state is the same as a sequential run's.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How many tenants a worker connection serves before it is closed and replaced
    /// (default [`DEFAULT_RECYCLE_AFTER`]).
    pub fn recycle_after(mut self, tenants: usize) -> Self {
        self.recycle_after = tenants.max(1);
        self
    }

    /// Stop starting new tenants after the first failure; the rest are reported as skipped.
    pub fn fail_fast(mut self, yes: bool) -> Self {
        self.fail_fast = yes;
        self
    }

    /// Create a tenant's schema when it does not exist (for `up`, `fresh` and `refresh`),
    /// instead of reporting it as missing.
    pub fn create_missing(mut self, yes: bool) -> Self {
        self.create_missing = yes;
        self
    }

    /// Whether `up` may skip reading a version table whose fingerprint (its table comment,
    /// see the module docs) says it holds every migration already. On by default; turn it off
    /// after editing version tables by hand. `status` and `down` always read the tables.
    pub fn trust_fingerprints(mut self, yes: bool) -> Self {
        self.trust_fingerprints = yes;
        self
    }

    /// How long a migration's statement may wait for a lock another session holds
    /// (`lock_timeout`, set for each migration transaction alone; default
    /// [`DEFAULT_LOCK_TIMEOUT`]; zero waits without limit). A migration that times out is
    /// rolled back and retried ([`TenantMigrator::lock_retries`]); if it never gets its lock
    /// the tenant is reported as failed with "lock timeout" and the sessions holding locks on
    /// its tables, and the other tenants carry on.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// How many times a migration that hit the lock timeout is tried again, after a growing
    /// pause (default [`DEFAULT_LOCK_RETRIES`]).
    pub fn lock_retries(mut self, retries: u32) -> Self {
        self.lock_retries = retries;
        self
    }

    /// How long opening a connection may take (default [`DEFAULT_CONNECT_TIMEOUT`]). The
    /// migrator opens its connections itself, so a refused, full or silent server is reported
    /// with its own error, at once or after this long, never after a pool's acquire timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Only run for these tenants (they must be listed by `all_tenants`).
    pub fn only<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tenants: I) -> Self {
        self.only = tenants.into_iter().map(Into::into).collect();
        self
    }

    /// Leave these tenants out.
    pub fn except<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tenants: I) -> Self {
        self.except = tenants.into_iter().map(Into::into).collect();
        self
    }

    /// Report progress, tenant by tenant.
    pub fn progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The migrations' names, in order.
    pub fn migration_names(&self) -> Vec<String> {
        self.migrations
            .iter()
            .map(|m| m.name().to_owned())
            .collect()
    }

    /// Applies pending migrations, at most `steps` per tenant.
    pub async fn up(&self, steps: Option<u32>) -> Result<Report> {
        self.run(Operation::Up(steps)).await
    }

    /// Rolls back the newest `steps` applied migrations per tenant; all when `None`.
    pub async fn down(&self, steps: Option<u32>) -> Result<Report> {
        self.run(Operation::Down(steps)).await
    }

    /// Reports each tenant's applied and pending migrations.
    pub async fn status(&self) -> Result<Report> {
        self.run(Operation::Status).await
    }

    /// Drops and recreates each tenant schema (`DROP SCHEMA … CASCADE`: everything in it is
    /// lost), then applies every migration.
    pub async fn fresh(&self) -> Result<Report> {
        self.run(Operation::Fresh).await
    }

    /// Rolls back every migration, then applies every migration.
    pub async fn refresh(&self) -> Result<Report> {
        self.run(Operation::Refresh).await
    }

    /// Rolls back every migration.
    pub async fn reset(&self) -> Result<Report> {
        self.run(Operation::Reset).await
    }

    /// Runs `operation` over the selected tenants. The `Err` case is for failures that concern
    /// the whole run (listing the tenants, a bad selection); per-tenant failures are in the
    /// report.
    pub async fn run(&self, operation: Operation) -> Result<Report> {
        self.check_version_table()?;
        let rows = self.list_tenants().await?;
        let mut warnings = Vec::new();
        if rows.is_empty() {
            warn!("all_tenants listed no tenants: nothing to do");
            warnings.push("all_tenants listed no tenants: nothing to do".to_owned());
        }
        let mut listed = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        for (n, row) in rows.into_iter().enumerate() {
            match row {
                TenantRow::Name(name) => listed.push(name),
                TenantRow::Bad(reason) => {
                    warn!(row = n + 1, %reason, "a row of all_tenants holds no tenant name; skipped");
                    bad.push(Error::BadTenantRow { row: n + 1, reason });
                }
            }
        }
        let selected = self.select(listed)?;
        if !self.only.is_empty() {
            // Only named tenants were asked for; a bad row is none of them.
            bad.clear();
        }
        Ok(self.run_on(operation, selected, bad, warnings).await)
    }

    /// Creates the tenant's schema if it is missing and applies its pending migrations,
    /// without consulting `all_tenants`. Repairs tenants whose owner rows were inserted without
    /// hooks (`insert_many`).
    pub async fn ensure_tenant(&self, tenant: &TenantName) -> Result<Outcome> {
        self.check_version_table()?;
        let migrator = self.clone().create_missing(true);
        let mut report = migrator
            .run_on(
                Operation::Up(None),
                vec![tenant.as_str().to_owned()],
                Vec::new(),
                Vec::new(),
            )
            .await;
        match report.tenants.pop().map(|t| t.outcome) {
            Some(Outcome::Failed { error, .. }) => Err(error),
            Some(outcome) => Ok(outcome),
            None => Ok(Outcome::UpToDate),
        }
    }

    /// The version table's name goes into SQL (also inside a `DO` body): it must pass the
    /// same rules as a tenant name.
    fn check_version_table(&self) -> Result<()> {
        TenantName::new(self.version_table.as_str())
            .map(|_| ())
            .map_err(Error::from)
    }

    /// The fingerprint of a version table holding the whole set, for `up`; `None` (read every
    /// table) if fingerprints are not trusted or it cannot be computed.
    async fn complete_set(&self, operation: Operation) -> Option<CompleteSet> {
        if !self.trust_fingerprints || !matches!(operation, Operation::Up(_)) {
            return None;
        }
        let versions: Vec<Arc<str>> = self.sorted_names.to_vec();
        let sql = expected_fingerprint_sql(&self.migration_names());
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                sql,
            ))
            .await
            .ok()??;
        let fingerprint = row.try_get_by_index::<String>(0).ok()?;
        Some(CompleteSet {
            fingerprint,
            versions,
        })
    }

    /// Applies `only` and `except`, dropping duplicates but keeping the listed order.
    fn select(&self, listed: Vec<String>) -> Result<Vec<String>> {
        // Borrowed, not cloned: at 10,000 tenants every copy of the list shows in the RSS.
        let mut seen = HashSet::with_capacity(listed.len());
        let first: Vec<bool> = listed.iter().map(|t| seen.insert(t.as_str())).collect();
        if let Some(unknown) = self.only.iter().find(|t| !seen.contains(t.as_str())) {
            return Err(Error::NotListed {
                tenant: unknown.clone(),
            });
        }
        drop(seen);
        Ok(listed
            .into_iter()
            .zip(first)
            .filter(|(_, first)| *first)
            .map(|(t, _)| t)
            .filter(|t| self.only.is_empty() || self.only.contains(t))
            .filter(|t| !self.except.contains(t))
            .collect())
    }

    /// The tenant listing, on the application's pool (see [`Self::on_app_pool`]).
    async fn list_tenants(&self) -> Result<Vec<TenantRow>> {
        self.on_app_pool(self.source.tenant_rows(&self.db))
            .await?
            .map_err(Error::AllTenants)
    }

    /// Runs `work`, which waits for the application's pool. A pool that does not answer at
    /// once (a server that refuses, is full or is silent keeps it waiting for its acquire
    /// timeout, then says only "pool timed out") is checked meanwhile with a direct connection,
    /// whose error ends the wait at once. A healthy pool costs no extra connection.
    async fn on_app_pool<T>(
        &self,
        work: impl Future<Output = T>,
    ) -> std::result::Result<T, ConnectError> {
        tokio::pin!(work);
        let probe = async {
            tokio::time::sleep(PROBE_AFTER).await;
            self.connect_direct().await
        };
        tokio::select! {
            done = &mut work => Ok(done),
            probed = probe => {
                close_quietly(probed?).await;
                Ok(work.await)
            }
        }
    }

    async fn run_on(
        &self,
        operation: Operation,
        tenants: Vec<String>,
        bad_rows: Vec<Error>,
        warnings: Vec<String>,
    ) -> Report {
        if let Some(progress) = &self.progress {
            progress.start(operation, tenants.len() + bad_rows.len());
        }
        // The report is built in place (every tenant `Skipped` until it has an outcome), so
        // the tenant list is never held twice.
        let mut report = Report {
            operation,
            tenants: tenants
                .into_iter()
                .map(|tenant| TenantReport {
                    tenant,
                    outcome: Outcome::Skipped,
                })
                .collect(),
            warnings,
        };
        let mut valid_at = Vec::new();
        let mut valid = Vec::new();
        for (i, entry) in report.tenants.iter_mut().enumerate() {
            match TenantName::new(entry.tenant.as_str()) {
                Ok(name) => {
                    valid_at.push(i);
                    valid.push(name);
                }
                Err(error) => {
                    warn!(tenant = %entry.tenant.escape_debug(), %error, "not a valid tenant name; skipped");
                    entry.outcome = failed(error.into());
                    self.report_progress(&entry.tenant, &entry.outcome);
                }
            }
        }
        // Rows that hold no name at all come last, failed, without a worker.
        for error in bad_rows {
            let tenant = match &error {
                Error::BadTenantRow { row, .. } => format!("(row {row})"),
                _ => "(bad row)".to_owned(),
            };
            let outcome = failed(error);
            self.report_progress(&tenant, &outcome);
            report.tenants.push(TenantReport { tenant, outcome });
        }

        // The catalog answers for every tenant at once, on the application's pool (it opens
        // no tenant table); tenants it shows complete need no worker at all.
        let loaded = self
            .on_app_pool(async {
                let complete = self.complete_set(operation).await;
                load_catalog(&self.db, &valid, &self.version_table, complete.as_ref()).await
            })
            .await;
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                warn!(%error, "cannot connect to the server: no tenant was started");
                for (i, tenant) in valid_at.iter().zip(&valid) {
                    let entry = &mut report.tenants[*i];
                    entry.outcome = failed(Error::TenantConnect {
                        tenant: tenant.clone(),
                        source: error.clone(),
                    });
                    self.report_progress(tenant.as_str(), &entry.outcome);
                }
                return self.finish_run(report);
            }
        };
        let work: Vec<Work> = match loaded {
            Ok(states) => valid_at
                .into_iter()
                .zip(valid)
                .zip(states)
                .filter_map(|((i, tenant), state)| {
                    if matches!(operation, Operation::Up(_)) && state.from_fingerprint {
                        let entry = &mut report.tenants[i];
                        entry.outcome = Outcome::UpToDate;
                        self.report_progress(tenant.as_str(), &entry.outcome);
                        None
                    } else {
                        Some((i, tenant, state))
                    }
                })
                .collect(),
            Err(error) => {
                warn!(%error, "reading the tenants' state from the catalog failed");
                for (i, tenant) in valid_at.into_iter().zip(valid) {
                    let entry = &mut report.tenants[i];
                    entry.outcome = failed(Error::Tenant {
                        tenant: tenant.clone(),
                        source: DbErr::Custom(format!("reading the catalog failed: {error}")),
                    });
                    self.report_progress(tenant.as_str(), &entry.outcome);
                }
                Vec::new()
            }
        };

        if !work.is_empty() {
            // Version tables are read a chunk at a time (one query per chunk), but tenants
            // are migrated one at a time from a shared queue: a tenant that waits (say for a
            // lock) holds up only its own worker, never the tenants read along with it.
            let chunk = work
                .len()
                .div_ceil(self.concurrency)
                .clamp(1, MAX_BATCH.min(self.recycle_after));
            let workers = self.concurrency.min(work.len()).max(1);
            // More than one tenant: each worker opens its own connection, so that a
            // connection failure shows its cause at once and a broken connection is
            // replaced (the application's pool would wait for its acquire timeout).
            let dedicated = work.len() > 1;
            let mut unread = VecDeque::new();
            let mut work = work.into_iter().peekable();
            while work.peek().is_some() {
                unread.push_back(work.by_ref().take(chunk).collect::<Vec<Work>>());
            }
            let queue = Mutex::new(Queue {
                unread,
                ready: VecDeque::new(),
            });
            let stop = Stop::default();
            // Workers write each outcome straight into the report.
            let slots = Mutex::new(std::mem::take(&mut report.tenants));
            futures::stream::iter(0..workers)
                .map(|_| self.worker(operation, &queue, &stop, dedicated, &slots))
                .buffer_unordered(workers)
                .collect::<Vec<()>>()
                .await;
            report.tenants = slots.into_inner().unwrap_or_else(|e| e.into_inner());
        }

        self.finish_run(report)
    }

    fn finish_run(&self, report: Report) -> Report {
        info!(summary = %report.summary(), "tenant migration run finished");
        if let Some(progress) = &self.progress {
            progress.finish(&report);
        }
        report
    }

    fn report_progress(&self, tenant: &str, outcome: &Outcome) {
        if let Some(progress) = &self.progress {
            progress.tenant_done(tenant, outcome);
        }
    }

    /// Takes work from the queue until none is left: migrates a ready tenant, else reads
    /// the version tables of the next chunk and makes its tenants ready.
    async fn worker(
        &self,
        operation: Operation,
        queue: &Mutex<Queue>,
        stop: &Stop,
        dedicated: bool,
        slots: &Mutex<Vec<TenantReport>>,
    ) {
        let done = |i: usize, outcome: Outcome| {
            let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
            let entry = &mut slots[i];
            self.report_progress(&entry.tenant, &outcome);
            entry.outcome = outcome;
        };
        let lock = || queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut conn = WorkerConn::default();
        loop {
            let next = {
                let mut q = lock();
                if let Some(tenant) = q.ready.pop_front() {
                    Next::Tenant(tenant)
                } else if let Some(chunk) = q.unread.pop_front() {
                    Next::Chunk(chunk)
                } else {
                    break;
                }
            };
            match next {
                Next::Chunk(chunk) => {
                    if let Some(outcome) = stop.outcome() {
                        done_stopped(&done, chunk, outcome, stop);
                        continue;
                    }
                    let c = match self.worker_connection(&mut conn, dedicated, stop).await {
                        Ok(c) => c,
                        Err(error) => {
                            lock().unread.push_front(chunk);
                            stop.connection_failed(&error).await;
                            continue;
                        }
                    };
                    match self.read_chunk(&c, chunk).await {
                        Ok(ready) => lock().ready.extend(ready),
                        Err((chunk, error)) => {
                            // The connection broke: nothing was read, nobody was touched.
                            conn.drop_current().await;
                            lock().unread.push_front(chunk);
                            stop.connection_failed(&error).await;
                        }
                    }
                }
                Next::Tenant((i, tenant, state)) => {
                    if let Some(outcome) = stop.outcome() {
                        done(i, outcome);
                        continue;
                    }
                    let state = match state {
                        Ok(state) => state,
                        Err(source) => {
                            let outcome = failed(Error::Tenant {
                                tenant: tenant.clone(),
                                source,
                            });
                            log_outcome(&tenant, &outcome);
                            done(i, outcome);
                            continue;
                        }
                    };
                    let c = match self.worker_connection(&mut conn, dedicated, stop).await {
                        Ok(c) => c,
                        Err(error) => {
                            // Not started: back to the queue, for this or another worker,
                            // unless the circuit breaker stops the run.
                            lock().ready.push_front((i, tenant, Ok(state)));
                            stop.connection_failed(&error).await;
                            continue;
                        }
                    };
                    let outcome = self.run_tenant(&c, operation, &tenant, state).await;
                    conn.served += 1;
                    match &outcome {
                        Outcome::Failed { error, .. } if is_connection_error(error) => {
                            conn.drop_current().await;
                            stop.connection_failed(error).await;
                        }
                        _ => stop.connection_ok(),
                    }
                    if self.fail_fast && outcome.is_problem() {
                        stop.fail_fast.store(true, Ordering::Relaxed);
                    }
                    log_outcome(&tenant, &outcome);
                    done(i, outcome);
                }
            }
        }
        if let Some(c) = conn.current.filter(|_| dedicated) {
            c.close().await.ok();
        }
    }

    /// The connection a worker works on: the application's pool for a one-tenant run, else
    /// the worker's own, opened on first use and replaced after `recycle_after` tenants.
    async fn worker_connection(
        &self,
        conn: &mut WorkerConn,
        dedicated: bool,
        stop: &Stop,
    ) -> Result<DatabaseConnection, ConnectError> {
        if !dedicated {
            // A single tenant is not worth a new connection: the pool is safe to use, since
            // every tenant setting is transaction-local.
            return Ok(self.db.clone());
        }
        if conn.served >= self.recycle_after {
            conn.drop_current().await;
            conn.served = 0;
        }
        if let Some(c) = &conn.current {
            // sqlx closes a connection that broke on its way back to the pool; reconnecting
            // inside the pool would retry a refusing server for the whole acquire timeout and
            // then hide why. Replace it here instead, which shows the cause at once.
            if c.get_postgres_connection_pool().size() > 0 {
                return Ok(c.clone());
            }
            conn.drop_current().await;
        }
        // A worker's first connection follows the catalog read that just succeeded; any
        // later one replaces a connection that broke (or is recycled): check first.
        let probe = conn.opened || stop.connections_failing();
        let c = self.dedicated_connection(probe).await?;
        conn.opened = true;
        conn.current = Some(c.clone());
        Ok(c)
    }

    /// Reads a chunk's version tables with one query; if that fails (say a schema was
    /// dropped since the catalog was read), tenant by tenant, so that only the tenant at fault
    /// fails. A broken connection gives the chunk back untouched, with the error.
    async fn read_chunk(
        &self,
        c: &DatabaseConnection,
        chunk: Vec<Work>,
    ) -> std::result::Result<Vec<Ready>, (Vec<Work>, DbErr)> {
        let mut indexes = Vec::with_capacity(chunk.len());
        let mut names = Vec::with_capacity(chunk.len());
        let mut states = Vec::with_capacity(chunk.len());
        for (i, name, state) in chunk {
            indexes.push(i);
            names.push(name);
            states.push(state);
        }
        let mut unreadable: Vec<Option<DbErr>> = names.iter().map(|_| None).collect();
        if let Err(error) = load_versions(
            c,
            &names,
            &mut states,
            &self.version_table,
            &self.sorted_names,
        )
        .await
        {
            if is_connection_db_err(&error) {
                let chunk = indexes.into_iter().zip(names).zip(states);
                return Err((chunk.map(|((i, n), s)| (i, n, s)).collect(), error));
            }
            debug!(%error, "reading a batch of version tables failed; reading them one by one");
            for k in 0..names.len() {
                if let Err(error) = load_versions(
                    c,
                    &names[k..=k],
                    &mut states[k..=k],
                    &self.version_table,
                    &self.sorted_names,
                )
                .await
                {
                    unreadable[k] = Some(error);
                }
            }
        }
        Ok(indexes
            .into_iter()
            .zip(names)
            .zip(states)
            .zip(unreadable)
            .map(|(((i, name), state), unreadable)| match unreadable {
                Some(error) => (i, name, Err(error)),
                None => (i, name, Ok(state)),
            })
            .collect())
    }

    /// Opens one connection with the pool's connect options, under the connect timeout,
    /// giving back PostgreSQL's or the operating system's own error. Only a server that is
    /// starting up or shutting down (SQLSTATE 57P03) is tried again, within the timeout.
    async fn connect_direct(&self) -> Result<PgConnection, ConnectError> {
        let DatabaseConnectionType::SqlxPostgresPoolConnection(_) = &self.db.inner else {
            return Err(ConnectError::NotPostgres);
        };
        let options = self.db.get_postgres_connection_pool().connect_options();
        let deadline = Instant::now() + self.connect_timeout;
        let mut backoff = Duration::from_millis(50);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, options.connect()).await {
                Err(_) => return Err(ConnectError::Timeout(self.connect_timeout)),
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(error))
                    if sqlstate_of(&error).as_deref() == Some("57P03")
                        && Instant::now() + backoff < deadline =>
                {
                    debug!(%error, "the server cannot take connections yet; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Ok(Err(error)) => return Err(ConnectError::Failed(Arc::new(error))),
            }
        }
    }

    /// A one-connection pool with the application pool's connect options, so tenant work
    /// never runs on (or leaves catalog cache in) a connection the application reuses.
    ///
    /// The pool's own connect retries a refused or full server until its acquire timeout and
    /// then hides why. So while connections fail (`probe`), a direct connection is opened (and
    /// closed) first to fail fast with the cause; while the server answers, that would only
    /// double the connects of every run (the run itself starts with one such probe). A pool
    /// connect that still fails is probed once to say why.
    async fn dedicated_connection(&self, probe: bool) -> Result<DatabaseConnection, ConnectError> {
        if probe {
            close_quietly(self.connect_direct().await?).await;
        }
        let options = (*self.db.get_postgres_connection_pool().connect_options()).clone();
        // The worker is the connection's only user and has just used it: a ping before every
        // transaction would only add a round trip.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .test_before_acquire(false)
            .acquire_timeout(self.connect_timeout)
            .connect_with(options)
            .await;
        match pool {
            Ok(pool) => Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool)),
            Err(error) if !probe => {
                close_quietly(self.connect_direct().await?).await;
                Err(ConnectError::Failed(Arc::new(error)))
            }
            Err(error) => Err(ConnectError::Failed(Arc::new(error))),
        }
    }

    async fn run_tenant(
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
            return failed(Error::UnknownMigration {
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
        let mut run = TenantRun::new(self, conn, tenant, state);
        let result = match operation {
            Operation::Status => return Outcome::Status(run.status()),
            Operation::Up(steps) => run.up(steps).await,
            Operation::Down(steps) => run.down(steps).await,
            Operation::Reset => run.down(None).await,
            Operation::Refresh => match run.down(None).await {
                Ok(()) => run.up(None).await,
                Err(e) => Err(e),
            },
            Operation::Fresh => match run.recreate_schema().await {
                Ok(()) => run.up(None).await,
                Err(e) => Err(e),
            },
        };
        // Refresh's rollbacks, or a fresh with no migrations, can end on an asynchronous
        // commit: make it durable before the tenant is reported done.
        let result = match result {
            Ok(()) if run.unflushed => run.flush().await,
            // What committed asynchronously before the failure is durable only once flushed:
            // try; if the connection is gone, `finish` reports it as not confirmed.
            // A lost connection cannot flush (and the server may be gone): those stay
            // unconfirmed.
            Err(error) if run.unflushed && !is_connection_error(&error) => {
                if let Err(flush) = run.flush().await {
                    debug!(%tenant, error = %flush, "flushing after a failure failed");
                }
                Err(error)
            }
            other => other,
        };
        run.finish(result)
    }
}

fn failed(error: Error) -> Outcome {
    Outcome::Failed {
        error,
        rolled_back: Vec::new(),
        applied: Vec::new(),
        unconfirmed: Vec::new(),
    }
}

fn log_outcome(tenant: &TenantName, outcome: &Outcome) {
    match outcome {
        Outcome::Failed { error, .. } => warn!(%tenant, %error, "tenant failed"),
        Outcome::Missing => warn!(%tenant, "tenant schema does not exist"),
        Outcome::Changed { .. } => info!(%tenant, result = %outcome, "tenant migrated"),
        _ => debug!(%tenant, result = %outcome, "tenant done"),
    }
}

/// One tenant's work within a run: what is known of its state and what has been committed.
struct TenantRun<'a> {
    migrator: &'a TenantMigrator,
    conn: &'a DatabaseConnection,
    tenant: &'a TenantName,
    state: TenantState,
    applied: Vec<Arc<str>>,
    rolled_back: Vec<Arc<str>>,
    /// How many of `applied` and `rolled_back` are known durable (committed synchronously or
    /// followed by a synchronous commit); the rest committed asynchronously.
    durable: (usize, usize),
    /// Whether the last commit was asynchronous and not yet followed by a synchronous one.
    unflushed: bool,
}

impl<'a> TenantRun<'a> {
    fn new(
        migrator: &'a TenantMigrator,
        conn: &'a DatabaseConnection,
        tenant: &'a TenantName,
        state: TenantState,
    ) -> Self {
        TenantRun {
            migrator,
            conn,
            tenant,
            state,
            applied: Vec::new(),
            rolled_back: Vec::new(),
            durable: (0, 0),
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
            .zip(self.migrator.names.iter())
            .map(|(m, name)| MigrationState {
                name: Arc::clone(name),
                applied: self.is_applied(m.name()),
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
                    .split_off(self.durable.0.min(self.applied.len()));
                unconfirmed.extend(
                    self.rolled_back
                        .split_off(self.durable.1.min(self.rolled_back.len())),
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
        // concurrent creator committed (see `lock.rs`).
        let mut sql = format!(
            "{timeout}{lock}; SELECT set_config('search_path', {path}, true)",
            timeout = self.lock_timeout_sql(),
            lock = lock_sql(self.tenant),
            path = quote_literal(&self.tenant.quoted()),
        );
        if !durable {
            // Only this transaction's commit stops waiting for the WAL flush; it stays atomic,
            // and the tenant's last commit (synchronous) flushes it before the tenant is
            // reported done. See the module docs.
            sql += "; SELECT set_config('synchronous_commit', 'off', true)";
        }
        if !self.state.schema_exists {
            sql += &format!("; CREATE SCHEMA IF NOT EXISTS {}", self.tenant.quoted());
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
        self.durable = (self.applied.len(), self.rolled_back.len());
    }

    /// `, set_config('lock_timeout', …, true)`, set before the tenant lock is taken, so that
    /// it bounds every wait of the transaction; empty without a lock timeout.
    fn lock_timeout_sql(&self) -> String {
        match self.migrator.lock_timeout {
            Some(timeout) => format!(
                "SELECT set_config('lock_timeout', '{}ms', true); ",
                timeout.as_millis().max(1)
            ),
            None => String::new(),
        }
    }

    /// The sessions holding locks on the tenant's tables or its tenant lock, as PostgreSQL
    /// shows them, for a lock timeout's report.
    async fn blockers(&self) -> String {
        let sql = format!(
            "SELECT string_agg(DISTINCT format('pid %s (%s, %s on %s: %s)', a.pid, \
                 coalesce(a.state, '?'), l.mode, coalesce(c.relname::text, 'the tenant lock'), \
                 left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 120)), '; ') \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             LEFT JOIN pg_class c ON c.oid = l.relation \
             LEFT JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE l.granted AND l.pid <> pg_backend_pid() AND (n.nspname = {schema} \
                OR (l.locktype = 'advisory' AND l.objsubid = 1 \
                    AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended({key}, 0)))",
            schema = self.tenant.literal(),
            key = quote_literal(&format!("sea_tenant:{}", self.tenant.as_str())),
        );
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                self.conn.get_database_backend(),
                sql,
            ))
            .await;
        match row.map(|r| r.and_then(|r| r.try_get_by_index::<Option<String>>(0).ok().flatten())) {
            Ok(Some(holders)) => format!("blocked by {holders}"),
            Ok(None) => "no session holds a lock on the tenant's tables any more".to_owned(),
            Err(e) => format!("the blocking session is unknown: {e}"),
        }
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
    }

    async fn up(&mut self, steps: Option<u32>) -> Result<()> {
        let migrations = Arc::clone(&self.migrator.migrations);
        let limit = steps.map_or(usize::MAX, |n| n as usize);
        let names = Arc::clone(&self.migrator.names);
        let pending: Vec<(&Box<dyn MigrationTrait>, &Arc<str>)> = migrations
            .iter()
            .zip(names.iter())
            .filter(|(m, _)| !self.is_applied(m.name()))
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
        for (i, (migration, name)) in pending.into_iter().enumerate() {
            let durable = i + 1 == count;
            let done = self
                .step(migration.as_ref(), Direction::Up, durable)
                .await?;
            // Either way the schema and version table exist now.
            self.created();
            if done {
                self.state.applied.push(Arc::clone(name));
                self.state.applied.sort();
                self.record(name, Direction::Up);
            }
        }
        Ok(())
    }

    async fn down(&mut self, steps: Option<u32>) -> Result<()> {
        let migrations = Arc::clone(&self.migrator.migrations);
        let names = Arc::clone(&self.migrator.names);
        let applied: Vec<(&Box<dyn MigrationTrait>, &Arc<str>)> = migrations
            .iter()
            .zip(names.iter())
            .filter(|(m, _)| self.is_applied(m.name()))
            .collect();
        let limit = steps.map_or(usize::MAX, |n| n as usize);
        let rollback: Vec<_> = applied.into_iter().rev().take(limit).collect();
        let count = rollback.len();
        for (i, (migration, name)) in rollback.into_iter().enumerate() {
            let durable = i + 1 == count;
            if self
                .step(migration.as_ref(), Direction::Down, durable)
                .await?
            {
                self.state.applied.retain(|v| v != name);
                self.record(name, Direction::Down);
            }
        }
        Ok(())
    }

    /// [`TenantRun::step_once`], tried again after a lock timeout (each attempt rolled back
    /// whole), up to `lock_retries` times with a growing pause.
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
                    let blockers = self.blockers().await;
                    if attempts > self.migrator.lock_retries {
                        return Err(Error::LockTimeout {
                            tenant: self.tenant.clone(),
                            migration: migration.name().to_owned(),
                            timeout: self.migrator.lock_timeout.unwrap_or_default(),
                            attempts,
                            blockers,
                        });
                    }
                    let pause = Duration::from_millis(200 << (attempts - 1).min(5));
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
            return Err(Error::Migration {
                tenant: self.tenant.clone(),
                migration: name.to_owned(),
                source,
            });
        }
        self.commit(txn, durable).await?;
        debug!(tenant = %self.tenant, migration = %name, ?direction, "done");
        Ok(true)
    }

    /// `fresh`: the schema is dropped and recreated in one transaction, under the lock.
    async fn recreate_schema(&mut self) -> Result<()> {
        // Not durable on its own: the migrations that follow end with a synchronous commit.
        let txn = self.begin(false).await?;
        let quoted = self.tenant.quoted();
        txn.execute_unprepared(&format!(
            "DROP SCHEMA IF EXISTS {quoted} CASCADE; CREATE SCHEMA {quoted}"
        ))
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

/// Creates `tenant`'s schema if it is missing and applies the pending migrations of `M` in it:
/// the repair for owner rows inserted without hooks (e.g. `Entity::insert_many`).
///
/// ```no_run
/// # use sea_orm_migration::prelude::*;
/// # struct Migrator;
/// # impl MigratorTrait for Migrator {
/// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// # }
/// # async fn run(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// let tenant = sea_tenant::TenantName::new("org_42")?;
/// sea_tenant::ensure_tenant::<Migrator>(db, &tenant).await?;
/// # Ok(())
/// # }
/// ```
pub async fn ensure_tenant<M: MigratorTrait>(
    db: &DatabaseConnection,
    tenant: &TenantName,
) -> Result<()> {
    let no_listing = crate::tenants::fixed(Vec::<String>::new());
    TenantMigrator::with_migrations(db.clone(), M::migrations(), no_listing)
        .ensure_tenant(tenant)
        .await
        .map(|_| ())
}
