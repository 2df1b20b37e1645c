//! The multi-tenant migrator against a real PostgreSQL.

use sea_orm::ConnectionTrait;
use sea_tenant::{DEFAULT_VERSION_TABLE, Error, Outcome, TenantMigrator, tenants};
use sea_tenant_tests::fixtures::BlogMigrations;
use sea_tenant_tests::*;

const ALL: [&str; 3] = [
    "m0001_create_post",
    "m0002_create_comment",
    "m0003_add_published",
];

async fn create_schemas(db: &impl ConnectionTrait, names: &[String]) {
    for name in names {
        db.execute_unprepared(&format!("CREATE SCHEMA \"{name}\""))
            .await
            .expect("create schema");
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}_{i}")).collect()
}

fn migrator(t: &TestDb, tenants: &[String]) -> TenantMigrator {
    TenantMigrator::new(
        t.db.clone(),
        BlogMigrations,
        tenants::fixed(tenants.to_vec()),
    )
}

#[tokio::test]
async fn up_creates_tenant_tables_only_in_tenant_schemas_and_is_idempotent() {
    let t = TestDb::new("mig_up").await;
    let orgs = names("org", 3);
    create_schemas(&t.db, &orgs).await;

    let report = migrator(&t, &orgs).up(None).await.expect("run");
    assert!(report.is_success(), "{report}");
    assert_eq!(report.applied_count(), 9, "{report}");
    for org in &orgs {
        assert_eq!(
            tables(&t.db, org).await,
            ["comment", "post", DEFAULT_VERSION_TABLE]
        );
        assert_eq!(versions(&t.db, org, DEFAULT_VERSION_TABLE).await, ALL);
    }
    assert!(
        tables(&t.db, "public").await.is_empty(),
        "public must stay empty"
    );

    let again = migrator(&t, &orgs).up(None).await.expect("run");
    assert!(again.is_success());
    assert_eq!(again.applied_count(), 0);
    for org in &orgs {
        assert!(matches!(
            again.tenant(org).unwrap().outcome,
            Outcome::UpToDate
        ));
    }
    assert!(
        again.summary().contains("3 already up to date"),
        "{}",
        again.summary()
    );

    let default = default_search_path(&t.db).await;
    for path in pooled_search_paths(&t.db, 4).await {
        assert_eq!(path, default);
    }
}

#[tokio::test]
async fn down_on_one_tenant_only_and_status_shows_it() {
    let t = TestDb::new("mig_down").await;
    let orgs = names("org", 3);
    create_schemas(&t.db, &orgs).await;
    migrator(&t, &orgs).up(None).await.expect("up");

    let report = migrator(&t, &orgs)
        .only(["org_1"])
        .down(Some(1))
        .await
        .expect("down");
    assert_eq!(report.tenants.len(), 1);
    assert_eq!(
        report.tenants[0].outcome.rolled_back(),
        ["m0003_add_published"]
    );
    assert_eq!(
        versions(&t.db, "org_1", DEFAULT_VERSION_TABLE).await,
        &ALL[..2]
    );
    assert_eq!(versions(&t.db, "org_0", DEFAULT_VERSION_TABLE).await, ALL);
    let columns = strings(&t.db, "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'org_1' AND table_name = 'post' ORDER BY 1").await;
    assert_eq!(columns, ["id", "title"]);

    let status = migrator(&t, &orgs).status().await.expect("status");
    let pending = |org: &str| match &status.tenant(org).unwrap().outcome {
        Outcome::Status(states) => states
            .iter()
            .filter(|s| !s.applied)
            .map(|s| s.name.to_string())
            .collect::<Vec<_>>(),
        other => panic!("{other}"),
    };
    assert_eq!(pending("org_0"), Vec::<String>::new());
    assert_eq!(pending("org_1"), ["m0003_add_published"]);
    assert!(
        status.to_string().contains("2 applied, 1 pending"),
        "{status}"
    );

    let reset = migrator(&t, &orgs)
        .only(["org_2"])
        .reset()
        .await
        .expect("reset");
    assert_eq!(reset.tenants[0].outcome.rolled_back().len(), 3);
    assert_eq!(tables(&t.db, "org_2").await, [DEFAULT_VERSION_TABLE]);

    // Over every tenant only when asked for: refused, nothing done, the count named.
    let before = versions(&t.db, "org_2", DEFAULT_VERSION_TABLE).await;
    let err = migrator(&t, &orgs)
        .refresh()
        .await
        .expect_err("refresh over every tenant without consent");
    assert!(
        matches!(&err, Error::AllTenantsNotConfirmed { operation, tenants }
            if operation == "refresh" && *tenants == orgs.len()),
        "{err}"
    );
    assert_eq!(
        versions(&t.db, "org_2", DEFAULT_VERSION_TABLE).await,
        before
    );
    let refresh = migrator(&t, &orgs)
        .confirm_all_tenants(true)
        .refresh()
        .await
        .expect("refresh");
    assert!(refresh.is_success(), "{refresh}");
    for org in &orgs {
        assert_eq!(versions(&t.db, org, DEFAULT_VERSION_TABLE).await, ALL);
    }

    t.db.execute_unprepared("INSERT INTO org_0.post (title) VALUES ('kept?')")
        .await
        .unwrap();
    let fresh = migrator(&t, &orgs)
        .only(["org_0"])
        .fresh()
        .await
        .expect("fresh");
    assert_eq!(fresh.tenants[0].outcome.applied().len(), 3, "{fresh}");
    assert_eq!(
        strings(&t.db, "SELECT count(*)::text FROM org_0.post").await,
        ["0"]
    );
}

