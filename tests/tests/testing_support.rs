//! `sea_tenant::testing` against a real PostgreSQL: a `TestDatabase` and a `TemporaryTenant`
//! exist while held and are gone after their drop, on a current-thread runtime too (with a
//! scope's rollback still waiting for that runtime), and when the test panics.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_tenant::testing::{TemporaryTenant, TestDatabase, server_url};
use sea_tenant::{Error, TenantName};
use sea_tenant_tests::fixtures::BlogMigrations;
use sea_tenant_tests::{TestDb, connect, schema_exists, strings, tables};

async fn database_exists(name: &str) -> bool {
    let admin = connect(&server_url(), 1).await;
    let found = strings(
        &admin,
        &format!("SELECT datname::text FROM pg_database WHERE datname = '{name}'"),
    )
    .await;
    admin.close().await.ok();
    !found.is_empty()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_database_is_dropped_with_its_value() {
    let database = TestDatabase::new("Testing Support!").await.expect("create");
    let name = database.name().to_owned();
    assert!(name.starts_with("st_testing_support__"), "{name}");
    assert!(database_exists(&name).await);
    let other = database.connect(1).await.expect("second pool");
    assert_eq!(
        strings(&other, "SELECT current_database()::text").await,
        [name.as_str()]
    );
    drop(database); // `other` is still connected: WITH (FORCE) ends it
    assert!(!database_exists(&name).await, "{name} is left");
}

/// Temporary tenant and database dropped at the end of a current-thread runtime's `block_on`,
/// right after a scoped `SELECT` whose rollback runs in a background task of that (now
/// blocked) runtime and still holds a lock on the tenant's table.
#[test]
fn both_drop_on_a_current_thread_runtime() {
    let (database_name, leftover) = current_thread().block_on(async {
        let database = TestDatabase::new("testing_ct").await.expect("create");
        let acme = TenantName::new("org_acme").expect("name");
        let tenant = TemporaryTenant::create::<BlogMigrations>(database.db(), &acme)
            .await
            .expect("temporary tenant");
        assert_eq!(tenant.name(), &acme);
        assert_eq!(
            tables(database.db(), "org_acme").await,
            ["comment", "post", "seaql_tenant_migrations"]
        );
        // A float value keeps the `SELECT` off the one-message path: its read-only
        // transaction is rolled back by a background task.
        tenant
            .scope()
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT id FROM post WHERE $1 > 0",
                [1.5f64.into()],
            ))
            .await
            .expect("scoped select");
        let name = database.name().to_owned();
        let db = database.db().clone();
        drop(tenant);
        let leftover = schema_exists(&db, "org_acme").await;
        (name, leftover)
        // `database` is dropped here, inside `block_on`.
    });
    assert!(!leftover, "org_acme outlived its TemporaryTenant");
    assert!(
        !current_thread().block_on(database_exists(&database_name)),
        "{database_name} is left"
    );
}

#[test]
fn both_drop_when_the_test_panics() {
    let (tx, rx) = std::sync::mpsc::channel();
    let panicked = std::thread::spawn(move || {
        current_thread().block_on(async move {
            let database = TestDatabase::new("testing_panic").await.expect("create");
            let tenant = TemporaryTenant::create::<BlogMigrations>(
                database.db(),
                &TenantName::new("org_doomed").expect("name"),
            )
            .await
            .expect("temporary tenant");
            tx.send(database.name().to_owned()).expect("send");
            let _keep = (&database, &tenant);
            panic!("the test fails");
        })
    })
    .join();
    assert!(panicked.is_err());
    let name = rx.recv().expect("the database's name");
    assert!(
        !current_thread().block_on(database_exists(&name)),
        "{name} is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_tenant_never_takes_an_existing_schema() {
    let t = TestDb::new("testing_exists").await;
    t.db.execute_unprepared("CREATE SCHEMA org_taken; CREATE TABLE org_taken.keep (id int)")
        .await
        .expect("a schema of someone else's");
    let taken = TenantName::new("org_taken").expect("name");
    let err = TemporaryTenant::create::<BlogMigrations>(&t.db, &taken)
        .await
        .expect_err("exists");
    assert!(matches!(err, Error::SchemaExists { .. }), "{err}");
    assert_eq!(tables(&t.db, "org_taken").await, ["keep"]);

    // A tenant dropped in the test's own runtime (multi-thread): gone at once.
    let fresh = TenantName::new("org_fresh").expect("name");
    let tenant = TemporaryTenant::create::<BlogMigrations>(&t.db, &fresh)
        .await
        .expect("temporary tenant");
    assert!(schema_exists(&t.db, "org_fresh").await);
    drop(tenant);
    assert!(!schema_exists(&t.db, "org_fresh").await);
    assert!(schema_exists(&t.db, "org_taken").await);
}
