//! The per-tenant advisory lock every creator and writer of a tenant schema takes: the
//! migrator (also with `create_missing`), owner-entity provisioning, renames and drops, and
//! every `ensure_*`. One key for all of them, so they never work on one tenant at once;
//! different tenants never wait for each other.
//!
//! The lock is taken **before** anything else in the transaction looks the tenant's name up,
//! and its own functions are schema-qualified. PostgreSQL caches catalog look-ups per
//! backend, also negative ones ("no schema of that name"), and waiting for an advisory lock
//! does not refresh that cache. The migrator used to set `search_path` to the tenant first and
//! then call the (unqualified) lock functions, which resolved them through a `search_path`
//! naming a schema that did not exist yet; after waiting while another caller created it,
//! its `CREATE SCHEMA IF NOT EXISTS` still saw no schema and failed with a duplicate key in
//! `pg_namespace_nspname_index`. Each of the two changes alone makes the integration test
//! `owner_races::creation_races` pass; both are kept.
//!
//! Waiting for locks: every migration transaction sets `lock_timeout` for itself
//! ([`TenantMigrator::lock_timeout`](crate::TenantMigrator::lock_timeout), default 10 s),
//! before it takes the tenant lock. A migration that times out (SQLSTATE 55P03) is rolled
//! back and tried again after a pause, [`TenantMigrator::lock_retries`](crate::TenantMigrator::lock_retries)
//! times; then the tenant fails with "lock timeout" and the sessions that hold locks on its
//! tables (from `pg_locks` and `pg_stat_activity`), and the run carries on with the others.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};

use super::connection::{db_err_of, sqlstate_of, sqlx_error_of};
use crate::name::quote_literal;
use crate::{Error, TenantName};

/// `SELECT pg_advisory_xact_lock(…)` keyed on the tenant: transaction-scoped, so it is released
/// by COMMIT or ROLLBACK and can never outlive a transaction on a pooled connection. The key is
/// a 64-bit hash of `sea_tenant:<schema>`; a collision would only serialise two tenants.
/// Schema-qualified, so it resolves no name through `search_path`.
pub(crate) fn lock_sql(tenant: &TenantName) -> String {
    format!(
        "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended({}, 0))",
        quote_literal(&format!("sea_tenant:{}", tenant.as_str()))
    )
}

/// The locks of two tenants (a rename's old and new name), always in the same order, so that
/// two renames in opposite directions cannot deadlock.
pub(crate) fn lock_both_sql(a: &TenantName, b: &TenantName) -> String {
    let (first, second) = if a.as_str() <= b.as_str() {
        (a, b)
    } else {
        (b, a)
    };
    format!("{}; {}", lock_sql(first), lock_sql(second))
}

/// SQLSTATE `duplicate_schema`: raised by sea-tenant's scripts when a schema that must not
/// exist does (and by PostgreSQL itself).
pub(crate) const DUPLICATE_SCHEMA: &str = "42P06";
/// SQLSTATE `invalid_schema_name`: raised when a schema that must exist does not.
pub(crate) const MISSING_SCHEMA: &str = "3F000";
/// SQLSTATE `serialization_failure`: an owner row changed between reading it and acting on
/// it (only possible outside a transaction); the hook reads it again.
pub(crate) const ROW_CHANGED: &str = "40001";
/// SQLSTATE `no_data_found`: an owner row is gone.
pub(crate) const ROW_GONE: &str = "P0002";

/// The SQLSTATE of a database error, if it is one.
pub(crate) fn sqlstate(err: &DbErr) -> Option<String> {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}

/// `SELECT set_config('lock_timeout', …, true); `, set before the tenant lock is taken, so that
/// it bounds every wait of the transaction; empty without a lock timeout.
pub(super) fn lock_timeout_sql(timeout: Option<Duration>) -> String {
    match timeout {
        Some(timeout) => format!(
            "SELECT set_config('lock_timeout', '{}ms', true); ",
            timeout.as_millis().max(1)
        ),
        None => String::new(),
    }
}

/// SQLSTATE 55P03 (`lock_not_available`): "canceling statement due to lock timeout".
pub(super) fn is_lock_timeout(error: &Error) -> bool {
    db_err_of(error)
        .and_then(sqlx_error_of)
        .and_then(sqlstate_of)
        .as_deref()
        == Some("55P03")
}

/// The pause before the next try of a migration that hit the lock timeout on its
/// `attempts`-th try: 200 ms, doubling up to 6.4 s.
pub(super) fn retry_pause(attempts: u32) -> Duration {
    Duration::from_millis(200 << (attempts - 1).min(5))
}

/// The sessions holding locks on the tenant's tables or its tenant lock, as PostgreSQL
/// shows them, for a lock timeout's report.
pub(super) async fn blockers(conn: &DatabaseConnection, tenant: &TenantName) -> String {
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
        schema = tenant.literal(),
        key = quote_literal(&format!("sea_tenant:{}", tenant.as_str())),
    );
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await;
    match row.map(|r| r.and_then(|r| r.try_get_by_index::<Option<String>>(0).ok().flatten())) {
        Ok(Some(holders)) => format!("blocked by {holders}"),
        Ok(None) => "no session holds a lock on the tenant's tables any more".to_owned(),
        Err(e) => format!("the blocking session is unknown: {e}"),
    }
}