#[tokio::test]
async fn one_failing_tenant_does_not_stop_the_others_and_a_rerun_completes() {
    let t = TestDb::new("mig_fail").await;
    let orgs = names("org", 3);
    create_schemas(&t.db, &orgs).await;
    t.db.execute_unprepared("CREATE TABLE org_1.comment (conflict int)")
        .await
        .unwrap();

    let report = migrator(&t, &orgs).up(None).await.expect("run");
    assert!(!report.is_success());
    let failed: Vec<_> = report.problems().map(|p| p.tenant.clone()).collect();
    assert_eq!(failed, ["org_1"]);
    match &report.tenant("org_1").unwrap().outcome {
        Outcome::Failed {
            error:
                Error::Migration {
                    tenant,
                    migration,
                    source,
                },
            applied,
            ..
        } => {
            assert_eq!(tenant.as_str(), "org_1");
            assert_eq!(migration, "m0002_create_comment");
            assert!(source.to_string().contains("already exists"), "{source}");
            assert_eq!(
                applied.iter().map(|a| &**a).collect::<Vec<_>>(),
                ["m0001_create_post"]
            );
        }
        other => panic!("unexpected {other}"),
    }
    // PostgreSQL's message and SQLSTATE, not sqlx's "at line N" (a line of PostgreSQL's C
    // source, which reads like a line of the migration).
    let shown = match &report.tenant("org_1").unwrap().outcome {
        Outcome::Failed { error, .. } => error.to_string(),
        other => panic!("unexpected {other}"),
    };
    assert!(
        shown.contains(r#"relation "comment" already exists (SQLSTATE 42P07)"#),
        "{shown}"
    );
    assert!(!shown.contains(" at line "), "{shown}");
    for org in ["org_0", "org_2"] {
        assert_eq!(versions(&t.db, org, DEFAULT_VERSION_TABLE).await, ALL);
    }
    // Nothing of the failed migration remains: its version row and DDL were rolled back.
    assert_eq!(
        versions(&t.db, "org_1", DEFAULT_VERSION_TABLE).await,
        &ALL[..1]
    );
    assert_eq!(
        tables(&t.db, "org_1").await,
        ["comment", "post", DEFAULT_VERSION_TABLE]
    );

    t.db.execute_unprepared("DROP TABLE org_1.comment")
        .await
        .unwrap();
    let rerun = migrator(&t, &orgs).up(None).await.expect("rerun");
    assert!(rerun.is_success(), "{rerun}");
    assert_eq!(rerun.tenant("org_1").unwrap().outcome.applied(), &ALL[1..]);
    assert_eq!(versions(&t.db, "org_1", DEFAULT_VERSION_TABLE).await, ALL);
}

#[tokio::test]
async fn fail_fast_skips_the_rest() {
    let t = TestDb::new("mig_ff").await;
    let orgs = names("org", 4);
    create_schemas(&t.db, &orgs).await;
    t.db.execute_unprepared("CREATE TABLE org_0.post (conflict int)")
        .await
        .unwrap();
    let report = migrator(&t, &orgs)
        .concurrency(1)
        .fail_fast(true)
        .up(None)
        .await
        .unwrap();
    assert!(matches!(report.tenants[0].outcome, Outcome::Failed { .. }));
    for t in &report.tenants[1..] {
        assert!(matches!(t.outcome, Outcome::Skipped), "{}", t.outcome);
    }
    assert!(!schema_has_version_table(&t.db, "org_1").await);
}

async fn schema_has_version_table(db: &impl ConnectionTrait, schema: &str) -> bool {
    tables(db, schema)
        .await
        .iter()
        .any(|t| t == DEFAULT_VERSION_TABLE)
}

#[tokio::test]
async fn two_migrators_at_once_apply_every_migration_exactly_once() {
    let t = TestDb::with_pool_size("mig_race", 2).await;
    let orgs = names("org", 20);
    create_schemas(&t.db, &orgs).await;
    let a = migrator(&t, &orgs).concurrency(4);
    let b = migrator(&t, &orgs).concurrency(4);
    let (ra, rb) = tokio::join!(a.up(None), b.up(None));
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert!(ra.is_success(), "{ra}");
    assert!(rb.is_success(), "{rb}");
    for org in &orgs {
        let total = ra.tenant(org).unwrap().outcome.applied().len()
            + rb.tenant(org).unwrap().outcome.applied().len();
        assert_eq!(total, 3, "{org} applied {total} times in all");
        assert_eq!(versions(&t.db, org, DEFAULT_VERSION_TABLE).await, ALL);
    }
}

#[tokio::test]
async fn concurrency_one_and_eight_leave_identical_schemas() {
    let one = TestDb::new("mig_c1").await;
    let eight = TestDb::new("mig_c8").await;
    let orgs = names("org", 12);
    create_schemas(&one.db, &orgs).await;
    create_schemas(&eight.db, &orgs).await;
    assert!(
        migrator(&one, &orgs)
            .concurrency(1)
            .up(None)
            .await
            .unwrap()
            .is_success()
    );
    assert!(
        migrator(&eight, &orgs)
            .concurrency(8)
            .up(None)
            .await
            .unwrap()
            .is_success()
    );
    let reference = catalog_dump(&one.db, "org_0").await;
    assert!(reference.len() > 5, "{reference:?}");
    for org in &orgs {
        assert_eq!(
            catalog_dump(&one.db, org).await,
            reference,
            "{org} (concurrency 1)"
        );
        assert_eq!(
            catalog_dump(&eight.db, org).await,
            reference,
            "{org} (concurrency 8)"
        );
    }
}

#[tokio::test]
async fn bad_names_are_reported_and_nothing_is_created_for_them() {
    let t = TestDb::new("mig_bad").await;
    let bad = ["Org", "pg_x", &"x".repeat(64), "a\"b", "a;b", "", "public"].map(str::to_owned);
    let mut listed = bad.to_vec();
    listed.push("org_ok".to_owned());
    let before = schemas(&t.db).await;

    let report = TenantMigrator::new(t.db.clone(), BlogMigrations, tenants::fixed(listed))
        .create_missing(true)
        .up(None)
        .await
        .unwrap();
    for name in &bad {
        match &report.tenant(name).unwrap().outcome {
            Outcome::Failed {
                error: Error::InvalidName(e),
                ..
            } => assert_eq!(e.value(), name),
            other => panic!("{name:?}: {other}"),
        }
    }
    assert!(report.tenant("org_ok").unwrap().outcome.applied().len() == 3);
    let mut expected = before.clone();
    expected.push("org_ok".to_owned());
    expected.sort();
    assert_eq!(schemas(&t.db).await, expected);
    assert!(tables(&t.db, "public").await.is_empty());
}

#[tokio::test]
async fn missing_schemas_are_reported_or_created_on_request() {
    let t = TestDb::new("mig_missing").await;
    let orgs = names("org", 2);
    create_schemas(&t.db, &orgs[..1]).await;
    let report = migrator(&t, &orgs).up(None).await.unwrap();
    assert!(matches!(
        report.tenant("org_1").unwrap().outcome,
        Outcome::Missing
    ));
    assert!(!report.is_success());
    assert!(!schema_exists(&t.db, "org_1").await);

    let report = migrator(&t, &orgs)
        .create_missing(true)
        .up(None)
        .await
        .unwrap();
    assert!(report.is_success(), "{report}");
    assert_eq!(versions(&t.db, "org_1", DEFAULT_VERSION_TABLE).await, ALL);
}

#[tokio::test]
async fn selection_by_only_and_except() {
    let t = TestDb::new("mig_sel").await;
    let orgs = names("org", 3);
    create_schemas(&t.db, &orgs).await;
    let report = migrator(&t, &orgs)
        .except(["org_0"])
        .up(None)
        .await
        .unwrap();
    assert_eq!(
        report
            .tenants
            .iter()
            .map(|t| t.tenant.as_str())
            .collect::<Vec<_>>(),
        ["org_1", "org_2"]
    );
    assert!(!schema_has_version_table(&t.db, "org_0").await);
    let err = migrator(&t, &orgs)
        .only(["nope"])
        .up(None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotListed { .. }), "{err}");
}

