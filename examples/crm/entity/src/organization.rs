use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// An organization owns the tenant schema `org_<slug>`: inserting one creates and migrates
/// the schema, changing `slug` renames it. The tenant migration set is not named here (this
/// crate would then depend on the migration crates, which depend on it): the application
/// registers it where it starts, with `sea_tenant::owner::register_migrations`.
#[sea_tenant::tenant(template = "org_<slug>")]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(schema_name = "public", table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique, column_type = "Text")]
    pub slug: String,
    #[sea_orm(column_type = "Text")]
    pub name: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}
