//! Owner entities against a real PostgreSQL: the hooks `#[tenant]` wires create, rename and
//! drop tenant schemas. Every test body runs twice, for the classic `DeriveEntityModel` form
//! and for the `#[sea_orm::model]` form (see `owner_entities`).

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, NotSet, Set};
use sea_tenant::{Error, NameError, owner};
use sea_tenant_tests::owner_entities::OWNER_TABLES_SQL;
use sea_tenant_tests::{TestDb, schema_exists, schemas, strings, tables, versions};

const BLOG_VERSIONS: [&str; 3] = [
    "m0001_create_post",
    "m0002_create_comment",
    "m0003_add_published",
];

async fn setup(label: &str) -> TestDb {
    let t = TestDb::new(label).await;
    t.db.execute_unprepared(OWNER_TABLES_SQL)
        .await
        .expect("owner tables");
    t
}

async fn count(db: &impl ConnectionTrait, sql: &str) -> i64 {
    let rows = strings(db, &format!("SELECT ({sql})::text")).await;
    rows[0].parse().expect("a count")
}

/// `oid` and `xmin` of a schema's catalog row: any DDL on the schema itself changes them.
async fn schema_version(db: &impl ConnectionTrait, schema: &str) -> Vec<String> {
    strings(
        db,
        &format!(
            "SELECT oid::text || '/' || xmin::text FROM pg_namespace WHERE nspname = '{schema}'"
        ),
    )
    .await
}

fn sea_tenant_error(err: &DbErr) -> &Error {
    owner::tenant_error(err).unwrap_or_else(|| panic!("not a sea-tenant error: {err:?}"))
}

