//! Registry, diff and renderer on small entities, without a database.

use super::migration_crate::SNAPSHOT_PATH;
use super::model::{ColType, Column, Key, Table};
use super::*;

mod account {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(schema_name = "public", table_name = "account")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(unique)]
        pub email: String,
        pub owner_doc_id: Option<i32>,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::doc::Entity",
            from = "Column::OwnerDocId",
            to = "super::doc::Column::Id"
        )]
        Doc,
    }
    impl ActiveModelBehavior for ActiveModel {}
}

mod doc {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "doc")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(indexed)]
        pub title: String,
        pub account_id: i32,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::account::Entity",
            from = "Column::AccountId",
            to = "super::account::Column::Id"
        )]
        Account,
    }
    impl ActiveModelBehavior for ActiveModel {}
}

mod plain_account {
    use sea_orm::entity::prelude::*;
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(schema_name = "public", table_name = "account")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(unique)]
        pub email: String,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}
}

fn tenant_snapshot() -> Snapshot {
    let mut all = Registry::new()
        .global::<plain_account::Entity>()
        .tenant::<doc::Entity>()
        .snapshots()
        .expect("snapshots");
    all.remove(&Target::Tenant).expect("tenant")
}

fn doc_table(s: &mut Snapshot) -> &mut Table {
    s.tables.get_mut("doc").expect("doc")
}

#[test]
fn resolves_placements_and_keys() {
    let all = Registry::new()
        .global::<plain_account::Entity>()
        .tenant::<doc::Entity>()
        .snapshots()
        .unwrap();
    let account = &all[&Target::Public].tables["account"];
    assert_eq!(account.uniques[0].name, "account_email_key");
    let doc = &all[&Target::Tenant].tables["doc"];
    assert_eq!(doc.indexes[0].name, "doc_title_idx");
    let fk = &doc.foreign_keys[0];
    assert_eq!(
        (fk.ref_schema.as_deref(), fk.ref_table.as_str()),
        (Some("public"), "account")
    );
}

#[test]
fn rejects_a_public_table_pointing_into_a_tenant() {
    let err = Registry::new()
        .global::<account::Entity>()
        .tenant::<doc::Entity>()
        .snapshots()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("from a public table to tenant table \"doc\""),
        "{err}"
    );
    assert!(err.contains("cannot"), "{err}");
}

#[test]
fn rejects_a_tenant_entity_with_a_schema() {
    let err = Registry::new()
        .tenant::<plain_account::Entity>()
        .snapshots()
        .unwrap_err()
        .to_string();
    assert!(err.contains("must not name a schema"), "{err}");
}

#[test]
fn no_change_no_ops() {
    let s = tenant_snapshot();
    assert!(diff(&s, &s).unwrap().is_empty());
}

