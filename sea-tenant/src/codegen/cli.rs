//! The `generate` command line. The `codegen` binary's `generate` adds the entity modes
//! (`--auto`, `--check`, `--snapshot-only`) to [`NewMigration`], the `generate
//! MIGRATION_NAME` that a tenant migration binary ([`crate::cli`]) takes as well, as
//! `sea-orm-cli migrate generate` does.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Parser, Subcommand};

use super::migration_crate::{self, SNAPSHOT_PATH};
use super::{Codegen, GeneratedFile, Target};

/// `generate MIGRATION_NAME`: a new, empty migration, written into a migration crate and
/// registered in its migrator.
#[derive(Debug, Clone, Args)]
pub struct NewMigration {
    /// Name of the new migration, snake_case (e.g. `add_due_date_to_task`); the file is
    /// `src/m<YYYYMMDD_HHMMSS>_<name>.rs`, stamped in UTC.
    #[arg(value_name = "MIGRATION_NAME")]
    pub migration_name: String,
}

impl NewMigration {
    /// Writes the empty migration into the crate at `crate_dir` and says where; returns the
    /// exit code (2 on an error).
    pub(crate) fn run(&self, crate_dir: &Path, target: Target) -> i32 {
        exit_code(
            migration_crate::new_empty(crate_dir, target, &self.migration_name)
                .map(|path| println!("Created {}", path.display())),
        )
    }
}

#[derive(Debug, Parser)]
#[command(about = "Generate migrations from the application's SeaORM entities")]
struct CodegenCli {
    /// The public migration crate, instead of the one the program was built with.
    #[arg(long, global = true, value_name = "DIR", display_order = 100)]
    public_dir: Option<PathBuf>,

    /// The tenant migration crate, instead of the one the program was built with.
    #[arg(long, global = true, value_name = "DIR", display_order = 100)]
    tenant_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a migration: from the entities with `--auto`, empty without.
    Generate(Generate),
}

#[derive(Debug, Args)]
#[command(group(
    ArgGroup::new("what")
        .required(true)
        .args(["migration_name", "check", "snapshot_only"])
))]
struct Generate {
    #[command(flatten)]
    migration: Option<NewMigration>,

    /// Generate from the entities' changes since the last recorded snapshot.
    #[arg(long, requires = "migration_name")]
    auto: bool,

    /// Exit 1, listing the differences, when the entities have changes not generated.
    #[arg(long)]
    check: bool,

    /// Record the entities as the current state, without writing a migration.
    #[arg(long)]
    snapshot_only: bool,

    /// Write the empty migration into the public crate instead of the tenant one.
    #[arg(long, conflicts_with_all = ["auto", "check", "snapshot_only"])]
    global: bool,
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
    let Command::Generate(generate) = cli.command;
    generate.run(&codegen)
}

impl Generate {
    fn run(self, codegen: &Codegen) -> i32 {
        if self.check {
            return check(codegen);
        }
        if self.snapshot_only {
            return exit_code(codegen.snapshot_only().map(|()| {
                for target in [Target::Public, Target::Tenant] {
                    println!(
                        "Recorded {}",
                        codegen.dir(target).join(SNAPSHOT_PATH).display()
                    );
                }
            }));
        }
        // The argument group makes the name present when neither mode above is.
        let Some(migration) = self.migration else {
            eprintln!("error: MIGRATION_NAME is required");
            return 2;
        };
        if self.auto {
            return exit_code(
                codegen
                    .generate(&migration.migration_name)
                    .map(|files| print_generated(&files)),
            );
        }
        let target = if self.global {
            Target::Public
        } else {
            Target::Tenant
        };
        migration.run(codegen.dir(target), target)
    }
}

fn exit_code(result: super::Result<()>) -> i32 {
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

fn check(codegen: &Codegen) -> i32 {
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
                println!("Run `generate --auto MIGRATION_NAME` and commit the result.");
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
