//! The `sea-orm-cli migrate`-style command line for tenant migrations.
//!
//! A `tenant_migration` crate's `main.rs` is a few lines, as with sea-orm-migration's
//! `cli::run_cli`:
//!
//! ```no_run
//! # mod tenant_migration {
//! #     use sea_orm_migration::prelude::*;
//! #     pub struct Migrator;
//! #     impl MigratorTrait for Migrator {
//! #         fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
//! #     }
//! # }
//! #[tokio::main]
//! async fn main() {
//!     sea_tenant::cli::run_cli(
//!         tenant_migration::Migrator,
//!         sea_tenant::tenants::from_query("SELECT 'org_' || id FROM organization ORDER BY id"),
//!         env!("CARGO_MANIFEST_DIR"),
//!     )
//!     .await;
//! }
//! ```
//!
//! With an owner entity, pass [`owner::tenant_source`](crate::owner::tenant_source) instead of
//! the query, so the template is written once, on the entity.
//!
//! Commands and flags follow sea-orm-cli: `up [-n N]`, `down [-n N]` (default 1), `status`,
//! `fresh`, `refresh`, `reset`, `generate MIGRATION_NAME [-d DIR]` (the `generate` of
//! [`codegen`](crate::codegen)); `-u/--database-url` or `DATABASE_URL` (also read from a `.env` file, as sea-orm-migration's
//! CLI does), `-v`. Tenant
//! selection and scale: `--tenant NAME` and `--except NAME` (repeatable), `--concurrency N`,
//! `--fail-fast`, `--create-missing`. Faults: `--lock-timeout 10s` (how long a migration
//! waits for a lock, `0` for no limit), `--lock-retries 2`, `--connect-timeout 10s` (also
//! read from the URL's `?connect_timeout=` in seconds, as libpq does).
//!
//! The exit code is
//! - 0 when every tenant succeeded;
//! - 1 when any failed, is missing or was skipped (they are listed on stderr);
//! - 2 for a usage error, a `--tenant` that `all_tenants` does not list, `fresh`, `reset` or
//!   `refresh` over every tenant not confirmed (`--all-tenants`, or the number of tenants typed
//!   at the terminal's prompt; nothing is done), or a connection
//!   error: the server cannot be reached before any tenant is touched (a [`ConnectError`],
//!   whose message names `user@host:port/database`). That is a refused connection, no answer
//!   within the connect timeout (a silent server, a connection that never completes), or the
//!   server refusing the session: a database that does not exist (SQLSTATE 3D000), a wrong
//!   user or password (class 28), too many clients (53300), any connection exception (class
//!   08). It is also 2 when every selected tenant failed for that reason (an `all_tenants`
//!   that does not read the database).
//!
//! [`ConnectError`]: crate::ConnectError

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::{ConnectOptions, Database};
use sea_orm_migration::MigratorTrait;

mod args;

pub use args::{Cli, Command};

use crate::codegen::Target;
use crate::strict::Strict;
use crate::{
    AllTenants, Error, Operation, Outcome, Progress, Report, Result, TenantMigrator, TenantName,
};

