//! Issue 10, item 6: owner inserts and the ensure functions provision tenants whose migration
//! set reads the database (`has_column`, an entity seed with `INSERT … RETURNING`), by running
//! the migrations live, atomically, once per tenant; sets that render keep the one-script
//! path.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::join_all;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DatabaseExecutor, DbBackend, DbErr,
    EntityTrait, ExecResult, NotSet, QueryResult, Set, Statement, TransactionTrait,
};
use sea_tenant::provision::{self, MigrationScript};
use sea_tenant::{Error, TenantMigrator, TenantName, owner};
use sea_tenant_tests::events::ProvisionEvents;
use sea_tenant_tests::live_migrations::{LIVE_VERSIONS, LiveMigrations, UnrenderableMigrations};
use sea_tenant_tests::owner_entities::live::{TABLES_SQL, org_live, org_live_broken};
use sea_tenant_tests::owner_entities::{OWNER_TABLES_SQL, classic::org_id};
use sea_tenant_tests::{TestDb, schema_exists, schemas, strings, versions};

const VERSION_TABLE: &str = "seaql_tenant_migrations";

async fn setup(label: &str, pool: u32) -> TestDb {
    let t = TestDb::with_pool_size(label, pool).await;
    t.db.execute_unprepared(TABLES_SQL).await.expect("tables");
    t
}

fn org(slug: &str) -> org_live::ActiveModel {
    org_live::ActiveModel {
        id: NotSet,
        slug: Set(slug.to_owned()),
    }
}

fn hook_error(err: &DbErr) -> &Error {
    owner::tenant_error(err).unwrap_or_else(|| panic!("not a sea-tenant error: {err:?}"))
}

/// The tenant `schema` is fully provisioned by `LiveMigrations`: every version recorded,
/// the column `has_column` decided on, and the seed exactly once, its product pointing at
/// the category the `RETURNING` gave.
async fn assert_provisioned(db: &impl ConnectionTrait, schema: &str) {
    assert_eq!(
        versions(db, schema, VERSION_TABLE).await,
        LIVE_VERSIONS,
        "{schema}"
    );
    assert_eq!(
        strings(
            db,
            &format!(
                "SELECT c.name || '/' || p.name FROM \"{schema}\".product p \
                 JOIN \"{schema}\".category c ON c.id = p.category_id"
            )
        )
        .await,
        ["general/welcome kit"],
        "{schema}: the seed, exactly once"
    );
    assert_eq!(
        strings(
            db,
            &format!(
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = '{schema}' AND table_name = 'category' \
                 AND column_name = 'slug'"
            )
        )
        .await,
        ["slug"],
        "{schema}: the column added after has_column"
    );
}

async fn search_path(db: &impl ConnectionTrait) -> String {
    strings(db, "SELECT current_setting('search_path')")
        .await
        .remove(0)
}

/// (a) On a pool: each owner's tenant gets its own run of the migrations (the seed is in
/// every tenant, so nothing was cached per process), on the live path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_on_a_pool_provision_a_set_that_reads() {
    let t = setup("live_pool", 4).await;
    let events = ProvisionEvents::capture();
    for slug in ["acme", "beta"] {
        let model = org(slug).insert(&t.db).await.expect("insert");
        assert_eq!(
            model.tenant_name().expect("name").as_str(),
            format!("live_{slug}")
        );
        assert_provisioned(&t.db, &format!("live_{slug}")).await;
        assert_eq!(events.how(&format!("live_{slug}")), ["live"]);
    }
}

/// (b), (e) Inside a caller's transaction: the tenant is visible in it, the caller's
/// `search_path` is unchanged, the transaction stays usable; commit keeps schema and rows,
/// rollback keeps neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_in_a_transaction_commit_or_roll_back_with_it() {
    let t = setup("live_txn", 4).await;
    for commit in [true, false] {
        let slug = if commit { "kept" } else { "undone" };
        let schema = format!("live_{slug}");
        let txn = t.db.begin().await.expect("begin");
        txn.execute_unprepared("SELECT set_config('search_path', 'app_schema, public', true)")
            .await
            .expect("caller's search_path");
        org(slug).insert(&txn).await.expect("insert");
        assert_eq!(
            search_path(&txn).await,
            "app_schema, public",
            "the caller's search_path is put back"
        );
        assert_provisioned(&txn, &schema).await;
        if commit {
            txn.commit().await.expect("commit");
            assert_provisioned(&t.db, &schema).await;
            assert_eq!(
                org_live::Entity::find()
                    .all(&t.db)
                    .await
                    .expect("rows")
                    .len(),
                1
            );
        } else {
            txn.rollback().await.expect("rollback");
            assert!(!schema_exists(&t.db, &schema).await, "schema rolled back");
            assert_eq!(
                org_live::Entity::find()
                    .all(&t.db)
                    .await
                    .expect("rows")
                    .len(),
                1,
                "only the committed owner"
            );
        }
    }
}