#[test]
fn added_column_is_one_op_and_down_drops_it() {
    let old = tenant_snapshot();
    let mut new = old.clone();
    doc_table(&mut new).columns.push(Column {
        name: "due".into(),
        col_type: ColType::Date,
        nullable: true,
        default: None,
        auto_increment: false,
    });
    let ops = diff(&old, &new).unwrap();
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].to_string(), "add column doc.due");
    let text = render(Target::Tenant, &ops);
    assert!(
        text.contains(r#".add_column(ColumnDef::new("due").date().null())"#),
        "{text}"
    );
    assert!(text.contains(r#".drop_column("due")"#), "{text}");
}

#[test]
fn dropping_a_required_column_has_a_down_that_fails() {
    let old = tenant_snapshot();
    let mut new = old.clone();
    doc_table(&mut new).columns.retain(|c| c.name != "title");
    doc_table(&mut new).indexes.clear();
    let ops = diff(&old, &new).unwrap();
    let names: Vec<String> = ops.iter().map(Op::to_string).collect();
    assert_eq!(
        names,
        ["drop index doc_title_idx on doc", "drop column doc.title"]
    );
    let text = render(Target::Tenant, &ops);
    assert!(text.contains("Err(DbErr::Migration("), "{text}");
    assert!(text.contains("cannot be added back"), "{text}");
    assert!(text.contains("If it was renamed"), "{text}");
}

#[test]
fn nullability_and_default_changes_reverse() {
    let old = tenant_snapshot();
    let mut new = old.clone();
    let col = doc_table(&mut new)
        .columns
        .iter_mut()
        .find(|c| c.name == "title")
        .unwrap();
    col.nullable = true;
    col.default = Some("'untitled'".into());
    let ops = diff(&old, &new).unwrap();
    assert_eq!(ops.len(), 1);
    let text = render(Target::Tenant, &ops);
    assert!(
        text.contains(r#"ALTER TABLE "doc" ALTER COLUMN "title" DROP NOT NULL, ALTER COLUMN "title" SET DEFAULT 'untitled'"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ALTER TABLE "doc" ALTER COLUMN "title" SET NOT NULL, ALTER COLUMN "title" DROP DEFAULT"#),
        "{text}"
    );
}

#[test]
fn type_changes_are_refused() {
    let old = tenant_snapshot();
    let mut new = old.clone();
    doc_table(&mut new).columns[1].col_type = ColType::Integer;
    let err = diff(&old, &new).unwrap_err().to_string();
    assert!(err.contains("not supported"), "{err}");
}

#[test]
fn keys_are_added_and_dropped_by_name() {
    let old = tenant_snapshot();
    let mut new = old.clone();
    let doc = doc_table(&mut new);
    doc.indexes.clear();
    doc.uniques.push(Key {
        name: "doc_title_key".into(),
        columns: vec!["title".into()],
    });
    let fk = doc.foreign_keys.remove(0);
    let ops = diff(&old, &new).unwrap();
    let names: Vec<String> = ops.iter().map(Op::to_string).collect();
    assert_eq!(
        names,
        [
            format!("drop foreign key {} on doc", fk.name),
            "drop index doc_title_idx on doc".into(),
            "add unique doc_title_key on doc".into(),
        ]
    );
    let text = render(Target::Tenant, &ops);
    // The restored foreign key still points at the public table.
    assert!(
        text.contains(r#".to(("public", "account"), "id")"#),
        "{text}"
    );
    assert!(
        text.contains(r#"ADD CONSTRAINT "doc_title_key" UNIQUE ("title")"#),
        "{text}"
    );
}

#[test]
fn dropping_a_table_cannot_be_reversed() {
    let old = tenant_snapshot();
    let ops = diff(&old, &Snapshot::default()).unwrap();
    let text = render(Target::Tenant, &ops);
    assert!(
        text.contains(r#".drop_table(Table::drop().table("doc").to_owned())"#),
        "{text}"
    );
    assert!(text.contains("was dropped with its rows"), "{text}");
}

#[test]
fn tenant_migrations_name_public_only_as_a_reference() {
    let ops = diff(&Snapshot::default(), &tenant_snapshot()).unwrap();
    let text = render(Target::Tenant, &ops);
    for line in text.lines().filter(|l| l.contains("public")) {
        assert!(
            line.trim_start().starts_with("//") || line.contains(r#".to(("public", "#),
            "{line}"
        );
    }
}

#[test]
fn snapshot_round_trips_through_json() {
    let s = tenant_snapshot();
    let text = serde_json::to_string_pretty(&s).unwrap();
    assert_eq!(serde_json::from_str::<Snapshot>(&text).unwrap(), s);
}

#[test]
fn a_required_column_without_default_is_flagged() {
    let old = tenant_snapshot();
    let mut new = old.clone();
    doc_table(&mut new).columns.push(Column {
        name: "rank".into(),
        col_type: ColType::Integer,
        nullable: false,
        default: None,
        auto_increment: false,
    });
    let text = render(Target::Tenant, &diff(&old, &new).unwrap());
    assert!(text.contains("// NOT NULL without a default"), "{text}");
}

#[test]
fn generate_writes_nothing_when_one_crate_cannot_take_the_file() {
    let root = std::env::temp_dir().join(format!("sea_tenant_cg_unit_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("pub/src")).unwrap();
    std::fs::create_dir_all(root.join("ten/src")).unwrap();
    std::fs::write(
        root.join("pub/src/lib.rs"),
        "fn migrations() -> Vec<Box<dyn MigrationTrait>> {\n    vec![]\n}\n",
    )
    .unwrap();
    // The tenant crate's lib.rs has no migrations(): registration would fail.
    std::fs::write(root.join("ten/src/lib.rs"), "").unwrap();
    let registry = Registry::new()
        .global::<plain_account::Entity>()
        .tenant::<doc::Entity>();
    let codegen = Codegen::new(registry, root.join("pub"), root.join("ten"));
    assert!(codegen.generate("init").is_err());
    assert_eq!(std::fs::read_dir(root.join("pub/src")).unwrap().count(), 1);
    assert!(!root.join("pub").join(SNAPSHOT_PATH).exists());
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn an_empty_migration_is_formatted_and_says_where_it_runs() {
    for (target, runs) in [
        (Target::Tenant, "Runs inside each tenant schema"),
        (Target::Public, "Runs in the public schema"),
    ] {
        let text = render::empty(target);
        assert!(text.contains(runs), "{text}");
        // Never `Ok(())`: a forgotten migration must not be recorded as applied.
        assert!(!text.contains("Ok(())"), "{text}");
        assert_eq!(text.matches("todo!(").count(), 2, "{text}");
        assert_eq!(render::rustfmt(&text).expect("rustfmt"), text);
    }
}

#[test]
fn generate_takes_a_migration_name_or_one_mode() {
    // Crates that do not exist: nothing may be written, and an empty registry has no changes.
    let root = std::env::temp_dir().join(format!("sea_tenant_cg_cli_{}", std::process::id()));
    let run = |args: &[&str]| {
        let codegen = Codegen::new(Registry::new(), root.join("pub"), root.join("ten"));
        run_cli_with(["codegen", "generate"].iter().chain(args), codegen)
    };
    for refused in [
        &[][..],
        &["--auto"],
        &["--check", "x"],
        &["--check", "--snapshot-only"],
        &["x", "--auto", "--global"],
        &["--global", "--check"],
    ] {
        assert_eq!(run(refused), 2, "{refused:?}");
    }
    assert_eq!(run(&["--check"]), 0);
    assert_eq!(run(&["--auto", "x"]), 0);
    assert!(!root.exists());
}

#[test]
fn on_citus_the_public_tables_tenants_reference_become_reference_tables() {
    // account is referenced by the tenant table doc; with citus on it is created and made a
    // reference table in the same public migration, after its keys.
    let plain = Registry::new()
        .global::<plain_account::Entity>()
        .tenant::<doc::Entity>();
    let citus = Registry::new()
        .global::<plain_account::Entity>()
        .tenant::<doc::Entity>()
        .citus(true);
    let public = |r: &Registry| r.snapshots().expect("snapshots")[&Target::Public].clone();
    let (before, after) = (public(&plain), public(&citus));
    assert!(!before.tables["account"].reference);
    assert!(after.tables["account"].reference);
    let ops = diff::diff(&Snapshot::default(), &after).expect("diff");
    let lines: Vec<String> = ops.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "create table account",
            "add unique account_email_key on account",
            "make account a Citus reference table"
        ]
    );
    let source = render::render(Target::Public, &ops);
    assert!(
        source.contains(r#"SELECT create_reference_table('public."account"')"#),
        "{source}"
    );
    // Its down undoes it first.
    let down = &source[source.find("async fn down").expect("down")..];
    assert!(
        down.find("undistribute_table").expect("undo") < down.find("drop_table").expect("drop"),
        "{down}"
    );
    // An existing plain table gets only the call; without citus the snapshot is unchanged.
    let ops = diff::diff(&before, &after).expect("diff");
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].to_string(), "make account a Citus reference table");
    assert!(
        diff::diff(&before, &public(&plain))
            .expect("diff")
            .is_empty()
    );
    let json = serde_json::to_string(&before).expect("json");
    assert!(!json.contains("reference"), "{json}");
}

#[test]
fn reference_tables_are_made_in_dependency_order() {
    fn table(name: &str, refs: &[&str]) -> Table {
        Table {
            name: name.to_owned(),
            placement: model::Placement::Global,
            columns: Vec::new(),
            primary_key: Vec::new(),
            indexes: Vec::new(),
            uniques: Vec::new(),
            foreign_keys: refs
                .iter()
                .map(|r| model::ForeignKey {
                    name: format!("{name}_{r}_fkey"),
                    columns: vec![format!("{r}_id")],
                    ref_schema: Some("public".to_owned()),
                    ref_table: (*r).to_owned(),
                    ref_columns: vec!["id".to_owned()],
                    on_delete: None,
                    on_update: None,
                })
                .collect(),
            reference: true,
        }
    }
    // a -> b -> c: c first, then b, then a, whatever the names' order.
    let mut snapshot = Snapshot::default();
    for t in [table("a", &["b"]), table("b", &["c"]), table("c", &[])] {
        snapshot.tables.insert(t.name.clone(), t);
    }
    let ops = diff::diff(&Snapshot::default(), &snapshot).expect("diff");
    let made: Vec<String> = ops
        .iter()
        .filter(|o| matches!(o, diff::Op::MakeReference(_)))
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        made,
        [
            "make c a Citus reference table",
            "make b a Citus reference table",
            "make a a Citus reference table"
        ]
    );
    // Foreign keys come after all of them.
    let first_fk = ops
        .iter()
        .position(|o| matches!(o, diff::Op::AddForeignKey { .. }))
        .expect("fk");
    let last_ref = ops
        .iter()
        .rposition(|o| matches!(o, diff::Op::MakeReference(_)))
        .expect("ref");
    assert!(last_ref < first_fk);
}
