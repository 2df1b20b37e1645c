//! Strict mode (issue 19): PostgreSQL's privileges keep tenants apart. The application logs in
//! as the runtime role, on a pool of one connection so that reuse is certain; every way around
//! the scope ends in `permission denied`, never in another tenant's rows, and roles live and die
//! with their schemas.

use sea_orm::DatabaseConnection;
use sea_orm::{ConnectionTrait, TransactionTrait};
use sea_tenant::scope::ScopeError;
use sea_tenant::{Outcome, TenantConnectionExt, TenantMigrator, TenantName, provision, tenants};
use sea_tenant_tests::adversary::PATH_SPELLINGS;
use sea_tenant_tests::fixtures::{BlogMigrations, BlogV2Migrations};
use sea_tenant_tests::strict::{
    DENIED, NOT_FOUND, StrictDb, assert_fails_with, qualified_names_are_denied, titles,
};
use sea_tenant_tests::{
    connect, pgbouncer_url, strings, unique_name, url_with_database, url_with_user,
};

const BINARY: &str = "strict";

fn name(label: &str) -> TenantName {
    TenantName::new(unique_name(label)).unwrap_or_else(|e| panic!("{e}"))
}

/// Two tenants provisioned by the application itself (runtime role, owner role through
/// `SET LOCAL ROLE`), one row each.
async fn two_tenants(w: &StrictDb) -> (TenantName, TenantName) {
    let (a, b) = (name("sa"), name("sb"));
    for (tenant, title) in [(&a, "a"), (&b, "b")] {
        provision::provision_tenant_on::<BlogMigrations, _>(&w.runtime, tenant)
            .await
            .unwrap_or_else(|e| panic!("provision {tenant} as the runtime role: {e}"));
        w.runtime
            .tenant(tenant)
            .execute_unprepared(&format!("INSERT INTO post (title) VALUES ('{title}')"))
            .await
            .unwrap_or_else(|e| panic!("insert into {tenant}: {e}"));
    }
    (a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_way_around_the_scope_is_permission_denied() {
    let w = StrictDb::new(BINARY, "strict_denied", 1).await;
    denied_suite(&w, &w.runtime, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_every_way_around_the_scope_is_permission_denied() {
    let w = StrictDb::new(BINARY, "strict_denied_pgb", 1).await;
    let url = url_with_user(
        &url_with_database(&pgbouncer_url(), &w.test.name),
        w.strict.runtime_role(),
    );
    let bounced = connect(&url, 1).await;
    denied_suite(&w, &bounced, false).await;
}

/// Case 4 of the issue on `db` (a pool of one as the runtime role, direct or through
/// PgBouncer); `named`: whether scopes prepare statements under a name.
async fn denied_suite(w: &StrictDb, db: &DatabaseConnection, named: bool) {
    let (a, b) = two_tenants(w).await;
    let scope = db.tenant(&a).with_named_statements(named);
    let qualified = format!("SELECT title FROM \"{b}\".post");

    // The scope still reads its own tenant, on every path.
    assert_eq!(
        titles(&scope, "SELECT title FROM post")
            .await
            .expect("own rows"),
        ["a"]
    );
    let txn = scope.begin().await.expect("begin");
    assert_eq!(
        titles(&txn, "SELECT title FROM post")
            .await
            .expect("own rows"),
        ["a"]
    );
    txn.commit().await.expect("commit");

    // A forgotten scope: an unscoped query, qualified or through the path.
    assert_fails_with(titles(db, &qualified).await, DENIED, "unscoped qualified");
    db.execute_unprepared(&format!("SET search_path TO \"{b}\""))
        .await
        .expect("an app that sets its own path");
    assert_fails_with(
        titles(db, "SELECT title FROM post").await,
        NOT_FOUND,
        "unscoped via path",
    );
    db.execute_unprepared("RESET search_path")
        .await
        .expect("reset");

    // Inside the scope: another tenant's qualified name, on each path.
    qualified_names_are_denied(&scope, &b).await;

    // A function that moves the path mid-transaction.
    let txn = scope.begin().await.expect("begin");
    txn.execute_unprepared(&format!(
        "SELECT set_config('search_path', '\"{b}\"', true)"
    ))
    .await
    .expect("set_config is not screened in a TenantTransaction");
    assert_fails_with(
        titles(&txn, "SELECT title FROM post").await,
        NOT_FOUND,
        "path moved by set_config",
    );
    txn.rollback().await.expect("rollback");
    w.test
        .db
        .execute_unprepared(
            "CREATE FUNCTION public.peek(path text) RETURNS SETOF text LANGUAGE plpgsql AS $$ \
             BEGIN PERFORM set_config('search_path', path, true); \
             RETURN QUERY EXECUTE 'SELECT title FROM post'; END $$",
        )
        .await
        .expect("create peek()");
    assert_fails_with(
        titles(&scope, &format!("SELECT * FROM public.peek('\"{b}\"')")).await,
        NOT_FOUND,
        "a function that changes the path",
    );

    // Inside a caller's transaction.
    let caller = db.begin().await.expect("caller's begin");
    assert_fails_with(
        titles(&caller.tenant(&a), &qualified).await,
        DENIED,
        "TransactionScope",
    );
    caller.rollback().await.expect("rollback");

    // The screen's refusals hold in strict mode too (cases 1-3).
    for sql in PATH_SPELLINGS {
        let txn = scope.begin().await.expect("begin");
        let err = txn.execute_unprepared(sql).await.expect_err(sql);
        assert!(ScopeError::find(&err).is_some(), "{sql}: {err}");
        txn.rollback().await.expect("rollback");
    }
    // So does SET ROLE, the way out that privileges alone cannot close.
    let txn = scope.begin().await.expect("begin");
    let err = txn
        .execute_unprepared(&format!("SET ROLE \"{}\"", w.role(&b)))
        .await
        .expect_err("SET ROLE to another tenant");
    assert!(ScopeError::find(&err).is_some(), "{err}");
    txn.rollback().await.expect("rollback");

    // Nothing was read or written in b.
    assert_eq!(
        strings(&w.test.db, &format!("SELECT title FROM \"{b}\".post")).await,
        ["b"]
    );
    w.drop_tenant_roles(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_created_renamed_and_dropped_with_their_schemas() {
    let w = StrictDb::new(BINARY, "strict_life", 2).await;
    let (a, b) = two_tenants(&w).await;
    for tenant in [&a, &b] {
        assert!(w.role_exists(&w.role(tenant)).await, "role of {tenant}");
        w.assert_kept_apart(tenant).await;
    }

    let renamed = name("sr");
    provision::rename_tenant_on(&w.runtime, &a, &renamed)
        .await
        .expect("rename as the runtime role");
    assert!(!w.role_exists(&w.role(&a)).await, "old role gone");
    assert!(w.role_exists(&w.role(&renamed)).await, "new role there");
    assert_eq!(
        titles(&w.runtime.tenant(&renamed), "SELECT title FROM post")
            .await
            .expect("renamed tenant reads its rows"),
        ["a"]
    );

    provision::drop_tenant_on(&w.runtime, &b)
        .await
        .expect("drop as the runtime role");
    assert!(
        !w.role_exists(&w.role(&b)).await,
        "dropped tenant's role gone"
    );

    // A failed creation leaves neither schema nor role.
    let broken = name("sx");
    let err = provision::provision_tenant_on::<sea_tenant_tests::fixtures::BrokenMigrations, _>(
        &w.runtime, &broken,
    )
    .await
    .expect_err("a migration fails");
    assert!(err.to_string().contains(broken.as_str()), "{err}");
    assert!(
        !w.role_exists(&w.role(&broken)).await,
        "no role without its schema"
    );
    w.drop_tenant_roles(&[&renamed, &b, &broken]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migrator_creates_roles_grants_new_tables_and_brings_old_tenants_in() {
    let w = StrictDb::new(BINARY, "strict_migrator", 2).await;
    let (fresh, old) = (name("sm"), name("so"));
    // `old` predates strict mode: made by the superuser, no role.
    let plain = TenantMigrator::new(
        w.test.db.clone(),
        BlogV2Migrations,
        tenants::fixed(vec![old.to_string()]),
    )
    .create_missing(true)
    .strict(None);
    assert!(plain.up(None).await.expect("up").is_success());
    assert!(!w.role_exists(&w.role(&old)).await);

    // The deploy (as the superuser login) creates `fresh` with its role, applies the third
    // migration (a new column) in `old` and brings it into strict mode.
    let migrator = TenantMigrator::new(
        w.test.db.clone(),
        BlogMigrations,
        tenants::fixed(vec![fresh.to_string(), old.to_string()]),
    )
    .create_missing(true);
    let report = migrator.up(None).await.expect("up");
    assert!(report.is_success(), "{report}");
    for tenant in [&fresh, &old] {
        assert!(w.role_exists(&w.role(tenant)).await, "role of {tenant}");
        let scope = w.runtime.tenant(tenant);
        scope
            .execute_unprepared("INSERT INTO post (title, published) VALUES ('x', true)")
            .await
            .unwrap_or_else(|e| panic!("write in {tenant} through its role: {e}"));
        assert_eq!(
            titles(&scope, "SELECT title FROM post")
                .await
                .expect("read"),
            ["x"]
        );
        w.assert_kept_apart(tenant).await;
    }
    // A second deploy has nothing to do.
    let again = migrator.up(None).await.expect("up");
    assert!(
        again
            .tenants
            .iter()
            .all(|t| matches!(t.outcome, Outcome::UpToDate)),
        "{again}"
    );
    // The runtime role cannot do DDL on a tenant.
    assert_fails_with(
        w.runtime
            .tenant(&fresh)
            .execute_unprepared("DROP TABLE comment")
            .await,
        DENIED,
        "DDL through a scope",
    );
    // `fresh` recreates schema and grants.
    let report = migrator
        .clone()
        .confirm_all_tenants(true)
        .fresh()
        .await
        .expect("fresh");
    assert!(report.is_success(), "{report}");
    assert_eq!(
        titles(&w.runtime.tenant(&old), "SELECT title FROM post")
            .await
            .expect("read after fresh"),
        Vec::<String>::new()
    );
    w.drop_tenant_roles(&[&fresh, &old]).await;
}
