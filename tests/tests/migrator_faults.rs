//! The migrator under faults: a locked tenant, a server crash, an outage, refused, full and
//! silent servers, bad rows from the tenant source. Crashes and outages run on a private
//! cluster of the test's own (`sea_tenant_tests::cluster`); the rest on a database of its own.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::DbErr;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use sea_orm_migration::{MigrationName, MigrationTrait, MigratorTrait, SchemaManager};
use sea_tenant::{DEFAULT_VERSION_TABLE, Outcome, Progress, Report, TenantMigrator, tenants};
use sea_tenant_tests::cluster::{ClusterCtl, PrivateCluster, signal};
use sea_tenant_tests::fixtures::{BlogMigrations, BlogV2Migrations, CreateComment, CreatePost};
use sea_tenant_tests::*;

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}_{i}")).collect()
}

async fn int(db: &impl ConnectionTrait, sql: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row");
    row.try_get_by_index::<i64>(0)
        .or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))
        .expect("an integer")
}

/// The versions of a tenant, or none when its schema or version table does not exist.
async fn versions_if_any(db: &impl ConnectionTrait, schema: &str) -> Vec<String> {
    if tables(db, schema)
        .await
        .iter()
        .any(|t| t == DEFAULT_VERSION_TABLE)
    {
        versions(db, schema, DEFAULT_VERSION_TABLE).await
    } else {
        Vec::new()
    }
}

/// The whole outcome of a run as one text: an error or the report.
fn text(result: &sea_tenant::Result<Report>) -> String {
    match result {
        Ok(report) => report.to_string(),
        Err(e) => format!("error: {e}"),
    }
}

/// Records when each tenant finished.
#[derive(Default)]
struct Timeline(Mutex<Vec<(String, Instant)>>);

impl Progress for Timeline {
    fn tenant_done(&self, tenant: &str, _outcome: &Outcome) {
        self.0
            .lock()
            .unwrap()
            .push((tenant.to_owned(), Instant::now()));
    }
}

// ---------------------------------------------------------------------------------------
// Item 7: a locked tenant times out, is reported with its blocker, and holds nobody back.
// ---------------------------------------------------------------------------------------

