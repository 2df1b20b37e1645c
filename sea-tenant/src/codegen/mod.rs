//! Migrations generated from SeaORM entities, in the manner of AshPostgres's
//! `mix ash.codegen`: the application lists its entities once in a [`Registry`], each as
//! global, tenant or attribute-tenant; `generate --auto NAME` compares them with the
//! snapshots recorded by earlier generations and writes one migration per crate that
//! changed: public tables into the `migration` crate, tenant tables into `tenant_migration`.
//!
//! Snapshots are JSON, `snapshots/tables.json` in each migration crate, committed with the
//! migrations. `generate --check` fails when the entities and the snapshots disagree, for CI.
//! A project whose migrations were written by hand records its starting point once with
//! `generate --snapshot-only`. `generate MIGRATION_NAME` writes an empty migration into the
//! tenant crate (`--global`: the public one), the `generate` a tenant migration binary
//! ([`crate::cli`]) also has.
//!
//! The application links its entities into a small binary:
//!
//! ```no_run
//! # mod entity { pub mod post {
//! #     use sea_orm::entity::prelude::*;
//! #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
//! #     #[sea_orm(table_name = "post")]
//! #     pub struct Model { #[sea_orm(primary_key)] pub id: i32 }
//! #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
//! #     pub enum Relation {}
//! #     impl ActiveModelBehavior for ActiveModel {}
//! # } }
//! use sea_tenant::codegen::{Codegen, Registry};
//!
//! fn main() {
//!     let registry = Registry::new().tenant::<entity::post::Entity>();
//!     let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
//!     sea_tenant::codegen::run_cli(Codegen::new(
//!         registry,
//!         root.join("migration"),
//!         root.join("tenant_migration"),
//!     ));
//! }
//! ```

mod cli;
mod diff;
mod error;
mod migration_crate;
mod model;
mod registry;
mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use cli::{NewMigration, run_cli, run_cli_with};
pub use error::{Error, Result};
pub use model::Target;
pub use registry::Registry;

use diff::{Op, diff};
use model::Snapshot;
use render::{render, rustfmt};

/// The registry and the two migration crates it generates into.
pub struct Codegen {
    registry: Registry,
    public_dir: PathBuf,
    tenant_dir: PathBuf,
}

/// One migration file written by [`Codegen::generate`].
#[derive(Debug, Clone)]
pub struct GeneratedFile {
    /// The crate it belongs to.
    pub target: Target,
    /// The new file.
    pub path: PathBuf,
    /// What it does, one line per operation.
    pub operations: Vec<String>,
    /// Whether rustfmt formatted it (it is written unformatted when rustfmt is missing).
    pub formatted: bool,
}

impl Codegen {
    /// A generator writing public migrations into the crate at `public_dir` and tenant
    /// migrations into the one at `tenant_dir`.
    pub fn new(
        registry: Registry,
        public_dir: impl Into<PathBuf>,
        tenant_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            registry,
            public_dir: public_dir.into(),
            tenant_dir: tenant_dir.into(),
        }
    }

    /// The migration crate of `target`.
    pub fn dir(&self, target: Target) -> &Path {
        match target {
            Target::Public => &self.public_dir,
            Target::Tenant => &self.tenant_dir,
        }
    }

    /// What each crate would get from [`generate`](Self::generate), one line per operation;
    /// empty when nothing changed.
    pub fn pending(&self) -> Result<BTreeMap<Target, Vec<String>>> {
        Ok(self
            .planned()?
            .into_iter()
            .map(|(target, (_, ops))| (target, ops.iter().map(Op::to_string).collect()))
            .collect())
    }

    /// Writes a migration named `name` into each crate whose tables changed, registers it,
    /// and records the new snapshots. Returns the files written (none when nothing changed).
    /// Nothing is written when either crate cannot take its file.
    pub fn generate(&self, name: &str) -> Result<Vec<GeneratedFile>> {
        let planned: Vec<(Target, Snapshot, Vec<Op>)> = self
            .planned()?
            .into_iter()
            .filter(|(_, (_, ops))| !ops.is_empty())
            .map(|(target, (declared, ops))| (target, declared, ops))
            .collect();
        let module = migration_crate::module_name(name)?;
        for (target, _, _) in &planned {
            migration_crate::check_writable(self.dir(*target), &module)?;
        }
        let mut written = Vec::new();
        for (target, declared, ops) in planned {
            let dir = self.dir(target);
            let source = render(target, &ops);
            let (text, formatted) = match rustfmt(&source) {
                Some(text) => (text, true),
                None => (source, false),
            };
            let path = migration_crate::write_migration(dir, &module, &text)?;
            if formatted {
                migration_crate::format_lib(dir)?;
            }
            migration_crate::write_snapshot(dir, &declared)?;
            written.push(GeneratedFile {
                target,
                path,
                operations: ops.iter().map(Op::to_string).collect(),
                formatted,
            });
        }
        Ok(written)
    }

    /// Records the entities as they are, writing no migration: for a project whose
    /// migrations so far were written by hand and match the entities.
    pub fn snapshot_only(&self) -> Result<()> {
        for (target, snapshot) in self.registry.snapshots()? {
            migration_crate::write_snapshot(self.dir(target), &snapshot)?;
        }
        Ok(())
    }

    /// Per crate: the tables the entities declare, and the operations from the recorded
    /// snapshot to them.
    fn planned(&self) -> Result<BTreeMap<Target, (Snapshot, Vec<Op>)>> {
        let mut out = BTreeMap::new();
        for (target, declared) in self.registry.snapshots()? {
            let ops = diff(
                &migration_crate::read_snapshot(self.dir(target))?,
                &declared,
            )?;
            out.insert(target, (declared, ops));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