#[tokio::test]
async fn migrate_tenant_creates_and_completes_a_tenant() {
    let t = TestDb::new("mig_ensure").await;
    let name = sea_tenant::TenantName::new("org_9").unwrap();
    sea_tenant::migrate_tenant::<BlogMigrations>(&t.db, &name)
        .await
        .unwrap();
    assert_eq!(versions(&t.db, "org_9", DEFAULT_VERSION_TABLE).await, ALL);
    sea_tenant::migrate_tenant::<BlogMigrations>(&t.db, &name)
        .await
        .unwrap();
}

async fn fingerprint(db: &impl ConnectionTrait, schema: &str) -> Option<String> {
    let sql = format!(
        "SELECT coalesce(obj_description('\"{schema}\".\"{DEFAULT_VERSION_TABLE}\"'::regclass, 'pg_class'), '')"
    );
    strings(db, &sql).await.pop().filter(|s| !s.is_empty())
}

async fn fingerprint_of(db: &impl ConnectionTrait, versions: &[&str]) -> String {
    let mut sorted = versions.to_vec();
    sorted.sort();
    strings(
        db,
        &format!("SELECT 'sea_tenant:' || md5('{}')", sorted.join(",")),
    )
    .await
    .remove(0)
}

#[tokio::test]
async fn version_tables_carry_a_fingerprint_of_their_rows() {
    let t = TestDb::new("mig_fp").await;
    let orgs = names("org", 2);
    create_schemas(&t.db, &orgs).await;
    migrator(&t, &orgs).up(None).await.unwrap();
    let all = fingerprint_of(&t.db, &ALL).await;
    assert_eq!(
        fingerprint(&t.db, "org_0").await.as_deref(),
        Some(all.as_str())
    );

    // Every rollback step rewrites it.
    migrator(&t, &orgs)
        .only(["org_1"])
        .down(Some(1))
        .await
        .unwrap();
    let two = fingerprint_of(&t.db, &ALL[..2]).await;
    assert_eq!(
        fingerprint(&t.db, "org_1").await.as_deref(),
        Some(two.as_str())
    );

    // A missing fingerprint is restored by the next (no-op) up.
    t.db.execute_unprepared(&format!(
        "COMMENT ON TABLE org_0.{DEFAULT_VERSION_TABLE} IS NULL"
    ))
    .await
    .unwrap();
    let report = migrator(&t, &orgs).only(["org_0"]).up(None).await.unwrap();
    assert!(matches!(report.tenants[0].outcome, Outcome::UpToDate));
    assert_eq!(
        fingerprint(&t.db, "org_0").await.as_deref(),
        Some(all.as_str())
    );

    // migrate_tenant leaves one too.
    let name = sea_tenant::TenantName::new("org_9").unwrap();
    sea_tenant::migrate_tenant::<BlogMigrations>(&t.db, &name)
        .await
        .unwrap();
    assert_eq!(
        fingerprint(&t.db, "org_9").await.as_deref(),
        Some(all.as_str())
    );
}

