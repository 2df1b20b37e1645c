//! The fleet scheduler: one operation over many tenants.
//!
//! First, one catalog query per 5,000 tenants, on the application's pool, says which schemas
//! and version tables exist, and compares each version table's fingerprint (its comment, see
//! `version_table.rs`) with that of the complete migration set: for `up`, a tenant whose
//! fingerprint matches is done without any further query, so a no-op deploy costs a handful
//! of queries in all. The other tenants are cut into chunks; a worker reads a chunk's version
//! tables with one `UNION ALL` query per 500 tables and puts its tenants on a shared queue,
//! from which every worker takes one tenant at a time: a tenant that waits holds up only its
//! own worker. Up to `concurrency` workers run at once, each on a connection of its own when
//! more than one tenant needs work (see `connection.rs`). The run stops starting tenants after
//! a problem with `fail_fast`, or when the circuit breaker trips (see `stop.rs`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use tracing::{debug, info, warn};

use super::TenantMigrator;
use super::catalog::{CompleteSet, TenantState, TenantWork, load_catalog, load_versions};
use super::connection::{WorkerConn, is_connection_db_err, is_connection_error};
use super::report::{Operation, Outcome, Report, TenantReport};
use super::stop::Stop;
use crate::tenant_sql::expected_fingerprint_sql;
use crate::{Error, TenantName};

/// The largest batch of tenants whose state is read together.
const MAX_BATCH: usize = 500;

/// The tenants a run was asked for, after listing and selection.
pub(super) struct Listing {
    /// The selected tenants as listed (not validated yet), in order.
    pub tenants: Vec<String>,
    /// Rows of the listing that hold no tenant name at all.
    pub bad_rows: Vec<Error>,
    /// What the listing found worth a warning.
    pub warnings: Vec<String>,
}

/// A tenant whose version table has been read, or could not be.
struct ReadTenant {
    work: TenantWork,
    unreadable: Option<DbErr>,
}

/// A chunk given back untouched because the connection broke while reading it.
struct ChunkNotRead {
    chunk: Vec<TenantWork>,
    error: DbErr,
}

/// A run's work: chunks of tenants whose version tables are still to be read, and tenants
/// ready to be migrated, taken one at a time by whichever worker is free.
struct Queue {
    unread: VecDeque<Vec<TenantWork>>,
    ready: VecDeque<ReadTenant>,
}

enum Next {
    Tenant(ReadTenant),
    Chunk(Vec<TenantWork>),
}

/// What the workers of one run share.
struct Fleet<'a> {
    migrator: &'a TenantMigrator,
    operation: Operation,
    queue: Mutex<Queue>,
    stop: Stop,
    /// Whether each worker opens connections of its own (more than one tenant needs work).
    dedicated: bool,
    /// The report's lines; workers write each outcome straight into its line.
    lines: Mutex<Vec<TenantReport>>,
}

