//! The SQL text of strict mode: tenant roles and their grants. Names in, statements out; every
//! name is quoted here.

use crate::TenantName;
use crate::name::{quote_ident, quote_literal};

/// The privileges a tenant role holds on its schema's tables: the rows, never the shape.
const TABLE_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE";
/// … and on its sequences (`serial` and identity columns need `USAGE` to insert).
const SEQUENCE_PRIVILEGES: &str = "USAGE, SELECT, UPDATE";

/// `SET LOCAL ROLE <role>`: for the rest of the transaction only.
pub(crate) fn set_local_role(role: &str) -> String {
    format!("SET LOCAL ROLE {}", quote_ident(role))
}

/// Stashes the caller's role in the transaction-local `sea_tenant.saved_role` (as
/// `tenant_sql::SAVE_SEARCH_PATH` does for the path), so that a script can become the owner
/// role and put the caller's back at its end without a round trip.
pub(crate) const SAVE_ROLE: &str = "SELECT pg_catalog.set_config('sea_tenant.saved_role', \
     pg_catalog.current_setting('role'), true)";

/// Puts back the role [`SAVE_ROLE`] stashed (`none` is the session user).
pub(crate) const RESTORE_ROLE: &str = "SELECT pg_catalog.set_config('role', \
     pg_catalog.current_setting('sea_tenant.saved_role'), true)";

/// The tenant role exists (created `login` (`LOGIN` or `NOLOGIN`) if missing, altered to
/// `LOGIN` when it must log in; a concurrent creator from another
/// database of the cluster is not an error), the runtime role may become it, it is a member of
/// `shared` (what scopes may do on shared tables), and it
/// holds exactly the row privileges on the schema `tenant`: its tables and sequences now, and
/// those `owner` creates later (default privileges). Idempotent; run as `owner` (or a
/// superuser) after the schema exists.
pub(crate) fn grant_tenant_role(
    tenant: &TenantName,
    role: &str,
    owner: &str,
    runtime: &str,
    shared: &str,
    login: &str,
) -> Vec<String> {
    let schema = tenant.quoted();
    let quoted = quote_ident(role);
    // A role from before `with_login_roles` (NOLOGIN) is given LOGIN; never the reverse, which
    // would lock out a worker connection of another database of the cluster.
    let existing = if login == "LOGIN" {
        format!(
            "ELSIF NOT (SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = {literal}) \
             THEN ALTER ROLE {quoted} LOGIN; ",
            literal = quote_literal(role),
        )
    } else {
        String::new()
    };
    vec![
        format!(
            "DO $sea_tenant_role$ BEGIN \
             IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {literal}) THEN \
             BEGIN CREATE ROLE {quoted} {login}; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END; \
             {existing}END IF; END $sea_tenant_role$",
            literal = quote_literal(role),
        ),
        format!("GRANT {quoted} TO {}", quote_ident(runtime)),
        format!("GRANT {} TO {quoted}", quote_ident(shared)),
        format!("GRANT USAGE ON SCHEMA {schema} TO {quoted}"),
        // Relation by relation rather than `GRANT … ON ALL TABLES IN SCHEMA`, which scans all of
        // pg_class (335 ms at 400,000 relations): see `RELATIONS_IN`.
        format!(
            "DO $sea_tenant_grant$ DECLARE r record; BEGIN \
             FOR r IN {relations} LOOP \
             IF r.relkind = 'S' THEN \
             EXECUTE pg_catalog.format('GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCE %I.%I TO %I', r.nspname, r.relname, {role}); \
             ELSE EXECUTE pg_catalog.format('GRANT {TABLE_PRIVILEGES} ON TABLE %I.%I TO %I', r.nspname, r.relname, {role}); \
             END IF; END LOOP; END $sea_tenant_grant$",
            relations = relations_in(tenant),
            role = quote_literal(role),
        ),
        format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} \
             GRANT {TABLE_PRIVILEGES} ON TABLES TO {quoted}",
            owner = quote_ident(owner)
        ),
        format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} \
             GRANT {SEQUENCE_PRIVILEGES} ON SEQUENCES TO {quoted}",
            owner = quote_ident(owner)
        ),
    ]
}

