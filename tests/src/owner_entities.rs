//! Owner entities for the `owner_*` tests, each in the classic `DeriveEntityModel` form
//! (`classic`) and the 2.0 `#[sea_orm::model]` form (`dense`), with the same module and
//! field names so that one test body runs against both.
//!
//! - `org_id`: `org_<id>`, default options, hooks by `tenant_behavior!`;
//! - `org_slug`: `org_<slug>`, `drop = true`, a hand-written hook that trims `name`;
//! - `org_broken`: `brk_<id>`, provisioning always fails (`BrokenMigrations`).

/// The tables of the owner entities, in `public`.
pub const OWNER_TABLES_SQL: &str = "
    CREATE TABLE organization (id serial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE org_slug (id serial PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL);
    CREATE TABLE org_broken (id serial PRIMARY KEY, name text NOT NULL);
";

/// The classic form: `#[tenant]` above `#[derive(DeriveEntityModel)]`.
pub mod classic {
    /// `org_<id>` with default options.
    pub mod org_id {
        use sea_orm::entity::prelude::*;

        #[sea_tenant::tenant(template = "org_<id>", migrator = crate::fixtures::BlogMigrations)]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "organization")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        sea_tenant::tenant_behavior!();
    }

    /// `org_<slug>`, dropped with its row, plus hook logic of its own.
    pub mod org_slug {
        use sea_orm::Set;
        use sea_orm::entity::prelude::*;

        #[sea_tenant::tenant(
            template = "org_<slug>",
            drop = true,
            migrator = crate::fixtures::BlogMigrations
        )]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "org_slug")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub slug: String,
            pub name: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        #[async_trait::async_trait]
        impl ActiveModelBehavior for ActiveModel {
            async fn before_save<C>(mut self, db: &C, insert: bool) -> Result<Self, DbErr>
            where
                C: ConnectionTrait,
            {
                if let Some(name) = self.name.try_as_ref() {
                    let trimmed = name.trim().to_owned();
                    self.name = Set(trimmed);
                }
                sea_tenant::owner::before_save::<Entity, C>(self, db, insert).await
            }

            async fn after_save<C>(model: Model, db: &C, insert: bool) -> Result<Model, DbErr>
            where
                C: ConnectionTrait,
            {
                sea_tenant::owner::after_save::<Entity, C>(model, db, insert).await
            }

            async fn before_delete<C>(self, db: &C) -> Result<Self, DbErr>
            where
                C: ConnectionTrait,
            {
                sea_tenant::owner::before_delete::<Entity, C>(self, db).await
            }

            async fn after_delete<C>(self, db: &C) -> Result<Self, DbErr>
            where
                C: ConnectionTrait,
            {
                sea_tenant::owner::after_delete::<Entity, C>(self, db).await
            }
        }
    }

    /// `brk_<id>`, whose last migration always fails.
    pub mod org_broken {
        use sea_orm::entity::prelude::*;

        #[sea_tenant::tenant(template = "brk_<id>", migrator = crate::fixtures::BrokenMigrations)]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "org_broken")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        sea_tenant::tenant_behavior!();
    }
}

/// The 2.0 dense form: `#[tenant]` under `#[sea_orm::model]`, which copies it onto
/// `ModelEx` as well.
pub mod dense {
    /// `org_<id>` with default options.
    pub mod org_id {
        use sea_orm::entity::prelude::*;
        use sea_tenant::tenant;

        #[sea_orm::model]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "organization")]
        #[tenant(template = "org_<id>", migrator = crate::fixtures::BlogMigrations)]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: String,
        }

        sea_tenant::tenant_behavior!();
    }

    /// `org_<slug>`, dropped with its row, plus hook logic of its own.
    pub mod org_slug {
        use sea_orm::Set;
        use sea_orm::entity::prelude::*;
        use sea_tenant::tenant;

        #[sea_orm::model]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "org_slug")]
        #[tenant(
            template = "org_<slug>",
            drop = true,
            migrator = crate::fixtures::BlogMigrations
        )]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub slug: String,
            pub name: String,
        }

        #[async_trait::async_trait]
        impl ActiveModelBehavior for ActiveModel {
            async fn before_save<C>(mut self, db: &C, insert: bool) -> Result<Self, DbErr>
            where
                C: ConnectionTrait,
            {
                if let Some(name) = self.name.try_as_ref() {
                    let trimmed = name.trim().to_owned();
                    self.name = Set(trimmed);
                }
                sea_tenant::owner::before_save::<Entity, C>(self, db, insert).await
            }

            async fn after_save<C>(model: Model, db: &C, insert: bool) -> Result<Model, DbErr>
            where
                C: ConnectionTrait,
            {
                sea_tenant::owner::after_save::<Entity, C>(model, db, insert).await
            }

            async fn before_delete<C>(self, db: &C) -> Result<Self, DbErr>
            where
                C: ConnectionTrait,
            {
                sea_tenant::owner::before_delete::<Entity, C>(self, db).await
            }

            async fn after_delete<C>(self, db: &C) -> Result<Self, DbErr>
            where
                C: ConnectionTrait,
            {
                sea_tenant::owner::after_delete::<Entity, C>(self, db).await
            }
        }
    }

    /// `brk_<id>`, whose last migration always fails.
    pub mod org_broken {
        use sea_orm::entity::prelude::*;
        use sea_tenant::tenant;

        #[sea_orm::model]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "org_broken")]
        #[tenant(template = "brk_<id>", migrator = crate::fixtures::BrokenMigrations)]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: String,
        }

        sea_tenant::tenant_behavior!();
    }
}
