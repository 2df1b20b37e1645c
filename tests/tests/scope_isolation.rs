//! Tenant A's rows are invisible in tenant B through every query form, and public is not on
//! the path: a missing tenant table is an error, not public's table of the same name.

use sea_orm::{ConnectionTrait, EntityTrait};
use sea_tenant::TenantConnectionExt;
use sea_tenant_tests::scope_support::{isolation_suite, post, tenant};
use sea_tenant_tests::{TestDb, default_search_path, pooled_search_paths};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_form_stays_in_its_tenant() {
    let test = TestDb::new("scope_iso").await;
    isolation_suite(&test.db, &test.db, true).await;
    let default = default_search_path(&test.db).await;
    for path in pooled_search_paths(&test.db, 4).await {
        assert_eq!(path, default);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_tenant_table_is_an_error_not_public_data() {
    let test = TestDb::new("scope_missing").await;
    test.db
        .execute_unprepared(
            "CREATE TABLE public.post (id serial PRIMARY KEY, title text NOT NULL); \
             INSERT INTO public.post (title) VALUES ('public-secret'); \
             CREATE SCHEMA tenant_empty",
        )
        .await
        .expect("setup");
    let t = test.db.tenant(&tenant("tenant_empty"));

    let err = post::Entity::find()
        .all(&t)
        .await
        .expect_err("must not read public.post");
    assert!(
        err.to_string().contains("relation \"post\" does not exist"),
        "{err}"
    );
    let err = t
        .execute_unprepared("INSERT INTO post (title) VALUES ('x')")
        .await
        .expect_err("unprepared");
    assert!(err.to_string().contains("does not exist"), "{err}");
    let txn = t.begin().await.expect("begin");
    let err = post::Entity::find()
        .one(&txn)
        .await
        .expect_err("in a transaction");
    assert!(err.to_string().contains("does not exist"), "{err}");
    drop(txn);

    // A schema that does not exist at all behaves the same.
    let ghost = test.db.tenant(&tenant("no_such_tenant"));
    assert!(post::Entity::find().all(&ghost).await.is_err());
    assert!(!ghost.schema_exists().await.expect("catalog"));
    assert!(t.schema_exists().await.expect("catalog"));

    // public stays reachable on purpose: schema-qualified, or as a shared schema.
    let shared = test
        .db
        .tenant(&tenant("tenant_empty"))
        .with_shared_schemas(["public"]);
    let rows = post::Entity::find()
        .all(&shared)
        .await
        .expect("shared public");
    assert_eq!(rows.len(), 1);
    let one = sea_tenant_tests::strings(&t, "SELECT title FROM public.post").await;
    assert_eq!(one, ["public-secret"]);

    let default = default_search_path(&test.db).await;
    for path in pooled_search_paths(&test.db, 4).await {
        assert_eq!(path, default);
    }
}
