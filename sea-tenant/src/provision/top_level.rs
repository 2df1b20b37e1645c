//! Provisioning on Citus: what the provisioning script does, in a form Citus distributes.
//!
//! Two behaviours of Citus 13.2 (read in its source, `commands/utility_hook.c` and
//! `commands/index.c`, and checked on a local cluster) rule out the script of `provision.rs`:
//!
//! - A table created in a distributed schema becomes a distributed (single-shard) table only
//!   when its `CREATE TABLE` is a **top-level** statement. One run by `EXECUTE` inside a `DO`
//!   block stays an ordinary table on the coordinator, silently, inside the tenant's schema.
//!   The script wraps each migration in a `DO` block (to apply it only if its version row is
//!   missing), so every tenant table would stay on the coordinator.
//! - Some DDL on a distributed table (`CREATE INDEX`, some `ALTER TABLE`s, triggers, policies)
//!   is forwarded to the other nodes as the text of the **whole query string** it arrived in,
//!   as one prepared statement: a top-level `CREATE INDEX` inside a multi-statement script
//!   fails with "cannot insert multiple commands into a prepared statement".
//!
//! So here the decision of what to apply is taken before the script: the tenant's state
//! (schema, version table, recorded versions) is read, then one script applies exactly the
//! missing migrations, `CREATE TABLE` statements at top level and every other statement in a
//! `DO` block of its own (whose query string is that statement alone). Under the tenant's lock
//! the script first checks that the state is still the one read
//! ([`tenant_sql::require_tenant_state`]); if another caller provisioned the tenant in between,
//! it fails with `serialization_failure` before doing anything and is planned again. Inside a
//! caller's transaction the lock is taken before the read and held until that transaction
//! ends, so the check cannot fail there (a failed statement would abort the caller's
//! transaction); on a pool each statement is its own transaction and a retry is cheap.
//!
//! Limit: a migration that sends several statements in one string (`execute_unprepared("…;
//! …")`) is recorded as one statement and reaches Citus as one query string, so a `CREATE
//! INDEX` in it fails as above. sea-query's builders send one statement per call.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use tracing::debug;

use super::{MigrationScript, classify, dollar_tag, push};
use crate::tenant_sql::DEFAULT_VERSION_TABLE;
use crate::tenant_sql::VersionTable;
use crate::tenant_sql::{self, Creation, TENANT_CHANGED, sqlstate};
use crate::{Error, Result, TenantName};

/// How many times the plan is read again after another caller changed the tenant.
const ATTEMPTS: u32 = 5;

/// What the tenant holds when the plan is made.
struct TenantState {
    schema_exists: bool,
    /// Recorded versions, sorted bytewise.
    applied: Vec<String>,
}

/// [`MigrationScript::guarded_provision_sql`]'s work with every statement at top level: under
/// the tenant's lock, `guard`, then the schema and version table if missing and the missing
/// migrations.
pub(super) async fn provision<C: ConnectionTrait>(
    db: &C,
    script: &MigrationScript,
    tenant: &TenantName,
    guard: &str,
) -> Result<()> {
    let table = VersionTable::new(tenant, DEFAULT_VERSION_TABLE);
    for attempt in 1..=ATTEMPTS {
        let state = read_state(db, tenant, &table).await?;
        let sql = script.top_level_sql(tenant, &table, guard, &state)?;
        match db.execute_unprepared(&sql).await {
            Ok(_) => return Ok(()),
            Err(e) if sqlstate(&e).as_deref() == Some(TENANT_CHANGED) => {
                debug!(%tenant, attempt, "tenant changed while being provisioned; planning again");
            }
            Err(e) => return Err(classify(e, tenant, tenant)),
        }
    }
    Err(Error::Tenant {
        tenant: tenant.clone(),
        source: DbErr::Custom(format!(
            "other callers kept provisioning the tenant ({ATTEMPTS} attempts); nothing was done"
        )),
    })
}

