//! The connections a run works on, and telling a lost connection from a failed statement.
//!
//! Connections are opened directly under [`TenantMigrator::connect_timeout`], so a refused,
//! full or silent server is reported with its own error; only "the database system is
//! starting up" is retried. When more than one tenant needs work, each worker uses a dedicated
//! connection built from the pool's connect options, which never goes back to the
//! application's pool and is replaced after `recycle_after` tenants (PostgreSQL keeps ~20 KB
//! of catalog cache per table a backend has touched and never frees it) or after a connection
//! failure. A one-tenant run uses the application's pool, which is safe because every tenant
//! setting is transaction-local.

use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnection, PgPoolOptions};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};
use sea_orm::{DatabaseConnection, DatabaseConnectionType, DbErr, SqlxPostgresConnector};
use tokio::sync::Notify;
use tracing::debug;

use super::TenantMigrator;
use super::stop::Stop;
use crate::error::{sqlstate_of, sqlx_error_of};
use crate::{ConnectError, Error};

/// How long the tenant listing may wait for the application's pool before a direct
/// connection checks the server (see `TenantMigrator::on_app_pool`).
const PROBE_AFTER: Duration = Duration::from_millis(250);

pub(super) async fn close_quietly(conn: PgConnection) {
    conn.close().await.ok();
}

/// A worker's own connection (see `TenantMigrator::worker_connection`).
#[derive(Default)]
pub(super) struct WorkerConn {
    current: Option<DatabaseConnection>,
    /// Tenants served on `current`, for recycling.
    pub(super) served: usize,
    /// Whether this worker has opened a connection before.
    opened: bool,
}

impl WorkerConn {
    pub(super) async fn drop_current(&mut self) {
        if let Some(old) = self.current.take() {
            old.close().await.ok();
        }
    }
}

/// Whether an error says the connection (or the server) is gone, rather than anything about
/// the statement: I/O, TLS, protocol, pool errors, and SQLSTATE class 08, 57P01–57P03, 53300.
pub(super) fn is_connection_db_err(error: &DbErr) -> bool {
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
        // A Citus coordinator's word about a worker it could not reach is a tenant's failure,
        // not a broken connection to the server: it must not trip the circuit breaker.
        Some(e) if crate::citus::is_worker_unreachable(e) => false,
        Some(e) => sqlstate_of(e).is_some_and(|code| {
            code.starts_with("08") || ["57P01", "57P02", "57P03", "53300"].contains(&code.as_str())
        }),
        None => false,
    }
}

/// Whether `error` may be the end of a connection attempt: a lost connection
/// ([`is_connection_db_err`]), or the server refusing the session (SQLSTATE class 28: a
/// role, password or `pg_hba.conf` entry; 3D000: no such database).
fn is_connect_failure(error: &DbErr) -> bool {
    is_connection_db_err(error)
        || sqlx_error_of(error)
            .and_then(sqlstate_of)
            .is_some_and(|code| code.starts_with("28") || code == "3D000")
}

pub(super) fn db_err_of(error: &Error) -> Option<&DbErr> {
    match error {
        Error::Tenant { source, .. } | Error::Migration { source, .. } => Some(source),
        _ => None,
    }
}

pub(super) fn is_connection_error(error: &Error) -> bool {
    match error {
        Error::TenantConnect { .. } | Error::Connect(_) => true,
        other => db_err_of(other).is_some_and(is_connection_db_err),
    }
}

impl TenantMigrator {
    /// Runs `work`, which waits for the application's pool. A pool that does not answer at
    /// once (a server that refuses, is full or is silent keeps it waiting for its acquire
    /// timeout, then says only "pool timed out") is checked meanwhile with a direct connection,
    /// whose error ends the wait at once. A healthy pool costs no extra connection.
    ///
    /// When `work` fails with an error of the kind a connection attempt ends with (the pool's
    /// timeout, an I/O error, SQLSTATE class 08 or 28, 3D000, 53300, 57P0x), the direct
    /// connection (the one under way, else a new one) says whether, and why, the server cannot
    /// be reached: its [`ConnectError`] (e.g. no answer within the connect timeout, a
    /// database that does not exist) replaces the pool's error, which names neither the
    /// server nor the cause. If it connects, `work`'s own error is given back.
    pub(super) async fn on_app_pool<T>(
        &self,
        work: impl Future<Output = Result<T, DbErr>>,
    ) -> Result<Result<T, DbErr>, ConnectError> {
        let skip_wait = Notify::new();
        let probe = async {
            tokio::select! {
                () = tokio::time::sleep(PROBE_AFTER) => {}
                () = skip_wait.notified() => {}
            }
            self.connect_direct().await
        };
        tokio::pin!(work, probe);
        tokio::select! {
            done = &mut work => match done {
                Err(error) if is_connect_failure(&error) => {
                    skip_wait.notify_one();
                    close_quietly(probe.await?).await;
                    Ok(Err(error))
                }
                done => Ok(done),
            },
            probed = &mut probe => {
                close_quietly(probed?).await;
                Ok(work.await)
            }
        }
    }

    /// The connection a worker works on: the application's pool for a one-tenant run, else
    /// the worker's own, opened on first use and replaced after `recycle_after` tenants.
    pub(super) async fn worker_connection(
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

    /// Where connections go, for errors: `user@host:port/database` (the host is the socket's
    /// directory for a Unix socket), never the password.
    fn connect_target(&self) -> String {
        let DatabaseConnectionType::SqlxPostgresPoolConnection(_) = &self.db.inner else {
            return "the database".to_owned();
        };
        let options = self.db.get_postgres_connection_pool().connect_options();
        let host = match options.get_socket() {
            Some(dir) => dir.display().to_string(),
            None if options.get_host().contains(':') => format!("[{}]", options.get_host()),
            None => options.get_host().to_owned(),
        };
        let mut target = format!("{}@{host}:{}", options.get_username(), options.get_port());
        if let Some(database) = options.get_database() {
            target.push('/');
            target.push_str(database);
        }
        target
    }

    /// No answer within the connect timeout.
    fn no_answer(&self) -> ConnectError {
        ConnectError::NoAnswer {
            target: self.connect_target(),
            timeout: self.connect_timeout,
        }
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
                Err(_) => return Err(self.no_answer()),
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(error))
                    if sqlstate_of(&error).as_deref() == Some("57P03")
                        && Instant::now() + backoff < deadline =>
                {
                    debug!(%error, "the server cannot take connections yet; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Ok(Err(error)) => return Err(ConnectError::of(self.connect_target(), error)),
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
        let error = match pool {
            Ok(pool) => return Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool)),
            Err(error) => error,
        };
        if !probe {
            close_quietly(self.connect_direct().await?).await;
        }
        // The pool is this connection's alone: its acquire timeout is the connect timeout
        // running out on its one connection.
        Err(match error {
            sqlx::Error::PoolTimedOut => self.no_answer(),
            error => ConnectError::of(self.connect_target(), error),
        })
    }
}
