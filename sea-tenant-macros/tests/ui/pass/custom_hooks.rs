//! `hooks = custom`: the entity's own impl under `#[sea_tenant::hooks]`; its `before_save`
//! runs first, then sea-tenant's (which sees the lowercased slug).

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
    use sea_orm::Set;
    use sea_orm::entity::prelude::*;

    #[sea_tenant::tenant(
        template = "org_<slug>",
        migrator = crate::tenant_migration::Migrator,
        hooks = custom
    )]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "organization")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub slug: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[sea_tenant::hooks]
    impl ActiveModelBehavior for ActiveModel {
        async fn before_save<C>(mut self, _: &C, _insert: bool) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            if let Some(slug) = self.slug.try_as_ref() {
                if slug == "reserved" {
                    return Err(DbErr::Custom("slug reserved".into()));
                }
                let lower = slug.to_lowercase();
                self.slug = Set(lower);
            }
            Ok(self)
        }
    }
}

use sea_orm::{ActiveModelBehavior, DatabaseConnection, NotSet, Set};

fn before_insert(slug: &str) -> Result<organization::ActiveModel, sea_orm::DbErr> {
    let am = organization::ActiveModel { id: NotSet, slug: Set(slug.into()) };
    let db = DatabaseConnection::default();
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(am.before_save(&db, true))
}

fn main() {
    // Lowercased by the entity's hook before sea-tenant validates `org_acme`.
    let am = before_insert("ACME").expect("valid once lowercased");
    assert_eq!(am.slug, Set("acme".to_owned()));
    // sea-tenant's hook ran after it: an empty slug is refused.
    let err = before_insert("").expect_err("empty slug");
    assert!(sea_tenant::owner::tenant_error(&err).is_some(), "{err}");
    // The entity's own early return still works.
    let err = before_insert("reserved").expect_err("reserved");
    assert_eq!(err.to_string(), "Custom Error: slug reserved");
}
