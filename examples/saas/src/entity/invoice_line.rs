use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A line of an invoice, tenant-attributed like it: its foreign key to `invoice` includes
/// `organization_id`, so a line can only belong to an invoice of the same organization.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(schema_name = "public", table_name = "invoice_line")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub organization_id: i32,
    pub invoice_id: i32,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    pub amount_cents: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::invoice::Entity",
        from = "Column::InvoiceId",
        to = "super::invoice::Column::Id",
        on_delete = "Cascade"
    )]
    Invoice,
}

impl Related<super::invoice::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Invoice.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
