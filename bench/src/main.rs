//! `sea-tenant-bench`: sea-tenant against the naive SeaORM loop and the raw-SQL floor, side by
//! side in one run, medians over rounds.
//!
//! ```text
//! cargo run --release --bin sea-tenant-bench -- --tenants 1000 [--only B1,B3] [--json out.json]
//! cargo run --release --bin sea-tenant-bench -- -u "$CITUS_URL" --citus --only B1,B3,B4
//! ```
//! The naive loop (a connection per tenant with `set_schema_search_path`, then
//! `Migrator::up`/`status`, as `sea-orm-cli migrate -s` does minus the process start) is
//! sequential and slow; it is timed on `--naive-sample` tenants per round and scaled linearly to
//! the tenant count, which the table says.

mod b6;
mod citus;
mod scenarios;
mod workload;

use std::time::{Duration, Instant};

use clap::Parser;
use sea_orm::sqlx::PgPool;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(about = "Benchmarks sea-tenant against the naive SeaORM loop and the raw-SQL floor")]
pub struct Args {
    /// Tenants per scenario (B3, B4, B7 and B8 use this count too).
    #[arg(long, default_value_t = 1000)]
    pub tenants: usize,
    /// Only these scenarios, e.g. `B3,B4`.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// Rounds per scenario; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Connections for sea-tenant and for the floor.
    #[arg(long, default_value_t = sea_tenant::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Tenants the naive loop is timed on per round (then scaled).
    #[arg(long, default_value_t = 200)]
    pub naive_sample: usize,
    /// The benchmark's own database (dropped and recreated).
    #[arg(long, default_value = "sea_tenant_bench")]
    pub database: String,
    /// Server URL (default: DATABASE_URL, else the local server).
    #[arg(short = 'u', long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// The server is a Citus coordinator: make the bench database on every node with Citus,
    /// and the tenants distributed schemas (sea-tenant's own by detection, the bench's too).
    #[arg(long)]
    pub citus: bool,
    /// Strict mode for every sea-tenant side (a role per tenant, each migration as the owner
    /// role, `SET LOCAL ROLE` in every scope): run once with and once without to compare.
    #[arg(long)]
    pub strict: bool,
    /// Internal: migrate `PREFIX:N` tenants and print this process's peak RSS (for B8).
    #[arg(long, hide = true)]
    pub child_migrate: Option<String>,
}

/// One compared figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub id: String,
    pub scenario: String,
    /// `ms`, or `kB` for the memory scenarios.
    pub unit: String,
    pub ours_ms: f64,
    pub baseline: String,
    pub baseline_ms: f64,
    pub ratio: f64,
    pub target: String,
    pub pass: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
}

impl Figure {
    /// `ratio = ours / baseline`, passing when it is at most `max_ratio`.
    pub fn ratio_at_most(
        id: &str,
        scenario: impl Into<String>,
        ours_ms: f64,
        baseline: &str,
        baseline_ms: f64,
        max_ratio: f64,
        target: impl Into<String>,
    ) -> Figure {
        let ratio = if baseline_ms > 0.0 {
            ours_ms / baseline_ms
        } else {
            f64::INFINITY
        };
        Figure {
            id: id.to_owned(),
            scenario: scenario.into(),
            ours_ms,
            baseline: baseline.to_owned(),
            baseline_ms,
            ratio,
            target: target.into(),
            unit: "ms".to_owned(),
            pass: ratio <= max_ratio,
            note: String::new(),
        }
    }

