//! The migration generator on the example application's entities, against a real
//! PostgreSQL: generate into scratch copies of the migration crates, compare with the
//! committed expected files under `tests/codegen/` (compiled here, so the generated code is
//! built and linted with the workspace), then apply those.
//!
//! After an intended change to the generator, `SEA_TENANT_BLESS=1 cargo test -p
//! sea-tenant-tests --test codegen_example` rewrites the expected files.

#[path = "codegen/public_init.rs"]
mod m_public_init;
#[path = "codegen/tenant_add_due_note.rs"]
mod m_tenant_add_due_note;
#[path = "codegen/tenant_init.rs"]
mod m_tenant_init;

use std::path::{Path, PathBuf};

use saas_example::entity::{invoice, invoice_line, organization, project, user};
use sea_orm::ConnectionTrait;
use sea_orm_migration::{MigrationTrait, MigratorTrait};
use sea_tenant::codegen::{Codegen, GeneratedFile, Registry, Target};
use sea_tenant::{TenantMigrator, tenants};
use sea_tenant_tests::{TestDb, catalog_dump, connect, strings, tables};

/// The example's `task` with one more column, as a developer would add it.
mod task_v2 {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "task")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub project_id: i32,
        #[sea_orm(column_type = "Text")]
        pub title: String,
        #[sea_orm(default_value = false)]
        pub done: bool,
        pub assignee_id: Option<i32>,
        #[sea_orm(column_type = "Text", nullable)]
        pub due_note: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "saas_example::entity::project::Entity",
            from = "Column::ProjectId",
            to = "saas_example::entity::project::Column::Id",
            fk_name = "task_project_fk",
            on_delete = "Cascade"
        )]
        Project,
        #[sea_orm(
            belongs_to = "saas_example::entity::user::Entity",
            from = "Column::AssigneeId",
            to = "saas_example::entity::user::Column::Id",
            fk_name = "task_assignee_fk",
            on_delete = "SetNull"
        )]
        Assignee,
    }

    impl ActiveModelBehavior for ActiveModel {}
}

fn registry_v2() -> Registry {
    Registry::new()
        .global::<user::Entity>()
        .global::<organization::Entity>()
        .attribute_tenant::<invoice::Entity>("organization_id")
        .attribute_tenant::<invoice_line::Entity>("organization_id")
        .tenant::<project::Entity>()
        .tenant::<task_v2::Entity>()
}

macro_rules! migrator {
    ($name:ident: $($m:ident),*) => {
        struct $name;
        impl MigratorTrait for $name {
            fn migrations() -> Vec<Box<dyn MigrationTrait>> {
                vec![$(Box::new($m::Migration)),*]
            }
        }
    };
}
migrator!(PublicInit: m_public_init);
migrator!(TenantInit: m_tenant_init);
migrator!(TenantV2: m_tenant_init, m_tenant_add_due_note);

const EMPTY_LIB: &str = "pub use sea_orm_migration::prelude::*;\n\npub struct Migrator;\n\nimpl MigratorTrait for Migrator {\n    fn migrations() -> Vec<Box<dyn MigrationTrait>> {\n        vec![]\n    }\n}\n";

