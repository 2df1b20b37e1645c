//! Running one sea-orm-migration set in every tenant schema: the [`TenantMigrator`] builder and
//! its operations.
//!
//! A run lists and selects the tenants here, then hands them to the fleet scheduler
//! (`fleet.rs`: catalog reads, batches, workers and their connections, fail-fast and the
//! circuit breaker), which migrates each tenant with one tenant's protocol (`tenant.rs`: one
//! transaction per migration, under the tenant's lock).

mod catalog;
mod connection;
mod fleet;
pub(crate) mod lock;
mod progress;
mod report;
mod stop;
mod tenant;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use tracing::warn;

use crate::tenants::TenantRow;
use crate::{AllTenants, Error, Result, TenantName};
use fleet::Listing;

pub use crate::tenant_sql::DEFAULT_VERSION_TABLE;
pub use progress::Progress;
pub use report::{MigrationState, Operation, Outcome, Report, TenantReport};
pub use stop::CIRCUIT_BREAKER_FAILURES;

/// The default number of tenants migrated at once.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The default number of tenants a worker connection serves before it is replaced.
pub const DEFAULT_RECYCLE_AFTER: usize = 250;

/// The default lock timeout of each migration transaction (as strong_migrations').
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The default number of retries of a migration that hit the lock timeout.
pub const DEFAULT_LOCK_RETRIES: u32 = 2;

/// The default time allowed to open a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A migration of the set with its name, allocated once and shared by every report.
struct NamedMigration {
    name: Arc<str>,
    migration: Box<dyn MigrationTrait>,
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
    /// The migration set, in order.
    migrations: Arc<Vec<NamedMigration>>,
    /// The migrations' names, sorted, for look-ups.
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
    all_tenants_confirmed: bool,
    progress: Option<Arc<dyn Progress>>,
    /// Strict mode (see [`crate::strict`]): taken from [`strict::current`](crate::strict::current)
    /// when the migrator is made.
    strict: Option<Arc<crate::strict::Strict>>,
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
        let migrations: Vec<NamedMigration> = migrations
            .into_iter()
            .map(|migration| NamedMigration {
                name: Arc::from(migration.name()),
                migration,
            })
            .collect();
        let mut sorted_names: Vec<Arc<str>> = migrations.iter().map(|m| m.name.clone()).collect();
        sorted_names.sort();
        TenantMigrator {
            db,
            migrations: Arc::new(migrations),
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
            all_tenants_confirmed: false,
            progress: None,
            strict: crate::strict::current(),
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

    /// Lets [`fresh`](Self::fresh), [`reset`](Self::reset) and [`refresh`](Self::refresh) run
    /// over every tenant `all_tenants` lists. Without it, and without an [`only`](Self::only)
    /// selection, they do nothing and fail with [`Error::AllTenantsNotConfirmed`], which says
    /// how many tenants they would have touched: dropping every customer's data must be asked
    /// for, never a default.
    ///
    /// ```no_run
    /// # async fn demo(migrator: sea_tenant::TenantMigrator) -> sea_tenant::Result<()> {
    /// let report = migrator.confirm_all_tenants(true).fresh().await?;
    /// # Ok(()) }
    /// ```
    pub fn confirm_all_tenants(mut self, confirmed: bool) -> Self {
        self.all_tenants_confirmed = confirmed;
        self
    }

    /// Leave these tenants out.
    pub fn except<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tenants: I) -> Self {
        self.except = tenants.into_iter().map(Into::into).collect();
        self
    }

    /// Strict mode for this migrator (see [`crate::strict`]): tenants it creates get their role,
    /// every migration runs as the owner role, and tenants without a role are brought in.
    /// Defaults to [`strict::current`](crate::strict::current) when the migrator is made;
    /// `None` turns it off for this migrator.
    ///
    /// ```no_run
    /// # fn demo(m: sea_tenant::TenantMigrator) -> Result<(), sea_tenant::strict::StrictError> {
    /// use sea_tenant::strict::Strict;
    ///
    /// let migrator = m.strict(Some(Strict::new("app", "app_owner")?));
    /// # Ok(()) }
    /// ```
    pub fn strict(mut self, strict: Option<crate::strict::Strict>) -> Self {
        self.strict = strict.map(Arc::new);
        self
    }

    /// The strict-mode configuration this migrator runs with, if any.
    pub fn strict_config(&self) -> Option<Arc<crate::strict::Strict>> {
        self.strict.clone()
    }

    /// Report progress, tenant by tenant.
    pub fn progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The migrations' names, in order.
    pub fn migration_names(&self) -> Vec<String> {
        self.migrations.iter().map(|m| m.name.to_string()).collect()
    }

    /// Applies pending migrations, at most `steps` per tenant.
    pub async fn up(&self, steps: Option<u32>) -> Result<Report> {
        self.run_operation(Operation::Up(steps)).await
    }

