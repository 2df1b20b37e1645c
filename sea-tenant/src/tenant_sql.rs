//! Every piece of SQL text that names a tenant schema: the search path, the per-tenant
//! advisory lock, creating, renaming and dropping a schema, asking whether one exists, and the
//! SQLSTATEs sea-tenant's scripts raise. The scope, the migrator, provisioning and the owner
//! hooks build their statements from these, so each safety rule below lives in one place.
//!
//! # The search path
//! A tenant's statements run with a **transaction-local** search path (`set_config(…, true)`
//! or `SET LOCAL`), so it ends with the transaction and never stays on a pooled connection.
//! Migrations and provisioning scripts see the tenant schema alone: an unqualified name in a
//! migration must never resolve to a shared table (a `DROP TABLE IF EXISTS` would otherwise
//! reach into `public`).
//!
//! # The tenant lock
//! Every creator and writer of a tenant schema takes the same per-tenant advisory lock: the
//! migrator (also with `create_missing`), owner-entity provisioning, renames and drops, and
//! both ways of ensuring a tenant. So they never work on one tenant at once, while different
//! tenants never wait for each other.
//!
//! The lock is taken **before** anything else in the transaction looks the tenant's name up,
//! and its own functions are schema-qualified. PostgreSQL caches catalog look-ups per
//! backend, also negative ones ("no schema of that name"), and waiting for an advisory lock
//! does not refresh that cache. The migrator used to set `search_path` to the tenant first and
//! then call the (unqualified) lock functions, which resolved them through a `search_path`
//! naming a schema that did not exist yet; after waiting while another caller created it,
//! its create-if-missing still saw no schema and failed with a duplicate key in
//! `pg_namespace_nspname_index`. Each of the two changes alone makes the integration test
//! `owner_races::creation_races` pass; both are kept.

use std::sync::LazyLock;

use sea_orm::DbErr;

use crate::citus::Distribution;
use crate::migrator::version_table::VersionTable;
use crate::name::{quote_ident, quote_literal};
use crate::strict::{Strict, sql as strict_sql};
use crate::{DEFAULT_VERSION_TABLE, TenantName};

/// The tenant schema alone as the transaction's search path (see the module docs).
pub(crate) fn set_tenant_path(tenant: &TenantName) -> String {
    set_search_path(&quote_literal(&tenant.quoted()))
}

/// Stashes the caller's search path in the transaction-local custom setting
/// `sea_tenant.saved_search_path`, so that a script can put it back at its end
/// ([`restore_search_path`]) without a round trip to read it first.
pub(crate) const SAVE_SEARCH_PATH: &str = "SELECT set_config('sea_tenant.saved_search_path', \
     current_setting('search_path'), true)";

/// Puts back the search path [`SAVE_SEARCH_PATH`] stashed.
pub(crate) fn restore_search_path() -> String {
    set_search_path("current_setting('sea_tenant.saved_search_path')")
}

/// `value` (an SQL expression) as the search path until the transaction ends.
fn set_search_path(value: &str) -> String {
    format!("SELECT set_config('search_path', {value}, true)")
}

