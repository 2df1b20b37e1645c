//! The crate's error type.

mod class;

use std::fmt;

use sea_orm::sqlx::{self, postgres::PgDatabaseError};
use sea_orm::{DbErr, RuntimeErr};

use crate::name::{quote_ident, quote_literal};
use crate::{NameError, TenantName};

pub use class::ErrorClass;

/// Everything that can go wrong in sea-tenant. Variants about one tenant carry its name,
/// so a report over thousands of tenants says which one failed and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value is not a valid tenant schema name; nothing was created for it.
    #[error(transparent)]
    InvalidName(#[from] NameError),

    /// A placeholder of an owner entity's template rendered empty (`org_<slug>` with an empty
    /// slug): the row would name the schema of the template's bare text. Nothing was created.
    #[error(
        "tenant template {template:?}: <{field}> is empty, so the name would be {name:?}; \
         every placeholder needs a non-empty value"
    )]
    EmptyTemplateValue {
        /// The owner entity's template, e.g. `org_<slug>`.
        template: &'static str,
        /// The placeholder whose value is empty.
        field: &'static str,
        /// The name the row would have given.
        name: String,
    },

    /// An owner entity needs its tenant migration set (a row is inserted, or its tenant
    /// ensured) and none is known: its `#[tenant(...)]` names no `migrator` and none was
    /// registered. Nothing was written.
    #[error(
        "owner entity {entity} has no tenant migration set, so no tenant can be provisioned \
         for it (nothing was written): call \
         `sea_tenant::owner::register_migrations::<{entity}, YourTenantMigrator>()` where the \
         application starts, or add `migrator = YourTenantMigrator` to its #[tenant(...)]"
    )]
    NoMigrationSet {
        /// The owner entity's type, as Rust names it.
        entity: &'static str,
    },

    /// The tenant's schema does not exist.
    #[error("tenant {tenant}: schema {quoted} does not exist", quoted = tenant.quoted())]
    MissingSchema {
        /// The tenant.
        tenant: TenantName,
    },

    /// A schema with the tenant's name exists already.
    #[error("tenant {tenant}: schema {quoted} already exists", quoted = tenant.quoted())]
    SchemaExists {
        /// The tenant.
        tenant: TenantName,
    },

    /// The owner row of the tenant was deleted before its schema could be created; nothing
    /// was created.
    #[error("tenant {tenant}: its owner row was deleted before the schema was created")]
    OwnerRowGone {
        /// The tenant.
        tenant: TenantName,
    },

    /// A migration's `up` or `down` failed; its transaction was rolled back.
    #[error("tenant {tenant}: migration {migration} failed: {}", DbError(.source))]
    Migration {
        /// The tenant.
        tenant: TenantName,
        /// The migration's name.
        migration: String,
        /// What the database said.
        #[source]
        source: DbErr,
    },

    /// On Citus: a tenant table's foreign key references a shared table that is not a Citus
    /// reference table, so Citus refused it (tenant tables live on one worker, a plain shared
    /// table on the coordinator). The tenant's transaction was rolled back.
    #[error(
        "tenant {tenant}: {}the shared table {table:?} referenced by a tenant table is not a \
         Citus reference table; make it one on the coordinator, once: SELECT \
         create_reference_table({}) (with its own schema if not public), then rerun ({})",
        migration.as_ref().map(|m| format!("migration {m}: ")).unwrap_or_default(),
        quote_literal(&format!("public.{}", quote_ident(table))),
        DbError(.source)
    )]
    NotReferenceTable {
        /// The tenant.
        tenant: TenantName,
        /// The migration that adds the foreign key, when known.
        migration: Option<String>,
        /// The referenced table, as Citus names it (without its schema).
        table: String,
        /// What Citus said (boxed: the variant would make every `Result` of the crate larger).
        #[source]
        source: Box<DbErr>,
    },

    /// The tenant's version table lists a migration the migration set does not have.
    #[error("tenant {tenant}: applied migration {version} is not in the migration set")]
    UnknownMigration {
        /// The tenant.
        tenant: TenantName,
        /// The version recorded in the tenant's version table.
        version: String,
    },

    /// A database error while working on one tenant, outside any migration.
    #[error("tenant {tenant}: {}", DbError(.source))]
    Tenant {
        /// The tenant.
        tenant: TenantName,
        /// What the database said.
        #[source]
        source: DbErr,
    },

    /// A migration waited longer than the lock timeout for a lock another session holds, on
    /// every attempt; its transaction was rolled back each time.
    #[error(
        "tenant {tenant}: migration {migration}: lock timeout ({timeout:?}, {attempts} attempt(s)); {blockers}"
    )]
    LockTimeout {
        /// The tenant.
        tenant: TenantName,
        /// The migration that could not get its lock.
        migration: String,
        /// The lock timeout of each attempt.
        timeout: std::time::Duration,
        /// How many times it was tried.
        attempts: u32,
        /// The sessions holding locks on the tenant's tables when it gave up, as PostgreSQL
        /// shows them (`pg_locks`, `pg_stat_activity`), or why they are unknown.
        blockers: String,
    },

    /// Connecting to the database failed, or the connection broke, before the tenant's work
    /// started.
    #[error("tenant {tenant}: {source}")]
    TenantConnect {
        /// The tenant.
        tenant: TenantName,
        /// The server's or the operating system's own error.
        #[source]
        source: ConnectError,
    },

    /// Connecting to the database failed before any tenant was touched.
    #[error(transparent)]
    Connect(#[from] ConnectError),

    /// A row of the tenant listing is not a name at all (a NULL, a value of another type).
    #[error("row {row} of all_tenants: {reason}")]
    BadTenantRow {
        /// The row's position in the listing, from 1.
        row: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// A tenant was selected (`--tenant`) that `all_tenants` does not list.
    #[error("tenant {tenant:?} is not listed by all_tenants")]
    NotListed {
        /// The selected name, as given.
        tenant: String,
    },

    /// `fresh`, `reset` or `refresh` was asked for every tenant without the explicit choice
    /// ([`TenantMigrator::confirm_all_tenants`](crate::TenantMigrator::confirm_all_tenants),
    /// the CLI's `--all-tenants` or its prompt): nothing was done.
    #[error(
        "{operation} would touch every tenant ({tenants} tenant(s)) and was not confirmed: \
         select tenants (--tenant) or confirm all of them (--all-tenants)"
    )]
    AllTenantsNotConfirmed {
        /// The operation, as the report names it (`fresh`, `reset`, `refresh`).
        operation: String,
        /// How many tenants it would have touched.
        tenants: usize,
    },

    /// The `all_tenants` callback failed.
    #[error("listing tenants failed: {}", DbError(.0))]
    AllTenants(#[source] DbErr),

    /// A strict-mode setting is invalid, or the database cannot be put in strict mode; see
    /// [`strict`](crate::strict).
    #[error(transparent)]
    Strict(#[from] crate::roles::StrictError),

    /// Preparing the database for strict mode ([`strict::setup`](crate::strict::setup))
    /// failed; the steps before the failing one stay done (each is idempotent: rerun it).
    #[error("strict mode set-up: {}", DbError(.0))]
    Setup(#[source] DbErr),

    /// A database error not tied to one tenant.
    #[error("{}", DbError(.0))]
    Db(#[from] DbErr),

    /// A migration of the tenant set, or an owner hook's statement, cannot be rendered into
    /// the SQL script that provisions a tenant (see [`provision`](crate::provision)): the
    /// migration's `up` failed on the recording connection, or (from
    /// [`MigrationScript::of`](crate::provision::MigrationScript::of) only) it reads the
    /// database, so its set has no script and is provisioned live.
    #[error("rendering the provisioning script: {subject}: {reason}")]
    ProvisionScript {
        /// What was being rendered, e.g. `migration m20260101_000001_create_project`.
        subject: String,
        /// Why it cannot be.
        reason: String,
    },

    /// A tenant migration set that reads the database is provisioned by running its
    /// migrations in a transaction of sea-tenant's own (see
    /// [`provision`](crate::provision)), which needs a `DatabaseConnection`, a
    /// `DatabaseTransaction` or a `DatabaseExecutor`; the connection given was another type,
    /// which cannot be asked for one. Nothing of the tenant was created (an owner hook removes
    /// the inserted row again).
    #[error(
        "tenant {tenant}: migration {migration} of the tenant migration set {set} reads the \
         database, so the set runs live in a transaction of its own, which a {connection} \
         cannot provide (nothing was done): insert the owner (or ensure the tenant) through a \
         DatabaseConnection or DatabaseTransaction, or make the migration not read"
    )]
    LiveProvisioning {
        /// The tenant.
        tenant: TenantName,
        /// The migration set's type, e.g. `tenant_migration::Migrator`.
        set: &'static str,
        /// The first migration of the set that reads.
        migration: String,
        /// The connection's type, as Rust names it.
        connection: &'static str,
    },

    /// An owner row's tenant name cannot be rendered: a field of its template has no value.
    #[error("{template}: a template field has no value")]
    IncompleteTemplate {
        /// The owner entity's template, e.g. `org_<id>`.
        template: &'static str,
    },

    /// An owner entity's template cannot map a public identifier (a slug, a host label) to
    /// its tenant: it needs exactly one placeholder, naming a column of the entity. Reported
    /// when the resolver is built, at start-up.
    #[error(
        "tenant template {template:?} cannot resolve a tenant from one public identifier: {reason}"
    )]
    TemplateNotResolvable {
        /// The owner entity's template, e.g. `org_<slug>`.
        template: &'static str,
        /// Why not, e.g. `it has 2 placeholders (<region>, <slug>); exactly one is needed`.
        reason: String,
    },
}

