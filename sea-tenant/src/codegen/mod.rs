//! Migrations generated from SeaORM entities, in the manner of AshPostgres's
//! `mix ash.codegen`: the application lists its entities once in a [`Registry`], each as
//! global, tenant or attribute-tenant; `generate --auto NAME` compares them with the
//! snapshots recorded by earlier generations and writes one migration per crate that
//! changed: public tables into the `migration` crate, tenant tables into `tenant_migration`.
//!
//! Snapshots are JSON, `snapshots/tables.json` in each migration crate, committed with the
//! migrations. `generate --check` fails when the entities and the snapshots disagree, for CI.
//! A project whose migrations were written by hand records its starting point once with
//! `generate --snapshot-only`.
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

mod diff;
mod model;
mod registry;
mod render;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

pub use diff::{Op, diff};
pub use model::{ColType, Column, FkAction, ForeignKey, Key, Placement, Snapshot, Table, Target};
pub use registry::Registry;
pub use render::{render, rustfmt};

use crate::{Error, Result, generate};

/// The snapshot file inside a migration crate.
pub const SNAPSHOT_PATH: &str = "snapshots/tables.json";

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

    /// The snapshot recorded in `target`'s crate; empty when there is none yet.
    pub fn recorded(&self, target: Target) -> Result<Snapshot> {
        let path = self.dir(target).join(SNAPSHOT_PATH);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| Error::Generate(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Snapshot::default()),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// What each crate would get from `generate --auto`: the operations per target, empty
    /// when nothing changed.
    pub fn pending(&self) -> Result<BTreeMap<Target, Vec<Op>>> {
        let declared = self.registry.snapshots()?;
        let mut out = BTreeMap::new();
        for (target, snapshot) in &declared {
            out.insert(*target, diff(&self.recorded(*target)?, snapshot)?);
        }
        Ok(out)
    }

    /// Writes a migration named `name` into each crate whose tables changed, registers it,
    /// and records the new snapshots. Returns the files written (none when nothing changed).
    pub fn generate(&self, name: &str) -> Result<Vec<GeneratedFile>> {
        let declared = self.registry.snapshots()?;
        let mut planned = Vec::new();
        for (target, snapshot) in &declared {
            let ops = diff(&self.recorded(*target)?, snapshot)?;
            if !ops.is_empty() {
                planned.push((*target, ops));
            }
        }
        let module = generate::module_name(name)?;
        for (target, _) in &planned {
            generate::check_writable(self.dir(*target), &module)?;
        }
        let mut written = Vec::new();
        for (target, ops) in planned {
            let source = render(target, &ops);
            let (text, formatted) = match rustfmt(&source) {
                Some(text) => (text, true),
                None => (source, false),
            };
            let path = generate::write_migration(self.dir(target), &module, &text)?;
            if formatted {
                format_file(&self.dir(target).join("src/lib.rs"))?;
            }
            self.write_snapshot(target, &declared[&target])?;
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
        for (target, snapshot) in &self.registry.snapshots()? {
            self.write_snapshot(*target, snapshot)?;
        }
        Ok(())
    }

    fn write_snapshot(&self, target: Target, snapshot: &Snapshot) -> Result<()> {
        let path = self.dir(target).join(SNAPSHOT_PATH);
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut text = serde_json::to_string_pretty(snapshot)
            .map_err(|e| Error::Generate(format!("serializing the snapshot: {e}")))?;
        text.push('\n');
        std::fs::write(&path, text).map_err(io)
    }
}

/// Reformats a file the generator edited (the migrator's `lib.rs`), so that the edit
/// leaves it as `cargo fmt` would.
fn format_file(path: &Path) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    if let Some(formatted) = rustfmt(&text)
        && formatted != text
    {
        std::fs::write(path, formatted).map_err(io)?;
    }
    Ok(())
}

/// The code generator's command line.
#[derive(Debug, Parser)]
#[command(about = "Generate migrations from the application's SeaORM entities")]
pub struct CodegenCli {
    /// The public migration crate, instead of the one the program was built with.
    #[arg(long, global = true, value_name = "DIR")]
    pub public_dir: Option<PathBuf>,