    pub fn in_kb(mut self) -> Figure {
        self.unit = "kB".to_owned();
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Figure {
        self.note = note.into();
        self
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    tenants: usize,
    /// Citus workers under the coordinator (`--citus`), else 0.
    citus_workers: usize,
    strict: bool,
    rounds: usize,
    concurrency: usize,
    scenarios: &'a [Figure],
}

/// What every scenario needs: the database, a SeaORM pool, a sqlx pool for the floor.
pub struct Bench {
    pub args: Args,
    pub url: String,
    pub db: DatabaseConnection,
    pub floor_pool: PgPool,
    /// The Citus workers with `--citus`, else none.
    pub citus_workers: Vec<sea_tenant::citus::Node>,
}

impl Bench {
    pub fn wants(&self, id: &str) -> bool {
        self.args.only.is_empty() || self.args.only.iter().any(|s| s.eq_ignore_ascii_case(id))
    }

    pub fn naive_sample(&self, n: usize) -> usize {
        self.args.naive_sample.clamp(1, n)
    }

    /// Creates `prefix_0 … prefix_{n-1}`, dropping them first if they exist.
    pub async fn fresh_schemas(&self, prefix: &str, n: usize) -> Result<(), sea_orm::DbErr> {
        self.drop_schemas(prefix, n).await?;
        let distributed = if self.args.citus {
            citus::SHARDING_ON
        } else {
            ""
        };
        for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
            let sql: String = std::iter::once(distributed.to_owned())
                .chain(
                    chunk
                        .iter()
                        .map(|i| format!("CREATE SCHEMA \"{prefix}_{i}\";")),
                )
                .collect();
            self.db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    /// Drops `prefix_*` schemas, a few per transaction (each takes a lock per object).
    pub async fn drop_schemas(&self, prefix: &str, n: usize) -> Result<(), sea_orm::DbErr> {
        for chunk in (0..n).collect::<Vec<_>>().chunks(40) {
            let sql: String = chunk
                .iter()
                .map(|i| format!("DROP SCHEMA IF EXISTS \"{prefix}_{i}\" CASCADE;"))
                .collect();
            self.db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    pub fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}_{i}")).collect()
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

pub fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    if xs.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (xs.len() as f64 - 1.0)).round() as usize;
    xs[rank.min(xs.len() - 1)]
}

pub async fn timed<F: std::future::Future>(f: F) -> (Duration, F::Output) {
    let start = Instant::now();
    let out = f.await;
    (start.elapsed(), out)
}

pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = base[after_scheme..]
        .find('/')
        .map_or(base, |slash| &base[..after_scheme + slash]);
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

pub async fn connect(url: &str, max: u32) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max)
        .min_connections(0)
        .sqlx_logging(false);
    Database::connect(options).await
}

type BenchResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> BenchResult {
    let server = args
        .database_url
        .clone()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    if let Some(spec) = &args.child_migrate {
        if args.strict {
            sea_tenant::strict::enable(strict_config()?);
        }
        return scenarios::child_migrate(&server, &args.database, spec).await;
    }
    let citus_workers = if args.citus {
        citus::recreate_database(&server, &args.database).await?
    } else {
        recreate_database(&server, &args.database).await?;
        Vec::new()
    };
    let url = with_database(&server, &args.database);
    let db = connect(&url, 2).await?;
    if args.strict {
        let config = strict_config()?;
        sea_tenant::strict::setup(&db, &config).await?;
        sea_tenant::strict::enable(config);
    }
    let floor_pool = PgPoolOptions::new()
        .max_connections(args.concurrency as u32)
        .connect(&url)
        .await?;
    let bench = Bench {
        args,
        url,
        db,
        floor_pool,
        citus_workers,
    };
    if bench.args.citus {
        eprintln!("on Citus: {}", on_citus(&bench));
    }
    eprintln!(
        "sea-tenant-bench: {} tenants, {} rounds, concurrency {}, naive timed on {} tenants per round{}",
        bench.args.tenants,
        bench.args.rounds,
        bench.args.concurrency,
        bench.naive_sample(bench.args.tenants),
        if bench.args.strict {
            ", strict mode on"
        } else {
            ""
        }
    );
    let started = Instant::now();
    let figures = scenarios::run_all(&bench).await?;
    print_table(&bench, &figures);
    eprintln!("total time {:.0} s", started.elapsed().as_secs_f64());
    if let Some(path) = &bench.args.json {
        let json = JsonReport {
            tenants: bench.args.tenants,
            citus_workers: bench.citus_workers.len(),
            strict: bench.args.strict,
            rounds: bench.args.rounds,
            concurrency: bench.args.concurrency,
            scenarios: &figures,
        };
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
        eprintln!("wrote {}", path.display());
    }
    bench.floor_pool.close().await;
    bench.db.close().await?;
    Ok(())
}

/// The bench's strict-mode roles (the bench logs in as a superuser, which may become any).
pub fn strict_config() -> BenchResult<sea_tenant::strict::Strict> {
    Ok(
        sea_tenant::strict::Strict::new("sea_tenant_bench_app", "sea_tenant_bench_owner")?
            .with_role_prefix("sea_tenant_bench_")?,
    )
}

async fn recreate_database(server: &str, database: &str) -> BenchResult {
    let admin = connect(server, 1).await?;
    // DROP and CREATE DATABASE cannot share a transaction block: send them separately.
    admin
        .execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
        ))
        .await?;
    // Tenant roles of an earlier --strict run outlive its database: every run starts without.
    admin
        .execute_unprepared(
            "DO $$ DECLARE r record; BEGIN FOR r IN SELECT rolname FROM pg_roles \
             WHERE rolname LIKE 'sea\\_tenant\\_bench\\_%' \
             AND rolname NOT IN ('sea_tenant_bench_app', 'sea_tenant_bench_owner', \
                                 'sea_tenant_bench_owner_tenants') \
             LOOP BEGIN EXECUTE format('DROP ROLE %I', r.rolname); \
             EXCEPTION WHEN dependent_objects_still_exist THEN NULL; END; END LOOP; END $$",
        )
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{database}\""))
        .await?;
    admin.close().await?;
    Ok(())
}

fn on_citus(bench: &Bench) -> String {
    let workers: Vec<String> = bench.citus_workers.iter().map(|w| w.to_string()).collect();
    format!(
        "a Citus coordinator with {} workers ({})",
        workers.len(),
        workers.join(", ")
    )
}

fn print_table(bench: &Bench, figures: &[Figure]) {
    let place = if bench.args.citus {
        format!(", on {}", on_citus(bench))
    } else {
        String::new()
    };
    println!(
        "\n{} tenants, medians of {} rounds, concurrency {}{place}",
        bench.args.tenants, bench.args.rounds, bench.args.concurrency
    );
    println!(
        "| id | scenario | sea-tenant | baseline | ratio | target | pass |\n|---|---|---|---|---|---|---|"
    );
    for f in figures {
        let note = if f.note.is_empty() {
            String::new()
        } else {
            format!(" ({})", f.note)
        };
        println!(
            "| {} | {}{} | {} | {}: {} | {:.3} | {} | {} |",
            f.id,
            f.scenario,
            note,
            fmt_value(f.ours_ms, &f.unit),
            f.baseline,
            fmt_value(f.baseline_ms, &f.unit),
            f.ratio,
            f.target,
            if f.pass { "yes" } else { "**NO**" }
        );
    }
}

fn fmt_value(ms: f64, unit: &str) -> String {
    if unit == "kB" {
        format!("{:.1} MB", ms / 1024.0)
    } else if ms >= 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.1} µs", ms * 1000.0)
    }
}
