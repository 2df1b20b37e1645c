//! Tenants created on Citus are distributed schemas, and scopes stay inside them.

use std::collections::BTreeMap;
use std::time::Instant;

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, TransactionTrait};
use sea_tenant::citus::{self, Node};
use sea_tenant::{Outcome, TenantConnectionExt, TenantMigrator};
use sea_tenant_tests::citus::{CitusDb, cluster_shared};
use sea_tenant_tests::fixtures::{BlogMigrations, BlogV2Migrations};
use sea_tenant_tests::owner_entities::OWNER_TABLES_SQL;
use sea_tenant_tests::owner_entities::classic::org_id;
use sea_tenant_tests::scope_support::{isolation_suite, tenant};
use sea_tenant_tests::{pooled_search_paths, strings, versions};

use super::{VERSION_TABLE, count, local_tables, names, per_node};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn fifty_owner_inserts_make_distributed_schemas_on_both_workers() {
    let _cluster = cluster_shared().await;
    let c = CitusDb::new("citus_owner").await;
    c.db.execute_unprepared(OWNER_TABLES_SQL)
        .await
        .expect("owner tables");
    let started = Instant::now();
    // 49 rows on the pool (the hook's script is its own transaction), one inside a caller's
    // transaction (the script joins it).
    for id in 1..=49 {
        org_id::ActiveModel {
            id: Set(id),
            name: Set(format!("org {id}")),
        }
        .insert(&c.db)
        .await
        .unwrap_or_else(|e| panic!("insert {id}: {e}"));
    }
    let txn = c.db.begin().await.expect("begin");
    org_id::ActiveModel {
        id: Set(50),
        name: Set("in a transaction".into()),
    }
    .insert(&txn)
    .await
    .expect("insert in a transaction");
    txn.commit().await.expect("commit");
    println!("50 owner inserts on Citus: {:?}", started.elapsed());

    let distributed = strings(
        &c.db,
        "SELECT schemaid::regnamespace::text FROM pg_dist_schema ORDER BY 1",
    )
    .await;
    assert_eq!(distributed.len(), 50, "{distributed:?}");
    for i in 1..=50 {
        let schema = format!("org_{i}");
        assert!(distributed.contains(&schema), "{schema} is not distributed");
        // Every table, including those the migrations created, is on the tenant's worker.
        assert_eq!(local_tables(&c.db, &schema).await, Vec::<String>::new());
        assert_eq!(
            versions(&c.db, &schema, VERSION_TABLE).await,
            [
                "m0001_create_post",
                "m0002_create_comment",
                "m0003_add_published"
            ]
        );
    }
    // 3 tables per tenant, all single-shard tables of their schema's colocation group.
    assert_eq!(
        count(
            &c.db,
            "SELECT count(*) FROM pg_dist_partition p JOIN pg_dist_schema s USING (colocationid)"
        )
        .await,
        150
    );
    let spread = per_node(&c.db).await;
    assert_eq!(
        spread.keys().cloned().collect::<Vec<_>>(),
        citus::workers(&c.db).await.expect("workers"),
        "tenants on every worker: {spread:?}"
    );
    assert_eq!(spread.values().map(Vec::len).sum::<usize>(), 50);
    for (node, tenants) in &spread {
        println!("{node}: {} tenants", tenants.len());
        assert!(tenants.len() >= 10, "{node} holds only {tenants:?}");
    }
    // The worker holds the shards; its own catalog has the tenant's tables.
    let (node, tenants) = spread.iter().next().expect("a worker");
    let worker = c.pool_on(node).await;
    let shards = strings(
        &worker,
        &format!(
            "SELECT relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = relnamespace \
             WHERE nspname = '{}' AND relkind = 'r' AND relname LIKE 'post\\_%' ",
            tenants[0]
        ),
    )
    .await;
    assert_eq!(shards.len(), 1, "{shards:?}");
    worker.close().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn migrator_up_down_status_over_fifty_tenants() {
    let _cluster = cluster_shared().await;
    let c = CitusDb::new("citus_migr").await;
    let tenants = names("m", 50);
    let v2 = TenantMigrator::new(
        c.db.clone(),
        BlogV2Migrations,
        sea_tenant::tenants::fixed(tenants.clone()),
    )
    .create_missing(true);
    let started = Instant::now();
    let report = v2.up(None).await.expect("up");
    println!(
        "create 50 tenants (2 migrations) on Citus: {:?}",
        started.elapsed()
    );
    assert!(report.is_success(), "{report}");
    assert_eq!(report.applied_count(), 100);
    assert_eq!(
        count(&c.db, "SELECT count(*) FROM pg_dist_schema").await,
        50,
        "every created schema is distributed"
    );
    for t in &tenants {
        assert_eq!(local_tables(&c.db, t).await, Vec::<String>::new());
    }
    assert_eq!(per_node(&c.db).await.len(), 2, "both workers hold tenants");

    // An incremental migration over all 50.
    let v3 = TenantMigrator::new(
        c.db.clone(),
        BlogMigrations,
        sea_tenant::tenants::fixed(tenants.clone()),
    );
    let started = Instant::now();
    let report = v3.up(None).await.expect("up v3");
    println!(
        "incremental migration over 50 tenants: {:?}",
        started.elapsed()
    );
    assert!(report.is_success(), "{report}");
    assert_eq!(report.applied_count(), 50);
    // The column is on the worker's shard: an insert through the coordinator uses it.
    c.db.execute_unprepared("INSERT INTO m_7.post (title, published) VALUES ('x', true)")
        .await
        .expect("new column");

    // A no-op deploy and status read state on the coordinator.
    let started = Instant::now();
    let report = v3.up(None).await.expect("no-op up");
    let noop = started.elapsed();
    assert!(
        report
            .tenants
            .iter()
            .all(|t| matches!(t.outcome, Outcome::UpToDate)),
        "{report}"
    );
    let started = Instant::now();
    let status = v3.status().await.expect("status");
    let status_time = started.elapsed();
    println!("no-op up over 50 tenants: {noop:?}; status: {status_time:?}");
    // status shows each tenant's node, as the placement metadata says.
    let placed: BTreeMap<String, Node> = citus::tenant_nodes(&c.db)
        .await
        .expect("nodes")
        .into_iter()
        .collect();
    for t in &status.tenants {
        let Outcome::Status(states) = &t.outcome else {
            panic!("{}: {}", t.tenant, t.outcome)
        };
        assert!(
            states.iter().all(|s| s.applied),
            "{}: {}",
            t.tenant,
            t.outcome
        );
        assert_eq!(t.node.as_ref(), Some(&placed[&t.tenant]), "{}", t.tenant);
    }
    let shown = status.to_string();
    assert!(
        shown.contains(&format!("[on {}]", placed["m_1"])),
        "{shown}"
    );

    // down one step everywhere, then up again.
    let report = v3.down(Some(1)).await.expect("down");
    assert!(report.is_success(), "{report}");
    assert_eq!(
        report
            .tenants
            .iter()
            .map(|t| t.outcome.rolled_back().len())
            .sum::<usize>(),
        50
    );
    let status = v3.status().await.expect("status after down");
    assert!(
        status.to_string().contains("2 applied, 1 pending"),
        "{status}"
    );
    let report = v3.up(None).await.expect("up again");
    assert_eq!(report.applied_count(), 50, "{report}");
    assert_eq!(
        count(&c.db, "SELECT count(*) FROM pg_dist_schema").await,
        50
    );

    // fresh drops and recreates a schema: distributed again, every table on a worker.
    let report = v3
        .clone()
        .only(["m_1", "m_2"])
        .fresh()
        .await
        .expect("fresh");
    assert!(report.is_success(), "{report}");
    assert_eq!(
        count(&c.db, "SELECT count(*) FROM pg_dist_schema").await,
        50
    );
    for t in ["m_1", "m_2"] {
        assert_eq!(local_tables(&c.db, t).await, Vec::<String>::new());
        assert_eq!(versions(&c.db, t, VERSION_TABLE).await.len(), 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn scopes_stay_in_their_tenant_also_through_pgbouncer() {
    let _cluster = cluster_shared().await;
    for through_pgbouncer in [false, true] {
        let c = CitusDb::new("citus_iso").await;
        // The suite creates its schemas with plain SQL: let those be distributed too.
        c.db.execute_unprepared(&format!(
            "ALTER DATABASE \"{}\" SET citus.enable_schema_based_sharding TO on",
            c.name
        ))
        .await
        .expect("alter database");
        let admin = c.pool(2).await;
        let pool = if through_pgbouncer {
            c.pool_through_pgbouncer(4).await
        } else {
            c.pool(4).await
        };
        isolation_suite(&admin, &pool, !through_pgbouncer).await;
        assert_eq!(
            strings(
                &c.db,
                "SELECT schemaid::regnamespace::text FROM pg_dist_schema ORDER BY 1"
            )
            .await,
            ["tenant_a", "tenant_b"]
        );
        let default = strings(&admin, "SELECT current_setting('search_path')").await;
        for path in pooled_search_paths(&pool, 4).await {
            assert_eq!(
                path, default[0],
                "a pooled connection kept a tenant search_path"
            );
        }
        pool.close().await.ok();
        admin.close().await.ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn a_scoped_query_is_one_task_on_the_tenants_worker() {
    let _cluster = cluster_shared().await;
    let c = CitusDb::new("citus_explain").await;
    let tenants = names("ex", 4);
    let migrator = TenantMigrator::new(
        c.db.clone(),
        BlogMigrations,
        sea_tenant::tenants::fixed(tenants.clone()),
    )
    .create_missing(true);
    assert!(migrator.up(None).await.expect("up").is_success());
    for name in &tenants {
        let t = tenant(name);
        let node = citus::tenant_node(&c.db, &t)
            .await
            .expect("node")
            .expect("distributed");
        let plan = strings(
            &c.db.tenant(&t),
            "EXPLAIN SELECT p.title, count(c.id) FROM post p LEFT JOIN comment c ON c.post_id = p.id \
             WHERE p.id = 1 GROUP BY p.title",
        )
        .await
        .join("\n");
        assert!(plan.contains("Task Count: 1"), "{plan}");
        assert!(
            plan.contains(&format!("host={} port={}", node.host, node.port)),
            "{name} is on {node}: {plan}"
        );
    }
}
