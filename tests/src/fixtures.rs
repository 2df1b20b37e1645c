//! Tenant migration sets used by the tests. Names are spelled out (not `DeriveMigrationName`)
//! because several migrations share this file.

use sea_orm_migration::prelude::*;

macro_rules! named {
    ($ty:ident, $name:literal) => {
        /// A fixture migration.
        pub struct $ty;
        impl MigrationName for $ty {
            fn name(&self) -> &str {
                $name
            }
        }
    };
}

named!(CreatePost, "m0001_create_post");
named!(CreateComment, "m0002_create_comment");
named!(AddPublished, "m0003_add_published");
named!(Broken, "m0004_broken");

#[async_trait::async_trait]
impl MigrationTrait for CreatePost {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("post")
                    .col(
                        ColumnDef::new("id")
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("title").text().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("post_title_idx")
                    .table("post")
                    .col("title")
                    .to_owned(),
            )
            .await
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("post").to_owned())
            .await
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateComment {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("comment")
                    .col(
                        ColumnDef::new("id")
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new("post_id").integer().not_null())
                    .col(ColumnDef::new("body").text().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("comment_post_fk")
                            .from("comment", "post_id")
                            .to("post", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("comment").to_owned())
            .await
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddPublished {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("post")
                    .add_column(
                        ColumnDef::new("published")
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("post")
                    .drop_column("published")
                    .to_owned(),
            )
            .await
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Broken {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("CREATE TABLE broken_ok (id int); SELECT 1/0")
            .await
            .map(|_| ())
    }
}

/// Three migrations: `post`, `comment` (foreign key to `post`), then a column on `post`.
pub struct BlogMigrations;

impl MigratorTrait for BlogMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreatePost),
            Box::new(CreateComment),
            Box::new(AddPublished),
        ]
    }
}

/// [`BlogMigrations`] followed by a migration that always fails (after creating a table, so a
/// half-applied migration would be visible).
pub struct BrokenMigrations;

impl MigratorTrait for BrokenMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreatePost),
            Box::new(CreateComment),
            Box::new(AddPublished),
            Box::new(Broken),
        ]
    }
}

/// The first two migrations of [`BlogMigrations`]: a tenant at an older version.
pub struct BlogV2Migrations;

impl MigratorTrait for BlogV2Migrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreatePost), Box::new(CreateComment)]
    }
}
