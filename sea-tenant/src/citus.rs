//! Tenants on a [Citus] cluster with schema-based sharding: each tenant schema is a
//! *distributed schema*, placed whole on one worker node, while the application and the
//! migrator keep talking to the coordinator.
//!
//! Nothing needs to be switched on. On a database with the `citus` extension (asked in the
//! statements that create a schema, so a database that gets Citus later is seen at once),
//! every tenant sea-tenant creates (owner-row inserts, `create_missing`, [`migrate_tenant`],
//! [`provision_tenant_on`], `fresh`) is created as a distributed schema, atomically with the
//! rest of its creation. [`set_distribution`] turns this off, or makes a missing Citus an
//! error. Schemas created before, or by hand, stay as they are (`citus_schema_distribute`
//! converts one).
//!
//! What changes for an application:
//!
//! - A shared table that tenant tables reference with a foreign key must be a Citus *reference
//!   table* (copied to every node): `SELECT create_reference_table('public.user')` on the
//!   coordinator, once, before the tenant migration that adds the key. Otherwise the tenant
//!   fails with [`Error::NotReferenceTable`], which names the
//!   table and that fix.
//! - Connect with `sslmode=disable` on a trusted network, or give the nodes proper
//!   certificates: `CREATE EXTENSION citus` turns SSL on with a self-signed X.509 v1
//!   certificate that rustls rejects.
//! - Renaming and dropping tenants work as on one server (Citus propagates both).
//! - [`move_tenant`] moves one tenant to another node, [`rebalance`] spreads them evenly, and
//!   [`tenant_nodes`] says where each tenant is.
//!
//! Scoped queries (a [`TenantScope`](crate::TenantScope)) touch one tenant's tables only, so
//! Citus routes each one to the single worker holding that tenant.
//!
//! [Citus]: https://docs.citusdata.com/en/stable/get_started/concepts.html#schema-based-sharding
//! [`migrate_tenant`]: crate::migrate_tenant
//! [`provision_tenant_on`]: crate::provision::provision_tenant_on

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement};

use crate::{Error, Result, TenantName, tenant_sql, tenants};

pub use crate::tenant_sql::Distribution;

static DISTRIBUTION: AtomicU8 = AtomicU8::new(0);

/// Sets, for the whole process, how tenant schemas are created (default
/// [`Distribution::Detect`]). A process-wide setting because the owner entities' hooks, which
/// create tenants, receive nothing but a connection. Call it where the application starts.
///
/// ```
/// use sea_tenant::citus::{self, Distribution};
///
/// citus::set_distribution(Distribution::Require);
/// assert_eq!(citus::distribution(), Distribution::Require);
/// # citus::set_distribution(Distribution::Detect);
/// ```
pub fn set_distribution(distribution: Distribution) {
    let value = match distribution {
        Distribution::Detect => 0,
        Distribution::Never => 1,
        Distribution::Require => 2,
    };
    DISTRIBUTION.store(value, Ordering::Relaxed);
}

/// The current [`Distribution`].
pub fn distribution() -> Distribution {
    match DISTRIBUTION.load(Ordering::Relaxed) {
        1 => Distribution::Never,
        2 => Distribution::Require,
        _ => Distribution::Detect,
    }
}

/// Whether tenants created on `db` become distributed schemas: the database has the `citus`
/// extension (or [`Distribution::Require`]; never with [`Distribution::Never`]).
///
/// ```no_run
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// if sea_tenant::citus::is_citus(db).await? {
///     println!("tenants are spread over Citus workers");
/// }
/// # Ok(()) }
/// ```
pub async fn is_citus<C: ConnectionTrait>(db: &C) -> Result<bool> {
    match distribution() {
        Distribution::Never => Ok(false),
        Distribution::Require => Ok(true),
        Distribution::Detect => {
            let row = db.query_one_raw(raw(tenant_sql::IS_CITUS)).await?;
            Ok(match row {
                Some(row) => row.try_get_by_index::<bool>(0)?,
                None => false,
            })
        }
    }
}

