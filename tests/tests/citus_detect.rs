//! Without Citus (the ordinary server): detection finds none, tenants are plain schemas and
//! `status` names no node; `Distribution::Require` refuses to create a tenant, creating
//! nothing. One test, because the distribution setting is process-wide.

use sea_tenant::citus::{self, Distribution};
use sea_tenant::{Outcome, TenantMigrator, migrate_tenant, provision};
use sea_tenant_tests::fixtures::BlogMigrations;
use sea_tenant_tests::scope_support::tenant;
use sea_tenant_tests::{TestDb, schema_exists};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_citus_tenants_are_plain_schemas_and_require_refuses() {
    let t = TestDb::new("citus_detect").await;
    assert_eq!(citus::distribution(), Distribution::Detect);
    assert!(!citus::is_citus(&t.db).await.expect("detect"));

    // Detect: every creation path works as before.
    let plain = tenant("plain_1");
    provision::provision_tenant_on::<BlogMigrations, _>(&t.db, &plain)
        .await
        .expect("provision");
    migrate_tenant::<BlogMigrations>(&t.db, &tenant("plain_2"))
        .await
        .expect("migrate_tenant");
    let migrator = TenantMigrator::new(
        t.db.clone(),
        BlogMigrations,
        sea_tenant::tenants::fixed(["plain_1", "plain_2"]),
    );
    let status = migrator.status().await.expect("status");
    assert!(status.is_success(), "{status}");
    assert!(status.tenants.iter().all(|l| l.node.is_none()), "{status}");
    assert!(!status.to_string().contains("[on "), "{status}");
    assert!(
        citus::tenant_node(&t.db, &plain).await.is_err(),
        "no Citus metadata here"
    );

    // Require: a clear error and nothing created, by each path.
    citus::set_distribution(Distribution::Require);
    let refused = tenant("refused_1");
    let err = provision::provision_tenant_on::<BlogMigrations, _>(&t.db, &refused)
        .await
        .expect_err("no Citus");
    let err_migrator = migrate_tenant::<BlogMigrations>(&t.db, &refused)
        .await
        .expect_err("no Citus");
    citus::set_distribution(Distribution::Detect);
    for text in [err.to_string(), err_migrator.to_string()] {
        assert!(text.contains("requires Citus"), "{text}");
        assert!(text.contains("refused_1"), "{text}");
    }
    assert!(!schema_exists(&t.db, "refused_1").await);
    let again = migrator.up(None).await.expect("up");
    assert!(
        again
            .tenants
            .iter()
            .all(|l| matches!(l.outcome, Outcome::UpToDate)),
        "{again}"
    );
}
