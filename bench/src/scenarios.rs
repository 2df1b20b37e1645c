//! The scenarios B1–B8. Each one measures sea-tenant and its baseline in the same run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use sea_orm::sqlx::{self, Executor};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, Statement};
use sea_orm_migration::MigratorTrait;
use sea_tenant::{TenantMigrator, TenantName, tenants};

use crate::workload::{self, Eleven, TABLES, Ten};
use crate::{Bench, BenchResult, Figure, connect, median, ms, percentile, timed, with_database};

/// B1/B2/B5/B6 run at most this many tenants: their targets are about per-tenant cost, and a
/// 10,000-tenant fresh `up` per round would take most of an hour on two cores.
const MIGRATE_CAP: usize = 1000;

pub async fn run_all(b: &Bench) -> BenchResult<Vec<Figure>> {
    let mut figures = Vec::new();
    let n1 = b.args.tenants.min(MIGRATE_CAP);
    if b.wants("B1") || b.wants("B2") {
        figures.extend(b1_fresh_up(b, n1).await?);
    }
    if b.wants("B2") {
        figures.extend(b2_incremental(b, n1).await?);
    }
    if b.wants("B3") || b.wants("B4") || b.wants("B7") || b.wants("B8") {
        figures.extend(big_run(b).await?);
    }
    if b.wants("B3") || b.wants("B4") {
        figures.extend(b3_b4_noop_and_status(b).await?);
    }
    if b.wants("B5") {
        figures.extend(b5_provisioning(b).await?);
    }
    if b.wants("B6") {
        figures.extend(crate::b6::b6_scoped_queries(b).await?);
    }
    if b.wants("B6S") {
        figures.extend(crate::b6::b6_strict(b).await?);
    }
    Ok(figures)
}

fn ours(b: &Bench, prefix: &str, n: usize) -> TenantMigrator {
    TenantMigrator::new(b.db.clone(), Ten, tenants::fixed(Bench::names(prefix, n)))
        .concurrency(b.args.concurrency)
}

fn ours_eleven(b: &Bench, prefix: &str, n: usize) -> TenantMigrator {
    TenantMigrator::new(
        b.db.clone(),
        Eleven,
        tenants::fixed(Bench::names(prefix, n)),
    )
    .concurrency(b.args.concurrency)
}

fn check(report: &sea_tenant::Report) -> BenchResult {
    if report.is_success() {
        Ok(())
    } else {
        Err(format!("sea-tenant run failed:\n{report}").into())
    }
}

/// What `sea-orm-cli migrate -s <schema>` does for one tenant, minus the process start.
async fn naive_connect(b: &Bench, schema: &str) -> BenchResult<sea_orm::DatabaseConnection> {
    let mut options = ConnectOptions::new(b.url.clone());
    options
        .max_connections(1)
        .sqlx_logging(false)
        .set_schema_search_path(schema);
    Ok(Database::connect(options).await?)
}

/// Times the naive loop over `sample` tenants of `prefix`, running `op` on each.
async fn naive_loop<F>(b: &Bench, prefix: &str, sample: usize, op: F) -> BenchResult<Duration>
where
    F: for<'a> Fn(
        &'a sea_orm::DatabaseConnection,
    ) -> futures::future::BoxFuture<'a, Result<(), sea_orm::DbErr>>,
{
    let start = Instant::now();
    for schema in Bench::names(prefix, sample) {
        let db = naive_connect(b, &schema).await?;
        op(&db).await?;
        db.close().await?;
    }
    Ok(start.elapsed())
}

/// The floor: the same statements over a plain sqlx pool of the same size as sea-tenant's,
/// one transaction per tenant, no bookkeeping at all.
async fn floor_loop(
    b: &Bench,
    prefix: &str,
    n: usize,
    statements: &[String],
) -> BenchResult<Duration> {
    let start = Instant::now();
    let results: Vec<Result<(), sqlx::Error>> = futures::stream::iter(Bench::names(prefix, n))
        .map(|schema| async move {
            let mut tx = b.floor_pool.begin().await?;
            let mut script = format!("SELECT set_config('search_path', '\"{schema}\"', true);");
            for s in statements {
                script.push_str(s);
                script.push(';');
            }
            // One statement per round trip, as a migration tool sends them.
            for stmt in script.split_inclusive(';') {
                (&mut *tx)
                    .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(stmt.to_owned())))
                    .await?;
            }
            tx.commit().await
        })
        .buffer_unordered(b.args.concurrency)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(start.elapsed())
}

fn all_create_sql() -> Vec<String> {
    (1..=TABLES).flat_map(workload::create_sql).collect()
}

