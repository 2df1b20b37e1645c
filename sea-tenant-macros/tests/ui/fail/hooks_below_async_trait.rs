//! `#[sea_tenant::hooks]` under `#[async_trait]` sees the desugared methods.

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

    #[async_trait::async_trait]
    #[sea_tenant::hooks]
    impl ActiveModelBehavior for ActiveModel {
        async fn before_save<C>(self, _db: &C, _insert: bool) -> Result<Self, DbErr>
        where
            C: ConnectionTrait,
        {
            Ok(self)
        }
    }
}

fn main() {}
