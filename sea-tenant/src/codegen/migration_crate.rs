//! A migration crate on disk, as the generator reads and writes it: the migrator in
//! `src/lib.rs` that each new migration is registered in, the migration files
//! `src/m<YYYYMMDD_HHMMSS>_<name>.rs` (named as sea-orm-cli names them), and the snapshot of
//! its tables.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{Error, Result};
use super::model::{Snapshot, Target};
use super::render;

/// The snapshot file inside a migration crate.
pub(super) const SNAPSHOT_PATH: &str = "snapshots/tables.json";

/// Writes an empty migration named `name` into the crate at `crate_dir` (its doc comment
/// says where `target`'s migrations run) and registers it. Returns the new file's path.
pub(super) fn new_empty(crate_dir: &Path, target: Target, name: &str) -> Result<PathBuf> {
    write_migration(crate_dir, &module_name(name)?, &render::empty(target))
}

/// `m<YYYYMMDD_HHMMSS>_<name>` for a snake_case `name`.
pub(super) fn module_name(name: &str) -> Result<String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Error::MigrationName(name.to_owned()));
    }
    Ok(format!("m{}_{name}", utc_stamp(SystemTime::now())))
}

/// Whether [`write_migration`] would succeed: `src/lib.rs` can be edited and the file is
/// new. Lets a caller writing into two crates fail before writing into either.
pub(super) fn check_writable(crate_dir: &Path, module: &str) -> Result<()> {
    Planned::new(crate_dir, module).map(drop)
}

/// Writes `src/<module>.rs` with `text` and registers it in `src/lib.rs`.
pub(super) fn write_migration(crate_dir: &Path, module: &str, text: &str) -> Result<PathBuf> {
    let planned = Planned::new(crate_dir, module)?;
    write(&planned.file, text)?;
    write(&planned.lib_path, &planned.lib)?;
    Ok(planned.file)
}

/// A new migration's file, and `src/lib.rs` as it will be once the migration is registered.
struct Planned {
    file: PathBuf,
    lib_path: PathBuf,
    lib: String,
}

impl Planned {
    fn new(crate_dir: &Path, module: &str) -> Result<Planned> {
        let src = crate_dir.join("src");
        let lib_path = src.join("lib.rs");
        let lib = register(&read(&lib_path)?, module)?;
        let file = src.join(format!("{module}.rs"));
        if file.exists() {
            return Err(Error::FileExists(file));
        }
        Ok(Planned {
            file,
            lib_path,
            lib,
        })
    }
}

/// The snapshot recorded in the crate at `crate_dir`; empty when there is none yet.
pub(super) fn read_snapshot(crate_dir: &Path) -> Result<Snapshot> {
    let path = crate_dir.join(SNAPSHOT_PATH);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|source| Error::Snapshot { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Snapshot::default()),
        Err(source) => Err(Error::Io { path, source }),
    }
}

pub(super) fn write_snapshot(crate_dir: &Path, snapshot: &Snapshot) -> Result<()> {
    let path = crate_dir.join(SNAPSHOT_PATH);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(Error::io(parent))?;
    }
    let mut text = serde_json::to_string_pretty(snapshot).map_err(|source| Error::Snapshot {
        path: path.clone(),
        source,
    })?;
    text.push('\n');
    write(&path, &text)
}

