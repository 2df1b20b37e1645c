//! The isolation suite through PgBouncer in transaction pooling mode (started by
//! scripts/ensure-pgbouncer.sh, which exports PGBOUNCER_URL).

use sea_orm::{ConnectOptions, Database};
use sea_tenant_tests::scope_support::isolation_suite;
use sea_tenant_tests::{
    TestDb, default_search_path, pgbouncer_url, pooled_search_paths, url_with_database,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_through_pgbouncer_transaction_mode() {
    let base = pgbouncer_url();
    let test = TestDb::new("scope_pgb").await;
    let mut options = ConnectOptions::new(url_with_database(&base, &test.name));
    options
        .max_connections(4)
        .min_connections(0)
        .sqlx_logging(false);
    let bouncer = Database::connect(options)
        .await
        .expect("connect through PgBouncer");

    // PgBouncer before 1.21 (Debian 12 ships 1.18) mixes up named prepared statements of
    // different clients: the scopes use unnamed ones.
    isolation_suite(&test.db, &bouncer, false).await;

    let default = default_search_path(&test.db).await;
    for path in pooled_search_paths(&bouncer, 4).await {
        assert_eq!(
            path, default,
            "a PgBouncer server connection kept a tenant search_path"
        );
    }
    bouncer.close().await.ok();
}
