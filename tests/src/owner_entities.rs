//! Owner entities for the `owner_*` tests, each in the classic `DeriveEntityModel` form
//! (`classic`) and the 2.0 `#[sea_orm::model]` form (`dense`), with the same module and
//! field names so that one test body runs against both.
//!
//! - `org_id`: `org_<id>`, default options, the `ActiveModelBehavior` the attribute writes;
//! - `org_slug`: `org_<slug>`, `drop = true`, `hooks = custom` with a `before_save` of its
//!   own that trims `name`;
//! - `org_broken`: `brk_<id>`, provisioning always fails (`BrokenMigrations`).
//!
//! [`registered`](crate::owner_entities::registered) holds owners that name no migration set,
//! [`live`](crate::owner_entities::live) owners whose migration set reads (one form only each);
//! [`two_fields`](crate::owner_entities::two_fields) is an owner no HTTP resolver can take.

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
    }

    /// `org_<slug>`, dropped with its row, plus hook logic of its own.
    pub mod org_slug {
        use sea_orm::Set;
        use sea_orm::entity::prelude::*;

        #[sea_tenant::tenant(
            template = "org_<slug>",
            drop = true,
            migrator = crate::fixtures::BlogMigrations,
            hooks = custom
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

        #[sea_tenant::hooks]
        impl ActiveModelBehavior for ActiveModel {
            async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
            where
                C: ConnectionTrait,
            {
                if let Some(name) = self.name.try_as_ref() {
                    let trimmed = name.trim().to_owned();
                    self.name = Set(trimmed);
                }
                Ok(self)
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
            migrator = crate::fixtures::BlogMigrations,
            hooks = custom
        )]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub slug: String,
            pub name: String,
        }

        #[sea_tenant::hooks]
        impl ActiveModelBehavior for ActiveModel {
            async fn before_save<C>(mut self, _db: &C, _insert: bool) -> Result<Self, DbErr>
            where
                C: ConnectionTrait,
            {
                if let Some(name) = self.name.try_as_ref() {
                    let trimmed = name.trim().to_owned();
                    self.name = Set(trimmed);
                }
                Ok(self)
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
    }
}

/// Owners whose `#[tenant]` names no migration set: the application registers it
/// (`owner::register_migrations`) where it starts.
pub mod registered {
    /// The tables of these owners, in `public`.
    pub const TABLES_SQL: &str = "
        CREATE TABLE org_reg (id serial PRIMARY KEY, name text NOT NULL);
        CREATE TABLE org_seeded (id serial PRIMARY KEY, slug text NOT NULL UNIQUE);
        CREATE TABLE org_unreg (id serial PRIMARY KEY, name text NOT NULL);
    ";

    /// `reg_<id>`, the attribute's `ActiveModelBehavior`; registered by its test.
    pub mod org_reg {
        use sea_orm::entity::prelude::*;

        #[sea_tenant::tenant(template = "reg_<id>")]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "org_reg")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
    }

    /// `seed_<slug>`, `hooks = custom`: its own `after_save` writes a first post into the
    /// tenant sea-tenant's `after_save` created before it. Registered by its test.
    pub mod org_seeded {
        use sea_orm::entity::prelude::*;

        #[sea_tenant::tenant(template = "seed_<slug>", hooks = custom)]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "org_seeded")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub slug: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        #[sea_tenant::hooks]
        impl ActiveModelBehavior for ActiveModel {
            async fn after_save<C>(model: Model, db: &C, insert: bool) -> Result<Model, DbErr>
            where
                C: ConnectionTrait,
            {
                if insert {
                    let tenant = model
                        .tenant_name()
                        .map_err(|e| DbErr::Custom(e.to_string()))?;
                    db.execute_unprepared(&format!(
                        "INSERT INTO {}.post (title) VALUES ('welcome')",
                        tenant.quoted()
                    ))
                    .await?;
                }
                Ok(model)
            }
        }
    }

    /// `unreg_<id>`: never registered anywhere, so no row of it can be inserted.
    pub mod org_unreg {
        use sea_orm::entity::prelude::*;

        #[sea_tenant::tenant(template = "unreg_<id>")]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "org_unreg")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub name: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
    }
}

/// An owner whose template has two placeholders, so that no single public identifier names
/// its tenant: `TenantResolver::for_owner` refuses it. No table; never inserted.
pub mod two_fields {
    use sea_orm::entity::prelude::*;

    #[sea_tenant::tenant(template = "org_<region>_<slug>")]
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "org_two_fields")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub region: String,
        pub slug: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Owners whose tenant migration set reads the database (`crate::live_migrations`), so that
/// their tenants are provisioned live.
pub mod live {
    /// The tables of these owners, in `public`.
    pub const TABLES_SQL: &str = "
        CREATE TABLE org_live (id serial PRIMARY KEY, slug text NOT NULL UNIQUE);
        CREATE TABLE org_live_broken (id serial PRIMARY KEY, slug text NOT NULL UNIQUE);
    ";

    /// `live_<slug>`, provisioned with `LiveMigrations`.
    pub mod org_live {
        use sea_orm::entity::prelude::*;

        #[sea_tenant::tenant(
            template = "live_<slug>",
            migrator = crate::live_migrations::LiveMigrations
        )]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "org_live")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub slug: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
    }

    /// `lbrk_<slug>`: `BrokenLiveMigrations`, whose last migration fails after the seed.
    pub mod org_live_broken {
        use sea_orm::entity::prelude::*;

        #[sea_tenant::tenant(
            template = "lbrk_<slug>",
            migrator = crate::live_migrations::BrokenLiveMigrations
        )]
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "org_live_broken")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i32,
            pub slug: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
    }
}
