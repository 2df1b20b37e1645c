//! Owner entities and tenant provisioning under adversarial interleavings (issue 9, items 5
//! and 6): stale models must never touch another owner's schema, and every path that creates
//! a tenant schema must tolerate the others running at the same time.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::join_all;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, NotSet, Set,
    TransactionTrait,
};
use sea_tenant::{Error, Outcome, TenantMigrator, TenantName, owner, provision, tenants};
use sea_tenant_tests::fixtures::{BlogMigrations, BlogV2Migrations};
use sea_tenant_tests::owner_entities::OWNER_TABLES_SQL;
use sea_tenant_tests::owner_entities::classic::{org_id, org_slug};
use sea_tenant_tests::{TestDb, schema_exists, schemas, strings, versions};

const BLOG_VERSIONS: [&str; 3] = [
    "m0001_create_post",
    "m0002_create_comment",
    "m0003_add_published",
];
const VERSION_TABLE: &str = "seaql_tenant_migrations";

async fn setup(label: &str, pool: u32) -> TestDb {
    let t = TestDb::with_pool_size(label, pool).await;
    t.db.execute_unprepared(OWNER_TABLES_SQL)
        .await
        .expect("owner tables");
    t
}

/// The schemas whose names start with `prefix`.
async fn schemas_with(db: &impl ConnectionTrait, prefix: &str) -> BTreeSet<String> {
    schemas(db)
        .await
        .into_iter()
        .filter(|s| s.starts_with(prefix))
        .collect()
}

/// Every `org_slug` row has its schema and every `org_…` schema has its row.
async fn assert_slug_owners_match_schemas(db: &DatabaseConnection) {
    let rows: BTreeSet<String> = org_slug::Entity::find()
        .all(db)
        .await
        .expect("rows")
        .into_iter()
        .map(|r| format!("org_{}", r.slug))
        .collect();
    assert_eq!(
        schemas_with(db, "org_").await,
        rows,
        "schemas vs owner rows"
    );
}

async fn insert_slug(db: &impl ConnectionTrait, slug: &str) -> org_slug::Model {
    org_slug::ActiveModel {
        id: NotSet,
        slug: Set(slug.to_owned()),
        name: Set(slug.to_owned()),
    }
    .insert(db)
    .await
    .unwrap_or_else(|e| panic!("insert {slug}: {e}"))
}

async fn mark(db: &impl ConnectionTrait, schema: &str, title: &str) {
    db.execute_unprepared(&format!(
        "INSERT INTO \"{schema}\".post (title) VALUES ('{title}')"
    ))
    .await
    .unwrap_or_else(|e| panic!("write into {schema}: {e}"));
}

/// Item 5, the exact sequence: A is renamed `acme` → `acme2`, B is created as `acme`, then A
/// is deleted through its stale model (still holding slug `acme`). B's schema must survive and
/// A's `org_acme2` must go. Run on a pool of one (every statement reuses one connection), on a
/// pool of four, and inside a transaction.
mod stale_owner_model {
    use super::*;

