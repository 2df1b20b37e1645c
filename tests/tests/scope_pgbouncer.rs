//! The isolation suite through PgBouncer in transaction pooling mode (started by
//! scripts/ensure-pgbouncer.sh, which exports PGBOUNCER_URL).

use sea_tenant_tests::scope_support::isolation_suite;
use sea_tenant_tests::{TestDb, default_search_path, pooled_search_paths};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_through_pgbouncer_transaction_mode() {
    let test = TestDb::new("scope_pgb").await;
    let bouncer = test.pool_through_pgbouncer(4).await;

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
