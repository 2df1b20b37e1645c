//! sea-tenant on a real Citus cluster (schema-based sharding): a coordinator and two workers
//! started by `scripts/ensure-citus.sh`. Every test is `#[ignore]`d so that `cargo test` needs
//! no Citus; `scripts/test-citus.sh` runs them with `--ignored`. Each test makes a database of
//! its own on every node (`CitusDb`); the one that stops a worker runs alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, TransactionTrait};
use sea_tenant::citus::{self, Node};
use sea_tenant::{Error, Outcome, TenantConnectionExt, TenantMigrator, provision};
use sea_tenant_tests::citus::{CitusDb, StoppedNode, cluster_exclusive, cluster_shared};
use sea_tenant_tests::fixtures::{BlogMigrations, BlogV2Migrations};
use sea_tenant_tests::owner_entities::OWNER_TABLES_SQL;
use sea_tenant_tests::owner_entities::classic::org_id;
use sea_tenant_tests::scope_support::{isolation_suite, post, tenant};
use sea_tenant_tests::{pooled_search_paths, strings, versions};

const VERSION_TABLE: &str = "seaql_tenant_migrations";

async fn count(db: &impl ConnectionTrait, sql: &str) -> i64 {
    strings(db, &format!("SELECT ({sql})::text")).await[0]
        .parse()
        .expect("a count")
}

/// Tables in `schema` that are not Citus tables: left on the coordinator, outside the
/// tenant's worker. Must always be empty for a tenant schema.
async fn local_tables(db: &impl ConnectionTrait, schema: &str) -> Vec<String> {
    strings(
        db,
        &format!(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p') \
             AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid) \
             ORDER BY 1"
        ),
    )
    .await
}

/// Tenants per worker, from `citus::tenant_nodes`.
async fn per_node(db: &impl ConnectionTrait) -> BTreeMap<Node, Vec<String>> {
    let mut map: BTreeMap<Node, Vec<String>> = BTreeMap::new();
    for (tenant, node) in citus::tenant_nodes(db).await.expect("tenant nodes") {
        map.entry(node).or_default().push(tenant);
    }
    map
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}_{i}")).collect()
}

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