impl TenantMigrator {
    /// Runs `operation` over `listing`'s tenants and reports on each, in listed order.
    pub(super) async fn run_fleet(&self, operation: Operation, listing: Listing) -> Report {
        let Listing {
            tenants,
            bad_rows,
            warnings,
        } = listing;
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
                    node: None,
                })
                .collect(),
            warnings,
        };
        let mut valid = Vec::new();
        for (slot, entry) in report.tenants.iter_mut().enumerate() {
            match TenantName::new(entry.tenant.as_str()) {
                Ok(name) => valid.push(TenantWork {
                    slot,
                    name,
                    state: TenantState::default(),
                }),
                Err(error) => {
                    warn!(tenant = %entry.tenant.escape_debug(), %error, "not a valid tenant name; skipped");
                    entry.outcome = Outcome::failed(error.into());
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
            let outcome = Outcome::failed(error);
            self.report_progress(&tenant, &outcome);
            report.tenants.push(TenantReport {
                tenant,
                outcome,
                node: None,
            });
        }

        // The catalog answers for every tenant at once, on the application's pool (it opens
        // no tenant table); tenants it shows complete need no worker at all.
        let loaded = self
            .on_app_pool(async {
                let complete = self.complete_set(operation).await;
                load_catalog(
                    &self.db,
                    &mut valid,
                    &self.version_table,
                    complete.as_ref(),
                    self.strict.as_deref(),
                )
                .await
            })
            .await;
        let work: Vec<TenantWork> = match loaded {
            Err(error) => {
                warn!(%error, "cannot connect to the server: no tenant was started");
                for tenant in &valid {
                    let entry = &mut report.tenants[tenant.slot];
                    entry.outcome = Outcome::failed(Error::TenantConnect {
                        tenant: tenant.name.clone(),
                        source: error.clone(),
                    });
                    self.report_progress(tenant.name.as_str(), &entry.outcome);
                }
                return self.finish_run(report);
            }
            Ok(Ok(())) => valid
                .into_iter()
                .filter_map(|tenant| {
                    if matches!(operation, Operation::Up(_))
                        && tenant.state.from_fingerprint
                        && !tenant.state.lacks_role
                    {
                        let entry = &mut report.tenants[tenant.slot];
                        entry.outcome = Outcome::UpToDate;
                        self.report_progress(tenant.name.as_str(), &entry.outcome);
                        None
                    } else {
                        Some(tenant)
                    }
                })
                .collect(),
            Ok(Err(error)) => {
                warn!(%error, "reading the tenants' state from the catalog failed");
                for tenant in valid {
                    let entry = &mut report.tenants[tenant.slot];
                    entry.outcome = Outcome::failed(Error::Tenant {
                        tenant: tenant.name.clone(),
                        source: DbErr::Custom(format!("reading the catalog failed: {error}")),
                    });
                    self.report_progress(tenant.name.as_str(), &entry.outcome);
                }
                Vec::new()
            }
        };

        if !work.is_empty() {
            let lines = std::mem::take(&mut report.tenants);
            report.tenants = self.run_workers(operation, work, lines).await;
        }
        self.finish_run(report)
    }

    /// Migrates `work` with up to `concurrency` workers, writing each outcome into its line of
    /// `lines`, which it gives back.
    async fn run_workers(
        &self,
        operation: Operation,
        work: Vec<TenantWork>,
        lines: Vec<TenantReport>,
    ) -> Vec<TenantReport> {
        // Version tables are read a chunk at a time (one query per chunk), but tenants are
        // migrated one at a time from a shared queue: a tenant that waits (say for a lock)
        // holds up only its own worker, never the tenants read along with it.
        let chunk = work
            .len()
            .div_ceil(self.concurrency)
            .clamp(1, MAX_BATCH.min(self.recycle_after));
        let workers = self.concurrency.min(work.len()).max(1);
        // More than one tenant: each worker opens its own connection, so that a connection
        // failure shows its cause at once and a broken connection is replaced (the
        // application's pool would wait for its acquire timeout).
        let dedicated = work.len() > 1;
        let mut unread = VecDeque::new();
        let mut work = work.into_iter().peekable();
        while work.peek().is_some() {
            unread.push_back(work.by_ref().take(chunk).collect::<Vec<TenantWork>>());
        }
        let fleet = Fleet {
            migrator: self,
            operation,
            queue: Mutex::new(Queue {
                unread,
                ready: VecDeque::new(),
            }),
            stop: Stop::default(),
            dedicated,
            lines: Mutex::new(lines),
        };
        futures::stream::iter(0..workers)
            .map(|_| fleet.worker())
            .buffer_unordered(workers)
            .collect::<Vec<()>>()
            .await;
        fleet.lines.into_inner().unwrap_or_else(|e| e.into_inner())
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
}

impl Fleet<'_> {
    /// Takes work from the queue until none is left: migrates a ready tenant, else reads
    /// the version tables of the next chunk and makes its tenants ready.
    async fn worker(&self) {
        let mut conn = WorkerConn::default();
        while let Some(next) = self.next() {
            match next {
                Next::Chunk(chunk) => self.read_versions(&mut conn, chunk).await,
                Next::Tenant(tenant) => self.migrate(&mut conn, tenant).await,
            }
        }
        conn.drop_current().await;
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next(&self) -> Option<Next> {
        let mut queue = self.queue();
        if let Some(tenant) = queue.ready.pop_front() {
            Some(Next::Tenant(tenant))
        } else {
            queue.unread.pop_front().map(Next::Chunk)
        }
    }

    /// Writes a tenant's outcome into its line of the report.
    fn done(&self, slot: usize, outcome: Outcome) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let entry = &mut lines[slot];
        self.migrator.report_progress(&entry.tenant, &outcome);
        entry.outcome = outcome;
    }

    /// A chunk's tenants after the run stopped: the first gets `first`, the rest what the
    /// stop says now.
    fn done_stopped(&self, chunk: Vec<TenantWork>, first: Outcome) {
        let mut first = Some(first);
        for tenant in chunk {
            let outcome = first
                .take()
                .or_else(|| self.stop.outcome())
                .unwrap_or(Outcome::Skipped);
            self.done(tenant.slot, outcome);
        }
    }

    /// Reads a chunk's version tables and puts its tenants on the ready queue; a chunk it
    /// could not read for want of a connection goes back to the queue.
    async fn read_versions(&self, conn: &mut WorkerConn, chunk: Vec<TenantWork>) {
        if let Some(outcome) = self.stop.outcome() {
            self.done_stopped(chunk, outcome);
            return;
        }
        let c = match self
            .migrator
            .worker_connection(conn, self.dedicated, &self.stop)
            .await
        {
            Ok(c) => c,
            Err(error) => {
                self.queue().unread.push_front(chunk);
                self.stop.connection_failed(&error).await;
                return;
            }
        };
        match self.read_chunk(&c, chunk).await {
            Ok(ready) => self.queue().ready.extend(ready),
            Err(ChunkNotRead { chunk, error }) => {
                // The connection broke: nothing was read, nobody was touched.
                conn.drop_current().await;
                self.queue().unread.push_front(chunk);
                self.stop.connection_failed(&error).await;
            }
        }
    }

    /// Reads a chunk's version tables with one query; if that fails (say a schema was
    /// dropped since the catalog was read), tenant by tenant, so that only the tenant at fault
    /// fails. A broken connection gives the chunk back untouched, with the error.
    async fn read_chunk(
        &self,
        c: &DatabaseConnection,
        mut chunk: Vec<TenantWork>,
    ) -> Result<Vec<ReadTenant>, ChunkNotRead> {
        let table = &self.migrator.version_table;
        let known = &self.migrator.sorted_names;
        let Err(error) = load_versions(c, &mut chunk, table, known).await else {
            return Ok(chunk
                .into_iter()
                .map(|work| ReadTenant {
                    work,
                    unreadable: None,
                })
                .collect());
        };
        if is_connection_db_err(&error) {
            return Err(ChunkNotRead { chunk, error });
        }
        debug!(%error, "reading a batch of version tables failed; reading them one by one");
        let mut read = Vec::with_capacity(chunk.len());
        for mut work in chunk {
            let unreadable = load_versions(c, std::slice::from_mut(&mut work), table, known)
                .await
                .err();
            read.push(ReadTenant { work, unreadable });
        }
        Ok(read)
    }

    /// Migrates a ready tenant, unless the run has stopped; a tenant not started for want of
    /// a connection goes back to the queue, for this or another worker.
    async fn migrate(&self, conn: &mut WorkerConn, tenant: ReadTenant) {
        let ReadTenant { work, unreadable } = tenant;
        if let Some(outcome) = self.stop.outcome() {
            self.done(work.slot, outcome);
            return;
        }
        if let Some(source) = unreadable {
            let outcome = Outcome::failed(Error::Tenant {
                tenant: work.name.clone(),
                source,
            });
            log_outcome(&work.name, &outcome);
            self.done(work.slot, outcome);
            return;
        }
        let c = match self
            .migrator
            .worker_connection(conn, self.dedicated, &self.stop)
            .await
        {
            Ok(c) => c,
            Err(error) => {
                // Not started: back to the queue, unless the circuit breaker stops the run.
                self.queue().ready.push_front(ReadTenant {
                    work,
                    unreadable: None,
                });
                self.stop.connection_failed(&error).await;
                return;
            }
        };
        let TenantWork { slot, name, state } = work;
        let outcome = self
            .migrator
            .run_one_tenant(&c, self.operation, &name, state)
            .await;
        conn.served += 1;
        match &outcome {
            Outcome::Failed { error, .. } if is_connection_error(error) => {
                conn.drop_current().await;
                self.stop.connection_failed(error).await;
            }
            _ => self.stop.connection_ok(),
        }
        if self.migrator.fail_fast && outcome.is_problem() {
            self.stop.fail_fast();
        }
        log_outcome(&name, &outcome);
        self.done(slot, outcome);
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