/// The relations (tables, views, sequences, …) of the schema `tenant`, as `(nspname, relname,
/// relkind, owned)` rows, `owned` when a column owns the sequence. Found through the index of
/// `pg_depend` on the schema (every relation depends on its schema), not by a scan of
/// `pg_class`, which has no index on the schema and holds every tenant's relations.
fn relations_in(tenant: &TenantName) -> String {
    format!(
        "SELECT n.nspname, c.relname, c.relkind, EXISTS (SELECT 1 FROM pg_catalog.pg_depend o \
           WHERE o.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND o.objid = c.oid \
           AND o.deptype IN ('a', 'i') AND o.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass) AS owned \
         FROM pg_catalog.pg_namespace n \
         JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass \
           AND d.refobjid = n.oid AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
         JOIN pg_catalog.pg_class c ON c.oid = d.objid AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') \
         WHERE n.nspname = {}",
        tenant.literal()
    )
}

/// Hands the schema `tenant` and its relations (tables, views, sequences that no column owns;
/// owned ones follow their table) to `owner`: a tenant from before strict mode, whose objects
/// the migrating login made. Run as that login (a superuser, or the objects' owner and a member
/// of `owner`), before becoming `owner`.
pub(crate) fn adopt_schema(tenant: &TenantName, owner: &str) -> String {
    format!(
        "DO $sea_tenant_adopt$ DECLARE r record; BEGIN \
         EXECUTE pg_catalog.format('ALTER SCHEMA %I OWNER TO %I', {schema}, {owner}); \
         FOR r IN {relations} LOOP CONTINUE WHEN r.owned; \
         EXECUTE pg_catalog.format('ALTER TABLE %I.%I OWNER TO %I', r.nspname, r.relname, {owner}); \
         END LOOP; END $sea_tenant_adopt$",
        schema = tenant.literal(),
        owner = quote_literal(owner),
        relations = relations_in(tenant),
    )
}

/// On Citus, as a superuser: a throw-away distributed schema with a table owned by `owner`,
/// dropped at once, so that Citus records `owner` as a distributed object of this database,
/// sent to every worker through Citus's superuser connection. Citus sends a role it has not
/// recorded along with the first table that depends on it, and as the *current* role when
/// something else it sends was made in the same transaction (a tenant's schema, made as the
/// owner role); re-sending an existing role that way fails: "must be superuser to alter
/// superuser roles".
pub(crate) fn distribute_owner(owner: &str) -> Vec<String> {
    const PROBE: &str = "sea_tenant_setup_probe";
    let owner = quote_ident(owner);
    // Statement by statement, each its own transaction: inside one, Citus does not record the
    // role.
    vec![
        format!("DROP SCHEMA IF EXISTS {PROBE} CASCADE"),
        format!("CREATE SCHEMA {PROBE} AUTHORIZATION {owner}"),
        format!(
            "SELECT citus_schema_distribute('{PROBE}') WHERE NOT EXISTS \
             (SELECT 1 FROM pg_dist_schema WHERE schemaid = '{PROBE}'::regnamespace)"
        ),
        format!("CREATE TABLE {PROBE}.probe ()"),
        format!("ALTER TABLE {PROBE}.probe OWNER TO {owner}"),
        format!("DROP SCHEMA {PROBE} CASCADE"),
    ]
}

/// Renames the tenant role with its schema (a no-op where the old role does not exist: a
/// tenant from before strict mode).
pub(crate) fn rename_role(from: &str, to: &str) -> String {
    format!(
        "DO $sea_tenant_role$ BEGIN \
         IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {from_literal}) THEN \
         ALTER ROLE {from} RENAME TO {to}; END IF; END $sea_tenant_role$",
        from_literal = quote_literal(from),
        from = quote_ident(from),
        to = quote_ident(to),
    )
}

/// Drops the tenant role after its schema was dropped, as PL/pgSQL statements (for a `DO`
/// block, see [`drop_role`]). A role that still holds privileges in another database of the
/// cluster (the same prefix used twice) is kept: its privileges here went with the schema.
pub(crate) fn drop_role_statements(role: &str) -> String {
    format!(
        "IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {literal}) THEN \
         BEGIN DROP ROLE {quoted}; \
         EXCEPTION WHEN dependent_objects_still_exist THEN \
         RAISE NOTICE 'sea-tenant: role % kept: it holds privileges in another database', {literal}; \
         END; END IF;",
        literal = quote_literal(role),
        quoted = quote_ident(role),
    )
}

/// [`drop_role_statements`] as a statement of its own.
pub(crate) fn drop_role(role: &str) -> String {
    format!(
        "DO $sea_tenant_role$ BEGIN {} END $sea_tenant_role$",
        drop_role_statements(role)
    )
}

