//! `hooks = custom` with an impl that does not run sea-tenant's hooks: it would never create
//! a schema.

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

    impl ActiveModelBehavior for ActiveModel {}
}

fn main() {}
