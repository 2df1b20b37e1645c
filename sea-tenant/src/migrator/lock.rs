//! Waiting for locks. Every migration transaction sets `lock_timeout` for itself
//! ([`TenantMigrator::lock_timeout`](crate::TenantMigrator::lock_timeout), default 10 s),
//! before it takes the tenant lock. A migration that times out (SQLSTATE 55P03) is rolled
//! back and tried again after a pause,
//! [`TenantMigrator::lock_retries`](crate::TenantMigrator::lock_retries) times; then the
//! tenant fails with "lock timeout" and the sessions that hold locks on its tables (from
//! `pg_locks` and `pg_stat_activity`), and the run carries on with the others. The tenant lock
//! itself is in `tenant_sql/lock.rs`.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::connection::db_err_of;
use crate::tenant_sql::sqlstate;
use crate::{Error, TenantName, tenant_sql};

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
    db_err_of(error).and_then(sqlstate).as_deref() == Some("55P03")
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
                AND ((l.classid::bigint << 32) | l.objid::bigint) = {key}))",
        schema = tenant.literal(),
        key = tenant_sql::lock_key(tenant),
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
