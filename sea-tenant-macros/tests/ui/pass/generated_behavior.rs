//! The attribute writes the entity's `ActiveModelBehavior`: no impl, no extra line, and the
//! hooks are sea-tenant's (seen on `before_save` of an insert, which runs no statement).

mod tenant_migration {
    use sea_orm_migration::prelude::*;
    pub struct Migrator;
    impl MigratorTrait for Migrator {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            vec![]
        }
    }
}

mod organization {
    use sea_orm::entity::prelude::*;

    #[sea_tenant::tenant(template = "org_<slug>", migrator = crate::tenant_migration::Migrator)]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "organization")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub slug: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

/// Without `migrator = …`: the set is registered where the application starts.
mod team {
    use sea_orm::entity::prelude::*;

    #[sea_tenant::tenant(template = "team_<slug>")]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "team")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub slug: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

use sea_orm::{ActiveModelBehavior, DatabaseConnection, NotSet, Set};
use sea_tenant::{Error, owner};

fn insert_check<A: ActiveModelBehavior + Send>(am: A) -> Result<A, sea_orm::DbErr> {
    // A disconnected connection: before_save of an insert must not need the database.
    let db = DatabaseConnection::default();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(am.before_save(&db, true))
}

fn main() {
    let org = organization::ActiveModel { id: NotSet, slug: Set("acme".into()) };
    insert_check(org).expect("a valid slug passes sea-tenant's before_save");

    let blank = organization::ActiveModel { id: NotSet, slug: Set(String::new()) };
    let err = insert_check(blank).expect_err("sea-tenant's before_save refuses an empty slug");
    assert!(matches!(
        owner::tenant_error(&err),
        Some(Error::EmptyTemplateValue { field: "slug", .. })
    ));

    let team = || team::ActiveModel { id: NotSet, slug: Set("red".into()) };
    let err = insert_check(team()).expect_err("no migration set known yet");
    assert!(matches!(owner::tenant_error(&err), Some(Error::NoMigrationSet { .. })));
    owner::register_migrations::<team::Entity, tenant_migration::Migrator>();
    insert_check(team()).expect("registered");

    let model = organization::Model { id: 1, slug: "acme".into() };
    assert_eq!(model.tenant_name().expect("valid").as_str(), "org_acme");
}