async fn read_state<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantName,
    table: &VersionTable<'_>,
) -> Result<TenantState> {
    // Inside a caller's transaction this holds the lock until it ends, so the state read
    // next stays true. A statement of its own: a name looked up before waiting for the lock
    // would be answered from a stale catalog cache (see `tenant_sql.rs`).
    db.execute_unprepared(&tenant_sql::lock_tenant(tenant))
        .await
        .map_err(Error::tenant_db(tenant))?;
    let qualified = table.qualified();
    let row = db
        .query_one_raw(raw(tenant_sql::tenant_state(tenant, &qualified)))
        .await
        .map_err(Error::tenant_db(tenant))?;
    let (schema_exists, has_version_table) = match row {
        Some(row) => (
            row.try_get_by_index::<bool>(0)
                .map_err(Error::tenant_db(tenant))?,
            row.try_get_by_index::<bool>(1)
                .map_err(Error::tenant_db(tenant))?,
        ),
        None => (false, false),
    };
    let mut applied = Vec::new();
    if has_version_table {
        let rows = db
            .query_all_raw(raw(table.versions_sql()))
            .await
            .map_err(Error::tenant_db(tenant))?;
        for row in rows {
            applied.push(
                row.try_get_by_index::<String>(0)
                    .map_err(Error::tenant_db(tenant))?,
            );
        }
        applied.sort();
    }
    Ok(TenantState {
        schema_exists,
        applied,
    })
}

fn raw(sql: String) -> Statement {
    Statement::from_string(DbBackend::Postgres, sql)
}

impl MigrationScript {
    /// The script for `state`: the provisioning prologue with `guard` and then the check that
    /// `state` still holds, what is missing, the epilogue; every statement at top level.
    fn top_level_sql(
        &self,
        tenant: &TenantName,
        table: &VersionTable<'_>,
        guard: &str,
        state: &TenantState,
    ) -> Result<String> {
        let strict = crate::strict::current();
        let mut guard_then_check = String::new();
        if !guard.trim().is_empty() {
            push(&mut guard_then_check, guard);
        }
        push(
            &mut guard_then_check,
            &tenant_sql::require_tenant_state(
                tenant,
                &table.qualified(),
                state.schema_exists,
                &state.applied,
            ),
        );
        let mut sql = String::new();
        // Under the lock the check makes `state` true, so the prologue's "if missing"
        // creations do exactly what the plan expects.
        let creation = Creation::Ensure {
            guard: &guard_then_check,
        };
        for statement in tenant_sql::provisioning_prologue(
            tenant,
            creation,
            crate::citus::distribution(),
            strict.as_deref(),
        ) {
            push(&mut sql, &statement);
        }
        for step in &self.steps {
            if state.applied.binary_search(&step.name).is_ok() {
                continue;
            }
            for statement in &step.statements {
                push(&mut sql, &citus_statement(statement, &step.name)?);
            }
            push(&mut sql, &table.insert_sql(&step.name));
        }
        for statement in tenant_sql::provisioning_epilogue(tenant, strict.as_deref()) {
            push(&mut sql, &statement);
        }
        Ok(sql)
    }
}

/// `statement` as Citus needs it in a script: a `CREATE TABLE` as is (at top level, so the
/// table is distributed), anything else in a `DO` block of its own (so its query string is the
/// statement alone). See the module docs.
fn citus_statement(statement: &str, migration: &str) -> Result<String> {
    let head: String = statement
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    if head.eq_ignore_ascii_case("CREATE TABLE") {
        return Ok(statement.to_owned());
    }
    let inner = dollar_tag(statement, migration)?;
    let call = format!("EXECUTE {inner}{statement}{inner};");
    let outer = dollar_tag(&call, migration)?;
    Ok(format!("DO {outer}BEGIN {call} END{outer}"))
}

#[cfg(test)]
mod tests {
    use super::citus_statement;

    #[test]
    fn create_table_stays_top_level_and_the_rest_gets_a_block_of_its_own() {
        let create = "CREATE TABLE \"post\" ( \"id\" serial )";
        assert_eq!(citus_statement(create, "m1").expect("sql"), create);
        assert_eq!(
            citus_statement("create  table x (id int)", "m1").expect("sql"),
            "create  table x (id int)"
        );
        let index = "CREATE INDEX \"i\" ON \"post\" (\"id\")";
        assert_eq!(
            citus_statement(index, "m1").expect("sql"),
            format!(
                "DO $sea_tenant_1$BEGIN EXECUTE $sea_tenant_0${index}$sea_tenant_0$; END$sea_tenant_1$"
            )
        );
        // A statement holding the first tag gets other tags.
        let tricky = "COMMENT ON TABLE t IS $sea_tenant_0$x$sea_tenant_0$";
        let wrapped = citus_statement(tricky, "m1").expect("sql");
        assert!(
            wrapped.starts_with("DO $sea_tenant_2$BEGIN EXECUTE $sea_tenant_1$"),
            "{wrapped}"
        );
    }
}
