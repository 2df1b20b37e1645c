//! Provisioning a tenant with a migration set that reads: its migrations run for real, all
//! of them in one transaction with the same opening and closing statements as the rendered
//! script (`tenant_sql::provisioning_prologue`), so a tenant is provisioned whole or not at
//! all either way.
//!
//! - On a pool (`DatabaseConnection`) a transaction of its own is opened and committed.
//! - Inside a caller's `DatabaseTransaction` a savepoint is used: on success it is released
//!   (the work commits or rolls back with the caller's transaction), on failure it is rolled
//!   back, which leaves the caller's transaction usable and as it was. The caller's
//!   `search_path` is put back either way.
//! - Any other connection type cannot open a transaction here (hooks only get
//!   `ConnectionTrait`): [`Error::LiveProvisioning`], before anything is sent.

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait};
use sea_orm_migration::SchemaManager;

use super::classify;
use super::concrete::{self, Concrete};
use super::plan::LiveSet;
use crate::tenant_sql::DEFAULT_VERSION_TABLE;
use crate::tenant_sql::VersionTable;
use crate::tenant_sql::{self, Creation};
use crate::{Error, Result, TenantName};

/// Provisions `tenant` on `db` by running `live`'s migrations (see the module docs).
pub(super) async fn provision<C: ConnectionTrait>(
    db: &C,
    live: &LiveSet,
    tenant: &TenantName,
    creation: Creation<'_>,
) -> Result<()> {
    let (txn, savepoint) = match concrete::of(db) {
        Concrete::Pool(pool) => (pool.begin().await, false),
        Concrete::Transaction(outer) => (outer.begin().await, true),
        Concrete::Other => {
            return Err(Error::LiveProvisioning {
                tenant: tenant.clone(),
                set: live.set.name(),
                migration: live.reader.clone(),
                connection: std::any::type_name::<C>(),
            });
        }
    };
    let txn = txn.map_err(Error::tenant_db(tenant))?;
    match apply(&txn, live, tenant, creation).await {
        Ok(()) => txn.commit().await.map_err(Error::tenant_db(tenant)),
        Err(err) => {
            if let Err(rollback) = txn.rollback().await {
                tracing::debug!(%tenant, savepoint, error = %rollback, "rolling back a failed live provisioning failed");
            }
            Err(err)
        }
    }
}

/// The whole provisioning on `txn`: lock, checks, schema, every pending migration with its
/// version row, fingerprint, the caller's search path back.
async fn apply(
    txn: &DatabaseTransaction,
    live: &LiveSet,
    tenant: &TenantName,
    creation: Creation<'_>,
) -> Result<()> {
    let strict = crate::strict::current();
    txn.execute_unprepared(
        &tenant_sql::provisioning_prologue(
            tenant,
            creation,
            crate::citus::distribution(),
            strict.as_deref(),
        )
        .join(";\n"),
    )
    .await
    .map_err(|e| classify(e, tenant, tenant))?;
    let table = VersionTable::new(tenant, DEFAULT_VERSION_TABLE);
    // Read under the tenant's lock, which every other writer of the version table takes:
    // nothing can record a version until this transaction ends.
    let applied: HashSet<String> = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            table.versions_sql(),
        ))
        .await
        .map_err(Error::tenant_db(tenant))?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect::<Result<_, _>>()
        .map_err(Error::tenant_db(tenant))?;
    let manager = SchemaManager::new(txn);
    for migration in (live.set.migrations())() {
        let name = migration.name();
        if applied.contains(name) {
            continue;
        }
        migration
            .up(&manager)
            .await
            .map_err(|source| Error::Migration {
                tenant: tenant.clone(),
                migration: name.to_owned(),
                source,
            })?;
        txn.execute_unprepared(&table.insert_sql(name))
            .await
            .map_err(Error::tenant_db(tenant))?;
    }
    txn.execute_unprepared(
        &tenant_sql::provisioning_epilogue(tenant, strict.as_deref()).join(";\n"),
    )
    .await
    .map_err(Error::tenant_db(tenant))?;
    Ok(())
}
