//! The `tenant_migration` binary end to end: public migrations, organizations, then the
//! tenant CLI's commands and exit codes.

use std::process::{Command, Output};

use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;
use sea_tenant::DEFAULT_VERSION_TABLE;
use sea_tenant_tests::{TestDb, tables, versions};

fn tenant_cli(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenant_migration"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tenant_migration")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn app_db(label: &str, slugs: &[&str]) -> TestDb {
    let t = TestDb::new(label).await;
    migration::Migrator::up(&t.db, None)
        .await
        .expect("public migrations");
    for slug in slugs {
        t.db.execute_unprepared(&format!(
            "INSERT INTO organization (slug, name) VALUES ('{slug}', '{slug}'); CREATE SCHEMA org_{slug}"
        ))
        .await
        .expect("organization");
    }
    t
}

#[tokio::test]
async fn up_status_down_through_the_binary() {
    let t = app_db("cli_up", &["acme", "globex", "initech"]).await;

    let out = tenant_cli(&t.url, &["up"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("org_acme"), "{stdout}");
    assert!(stdout.contains("6 migrations applied"), "{stdout}");
    for org in ["org_acme", "org_globex", "org_initech"] {
        assert_eq!(
            tables(&t.db, org).await,
            ["project", DEFAULT_VERSION_TABLE, "task"]
        );
    }
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

    let again = tenant_cli(&t.url, &["up"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        text(&again.stdout).contains("3 already up to date"),
        "{}",
        text(&again.stdout)
    );

    let down = tenant_cli(&t.url, &["down", "--tenant", "org_globex"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
    assert_eq!(
        versions(&t.db, "org_globex", DEFAULT_VERSION_TABLE)
            .await
            .len(),
        1
    );

    let status = tenant_cli(&t.url, &["status"]);
    assert_eq!(status.status.code(), Some(0));
    let stdout = text(&status.stdout);
    assert!(
        stdout.contains("org_globex: pending m20260101_000002_create_task"),
        "{stdout}"
    );
    assert!(stdout.contains("2 applied, 0 pending"), "{stdout}");
}

#[tokio::test]
async fn a_failing_tenant_gives_a_non_zero_exit_and_is_listed() {
    let t = app_db("cli_fail", &["acme", "globex"]).await;
    t.db.execute_unprepared("CREATE TABLE org_globex.task (conflict int)")
        .await
        .unwrap();
    let out = tenant_cli(&t.url, &["up", "--concurrency", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("1 tenant(s) did not complete: \"org_globex\""),
        "{stderr}"
    );
    assert!(
        text(&out.stdout)
            .contains("FAILED: tenant org_globex: migration m20260101_000002_create_task failed"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        versions(&t.db, "org_acme", DEFAULT_VERSION_TABLE)
            .await
            .len(),
        2
    );

    // A schema that does not exist is reported, then created on request.
    t.db.execute_unprepared("INSERT INTO organization (slug, name) VALUES ('hooli', 'Hooli')")
        .await
        .unwrap();
    let out = tenant_cli(&t.url, &["up", "--except", "org_globex"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("schema does not exist"));
    let out = tenant_cli(
        &t.url,
        &["up", "--except", "org_globex", "--create-missing"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        versions(&t.db, "org_hooli", DEFAULT_VERSION_TABLE)
            .await
            .len(),
        2
    );
}

#[test]
fn usage_errors_exit_with_two() {
    let out = Command::new(env!("CARGO_BIN_EXE_tenant_migration"))
        .args(["up"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("DATABASE_URL"));
    let out = Command::new(env!("CARGO_BIN_EXE_tenant_migration"))
        .args(["sideways"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn generate_writes_into_the_given_crate() {
    let dir = std::env::temp_dir().join(format!("tenant_cli_gen_{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    std::fs::write(dir.join("src/lib.rs"), &lib).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tenant_migration"))
        .args(["generate", "add_due_date", "-d"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    assert!(lib.contains("_add_due_date::Migration)"), "{lib}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn database_url_from_a_dot_env_file() {
    let t = app_db("cli_dotenv", &["acme"]).await;
    let dir = std::env::temp_dir().join(format!("tenant_cli_dotenv_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".env"), format!("DATABASE_URL={}\n", t.url)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tenant_migration"))
        .args(["up"])
        .current_dir(&dir)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .output()
        .expect("run tenant_migration");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        tables(&t.db, "org_acme").await,
        ["project", DEFAULT_VERSION_TABLE, "task"]
    );
}