/// (c) 8 owners inserted at once while `up --create-missing` deploys over the owner table
/// and `provision_tenant_on` ensures every listed owner, back to back: no failure anywhere,
/// and each tenant has its seed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_deploys_and_ensures_seed_each_tenant_once() {
    let t = setup("live_race", 8).await;
    let ensure_pool = t.pool(4).await;
    let done = Arc::new(AtomicBool::new(false));
    let deploy = {
        let db = ensure_pool.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let migrator = TenantMigrator::new(
                db,
                LiveMigrations,
                owner::tenant_source::<org_live::Entity>(),
            )
            .create_missing(true)
            .concurrency(4);
            let mut failures = Vec::new();
            let mut runs = 0;
            while runs == 0 || !done.load(Ordering::Relaxed) {
                runs += 1;
                let report = migrator.up(None).await.expect("deploy");
                if !report.is_success() {
                    failures.push(report.to_string());
                }
            }
            failures
        })
    };
    let ensure = {
        let db = ensure_pool.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut runs = 0;
            while runs == 0 || !done.load(Ordering::Relaxed) {
                runs += 1;
                for row in org_live::Entity::find().all(&db).await.expect("rows") {
                    let r = owner::provision_owned_tenant::<org_live::Entity, _>(&db, &row).await;
                    if let Err(e) = r {
                        failures.push(format!("ensure {}: {e}", row.slug));
                    }
                }
            }
            failures
        })
    };
    let inserts = (0..8).map(|i| {
        let db = t.db.clone();
        tokio::spawn(async move {
            org(&format!("c{i}"))
                .insert(&db)
                .await
                .map_err(|e| format!("insert c{i}: {e}"))
        })
    });
    let inserted = join_all(inserts).await;
    done.store(true, Ordering::Relaxed);
    let mut failures: Vec<String> = inserted
        .into_iter()
        .filter_map(|r| r.expect("insert task").err())
        .collect();
    failures.extend(deploy.await.expect("deploy task"));
    failures.extend(ensure.await.expect("ensure task"));
    assert!(failures.is_empty(), "{failures:#?}");

    let expected: BTreeSet<String> = (0..8).map(|i| format!("live_c{i}")).collect();
    let actual: BTreeSet<String> = schemas(&t.db)
        .await
        .into_iter()
        .filter(|s| s.starts_with("live_"))
        .collect();
    assert_eq!(actual, expected);
    for schema in &expected {
        assert_provisioned(&t.db, schema).await;
    }
}

/// (d) A migration failing after the seed: no schema and no owner row, on a pool and in a
/// transaction (which stays usable: only the provisioning's savepoint rolled back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migration_leaves_no_schema_and_no_row() {
    let t = setup("live_fail", 4).await;
    let before = schemas(&t.db).await;
    let broken = |slug: &str| org_live_broken::ActiveModel {
        id: NotSet,
        slug: Set(slug.to_owned()),
    };
    let expect_failed_migration = |err: &DbErr| match hook_error(err) {
        Error::Migration {
            tenant, migration, ..
        } => {
            assert!(tenant.as_str().starts_with("lbrk_"), "{err}");
            assert_eq!(migration, "l0004_fail_after_seed", "{err}");
        }
        other => panic!("{other:?}"),
    };

    let err = broken("pool").insert(&t.db).await.expect_err("fails");
    expect_failed_migration(&err);

    let txn = t.db.begin().await.expect("begin");
    txn.execute_unprepared("SELECT set_config('search_path', 'app_schema, public', true)")
        .await
        .expect("caller's search_path");
    let err = broken("txn").insert(&txn).await.expect_err("fails");
    expect_failed_migration(&err);
    assert_eq!(search_path(&txn).await, "app_schema, public");
    // The compensating delete ran in the caller's transaction, which is still usable.
    assert_eq!(
        strings(&txn, "SELECT count(*)::text FROM org_live_broken").await,
        ["0"]
    );
    txn.commit()
        .await
        .expect("the caller's transaction still commits");

    assert_eq!(
        org_live_broken::Entity::find()
            .all(&t.db)
            .await
            .expect("rows"),
        []
    );
    assert_eq!(schemas(&t.db).await, before);
}

/// A connection type the live path cannot open a transaction on.
struct Wrapped<'a>(&'a DatabaseConnection);

#[async_trait::async_trait]
impl ConnectionTrait for Wrapped<'_> {
    fn get_database_backend(&self) -> DbBackend {
        self.0.get_database_backend()
    }
    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.0.execute_raw(stmt).await
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.0.execute_unprepared(sql).await
    }
    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.0.query_one_raw(stmt).await
    }
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.0.query_all_raw(stmt).await
    }
}