async fn b1_fresh_up(b: &Bench, n: usize) -> BenchResult<Vec<Figure>> {
    let k = b.naive_sample(n);
    let (mut o, mut nv, mut fl) = (Vec::new(), Vec::new(), Vec::new());
    let create = all_create_sql();
    for round in 0..b.args.rounds {
        b.fresh_schemas("b1_ours", n).await?;
        let (d, report) = timed(ours(b, "b1_ours", n).up(None)).await;
        check(&report?)?;
        o.push(ms(d));

        b.fresh_schemas("b1_naive", k).await?;
        let d = naive_loop(b, "b1_naive", k, |db| Box::pin(Ten::up(db, None))).await?;
        nv.push(ms(d) * n as f64 / k as f64);

        b.fresh_schemas("b1_floor", n).await?;
        fl.push(ms(floor_loop(b, "b1_floor", n, &create).await?));
        eprintln!(
            "B1 round {}: ours {:.0} ms, naive {:.0} ms (scaled), floor {:.0} ms",
            round + 1,
            o[round],
            nv[round],
            fl[round]
        );
    }
    let scenario = format!("fresh up, {n} tenants x 10 migrations");
    Ok(vec![
        Figure::ratio_at_most(
            "B1",
            &scenario,
            median(o.clone()),
            "naive",
            median(nv),
            0.7,
            "<= 0.7",
        )
        .note(format!("naive timed on {k} tenants, scaled")),
        Figure::ratio_at_most(
            "B1",
            &scenario,
            median(o),
            "floor",
            median(fl),
            1.2,
            "<= 1.2",
        ),
    ])
}

/// Expects B1's tenants at version 10.
async fn b2_incremental(b: &Bench, n: usize) -> BenchResult<Vec<Figure>> {
    let k = b.naive_sample(n);
    let (mut o, mut nv, mut fl) = (Vec::new(), Vec::new(), Vec::new());
    let add = workload::add_note_sql();
    let drop: Vec<String> = (1..=TABLES)
        .map(|i| workload::drop_note(i).to_string(sea_orm::sea_query::PostgresQueryBuilder))
        .collect();
    for round in 0..b.args.rounds {
        let (d, report) = timed(ours_eleven(b, "b1_ours", n).up(None)).await;
        check(&report?)?;
        o.push(ms(d));
        check(&ours_eleven(b, "b1_ours", n).down(Some(1)).await?)?;

        let d = naive_loop(b, "b1_naive", k, |db| Box::pin(Eleven::up(db, None))).await?;
        nv.push(ms(d) * n as f64 / k as f64);
        naive_loop(b, "b1_naive", k, |db| Box::pin(Eleven::down(db, Some(1)))).await?;

        fl.push(ms(floor_loop(b, "b1_floor", n, &add).await?));
        floor_loop(b, "b1_floor", n, &drop).await?;
        eprintln!(
            "B2 round {}: ours {:.0} ms, naive {:.0} ms (scaled), floor {:.0} ms",
            round + 1,
            o[round],
            nv[round],
            fl[round]
        );
    }
    let scenario = format!("incremental up (11th migration), {n} tenants");
    Ok(vec![
        Figure::ratio_at_most(
            "B2",
            &scenario,
            median(o.clone()),
            "naive",
            median(nv),
            0.5,
            "<= 0.5",
        )
        .note(format!("naive timed on {k} tenants, scaled")),
        Figure::ratio_at_most(
            "B2",
            &scenario,
            median(o),
            "floor",
            median(fl),
            1.3,
            "<= 1.3",
        ),
    ])
}

/// Migrates `--tenants` fresh tenants in a child process (B8: its peak RSS; B7: the server
/// backends' memory, sampled meanwhile), plus a tenth of them in another child for B8's
/// comparison. Leaves `big_*` at version 10 for B3 and B4.
async fn big_run(b: &Bench) -> BenchResult<Vec<Figure>> {
    let n = b.args.tenants;
    let small = (n / 10).max(1);
    b.fresh_schemas("big", n).await?;
    b.fresh_schemas("small", small).await?;

    let small_rss = child(b, "small", small).await?.peak_rss_kb;

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn(sample_backend_memory(
        b.url.clone(),
        stop.clone(),
        peak.clone(),
    ));
    let big = child(b, "big", n).await?;
    stop.store(true, Ordering::Relaxed);
    let sampled = sampler.await.unwrap_or(false);
    let peak_backend_kb = peak.load(Ordering::Relaxed) as f64;
    eprintln!(
        "big run: {n} tenants in {:.1} s, client peak RSS {} kB (vs {} kB at {small}); largest backend {} kB",
        big.elapsed_ms / 1000.0,
        big.peak_rss_kb,
        small_rss,
        peak_backend_kb
    );

    let mut figures = Vec::new();
    if b.wants("B7") {
        let limit_kb = 256.0 * 1024.0;
        let figure = Figure::ratio_at_most(
            "B7",
            format!("largest backend memory while migrating {n} tenants"),
            peak_backend_kb,
            "limit",
            limit_kb,
            1.0,
            "<= 256 MB",
        );
        let figure = figure.in_kb();
        figures.push(if sampled {
            figure.note("RssAnon of the server's backends, sampled every 100 ms")
        } else {
            Figure {
                pass: false,
                ..figure.note("server backends' /proc not readable: not measured")
            }
        });
    }
    if b.wants("B8") {
        figures.push(
            Figure::ratio_at_most(
                "B8",
                format!("client peak RSS, {n} vs {small} tenants"),
                big.peak_rss_kb as f64,
                &format!("{small} tenants"),
                small_rss as f64,
                1.5,
                "<= 1.5",
            )
            .note("VmHWM of a child process that runs the migrator")
            .in_kb(),
        );
    }
    Ok(figures)
}

