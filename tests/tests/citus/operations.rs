//! Renaming and dropping distributed tenants, reference tables, moves and the rebalancer.

use sea_orm::ConnectionTrait;
use sea_tenant::citus;
use sea_tenant::{Error, Outcome, TenantConnectionExt, TenantMigrator, provision};
use sea_tenant_tests::citus::{CitusDb, cluster_shared};
use sea_tenant_tests::fixtures::{BlogMigrations, BlogV2Migrations};
use sea_tenant_tests::scope_support::tenant;
use sea_tenant_tests::strings;

use super::{count, local_tables, names, per_node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn rename_and_drop_a_distributed_tenant() {
    let _cluster = cluster_shared().await;
    let c = CitusDb::new("citus_rename").await;
    let (old, new) = (tenant("ren_old"), tenant("ren_new"));
    provision::provision_tenant_on::<BlogMigrations, _>(&c.db, &old)
        .await
        .expect("provision");
    assert_eq!(local_tables(&c.db, "ren_old").await, Vec::<String>::new());
    c.db.tenant(&old)
        .execute_unprepared("INSERT INTO post (title) VALUES ('kept')")
        .await
        .expect("row");
    let node = citus::tenant_node(&c.db, &old).await.expect("node");
    assert!(node.is_some(), "distributed");

    provision::rename_tenant_on(&c.db, &old, &new)
        .await
        .expect("rename");
    assert_eq!(citus::tenant_node(&c.db, &new).await.expect("node"), node);
    assert_eq!(citus::tenant_node(&c.db, &old).await.expect("node"), None);
    assert_eq!(
        strings(&c.db.tenant(&new), "SELECT title FROM post").await,
        ["kept"]
    );
    // Ensuring the renamed tenant again is a no-op.
    provision::provision_tenant_on::<BlogMigrations, _>(&c.db, &new)
        .await
        .expect("ensure after rename");

    provision::drop_tenant_on(&c.db, &new).await.expect("drop");
    assert_eq!(count(&c.db, "SELECT count(*) FROM pg_dist_schema").await, 0);
    assert_eq!(
        count(&c.db, "SELECT count(*) FROM pg_dist_partition").await,
        0
    );
    let node = node.expect("node");
    let worker = c.pool_on(&node).await;
    assert_eq!(
        count(
            &worker,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ren\\_%'"
        )
        .await,
        0,
        "the worker's schema is gone too"
    );
    worker.close().await.ok();
}

/// A tenant migration with a foreign key to `public.account`.
mod account_fk {
    use sea_orm_migration::prelude::*;

    pub struct CreateInvoice;
    impl MigrationName for CreateInvoice {
        fn name(&self) -> &str {
            "m0001_create_invoice"
        }
    }
    #[async_trait::async_trait]
    impl MigrationTrait for CreateInvoice {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            manager
                .get_connection()
                .execute_unprepared(
                    "CREATE TABLE invoice (id serial PRIMARY KEY, \
                     account_id int NOT NULL REFERENCES public.account (id))",
                )
                .await
                .map(|_| ())
        }
    }

    pub struct Invoices;
    impl MigratorTrait for Invoices {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![Box::new(CreateInvoice)]
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn a_foreign_key_to_a_plain_shared_table_is_a_typed_error_naming_the_fix() {
    let _cluster = cluster_shared().await;
    let c = CitusDb::new("citus_ref").await;
    c.db.execute_unprepared("CREATE TABLE public.account (id serial PRIMARY KEY)")
        .await
        .expect("account");
    let (a, b) = (tenant("inv_a"), tenant("inv_b"));

    // The migrator: the tenant fails with the typed error; nothing of the migration stays.
    let migrator = TenantMigrator::new(
        c.db.clone(),
        account_fk::Invoices,
        sea_tenant::tenants::fixed(["inv_a"]),
    )
    .create_missing(true);
    let report = migrator.up(None).await.expect("up");
    let Outcome::Failed { error, .. } = &report.tenants[0].outcome else {
        panic!("{report}")
    };
    let Error::NotReferenceTable {
        tenant,
        table,
        migration,
        ..
    } = error
    else {
        panic!("{error:?}")
    };
    assert_eq!((tenant.as_str(), table.as_str()), ("inv_a", "account"));
    assert_eq!(migration.as_deref(), Some("m0001_create_invoice"));
    let text = error.to_string();
    assert!(
        text.contains("SELECT create_reference_table('public.\"account\"')"),
        "{text}"
    );

    // Provisioning (the owner hooks' and ensure path): the same error, nothing created.
    let err = provision::provision_tenant_on::<account_fk::Invoices, _>(&c.db, &b)
        .await
        .expect_err("not a reference table");
    assert!(
        matches!(&err, Error::NotReferenceTable { table, .. } if table == "account"),
        "{err:?}"
    );
    assert!(!provision::schema_exists(&c.db, &b).await.expect("exists"));

    // The fix it names works: both paths then create the tenant.
    c.db.execute_unprepared("SELECT create_reference_table('public.\"account\"')")
        .await
        .expect("create_reference_table");
    let report = migrator.up(None).await.expect("up after the fix");
    assert!(report.is_success(), "{report}");
    provision::provision_tenant_on::<account_fk::Invoices, _>(&c.db, &b)
        .await
        .expect("provision after the fix");
    for t in [&a, &b] {
        assert_eq!(local_tables(&c.db, t.as_str()).await, Vec::<String>::new());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn move_tenant_and_rebalance() {
    let _cluster = cluster_shared().await;
    let c = CitusDb::new("citus_move").await;
    let tenants = names("mv", 6);
    let migrator = TenantMigrator::new(
        c.db.clone(),
        BlogV2Migrations,
        sea_tenant::tenants::fixed(tenants.clone()),
    )
    .create_missing(true);
    assert!(migrator.up(None).await.expect("up").is_success());
    let workers = citus::workers(&c.db).await.expect("workers");
    let first = &workers[0];
    // Everyone onto the first worker...
    for t in &tenants {
        citus::move_tenant(&c.db, &tenant(t), first, citus::TransferMode::BlockWrites)
            .await
            .unwrap_or_else(|e| panic!("move {t}: {e}"));
    }
    assert_eq!(per_node(&c.db).await.keys().collect::<Vec<_>>(), [first]);
    // ... a move to where the tenant is does nothing ...
    citus::move_tenant(&c.db, &tenant("mv_1"), first, citus::TransferMode::Auto)
        .await
        .expect("no-op move");
    // ... then the rebalancer spreads them again.
    let job = citus::rebalance(&c.db).await.expect("rebalance");
    assert!(job.is_some(), "something had to move");
    let spread = per_node(&c.db).await;
    assert_eq!(spread.len(), 2, "{spread:?}");
    assert!(spread.values().all(|t| t.len() == 3), "{spread:?}");
    assert_eq!(citus::rebalance(&c.db).await.expect("again"), None);
    // A tenant that does not exist is a typed error.
    let err = citus::move_tenant(&c.db, &tenant("mv_none"), first, citus::TransferMode::Auto)
        .await
        .expect_err("missing");
    assert!(matches!(err, Error::MissingSchema { .. }), "{err:?}");
}