/// The test bodies, instantiated once per entity form, on multi-threaded runtimes like the
/// other suites (`TestDb`'s drop works on either flavour: `testing_support.rs`).
macro_rules! owner_suite {
    ($form:ident) => {
        mod $form {
            use super::*;
            use sea_orm::TransactionTrait;
            use sea_tenant_tests::owner_entities::$form::{org_broken, org_id, org_slug};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn insert_creates_schema_at_latest_version() {
                let t = setup(concat!("own_ins_", stringify!($form))).await;
                let org = org_id::ActiveModel {
                    id: Set(7),
                    name: Set("Acme".into()),
                }
                .insert(&t.db)
                .await
                .expect("insert");
                assert_eq!(org.id, 7);
                assert_eq!(org.tenant_name().expect("valid").as_str(), "org_7");
                assert!(schema_exists(&t.db, "org_7").await);
                assert_eq!(
                    tables(&t.db, "org_7").await,
                    ["comment", "post", "seaql_tenant_migrations"]
                );
                assert_eq!(
                    versions(&t.db, "org_7", "seaql_tenant_migrations").await,
                    BLOG_VERSIONS
                );
                // The last migration ran: post has its `published` column.
                t.db.execute_unprepared("INSERT INTO org_7.post (title) VALUES ('x')")
                    .await
                    .expect("tenant table usable");
                assert_eq!(
                    count(&t.db, "SELECT count(*) FROM org_7.post WHERE NOT published").await,
                    1
                );
                // A database-assigned id works too.
                let org = org_id::ActiveModel {
                    id: NotSet,
                    name: Set("Beta".into()),
                }
                .insert(&t.db)
                .await
                .expect("insert");
                assert!(schema_exists(&t.db, &format!("org_{}", org.id)).await);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn insert_in_transaction_follows_it() {
                let t = setup(concat!("own_txn_", stringify!($form))).await;

                let txn = t.db.begin().await.expect("begin");
                txn.execute_unprepared("SET LOCAL search_path = public, pg_temp")
                    .await
                    .expect("set");
                org_id::ActiveModel {
                    id: Set(1),
                    name: Set("Rolled back".into()),
                }
                .insert(&txn)
                .await
                .expect("insert");
                assert!(schema_exists(&txn, "org_1").await, "visible inside the txn");
                assert_eq!(
                    strings(&txn, "SELECT current_setting('search_path')").await,
                    ["public, pg_temp"]
                );
                txn.rollback().await.expect("rollback");
                assert!(!schema_exists(&t.db, "org_1").await);
                assert_eq!(count(&t.db, "SELECT count(*) FROM organization").await, 0);

                let txn = t.db.begin().await.expect("begin");
                let before = strings(&txn, "SELECT current_setting('search_path')").await;
                org_id::ActiveModel {
                    id: Set(2),
                    name: Set("Committed".into()),
                }
                .insert(&txn)
                .await
                .expect("insert");
                assert_eq!(
                    strings(&txn, "SELECT current_setting('search_path')").await,
                    before
                );
                txn.commit().await.expect("commit");
                assert!(schema_exists(&t.db, "org_2").await);
                assert_eq!(
                    versions(&t.db, "org_2", "seaql_tenant_migrations").await,
                    BLOG_VERSIONS
                );
                assert_eq!(count(&t.db, "SELECT count(*) FROM organization").await, 1);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn failed_provisioning_on_a_pool_leaves_nothing() {
                let t = setup(concat!("own_brk_", stringify!($form))).await;
                let before = schemas(&t.db).await;
                let err = org_broken::ActiveModel {
                    id: NotSet,
                    name: Set("Broken".into()),
                }
                .insert(&t.db)
                .await
                .expect_err("provisioning fails");
                assert!(
                    matches!(sea_tenant_error(&err), Error::Tenant { tenant, .. } if tenant.as_str().starts_with("brk_")),
                    "{err}"
                );
                assert!(err.to_string().contains("division by zero"), "{err}");
                assert_eq!(count(&t.db, "SELECT count(*) FROM org_broken").await, 0);
                assert_eq!(schemas(&t.db).await, before);

                // The same inside a transaction: the error comes back and the caller rolls
                // back.
                let txn = t.db.begin().await.expect("begin");
                org_broken::ActiveModel {
                    id: NotSet,
                    name: Set("Broken".into()),
                }
                .insert(&txn)
                .await
                .expect_err("provisioning fails");
                txn.rollback().await.expect("rollback");
                assert_eq!(count(&t.db, "SELECT count(*) FROM org_broken").await, 0);
                assert_eq!(schemas(&t.db).await, before);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rename_follows_the_template_field() {
                let t = setup(concat!("own_ren_", stringify!($form))).await;
                let acme = org_slug::ActiveModel {
                    id: NotSet,
                    slug: Set("acme".into()),
                    name: Set("  Acme  ".into()),
                }
                .insert(&t.db)
                .await
                .expect("insert");
                // The hand-written part of the hook ran as well.
                assert_eq!(acme.name, "Acme");
                t.db.execute_unprepared("INSERT INTO org_acme.post (title) VALUES ('hello')")
                    .await
                    .expect("data");

                let mut am: org_slug::ActiveModel = acme.clone().into();
                am.slug = Set("acme_two".into());
                let renamed = am.update(&t.db).await.expect("rename");
                assert_eq!(renamed.slug, "acme_two");
                assert!(!schema_exists(&t.db, "org_acme").await);
                assert_eq!(
                    strings(&t.db, "SELECT title FROM org_acme_two.post").await,
                    ["hello"]
                );
                assert_eq!(
                    versions(&t.db, "org_acme_two", "seaql_tenant_migrations").await,
                    BLOG_VERSIONS
                );

                // The target name is taken: the update fails, nothing changes.
                org_slug::ActiveModel {
                    id: NotSet,
                    slug: Set("beta".into()),
                    name: Set("Beta".into()),
                }
                .insert(&t.db)
                .await
                .expect("insert");
                let mut am: org_slug::ActiveModel = renamed.clone().into();
                am.slug = Set("beta".into());
                let err = am.update(&t.db).await.expect_err("name taken");
                assert!(
                    matches!(sea_tenant_error(&err), Error::SchemaExists { tenant } if tenant.as_str() == "org_beta"),
                    "{err}"
                );
                let row = org_slug::Entity::find_by_id(renamed.id)
                    .one(&t.db)
                    .await
                    .expect("find")
                    .expect("row");
                assert_eq!(row, renamed);
                assert_eq!(
                    strings(&t.db, "SELECT title FROM org_acme_two.post").await,
                    ["hello"]
                );

                // No template field touched (or set to the same value): no DDL at all.
                let catalog = schema_version(&t.db, "org_acme_two").await;
                let mut am: org_slug::ActiveModel = renamed.clone().into();
                am.name = Set("Acme Two".into());
                am.update(&t.db).await.expect("update name");
                let mut am: org_slug::ActiveModel = renamed.clone().into();
                am.slug = Set("acme_two".into());
                am.name = Set("Acme 2".into());
                let same = am.update(&t.db).await.expect("same slug");
                assert_eq!(same.name, "Acme 2");
                assert_eq!(schema_version(&t.db, "org_acme_two").await, catalog);

                // Inside a transaction the rename rolls back with it.
                let txn = t.db.begin().await.expect("begin");
                let mut am: org_slug::ActiveModel = same.clone().into();
                am.slug = Set("gamma".into());
                am.update(&txn).await.expect("rename in txn");
                assert!(schema_exists(&txn, "org_gamma").await);
                txn.rollback().await.expect("rollback");
                assert!(schema_exists(&t.db, "org_acme_two").await);
                assert!(!schema_exists(&t.db, "org_gamma").await);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn delete_drops_only_when_asked() {
                let t = setup(concat!("own_del_", stringify!($form))).await;
                // drop = true
                let acme = org_slug::ActiveModel {
                    id: NotSet,
                    slug: Set("acme".into()),
                    name: Set("Acme".into()),
                }
                .insert(&t.db)
                .await
                .expect("insert");
                assert!(schema_exists(&t.db, "org_acme").await);
                // Only the primary key: the hook loads the slug itself.
                org_slug::ActiveModel {
                    id: Set(acme.id),
                    ..Default::default()
                }
                .delete(&t.db)
                .await
                .expect("delete");
                assert!(!schema_exists(&t.db, "org_acme").await);

                // default: kept
                let org = org_id::ActiveModel {
                    id: Set(3),
                    name: Set("Kept".into()),
                }
                .insert(&t.db)
                .await
                .expect("insert");
                let am: org_id::ActiveModel = org.into();
                am.delete(&t.db).await.expect("delete");
                assert_eq!(count(&t.db, "SELECT count(*) FROM organization").await, 0);
                assert!(schema_exists(&t.db, "org_3").await);

                // A rolled-back delete keeps the schema even with drop = true.
                let beta = org_slug::ActiveModel {
                    id: NotSet,
                    slug: Set("beta".into()),
                    name: Set("Beta".into()),
                }
                .insert(&t.db)
                .await
                .expect("insert");
                let txn = t.db.begin().await.expect("begin");
                let am: org_slug::ActiveModel = beta.into();
                am.delete(&txn).await.expect("delete");
                assert!(!schema_exists(&txn, "org_beta").await);
                txn.rollback().await.expect("rollback");
                assert!(schema_exists(&t.db, "org_beta").await);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn hostile_slugs_are_typed_errors_and_create_nothing() {
                let t = setup(concat!("own_bad_", stringify!($form))).await;
                let before = schemas(&t.db).await;
                // "org_" + 60 bytes: a 64-byte name, one past the limit.
                let long = "x".repeat(60);
                let cases: [&str; 4] = [
                    "x\"; DROP SCHEMA public CASCADE; --",
                    &long,
                    "Pg_x",
                    "société",
                ];
                for slug in cases {
                    let err = org_slug::ActiveModel {
                        id: NotSet,
                        slug: Set(slug.to_owned()),
                        name: Set("Hostile".into()),
                    }
                    .insert(&t.db)
                    .await
                    .expect_err(slug);
                    match sea_tenant_error(&err) {
                        Error::InvalidName(name_err) => {
                            assert_eq!(name_err.value(), format!("org_{slug}"));
                            if slug.len() == 60 {
                                assert!(matches!(name_err, NameError::TooLong { .. }));
                            } else {
                                assert!(matches!(name_err, NameError::InvalidChar { .. }));
                            }
                        }
                        other => panic!("{slug}: {other:?}"),
                    }
                }
                // An empty slug renders `org_`, a valid name, but not this row's: refused.
                let err = org_slug::ActiveModel {
                    id: NotSet,
                    slug: Set(String::new()),
                    name: Set("Blank".into()),
                }
                .insert(&t.db)
                .await
                .expect_err("empty slug");
                assert!(
                    matches!(
                        sea_tenant_error(&err),
                        Error::EmptyTemplateValue { template: "org_<slug>", field: "slug", name }
                            if name == "org_"
                    ),
                    "{err:?}"
                );
                assert!(err.to_string().contains("<slug> is empty"), "{err}");
                assert_eq!(count(&t.db, "SELECT count(*) FROM org_slug").await, 0);
                assert_eq!(schemas(&t.db).await, before);
                assert!(schema_exists(&t.db, "public").await);
                assert_eq!(tables(&t.db, "public").await, ["org_broken", "org_slug", "organization"]);

                // Renaming to a hostile slug is refused the same way; the row stays.
                let ok = org_slug::ActiveModel {
                    id: NotSet,
                    slug: Set("fine".into()),
                    name: Set("Fine".into()),
                }
                .insert(&t.db)
                .await
                .expect("insert");
                let mut am: org_slug::ActiveModel = ok.clone().into();
                am.slug = Set("x; DROP TABLE org_slug".into());
                let err = am.update(&t.db).await.expect_err("hostile rename");
                assert!(matches!(
                    sea_tenant_error(&err),
                    Error::InvalidName(NameError::InvalidChar { ch: ';', .. })
                ));
                let row = org_slug::Entity::find_by_id(ok.id)
                    .one(&t.db)
                    .await
                    .expect("find")
                    .expect("row");
                assert_eq!(row, ok);
                assert!(schema_exists(&t.db, "org_fine").await);

                // 63 bytes is still fine.
                let slug = "y".repeat(59);
                org_slug::ActiveModel {
                    id: NotSet,
                    slug: Set(slug.clone()),
                    name: Set("Long".into()),
                }
                .insert(&t.db)
                .await
                .expect("63-byte name");
                assert!(schema_exists(&t.db, &format!("org_{slug}")).await);
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn all_tenants_and_repair_after_bulk_insert() {
                use sea_tenant::owner::TenantOwner;
                use sea_tenant::provision::provision_tenant_on;
                type Migrations = sea_tenant_tests::fixtures::BlogMigrations;
                let t = setup(concat!("own_all_", stringify!($form))).await;
                // insert_many runs no hooks: rows without schemas.
                org_id::Entity::insert_many([
                    org_id::ActiveModel {
                        id: Set(11),
                        name: Set("a".into()),
                    },
                    org_id::ActiveModel {
                        id: Set(12),
                        name: Set("b".into()),
                    },
                ])
                .exec(&t.db)
                .await
                .expect("insert_many");
                assert!(!schema_exists(&t.db, "org_11").await);

                let mut names = owner::all_tenants::<org_id::Entity, _>(&t.db)
                    .await
                    .expect("all_tenants");
                names.sort();
                assert_eq!(names, ["org_11", "org_12"]);

                for org in org_id::Entity::find().all(&t.db).await.expect("rows") {
                    let name = org_id::Entity::tenant_of(&org).expect("name");
                    provision_tenant_on::<Migrations, _>(&t.db, &name)
                        .await
                        .expect("ensure");
                    // Idempotent.
                    provision_tenant_on::<Migrations, _>(&t.db, &name)
                        .await
                        .expect("ensure again");
                    assert_eq!(
                        versions(&t.db, name.as_str(), "seaql_tenant_migrations").await,
                        BLOG_VERSIONS
                    );
                }
                assert_eq!(tables(&t.db, "org_12").await, ["comment", "post", "seaql_tenant_migrations"]);
            }
        }
    };
}

owner_suite!(classic);
owner_suite!(dense);

/// The dense format's `ActiveModelEx` builder opens a transaction itself and calls the
/// ActiveModel hooks inside it.
mod dense_builder {
    use super::*;
    use sea_tenant_tests::owner_entities::dense::{org_broken, org_id};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn builder_save_provisions_in_its_transaction() {
        let t = setup("own_builder").await;
        let saved = org_id::ActiveModel::builder()
            .set_name("Built")
            .save(&t.db)
            .await
            .expect("save");
        let id = saved.id.try_as_ref().copied().expect("id");
        assert!(schema_exists(&t.db, &format!("org_{id}")).await);

        let before = schemas(&t.db).await;
        let err = org_broken::ActiveModel::builder()
            .set_name("Broken")
            .save(&t.db)
            .await
            .expect_err("provisioning fails");
        assert!(
            matches!(sea_tenant_error(&err), Error::Tenant { .. }),
            "{err}"
        );
        assert_eq!(count(&t.db, "SELECT count(*) FROM org_broken").await, 0);
        assert_eq!(schemas(&t.db).await, before);
    }
}

/// The connection-generic provisioning primitives the hooks are built on.
mod provisioning {
    use super::*;
    use sea_tenant::TenantName;
    use sea_tenant::provision::{self, MigrationScript};
    use sea_tenant_tests::fixtures::{BlogMigrations, BlogV2Migrations};
    use sea_tenant_tests::{default_search_path, pooled_search_paths};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ensure_applies_only_pending_migrations_and_is_race_free() {
        let t = TestDb::new("own_ensure").await;
        let name = TenantName::new("acme").expect("name");
        provision::create_tenant_on::<BlogV2Migrations, _>(&t.db, &name)
            .await
            .expect("create at v2");
        assert_eq!(
            versions(&t.db, "acme", "seaql_tenant_migrations").await,
            BLOG_VERSIONS[..2]
        );
        let err = provision::create_tenant_on::<BlogMigrations, _>(&t.db, &name)
            .await
            .expect_err("exists");
        assert!(matches!(err, Error::SchemaExists { .. }), "{err}");

        // Two concurrent ensures on a pool: the advisory lock and the in-script pending
        // check make the second one a no-op instead of a duplicate-table error.
        let (a, b) = tokio::join!(
            provision::provision_tenant_on::<BlogMigrations, _>(&t.db, &name),
            provision::provision_tenant_on::<BlogMigrations, _>(&t.db, &name),
        );
        a.expect("ensure a");
        b.expect("ensure b");
        assert_eq!(
            versions(&t.db, "acme", "seaql_tenant_migrations").await,
            BLOG_VERSIONS
        );
        assert_eq!(
            count(
                &t.db,
                "SELECT count(*) FROM information_schema.columns \
                 WHERE table_schema = 'acme' AND table_name = 'post' AND column_name = 'published'"
            )
            .await,
            1
        );
        let script = MigrationScript::of::<BlogMigrations>()
            .await
            .expect("render");
        assert_eq!(script.versions(), BLOG_VERSIONS);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pooled_connections_keep_their_search_path() {
        let t = setup("own_path").await;
        let default = default_search_path(&t.db).await;
        for id in 1..=8 {
            sea_tenant_tests::owner_entities::classic::org_id::ActiveModel {
                id: Set(id),
                name: Set("x".into()),
            }
            .insert(&t.db)
            .await
            .expect("insert");
        }
        for path in pooled_search_paths(&t.db, 4).await {
            assert_eq!(path, default);
        }
    }
}

/// Owners whose entity names no migration set: registered where the application starts, or
/// refused with a typed error that names the registration.
mod registration {
    use super::*;
    use sea_orm::TransactionTrait;
    use sea_tenant::owner::{MigrationSet, register_migrations};
    use sea_tenant_tests::fixtures::BlogMigrations;
    use sea_tenant_tests::owner_entities::registered::{
        TABLES_SQL, org_reg, org_seeded, org_unreg,
    };

    async fn setup(label: &str) -> TestDb {
        let t = TestDb::new(label).await;
        t.db.execute_unprepared(TABLES_SQL).await.expect("tables");
        t
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn registered_at_start_then_inserts_provision() {
        let t = setup("own_reg").await;
        // The application's start.
        register_migrations::<org_reg::Entity, BlogMigrations>();
        register_migrations::<org_seeded::Entity, BlogMigrations>();
        assert_eq!(
            owner::migrations_of::<org_reg::Entity>().expect("registered"),
            MigrationSet::of::<BlogMigrations>()
        );

        // The attribute's own ActiveModelBehavior.
        let org = org_reg::ActiveModel {
            id: NotSet,
            name: Set("Registered".into()),
        }
        .insert(&t.db)
        .await
        .expect("insert");
        let schema = format!("reg_{}", org.id);
        assert_eq!(
            versions(&t.db, &schema, "seaql_tenant_migrations").await,
            BLOG_VERSIONS
        );

        // `hooks = custom`: the entity's after_save ran after sea-tenant created the schema.
        let seeded = org_seeded::ActiveModel {
            id: NotSet,
            slug: Set("acme".into()),
        }
        .insert(&t.db)
        .await
        .expect("insert");
        assert_eq!(seeded.tenant_name().expect("valid").as_str(), "seed_acme");
        assert_eq!(
            versions(&t.db, "seed_acme", "seaql_tenant_migrations").await,
            BLOG_VERSIONS
        );
        assert_eq!(
            strings(&t.db, "SELECT title FROM seed_acme.post").await,
            ["welcome"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn insert_without_a_migration_set_is_refused_and_writes_nothing() {
        let t = setup("own_unreg").await;
        let before = schemas(&t.db).await;
        let expect_refused = |err: DbErr| {
            assert!(
                matches!(
                    sea_tenant_error(&err),
                    Error::NoMigrationSet { entity } if entity.ends_with("org_unreg::Entity")
                ),
                "{err:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains(
                    "sea_tenant::owner::register_migrations::<\
                     sea_tenant_tests::owner_entities::registered::org_unreg::Entity, "
                ),
                "the error names the call to add: {text}"
            );
        };

        let err = org_unreg::ActiveModel {
            id: Set(1),
            name: Set("Nobody registered me".into()),
        }
        .insert(&t.db)
        .await
        .expect_err("no migration set");
        expect_refused(err);
        assert_eq!(count(&t.db, "SELECT count(*) FROM org_unreg").await, 0);
        assert_eq!(schemas(&t.db).await, before);

        // Inside a transaction nothing is written either, and the transaction goes on.
        let txn = t.db.begin().await.expect("begin");
        let err = org_unreg::ActiveModel {
            id: Set(2),
            name: Set("Nor me".into()),
        }
        .insert(&txn)
        .await
        .expect_err("no migration set");
        expect_refused(err);
        assert_eq!(count(&txn, "SELECT count(*) FROM org_unreg").await, 0);
        txn.commit().await.expect("commit");

        // The repair of a row written without hooks says the same.
        org_unreg::Entity::insert(org_unreg::ActiveModel {
            id: Set(3),
            name: Set("Bulk".into()),
        })
        .exec(&t.db)
        .await
        .expect("insert without hooks");
        let row = org_unreg::Entity::find_by_id(3)
            .one(&t.db)
            .await
            .expect("find")
            .expect("row");
        let err = owner::provision_owned_tenant::<org_unreg::Entity, _>(&t.db, &row)
            .await
            .expect_err("no migration set");
        assert!(matches!(err, Error::NoMigrationSet { .. }), "{err:?}");
        assert_eq!(schemas(&t.db).await, before);
    }
}

/// The owner entity as the migrator's tenant source.
mod tenant_source {
    use super::*;
    use sea_tenant::{AllTenants, Outcome, TenantMigrator};
    use sea_tenant_tests::fixtures::BlogMigrations;
    use sea_tenant_tests::owner_entities::classic::org_slug;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tenants_are_listed_in_primary_key_order() {
        let t = setup("own_order").await;
        // Inserted out of order, and a row updated so that the heap order differs too.
        for (id, slug) in [(3, "c"), (1, "a"), (2, "b"), (10, "j")] {
            t.db.execute_unprepared(&format!(
                "INSERT INTO org_slug (id, slug, name) VALUES ({id}, '{slug}', '{slug}')"
            ))
            .await
            .expect("insert without hooks");
        }
        t.db.execute_unprepared("UPDATE org_slug SET name = 'A' WHERE id = 1")
            .await
            .expect("update");
        let expected = ["org_a", "org_b", "org_c", "org_j"];
        assert_eq!(
            owner::all_tenants::<org_slug::Entity, _>(&t.db)
                .await
                .expect("all_tenants"),
            expected
        );
        let listed = owner::tenant_source::<org_slug::Entity>()
            .all_tenants(&t.db)
            .await
            .expect("tenant_source");
        assert_eq!(listed, expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_row_with_an_empty_value_is_a_failed_tenant_not_the_bare_template() {
        let t = setup("own_source").await;
        // insert_many runs no hooks: a row with an empty slug gets in.
        org_slug::Entity::insert_many([
            org_slug::ActiveModel {
                id: Set(1),
                slug: Set("fine".into()),
                name: Set("Fine".into()),
            },
            org_slug::ActiveModel {
                id: Set(2),
                slug: Set(String::new()),
                name: Set("Blank".into()),
            },
        ])
        .exec(&t.db)
        .await
        .expect("insert_many");

        let report = TenantMigrator::new(
            t.db.clone(),
            BlogMigrations,
            owner::tenant_source::<org_slug::Entity>(),
        )
        .create_missing(true)
        .up(None)
        .await
        .expect("up");
        assert_eq!(report.tenants.len(), 2, "{report}");
        assert_eq!(
            report
                .tenant("org_fine")
                .expect("listed")
                .outcome
                .applied()
                .len(),
            BLOG_VERSIONS.len()
        );
        let bad: Vec<_> = report.problems().collect();
        assert_eq!(bad.len(), 1, "{report}");
        assert!(
            matches!(&bad[0].outcome, Outcome::Failed { error, .. } if error.to_string().contains("<slug> is empty")),
            "{report}"
        );
        assert!(!schema_exists(&t.db, "org_").await);
    }
}
