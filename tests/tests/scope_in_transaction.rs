//! A tenant scope inside a caller's `DatabaseTransaction` (`txn.tenant(&name)`), against a real
//! PostgreSQL: an owner row and its tenant's first rows commit or roll back together, the
//! caller's `search_path` is the same after each of the scope's statements as before, two
//! tenants share one transaction without mixing, and what a `TenantScope` refuses is refused.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, Set, Statement,
    TransactionTrait,
};
use sea_tenant::TenantConnectionExt;
use sea_tenant::scope::ScopeError;
use sea_tenant_tests::owner_entities::{OWNER_TABLES_SQL, classic::org_id};
use sea_tenant_tests::scope_support::{create_blog_schema, post, tenant};
use sea_tenant_tests::{TestDb, schema_exists, strings};

async fn search_path(db: &impl ConnectionTrait) -> String {
    strings(db, "SELECT current_setting('search_path')")
        .await
        .remove(0)
}

fn new_post(title: &str) -> post::ActiveModel {
    post::ActiveModel {
        title: Set(title.to_owned()),
        ..Default::default()
    }
}

async fn titles(db: &impl ConnectionTrait) -> Vec<String> {
    let mut titles: Vec<String> = post::Entity::find()
        .all(db)
        .await
        .expect("find posts")
        .into_iter()
        .map(|p| p.title)
        .collect();
    titles.sort();
    titles
}