#[tokio::test]
async fn a_matching_fingerprint_spares_the_read_and_can_be_distrusted() {
    let t = TestDb::new("mig_fp_trust").await;
    let orgs = names("org", 1);
    create_schemas(&t.db, &orgs).await;
    migrator(&t, &orgs).up(None).await.unwrap();
    // Undo the last migration by hand, leaving the fingerprint claiming all three.
    t.db.execute_unprepared(&format!(
        "ALTER TABLE org_0.post DROP COLUMN published; \
         DELETE FROM org_0.{DEFAULT_VERSION_TABLE} WHERE version = 'm0003_add_published'"
    ))
    .await
    .unwrap();

    // Trusted: the table is not read, so the hand edit goes unseen (as documented).
    let trusted = migrator(&t, &orgs).up(None).await.unwrap();
    assert!(
        matches!(trusted.tenants[0].outcome, Outcome::UpToDate),
        "{trusted}"
    );
    // status always reads the table.
    let status = migrator(&t, &orgs).status().await.unwrap();
    assert!(
        status.to_string().contains("2 applied, 1 pending"),
        "{status}"
    );

    // Distrusted: read, re-applied, and the fingerprint is right again.
    let fixed = migrator(&t, &orgs)
        .trust_fingerprints(false)
        .up(None)
        .await
        .unwrap();
    assert_eq!(fixed.tenants[0].outcome.applied(), ["m0003_add_published"]);
    let all = fingerprint_of(&t.db, &ALL).await;
    assert_eq!(
        fingerprint(&t.db, "org_0").await.as_deref(),
        Some(all.as_str())
    );
}