/// Two empty migration crates (only what the generator reads and writes) in a fresh
/// temporary directory.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(label: &str) -> Scratch {
        let root =
            std::env::temp_dir().join(format!("sea_tenant_codegen_{label}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for krate in ["migration", "tenant_migration"] {
            std::fs::create_dir_all(root.join(krate).join("src")).expect("mkdir");
            std::fs::write(root.join(krate).join("src/lib.rs"), EMPTY_LIB).expect("lib.rs");
        }
        Scratch { root }
    }

    fn codegen(&self, registry: Registry) -> Codegen {
        Codegen::new(
            registry,
            self.root.join("migration"),
            self.root.join("tenant_migration"),
        )
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Compares a generated file with its committed expectation (or rewrites it when blessing).
fn expect_file(file: &GeneratedFile, expected: &str) {
    assert!(
        file.formatted,
        "rustfmt did not format {}",
        file.path.display()
    );
    let actual = std::fs::read_to_string(&file.path).expect("generated file");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/codegen")
        .join(expected);
    if std::env::var_os("SEA_TENANT_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("bless");
        return;
    }
    let committed = std::fs::read_to_string(&path).expect("expected file");
    assert_eq!(
        actual,
        committed,
        "{} differs from {}; rerun with SEA_TENANT_BLESS=1 after checking the change",
        file.path.display(),
        path.display()
    );
    let check = std::process::Command::new("rustfmt")
        .args(["--check", "--edition", "2024"])
        .arg(&file.path)
        .output()
        .expect("rustfmt");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// `name (columns) -> schema.table (columns)` for each foreign key of `schema`, read from
/// the catalog so that `search_path` cannot shorten the names.
async fn foreign_keys(db: &impl ConnectionTrait, schema: &str) -> Vec<String> {
    let cols = |key: &str, rel: &str| {
        format!(
            "(SELECT string_agg(a.attname, ', ' ORDER BY k.i) \
             FROM unnest(c.{key}) WITH ORDINALITY k(n, i) \
             JOIN pg_attribute a ON a.attrelid = c.{rel} AND a.attnum = k.n)"
        )
    };
    strings(
        db,
        &format!(
            "SELECT format('%s (%s) -> %s.%s (%s)', c.conname, {}, tn.nspname, t.relname, {}) \
             FROM pg_constraint c JOIN pg_class t ON t.oid = c.confrelid \
             JOIN pg_namespace tn ON tn.oid = t.relnamespace \
             JOIN pg_namespace n ON n.oid = c.connamespace \
             WHERE c.contype = 'f' AND n.nspname = '{schema}' ORDER BY 1",
            cols("conkey", "conrelid"),
            cols("confkey", "confrelid")
        ),
    )
    .await
}

async fn columns(db: &impl ConnectionTrait, schema: &str, table: &str) -> Vec<String> {
    strings(
        db,
        &format!(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    )
    .await
}

const ORGS: [&str; 3] = ["org_acme", "org_globex", "org_initech"];

#[tokio::test]
async fn init_writes_one_file_per_crate_and_builds_the_schemas() {
    let scratch = Scratch::new("init");
    let codegen = scratch.codegen(saas_example::registry());
    let files = codegen.generate("init").expect("generate");
    assert_eq!(
        files.iter().map(|f| f.target).collect::<Vec<_>>(),
        [Target::Public, Target::Tenant]
    );
    for file in &files {
        let name = file.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(
            name.starts_with('m') && name.ends_with("_init.rs"),
            "{name}"
        );
        let dir = codegen.dir(file.target);
        assert!(file.path.starts_with(dir.join("src")));
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        let module = name.trim_end_matches(".rs");
        assert!(lib.contains(&format!("mod {module};")), "{lib}");
        assert!(
            lib.contains(&format!("Box::new({module}::Migration)")),
            "{lib}"
        );
    }
    expect_file(&files[0], "public_init.rs");
    expect_file(&files[1], "tenant_init.rs");

    // A second run with no entity change writes nothing.
    assert!(codegen.generate("again").expect("again").is_empty());
    assert!(codegen.pending().unwrap().values().all(Vec::is_empty));

    let t = TestDb::new("codegen_init").await;
    // Unqualified names would land in this decoy schema: the public migration must not.
    t.db.execute_unprepared(&format!(
        "CREATE SCHEMA decoy; ALTER DATABASE \"{}\" SET search_path = decoy, public",
        t.name
    ))
    .await
    .unwrap();
    let db = connect(&t.url, 2).await;
    PublicInit::up(&db, None).await.expect("public up");
    assert_eq!(
        tables(&db, "public").await,
        ["invoice", "invoice_line", "organization", "user"]
    );
    // Only sea-orm-migration's own version table follows search_path.
    assert_eq!(tables(&db, "decoy").await, ["seaql_migrations"]);

    let public_before = catalog_dump(&t.db, "public").await;
    let report = TenantMigrator::new(t.db.clone(), TenantInit, tenants::fixed(ORGS))
        .create_missing(true)
        .up(None)
        .await
        .expect("tenant up");
    assert!(report.is_success(), "{report}");
    assert_eq!(
        catalog_dump(&t.db, "public").await,
        public_before,
        "a tenant migration changed public"
    );

    for org in ORGS {
        assert_eq!(
            foreign_keys(&t.db, org).await,
            [
                "task_assignee_fk (assignee_id) -> public.user (id)".to_owned(),
                format!("task_project_fk (project_id) -> {org}.project (id)"),
            ]
        );
    }
    let public_fks = foreign_keys(&t.db, "public").await;
    assert!(
        public_fks.iter().any(|fk| fk
            == "invoice_line_invoice_id_fkey (organization_id, invoice_id) \
                -> public.invoice (organization_id, id)"),
        "{public_fks:?}"
    );
    // The composite key keeps a line inside its invoice's organization.
    t.db.execute_unprepared(
        "INSERT INTO public.organization (id, slug, name) VALUES (1, 'a', 'A'), (2, 'b', 'B'); \
         INSERT INTO public.invoice (id, organization_id, number) VALUES (10, 1, 'A-1'); \
         INSERT INTO public.invoice_line (organization_id, invoice_id, description, amount_cents) \
         VALUES (1, 10, 'ok', 100)",
    )
    .await
    .expect("same-organization line");
    let cross = t
        .db
        .execute_unprepared(
            "INSERT INTO public.invoice_line (organization_id, invoice_id, description, amount_cents) \
             VALUES (2, 10, 'other organization', 100)",
        )
        .await;
    assert!(
        cross.is_err(),
        "a line of organization 2 joined organization 1's invoice"
    );

    // The public migration's down undoes its up once the tenants that reference it are gone.
    for org in ORGS {
        db.execute_unprepared(&format!("DROP SCHEMA {org} CASCADE"))
            .await
            .unwrap();
    }
    PublicInit::down(&db, None).await.expect("public down");
    assert!(tables(&db, "public").await.is_empty());
    db.close().await.ok();
}

#[tokio::test]
async fn an_added_column_is_one_tenant_migration_applied_to_every_tenant() {
    let scratch = Scratch::new("add");
    scratch
        .codegen(saas_example::registry())
        .generate("init")
        .expect("init");
    let codegen = scratch.codegen(registry_v2());
    let pending = codegen.pending().unwrap();
    assert!(pending[&Target::Public].is_empty());
    assert_eq!(
        pending[&Target::Tenant]
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["add column task.due_note"]
    );
    let files = codegen.generate("add_due_note").expect("generate");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].target, Target::Tenant);
    assert_eq!(files[0].operations, ["add column task.due_note"]);
    expect_file(&files[0], "tenant_add_due_note.rs");
    let text = std::fs::read_to_string(&files[0].path).unwrap();
    // Nothing but the header comment mentions public.
    for line in text.lines().filter(|l| !l.starts_with("//")) {
        assert!(!line.contains("public"), "{line}");
    }
    assert!(codegen.generate("again").unwrap().is_empty());

    let t = TestDb::new("codegen_add").await;
    PublicInit::up(&t.db, None).await.expect("public up");
    let v1 =
        TenantMigrator::new(t.db.clone(), TenantInit, tenants::fixed(ORGS)).create_missing(true);
    assert!(v1.up(None).await.unwrap().is_success());
    t.db.execute_unprepared(
        "INSERT INTO org_acme.project (name) VALUES ('p'); \
         INSERT INTO org_acme.task (project_id, title) VALUES (1, 'existing row')",
    )
    .await
    .unwrap();

    let v2 = TenantMigrator::new(t.db.clone(), TenantV2, tenants::fixed(ORGS));
    let report = v2.up(None).await.unwrap();
    assert!(report.is_success(), "{report}");
    assert_eq!(report.applied_count(), 3);
    for org in ORGS {
        assert_eq!(
            columns(&t.db, org, "task").await,
            [
                "id",
                "project_id",
                "title",
                "done",
                "assignee_id",
                "due_note"
            ]
        );
    }
    let report = v2.down(Some(1)).await.unwrap();
    assert!(report.is_success(), "{report}");
    for org in ORGS {
        assert_eq!(
            columns(&t.db, org, "task").await,
            ["id", "project_id", "title", "done", "assignee_id"]
        );
    }
    assert_eq!(
        strings(&t.db, "SELECT title FROM org_acme.task").await,
        ["existing row"]
    );

    // The generated init's down empties each tenant schema but for the version table.
    let report = v2.down(None).await.unwrap();
    assert!(report.is_success(), "{report}");
    for org in ORGS {
        assert_eq!(
            tables(&t.db, org).await,
            [sea_tenant::DEFAULT_VERSION_TABLE]
        );
    }
}

#[test]
fn check_sees_an_unrecorded_change_until_it_is_generated() {
    let scratch = Scratch::new("check");
    let before = scratch.codegen(saas_example::registry());
    before.generate("init").unwrap();
    assert!(before.pending().unwrap().values().all(Vec::is_empty));
    let after = scratch.codegen(registry_v2());
    assert!(!after.pending().unwrap()[&Target::Tenant].is_empty());
    after.generate("add_due_note").unwrap();
    assert!(after.pending().unwrap().values().all(Vec::is_empty));
}

#[test]
fn without_auto_the_empty_migration_goes_into_the_chosen_crate() {
    let scratch = Scratch::new("plain");
    let code = sea_tenant::codegen::run_cli_with(
        ["codegen", "generate", "add_things"],
        scratch.codegen(saas_example::registry()),
    );
    assert_eq!(code, 0);
    let code = sea_tenant::codegen::run_cli_with(
        ["codegen", "generate", "seed_plans", "--global"],
        scratch.codegen(saas_example::registry()),
    );
    assert_eq!(code, 0);
    let names = |krate: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(scratch.root.join(krate).join("src"))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n != "lib.rs")
            .collect();
        v.sort();
        v
    };
    let tenant = names("tenant_migration");
    let public = names("migration");
    assert!(
        lines(&tenant.join("\n")).len() == 1 && tenant[0].ends_with("_add_things.rs"),
        "{tenant:?}"
    );
    assert!(
        lines(&public.join("\n")).len() == 1 && public[0].ends_with("_seed_plans.rs"),
        "{public:?}"
    );
    // No snapshot is recorded for a hand-written migration.
    assert!(!scratch.root.join("tenant_migration/snapshots").exists());
}
