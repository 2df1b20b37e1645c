//! The `codegen` binary end to end on scratch migration crates: messages and exit codes of
//! `generate --auto` and `generate --check`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EMPTY_LIB: &str = "pub use sea_orm_migration::prelude::*;\n\npub struct Migrator;\n\nimpl MigratorTrait for Migrator {\n    fn migrations() -> Vec<Box<dyn MigrationTrait>> {\n        vec![]\n    }\n}\n";

fn scratch(label: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("saas_codegen_{label}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for krate in ["migration", "tenant_migration"] {
        std::fs::create_dir_all(root.join(krate).join("src")).expect("mkdir");
        std::fs::write(root.join(krate).join("src/lib.rs"), EMPTY_LIB).expect("lib.rs");
    }
    root
}

fn codegen(root: &Path, args: &[&str]) -> (Option<i32>, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_codegen"))
        .arg("--public-dir")
        .arg(root.join("migration"))
        .arg("--tenant-dir")
        .arg(root.join("tenant_migration"))
        .args(args)
        .output()
        .expect("run codegen");
    (
        status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    )
}

#[test]
fn check_fails_until_generated_then_a_second_run_writes_nothing() {
    let root = scratch("check");
    let (code, out) = codegen(&root, &["generate", "--check"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("create table task"), "{out}");

    let (code, out) = codegen(&root, &["generate", "--auto", "init"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Wrote public migration"), "{out}");
    assert!(out.contains("Wrote tenant migration"), "{out}");
    assert!(out.contains("Audit"), "{out}");

    let (code, out) = codegen(&root, &["generate", "--check"]);
    assert_eq!(code, Some(0), "{out}");

    let (code, out) = codegen(&root, &["generate", "--auto", "again"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("No changes"), "{out}");
    let files = std::fs::read_dir(root.join("tenant_migration/src"))
        .unwrap()
        .count();
    assert_eq!(files, 2, "lib.rs and the init migration only");

    // An entity change not yet generated looks, from the snapshot's side, like a column the
    // snapshot lacks: take one out of the record.
    let snapshot = root.join("tenant_migration/snapshots/tables.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&snapshot).unwrap()).unwrap();
    let columns = json["tables"]["task"]["columns"].as_array_mut().unwrap();
    columns.retain(|c| c["name"] != "assignee_id");
    std::fs::write(&snapshot, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let (code, out) = codegen(&root, &["generate", "--check"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("add column task.assignee_id"), "{out}");

    let (code, out) = codegen(&root, &["generate", "--auto"]);
    assert_eq!(code, Some(2), "a name is required: {out}");
    std::fs::remove_dir_all(&root).ok();
}
