//! The command line's arguments and subcommands, as `sea-orm-cli migrate` names them, plus
//! the connection and strict-mode flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::parse_duration;
use crate::Result;
use crate::codegen::NewMigration;
use crate::strict::Strict;

/// The command line of a tenant migration binary.
#[derive(Debug, Parser)]
#[command(
    about = "Run tenant migrations in every tenant schema",
    long_about = "Runs the tenant migration set in every tenant schema listed by all_tenants, \
                  one transaction per migration, with a per-tenant report."
)]
pub struct Cli {
    /// Database URL.
    #[arg(
        short = 'u',
        long,
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Show debug logs (every migration of every tenant).
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,

    /// Only this tenant (repeatable).
    #[arg(long = "tenant", value_name = "NAME", global = true)]
    pub tenants: Vec<String>,

    /// Leave this tenant out (repeatable).
    #[arg(long = "except", value_name = "NAME", global = true)]
    pub except: Vec<String>,

    /// `fresh`, `reset` and `refresh` without `--tenant` touch every tenant: go ahead without
    /// asking. Without it they ask on a terminal (type the number of tenants) and refuse
    /// elsewhere, exit code 2, having done nothing.
    #[arg(long, global = true)]
    pub all_tenants: bool,

    /// How many tenants to migrate at once.
    #[arg(long, default_value_t = crate::DEFAULT_CONCURRENCY, global = true)]
    pub concurrency: usize,

    /// Stop starting new tenants after the first failure.
    #[arg(long, global = true)]
    pub fail_fast: bool,

    /// Create a tenant's schema when it does not exist (up, fresh, refresh).
    #[arg(long, global = true)]
    pub create_missing: bool,

    /// Read every version table, even one whose fingerprint says it is complete (after
    /// editing version tables by hand).
    #[arg(long, global = true)]
    pub verify_versions: bool,

    /// How long a migration may wait for a lock another session holds, e.g. `10s`, `500ms`,
    /// `1m` (`0`: no limit). A migration that times out is rolled back and retried.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, global = true)]
    pub lock_timeout: Duration,

    /// How many times a migration that hit the lock timeout is tried again.
    #[arg(long, value_name = "N", default_value_t = crate::DEFAULT_LOCK_RETRIES, global = true)]
    pub lock_retries: u32,

    /// How long opening a connection may take, e.g. `5s` [default: the URL's
    /// `connect_timeout` parameter, else 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, global = true)]
    pub connect_timeout: Option<Duration>,

    /// The version table inside each tenant schema.
    #[arg(long, default_value = crate::DEFAULT_VERSION_TABLE, global = true)]
    pub version_table: String,

    /// Strict mode (see `sea_tenant::strict`): the role the application logs in as. With
    /// `--strict-owner-role`, tenants get roles of their own and migrations run as the owner.
    /// [default: the application's `strict::enable`, if it called it]
    #[arg(
        long,
        value_name = "ROLE",
        env = "SEA_TENANT_STRICT_RUNTIME_ROLE",
        requires = "strict_owner_role",
        global = true
    )]
    pub strict_runtime_role: Option<String>,

    /// Strict mode: the role that owns tenant schemas.
    #[arg(
        long,
        value_name = "ROLE",
        env = "SEA_TENANT_STRICT_OWNER_ROLE",
        requires = "strict_runtime_role",
        global = true
    )]
    pub strict_owner_role: Option<String>,

    /// Strict mode: the prefix of tenant roles (one per database of a server).
    #[arg(long, value_name = "PREFIX", env = "SEA_TENANT_STRICT_ROLE_PREFIX", default_value = crate::strict::DEFAULT_ROLE_PREFIX, global = true)]
    pub strict_role_prefix: String,

    /// Strict mode: tenant roles and the owner role may log in (Citus reaches its workers as
    /// the current role; see `Strict::with_login_roles`).
    #[arg(long, env = "SEA_TENANT_STRICT_LOGIN_ROLES", global = true)]
    pub strict_login_roles: bool,

    /// What to do; `up` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands, named as in `sea-orm-cli migrate`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations.
    Up {
        /// Apply at most this many per tenant.
        #[arg(short = 'n', long)]
        num: Option<u32>,
    },
    /// Roll back applied migrations, newest first.
    Down {
        /// How many per tenant.
        #[arg(short = 'n', long, default_value_t = 1)]
        num: u32,
    },
    /// Show applied and pending migrations of each tenant; in strict mode also every tenant
    /// whose role is missing or whose schema other roles may use.
    Status,
    /// Prepare the database for strict mode (needs the --strict-* roles): the owner role, the
    /// runtime role made NOINHERIT; says what it did. Run once, as a superuser.
    StrictSetup,
    /// Drop and recreate each tenant schema, then apply every migration.
    Fresh,
    /// Roll back every migration, then apply every migration.
    Refresh,
    /// Roll back every migration.
    Reset,
    /// Generate a new, empty tenant migration and register it in the migrator.
    ///
    /// Migrations generated from the entities come from the application's `codegen` binary
    /// (see `sea_tenant::codegen`).
    Generate {
        /// The migration's name.
        #[command(flatten)]
        migration: NewMigration,
        /// The migration crate's directory (its `src/lib.rs` is updated).
        #[arg(short = 'd', long)]
        migration_dir: Option<PathBuf>,
    },
}

impl Cli {
    /// The strict-mode configuration the flags (or their environment variables) give.
    pub(super) fn strict(&self) -> Result<Option<Strict>> {
        let (Some(runtime), Some(owner)) = (&self.strict_runtime_role, &self.strict_owner_role)
        else {
            return Ok(None);
        };
        let strict = Strict::new(runtime.clone(), owner.clone())?
            .with_role_prefix(self.strict_role_prefix.clone())?;
        Ok(Some(if self.strict_login_roles {
            strict.with_login_roles()
        } else {
            strict
        }))
    }
}