    /// The tenant migration crate, instead of the one the program was built with.
    #[arg(long, global = true, value_name = "DIR")]
    pub tenant_dir: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: CodegenCommand,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum CodegenCommand {
    /// Write a migration: from the entities with `--auto`, empty without.
    Generate {
        /// The migration's name, e.g. `add_due_date_to_task`.
        #[arg(required_unless_present_any = ["check", "snapshot_only"])]
        name: Option<String>,
        /// Generate from the entities' changes since the last recorded snapshot.
        #[arg(long, conflicts_with_all = ["check", "snapshot_only"])]
        auto: bool,
        /// Exit 1, listing the differences, when the entities have changes not generated.
        #[arg(long, conflicts_with = "snapshot_only")]
        check: bool,
        /// Record the entities as the current state, without writing a migration.
        #[arg(long)]
        snapshot_only: bool,
        /// Without `--auto`: write the empty migration into the public crate instead of the
        /// tenant one.
        #[arg(long)]
        global: bool,
    },
}

/// Parses the process arguments, runs the command and exits: 0 on success, 1 when
/// `--check` finds differences, 2 on an error.
pub fn run_cli(codegen: Codegen) -> ! {
    std::process::exit(run_cli_with(std::env::args_os(), codegen))
}

/// [`run_cli`] on the given arguments (the first is the program name); returns the exit code.
pub fn run_cli_with<I, T>(args: I, mut codegen: Codegen) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match CodegenCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    if let Some(dir) = cli.public_dir {
        codegen.public_dir = dir;
    }
    if let Some(dir) = cli.tenant_dir {
        codegen.tenant_dir = dir;
    }
    let codegen = &codegen;
    let CodegenCommand::Generate {
        name,
        auto,
        check,
        snapshot_only,
        global,
    } = cli.command;
    let result = if check {
        return check_command(codegen);
    } else if snapshot_only {
        codegen.snapshot_only().map(|()| {
            for target in [Target::Public, Target::Tenant] {
                println!(
                    "Recorded {}",
                    codegen.dir(target).join(SNAPSHOT_PATH).display()
                );
            }
        })
    } else {
        let name = name.unwrap_or_default();
        if auto {
            codegen.generate(&name).map(|files| print_generated(&files))
        } else {
            let target = if global {
                Target::Public
            } else {
                Target::Tenant
            };
            generate::new_migration_in(codegen.dir(target), &name, target == Target::Public)
                .map(|path| println!("Created {}", path.display()))
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

fn print_generated(files: &[GeneratedFile]) {
    if files.is_empty() {
        println!("No changes: the entities match the recorded snapshots; nothing written.");
        return;
    }
    for file in files {
        println!("Wrote {} migration {}", file.target, file.path.display());
        for op in &file.operations {
            println!("  - {op}");
        }
        if !file.formatted {
            println!("  (rustfmt was not found: run `cargo fmt` on it)");
        }
    }
    if files
        .iter()
        .any(|f| f.operations.iter().any(|op| op.starts_with("drop ")))
    {
        println!(
            "Some operations drop things: a renamed column or table shows up as a drop and an \
             add, which loses its data; edit the migration if that is not what you want."
        );
    }
    println!("Audit the file(s) above before committing them and the updated snapshots.");
}

fn check_command(codegen: &Codegen) -> i32 {
    match codegen.pending() {
        Ok(pending) => {
            let mut clean = true;
            for (target, ops) in &pending {
                if ops.is_empty() {
                    continue;
                }
                clean = false;
                println!(
                    "{target} tables differ from {}:",
                    codegen.dir(*target).join(SNAPSHOT_PATH).display()
                );
                for op in ops {
                    println!("  - {op}");
                }
            }
            if clean {
                println!("Entities match the generated migrations.");
                0
            } else {
                println!("Run `generate --auto NAME` and commit the result.");
                1
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            // An entity declaration the generator rejects is also a CI failure.
            1
        }
    }
}

#[cfg(test)]
mod tests;