/// `strict-setup`: [`strict::setup`](crate::strict::setup), each step on a line.
async fn strict_setup(db: &sea_orm::DatabaseConnection, strict: Option<&Strict>) -> i32 {
    let Some(strict) = strict else {
        eprintln!(
            "error: strict-setup needs --strict-runtime-role and --strict-owner-role \
             (or SEA_TENANT_STRICT_RUNTIME_ROLE and SEA_TENANT_STRICT_OWNER_ROLE)"
        );
        return 2;
    };
    match crate::strict::setup(db, strict).await {
        Ok(done) => {
            for line in done {
                println!("done: {line}");
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// After `status` in strict mode: lists each tenant whose role is missing or whose schema other
/// roles may use, on stderr; whether there was none.
async fn kept_apart(db: &sea_orm::DatabaseConnection, strict: &Strict, report: &Report) -> bool {
    let tenants: Vec<TenantName> = report
        .tenants
        .iter()
        .filter(|t| !matches!(t.outcome, Outcome::Missing | Outcome::Failed { .. }))
        .filter_map(|t| TenantName::new(t.tenant.clone()).ok())
        .collect();
    match crate::strict::tenants_not_apart(db, strict, &tenants).await {
        Ok(found) if found.is_empty() => true,
        Ok(found) => {
            for (tenant, problems) in found {
                eprintln!(
                    "strict mode: tenant {tenant} is not kept apart: {}",
                    problems.join(", ")
                );
            }
            false
        }
        Err(e) => {
            eprintln!("error: checking the tenants' privileges failed: {e}");
            false
        }
    }
}

/// Parses the process arguments, runs the command and exits with its code.
pub async fn run_cli<M: MigratorTrait>(
    migrator: M,
    all_tenants: impl AllTenants + 'static,
    migration_dir: impl AsRef<Path>,
) -> ! {
    // Like sea-orm-migration's CLI: a `.env` in the working directory (or above) may hold
    // DATABASE_URL; variables already set win.
    let _ = dotenvy::dotenv();
    let code = run_cli_with(
        std::env::args_os(),
        migrator,
        all_tenants,
        migration_dir.as_ref(),
    )
    .await;
    std::process::exit(code)
}

/// [`run_cli`] on the given arguments (the first is the program name); returns the exit code.
/// The report goes to stdout, logs and progress to stderr.
pub async fn run_cli_with<M, I, T>(
    args: I,
    migrator: M,
    all_tenants: impl AllTenants + 'static,
    migration_dir: &Path,
) -> i32
where
    M: MigratorTrait,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    init_tracing(cli.verbose);

    let strict = match cli.strict() {
        Ok(strict) => strict,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let operation = match &cli.command {
        None | Some(Command::StrictSetup) => Operation::Up(None),
        Some(Command::Up { num }) => Operation::Up(*num),
        Some(Command::Down { num }) => Operation::Down(Some(*num)),
        Some(Command::Status) => Operation::Status,
        Some(Command::Fresh) => Operation::Fresh,
        Some(Command::Refresh) => Operation::Refresh,
        Some(Command::Reset) => Operation::Reset,
        Some(Command::Generate {
            migration,
            migration_dir: dir,
        }) => return migration.run(dir.as_deref().unwrap_or(migration_dir), Target::Tenant),
    };

    let Some(url) = cli.database_url.clone() else {
        eprintln!("error: no database URL: pass -u/--database-url or set DATABASE_URL");
        return 2;
    };
    // sqlx does not know libpq's `connect_timeout` (it warns and ignores it): take it out.
    let (url, url_timeout) = match take_connect_timeout(&url) {
        Ok(split) => split,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let connect_timeout = cli
        .connect_timeout
        .or(url_timeout)
        .unwrap_or(crate::DEFAULT_CONNECT_TIMEOUT);
    let mut options = ConnectOptions::new(url);
    // Lazy: the migrator opens its first connection itself, under the connect timeout, and
    // reports the server's own error; the pool's eager connect would retry a refused or full
    // server until its acquire timeout and then only say "pool timed out".
    options
        .max_connections(2)
        .min_connections(0)
        .connect_timeout(connect_timeout)
        .connect_lazy(true)
        .sqlx_logging(false);
    let db = match Database::connect(options).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("error: connecting to the database failed: {e}");
            return 2;
        }
    };

    if matches!(cli.command, Some(Command::StrictSetup)) {
        let code = strict_setup(&db, strict.as_ref()).await;
        db.close().await.ok();
        return code;
    }
    let mut runner = TenantMigrator::new(db.clone(), migrator, all_tenants);
    if strict.is_some() {
        runner = runner.strict(strict.clone());
    }
    let strict = runner.strict_config();
    let mut runner = runner
        .version_table(cli.version_table.clone())
        .concurrency(cli.concurrency)
        .fail_fast(cli.fail_fast)
        .create_missing(cli.create_missing)
        .trust_fingerprints(!cli.verify_versions)
        .lock_timeout(cli.lock_timeout)
        .lock_retries(cli.lock_retries)
        .connect_timeout(connect_timeout)
        .only(cli.tenants.clone())
        .except(cli.except.clone())
        .confirm_all_tenants(cli.all_tenants)
        .progress(Arc::new(CliProgress::new()));
    let mut result = runner.run_operation(operation).await;
    if let Err(Error::AllTenantsNotConfirmed {
        operation: name,
        tenants,
    }) = &result
        && confirmed_on_terminal(name, *tenants)
    {
        runner = runner.confirm_all_tenants(true);
        result = runner.run_operation(operation).await;
    }
    let apart = match (&result, &strict) {
        (Ok(report), Some(strict)) if operation == Operation::Status => {
            kept_apart(&db, strict, report).await
        }
        _ => true,
    };
    db.close().await.ok();
    match result {
        Ok(report) => {
            print_report(&report);
            match exit_code(&report) {
                0 if !apart => 1,
                code => code,
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                Error::NotListed { .. }
                | Error::Connect(_)
                | Error::AllTenantsNotConfirmed { .. } => 2,
                _ => 1,
            }
        }
    }
}

/// Asks on the terminal whether `operation` may touch all `tenants` tenants: the answer must be
/// that number. `false` at once when stdin or stderr is not a terminal (a script must say
/// `--all-tenants`).
fn confirmed_on_terminal(operation: &str, tenants: usize) -> bool {
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return false;
    }
    eprint!(
        "{operation} would touch every tenant: {tenants} tenant(s). \
         Type {tenants} to go on, anything else to stop: "
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    let confirmed = answer.trim() == tenants.to_string();
    if !confirmed {
        eprintln!("stopped: nothing was done");
    }
    confirmed
}

/// Parses a duration: a number with a unit (`ms`, `s`, `m`, `h`), or bare seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 10s, 500ms, 1m)"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {text:?} (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// Removes libpq's `connect_timeout` parameter (whole seconds) from a URL, returning it.
fn take_connect_timeout(url: &str) -> Result<(String, Option<Duration>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut timeout = None;
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("connect_timeout", value)) => {
                let seconds: u64 = value
                    .parse()
                    .map_err(|_| format!("connect_timeout={value:?} is not a number of seconds"))?;
                // As libpq: 0 means no limit; a day stands for that.
                timeout = Some(Duration::from_secs(if seconds == 0 {
                    86_400
                } else {
                    seconds
                }));
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, timeout))
}

/// 0 when every tenant succeeded; 2 when every tenant failed because the server could not be
/// reached ([`Error::TenantConnect`]), so nothing was done; 1 otherwise.
pub fn exit_code(report: &Report) -> i32 {
    if report.is_success() {
        return 0;
    }
    let unreachable = |outcome: &Outcome| {
        matches!(
            outcome,
            Outcome::Failed {
                error: Error::TenantConnect { .. },
                applied,
                rolled_back,
                unconfirmed,
            } if applied.is_empty() && rolled_back.is_empty() && unconfirmed.is_empty()
        )
    };
    if report.tenants.iter().all(|t| unreachable(&t.outcome)) {
        2
    } else {
        1
    }
}

fn print_report(report: &Report) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{report}");
    if let Operation::Status = report.operation {
        for tenant in &report.tenants {
            if let Outcome::Status(states) = &tenant.outcome {
                let pending: Vec<&str> = states
                    .iter()
                    .filter(|s| !s.applied)
                    .map(|s| &*s.name)
                    .collect();
                if !pending.is_empty() {
                    let _ = writeln!(out, "  {}: pending {}", tenant.tenant, pending.join(", "));
                }
            }
        }
    }
    let problems: Vec<String> = report
        .problems()
        .map(|p| format!("{:?}", p.tenant))
        .collect();
    if !problems.is_empty() {
        eprintln!(
            "error: {} tenant(s) did not complete: {}",
            problems.len(),
            problems.join(", ")
        );
    }
}