#[tokio::test]
async fn an_invalid_version_table_name_is_refused() {
    let t = TestDb::new("mig_vt").await;
    let orgs = names("org", 1);
    create_schemas(&t.db, &orgs).await;
    let err = migrator(&t, &orgs)
        .version_table("bad$name'")
        .up(None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName(_)), "{err}");
    assert_eq!(tables(&t.db, "org_0").await, Vec::<String>::new());
}

#[tokio::test]
async fn an_unreadable_version_table_fails_only_its_tenant() {
    let t = TestDb::new("mig_unread").await;
    let orgs = names("org", 3);
    create_schemas(&t.db, &orgs).await;
    migrator(&t, &orgs).up(None).await.unwrap();
    t.db.execute_unprepared(&format!(
        "DROP TABLE org_1.{DEFAULT_VERSION_TABLE}; CREATE TABLE org_1.{DEFAULT_VERSION_TABLE} (x int)"
    ))
    .await
    .unwrap();
    // All three share one batch (concurrency 1), whose single query fails on org_1.
    let status = migrator(&t, &orgs).concurrency(1).status().await.unwrap();
    let problems: Vec<_> = status.problems().map(|p| p.tenant.as_str()).collect();
    assert_eq!(problems, ["org_1"], "{status}");
    assert!(matches!(
        status.tenant("org_0").unwrap().outcome,
        Outcome::Status(_)
    ));
    assert!(matches!(
        status.tenant("org_2").unwrap().outcome,
        Outcome::Status(_)
    ));
}
