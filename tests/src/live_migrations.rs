//! Tenant migration sets that read the database while they run, as SeaORM applications write
//! them: a `has_column` check, and a seed through entities (`ActiveModel::insert`, an
//! `INSERT … RETURNING`) whose second row references the id the first one returned. Such a
//! set cannot be rendered into a script, so sea-tenant provisions it live.

use sea_orm::{ActiveModelTrait, NotSet, Set};
use sea_orm_migration::prelude::*;

/// The tenant-side tables the seed writes through.
pub mod tenant_entities {
    /// `category`: created by the first migration.
    pub mod category {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "category")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }

    /// `product`, referencing `category`.
    pub mod product {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "product")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub category_id: i32,
            pub name: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    }
}

use tenant_entities::{category, product};

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

named!(CreateCatalog, "l0001_create_catalog");
named!(AddSlugIfMissing, "l0002_add_slug_if_missing");
named!(SeedCatalog, "l0003_seed_catalog");
named!(FailAfterSeed, "l0004_fail_after_seed");
named!(RefuseToRender, "l0001_refuse");

/// The versions of [`LiveMigrations`], in order.
pub const LIVE_VERSIONS: [&str; 3] = [
    "l0001_create_catalog",
    "l0002_add_slug_if_missing",
    "l0003_seed_catalog",
];

#[async_trait::async_trait]
impl MigrationTrait for CreateCatalog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE category (id serial PRIMARY KEY, name text NOT NULL);
                 CREATE TABLE product (id serial PRIMARY KEY,
                     category_id integer NOT NULL REFERENCES category (id), name text NOT NULL)",
            )
            .await
            .map(|_| ())
    }
}

/// Reads: `has_column` asks the catalog.
#[async_trait::async_trait]
impl MigrationTrait for AddSlugIfMissing {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_column("category", "slug").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table("category")
                    .add_column(ColumnDef::new("slug").text().null())
                    .to_owned(),
            )
            .await
    }
}

/// Reads: each `insert` is an `INSERT … RETURNING`, and the product needs the category's id.
#[async_trait::async_trait]
impl MigrationTrait for SeedCatalog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let general = category::ActiveModel {
            id: NotSet,
            name: Set("general".to_owned()),
        }
        .insert(db)
        .await?;
        product::ActiveModel {
            id: NotSet,
            category_id: Set(general.id),
            name: Set("welcome kit".to_owned()),
        }
        .insert(db)
        .await?;
        Ok(())
    }
}

/// Fails after creating a table, so a half-applied set would be visible.
#[async_trait::async_trait]
impl MigrationTrait for FailAfterSeed {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("CREATE TABLE half_done (id int); SELECT 1/0")
            .await
            .map(|_| ())
    }
}

/// Fails without reading: rendering cannot succeed, and the set is not live either.
#[async_trait::async_trait]
impl MigrationTrait for RefuseToRender {
    async fn up(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("this migration refuses to run".to_owned()))
    }
}

/// Create the catalog, add a column if it is missing (`has_column`), seed it (entity
/// inserts with `RETURNING`).
pub struct LiveMigrations;

impl MigratorTrait for LiveMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateCatalog),
            Box::new(AddSlugIfMissing),
            Box::new(SeedCatalog),
        ]
    }
}

/// [`LiveMigrations`] followed by a migration that always fails.
pub struct BrokenLiveMigrations;

impl MigratorTrait for BrokenLiveMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateCatalog),
            Box::new(AddSlugIfMissing),
            Box::new(SeedCatalog),
            Box::new(FailAfterSeed),
        ]
    }
}

/// One migration whose `up` fails without reading.
pub struct UnrenderableMigrations;

impl MigratorTrait for UnrenderableMigrations {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(RefuseToRender)]
    }
}