/// Any other connection type: a typed error naming the set, the migration that reads, the
/// connection type and the fix; the row is removed again and no schema made. A set that
/// renders still provisions on the same wrapper.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_connection_type_gets_a_typed_error_and_no_half_made_state() {
    let t = setup("live_other", 4).await;
    t.db.execute_unprepared(OWNER_TABLES_SQL)
        .await
        .expect("tables");
    let before = schemas(&t.db).await;
    let err = org("wrapped")
        .insert(&Wrapped(&t.db))
        .await
        .expect_err("refused");
    match hook_error(&err) {
        Error::LiveProvisioning {
            tenant,
            set,
            migration,
            connection,
        } => {
            assert_eq!(tenant.as_str(), "live_wrapped");
            assert_eq!(*set, "sea_tenant_tests::live_migrations::LiveMigrations");
            assert_eq!(migration, "l0002_add_slug_if_missing");
            assert!(connection.contains("Wrapped"), "{connection}");
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("through a DatabaseConnection or DatabaseTransaction"),
        "{text}"
    );
    assert_eq!(org_live::Entity::find().all(&t.db).await.expect("rows"), []);
    assert_eq!(schemas(&t.db).await, before);

    org_id::ActiveModel {
        id: Set(1),
        name: Set("renders".into()),
    }
    .insert(&Wrapped(&t.db))
    .await
    .expect("a set that renders needs no transaction of its own");
    assert!(schema_exists(&t.db, "org_1").await);
}

/// The fast path is kept: a set that renders is provisioned by its script (the event says
/// so), a set that reads live; the reading set has no script, and a set whose `up` fails
/// without reading gets an error naming the migration and what rendering supports.
#[tokio::test(flavor = "current_thread")]
async fn a_set_that_renders_keeps_the_one_script_path() {
    let t = setup("live_fast", 4).await;
    t.db.execute_unprepared(OWNER_TABLES_SQL)
        .await
        .expect("tables");
    let events = ProvisionEvents::capture();
    org_id::ActiveModel {
        id: Set(7),
        name: Set("blog".into()),
    }
    .insert(&t.db)
    .await
    .expect("insert");
    org("seeded").insert(&t.db).await.expect("insert");
    assert_eq!(events.how("org_7"), ["script"]);
    assert_eq!(events.how("live_seeded"), ["live"]);

    let err = MigrationScript::of::<LiveMigrations>()
        .await
        .expect_err("no script for a set that reads");
    let text = err.to_string();
    assert!(
        text.contains("migration l0002_add_slug_if_missing") && text.contains("reads the database"),
        "{text}"
    );
    let err = MigrationScript::of::<UnrenderableMigrations>()
        .await
        .expect_err("fails");
    let text = err.to_string();
    assert!(
        text.contains("migration l0001_refuse")
            && text.contains("failed while being rendered into SQL")
            && text.contains("this migration refuses to run"),
        "{text}"
    );
    assert!(!text.contains("converting"), "{text}");
}

/// The ensure functions take the live path too: idempotent (the seed stays single),
/// compatible with the migrator's `migrate_tenant`, `create_tenant_on` in a transaction, and
/// `provision_owned_tenant` for a row written without hooks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_functions_provision_a_set_that_reads() {
    let t = setup("live_ensure", 4).await;
    let a = TenantName::new("ens_a").expect("name");
    provision::provision_tenant_on::<LiveMigrations, _>(&t.db, &a)
        .await
        .expect("ensure");
    provision::provision_tenant_on::<LiveMigrations, _>(&t.db, &a)
        .await
        .expect("ensure again");
    assert_provisioned(&t.db, "ens_a").await;

    let b = TenantName::new("ens_b").expect("name");
    sea_tenant::migrate_tenant::<LiveMigrations>(&t.db, &b)
        .await
        .expect("migrate");
    provision::provision_tenant_on::<LiveMigrations, _>(&t.db, &b)
        .await
        .expect("ensure after migrate");
    assert_provisioned(&t.db, "ens_b").await;

    let c = TenantName::new("ens_c").expect("name");
    let txn = t.db.begin().await.expect("begin");
    provision::create_tenant_on::<LiveMigrations, _>(&txn, &c)
        .await
        .expect("create");
    txn.commit().await.expect("commit");
    assert_provisioned(&t.db, "ens_c").await;
    let err = provision::create_tenant_on::<LiveMigrations, _>(&t.db, &c)
        .await
        .expect_err("exists");
    assert!(matches!(err, Error::SchemaExists { .. }), "{err}");

    // Through a `DatabaseExecutor`, as on what it wraps.
    let d = TenantName::new("ens_d").expect("name");
    let txn = t.db.begin().await.expect("begin");
    provision::provision_tenant_on::<LiveMigrations, _>(&DatabaseExecutor::from(&txn), &d)
        .await
        .expect("ensure through an executor on a transaction");
    txn.rollback().await.expect("rollback");
    assert!(
        !schema_exists(&t.db, "ens_d").await,
        "it was in the transaction"
    );
    provision::provision_tenant_on::<LiveMigrations, _>(&DatabaseExecutor::from(&t.db), &d)
        .await
        .expect("ensure through an executor on the pool");
    assert_provisioned(&t.db, "ens_d").await;

    org_live::Entity::insert(org("bulk"))
        .exec(&t.db)
        .await
        .expect("insert without hooks");
    let row = org_live::Entity::find()
        .one(&t.db)
        .await
        .expect("find")
        .expect("row");
    let name = owner::provision_owned_tenant::<org_live::Entity, _>(&t.db, &row)
        .await
        .expect("repair");
    assert_eq!(name.as_str(), "live_bulk");
    assert_provisioned(&t.db, "live_bulk").await;
}