/// A node of a Citus cluster, as the coordinator's `pg_dist_node` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    /// The host name the coordinator connects to.
    pub host: String,
    /// Its port.
    pub port: u16,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

fn node_of(row: &QueryResult) -> Result<Node, DbErr> {
    let port: i32 = row.try_get("", "port")?;
    Ok(Node {
        host: row.try_get("", "host")?,
        port: u16::try_from(port)
            .map_err(|_| DbErr::Custom(format!("pg_dist_node: port {port} out of range")))?,
    })
}

/// The nodes tenants can be placed on (active primaries that may hold shards), sorted.
pub async fn workers<C: ConnectionTrait>(db: &C) -> Result<Vec<Node>> {
    let rows = db.query_all_raw(raw(tenant_sql::WORKER_NODES)).await?;
    Ok(rows.iter().map(node_of).collect::<Result<_, _>>()?)
}

/// The node each distributed tenant schema is placed on, as `(schema, node)` sorted by
/// schema, from the coordinator's metadata alone: it answers with a worker down. Schemas
/// that are not distributed, and distributed ones without a table yet, are not listed.
///
/// ```no_run
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// for (tenant, node) in sea_tenant::citus::tenant_nodes(db).await? {
///     println!("{tenant} on {node}");
/// }
/// # Ok(()) }
/// ```
pub async fn tenant_nodes<C: ConnectionTrait>(db: &C) -> Result<Vec<(String, Node)>> {
    let rows = db
        .query_all_raw(raw(&tenant_sql::tenant_nodes(None)))
        .await?;
    Ok(rows
        .iter()
        .map(|row| Ok((row.try_get::<String>("", "tenant")?, node_of(row)?)))
        .collect::<Result<_, DbErr>>()?)
}

/// The node `tenant` is placed on; `None` if its schema is not distributed (or has no table).
pub async fn tenant_node<C: ConnectionTrait>(db: &C, tenant: &TenantName) -> Result<Option<Node>> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            tenant_sql::tenant_nodes(Some("$1")),
            [tenant.as_str().into()],
        ))
        .await
        .map_err(Error::tenant_db(tenant))?;
    row.as_ref()
        .map(node_of)
        .transpose()
        .map_err(Error::tenant_db(tenant))
}

/// How [`move_tenant`] copies a tenant's tables (Citus's `citus.shard_transfer_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransferMode {
    /// Logical replication when every table has a replica identity (a primary key), else
    /// blocking writes: Citus's default.
    #[default]
    Auto,
    /// Logical replication: reads and writes go on during the copy; writes pause only for
    /// the switch-over at the end. Fails on a table without a replica identity.
    ForceLogical,
    /// Writes to the tenant wait during the whole copy; reads go on.
    BlockWrites,
}

impl TransferMode {
    fn as_sql(self) -> &'static str {
        match self {
            TransferMode::Auto => "auto",
            TransferMode::ForceLogical => "force_logical",
            TransferMode::BlockWrites => "block_writes",
        }
    }
}

/// Moves `tenant` (its whole schema) to the node `to`, on the coordinator, with Citus's
/// `citus_schema_move`. Returns when the move is complete; a tenant already on `to` is left
/// alone.
///
/// Readers and writers through the coordinator keep working during the move. With logical
/// replication ([`TransferMode::Auto`] when the tables have primary keys) writes wait only
/// for the switch-over at the end: in the Citus test suite (`tests/tests/citus/faults.rs`) a
/// scoped writer (one insert per transaction) and a scoped reader ran through a move without
/// a single error, no row lost and no other tenant's row read, and a transaction open on the
/// tenant across the move committed: the switch-over waits for open transactions, so a long
/// one delays the move's end rather than failing.
///
/// ```no_run
/// use sea_tenant::TenantName;
/// use sea_tenant::citus::{self, TransferMode};
///
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// let tenant = TenantName::new("org_7")?;
/// let idle = citus::workers(db).await?.into_iter().last().expect("a worker");
/// citus::move_tenant(db, &tenant, &idle, TransferMode::Auto).await?;
/// assert_eq!(citus::tenant_node(db, &tenant).await?, Some(idle));
/// # Ok(()) }
/// ```
pub async fn move_tenant<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantName,
    to: &Node,
    mode: TransferMode,
) -> Result<()> {
    if !tenants::schema_exists(db, tenant).await? {
        return Err(Error::MissingSchema {
            tenant: tenant.clone(),
        });
    }
    if tenant_node(db, tenant).await?.as_ref() == Some(to) {
        return Ok(());
    }
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        tenant_sql::MOVE_SCHEMA,
        [
            tenant.as_str().into(),
            to.host.as_str().into(),
            i32::from(to.port).into(),
            mode.as_sql().into(),
        ],
    ))
    .await
    .map_err(Error::tenant_db(tenant))?;
    Ok(())
}