/// PL/pgSQL: become `owner` for the rest of the transaction (after [`SAVE_ROLE`]).
pub(crate) fn become_owner_statement(owner: &str) -> String {
    format!(
        "PERFORM pg_catalog.set_config('role', {}, true);",
        quote_literal(owner)
    )
}

/// PL/pgSQL: [`RESTORE_ROLE`].
pub(crate) const RESTORE_ROLE_STATEMENT: &str = "PERFORM pg_catalog.set_config('role', \
     pg_catalog.current_setting('sea_tenant.saved_role'), true);";

/// For each `(tenant, role)`: what keeps it from being apart, one row each as `(tenant,
/// problem)`: a role other than the schema's owner and the tenant's own that holds a privilege
/// on its schema or a relation in it (`PUBLIC` included), a missing role, a role without
/// `USAGE` on its schema. No rows when every tenant is kept apart. One scan of the catalog for
/// the whole list.
pub(crate) fn tenants_not_apart(tenants: &[(&TenantName, String)]) -> String {
    let values = tenants
        .iter()
        .map(|(tenant, role)| format!("({}, {})", tenant.literal(), quote_literal(role)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "WITH t(name, role) AS (VALUES {values}), \
         ns AS (SELECT t.name, t.role, n.oid, n.nspowner, n.nspacl FROM t \
                JOIN pg_catalog.pg_namespace n ON n.nspname = t.name), \
         acl AS ( \
           SELECT ns.name, ns.role, ns.nspowner, a.grantee, 'schema' AS object \
             FROM ns CROSS JOIN LATERAL pg_catalog.aclexplode(ns.nspacl) a \
           UNION ALL \
           SELECT ns.name, ns.role, ns.nspowner, a.grantee, c.relname::text FROM ns \
             JOIN pg_catalog.pg_class c ON c.relnamespace = ns.oid \
               AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') \
             CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a) \
         SELECT name::text AS tenant, \
                CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(grantee)::text END \
                || ' may use ' || object AS problem FROM acl \
           WHERE grantee <> nspowner AND (grantee = 0 OR pg_catalog.pg_get_userbyid(grantee) <> role) \
         UNION ALL \
         SELECT ns.name::text, 'its role ' || ns.role || ' does not exist' FROM ns \
           WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = ns.role) \
         UNION ALL \
         SELECT ns.name::text, 'its role ' || ns.role || ' may not use its schema' FROM ns \
           JOIN pg_catalog.pg_roles r ON r.rolname = ns.role \
           WHERE NOT pg_catalog.has_schema_privilege(r.oid, ns.oid, 'USAGE') \
         ORDER BY 1, 2"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_quote_every_name_and_cover_later_tables() {
        let tenant = TenantName::new("org_7").expect("valid");
        let sql =
            grant_tenant_role(&tenant, "t_org_7", "own\"er", "app", "grp", "NOLOGIN").join(";\n");
        assert!(sql.contains(r#"CREATE ROLE "t_org_7" NOLOGIN;"#), "{sql}");
        assert!(sql.contains(r#"GRANT "grp" TO "t_org_7""#), "{sql}");
        assert!(sql.contains(r#"GRANT "t_org_7" TO "app""#), "{sql}");
        assert!(
            sql.contains(r#"GRANT USAGE ON SCHEMA "org_7" TO "t_org_7""#),
            "{sql}"
        );
        assert!(
            sql.contains(r#"ALTER DEFAULT PRIVILEGES FOR ROLE "own""er" IN SCHEMA "org_7""#),
            "{sql}"
        );
        assert!(
            !sql.contains("TRUNCATE") && !sql.contains("CREATE ON"),
            "{sql}"
        );
        assert!(!sql.contains("ALTER ROLE"), "{sql}");
        let login = grant_tenant_role(&tenant, "t_org_7", "o", "app", "grp", "LOGIN").join(";");
        assert!(login.contains(r#"CREATE ROLE "t_org_7" LOGIN;"#), "{login}");
        assert!(
            login.contains(r#"THEN ALTER ROLE "t_org_7" LOGIN;"#),
            "{login}"
        );
        assert_eq!(set_local_role("t_x"), r#"SET LOCAL ROLE "t_x""#);
        assert!(rename_role("a", "b").contains(r#"ALTER ROLE "a" RENAME TO "b""#));
        assert!(drop_role("a'b").contains("rolname = 'a''b'"));
    }
}
