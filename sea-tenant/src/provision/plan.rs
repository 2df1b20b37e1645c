//! Which way a migration set provisions a tenant: as one rendered script, or live.
//!
//! Rendering runs every migration's `up` on the recording connection (`recorder.rs`). If a
//! migration asks that connection to read (`has_column`, an entity's `insert` with
//! `RETURNING`), the set cannot be a script: it is *live*. Either outcome is cached per set
//! type, once per process; a live set caches only that fact, never statements, so each
//! tenant runs its migrations (and their side effects) for real.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use sea_orm_migration::SchemaManager;

use super::MigrationSet;
use super::script::{MigrationScript, Step};
use super::{lock, recorder};
use crate::{DbError, Error, Result};

/// How a migration set provisions a tenant.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    /// Every migration only executes statements: one rendered script.
    Script(Arc<MigrationScript>),
    /// A migration reads: run the migrations for real, in a transaction (`live.rs`).
    Live(Arc<LiveSet>),
}

/// A migration set that reads the database while it runs, and where rendering found out.
#[derive(Debug)]
pub(crate) struct LiveSet {
    /// The set.
    pub set: MigrationSet,
    /// The first migration that read.
    pub reader: String,
    /// What it read (the statement, values inlined).
    pub read: String,
}

impl LiveSet {
    /// Why the set has no script, for callers that need one ([`MigrationScript::of`]).
    pub(crate) fn no_script(&self) -> Error {
        Error::ProvisionScript {
            subject: format!("migration {}", self.reader),
            reason: format!(
                "it reads the database ({}), and a script cannot answer a read; \
                 `provision_tenant_on` and the owner hooks run such a set live instead",
                self.read
            ),
        }
    }
}

static PLANS: LazyLock<Mutex<HashMap<TypeId, Plan>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The plan of `set`, rendered on first use.
pub(crate) async fn of(set: &MigrationSet) -> Result<Plan> {
    if let Some(plan) = lock(&PLANS).get(&set.id()) {
        return Ok(plan.clone());
    }
    // Two callers may both render on a cold cache; the results are identical, so the second
    // insert is harmless and cheaper than holding a lock across awaits.
    let plan = render(set).await?;
    lock(&PLANS).insert(set.id(), plan.clone());
    Ok(plan)
}

async fn render(set: &MigrationSet) -> Result<Plan> {
    let (db, log) = recorder::connect();
    let manager = SchemaManager::new(&db);
    let mut steps = Vec::new();
    for migration in (set.migrations())() {
        let name = migration.name().to_owned();
        let result = migration.up(&manager).await;
        if let Some(read) = log.first_read() {
            tracing::debug!(set = set.name(), migration = %name, %read, "the tenant migration set reads: it is provisioned live");
            return Ok(Plan::Live(Arc::new(LiveSet {
                set: *set,
                reader: name,
                read,
            })));
        }
        result.map_err(|e| Error::ProvisionScript {
            subject: format!("migration {name}"),
            reason: format!(
                "its `up` failed while being rendered into SQL, on a connection that runs \
                 nothing and only records statements: {}",
                DbError(&e)
            ),
        })?;
        steps.push(Step {
            name,
            statements: log.take(),
        });
    }
    Ok(Plan::Script(Arc::new(MigrationScript { steps })))
}
