//! Tenant schemas: created (placed as a `Distribution` says), renamed, dropped (with their
//! role in strict mode), and asked about.

use super::placement::{Distribution, distributed_as};
use super::role;
use super::sqlstate::{DUPLICATE_SCHEMA, MISSING_SCHEMA, TENANT_CHANGED, raise_if};
use crate::TenantName;
use crate::name::quote_literal;
use crate::roles::Strict;

/// Creates the schema, placed as `distribution` says; fails if it exists.
pub(crate) fn create_schema(tenant: &TenantName, distribution: Distribution) -> String {
    create(tenant, "", distribution)
}

/// Creates the schema unless it exists.
pub(crate) fn create_schema_if_missing(tenant: &TenantName, distribution: Distribution) -> String {
    create(tenant, "IF NOT EXISTS ", distribution)
}

fn create(tenant: &TenantName, condition: &str, distribution: Distribution) -> String {
    distributed_as(
        &format!("CREATE SCHEMA {condition}{}", tenant.quoted()),
        distribution,
    )
}

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
            role::SAVE_ROLE.to_owned(),
            role::set_local_role(strict.owner_role()),
            drop_schema(tenant),
            role::drop_role(&strict.tenant_role(tenant)),
            role::RESTORE_ROLE.to_owned(),
        ],
    }
}

/// [`drop_tenant`] as PL/pgSQL statements, for inside a `DO` block; in strict mode
/// [`role::SAVE_ROLE`] must have run before the block.
pub(crate) fn drop_tenant_statements(tenant: &TenantName, strict: Option<&Strict>) -> String {
    match strict {
        None => format!("{};", drop_schema(tenant)),
        Some(strict) => format!(
            "{} {}; {} {}",
            role::become_owner_statement(strict.owner_role()),
            drop_schema(tenant),
            role::drop_role_statements(&strict.tenant_role(tenant)),
            role::RESTORE_ROLE_STATEMENT,
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
            role::SAVE_ROLE.to_owned(),
            role::set_local_role(strict.owner_role()),
            rename_schema(from, to),
            role::rename_role(&strict.tenant_role(from), &strict.tenant_role(to)),
            role::RESTORE_ROLE.to_owned(),
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