/// What a scoped writer saw while its tenant moved.
#[derive(Default, Debug)]
struct Writes {
    /// Titles whose insert committed (the client got an answer).
    committed: Vec<String>,
    /// Errors, each followed by a retry of the same insert.
    errors: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn a_tenant_moves_while_a_scoped_reader_and_writer_run() {
    let _cluster = cluster_shared().await;
    let c = CitusDb::new("citus_live_move").await;
    let (a, b) = (tenant("live_a"), tenant("live_b"));
    for t in [&a, &b] {
        provision::provision_tenant_on::<BlogMigrations, _>(&c.db, t)
            .await
            .expect("provision");
    }
    c.db.tenant(&b)
        .execute_unprepared("INSERT INTO post (title) VALUES ('b-only')")
        .await
        .expect("b row");
    let from = citus::tenant_node(&c.db, &a)
        .await
        .expect("node")
        .expect("placed");
    let to = citus::workers(&c.db)
        .await
        .expect("workers")
        .into_iter()
        .find(|w| *w != from)
        .expect("another worker");
    let app = c.pool(6).await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    // The writer: one insert per transaction, each retried until it commits.
    let writer = {
        let (app, a, done) = (app.clone(), a.clone(), done.clone());
        tokio::spawn(async move {
            let mut writes = Writes::default();
            let mut i = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || i < 20 {
                let title = format!("a-{i}");
                loop {
                    let result = post::ActiveModel {
                        title: Set(title.clone()),
                        ..Default::default()
                    }
                    .insert(&app.tenant(&a))
                    .await;
                    match result {
                        Ok(_) => break,
                        Err(e) => {
                            writes.errors.push(e.to_string());
                            assert!(writes.errors.len() < 200, "{:?}", writes.errors);
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    }
                }
                writes.committed.push(title);
                i += 1;
            }
            writes
        })
    };
    // The reader: both tenants, through scopes, never a row of the other one.
    let reader = {
        let (app, a, b, done) = (app.clone(), a.clone(), b.clone(), done.clone());
        tokio::spawn(async move {
            let (mut reads, mut errors) = (0, Vec::new());
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for (t, prefix) in [(&a, "a-"), (&b, "b-")] {
                    match try_titles(&app.tenant(t)).await {
                        Ok(titles) => {
                            reads += 1;
                            assert!(
                                titles.iter().all(|x| x.starts_with(prefix)),
                                "{t} read another tenant's rows: {titles:?}"
                            );
                        }
                        Err(e) => errors.push(e),
                    }
                }
            }
            (reads, errors)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = Instant::now();
    citus::move_tenant(&c.db, &a, &to, citus::TransferMode::Auto)
        .await
        .expect("move");
    let moved_in = started.elapsed();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.await.expect("writer");
    let (reads, read_errors) = reader.await.expect("reader");
    println!(
        "moved live_a {from} -> {to} in {moved_in:?}: {} inserts committed, {} insert errors \
         (retried), {reads} reads, {} read errors",
        writes.committed.len(),
        writes.errors.len(),
        read_errors.len()
    );
    for e in writes.errors.iter().chain(&read_errors) {
        println!("  error during the move: {e}");
    }
    assert_eq!(citus::tenant_node(&c.db, &a).await.expect("node"), Some(to));
    // No row lost, none doubled: exactly the committed inserts are there.
    let mut stored = strings(&c.db.tenant(&a), "SELECT title FROM post").await;
    stored.sort();
    let mut expected = writes.committed.clone();
    expected.sort();
    assert_eq!(stored, expected);
    assert_eq!(
        strings(&c.db.tenant(&b), "SELECT title FROM post").await,
        ["b-only"]
    );
    app.close().await.ok();
}

/// Titles of the scope's posts, or the error as text.
async fn try_titles(db: &impl ConnectionTrait) -> Result<Vec<String>, String> {
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT title FROM post",
        ))
        .await
        .map_err(|e| e.to_string())?;
    rows.iter()
        .map(|r| r.try_get_by_index::<String>(0).map_err(|e| e.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: scripts/test-citus.sh"]
async fn a_stopped_worker_fails_its_tenants_and_a_rerun_completes() {
    // Stops a worker: no other test may run meanwhile.
    let _cluster = cluster_exclusive().await;
    let c = CitusDb::new("citus_down").await;
    let tenants = names("dn", 10);
    let source = || sea_tenant::tenants::fixed(tenants.clone());
    let v2 = TenantMigrator::new(c.db.clone(), BlogV2Migrations, source()).create_missing(true);
    assert!(v2.up(None).await.expect("up").is_success());
    let spread = per_node(&c.db).await;
    assert_eq!(spread.len(), 2, "{spread:?}");
    let (down_node, down_tenants) = spread.iter().next().expect("a worker");
    let (_, up_tenants) = spread.iter().nth(1).expect("another worker");
    let down_set: BTreeSet<String> = down_tenants.iter().cloned().collect();

    let stopped = StoppedNode::stop(&c.worker_label(down_node));
    // Tenants on the other worker keep serving through their scopes.
    for t in up_tenants {
        c.db.tenant(&tenant(t))
            .execute_unprepared("INSERT INTO post (title) VALUES ('still here')")
            .await
            .unwrap_or_else(|e| panic!("{t} on the running worker: {e}"));
    }
    // The node of every tenant is still known (coordinator metadata only).
    assert_eq!(per_node(&c.db).await, spread);

    // status and a no-op deploy: the state is read on the coordinator; only the stopped
    // worker's tenants (whose version tables are on it) fail `status`.
    let started = Instant::now();
    let status = v2.status().await.expect("status with a worker down");
    println!(
        "status with {down_node} down: {:?}\n{status}",
        started.elapsed()
    );
    let failed: BTreeSet<String> = status.problems().map(|t| t.tenant.clone()).collect();
    assert_eq!(failed, down_set, "{status}");
    for t in status.problems() {
        let text = t.outcome.to_string();
        assert!(
            text.contains(&format!("tenant {}", t.tenant))
                && text.contains(&format!("{}:{}", down_node.host, down_node.port)),
            "the error names the tenant and the unreachable worker: {text}"
        );
    }
    let report = v2.up(None).await.expect("no-op up with a worker down");
    assert!(
        report
            .tenants
            .iter()
            .all(|t| matches!(t.outcome, Outcome::UpToDate)),
        "{report}"
    );

    // A migration with DDL: Citus applies DDL on a distributed table to the metadata of every
    // node, so with a node down it refuses it for every tenant, also those on the running
    // worker. Each tenant fails with Citus's error naming the stopped node, nothing is half
    // applied, and the run is not cut short by the circuit breaker.
    let v3 = TenantMigrator::new(c.db.clone(), BlogMigrations, source());
    let started = Instant::now();
    let report = v3.up(None).await.expect("up with a worker down");
    println!(
        "up (DDL) with {down_node} down: {:?}\n{report}",
        started.elapsed()
    );
    assert_eq!(report.problems().count(), tenants.len(), "{report}");
    for t in &report.tenants {
        let Outcome::Failed { error, applied, .. } = &t.outcome else {
            panic!("{}: {}", t.tenant, t.outcome)
        };
        assert!(applied.is_empty(), "{}: {}", t.tenant, t.outcome);
        let text = error.to_string();
        assert!(
            text.contains(&format!("{}:{}", down_node.host, down_node.port)),
            "{text}"
        );
    }

    drop(stopped);
    // After the worker is back, a rerun completes the rest.
    let report = v3.up(None).await.expect("rerun");
    assert!(report.is_success(), "{report}");
    assert_eq!(report.applied_count(), tenants.len(), "{report}");
    let status = v3.status().await.expect("status");
    assert!(status.is_success(), "{status}");
    assert!(
        status
            .tenants
            .iter()
            .all(|t| t.outcome.to_string().starts_with("3 applied, 0 pending")),
        "{status}"
    );
}
