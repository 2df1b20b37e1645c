//! Strict mode on a Citus cluster (schema-based sharding): tenant roles reach the workers, a
//! scope's statements routed to a tenant's worker run as its role there, and every way around
//! the scope ends in `permission denied`. A binary of its own because strict mode is
//! process-wide and the `citus` suite runs without it; `#[ignore]`d like that suite, run by
//! `scripts/test-citus.sh`.

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use sea_tenant::strict::{self, Strict, StrictError};
use sea_tenant::{Error, TenantConnectionExt, TenantMigrator, TenantName, provision, tenants};
use sea_tenant_tests::citus::{CitusDb, citus_pgbouncer_url, cluster_shared};
use sea_tenant_tests::fixtures::BlogMigrations;
use sea_tenant_tests::strict::{DENIED, assert_fails_with, qualified_names_are_denied, titles};
use sea_tenant_tests::{connect, strings, unique_name, url_with_database, url_with_user};

/// Roles of this binary: `st_citus_strict_app` (listed in PgBouncer's userlist by
/// `scripts/ensure-pgbouncer.sh`), `st_citus_strict_owner`, tenant roles `st_citus_strict_<t>`.
fn config() -> Strict {
    Strict::new("st_citus_strict_app", "st_citus_strict_owner")
        .and_then(|s| s.with_role_prefix("st_citus_strict_"))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn name(label: &str) -> TenantName {
    TenantName::new(unique_name(label)).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether `role` exists and may log in, as the node behind `db` sees it.
async fn login_role(db: &DatabaseConnection, role: &str) -> Option<bool> {
    strings(
        db,
        &format!("SELECT rolcanlogin::text FROM pg_roles WHERE rolname = '{role}'"),
    )
    .await
    .first()
    .map(|can| can == "true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn strict_mode_keeps_tenants_apart_on_every_worker() {
    let _cluster = cluster_shared().await;
    let c = CitusDb::new("citus_strict").await;

    // Without LOGIN roles the set-up refuses: a NOLOGIN tenant role cannot reach a worker.
    let err = strict::setup(&c.db, &config())
        .await
        .expect_err("NOLOGIN roles on Citus");
    assert!(
        matches!(err, Error::Strict(StrictError::CitusNeedsLoginRoles)),
        "{err}"
    );

    let strict = config().with_login_roles();
    strict::enable(strict.clone());
    let runtime = c.strict_runtime(&strict, 1).await;

    // Two tenants made by the application (owner hooks' path), one by a deploy.
    let (a, b, m) = (name("ca"), name("cb"), name("cm"));
    for tenant in [&a, &b] {
        provision::provision_tenant_on::<BlogMigrations, _>(&runtime, tenant)
            .await
            .unwrap_or_else(|e| panic!("provision {tenant} as the runtime role: {e}"));
    }
    let deploy = TenantMigrator::new(
        c.db.clone(),
        BlogMigrations,
        tenants::fixed(vec![m.to_string()]),
    )
    .create_missing(true);
    let report = deploy.up(None).await.expect("up");
    assert!(report.is_success(), "{report}");

    let distributed = strings(
        &c.db,
        "SELECT schemaid::regnamespace::text FROM pg_dist_schema ORDER BY 1",
    )
    .await;
    for tenant in [&a, &b, &m] {
        assert!(
            distributed.contains(&tenant.to_string()),
            "{tenant} is not a distributed schema: {distributed:?}"
        );
        let role = strict.tenant_role(tenant);
        for worker in &c.workers {
            let on_worker = c.pool_on(worker).await;
            assert_eq!(
                login_role(&on_worker, &role).await,
                Some(true),
                "{role} on {worker}"
            );
            on_worker.close().await.ok();
        }
        let found = strict::tenants_not_apart(&c.db, &strict, std::slice::from_ref(tenant))
            .await
            .expect("privileges");
        assert!(found.is_empty(), "{tenant}: {found:?}");
    }

    // Each tenant reads and writes its own rows through its role on its worker.
    for (tenant, title) in [(&a, "a"), (&b, "b"), (&m, "m")] {
        let scope = runtime.tenant(tenant);
        scope
            .execute_unprepared(&format!(
                "INSERT INTO post (title, published) VALUES ('{title}', true)"
            ))
            .await
            .unwrap_or_else(|e| panic!("insert into {tenant}: {e}"));
        assert_eq!(
            titles(&scope, "SELECT title FROM post")
                .await
                .unwrap_or_else(|e| panic!("read {tenant}: {e}")),
            [title]
        );
    }

    denied(&runtime, &a, &b).await;
    let bounced = connect(
        &url_with_user(
            &url_with_database(&citus_pgbouncer_url(), &c.name),
            strict.runtime_role(),
        ),
        1,
    )
    .await;
    denied(&bounced, &a, &b).await;
    bounced.close().await.ok();

    // Renamed and dropped with their schemas, on the workers too.
    let renamed = name("cr");
    provision::rename_tenant_on(&runtime, &a, &renamed)
        .await
        .expect("rename");
    provision::drop_tenant_on(&runtime, &b).await.expect("drop");
    assert_eq!(
        titles(&runtime.tenant(&renamed), "SELECT title FROM post")
            .await
            .expect("renamed tenant reads its rows"),
        ["a"]
    );
    for worker in &c.workers {
        let on_worker = c.pool_on(worker).await;
        assert_eq!(
            login_role(&on_worker, &strict.tenant_role(&a)).await,
            None,
            "old role on {worker}"
        );
        assert_eq!(
            login_role(&on_worker, &strict.tenant_role(&renamed)).await,
            Some(true),
            "new role on {worker}"
        );
        assert_eq!(
            login_role(&on_worker, &strict.tenant_role(&b)).await,
            None,
            "dropped tenant's role on {worker}"
        );
        on_worker.close().await.ok();
    }

    for tenant in [&renamed, &m] {
        provision::drop_tenant_on(&c.db, tenant)
            .await
            .unwrap_or_else(|e| panic!("drop {tenant}: {e}"));
    }
    strict::disable();
    runtime.close().await.ok();
}

/// Every way around the scope on `db` (a pool of one as the runtime role) is denied on Citus.
async fn denied(db: &DatabaseConnection, a: &TenantName, b: &TenantName) {
    let qualified = format!("SELECT title FROM \"{b}\".post");
    assert_fails_with(titles(db, &qualified).await, DENIED, "unscoped qualified");
    let scope = db.tenant(a);
    let txn = scope.begin().await.expect("begin");
    assert_eq!(
        titles(&txn, "SELECT title FROM post")
            .await
            .expect("own rows in a transaction"),
        ["a"]
    );
    txn.rollback().await.expect("rollback");
    qualified_names_are_denied(&scope, b).await;
    let caller = db.begin().await.expect("caller's begin");
    assert_fails_with(
        titles(&caller.tenant(a), &qualified).await,
        DENIED,
        "TransactionScope",
    );
    caller.rollback().await.expect("rollback");
}