/// Reformats the crate's `src/lib.rs` after a migration was registered in it, so that the
/// edit leaves it as `cargo fmt` would.
pub(super) fn format_lib(crate_dir: &Path) -> Result<()> {
    let path = crate_dir.join("src/lib.rs");
    let text = read(&path)?;
    if let Some(formatted) = render::rustfmt(&text)
        && formatted != text
    {
        write(&path, &formatted)?;
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(Error::io(path))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(Error::io(path))
}

/// Adds `mod <module>;` after the last `mod m…;` line and `Box::new(<module>::Migration),`
/// as the last element of the `vec![…]` in `migrations()`.
fn register(lib: &str, module: &str) -> Result<String> {
    let missing = |missing: &'static str| Error::Unregistrable {
        missing,
        module: module.to_owned(),
    };
    let fn_start = lib
        .find("fn migrations()")
        .ok_or_else(|| missing("fn migrations()"))?;
    let vec_start = lib[fn_start..]
        .find("vec![")
        .map(|i| fn_start + i + "vec![".len())
        .ok_or_else(|| missing("vec![…] in migrations()"))?;
    let vec_end = matching_bracket(lib, vec_start).ok_or_else(|| missing("closing ] of vec!"))?;

    let body = lib[vec_start..vec_end].trim_end();
    let indent = "            ";
    let mut entries = body.to_owned();
    if !entries.trim().is_empty() && !entries.ends_with(',') {
        entries.push(',');
    }
    entries.push_str(&format!(
        "\n{indent}Box::new({module}::Migration),\n        "
    ));

    let mut out = String::with_capacity(lib.len() + 100);
    let mod_line = format!("mod {module};\n");
    let head = &lib[..vec_start];
    match last_mod_line_end(head) {
        Some(end) => {
            out.push_str(&head[..end]);
            out.push_str(&mod_line);
            out.push_str(&head[end..]);
        }
        None => {
            out.push_str(&mod_line);
            out.push_str(head);
        }
    }
    out.push_str(&entries);
    out.push_str(&lib[vec_end..]);
    Ok(out)
}

fn last_mod_line_end(text: &str) -> Option<usize> {
    let mut end = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if (trimmed.starts_with("mod m") || trimmed.starts_with("pub mod m"))
            && trimmed.trim_end().ends_with(';')
        {
            end = Some(offset + line.len());
        }
        offset += line.len();
    }
    end
}

fn matching_bracket(text: &str, open_after: usize) -> Option<usize> {
    let mut depth = 1usize;
    for (i, c) in text[open_after..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open_after + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `YYYYMMDD_HHMMSS` in UTC, as sea-orm-cli names migrations.
fn utc_stamp(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}_{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const LIB: &str = "pub use sea_orm_migration::prelude::*;

mod m20260101_000001_create_project;
mod m20260101_000002_create_task;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_project::Migration),
            Box::new(m20260101_000002_create_task::Migration),
        ]
    }
}
";

    #[test]
    fn registers_module_and_entry_in_order() {
        let out = register(LIB, "m20261128_120000_add_due").unwrap();
        let mod_pos = out.find("mod m20261128_120000_add_due;").unwrap();
        assert!(mod_pos > out.find("mod m20260101_000002_create_task;").unwrap());
        assert!(mod_pos < out.find("pub struct Migrator").unwrap());
        let entry = out
            .find("Box::new(m20261128_120000_add_due::Migration),")
            .unwrap();
        assert!(
            entry
                > out
                    .find("Box::new(m20260101_000002_create_task::Migration)")
                    .unwrap()
        );
        assert!(out.trim_end().ends_with('}'));
    }

    #[test]
    fn registers_into_an_empty_vec() {
        let lib = "pub struct Migrator;\nimpl MigratorTrait for Migrator {\n    fn migrations() -> Vec<Box<dyn MigrationTrait>> {\n        vec![]\n    }\n}\n";
        let out = register(lib, "m1_first").unwrap();
        assert!(out.starts_with("mod m1_first;\n"));
        assert!(out.contains("vec![\n            Box::new(m1_first::Migration),\n        ]"));
    }

    #[test]
    fn refuses_a_lib_without_migrations() {
        assert!(matches!(
            register("fn main() {}", "m1_x"),
            Err(Error::Unregistrable { .. })
        ));
    }

    #[test]
    fn stamps_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_824_000 + 3_723);
        assert_eq!(utc_stamp(t), "20261128_010203");
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101_000000");
    }

    #[test]
    fn new_empty_writes_and_registers() {
        let dir = std::env::temp_dir().join(format!("sea_tenant_gen_{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/lib.rs"), LIB).unwrap();
        let path = new_empty(&dir, Target::Tenant, "add_due_date").unwrap();
        let module = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert!(module.ends_with("_add_due_date"));
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("impl MigrationTrait for Migration")
        );
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains(&format!("mod {module};")));
        assert!(lib.contains(&format!("Box::new({module}::Migration)")));
        assert!(matches!(
            new_empty(&dir, Target::Tenant, "Bad-Name"),
            Err(Error::MigrationName(_))
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}
