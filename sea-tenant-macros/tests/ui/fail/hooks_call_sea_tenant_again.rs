//! A hook under `#[sea_tenant::hooks]` that still calls sea-tenant's hook itself (the
//! hand-written style) would run it twice.

mod organization {
    use sea_orm::entity::prelude::*;

    #[sea_tenant::tenant(template = "org_<id>", hooks = custom)]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "organization")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    #[sea_tenant::hooks]
    impl ActiveModelBehavior for ActiveModel {
        async fn after_save<C>(model: Model, db: &C, insert: bool) -> Result<Model, DbErr>
        where
            C: ConnectionTrait,
        {
            sea_tenant::owner::after_save::<Entity, C>(model, db, insert).await
        }
    }
}

fn main() {}
