//! The `tenant_migration` binary end to end: public migrations, organizations, then the
//! tenant CLI's commands and exit codes.

use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use sea_orm_migration::MigratorTrait;
use sea_tenant::{ConnectError, DEFAULT_VERSION_TABLE, Error, Outcome, TenantMigrator, tenants};
use sea_tenant_tests::cluster::PrivateCluster;
use sea_tenant_tests::{
    TestDb, connect, lazy, server_url, strings, tables, url_with_database, url_with_user, versions,
};

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

/// `command` through the binary on a pseudo-terminal (util-linux `script`), `answer` typed at
/// its prompt; returns the exit code and everything the terminal showed.
fn on_terminal(url: &str, command: &str, answer: &str) -> (Option<i32>, String) {
    use std::io::Write;
    let line = format!("{} {command}", env!("CARGO_BIN_EXE_tenant_migration"));
    let mut child = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tenant_migration under script");
    // Typed once the prompt is up: `script` forwards it to the terminal the binary reads.
    std::thread::sleep(Duration::from_millis(1500));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(format!("{answer}\n").as_bytes())
        .expect("type the answer");
    drop(stdin);
    let out = child.wait_with_output().expect("script");
    (
        out.status.code(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

/// Whether the row `marker` is still in `org_acme.project`.
async fn marker_kept(t: &TestDb) -> bool {
    !strings(
        &t.db,
        "SELECT name FROM org_acme.project WHERE name = 'marker'",
    )
    .await
    .is_empty()
}

#[tokio::test]
async fn fresh_over_every_tenant_needs_consent() {
    let t = app_db("cli_consent", &["acme", "globex"]).await;
    assert_eq!(tenant_cli(&t.url, &["up"]).status.code(), Some(0));
    t.db.execute_unprepared("INSERT INTO org_acme.project (name) VALUES ('marker')")
        .await
        .expect("marker row");

    // Not a terminal: refused with exit 2, the count and the flag named, nothing dropped.
    for command in ["fresh", "reset", "refresh"] {
        let out = tenant_cli(&t.url, &[command]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains(&format!("{command} would touch every tenant (2 tenant(s))"))
                && stderr.contains("--all-tenants"),
            "{command}: {stderr}"
        );
        assert!(marker_kept(&t).await, "{command} dropped data unconfirmed");
    }
    // A selection needs no consent.
    let one = tenant_cli(&t.url, &["refresh", "--tenant", "org_globex"]);
    assert_eq!(one.status.code(), Some(0), "{}", text(&one.stderr));

    // A terminal: asked; a wrong answer stops with nothing done, the count goes on.
    let (code, shown) = on_terminal(&t.url, "fresh", "3");
    assert!(
        shown.contains("fresh would touch every tenant: 2 tenant(s). Type 2 to go on"),
        "{shown}"
    );
    assert_eq!(code, Some(2), "{shown}");
    assert!(marker_kept(&t).await, "a wrong answer dropped data");
    let (code, shown) = on_terminal(&t.url, "fresh", "2");
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        !marker_kept(&t).await,
        "fresh confirmed on the terminal ran"
    );

    // --all-tenants: no question.
    let out = tenant_cli(&t.url, &["reset", "--all-tenants"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(tables(&t.db, "org_acme").await, [DEFAULT_VERSION_TABLE]);
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

// ---------------------------------------------------------------------------------------
// Connection errors: exit code 2, with a message that says which server and why.
// ---------------------------------------------------------------------------------------

/// [`tenant_cli`], timed.
fn timed_cli(url: &str, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = tenant_cli(url, args);
    (out, started.elapsed())
}

/// Asserts that the CLI exited with 2 (a connection error) and that stderr holds every one of
/// `expected`, and not the pool's or the listing's words, which say neither where nor why.
fn assert_connect_error(out: &Output, expected: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {stderr}",
        text(&out.stdout)
    );
    for piece in expected {
        assert!(stderr.contains(piece), "{piece:?} is not in: {stderr}");
    }
    assert!(!stderr.contains("pool timed out"), "{stderr}");
    assert!(!stderr.contains("listing tenants failed"), "{stderr}");
}

/// `command` against `url` (a server at `addr` that never answers, `?connect_timeout=2`) exits
/// 2 saying so, after the URL's timeout: not the default 10 s, nor a pool's.
fn assert_no_answer_within_2s(url: &str, command: &str, addr: &str) {
    let (out, elapsed) = timed_cli(url, &[command]);
    assert_connect_error(
        &out,
        &[
            &format!("connecting to postgres@{addr}/app failed"),
            "the server did not answer within the connect timeout (2s)",
        ],
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(6),
        "{command}: {elapsed:?}"
    );
}

/// A loopback port whose listener accepts every connection and never writes a byte, with how
/// many connections it accepted. The listener and the connections live until the test
/// process ends.
fn silent_server() -> (u16, Arc<AtomicUsize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for socket in listener.incoming() {
            held.push(socket);
            count.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, accepted)
}

#[test]
fn a_server_that_never_answers_exits_2_after_the_connect_timeout() {
    let (port, accepted) = silent_server();
    let url = format!("postgres://postgres@127.0.0.1:{port}/app?connect_timeout=2");
    for command in ["status", "up"] {
        assert_no_answer_within_2s(&url, command, &format!("127.0.0.1:{port}"));
    }
    assert!(
        accepted.load(Ordering::SeqCst) >= 2,
        "the CLI never connected"
    );
}

#[tokio::test]
async fn a_connection_that_never_completes_exits_2_after_the_connect_timeout() {
    // A listener that is never accepted from, with a listen queue of one: once it is full,
    // Linux drops every further SYN, so a connect hangs as with a firewall that drops packets.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bind a loopback port");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("its address");
    let mut queued = Vec::new();
    loop {
        assert!(
            queued.len() < 16,
            "the listen queue never filled: no connection that never completes to test with"
        );
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(stream) => queued.push(stream),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(e) => panic!("filling the listen queue: {e}"),
        }
    }

    let url = format!("postgres://postgres@{addr}/app?connect_timeout=2");
    assert_no_answer_within_2s(&url, "up", &addr.to_string());
    drop(listener);
}

#[test]
fn a_closed_port_exits_2_at_once_with_connection_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    // The listener is gone: nothing listens on the port.
    let (out, elapsed) = timed_cli(
        &format!("postgres://postgres@127.0.0.1:{port}/app"),
        &["status"],
    );
    assert_connect_error(
        &out,
        &[&format!(
            "connecting to postgres@127.0.0.1:{port}/app failed: Connection refused"
        )],
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn a_database_that_does_not_exist_exits_2_naming_it() {
    let url = url_with_database(&server_url(), "no_such_db");
    for command in ["status", "up"] {
        let (out, elapsed) = timed_cli(&url, &[command]);
        assert_connect_error(
            &out,
            &["/no_such_db failed: the server rejected the connection: \
                 database \"no_such_db\" does not exist (SQLSTATE 3D000)"],
        );
        assert!(elapsed < Duration::from_secs(3), "{command}: {elapsed:?}");
    }
}

#[test]
fn a_user_that_does_not_exist_exits_2_naming_it() {
    let url = url_with_user(&server_url(), "no_such_role");
    let (out, elapsed) = timed_cli(&url, &["status"]);
    assert_connect_error(
        &out,
        &[
            "connecting to no_such_role@",
            "the server rejected the connection: role \"no_such_role\" does not exist \
             (SQLSTATE 28000)",
        ],
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_exits_2_and_the_right_one_connects() {
    // The shared server trusts every loopback connection; a private cluster asks `app` for a
    // password (SCRAM), the superuser still trusted.
    let cluster = PrivateCluster::start("cli_password", &["password_encryption = 'scram-sha-256'"]);
    let admin = connect(&cluster.url("postgres"), 1).await;
    admin
        .execute_unprepared("CREATE ROLE app LOGIN PASSWORD 'right-pw'")
        .await
        .expect("create the role");
    let hba = strings(&admin, "SHOW hba_file").await.remove(0);
    admin
        .execute_unprepared(&format!(
            "COPY (VALUES ('local all all trust'), ('host all postgres 127.0.0.1/32 trust'), \
             ('host all all 127.0.0.1/32 scram-sha-256')) TO '{}'; SELECT pg_reload_conf()",
            hba.replace('\'', "''")
        ))
        .await
        .expect("password authentication for app");
    let wrong = url_with_user(&cluster.url("postgres"), "app:wrong-pw");
    // The postmaster reloads its configuration in its own time.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut options = ConnectOptions::new(wrong.clone());
        options.max_connections(1).sqlx_logging(false);
        match Database::connect(options).await {
            Err(e) if e.to_string().contains("password authentication failed") => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "pg_hba.conf was not reloaded: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    let (out, elapsed) = timed_cli(&wrong, &["status"]);
    assert_connect_error(
        &out,
        &[&format!(
            "connecting to app@127.0.0.1:{}/postgres failed: the server rejected the \
             connection: password authentication failed for user \"app\" (SQLSTATE 28P01)",
            cluster.port
        )],
    );
    assert!(
        !text(&out.stderr).contains("wrong-pw"),
        "the password is shown"
    );
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");

    // With the right password it connects: the listing then fails on its own (this database
    // has no organization table), a failure of the run, not of the connection.
    let right = url_with_user(&cluster.url("postgres"), "app:right-pw");
    let out = tenant_cli(&right, &["status"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("listing tenants failed: relation \"public.organization\" does not exist"),
        "{stderr}"
    );
    admin.close().await.ok();
}

#[tokio::test]
async fn the_library_reports_the_same_connect_errors() {
    // The tenant listing runs on the application's pool: a database that does not exist is
    // the run's `Error::Connect`, with the server's SQLSTATE and where it went.
    let db = lazy(&url_with_database(&server_url(), "no_such_db")).await;
    let result = TenantMigrator::new(
        db,
        tenant_migration::Migrator,
        tenant_migration::all_tenants(),
    )
    .status()
    .await;
    match &result {
        Err(Error::Connect(ConnectError::Rejected {
            target, sqlstate, ..
        })) => {
            assert_eq!(sqlstate, "3D000");
            assert!(target.ends_with("/no_such_db"), "{target}");
        }
        other => panic!("expected Error::Connect(Rejected): {other:?}"),
    }

    // A listing that does not read the database: the catalog read meets the silent server,
    // and every tenant fails with that same error; the CLI's exit code for it is 2.
    let (port, _) = silent_server();
    let db = lazy(&format!("postgres://postgres@127.0.0.1:{port}/app")).await;
    let started = Instant::now();
    let report = TenantMigrator::new(
        db,
        tenant_migration::Migrator,
        tenants::fixed(["org_a", "org_b"]),
    )
    .connect_timeout(Duration::from_secs(1))
    .up(None)
    .await
    .expect("a report");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(report.tenants.len(), 2);
    for tenant in &report.tenants {
        match &tenant.outcome {
            Outcome::Failed {
                error:
                    Error::TenantConnect {
                        source: ConnectError::NoAnswer { target, timeout },
                        ..
                    },
                ..
            } => {
                assert_eq!(*timeout, Duration::from_secs(1));
                assert_eq!(*target, format!("postgres@127.0.0.1:{port}/app"));
            }
            other => panic!(
                "{}: expected TenantConnect(NoAnswer): {other:?}",
                tenant.tenant
            ),
        }
    }
    assert_eq!(sea_tenant::cli::exit_code(&report), 2);
}

/// Strict mode through the binary: `strict-setup` says what it did, `up` (flags) brings tenants
/// made before strict mode in, `status` (environment variables) passes, and names a tenant
/// whose schema another role may use, with exit code 1.
#[tokio::test]
async fn strict_mode_through_the_binary() {
    let run = std::process::id();
    let (a, b) = (format!("s{run}a"), format!("s{run}b"));
    let t = app_db("cli_strict", &[&a, &b]).await;
    let prefix = format!("cli{run}_");
    let flags = [
        "--strict-runtime-role",
        "st_cli_app",
        "--strict-owner-role",
        "st_cli_owner",
        "--strict-role-prefix",
        prefix.as_str(),
    ];
    let with = |command: &'static str| -> Vec<&str> {
        let mut args = flags.to_vec();
        args.push(command);
        args
    };

    let out = tenant_cli(&t.url, &with("strict-setup"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("done: owner role st_cli_owner exists"),
        "{stdout}"
    );
    assert!(
        stdout.contains("runtime role st_cli_app exists and is NOINHERIT"),
        "{stdout}"
    );

    let out = tenant_cli(&t.url, &with("up"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let roles = strings(
        &t.db,
        &format!("SELECT rolname::text FROM pg_roles WHERE rolname LIKE '{prefix}%' ORDER BY 1"),
    )
    .await;
    assert_eq!(
        roles,
        [format!("{prefix}org_{a}"), format!("{prefix}org_{b}")]
    );
    let owner = strings(
        &t.db,
        &format!("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'org_{a}'"),
    )
    .await;
    assert_eq!(
        owner,
        ["st_cli_owner"],
        "the schema is handed to the owner role"
    );

    let status = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_tenant_migration"))
            .arg("status")
            .env("DATABASE_URL", url)
            .env("SEA_TENANT_STRICT_RUNTIME_ROLE", "st_cli_app")
            .env("SEA_TENANT_STRICT_OWNER_ROLE", "st_cli_owner")
            .env("SEA_TENANT_STRICT_ROLE_PREFIX", &prefix)
            .env_remove("RUST_LOG")
            .output()
            .expect("run tenant_migration")
    };
    let out = status(&t.url);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    t.db.execute_unprepared(&format!("GRANT SELECT ON org_{b}.project TO PUBLIC"))
        .await
        .expect("a grant too wide");
    let out = status(&t.url);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "tenant org_{b} is not kept apart: PUBLIC may use project"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains(&format!("org_{a} is not")), "{stderr}");

    let out = tenant_cli(
        &t.url,
        &[
            "--strict-runtime-role",
            "st_cli_app",
            "--strict-role-prefix",
            "Bad",
            "status",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a half-given strict mode is a usage error"
    );

    for slug in [&a, &b] {
        t.db.execute_unprepared(&format!(
            "DROP SCHEMA org_{slug} CASCADE; DROP ROLE \"{prefix}org_{slug}\""
        ))
        .await
        .expect("clean up");
    }
}
