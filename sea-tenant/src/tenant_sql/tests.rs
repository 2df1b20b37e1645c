use super::placement::{IF_CITUS, distributed_as};
use super::*;
use crate::TenantName;

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
    assert!(create_schema(&t, Distribution::Detect).contains(r#"; CREATE SCHEMA "org_7"; "#));
    assert_eq!(
        create_schema_if_missing(&t, Distribution::Detect).replace("IF NOT EXISTS ", ""),
        create_schema(&t, Distribution::Detect)
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
        let prologue = provisioning_prologue(&t, creation, Distribution::Detect, None);
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
    assert!(
        provisioning_prologue(&t, Creation::New, Distribution::Detect, None)
            .contains(&create_schema(&t, Distribution::Detect))
    );
    let ensure = provisioning_prologue(
        &t,
        Creation::Ensure { guard: "GUARD" },
        Distribution::Detect,
        None,
    );
    assert_eq!(ensure[1], "GUARD");
    assert!(ensure.contains(&create_schema_if_missing(&t, Distribution::Detect)));
    assert_eq!(
        provisioning_prologue(
            &t,
            Creation::Ensure { guard: " " },
            Distribution::Detect,
            None
        )
        .len(),
        ensure.len() - 1
    );
    assert_eq!(provisioning_epilogue(&t, None)[1], restore_search_path());
}