struct ChildResult {
    peak_rss_kb: u64,
    elapsed_ms: f64,
}

async fn child(b: &Bench, prefix: &str, n: usize) -> BenchResult<ChildResult> {
    let exe = std::env::current_exe()?;
    let server = b
        .args
        .database_url
        .clone()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut command = tokio::process::Command::new(exe);
    if b.args.strict {
        command.arg("--strict");
    }
    let out = command
        .arg("--child-migrate")
        .arg(format!("{prefix}:{n}"))
        .arg("--database")
        .arg(&b.args.database)
        .arg("--concurrency")
        .arg(b.args.concurrency.to_string())
        .arg("-u")
        .arg(server)
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "child migrate {prefix}:{n} failed: {}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let field = |key: &str| {
        stdout
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse::<f64>().ok())
    };
    Ok(ChildResult {
        peak_rss_kb: field("peak_rss_kb=").ok_or("child printed no peak_rss_kb")? as u64,
        elapsed_ms: field("elapsed_ms=").unwrap_or(f64::NAN),
    })
}

/// The hidden child mode: migrate `PREFIX:N` tenants, print the peak RSS of this process.
pub async fn child_migrate(server: &str, database: &str, spec: &str) -> BenchResult {
    let (prefix, n) = spec.split_once(':').ok_or("expected PREFIX:N")?;
    let n: usize = n.parse()?;
    let concurrency = std::env::args()
        .skip_while(|a| a != "--concurrency")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(sea_tenant::DEFAULT_CONCURRENCY);
    let db = connect(&with_database(server, database), 2).await?;
    let start = Instant::now();
    let report = TenantMigrator::new(db.clone(), Ten, tenants::fixed(Bench::names(prefix, n)))
        .concurrency(concurrency)
        .up(None)
        .await?;
    check(&report)?;
    let elapsed = start.elapsed();
    let status = std::fs::read_to_string("/proc/self/status")?;
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or("no VmHWM in /proc/self/status")?;
    println!("peak_rss_kb={hwm} elapsed_ms={:.1}", ms(elapsed));
    db.close().await?;
    Ok(())
}

/// Samples the private memory (RssAnon) of every backend connected to the bench database
/// until `stop`; returns whether any backend could be read.
async fn sample_backend_memory(url: String, stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) -> bool {
    let Ok(db) = connect(&url, 1).await else {
        return false;
    };
    let mut readable = false;
    while !stop.load(Ordering::Relaxed) {
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
            ))
            .await
            .unwrap_or_default();
        for row in rows {
            let Ok(pid) = row.try_get_by_index::<i32>(0) else {
                continue;
            };
            let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                continue;
            };
            if let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                readable = true;
                peak.fetch_max(kb, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.close().await.ok();
    readable
}