    /// Rolls back the newest `steps` applied migrations per tenant; all when `None`.
    pub async fn down(&self, steps: Option<u32>) -> Result<Report> {
        self.run_operation(Operation::Down(steps)).await
    }

    /// Reports each tenant's applied and pending migrations.
    pub async fn status(&self) -> Result<Report> {
        self.run_operation(Operation::Status).await
    }

    /// Drops each tenant schema with everything in it, creates it again, then applies every
    /// migration.
    pub async fn fresh(&self) -> Result<Report> {
        self.run_operation(Operation::Fresh).await
    }

    /// Rolls back every migration, then applies every migration.
    pub async fn refresh(&self) -> Result<Report> {
        self.run_operation(Operation::Refresh).await
    }

    /// Rolls back every migration.
    pub async fn reset(&self) -> Result<Report> {
        self.run_operation(Operation::Reset).await
    }

    /// Runs `operation` over the selected tenants. The `Err` case is for failures that concern
    /// the whole run (listing the tenants, a bad selection); per-tenant failures are in the
    /// report.
    pub async fn run_operation(&self, operation: Operation) -> Result<Report> {
        self.check_version_table()?;
        let rows = self.list_tenants().await?;
        let mut warnings = Vec::new();
        if rows.is_empty() {
            warn!("all_tenants listed no tenants: nothing to do");
            warnings.push("all_tenants listed no tenants: nothing to do".to_owned());
        }
        let mut listed = Vec::with_capacity(rows.len());
        let mut bad_rows = Vec::new();
        for (n, row) in rows.into_iter().enumerate() {
            match row {
                TenantRow::Name(name) => listed.push(name),
                TenantRow::Bad(reason) => {
                    warn!(row = n + 1, %reason, "a row of all_tenants holds no tenant name; skipped");
                    bad_rows.push(Error::BadTenantRow { row: n + 1, reason });
                }
            }
        }
        let tenants = self.select(listed)?;
        let destructive = matches!(
            operation,
            Operation::Fresh | Operation::Reset | Operation::Refresh
        );
        if destructive && self.only.is_empty() && !self.all_tenants_confirmed && !tenants.is_empty()
        {
            return Err(Error::AllTenantsNotConfirmed {
                operation: operation.to_string(),
                tenants: tenants.len(),
            });
        }
        if !self.only.is_empty() {
            // Only named tenants were asked for; a bad row is none of them.
            bad_rows.clear();
        }
        let listing = Listing {
            tenants,
            bad_rows,
            warnings,
        };
        let mut report = self.run_fleet(operation, listing).await;
        if operation == Operation::Status {
            report::add_citus_nodes(&self.db, &mut report).await;
        }
        Ok(report)
    }

    /// The version table's name goes into SQL (also inside a `DO` body): it must pass the
    /// same rules as a tenant name.
    fn check_version_table(&self) -> Result<()> {
        TenantName::new(self.version_table.as_str())
            .map(|_| ())
            .map_err(Error::from)
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
}

/// Creates `tenant`'s schema if it is missing and applies the pending migrations of `M` in it,
/// one transaction per migration: what `up --create-missing` does, for one tenant and without
/// consulting a tenant listing. The way to ensure a tenant from code on a pool.
///
/// Each migration commits on its own, with its version row, under the tenant's advisory lock,
/// with the migrator's lock timeout and retries (see [`TenantMigrator`]); migrations may read
/// the database. A failed migration leaves the ones before it applied, and a rerun continues.
/// Safe to run concurrently with itself, the migrator, [`provision_tenant_on`] and the owner
/// hooks on the same tenant. It cannot join a caller's transaction: for that, and to create a
/// tenant atomically (all migrations or none) in one statement, use [`provision_tenant_on`].
///
/// [`provision_tenant_on`]: crate::provision::provision_tenant_on
///
/// ```no_run
/// # use sea_orm_migration::prelude::*;
/// # struct Migrator;
/// # impl MigratorTrait for Migrator {
/// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// # }
/// # async fn run(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// let tenant = sea_tenant::TenantName::new("org_42")?;
/// sea_tenant::migrate_tenant::<Migrator>(db, &tenant).await?;
/// # Ok(())
/// # }
/// ```
pub async fn migrate_tenant<M: MigratorTrait>(
    db: &DatabaseConnection,
    tenant: &TenantName,
) -> Result<()> {
    let no_listing = crate::tenants::fixed(Vec::<String>::new());
    let migrator = TenantMigrator::with_migrations(db.clone(), M::migrations(), no_listing)
        .create_missing(true);
    let listing = Listing {
        tenants: vec![tenant.as_str().to_owned()],
        bad_rows: Vec::new(),
        warnings: Vec::new(),
    };
    let mut report = migrator.run_fleet(Operation::Up(None), listing).await;
    match report.tenants.pop().map(|t| t.outcome) {
        Some(Outcome::Failed { error, .. }) => Err(error),
        _ => Ok(()),
    }
}