    async fn scenario(db: &DatabaseConnection, in_txn: bool) {
        let stale_a = insert_slug(db, "acme").await;
        let mut am: org_slug::ActiveModel = stale_a.clone().into();
        am.slug = Set("acme2".into());
        am.update(db).await.expect("rename A");
        let b = insert_slug(db, "acme").await;
        mark(db, "org_acme", "b-data").await;

        let am: org_slug::ActiveModel = stale_a.clone().into();
        if in_txn {
            let txn = db.begin().await.expect("begin");
            am.delete(&txn).await.expect("delete A");
            txn.commit().await.expect("commit");
        } else {
            am.delete(db).await.expect("delete A");
        }

        assert!(
            schema_exists(db, "org_acme").await,
            "B's schema was dropped by A's stale model"
        );
        assert_eq!(
            strings(db, "SELECT title FROM org_acme.post").await,
            ["b-data"]
        );
        assert!(!schema_exists(db, "org_acme2").await, "A's schema was kept");
        let rows = org_slug::Entity::find().all(db).await.expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0], b);
        assert_slug_owners_match_schemas(db).await;

        // A stale model of B (B was renamed since) renaming "back" to a name still acts on
        // B's stored row and schema only.
        let stale_b = b.clone();
        let mut am: org_slug::ActiveModel = b.into();
        am.slug = Set("beta".into());
        am.update(db).await.expect("rename B");
        insert_slug(db, "acme").await; // C takes B's old name
        let mut am: org_slug::ActiveModel = stale_b.clone().into();
        am.slug = Set("gamma".into());
        am.update(db)
            .await
            .expect("rename B through its stale model");
        assert!(schema_exists(db, "org_gamma").await);
        assert!(!schema_exists(db, "org_beta").await);
        assert!(schema_exists(db, "org_acme").await, "C's schema untouched");
        assert_slug_owners_match_schemas(db).await;

        // Deleting a row that is gone already (through a stale model) touches no schema.
        let gone = insert_slug(db, "gone").await;
        org_slug::ActiveModel {
            id: Set(gone.id),
            ..Default::default()
        }
        .delete(db)
        .await
        .expect("delete");
        insert_slug(db, "gone").await; // a new owner of the same name
        let am: org_slug::ActiveModel = gone.into();
        am.delete(db)
            .await
            .expect("delete of a gone row is a no-op");
        assert!(schema_exists(db, "org_gone").await, "new owner's schema");
        assert_slug_owners_match_schemas(db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stale_delete_on_a_pool_of_one() {
        let t = setup("race_stale1", 1).await;
        scenario(&t.db, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stale_delete_on_a_pool() {
        let t = setup("race_stale4", 4).await;
        scenario(&t.db, false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stale_delete_in_a_transaction() {
        let t = setup("race_stalet", 4).await;
        scenario(&t.db, true).await;
    }

    /// Many owners at once, on a pool of 8: each owner is renamed `x_i` → `y_i`; a new owner
    /// claims `x_i` while the old owner is deleted through its pre-rename model. For even `i`
    /// the delete waits for the new owner (the exact sequence of item 5), for odd `i` it races
    /// with the rename and the insert. Whatever wins, schemas and owner rows match in the end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rename_delete_and_reuse_of_the_name() {
        let t = setup("race_stalec", 8).await;
        let n = 16;
        let mut olds = Vec::new();
        for i in 0..n {
            olds.push(insert_slug(&t.db, &format!("x_{i}")).await);
        }
        let tasks = olds.into_iter().enumerate().map(|(i, old)| {
            let db = t.db.clone();
            tokio::spawn(async move {
                let stale: org_slug::ActiveModel = old.clone().into();
                let rename = async {
                    let mut am: org_slug::ActiveModel = old.clone().into();
                    am.slug = Set(format!("y_{i}"));
                    am.update(&db).await.map(|_| ())
                };
                let reuse = async {
                    // Refused (unique slug) until the rename has committed.
                    for _ in 0..200 {
                        let r = org_slug::ActiveModel {
                            id: NotSet,
                            slug: Set(format!("x_{i}")),
                            name: Set("new".into()),
                        }
                        .insert(&db)
                        .await;
                        if r.is_ok() {
                            return;
                        }
                        tokio::task::yield_now().await;
                    }
                };
                if i % 2 == 0 {
                    rename.await.expect("rename");
                    reuse.await;
                    stale.delete(&db).await.expect("stale delete");
                } else {
                    let delete = async { stale.delete(&db).await.map(|_| ()) };
                    let (renamed, _, deleted) = tokio::join!(rename, reuse, delete);
                    deleted.expect("stale delete");
                    // The rename fails only if the delete removed the row first.
                    let _ = renamed;
                }
            })
        });
        for task in join_all(tasks).await {
            task.expect("task");
        }
        assert_slug_owners_match_schemas(&t.db).await;
    }
}

/// Item 6: every path that creates a tenant schema, racing with the others.
mod creation_races {
    use super::*;

    /// 40 signups (owner inserts on a pool) while `up --create-missing` deploys over the owner
    /// table run back to back: every signup succeeds, every deploy reports success, and every
    /// owner row has a fully migrated schema and no schema lacks its row.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn owner_inserts_during_create_missing_deploys() {
        let t = setup("race_deploy", 8).await;
        let deploy_pool = t.pool(4).await;
        let done = Arc::new(AtomicBool::new(false));
        let mut deploys = Vec::new();
        for _ in 0..2 {
            let db = deploy_pool.clone();
            let done = done.clone();
            deploys.push(tokio::spawn(async move {
                let migrator = TenantMigrator::new(
                    db,
                    BlogMigrations,
                    owner::tenant_source::<org_id::Entity>(),
                )
                .create_missing(true)
                .concurrency(4);
                let mut failures = Vec::new();
                while !done.load(Ordering::Relaxed) {
                    let report = migrator.up(None).await.expect("deploy");
                    if !report.is_success() {
                        failures.push(report.to_string());
                    }
                }
                failures
            }));
        }
        let signups = (1..=40).map(|id| {
            let db = t.db.clone();
            tokio::spawn(async move {
                org_id::ActiveModel {
                    id: Set(id),
                    name: Set(format!("signup {id}")),
                }
                .insert(&db)
                .await
                .map_err(|e| format!("signup {id}: {e}"))
            })
        });
        let results = join_all(signups).await;
        done.store(true, Ordering::Relaxed);
        let mut deploy_failures = Vec::new();
        for d in join_all(deploys).await {
            deploy_failures.extend(d.expect("deploy task"));
        }
        let failed: Vec<String> = results
            .into_iter()
            .filter_map(|r| r.expect("signup task").err())
            .collect();
        assert!(
            failed.is_empty(),
            "{} signups failed: {failed:#?}",
            failed.len()
        );
        assert!(
            deploy_failures.is_empty(),
            "{} deploys failed: {deploy_failures:#?}",
            deploy_failures.len()
        );

        let rows: BTreeSet<String> = org_id::Entity::find()
            .all(&t.db)
            .await
            .expect("rows")
            .into_iter()
            .map(|r| format!("org_{}", r.id))
            .collect();
        assert_eq!(rows.len(), 40);
        assert_eq!(schemas_with(&t.db, "org_").await, rows);
        for schema in &rows {
            assert_eq!(
                versions(&t.db, schema, VERSION_TABLE).await,
                BLOG_VERSIONS,
                "{schema}"
            );
        }
    }

    /// Two migrators (own pools) with `create_missing` on the same 100 new tenants.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_create_missing_migrators_on_the_same_new_tenants() {
        let t = TestDb::new("race_twomig").await;
        let names: Vec<String> = (0..100).map(|i| format!("new_{i}")).collect();
        let (p1, p2) = (t.pool(4).await, t.pool(4).await);
        let m1 = TenantMigrator::new(p1, BlogMigrations, tenants::fixed(names.clone()))
            .create_missing(true);
        let m2 = TenantMigrator::new(p2, BlogMigrations, tenants::fixed(names.clone()))
            .create_missing(true);
        let (r1, r2) = tokio::join!(m1.up(None), m2.up(None));
        let (r1, r2) = (r1.expect("run 1"), r2.expect("run 2"));
        assert!(r1.is_success(), "{r1}");
        assert!(r2.is_success(), "{r2}");
        // Each migration was applied exactly once over both runs.
        assert_eq!(r1.applied_count() + r2.applied_count(), 300, "{r1}\n{r2}");
        for name in &names {
            assert_eq!(versions(&t.db, name, VERSION_TABLE).await, BLOG_VERSIONS);
        }
    }

    /// 8 concurrent `sea_tenant::migrate_tenant` calls on one new tenant, repeated on several
    /// tenants, then every way of ensuring a tenant mixed on one new tenant.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_ensures_on_one_new_tenant() {
        let t = setup("race_ensure", 8).await;
        for round in 0..5 {
            let name = TenantName::new(format!("ens_{round}")).expect("name");
            let calls = (0..8).map(|_| {
                let db = t.db.clone();
                let name = name.clone();
                tokio::spawn(async move {
                    sea_tenant::migrate_tenant::<BlogMigrations>(&db, &name).await
                })
            });
            for (i, r) in join_all(calls).await.into_iter().enumerate() {
                r.expect("task")
                    .unwrap_or_else(|e| panic!("migrate_tenant #{i} on {name}: {e}"));
            }
            assert_eq!(
                versions(&t.db, name.as_str(), VERSION_TABLE).await,
                BLOG_VERSIONS
            );
        }

        // Every entry point at once on one new owner's tenant.
        org_id::Entity::insert(org_id::ActiveModel {
            id: Set(5),
            name: Set("bulk".into()),
        })
        .exec(&t.db)
        .await
        .expect("insert without hooks");
        let org = org_id::Entity::find_by_id(5)
            .one(&t.db)
            .await
            .expect("find")
            .expect("row");
        let name = TenantName::new("org_5").expect("name");
        let mut calls: Vec<tokio::task::JoinHandle<Result<(), String>>> = Vec::new();
        for i in 0..12 {
            let db = t.db.clone();
            let name = name.clone();
            let org = org.clone();
            calls.push(tokio::spawn(async move {
                let r = match i % 4 {
                    0 => sea_tenant::migrate_tenant::<BlogMigrations>(&db, &name).await,
                    1 => provision::provision_tenant_on::<BlogMigrations, _>(&db, &name).await,
                    2 => match <org_id::Entity as owner::TenantOwner>::tenant_of(&org) {
                        Ok(owned) => {
                            provision::provision_tenant_on::<BlogMigrations, _>(&db, &owned).await
                        }
                        Err(e) => Err(e),
                    },
                    _ => TenantMigrator::new(
                        db.clone(),
                        BlogMigrations,
                        owner::tenant_source::<org_id::Entity>(),
                    )
                    .create_missing(true)
                    .up(None)
                    .await
                    .and_then(|report| {
                        match report.tenant("org_5").map(|t| &t.outcome) {
                            Some(Outcome::Failed { error, .. }) => Err(sea_tenant::Error::Db(
                                sea_orm::DbErr::Custom(format!("deploy failed: {error}")),
                            )),
                            _ => Ok(()),
                        }
                    }),
                };
                r.map_err(|e| format!("entry point {}: {e}", i % 4))
            }));
        }
        for r in join_all(calls).await {
            r.expect("task").unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(versions(&t.db, "org_5", VERSION_TABLE).await, BLOG_VERSIONS);
    }

    /// The insert hook's two cases for a schema that exists under the lock, deterministically:
    /// created after the row (a deploy got there first; at head, or half-way) it is used and
    /// completed; older than the row (left by an earlier owner) it is refused and the row is
    /// removed again, the schema untouched.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn insert_hook_uses_a_deploys_schema_and_refuses_a_leftover() {
        let t = setup("race_left", 4).await;
        for (id, partial) in [(10, false), (11, true)] {
            // The row commits first (as on a pool), then a deploy creates its schema, then
            // the hook's provisioning runs.
            org_id::Entity::insert(org_id::ActiveModel {
                id: Set(id),
                name: Set("raced".into()),
            })
            .exec(&t.db)
            .await
            .expect("row");
            let name = TenantName::new(format!("org_{id}")).expect("name");
            if partial {
                provision::provision_tenant_on::<BlogV2Migrations, _>(&t.db, &name)
                    .await
                    .expect("deploy at v2");
            } else {
                sea_tenant::migrate_tenant::<BlogMigrations>(&t.db, &name)
                    .await
                    .expect("deploy");
            }
            let model = org_id::Entity::find_by_id(id)
                .one(&t.db)
                .await
                .expect("find")
                .expect("row");
            owner::after_save::<org_id::Entity, _>(model, &t.db, true)
                .await
                .expect("the hook uses the deploy's schema");
            assert_eq!(
                versions(&t.db, name.as_str(), VERSION_TABLE).await,
                BLOG_VERSIONS
            );
        }

        // A leftover: the schema predates the row.
        provision::provision_tenant_on::<BlogMigrations, _>(
            &t.db,
            &TenantName::new("org_9").expect("name"),
        )
        .await
        .expect("leftover");
        mark(&t.db, "org_9", "old owner data").await;
        let err = org_id::ActiveModel {
            id: Set(9),
            name: Set("new owner".into()),
        }
        .insert(&t.db)
        .await
        .expect_err("leftover refused");
        assert!(
            matches!(owner::tenant_error(&err), Some(Error::SchemaExists { tenant }) if tenant.as_str() == "org_9"),
            "{err}"
        );
        assert!(
            org_id::Entity::find_by_id(9)
                .one(&t.db)
                .await
                .expect("find")
                .is_none(),
            "row compensated"
        );
        assert_eq!(
            strings(&t.db, "SELECT title FROM org_9.post").await,
            ["old owner data"]
        );
    }
}
