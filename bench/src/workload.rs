//! The benchmark's tenant migration set: migration `i` (1..=10) creates `t_i` with a serial
//! key, text/numeric/boolean/timestamptz columns, a foreign key to `t_{i-1}` and an index on
//! the text column; an 11th adds a nullable column to every table.
//!
//! The statements are built once here and used both by the migrations (through
//! `SchemaManager`) and by the raw-SQL floor, so both send the same DDL.

use sea_orm::sea_query::PostgresQueryBuilder;
use sea_orm_migration::prelude::*;

pub const TABLES: usize = 10;

fn table(i: usize) -> String {
    format!("t_{i}")
}

pub fn create_table(i: usize) -> TableCreateStatement {
    let mut stmt = Table::create();
    stmt.table(table(i))
        .col(
            ColumnDef::new("id")
                .integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(ColumnDef::new("label").text().not_null())
        .col(ColumnDef::new("amount").decimal_len(12, 2))
        .col(ColumnDef::new("flag").boolean().not_null().default(false))
        .col(
            ColumnDef::new("created_at")
                .timestamp_with_time_zone()
                .not_null()
                .default(Expr::current_timestamp()),
        );
    if i > 1 {
        stmt.col(ColumnDef::new("prev_id").integer()).foreign_key(
            ForeignKey::create()
                .name(format!("t_{i}_prev_fk"))
                .from(table(i), "prev_id")
                .to(table(i - 1), "id"),
        );
    }
    stmt.to_owned()
}

pub fn create_index(i: usize) -> IndexCreateStatement {
    Index::create()
        .name(format!("t_{i}_label_idx"))
        .table(table(i))
        .col("label")
        .to_owned()
}

pub fn add_note(i: usize) -> TableAlterStatement {
    Table::alter()
        .table(table(i))
        .add_column(ColumnDef::new("note").text().null())
        .to_owned()
}

pub fn drop_note(i: usize) -> TableAlterStatement {
    Table::alter()
        .table(table(i))
        .drop_column("note")
        .to_owned()
}

/// Migration `i`'s DDL as SQL text.
pub fn create_sql(i: usize) -> [String; 2] {
    [
        create_table(i).to_string(PostgresQueryBuilder),
        create_index(i).to_string(PostgresQueryBuilder),
    ]
}

/// The 11th migration's DDL as SQL text.
pub fn add_note_sql() -> Vec<String> {
    (1..=TABLES)
        .map(|i| add_note(i).to_string(PostgresQueryBuilder))
        .collect()
}

struct CreateTable {
    i: usize,
    name: String,
}

impl MigrationName for CreateTable {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTable {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(create_table(self.i)).await?;
        manager.create_index(create_index(self.i)).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(table(self.i)).to_owned())
            .await
    }
}

struct AddNote;

impl MigrationName for AddNote {
    fn name(&self) -> &str {
        "m0011_add_note"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddNote {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for i in 1..=TABLES {
            manager.alter_table(add_note(i)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for i in 1..=TABLES {
            manager.alter_table(drop_note(i)).await?;
        }
        Ok(())
    }
}

fn ten() -> Vec<Box<dyn MigrationTrait>> {
    (1..=TABLES)
        .map(|i| {
            Box::new(CreateTable {
                i,
                name: format!("m{i:04}_create_t_{i}"),
            }) as Box<dyn MigrationTrait>
        })
        .collect()
}

/// Migrations 1–10.
pub struct Ten;

impl MigratorTrait for Ten {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        ten()
    }
}

/// Migrations 1–11.
pub struct Eleven;

impl MigratorTrait for Eleven {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        let mut all = ten();
        all.push(Box::new(AddNote));
        all
    }
}
