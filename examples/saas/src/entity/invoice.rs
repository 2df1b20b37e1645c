use sea_orm::entity::prelude::*;
use serde::Serialize;

/// Attribute tenancy, for contrast with the schema-per-tenant tables: invoices live in
/// public, and `organization_id` says whose each row is.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(schema_name = "public", table_name = "invoice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub organization_id: i32,
    #[sea_orm(column_type = "Text")]
    pub number: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::organization::Entity",
        from = "Column::OrganizationId",
        to = "super::organization::Column::Id",
        on_delete = "Cascade"
    )]
    Organization,
    #[sea_orm(has_many = "super::invoice_line::Entity")]
    InvoiceLine,
}

impl Related<super::invoice_line::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::InvoiceLine.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
