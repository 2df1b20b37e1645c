use sea_orm::entity::prelude::*;
use serde::Serialize;

/// An organization owns one tenant schema, `org_<slug>`. Inserting one creates the schema and
/// runs the tenant migrations in it; changing `slug` renames the schema, atomically with the
/// row. Deleting one keeps the schema (the default `drop = false`), and says so in the log.
/// `migrator = …` names the tenant migrations here because entities and application share
/// one crate; an entity crate of its own would leave it out and the application would call
/// `sea_tenant::owner::register_migrations::<organization::Entity, tenant_migration::Migrator>()`
/// where it starts.
#[sea_tenant::tenant(template = "org_<slug>", migrator = tenant_migration::Migrator)]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
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

// No `impl ActiveModelBehavior for ActiveModel`: `#[tenant]` writes it, with the hooks that
// create, rename and keep the tenant schema.