/// Inserts organization 7 (its hooks create and migrate `org_7` in `txn`) and seeds two posts
/// in `org_7` through the scope, with a statement of the caller's in between.
async fn create_and_seed(txn: &sea_orm::DatabaseTransaction) -> sea_tenant::TenantName {
    let org = org_id::ActiveModel {
        id: Set(7),
        name: Set("Acme".to_owned()),
    }
    .insert(txn)
    .await
    .expect("insert the owner");
    let name = org.tenant_name().expect("tenant name");
    let seed = txn.tenant(&name);
    new_post("welcome").insert(&seed).await.expect("seed 1");
    // The caller's own statement, unqualified: resolves in `public`, not in the tenant.
    txn.execute_unprepared("UPDATE organization SET name = 'Acme Inc' WHERE id = 7")
        .await
        .expect("owner update between the seeds");
    post::Entity::insert(new_post("getting started"))
        .exec(&seed)
        .await
        .expect("seed 2");
    assert_eq!(titles(&seed).await, ["getting started", "welcome"]);
    name
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_and_seed_rows_commit_together() {
    let t = TestDb::new("txs_commit").await;
    t.db.execute_unprepared(OWNER_TABLES_SQL)
        .await
        .expect("owner tables");
    let txn = t.db.begin().await.expect("begin");
    let name = create_and_seed(&txn).await;
    txn.commit().await.expect("commit");

    assert_eq!(
        titles(&t.db.tenant(&name)).await,
        ["getting started", "welcome"]
    );
    assert_eq!(
        strings(&t.db, "SELECT name FROM organization").await,
        ["Acme Inc"]
    );
    // Nothing of the seed reached `public`.
    assert_eq!(
        strings(&t.db, "SELECT (to_regclass('public.post') IS NULL)::text").await,
        ["true"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolled_back_owner_and_seed_leave_nothing() {
    let t = TestDb::new("txs_rollback").await;
    t.db.execute_unprepared(OWNER_TABLES_SQL)
        .await
        .expect("owner tables");
    let txn = t.db.begin().await.expect("begin");
    create_and_seed(&txn).await;
    txn.rollback().await.expect("rollback");

    assert!(!schema_exists(&t.db, "org_7").await);
    assert_eq!(
        strings(&t.db, "SELECT count(*)::text FROM organization").await,
        ["0"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_search_path_is_put_back_after_each_statement() {
    let t = TestDb::new("txs_path").await;
    create_blog_schema(&t.db, "tenant_a").await;
    let txn = t.db.begin().await.expect("begin");
    txn.execute_unprepared(r#"SET LOCAL search_path TO "$user", public, extra"#)
        .await
        .expect("custom path");
    let before = search_path(&txn).await;
    assert_eq!(before, r#""$user", public, extra"#);

    let a = txn.tenant(&tenant("tenant_a"));
    assert_eq!(
        strings(&a, "SELECT current_setting('search_path')").await,
        [r#""tenant_a", pg_temp"#]
    );
    assert_eq!(search_path(&txn).await, before, "after a query");
    new_post("one").insert(&a).await.expect("insert");
    assert_eq!(search_path(&txn).await, before, "after an insert");
    a.execute_unprepared("INSERT INTO post (title) VALUES ('two'); UPDATE post SET title = title")
        .await
        .expect("unprepared");
    assert_eq!(search_path(&txn).await, before, "after execute_unprepared");
    // A statement that would move the path is refused before it is sent (set_config under
    // any name, since a session-level one would outlive the caller's transaction); the
    // transaction goes on.
    let refused = a
        .execute_unprepared("SELECT set_config('search_path', 'public', true)")
        .await
        .expect_err("set_config through the scope");
    assert!(
        matches!(ScopeError::find(&refused), Some(ScopeError::Refused { .. })),
        "{refused}"
    );
    assert_eq!(search_path(&txn).await, before, "after a set_config");
    assert_eq!(titles(&a).await, ["one", "two"], "still the tenant's path");

    // A failed statement aborts the transaction: a rollback to a savepoint taken before takes
    // the path back with everything else.
    let nested = txn.begin().await.expect("savepoint");
    let failed = nested
        .tenant(&tenant("tenant_a"))
        .execute_unprepared("INSERT INTO no_such_table VALUES (1)")
        .await
        .expect_err("missing table");
    assert!(failed.to_string().contains("no_such_table"), "{failed}");
    nested.rollback().await.expect("rollback to savepoint");
    assert_eq!(search_path(&txn).await, before, "after a failed statement");
    txn.commit().await.expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_in_one_transaction_do_not_mix() {
    let t = TestDb::new("txs_two").await;
    create_blog_schema(&t.db, "tenant_a").await;
    create_blog_schema(&t.db, "tenant_b").await;
    let txn = t.db.begin().await.expect("begin");
    let (a, b) = (
        txn.tenant(&tenant("tenant_a")),
        txn.tenant(&tenant("tenant_b")),
    );
    for i in 0..3 {
        new_post(&format!("a{i}")).insert(&a).await.expect("a");
        new_post(&format!("b{i}")).insert(&b).await.expect("b");
    }
    // Concurrently on one transaction, from tasks on two threads: a scope's statement is three
    // round trips, and no other scope's may come in between.
    let txn = std::sync::Arc::new(txn);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let txn = std::sync::Arc::clone(&txn);
            tokio::spawn(async move {
                let schema = if i % 2 == 0 { "tenant_a" } else { "tenant_b" };
                let scope = txn.tenant(&tenant(schema));
                new_post(&format!("{schema}-{i}")).insert(&scope).await?;
                post::Entity::find().count(&scope).await
            })
        })
        .collect();
    for task in tasks {
        task.await
            .expect("task")
            .expect("concurrent insert and count");
    }
    let txn = std::sync::Arc::into_inner(txn).expect("every task is done");
    let a = txn.tenant(&tenant("tenant_a"));
    let b = txn.tenant(&tenant("tenant_b"));
    let count_a = post::Entity::find().count(&a).await.expect("count a");
    let count_b = post::Entity::find().count(&b).await.expect("count b");
    txn.commit().await.expect("commit");

    assert_eq!((count_a, count_b), (13, 13));
    for (schema, own) in [("tenant_a", 'a'), ("tenant_b", 'b')] {
        let titles = titles(&t.db.tenant(&tenant(schema))).await;
        assert_eq!(titles.len(), 13, "{schema}: {titles:?}");
        assert!(
            titles
                .iter()
                .all(|title| title.starts_with(own) || title.starts_with(schema)),
            "{schema} holds another tenant's rows: {titles:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sql_is_refused_before_anything_is_sent() {
    let t = TestDb::new("txs_hostile").await;
    create_blog_schema(&t.db, "tenant_a").await;
    let txn = t.db.begin().await.expect("begin");
    let before = search_path(&txn).await;
    let a = txn.tenant(&tenant("tenant_a"));
    new_post("kept").insert(&a).await.expect("insert");

    for sql in [
        "COMMIT",
        "ROLLBACK",
        "INSERT INTO post (title) VALUES ('x'); COMMIT",
        "SAVEPOINT s",
        "SET search_path TO public",
        "set local search_path = public",
        "RESET ALL",
        "PREPARE p AS SELECT 1",
        "DEALLOCATE ALL",
        "LOAD 'plpgsql'",
        "SELECT 'unterminated",
    ] {
        let err = a
            .execute_unprepared(sql)
            .await
            .expect_err("refused (unprepared)");
        assert!(ScopeError::find(&err).is_some(), "{sql}: {err}");
        let single = Statement::from_string(DbBackend::Postgres, sql);
        let err = a
            .query_all_raw(single.clone())
            .await
            .expect_err("refused (query)");
        assert!(ScopeError::find(&err).is_some(), "{sql}: {err}");
        let err = a.execute_raw(single).await.expect_err("refused (execute)");
        assert!(ScopeError::find(&err).is_some(), "{sql}: {err}");
    }
    let err = a
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 1; SELECT 2",
        ))
        .await
        .expect_err("two statements");
    assert!(
        matches!(
            ScopeError::find(&err),
            Some(ScopeError::MultipleStatements { .. })
        ),
        "{err}"
    );

    // Nothing was sent: the transaction is open and unchanged, and its work commits.
    assert_eq!(search_path(&txn).await, before);
    assert_eq!(titles(&a).await, ["kept"]);
    txn.commit().await.expect("commit");
    assert_eq!(titles(&t.db.tenant(&tenant("tenant_a"))).await, ["kept"]);
}