/// Logs to stderr; `try_init` because a program may run the CLI more than once (tests do),
/// and a second global subscriber would panic.
fn init_tracing(verbose: bool) {
    let default = if verbose {
        "sea_tenant=debug,info"
    } else {
        "sea_tenant=info,warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// A progress bar on a terminal. Elsewhere (CI, pipes) the migrator's own log lines say what
/// changed, and this adds a count every tenth of the run.
#[derive(Default)]
struct CliProgress {
    bar: OnceLock<ProgressBar>,
    total: AtomicUsize,
    done: AtomicUsize,
}

impl CliProgress {
    fn new() -> Self {
        Self::default()
    }
}

impl Progress for CliProgress {
    fn start(&self, operation: Operation, tenants: usize) {
        self.total.store(tenants, Ordering::Relaxed);
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(tenants as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
            ) {
                bar.set_style(style);
            }
            bar.set_prefix(operation.to_string());
            let _ = self.bar.set(bar);
        } else {
            tracing::info!(%operation, tenants, "starting");
        }
    }

    fn tenant_done(&self, tenant: &str, outcome: &Outcome) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = self.bar.get() {
            bar.set_message(format!("{tenant}: {outcome}"));
            bar.inc(1);
            return;
        }
        let total = self.total.load(Ordering::Relaxed);
        let step = (total / 10).max(1);
        if total >= 20 && (done.is_multiple_of(step) || done == total) {
            tracing::info!("{done}/{total} tenants done");
        }
    }

    fn finish(&self, _report: &Report) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