/// Brings `orgs` to the first two migrations, so that the third (`ALTER TABLE post`) is
/// pending and needs an exclusive lock on `post`.
async fn at_v2(t: &TestDb, orgs: &[String]) {
    let report = TenantMigrator::new(
        t.db.clone(),
        BlogV2Migrations,
        tenants::fixed(orgs.to_vec()),
    )
    .create_missing(true)
    .up(None)
    .await
    .expect("run");
    assert!(report.is_success(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_tenant_fails_with_lock_timeout_naming_its_blocker_and_the_rest_complete() {
    let t = TestDb::new("flt_lock").await;
    let orgs = names("lk", 8);
    at_v2(&t, &orgs).await;

    // Another session reads lk_3.post in an open transaction: ALTER TABLE has to wait for it.
    let other = t.pool(1).await;
    let blocker = other.begin().await.expect("begin");
    let blocker_pid = int(&blocker, "SELECT pg_backend_pid()").await;
    int(&blocker, "SELECT count(*) FROM lk_3.post").await;

    let started = Instant::now();
    let run = async {
        TenantMigrator::new(t.db.clone(), BlogMigrations, tenants::fixed(orgs.clone()))
            .concurrency(2)
            .lock_timeout(Duration::from_millis(300))
            .up(None)
            .await
    };
    let report = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run must end while the lock is still held")
        .expect("run");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    for org in orgs.iter().filter(|o| *o != "lk_3") {
        assert_eq!(
            report.tenant(org).unwrap().outcome.applied().len(),
            1,
            "{report}"
        );
        assert_eq!(versions(&t.db, org, DEFAULT_VERSION_TABLE).await.len(), 3);
    }
    let locked = &report.tenant("lk_3").unwrap().outcome;
    assert!(matches!(locked, Outcome::Failed { .. }), "{report}");
    let line = locked.to_string();
    assert!(line.contains("lock timeout"), "{line}");
    assert!(
        line.contains(&blocker_pid.to_string()),
        "the blocking process {blocker_pid} must be named: {line}"
    );
    // Nothing of the timed-out migration remains.
    assert_eq!(
        versions(&t.db, "lk_3", DEFAULT_VERSION_TABLE).await.len(),
        2
    );
    assert_eq!(
        int(
            &t.db,
            "SELECT count(*) FROM information_schema.columns \
             WHERE table_schema = 'lk_3' AND column_name = 'published'"
        )
        .await,
        0
    );

    blocker.rollback().await.expect("rollback");
    let rerun = TenantMigrator::new(t.db.clone(), BlogMigrations, tenants::fixed(orgs.clone()))
        .lock_timeout(Duration::from_millis(300))
        .up(None)
        .await
        .expect("rerun");
    assert!(rerun.is_success(), "{rerun}");
    assert_eq!(rerun.applied_count(), 1, "{rerun}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_tenant_never_holds_back_the_tenants_queued_behind_it() {
    let t = TestDb::new("flt_queue").await;
    let orgs = names("qu", 10);
    at_v2(&t, &orgs).await;

    let other = t.pool(1).await;
    let blocker = other.begin().await.expect("begin");
    // The first tenant of the list: with batches it would sit at the head of one.
    int(&blocker, "SELECT count(*) FROM qu_0.post").await;

    let timeline = Arc::new(Timeline::default());
    let started = Instant::now();
    let run = async {
        TenantMigrator::new(t.db.clone(), BlogMigrations, tenants::fixed(orgs.clone()))
            .concurrency(2)
            .lock_timeout(Duration::from_secs(4))
            .lock_retries(0)
            .progress(timeline.clone())
            .up(None)
            .await
    };
    let report = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run must end while the lock is still held")
        .expect("run");
    blocker.rollback().await.expect("rollback");

    let finished = timeline.0.lock().unwrap().clone();
    assert_eq!(finished.len(), orgs.len());
    for (tenant, at) in &finished {
        let after = at.duration_since(started);
        if tenant == "qu_0" {
            assert!(after >= Duration::from_secs(4), "{tenant} after {after:?}");
        } else {
            // Well before the waiting tenant gives up.
            assert!(
                after < Duration::from_secs(3),
                "{tenant} had to wait for qu_0: done after {after:?}\n{report}"
            );
        }
    }
    assert_eq!(report.applied_count(), 9, "{report}");
    assert!(
        report
            .tenant("qu_0")
            .unwrap()
            .outcome
            .to_string()
            .contains("lock timeout"),
        "{report}"
    );
}

// ---------------------------------------------------------------------------------------
// Item 8: after a crash, nothing is reported committed that the crash took away.
// ---------------------------------------------------------------------------------------

/// What the crashing migration does: set by the test, taken (so it runs once).
static CRASH: Mutex<Option<ClusterCtl>> = Mutex::new(None);
static WALWRITER: AtomicUsize = AtomicUsize::new(0);

struct CrashServer;

impl MigrationName for CrashServer {
    fn name(&self) -> &str {
        "m0003_crash_server"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CrashServer {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ctl = CRASH.lock().unwrap().take();
        if let Some(ctl) = ctl {
            // The WAL writer is stopped (see the test), so the asynchronous commits before
            // this migration are still in shared memory: kill it and shut down at once.
            signal(WALWRITER.load(Ordering::SeqCst) as i32, "KILL");
            ctl.crash();
        }
        manager
            .get_connection()
            .execute_unprepared("CREATE TABLE after_crash (id int)")
            .await
            .map(|_| ())
    }
}

struct CrashingMigrations;

impl MigratorTrait for CrashingMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreatePost),
            Box::new(CreateComment),
            Box::new(CrashServer),
        ]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_crash_the_report_claims_nothing_the_crash_took_away() {
    let cluster = PrivateCluster::start(
        "durable",
        &[
            "autovacuum = off",
            "bgwriter_lru_maxpages = 0",
            "wal_writer_delay = 10000ms",
        ],
    );
    let db = connect(&cluster.url("postgres"), 2).await;
    // Freeze the WAL writer: an asynchronous commit then stays in WAL buffers until a
    // synchronous commit flushes it, exactly the window an immediate crash can hit.
    let walwriter = int(
        &db,
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'",
    )
    .await;
    WALWRITER.store(walwriter as usize, Ordering::SeqCst);
    signal(walwriter as i32, "STOP");
    *CRASH.lock().unwrap() = Some(cluster.ctl());

    let run = async {
        TenantMigrator::new(db.clone(), CrashingMigrations, tenants::fixed(["dur_a"]))
            .create_missing(true)
            .concurrency(1)
            .up(None)
            .await
    };
    let report = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run must end")
        .expect("run");
    db.close().await.ok();
    let outcome = &report.tenant("dur_a").unwrap().outcome;
    assert!(matches!(outcome, Outcome::Failed { .. }), "{report}");
    let claimed: Vec<String> = outcome.applied().iter().map(|s| s.to_string()).collect();
    let line = outcome.to_string();

    cluster.start_again();
    let db = connect(&cluster.url("postgres"), 2).await;
    let present = versions_if_any(&db, "dur_a").await;
    for version in &claimed {
        assert!(
            present.contains(version),
            "reported committed but lost in the crash: {version} (present: {present:?})\n{line}"
        );
    }
    if let Some(at) = line.find("committed before the failure: applied ") {
        let n: usize = line[at + 38..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .unwrap();
        assert!(
            n <= present.len(),
            "claims {n}, {present:?} survived: {line}"
        );
    }
    if present.len() < 2 {
        // What was lost was labelled as such.
        assert!(line.contains("not confirmed"), "{line}");
    }

    // A rerun completes.
    let rerun = TenantMigrator::new(db.clone(), CrashingMigrations, tenants::fixed(["dur_a"]))
        .create_missing(true)
        .up(None)
        .await
        .expect("rerun");
    assert!(rerun.is_success(), "{rerun}");
    assert_eq!(versions(&db, "dur_a", DEFAULT_VERSION_TABLE).await.len(), 3);
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------------
// Item 9: an outage stops the run promptly; the rest are reported as not attempted.
// ---------------------------------------------------------------------------------------

/// Crashes the cluster (and leaves it down) when the `after`-th tenant is done.
struct CrashAfter {
    ctl: ClusterCtl,
    after: usize,
    done: AtomicUsize,
    crashed: AtomicBool,
}

impl Progress for CrashAfter {
    fn tenant_done(&self, _tenant: &str, _outcome: &Outcome) {
        if self.done.fetch_add(1, Ordering::SeqCst) + 1 >= self.after
            && !self.crashed.swap(true, Ordering::SeqCst)
        {
            self.ctl.crash();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_stops_the_run_promptly_and_reports_the_rest_not_attempted() {
    let cluster = PrivateCluster::start("outage", &[]);
    let db = connect(&cluster.url("postgres"), 2).await;
    let orgs = names("out", 60);
    let progress = Arc::new(CrashAfter {
        ctl: cluster.ctl(),
        after: 3,
        done: AtomicUsize::new(0),
        crashed: AtomicBool::new(false),
    });

    let started = Instant::now();
    let run = async {
        // A tenant that was mid-way when the server went may still wait one connect
        // timeout for its pool; the run as a whole must end about then, not per tenant.
        TenantMigrator::new(db.clone(), BlogMigrations, tenants::fixed(orgs.clone()))
            .create_missing(true)
            .concurrency(2)
            .connect_timeout(Duration::from_secs(3))
            .progress(progress)
            .up(None)
            .await
    };
    let report = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run must end promptly while the server is down")
        .expect("run");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}\n{report}");
    assert!(!report.is_success());

    let done: Vec<&str> = report
        .tenants
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Changed { .. }))
        .map(|t| t.tenant.as_str())
        .collect();
    let failed = report
        .tenants
        .iter()
        .filter(|t| matches!(t.outcome, Outcome::Failed { .. }))
        .count();
    let not_attempted = report
        .tenants
        .iter()
        .filter(|t| t.outcome.to_string().contains("not attempted"))
        .count();
    assert!(done.len() >= 3, "{report}");
    // A circuit breaker, not one failure per tenant.
    assert!(failed <= 8, "{failed} tenants failed one by one:\n{report}");
    assert_eq!(done.len() + failed + not_attempted, orgs.len(), "{report}");
    assert!(
        report.summary().contains("not attempted"),
        "{}",
        report.summary()
    );

    // Nothing half-applied; every tenant reported done is complete.
    cluster.start_again();
    let db = connect(&cluster.url("postgres"), 2).await;
    for org in &orgs {
        let present = versions_if_any(&db, org).await;
        let tables = tables(&db, org).await;
        if present.iter().any(|v| v == "m0001_create_post") {
            assert!(tables.contains(&"post".to_owned()), "{org}");
        }
        if present.iter().any(|v| v == "m0002_create_comment") {
            assert!(tables.contains(&"comment".to_owned()), "{org}");
        }
        if done.contains(&org.as_str()) {
            assert_eq!(present.len(), 3, "{org}");
        }
    }
    let rerun = TenantMigrator::new(db.clone(), BlogMigrations, tenants::fixed(orgs.clone()))
        .create_missing(true)
        .up(None)
        .await
        .expect("rerun");
    assert!(rerun.is_success(), "{rerun}");
    db.close().await.ok();
}

// ---------------------------------------------------------------------------------------
// Item 10: connection errors fail fast and say what happened.
// ---------------------------------------------------------------------------------------

/// Runs `up` for one tenant on `db` (whose server cannot be reached) and returns the whole
/// outcome as text, after checking it came in under 5 s, not after the pool's timeout.
async fn fails_fast(db: DatabaseConnection, connect_timeout: Option<Duration>) -> String {
    let started = Instant::now();
    let run = async {
        let mut migrator = TenantMigrator::new(db, BlogMigrations, tenants::fixed(["org_a"]));
        if let Some(timeout) = connect_timeout {
            migrator = migrator.connect_timeout(timeout);
        }
        migrator.up(None).await
    };
    let result = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("must not wait for the pool timeout");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    text(&result)
}

#[tokio::test]
async fn a_closed_port_fails_fast_with_connection_refused() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The listener is dropped: nothing listens on the port any more.
    let db = lazy(&format!("postgres://postgres@127.0.0.1:{port}/app")).await;
    let text = fails_fast(db, None).await;
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains("pool timed out"), "{text}");
}

#[tokio::test]
async fn a_silent_peer_fails_after_the_connect_timeout() {
    // Accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    let server = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });

    let db = lazy(&format!("postgres://postgres@127.0.0.1:{port}/app")).await;
    let text = fails_fast(db, Some(Duration::from_secs(1))).await;
    assert!(text.contains("connect timeout"), "{text}");

    // The command line honours `?connect_timeout=` in the URL.
    let url = format!("postgres://postgres@127.0.0.1:{port}/app?connect_timeout=1");
    let started = Instant::now();
    let cli = sea_tenant::cli::run_cli_with(
        ["tenant_migration", "-u", url.as_str(), "status"],
        BlogMigrations,
        tenants::fixed(["org_a"]),
        std::path::Path::new("."),
    );
    let code = tokio::time::timeout(Duration::from_secs(20), cli)
        .await
        .expect("the CLI must honour connect_timeout");
    assert_ne!(code, 0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_fails_fast_with_too_many_clients() {
    let cluster = PrivateCluster::start(
        "full",
        &["max_connections = 3", "superuser_reserved_connections = 0"],
    );
    let mut holders = Vec::new();
    for _ in 0..3 {
        let db = connect(&cluster.url("postgres"), 1).await;
        int(&db, "SELECT 1").await;
        holders.push(db);
    }
    let db = lazy(&cluster.url("postgres")).await;
    let text = fails_fast(db, None).await;
    assert!(text.contains("too many clients"), "{text}");
    for db in holders {
        db.close().await.ok();
    }
}

// ---------------------------------------------------------------------------------------
// Item 11: a bad row from the tenant source is one failed entry, not an aborted run.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_null_tenant_row_is_reported_and_the_others_are_migrated() {
    let t = TestDb::new("flt_null").await;
    t.db.execute_unprepared(
        "CREATE TABLE public.org (id int PRIMARY KEY, schema_name text); \
         INSERT INTO public.org VALUES (1, 'nul_a'), (2, NULL), (3, 'nul_b')",
    )
    .await
    .unwrap();
    let report = TenantMigrator::new(
        t.db.clone(),
        BlogMigrations,
        tenants::from_query("SELECT schema_name FROM public.org ORDER BY id"),
    )
    .create_missing(true)
    .up(None)
    .await
    .expect("a NULL row must not abort the run");
    assert_eq!(report.tenants.len(), 3, "{report}");
    for org in ["nul_a", "nul_b"] {
        assert_eq!(
            report.tenant(org).unwrap().outcome.applied().len(),
            3,
            "{report}"
        );
        assert_eq!(versions(&t.db, org, DEFAULT_VERSION_TABLE).await.len(), 3);
    }
    let bad: Vec<_> = report.problems().collect();
    assert_eq!(bad.len(), 1, "{report}");
    let line = bad[0].outcome.to_string();
    assert!(line.contains("NULL") && line.contains("row 2"), "{line}");

    // An empty list is worth a warning.
    let empty = TenantMigrator::new(
        t.db.clone(),
        BlogMigrations,
        tenants::from_query("SELECT schema_name FROM public.org WHERE false"),
    )
    .up(None)
    .await
    .expect("run");
    assert!(empty.to_string().contains("no tenants"), "{empty}");
}
