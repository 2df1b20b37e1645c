//! A rendered migration set ([`MigrationScript`]) and the provisioning scripts built from it.

use std::fmt::Write as _;
use std::sync::Arc;

use sea_orm_migration::MigratorTrait;

use super::MigrationSet;
use super::plan::{self, Plan};
use super::{dollar_tag, push};
use crate::name::quote_literal;
use crate::tenant_sql::DEFAULT_VERSION_TABLE;
use crate::tenant_sql::VersionTable;
use crate::tenant_sql::{self, Creation};
use crate::{Result, TenantName};

/// The SQL of a migration set, as rendered by [`MigrationScript::of`].
#[derive(Debug, Clone)]
pub struct MigrationScript {
    pub(super) steps: Vec<Step>,
}

/// One migration's statements.
#[derive(Debug, Clone)]
pub(super) struct Step {
    pub(super) name: String,
    pub(super) statements: Vec<String>,
}

impl MigrationScript {
    /// Renders the migration set `M` (once per process; later calls return the cached copy).
    ///
    /// Fails with [`Error::ProvisionScript`](crate::Error::ProvisionScript) for a set with a
    /// migration that reads the database: such a set has no script, and the functions of
    /// [`provision`](crate::provision) and the owner hooks run it live instead.
    ///
    /// ```
    /// # use sea_orm_migration::prelude::*;
    /// # struct Empty;
    /// # impl MigratorTrait for Empty {
    /// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
    /// # }
    /// # async fn demo() -> sea_tenant::Result<()> {
    /// let script = sea_tenant::provision::MigrationScript::of::<Empty>().await?;
    /// assert!(script.versions().is_empty());
    /// # Ok(()) }
    /// ```
    pub async fn of<M: MigratorTrait + 'static>() -> Result<Arc<MigrationScript>> {
        match plan::of(&MigrationSet::of::<M>()).await? {
            Plan::Script(script) => Ok(script),
            Plan::Live(live) => Err(live.no_script()),
        }
    }

    /// The migrations' names, in order.
    pub fn versions(&self) -> Vec<&str> {
        self.steps.iter().map(|s| s.name.as_str()).collect()
    }

    /// A script that takes the tenant's advisory lock, creates the schema `tenant` (failing
    /// with SQLSTATE `42P06` if it exists), its version table, applies every migration and
    /// records each one.
    ///
    /// ```
    /// # use sea_orm_migration::prelude::*;
    /// # struct Empty;
    /// # impl MigratorTrait for Empty {
    /// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
    /// # }
    /// # async fn demo() -> sea_tenant::Result<()> {
    /// use sea_tenant::{TenantName, provision::MigrationScript};
    ///
    /// let sql = MigrationScript::of::<Empty>().await?.create_sql(&TenantName::new("org_7")?);
    /// assert!(sql.contains("\"org_7\""));
    /// # Ok(()) }
    /// ```
    pub fn create_sql(&self, tenant: &TenantName) -> String {
        let table = VersionTable::new(tenant, DEFAULT_VERSION_TABLE);
        let strict = crate::strict::current();
        let mut sql = String::new();
        for statement in tenant_sql::provisioning_prologue(
            tenant,
            Creation::New,
            crate::citus::distribution(),
            strict.as_deref(),
        ) {
            push(&mut sql, &statement);
        }
        for step in &self.steps {
            for statement in &step.statements {
                push(&mut sql, statement);
            }
            push(&mut sql, &table.insert_sql(&step.name));
        }
        for statement in tenant_sql::provisioning_epilogue(tenant, strict.as_deref()) {
            push(&mut sql, &statement);
        }
        sql
    }

    /// A script that creates the schema `tenant` and its version table if missing, and
    /// applies each migration the version table does not list, under the tenant's advisory
    /// lock. Idempotent: a schema that a concurrent caller just created is simply used.
    pub fn provision_sql(&self, tenant: &TenantName) -> Result<String> {
        self.guarded_provision_sql(tenant, "")
    }

    /// [`MigrationScript::provision_sql`] with `guard`, SQL run right after the lock is taken and
    /// before anything is created, that may abort the script (an owner-row check).
    pub(crate) fn guarded_provision_sql(&self, tenant: &TenantName, guard: &str) -> Result<String> {
        let table = VersionTable::new(tenant, DEFAULT_VERSION_TABLE);
        let strict = crate::strict::current();
        let mut sql = String::new();
        for statement in tenant_sql::provisioning_prologue(
            tenant,
            Creation::Ensure { guard },
            crate::citus::distribution(),
            strict.as_deref(),
        ) {
            push(&mut sql, &statement);
        }
        // The pending check has to happen inside the script (not by reading the version table
        // first), otherwise two callers could both see a migration as pending.
        for step in &self.steps {
            let mut body = String::new();
            for statement in &step.statements {
                let tag = dollar_tag(statement, &step.name)?;
                let _ = writeln!(body, "EXECUTE {tag}{statement}{tag};");
            }
            let _ = writeln!(body, "{};", table.insert_sql(&step.name));
            let block = format!(
                "IF NOT EXISTS (SELECT 1 FROM {} WHERE version = {}) THEN\n{body}END IF;",
                table.qualified(),
                quote_literal(&step.name)
            );
            let tag = dollar_tag(&block, &step.name)?;
            push(&mut sql, &format!("DO {tag}BEGIN\n{block}\nEND{tag}"));
        }
        for statement in tenant_sql::provisioning_epilogue(tenant, strict.as_deref()) {
            push(&mut sql, &statement);
        }
        Ok(sql)
    }

    /// The script for `creation`.
    pub(super) fn sql_for(&self, tenant: &TenantName, creation: Creation<'_>) -> Result<String> {
        match creation {
            Creation::New => Ok(self.create_sql(tenant)),
            Creation::Ensure { guard } => self.guarded_provision_sql(tenant, guard),
        }
    }
}