/// B3 (no-op `up`) and B4 (`status`) over the `big_*` tenants, against the naive loop on a
/// sample of tenants prepared the naive way.
async fn b3_b4_noop_and_status(b: &Bench) -> BenchResult<Vec<Figure>> {
    let n = b.args.tenants;
    let k = b.naive_sample(n);
    b.fresh_schemas("naive", k).await?;
    naive_loop(b, "naive", k, |db| Box::pin(Ten::up(db, None))).await?;

    let mut figures = Vec::new();
    if b.wants("B3") {
        let (mut o, mut nv) = (Vec::new(), Vec::new());
        for _ in 0..b.args.rounds {
            let (d, report) = timed(ours(b, "big", n).up(None)).await;
            let report = report?;
            check(&report)?;
            if report.applied_count() != 0 {
                return Err("B3: the no-op deploy applied migrations".into());
            }
            o.push(ms(d));
            let d = naive_loop(b, "naive", k, |db| Box::pin(Ten::up(db, None))).await?;
            nv.push(ms(d) * n as f64 / k as f64);
        }
        let ours_ms = median(o);
        let scenario = format!("no-op up, {n} tenants");
        figures.push(
            Figure::ratio_at_most(
                "B3",
                &scenario,
                ours_ms,
                "naive",
                median(nv),
                1.0 / 30.0,
                ">= 30x faster (<= 0.033)",
            )
            .note(format!("naive timed on {k} tenants, scaled")),
        );
        figures.push(Figure::ratio_at_most(
            "B3",
            format!("no-op up per tenant, {n} tenants"),
            ours_ms / n as f64,
            "limit",
            0.1,
            1.0,
            "<= 0.1 ms per tenant",
        ));
    }
    if b.wants("B4") {
        let (mut o, mut nv) = (Vec::new(), Vec::new());
        for _ in 0..b.args.rounds {
            let (d, report) = timed(ours(b, "big", n).status()).await;
            check(&report?)?;
            o.push(ms(d));
            let d = naive_loop(b, "naive", k, |db| {
                Box::pin(async move { Ten::get_migration_with_status(db).await.map(|_| ()) })
            })
            .await?;
            nv.push(ms(d) * n as f64 / k as f64);
        }
        figures.push(
            Figure::ratio_at_most(
                "B4",
                format!("status, {n} tenants"),
                median(o),
                "naive",
                median(nv),
                1.0 / 30.0,
                ">= 30x faster (<= 0.033)",
            )
            .note(format!("naive timed on {k} tenants, scaled")),
        );
    }
    Ok(figures)
}

/// The owner entity B5 inserts: each row provisions `b5o_<id>` with the ten migrations.
mod bench_org {
    use sea_orm::entity::prelude::*;

    #[sea_tenant::tenant(template = "b5o_<id>", migrator = crate::workload::Ten)]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bench_org")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// B5: insert an owner row and the tenant is ready (schema + 10 migrations), 100 times;
/// against the same DDL in one transaction over sqlx. `migrate_tenant` (the migrator's path,
/// one transaction per migration) is reported beside it.
async fn b5_provisioning(b: &Bench) -> BenchResult<Vec<Figure>> {
    use sea_orm::{ActiveModelTrait, Set};

    let creations = 100;
    let create = all_create_sql();
    b.drop_schemas("b5o", creations + 1).await?;
    b.drop_schemas("b5_ours", creations).await?;
    b.drop_schemas("b5_floor", creations).await?;
    b.db.execute_unprepared(
        "DROP TABLE IF EXISTS bench_org; CREATE TABLE bench_org (id serial PRIMARY KEY, name text NOT NULL)",
    )
    .await?;
    // Render the migration set once before timing, as a running application would have.
    sea_tenant::provision::MigrationScript::of::<Ten>().await?;

    let (mut hook, mut ensure, mut fl) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..creations {
        let (d, org) = timed(
            bench_org::ActiveModel {
                name: Set(format!("org {i}")),
                ..Default::default()
            }
            .insert(&b.db),
        )
        .await;
        org?;
        hook.push(ms(d));

        let name = TenantName::new(format!("b5_ours_{i}"))?;
        let (d, result) = timed(sea_tenant::migrate_tenant::<Ten>(&b.db, &name)).await;
        result?;
        ensure.push(ms(d));

        let schema = format!("b5_floor_{i}");
        let start = Instant::now();
        let mut tx = b.floor_pool.begin().await?;
        let mut script = vec![
            format!("CREATE SCHEMA \"{schema}\""),
            format!("SELECT set_config('search_path', '\"{schema}\"', true)"),
        ];
        script.extend(create.iter().cloned());
        for stmt in script {
            (&mut *tx)
                .execute(sqlx::raw_sql(sqlx::AssertSqlSafe(stmt)))
                .await?;
        }
        tx.commit().await?;
        fl.push(ms(start.elapsed()));
    }
    let f50 = percentile(fl.clone(), 50.0);
    let f99 = percentile(fl, 99.0);
    Ok(vec![
        Figure::ratio_at_most(
            "B5",
            "provisioning p50: insert owner row, tenant ready (100 creations)",
            percentile(hook.clone(), 50.0),
            "floor",
            f50,
            1.3,
            "<= 1.3",
        ),
        Figure::ratio_at_most(
            "B5",
            "provisioning p99: insert owner row, tenant ready",
            percentile(hook, 99.0),
            "floor",
            f99,
            f64::INFINITY,
            "reported",
        ),
        Figure::ratio_at_most(
            "B5",
            "migrate_tenant p50 (migrator path: a transaction per migration)",
            percentile(ensure, 50.0),
            "floor",
            f50,
            f64::INFINITY,
            "reported",
        ),
    ])
}
