//! The scripted demo runs end to end on a throwaway database and shows what it claims.

use saas_example::demo;
use sea_tenant_tests::{TestDb, schema_exists, schemas, tables};

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_runs_and_leaves_three_healthy_tenants() {
    let t = TestDb::new("demo").await;
    let mut out = Vec::new();
    demo::run_on(&t.db, &mut out).await.expect("demo");
    let text = String::from_utf8(out).unwrap();

    assert!(
        text.contains("acme     projects [\"Acme Corp roadmap\"]; tasks [acme task 1 -> Alice]"),
        "{text}"
    );
    assert!(text.contains("org_globex -> \"org_globex_corp\" (its 2 task(s) moved with it); org_globex exists: false"), "{text}");
    assert!(
        text.contains("rows for it: 0; public intact: true"),
        "{text}"
    );
    assert!(
        text.contains("up: 3 tenants, 3 already up to date, 0 failed"),
        "{text}"
    );

    let all = schemas(&t.db).await;
    for schema in ["org_acme", "org_globex_corp", "org_initech", "public"] {
        assert!(all.contains(&schema.to_owned()), "{all:?}");
    }
    assert!(!schema_exists(&t.db, "org_globex").await);
    assert_eq!(
        tables(&t.db, "org_initech").await,
        ["project", "seaql_tenant_migrations", "task"]
    );
    assert_eq!(
        tables(&t.db, "public").await,
        [
            "invoice",
            "invoice_line",
            "organization",
            "seaql_migrations",
            "user"
        ]
    );
}