impl Error {
    /// The tenant this error is about, if it is about one.
    pub fn tenant(&self) -> Option<&TenantName> {
        match self {
            Error::MissingSchema { tenant }
            | Error::SchemaExists { tenant }
            | Error::OwnerRowGone { tenant }
            | Error::Migration { tenant, .. }
            | Error::NotReferenceTable { tenant, .. }
            | Error::UnknownMigration { tenant, .. }
            | Error::Tenant { tenant, .. }
            | Error::LockTimeout { tenant, .. }
            | Error::LiveProvisioning { tenant, .. }
            | Error::TenantConnect { tenant, .. } => Some(tenant),
            _ => None,
        }
    }

    pub(crate) fn tenant_db(tenant: &TenantName) -> impl FnOnce(DbErr) -> Error + '_ {
        move |source| Error::Tenant {
            tenant: tenant.clone(),
            source,
        }
    }
}

/// Why a connection to PostgreSQL could not be opened, and where it was going: `target` is
/// `user@host:port/database` (never the password). The migrator and the command line report
/// these before any tenant is touched ([`Error::Connect`]) or for one tenant
/// ([`Error::TenantConnect`]); the command line exits with 2 on them.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// Nothing came back within the connect timeout: the TCP connection was never completed
    /// (a firewall that drops packets, a listen queue that is full) or the peer accepted it
    /// and never answered the startup message.
    #[error(
        "connecting to {target} failed: the server did not answer within the connect timeout \
         ({timeout:?})"
    )]
    NoAnswer {
        /// Where the connection was going.
        target: String,
        /// The connect timeout that ran out.
        timeout: std::time::Duration,
    },
    /// The server could not be reached: the operating system's error (connection refused, no
    /// route to host, a host name that does not resolve, a connection reset).
    #[error("connecting to {target} failed: {reason}")]
    Unreachable {
        /// Where the connection was going.
        target: String,
        /// The operating system's error, e.g. `Connection refused (os error 111)`.
        reason: String,
        /// The error the connection attempt ended with.
        #[source]
        source: std::sync::Arc<sea_orm::sqlx::Error>,
    },
    /// The server answered and refused the session: a database that does not exist (SQLSTATE
    /// 3D000), a role that does not exist or may not log in, a wrong password, no
    /// `pg_hba.conf` entry (class 28), too many clients (53300), a server starting up or
    /// shutting down (57P03), or another connection exception (class 08).
    #[error("connecting to {target} failed: the server rejected the connection: {reason}")]
    Rejected {
        /// Where the connection was going.
        target: String,
        /// The server's SQLSTATE, e.g. `3D000`.
        sqlstate: String,
        /// What the server said, as `psql` shows it ([`DbError`]): its message, the SQLSTATE,
        /// then any DETAIL and HINT.
        reason: String,
        /// The error the connection attempt ended with.
        #[source]
        source: std::sync::Arc<sea_orm::sqlx::Error>,
    },
    /// Any other error the connection attempt ended with (TLS, protocol, configuration).
    #[error("connecting to the database failed: {0}")]
    Failed(#[source] std::sync::Arc<sea_orm::sqlx::Error>),
    /// The connection pool is not a PostgreSQL (sqlx-postgres) pool.
    #[error("sea-tenant needs a PostgreSQL connection pool (sqlx-postgres)")]
    NotPostgres,
}

