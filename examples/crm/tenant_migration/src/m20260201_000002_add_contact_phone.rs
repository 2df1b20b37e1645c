use sea_orm_migration::prelude::*;

/// Written to be rerunnable, as migrations often are: it asks the schema before altering it.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_column("contact", "phone").await? {
            return Ok(());
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Contact::Table)
                    .add_column(ColumnDef::new(Contact::Phone).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Contact::Table)
                    .drop_column(Contact::Phone)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Contact {
    Table,
    Phone,
}
