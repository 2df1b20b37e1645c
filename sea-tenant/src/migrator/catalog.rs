//! Batched look-ups of many tenants' state instead of a round trip per tenant per migration,
//! which is what keeps `status` and a no-op `up` fast at 10,000 tenants: one catalog query per
//! 5,000 tenants (schemas, version tables, fingerprints), then, only where needed, one query
//! per 500 version tables.

use std::sync::Arc;

use futures::TryStreamExt;
use sea_orm::sqlx::{self, AssertSqlSafe, Either};
use sea_orm::{DatabaseConnection, DatabaseConnectionType, DbErr, QueryResult, RuntimeErr};

use crate::TenantName;
use crate::name::quote_literal;
use crate::strict::Strict;
use crate::tenant_sql::VersionTable;

/// A statement that names ~4,300 tables fails with "out of shared memory" under the default
/// `max_locks_per_transaction`; one table per tenant, 500 per statement, stays well clear.
pub(crate) const VERSION_QUERY_BATCH: usize = 500;

/// Runs `sql` through the simple protocol. These statements are one-offs (their text names the
/// tenants), so preparing them would only fill each connection's statement cache, on the
/// client and on the server, with statements that never run again.
async fn fetch_unprepared(
    conn: &DatabaseConnection,
    sql: String,
) -> Result<Vec<QueryResult>, DbErr> {
    let DatabaseConnectionType::SqlxPostgresPoolConnection(_) = &conn.inner else {
        return Err(DbErr::Custom(
            "sea-tenant needs a PostgreSQL connection pool (sqlx-postgres)".to_owned(),
        ));
    };
    let pool = conn.get_postgres_connection_pool();
    let mut rows = Vec::new();
    let mut results = sqlx::raw_sql(AssertSqlSafe(sql)).fetch_many(pool);
    while let Some(item) = results
        .try_next()
        .await
        .map_err(|e| DbErr::Query(RuntimeErr::SqlxError(e.into())))?
    {
        if let Either::Right(row) = item {
            rows.push(row.into());
        }
    }
    Ok(rows)
}

/// What the catalog and the version table say about one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TenantState {
    pub schema_exists: bool,
    pub has_version_table: bool,
    /// Recorded versions, sorted; known ones share the migration set's names.
    pub applied: Vec<Arc<str>>,
    /// Whether `applied` comes from the table's fingerprint rather than its rows.
    pub from_fingerprint: bool,
    /// In strict mode: the schema exists but the tenant's role does not (a tenant from before
    /// strict mode, or made by hand), so a run must create and grant it.
    pub lacks_role: bool,
}

/// A tenant on its way through a run: its line in the report, its name, and what the catalog
/// and its version table have said of it so far.
#[derive(Debug)]
pub(crate) struct TenantWork {
    pub slot: usize,
    pub name: TenantName,
    pub state: TenantState,
}

/// The complete migration set and the fingerprint of a version table that holds all of it.
#[derive(Debug, Clone)]
pub(crate) struct CompleteSet {
    pub fingerprint: String,
    /// Every version, sorted.
    pub versions: Vec<Arc<str>>,
}

/// Tenants per catalog query: one row each, no tenant table is opened.
const CATALOG_BATCH: usize = 5000;

/// Reads from the catalog, for every tenant in `tenants`, whether its schema and version table
/// exist and, with `complete`, whether the table's fingerprint says it holds the whole set
/// (then `applied` is filled and the table need not be read). Touches only shared catalogs,
/// so it is cheap on any connection.
pub(crate) async fn load_catalog(
    conn: &DatabaseConnection,
    tenants: &mut [TenantWork],
    table: &str,
    complete: Option<&CompleteSet>,
    strict: Option<&Strict>,
) -> Result<(), DbErr> {
    for chunk in tenants.chunks_mut(CATALOG_BATCH) {
        // Names are validated and quoted as literals; so are role names.
        let values = chunk
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let role = strict.map_or_else(
                    || "NULL::text".to_owned(),
                    |s| quote_literal(&s.tenant_role(&t.name)),
                );
                format!("({i}, {}, {role})", t.name.literal())
            })
            .collect::<Vec<_>>()
            .join(", ");
        // `to_regrole` is a cache look-up by name; `pg_roles` is a view with a join.
        let lacks_role = if strict.is_some() {
            "n.oid IS NOT NULL AND pg_catalog.to_regrole(pg_catalog.quote_ident(t.role)) IS NULL"
        } else {
            "false"
        };
        let sql = format!(
            "SELECT t.i, n.oid IS NOT NULL AS schema_exists, c.oid IS NOT NULL AS has_table, \
                    obj_description(c.oid, 'pg_class') AS fingerprint, {lacks_role} AS lacks_role \
             FROM (VALUES {values}) AS t(i, name, role) \
             LEFT JOIN pg_namespace n ON n.nspname = t.name \
             LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = {table} AND c.relkind = 'r'",
            table = quote_literal(table),
        );
        for row in fetch_unprepared(conn, sql).await? {
            let i: i32 = row.try_get("", "i")?;
            let state = &mut chunk[i as usize].state;
            state.schema_exists = row.try_get("", "schema_exists")?;
            state.has_version_table = row.try_get("", "has_table")?;
            state.lacks_role = row.try_get("", "lacks_role")?;
            let fingerprint: Option<String> = row.try_get("", "fingerprint")?;
            if let Some(complete) = complete
                && fingerprint.as_deref() == Some(complete.fingerprint.as_str())
            {
                state.applied = complete.versions.clone();
                state.from_fingerprint = true;
            }
        }
    }
    Ok(())
}

/// Reads the version tables of the tenants whose state still needs them (a version table
/// exists and no fingerprint answered), `VERSION_QUERY_BATCH` tables per statement.
///
/// `known` is the migration set's names, sorted: a recorded version that is one of them shares
/// its allocation, so 10,000 tenants' states hold each name once.
///
/// In strict mode the migrator's login must be able to read them: a superuser, or a role that
/// inherits the owner role's privileges (the runtime role does not).
pub(crate) async fn load_versions(
    conn: &DatabaseConnection,
    tenants: &mut [TenantWork],
    table: &str,
    known: &[Arc<str>],
) -> Result<(), DbErr> {
    let unread: Vec<usize> = (0..tenants.len())
        .filter(|&i| tenants[i].state.has_version_table && !tenants[i].state.from_fingerprint)
        .collect();
    for batch in unread.chunks(VERSION_QUERY_BATCH) {
        let sql = batch
            .iter()
            .map(|&i| {
                format!(
                    "SELECT {i} AS i, version::text AS version FROM {}",
                    VersionTable::new(&tenants[i].name, table).qualified()
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        for &i in batch {
            tenants[i].state.applied.clear();
        }
        for row in fetch_unprepared(conn, sql).await? {
            let i: i32 = row.try_get("", "i")?;
            let version: String = row.try_get("", "version")?;
            let shared = match known.binary_search_by(|k| (**k).cmp(version.as_str())) {
                Ok(at) => Arc::clone(&known[at]),
                Err(_) => Arc::from(version),
            };
            tenants[i as usize].state.applied.push(shared);
        }
        for &i in batch {
            tenants[i].state.applied.sort();
        }
    }
    Ok(())
}