impl ConnectError {
    /// The error of a connection attempt to `target`, by what ended it: the server's answer
    /// ([`Rejected`](Self::Rejected)), the operating system's ([`Unreachable`](Self::Unreachable)),
    /// or anything else ([`Failed`](Self::Failed)).
    pub(crate) fn of(target: String, error: sqlx::Error) -> ConnectError {
        if let sqlx::Error::Io(io) = &error {
            return ConnectError::Unreachable {
                target,
                reason: io.to_string(),
                source: std::sync::Arc::new(error),
            };
        }
        if let Some(server) = error
            .as_database_error()
            .and_then(|e| e.try_downcast_ref::<PgDatabaseError>())
        {
            return ConnectError::Rejected {
                target,
                sqlstate: server.code().to_owned(),
                reason: ServerError(server).to_string(),
                source: std::sync::Arc::new(error),
            };
        }
        ConnectError::Failed(std::sync::Arc::new(error))
    }

    /// The SQLSTATE the server refused the connection with, if it answered.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            ConnectError::Rejected { sqlstate, .. } => Some(sqlstate),
            _ => None,
        }
    }
}

/// `Result` with sea-tenant's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shows a [`DbErr`] the way `psql` shows a server error: PostgreSQL's message, its
/// `DETAIL` and `HINT` when there are any, and the SQLSTATE. sqlx's own text ends in
/// `at line N`, where N is a line of PostgreSQL's C source, which readers take for a line of
/// their migration; it is left out. Errors that did not come from the server are shown as
/// sea-orm shows them.
///
/// ```
/// use sea_orm::DbErr;
/// assert_eq!(
///     sea_tenant::DbError(&DbErr::Custom("no rows".into())).to_string(),
///     "Custom Error: no rows"
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DbError<'a>(pub &'a DbErr);