/// Spreads the distributed schemas evenly over the workers with Citus's background
/// rebalancer (`citus_rebalance_start`, which moves schemas whole) and waits until it is done.
/// Returns the rebalance job's id, or `None` when nothing needed to move.
///
/// ```no_run
/// # async fn demo(db: &sea_orm::DatabaseConnection) -> sea_tenant::Result<()> {
/// if let Some(job) = sea_tenant::citus::rebalance(db).await? {
///     println!("rebalance job {job} done");
/// }
/// # Ok(()) }
/// ```
pub async fn rebalance<C: ConnectionTrait>(db: &C) -> Result<Option<i64>> {
    let row = db.query_one_raw(raw(tenant_sql::REBALANCE)).await?;
    let job = match row {
        Some(row) => row.try_get_by_index::<Option<i64>>(0)?,
        None => None,
    };
    if job.is_some() {
        db.execute_raw(raw(tenant_sql::REBALANCE_WAIT)).await?;
    }
    Ok(job)
}

fn raw(sql: &str) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

/// Whether `error` is a Citus coordinator reporting that it could not reach a worker (SQLSTATE
/// class 08, sent by the coordinator over a working connection): the tenants on that worker
/// fail, the connection to the coordinator is fine. The messages are Citus 13.2's
/// (`connection/remote_commands.c`, `connection/connection_management.c`,
/// `executor/adaptive_executor.c`).
pub(crate) fn is_worker_unreachable(error: &sea_orm::sqlx::Error) -> bool {
    const PREFIXES: [&str; 3] = [
        "connection to the remote node ",
        "connection establishment for node ",
        "could not establish any connections to the node ",
    ];
    error.as_database_error().is_some_and(|e| {
        e.code().is_some_and(|code| code.starts_with("08"))
            && PREFIXES.iter().any(|p| e.message().starts_with(p))
    })
}

/// The shared table a foreign key of a tenant table references, when `err` is Citus refusing
/// that key because the table is not a reference table (SQLSTATE 42P16, "referenced table "…"
/// must be a distributed table or a reference table").
pub(crate) fn unreferenceable_table(err: &DbErr) -> Option<String> {
    let sqlx = crate::error::sqlx_error_of(err)?;
    let server = sqlx.as_database_error()?;
    if server.code().as_deref() != Some("42P16") {
        return None;
    }
    let rest = server.message().strip_prefix("referenced table \"")?;
    let (table, tail) = rest.split_once('"')?;
    tail.contains("must be a distributed table or a reference table")
        .then(|| table.to_owned())
}

/// `err`, as [`Error::NotReferenceTable`] if it is Citus refusing a foreign key to a shared
/// table that is not a reference table, else as `otherwise` makes it.
pub(crate) fn classify(
    err: DbErr,
    tenant: &TenantName,
    migration: Option<&str>,
    otherwise: impl FnOnce(DbErr) -> Error,
) -> Error {
    match unreferenceable_table(&err) {
        Some(table) => Error::NotReferenceTable {
            tenant: tenant.clone(),
            migration: migration.map(str::to_owned),
            table,
            source: Box::new(err),
        },
        None => otherwise(err),
    }
}
