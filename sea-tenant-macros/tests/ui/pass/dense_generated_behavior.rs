//! The 2.0 dense format (`#[sea_orm::model]` copies the attribute onto `ModelEx`): the
//! attribute still writes one `ActiveModelBehavior`.

mod organization {
    use sea_orm::entity::prelude::*;
    use sea_tenant::tenant;

    #[sea_orm::model]
    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "organization")]
    #[tenant(template = "org_<id>")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
    }
}

fn behaves<A: sea_orm::ActiveModelBehavior>() {}

fn main() {
    behaves::<organization::ActiveModel>();
    let model = organization::Model { id: 7, name: "Acme".into() };
    assert_eq!(model.tenant_name().expect("valid").as_str(), "org_7");
}