impl fmt::Display for DbError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match server_error(self.0) {
            Some(server) => fmt::Display::fmt(&ServerError(server), f),
            None => fmt::Display::fmt(self.0, f),
        }
    }
}

/// A server error as `psql` shows it (see [`DbError`]).
struct ServerError<'a>(&'a PgDatabaseError);

impl fmt::Display for ServerError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let server = self.0;
        write!(f, "{} (SQLSTATE {})", server.message(), server.code())?;
        if let Some(detail) = server.detail() {
            write!(f, "; DETAIL: {detail}")?;
        }
        if let Some(hint) = server.hint() {
            write!(f, "; HINT: {hint}")?;
        }
        Ok(())
    }
}

/// The PostgreSQL error inside `err`, if the server sent one.
fn server_error(err: &DbErr) -> Option<&PgDatabaseError> {
    sqlx_error_of(err)?.as_database_error()?.try_downcast_ref()
}

/// The sqlx error inside a sea-orm error, if it carries one.
pub(crate) fn sqlx_error_of(error: &DbErr) -> Option<&sqlx::Error> {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// The SQLSTATE the server sent with `error`, if it is a server error.
pub(crate) fn sqlstate_of(error: &sqlx::Error) -> Option<String> {
    match error {
        sqlx::Error::Database(e) => e.code().map(|c| c.into_owned()),
        _ => None,
    }
}
