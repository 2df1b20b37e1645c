//! Many tasks over many tenants on a small pool: no cross-tenant read, and the pool's
//! connections end with the server's default search_path. Also cancellation mid-transaction.

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use sea_tenant::TenantConnectionExt;
use sea_tenant_tests::scope_support::{post, tenant};
use sea_tenant_tests::{TestDb, default_search_path, pooled_search_paths, strings};

const TENANTS: usize = 20;
const TASKS: usize = 32;
const OPS: usize = 500;

async fn make_tenants(test: &TestDb) {
    let mut sql = String::new();
    for i in 0..TENANTS {
        sql.push_str(&format!(
            "CREATE SCHEMA t{i}; CREATE TABLE t{i}.post (id serial PRIMARY KEY, title text NOT NULL); \
             INSERT INTO t{i}.post (title) VALUES ('t{i}'), ('t{i}');"
        ));
    }
    test.db.execute_unprepared(&sql).await.expect("tenants");
}

async fn assert_pool_clean(test: &TestDb) {
    // Returning a connection to sqlx's pool finishes in a background task: give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let default = default_search_path(&test.db).await;
    let paths = pooled_search_paths(&test.db, 4).await;
    assert_eq!(paths.len(), 4);
    for path in paths {
        assert_eq!(
            path, default,
            "a pooled connection kept a tenant search_path"
        );
    }
    let stuck = strings(
        &test.db,
        &format!(
            "SELECT count(*)::text FROM pg_stat_activity WHERE datname = '{}' \
             AND state LIKE 'idle in transaction%'",
            test.name
        ),
    )
    .await;
    assert_eq!(stuck, ["0"], "a connection was left inside a transaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_no_cross_tenant_reads() {
    let test = TestDb::with_pool_size("scope_stress", 4).await;
    make_tenants(&test).await;
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let db = test.db.clone();
        tasks.push(tokio::spawn(async move {
            let own = format!("t{}", task % TENANTS);
            let t = db.tenant(&tenant(&own));
            for op in 0..OPS {
                match op % 5 {
                    0 => {
                        let rows = post::Entity::find().all(&t).await.expect("find");
                        assert!(rows.iter().all(|p| p.title == own), "{own} read {rows:?}");
                    }
                    1 => {
                        let row = post::Entity::find_by_id(1).one(&t).await.expect("by id");
                        assert_eq!(row.map(|p| p.title), Some(own.clone()));
                    }
                    2 => {
                        let txn = t.begin().await.expect("begin");
                        let a = post::Entity::find_by_id(1).one(&txn).await.expect("a");
                        let b = post::Entity::find()
                            .filter(post::Column::Title.ne(own.as_str()))
                            .all(&txn)
                            .await
                            .expect("b");
                        assert!(b.is_empty(), "{own} saw {b:?}");
                        post::Entity::update_many()
                            .col_expr(post::Column::Title, Expr::value(own.as_str()))
                            .filter(post::Column::Id.eq(2))
                            .exec(&txn)
                            .await
                            .expect("update");
                        txn.commit().await.expect("commit");
                        assert_eq!(a.map(|p| p.title), Some(own.clone()));
                    }
                    3 => {
                        let schema = strings(&t, "SELECT current_schema()::text").await;
                        assert_eq!(schema, std::slice::from_ref(&own));
                    }
                    _ => {
                        let done = t
                            .execute_unprepared("UPDATE post SET title = title WHERE id = 2")
                            .await
                            .expect("unprepared");
                        assert_eq!(done.rows_affected(), 1);
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task panicked");
    }
    eprintln!("{} operations in {:?}", TASKS * OPS, started.elapsed());
    // Every tenant still holds only its own markers.
    for i in 0..TENANTS {
        let own = format!("t{i}");
        let titles = strings(&test.db, &format!("SELECT title FROM t{i}.post")).await;
        assert!(titles.iter().all(|t| *t == own), "{own}: {titles:?}");
    }
    assert_pool_clean(&test).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_transactions_leave_no_tenant_state() {
    let test = TestDb::with_pool_size("scope_cancel", 4).await;
    make_tenants(&test).await;
    let mut tasks = Vec::new();
    for task in 0..64u64 {
        let db = test.db.clone();
        tasks.push(tokio::spawn(async move {
            let t = db.tenant(&tenant(&format!("t{}", task % TENANTS as u64)));
            // Timeouts from 0 µs to ~3 ms cut the transaction at every stage: while waiting
            // for a connection, with BEGIN in flight, mid-statement, inside pg_sleep.
            let limit = Duration::from_micros((task * 53) % 3000);
            let work = t.transaction::<_, (), sea_orm::DbErr>(|txn| {
                Box::pin(async move {
                    txn.execute_unprepared("INSERT INTO post (title) VALUES ('cancelled')")
                        .await?;
                    txn.execute_unprepared("SELECT pg_sleep(0.05)").await?;
                    Ok(())
                })
            });
            let outcome = tokio::time::timeout(limit, work).await;
            assert!(
                outcome.is_err(),
                "the transaction should have been cut short"
            );
            // Also a single statement and a stream cut short.
            let _ = tokio::time::timeout(limit, strings(&t, "SELECT pg_sleep(0.01)::text")).await;
        }));
    }
    for task in tasks {
        task.await.expect("task panicked");
    }
    let committed = strings(
        &test.db,
        &(0..TENANTS)
            .map(|i| format!("SELECT title FROM t{i}.post WHERE title = 'cancelled'"))
            .collect::<Vec<_>>()
            .join(" UNION ALL "),
    )
    .await;
    assert!(committed.is_empty(), "a cancelled transaction committed");
    assert_pool_clean(&test).await;
    // The pool still works for every tenant afterwards.
    for i in 0..TENANTS {
        let t = test.db.tenant(&tenant(&format!("t{i}")));
        let rows = post::Entity::find()
            .all(&t)
            .await
            .expect("after cancellation");
        assert_eq!(rows.len(), 2);
        let txn = t.begin().await.expect("begin");
        assert_eq!(post::Entity::find().all(&txn).await.expect("find").len(), 2);
        txn.rollback().await.expect("rollback");
    }
    assert_pool_clean(&test).await;
}