/// A scope's search path: the tenant's schema, then the shared ones, each quoted.
pub(crate) fn scope_search_path(tenant: &TenantName, shared: &[String]) -> String {
    std::iter::once(tenant.quoted())
        .chain(shared.iter().map(|s| quote_ident(s)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SET LOCAL search_path TO <search_path>, pg_temp`: transaction-local, and `pg_temp` last so
/// that no temporary table can shadow a tenant table. (A utility statement: cheaper for the
/// server than `SELECT set_config(…)`, which is planned and executed.)
pub(crate) fn set_local_search_path(search_path: &str) -> String {
    format!("SET LOCAL search_path TO {}", with_pg_temp(search_path))
}

/// A scope's search path as the value of the setting: `pg_temp` last, as in
/// [`set_local_search_path`].
pub(crate) fn with_pg_temp(search_path: &str) -> String {
    format!("{search_path}, pg_temp")
}

/// What a statement can leave on a session that outlives a transaction, read cheaply (each
/// part is an index scan or a small in-memory list): objects in this session's temporary
/// schema, `LISTEN` channels, `WITH HOLD` cursors and advisory locks (which cannot be told
/// apart from transaction-level ones, so any new one counts).
const SESSION_STATE: &str = "pg_catalog.concat_ws(' ', \
     (SELECT count(*) FROM pg_catalog.pg_depend WHERE refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass \
      AND refobjid = pg_catalog.pg_my_temp_schema()), \
     (SELECT count(*) FROM pg_catalog.pg_listening_channels()), \
     (SELECT count(*) FROM pg_catalog.pg_cursors WHERE is_holdable), \
     (SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND pid = pg_catalog.pg_backend_pid()))";

/// Sets the search path to `$1` and the role to `$2` (the current one when NULL) until the
/// transaction ends, and returns the caller's path, role and [`SESSION_STATE`] (first three
/// columns) for [`struct@PUT_BACK_SEARCH_PATH`]. The subquery (kept apart by `OFFSET 0`) reads them
/// before the outer `set_config`s run. A bound statement, for a caller's transaction, where
/// the scope cannot send messages of its own.
pub(crate) static SWAP_SEARCH_PATH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT saved.path, saved.role, saved.session, \
         pg_catalog.set_config('search_path', $1, true), \
         pg_catalog.set_config('role', COALESCE($2::text, saved.role), true) FROM \
         (SELECT pg_catalog.current_setting('search_path') AS path, \
          pg_catalog.current_setting('role') AS role, {SESSION_STATE} AS session OFFSET 0) AS saved"
    )
});

/// Puts back the search path (`$1`) and role (`$2`) that [`struct@SWAP_SEARCH_PATH`] returned, and
/// returns the path, role and [`SESSION_STATE`] found before (first three columns), so the
/// caller can tell whether the statement in between changed them.
pub(crate) static PUT_BACK_SEARCH_PATH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT during.path, during.role, during.session, \
         pg_catalog.set_config('search_path', $1, true), \
         pg_catalog.set_config('role', $2, true) FROM \
         (SELECT pg_catalog.current_setting('search_path') AS path, \
          pg_catalog.current_setting('role') AS role, {SESSION_STATE} AS session OFFSET 0) AS during"
    )
});

/// A `DO` block that fails with `message`: aborts the transaction it runs in, so that its
/// commit rolls back.
pub(crate) fn abort_transaction(message: &str) -> String {
    raise_if("true", SESSION_CHANGED, message)
}

/// SQLSTATE `invalid_transaction_state`, raised by [`abort_transaction`].
pub(crate) const SESSION_CHANGED: &str = "25000";

/// The tenant lock's key: a 64-bit hash of `sea_tenant:<schema>` (a collision would only
/// serialise two tenants), schema-qualified so it resolves no name through `search_path`.
pub(crate) fn lock_key(tenant: &TenantName) -> String {
    format!(
        "pg_catalog.hashtextextended({}, 0)",
        quote_literal(&format!("sea_tenant:{}", tenant.as_str()))
    )
}

/// Takes the tenant lock, `pg_advisory_xact_lock`: transaction-scoped, so it is released by
/// COMMIT or ROLLBACK and can never outlive a transaction on a pooled connection.
pub(crate) fn lock_tenant(tenant: &TenantName) -> String {
    format!(
        "SELECT pg_catalog.pg_advisory_xact_lock({})",
        lock_key(tenant)
    )
}

/// The locks of two tenants (a rename's old and new name), always in the same order, so that
/// two renames in opposite directions cannot deadlock.
pub(crate) fn lock_tenants(a: &TenantName, b: &TenantName) -> String {
    let (first, second) = if a.as_str() <= b.as_str() {
        (a, b)
    } else {
        (b, a)
    };
    format!("{}; {}", lock_tenant(first), lock_tenant(second))
}

/// Creates the schema; fails if it exists.
pub(crate) fn create_schema(tenant: &TenantName) -> String {
    create(tenant, "")
}

/// Creates the schema unless it exists.
pub(crate) fn create_schema_if_missing(tenant: &TenantName) -> String {
    create(tenant, "IF NOT EXISTS ")
}

fn create(tenant: &TenantName, condition: &str) -> String {
    distributed(&format!("CREATE SCHEMA {condition}{}", tenant.quoted()))
}

// # Citus
//
// On a Citus coordinator a tenant schema is created as a *distributed schema* (schema-based
// sharding): its tables become single-shard tables placed together on one worker. Citus does
// that for a `CREATE SCHEMA` run while `citus.enable_schema_based_sharding` is on, so every
// creation above turns it on for that one statement and then puts back the caller's value
// (both transaction-local). Whether the database is a Citus one is asked in the same
// statements (the `citus` row of `pg_extension`), so no round trip and no cache is needed,
// and a database that gets Citus later is seen at once. See `crate::citus`.

/// The rows these statements run for: one on a Citus database, none elsewhere.
const IF_CITUS: &str = "FROM pg_catalog.pg_extension WHERE extname = 'citus'";

/// `create` (a `CREATE SCHEMA`) as the current [`Distribution`] says: wrapped in turning
/// schema-based sharding on and back, refused without Citus, or left alone.
fn distributed(create: &str) -> String {
    distributed_as(create, crate::citus::distribution())
}

fn distributed_as(create: &str, distribution: Distribution) -> String {
    let on = format!(
        "SELECT set_config('sea_tenant.saved_sharding', \
         current_setting('citus.enable_schema_based_sharding'), true), \
         set_config('citus.enable_schema_based_sharding', 'on', true) {IF_CITUS}"
    );
    let back = format!(
        "SELECT set_config('citus.enable_schema_based_sharding', \
         current_setting('sea_tenant.saved_sharding'), true) {IF_CITUS}"
    );
    match distribution {
        Distribution::Never => create.to_owned(),
        Distribution::Detect => format!("{on}; {create}; {back}"),
        Distribution::Require => format!("{}; {on}; {create}; {back}", require_citus()),
    }
}

/// A `DO` block raising [`NO_CITUS`] unless the database has the `citus` extension.
pub(crate) fn require_citus() -> String {
    raise_if(
        &format!("NOT EXISTS (SELECT 1 {IF_CITUS})"),
        NO_CITUS,
        "sea-tenant requires Citus (sea_tenant::citus::Distribution::Require) but the citus \
         extension is not in this database: CREATE EXTENSION citus, or use Distribution::Detect",
    )
}

/// Whether the database has the `citus` extension.
pub(crate) const IS_CITUS: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')";

/// The worker each distributed tenant schema is placed on, as `(tenant, host, port)`, read
/// from the coordinator's metadata alone (no worker is contacted, so it answers with a worker
/// down): `pg_dist_schema` gives the schema's colocation group, the placement of any shard of
/// that group gives the node. `only`: an SQL expression for one schema name, or `None` for all.
pub(crate) fn tenant_nodes(only: Option<&str>) -> String {
    let filter = only
        .map(|name| format!(" WHERE n.nspname = {name}"))
        .unwrap_or_default();
    format!(
        "SELECT n.nspname::text AS tenant, node.nodename::text AS host, node.nodeport AS port \
         FROM pg_dist_schema s \
         JOIN pg_catalog.pg_namespace n ON n.oid = s.schemaid \
         JOIN LATERAL (SELECT sh.shardid FROM pg_dist_partition p \
                       JOIN pg_dist_shard sh ON sh.logicalrelid = p.logicalrelid \
                       WHERE p.colocationid = s.colocationid LIMIT 1) shard ON true \
         JOIN pg_dist_placement pl ON pl.shardid = shard.shardid \
         JOIN pg_dist_node node ON node.groupid = pl.groupid AND node.noderole = 'primary'\
         {filter} ORDER BY 1"
    )
}

/// The nodes that hold (or may hold) tenant schemas: active primaries that should have
/// shards, as `(host, port)`.
pub(crate) const WORKER_NODES: &str = "SELECT nodename::text AS host, nodeport AS port \
     FROM pg_dist_node WHERE isactive AND noderole = 'primary' AND shouldhaveshards \
     ORDER BY nodename, nodeport";

/// Moves the schema named by `$1` (its oid looked up by name, so nothing is parsed from
/// text) with all its tables to the node `$2`:`$3`, with transfer mode `$4`.
pub(crate) const MOVE_SCHEMA: &str = "SELECT citus_schema_move(\
     (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1)::regnamespace, \
     $2, $3, $4::citus.shard_transfer_mode)";

/// Starts Citus's background rebalancer (which moves distributed schemas whole) and waits for
/// it; the job's id, or NULL when nothing needed to move.
pub(crate) const REBALANCE: &str = "SELECT citus_rebalance_start()";
/// Waits for the running rebalance to finish.
pub(crate) const REBALANCE_WAIT: &str = "SELECT citus_rebalance_wait()";

/// Whether the schema and the version table exist, as the first and second column, for the
/// provisioning path that cannot use `DO` blocks (see `provision/citus.rs`).
pub(crate) fn tenant_state(tenant: &TenantName, version_table: &str) -> String {
    format!(
        "SELECT {}, pg_catalog.to_regclass({}) IS NOT NULL",
        schema_exists(&tenant.literal()),
        quote_literal(version_table)
    )
}

/// A `DO` block raising [`TENANT_CHANGED`] unless the schema's existence and the versions its
/// version table (`version_table`, qualified) records are still `exists` and `applied`
/// (sorted bytewise). Run under the tenant's lock, it makes a plan read earlier safe to run.
pub(crate) fn require_tenant_state(
    tenant: &TenantName,
    version_table: &str,
    exists: bool,
    applied: &[String],
) -> String {
    let expected = applied
        .iter()
        .map(|v| quote_literal(v))
        .collect::<Vec<_>>()
        .join(", ");
    let read = quote_literal(&format!(
        "SELECT coalesce(array_agg(version::text ORDER BY version COLLATE \"C\"), '{{}}') FROM {version_table}"
    ));
    let condition = format!(
        "{exists_now} IS DISTINCT FROM {exists} OR sea_tenant_applied IS DISTINCT FROM \
         ARRAY[{expected}]::text[]",
        exists_now = schema_exists(&tenant.literal()),
    );
    format!(
        "DO $sea_tenant_chk$ DECLARE sea_tenant_applied text[] := '{{}}'; BEGIN \
         IF pg_catalog.to_regclass({table}) IS NOT NULL THEN EXECUTE {read} INTO sea_tenant_applied; END IF; \
         IF {condition} THEN RAISE EXCEPTION USING ERRCODE = '{TENANT_CHANGED}', MESSAGE = {message}; \
         END IF; END $sea_tenant_chk$",
        table = quote_literal(version_table),
        message = quote_literal(&format!(
            "tenant {} changed while being provisioned",
            tenant.as_str()
        )),
    )
}

pub(crate) fn rename_schema(from: &TenantName, to: &TenantName) -> String {
    format!("ALTER SCHEMA {} RENAME TO {}", from.quoted(), to.quoted())
}

/// Drops the schema with everything in it, if it exists.
pub(crate) fn drop_schema(tenant: &TenantName) -> String {
    format!("DROP SCHEMA IF EXISTS {} CASCADE", tenant.quoted())
}

/// Drops the tenant: its schema and, in strict mode, as the owner role, its role too; the
/// caller's role is put back after. Statements for a script, after the tenant's lock.
pub(crate) fn drop_tenant(tenant: &TenantName, strict: Option<&Strict>) -> Vec<String> {
    match strict {
        None => vec![drop_schema(tenant)],
        Some(strict) => vec![
            strict_sql::SAVE_ROLE.to_owned(),
            strict_sql::set_local_role(strict.owner_role()),
            drop_schema(tenant),
            strict_sql::drop_role(&strict.tenant_role(tenant)),
            strict_sql::RESTORE_ROLE.to_owned(),
        ],
    }
}

/// [`drop_tenant`] as PL/pgSQL statements, for inside a `DO` block; in strict mode
/// [`strict_sql::SAVE_ROLE`] must have run before the block.
pub(crate) fn drop_tenant_statements(tenant: &TenantName, strict: Option<&Strict>) -> String {
    match strict {
        None => format!("{};", drop_schema(tenant)),
        Some(strict) => format!(
            "{} {}; {} {}",
            strict_sql::become_owner_statement(strict.owner_role()),
            drop_schema(tenant),
            strict_sql::drop_role_statements(&strict.tenant_role(tenant)),
            strict_sql::RESTORE_ROLE_STATEMENT,
        ),
    }
}

/// Renames the tenant `from` to `to`: its schema and, in strict mode, as the owner role, its
/// role too. Statements for a script, after both tenants' locks and checks.
pub(crate) fn rename_tenant(
    from: &TenantName,
    to: &TenantName,
    strict: Option<&Strict>,
) -> Vec<String> {
    match strict {
        None => vec![rename_schema(from, to)],
        Some(strict) => vec![
            strict_sql::SAVE_ROLE.to_owned(),
            strict_sql::set_local_role(strict.owner_role()),
            rename_schema(from, to),
            strict_sql::rename_role(&strict.tenant_role(from), &strict.tenant_role(to)),
            strict_sql::RESTORE_ROLE.to_owned(),
        ],
    }
}

/// Ends every other session that holds a lock on a relation of the schema `tenant` (for the
/// `testing` feature's temporary tenants, whose drop must not wait on the test's own pool).
#[cfg(feature = "testing")]
pub(crate) fn end_sessions_using(tenant: &TenantName) -> String {
    format!(
        "SELECT pg_catalog.pg_terminate_backend(l.pid) FROM pg_catalog.pg_locks l \
         JOIN pg_catalog.pg_class c ON c.oid = l.relation \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = {} AND l.pid <> pg_catalog.pg_backend_pid()",
        tenant.literal()
    )
}

/// SQLSTATE `lock_not_available`: a lock wait ran into `lock_timeout`.
#[cfg(feature = "testing")]
pub(crate) const LOCK_NOT_AVAILABLE: &str = "55P03";

/// `EXISTS (…)`: whether a schema named `name` (an SQL expression: a literal, a parameter)
/// exists.
pub(crate) fn schema_exists(name: &str) -> String {
    namespace_exists(name, "")
}

/// `EXISTS (…)`: whether the schema `tenant` exists and was created no later than the
/// transaction whose age is `age` (an SQL expression).
pub(crate) fn schema_at_least_as_old(tenant: &TenantName, age: &str) -> String {
    namespace_exists(
        &tenant.literal(),
        &format!(" AND pg_catalog.age(xmin) >= {age}"),
    )
}

fn namespace_exists(name: &str, condition: &str) -> String {
    format!("EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {name}{condition})")
}

/// A `DO` block raising [`DUPLICATE_SCHEMA`] if the schema `tenant` exists. Run under the
/// tenant's lock, its answer stays true until the transaction ends. The name is validated
/// (no quotes, no `$`), so it cannot end the block.
pub(crate) fn refuse_existing_schema(tenant: &TenantName) -> String {
    raise_if(
        &schema_exists(&tenant.literal()),
        DUPLICATE_SCHEMA,
        &format!("schema {} already exists", tenant.quoted()),
    )
}

/// A `DO` block raising [`MISSING_SCHEMA`] if the schema `tenant` does not exist.
pub(crate) fn require_existing_schema(tenant: &TenantName) -> String {
    raise_if(
        &format!("NOT {}", schema_exists(&tenant.literal())),
        MISSING_SCHEMA,
        &format!("schema {} does not exist", tenant.quoted()),
    )
}

fn raise_if(condition: &str, sqlstate: &str, message: &str) -> String {
    format!(
        "DO $sea_tenant_chk$ BEGIN IF {condition} THEN RAISE EXCEPTION USING ERRCODE = \
         '{sqlstate}', MESSAGE = {message}; END IF; END $sea_tenant_chk$",
        message = quote_literal(message),
    )
}

/// How provisioning treats a schema that exists under the tenant's lock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Creation<'a> {
    /// It must not exist: [`DUPLICATE_SCHEMA`] if it does (`create_tenant_on`).
    New,
    /// It is used if it exists; `guard` (SQL, may be empty) runs first and may abort (the
    /// owner-row check of the insert hook).
    Ensure {
        /// Run right after the lock, before anything is created.
        guard: &'a str,
    },
}

/// The statements that start provisioning `tenant`, in the rendered script and on the live
/// path alike: the tenant's lock (first, see the module docs), the existence check or the
/// guard, the caller's search path stashed, the schema created, the search path moved to the
/// tenant alone and its version table created if missing. The migrations follow, then
/// [`provisioning_epilogue`].
///
/// In strict mode (`strict`), the caller's role is stashed too and everything after the guard
/// runs as the owner role, which so owns the schema and all it holds; the tenant's role is
/// created if missing and granted its rows (see [`crate::strict`]).
pub(crate) fn provisioning_prologue(
    tenant: &TenantName,
    creation: Creation<'_>,
    strict: Option<&Strict>,
) -> Vec<String> {
    let mut sql = vec![lock_tenant(tenant)];
    let create = match creation {
        Creation::New => {
            sql.push(refuse_existing_schema(tenant));
            create_schema(tenant)
        }
        Creation::Ensure { guard } => {
            if !guard.trim().is_empty() {
                sql.push(guard.to_owned());
            }
            create_schema_if_missing(tenant)
        }
    };
    sql.push(SAVE_SEARCH_PATH.to_owned());
    if let Some(strict) = strict {
        sql.push(strict_sql::SAVE_ROLE.to_owned());
        sql.push(strict_sql::set_local_role(strict.owner_role()));
    }
    sql.push(create);
    if let Some(strict) = strict {
        sql.extend(tenant_role(tenant, strict));
    }
    sql.push(set_tenant_path(tenant));
    sql.push(VersionTable::new(tenant, DEFAULT_VERSION_TABLE).create_if_missing_sql());
    sql
}

/// Strict mode's role of `tenant`, created if missing and granted its schema's rows; run as
/// the owner role once the schema exists.
pub(crate) fn tenant_role(tenant: &TenantName, strict: &Strict) -> Vec<String> {
    strict_sql::grant_tenant_role(
        tenant,
        &strict.tenant_role(tenant),
        strict.owner_role(),
        strict.runtime_role(),
        strict.shared_role(),
        strict.login_attribute(),
    )
}

/// The statements that end provisioning `tenant`: the version table's fingerprint rewritten
/// and the caller's search path (and, in strict mode, role) put back.
pub(crate) fn provisioning_epilogue(tenant: &TenantName, strict: Option<&Strict>) -> Vec<String> {
    let mut sql = vec![
        VersionTable::new(tenant, DEFAULT_VERSION_TABLE).fingerprint_sql(),
        restore_search_path(),
    ];
    if strict.is_some() {
        sql.push(strict_sql::RESTORE_ROLE.to_owned());
    }
    sql
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
/// SQLSTATE `serialization_failure`, raised by [`require_tenant_state`]: another caller
/// provisioned the tenant between reading its state and acting on it; read it again.
pub(crate) const TENANT_CHANGED: &str = "40001";
/// SQLSTATE `feature_not_supported`: [`require_citus`] found no Citus.
pub(crate) const NO_CITUS: &str = "0A000";

/// The SQLSTATE of a database error, if it is one.
pub(crate) fn sqlstate(err: &DbErr) -> Option<String> {
    crate::error::sqlx_error_of(err).and_then(crate::error::sqlstate_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> TenantName {
        TenantName::new(s).expect("valid")
    }

    #[test]
    fn the_tenant_path_is_the_tenant_alone_until_the_transaction_ends() {
        let set = set_tenant_path(&name("org_7"));
        assert!(set.ends_with(r#", '"org_7"', true)"#), "{set}");
        let restore = restore_search_path();
        assert!(
            restore.ends_with(", current_setting('sea_tenant.saved_search_path'), true)"),
            "{restore}"
        );
        // Both set the same setting.
        assert_eq!(set.split(',').next(), restore.split(',').next());
    }

    #[test]
    fn a_scope_path_quotes_every_schema_and_ends_with_pg_temp() {
        let path = scope_search_path(&name("org_7"), &["sh\"ared".to_owned()]);
        assert_eq!(path, r#""org_7", "sh""ared""#);
        assert_eq!(
            set_local_search_path(&path),
            r#"SET LOCAL search_path TO "org_7", "sh""ared", pg_temp"#
        );
    }

    #[test]
    fn two_tenant_locks_are_taken_in_one_order() {
        let (a, b) = (name("org_a"), name("org_b"));
        assert_eq!(lock_tenants(&a, &b), lock_tenants(&b, &a));
        assert!(lock_tenants(&b, &a).starts_with(&lock_tenant(&a)));
        assert_eq!(
            lock_tenant(&a),
            "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('sea_tenant:org_a', 0))"
        );
    }

    #[test]
    fn a_created_schema_is_distributed_on_citus_only_for_that_statement() {
        let create = r#"CREATE SCHEMA "org_7""#;
        assert_eq!(distributed_as(create, Distribution::Never), create);
        let detect = distributed_as(create, Distribution::Detect);
        let parts: Vec<&str> = detect.split("; ").collect();
        assert_eq!(parts.len(), 3, "{detect}");
        // On, then the statement, then back; both only where the citus extension is.
        assert!(parts[0].contains("set_config('citus.enable_schema_based_sharding', 'on', true)"));
        assert_eq!(parts[1], create);
        assert!(parts[2].contains("current_setting('sea_tenant.saved_sharding')"));
        for part in [parts[0], parts[2]] {
            assert!(part.ends_with(IF_CITUS), "{part}");
        }
        let require = distributed_as(create, Distribution::Require);
        assert!(require.starts_with("DO $sea_tenant_chk$"), "{require}");
        assert!(require.contains("ERRCODE = '0A000'"), "{require}");
        assert!(require.ends_with(&detect), "{require}");
    }

    #[test]
    fn the_state_check_compares_existence_and_sorted_versions() {
        let t = name("org_7");
        let check = require_tenant_state(
            &t,
            r#""org_7"."v""#,
            true,
            &["m1".to_owned(), "m2".to_owned()],
        );
        assert!(check.contains("IS DISTINCT FROM true"), "{check}");
        assert!(check.contains("ARRAY['m1', 'm2']::text[]"), "{check}");
        assert!(check.contains(r#"COLLATE "C""#), "{check}");
        assert!(check.contains("ERRCODE = '40001'"), "{check}");
        let empty = require_tenant_state(&t, r#""org_7"."v""#, false, &[]);
        assert!(empty.contains("ARRAY[]::text[]"), "{empty}");
    }

    #[test]
    fn schema_statements_quote_the_name() {
        let t = name("org_7");
        assert!(create_schema(&t).contains(r#"; CREATE SCHEMA "org_7"; "#));
        assert_eq!(
            create_schema_if_missing(&t).replace("IF NOT EXISTS ", ""),
            create_schema(&t)
        );
        assert!(drop_schema(&t).ends_with(r#" IF EXISTS "org_7" CASCADE"#));
        assert_eq!(
            rename_schema(&t, &name("org_8")),
            r#"ALTER SCHEMA "org_7" RENAME TO "org_8""#
        );
        assert_eq!(
            schema_exists("$1"),
            "EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)"
        );
        assert!(require_existing_schema(&t).contains("IF NOT EXISTS (SELECT 1"));
        assert!(refuse_existing_schema(&t).contains("ERRCODE = '42P06'"));
    }

    #[test]
    fn provisioning_takes_the_lock_before_anything_names_the_schema() {
        let t = name("org_7");
        for creation in [Creation::New, Creation::Ensure { guard: "GUARD" }] {
            let prologue = provisioning_prologue(&t, creation, None);
            assert_eq!(prologue[0], lock_tenant(&t));
            let path = prologue
                .iter()
                .position(|s| *s == set_tenant_path(&t))
                .expect("search path");
            let stash = prologue
                .iter()
                .position(|s| s == SAVE_SEARCH_PATH)
                .expect("stash");
            assert!(
                stash < path,
                "the caller's path is stashed before it changes"
            );
            assert!(prologue[path + 1].contains(r#""org_7"."seaql_tenant_migrations""#));
        }
        assert!(provisioning_prologue(&t, Creation::New, None).contains(&create_schema(&t)));
        let ensure = provisioning_prologue(&t, Creation::Ensure { guard: "GUARD" }, None);
        assert_eq!(ensure[1], "GUARD");
        assert!(ensure.contains(&create_schema_if_missing(&t)));
        assert_eq!(
            provisioning_prologue(&t, Creation::Ensure { guard: " " }, None).len(),
            ensure.len() - 1
        );
        assert_eq!(provisioning_epilogue(&t, None)[1], restore_search_path());
    }
}
